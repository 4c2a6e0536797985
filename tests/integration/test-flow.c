/*
 * Integration: flow control and scale (PROTOCOL.md §12; reliability.md rows
 * 11-13, 21 and 26). netd never drops a byte to bound its memory: it stops
 * reading instead, so the kernel pushes back on whoever is too fast. Each
 * test drives one direction to that point and checks three things: every
 * byte arrives in order (compared position by position against a
 * random-access pseudo-random stream, and as an FNV-1a hash of what was sent
 * and what arrived), the push-back is visible where it must be (EAGAIN at
 * the fast side, netd.info counters) and netd's RSS stays bounded. The
 * last three check the clean-up of a SIGKILLed client, 10 000 concurrent
 * connections and an accept storm at the descriptor limit.
 *
 * Sizes are scaled down under AddressSanitizer (printed at the start of
 * each test); there, netd runs with a 4 MiB ASan quarantine instead of
 * 256 MiB (see main()) so that its RSS measures netd's own buffers, not the
 * freed memory ASan keeps to catch uses after free.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "encoding.h"
#include "netd-test.h"

#define MIB ((size_t)1024 * 1024)

/* Test 1: peer -> slow client. The reader takes one bite per pause. */
#define SLOW_TOTAL_BYTES (NETD_TEST_ASAN ? 64 * MIB : 256 * MIB)
#define SLOW_BITE_BYTES  (64 * 1024)
#define SLOW_PAUSE_MS    1

/* Test 2: client -> peer that does not read, then does. */
#define STALL_TOTAL_BYTES (NETD_TEST_ASAN ? 32 * MIB : 128 * MIB)
#define STALL_CHUNK_BYTES (64 * 1024)
#define STALL_BATCH       16  /* writes per batch; the last one has an id */
#define STALL_PHASE1_BYTES (16 * MIB) /* written before the peer reads: all of it is taken */

/* Test 3: the other client's transfer while one is killed. */
#define KILL_OTHER_BYTES (NETD_TEST_ASAN ? 8 * MIB : 32 * MIB)
#define KILL_CHUNK_BYTES (64 * 1024)
#define KILL_CLEANUP_MS  1000

/* Test 4: concurrent connections through one netd server. */
#define MANY_CONNS        (NETD_TEST_ASAN ? 2000 : 10000)
#define MANY_PENDING      256 /* connects not yet accepted, at most */
#define MANY_MSG_LEN      19  /* "conn 00000000 echo\n" */
/* Under ASan every allocation carries redzones and shadow memory: 1.5 KiB measured without. */
#define MANY_RSS_PER_CONN (NETD_TEST_ASAN ? 16384 : 8192)

/* Test 5: accept storm at the descriptor limit. */
#define STORM_NOFILE     128
#define STORM_WINDOW_MS  2000
#define STORM_EXTRA      10 /* connections beyond what netd can accept, at the start */
#define STORM_EVERY_MS   50 /* one more connection this often during the window */
#define STORM_CPU_PCT    20
#define STORM_BACKOFF_MS 1000

/* netd's RSS bound while data streams through it (reliability.md row 11). */
#define RSS_LIMIT_KB  (64 * 1024)
/* Plus what the writer queues before the peer reads (STALL_PHASE1_BYTES), base64 included. */
#define WRITE_HARD_KB (24 * 1024)

/* ---- A random-access byte stream, and its checker ------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9ULL;
        x ^= x >> 27;
        x *= 0x94D049BB133111EBULL;
        return x ^ (x >> 31);
}

/*
 * The len bytes at offset off of stream seed. Any byte can be computed on
 * its own, so the receiver checks each byte against its position: a lost,
 * repeated or reordered chunk is caught where a repeating pattern would not be.
 */
static void stream_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
        size_t i = 0;

        while (i < len) {
                uint64_t pos = off + i;
                uint64_t word = mix64(seed + (pos >> 3) * 0x9E3779B97F4A7C15ULL);

                for (unsigned b = (unsigned)(pos & 7); b < 8 && i < len; b++, i++)
                        buf[i] = (uint8_t)(word >> (8 * b));
        }
}

#define FNV_INIT 0xCBF29CE484222325ULL

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= 0x100000001B3ULL;
        }
        return h;
}

/* What a receiver got of one stream. */
struct stream_check {
        uint64_t seed;
        uint64_t got;    /* bytes received */
        uint64_t hash;   /* FNV-1a of them */
        uint64_t bad_at; /* first byte that differs from the stream, UINT64_MAX if none */
        uint8_t *expect; /* scratch */
        size_t expect_cap;
};

static void check_init(struct stream_check *sc, uint64_t seed)
{
        *sc = (struct stream_check){ .seed = seed, .hash = FNV_INIT, .bad_at = UINT64_MAX };
}

static void check_done(struct stream_check *sc)
{
        free(sc->expect);
        sc->expect = NULL;
}

static void check_bytes(struct stream_check *sc, const uint8_t *p, size_t n)
{
        if (sc->expect_cap < n) {
                free(sc->expect);
                sc->expect = malloc(n);
                assert_non_null(sc->expect);
                sc->expect_cap = n;
        }
        stream_fill(sc->seed, sc->got, sc->expect, n);
        if (sc->bad_at == UINT64_MAX && memcmp(p, sc->expect, n) != 0) {
                size_t i = 0;

                while (p[i] == sc->expect[i])
                        i++;
                sc->bad_at = sc->got + i;
        }
        sc->hash = fnv1a(sc->hash, p, n);
        sc->got += n;
}

/* Asserts that sc got exactly total bytes of the stream, hashing to sent_hash. */
static void check_assert(const struct stream_check *sc, uint64_t total, uint64_t sent_hash,
                         const char *what)
{
        if (sc->bad_at != UINT64_MAX)
                fail_msg("%s: byte %" PRIu64 " differs from what was sent", what, sc->bad_at);
        if (sc->got != total)
                fail_msg("%s: received %" PRIu64 " bytes, sent %" PRIu64, what, sc->got, total);
        if (sc->hash != sent_hash)
                fail_msg("%s: hash %016" PRIx64 " of the received bytes, %016" PRIx64 " sent", what,
                         sc->hash, sent_hash);
}

/* A non-blocking sender of one stream. */
struct stream_send {
        uint64_t seed;
        uint64_t total;
        uint64_t sent;
        uint64_t hash;
        uint64_t eagain; /* times the socket was full */
        uint8_t *buf;    /* generated bytes [off, len) not yet sent */
        size_t off, len, cap;
};

static void sender_init(struct stream_send *ss, uint64_t seed, uint64_t total)
{
        *ss = (struct stream_send){ .seed = seed, .total = total, .hash = FNV_INIT };
        ss->cap = 256 * 1024;
        ss->buf = malloc(ss->cap);
        assert_non_null(ss->buf);
}

/* Sends what the socket takes now; counts a full socket in eagain. */
static void sender_push(struct stream_send *ss, int fd)
{
        while (ss->sent < ss->total) {
                ssize_t n;

                if (ss->off == ss->len) {
                        ss->len = ss->total - ss->sent < ss->cap ? (size_t)(ss->total - ss->sent)
                                                                 : ss->cap;
                        ss->off = 0;
                        stream_fill(ss->seed, ss->sent, ss->buf, ss->len);
                }
                n = send(fd, ss->buf + ss->off, ss->len - ss->off, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0) {
                        ss->hash = fnv1a(ss->hash, ss->buf + ss->off, (size_t)n);
                        ss->off += (size_t)n;
                        ss->sent += (uint64_t)n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        ss->eagain++;
                        return;
                }
                fail_msg("send: %s", n < 0 ? strerror(errno) : "sent nothing");
        }
}

