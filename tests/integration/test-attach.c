/*
 * Integration: the byte paths that bypass JSON. socket.attach hands the
 * client one end of a socketpair (SCM_RIGHTS on the reply line) and
 * net.createServer {attach} does so on each server.connection; socket.pipe
 * moves one socket's bytes to another inside netd. The test's control
 * connection is its own (recvmsg, so descriptors are received as a real
 * client would, by the rule of PROTOCOL.md §3.5: a descriptor belongs to the
 * last line that begins in the bytes read with it); the remote peers are the
 * test's own loopback TCP sockets. Bytes are a position-dependent pattern,
 * so loss, duplication and reordering all show as a mismatch at an offset.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "netd-test.h"

#define BULK_BYTES ((size_t)256 * 1024 * 1024)
#define IO_CHUNK   (256 * 1024)
#define BULK_MS    (120 * 1000)

/* ---- The pattern -------------------------------------------------------------------------- */

static uint64_t pat_block(uint64_t seed, uint64_t k)
{
        uint64_t x = k + seed * 0x9E3779B97F4A7C15ULL;

        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
        return x ^ (x >> 31);
}

/* The pattern's bytes [off, off + len) for seed. */
static void pat_fill(uint8_t *buf, uint64_t seed, uint64_t off, size_t len)
{
        uint64_t k = UINT64_MAX, b = 0;

        for (size_t i = 0; i < len; i++) {
                uint64_t pos = off + i;

                if (pos >> 3 != k) {
                        k = pos >> 3;
                        b = pat_block(seed, k);
                }
                buf[i] = (uint8_t)(b >> ((pos & 7) * 8));
        }
}

/* Fails the test at the first byte of buf that is not the pattern at off. */
static void pat_check(const uint8_t *buf, uint64_t seed, uint64_t off, size_t len, const char *what)
{
        static uint8_t want[IO_CHUNK];

        for (size_t done = 0; done < len;) {
                size_t n = len - done < sizeof(want) ? len - done : sizeof(want);

                pat_fill(want, seed, off + done, n);
                if (memcmp(buf + done, want, n) != 0) {
                        size_t i = 0;

                        while (buf[done + i] == want[i])
                                i++;
                        fail_msg("%s: byte %llu differs", what,
                                 (unsigned long long)(off + done + i));
                }
                done += n;
        }
}

/* ---- A raw control connection that receives descriptors ---------------------------------- */

struct msg {
        json_t *m; /* owned */
        int fd;    /* owned: the descriptor its line carried, -1 if none */
        bool used;
};

struct ctl {
        struct netd_test_daemon *t;
        int fd;
        char *buf; /* unparsed bytes; buf[0] is at stream offset base */
        size_t len, cap;
        uint64_t base;
        bool at_line_start; /* the byte before the next received one ended a line */
        struct {
                uint64_t pos;
                int fd;
        } fds[64];
        size_t nfds;
        struct msg *msgs;
        size_t n_msgs, cap_msgs;
        int next_id;
};

static void ctl_open(struct netd_test_daemon *t, struct ctl *c)
{
        struct netd_test_raw r;

        netd_test_raw_open(t, &r);
        *c = (struct ctl){ .t = t, .fd = r.fd, .at_line_start = true, .next_id = 1 };
        free(r.buf);
}

static void ctl_close(struct ctl *c)
{
        for (size_t i = 0; i < c->n_msgs; i++) {
                json_decref(c->msgs[i].m);
                if (c->msgs[i].fd >= 0)
                        close(c->msgs[i].fd);
        }
        for (size_t i = 0; i < c->nfds; i++)
                close(c->fds[i].fd);
        free(c->msgs);
        free(c->buf);
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

static void ctl_parse(struct ctl *c)
{
        char *nl;

        while ((nl = memchr(c->buf, '\n', c->len))) {
                size_t n = (size_t)(nl - c->buf) + 1;
                json_error_t e;
                struct msg m = { .fd = -1 };

                m.m = json_loadb(c->buf, n - 1, 0, &e);
                if (!m.m)
                        fail_msg("bad line from netd: %.*s", (int)n, c->buf);
                for (size_t i = 0; i < c->nfds; i++) {
                        if (c->fds[i].pos == c->base) {
                                m.fd = c->fds[i].fd;
                                c->fds[i] = c->fds[--c->nfds];
                                break;
                        }
                }
                if (c->n_msgs == c->cap_msgs) {
                        c->cap_msgs = c->cap_msgs ? c->cap_msgs * 2 : 64;
                        c->msgs = realloc(c->msgs, c->cap_msgs * sizeof(*c->msgs));
                        assert_non_null(c->msgs);
                }
                c->msgs[c->n_msgs++] = m;
                memmove(c->buf, c->buf + n, c->len - n);
                c->len -= n;
                c->base += n;
        }
}

/* One recvmsg() (waiting up to the deadline); descriptors go to their line. */
static void ctl_read(struct ctl *c, int64_t deadline, const char *what)
{
        union {
                struct cmsghdr align;
                char b[CMSG_SPACE(sizeof(int) * 16)];
        } control;
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        struct iovec iov;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        uint64_t start;
        ssize_t n;
        int left = (int)(deadline - netd_test_now_ms());

        if (left <= 0 || poll(&p, 1, left) != 1)
                fail_msg("timed out waiting for %s", what);
        if (c->cap - c->len < 65536) {
                c->cap = c->cap * 2 + 65536;
                c->buf = realloc(c->buf, c->cap);
                assert_non_null(c->buf);
        }
        iov = (struct iovec){ .iov_base = c->buf + c->len, .iov_len = c->cap - c->len };
        mh.msg_control = control.b;
        mh.msg_controllen = sizeof(control.b);
        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0)
                fail_msg("control connection closed waiting for %s", what);
        start = c->base + c->len;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                int *fds = (int *)CMSG_DATA(cm);
                size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                uint64_t line = UINT64_MAX;

                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                /* The last line that begins in these bytes. */
                if (c->at_line_start)
                        line = start;
                for (ssize_t i = 0; i + 1 < n; i++)
                        if (c->buf[c->len + (size_t)i] == '\n')
                                line = start + (uint64_t)i + 1;
                assert_true(line != UINT64_MAX);
                for (size_t i = 0; i < k; i++) {
                        assert_true(c->nfds < 64);
                        c->fds[c->nfds].pos = line;
                        c->fds[c->nfds++].fd = fds[i];
                }
        }
        c->at_line_start = c->buf[c->len + (size_t)n - 1] == '\n';
        c->len += (size_t)n;
        ctl_parse(c);
}

/* Writes all of buf, reading what netd sends meanwhile (it may wait for us to read). */
static void ctl_write(struct ctl *c, const char *buf, size_t len)
{
        int64_t dl = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        while (len > 0) {
                struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLOUT };
                ssize_t n;

                if (poll(&p, 1, NETD_TEST_TIMEOUT_MS) != 1 || netd_test_now_ms() > dl)
                        fail_msg("timed out writing a request");
                if (p.revents & POLLIN)
                        ctl_read(c, dl, "output");
                if (!(p.revents & POLLOUT))
                        continue;
                n = write(c->fd, buf, len);
                if (n < 0 && errno != EAGAIN)
                        fail_msg("write: %s", strerror(errno));
                if (n > 0) {
                        buf += n;
                        len -= (size_t)n;
                }
        }
}

