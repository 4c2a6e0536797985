/*
 * Integration: the net.Socket half of issue 3 ("every part of the net API,
 * with Node's semantics"). net.connect/net.createConnection in their forms
 * (port+host, port alone with the default "localhost", path), net.Socket then
 * socket.connect (writes queued before the connect go out after it),
 * reconnecting a closed socket (same id, counters reset), the connect options
 * (localAddress/localPort, family, hints, timeout, autoSelectFamily with its
 * AggregateError, invalid values creating no handle), setEncoding for every
 * Node encoding with text arriving one byte per read, setKeepAlive and
 * setNoDelay (read back from netd's descriptor with pidfd_getfd() where the
 * kernel allows it), setTimeout, pause/resume, end with data, destroy with
 * an error, resetAndDestroy, address, ref/unref, every socket.get property
 * through opening/open/readOnly/writeOnly/closed, and allowHalfOpen both ways
 * (the default's EPIPE "This socket has been ended by the other party").
 * Traces check Node's event order and that close comes once, last.
 *
 * Every daemon gets a private hosts file (localhost is 127.0.0.1, then ::1)
 * and a resolv.conf without nameservers: no lookup ever leaves the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "netd-test.h"

/* ---- Helpers ------------------------------------------------------------------------------- */

/*
 * Starts netd (the tests are NETD_TEST_MANUAL): the harness gives it a
 * private hosts file (localhost is 127.0.0.1 and ::1) and no nameserver.
 */
static void start(struct netd_test_daemon *t)
{
        netd_test_launch(t, NULL);
}

/* Calls method {socket: id, ...extra (stolen, may be NULL)} and returns the result. */
static json_t *scall(struct netd_test_client *tc, const char *method, uint64_t id, json_t *extra)
{
        return netd_test_call(tc, method, netd_test_handle_params("socket", id, extra));
}

/* The same, for a method whose result must be true. */
static void scall_true(struct netd_test_client *tc, const char *method, uint64_t id, json_t *extra)
{
        netd_test_call_true(tc, method, netd_test_handle_params("socket", id, extra));
}

/* The same, expecting an error reply; returns the error object. */
static json_t *scall_fail(struct netd_test_client *tc, const char *method, uint64_t id,
                          json_t *extra, int code, const char *data_code)
{
        return netd_test_call_fail(tc, method, netd_test_handle_params("socket", id, extra), code,
                                   data_code);
}

static json_t *sget(struct netd_test_client *tc, uint64_t id)
{
        return scall(tc, "socket.get", id, NULL);
}

static void assert_bool_at(json_t *root, const char *path, bool want)
{
        json_t *v = netd_test_get(root, path);

        if (!json_is_boolean(v) || json_is_true(v) != want)
                fail_msg("\"%s\" is not %s in %s", path, want ? "true" : "false",
                         json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY));
}

static void assert_null_at(json_t *root, const char *path)
{
        json_t *v = netd_test_get(root, path);

        if (!json_is_null(v))
                fail_msg("\"%s\" is not null in %s", path,
                         json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY));
}

/* Waits for the socket's close and checks hadError and that it is its last event. */
static void wait_close(struct netd_test_client *tc, uint64_t id, bool had_error)
{
        json_t *close = netd_test_wait_event(tc, "socket.close", id, NETD_TEST_TIMEOUT_MS);

        assert_bool_at(close, "hadError", had_error);
        assert_int_equal(netd_client_sync(tc->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(tc, "socket.close", id), 1);
}

static uint64_t new_socket(struct netd_test_client *tc, json_t *options)
{
        json_t *res = netd_test_call(tc, "net.Socket", options ? options : json_object());
        uint64_t id = 0;

        assert_int_equal(netd_client_get_handle(res, "socket", &id), 0);
        json_decref(res);
        return id;
}

/* net.connect with these params (stolen); returns the socket id. */
static uint64_t connect_with(struct netd_test_client *tc, json_t *params)
{
        json_t *res = netd_test_call(tc, "net.connect", params);
        uint64_t id = 0;

        assert_int_equal(netd_client_get_handle(res, "socket", &id), 0);
        json_decref(res);
        return id;
}

/* The n-th (0-based) event named method about subject, waiting for it. */
static json_t *wait_nth_event(struct netd_test_client *tc, const char *method, uint64_t subject,
                              size_t n)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        while (netd_test_count_events(tc, method, subject) <= n)
                (void)netd_test_pump(tc->t, -1, 0, deadline, method);
        for (size_t i = 0, k = 0; i < tc->n_events; i++) {
                if (strcmp(tc->events[i].method, method) != 0 ||
                    (subject && tc->events[i].subject != subject))
                        continue;
                if (k++ == n)
                        return tc->events[i].params;
        }
        return NULL;
}

/* Processes the client's messages for ms milliseconds (a bounded wait for events that must not
 * come). */
static void quiet_for(struct netd_test_client *tc, int ms)
{
        int64_t deadline = netd_test_deadline(ms);

        while (netd_test_now_ms() < deadline) {
                int64_t left = deadline - netd_test_now_ms();

                if (netd_client_wait(tc->c, left > 0 ? (int)left : 0) < 0)
                        fail_msg("connection to netd lost");
        }
}

static json_t *netd_info(struct netd_test_client *tc)
{
        return netd_test_call(tc, "netd.info", NULL);
}

/* An asynchronous call whose outcome is kept. */
struct pending {
        bool done;
        json_t *result; /* owned */
        json_t *error;  /* owned: {"code","message","data"} */
};

static void pending_cb(struct netd_client *c, json_t *result, const struct netd_client_error *err,
                       void *userdata)
{
        struct pending *p = userdata;

        p->done = true;
        if (result) {
                p->result = json_incref(result);
        } else {
                p->error = json_pack("{s:i,s:s}", "code", err->code, "message", err->message);
                if (err->data)
                        json_object_set(p->error, "data", err->data);
        }
}

static void call_async(struct netd_test_client *tc, const char *method, json_t *params,
                       struct pending *p)
{
        *p = (struct pending){ 0 };
        assert_int_equal(netd_client_call(tc->c, method, params, pending_cb, p), 0);
}

static void pending_done(struct pending *p)
{
        json_decref(p->result);
        json_decref(p->error);
        *p = (struct pending){ 0 };
}

/* Accepts one connection on the test's listening fd, pumping the clients meanwhile. */
static int tcp_accept(struct netd_test_daemon *t, int lfd)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (fd >= 0)
                        return fd;
                if (errno != EAGAIN && errno != EINTR)
                        fail_msg("accept: %s", strerror(errno));
                (void)netd_test_pump(t, lfd, POLLIN, deadline, "a connection to the test");
        }
}