/*
 * Reads what fd has now (at most max bytes) into sc. Returns the bytes
 * read; sets *eof on EOF or a connection error.
 */
static size_t peer_pull(int fd, struct stream_check *sc, size_t max, bool *eof)
{
        static uint8_t buf[256 * 1024];
        size_t total = 0;

        while (total < max) {
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n > 0) {
                        if (sc)
                                check_bytes(sc, buf, (size_t)n);
                        total += (size_t)n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        break;
                *eof = true;
                break;
        }
        return total;
}

/* ---- Small helpers ------------------------------------------------------------------------- */

static json_t *netd_info(struct netd_test_client *tc)
{
        return netd_test_call(tc, "netd.info", NULL);
}

/* The daemon's user + system CPU time in milliseconds (/proc/PID/stat). */
static long daemon_cpu_ms(struct netd_test_daemon *t)
{
        char path[64], buf[1024];
        unsigned long long utime = 0, stime = 0;
        const char *p;
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)t->pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fail_msg("open %s: %s", path, strerror(errno));
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        assert_true(n > 0);
        buf[n] = '\0';
        /* The name may hold spaces: the fields start after its closing parenthesis. */
        p = strrchr(buf, ')');
        assert_non_null(p);
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                   &stime) != 2)
                fail_msg("cannot parse %s: %s", path, buf);
        return (long)((utime + stime) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* How many times needle occurs in the daemon's log. */
static int log_count(struct netd_test_daemon *t, const char *needle)
{
        char *log = netd_test_read_file(t, "netd.log");
        int n = 0;

        for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        free(log);
        return n;
}

/* A non-blocking TCP connect to 127.0.0.1:port; returns the fd (the connect may be in progress). */
static int tcp_connect_nb(int port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0)
                fail_msg("socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
                fail_msg("connect 127.0.0.1:%d: %s", port, strerror(errno));
        return fd;
}

/* ---- Raw control connections, read in bites ----------------------------------------------- */

/*
 * Reads at most max bytes (one recv) from r into its buffer. Returns the
 * bytes read, 0 at EOF (r->eof is set), -1 when nothing is there now.
 */
static ssize_t raw_bite(struct netd_test_raw *r, size_t max)
{
        ssize_t n;

        if (r->cap - r->len < max) {
                size_t cap = r->cap ? r->cap : 131072;

                while (cap - r->len < max)
                        cap *= 2;
                r->buf = realloc(r->buf, cap);
                assert_non_null(r->buf);
                r->cap = cap;
        }
        n = recv(r->fd, r->buf + r->len, max, MSG_DONTWAIT);
        if (n > 0) {
                r->len += (size_t)n;
                return n;
        }
        if (n == 0) {
                r->eof = true;
                return 0;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return -1;
        fail_msg("recv from netd: %s", strerror(errno));
        return -1;
}

typedef void (*line_fn)(void *ctx, const char *line, size_t len);

/* Hands every complete line in r's buffer to fn (without its "\n"), keeping the partial rest. */
static void raw_lines(struct netd_test_raw *r, line_fn fn, void *ctx)
{
        size_t start = 0;
        char *nl;

        while (start < r->len && (nl = memchr(r->buf + start, '\n', r->len - start))) {
                fn(ctx, r->buf + start, (size_t)(nl - (r->buf + start)));
                start = (size_t)(nl - r->buf) + 1;
        }
        if (start > 0) {
                memmove(r->buf, r->buf + start, r->len - start);
                r->len -= start;
        }
}

/* Sends a request with id on r and returns its result (a new reference); events are skipped. */
static json_t *raw_call(struct netd_test_raw *r, int id, const char *method, json_t *params)
{
        json_t *req = json_pack("{s:s,s:i,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method,
                                "params", params);
        char *text = json_dumps(req, JSON_COMPACT);

        assert_non_null(text);
        netd_test_raw_send_str(r, text);
        netd_test_raw_send_str(r, "\n");
        free(text);
        json_decref(req);
        for (;;) {
                json_t *msg = netd_test_raw_recv(r);
                json_t *rid = json_object_get(msg, "id");

                if (json_is_integer(rid) && json_integer_value(rid) == id) {
                        json_t *result = json_incref(json_object_get(msg, "result"));

                        if (!result) {
                                text = json_dumps(msg, JSON_COMPACT);
                                fail_msg("%s failed: %s", method, text ? text : "?");
                        }
                        json_decref(msg);
                        return result;
                }
                json_decref(msg);
        }
}

/* net.connect to 127.0.0.1:port over r; returns the socket id. */
static uint64_t raw_connect(struct netd_test_raw *r, int id, int port)
{
        json_t *res = raw_call(r, id, "net.connect",
                               json_pack("{s:i,s:s}", "port", port, "host", "127.0.0.1"));
        uint64_t sock = 0;

        assert_int_equal(netd_client_get_handle(res, "socket", &sock), 0);
        json_decref(res);
        return sock;
}

/* ---- 1. A slow control client pushes back on the remote peer ------------------------------- */

struct slow_reader {
        uint64_t socket;
        struct stream_check check;
        size_t data_events;
        size_t other_events;
        char other[256]; /* the first line that was not this socket's data */
};

static void slow_reader_line(void *ctx, const char *line, size_t len)
{
        struct slow_reader *sr = ctx;
        json_t *msg = json_loadb(line, len, 0, NULL);
        json_t *params = json_object_get(msg, "params");
        const char *method = json_string_value(json_object_get(msg, "method"));
        uint64_t sock = 0;
        void *buf;
        size_t n;

        if (method && strcmp(method, "socket.data") == 0 &&
            netd_client_get_handle(params, "socket", &sock) == 0 && sock == sr->socket &&
            netd_client_decode_data(params, &buf, &n) == 0) {
                check_bytes(&sr->check, buf, n);
                free(buf);
                sr->data_events++;
        } else if (method && netd_client_get_handle(params, "socket", &sock) == 0 &&
                   sock == sr->socket &&
                   (strcmp(method, "socket.connect") == 0 || strcmp(method, "socket.ready") == 0)) {
                /* The connect's own events, before the data. */
        } else if (sr->other_events++ == 0) {
                snprintf(sr->other, sizeof(sr->other), "%.*s", (int)(len < 200 ? len : 200), line);
        }
        json_decref(msg);
}

/*
 * A raw TCP peer floods a socket netd owns for a client that reads its
 * control connection in 64 KiB bites with a pause after each: netd's
 * output queue fills, it stops reading the peer, the peer's send() meets a
 * full socket, and nothing is lost or reordered on the way.
 */
static void test_slow_client_pushes_back_on_peer(struct netd_test_daemon *t)
{
        const uint64_t total = SLOW_TOTAL_BYTES;
        struct netd_test_client *info_client = netd_test_connect(t);
        struct slow_reader sr = { .other_events = 0 };
        struct stream_send snd;
        struct netd_test_raw ctl;
        int64_t start, deadline, next_bite = 0, next_rss = 0;
        long rss_base, rss_peak = 0, limit_kb;
        size_t bites = 0;
        bool ctl_wait = false;
        int lport, lfd, peer;
        json_t *info;

        printf("slow reader: %" PRIu64 " MiB from the peer, read in %d KiB bites every %d ms%s\n",
               total / MIB, SLOW_BITE_BYTES / 1024, SLOW_PAUSE_MS, NETD_TEST_ASAN ? " (ASan)" : "");
        lfd = netd_test_tcp_socket(true, &lport);
        netd_test_raw_open(t, &ctl);
        sr.socket = raw_connect(&ctl, 1, lport);
        peer = netd_test_accept_peer(lfd);
        check_init(&sr.check, 0x51041);
        sender_init(&snd, 0x51041, total);
        rss_base = netd_test_daemon_rss_kb(t);
        limit_kb = RSS_LIMIT_KB;

        start = netd_test_now_ms();
        deadline = netd_test_deadline(180 * 1000);
        while (sr.check.got < total) {
                int64_t now = netd_test_now_ms();
                struct pollfd pfd[2];
                nfds_t n = 0;
                int64_t timeout;

                if (now >= deadline)
                        fail_msg("timed out: peer sent %" PRIu64 ", client received %" PRIu64
                                 " of %" PRIu64 " bytes",
                                 snd.sent, sr.check.got, total);
                if (sr.other_events)
                        fail_msg("unexpected message on the control connection: %s", sr.other);
                if (snd.sent < total)
                        sender_push(&snd, peer);
                if (now >= next_rss) {
                        long kb = netd_test_daemon_rss_kb(t);

                        if (kb > rss_peak)
                                rss_peak = kb;
                        next_rss = now + 20;
                }
                if (!ctl_wait && now >= next_bite) {
                        ssize_t got = raw_bite(&ctl, SLOW_BITE_BYTES);

                        if (got > 0) {
                                raw_lines(&ctl, slow_reader_line, &sr);
                                bites++;
                                next_bite = now + SLOW_PAUSE_MS;
                        } else if (ctl.eof) {
                                fail_msg("netd closed the control connection");
                        } else {
                                ctl_wait = true; /* nothing there: wait for input, no pause */
                        }
                        continue;
                }
                if (snd.sent < total)
                        pfd[n++] = (struct pollfd){ .fd = peer, .events = POLLOUT };
                if (ctl_wait)
                        pfd[n++] = (struct pollfd){ .fd = ctl.fd, .events = POLLIN };
                /* The pause: a poll timeout, during which only the peer is served. */
                timeout = ctl_wait ? 20 : next_bite - now;
                if (timeout > 20)
                        timeout = 20;
                if (timeout < 0)
                        timeout = 0;
                if (poll(pfd, n, (int)timeout) > 0 && ctl_wait && (pfd[n - 1].revents & POLLIN))
                        ctl_wait = false;
        }

        info = netd_info(info_client);
        printf("slow reader: %" PRIu64 " MiB in %" PRId64 " ms, %zu bites, %zu data events; peer "
               "saw a full socket %" PRIu64 " times; netd RSS %ld KiB at the start, peak %ld KiB "
               "(limit %ld); readsPaused %lld\n",
               total / MIB, netd_test_now_ms() - start, bites, sr.data_events, snd.eagain, rss_base,
               rss_peak, limit_kb, (long long)netd_test_int_at(info, "stats.readsPaused"));
        check_assert(&sr.check, total, snd.hash, "peer -> slow client");
        assert_int_equal(sr.other_events, 0);
        /* The push-back reached the peer: its sends blocked while the client was slow. */
        if (snd.eagain == 0)
                fail_msg("the peer's sends never blocked: netd kept reading from it");
        assert_true(netd_test_int_at(info, "stats.readsPaused") >= 1);
        assert_true(netd_test_int_at(info, "stats.bytesIn") >= (json_int_t)total);
        if (rss_peak >= limit_kb)
                fail_msg("netd's RSS reached %ld KiB, limit %ld KiB", rss_peak, limit_kb);
        json_decref(info);

        check_done(&sr.check);
        free(snd.buf);
        close(peer);
        close(lfd);
        netd_test_raw_close(&ctl);
}

/* ---- 2. A peer that does not read holds the writing client back ---------------------------- */

struct stall_writer {
        struct netd_test_raw ctl;
        uint64_t socket;
        uint64_t seed;
        size_t writes; /* write lines in all */
        size_t next;   /* the next write line to build */
        char *line;    /* the line being sent */
        size_t line_len, line_off;
        uint8_t *raw;    /* scratch: one chunk */
        uint64_t sent;   /* payload bytes of the lines sent completely */
        uint64_t hash;   /* FNV-1a of that payload */
        uint64_t eagain; /* times the control socket was full */
        int64_t last_progress;
        size_t batches;  /* batches begun (their first line built) */
        size_t requests; /* lines sent with an id */
        size_t replies;  /* replies true, in id order */
        json_int_t last_id;
        size_t drains; /* socket.drain events */
        size_t bad;    /* error replies, replies out of order, socket.error or close */
        char bad_text[256];
};

/* Builds write line k: a request with id k+1 when it ends a batch, else a notification. */
static void writer_build(struct stall_writer *w)
{
        size_t k = w->next++;
        bool with_id = k % STALL_BATCH == STALL_BATCH - 1 || k + 1 == w->writes;
        int n;

        stream_fill(w->seed, (uint64_t)k * STALL_CHUNK_BYTES, w->raw, STALL_CHUNK_BYTES);
        w->hash = fnv1a(w->hash, w->raw, STALL_CHUNK_BYTES);
        if (k % STALL_BATCH == 0)
                w->batches++;
        if (with_id)
                n = sprintf(w->line, "{\"jsonrpc\":\"2.0\",\"id\":%zu,", k + 1);
        else
                n = sprintf(w->line, "{\"jsonrpc\":\"2.0\",");
        n += sprintf(w->line + n,
                     "\"method\":\"socket.write\",\"params\":{\"socket\":%" PRIu64 ",\"data\":\"",
                     w->socket);
        n += (int)netd_base64_encode(w->raw, STALL_CHUNK_BYTES, w->line + n, 0);
        n += sprintf(w->line + n, "\",\"encoding\":\"base64\"}}\n");
        w->line_len = (size_t)n;
        w->line_off = 0;
        if (with_id)
                w->requests++;
}

/*
 * Sends what the control socket takes now. A new batch starts only when
 * may_start_batch (a line once begun is always finished).
 */
static void writer_push(struct stall_writer *w, bool may_start_batch)
{
        for (;;) {
                ssize_t n;

                if (w->line_off == w->line_len) {
                        if (w->next == w->writes)
                                return;
                        if (w->next % STALL_BATCH == 0 && !may_start_batch)
                                return;
                        writer_build(w);
                }
                n = send(w->ctl.fd, w->line + w->line_off, w->line_len - w->line_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0) {
                        w->line_off += (size_t)n;
                        w->last_progress = netd_test_now_ms();
                        if (w->line_off == w->line_len)
                                w->sent += STALL_CHUNK_BYTES;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        w->eagain++;
                        return;
                }
                fail_msg("send to netd: %s", n < 0 ? strerror(errno) : "sent nothing");
        }
}

static bool writer_busy(const struct stall_writer *w, bool may_start_batch)
{
        return w->line_off < w->line_len ||
               (w->next < w->writes && (w->next % STALL_BATCH != 0 || may_start_batch));
}

static void writer_bad(struct stall_writer *w, const char *line, size_t len)
{
        if (w->bad++ == 0)
                snprintf(w->bad_text, sizeof(w->bad_text), "%.*s", (int)(len < 200 ? len : 200),
                         line);
}

static void writer_line(void *ctx, const char *line, size_t len)
{
        struct stall_writer *w = ctx;
        json_t *msg = json_loadb(line, len, 0, NULL);
        json_t *id = json_object_get(msg, "id");
        const char *method = json_string_value(json_object_get(msg, "method"));

        if (json_is_integer(id)) {
                /* Writes complete in the order they were queued (§10.3). */
                if (!json_is_true(json_object_get(msg, "result")) ||
                    json_integer_value(id) <= w->last_id) {
                        writer_bad(w, line, len);
                } else {
                        w->replies++;
                        w->last_id = json_integer_value(id);
                }
        } else if (method && strcmp(method, "socket.drain") == 0) {
                w->drains++;
        } else if (method &&
                   (strcmp(method, "socket.connect") == 0 || strcmp(method, "socket.ready") == 0)) {
                /* The connect's own events, before the data. */
        } else {
                writer_bad(w, line, len);
        }
        json_decref(msg);
}

/* Reads everything the control connection has now. */
static void writer_pull(struct stall_writer *w)
{
        while (raw_bite(&w->ctl, 256 * 1024) > 0)
                raw_lines(&w->ctl, writer_line, w);
        if (w->ctl.eof)
                fail_msg("netd closed the writer's control connection");
}

/*
 * A client writes with socket.write (notifications, every 16th a request
 * with an id) to a peer that reads nothing. As Node buffers, netd takes all
 * 16 MiB (under the socket's write_hard_bytes): the client's input is never
 * held, and netd's RSS grows by about the queue only. Then the peer reads:
 * every byte arrives, every request is answered in order, and socket.drain
 * follows each batch the client waits for.
 */
static void test_stalled_peer_queues_writer(struct netd_test_daemon *t)
{
        const uint64_t total = STALL_TOTAL_BYTES;
        struct netd_test_client *info_client = netd_test_connect(t);
        struct stall_writer w = { .seed = 0x57A11 };
        struct stream_check check;
        int64_t start, deadline, next_rss = 0, held_at;
        long rss_base, rss_peak = 0, limit_kb = RSS_LIMIT_KB + WRITE_HARD_KB;
        size_t drains_held, batches_held, batches_after, sent_held;
        json_int_t held0;
        int lport, lfd, peer;
        bool eof = false, held = false;
        json_t *info;

        printf("stalled peer: %" PRIu64 " MiB in %d KiB socket.write lines%s\n", total / MIB,
               STALL_CHUNK_BYTES / 1024, NETD_TEST_ASAN ? " (ASan)" : "");
        w.writes = total / STALL_CHUNK_BYTES;
        w.hash = FNV_INIT;
        w.raw = malloc(STALL_CHUNK_BYTES);
        w.line = malloc(STALL_CHUNK_BYTES * 2 + 256);
        assert_non_null(w.raw);
        assert_non_null(w.line);
        lfd = netd_test_tcp_socket(true, &lport);
        netd_test_raw_open(t, &w.ctl);
        w.socket = raw_connect(&w.ctl, 1000000, lport);
        peer = netd_test_accept_peer(lfd);
        check_init(&check, w.seed);
        rss_base = netd_test_daemon_rss_kb(t);
        start = netd_test_now_ms();
        w.last_progress = start;

        /* The peer reads nothing: netd takes all of phase 1 all the same. */
        info = netd_info(info_client);
        held0 = netd_test_int_at(info, "stats.inputHeld");
        json_decref(info);
        deadline = netd_test_deadline(60 * 1000);
        while (writer_busy(&w, w.sent < STALL_PHASE1_BYTES)) {
                int64_t now = netd_test_now_ms();

                if (now >= deadline)
                        fail_msg("netd stopped taking the writer's requests after %" PRIu64
                                 " bytes (EAGAIN %" PRIu64 ")",
                                 w.sent, w.eagain);
                writer_push(&w, w.sent < STALL_PHASE1_BYTES);
                writer_pull(&w);
                if (now >= next_rss) {
                        long kb = netd_test_daemon_rss_kb(t);

                        if (kb > rss_peak)
                                rss_peak = kb;
                        next_rss = now + 20;
                }
                (void)poll(&(struct pollfd){ .fd = w.ctl.fd, .events = POLLIN | POLLOUT }, 1, 50);
        }
        /* Every byte reached netd: queued for the peer or already in the kernel. */
        for (;;) {
                json_int_t taken;

                info = netd_info(info_client);
                taken = netd_test_int_at(info, "stats.queuedBytes") +
                        netd_test_int_at(info, "stats.bytesOut");
                json_decref(info);
                if (taken >= (json_int_t)w.sent)
                        break;
                if (netd_test_now_ms() >= deadline)
                        fail_msg("netd took %lld of %" PRIu64 " bytes", (long long)taken, w.sent);
                writer_pull(&w);
                (void)poll(&(struct pollfd){ .fd = w.ctl.fd, .events = POLLIN }, 1, 20);
        }
        held_at = netd_test_now_ms();
        sent_held = w.sent;
        drains_held = w.drains;
        batches_held = w.batches;
        info = netd_info(info_client);
        held = netd_test_int_at(info, "stats.inputHeld") > held0;
        printf("stalled peer: netd took all %zu KiB in %" PRId64 " ms while the peer read "
               "nothing (client EAGAIN %" PRIu64 " times); bytes queued %lld; input held: %s; "
               "netd RSS %ld KiB at the start, peak %ld KiB\n",
               sent_held / 1024, held_at - start, w.eagain,
               (long long)netd_test_int_at(info, "stats.queuedBytes"), held ? "yes" : "no",
               rss_base, rss_peak);
        /* Nothing about the socket held the connection; the peer read nothing yet. */
        assert_false(held);
        assert_true(sent_held >= STALL_PHASE1_BYTES);
        assert_true(w.replies < w.requests);
        json_decref(info);

        /*
         * Now the peer reads. The client behaves as Node's would: once its
         * backlog is answered, it writes a batch and waits for the batch's
         * reply before the next one, so netd's queue empties after each
         * batch and a socket.drain follows.
         */
        deadline = netd_test_deadline(180 * 1000);
        while (check.got < total || w.replies < w.requests || writer_busy(&w, true)) {
                int64_t now = netd_test_now_ms();
                bool may = w.replies == w.requests;
                struct pollfd pfd[2] = {
                        { .fd = w.ctl.fd,
                          .events = (short)(POLLIN | (writer_busy(&w, may) ? POLLOUT : 0)) },
                        { .fd = peer, .events = POLLIN },
                };

                if (now >= deadline)
                        fail_msg("timed out: sent %" PRIu64 ", peer got %" PRIu64 " of %" PRIu64
                                 " bytes, %zu of %zu replies",
                                 w.sent, check.got, total, w.replies, w.requests);
                if (w.bad)
                        fail_msg("unexpected message for the writer: %s", w.bad_text);
                writer_push(&w, may);
                writer_pull(&w);
                (void)peer_pull(peer, &check, 4 * MIB, &eof);
                if (eof)
                        fail_msg("the peer's connection closed after %" PRIu64 " bytes", check.got);
                if (now >= next_rss) {
                        long kb = netd_test_daemon_rss_kb(t);

                        if (kb > rss_peak)
                                rss_peak = kb;
                        next_rss = now + 20;
                }
                (void)poll(pfd, 2, 20);
        }
        batches_after = w.batches - batches_held;
        /* The last drain may still be on its way: it follows the last write's reply. */
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        while (w.drains - drains_held < batches_after && netd_test_now_ms() < deadline) {
                writer_pull(&w);
                (void)poll(&(struct pollfd){ .fd = w.ctl.fd, .events = POLLIN }, 1, 20);
        }

        printf("stalled peer: %" PRIu64 " MiB delivered in %" PRId64 " ms; %zu requests answered "
               "in order; socket.drain %zu times (%zu before the peer read, %zu batches after); "
               "netd RSS peak %ld KiB (limit %ld)\n",
               total / MIB, netd_test_now_ms() - start, w.replies, w.drains, drains_held,
               batches_after, rss_peak, limit_kb);
        if (w.bad)
                fail_msg("unexpected message for the writer: %s", w.bad_text);
        check_assert(&check, total, w.hash, "client -> stalled peer");
        assert_int_equal(w.replies, w.requests);
        assert_int_equal(w.requests, (w.writes + STALL_BATCH - 1) / STALL_BATCH);
        /* The drain cycle: the queue went over the mark and emptied once per batch waited for. */
        assert_true(batches_after >= 2);
        if (w.drains - drains_held < batches_after)
                fail_msg("%zu socket.drain events for %zu batches", w.drains - drains_held,
                         batches_after);
        if (rss_peak >= limit_kb)
                fail_msg("netd's RSS reached %ld KiB, limit %ld KiB", rss_peak, limit_kb);

        check_done(&check);
        free(w.raw);
        free(w.line);
        close(peer);
        close(lfd);
        netd_test_raw_close(&w.ctl);
}

/* ---- 3. A client killed mid-transfer ------------------------------------------------------- */

/*
 * The child: a client that connects to netd, opens a connection to the
 * sink at port and writes to it until it is killed. Plain system calls
 * only: this is a fork of the test process (no cmocka, no harness).
 */
static void __attribute__((noreturn)) kill_child(const char *path, int port)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        static uint8_t raw[KILL_CHUNK_BYTES];
        static char line[KILL_CHUNK_BYTES * 2 + 256];
        char buf[4096];
        unsigned long long sock = 0;
        size_t len = 0;
        int fd, n;

        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                _exit(10);
        n = snprintf(buf, sizeof(buf),
                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"net.connect\","
                     "\"params\":{\"port\":%d,\"host\":\"127.0.0.1\"}}\n",
                     port);
        if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
                _exit(11);
        for (;;) {
                const char *p;
                ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);

                if (r <= 0)
                        _exit(12);
                len += (size_t)r;
                buf[len] = '\0';
                p = strstr(buf, "\"result\":{\"socket\":");
                if (p && sscanf(p + strlen("\"result\":{\"socket\":"), "%llu", &sock) == 1)
                        break;
                if (len == sizeof(buf) - 1)
                        _exit(13);
        }
        stream_fill(0xC411D, 0, raw, sizeof(raw));
        n = snprintf(line, sizeof(line),
                     "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":"
                     "{\"socket\":%llu,\"data\":\"",
                     sock);
        n += (int)netd_base64_encode(raw, sizeof(raw), line + n, 0);
        n += snprintf(line + n, sizeof(line) - (size_t)n, "\",\"encoding\":\"base64\"}}\n");
        /* Bounded all the same: 64 GiB is far more than the parent waits for. */
        for (long i = 0; i < 1024L * 1024; i++) {
                for (int off = 0; off < n;) {
                        ssize_t r = send(fd, line + off, (size_t)(n - off), MSG_NOSIGNAL);

                        if (r <= 0)
                                _exit(14);
                        off += (int)r;
                }
        }
        _exit(0);
}

