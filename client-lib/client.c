/*
 * One control connection to netd: the socket, the output queue, input
 * framing (proto/frame.c), the pending calls matched by id, the dispatch of
 * replies and events, the poll() loops of the *_sync() functions and the
 * libevent glue. The client owns its fd, buffers, pending calls and events;
 * callbacks and their userdata are borrowed. It is freed only once no
 * library function that runs callbacks is on the stack (busy), so that a
 * callback may free it (as redis freeClientAsync, libuv uv_close).
 *
 * States (sd-varlink style, reduced to what a client needs): CONNECTED,
 * then DISCONNECTED once the peer went away, a protocol error was seen or
 * the client is being freed; every pending call is failed at that
 * transition, so each call gets exactly one callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "encoding.h"
#include "errors.h"
#include "frame.h"
#include "internal.h"
#include "jtok.h"
#include "netd/netd.h"
#include "paths.h"

#define CLIENT_READ_CHUNK_BYTES  (64 * 1024)   /* room offered to each recv() */
#define CLIENT_READS_PER_PROCESS 16            /* recv() calls per netd_client_process() */
#define CLIENT_OUT_KEEP_BYTES    (1024 * 1024) /* output buffer kept allocated once drained */
#define CLIENT_FDS_PER_LINE      16 /* descriptors one line may carry (PROTOCOL.md 3.5) */
#define CLIENT_FD_GROUPS_MAX     64 /* received groups waiting for their line */

enum client_state {
        CLIENT_CONNECTED,
        CLIENT_DISCONNECTED,
};

struct client_call {
        TAILQ_ENTRY(client_call) link;
        json_int_t id;
        netd_client_reply_fn cb; /* borrowed; NULL: the reply is dropped */
        void *userdata;          /* borrowed */
};

TAILQ_HEAD(client_call_list, client_call);

/*
 * The descriptors of one recvmsg() (SCM_RIGHTS), which read the stream bytes
 * [start, end). The kernel never reads past the message that carried them,
 * so they came with a line starting in that range (netd sends them with the
 * first byte(s) of the line that names them, "fd":0).
 */
struct client_fd_group {
        uint64_t start, end;
        int fds[CLIENT_FDS_PER_LINE];
        unsigned n;
};

/* The descriptors of the message being dispatched, for netd_client_take_fd(). */
struct client_line_fds {
        int fds[CLIENT_FDS_PER_LINE]; /* -1 once taken */
        unsigned n;
};

struct netd_client {
        int fd; /* owned */
        enum client_state state;
        int error; /* why the connection ended, once DISCONNECTED */

        struct netd_frame frame; /* input, owned */
        struct netd_jdoc tokens; /* owned: the tokens of the line being read */
        char *out;               /* owned: queued output, out[out_start..out_end) */
        size_t out_start;
        size_t out_end;
        size_t out_cap;

        json_int_t next_id;
        /*
         * Pending calls in id order. Replies mostly come back in order, so
         * the lookup from the head is short; a list keeps removal O(1).
         */
        struct client_call_list calls; /* owned */
        uint64_t dispatched;           /* messages dispatched so far, for netd_client_wait() */

        unsigned busy;       /* nesting depth of functions that run callbacks */
        bool free_requested; /* netd_client_free() ran; freed when busy drops to 0 */

        netd_client_event_fn event_cb;           /* borrowed */
        void *event_userdata;                    /* borrowed */
        netd_client_disconnect_fn disconnect_cb; /* borrowed */
        void *disconnect_userdata;               /* borrowed */

        struct event *read_ev;  /* owned, NULL unless attached to an event_base */
        struct event *write_ev; /* owned, NULL unless attached to an event_base */

        uint64_t in_pos;                   /* stream bytes received so far */
        struct client_fd_group *fd_groups; /* owned, waiting for their line, oldest first */
        size_t n_fd_groups;
        struct client_line_fds *line_fds; /* borrowed: the dispatched message's, or NULL */
};

/* A reply waited for by netd_client_call_sync(); lives on its stack. */
struct client_sync_slot {
        bool done;
        bool local;                   /* the error did not come from the daemon */
        json_t *result;               /* owned */
        struct netd_client_error err; /* owned (netd_client_error_copy()) */
        bool want_fd;                 /* take the reply's descriptor 0 */
        int fd;                       /* owned: the reply's descriptor 0, or -1 */
};

static bool client_alive(const struct netd_client *c)
{
        return c->state == CLIENT_CONNECTED && !c->free_requested;
}

/* The error reported by calls on a client that is no longer alive. */
static int client_dead_error(const struct netd_client *c)
{
        return c->free_requested ? -ECANCELED : -ENOTCONN;
}

