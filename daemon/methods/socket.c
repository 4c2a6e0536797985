/*
 * Socket methods: socket.write, end, destroy, pause, resume, set*, address,
 * get, and the byte paths that bypass JSON: attach, pipe, unpipe.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "daemon.h"
#include "encoding.h"
#include "flow.h"
#include "log.h"
#include "methods.h"
#include "owner.h"
#include "params.h"
#include "req.h"
#include "socket.h"

/* The socket a handle method was called on (netd_method_on_handle). */
#define SOCK(h) ((struct netd_socket *)(h))

struct write_args {
        uint64_t socket;
        struct netd_str data;
        int encoding;
};

/*
 * A write a byte limit refused (flow.h). With an id: ERR_NETD_LIMIT naming
 * the limit, the socket intact (retry after socket.drain). As a notification
 * nobody can be told, and netd never drops bytes silently: that one socket
 * is destroyed with the same error ('error', then 'close' with hadError).
 */
static struct netd_done *socket_refuse_write(struct netd_req *req, struct netd_socket *s, size_t n,
                                             const struct netd_flow_refusal *fr)
{
        char message[256];
        json_t *err;

        (void)snprintf(message, sizeof(message),
                       "write of %zu bytes refused: %" PRIu64 " bytes already queued (%s %" PRIu64
                       ")",
                       n, fr->queued, fr->limit, fr->max);
        err = netd_nerr_limit(message, fr->limit, fr->max);
        if (strcmp(fr->limit, "bufferedBytesPerUid") == 0) {
                req->daemon->stats.buffers_over_uid++;
                log_notice("conn#%llu uid=%u: %s", (unsigned long long)req->conn->id,
                           (unsigned)req->conn->cred.uid, message);
        }
        if (req->id)
                return netd_req_fail_node(req, err);
        req->daemon->stats.sockets_limited++;
        netd_socket_destroy(s, err);
        return netd_req_ok_true(req); /* a notification: nothing is sent */
}

/*
 * Queues bytes (taken; NULL: none) on s for socket.write, or for socket.end
 * (end true). A notification is complete as soon as its bytes are queued:
 * it never waits in the socket's queue (nor takes an in-flight slot).
 */
static struct netd_done *socket_send_to(struct netd_req *req, struct netd_socket *s, uint8_t *bytes,
                                        size_t n, bool end)
{
        struct netd_req *waiter = req->id ? req : NULL;
        struct netd_flow_refusal fr;

        if (!end || (bytes && s->end_requested)) {
                /* Data after an end is never dropped quietly: the write error, as Node. */
                if (netd_socket_write(s, bytes, n, waiter, &fr) < 0)
                        return socket_refuse_write(req, s, n, &fr);
        } else {
                if (n > 0) {
                        if (netd_socket_write(s, bytes, n, NULL, &fr) < 0)
                                return socket_refuse_write(req, s, n, &fr);
                } else {
                        free(bytes);
                }
                netd_socket_end(s, waiter);
        }
        if (!waiter)
                return netd_req_ok_true(req);
        return netd_req_pending(req);
}

/*
 * Decodes data per encoding and queues the bytes. A malformed payload is a
 * -32602 naming "data": netd never writes part of it.
 */
static struct netd_done *socket_send(struct netd_req *req, uint64_t socket, const char *data,
                                     size_t len, int encoding, bool end)
{
        struct netd_param_error pe;
        struct netd_done *done;
        struct netd_socket *s;
        uint8_t *buf = NULL;
        ssize_t n = 0;

        /* The handle first: an unknown socket is reported before bad data, as always. */
        s = (struct netd_socket *)netd_method_handle(req, socket, NETD_HANDLE_SOCKET, &done);
        if (!s)
                return done;
        if (s->attached)
                return netd_req_fail_err(req, NETD_ERR_NETD_SOCKET_ATTACHED,
                                         "The socket is attached: write to its descriptor");
        if (end && s->pipe_in)
                return netd_req_fail_err(req, NETD_ERR_NETD_SOCKET_PIPED,
                                         "The socket is a socket.pipe destination: the pipe "
                                         "ends it");
        if (data) {
                buf = malloc(netd_decode_max(encoding, len) + 1);
                if (!buf)
                        return netd_req_fail_errno(req, ENOMEM, "write", NULL, -1);
                n = netd_decode(encoding, data, len, buf);
                if (n < 0) {
                        free(buf);
                        pe = (struct netd_param_error){ .field = "data",
                                                        .code = NETD_ERR_INVALID_ARG_VALUE };
                        (void)snprintf(pe.message, sizeof(pe.message), "\"data\" is not valid %s",
                                       netd_encoding_to_string(encoding));
                        return netd_req_fail_params(req, &pe);
                }
        }
        return socket_send_to(req, s, buf, (size_t)n, end);
}

