/*
 * Shared helpers of the netd benchmark programs (header-only, each program is
 * one translation unit): the deterministic byte stream, its hash, base64,
 * clocks, sockets, argument parsing and a minimal line reader for netd's
 * newline-delimited JSON.
 *
 * The byte stream: byte i of every data case is pattern[i % BENCH_PATTERN_LEN],
 * where pattern is 8 MiB of splitmix64 output (seed fixed). Senders send slices
 * of it; receivers hash what they get with bench_hash (a 4-lane multiply-rotate
 * hash in the style of xxh64, not bit-compatible with it) and compare against
 * the hash of the first N bytes of the stream, computed after the timed part.
 */
#pragma once

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PATTERN_LEN (8u << 20)

/* Each program uses a subset of these helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

static const char *bench_prog = "bench";

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s: ", bench_prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(1);
}

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Every program stops by itself: SIGALRM kills it after the timeout. */
static void bench_init(const char *prog, unsigned timeout_s)
{
        bench_prog = prog;
        signal(SIGPIPE, SIG_IGN);
        alarm(timeout_s);
}

/* Raises RLIMIT_NOFILE's soft limit to the hard one (the bench needs ~10k descriptors). */
static void raise_nofile(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
}

/* ---- arguments: --name=value or --name value ---------------------------------------------- */

static const char *arg_get(int argc, char **argv, const char *name, const char *def)
{
        size_t n = strlen(name);

        for (int i = 1; i < argc; i++) {
                if (strncmp(argv[i], name, n) != 0)
                        continue;
                if (argv[i][n] == '=')
                        return argv[i] + n + 1;
                if (argv[i][n] == '\0' && i + 1 < argc)
                        return argv[i + 1];
        }
        return def;
}

static bool arg_flag(int argc, char **argv, const char *name)
{
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], name) == 0)
                        return true;
        return false;
}

/* Integer with an optional K/M/G (binary) suffix. */
static uint64_t parse_size(const char *s)
{
        char *end;
        double v = strtod(s, &end);

        switch (*end) {
        case 'k':
        case 'K':
                v *= 1024.0;
                break;
        case 'm':
        case 'M':
                v *= 1024.0 * 1024.0;
                break;
        case 'g':
        case 'G':
                v *= 1024.0 * 1024.0 * 1024.0;
                break;
        default:
                break;
        }
        return (uint64_t)v;
}

static uint64_t arg_size(int argc, char **argv, const char *name, const char *def)
{
        const char *v = arg_get(argc, argv, name, def);

        if (!v)
                die("missing %s", name);
        return parse_size(v);
}

/* ---- the byte stream ----------------------------------------------------------------------- */

static uint8_t *bench_pattern(void)
{
        uint8_t *p = malloc(BENCH_PATTERN_LEN);
        uint64_t x = 0x6e657464u; /* "netd" */

        if (!p)
                die("out of memory");
        for (size_t i = 0; i < BENCH_PATTERN_LEN; i += 8) {
                uint64_t z = (x += 0x9E3779B97F4A7C15ull);

                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
                z ^= z >> 31;
                memcpy(p + i, &z, 8);
        }
        return p;
}

/* ---- the hash -------------------------------------------------------------------------------- */

#define H_P1 0x9E3779B185EBCA87ull
#define H_P2 0xC2B2AE3D27D4EB4Full
#define H_P3 0x165667B19E3779F9ull

struct bench_hash {
        uint64_t v[4];
        uint64_t total;
        size_t nbuf;
        uint8_t buf[32];
};

static inline uint64_t h_rotl(uint64_t x, int r)
{
        return (x << r) | (x >> (64 - r));
}

static inline uint64_t h_round(uint64_t acc, uint64_t w)
{
        return h_rotl(acc + w * H_P2, 31) * H_P1;
}

static void bench_hash_init(struct bench_hash *h)
{
        h->v[0] = H_P1 + H_P2;
        h->v[1] = H_P2;
        h->v[2] = 0;
        h->v[3] = (uint64_t)0 - H_P1;
        h->total = 0;
        h->nbuf = 0;
}