/* The other client's transfer: socket.write with replies, at most 4 in flight. */
struct kill_flow {
        struct netd_client *c;
        uint64_t socket;
        uint64_t seed;
        uint64_t total, queued, acked;
        uint64_t hash;
        unsigned inflight;
        int errors;
        char error[160];
        uint8_t chunk[KILL_CHUNK_BYTES];
};

struct kill_write {
        struct kill_flow *f;
        size_t len;
};

static void kill_flow_cb(struct netd_client *c, json_t *result, const struct netd_client_error *err,
                         void *userdata)
{
        struct kill_write *kw = userdata;
        struct kill_flow *f = kw->f;

        f->inflight--;
        if (err || !json_is_true(result)) {
                if (f->errors++ == 0)
                        snprintf(f->error, sizeof(f->error), "%s",
                                 err ? err->message : "reply is not true");
        } else {
                f->acked += kw->len;
        }
        free(kw);
}

/* Queues writes while fewer than 4 are unanswered and queued < limit. */
static void kill_flow_feed(struct kill_flow *f, uint64_t limit)
{
        while (f->queued < limit && f->inflight < 4) {
                size_t len = limit - f->queued < KILL_CHUNK_BYTES ? (size_t)(limit - f->queued)
                                                                  : KILL_CHUNK_BYTES;
                struct kill_write *kw = malloc(sizeof(*kw));
                int r;

                assert_non_null(kw);
                *kw = (struct kill_write){ .f = f, .len = len };
                stream_fill(f->seed, f->queued, f->chunk, len);
                f->hash = fnv1a(f->hash, f->chunk, len);
                r = netd_client_socket_write(f->c, f->socket, f->chunk, len, kill_flow_cb, kw);
                if (r < 0) {
                        free(kw);
                        fail_msg("netd_client_socket_write: %s", strerror(-r));
                }
                f->queued += len;
                f->inflight++;
        }
}

