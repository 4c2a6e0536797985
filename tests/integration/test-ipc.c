/*
 * Integration: UNIX-domain (IPC) servers and sockets, the IPC part of issue 3
 * ("every part of the net API, with Node's semantics"). A netd IPC server and
 * a netd IPC client exchanging data (addresses null, as Node leaves them
 * undefined), server.drop on IPC; listen on a relative path (resolved against
 * the client's working directory, read by netd through the peer's pidfd), on an
 * abstract name (the address keeps its leading NUL; plain clients connect with
 * an address length covering exactly the name), readableAll/writableAll (the
 * file's mode), readableAll with an abstract name (Node's -32602), EADDRINUSE
 * on an existing file or socket file (never removed), the file unlinked on
 * close; connect to a missing path (ENOENT, address = path, no port).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "netd-test.h"

/* ---- Helpers ------------------------------------------------------------------------------- */

/* server.listen {server, path (len bytes, may hold NUL), extra (stolen, may be NULL)}. */
static json_t *listen_path_params(uint64_t srv, const char *path, size_t len, json_t *extra)
{
        json_t *params = netd_test_handle_params("server", srv, extra);

        json_object_set_new(params, "path", json_stringn(path, len));
        return params;
}

/* Listens on path and asserts the result is exactly want (want_len bytes). */
static void listen_path_ok(struct netd_test_client *tc, uint64_t srv, const char *path, size_t len,
                           json_t *extra, const char *want, size_t want_len)
{
        json_t *res =
                netd_test_call(tc, "server.listen", listen_path_params(srv, path, len, extra));

        assert_true(json_is_string(res));
        if (json_string_length(res) != want_len ||
            memcmp(json_string_value(res), want, want_len) != 0)
                fail_msg("server.listen result \"%s\", expected \"%s\"", json_string_value(res),
                         want);
        json_decref(res);
        res = netd_test_call(tc, "server.address", netd_test_handle_params("server", srv, NULL));
        assert_true(json_is_string(res));
        assert_int_equal(json_string_length(res), want_len);
        assert_memory_equal(json_string_value(res), want, want_len);
        json_decref(res);
}

static uint64_t connect_path(struct netd_test_client *tc, const char *path, size_t len)
{
        json_t *params = json_object(), *res;
        uint64_t id = 0;

        json_object_set_new(params, "path", json_stringn(path, len));
        res = netd_test_call(tc, "net.connect", params);
        assert_int_equal(netd_client_get_handle(res, "socket", &id), 0);
        json_decref(res);
        return id;
}

