/* Module-level methods: net.isIP*, net.createServer, net.createConnection (net.connect). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "isip.h"
#include "methods.h"
#include "params.h"
#include "rpc.h"
#include "server.h"
#include "socket.h"

struct is_ip_args {
        struct netd_str input;
};

static const struct netd_param is_ip_spec[] = {
        NETD_PARAM_REQ("input", NETD_T_STRING, struct is_ip_args, input),
        {},
};

static struct netd_done *is_ip(struct netd_req *req, json_t *params, int want)
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

struct netd_done *m_net_is_ip(struct netd_req *req, json_t *params)
{
        return is_ip(req, params, 0);
}

struct netd_done *m_net_is_ipv4(struct netd_req *req, json_t *params)
{
        return is_ip(req, params, 4);
}

struct netd_done *m_net_is_ipv6(struct netd_req *req, json_t *params)
{
        return is_ip(req, params, 6);
}

struct create_server_args {
        bool allow_half_open, pause_on_connect, no_delay, keep_alive;
        int64_t keep_alive_initial_delay, high_water_mark;
};

struct netd_done *m_net_create_server(struct netd_req *req, json_t *params)
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
                {},
        };
        struct create_server_args a = {};
        struct netd_server_options o;
        struct netd_param_error pe;
        struct netd_server *s;
        int r;

        if (netd_params_parse(params, spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        o = (struct netd_server_options){
                .allow_half_open = a.allow_half_open,
                .pause_on_connect = a.pause_on_connect,
                .no_delay = a.no_delay,
                .keep_alive = a.keep_alive,
                .keep_alive_initial_delay = a.keep_alive_initial_delay,
                .high_water_mark = a.high_water_mark,
        };
        r = netd_server_new(req->daemon, req->conn, &o, &s);
        if (r == -EMFILE)
                return netd_req_fail_err(req, NETD_ERR_NETD_LIMIT,
                                         "Too many handles on this connection");
        if (r < 0)
                return netd_req_fail_errno(req, r, "createServer", NULL, -1);
        req->announces = s->h.id;
        return netd_req_ok(req, json_pack("{s:I}", "server", (json_int_t)s->h.id));
}

struct connect_args {
        int port;
        struct netd_str host;
        bool allow_half_open, no_delay, keep_alive;
        int64_t keep_alive_initial_delay, high_water_mark;
};

struct netd_done *m_net_create_connection(struct netd_req *req, json_t *params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("port", NETD_T_PORT, struct connect_args, port),
                NETD_PARAM_OPT("host", NETD_T_STRING, struct connect_args, host),
                NETD_PARAM_OPT("allowHalfOpen", NETD_T_BOOL, struct connect_args, allow_half_open),
                NETD_PARAM_OPT("noDelay", NETD_T_BOOL, struct connect_args, no_delay),
                NETD_PARAM_OPT("keepAlive", NETD_T_BOOL, struct connect_args, keep_alive),
                NETD_PARAM_INT("keepAliveInitialDelay", false, struct connect_args,
                               keep_alive_initial_delay, 0, INT32_MAX),
                NETD_PARAM_INT("highWaterMark", false, struct connect_args, high_water_mark, 0,
                               INT32_MAX),
                {},
        };
        struct connect_args a = { .host = { "localhost", 9 } };
        struct netd_param_error pe;
        struct netd_socket *s;
        int r;

        if (netd_params_parse(params, spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        if (a.host.len == 0 || strlen(a.host.s) != a.host.len) {
                pe = (struct netd_param_error){ .field = "host",
                                                .code = NETD_ERR_INVALID_ARG_VALUE,
                                                .message = "\"host\" must be a non-empty "
                                                           "host name or IP address" };
                return netd_req_fail_params(req, &pe);
        }
        if (a.port == 0) {
                pe = (struct netd_param_error){ .field = "port",
                                                .code = NETD_ERR_SOCKET_BAD_PORT,
                                                .message = "\"port\" should be > 0 and < 65536 "
                                                           "to connect" };
                return netd_req_fail_params(req, &pe);
        }
        r = netd_socket_new(req->daemon, req->conn, &s);
        if (r == -EMFILE)
                return netd_req_fail_err(req, NETD_ERR_NETD_LIMIT,
                                         "Too many handles on this connection");
        if (r < 0)
                return netd_req_fail_errno(req, r, "connect", NULL, -1);
        s->allow_half_open = a.allow_half_open;
        s->opt_no_delay = a.no_delay;
        s->opt_keep_alive = a.keep_alive;
        s->opt_keep_alive_delay_ms = a.keep_alive_initial_delay;
        if (a.high_water_mark > 0)
                s->high_water_mark = (size_t)a.high_water_mark;
        req->announces = s->h.id;
        r = netd_socket_connect(s, a.host.s, a.port);
        if (r < 0)
                netd_socket_destroy(s, netd_nerr_sys(-r, "connect", a.host.s, a.port));
        /* Sent at once: the outcome arrives as events, after this reply. */
        return netd_req_ok(req, json_pack("{s:I}", "socket", (json_int_t)s->h.id));
}