static struct netd_done *write_common(struct netd_req *req, struct netd_jv params, bool end)
{
        static const struct netd_param write_spec[] = {
                NETD_PARAM_REQ("socket", NETD_T_HANDLE, struct write_args, socket),
                NETD_PARAM_REQ("data", NETD_T_STRING, struct write_args, data),
                NETD_PARAM_OPT("encoding", NETD_T_ENCODING, struct write_args, encoding),
                {},
        };
        static const struct netd_param end_spec[] = {
                NETD_PARAM_REQ("socket", NETD_T_HANDLE, struct write_args, socket),
                NETD_PARAM_OPT("data", NETD_T_STRING, struct write_args, data),
                NETD_PARAM_OPT("encoding", NETD_T_ENCODING, struct write_args, encoding),
                {},
        };
        struct write_args a = { .encoding = NETD_ENC_UTF8 };
        struct netd_param_error pe;

        if (netd_params_parse(params, end ? end_spec : write_spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        return socket_send(req, a.socket, a.data.s, a.data.len, a.encoding, end);
}

struct netd_done *m_socket_write(struct netd_req *req, struct netd_jv params)
{
        return write_common(req, params, false);
}

struct netd_done *m_socket_end(struct netd_req *req, struct netd_jv params)
{
        return write_common(req, params, true);
}

struct destroy_args {
        uint64_t socket;
        struct netd_jv error;
};

/*
 * socket.destroy(error): the error is described by two strings, never
 * copied as a tree (a client's JSON is not echoed back).
 */
struct netd_done *m_socket_destroy(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("socket", NETD_T_HANDLE, struct destroy_args, socket),
                NETD_PARAM_OPT("error", NETD_T_OBJECT, struct destroy_args, error),
                {},
        };
        struct destroy_args a = { .error = { NULL, -1 } };
        struct netd_param_error pe;
        struct netd_done *done;
        struct netd_socket *s;
        json_t *err = NULL;

        if (netd_params_parse(params, spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        if (a.error.i >= 0) {
                struct netd_jv message = netd_jv_get(a.error, "message", 7);
                struct netd_jv code = netd_jv_get(a.error, "code", 4);

                if ((message.i >= 0 && !netd_jv_is(message, NETD_JTOK_STRING)) ||
                    (code.i >= 0 && !netd_jv_is(code, NETD_JTOK_STRING))) {
                        pe = (struct netd_param_error){
                                .field = "error",
                                .code = NETD_ERR_INVALID_ARG_TYPE,
                                .message = "\"error\" takes a string \"message\" and "
                                           "\"code\"",
                        };
                        return netd_req_fail_params(req, &pe);
                }
                err = json_pack("{s:s%}", "message",
                                message.i >= 0 ? netd_jv_str(message) : "Error",
                                message.i >= 0 ? (size_t)netd_jv_tok(message)->len : 5);
                /* Clients switch on data.code: an error given without one gets netd's. */
                if (err)
                        json_object_set_new(err, "code",
                                            code.i >= 0 ? json_stringn(netd_jv_str(code),
                                                                       netd_jv_tok(code)->len)
                                                        : json_string("ERR_NETD_USER_ERROR"));
        }
        s = (struct netd_socket *)netd_method_handle(req, a.socket, NETD_HANDLE_SOCKET, &done);
        if (!s) {
                json_decref(err);
                return done;
        }
        netd_socket_destroy(s, err);
        return netd_req_ok_true(req);
}

struct netd_done *m_socket_reset_and_destroy(struct netd_req *req, struct netd_handle *h,
                                             const void *args)
{
        struct netd_socket *s = SOCK(h);
        int r = netd_socket_reset(s);

        if (r == -EPROTOTYPE)
                return netd_req_fail_err(req, NETD_ERR_INVALID_HANDLE_TYPE,
                                         "Invalid handle type: a UNIX socket cannot be reset");
        if (r < 0) {
                /* No connection to reset: Node's destroy(ERR_SOCKET_CLOSED). */
                netd_socket_destroy(s, netd_nerr(NETD_ERR_SOCKET_CLOSED, NULL));
        }
        return netd_req_ok_true(req);
}

struct connect_args {
        uint64_t socket;
        struct netd_connect_args c;
};

struct netd_done *m_socket_connect(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("socket", NETD_T_HANDLE, struct connect_args, socket),
                NETD_PARAM_OPT("port", NETD_T_PORT, struct connect_args, c.port),
                NETD_PARAM_OPT("host", NETD_T_STRING, struct connect_args, c.host),
                NETD_PARAM_OPT("path", NETD_T_STRING, struct connect_args, c.path),
                NETD_PARAM_INT("timeout", false, struct connect_args, c.timeout, 0, INT32_MAX),
                NETD_PARAM_INT("family", false, struct connect_args, c.family, INT32_MIN,
                               INT32_MAX),
                NETD_PARAM_INT("hints", false, struct connect_args, c.hints, 0, INT32_MAX),
                NETD_PARAM_OPT("localAddress", NETD_T_STRING, struct connect_args, c.local_address),
                NETD_PARAM_OPT("localPort", NETD_T_PORT, struct connect_args, c.local_port),
                NETD_PARAM_OPT("autoSelectFamily", NETD_T_BOOL, struct connect_args,
                               c.auto_select_family),
                NETD_PARAM_INT("autoSelectFamilyAttemptTimeout", false, struct connect_args,
                               c.attempt_timeout, 1, INT32_MAX),
                {},
        };
        struct connect_args a = { .c = NETD_CONNECT_ARGS_INIT };
        struct netd_param_error pe;
        struct netd_done *done;
        struct netd_socket *s;

        if (netd_method_parse_connect(params, spec, &a, &a.c, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        s = (struct netd_socket *)netd_method_handle(req, a.socket, NETD_HANDLE_SOCKET, &done);
        if (!s)
                return done;
        return netd_method_connect(req, s, &a.c, json_true());
}

struct timeout_args {
        uint64_t socket;
        int64_t timeout;
};

static struct netd_done *set_timeout(struct netd_req *req, struct netd_handle *h, const void *args)
{
        const struct timeout_args *a = args;

        if (netd_socket_set_timeout(SOCK(h), a->timeout) < 0)
                return netd_req_fail_errno(req, ENOMEM, "setTimeout", NULL, -1);
        return netd_req_ok_true(req);
}

struct netd_done *m_socket_set_timeout(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("socket", NETD_T_HANDLE, struct timeout_args, socket),
                NETD_PARAM_INT("timeout", true, struct timeout_args, timeout, 0, INT32_MAX),
                {},
        };
        struct timeout_args a = {};

        return netd_method_on_handle(req, params, spec, &a, NETD_HANDLE_SOCKET, set_timeout);
}

struct netd_done *m_socket_ref(struct netd_req *req, struct netd_handle *h, const void *args)
{
        SOCK(h)->unref = false;
        return netd_req_ok_true(req);
}

struct netd_done *m_socket_unref(struct netd_req *req, struct netd_handle *h, const void *args)
{
        SOCK(h)->unref = true;
        return netd_req_ok_true(req);
}

/* socket.pause and socket.resume: reading stops or restarts (with the owner's flow state). */
static struct netd_done *set_paused(struct netd_req *req, struct netd_socket *s, bool paused)
{
        s->user_paused = paused;
        netd_socket_update_reading(s);
        return netd_req_ok_true(req);
}

struct netd_done *m_socket_pause(struct netd_req *req, struct netd_handle *h, const void *args)
{
        return set_paused(req, SOCK(h), true);
}

struct netd_done *m_socket_resume(struct netd_req *req, struct netd_handle *h, const void *args)
{
        return set_paused(req, SOCK(h), false);
}

struct set_encoding_args {
        uint64_t socket;
        int encoding;
};

static struct netd_done *set_encoding(struct netd_req *req, struct netd_handle *h, const void *args)
{
        const struct set_encoding_args *a = args;

        if (SOCK(h)->attached)
                return netd_req_fail_err(req, NETD_ERR_NETD_SOCKET_ATTACHED,
                                         "The socket is attached: its bytes are not decoded");
        SOCK(h)->encoding = a->encoding;
        netd_strdec_init(&SOCK(h)->dec, a->encoding);
        return netd_req_ok_true(req);
}

struct netd_done *m_socket_set_encoding(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("socket", NETD_T_HANDLE, struct set_encoding_args, socket),
                NETD_PARAM_OPT("encoding", NETD_T_ENCODING, struct set_encoding_args, encoding),
                {},
        };
        struct set_encoding_args a = { .encoding = NETD_ENC_UTF8 };

        return netd_method_on_handle(req, params, spec, &a, NETD_HANDLE_SOCKET, set_encoding);
}

struct no_delay_args {
        uint64_t socket;
        bool no_delay;
};

static struct netd_done *set_no_delay(struct netd_req *req, struct netd_handle *h, const void *args)
{
        const struct no_delay_args *a = args;

        SOCK(h)->opt_no_delay = a->no_delay;
        netd_socket_apply_options(SOCK(h));
        return netd_req_ok_true(req);
}

struct netd_done *m_socket_set_no_delay(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("socket", NETD_T_HANDLE, struct no_delay_args, socket),
                NETD_PARAM_OPT("noDelay", NETD_T_BOOL, struct no_delay_args, no_delay),
                {},
        };
        struct no_delay_args a = { .no_delay = true };

        return netd_method_on_handle(req, params, spec, &a, NETD_HANDLE_SOCKET, set_no_delay);
}

struct keep_alive_args {
        uint64_t socket;
        bool enable;
        int64_t initial_delay, interval, count;
};

static struct netd_done *set_keep_alive(struct netd_req *req, struct netd_handle *h,
                                        const void *args)
{
        const struct keep_alive_args *a = args;
        struct netd_socket *s = SOCK(h);

        s->opt_keep_alive = a->enable;
        s->opt_keep_alive_delay_ms = a->initial_delay;
        s->opt_keep_alive_interval_ms = a->interval;
        s->opt_keep_alive_count = a->count;
        netd_socket_apply_options(s);
        return netd_req_ok_true(req);
}

struct netd_done *m_socket_set_keep_alive(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("socket", NETD_T_HANDLE, struct keep_alive_args, socket),
                NETD_PARAM_OPT("enable", NETD_T_BOOL, struct keep_alive_args, enable),
                NETD_PARAM_INT("initialDelay", false, struct keep_alive_args, initial_delay, 0,
                               INT32_MAX),
                NETD_PARAM_INT("interval", false, struct keep_alive_args, interval, 1000,
                               INT32_MAX),
                NETD_PARAM_INT("count", false, struct keep_alive_args, count, 1, 127),
                {},
        };
        struct keep_alive_args a = { .interval = 1000, .count = 10 };

