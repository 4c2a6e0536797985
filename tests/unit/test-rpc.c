/*
 * unit/rpc: the JSON-RPC envelope end to end through a real control
 * connection on a socketpair, driven by a private event loop: every error
 * code, notifications, ids, batches, pipelining and the oversize-line rule.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "conn.h"
#include "daemon.h"

struct fixture {
        struct netd_daemon *d;
        struct netd_conn *c;
        int peer; /* the test's end of the socketpair */
        char buf[1 << 16];
        size_t len;
};

static int setup_with(void **state, size_t max_line)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct netd_limits l;
        int fds[2];

        assert_non_null(f);
        netd_limits_init(&l);
        if (max_line)
                l.frame_max_bytes = max_line;
        assert_int_equal(netd_daemon_new(&l, &f->d), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
                         0);
        assert_int_equal(netd_conn_new(f->d, fds[0], &f->c), 0);
        f->peer = fds[1];
        *state = f;
        return 0;
}

static int setup(void **state)
{
        return setup_with(state, 0);
}

static int setup_small(void **state)
{
        return setup_with(state, 64);
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        close(f->peer);
        netd_daemon_free(f->d);
        free(f);
        return 0;
}

static void send_text(struct fixture *f, const char *text)
{
        size_t len = strlen(text), off = 0;

        while (off < len) {
                ssize_t n = write(f->peer, text + off, len - off);

                if (n < 0 && errno == EAGAIN) {
                        (void)event_base_loop(f->d->base, EVLOOP_NONBLOCK);
                        continue;
                }
                assert_true(n > 0);
                off += (size_t)n;
        }
}

/*
 * Runs the daemon's loop until a whole line arrives, and returns it parsed
 * (NULL at EOF). Bounded: fails the test after about 2 s of silence.
 */
static json_t *recv_msg(struct fixture *f)
{
        for (int i = 0; i < 200; i++) {
                char *nl = memchr(f->buf, '\n', f->len);
                struct pollfd p = { .fd = f->peer, .events = POLLIN };
                ssize_t n;

                if (nl) {
                        json_error_t jerr;
                        size_t linelen = (size_t)(nl - f->buf);
                        json_t *m = json_loadb(f->buf, linelen, JSON_ALLOW_NUL, &jerr);

                        if (!m)
                                fail_msg("netd sent invalid JSON: %.*s", (int)linelen, f->buf);
                        memmove(f->buf, nl + 1, f->len - linelen - 1);
                        f->len -= linelen + 1;
                        return m;
                }
                (void)event_base_loop(f->d->base, EVLOOP_NONBLOCK);
                if (poll(&p, 1, 10) == 1) {
                        n = read(f->peer, f->buf + f->len, sizeof(f->buf) - f->len);
                        if (n == 0)
                                return NULL;
                        if (n > 0)
                                f->len += (size_t)n;
                }
        }
        fail_msg("no reply from netd");
        return NULL;
}

/* Sends line (a "\n" is added) and checks the reply's error code and id (JSON text). */
static void expect_error(struct fixture *f, const char *line, int code, const char *id_json)
{
        json_t *m, *id;
        char *id_text;

        send_text(f, line);
        send_text(f, "\n");
        m = recv_msg(f);
        assert_non_null(m);
        assert_string_equal(json_string_value(json_object_get(m, "jsonrpc")), "2.0");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
                         code);
        assert_non_null(json_string_value(json_object_get(json_object_get(m, "error"), "message")));
        assert_null(json_object_get(m, "result"));
        id = json_object_get(m, "id");
        assert_non_null(id);
        id_text = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
        assert_string_equal(id_text, id_json);
        free(id_text);
        json_decref(m);
}

static json_t *call(struct fixture *f, const char *line)
{
        send_text(f, line);
        send_text(f, "\n");
        return recv_msg(f);
}