static void ctl_send(struct ctl *c, const char *method, json_t *params, json_t *id)
{
        json_t *m = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", method, "params",
                              params ? params : json_object());
        char *s;

        if (id)
                json_object_set_new(m, "id", id);
        s = json_dumps(m, JSON_COMPACT);
        json_decref(m);
        ctl_write(c, s, strlen(s));
        ctl_write(c, "\n", 1);
        free(s);
}

/*
 * Sends method (params stolen) and waits for its reply: the index of the
 * reply message in c->msgs (events before it are recorded before it).
 */
static size_t ctl_request(struct ctl *c, const char *method, json_t *params)
{
        int id = c->next_id++;
        int64_t dl = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        size_t seen = 0;

        ctl_send(c, method, params, json_integer(id));
        for (;;) {
                for (; seen < c->n_msgs; seen++) {
                        json_t *mid = json_object_get(c->msgs[seen].m, "id");

                        if (json_is_integer(mid) && json_integer_value(mid) == id) {
                                c->msgs[seen].used = true;
                                return seen;
                        }
                }
                ctl_read(c, dl, method);
        }
}

/* ctl_request() asserting success: the result (borrowed), *ret_fd the line's descriptor. */
static json_t *ctl_call(struct ctl *c, const char *method, json_t *params, int *ret_fd)
{
        size_t i = ctl_request(c, method, params);
        json_t *result = json_object_get(c->msgs[i].m, "result");

        if (!result) {
                char *s = json_dumps(c->msgs[i].m, JSON_COMPACT);

                fail_msg("%s failed: %s", method, s);
        }
        if (ret_fd) {
                *ret_fd = c->msgs[i].fd;
                c->msgs[i].fd = -1;
        } else {
                assert_int_equal(c->msgs[i].fd, -1);
        }
        return result;
}

/* ctl_request() asserting an error with data.code code; no descriptor may come with it. */
static void ctl_call_fail(struct ctl *c, const char *method, json_t *params, const char *code)
{
        size_t i = ctl_request(c, method, params);

        assert_int_equal(c->msgs[i].fd, -1);
        netd_test_assert_str(c->msgs[i].m, "error.data.code", code);
}

static uint64_t ctl_id(json_t *o, const char *key)
{
        return (uint64_t)netd_test_int_at(o, key);
}

/* The first unused event method about socket/server id (0: any); waits for it. */
static struct msg *ctl_event(struct ctl *c, const char *method, uint64_t id)
{
        int64_t dl = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        for (;;) {
                for (size_t i = 0; i < c->n_msgs; i++) {
                        struct msg *m = &c->msgs[i];
                        const char *mm = json_string_value(json_object_get(m->m, "method"));
                        json_t *p = json_object_get(m->m, "params");
                        json_t *h = json_object_get(p, "socket");

                        if (m->used || !mm || strcmp(mm, method) != 0)
                                continue;
                        if (strncmp(method, "server.", 7) == 0)
                                h = json_object_get(p, "server");
                        if (id && (uint64_t)json_integer_value(h) != id)
                                continue;
                        m->used = true;
                        return m;
                }
                ctl_read(c, dl, method);
        }
}

/* Reads whatever the control connection has now, without waiting. */
static void ctl_poll(struct ctl *c)
{
        struct pollfd p = { .fd = c->fd, .events = POLLIN };

        while (poll(&p, 1, 0) == 1)
                ctl_read(c, netd_test_deadline(1000), "poll");
}

static size_t b64_decode(const char *s, uint8_t *out)
{
        static const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        uint32_t acc = 0;
        int bits = 0;
        size_t n = 0;

        for (; *s && *s != '='; s++) {
                const char *p = strchr(abc, *s);

                assert_non_null(p);
                acc = (acc << 6) | (uint32_t)(p - abc);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (uint8_t)(acc >> bits);
                }
        }
        return n;
}

/*
 * Appends the payloads of the socket.data events about socket among
 * c->msgs[from, to) to *buf (grown as needed), marking them used.
 */
static void ctl_take_data(struct ctl *c, uint64_t socket, size_t from, size_t to, uint8_t **buf,
                          size_t *len)
{
        for (size_t i = from; i < to && i < c->n_msgs; i++) {
                json_t *m = c->msgs[i].m, *p = json_object_get(m, "params");
                const char *data;

                if (c->msgs[i].used ||
                    strcmp(json_string_value(json_object_get(m, "method")) ?: "", "socket.data") !=
                            0 ||
                    ctl_id(p, "socket") != socket)
                        continue;
                c->msgs[i].used = true;
                netd_test_assert_str(p, "encoding", "base64");
                data = json_string_value(json_object_get(p, "data"));
                *buf = realloc(*buf, *len + strlen(data));
                assert_non_null(*buf);
                *len += b64_decode(data, *buf + *len);
        }
}

static size_t ctl_count(struct ctl *c, const char *method, uint64_t socket, size_t from)
{
        size_t n = 0;

        for (size_t i = from; i < c->n_msgs; i++) {
                json_t *m = c->msgs[i].m;

                if (strcmp(json_string_value(json_object_get(m, "method")) ?: "", method) == 0 &&
                    ctl_id(json_object_get(m, "params"), "socket") == socket)
                        n++;
        }
        return n;
}

#define SOCK(id) json_pack("{s:I}", "socket", (json_int_t)(id))

/* ---- Peers -------------------------------------------------------------------------------- */

/* A netd socket connected to a test peer: *ret_peer is the test's end (non-blocking). */
static uint64_t connect_peer_opts(struct ctl *c, int *ret_peer, bool half_open)
{
        int port, lfd = netd_test_tcp_socket(true, &port);
        uint64_t s;

        s = ctl_id(ctl_call(c, "net.connect",
                            json_pack("{s:i,s:s,s:b}", "port", port, "host", "127.0.0.1",
                                      "allowHalfOpen", half_open),
                            NULL),
                   "socket");
        *ret_peer = netd_test_accept_peer(lfd);
        close(lfd);
        (void)ctl_event(c, "socket.connect", s);
        return s;
}

static uint64_t connect_peer(struct ctl *c, int *ret_peer)
{
        return connect_peer_opts(c, ret_peer, false);
}

