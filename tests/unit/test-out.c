/*
 * unit/out: the one writer (daemon/out.c). Every line is one compact JSON
 * message ending in "\n" that jansson reads back to what was meant: ids
 * of every kind, results short and long (past the stack buffer), events,
 * socket.data in base64 and as escaped text. Lines that carry a
 * descriptor go out with exactly their bytes, in queue order, across
 * partial writes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "encoding.h"
#include "out.h"

/* Takes the one line b holds, checks its framing and returns it parsed. */
static json_t *take_line(struct evbuffer *b)
{
        size_t len = evbuffer_get_length(b);
        char *text = malloc(len + 1);
        json_t *v;

        assert_non_null(text);
        assert_int_equal(evbuffer_remove(b, text, len), (int)len);
        text[len] = '\0';
        assert_true(len > 0 && text[len - 1] == '\n');
        assert_null(memchr(text, '\n', len - 1)); /* one line */
        v = json_loadb(text, len - 1, JSON_ALLOW_NUL, NULL);
        assert_non_null(v);
        free(text);
        return v;
}

static void test_reply_ids(void **state)
{
        struct evbuffer *b = evbuffer_new();
        json_t *ids[] = { json_integer(INT64_MIN), json_integer(INT64_MAX),
                          json_integer(0),         json_string("caf\xc3\xa9\n\"x\""),
                          json_real(2.5),          json_null() };

        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                json_t *res = json_integer(-42), *line;

                assert_int_equal(netd_out_reply(b, ids[i], res), 0);
                line = take_line(b);
                assert_true(json_equal(json_object_get(line, "id"), ids[i]));
                assert_int_equal(json_integer_value(json_object_get(line, "result")), -42);
                assert_string_equal(json_string_value(json_object_get(line, "jsonrpc")), "2.0");
                json_decref(line);
                json_decref(res);
                json_decref(ids[i]);
        }
        evbuffer_free(b);
}

static void test_long_result_and_event(void **state)
{
        struct evbuffer *b = evbuffer_new();
        json_t *big = json_array(), *id = json_integer(7), *line, *params;

        /* A result far past the writer's 2 KiB stack buffer. */
        for (int i = 0; i < 5000; i++)
                json_array_append_new(big, json_integer(i));
        assert_int_equal(netd_out_reply(b, id, big), 0);
        line = take_line(b);
        assert_true(json_equal(json_object_get(line, "result"), big));
        json_decref(line);
        assert_int_equal(netd_out_reply(b, id, NULL), 0);
        line = take_line(b);
        assert_true(json_is_null(json_object_get(line, "result")));
        json_decref(line);
        params = json_pack("{s:I,s:b}", "socket", (json_int_t)9, "hadError", 0);
        assert_int_equal(netd_out_event(b, "socket.close", params), 0);
        line = take_line(b);
        assert_string_equal(json_string_value(json_object_get(line, "method")), "socket.close");
        assert_true(json_equal(json_object_get(line, "params"), params));
        json_decref(line);
        json_decref(params);
        json_decref(big);
        json_decref(id);
        evbuffer_free(b);
}

static void test_data(void **state)
{
        struct evbuffer *b = evbuffer_new();
        static uint8_t bytes[300000];
        const char text[] = "a\"b\\c\nd\x01\xc3\xa9";
        uint8_t *back = malloc(sizeof(bytes));
        json_t *line;
        const char *data;
        ssize_t n;

        assert_non_null(back);
        for (size_t i = 0; i < sizeof(bytes); i++)
                bytes[i] = (uint8_t)(i * 7 + i / 251);
        assert_int_equal(netd_out_data(b, 12345, bytes, sizeof(bytes), NULL, 0, "base64"), 0);
        line = take_line(b);
        assert_int_equal(
                json_integer_value(json_object_get(json_object_get(line, "params"), "socket")),
                12345);
        data = json_string_value(json_object_get(json_object_get(line, "params"), "data"));
        n = netd_decode(NETD_ENC_BASE64, data, strlen(data), back);
        assert_int_equal(n, sizeof(bytes));
        assert_memory_equal(back, bytes, sizeof(bytes));
        json_decref(line);
        assert_int_equal(netd_out_data(b, 1, NULL, 0, text, sizeof(text) - 1, "utf8"), 0);
        line = take_line(b);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(line, "params"), "data")), text);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(line, "params"), "encoding")),
                "utf8");
        json_decref(line);
        free(back);
        evbuffer_free(b);
}

