/*
 * Integration: isolation inside one control connection and between
 * clients (PROTOCOL.md §12). Each test is a scenario of issue 9 as a real
 * program meets it: a paused socket beside a 16 MiB writer, a stalled
 * sibling beside a healthy stream (measured), fire-and-forget writes to a
 * slow peer, server.listen on a descriptor that cannot listen, many
 * unanswered lookups of one client beside another's, 10,000 mixed requests
 * counted reply by reply, and a SIGTERM with queued and unread data.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "encoding.h"
#include "netd-test.h"

#define MIB ((size_t)1024 * 1024)

static json_t *netd_info(struct netd_test_client *tc)
{
        return netd_test_call(tc, "netd.info", NULL);
}

/* socket.write notifications of data (base64, chunk bytes each). */
static void notify_writes(struct netd_test_client *tc, uint64_t sock, const uint8_t *data,
                          size_t len, size_t chunk)
{
        char *b64 = malloc(NETD_BASE64_ENCODED_MAX(chunk) + 1);

        assert_non_null(b64);
        for (size_t off = 0; off < len; off += chunk) {
                size_t n = len - off < chunk ? len - off : chunk;
                size_t b = netd_base64_encode(data + off, n, b64, 0);

                assert_int_equal(
                        netd_client_notify(tc->c, "socket.write",
                                           json_pack("{s:I,s:s%,s:s}", "socket", (json_int_t)sock,
                                                     "data", b64, b, "encoding", "base64")),
                        0);
        }
        free(b64);
}

/* A server of tc on 127.0.0.1, a socket connected to it, and the accepted socket. */
static void socket_pair(struct netd_test_client *tc, uint64_t *ret_a, uint64_t *ret_b)
{
        uint64_t srv = netd_test_create_server(tc, NULL), b = 0;
        int port = netd_test_listen(tc, srv, "127.0.0.1");
        json_t *conn;

        *ret_a = netd_test_connect_tcp(tc, port, "127.0.0.1", NULL);
        conn = netd_test_wait_event(tc, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_get_handle(conn, "socket", &b), 0);
        (void)netd_test_wait_event(tc, "socket.ready", *ret_a, NETD_TEST_TIMEOUT_MS);
        *ret_b = b;
}

/*
 * One control connection: a server, socket A connected to it, the accepted
 * socket B paused; 16 MiB to A as 64 socket.write notifications of 256 KiB,
 * then socket.resume B. The resume is answered at once (netd keeps reading
 * the connection while B's data waits), and B then receives all 16 MiB, in
 * order. Node runs the same program: it buffers, write() returns false.
 */
static void test_paused_sibling_resume(struct netd_test_daemon *t)
{
        struct netd_test_client *tc = netd_test_connect(t);
        const size_t total = 16 * MIB;
        uint8_t *data = malloc(total);
        uint64_t a, b;
        int64_t start, deadline;
        json_t *res;

        assert_non_null(data);
        netd_test_random_bytes(data, total, 0x16A1B);
        socket_pair(tc, &a, &b);
        netd_test_call_true(tc, "socket.pause", json_pack("{s:I}", "socket", (json_int_t)b));
        notify_writes(tc, a, data, total, 256 * 1024);
        start = netd_test_now_ms();
        netd_test_call_true(tc, "socket.resume", json_pack("{s:I}", "socket", (json_int_t)b));
        printf("paused sibling: socket.resume answered %" PRId64 " ms after 16 MiB of writes\n",
               netd_test_now_ms() - start);
        deadline = netd_test_deadline(60 * 1000);
        while (netd_test_rx(tc, b)->len < total) {
                if (netd_test_now_ms() >= deadline)
                        fail_msg("B received %zu of %zu bytes", netd_test_rx(tc, b)->len, total);
                (void)netd_test_pump(t, -1, 0, netd_test_deadline(50), "B's data");
        }
        assert_int_equal(netd_test_rx(tc, b)->len, total);
        assert_memory_equal(netd_test_rx(tc, b)->buf, data, total);
        res = netd_test_call(tc, "socket.get", json_pack("{s:I}", "socket", (json_int_t)a));
        assert_int_equal(netd_test_int_at(res, "bytesWritten"), (json_int_t)total);
        json_decref(res);
        printf("paused sibling: B received all 16 MiB in %" PRId64 " ms\n",
               netd_test_now_ms() - start);
        free(data);
}

