/*
 * Unit tests for proto/frame.c, the newline framer: the same lines come out
 * however the input is split, "\r\n" and blank lines are handled, the
 * max_line limit is exact, and the reserve/commit path works with buffer
 * growth and compaction.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Lines collected from a frame: one flat text, each line followed by '|'. */
struct collected {
        char *buf;
        size_t len, cap;
        size_t nlines;
};

static void collected_add(struct collected *c, const char *line, size_t len)
{
        if (c->len + len + 1 > c->cap) {
                c->cap = (c->len + len + 1) * 2;
                c->buf = realloc(c->buf, c->cap);
                assert_non_null(c->buf);
        }
        memcpy(c->buf + c->len, line, len);
        c->len += len;
        c->buf[c->len++] = '|';
        c->nlines++;
}

/* Takes every complete line out of f; fails on any error. */
static void drain(struct netd_frame *f, struct collected *c)
{
        char *line;
        size_t len;
        int r;

        for (;;) {
                r = netd_frame_next(f, &line, &len);
                assert_true(r >= 0);
                if (r == 0)
                        return;
                assert_true(len > 0);
                assert_true(len <= f->max_line);
                assert_null(memchr(line, '\n', len));
                collected_add(c, line, len);
        }
}

static void assert_collected(const struct collected *c, const char *want)
{
        assert_int_equal(c->len, strlen(want));
        assert_memory_equal(c->buf, want, c->len);
}

static const char stream[] = "hello\n"
                             "world\r\n"
                             "\n"
                             "{\"jsonrpc\":\"2.0\",\"id\":1}\r\n"
                             "\r\n"
                             "\n\n"
                             "a\rb\n"
                             "x\n"
                             "last line\n";
static const char stream_lines[] = "hello|world|{\"jsonrpc\":\"2.0\",\"id\":1}|a\rb|x|last line|";

/* Feeds stream in pieces ending at cuts[], draining after each piece. */
static void feed_split(const size_t *cuts, size_t ncuts, struct collected *c)
{
        struct netd_frame f;
        size_t i, start = 0, len = sizeof(stream) - 1;

        netd_frame_init(&f, 64);
        for (i = 0; i <= ncuts; i++) {
                size_t end = i < ncuts ? cuts[i] : len;

                assert_int_equal(netd_frame_feed(&f, stream + start, end - start), 0);
                drain(&f, c);
                start = end;
        }
        assert_int_equal(netd_frame_pending(&f), 0);
        netd_frame_done(&f);
}

static void test_frame_split_every_boundary(void **state)
{
        size_t len = sizeof(stream) - 1, cuts[2];

        (void)state;
        for (cuts[0] = 0; cuts[0] <= len; cuts[0]++) {
                struct collected c = { 0 };

                feed_split(cuts, 1, &c);
                assert_collected(&c, stream_lines);
                free(c.buf);

                for (cuts[1] = cuts[0]; cuts[1] <= len; cuts[1]++) {
                        struct collected c2 = { 0 };

                        feed_split(cuts, 2, &c2);
                        assert_collected(&c2, stream_lines);
                        free(c2.buf);
                }
        }
}

static void test_frame_crlf_and_blank(void **state)
{
        static const struct {
                const char *in, *want;
        } cases[] = {
                { "a\r\n", "a|" },
                { "\r\n", "" },
                { "\n\n\nx\n\r\n\n", "x|" },
                { "a\r\r\n", "a\r|" },       /* only the last "\r" goes */
                { "\ra\n", "\ra|" },         /* a leading "\r" stays */
                { "a\rb\r\n", "a\rb|" },     /* so does an inner one */
                { " \n", " |" },             /* a space is not blank */
                { "a\nb\r\nc\n", "a|b|c|" }, /* mixed endings */
                { "no newline", "" },        /* incomplete: not a line */
        };
        size_t i;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(cases); i++) {
                struct netd_frame f;
                struct collected c = { 0 };

                netd_frame_init(&f, 64);
                assert_int_equal(netd_frame_feed(&f, cases[i].in, strlen(cases[i].in)), 0);
                drain(&f, &c);
                assert_int_equal(c.len, strlen(cases[i].want));
                if (c.len)
                        assert_memory_equal(c.buf, cases[i].want, c.len);
                free(c.buf);
                netd_frame_done(&f);
        }
}

/* Feeds s and returns netd_frame_next()'s result; the line, if any, in *ret_len. */
static int feed_next(struct netd_frame *f, const char *s, size_t len, size_t *ret_len)
{
        char *line;

        assert_int_equal(netd_frame_feed(f, s, len), 0);
        return netd_frame_next(f, &line, ret_len);
}

static char *repeat_x(size_t n)
{
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, 'x', n);
        s[n] = '\0';
        return s;
}

