/*
 * A stream socket handle (TCP for now): connecting (with an asynchronous
 * lookup for host names), reading into the daemon's large scratch buffer
 * and writing from an evbuffer queue, half-close, destroy. It emits Node's
 * events in Node's order through its handle; 'close' is always last, once,
 * emitted from a deferred callback so the reply to the request that caused
 * it goes out first.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>

#include "addr.h"
#include "encoding.h"
#include "handle.h"

struct event;
struct evbuffer;
struct evutil_addrinfo;
struct netd_pump;
struct netd_req;
struct netd_resolve;

enum netd_socket_state {
        NETD_SOCKET_NEW,        /* created, not connected (net.Socket) */
        NETD_SOCKET_LOOKUP,     /* resolving the host name */
        NETD_SOCKET_CONNECTING, /* connect() in progress */
        NETD_SOCKET_OPEN,       /* connected */
        NETD_SOCKET_CLOSED,     /* fd closed; properties kept */
        _NETD_SOCKET_STATE_MAX,
        _NETD_SOCKET_STATE_INVALID = -22,
};

/* A socket.write or socket.end waiting for its bytes to reach the kernel. */
struct netd_write {
        struct netd_req *req; /* owned until completed */
        uint64_t end;         /* complete once this many bytes were written */
        bool is_end;          /* complete once the FIN was sent */
        TAILQ_ENTRY(netd_write) link;
};

TAILQ_HEAD(netd_write_list, netd_write);

/* The TCP options of socket.connect(options) beyond port and host. */
struct netd_connect_opts {
        int family; /* 0, 4 or 6: 4/6 restrict the lookup and disable autoSelectFamily */
        int hints;  /* EVUTIL_AI_* flags for the lookup */
        char local_address[64]; /* "" when not set; set disables autoSelectFamily */
        int local_port;         /* 0 when not set */
        bool auto_select_family;
        int64_t attempt_timeout_ms; /* per attempt, happy eyeballs (>= 10) */
};

#define NETD_ATTEMPT_TIMEOUT_MS_DEFAULT 500 /* Node's autoSelectFamilyAttemptTimeout */

struct netd_socket {
        struct netd_handle h; /* first: a netd_handle * is a netd_socket * */
        enum netd_socket_state state;
        int fd;                   /* owned; -1 when none */
        struct event *ev_read;    /* owned */
        struct event *ev_write;   /* owned, made on first use: writability, connect completion */
        struct event *ev_timeout; /* owned, made on first use: socket.setTimeout's idle timer */
        int64_t timeout_ms;       /* 0: no idle timeout */
        struct evbuffer *wbuf;    /* owned, made by the first write: bytes queued for the peer */
        size_t counted;           /* of them, what flow.c has counted */
        struct netd_write_list writes; /* owned */
        uint64_t queued;               /* bytes ever queued (Node's bytesWritten) */
        uint64_t flushed;              /* bytes handed to the kernel */
        uint64_t bytes_read;
        uint64_t server;        /* id of the server that accepted it, 0 if none */
        struct netd_addr local; /* cached: kept after close */
        struct netd_addr remote;
        char *host; /* owned: the host being connected to */
        char *path; /* owned: the IPC path connected to (may start with NUL), or NULL */
        size_t path_len;
        int port;
        struct netd_resolve *lookup;   /* owned: the lookup in flight */
        struct evutil_addrinfo *addrs; /* owned: lookup results */
        struct evutil_addrinfo *next_addr;
        unsigned attempts_left;   /* addresses still to try */
        struct event *ev_attempt; /* owned, made on first use: the happy-eyeballs attempt timer */
        json_t *attempt_errors;   /* owned: the error of each failed attempt */
        json_t *attempted;        /* owned: "ip:port" of each attempt, when several ran */
        struct netd_connect_opts copt;
        json_t *error; /* owned: the error to emit before close */
        size_t high_water_mark;
        int encoding; /* -1: none (data travels as base64), else enum netd_encoding */
        struct netd_strdec dec;
        bool opt_no_delay;   /* TCP_NODELAY, applied once connected */
        bool opt_keep_alive; /* SO_KEEPALIVE, applied once connected */
        int64_t opt_keep_alive_delay_ms;
        int64_t opt_keep_alive_interval_ms; /* TCP_KEEPINTVL; Node's default 1000 */
        int64_t opt_keep_alive_count;       /* TCP_KEEPCNT; Node's default 10 */
        bool allow_half_open;
        bool user_paused;
        bool read_eof;      /* peer's FIN seen, 'end' emitted */
        bool end_requested; /* our side is ending: FIN once the queue is written */
        bool fin_sent;
        bool need_drain;
        bool had_error;
        bool ever_connected;
        bool reset_on_connect; /* resetAndDestroy while connecting */
        bool ipc;              /* a UNIX-domain socket */
        bool unref; /* socket.unref: reported by socket.get only, netd has no loop to keep */
        /*
         * socket.attach: the peer's bytes go to and come from the client's
         * end of a socketpair, moved by two pumps (pump.h), not socket.data.
         */
        bool attached;
        int pair;                 /* owned: netd's end of the socketpair; -1 */
        struct netd_pump *att_rx; /* owned: fd -> pair; NULL once finished */
        struct netd_pump *att_tx; /* owned: pair -> fd, held while wbuf has bytes */
        /* socket.pipe: a pump from pipe_src's fd into ours, owned by the destination. */
        struct netd_pump *pipe_in;    /* owned: NULL when nothing pipes into this socket */
        struct netd_socket *pipe_src; /* weak: cleared by unpipe or the source's close */
        struct netd_socket *pipe_dst; /* weak: the socket this one pipes into; cleared likewise */
        bool pipe_end;                /* our EOF ends pipe_dst (socket.pipe {end}) */
        unsigned fds_taken; /* descriptors of the daemon's budget held for pair and pipes */
};

