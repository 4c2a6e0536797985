/*
 * Control connections (see conn.h). Input is read straight into the
 * connection's framer and handled at most limits.reqs_per_event lines per
 * callback, so one busy client can't starve the others. Output is one
 * evbuffer written with writev; while it holds more than out_high_bytes the
 * connection's sockets stop reading from their peers (TCP pushes back on
 * them), and they resume below out_low_bytes.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conn.h"
#include "daemon.h"
#include "handle.h"
#include "log.h"
#include "out.h"
#include "req.h"
#include "rpc.h"
#include "session.h"
#include "socket.h"
#include "unixdiag.h"

/*
 * A connection reads 4 KiB at a time until a read fills the room it had;
 * then the room doubles, up to 256 KiB, so bulk writers (base64 payloads of
 * hundreds of KiB a line) cost few system calls while idle clients stay small.
 */
#define CONN_READ_MIN_BYTES (4 * 1024)

/* How often a connection whose input is held is checked for a hang-up (µs). */
#define CONN_HELD_CHECK_US  (250 * 1000)
#define CONN_READ_MAX_BYTES (256 * 1024)

static void conn_input_check(struct netd_conn *c);
static void conn_output_added(struct netd_conn *c);
static void conn_queued(struct netd_conn *c, int r);

static const char *const conn_state_names[_NETD_CONN_STATE_MAX] = {
        [NETD_CONN_OPEN] = "open",
        [NETD_CONN_DRAINING] = "draining",
        [NETD_CONN_CLOSED] = "closed",
};

const char *netd_conn_state_to_string(enum netd_conn_state s)
{
        if (s < 0 || s >= _NETD_CONN_STATE_MAX)
                return NULL;
        return conn_state_names[s];
}

static void conn_set_state(struct netd_conn *c, enum netd_conn_state s)
{
        if (c->state == s)
                return;
        c->o.open = s == NETD_CONN_OPEN;
        log_debug("conn#%llu: %s -> %s", (unsigned long long)c->o.id,
                  netd_conn_state_to_string(c->state), netd_conn_state_to_string(s));
        c->state = s;
}

size_t netd_conn_output_length(const struct netd_conn *c)
{
        return evbuffer_get_length(c->out);
}

bool netd_conn_is_open(const struct netd_conn *c)
{
        return c->state == NETD_CONN_OPEN;
}

/* Applies the output-pressure state to every socket the connection owns. */
static void conn_set_sockets_paused(struct netd_conn *c, bool paused)
{
        struct netd_handle *h;

        if (c->o.sockets_paused == paused)
                return;
        c->o.sockets_paused = paused;
        if (paused)
                c->o.daemon->stats.reads_paused++;
        log_debug("conn#%llu: %s its sockets (output %zu bytes)", (unsigned long long)c->o.id,
                  paused ? "pausing" : "resuming", evbuffer_get_length(c->out));
        TAILQ_FOREACH(h, &c->o.handles, owner_link)
                if (h->type == NETD_HANDLE_SOCKET)
                        netd_socket_update_reading((struct netd_socket *)h);
}

/* Arms, re-arms (progress) or stops the stall timer per the output size. */
static void conn_update_stall(struct netd_conn *c, bool progress)
{
        const struct netd_limits *l = &c->o.daemon->limits;

        if (evbuffer_get_length(c->out) <= l->out_hard_bytes) {
                event_del(c->ev_stall);
        } else if (progress || !event_pending(c->ev_stall, EV_TIMEOUT, NULL)) {
                struct timeval tv = { l->stall_timeout_ms / 1000,
                                      (l->stall_timeout_ms % 1000) * 1000 };

                /*
                 * libevent counts from the time cached when this loop turn
                 * began; long callbacks before us would make the cut early.
                 */
                event_base_update_cache_time(c->o.daemon->base);
                event_add(c->ev_stall, &tv);
        }
}

static void conn_stall_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_conn *c = arg;
        char reason[160];

        c->o.daemon->stats.conns_stalled++;
        (void)snprintf(reason, sizeof(reason),
                       "Client read nothing for %u ms with %zu bytes queued (limit %zu)",
                       c->o.daemon->limits.stall_timeout_ms, evbuffer_get_length(c->out),
                       c->o.daemon->limits.out_hard_bytes);
        log_warning("conn#%llu uid=%u: %s", (unsigned long long)c->o.id, (unsigned)c->o.uid,
                    reason);
        netd_conn_close(c, reason);
}

