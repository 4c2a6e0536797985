/*
 * connect and listen (see netctl-stream.h). One poll() loop serves the
 * control connection, a signalfd and, per connection (a session), an input
 * (stdin, or the stdout of the --exec child) and an output (stdout, or the
 * child's stdin). The two directions of a session are independent. A
 * session is attached when netd gave it the socket's descriptor
 * (socket.attach, or server.connection of an {"attach":true} server): the
 * bytes then go through that descriptor with plain reads and writes, input's
 * EOF is shutdown(SHUT_WR) and the peer's end is the descriptor's EOF; the
 * daemon's byte counters (socket.get) are checked against ours at the end.
 * Otherwise (a netd without socket.attach, or --no-attach) input goes out
 * with socket.write until its EOF, then socket.end; the peer's data is
 * written out from socket.data until its socket.end. A session is over once netd has
 * closed the socket, every write has its reply, the output is flushed and
 * the child is reaped; any byte left behind on the way is an error.
 * The stream owns its sessions and, once started, the client (it frees it
 * before the sessions, whose write callbacks it may still run).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "netctl-stream.h"
#include "netd/netd.h"

/* Input sent with socket.write and not answered yet, per session, at most. */
#define STREAM_INFLIGHT_MAX_BYTES (1024 * 1024)
/* One read() of the input, and so one socket.write, at most. */
#define STREAM_CHUNK_BYTES        (64 * 1024)
/* Output queued for a slow child: the socket is paused above HIGH, resumed below LOW. */
#define STREAM_OUT_HIGH_BYTES     (1024 * 1024)
#define STREAM_OUT_LOW_BYTES      (256 * 1024)
/* On a signal, how long netd may take to reset the connections. */
#define STREAM_RESET_TIMEOUT_MS   2000
/* --progress: one report per interval. */
#define STREAM_PROGRESS_MS        1000
/* Attached sessions: one read() each way, at most (a pipe's or socket's whole buffer). */
#define STREAM_RELAY_BYTES        (256 * 1024)
/* Attached, a pipe on our side: one splice() at most, and the size asked of those pipes. */
#define STREAM_SPLICE_BYTES       (1024 * 1024)

struct stream;

/* Bytes waiting for the output fd. */
struct obuf {
        char *data; /* owned */
        size_t off, len, cap;
};

/* One connection and what it is wired to. */
struct session {
        struct stream *st;    /* borrowed */
        struct session *next; /* in st->sessions, in accept order */
        uint64_t socket;      /* 0 until netd names it */
        char peer[160];       /* for messages */
        bool active;          /* wired to its input and output (listen: its turn came) */
        bool connected;       /* connect: socket.connect came */
        int in_fd;            /* stdin or the child's stdout; -1 when not read (any more) */
        int out_fd;           /* stdout or the child's stdin; -1 once closed */
        bool own_fds;         /* in_fd/out_fd are pipes to a child */
        pid_t child;          /* > 0 until reaped */
        bool input_ended;     /* input reached EOF, or is not read (--recv-only) */
        bool end_sent;        /* socket.end sent */
        bool peer_ended;      /* socket.end came */
        bool closed;          /* socket.close came */
        bool failed;          /* an error was reported for it */
        bool child_failed;    /* the child exited with a failure: an error, yet the bytes flow */
        bool paused;          /* socket.pause sent for a full output */
        size_t inflight;      /* socket.write bytes without a reply */
        unsigned pending;     /* socket.write/socket.end calls without a reply */
        uint64_t read_bytes;  /* read from the input */
        uint64_t sent;        /* written to the socket (write replies) */
        uint64_t received;    /* from the socket */
        struct obuf out;
        int64_t connect_deadline_ms; /* -1: none */

        bool attach_pending;   /* socket.attach sent, no reply yet: input waits */
        bool end_wanted;       /* session_end() came while attach_pending */
        bool attached;         /* the bytes go through pair_fd */
        int pair_fd;           /* owned: our end of the socket's pair; -1 when not attached or
                                  closed */
        bool pair_eof;         /* read the pair's EOF: the peer ended */
        struct obuf up;        /* attached: input read and not yet written to the pair */
        bool verify_pending;   /* socket.get of the final counters sent */
        bool verified;         /* the counters came */
        uint64_t netd_read;    /* socket.get bytesRead at the end */
        uint64_t netd_written; /* socket.get bytesWritten at the end */
        bool splice_in;        /* attached, the input is a pipe: splice() it to the pair */
        bool splice_out;       /* attached, the output is a pipe: splice() the pair to it */
        bool up_wait_out;      /* a splice to the pair found it full: wait until writable */
        bool down_wait_out;    /* a splice to the output found it full: wait until writable */
};

struct stream {
        struct netd_client *c; /* owned from the start of the run */
        const struct netctl_stream_opts *o;
        const struct netctl_endpoint *e;
        bool listen;
        bool unix_socket;
        uint64_t server;
        bool server_closing;      /* we asked for server.close */
        bool server_closed;       /* server.close came: no more connections */
        unsigned served;          /* connections accepted */
        struct session *sessions; /* owned */
        bool stdin_eof;           /* stdin reached EOF: later sessions start with it ended */
        bool stdin_busy;          /* a session is wired to stdin/stdout */
        bool done;
        int exit_code;
        int sigfd;
        int64_t setup_deadline_ms; /* connect: until net.connect's reply; -1: none */
        int64_t start_ms, next_progress_ms;
        uint64_t total_sent, total_received, last_total;
        bool progress_tty;
        char *buf;            /* owned: STREAM_CHUNK_BYTES */
        struct pollfd *pfd;   /* owned: the poll set, grown with the sessions */
        struct session **who; /* owned: the session of each pfd entry (from index 2) */
        char *kind;           /* owned: what each pfd entry is: 'i'nput, 'o'utput, 'p'air */
        size_t poll_cap;
        bool attach; /* try to attach sockets (not --no-attach; netd knows how) */
};

/* Tracks one socket.write or socket.end until its reply. */
struct write_req {
        struct session *s; /* borrowed: sessions outlive their pending calls */
        size_t len;
        bool end;
};

static void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static size_t obuf_size(const struct obuf *b);
static void session_choose_splice(struct session *s);