/* The median of three transfers over fresh socket pairs of tc, MB/s. */
static double median_flow(struct netd_test_daemon *t, struct netd_test_client *tc,
                          const uint8_t *data, size_t len);

/* Moves len bytes a -> b (both sockets of tc) through netd; returns MB/s. */
static double measure_flow(struct netd_test_daemon *t, struct netd_test_client *tc, uint64_t a,
                           uint64_t b, const uint8_t *data, size_t len)
{
        struct netd_test_flow f = {
                .writer = tc,
                .socket = a,
                .data = data,
                .len = len,
                .reader = tc,
                .peer_socket = b,
        };
        int64_t start = netd_test_now_ms(), ms;

        netd_test_run_flows(t, &f, 1, 120 * 1000);
        ms = netd_test_now_ms() - start;
        return (double)len / 1e6 / ((double)(ms > 0 ? ms : 1) / 1000.0);
}

static double median_flow(struct netd_test_daemon *t, struct netd_test_client *tc,
                          const uint8_t *data, size_t len)
{
        double v[3], tmp;

        for (int i = 0; i < 3; i++) {
                uint64_t a, b;

                socket_pair(tc, &a, &b);
                v[i] = measure_flow(t, tc, a, b, data, len);
                netd_test_call_true(tc, "socket.destroy",
                                    json_pack("{s:I}", "socket", (json_int_t)a));
        }
        for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2 - i; j++)
                        if (v[j] > v[j + 1]) {
                                tmp = v[j];
                                v[j] = v[j + 1];
                                v[j + 1] = tmp;
                        }
        return v[1];
}

/*
 * A socket whose remote peer stops reading, its queue full to
 * writeHardBytes (8 MiB here; further writes refused with ERR_NETD_LIMIT),
 * beside a healthy sibling on the same control connection: the sibling
 * keeps at least half of the throughput it had alone (medians of three
 * transfers each, over fresh pairs: this machine is shared and noisy).
 */
static void test_stalled_sibling_throughput(struct netd_test_daemon *t)
{
        struct netd_test_client *tc = netd_test_connect(t);
        const size_t len = NETD_TEST_ASAN ? 4 * MIB : 16 * MIB;
        uint8_t *data = malloc(len);
        uint8_t *chunk = calloc(1, 256 * 1024);
        uint64_t stalled;
        double solo, beside;
        int port, lfd = netd_test_tcp_socket(true, &port), peer;
        bool refused = false;
        json_t *res, *info;

        assert_non_null(data);
        assert_non_null(chunk);
        netd_test_random_bytes(data, len, 0x51B);
        solo = median_flow(t, tc, data, len);

        stalled = netd_test_connect_tcp(tc, port, "127.0.0.1", NULL);
        peer = netd_test_accept_peer(lfd);
        (void)netd_test_wait_event(tc, "socket.ready", stalled, NETD_TEST_TIMEOUT_MS);
        for (int k = 0; k < 1024 && !refused; k++) {
                char b64[NETD_BASE64_ENCODED_MAX(256 * 1024) + 1];
                size_t n = netd_base64_encode(chunk, 256 * 1024, b64, 0);
                json_t *params = json_pack("{s:I,s:s%,s:s}", "socket", (json_int_t)stalled, "data",
                                           b64, n, "encoding", "base64");

                /* A write that fits is answered only when flushed, which never comes: notify. */
                res = netd_test_call(tc, "socket.get",
                                     json_pack("{s:I}", "socket", (json_int_t)stalled));
                if (netd_test_int_at(res, "bufferSize") + 256 * 1024 > 8 * (json_int_t)MIB) {
                        json_decref(params);
                        json_decref(res);
                        res = netd_test_call_fail(tc, "socket.write",
                                                  json_pack("{s:I,s:s%,s:s}", "socket",
                                                            (json_int_t)stalled, "data", b64, n,
                                                            "encoding", "base64"),
                                                  -32001, "ERR_NETD_LIMIT");
                        netd_test_assert_str(res, "data.limit", "write_hard_bytes");
                        refused = true;
                } else {
                        assert_int_equal(netd_client_notify(tc->c, "socket.write", params), 0);
                }
                json_decref(res);
        }
        assert_true(refused);
        beside = median_flow(t, tc, data, len);
        info = netd_info(tc);
        printf("stalled sibling: healthy socket %.0f MB/s alone, %.0f MB/s beside a sibling with "
               "%lld bytes queued (%.2fx)\n",
               solo, beside, (long long)netd_test_int_at(info, "stats.queuedBytes"), beside / solo);
        json_decref(info);
        if (beside < solo / 2)
                fail_msg("the healthy socket fell from %.0f to %.0f MB/s beside a stalled sibling",
                         solo, beside);
        free(data);
        free(chunk);
        close(peer);
        close(lfd);
}