void netd_clib_error_local(struct netd_client_error *ret, int errnum, const char *data_code)
{
        const char *message;

        if (!data_code) {
                switch (errnum) {
                case -ETIMEDOUT:
                        data_code = NETD_CLIENT_ERR_TIMEOUT;
                        break;
                case -EPROTO:
                case -EMSGSIZE:
                case -EBADMSG:
                        data_code = NETD_CLIENT_ERR_PROTOCOL;
                        break;
                case -ECONNRESET:
                case -ECONNABORTED:
                case -EPIPE:
                case -ENOTCONN:
                case -ESHUTDOWN:
                case -ECANCELED:
                        data_code = NETD_CLIENT_ERR_DISCONNECTED;
                        break;
                case -EINVAL:
                        data_code = "ERR_INVALID_ARG_VALUE";
                        break;
                default:
                        data_code = netd_errno_name(errnum);
                        break;
                }
        }

        if (strcmp(data_code, NETD_CLIENT_ERR_DISCONNECTED) == 0)
                message = errnum == -ECANCELED ? "The netd client was freed"
                                               : "Lost the connection to netd";
        else if (strcmp(data_code, NETD_CLIENT_ERR_PROTOCOL) == 0)
                message = "netd sent an invalid message";
        else if (strcmp(data_code, NETD_CLIENT_ERR_TIMEOUT) == 0)
                message = "Timed out waiting for netd";
        else
                message = netd_strerror(errnum);

        *ret = (struct netd_client_error){
                .code = NETD_CLIENT_LOCAL_ERROR_CODE,
                .message = message,
                .data_code = data_code,
                .errnum = errnum,
        };
}

int netd_client_default_path(char **ret)
{
        char buf[PATH_MAX];
        char *p;
        int r;

        r = netd_default_socket_path(buf, sizeof(buf));
        if (r < 0)
                return r;
        p = strdup(buf);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

/* Connects a blocking socket (a UNIX connect only blocks on a full backlog), then goes
 * non-blocking. */
static int client_open(const char *path, int *ret_fd)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);
        int fd, flags, r;

        if (len == 0)
                return -EINVAL;
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        for (;;) {
                r = connect(fd, (const struct sockaddr *)&sa, sizeof(sa));
                if (r == 0 || errno == EISCONN)
                        break;
                if (errno != EINTR) {
                        r = -errno;
                        close(fd);
                        return r;
                }
        }
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

int netd_client_connect(const char *path, struct netd_client **ret)
{
        struct netd_client *c;
        char *def = NULL;
        int fd = -1, r;

        if (!ret)
                return -EINVAL;
        if (!path) {
                r = netd_client_default_path(&def);
                if (r < 0)
                        return r;
                path = def;
        }
        r = client_open(path, &fd);
        free(def);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        c->fd = fd;
        c->state = CLIENT_CONNECTED;
        c->next_id = 1;
        netd_frame_init(&c->frame, NETD_CLIENT_LINE_MAX_BYTES);
        TAILQ_INIT(&c->calls);
        *ret = c;
        return 0;
}

/* Registers the write event while output is queued, so an idle client costs no wakeups. */
static void client_update_events(struct netd_client *c)
{
        if (!c->write_ev)
                return;
        if (client_alive(c) && c->out_start < c->out_end)
                (void)event_add(c->write_ev, NULL);
        else
                (void)event_del(c->write_ev);
}

/*
 * Ends the connection: fails every pending call with a local error, then
 * tells the disconnect callback (unless the client is being freed).
 * Idempotent. The fd stays open until the client is freed.
 */
static void client_fail(struct netd_client *c, int error)
{
        struct netd_client_error err;
        struct client_call *call;
        const char *data_code = NULL;

        if (c->state == CLIENT_DISCONNECTED)
                return;
        c->state = CLIENT_DISCONNECTED;
        c->error = error;
        if (c->read_ev)
                (void)event_del(c->read_ev);
        if (c->write_ev)
                (void)event_del(c->write_ev);
        c->out_start = c->out_end = 0;

        if (error != -EPROTO && error != -EMSGSIZE && error != -EBADMSG)
                data_code = NETD_CLIENT_ERR_DISCONNECTED;
        netd_clib_error_local(&err, error, data_code);

        /* Callbacks can't add calls any more (not CONNECTED), so this drains the list. */
        while ((call = TAILQ_FIRST(&c->calls))) {
                TAILQ_REMOVE(&c->calls, call, link);
                if (call->cb)
                        call->cb(c, NULL, &err, call->userdata);
                free(call);
        }

        if (!c->free_requested && c->disconnect_cb)
                c->disconnect_cb(c, error, c->disconnect_userdata);
}