static void set_nonblock(int fd)
{
        assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

/*
 * One direction of a transfer: the pattern seed, bytes [0, len) written to
 * wfd and expected on rfd. Reads are checked as they come.
 */
struct stream {
        int wfd, rfd;
        uint64_t seed;
        size_t len, sent, got;
        bool shut; /* shut down wfd's sending side once all is sent */
        bool eof;  /* rfd reached EOF (only expected after all bytes) */
};

/* Runs the streams until every byte was sent and received (and EOF if shut). */
static void run_streams(struct stream *st, size_t n, int timeout_ms)
{
        static uint8_t buf[IO_CHUNK];
        int64_t dl = netd_test_deadline(timeout_ms);

        for (;;) {
                struct pollfd p[8];
                size_t np = 0;
                bool busy = false;

                for (size_t i = 0; i < n; i++) {
                        struct stream *s = &st[i];

                        if (s->sent < s->len) {
                                p[np++] = (struct pollfd){ .fd = s->wfd, .events = POLLOUT };
                                busy = true;
                        }
                        if (s->got < s->len || (s->shut && !s->eof)) {
                                p[np++] = (struct pollfd){ .fd = s->rfd, .events = POLLIN };
                                busy = true;
                        }
                }
                if (!busy)
                        return;
                if (netd_test_now_ms() > dl || poll(p, np, 1000) < 0) {
                        for (size_t i = 0; i < n; i++)
                                print_error("stream %zu: sent %zu got %zu of %zu\n", i, st[i].sent,
                                            st[i].got, st[i].len);
                        fail_msg("transfer timed out");
                }
                for (size_t i = 0; i < n; i++) {
                        struct stream *s = &st[i];
                        ssize_t k;

                        if (s->sent < s->len) {
                                size_t want = s->len - s->sent < sizeof(buf) ? s->len - s->sent
                                                                             : sizeof(buf);

                                pat_fill(buf, s->seed, s->sent, want);
                                k = write(s->wfd, buf, want);
                                if (k < 0 && errno != EAGAIN)
                                        fail_msg("write: %s", strerror(errno));
                                if (k > 0)
                                        s->sent += (size_t)k;
                                if (s->sent == s->len && s->shut)
                                        assert_int_equal(shutdown(s->wfd, SHUT_WR), 0);
                        }
                        if (s->got < s->len || (s->shut && !s->eof)) {
                                k = read(s->rfd, buf, sizeof(buf));
                                if (k < 0 && errno != EAGAIN)
                                        fail_msg("read: %s", strerror(errno));
                                if (k == 0) {
                                        if (s->got < s->len)
                                                fail_msg("EOF after %zu of %zu bytes", s->got,
                                                         s->len);
                                        s->eof = true;
                                }
                                if (k > 0) {
                                        if (s->got + (size_t)k > s->len)
                                                fail_msg("%zd bytes too many", k);
                                        pat_check(buf, s->seed, s->got, (size_t)k, "stream");
                                        s->got += (size_t)k;
                                }
                        }
                }
        }
}

/* Writes to fd until it stays full for quiet_ms: the bytes written (pattern seed from off). */
static size_t push_until_full(int fd, uint64_t seed, size_t off, int quiet_ms)
{
        static uint8_t buf[IO_CHUNK];
        size_t sent = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                ssize_t k;

                if (poll(&p, 1, quiet_ms) == 0)
                        return sent;
                pat_fill(buf, seed, off + sent, sizeof(buf));
                k = write(fd, buf, sizeof(buf));
                if (k < 0 && errno != EAGAIN)
                        fail_msg("write: %s", strerror(errno));
                if (k > 0)
                        sent += (size_t)k;
                if (sent > (size_t)1024 * 1024 * 1024)
                        fail_msg("1 GiB written and no backpressure");
        }
}

/* Reads exactly len bytes of the pattern from fd, or fails. */
static void read_pattern(int fd, uint64_t seed, size_t len)
{
        struct stream s = { .wfd = -1, .rfd = fd, .seed = seed, .len = len, .sent = len };

        run_streams(&s, 1, 60 * 1000);
}

/* The next read on fd: 0 at EOF, -errno on an error; fails on data or after the timeout. */
static int read_end(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char b[64];
        ssize_t n;

        if (poll(&p, 1, NETD_TEST_TIMEOUT_MS) != 1)
                fail_msg("timed out waiting for EOF");
        n = read(fd, b, sizeof(b));
        if (n > 0)
                fail_msg("%zd bytes where EOF was expected", n);
        return n == 0 ? 0 : -errno;
}

static long rss_kb(struct netd_test_daemon *t)
{
        return netd_test_daemon_rss_kb(t);
}

/* ---- Tests -------------------------------------------------------------------------------- */

/* 256 MiB each way at once through an attached socket, then a half-close each way. */
static void test_attach_bulk(struct netd_test_daemon *t)
{
        struct ctl c;
        int peer, fd = -1;
        uint64_t s;
        json_t *r;
        struct msg *m;

        ctl_open(t, &c);
        s = connect_peer_opts(&c, &peer, true);
        r = ctl_call(&c, "socket.attach", SOCK(s), &fd);
        netd_test_assert_json(r, "{\"fd\":0}");
        assert_true(fd >= 0);
        assert_int_equal(netd_test_sockopt_int(fd, SOL_SOCKET, SO_DOMAIN), AF_UNIX);
        set_nonblock(fd);
        {
                struct stream st[2] = {
                        { .wfd = peer, .rfd = fd, .seed = 1, .len = BULK_BYTES },
                        { .wfd = fd, .rfd = peer, .seed = 2, .len = BULK_BYTES },
                };

                run_streams(st, 2, BULK_MS);
        }
        /* No byte went through JSON. */
        ctl_poll(&c);
        assert_int_equal(ctl_count(&c, "socket.data", s, 0), 0);
        r = ctl_call(&c, "socket.get", SOCK(s), NULL);
        assert_int_equal(netd_test_int_at(r, "bytesRead"), (json_int_t)BULK_BYTES);
        assert_int_equal(netd_test_int_at(r, "bytesWritten"), (json_int_t)BULK_BYTES);
        assert_int_equal(netd_test_int_at(r, "bufferSize"), 0);
        assert_true(json_is_true(json_object_get(r, "attached")));
        assert_true(json_is_null(json_object_get(r, "pipe")));

        /* The peer's FIN: the client reads EOF and socket.end comes; the client may still send. */
        assert_int_equal(shutdown(peer, SHUT_WR), 0);
        assert_int_equal(read_end(fd), 0);
        (void)ctl_event(&c, "socket.end", s);
        assert_int_equal(write(fd, "after", 5), 5);
        netd_test_peer_expect(t, peer, "after");
        /* The client's shutdown is the socket's end: the peer reads EOF, the socket closes. */
        assert_int_equal(shutdown(fd, SHUT_WR), 0);
        assert_int_equal(netd_test_peer_end(t, peer), 0);
        m = ctl_event(&c, "socket.close", s);
        assert_true(json_is_false(netd_test_get(m->m, "params.hadError")));
        assert_int_equal(ctl_count(&c, "socket.error", s, 0), 0);
        close(fd);
        close(peer);
        ctl_close(&c);
}

/*
 * The seam: bytes the peer sent before, during and after the attach arrive
 * once each, in order, split between socket.data (before the reply) and the
 * descriptor; bytes socket.write queued before the attach reach the peer
 * before any byte the client writes to the descriptor.
 */