        return netd_method_on_handle(req, params, spec, &a, NETD_HANDLE_SOCKET, set_keep_alive);
}

struct netd_done *m_socket_address(struct netd_req *req, struct netd_handle *h, const void *args)
{
        struct netd_socket *s = SOCK(h);

        /* Node returns {} when there is no handle. */
        if (s->state != NETD_SOCKET_OPEN || s->local.family == 0)
                return netd_req_ok(req, json_object());
        return netd_req_ok(req, netd_addr_to_json(&s->local));
}

struct netd_done *m_socket_get(struct netd_req *req, struct netd_handle *h, const void *args)
{
        struct netd_socket *s = SOCK(h);
        bool connecting, has_handle;
        json_t *o;

        connecting = s->state == NETD_SOCKET_LOOKUP || s->state == NETD_SOCKET_CONNECTING;
        has_handle = s->state == NETD_SOCKET_OPEN || connecting;
        o = json_pack("{s:I,s:I,s:o,s:b,s:b,s:b,s:s}", "bytesRead", (json_int_t)s->bytes_read,
                      "bytesWritten", (json_int_t)s->queued, "bufferSize",
                      has_handle ? json_integer((json_int_t)(s->queued - s->flushed)) : json_null(),
                      "connecting", connecting, "pending", !has_handle || connecting, "destroyed",
                      s->state == NETD_SOCKET_CLOSED, "readyState", netd_socket_ready_state(s));
        if (!o)
                return netd_req_fail_errno(req, ENOMEM, "get", NULL, -1);
        (void)netd_addr_set_fields(o, "local", &s->local);
        (void)netd_addr_set_fields(o, "remote", &s->remote);
        json_object_set_new(o, "timeout",
                            s->timeout_ms > 0 ? json_integer(s->timeout_ms) : json_null());
        json_object_set_new(o, "encoding",
                            s->encoding < 0 ? json_null()
                                            : json_string(netd_encoding_to_string(s->encoding)));
        json_object_set_new(o, "paused", json_boolean(s->user_paused));
        json_object_set_new(o, "autoSelectFamilyAttemptedAddresses",
                            s->attempted ? json_incref(s->attempted) : json_null());
        json_object_set_new(o, "ref", json_boolean(!s->unref));
        json_object_set_new(o, "server",
                            s->server ? json_integer((json_int_t)s->server) : json_null());
        return netd_req_ok(req, o);
}

