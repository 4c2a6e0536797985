/*
 * Integration: every limit of PROTOCOL.md §13 exceeded (issue 4: each has a
 * default, a setting, one place where it is enforced, a counter in
 * netd.info, and a test that exceeds it). Each test starts netd with the
 * limit set (--limit=NAME=VALUE, --max-clients), checks that netd.info
 * reports the value, drives a client just past it and checks what the
 * protocol promises there and the counter. parseMaxBytes is covered by
 * test-badinput.c; the accept backoff at the descriptor limit and the
 * out_high_bytes pause by test-flow.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "encoding.h"
#include "netd-test.h"

#define MIB ((size_t)1024 * 1024)

/* inflightMax: 50 writes of 256 KiB to a peer that reads nothing, then a netd.sync. */
#define INFLIGHT_MAX    4
#define INFLIGHT_WRITES 50
#define INFLIGHT_CHUNK  (256 * 1024)

/* writeHardBytes: fire-and-forget writes far past the cap. */
#define WH_LIMIT      65536
#define WH_CHUNK      (64 * 1024)
#define WH_WRITES     (NETD_TEST_ASAN ? 128 : 256)
#define WH_RSS_GROWTH (16 * 1024) /* KiB netd may grow while the sibling fills up */

/* fdReserve: RLIMIT_NOFILE of the daemon, and the reserve. */
#define FDR_NOFILE  64
#define FDR_RESERVE 8

/* ---- Helpers ------------------------------------------------------------------------------- */

static json_t *netd_info(struct netd_test_client *tc)
{
        return netd_test_call(tc, "netd.info", NULL);
}

/* netd.info's limits.<name> (the --limit name) must be want. */
static void assert_limit(struct netd_test_client *tc, const char *name, json_int_t want)
{
        json_t *info = netd_info(tc);
        char path[64];

        snprintf(path, sizeof(path), "limits.%s", name);
        if (netd_test_int_at(info, path) != want)
                fail_msg("netd.info %s is %lld, netd was started with %lld", path,
                         (long long)netd_test_int_at(info, path), (long long)want);
        json_decref(info);
}

/* One counter of netd.info stats. */
static json_int_t stat(struct netd_test_client *tc, const char *name)
{
        json_t *info = netd_info(tc);
        char path[64];
        json_int_t v;

        snprintf(path, sizeof(path), "stats.%s", name);
        v = netd_test_int_at(info, path);
        json_decref(info);
        return v;
}

/* A client socket of tc connected to a new listener of the test; *ret_peer is the test's end. */
static uint64_t connect_to_peer(struct netd_test_client *tc, int *ret_lfd, int *ret_peer)
{
        int port, lfd = netd_test_tcp_socket(true, &port);
        uint64_t sock = netd_test_connect_tcp(tc, port, "127.0.0.1", NULL);

        *ret_peer = netd_test_accept_peer(lfd);
        *ret_lfd = lfd;
        (void)netd_test_wait_event(tc, "socket.ready", sock, NETD_TEST_TIMEOUT_MS);
        return sock;
}

/* The byte at stream position pos: which write it came from, and where in it. */
static uint8_t pattern_byte(uint64_t pos, size_t chunk)
{
        uint64_t k = pos / chunk;

        return (uint8_t)(k * 131 + (pos % chunk) * 7 + (pos % chunk) / 251);
}

static void pattern_fill(uint8_t *buf, uint64_t pos, size_t len, size_t chunk)
{
        for (size_t i = 0; i < len; i++)
                buf[i] = pattern_byte(pos + i, chunk);
}

/*
 * Reads what fd has now, checking each byte against the pattern at *got.
 * Returns false on a mismatch (*bad_at set) ; fails on EOF or an error.
 */
static bool pattern_pull(int fd, uint64_t *got, size_t chunk, uint64_t *bad_at)
{
        static uint8_t buf[256 * 1024];

        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n > 0) {
                        for (ssize_t i = 0; i < n; i++) {
                                if (buf[i] != pattern_byte(*got + (uint64_t)i, chunk)) {
                                        *bad_at = *got + (uint64_t)i;
                                        return false;
                                }
                        }
                        *got += (uint64_t)n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return true;
                fail_msg("the peer's connection ended after %" PRIu64 " bytes: %s", *got,
                         n == 0 ? "EOF" : strerror(errno));
        }
}

/* Parses line (freed) as JSON and compares it with the expected JSON text. */
static void assert_line_json(char *line, const char *expected)
{
        json_t *msg;

        if (!line)
                fail_msg("the daemon closed the connection, expected %s", expected);
        msg = json_loads(line, 0, NULL);
        if (!msg)
                fail_msg("the daemon sent invalid JSON: %s", line);
        netd_test_assert_json(msg, expected);
        json_decref(msg);
        free(line);
}

/* ---- inflightMax --------------------------------------------------------------------------- */

struct inflight_ctx {
        int order[INFLIGHT_WRITES + 1]; /* call indexes in reply order */
        bool refused[INFLIGHT_WRITES + 1];
        int n;
        int errors; /* errors other than the inflight_max refusal */
        char error[160];
};

struct inflight_call {
        struct inflight_ctx *ctx;
        int index;
};

