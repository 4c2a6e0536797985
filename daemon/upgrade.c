/*
 * In-place upgrade (see upgrade.h and proto/UPGRADE.md). The state is one
 * JSON document (records whose scalar fields are named as the C fields
 * they come from) followed by a blob area the document points into with
 * [offset, length] pairs: input and output bytes, write queues, paths. The
 * reader is the writer's mirror; in check mode (--upgrade-check, or the
 * first pass of a restore) it fills scratch objects and touches nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conn.h"
#include "daemon.h"
#include "dispatch.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "observe.h"
#include "out.h"
#include "pump.h"
#include "req.h"
#include "resolve.h"
#include "server.h"
#include "session.h"
#include "socket.h"
#include "upgrade.h"

const char *netd_build_version = NETD_VERSION;
uint32_t netd_build_upgrade_format = NETD_UPGRADE_FORMAT;

#define UPGRADE_MAGIC      "NETDUPG\n"
#define UPGRADE_HEADER_LEN 24 /* magic 8, format u32, json length u32, blob length u64 */

/* What to exec: process-wide, set once at start (like the log level). */
static char *upgrade_exe;
static char **upgrade_argv;

struct netd_upgrade {
        struct netd_daemon *d; /* borrowed */
        struct event *ev_try;  /* owned: polls for a settled state */
        int64_t deadline_ms;
        struct netd_req *req; /* held: the netd.upgrade to answer, or NULL (SIGUSR2) */
};

void netd_upgrade_sigset(sigset_t *set)
{
        sigemptyset(set);
        sigaddset(set, SIGUSR2);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
        sigaddset(set, SIGHUP);
}

int netd_upgrade_setup(int argc, char *argv[])
{
        char *exe = realpath("/proc/self/exe", NULL);

        if (!exe)
                return -errno;
        upgrade_argv = calloc((size_t)argc + 1, sizeof(*upgrade_argv));
        if (!upgrade_argv) {
                free(exe);
                return -ENOMEM;
        }
        for (int i = 0; i < argc; i++)
                upgrade_argv[i] = argv[i]; /* argv lives as long as the process */
        upgrade_exe = exe;
        return 0;
}

/* ---- The record fields: one table per object, shared by writer and reader. ---- */

enum field_kind { F_BOOL, F_INT, F_UINT, F_I64, F_U64, F_SIZE };

struct field {
        const char *name;
        size_t offset;
        enum field_kind kind;
};

#define FB(type, f)                           \
        {                                     \
#f, offsetof(type, f), F_BOOL \
        }
#define FI(type, f)                          \
        {                                    \
#f, offsetof(type, f), F_INT \
        }
#define FU(type, f)                           \
        {                                     \
#f, offsetof(type, f), F_UINT \
        }
#define FL(type, f)                          \
        {                                    \
#f, offsetof(type, f), F_I64 \
        }
#define FQ(type, f)                          \
        {                                    \
#f, offsetof(type, f), F_U64 \
        }
#define FZ(type, f)                           \
        {                                     \
#f, offsetof(type, f), F_SIZE \
        }

_Static_assert(sizeof(dev_t) == 8 && sizeof(ino_t) == 8, "dev_t and ino_t are 64 bits");

static const struct field socket_fields[] = {
        FI(struct netd_socket, state),
        FL(struct netd_socket, timeout_ms),
        FQ(struct netd_socket, queued),
        FQ(struct netd_socket, flushed),
        FQ(struct netd_socket, bytes_read),
        FQ(struct netd_socket, server),
        FI(struct netd_socket, port),
        FZ(struct netd_socket, high_water_mark),
        FI(struct netd_socket, encoding),
        FB(struct netd_socket, opt_no_delay),
        FB(struct netd_socket, opt_keep_alive),
        FL(struct netd_socket, opt_keep_alive_delay_ms),
        FL(struct netd_socket, opt_keep_alive_interval_ms),
        FL(struct netd_socket, opt_keep_alive_count),
        FB(struct netd_socket, allow_half_open),
        FB(struct netd_socket, user_paused),
        FB(struct netd_socket, read_eof),
        FB(struct netd_socket, end_requested),
        FB(struct netd_socket, fin_sent),
        FB(struct netd_socket, need_drain),
        FB(struct netd_socket, had_error),
        FB(struct netd_socket, ever_connected),
        FB(struct netd_socket, reset_on_connect),
        FB(struct netd_socket, ipc),
        FB(struct netd_socket, unref),
        FB(struct netd_socket, attached),
        FB(struct netd_socket, pipe_end),
        FU(struct netd_socket, fds_taken),
        FI(struct netd_socket, copt.family),
        FI(struct netd_socket, copt.hints),
        FI(struct netd_socket, copt.local_port),
        FB(struct netd_socket, copt.auto_select_family),
        FL(struct netd_socket, copt.attempt_timeout_ms),
};

static const struct field server_fields[] = {
        FI(struct netd_server, backlog),
        FI(struct netd_server, port),
        FB(struct netd_server, ipv6_only),
        FB(struct netd_server, owns_path),
        FQ(struct netd_server, path_dev),
        FQ(struct netd_server, path_ino),
        FB(struct netd_server, reuse_port),
        FU(struct netd_server, connections),
        FL(struct netd_server, max_connections),
        FQ(struct netd_server, accepted),
        FQ(struct netd_server, dropped),
        FB(struct netd_server, listening),
        FB(struct netd_server, closing),
        FB(struct netd_server, close_not_running),
        FB(struct netd_server, unref),
        FB(struct netd_server, opts.allow_half_open),
        FB(struct netd_server, opts.pause_on_connect),
        FB(struct netd_server, opts.no_delay),
        FB(struct netd_server, opts.keep_alive),
        FL(struct netd_server, opts.keep_alive_initial_delay),
        FL(struct netd_server, opts.high_water_mark),
};

#define N_STATS (sizeof(struct netd_stats) / sizeof(uint64_t))
_Static_assert(sizeof(struct netd_stats) % sizeof(uint64_t) == 0, "stats are uint64_t only");

/* ---- Writer ---- */

struct wr {
        struct evbuffer *blobs; /* owned */
        int *fds;               /* owned: the descriptors to keep */
        size_t n_fds;
        int err;
};

static json_t *w_blob(struct wr *w, const void *p, size_t len)
{
        size_t off = evbuffer_get_length(w->blobs);

        if (len > 0 && evbuffer_add(w->blobs, p, len) < 0)
                w->err = -ENOMEM;
        return json_pack("[I,I]", (json_int_t)off, (json_int_t)len);
}

/* The bytes of an evbuffer (not drained), by reference. */
static json_t *w_blob_buf(struct wr *w, struct evbuffer *b)
{
        size_t off = evbuffer_get_length(w->blobs), len = b ? evbuffer_get_length(b) : 0;

        if (len > 0 && evbuffer_add_buffer_reference(w->blobs, b) < 0)
                w->err = -ENOMEM;
        return json_pack("[I,I]", (json_int_t)off, (json_int_t)len);
}

static json_t *w_fd(struct wr *w, int fd)
{
        if (fd >= 0) {
                int *n = realloc(w->fds, (w->n_fds + 1) * sizeof(*n));

                if (!n)
                        w->err = -ENOMEM;
                else
                        (w->fds = n)[w->n_fds++] = fd;
        }
        return json_integer(fd);
}

static void w_fields(json_t *o, const void *obj, const struct field *f, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                const char *p = (const char *)obj + f[i].offset;
                json_t *v = NULL;

                switch (f[i].kind) {
                case F_BOOL:
                        v = json_boolean(*(const bool *)p);
                        break;
                case F_INT:
                        v = json_integer(*(const int *)p);
                        break;
                case F_UINT:
                        v = json_integer(*(const unsigned *)p);
                        break;
                case F_I64:
                        v = json_integer(*(const int64_t *)p);
                        break;
                case F_U64:
                        v = json_integer((json_int_t) * (const uint64_t *)p);
                        break;
                case F_SIZE:
                        v = json_integer((json_int_t) * (const size_t *)p);
                        break;
                }
                json_object_set_new(o, f[i].name, v);
        }
}

static json_t *w_addr(const struct netd_addr *a)
{
        return json_pack("[s,i,i]", a->address, a->port, a->family);
}

/* A held request: its JSON-RPC id (absent for a notification) and method. */
static json_t *w_req(const struct netd_req *req)
{
        json_t *o = json_pack("{s:s}", "method", req->method);

        if (o && !req->conn)
                json_object_set_new(o, "orphan", json_true()); /* its connection is gone */
        else if (o && req->id)
                json_object_set(o, "id", req->id);
        return o;
}

/* A pump (pump.h): its kernel pipe (kept, bytes inside) or copy buffer, and its flags. */
static json_t *w_pump(struct wr *w, const struct netd_pump *p)
{
        json_t *o;

        if (!p)
                return json_null();
        o = json_object();
        json_object_set_new(o, "pipe_r", w_fd(w, p->pipe_r));
        json_object_set_new(o, "pipe_w", w_fd(w, p->pipe_w));
        json_object_set_new(o, "pipe_size", json_integer((json_int_t)p->pipe_size));
        json_object_set_new(o, "fill", json_integer((json_int_t)p->fill));
        json_object_set_new(o, "copy", json_boolean(p->copy));
        json_object_set_new(o, "buf",
                            p->copy ? w_blob(w, p->buf + p->off, p->len - p->off)
                                    : w_blob(w, NULL, 0));
        json_object_set_new(o, "src_detached", json_boolean(p->src < 0));
        json_object_set_new(o, "src_eof", json_boolean(p->src_eof));
        json_object_set_new(o, "src_err", json_integer(p->src_err));
        json_object_set_new(o, "paused", json_boolean(p->paused));
        json_object_set_new(o, "held", json_boolean(p->held));
        json_object_set_new(o, "moved", json_integer((json_int_t)p->moved));
        return o;
}

