/*
 * Integration: the in-place upgrade (issue 15, "Upgrading netd in place").
 * netd runs from a file in the test directory; before each SIGUSR2 the test
 * renames the other build (netd-alt: the same sources, another version
 * string) over that path, as a package upgrade would. Across every upgrade
 * a two-way TCP stream through netd (socket.write one way, socket.data the
 * other), pipelined requests with a partial line split across the exec, and
 * netd.info polled without pause must each arrive exactly once, in order.
 * A broken new binary (a script exiting 1, a build of another state format,
 * a missing file) leaves the old process serving; a socket in the middle of
 * its connect and a listening server with clients in its backlog survive.
 *
 * NETD_UPGRADE_ROUNDS sets the number of upgrades of the stream test
 * (default 1000; 50 under ASan, where each upgrade costs ~0.5 s: two execs of a
 * sanitized binary).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netd-test.h"

/* ---- Binaries ------------------------------------------------------------------------------ */

static void copy_file(const char *from, const char *to)
{
        char buf[65536];
        int in = open(from, O_RDONLY | O_CLOEXEC), out;
        ssize_t n;

        if (in < 0)
                fail_msg("open %s: %s", from, strerror(errno));
        out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        if (out < 0)
                fail_msg("open %s: %s", to, strerror(errno));
        while ((n = read(in, buf, sizeof(buf))) > 0)
                if (write(out, buf, (size_t)n) != n)
                        fail_msg("write %s: %s", to, strerror(errno));
        close(in);
        close(out);
}

/* Puts dir/<name> at dir/netd the way a package manager does: a new file renamed over it. */
static void install_as_netd(struct netd_test_daemon *t, const char *name)
{
        char from[160], tmp[160], to[160];

        (void)snprintf(from, sizeof(from), "%s/%s", t->dir, name);
        (void)snprintf(tmp, sizeof(tmp), "%s/netd.new", t->dir);
        (void)snprintf(to, sizeof(to), "%s/netd", t->dir);
        (void)unlink(tmp);
        if (link(from, tmp) < 0)
                fail_msg("link %s: %s", from, strerror(errno));
        if (rename(tmp, to) < 0)
                fail_msg("rename %s: %s", tmp, strerror(errno));
}

/* Copies netd and netd-alt into the test directory and starts dir/netd (the first). */
static void launch_from_dir(struct netd_test_daemon *t, const char *const *args)
{
        static char netd_bin[512];
        const char *alt = getenv("NETD_ALT_BIN");
        char path[160];

        /* NETD_BIN is pointed at the copy below: remember the build's own once. */
        if (!netd_bin[0])
                (void)snprintf(netd_bin, sizeof(netd_bin), "%s", getenv("NETD_BIN"));

        if (!alt || !*alt)
                fail_msg("NETD_ALT_BIN is not set: run the test with ctest");
        netd_test_init(t);
        (void)snprintf(path, sizeof(path), "%s/netd-a", t->dir);
        copy_file(netd_bin, path);
        (void)snprintf(path, sizeof(path), "%s/netd-b", t->dir);
        copy_file(alt, path);
        install_as_netd(t, "netd-a");
        (void)snprintf(path, sizeof(path), "%s/netd", t->dir);
        (void)setenv("NETD_BIN", path, 1);
        netd_test_launch(t, args);
}

static char *info_version(struct netd_test_client *tc)
{
        json_t *info = netd_test_call(tc, "netd.info", NULL);
        char *v = strdup(json_string_value(json_object_get(info, "version")));

        json_decref(info);
        return v;
}

static json_int_t info_stat(struct netd_test_client *tc, const char *name)
{
        json_t *info = netd_test_call(tc, "netd.info", NULL);
        json_int_t v = netd_test_int_at(info, name);

        json_decref(info);
        return v;
}

/* ---- Raw line connections for the stream test ---------------------------------------------- */

/* The next complete line already buffered (malloc()ed), or NULL; reads nothing. */
static char *buffered_line(struct netd_test_raw *r)
{
        char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
        size_t n;
        char *line;

        if (!nl)
                return NULL;
        n = (size_t)(nl - r->buf);
        line = strndup(r->buf, n);
        memmove(r->buf, nl + 1, r->len - n - 1);
        r->len -= n + 1;
        return line;
}

/* Reads what is there; returns the next complete line (malloc()ed) or NULL. */
static char *raw_next_line(struct netd_test_raw *r)
{
        char *line;

        for (;;) {
                if ((line = buffered_line(r)))
                        return line;
                if (r->cap - r->len < 65536) {
                        r->cap = r->cap ? r->cap * 2 : 262144;
                        r->buf = realloc(r->buf, r->cap);
                        assert_non_null(r->buf);
                }
                {
                        ssize_t n = recv(r->fd, r->buf + r->len, r->cap - r->len, MSG_DONTWAIT);

                        if (n == 0)
                                fail_msg("netd closed a control connection during the upgrades");
                        if (n < 0) {
                                if (errno == EAGAIN || errno == EINTR)
                                        return NULL;
                                fail_msg("recv: %s", strerror(errno));
                        }
                        r->len += (size_t)n;
                }
        }
}

static json_t *parse_line(const char *line)
{
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);

        if (!j)
                fail_msg("netd sent a line that is not JSON (%s): %.200s", e.text, line);
        return j;
}

/* The stream's bytes: lowercase letters in an order that catches a lost or repeated chunk. */
static char pattern(uint64_t i, unsigned seed)
{
        return (char)('a' + (i * 7 + i / 26 + seed) % 26);
}

#define STREAM_CHUNK      8192
#define STREAM_INFLIGHT   4
#define STREAM_PEER_AHEAD (128 * 1024)

