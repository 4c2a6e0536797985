/*
 * Requests and replies (see req.h). A request lives from its line being
 * read until its one reply is queued (or it is dropped with a reason); a
 * batch lives until its last entry has completed, then sends all its
 * replies as one array. Client-supplied JSON is never echoed except the
 * id, a scalar.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "encoding.h"
#include "handle.h"
#include "log.h"
#include "owner.h"
#include "params.h"
#include "req.h"

/* The one value struct netd_done pointers ever take. */
static char done_token;
#define NETD_DONE ((struct netd_done *)&done_token)

struct netd_batch {
        unsigned refs;      /* one per entry still in flight, plus one while dispatching */
        json_t *replies;    /* owned: the array sent once refs drops to 0 */
        uint64_t *announce; /* owned: handle ids the replies name */
        size_t n_announce;
};

void netd_batch_unref(struct netd_batch *b, struct netd_owner *c)
{
        if (--b->refs > 0)
                return;
        if (c && netd_owner_is_open(c)) {
                if (json_array_size(b->replies) > 0)
                        netd_owner_send(c, json_incref(b->replies));
                for (size_t i = 0; i < b->n_announce; i++) {
                        struct netd_handle *h = netd_handle_lookup(c->daemon, b->announce[i]);

                        if (h && h->owner == c)
                                netd_handle_announce(h);
                }
        }
        json_decref(b->replies);
        free(b->announce);
        free(b);
}

struct netd_batch *netd_batch_new(void)
{
        struct netd_batch *b = calloc(1, sizeof(*b));

        if (b)
                b->replies = json_array();
        if (!b || !b->replies) {
                free(b);
                return NULL;
        }
        b->refs = 1; /* held while the entries are dispatched */
        return b;
}

static void batch_add(struct netd_batch *b, json_t *reply, uint64_t announces)
{
        if (reply && json_array_append_new(b->replies, reply) < 0)
                log_error("Failed to add a batch reply, out of memory");
        if (announces) {
                uint64_t *n = realloc(b->announce, (b->n_announce + 1) * sizeof(*n));

                if (n) {
                        b->announce = n;
                        b->announce[b->n_announce++] = announces;
                }
        }
}

struct netd_req *netd_req_new(struct netd_owner *c, json_t *id, struct netd_batch *batch)
{
        struct netd_req *req = calloc(1, sizeof(*req));

        if (!req)
                return NULL;
        req->daemon = c->daemon;
        req->conn = c;
        req->id = json_incref(id);
        req->batch = batch;
        if (batch)
                batch->refs++;
        TAILQ_INSERT_TAIL(&c->reqs, req, link);
        /* A notification owes no reply: it never takes an in-flight slot. */
        req->counted = id != NULL;
        if (req->counted)
                c->n_reqs++;
        return req;
}

/* Queues reply (stolen, may be NULL) for req, announces its handle, frees req. */
static void req_complete(struct netd_req *req, json_t *reply)
{
        struct netd_owner *c = req->conn;

        if (c) {
                TAILQ_REMOVE(&c->reqs, req, link);
                if (req->counted)
                        c->n_reqs--;
        }
        if (req->daemon->dispatching == req)
                req->daemon->dispatching = NULL; /* completed inside its handler */
        if (!req->id) {
                /* A notification never gets a reply, not even an error. */
                json_decref(reply);
                reply = NULL;
        }
        if (req->batch) {
                batch_add(req->batch, reply, req->announces);
                netd_batch_unref(req->batch, c);
        } else if (c) {
                if (reply)
                        netd_owner_send(c, reply);
                if (req->announces) {
                        struct netd_handle *h = netd_handle_lookup(c->daemon, req->announces);

                        if (h && h->owner == c)
                                netd_handle_announce(h);
                }
        } else {
                json_decref(reply);
        }
        json_decref(req->id);
        free(req);
}

json_t *netd_rpc_error_msg(json_t *id, int code, const char *message, json_t *data)
{
        json_t *err = json_pack("{s:i,s:s}", "code", code, "message", message);

        if (err && data)
                json_object_set_new(err, "data", data);
        else
                json_decref(data);
        return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error",
                         err);
}