static json_t *w_socket(struct wr *w, struct netd_socket *s)
{
        json_t *o = json_object(), *writes = json_array();
        struct netd_write *wq;

        w_fields(o, s, socket_fields, sizeof(socket_fields) / sizeof(socket_fields[0]));
        json_object_set_new(o, "fd", w_fd(w, s->fd));
        json_object_set_new(o, "local", w_addr(&s->local));
        json_object_set_new(o, "remote", w_addr(&s->remote));
        json_object_set_new(o, "host", s->host ? json_string(s->host) : json_null());
        json_object_set_new(o, "path", s->path ? w_blob(w, s->path, s->path_len) : json_null());
        json_object_set_new(o, "local_address", json_string(s->copt.local_address));
        json_object_set_new(o, "error", s->error ? json_incref(s->error) : json_null());
        json_object_set_new(o, "attempt_errors",
                            s->attempt_errors ? json_incref(s->attempt_errors) : json_null());
        json_object_set_new(o, "attempted", s->attempted ? json_incref(s->attempted) : json_null());
        json_object_set_new(
                o, "dec",
                json_pack("[i,o]", (int)s->dec.enc, w_blob(w, s->dec.pending, s->dec.npending)));
        json_object_set_new(o, "wbuf", w_blob_buf(w, s->wbuf));
        json_object_set_new(o, "pair", w_fd(w, s->pair));
        json_object_set_new(o, "att_rx", w_pump(w, s->att_rx));
        json_object_set_new(o, "att_tx", w_pump(w, s->att_tx));
        json_object_set_new(o, "pipe_in", w_pump(w, s->pipe_in));
        json_object_set_new(o, "pipe_src",
                            json_integer(s->pipe_src ? (json_int_t)s->pipe_src->h.id : 0));
        TAILQ_FOREACH(wq, &s->writes, link) {
                json_t *r = w_req(wq->req);

                json_object_set_new(r, "end", json_integer((json_int_t)wq->end));
                json_object_set_new(r, "is_end", json_boolean(wq->is_end));
                json_array_append_new(writes, r);
        }
        json_object_set_new(o, "writes", writes);
        return o;
}

static json_t *w_server(struct wr *w, struct netd_server *s)
{
        json_t *o = json_object();

        w_fields(o, s, server_fields, sizeof(server_fields) / sizeof(server_fields[0]));
        json_object_set_new(o, "fd", w_fd(w, s->fd));
        json_object_set_new(o, "addr", w_addr(&s->addr));
        json_object_set_new(o, "path", s->path ? w_blob(w, s->path, s->path_len) : json_null());
        json_object_set_new(o, "close_req", s->close_req ? w_req(s->close_req) : json_null());
        return o;
}

static json_t *w_handle(struct wr *w, struct netd_handle *h)
{
        json_t *o = h->type == NETD_HANDLE_SOCKET ? w_socket(w, (struct netd_socket *)h)
                                                  : w_server(w, (struct netd_server *)h);

        json_object_set_new(o, "type", json_string(netd_handle_type_to_string(h->type)));
        json_object_set_new(o, "id", json_integer((json_int_t)h->id));
        return o;
}

static json_t *w_conn(struct wr *w, struct netd_conn *c, const struct netd_req *upgrade_req)
{
        json_t *o = json_object(), *fds = json_array(), *live = json_array(),
               *closed = json_array();
        struct netd_handle *h;
        struct netd_req *req;

        json_object_set_new(o, "id", json_integer((json_int_t)c->o.id));
        json_object_set_new(o, "fd", w_fd(w, c->o.fd));
        json_object_set_new(o, "draining", json_boolean(c->state == NETD_CONN_DRAINING));
        json_object_set_new(o, "read_eof", json_boolean(c->read_eof));
        json_object_set_new(o, "in_pos", json_integer((json_int_t)c->in_pos));
        json_object_set_new(o, "read_size", json_integer((json_int_t)c->read_size));
        json_object_set_new(o, "input",
                            w_blob(w, c->in.buf + c->in.start, c->in.end - c->in.start));
        json_object_set_new(o, "output", w_blob_buf(w, c->out));
        for (size_t i = 0; i < c->n_fds; i++) {
                json_t *fd = w_fd(w, c->fds[i].fd);

                json_array_append_new(fds, json_pack("[I,o]", (json_int_t)c->fds[i].pos, fd));
        }
        json_object_set_new(o, "fds", fds);
        /* Descriptors that go out with lines of the output, by offset into the pending output. */
        fds = json_array();
        for (size_t i = c->out_fds.head; i < c->out_fds.n; i++) {
                json_t *fd = w_fd(w, c->out_fds.v[i].fd);

                json_array_append_new(
                        fds, json_pack("[I,o]",
                                       (json_int_t)(c->out_fds.v[i].pos - c->out_fds.written), fd));
        }
        json_object_set_new(o, "out_fds", fds);
        json_object_set_new(o, "out_mid_line", json_boolean(c->out_fds.mid_line));
        if (c->out_fds.sent) {
                json_t *pos = json_array();

                for (size_t i = 0; i < c->out_fds.n_sent_fd_pos; i++)
                        json_array_append_new(pos,
                                              json_integer((json_int_t)(c->out_fds.sent_fd_pos[i] -
                                                                        c->out_fds.sent_pos)));
                /* Offsets are relative: "back", written bytes kept; fd_pos, from the first. */
                json_object_set_new(
                        o, "sent",
                        json_pack("{s:o,s:I,s:b,s:o,s:I}", "bytes", w_blob_buf(w, c->out_fds.sent),
                                  "back", (json_int_t)(c->out_fds.written - c->out_fds.sent_pos),
                                  "mid_line", (int)c->out_fds.sent_mid_line, "fd_pos", pos,
                                  "peer_ino", (json_int_t)c->peer_ino));
        }
        TAILQ_FOREACH(req, &c->o.reqs, link)
                if (req == upgrade_req)
                        json_object_set_new(o, "upgrade_req", w_req(req));
        TAILQ_FOREACH(h, &c->o.handles, owner_link)
                json_array_append_new(live, w_handle(w, h));
        TAILQ_FOREACH(h, &c->o.closed, owner_link)
                json_array_append_new(closed, w_handle(w, h));
        json_object_set_new(o, "handles", live);
        json_object_set_new(o, "closed", closed);
        return o;
}

/* A held request of a handle of o: carried when it is o's, or orphaned (its connection died). */
static const char *busy_req(const struct netd_req *req, const struct netd_owner *o, size_t *carried)
{
        if (req->batch)
                return "a batch is waiting for replies";
        if (req->conn == o)
                (*carried)++;
        else if (req->conn)
                return "a request of a handed-over handle is pending";
        return NULL;
}

/* Why o's handles can't be written now, or NULL; *carried counts o's requests they hold. */
static const char *busy_handles(const struct netd_owner *o, size_t *carried)
{
        struct netd_handle *h;
        const char *why;

        TAILQ_FOREACH(h, &o->handles, owner_link) {
                if (!h->announced || h->held)
                        return "a handle is not announced yet";
                if (h->type == NETD_HANDLE_SOCKET) {
                        struct netd_socket *s = (struct netd_socket *)h;
                        struct netd_write *w;

                        if (s->state == NETD_SOCKET_LOOKUP || s->lookup)
                                return "a socket is resolving its host";
                        if (s->state == NETD_SOCKET_CONNECTING &&
                            (s->attempts_left > 1 || s->attempted))
                                return "a socket is trying several addresses";
                        if (s->state == NETD_SOCKET_CLOSED)
                                return "a socket is closing";
                        if ((s->att_rx && s->att_rx->done) || (s->att_tx && s->att_tx->done) ||
                            (s->pipe_in && s->pipe_in->done))
                                return "a pump is finishing";
                        TAILQ_FOREACH(w, &s->writes, link)
                                if ((why = busy_req(w->req, o, carried)))
                                        return why;
                } else {
                        struct netd_server *s = (struct netd_server *)h;

                        if (s->listen_req || s->lookup)
                                return "a server is resolving its host";
                        if (s->close_req && (why = busy_req(s->close_req, o, carried)))
                                return why;
                }
        }
        return NULL;
}

/* Sessions (session.h): carried by a connection (its handles are the connection's), or lingering.
 */