static void test_attach_seam(struct netd_test_daemon *t)
{
        const size_t before = 300 * 1000, during = 2 * 1024 * 1024, after = 100 * 1000;
        const size_t queued = 24 * 1024 * 1024, later = 1024 * 1024;
        uint8_t *got = NULL, *chunk;
        size_t got_len = 0, reply, sent = 0;
        struct ctl c;
        int peer, fd = -1;
        uint64_t s;
        json_t *r;

        ctl_open(t, &c);
        s = connect_peer(&c, &peer);

        /* Client to peer: 24 MiB queued by socket.write (more than the kernel holds), unread. */
        chunk = malloc(48 * 1024);
        assert_non_null(chunk);
        for (size_t off = 0; off < queued; off += 48 * 1024) {
                char *b64;
                size_t n = 48 * 1024;
                json_t *p;

                pat_fill(chunk, 20, off, n);
                b64 = malloc(n * 2);
                assert_non_null(b64);
                {
                        static const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
                                                 "wxyz0123456789+/";
                        size_t o = 0;

                        for (size_t i = 0; i < n; i += 3) {
                                uint32_t v = (uint32_t)chunk[i] << 16 |
                                             (uint32_t)chunk[i + 1] << 8 | chunk[i + 2];

                                b64[o++] = abc[v >> 18];
                                b64[o++] = abc[(v >> 12) & 63];
                                b64[o++] = abc[(v >> 6) & 63];
                                b64[o++] = abc[v & 63];
                        }
                        b64[o] = 0;
                }
                p = json_pack("{s:I,s:s,s:s}", "socket", (json_int_t)s, "data", b64, "encoding",
                              "base64");
                ctl_send(&c, "socket.write", p, NULL);
                free(b64);
        }
        free(chunk);
        r = ctl_call(&c, "socket.get", SOCK(s), NULL);
        assert_true(netd_test_int_at(r, "bufferSize") > 0); /* still queued at the attach */

        /* Peer to client: some bytes before the attach, arriving as socket.data. */
        {
                struct stream st = { .wfd = peer, .rfd = -1, .seed = 10, .len = before };

                st.got = st.len; /* only written here */
                run_streams(&st, 1, NETD_TEST_TIMEOUT_MS);
        }
        while (ctl_count(&c, "socket.data", s, 0) == 0)
                ctl_read(&c, netd_test_deadline(NETD_TEST_TIMEOUT_MS), "socket.data");

        /* During: the peer writes while the request is on its way; then the attach. */
        {
                uint8_t *b = malloc(during);

                assert_non_null(b);
                pat_fill(b, 10, before, during);
                ctl_send(&c, "socket.attach", SOCK(s), json_integer(9999));
                while (sent < during) {
                        struct pollfd p = { .fd = peer, .events = POLLOUT };
                        ssize_t k;

                        /* Kernel buffers hold it all; if not, the rest goes "after". */
                        if (poll(&p, 1, 2000) != 1)
                                break;
                        k = write(peer, b + sent, during - sent);
                        if (k > 0)
                                sent += (size_t)k;
                }
                free(b);
        }
        reply = SIZE_MAX;
        while (reply == SIZE_MAX) {
                for (size_t i = 0; i < c.n_msgs; i++)
                        if (json_integer_value(json_object_get(c.msgs[i].m, "id")) == 9999)
                                reply = i;
                if (reply == SIZE_MAX)
                        ctl_read(&c, netd_test_deadline(NETD_TEST_TIMEOUT_MS), "attach reply");
        }
        assert_non_null(json_object_get(c.msgs[reply].m, "result"));
        fd = c.msgs[reply].fd;
        c.msgs[reply].fd = -1;
        assert_true(fd >= 0);
        set_nonblock(fd);
        ctl_take_data(&c, s, 0, reply, &got, &got_len);
        assert_true(got_len >= 1 && got_len <= before + during);
        pat_check(got, 10, 0, got_len, "socket.data before the attach");
        free(got);

        /*
         * After: the peer writes more while the client reads the rest from the
         * descriptor; the client writes at once, and the peer (reading only
         * now) must see the 24 MiB queued before the attach first.
         */
        {
                struct stream st[2] = {
                        { .wfd = peer,
                          .rfd = fd,
                          .seed = 10,
                          .len = before + sent + after,
                          .sent = before + sent,
                          .got = got_len },
                        { .wfd = fd,
                          .rfd = peer,
                          .seed = 20,
                          .len = queued + later,
                          .sent = queued },
                };

                run_streams(st, 2, 60 * 1000);
        }
        ctl_poll(&c);
        assert_int_equal(ctl_count(&c, "socket.data", s, reply), 0);
        close(fd);
        close(peer);
        ctl_close(&c);
}