struct netd_done *netd_req_ok(struct netd_req *req, json_t *result)
{
        json_t *msg = NULL;

        if (req->id && !req->batch && req->conn) {
                /* The common case: serialised straight into the output (no envelope object). */
                netd_owner_send_result(req->conn, req->id, result);
                json_decref(req->id);
                req->id = NULL; /* sent: req_complete() only announces and frees */
                req_complete(req, NULL);
                return NETD_DONE;
        }
        if (req->id)
                msg = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", req->id, "result",
                                result ? result : json_null());
        else
                json_decref(result);
        req_complete(req, msg);
        return NETD_DONE;
}

bool netd_req_can_send_fd(const struct netd_req *req)
{
        return req->id && !req->batch;
}

struct netd_done *netd_req_ok_fd(struct netd_req *req, json_t *result, int fd)
{
        if (netd_req_can_send_fd(req) && req->conn) {
                (void)netd_owner_send_result_fd(req->conn, req->id, result, fd);
                json_decref(req->id);
                req->id = NULL; /* sent: req_complete() only announces and frees */
                req_complete(req, NULL);
                return NETD_DONE;
        }
        close(fd);
        return netd_req_ok(req, result);
}

struct netd_done *netd_req_ok_true(struct netd_req *req)
{
        return netd_req_ok(req, json_true());
}

void netd_req_hold(struct netd_req *req, const char *by)
{
        req->held_by = by;
}

struct netd_done *netd_req_pending(struct netd_req *req)
{
        (void)req;
        return NETD_DONE;
}

struct netd_done *netd_req_fail_rpc(struct netd_req *req, int code, const char *message,
                                    json_t *data)
{
        req->daemon->stats.errors++;
        if (!req->id) {
                json_decref(data);
                req_complete(req, NULL);
                return NETD_DONE;
        }
        req_complete(req, netd_rpc_error_msg(req->id, code, message, data));
        return NETD_DONE;
}

json_t *netd_rpc_error_from_nerr(json_t *nerr)
{
        const char *code;
        json_t *message, *err;
        int rpc_code;

        if (!nerr)
                return NULL;
        code = json_string_value(json_object_get(nerr, "code"));
        rpc_code =
                code && strncmp(code, "ERR_", 4) == 0 ? NETD_RPC_NETD_ERROR : NETD_RPC_SYSTEM_ERROR;
        message = json_incref(json_object_get(nerr, "message"));
        (void)json_object_del(nerr, "message");
        err = json_pack("{s:i,s:o,s:o}", "code", rpc_code, "message",
                        message ? message : json_string("error"), "data", nerr);
        return err;
}

struct netd_done *netd_req_fail_node(struct netd_req *req, json_t *nerr)
{
        json_t *err = netd_rpc_error_from_nerr(nerr);
        struct netd_done *d;

        if (!err)
                return netd_req_fail_rpc(req, NETD_RPC_INTERNAL_ERROR, "Internal error", NULL);
        req->daemon->stats.errors++;
        if (!req->id) {
                json_decref(err);
                req_complete(req, NULL);
                return NETD_DONE;
        }
        d = NETD_DONE;
        req_complete(req,
                     json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", req->id, "error", err));
        return d;
}

struct netd_done *netd_req_fail_err(struct netd_req *req, enum netd_err e, const char *msg)
{
        return netd_req_fail_node(req, netd_nerr(e, msg));
}

struct netd_done *netd_req_fail_errno(struct netd_req *req, int err, const char *syscall,
                                      const char *address, int port)
{
        return netd_req_fail_node(req, netd_nerr_sys(err, syscall, address, port));
}

struct netd_done *netd_req_fail_params(struct netd_req *req, const struct netd_param_error *pe)
{
        char message[256];