static json_t *w_sessions(struct wr *w, struct netd_daemon *d)
{
        json_t *list = json_array();
        struct netd_owner *o;

        TAILQ_FOREACH(o, &d->sessions, link) {
                struct netd_session *s = (struct netd_session *)o;
                json_t *rec = json_object(), *live = json_array(), *closed = json_array(),
                       *groups = json_array();
                struct netd_handle *h;

                json_object_set_new(rec, "id", json_integer((json_int_t)o->id));
                json_object_set_new(rec, "token", json_string(s->token));
                /* A session rebuilt from systemd's fd store knows only its token's SHA-256. */
                json_object_set_new(rec, "token_hash", json_string(s->token_hash));
                json_object_set_new(rec, "linger_ms", json_integer(s->linger_ms));
                json_object_set_new(rec, "carried_by",
                                    json_integer(s->conn ? (json_int_t)s->conn->id : 0));
                json_object_set_new(
                        rec, "left_ms",
                        json_integer(
                                s->conn ? 0 : (json_int_t)(s->deadline_ms - netd_daemon_now_ms())));
                json_object_set_new(rec, "kept", w_blob_buf(w, s->kept));
                json_object_set_new(rec, "kept_lines", json_integer((json_int_t)s->kept_lines));
                for (size_t i = 0; i < o->cred.n_groups; i++)
                        json_array_append_new(groups, json_integer(o->cred.groups[i]));
                json_object_set_new(rec, "cred",
                                    json_pack("{s:I,s:I,s:i,s:o}", "uid", (json_int_t)o->cred.uid,
                                              "gid", (json_int_t)o->cred.gid, "pid",
                                              (int)o->cred.pid, "groups", groups));
                json_object_set_new(rec, "sockets_paused", json_boolean(o->sockets_paused));
                json_object_set_new(rec, "accept_paused", json_boolean(o->accept_paused));
                TAILQ_FOREACH(h, &o->handles, owner_link)
                        json_array_append_new(live, w_handle(w, h));
                TAILQ_FOREACH(h, &o->closed, owner_link)
                        json_array_append_new(closed, w_handle(w, h));
                json_object_set_new(rec, "handles", live);
                json_object_set_new(rec, "closed", closed);
                json_array_append_new(list, rec);
        }
        return list;
}

/*
 * Why the state can't be written now, or NULL. Transient states (a close
 * due, a lookup, a batch's replies, a refused client being read out) pass
 * within a few loop turns; subscriptions wait for netd.unsubscribe.
 */
static const char *upgrade_busy(struct netd_daemon *d, const struct netd_req *upgrade_req)
{
        struct netd_owner *o;
        const char *why;

        if (d->stopping)
                return "the daemon is stopping";
        if (!d->listener)
                return "no control socket";
        if (!TAILQ_EMPTY(&d->closing))
                return "handle closes are due";
        if (netd_resolver_busy(d) > 0)
                return "name lookups are in flight";
        if (netd_listener_lingering(d->listener) > 0)
                return "refused clients are being read out";
        TAILQ_FOREACH(o, &d->conns, link) {
                struct netd_conn *c = netd_conn_of(o);
                struct netd_req *req;
                size_t carried = 0, held = 0;

                if (c->state == NETD_CONN_CLOSED)
                        return "a control connection is closing";
                if (c->input_stopped)
                        return "a control connection stopped reading";
                TAILQ_FOREACH(req, &o->reqs, link) {
                        held++;
                        if (req->batch)
                                return "a batch is waiting for replies";
                        if (req == upgrade_req)
                                carried++;
                }
                if ((why = busy_handles(o, &carried)))
                        return why;
                if (carried != held)
                        return "requests are in flight (lookups, listens)";
        }
        TAILQ_FOREACH(o, &d->sessions, link) {
                size_t carried = 0;

                if (!o->open)
                        return "a session is ending";
                if ((why = busy_handles(o, &carried)))
                        return why;
        }
        return NULL;
}

/* Writes the whole state to fd: header, document, blobs. *ret_fds: the descriptors to keep. */
static int upgrade_save(struct netd_daemon *d, const struct netd_req *upgrade_req, int fd,
                        int **ret_fds, size_t *ret_n, char *err, size_t errlen)
{
        struct wr w = { .blobs = evbuffer_new() };
        json_t *root = json_object(), *conns = json_array(), *stats = json_array(),
               *inherited = json_array(), *key = json_array();
        const uint64_t *st = (const uint64_t *)&d->stats;
        struct netd_owner *o;
        struct timespec now;
        char *doc = NULL;
        uint8_t header[UPGRADE_HEADER_LEN];
        uint32_t jlen;
        uint64_t blen;
        int r = 0;

        if (!w.blobs || !root || !conns || !stats || !inherited || !key) {
                r = -ENOMEM;
                goto out;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        json_object_set_new(root, "format", json_integer(netd_build_upgrade_format));
        json_object_set_new(root, "version", json_string(netd_build_version));
        json_object_set_new(root, "pid", json_integer(getpid()));
        json_object_set_new(
                root, "uptime_ms",
                json_integer((json_int_t)((now.tv_sec - d->started.tv_sec) * 1000 +
                                          (now.tv_nsec - d->started.tv_nsec) / 1000000)));
        for (size_t i = 0; i < N_STATS; i++)
                json_array_append_new(stats, json_integer((json_int_t)st[i]));
        json_object_set_new(root, "stats", stats);
        stats = NULL;
        json_object_set_new(root, "next_conn_id", json_integer((json_int_t)d->next_conn_id));
        for (int i = 0; i < 4; i++) {
                char hex[17];

                (void)snprintf(hex, sizeof(hex), "%016" PRIx64, d->handles.id_key[i]);
                json_array_append_new(key, json_string(hex));
        }
        json_object_set_new(root, "registry",
                            json_pack("{s:I,s:b,s:o}", "next_id", (json_int_t)d->handles.next_id,
                                      "random_ids", d->handles.random_ids, "id_key", key));
        key = NULL;
        json_object_set_new(root, "policy",
                            json_pack("{s:i,s:i}", "generation",
                                      d->policy ? (int)d->policy->generation : 0, "errors",
                                      (int)d->policy_errors));
        json_object_set_new(root, "listener",
                            json_pack("{s:o,s:o}", "fd", w_fd(&w, netd_listener_fd(d->listener)),
                                      "path",
                                      netd_listener_path(d->listener)
                                              ? json_string(netd_listener_path(d->listener))
                                              : json_null()));
        for (size_t i = 0; i < d->n_inherited; i++)
                if (d->inherited[i].fd >= 0)
                        json_array_append_new(inherited,
                                              json_pack("{s:s,s:o}", "name", d->inherited[i].name,
                                                        "fd", w_fd(&w, d->inherited[i].fd)));
        json_object_set_new(root, "inherited", inherited);
        inherited = NULL;
        TAILQ_FOREACH(o, &d->conns, link)
                json_array_append_new(conns, w_conn(&w, netd_conn_of(o), upgrade_req));
        json_object_set_new(root, "conns", conns);
        conns = NULL;
        json_object_set_new(root, "sessions", w_sessions(&w, d));
        json_object_set_new(root, "observers", netd_observe_upgrade_save(d));
        if (w.err < 0) {
                r = w.err;
                goto out;
        }
        doc = json_dumps(root, JSON_COMPACT);
        if (!doc) {
                r = -ENOMEM;
                goto out;
        }
        jlen = (uint32_t)strlen(doc);
        blen = evbuffer_get_length(w.blobs);
        memcpy(header, UPGRADE_MAGIC, 8);
        memcpy(header + 8, &netd_build_upgrade_format, 4);
        memcpy(header + 12, &jlen, 4);
        memcpy(header + 16, &blen, 8);
        if (evbuffer_prepend(w.blobs, doc, jlen) < 0 ||
            evbuffer_prepend(w.blobs, header, sizeof(header)) < 0) {
                r = -ENOMEM;
                goto out;
        }
        while (evbuffer_get_length(w.blobs) > 0) {
                int n = evbuffer_write(w.blobs, fd);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        break;
                }
        }
out:
        if (r < 0)
                (void)snprintf(err, errlen, "writing the state: %s", strerror(-r));
        free(doc);
        json_decref(root);
        json_decref(conns);
        json_decref(stats);
        json_decref(inherited);
        json_decref(key);
        if (w.blobs)
                evbuffer_free(w.blobs);
        if (r < 0) {
                free(w.fds);
                return r;
        }
        *ret_fds = w.fds;
        *ret_n = w.n_fds;
        return 0;
}

/* ---- Reader ---- */

struct rd {
        const uint8_t *blobs;
        uint64_t blob_len;
        struct netd_daemon *d; /* NULL: check only */
        bool live_fds;         /* the fds must be open (in the new process) */
        int *fds;              /* owned: every fd named, to find duplicates */
        size_t n_fds;
        char *err;
        size_t errlen;
        bool failed;
        char where[80];       /* the record being read, for the error */
        struct r_pump *pumps; /* owned: made once every socket exists */
        size_t n_pumps;
};

/* A pump read from a socket's record, made after every socket exists (socket.pipe links two). */
struct r_pump {
        uint64_t socket, pipe_src;
        enum netd_socket_pump which;
        struct netd_pump state;
};

__attribute__((format(printf, 2, 3))) static void r_fail(struct rd *r, const char *fmt, ...)
{
        va_list ap;
        size_t n;

        if (r->failed)
                return;
        r->failed = true;
        (void)snprintf(r->err, r->errlen, "%s: ", r->where[0] ? r->where : "state");
        n = strlen(r->err);
        va_start(ap, fmt);
        (void)vsnprintf(r->err + n, r->errlen - n, fmt, ap);
        va_end(ap);
}

static json_t *r_get(struct rd *r, json_t *o, const char *k)
{
        json_t *v = json_object_get(o, k);

        if (!v)
                r_fail(r, "field %s is missing", k);
        return v;
}

static int64_t r_int(struct rd *r, json_t *o, const char *k, int64_t min, int64_t max)
{
        json_t *v = r_get(r, o, k);
        int64_t i;

        if (!v)
                return 0;
        if (!json_is_integer(v)) {
                r_fail(r, "field %s is not an integer", k);
                return 0;
        }
        i = json_integer_value(v);
        if (i < min || i > max) {
                r_fail(r, "field %s is out of range", k);
                return 0;
        }
        return i;
}