static void inflight_cb(struct netd_client *c, json_t *result, const struct netd_client_error *err,
                        void *userdata)
{
        struct inflight_call *call = userdata;
        struct inflight_ctx *ctx = call->ctx;
        const char *limit = err ? json_string_value(json_object_get(err->data, "limit")) : NULL;

        if (err && err->code == -32001 && err->data_code &&
            strcmp(err->data_code, "ERR_NETD_LIMIT") == 0 && limit &&
            strcmp(limit, "inflight_max") == 0)
                ctx->refused[call->index] = true;
        else if ((err || !json_is_true(result)) && ctx->errors++ == 0)
                snprintf(ctx->error, sizeof(ctx->error), "call %d: %s", call->index,
                         err ? err->message : "reply is not true");
        if (ctx->n <= INFLIGHT_WRITES)
                ctx->order[ctx->n++] = call->index;
}

/*
 * With inflightMax 4, a client pipelines 50 socket.write requests (256 KiB,
 * each filled with its own number) to a peer that reads nothing, then a
 * netd.sync. netd never stops reading the client: once 4 writes wait for
 * the kernel, every further request is answered at once with
 * ERR_NETD_LIMIT naming inflight_max, before the peer reads a byte. When
 * the peer reads, the accepted writes complete in order and the peer gets
 * exactly their bytes, in order; a refused write sent nothing.
 */
static void test_inflight_max(struct netd_test_daemon *t)
{
        struct netd_test_client *tc = netd_test_connect(t);
        struct netd_test_client *info_client = netd_test_connect(t);
        static struct inflight_call calls[INFLIGHT_WRITES + 1];
        static struct inflight_ctx ctx;
        uint8_t *chunk = malloc(INFLIGHT_CHUNK);
        uint64_t sock, want = 0, got = 0;
        int lfd, peer, accepted = 0, refused = 0, next_chunk = 0;
        json_int_t held0;
        int64_t deadline;

        assert_non_null(chunk);
        memset(&ctx, 0, sizeof(ctx));
        assert_limit(info_client, "inflightMax", INFLIGHT_MAX);
        held0 = stat(info_client, "inputHeld");
        sock = connect_to_peer(tc, &lfd, &peer);
        for (int k = 0; k < INFLIGHT_WRITES; k++) {
                calls[k] = (struct inflight_call){ .ctx = &ctx, .index = k };
                memset(chunk, k + 1, INFLIGHT_CHUNK);
                assert_int_equal(netd_client_socket_write(tc->c, sock, chunk, INFLIGHT_CHUNK,
                                                          inflight_cb, &calls[k]),
                                 0);
        }
        calls[INFLIGHT_WRITES] = (struct inflight_call){ .ctx = &ctx, .index = INFLIGHT_WRITES };
        assert_int_equal(
                netd_client_call(tc->c, "netd.sync", NULL, inflight_cb, &calls[INFLIGHT_WRITES]),
                0);
        free(chunk);

        /* The peer reads nothing; all but the writes waiting for it are answered. */
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        while (ctx.n < INFLIGHT_WRITES + 1 - INFLIGHT_MAX) {
                if (netd_test_now_ms() >= deadline)
                        fail_msg("only %d of %d requests answered while the peer read nothing",
                                 ctx.n, INFLIGHT_WRITES + 1);
                (void)netd_test_pump(t, -1, 0, netd_test_deadline(20), "the refusals");
        }
        for (int k = 0; k <= INFLIGHT_WRITES; k++)
                refused += ctx.refused[k];
        printf("inflightMax: %d of %d requests answered before the peer read, %d of them "
               "refused (inflight_max)\n",
               ctx.n, INFLIGHT_WRITES + 1, refused);
        assert_true(refused > 0);
        assert_int_equal(stat(info_client, "inputHeld"), held0);
        assert_true(stat(info_client, "inflightRefused") >= refused);

        /* The peer reads: the accepted writes complete, their bytes arrive in order. */
        deadline = netd_test_deadline(30 * 1000);
        while (ctx.n < INFLIGHT_WRITES + 1) {
                if (netd_test_now_ms() >= deadline)
                        fail_msg("timed out: %d of %d replies", ctx.n, INFLIGHT_WRITES + 1);
                (void)netd_test_pump(t, peer, POLLIN, netd_test_deadline(50), "the replies");
                for (;;) {
                        static uint8_t buf[64 * 1024];
                        ssize_t r = recv(peer, buf, sizeof(buf), MSG_DONTWAIT);

                        if (r <= 0)
                                break;
                        for (ssize_t i = 0; i < r; i++, got++) {
                                if (got % INFLIGHT_CHUNK == 0) {
                                        while (next_chunk < INFLIGHT_WRITES &&
                                               ctx.refused[next_chunk])
                                                next_chunk++;
                                        next_chunk++;
                                }
                                if (buf[i] != (uint8_t)next_chunk)
                                        fail_msg("the peer's byte %" PRIu64 " came from write %d, "
                                                 "expected write %d",
                                                 got, buf[i] - 1, next_chunk - 1);
                        }
                }
        }
        if (ctx.errors)
                fail_msg("%d calls failed, the first: %s", ctx.errors, ctx.error);
        for (int k = 0; k < INFLIGHT_WRITES; k++)
                accepted += !ctx.refused[k];
        want = (uint64_t)accepted * INFLIGHT_CHUNK;
        while (got < want) {
                static uint8_t buf[64 * 1024];
                ssize_t r;

                (void)netd_test_pump(t, peer, POLLIN, netd_test_deadline(50), "the bytes");
                r = recv(peer, buf, sizeof(buf), MSG_DONTWAIT);
                if (r > 0)
                        got += (uint64_t)r;
                if (netd_test_now_ms() >= deadline)
                        fail_msg("the peer got %" PRIu64 " of %" PRIu64 " bytes", got, want);
        }
        /* Replies of accepted writes came in write order. */
        for (int i = 0, last = -1; i < ctx.n; i++) {
                int k = ctx.order[i];

                if (k == INFLIGHT_WRITES || ctx.refused[k])
                        continue;
                assert_true(k > last);
                last = k;
        }
        printf("inflightMax: %d writes accepted, %" PRIu64 " bytes delivered in order\n",
               accepted, got);
        assert_int_equal(got, want);
        /* The connection is served as before. */
        netd_test_call_true(tc, "netd.sync", NULL);
        close(peer);
        close(lfd);
}