        (void)snprintf(message, sizeof(message), "Invalid params: %s", pe->message);
        return netd_req_fail_rpc(req, NETD_RPC_INVALID_PARAMS, message,
                                 json_pack("{s:s,s:s}", "code", netd_err_to_string(pe->code),
                                           "field", pe->field ? pe->field : ""));
}

void netd_req_drop(struct netd_req *req, const char *why)
{
        req->daemon->stats.requests_dropped++;
        log_debug("Dropping a request of %s held by %s: %s", req->method ? req->method : "?",
                  req->held_by ? req->held_by : "nobody", why);
        json_decref(req->id);
        req->id = NULL; /* nothing to send */
        req->announces = 0;
        req_complete(req, NULL);
}

void netd_rpc_detach_conn(struct netd_owner *c)
{
        struct netd_req *req;

        while ((req = TAILQ_FIRST(&c->reqs))) {
                TAILQ_REMOVE(&c->reqs, req, link);
                req->conn = NULL;
        }
        c->n_reqs = 0;
}

static json_t *nerr_build(int err, const char *syscall, const char *address, int port, bool uv)
{
        char message[512];
        const char *name = netd_errno_name(err);
        int n;

        if (uv)
                n = snprintf(message, sizeof(message), "%s %s: %s", syscall, name,
                             netd_strerror(err));
        else
                n = snprintf(message, sizeof(message), "%s %s", syscall, name);
        if (address && !*address)
                address = NULL;
        if (address && n > 0 && (size_t)n < sizeof(message)) {
                if (port > 0)
                        (void)snprintf(message + n, sizeof(message) - n, " %s:%d", address, port);
                else
                        (void)snprintf(message + n, sizeof(message) - n, " %s", address);
        }
        json_t *o = json_pack("{s:s,s:s,s:i,s:s}", "message", message, "code", name, "errno",
                              -abs(err), "syscall", syscall);
        if (o && address)
                json_object_set_new(o, "address", json_string(address));
        if (o && address && port > 0)
                json_object_set_new(o, "port", json_integer(port));
        return o;
}

json_t *netd_nerr_sys(int err, const char *syscall, const char *address, int port)
{
        return nerr_build(err, syscall, address, port, false);
}

json_t *netd_nerr_sys_uv(int err, const char *syscall, const char *address, int port)
{
        return nerr_build(err, syscall, address, port, true);
}

static json_t *nerr_path(int err, const char *syscall, const char *path, size_t len, bool uv)
{
        char shown[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
        json_t *o;

        /* Messages are C strings: an abstract name's leading NUL reads "@". */
        if (len > 0 && path[0] == '\0')
                (void)snprintf(shown, sizeof(shown), "@%.*s", (int)(len - 1), path + 1);
        else
                (void)snprintf(shown, sizeof(shown), "%.*s", (int)len, path);
        o = nerr_build(err, syscall, shown, -1, uv);
        if (o)
                json_object_set_new(o, "address", json_stringn(path, len));
        return o;
}

json_t *netd_nerr_sys_path(int err, const char *syscall, const char *path, size_t len)
{
        return nerr_path(err, syscall, path, len, false);
}

json_t *netd_nerr_sys_path_uv(int err, const char *syscall, const char *path, size_t len)
{
        return nerr_path(err, syscall, path, len, true);
}

json_t *netd_nerr_eai(int eai, const char *host)
{
        const char *code;
        char message[300];
        int uverr;

        netd_eai_describe(eai, &code, &uverr);
        (void)snprintf(message, sizeof(message), "getaddrinfo %s %s", code, host);
        return json_pack("{s:s,s:s,s:i,s:s,s:s}", "message", message, "code", code, "errno", uverr,
                         "syscall", "getaddrinfo", "hostname", host);
}

json_t *netd_nerr_limit(const char *msg, const char *limit, uint64_t max)
{
        return json_pack("{s:s,s:s,s:s,s:I}", "message", msg, "code", "ERR_NETD_LIMIT", "limit",
                         limit, "max", (json_int_t)max);
}

json_t *netd_nerr(enum netd_err e, const char *msg)
{
        return json_pack("{s:s,s:s}", "message", msg ? msg : netd_err_message(e), "code",
                         netd_err_to_string(e));
}