static void log_error(const char *fmt, ...)
{
        va_list ap;

        fputs("netctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static int64_t now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stream_finish(struct stream *st, int exit_code)
{
        if (st->done)
                return;
        st->done = true;
        st->exit_code = exit_code;
}

/* Sends a request whose reply nobody waits for. */
static void stream_call_socket(struct stream *st, const char *method, uint64_t socket)
{
        (void)netd_client_call(st->c, method, json_pack("{s:I}", "socket", (json_int_t)socket),
                               NULL, NULL);
}

static const char *session_what(const struct session *s)
{
        return s->st->listen ? "connection from" : "connection to";
}

/*
 * Reports an error of s (once), and tears the connection down: the socket
 * is destroyed, the input no longer read and the output dropped. The
 * session ends as usual once netd confirms the close.
 */
static void session_abort(struct session *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void session_abort(struct session *s, const char *fmt, ...)
{
        va_list ap;

        if (!s->failed) {
                fputs("netctl: ", stderr);
                va_start(ap, fmt);
                vfprintf(stderr, fmt, ap);
                va_end(ap);
                fputc('\n', stderr);
        }
        s->failed = true;
        if (s->socket && !s->closed)
                stream_call_socket(s->st, "socket.destroy", s->socket);
        if (s->in_fd >= 0 && s->own_fds)
                close(s->in_fd);
        s->in_fd = -1;
        s->input_ended = true;
        s->out.len = s->out.off = 0;
        s->up.len = s->up.off = 0;
        if (s->pair_fd >= 0) {
                close(s->pair_fd);
                s->pair_fd = -1;
        }
        if (s->child > 0)
                (void)kill(s->child, SIGTERM);
}

/* ---- Socket side ----------------------------------------------------------------------------- */

static void session_write_cb(struct netd_client *c, json_t *result,
                             const struct netd_client_error *err, void *userdata)
{
        struct write_req *w = userdata;
        struct session *s = w->s;
        bool end = w->end;
        char line[1024];

        s->pending--;
        s->inflight -= w->len;
        if (!err) {
                s->sent += w->len;
                s->st->total_sent += w->len;
                free(w);
                return;
        }
        /*
         * A system error (-32000) is the socket's own error, which its
         * socket.error event reports next; a lost netd is reported by the
         * loop. The bytes of this write are not counted as sent, so the
         * session fails in any case (stream_collect()).
         */
        free(w);
        /*
         * Writes cut off by the socket closing: the close (socket.error, or
         * a close before both ends) says why, and the unsent bytes are
         * counted when the session ends.
         */
        if (err->code == -32000 || s->st->done ||
            (err->data_code &&
             (strcmp(err->data_code, "ERR_SOCKET_CLOSED_BEFORE_CONNECTION") == 0 ||
              strcmp(err->data_code, "ERR_STREAM_DESTROYED") == 0 ||
              strcmp(err->data_code, "ERR_SOCKET_CLOSED") == 0)))
                return;
        if (!s->failed) {
                (void)netctl_format_error(err, line, sizeof(line));
                log_error("%s %s: %s failed: %s", session_what(s), s->peer,
                          end ? "socket.end" : "socket.write", line);
        }
        s->failed = true;
}

/* Queues socket.write (len > 0) or socket.end (end). Returns 0 or -errno. */
static int session_send(struct session *s, const void *data, size_t len, bool end)
{
        struct write_req *w = malloc(sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        *w = (struct write_req){ .s = s, .len = len, .end = end };
        if (end)
                r = netd_client_socket_end(s->st->c, s->socket, session_write_cb, w);
        else
                r = netd_client_socket_write(s->st->c, s->socket, data, len, session_write_cb, w);
        if (r < 0) {
                free(w); /* the callback is not called when queueing fails */
                return r;
        }
        s->pending++;
        s->inflight += len;
        return 0;
}

/* Ends our direction once: after the input's EOF, or (--recv-only, a terminal) the peer's. */
static void session_end(struct session *s)
{
        int r;

        s->input_ended = true;
        if (s->end_sent || !s->socket || s->closed || s->failed)
                return;
        if (s->attach_pending) {
                s->end_wanted = true; /* once we know which way the bytes go */
                return;
        }
        if (s->attached) {
                /* After the bytes still to write (session_pair_flush() comes back here). */
                if (obuf_size(&s->up) > 0 || s->pair_fd < 0)
                        return;
                if (shutdown(s->pair_fd, SHUT_WR) < 0) {
                        session_abort(s, "%s %s: cannot end the socket: %s", session_what(s),
                                      s->peer, strerror(errno));
                        return;
                }
                s->end_sent = true;
                return;
        }
        s->end_sent = true;
        r = session_send(s, NULL, 0, true);
        if (r < 0 && netd_client_is_connected(s->st->c))
                session_abort(s, "cannot end the socket: %s", strerror(-r));
}

/* ---- Output side ----------------------------------------------------------------------------- */

static int obuf_append(struct obuf *b, const void *data, size_t len)
{
        if (b->off > 0 && b->off == b->len)
                b->off = b->len = 0;
        if (b->cap - b->len < len) {
                size_t cap = b->cap ? b->cap : 64 * 1024;
                char *n;

                /* Move the unsent bytes to the front before growing. */
                if (b->off > 0) {
                        memmove(b->data, b->data + b->off, b->len - b->off);
                        b->len -= b->off;
                        b->off = 0;
                }
                while (cap - b->len < len)
                        cap *= 2;
                if (cap != b->cap) {
                        n = realloc(b->data, cap);
                        if (!n)
                                return -ENOMEM;
                        b->data = n;
                        b->cap = cap;
                }
        }
        memcpy(b->data + b->len, data, len);
        b->len += len;
        return 0;
}

static size_t obuf_size(const struct obuf *b)
{
        return b->len - b->off;
}

/* Makes room for at least want bytes after the buffered ones. Returns 0 or -ENOMEM. */
static int obuf_reserve(struct obuf *b, size_t want)
{
        char *n;

        if (b->off > 0 && b->off == b->len)
                b->off = b->len = 0;
        if (b->cap - b->len >= want)
                return 0;
        n = realloc(b->data, b->len + want);
        if (!n)
                return -ENOMEM;
        b->data = n;
        b->cap = b->len + want;
        return 0;
}

/*
 * No more bytes will come from the peer: its end came (attached: the pair's
 * EOF, which --send-only waits for too, so that netd's count of the bytes
 * read can be checked), or the session failed.
 */
static bool session_peer_done(const struct session *s)
{
        if (s->failed)
                return true;
        if (s->st->o->send_only && !s->attached)
                return true;
        if (s->attached)
                return s->pair_eof || s->pair_fd < 0;
        return s->peer_ended || s->closed;
}

/* The child's stdin gets its EOF once the peer has ended and everything is written. */
static void session_maybe_close_output(struct session *s)
{
        if (s->own_fds && s->out_fd >= 0 && obuf_size(&s->out) == 0 &&
            (s->st->o->send_only || session_peer_done(s))) {
                close(s->out_fd);
                s->out_fd = -1;
        }
}

/*
 * Writes what the output takes without blocking (a blocking stdout takes
 * everything, and so holds netctl, netd and then the peer back). Pauses
 * the socket while more than STREAM_OUT_HIGH_BYTES wait.
 */
static void session_flush(struct session *s)
{
        while (obuf_size(&s->out) > 0 && s->out_fd >= 0) {
                ssize_t n = write(s->out_fd, s->out.data + s->out.off, obuf_size(&s->out));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                break;
                        session_abort(s, "cannot write to %s: %s (%zu bytes not delivered)",
                                      s->own_fds ? "the command's stdin" : "stdout",
                                      strerror(errno), obuf_size(&s->out));
                        return;
                }
                s->out.off += (size_t)n;
                s->received += (uint64_t)n;
                s->st->total_received += (uint64_t)n;
        }
        if (s->socket && !s->closed && !s->attached && !s->attach_pending) {
                if (!s->paused && obuf_size(&s->out) > STREAM_OUT_HIGH_BYTES) {
                        s->paused = true;
                        stream_call_socket(s->st, "socket.pause", s->socket);
                } else if (s->paused && obuf_size(&s->out) <= STREAM_OUT_LOW_BYTES) {
                        s->paused = false;
                        stream_call_socket(s->st, "socket.resume", s->socket);
                }
        }
        session_maybe_close_output(s);
}

/* ---- Input side ------------------------------------------------------------------------------ */

/*
 * Attached: writes the input read so far to the pair, without blocking;
 * once it is all out and the input has ended, ends our side.
 */
static void session_pair_flush(struct session *s)
{
        while (obuf_size(&s->up) > 0 && s->pair_fd >= 0) {
                ssize_t n = send(s->pair_fd, s->up.data + s->up.off, obuf_size(&s->up),
                                 MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return;
                        session_abort(s, "%s %s: cannot send: %s (%s)", session_what(s), s->peer,
                                      strerror(errno), strerrorname_np(errno) ?: "?");
                        return;
                }
                s->up.off += (size_t)n;
                s->sent += (uint64_t)n;
                s->st->total_sent += (uint64_t)n;
        }
        s->up.off = s->up.len = 0;
        if (s->input_ended && !s->end_sent)
                session_end(s);
}

/* Attached: reads what the peer sent from the pair, and writes it out (or drops it). */
static void session_pair_read(struct session *s)
{
        ssize_t n;

        if (s->splice_out) {
                n = splice(s->pair_fd, NULL, s->out_fd, NULL, STREAM_SPLICE_BYTES,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n > 0) {
                        s->received += (uint64_t)n;
                        s->st->total_received += (uint64_t)n;
                        return;
                }
                if (n == 0) {
                        s->pair_eof = true;
                        session_maybe_close_output(s);
                        return;
                }
                if (errno == EINTR)
                        return;
                if (errno == EAGAIN) {
                        s->down_wait_out = true; /* the pair was readable: the output is full */
                        return;
                }
                if (errno != EINVAL) {
                        session_abort(s, "cannot write to %s: %s",
                                      s->own_fds ? "the command's stdin" : "stdout",
                                      strerror(errno));
                        return;
                }
                s->splice_out = false; /* not for these descriptors: read and write */
        }
        if (obuf_reserve(&s->out, STREAM_RELAY_BYTES) < 0) {
                session_abort(s, "out of memory");
                return;
        }
        n = recv(s->pair_fd, s->out.data + s->out.len, s->out.cap - s->out.len, MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                        return;
                session_abort(s, "%s %s: cannot receive: %s (%s)", session_what(s), s->peer,
                              strerror(errno), strerrorname_np(errno) ?: "?");
                return;
        }
        if (n == 0) {
                s->pair_eof = true;
                session_maybe_close_output(s);
                return;
        }
        if (s->st->o->send_only) {
                /* --send-only: read and dropped, as asked; counted as received. */
                s->received += (uint64_t)n;
                s->st->total_received += (uint64_t)n;
                return;
        }
        s->out.len += (size_t)n;
        session_flush(s);
}

/* Attached: the pair is read while the output has taken everything read before. */
static bool session_wants_pair_read(const struct session *s)
{
        return s->attached && s->active && s->pair_fd >= 0 && !s->pair_eof && !s->failed &&
               obuf_size(&s->out) == 0 && !s->down_wait_out &&
               (s->out_fd >= 0 || s->st->o->send_only);
}

static void session_read_input(struct session *s)
{
        ssize_t n;
        int r;

        if (s->attached && s->splice_in) {
                n = splice(s->in_fd, NULL, s->pair_fd, NULL, STREAM_SPLICE_BYTES,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n > 0) {
                        s->read_bytes += (uint64_t)n;
                        s->sent += (uint64_t)n;
                        s->st->total_sent += (uint64_t)n;
                        return;
                }
                if (n < 0 && errno == EAGAIN) {
                        s->up_wait_out = true; /* the input was readable: the pair is full */
                        return;
                }
                if (n < 0 && errno != EINVAL && errno != EINTR) {
                        session_abort(s, "%s %s: cannot send: %s (%s)", session_what(s), s->peer,
                                      strerror(errno), strerrorname_np(errno) ?: "?");
                        return;
                }
                if (n < 0 && errno == EINVAL)
                        s->splice_in = false; /* not for these descriptors: read and write */
                if (n < 0)
                        return;
                /* n == 0: the input's EOF, handled below as read()'s. */
        } else if (s->attached) {
                if (obuf_reserve(&s->up, STREAM_RELAY_BYTES) < 0) {
                        session_abort(s, "out of memory");
                        return;
                }
                n = read(s->in_fd, s->up.data + s->up.len, s->up.cap - s->up.len);
        } else {
                n = read(s->in_fd, s->st->buf, STREAM_CHUNK_BYTES);
        }
        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                        return;
                session_abort(s, "cannot read %s: %s",
                              s->own_fds ? "the command's stdout" : "stdin", strerror(errno));
                return;
        }
        if (n == 0) {
                if (s->own_fds)
                        close(s->in_fd);
                else
                        s->st->stdin_eof = true;
                s->in_fd = -1;
                session_end(s);
                return;
        }
        s->read_bytes += (uint64_t)n;
        if (s->attached) {
                s->up.len += (size_t)n;
                session_pair_flush(s);
                return;
        }
        r = session_send(s, s->st->buf, (size_t)n, false);
        if (r < 0 && netd_client_is_connected(s->st->c))
                session_abort(s, "cannot send to the socket: %s", strerror(-r));
}

/* Starts CMD with pipes for its stdin and stdout. Returns 0 or -errno. */
static int session_spawn(struct session *s)
{
        char *const *argv = s->st->o->exec_argv;
        int to[2] = { -1, -1 }, from[2] = { -1, -1 };
        pid_t pid;

        if (pipe2(to, O_CLOEXEC) < 0 || pipe2(from, O_CLOEXEC) < 0) {
                int r = -errno;

                if (to[0] >= 0) {
                        close(to[0]);
                        close(to[1]);
                }
                return r;
        }
        pid = fork();
        if (pid < 0) {
                int r = -errno;

                close(to[0]);
                close(to[1]);
                close(from[0]);
                close(from[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t none;

                /* dup2() clears close-on-exec on the copies; the originals close at exec. */
                if (dup2(to[0], STDIN_FILENO) < 0 || dup2(from[1], STDOUT_FILENO) < 0)
                        _exit(127);
                if (to[0] == STDIN_FILENO)
                        (void)fcntl(STDIN_FILENO, F_SETFD, 0);
                if (from[1] == STDOUT_FILENO)
                        (void)fcntl(STDOUT_FILENO, F_SETFD, 0);
                (void)sigemptyset(&none);
                (void)sigprocmask(SIG_SETMASK, &none, NULL);
                (void)signal(SIGPIPE, SIG_DFL);
                execvp(argv[0], argv);
                fprintf(stderr, "netctl: cannot run '%s': %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(to[0]);
        close(from[1]);
        (void)fcntl(to[1], F_SETFL, fcntl(to[1], F_GETFL) | O_NONBLOCK);
        (void)fcntl(from[0], F_SETFL, fcntl(from[0], F_GETFL) | O_NONBLOCK);
        s->child = pid;
        s->out_fd = to[1];
        s->in_fd = from[0];
        s->own_fds = true;
        return 0;
}

/* Wires s to its input and output: a new child, or stdin/stdout. */
static void session_activate(struct session *s)
{
        struct stream *st = s->st;
        int r;

        s->active = true;
        if (st->o->exec_argv) {
                r = session_spawn(s);
                if (r < 0) {
                        session_abort(s, "cannot start '%s': %s", st->o->exec_argv[0],
                                      strerror(-r));
                        return;
                }
        } else {
                st->stdin_busy = true;
                s->in_fd = STDIN_FILENO;
                s->out_fd = STDOUT_FILENO;
        }
        if (st->o->recv_only) {
                /* Our side ends when the peer's does (socket.end). */
                if (s->own_fds)
                        close(s->in_fd);
                s->in_fd = -1;
                s->input_ended = true;
        } else if (!s->own_fds && st->stdin_eof) {
                /* An earlier connection took stdin to its end: this one only receives. */
                s->in_fd = -1;
                session_end(s);
        }
        session_choose_splice(s);
        session_maybe_close_output(s);
}

/* ---- Attaching --------------------------------------------------------------------------------
 */

static bool fd_is_pipe(int fd)
{
        struct stat st;

        return fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/*
 * Attached and active: where the input or output is a pipe, the bytes are
 * spliced between it and the pair (no copy through netctl), with the pipe
 * grown to STREAM_SPLICE_BYTES if the system allows (fewer, larger moves).
 */
static void session_choose_splice(struct session *s)
{
        if (!s->attached || !s->active)
                return;
        s->splice_in = fd_is_pipe(s->in_fd);
        s->splice_out = !s->st->o->send_only && fd_is_pipe(s->out_fd);
        if (s->splice_in)
                (void)fcntl(s->in_fd, F_SETPIPE_SZ, STREAM_SPLICE_BYTES);
        if (s->splice_out)
                (void)fcntl(s->out_fd, F_SETPIPE_SZ, STREAM_SPLICE_BYTES);
}

/* From now on s's bytes go through fd (owned from here on), our end of the socket's pair. */
static void session_set_pair(struct session *s, int fd)
{
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                close(fd);
                session_abort(s, "%s %s: cannot use the attached socket: %s", session_what(s),
                              s->peer, strerror(errno));
                return;
        }
        s->pair_fd = fd;
        s->attached = true;
        session_choose_splice(s);
        if (s->st->o->verbose)
                fprintf(stderr, "%s %s: attached\n", session_what(s), s->peer);
}

static void session_attach_cb(struct netd_client *c, json_t *result,
                              const struct netd_client_error *err, void *userdata)
{
        struct session *s = userdata;
        int fd;

        s->pending--;
        s->attach_pending = false;
        if (err) {
                /*
                 * A netd without socket.attach (-32601): the bytes go as JSON, for
                 * this and every later socket. Any other error (the socket failed
                 * meanwhile) leaves it on the JSON path too; its events say why.
                 */
                if (err->code == -32601)
                        s->st->attach = false;
                if (s->st->o->verbose && !s->st->done)
                        fprintf(stderr, "%s %s: not attached (%s), the bytes go as JSON\n",
                                session_what(s), s->peer, err->message);
        } else {
                fd = netd_client_take_fd(c, 0);
                if (fd < 0) {
                        session_abort(s, "netd attached the socket but sent no descriptor (%s)",
                                      NETD_CLIENT_ERR_PROTOCOL);
                        return;
                }
                session_set_pair(s, fd);
        }
        if (s->end_wanted && !s->failed)
                session_end(s);
}

/* Asks netd for the socket's descriptor; input waits for the answer. */
static void session_attach(struct session *s)
{
        int r;

        r = netd_client_socket_attach(s->st->c, s->socket, session_attach_cb, s);
        if (r < 0)
                return; /* stays on the JSON path */
        s->pending++;
        s->attach_pending = true;
}

/* The counters of a closed attached socket, to check against ours. */
static void session_verify_cb(struct netd_client *c, json_t *result,
                              const struct netd_client_error *err, void *userdata)
{
        struct session *s = userdata;
        json_t *rd = json_object_get(result, "bytesRead");
        json_t *wr = json_object_get(result, "bytesWritten");
        char line[1024];

        s->pending--;
        s->verify_pending = false;
        if (err || !json_is_integer(rd) || !json_is_integer(wr)) {
                if (s->st->done)
                        return;
                if (err)
                        (void)netctl_format_error(err, line, sizeof(line));
                if (!s->failed)
                        log_error("%s %s: cannot check the bytes moved: %s", session_what(s),
                                  s->peer, err ? line : "socket.get gave no counters");
                s->failed = true;
                return;
        }
        s->verified = true;
        s->netd_read = (uint64_t)json_integer_value(rd);
        s->netd_written = (uint64_t)json_integer_value(wr);
}

/* ---- Events ---------------------------------------------------------------------------------- */

static struct session *stream_find(struct stream *st, uint64_t socket)
{
        for (struct session *s = st->sessions; s; s = s->next)
                if (s->socket == socket)
                        return s;
        return NULL;
}

/* Formats remoteAddress/remotePort of a server.connection (or server.drop) event. */
static void format_remote(json_t *params, char *buf, size_t len)
{
        const char *host = json_string_value(json_object_get(params, "remoteAddress"));
        json_t *port = json_object_get(params, "remotePort");

        if (host && json_is_integer(port))
                (void)snprintf(buf, len,
                               strchr(host, ':') ? "[%s]:%" JSON_INTEGER_FORMAT
                                                 : "%s:%" JSON_INTEGER_FORMAT,
                               host, json_integer_value(port));
        else
                (void)snprintf(buf, len, "a local client");
}

/* Formats the error object of a server.error or socket.error event. */
static void format_error_event(json_t *params, char *buf, size_t len)
{
        json_t *e = json_object_get(params, "error");
        json_t *code = json_object_get(e, "code");
        struct netd_client_error err = {
                .code = (int)json_integer_value(code),
                .message = json_string_value(json_object_get(e, "message")),
                .data_code = json_string_value(json_object_get(json_object_get(e, "data"), "code")),
        };

        if (!err.message)
                err.message = "the socket failed";
        (void)netctl_format_error(&err, buf, len);
}

static void stream_on_connection(struct stream *st, json_t *params)
{
        struct session *s, **tail;
        uint64_t id;
        unsigned live = 0;

        if (netd_client_get_handle(params, "socket", &id) < 0)
                return;
        for (tail = &st->sessions; *tail; tail = &(*tail)->next)
                live++;
        if (!st->o->keep_open && live > 0) {
                /* A straggler accepted before server.close took effect. */
                stream_call_socket(st, "socket.destroy", id);
                return;
        }
        s = calloc(1, sizeof(*s));
        if (!s) {
                log_error("out of memory, dropping a connection");
                stream_call_socket(st, "socket.destroy", id);
                return;
        }
        *s = (struct session){ .st = st,
                               .socket = id,
                               .in_fd = -1,
                               .out_fd = -1,
                               .pair_fd = -1,
                               .connect_deadline_ms = -1,
                               .connected = true };
        format_remote(params, s->peer, sizeof(s->peer));
        if (json_is_integer(json_object_get(params, "fd"))) {
                int fd = netd_client_take_fd(
                        st->c, (unsigned)json_integer_value(json_object_get(params, "fd")));

                if (fd < 0) {
                        log_error("connection from %s came without its descriptor (%s), "
                                  "dropping it",
                                  s->peer, NETD_CLIENT_ERR_PROTOCOL);
                        stream_call_socket(st, "socket.destroy", id);
                        free(s);
                        return;
                }
                session_set_pair(s, fd);
        }
        *tail = s;
        st->served++;
        if (!st->o->keep_open) {
                st->server_closing = true;
                (void)netd_client_server_close(st->c, st->server, NULL, NULL);
        }
        if (!st->o->quiet || st->o->verbose)
                fprintf(stderr, "connection from %s\n", s->peer);
        if (st->o->idle_timeout_ms > 0)
                (void)netd_client_call(st->c, "socket.setTimeout",
                                       json_pack("{s:I,s:i}", "socket", (json_int_t)id, "timeout",
                                                 st->o->idle_timeout_ms),
                                       NULL, NULL);
        /*
         * Accepted sockets start paused (pauseOnConnect): one waiting for
         * stdin, which serves one connection at a time, reads nothing yet.
         */
        if (st->o->exec_argv || !st->stdin_busy) {
                session_activate(s);
                if (!s->failed && !s->attached)
                        stream_call_socket(st, "socket.resume", id);
        }
}

static void session_on_data(struct session *s, json_t *params)
{
        void *buf = NULL;
        size_t len;
        int r;

        r = netd_client_decode_data(params, &buf, &len);
        if (r < 0) {
                session_abort(s, "cannot decode socket.data: %s", strerror(-r));
                return;
        }
        if (s->st->o->send_only || s->failed || s->out_fd < 0) {
                /* --send-only: read and dropped, as asked; counted as received. */
                if (s->st->o->send_only) {
                        s->received += len;
                        s->st->total_received += len;
                }
                free(buf);
                return;
        }
        r = obuf_append(&s->out, buf, len);
        free(buf);
        if (r < 0) {
                session_abort(s, "out of memory (%zu bytes not delivered)", len);
                return;
        }
        session_flush(s);
}

static void session_on_close(struct session *s, json_t *params)
{
        s->closed = true;
        if (json_is_true(json_object_get(params, "hadError")))
                s->failed = true; /* socket.error said why */
        if (!s->failed && !(s->end_sent && s->peer_ended)) {
                s->failed = true;
                log_error("%s %s closed before %s ended (destroyed in netd)", session_what(s),
                          s->peer, !s->end_sent ? "our side" : "the peer's side");
        }
        if (s->failed && s->child > 0)
                (void)kill(s->child, SIGTERM);
        if (s->attached && !s->failed &&
            netd_client_call(s->st->c, "socket.get",
                             json_pack("{s:I}", "socket", (json_int_t)s->socket), session_verify_cb,
                             s) >= 0) {
                s->pending++;
                s->verify_pending = true;
        }
        session_maybe_close_output(s);
}

static void stream_event_cb(struct netd_client *c, const char *method, json_t *params,
                            void *userdata)
{
        struct stream *st = userdata;
        struct session *s;
        char line[1024];
        uint64_t id;

        if (st->done)
                return;
        if (strncmp(method, "server.", 7) == 0) {
                if (!st->server || netd_client_get_handle(params, "server", &id) < 0 ||
                    id != st->server)
                        return;
                if (strcmp(method, "server.connection") == 0) {
                        stream_on_connection(st, params);
                } else if (strcmp(method, "server.drop") == 0) {
                        format_remote(params, line, sizeof(line));
                        if (st->o->verbose)
                                fprintf(stderr, "dropped a connection from %s (--max-conns %d)\n",
                                        line, st->o->max_conns);
                } else if (strcmp(method, "server.close") == 0) {
                        /* Closed by someone else (netctl close): serve what is open, then stop. */
                        st->server_closed = true;
                        if (!st->server_closing)
                                log_error("the server was closed in netd (netctl close?)%s",
                                          st->sessions ? "; finishing the open connections" : "");
                } else if (strcmp(method, "server.error") == 0) {
                        format_error_event(params, line, sizeof(line));
                        log_error("%s", line);
                        stream_finish(st, NETCTL_EXIT_ERROR);
                }
                return;
        }
        if (netd_client_get_handle(params, "socket", &id) < 0 || !(s = stream_find(st, id)))
                return;
        if (strcmp(method, "socket.data") == 0) {
                session_on_data(s, params);
        } else if (strcmp(method, "socket.connect") == 0) {
                s->connected = true;
                s->connect_deadline_ms = -1;
                if (st->o->verbose)
                        fprintf(stderr, "connected to %s\n", s->peer);
        } else if (strcmp(method, "socket.end") == 0) {
                s->peer_ended = true;
                /* Nothing more will be read: --recv-only, or a person at a terminal, ends too. */
                if (s->active &&
                    (st->o->recv_only || (!s->own_fds && s->in_fd >= 0 && isatty(STDIN_FILENO)))) {
                        s->in_fd = -1;
                        session_end(s);
                }
                session_maybe_close_output(s);
        } else if (strcmp(method, "socket.timeout") == 0) {
                session_abort(s, "%s %s: idle for %d ms, closing (ETIMEDOUT)", session_what(s),
                              s->peer, st->o->idle_timeout_ms);
        } else if (strcmp(method, "socket.error") == 0) {
                format_error_event(params, line, sizeof(line));
                if (!s->failed)
                        log_error("%s", line);
                s->failed = true;
        } else if (strcmp(method, "socket.close") == 0) {
                session_on_close(s, params);
        }
}

/* The reply of net.connect: from here on, events name our socket. */
static void stream_connect_cb(struct netd_client *c, json_t *result,
                              const struct netd_client_error *err, void *userdata)
{
        struct stream *st = userdata;
        char line[1024];

        if (st->done)
                return;
        st->setup_deadline_ms = -1;
        if (err) {
                (void)netctl_format_error(err, line, sizeof(line));
                log_error("%s", line);
                stream_finish(st, netctl_exit_for_error(0, err));
                return;
        }
        if (netd_client_get_handle(result, "socket", &st->sessions->socket) < 0) {
                log_error("netd sent no socket for net.connect (%s)", NETD_CLIENT_ERR_PROTOCOL);
                stream_finish(st, NETCTL_EXIT_UNREACHABLE);
                return;
        }
        if (st->attach)
                session_attach(st->sessions);
        /* stdin was already at its end (a later keep-open connection): end at once. */
        if (st->sessions->input_ended && !st->sessions->end_sent && !st->o->recv_only)
                session_end(st->sessions);
}

/* ---- Children, signals, progress ------------------------------------------------------------- */

static void stream_reap(struct stream *st)
{
        int status;
        pid_t pid;

        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                for (struct session *s = st->sessions; s; s = s->next) {
                        if (s->child != pid)
                                continue;
                        s->child = 0;
                        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                                break;
                        if (!s->failed && !s->child_failed) {
                                if (WIFEXITED(status))
                                        log_error("'%s' exited with status %d", st->o->exec_argv[0],
                                                  WEXITSTATUS(status));
                                else
                                        log_error("'%s' was killed by signal %s",
                                                  st->o->exec_argv[0],
                                                  sigabbrev_np(WTERMSIG(status)) ?: "?");
                        }
                        s->child_failed = true;
                        break;
                }
        }
}

static void stream_progress(struct stream *st, bool last)
{
        char sent[32], received[32], rate[32];
        int64_t now = now_ms();
        uint64_t total = st->total_sent + st->total_received;
        double secs = (double)(now - st->start_ms) / 1000.0;

        (void)netctl_format_bytes(st->total_sent, sent, sizeof(sent));
        (void)netctl_format_bytes(st->total_received, received, sizeof(received));
        (void)netctl_format_bytes(secs > 0 ? (unsigned long long)((double)total / secs) : 0, rate,
                                  sizeof(rate));
        fprintf(stderr, "%s%s sent, %s received, %s/s%s", st->progress_tty ? "\r\033[K" : "", sent,
                received, rate, st->progress_tty && !last ? "" : "\n");
        st->last_total = total;
        st->next_progress_ms = now + STREAM_PROGRESS_MS;
}

/*
 * SIGINT, SIGTERM, SIGHUP: every open connection is reset (on a UNIX
 * socket, destroyed), so the peer cannot take what it got for the whole
 * stream; then netctl says what it moved and dies by the same signal.
 */
static void stream_interrupt(struct stream *st, int signo)
{
        struct netd_client_error err;
        sigset_t set;

        st->done = true; /* events that arrive meanwhile are not acted on */
        for (struct session *s = st->sessions; s; s = s->next) {
                if (s->child > 0)
                        (void)kill(s->child, SIGTERM);
                if (!s->socket || s->closed || !netd_client_is_connected(st->c))
                        continue;
                if (netd_client_call_sync(
                            st->c, st->unix_socket ? "socket.destroy" : "socket.resetAndDestroy",
                            json_pack("{s:I}", "socket", (json_int_t)s->socket),
                            STREAM_RESET_TIMEOUT_MS, NULL, &err) < 0)
                        netd_client_error_done(&err);
        }
        log_error("interrupted by SIG%s: %llu bytes sent, %llu received",
                  sigabbrev_np(signo) ?: "?", (unsigned long long)st->total_sent,
                  (unsigned long long)st->total_received);
        st->c = netd_client_free(st->c);
        (void)fflush(stdout);
        (void)signal(signo, SIG_DFL);
        (void)sigemptyset(&set);
        (void)sigaddset(&set, signo);
        (void)sigprocmask(SIG_UNBLOCK, &set, NULL);
        (void)raise(signo);
        _exit(NETCTL_EXIT_ERROR); /* only if the signal did not kill us */
}

static void stream_read_signals(struct stream *st)
{
        struct signalfd_siginfo si;

        while (read(st->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                        stream_reap(st);
                else
                        stream_interrupt(st, (int)si.ssi_signo);
        }
}

/* ---- The loop -------------------------------------------------------------------------------- */

static bool session_is_over(const struct session *s)
{
        if (s->attached && !s->failed && (!session_peer_done(s) || obuf_size(&s->up) > 0))
                return false;
        return s->socket && s->closed && s->pending == 0 && s->child <= 0 &&
               (obuf_size(&s->out) == 0 || s->out_fd < 0);
}

static void session_free(struct session *s)
{
        if (s->own_fds) {
                if (s->in_fd >= 0)
                        close(s->in_fd);
                if (s->out_fd >= 0)
                        close(s->out_fd);
        }
        if (s->pair_fd >= 0)
                close(s->pair_fd);
        free(s->up.data);
        free(s->out.data);
        free(s);
}

/* Ends finished sessions: reports them, and hands stdin to the next one waiting. */
static void stream_collect(struct stream *st)
{
        struct session **p = &st->sessions, *s;

        while ((s = *p)) {
                if (!session_is_over(s)) {
                        p = &s->next;
                        continue;
                }
                if (s->read_bytes != s->sent) {
                        log_error("%s %s: %llu bytes of %s were not sent", session_what(s), s->peer,
                                  (unsigned long long)(s->read_bytes - s->sent),
                                  s->own_fds ? "the command's output" : "stdin");
                        s->failed = true;
                }
                if (s->child_failed)
                        s->failed = true;
                /* Attached: what netd counted must be what went through the pair. */
                if (s->attached && !s->failed && !s->verified) {
                        log_error("%s %s: cannot check the bytes moved: socket.get not sent",
                                  session_what(s), s->peer);
                        s->failed = true;
                }
                if (s->attached && !s->failed && s->verified && s->netd_written != s->sent) {
                        log_error("%s %s: netd sent %llu bytes of the %llu written to it",
                                  session_what(s), s->peer, (unsigned long long)s->netd_written,
                                  (unsigned long long)s->sent);
                        s->failed = true;
                }
                if (s->attached && !s->failed && s->verified && s->netd_read != s->received) {
                        log_error("%s %s: %llu bytes from the peer were not delivered",
                                  session_what(s), s->peer,
                                  (unsigned long long)(s->netd_read - s->received));
                        s->failed = true;
                }
                if (st->o->verbose)
                        fprintf(stderr, "%s %s closed%s: %llu bytes sent, %llu received\n",
                                session_what(s), s->peer, s->failed ? " with an error" : "",
                                (unsigned long long)s->sent, (unsigned long long)s->received);
                if (s->active && !s->own_fds)
                        st->stdin_busy = false;
                *p = s->next;
                if (!st->o->keep_open)
                        stream_finish(st, s->failed ? NETCTL_EXIT_ERROR : NETCTL_EXIT_OK);
                session_free(s);
        }
        if (st->listen && st->server_closed && !st->sessions && !st->done)
                stream_finish(st, st->server_closing ? st->exit_code : NETCTL_EXIT_ERROR);
        if (st->o->keep_open && !st->o->exec_argv && !st->stdin_busy) {
                for (s = st->sessions; s; s = s->next) {
                        if (!s->active && !s->closed) {
                                session_activate(s);
                                if (!s->failed && !s->attached)
                                        stream_call_socket(st, "socket.resume", s->socket);
                                break;
                        }
                }
        }
}

/* The input is read while fewer than STREAM_INFLIGHT_MAX_BYTES wait for their write replies. */
static bool session_wants_input(const struct session *s)
{
        if (!s->active || !s->socket || s->in_fd < 0 || s->input_ended || s->closed || s->failed ||
            s->attach_pending)
                return false;
        if (s->attached)
                return s->pair_fd >= 0 && obuf_size(&s->up) == 0 && !s->up_wait_out;
        return s->inflight < STREAM_INFLIGHT_MAX_BYTES;
}

static int stream_poll_timeout(struct stream *st)
{
        int64_t now = now_ms(), next = -1;

        if (st->setup_deadline_ms >= 0)
                next = st->setup_deadline_ms;
        for (struct session *s = st->sessions; s; s = s->next)
                if (s->connect_deadline_ms >= 0 && (next < 0 || s->connect_deadline_ms < next))
                        next = s->connect_deadline_ms;
        if (st->o->progress && (next < 0 || st->next_progress_ms < next))
                next = st->next_progress_ms;
        if (next < 0)
                return -1;
        return next <= now ? 0 : next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

static void stream_check_timers(struct stream *st)
{
        int64_t now = now_ms();

        if (st->setup_deadline_ms >= 0 && now >= st->setup_deadline_ms) {
                log_error("timed out waiting for netd (%s)", NETD_CLIENT_ERR_TIMEOUT);
                stream_finish(st, NETCTL_EXIT_UNREACHABLE);
        }
        for (struct session *s = st->sessions; s; s = s->next) {
                if (s->connect_deadline_ms < 0 || now < s->connect_deadline_ms || !s->socket)
                        continue;
                s->connect_deadline_ms = -1;
                session_abort(s, "connect %s: timed out after %d ms (ETIMEDOUT)", s->peer,
                              st->o->connect_timeout_ms);
        }
        if (st->o->progress && now >= st->next_progress_ms)
                stream_progress(st, false);
}

static int stream_run(struct stream *st)
{
        while (!st->done) {
                struct pollfd *pfd;
                struct session **who;
                size_t need = 2;
                nfds_t n = 0;
                int r;

                for (struct session *s = st->sessions; s; s = s->next)
                        need += 3;
                if (need > st->poll_cap) {
                        struct pollfd *np = realloc(st->pfd, need * 2 * sizeof(*np));
                        struct session **nw = NULL;
                        char *nk = NULL;

                        if (np)
                                st->pfd = np;
                        nw = np ? realloc(st->who, need * 2 * sizeof(*nw)) : NULL;
                        if (nw)
                                st->who = nw;
                        nk = nw ? realloc(st->kind, need * 2) : NULL;
                        if (!nk) {
                                log_error("out of memory");
                                stream_finish(st, NETCTL_EXIT_ERROR);
                                break;
                        }
                        st->kind = nk;
                        st->poll_cap = need * 2;
                }
                pfd = st->pfd;
                who = st->who;

                pfd[n++] =
                        (struct pollfd){ .fd = netd_client_fd(st->c),
                                         .events = POLLIN |
                                                   (netd_client_wants_write(st->c) ? POLLOUT : 0) };
                pfd[n++] = (struct pollfd){ .fd = st->sigfd, .events = POLLIN };
                for (struct session *s = st->sessions; s; s = s->next) {
                        short pev = 0;

                        if (session_wants_input(s)) {
                                who[n] = s;
                                st->kind[n] = 'i';
                                pfd[n++] = (struct pollfd){ .fd = s->in_fd, .events = POLLIN };
                        }
                        if (s->out_fd >= 0 && (obuf_size(&s->out) > 0 || s->down_wait_out)) {
                                who[n] = s;
                                st->kind[n] = 'o';
                                pfd[n++] = (struct pollfd){ .fd = s->out_fd, .events = POLLOUT };
                        }
                        if (s->attached && s->pair_fd >= 0 &&
                            (obuf_size(&s->up) > 0 || s->up_wait_out))
                                pev |= POLLOUT;
                        if (session_wants_pair_read(s))
                                pev |= POLLIN;
                        if (pev) {
                                who[n] = s;
                                st->kind[n] = 'p';
                                pfd[n++] = (struct pollfd){ .fd = s->pair_fd, .events = pev };
                        }
                }
                r = poll(pfd, n, stream_poll_timeout(st));
                if (r < 0 && errno != EINTR) {
                        log_error("poll: %s", strerror(errno));
                        stream_finish(st, NETCTL_EXIT_ERROR);
                        break;
                }
                if (r > 0 && pfd[1].revents)
                        stream_read_signals(st);
                if (r > 0 && pfd[0].revents) {
                        r = netd_client_process(st->c);
                        if (r < 0 && !st->done) {
                                log_error("lost the connection to netd: %s (%s)", strerror(-r),
                                          strerrorname_np(-r) ?: "UNKNOWN");
                                stream_finish(st, NETCTL_EXIT_UNREACHABLE);
                                break;
                        }
                }
                /*
                 * A session wired here may have been freed by nothing (frees
                 * happen only in stream_collect() below), so who[] is valid.
                 */
                for (nfds_t i = 2; i < n && !st->done; i++) {
                        struct session *s = who[i];

                        if (!pfd[i].revents)
                                continue;
                        if (st->kind[i] == 'i') {
                                if (pfd[i].fd == s->in_fd && session_wants_input(s))
                                        session_read_input(s);
                        } else if (st->kind[i] == 'o') {
                                s->down_wait_out = false;
                                if (pfd[i].fd == s->out_fd)
                                        session_flush(s);
                        } else if (pfd[i].fd == s->pair_fd) {
                                s->up_wait_out = false;
                                if (obuf_size(&s->up) > 0)
                                        session_pair_flush(s);
                                if (pfd[i].fd == s->pair_fd && session_wants_pair_read(s))
                                        session_pair_read(s);
                        }
                }
                stream_check_timers(st);
                stream_collect(st);
        }
        if (st->o->progress)
                stream_progress(st, true);
        return st->exit_code;
}

/* Sets up what both verbs share; takes c over. Returns 0 or an exit code. */
static int stream_init(struct stream *st, struct netd_client *c, const struct netctl_endpoint *e,
                       const struct netctl_stream_opts *o, bool listen)
{
        sigset_t set;

        *st = (struct stream){ .c = c,
                               .o = o,
                               .e = e,
                               .listen = listen,
                               .sigfd = -1,
                               .setup_deadline_ms = -1,
                               .unix_socket = e->path_len > 0,
                               .attach = !o->no_attach };
        st->buf = malloc(STREAM_CHUNK_BYTES);
        if (!st->buf) {
                log_error("out of memory");
                return NETCTL_EXIT_ERROR;
        }
        /* Signals arrive as reads of a signalfd, so the loop handles them between events. */
        (void)sigemptyset(&set);
        (void)sigaddset(&set, SIGINT);
        (void)sigaddset(&set, SIGTERM);
        (void)sigaddset(&set, SIGHUP);
        (void)sigaddset(&set, SIGCHLD);
        (void)sigprocmask(SIG_BLOCK, &set, NULL);
        st->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (st->sigfd < 0) {
                log_error("signalfd: %s", strerror(errno));
                return NETCTL_EXIT_ERROR;
        }
        st->start_ms = now_ms();
        st->next_progress_ms = st->start_ms + STREAM_PROGRESS_MS;
        st->progress_tty = isatty(STDERR_FILENO);
        netd_client_on_event(c, stream_event_cb, st);
        return 0;
}

static int stream_done(struct stream *st, int r)
{
        struct session *s;

        st->c = netd_client_free(st->c); /* runs the last write callbacks, which use sessions */
        while ((s = st->sessions)) {
                st->sessions = s->next;
                if (s->child > 0)
                        (void)kill(s->child, SIGTERM);
                session_free(s);
        }
        if (st->sigfd >= 0)
                close(st->sigfd);
        free(st->buf);
        free(st->pfd);
        free(st->who);
        free(st->kind);
        return r;
}

/* Adds the endpoint's address to params (stolen and returned): host/port, or path. */
static json_t *endpoint_params(const struct netctl_endpoint *e, json_t *params)
{
        if (!params)
                return NULL;
        if (e->path_len > 0) {
                (void)json_object_set_new(params, "path", json_stringn(e->path, e->path_len));
                return params;
        }
        (void)json_object_set_new(params, "port", json_integer(e->port));
        if (e->host)
                (void)json_object_set_new(params, "host", json_string(e->host));
        return params;
}

int netctl_stream_connect(struct netd_client *c, const struct netctl_endpoint *e,
                          const struct netctl_stream_opts *o)
{
        struct stream st;
        struct session *s;
        json_t *params;
        int r;

        r = stream_init(&st, c, e, o, false);
        if (r > 0)
                return stream_done(&st, r);
        s = calloc(1, sizeof(*s));
        if (!s) {
                log_error("out of memory");
                return stream_done(&st, NETCTL_EXIT_ERROR);
        }
        *s = (struct session){
                .st = &st, .in_fd = -1, .out_fd = -1, .pair_fd = -1, .connect_deadline_ms = -1
        };
        (void)netctl_format_endpoint(e, s->peer, sizeof(s->peer));
        st.sessions = s;

        /*
         * allowHalfOpen: the peer's end does not end ours; netctl ends its
         * side when its input ends. The idle timer is netd's (socket.timeout).
         */
        params = json_pack("{s:b}", "allowHalfOpen", 1);
        if (params && e->path_len == 0 && o->family)
                (void)json_object_set_new(params, "family", json_integer(o->family));
        if (params && o->idle_timeout_ms > 0)
                (void)json_object_set_new(params, "timeout", json_integer(o->idle_timeout_ms));
        r = netd_client_call(c, "net.connect", endpoint_params(e, params), stream_connect_cb, &st);
        if (r < 0) {
                log_error("cannot send net.connect: %s", strerror(-r));
                return stream_done(&st, r == -EINVAL ? NETCTL_EXIT_USAGE : NETCTL_EXIT_ERROR);
        }
        if (o->setup_timeout_ms >= 0)
                st.setup_deadline_ms = now_ms() + o->setup_timeout_ms;
        if (o->connect_timeout_ms > 0)
                s->connect_deadline_ms = now_ms() + o->connect_timeout_ms;
        session_activate(s);
        return stream_done(&st, stream_run(&st));
}

int netctl_stream_listen(struct netd_client *c, const struct netctl_endpoint *e,
                         const struct netctl_stream_opts *o)
{
        struct netd_client_error err;
        struct stream st;
        json_t *params, *addr = NULL;
        char where[256];
        int r;

        r = stream_init(&st, c, e, o, true);
        if (r > 0)
                return stream_done(&st, r);
        /*
         * attach: each connection comes with its descriptor. A netd that
         * doesn't know the option (-32602 on "attach") gets the JSON way:
         * pauseOnConnect, so that a connection reads nothing until its turn
         * (stdin serves one at a time). An attached connection needs no
         * pause: until its turn nobody reads its pair, which holds netd back.
         * allowHalfOpen as for connect.
         */
        r = -EREMOTEIO;
        if (st.attach) {
                r = netd_client_net_create_server_sync(
                        c, json_pack("{s:b,s:b}", "allowHalfOpen", 1, "attach", 1),
                        o->setup_timeout_ms, &st.server, &err);
                if (r == -EREMOTEIO && err.code == -32602 && err.data &&
                    json_is_string(json_object_get(err.data, "field")) &&
                    strcmp(json_string_value(json_object_get(err.data, "field")), "attach") == 0) {
                        netd_client_error_done(&err);
                        st.attach = false;
                }
        }
        if (!st.attach)
                r = netd_client_net_create_server_sync(
                        c, json_pack("{s:b,s:b}", "allowHalfOpen", 1, "pauseOnConnect", 1),
                        o->setup_timeout_ms, &st.server, &err);
        if (r >= 0 && o->max_conns > 0)
                r = netd_client_call_sync(c, "server.set",
                                          json_pack("{s:I,s:i}", "server", (json_int_t)st.server,
                                                    "maxConnections", o->max_conns),
                                          o->setup_timeout_ms, NULL, &err);
        if (r >= 0) {
                params = json_pack("{s:I}", "server", (json_int_t)st.server);
                if (params && e->path_len == 0 && !e->host && o->family)
                        (void)json_object_set_new(params, "host",
                                                  json_string(o->family == 4 ? "0.0.0.0" : "::"));
                if (params && e->path_len == 0 && o->family == 6)
                        (void)json_object_set_new(params, "ipv6Only", json_true());
                r = netd_client_call_sync(c, "server.listen", endpoint_params(e, params),
                                          o->setup_timeout_ms, &addr, &err);
        }
        if (r < 0) {
                char line[1024];
                int ret = netctl_exit_for_error(r, &err);

                (void)netctl_format_error(&err, line, sizeof(line));
                log_error("%s", line);
                netd_client_error_done(&err);
                return stream_done(&st, ret);
        }
        if (!o->quiet) {
                if (json_is_string(addr) && json_string_length(addr) > 0 &&
                    json_string_value(addr)[0] == '\0')
                        (void)snprintf(where, sizeof(where), "@%s", json_string_value(addr) + 1);
                else if (netctl_format_address(addr, where, sizeof(where)) < 0)
                        (void)netctl_format_endpoint(e, where, sizeof(where));
                fprintf(stderr, "listening on %s\n", where);
        }
        json_decref(addr);
        return stream_done(&st, stream_run(&st));
}