/* Completes req for a refusal of netd_socket_attach() or netd_socket_pipe(). */
static struct netd_done *socket_path_fail(struct netd_req *req, int r, const char *syscall)
{
        struct netd_param_error pe;

        switch (r) {
        case -ESHUTDOWN:
                return netd_req_fail_err(req, NETD_ERR_STREAM_DESTROYED, "The socket is closed");
        case -EISCONN:
                return netd_req_fail_err(req, NETD_ERR_NETD_SOCKET_ATTACHED, NULL);
        case -EBUSY:
                return netd_req_fail_err(req, NETD_ERR_NETD_SOCKET_PIPED, NULL);
        case -ENOTCONN:
                return netd_req_fail_err(req, NETD_ERR_NETD_SOCKET_NOT_CONNECTED, NULL);
        case -EPIPE:
                return netd_req_fail_err(req, NETD_ERR_STREAM_WRITE_AFTER_END,
                                         "The destination has ended");
        case -EINVAL:
                pe = (struct netd_param_error){ .field = "destination",
                                                .code = NETD_ERR_INVALID_ARG_VALUE,
                                                .message = "\"destination\" is the socket "
                                                           "itself" };
                return netd_req_fail_params(req, &pe);
        default:
                return netd_req_fail_errno(req, -r, syscall, NULL, -1);
        }
}

