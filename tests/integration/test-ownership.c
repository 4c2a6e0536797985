/*
 * Integration: a control connection owns its handles. When a client goes
 * away its servers stop listening and its sockets close at once, like a
 * process exit: another client can listen on the same port right after
 * netd has seen the disconnect, and the daemon's fd count is back to where
 * it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "netd-test.h"

/* Waits (with netd.info round trips, bounded) until netd counts n control connections. */
static json_t *wait_connections(struct netd_test_client *tc, json_int_t n)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        for (;;) {
                json_t *info = netd_test_call(tc, "netd.info", NULL);
                json_int_t have = json_integer_value(json_object_get(info, "connections"));

                if (have == n)
                        return info;
                json_decref(info);
                if (netd_test_now_ms() >= deadline)
                        fail_msg("netd still counts %lld connections, expected %lld",
                                 (long long)have, (long long)n);
        }
}

static void test_disconnect_releases_everything(struct netd_test_daemon *t)
{
        struct netd_test_client *a, *b = netd_test_connect(t);
        uint64_t srv, s, srv2;
        json_t *info, *res;
        int fds_before, port;

        info = wait_connections(b, 1);
        json_decref(info);
        fds_before = netd_test_daemon_fds(t);

        /* A: a listening server, a connection to it (both ends are A's), data in flight. */
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, "127.0.0.1");
        s = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        res = netd_test_call(a, "socket.write",
                             json_pack("{s:I,s:s}", "socket", (json_int_t)s, "data", "bye"));
        json_decref(res);
        info = netd_test_call(b, "netd.info", NULL);
        assert_int_equal(json_integer_value(json_object_get(info, "connections")), 2);
        netd_test_assert_json(json_object_get(info, "handles"), "{\"servers\":1,\"sockets\":2}");
        json_decref(info);
        /* 1 control connection + 1 listening socket + 2 TCP sockets. */
        assert_int_equal(netd_test_daemon_fds(t), fds_before + 4);

        netd_test_disconnect(a);
        info = wait_connections(b, 1);
        netd_test_assert_json(json_object_get(info, "handles"), "{\"servers\":0,\"sockets\":0}");
        json_decref(info);
        assert_int_equal(netd_test_daemon_fds(t), fds_before);

        /* The port is free the first time: no retry. */
        srv2 = netd_test_create_server(b, NULL);
        res = netd_test_call(b, "server.listen",
                             json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv2, "port", port,
                                       "host", "127.0.0.1"));
        assert_int_equal(json_integer_value(json_object_get(res, "port")), port);
        json_decref(res);
        /* A's ids are gone for good; B's new server got a fresh one (never reused, §7.1). */
        assert_true(srv2 != s && srv2 != srv);
        res = netd_test_call_fail(b, "server.close", json_pack("{s:I}", "server", (json_int_t)srv),
                                  -32001, "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(res);

        netd_test_call_true(b, "server.close", json_pack("{s:I}", "server", (json_int_t)srv2));
        assert_int_equal(netd_test_daemon_fds(t), fds_before);
}

/*
 * Many clients come and go, each leaving a server, a connection and
 * unread data behind: fds return to the baseline every time and memory
 * stays bounded (a generous bound: RSS is noisy, ASan's quarantine too).
 */
static void test_repeated_disconnects(struct netd_test_daemon *t)
{
        struct netd_test_client *b = netd_test_connect(t);
        int fds_before;
        long rss_before, rss_after;
        json_t *info;

        info = wait_connections(b, 1);
        json_decref(info);
        fds_before = netd_test_daemon_fds(t);
        rss_before = netd_test_daemon_rss_kb(t);
        for (int i = 0; i < 30; i++) {
                struct netd_test_client *a = netd_test_connect(t);
                uint64_t srv = netd_test_create_server(a, NULL);
                int port = netd_test_listen(a, srv, "127.0.0.1");
                uint64_t s = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);

                /* Fire and forget: the disconnect may come before or after netd handles it. */
                assert_int_equal(netd_client_notify(a->c, "socket.write",
                                                    json_pack("{s:I,s:s}", "socket", (json_int_t)s,
                                                              "data", "x")),
                                 0);
                assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
                netd_test_disconnect(a);
                info = wait_connections(b, 1);
                json_decref(info);
                assert_int_equal(netd_test_daemon_fds(t), fds_before);
        }
        rss_after = netd_test_daemon_rss_kb(t);
        if (rss_after - rss_before > 16 * 1024)
                fail_msg("netd grew from %ld to %ld KiB over 30 client lifetimes", rss_before,
                         rss_after);
}

/*
 * A client leaves with requests still in flight: lookups (connect and
 * listen by name), writes waiting on a peer that never reads, and requests
 * netd has not read yet. netd drops their replies, frees everything and
 * keeps serving (under ASan this also checks there is no use after free).
 */
static void test_disconnect_mid_request(struct netd_test_daemon *t)
{
        struct netd_test_client *b = netd_test_connect(t);
        uint8_t *big = calloc(1, 4 * 1024 * 1024);
        int fds_before, lfd, port;
        json_t *info;

        assert_non_null(big);
        info = wait_connections(b, 1);
        json_decref(info);
        fds_before = netd_test_daemon_fds(t);
        lfd = netd_test_tcp_socket(true, &port);
        for (int i = 0; i < 5; i++) {
                struct netd_test_client *a = netd_test_connect(t);
                uint64_t srv = netd_test_create_server(a, NULL);
                uint64_t s = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);

                (void)netd_test_wait_event(a, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
                /* 4 MiB to a peer that never reads: the write stays pending in netd. */
                assert_int_equal(
                        netd_client_socket_write(a->c, s, big, 4 * 1024 * 1024, NULL, NULL), 0);
                assert_int_equal(netd_client_net_create_connection(a->c, 80, "nonexistent.invalid",
                                                                   NULL, NULL),
                                 0);
                assert_int_equal(
                        netd_client_net_create_connection(a->c, port, "localhost", NULL, NULL), 0);
                assert_int_equal(
                        netd_client_server_listen(a->c, srv, 0, "localhost", -1, NULL, NULL), 0);
                assert_int_equal(netd_client_server_close(a->c, srv, NULL, NULL), 0);
                /* Push the requests out, without waiting for any reply. */
                while (netd_client_wants_write(a->c))
                        (void)netd_test_pump(t, -1, 0, netd_test_deadline(NETD_TEST_TIMEOUT_MS),
                                             "the requests to be sent");
                netd_test_disconnect(a);
                info = wait_connections(b, 1);
                netd_test_assert_json(json_object_get(info, "handles"),
                                      "{\"servers\":0,\"sockets\":0}");
                json_decref(info);
        }
        /* The connections netd made to the listener: accepted by the kernel, closed by netd. */
        close(lfd);
        info = wait_connections(b, 1);
        json_decref(info);
        /* netd opens its resolver's socket on first use: allow that one. */
        {
                int fds = netd_test_daemon_fds(t);

                if (fds != fds_before && fds != fds_before + 1)
                        fail_msg("netd has %d fds open, %d before", fds, fds_before);
        }
        free(big);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_disconnect_releases_everything),
                NETD_TEST(test_repeated_disconnects),
                NETD_TEST(test_disconnect_mid_request),
        };

        return cmocka_run_group_tests_name("integration/ownership", tests, NULL, NULL);
}