static bool r_bool(struct rd *r, json_t *o, const char *k)
{
        json_t *v = r_get(r, o, k);

        if (v && !json_is_boolean(v))
                r_fail(r, "field %s is not a boolean", k);
        return v && json_is_true(v);
}

/* A blob reference [offset, length]; nullable: JSON null gives *ret NULL. */
static bool r_blob_v(struct rd *r, json_t *v, const char *k, bool nullable, const uint8_t **ret,
                     size_t *ret_len)
{
        json_int_t off, len;

        *ret = NULL;
        *ret_len = 0;
        if (!v)
                return false;
        if (nullable && json_is_null(v))
                return true;
        if (!json_is_array(v) || json_array_size(v) != 2 ||
            !json_is_integer(json_array_get(v, 0)) || !json_is_integer(json_array_get(v, 1))) {
                r_fail(r, "field %s is not a blob reference", k);
                return false;
        }
        off = json_integer_value(json_array_get(v, 0));
        len = json_integer_value(json_array_get(v, 1));
        if (off < 0 || len < 0 || (uint64_t)off > r->blob_len ||
            (uint64_t)len > r->blob_len - (uint64_t)off) {
                r_fail(r, "field %s points outside the blobs", k);
                return false;
        }
        *ret = r->blobs + off;
        *ret_len = (size_t)len;
        return true;
}

static bool r_blob(struct rd *r, json_t *o, const char *k, bool nullable, const uint8_t **ret,
                   size_t *ret_len)
{
        return r_blob_v(r, r_get(r, o, k), k, nullable, ret, ret_len);
}

/* A descriptor the record names: >= 0 (or -1 when none is allowed), unique, open if live. */
static int r_fd_v(struct rd *r, json_t *v, const char *k, bool optional)
{
        json_int_t fd;
        int *n;

        if (!v)
                return -1;
        if (!json_is_integer(v)) {
                r_fail(r, "field %s is not a descriptor", k);
                return -1;
        }
        fd = json_integer_value(v);
        if (fd == -1 && optional)
                return -1;
        if (fd < 0 || fd > INT_MAX) {
                r_fail(r, "field %s is not a descriptor", k);
                return -1;
        }
        for (size_t i = 0; i < r->n_fds; i++)
                if (r->fds[i] == (int)fd) {
                        r_fail(r, "descriptor %s is named twice", k);
                        return -1;
                }
        if (r->live_fds && fcntl((int)fd, F_GETFD) < 0) {
                r_fail(r, "descriptor %s is not open", k);
                return -1;
        }
        n = realloc(r->fds, (r->n_fds + 1) * sizeof(*n));
        if (!n) {
                r_fail(r, "%s", "out of memory");
                return -1;
        }
        (r->fds = n)[r->n_fds++] = (int)fd;
        return (int)fd;
}

static int r_fd(struct rd *r, json_t *o, const char *k, bool optional)
{
        return r_fd_v(r, r_get(r, o, k), k, optional);
}

static void r_fields(struct rd *r, json_t *o, void *obj, const struct field *f, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                char *p = (char *)obj + f[i].offset;

                switch (f[i].kind) {
                case F_BOOL:
                        *(bool *)p = r_bool(r, o, f[i].name);
                        break;
                case F_INT:
                        *(int *)p = (int)r_int(r, o, f[i].name, INT_MIN, INT_MAX);
                        break;
                case F_UINT:
                        *(unsigned *)p = (unsigned)r_int(r, o, f[i].name, 0, UINT_MAX);
                        break;
                case F_I64:
                        *(int64_t *)p = r_int(r, o, f[i].name, INT64_MIN, INT64_MAX);
                        break;
                case F_U64:
                        *(uint64_t *)p = (uint64_t)r_int(r, o, f[i].name, 0, INT64_MAX);
                        break;
                case F_SIZE:
                        *(size_t *)p = (size_t)r_int(r, o, f[i].name, 0, INT64_MAX);
                        break;
                }
        }
}

static void r_addr(struct rd *r, json_t *o, const char *k, struct netd_addr *a)
{
        json_t *v = r_get(r, o, k);
        const char *s;

        if (!v)
                return;
        if (!json_is_array(v) || json_array_size(v) != 3 ||
            !(s = json_string_value(json_array_get(v, 0))) || strlen(s) >= sizeof(a->address) ||
            !json_is_integer(json_array_get(v, 1)) || !json_is_integer(json_array_get(v, 2))) {
                r_fail(r, "field %s is not an address", k);
                return;
        }
        (void)snprintf(a->address, sizeof(a->address), "%s", s);
        a->port = (int)json_integer_value(json_array_get(v, 1));
        a->family = (int)json_integer_value(json_array_get(v, 2));
}

/* A held request: in check mode validated only; else made on c and held by "by". */
static struct netd_req *r_req(struct rd *r, json_t *v, struct netd_owner *c, const char *by)
{
        const struct netd_method *m;
        const char *name;
        struct netd_req *req;

        if (!json_is_object(v) || !(name = json_string_value(json_object_get(v, "method")))) {
                r_fail(r, "%s", "a request record has no method");
                return NULL;
        }
        m = netd_dispatch_lookup(name);
        if (!m) {
                r_fail(r, "unknown method %s in a request record", name);
                return NULL;
        }
        if (!c || r->failed)
                return NULL;
        if (json_is_true(json_object_get(v, "orphan"))) {
                /* Its connection died before the upgrade: the work goes on, no reply. */
                req = calloc(1, sizeof(*req));
                if (!req) {
                        r_fail(r, "%s", "out of memory");
                        return NULL;
                }
                req->daemon = r->d;
                req->method = m->name;
                req->held_by = by;
                return req;
        }
        req = netd_req_new(c, json_object_get(v, "id"), NULL);
        if (!req) {
                r_fail(r, "%s", "out of memory");
                return NULL;
        }
        req->method = m->name;
        netd_req_hold(req, by);
        return req;
}

/* The IPC path blob "path" (may hold NUL: abstract names) as a string, or NULL when none. */
static char *r_path(struct rd *r, json_t *o, size_t *ret_len)
{
        const uint8_t *p;
        size_t n;
        char *path;

        if (!r_blob(r, o, "path", true, &p, &n) || !p)
                return NULL;
        path = malloc(n + 1);
        if (!path) {
                r_fail(r, "%s", "out of memory");
                return NULL;
        }
        memcpy(path, p, n);
        path[n] = '\0';
        *ret_len = n;
        return path;
}

static void r_pump(struct rd *r, json_t *o, const char *k, uint64_t socket,
                   enum netd_socket_pump which, uint64_t pipe_src);
static uint64_t r_pump_pending(struct rd *r, json_t *o, const char *k);