/*
 * A connection carrying a session keeps the lines it writes until the
 * client has read them (out_fds.sent), so that if the client dies, its
 * session gets every event the client never read, not only those netd had
 * not written yet (PROTOCOL.md §16). What the client has read is what the
 * kernel says is left in its socket's receive queue (unixdiag.h).
 */
static void conn_track_sent(struct netd_conn *c)
{
        struct netd_daemon *d = c->o.daemon;
        int r;

        if (!c->o.session) {
                if (c->out_fds.sent)
                        netd_out_sent_stop(&c->out_fds); /* handed over */
                c->sent_unavailable = false;             /* a later session tries again */
                return;
        }
        if (c->out_fds.sent || c->sent_unavailable)
                return;
        if (d->unixdiag_fd < 0) {
                if (!d->unixdiag_warned)
                        log_warning("NETLINK_SOCK_DIAG: %s: a killed client's unread events are "
                                    "lost to its session (PROTOCOL.md §16)",
                                    strerror(-d->unixdiag_fd));
                d->unixdiag_warned = true;
                return;
        }
        r = netd_unixdiag_peer(d->unixdiag_fd, c->o.fd, &c->peer_ino);
        if (r == 0)
                r = netd_out_sent_start(&c->out_fds);
        if (r < 0) {
                log_warning("conn#%llu: can't follow what the client reads: %s",
                            (unsigned long long)c->o.id, strerror(-r));
                c->sent_unavailable = true;
        }
}

/* After a write: the kept lines the client has read by now go. */
static void conn_trim_sent(struct netd_conn *c)
{
        uint32_t unread;
        int r;

        if (!c->out_fds.sent)
                return;
        r = netd_unixdiag_unread(c->o.daemon->unixdiag_fd, c->peer_ino, &unread);
        if (r < 0) {
                log_warning("conn#%llu: can't follow what the client reads: %s",
                            (unsigned long long)c->o.id, strerror(-r));
                netd_out_sent_stop(&c->out_fds);
                c->sent_unavailable = true;
                return;
        }
        netd_out_sent_trim(&c->out_fds,
                           unread > c->out_fds.written ? 0 : c->out_fds.written - unread);
}

static void conn_flush(struct netd_conn *c)
{
        bool progress = false;

        conn_track_sent(c);
        while (evbuffer_get_length(c->out) > 0) {
                ssize_t n = netd_out_write(c->out, c->o.fd, &c->out_fds);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        netd_conn_close(c, strerror(errno));
                        return;
                }
                if (n == 0)
                        break;
                progress = true;
        }
        if (progress)
                conn_trim_sent(c);
        conn_update_stall(c, progress);
        if (evbuffer_get_length(c->out) == 0) {
                event_del(c->ev_write);
                if (c->state == NETD_CONN_DRAINING) {
                        netd_conn_close(c, NULL);
                        return;
                }
        } else {
                event_add(c->ev_write, NULL);
        }
        if (c->o.sockets_paused && evbuffer_get_length(c->out) <= c->o.daemon->limits.out_low_bytes)
                conn_set_sockets_paused(c, false);
        conn_input_check(c);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
        conn_flush(arg);
}

/* Closes the fds of the line just handled that no method took. */
static void conn_close_line_fds(struct netd_conn *c)
{
        for (size_t i = 0; i < c->n_line_fds; i++)
                if (c->line_fds[i] >= 0)
                        close(c->line_fds[i]);
        c->n_line_fds = 0;
}

/*
 * Gives the line that ends before stream position end the fds that arrived
 * with its bytes. Fds beyond NETD_CONN_FDS_PER_LINE are closed.
 */
static void conn_claim_fds(struct netd_conn *c, uint64_t end)
{
        size_t i = 0;

        conn_close_line_fds(c);
        for (; i < c->n_fds && c->fds[i].pos < end; i++) {
                if (c->n_line_fds < NETD_CONN_FDS_PER_LINE)
                        c->line_fds[c->n_line_fds++] = c->fds[i].fd;
                else
                        close(c->fds[i].fd);
        }
        if (i == 0)
                return;
        memmove(c->fds, c->fds + i, (c->n_fds - i) * sizeof(*c->fds));
        c->n_fds -= i;
}