struct stream {
        struct netd_test_daemon *t;
        int peer;               /* the test's end of the TCP connection */
        struct netd_test_raw d; /* owns the socket: socket.write, socket.data */
        struct netd_test_raw r; /* pipelined net.isIP with split lines */
        struct netd_test_raw q; /* netd.info, one after the other, all the time */
        uint64_t sock;
        bool writing;                     /* keep the stream going */
        uint64_t up_sent, up_recv;        /* client -> peer bytes */
        uint64_t down_sent, down_recv;    /* peer -> client bytes */
        uint64_t w_next_id, w_next_reply; /* socket.write ids (1000000 + n) */
        uint64_t r_sent, r_next_reply;    /* net.isIP ids */
        uint64_t q_sent, q_next_reply;    /* netd.info ids */
        bool q_polling;
        char version[64]; /* of the last netd.info reply */
        uint64_t upgrades_seen;
};

static void stream_send_write(struct stream *s)
{
        char data[STREAM_CHUNK + 1], *line;
        size_t n = STREAM_CHUNK;
        int len;

        for (size_t i = 0; i < n; i++)
                data[i] = pattern(s->up_sent + i, 3);
        data[n] = '\0';
        line = malloc(n + 200);
        assert_non_null(line);
        len = snprintf(line, n + 200,
                       "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"socket.write\","
                       "\"params\":{\"socket\":%" PRIu64 ",\"data\":\"%s\"}}\n",
                       1000000 + s->w_next_id++, s->sock, data);
        netd_test_raw_send(&s->d, line, (size_t)len);
        s->up_sent += n;
        free(line);
}

static void stream_send_info(struct stream *s)
{
        char line[128];
        int len = snprintf(line, sizeof(line),
                           "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"netd.info\"}\n",
                           s->q_sent++);

        netd_test_raw_send(&s->q, line, (size_t)len);
}

static void stream_on_d(struct stream *s, json_t *m)
{
        json_t *id = json_object_get(m, "id");
        const char *method = json_string_value(json_object_get(m, "method"));

        if (id) {
                if (!json_is_true(json_object_get(m, "result")))
                        fail_msg("socket.write failed: %s", json_dumps(m, 0));
                if ((uint64_t)json_integer_value(id) != 1000000 + s->w_next_reply)
                        fail_msg("socket.write reply %" PRId64 ", expected %" PRIu64
                                 " (lost or repeated)",
                                 (int64_t)json_integer_value(id), 1000000 + s->w_next_reply);
                s->w_next_reply++;
                return;
        }
        if (method && strcmp(method, "socket.data") == 0) {
                json_t *p = json_object_get(m, "params");
                const char *data = json_string_value(json_object_get(p, "data"));
                size_t n = json_string_length(json_object_get(p, "data"));

                for (size_t i = 0; i < n; i++)
                        if (data[i] != pattern(s->down_recv + i, 11))
                                fail_msg("peer -> client byte %" PRIu64 " wrong: a chunk was "
                                         "lost or repeated",
                                         s->down_recv + i);
                s->down_recv += n;
                return;
        }
        if (method && strcmp(method, "socket.drain") == 0)
                return;
        fail_msg("unexpected message on the data connection: %s", json_dumps(m, 0));
}

static void stream_on_r(struct stream *s, json_t *m)
{
        json_t *id = json_object_get(m, "id");

        if (!json_is_integer(id) || (uint64_t)json_integer_value(id) != s->r_next_reply ||
            json_integer_value(json_object_get(m, "result")) != 4)
                fail_msg("net.isIP reply out of order, lost or repeated (expected id %" PRIu64
                         "): %s",
                         s->r_next_reply, json_dumps(m, 0));
        s->r_next_reply++;
}

static void stream_on_q(struct stream *s, json_t *m)
{
        json_t *id = json_object_get(m, "id");
        const char *v = json_string_value(netd_test_get(m, "result.version"));

        if (!json_is_integer(id) || (uint64_t)json_integer_value(id) != s->q_next_reply || !v)
                fail_msg("netd.info reply out of order, lost or repeated (expected id %" PRIu64
                         "): %s",
                         s->q_next_reply, json_dumps(m, 0));
        s->q_next_reply++;
        (void)snprintf(s->version, sizeof(s->version), "%s", v);
        s->upgrades_seen = (uint64_t)json_integer_value(netd_test_get(m, "result.stats.upgrades"));
        if (s->q_polling)
                stream_send_info(s);
}

