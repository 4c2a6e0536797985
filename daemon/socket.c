/*
 * Stream sockets (see socket.h). A socket owns its fd, its events, its write
 * queue and the requests waiting on that queue. Peer data is read into the
 * daemon's scratch buffer (limits.read_chunk_bytes per system call, never
 * libevent's 4 KiB bufferevent reads) and written straight into the owner's
 * output queue as a socket.data line, base64 encoded without an
 * intermediate JSON tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include "auth.h"
#include "daemon.h"
#include "flow.h"
#include "ipc.h"
#include "isip.h"
#include "log.h"
#include "observe.h"
#include "owner.h"
#include "pump.h"
#include "req.h"
#include "resolve.h"
#include "server.h"
#include "socket.h"

static void socket_close(struct netd_socket *s, bool had_error);
static void socket_try_write(struct netd_socket *s);
static void socket_connect_next(struct netd_socket *s);
static void socket_attempt_failed(struct netd_socket *s, int err);
static void socket_write_cb(evutil_socket_t fd, short what, void *arg);
static void socket_attach_start(struct netd_socket *s);
static void socket_pipe_connected(struct netd_socket *dst);

static void socket_emit(struct netd_socket *s, const char *event, json_t *params)
{
        netd_handle_emit(&s->h, event, params);
}

static void socket_emit_simple(struct netd_socket *s, const char *event)
{
        socket_emit(s, event, json_pack("{s:I}", "socket", (json_int_t)s->h.id));
}

/* Records err (stolen) as the socket's error and closes it: 'error' then 'close'. */
static void socket_fail(struct netd_socket *s, json_t *err)
{
        if (s->state == NETD_SOCKET_CLOSED) {
                json_decref(err);
                return;
        }
        json_decref(s->error);
        s->error = err;
        socket_close(s, true);
}

/* Bytes in the unsent queue (made on the first write: an idle socket has none). */
static size_t socket_queued(const struct netd_socket *s)
{
        return s->wbuf ? evbuffer_get_length(s->wbuf) : 0;
}

/* Restarts the idle timer: called on every read, write and connect (Node's _unrefTimer). */
static void socket_touch(struct netd_socket *s)
{
        struct timeval tv;

        if (s->timeout_ms <= 0 || s->state == NETD_SOCKET_CLOSED || !s->ev_timeout)
                return;
        tv.tv_sec = (time_t)(s->timeout_ms / 1000);
        tv.tv_usec = (suseconds_t)(s->timeout_ms % 1000) * 1000;
        event_add(s->ev_timeout, &tv);
}

static void socket_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_socket *s = arg;

        /* A write still in progress is not idleness (Node suppresses the timeout). */
        if (socket_queued(s) > 0 && s->state == NETD_SOCKET_OPEN) {
                socket_touch(s);
                return;
        }
        socket_emit_simple(s, "socket.timeout");
}

int netd_socket_set_timeout(struct netd_socket *s, int64_t ms)
{
        if (ms > 0 && !s->ev_timeout) {
                /* Made on first use: most sockets never have an idle timer. */
                s->ev_timeout = evtimer_new(s->h.daemon->base, socket_timeout_cb, s);
                if (!s->ev_timeout)
                        return -ENOMEM;
        }
        s->timeout_ms = ms;
        if (ms <= 0) {
                if (s->ev_timeout)
                        event_del(s->ev_timeout);
        } else {
                socket_touch(s);
        }
        return 0;
}

/* Waits for writability (connect completion, room in the kernel); false after failing s. */
static bool socket_want_write(struct netd_socket *s)
{
        if (!s->ev_write) {
                /* Made on first use: an idle socket never needs one. */
                s->ev_write = event_new(s->h.daemon->base, s->fd, EV_WRITE | EV_PERSIST,
                                        socket_write_cb, s);
                if (!s->ev_write) {
                        socket_fail(s, netd_nerr_sys(ENOMEM, "write", NULL, -1));
                        return false;
                }
        }
        event_add(s->ev_write, NULL);
        return true;
}

static void socket_stop_write(struct netd_socket *s)
{
        if (s->ev_write)
                event_del(s->ev_write);
}

static bool socket_owner_paused(const struct netd_socket *s)
{
        return s->h.owner && s->h.owner->sockets_paused;
}

void netd_socket_update_reading(struct netd_socket *s)
{
        bool want;

        /* A pump reading the fd follows socket.pause only: its bytes skip the client's queue. */
        if (s->att_rx)
                netd_pump_set_paused(s->att_rx, s->user_paused);
        if (s->pipe_dst && s->pipe_dst->pipe_in)
                netd_pump_set_paused(s->pipe_dst->pipe_in, s->user_paused);
        if (!s->ev_read)
                return;
        want = s->state == NETD_SOCKET_OPEN && !s->read_eof && !s->user_paused &&
               !socket_owner_paused(s) && !s->attached && !s->pipe_dst;
        if (want)
                event_add(s->ev_read, NULL);
        else
                event_del(s->ev_read);
}

/*
 * Appends one socket.data line for len bytes straight into the owner's
 * output: base64 by default, or the socket's encoding through its string
 * decoder. When the decoder holds every byte back (part of a character), no
 * event is sent, as Node emits no empty 'data'.
 */
static void socket_emit_data(struct netd_socket *s, const uint8_t *buf, size_t len)
{
        struct netd_owner *c = s->h.owner;
        const char *enc = s->encoding < 0 ? "base64" : netd_encoding_to_string(s->encoding);
        char *text = NULL;
        size_t tlen = 0;
        int r;

        if (!c || !netd_owner_is_open(c))
                return;
        if (s->encoding >= 0) {
                size_t tmax = netd_strdec_max(&s->dec, len);

                text = malloc(tmax ? tmax : 1);
                if (!text)
                        goto oom;
                tlen = netd_strdec_write(&s->dec, buf, len, text);
                if (tlen == 0) {
                        free(text);
                        return;
                }
        }
        if (!s->h.announced) {
                /* Rare: the reply naming the socket is still waiting in a batch. */
                if (!text) {
                        text = malloc(NETD_BASE64_ENCODED_MAX(len) + 1);
                        if (!text)
                                goto oom;
                        tlen = netd_base64_encode(buf, len, text, 0);
                }
                socket_emit(s, "socket.data",
                            json_pack("{s:I,s:s%,s:s}", "socket", (json_int_t)s->h.id, "data", text,
                                      tlen, "encoding", enc));
                free(text);
                return;
        }
        netd_observe_data(&s->h, buf, len); /* observers (netd.subscribe) get a copy */
        r = netd_owner_send_data(c, s->h.id, buf, len, text, tlen, enc);
        free(text);
        if (r < 0) {
                /* The bytes were read from the peer and can't be delivered: the client must go. */
                log_error("conn#%" PRIu64 ": Failed to queue socket data, out of memory", c->id);
                netd_owner_close(c, "out of memory");
        }
        return;
oom:
        socket_fail(s, netd_nerr_sys(ENOMEM, "read", NULL, -1));
}

