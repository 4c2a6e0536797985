/*
 * netctl, the command-line client of netd. This file owns argv (arg_*), the
 * sorted verb table and every verb: the RPC tier (info, call, notify, isip)
 * on the client library's *_sync() calls, and the data-plane tier (connect,
 * listen), which pipes stdin and stdout to a netd socket with one poll()
 * loop over stdin and the control connection. Each run opens one control
 * connection; netd destroys what that connection owns when netctl exits, so
 * error paths need not clean up on the daemon's side.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "netctl-args.h"
#include "netd/netd.h"

/* Each reply of the RPC tier is awaited this long unless --timeout says otherwise. */
#define NETCTL_TIMEOUT_DEFAULT_MS     30000
/* connect/listen: stdin bytes sent with socket.write and not answered yet, at most. */
#define NETCTL_INFLIGHT_MAX_BYTES     (1024 * 1024)
/* connect/listen: one read() of stdin, and so one socket.write, at most. */
#define NETCTL_STDIN_CHUNK_BYTES      (64 * 1024)
/* call/notify "-": the largest params document read from stdin. */
#define NETCTL_STDIN_PARAMS_MAX_BYTES (64 * 1024 * 1024)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static const char *arg_socket_path = NULL; /* NULL: netd_client_default_path() */
static bool arg_json = false;
static int arg_timeout_ms = NETCTL_TIMEOUT_DEFAULT_MS; /* -1: no limit */
static bool arg_quiet = false;

