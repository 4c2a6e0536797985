/*
 * The handle registry: every server and socket has a positive id, never
 * reused during the daemon's life, and an owner connection. The registry
 * maps ids to handles; the owner's lists own the memory. After its close
 * event a handle stays registered (its properties readable) until its owner
 * goes away or it is among the oldest beyond limits.closed_keep.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>

struct netd_owner;
struct netd_daemon;

enum netd_handle_type {
        NETD_HANDLE_SERVER,
        NETD_HANDLE_SOCKET,
        _NETD_HANDLE_TYPE_MAX,
        _NETD_HANDLE_TYPE_INVALID = -22,
};

struct netd_handle;

/*
 * One lifecycle for every handle (libuv's uv_close): close requested (the
 * object stops its I/O at once and calls netd_handle_close_later()), then,
 * on a later loop turn, ops->closed emits its close event(s) and calls
 * netd_handle_finish(); the memory goes with netd_handle_free(), when the
 * owner goes or past closed_keep.
 */
struct netd_handle_ops {
        /* Stops all I/O at once, emits nothing: the owner is gone or the daemon stops. */
        void (*abandon)(struct netd_handle *h);
        /* The deferred half of a close: emit the close event(s), then netd_handle_finish(). */
        void (*closed)(struct netd_handle *h);
        /* Frees the object; called once, after abandon or after the close event. */
        void (*free)(struct netd_handle *h);
};

struct netd_handle {
        uint64_t id;
        enum netd_handle_type type;
        const struct netd_handle_ops *ops;
        struct netd_daemon *daemon; /* borrowed */
        struct netd_owner *owner;   /* weak: cleared when the owner closes */
        struct netd_handle *hash_next;
        TAILQ_ENTRY(netd_handle) owner_link; /* in owner->handles or owner->closed */
        TAILQ_ENTRY(netd_handle) close_link; /* in daemon->closing while close_pending */
        bool close_pending;                  /* ops->closed is queued */
        json_t *held;   /* owned: events queued until the handle is announced */
        bool announced; /* a reply or event naming it has been sent */
        bool closed;    /* its close event was emitted */
};

TAILQ_HEAD(netd_handle_list, netd_handle);

const char *netd_handle_type_to_string(enum netd_handle_type t);

/*
 * Registers h (embedded at the start of a server or socket) under a new id
 * and puts it on owner's live list. Returns 0, -EMFILE when the owner holds
 * limits.handles_per_conn live handles, -EDQUOT when its uid holds its
 * handlesPerUid quota (auth.h), or -ENOMEM.
 */
int netd_handle_register(struct netd_handle *h, struct netd_daemon *d, struct netd_owner *owner,
                         enum netd_handle_type type, const struct netd_handle_ops *ops);

/*
 * netd_handle_register() under a given id instead of a new one: a handle
 * rebuilt after a restart keeps the id its client knows (systemd's fd
 * store, notify.h). Ids handed out later skip it. Returns the same, or
 * -EEXIST when a handle has that id, -EINVAL for id 0.
 */
int netd_handle_register_id(struct netd_handle *h, struct netd_daemon *d, struct netd_owner *owner,
                            enum netd_handle_type type, const struct netd_handle_ops *ops,
                            uint64_t id);

/* The handle with that id, or NULL. */
struct netd_handle *netd_handle_lookup(struct netd_daemon *d, uint64_t id);

/*
 * Sends the event "<method>" with params (stolen) to the owner, or holds it
 * until the handle is announced. Without an owner the event is dropped: the
 * handle is being abandoned.
 */
void netd_handle_emit(struct netd_handle *h, const char *method, json_t *params);

/* Marks h announced and sends the events held so far, in order. */
void netd_handle_announce(struct netd_handle *h);

/*
 * Records that h emitted its close event: it moves to the owner's closed
 * list, and the oldest closed handles beyond limits.closed_keep are freed.
 */
void netd_handle_finish(struct netd_handle *h);

/*
 * Moves a closed handle back to its owner's live list (a socket connected
 * again after its close). Returns 0, -EMFILE at limits.handles_per_conn, or
 * -EDQUOT at the uid's handlesPerUid.
 */
int netd_handle_reopen(struct netd_handle *h);

/* Queues h's ops->closed for a later loop turn (once; FIFO across handles). */
void netd_handle_close_later(struct netd_handle *h);

/* Runs the queued ops->closed callbacks (the daemon's ev_closing). */
void netd_handle_run_closes(struct netd_daemon *d);

/* Abandons and frees every handle owner holds, live or closed. */
void netd_handle_release_all(struct netd_owner *owner);

/*
 * Upgrade (upgrade.c): registers h under the id it had before the re-exec,
 * on owner's live list (counted for its uid, no limit applied: the state was
 * valid when saved) or, when closed, on its closed list. Announced. Returns
 * 0, -EEXIST when the id is 0 or taken, or -ENOMEM.
 */
int netd_handle_upgrade_restore(struct netd_handle *h, struct netd_daemon *d,
                                struct netd_owner *owner, enum netd_handle_type type,
                                const struct netd_handle_ops *ops, uint64_t id, bool closed);

/* Unregisters and frees h (used by the functions above and on daemon exit). */
void netd_handle_free(struct netd_handle *h);