/*
 * Lines around two descriptor-carrying lines, written through a socket
 * with a tiny buffer (many partial writes): every byte arrives in order,
 * and each descriptor arrives with a read whose last beginning line is its
 * own (PROTOCOL.md §3.5).
 */
static void test_lines_with_fds(void **state)
{
        struct netd_out_fds q = { 0 };
        struct evbuffer *b = evbuffer_new();
        char big[5000], *want, *got;
        int sv[2], small = 4096, fds_seen = 0;
        size_t want_len, got_len = 0;
        uint64_t fd_line[2];
        struct stat st;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        memset(big, 'a', sizeof(big));
        big[sizeof(big) - 1] = 0;
        for (int i = 0; i < 6; i++) {
                json_t *r = json_pack("{s:s}", "pad", big), *id = json_integer(i);

                if (i == 2 || i == 4) {
                        int fd = dup(i == 2 ? 0 : 1);
                        json_t *res = json_pack("{s:i}", "fd", 0);

                        fd_line[i / 2 - 1] = netd_out_fds_tail(&q, b);
                        /* netd_out_reply() borrows id and result: they are ours to free. */
                        assert_int_equal(netd_out_reply(b, id, res), 0);
                        json_decref(res);
                        assert_int_equal(netd_out_fds_push(&q, fd_line[i / 2 - 1], fd), 0);
                }
                assert_int_equal(netd_out_reply(b, id, r), 0);
                json_decref(id);
                json_decref(r);
        }
        want_len = evbuffer_get_length(b);
        want = malloc(want_len);
        got = malloc(want_len);
        assert_non_null(want);
        assert_non_null(got);
        evbuffer_copyout(b, want, want_len);
        while (got_len < want_len) {
                union {
                        struct cmsghdr align;
                        char c[CMSG_SPACE(sizeof(int) * 4)];
                } control;
                struct iovec iov = { got + got_len, want_len - got_len };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t n;

                if (evbuffer_get_length(b) > 0 && netd_out_write(b, sv[0], &q) < 0)
                        assert_int_equal(errno, EAGAIN);
                mh.msg_control = control.c;
                mh.msg_controllen = sizeof(control.c);
                n = recvmsg(sv[1], &mh, MSG_DONTWAIT);
                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        continue;
                }
                for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                        uint64_t last = UINT64_MAX;
                        int fd;

                        assert_int_equal(cm->cmsg_len, CMSG_LEN(sizeof(int)));
                        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
                        assert_int_equal(fstat(fd, &st), 0);
                        close(fd);
                        /* The last line beginning in this read's bytes is the descriptor's. */
                        for (size_t i = got_len; i < got_len + (size_t)n; i++)
                                if (i == 0 || got[i - 1] == '\n')
                                        last = i;
                        assert_true(fds_seen < 2);
                        assert_int_equal(last, fd_line[fds_seen]);
                        fds_seen++;
                }
                got_len += (size_t)n;
        }
        assert_int_equal(fds_seen, 2);
        assert_memory_equal(got, want, want_len);
        assert_int_equal(q.written, want_len);
        netd_out_fds_done(&q);
        free(want);
        free(got);
        evbuffer_free(b);
        close(sv[0]);
        close(sv[1]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reply_ids),
                cmocka_unit_test(test_long_result_and_event),
                cmocka_unit_test(test_data),
                cmocka_unit_test(test_lines_with_fds),
        };

        return cmocka_run_group_tests_name("out", tests, NULL, NULL);
}