/* ---- maxClients, maxClientsPerUid ---------------------------------------------------------- */

/* Waits until netd.info on tc shows want control connections. */
static void wait_connections(struct netd_test_daemon *t, struct netd_test_client *tc,
                             json_int_t want)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        for (;;) {
                json_t *info = netd_info(tc);
                json_int_t n = netd_test_int_at(info, "connections");

                json_decref(info);
                if (n == want)
                        return;
                if (netd_test_now_ms() >= deadline)
                        fail_msg("netd.info shows %lld connections, expected %lld", (long long)n,
                                 (long long)want);
                (void)netd_test_pump(t, -1, 0, netd_test_deadline(20), "connections");
        }
}

/* One refused control connection: exactly one error line naming limit, then EOF. */
static void expect_refused(struct netd_test_daemon *t, const char *limit)
{
        struct netd_test_raw r;
        char expected[256];

        snprintf(expected, sizeof(expected),
                 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32001,\"message\":"
                 "\"Too many control connections\",\"data\":{\"code\":\"ERR_NETD_LIMIT\","
                 "\"limit\":\"%s\"}}}",
                 limit);
        netd_test_raw_open(t, &r);
        assert_line_json(netd_test_raw_recv_line(&r, NETD_TEST_TIMEOUT_MS), expected);
        netd_test_raw_expect_eof(&r);
        netd_test_raw_close(&r);
}

/*
 * With --max-clients=3 the fourth control connection gets one error line
 * and EOF (connsRejected 1); once one of the three has gone, a new
 * connection is served.
 */
static void test_max_clients(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        struct netd_test_client *b = netd_test_connect(t);
        struct netd_test_client *c = netd_test_connect(t);
        struct netd_test_client *d;
        json_t *info;

        assert_limit(a, "maxClients", 3);
        json_decref(netd_info(b));
        json_decref(netd_info(c));
        expect_refused(t, "max_clients");

        info = netd_info(a);
        assert_int_equal(netd_test_int_at(info, "connections"), 3);
        assert_int_equal(netd_test_int_at(info, "stats.connsAccepted"), 3);
        assert_int_equal(netd_test_int_at(info, "stats.connsRejected"), 1);
        assert_int_equal(netd_test_int_at(info, "stats.connsRejectedUid"), 0);
        json_decref(info);

        netd_test_disconnect(c);
        wait_connections(t, a, 2);
        d = netd_test_connect(t);
        info = netd_info(d);
        assert_int_equal(netd_test_int_at(info, "connections"), 3);
        assert_int_equal(netd_test_int_at(info, "stats.connsRejected"), 1);
        json_decref(info);
        /* Full again. */
        expect_refused(t, "max_clients");
        assert_int_equal(stat(a, "connsRejected"), 2);
}

/* With maxClientsPerUid 2, a third connection of the same uid is refused. */
static void test_max_clients_per_uid(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        struct netd_test_client *b = netd_test_connect(t);
        struct netd_test_client *c;
        json_t *info;

        assert_limit(a, "maxClientsPerUid", 2);
        assert_limit(a, "maxClients", 256);
        json_decref(netd_info(b));
        expect_refused(t, "max_clients_per_uid");

        info = netd_info(a);
        assert_int_equal(netd_test_int_at(info, "connections"), 2);
        assert_int_equal(netd_test_int_at(info, "stats.connsRejectedUid"), 1);
        assert_int_equal(netd_test_int_at(info, "stats.connsRejected"), 1);
        json_decref(info);

        netd_test_disconnect(b);
        wait_connections(t, a, 1);
        c = netd_test_connect(t);
        assert_int_equal(stat(c, "connsRejectedUid"), 1);
}

/* ---- handlesPerConn ------------------------------------------------------------------------ */

/*
 * With handlesPerConn 5, a connection's sixth live handle is refused
 * (ERR_NETD_LIMIT) by every creating method, an accepted connection over
 * the limit is closed at once with no event, another connection has its
 * own budget, and a closed handle frees its slot.
 */
