/*
 * Integration: moving bytes through netd. 1 MiB of random binary data goes
 * both ways at once between a netd server socket and a netd client socket
 * and must arrive byte for byte, with every handle's events in Node's order
 * (connect, ready, data..., end, close exactly once and last). Plain TCP
 * peers made by the test itself check each direction against a socket
 * netd does not own: all data arrives before 'end', and 'end' from netd
 * reaches the peer as EOF after the last byte.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netd-test.h"

#define DATA_BYTES       (1024 * 1024)
#define TRANSFER_TIMEOUT (30 * 1000)

struct end_result {
        bool done;
        bool ok;
        char error[128];
};

static void end_cb(struct netd_client *c, json_t *result, const struct netd_client_error *err,
                   void *userdata)
{
        struct end_result *e = userdata;

        e->done = true;
        e->ok = !err && json_is_true(result);
        if (err)
                snprintf(e->error, sizeof(e->error), "%s", err->message);
}

/* A connected pair: client socket *ret_cs owned by a, accepted socket *ret_ss owned by b. */
static void make_pair(struct netd_test_client *a, struct netd_test_client *b, json_t *srv_opts,
                      json_t *conn_opts, uint64_t *ret_srv, uint64_t *ret_cs, uint64_t *ret_ss)
{
        uint64_t srv, cs, ss = 0;
        json_t *conn, *addr;
        int port;

        srv = netd_test_create_server(b, srv_opts);
        port = netd_test_listen(b, srv, "127.0.0.1");
        cs = netd_test_connect_tcp(a, port, "127.0.0.1", conn_opts);
        conn = netd_test_wait_event(b, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_get_handle(conn, "socket", &ss), 0);
        (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);

        /* The connection event describes both ends, as Node's socket properties would. */
        addr = netd_test_call(a, "socket.address", json_pack("{s:I}", "socket", (json_int_t)cs));
        netd_test_assert_str(conn, "remoteAddress", "127.0.0.1");
        netd_test_assert_str(conn, "remoteFamily", "IPv4");
        assert_int_equal(json_integer_value(json_object_get(conn, "remotePort")),
                         json_integer_value(json_object_get(addr, "port")));
        netd_test_assert_str(conn, "localAddress", "127.0.0.1");
        assert_int_equal(json_integer_value(json_object_get(conn, "localPort")), port);
        json_decref(addr);

        *ret_srv = srv;
        *ret_cs = cs;
        *ret_ss = ss;
}

/* Asserts the socket's events read exactly want, and that 'close' said hadError false. */
static void assert_trace(struct netd_test_client *tc, uint64_t socket, const char *want)
{
        char *trace = netd_test_trace(tc, socket);
        json_t *close;

        if (strcmp(trace, want) != 0)
                fail_msg("events of socket %llu: \"%s\", expected \"%s\"",
                         (unsigned long long)socket, trace, want);
        free(trace);
        close = netd_test_find_event(tc, "socket.close", socket);
        assert_non_null(close);
        assert_true(json_is_false(json_object_get(close, "hadError")));
        assert_false(netd_test_rx(tc, socket)->bad_order);
}

static void test_both_directions_at_once(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t), *b = netd_test_connect(t);
        struct end_result ea = { 0 }, eb = { 0 };
        uint8_t *da = malloc(DATA_BYTES), *db = malloc(DATA_BYTES);
        uint64_t srv, cs, ss;

        assert_non_null(da);
        assert_non_null(db);
        netd_test_random_bytes(da, DATA_BYTES, 1);
        netd_test_random_bytes(db, DATA_BYTES, 2);
        /* allowHalfOpen on both ends: each side ends on its own request, so both may end at once.
         */
        make_pair(a, b, json_pack("{s:b}", "allowHalfOpen", 1),
                  json_pack("{s:b}", "allowHalfOpen", 1), &srv, &cs, &ss);

        netd_test_exchange(t, a, cs, da, DATA_BYTES, b, ss, db, DATA_BYTES, TRANSFER_TIMEOUT);

        assert_int_equal(netd_client_socket_end(a->c, cs, end_cb, &ea), 0);
        assert_int_equal(netd_client_socket_end(b->c, ss, end_cb, &eb), 0);
        netd_test_wait_until(t, ea.done && eb.done);
        if (!ea.ok || !eb.ok)
                fail_msg("socket.end failed: \"%s\" \"%s\"", ea.error, eb.error);
        (void)netd_test_wait_event(a, "socket.close", cs, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(b, "socket.close", ss, NETD_TEST_TIMEOUT_MS);
        /* Whatever was queued after 'close' arrives before these barriers. */
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_client_sync(b->c, NETD_TEST_TIMEOUT_MS), 0);

        assert_trace(a, cs, "connect ready data+ end close");
        assert_trace(b, ss, "data+ end close");
        {
                char *trace = netd_test_trace(b, srv);

                assert_string_equal(trace, "listening connection");
                free(trace);
        }
        assert_int_equal(netd_test_rx(a, cs)->len, DATA_BYTES);
        assert_int_equal(netd_test_rx(b, ss)->len, DATA_BYTES);
        free(da);
        free(db);
}

