/*
 * netctl forward: a port forwarder whose bytes never leave netd. A netd
 * server listens; each accepted socket A (paused until its relay is ready)
 * gets a socket B connected to the target (made with net.Socket and paused
 * before socket.connect, so no byte of B is read before the pipes are in
 * place), then socket.pipe A->B and B->A with end:true, then both resume.
 * A relay is over once A and B have closed; netd's counters (socket.get)
 * then say whether every byte read on one side was written on the other.
 * One poll() loop serves the control connection and a signalfd; netctl
 * moves no data itself. The forwarder owns its relays and the client.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <jansson.h>

#include "netctl-forward.h"
#include "netd/netd.h"

/* How long an interrupted forward waits for each reset of a relay socket. */
#define FORWARD_RESET_TIMEOUT_MS 2000

struct forward;

/* One accepted connection and its connection to the target. */
struct relay {
        struct forward *fw; /* borrowed */
        struct relay *next; /* in fw->relays */
        uint64_t a, b;      /* accepted socket; target socket (0 until made) */
        char peer[160];     /* who connected, for messages */
        bool b_connected;   /* socket.connect came for b */
        bool piped;         /* both socket.pipe calls answered true */
        bool a_closed, b_closed;
        bool failed;      /* reported once */
        unsigned pending; /* calls whose callbacks use this relay */
        unsigned counted; /* socket.get answers received (2 once both are in) */
        uint64_t a_read, a_written, b_read, b_written;
        int pipes_ok; /* socket.pipe calls answered true */
};

struct forward {
        struct netd_client *c; /* owned */
        const struct netctl_stream_opts *o;
        const struct netctl_endpoint *listen_on;
        const struct netctl_endpoint *target;
        char target_name[160];
        uint64_t server;
        bool server_closing, server_closed;
        struct relay *relays; /* owned */
        unsigned served;
        bool done;
        int exit_code;
};

/* Callback context of one call about a relay. */
struct relay_call {
        struct relay *r;
        char what; /* 'b' net.Socket, 'p' socket.pipe, 'a' socket.get of a, 'B' of b */
};