static void test_handles_per_conn(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        struct netd_test_client *b = netd_test_connect(t);
        uint64_t srv[5];
        char buf[16];
        json_t *err, *info;
        int port, fd;
        ssize_t n;

        assert_limit(a, "handlesPerConn", 5);
        for (int i = 0; i < 5; i++)
                srv[i] = netd_test_create_server(a, NULL);
        err = netd_test_call_fail(a, "net.createServer", json_object(), -32001, "ERR_NETD_LIMIT");
        json_decref(err);
        err = netd_test_call_fail(a, "net.connect",
                                  json_pack("{s:i,s:s}", "port", 9, "host", "127.0.0.1"), -32001,
                                  "ERR_NETD_LIMIT");
        json_decref(err);
        err = netd_test_call_fail(a, "net.Socket", json_object(), -32001, "ERR_NETD_LIMIT");
        json_decref(err);

        /* Every refusal is counted. */
        assert_true(stat(a, "handlesRefused") >= 3);

        /* Another connection is not affected. */
        json_decref(netd_test_call(b, "net.Socket", json_object()));

        /* An accepted connection would be a sixth handle: closed at once, no event. */
        port = netd_test_listen(a, srv[0], "127.0.0.1");
        fd = netd_test_tcp_socket(false, &(int){ 0 });
        {
                struct sockaddr_in sa = { .sin_family = AF_INET,
                                          .sin_port = htons((uint16_t)port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
                        fail_msg("connect: %s", strerror(errno));
        }
        (void)poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, NETD_TEST_TIMEOUT_MS);
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n != 0 && !(n < 0 && errno == ECONNRESET))
                fail_msg("the connection over the handle limit was not closed (recv %zd: %s)", n,
                         n < 0 ? strerror(errno) : "data");
        close(fd);
        json_decref(netd_test_call(a, "netd.sync", NULL));
        assert_int_equal(netd_test_count_events(a, "server.connection", 0), 0);

        info = netd_info(b);
        assert_int_equal(netd_test_int_at(info, "handles.servers"), 5);
        assert_int_equal(netd_test_int_at(info, "handles.sockets"), 1);
        assert_int_equal(netd_test_int_at(info, "stats.handlesCreated"), 6);
        json_decref(info);

        /* A closed handle no longer counts. */
        err = netd_test_call_fail(a, "server.close",
                                  json_pack("{s:I}", "server", (json_int_t)srv[4]), -32001,
                                  "ERR_SERVER_NOT_RUNNING");
        json_decref(err);
        (void)netd_test_create_server(a, NULL);
        err = netd_test_call_fail(a, "net.createServer", json_object(), -32001, "ERR_NETD_LIMIT");
        json_decref(err);
}

/* ---- frameMaxBytes ------------------------------------------------------------------------- */

/*
 * With frameMaxBytes 4096, a line of exactly 4096 bytes is served and one
 * byte more without a newline gets one error and EOF (oversizeLines 1).
 */
static void test_frame_max_bytes(struct netd_test_daemon *t)
{
        struct netd_test_client *tc = netd_test_connect(t);
        const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"netd.sync\"}";
        char line[4096 + 2];
        struct netd_test_raw r;

        assert_limit(tc, "frameMaxBytes", 4096);
        assert_int_equal(stat(tc, "oversizeLines"), 0);

        /* At the limit: JSON padded with white space to 4096 bytes. */
        memset(line, ' ', sizeof(line));
        memcpy(line, req, strlen(req));
        line[4096] = '\n';
        netd_test_raw_open(t, &r);
        netd_test_raw_send(&r, line, 4097);
        assert_line_json(netd_test_raw_recv_line(&r, NETD_TEST_TIMEOUT_MS),
                         "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true}");

        /* One byte over, no newline: detected as soon as it is buffered. */
        netd_test_raw_send(&r, line, 4097 - 1);
        netd_test_raw_send(&r, " ", 1);
        assert_line_json(netd_test_raw_recv_line(&r, NETD_TEST_TIMEOUT_MS),
                         "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
                         "\"message\":\"Invalid Request: line longer than 4096 bytes\","
                         "\"data\":{\"code\":\"ERR_NETD_LIMIT\",\"limit\":\"frame_max_bytes\","
                         "\"max\":4096}}}");
        netd_test_raw_expect_eof(&r);
        netd_test_raw_close(&r);
        assert_int_equal(stat(tc, "oversizeLines"), 1);
}

/* ---- batchMax ------------------------------------------------------------------------------ */

/* A batch of n net.createServer requests with ids 1..n, sent on r; returns its reply. */
static json_t *send_batch(struct netd_test_raw *r, int n)
{
        json_t *batch = json_array();
        char *text;

        for (int i = 1; i <= n; i++)
                json_array_append_new(batch, json_pack("{s:s,s:i,s:s}", "jsonrpc", "2.0", "id", i,
                                                       "method", "net.createServer"));
        text = json_dumps(batch, JSON_COMPACT);
        assert_non_null(text);
        netd_test_raw_send_str(r, text);
        netd_test_raw_send_str(r, "\n");
        free(text);
        json_decref(batch);
        return netd_test_raw_recv(r);
}

/* Asserts reply is an array answering ids 1..n exactly once each, all with a server. */
static void assert_batch_ok(json_t *reply, int n)
{
        bool seen[128] = { false };
        size_t i;
        json_t *m;

        assert_true(json_is_array(reply));
        assert_int_equal(json_array_size(reply), n);
        json_array_foreach(reply, i, m) {
                json_int_t id = netd_test_int_at(m, "id");

                assert_true(id >= 1 && id <= n && !seen[id]);
                seen[id] = true;
                assert_true(netd_test_int_at(m, "result.server") > 0);
        }
}

