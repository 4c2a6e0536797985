/*
 * Typed wrappers over netd_client_call() and netd_client_call_sync(): each
 * builds the named params of one method (PROTOCOL-CONVENTIONS.md) and, in
 * the sync forms, unpacks the result; plus the decoding of socket.data
 * payloads. Payload codecs are proto/encoding.c, the daemon's own, so both
 * ends agree byte for byte. No state.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "encoding.h"
#include "internal.h"
#include "netd/netd.h"

/* Handle ids are positive and fit a json_int_t (int64). */
static bool handle_is_valid(uint64_t h)
{
        return h > 0 && h <= INT64_MAX;
}

static bool port_is_valid(int port)
{
        return port >= 0 && port <= 65535;
}

static int sync_fail(struct netd_client_error *reterr, int r)
{
        if (reterr)
                netd_clib_error_local(reterr, r, NULL);
        return r;
}

/* params NULL means building them failed: a string was not valid UTF-8, or no memory. */
static int helper_call(struct netd_client *c, const char *method, json_t *params,
                       netd_client_reply_fn cb, void *userdata)
{
        if (!params)
                return -EINVAL;
        return netd_client_call(c, method, params, cb, userdata);
}

static int helper_call_sync(struct netd_client *c, const char *method, json_t *params,
                            int timeout_ms, json_t **ret_result, struct netd_client_error *reterr)
{
        if (!params)
                return sync_fail(reterr, -EINVAL);
        return netd_client_call_sync(c, method, params, timeout_ms, ret_result, reterr);
}

/* A reply of the wrong shape: the caller's result is dropped, the error is local. */
static int helper_bad_result(json_t *result, struct netd_client_error *reterr)
{
        json_decref(result);
        return sync_fail(reterr, -EBADMSG);
}

static json_t *handle_params(const char *kind, uint64_t h)
{
        if (!handle_is_valid(h))
                return NULL;
        return json_pack("{s:I}", kind, (json_int_t)h);
}

/* ---- net.isIP, net.isIPv4, net.isIPv6 ------------------------------------------------------ */

int netd_client_net_is_ip(struct netd_client *c, const char *input, netd_client_reply_fn cb,
                          void *userdata)
{
        return helper_call(c, "net.isIP", json_pack("{s:s}", "input", input), cb, userdata);
}

int netd_client_net_is_ip_sync(struct netd_client *c, const char *input, int timeout_ms,
                               int *ret_family, struct netd_client_error *reterr)
{
        json_t *result = NULL;
        json_int_t v;
        int r;

        r = helper_call_sync(c, "net.isIP", json_pack("{s:s}", "input", input), timeout_ms, &result,
                             reterr);
        if (r < 0)
                return r;
        v = json_integer_value(result);
        if (!json_is_integer(result) || (v != 0 && v != 4 && v != 6))
                return helper_bad_result(result, reterr);
        json_decref(result);
        if (ret_family)
                *ret_family = (int)v;
        return 0;
}

static int is_ipvx_sync(struct netd_client *c, const char *method, const char *input,
                        int timeout_ms, bool *ret, struct netd_client_error *reterr)
{
        json_t *result = NULL;
        int r;

        r = helper_call_sync(c, method, json_pack("{s:s}", "input", input), timeout_ms, &result,
                             reterr);
        if (r < 0)
                return r;
        if (!json_is_boolean(result))
                return helper_bad_result(result, reterr);
        if (ret)
                *ret = json_is_true(result);
        json_decref(result);
        return 0;
}

int netd_client_net_is_ipv4(struct netd_client *c, const char *input, netd_client_reply_fn cb,
                            void *userdata)
{
        return helper_call(c, "net.isIPv4", json_pack("{s:s}", "input", input), cb, userdata);
}

int netd_client_net_is_ipv4_sync(struct netd_client *c, const char *input, int timeout_ms,
                                 bool *ret, struct netd_client_error *reterr)
{
        return is_ipvx_sync(c, "net.isIPv4", input, timeout_ms, ret, reterr);
}

int netd_client_net_is_ipv6(struct netd_client *c, const char *input, netd_client_reply_fn cb,
                            void *userdata)
{
        return helper_call(c, "net.isIPv6", json_pack("{s:s}", "input", input), cb, userdata);
}

int netd_client_net_is_ipv6_sync(struct netd_client *c, const char *input, int timeout_ms,
                                 bool *ret, struct netd_client_error *reterr)
{
        return is_ipvx_sync(c, "net.isIPv6", input, timeout_ms, ret, reterr);
}

/* ---- Handle-creating calls ----------------------------------------------------------------- */

/* Runs a call whose result is {"<kind>": N} and puts N in *ret. */
static int handle_call_sync(struct netd_client *c, const char *method, json_t *params,
                            const char *kind, int timeout_ms, uint64_t *ret,
                            struct netd_client_error *reterr)
{
        json_t *result = NULL;
        uint64_t h;
        int r;