static int remote_port(int fd)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        assert_int_equal(getpeername(fd, (struct sockaddr *)&ss, &len), 0);
        return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                       : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void peer_send(int fd, const void *data, size_t len)
{
        assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* A netd client socket connected to a listener of the test: *ret_peer is the test's end. */
static uint64_t connect_to_test(struct netd_test_client *tc, int lfd, int lport, json_t *options,
                                int *ret_peer)
{
        uint64_t s = netd_test_connect_tcp(tc, lport, "127.0.0.1", options);

        *ret_peer = tcp_accept(tc->t, lfd);
        (void)netd_test_wait_event(tc, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
        return s;
}

/* ---- Connecting ----------------------------------------------------------------------------- */

/* net.createConnection {port, host}, net.connect {port} (host "localhost"), net.connect {path}. */
static void test_connect_forms(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, ipc, s1, s2, s3;
        json_t *res, *g, *err, *lookup;
        char path[128];
        int port;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, NULL); /* "::", dual stack */

        res = netd_test_call(a, "net.createConnection",
                             json_pack("{s:i,s:s}", "port", port, "host", "127.0.0.1"));
        assert_int_equal(netd_client_get_handle(res, "socket", &s1), 0);
        json_decref(res);
        (void)netd_test_wait_event(a, "socket.ready", s1, NETD_TEST_TIMEOUT_MS);
        g = sget(a, s1);
        netd_test_assert_str(g, "remoteAddress", "127.0.0.1");
        assert_int_equal(netd_test_int_at(g, "remotePort"), port);
        json_decref(g);
        netd_test_assert_trace(a, s1, "connect ready");

        /* Only a port: Node's host default, "localhost", resolved (hosts file) first. */
        s2 = connect_with(a, json_pack("{s:i}", "port", port));
        (void)netd_test_wait_event(a, "socket.ready", s2, NETD_TEST_TIMEOUT_MS);
        lookup = netd_test_find_event(a, "socket.lookup", s2);
        assert_non_null(lookup);
        netd_test_assert_str(lookup, "host", "localhost");
        assert_null_at(lookup, "err");
        netd_test_assert_str(lookup, "address", "127.0.0.1");
        assert_int_equal(netd_test_int_at(lookup, "family"), 4);
        netd_test_assert_trace(a, s2, "lookup lookup connect ready");
        g = sget(a, s2);
        netd_test_assert_str(g, "remoteAddress", "127.0.0.1");
        json_decref(g);

        /* A path: IPC. */
        snprintf(path, sizeof(path), "%s/forms.sock", t->dir);
        ipc = netd_test_create_server(a, NULL);
        res = netd_test_call(a, "server.listen",
                             json_pack("{s:I,s:s}", "server", (json_int_t)ipc, "path", path));
        assert_string_equal(json_string_value(res), path);
        json_decref(res);
        s3 = connect_with(a, json_pack("{s:s}", "path", path));
        (void)netd_test_wait_event(a, "socket.ready", s3, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(a, "server.connection", ipc, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_trace(a, s3, "connect ready");
        g = sget(a, s3);
        assert_null_at(g, "remoteAddress");
        assert_null_at(g, "remotePort");
        assert_null_at(g, "localAddress");
        json_decref(g);

        /* Neither port nor path; port 0; a port out of range. */
        err = netd_test_call_fail(a, "net.connect", json_pack("{s:s}", "host", "127.0.0.1"), -32602,
                                  "ERR_MISSING_ARGS");
        netd_test_assert_str(err, "data.field", "port");
        json_decref(err);
        err = netd_test_call_fail(a, "net.createConnection",
                                  json_pack("{s:i,s:s}", "port", 0, "host", "127.0.0.1"), -32602,
                                  "ERR_SOCKET_BAD_PORT");
        json_decref(err);
        err = netd_test_call_fail(a, "net.connect",
                                  json_pack("{s:i,s:s}", "port", 65536, "host", "127.0.0.1"),
                                  -32602, "ERR_SOCKET_BAD_PORT");
        json_decref(err);
}

/* net.Socket, then socket.connect: writes and an end queued before it go out after it. */
static void test_socket_then_connect(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        struct pending w1, w2, e;
        uint64_t s, s2;
        json_t *g, *err;
        int lfd, lport, peer, peer2;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = new_socket(a, NULL);
        g = sget(a, s);
        netd_test_assert_str(g, "readyState", "closed");
        assert_bool_at(g, "pending", true);
        assert_bool_at(g, "connecting", false);
        assert_bool_at(g, "destroyed", false);
        json_decref(g);

        call_async(a, "socket.write",
                   json_pack("{s:I,s:s}", "socket", (json_int_t)s, "data", "early "), &w1);
        call_async(a, "socket.write",
                   json_pack("{s:I,s:s,s:s}", "socket", (json_int_t)s, "data", "6869", "encoding",
                             "hex"),
                   &w2);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_false(w1.done);
        assert_false(w2.done);
        g = sget(a, s);
        assert_int_equal(netd_test_int_at(g, "bytesWritten"), 8); /* counted when queued */
        json_decref(g);

        scall_true(a, "socket.connect", s,
                   json_pack("{s:i,s:s}", "port", lport, "host", "127.0.0.1"));
        peer = tcp_accept(t, lfd);
        netd_test_wait_until(t, w1.done && w2.done);
        assert_true(json_is_true(w1.result));
        assert_true(json_is_true(w2.result));
        netd_test_peer_expect(t, peer, "early hi");
        scall_true(a, "socket.write", s, json_pack("{s:s}", "data", " late"));
        netd_test_peer_expect(t, peer, " late");
        netd_test_assert_trace(a, s, "connect ready");
        /* Connected: connecting it again is refused. */
        err = scall_fail(a, "socket.connect", s,
                         json_pack("{s:i,s:s}", "port", lport, "host", "127.0.0.1"), -32001,
                         "ERR_NETD_SOCKET_BUSY");
        json_decref(err);
        pending_done(&w1);
        pending_done(&w2);

        /* An end (with data) queued before connecting: the data, then the FIN. */
        s2 = new_socket(a, NULL);
        call_async(a, "socket.end", json_pack("{s:I,s:s}", "socket", (json_int_t)s2, "data", "bye"),
                   &e);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_false(e.done);
        scall_true(a, "socket.connect", s2,
                   json_pack("{s:i,s:s}", "port", lport, "host", "127.0.0.1"));
        peer2 = tcp_accept(t, lfd);
        netd_test_peer_expect(t, peer2, "bye");
        assert_int_equal(netd_test_peer_end(t, peer2), 0);
        netd_test_wait_until(t, e.done);
        assert_true(json_is_true(e.result));
        pending_done(&e);
        close(peer2);
        wait_close(a, s2, false);
        netd_test_assert_trace(a, s2, "connect ready end close");
        close(peer);
        close(lfd);
}

/* A closed socket connects again: same id, a new lifecycle, counters from zero. */
static void test_reconnect_resets_counters(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s;
        json_t *g;
        int lfd, lport, peer, peer2;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = new_socket(a, NULL);
        scall_true(a, "socket.connect", s,
                   json_pack("{s:i,s:s}", "port", lport, "host", "127.0.0.1"));
        peer = tcp_accept(t, lfd);
        (void)netd_test_wait_event(a, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
        scall_true(a, "socket.write", s, json_pack("{s:s}", "data", "abc"));
        peer_send(peer, "xy", 2);
        netd_test_wait_until(t, netd_test_rx(a, s)->len == 2);
        g = sget(a, s);
        assert_int_equal(netd_test_int_at(g, "bytesRead"), 2);
        assert_int_equal(netd_test_int_at(g, "bytesWritten"), 3);
        json_decref(g);
        scall_true(a, "socket.destroy", s, NULL);
        wait_close(a, s, false);
        close(peer);

        scall_true(a, "socket.connect", s,
                   json_pack("{s:i,s:s}", "port", lport, "host", "127.0.0.1"));
        g = sget(a, s);
        assert_int_equal(netd_test_int_at(g, "bytesRead"), 0);
        assert_int_equal(netd_test_int_at(g, "bytesWritten"), 0);
        assert_bool_at(g, "destroyed", false);
        json_decref(g);
        peer2 = tcp_accept(t, lfd);
        (void)wait_nth_event(a, "socket.ready", s, 1);
        scall_true(a, "socket.write", s, json_pack("{s:s}", "data", "z"));
        netd_test_peer_expect(t, peer2, "z");
        g = sget(a, s);
        assert_int_equal(netd_test_int_at(g, "bytesWritten"), 1);
        assert_int_equal(netd_test_int_at(g, "bytesRead"), 0);
        assert_int_equal(netd_test_int_at(g, "localPort"), remote_port(peer2));
        netd_test_assert_str(g, "readyState", "open");
        json_decref(g);
        netd_test_assert_trace(a, s, "connect ready data+ close connect ready");
        close(peer2);
        close(lfd);
}

/* localAddress + localPort: the server sees that port; a busy local port is a bind error. */
static void test_local_address_port(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, s, s2;
        json_t *conn, *g, *err;
        char want[160];
        int port, lp, busy, busy_port;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, "127.0.0.1");
        lp = netd_test_free_port();
        s = connect_with(a, json_pack("{s:i,s:s,s:s,s:i}", "port", port, "host", "127.0.0.1",
                                      "localAddress", "127.0.0.1", "localPort", lp));
        (void)netd_test_wait_event(a, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
        conn = netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_test_int_at(conn, "remotePort"), lp);
        netd_test_assert_str(conn, "remoteAddress", "127.0.0.1");
        g = sget(a, s);
        netd_test_assert_str(g, "localAddress", "127.0.0.1");
        assert_int_equal(netd_test_int_at(g, "localPort"), lp);
        netd_test_assert_str(g, "localFamily", "IPv4");
        json_decref(g);
        g = scall(a, "socket.address", s, NULL);
        snprintf(want, sizeof(want), "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":%d}",
                 lp);
        netd_test_assert_json(g, want);
        json_decref(g);

        /* The local port is taken by a listener: bind EADDRINUSE, as that attempt's error. */
        busy = netd_test_tcp_socket(true, &busy_port);
        s2 = connect_with(a, json_pack("{s:i,s:s,s:s,s:i}", "port", port, "host", "127.0.0.1",
                                       "localAddress", "127.0.0.1", "localPort", busy_port));
        wait_close(a, s2, true);
        err = netd_test_find_event(a, "socket.error", s2);
        netd_test_assert_str(err, "error.data.code", "EADDRINUSE");
        netd_test_assert_str(err, "error.data.syscall", "bind");
        snprintf(want, sizeof(want), "bind EADDRINUSE 127.0.0.1:%d", busy_port);
        netd_test_assert_str(err, "error.message", want);
        netd_test_assert_trace(a, s2, "error close");
        close(busy);
}

/* family 4 / 6 with "localhost": one lookup of that family, and that address; hints accepted. */
static void test_family_and_hints(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, s4, s6, sh;
        json_t *lookup, *g;
        int port;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, NULL); /* "::", dual stack */

        s4 = connect_with(
                a, json_pack("{s:i,s:s,s:i}", "port", port, "host", "localhost", "family", 4));
        (void)netd_test_wait_event(a, "socket.ready", s4, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_trace(a, s4, "lookup connect ready");
        lookup = netd_test_find_event(a, "socket.lookup", s4);
        netd_test_assert_str(lookup, "address", "127.0.0.1");
        assert_int_equal(netd_test_int_at(lookup, "family"), 4);
        netd_test_assert_str(lookup, "host", "localhost");
        g = sget(a, s4);
        netd_test_assert_str(g, "remoteAddress", "127.0.0.1");
        netd_test_assert_str(g, "remoteFamily", "IPv4");
        assert_null_at(g, "autoSelectFamilyAttemptedAddresses");
        json_decref(g);

        s6 = connect_with(
                a, json_pack("{s:i,s:s,s:i}", "port", port, "host", "localhost", "family", 6));
        (void)netd_test_wait_event(a, "socket.ready", s6, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_trace(a, s6, "lookup connect ready");
        lookup = netd_test_find_event(a, "socket.lookup", s6);
        netd_test_assert_str(lookup, "address", "::1");
        assert_int_equal(netd_test_int_at(lookup, "family"), 6);
        g = sget(a, s6);
        netd_test_assert_str(g, "remoteAddress", "::1");
        netd_test_assert_str(g, "remoteFamily", "IPv6");
        json_decref(g);

        /* dns.ADDRCONFIG (1024), and ALL|V4MAPPED with family 6. */
        sh = connect_with(
                a, json_pack("{s:i,s:s,s:i}", "port", port, "host", "127.0.0.1", "hints", 1024));
        (void)netd_test_wait_event(a, "socket.ready", sh, NETD_TEST_TIMEOUT_MS);
        sh = connect_with(a, json_pack("{s:i,s:s,s:i,s:i}", "port", port, "host", "localhost",
                                       "family", 6, "hints", 256 | 2048));
        (void)netd_test_wait_event(a, "socket.ready", sh, NETD_TEST_TIMEOUT_MS);

        /* localAddress turns autoSelectFamily off: one lookup, the first address only. */
        sh = connect_with(a, json_pack("{s:i,s:s,s:s}", "port", port, "host", "localhost",
                                       "localAddress", "127.0.0.1"));
        (void)netd_test_wait_event(a, "socket.ready", sh, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_trace(a, sh, "lookup connect ready");
        g = sget(a, sh);
        netd_test_assert_str(g, "remoteAddress", "127.0.0.1");
        netd_test_assert_str(g, "localAddress", "127.0.0.1");
        assert_null_at(g, "autoSelectFamilyAttemptedAddresses");
        json_decref(g);
}

/* Invalid family, hints, localAddress: -32602 with Node's code, and no handle is created. */
static void test_invalid_connect_options(struct netd_test_daemon *t)
{
        static const struct {
                const char *json; /* extra params */
                const char *code, *field;
        } cases[] = {
                { "{\"family\":5}", "ERR_INVALID_ARG_VALUE", "family" },
                { "{\"family\":\"4\"}", "ERR_INVALID_ARG_TYPE", "family" },
                { "{\"hints\":3}", "ERR_INVALID_ARG_VALUE", "hints" },
                { "{\"hints\":4096}", "ERR_INVALID_ARG_VALUE", "hints" },
                { "{\"localAddress\":\"localhost\"}", "ERR_INVALID_IP_ADDRESS", "localAddress" },
                { "{\"localAddress\":\"127.0.0.256\"}", "ERR_INVALID_IP_ADDRESS", "localAddress" },
                { "{\"localPort\":70000}", "ERR_SOCKET_BAD_PORT", "localPort" },
                { "{\"timeout\":-1}", "ERR_OUT_OF_RANGE", "timeout" },
                { "{\"autoSelectFamily\":1}", "ERR_INVALID_ARG_TYPE", "autoSelectFamily" },
                { "{\"autoSelectFamilyAttemptTimeout\":0}", "ERR_OUT_OF_RANGE",
                  "autoSelectFamilyAttemptTimeout" },
                { "{\"host\":\"\"}", "ERR_INVALID_ARG_VALUE", "host" },
        };
        struct netd_test_client *a;
        json_t *info, *err;
        json_int_t sockets, created;
        uint64_t s;

        start(t);
        a = netd_test_connect(t);
        info = netd_info(a);
        sockets = netd_test_int_at(info, "handles.sockets");
        created = netd_test_int_at(info, "stats.handlesCreated");
        json_decref(info);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *params = json_loads(cases[i].json, 0, NULL);

                assert_non_null(params);
                if (!json_object_get(params, "host"))
                        json_object_set_new(params, "host", json_string("127.0.0.1"));
                json_object_set_new(params, "port", json_integer(9));
                err = netd_test_call_fail(a, i % 2 ? "net.connect" : "net.createConnection", params,
                                          -32602, cases[i].code);
                if (strcmp(json_string_value(netd_test_get(err, "data.field")), cases[i].field) !=
                    0)
                        fail_msg("%s: field %s, expected %s", cases[i].json,
                                 json_string_value(netd_test_get(err, "data.field")),
                                 cases[i].field);
                json_decref(err);
        }
        info = netd_info(a);
        assert_int_equal(netd_test_int_at(info, "handles.sockets"), sockets);
        assert_int_equal(netd_test_int_at(info, "stats.handlesCreated"), created);
        json_decref(info);

        /* socket.connect refuses them too, and the socket stays unconnected with no event. */
        s = new_socket(a, NULL);
        err = scall_fail(a, "socket.connect", s,
                         json_pack("{s:i,s:s,s:i}", "port", 9, "host", "127.0.0.1", "family", 5),
                         -32602, "ERR_INVALID_ARG_VALUE");
        json_decref(err);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, NULL, s), 0);
        info = sget(a, s);
        netd_test_assert_str(info, "readyState", "closed");
        assert_bool_at(info, "connecting", false);
        json_decref(info);
}

/* The timeout option: socket.timeout when idle, once per idle period; the socket stays open. */
static void test_connect_timeout_option(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s;
        json_t *g;
        int lfd, lport, peer;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = connect_to_test(a, lfd, lport, json_pack("{s:i}", "timeout", 150), &peer);
        (void)netd_test_wait_event(a, "socket.timeout", s, NETD_TEST_TIMEOUT_MS);
        g = sget(a, s);
        assert_bool_at(g, "destroyed", false);
        netd_test_assert_str(g, "readyState", "open");
        assert_int_equal(netd_test_int_at(g, "timeout"), 150);
        json_decref(g);
        quiet_for(a, 450);
        assert_int_equal(netd_test_count_events(a, "socket.timeout", s), 1);

        /* Activity starts a new idle period: a second timeout. */
        peer_send(peer, "wake", 4);
        netd_test_wait_until(t, netd_test_rx(a, s)->len == 4);
        (void)wait_nth_event(a, "socket.timeout", s, 1);
        scall_true(a, "socket.write", s, json_pack("{s:s}", "data", "still open"));
        netd_test_peer_expect(t, peer, "still open");
        assert_int_equal(netd_test_count_events(a, "socket.close", s), 0);
        netd_test_assert_trace(a, s, "connect ready timeout data+ timeout");
        close(peer);
        close(lfd);
}

/* autoSelectFamily: 127.0.0.1 refused, then ::1 connects; both attempts are listed. */
static void test_auto_select_family(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, s, s1;
        json_t *g, *err;
        char want[160];
        int port;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, "::1");
        s = connect_with(a, json_pack("{s:i,s:s}", "port", port, "host", "localhost"));
        (void)netd_test_wait_event(a, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_trace(a, s, "lookup lookup connect ready");
        netd_test_assert_str(wait_nth_event(a, "socket.lookup", s, 0), "address", "127.0.0.1");
        netd_test_assert_str(wait_nth_event(a, "socket.lookup", s, 1), "address", "::1");
        g = sget(a, s);
        netd_test_assert_str(g, "remoteAddress", "::1");
        snprintf(want, sizeof(want), "[\"127.0.0.1:%d\",\"::1:%d\"]", port, port);
        netd_test_assert_json(json_object_get(g, "autoSelectFamilyAttemptedAddresses"), want);
        json_decref(g);
        (void)netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);

        /* Without it: one lookup, the first address only, refused. */
        s1 = connect_with(a, json_pack("{s:i,s:s,s:b}", "port", port, "host", "localhost",
                                       "autoSelectFamily", 0));
        wait_close(a, s1, true);
        netd_test_assert_trace(a, s1, "lookup error close");
        err = netd_test_find_event(a, "socket.error", s1);
        snprintf(want, sizeof(want), "connect ECONNREFUSED 127.0.0.1:%d", port);
        netd_test_assert_str(err, "error.message", want);
        g = sget(a, s1);
        assert_null_at(g, "autoSelectFamilyAttemptedAddresses");
        json_decref(g);
}