/* One entry over batch_max: a single -32600 object and no entry executed; at the limit: all. */
static void batch_case(struct netd_test_daemon *t, int max)
{
        struct netd_test_client *tc = netd_test_connect(t);
        struct netd_test_raw r;
        char expected[256];
        json_t *reply, *info;

        assert_limit(tc, "batchMax", max);
        netd_test_raw_open(t, &r);
        reply = send_batch(&r, max + 1);
        snprintf(expected, sizeof(expected),
                 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
                 "\"Invalid Request: batch of more than %d entries\"}}",
                 max);
        netd_test_assert_json(reply, expected);
        json_decref(reply);
        info = netd_info(tc);
        assert_int_equal(netd_test_int_at(info, "stats.handlesCreated"), 0);
        assert_int_equal(netd_test_int_at(info, "handles.servers"), 0);
        json_decref(info);

        /* The connection stays usable, and a batch at the limit runs every entry. */
        reply = send_batch(&r, max);
        assert_batch_ok(reply, max);
        json_decref(reply);
        assert_int_equal(stat(tc, "handlesCreated"), max);
        netd_test_raw_close(&r);
}

static void test_batch_max_default(struct netd_test_daemon *t)
{
        batch_case(t, 64);
}

static void test_batch_max_setting(struct netd_test_daemon *t)
{
        batch_case(t, 3);
}

/* ---- outHardBytes + stallTimeoutMs --------------------------------------------------------- */

/*
 * With outHardBytes 64 KiB and stallTimeoutMs 500, a client whose peer
 * floods it and that reads nothing on its control connection is cut once
 * its output has been over the cap for 500 ms without progress
 * (connsStalled 1): it reads what was sent and then EOF, its handles are
 * gone, its peer's connection is closed, and the other client is served.
 */
static void test_stall_timeout(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        struct netd_test_client *b = netd_test_connect(t);
        static uint8_t flood[64 * 1024];
        uint64_t sock, flooded = 0;
        int64_t start, deadline, stalled_ms = -1, next_info = 0;
        bool peer_closed = false;
        int lfd, peer;
        size_t data_events;
        json_t *info;

        assert_limit(b, "outHardBytes", 65536);
        assert_limit(b, "stallTimeoutMs", 500);
        assert_int_equal(stat(b, "connsStalled"), 0);
        sock = connect_to_peer(a, &lfd, &peer);
        pattern_fill(flood, 0, sizeof(flood), sizeof(flood));

        /* From now on the client reads nothing. */
        a->hold = true;
        start = netd_test_now_ms();
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        while (stalled_ms < 0) {
                int64_t now = netd_test_now_ms();

                if (now >= deadline)
                        fail_msg("the client was not cut: connsStalled %lld after %" PRId64
                                 " ms, %" PRIu64 " bytes flooded",
                                 (long long)stat(b, "connsStalled"), now - start, flooded);
                while (!peer_closed) {
                        ssize_t n = send(peer, flood, sizeof(flood), MSG_DONTWAIT | MSG_NOSIGNAL);

                        if (n > 0) {
                                flooded += (uint64_t)n;
                                continue;
                        }
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                break;
                        peer_closed = true; /* netd closed it: EPIPE or ECONNRESET */
                }
                if (now >= next_info) {
                        if (stat(b, "connsStalled") == 1)
                                stalled_ms = netd_test_now_ms() - start;
                        next_info = netd_test_now_ms() + 20;
                }
                (void)poll(&(struct pollfd){ .fd = peer, .events = POLLOUT }, 1, 20);
        }
        printf("stall: the client was cut %" PRId64 " ms after the flood began (%" PRIu64
               " KiB flooded)\n",
               stalled_ms, flooded / 1024);
        assert_true(stalled_ms >= 500);

        info = netd_info(b);
        assert_int_equal(netd_test_int_at(info, "stats.connsStalled"), 1);
        assert_int_equal(netd_test_int_at(info, "connections"), 1);
        assert_int_equal(netd_test_int_at(info, "handles.sockets"), 0);
        json_decref(info);

        /* When it finally reads: what was queued before the cut, then the end. */
        a->hold = false;
        netd_test_wait_until(t, a->lost);
        data_events = netd_test_count_events(a, "socket.data", sock);
        printf("stall: the client read %zu socket.data events, then %s\n", data_events,
               strerror(-a->lost_error));
        assert_int_equal(a->lost_error, -ECONNRESET);
        assert_true(data_events > 0);

        /* The peer's connection went with the client's handles. */
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        while (!peer_closed) {
                static uint8_t sink[64 * 1024];
                ssize_t n = recv(peer, sink, sizeof(sink), MSG_DONTWAIT);

                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                        peer_closed = true;
                else if (n < 0 && netd_test_now_ms() >= deadline)
                        fail_msg("the peer's connection is still open after the client was cut");
                else if (n < 0)
                        (void)poll(&(struct pollfd){ .fd = peer, .events = POLLIN }, 1, 50);
        }
        close(peer);
        close(lfd);
}

/* ---- writeHardBytes ------------------------------------------------------------------------ */

struct wh_write {
        bool done, ok, refused;
        char limit[32];
};