/* The peer sent FIN: deliver what the decoder holds, then 'end'; end our side unless half-open. */
static void socket_on_eof(struct netd_socket *s)
{
        s->read_eof = true;
        socket_touch(s);
        netd_socket_update_reading(s);
        if (s->encoding >= 0 && s->dec.npending > 0 && s->h.owner) {
                char tail[16];
                size_t n = netd_strdec_end(&s->dec, tail);

                if (n > 0)
                        socket_emit(s, "socket.data",
                                    json_pack("{s:I,s:s%,s:s}", "socket", (json_int_t)s->h.id,
                                              "data", tail, n, "encoding",
                                              netd_encoding_to_string(s->encoding)));
        }
        socket_emit_simple(s, "socket.end");
        if (!s->allow_half_open)
                s->end_requested = true;
        socket_try_write(s);
}

static void socket_read_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_socket *s = arg;
        struct netd_daemon *d = s->h.daemon;
        ssize_t n;

        /* A pump reads this fd now (attach, pipe): never both (the seam). */
        if (s->attached || s->pipe_dst)
                return;
        n = read(s->fd, d->scratch, d->limits.read_chunk_bytes);
        if (n > 0) {
                s->bytes_read += (uint64_t)n;
                d->stats.bytes_in += (uint64_t)n;
                socket_touch(s);
                socket_emit_data(s, d->scratch, (size_t)n);
                return;
        }
        if (n == 0) {
                socket_on_eof(s);
                return;
        }
        if (errno == EAGAIN || errno == EINTR)
                return;
        socket_fail(s, netd_nerr_sys(errno, "read", NULL, -1));
}

/* Reports the unsent queue's size to the flow counts (flow.h). */
static void socket_account(struct netd_socket *s)
{
        netd_flow_account(s->h.daemon, s->h.owner, &s->counted, socket_queued(s));
}

/* Completes the writes (and the end) that are done. */
static void socket_complete_writes(struct netd_socket *s)
{
        struct netd_write *w;

        while ((w = TAILQ_FIRST(&s->writes))) {
                if (w->is_end ? !s->fin_sent : w->end > s->flushed)
                        break;
                TAILQ_REMOVE(&s->writes, w, link);
                (void)netd_req_ok_true(w->req);
                free(w);
        }
}

static void socket_maybe_close(struct netd_socket *s)
{
        if (s->state == NETD_SOCKET_OPEN && s->read_eof && s->fin_sent)
                socket_close(s, false);
}

static void socket_try_write(struct netd_socket *s)
{
        struct netd_daemon *d = s->h.daemon;

        if (s->state != NETD_SOCKET_OPEN)
                return;
        while (socket_queued(s) > 0) {
                int n = evbuffer_write(s->wbuf, s->fd);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        socket_fail(s, netd_nerr_sys(errno, "write", NULL, -1));
                        return;
                }
                s->flushed += (uint64_t)n;
                d->stats.bytes_out += (uint64_t)n;
                socket_touch(s);
        }
        /* A pump into this socket waits for the bytes queued before it (pump.h "held"). */
        if (s->att_tx)
                netd_pump_set_held(s->att_tx, socket_queued(s) > 0);
        if (s->pipe_in)
                netd_pump_set_held(s->pipe_in, socket_queued(s) > 0);
        if (socket_queued(s) > 0) {
                if (!socket_want_write(s))
                        return;
        } else {
                socket_stop_write(s);
                /* The FIN follows every byte: the queue's and those of a pump into the fd. */
                if (s->end_requested && !s->fin_sent && !s->att_tx && !s->pipe_in && !s->pipe_src) {
                        if (shutdown(s->fd, SHUT_WR) < 0 && errno != ENOTCONN) {
                                socket_fail(s, netd_nerr_sys(errno, "shutdown", NULL, -1));
                                return;
                        }
                        s->fin_sent = true;
                }
        }
        socket_account(s);
        socket_complete_writes(s);
        if (s->need_drain && socket_queued(s) == 0) {
                s->need_drain = false;
                socket_emit_simple(s, "socket.drain");
        }
        socket_maybe_close(s);
}

void netd_socket_apply_options(struct netd_socket *s)
{
        int nodelay = s->opt_no_delay, keepalive = s->opt_keep_alive;

        if (s->fd < 0 || s->state != NETD_SOCKET_OPEN)
                return;
        (void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay));
        (void)setsockopt(s->fd, SOL_SOCKET, SO_KEEPALIVE, &keepalive, sizeof(keepalive));
        if (keepalive) {
                /* The kernel counts seconds: Node floors the milliseconds, and so do we. */
                int idle = (int)(s->opt_keep_alive_delay_ms / 1000);
                int intvl = (int)(s->opt_keep_alive_interval_ms / 1000);
                int cnt = (int)s->opt_keep_alive_count;

                if (idle > 0)
                        (void)setsockopt(s->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
                if (intvl > 0)
                        (void)setsockopt(s->fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
                if (cnt > 0)
                        (void)setsockopt(s->fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
        }
}

static void socket_on_connected(struct netd_socket *s)
{
        (void)netd_addr_of_fd(s->fd, false, &s->local);
        (void)netd_addr_of_fd(s->fd, true, &s->remote);
        s->state = NETD_SOCKET_OPEN;
        s->ever_connected = true;
        if (s->ev_attempt)
                event_del(s->ev_attempt);
        /* Options cached before the connect apply before 'connect' (Node). */
        netd_socket_apply_options(s);
        if (s->addrs) {
                evutil_freeaddrinfo(s->addrs);
                s->addrs = s->next_addr = NULL;
        }
        socket_emit_simple(s, "socket.connect");
        socket_emit_simple(s, "socket.ready");
        socket_touch(s);
        if (s->reset_on_connect) {
                (void)netd_socket_reset(s);
                return;
        }
        if (s->attached)
                socket_attach_start(s);
        /* Pipes waiting for this connection: into its destination, and into s. */
        if (s->pipe_dst)
                socket_pipe_connected(s->pipe_dst);
        if (s->pipe_src)
                socket_pipe_connected(s);
        netd_socket_update_reading(s);
        socket_try_write(s);
}

static void socket_write_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_socket *s = arg;

        if (s->state == NETD_SOCKET_CONNECTING) {
                int err = 0;
                socklen_t len = sizeof(err);

                if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err == 0) {
                        socket_on_connected(s);
                        return;
                }
                if (err == EINPROGRESS)
                        return;
                if (s->path) {
                        socket_fail(s, netd_nerr_sys_path(err, "connect", s->path, s->path_len));
                        return;
                }
                socket_attempt_failed(s, err);
                return;
        }
        socket_try_write(s);
}

static int socket_set_fd(struct netd_socket *s, int fd)
{
        struct event_base *base = s->h.daemon->base;

        s->fd = fd;
        s->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, socket_read_cb, s);
        if (!s->ev_read)
                return -ENOMEM;
        return 0;
}

static void socket_drop_fd(struct netd_socket *s)
{
        if (s->ev_read)
                event_free(s->ev_read);
        if (s->ev_write)
                event_free(s->ev_write);
        s->ev_read = s->ev_write = NULL;
        if (s->fd >= 0) {
                close(s->fd);
                netd_daemon_fd_release(s->h.daemon);
        }
        s->fd = -1;
}

/* socket() that keeps the daemon's descriptor reserve: -1 with errno EMFILE past it. */
static int socket_open_fd(struct netd_socket *s, int family)
{
        int fd;

        if (netd_daemon_fd_take(s->h.daemon) < 0) {
                errno = EMFILE;
                return -1;
        }
        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                int err = errno;

                netd_daemon_fd_release(s->h.daemon);
                errno = err;
        }
        return fd;
}