/* Every attempt fails: one socket.error, code ECONNREFUSED, data.errors with each attempt. */
static void test_auto_select_family_all_fail(struct netd_test_daemon *t)
{
        struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        struct netd_test_client *a;
        json_t *err, *errors, *e;
        char want[160];
        uint64_t s;
        int port, hold4, hold6;

        start(t);
        a = netd_test_connect(t);
        /* Hold the port on both loopbacks without listening: connects are refused. */
        hold4 = netd_test_tcp_socket(false, &port);
        hold6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sin6.sin6_port = htons((uint16_t)port);
        (void)bind(hold6, (struct sockaddr *)&sin6, sizeof(sin6));

        s = connect_with(a, json_pack("{s:i,s:s}", "port", port, "host", "localhost"));
        wait_close(a, s, true);
        netd_test_assert_trace(a, s, "lookup lookup error close");
        err = json_object_get(netd_test_find_event(a, "socket.error", s), "error");
        assert_int_equal(netd_test_int_at(err, "code"), -32000);
        netd_test_assert_str(err, "message", "AggregateError: all connection attempts failed");
        netd_test_assert_str(err, "data.code", "ECONNREFUSED");
        errors = netd_test_get(err, "data.errors");
        assert_true(json_is_array(errors));
        assert_int_equal(json_array_size(errors), 2);
        e = json_array_get(errors, 0);
        snprintf(want, sizeof(want), "connect ECONNREFUSED 127.0.0.1:%d", port);
        netd_test_assert_str(e, "message", want);
        e = json_array_get(errors, 1);
        snprintf(want, sizeof(want), "connect ECONNREFUSED ::1:%d", port);
        netd_test_assert_str(e, "message", want);
        {
                json_t *g = sget(a, s);

                snprintf(want, sizeof(want), "[\"127.0.0.1:%d\",\"::1:%d\"]", port, port);
                netd_test_assert_json(json_object_get(g, "autoSelectFamilyAttemptedAddresses"),
                                      want);
                json_decref(g);
        }
        close(hold4);
        close(hold6);
}

