/*
 * The JSON-RPC 2.0 envelope (see rpc.h): a line is tokenized, its requests
 * read from the tokens, admitted and dispatched; requests and batches are
 * req.c's. The parse budget (jansson's allocator hooks) is the one piece of
 * module state: jansson reads only the lines the tokenizer refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "daemon.h"
#include "dispatch.h"
#include "encoding.h"
#include "handle.h"
#include "jtok.h"
#include "log.h"
#include "owner.h"
#include "params.h"
#include "req.h"
#include "rpc.h"

/* Replies to an envelope error: with the request's id when it had a usable one, else null. */
static void reply_invalid(struct netd_owner *c, struct netd_batch *batch, json_t *id, int code,
                          const char *message)
{
        struct netd_req *req = netd_req_new(c, id ? id : json_null(), batch);

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
static bool rpc_refuse_inflight(struct netd_owner *c, struct netd_req *req)
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
static void rpc_begin(struct netd_owner *c, struct netd_req *req)
{
        c->daemon->dispatching = req;
}

/*
 * After req's handler: it completed req, or handed it to a holder
 * (netd_req_hold). Anything else is a bug, logged and answered -32603.
 */
static void rpc_check_answered(struct netd_owner *c, struct netd_req *req, const char *name)
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

static void rpc_dispatch(struct netd_owner *c, struct netd_req *req,
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
static void handle_request(struct netd_owner *c, struct netd_jv m, struct netd_batch *batch)
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
        req = netd_req_new(c, idv, batch);
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
static void reply_over_budget(struct netd_owner *c)
{
        char message[160];

        c->daemon->stats.errors++;
        c->daemon->stats.parse_over_budget++;
        (void)snprintf(message, sizeof(message),
                       "Invalid Request: parsing it needs more than %zu bytes",
                       c->daemon->limits.parse_max_bytes);
        netd_owner_send(
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
static void reply_parse_error(struct netd_owner *c, const char *line, size_t len)
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
        netd_owner_send(c, netd_rpc_error_msg(NULL, NETD_RPC_PARSE_ERROR, message, NULL));
}

/* Token arrays past this many entries are given back after the line (a 1 MiB batch's). */
#define RPC_TOKENS_KEEP 4096

void netd_rpc_handle_line(struct netd_owner *c, char *line, size_t len)
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
                netd_owner_send(c, netd_rpc_error_msg(NULL, NETD_RPC_PARSE_ERROR,
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
                b = netd_batch_new();
                if (!b) {
                        log_error("conn#%llu: Failed to allocate a batch, out of memory",
                                  (unsigned long long)c->id);
                        goto out;
                }
                for (i = 0, e = 1; i < arr->size; i++, e = d->t[e].next)
                        handle_request(c, (struct netd_jv){ d, (int)e }, b);
                netd_batch_unref(b, c);
        } else {
                handle_request(c, (struct netd_jv){ d, 0 }, NULL);
        }
out:
        if (d->cap > RPC_TOKENS_KEEP)
                netd_jtok_done(d);
}