/* Creates an unconnected socket owned by owner. Returns 0, -EMFILE or -ENOMEM. */
int netd_socket_new(struct netd_daemon *d, struct netd_owner *owner, struct netd_socket **ret);

/*
 * Starts connecting to host (an IP literal, or a name resolved without
 * blocking) and port. Failures arrive as 'error' and 'close' events.
 * Returns 0, or -EBUSY when the socket isn't in the NEW state.
 */
int netd_socket_connect(struct netd_socket *s, const char *host, int port,
                        const struct netd_connect_opts *opts);

/* Default connect options: autoSelectFamily on, 250 ms per attempt. */
void netd_connect_opts_init(struct netd_connect_opts *o);

struct netd_ipc_addr;

/*
 * Starts connecting to a UNIX-domain address (socket.connect {path}); takes
 * the resolved path from addr. Failures arrive as 'error' and 'close'.
 * Returns 0, or -EBUSY when the socket isn't in the NEW state.
 */
int netd_socket_connect_path(struct netd_socket *s, struct netd_ipc_addr *addr);

/* Takes ownership of an accepted, connected fd; the socket starts OPEN. */
int netd_socket_adopt(struct netd_socket *s, int fd, uint64_t server_id);

struct netd_flow_refusal;

/*
 * Queues len bytes for the peer, taking data, a malloc()ed buffer: a large
 * one joins the socket's queue as it is (no copy) and is freed once
 * written; a small one is copied (small writes coalesce) and freed; on an
 * error it is freed at once. req (may be NULL) is completed once the bytes
 * reach the kernel, or with the error (ERR_STREAM_DESTROYED,
 * ERR_STREAM_WRITE_AFTER_END, EPIPE). Returns 0, or -ENOBUFS when a byte
 * limit refuses the write (flow.h): then nothing was queued or completed,
 * data is freed, and *ret_refusal names the limit for the caller to answer.
 */
int netd_socket_write(struct netd_socket *s, uint8_t *data, size_t len, struct netd_req *req,
                      struct netd_flow_refusal *ret_refusal);

/* Half-closes: the FIN follows the queued bytes. req completes when it is sent. */
void netd_socket_end(struct netd_socket *s, struct netd_req *req);

/* Closes at once; err (stolen, may be NULL) is emitted as 'error' before 'close'. */
void netd_socket_destroy(struct netd_socket *s, json_t *err);

/*
 * Closes with a TCP RST (SO_LINGER 0): the peer sees ECONNRESET. A socket
 * still connecting is reset once connected, as in Node. Returns 0, or
 * -ENOTCONN when the socket has no connection to reset (no handle in Node's
 * terms: the caller reports ERR_SOCKET_CLOSED), -EPROTOTYPE for a UNIX
 * socket (Node throws ERR_INVALID_HANDLE_TYPE).
 */
int netd_socket_reset(struct netd_socket *s);

/*
 * Sets the idle timeout (0 disables it): socket.timeout after ms without
 * I/O. Returns 0, or -ENOMEM (its timer is made on first use).
 */