/*
 * 200 fire-and-forget writes (64 KiB each) toward a peer that reads
 * nothing: notifications take no in-flight slot (inflightMax is 4 here), so
 * net.isIP on the same connection is answered at once, and so are writes
 * with an id to another socket.
 */
static void test_notifications_take_no_slots(struct netd_test_daemon *t)
{
        struct netd_test_client *tc = netd_test_connect(t);
        uint8_t *data = calloc(1, 200 * 64 * 1024);
        int port, lfd = netd_test_tcp_socket(true, &port), peer;
        uint64_t slow, a, b;
        int64_t start;
        json_t *v, *info;

        assert_non_null(data);
        slow = netd_test_connect_tcp(tc, port, "127.0.0.1", NULL);
        peer = netd_test_accept_peer(lfd);
        (void)netd_test_wait_event(tc, "socket.ready", slow, NETD_TEST_TIMEOUT_MS);
        socket_pair(tc, &a, &b);
        notify_writes(tc, slow, data, 200 * 64 * 1024, 64 * 1024);
        start = netd_test_now_ms();
        v = netd_test_call(tc, "net.isIP", json_pack("{s:s}", "input", "::1"));
        assert_int_equal(json_integer_value(v), 6);
        json_decref(v);
        {
                static const uint8_t hello[] = "hello";
                struct netd_test_flow f = { .writer = tc,
                                            .socket = a,
                                            .data = hello,
                                            .len = 5,
                                            .reader = tc,
                                            .peer_socket = b };

                netd_test_run_flows(t, &f, 1, NETD_TEST_TIMEOUT_MS);
        }
        info = netd_info(tc);
        printf("fire-and-forget: net.isIP and a write to another socket answered in %" PRId64
               " ms; inflightRefused %lld, inputHeld %lld\n",
               netd_test_now_ms() - start,
               (long long)netd_test_int_at(info, "stats.inflightRefused"),
               (long long)netd_test_int_at(info, "stats.inputHeld"));
        assert_int_equal(netd_test_int_at(info, "stats.inflightRefused"), 0);
        assert_int_equal(netd_test_int_at(info, "stats.inputHeld"), 0);
        json_decref(info);
        free(data);
        close(peer);
        close(lfd);
}

/* Sends one request line with fd attached (SCM_RIGHTS). */
static void send_with_fd(struct netd_test_raw *r, const char *line, int fd)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = { 0 };
        struct iovec iov = { .iov_base = (void *)line, .iov_len = strlen(line) };
        struct msghdr msg = { .msg_iov = &iov,
                              .msg_iovlen = 1,
                              .msg_control = control.buf,
                              .msg_controllen = sizeof(control.buf) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        assert_int_equal(sendmsg(r->fd, &msg, MSG_NOSIGNAL), (ssize_t)iov.iov_len);
}