/* The connect error of one attempt is Node's ExceptionWithHostPort: every field. */
static void test_connect_refused_shape(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s;
        json_t *err;
        char want[256];
        int port, hold;

        start(t);
        a = netd_test_connect(t);
        hold = netd_test_tcp_socket(false, &port);
        s = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        wait_close(a, s, true);
        err = json_object_get(netd_test_find_event(a, "socket.error", s), "error");
        snprintf(want, sizeof(want),
                 "{\"code\":-32000,\"message\":\"connect ECONNREFUSED 127.0.0.1:%d\",\"data\":"
                 "{\"code\":\"ECONNREFUSED\",\"errno\":-111,\"syscall\":\"connect\",\"address\":"
                 "\"127.0.0.1\",\"port\":%d}}",
                 port, port);
        netd_test_assert_json(err, want);
        close(hold);
}

/* ---- setEncoding ---------------------------------------------------------------------------- */

/* "hé€😀!" in UTF-8: 1 + 2 + 3 + 4 + 1 bytes. */
static const char text_utf8[] = "h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80!";
/* "h€😀" in UTF-16LE: a surrogate pair at the end. */
static const char text_utf16[] = "\x68\x00\xac\x20\x3d\xd8\x00\xde";

static const struct encoding_case {
        const char *name, *canonical;
        const char *input;
        size_t input_len;
        const char *want; /* the concatenated data strings, UTF-8 */
        size_t want_len;
} encoding_cases[] = {
        { "utf8", "utf8", text_utf8, 11, text_utf8, 11 },
        { "utf-8", "utf8", text_utf8, 11, text_utf8, 11 },
        { "UTF-8", "utf8", text_utf8, 11, text_utf8, 11 },
        { "base64", "base64", text_utf8, 11, "aMOp4oKs8J+YgCE=", 16 },
        { "base64url", "base64url", text_utf8, 11, "aMOp4oKs8J-YgCE", 15 },
        { "hex", "hex", text_utf8, 11, "68c3a9e282acf09f988021", 22 },
        { "latin1", "latin1", text_utf8, 11,
          "h\xc3\x83\xc2\xa9\xc3\xa2\xc2\x82\xc2\xac\xc3\xb0\xc2\x9f\xc2\x98\xc2\x80!", 20 },
        { "binary", "latin1", text_utf8, 11,
          "h\xc3\x83\xc2\xa9\xc3\xa2\xc2\x82\xc2\xac\xc3\xb0\xc2\x9f\xc2\x98\xc2\x80!", 20 },
        { "ascii", "ascii", text_utf8, 11, "hC)b\x02,p\x1f\x18\x00!", 11 },
        { "utf16le", "utf16le", text_utf16, 8, "h\xe2\x82\xac\xf0\x9f\x98\x80", 8 },
        { "utf-16le", "utf16le", text_utf16, 8, "h\xe2\x82\xac\xf0\x9f\x98\x80", 8 },
        { "ucs2", "utf16le", text_utf16, 8, "h\xe2\x82\xac\xf0\x9f\x98\x80", 8 },
        { "ucs-2", "utf16le", text_utf16, 8, "h\xe2\x82\xac\xf0\x9f\x98\x80", 8 },
};

/* Waits until netd has read n bytes of the socket (socket.get round trips). */
static void wait_bytes_read(struct netd_test_client *tc, uint64_t s, json_int_t n)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        for (;;) {
                json_t *g = sget(tc, s);
                json_int_t got = netd_test_int_at(g, "bytesRead");

                json_decref(g);
                if (got == n)
                        return;
                assert_true(got < n);
                if (netd_test_now_ms() >= deadline)
                        fail_msg("netd read %lld bytes, expected %lld", (long long)got,
                                 (long long)n);
        }
}

/* Sends bytes one at a time, each read by netd on its own, then a FIN. */
static void trickle_then_fin(struct netd_test_client *tc, uint64_t s, int peer, const char *bytes,
                             size_t len)
{
        for (size_t i = 0; i < len; i++) {
                peer_send(peer, bytes + i, 1);
                wait_bytes_read(tc, s, (json_int_t)(i + 1));
        }
        assert_int_equal(shutdown(peer, SHUT_WR), 0);
        (void)netd_test_wait_event(tc, "socket.end", s, NETD_TEST_TIMEOUT_MS);
}

/* The data strings of every socket.data of s, concatenated; checks each one's encoding name. */
static char *concat_data(struct netd_test_client *tc, uint64_t s, const char *encoding,
                         size_t *ret_len)
{
        char *buf = malloc(1024);
        size_t len = 0;

        assert_non_null(buf);
        for (size_t i = 0; i < tc->n_events; i++) {
                json_t *p = tc->events[i].params, *data;

                if (tc->events[i].subject != s || strcmp(tc->events[i].method, "socket.data") != 0)
                        continue;
                netd_test_assert_str(p, "encoding", encoding);
                data = json_object_get(p, "data");
                assert_true(json_is_string(data));
                assert_true(len + json_string_length(data) < 1024);
                memcpy(buf + len, json_string_value(data), json_string_length(data));
                len += json_string_length(data);
        }
        *ret_len = len;
        return buf;
}