/*
 * socket.attach: the reply {"fd":0} carries the client's end of a
 * socketpair (SCM_RIGHTS). Sent as a notification there is no line to carry
 * it, so nothing is done; inside a batch the descriptor's line would be
 * ambiguous, so it is refused.
 */
struct netd_done *m_socket_attach(struct netd_req *req, struct netd_handle *h, const void *args)
{
        int fd = -1;
        int r;

        if (!req->id)
                return netd_req_ok_true(req);
        if (!netd_req_can_send_fd(req))
                return netd_req_fail_err(req, NETD_ERR_NETD_FD_IN_BATCH,
                                         "socket.attach cannot be part of a batch: its reply "
                                         "carries a descriptor");
        r = netd_socket_attach(SOCK(h), &fd);
        if (r < 0)
                return socket_path_fail(req, r, "attach");
        return netd_req_ok_fd(req, json_pack("{s:i}", "fd", 0), fd);
}

struct pipe_args {
        uint64_t socket;
        uint64_t destination;
        bool end;
};

struct netd_done *m_socket_pipe(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("socket", NETD_T_HANDLE, struct pipe_args, socket),
                NETD_PARAM_REQ("destination", NETD_T_HANDLE, struct pipe_args, destination),
                NETD_PARAM_OPT("end", NETD_T_BOOL, struct pipe_args, end),
                {},
        };
        struct pipe_args a = { .end = true };
        struct netd_param_error pe;
        struct netd_socket *src, *dst;
        struct netd_done *done;
        int r;

        if (netd_params_parse(params, spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        src = (struct netd_socket *)netd_method_handle(req, a.socket, NETD_HANDLE_SOCKET, &done);
        if (!src)
                return done;
        dst = (struct netd_socket *)netd_method_handle(req, a.destination, NETD_HANDLE_SOCKET,
                                                       &done);
        if (!dst)
                return done;
        r = netd_socket_pipe(src, dst, a.end);
        if (r < 0)
                return socket_path_fail(req, r, "pipe");
        return netd_req_ok_true(req);
}

struct netd_done *m_socket_unpipe(struct netd_req *req, struct netd_handle *h, const void *args)
{
        netd_socket_unpipe(SOCK(h));
        return netd_req_ok_true(req);
}