/* The peer resets: socket.error (ECONNRESET) and socket.close; the client reads EOF or an error. */
static void test_attach_peer_reset(struct netd_test_daemon *t)
{
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        struct ctl c;
        int peer, fd = -1, r;
        uint64_t s;
        struct msg *m;

        ctl_open(t, &c);
        s = connect_peer(&c, &peer);
        (void)ctl_call(&c, "socket.attach", SOCK(s), &fd);
        assert_int_equal(write(fd, "ping", 4), 4);
        netd_test_peer_expect(t, peer, "ping");
        assert_int_equal(setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
        close(peer);
        m = ctl_event(&c, "socket.error", s);
        netd_test_assert_str(m->m, "params.error.data.code", "ECONNRESET");
        m = ctl_event(&c, "socket.close", s);
        assert_true(json_is_true(netd_test_get(m->m, "params.hadError")));
        r = read_end(fd);
        assert_true(r == 0 || r == -ECONNRESET);
        close(fd);
        ctl_close(&c);
}

/* The client closes its descriptor while the peer still sends: socket.error EPIPE, never silence.
 */
static void test_attach_client_gone(struct netd_test_daemon *t)
{
        struct ctl c;
        int peer, fd = -1;
        uint64_t s;
        struct msg *m;
        uint8_t b[4096];

        ctl_open(t, &c);
        s = connect_peer(&c, &peer);
        (void)ctl_call(&c, "socket.attach", SOCK(s), &fd);
        memset(b, 'x', sizeof(b));
        assert_int_equal(write(peer, b, sizeof(b)), (ssize_t)sizeof(b));
        close(fd);
        m = ctl_event(&c, "socket.error", s);
        netd_test_assert_str(m->m, "params.error.data.code", "EPIPE");
        m = ctl_event(&c, "socket.close", s);
        assert_true(json_is_true(netd_test_get(m->m, "params.hadError")));
        close(peer);
        ctl_close(&c);
}

/* A client that does not read its descriptor stops netd reading the peer: RSS stays bounded. */
static void test_attach_slow_reader(struct netd_test_daemon *t)
{
        struct ctl c;
        int peer, fd = -1;
        uint64_t s;
        size_t pushed;
        long rss0, rss1;

        ctl_open(t, &c);
        s = connect_peer(&c, &peer);
        (void)ctl_call(&c, "socket.attach", SOCK(s), &fd);
        set_nonblock(fd);
        rss0 = rss_kb(t);
        pushed = push_until_full(peer, 5, 0, 300);
        rss1 = rss_kb(t);
        print_message("slow reader: %zu bytes held by the kernel, RSS %ld -> %ld KiB\n", pushed,
                      rss0, rss1);
        /* Socket buffers, one pipe and the pair: tens of MiB at most, never what is offered. */
        assert_true(pushed < (size_t)96 * 1024 * 1024);
        assert_true(rss1 - rss0 < 8 * 1024);
        ctl_poll(&c);
        assert_int_equal(ctl_count(&c, "socket.data", s, 0), 0);
        read_pattern(fd, 5, pushed);
        close(fd);
        close(peer);
        ctl_close(&c);
}

/* net.createServer {attach}: the connection event carries the descriptor; raw from byte one. */
static void test_attach_server(struct netd_test_daemon *t)
{
        struct ctl c;
        uint64_t srv, s;
        int port, cli, fd = -1;
        struct msg *m;
        char b[16];
        json_t *r;

        ctl_open(t, &c);
        srv = ctl_id(ctl_call(&c, "net.createServer", json_pack("{s:b}", "attach", 1), NULL),
                     "server");
        r = ctl_call(&c, "server.listen",
                     json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv, "port", 0, "host",
                               "127.0.0.1"),
                     NULL);
        port = (int)netd_test_int_at(r, "port");
        cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        {
                struct sockaddr_in a = { .sin_family = AF_INET,
                                         .sin_port = htons((uint16_t)port),
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                assert_int_equal(connect(cli, (struct sockaddr *)&a, sizeof(a)), 0);
        }
        assert_int_equal(write(cli, "hello", 5), 5);
        m = ctl_event(&c, "server.connection", srv);
        s = ctl_id(json_object_get(m->m, "params"), "socket");
        assert_int_equal(netd_test_int_at(m->m, "params.fd"), 0);
        fd = m->fd;
        m->fd = -1;
        assert_true(fd >= 0);
        assert_int_equal(read(fd, b, 5), 5);
        assert_memory_equal(b, "hello", 5);
        assert_int_equal(write(fd, "world", 5), 5);
        assert_int_equal(read(cli, b, 5), 5);
        assert_memory_equal(b, "world", 5);
        ctl_poll(&c);
        assert_int_equal(ctl_count(&c, "socket.data", s, 0), 0);
        r = ctl_call(&c, "socket.get", SOCK(s), NULL);
        assert_int_equal(netd_test_int_at(r, "bytesRead"), 5);
        assert_int_equal(netd_test_int_at(r, "bytesWritten"), 5);
        /* Closing the descriptor ends the socket: the peer reads EOF. */
        close(fd);
        assert_int_equal(read(cli, b, sizeof(b)), 0);
        close(cli);
        (void)ctl_event(&c, "socket.close", s);
        ctl_close(&c);
}

/*
 * An attach server of a lingering session (§16) stops accepting: no kept
 * event can carry a descriptor. The kernel's backlog holds a peer that
 * connects meanwhile; after netd.attach it is accepted and its
 * server.connection carries its descriptor, the peer's first bytes in it.
 */
static void test_attach_server_lingering(struct netd_test_daemon *t)
{
        struct ctl a, b;
        uint64_t srv;
        int port, cli, fd;
        struct msg *m;
        char buf[8], token[64];
        json_t *r;
        int64_t dl;

        ctl_open(t, &a);
        srv = ctl_id(ctl_call(&a, "net.createServer", json_pack("{s:b}", "attach", 1), NULL),
                     "server");
        r = ctl_call(&a, "server.listen",
                     json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv, "port", 0, "host",
                               "127.0.0.1"),
                     NULL);
        port = (int)netd_test_int_at(r, "port");
        r = ctl_call(&a, "netd.detach", json_pack("{s:i}", "lingerMs", 10000), NULL);
        (void)snprintf(token, sizeof(token), "%s",
                       json_string_value(json_object_get(r, "token")));
        ctl_close(&a);
        ctl_open(t, &b);
        /* Once netd counts one connection (b), a's session lingers. */
        dl = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        while (netd_test_int_at(ctl_call(&b, "netd.info", NULL, NULL), "connections") != 1)
                if (netd_test_now_ms() > dl)
                        fail_msg("netd still counts the detached connection");
        cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        {
                struct sockaddr_in in = { .sin_family = AF_INET,
                                          .sin_port = htons((uint16_t)port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                assert_int_equal(connect(cli, (struct sockaddr *)&in, sizeof(in)), 0);
        }
        assert_int_equal(write(cli, "hello", 5), 5);
        /*
         * The listening socket was readable before these requests were sent:
         * by their replies netd's loop has seen it (and accepted, were it to).
         */
        (void)ctl_call(&b, "netd.sync", NULL, NULL);
        (void)ctl_call(&b, "netd.sync", NULL, NULL);
        r = ctl_call(&b, "netd.attach", json_pack("{s:s}", "token", token), NULL);
        assert_int_equal(json_array_size(json_object_get(r, "handles")), 1);
        m = ctl_event(&b, "server.connection", srv);
        assert_int_equal(netd_test_int_at(m->m, "params.fd"), 0);
        fd = m->fd;
        m->fd = -1;
        assert_true(fd >= 0);
        assert_int_equal(read(fd, buf, 5), 5);
        assert_memory_equal(buf, "hello", 5);
        close(fd);
        assert_int_equal(read(cli, buf, sizeof(buf)), 0);
        close(cli);
        ctl_close(&b);
}

/* What attached sockets refuse, and what may not be batched. */
static void test_attach_refusals(struct netd_test_daemon *t)
{
        struct ctl c;
        int peer, fd = -1, peer2;
        uint64_t s, s2;

        ctl_open(t, &c);
        s = connect_peer(&c, &peer);
        s2 = connect_peer(&c, &peer2);
        (void)ctl_call(&c, "socket.attach", SOCK(s), &fd);
        ctl_call_fail(&c, "socket.write",
                      json_pack("{s:I,s:s}", "socket", (json_int_t)s, "data", "x"),
                      "ERR_NETD_SOCKET_ATTACHED");
        ctl_call_fail(&c, "socket.end", SOCK(s), "ERR_NETD_SOCKET_ATTACHED");
        ctl_call_fail(&c, "socket.setEncoding", SOCK(s), "ERR_NETD_SOCKET_ATTACHED");
        ctl_call_fail(&c, "socket.attach", SOCK(s), "ERR_NETD_SOCKET_ATTACHED");
        ctl_call_fail(
                &c, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)s, "destination", (json_int_t)s2),
                "ERR_NETD_SOCKET_ATTACHED");
        ctl_call_fail(
                &c, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)s2, "destination", (json_int_t)s),
                "ERR_NETD_SOCKET_ATTACHED");
        ctl_call_fail(&c, "socket.attach", SOCK(999999), "ERR_NETD_HANDLE_NOT_FOUND");
        ctl_call_fail(
                &c, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)s2, "destination", (json_int_t)s2),
                "ERR_INVALID_ARG_VALUE");
        /* In a batch a descriptor's line would be ambiguous. */
        {
                char line[512];
                json_t *a;

                (void)snprintf(line, sizeof(line),
                               "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"socket.attach\","
                               "\"params\":{\"socket\":%llu}},{\"jsonrpc\":\"2.0\",\"id\":2,"
                               "\"method\":\"net.createServer\",\"params\":{\"attach\":"
                               "true}}]\n",
                               (unsigned long long)s2);
                ctl_write(&c, line, strlen(line));
                while (c.n_msgs == 0 || !json_is_array(c.msgs[c.n_msgs - 1].m))
                        ctl_read(&c, netd_test_deadline(NETD_TEST_TIMEOUT_MS), "batch");
                a = c.msgs[c.n_msgs - 1].m;
                assert_int_equal(c.msgs[c.n_msgs - 1].fd, -1);
                netd_test_assert_str(json_array_get(a, 0), "error.data.code",
                                     "ERR_NETD_FD_IN_BATCH");
                netd_test_assert_str(json_array_get(a, 1), "error.data.code",
                                     "ERR_NETD_FD_IN_BATCH");
        }
        /* The socket still works through its descriptor. */
        assert_int_equal(write(fd, "ok", 2), 2);
        netd_test_peer_expect(t, peer, "ok");
        close(fd);
        close(peer);
        close(peer2);
        ctl_close(&c);
}