int netd_socket_set_timeout(struct netd_socket *s, int64_t ms);

/*
 * Makes a closed socket connectable again (socket.connect after 'close'):
 * counters, addresses, flags and the error are reset, the handle keeps its id.
 * Returns 0 or -EBUSY when the socket is not closed.
 */
int netd_socket_reopen(struct netd_socket *s);

/* Applies opt_no_delay and opt_keep_alive* to the fd, when there is one. */
void netd_socket_apply_options(struct netd_socket *s);

/*
 * One step of the daemon's stop (SIGTERM) for s: the socket ends (FIN after
 * its queue), and once the FIN is out and the peer has acknowledged every
 * byte (SIOCOUTQ 0; a UNIX socket needs no acknowledgement), it closes
 * normally ('close' to its owner), never with an RST that would lose them.
 * A socket still connecting with nothing queued closes at once. Returns
 * true once s is closed; *ret_unsent (add to it) counts what is not out yet.
 */
bool netd_socket_stop_step(struct netd_socket *s, uint64_t *ret_unsent);

/*
 * socket.attach: makes the socketpair and returns the client's end in
 * *ret_fd (the caller sends it with the reply line, then it is the
 * client's). From now on the peer's bytes go to that descriptor, and what
 * the client writes to it goes to the peer after the bytes already queued
 * by socket.write. A socket not connected yet starts moving bytes once
 * connected. Returns 0, -ESHUTDOWN when the socket is closed, -EISCONN when
 * it is attached already, -EBUSY when it is part of a socket.pipe, or
 * -EMFILE/-ENFILE/-ENOMEM.
 */
int netd_socket_attach(struct netd_socket *s, int *ret_fd);

/*
 * socket.pipe: moves every byte src receives to dst in the kernel (pump.h)
 * after what dst has queued; with end, src's EOF ends dst. Returns 0,
 * -ESHUTDOWN when either is closed, -ENOTCONN when either never started
 * connecting (one still connecting is fine: the pump starts once both are),
 * -EISCONN when either is attached, -EBUSY when src pipes already or dst
 * has a source already, -EPIPE when dst has ended, -EINVAL when src is dst,
 * or -EMFILE/-ENOMEM.
 */
int netd_socket_pipe(struct netd_socket *src, struct netd_socket *dst, bool end);

/*
 * socket.unpipe: src stops piping (its bytes go back to socket.data); the
 * bytes already taken still reach the destination. Nothing when src pipes
 * nowhere.
 */
void netd_socket_unpipe(struct netd_socket *src);

/* Starts or stops reading per the socket's and its owner's flow state. */
void netd_socket_update_reading(struct netd_socket *s);

struct netd_daemon;

/*
 * Upgrade (upgrade.c): a socket under its old id, on owner's live or closed
 * list, owning fd (-1: none) with its read event made. The caller fills in
 * the fields, then calls netd_socket_upgrade_resume(). Returns 0, -EEXIST or -ENOMEM
 * (fd is closed then).
 */
int netd_socket_upgrade_restore(struct netd_daemon *d, struct netd_owner *owner, uint64_t id,
                                bool closed, int fd, struct netd_socket **ret);

/*
 * Starts a restored socket's I/O: flow accounting of its queue, a fresh idle
 * timer, reading per its flow state, writing what is queued, or waiting for
 * the completion of its connect.
 */
void netd_socket_upgrade_resume(struct netd_socket *s);

/* The pumps a socket owns (attach: rx peer -> pair, tx pair -> peer; socket.pipe into it). */
enum netd_socket_pump {
        NETD_SOCKET_PUMP_RX,
        NETD_SOCKET_PUMP_TX,
        NETD_SOCKET_PUMP_PIPE_IN,
};

/*
 * Upgrade (upgrade.c): rebuilds one of s's pumps from state (see
 * netd_pump_upgrade_restore()) between s's descriptors (s->fd, s->pair), or
 * for PIPE_IN from src's (src NULL or state->src -1: the source was
 * unpiped, the pump only drains), linking src and s. 0 or -ENOMEM.
 */
int netd_socket_upgrade_pump(struct netd_socket *s, enum netd_socket_pump which,
                             const struct netd_pump *state, struct netd_socket *src);

/* Node's readyState: "opening", "open", "readOnly", "writeOnly" or "closed". */
const char *netd_socket_ready_state(const struct netd_socket *s);