static void test_set_encoding_every_encoding(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        int lfd, lport;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        for (size_t i = 0; i < sizeof(encoding_cases) / sizeof(encoding_cases[0]); i++) {
                const struct encoding_case *c = &encoding_cases[i];
                uint64_t s;
                json_t *g;
                size_t len;
                char *got;
                int peer, one = 1;

                s = connect_to_test(a, lfd, lport, NULL, &peer);
                (void)setsockopt(peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                scall_true(a, "socket.setEncoding", s, json_pack("{s:s}", "encoding", c->name));
                g = sget(a, s);
                netd_test_assert_str(g, "encoding", c->canonical);
                json_decref(g);
                trickle_then_fin(a, s, peer, c->input, c->input_len);
                got = concat_data(a, s, c->canonical, &len);
                /* Read a byte at a time, the text came in several events. */
                assert_true(netd_test_count_events(a, "socket.data", s) >= 3);
                if (len != c->want_len || memcmp(got, c->want, len) != 0)
                        fail_msg("setEncoding(%s): got \"%.*s\" (%zu bytes), expected \"%.*s\"",
                                 c->name, (int)len, got, len, (int)c->want_len, c->want);
                if (strcmp(c->canonical, "utf8") == 0 || strcmp(c->canonical, "utf16le") == 0)
                        assert_null(memmem(got, len, "\xef\xbf\xbd", 3)); /* no U+FFFD */
                free(got);
                /* 'end' after the last data, then close (netd ended its side too). */
                assert_int_equal(netd_test_peer_end(t, peer), 0);
                wait_close(a, s, false);
                {
                        char *trace = netd_test_trace(a, s);

                        if (strcmp(trace, "connect ready data+ end close") != 0)
                                fail_msg("setEncoding(%s): events \"%s\"", c->name, trace);
                        free(trace);
                }
                close(peer);
        }
        close(lfd);
}

/* utf8: an invalid byte and an incomplete character before the FIN become U+FFFD (Node). */
static void test_set_encoding_invalid_utf8(struct netd_test_daemon *t)
{
        static const char input[] = "a\xff"
                                    "b\xe2\x82";
        static const char want[] = "a\xef\xbf\xbd"
                                   "b\xef\xbf\xbd";
        struct netd_test_client *a;
        uint64_t s;
        size_t len;
        char *got;
        int lfd, lport, peer;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = connect_to_test(a, lfd, lport, NULL, &peer);
        scall_true(a, "socket.setEncoding", s, json_pack("{s:s}", "encoding", "utf8"));
        trickle_then_fin(a, s, peer, input, sizeof(input) - 1);
        got = concat_data(a, s, "utf8", &len);
        assert_int_equal(len, sizeof(want) - 1);
        assert_memory_equal(got, want, len);
        free(got);
        /* No encoding: utf8. */
        scall_true(a, "socket.setEncoding", s, NULL);
        {
                json_t *g = sget(a, s);

                netd_test_assert_str(g, "encoding", "utf8");
                json_decref(g);
        }
        /* The unknown encoding is refused. */
        json_decref(scall_fail(a, "socket.setEncoding", s, json_pack("{s:s}", "encoding", "utf32"),
                               -32602, "ERR_UNKNOWN_ENCODING"));
        close(peer);
        close(lfd);
}

/* ---- Options of a connected socket --------------------------------------------------------- */

static void test_keepalive_nodelay(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s, s2;
        json_t *err;
        int lfd, lport, peer, peer2, nfd;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = connect_to_test(a, lfd, lport, NULL, &peer);
        scall_true(a, "socket.setKeepAlive", s,
                   json_pack("{s:b,s:i,s:i,s:i}", "enable", 1, "initialDelay", 2500, "interval",
                             3000, "count", 4));
        scall_true(a, "socket.setNoDelay", s, NULL); /* noDelay defaults to true */

        /* Before connecting: kept, applied on connect. */
        s2 = new_socket(a, NULL);
        scall_true(a, "socket.setNoDelay", s2, json_pack("{s:b}", "noDelay", 1));
        scall_true(a, "socket.setKeepAlive", s2,
                   json_pack("{s:b,s:i}", "enable", 1, "initialDelay", 7000));
        scall_true(a, "socket.connect", s2,
                   json_pack("{s:i,s:s}", "port", lport, "host", "127.0.0.1"));
        peer2 = tcp_accept(t, lfd);
        (void)netd_test_wait_event(a, "socket.ready", s2, NETD_TEST_TIMEOUT_MS);

        nfd = netd_test_fd_facing(t, peer);
        if (nfd == -2) {
                print_message("note: pidfd_getfd() not permitted; the options are not read back\n");
        } else {
                assert_true(nfd >= 0);
                assert_int_equal(netd_test_sockopt_int(nfd, SOL_SOCKET, SO_KEEPALIVE), 1);
                assert_int_equal(netd_test_sockopt_int(nfd, IPPROTO_TCP, TCP_KEEPIDLE), 2);
                assert_int_equal(netd_test_sockopt_int(nfd, IPPROTO_TCP, TCP_KEEPINTVL), 3);
                assert_int_equal(netd_test_sockopt_int(nfd, IPPROTO_TCP, TCP_KEEPCNT), 4);
                assert_int_equal(netd_test_sockopt_int(nfd, IPPROTO_TCP, TCP_NODELAY), 1);
                scall_true(a, "socket.setNoDelay", s, json_pack("{s:b}", "noDelay", 0));
                scall_true(a, "socket.setKeepAlive", s, json_pack("{s:b}", "enable", 0));
                assert_int_equal(netd_test_sockopt_int(nfd, IPPROTO_TCP, TCP_NODELAY), 0);
                assert_int_equal(netd_test_sockopt_int(nfd, SOL_SOCKET, SO_KEEPALIVE), 0);
                close(nfd);
                nfd = netd_test_fd_facing(t, peer2);
                assert_true(nfd >= 0);
                assert_int_equal(netd_test_sockopt_int(nfd, IPPROTO_TCP, TCP_NODELAY), 1);
                assert_int_equal(netd_test_sockopt_int(nfd, SOL_SOCKET, SO_KEEPALIVE), 1);
                assert_int_equal(netd_test_sockopt_int(nfd, IPPROTO_TCP, TCP_KEEPIDLE), 7);
                close(nfd);
        }
        /* Out of range: count 0 or 128, interval under a second. */
        err = scall_fail(a, "socket.setKeepAlive", s,
                         json_pack("{s:b,s:i}", "enable", 1, "count", 0), -32602,
                         "ERR_OUT_OF_RANGE");
        json_decref(err);
        err = scall_fail(a, "socket.setKeepAlive", s,
                         json_pack("{s:b,s:i}", "enable", 1, "count", 128), -32602,
                         "ERR_OUT_OF_RANGE");
        json_decref(err);
        err = scall_fail(a, "socket.setKeepAlive", s,
                         json_pack("{s:b,s:i}", "enable", 1, "interval", 500), -32602,
                         "ERR_OUT_OF_RANGE");
        json_decref(err);
        err = scall_fail(a, "socket.setNoDelay", s, json_pack("{s:i}", "noDelay", 1), -32602,
                         "ERR_INVALID_ARG_TYPE");
        json_decref(err);
        /* The sockets still work. */
        scall_true(a, "socket.write", s, json_pack("{s:s}", "data", "ok"));
        netd_test_peer_expect(t, peer, "ok");
        netd_test_assert_trace(a, s, "connect ready");
        close(peer);
        close(peer2);
        close(lfd);
}

/* setTimeout: socket.timeout, never a close; 0 turns it off. */
static void test_set_timeout(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s;
        json_t *g, *err;
        int lfd, lport, peer;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = connect_to_test(a, lfd, lport, NULL, &peer);
        g = sget(a, s);
        assert_null_at(g, "timeout");
        json_decref(g);
        scall_true(a, "socket.setTimeout", s, json_pack("{s:i}", "timeout", 100));
        g = sget(a, s);
        assert_int_equal(netd_test_int_at(g, "timeout"), 100);
        json_decref(g);
        (void)netd_test_wait_event(a, "socket.timeout", s, NETD_TEST_TIMEOUT_MS);
        g = sget(a, s);
        assert_bool_at(g, "destroyed", false);
        netd_test_assert_str(g, "readyState", "open");
        json_decref(g);

        scall_true(a, "socket.setTimeout", s, json_pack("{s:i}", "timeout", 0));
        peer_send(peer, "x", 1);
        netd_test_wait_until(t, netd_test_rx(a, s)->len == 1);
        quiet_for(a, 400);
        assert_int_equal(netd_test_count_events(a, "socket.timeout", s), 1);
        assert_int_equal(netd_test_count_events(a, "socket.close", s), 0);
        scall_true(a, "socket.write", s, json_pack("{s:s}", "data", "y"));
        netd_test_peer_expect(t, peer, "y");

        err = scall_fail(a, "socket.setTimeout", s, NULL, -32602, "ERR_MISSING_ARGS");
        json_decref(err);
        err = scall_fail(a, "socket.setTimeout", s, json_pack("{s:i}", "timeout", -1), -32602,
                         "ERR_OUT_OF_RANGE");
        json_decref(err);
        netd_test_assert_trace(a, s, "connect ready timeout data+");
        close(peer);
        close(lfd);
}

/*
 * The idle timer is suppressed while written data waits (a slow write is not
 * idleness); once the peer has taken everything, the socket idles out.
 */
static void test_timeout_suppressed_while_writing(struct netd_test_daemon *t)
{
        static char chunk[256 * 1024];
        struct netd_test_client *a;
        json_int_t buffered = 0, written = 0;
        uint64_t s;
        int lfd, lport, peer, small = 4096;
        char *sink;
        size_t got;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        (void)setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        s = connect_to_test(a, lfd, lport, NULL, &peer);
        memset(chunk, 't', sizeof(chunk));
        for (int i = 0; i < 48 && buffered < 1024 * 1024; i++) {
                json_t *g;

                assert_int_equal(netd_client_notify(a->c, "socket.write",
                                                    json_pack("{s:I,s:s#,s:s}", "socket",
                                                              (json_int_t)s, "data", chunk,
                                                              sizeof(chunk), "encoding", "latin1")),
                                 0);
                g = sget(a, s);
                buffered = netd_test_int_at(g, "bufferSize");
                written = netd_test_int_at(g, "bytesWritten");
                json_decref(g);
        }
        assert_true(buffered >= 1024 * 1024);
        scall_true(a, "socket.setTimeout", s, json_pack("{s:i}", "timeout", 100));
        quiet_for(a, 500);
        assert_int_equal(netd_test_count_events(a, "socket.timeout", s), 0);

        /* The peer reads everything: the queue empties, then the socket is idle. */
        sink = malloc((size_t)written);
        assert_non_null(sink);
        assert_int_equal(netd_test_peer_read(t, peer, sink, (size_t)written, &got), 0);
        free(sink);
        (void)netd_test_wait_event(a, "socket.timeout", s, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_test_count_events(a, "socket.close", s), 0);
        close(peer);
        close(lfd);
}

/* pause/resume: no socket.data while paused, TCP pushes back, nothing is lost. */
static void test_pause_resume(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s;
        /* More than the loopback buffers can hold (tcp_rmem max 32 MiB + tcp_wmem max 4 MiB). */
        size_t sent = 0, total = 40 * 1024 * 1024;
        uint8_t *all;
        json_t *g;
        int lfd, lport, peer;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = connect_to_test(a, lfd, lport, NULL, &peer);
        scall_true(a, "socket.pause", s, NULL);
        g = sget(a, s);
        assert_bool_at(g, "paused", true);
        json_decref(g);

        /* The peer writes until the kernel pushes back (netd reads nothing meanwhile). */
        all = malloc(total);
        assert_non_null(all);
        netd_test_random_bytes(all, total, 7);
        while (sent < total) {
                ssize_t n = send(peer, all + sent, total - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n <= 0) {
                        assert_true(n < 0 && errno == EAGAIN);
                        break;
                }
                sent += (size_t)n;
        }
        assert_true(sent > 0 && sent < total);
        for (int i = 0; i < 3; i++)
                assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, "socket.data", s), 0);
        g = sget(a, s);
        assert_int_equal(netd_test_int_at(g, "bytesRead"), 0);
        json_decref(g);

        scall_true(a, "socket.resume", s, NULL);
        g = sget(a, s);
        assert_bool_at(g, "paused", false);
        json_decref(g);
        /* The rest follows as room opens up. */
        {
                int64_t deadline = netd_test_deadline(30000);

                while (netd_test_rx(a, s)->len < total) {
                        if (sent < total) {
                                ssize_t n = send(peer, all + sent, total - sent,
                                                 MSG_NOSIGNAL | MSG_DONTWAIT);

                                if (n > 0)
                                        sent += (size_t)n;
                        }
                        (void)netd_test_pump(t, sent < total ? peer : -1, POLLOUT, deadline,
                                             "the paused data");
                }
        }
        assert_int_equal(netd_test_rx(a, s)->len, total);
        assert_memory_equal(netd_test_rx(a, s)->buf, all, total);
        free(all);
        netd_test_assert_trace(a, s, "connect ready data+");

        /* A pause before connecting holds once connected. */
        {
                uint64_t s2 = new_socket(a, NULL);
                int peer2;

                scall_true(a, "socket.pause", s2, NULL);
                scall_true(a, "socket.connect", s2,
                           json_pack("{s:i,s:s}", "port", lport, "host", "127.0.0.1"));
                peer2 = tcp_accept(t, lfd);
                (void)netd_test_wait_event(a, "socket.ready", s2, NETD_TEST_TIMEOUT_MS);
                peer_send(peer2, "held", 4);
                for (int i = 0; i < 3; i++)
                        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
                assert_int_equal(netd_test_count_events(a, "socket.data", s2), 0);
                g = sget(a, s2);
                assert_bool_at(g, "paused", true);
                assert_int_equal(netd_test_int_at(g, "bytesRead"), 0);
                json_decref(g);
                scall_true(a, "socket.resume", s2, NULL);
                netd_test_wait_until(t, netd_test_rx(a, s2)->len == 4);
                close(peer2);
        }
        close(peer);
        close(lfd);
}