static void r_socket(struct rd *r, json_t *o, struct netd_owner *c, uint64_t id, bool closed)
{
        struct netd_socket scratch, *s = &scratch;
        const uint8_t *p;
        size_t n;
        json_t *v, *writes;
        const char *str;
        int fd, state;

        memset(&scratch, 0, sizeof(scratch));
        fd = r_fd(r, o, "fd", true);
        state = (int)r_int(r, o, "state", 0, _NETD_SOCKET_STATE_MAX - 1);
        if (r->failed)
                return;
        if (state == NETD_SOCKET_LOOKUP || (closed && fd >= 0) ||
            ((state == NETD_SOCKET_OPEN || state == NETD_SOCKET_CONNECTING) != (fd >= 0))) {
                r_fail(r, "%s", "the socket's state and descriptor disagree");
                return;
        }
        if (c) {
                int ret = netd_socket_upgrade_restore(r->d, c, id, closed, fd, &s);

                if (ret < 0) {
                        r_fail(r, "restoring the socket: %s", strerror(-ret));
                        return;
                }
        }
        r_fields(r, o, s, socket_fields, sizeof(socket_fields) / sizeof(socket_fields[0]));
        if (s->encoding < -1 || s->encoding >= _NETD_ENC_MAX)
                r_fail(r, "%s", "the socket's encoding is unknown");
        r_addr(r, o, "local", &s->local);
        r_addr(r, o, "remote", &s->remote);
        v = r_get(r, o, "host");
        if (v && !json_is_null(v) && !json_is_string(v))
                r_fail(r, "%s", "field host is not a string");
        if (c && json_is_string(v) && !(s->host = strdup(json_string_value(v))))
                r_fail(r, "%s", "out of memory");
        if (c)
                s->path = r_path(r, o, &s->path_len);
        str = json_string_value(r_get(r, o, "local_address"));
        if (!str || strlen(str) >= sizeof(s->copt.local_address))
                r_fail(r, "%s", "field local_address is not a short string");
        else
                (void)snprintf(s->copt.local_address, sizeof(s->copt.local_address), "%s", str);
        v = r_get(r, o, "error");
        if (c && v && !json_is_null(v))
                s->error = json_incref(v);
        v = r_get(r, o, "attempt_errors");
        if (c && v && !json_is_null(v))
                s->attempt_errors = json_incref(v);
        v = r_get(r, o, "attempted");
        if (c && v && !json_is_null(v))
                s->attempted = json_incref(v);
        v = r_get(r, o, "dec");
        if (v) {
                if (!json_is_array(v) || json_array_size(v) != 2 ||
                    !json_is_integer(json_array_get(v, 0)) ||
                    !r_blob_v(r, json_array_get(v, 1), "dec", false, &p, &n) ||
                    n > sizeof(s->dec.pending) || json_integer_value(json_array_get(v, 0)) < 0 ||
                    json_integer_value(json_array_get(v, 0)) >= _NETD_ENC_MAX) {
                        r_fail(r, "%s", "field dec is not a decoder state");
                } else {
                        s->dec.enc = (enum netd_encoding)json_integer_value(json_array_get(v, 0));
                        memcpy(s->dec.pending, p, n);
                        s->dec.npending = n;
                }
        }
        if (r_blob(r, o, "wbuf", false, &p, &n) && n > 0 && c) {
                if (!(s->wbuf = evbuffer_new()) || evbuffer_add(s->wbuf, p, n) < 0)
                        r_fail(r, "%s", "out of memory");
        }
        /*
         * Bytes counted as queued and not yet flushed are in wbuf or, for an
         * attached socket or a pipe's destination, inside the pump that
         * writes to it (att_tx, pipe_in): its kernel pipe or copy buffer.
         */
        if (state != NETD_SOCKET_CLOSED &&
            (s->flushed > s->queued ||
             s->queued - s->flushed !=
                     n + r_pump_pending(r, o, "att_tx") + r_pump_pending(r, o, "pipe_in")))
                r_fail(r, "%s", "the socket's counters and queue disagree");
        writes = r_get(r, o, "writes");
        if (writes && !json_is_array(writes))
                r_fail(r, "%s", "field writes is not an array");
        if (!r->failed) {
                size_t i;

                json_array_foreach(writes, i, v) {
                        struct netd_write *w;
                        int64_t end = r_int(r, v, "end", 0, INT64_MAX);
                        bool is_end = r_bool(r, v, "is_end");
                        struct netd_req *req =
                                r_req(r, v, c, is_end ? "socket end" : "socket write queue");

                        if (!req)
                                continue;
                        w = calloc(1, sizeof(*w));
                        if (!w) {
                                netd_req_drop(req, "out of memory in the upgrade");
                                r_fail(r, "%s", "out of memory");
                                continue;
                        }
                        w->req = req;
                        w->end = (uint64_t)end;
                        w->is_end = is_end;
                        TAILQ_INSERT_TAIL(&s->writes, w, link);
                }
        }
        {
                int pair = r_fd(r, o, "pair", true);
                uint64_t pipe_src = (uint64_t)r_int(r, o, "pipe_src", 0, INT64_MAX);

                if (r->failed)
                        return;
                if (pair >= 0 && (!s->attached || state == NETD_SOCKET_CLOSED)) {
                        r_fail(r, "%s", "the socket's pair and its state disagree");
                        return;
                }
                if (c) {
                        s->pair = pair;
                        r->d->fds_open += s->fds_taken;
                }
                r_pump(r, o, "att_rx", id, NETD_SOCKET_PUMP_RX, 0);
                r_pump(r, o, "att_tx", id, NETD_SOCKET_PUMP_TX, 0);
                r_pump(r, o, "pipe_in", id, NETD_SOCKET_PUMP_PIPE_IN, pipe_src);
        }
}

/* The bytes a serialized pump holds (its pipe's fill or its copy buffer), 0 when none. */
static uint64_t r_pump_pending(struct rd *r, json_t *o, const char *k)
{
        json_t *v = json_object_get(o, k);
        const uint8_t *p;
        size_t len = 0;

        if (!json_is_object(v))
                return 0;
        if (r_bool(r, v, "copy")) {
                (void)r_blob(r, v, "buf", false, &p, &len);
                return len;
        }
        return (uint64_t)r_int(r, v, "fill", 0, INT32_MAX);
}

static void r_pump(struct rd *r, json_t *o, const char *k, uint64_t socket,
                   enum netd_socket_pump which, uint64_t pipe_src)
{
        json_t *v = r_get(r, o, k);
        struct netd_pump st = { .pipe_r = -1, .pipe_w = -1 };
        struct r_pump *n;
        const uint8_t *p;
        size_t len;

        if (!v || json_is_null(v) || r->failed)
                return;
        if (!json_is_object(v)) {
                r_fail(r, "field %s is not a pump", k);
                return;
        }
        st.copy = r_bool(r, v, "copy");
        st.pipe_r = r_fd(r, v, "pipe_r", st.copy);
        st.pipe_w = r_fd(r, v, "pipe_w", st.copy);
        st.pipe_size = (size_t)r_int(r, v, "pipe_size", 1, INT32_MAX);
        st.fill = (size_t)r_int(r, v, "fill", 0, INT32_MAX);
        st.src_eof = r_bool(r, v, "src_eof");
        st.src_err = (int)r_int(r, v, "src_err", 0, 4095);
        st.paused = r_bool(r, v, "paused");
        st.held = r_bool(r, v, "held");
        st.moved = (uint64_t)r_int(r, v, "moved", 0, INT64_MAX);
        st.src = r_bool(r, v, "src_detached") ? -1 : 0;
        (void)r_blob(r, v, "buf", false, &p, &len);
        if (r->failed)
                return;
        if (st.fill > st.pipe_size || (st.copy && st.fill > 0) || (!st.copy && len > 0) ||
            len > (st.pipe_size > NETD_PUMP_COPY_BYTES ? st.pipe_size : NETD_PUMP_COPY_BYTES)) {
                r_fail(r, "field %s: the pump's counts disagree", k);
                return;
        }
        st.buf = (uint8_t *)p;
        st.off = 0;
        st.len = len;
        n = realloc(r->pumps, (r->n_pumps + 1) * sizeof(*n));
        if (!n) {
                r_fail(r, "%s", "out of memory");
                return;
        }
        r->pumps = n;
        n[r->n_pumps++] = (struct r_pump){
                .socket = socket, .pipe_src = pipe_src, .which = which, .state = st
        };
}

static void r_server(struct rd *r, json_t *o, struct netd_owner *c, uint64_t id, bool closed)
{
        struct netd_server scratch, *s = &scratch;
        json_t *v;
        int fd;

        memset(&scratch, 0, sizeof(scratch));
        fd = r_fd(r, o, "fd", true);
        if (r->failed)
                return;
        if (c) {
                int ret = netd_server_upgrade_restore(r->d, c, id, closed, fd, &s);

                if (ret < 0) {
                        r_fail(r, "restoring the server: %s", strerror(-ret));
                        return;
                }
        }
        r_fields(r, o, s, server_fields, sizeof(server_fields) / sizeof(server_fields[0]));
        if (s->listening != (fd >= 0) || (closed && fd >= 0))
                r_fail(r, "%s", "the server's state and descriptor disagree");
        r_addr(r, o, "addr", &s->addr);
        if (c)
                s->path = r_path(r, o, &s->path_len);
        v = r_get(r, o, "close_req");
        if (v && !json_is_null(v)) {
                struct netd_req *req = r_req(r, v, c, "server close");

                if (c)
                        s->close_req = req;
        }
}

static void r_handles(struct rd *r, json_t *list, struct netd_owner *c, bool closed,
                      uint64_t conn_id)
{
        json_t *h;
        size_t i;

        if (!json_is_array(list)) {
                r_fail(r, "%s", "a handle list is not an array");
                return;
        }
        json_array_foreach(list, i, h) {
                const char *type = json_string_value(json_object_get(h, "type"));
                uint64_t id;

                (void)snprintf(r->where, sizeof(r->where), "conn#%" PRIu64 " handle %zu", conn_id,
                               i);
                id = (uint64_t)r_int(r, h, "id", 1, INT64_MAX);
                if (r->failed)
                        return;
                (void)snprintf(r->where, sizeof(r->where), "conn#%" PRIu64 " %s %" PRIu64, conn_id,
                               type ? type : "handle", id);
                if (type && strcmp(type, "socket") == 0)
                        r_socket(r, h, c, id, closed);
                else if (type && strcmp(type, "server") == 0)
                        r_server(r, h, c, id, closed);
                else
                        r_fail(r, "%s", "unknown handle type");
                if (r->failed)
                        return;
        }
}

/*
 * One [position, descriptor] entry of field k: 0 <= position < end. Returns
 * false (failed) for a bad one.
 */
static bool r_fd_pair(struct rd *r, json_t *v, const char *k, uint64_t end, uint64_t *ret_pos,
                      int *ret_fd)
{
        json_int_t pos;

        if (!json_is_array(v) || json_array_size(v) != 2 ||
            !json_is_integer(json_array_get(v, 0)) ||
            (pos = json_integer_value(json_array_get(v, 0))) < 0 || (uint64_t)pos >= end) {
                r_fail(r, "field %s holds a bad entry", k);
                return false;
        }
        *ret_fd = r_fd_v(r, json_array_get(v, 1), k, false);
        *ret_pos = (uint64_t)pos;
        return !r->failed;
}