/*
 * server.listen {handle:{fd:0}} with descriptors whose listen() fails: an
 * unbound AF_UNIX socket and a connected TCP socket. Each request gets its
 * error reply (and server.error), alone and inside a batch; 70 of them in a
 * row (more than the old 64 in-flight slots) leave the connection served.
 */
static void test_listen_handle_fails_replies(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        char line[512];
        int port, lfd = netd_test_tcp_socket(true, &port);
        int replies = 0, errors = 0, batches = 0;

        netd_test_raw_open(t, &r);
        for (int i = 0; i < 70; i++) {
                int fd;
                unsigned long long srv = 0;
                json_t *m;
                char *l;

                netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,"
                                           "\"method\":\"net.createServer\"}\n");
                m = netd_test_raw_recv(&r);
                srv = (unsigned long long)netd_test_int_at(m, "result.server");
                json_decref(m);
                if (i % 2 == 0) {
                        fd = socket(AF_UNIX, SOCK_STREAM, 0);
                } else {
                        struct sockaddr_in sa = { .sin_family = AF_INET,
                                                  .sin_port = htons((uint16_t)port),
                                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                        fd = socket(AF_INET, SOCK_STREAM, 0);
                        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
                        close(netd_test_accept_peer(lfd));
                }
                assert_true(fd >= 0);
                if (i % 5 == 4)
                        (void)snprintf(
                                line, sizeof(line),
                                "[{\"jsonrpc\":\"2.0\",\"id\":\"l%d\",\"method\":\"server."
                                "listen\",\"params\":{\"server\":%llu,\"handle\":{\"fd\":0}}},"
                                "{\"jsonrpc\":\"2.0\",\"id\":\"s%d\",\"method\":\"netd.sync\"}]"
                                "\n",
                                i, srv, i);
                else
                        (void)snprintf(
                                line, sizeof(line),
                                "{\"jsonrpc\":\"2.0\",\"id\":\"l%d\",\"method\":\"server."
                                "listen\",\"params\":{\"server\":%llu,\"handle\":{\"fd\":0}}}"
                                "\n",
                                i, srv);
                send_with_fd(&r, line, fd);
                close(fd);
                /* server.error, then the reply (or the batch's array). */
                for (;;) {
                        l = netd_test_raw_recv_line(&r, NETD_TEST_TIMEOUT_MS);
                        if (!l)
                                fail_msg("no reply to server.listen %d with a descriptor that "
                                         "cannot listen",
                                         i);
                        m = json_loads(l, 0, NULL);
                        free(l);
                        assert_non_null(m);
                        if (json_is_array(m)) {
                                batches++;
                                assert_int_equal(json_array_size(m), 2);
                                netd_test_assert_str(json_array_get(m, 0), "error.data.syscall",
                                                     "listen");
                                assert_true(json_is_true(
                                        json_object_get(json_array_get(m, 1), "result")));
                                json_decref(m);
                                replies++;
                                break;
                        }
                        if (json_object_get(m, "id")) {
                                netd_test_assert_str(m, "error.data.syscall", "listen");
                                json_decref(m);
                                replies++;
                                break;
                        }
                        netd_test_assert_str(m, "method", "server.error");
                        errors++;
                        json_decref(m);
                }
        }
        netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"net.isIP\","
                                   "\"params\":{\"input\":\"1.2.3.4\"}}\n");
        {
                json_t *m = netd_test_raw_recv(&r);

                assert_int_equal(netd_test_int_at(m, "result"), 4);
                json_decref(m);
        }
        printf("listen {handle}: 70 failing listens answered (%d in batches), %d server.error\n",
               batches, errors);
        assert_int_equal(replies, 70);
        assert_int_equal(errors, 70);
        netd_test_raw_close(&r);
        close(lfd);
}

/* ---- Lookups ------------------------------------------------------------------------------- */

/* Appends the DNS name at q (labels) as dotted text to out; returns the bytes after it. */
static size_t dns_name(const uint8_t *q, size_t len, char *out, size_t cap)
{
        size_t i = 0, o = 0;

        while (i < len && q[i] != 0) {
                size_t l = q[i++];

                if (i + l > len || o + l + 2 > cap)
                        return 0;
                if (o)
                        out[o++] = '.';
                memcpy(out + o, q + i, l);
                o += l;
                i += l;
        }
        out[o] = '\0';
        return i < len ? i + 1 : 0;
}

