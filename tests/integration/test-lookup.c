/*
 * Integration: connecting by host name. "localhost" is resolved by netd
 * (evdns, /etc/hosts): one socket.lookup per address (err null, address,
 * family 4 or 6, host) before socket.connect, and the connection works.
 * The server listens on "::" (dual stack), so whichever address comes
 * first accepts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netd-test.h"

static void test_localhost_lookup_then_connect(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        static const char ping[] = "ping over localhost";
        uint64_t srv, s, ss = 0;
        size_t n_lookup = 0;
        long i_connect;
        json_t *conn;
        char *trace;
        int port;

        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, NULL);
        s = netd_test_connect_tcp(a, port, "localhost", NULL);
        (void)netd_test_wait_event(a, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
        conn = netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_get_handle(conn, "socket", &ss), 0);

        /* Every lookup comes before connect, and is well formed. */
        i_connect = netd_test_event_index(a, "socket.connect", s);
        assert_true(i_connect >= 0);
        for (long i = 0; i < i_connect; i++) {
                const struct netd_test_event *ev = &a->events[i];
                json_t *p = ev->params;
                const char *address;
                json_int_t family;

                if (ev->subject != s)
                        continue;
                assert_string_equal(ev->method, "socket.lookup");
                n_lookup++;
                assert_true(json_is_null(json_object_get(p, "err")));
                netd_test_assert_str(p, "host", "localhost");
                assert_true(json_is_integer(json_object_get(p, "family")));
                family = json_integer_value(json_object_get(p, "family"));
                assert_true(family == 4 || family == 6);
                address = json_string_value(json_object_get(p, "address"));
                assert_non_null(address);
                /* net.isIP agrees with the family netd reported. */
                {
                        json_t *v =
                                netd_test_call(a, "net.isIP", json_pack("{s:s}", "input", address));

                        assert_int_equal(json_integer_value(v), family);
                        json_decref(v);
                }
        }
        assert_true(n_lookup >= 1);
        assert_int_equal(netd_test_count_events(a, "socket.lookup", s), n_lookup);

        /* The connection carries data. */
        netd_test_exchange(t, a, s, ping, sizeof(ping) - 1, a, ss, ping, sizeof(ping) - 1,
                           NETD_TEST_TIMEOUT_MS);
        trace = netd_test_trace(a, s);
        {
                /* "lookup" once per address, then the rest. */
                char want[256] = "";

                for (size_t i = 0; i < n_lookup; i++)
                        strcat(want, "lookup ");
                strcat(want, "connect ready data+");
                assert_string_equal(trace, want);
        }
        free(trace);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_localhost_lookup_then_connect),
        };

        return cmocka_run_group_tests_name("integration/lookup", tests, NULL, NULL);
}
