/*
 * Pumps (see pump.h). One loop, pump_run(), does all the work: empty the
 * pipe into dst, and only when it is empty take more from src. Reading src
 * only into an empty pipe keeps EAGAIN unambiguous (a pipe with free slots
 * never refuses a splice, so EAGAIN means src has nothing) and bounds the
 * bytes in flight to one pipe. Events are level-triggered: a pump that
 * stops for fairness with src still readable is called again next turn.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "pump.h"

static const char *const pump_event_names[_NETD_PUMP_EVENT_MAX] = {
        [NETD_PUMP_READ] = "read",
        [NETD_PUMP_WROTE] = "wrote",
        [NETD_PUMP_EOF] = "eof",
        [NETD_PUMP_DRAINED] = "drained",
        [NETD_PUMP_SRC_ERROR] = "src-error",
        [NETD_PUMP_DST_ERROR] = "dst-error",
};

const char *netd_pump_event_to_string(enum netd_pump_event ev)
{
        if (ev < 0 || ev >= _NETD_PUMP_EVENT_MAX)
                return NULL;
        return pump_event_names[ev];
}

static void pump_destroy(struct netd_pump *p)
{
        if (p->ev_src)
                event_free(p->ev_src);
        if (p->ev_dst)
                event_free(p->ev_dst);
        if (p->ev_kick)
                event_free(p->ev_kick);
        if (p->pipe_r >= 0)
                close(p->pipe_r);
        if (p->pipe_w >= 0)
                close(p->pipe_w);
        free(p->buf);
        free(p);
}

struct netd_pump *netd_pump_free(struct netd_pump *p)
{
        if (!p)
                return NULL;
        if (p->in_cb) {
                /* Called from our own callback: pump_run() frees once it returns. */
                p->free_me = true;
                p->done = true;
                if (p->ev_src)
                        event_del(p->ev_src);
                if (p->ev_dst)
                        event_del(p->ev_dst);
                event_del(p->ev_kick);
                return NULL;
        }
        pump_destroy(p);
        return NULL;
}

/* Calls the owner; false when the pump must not be touched any more (freed). */
static bool pump_report(struct netd_pump *p, enum netd_pump_event ev, size_t n)
{
        p->in_cb = true;
        p->cb(p, ev, n, p->arg);
        p->in_cb = false;
        if (p->free_me) {
                pump_destroy(p);
                return false;
        }
        return true;
}

static void pump_want_src(struct netd_pump *p, bool want)
{
        if (!p->ev_src)
                return;
        if (want)
                event_add(p->ev_src, NULL);
        else
                event_del(p->ev_src);
}

static void pump_want_dst(struct netd_pump *p, bool want)
{
        if (want)
                event_add(p->ev_dst, NULL);
        else
                event_del(p->ev_dst);
}

size_t netd_pump_pending(const struct netd_pump *p)
{
        return p->copy ? p->len - p->off : p->fill;
}

bool netd_pump_is_done(const struct netd_pump *p)
{
        return p->done;
}

/* Switches to copy mode; bytes already in the pipe move to the buffer. 0 or -errno. */
static int pump_to_copy(struct netd_pump *p)
{
        p->buf = malloc(p->pipe_size > NETD_PUMP_COPY_BYTES ? p->pipe_size : NETD_PUMP_COPY_BYTES);
        if (!p->buf)
                return -ENOMEM;
        p->off = p->len = 0;
        while (p->fill > 0) {
                ssize_t n = read(p->pipe_r, p->buf + p->len, p->fill);

                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                p->len += (size_t)n;
                p->fill -= (size_t)n;
        }
        close(p->pipe_r);
        close(p->pipe_w);
        p->pipe_r = p->pipe_w = -1;
        p->copy = true;
        return 0;
}

