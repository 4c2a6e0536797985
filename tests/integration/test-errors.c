/*
 * Integration: how failures reach the client. System errors carry Node's
 * error as one JSON-RPC error object {code, message, data} (PROTOCOL.md
 * §6.2), the same in the event and in the reply where a request waits on
 * it (ECONNREFUSED, EADDRINUSE, ENOTFOUND); handle mistakes are netd's own
 * ERR_NETD_* codes; stream misuse is Node's ERR_STREAM_* codes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netd-test.h"

#define RPC_INVALID_PARAMS (-32602)
#define RPC_SYSTEM_ERROR   (-32000)
#define RPC_NETD_ERROR     (-32001)

static json_t *socket_params(uint64_t socket)
{
        return json_pack("{s:I}", "socket", (json_int_t)socket);
}

static json_t *server_params(uint64_t server)
{
        return json_pack("{s:I}", "server", (json_int_t)server);
}

static void assert_trace(struct netd_test_client *tc, uint64_t subject, const char *want)
{
        char *trace = netd_test_trace(tc, subject);

        if (strcmp(trace, want) != 0)
                fail_msg("events of handle %llu: \"%s\", expected \"%s\"",
                         (unsigned long long)subject, trace, want);
        free(trace);
}

/*
 * A port bound but not listening refuses connections (the kernel answers
 * with RST) for as long as the test holds it, so nothing else can take it.
 */
static void test_connect_refused(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        char want[512];
        uint64_t s;
        int fd, port;

        fd = netd_test_tcp_socket(false, &port);
        s = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.close", s, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);

        assert_trace(a, s, "error close");
        snprintf(want, sizeof(want),
                 "{\"socket\":%llu,\"error\":{\"code\":-32000,"
                 "\"message\":\"connect ECONNREFUSED 127.0.0.1:%d\","
                 "\"data\":{\"code\":\"ECONNREFUSED\",\"errno\":-111,\"syscall\":\"connect\","
                 "\"address\":\"127.0.0.1\",\"port\":%d}}}",
                 (unsigned long long)s, port, port);
        netd_test_assert_json(netd_test_find_event(a, "socket.error", s), want);
        snprintf(want, sizeof(want), "{\"socket\":%llu,\"hadError\":true}", (unsigned long long)s);
        netd_test_assert_json(netd_test_find_event(a, "socket.close", s), want);
        close(fd);
}

static void test_listen_address_in_use(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        uint64_t s1, s2;
        json_t *err, *addr;
        char want[512];
        int port;

        s1 = netd_test_create_server(a, NULL);
        s2 = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, s1, "127.0.0.1");
        err = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:i,s:s}", "server", (json_int_t)s2, "port", port,
                                            "host", "127.0.0.1"),
                                  RPC_SYSTEM_ERROR, "EADDRINUSE");
        snprintf(want, sizeof(want),
                 "{\"code\":-32000,\"message\":\"listen EADDRINUSE: address already in use "
                 "127.0.0.1:%d\",\"data\":{\"code\":\"EADDRINUSE\",\"errno\":-98,"
                 "\"syscall\":\"listen\",\"address\":\"127.0.0.1\",\"port\":%d}}",
                 port, port);
        netd_test_assert_json(err, want);
        json_decref(err);

        /* The event came first (it precedes the reply on the wire) with the same error object. */
        assert_trace(a, s2, "error");
        snprintf(want, sizeof(want),
                 "{\"server\":%llu,\"error\":{\"code\":-32000,\"message\":\"listen EADDRINUSE: "
                 "address already in use 127.0.0.1:%d\",\"data\":{\"code\":\"EADDRINUSE\","
                 "\"errno\":-98,\"syscall\":\"listen\",\"address\":\"127.0.0.1\",\"port\":%d}}}",
                 (unsigned long long)s2, port, port);
        netd_test_assert_json(netd_test_find_event(a, "server.error", s2), want);

        /* A failed listen does not close the server (Node): it is simply not listening. */
        addr = netd_test_call(a, "server.address", server_params(s2));
        assert_true(json_is_null(addr));
        json_decref(addr);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_trace(a, s2, "error");
        assert_trace(a, s1, "listening");
}