/* end with data and an encoding: the bytes, then the FIN; readOnly until the peer ends. */
static void test_end_with_data(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s;
        json_t *g, *err;
        int lfd, lport, peer;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = connect_to_test(a, lfd, lport, NULL, &peer);
        scall_true(a, "socket.end", s,
                   json_pack("{s:s,s:s}", "data", "68656c6c6f", "encoding", "hex"));
        netd_test_peer_expect(t, peer, "hello");
        assert_int_equal(netd_test_peer_end(t, peer), 0);
        g = sget(a, s);
        assert_int_equal(netd_test_int_at(g, "bytesWritten"), 5);
        netd_test_assert_str(g, "readyState", "readOnly");
        json_decref(g);
        /* A second end without data succeeds; with data it is a write after end. */
        scall_true(a, "socket.end", s, NULL);
        /* Still readable. */
        peer_send(peer, "reply", 5);
        netd_test_wait_until(t, netd_test_rx(a, s)->len == 5);
        assert_int_equal(shutdown(peer, SHUT_WR), 0);
        wait_close(a, s, false);
        netd_test_assert_trace(a, s, "connect ready data+ end close");
        err = scall_fail(a, "socket.end", s, json_pack("{s:s}", "data", "x"), -32001,
                         "ERR_STREAM_DESTROYED");
        json_decref(err);
        close(peer);
        close(lfd);
}

/* destroy with an error: socket.error with that message and code, then close hadError true. */
static void test_destroy_with_error(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s, s2, s3;
        json_t *ev;
        int lfd, lport, peer, peer2, peer3;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = connect_to_test(a, lfd, lport, NULL, &peer);
        scall_true(a, "socket.destroy", s,
                   json_pack("{s:{s:s,s:s}}", "error", "message", "boom", "code", "EBOOM"));
        wait_close(a, s, true);
        ev = netd_test_find_event(a, "socket.error", s);
        netd_test_assert_json(
                json_object_get(ev, "error"),
                "{\"code\":-32000,\"message\":\"boom\",\"data\":{\"code\":\"EBOOM\"}}");
        netd_test_assert_trace(a, s, "connect ready error close");
        assert_int_equal(netd_test_peer_end(t, peer), 0);
        /* Again: true, and nothing more. */
        scall_true(a, "socket.destroy", s, NULL);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        netd_test_assert_trace(a, s, "connect ready error close");

        /* An ERR_ code makes it -32001. */
        s2 = connect_to_test(a, lfd, lport, NULL, &peer2);
        scall_true(a, "socket.destroy", s2,
                   json_pack("{s:{s:s,s:s}}", "error", "message", "nope", "code", "ERR_MINE"));
        wait_close(a, s2, true);
        ev = netd_test_find_event(a, "socket.error", s2);
        netd_test_assert_json(
                json_object_get(ev, "error"),
                "{\"code\":-32001,\"message\":\"nope\",\"data\":{\"code\":\"ERR_MINE\"}}");

        /* Neither message nor code: "Error" and ERR_NETD_USER_ERROR. */
        s3 = connect_to_test(a, lfd, lport, NULL, &peer3);
        scall_true(a, "socket.destroy", s3, json_pack("{s:{}}", "error"));
        wait_close(a, s3, true);
        ev = netd_test_find_event(a, "socket.error", s3);
        netd_test_assert_json(json_object_get(ev, "error"),
                              "{\"code\":-32001,\"message\":\"Error\",\"data\":{\"code\":"
                              "\"ERR_NETD_USER_ERROR\"}}");
        close(peer);
        close(peer2);
        close(peer3);
        close(lfd);
}

/* resetAndDestroy: the peer sees ECONNRESET; locally only close, hadError false. */
static void test_reset_and_destroy(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s, s2;
        json_t *ev;
        int lfd, lport, peer;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = connect_to_test(a, lfd, lport, NULL, &peer);
        scall_true(a, "socket.resetAndDestroy", s, NULL);
        wait_close(a, s, false);
        netd_test_assert_trace(a, s, "connect ready close");
        assert_int_equal(netd_test_peer_end(t, peer), -ECONNRESET);
        close(peer);

        /* Never connected: destroyed with ERR_SOCKET_CLOSED (Node). */
        s2 = new_socket(a, NULL);
        scall_true(a, "socket.resetAndDestroy", s2, NULL);
        wait_close(a, s2, true);
        ev = netd_test_find_event(a, "socket.error", s2);
        netd_test_assert_str(ev, "error.data.code", "ERR_SOCKET_CLOSED");
        assert_int_equal(netd_test_int_at(ev, "error.code"), -32001);
        netd_test_assert_trace(a, s2, "error close");
        close(lfd);
}

/*
 * Destroyed before it connected: the writes waiting for the connection fail
 * with ERR_SOCKET_CLOSED_BEFORE_CONNECTION; no connect, no error, one close.
 */