static void r_conn(struct rd *r, json_t *o)
{
        struct netd_conn *c = NULL;
        const uint8_t *in = NULL, *out = NULL;
        size_t in_len = 0, out_len = 0;
        uint64_t id;
        json_t *fds, *v;
        bool draining, read_eof;
        uint64_t in_pos;
        size_t i, read_size;
        int fd;

        (void)snprintf(r->where, sizeof(r->where), "a connection");
        id = (uint64_t)r_int(r, o, "id", 1, INT64_MAX);
        (void)snprintf(r->where, sizeof(r->where), "conn#%" PRIu64, id);
        fd = r_fd(r, o, "fd", false);
        draining = r_bool(r, o, "draining");
        read_eof = r_bool(r, o, "read_eof");
        (void)r_blob(r, o, "input", false, &in, &in_len);
        (void)r_blob(r, o, "output", false, &out, &out_len);
        fds = r_get(r, o, "fds");
        if (fds && !json_is_array(fds))
                r_fail(r, "%s", "field fds is not an array");
        in_pos = (uint64_t)r_int(r, o, "in_pos", 0, INT64_MAX - 1);
        read_size = (size_t)r_int(r, o, "read_size", 0, INT32_MAX);
        if (r->failed)
                return;
        if (r->d) {
                int ret = netd_conn_upgrade_restore(r->d, fd, id, &c);

                if (ret < 0) {
                        r_fail(r, "restoring the connection: %s", strerror(-ret));
                        return;
                }
                c->read_eof = read_eof;
                c->in_pos = in_pos;
                c->read_size = read_size;
                if ((in_len > 0 && netd_frame_feed(&c->in, in, in_len) < 0) ||
                    (out_len > 0 && evbuffer_add(c->out, out, out_len) < 0))
                        r_fail(r, "%s", "out of memory");
        }
        /* Received with the input: at a stream position up to in_pos. */
        json_array_foreach(fds, i, v) {
                uint64_t pos;
                int pfd;

                if (!r_fd_pair(r, v, "fds", in_pos + 1, &pos, &pfd))
                        break;
                if (c && netd_conn_upgrade_restore_fd(c, pos, pfd) < 0)
                        r_fail(r, "%s", "out of memory");
        }
        {
                bool mid_line = r_bool(r, o, "out_mid_line");

                if (c)
                        c->out_fds.mid_line = mid_line;
        }
        v = json_object_get(o, "sent");
        if (v && !r->failed) {
                const uint8_t *p;
                size_t len, k;
                json_t *e, *fd_pos = r_get(r, v, "fd_pos");
                uint64_t back = (uint64_t)r_int(r, v, "back", 0, INT64_MAX);
                bool mid = r_bool(r, v, "mid_line");
                uint64_t ino = (uint64_t)r_int(r, v, "peer_ino", 0, INT64_MAX);

                if (!json_is_array(fd_pos))
                        r_fail(r, "%s", "field sent.fd_pos is not an array");
                if (r_blob(r, v, "bytes", false, &p, &len) && len > back)
                        r_fail(r, "%s", "field sent: more bytes kept than written");
                if (c && !r->failed) {
                        /* The new stream's offsets start at the first kept byte. */
                        c->out_fds.written = back;
                        if (netd_out_sent_start(&c->out_fds) < 0 ||
                            evbuffer_add(c->out_fds.sent, p, len) < 0)
                                r_fail(r, "%s", "out of memory");
                        c->out_fds.sent_pos = 0;
                        c->out_fds.sent_mid_line = mid;
                        c->peer_ino = ino;
                }
                json_array_foreach(fd_pos, k, e) {
                        uint64_t *nv;

                        if (!json_is_integer(e)) {
                                r_fail(r, "%s", "field sent.fd_pos holds a bad offset");
                                break;
                        }
                        if (!c || !c->out_fds.sent)
                                continue;
                        nv = realloc(c->out_fds.sent_fd_pos, (k + 1) * sizeof(*nv));
                        if (!nv) {
                                r_fail(r, "%s", "out of memory");
                                break;
                        }
                        nv[k] = (uint64_t)json_integer_value(e);
                        c->out_fds.sent_fd_pos = nv;
                        c->out_fds.n_sent_fd_pos = c->out_fds.cap_sent_fd_pos = k + 1;
                }
        }
        fds = r_get(r, o, "out_fds");
        if (fds && !json_is_array(fds))
                r_fail(r, "%s", "field out_fds is not an array");
        /* Going out with a line of the output: at an offset inside it. */
        json_array_foreach(fds, i, v) {
                uint64_t pos;
                int pfd;

                if (r->failed || !r_fd_pair(r, v, "out_fds", out_len, &pos, &pfd))
                        break;
                if (c && netd_out_fds_push(&c->out_fds, c->out_fds.written + pos, pfd) < 0)
                        r_fail(r, "%s", "out of memory");
        }
        v = json_object_get(o, "upgrade_req");
        if (v && !r->failed) {
                struct netd_req *req = r_req(r, v, c ? &c->o : NULL, "upgrade");

                /* Answered once everything is restored (upgrade_read()). */
                if (req)
                        json_object_set_new(o, "_req", json_integer((json_int_t)(intptr_t)req));
        }
        r_handles(r, r_get(r, o, "handles"), c ? &c->o : NULL, false, id);
        r_handles(r, r_get(r, o, "closed"), c ? &c->o : NULL, true, id);
        if (c)
                json_object_set_new(o, "_conn", json_integer((json_int_t)(intptr_t)c));
        json_object_set_new(o, "_draining", json_boolean(draining));
}

/* A session (its handles when it lingers); its carrier, a connection, is restored already. */
static void r_session(struct rd *r, json_t *o)
{
        struct netd_cred cred = { .pidfd = -1 };
        struct netd_session *s = NULL;
        struct netd_owner *carrier = NULL;
        json_t *cr, *groups = NULL, *g;
        const char *token, *token_hash;
        const uint8_t *kept;
        size_t kept_len, i;
        uint64_t id, carried_by;
        unsigned linger_ms;

        (void)snprintf(r->where, sizeof(r->where), "a session");
        id = (uint64_t)r_int(r, o, "id", 1, INT64_MAX);
        (void)snprintf(r->where, sizeof(r->where), "session#%" PRIu64, id);
        token = json_string_value(r_get(r, o, "token"));
        token_hash = json_string_value(r_get(r, o, "token_hash"));
        if (!token_hash || (*token_hash && strlen(token_hash) != 64) ||
            strspn(token_hash, "0123456789abcdef") != strlen(token_hash))
                r_fail(r, "%s", "field token_hash is not a SHA-256");
        else if (!token ||
                 (strlen(token) != NETD_SESSION_TOKEN_LEN && !(*token == '\0' && *token_hash)))
                r_fail(r, "%s", "field token is not a token");
        linger_ms = (unsigned)r_int(r, o, "linger_ms", 0, UINT32_MAX);
        carried_by = (uint64_t)r_int(r, o, "carried_by", 0, INT64_MAX);
        (void)r_int(r, o, "left_ms", INT64_MIN, INT64_MAX);
        (void)r_int(r, o, "kept_lines", 0, INT64_MAX);
        (void)r_bool(r, o, "sockets_paused");
        (void)r_bool(r, o, "accept_paused");
        (void)r_blob(r, o, "kept", false, &kept, &kept_len);
        cr = r_get(r, o, "cred");
        if (cr) {
                cred.uid = (uid_t)r_int(r, cr, "uid", 0, UINT32_MAX);
                cred.gid = (gid_t)r_int(r, cr, "gid", 0, UINT32_MAX);
                cred.pid = (pid_t)r_int(r, cr, "pid", -1, INT32_MAX);
                groups = r_get(r, cr, "groups");
                if (groups && (!json_is_array(groups) || json_array_size(groups) > 65536))
                        r_fail(r, "%s", "cred.groups is not an array of groups");
                json_array_foreach(groups, i, g)
                        if (!json_is_integer(g))
                                r_fail(r, "%s", "cred.groups holds a bad group");
        }
        if (r->failed)
                return;
        if (carried_by &&
            json_array_size(r_get(r, o, "handles")) + json_array_size(r_get(r, o, "closed")) > 0) {
                r_fail(r, "%s", "a carried session holds handles of its own");
                return;
        }
        if (r->d) {
                struct netd_owner *c;
                int e;

                if (carried_by) {
                        TAILQ_FOREACH(c, &r->d->conns, link)
                                if (c->id == carried_by)
                                        carrier = c;
                        if (!carrier) {
                                r_fail(r, "%s", "its connection is not in the state");
                                return;
                        }
                }
                cred.n_groups = json_array_size(groups);
                cred.groups = cred.n_groups ? calloc(cred.n_groups, sizeof(gid_t)) : NULL;
                if (cred.n_groups && !cred.groups) {
                        r_fail(r, "%s", "out of memory");
                        return;
                }
                json_array_foreach(groups, i, g)
                        cred.groups[i] = (gid_t)json_integer_value(g);
                e = netd_session_upgrade_restore(r->d, id, &cred, token, linger_ms, carrier, &s);
                free(cred.groups);
                if (e < 0) {
                        r_fail(r, "restoring the session: %s", strerror(-e));
                        return;
                }
                (void)snprintf(s->token_hash, sizeof(s->token_hash), "%s", token_hash);
                s->kept_lines = (uint64_t)json_integer_value(json_object_get(o, "kept_lines"));
                s->o.sockets_paused = json_is_true(json_object_get(o, "sockets_paused"));
                s->o.accept_paused = json_is_true(json_object_get(o, "accept_paused"));
                if (kept_len > 0 && evbuffer_add(s->kept, kept, kept_len) < 0) {
                        r_fail(r, "%s", "out of memory");
                        return;
                }
                json_object_set_new(o, "_session", json_integer((json_int_t)(intptr_t)s));
        }
        r_handles(r, r_get(r, o, "handles"), s ? &s->o : NULL, false, id);
        r_handles(r, r_get(r, o, "closed"), s ? &s->o : NULL, true, id);
}