static inline void h_block(uint64_t v[4], const uint8_t *p)
{
        uint64_t w[4];

        memcpy(w, p, 32);
        v[0] = h_round(v[0], w[0]);
        v[1] = h_round(v[1], w[1]);
        v[2] = h_round(v[2], w[2]);
        v[3] = h_round(v[3], w[3]);
}

static void bench_hash_update(struct bench_hash *h, const void *data, size_t len)
{
        const uint8_t *p = data;
        uint64_t v[4] = { h->v[0], h->v[1], h->v[2], h->v[3] };

        h->total += len;
        if (h->nbuf) {
                size_t take = 32 - h->nbuf;

                if (take > len)
                        take = len;
                memcpy(h->buf + h->nbuf, p, take);
                h->nbuf += take;
                p += take;
                len -= take;
                if (h->nbuf < 32)
                        return;
                h_block(v, h->buf);
                h->nbuf = 0;
        }
        while (len >= 32) {
                h_block(v, p);
                p += 32;
                len -= 32;
        }
        memcpy(h->buf, p, len);
        h->nbuf = len;
        memcpy(h->v, v, sizeof(v));
}

static uint64_t bench_hash_final(const struct bench_hash *h)
{
        uint64_t r =
                h_rotl(h->v[0], 1) + h_rotl(h->v[1], 7) + h_rotl(h->v[2], 12) + h_rotl(h->v[3], 18);

        r ^= h->total * H_P3;
        for (size_t i = 0; i < h->nbuf; i++)
                r = (r ^ h->buf[i]) * 0x100000001B3ull;
        r ^= r >> 33;
        r *= H_P2;
        r ^= r >> 29;
        r *= H_P3;
        r ^= r >> 32;
        return r;
}

/* The hash of the first n bytes of the stream. */
static uint64_t bench_expected_hash(const uint8_t *pattern, uint64_t n)
{
        struct bench_hash h;

        bench_hash_init(&h);
        while (n > 0) {
                size_t take = n > BENCH_PATTERN_LEN ? BENCH_PATTERN_LEN : (size_t)n;

                bench_hash_update(&h, pattern, take);
                n -= take;
        }
        return bench_hash_final(&h);
}

/* Prints the receiver's one-line JSON report. */
static void report_stream(uint64_t bytes, uint64_t hash, double elapsed, double cpu,
                          const char *extra)
{
        uint8_t *pat = bench_pattern();
        uint64_t expect = bench_expected_hash(pat, bytes);

        free(pat);
        printf("{\"bytes\":%" PRIu64 ",\"hash\":\"%016" PRIx64 "\",\"expect\":\"%016" PRIx64
               "\",\"hash_ok\":%s,\"elapsed\":%.6f,\"cpu\":%.3f%s%s}\n",
               bytes, hash, expect, hash == expect ? "true" : "false", elapsed, cpu,
               extra ? "," : "", extra ? extra : "");
        fflush(stdout);
}

/* ---- base64 ------------------------------------------------------------------------------- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static uint16_t b64_pair[4096]; /* 12 bits -> two characters */
static uint8_t b64_val[256];    /* character -> 6 bits, 0xff: invalid */

static void b64_init(void)
{
        for (int i = 0; i < 4096; i++) {
                uint8_t two[2] = { (uint8_t)b64_chars[i >> 6], (uint8_t)b64_chars[i & 63] };

                memcpy(&b64_pair[i], two, 2);
        }
        memset(b64_val, 0xff, sizeof(b64_val));
        for (int i = 0; i < 64; i++)
                b64_val[(uint8_t)b64_chars[i]] = (uint8_t)i;
}

#define B64_ENC_LEN(n) ((((n) + 2) / 3) * 4)