/* socket.pipe with a stalled destination: RSS bounded, nothing lost, no socket.data meanwhile. */
static void test_pipe_stalled(struct netd_test_daemon *t)
{
        struct ctl c;
        int p1, p2;
        uint64_t s1, s2;
        size_t pushed;
        long rss0, rss1;

        ctl_open(t, &c);
        s1 = connect_peer(&c, &p1);
        s2 = connect_peer(&c, &p2);
        /* s2's own queued bytes go first. */
        (void)ctl_call(&c, "socket.write",
                       json_pack("{s:I,s:s}", "socket", (json_int_t)s2, "data", "HEAD"), NULL);
        (void)ctl_call(
                &c, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)s1, "destination", (json_int_t)s2),
                NULL);
        rss0 = rss_kb(t);
        pushed = push_until_full(p1, 7, 0, 300);
        rss1 = rss_kb(t);
        print_message("stalled pipe: %zu bytes held by the kernel, RSS %ld -> %ld KiB\n", pushed,
                      rss0, rss1);
        assert_true(pushed < (size_t)96 * 1024 * 1024);
        assert_true(rss1 - rss0 < 8 * 1024);
        netd_test_peer_expect(t, p2, "HEAD");
        read_pattern(p2, 7, pushed);
        ctl_poll(&c);
        assert_int_equal(ctl_count(&c, "socket.data", s1, 0), 0);
        {
                json_t *r = ctl_call(&c, "socket.get", SOCK(s1), NULL);

                assert_int_equal(netd_test_int_at(r, "bytesRead"), (json_int_t)pushed);
                assert_int_equal(netd_test_int_at(r, "pipe"), (json_int_t)s2);
                assert_true(json_is_false(json_object_get(r, "attached")));
                r = ctl_call(&c, "socket.get", SOCK(s2), NULL);
                assert_int_equal(netd_test_int_at(r, "bytesWritten"), (json_int_t)pushed + 4);
        }
        /* end (default true): the source's FIN ends the destination. */
        assert_int_equal(shutdown(p1, SHUT_WR), 0);
        assert_int_equal(netd_test_peer_end(t, p2), 0);
        (void)ctl_event(&c, "socket.end", s1);
        close(p1);
        close(p2);
        ctl_close(&c);
}

/* unpipe mid-stream: the destination gets a prefix, socket.data the rest; nothing lost. */
static void test_pipe_unpipe(struct netd_test_daemon *t)
{
        const size_t total = 16 * 1024 * 1024;
        uint8_t *data = malloc(total), *rx = malloc(total), *js = NULL;
        size_t sent = 0, at_p2 = 0, js_len = 0, mark;
        struct ctl c;
        int p1, p2;
        uint64_t s1, s2;
        bool unpiped = false;

        assert_non_null(data);
        assert_non_null(rx);
        pat_fill(data, 9, 0, total);
        ctl_open(t, &c);
        s1 = connect_peer(&c, &p1);
        s2 = connect_peer(&c, &p2);
        (void)ctl_call(&c, "socket.pipe",
                       json_pack("{s:I,s:I,s:b}", "socket", (json_int_t)s1, "destination",
                                 (json_int_t)s2, "end", 0),
                       NULL);
        mark = c.n_msgs;
        {
                int64_t dl = netd_test_deadline(60 * 1000);

                while (sent < total || at_p2 + js_len < total) {
                        struct pollfd p[3] = {
                                { .fd = p1, .events = sent < total ? POLLOUT : 0 },
                                { .fd = p2, .events = POLLIN },
                                { .fd = c.fd, .events = POLLIN },
                        };
                        ssize_t k;

                        if (netd_test_now_ms() > dl)
                                fail_msg("unpipe: %zu sent, %zu + %zu received", sent, at_p2,
                                         js_len);
                        (void)poll(p, 3, 1000);
                        if (p[0].revents & POLLOUT) {
                                size_t n = total - sent < 65536 ? total - sent : 65536;

                                k = write(p1, data + sent, n);
                                if (k > 0)
                                        sent += (size_t)k;
                        }
                        if (p[1].revents & POLLIN) {
                                k = read(p2, rx + at_p2, total - at_p2);
                                if (k > 0)
                                        at_p2 += (size_t)k;
                        }
                        if (p[2].revents & POLLIN)
                                ctl_read(&c, dl, "socket.data");
                        if (!unpiped && at_p2 >= total / 4) {
                                (void)ctl_call(&c, "socket.unpipe", SOCK(s1), NULL);
                                unpiped = true;
                        }
                        ctl_take_data(&c, s1, mark, c.n_msgs, &js, &js_len);
                }
        }
        print_message("unpipe: %zu bytes through the pipe, %zu as socket.data\n", at_p2, js_len);
        assert_int_equal(at_p2 + js_len, total);
        assert_memory_equal(rx, data, at_p2);
        assert_memory_equal(js, data + at_p2, js_len);
        assert_true(js_len > 0);
        free(data);
        free(rx);
        free(js);
        close(p1);
        close(p2);
        ctl_close(&c);
}

/* Two pipes make a relay: both ways at once, then each FIN crosses it. */
static void test_pipe_relay(struct netd_test_daemon *t)
{
        const size_t n = 32 * 1024 * 1024;
        struct ctl c;
        int p1, p2;
        uint64_t s1, s2;

        ctl_open(t, &c);
        s1 = connect_peer(&c, &p1);
        s2 = connect_peer(&c, &p2);
        (void)ctl_call(
                &c, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)s1, "destination", (json_int_t)s2),
                NULL);
        (void)ctl_call(
                &c, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)s2, "destination", (json_int_t)s1),
                NULL);
        {
                struct stream st[2] = {
                        { .wfd = p1, .rfd = p2, .seed = 31, .len = n, .shut = true },
                        { .wfd = p2, .rfd = p1, .seed = 32, .len = n, .shut = true },
                };

                run_streams(st, 2, 60 * 1000);
        }
        (void)ctl_event(&c, "socket.close", s1);
        (void)ctl_event(&c, "socket.close", s2);
        ctl_poll(&c);
        assert_int_equal(ctl_count(&c, "socket.data", s1, 0), 0);
        assert_int_equal(ctl_count(&c, "socket.data", s2, 0), 0);
        assert_int_equal(ctl_count(&c, "socket.error", s1, 0), 0);
        assert_int_equal(ctl_count(&c, "socket.error", s2, 0), 0);
        close(p1);
        close(p2);
        ctl_close(&c);
}