/* Reads the state (d NULL: check only). */
static int upgrade_read(int fd, struct netd_daemon *d, bool live_fds, char *err, size_t errlen)
{
        struct rd r = { .d = d, .live_fds = live_fds, .err = err, .errlen = errlen };
        struct stat st;
        uint8_t *map = MAP_FAILED;
        uint32_t format, jlen;
        uint64_t blen;
        json_error_t jerr;
        json_t *root = NULL, *conns, *v, *stats, *sessions;
        const char *version;
        size_t i;
        int ret = -EINVAL;

        if (fstat(fd, &st) < 0) {
                (void)snprintf(err, errlen, "fstat: %s", strerror(errno));
                return -errno;
        }
        if ((size_t)st.st_size < UPGRADE_HEADER_LEN) {
                (void)snprintf(err, errlen, "the state is %lld bytes: too short",
                               (long long)st.st_size);
                return -EINVAL;
        }
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
                (void)snprintf(err, errlen, "mmap: %s", strerror(errno));
                return -errno;
        }
        memcpy(&format, map + 8, 4);
        memcpy(&jlen, map + 12, 4);
        memcpy(&blen, map + 16, 8);
        if (memcmp(map, UPGRADE_MAGIC, 8) != 0) {
                (void)snprintf(err, errlen, "not a netd upgrade state (bad magic)");
                goto out;
        }
        if (format != netd_build_upgrade_format) {
                (void)snprintf(err, errlen, "state format %u, this build reads format %u",
                               (unsigned)format, (unsigned)netd_build_upgrade_format);
                goto out;
        }
        if ((uint64_t)st.st_size != UPGRADE_HEADER_LEN + (uint64_t)jlen + blen) {
                (void)snprintf(err, errlen, "the state's lengths disagree with its size");
                goto out;
        }
        r.blobs = map + UPGRADE_HEADER_LEN + jlen;
        r.blob_len = blen;
        root = json_loadb((const char *)map + UPGRADE_HEADER_LEN, jlen, 0, &jerr);
        if (!root) {
                (void)snprintf(err, errlen, "the state's document: %s", jerr.text);
                goto out;
        }
        if (r_int(&r, root, "format", 0, UINT32_MAX) != format) {
                r_fail(&r, "%s", "the document's format differs from the header's");
                goto done;
        }
        version = json_string_value(r_get(&r, root, "version"));
        if (!version)
                r_fail(&r, "%s", "no version");
        (void)r_int(&r, root, "uptime_ms", 0, INT64_MAX);
        (void)r_int(&r, root, "next_conn_id", 0, INT64_MAX);
        stats = r_get(&r, root, "stats");
        if (stats && (!json_is_array(stats) || json_array_size(stats) > N_STATS))
                r_fail(&r, "%s", "stats is not an array this build knows");
        v = r_get(&r, root, "registry");
        if (v) {
                json_t *key = r_get(&r, v, "id_key");

                (void)r_int(&r, v, "next_id", 0, INT64_MAX);
                (void)r_bool(&r, v, "random_ids");
                if (key && (!json_is_array(key) || json_array_size(key) != 4))
                        r_fail(&r, "%s", "registry.id_key is not 4 keys");
                json_array_foreach(key, i, v)
                        if (!json_is_string(v) || strlen(json_string_value(v)) != 16)
                                r_fail(&r, "%s", "registry.id_key holds a bad key");
        }
        v = r_get(&r, root, "policy");
        if (v) {
                (void)r_int(&r, v, "generation", 0, INT_MAX);
                (void)r_int(&r, v, "errors", 0, INT_MAX);
        }
        v = r_get(&r, root, "listener");
        if (v) {
                json_t *path = r_get(&r, v, "path");
                int lfd = r_fd(&r, v, "fd", false);

                if (path && !json_is_null(path) && !json_is_string(path))
                        r_fail(&r, "%s", "listener.path is not a string");
                if (!r.failed && d) {
                        int e = netd_listener_upgrade_restore(d, lfd, json_string_value(path),
                                                              &d->listener);

                        if (e < 0)
                                r_fail(&r, "restoring the control socket: %s", strerror(-e));
                }
        }
        v = r_get(&r, root, "inherited");
        if (v && !json_is_array(v))
                r_fail(&r, "%s", "inherited is not an array");
        if (!r.failed) {
                json_t *in;

                json_array_foreach(v, i, in) {
                        const char *name = json_string_value(json_object_get(in, "name"));
                        int ifd = r_fd(&r, in, "fd", false);
                        struct netd_inherited_fd *n;

                        if (!name)
                                r_fail(&r, "%s", "an inherited socket has no name");
                        if (r.failed || !d)
                                continue;
                        n = realloc(d->inherited, (d->n_inherited + 1) * sizeof(*n));
                        if (!n || !(name = strdup(name))) {
                                if (n)
                                        d->inherited = n;
                                r_fail(&r, "%s", "out of memory");
                                continue;
                        }
                        d->inherited = n;
                        n[d->n_inherited++] =
                                (struct netd_inherited_fd){ .name = (char *)name, .fd = ifd };
                }
        }
        conns = r_get(&r, root, "conns");
        if (conns && !json_is_array(conns))
                r_fail(&r, "%s", "conns is not an array");
        if (r.failed)
                goto done;
        json_array_foreach(conns, i, v) {
                r_conn(&r, v);
                if (r.failed)
                        goto done;
        }
        sessions = r_get(&r, root, "sessions");
        if (sessions && !json_is_array(sessions))
                r_fail(&r, "%s", "sessions is not an array");
        if (r.failed)
                goto done;
        json_array_foreach(sessions, i, v) {
                r_session(&r, v);
                if (r.failed)
                        goto done;
        }
        v = r_get(&r, root, "observers");
        if (v && netd_observe_upgrade_restore(d, v, err, errlen) < 0) {
                r.failed = true;
                if (!err[0])
                        (void)snprintf(err, errlen, "restoring the subscriptions: out of memory");
                goto done;
        }
        r.where[0] = '\0';
        if (d) {
                const uint64_t n_stats = json_array_size(stats);
                uint64_t *st_out = (uint64_t *)&d->stats;
                json_t *reg = json_object_get(root, "registry"), *key;
                struct timespec now;
                int64_t up = json_integer_value(json_object_get(root, "uptime_ms"));
                json_t *pol = json_object_get(root, "policy");

                /* The pumps, now that every socket (a pipe's source too) exists. */
                for (i = 0; i < r.n_pumps; i++) {
                        struct r_pump *rp = &r.pumps[i];
                        struct netd_handle *h = netd_handle_lookup(d, rp->socket);
                        struct netd_handle *src =
                                rp->pipe_src ? netd_handle_lookup(d, rp->pipe_src) : NULL;
                        int e;

                        if (!h || h->type != NETD_HANDLE_SOCKET ||
                            (src && src->type != NETD_HANDLE_SOCKET)) {
                                r_fail(&r, "%s", "a pump names no socket");
                                goto done;
                        }
                        e = netd_socket_upgrade_pump((struct netd_socket *)h, rp->which, &rp->state,
                                                     (struct netd_socket *)src);
                        if (e < 0) {
                                if (rp->state.pipe_r >= 0)
                                        close(rp->state.pipe_r);
                                if (rp->state.pipe_w >= 0)
                                        close(rp->state.pipe_w);
                                r_fail(&r, "restoring a pump: %s", strerror(-e));
                                goto done;
                        }
                }
                for (i = 0; i < N_STATS; i++)
                        st_out[i] = i < n_stats
                                            ? (uint64_t)json_integer_value(json_array_get(stats, i))
                                            : 0;
                d->next_conn_id =
                        (uint64_t)json_integer_value(json_object_get(root, "next_conn_id"));
                d->handles.next_id = (uint64_t)json_integer_value(json_object_get(reg, "next_id"));
                d->handles.random_ids = json_is_true(json_object_get(reg, "random_ids"));
                key = json_object_get(reg, "id_key");
                for (int k = 0; k < 4; k++)
                        d->handles.id_key[k] = strtoull(
                                json_string_value(json_array_get(key, (size_t)k)), NULL, 16);
                if (d->policy)
                        d->policy->generation =
                                (unsigned)json_integer_value(json_object_get(pol, "generation"));
                d->policy_errors = (unsigned)json_integer_value(json_object_get(pol, "errors"));
                clock_gettime(CLOCK_MONOTONIC, &now);
                d->started.tv_sec = now.tv_sec - up / 1000;
                d->started.tv_nsec = now.tv_nsec - (long)(up % 1000) * 1000000;
                if (d->started.tv_nsec < 0) {
                        d->started.tv_nsec += 1000000000;
                        d->started.tv_sec--;
                }
                d->stats.upgrades++;
                /* Resume only now: every object exists, so any callback finds its peers. */
                json_array_foreach(conns, i, v) {
                        struct netd_conn *c = (struct netd_conn *)(intptr_t)json_integer_value(
                                json_object_get(v, "_conn"));
                        struct netd_handle *h;

                        TAILQ_FOREACH(h, &c->o.handles, owner_link) {
                                if (h->type == NETD_HANDLE_SOCKET)
                                        netd_socket_upgrade_resume((struct netd_socket *)h);
                                else
                                        netd_server_upgrade_resume((struct netd_server *)h);
                        }
                        netd_conn_upgrade_resume(c, json_is_true(json_object_get(v, "_draining")));
                }
                json_array_foreach(sessions, i, v) {
                        struct netd_session *ss =
                                (struct netd_session *)(intptr_t)json_integer_value(
                                        json_object_get(v, "_session"));
                        struct netd_handle *h;

                        TAILQ_FOREACH(h, &ss->o.handles, owner_link) {
                                if (h->type == NETD_HANDLE_SOCKET)
                                        netd_socket_upgrade_resume((struct netd_socket *)h);
                                else
                                        netd_server_upgrade_resume((struct netd_server *)h);
                        }
                        netd_session_upgrade_resume(
                                ss, json_integer_value(json_object_get(v, "left_ms")));
                }
                /* The netd.upgrade that asked for this: answered by the new binary. */
                json_array_foreach(conns, i, v) {
                        json_t *rq = json_object_get(v, "_req");

                        if (rq)
                                (void)netd_req_ok(
                                        (struct netd_req *)(intptr_t)json_integer_value(rq),
                                        json_pack("{s:s,s:s}", "version", netd_build_version,
                                                  "previous", version));
                }
                {
                        size_t held = 0;

                        for (i = 0; i < r.n_pumps; i++)
                                held += r.pumps[i].state.fill + r.pumps[i].state.len;
                        log_info("Upgraded in place from netd %s: %zu connections, %zu pumps "
                                 "(%zu bytes in their pipes) restored",
                                 version, json_array_size(conns), r.n_pumps, held);
                }
        }