        r = helper_call_sync(c, method, params, timeout_ms, &result, reterr);
        if (r < 0)
                return r;
        if (netd_client_get_handle(result, kind, &h) < 0)
                return helper_bad_result(result, reterr);
        json_decref(result);
        if (ret)
                *ret = h;
        return 0;
}

/* options is stolen; NULL becomes {}. Anything but an object is refused. */
static json_t *server_options(json_t *options)
{
        if (!options)
                return json_object();
        if (!json_is_object(options)) {
                json_decref(options);
                return NULL;
        }
        return options;
}

int netd_client_net_create_server(struct netd_client *c, json_t *options, netd_client_reply_fn cb,
                                  void *userdata)
{
        return helper_call(c, "net.createServer", server_options(options), cb, userdata);
}

int netd_client_net_create_server_sync(struct netd_client *c, json_t *options, int timeout_ms,
                                       uint64_t *ret_server, struct netd_client_error *reterr)
{
        return handle_call_sync(c, "net.createServer", server_options(options), "server",
                                timeout_ms, ret_server, reterr);
}

/* {port, host?} for net.createConnection, in Node's connect(port, host) order. */
static json_t *connect_params(int port, const char *host)
{
        json_t *p;

        if (!port_is_valid(port))
                return NULL;
        p = json_pack("{s:i}", "port", port);
        if (p && host && json_object_set_new(p, "host", json_string(host)) < 0) {
                json_decref(p);
                return NULL;
        }
        return p;
}

int netd_client_net_create_connection(struct netd_client *c, int port, const char *host,
                                      netd_client_reply_fn cb, void *userdata)
{
        return helper_call(c, "net.createConnection", connect_params(port, host), cb, userdata);
}

int netd_client_net_create_connection_sync(struct netd_client *c, int port, const char *host,
                                           int timeout_ms, uint64_t *ret_socket,
                                           struct netd_client_error *reterr)
{
        return handle_call_sync(c, "net.createConnection", connect_params(port, host), "socket",
                                timeout_ms, ret_socket, reterr);
}

/* ---- server.* ------------------------------------------------------------------------------ */

/* {server, port, host?, backlog?}, as Node's listen(port, host, backlog). */
static json_t *listen_params(uint64_t server, int port, const char *host, int backlog)
{
        json_t *p;

        if (!port_is_valid(port))
                return NULL;
        p = handle_params("server", server);
        if (!p)
                return NULL;
        if (json_object_set_new(p, "port", json_integer(port)) < 0 ||
            (host && json_object_set_new(p, "host", json_string(host)) < 0) ||
            (backlog >= 0 && json_object_set_new(p, "backlog", json_integer(backlog)) < 0)) {
                json_decref(p);
                return NULL;
        }
        return p;
}

int netd_client_server_listen(struct netd_client *c, uint64_t server, int port, const char *host,
                              int backlog, netd_client_reply_fn cb, void *userdata)
{
        return helper_call(c, "server.listen", listen_params(server, port, host, backlog), cb,
                           userdata);
}

int netd_client_server_listen_sync(struct netd_client *c, uint64_t server, int port,
                                   const char *host, int backlog, int timeout_ms,
                                   json_t **ret_address, struct netd_client_error *reterr)
{
        return helper_call_sync(c, "server.listen", listen_params(server, port, host, backlog),
                                timeout_ms, ret_address, reterr);
}

int netd_client_server_listen_path(struct netd_client *c, uint64_t server, const char *path,
                                   netd_client_reply_fn cb, void *userdata)
{
        json_t *p = NULL;

        if (handle_is_valid(server) && path)
                p = json_pack("{s:I, s:s}", "server", (json_int_t)server, "path", path);
        return helper_call(c, "server.listen", p, cb, userdata);
}

int netd_client_server_close(struct netd_client *c, uint64_t server, netd_client_reply_fn cb,
                             void *userdata)
{
        return helper_call(c, "server.close", handle_params("server", server), cb, userdata);
}

int netd_client_server_close_sync(struct netd_client *c, uint64_t server, int timeout_ms,
                                  struct netd_client_error *reterr)
{
        return helper_call_sync(c, "server.close", handle_params("server", server), timeout_ms,
                                NULL, reterr);
}

int netd_client_server_address(struct netd_client *c, uint64_t server, netd_client_reply_fn cb,
                               void *userdata)
{
        return helper_call(c, "server.address", handle_params("server", server), cb, userdata);
}

int netd_client_server_address_sync(struct netd_client *c, uint64_t server, int timeout_ms,
                                    json_t **ret_address, struct netd_client_error *reterr)
{
        return helper_call_sync(c, "server.address", handle_params("server", server), timeout_ms,
                                ret_address, reterr);
}

/* ---- socket.* ------------------------------------------------------------------------------ */

int netd_client_socket_write(struct netd_client *c, uint64_t socket, const void *data, size_t len,
                             netd_client_reply_fn cb, void *userdata)
{
        if (!handle_is_valid(socket) || (!data && len > 0))
                return -EINVAL;
        return netd_clib_call_write(c, socket, data, len, NULL, cb, userdata);
}