/* Records err (stolen) as the failure of one connect attempt. */
static void socket_record_error(struct netd_socket *s, json_t *err)
{
        if (!s->attempt_errors)
                s->attempt_errors = json_array();
        if (!s->attempt_errors || json_array_append_new(s->attempt_errors, err) < 0)
                json_decref(err);
}

/*
 * Fails the socket once every attempt failed: the one error, or Node's
 * AggregateError (code of the first, every attempt's error in "errors").
 */
static void socket_connect_failed(struct netd_socket *s)
{
        size_t n = s->attempt_errors ? json_array_size(s->attempt_errors) : 0;
        json_t *err;

        if (n == 0) {
                err = netd_nerr_sys(ECONNREFUSED, "connect", s->host, s->port);
        } else if (n == 1) {
                err = json_incref(json_array_get(s->attempt_errors, 0));
        } else {
                json_t *first = json_array_get(s->attempt_errors, 0);

                err = json_pack("{s:s,s:O,s:O}", "message",
                                "AggregateError: all connection attempts failed", "code",
                                json_object_get(first, "code"), "errors", s->attempt_errors);
        }
        s->state = NETD_SOCKET_CONNECTING;
        socket_fail(s, err);
}

/* Ends the attempt in progress with err (an errno) and tries the next address. */
static void socket_attempt_failed(struct netd_socket *s, int err)
{
        socket_record_error(s, netd_nerr_sys(err, "connect", s->remote.address, s->port));
        if (s->ev_attempt)
                event_del(s->ev_attempt);
        socket_drop_fd(s);
        if (s->next_addr)
                s->next_addr = s->next_addr->ai_next;
        if (s->attempts_left > 0)
                s->attempts_left--;
        socket_connect_next(s);
}

static void socket_attempt_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
        /* Node's connectionAttemptTimeout: this address is abandoned with ETIMEDOUT. */
        socket_attempt_failed(arg, ETIMEDOUT);
}

/* Binds fd to localAddress/localPort. Returns 0, or records the 'bind' error and returns -1. */
static int socket_bind_local(struct netd_socket *s, int fd, int family)
{
        struct sockaddr_storage ss;
        socklen_t len;
        const char *ip = s->copt.local_address[0] ? s->copt.local_address
                         : family == AF_INET6     ? "::"
                                                  : "0.0.0.0";

        if (!s->copt.local_address[0] && s->copt.local_port == 0)
                return 0;
        if (netd_addr_to_sockaddr(ip, s->copt.local_port, &ss, &len) < 0 ||
            ss.ss_family != family) {
                socket_record_error(s, netd_nerr_sys(EINVAL, "bind", ip, s->copt.local_port));
                return -1;
        }
        if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
                socket_record_error(s, netd_nerr_sys(errno, "bind", ip, s->copt.local_port));
                return -1;
        }
        return 0;
}

/*
 * Starts an attempt on each remaining address in turn until one is in
 * progress or connected. With happy eyeballs, every attempt but the last
 * gets attempt_timeout_ms; a late success of an abandoned attempt can't
 * arrive since its fd is closed.
 */
static void socket_connect_next(struct netd_socket *s)
{
        for (; s->next_addr && s->attempts_left > 0;
             s->next_addr = s->next_addr->ai_next, s->attempts_left--) {
                struct evutil_addrinfo *ai = s->next_addr;
                int fd;

                (void)netd_addr_from_sockaddr(ai->ai_addr, &s->remote);
                if (s->attempted) {
                        char text[96];

                        (void)snprintf(text, sizeof(text), "%s:%d", s->remote.address, s->port);
                        (void)json_array_append_new(s->attempted, json_string(text));
                }
                if (s->h.owner) {
                        json_t *deny = NULL; /* the policy's connect allow list (auth.h) */

                        if (netd_auth_check_connect(s->h.owner, ai->ai_addr, &deny) < 0) {
                                socket_record_error(s, deny);
                                continue;
                        }
                }
                fd = socket_open_fd(s, ai->ai_family);
                if (fd < 0) {
                        socket_record_error(
                                s, netd_nerr_sys(errno, "connect", s->remote.address, s->port));
                        continue;
                }
                if (socket_set_fd(s, fd) < 0) {
                        socket_drop_fd(s);
                        socket_record_error(s, netd_nerr_sys(ENOMEM, "connect", NULL, -1));
                        break;
                }
                if (socket_bind_local(s, fd, ai->ai_family) < 0) {
                        socket_drop_fd(s);
                        continue;
                }
                s->state = NETD_SOCKET_CONNECTING;
                if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                        socket_on_connected(s);
                        return;
                }
                if (errno == EINPROGRESS) {
                        if (!socket_want_write(s))
                                return;
                        if (s->attempted && s->attempts_left > 1 && !s->ev_attempt)
                                s->ev_attempt = evtimer_new(s->h.daemon->base,
                                                            socket_attempt_timeout_cb, s);
                        /* Without the timer (no memory) the attempt runs to its own end. */
                        if (s->attempted && s->attempts_left > 1 && s->ev_attempt) {
                                struct timeval tv = {
                                        (time_t)(s->copt.attempt_timeout_ms / 1000),
                                        (suseconds_t)(s->copt.attempt_timeout_ms % 1000) * 1000
                                };

                                event_add(s->ev_attempt, &tv);
                        }
                        return;
                }
                socket_record_error(s, netd_nerr_sys(errno, "connect", s->remote.address, s->port));
                socket_drop_fd(s);
        }
        socket_connect_failed(s);
}

static bool same_address(const struct evutil_addrinfo *a, const struct evutil_addrinfo *b)
{
        return a->ai_addrlen == b->ai_addrlen && memcmp(a->ai_addr, b->ai_addr, a->ai_addrlen) == 0;
}

/*
 * Starts connecting to addrs (owned from now on). With autoSelectFamily and
 * several addresses, Node's order: duplicates removed, the first record's
 * family first, then the families alternating. Otherwise only the first
 * address is tried, as Node's single lookup result would be.
 */
static void socket_connect_addrs(struct netd_socket *s, struct evutil_addrinfo *addrs)
{
        struct evutil_addrinfo *uniq[64], *dups = NULL, **dup_tail = &dups;
        struct evutil_addrinfo *fam[2][64];
        size_t n = 0, nf[2] = { 0, 0 };
        bool multi;

        s->addrs = s->next_addr = addrs;
        s->attempt_errors = (json_decref(s->attempt_errors), NULL);
        s->attempted = (json_decref(s->attempted), NULL);
        for (struct evutil_addrinfo *ai = addrs, *next; ai; ai = next) {
                bool dup = false;

                next = ai->ai_next;
                for (size_t i = 0; i < n && !dup; i++)
                        dup = same_address(uniq[i], ai);
                if (dup || n == 64) {
                        *dup_tail = ai;
                        dup_tail = &ai->ai_next;
                        continue;
                }
                uniq[n++] = ai;
        }
        *dup_tail = NULL;
        multi = s->copt.auto_select_family && n > 1;
        if (multi) {
                int first = uniq[0]->ai_family;
                size_t k = 0;

                for (size_t i = 0; i < n; i++) {
                        int f = uniq[i]->ai_family == first ? 0 : 1;

                        fam[f][nf[f]++] = uniq[i];
                }
                for (size_t i = 0; k < n; i++) {
                        if (i < nf[0])
                                uniq[k++] = fam[0][i];
                        if (i < nf[1])
                                uniq[k++] = fam[1][i];
                }
                s->attempted = json_array();
        }
        /* Relink: the unique addresses in order, then the duplicates (freed with the list). */
        for (size_t i = 0; i + 1 < n; i++)
                uniq[i]->ai_next = uniq[i + 1];
        if (n > 0)
                uniq[n - 1]->ai_next = dups;
        s->addrs = s->next_addr = n > 0 ? uniq[0] : dups;
        s->attempts_left = multi ? (unsigned)n : 1;
        socket_connect_next(s);
}