/*
 * A nameserver on UDP 127.0.0.1 (a child process): names that start with
 * "dead" are never answered; "good.test" has A 127.0.0.1 and no AAAA.
 * Names compare without case: evdns randomizes the case of its queries.
 */
static void __attribute__((noreturn)) dns_child(int fd)
{
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
                uint8_t q[512], a[600];
                struct sockaddr_storage from;
                socklen_t flen = sizeof(from);
                ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
                char name[256];
                size_t qlen, alen;
                uint16_t qtype;

                if (n < 17)
                        continue;
                qlen = dns_name(q + 12, (size_t)n - 12, name, sizeof(name));
                if (qlen == 0 || 12 + qlen + 4 > (size_t)n || strncasecmp(name, "dead", 4) == 0)
                        continue;
                qtype = (uint16_t)(q[12 + qlen] << 8 | q[12 + qlen + 1]);
                memcpy(a, q, 12 + qlen + 4);
                a[2] = 0x81; /* response, recursion desired */
                a[3] = strcasecmp(name, "good.test") == 0 ? 0x80 : 0x83; /* RA; NXDOMAIN */
                a[6] = a[7] = a[8] = a[9] = a[10] = a[11] = 0;
                alen = 12 + qlen + 4;
                if (strcasecmp(name, "good.test") == 0 && qtype == 1) {
                        static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0,   1, 0, 0,
                                                      0,    60,   0, 4, 127, 0, 0, 1 };

                        a[7] = 1;
                        memcpy(a + alen, rr, sizeof(rr));
                        alen += sizeof(rr);
                }
                (void)sendto(fd, a, alen, 0, (struct sockaddr *)&from, flen);
        }
}

/* Time from net.connect {host:"good.test"} to its socket.connect, in ms. */
static int64_t good_lookup_ms(struct netd_test_client *tc, int port)
{
        int64_t start = netd_test_now_ms();
        uint64_t s = netd_test_connect_tcp(tc, port, "good.test", NULL);

        netd_test_wait_until(tc->t, netd_test_find_event(tc, "socket.connect", s) ||
                                            netd_test_find_event(tc, "socket.error", s));
        if (!netd_test_find_event(tc, "socket.connect", s)) {
                char *e = json_dumps(netd_test_find_event(tc, "socket.error", s), 0);

                fail_msg("good.test: %s", e);
        }
        return netd_test_now_ms() - start;
}

/*
 * Client A asks for 200 names the nameserver never answers; client B's
 * lookup of an answering name keeps its normal latency (it would wait
 * behind A's queries, minutes, without per-connection fairness).
 */