static void test_lookup_not_found(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        /* The error object of replies, carried by both events (PROTOCOL.md §6.2). */
        static const char error[] =
                "{\"code\":-32000,\"message\":\"getaddrinfo ENOTFOUND nonexistent.invalid\","
                "\"data\":{\"code\":\"ENOTFOUND\",\"errno\":-3008,\"syscall\":\"getaddrinfo\","
                "\"hostname\":\"nonexistent.invalid\"}}";
        char want[1024];
        uint64_t s;

        s = netd_test_connect_tcp(a, 80, "nonexistent.invalid", NULL);
        (void)netd_test_wait_event(a, "socket.close", s, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);

        assert_trace(a, s, "lookup error close");
        snprintf(want, sizeof(want),
                 "{\"socket\":%llu,\"err\":%s,\"address\":null,\"family\":null,"
                 "\"host\":\"nonexistent.invalid\"}",
                 (unsigned long long)s, error);
        netd_test_assert_json(netd_test_find_event(a, "socket.lookup", s), want);
        snprintf(want, sizeof(want), "{\"socket\":%llu,\"error\":%s}", (unsigned long long)s,
                 error);
        netd_test_assert_json(netd_test_find_event(a, "socket.error", s), want);
        snprintf(want, sizeof(want), "{\"socket\":%llu,\"hadError\":true}", (unsigned long long)s);
        netd_test_assert_json(netd_test_find_event(a, "socket.close", s), want);
}

