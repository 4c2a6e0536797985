/*
 * One control connection: a client of the JSON-RPC protocol. It owns its
 * socket, its input framer, its output queue, the requests it has in flight
 * and the handles it created. All output goes through netd_conn_send*().
 * Closing is idempotent and deferred: the memory is freed from a later event,
 * never inside the callback that decided to close.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <jansson.h>

#include "auth.h"
#include "frame.h"
#include "handle.h"
#include "out.h"
#include "owner.h"

struct event;
struct evbuffer;
struct netd_daemon;
struct netd_req;

/* File descriptors one request line may carry (SCM_RIGHTS), as listen {handle:{fd:N}}. */
#define NETD_CONN_FDS_PER_LINE 16

/* Descriptors that arrived with the stream byte at pos. */
struct netd_conn_fds {
        uint64_t pos;
        int fd;
};

enum netd_conn_state {
        NETD_CONN_OPEN,     /* reading requests, writing replies */
        NETD_CONN_DRAINING, /* no more input: flushing a final error, then closing */
        NETD_CONN_CLOSED,   /* waiting for the deferred free */
        _NETD_CONN_STATE_MAX,
        _NETD_CONN_STATE_INVALID = -22,
};

struct netd_conn {
        struct netd_owner o; /* first: what the layers below see (owner.h); o.fd is owned */
        enum netd_conn_state state;
        struct event *ev_read;  /* owned */
        struct event *ev_write; /* owned */
        struct event *ev_more;  /* owned: resumes input processing (fairness) */
        struct event *ev_free;  /* owned: deferred free */
        struct netd_frame in;
        struct evbuffer *out;        /* owned */
        struct netd_out_fds out_fds; /* owned: descriptors going out with lines of out */
        uint64_t peer_ino;       /* the client's socket (unixdiag.h), once a session is carried */
        bool sent_unavailable;   /* following what the client reads failed: not tried again */
        bool client_reset;       /* the client closed with output unread (ECONNRESET) */
        struct event *ev_stall;  /* owned: cuts a client over out_hard_bytes that stopped reading */
        struct event *ev_closed; /* owned: timer: a client gone while input is held */
        bool input_held;         /* a limit stopped reading and handling requests */
        bool read_eof;           /* the client shut down its sending side */
        bool input_stopped;      /* the daemon is stopping: no more requests are read */
        bool listed;             /* in daemon->conns (until the free) */
        bool flush_soon;         /* inside a read callback that flushes when it ends */
        uint64_t in_pos;         /* bytes received so far on the stream */
        size_t read_size;        /* bytes asked of the next read (grows with bulk input) */
        struct netd_conn_fds *fds; /* owned: received fds not yet given to a line */
        size_t n_fds;
        int line_fds[NETD_CONN_FDS_PER_LINE]; /* owned: the fds of the line being handled */
        size_t n_line_fds;
};

/* The connection an owner is (every owner is a connection's first member). */
static inline struct netd_conn *netd_conn_of(struct netd_owner *o)
{
        return (struct netd_conn *)o;
}

const char *netd_conn_state_to_string(enum netd_conn_state s);

/* Takes ownership of fd (an accepted control socket) and starts reading. */
int netd_conn_new(struct netd_daemon *d, int fd, struct netd_conn **ret);

/*
 * Closes the connection now: stops its I/O, detaches its requests and
 * schedules the free, which destroys its handles on a later loop turn (so
 * this is safe inside any handle's callback). reason (may be NULL) is logged.
 */
void netd_conn_close(struct netd_conn *c, const char *reason);

/*
 * The daemon is stopping: reads and handles no more requests, but keeps
 * writing replies and events (the last socket.data, socket.close) until
 * netd_conn_close_after_flush().
 */
void netd_conn_stop_input(struct netd_conn *c);

/* Stops reading and closes once the queued output has been written. */
void netd_conn_close_after_flush(struct netd_conn *c);

/* Queues msg (stolen) as one compact line. Dropped when the conn is closed. */
void netd_conn_send(struct netd_conn *c, json_t *msg);

/* Queues the reply {"jsonrpc":"2.0","id":id,"result":result} (result stolen, NULL: null). */
void netd_conn_send_result(struct netd_conn *c, json_t *id, json_t *result);

/* Queues a notification {"jsonrpc":"2.0","method":method,"params":params (stolen)}. */
void netd_conn_notify(struct netd_conn *c, const char *method, json_t *params);

/*
 * As netd_conn_send_result() and netd_conn_notify(), the line carrying fd
 * (taken: closed once sent, or at once when the line can't be queued) in
 * SCM_RIGHTS with its first byte. Returns 0, -EPIPE when c is closed, or
 * -ENOMEM.
 */
int netd_conn_send_result_fd(struct netd_conn *c, json_t *id, json_t *result, int fd);
int netd_conn_notify_fd(struct netd_conn *c, const char *method, json_t *params, int fd);

/*
 * Queues socket.data for socket (see netd_out_data()). Returns 0 (also when
 * the connection is closing: nothing is sent), or -ENOMEM.
 */
int netd_conn_send_data(struct netd_conn *c, uint64_t socket, const uint8_t *bytes, size_t len,
                        const char *text, size_t tlen, const char *encoding);

/*
 * Takes the index-th descriptor attached to the request line being handled
 * (SCM_RIGHTS on the bytes of that line). Returns the fd, now the caller's,
 * or -EBADF when there is none at that index or it was taken already.
 */
int netd_conn_take_fd(struct netd_conn *c, size_t index);

/* Bytes of output queued for the client and not yet written. */
size_t netd_conn_output_length(const struct netd_conn *c);

/* True when c can take more output (not closing). */
bool netd_conn_is_open(const struct netd_conn *c);

/*
 * Upgrade (upgrade.c): a connection on fd, a control socket kept across the
 * re-exec, under its old id, its credentials read again (SO_PEERCRED), not
 * reading yet. The caller fills its input, output and fds, then calls
 * netd_conn_upgrade_resume(). Returns 0 or -ENOMEM (fd closed).
 */
int netd_conn_upgrade_restore(struct netd_daemon *d, int fd, uint64_t id, struct netd_conn **ret);

/* Appends a received descriptor (SCM_RIGHTS) for the stream byte at pos. */
int netd_conn_upgrade_restore_fd(struct netd_conn *c, uint64_t pos, int fd);

/*
 * Starts a restored connection: writes its queued output, applies the flow
 * state it implies, reads again and handles the lines it buffered; or, when
 * draining, only writes and then closes.
 */
void netd_conn_upgrade_resume(struct netd_conn *c, bool draining);

/* Frees a connection directly; only for daemon shutdown. NULL-safe; returns NULL. */
struct netd_conn *netd_conn_free(struct netd_conn *c);