/* The limit is exact for max_line = 16 and for the 1 MiB default. */
static void test_frame_max_line(void **state)
{
        static const size_t limits[] = { 16, NETD_FRAME_MAX_BYTES_DEFAULT };
        struct netd_frame f;
        size_t i, k, len;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(limits); i++) {
                size_t max = limits[i];
                char *x = repeat_x(max + 2);

                /* Exactly max bytes, then "\n": accepted. */
                netd_frame_init(&f, max);
                assert_int_equal(feed_next(&f, x, max, &len), 0);
                assert_int_equal(feed_next(&f, "\n", 1, &len), 1);
                assert_int_equal(len, max);
                netd_frame_done(&f);

                /* Exactly max bytes, then "\r\n" in two pieces: accepted. */
                netd_frame_init(&f, max);
                assert_int_equal(feed_next(&f, x, max, &len), 0);
                assert_int_equal(feed_next(&f, "\r", 1, &len), 0);
                assert_int_equal(feed_next(&f, "\n", 1, &len), 1);
                assert_int_equal(len, max);
                netd_frame_done(&f);

                /* max + 1 bytes and "\n" in one piece: too long. */
                netd_frame_init(&f, max);
                x[max + 1] = '\n';
                assert_int_equal(feed_next(&f, x, max + 2, &len), -EMSGSIZE);
                x[max + 1] = 'x';
                netd_frame_done(&f);

                /* max + 1 bytes, no newline yet: already too long. */
                netd_frame_init(&f, max);
                assert_int_equal(feed_next(&f, x, max + 1, &len), -EMSGSIZE);
                netd_frame_done(&f);

                /* max bytes, then one more: the extra byte makes it too long. */
                netd_frame_init(&f, max);
                assert_int_equal(feed_next(&f, x, max, &len), 0);
                assert_int_equal(feed_next(&f, "x", 1, &len), -EMSGSIZE);
                netd_frame_done(&f);

                /* max + 1 bytes and "\r\n": still too long after stripping. */
                netd_frame_init(&f, max);
                assert_int_equal(netd_frame_feed(&f, x, max + 1), 0);
                assert_int_equal(feed_next(&f, "\r\n", 2, &len), -EMSGSIZE);
                netd_frame_done(&f);
                netd_frame_init(&f, max);
                assert_int_equal(feed_next(&f, x, max, &len), 0);
                assert_int_equal(feed_next(&f, "x\r", 2, &len), -EMSGSIZE);
                netd_frame_done(&f);

                /* A long line after short ones is judged on its own length. */
                netd_frame_init(&f, max);
                assert_int_equal(feed_next(&f, "ok\n", 3, &len), 1);
                assert_int_equal(feed_next(&f, x, max, &len), 0);
                assert_int_equal(feed_next(&f, "\n", 1, &len), 1);
                assert_int_equal(len, max);
                netd_frame_done(&f);

                free(x);
        }

        /* max + 1 bytes fed one at a time: the last one trips the limit. */
        netd_frame_init(&f, 16);
        for (k = 0; k < 16; k++)
                assert_int_equal(feed_next(&f, "x", 1, &len), 0);
        assert_int_equal(feed_next(&f, "x", 1, &len), -EMSGSIZE);
        netd_frame_done(&f);
}

/* The read() path: reserve space, write part of it, commit what was written. */
static void test_frame_reserve_commit(void **state)
{
        struct netd_frame f;
        struct collected c = { 0 };
        char *p, *line;
        size_t room, len, i, want_lines = 0;
        int r;

        (void)state;
        netd_frame_init(&f, 1 << 20);

        /* Small writes into a large reservation. */
        r = netd_frame_reserve(&f, 16, &p, &room);
        assert_int_equal(r, 0);
        assert_true(room >= 16);
        memcpy(p, "one\ntw", 6);
        netd_frame_commit(&f, 6);
        drain(&f, &c);
        assert_int_equal(netd_frame_pending(&f), 2);
        r = netd_frame_reserve(&f, 3, &p, &room);
        assert_int_equal(r, 0);
        assert_true(room >= 3);
        memcpy(p, "o\n", 2);
        netd_frame_commit(&f, 2);
        drain(&f, &c);
        assert_collected(&c, "one|two|");
        assert_int_equal(netd_frame_pending(&f), 0);

        /* A committed count of 0 changes nothing. */
        r = netd_frame_reserve(&f, 1, &p, &room);
        assert_int_equal(r, 0);
        netd_frame_commit(&f, 0);
        assert_int_equal(netd_frame_next(&f, &line, &len), 0);

        /*
         * Keep a partial line buffered behind consumed ones while asking for
         * more and more room: compaction and growth must keep its bytes.
         */
        c.len = c.nlines = 0;
        for (i = 0; i < 200; i++) {
                size_t want = 100 + i * 97;
                size_t n;

                r = netd_frame_reserve(&f, want, &p, &room);
                assert_int_equal(r, 0);
                assert_true(room >= want);
                /* "line-<i>\npart" then the rest of "part" next round. */
                n = (size_t)snprintf(p, room, "%sline-%zu\npart", i ? "ial\n" : "", i);
                netd_frame_commit(&f, n);
                drain(&f, &c);
                want_lines += i ? 2 : 1;
                assert_int_equal(c.nlines, want_lines);
                assert_int_equal(netd_frame_pending(&f), 4);
        }
        assert_true(f.cap >= 100 + 199 * 97);
        assert_int_equal(memcmp(c.buf, "line-0|partial|line-1|partial|", 30), 0);

        free(c.buf);
        netd_frame_done(&f);
        assert_null(f.buf);
        assert_int_equal(f.max_line, 1 << 20);
}

