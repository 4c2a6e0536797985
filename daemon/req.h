/*
 * Requests and their replies: the struct netd_req a handler (or the object
 * it hands the request to) completes, the batches replies gather in, and
 * the Node-shaped error builders. Below rpc.c, methods and the daemon
 * objects complete requests here, and replies go out through the owner
 * interface (owner.h): no call goes up. Every request gets exactly one reply
 * unless it is a notification; the struct netd_done type, produced only by
 * the netd_req_*() completers, makes a handler that forgets to reply fail to
 * compile.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>

#include "errors.h"

struct netd_batch;
struct netd_owner;
struct netd_daemon;
struct netd_param_error;

/* Opaque proof that a handler replied or took responsibility for replying. */
struct netd_done;

struct netd_req {
        struct netd_daemon *daemon; /* borrowed */
        struct netd_owner *conn;    /* weak: cleared when the conn closes */
        json_t *id;                 /* owned; NULL for a notification */
        const char *method;         /* static: the dispatch table's name */
        struct netd_batch *batch;   /* shared; NULL outside a batch */
        uint64_t announces;         /* a handle the result names, announced with it */
        const char *held_by;        /* static: what completes it later (netd_req_hold) */
        bool counted;               /* has an id: takes one of conn->n_reqs (inflightMax) */
        TAILQ_ENTRY(netd_req) link; /* in conn->reqs */
};

/*
 * Not warn_unused_result: gcc ignores a (void) cast on it, and completions
 * also run from event callbacks where no netd_done is wanted. A handler's
 * return type alone makes forgetting the reply a compile error.
 */
#define NETD_DONE_MUST_USE

/* Replies with result (stolen) and frees req. */
NETD_DONE_MUST_USE struct netd_done *netd_req_ok(struct netd_req *req, json_t *result);

/*
 * Replies with result (stolen) on a line that carries fd (taken) in
 * SCM_RIGHTS, and frees req. Only for a request with an id outside a batch
 * (the handler checks: netd_req_can_send_fd()); otherwise fd is closed and
 * the reply goes without it.
 */
NETD_DONE_MUST_USE struct netd_done *netd_req_ok_fd(struct netd_req *req, json_t *result, int fd);

/* True when req's reply can carry a descriptor: it has an id and is not part of a batch. */
bool netd_req_can_send_fd(const struct netd_req *req);

/* Replies true (methods Node gives no value) and frees req. */
NETD_DONE_MUST_USE struct netd_done *netd_req_ok_true(struct netd_req *req);

/*
 * Records who keeps req and will complete it later with another netd_req_*()
 * call ("socket write queue", "server listen"...). Every place that stores a
 * request calls it before the handler returns: after dispatch, a request that
 * is neither completed nor held is a bug, logged and answered -32603, so no
 * request can be left without its reply (Core Lightning's
 * command_still_pending()).
 */
void netd_req_hold(struct netd_req *req, const char *by);

/*
 * The handler's return once it has handed req on (netd_req_hold()). It does
 * not touch req: the holder may have completed it already.
 */
NETD_DONE_MUST_USE struct netd_done *netd_req_pending(struct netd_req *req);

/*
 * Replies with a Node-shaped error object nerr (stolen, see netd_nerr_*):
 * code -32001 when nerr's code is an ERR_* name, -32000 otherwise; the
 * message moves to error.message, the rest becomes error.data.
 */
NETD_DONE_MUST_USE struct netd_done *netd_req_fail_node(struct netd_req *req, json_t *nerr);

/* Replies with a netd_err; msg NULL takes the default message. */
NETD_DONE_MUST_USE struct netd_done *netd_req_fail_err(struct netd_req *req, enum netd_err e,
                                                       const char *msg);

/* Replies with a system error (-errno), as netd_nerr_sys() shapes it. */
NETD_DONE_MUST_USE struct netd_done *netd_req_fail_errno(struct netd_req *req, int err,
                                                         const char *syscall, const char *address,
                                                         int port);

/* Replies -32602 with data {code, field} from a params parse failure. */
NETD_DONE_MUST_USE struct netd_done *netd_req_fail_params(struct netd_req *req,
                                                          const struct netd_param_error *pe);

/* Replies with a bare JSON-RPC error; data (stolen) may be NULL. */
NETD_DONE_MUST_USE struct netd_done *netd_req_fail_rpc(struct netd_req *req, int code,
                                                       const char *message, json_t *data);

/*
 * Frees a held request without replying: only when nobody can be answered
 * (its connection is gone, the daemon stops). why is logged at debug level
 * and the drop counted (stats.requestsDropped).
 */
void netd_req_drop(struct netd_req *req, const char *why);

/*
 * Node error objects, as events carry them and as error replies are built:
 * {"message":"connect ECONNREFUSED 127.0.0.1:9","code":"ECONNREFUSED",
 *  "errno":-111,"syscall":"connect","address":"127.0.0.1","port":9}.
 * address may be NULL and port < 0 (both left out). netd_nerr_sys_uv() adds
 * libuv's text after the code, as Node does for listen errors.
 */
json_t *netd_nerr_sys(int err, const char *syscall, const char *address, int port);
json_t *netd_nerr_sys_uv(int err, const char *syscall, const char *address, int port);
json_t *netd_nerr(enum netd_err e, const char *msg);

/*
 * A refusal by a limit: {"message":msg,"code":"ERR_NETD_LIMIT","limit":limit,
 * "max":max}, limit being the name PROTOCOL.md §13 gives it (snake_case).
 */
json_t *netd_nerr_limit(const char *msg, const char *limit, uint64_t max);

/*
 * A failed lookup of host as Node reports it (DNSException): "getaddrinfo
 * ENOTFOUND host", the resolver code, libuv's number, syscall, hostname.
 */
json_t *netd_nerr_eai(int eai, const char *host);

/*
 * The same for an IPC path of len bytes (it may start with NUL: an abstract
 * name, shown with a leading "@" in the message, kept exact in "address").
 * No port. netd_nerr_sys_path_uv() adds libuv's text, as for listen.
 */
json_t *netd_nerr_sys_path(int err, const char *syscall, const char *path, size_t len);
json_t *netd_nerr_sys_path_uv(int err, const char *syscall, const char *path, size_t len);

/*
 * Turns a Node error object (stolen) into the JSON-RPC error shape that
 * replies and error events share: {"code":-32000|-32001,"message":…,
 * "data":{"code":…,"errno":…,…}}. -32001 when the code is an ERR_* name.
 */
json_t *netd_rpc_error_from_nerr(json_t *nerr);

/* Builds {"jsonrpc":"2.0","id":null,"error":{code,message}} for framing errors. */
json_t *netd_rpc_error_msg(json_t *id, int code, const char *message, json_t *data);

/*
 * A request from c (id: NULL for a notification), in batch b (NULL: none);
 * NULL on allocation failure. Used by rpc.c for every request it reads.
 */
struct netd_req *netd_req_new(struct netd_owner *c, json_t *id, struct netd_batch *b);

/* A batch held once by its maker (netd_batch_unref() when all entries are dispatched). */
struct netd_batch *netd_batch_new(void);

/* Drops a hold on b; the last one sends its replies as one array to c (if open). */
void netd_batch_unref(struct netd_batch *b, struct netd_owner *c);

/* Detaches every request of c (their conn pointer becomes NULL). */
void netd_rpc_detach_conn(struct netd_owner *c);