static void socket_lookup_cb(int result, struct evutil_addrinfo *res, void *arg)
{
        struct netd_socket *s = arg;

        s->lookup = NULL;
        if (result != 0) {
                json_t *err = netd_nerr_eai(result, s->host);

                socket_emit(s, "socket.lookup",
                            json_pack("{s:I,s:o,s:n,s:n,s:s}", "socket", (json_int_t)s->h.id, "err",
                                      netd_rpc_error_from_nerr(json_deep_copy(err)), "address",
                                      "family", "host", s->host));
                socket_fail(s, err);
                return;
        }
        /* Node emits 'lookup' once per address with autoSelectFamily, else once. */
        for (struct evutil_addrinfo *ai = res; ai;
             ai = s->copt.auto_select_family ? ai->ai_next : NULL) {
                struct netd_addr a;

                if (netd_addr_from_sockaddr(ai->ai_addr, &a) < 0)
                        continue;
                socket_emit(s, "socket.lookup",
                            json_pack("{s:I,s:n,s:s,s:i,s:s}", "socket", (json_int_t)s->h.id, "err",
                                      "address", a.address, "family", a.family, "host", s->host));
        }
        socket_connect_addrs(s, res);
}

void netd_connect_opts_init(struct netd_connect_opts *o)
{
        *o = (struct netd_connect_opts){
                .auto_select_family = true,
                .attempt_timeout_ms = NETD_ATTEMPT_TIMEOUT_MS_DEFAULT,
        };
}

int netd_socket_connect(struct netd_socket *s, const char *host, int port,
                        const struct netd_connect_opts *opts)
{
        struct evutil_addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_protocol = IPPROTO_TCP,
        };
        char portstr[8];
        int r;

        if (s->state != NETD_SOCKET_NEW)
                return -EBUSY;
        s->copt = *opts;
        /* Node: an explicit family or a localAddress turns happy eyeballs off. */
        if (s->copt.family != 0 || s->copt.local_address[0])
                s->copt.auto_select_family = false;
        if (s->copt.attempt_timeout_ms < 10)
                s->copt.attempt_timeout_ms = 10;
        hints.ai_family = s->copt.family == 4   ? AF_INET
                          : s->copt.family == 6 ? AF_INET6
                                                : AF_UNSPEC;
        free(s->host);
        s->host = strdup(host);
        if (!s->host)
                return -ENOMEM;
        s->port = port;
        socket_touch(s);
        (void)snprintf(portstr, sizeof(portstr), "%d", port);
        if (netd_isip(host, strlen(host))) {
                struct evutil_addrinfo *res = NULL;

                /* A numeric host never blocks: no lookup, and no 'lookup' event (Node). */
                hints.ai_flags = EVUTIL_AI_NUMERICHOST | EVUTIL_AI_NUMERICSERV;
                r = evutil_getaddrinfo(host, portstr, &hints, &res);
                if (r != 0 || !res)
                        return r == EVUTIL_EAI_FAMILY || r == EVUTIL_EAI_NONAME ? -EAFNOSUPPORT
                                                                                : -EINVAL;
                socket_connect_addrs(s, res);
                return 0;
        }
        s->state = NETD_SOCKET_LOOKUP;
        r = netd_resolve_start(s->h.daemon, s->h.owner ? s->h.owner->id : 0, host, port,
                               hints.ai_family, s->copt.hints, socket_lookup_cb, s, &s->lookup);
        if (r < 0)
                return r;
        return 0;
}

int netd_socket_connect_path(struct netd_socket *s, struct netd_ipc_addr *addr)
{
        int fd;

        if (s->state != NETD_SOCKET_NEW)
                return -EBUSY;
        free(s->path);
        s->path = addr->path;
        s->path_len = addr->path_len;
        addr->path = NULL;
        s->state = NETD_SOCKET_CONNECTING;
        s->ipc = true;
        socket_touch(s);
        fd = socket_open_fd(s, AF_UNIX);
        if (fd < 0 || socket_set_fd(s, fd) < 0) {
                int err = fd < 0 ? errno : ENOMEM;

                if (fd >= 0)
                        socket_drop_fd(s);
                socket_fail(s, netd_nerr_sys_path(err, "connect", s->path, s->path_len));
                return 0;
        }
        if (connect(fd, (struct sockaddr *)&addr->sa, addr->len) == 0) {
                socket_on_connected(s);
                return 0;
        }
        if (errno == EINPROGRESS) {
                (void)socket_want_write(s);
                return 0;
        }
        /*
         * EAGAIN: the server's backlog is full. A UNIX socket is then not
         * connecting (writability would never mean connected): an error, as
         * libuv's uv_pipe_connect() makes it for Node.
         */
        socket_fail(s, netd_nerr_sys_path(errno, "connect", s->path, s->path_len));
        return 0;
}

int netd_socket_adopt(struct netd_socket *s, int fd, uint64_t server_id)
{
        int r;

        r = socket_set_fd(s, fd);
        if (r < 0)
                return r;
        s->server = server_id;
        {
                int domain = 0;
                socklen_t len = sizeof(domain);

                s->ipc = getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
                         domain == AF_UNIX;
        }
        (void)netd_addr_of_fd(fd, false, &s->local);
        (void)netd_addr_of_fd(fd, true, &s->remote);
        s->state = NETD_SOCKET_OPEN;
        s->ever_connected = true;
        return 0;
}

static void socket_queue_write(struct netd_socket *s, struct netd_req *req, bool is_end)
{
        struct netd_write *w;

        if (!req)
                return;
        w = calloc(1, sizeof(*w));
        if (!w) {
                (void)netd_req_fail_errno(req, ENOMEM, "write", NULL, -1);
                return;
        }
        netd_req_hold(req, is_end ? "socket end" : "socket write queue");
        w->req = req;
        w->end = s->queued;
        w->is_end = is_end;
        TAILQ_INSERT_TAIL(&s->writes, w, link);
}

/* Writes of at least this many bytes are queued by reference, not copied. */
#define WRITE_BY_REFERENCE_MIN (16 * 1024)

static void write_buffer_free(const void *data, size_t len, void *arg)
{
        (void)len;
        (void)arg;
        free((void *)data);
}

int netd_socket_write(struct netd_socket *s, uint8_t *data, size_t len, struct netd_req *req,
                      struct netd_flow_refusal *ret_refusal)
{
        int r;