static void test_fair_lookups(struct netd_test_daemon *t)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t slen = sizeof(sa);
        int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        char resolv[512], arg[600], line[128];
        const char *args[3] = { arg, NULL, NULL };
        struct netd_test_client *a, *b;
        int port, lfd = netd_test_tcp_socket(true, &port);
        int64_t alone, beside;
        json_t *info;
        pid_t pid;
        FILE *f;

        assert_true(udp >= 0);
        assert_int_equal(bind(udp, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(udp, (struct sockaddr *)&sa, &slen), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                dns_child(udp);
        close(udp);
        (void)snprintf(resolv, sizeof(resolv), "%s/fair-resolv.conf", t->dir);
        f = fopen(resolv, "w");
        assert_non_null(f);
        (void)snprintf(line, sizeof(line), "nameserver 127.0.0.1:%d\n", ntohs(sa.sin_port));
        fputs(line, f);
        fclose(f);
        (void)snprintf(arg, sizeof(arg), "--resolv-conf=%s", resolv);
        netd_test_launch(t, args);
        a = netd_test_connect(t);
        b = netd_test_connect(t);

        alone = good_lookup_ms(b, port);
        for (int i = 0; i < 200; i++) {
                char host[64];

                (void)snprintf(host, sizeof(host), "dead-%d.test", i);
                json_decref(netd_test_call(a, "net.connect",
                                           json_pack("{s:i,s:s}", "port", port, "host", host)));
        }
        beside = good_lookup_ms(b, port);
        info = netd_info(b);
        printf("fair lookups: B's lookup took %" PRId64 " ms alone, %" PRId64
               " ms beside A's 200 unanswered names (lookupsQueued %lld)\n",
               alone, beside, (long long)netd_test_int_at(info, "stats.lookupsQueued"));
        assert_true(netd_test_int_at(info, "stats.lookupsQueued") >= 150);
        json_decref(info);
        if (beside > alone + 1000)
                fail_msg("B's lookup took %" PRId64 " ms beside A's, %" PRId64 " ms alone", beside,
                         alone);
        netd_test_disconnect(a);
        netd_test_disconnect(b);
        netd_test_stop(t);
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        close(lfd);
}

/* ---- Exactly one reply ---------------------------------------------------------------------- */

#define MIXED_REQUESTS 10000

/*
 * 10,000 mixed request lines on one connection, pipelined: valid and
 * invalid, requests and notifications, batches, methods that reply at once
 * and later. Every id gets exactly one reply, notifications none, each
 * unparseable line one error with id null.
 */
static void test_ten_thousand_mixed(struct netd_test_daemon *t)
{
        static const char *const kinds[12][2] = {
                { "{\"jsonrpc\":\"2.0\",\"id\":\"r",
                  "\",\"method\":\"net.isIP\",\"params\":{\"input\":\"::1\"}}\n" },
                { "{\"jsonrpc\":\"2.0\",\"method\":\"net.isIP\",\"params\":{\"input\":\"x",
                  "\"}}\n" },
                { "{\"jsonrpc\":\"2.0\",\"id\":\"r", "\",\"method\":\"net.isIPv4\",\"par\n" },
                { "{\"jsonrpc\":\"2.0\",\"id\":\"r", "\",\"method\":\"no.such\"}\n" },
                { "{\"jsonrpc\":\"2.0\",\"id\":\"r",
                  "\",\"method\":\"net.isIP\",\"params\":{\"input\":5}}\n" },
                { "{\"jsonrpc\":\"2.0\",\"id\":\"r", "\",\"method\":\"socket.write\",\"params\":{"
                                                     "\"socket\":987654,\"data\":\"x\"}}\n" },
                { "{\"jsonrpc\":\"2.0\",\"id\":\"r", "\",\"method\":\"net.createServer\"}\n" },
                { "{\"jsonrpc\":\"2.0\",\"id\":\"r",
                  "\",\"method\":\"server.close\",\"params\":{\"server\":987654}}\n" },
                { "[{\"jsonrpc\":\"2.0\",\"id\":\"r", "\",\"method\":\"netd.sync\"},{\"jsonrpc\":"
                                                      "\"2.0\",\"method\":\"netd.sync\"}]\n" },
                { "{\"jsonrpc\":\"2.0\",\"id\":\"r", "\",\"method\":\"net.Socket\"}\n" },
                { "{\"jsonrpc\":\"2.0\",\"id\":\"r",
                  "\",\"method\":\"socket.end\",\"params\":{\"socket\":987654}}\n" },
                { "{\"jsonrpc\":\"1.0\",\"id\":\"r", "\",\"method\":\"netd.sync\"}\n" },
        };
        static unsigned char seen[MIXED_REQUESTS];
        struct netd_test_raw r;
        size_t cap = (size_t)MIXED_REQUESTS * 160, len = 0;
        char *buf = malloc(cap);
        int expect_null = 0, got_null = 0, expect_ids = 0, got_ids = 0;
        bool done = false;

        assert_non_null(buf);
        memset(seen, 0, sizeof(seen));
        for (int i = 0; i < MIXED_REQUESTS; i++) {
                const char *const *k = kinds[i % 12];

                len += (size_t)snprintf(buf + len, cap - len, "%s%d%s", k[0], i, k[1]);
                if (i % 12 == 2)
                        expect_null++;
                else if (i % 12 != 1)
                        expect_ids++;
        }
        netd_test_raw_open(t, &r);
        netd_test_raw_send(&r, buf, len);
        netd_test_raw_send_str(&r,
                               "{\"jsonrpc\":\"2.0\",\"id\":\"end\",\"method\":\"netd.sync\"}\n");
        while (!done) {
                char *line = netd_test_raw_recv_line(&r, NETD_TEST_TIMEOUT_MS);
                json_t *m, *list;

                if (!line)
                        fail_msg("the replies stopped after %d of %d ids", got_ids, expect_ids);
                m = json_loads(line, 0, NULL);
                free(line);
                assert_non_null(m);
                list = json_is_array(m) ? json_incref(m) : json_pack("[O]", m);
                for (size_t k = 0; k < json_array_size(list); k++) {
                        json_t *e = json_array_get(list, k);
                        json_t *id = json_object_get(e, "id");
                        const char *s = json_string_value(id);
                        int i;

                        if (json_object_get(e, "method"))
                                continue; /* an event */
                        if (json_is_null(id)) {
                                got_null++;
                                continue;
                        }
                        assert_non_null(s);
                        if (strcmp(s, "end") == 0) {
                                done = true;
                                continue;
                        }
                        assert_int_equal(sscanf(s, "r%d", &i), 1);
                        assert_true(i >= 0 && i < MIXED_REQUESTS);
                        if (seen[i]++)
                                fail_msg("id %s answered twice", s);
                        assert_true(i % 12 != 1 && i % 12 != 2);
                        got_ids++;
                }
                json_decref(list);
                json_decref(m);
        }
        printf("10,000 mixed requests: %d ids answered once each, %d parse errors (id null)\n",
               got_ids, got_null);
        assert_int_equal(got_ids, expect_ids);
        assert_int_equal(got_null, expect_null);
        netd_test_raw_close(&r);
        free(buf);
}

/* ---- A stop that loses nothing ------------------------------------------------------------- */

struct stop_write {
        int done, ok;
};

static void stop_write_cb(struct netd_client *c, json_t *result,
                          const struct netd_client_error *err, void *userdata)
{
        struct stop_write *w = userdata;

        w->done++;
        w->ok += json_is_true(result);
}

/*
 * A socket with unread inbound data (paused, its peer sent 256 KiB) has
 * 4 MiB of writes the client was told were written and 4 MiB of
 * fire-and-forget writes queued toward a peer that reads nothing yet. On
 * SIGTERM netd flushes them: the peer, reading now, gets every byte in
 * order before the connection ends; netd exits 0.
 */
static void test_sigterm_flushes(struct netd_test_daemon *t)
{
        struct netd_test_client *tc = netd_test_connect(t);
        const size_t half = 4 * MIB, total = 2 * half;
        uint8_t *data = malloc(total), *got = malloc(total);
        static struct stop_write w;
        int port, lfd = netd_test_tcp_socket(true, &port), peer;
        uint8_t junk[64 * 1024];
        size_t n = 0, sent_in = 0;
        int64_t deadline, start;
        bool reset = false;
        uint64_t sock;

        assert_non_null(data);
        assert_non_null(got);
        netd_test_random_bytes(data, total, 0x5109);
        memset(junk, 'i', sizeof(junk));
        memset(&w, 0, sizeof(w));
        sock = netd_test_connect_tcp(tc, port, "127.0.0.1", NULL);
        peer = netd_test_accept_peer(lfd);
        (void)netd_test_wait_event(tc, "socket.ready", sock, NETD_TEST_TIMEOUT_MS);
        netd_test_call_true(tc, "socket.pause", json_pack("{s:I}", "socket", (json_int_t)sock));
        while (sent_in < 256 * 1024) {
                ssize_t k = send(peer, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL);

                if (k <= 0)
                        break;
                sent_in += (size_t)k;
        }
        for (size_t off = 0; off < half; off += 256 * 1024)
                assert_int_equal(netd_client_socket_write(tc->c, sock, data + off, 256 * 1024,
                                                          stop_write_cb, &w),
                                 0);
        notify_writes(tc, sock, data + half, half, 256 * 1024);
        netd_test_call_true(tc, "netd.sync", NULL);
        printf("stop: %zu bytes unread inbound, %d of %zu acknowledged writes answered, "
               "SIGTERM\n",
               sent_in, w.ok, half / (256 * 1024));
        start = netd_test_now_ms();
        assert_int_equal(kill(t->pid, SIGTERM), 0);
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        for (;;) {
                ssize_t k = recv(peer, got + n, total - n > 65536 ? 65536 : total - n + 1, 0);

                if (k > 0 && n + (size_t)k <= total) {
                        n += (size_t)k;
                        continue;
                }
                if (k > 0)
                        fail_msg("the peer got more than was written");
                if (k == 0)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        if (netd_test_now_ms() >= deadline)
                                fail_msg("the peer got %zu of %zu bytes, then nothing", n, total);
                        (void)poll(&(struct pollfd){ .fd = peer, .events = POLLIN }, 1, 50);
                        continue;
                }
                reset = errno == ECONNRESET;
                break;
        }
        printf("stop: the peer got %zu of %zu bytes in %" PRId64 " ms, then %s\n", n, total,
               netd_test_now_ms() - start, reset ? "a reset (after every byte)" : "EOF");
        assert_int_equal(n, total);
        assert_memory_equal(got, data, total);
        netd_test_stop_signal(t, 0); /* no second signal: waits for the exit, asserts status 0 */
        free(data);
        free(got);
        close(peer);
        close(lfd);
}