/*
 * A client (a child process) writes to a connection it owns and is
 * SIGKILLed: within a second netd has closed its connection and handles
 * (netd.info from another client) and its descriptor count is back to the
 * baseline, while another client's transfer goes on and completes intact.
 * With peer_reads false the child's peer reads nothing, so that netd holds
 * the child's input (§12) when it dies: the kill must be noticed all the same.
 */
static void killed_client_case(struct netd_test_daemon *t, bool peer_reads)
{
        static struct kill_flow f; /* 64 KiB scratch: off the stack */
        struct netd_test_client *other = netd_test_connect(t);
        struct netd_test_client *info_client = netd_test_connect(t);
        int p1, p2, l1 = netd_test_tcp_socket(true, &p1), l2 = netd_test_tcp_socket(true, &p2);
        int sink1 = -1, sink2, base_fds, status = 0, phase = 0;
        json_int_t base_conns, base_sockets, base_held, held = 0;
        struct stream_check check;
        uint64_t child_bytes = 0;
        int64_t deadline, killed_at = 0, next_info = 0, cleanup_ms = -1;
        bool eof = false, sink1_closed = false;
        json_t *info;
        pid_t pid;

        printf("killed client%s: the other client moves %zu MiB meanwhile%s\n",
               peer_reads ? "" : " (held)", KILL_OTHER_BYTES / MIB,
               NETD_TEST_ASAN ? " (ASan)" : "");
        f = (struct kill_flow){ .c = other->c, .seed = 0x07E2, .total = KILL_OTHER_BYTES };
        f.hash = FNV_INIT;
        f.socket = netd_test_connect_tcp(other, p2, "127.0.0.1", NULL);
        sink2 = netd_test_accept_peer(l2);
        (void)netd_test_wait_event(other, "socket.ready", f.socket, NETD_TEST_TIMEOUT_MS);
        check_init(&check, f.seed);

        info = netd_info(info_client);
        base_conns = netd_test_int_at(info, "connections");
        base_sockets = netd_test_int_at(info, "handles.sockets");
        base_held = netd_test_int_at(info, "stats.socketsLimited");
        json_decref(info);
        base_fds = netd_test_daemon_fds(t);

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                fail_msg("fork: %s", strerror(errno));
        if (pid == 0)
                kill_child(t->socket_path, p1);

        deadline = netd_test_deadline(120 * 1000);
        while (phase < 2 || f.acked < f.total || check.got < f.total) {
                int64_t now = netd_test_now_ms();
                struct pollfd pfd[3];
                nfds_t n = 0;

                if (now >= deadline) {
                        (void)kill(pid, SIGKILL);
                        fail_msg("timed out: phase %d, child wrote %" PRIu64 " bytes, other "
                                 "client %" PRIu64 " acked, %" PRIu64 " received of %" PRIu64,
                                 phase, child_bytes, f.acked, check.got, f.total);
                }
                if (f.errors) {
                        (void)kill(pid, SIGKILL);
                        fail_msg("the other client's write failed: %s", f.error);
                }
                /* Half the other transfer before the kill, the rest after it. */
                kill_flow_feed(&f, phase == 0 ? f.total / 2 : f.total);
                pfd[n++] = (struct pollfd){
                        .fd = netd_client_fd(f.c),
                        .events = (short)(POLLIN | (netd_client_wants_write(f.c) ? POLLOUT : 0)),
                };
                pfd[n++] = (struct pollfd){ .fd = sink2, .events = POLLIN };
                if (!sink1_closed && (sink1 < 0 || peer_reads))
                        pfd[n++] =
                                (struct pollfd){ .fd = sink1 >= 0 ? sink1 : l1, .events = POLLIN };
                (void)poll(pfd, n, 10);
                if (pfd[0].revents && netd_client_process(f.c) < 0)
                        fail_msg("the other client lost its connection to netd");
                (void)peer_pull(sink2, &check, 4 * MIB, &eof);
                if (eof)
                        fail_msg("the other client's connection closed after %" PRIu64 " bytes",
                                 check.got);
                if (!sink1_closed && sink1 < 0 && n > 2 && (pfd[2].revents & POLLIN))
                        sink1 = netd_test_accept_peer(l1);
                if (!sink1_closed && sink1 >= 0 && peer_reads) {
                        bool closed = false;

                        child_bytes += peer_pull(sink1, NULL, 4 * MIB, &closed);
                        if (closed) {
                                close(sink1);
                                sink1_closed = true;
                        }
                }

                now = netd_test_now_ms();
                if (phase == 0 && !peer_reads && sink1 >= 0 && now >= next_info) {
                        /* The child's socket is destroyed once its queue passes writeHardBytes. */
                        info = netd_info(info_client);
                        held = netd_test_int_at(info, "stats.socketsLimited") - base_held;
                        json_decref(info);
                        next_info = now + 10;
                }
                if (phase == 0 && f.acked > 0 && (peer_reads ? child_bytes >= MIB : held > 0)) {
                        info = netd_info(info_client);
                        /* The child's connection and socket are there before the kill. */
                        assert_int_equal(netd_test_int_at(info, "connections"), base_conns + 1);
                        /* (The held child's socket was destroyed by the limit already.) */
                        assert_int_equal(netd_test_int_at(info, "handles.sockets"),
                                         base_sockets + (peer_reads ? 1 : 0));
                        json_decref(info);
                        if (kill(pid, SIGKILL) < 0)
                                fail_msg("kill: %s", strerror(errno));
                        killed_at = netd_test_now_ms();
                        /* The other transfer is in the middle: started, not done. */
                        assert_true(f.acked > 0 && f.acked < f.total);
                        phase = 1;
                } else if (phase == 1 && now >= next_info) {
                        bool clean;

                        info = netd_info(info_client);
                        clean = netd_test_int_at(info, "connections") == base_conns &&
                                netd_test_int_at(info, "handles.sockets") == base_sockets &&
                                netd_test_daemon_fds(t) == base_fds;
                        json_decref(info);
                        now = netd_test_now_ms();
                        if (clean) {
                                cleanup_ms = now - killed_at;
                                phase = 2;
                        } else if (now - killed_at > KILL_CLEANUP_MS) {
                                info = netd_info(info_client);
                                fail_msg("%" PRId64 " ms after the SIGKILL: connections %lld "
                                         "(baseline %lld), sockets %lld (%lld), fds %d (%d)",
                                         now - killed_at,
                                         (long long)netd_test_int_at(info, "connections"),
                                         (long long)base_conns,
                                         (long long)netd_test_int_at(info, "handles.sockets"),
                                         (long long)base_sockets, netd_test_daemon_fds(t),
                                         base_fds);
                        }
                        next_info = now + 10;
                }
        }
        if (waitpid(pid, &status, 0) != pid)
                fail_msg("waitpid: %s", strerror(errno));

        printf("killed client%s: peer got %" PRIu64 " KiB before SIGKILL; netd cleaned up in "
               "%" PRId64 " ms (fds back to %d); the other client's %zu MiB arrived intact\n",
               peer_reads ? "" : " (held)", child_bytes / 1024, cleanup_ms, base_fds,
               KILL_OTHER_BYTES / MIB);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                fail_msg("the child ended with status 0x%x before it was killed", status);
        assert_true(cleanup_ms >= 0 && cleanup_ms <= KILL_CLEANUP_MS);
        check_assert(&check, f.total, f.hash, "other client's transfer");
        assert_int_equal(f.errors, 0);
        /* The killed client's socket was closed: its peer saw the end. */
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        while (!sink1_closed) {
                bool closed = false;

                if (netd_test_now_ms() >= deadline)
                        fail_msg("the killed client's connection to its peer is still open");
                (void)poll(&(struct pollfd){ .fd = sink1, .events = POLLIN }, 1, 50);
                (void)peer_pull(sink1, NULL, 4 * MIB, &closed);
                if (closed) {
                        close(sink1);
                        sink1_closed = true;
                }
        }
        check_done(&check);
        close(sink2);
        close(l1);
        close(l2);
}