        if (s->state == NETD_SOCKET_CLOSED) {
                free(data);
                if (req)
                        (void)netd_req_fail_err(req, NETD_ERR_STREAM_DESTROYED, NULL);
                return 0;
        }
        if (s->read_eof && !s->allow_half_open) {
                /* Node's writeAfterFIN: an EPIPE that also destroys the socket. */
                json_t *err =
                        json_pack("{s:s,s:s}", "message",
                                  "This socket has been ended by the other party", "code", "EPIPE");

                free(data);
                if (req)
                        (void)netd_req_fail_node(req, json_deep_copy(err));
                socket_fail(s, err);
                return 0;
        }
        if (s->end_requested) {
                /* Node's writeAfterEnd: the callback gets the error and the stream is destroyed. */
                free(data);
                if (req)
                        (void)netd_req_fail_err(req, NETD_ERR_STREAM_WRITE_AFTER_END, NULL);
                socket_fail(s, netd_nerr(NETD_ERR_STREAM_WRITE_AFTER_END, NULL));
                return 0;
        }
        if (len > 0 &&
            netd_flow_admit(s->h.daemon, s->h.owner, socket_queued(s), len, ret_refusal) < 0) {
                free(data);
                s->h.daemon->stats.writes_refused++;
                return -ENOBUFS;
        }
        if (!s->wbuf && !(s->wbuf = evbuffer_new())) {
                free(data);
                if (req)
                        (void)netd_req_fail_errno(req, ENOMEM, "write", NULL, -1);
                return 0;
        }
        if (len >= WRITE_BY_REFERENCE_MIN) {
                r = evbuffer_add_reference(s->wbuf, data, len, write_buffer_free, NULL);
                if (r < 0)
                        free(data);
        } else {
                r = evbuffer_add(s->wbuf, data, len);
                free(data);
        }
        if (r < 0) {
                if (req)
                        (void)netd_req_fail_errno(req, ENOMEM, "write", NULL, -1);
                return 0;
        }
        s->queued += len;
        /* As in Node, write() "returns false" once the queue reaches the high-water mark. */
        if (socket_queued(s) >= s->high_water_mark)
                s->need_drain = true;
        socket_account(s);
        socket_queue_write(s, req, false);
        socket_try_write(s);
        return 0;
}

void netd_socket_end(struct netd_socket *s, struct netd_req *req)
{
        if (s->state == NETD_SOCKET_CLOSED) {
                if (req)
                        (void)netd_req_fail_err(req, NETD_ERR_STREAM_DESTROYED, NULL);
                return;
        }
        if (s->end_requested && s->fin_sent) {
                if (req)
                        (void)netd_req_ok_true(req);
                return;
        }
        s->end_requested = true;
        socket_queue_write(s, req, true);
        socket_try_write(s);
}

void netd_socket_destroy(struct netd_socket *s, json_t *err)
{
        if (s->state == NETD_SOCKET_CLOSED) {
                json_decref(err);
                return;
        }
        if (err)
                socket_fail(s, err);
        else
                socket_close(s, false);
}

int netd_socket_reset(struct netd_socket *s)
{
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };

        if (s->ipc)
                return -EPROTOTYPE; /* no RST on a UNIX socket: ERR_INVALID_HANDLE_TYPE */
        if (s->state == NETD_SOCKET_CLOSED || s->state == NETD_SOCKET_NEW)
                return -ENOTCONN;
        if (s->state != NETD_SOCKET_OPEN) {
                s->reset_on_connect = true;
                return 0;
        }
        /* Closing with a zero linger sends RST instead of FIN; queued data is discarded. */
        (void)setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        socket_close(s, false);
        return 0;
}

int netd_socket_reopen(struct netd_socket *s)
{
        int r;

        if (s->state != NETD_SOCKET_CLOSED)
                return s->state == NETD_SOCKET_NEW ? 0 : -EBUSY;
        if (!s->h.closed)
                return -EBUSY; /* its close event is still to come */
        r = netd_handle_reopen(&s->h);
        if (r < 0)
                return r;
        s->state = NETD_SOCKET_NEW;
        s->queued = s->flushed = s->bytes_read = 0;
        s->local = s->remote = (struct netd_addr){ .family = 0 };
        s->error = (json_decref(s->error), NULL);
        s->attempt_errors = (json_decref(s->attempt_errors), NULL);
        s->attempted = (json_decref(s->attempted), NULL);
        s->read_eof = s->end_requested = s->fin_sent = s->need_drain = false;
        s->attached = s->pipe_end = false;
        s->had_error = s->ever_connected = s->reset_on_connect = s->ipc = false;
        if (s->encoding >= 0)
                netd_strdec_init(&s->dec, s->encoding);
        return 0;
}

/* Fails every waiting write with a copy of err (stolen). */
static void socket_fail_writes(struct netd_socket *s, json_t *err)
{
        struct netd_write *w;

        while ((w = TAILQ_FIRST(&s->writes))) {
                TAILQ_REMOVE(&s->writes, w, link);
                (void)netd_req_fail_node(w->req, json_deep_copy(err));
                free(w);
        }
        json_decref(err);
}

/* The deferred half of a close (handle.h): 'error' if any, then 'close'. */
static void socket_closed(struct netd_handle *h)
{
        struct netd_socket *s = (struct netd_socket *)h;
        uint64_t server = s->server;
        struct netd_daemon *d = s->h.daemon;

        if (s->error) {
                socket_emit(s, "socket.error",
                            json_pack("{s:I,s:o}", "socket", (json_int_t)s->h.id, "error",
                                      netd_rpc_error_from_nerr(json_deep_copy(s->error))));
        }
        socket_emit(
                s, "socket.close",
                json_pack("{s:I,s:b}", "socket", (json_int_t)s->h.id, "hadError", s->had_error));
        netd_handle_finish(&s->h);
        /* s may be freed by now (closed_keep 0): use only the copies. */
        if (server)
                netd_server_connection_closed(d, server);
}

/* Gives back the descriptors attach and pipe took from the daemon's budget. */
static void socket_release_fds(struct netd_socket *s)
{
        for (; s->fds_taken > 0; s->fds_taken--)
                netd_daemon_fd_release(s->h.daemon);
}

/* Takes n descriptors of the daemon's budget (the reserve kept): 0 or -EMFILE. */
static int socket_take_fds(struct netd_socket *s, unsigned n)
{
        for (unsigned i = 0; i < n; i++) {
                if (netd_daemon_fd_take(s->h.daemon) < 0) {
                        for (; i > 0; i--)
                                netd_daemon_fd_release(s->h.daemon);
                        return -EMFILE;
                }
        }
        s->fds_taken += n;
        return 0;
}

/* Gives back the two descriptors a pipe into s took (its pump's kernel pipe). */
static void socket_pipe_release_fds(struct netd_socket *s)
{
        if (s->fds_taken >= 2) {
                netd_daemon_fd_release(s->h.daemon);
                netd_daemon_fd_release(s->h.daemon);
                s->fds_taken -= 2;
        }
}

/*
 * Unlinks s from any socket.pipe: as a source, the pump keeps delivering
 * what it took, then goes (DRAINED); as a destination, the pump goes now
 * with the bytes it held (lost with s, like its unsent queue) and the
 * source's bytes go back to socket.data.
 */