/* Standard padded base64; returns the length written. */
static size_t b64_encode(const uint8_t *in, size_t len, char *out)
{
        char *o = out;
        size_t i = 0;

        for (; i + 3 <= len; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

                memcpy(o, &b64_pair[v >> 12], 2);
                memcpy(o + 2, &b64_pair[v & 0xfff], 2);
                o += 4;
        }
        if (len - i == 1) {
                uint32_t v = (uint32_t)in[i] << 16;

                memcpy(o, &b64_pair[v >> 12], 2);
                o[2] = '=';
                o[3] = '=';
                o += 4;
        } else if (len - i == 2) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

                memcpy(o, &b64_pair[v >> 12], 2);
                o[2] = b64_chars[(v >> 6) & 63];
                o[3] = '=';
                o += 4;
        }
        return (size_t)(o - out);
}

/* Two characters -> 12 bits; bit 15 set: not two base64 characters. */
static uint16_t b64_pair_val[65536];

static void b64_init_decode(void)
{
        for (int i = 0; i < 65536; i++) {
                uint8_t a = b64_val[i & 0xff], b = b64_val[i >> 8]; /* little-endian load */

                b64_pair_val[i] = (a | b) & 0x80 ? 0x8000 : (uint16_t)(a << 6 | b);
        }
}

/* Decodes padded base64 (a JSON "\/" is tolerated); returns bytes written or -1. */
static ssize_t b64_decode(const char *in, size_t len, uint8_t *out)
{
        uint8_t *o = out;
        size_t i = 0;

        if (memchr(in, '\\', len)) {
                /* Slow path: drop the backslashes of JSON escapes first. */
                char *tmp = malloc(len);
                size_t n = 0;
                ssize_t r;

                if (!tmp)
                        return -1;
                for (size_t j = 0; j < len; j++)
                        if (in[j] != '\\')
                                tmp[n++] = in[j];
                r = b64_decode(tmp, n, out);
                free(tmp);
                return r;
        }
        while (len > 0 && in[len - 1] == '=')
                len--;
        for (; i + 4 <= len; i += 4) {
                uint16_t p0, p1;

                memcpy(&p0, in + i, 2);
                memcpy(&p1, in + i + 2, 2);
                uint32_t a = b64_pair_val[p0], b = b64_pair_val[p1];

                if ((a | b) & 0x8000)
                        return -1;
                uint32_t v = a << 12 | b;
                o[0] = (uint8_t)(v >> 16);
                o[1] = (uint8_t)(v >> 8);
                o[2] = (uint8_t)v;
                o += 3;
        }
        if (len - i >= 2) {
                uint32_t a = b64_val[(uint8_t)in[i]], b = b64_val[(uint8_t)in[i + 1]];
                uint32_t c = len - i == 3 ? b64_val[(uint8_t)in[i + 2]] : 0;

                if ((a | b | c) & 0x80)
                        return -1;
                uint32_t v = a << 18 | b << 12 | c << 6;
                *o++ = (uint8_t)(v >> 16);
                if (len - i == 3)
                        *o++ = (uint8_t)(v >> 8);
        } else if (len - i == 1) {
                return -1;
        }
        return o - out;
}

/* ---- sockets ------------------------------------------------------------------------------ */

/*
 * Reads fd until EOF, hashing every byte, closes it and prints the stream
 * report (elapsed: first byte to EOF; cpu: this process from here on).
 * Shared by sink and direct-recv.
 */
/* read(2), again on EINTR; dies on an error. Returns the bytes read, 0 at EOF. */
static size_t read_some(int fd, void *buf, size_t len)
{
        for (;;) {
                ssize_t n = read(fd, buf, len);

                if (n >= 0)
                        return (size_t)n;
                if (errno != EINTR)
                        die("read: %s", strerror(errno));
        }
}

static void recv_hash_report(int fd)
{
        size_t bufsz = 256 * 1024;
        uint8_t *buf = malloc(bufsz);
        struct bench_hash h;
        uint64_t total = 0;
        double t0 = 0, t1, c0 = cpu_s();

        if (!buf)
                die("out of memory");
        bench_hash_init(&h);
        for (;;) {
                size_t n = read_some(fd, buf, bufsz);

                if (n == 0)
                        break;
                if (total == 0)
                        t0 = now_s();
                total += n;
                bench_hash_update(&h, buf, n);
        }
        t1 = now_s();
        close(fd);
        free(buf);
        report_stream(total, bench_hash_final(&h), total ? t1 - t0 : 0, cpu_s() - c0, NULL);
}