/* Attached before it connects: bytes move once connected; no descriptor leaks after. */
static void test_attach_before_connect(struct netd_test_daemon *t)
{
        struct ctl c;
        int port, lfd, peer, fd = -1, fds0;
        uint64_t s;
        char b[8];

        ctl_open(t, &c);
        (void)ctl_call(&c, "netd.sync", NULL, NULL); /* netd has accepted us */
        fds0 = netd_test_daemon_fds(t);
        lfd = netd_test_tcp_socket(true, &port);
        s = ctl_id(ctl_call(&c, "net.Socket", json_object(), NULL), "socket");
        (void)ctl_call(&c, "socket.attach", SOCK(s), &fd);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "early", 5), 5); /* before the connection exists */
        (void)ctl_call(&c, "socket.connect",
                       json_pack("{s:I,s:i,s:s}", "socket", (json_int_t)s, "port", port, "host",
                                 "127.0.0.1"),
                       NULL);
        peer = netd_test_accept_peer(lfd);
        close(lfd);
        netd_test_peer_expect(t, peer, "early");
        assert_int_equal(write(peer, "late", 4), 4);
        assert_int_equal(read(fd, b, 4), 4);
        assert_memory_equal(b, "late", 4);
        (void)ctl_event(&c, "socket.connect", s);
        /* Both ends go: the socket closes and netd holds no descriptor of it. */
        close(fd);
        close(peer);
        (void)ctl_event(&c, "socket.close", s);
        assert_int_equal(netd_test_daemon_fds(t), fds0);
        ctl_close(&c);
}

/*
 * Without allowHalfOpen the peer's FIN ends the socket (Node): the client
 * reads EOF, what it wrote before still reaches the peer, later writes fail
 * with EPIPE, and the socket closes cleanly.
 */
static void test_attach_not_half_open(struct netd_test_daemon *t)
{
        struct ctl c;
        int peer, fd = -1;
        uint64_t s;
        struct msg *m;
        ssize_t n;

        ctl_open(t, &c);
        s = connect_peer(&c, &peer);
        (void)ctl_call(&c, "socket.attach", SOCK(s), &fd);
        assert_int_equal(write(fd, "bye", 3), 3);
        assert_int_equal(shutdown(peer, SHUT_WR), 0);
        assert_int_equal(read_end(fd), 0);
        netd_test_peer_expect(t, peer, "bye");
        assert_int_equal(netd_test_peer_end(t, peer), 0);
        (void)ctl_event(&c, "socket.end", s);
        m = ctl_event(&c, "socket.close", s);
        assert_true(json_is_false(netd_test_get(m->m, "params.hadError")));
        n = write(fd, "x", 1);
        assert_int_equal(n, -1);
        assert_int_equal(errno, EPIPE);
        close(fd);
        close(peer);
        ctl_close(&c);
}

/* A character split by the attach: the decoder's held bytes reach the descriptor first, raw. */
static void test_attach_encoding_seam(struct netd_test_daemon *t)
{
        struct ctl c;
        int peer, fd = -1;
        uint64_t s;
        struct msg *m;
        char b[8];

        ctl_open(t, &c);
        s = connect_peer(&c, &peer);
        (void)ctl_call(&c, "socket.setEncoding",
                       json_pack("{s:I,s:s}", "socket", (json_int_t)s, "encoding", "utf8"), NULL);
        assert_int_equal(write(peer, "a\xc3", 2), 2);
        m = ctl_event(&c, "socket.data", s);
        netd_test_assert_str(m->m, "params.data", "a");
        (void)ctl_call(&c, "socket.attach", SOCK(s), &fd);
        assert_int_equal(write(peer, "\xa9z", 2), 2);
        assert_int_equal(read(fd, b, 1), 1);
        assert_int_equal((unsigned char)b[0], 0xc3);
        assert_int_equal(read(fd, b, 2), 2);
        assert_memory_equal(b, "\xa9z", 2);
        close(fd);
        close(peer);
        ctl_close(&c);
}

/* A client that disconnects takes its attached sockets along: the peer and the descriptor see EOF.
 */
static void test_attach_owner_gone(struct netd_test_daemon *t)
{
        struct ctl c;
        int peer, fd = -1, fds0;
        uint64_t s;

        ctl_open(t, &c);
        (void)ctl_call(&c, "netd.sync", NULL, NULL); /* netd has accepted us */
        fds0 = netd_test_daemon_fds(t);
        s = connect_peer(&c, &peer);
        (void)s;
        (void)ctl_call(&c, "socket.attach", SOCK(s), &fd);
        ctl_close(&c);
        assert_int_equal(read_end(fd), 0);
        assert_true(netd_test_peer_end(t, peer) <= 0);
        close(fd);
        close(peer);
        /* The connection's own descriptor went too. */
        {
                int64_t dl = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

                while (netd_test_daemon_fds(t) > fds0 - 1 && netd_test_now_ms() < dl)
                        (void)poll(NULL, 0, 10);
                assert_int_equal(netd_test_daemon_fds(t), fds0 - 1);
        }
}

/* The source is destroyed mid-pipe: what it sent still reaches the destination, not ended. */
static void test_pipe_source_destroyed(struct netd_test_daemon *t)
{
        struct ctl c;
        int p1, p2;
        uint64_t s1, s2;
        struct msg *m;

        ctl_open(t, &c);
        s1 = connect_peer(&c, &p1);
        s2 = connect_peer(&c, &p2);
        (void)ctl_call(
                &c, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)s1, "destination", (json_int_t)s2),
                NULL);
        assert_int_equal(write(p1, "one", 3), 3);
        netd_test_peer_expect(t, p2, "one");
        (void)ctl_call(&c, "socket.destroy", SOCK(s1), NULL);
        (void)ctl_event(&c, "socket.close", s1);
        /* The destination is intact: writable, not ended. */
        (void)ctl_call(&c, "socket.write",
                       json_pack("{s:I,s:s}", "socket", (json_int_t)s2, "data", "two"), NULL);
        netd_test_peer_expect(t, p2, "two");
        assert_int_equal(ctl_count(&c, "socket.close", s2, 0), 0);
        /* The destination is destroyed in another pipe: the source's bytes come back as data. */
        {
                int p3;
                uint64_t s3 = connect_peer(&c, &p3);
                uint8_t *got = NULL;
                size_t len = 0;

                (void)ctl_call(&c, "socket.pipe",
                               json_pack("{s:I,s:I}", "socket", (json_int_t)s3, "destination",
                                         (json_int_t)s2),
                               NULL);
                (void)ctl_call(&c, "socket.destroy", SOCK(s2), NULL);
                (void)ctl_event(&c, "socket.close", s2);
                assert_int_equal(write(p3, "back", 4), 4);
                m = ctl_event(&c, "socket.data", s3);
                m->used = false;
                ctl_take_data(&c, s3, 0, c.n_msgs, &got, &len);
                assert_int_equal(len, 4);
                assert_memory_equal(got, "back", 4);
                free(got);
                close(p3);
        }
        close(p1);
        close(p2);
        ctl_close(&c);
}