static void socket_unlink_pipes(struct netd_socket *s)
{
        if (s->pipe_dst) {
                struct netd_socket *dst = s->pipe_dst;

                if (dst->pipe_in)
                        (void)netd_pump_detach_src(dst->pipe_in);
                else
                        socket_pipe_release_fds(dst); /* the pump was never made */
                dst->pipe_src = NULL;
                s->pipe_dst = NULL;
        }
        if (s->pipe_in || s->pipe_src) {
                struct netd_socket *src = s->pipe_src;

                s->pipe_in = netd_pump_free(s->pipe_in);
                s->pipe_src = NULL;
                if (src) {
                        src->pipe_dst = NULL;
                        netd_socket_update_reading(src);
                }
                socket_pipe_release_fds(s);
        }
}

/* Stops the attach pumps and closes netd's end of the pair. */
static void socket_detach(struct netd_socket *s)
{
        s->att_rx = netd_pump_free(s->att_rx);
        s->att_tx = netd_pump_free(s->att_tx);
        if (s->pair >= 0)
                close(s->pair);
        s->pair = -1;
}

/* Stops everything that could still touch the socket: lookup, timers, fd. */
static void socket_stop_io(struct netd_socket *s)
{
        socket_unlink_pipes(s);
        socket_detach(s);
        socket_release_fds(s);
        netd_resolve_cancel(s->lookup);
        s->lookup = NULL;
        if (s->ev_timeout)
                event_del(s->ev_timeout);
        if (s->ev_attempt)
                event_del(s->ev_attempt);
        socket_drop_fd(s);
        s->state = NETD_SOCKET_CLOSED;
}

/* Tears the socket down now; 'error' and 'close' follow on a later turn (socket_closed). */
static void socket_close(struct netd_socket *s, bool had_error)
{
        json_t *err;

        if (s->state == NETD_SOCKET_CLOSED)
                return;
        if (s->addrs) {
                evutil_freeaddrinfo(s->addrs);
                s->addrs = s->next_addr = NULL;
        }
        s->had_error = had_error;
        if (!s->ever_connected)
                err = netd_nerr(NETD_ERR_SOCKET_CLOSED_BEFORE_CONNECTION, NULL);
        else if (s->error)
                err = json_deep_copy(s->error);
        else
                err = netd_nerr(NETD_ERR_STREAM_DESTROYED, NULL);
        socket_stop_io(s);
        if (s->wbuf)
                evbuffer_drain(s->wbuf, evbuffer_get_length(s->wbuf));
        socket_account(s);
        socket_fail_writes(s, err);
        netd_handle_close_later(&s->h);
}

static void socket_abandon(struct netd_handle *h)
{
        struct netd_socket *s = (struct netd_socket *)h;
        struct netd_write *w;

        while ((w = TAILQ_FIRST(&s->writes))) {
                TAILQ_REMOVE(&s->writes, w, link);
                netd_req_drop(w->req, "its socket is abandoned");
                free(w);
        }
        socket_stop_io(s);
        if (s->wbuf)
                evbuffer_drain(s->wbuf, evbuffer_get_length(s->wbuf));
        socket_account(s);
}

static void socket_free(struct netd_handle *h)
{
        struct netd_socket *s = (struct netd_socket *)h;

        if (s->state != NETD_SOCKET_CLOSED)
                socket_abandon(h);
        if (s->addrs)
                evutil_freeaddrinfo(s->addrs);
        if (s->ev_timeout)
                event_free(s->ev_timeout);
        if (s->ev_attempt)
                event_free(s->ev_attempt);
        if (s->wbuf)
                evbuffer_free(s->wbuf);
        json_decref(s->error);
        json_decref(s->attempt_errors);
        json_decref(s->attempted);
        free(s->host);
        free(s->path);
        free(s);
}

static const struct netd_handle_ops socket_ops = {
        .abandon = socket_abandon,
        .closed = socket_closed,
        .free = socket_free,
};

int netd_socket_new(struct netd_daemon *d, struct netd_owner *owner, struct netd_socket **ret)
{
        struct netd_socket *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        s->fd = -1;
        s->pair = -1;
        s->encoding = -1;
        s->high_water_mark = d->limits.write_high_bytes;
        s->opt_keep_alive_interval_ms = 1000;
        s->opt_keep_alive_count = 10;
        TAILQ_INIT(&s->writes);
        /* The write queue and the timers are made when first needed. */
        r = netd_handle_register(&s->h, d, owner, NETD_HANDLE_SOCKET, &socket_ops);
        if (r < 0) {
                free(s);
                return r;
        }
        *ret = s;
        return 0;
}

bool netd_socket_stop_step(struct netd_socket *s, uint64_t *ret_unsent)
{
        int outq = 0;

        if (s->state == NETD_SOCKET_CLOSED)
                return true;
        if (s->state != NETD_SOCKET_OPEN) {
                if (socket_queued(s) == 0) {
                        socket_close(s, false);
                        return true;
                }
                *ret_unsent += socket_queued(s); /* written once connected */
                return false;
        }
        /* A pipe into s stops taking bytes: what it holds goes, then the FIN. */
        if (s->pipe_src)
                netd_socket_unpipe(s->pipe_src);
        if (!s->end_requested) {
                s->end_requested = true;
                /* An attached client's further writes fail (EPIPE); what it wrote still goes. */
                if (s->pair >= 0)
                        (void)shutdown(s->pair, SHUT_RD);
                socket_try_write(s);
                if (s->state == NETD_SOCKET_CLOSED)
                        return true;
        }
        if (!s->ipc && ioctl(s->fd, SIOCOUTQ, &outq) == 0 && outq > 0)
                *ret_unsent += (uint64_t)outq;
        if (!s->fin_sent || outq > 0) {
                *ret_unsent += socket_queued(s);
                return false;
        }
        socket_close(s, false);
        return true;
}

const char *netd_socket_ready_state(const struct netd_socket *s)
{
        switch (s->state) {
        case NETD_SOCKET_NEW:
        case NETD_SOCKET_CLOSED:
                return "closed";
        case NETD_SOCKET_LOOKUP:
        case NETD_SOCKET_CONNECTING:
                return "opening";
        case NETD_SOCKET_OPEN:
                if (s->read_eof && !s->end_requested)
                        return "writeOnly";
                if (s->end_requested && !s->read_eof)
                        return "readOnly";
                if (s->read_eof && s->end_requested)
                        return "closed";
                return "open";
        case _NETD_SOCKET_STATE_MAX:
        case _NETD_SOCKET_STATE_INVALID:
                break;
        }
        return "closed";
}

int netd_socket_upgrade_restore(struct netd_daemon *d, struct netd_owner *owner, uint64_t id,
                                bool closed, int fd, struct netd_socket **ret)
{
        struct netd_socket *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        s->fd = -1;
        s->pair = -1;
        s->encoding = -1;
        TAILQ_INIT(&s->writes);
        r = netd_handle_upgrade_restore(&s->h, d, owner, NETD_HANDLE_SOCKET, &socket_ops, id,
                                        closed);
        if (r < 0) {
                free(s);
                return r;
        }
        if (fd >= 0) {
                d->fds_open++;
                if (socket_set_fd(s, fd) < 0) {
                        s->fd = -1;
                        close(fd);
                        d->fds_open--;
                        netd_handle_free(&s->h);
                        return -ENOMEM;
                }
        }
        *ret = s;
        return 0;
}

