/* Module-level methods: net.isIP*, net.createServer, net.createConnection (net.connect). */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/util.h>

#include "addr.h"
#include "auth.h"
#include "ipc.h"
#include "isip.h"
#include "log.h"
#include "methods.h"
#include "params.h"
#include "req.h"
#include "server.h"
#include "socket.h"

struct is_ip_args {
        struct netd_str input;
};

static const struct netd_param is_ip_spec[] = {
        NETD_PARAM_REQ("input", NETD_T_STRING, struct is_ip_args, input),
        {},
};

static struct netd_done *is_ip(struct netd_req *req, struct netd_jv params, int want)
{
        struct is_ip_args a = {};
        struct netd_param_error pe;
        int v;

        if (netd_params_parse(params, is_ip_spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        v = netd_isip(a.input.s, a.input.len);
        if (want == 0)
                return netd_req_ok(req, json_integer(v));
        return netd_req_ok(req, json_boolean(v == want));
}

struct netd_done *m_net_is_ip(struct netd_req *req, struct netd_jv params)
{
        return is_ip(req, params, 0);
}

struct netd_done *m_net_is_ipv4(struct netd_req *req, struct netd_jv params)
{
        return is_ip(req, params, 4);
}

struct netd_done *m_net_is_ipv6(struct netd_req *req, struct netd_jv params)
{
        return is_ip(req, params, 6);
}

struct create_server_args {
        bool allow_half_open, pause_on_connect, no_delay, keep_alive, attach;
        int64_t keep_alive_initial_delay, high_water_mark;
};

struct netd_done *m_net_create_server(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_OPT("allowHalfOpen", NETD_T_BOOL, struct create_server_args,
                               allow_half_open),
                NETD_PARAM_OPT("pauseOnConnect", NETD_T_BOOL, struct create_server_args,
                               pause_on_connect),
                NETD_PARAM_OPT("noDelay", NETD_T_BOOL, struct create_server_args, no_delay),
                NETD_PARAM_OPT("keepAlive", NETD_T_BOOL, struct create_server_args, keep_alive),
                NETD_PARAM_INT("keepAliveInitialDelay", false, struct create_server_args,
                               keep_alive_initial_delay, 0, INT32_MAX),
                NETD_PARAM_INT("highWaterMark", false, struct create_server_args, high_water_mark,
                               0, INT32_MAX),
                NETD_PARAM_OPT("attach", NETD_T_BOOL, struct create_server_args, attach),
                {},
        };
        struct create_server_args a = { .high_water_mark = -1 };
        struct netd_server_options o;
        struct netd_param_error pe;
        struct netd_server *s;
        int r;

        if (netd_params_parse(params, spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        /*
         * An attach server's connection events carry descriptors: they can't
         * be held behind a batch's reply (the announce rule), so no batch.
         */
        if (a.attach && req->batch)
                return netd_req_fail_err(req, NETD_ERR_NETD_FD_IN_BATCH,
                                         "net.createServer {attach} cannot be part of a batch: "
                                         "its connection events carry descriptors");
        o = (struct netd_server_options){
                .attach = a.attach,
                .allow_half_open = a.allow_half_open,
                .pause_on_connect = a.pause_on_connect,
                .no_delay = a.no_delay,
                .keep_alive = a.keep_alive,
                .keep_alive_initial_delay = a.keep_alive_initial_delay,
                .high_water_mark = a.high_water_mark,
        };
        r = netd_server_new(req->daemon, req->conn, &o, &s);
        if (r == -EMFILE || r == -EDQUOT)
                return netd_method_fail_handle_limit(req, r);
        if (r < 0)
                return netd_req_fail_errno(req, r, "createServer", NULL, -1);
        req->announces = s->h.id;
        return netd_req_ok(req, json_pack("{s:I}", "server", (json_int_t)s->h.id));
}

/* Options of new net.Socket(options), shared by net.createConnection. */
#define SOCKET_OPTION_PARAMS(st)                                                                \
        NETD_PARAM_OPT("allowHalfOpen", NETD_T_BOOL, st, allow_half_open),                      \
                NETD_PARAM_OPT("noDelay", NETD_T_BOOL, st, no_delay),                           \
                NETD_PARAM_OPT("keepAlive", NETD_T_BOOL, st, keep_alive),                       \
                NETD_PARAM_INT("keepAliveInitialDelay", false, st, keep_alive_initial_delay, 0, \
                               INT32_MAX),                                                      \
                NETD_PARAM_INT("highWaterMark", false, st, high_water_mark, 0, INT32_MAX)

/* The options of socket.connect(options), shared by net.createConnection. */
#define CONNECT_PARAMS(st)                                                                        \
        NETD_PARAM_OPT("port", NETD_T_PORT, st, c.port),                                          \
                NETD_PARAM_OPT("host", NETD_T_STRING, st, c.host),                                \
                NETD_PARAM_OPT("path", NETD_T_STRING, st, c.path),                                \
                NETD_PARAM_INT("timeout", false, st, c.timeout, 0, INT32_MAX),                    \
                NETD_PARAM_INT("family", false, st, c.family, INT32_MIN, INT32_MAX),              \
                NETD_PARAM_INT("hints", false, st, c.hints, 0, INT32_MAX),                        \
                NETD_PARAM_OPT("localAddress", NETD_T_STRING, st, c.local_address),               \
                NETD_PARAM_OPT("localPort", NETD_T_PORT, st, c.local_port),                       \
                NETD_PARAM_OPT("autoSelectFamily", NETD_T_BOOL, st, c.auto_select_family),        \
                NETD_PARAM_INT("autoSelectFamilyAttemptTimeout", false, st, c.attempt_timeout, 1, \
                               INT32_MAX)

struct socket_option_args {
        bool allow_half_open, no_delay, keep_alive;
        int64_t keep_alive_initial_delay, high_water_mark; /* high_water_mark -1: default */
};

static void socket_apply_option_args(struct netd_socket *s, const struct socket_option_args *a)
{
        s->allow_half_open = a->allow_half_open;
        s->opt_no_delay = a->no_delay;
        s->opt_keep_alive = a->keep_alive;
        s->opt_keep_alive_delay_ms = a->keep_alive_initial_delay;
        if (a->high_water_mark >= 0)
                s->high_water_mark = (size_t)a->high_water_mark;
}

static struct netd_done *socket_create(struct netd_req *req, const struct socket_option_args *a,
                                       struct netd_socket **ret)
{
        int r = netd_socket_new(req->daemon, req->conn, ret);

        if (r == -EMFILE || r == -EDQUOT)
                return netd_method_fail_handle_limit(req, r);
        if (r < 0)
                return netd_req_fail_errno(req, r, "socket", NULL, -1);
        socket_apply_option_args(*ret, a);
        return NULL;
}

int netd_method_connect_check(const struct netd_connect_args *c, struct netd_param_error *pe)
{
        *pe = (struct netd_param_error){ .code = NETD_ERR_INVALID_ARG_VALUE };
        if (c->path.s)
                return 0; /* IPC: the TCP options are ignored, as in Node */
        if (c->port < 0) {
                pe->field = "port";
                pe->code = NETD_ERR_MISSING_ARGS;
                (void)snprintf(pe->message, sizeof(pe->message),
                               "The \"options\" or \"port\" or \"path\" argument must be "
                               "specified");
                return -EINVAL;
        }
        if (c->port == 0) {
                pe->field = "port";
                pe->code = NETD_ERR_SOCKET_BAD_PORT;
                (void)snprintf(pe->message, sizeof(pe->message),
                               "\"port\" should be > 0 and < 65536 to connect");
                return -EINVAL;
        }
        if (c->host.s && (c->host.len == 0 || strlen(c->host.s) != c->host.len)) {
                pe->field = "host";
                (void)snprintf(pe->message, sizeof(pe->message),
                               "\"host\" must be a non-empty host name or IP address");
                return -EINVAL;
        }
        if (c->family != 0 && c->family != 4 && c->family != 6) {
                pe->field = "family";
                (void)snprintf(pe->message, sizeof(pe->message), "\"family\" must be 0, 4 or 6");
                return -EINVAL;
        }
        if (c->hints & ~(int64_t)(256 | 1024 | 2048)) {
                pe->field = "hints";
                (void)snprintf(pe->message, sizeof(pe->message),
                               "\"hints\" takes dns.ADDRCONFIG (1024), dns.V4MAPPED (2048) and "
                               "dns.ALL (256)");
                return -EINVAL;
        }
        if (c->local_address.s &&
            (strlen(c->local_address.s) != c->local_address.len ||
             c->local_address.len >= sizeof(((struct netd_connect_opts *)0)->local_address) ||
             !netd_isip(c->local_address.s, c->local_address.len))) {
                pe->field = "localAddress";
                pe->code = NETD_ERR_INVALID_IP_ADDRESS;
                (void)snprintf(pe->message, sizeof(pe->message),
                               "\"localAddress\" must be an IP address");
                return -EINVAL;
        }
        return 0;
}

/*
 * Connects s to the UNIX socket addr with the client's filesystem rights
 * (auth.h); under a unix grant (netd's group lent) pinned to the inode the
 * path names, without following a final symlink (ipc.h).
 */
static void connect_path_as_client(struct netd_req *req, struct netd_socket *s,
                                   struct netd_ipc_addr *addr)
{
        struct netd_fs_creds fs;
        json_t *deny = NULL;
        int r;

        if (netd_auth_fs_enter(req->conn, addr->path, addr->path_len, &fs, &deny) < 0) {
                netd_socket_destroy(s, deny);
                return;
        }
        r = fs.granted ? netd_ipc_pin(addr) : 0;
        if (r < 0)
                netd_socket_destroy(s,
                                    netd_nerr_sys_path(-r, "connect", addr->path, addr->path_len));
        else
                (void)netd_socket_connect_path(s, addr);
        netd_auth_fs_leave(&fs);
}

struct netd_done *netd_method_connect(struct netd_req *req, struct netd_socket *s,
                                      const struct netd_connect_args *c, json_t *result)
{
        struct netd_connect_opts opts;
        const char *host;
        int r;

        r = netd_socket_reopen(s);
        if (r == -EBUSY) {
                json_decref(result);
                return netd_req_fail_err(req, NETD_ERR_NETD_SOCKET_BUSY, NULL);
        }
        if (r < 0) {
                json_decref(result);
                return netd_method_fail_handle_limit(req, r);
        }
        if (c->timeout > 0 && netd_socket_set_timeout(s, c->timeout) < 0)
                log_warning("socket#%llu: No memory for its idle timer, ignoring the timeout",
                            (unsigned long long)s->h.id);
        req->announces = s->h.id;
        if (c->path.s) {
                struct netd_ipc_addr addr = { .path = NULL };

                /* A path that can't be used fails the socket, as a connect failure would. */
                r = netd_ipc_resolve(req->conn, c->path.s, c->path.len, &addr);
                if (r < 0) {
                        json_t *err = netd_nerr_sys_path(-r, "connect", c->path.s, c->path.len);

                        netd_ipc_explain(err, r);
                        netd_socket_destroy(s, err);
                } else {
                        connect_path_as_client(req, s, &addr);
                }
                netd_ipc_addr_done(&addr);
                return netd_req_ok(req, result);
        }
        if (c->local_port > 0) {
                /* A privileged localPort needs root or a grant, as bind() would (auth.h). */
                struct sockaddr_in6 any = { .sin6_family = AF_INET6,
                                            .sin6_port = htons((uint16_t)c->local_port) };
                struct sockaddr_storage ss;
                socklen_t len;
                json_t *deny = NULL;
                const struct sockaddr *sa = (const struct sockaddr *)&any;

                if (c->local_address.s &&
                    netd_addr_to_sockaddr(c->local_address.s, c->local_port, &ss, &len) == 0)
                        sa = (const struct sockaddr *)&ss;
                if (netd_auth_check_bind(req->conn, sa, false, &deny) < 0) {
                        netd_socket_destroy(s, deny);
                        return netd_req_ok(req, result);
                }
        }
        host = c->host.s ? c->host.s : "localhost";
        if (!netd_isip(host, strlen(host))) {
                json_t *err = NULL;

                if (netd_method_lookup_check(req, &err) < 0) {
                        netd_socket_destroy(s, err);
                        return netd_req_ok(req, result);
                }
        }
        netd_connect_opts_init(&opts);
        opts.family = (int)c->family;
        opts.hints = ((c->hints & 1024) ? EVUTIL_AI_ADDRCONFIG : 0) |
                     ((c->hints & 2048) ? EVUTIL_AI_V4MAPPED : 0) |
                     ((c->hints & 256) ? EVUTIL_AI_ALL : 0);
        if (c->local_address.s)
                memcpy(opts.local_address, c->local_address.s, c->local_address.len + 1);
        opts.local_port = c->local_port;
        opts.auto_select_family = c->auto_select_family;
        opts.attempt_timeout_ms = c->attempt_timeout;
        r = netd_socket_connect(s, host, c->port, &opts);
        if (r < 0)
                netd_socket_destroy(s, netd_nerr_sys(-r, "connect", c->host.s, c->port));
        /* Sent at once: the outcome arrives as events, after this reply. */
        return netd_req_ok(req, result);
}

struct create_connection_args {
        struct netd_connect_args c;
        bool allow_half_open, no_delay, keep_alive;
        int64_t keep_alive_initial_delay, high_water_mark;
};

struct netd_done *m_net_create_connection(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                CONNECT_PARAMS(struct create_connection_args),
                SOCKET_OPTION_PARAMS(struct create_connection_args),
                {},
        };
        struct create_connection_args a = { .c = NETD_CONNECT_ARGS_INIT, .high_water_mark = -1 };
        struct socket_option_args o;
        struct netd_param_error pe;
        struct netd_done *done;
        struct netd_socket *s;

        if (netd_method_parse_connect(params, spec, &a, &a.c, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        o = (struct socket_option_args){ a.allow_half_open, a.no_delay, a.keep_alive,
                                         a.keep_alive_initial_delay, a.high_water_mark };
        done = socket_create(req, &o, &s);
        if (done)
                return done;
        return netd_method_connect(req, s, &a.c, json_pack("{s:I}", "socket", (json_int_t)s->h.id));
}

struct netd_done *m_net_socket(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                SOCKET_OPTION_PARAMS(struct socket_option_args),
                {},
        };
        struct socket_option_args a = { .high_water_mark = -1 };
        struct netd_param_error pe;
        struct netd_done *done;
        struct netd_socket *s;

        if (netd_params_parse(params, spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        done = socket_create(req, &a, &s);
        if (done)
                return done;
        req->announces = s->h.id;
        return netd_req_ok(req, json_pack("{s:I}", "socket", (json_int_t)s->h.id));
}
