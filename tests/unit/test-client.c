/*
 * Unit tests for client-lib (libnetdclient) against a fake daemon: a UNIX
 * listening socket in a mkdtemp() directory whose accepted end the test
 * drives by hand. It reads the client's request lines, checks them, and
 * scripts what a daemon would send: replies out of order, interleaved
 * events, lines split across writes, error replies, garbage, an oversize
 * line, a disconnect with calls pending. Single-threaded, except the
 * netd.sync test whose fake daemon runs in a thread while the client blocks
 * in its own poll() loop. No sleeps: every wait is a poll() with a timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "netd/netd.h"

#define POLL_STEP_MS    10   /* one wait of the fake daemon's loops */
#define POLL_STEPS      1000 /* so no loop waits more than 10 s in total */
#define WAIT_TIMEOUT_MS 5000

/* ---- The fake daemon ----------------------------------------------------------------------- */

struct fake {
        char dir[64];
        char path[96];
        int lfd;  /* listening socket */
        int fd;   /* the accepted control connection, -1 once closed */
        char *in; /* owned: bytes read from the client */
        size_t in_len;
        size_t in_cap;
        struct netd_client *c;   /* owned; NULL once freed */
        struct event_base *base; /* owned, or NULL: drive the client with netd_client_process() */

        char log[4096]; /* "tag;" per reply, "ev:<method>;" per event, in dispatch order */
        int events;
        json_t *last_params; /* owned: params of the last event */
        int disconnects;
        int disconnect_error;
        bool free_on_disconnect;
};

static void log_append(struct fake *f, const char *a, const char *b)
{
        size_t n = strlen(f->log);

        snprintf(f->log + n, sizeof(f->log) - n, "%s%s;", a, b);
}

static void event_cb(struct netd_client *c, const char *method, json_t *params, void *userdata)
{
        struct fake *f = userdata;

        f->events++;
        log_append(f, "ev:", method);
        json_decref(f->last_params);
        f->last_params = json_incref(params);
}

static void disconnect_cb(struct netd_client *c, int error, void *userdata)
{
        struct fake *f = userdata;

        f->disconnects++;
        f->disconnect_error = error;
        if (f->free_on_disconnect) {
                netd_client_free(c);
                f->c = NULL;
        }
}

static int fake_setup(void **state)
{
        struct fake *f = calloc(1, sizeof(*f));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        assert_non_null(f);
        strcpy(f->dir, "/tmp/netd-client-test-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/netd.sock", f->dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);

        f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->lfd >= 0);
        assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->lfd, 8), 0);

        assert_int_equal(netd_client_connect(f->path, &f->c), 0);
        /* The connection is already queued, so this accept doesn't block. */
        f->fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
        assert_true(f->fd >= 0);

        assert_int_equal(netd_client_on_event(f->c, event_cb, f), 0);
        assert_int_equal(netd_client_on_disconnect(f->c, disconnect_cb, f), 0);
        *state = f;
        return 0;
}

static int fake_teardown(void **state)
{
        struct fake *f = *state;

        f->c = netd_client_free(f->c);
        if (f->base)
                event_base_free(f->base);
        if (f->fd >= 0)
                close(f->fd);
        close(f->lfd);
        unlink(f->path);
        rmdir(f->dir);
        json_decref(f->last_params);
        free(f->in);
        free(f);
        return 0;
}

/* Lets the client do its I/O: through its event_base when attached. */
static void fake_pump(struct fake *f)
{
        if (f->base)
                (void)event_base_loop(f->base, EVLOOP_NONBLOCK);
        else if (f->c)
                (void)netd_client_process(f->c);
}

/* Reads the next line the client sent (pumping the client meanwhile); its raw text if ret_raw. */
static json_t *fake_read(struct fake *f, char **ret_raw)
{
        for (int i = 0; i < POLL_STEPS; i++) {
                char *nl = f->in_len ? memchr(f->in, '\n', f->in_len) : NULL;
                struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
                ssize_t n;

                if (nl) {
                        size_t len = (size_t)(nl - f->in);
                        json_t *msg = json_loadb(f->in, len, 0, NULL);

                        assert_non_null(msg);
                        if (ret_raw)
                                *ret_raw = strndup(f->in, len);
                        memmove(f->in, nl + 1, f->in_len - len - 1);
                        f->in_len -= len + 1;
                        return msg;
                }
                fake_pump(f);
                if (poll(&pfd, 1, POLL_STEP_MS) <= 0)
                        continue;
                if (f->in_cap - f->in_len < 65536) {
                        f->in_cap = f->in_cap ? f->in_cap * 2 : 65536;
                        f->in = realloc(f->in, f->in_cap);
                        assert_non_null(f->in);
                }
                n = recv(f->fd, f->in + f->in_len, f->in_cap - f->in_len, 0);
                assert_true(n > 0);
                f->in_len += (size_t)n;
        }
        fail_msg("the client sent no request");
        return NULL;
}

/* Reads a request, checks the envelope and the method; returns its id. */
static json_int_t fake_expect(struct fake *f, const char *method, json_t **ret_params)
{
        json_t *msg = fake_read(f, NULL);
        json_t *id = json_object_get(msg, "id");
        json_int_t v;

        assert_string_equal(json_string_value(json_object_get(msg, "jsonrpc")), "2.0");
        assert_string_equal(json_string_value(json_object_get(msg, "method")), method);
        assert_true(json_is_integer(id));
        v = json_integer_value(id);
        if (ret_params)
                *ret_params = json_incref(json_object_get(msg, "params"));
        json_decref(msg);
        return v;
}

static void fake_send(struct fake *f, const char *s)
{
        size_t len = strlen(s), off = 0;

        while (off < len) {
                ssize_t n = send(f->fd, s + off, len - off, MSG_NOSIGNAL);

                assert_true(n > 0);
                off += (size_t)n;
        }
}