/* Closes the received descriptors whose bytes all lie before stream position pos. */
static void client_fd_groups_drop(struct netd_client *c, uint64_t pos)
{
        size_t i = 0;

        for (; i < c->n_fd_groups && c->fd_groups[i].end <= pos; i++)
                for (unsigned k = 0; k < c->fd_groups[i].n; k++)
                        close(c->fd_groups[i].fds[k]);
        if (i == 0)
                return;
        memmove(c->fd_groups, c->fd_groups + i, (c->n_fd_groups - i) * sizeof(*c->fd_groups));
        c->n_fd_groups -= i;
}

static void client_destroy(struct netd_client *c)
{
        struct client_call *call;

        (void)netd_client_detach_event_base(c);
        while ((call = TAILQ_FIRST(&c->calls))) {
                TAILQ_REMOVE(&c->calls, call, link);
                free(call);
        }
        if (c->fd >= 0)
                close(c->fd);
        client_fd_groups_drop(c, UINT64_MAX);
        free(c->fd_groups);
        netd_frame_done(&c->frame);
        netd_jtok_done(&c->tokens);
        free(c->out);
        free(c);
}

static void client_enter(struct netd_client *c)
{
        c->busy++;
}

/*
 * Leaves a function that may have run callbacks: frees the client if one of
 * them asked for it and this is the outermost such function (the caller
 * must not touch c after a -ECANCELED). Returns r, or -ECANCELED.
 */
static int client_leave(struct netd_client *c, int r)
{
        bool freed = c->free_requested;

        if (--c->busy == 0) {
                if (freed) {
                        client_destroy(c);
                        return -ECANCELED;
                }
                client_update_events(c);
        }
        return freed ? -ECANCELED : r;
}

struct netd_client *netd_client_free(struct netd_client *c)
{
        if (!c || c->free_requested)
                return NULL;
        c->free_requested = true;
        client_enter(c);
        client_fail(c, -ECANCELED);
        (void)client_leave(c, 0);
        return NULL;
}

int netd_client_on_event(struct netd_client *c, netd_client_event_fn cb, void *userdata)
{
        c->event_cb = cb;
        c->event_userdata = userdata;
        return 0;
}

int netd_client_on_disconnect(struct netd_client *c, netd_client_disconnect_fn cb, void *userdata)
{
        c->disconnect_cb = cb;
        c->disconnect_userdata = userdata;
        return 0;
}

int netd_client_fd(const struct netd_client *c)
{
        return c->fd;
}

bool netd_client_wants_write(const struct netd_client *c)
{
        return client_alive(c) && c->out_start < c->out_end;
}

bool netd_client_is_connected(const struct netd_client *c)
{
        return client_alive(c);
}

/* ---- Output -------------------------------------------------------------------------------- */

/* Makes room for n more bytes of output. Returns 0 or -ENOMEM. */
static int client_out_reserve(struct netd_client *c, size_t n)
{
        size_t used = c->out_end - c->out_start;
        size_t ncap;
        char *nbuf;

        if (c->out_cap - c->out_end >= n)
                return 0;
        if (c->out_start > 0) {
                memmove(c->out, c->out + c->out_start, used);
                c->out_start = 0;
                c->out_end = used;
                if (c->out_cap - c->out_end >= n)
                        return 0;
        }
        if (n > SIZE_MAX / 2 - used)
                return -ENOMEM;
        ncap = c->out_cap ? c->out_cap : 4096;
        while (ncap - used < n)
                ncap *= 2;
        nbuf = realloc(c->out, ncap);
        if (!nbuf)
                return -ENOMEM;
        c->out = nbuf;
        c->out_cap = ncap;
        return 0;
}

static int client_dump_cb(const char *buf, size_t size, void *data)
{
        struct netd_client *c = data;

        if (client_out_reserve(c, size) < 0)
                return -1;
        memcpy(c->out + c->out_end, buf, size);
        c->out_end += size;
        return 0;
}

/* Appends msg (borrowed) as one compact line, or nothing. Returns 0 or -ENOMEM. */
static int client_queue(struct netd_client *c, json_t *msg)
{
        /* Offsets from out_start survive the compaction done by client_out_reserve(). */
        size_t mark = c->out_end - c->out_start;

        /* Compact JSON never holds a raw "\n": control characters in strings are escaped. */
        if (json_dump_callback(msg, client_dump_cb, c, JSON_COMPACT) < 0 ||
            client_out_reserve(c, 1) < 0) {
                c->out_end = c->out_start + mark;
                return -ENOMEM;
        }
        c->out[c->out_end++] = '\n';
        return 0;
}