/*
 * A TCP listener whose accept queue is full (the test's own connection waits
 * in it, backlog 0): the kernel drops further SYNs, so a connect to it stays
 * in progress until the test accepts and the SYN is sent again (~1 s).
 * *ret_filler is that waiting connection.
 */
static int full_tcp_listener(int *ret_port, int *ret_filler)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(a);
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int f = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(l, 0), 0);
        assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
        assert_int_equal(connect(f, (struct sockaddr *)&a, sizeof(a)), 0);
        *ret_port = ntohs(a.sin_port);
        *ret_filler = f;
        return l;
}

/* Accepts the filler, then the connection netd made; returns netd's peer. */
static int accept_after_filler(int l)
{
        int f = accept4(l, NULL, NULL, SOCK_CLOEXEC);

        assert_true(f >= 0);
        close(f);
        return netd_test_accept_peer(l);
}

/* A pipe set up while both sockets still connect (a forwarder's case) starts once they are. */
static void test_pipe_while_connecting(struct netd_test_daemon *t)
{
        struct ctl c;
        int port1, port2, l1, l2, f1, f2, p1, p2, fds0;
        uint64_t s1, s2;

        ctl_open(t, &c);
        (void)ctl_call(&c, "netd.sync", NULL, NULL); /* netd has accepted us */
        fds0 = netd_test_daemon_fds(t);
        l1 = full_tcp_listener(&port1, &f1);
        l2 = full_tcp_listener(&port2, &f2);
        s1 = ctl_id(ctl_call(&c, "net.connect",
                             json_pack("{s:i,s:s}", "port", port1, "host", "127.0.0.1"), NULL),
                    "socket");
        s2 = ctl_id(ctl_call(&c, "net.connect",
                             json_pack("{s:i,s:s}", "port", port2, "host", "127.0.0.1"), NULL),
                    "socket");
        /* Queued before the pipe (a notification: its reply would wait for the connect). */
        ctl_send(&c, "socket.write",
                 json_pack("{s:I,s:s}", "socket", (json_int_t)s2, "data", "HEAD"), NULL);
        (void)ctl_call(
                &c, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)s1, "destination", (json_int_t)s2),
                NULL);
        (void)ctl_call(
                &c, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)s2, "destination", (json_int_t)s1),
                NULL);
        /* Both still connecting (the accept queues are full) when piped. */
        ctl_poll(&c);
        assert_int_equal(ctl_count(&c, "socket.connect", s1, 0), 0);
        assert_int_equal(ctl_count(&c, "socket.connect", s2, 0), 0);
        p1 = accept_after_filler(l1);
        (void)ctl_event(&c, "socket.connect", s1);
        p2 = accept_after_filler(l2);
        close(l1);
        close(l2);
        close(f1);
        close(f2);
        netd_test_peer_expect(t, p2, "HEAD");
        {
                struct stream st[2] = {
                        { .wfd = p1, .rfd = p2, .seed = 41, .len = 4 << 20, .shut = true },
                        { .wfd = p2, .rfd = p1, .seed = 42, .len = 4 << 20, .shut = true },
                };

                run_streams(st, 2, 60 * 1000);
        }
        (void)ctl_event(&c, "socket.close", s1);
        (void)ctl_event(&c, "socket.close", s2);
        assert_int_equal(ctl_count(&c, "socket.data", s1, 0), 0);
        assert_int_equal(ctl_count(&c, "socket.data", s2, 0), 0);
        close(p1);
        close(p2);
        assert_int_equal(netd_test_daemon_fds(t), fds0);
        /* Never connected at all is refused. */
        s1 = ctl_id(ctl_call(&c, "net.Socket", json_object(), NULL), "socket");
        s2 = ctl_id(ctl_call(&c, "net.Socket", json_object(), NULL), "socket");
        ctl_call_fail(
                &c, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)s1, "destination", (json_int_t)s2),
                "ERR_NETD_SOCKET_NOT_CONNECTED");
        ctl_close(&c);
}

/*
 * SIGTERM with an attached socket and a relay: what the client wrote still
 * reaches the peer, then the FIN; the client's descriptor reads EOF; netd
 * exits 0 well within its grace period.
 */
static void test_stop_with_attached(struct netd_test_daemon *t)
{
        struct ctl c;
        int peer, fd = -1, p1, p2;
        uint64_t s, s1, s2;
        int64_t t0;

        ctl_open(t, &c);
        s = connect_peer(&c, &peer);
        (void)ctl_call(&c, "socket.attach", SOCK(s), &fd);
        s1 = connect_peer(&c, &p1);
        s2 = connect_peer(&c, &p2);
        (void)ctl_call(
                &c, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)s1, "destination", (json_int_t)s2),
                NULL);
        assert_int_equal(write(fd, "last words", 10), 10);
        assert_int_equal(write(p1, "relayed", 7), 7);
        netd_test_peer_expect(t, p2, "relayed");
        t0 = netd_test_now_ms();
        netd_test_stop(t);
        assert_true(netd_test_now_ms() - t0 < 4000);
        netd_test_peer_expect(t, peer, "last words");
        assert_int_equal(netd_test_peer_end(t, peer), 0);
        assert_int_equal(netd_test_peer_end(t, p2), 0);
        assert_true(read_end(fd) <= 0);
        close(fd);
        close(peer);
        close(p1);
        close(p2);
        ctl_close(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_attach_bulk),           NETD_TEST(test_attach_seam),
                NETD_TEST(test_attach_peer_reset),     NETD_TEST(test_attach_client_gone),
                NETD_TEST(test_attach_slow_reader),    NETD_TEST(test_attach_server),
                NETD_TEST(test_attach_refusals),       NETD_TEST(test_pipe_stalled),
                NETD_TEST(test_pipe_unpipe),           NETD_TEST(test_pipe_relay),
                NETD_TEST(test_attach_before_connect), NETD_TEST(test_attach_not_half_open),
                NETD_TEST(test_attach_encoding_seam),  NETD_TEST(test_attach_owner_gone),
                NETD_TEST(test_pipe_source_destroyed), NETD_TEST(test_pipe_while_connecting),
                NETD_TEST(test_stop_with_attached),    NETD_TEST(test_attach_server_lingering),
        };

        /* A write to a descriptor netd closed must fail the test with EPIPE, not kill it. */
        signal(SIGPIPE, SIG_IGN);
        netd_test_asan_small_quarantine();
        return cmocka_run_group_tests_name("attach", tests, NULL, NULL);
}