static void set_nonblock(int fd)
{
        int fl = fcntl(fd, F_GETFL);

        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A TCP listener on 127.0.0.1, ephemeral port; returns the fd, *port set. */
static int tcp_listen_ephemeral(int *port, int backlog)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                die("socket: %s", strerror(errno));
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
                die("listen: %s", strerror(errno));
        *port = ntohs(sa.sin_port);
        return fd;
}

/*
 * The servers' start: a listener on 127.0.0.1 (ephemeral port), "PORT <p>"
 * on stdout for the driver, one connection accepted, the listener closed.
 * Returns the connection.
 */
static int tcp_accept_one(void)
{
        int port, lfd = tcp_listen_ephemeral(&port, 16), fd;

        printf("PORT %d\n", port);
        fflush(stdout);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                die("accept: %s", strerror(errno));
        close(lfd);
        return fd;
}

static int tcp_connect(int port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                die("socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("connect 127.0.0.1:%d: %s", port, strerror(errno));
        return fd;
}

static int unix_connect(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                die("socket: %s", strerror(errno));
        if (strlen(path) >= sizeof(sa.sun_path))
                die("path too long: %s", path);
        strcpy(sa.sun_path, path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("connect %s: %s", path, strerror(errno));
        return fd;
}

static void write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pfd = { .fd = fd, .events = POLLOUT };

                                poll(&pfd, 1, -1);
                                continue;
                        }
                        die("write: %s", strerror(errno));
                }
                p += n;
                len -= (size_t)n;
        }
}

/* --size (required) and --chunk (default 256K, a divisor of the pattern's length). */
static void stream_args(int argc, char **argv, uint64_t *size, size_t *chunk)
{
        *size = arg_size(argc, argv, "--size", NULL);
        *chunk = (size_t)arg_size(argc, argv, "--chunk", "256K");
        if (*chunk == 0 || BENCH_PATTERN_LEN % *chunk)
                die("--chunk must divide %u", BENCH_PATTERN_LEN);
}

/* Writes the first size bytes of the stream (pattern repeated) to fd, chunk bytes a write(2). */
static void write_stream(int fd, const uint8_t *pattern, uint64_t size, size_t chunk)
{
        for (uint64_t sent = 0; sent < size; sent += chunk)
                write_all(fd, pattern + sent % BENCH_PATTERN_LEN,
                          size - sent < chunk ? (size_t)(size - sent) : chunk);
}

/*
 * The senders' run: the stream to the peer, a half-close, the peer's EOF
 * awaited, then {"bytes":..,"elapsed":..,"cpu":..} on stdout.
 */
static void send_stream_report(int fd, const uint8_t *pattern, uint64_t size, size_t chunk)
{
        char tmp[4096];
        double t0 = now_s(), c0 = cpu_s();

        write_stream(fd, pattern, size, chunk);
        shutdown(fd, SHUT_WR);
        while (read(fd, tmp, sizeof(tmp)) > 0) /* to EOF, or any error: the data went out */
                ;
        printf("{\"bytes\":%" PRIu64 ",\"elapsed\":%.6f,\"cpu\":%.3f}\n", size, now_s() - t0,
               cpu_s() - c0);
        close(fd);
}

/* ---- line reader for netd's output ----------------------------------------------------------- */

struct linebuf {
        char *buf;
        size_t cap, start, end;
        int fd; /* a descriptor that came with the bytes (SCM_RIGHTS), -1: none */
};

static void linebuf_init(struct linebuf *lb, size_t cap)
{
        lb->buf = malloc(cap);
        if (!lb->buf)
                die("out of memory");
        lb->cap = cap;
        lb->start = lb->end = 0;
        lb->fd = -1;
}

/*
 * Reads what is available (one read). Returns bytes read, 0 on EOF, -1 on
 * EAGAIN. Dies on errors.
 */