void netd_socket_upgrade_resume(struct netd_socket *s)
{
        socket_account(s);
        if (s->timeout_ms > 0) {
                int64_t ms = s->timeout_ms;

                s->timeout_ms = 0;
                (void)netd_socket_set_timeout(s, ms); /* a fresh idle period */
        }
        if (s->state == NETD_SOCKET_CONNECTING) {
                /* The connect goes on in the kernel: its completion is writability. */
                (void)socket_want_write(s);
                return;
        }
        if (s->state != NETD_SOCKET_OPEN)
                return;
        netd_socket_update_reading(s);
        if (socket_queued(s) > 0 || (s->end_requested && !s->fin_sent) || !TAILQ_EMPTY(&s->writes))
                socket_try_write(s);
}

/*
 * Attached sockets and socket.pipe. One callback serves every pump a socket
 * owns (att_rx, att_tx, pipe_in): it keeps the counters (bytesRead when a
 * pump takes the peer's bytes, bytesWritten when it takes bytes for the
 * peer, and the bytes handed to the kernel as they go) and turns the end of
 * a pump into the socket's end, FIN or error. The pump may be freed inside
 * it (pump.h).
 */
static void socket_attached_rx_cb(struct netd_socket *s, enum netd_pump_event ev, size_t n)
{
        switch (ev) {
        case NETD_PUMP_READ:
                s->bytes_read += n;
                s->h.daemon->stats.bytes_in += n;
                socket_touch(s);
                return;
        case NETD_PUMP_WROTE:
                return;
        case NETD_PUMP_EOF:
        case NETD_PUMP_DRAINED:
                /* The peer's FIN, every byte delivered: the client reads EOF, 'end' still goes. */
                s->att_rx = netd_pump_free(s->att_rx);
                if (s->pair >= 0) {
                        (void)shutdown(s->pair, SHUT_WR);
                        /*
                         * Without allowHalfOpen Node ends our side too: what the
                         * client wrote still goes, then the FIN; its later
                         * writes fail with EPIPE.
                         */
                        if (!s->allow_half_open)
                                (void)shutdown(s->pair, SHUT_RD);
                }
                socket_on_eof(s); /* 'end', and our end without allowHalfOpen, as unattached */
                return;
        case NETD_PUMP_SRC_ERROR:
                s->att_rx = netd_pump_free(s->att_rx);
                socket_fail(s, netd_nerr_sys((int)n, "read", NULL, -1));
                return;
        case NETD_PUMP_DST_ERROR:
                /* The client closed its end while the peer still sends: said, never dropped. */
                s->att_rx = netd_pump_free(s->att_rx);
                socket_fail(s, netd_nerr_sys((int)n, "write", NULL, -1));
                return;
        case _NETD_PUMP_EVENT_MAX:
        case _NETD_PUMP_EVENT_INVALID:
                break;
        }
}

/* n bytes a pump (attached or piped) wrote to s's peer: counted, writes completed. */
static void socket_pump_wrote(struct netd_socket *s, size_t n)
{
        s->flushed += n;
        s->h.daemon->stats.bytes_out += n;
        socket_touch(s);
        socket_complete_writes(s);
}

static void socket_attached_tx_cb(struct netd_socket *s, enum netd_pump_event ev, size_t n)
{
        switch (ev) {
        case NETD_PUMP_READ:
                s->queued += n;
                socket_touch(s);
                return;
        case NETD_PUMP_WROTE:
                socket_pump_wrote(s, n);
                return;
        case NETD_PUMP_EOF:
        case NETD_PUMP_DRAINED:
                /* The client's shutdown(SHUT_WR) or close is the socket's end: FIN after the bytes.
                 */
                s->att_tx = netd_pump_free(s->att_tx);
                s->end_requested = true;
                socket_try_write(s);
                return;
        case NETD_PUMP_SRC_ERROR:
                /* ECONNRESET: the client closed its end with the peer's bytes unread. */
                s->att_tx = netd_pump_free(s->att_tx);
                socket_fail(s, netd_nerr_sys(n == ECONNRESET ? EPIPE : (int)n, "write", NULL, -1));
                return;
        case NETD_PUMP_DST_ERROR:
                s->att_tx = netd_pump_free(s->att_tx);
                socket_fail(s, netd_nerr_sys((int)n, "write", NULL, -1));
                return;
        case _NETD_PUMP_EVENT_MAX:
        case _NETD_PUMP_EVENT_INVALID:
                break;
        }
}

/* The pump of a socket.pipe into s (its destination) from s->pipe_src. */
static void socket_pipe_cb(struct netd_socket *s, enum netd_pump_event ev, size_t n)
{
        struct netd_socket *src = s->pipe_src;
        bool end;

        switch (ev) {
        case NETD_PUMP_READ:
                if (src) {
                        src->bytes_read += n;
                        socket_touch(src);
                }
                s->h.daemon->stats.bytes_in += n;
                s->queued += n;
                return;
        case NETD_PUMP_WROTE:
                socket_pump_wrote(s, n);
                return;
        case NETD_PUMP_EOF:
                /* The source's FIN, every byte at s: the source's 'end', then s's with end. */
                end = src && src->pipe_end;
                s->pipe_in = netd_pump_free(s->pipe_in);
                s->pipe_src = NULL;
                socket_pipe_release_fds(s);
                if (src) {
                        src->pipe_dst = NULL;
                        socket_on_eof(src);
                }
                if (end && s->state != NETD_SOCKET_CLOSED)
                        netd_socket_end(s, NULL);
                else
                        socket_try_write(s);
                return;
        case NETD_PUMP_DRAINED:
        case NETD_PUMP_SRC_ERROR:
                /* Unpiped (or the source went) and delivered; or the source's read failed. */
                s->pipe_in = netd_pump_free(s->pipe_in);
                s->pipe_src = NULL;
                socket_pipe_release_fds(s);
                if (src) {
                        src->pipe_dst = NULL;
                        if (ev == NETD_PUMP_SRC_ERROR)
                                socket_fail(src, netd_nerr_sys((int)n, "read", NULL, -1));
                }
                socket_try_write(s);
                return;
        case NETD_PUMP_DST_ERROR:
                socket_fail(s, netd_nerr_sys((int)n, "write", NULL, -1));
                return;
        case _NETD_PUMP_EVENT_MAX:
        case _NETD_PUMP_EVENT_INVALID:
                break;
        }
}

static void socket_pump_cb(struct netd_pump *p, enum netd_pump_event ev, size_t n, void *arg)
{
        struct netd_socket *s = arg;

        if (p == s->att_rx)
                socket_attached_rx_cb(s, ev, n);
        else if (p == s->att_tx)
                socket_attached_tx_cb(s, ev, n);
        else if (p == s->pipe_in)
                socket_pipe_cb(s, ev, n);
}

/* Starts the attach pumps of a connected, attached socket; a failure fails the socket. */
static void socket_attach_start(struct netd_socket *s)
{
        struct event_base *base = s->h.daemon->base;
        int r = 0;

        if (s->state != NETD_SOCKET_OPEN || s->pair < 0)
                return;
        if (!s->read_eof && !s->att_rx)
                r = netd_pump_new(base, s->fd, s->pair, socket_pump_cb, s, &s->att_rx);
        if (r == 0 && !s->end_requested && !s->att_tx) {
                r = netd_pump_new(base, s->pair, s->fd, socket_pump_cb, s, &s->att_tx);
                /* socket.write's bytes queued before the attach go first. */
                if (r == 0)
                        netd_pump_set_held(s->att_tx, socket_queued(s) > 0);
        }
        if (r < 0) {
                socket_fail(s, netd_nerr_sys(-r, "splice", NULL, -1));
                return;
        }
        netd_socket_update_reading(s);
}