static void fake_sendf(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fake_sendf(struct fake *f, const char *fmt, ...)
{
        char *s;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        assert_true(r >= 0);
        fake_send(f, s);
        free(s);
}

static void fake_reply(struct fake *f, json_int_t id, const char *result)
{
        fake_sendf(f, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":%s}\n", (long long)id, result);
}

/* json_equal() that takes (steals) its second argument, a json_pack() result. */
static bool json_eq(json_t *a, json_t *b)
{
        bool r = json_equal(a, b);

        json_decref(b);
        return r;
}

/* ---- Recording callbacks ------------------------------------------------------------------- */

struct rec {
        struct fake *f;
        const char *tag;
        int calls;
        json_t *result; /* owned */
        bool has_err;
        struct netd_client_error err; /* owned copy */
        bool free_client;             /* free the client from the callback */
};

static void rec_cb(struct netd_client *c, json_t *result, const struct netd_client_error *err,
                   void *userdata)
{
        struct rec *r = userdata;

        r->calls++;
        log_append(r->f, r->tag, "");
        assert_true(!result != !err);
        if (err) {
                r->has_err = true;
                /* Check the borrowed view here; the copy is checked after the callback. */
                assert_non_null(err->message);
                assert_int_equal(netd_client_error_copy(err, &r->err), 0);
        } else {
                r->result = json_incref(result);
        }
        if (r->free_client) {
                r->f->c = netd_client_free(c);
        }
}

static void rec_done(struct rec *r)
{
        json_decref(r->result);
        r->result = NULL;
        netd_client_error_done(&r->err);
}

/* Runs the client's blocking loop until *counter reaches want. */
static void drive_until(struct fake *f, const int *counter, int want)
{
        for (int i = 0; i < POLL_STEPS && *counter < want; i++) {
                if (f->base) {
                        struct pollfd pfd = { .fd = netd_client_fd(f->c), .events = POLLIN };

                        (void)poll(&pfd, 1, POLL_STEP_MS);
                        (void)event_base_loop(f->base, EVLOOP_NONBLOCK);
                } else {
                        assert_true(netd_client_wait(f->c, WAIT_TIMEOUT_MS) > 0);
                }
        }
        assert_int_equal(*counter, want);
}

static void assert_local_error(const struct netd_client_error *e, const char *data_code, int errnum)
{
        assert_int_equal(e->code, NETD_CLIENT_LOCAL_ERROR_CODE);
        assert_string_equal(e->data_code, data_code);
        assert_int_equal(e->errnum, errnum);
        assert_null(e->data);
        assert_non_null(e->message);
}

/* ---- Tests --------------------------------------------------------------------------------- */

static void restore_env(const char *name, char *saved)
{
        if (saved)
                setenv(name, saved, 1);
        else
                unsetenv(name);
        free(saved);
}

static void test_default_path(void **state)
{
        char *saved_sock = getenv("NETD_SOCKET") ? strdup(getenv("NETD_SOCKET")) : NULL;
        char *saved_xdg = getenv("XDG_RUNTIME_DIR") ? strdup(getenv("XDG_RUNTIME_DIR")) : NULL;
        struct netd_client *c = NULL;
        char *p = NULL;

        setenv("NETD_SOCKET", "/x/netd.sock", 1);
        setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
        assert_int_equal(netd_client_default_path(&p), 0);
        assert_string_equal(p, "/x/netd.sock");
        free(p);

        /* An empty NETD_SOCKET counts as unset. */
        setenv("NETD_SOCKET", "", 1);
        assert_int_equal(netd_client_default_path(&p), 0);
        assert_string_equal(p, geteuid() == 0 ? "/run/netd/netd.sock"
                                              : "/run/user/4242/netd/netd.sock");
        free(p);

        unsetenv("NETD_SOCKET");
        unsetenv("XDG_RUNTIME_DIR");
        assert_int_equal(netd_client_default_path(&p), 0);
        assert_string_equal(p, "/run/netd/netd.sock");
        free(p);

        /* connect(NULL) follows the default. */
        setenv("NETD_SOCKET", "/nonexistent-netd-dir/netd.sock", 1);
        assert_int_equal(netd_client_connect(NULL, &c), -ENOENT);
        assert_null(c);

        restore_env("NETD_SOCKET", saved_sock);
        restore_env("XDG_RUNTIME_DIR", saved_xdg);
}

static void test_connect_errors(void **state)
{
        char longpath[200];
        struct netd_client *c = NULL;

        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = 0;
        assert_int_equal(netd_client_connect(longpath, &c), -ENAMETOOLONG);
        assert_int_equal(netd_client_connect("", &c), -EINVAL);
        assert_int_equal(netd_client_connect("/nonexistent-netd-dir/x.sock", &c), -ENOENT);
        assert_null(c);
        assert_null(netd_client_free(NULL));
}

static void test_fd_flags(void **state)
{
        struct fake *f = *state;
        int fd = netd_client_fd(f->c);

        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_true(netd_client_is_connected(f->c));
        assert_false(netd_client_wants_write(f->c));
}

/* Three pipelined calls, answered out of order with events in between and unknown fields. */
static void test_out_of_order(void **state)
{
        struct fake *f = *state;
        struct rec a = { .f = f, .tag = "A" }, b = { .f = f, .tag = "B" },
                   c = { .f = f, .tag = "C" };
        json_int_t ida, idb, idc;
        json_t *params = NULL;
        char *raw = NULL;
        uint64_t h = 0;

        assert_int_equal(netd_client_net_create_server(f->c, NULL, rec_cb, &a), 0);
        assert_int_equal(netd_client_netd_info(f->c, rec_cb, &b), 0);
        assert_int_equal(netd_client_net_is_ip(f->c, "::1", rec_cb, &c), 0);
        assert_true(netd_client_wants_write(f->c));

        ida = fake_expect(f, "net.createServer", &params);
        assert_true(json_is_object(params) && json_object_size(params) == 0);
        json_decref(params);
        idb = fake_expect(f, "netd.info", NULL);
        json_decref(fake_read(f, &raw));
        /* Compact, one line, ids 1, 2, 3 in call order. */
        assert_string_equal(raw,
                            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"net.isIP\",\"params\":{"
                            "\"input\":\"::1\"}}");
        free(raw);
        idc = 3;
        assert_int_equal(ida, 1);
        assert_int_equal(idb, 2);
        assert_false(netd_client_wants_write(f->c));

        fake_send(f, "{\"jsonrpc\":\"2.0\",\"method\":\"socket.data\",\"params\":{\"socket\":9,"
                     "\"data\":\"aGk=\",\"encoding\":\"base64\",\"seq\":1},\"extra\":[1]}\n");
        fake_reply(f, idc, "6");
        fake_sendf(f, "{\"id\":%lld,\"jsonrpc\":\"2.0\",\"result\":{\"server\":3,\"new\":true}}\n",
                   (long long)ida);
        fake_send(f,
                  "{\"jsonrpc\":\"2.0\",\"method\":\"server.close\",\"params\":{\"server\":3}}\n");
        /* B's reply arrives in three pieces, the first one glued to nothing else. */
        fake_send(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"res");
        assert_int_equal(netd_client_process(f->c), 0);
        fake_send(f, "ult\":{\"version\":\"0.1.0\",");
        assert_int_equal(netd_client_process(f->c), 0);
        assert_int_equal(b.calls, 0);
        fake_send(f, "\"pid\":1}}\n");

        drive_until(f, &b.calls, 1);
        assert_string_equal(f->log, "ev:socket.data;C;A;ev:server.close;B;");
        assert_int_equal(a.calls, 1);
        assert_int_equal(c.calls, 1);
        assert_int_equal(f->events, 2);

        assert_int_equal(netd_client_get_handle(a.result, "server", &h), 0);
        assert_int_equal(h, 3);
        assert_int_equal(json_integer_value(c.result), 6);
        assert_string_equal(json_string_value(json_object_get(b.result, "version")), "0.1.0");
        assert_int_equal(netd_client_get_handle(f->last_params, "server", &h), 0);
        rec_done(&a);
        rec_done(&b);
        rec_done(&c);
}

/* A reply written one byte at a time, after blank lines and with "\r\n". */
static void test_split_every_byte(void **state)
{
        struct fake *f = *state;
        struct rec a = { .f = f, .tag = "A" };
        const char *line = "\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"socket\":12}}\r\n";
        char one[2] = { 0 };
        uint64_t h = 0;

        assert_int_equal(netd_client_net_create_connection(f->c, 80, "example.org", rec_cb, &a), 0);
        assert_int_equal(fake_expect(f, "net.createConnection", NULL), 1);
        for (size_t i = 0; line[i]; i++) {
                one[0] = line[i];
                fake_send(f, one);
                assert_int_equal(netd_client_process(f->c), 0);
                assert_int_equal(a.calls, line[i + 1] ? 0 : 1);
        }
        assert_int_equal(netd_client_get_handle(a.result, "socket", &h), 0);
        assert_int_equal(h, 12);
        rec_done(&a);
}

static void test_error_reply(void **state)
{
        struct fake *f = *state;
        struct rec a = { .f = f, .tag = "A" }, b = { .f = f, .tag = "B" };
        json_t *params = NULL;
        json_int_t id;

        assert_int_equal(netd_client_server_listen(f->c, 3, 8080, "127.0.0.1", 511, rec_cb, &a), 0);
        assert_int_equal(netd_client_call(f->c, "no.such", NULL, rec_cb, &b), 0);
        id = fake_expect(f, "server.listen", &params);
        assert_true(json_eq(params, json_pack("{s:i, s:i, s:s, s:i}", "server", 3, "port", 8080,
                                              "host", "127.0.0.1", "backlog", 511)));
        json_decref(params);
        fake_expect(f, "no.such", &params);
        assert_null(params); /* NULL params are left out */

        fake_sendf(f,
                   "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32000,\"message\":"
                   "\"listen EADDRINUSE: address already in use 127.0.0.1:8080\",\"data\":{"
                   "\"code\":\"EADDRINUSE\",\"errno\":-98,\"syscall\":\"listen\","
                   "\"address\":\"127.0.0.1\",\"port\":8080}}}\n",
                   (long long)id);
        fake_send(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32601,"
                     "\"message\":\"Method not found\"}}\n");
        drive_until(f, &b.calls, 1);
        assert_string_equal(f->log, "A;B;");

        assert_true(a.has_err);
        assert_null(a.result);
        assert_int_equal(a.err.code, -32000);
        assert_string_equal(a.err.message,
                            "listen EADDRINUSE: address already in use 127.0.0.1:8080");
        assert_string_equal(a.err.data_code, "EADDRINUSE");
        assert_int_equal(a.err.errnum, -98);
        assert_string_equal(json_string_value(json_object_get(a.err.data, "syscall")), "listen");

        assert_int_equal(b.err.code, -32601);
        assert_null(b.err.data_code);
        assert_int_equal(b.err.errnum, 0);
        assert_null(b.err.data);
        rec_done(&a);
        rec_done(&b);
}

/* Replies written before the blocking call runs: ids are 1, 2, 3, ... in call order. */
static void test_call_sync(void **state)
{
        struct fake *f = *state;
        struct netd_client_error err;
        json_t *result = NULL;

        fake_send(f, "{\"jsonrpc\":\"2.0\",\"method\":\"server.connection\",\"params\":{"
                     "\"server\":3,\"socket\":4}}\n");
        fake_reply(f, 1, "{\"version\":\"0.1.0\"}");
        assert_int_equal(netd_client_call_sync(f->c, "netd.info", json_object(), WAIT_TIMEOUT_MS,
                                               &result, &err),
                         0);
        assert_string_equal(f->log, "ev:server.connection;");
        assert_string_equal(json_string_value(json_object_get(result, "version")), "0.1.0");
        assert_null(err.message); /* zeroed on success */
        json_decref(result);
        fake_expect(f, "netd.info", NULL);

        fake_send(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32001,\"message\":"
                     "\"Listen method has been called more than once without closing.\","
                     "\"data\":{\"code\":\"ERR_SERVER_ALREADY_LISTEN\"}}}\n");
        result = NULL;
        assert_int_equal(netd_client_server_listen_sync(f->c, 3, 0, NULL, -1, WAIT_TIMEOUT_MS,
                                                        &result, &err),
                         -EREMOTEIO);
        assert_null(result);
        assert_int_equal(err.code, -32001);
        assert_string_equal(err.data_code, "ERR_SERVER_ALREADY_LISTEN");
        assert_int_equal(err.errnum, 0);
        netd_client_error_done(&err);
        assert_null(err.data_code);
        json_t *params = NULL;
        fake_expect(f, "server.listen", &params);
        assert_true(json_eq(params, json_pack("{s:i, s:i}", "server", 3, "port", 0)));
        json_decref(params);
}

static void test_typed_sync(void **state)
{
        struct fake *f = *state;
        const uint8_t bytes[] = { 0x00, 0x01, 0x02, 0xff };
        struct netd_client_error err;
        json_t *addr = NULL, *info = NULL, *params = NULL;
        uint64_t server = 0, sock = 0;
        int family = -1;
        bool yes = false, no = true;
        void *buf = NULL;
        size_t len = 0;

        /* Each reply is queued just before its call: ids are 1, 2, 3, ... in call order. */
        fake_reply(f, 1, "{\"server\":3}");
        assert_int_equal(netd_client_net_create_server_sync(f->c,
                                                            json_pack("{s:b}", "allowHalfOpen", 1),
                                                            WAIT_TIMEOUT_MS, &server, &err),
                         0);
        assert_int_equal(server, 3);
        fake_reply(f, 2, "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":4000}");
        assert_int_equal(netd_client_server_listen_sync(f->c, server, 4000, "127.0.0.1", -1,
                                                        WAIT_TIMEOUT_MS, &addr, &err),
                         0);
        assert_int_equal(json_integer_value(json_object_get(addr, "port")), 4000);
        json_decref(addr);
        fake_reply(f, 3, "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":4000}");
        assert_int_equal(
                netd_client_server_address_sync(f->c, server, WAIT_TIMEOUT_MS, &addr, &err), 0);
        assert_string_equal(json_string_value(json_object_get(addr, "family")), "IPv4");
        json_decref(addr);
        fake_reply(f, 4, "{\"socket\":9}");
        assert_int_equal(netd_client_net_create_connection_sync(f->c, 4000, "127.0.0.1",
                                                                WAIT_TIMEOUT_MS, &sock, &err),
                         0);
        assert_int_equal(sock, 9);
        fake_reply(f, 5, "true");
        assert_int_equal(netd_client_socket_write_sync(f->c, sock, bytes, sizeof(bytes),
                                                       WAIT_TIMEOUT_MS, &err),
                         0);
        fake_reply(f, 6, "true");
        assert_int_equal(netd_client_socket_end_sync(f->c, sock, WAIT_TIMEOUT_MS, &err), 0);
        fake_reply(f, 7, "true");
        assert_int_equal(netd_client_socket_destroy_sync(f->c, sock, WAIT_TIMEOUT_MS, &err), 0);
        fake_reply(f, 8, "true");
        assert_int_equal(netd_client_server_close_sync(f->c, server, WAIT_TIMEOUT_MS, &err), 0);
        fake_reply(f, 9, "{\"version\":\"0.1.0\",\"pid\":1}");
        assert_int_equal(netd_client_netd_info_sync(f->c, WAIT_TIMEOUT_MS, &info, &err), 0);
        assert_int_equal(json_integer_value(json_object_get(info, "pid")), 1);
        json_decref(info);
        fake_reply(f, 10, "4");
        assert_int_equal(
                netd_client_net_is_ip_sync(f->c, "1.2.3.4", WAIT_TIMEOUT_MS, &family, &err), 0);
        assert_int_equal(family, 4);
        fake_reply(f, 11, "true");
        assert_int_equal(netd_client_net_is_ipv4_sync(f->c, "1.2.3.4", WAIT_TIMEOUT_MS, &yes, &err),
                         0);
        assert_true(yes);
        fake_reply(f, 12, "false");
        assert_int_equal(netd_client_net_is_ipv6_sync(f->c, "1.2.3.4", WAIT_TIMEOUT_MS, &no, &err),
                         0);
        assert_false(no);
        fake_reply(f, 13, "{\"socket\":1}"); /* the wrong shape for createServer */
        assert_int_equal(
                netd_client_net_create_server_sync(f->c, NULL, WAIT_TIMEOUT_MS, &server, &err),
                -EBADMSG);
        assert_local_error(&err, NETD_CLIENT_ERR_PROTOCOL, -EBADMSG);
        netd_client_error_done(&err);

        /* What went on the wire. */
        fake_expect(f, "net.createServer", &params);
        assert_true(json_eq(params, json_pack("{s:b}", "allowHalfOpen", 1)));
        json_decref(params);
        fake_expect(f, "server.listen", &params);
        assert_true(json_eq(params, json_pack("{s:i, s:i, s:s}", "server", 3, "port", 4000, "host",
                                              "127.0.0.1")));
        json_decref(params);
        fake_expect(f, "server.address", &params);
        assert_true(json_eq(params, json_pack("{s:i}", "server", 3)));
        json_decref(params);
        fake_expect(f, "net.createConnection", &params);
        assert_true(json_eq(params, json_pack("{s:i, s:s}", "port", 4000, "host", "127.0.0.1")));
        json_decref(params);
        fake_expect(f, "socket.write", &params);
        assert_true(json_eq(params, json_pack("{s:i, s:s, s:s}", "socket", 9, "data",
                                              "AAEC/w==", "encoding", "base64")));
        /* The decoder reads it back. */
        assert_int_equal(netd_client_decode_data(params, &buf, &len), 0);
        assert_int_equal(len, sizeof(bytes));
        assert_memory_equal(buf, bytes, sizeof(bytes));
        free(buf);
        json_decref(params);
        fake_expect(f, "socket.end", &params);
        assert_true(json_eq(params, json_pack("{s:i}", "socket", 9)));
        json_decref(params);
        fake_expect(f, "socket.destroy", &params);
        assert_true(json_eq(params, json_pack("{s:i}", "socket", 9)));
        json_decref(params);
        fake_expect(f, "server.close", NULL);
        fake_expect(f, "netd.info", NULL);
        fake_expect(f, "net.isIP", &params);
        assert_true(json_eq(params, json_pack("{s:s}", "input", "1.2.3.4")));
        json_decref(params);
        fake_expect(f, "net.isIPv4", NULL);
        fake_expect(f, "net.isIPv6", NULL);
        fake_expect(f, "net.createServer", NULL);
}

struct sync_thread {
        int fd;
        bool ok;
        char why[128];
};

/* The fake daemon of test_sync_barrier, in its own thread: no cmocka asserts here. */
static void *sync_thread_main(void *arg)
{
        struct sync_thread *t = arg;
        char buf[4096];
        size_t len = 0;
        json_t *msg = NULL;
        char *nl = NULL;
        char out[512];

        for (int i = 0; i < POLL_STEPS && !nl; i++) {
                struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
                ssize_t n;

                if (poll(&pfd, 1, POLL_STEP_MS) <= 0)
                        continue;
                n = recv(t->fd, buf + len, sizeof(buf) - len - 1, 0);
                if (n <= 0)
                        break;
                len += (size_t)n;
                nl = memchr(buf, '\n', len);
        }
        if (!nl) {
                snprintf(t->why, sizeof(t->why), "no request");
                return NULL;
        }
        msg = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
        if (!msg || !json_is_integer(json_object_get(msg, "id")) ||
            strcmp(json_string_value(json_object_get(msg, "method")) ?: "", "netd.sync") != 0) {
                snprintf(t->why, sizeof(t->why), "not a netd.sync call");
                json_decref(msg);
                return NULL;
        }
        /* Events queued before the barrier's reply, as the daemon promises. */
        snprintf(out, sizeof(out),
                 "{\"jsonrpc\":\"2.0\",\"method\":\"socket.data\",\"params\":{\"socket\":9,"
                 "\"data\":\"eA==\"}}\n"
                 "{\"jsonrpc\":\"2.0\",\"method\":\"socket.close\",\"params\":{\"socket\":9,"
                 "\"hadError\":false}}\n"
                 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":true}\n",
                 (long long)json_integer_value(json_object_get(msg, "id")));
        json_decref(msg);
        if (send(t->fd, out, strlen(out), MSG_NOSIGNAL) != (ssize_t)strlen(out)) {
                snprintf(t->why, sizeof(t->why), "send failed");
                return NULL;
        }
        t->ok = true;
        return NULL;
}

static void test_sync_barrier(void **state)
{
        struct fake *f = *state;
        struct sync_thread t = { .fd = f->fd };
        pthread_t th;

        assert_int_equal(pthread_create(&th, NULL, sync_thread_main, &t), 0);
        assert_int_equal(netd_client_sync(f->c, WAIT_TIMEOUT_MS), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        if (!t.ok)
                fail_msg("fake daemon thread: %s", t.why);
        /* Every event sent before the barrier's reply was delivered before it returned. */
        assert_string_equal(f->log, "ev:socket.data;ev:socket.close;");
        assert_false(json_is_true(json_object_get(f->last_params, "hadError")));
}

static void test_wait_and_timeout(void **state)
{
        struct fake *f = *state;
        struct netd_client_error err;
        json_t *result = NULL;

        assert_int_equal(netd_client_wait(f->c, 0), 0);
        assert_int_equal(netd_client_wait(f->c, 20), 0);
        fake_send(f, "{\"jsonrpc\":\"2.0\",\"method\":\"socket.drain\",\"params\":{\"socket\":9}}\n"
                     "{\"jsonrpc\":\"2.0\",\"method\":\"socket.end\",\"params\":{\"socket\":9}}\n");
        assert_int_equal(netd_client_wait(f->c, WAIT_TIMEOUT_MS), 2);
        assert_string_equal(f->log, "ev:socket.drain;ev:socket.end;");

        /* No reply in time: -ETIMEDOUT, and the late reply is dropped harmlessly. */
        assert_int_equal(netd_client_call_sync(f->c, "netd.info", NULL, 30, &result, &err),
                         -ETIMEDOUT);
        assert_null(result);
        assert_local_error(&err, NETD_CLIENT_ERR_TIMEOUT, -ETIMEDOUT);
        netd_client_error_done(&err);
        fake_expect(f, "netd.info", NULL);
        fake_reply(f, 1, "{\"late\":true}");
        fake_reply(f, 2, "{\"onTime\":true}");
        assert_int_equal(
                netd_client_call_sync(f->c, "netd.info", NULL, WAIT_TIMEOUT_MS, &result, &err), 0);
        assert_true(json_is_true(json_object_get(result, "onTime")));
        json_decref(result);
}

/* The daemon answers one call, then goes away: the others fail locally, once each. */
static void test_disconnect_pending(void **state)
{
        struct fake *f = *state;
        struct rec r[3] = { { .f = f, .tag = "1" },
                            { .f = f, .tag = "2" },
                            { .f = f, .tag = "3" } };
        struct netd_client_error err;

        for (int i = 0; i < 3; i++)
                assert_int_equal(netd_client_netd_info(f->c, rec_cb, &r[i]), 0);
        for (int i = 0; i < 3; i++)
                fake_expect(f, "netd.info", NULL);
        fake_reply(f, 2, "{}");
        close(f->fd);
        f->fd = -1;

        assert_int_equal(netd_client_process(f->c), -ECONNRESET);
        assert_string_equal(f->log, "2;1;3;");
        for (int i = 0; i < 3; i++)
                assert_int_equal(r[i].calls, 1);
        assert_non_null(r[1].result);
        assert_local_error(&r[0].err, NETD_CLIENT_ERR_DISCONNECTED, -ECONNRESET);
        assert_local_error(&r[2].err, NETD_CLIENT_ERR_DISCONNECTED, -ECONNRESET);
        assert_int_equal(f->disconnects, 1);
        assert_int_equal(f->disconnect_error, -ECONNRESET);

        /* Dead from now on, and nothing is called again. */
        assert_false(netd_client_is_connected(f->c));
        assert_int_equal(netd_client_process(f->c), -ENOTCONN);
        assert_int_equal(netd_client_wait(f->c, 0), -ENOTCONN);
        assert_int_equal(netd_client_netd_info(f->c, rec_cb, &r[0]), -ENOTCONN);
        assert_int_equal(netd_client_notify(f->c, "socket.end", json_object()), -ENOTCONN);
        assert_int_equal(netd_client_call_sync(f->c, "netd.info", NULL, 0, NULL, &err), -ENOTCONN);
        assert_local_error(&err, NETD_CLIENT_ERR_DISCONNECTED, -ENOTCONN);
        f->c = netd_client_free(f->c);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(r[i].calls, 1);
                rec_done(&r[i]);
        }
        assert_int_equal(f->disconnects, 1);
}

/* A disconnect seen by the blocking loop also completes its call (locally). */
static void test_disconnect_during_sync(void **state)
{
        struct fake *f = *state;
        struct netd_client_error err;

        close(f->fd);
        f->fd = -1;
        assert_int_equal(
                netd_client_call_sync(f->c, "netd.info", NULL, WAIT_TIMEOUT_MS, NULL, &err),
                -ECONNRESET);
        assert_local_error(&err, NETD_CLIENT_ERR_DISCONNECTED, -ECONNRESET);
        assert_int_equal(f->disconnects, 1);
}

static void test_free_with_pending(void **state)
{
        struct fake *f = *state;
        struct rec a = { .f = f, .tag = "A" }, b = { .f = f, .tag = "B" };

        assert_int_equal(netd_client_socket_end(f->c, 5, rec_cb, &a), 0);
        assert_int_equal(netd_client_socket_destroy(f->c, 5, rec_cb, &b), 0);
        f->c = netd_client_free(f->c);
        assert_string_equal(f->log, "A;B;");
        assert_local_error(&a.err, NETD_CLIENT_ERR_DISCONNECTED, -ECANCELED);
        assert_local_error(&b.err, NETD_CLIENT_ERR_DISCONNECTED, -ECANCELED);
        assert_int_equal(f->disconnects, 0); /* freeing is not a disconnect */
        rec_done(&a);
        rec_done(&b);
}

/* A reply callback frees the client: the other call completes once, nothing else is dispatched. */
static void test_free_inside_callback(void **state)
{
        struct fake *f = *state;
        struct rec a = { .f = f, .tag = "A", .free_client = true }, b = { .f = f, .tag = "B" };

        assert_int_equal(netd_client_netd_info(f->c, rec_cb, &a), 0);
        assert_int_equal(netd_client_netd_info(f->c, rec_cb, &b), 0);
        fake_expect(f, "netd.info", NULL);
        fake_expect(f, "netd.info", NULL);
        fake_send(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n"
                     "{\"jsonrpc\":\"2.0\",\"method\":\"socket.end\",\"params\":{\"socket\":9}}\n"
                     "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n");
        assert_int_equal(netd_client_process(f->c), -ECANCELED);
        assert_null(f->c);
        assert_string_equal(f->log, "A;B;");
        assert_int_equal(f->events, 0);
        assert_local_error(&b.err, NETD_CLIENT_ERR_DISCONNECTED, -ECANCELED);
        rec_done(&a);
        rec_done(&b);
}

/* Sends line (then nothing) with one call pending; expects the connection to end with error. */
static void expect_protocol_error(struct fake *f, const char *line, int error)
{
        struct rec a = { .f = f, .tag = "A" };

        assert_int_equal(netd_client_netd_info(f->c, rec_cb, &a), 0);
        fake_expect(f, "netd.info", NULL);
        fake_send(f, line);
        assert_int_equal(netd_client_process(f->c), error);
        assert_int_equal(a.calls, 1);
        assert_local_error(&a.err, NETD_CLIENT_ERR_PROTOCOL, error);
        assert_int_equal(f->disconnects, 1);
        assert_int_equal(f->disconnect_error, error);
        rec_done(&a);
}

static void test_bad_json(void **state)
{
        expect_protocol_error(*state, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\n", -EPROTO);
}

static void test_bad_envelope(void **state)
{
        expect_protocol_error(*state, "{\"id\":1,\"result\":true}\n", -EPROTO);
}

static void test_bad_reply_shape(void **state)
{
        expect_protocol_error(
                *state, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"x\"}}\n", -EPROTO);
}

static void test_not_an_object(void **state)
{
        expect_protocol_error(*state, "[1,2]\n", -EPROTO);
}

/* A line past 64 MiB is refused before it completes, and ends the connection. */
static void test_oversize_line(void **state)
{
        struct fake *f = *state;
        struct rec a = { .f = f, .tag = "A" };
        const size_t chunk = 1024 * 1024;
        char *junk = malloc(chunk);
        size_t sent = 0;
        int r = 0;

        assert_non_null(junk);
        memset(junk, 'x', chunk);
        assert_int_equal(netd_client_netd_info(f->c, rec_cb, &a), 0);
        fake_expect(f, "netd.info", NULL);
        assert_int_equal(fcntl(f->fd, F_SETFL, O_NONBLOCK), 0);
        for (int i = 0; i < 100000 && r == 0; i++) {
                ssize_t n = send(f->fd, junk, chunk, MSG_NOSIGNAL);

                if (n > 0)
                        sent += (size_t)n;
                else
                        assert_true(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
                r = netd_client_process(f->c);
        }
        free(junk);
        assert_int_equal(r, -EMSGSIZE);
        assert_true(sent > NETD_CLIENT_LINE_MAX_BYTES);
        assert_int_equal(a.calls, 1);
        assert_local_error(&a.err, NETD_CLIENT_ERR_PROTOCOL, -EMSGSIZE);
        assert_int_equal(f->disconnect_error, -EMSGSIZE);
        rec_done(&a);
}

/* A write bigger than the socket buffer leaves output queued until the peer reads it. */
static void test_large_write(void **state)
{
        struct fake *f = *state;
        const size_t len = 3 * 1024 * 1024;
        uint8_t *data = malloc(len);
        json_t *params = NULL;
        void *buf = NULL;
        size_t n = 0;

        assert_non_null(data);
        for (size_t i = 0; i < len; i++)
                data[i] = (uint8_t)(i * 7 + (i >> 9));
        assert_int_equal(netd_client_socket_write(f->c, 9, data, len, NULL, NULL), 0);
        assert_int_equal(netd_client_process(f->c), 0);
        assert_true(netd_client_wants_write(f->c));
        fake_expect(f, "socket.write", &params);
        assert_false(netd_client_wants_write(f->c));
        assert_int_equal(netd_client_decode_data(params, &buf, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(buf, data, len);
        free(buf);
        free(data);
        json_decref(params);
        /* A call without callback: the reply is dropped. */
        fake_reply(f, 1, "true");
        assert_int_equal(netd_client_wait(f->c, WAIT_TIMEOUT_MS), 1);
}

/*
 * socket.write goes out in the compact shape the daemon's fast path reads
 * (the compact shape), built without a JSON tree; an empty write too.
 */
static void test_write_line_shape(void **state)
{
        struct fake *f = *state;
        char *raw = NULL;
        json_t *msg;

        assert_int_equal(netd_client_socket_write(f->c, 9, "abcd", 4, NULL, NULL), 0);
        assert_int_equal(netd_client_socket_write(f->c, 12345678901234ULL, NULL, 0, NULL, NULL), 0);
        assert_int_equal(netd_client_socket_write(f->c, 0, "x", 1, NULL, NULL), -EINVAL);
        assert_int_equal(netd_client_socket_write(f->c, 9, NULL, 1, NULL, NULL), -EINVAL);
        /* Text is JSON-escaped on the way, the encoding name too. */
        assert_int_equal(netd_client_socket_write_string(f->c, 9, "q\"b\\s\n\x01\xc3\xa9\x7f",
                                                         "u\"tf8", NULL, NULL),
                         0);
        assert_int_equal(netd_client_process(f->c), 0);
        msg = fake_read(f, &raw);
        assert_string_equal(raw, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"socket.write\","
                                 "\"params\":{\"socket\":9,\"encoding\":\"base64\","
                                 "\"data\":\"YWJjZA==\"}}");
        json_decref(msg);
        free(raw);
        msg = fake_read(f, &raw);
        assert_string_equal(raw, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"socket.write\","
                                 "\"params\":{\"socket\":12345678901234,\"encoding\":\"base64\","
                                 "\"data\":\"\"}}");
        json_decref(msg);
        free(raw);
        msg = fake_read(f, NULL);
        assert_true(json_eq(json_object_get(msg, "params"),
                            json_pack("{s:i, s:s, s:s}", "socket", 9, "data",
                                      "q\"b\\s\n\x01\xc3\xa9\x7f", "encoding", "u\"tf8")));
        json_decref(msg);
}

static void test_notify_and_bad_args(void **state)
{
        struct fake *f = *state;
        struct netd_client_error err;
        json_t *msg;
        uint64_t h = 0;

        assert_int_equal(netd_client_notify(f->c, "socket.write",
                                            json_pack("{s:i, s:s}", "socket", 9, "data", "hi")),
                         0);
        msg = fake_read(f, NULL);
        assert_null(json_object_get(msg, "id"));
        assert_string_equal(json_string_value(json_object_get(msg, "method")), "socket.write");
        json_decref(msg);

        /* Refused arguments; params are still stolen (LeakSanitizer checks). */
        assert_int_equal(netd_client_call(f->c, NULL, json_object(), NULL, NULL), -EINVAL);
        assert_int_equal(netd_client_call(f->c, "", NULL, NULL, NULL), -EINVAL);
        assert_int_equal(netd_client_call(f->c, "x", json_integer(1), NULL, NULL), -EINVAL);
        assert_int_equal(netd_client_call(f->c, "\xff", json_object(), NULL, NULL), -EINVAL);
        assert_int_equal(netd_client_notify(f->c, "x", json_string("y")), -EINVAL);
        assert_int_equal(netd_client_socket_write_string(f->c, 9, "\xc3(", NULL, NULL, NULL),
                         -EINVAL);
        assert_int_equal(netd_client_server_listen(f->c, 3, 65536, NULL, -1, NULL, NULL), -EINVAL);
        assert_int_equal(netd_client_server_listen(f->c, 0, 80, NULL, -1, NULL, NULL), -EINVAL);
        assert_int_equal(netd_client_socket_end(f->c, UINT64_MAX, NULL, NULL), -EINVAL);
        assert_int_equal(netd_client_net_create_connection(f->c, -1, NULL, NULL, NULL), -EINVAL);
        assert_int_equal(netd_client_net_create_server(f->c, json_array(), NULL, NULL), -EINVAL);
        assert_int_equal(netd_client_net_is_ip(f->c, NULL, NULL, NULL), -EINVAL);
        assert_int_equal(netd_client_net_create_server_sync(f->c, json_integer(1), 0, &h, &err),
                         -EINVAL);
        assert_local_error(&err, "ERR_INVALID_ARG_VALUE", -EINVAL);
        assert_false(netd_client_wants_write(f->c)); /* nothing was queued */

        /* The string form, with an encoding, and listen(path). */
        assert_int_equal(netd_client_socket_write_string(f->c, 9, "caf\xc3\xa9", NULL, NULL, NULL),
                         0);
        assert_int_equal(netd_client_socket_write_string(f->c, 9, "00ff", "hex", NULL, NULL), 0);
        assert_int_equal(netd_client_server_listen_path(f->c, 3, "/run/x.sock", NULL, NULL), 0);
        assert_int_equal(netd_client_netd_sync(f->c, NULL, NULL), 0);
        assert_int_equal(netd_client_server_close(f->c, 3, NULL, NULL), 0);
        assert_int_equal(netd_client_server_address(f->c, 3, NULL, NULL), 0);
        assert_int_equal(netd_client_net_is_ipv4(f->c, "x", NULL, NULL), 0);
        assert_int_equal(netd_client_net_is_ipv6(f->c, "x", NULL, NULL), 0);
        msg = fake_read(f, NULL);
        assert_true(json_eq(json_object_get(msg, "params"),
                            json_pack("{s:i, s:s, s:s}", "socket", 9, "data", "caf\xc3\xa9",
                                      "encoding", "utf8")));
        json_decref(msg);
        msg = fake_read(f, NULL);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(msg, "params"), "encoding")),
                "hex");
        json_decref(msg);
        msg = fake_read(f, NULL);
        assert_true(json_eq(json_object_get(msg, "params"),
                            json_pack("{s:i, s:s}", "server", 3, "path", "/run/x.sock")));
        json_decref(msg);
        fake_expect(f, "netd.sync", NULL);
        fake_expect(f, "server.close", NULL);
        fake_expect(f, "server.address", NULL);
        fake_expect(f, "net.isIPv4", NULL);
        fake_expect(f, "net.isIPv6", NULL);

        /* Handle ids in results. */
        msg = json_pack("{s:i, s:i, s:s, s:f}", "ok", 7, "zero", 0, "str", "x", "real", 1.0);
        assert_int_equal(netd_client_get_handle(msg, "ok", &h), 0);
        assert_int_equal(h, 7);
        assert_int_equal(netd_client_get_handle(msg, "zero", &h), -EBADMSG);
        assert_int_equal(netd_client_get_handle(msg, "str", &h), -EBADMSG);
        assert_int_equal(netd_client_get_handle(msg, "real", &h), -EBADMSG);
        assert_int_equal(netd_client_get_handle(msg, "none", &h), -ENOENT);
        assert_int_equal(netd_client_get_handle(NULL, "ok", &h), -ENOENT);
        json_decref(msg);
}

static void check_decode(const char *params_json, int want_r, const void *want, size_t want_len)
{
        json_t *params = json_loads(params_json, JSON_ALLOW_NUL, NULL);
        void *buf = NULL;
        size_t len = 0;

        assert_non_null(params);
        assert_int_equal(netd_client_decode_data(params, &buf, &len), want_r);
        if (want_r == 0) {
                assert_int_equal(len, want_len);
                assert_memory_equal(buf, want, want_len);
                assert_int_equal(((char *)buf)[len], 0);
        }
        free(buf);
        json_decref(params);
}

static void test_decode_data(void **state)
{
        check_decode("{\"socket\":1,\"data\":\"aGVsbG8=\"}", 0, "hello", 5);
        check_decode("{\"data\":\"aGVsbG8=\",\"encoding\":\"base64\"}", 0, "hello", 5);
        check_decode("{\"data\":\"_-8\",\"encoding\":\"base64url\"}", 0, "\xff\xef", 2);
        check_decode("{\"data\":\"\",\"encoding\":null}", 0, "", 0);
        check_decode("{\"data\":\"00ff41\",\"encoding\":\"hex\"}", 0, "\x00\xff\x41", 3);
        check_decode("{\"data\":\"a\\u0000b\\u00e9\",\"encoding\":\"utf8\"}", 0, "a\0b\xc3\xa9", 5);
        check_decode("{\"data\":\"\\u00ff\",\"encoding\":\"latin1\"}", 0, "\xff", 1);
        check_decode("{\"data\":\"A\\ud83d\\ude00\",\"encoding\":\"UTF16LE\"}", 0,
                     "A\x00\x3d\xd8\x00\xde", 6);
        check_decode("{\"data\":\"aGVsbG8\",\"encoding\":\"base64\"}", 0, "hello", 5);
        check_decode("{\"data\":\"a*==\"}", -EINVAL, NULL, 0);
        check_decode("{\"data\":\"abc\",\"encoding\":\"hex\"}", -EINVAL, NULL, 0);
        check_decode("{\"data\":\"\\u0100\",\"encoding\":\"latin1\"}", -EINVAL, NULL, 0);
        check_decode("{\"data\":\"x\",\"encoding\":\"ebcdic\"}", -EOPNOTSUPP, NULL, 0);
        check_decode("{\"data\":\"x\",\"encoding\":7}", -EINVAL, NULL, 0);
        check_decode("{\"data\":7}", -EINVAL, NULL, 0);
        check_decode("{\"socket\":1}", -EINVAL, NULL, 0);
}

/* libevent drives the client; the disconnect callback frees it from inside the loop. */
static void test_event_base(void **state)
{
        struct fake *f = *state;
        struct rec a = { .f = f, .tag = "A" };
        json_int_t id;

        f->base = event_base_new();
        assert_non_null(f->base);
        assert_int_equal(netd_client_attach_event_base(f->c, f->base), 0);
        assert_int_equal(netd_client_attach_event_base(f->c, f->base), -EBUSY);

        assert_int_equal(netd_client_net_is_ipv6(f->c, "::1", rec_cb, &a), 0);
        id = fake_expect(f, "net.isIPv6", NULL); /* sent by the loop's write event */
        fake_send(f, "{\"jsonrpc\":\"2.0\",\"method\":\"server.listening\",\"params\":{\"server\":"
                     "1}}\n");
        fake_reply(f, id, "true");
        drive_until(f, &a.calls, 1);
        assert_string_equal(f->log, "ev:server.listening;A;");
        assert_true(json_is_true(a.result));

        f->free_on_disconnect = true;
        close(f->fd);
        f->fd = -1;
        drive_until(f, &f->disconnects, 1);
        assert_null(f->c);
        assert_int_equal(f->disconnect_error, -ECONNRESET);
        /* Nothing of the client is left in the base. */
        assert_int_equal(event_base_get_num_events(f->base, EVENT_BASE_COUNT_ADDED), 0);
        rec_done(&a);
}

static void test_event_base_detach(void **state)
{
        struct fake *f = *state;

        f->base = event_base_new();
        assert_non_null(f->base);
        assert_int_equal(netd_client_attach_event_base(f->c, f->base), 0);
        assert_true(event_base_get_num_events(f->base, EVENT_BASE_COUNT_ADDED) >= 1);
        assert_int_equal(netd_client_detach_event_base(f->c), 0);
        assert_int_equal(event_base_get_num_events(f->base, EVENT_BASE_COUNT_ADDED), 0);
        assert_int_equal(netd_client_attach_event_base(f->c, f->base), 0);
        /* Freed while attached (teardown) with the base still alive. */
}

/* ---- Descriptors (socket.attach, server.connection with "fd") ------------------------------ */

/* Sends s, its first fd_bytes bytes in one sendmsg() with fd attached (SCM_RIGHTS). */
static void fake_send_fd(struct fake *f, const char *s, size_t fd_bytes, int fd)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec iov = { .iov_base = (void *)s, .iov_len = fd_bytes };
        struct msghdr msg = { .msg_iov = &iov,
                              .msg_iovlen = 1,
                              .msg_control = control.buf,
                              .msg_controllen = sizeof(control.buf) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

        memset(control.buf, 0, sizeof(control.buf));
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        assert_int_equal(sendmsg(f->fd, &msg, MSG_NOSIGNAL), (ssize_t)fd_bytes);
        fake_send(f, s + fd_bytes);
}

static int count_open_fds(void)
{
        char path[64];
        int n = 0;

        for (int fd = 0; fd < 1024; fd++) {
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                if (access(path, F_OK) == 0)
                        n++;
        }
        return n;
}

/* The other end of a pair whose first end was passed: is it closed (EOF right away)? */
static bool peer_closed(int fd)
{
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        char b;

        return poll(&pfd, 1, 0) == 1 && recv(fd, &b, 1, MSG_DONTWAIT) == 0;
}

/* A socketpair end travels through the reply: usable, close-on-exec, the call's own. */
static void test_attach_sync(void **state)
{
        struct fake *f = *state;
        struct netd_client_error err;
        json_t *msg, *params;
        char b[8];
        int pair[2], fd, before;

        before = count_open_fds();
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
        /* Ids go 1, 2, ... so the reply can be in the socket before the call. An event first,
         * in the same read, then the reply with the descriptor on its first byte. */
        fake_send(f, "{\"jsonrpc\":\"2.0\",\"method\":\"socket.data\",\"params\":{\"socket\":7,"
                     "\"data\":\"aGk=\"}}\n");
        fake_send_fd(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"fd\":0}}\n", 1, pair[0]);
        close(pair[0]);
        fd = netd_client_socket_attach_sync(f->c, 7, WAIT_TIMEOUT_MS, &err);
        assert_true(fd >= 0);
        assert_string_equal(f->log, "ev:socket.data;");
        assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        msg = fake_read(f, NULL);
        assert_string_equal(json_string_value(json_object_get(msg, "method")), "socket.attach");
        params = json_object_get(msg, "params");
        assert_true(json_eq(params, json_pack("{s:i}", "socket", 7)));
        json_decref(msg);
        /* Both ways through the pair. */
        assert_int_equal(write(fd, "up", 2), 2);
        assert_int_equal(read(pair[1], b, sizeof(b)), 2);
        assert_memory_equal(b, "up", 2);
        assert_int_equal(write(pair[1], "down", 4), 4);
        assert_int_equal(read(fd, b, sizeof(b)), 4);
        assert_memory_equal(b, "down", 4);
        close(fd);
        close(pair[1]);
        assert_int_equal(count_open_fds(), before);
}

static void attach_cb(struct netd_client *c, json_t *result, const struct netd_client_error *err,
                      void *userdata)
{
        int *fd = userdata;

        assert_null(err);
        assert_int_equal(json_integer_value(json_object_get(result, "fd")), 0);
        *fd = netd_client_take_fd(c, 0);
        assert_true(*fd >= 0);
}

/* The asynchronous form: the reply callback takes the descriptor (on the event base here). */
static void test_attach_async(void **state)
{
        struct fake *f = *state;
        int pair[2], fd = -1, before;
        json_int_t id;
        char b[4];

        f->base = event_base_new();
        assert_non_null(f->base);
        assert_int_equal(netd_client_attach_event_base(f->c, f->base), 0);
        before = count_open_fds();
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
        assert_int_equal(netd_client_socket_attach(f->c, 9, attach_cb, &fd), 0);
        id = fake_expect(f, "socket.attach", NULL);
        {
                char line[128];

                snprintf(line, sizeof(line),
                         "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"fd\":0}}\n",
                         (long long)id);
                fake_send_fd(f, line, 3, pair[0]);
        }
        close(pair[0]);
        for (int i = 0; i < POLL_STEPS && fd < 0; i++) {
                struct pollfd pfd = { .fd = netd_client_fd(f->c), .events = POLLIN };

                (void)poll(&pfd, 1, POLL_STEP_MS);
                (void)event_base_loop(f->base, EVLOOP_NONBLOCK);
        }
        assert_true(fd >= 0);
        assert_int_equal(write(pair[1], "ok", 2), 2);
        assert_int_equal(read(fd, b, sizeof(b)), 2);
        close(fd);
        close(pair[1]);
        assert_int_equal(count_open_fds(), before);
}

/* An error reply, and a reply without its descriptor, leave nothing open. */
static void test_attach_errors(void **state)
{
        struct fake *f = *state;
        struct netd_client_error err;
        int before = count_open_fds();

        fake_send(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,\"message\":"
                     "\"Method not found\"}}\n");
        assert_int_equal(netd_client_socket_attach_sync(f->c, 7, WAIT_TIMEOUT_MS, &err),
                         -EREMOTEIO);
        assert_int_equal(err.code, -32601);
        netd_client_error_done(&err);

        fake_reply(f, 2, "{\"fd\":0}");
        assert_int_equal(netd_client_socket_attach_sync(f->c, 7, WAIT_TIMEOUT_MS, &err), -EBADMSG);
        assert_string_equal(err.data_code, NETD_CLIENT_ERR_PROTOCOL);
        netd_client_error_done(&err);

        assert_int_equal(netd_client_socket_attach_sync(f->c, 0, WAIT_TIMEOUT_MS, &err), -EINVAL);
        netd_client_error_done(&err);
        assert_int_equal(netd_client_take_fd(f->c, 0), -EBADF); /* no callback running */
        assert_int_equal(count_open_fds(), before);
}

struct conn_rec {
        int calls;
        int fds[8]; /* taken from each event (-EBADF: none), in order */
        bool take;
        int again; /* a second take of the same index */
};

static void conn_event_cb(struct netd_client *c, const char *method, json_t *params, void *userdata)
{
        struct conn_rec *r = userdata;

        r->calls++;
        if (!r->take || r->calls > 8)
                return;
        r->fds[r->calls - 1] = netd_client_take_fd(c, 0);
        r->again = netd_client_take_fd(c, 0);
}

/*
 * server.connection events with their descriptors, split and packed every
 * way a stream may deliver them: each event gets its own, a descriptor not
 * taken is closed, a descriptor on a line that names none is closed, and a
 * line that names one but came without gets none.
 */
static void test_connection_fds(void **state)
{
        static const char ev[] = "{\"jsonrpc\":\"2.0\",\"method\":\"server.connection\","
                                 "\"params\":{\"server\":1,\"socket\":%d,\"fd\":0}}\n";
        struct fake *f = *state;
        struct conn_rec r = { .take = true };
        int a[2], b[2], x[2], before = count_open_fds();
        char line[256], two[512];
        char ch;

        assert_int_equal(netd_client_on_event(f->c, conn_event_cb, &r), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x), 0);

        /* Two events back to back, each with its descriptor on its whole line. */
        snprintf(line, sizeof(line), ev, 2);
        fake_send_fd(f, line, strlen(line), a[0]);
        snprintf(line, sizeof(line), ev, 3);
        fake_send_fd(f, line, strlen(line), b[0]);
        close(a[0]);
        close(b[0]);
        while (r.calls < 2)
                assert_true(netd_client_wait(f->c, WAIT_TIMEOUT_MS) > 0);
        assert_int_equal(r.calls, 2);
        assert_true(r.fds[0] >= 0 && r.fds[1] >= 0);
        assert_int_equal(r.again, -EBADF);
        assert_int_equal(write(a[1], "A", 1), 1);
        assert_int_equal(write(b[1], "B", 1), 1);
        assert_int_equal(read(r.fds[0], &ch, 1), 1);
        assert_int_equal(ch, 'A');
        assert_int_equal(read(r.fds[1], &ch, 1), 1);
        assert_int_equal(ch, 'B');
        close(r.fds[0]);
        close(r.fds[1]);

        /* Not taken by the callback: closed once it returns. */
        r.take = false;
        snprintf(line, sizeof(line), ev, 4);
        fake_send_fd(f, line, 1, x[0]);
        close(x[0]);
        drive_until(f, &r.calls, 3);
        assert_true(peer_closed(x[1]));
        close(x[1]);

        /* A descriptor with a line that names none, then a line naming one without it. */
        r.take = true;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x), 0);
        snprintf(two, sizeof(two),
                 "{\"jsonrpc\":\"2.0\",\"method\":\"socket.end\",\"params\":{\"socket\":2}}\n");
        snprintf(line, sizeof(line), ev, 5);
        fake_send_fd(f, two, strlen(two), x[0]);
        fake_send(f, line);
        close(x[0]);
        while (r.calls < 5)
                assert_true(netd_client_wait(f->c, WAIT_TIMEOUT_MS) > 0);
        assert_int_equal(r.calls, 5);
        assert_int_equal(r.fds[4], -EBADF);
        assert_true(peer_closed(x[1]));
        close(x[1]);
        close(a[1]);
        close(b[1]);
        assert_int_equal(count_open_fds(), before);
}