static void test_handle_not_found(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        json_t *err;

        err = netd_test_call_fail(a, "server.address", server_params(999999), RPC_NETD_ERROR,
                                  "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);
        err = netd_test_call_fail(a, "socket.write",
                                  json_pack("{s:I,s:s}", "socket", (json_int_t)888888, "data", "x"),
                                  RPC_NETD_ERROR, "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);
        /* A handle id is a positive integer: 0 is a bad parameter, not an unknown handle. */
        err = netd_test_call_fail(a, "server.address", server_params(0), RPC_INVALID_PARAMS, NULL);
        netd_test_assert_str(err, "data.field", "server");
        netd_test_assert_str(err, "data.code", "ERR_OUT_OF_RANGE");
        json_decref(err);
}

static void test_handle_wrong_type(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        uint64_t srv = netd_test_create_server(a, NULL);
        uint64_t s;
        json_t *err;
        int port;

        err = netd_test_call_fail(a, "socket.write",
                                  json_pack("{s:I,s:s}", "socket", (json_int_t)srv, "data", "x"),
                                  RPC_NETD_ERROR, "ERR_NETD_HANDLE_WRONG_TYPE");
        json_decref(err);
        port = netd_test_listen(a, srv, "127.0.0.1");
        s = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        err = netd_test_call_fail(a, "server.close", server_params(s), RPC_NETD_ERROR,
                                  "ERR_NETD_HANDLE_WRONG_TYPE");
        json_decref(err);
}

/* Another connection's handle does not exist for this one: same error as an unknown id. */
static void test_other_clients_handle(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t), *b = netd_test_connect(t);
        uint64_t srv = netd_test_create_server(a, NULL);
        uint64_t s, ss = 0;
        json_t *err, *conn;
        int port;

        port = netd_test_listen(a, srv, "127.0.0.1");
        s = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        conn = netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_get_handle(conn, "socket", &ss), 0);

        err = netd_test_call_fail(b, "server.close", server_params(srv), RPC_NETD_ERROR,
                                  "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);
        err = netd_test_call_fail(b, "socket.destroy", socket_params(s), RPC_NETD_ERROR,
                                  "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);
        err = netd_test_call_fail(b, "socket.get", socket_params(ss), RPC_NETD_ERROR,
                                  "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);

        /* B saw nothing of A's handles, and A's handles are untouched. */
        assert_int_equal(netd_client_sync(b->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(b->n_events, 0);
        err = netd_test_call(a, "server.getConnections", server_params(srv));
        assert_int_equal(json_integer_value(err), 1);
        json_decref(err);
}

static void test_server_already_listen(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        uint64_t srv = netd_test_create_server(a, NULL);
        json_t *err;

        (void)netd_test_listen(a, srv, "127.0.0.1");
        err = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv, "port", 0,
                                            "host", "127.0.0.1"),
                                  RPC_NETD_ERROR, "ERR_SERVER_ALREADY_LISTEN");
        json_decref(err);
}

static void test_write_after_destroy(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        uint64_t srv = netd_test_create_server(a, NULL);
        json_t *res, *err;
        uint64_t s;
        int port;

        port = netd_test_listen(a, srv, "127.0.0.1");
        s = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
        netd_test_call_true(a, "socket.destroy", socket_params(s));
        err = netd_test_call_fail(a, "socket.write",
                                  json_pack("{s:I,s:s}", "socket", (json_int_t)s, "data", "late"),
                                  RPC_NETD_ERROR, "ERR_STREAM_DESTROYED");
        json_decref(err);
        (void)netd_test_wait_event(a, "socket.close", s, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_trace(a, s, "connect ready close");
        /* Destroying it again is fine (Node: destroy() returns this every time). */
        netd_test_call_true(a, "socket.destroy", socket_params(s));
        /* Its final state stays readable after 'close'. */
        res = netd_test_call(a, "socket.get", socket_params(s));
        assert_true(json_is_true(json_object_get(res, "destroyed")));
        netd_test_assert_str(res, "readyState", "closed");
        json_decref(res);
        {
                char want[128];

                snprintf(want, sizeof(want), "{\"socket\":%llu,\"hadError\":false}",
                         (unsigned long long)s);
                netd_test_assert_json(netd_test_find_event(a, "socket.close", s), want);
        }
}

/*
 * The peer is a plain TCP listener that never reads nor closes, so after
 * socket.end netd's socket stays half-open (FIN sent, none received) and
 * the write meets the ended stream, not a destroyed one. As Node's
 * writeAfterEnd (autoDestroy), the write fails and the socket is destroyed
 * with that error.
 */
static void test_write_after_end(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        json_t *err;
        char want[256];
        int lfd, port;
        uint64_t s;

        lfd = netd_test_tcp_socket(true, &port);
        s = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
        netd_test_call_true(a, "socket.end", socket_params(s));
        /* A second end without data is fine. */
        netd_test_call_true(a, "socket.end", socket_params(s));
        err = netd_test_call_fail(a, "socket.write",
                                  json_pack("{s:I,s:s}", "socket", (json_int_t)s, "data", "late"),
                                  RPC_NETD_ERROR, "ERR_STREAM_WRITE_AFTER_END");
        json_decref(err);

        (void)netd_test_wait_event(a, "socket.close", s, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_trace(a, s, "connect ready error close");
        netd_test_assert_str(netd_test_find_event(a, "socket.error", s), "error.data.code",
                             "ERR_STREAM_WRITE_AFTER_END");
        assert_int_equal(json_integer_value(netd_test_get(
                                 netd_test_find_event(a, "socket.error", s), "error.code")),
                         RPC_NETD_ERROR);
        snprintf(want, sizeof(want), "{\"socket\":%llu,\"hadError\":true}", (unsigned long long)s);
        netd_test_assert_json(netd_test_find_event(a, "socket.close", s), want);
        close(lfd);
}

/*
 * socket.end with data after an earlier end is a write after end too
 * (PROTOCOL.md §6.4, §8.14; Node's end(data) writes first, and that write
 * fails): the reply is ERR_STREAM_WRITE_AFTER_END, not true.
 */
static void test_end_with_data_after_end(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        json_t *err;
        int lfd, port;
        uint64_t s;

        lfd = netd_test_tcp_socket(true, &port);
        s = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
        netd_test_call_true(a, "socket.end", socket_params(s));
        err = netd_test_call_fail(a, "socket.end",
                                  json_pack("{s:I,s:s}", "socket", (json_int_t)s, "data", "late"),
                                  RPC_NETD_ERROR, "ERR_STREAM_WRITE_AFTER_END");
        json_decref(err);
        close(lfd);
}

struct pending_writes {
        int outstanding;
        int failed;
        json_t *first_error; /* owned: the first failure, as {code, message, data} */
};

static void pending_write_cb(struct netd_client *c, json_t *result,
                             const struct netd_client_error *err, void *userdata)
{
        struct pending_writes *pw = userdata;

        pw->outstanding--;
        if (err) {
                pw->failed++;
                if (!pw->first_error) {
                        pw->first_error =
                                json_pack("{s:i,s:s}", "code", err->code, "message", err->message);
                        if (err->data)
                                json_object_set(pw->first_error, "data", err->data);
                }
        }
}

/*
 * Writing after the peer's FIN without allowHalfOpen, while netd's own FIN
 * still waits behind queued data (PROTOCOL.md §9.3, Node's writeAfterFIN):
 * the write fails with EPIPE and the socket is destroyed with that error;
 * the writes still queued fail with the same error.
 */
static void test_write_after_peer_fin(struct netd_test_daemon *t)
{
        enum { CHUNK = 256 * 1024, MAX_QUEUED = 7 * 1024 * 1024 };
        static const char epipe[] = "{\"code\":-32000,\"message\":\"This socket has been ended by "
                                    "the other party\",\"data\":{\"code\":\"EPIPE\"}}";
        struct netd_test_client *a = netd_test_connect(t);
        struct pending_writes pw = { 0 };
        uint8_t *chunk = calloc(1, CHUNK);
        size_t queued = 0;
        int lfd, pfd, port;
        json_t *err;
        char want[512];
        uint64_t s;

        assert_non_null(chunk);
        lfd = netd_test_tcp_socket(true, &port);
        /* Inherited by the accepted socket; a fixed size also stops its autotuning. */
        assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &(int){ 4096 }, sizeof(int)), 0);
        s = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.ready", s, NETD_TEST_TIMEOUT_MS);
        pfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        assert_true(pfd >= 0);

        /*
         * Fill the kernel's buffers (the peer never reads, and its receive
         * buffer is small) until netd holds at least 1 MiB it cannot write.
         */
        for (;;) {
                json_t *get;
                json_int_t buffered;

                if (queued >= MAX_QUEUED)
                        fail_msg("%d MiB written to a peer that does not read, and netd still "
                                 "has less than 1 MiB queued",
                                 MAX_QUEUED / (1024 * 1024));
                pw.outstanding++;
                assert_int_equal(
                        netd_client_socket_write(a->c, s, chunk, CHUNK, pending_write_cb, &pw), 0);
                queued += CHUNK;
                get = netd_test_call(a, "socket.get", socket_params(s));
                buffered = json_integer_value(json_object_get(get, "bufferSize"));
                json_decref(get);
                if (buffered >= 1024 * 1024)
                        break;
        }

        /* The peer's FIN: 'end' comes, and netd cannot end its side yet. */
        assert_int_equal(shutdown(pfd, SHUT_WR), 0);
        (void)netd_test_wait_event(a, "socket.end", s, NETD_TEST_TIMEOUT_MS);
        err = netd_test_call_fail(a, "socket.write",
                                  json_pack("{s:I,s:s}", "socket", (json_int_t)s, "data", "more"),
                                  -32000, "EPIPE");
        netd_test_assert_json(err, epipe);
        json_decref(err);

        (void)netd_test_wait_event(a, "socket.close", s, NETD_TEST_TIMEOUT_MS);
        netd_test_wait_until(t, pw.outstanding == 0);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        {
                char *trace = netd_test_trace(a, s);

                assert_string_equal(trace, "connect ready end error close");
                free(trace);
        }
        snprintf(want, sizeof(want), "{\"socket\":%llu,\"error\":%s}", (unsigned long long)s,
                 epipe);
        netd_test_assert_json(netd_test_find_event(a, "socket.error", s), want);
        assert_true(json_is_true(
                json_object_get(netd_test_find_event(a, "socket.close", s), "hadError")));
        /* The queued writes failed with the socket's error. */
        assert_true(pw.failed >= 1);
        netd_test_assert_json(pw.first_error, epipe);
        json_decref(pw.first_error);
        close(pfd);
        close(lfd);
        free(chunk);
}

/* At least the 64 most recently closed handles of a connection stay readable with *.get. */
static void test_closed_handles_stay_readable(struct netd_test_daemon *t)
{
        enum { N = 70, KEEP = 64 };
        struct netd_test_client *a = netd_test_connect(t);
        uint64_t ids[N];
        int fd, port;

        fd = netd_test_tcp_socket(false, &port);
        for (int i = 0; i < N; i++)
                ids[i] = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        for (int i = 0; i < N; i++)
                (void)netd_test_wait_event(a, "socket.close", ids[i], NETD_TEST_TIMEOUT_MS);
        for (int i = N - KEEP; i < N; i++) {
                json_t *res = netd_test_call(a, "socket.get", socket_params(ids[i]));

                assert_true(json_is_true(json_object_get(res, "destroyed")));
                netd_test_assert_str(res, "remoteAddress", "127.0.0.1");
                assert_int_equal(json_integer_value(json_object_get(res, "remotePort")), port);
                json_decref(res);
        }
        for (int i = 0; i < N; i++)
                assert_int_equal(netd_test_count_events(a, "socket.close", ids[i]), 1);
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_connect_refused),       NETD_TEST(test_listen_address_in_use),
                NETD_TEST(test_lookup_not_found),      NETD_TEST(test_handle_not_found),
                NETD_TEST(test_handle_wrong_type),     NETD_TEST(test_other_clients_handle),
                NETD_TEST(test_server_already_listen), NETD_TEST(test_write_after_destroy),
                NETD_TEST(test_write_after_end),       NETD_TEST(test_end_with_data_after_end),
                NETD_TEST(test_write_after_peer_fin),  NETD_TEST(test_closed_handles_stay_readable),
        };

        return cmocka_run_group_tests_name("integration/errors", tests, NULL, NULL);
}
