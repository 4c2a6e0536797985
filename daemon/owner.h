/*
 * The control connection as every layer below conn.c sees it (rpc,
 * dispatch, methods, handles, sockets, servers, flow, access control): its
 * identity, the requests and handles it owns, its flow state, and the calls
 * that deliver to it. conn.c embeds one in each connection and provides the
 * calls (struct netd_owner_ops); nothing below it includes conn.h or calls
 * into it, so every dependency points down: conn → rpc → dispatch →
 * methods → daemon objects → proto.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <jansson.h>

#include "auth.h"
#include "handle.h"

struct evbuffer;
struct netd_daemon;
struct netd_owner;
struct netd_req;
struct netd_session;

TAILQ_HEAD(netd_req_list, netd_req);

struct netd_owner_ops {
        /* Queues msg (stolen) as one line; dropped when the owner is closed. */
        void (*send)(struct netd_owner *o, json_t *msg);
        /* Queues {"jsonrpc":"2.0","id":id,"result":result (stolen, NULL: null)}. */
        void (*send_result)(struct netd_owner *o, json_t *id, json_t *result);
        /* Queues the notification method with params (stolen). */
        void (*notify)(struct netd_owner *o, const char *method, json_t *params);
        /* Queues socket.data (out.h's netd_out_data()); 0 or -ENOMEM. */
        int (*send_data)(struct netd_owner *o, uint64_t socket, const uint8_t *bytes, size_t len,
                         const char *text, size_t tlen, const char *encoding);
        /* Ends the connection (its handles go on a later loop turn); reason is logged. */
        void (*close)(struct netd_owner *o, const char *reason);
        /* Takes the index-th descriptor sent with the request line being handled, or -EBADF. */
        int (*take_fd)(struct netd_owner *o, size_t index);
        /* Bytes of output queued for the client. */
        size_t (*output_length)(const struct netd_owner *o);
        /* Queues the complete lines in lines (drained), in order (netd.attach's kept events). */
        void (*send_lines)(struct netd_owner *o, struct evbuffer *lines);
};

struct netd_owner {
        const struct netd_owner_ops *ops; /* static: conn.c's */
        uint64_t id;                      /* for logs: conn#<id> */
        int fd;                           /* the control socket (conn.c owns it); -1 once closed */
        struct netd_daemon *daemon;       /* borrowed */
        uid_t uid;                        /* = cred.uid, for logs */
        pid_t pid;                        /* = cred.pid, for logs */
        struct netd_cred cred;            /* owned: the peer's credentials (auth.h) */
        bool open;                        /* takes more output (not closing) */
        bool sockets_paused;              /* its output is over out_high_bytes (conn.c) */
        bool accept_paused;               /* its servers stop accepting (a session's budget) */
        bool is_session;                  /* a lingering session's owner (session.c), no client */
        struct netd_session *session;     /* owned by the daemon: the session it carries, or NULL */
        struct netd_req_list reqs;        /* weak: requests in flight, cleared on close */
        unsigned n_reqs;                  /* of them, requests with an id (inflight_max) */
        struct netd_handle_list handles;  /* owned: live handles */
        struct netd_handle_list closed;   /* owned: closed handles kept readable */
        unsigned n_handles;
        unsigned n_closed;
        size_t queued_bytes;          /* unsent bytes of its sockets (flow.c writes it) */
        TAILQ_ENTRY(netd_owner) link; /* in daemon->conns (a session's: daemon->sessions) */
};

TAILQ_HEAD(netd_owner_list, netd_owner);

static inline void netd_owner_send(struct netd_owner *o, json_t *msg)
{
        o->ops->send(o, msg);
}

static inline void netd_owner_send_result(struct netd_owner *o, json_t *id, json_t *result)
{
        o->ops->send_result(o, id, result);
}

static inline void netd_owner_notify(struct netd_owner *o, const char *method, json_t *params)
{
        o->ops->notify(o, method, params);
}

static inline int netd_owner_send_data(struct netd_owner *o, uint64_t socket, const uint8_t *bytes,
                                       size_t len, const char *text, size_t tlen,
                                       const char *encoding)
{
        return o->ops->send_data(o, socket, bytes, len, text, tlen, encoding);
}

static inline void netd_owner_close(struct netd_owner *o, const char *reason)
{
        o->ops->close(o, reason);
}

static inline int netd_owner_take_fd(struct netd_owner *o, size_t index)
{
        return o->ops->take_fd(o, index);
}

static inline size_t netd_owner_output_length(const struct netd_owner *o)
{
        return o->ops->output_length(o);
}

static inline void netd_owner_send_lines(struct netd_owner *o, struct evbuffer *lines)
{
        o->ops->send_lines(o, lines);
}

static inline bool netd_owner_is_open(const struct netd_owner *o)
{
        return o->open;
}