static void wh_write_cb(struct netd_client *c, json_t *result, const struct netd_client_error *err,
                        void *userdata)
{
        struct wh_write *w = userdata;
        const char *limit = err ? json_string_value(json_object_get(err->data, "limit")) : NULL;

        w->done = true;
        w->ok = json_is_true(result);
        w->refused = err && err->data_code && strcmp(err->data_code, "ERR_NETD_LIMIT") == 0;
        snprintf(w->limit, sizeof(w->limit), "%s", limit ? limit : "");
}

/* socket.write of chunk k of the pattern, with an id; netd.sync makes a refusal arrive first. */
static void wh_write(struct netd_test_client *tc, uint64_t sock, int k, uint8_t *raw,
                     struct wh_write *w)
{
        *w = (struct wh_write){ .done = false };
        pattern_fill(raw, (uint64_t)k * WH_CHUNK, WH_CHUNK, WH_CHUNK);
        assert_int_equal(netd_client_socket_write(tc->c, sock, raw, WH_CHUNK, wh_write_cb, w), 0);
        netd_test_call_true(tc, "netd.sync", NULL);
}

/*
 * With writeHardBytes 64 KiB and a peer that reads nothing: a write with an
 * id that would pass the cap is refused at once (ERR_NETD_LIMIT naming
 * write_hard_bytes) and the socket stays open; once the peer reads and
 * socket.drain comes, the same write is sent again and succeeds: the peer
 * gets every chunk once, in order. Fire-and-forget writes (16 MiB of
 * notifications) on a sibling whose peer reads nothing: once its queue
 * would pass the cap, netd destroys that one socket with the same error
 * ('error', then 'close' with hadError) instead of holding the client; the
 * first socket and the connection stay served, netd's RSS stays bounded.
 */
