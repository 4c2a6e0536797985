/*
 * Integration: ten control connections at once, in one process. Each sets
 * up its own server and connection (the steps interleaved across clients,
 * so handle ids interleave too) and moves data both ways while the others
 * do the same. Handle ids are all distinct, and every event a client
 * receives is about one of its own handles.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netd-test.h"

#define N_CLIENTS  10
#define FLOW_BYTES (256 * 1024)

struct owner {
        struct netd_test_client *tc;
        uint64_t srv, cs, ss;
        int port;
};

static bool owns(const struct owner *o, uint64_t id)
{
        return id != 0 && (id == o->srv || id == o->cs || id == o->ss);
}

static void test_ten_clients(struct netd_test_daemon *t)
{
        struct owner o[N_CLIENTS] = { 0 };
        struct netd_test_flow flows[2 * N_CLIENTS];
        uint64_t ids[3 * N_CLIENTS];
        uint8_t *data = malloc(2 * N_CLIENTS * (size_t)FLOW_BYTES);

        assert_non_null(data);
        for (int i = 0; i < N_CLIENTS; i++)
                o[i].tc = netd_test_connect(t);
        for (int i = 0; i < N_CLIENTS; i++)
                o[i].srv = netd_test_create_server(o[i].tc, NULL);
        for (int i = 0; i < N_CLIENTS; i++)
                o[i].port = netd_test_listen(o[i].tc, o[i].srv, "127.0.0.1");
        for (int i = 0; i < N_CLIENTS; i++)
                o[i].cs = netd_test_connect_tcp(o[i].tc, o[i].port, "127.0.0.1", NULL);
        for (int i = 0; i < N_CLIENTS; i++) {
                json_t *conn = netd_test_wait_event(o[i].tc, "server.connection", o[i].srv,
                                                    NETD_TEST_TIMEOUT_MS);

                assert_int_equal(netd_client_get_handle(conn, "socket", &o[i].ss), 0);
                (void)netd_test_wait_event(o[i].tc, "socket.ready", o[i].cs, NETD_TEST_TIMEOUT_MS);
        }

        /* All distinct: ids are daemon-wide, never per connection. */
        for (int i = 0; i < N_CLIENTS; i++) {
                ids[3 * i] = o[i].srv;
                ids[3 * i + 1] = o[i].cs;
                ids[3 * i + 2] = o[i].ss;
        }
        for (int i = 0; i < 3 * N_CLIENTS; i++)
                for (int j = i + 1; j < 3 * N_CLIENTS; j++)
                        if (ids[i] == ids[j])
                                fail_msg("handle id %llu given twice", (unsigned long long)ids[i]);

        /* Everyone's data at once: 2 flows per client, each with its own bytes. */
        for (int i = 0; i < 2 * N_CLIENTS; i++) {
                uint8_t *d = data + (size_t)i * FLOW_BYTES;
                struct owner *w = &o[i / 2];

                netd_test_random_bytes(d, FLOW_BYTES, 100 + (uint64_t)i);
                flows[i] = (struct netd_test_flow){
                        .writer = w->tc,
                        .socket = i % 2 ? w->ss : w->cs,
                        .data = d,
                        .len = FLOW_BYTES,
                        .reader = w->tc,
                        .peer_socket = i % 2 ? w->cs : w->ss,
                };
        }
        netd_test_run_flows(t, flows, 2 * N_CLIENTS, 30 * 1000);

        /* Everyone ends; both sides close (no half-open). */
        for (int i = 0; i < N_CLIENTS; i++)
                assert_int_equal(netd_client_socket_end(o[i].tc->c, o[i].cs, NULL, NULL), 0);
        for (int i = 0; i < N_CLIENTS; i++) {
                (void)netd_test_wait_event(o[i].tc, "socket.close", o[i].cs, NETD_TEST_TIMEOUT_MS);
                (void)netd_test_wait_event(o[i].tc, "socket.close", o[i].ss, NETD_TEST_TIMEOUT_MS);
                assert_int_equal(netd_client_sync(o[i].tc->c, NETD_TEST_TIMEOUT_MS), 0);
        }

        for (int i = 0; i < N_CLIENTS; i++) {
                struct netd_test_client *tc = o[i].tc;

                for (size_t k = 0; k < tc->n_events; k++) {
                        const struct netd_test_event *ev = &tc->events[k];
                        uint64_t other = 0;

                        if (!owns(&o[i], ev->subject))
                                fail_msg("client %d got %s about handle %llu, not its own", i,
                                         ev->method, (unsigned long long)ev->subject);
                        if (strcmp(ev->method, "server.connection") == 0) {
                                assert_int_equal(
                                        netd_client_get_handle(ev->params, "socket", &other), 0);
                                assert_true(owns(&o[i], other));
                        }
                }
                assert_int_equal(netd_test_count_events(tc, "socket.close", o[i].cs), 1);
                assert_int_equal(netd_test_count_events(tc, "socket.close", o[i].ss), 1);
                assert_int_equal(netd_test_count_events(tc, "server.connection", 0), 1);
        }
        free(data);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_ten_clients),
        };

        return cmocka_run_group_tests_name("integration/clients", tests, NULL, NULL);
}
