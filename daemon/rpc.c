/*
 * The JSON-RPC 2.0 envelope (see rpc.h). It owns requests and batches:
 * a request lives from its line being parsed until its one reply is queued
 * (or it is dropped with its handle); a batch lives until its last entry
 * has completed, then sends all its replies as one array. Client-supplied
 * JSON is never echoed except the id, a scalar.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "conn.h"
#include "daemon.h"
#include "dispatch.h"
#include "encoding.h"
#include "handle.h"
#include "jtok.h"
#include "log.h"
#include "methods/methods.h"
#include "params.h"
#include "rpc.h"

/* The one value struct netd_done pointers ever take. */
static char done_token;
#define NETD_DONE ((struct netd_done *)&done_token)

struct netd_batch {
        unsigned refs;      /* one per entry still in flight, plus one while dispatching */
        json_t *replies;    /* owned: the array sent once refs drops to 0 */
        uint64_t *announce; /* owned: handle ids the replies name */
        size_t n_announce;
};

static void batch_unref(struct netd_batch *b, struct netd_conn *c)
{
        if (--b->refs > 0)
                return;
        if (c && netd_conn_is_open(c)) {
                if (json_array_size(b->replies) > 0)
                        netd_conn_send(c, json_incref(b->replies));
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

static struct netd_req *req_new(struct netd_conn *c, json_t *id, struct netd_batch *batch)
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
        struct netd_conn *c = req->conn;

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
                batch_unref(req->batch, c);
        } else if (c) {
                if (reply)
                        netd_conn_send(c, reply);
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
                netd_conn_send_result(req->conn, req->id, result);
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

void netd_rpc_detach_conn(struct netd_conn *c)
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

/* Replies to an envelope error: with the request's id when it had a usable one, else null. */
static void reply_invalid(struct netd_conn *c, struct netd_batch *batch, json_t *id, int code,
                          const char *message)
{
        struct netd_req *req = req_new(c, id ? id : json_null(), batch);

        if (!req) {
                log_error("conn#%llu: Failed to allocate a request, out of memory",
                          (unsigned long long)c->id);
                return;
        }
        (void)netd_req_fail_rpc(req, code, message, NULL);
}

/*
 * Refuses req, when it has an id, past limits.inflight_max: it is answered
 * at once with ERR_NETD_LIMIT and the connection keeps being read. Returns
 * true when it refused.
 */
static bool rpc_refuse_inflight(struct netd_conn *c, struct netd_req *req)
{
        const struct netd_limits *l = &c->daemon->limits;
        char message[160];

        if (!req->counted || c->n_reqs <= l->inflight_max)
                return false;
        c->daemon->stats.inflight_refused++;
        (void)snprintf(message, sizeof(message),
                       "%u requests of this connection are already waiting for their replies "
                       "(inflight_max)",
                       l->inflight_max);
        (void)netd_req_fail_node(
                req, netd_nerr_limit(message, "inflight_max", (uint64_t)l->inflight_max));
        return true;
}

/* Marks req as the one whose handler is about to run (see rpc_check_answered). */
static void rpc_begin(struct netd_conn *c, struct netd_req *req)
{
        c->daemon->dispatching = req;
}

/*
 * After req's handler: it completed req, or handed it to a holder
 * (netd_req_hold). Anything else is a bug, logged and answered -32603.
 */
static void rpc_check_answered(struct netd_conn *c, struct netd_req *req, const char *name)
{
        if (c->daemon->dispatching != req)
                return; /* completed */
        c->daemon->dispatching = NULL;
        if (req->held_by)
                return;
        log_error("conn#%llu: %s returned without a reply, answering -32603",
                  (unsigned long long)c->id, name);
        (void)netd_req_fail_rpc(req, NETD_RPC_INTERNAL_ERROR,
                                "Internal error: the request was not answered", NULL);
}

static void rpc_dispatch(struct netd_conn *c, struct netd_req *req,
                         const struct netd_method *method, struct netd_jv params)
{
        if (rpc_refuse_inflight(c, req))
                return;
        rpc_begin(c, req);
        (void)netd_dispatch_call(method, req, params);
        rpc_check_answered(c, req, method->name);
}

/* The id as the value replies echo, or NULL when absent (a notification). */
static json_t *id_value(struct netd_jv id)
{
        const struct netd_jtok *t = netd_jv_tok(id);

        if (!t)
                return NULL;
        switch (t->type) {
        case NETD_JTOK_STRING:
                return json_stringn(netd_jv_str(id), t->len);
        case NETD_JTOK_INTEGER:
                return json_integer(t->integer);
        case NETD_JTOK_REAL:
                return json_real(netd_jv_number(id));
        default:
                return json_null();
        }
}

static bool id_is_valid(struct netd_jv id)
{
        return netd_jv_is(id, NETD_JTOK_STRING) || netd_jv_is(id, NETD_JTOK_INTEGER) ||
               netd_jv_is(id, NETD_JTOK_REAL) || netd_jv_is(id, NETD_JTOK_NULL);
}

/* Which envelope member a key names: 'i'd, 'm'ethod, 'p'arams, 'j'sonrpc, or 0. */
static char member_kind(const struct netd_jdoc *d, int key)
{
        const char *k = d->line + d->t[key].start;

        switch (d->t[key].len) {
        case 2:
                return memcmp(k, "id", 2) == 0 ? 'i' : 0;
        case 6:
                return memcmp(k, "method", 6) == 0 ? 'm' : memcmp(k, "params", 6) == 0 ? 'p' : 0;
        case 7:
                return memcmp(k, "jsonrpc", 7) == 0 ? 'j' : 0;
        }
        return 0;
}

/* One request object of a line (alone or in a batch), read from its tokens. */
static void handle_request(struct netd_conn *c, struct netd_jv m, struct netd_batch *batch)
{
        const struct netd_method *method = NULL;
        struct netd_jv id, version, name, params;
        struct netd_req *req;
        json_t *idv;
        int key, val;
        uint32_t k;

        bool unknown = false;

        if (!netd_jv_is(m, NETD_JTOK_OBJECT)) {
                reply_invalid(c, batch, NULL, NETD_RPC_INVALID_REQUEST,
                              "Invalid Request: not an object");
                return;
        }
        /* One pass over the members (the tokenizer refused duplicates). */
        id = version = name = params = (struct netd_jv){ m.doc, -1 };
        NETD_JV_FOREACH_MEMBER(m, key, val, k) {
                switch (member_kind(m.doc, key)) {
                case 'i':
                        id.i = val;
                        break;
                case 'm':
                        name.i = val;
                        break;
                case 'p':
                        params.i = val;
                        break;
                case 'j':
                        version.i = val;
                        break;
                default:
                        unknown = true;
                }
        }
        if (id.i >= 0 && !id_is_valid(id)) {
                reply_invalid(c, batch, NULL, NETD_RPC_INVALID_REQUEST,
                              "Invalid Request: id must be a string, number or null");
                return;
        }
        idv = id_value(id);
        if (id.i >= 0 && !idv) {
                log_error("conn#%llu: Failed to read a request id, out of memory",
                          (unsigned long long)c->id);
                return;
        }
        if (unknown) {
                reply_invalid(c, batch, idv, NETD_RPC_INVALID_REQUEST,
                              "Invalid Request: unknown member");
                json_decref(idv);
                return;
        }
        if (!netd_jv_is(version, NETD_JTOK_STRING) || netd_jv_tok(version)->len != 3 ||
            memcmp(netd_jv_str(version), "2.0", 3) != 0) {
                reply_invalid(c, batch, idv, NETD_RPC_INVALID_REQUEST,
                              "Invalid Request: \"jsonrpc\" must be \"2.0\"");
                json_decref(idv);
                return;
        }
        if (!netd_jv_is(name, NETD_JTOK_STRING)) {
                reply_invalid(c, batch, idv, NETD_RPC_INVALID_REQUEST,
                              "Invalid Request: \"method\" must be a string");
                json_decref(idv);
                return;
        }
        if (params.i >= 0 && !netd_jv_is(params, NETD_JTOK_OBJECT) &&
            !netd_jv_is(params, NETD_JTOK_ARRAY)) {
                reply_invalid(c, batch, idv, NETD_RPC_INVALID_REQUEST,
                              "Invalid Request: \"params\" must be an object");
                json_decref(idv);
                return;
        }

        /* From here on, a request without an id is a notification: no reply at all. */
        req = req_new(c, idv, batch);
        json_decref(idv);
        if (!req) {
                log_error("conn#%llu: Failed to allocate a request, out of memory",
                          (unsigned long long)c->id);
                return;
        }
        c->daemon->stats.requests++;
        if (strlen(netd_jv_str(name)) == netd_jv_tok(name)->len)
                method = netd_dispatch_lookup(netd_jv_str(name));
        if (!method) {
                (void)netd_req_fail_rpc(req, NETD_RPC_METHOD_NOT_FOUND, "Method not found",
                                        json_pack("{s:s%}", "method", netd_jv_str(name),
                                                  (size_t)netd_jv_tok(name)->len));
                return;
        }
        req->method = method->name;
        if (netd_jv_is(params, NETD_JTOK_ARRAY)) {
                (void)netd_req_fail_rpc(
                        req, NETD_RPC_INVALID_PARAMS,
                        "Invalid params: params are taken by name (an object)",
                        json_pack("{s:s,s:s}", "code", "ERR_INVALID_ARG_TYPE", "field", "params"));
                return;
        }
        rpc_dispatch(c, req, method, params);
}

/*
 * The parse budget. jansson's allocator hooks take no context, so this is
 * the one piece of module state: set around json_loadb(), it caps what a
 * single request may allocate while being parsed. Frees are not subtracted
 * (buffers that grow count every step), so the cap is conservative.
 */
static struct {
        bool active;
        bool exceeded;
        size_t left;
} parse_budget;

static void *budget_malloc(size_t n)
{
        if (parse_budget.active) {
                if (n > parse_budget.left) {
                        parse_budget.exceeded = true;
                        return NULL;
                }
                parse_budget.left -= n;
        }
        return malloc(n);
}

static void budget_free(void *p)
{
        free(p);
}

void netd_rpc_init(void)
{
        json_set_alloc_funcs(budget_malloc, budget_free);
}

/* Replies -32600 for a request whose reading would pass limits.parse_max_bytes. */
static void reply_over_budget(struct netd_conn *c)
{
        char message[160];

        c->daemon->stats.errors++;
        c->daemon->stats.parse_over_budget++;
        (void)snprintf(message, sizeof(message),
                       "Invalid Request: parsing it needs more than %zu bytes",
                       c->daemon->limits.parse_max_bytes);
        netd_conn_send(
                c, netd_rpc_error_msg(NULL, NETD_RPC_INVALID_REQUEST, message,
                                      json_pack("{s:s,s:s,s:I}", "code", "ERR_NETD_LIMIT", "limit",
                                                "parse_max_bytes", "max",
                                                (json_int_t)c->daemon->limits.parse_max_bytes)));
}

/*
 * The -32700 reply for a line the tokenizer refused. Its text is jansson's
 * (the error path only: jansson reads the refused line once more, under
 * the parse budget, to say what is wrong and where).
 */
static void reply_parse_error(struct netd_conn *c, const char *line, size_t len)
{
        char message[300];
        json_error_t jerr;
        json_t *msg;

        parse_budget.active = true;
        parse_budget.exceeded = false;
        parse_budget.left = c->daemon->limits.parse_max_bytes;
        msg = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                         &jerr);
        parse_budget.active = false;
        if (parse_budget.exceeded) {
                /* jansson may return a truncated document after a failed allocation (#735). */
                json_decref(msg);
                reply_over_budget(c);
                return;
        }
        c->daemon->stats.errors++;
        if (msg) {
                /* The two readers disagree: never expected, and still one clear reply. */
                json_decref(msg);
                log_error("conn#%llu: A line jansson accepts was refused by the tokenizer",
                          (unsigned long long)c->id);
                (void)snprintf(message, sizeof(message), "Parse error: invalid JSON");
        } else {
                (void)snprintf(message, sizeof(message), "Parse error: %s at column %d", jerr.text,
                               jerr.column);
        }
        /* jansson quotes the offending input, which may not be UTF-8: keep ASCII. */
        for (char *p = message; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                        *p = '?';
        netd_conn_send(c, netd_rpc_error_msg(NULL, NETD_RPC_PARSE_ERROR, message, NULL));
}

/* Token arrays past this many entries are given back after the line (a 1 MiB batch's). */
#define RPC_TOKENS_KEEP 4096

void netd_rpc_handle_line(struct netd_conn *c, char *line, size_t len)
{
        struct netd_jdoc *d = &c->daemon->tokens;
        size_t k;
        int r;

        /* A line of JSON white space only is a blank line: tolerated, not answered. */
        for (k = 0; k < len; k++)
                if (line[k] != ' ' && line[k] != '\t' && line[k] != '\r')
                        break;
        if (k == len)
                return;
        /* A raw NUL is never valid JSON text (strings spell it \u0000). */
        if (memchr(line, '\0', len)) {
                c->daemon->stats.errors++;
                netd_conn_send(c, netd_rpc_error_msg(NULL, NETD_RPC_PARSE_ERROR,
                                                     "Parse error: NUL byte in the request line",
                                                     NULL));
                return;
        }
        r = netd_jtok_parse(d, line, len,
                            c->daemon->limits.parse_max_bytes / sizeof(struct netd_jtok));
        if (r == -EINVAL) {
                reply_parse_error(c, line, len);
                goto out;
        }
        if (r < 0) {
                reply_over_budget(c); /* -E2BIG, or -ENOMEM growing the tokens */
                goto out;
        }
        netd_jtok_finish(d);
        if (d->t[0].type == NETD_JTOK_ARRAY) {
                const struct netd_jtok *arr = &d->t[0];
                struct netd_batch *b;
                uint32_t i, e;

                if (arr->size == 0) {
                        reply_invalid(c, NULL, NULL, NETD_RPC_INVALID_REQUEST,
                                      "Invalid Request: empty batch");
                        goto out;
                }
                if (arr->size > c->daemon->limits.batch_max) {
                        char message[128];

                        (void)snprintf(message, sizeof(message),
                                       "Invalid Request: batch of more than %u entries",
                                       c->daemon->limits.batch_max);
                        reply_invalid(c, NULL, NULL, NETD_RPC_INVALID_REQUEST, message);
                        goto out;
                }
                b = calloc(1, sizeof(*b));
                if (b)
                        b->replies = json_array();
                if (!b || !b->replies) {
                        free(b);
                        log_error("conn#%llu: Failed to allocate a batch, out of memory",
                                  (unsigned long long)c->id);
                        goto out;
                }
                b->refs = 1; /* held while the entries are dispatched */
                for (i = 0, e = 1; i < arr->size; i++, e = d->t[e].next)
                        handle_request(c, (struct netd_jv){ d, (int)e }, b);
                batch_unref(b, c);
        } else {
                handle_request(c, (struct netd_jv){ d, 0 }, NULL);
        }
out:
        if (d->cap > RPC_TOKENS_KEEP)
                netd_jtok_done(d);
}