int netd_conn_take_fd(struct netd_conn *c, size_t index)
{
        int fd;

        if (index >= c->n_line_fds || c->line_fds[index] < 0)
                return -EBADF;
        fd = c->line_fds[index];
        c->line_fds[index] = -1;
        return fd;
}

/* Queues the fds of one SCM_RIGHTS message that came with the byte at pos. */
static void conn_queue_fds(struct netd_conn *c, struct msghdr *msg, uint64_t pos)
{
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
                size_t n;
                int *fds;

                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                fds = (int *)CMSG_DATA(cm);
                for (size_t i = 0; i < n; i++) {
                        struct netd_conn_fds *nf;

                        /* A client can't make netd hoard descriptors: past the cap, close. */
                        if (c->n_fds >= NETD_CONN_FDS_PER_LINE * 4) {
                                close(fds[i]);
                                continue;
                        }
                        nf = realloc(c->fds, (c->n_fds + 1) * sizeof(*nf));
                        if (!nf) {
                                close(fds[i]);
                                continue;
                        }
                        c->fds = nf;
                        c->fds[c->n_fds++] = (struct netd_conn_fds){ .pos = pos, .fd = fds[i] };
                }
        }
}

/*
 * True while c's own output backlog says: handle no more of its requests
 * for now (the client is not reading its replies). Nothing about one of its
 * handles ever holds a connection: per-socket limits refuse instead (flow.c).
 */
static bool conn_must_hold(const struct netd_conn *c)
{
        return evbuffer_get_length(c->out) > c->o.daemon->limits.out_hard_bytes;
}

static void conn_hold_input(struct netd_conn *c)
{
        if (c->input_held)
                return;
        c->input_held = true;
        c->o.daemon->stats.input_held++;
        log_debug("conn#%llu: holding input (output %zu bytes)", (unsigned long long)c->o.id,
                  evbuffer_get_length(c->out));
        /* Explicitly: the kernel's buffer then fills and the client blocks. */
        event_del(c->ev_read);
        /*
         * Still notice the client going away, or its handles would outlive it.
         * epoll reports a full hang-up as readable, which a held connection
         * can't listen for without spinning on its unread data: look instead.
         */
        event_add(c->ev_closed, &(struct timeval){ 0, CONN_HELD_CHECK_US });
}

/*
 * While input is held: has the client gone for good (both directions shut:
 * it exited or closed)? Then close now, as at EOF. A half-close is left to
 * the read path once input resumes.
 */
static void conn_closed_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_conn *c = arg;
        struct pollfd p = { .fd = c->o.fd, .events = 0 };

        if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
                netd_conn_close(c, "client went away while its requests were held");
}

/* Resumes reading requests once the output backlog that held them is gone. */
static void conn_input_check(struct netd_conn *c)
{
        if (c->input_stopped)
                return;
        if (!c->input_held || c->state != NETD_CONN_OPEN || conn_must_hold(c))
                return;
        c->input_held = false;
        event_del(c->ev_closed);
        if (!c->read_eof)
                event_add(c->ev_read, NULL);
        event_active(c->ev_more, EV_TIMEOUT, 0);
}