/* Moves bytes from the pipe (or buffer) to dst: > 0 moved, or -errno. */
static ssize_t pump_out(struct netd_pump *p)
{
        ssize_t n;

        if (!p->copy) {
                n = splice(p->pipe_r, NULL, p->dst, NULL, p->fill,
                           SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
                if (n > 0) {
                        p->fill -= (size_t)n;
                        return n;
                }
                if (n == 0)
                        return -EIO; /* a non-empty pipe gave nothing: can't happen */
                if (errno != EINVAL)
                        return -errno;
                n = pump_to_copy(p);
                if (n < 0)
                        return n;
        }
        n = write(p->dst, p->buf + p->off, p->len - p->off);
        if (n < 0)
                return -errno;
        p->off += (size_t)n;
        if (p->off == p->len)
                p->off = p->len = 0;
        return n;
}

/* Takes bytes from src into the (empty) pipe or buffer: > 0, 0 at EOF, or -errno. */
static ssize_t pump_in(struct netd_pump *p)
{
        ssize_t n;

        if (!p->copy) {
                n = splice(p->src, NULL, p->pipe_w, NULL, p->pipe_size,
                           SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
                if (n >= 0) {
                        p->fill += (size_t)n;
                        return n;
                }
                if (errno != EINVAL)
                        return -errno;
                n = pump_to_copy(p);
                if (n < 0)
                        return n;
        }
        n = read(p->src, p->buf,
                 p->pipe_size > NETD_PUMP_COPY_BYTES ? p->pipe_size : NETD_PUMP_COPY_BYTES);
        if (n < 0)
                return -errno;
        p->off = 0;
        p->len = (size_t)n;
        return n;
}

static bool pump_again(ssize_t err)
{
        return err == -EAGAIN || err == -EWOULDBLOCK || err == -EINTR;
}

/*
 * With bytes in the pipe and dst full, splices what src has into the rest
 * of the pipe (splice mode only: the copy buffer is one run). Watches src
 * only while the pipe took something and still has room, so a full pipe
 * never spins on a readable src; the bound stays one pipe. An error of src
 * waits in src_err until the pipe is drained, so no byte already taken is
 * lost to it. Returns false when the callback freed the pump.
 */
static bool pump_top_up(struct netd_pump *p)
{
        ssize_t n;

        if (p->copy || p->src < 0 || p->src_eof || p->src_err || p->paused ||
            p->fill >= p->pipe_size) {
                pump_want_src(p, false);
                return true;
        }
        n = splice(p->src, NULL, p->pipe_w, NULL, p->pipe_size - p->fill,
                   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n > 0) {
                p->fill += (size_t)n;
                pump_want_src(p, p->fill < p->pipe_size);
                return pump_report(p, NETD_PUMP_READ, (size_t)n);
        }
        if (n == 0)
                p->src_eof = true;
        else if (!pump_again(-errno) && errno != EINVAL)
                p->src_err = errno;
        /* EAGAIN: src is empty or the pipe's slots are full; dst's turn decides. */
        pump_want_src(p, false);
        return true;
}

/* Ends the pump's work with event ev (EOF, DRAINED or an error). */
static void pump_finish(struct netd_pump *p, enum netd_pump_event ev, size_t n)
{
        p->done = true;
        pump_want_src(p, false);
        pump_want_dst(p, false);
        (void)pump_report(p, ev, n);
}

static void pump_run(struct netd_pump *p)
{
        size_t budget = NETD_PUMP_BUDGET_BYTES;
        ssize_t n;

        while (!p->done) {
                if (netd_pump_pending(p) > 0) {
                        if (p->held) {
                                pump_want_dst(p, false);
                                pump_want_src(p, false);
                                return;
                        }
                        n = pump_out(p);
                        if (pump_again(n)) {
                                /*
                                 * dst is full: top the pipe up from src while
                                 * it waits, so reading src overlaps dst's
                                 * draining, then wait for dst.
                                 */
                                if (!pump_top_up(p))
                                        return;
                                pump_want_dst(p, true);
                                return;
                        }
                        if (n < 0) {
                                pump_finish(p, NETD_PUMP_DST_ERROR, (size_t)-n);
                                return;
                        }
                        p->moved += (uint64_t)n;
                        if (!pump_report(p, NETD_PUMP_WROTE, (size_t)n))
                                return;
                        continue;
                }
                pump_want_dst(p, false);
                if (p->src < 0) {
                        pump_finish(p, NETD_PUMP_DRAINED, 0);
                        return;
                }
                if (p->src_eof) {
                        pump_finish(p, NETD_PUMP_EOF, 0);
                        return;
                }
                if (p->src_err) {
                        pump_finish(p, NETD_PUMP_SRC_ERROR, (size_t)p->src_err);
                        return;
                }
                if (p->paused) {
                        pump_want_src(p, false);
                        return;
                }
                if (budget == 0) {
                        /* Level-triggered: called again on the next loop turn. */
                        pump_want_src(p, true);
                        return;
                }
                n = pump_in(p);
                if (n == 0) {
                        p->src_eof = true;
                        pump_want_src(p, false);
                        continue;
                }
                if (pump_again(n)) {
                        pump_want_src(p, true);
                        return;
                }
                if (n < 0) {
                        pump_finish(p, NETD_PUMP_SRC_ERROR, (size_t)-n);
                        return;
                }
                budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
                if (!pump_report(p, NETD_PUMP_READ, (size_t)n))
                        return;
        }
}

static void pump_event_cb(evutil_socket_t fd, short what, void *arg)
{
        pump_run(arg);
}

static void pump_kick(struct netd_pump *p)
{
        if (!p->done)
                event_active(p->ev_kick, EV_TIMEOUT, 0);
}

int netd_pump_new(struct event_base *base, int src, int dst, netd_pump_fn *cb, void *arg,
                  struct netd_pump **ret)
{
        struct netd_pump *p = calloc(1, sizeof(*p));
        int fds[2];
        int size;

        if (!p)
                return -ENOMEM;
        p->src = src;
        p->dst = dst;
        p->pipe_r = p->pipe_w = -1;
        p->cb = cb;
        p->arg = arg;
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
                int err = errno;

                free(p);
                return -err;
        }
        p->pipe_r = fds[0];
        p->pipe_w = fds[1];
        /* A larger pipe moves more per system call; unprivileged users may get less. */
        (void)fcntl(p->pipe_w, F_SETPIPE_SZ, NETD_PUMP_PIPE_BYTES);
        size = fcntl(p->pipe_w, F_GETPIPE_SZ);
        p->pipe_size = size > 0 ? (size_t)size : 65536;
        p->ev_src = event_new(base, src, EV_READ | EV_PERSIST, pump_event_cb, p);
        p->ev_dst = event_new(base, dst, EV_WRITE | EV_PERSIST, pump_event_cb, p);
        p->ev_kick = event_new(base, -1, 0, pump_event_cb, p);
        if (!p->ev_src || !p->ev_dst || !p->ev_kick) {
                pump_destroy(p);
                return -ENOMEM;
        }
        pump_kick(p);
        *ret = p;
        return 0;
}

void netd_pump_set_paused(struct netd_pump *p, bool paused)
{
        if (p->paused == paused)
                return;
        p->paused = paused;
        if (paused)
                pump_want_src(p, false);
        else
                pump_kick(p);
}

void netd_pump_set_held(struct netd_pump *p, bool held)
{
        if (p->held == held)
                return;
        p->held = held;
        if (held)
                pump_want_dst(p, false);
        else
                pump_kick(p);
}

bool netd_pump_detach_src(struct netd_pump *p)
{
        bool eof = p->src_eof;

        if (p->ev_src) {
                event_free(p->ev_src);
                p->ev_src = NULL;
        }
        p->src = -1;
        pump_kick(p);
        return eof;
}

int netd_pump_upgrade_restore(struct event_base *base, const struct netd_pump *state, int src,
                              int dst, netd_pump_fn *cb, void *arg, struct netd_pump **ret)
{
        struct netd_pump *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->src = src;
        p->dst = dst;
        p->pipe_r = state->pipe_r;
        p->pipe_w = state->pipe_w;
        p->pipe_size = state->pipe_size;
        p->fill = state->fill;
        p->copy = state->copy;
        p->src_eof = state->src_eof;
        p->src_err = state->src_err;
        p->paused = state->paused;
        p->held = state->held;
        p->moved = state->moved;
        p->cb = cb;
        p->arg = arg;
        if (state->copy) {
                size_t size =
                        p->pipe_size > NETD_PUMP_COPY_BYTES ? p->pipe_size : NETD_PUMP_COPY_BYTES;

                p->buf = malloc(size);
                if (!p->buf || state->len - state->off > size) {
                        pump_destroy(p);
                        return -ENOMEM;
                }
                memcpy(p->buf, state->buf + state->off, state->len - state->off);
                p->len = state->len - state->off;
        }
        if (src >= 0)
                p->ev_src = event_new(base, src, EV_READ | EV_PERSIST, pump_event_cb, p);
        p->ev_dst = event_new(base, dst, EV_WRITE | EV_PERSIST, pump_event_cb, p);
        p->ev_kick = event_new(base, -1, 0, pump_event_cb, p);
        if ((src >= 0 && !p->ev_src) || !p->ev_dst || !p->ev_kick) {
                pump_destroy(p);
                return -ENOMEM;
        }
        pump_kick(p);
        *ret = p;
        return 0;
}