static void test_write_hard_bytes(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        struct netd_test_client *b = netd_test_connect(t);
        uint64_t sock, sock2, got = 0, bad_at = UINT64_MAX;
        uint8_t *raw = malloc(WH_CHUNK);
        char *b64 = malloc(WH_CHUNK * 2);
        struct wh_write w;
        int64_t deadline;
        long rss0, rss1;
        int lfd, peer, lfd2, peer2, k, refused_at = -1;
        json_t *res, *ev;
        size_t drains;

        assert_non_null(raw);
        assert_non_null(b64);
        assert_limit(b, "writeHardBytes", WH_LIMIT);
        sock = connect_to_peer(a, &lfd, &peer);
        sock2 = connect_to_peer(a, &lfd2, &peer2);
        rss0 = netd_test_daemon_rss_kb(t);

        /* Requests with an id, until one is refused. */
        for (k = 0; k < WH_WRITES && refused_at < 0; k++) {
                wh_write(a, sock, k, raw, &w);
                if (w.done && !w.ok) {
                        if (!w.refused || strcmp(w.limit, "write_hard_bytes") != 0)
                                fail_msg("write %d failed, but not by write_hard_bytes", k);
                        refused_at = k;
                }
        }
        if (refused_at < 0)
                fail_msg("%d writes of %d KiB to a peer that reads nothing, none refused",
                         WH_WRITES, WH_CHUNK / 1024);
        res = netd_test_call(a, "socket.get", json_pack("{s:I}", "socket", (json_int_t)sock));
        netd_test_assert_str(res, "readyState", "open");
        json_decref(res);
        printf("writeHardBytes: write %d (with an id) refused, the socket still open\n",
               refused_at);

        /* The peer reads; after the next socket.drain the refused write goes through. */
        drains = netd_test_count_events(a, "socket.drain", sock);
        deadline = netd_test_deadline(30 * 1000);
        while (netd_test_count_events(a, "socket.drain", sock) == drains) {
                if (netd_test_now_ms() >= deadline)
                        fail_msg("no socket.drain after the peer read %" PRIu64 " bytes", got);
                (void)netd_test_pump(t, peer, POLLIN, netd_test_deadline(50), "the drain");
                if (!pattern_pull(peer, &got, WH_CHUNK, &bad_at))
                        fail_msg("the peer's byte %" PRIu64 " is not what was written", bad_at);
        }
        wh_write(a, sock, refused_at, raw, &w);
        while (!w.done || got < (uint64_t)(refused_at + 1) * WH_CHUNK) {
                if (netd_test_now_ms() >= deadline || (w.done && !w.ok))
                        fail_msg("the retried write: done %d, ok %d, refused %d (%s), peer got "
                                 "%" PRIu64,
                                 w.done, w.ok, w.refused, w.limit, got);
                (void)netd_test_pump(t, peer, POLLIN, netd_test_deadline(50), "the retry");
                if (!pattern_pull(peer, &got, WH_CHUNK, &bad_at))
                        fail_msg("the peer's byte %" PRIu64 " is not what was written", bad_at);
        }
        assert_true(w.ok);
        assert_int_equal(got, (uint64_t)(refused_at + 1) * WH_CHUNK);

        /* Notifications on the sibling, whose peer reads nothing: that socket is destroyed. */
        for (k = 0; k < WH_WRITES; k++) {
                size_t len;

                pattern_fill(raw, (uint64_t)k * WH_CHUNK, WH_CHUNK, WH_CHUNK);
                len = netd_base64_encode(raw, WH_CHUNK, b64, 0);
                assert_int_equal(
                        netd_client_notify(a->c, "socket.write",
                                           json_pack("{s:I,s:s%,s:s}", "socket", (json_int_t)sock2,
                                                     "data", b64, len, "encoding", "base64")),
                        0);
        }
        ev = netd_test_wait_event(a, "socket.error", sock2, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(ev, "error.data.code", "ERR_NETD_LIMIT");
        netd_test_assert_str(ev, "error.data.limit", "write_hard_bytes");
        ev = netd_test_wait_event(a, "socket.close", sock2, NETD_TEST_TIMEOUT_MS);
        assert_true(json_is_true(json_object_get(ev, "hadError")));
        netd_test_call_true(a, "netd.sync", NULL);
        rss1 = netd_test_daemon_rss_kb(t);
        printf("writeHardBytes: %d MiB of notifications: the sibling destroyed with "
               "ERR_NETD_LIMIT; stats.socketsLimited %lld; netd RSS %ld -> %ld KiB\n",
               WH_WRITES * WH_CHUNK / (1024 * 1024), (long long)stat(b, "socketsLimited"), rss0,
               rss1);
        assert_true(stat(b, "socketsLimited") >= 1);
        if (rss1 - rss0 >= WH_RSS_GROWTH)
                fail_msg("netd grew by %ld KiB", rss1 - rss0);

        /* The first socket still works. */
        wh_write(a, sock, refused_at + 1, raw, &w);
        deadline = netd_test_deadline(30 * 1000);
        while (!w.done || got < (uint64_t)(refused_at + 2) * WH_CHUNK) {
                if (netd_test_now_ms() >= deadline)
                        fail_msg("the first socket's write after the sibling's end never arrived");
                (void)netd_test_pump(t, peer, POLLIN, netd_test_deadline(50), "the write");
                if (!pattern_pull(peer, &got, WH_CHUNK, &bad_at))
                        fail_msg("the peer's byte %" PRIu64 " is not what was written", bad_at);
        }
        assert_true(w.ok);
        free(raw);
        free(b64);
        close(peer);
        close(lfd);
        close(peer2);
        close(lfd2);
}

/* Writes 64 KiB chunks with ids to sock until one is refused; returns the limit's name. */
static const char *write_until_refused(struct netd_test_client *tc, uint64_t sock, uint8_t *raw,
                                       struct wh_write *w)
{
        for (int k = 0; k < 4096; k++) {
                wh_write(tc, sock, k, raw, w);
                if (w->done && !w->ok) {
                        assert_true(w->refused);
                        return w->limit;
                }
        }
        fail_msg("4096 writes to a peer that reads nothing, none refused");
        return NULL;
}

/*
 * connWriteBytes (1 MiB) counts all sockets of one connection: once one
 * socket holds it, a write to its sibling with an empty queue is refused
 * naming conn_write_bytes. totalWriteBytes (1.5 MiB) counts every
 * connection: another client is refused naming total_write_bytes once the
 * daemon's queues reach it. Peers read nothing.
 */
static void test_conn_and_total_write_bytes(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t), *b = netd_test_connect(t);
        uint8_t *raw = malloc(WH_CHUNK);
        static struct wh_write w;
        int lfd1, p1, lfd2, p2, lfd3, p3;
        uint64_t s1 = connect_to_peer(a, &lfd1, &p1), s2 = connect_to_peer(a, &lfd2, &p2);
        uint64_t s3 = connect_to_peer(b, &lfd3, &p3);
        json_t *res;

        assert_non_null(raw);
        assert_limit(a, "connWriteBytes", 1024 * 1024);
        assert_limit(a, "totalWriteBytes", 1536 * 1024);
        assert_string_equal(write_until_refused(a, s1, raw, &w), "conn_write_bytes");
        wh_write(a, s2, 0, raw, &w);
        assert_true(w.done && w.refused);
        assert_string_equal(w.limit, "conn_write_bytes");
        res = netd_test_call(a, "socket.get", json_pack("{s:I}", "socket", (json_int_t)s2));
        assert_int_equal(netd_test_int_at(res, "bufferSize"), 0);
        json_decref(res);
        assert_string_equal(write_until_refused(b, s3, raw, &w), "total_write_bytes");
        printf("connWriteBytes/totalWriteBytes: a sibling with an empty queue refused by "
               "conn_write_bytes; another client refused by total_write_bytes\n");
        free(raw);
        close(p1);
        close(lfd1);
        close(p2);
        close(lfd2);
        close(p3);
        close(lfd3);
}

/* ---- fdReserve ----------------------------------------------------------------------------- */

/* Waits for socket.connect (true) or socket.error (false) about sock. */
static bool connect_outcome(struct netd_test_client *tc, uint64_t sock)
{
        netd_test_wait_until(tc->t, netd_test_find_event(tc, "socket.connect", sock) ||
                                            netd_test_find_event(tc, "socket.error", sock));
        return netd_test_find_event(tc, "socket.connect", sock) != NULL;
}

/*
 * netd runs with RLIMIT_NOFILE 64 (so 32 descriptors for sockets and
 * clients) and fdReserve 8: sockets are refused (EMFILE) exactly when they
 * would eat into the reserve (fdRefused), a listen too, while new control
 * connections are still served from the reserve.
 */