/*
 * Without allowHalfOpen (the default), ending one side makes the other end
 * too once it sees the FIN: both close cleanly with a single request.
 */
static void test_end_closes_both_sides(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t), *b = netd_test_connect(t);
        static const char hello[] = "hello, netd";
        uint64_t srv, cs, ss;

        make_pair(a, b, NULL, NULL, &srv, &cs, &ss);
        netd_test_exchange(t, a, cs, hello, sizeof(hello) - 1, b, ss, hello, sizeof(hello) - 1,
                           TRANSFER_TIMEOUT);
        netd_test_call_true(a, "socket.end", json_pack("{s:I}", "socket", (json_int_t)cs));
        (void)netd_test_wait_event(a, "socket.close", cs, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(b, "socket.close", ss, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_client_sync(b->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_trace(a, cs, "connect ready data+ end close");
        assert_trace(b, ss, "data+ end close");
}

/* Accepts the one connection on lfd, pumping the clients meanwhile. */
static int accept_peer(struct netd_test_daemon *t, int lfd)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        int fd;

        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        fail_msg("accept4: %s", strerror(errno));
                (void)netd_test_pump(t, lfd, POLLIN, deadline, "netd to connect");
        }
        return fd;
}

/* A plain TCP peer sends 1 MiB then FIN: every byte arrives as socket.data before socket.end. */
static void test_raw_peer_sends(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        uint8_t *data = malloc(DATA_BYTES);
        int64_t deadline = netd_test_deadline(TRANSFER_TIMEOUT);
        const struct netd_test_rx *rx;
        size_t sent = 0;
        bool peer_eof = false;
        int lfd, pfd, port;
        uint64_t cs;

        assert_non_null(data);
        netd_test_random_bytes(data, DATA_BYTES, 3);
        lfd = netd_test_tcp_socket(true, &port);
        cs = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        pfd = accept_peer(t, lfd);

        /* Send it all, then shut down our side; netd answers the FIN with its own (no half-open).
         */
        while (!peer_eof) {
                short want = sent < DATA_BYTES ? POLLOUT : POLLIN;
                short rev = netd_test_pump(t, pfd, want, deadline, "the raw peer's transfer");

                if ((rev & POLLOUT) && sent < DATA_BYTES) {
                        ssize_t n = send(pfd, data + sent, DATA_BYTES - sent, MSG_NOSIGNAL);

                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                fail_msg("send: %s", strerror(errno));
                        if (n > 0)
                                sent += (size_t)n;
                        if (sent == DATA_BYTES)
                                assert_int_equal(shutdown(pfd, SHUT_WR), 0);
                }
                if (rev & (POLLIN | POLLHUP | POLLERR)) {
                        char c;
                        ssize_t n = recv(pfd, &c, 1, 0);

                        if (n > 0)
                                fail_msg("netd sent data to the peer; it should only end");
                        if (n == 0)
                                peer_eof = true;
                        else if (errno != EAGAIN && errno != EINTR)
                                fail_msg("recv: %s", strerror(errno));
                }
        }
        (void)netd_test_wait_event(a, "socket.close", cs, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);

        rx = netd_test_rx(a, cs);
        assert_int_equal(a->decode_errors, 0);
        assert_true(rx->ended);
        assert_int_equal(rx->len, DATA_BYTES);
        assert_memory_equal(rx->buf, data, DATA_BYTES);
        assert_trace(a, cs, "connect ready data+ end close");
        close(pfd);
        close(lfd);
        free(data);
}

