/* Server methods: server.listen, close, address, getConnections, get. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "owner.h"

#include "addr.h"
#include "auth.h"
#include "ipc.h"
#include "isip.h"
#include "methods.h"
#include "params.h"
#include "req.h"
#include "server.h"

struct listen_args {
        uint64_t server;
        int port;
        struct netd_str host;
        struct netd_str path;
        int64_t backlog;
        bool ipv6_only, reuse_port, exclusive, readable_all, writable_all;
        struct netd_jv handle;
};

/*
 * listen {handle}: {"fd":N} is the N-th descriptor sent with this request
 * line (SCM_RIGHTS), {"name":"web"} a socket systemd passed under that
 * FileDescriptorName.
 */
static struct netd_done *listen_handle(struct netd_req *req, struct netd_server *s,
                                       struct netd_jv handle, int backlog)
{
        struct netd_jv fdv = netd_jv_get(handle, "fd", 2), name = netd_jv_get(handle, "name", 4);
        struct netd_param_error pe = { .field = "handle", .code = NETD_ERR_INVALID_ARG_VALUE };
        int fd;

        if (netd_jv_tok(handle)->size != 1 ||
            (!netd_jv_is(fdv, NETD_JTOK_INTEGER) && !netd_jv_is(name, NETD_JTOK_STRING))) {
                (void)snprintf(pe.message, sizeof(pe.message),
                               "\"handle\" must be {\"fd\": N} or {\"name\": \"...\"}");
                return netd_req_fail_params(req, &pe);
        }
        if (fdv.i >= 0) {
                int64_t index = netd_jv_tok(fdv)->integer;

                fd = index < 0 || index > 1024 ? -EBADF
                                               : netd_owner_take_fd(req->conn, (size_t)index);
                if (fd < 0) {
                        (void)snprintf(pe.message, sizeof(pe.message),
                                       "no descriptor %lld came with this request",
                                       (long long)index);
                        return netd_req_fail_params(req, &pe);
                }
        } else {
                json_t *deny = NULL;

                if (netd_auth_check_inherit(req->conn, netd_jv_str(name), &deny) < 0) {
                        netd_server_listen_fail(s, req, deny);
                        return netd_req_pending(req);
                }
                fd = netd_daemon_take_inherited(req->daemon, netd_jv_str(name));
                if (fd < 0) {
                        (void)snprintf(pe.message, sizeof(pe.message),
                                       "no inherited socket is named \"%s\"", netd_jv_str(name));
                        return netd_req_fail_params(req, &pe);
                }
        }
        netd_server_listen_fd(s, fd, backlog, req);
        return netd_req_pending(req);
}

/*
 * server.listen in its forms: {port, host, backlog} and the options form
 * (ipv6Only, reusePort, exclusive) for TCP, {path, readableAll, writableAll}
 * for IPC. As in Node, "path" is ignored when "port" is given.
 */