static void test_fd_reserve(struct netd_test_daemon *t)
{
        const char *const args[] = { "--limit=fdReserve=8", NULL };
        struct netd_test_client *a, *extra[4];
        struct rlimit saved, low;
        uint64_t socks[64], srv, last;
        size_t n = 0, expected;
        int port, lfd;
        json_t *info, *ev, *err;

        if (getrlimit(RLIMIT_NOFILE, &saved) < 0)
                fail_msg("getrlimit: %s", strerror(errno));
        low = saved;
        low.rlim_cur = FDR_NOFILE;
        if (setrlimit(RLIMIT_NOFILE, &low) < 0)
                fail_msg("setrlimit: %s", strerror(errno));
        netd_test_launch(t, args);
        if (setrlimit(RLIMIT_NOFILE, &saved) < 0)
                fail_msg("setrlimit: %s", strerror(errno));
        assert_int_equal(netd_test_daemon_nofile(t), FDR_NOFILE);

        a = netd_test_connect(t);
        info = netd_info(a);
        assert_int_equal(netd_test_int_at(info, "limits.fdReserve"), FDR_RESERVE);
        /* netd keeps 32 descriptors for itself. */
        assert_int_equal(netd_test_int_at(info, "stats.fdsMax"), FDR_NOFILE - 32);
        assert_int_equal(netd_test_int_at(info, "stats.fdRefused"), 0);
        expected = (size_t)(netd_test_int_at(info, "stats.fdsMax") - FDR_RESERVE -
                            netd_test_int_at(info, "stats.fdsOpen"));
        json_decref(info);

        lfd = netd_test_tcp_socket(true, &port);
        if (listen(lfd, 128) < 0) /* the connections wait in the backlog, never accepted */
                fail_msg("listen: %s", strerror(errno));
        for (;;) {
                assert_true(n < sizeof(socks) / sizeof(socks[0]));
                socks[n] = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
                if (!connect_outcome(a, socks[n]))
                        break;
                n++;
        }
        printf("fdReserve: %zu sockets connected, the next one refused (expected %zu)\n", n,
               expected);
        assert_int_equal(n, expected);
        ev = netd_test_find_event(a, "socket.error", socks[n]);
        netd_test_assert_str(ev, "error.data.code", "EMFILE");
        netd_test_assert_str(ev, "error.data.syscall", "connect");
        assert_int_equal(netd_test_int_at(ev, "error.code"), -32000);
        ev = netd_test_wait_event(a, "socket.close", socks[n], NETD_TEST_TIMEOUT_MS);
        assert_true(json_is_true(json_object_get(ev, "hadError")));
        assert_int_equal(stat(a, "fdRefused"), 1);

        /* A listen needs a descriptor too. */
        srv = netd_test_create_server(a, NULL);
        err = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv, "port", 0,
                                            "host", "127.0.0.1"),
                                  -32000, "EMFILE");
        json_decref(err);
        assert_int_equal(stat(a, "fdRefused"), 2);

        /* A socket closed gives its descriptor back. */
        json_decref(netd_test_call(a, "socket.destroy",
                                   json_pack("{s:I}", "socket", (json_int_t)socks[0])));
        (void)netd_test_wait_event(a, "socket.close", socks[0], NETD_TEST_TIMEOUT_MS);
        last = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        assert_true(connect_outcome(a, last));

        /* Control connections are served from the reserve. */
        for (int i = 0; i < 4; i++) {
                extra[i] = netd_test_connect(t);
                info = netd_info(extra[i]);
                assert_int_equal(netd_test_int_at(info, "connections"), 2 + i);
                json_decref(info);
        }
        info = netd_info(a);
        printf("fdReserve: %lld descriptors counted of %lld, fdRefused %lld, netd has %d open\n",
               (long long)netd_test_int_at(info, "stats.fdsOpen"),
               (long long)netd_test_int_at(info, "stats.fdsMax"),
               (long long)netd_test_int_at(info, "stats.fdRefused"), netd_test_daemon_fds(t));
        assert_true(netd_test_int_at(info, "stats.fdsOpen") >
                    netd_test_int_at(info, "stats.fdsMax") - FDR_RESERVE);
        json_decref(info);
        close(lfd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST_ARGS(test_inflight_max, "--limit=inflightMax=4"),
                NETD_TEST_ARGS(test_max_clients, "--max-clients=3"),
                NETD_TEST_ARGS(test_max_clients_per_uid, "--limit=maxClientsPerUid=2"),
                NETD_TEST_ARGS(test_handles_per_conn, "--limit=handlesPerConn=5"),
                NETD_TEST_ARGS(test_frame_max_bytes, "--limit=frameMaxBytes=4096"),
                NETD_TEST(test_batch_max_default),
                NETD_TEST_ARGS(test_batch_max_setting, "--limit=batchMax=3"),
                NETD_TEST_ARGS(test_stall_timeout, "--limit=outHardBytes=65536",
                               "--limit=stallTimeoutMs=500"),
                NETD_TEST_ARGS(test_write_hard_bytes, "--limit=writeHardBytes=65536"),
                NETD_TEST_ARGS(test_conn_and_total_write_bytes, "--limit=connWriteBytes=1048576",
                               "--limit=totalWriteBytes=1572864"),
                NETD_TEST_MANUAL(test_fd_reserve),
        };

        setvbuf(stdout, NULL, _IONBF, 0);
        netd_test_asan_small_quarantine();
        return cmocka_run_group_tests_name("integration/limits", tests, NULL, NULL);
}