/* One poll over the peer and the three connections; handles what is ready. */
static void stream_pump(struct stream *s, int64_t deadline, const char *what)
{
        struct pollfd p[4] = {
                { .fd = s->peer, .events = POLLIN },
                { .fd = s->d.fd, .events = POLLIN },
                { .fd = s->r.fd, .events = POLLIN },
                { .fd = s->q.fd, .events = POLLIN },
        };
        int64_t left = deadline - netd_test_now_ms();
        char *line;

        if (left <= 0)
                fail_msg("timed out waiting for %s (up %" PRIu64 "/%" PRIu64 ", down %" PRIu64
                         "/%" PRIu64 ")",
                         what, s->up_recv, s->up_sent, s->down_recv, s->down_sent);
        if (s->writing && s->down_sent - s->down_recv < STREAM_PEER_AHEAD)
                p[0].events |= POLLOUT;
        if (poll(p, 4, (int)(left < 100 ? left : 100)) < 0 && errno != EINTR)
                fail_msg("poll: %s", strerror(errno));
        if (p[0].revents & POLLIN) {
                char buf[65536];
                ssize_t n = read(s->peer, buf, sizeof(buf));

                if (n == 0)
                        fail_msg("the peer saw EOF during the upgrades");
                for (ssize_t i = 0; i < n; i++)
                        if (buf[i] != pattern(s->up_recv + (uint64_t)i, 3))
                                fail_msg("client -> peer byte %" PRIu64 " wrong: a chunk was "
                                         "lost or repeated",
                                         s->up_recv + (uint64_t)i);
                if (n > 0)
                        s->up_recv += (uint64_t)n;
        }
        if (p[0].revents & POLLOUT) {
                char buf[16384];
                ssize_t n;

                for (size_t i = 0; i < sizeof(buf); i++)
                        buf[i] = pattern(s->down_sent + i, 11);
                n = write(s->peer, buf, sizeof(buf));
                if (n > 0)
                        s->down_sent += (uint64_t)n;
        }
        while ((line = raw_next_line(&s->d))) {
                json_t *m = parse_line(line);

                stream_on_d(s, m);
                json_decref(m);
                free(line);
        }
        while ((line = raw_next_line(&s->r))) {
                json_t *m = parse_line(line);

                stream_on_r(s, m);
                json_decref(m);
                free(line);
        }
        while ((line = raw_next_line(&s->q))) {
                json_t *m = parse_line(line);

                stream_on_q(s, m);
                json_decref(m);
                free(line);
        }
        while (s->writing && s->w_next_id - s->w_next_reply < STREAM_INFLIGHT &&
               s->up_sent - s->up_recv < 4 * STREAM_PEER_AHEAD)
                stream_send_write(s);
}

static json_t *raw_call(struct stream *s, struct netd_test_raw *r, const char *line)
{
        char *got;
        json_t *m;

        netd_test_raw_send_str(r, line);
        got = netd_test_raw_recv_line(r, NETD_TEST_TIMEOUT_MS);
        assert_non_null(got);
        m = parse_line(got);
        free(got);
        (void)s;
        return m;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return x < y ? -1 : x > y;
}

static void test_upgrade_stream(struct netd_test_daemon *t)
{
        struct stream s = { .t = t };
        const char *env = getenv("NETD_UPGRADE_ROUNDS");
        unsigned rounds = env ? (unsigned)atoi(env) : (NETD_TEST_ASAN ? 50 : 1000);
        char base[64], alt[80], line[256];
        int64_t *times, pause_max = 0, started;
        int lfd, port, fds_first = -1;
        json_t *m;

        launch_from_dir(t, NULL);
        times = calloc(rounds ? rounds : 1, sizeof(*times));
        lfd = netd_test_tcp_socket(true, &port);
        netd_test_raw_open(t, &s.d);
        netd_test_raw_open(t, &s.r);
        netd_test_raw_open(t, &s.q);
        m = raw_call(&s, &s.q, "{\"jsonrpc\":\"2.0\",\"id\":\"v\",\"method\":\"netd.info\"}\n");
        (void)snprintf(base, sizeof(base), "%s",
                       json_string_value(netd_test_get(m, "result.version")));
        (void)snprintf(alt, sizeof(alt), "%s+alt", base);
        json_decref(m);
        (void)snprintf(line, sizeof(line),
                       "{\"jsonrpc\":\"2.0\",\"id\":\"c\",\"method\":\"net.connect\",\"params\":"
                       "{\"port\":%d,\"host\":\"127.0.0.1\"}}\n",
                       port);
        m = raw_call(&s, &s.d, line);
        s.sock = (uint64_t)json_integer_value(netd_test_get(m, "result.socket"));
        assert_true(s.sock > 0);
        json_decref(m);
        s.peer = netd_test_accept_peer(lfd);
        (void)snprintf(line, sizeof(line),
                       "{\"jsonrpc\":\"2.0\",\"id\":\"e\",\"method\":\"socket.setEncoding\","
                       "\"params\":{\"socket\":%" PRIu64 ",\"encoding\":\"utf8\"}}\n",
                       s.sock);
        netd_test_raw_send_str(&s.d, line);
        /* connect, ready, then the reply: read them as they come, none is data yet. */
        for (int seen = 0; seen < 3;) {
                char *l = netd_test_raw_recv_line(&s.d, NETD_TEST_TIMEOUT_MS);

                assert_non_null(l);
                seen++;
                free(l);
        }
        s.writing = true;
        s.q_polling = true;
        stream_send_info(&s);
        started = netd_test_now_ms();
        for (unsigned i = 0; i < rounds; i++) {
                const char *want = i % 2 == 0 ? alt : base;
                char req[2][160];
                int len[2];
                int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS), t0, last_down;
                size_t half;

                /* A complete request and half of the next in one write: netd reads both. */
                for (int k = 0; k < 2; k++)
                        len[k] = snprintf(req[k], sizeof(req[k]),
                                          "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64
                                          ",\"method\":\"net.isIP\",\"params\":"
                                          "{\"input\":\"10.0.0.%u\"}}\n",
                                          s.r_sent + (uint64_t)k, i % 250);
                half = (size_t)len[1] / 2;
                {
                        char both[320];

                        memcpy(both, req[0], (size_t)len[0]);
                        memcpy(both + len[0], req[1], half);
                        netd_test_raw_send(&s.r, both, (size_t)len[0] + half);
                }
                while (s.r_next_reply <= s.r_sent)
                        stream_pump(&s, deadline, "the net.isIP reply before the upgrade");
                install_as_netd(t, i % 2 == 0 ? "netd-b" : "netd-a");
                t0 = netd_test_now_ms();
                last_down = s.down_recv;
                assert_int_equal(kill(t->pid, SIGUSR2), 0);
                while (strcmp(s.version, want) != 0 || s.upgrades_seen != i + 1)
                        stream_pump(&s, deadline, "netd.info to show the new version");
                times[i] = netd_test_now_ms() - t0;
                /* Nothing leaks across an exec: the daemon's descriptors stay as they were. */
                if (i == 0)
                        fds_first = netd_test_daemon_fds(t);
                else if (i == rounds - 1)
                        assert_int_equal(netd_test_daemon_fds(t), fds_first);
                (void)last_down;
                /* The rest of the split line, now read by the new image. */
                netd_test_raw_send(&s.r, req[1] + half, (size_t)len[1] - half);
                s.r_sent += 2;
                while (s.r_next_reply < s.r_sent)
                        stream_pump(&s, deadline, "the reply to the line split by the upgrade");
        }
        /* Drain: every byte both ways, every reply. */
        s.writing = false;
        s.q_polling = false;
        {
                int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

                while (s.up_recv < s.up_sent || s.down_recv < s.down_sent ||
                       s.w_next_reply < s.w_next_id || s.q_next_reply < s.q_sent)
                        stream_pump(&s, deadline, "the stream to drain");
        }
        if (rounds > 0) {
                int64_t total = netd_test_now_ms() - started;

                for (unsigned i = 0; i < rounds; i++)
                        if (times[i] > pause_max)
                                pause_max = times[i];
                qsort(times, rounds, sizeof(*times), cmp_i64);
                printf("# %u upgrades in %" PRId64 " ms: SIGUSR2 to the new version answering "
                       "median %" PRId64 " ms, max %" PRId64 " ms; %" PRIu64
                       " bytes each way, %" PRIu64 " writes, %" PRIu64 " netd.info, %" PRIu64
                       " net.isIP, each answered once\n",
                       rounds, total, times[rounds / 2], pause_max, s.up_recv, s.w_next_reply,
                       s.q_next_reply, s.r_next_reply);
        }
        assert_int_equal(s.upgrades_seen, rounds);
        assert_true(s.up_recv > 0 && s.down_recv > 0);
        free(times);
        close(s.peer);
        close(lfd);
        netd_test_raw_close(&s.d);
        netd_test_raw_close(&s.r);
        netd_test_raw_close(&s.q);
}