static void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_error(const char *fmt, ...)
{
        va_list ap;

        fputs("netctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static void forward_finish(struct forward *fw, int code)
{
        if (fw->done)
                return;
        fw->done = true;
        fw->exit_code = code;
}

static void call_socket(struct forward *fw, const char *method, uint64_t socket)
{
        if (socket)
                (void)netd_client_call(fw->c, method,
                                       json_pack("{s:I}", "socket", (json_int_t)socket), NULL,
                                       NULL);
}

static void relay_fail(struct relay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Reports r's failure once and tears both sockets down, TCP ones with a reset
 * (so neither end can take a cut stream for a whole one); the relay ends once
 * both have closed.
 */
static void relay_fail(struct relay *r, const char *fmt, ...)
{
        va_list ap;

        if (!r->failed) {
                fprintf(stderr, "netctl: connection from %s: ", r->peer);
                va_start(ap, fmt);
                vfprintf(stderr, fmt, ap);
                va_end(ap);
                fputc('\n', stderr);
        }
        r->failed = true;
        if (!r->a_closed)
                call_socket(r->fw,
                            r->fw->listen_on->path_len > 0 ? "socket.destroy"
                                                           : "socket.resetAndDestroy",
                            r->a);
        if (r->b && !r->b_closed)
                call_socket(r->fw,
                            r->fw->target->path_len > 0 ? "socket.destroy"
                                                        : "socket.resetAndDestroy",
                            r->b);
}

static int relay_call(struct relay *r, char what, const char *method, json_t *params,
                      netd_client_reply_fn cb)
{
        struct relay_call *rc = malloc(sizeof(*rc));
        int ret;

        if (!rc) {
                json_decref(params);
                return -ENOMEM;
        }
        *rc = (struct relay_call){ .r = r, .what = what };
        ret = netd_client_call(r->fw->c, method, params, cb, rc);
        if (ret < 0) {
                free(rc);
                return ret;
        }
        r->pending++;
        return 0;
}

static void format_error_obj(json_t *e, char *buf, size_t len)
{
        struct netd_client_error err = {
                .code = (int)json_integer_value(json_object_get(e, "code")),
                .message = json_string_value(json_object_get(e, "message")),
                .data_code = json_string_value(json_object_get(json_object_get(e, "data"), "code")),
        };

        if (!err.message)
                err.message = "the socket failed";
        (void)netctl_format_error(&err, buf, len);
}

static void relay_reply_cb(struct netd_client *c, json_t *result,
                           const struct netd_client_error *err, void *userdata)
{
        struct relay_call *rc = userdata;
        struct relay *r = rc->r;
        struct forward *fw = r->fw;
        char what = rc->what;
        char line[1024];

        free(rc);
        r->pending--;
        if (fw->done)
                return;
        if (err)
                (void)netctl_format_error(err, line, sizeof(line));
        switch (what) {
        case 'b':
                if (err || netd_client_get_handle(result, "socket", &r->b) < 0) {
                        relay_fail(r, "cannot make a socket to %s: %s", fw->target_name,
                                   err ? line : "no socket in the reply");
                        r->b_closed = true;
                        return;
                }
                if (r->failed) {
                        call_socket(fw, "socket.destroy", r->b);
                        return;
                }
                /* Paused before it connects: nothing of it is read before the pipes exist. */
                call_socket(fw, "socket.pause", r->b);
                {
                        json_t *p = json_pack("{s:I}", "socket", (json_int_t)r->b);

                        if (p && fw->target->path_len > 0) {
                                (void)json_object_set_new(
                                        p, "path",
                                        json_stringn(fw->target->path, fw->target->path_len));
                        } else if (p) {
                                (void)json_object_set_new(p, "port",
                                                          json_integer(fw->target->port));
                                if (fw->target->host)
                                        (void)json_object_set_new(p, "host",
                                                                  json_string(fw->target->host));
                                if (fw->o->family)
                                        (void)json_object_set_new(p, "family",
                                                                  json_integer(fw->o->family));
                        }
                        if (relay_call(r, 'c', "socket.connect", p, relay_reply_cb) < 0)
                                relay_fail(r, "cannot connect to %s: out of memory",
                                           fw->target_name);
                }
                break;
        case 'p':
                if (err) {
                        relay_fail(r, "socket.pipe failed: %s", line);
                        if (err->code == -32601) {
                                log_error("netd has no socket.pipe: it cannot forward");
                                forward_finish(fw, NETCTL_EXIT_ERROR);
                        }
                        return;
                }
                if (++r->pipes_ok == 2) {
                        r->piped = true;
                        call_socket(fw, "socket.resume", r->a);
                        call_socket(fw, "socket.resume", r->b);
                }
                break;
        case 'c':
                /* Failures the reply alone says (bad params): socket.error says the others. */
                if (err)
                        relay_fail(r, "cannot connect to %s: %s", fw->target_name, line);
                break;
        case 'a':
        case 'B': {
                json_t *rd = json_object_get(result, "bytesRead");
                json_t *wr = json_object_get(result, "bytesWritten");

                if (err || !json_is_integer(rd) || !json_is_integer(wr)) {
                        relay_fail(r, "cannot check the bytes moved: %s",
                                   err ? line : "socket.get gave no counters");
                        return;
                }
                if (what == 'a') {
                        r->a_read = (uint64_t)json_integer_value(rd);
                        r->a_written = (uint64_t)json_integer_value(wr);
                } else {
                        r->b_read = (uint64_t)json_integer_value(rd);
                        r->b_written = (uint64_t)json_integer_value(wr);
                }
                r->counted++;
                break;
        }
        }
}

/* Once B has connected: the two pipes. */
static void relay_start(struct relay *r)
{
        struct forward *fw = r->fw;
        int e1, e2;

        if (fw->o->verbose)
                fprintf(stderr, "connection from %s: connected to %s\n", r->peer, fw->target_name);
        e1 = relay_call(r, 'p', "socket.pipe",
                        json_pack("{s:I,s:I,s:b}", "socket", (json_int_t)r->a, "destination",
                                  (json_int_t)r->b, "end", 1),
                        relay_reply_cb);
        e2 = relay_call(r, 'p', "socket.pipe",
                        json_pack("{s:I,s:I,s:b}", "socket", (json_int_t)r->b, "destination",
                                  (json_int_t)r->a, "end", 1),
                        relay_reply_cb);
        if (e1 < 0 || e2 < 0)
                relay_fail(r, "cannot send socket.pipe: %s", strerror(-(e1 < 0 ? e1 : e2)));
}

static void forward_on_connection(struct forward *fw, json_t *params)
{
        const char *host = json_string_value(json_object_get(params, "remoteAddress"));
        json_t *port = json_object_get(params, "remotePort");
        struct relay *r;
        uint64_t id;
        json_t *p;

        if (netd_client_get_handle(params, "socket", &id) < 0)
                return;
        if (!fw->o->keep_open && fw->served > 0) {
                call_socket(fw, "socket.destroy", id); /* accepted before server.close took hold */
                return;
        }
        r = calloc(1, sizeof(*r));
        if (!r) {
                log_error("out of memory, dropping a connection");
                call_socket(fw, "socket.destroy", id);
                return;
        }
        r->fw = fw;
        r->a = id;
        if (host && json_is_integer(port))
                (void)snprintf(r->peer, sizeof(r->peer),
                               strchr(host, ':') ? "[%s]:%" JSON_INTEGER_FORMAT
                                                 : "%s:%" JSON_INTEGER_FORMAT,
                               host, json_integer_value(port));
        else
                (void)snprintf(r->peer, sizeof(r->peer), "a local client");
        r->next = fw->relays;
        fw->relays = r;
        fw->served++;
        if (!fw->o->keep_open) {
                fw->server_closing = true;
                (void)netd_client_server_close(fw->c, fw->server, NULL, NULL);
        }
        if (fw->o->verbose)
                fprintf(stderr, "connection from %s\n", r->peer);
        if (fw->o->idle_timeout_ms > 0)
                (void)netd_client_call(fw->c, "socket.setTimeout",
                                       json_pack("{s:I,s:i}", "socket", (json_int_t)id, "timeout",
                                                 fw->o->idle_timeout_ms),
                                       NULL, NULL);
        p = json_pack("{s:b}", "allowHalfOpen", 1);
        if (relay_call(r, 'b', "net.Socket", p, relay_reply_cb) < 0)
                relay_fail(r, "cannot send net.Socket");
}

static struct relay *forward_find(struct forward *fw, uint64_t id, bool *ret_is_a)
{
        for (struct relay *r = fw->relays; r; r = r->next) {
                if (r->a == id || (r->b && r->b == id)) {
                        *ret_is_a = r->a == id;
                        return r;
                }
        }
        return NULL;
}

static void forward_event_cb(struct netd_client *c, const char *method, json_t *params,
                             void *userdata)
{
        struct forward *fw = userdata;
        struct relay *r;
        char line[1024];
        uint64_t id;
        bool is_a;

        if (fw->done)
                return;
        if (strncmp(method, "server.", 7) == 0) {
                if (netd_client_get_handle(params, "server", &id) < 0 || id != fw->server)
                        return;
                if (strcmp(method, "server.connection") == 0) {
                        forward_on_connection(fw, params);
                } else if (strcmp(method, "server.close") == 0) {
                        fw->server_closed = true;
                        if (!fw->server_closing)
                                log_error("the server was closed in netd (netctl close?)");
                } else if (strcmp(method, "server.drop") == 0 && fw->o->verbose) {
                        fprintf(stderr, "dropped a connection (--max-conns %d)\n",
                                fw->o->max_conns);
                } else if (strcmp(method, "server.error") == 0) {
                        format_error_obj(json_object_get(params, "error"), line, sizeof(line));
                        log_error("%s", line);
                        forward_finish(fw, NETCTL_EXIT_ERROR);
                }
                return;
        }
        if (netd_client_get_handle(params, "socket", &id) < 0 || !(r = forward_find(fw, id, &is_a)))
                return;
        if (strcmp(method, "socket.connect") == 0 && !is_a) {
                r->b_connected = true;
                if (!r->failed)
                        relay_start(r);
        } else if (strcmp(method, "socket.error") == 0) {
                format_error_obj(json_object_get(params, "error"), line, sizeof(line));
                if (!is_a && !r->b_connected)
                        relay_fail(r, "cannot connect to %s: %s, closing it", fw->target_name,
                                   line);
                else
                        relay_fail(r, "%s: %s", is_a ? "the client's side" : "the target's side",
                                   line);
        } else if (strcmp(method, "socket.timeout") == 0) {
                relay_fail(r, "idle for %d ms, closing (ETIMEDOUT)", fw->o->idle_timeout_ms);
        } else if (strcmp(method, "socket.data") == 0) {
                /* Never with the pipes in place; a netd that sent it lost the pipe. */
                relay_fail(r, "netd sent data of a piped socket (%s)", NETD_CLIENT_ERR_PROTOCOL);
        } else if (strcmp(method, "socket.close") == 0) {
                if (is_a)
                        r->a_closed = true;
                else
                        r->b_closed = true;
                /* One side went: the other must not stay open alone. */
                if (!r->piped && !r->failed && (r->a_closed || r->b_closed))
                        relay_fail(r, "%s closed before the relay started",
                                   is_a ? "the client" : "the target");
                if (r->a_closed && r->b && r->b_closed && !r->failed &&
                    (relay_call(r, 'a', "socket.get",
                                json_pack("{s:I}", "socket", (json_int_t)r->a),
                                relay_reply_cb) < 0 ||
                     relay_call(r, 'B', "socket.get",
                                json_pack("{s:I}", "socket", (json_int_t)r->b),
                                relay_reply_cb) < 0))
                        relay_fail(r, "cannot check the bytes moved: socket.get not sent");
        }
}

/* Ends relays whose sockets have both closed and whose calls are answered. */
static void forward_collect(struct forward *fw)
{
        struct relay **p = &fw->relays, *r;

        while ((r = *p)) {
                if (!r->a_closed || (r->b && !r->b_closed) || r->pending > 0) {
                        p = &r->next;
                        continue;
                }
                if (!r->failed && r->b && r->counted != 2) {
                        log_error("connection from %s: the bytes moved were not checked", r->peer);
                        r->failed = true;
                }
                if (!r->failed && r->counted == 2 &&
                    (r->a_read != r->b_written || r->b_read != r->a_written)) {
                        log_error("connection from %s: bytes lost in the relay: %llu read from "
                                  "the client, %llu sent to %s; %llu read from it, %llu sent back",
                                  r->peer, (unsigned long long)r->a_read,
                                  (unsigned long long)r->b_written, fw->target_name,
                                  (unsigned long long)r->b_read, (unsigned long long)r->a_written);
                        r->failed = true;
                }
                if (fw->o->verbose)
                        fprintf(stderr,
                                "connection from %s closed%s: %llu bytes to %s, %llu bytes back\n",
                                r->peer, r->failed ? " with an error" : "",
                                (unsigned long long)r->b_written, fw->target_name,
                                (unsigned long long)r->a_written);
                *p = r->next;
                if (!fw->o->keep_open)
                        forward_finish(fw, r->failed ? NETCTL_EXIT_ERROR : NETCTL_EXIT_OK);
                free(r);
        }
        if (fw->server_closed && !fw->relays && !fw->done)
                forward_finish(fw, fw->server_closing ? NETCTL_EXIT_OK : NETCTL_EXIT_ERROR);
}

/* Resets (TCP) or destroys (UNIX) one relay socket, waiting for the answer. */
static void forward_reset_sync(struct forward *fw, uint64_t socket, bool closed,
                               const struct netctl_endpoint *e)
{
        struct netd_client_error err;

        if (closed || !netd_client_is_connected(fw->c))
                return;
        if (netd_client_call_sync(fw->c,
                                  e->path_len > 0 ? "socket.destroy" : "socket.resetAndDestroy",
                                  json_pack("{s:I}", "socket", (json_int_t)socket),
                                  FORWARD_RESET_TIMEOUT_MS, NULL, &err) < 0)
                netd_client_error_done(&err);
}

/* SIGINT, SIGTERM, SIGHUP: every relay is reset, then netctl dies by the signal. */
static void forward_die(struct forward *fw, int signo)
{
        sigset_t set;
        unsigned n = 0;

        /*
         * netd ends our sockets with a FIN when we go: reset them first (as
         * relay_fail() does), so no peer takes a cut stream for a whole one.
         */
        fw->done = true; /* events that arrive meanwhile are not acted on */
        for (struct relay *r = fw->relays; r; r = r->next) {
                n++;
                forward_reset_sync(fw, r->a, r->a_closed, fw->listen_on);
                if (r->b)
                        forward_reset_sync(fw, r->b, r->b_closed, fw->target);
        }
        fw->c = netd_client_free(fw->c);
        if (fw->o->verbose || n > 0)
                log_error("interrupted by SIG%s: %u connection(s) cut", sigabbrev_np(signo) ?: "?",
                          n);
        (void)signal(signo, SIG_DFL);
        (void)sigemptyset(&set);
        (void)sigaddset(&set, signo);
        (void)sigprocmask(SIG_UNBLOCK, &set, NULL);
        (void)raise(signo);
        _exit(NETCTL_EXIT_ERROR);
}

static int endpoint_to_params(const struct netctl_endpoint *e, json_t *p, int family)
{
        if (!p)
                return -ENOMEM;
        if (e->path_len > 0)
                return json_object_set_new(p, "path", json_stringn(e->path, e->path_len));
        (void)json_object_set_new(p, "port", json_integer(e->port));
        if (e->host)
                (void)json_object_set_new(p, "host", json_string(e->host));
        else if (family)
                (void)json_object_set_new(p, "host", json_string(family == 4 ? "0.0.0.0" : "::"));
        if (family == 6)
                (void)json_object_set_new(p, "ipv6Only", json_true());
        return 0;
}

int netctl_forward(struct netd_client *c, const struct netctl_endpoint *listen_on,
                   const struct netctl_endpoint *target, const struct netctl_stream_opts *o)
{
        struct forward fw = { .c = c, .o = o, .listen_on = listen_on, .target = target };
        struct netd_client_error err;
        json_t *params, *addr = NULL;
        char where[256];
        sigset_t set;
        int sigfd, r;

        (void)netctl_format_endpoint(target, fw.target_name, sizeof(fw.target_name));
        (void)sigemptyset(&set);
        (void)sigaddset(&set, SIGINT);
        (void)sigaddset(&set, SIGTERM);
        (void)sigaddset(&set, SIGHUP);
        (void)sigprocmask(SIG_BLOCK, &set, NULL);
        sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (sigfd < 0) {
                log_error("signalfd: %s", strerror(errno));
                netd_client_free(c);
                return NETCTL_EXIT_ERROR;
        }
        netd_client_on_event(c, forward_event_cb, &fw);

        r = netd_client_net_create_server_sync(
                c, json_pack("{s:b,s:b}", "allowHalfOpen", 1, "pauseOnConnect", 1),
                o->setup_timeout_ms, &fw.server, &err);
        if (r >= 0 && o->max_conns > 0)
                r = netd_client_call_sync(c, "server.set",
                                          json_pack("{s:I,s:i}", "server", (json_int_t)fw.server,
                                                    "maxConnections", o->max_conns),
                                          o->setup_timeout_ms, NULL, &err);
        if (r >= 0) {
                params = json_pack("{s:I}", "server", (json_int_t)fw.server);
                if (endpoint_to_params(listen_on, params, o->family) < 0)
                        r = -ENOMEM;
                else
                        r = netd_client_call_sync(c, "server.listen", params, o->setup_timeout_ms,
                                                  &addr, &err);
        }
        if (r < 0) {
                char line[1024];
                int ret = netctl_exit_for_error(r, &err);

                (void)netctl_format_error(&err, line, sizeof(line));
                log_error("%s", line);
                netd_client_error_done(&err);
                netd_client_free(c);
                close(sigfd);
                return ret;
        }
        if (!o->quiet) {
                if (json_is_string(addr) && json_string_length(addr) > 0 &&
                    json_string_value(addr)[0] == '\0')
                        (void)snprintf(where, sizeof(where), "@%s", json_string_value(addr) + 1);
                else if (netctl_format_address(addr, where, sizeof(where)) < 0)
                        (void)netctl_format_endpoint(listen_on, where, sizeof(where));
                fprintf(stderr, "listening on %s, forwarding to %s\n", where, fw.target_name);
        }
        json_decref(addr);

        while (!fw.done) {
                struct pollfd pfd[2] = {
                        { .fd = netd_client_fd(c),
                          .events = POLLIN | (netd_client_wants_write(c) ? POLLOUT : 0) },
                        { .fd = sigfd, .events = POLLIN },
                };

                r = poll(pfd, 2, -1);
                if (r < 0 && errno != EINTR) {
                        log_error("poll: %s", strerror(errno));
                        forward_finish(&fw, NETCTL_EXIT_ERROR);
                        break;
                }
                if (r > 0 && pfd[1].revents) {
                        struct signalfd_siginfo si;

                        if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                                forward_die(&fw, (int)si.ssi_signo);
                }
                if (r > 0 && pfd[0].revents) {
                        r = netd_client_process(c);
                        if (r < 0 && !fw.done) {
                                log_error("lost the connection to netd: %s (%s)", strerror(-r),
                                          strerrorname_np(-r) ?: "UNKNOWN");
                                forward_finish(&fw, NETCTL_EXIT_UNREACHABLE);
                                break;
                        }
                }
                forward_collect(&fw);
        }
        fw.c = netd_client_free(fw.c); /* runs the last callbacks, which use relays */
        while (fw.relays) {
                struct relay *n = fw.relays->next;

                free(fw.relays);
                fw.relays = n;
        }
        close(sigfd);
        return fw.exit_code;
}