/* Descriptors that arrived with lines not yet complete are closed when the client is freed. */
static void test_fds_closed_on_free(void **state)
{
        struct fake *f = *state;
        int x[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x), 0);
        fake_send_fd(f, "{\"jsonrpc\":\"2.0\",\"method\":\"server.conn", 5, x[0]);
        close(x[0]);
        assert_int_equal(netd_client_process(f->c), 0);
        assert_false(peer_closed(x[1]));
        f->c = netd_client_free(f->c);
        assert_true(peer_closed(x[1]));
        close(x[1]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default_path),
                cmocka_unit_test(test_connect_errors),
                cmocka_unit_test(test_decode_data),
                cmocka_unit_test_setup_teardown(test_fd_flags, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_out_of_order, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_split_every_byte, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_error_reply, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_call_sync, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_typed_sync, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_sync_barrier, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_wait_and_timeout, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_disconnect_pending, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_disconnect_during_sync, fake_setup,
                                                fake_teardown),
                cmocka_unit_test_setup_teardown(test_free_with_pending, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_free_inside_callback, fake_setup,
                                                fake_teardown),
                cmocka_unit_test_setup_teardown(test_bad_json, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_bad_envelope, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_bad_reply_shape, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_not_an_object, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_oversize_line, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_write_line_shape, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_large_write, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_notify_and_bad_args, fake_setup,
                                                fake_teardown),
                cmocka_unit_test_setup_teardown(test_event_base, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_event_base_detach, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_attach_sync, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_attach_errors, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_attach_async, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_connection_fds, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_fds_closed_on_free, fake_setup, fake_teardown),
        };

        return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