static void test_killed_client_is_cleaned_up(struct netd_test_daemon *t)
{
        killed_client_case(t, true);
}

/*
 * The same for a client whose peer reads nothing, and never will: its
 * fire-and-forget writes pass writeHardBytes, netd destroys that socket
 * (ERR_NETD_LIMIT) and keeps reading the client, which is then killed.
 */
static void test_killed_held_client_is_cleaned_up(struct netd_test_daemon *t)
{
        killed_client_case(t, false);
}

/* ---- 4. Ten thousand connections ----------------------------------------------------------- */

struct many_conn {
        int fd;
        uint8_t state; /* MANY_CONNECTING, MANY_SENT, MANY_DONE */
        uint8_t got;   /* bytes of the echo checked */
};

enum { MANY_CONNECTING, MANY_SENT, MANY_DONE };

struct many_echo {
        size_t acked, errors;
};

static void many_echo_cb(struct netd_client *c, json_t *result, const struct netd_client_error *err,
                         void *userdata)
{
        struct many_echo *e = userdata;

        if (err || !json_is_true(result))
                e->errors++;
        else
                e->acked++;
}

/*
 * The raw clients of test_many_connections(), kept where a failed run can
 * still close them: thousands of leaked descriptors would break the next
 * test, which lowers RLIMIT_NOFILE.
 */