static void test_parse_error(void **state)
{
        struct fixture *f = *state;
        json_t *m;

        expect_error(f, "{bad", -32700, "null");
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"netd.sync\",\"id\":2}", -32700,
                     "null");
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":1e999,\"method\":\"netd.sync\"}", -32700,
                     "null");
        expect_error(f, "\"\\ud800\"", -32700, "null");
        /* The connection stays usable. */
        m = call(f, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"netd.sync\"}");
        assert_true(json_is_true(json_object_get(m, "result")));
        assert_int_equal(json_integer_value(json_object_get(m, "id")), 7);
        json_decref(m);
}

static void test_invalid_request(void **state)
{
        struct fixture *f = *state;

        expect_error(f, "1", -32600, "null");
        expect_error(f, "\"x\"", -32600, "null");
        expect_error(f, "null", -32600, "null");
        expect_error(f, "{\"id\":1,\"method\":\"netd.sync\"}", -32600, "1");
        expect_error(f, "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"netd.sync\"}", -32600, "1");
        expect_error(f, "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"netd.sync\"}", -32600, "1");
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", -32600, "1");
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":1}", -32600, "1");
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"netd.sync\"}", -32600, "null");
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"netd.sync\"}", -32600,
                     "null");
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"netd.sync\",\"x\":1}", -32600,
                     "1");
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"netd.sync\",\"params\":5}",
                     -32600, "1");
        /* Envelope errors are answered even without an id: they are not notifications. */
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"method\":5}", -32600, "null");
}

static void test_method_not_found(void **state)
{
        struct fixture *f = *state;
        json_t *m;

        m = call(f, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"no.such\"}");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
                         -32601);
        assert_string_equal(
                json_string_value(json_object_get(
                        json_object_get(json_object_get(m, "error"), "data"), "method")),
                "no.such");
        json_decref(m);
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"netd.sync\\u0000x\"}", -32601,
                     "2");
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"\"}", -32601, "2");
}

static void test_invalid_params(void **state)
{
        struct fixture *f = *state;
        json_t *m, *data;

        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"net.isIP\",\"params\":[\"x\"]}",
                     -32602, "1");
        m = call(f, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"net.isIP\",\"params\":"
                    "{\"input\":\"1.2.3.4\",\"inptu\":1}}");
        data = json_object_get(json_object_get(m, "error"), "data");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
                         -32602);
        assert_string_equal(json_string_value(json_object_get(data, "field")), "inptu");
        assert_string_equal(json_string_value(json_object_get(data, "code")),
                            "ERR_INVALID_ARG_VALUE");
        json_decref(m);
        m = call(f,
                 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"net.isIP\",\"params\":{\"input\":4}}");
        data = json_object_get(json_object_get(m, "error"), "data");
        assert_string_equal(json_string_value(json_object_get(data, "field")), "input");
        assert_string_equal(json_string_value(json_object_get(data, "code")),
                            "ERR_INVALID_ARG_TYPE");
        json_decref(m);
        expect_error(f, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"net.isIP\"}", -32602, "4");
}

static void test_ids_echoed(void **state)
{
        struct fixture *f = *state;
        static const char *const ids[] = { "\"abc\"",         "0", "-5", "1.5", "null", "\"\"",
                                           "9007199254740993" };

        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                char line[256];
                json_t *m;
                char *text;

                (void)snprintf(line, sizeof(line),
                               "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"netd.sync\"}", ids[i]);
                m = call(f, line);
                text = json_dumps(json_object_get(m, "id"), JSON_ENCODE_ANY | JSON_COMPACT);
                assert_string_equal(text, ids[i]);
                assert_true(json_is_true(json_object_get(m, "result")));
                free(text);
                json_decref(m);
        }
}

static void test_notifications_never_answered(void **state)
{
        struct fixture *f = *state;
        json_t *m;

        send_text(f, "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\"}\n"
                     "{\"jsonrpc\":\"2.0\",\"method\":\"net.isIP\",\"params\":{\"bad\":1}}\n"
                     "{\"jsonrpc\":\"2.0\",\"method\":\"netd.sync\"}\n");
        m = call(f, "{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"netd.sync\"}");
        assert_int_equal(json_integer_value(json_object_get(m, "id")), 99);
        json_decref(m);
}