/* Prints "netctl: <message>" and then suffix on stderr. */
static void print_error(const char *suffix, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

static void print_error(const char *suffix, const char *fmt, va_list ap)
{
        fputs("netctl: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputs(suffix, stderr);
}

static void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "netctl: <message>" on stderr. */
static void log_error(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        print_error("\n", fmt, ap);
        va_end(ap);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a usage error and the hint to --help. Returns NETCTL_EXIT_USAGE. */
static int usage_error(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        print_error("\nTry 'netctl --help'.\n", fmt, ap);
        va_end(ap);
        return NETCTL_EXIT_USAGE;
}

/* Prints "netctl: <message> (<code>)" for a failed call. Returns its exit code. */
static int report_error(int r, const struct netd_client_error *err)
{
        char line[1024];

        (void)netctl_format_error(err, line, sizeof(line));
        log_error("%s", line);
        return netctl_exit_for_error(r, err);
}

/* Reports a failed *_sync() call and releases *err. Returns the exit code. */
static int fail_call(int r, struct netd_client_error *err)
{
        int ret = report_error(r, err);

        netd_client_error_done(err);
        return ret;
}

/* Prints v (borrowed): compact with --json or when not on a terminal, else indented. */
static void print_json(json_t *v, FILE *f)
{
        size_t flags = JSON_ENCODE_ANY;

        flags |= !arg_json && isatty(fileno(f)) ? JSON_INDENT(2) : JSON_COMPACT;
        (void)json_dumpf(v, f, flags);
        fputc('\n', f);
}

/* Connects to netd. Returns 0, or NETCTL_EXIT_UNREACHABLE after saying why. */
static int open_client(struct netd_client **ret)
{
        char *def = NULL;
        int r;

        r = netd_client_connect(arg_socket_path, ret);
        if (r >= 0)
                return 0;
        if (!arg_socket_path)
                (void)netd_client_default_path(&def);
        log_error("cannot connect to netd at %s: %s (%s)",
                  arg_socket_path ? arg_socket_path
                  : def           ? def
                                  : "the default socket",
                  strerror(-r), strerrorname_np(-r) ?: "UNKNOWN");
        free(def);
        return NETCTL_EXIT_UNREACHABLE;
}

static int64_t now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads all of stdin, NUL-terminated. Returns 0, -EFBIG, -ENOMEM or -errno. */
static int read_stdin(char **ret, size_t *ret_len)
{
        size_t len = 0, cap = 0;
        char *buf = NULL;

        for (;;) {
                char *nbuf;
                size_t n;

                if (cap - len < 4096) {
                        if (cap >= NETCTL_STDIN_PARAMS_MAX_BYTES) {
                                free(buf);
                                return -EFBIG;
                        }
                        cap = cap ? cap * 2 : 64 * 1024;
                        nbuf = realloc(buf, cap + 1);
                        if (!nbuf) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = nbuf;
                }
                n = fread(buf + len, 1, cap - len, stdin);
                len += n;
                if (n == 0) {
                        if (ferror(stdin)) {
                                free(buf);
                                return -EIO;
                        }
                        break;
                }
        }
        buf[len] = '\0';
        *ret = buf;
        *ret_len = len;
        return 0;
}

/*
 * Parses the optional JSON argument of call/notify: absent gives NULL
 * params, "-" reads them from stdin. Returns 0 or NETCTL_EXIT_USAGE.
 */
static int parse_params_arg(int argc, char *argv[], json_t **ret)
{
        char err[512];
        char *text = NULL;
        size_t len;
        int r;

        *ret = NULL;
        if (argc < 2)
                return 0;
        if (strcmp(argv[1], "-") != 0) {
                r = netctl_parse_params(argv[1], strlen(argv[1]), ret, err, sizeof(err));
                return r < 0 ? usage_error("%s", err) : 0;
        }
        r = read_stdin(&text, &len);
        if (r < 0)
                return usage_error("cannot read params from stdin: %s", strerror(-r));
        r = netctl_parse_params(text, len, ret, err, sizeof(err));
        free(text);
        return r < 0 ? usage_error("%s on stdin", err) : 0;
}

/* ---- RPC tier ------------------------------------------------------------------------------ */

static void print_info(json_t *info)
{
        json_t *v, *handles = json_object_get(info, "handles"), *stats;
        char uptime[64];
        const char *key;

        if ((v = json_object_get(info, "version")) && json_is_string(v))
                printf("%-14s %s\n", "version:", json_string_value(v));
        if ((v = json_object_get(info, "pid")) && json_is_integer(v))
                printf("%-14s %" JSON_INTEGER_FORMAT "\n", "pid:", json_integer_value(v));
        if ((v = json_object_get(info, "uptime")) && json_is_number(v) &&
            netctl_format_duration(json_number_value(v), uptime, sizeof(uptime)) >= 0)
                printf("%-14s %s\n", "uptime:", uptime);
        if ((v = json_object_get(info, "connections")) && json_is_integer(v))
                printf("%-14s %" JSON_INTEGER_FORMAT "\n", "connections:", json_integer_value(v));
        if (json_is_object(handles))
                printf("%-14s %" JSON_INTEGER_FORMAT " servers, %" JSON_INTEGER_FORMAT " sockets\n",
                       "handles:", json_integer_value(json_object_get(handles, "servers")),
                       json_integer_value(json_object_get(handles, "sockets")));
        /* "user": the figures above are the caller's uid's own (PROTOCOL.md §8.25). */
        if ((v = json_object_get(info, "scope")) && json_is_string(v))
                printf("%-14s %s (uid %" JSON_INTEGER_FORMAT ")\n", "scope:", json_string_value(v),
                       json_integer_value(json_object_get(json_object_get(info, "user"), "uid")));
        /* The stats are printed as netd names them, so new counters show up unchanged. */
        stats = json_object_get(info, "stats");
        if (!json_is_object(stats))
                return;
        printf("stats:\n");
        json_object_foreach(stats, key, v) {
                printf("  %-20s ", key);
                (void)json_dumpf(v, stdout, JSON_ENCODE_ANY | JSON_COMPACT);
                fputc('\n', stdout);
        }
}

static int verb_info(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        json_t *info = NULL;
        int r;

        r = open_client(&c);
        if (r > 0)
                return r;
        r = netd_client_netd_info_sync(c, arg_timeout_ms, &info, &err);
        c = netd_client_free(c);
        if (r < 0)
                return fail_call(r, &err);
        if (!arg_quiet) {
                if (arg_json)
                        print_json(info, stdout);
                else
                        print_info(info);
        }
        json_decref(info);
        return NETCTL_EXIT_OK;
}

static int verb_call(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        json_t *params, *result = NULL;
        int r;

        r = parse_params_arg(argc, argv, &params);
        if (r > 0)
                return r;
        r = open_client(&c);
        if (r > 0) {
                json_decref(params);
                return r;
        }
        r = netd_client_call_sync(c, argv[0], params, arg_timeout_ms, &result, &err);
        c = netd_client_free(c);
        if (r == -EINVAL && err.code == NETD_CLIENT_LOCAL_ERROR_CODE) {
                netd_client_error_done(&err);
                return usage_error("invalid method name or params");
        }
        if (r < 0) {
                json_auto_t *obj = NULL;
                int ret;

                if (r != -EREMOTEIO)
                        return fail_call(r, &err);
                /* The daemon's error object, for scripts; --json makes it the only line. */
                ret = arg_json ? netctl_exit_for_error(r, &err) : report_error(r, &err);
                obj = json_pack("{s:i,s:s,s:O*}", "code", err.code, "message", err.message, "data",
                                err.data);
                if (obj)
                        print_json(obj, stderr);
                netd_client_error_done(&err);
                return ret;
        }
        if (!arg_quiet)
                print_json(result, stdout);
        json_decref(result);
        return NETCTL_EXIT_OK;
}

static int verb_notify(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        json_t *params;
        int r;

        r = parse_params_arg(argc, argv, &params);
        if (r > 0)
                return r;
        r = open_client(&c);
        if (r > 0) {
                json_decref(params);
                return r;
        }
        r = netd_client_notify(c, argv[0], params);
        if (r < 0) {
                c = netd_client_free(c);
                if (r == -EINVAL)
                        return usage_error("invalid method name or params");
                log_error("cannot send the notification: %s", strerror(-r));
                return NETCTL_EXIT_ERROR;
        }
        /*
         * No reply will come. netd.sync flushes the notification and proves
         * that netd has read it before netctl hangs up.
         */
        r = netd_client_call_sync(c, "netd.sync", NULL, arg_timeout_ms, NULL, &err);
        c = netd_client_free(c);
        if (r < 0)
                return fail_call(r, &err);
        return NETCTL_EXIT_OK;
}

static int verb_isip(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        int r, family;

        r = open_client(&c);
        if (r > 0)
                return r;
        r = netd_client_net_is_ip_sync(c, argv[0], arg_timeout_ms, &family, &err);
        c = netd_client_free(c);
        if (r == -EINVAL && err.code == NETD_CLIENT_LOCAL_ERROR_CODE) {
                netd_client_error_done(&err);
                return usage_error("ADDR must be valid UTF-8");
        }
        if (r < 0)
                return fail_call(r, &err);
        if (!arg_quiet)
                printf("%d\n", family);
        return NETCTL_EXIT_OK;
}

/* ---- Data-plane tier: connect and listen --------------------------------------------------- */

/* One stdio <-> netd socket pipe, on the stack of verb_connect()/verb_listen(). */
struct pipe {
        struct netd_client *c; /* borrowed */
        uint64_t server;       /* listen: the server; else 0 */
        bool listening;        /* listen: server.listen has succeeded (it reports its own errors) */
        uint64_t socket;       /* 0 until known (listen: until the connection) */
        size_t inflight_bytes; /* sent with socket.write, reply not in yet */
        bool stdin_done;       /* stdin is at EOF, or the peer ended: socket.end sent */
        bool done;             /* leave the loop with exit_code */
        int exit_code;
        int64_t deadline_ms; /* connect: when to give up on net.connect's reply; -1: never */
        char *write_error;   /* owned: first unexpected socket.write/end failure, or NULL */
};

/* Tracks one socket.write or socket.end until its reply. */
struct pipe_write {
        struct pipe *pipe; /* borrowed */
        size_t len;
};

static void pipe_finish(struct pipe *p, int exit_code)
{
        p->done = true;
        p->exit_code = exit_code;
}

/*
 * A socket.write or socket.end failed. Failures caused by the socket
 * closing are reported by socket.error, or are expected (writes cut off by
 * a close); the loop handles a lost connection. Anything else is kept for
 * the exit status.
 */
static void pipe_write_cb(struct netd_client *c, json_t *result,
                          const struct netd_client_error *err, void *userdata)
{
        static const char *const expected[] = {
                "ERR_SOCKET_CLOSED",          "ERR_SOCKET_CLOSED_BEFORE_CONNECTION",
                "ERR_STREAM_DESTROYED",       "ERR_STREAM_WRITE_AFTER_END",
                NETD_CLIENT_ERR_DISCONNECTED,
        };
        struct pipe_write *w = userdata;
        struct pipe *p = w->pipe;
        char line[1024];

        p->inflight_bytes -= w->len;
        free(w);
        if (!err || p->write_error || err->code == -32000)
                return;
        for (size_t i = 0; i < ELEMENTSOF(expected); i++)
                if (err->data_code && strcmp(err->data_code, expected[i]) == 0)
                        return;
        (void)netctl_format_error(err, line, sizeof(line));
        p->write_error = strdup(line);
}

/* Queues socket.write (len > 0) or socket.end (len 0). Returns 0 or -errno. */
static int pipe_send(struct pipe *p, const void *data, size_t len)
{
        struct pipe_write *w;
        int r;

        w = malloc(sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (struct pipe_write){ .pipe = p, .len = len };
        if (len > 0)
                r = netd_client_socket_write(p->c, p->socket, data, len, pipe_write_cb, w);
        else
                r = netd_client_socket_end(p->c, p->socket, pipe_write_cb, w);
        if (r < 0) {
                free(w); /* the callback is not called when queueing fails */
                return r;
        }
        p->inflight_bytes += len;
        return 0;
}

/* Ends our side once: after stdin's EOF, or after the peer's (we asked for allowHalfOpen). */
static void pipe_end(struct pipe *p)
{
        int r;

        if (p->stdin_done)
                return;
        p->stdin_done = true;
        r = pipe_send(p, NULL, 0);
        if (r < 0 && netd_client_is_connected(p->c)) {
                log_error("cannot end the socket: %s", strerror(-r));
                pipe_finish(p, NETCTL_EXIT_ERROR);
        }
}

/* Writes all of buf to stdout, waiting while a non-blocking stdout is full. */
static int write_stdout(const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = write(STDOUT_FILENO, buf, len);

                if (n < 0) {
                        struct pollfd pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };

                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                return -errno;
                        (void)poll(&pfd, 1, -1);
                        continue;
                }
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

static void pipe_on_data(struct pipe *p, json_t *params)
{
        void *buf = NULL;
        size_t len;
        int r;

        r = netd_client_decode_data(params, &buf, &len);
        if (r < 0) {
                log_error("cannot decode socket.data: %s", strerror(-r));
                pipe_finish(p, NETCTL_EXIT_UNREACHABLE); /* netd broke the protocol */
                return;
        }
        /*
         * A blocking write: while stdout is slow, netctl reads no more events,
         * so netd stops reading the socket and TCP pushes back on the peer.
         */
        r = write_stdout(buf, len);
        free(buf);
        if (r < 0) {
                log_error("cannot write to stdout: %s", strerror(-r));
                pipe_finish(p, NETCTL_EXIT_ERROR);
        }
}

/* server.connection: the first one is ours; the server closes, stragglers are destroyed. */
static void pipe_on_connection(struct pipe *p, json_t *params)
{
        const char *host = json_string_value(json_object_get(params, "remoteAddress"));
        json_t *port = json_object_get(params, "remotePort");
        uint64_t id;

        if (netd_client_get_handle(params, "socket", &id) < 0)
                return;
        if (p->socket) {
                (void)netd_client_notify(p->c, "socket.destroy",
                                         json_pack("{s:I}", "socket", (json_int_t)id));
                return;
        }
        p->socket = id;
        /* The reply of server.close waits for our connection to end: nobody waits for it. */
        (void)netd_client_server_close(p->c, p->server, NULL, NULL);
        if (!arg_quiet && host && json_is_integer(port))
                fprintf(stderr,
                        strchr(host, ':') ? "connection from [%s]:%" JSON_INTEGER_FORMAT "\n"
                                          : "connection from %s:%" JSON_INTEGER_FORMAT "\n",
                        host, json_integer_value(port));
}

static void pipe_on_close(struct pipe *p, json_t *params)
{
        if (json_is_true(json_object_get(params, "hadError"))) {
                pipe_finish(p, NETCTL_EXIT_ERROR); /* socket.error said why */
                return;
        }
        if (p->write_error) {
                log_error("%s", p->write_error);
                pipe_finish(p, NETCTL_EXIT_ERROR);
                return;
        }
        pipe_finish(p, NETCTL_EXIT_OK);
}

/* Prints the error of a server.error or socket.error event. */
static void pipe_report_error_event(json_t *params)
{
        json_t *e = json_object_get(params, "error");
        json_t *code = json_object_get(e, "code");
        struct netd_client_error err = {
                .code = (int)json_integer_value(code),
                .message = json_string_value(json_object_get(e, "message")),
                .data_code = json_string_value(code),
        };
        char line[1024];

        /* Node's error fields ({message, code: "ECONNREFUSED", ...}), or a JSON-RPC error. */
        if (!err.data_code)
                err.data_code =
                        json_string_value(json_object_get(json_object_get(e, "data"), "code"));
        if (!err.message)
                err.message = "the socket failed";
        (void)netctl_format_error(&err, line, sizeof(line));
        log_error("%s", line);
}

static void pipe_event_cb(struct netd_client *c, const char *method, json_t *params, void *userdata)
{
        struct pipe *p = userdata;
        uint64_t id;

        if (p->done)
                return;
        if (strncmp(method, "server.", 7) == 0) {
                if (!p->server || netd_client_get_handle(params, "server", &id) < 0 ||
                    id != p->server)
                        return;
                if (strcmp(method, "server.connection") == 0) {
                        pipe_on_connection(p, params);
                } else if (strcmp(method, "server.error") == 0 && p->listening && !p->socket) {
                        pipe_report_error_event(params);
                        pipe_finish(p, NETCTL_EXIT_ERROR);
                }
                return;
        }
        if (!p->socket || netd_client_get_handle(params, "socket", &id) < 0 || id != p->socket)
                return;
        if (strcmp(method, "socket.data") == 0)
                pipe_on_data(p, params);
        else if (strcmp(method, "socket.end") == 0)
                pipe_end(p); /* the peer is done: so are we, as Node's allowHalfOpen: false */
        else if (strcmp(method, "socket.error") == 0)
                pipe_report_error_event(params);
        else if (strcmp(method, "socket.close") == 0)
                pipe_on_close(p, params);
}

/* stdin is readable: one chunk becomes one socket.write; EOF becomes socket.end. */
static void pipe_read_stdin(struct pipe *p, char *buf)
{
        ssize_t n;
        int r;

        n = read(STDIN_FILENO, buf, NETCTL_STDIN_CHUNK_BYTES);
        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                        return;
                log_error("cannot read stdin: %s", strerror(errno));
                pipe_end(p);
                pipe_finish(p, NETCTL_EXIT_ERROR);
                return;
        }
        if (n == 0) {
                pipe_end(p);
                return;
        }
        r = pipe_send(p, buf, (size_t)n);
        if (r < 0 && netd_client_is_connected(p->c)) {
                log_error("cannot send to the socket: %s", strerror(-r));
                pipe_finish(p, NETCTL_EXIT_ERROR);
        }
}

/*
 * Runs the pipe until the socket closes (or netctl gives up). stdin is
 * read only once the socket is known, and only while fewer than
 * NETCTL_INFLIGHT_MAX_BYTES wait for their write replies, which bounds
 * netctl's memory and lets netd push back on a fast stdin.
 */
static int pipe_run(struct pipe *p)
{
        char *buf;
        int r;

        buf = malloc(NETCTL_STDIN_CHUNK_BYTES);
        if (!buf) {
                log_error("out of memory");
                return NETCTL_EXIT_ERROR;
        }
        while (!p->done) {
                bool want_stdin = p->socket && !p->stdin_done &&
                                  p->inflight_bytes < NETCTL_INFLIGHT_MAX_BYTES;
                struct pollfd pfd[2] = {
                        { .fd = netd_client_fd(p->c),
                          .events = POLLIN | (netd_client_wants_write(p->c) ? POLLOUT : 0) },
                        { .fd = want_stdin ? STDIN_FILENO : -1, .events = POLLIN },
                };
                int timeout = -1;

                if (!p->socket && p->deadline_ms >= 0) {
                        int64_t left = p->deadline_ms - now_ms();

                        if (left <= 0) {
                                log_error("Timed out waiting for netd (%s)",
                                          NETD_CLIENT_ERR_TIMEOUT);
                                pipe_finish(p, NETCTL_EXIT_UNREACHABLE);
                                break;
                        }
                        timeout = left > INT_MAX ? INT_MAX : (int)left;
                }
                r = poll(pfd, ELEMENTSOF(pfd), timeout);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("poll: %s", strerror(errno));
                        pipe_finish(p, NETCTL_EXIT_ERROR);
                        break;
                }
                if (pfd[0].revents) {
                        r = netd_client_process(p->c);
                        if (r < 0 && !p->done) {
                                log_error("lost the connection to netd: %s (%s)", strerror(-r),
                                          strerrorname_np(-r) ?: "UNKNOWN");
                                pipe_finish(p, NETCTL_EXIT_UNREACHABLE);
                        }
                }
                /* POLLHUP or POLLNVAL (stdin closed) also reach read(), which sees the EOF. */
                if (!p->done && pfd[1].revents) {
                        if (pfd[1].revents & POLLNVAL)
                                pipe_end(p);
                        else
                                pipe_read_stdin(p, buf);
                }
        }
        free(buf);
        return p->exit_code;
}

/* The reply of net.connect: from here on, events name our socket. */
static void pipe_connect_cb(struct netd_client *c, json_t *result,
                            const struct netd_client_error *err, void *userdata)
{
        struct pipe *p = userdata;

        if (p->done)
                return; /* netctl gave up waiting, and is freeing the client */
        if (err) {
                /* No -EREMOTEIO here: the error's data.code tells a lost netd from its errors. */
                pipe_finish(p, report_error(0, err));
                return;
        }
        if (netd_client_get_handle(result, "socket", &p->socket) < 0) {
                log_error("netd sent no socket for net.connect (%s)", NETD_CLIENT_ERR_PROTOCOL);
                pipe_finish(p, NETCTL_EXIT_UNREACHABLE);
        }
}

static int verb_connect(int argc, char *argv[])
{
        struct pipe p = { .deadline_ms = -1 };
        int r, port;

        if (netctl_parse_port(argv[1], &port) < 0)
                return usage_error("invalid port '%s'", argv[1]);
        r = open_client(&p.c);
        if (r > 0)
                return r;
        /*
         * Asynchronously: the socket's first events may share a read with the
         * reply, and pipe_event_cb() must see them in order, after it.
         * allowHalfOpen: netctl ends its side itself when the peer ends, after
         * the writes already on their way, where Node's automatic end would
         * fail them with EPIPE.
         */
        netd_client_on_event(p.c, pipe_event_cb, &p);
        r = netd_client_call(
                p.c, "net.connect",
                json_pack("{s:i,s:s,s:b}", "port", port, "host", argv[0], "allowHalfOpen", 1),
                pipe_connect_cb, &p);
        if (r < 0) {
                p.c = netd_client_free(p.c);
                if (r == -EINVAL)
                        return usage_error("HOST must be valid UTF-8");
                log_error("cannot send net.connect: %s", strerror(-r));
                return NETCTL_EXIT_ERROR;
        }
        if (arg_timeout_ms >= 0)
                p.deadline_ms = now_ms() + arg_timeout_ms;
        r = pipe_run(&p);
        p.c = netd_client_free(p.c); /* runs the last write callbacks, which use p */
        free(p.write_error);
        return r;
}

static int verb_listen(int argc, char *argv[])
{
        struct netd_client_error err;
        struct pipe p = { .deadline_ms = -1 };
        json_t *addr = NULL;
        const char *host = argc > 1 ? argv[0] : NULL;
        char where[512];
        int r, port;

        if (netctl_parse_port(argv[argc - 1], &port) < 0)
                return usage_error("invalid port '%s'", argv[argc - 1]);
        r = open_client(&p.c);
        if (r > 0)
                return r;
        r = netd_client_net_create_server_sync(p.c, json_pack("{s:b}", "allowHalfOpen", 1),
                                               arg_timeout_ms, &p.server, &err);
        /*
         * The events of the server follow the reply above; a connection may
         * even come in before server.listen's reply has been read.
         */
        netd_client_on_event(p.c, pipe_event_cb, &p);
        if (r >= 0)
                r = netd_client_server_listen_sync(p.c, p.server, port, host, -1, arg_timeout_ms,
                                                   &addr, &err);
        if (r < 0) {
                p.c = netd_client_free(p.c);
                return fail_call(r, &err);
        }
        p.listening = true;
        if (!arg_quiet) {
                if (netctl_format_address(addr, where, sizeof(where)) < 0)
                        snprintf(where, sizeof(where), "port %d", port);
                fprintf(stderr, "listening on %s\n", where);
        }
        json_decref(addr);
        r = pipe_run(&p);
        p.c = netd_client_free(p.c);
        free(p.write_error);
        return r;
}

/* ---- Help, version, argv ------------------------------------------------------------------- */

static int verb_help(int argc, char *argv[]);

static int verb_version(int argc, char *argv[])
{
        if (arg_json)
                printf("{\"version\":\"%s\"}\n", NETD_VERSION);
        else
                printf("netctl %s\n", NETD_VERSION);
        return NETCTL_EXIT_OK;
}

/* Sorted by name for netctl_verb_lookup(); "help" lists them in this order. */
static const struct netctl_verb verbs[] = {
        { "call", "METHOD [JSON|-]", "call METHOD with JSON params (\"-\": read them from stdin)",
          1, 2, verb_call },
        { "connect", "HOST PORT", "connect to HOST:PORT via netd and pipe stdin/stdout to it", 2, 2,
          verb_connect },
        { "help", "", "show this help", 0, 0, verb_help },
        { "info", "", "show netd's version, uptime, connections, handles and stats", 0, 0,
          verb_info },
        { "isip", "ADDR", "print 4 or 6 if ADDR is an IPv4 or IPv6 address, else 0", 1, 1,
          verb_isip },
        { "listen", "[HOST] PORT", "accept one connection via netd and pipe stdin/stdout to it", 1,
          2, verb_listen },
        { "notify", "METHOD [JSON|-]", "send METHOD as a notification (netd sends no reply)", 1, 2,
          verb_notify },
        { "version", "", "show netctl's version", 0, 0, verb_version },
};

static void help(void)
{
        char *def = NULL;

        (void)netd_client_default_path(&def);
        printf("Usage: netctl [OPTION]... COMMAND [ARG]...\n"
               "Drive netd, the socket daemon, over its JSON-RPC control socket.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                char left[64];

                snprintf(left, sizeof(left), "%s %s", verbs[i].name, verbs[i].args);
                printf("  %-24s %s\n", left, verbs[i].summary);
        }
        printf("\nOptions:\n"
               "  -s, --socket=PATH   netd's control socket (default: $NETD_SOCKET, else\n"
               "                      $XDG_RUNTIME_DIR/netd/netd.sock when not root, else\n"
               "                      /run/netd/netd.sock; here: %s)\n"
               "  -j, --json          print results as compact JSON on one line, for scripts\n"
               "  -t, --timeout=MS    wait at most MS milliseconds for each reply (default %d;\n"
               "                      0: no limit); connect and listen then wait for ever\n"
               "  -q, --quiet         print no results and no progress messages, only errors\n"
               "  -h, --help          show this help and exit\n"
               "  -V, --version       show the version and exit\n\n"
               "Errors are printed as \"netctl: MESSAGE (CODE)\" on stderr, CODE being the\n"
               "error's data.code (or its JSON-RPC code). call also prints netd's error object.\n\n"
               "Exit status:\n"
               "  0  success; connect, listen: the connection closed without an error\n"
               "  1  netd returned an error, or the connection had one\n"
               "  2  cannot reach netd: connecting to the control socket failed, the\n"
               "     connection was lost, or no reply came within --timeout\n"
               "  3  usage error\n",
               def ? def : "?", NETCTL_TIMEOUT_DEFAULT_MS);
        free(def);
}

static int verb_help(int argc, char *argv[])
{
        help();
        return NETCTL_EXIT_OK;
}

/* Returns 1 to go on, 0 to exit with success (--help, --version), -EINVAL on a usage error. */
static int parse_argv(int argc, char *argv[])
{
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "json", no_argument, NULL, 'j' },
                { "timeout", required_argument, NULL, 't' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        int c;

        /*
         * GNU argument order: options may also follow the command ("netctl
         * info --json"). The leading ':' makes getopt quiet, so that errors
         * name "netctl" rather than argv[0].
         */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":s:jt:qhV", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        if (!*optarg) {
                                usage_error("--socket takes a path");
                                return -EINVAL;
                        }
                        arg_socket_path = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 't':
                        if (netctl_parse_timeout(optarg, &arg_timeout_ms) < 0) {
                                usage_error("--timeout takes milliseconds, 0 to %d", INT32_MAX);
                                return -EINVAL;
                        }
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        (void)verb_version(0, NULL);
                        return 0;
                case ':':
                        usage_error("option '%s' needs an argument", argv[optind - 1]);
                        return -EINVAL;
                default:
                        if (strncmp(argv[optind - 1], "--", 2) == 0)
                                usage_error("invalid option '%s'", argv[optind - 1]);
                        else
                                usage_error("invalid option '-%c'", optopt);
                        return -EINVAL;
                }
        }
        return 1;
}

int main(int argc, char *argv[])
{
        const struct netctl_verb *v;
        int r, nargs;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? NETCTL_EXIT_USAGE : NETCTL_EXIT_OK;
        if (optind >= argc)
                return usage_error("missing command");
        v = netctl_verb_lookup(verbs, ELEMENTSOF(verbs), argv[optind]);
        if (!v)
                return usage_error("unknown command '%s'", argv[optind]);
        nargs = argc - optind - 1;
        if (nargs < v->min_args || nargs > v->max_args)
                return usage_error("usage: netctl %s %s", v->name, v->args);

        /* A closed stdout is reported as EPIPE by write(), not by a fatal signal. */
        (void)signal(SIGPIPE, SIG_IGN);
        /*
         * connect/listen pass every chunk (up to ~350 KB of base64) through
         * buffers freed right after: keep freed heap, as netd does, instead
         * of mapping and faulting in fresh pages for each one.
         */
        (void)mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
        (void)mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
        r = v->run(nargs, argv + optind + 1);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                log_error("cannot write to stdout: %s", strerror(errno));
                if (r == NETCTL_EXIT_OK)
                        r = NETCTL_EXIT_ERROR;
        }
        return r;
}