/*
 * The grace period is bounded: a peer that never reads keeps 8 MiB queued;
 * with stopGraceMs 300, SIGTERM ends netd (exit 0) within about that, and
 * the log says how many sockets and bytes could not be flushed.
 */
static void test_sigterm_grace_is_bounded(struct netd_test_daemon *t)
{
        struct netd_test_client *tc = netd_test_connect(t);
        const size_t total = 8 * MIB;
        uint8_t *data = calloc(1, total);
        int port, lfd = netd_test_tcp_socket(true, &port), peer;
        int64_t start, took;
        uint64_t sock;
        char *log;

        assert_non_null(data);
        sock = netd_test_connect_tcp(tc, port, "127.0.0.1", NULL);
        peer = netd_test_accept_peer(lfd);
        (void)netd_test_wait_event(tc, "socket.ready", sock, NETD_TEST_TIMEOUT_MS);
        notify_writes(tc, sock, data, total, 256 * 1024);
        netd_test_call_true(tc, "netd.sync", NULL);
        start = netd_test_now_ms();
        assert_int_equal(kill(t->pid, SIGTERM), 0);
        netd_test_stop_signal(t, 0); /* waits for the exit, asserts status 0 */
        took = netd_test_now_ms() - start;
        log = netd_test_read_file(t, "netd.log");
        assert_non_null(log);
        printf("stop grace: netd exited %" PRId64 " ms after SIGTERM with a peer that never "
               "reads (stopGraceMs 300)\n",
               took);
        if (!strstr(log, "Stop grace of 300 ms over: 1 socket(s) still had "))
                fail_msg("the log does not count what was not flushed:\n%s", log);
        assert_true(took < 5000);
        free(log);
        free(data);
        close(peer);
        close(lfd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_paused_sibling_resume),
                NETD_TEST_ARGS(test_stalled_sibling_throughput, "--limit=writeHardBytes=8388608"),
                NETD_TEST_ARGS(test_notifications_take_no_slots, "--limit=inflightMax=4"),
                NETD_TEST(test_listen_handle_fails_replies),
                NETD_TEST_MANUAL(test_fair_lookups),
                NETD_TEST(test_ten_thousand_mixed),
                NETD_TEST(test_sigterm_flushes),
                NETD_TEST_ARGS(test_sigterm_grace_is_bounded, "--limit=stopGraceMs=300"),
        };

        return cmocka_run_group_tests_name("integration/isolation", tests, NULL, NULL);
}