static ssize_t linebuf_fill(struct linebuf *lb, int fd)
{
        ssize_t n;

        if (lb->start > 0 && (lb->end == lb->cap || lb->start > lb->cap / 2)) {
                memmove(lb->buf, lb->buf + lb->start, lb->end - lb->start);
                lb->end -= lb->start;
                lb->start = 0;
        }
        if (lb->end == lb->cap) {
                lb->cap *= 2;
                lb->buf = realloc(lb->buf, lb->cap);
                if (!lb->buf)
                        die("out of memory");
        }
        {
                /* recvmsg: socket.attach's reply brings a descriptor (kept; extras closed). */
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int) * 4)];
                } control;
                struct iovec iov = { .iov_base = lb->buf + lb->end, .iov_len = lb->cap - lb->end };
                struct msghdr msg = { .msg_iov = &iov,
                                      .msg_iovlen = 1,
                                      .msg_control = control.buf,
                                      .msg_controllen = sizeof(control.buf) };

                n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
                for (struct cmsghdr *cm = n > 0 && msg.msg_controllen ? CMSG_FIRSTHDR(&msg) : NULL;
                     cm; cm = CMSG_NXTHDR(&msg, cm)) {
                        int *fds = (int *)CMSG_DATA(cm);
                        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                                continue;
                        for (size_t i = 0; i < k; i++) {
                                if (lb->fd < 0)
                                        lb->fd = fds[i];
                                else
                                        close(fds[i]);
                        }
                }
        }
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return -1;
                die("read: %s", strerror(errno));
        }
        lb->end += (size_t)n;
        return n;
}

/* Next complete line (NUL-terminated in place, '\n' removed), or NULL. */
static char *linebuf_next(struct linebuf *lb, size_t *len)
{
        char *s = lb->buf + lb->start;
        char *nl = memchr(s, '\n', lb->end - lb->start);

        if (!nl)
                return NULL;
        *nl = '\0';
        *len = (size_t)(nl - s);
        lb->start += *len + 1;
        return s;
}

/* Blocking: the next line, or NULL at EOF. */
static char *linebuf_read_line(struct linebuf *lb, int fd, size_t *len)
{
        for (;;) {
                char *l = linebuf_next(lb, len);

                if (l)
                        return l;
                ssize_t n = linebuf_fill(lb, fd);
                if (n == 0)
                        return NULL;
                if (n < 0) {
                        struct pollfd pfd = { .fd = fd, .events = POLLIN };

                        poll(&pfd, 1, -1);
                }
        }
}

/* Integer value of the first "key": in line (key given with its quotes and colon), or -1. */
static long long json_int_after(const char *line, const char *key)
{
        const char *p = strstr(line, key);

        if (!p)
                return -1;
        return strtoll(p + strlen(key), NULL, 10);
}

static bool line_is_event(const char *line, const char *event)
{
        char key[96];

        snprintf(key, sizeof(key), "\"method\":\"%s\"", event);
        return strstr(line, key) != NULL;
}

/* Sends one request with an id and waits for its reply line; events before it go to on_other. */
static char *netd_call(int fd, struct linebuf *lb, long long id, const char *method,
                       const char *params_json, void (*on_other)(char *line, void *ud), void *ud)
{
        char req[4096];
        int n = snprintf(req, sizeof(req),
                         "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"%s\"%s%s}\n", id, method,
                         params_json ? ",\"params\":" : "", params_json ? params_json : "");
        char idkey[64];
        size_t len;

        write_all(fd, req, (size_t)n);
        snprintf(idkey, sizeof(idkey), "\"id\":%lld,", id);
        for (;;) {
                char *l = linebuf_read_line(lb, fd, &len);

                if (!l)
                        die("netd closed the connection during %s", method);
                if (strncmp(l, "{\"jsonrpc\":\"2.0\",", 17) == 0 && strstr(l, idkey) &&
                    !strstr(l, "\"method\":")) {
                        if (strstr(l, "\"error\":"))
                                die("%s failed: %s", method, l);
                        return l;
                }
                if (on_other)
                        on_other(l, ud);
        }
}