/* SO_SNDBUF asked for both ends of an attach socketpair (bytes). */
#define ATTACH_PAIR_SNDBUF_BYTES (2 * 1024 * 1024)

int netd_socket_attach(struct netd_socket *s, int *ret_fd)
{
        int sv[2];
        int r;

        if (s->state == NETD_SOCKET_CLOSED)
                return -ESHUTDOWN;
        if (s->attached)
                return -EISCONN;
        if (s->pipe_dst || s->pipe_src || s->pipe_in)
                return -EBUSY;
        /* Netd's end of the pair and the two pumps' pipes. */
        r = socket_take_fds(s, 5);
        if (r < 0)
                return r;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                r = -errno;
                socket_release_fds(s);
                return r;
        }
        /*
         * Larger socket buffers on both ends (the kernel caps them at
         * net.core.wmem_max): fewer wake-ups per byte; measured ~1.2x peer to
         * client on loopback. They hold bytes only while a side is slow.
         */
        (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &(int){ ATTACH_PAIR_SNDBUF_BYTES },
                         sizeof(int));
        (void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &(int){ ATTACH_PAIR_SNDBUF_BYTES },
                         sizeof(int));
        /* Only netd's end is non-blocking: the client's is an ordinary blocking socket. */
        (void)fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
        s->pair = sv[0];
        s->attached = true;
        /* Bytes a decoder held back (part of a character) were read: they go first. */
        if (s->encoding >= 0 && s->dec.npending > 0) {
                (void)write(s->pair, s->dec.pending, s->dec.npending);
                netd_strdec_init(&s->dec, s->encoding);
        }
        if (s->read_eof)
                (void)shutdown(s->pair, SHUT_WR); /* 'end' was sent: the client reads EOF */
        if (s->end_requested)
                (void)shutdown(s->pair, SHUT_RD); /* ended: the client's writes fail (EPIPE) */
        socket_attach_start(s);
        *ret_fd = sv[1];
        return 0;
}

/*
 * Makes the pump of the pipe into dst once both sockets are connected (a
 * pipe may be set up while either still connects; the source does not read
 * meanwhile). Returns 0 (also when not both connected yet) or -errno.
 */
static int socket_pipe_start(struct netd_socket *dst)
{
        struct netd_socket *src = dst->pipe_src;
        int r;

        if (!src || dst->pipe_in || src->state != NETD_SOCKET_OPEN ||
            dst->state != NETD_SOCKET_OPEN)
                return 0;
        r = netd_pump_new(dst->h.daemon->base, src->fd, dst->fd, socket_pump_cb, dst,
                          &dst->pipe_in);
        if (r < 0)
                return r;
        netd_pump_set_held(dst->pipe_in, socket_queued(dst) > 0);
        netd_socket_update_reading(src);
        return 0;
}

/* dst's pending pipe may start (one of its sockets connected); a failure fails dst. */
static void socket_pipe_connected(struct netd_socket *dst)
{
        int r;

        if (!dst->pipe_src)
                return;
        r = socket_pipe_start(dst);
        if (r < 0)
                socket_fail(dst, netd_nerr_sys(-r, "pipe", NULL, -1));
}

int netd_socket_pipe(struct netd_socket *src, struct netd_socket *dst, bool end)
{
        int r;

        if (src == dst)
                return -EINVAL;
        if (src->state == NETD_SOCKET_CLOSED || dst->state == NETD_SOCKET_CLOSED)
                return -ESHUTDOWN;
        if (src->attached || dst->attached)
                return -EISCONN;
        if (src->pipe_dst || dst->pipe_in || dst->pipe_src)
                return -EBUSY;
        /* Still connecting is fine (the pump starts once both are); never connected is not. */
        if (src->state == NETD_SOCKET_NEW || dst->state == NETD_SOCKET_NEW)
                return -ENOTCONN;
        if (dst->end_requested)
                return -EPIPE;
        if (!src->read_eof) {
                r = socket_take_fds(dst, 2);
                if (r < 0)
                        return r;
                dst->pipe_src = src;
                src->pipe_dst = dst;
                src->pipe_end = end;
                r = socket_pipe_start(dst);
                if (r < 0) {
                        dst->pipe_src = NULL;
                        src->pipe_dst = NULL;
                        socket_pipe_release_fds(dst);
                        return r;
                }
        }
        /*
         * Bytes a decoder held back were read before the pipe: they go first
         * (queued now, the pump runs on a later loop turn and waits for them).
         */
        if (src->encoding >= 0 && src->dec.npending > 0) {
                struct netd_flow_refusal fr;
                uint8_t *copy = malloc(src->dec.npending);

                if (copy)
                        memcpy(copy, src->dec.pending, src->dec.npending);
                r = copy ? netd_socket_write(dst, copy, src->dec.npending, NULL, &fr) : -ENOMEM;
                if (r < 0) {
                        /* Reported, and the socket stays as it was: no pipe. */
                        if (!src->read_eof)
                                netd_socket_unpipe(src);
                        return r == -ENOBUFS ? -ENOMEM : r;
                }
                netd_strdec_init(&src->dec, src->encoding);
        }
        if (src->read_eof) {
                /* Node: piping an ended stream ends the destination at once (end true). */
                if (end)
                        netd_socket_end(dst, NULL);
                return 0;
        }
        netd_socket_update_reading(src);
        return 0;
}

void netd_socket_unpipe(struct netd_socket *src)
{
        struct netd_socket *dst = src->pipe_dst;
        bool eof = false;
        int err = 0;

        if (!dst)
                return;
        if (dst->pipe_in) {
                err = dst->pipe_in->src_err; /* a read error waiting for the pipe to drain */
                eof = netd_pump_detach_src(dst->pipe_in);
        } else {
                socket_pipe_release_fds(dst); /* not connected yet: no pump was made */
        }
        dst->pipe_src = NULL;
        src->pipe_dst = NULL;
        if (err) {
                socket_fail(src, netd_nerr_sys(err, "read", NULL, -1));
                return;
        }
        if (eof) {
                /* The FIN came before the unpipe: the source's 'end' is still owed. */
                socket_on_eof(src);
                return;
        }
        netd_socket_update_reading(src);
}

int netd_socket_upgrade_pump(struct netd_socket *s, enum netd_socket_pump which,
                             const struct netd_pump *state, struct netd_socket *src)
{
        struct event_base *base = s->h.daemon->base;

        switch (which) {
        case NETD_SOCKET_PUMP_RX:
                return netd_pump_upgrade_restore(base, state, s->fd, s->pair, socket_pump_cb, s,
                                                 &s->att_rx);
        case NETD_SOCKET_PUMP_TX:
                return netd_pump_upgrade_restore(base, state, s->pair, s->fd, socket_pump_cb, s,
                                                 &s->att_tx);
        case NETD_SOCKET_PUMP_PIPE_IN:
                if (src) {
                        s->pipe_src = src;
                        src->pipe_dst = s;
                }
                return netd_pump_upgrade_restore(base, state, src && state->src >= 0 ? src->fd : -1,
                                                 s->fd, socket_pump_cb, s, &s->pipe_in);
        }
        return -EINVAL;
}