/* netd writes 1 MiB then ends: a plain TCP peer reads every byte, then EOF. */
static void test_raw_peer_receives(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        uint8_t *data = malloc(DATA_BYTES), *got = malloc(DATA_BYTES + 1);
        int64_t deadline = netd_test_deadline(TRANSFER_TIMEOUT);
        struct end_result e = { 0 };
        size_t n_got = 0, n_queued = 0;
        bool eof = false, end_sent = false;
        int lfd, pfd, port;
        uint64_t cs;

        assert_non_null(data);
        assert_non_null(got);
        netd_test_random_bytes(data, DATA_BYTES, 4);
        lfd = netd_test_tcp_socket(true, &port);
        cs = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        pfd = accept_peer(t, lfd);
        (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);

        /*
         * All writes are queued at once, without waiting for replies: netd
         * buffers them and keeps their order, and socket.end follows them.
         */
        while (n_queued < DATA_BYTES) {
                size_t len = DATA_BYTES - n_queued < NETD_TEST_CHUNK_BYTES ? DATA_BYTES - n_queued
                                                                           : NETD_TEST_CHUNK_BYTES;

                assert_int_equal(
                        netd_client_socket_write(a->c, cs, data + n_queued, len, NULL, NULL), 0);
                n_queued += len;
        }
        assert_int_equal(netd_client_socket_end(a->c, cs, end_cb, &e), 0);
        end_sent = true;
        while (!eof) {
                short rev = netd_test_pump(t, pfd, POLLIN, deadline, "the data at the raw peer");

                if (rev & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = recv(pfd, got + n_got, DATA_BYTES + 1 - n_got, 0);

                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                fail_msg("recv: %s", strerror(errno));
                        if (n == 0)
                                eof = true;
                        if (n > 0)
                                n_got += (size_t)n;
                }
        }
        assert_true(end_sent);
        assert_int_equal(n_got, DATA_BYTES);
        assert_memory_equal(got, data, DATA_BYTES);
        netd_test_wait_until(t, e.done);
        assert_true(e.ok);

        /* The peer's own FIN completes the close. */
        assert_int_equal(shutdown(pfd, SHUT_WR), 0);
        (void)netd_test_wait_event(a, "socket.close", cs, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_trace(a, cs, "connect ready end close");
        close(pfd);
        close(lfd);
        free(data);
        free(got);
}

/*
 * A client that stops reading its control connection makes netd stop
 * reading that client's sockets: the TCP peer stalls after a bounded
 * amount instead of netd buffering without limit. Once the client reads
 * again every byte arrives, none lost, in order.
 */
static void test_slow_reader_backpressure(struct netd_test_daemon *t)
{
        enum { PERIOD = 1024 * 1024 + 7, MAX_BYTES = 64 * 1024 * 1024, STALL_MS = 500 };
        struct netd_test_client *a = netd_test_connect(t);
        uint8_t *pat = malloc(PERIOD);
        const struct netd_test_rx *rx;
        size_t sent = 0;
        int lfd, pfd, port;
        uint64_t cs;

        assert_non_null(pat);
        netd_test_random_bytes(pat, PERIOD, 5);
        lfd = netd_test_tcp_socket(true, &port);
        cs = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        pfd = accept_peer(t, lfd);
        (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);

        /* A reads nothing now. The peer sends until it has been blocked for STALL_MS. */
        a->hold = true;
        while (sent < MAX_BYTES) {
                struct pollfd p = { .fd = pfd, .events = POLLOUT };
                size_t off = sent % PERIOD, len = PERIOD - off;
                ssize_t n;

                if (poll(&p, 1, STALL_MS) == 0)
                        break;
                n = send(pfd, pat + off, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        fail_msg("send: %s", strerror(errno));
                if (n > 0)
                        sent += (size_t)n;
        }
        if (sent >= MAX_BYTES)
                fail_msg("the peer sent %d MiB while the client read nothing: netd did not "
                         "stop reading the socket",
                         MAX_BYTES / (1024 * 1024));
        assert_int_equal(shutdown(pfd, SHUT_WR), 0);

        /* A reads again: everything arrives, then 'end'. */
        a->hold = false;
        (void)netd_test_wait_event(a, "socket.close", cs, 30 * 1000);
        rx = netd_test_rx(a, cs);
        assert_int_equal(a->decode_errors, 0);
        assert_int_equal(rx->len, sent);
        for (size_t i = 0; i < sent; i++)
                if (rx->buf[i] != pat[i % PERIOD])
                        fail_msg("byte %zu of %zu differs", i, sent);
        assert_trace(a, cs, "connect ready data+ end close");
        close(pfd);
        close(lfd);
        free(pat);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_both_directions_at_once),  NETD_TEST(test_end_closes_both_sides),
                NETD_TEST(test_raw_peer_sends),           NETD_TEST(test_raw_peer_receives),
                NETD_TEST(test_slow_reader_backpressure),
        };

        return cmocka_run_group_tests_name("integration/data", tests, NULL, NULL);
}