done:
        ret = r.failed ? -EINVAL : 0;
out:
        free(r.fds);
        free(r.pumps);
        json_decref(root);
        if (map != MAP_FAILED)
                munmap(map, (size_t)st.st_size);
        return ret;
}

int netd_upgrade_check_fd(int fd, char *err, size_t errlen)
{
        return upgrade_read(fd, NULL, false, err, errlen);
}

int netd_upgrade_restore(struct netd_daemon *d, int fd, char *err, size_t errlen)
{
        int r;

        /* All of it is checked (descriptors open too) before anything is made. */
        r = upgrade_read(fd, NULL, true, err, errlen);
        if (r == 0)
                r = upgrade_read(fd, d, true, err, errlen);
        close(fd);
        return r;
}

/* ---- The upgrade itself ---- */

/* Runs the target binary with --upgrade-check=FD on the state; 0 when it exited 0. */
static int upgrade_check(int memfd, char *err, size_t errlen)
{
        char arg[64];
        int64_t deadline = netd_daemon_now_ms() + NETD_UPGRADE_CHECK_MS;
        int pidfd, status = 0;
        pid_t pid;

        (void)snprintf(arg, sizeof(arg), "--upgrade-check=%d", memfd);
        pid = fork();
        if (pid < 0) {
                (void)snprintf(err, errlen, "fork: %s", strerror(errno));
                return -errno;
        }
        if (pid == 0) {
                char *argv[] = { upgrade_exe, arg, NULL };
                sigset_t none;

                sigemptyset(&none);
                (void)sigprocmask(SIG_SETMASK, &none, NULL);
                (void)fcntl(memfd, F_SETFD, 0);
                execv(upgrade_exe, argv);
                _exit(127);
        }
        pidfd = pidfd_open(pid, 0);
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                int64_t left = deadline - netd_daemon_now_ms();

                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR) {
                        (void)snprintf(err, errlen, "waitpid: %s", strerror(errno));
                        if (pidfd >= 0)
                                close(pidfd);
                        return -ECHILD;
                }
                if (left <= 0) {
                        (void)kill(pid, SIGKILL);
                        (void)waitpid(pid, &status, 0);
                        if (pidfd >= 0)
                                close(pidfd);
                        (void)snprintf(err, errlen,
                                       "%s --upgrade-check did not finish within %d ms",
                                       upgrade_exe, NETD_UPGRADE_CHECK_MS);
                        return -ETIMEDOUT;
                }
                if (pidfd >= 0) {
                        struct pollfd p = { .fd = pidfd, .events = POLLIN };

                        (void)poll(&p, 1, (int)left);
                } else {
                        (void)usleep(1000);
                }
        }
        if (pidfd >= 0)
                close(pidfd);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                (void)snprintf(err, errlen, "%s could not be run (exit 127)", upgrade_exe);
        else if (WIFEXITED(status))
                (void)snprintf(err, errlen, "%s --upgrade-check refused the state (exit %d)",
                               upgrade_exe, WEXITSTATUS(status));
        else
                (void)snprintf(err, errlen, "%s --upgrade-check died of signal %d", upgrade_exe,
                               WTERMSIG(status));
        return -EINVAL;
}

static void upgrade_end(struct netd_daemon *d, const char *why)
{
        struct netd_upgrade *u = d->upgrade;

        d->stats.upgrades_failed++;
        log_error("Upgrade refused: %s; the running netd %s goes on serving", why,
                  netd_build_version);
        if (u->req) {
                if (u->req->conn)
                        (void)netd_req_fail_err(u->req, NETD_ERR_NETD_UPGRADE, why);
                else
                        netd_req_drop(u->req, "its connection is gone");
                u->req = NULL;
        }
        netd_upgrade_free(d);
}

/* Saves, checks and execs; returns only when the old process must go on (logged, answered). */
static void upgrade_run(struct netd_daemon *d)
{
        struct netd_upgrade *u = d->upgrade;
        sigset_t block, old;
        char err[512] = "", env[32];
        int memfd, *fds = NULL, r;
        size_t n_fds = 0;
        int64_t t0 = netd_daemon_now_ms();

        memfd = memfd_create("netd-upgrade", MFD_CLOEXEC);
        if (memfd < 0) {
                (void)snprintf(err, sizeof(err), "memfd_create: %s", strerror(errno));
                upgrade_end(d, err);
                return;
        }
        r = upgrade_save(d, u->req, memfd, &fds, &n_fds, err, sizeof(err));
        if (r == 0)
                r = upgrade_check(memfd, err, sizeof(err));
        if (r < 0) {
                close(memfd);
                free(fds);
                upgrade_end(d, err);
                return;
        }
        /* RELOADING=1 (and a watchdog ping) before the exec; the new image's READY=1 ends it. */
        netd_notify_reloading(d);
        log_info("Upgrading in place: exec %s (state checked in %lld ms, %zu descriptors kept)",
                 upgrade_exe, (long long)(netd_daemon_now_ms() - t0), n_fds);
        /*
         * Until the new image has its handlers, a signal would take its
         * default action (SIGUSR2, SIGTERM: death): blocked, they stay
         * pending across the exec and are handled once it serves.
         */
        netd_upgrade_sigset(&block);
        (void)sigprocmask(SIG_BLOCK, &block, &old);
        for (size_t i = 0; i < n_fds; i++)
                (void)fcntl(fds[i], F_SETFD, 0);
        (void)fcntl(memfd, F_SETFD, 0);
        (void)snprintf(env, sizeof(env), "%d", memfd);
        (void)setenv(NETD_UPGRADE_ENV, env, 1);
        execv(upgrade_exe, upgrade_argv);
        /* Still here: nothing changed for the clients, undo and go on. */
        (void)snprintf(err, sizeof(err), "exec %s: %s", upgrade_exe, strerror(errno));
        (void)unsetenv(NETD_UPGRADE_ENV);
        for (size_t i = 0; i < n_fds; i++)
                (void)fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        close(memfd);
        free(fds);
        (void)sigprocmask(SIG_SETMASK, &old, NULL);
        netd_notify_ready(d); /* ends the RELOADING=1 above: this image serves on */
        upgrade_end(d, err);
}

static void upgrade_try_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_daemon *d = arg;
        struct netd_upgrade *u = d->upgrade;
        const char *busy = upgrade_busy(d, u->req);

        if (busy) {
                char why[256];

                if (netd_daemon_now_ms() < u->deadline_ms) {
                        event_add(u->ev_try, &(struct timeval){ 0, 2000 });
                        return;
                }
                (void)snprintf(why, sizeof(why), "still busy after %d ms: %s",
                               NETD_UPGRADE_SETTLE_MS, busy);
                upgrade_end(d, why);
                return;
        }
        upgrade_run(d);
}

void netd_upgrade_begin(struct netd_daemon *d, struct netd_req *req)
{
        struct netd_upgrade *u;

        if (d->upgrade || !upgrade_exe) {
                const char *why = d->upgrade ? "an upgrade is in progress already"
                                             : "the binary's path is unknown";

                log_warning("Upgrade refused: %s", why);
                if (req)
                        (void)netd_req_fail_err(req, NETD_ERR_NETD_UPGRADE, why);
                return;
        }
        u = calloc(1, sizeof(*u));
        if (u)
                u->ev_try = evtimer_new(d->base, upgrade_try_cb, d);
        if (!u || !u->ev_try) {
                free(u);
                if (req)
                        (void)netd_req_fail_errno(req, ENOMEM, "upgrade", NULL, -1);
                return;
        }
        log_info("Upgrade requested%s: netd %s, exec %s", req ? " (netd.upgrade)" : " (SIGUSR2)",
                 netd_build_version, upgrade_exe);
        u->d = d;
        u->req = req;
        u->deadline_ms = netd_daemon_now_ms() + NETD_UPGRADE_SETTLE_MS;
        if (req)
                netd_req_hold(req, "upgrade");
        d->upgrade = u;
        /* From a later loop turn: the request's own reply and callback are done by then. */
        event_active(u->ev_try, EV_TIMEOUT, 0);
}

void netd_upgrade_free(struct netd_daemon *d)
{
        struct netd_upgrade *u = d->upgrade;

        if (!u)
                return;
        if (u->req)
                netd_req_drop(u->req, "the daemon stops");
        if (u->ev_try)
                event_free(u->ev_try);
        free(u);
        d->upgrade = NULL;
}