/* Sends queued output until done or the socket is full. Returns 0 or -errno. */
static int client_flush(struct netd_client *c)
{
        while (c->out_start < c->out_end) {
                ssize_t n = send(c->fd, c->out + c->out_start, c->out_end - c->out_start,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return 0;
                        return -errno;
                }
                c->out_start += (size_t)n;
        }
        c->out_start = c->out_end = 0;
        if (c->out_cap > CLIENT_OUT_KEEP_BYTES) {
                /* Give back the memory of a burst of large writes. */
                free(c->out);
                c->out = NULL;
                c->out_cap = 0;
        }
        return 0;
}

/* ---- Input and dispatch -------------------------------------------------------------------- */

static struct client_call *client_call_take(struct netd_client *c, json_int_t id)
{
        struct client_call *call;

        TAILQ_FOREACH(call, &c->calls, link) {
                if (call->id == id) {
                        TAILQ_REMOVE(&c->calls, call, link);
                        return call;
                }
        }
        return NULL;
}

/* Reads a JSON-RPC error object (borrowed) into *ret, whose pointers borrow from it. */
static int client_parse_error(json_t *error, struct netd_client_error *ret)
{
        json_t *code, *message, *data, *v;
        json_int_t n;

        if (!json_is_object(error))
                return -EPROTO;
        code = json_object_get(error, "code");
        if (!json_is_integer(code))
                return -EPROTO;
        n = json_integer_value(code);
        if (n < INT_MIN || n > INT_MAX)
                return -EPROTO;
        message = json_object_get(error, "message");
        data = json_object_get(error, "data");

        *ret = (struct netd_client_error){
                .code = (int)n,
                .message = json_is_string(message) ? json_string_value(message) : "",
                .data = data,
                .reserved_ref = error,
        };
        v = json_object_get(data, "code");
        if (json_is_string(v))
                ret->data_code = json_string_value(v);
        v = json_object_get(data, "errno");
        if (json_is_integer(v) && json_integer_value(v) >= INT_MIN &&
            json_integer_value(v) <= INT_MAX)
                ret->errnum = (int)json_integer_value(v);
        return 0;
}

/*
 * Handles one message. Unknown fields are ignored; a message that isn't a
 * JSON-RPC 2.0 object is a protocol error (-EPROTO) that ends the connection.
 */
static int client_dispatch_msg(struct netd_client *c, json_t *msg)
{
        struct netd_client_error err;
        struct client_call *call;
        json_t *id, *method, *result, *error;
        int r;

        c->dispatched++;
        id = json_object_get(msg, "id");
        method = json_object_get(msg, "method");
        if (!id) {
                if (!json_is_string(method))
                        return -EPROTO;
                if (c->event_cb)
                        c->event_cb(c, json_string_value(method), json_object_get(msg, "params"),
                                    c->event_userdata);
                return 0;
        }
        if (method)
                return 0; /* a request from the daemon: not part of the protocol, ignored */

        result = json_object_get(msg, "result");
        error = json_object_get(msg, "error");
        if (!result == !error)
                return -EPROTO;
        if (error) {
                r = client_parse_error(error, &err);
                if (r < 0)
                        return r;
        }
        /*
         * "id": null answers a line the daemon could not parse; it closes the
         * connection next, which fails the pending calls. Unknown ids are
         * replies to calls whose *_sync() wait timed out.
         */
        if (!json_is_integer(id))
                return 0;
        call = client_call_take(c, json_integer_value(id));
        if (!call)
                return 0;
        if (call->cb)
                call->cb(c, error ? NULL : result, error ? &err : NULL, call->userdata);
        free(call);
        return 0;
}

/* True if msg names a descriptor that came with it: "fd" in its result or params. */
static bool client_msg_has_fd(json_t *msg)
{
        json_t *o = json_object_get(msg, "result");

        if (!o)
                o = json_object_get(msg, "params");
        return json_is_integer(json_object_get(o, "fd"));
}

/*
 * Handles one message, the stream bytes [start, end). Descriptors received
 * with those bytes go with it if it names one ("fd"); the callbacks may take
 * them (netd_client_take_fd()) and the rest are closed afterwards.
 */