/* A plain AF_UNIX connect from the test (addrlen covers exactly the name), non-blocking after. */
static int unix_connect(const char *path, size_t len)
{
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_true(len <= sizeof(sun.sun_path));
        memcpy(sun.sun_path, path, len);
        if (connect(fd, (struct sockaddr *)&sun,
                    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
                fail_msg("connect to the UNIX socket: %s", strerror(errno));
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        return fd;
}

static void assert_address_fields_null(json_t *params)
{
        static const char *const keys[] = { "remoteAddress", "remotePort", "remoteFamily",
                                            "localAddress", "localPort" };

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                json_t *v = json_object_get(params, keys[i]);

                if (!json_is_null(v))
                        fail_msg("%s is not null in %s", keys[i], json_dumps(params, JSON_COMPACT));
        }
}

static mode_t file_mode(const char *path)
{
        struct stat st;

        if (stat(path, &st) < 0)
                fail_msg("stat %s: %s", path, strerror(errno));
        assert_true(S_ISSOCK(st.st_mode));
        return st.st_mode & 07777;
}

static bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

/* ---- Tests --------------------------------------------------------------------------------- */

/* A netd IPC server and a netd IPC client exchange data both ways, then end. */
static void test_ipc_exchange(struct netd_test_daemon *t)
{
        static const char ping[] = "ping over a UNIX socket";
        struct netd_test_client *a = netd_test_connect(t);
        uint64_t srv, cs, ss;
        char path[128];
        json_t *conn, *g, *res;

        snprintf(path, sizeof(path), "%s/app.sock", t->dir);
        srv = netd_test_create_server(a, NULL);
        listen_path_ok(a, srv, path, strlen(path), NULL, path, strlen(path));
        cs = connect_path(a, path, strlen(path));
        conn = netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        assert_address_fields_null(conn);
        ss = netd_test_conn_socket(conn);
        (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);
        netd_test_exchange(t, a, cs, ping, sizeof(ping) - 1, a, ss, ping, sizeof(ping) - 1,
                           NETD_TEST_TIMEOUT_MS);
        for (int i = 0; i < 2; i++) {
                g = netd_test_call(a, "socket.get",
                                   netd_test_handle_params("socket", i ? ss : cs, NULL));
                assert_true(json_is_null(json_object_get(g, "remoteAddress")));
                assert_true(json_is_null(json_object_get(g, "remotePort")));
                assert_true(json_is_null(json_object_get(g, "localAddress")));
                assert_true(json_is_null(json_object_get(g, "localPort")));
                assert_int_equal(netd_test_int_at(g, "bytesRead"), sizeof(ping) - 1);
                assert_int_equal(netd_test_int_at(g, "bytesWritten"), sizeof(ping) - 1);
                netd_test_assert_str(g, "readyState", "open");
                json_decref(g);
        }
        g = netd_test_call(a, "socket.get", netd_test_handle_params("socket", ss, NULL));
        assert_int_equal(netd_test_int_at(g, "server"), (json_int_t)srv);
        json_decref(g);
        res = netd_test_call(a, "server.getConnections",
                             netd_test_handle_params("server", srv, NULL));
        assert_int_equal(json_integer_value(res), 1);
        json_decref(res);

        /* resetAndDestroy has no meaning on a UNIX socket: Node throws, the socket stays. */
        json_decref(netd_test_call_fail(a, "socket.resetAndDestroy",
                                        netd_test_handle_params("socket", cs, NULL), -32001,
                                        "ERR_INVALID_HANDLE_TYPE"));
        g = netd_test_call(a, "socket.get", netd_test_handle_params("socket", cs, NULL));
        netd_test_assert_str(g, "readyState", "open");
        json_decref(g);

        /* A half-close from the client ends both (allowHalfOpen false). */
        res = netd_test_call(a, "socket.end", netd_test_handle_params("socket", cs, NULL));
        json_decref(res);
        (void)netd_test_wait_event(a, "socket.close", cs, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(a, "socket.close", ss, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_trace(a, cs, "connect ready data+ end close");
        netd_test_assert_trace(a, ss, "data+ end close");

        /* Over maxConnections: server.drop with null addresses; the client sees end. */
        res = netd_test_call(
                a, "server.set",
                json_pack("{s:I,s:i}", "server", (json_int_t)srv, "maxConnections", 0));
        json_decref(res);
        cs = connect_path(a, path, strlen(path));
        (void)netd_test_wait_event(a, "socket.close", cs, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_trace(a, cs, "connect ready end close");
        {
                json_t *drop = netd_test_wait_event(a, "server.drop", srv, NETD_TEST_TIMEOUT_MS);

                assert_true(json_is_null(json_object_get(drop, "localAddress")));
                assert_true(json_is_null(json_object_get(drop, "localPort")));
                assert_true(json_is_null(json_object_get(drop, "remoteAddress")));
                assert_true(json_is_null(json_object_get(drop, "remotePort")));
        }

        res = netd_test_call(a, "server.close", netd_test_handle_params("server", srv, NULL));
        json_decref(res);
        assert_false(exists(path));
        netd_test_assert_trace(a, srv, "listening connection drop close");
}

/* A relative path is resolved against the client's working directory. */
static void test_ipc_relative_path(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        char real_dir[PATH_MAX], want[PATH_MAX + 16];
        uint64_t srv, cs;
        json_t *conn;

        assert_non_null(realpath(t->dir, real_dir));
        snprintf(want, sizeof(want), "%s/rel.sock", real_dir);
        /* netd reads the peer process's cwd (through its pidfd) when the path is used. */
        assert_int_equal(chdir(t->dir), 0);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        listen_path_ok(a, srv, "rel.sock", 8, NULL, want, strlen(want));
        assert_int_equal(file_mode(want) & 0600, 0600);
        /* The client connects with the relative name too. */
        cs = connect_path(a, "rel.sock", 8);
        conn = netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        assert_address_fields_null(conn);
        (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(chdir("/"), 0);
        json_decref(
                netd_test_call(a, "socket.destroy", netd_test_handle_params("socket", cs, NULL)));
        json_decref(
                netd_test_call(a, "server.close", netd_test_handle_params("server", srv, NULL)));
        assert_false(exists(want));
}

/*
 * readableAll/writableAll chmod the socket file as libuv's uv_pipe_chmod()
 * does for Node: they add r or w for everyone to the file's mode and never
 * take a bit away. (netd runs with umask 022 here, so a plain listen makes
 * 0755; readableAll leaves it so, writableAll makes 0777.) With an abstract
 * name they are refused as Node refuses them.
 */
static void test_ipc_readable_writable_all(struct netd_test_daemon *t)
{
        static const struct {
                bool readable, writable;
                mode_t bits;
        } cases[] = {
                { true, false, 0444 },
                { false, true, 0222 },
                { true, true, 0666 },
        };
        struct netd_test_client *a;
        char path[128], abstract[64];
        mode_t old_umask, base;
        size_t alen;
        json_t *err;
        uint64_t srv;

        old_umask = umask(022);
        netd_test_launch(t, NULL);
        umask(old_umask);
        a = netd_test_connect(t);

        snprintf(path, sizeof(path), "%s/plain.sock", t->dir);
        srv = netd_test_create_server(a, NULL);
        listen_path_ok(a, srv, path, strlen(path), NULL, path, strlen(path));
        base = file_mode(path);
        assert_int_equal(base & 0600, 0600);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                snprintf(path, sizeof(path), "%s/mode%zu.sock", t->dir, i);
                srv = netd_test_create_server(a, NULL);
                listen_path_ok(a, srv, path, strlen(path),
                               json_pack("{s:b,s:b}", "readableAll", cases[i].readable,
                                         "writableAll", cases[i].writable),
                               path, strlen(path));
                if (file_mode(path) != (base | cases[i].bits))
                        fail_msg("readableAll %d writableAll %d: mode %04o, expected %04o (the "
                                 "plain listen's %04o plus %04o)",
                                 cases[i].readable, cases[i].writable, file_mode(path),
                                 base | cases[i].bits, base, cases[i].bits);
        }

        alen = (size_t)snprintf(abstract, sizeof(abstract), "%cnetd-test-%d-modes", '\0',
                                (int)getpid());
        for (int i = 0; i < 2; i++) {
                srv = netd_test_create_server(a, NULL);
                err = netd_test_call_fail(
                        a, "server.listen",
                        listen_path_params(
                                srv, abstract, alen,
                                json_pack("{s:b}", i ? "writableAll" : "readableAll", 1)),
                        -32602, "ERR_INVALID_ARG_VALUE");
                if (!strstr(json_string_value(json_object_get(err, "message")),
                            "can not set readableAll or writableAllt to true when path is "
                            "abstract unix socket"))
                        fail_msg("message: %s", json_string_value(json_object_get(err, "message")));
                json_decref(err);
                assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
                assert_int_equal(netd_test_count_events(a, NULL, srv), 0);
        }
}

/* An existing file or socket file at the path: EADDRINUSE, and it is left alone. */
static void test_ipc_address_in_use(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        char path[96], sock_path[96], want[256];
        struct stat st;
        json_t *err, *ev;
        uint64_t srv, srv2;
        int fd, sfd;

        snprintf(path, sizeof(path), "%s/regular", t->dir);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "keep", 4), 4);
        close(fd);
        srv = netd_test_create_server(a, NULL);
        err = netd_test_call_fail(a, "server.listen",
                                  listen_path_params(srv, path, strlen(path), NULL), -32000,
                                  "EADDRINUSE");
        snprintf(want, sizeof(want), "listen EADDRINUSE: address already in use %s", path);
        netd_test_assert_str(err, "message", want);
        snprintf(
                want, sizeof(want),
                "{\"code\":\"EADDRINUSE\",\"errno\":-98,\"syscall\":\"listen\",\"address\":\"%s\"}",
                path);
        netd_test_assert_json(json_object_get(err, "data"), want);
        ev = netd_test_find_event(a, "server.error", srv);
        assert_non_null(ev);
        assert_true(json_equal(json_object_get(ev, "error"), err));
        json_decref(err);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_size, 4);

        /* A socket file nobody listens on (stale): still EADDRINUSE, still there (Node). */
        snprintf(sock_path, sizeof(sock_path), "%s/stale.sock", t->dir);
        sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
        assert_int_equal(bind(sfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
        close(sfd);
        srv2 = netd_test_create_server(a, NULL);
        err = netd_test_call_fail(a, "server.listen",
                                  listen_path_params(srv2, sock_path, strlen(sock_path), NULL),
                                  -32000, "EADDRINUSE");
        json_decref(err);
        assert_int_equal(stat(sock_path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));

        /* No close after a listen error; the server listens elsewhere on a retry. */
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        netd_test_assert_trace(a, srv, "error");
        snprintf(path, sizeof(path), "%s/retry.sock", t->dir);
        listen_path_ok(a, srv, path, strlen(path), NULL, path, strlen(path));
        netd_test_assert_trace(a, srv, "error listening");
}

/* The file goes with server.close (after the last connection, as the close event). */
static void test_ipc_unlinked_on_close(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        char path[128], want[200];
        uint64_t srv, cs, late;
        json_t *err;

        snprintf(path, sizeof(path), "%s/gone.sock", t->dir);
        srv = netd_test_create_server(a, NULL);
        listen_path_ok(a, srv, path, strlen(path), NULL, path, strlen(path));
        assert_true(exists(path));
        cs = connect_path(a, path, strlen(path));
        (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        json_decref(netd_test_call(a, "socket.end", netd_test_handle_params("socket", cs, NULL)));
        json_decref(
                netd_test_call(a, "server.close", netd_test_handle_params("server", srv, NULL)));
        assert_false(exists(path));
        netd_test_assert_trace(a, srv, "listening connection close");

        /* Connecting now: ENOENT. */
        late = connect_path(a, path, strlen(path));
        (void)netd_test_wait_event(a, "socket.close", late, NETD_TEST_TIMEOUT_MS);
        err = json_object_get(netd_test_find_event(a, "socket.error", late), "error");
        snprintf(want, sizeof(want), "connect ENOENT %s", path);
        netd_test_assert_str(err, "message", want);
}

/* Connecting to a missing path: ENOENT, address = the path, no port. */
static void test_ipc_connect_missing(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        char path[128], want[400];
        json_t *close_ev, *err;
        uint64_t s;

        snprintf(path, sizeof(path), "%s/missing.sock", t->dir);
        s = connect_path(a, path, strlen(path));
        close_ev = netd_test_wait_event(a, "socket.close", s, NETD_TEST_TIMEOUT_MS);
        assert_true(json_is_true(json_object_get(close_ev, "hadError")));
        err = json_object_get(netd_test_find_event(a, "socket.error", s), "error");
        snprintf(want, sizeof(want),
                 "{\"code\":-32000,\"message\":\"connect ENOENT %s\",\"data\":{\"code\":\"ENOENT\","
                 "\"errno\":-2,\"syscall\":\"connect\",\"address\":\"%s\"}}",
                 path, path);
        netd_test_assert_json(err, want);
        netd_test_assert_trace(a, s, "error close");
}

/* A server whose backlog is full: EAGAIN at once, as Node's (libuv's) pipe connect. */
static void test_ipc_connect_backlog_full(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        int lfd, held[8], n_held = 0;
        char want[400];
        json_t *err;
        uint64_t s;

        snprintf(un.sun_path, sizeof(un.sun_path), "%s/full.sock", t->dir);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(lfd, (struct sockaddr *)&un, sizeof(un)), 0);
        assert_int_equal(listen(lfd, 0), 0);
        /* Fill the backlog (nobody accepts) until the kernel says EAGAIN. */
        for (;;) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

                assert_true(n_held < 8);
                if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
                        assert_int_equal(errno, EAGAIN);
                        close(fd);
                        break;
                }
                held[n_held++] = fd;
        }
        s = connect_path(a, un.sun_path, strlen(un.sun_path));
        (void)netd_test_wait_event(a, "socket.close", s, NETD_TEST_TIMEOUT_MS);
        err = json_object_get(netd_test_find_event(a, "socket.error", s), "error");
        snprintf(want, sizeof(want), "connect EAGAIN %s", un.sun_path);
        netd_test_assert_str(err, "message", want);
        netd_test_assert_str(err, "data.code", "EAGAIN");
        netd_test_assert_trace(a, s, "error close");
        while (n_held > 0)
                close(held[--n_held]);
        close(lfd);
}

/* An abstract name: the address keeps its NUL; netd and plain clients connect to it. */
static void test_ipc_abstract(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        char name[64], missing[64], want[128];
        size_t len, mlen;
        uint64_t srv, cs, ss, cm;
        json_t *conn, *err, *res;
        int fd;

        len = (size_t)snprintf(name, sizeof(name), "%cnetd-test-%d", '\0', (int)getpid());
        srv = netd_test_create_server(a, NULL);
        listen_path_ok(a, srv, name, len, NULL, name, len);

        /* A netd client. */
        cs = connect_path(a, name, len);
        conn = netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        assert_address_fields_null(conn);
        ss = netd_test_conn_socket(conn);
        (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);
        res = netd_test_call(a, "socket.write",
                             json_pack("{s:I,s:s}", "socket", (json_int_t)cs, "data", "abstract"));
        json_decref(res);
        netd_test_wait_until(t, netd_test_rx(a, ss)->len == 8);
        assert_memory_equal(netd_test_rx(a, ss)->buf, "abstract", 8);

        /* A plain client whose address length covers exactly the name (as Node >= 20.8). */
        fd = unix_connect(name, len);
        netd_test_wait_until(t, netd_test_count_events(a, "server.connection", srv) == 2);
        close(fd);

        /* A name nobody listens on: ECONNREFUSED, address with its NUL, "@" in the message. */
        mlen = (size_t)snprintf(missing, sizeof(missing), "%cnetd-test-%d-none", '\0',
                                (int)getpid());
        cm = connect_path(a, missing, mlen);
        (void)netd_test_wait_event(a, "socket.close", cm, NETD_TEST_TIMEOUT_MS);
        err = json_object_get(netd_test_find_event(a, "socket.error", cm), "error");
        netd_test_assert_str(err, "data.code", "ECONNREFUSED");
        snprintf(want, sizeof(want), "connect ECONNREFUSED @%s", missing + 1);
        netd_test_assert_str(err, "message", want);
        {
                json_t *addr = netd_test_get(err, "data.address");

                assert_true(json_is_string(addr));
                assert_int_equal(json_string_length(addr), mlen);
                assert_memory_equal(json_string_value(addr), missing, mlen);
                assert_null(netd_test_get(err, "data.port"));
        }

        /* Closing: nothing to unlink, the name is free again. */
        json_decref(
                netd_test_call(a, "socket.destroy", netd_test_handle_params("socket", cs, NULL)));
        json_decref(
                netd_test_call(a, "socket.destroy", netd_test_handle_params("socket", ss, NULL)));
        json_decref(
                netd_test_call(a, "server.close",
                               netd_test_handle_params("server", srv, NULL))); /* after the last */
        srv = netd_test_create_server(a, NULL);
        listen_path_ok(a, srv, name, len, NULL, name, len);
}

/*
 * Paths that cannot be bound or connected: too long for sun_path (107 bytes
 * for a file, 108 for an abstract name) or holding NUL after the first byte.
 * Listen: server.error and an EINVAL reply; connect: events only. An empty
 * path: listen is -32602 (Node: neither port nor path), connect fails as
 * events like the others.
 */
static void test_ipc_bad_paths(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        char longest[128], too_long[128], abstract[128], inner_nul[64];
        size_t dlen = strlen(t->dir), ilen;
        struct {
                const char *path;
                size_t len;
        } bad[4];
        json_t *err;
        uint64_t srv;

        /* <dir>/aaa…: exactly 107 bytes binds; 108 does not. */
        memset(longest, 0, sizeof(longest));
        snprintf(longest, sizeof(longest), "%s/", t->dir);
        memset(longest + dlen + 1, 'a', 107 - dlen - 1);
        assert_int_equal(strlen(longest), 107);
        memcpy(too_long, longest, 108);
        too_long[107] = 'b';
        too_long[108] = '\0';
        memset(abstract, 'z', sizeof(abstract));
        abstract[0] = '\0';
        ilen = (size_t)snprintf(inner_nul, sizeof(inner_nul), "%s/x", t->dir);
        inner_nul[dlen] = '\0'; /* "<dir>\0x" */

        srv = netd_test_create_server(a, NULL);
        listen_path_ok(a, srv, longest, 107, NULL, longest, 107);
        json_decref(
                netd_test_call(a, "server.close", netd_test_handle_params("server", srv, NULL)));
        srv = netd_test_create_server(a, NULL);
        listen_path_ok(a, srv, abstract, 108, NULL, abstract, 108);
        json_decref(
                netd_test_call(a, "server.close", netd_test_handle_params("server", srv, NULL)));

        bad[0].path = "";
        bad[0].len = 0;
        bad[1].path = too_long;
        bad[1].len = 108;
        bad[2].path = abstract;
        bad[2].len = 109;
        bad[3].path = inner_nul;
        bad[3].len = ilen;
        for (size_t i = 0; i < 4; i++) {
                uint64_t s;

                srv = netd_test_create_server(a, NULL);
                if (bad[i].len == 0) {
                        /* Node: neither port nor path given. */
                        err = netd_test_call_fail(a, "server.listen",
                                                  listen_path_params(srv, "", 0, NULL), -32602,
                                                  "ERR_INVALID_ARG_VALUE");
                        netd_test_assert_str(err, "data.field", "path");
                        json_decref(err);
                        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
                        assert_int_equal(netd_test_count_events(a, NULL, srv), 0);
                } else {
                        err = netd_test_call_fail(
                                a, "server.listen",
                                listen_path_params(srv, bad[i].path, bad[i].len, NULL), -32000,
                                "EINVAL");
                        netd_test_assert_str(err, "data.syscall", "listen");
                        json_decref(err);
                        netd_test_assert_trace(a, srv, "error");
                }
                s = connect_path(a, bad[i].path, bad[i].len);
                (void)netd_test_wait_event(a, "socket.close", s, NETD_TEST_TIMEOUT_MS);
                netd_test_assert_trace(a, s, "error close");
                netd_test_assert_str(netd_test_find_event(a, "socket.error", s), "error.data.code",
                                     "EINVAL");
        }
        assert_false(exists(too_long));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_ipc_exchange),
                NETD_TEST(test_ipc_relative_path),
                NETD_TEST_MANUAL(test_ipc_readable_writable_all),
                NETD_TEST(test_ipc_address_in_use),
                NETD_TEST(test_ipc_unlinked_on_close),
                NETD_TEST(test_ipc_connect_missing),
                NETD_TEST(test_ipc_connect_backlog_full),
                NETD_TEST(test_ipc_abstract),
                NETD_TEST(test_ipc_bad_paths),
        };

        return cmocka_run_group_tests_name("integration/ipc", tests, NULL, NULL);
}