static struct many_conn *many_conns;
static size_t many_n;
static int many_epfd = -1;

static void many_cleanup(void)
{
        for (size_t i = 0; many_conns && i < many_n; i++)
                if (many_conns[i].fd >= 0)
                        close(many_conns[i].fd);
        free(many_conns);
        many_conns = NULL;
        many_n = 0;
        if (many_epfd >= 0)
                close(many_epfd);
        many_epfd = -1;
}

static void many_msg(size_t i, char out[MANY_MSG_LEN + 1])
{
        snprintf(out, MANY_MSG_LEN + 1, "conn %08u echo\n", (unsigned)(i % 100000000));
}

/*
 * N raw clients connect to one netd server at once; each sends a message
 * that the owning client echoes back with socket.write, and checks it. All
 * N stay open while netd's RSS per connection is measured.
 */
static void test_many_connections(struct netd_test_daemon *t)
{
        const size_t n = MANY_CONNS;
        const rlim_t need = (rlim_t)n + 100; /* per process: the test's N fds, or netd's */
        struct many_echo echo = { 0 };
        struct many_conn *conns;
        struct netd_test_client *tc;
        struct rlimit rl;
        char handles_arg[64];
        const char *args[2] = { handles_arg, NULL };
        size_t opened = 0, accepted = 0, done = 0, next_ev = 0, errors = 0;
        long rss_base, rss_all, per_conn;
        int64_t start, connected_ms, deadline;
        json_int_t fds_max;
        uint64_t srv;
        json_t *res, *info;
        int port, epfd;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                fail_msg("getrlimit: %s", strerror(errno));
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
                printf("many connections: SKIPPED: %zu connections need RLIMIT_NOFILE >= %llu in "
                       "the test and in netd, the hard limit is %llu\n",
                       n, (unsigned long long)need, (unsigned long long)rl.rlim_max);
                t->log_dumped = true; /* no daemon ran: nothing to show */
                skip();
        }
        rl.rlim_cur = rl.rlim_max != RLIM_INFINITY ? rl.rlim_max : need * 2;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                fail_msg("setrlimit: %s", strerror(errno));
        /* One client owns them all: over handles_per_conn they would be dropped (§13). */
        snprintf(handles_arg, sizeof(handles_arg), "--limit=handlesPerConn=%zu", n + 64);
        netd_test_launch(t, args);
        /* netd inherits the test's limit when the harness forks it. */
        if (netd_test_daemon_nofile(t) != -1 && netd_test_daemon_nofile(t) < (long)need)
                fail_msg("netd's RLIMIT_NOFILE is %ld, the test set %llu",
                         netd_test_daemon_nofile(t), (unsigned long long)rl.rlim_cur);
        printf("many connections: %zu%s, RLIMIT_NOFILE %llu\n", n, NETD_TEST_ASAN ? " (ASan)" : "",
               (unsigned long long)rl.rlim_cur);

        tc = netd_test_connect(t);
        srv = netd_test_create_server(tc, NULL);
        res = netd_test_call(tc, "server.listen",
                             json_pack("{s:I,s:i,s:s,s:i}", "server", (json_int_t)srv, "port", 0,
                                       "host", "127.0.0.1", "backlog", 4096));
        port = (int)netd_test_int_at(res, "port");
        json_decref(res);
        (void)netd_test_wait_event(tc, "server.listening", srv, NETD_TEST_TIMEOUT_MS);
        next_ev = tc->n_events;
        info = netd_info(tc);
        fds_max = netd_test_int_at(info, "stats.fdsMax");
        assert_true(fds_max >= (json_int_t)n + 32);
        json_decref(info);
        rss_base = netd_test_daemon_rss_kb(t);

        many_cleanup();
        conns = calloc(n, sizeof(*conns));
        assert_non_null(conns);
        for (size_t i = 0; i < n; i++)
                conns[i].fd = -1;
        many_conns = conns;
        many_n = n;
        epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0)
                fail_msg("epoll_create1: %s", strerror(errno));
        many_epfd = epfd;

        start = netd_test_now_ms();
        deadline = netd_test_deadline(NETD_TEST_ASAN ? 120 * 1000 : 90 * 1000);
        while (done < n) {
                struct epoll_event evs[256];
                int ne;

                if (netd_test_now_ms() >= deadline)
                        fail_msg("timed out: %zu opened, %zu accepted, %zu echoed of %zu", opened,
                                 accepted, done, n);
                if (errors)
                        fail_msg("%zu connections failed (%zu opened, %zu accepted, %zu echoed)",
                                 errors, opened, accepted, done);
                while (opened < n && opened - accepted < MANY_PENDING) {
                        struct epoll_event ev = { .events = EPOLLOUT,
                                                  .data.u32 = (uint32_t)opened };

                        conns[opened].fd = tcp_connect_nb(port);
                        if (epoll_ctl(epfd, EPOLL_CTL_ADD, conns[opened].fd, &ev) < 0)
                                fail_msg("epoll_ctl: %s", strerror(errno));
                        opened++;
                }
                (void)netd_test_pump(t, epfd, POLLIN, netd_test_deadline(50), "connections");

                /* The owning client: count accepts, echo every socket.data. */
                for (; next_ev < tc->n_events; next_ev++) {
                        struct netd_test_event *ev = &tc->events[next_ev];
                        void *buf;
                        size_t len;
                        int r;

                        if (strcmp(ev->method, "server.connection") == 0) {
                                accepted++;
                        } else if (strcmp(ev->method, "socket.data") == 0) {
                                if (netd_client_decode_data(ev->params, &buf, &len) < 0)
                                        fail_msg("cannot decode socket.data");
                                r = netd_client_socket_write(tc->c, ev->subject, buf, len,
                                                             many_echo_cb, &echo);
                                free(buf);
                                if (r < 0)
                                        fail_msg("netd_client_socket_write: %s", strerror(-r));
                        } else {
                                char *text = json_dumps(ev->params, JSON_COMPACT);

                                fail_msg("unexpected event %s %s", ev->method, text ? text : "");
                        }
                }

                /* The raw clients: send once connected, check the echo. */
                while ((ne = epoll_wait(epfd, evs, 256, 0)) > 0) {
                        for (int k = 0; k < ne; k++) {
                                size_t i = evs[k].data.u32;
                                struct many_conn *mc = &conns[i];
                                char want[MANY_MSG_LEN + 1], got[MANY_MSG_LEN];
                                int err = 0;
                                socklen_t elen = sizeof(err);
                                ssize_t r;

                                many_msg(i, want);
                                if (mc->state == MANY_CONNECTING) {
                                        struct epoll_event ev = { .events = EPOLLIN,
                                                                  .data.u32 = (uint32_t)i };

                                        (void)getsockopt(mc->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
                                        if (err) {
                                                fprintf(stderr, "connection %zu: %s\n", i,
                                                        strerror(err));
                                                errors++;
                                                continue;
                                        }
                                        if (send(mc->fd, want, MANY_MSG_LEN, MSG_NOSIGNAL) !=
                                            MANY_MSG_LEN)
                                                fail_msg("connection %zu: send: %s", i,
                                                         strerror(errno));
                                        mc->state = MANY_SENT;
                                        (void)epoll_ctl(epfd, EPOLL_CTL_MOD, mc->fd, &ev);
                                        continue;
                                }
                                r = recv(mc->fd, got, MANY_MSG_LEN - mc->got, MSG_DONTWAIT);
                                if (r < 0 && errno == EAGAIN)
                                        continue;
                                if (r <= 0) {
                                        fprintf(stderr, "connection %zu: %s before the echo\n", i,
                                                r == 0 ? "EOF" : strerror(errno));
                                        errors++;
                                        (void)epoll_ctl(epfd, EPOLL_CTL_DEL, mc->fd, NULL);
                                        continue;
                                }
                                if (memcmp(got, want + mc->got, (size_t)r) != 0)
                                        fail_msg("connection %zu: echo differs: \"%.*s\"", i,
                                                 (int)r, got);
                                mc->got += (uint8_t)r;
                                if (mc->got == MANY_MSG_LEN) {
                                        mc->state = MANY_DONE;
                                        done++;
                                        (void)epoll_ctl(epfd, EPOLL_CTL_DEL, mc->fd, NULL);
                                }
                        }
                }
        }
        connected_ms = netd_test_now_ms() - start;
        netd_test_wait_until(t, echo.acked + echo.errors == n);
        assert_int_equal(echo.errors, 0);

        /* All N connections are open now. */
        rss_all = netd_test_daemon_rss_kb(t);
        info = netd_info(tc);
        assert_int_equal(netd_test_int_at(info, "handles.sockets"), (json_int_t)n);
        assert_true(netd_test_int_at(info, "stats.fdsOpen") >= (json_int_t)n);
        json_decref(info);
        per_conn = (rss_all - rss_base) * 1024 / (long)n;
        printf("many connections: %zu connected and echoed in %" PRId64 " ms; netd RSS %ld KiB "
               "before, %ld KiB with all open\n",
               n, connected_ms, rss_base, rss_all);
        printf("rss per connection: %ld bytes\n", per_conn);
        if (per_conn >= MANY_RSS_PER_CONN)
                fail_msg("netd uses %ld bytes of RSS per connection, limit %d", per_conn,
                         MANY_RSS_PER_CONN);

        /* Every close reaches the owner, and netd lets go of every descriptor. */
        for (size_t i = 0; i < n; i++) {
                close(conns[i].fd);
                conns[i].fd = -1;
        }
        netd_test_wait_until(t, netd_test_count_events(tc, "socket.close", 0) == n);
        info = netd_info(tc);
        assert_int_equal(netd_test_int_at(info, "handles.sockets"), 0);
        json_decref(info);
        printf("many connections: all closed after %" PRId64 " ms in all\n",
               netd_test_now_ms() - start);
        many_cleanup();
}