static void test_batches(void **state)
{
        struct fixture *f = *state;
        json_t *m;
        char *big;
        size_t off;

        expect_error(f, "[]", -32600, "null");
        m = call(f, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"net.isIP\",\"params\":"
                    "{\"input\":\"::1\"}},{\"jsonrpc\":\"2.0\",\"method\":\"netd.sync\"},1,"
                    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}]");
        assert_true(json_is_array(m));
        assert_int_equal(json_array_size(m), 3);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(m, 0), "result")), 6);
        assert_int_equal(json_integer_value(json_object_get(
                                 json_object_get(json_array_get(m, 1), "error"), "code")),
                         -32600);
        assert_int_equal(json_integer_value(json_object_get(
                                 json_object_get(json_array_get(m, 2), "error"), "code")),
                         -32601);
        json_decref(m);

        /* All notifications: nothing at all; the next reply is the next request's. */
        send_text(f, "[{\"jsonrpc\":\"2.0\",\"method\":\"netd.sync\"},"
                     "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}]\n");
        m = call(f, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"netd.sync\"}");
        assert_int_equal(json_integer_value(json_object_get(m, "id")), 5);
        json_decref(m);

        /* Over the batch limit (64): one error for the whole batch. */
        big = malloc(65 * 64 + 8);
        assert_non_null(big);
        off = 0;
        big[off++] = '[';
        for (int i = 0; i < 65; i++)
                off += (size_t)sprintf(big + off,
                                       "%s{\"jsonrpc\":\"2.0\",\"method\":\"netd.sync\"}",
                                       i ? "," : "");
        big[off++] = ']';
        big[off] = '\0';
        expect_error(f, big, -32600, "null");
        free(big);
}

static void test_pipelining(void **state)
{
        struct fixture *f = *state;
        char line[128];
        int seen[100] = { 0 };

        /* More than reqs_per_event in one write: fairness must not lose any. */
        for (int i = 0; i < 100; i++) {
                (void)snprintf(line, sizeof(line),
                               "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"netd.sync\"}\r\n\n", i);
                send_text(f, line);
        }
        for (int i = 0; i < 100; i++) {
                json_t *m = recv_msg(f);
                json_int_t id;

                assert_non_null(m);
                id = json_integer_value(json_object_get(m, "id"));
                assert_true(id >= 0 && id < 100);
                seen[id]++;
                json_decref(m);
        }
        for (int i = 0; i < 100; i++)
                assert_int_equal(seen[i], 1);
        /* 100 lines in one write, 16 a turn: the connection yielded to others in between. */
        assert_true(f->d->stats.yields >= 100 / f->d->limits.reqs_per_event - 1);
}

static void test_oversize_line(void **state)
{
        struct fixture *f = *state;
        char line[200];
        json_t *m;

        /* 64 bytes is the limit here: exactly 64 passes the framer. */
        memset(line, ' ', sizeof(line));
        memcpy(line, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"netd.sync\"}", 45);
        line[64] = '\0';
        m = call(f, line);
        assert_true(json_is_true(json_object_get(m, "result")));
        json_decref(m);

        memset(line, 'x', 100);
        line[100] = '\0';
        send_text(f, line);
        m = recv_msg(f);
        assert_non_null(m);
        assert_true(json_is_null(json_object_get(m, "id")));
        assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "error"), "code")),
                         -32600);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_object_get(m, "error"), "data"), "code")),
                            "ERR_NETD_LIMIT");
        json_decref(m);
        assert_null(recv_msg(f)); /* then EOF */
        assert_int_equal(f->d->stats.oversize_lines, 1);
        assert_int_equal(f->d->n_conns, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_parse_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalid_request, setup, teardown),
                cmocka_unit_test_setup_teardown(test_method_not_found, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalid_params, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ids_echoed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_notifications_never_answered, setup, teardown),
                cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pipelining, setup, teardown),
                cmocka_unit_test_setup_teardown(test_oversize_line, setup_small, teardown),
        };

        return cmocka_run_group_tests_name("rpc", tests, NULL, NULL);
}
