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
        { "net.Socket", .fn = m_net_socket },
        { "net.connect", .fn = m_net_create_connection },
        { "net.createConnection", .fn = m_net_create_connection },
        { "net.createServer", .fn = m_net_create_server },
        { "net.isIP", .fn = m_net_is_ip },
        { "net.isIPv4", .fn = m_net_is_ipv4 },
        { "net.isIPv6", .fn = m_net_is_ipv6 },
        { "netd.attach", .fn = m_netd_attach },
        { "netd.close", .fn = m_netd_close },
        { "netd.detach", .fn = m_netd_detach },
        { "netd.handles", .fn = m_netd_handles },
        { "netd.info", .fn = m_netd_info },
        { "netd.subscribe", .fn = m_netd_subscribe },
        { "netd.sync", .fn = m_netd_sync },
        { "netd.unsubscribe", .fn = m_netd_unsubscribe },
        { "rpc.discover", .fn = m_rpc_discover },
        { "server.address", .on_handle = m_server_address, .type = NETD_HANDLE_SERVER },
        { "server.close", .on_handle = m_server_close, .type = NETD_HANDLE_SERVER },
        { "server.get", .on_handle = m_server_get, .type = NETD_HANDLE_SERVER },
        { "server.getConnections", .on_handle = m_server_get_connections,
          .type = NETD_HANDLE_SERVER },
        { "server.listen", .fn = m_server_listen },
        { "server.ref", .on_handle = m_server_ref, .type = NETD_HANDLE_SERVER },
        { "server.set", .fn = m_server_set },
        { "server.unref", .on_handle = m_server_unref, .type = NETD_HANDLE_SERVER },
        { "socket.address", .on_handle = m_socket_address, .type = NETD_HANDLE_SOCKET },
        { "socket.connect", .fn = m_socket_connect },
        { "socket.destroy", .fn = m_socket_destroy },
        { "socket.end", .fn = m_socket_end },
        { "socket.get", .on_handle = m_socket_get, .type = NETD_HANDLE_SOCKET },
        { "socket.pause", .on_handle = m_socket_pause, .type = NETD_HANDLE_SOCKET },
        { "socket.ref", .on_handle = m_socket_ref, .type = NETD_HANDLE_SOCKET },
        { "socket.resetAndDestroy", .on_handle = m_socket_reset_and_destroy,
          .type = NETD_HANDLE_SOCKET },
        { "socket.resume", .on_handle = m_socket_resume, .type = NETD_HANDLE_SOCKET },
        { "socket.setEncoding", .fn = m_socket_set_encoding },
        { "socket.setKeepAlive", .fn = m_socket_set_keep_alive },
        { "socket.setNoDelay", .fn = m_socket_set_no_delay },
        { "socket.setTimeout", .fn = m_socket_set_timeout },
        { "socket.unref", .on_handle = m_socket_unref, .type = NETD_HANDLE_SOCKET },
        { "socket.write", .fn = m_socket_write },
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

struct netd_done *netd_dispatch_call(const struct netd_method *m, struct netd_req *req,
                                     struct netd_jv params)
{
        if (m->fn)
                return m->fn(req, params);
        return netd_method_on_handle(req, params, NULL, NULL, m->type, m->on_handle);
}
