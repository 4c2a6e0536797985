/*
 * A pump moves a byte stream from one descriptor to another without the
 * bytes entering netd's memory: splice(2) from src into a kernel pipe, then
 * from the pipe into dst (zero copy where the kernel allows), or, when a
 * descriptor refuses splice (EINVAL), read(2)/write(2) through one buffer of
 * NETD_PUMP_COPY_BYTES. It is what socket.attach (peer <-> socketpair) and
 * socket.pipe (socket -> socket) are made of.
 *
 * Backpressure is the kernel's: while dst is full the pump tops its pipe up
 * from src, then stops reading src (EV_READ off) until dst drains (it waits
 * for EV_WRITE on dst), so at most one pipe's worth of bytes
 * (NETD_PUMP_PIPE_BYTES, or the kernel's default when it refuses that size)
 * is ever in flight per pump.
 *
 * The pump knows nothing of sockets: it reports to its owner through one
 * callback (the events below), always from the event loop (never from inside
 * netd_pump_*() calls), and the owner may free the pump inside it.
 *
 * State, for whoever serializes a pump (in-place upgrade): the two borrowed
 * descriptors src and dst, the owned pipe (pipe_r, pipe_w) holding `fill`
 * bytes (those bytes stay in the kernel pipe: pass the pipe's two
 * descriptors on and restore `fill`), or in copy mode the `len - off` bytes
 * of `buf` from `off`; the flags copy, src_eof, paused, held, done, and src_err.
 * The events and the callback are runtime only (made again by the owner).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct event_base;
struct netd_pump;

/* The kernel pipe's size asked for (F_SETPIPE_SZ); the kernel may give less. */
#define NETD_PUMP_PIPE_BYTES (1024 * 1024)

/* The buffer of copy mode (a descriptor that refuses splice). */
#define NETD_PUMP_COPY_BYTES (256 * 1024)

/* Bytes one callback moves before yielding to other events (fairness). */
#define NETD_PUMP_BUDGET_BYTES (4 * 1024 * 1024)

enum netd_pump_event {
        NETD_PUMP_READ,      /* n bytes were taken from src */
        NETD_PUMP_WROTE,     /* n bytes were written to dst */
        NETD_PUMP_EOF,       /* src hit EOF and every byte is at dst: the pump is finished */
        NETD_PUMP_DRAINED,   /* src was detached and every byte is at dst: finished */
        NETD_PUMP_SRC_ERROR, /* reading src failed with errno n: the pump stopped */
        NETD_PUMP_DST_ERROR, /* writing dst failed with errno n: the pump stopped */
        _NETD_PUMP_EVENT_MAX,
        _NETD_PUMP_EVENT_INVALID = -22,
};

typedef void netd_pump_fn(struct netd_pump *p, enum netd_pump_event ev, size_t n, void *arg);

struct netd_pump {
        /* State (see the header comment). */
        int src;            /* borrowed: -1 once detached */
        int dst;            /* borrowed */
        int pipe_r, pipe_w; /* owned: the kernel pipe; -1 in copy mode */
        size_t pipe_size;   /* what the kernel gave the pipe */
        size_t fill;        /* bytes in the kernel pipe */
        uint8_t *buf;       /* owned, copy mode only: bytes [off, len) are still for dst */
        size_t off, len;
        bool copy;    /* splice was refused: read/write through buf */
        bool src_eof; /* src returned EOF */
        int src_err;  /* reading src failed with this errno while bytes were pending */
        bool paused;  /* take nothing more from src (socket.pause) */
        bool held;    /* write nothing to dst (its own queue goes first) */
        bool done;    /* EOF, DRAINED or an error was reported: nothing more happens */
        /* Runtime. */
        struct event *ev_src;  /* owned: src readable */
        struct event *ev_dst;  /* owned: dst writable */
        struct event *ev_kick; /* owned: runs the pump on the next loop turn */
        netd_pump_fn *cb;
        void *arg;
        bool in_cb;     /* inside cb: a free is deferred until it returns */
        bool free_me;   /* netd_pump_free() was called inside cb */
        uint64_t moved; /* bytes written to dst (for logs and tests) */
};

/*
 * A pump from src to dst (both non-blocking, borrowed: they must outlive
 * the pump or be detached), reporting to cb with arg. It makes a pipe
 * (two descriptors) and starts at once (on the next loop turn).
 * Returns 0, -EMFILE/-ENFILE (no pipe), or -ENOMEM.
 */
int netd_pump_new(struct event_base *base, int src, int dst, netd_pump_fn *cb, void *arg,
                  struct netd_pump **ret);

/* Frees p (NULL-safe), closing its pipe: bytes still in it are lost. Returns NULL. */
struct netd_pump *netd_pump_free(struct netd_pump *p);

/* Stops or restarts taking bytes from src; what is in the pipe still goes to dst. */
void netd_pump_set_paused(struct netd_pump *p, bool paused);

/* Stops or restarts writing to dst (the destination's own queue is being written). */
void netd_pump_set_held(struct netd_pump *p, bool held);

/*
 * Stops reading src for good (src may be closed right after): what the pipe
 * holds still goes to dst, then DRAINED is reported (at once when it is
 * empty). Returns true when src had reached EOF already (the caller then
 * owes the source its 'end'), false otherwise.
 */
bool netd_pump_detach_src(struct netd_pump *p);

/* Bytes taken from src and not yet written to dst. */
size_t netd_pump_pending(const struct netd_pump *p);

/* True once the pump reported EOF, DRAINED or an error. */
bool netd_pump_is_done(const struct netd_pump *p);

const char *netd_pump_event_to_string(enum netd_pump_event ev);

/*
 * Upgrade (upgrade.c): a pump rebuilt from state's fields (pipe_r, pipe_w,
 * pipe_size and fill: the kernel pipe kept across the exec, its bytes still
 * in it; copy with buf[off, len); src_eof, paused, held, moved) between src
 * (-1: detached) and dst, reporting to cb. The pipe's descriptors are the
 * pump's from now on (closed on failure by the caller). It runs on the next
 * loop turn. Returns 0 or -ENOMEM.
 */
int netd_pump_upgrade_restore(struct event_base *base, const struct netd_pump *state, int src,
                              int dst, netd_pump_fn *cb, void *arg, struct netd_pump **ret);
