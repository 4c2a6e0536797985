/*
 * The method table. Sorted by name for bsearch(); a unit test keeps it so.
 * Adding a method: a row here, the handler in methods/<object>.c, an entry
 * in proto/PROTOCOL.md.
 */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "methods/methods.h"

const struct netd_method netd_methods[] = {
        { "net.Socket", m_net_socket },
        { "net.connect", m_net_create_connection },
        { "net.createConnection", m_net_create_connection },
        { "net.createServer", m_net_create_server },
        { "net.isIP", m_net_is_ip },
        { "net.isIPv4", m_net_is_ipv4 },
        { "net.isIPv6", m_net_is_ipv6 },
        { "netd.close", m_netd_close },
        { "netd.handles", m_netd_handles },
        { "netd.info", m_netd_info },
        { "netd.subscribe", m_netd_subscribe },
        { "netd.sync", m_netd_sync },
        { "netd.unsubscribe", m_netd_unsubscribe },
        { "rpc.discover", m_rpc_discover },
        { "server.address", m_server_address },
        { "server.close", m_server_close },
        { "server.get", m_server_get },
        { "server.getConnections", m_server_get_connections },
        { "server.listen", m_server_listen },
        { "server.ref", m_server_ref },
        { "server.set", m_server_set },
        { "server.unref", m_server_unref },
        { "socket.address", m_socket_address },
        { "socket.connect", m_socket_connect },
        { "socket.destroy", m_socket_destroy },
        { "socket.end", m_socket_end },
        { "socket.get", m_socket_get },
        { "socket.pause", m_socket_pause },
        { "socket.ref", m_socket_ref },
        { "socket.resetAndDestroy", m_socket_reset_and_destroy },
        { "socket.resume", m_socket_resume },
        { "socket.setEncoding", m_socket_set_encoding },
        { "socket.setKeepAlive", m_socket_set_keep_alive },
        { "socket.setNoDelay", m_socket_set_no_delay },
        { "socket.setTimeout", m_socket_set_timeout },
        { "socket.unref", m_socket_unref },
        { "socket.write", m_socket_write },
};

const size_t netd_methods_count = sizeof(netd_methods) / sizeof(netd_methods[0]);

static int method_cmp(const void *key, const void *elem)
{
        return strcmp(key, ((const struct netd_method *)elem)->name);
}

const struct netd_method *netd_dispatch_lookup(const char *name)
{
        return bsearch(name, netd_methods, netd_methods_count, sizeof(netd_methods[0]), method_cmp);
}