/* Many lines of random lengths, fed one byte at a time. */
static void test_frame_byte_at_a_time(void **state)
{
        struct netd_frame f;
        struct collected c = { 0 };
        char *in, *want;
        size_t len = 0, wlen = 0, i, nlines = 2000, cap = 2000 * 320;
        uint32_t seed = 12345;

        (void)state;
        in = malloc(cap);
        want = malloc(cap);
        assert_non_null(in);
        assert_non_null(want);
        for (i = 0; i < nlines; i++) {
                size_t n, k;

                seed = seed * 1103515245 + 12345;
                n = (seed >> 16) % 300;
                for (k = 0; k < n; k++) {
                        char ch = (char)('a' + (k + i) % 26);

                        in[len++] = ch;
                        want[wlen++] = ch;
                }
                if (n > 0)
                        want[wlen++] = '|'; /* empty lines are skipped */
                if (i % 3 == 0)
                        in[len++] = '\r';
                in[len++] = '\n';
        }

        netd_frame_init(&f, 300);
        for (i = 0; i < len; i++) {
                assert_int_equal(netd_frame_feed(&f, in + i, 1), 0);
                drain(&f, &c);
        }
        assert_int_equal(c.len, wlen);
        assert_memory_equal(c.buf, want, wlen);
        netd_frame_done(&f);

        /*
         * One 1 MiB line a byte at a time: the scan resumes where it
         * stopped, so this stays linear (quadratic would take minutes).
         */
        netd_frame_init(&f, NETD_FRAME_MAX_BYTES_DEFAULT);
        c.len = c.nlines = 0;
        for (i = 0; i < NETD_FRAME_MAX_BYTES_DEFAULT; i++) {
                assert_int_equal(netd_frame_feed(&f, "y", 1), 0);
                drain(&f, &c);
        }
        assert_int_equal(netd_frame_feed(&f, "\n", 1), 0);
        drain(&f, &c);
        assert_int_equal(c.nlines, 1);
        assert_int_equal(c.len, NETD_FRAME_MAX_BYTES_DEFAULT + 1);
        netd_frame_done(&f);

        free(c.buf);
        free(in);
        free(want);
}

/* Empty frames and empty feeds are harmless; a returned line survives until the next change. */
static void test_frame_edges(void **state)
{
        struct netd_frame f;
        char *line, *line2;
        size_t len, len2;

        (void)state;
        netd_frame_init(&f, 8);
        assert_int_equal(netd_frame_next(&f, &line, &len), 0);
        assert_int_equal(netd_frame_feed(&f, "", 0), 0);
        assert_int_equal(netd_frame_pending(&f), 0);
        assert_int_equal(netd_frame_next(&f, &line, &len), 0);

        assert_int_equal(netd_frame_feed(&f, "ab\ncd\n", 6), 0);
        assert_int_equal(netd_frame_next(&f, &line, &len), 1);
        assert_int_equal(netd_frame_next(&f, &line2, &len2), 1);
        /* Both lines still readable: nothing was written since. */
        assert_memory_equal(line, "ab", 2);
        assert_memory_equal(line2, "cd", 2);
        assert_int_equal(netd_frame_next(&f, &line, &len), 0);
        assert_int_equal(netd_frame_pending(&f), 0);

        /* done() then init again: a fresh frame. */
        netd_frame_done(&f);
        netd_frame_done(&f);
        netd_frame_init(&f, 8);
        assert_int_equal(netd_frame_feed(&f, "z\n", 2), 0);
        assert_int_equal(netd_frame_next(&f, &line, &len), 1);
        assert_int_equal(len, 1);
        assert_int_equal(line[0], 'z');
        netd_frame_done(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_frame_split_every_boundary),
                cmocka_unit_test(test_frame_crlf_and_blank),
                cmocka_unit_test(test_frame_max_line),
                cmocka_unit_test(test_frame_reserve_commit),
                cmocka_unit_test(test_frame_byte_at_a_time),
                cmocka_unit_test(test_frame_edges),
        };

        return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