/* ---- Refused upgrades ---------------------------------------------------------------------- */

static void write_script(struct netd_test_daemon *t, const char *name, const char *body)
{
        char path[160];
        FILE *f;

        (void)snprintf(path, sizeof(path), "%s/%s", t->dir, name);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(body, f);
        fclose(f);
        assert_int_equal(chmod(path, 0755), 0);
}

/* netd.upgrade fails with -32001 ERR_NETD_UPGRADE and a message holding want; the old image serves.
 */
static void expect_refused(struct netd_test_client *tc, const char *version, const char *want)
{
        json_t *err = netd_test_call_fail(tc, "netd.upgrade", NULL, -32001, "ERR_NETD_UPGRADE");
        const char *msg = json_string_value(json_object_get(err, "message"));
        char *v;

        if (!msg || !strstr(msg, want))
                fail_msg("netd.upgrade refused with \"%s\", expected it to mention \"%s\"",
                         msg ? msg : "(none)", want);
        json_decref(err);
        v = info_version(tc);
        assert_string_equal(v, version);
        free(v);
}

static void test_upgrade_refused(struct netd_test_daemon *t)
{
        struct netd_test_client *tc;
        char *base, alt[80], path[160];
        uint64_t srv, a, b;
        int port;
        json_t *res;

        launch_from_dir(t, NULL);
        tc = netd_test_connect(t);
        base = info_version(tc);
        (void)snprintf(alt, sizeof(alt), "%s+alt", base);
        /* A connection through netd that must carry on through every refusal. */
        srv = netd_test_create_server(tc, NULL);
        port = netd_test_listen(tc, srv, "127.0.0.1");
        a = netd_test_connect_tcp(tc, port, "127.0.0.1", NULL);
        b = netd_test_conn_socket(netd_test_wait_event(tc, "server.connection", srv, 5000));
        netd_test_wait_event(tc, "socket.connect", a, 5000);

        /* A script that exits 1: the check fails. */
        write_script(t, "broken", "#!/bin/sh\nexit 1\n");
        install_as_netd(t, "broken");
        expect_refused(tc, base, "exit 1");
        /* SIGUSR2 the same: logged, counted, nothing else happens. */
        assert_int_equal(kill(t->pid, SIGUSR2), 0);
        netd_test_wait_until(t, info_stat(tc, "stats.upgradesFailed") == 2);
        /* A build of another state format refuses it. */
        (void)snprintf(path, sizeof(path), "%s/netd-badfmt", t->dir);
        copy_file(getenv("NETD_BADFMT_BIN"), path);
        install_as_netd(t, "netd-badfmt");
        expect_refused(tc, base, "exit 1");
        /* No binary at all. */
        (void)snprintf(path, sizeof(path), "%s/netd", t->dir);
        assert_int_equal(unlink(path), 0);
        expect_refused(tc, base, "exit 127");
        /* A check that hangs is cut after 5 s (NETD_UPGRADE_CHECK_MS); then netd serves on. */
        write_script(t, "hangs", "#!/bin/sh\nexec sleep 60\n");
        install_as_netd(t, "hangs");
        {
                int64_t t0 = netd_test_now_ms();

                expect_refused(tc, base, "did not finish within 5000 ms");
                assert_true(netd_test_now_ms() - t0 >= 5000);
        }
        assert_int_equal(info_stat(tc, "stats.upgradesFailed"), 5);
        assert_int_equal(info_stat(tc, "stats.upgrades"), 0);
        {
                char *log = netd_test_read_file(t, "netd.log");

                assert_non_null(strstr(log, "state format 1, this build reads format 999"));
                free(log);
        }
        /* The data path never noticed. */
        netd_test_call_true(tc, "socket.write",
                            json_pack("{s:I,s:s}", "socket", (json_int_t)a, "data", "after"));
        netd_test_wait_until(t, netd_test_rx(tc, b)->len == 5);
        assert_memory_equal(netd_test_rx(tc, b)->buf, "after", 5);
        /* And a good binary is taken: netd.upgrade answers from the new image. */
        install_as_netd(t, "netd-b");
        res = netd_test_call(tc, "netd.upgrade", NULL);
        netd_test_assert_str(res, "version", alt);
        netd_test_assert_str(res, "previous", base);
        json_decref(res);
        assert_int_equal(info_stat(tc, "stats.upgrades"), 1);
        netd_test_call_true(tc, "socket.write",
                            json_pack("{s:I,s:s}", "socket", (json_int_t)b, "data", "back"));
        netd_test_wait_until(t, netd_test_rx(tc, a)->len == 4);
        assert_memory_equal(netd_test_rx(tc, a)->buf, "back", 4);
        free(base);
}