static void test_destroy_before_connect(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        struct pending w, c, d, w2, e2;
        uint64_t s, s2;
        int lfd, lport;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);

        /* Never connected. */
        s = new_socket(a, NULL);
        call_async(a, "socket.write", json_pack("{s:I,s:s}", "socket", (json_int_t)s, "data", "x"),
                   &w);
        call_async(a, "socket.end", json_pack("{s:I,s:s}", "socket", (json_int_t)s, "data", "y"),
                   &e2);
        scall_true(a, "socket.destroy", s, NULL);
        netd_test_wait_until(t, w.done && e2.done);
        assert_non_null(w.error);
        netd_test_assert_str(w.error, "data.code", "ERR_SOCKET_CLOSED_BEFORE_CONNECTION");
        assert_int_equal(netd_test_int_at(w.error, "code"), -32001);
        assert_non_null(e2.error);
        netd_test_assert_str(e2.error, "data.code", "ERR_SOCKET_CLOSED_BEFORE_CONNECTION");
        wait_close(a, s, false);
        netd_test_assert_trace(a, s, "close");
        pending_done(&w);
        pending_done(&e2);

        /* The connect fails: the waiting write still never saw a connection. */
        {
                struct pending w3;
                uint64_t s3 = new_socket(a, NULL);
                int hold, hport;

                hold = netd_test_tcp_socket(false, &hport);
                call_async(a, "socket.write",
                           json_pack("{s:I,s:s}", "socket", (json_int_t)s3, "data", "x"), &w3);
                scall_true(a, "socket.connect", s3,
                           json_pack("{s:i,s:s}", "port", hport, "host", "127.0.0.1"));
                wait_close(a, s3, true);
                netd_test_wait_until(t, w3.done);
                assert_non_null(w3.error);
                netd_test_assert_str(w3.error, "data.code", "ERR_SOCKET_CLOSED_BEFORE_CONNECTION");
                netd_test_assert_trace(a, s3, "error close");
                netd_test_assert_str(netd_test_find_event(a, "socket.error", s3), "error.data.code",
                                     "ECONNREFUSED");
                pending_done(&w3);
                close(hold);
        }

        /* Connecting: the write, the connect and the destroy reach netd in one piece. */
        s2 = new_socket(a, NULL);
        call_async(a, "socket.write", json_pack("{s:I,s:s}", "socket", (json_int_t)s2, "data", "x"),
                   &w2);
        call_async(a, "socket.connect",
                   json_pack("{s:I,s:i,s:s}", "socket", (json_int_t)s2, "port", lport, "host",
                             "127.0.0.1"),
                   &c);
        call_async(a, "socket.destroy", netd_test_handle_params("socket", s2, NULL), &d);
        netd_test_wait_until(t, w2.done && c.done && d.done);
        assert_true(json_is_true(c.result));
        assert_true(json_is_true(d.result));
        assert_non_null(w2.error);
        netd_test_assert_str(w2.error, "data.code", "ERR_SOCKET_CLOSED_BEFORE_CONNECTION");
        wait_close(a, s2, false);
        netd_test_assert_trace(a, s2, "close");
        pending_done(&w2);
        pending_done(&c);
        pending_done(&d);
        close(lfd);
}

/* resetAndDestroy while connecting: the reset comes once connected (after connect, ready). */
static void test_reset_while_connecting(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        struct pending c, r;
        uint64_t s;
        int lfd, lport, peer;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = new_socket(a, NULL);
        call_async(a, "socket.connect",
                   json_pack("{s:I,s:i,s:s}", "socket", (json_int_t)s, "port", lport, "host",
                             "127.0.0.1"),
                   &c);
        call_async(a, "socket.resetAndDestroy", netd_test_handle_params("socket", s, NULL), &r);
        netd_test_wait_until(t, c.done && r.done);
        assert_true(json_is_true(c.result));
        assert_true(json_is_true(r.result));
        peer = tcp_accept(t, lfd);
        wait_close(a, s, false);
        netd_test_assert_trace(a, s, "connect ready close");
        assert_int_equal(netd_test_peer_end(t, peer), -ECONNRESET);
        pending_done(&c);
        pending_done(&r);
        close(peer);
        close(lfd);
}

/* socket.address: {} without a connection; ref/unref flip socket.get's ref. */
static void test_address_ref_unref(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s, s2;
        json_t *res, *g;
        char want[128];
        int lfd, lport, peer;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s2 = new_socket(a, NULL);
        res = scall(a, "socket.address", s2, NULL);
        netd_test_assert_json(res, "{}");
        json_decref(res);

        s = connect_to_test(a, lfd, lport, NULL, &peer);
        res = scall(a, "socket.address", s, NULL);
        snprintf(want, sizeof(want), "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":%d}",
                 remote_port(peer));
        netd_test_assert_json(res, want);
        json_decref(res);

        scall_true(a, "socket.unref", s, NULL);
        g = sget(a, s);
        assert_bool_at(g, "ref", false);
        json_decref(g);
        scall_true(a, "socket.ref", s, NULL);
        g = sget(a, s);
        assert_bool_at(g, "ref", true);
        json_decref(g);
        /* Before connecting too. */
        scall_true(a, "socket.unref", s2, NULL);
        g = sget(a, s2);
        assert_bool_at(g, "ref", false);
        json_decref(g);

        scall_true(a, "socket.destroy", s, NULL);
        wait_close(a, s, false);
        res = scall(a, "socket.address", s, NULL);
        netd_test_assert_json(res, "{}");
        json_decref(res);
        close(peer);
        close(lfd);
}

/* highWaterMark 0: every write is over the mark, so each is followed by a drain. */
static void test_high_water_mark_zero(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s, s2;
        json_t *g;
        int lfd, lport, peer, peer2;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = connect_to_test(a, lfd, lport, json_pack("{s:i}", "highWaterMark", 0), &peer);
        scall_true(a, "socket.write", s, json_pack("{s:s}", "data", "a"));
        (void)netd_test_wait_event(a, "socket.drain", s, NETD_TEST_TIMEOUT_MS);
        scall_true(a, "socket.write", s, json_pack("{s:s}", "data", "b"));
        (void)wait_nth_event(a, "socket.drain", s, 1);
        netd_test_peer_expect(t, peer, "ab");
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, "socket.drain", s), 2);

        /* The default mark (64 KiB): a small write has no drain. */
        s2 = connect_to_test(a, lfd, lport, NULL, &peer2);
        scall_true(a, "socket.write", s2, json_pack("{s:s}", "data", "c"));
        netd_test_peer_expect(t, peer2, "c");
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, "socket.drain", s2), 0);
        g = sget(a, s2);
        assert_int_equal(netd_test_int_at(g, "bufferSize"), 0);
        json_decref(g);
        close(peer);
        close(peer2);
        close(lfd);
}

/* ---- socket.get through a whole lifecycle --------------------------------------------------- */

static void test_get_every_property(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        struct pending conn, get;
        uint64_t s, srv, ss, h;
        json_t *g;
        char want[1024];
        int lfd, lport, peer, lp, port, hpeer;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = new_socket(a, NULL);
        g = sget(a, s);
        netd_test_assert_json(
                g, "{\"bytesRead\":0,\"bytesWritten\":0,\"bufferSize\":null,\"connecting\":false,"
                   "\"pending\":true,\"destroyed\":false,\"readyState\":\"closed\","
                   "\"localAddress\":null,\"localPort\":null,\"localFamily\":null,"
                   "\"remoteAddress\":null,\"remotePort\":null,\"remoteFamily\":null,"
                   "\"timeout\":null,\"encoding\":null,\"paused\":false,"
                   "\"autoSelectFamilyAttemptedAddresses\":null,\"ref\":true,\"server\":null,"
                   "\"attached\":false,\"pipe\":null}");
        json_decref(g);

        /* Connecting: the connect and the get reach netd together (one write). */
        call_async(a, "socket.connect",
                   json_pack("{s:I,s:i,s:s}", "socket", (json_int_t)s, "port", lport, "host",
                             "127.0.0.1"),
                   &conn);
        call_async(a, "socket.get", netd_test_handle_params("socket", s, NULL), &get);
        netd_test_wait_until(t, conn.done && get.done);
        assert_true(json_is_true(conn.result));
        g = get.result;
        assert_non_null(g);
        netd_test_assert_str(g, "readyState", "opening");
        assert_bool_at(g, "connecting", true);
        assert_bool_at(g, "pending", true);
        assert_bool_at(g, "destroyed", false);
        assert_int_equal(netd_test_int_at(g, "bufferSize"), 0);
        netd_test_assert_str(g, "remoteAddress", "127.0.0.1"); /* the address being tried */
        assert_int_equal(netd_test_int_at(g, "remotePort"), lport);
        pending_done(&conn);
        pending_done(&get);

        peer = tcp_accept(t, lfd);
        (void)netd_test_wait_event(a, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
        lp = remote_port(peer);
        scall_true(a, "socket.write", s, json_pack("{s:s}", "data", "abcd"));
        netd_test_peer_expect(t, peer, "abcd");
        peer_send(peer, "xyz", 3);
        netd_test_wait_until(t, netd_test_rx(a, s)->len == 3);
        scall_true(a, "socket.setEncoding", s, json_pack("{s:s}", "encoding", "hex"));
        scall_true(a, "socket.setTimeout", s, json_pack("{s:i}", "timeout", 600000));
        scall_true(a, "socket.pause", s, NULL);
        scall_true(a, "socket.unref", s, NULL);
        g = sget(a, s);
        snprintf(want, sizeof(want),
                 "{\"bytesRead\":3,\"bytesWritten\":4,\"bufferSize\":0,\"connecting\":false,"
                 "\"pending\":false,\"destroyed\":false,\"readyState\":\"open\","
                 "\"localAddress\":\"127.0.0.1\",\"localPort\":%d,\"localFamily\":\"IPv4\","
                 "\"remoteAddress\":\"127.0.0.1\",\"remotePort\":%d,\"remoteFamily\":\"IPv4\","
                 "\"timeout\":600000,\"encoding\":\"hex\",\"paused\":true,"
                 "\"autoSelectFamilyAttemptedAddresses\":null,\"ref\":false,\"server\":null,"
                 "\"attached\":false,\"pipe\":null}",
                 lp, lport);
        netd_test_assert_json(g, want);
        json_decref(g);
        scall_true(a, "socket.resume", s, NULL);
        scall_true(a, "socket.ref", s, NULL);

        /* Our end: readOnly. */
        scall_true(a, "socket.end", s, NULL);
        assert_int_equal(netd_test_peer_end(t, peer), 0);
        g = sget(a, s);
        netd_test_assert_str(g, "readyState", "readOnly");
        assert_bool_at(g, "pending", false);
        json_decref(g);

        /* The peer's end: closed; addresses and counters kept. */
        assert_int_equal(shutdown(peer, SHUT_WR), 0);
        wait_close(a, s, false);
        g = sget(a, s);
        snprintf(want, sizeof(want),
                 "{\"bytesRead\":3,\"bytesWritten\":4,\"bufferSize\":null,\"connecting\":false,"
                 "\"pending\":true,\"destroyed\":true,\"readyState\":\"closed\","
                 "\"localAddress\":\"127.0.0.1\",\"localPort\":%d,\"localFamily\":\"IPv4\","
                 "\"remoteAddress\":\"127.0.0.1\",\"remotePort\":%d,\"remoteFamily\":\"IPv4\","
                 "\"timeout\":600000,\"encoding\":\"hex\",\"paused\":false,"
                 "\"autoSelectFamilyAttemptedAddresses\":null,\"ref\":true,\"server\":null,"
                 "\"attached\":false,\"pipe\":null}",
                 lp, lport);
        netd_test_assert_json(g, want);
        json_decref(g);
        netd_test_assert_trace(a, s, "connect ready data+ end close");
        close(peer);

        /* writeOnly: the peer ended, allowHalfOpen keeps our side open. */
        h = connect_to_test(a, lfd, lport, json_pack("{s:b}", "allowHalfOpen", 1), &hpeer);
        assert_int_equal(shutdown(hpeer, SHUT_WR), 0);
        (void)netd_test_wait_event(a, "socket.end", h, NETD_TEST_TIMEOUT_MS);
        g = sget(a, h);
        netd_test_assert_str(g, "readyState", "writeOnly");
        json_decref(g);
        close(hpeer);

        /* An accepted socket names its server. */
        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, "127.0.0.1");
        (void)netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        ss = netd_test_conn_socket(
                netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS));
        g = sget(a, ss);
        assert_int_equal(netd_test_int_at(g, "server"), (json_int_t)srv);
        assert_int_equal(netd_test_int_at(g, "localPort"), port);
        netd_test_assert_str(g, "readyState", "open");
        json_decref(g);
        close(lfd);
}