static void conn_process_input(struct netd_conn *c)
{
        unsigned n;

        if (c->input_stopped)
                return;
        for (n = 0; n < c->o.daemon->limits.reqs_per_event; n++) {
                size_t len, pending_before;
                uint64_t pos_before;
                char *line;
                int r;

                if (c->state != NETD_CONN_OPEN)
                        return;
                if (conn_must_hold(c)) {
                        conn_hold_input(c);
                        return;
                }
                pending_before = netd_frame_pending(&c->in);
                pos_before = c->in_pos - pending_before;
                r = netd_frame_next(&c->in, &line, &len);
                if (r == 0) {
                        /* Every complete line of a client that stopped sending is answered. */
                        if (c->read_eof)
                                netd_conn_close_after_flush(c);
                        return;
                }
                if (r < 0) {
                        char message[128];

                        c->o.daemon->stats.oversize_lines++;
                        (void)snprintf(message, sizeof(message),
                                       "Invalid Request: line longer than %zu bytes",
                                       c->o.daemon->limits.frame_max_bytes);
                        log_notice("conn#%llu uid=%u: Request line over %zu bytes, closing",
                                   (unsigned long long)c->o.id, (unsigned)c->o.uid,
                                   c->o.daemon->limits.frame_max_bytes);
                        netd_conn_send(
                                c,
                                netd_rpc_error_msg(
                                        NULL, NETD_RPC_INVALID_REQUEST, message,
                                        json_pack(
                                                "{s:s,s:s,s:I}", "code", "ERR_NETD_LIMIT", "limit",
                                                "frame_max_bytes", "max",
                                                (json_int_t)c->o.daemon->limits.frame_max_bytes)));
                        netd_conn_close_after_flush(c);
                        return;
                }
                conn_claim_fds(c, pos_before + (pending_before - netd_frame_pending(&c->in)));
                netd_rpc_handle_line(&c->o, line, len);
                conn_close_line_fds(c);
        }
        /* Fairness: yield to other connections, come back in the next loop turn. */
        if (netd_frame_pending(&c->in) > 0) {
                c->o.daemon->stats.yields++;
                event_active(c->ev_more, EV_TIMEOUT, 0);
        }
}

static void conn_more_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_conn *c = arg;

        c->flush_soon = true;
        conn_process_input(c);
        c->flush_soon = false;
        if (c->state != NETD_CONN_CLOSED && evbuffer_get_length(c->out) > 0)
                conn_flush(c);
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_conn *c = arg;
        char *p;
        size_t room;
        ssize_t n;

        if (c->read_size < CONN_READ_MIN_BYTES)
                c->read_size = CONN_READ_MIN_BYTES;
        if (netd_frame_reserve(&c->in, c->read_size, &p, &room) < 0) {
                netd_conn_close(c, "out of memory");
                return;
        }
        {
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int) * NETD_CONN_FDS_PER_LINE)];
                } control;
                struct iovec iov = { .iov_base = p, .iov_len = room };
                struct msghdr msg = { .msg_iov = &iov,
                                      .msg_iovlen = 1,
                                      .msg_control = control.buf,
                                      .msg_controllen = sizeof(control.buf) };

                n = recvmsg(c->o.fd, &msg, MSG_CMSG_CLOEXEC);
                if (n > 0 && msg.msg_controllen > 0)
                        conn_queue_fds(c, &msg, c->in_pos);
        }
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return;
                /* The client closed with output of ours unread (conn_unsent_events()). */
                c->client_reset = errno == ECONNRESET;
                netd_conn_close(c, strerror(errno));
                return;
        }
        if (n == 0) {
                /* The client is done sending: answer what it sent, then close. */
                c->read_eof = true;
                event_del(c->ev_read);
                conn_process_input(c);
                if (c->state == NETD_CONN_DRAINING)
                        conn_flush(c);
                return;
        }
        netd_frame_commit(&c->in, (size_t)n);
        c->in_pos += (uint64_t)n;
        if ((size_t)n == room && c->read_size < CONN_READ_MAX_BYTES)
                c->read_size *= 2;
        /* Replies made now are written below: no need to arm the write event for them. */
        c->flush_soon = true;
        conn_process_input(c);
        c->flush_soon = false;
        /* Write the replies this input produced now: saves a loop turn per round trip. */
        if (c->state != NETD_CONN_CLOSED && evbuffer_get_length(c->out) > 0)
                conn_flush(c);
}

static void conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
        netd_conn_free(arg);
}

/* The owner interface (owner.h): what the layers below reach a connection through. */
static void owner_send(struct netd_owner *o, json_t *msg)
{
        netd_conn_send(netd_conn_of(o), msg);
}

static void owner_send_result(struct netd_owner *o, json_t *id, json_t *result)
{
        netd_conn_send_result(netd_conn_of(o), id, result);
}

static void owner_notify(struct netd_owner *o, const char *method, json_t *params)
{
        netd_conn_notify(netd_conn_of(o), method, params);
}

static int owner_send_result_fd(struct netd_owner *o, json_t *id, json_t *result, int fd)
{
        return netd_conn_send_result_fd(netd_conn_of(o), id, result, fd);
}