static int client_dispatch_line(struct netd_client *c, char *line, size_t len, uint64_t start,
                                uint64_t end)
{
        struct client_line_fds fds = { .n = 0 }, *outer;
        json_auto_t *msg = NULL;
        json_t *v;
        int r;

        /*
         * The one reader (proto/jtok.h), then a tree for the callbacks. Text
         * payloads (socket.data in utf8, latin1, ...) may hold U+0000.
         */
        if (netd_jtok_parse(&c->tokens, line, len, len + 2) == 0) {
                netd_jtok_finish(&c->tokens);
                msg = netd_jtok_tree(&c->tokens);
        }
        if (c->tokens.cap > 4096)
                netd_jtok_done(&c->tokens);
        if (!json_is_object(msg))
                return -EPROTO;
        v = json_object_get(msg, "jsonrpc");
        if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0)
                return -EPROTO;

        /* Groups of earlier bytes that no line claimed are closed: no later line can. */
        client_fd_groups_drop(c, start);
        if (c->n_fd_groups > 0 && c->fd_groups[0].start < end && client_msg_has_fd(msg)) {
                struct client_fd_group *g = &c->fd_groups[0];

                memcpy(fds.fds, g->fds, g->n * sizeof(int));
                fds.n = g->n;
                g->n = 0;
                client_fd_groups_drop(c, g->end);
        }
        outer = c->line_fds; /* a callback may dispatch more lines (a nested *_sync() call) */
        c->line_fds = &fds;
        r = client_dispatch_msg(c, msg);
        c->line_fds = outer;
        for (unsigned k = 0; k < fds.n; k++)
                if (fds.fds[k] >= 0)
                        close(fds.fds[k]);
        client_fd_groups_drop(c, end);
        return r;
}

int netd_client_take_fd(struct netd_client *c, unsigned index)
{
        int fd;

        if (!c->line_fds || index >= c->line_fds->n || c->line_fds->fds[index] < 0)
                return -EBADF;
        fd = c->line_fds->fds[index];
        c->line_fds->fds[index] = -1;
        return fd;
}

/* Dispatches every complete line already buffered. Returns 0, -EPROTO or -EMSGSIZE. */
static int client_dispatch_buffered(struct netd_client *c)
{
        char *line;
        size_t len;
        int r;

        while (client_alive(c)) {
                uint64_t start = c->in_pos - netd_frame_pending(&c->frame);

                r = netd_frame_next(&c->frame, &line, &len);
                if (r <= 0)
                        return r;
                /* The line is parsed before any callback runs, so nested reads can't clobber it. */
                r = client_dispatch_line(c, line, len, start,
                                         c->in_pos - netd_frame_pending(&c->frame));
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * recv() with the descriptors that came along (close-on-exec), queued with
 * the range of bytes read. Past CLIENT_FD_GROUPS_MAX waiting groups, or
 * without memory, they are closed at once: a line naming one then finds
 * none (netd_client_take_fd() gives -EBADF).
 */
static ssize_t client_recv(struct netd_client *c, char *p, size_t room)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * CLIENT_FDS_PER_LINE)];
        } control;
        struct iovec iov = { .iov_base = p, .iov_len = room };
        struct msghdr msg = { .msg_iov = &iov,
                              .msg_iovlen = 1,
                              .msg_control = control.buf,
                              .msg_controllen = sizeof(control.buf) };
        struct client_fd_group g = { .start = c->in_pos };
        ssize_t n;

        n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 || msg.msg_controllen == 0)
                return n;
        g.end = c->in_pos + (uint64_t)(n > 0 ? n : 1);
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                size_t k;
                int *fds;

                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                fds = (int *)CMSG_DATA(cm);
                for (size_t i = 0; i < k; i++) {
                        if (g.n < CLIENT_FDS_PER_LINE)
                                g.fds[g.n++] = fds[i];
                        else
                                close(fds[i]);
                }
        }
        if (g.n > 0) {
                struct client_fd_group *ng = NULL;

                if (c->n_fd_groups < CLIENT_FD_GROUPS_MAX)
                        ng = realloc(c->fd_groups, (c->n_fd_groups + 1) * sizeof(*ng));
                if (!ng) {
                        for (unsigned i = 0; i < g.n; i++)
                                close(g.fds[i]);
                } else {
                        c->fd_groups = ng;
                        c->fd_groups[c->n_fd_groups++] = g;
                }
        }
        return n;
}