/* ---- allowHalfOpen -------------------------------------------------------------------------- */

/* Default: the peer's FIN ends our side; nothing queued, so close at once. */
static void test_half_open_default(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s;
        json_t *err;
        int lfd, lport, peer;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = connect_to_test(a, lfd, lport, NULL, &peer);
        peer_send(peer, "last", 4);
        assert_int_equal(shutdown(peer, SHUT_WR), 0);
        assert_int_equal(netd_test_peer_end(t, peer), 0);
        wait_close(a, s, false);
        netd_test_assert_trace(a, s, "connect ready data+ end close");
        assert_int_equal(netd_test_rx(a, s)->len, 4);
        assert_false(netd_test_rx(a, s)->bad_order);
        err = scall_fail(a, "socket.write", s, json_pack("{s:s}", "data", "x"), -32001,
                         "ERR_STREAM_DESTROYED");
        json_decref(err);
        close(peer);
        close(lfd);
}

/*
 * Default, with data still queued when the peer's FIN comes: our side is
 * ending, and a write fails with EPIPE "This socket has been ended by the
 * other party" and destroys the socket with that error (Node's writeAfterFIN).
 */
static void test_half_open_default_write_after_fin(struct netd_test_daemon *t)
{
        static char chunk[256 * 1024];
        struct pending queued;
        struct netd_test_client *a;
        uint64_t s;
        json_t *err, *ev, *g;
        int lfd, lport, peer, small = 4096;
        json_int_t buffered = 0;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        (void)setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        s = connect_to_test(a, lfd, lport, NULL, &peer);

        /*
         * Fill the path until netd holds 1 MiB of unsent bytes (the peer reads
         * nothing): well over what the kernel's send buffer may still grow
         * by, and well under write_hard_bytes (8 MiB), which would hold the
         * socket.get requests.
         */
        memset(chunk, 'q', sizeof(chunk));
        for (int i = 0; i < 48 && buffered < 1024 * 1024; i++) {
                json_t *params = json_pack("{s:I,s:s#,s:s}", "socket", (json_int_t)s, "data", chunk,
                                           sizeof(chunk), "encoding", "latin1");

                assert_int_equal(netd_client_notify(a->c, "socket.write", params), 0);
                g = sget(a, s);
                buffered = netd_test_int_at(g, "bufferSize");
                json_decref(g);
        }
        assert_true(buffered >= 1024 * 1024);
        /* One more write that waits in the queue, handled before the FIN comes. */
        call_async(a, "socket.write",
                   json_pack("{s:I,s:s}", "socket", (json_int_t)s, "data", "queued"), &queued);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_false(queued.done);

        assert_int_equal(shutdown(peer, SHUT_WR), 0);
        (void)netd_test_wait_event(a, "socket.end", s, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_test_count_events(a, "socket.close", s), 0);
        err = scall_fail(a, "socket.write", s, json_pack("{s:s}", "data", "late"), -32000, "EPIPE");
        netd_test_assert_json(err, "{\"code\":-32000,\"message\":\"This socket has been ended by "
                                   "the other party\",\"data\":{\"code\":\"EPIPE\"}}");
        wait_close(a, s, true);
        ev = netd_test_find_event(a, "socket.error", s);
        assert_true(json_equal(json_object_get(ev, "error"), err));
        /* The write still queued fails with the socket's error (§10.3). */
        netd_test_wait_until(t, queued.done);
        assert_non_null(queued.error);
        assert_true(json_equal(queued.error, err));
        pending_done(&queued);
        json_decref(err);
        netd_test_assert_trace(a, s, "connect ready end error close");
        close(peer);
        close(lfd);
}

/* allowHalfOpen: after the peer's FIN the socket stays writable until socket.end. */
static void test_half_open_allowed(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s;
        int lfd, lport, peer;

        start(t);
        a = netd_test_connect(t);
        lfd = netd_test_tcp_socket(true, &lport);
        s = connect_to_test(a, lfd, lport, json_pack("{s:b}", "allowHalfOpen", 1), &peer);
        assert_int_equal(shutdown(peer, SHUT_WR), 0);
        (void)netd_test_wait_event(a, "socket.end", s, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, "socket.close", s), 0);
        scall_true(a, "socket.write", s, json_pack("{s:s}", "data", "one"));
        scall_true(a, "socket.write", s, json_pack("{s:s}", "data", "two"));
        netd_test_peer_expect(t, peer, "onetwo");
        scall_true(a, "socket.end", s, NULL);
        assert_int_equal(netd_test_peer_end(t, peer), 0);
        wait_close(a, s, false);
        netd_test_assert_trace(a, s, "connect ready end close");
        close(peer);
        close(lfd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST_MANUAL(test_connect_forms),
                NETD_TEST_MANUAL(test_socket_then_connect),
                NETD_TEST_MANUAL(test_reconnect_resets_counters),
                NETD_TEST_MANUAL(test_local_address_port),
                NETD_TEST_MANUAL(test_family_and_hints),
                NETD_TEST_MANUAL(test_invalid_connect_options),
                NETD_TEST_MANUAL(test_connect_timeout_option),
                NETD_TEST_MANUAL(test_auto_select_family),
                NETD_TEST_MANUAL(test_auto_select_family_all_fail),
                NETD_TEST_MANUAL(test_connect_refused_shape),
                NETD_TEST_MANUAL(test_set_encoding_every_encoding),
                NETD_TEST_MANUAL(test_set_encoding_invalid_utf8),
                NETD_TEST_MANUAL(test_keepalive_nodelay),
                NETD_TEST_MANUAL(test_set_timeout),
                NETD_TEST_MANUAL(test_timeout_suppressed_while_writing),
                NETD_TEST_MANUAL(test_pause_resume),
                NETD_TEST_MANUAL(test_end_with_data),
                NETD_TEST_MANUAL(test_destroy_with_error),
                NETD_TEST_MANUAL(test_reset_and_destroy),
                NETD_TEST_MANUAL(test_destroy_before_connect),
                NETD_TEST_MANUAL(test_reset_while_connecting),
                NETD_TEST_MANUAL(test_address_ref_unref),
                NETD_TEST_MANUAL(test_high_water_mark_zero),
                NETD_TEST_MANUAL(test_get_every_property),
                NETD_TEST_MANUAL(test_half_open_default),
                NETD_TEST_MANUAL(test_half_open_default_write_after_fin),
                NETD_TEST_MANUAL(test_half_open_allowed),
        };

        return cmocka_run_group_tests_name("integration/socket-api", tests, NULL, NULL);
}