static int owner_notify_fd(struct netd_owner *o, const char *method, json_t *params, int fd)
{
        return netd_conn_notify_fd(netd_conn_of(o), method, params, fd);
}

static int owner_send_data(struct netd_owner *o, uint64_t socket, const uint8_t *bytes, size_t len,
                           const char *text, size_t tlen, const char *encoding)
{
        return netd_conn_send_data(netd_conn_of(o), socket, bytes, len, text, tlen, encoding);
}

static void owner_close(struct netd_owner *o, const char *reason)
{
        netd_conn_close(netd_conn_of(o), reason);
}

static int owner_take_fd(struct netd_owner *o, size_t index)
{
        return netd_conn_take_fd(netd_conn_of(o), index);
}

static size_t owner_output_length(const struct netd_owner *o)
{
        return netd_conn_output_length((const struct netd_conn *)o);
}

static void owner_send_lines(struct netd_owner *o, struct evbuffer *lines)
{
        struct netd_conn *c = netd_conn_of(o);

        if (c->state == NETD_CONN_CLOSED)
                return;
        conn_queued(c, evbuffer_add_buffer(c->out, lines) < 0 ? -ENOMEM : 0);
}

static const struct netd_owner_ops conn_owner_ops = {
        .send = owner_send,
        .send_result = owner_send_result,
        .notify = owner_notify,
        .send_result_fd = owner_send_result_fd,
        .notify_fd = owner_notify_fd,
        .send_data = owner_send_data,
        .close = owner_close,
        .take_fd = owner_take_fd,
        .output_length = owner_output_length,
        .send_lines = owner_send_lines,
};