int netd_client_socket_write_sync(struct netd_client *c, uint64_t socket, const void *data,
                                  size_t len, int timeout_ms, struct netd_client_error *reterr)
{
        if (!handle_is_valid(socket) || (!data && len > 0))
                return sync_fail(reterr, -EINVAL);
        return netd_clib_call_write_sync(c, socket, data, len, NULL, timeout_ms, reterr);
}

int netd_client_socket_write_string(struct netd_client *c, uint64_t socket, const char *data,
                                    const char *encoding, netd_client_reply_fn cb, void *userdata)
{
        if (!handle_is_valid(socket) || !data)
                return -EINVAL;
        return netd_clib_call_write(c, socket, data, strlen(data), encoding ? encoding : "utf8", cb,
                                    userdata);
}

int netd_client_socket_end(struct netd_client *c, uint64_t socket, netd_client_reply_fn cb,
                           void *userdata)
{
        return helper_call(c, "socket.end", handle_params("socket", socket), cb, userdata);
}

int netd_client_socket_end_sync(struct netd_client *c, uint64_t socket, int timeout_ms,
                                struct netd_client_error *reterr)
{
        return helper_call_sync(c, "socket.end", handle_params("socket", socket), timeout_ms, NULL,
                                reterr);
}

int netd_client_socket_destroy(struct netd_client *c, uint64_t socket, netd_client_reply_fn cb,
                               void *userdata)
{
        return helper_call(c, "socket.destroy", handle_params("socket", socket), cb, userdata);
}

int netd_client_socket_destroy_sync(struct netd_client *c, uint64_t socket, int timeout_ms,
                                    struct netd_client_error *reterr)
{
        return helper_call_sync(c, "socket.destroy", handle_params("socket", socket), timeout_ms,
                                NULL, reterr);
}

int netd_client_socket_attach(struct netd_client *c, uint64_t socket, netd_client_reply_fn cb,
                              void *userdata)
{
        return helper_call(c, "socket.attach", handle_params("socket", socket), cb, userdata);
}

int netd_client_socket_attach_sync(struct netd_client *c, uint64_t socket, int timeout_ms,
                                   struct netd_client_error *reterr)
{
        json_t *result = NULL;
        int fd = -1, r;

        if (!handle_is_valid(socket))
                return sync_fail(reterr, -EINVAL);
        r = netd_clib_call_sync_fd(c, "socket.attach", handle_params("socket", socket), timeout_ms,
                                   &result, &fd, reterr);
        if (r < 0)
                return r;
        /* {"fd":0}, and the descriptor on that line. */
        if (!json_is_integer(json_object_get(result, "fd")) ||
            json_integer_value(json_object_get(result, "fd")) != 0 || fd < 0) {
                if (fd >= 0)
                        close(fd);
                return helper_bad_result(result, reterr);
        }
        json_decref(result);
        return fd;
}

/* ---- netd.* -------------------------------------------------------------------------------- */

int netd_client_netd_info(struct netd_client *c, netd_client_reply_fn cb, void *userdata)
{
        return helper_call(c, "netd.info", json_object(), cb, userdata);
}

int netd_client_netd_info_sync(struct netd_client *c, int timeout_ms, json_t **ret_info,
                               struct netd_client_error *reterr)
{
        json_t *result = NULL;
        int r;

        r = helper_call_sync(c, "netd.info", json_object(), timeout_ms, &result, reterr);
        if (r < 0)
                return r;
        if (!json_is_object(result))
                return helper_bad_result(result, reterr);
        if (ret_info)
                *ret_info = result;
        else
                json_decref(result);
        return 0;
}

int netd_client_netd_sync(struct netd_client *c, netd_client_reply_fn cb, void *userdata)
{
        return helper_call(c, "netd.sync", json_object(), cb, userdata);
}

/* ---- socket.data payloads ------------------------------------------------------------------ */

int netd_client_decode_data(json_t *params, void **ret_buf, size_t *ret_len)
{
        json_t *data = json_object_get(params, "data");
        json_t *encoding = json_object_get(params, "encoding");
        const char *in;
        size_t len, max;
        uint8_t *out;
        ssize_t n;
        int enc;

        if (!json_is_string(data))
                return -EINVAL;
        /* No encoding set with socket.setEncoding(): base64, as Node would give a Buffer. */
        if (!encoding || json_is_null(encoding))
                enc = NETD_ENC_BASE64;
        else if (json_is_string(encoding))
                enc = netd_encoding_from_string(json_string_value(encoding));
        else
                return -EINVAL;
        if (enc < 0)
                return -EOPNOTSUPP;

        in = json_string_value(data);
        len = json_string_length(data); /* the text may hold U+0000 */
        if (len > SIZE_MAX / 2 - 1)
                return -ENOMEM;
        max = netd_decode_max((enum netd_encoding)enc, len);
        out = malloc(max + 1);
        if (!out)
                return -ENOMEM;
        n = netd_decode((enum netd_encoding)enc, in, len, out);
        if (n < 0) {
                free(out);
                return (int)n;
        }
        out[n] = 0;
        *ret_buf = out;
        *ret_len = (size_t)n;
        return 0;
}