/* ---- A connect in progress, a server's backlog ---------------------------------------------- */

static void test_upgrade_connecting_and_backlog(struct netd_test_daemon *t)
{
        struct netd_test_client *tc;
        char *base, alt[80];
        int full, port, fillers[4], n_fill = 0, clients[5];
        uint64_t sock, srv;
        int srv_port;
        json_t *res;

        launch_from_dir(t, NULL);
        tc = netd_test_connect(t);
        base = info_version(tc);
        (void)snprintf(alt, sizeof(alt), "%s+alt", base);

        /*
         * A listener whose accept queue is full drops SYNs: netd's connect
         * stays in progress (retransmitted after ~1 s) until the test accepts.
         */
        full = netd_test_tcp_socket(false, &port);
        assert_int_equal(listen(full, 0), 0);
        for (int i = 0; i < 4; i++) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                struct sockaddr_in sa = { .sin_family = AF_INET,
                                          .sin_port = htons((uint16_t)port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                (void)connect(fd, (struct sockaddr *)&sa, sizeof(sa));
                fillers[n_fill++] = fd;
        }
        sock = netd_test_connect_tcp(tc, port, "127.0.0.1", NULL);
        res = netd_test_call(tc, "socket.get", netd_test_handle_params("socket", sock, NULL));
        netd_test_assert_str(res, "readyState", "opening");
        json_decref(res);

        /* A server with clients waiting in its backlog while netd re-executes. */
        srv = netd_test_create_server(tc, NULL);
        srv_port = netd_test_listen(tc, srv, "127.0.0.1");
        install_as_netd(t, "netd-b");
        assert_int_equal(kill(t->pid, SIGUSR2), 0);
        for (int i = 0; i < 5; i++) {
                struct sockaddr_in sa = { .sin_family = AF_INET,
                                          .sin_port = htons((uint16_t)srv_port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                assert_int_equal(connect(clients[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
                assert_int_equal(write(clients[i], "x", 1), 1);
        }
        {
                int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
                char *v;

                while (strcmp((v = info_version(tc)), alt) != 0) {
                        free(v);
                        if (netd_test_now_ms() > deadline)
                                fail_msg("the upgrade did not happen");
                }
                free(v);
        }
        /* Still connecting in the new image; free the queue so the retransmitted SYN lands. */
        res = netd_test_call(tc, "socket.get", netd_test_handle_params("socket", sock, NULL));
        netd_test_assert_str(res, "readyState", "opening");
        json_decref(res);
        for (int i = 0; i < n_fill; i++)
                close(fillers[i]);
        {
                int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
                int peer = -1;

                while (peer < 0) {
                        int fd = accept4(full, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                        if (fd >= 0) {
                                /* The fillers' connections were closed: the live one is netd's. */
                                char c;

                                if (recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0) {
                                        close(fd);
                                        continue;
                                }
                                peer = fd;
                                break;
                        }
                        if (netd_test_now_ms() > deadline)
                                fail_msg("netd's connect never completed");
                        (void)netd_test_pump(t, full, POLLIN, deadline, "netd's connect");
                }
                netd_test_wait_event(tc, "socket.connect", sock, NETD_TEST_TIMEOUT_MS);
                netd_test_call_true(
                        tc, "socket.write",
                        json_pack("{s:I,s:s}", "socket", (json_int_t)sock, "data", "hi"));
                netd_test_peer_expect(t, peer, "hi");
                close(peer);
        }
        /* Every client the backlog held is a server.connection with its byte. */
        netd_test_wait_until(t, netd_test_count_events(tc, "server.connection", srv) == 5);
        for (size_t i = 0; i < tc->n_events; i++) {
                struct netd_test_event *e = &tc->events[i];

                if (strcmp(e->method, "server.connection") == 0) {
                        uint64_t s2 = netd_test_conn_socket(e->params);

                        netd_test_wait_until(t, netd_test_rx(tc, s2)->len == 1);
                }
        }
        for (int i = 0; i < 5; i++)
                close(clients[i]);
        close(full);
        free(base);
}

/* ---- Attached and piped sockets: bytes held in kernel pipes cross the exec ------------------ */

/* Sends line on r and returns the reply line with id, taking the descriptor it carries. */
static json_t *raw_call_fd(struct netd_test_raw *r, const char *line, const char *id, int *ret_fd)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        *ret_fd = -1;
        netd_test_raw_send_str(r, line);
        for (;;) {
                char *l;

                /* Only what recvmsg() read: a plain recv() would drop the descriptor. */
                while ((l = buffered_line(r))) {
                        json_t *m = parse_line(l);

                        free(l);
                        if (json_is_string(json_object_get(m, "id")) &&
                            strcmp(json_string_value(json_object_get(m, "id")), id) == 0)
                                return m;
                        json_decref(m);
                }
                {
                        union {
                                struct cmsghdr align;
                                char buf[CMSG_SPACE(sizeof(int) * 4)];
                        } control;
                        struct pollfd p = { .fd = r->fd, .events = POLLIN };
                        struct iovec iov;
                        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
                        ssize_t n;

                        if (netd_test_now_ms() > deadline)
                                fail_msg("no reply %s", id);
                        (void)poll(&p, 1, 100);
                        if (r->cap - r->len < 65536) {
                                r->cap = r->cap ? r->cap * 2 : 262144;
                                r->buf = realloc(r->buf, r->cap);
                        }
                        iov = (struct iovec){ r->buf + r->len, r->cap - r->len };
                        msg.msg_control = control.buf;
                        msg.msg_controllen = sizeof(control.buf);
                        n = recvmsg(r->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                        if (n == 0)
                                fail_msg("netd closed the connection");
                        if (n < 0)
                                continue;
                        r->len += (size_t)n;
                        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
                             cm = CMSG_NXTHDR(&msg, cm))
                                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                                        memcpy(ret_fd, CMSG_DATA(cm), sizeof(int));
                }
        }
}

/* Reads exactly len bytes of pattern(seed) from fd (blocking with a deadline). */
static void expect_pattern(int fd, uint64_t *pos, size_t len, unsigned seed)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        char buf[65536];

        while (len > 0) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (netd_test_now_ms() > deadline)
                        fail_msg("timed out with %zu bytes still to come", len);
                (void)poll(&p, 1, 100);
                n = recv(fd, buf, len < sizeof(buf) ? len : sizeof(buf), MSG_DONTWAIT);
                if (n == 0)
                        fail_msg("EOF with %zu bytes still to come", len);
                if (n < 0)
                        continue;
                for (ssize_t i = 0; i < n; i++)
                        if (buf[i] != pattern(*pos + (uint64_t)i, seed))
                                fail_msg("byte %" PRIu64 " wrong: lost or repeated",
                                         *pos + (uint64_t)i);
                *pos += (uint64_t)n;
                len -= (size_t)n;
        }
}

/* Writes up to len bytes of pattern(seed) without blocking; returns how many went. */
static size_t send_pattern(int fd, uint64_t *pos, size_t len, unsigned seed)
{
        char buf[65536];
        size_t done = 0;

        while (done < len) {
                size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);
                ssize_t w;

                for (size_t i = 0; i < n; i++)
                        buf[i] = pattern(*pos + i, seed);
                w = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w <= 0)
                        break;
                *pos += (uint64_t)w;
                done += (size_t)w;
        }
        return done;
}

static uint64_t raw_connect(struct netd_test_raw *r, int port, const char *id)
{
        char line[256];
        json_t *m;
        int fd;
        uint64_t sock;

        (void)snprintf(line, sizeof(line),
                       "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"method\":\"net.connect\",\"params\":"
                       "{\"port\":%d,\"host\":\"127.0.0.1\"}}\n",
                       id, port);
        m = raw_call_fd(r, line, id, &fd);
        sock = (uint64_t)json_integer_value(netd_test_get(m, "result.socket"));
        assert_true(sock > 0);
        json_decref(m);
        return sock;
}

static void test_upgrade_attached_and_piped(struct netd_test_daemon *t)
{
        struct netd_test_raw r, q;
        char base[64], alt[80], line[256];
        int lfd, port, peer_a, peer_b, peer_c, att = -1, fd;
        uint64_t a, b, c;
        uint64_t a_up_w = 0, a_up_r = 0, a_dn_w = 0, a_dn_r = 0, p_w = 0, p_r = 0;
        json_t *m;
        const size_t big = 16 * 1024 * 1024; /* past every socket buffer on the way */

        launch_from_dir(t, NULL);
        lfd = netd_test_tcp_socket(true, &port);
        netd_test_raw_open(t, &r);
        netd_test_raw_open(t, &q);
        m = raw_call_fd(&q, "{\"jsonrpc\":\"2.0\",\"id\":\"v\",\"method\":\"netd.info\"}\n", "v",
                        &fd);
        (void)snprintf(base, sizeof(base), "%s",
                       json_string_value(netd_test_get(m, "result.version")));
        (void)snprintf(alt, sizeof(alt), "%s+alt", base);
        json_decref(m);
        a = raw_connect(&r, port, "a");
        peer_a = netd_test_accept_peer(lfd);
        b = raw_connect(&r, port, "b");
        peer_b = netd_test_accept_peer(lfd);
        c = raw_connect(&r, port, "c");
        peer_c = netd_test_accept_peer(lfd);
        /* Every socket is connected once its reply and events are in: a netd.sync barrier. */
        m = raw_call_fd(&r, "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"netd.sync\"}\n", "s",
                        &fd);
        json_decref(m);
        (void)snprintf(line, sizeof(line),
                       "{\"jsonrpc\":\"2.0\",\"id\":\"att\",\"method\":\"socket.attach\","
                       "\"params\":{\"socket\":%" PRIu64 "}}\n",
                       a);
        m = raw_call_fd(&r, line, "att", &att);
        if (att < 0)
                fail_msg("socket.attach: no descriptor with %s", json_dumps(m, JSON_COMPACT));
        json_decref(m);
        (void)snprintf(line, sizeof(line),
                       "{\"jsonrpc\":\"2.0\",\"id\":\"pipe\",\"method\":\"socket.pipe\","
                       "\"params\":{\"socket\":%" PRIu64 ",\"destination\":%" PRIu64 "}}\n",
                       b, c);
        m = raw_call_fd(&r, line, "pipe", &fd);
        assert_true(json_is_true(json_object_get(m, "result")));
        json_decref(m);
        for (int round = 0; round < 6; round++) {
                const char *want = round % 2 == 0 ? alt : base;
                int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
                size_t sent_up = 0, sent_dn = 0, sent_p = 0;

                /*
                 * Nobody reads: the bytes pile up in the kernel pipes of the
                 * pumps and in the socket buffers, and must all cross the exec.
                 */
                while (sent_up < big || sent_dn < big || sent_p < big) {
                        size_t n = send_pattern(peer_a, &a_dn_w, big - sent_dn, 5) +
                                   send_pattern(att, &a_up_w, big - sent_up, 7) +
                                   send_pattern(peer_b, &p_w, big - sent_p, 9);

                        sent_dn = (size_t)(a_dn_w - a_dn_r);
                        sent_up = (size_t)(a_up_w - a_up_r);
                        sent_p = (size_t)(p_w - p_r);
                        if (n == 0)
                                break; /* every buffer on the way is full */
                }
                install_as_netd(t, round % 2 == 0 ? "netd-b" : "netd-a");
                assert_int_equal(kill(t->pid, SIGUSR2), 0);
                for (;;) {
                        bool done;

                        m = raw_call_fd(&q,
                                        "{\"jsonrpc\":\"2.0\",\"id\":\"v\",\"method\":"
                                        "\"netd.info\"}\n",
                                        "v", &fd);
                        done = strcmp(json_string_value(netd_test_get(m, "result.version")),
                                      want) == 0;
                        json_decref(m);
                        if (done)
                                break;
                        if (netd_test_now_ms() > deadline)
                                fail_msg("the upgrade did not happen");
                }
                /* Now read everything, in order, exactly once. */
                expect_pattern(att, &a_dn_r, (size_t)(a_dn_w - a_dn_r), 5);
                expect_pattern(peer_a, &a_up_r, (size_t)(a_up_w - a_up_r), 7);
                expect_pattern(peer_c, &p_r, (size_t)(p_w - p_r), 9);
        }
        printf("# attached and piped across 6 upgrades: %" PRIu64 " bytes in, %" PRIu64
               " out, %" PRIu64 " piped, none lost or repeated\n",
               a_dn_r, a_up_r, p_r);
        assert_true(a_dn_r > 0 && a_up_r > 0 && p_r > 0);
        {
                /* The point of the test: some upgrade had bytes inside the pumps' kernel pipes. */
                char *log = netd_test_read_file(t, "netd.log"), *at = log;
                unsigned long long held, most = 0;

                while ((at = strstr(at, "3 pumps ("))) {
                        at += strlen("3 pumps (");
                        held = strtoull(at, NULL, 10);
                        if (held > most)
                                most = held;
                }
                printf("# at most %llu bytes were inside the pumps' pipes at an exec\n", most);
                assert_true(most > 0);
                free(log);
        }
        close(att);
        close(peer_a);
        close(peer_b);
        close(peer_c);
        close(lfd);
        netd_test_raw_close(&r);
        netd_test_raw_close(&q);
}

/* ---- Sessions: carried and lingering ones cross the exec ----------------------------------- */

/* SIGUSR2, then netd.info on tc until it shows want. */
static void upgrade_and_wait(struct netd_test_daemon *t, struct netd_test_client *tc,
                             const char *want)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        assert_int_equal(kill(t->pid, SIGUSR2), 0);
        for (;;) {
                char *v = info_version(tc);
                bool done = strcmp(v, want) == 0;

                free(v);
                if (done)
                        return;
                if (netd_test_now_ms() > deadline)
                        fail_msg("netd.info never showed version %s", want);
        }
}

/* Counts a true reply; anything else fails the test. */
static void count_true_cb(struct netd_client *c, json_t *result,
                          const struct netd_client_error *err, void *userdata)
{
        if (!result || !json_is_true(result))
                fail_msg("socket.write failed: %s", err && err->message ? err->message : "?");
        (*(int *)userdata)++;
}

static void test_upgrade_sessions(struct netd_test_daemon *t)
{
        struct netd_test_client *tc, *tc2, *tc3, *obs;
        char *base, alt[80], token[64];
        int lfd, lport, peer, srv_port, client;
        uint64_t srv, sock;
        json_t *res;
        const struct netd_test_rx *rx;

        launch_from_dir(t, NULL);
        tc = netd_test_connect(t);
        base = info_version(tc);
        (void)snprintf(alt, sizeof(alt), "%s+alt", base);
        srv = netd_test_create_server(tc, NULL);
        srv_port = netd_test_listen(tc, srv, "127.0.0.1");
        lfd = netd_test_tcp_socket(true, &lport);
        sock = netd_test_connect_tcp(tc, lport, "127.0.0.1", NULL);
        peer = netd_test_accept_peer(lfd);
        netd_test_wait_event(tc, "socket.connect", sock, NETD_TEST_TIMEOUT_MS);
        res = netd_test_call(tc, "netd.detach", json_pack("{s:i}", "lingerMs", 60000));
        (void)snprintf(token, sizeof(token), "%s",
                       json_string_value(json_object_get(res, "token")));
        json_decref(res);
        assert_int_equal(write(peer, "before-", 7), 7);
        netd_test_wait_until(t, netd_test_rx(tc, sock)->len == 7);

        /* An observer (netctl monitor) of that socket. */
        obs = netd_test_connect(t);
        res = netd_test_call(
                obs, "netd.subscribe",
                json_pack("{s:[I],s:[s]}", "handles", (json_int_t)sock, "events", "socket.data"));
        json_decref(res);
        /* A session carried by a live connection. */
        install_as_netd(t, "netd-b");
        upgrade_and_wait(t, tc, alt);
        assert_int_equal(write(peer, "carried-", 8), 8);
        netd_test_wait_until(t, netd_test_rx(tc, sock)->len == 15);
        /* The subscription went on in the new image: the observer sees the data after it. */
        netd_test_wait_until(t, netd_test_count_events(obs, "netd.event", 0) == 1);
        {
                json_t *last = obs->events[obs->n_events - 1].params;

                netd_test_assert_str(last, "event", "socket.data");
                assert_int_equal(netd_test_int_at(last, "handle"), (json_int_t)sock);
        }
        netd_test_disconnect(obs);
        rx = netd_test_rx(tc, sock);
        assert_memory_equal(rx->buf, "before-carried-", 15);

        /* The client goes: its handles linger, the peer's bytes are kept. */
        netd_test_disconnect(tc);
        tc2 = netd_test_connect(t);
        netd_test_wait_until(t, info_stat(tc2, "stats.sessions") == 1);
        assert_int_equal(write(peer, "lingering-", 10), 10);
        /* netd reads it while lingering: the socket's bytesRead says so (netd.handles). */
        {
                int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

                for (;;) {
                        json_t *h = netd_test_call(tc2, "netd.handles", NULL);
                        json_t *row;
                        size_t i;
                        bool seen = false;

                        json_array_foreach(json_object_get(h, "handles"), i, row)
                                if ((uint64_t)json_integer_value(json_object_get(row, "id")) ==
                                            sock &&
                                    json_integer_value(json_object_get(row, "bytesRead")) == 25)
                                        seen = true;
                        json_decref(h);
                        if (seen)
                                break;
                        if (netd_test_now_ms() > deadline)
                                fail_msg("netd never read the bytes sent while the session "
                                         "lingered");
                }
        }
        /* A lingering session, its kept events and its timer cross an upgrade. */
        install_as_netd(t, "netd-a");
        upgrade_and_wait(t, tc2, base);
        assert_int_equal(info_stat(tc2, "stats.sessions"), 1);
        assert_int_equal(write(peer, "after-", 6), 6);
        client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        {
                struct sockaddr_in sa = { .sin_family = AF_INET,
                                          .sin_port = htons((uint16_t)srv_port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                assert_int_equal(connect(client, (struct sockaddr *)&sa, sizeof(sa)), 0);
        }
        tc3 = netd_test_connect(t);
        res = netd_test_call(tc3, "netd.attach", json_pack("{s:s}", "token", token));
        /* The server, the socket, and the connection the server accepted while lingering. */
        assert_int_equal(json_array_size(json_object_get(res, "handles")), 3);
        json_decref(res);
        /* Every byte once, in order: kept before the exec, kept after, live. */
        netd_test_wait_until(t, netd_test_rx(tc3, sock)->len == 16);
        rx = netd_test_rx(tc3, sock);
        assert_memory_equal(rx->buf, "lingering-after-", 16);
        netd_test_wait_event(tc3, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        netd_test_call_true(tc3, "socket.write",
                            json_pack("{s:I,s:s}", "socket", (json_int_t)sock, "data", "back"));
        netd_test_peer_expect(t, peer, "back");
        {
                /*
                 * Large writes (queued by reference, not copied) the peer does not
                 * read yet: more than the kernel's buffers hold, so part waits in
                 * netd's queue across the exec; each reply comes once, from the
                 * new image.
                 */
                const size_t chunk = 900 * 1024, n = 16;
                char *data = malloc(chunk + 1);
                uint64_t pos = 0;
                int replies = 0;

                assert_non_null(data);
                for (size_t k = 0; k < n; k++) {
                        for (size_t i = 0; i < chunk; i++)
                                data[i] = pattern(k * chunk + i, 13);
                        data[chunk] = '\0';
                        assert_int_equal(netd_client_call(tc3->c, "socket.write",
                                                          json_pack("{s:I,s:s}", "socket",
                                                                    (json_int_t)sock, "data", data),
                                                          count_true_cb, &replies),
                                         0);
                }
                free(data);
                netd_test_call_true(tc3, "netd.sync", NULL);
                res = netd_test_call(tc3, "socket.get",
                                     netd_test_handle_params("socket", sock, NULL));
                printf("# %lld bytes waited in netd's queue at the exec\n",
                       (long long)netd_test_int_at(res, "bufferSize"));
                assert_true(netd_test_int_at(res, "bufferSize") > 0);
                json_decref(res);
                install_as_netd(t, "netd-b");
                upgrade_and_wait(t, tc3, alt);
                expect_pattern(peer, &pos, chunk * n, 13);
                netd_test_wait_until(t, replies == (int)n);
                netd_test_call_true(tc3, "netd.sync", NULL);
                assert_int_equal(replies, (int)n);
        }
        close(client);
        close(peer);
        close(lfd);
        free(base);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST_MANUAL(test_upgrade_refused),
                NETD_TEST_MANUAL(test_upgrade_connecting_and_backlog),
                NETD_TEST_MANUAL(test_upgrade_attached_and_piped),
                NETD_TEST_MANUAL(test_upgrade_sessions),
                NETD_TEST_MANUAL(test_upgrade_stream),
        };

        return cmocka_run_group_tests_name("integration/upgrade", tests, NULL, NULL);
}