struct netd_done *m_server_listen(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("server", NETD_T_HANDLE, struct listen_args, server),
                NETD_PARAM_OPT("port", NETD_T_PORT, struct listen_args, port),
                NETD_PARAM_OPT("host", NETD_T_STRING, struct listen_args, host),
                NETD_PARAM_OPT("path", NETD_T_STRING, struct listen_args, path),
                NETD_PARAM_INT("backlog", false, struct listen_args, backlog, 0, INT32_MAX),
                NETD_PARAM_OPT("ipv6Only", NETD_T_BOOL, struct listen_args, ipv6_only),
                NETD_PARAM_OPT("reusePort", NETD_T_BOOL, struct listen_args, reuse_port),
                NETD_PARAM_OPT("exclusive", NETD_T_BOOL, struct listen_args, exclusive),
                NETD_PARAM_OPT("readableAll", NETD_T_BOOL, struct listen_args, readable_all),
                NETD_PARAM_OPT("writableAll", NETD_T_BOOL, struct listen_args, writable_all),
                NETD_PARAM_OPT("handle", NETD_T_OBJECT, struct listen_args, handle),
                {},
        };
        struct listen_args a = { .backlog = -1, .handle = { NULL, -1 } };
        struct netd_param_error pe;
        struct netd_done *done;
        struct netd_server *s;
        uint64_t present;

        if (netd_params_parse(params, spec, &a, &present, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        if (a.host.s && (a.host.len == 0 || strlen(a.host.s) != a.host.len)) {
                pe = (struct netd_param_error){ .field = "host",
                                                .code = NETD_ERR_INVALID_ARG_VALUE,
                                                .message = "\"host\" must be a non-empty "
                                                           "host name or IP address" };
                return netd_req_fail_params(req, &pe);
        }
        s = (struct netd_server *)netd_method_handle(req, a.server, NETD_HANDLE_SERVER, &done);
        if (!s)
                return done;
        if (a.handle.i >= 0)
                return listen_handle(req, s, a.handle, (int)a.backlog);
        if (a.path.s && !(present & (UINT64_C(1) << 1))) {
                struct netd_ipc_addr addr;
                int r;

                if (a.path.len > 0 && a.path.s[0] == '\0' && (a.readable_all || a.writable_all)) {
                        /* Node's own wording, typo included. */
                        pe = (struct netd_param_error){
                                .field = "path",
                                .code = NETD_ERR_INVALID_ARG_VALUE,
                                .message = "can not set readableAll or writableAllt to true "
                                           "when path is abstract unix socket",
                        };
                        return netd_req_fail_params(req, &pe);
                }
                if (a.path.len == 0) {
                        pe = (struct netd_param_error){ .field = "path",
                                                        .code = NETD_ERR_INVALID_ARG_VALUE,
                                                        .message = "\"path\" must not be empty" };
                        return netd_req_fail_params(req, &pe);
                }
                r = netd_ipc_resolve(req->conn, a.path.s, a.path.len, &addr);
                if (r < 0) {
                        json_t *err = netd_nerr_sys_path_uv(-r, "listen", a.path.s, a.path.len);

                        netd_ipc_explain(err, r);
                        netd_server_listen_fail(s, req, err);
                        return netd_req_pending(req);
                }
                netd_server_listen_path(s, &addr, (int)a.backlog, a.readable_all, a.writable_all,
                                        req);
                netd_ipc_addr_done(&addr);
                return netd_req_pending(req);
        }
        if (a.host.s && !netd_isip(a.host.s, a.host.len)) {
                json_t *err = NULL;

                if (netd_method_lookup_check(req, &err) < 0) {
                        netd_server_listen_fail(s, req, err);
                        return netd_req_pending(req);
                }
        }
        netd_server_listen(s,
                           &(struct netd_listen_opts){ .host = a.host.s,
                                                       .port = a.port,
                                                       .backlog = (int)a.backlog,
                                                       .ipv6_only = a.ipv6_only,
                                                       .reuse_port = a.reuse_port,
                                                       .exclusive = a.exclusive },
                           req);
        return netd_req_pending(req);
}

/*
 * Methods on one server that take only {"server":N}: the dispatch table
 * finds the server (netd_dispatch_call) and calls them with it.
 */
#define SRV(h) ((struct netd_server *)(h))

struct netd_done *m_server_close(struct netd_req *req, struct netd_handle *h, const void *args)
{
        netd_server_close(SRV(h), req);
        return netd_req_pending(req);
}

struct netd_done *m_server_address(struct netd_req *req, struct netd_handle *h, const void *args)
{
        return netd_req_ok(req, netd_server_address(SRV(h)));
}

struct netd_done *m_server_get_connections(struct netd_req *req, struct netd_handle *h,
                                           const void *args)
{
        return netd_req_ok(req, json_integer(SRV(h)->connections));
}

struct netd_done *m_server_get(struct netd_req *req, struct netd_handle *h, const void *args)
{
        struct netd_server *s = SRV(h);

        return netd_req_ok(
                req,
                json_pack("{s:b,s:o,s:I,s:o,s:b}", "listening", s->listening, "maxConnections",
                          s->max_connections < 0 ? json_null() : json_integer(s->max_connections),
                          "connections", (json_int_t)s->connections, "address",
                          netd_server_address(s), "ref", !s->unref));
}

struct netd_done *m_server_ref(struct netd_req *req, struct netd_handle *h, const void *args)
{
        SRV(h)->unref = false;
        return netd_req_ok_true(req);
}

struct netd_done *m_server_unref(struct netd_req *req, struct netd_handle *h, const void *args)
{
        SRV(h)->unref = true;
        return netd_req_ok_true(req);
}

struct set_args {
        uint64_t server;
        int64_t max_connections;
};

struct netd_done *m_server_set(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("server", NETD_T_HANDLE, struct set_args, server),
                NETD_PARAM_INT("maxConnections", false, struct set_args, max_connections, 0,
                               INT32_MAX),
                {},
        };
        struct set_args a = {};
        struct netd_param_error pe;
        struct netd_done *done;
        struct netd_server *s;
        uint64_t present;

        if (netd_params_parse(params, spec, &a, &present, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        s = (struct netd_server *)netd_method_handle(req, a.server, NETD_HANDLE_SERVER, &done);
        if (!s)
                return done;
        if (present & (UINT64_C(1) << 1))
                s->max_connections = a.max_connections;
        else if (netd_jv_get(params, "maxConnections", 14).i >= 0)
                s->max_connections = -1; /* null: no limit, as in Node */
        return netd_req_ok(
                req,
                json_pack("{s:o}", "maxConnections",
                          s->max_connections < 0 ? json_null() : json_integer(s->max_connections)));
}