int netd_conn_new(struct netd_daemon *d, int fd, struct netd_conn **ret)
{
        struct netd_conn *c = calloc(1, sizeof(*c));

        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        c->o.ops = &conn_owner_ops;
        c->o.open = true;
        c->o.daemon = d;
        c->o.fd = fd;
        c->o.id = ++d->next_conn_id;
        c->o.uid = (uid_t)-1;
        c->o.pid = -1;
        c->o.cred =
                (struct netd_cred){ .uid = (uid_t)-1, .gid = (gid_t)-1, .pid = -1, .pidfd = -1 };
        c->n_line_fds = 0;
        TAILQ_INIT(&c->o.handles);
        TAILQ_INIT(&c->o.closed);
        TAILQ_INIT(&c->o.reqs);
        netd_frame_init(&c->in, d->limits.frame_max_bytes);
        c->out = evbuffer_new();
        c->ev_read = event_new(d->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
        c->ev_write = event_new(d->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
        c->ev_more = event_new(d->base, -1, 0, conn_more_cb, c);
        c->ev_free = event_new(d->base, -1, 0, conn_free_cb, c);
        c->ev_stall = evtimer_new(d->base, conn_stall_cb, c);
        c->ev_closed = event_new(d->base, -1, EV_PERSIST, conn_closed_cb, c);
        if (!c->out || !c->ev_read || !c->ev_write || !c->ev_more || !c->ev_free || !c->ev_stall ||
            !c->ev_closed) {
                c->state = NETD_CONN_CLOSED;
                netd_conn_free(c);
                return -ENOMEM;
        }
        TAILQ_INSERT_TAIL(&d->conns, &c->o, link);
        c->listed = true;
        d->n_conns++;
        d->fds_open++; /* counted, never refused: the reserve exists for control connections */
        event_add(c->ev_read, NULL);
        *ret = c;
        return 0;
}

/*
 * Leaves in c->out only the events about its handles that the client never
 * got (whole lines of server.* and socket.* notifications), for its session
 * to keep: a line partly written is gone with the client, and replies and
 * observer events were the dead connection's own.
 */
static void conn_unsent_events(struct netd_conn *c)
{
        static const char prefix[] = "{\"jsonrpc\":\"2.0\",\"method\":\"";
        struct evbuffer *keep = evbuffer_new();
        size_t dropped = 0, kept = 0, fd_lines = 0, unread = 0, unsent = 0;
        struct evbuffer_ptr nl;
        uint64_t pos, base;
        bool mid_line;

        if (!keep) {
                dropped = evbuffer_get_length(c->out);
                evbuffer_drain(c->out, dropped);
                goto out;
        }
        /*
         * What the client was sent and had not read when it died comes
         * first (conn_track_sent()); then the output starts at the kept
         * bytes, inside a line only if keeping began inside one.
         */
        base = c->out_fds.written;
        mid_line = c->out_fds.mid_line;
        unsent = evbuffer_get_length(c->out);
        /*
         * A UNIX socket closed with bytes unread in it resets its peer
         * (ECONNRESET, as TCP's RST), one closed with everything read ends
         * it cleanly: then the client read all netd wrote, nothing is kept
         * again. Lines read after netd last asked may come again only when
         * some were left unread.
         */
        if (!c->client_reset) {
                int err = 0;
                socklen_t len = sizeof(err);

                c->client_reset = getsockopt(c->o.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
                                  err == ECONNRESET;
        }
        if (c->out_fds.sent && !c->client_reset)
                netd_out_sent_stop(&c->out_fds);
        if (c->out_fds.sent && evbuffer_get_length(c->out_fds.sent) > 0) {
                unread = evbuffer_get_length(c->out_fds.sent);
                base = c->out_fds.sent_pos;
                mid_line = c->out_fds.sent_mid_line;
                evbuffer_prepend_buffer(c->out, c->out_fds.sent);
        }
        if (mid_line) {
                nl = evbuffer_search(c->out, "\n", 1, NULL);
                dropped += nl.pos < 0 ? evbuffer_get_length(c->out) : (size_t)nl.pos + 1;
                evbuffer_drain(c->out,
                               nl.pos < 0 ? evbuffer_get_length(c->out) : (size_t)nl.pos + 1);
        }
        pos = base + dropped;
        while (evbuffer_get_length(c->out) > 0) {
                char head[sizeof(prefix) + 7];
                ev_ssize_t h = evbuffer_copyout(c->out, head, sizeof(head));
                size_t len;
                bool carries_fd = false;

                nl = evbuffer_search(c->out, "\n", 1, NULL);
                len = nl.pos < 0 ? evbuffer_get_length(c->out) : (size_t)nl.pos + 1;
                /*
                 * A line that carries a descriptor (an attach server's
                 * server.connection) can't be kept without it: dropped, and
                 * its socket ends when the descriptor closes (PROTOCOL.md §16).
                 */
                for (size_t i = c->out_fds.head; i < c->out_fds.n; i++)
                        carries_fd |= c->out_fds.v[i].pos == pos;
                carries_fd |= netd_out_sent_carried_fd(&c->out_fds, pos);
                pos += len;
                if (carries_fd)
                        fd_lines++;
                else if (h == (ev_ssize_t)sizeof(head) &&
                         memcmp(head, prefix, sizeof(prefix) - 1) == 0 &&
                         (memcmp(head + sizeof(prefix) - 1, "server.", 7) == 0 ||
                          memcmp(head + sizeof(prefix) - 1, "socket.", 7) == 0) &&
                         evbuffer_remove_buffer(c->out, keep, len) == (int)len) {
                        kept += len;
                        continue;
                }
                dropped += len;
                evbuffer_drain(c->out, len);
        }
        evbuffer_add_buffer(c->out, keep);
        evbuffer_free(keep);
out:
        if (kept || dropped)
                log_info("conn#%llu: of %zu bytes the client never read and %zu never sent, "
                         "%zu bytes of events go to its session, %zu bytes of replies and "
                         "partly read lines are dropped",
                         (unsigned long long)c->o.id, unread, unsent, kept, dropped);
        if (fd_lines)
                log_warning("conn#%llu: %zu unsent line(s) carrying a descriptor can't be kept: "
                            "their attached sockets end",
                            (unsigned long long)c->o.id, fd_lines);
}

void netd_conn_close(struct netd_conn *c, const char *reason)
{
        struct netd_daemon *d = c->o.daemon;

        if (c->state == NETD_CONN_CLOSED)
                return;
        if (reason)
                log_info("conn#%llu uid=%u: %s, closing", (unsigned long long)c->o.id,
                         (unsigned)c->o.uid, reason);
        else
                log_debug("conn#%llu: closing", (unsigned long long)c->o.id);
        conn_set_state(c, NETD_CONN_CLOSED);
        event_del(c->ev_read);
        event_del(c->ev_write);
        event_del(c->ev_more);
        event_del(c->ev_stall);
        event_del(c->ev_closed);
        netd_rpc_detach_conn(&c->o);
        /*
         * A connection that called netd.detach leaves its handles to its
         * session (session.h), with the events it had no time to send.
         */
        if (c->o.session) {
                conn_unsent_events(c);
                netd_session_orphan(&c->o, c->out);
        }
        /*
         * The handles go with the deferred free (redis's freeClientAsync):
         * this may run inside one of their own callbacks. Until then they
         * see a closed owner and send nothing, and the connection is still
         * counted (netd.info), its descriptor closed.
         */
        if (c->o.fd >= 0) {
                close(c->o.fd);
                netd_daemon_fd_release(d);
        }
        c->o.fd = -1;
        event_active(c->ev_free, EV_TIMEOUT, 0);
}

void netd_conn_stop_input(struct netd_conn *c)
{
        c->input_stopped = true;
        event_del(c->ev_read);
        event_del(c->ev_more);
        event_del(c->ev_closed);
}

void netd_conn_close_after_flush(struct netd_conn *c)
{
        if (c->state != NETD_CONN_OPEN)
                return;
        conn_set_state(c, NETD_CONN_DRAINING);
        event_del(c->ev_read);
        event_del(c->ev_more);
        if (evbuffer_get_length(c->out) == 0)
                netd_conn_close(c, NULL);
        else
                event_add(c->ev_write, NULL);
}

struct netd_conn *netd_conn_free(struct netd_conn *c)
{
        if (!c)
                return NULL;
        if (c->state != NETD_CONN_CLOSED) {
                /* Daemon shutdown: close first, then free right away. */
                netd_conn_close(c, NULL);
                event_del(c->ev_free);
        }
        netd_handle_release_all(&c->o);
        if (c->listed) {
                TAILQ_REMOVE(&c->o.daemon->conns, &c->o, link);
                c->o.daemon->n_conns--;
        }
        if (c->ev_read)
                event_free(c->ev_read);
        if (c->ev_write)
                event_free(c->ev_write);
        if (c->ev_more)
                event_free(c->ev_more);
        if (c->ev_free)
                event_free(c->ev_free);
        if (c->ev_stall)
                event_free(c->ev_stall);
        if (c->ev_closed)
                event_free(c->ev_closed);
        if (c->out)
                evbuffer_free(c->out);
        netd_out_fds_done(&c->out_fds);
        netd_frame_done(&c->in);
        conn_close_line_fds(c);
        for (size_t i = 0; i < c->n_fds; i++)
                close(c->fds[i].fd);
        free(c->fds);
        if (c->o.fd >= 0)
                close(c->o.fd);
        netd_cred_done(&c->o.cred);
        free(c);
        return NULL;
}

/* After a line was queued (r from out.c): counts a failure, arms the write and the limits. */
static void conn_queued(struct netd_conn *c, int r)
{
        if (r < 0)
                log_error("conn#%llu: Failed to queue a message, out of memory",
                          (unsigned long long)c->o.id);
        conn_output_added(c);
}

void netd_conn_send(struct netd_conn *c, json_t *msg)
{
        if (!msg) {
                log_error("conn#%llu: Failed to build a message, out of memory",
                          (unsigned long long)c->o.id);
                return;
        }
        if (c->state != NETD_CONN_CLOSED)
                conn_queued(c, netd_out_message(c->out, msg));
        json_decref(msg);
}

void netd_conn_send_result(struct netd_conn *c, json_t *id, json_t *result)
{
        if (c->state != NETD_CONN_CLOSED)
                conn_queued(c, netd_out_reply(c->out, id, result));
        json_decref(result);
}

void netd_conn_notify(struct netd_conn *c, const char *method, json_t *params)
{
        if (!params) {
                log_error("conn#%llu: Failed to build %s, out of memory",
                          (unsigned long long)c->o.id, method);
                return;
        }
        if (c->state != NETD_CONN_CLOSED)
                conn_queued(c, netd_out_event(c->out, method, params));
        json_decref(params);
}

/* After a line meant to carry fd was queued (r) from offset pos: the fd joins it. */
static int conn_queued_fd(struct netd_conn *c, int r, uint64_t pos, int fd)
{
        if (r == 0)
                r = netd_out_fds_push(&c->out_fds, pos, fd);
        else
                close(fd);
        conn_queued(c, r);
        return r;
}

int netd_conn_send_result_fd(struct netd_conn *c, json_t *id, json_t *result, int fd)
{
        uint64_t pos = netd_out_fds_tail(&c->out_fds, c->out);
        int r;

        if (c->state == NETD_CONN_CLOSED) {
                close(fd);
                json_decref(result);
                return -EPIPE;
        }
        r = conn_queued_fd(c, netd_out_reply(c->out, id, result), pos, fd);
        json_decref(result);
        return r;
}

int netd_conn_notify_fd(struct netd_conn *c, const char *method, json_t *params, int fd)
{
        uint64_t pos = netd_out_fds_tail(&c->out_fds, c->out);
        int r;

        if (!params || c->state == NETD_CONN_CLOSED) {
                close(fd);
                json_decref(params);
                return params ? -EPIPE : -ENOMEM;
        }
        r = conn_queued_fd(c, netd_out_event(c->out, method, params), pos, fd);
        json_decref(params);
        return r;
}

int netd_conn_send_data(struct netd_conn *c, uint64_t socket, const uint8_t *bytes, size_t len,
                        const char *text, size_t tlen, const char *encoding)
{
        int r;

        if (c->state != NETD_CONN_OPEN && c->state != NETD_CONN_DRAINING)
                return 0;
        r = netd_out_data(c->out, socket, bytes, len, text, tlen, encoding);
        conn_queued(c, r);
        return r;
}

static void conn_output_added(struct netd_conn *c)
{
        size_t len;

        if (c->state == NETD_CONN_CLOSED)
                return;
        len = evbuffer_get_length(c->out);
        if (len == 0)
                return;
        if (!c->flush_soon && !event_pending(c->ev_write, EV_WRITE, NULL))
                event_add(c->ev_write, NULL);
        if (!c->o.sockets_paused && len > c->o.daemon->limits.out_high_bytes)
                conn_set_sockets_paused(c, true);
        if (len > c->o.daemon->limits.out_hard_bytes)
                conn_update_stall(c, false);
}

int netd_conn_upgrade_restore(struct netd_daemon *d, int fd, uint64_t id, struct netd_conn **ret)
{
        struct netd_conn *c;
        int r;

        r = netd_conn_new(d, fd, &c);
        if (r < 0)
                return r;
        event_del(c->ev_read); /* netd_conn_upgrade_resume() decides */
        c->o.id = id;
        /* SO_PEERCRED is the peer's at connect time: the same answer as at the accept. */
        if (netd_cred_read(fd, &c->o.cred) < 0)
                log_warning("conn#%llu: Failed to read the peer's credentials again",
                            (unsigned long long)id);
        c->o.uid = c->o.cred.uid;
        c->o.pid = c->o.cred.pid;
        *ret = c;
        return 0;
}

void netd_conn_upgrade_resume(struct netd_conn *c, bool draining)
{
        size_t len = evbuffer_get_length(c->out);

        if (draining) {
                conn_set_state(c, NETD_CONN_DRAINING);
                if (len == 0)
                        netd_conn_close(c, NULL);
                else
                        event_add(c->ev_write, NULL);
                return;
        }
        if (len > 0)
                event_add(c->ev_write, NULL);
        if (len > c->o.daemon->limits.out_high_bytes)
                conn_set_sockets_paused(c, true);
        if (len > c->o.daemon->limits.out_hard_bytes)
                conn_update_stall(c, true);
        if (!c->read_eof)
                event_add(c->ev_read, NULL);
        /* Lines that were buffered but not handled yet (fairness, held input), or the EOF. */
        event_active(c->ev_more, EV_TIMEOUT, 0);
}

int netd_conn_upgrade_restore_fd(struct netd_conn *c, uint64_t pos, int fd)
{
        struct netd_conn_fds *nf = realloc(c->fds, (c->n_fds + 1) * sizeof(*nf));

        if (!nf)
                return -ENOMEM;
        c->fds = nf;
        c->fds[c->n_fds++] = (struct netd_conn_fds){ .pos = pos, .fd = fd };
        return 0;
}