/* Reads a bounded amount and dispatches it. Returns 0 (nothing more for now) or -errno. */
static int client_read(struct netd_client *c)
{
        for (int i = 0; i < CLIENT_READS_PER_PROCESS && client_alive(c); i++) {
                char *p;
                size_t room;
                ssize_t n;
                int r;

                r = netd_frame_reserve(&c->frame, CLIENT_READ_CHUNK_BYTES, &p, &room);
                if (r < 0)
                        return r;
                n = client_recv(c, p, room);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return 0;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET; /* the daemon closed the connection */
                netd_frame_commit(&c->frame, (size_t)n);
                c->in_pos += (uint64_t)n;
                r = client_dispatch_buffered(c);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* One round of non-blocking I/O, without the busy bookkeeping. */
static int client_process_io(struct netd_client *c)
{
        int r;

        if (!client_alive(c))
                return client_dead_error(c);
        r = client_read(c);
        if (r == 0 && client_alive(c)) {
                r = client_flush(c);
                if (r < 0)
                        /* Deliver what the daemon said before it went away. */
                        (void)client_read(c);
        }
        if (r < 0) {
                client_fail(c, r);
                return r;
        }
        if (!client_alive(c))
                return c->free_requested ? -ECANCELED : c->error;
        return 0;
}

int netd_client_process(struct netd_client *c)
{
        int r;

        client_enter(c);
        r = client_process_io(c);
        return client_leave(c, r);
}

/* ---- Requests ------------------------------------------------------------------------------ */

/* A call for the next id (not yet pending: client_call_add() once its line is queued). */
static struct client_call *client_call_new(struct netd_client *c, netd_client_reply_fn cb,
                                           void *userdata)
{
        struct client_call *call = malloc(sizeof(*call));

        if (call)
                *call = (struct client_call){ .id = c->next_id, .cb = cb, .userdata = userdata };
        return call;
}

/* The call's request is queued: it waits for its reply, and the id is used up. */
static void client_call_add(struct netd_client *c, struct client_call *call)
{
        c->next_id++;
        TAILQ_INSERT_TAIL(&c->calls, call, link);
}

/* Queues a request (id > 0) or a notification (id 0). params is stolen. */
static int client_send(struct netd_client *c, const char *method, json_t *params, json_int_t id)
{
        json_auto_t *msg = NULL;
        int r;

        if (!method || !*method || (params && !json_is_object(params) && !json_is_array(params))) {
                json_decref(params);
                return -EINVAL;
        }
        if (!client_alive(c)) {
                json_decref(params);
                return client_dead_error(c);
        }
        /* "o*" steals params even on failure and leaves the key out when params is NULL. */
        if (id > 0)
                msg = json_pack("{s:s, s:I, s:s, s:o*}", "jsonrpc", "2.0", "id", id, "method",
                                method, "params", params);
        else
                msg = json_pack("{s:s, s:s, s:o*}", "jsonrpc", "2.0", "method", method, "params",
                                params);
        if (!msg)
                return -EINVAL; /* method is not valid UTF-8 */
        r = client_queue(c, msg);
        if (r < 0)
                return r;
        client_update_events(c);
        return 0;
}

int netd_client_call(struct netd_client *c, const char *method, json_t *params,
                     netd_client_reply_fn cb, void *userdata)
{
        struct client_call *call;
        int r;

        call = client_call_new(c, cb, userdata);
        if (!call) {
                json_decref(params);
                return -ENOMEM;
        }
        r = client_send(c, method, params, call->id);
        if (r < 0) {
                free(call);
                return r;
        }
        client_call_add(c, call);
        return 0;
}

int netd_clib_call_write(struct netd_client *c, uint64_t socket, const void *data, size_t len,
                         const char *encoding, netd_client_reply_fn cb, void *userdata)
{
        static const char tail[] = "\"}}\n";
        /* the envelope up to the encoding's value, the encoding, then ","data":" and tail */
        const size_t head_max = 128, enc_max = 64, rest = NETD_JSON_ESCAPED_MAX(enc_max) + 32;
        size_t enc_len = encoding ? strlen(encoding) : 0;
        struct client_call *call;
        char *p;
        int n;

        if (!client_alive(c))
                return client_dead_error(c);
        if (len == 0)
                data = ""; /* no arithmetic on a NULL pointer below */
        if (encoding && (netd_utf8_validate(data, len) < 0 || enc_len > enc_max ||
                         netd_utf8_validate(encoding, enc_len) < 0))
                return -EINVAL; /* JSON strings are UTF-8 */
        if (len > (SIZE_MAX - head_max - rest) / 6)
                return -ENOMEM;
        call = client_call_new(c, cb, userdata);
        if (!call)
                return -ENOMEM;
        if (client_out_reserve(c, head_max + rest +
                                          (encoding ? NETD_JSON_ESCAPED_MAX(len)
                                                    : NETD_BASE64_ENCODED_MAX(len))) < 0) {
                free(call);
                return -ENOMEM;
        }
        p = c->out + c->out_end;
        n = snprintf(p, head_max,
                     "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"socket.write\","
                     "\"params\":{\"socket\":%llu,\"encoding\":\"",
                     (long long)call->id, (unsigned long long)socket);
        p += n;
        if (encoding) {
                p += netd_json_escape(encoding, enc_len, p);
                memcpy(p, "\",\"data\":\"", 10);
                p += 10;
                p += netd_json_escape(data, len, p);
        } else {
                memcpy(p, "base64\",\"data\":\"", 16);
                p += 16;
                p += netd_base64_encode(data, len, p, 0);
        }
        memcpy(p, tail, sizeof(tail) - 1);
        p += sizeof(tail) - 1;
        c->out_end = (size_t)(p - c->out);
        client_call_add(c, call);
        client_update_events(c);
        return 0;
}

int netd_client_notify(struct netd_client *c, const char *method, json_t *params)
{
        return client_send(c, method, params, 0);
}

/* ---- Blocking helpers ---------------------------------------------------------------------- */

static int64_t client_now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t client_deadline(int timeout_ms)
{
        return timeout_ms < 0 ? -1 : client_now_ms() + timeout_ms;
}

/*
 * One round of the blocking loops: dispatches lines already buffered (a
 * *_sync() call nested in a callback finds the rest of its caller's input
 * there); if that dispatched nothing, waits for I/O until the deadline (-1:
 * none) and processes it. Returns 0 (check your condition again),
 * -ETIMEDOUT, or the error that ended the connection.
 */
static int client_step(struct netd_client *c, int64_t deadline)
{
        uint64_t before = c->dispatched;
        struct pollfd pfd;
        int timeout = -1, r;

        if (!client_alive(c))
                return client_dead_error(c);
        r = client_dispatch_buffered(c);
        if (r < 0) {
                client_fail(c, r);
                return r;
        }
        if (!client_alive(c))
                return c->free_requested ? -ECANCELED : c->error;
        if (c->dispatched != before)
                return 0;

        if (deadline >= 0) {
                int64_t left = deadline - client_now_ms();

                timeout = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
        }
        pfd = (struct pollfd){
                .fd = c->fd,
                .events = POLLIN | (c->out_start < c->out_end ? POLLOUT : 0),
        };
        r = poll(&pfd, 1, timeout);
        if (r < 0)
                return errno == EINTR ? 0 : -errno;
        if (r == 0)
                return deadline >= 0 && client_now_ms() >= deadline ? -ETIMEDOUT : 0;
        return client_process_io(c);
}

static void client_sync_reply_cb(struct netd_client *c, json_t *result,
                                 const struct netd_client_error *err, void *userdata)
{
        struct client_sync_slot *slot = userdata;

        slot->done = true;
        if (err) {
                slot->local = !err->reserved_ref;
                (void)netd_client_error_copy(err, &slot->err);
        } else {
                slot->result = json_incref(result);
                if (slot->want_fd)
                        slot->fd = netd_client_take_fd(c, 0);
        }
}

/* Stops a pending call from writing into a slot that is going out of scope. */
static void client_sync_abandon(struct netd_client *c, struct client_sync_slot *slot)
{
        struct client_call *call;

        TAILQ_FOREACH(call, &c->calls, link) {
                if (call->cb == client_sync_reply_cb && call->userdata == slot) {
                        call->cb = NULL;
                        call->userdata = NULL;
                }
        }
}

/*
 * The waiting half of a sync call whose request was queued with
 * client_sync_reply_cb and slot (r: what queuing returned).
 */
static int client_sync_finish(struct netd_client *c, struct client_sync_slot *slot, int r,
                              int64_t deadline, json_t **ret_result,
                              struct netd_client_error *reterr)
{
        if (r < 0) {
                if (reterr)
                        netd_clib_error_local(reterr, r, NULL);
                return r;
        }

        client_enter(c);
        while (!slot->done) {
                r = client_step(c, deadline);
                if (r < 0 && !slot->done) {
                        client_sync_abandon(c, slot);
                        break;
                }
        }
        if (slot->done)
                r = slot->result ? 0 : slot->local ? slot->err.errnum : -EREMOTEIO;
        r = client_leave(c, r); /* c may be gone from here on */

        if (r >= 0) {
                if (ret_result)
                        *ret_result = slot->result;
                else
                        json_decref(slot->result);
                return 0;
        }
        if (slot->fd >= 0)
                close(slot->fd);
        slot->fd = -1;
        json_decref(slot->result);
        if (reterr) {
                if (slot->done && !slot->result)
                        *reterr = slot->err;
                else
                        netd_clib_error_local(reterr, r, NULL);
        } else {
                netd_client_error_done(&slot->err);
        }
        return r;
}

/* ret_fd NULL: no descriptor is expected with the reply. */
int netd_clib_call_sync_fd(struct netd_client *c, const char *method, json_t *params,
                           int timeout_ms, json_t **ret_result, int *ret_fd,
                           struct netd_client_error *reterr)
{
        struct client_sync_slot slot = { .want_fd = ret_fd != NULL, .fd = -1 };
        int64_t deadline = client_deadline(timeout_ms);
        int r;

        if (reterr)
                *reterr = (struct netd_client_error){ 0 };
        r = client_sync_finish(c, &slot,
                               netd_client_call(c, method, params, client_sync_reply_cb, &slot),
                               deadline, ret_result, reterr);
        if (r >= 0 && ret_fd)
                *ret_fd = slot.fd;
        return r;
}

int netd_client_call_sync(struct netd_client *c, const char *method, json_t *params, int timeout_ms,
                          json_t **ret_result, struct netd_client_error *reterr)
{
        return netd_clib_call_sync_fd(c, method, params, timeout_ms, ret_result, NULL, reterr);
}

int netd_clib_call_write_sync(struct netd_client *c, uint64_t socket, const void *data, size_t len,
                              const char *encoding, int timeout_ms,
                              struct netd_client_error *reterr)
{
        struct client_sync_slot slot = { .fd = -1 };
        int64_t deadline = client_deadline(timeout_ms);

        if (reterr)
                *reterr = (struct netd_client_error){ 0 };
        return client_sync_finish(
                c, &slot,
                netd_clib_call_write(c, socket, data, len, encoding, client_sync_reply_cb, &slot),
                deadline, NULL, reterr);
}

int netd_client_wait(struct netd_client *c, int timeout_ms)
{
        int64_t deadline = client_deadline(timeout_ms);
        uint64_t before = c->dispatched;
        int r;

        client_enter(c);
        for (;;) {
                r = client_step(c, deadline);
                if (r == -ETIMEDOUT) {
                        r = 0;
                        break;
                }
                if (r < 0)
                        break;
                if (c->dispatched != before) {
                        uint64_t n = c->dispatched - before;

                        r = n > INT_MAX ? INT_MAX : (int)n;
                        break;
                }
        }
        return client_leave(c, r);
}

int netd_client_sync(struct netd_client *c, int timeout_ms)
{
        return netd_client_call_sync(c, "netd.sync", json_object(), timeout_ms, NULL, NULL);
}

/* ---- Errors and results -------------------------------------------------------------------- */

int netd_client_error_copy(const struct netd_client_error *err, struct netd_client_error *ret)
{
        *ret = *err;
        /* Every pointer of a daemon error borrows from the error object, so one reference keeps
         * them. */
        json_incref(ret->reserved_ref);
        return 0;
}

void netd_client_error_done(struct netd_client_error *err)
{
        if (!err)
                return;
        json_decref(err->reserved_ref);
        *err = (struct netd_client_error){ 0 };
}

int netd_client_get_handle(json_t *obj, const char *key, uint64_t *ret)
{
        json_t *v = json_object_get(obj, key);

        if (!v)
                return -ENOENT;
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
                return -EBADMSG;
        *ret = (uint64_t)json_integer_value(v);
        return 0;
}

/* ---- libevent ------------------------------------------------------------------------------ */

static void client_event_cb(evutil_socket_t fd, short what, void *arg)
{
        /* May free the client; nothing here touches it afterwards. */
        (void)netd_client_process(arg);
}

int netd_client_attach_event_base(struct netd_client *c, struct event_base *base)
{
        if (!base)
                return -EINVAL;
        if (c->read_ev)
                return -EBUSY;
        if (!client_alive(c))
                return client_dead_error(c);
        c->read_ev = event_new(base, c->fd, EV_READ | EV_PERSIST, client_event_cb, c);
        c->write_ev = event_new(base, c->fd, EV_WRITE | EV_PERSIST, client_event_cb, c);
        if (!c->read_ev || !c->write_ev || event_add(c->read_ev, NULL) < 0) {
                (void)netd_client_detach_event_base(c);
                return -ENOMEM;
        }
        client_update_events(c);
        return 0;
}

int netd_client_detach_event_base(struct netd_client *c)
{
        /* event_free() also deletes; libevent allows it from the event's own callback. */
        if (c->read_ev)
                event_free(c->read_ev);
        if (c->write_ev)
                event_free(c->write_ev);
        c->read_ev = c->write_ev = NULL;
        return 0;
}