/* ---- 5. Accept storm at the descriptor limit ----------------------------------------------- */

/* The socket ids of tc's server.connection events from index *next on. */
static size_t count_new_connections(struct netd_test_client *tc, size_t *next)
{
        size_t n = 0;

        for (; *next < tc->n_events; (*next)++)
                if (strcmp(tc->events[*next].method, "server.connection") == 0)
                        n++;
        return n;
}

/* True once a socket of tc received exactly the bytes of text. */
static bool some_socket_got(struct netd_test_client *tc, const char *text)
{
        for (size_t i = 0; i < tc->n_rx; i++)
                if (tc->rx[i].len == strlen(text) &&
                    memcmp(tc->rx[i].buf, text, tc->rx[i].len) == 0)
                        return true;
        return false;
}

/*
 * netd runs with RLIMIT_NOFILE 128: a server accepts until its descriptor
 * budget is spent, then pauses accepting (1 s backoff) while connections
 * keep arriving. netd must not spin on the always-readable listener: its
 * CPU time over a 2 s storm stays under 20% of one core. Once the
 * connections close, the server accepts again.
 */
static void test_accept_storm_backs_off(struct netd_test_daemon *t)
{
        struct rlimit saved, low;
        struct netd_test_client *tc;
        int fds[512];
        size_t nfds = 0, next_ev = 0, accepted = 0, expected;
        long cpu0, cpu1, pct;
        int64_t deadline, t0, t1, next_conn, closed_at, again_ms;
        int port, pauses_before, pauses_after, again_fd;
        json_int_t refused_before;
        uint64_t srv;
        json_t *info;

        many_cleanup(); /* what a failed test_many_connections() left open */
        if (getrlimit(RLIMIT_NOFILE, &saved) < 0)
                fail_msg("getrlimit: %s", strerror(errno));
        low = saved;
        low.rlim_cur = STORM_NOFILE;
        if (setrlimit(RLIMIT_NOFILE, &low) < 0)
                fail_msg("setrlimit: %s", strerror(errno));
        netd_test_launch(t, NULL);
        if (setrlimit(RLIMIT_NOFILE, &saved) < 0)
                fail_msg("setrlimit: %s", strerror(errno));
        assert_int_equal(netd_test_daemon_nofile(t), STORM_NOFILE);

        tc = netd_test_connect(t);
        srv = netd_test_create_server(tc, NULL);
        port = netd_test_listen(tc, srv, "127.0.0.1");
        info = netd_info(tc);
        /* netd keeps 32 descriptors for itself and fdReserve for control connections. */
        assert_int_equal(netd_test_int_at(info, "stats.fdsMax"), STORM_NOFILE - 32);
        expected = (size_t)(netd_test_int_at(info, "stats.fdsMax") -
                            netd_test_int_at(info, "limits.fdReserve") -
                            netd_test_int_at(info, "stats.fdsOpen"));
        json_decref(info);
        printf("accept storm: RLIMIT_NOFILE %d, netd can accept %zu connections\n", STORM_NOFILE,
               expected);

        /* Open more than netd may accept; it takes its budget and then pauses. */
        for (size_t i = 0; i < expected + STORM_EXTRA; i++)
                fds[nfds++] = tcp_connect_nb(port);
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        for (;;) {
                json_int_t refused;

                (void)netd_test_pump(t, -1, 0, netd_test_deadline(50), "accepts");
                accepted += count_new_connections(tc, &next_ev);
                info = netd_info(tc);
                refused = netd_test_int_at(info, "stats.fdRefused");
                json_decref(info);
                if (accepted >= expected && refused > 0 && log_count(t, "pausing") > 0)
                        break;
                if (netd_test_now_ms() >= deadline)
                        fail_msg("netd accepted %zu of %zu, fdRefused %lld, no \"pausing\" in its "
                                 "log yet",
                                 accepted, expected, (long long)refused);
        }
        assert_int_equal(accepted, expected);

        /* The storm: the listener stays readable and more connections keep coming. */
        info = netd_info(tc);
        refused_before = netd_test_int_at(info, "stats.fdRefused");
        json_decref(info);
        pauses_before = log_count(t, "pausing");
        cpu0 = daemon_cpu_ms(t);
        t0 = netd_test_now_ms();
        next_conn = t0;
        while ((t1 = netd_test_now_ms()) - t0 < STORM_WINDOW_MS) {
                if (t1 >= next_conn && nfds < sizeof(fds) / sizeof(fds[0])) {
                        fds[nfds++] = tcp_connect_nb(port);
                        next_conn = t1 + STORM_EVERY_MS;
                }
                (void)netd_test_pump(t, -1, 0, netd_test_deadline(STORM_EVERY_MS), "storm");
        }
        cpu1 = daemon_cpu_ms(t);
        accepted += count_new_connections(tc, &next_ev);
        pauses_after = log_count(t, "pausing");
        info = netd_info(tc);
        pct = (cpu1 - cpu0) * 100 / (long)(t1 - t0);
        printf("accept storm: %zu connections, netd accepted %zu; CPU %ld ms in %" PRId64 " ms "
               "(%ld%% of a core); \"pausing\" logged %d times during it; fdRefused %lld -> "
               "%lld\n",
               nfds, accepted, cpu1 - cpu0, t1 - t0, pct, pauses_after - pauses_before,
               (long long)refused_before, (long long)netd_test_int_at(info, "stats.fdRefused"));
        /* Nothing was accepted over the budget, and the pause was retried, not spun on. */
        assert_int_equal(accepted, expected);
        assert_true(pauses_after - pauses_before >= 1);
        assert_true(netd_test_int_at(info, "stats.fdRefused") > refused_before);
        /* Every pause is counted, as often as it is logged. */
        assert_true(netd_test_int_at(info, "stats.acceptPaused") >= pauses_after);
        json_decref(info);
        if (pct >= STORM_CPU_PCT)
                fail_msg("netd used %ld%% of a core during the accept storm (limit %d%%)", pct,
                         STORM_CPU_PCT);

        /* The connections go; after its backoff the server accepts again. */
        for (size_t i = 0; i < nfds; i++)
                close(fds[i]);
        closed_at = netd_test_now_ms();
        again_fd = tcp_connect_nb(port);
        {
                struct pollfd pfd = { .fd = again_fd, .events = POLLOUT };

                (void)poll(&pfd, 1, NETD_TEST_TIMEOUT_MS);
                if (send(again_fd, "again\n", 6, MSG_NOSIGNAL) != 6)
                        fail_msg("send: %s", strerror(errno));
        }
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        while (!some_socket_got(tc, "again\n"))
                (void)netd_test_pump(t, -1, 0, deadline, "the connection after the storm");
        again_ms = netd_test_now_ms() - closed_at;
        printf("accept storm: accepting again %" PRId64 " ms after the connections closed\n",
               again_ms);
        assert_true(again_ms < STORM_BACKOFF_MS + 2000);
        close(again_fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_slow_client_pushes_back_on_peer),
                NETD_TEST(test_stalled_peer_queues_writer),
                NETD_TEST(test_killed_client_is_cleaned_up),
                NETD_TEST(test_killed_held_client_is_cleaned_up),
                NETD_TEST_MANUAL(test_many_connections),
                NETD_TEST_MANUAL(test_accept_storm_backs_off),
        };

        /* Output is interleaved with the harness's: no buffering. */
        setvbuf(stdout, NULL, _IONBF, 0);
        netd_test_asan_small_quarantine();
        return cmocka_run_group_tests_name("integration/flow", tests, NULL, NULL);
}
