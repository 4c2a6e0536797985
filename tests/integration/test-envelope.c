/*
 * Integration: the JSON-RPC 2.0 envelope and the framing, over raw UNIX
 * sockets (no client library, so malformed input can be sent): exact
 * error replies, notifications that never get one, batches, pipelining,
 * "\r\n" and blank lines, and the line-length limit (netd runs with
 * --max-line-bytes=4096 here), after which netd closes that connection
 * and still serves others.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netd-test.h"

#define LINE_MAX_ARG "--max-line-bytes=4096"

static json_int_t error_code(json_t *msg)
{
        json_t *code = json_object_get(json_object_get(msg, "error"), "code");

        if (!json_is_integer(code)) {
                char *text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);

                fail_msg("not an error reply: %s", text);
        }
        return json_integer_value(code);
}

/* Sends line (with "\n") and asserts the reply is an error with code and id (JSON text). */
static json_t *expect_error(struct netd_test_raw *r, const char *line, int code, const char *id)
{
        json_t *reply, *want_id = json_loads(id, JSON_DECODE_ANY, NULL);
        char *text;

        assert_non_null(want_id);
        netd_test_raw_send_str(r, line);
        netd_test_raw_send_str(r, "\n");
        reply = netd_test_raw_recv(r);
        text = json_dumps(reply, JSON_COMPACT);
        if (error_code(reply) != code || !json_equal(json_object_get(reply, "id"), want_id) ||
            strcmp(json_string_value(json_object_get(reply, "jsonrpc")), "2.0") != 0 ||
            json_object_size(reply) != 3 ||
            !json_is_string(json_object_get(json_object_get(reply, "error"), "message")))
                fail_msg("for %s\n  got      %s\n  expected an error %d with id %s", line, text,
                         code, id);
        free(text);
        json_decref(want_id);
        return reply;
}

/* Asserts that the daemon still answers: a netd.sync with id "alive" is the next reply. */
static void expect_alive(struct netd_test_raw *r)
{
        json_t *reply;

        netd_test_raw_send_str(r,
                               "{\"jsonrpc\":\"2.0\",\"id\":\"alive\",\"method\":\"netd.sync\"}\n");
        reply = netd_test_raw_recv(r);
        netd_test_assert_json(reply, "{\"jsonrpc\":\"2.0\",\"id\":\"alive\",\"result\":true}");
        json_decref(reply);
}

static void test_parse_error(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        json_t *reply;

        netd_test_raw_open(t, &r);
        reply = expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":", -32700, "null");
        json_decref(reply);
        expect_alive(&r);
        reply = expect_error(&r, "not json at all", -32700, "null");
        json_decref(reply);
        /* Duplicate member names and lone surrogate escapes are parse errors (PROTOCOL.md §4). */
        reply = expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"netd.sync\"}",
                             -32700, "null");
        json_decref(reply);
        reply = expect_error(&r,
                             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"net.isIP\","
                             "\"params\":{\"input\":\"\\ud800\"}}",
                             -32700, "null");
        json_decref(reply);
        /* Invalid UTF-8 is a parse error too, not a crash. */
        netd_test_raw_send_str(&r, "{\"a\":\"\xff\xfe\"}\n");
        reply = netd_test_raw_recv(&r);
        assert_int_equal(error_code(reply), -32700);
        assert_true(json_is_null(json_object_get(reply, "id")));
        json_decref(reply);
        expect_alive(&r);
        netd_test_raw_close(&r);
}

static void test_invalid_request(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        json_t *reply;

        netd_test_raw_open(t, &r);
        /* A usable id is echoed; otherwise the id is null. */
        reply = expect_error(&r, "{\"id\":1,\"method\":\"netd.sync\"}", -32600, "1");
        json_decref(reply);
        reply = expect_error(&r, "{\"jsonrpc\":\"1.0\",\"id\":2,\"method\":\"netd.sync\"}", -32600,
                             "2");
        json_decref(reply);
        reply = expect_error(&r, "{\"jsonrpc\":2.0,\"id\":3,\"method\":\"netd.sync\"}", -32600,
                             "3");
        json_decref(reply);
        reply = expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":5}", -32600, "4");
        json_decref(reply);
        reply = expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":5}", -32600, "5");
        json_decref(reply);
        reply = expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"netd.sync\"}",
                             -32600, "null");
        json_decref(reply);
        reply = expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":[6],\"method\":\"netd.sync\"}",
                             -32600, "null");
        json_decref(reply);
        reply = expect_error(&r,
                             "{\"jsonrpc\":\"2.0\",\"id\":\"s7\",\"method\":\"netd.sync\","
                             "\"extra\":1}",
                             -32600, "\"s7\"");
        json_decref(reply);
        reply = expect_error(&r,
                             "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"netd.sync\","
                             "\"params\":\"x\"}",
                             -32600, "8");
        json_decref(reply);
        /* Not an object at all. */
        reply = expect_error(&r, "42", -32600, "null");
        json_decref(reply);
        reply = expect_error(&r, "\"netd.sync\"", -32600, "null");
        json_decref(reply);
        /* An id of null is echoed as null, and that is still a request that gets a reply. */
        netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"netd.sync\"}\n");
        reply = netd_test_raw_recv(&r);
        netd_test_assert_json(reply, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":true}");
        json_decref(reply);
        expect_alive(&r);
        netd_test_raw_close(&r);
}

/* The id comes back as sent: any JSON number or string (NUL included), or null. */
static void test_id_echo(struct netd_test_daemon *t)
{
        static const char *const ids[] = {
                "1.5",
                "-7",
                "0",
                "9223372036854775807",
                "\"\"",
                "\"\u00fcn\u00ef\\u0000x\"",
                /* integers written by netd's own formatter, both readers, both extremes */
                "-9223372036854775808",
                "123456789012345678",
                "-123456789012345678",
                "-1",
                "10",
        };
        struct netd_test_raw r;
        json_t *reply;

        netd_test_raw_open(t, &r);
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                char line[256], want[256];

                snprintf(line, sizeof(line),
                         "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"netd.sync\"}\n", ids[i]);
                snprintf(want, sizeof(want), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":true}",
                         ids[i]);
                netd_test_raw_send_str(&r, line);
                reply = netd_test_raw_recv(&r);
                netd_test_assert_json(reply, want);
                json_decref(reply);
        }
        /* Booleans are not ids. */
        reply = expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"netd.sync\"}",
                             -32600, "null");
        json_decref(reply);
        netd_test_raw_close(&r);
}

static void test_method_not_found(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        json_t *reply;

        netd_test_raw_open(t, &r);
        reply = expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no.such\"}", -32601,
                             "1");
        netd_test_assert_json(json_object_get(json_object_get(reply, "error"), "data"),
                              "{\"method\":\"no.such\"}");
        json_decref(reply);
        /* Names are exact: case matters. */
        reply = expect_error(&r, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"NETD.SYNC\"}", -32601,
                             "2");
        netd_test_assert_str(reply, "error.data.method", "NETD.SYNC");
        json_decref(reply);
        expect_alive(&r);
        netd_test_raw_close(&r);
}

/* Positional params: PROTOCOL.md §5.2 gives data {"code":"ERR_INVALID_ARG_TYPE","field":"params"}.
 */
static void test_params_array(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        json_t *reply;

        netd_test_raw_open(t, &r);
        reply = expect_error(&r,
                             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"net.isIP\","
                             "\"params\":[\"1.2.3.4\"]}",
                             -32602, "1");
        netd_test_assert_json(json_object_get(json_object_get(reply, "error"), "data"),
                              "{\"code\":\"ERR_INVALID_ARG_TYPE\",\"field\":\"params\"}");
        json_decref(reply);
        expect_alive(&r);
        netd_test_raw_close(&r);
}

static void test_invalid_params(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        json_t *reply;

        netd_test_raw_open(t, &r);
        reply = expect_error(&r,
                             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"net.isIP\","
                             "\"params\":{\"input\":\"1.2.3.4\",\"bogus\":1}}",
                             -32602, "2");
        netd_test_assert_str(reply, "error.data.field", "bogus");
        netd_test_assert_str(reply, "error.data.code", "ERR_INVALID_ARG_VALUE");
        json_decref(reply);
        reply = expect_error(&r,
                             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"net.isIP\","
                             "\"params\":{\"input\":5}}",
                             -32602, "3");
        netd_test_assert_str(reply, "error.data.field", "input");
        netd_test_assert_str(reply, "error.data.code", "ERR_INVALID_ARG_TYPE");
        json_decref(reply);
        /* A required parameter left out, or null, names it. */
        reply = expect_error(&r,
                             "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"net.isIP\","
                             "\"params\":{}}",
                             -32602, "4");
        netd_test_assert_str(reply, "error.data.field", "input");
        netd_test_assert_str(reply, "error.data.code", "ERR_MISSING_ARGS");
        json_decref(reply);
        reply = expect_error(&r,
                             "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"net.isIP\","
                             "\"params\":{\"input\":null}}",
                             -32602, "6");
        netd_test_assert_str(reply, "error.data.field", "input");
        netd_test_assert_str(reply, "error.data.code", "ERR_MISSING_ARGS");
        json_decref(reply);
        reply = expect_error(&r,
                             "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"server.address\","
                             "\"params\":{\"server\":0}}",
                             -32602, "7");
        netd_test_assert_str(reply, "error.data.field", "server");
        netd_test_assert_str(reply, "error.data.code", "ERR_OUT_OF_RANGE");
        json_decref(reply);
        reply = expect_error(&r,
                             "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"netd.info\","
                             "\"params\":{\"verbose\":true}}",
                             -32602, "8");
        netd_test_assert_str(reply, "error.data.field", "params");
        json_decref(reply);
        reply = expect_error(&r,
                             "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"server.listen\","
                             "\"params\":{\"server\":\"1\"}}",
                             -32602, "5");
        netd_test_assert_str(reply, "error.data.field", "server");
        netd_test_assert_str(reply, "error.data.code", "ERR_INVALID_ARG_TYPE");
        json_decref(reply);
        expect_alive(&r);
        netd_test_raw_close(&r);
}

static void test_notifications_get_no_reply(struct netd_test_daemon *t)
{
        struct netd_test_raw r;

        netd_test_raw_open(t, &r);
        netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",\"method\":\"netd.sync\"}\n"
                                   "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\"}\n"
                                   "{\"jsonrpc\":\"2.0\",\"method\":\"net.isIP\",\"params\":[1]}\n"
                                   "{\"jsonrpc\":\"2.0\",\"method\":\"net.isIP\","
                                   "\"params\":{\"input\":5}}\n"
                                   "{\"jsonrpc\":\"2.0\",\"method\":\"server.close\","
                                   "\"params\":{\"server\":12345}}\n"
                                   "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\","
                                   "\"params\":{\"socket\":12345,\"data\":\"x\"}}\n");
        expect_alive(&r);
        netd_test_raw_close(&r);
}

/* Finds the reply with this id in a batch reply (array); NULL if absent. */
static json_t *batch_find(json_t *replies, json_t *id)
{
        size_t i;
        json_t *m;

        json_array_foreach(replies, i, m)
                if (json_equal(json_object_get(m, "id"), id))
                        return m;
        return NULL;
}

static void test_batches(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        json_t *reply, *m, *id;

        netd_test_raw_open(t, &r);
        /* An empty batch is one error, not an empty array. */
        reply = expect_error(&r, "[]", -32600, "null");
        json_decref(reply);

        /* Mixed: results, an error, a notification (no entry) and a non-object. */
        netd_test_raw_send_str(&r, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"net.isIP\","
                                   "\"params\":{\"input\":\"::1\"}},"
                                   "{\"jsonrpc\":\"2.0\",\"method\":\"netd.sync\"},"
                                   "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"method\":\"no.such\"},"
                                   "5]\n");
        reply = netd_test_raw_recv(&r);
        assert_true(json_is_array(reply));
        assert_int_equal(json_array_size(reply), 3);
        id = json_integer(1);
        m = batch_find(reply, id);
        json_decref(id);
        netd_test_assert_json(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":6}");
        id = json_string("two");
        m = batch_find(reply, id);
        json_decref(id);
        assert_non_null(m);
        assert_int_equal(error_code(m), -32601);
        id = json_null();
        m = batch_find(reply, id);
        json_decref(id);
        assert_non_null(m);
        assert_int_equal(error_code(m), -32600);
        json_decref(reply);

        /* Only notifications: nothing at all comes back. */
        netd_test_raw_send_str(&r, "[{\"jsonrpc\":\"2.0\",\"method\":\"netd.sync\"},"
                                   "{\"jsonrpc\":\"2.0\",\"method\":\"net.isIP\","
                                   "\"params\":{\"input\":\"x\"}},"
                                   "{\"jsonrpc\":\"2.0\",\"method\":\"no.such\"}]\n");
        expect_alive(&r);

        /* Over batch_max (64) entries: one error, and no entry runs (no server is created). */
        {
                size_t cap = 65 * 64 + 8, len = 0;
                char *line = malloc(cap);

                assert_non_null(line);
                line[len++] = '[';
                for (int i = 0; i < 65; i++)
                        len += (size_t)snprintf(line + len, cap - len,
                                                "%s{\"jsonrpc\":\"2.0\",\"id\":%d,"
                                                "\"method\":\"net.createServer\"}",
                                                i ? "," : "", i);
                snprintf(line + len, cap - len, "]");
                reply = expect_error(&r, line, -32600, "null");
                json_decref(reply);
                free(line);
                netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",\"id\":\"info\","
                                           "\"method\":\"netd.info\"}\n");
                reply = netd_test_raw_recv(&r);
                netd_test_assert_json(json_object_get(json_object_get(reply, "result"), "handles"),
                                      "{\"servers\":0,\"sockets\":0}");
                json_decref(reply);
        }

        /* A batch of one is still a batch: the reply is an array. */
        netd_test_raw_send_str(&r, "[{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"netd.sync\"}]\n");
        reply = netd_test_raw_recv(&r);
        netd_test_assert_json(reply, "[{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":true}]");
        json_decref(reply);
        netd_test_raw_close(&r);
}

/* Builds n requests net.isIP with ids base..base+n-1 in one buffer. */
static char *pipeline(int n, int base, size_t *ret_len)
{
        size_t cap = (size_t)n * 128, len = 0;
        char *buf = malloc(cap);

        assert_non_null(buf);
        for (int i = 0; i < n; i++)
                len += (size_t)snprintf(buf + len, cap - len,
                                        "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"net.isIP\","
                                        "\"params\":{\"input\":\"%s\"}}\n",
                                        base + i,
                                        i % 3 == 0   ? "10.0.0.1"
                                        : i % 3 == 1 ? "::1"
                                                     : "x");
        *ret_len = len;
        return buf;
}

/* Reads n replies to pipeline(n, base) and checks each id comes exactly once, correctly answered.
 */
static void expect_pipeline_replies(struct netd_test_raw *r, int n, int base)
{
        bool *seen = calloc((size_t)n, sizeof(*seen));

        assert_non_null(seen);
        for (int k = 0; k < n; k++) {
                json_t *reply = netd_test_raw_recv(r);
                json_int_t id = json_integer_value(json_object_get(reply, "id"));
                int i = (int)(id - base);

                if (i < 0 || i >= n || seen[i])
                        fail_msg("reply %d has an unexpected or repeated id %lld", k,
                                 (long long)id);
                seen[i] = true;
                assert_int_equal(json_integer_value(json_object_get(reply, "result")),
                                 i % 3 == 0   ? 4
                                 : i % 3 == 1 ? 6
                                              : 0);
                json_decref(reply);
        }
        free(seen);
}

static void test_pipelining(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        size_t len;
        char *buf = pipeline(100, 1000, &len);

        netd_test_raw_open(t, &r);
        netd_test_raw_send(&r, buf, len);
        expect_pipeline_replies(&r, 100, 1000);
        expect_alive(&r);
        netd_test_raw_close(&r);
        free(buf);
}

/*
 * The client sends 1000 requests (more than one read of netd's) and shuts
 * down its side at once: netd answers all of them before closing ("answer
 * what it sent, then close").
 */
static void test_pipelining_then_eof(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        size_t len;
        char *buf = pipeline(1000, 5000, &len);

        netd_test_raw_open(t, &r);
        netd_test_raw_send(&r, buf, len);
        assert_int_equal(shutdown(r.fd, SHUT_WR), 0);
        expect_pipeline_replies(&r, 1000, 5000);
        netd_test_raw_expect_eof(&r);
        netd_test_raw_close(&r);
        free(buf);
}

/* On EOF an unterminated last fragment is discarded (PROTOCOL.md §4): no reply for it. */
static void test_eof_discards_fragment(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        json_t *reply;

        netd_test_raw_open(t, &r);
        netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"netd.sync\"}\n"
                                   "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"netd.sync\"}");
        assert_int_equal(shutdown(r.fd, SHUT_WR), 0);
        reply = netd_test_raw_recv(&r);
        netd_test_assert_json(reply, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true}");
        json_decref(reply);
        netd_test_raw_expect_eof(&r);
        netd_test_raw_close(&r);
}

static void test_crlf_and_blank_lines(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        json_t *reply;

        netd_test_raw_open(t, &r);
        netd_test_raw_send_str(&r, "\n\r\n\n{\"jsonrpc\":\"2.0\",\"id\":\"crlf\",\"method\":"
                                   "\"netd.sync\"}\r\n\r\n\n");
        reply = netd_test_raw_recv(&r);
        netd_test_assert_json(reply, "{\"jsonrpc\":\"2.0\",\"id\":\"crlf\",\"result\":true}");
        json_decref(reply);
        /* A line split over several writes is one line. */
        netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",");
        netd_test_raw_send_str(&r, "\"id\":\"split\",\"method\":\"netd.sy");
        netd_test_raw_send_str(&r, "nc\"}\r");
        netd_test_raw_send_str(&r, "\n");
        reply = netd_test_raw_recv(&r);
        netd_test_assert_json(reply, "{\"jsonrpc\":\"2.0\",\"id\":\"split\",\"result\":true}");
        json_decref(reply);
        expect_alive(&r);
        netd_test_raw_close(&r);
}

/* Lines holding only whitespace are blank lines too (PROTOCOL.md §4): ignored, no reply. */
static void test_whitespace_lines(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        json_t *reply;

        netd_test_raw_open(t, &r);
        netd_test_raw_send_str(&r, "   \n\t \r\n \t \t\n{\"jsonrpc\":\"2.0\",\"id\":\"ws\","
                                   "\"method\":\"netd.sync\"}\n");
        reply = netd_test_raw_recv(&r);
        netd_test_assert_json(reply, "{\"jsonrpc\":\"2.0\",\"id\":\"ws\",\"result\":true}");
        json_decref(reply);
        netd_test_raw_close(&r);
}

static void expect_limit_error(struct netd_test_raw *r)
{
        json_t *reply = netd_test_raw_recv(r);

        netd_test_assert_json(reply, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
                                     "\"message\":\"Invalid Request: line longer than 4096 bytes\","
                                     "\"data\":{\"code\":\"ERR_NETD_LIMIT\","
                                     "\"limit\":\"frame_max_bytes\",\"max\":4096}}}");
        json_decref(reply);
        netd_test_raw_expect_eof(r);
}

static void test_oversize_line(struct netd_test_daemon *t)
{
        struct netd_test_raw r, r2;
        char *big = malloc(5000);
        json_t *reply;

        assert_non_null(big);
        memset(big, 'x', 5000);

        /* 5000 bytes and no newline yet: one error with id null, then EOF. */
        netd_test_raw_open(t, &r);
        netd_test_raw_send(&r, big, 5000);
        expect_limit_error(&r);
        netd_test_raw_close(&r);

        /* The same after valid requests on the same connection, with a newline at the end. */
        netd_test_raw_open(t, &r);
        expect_alive(&r);
        big[4999] = '\n';
        netd_test_raw_send(&r, big, 5000);
        expect_limit_error(&r);
        netd_test_raw_close(&r);

        /* A line of exactly the limit is fine (a JSON string padded to 4096 bytes). */
        netd_test_raw_open(t, &r);
        {
                static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":\"max\",\"method\":"
                                           "\"net.isIP\",\"params\":{\"input\":\"";
                size_t pad = 4096 - (sizeof(head) - 1) - 3;

                memcpy(big, head, sizeof(head) - 1);
                memset(big + sizeof(head) - 1, 'a', pad);
                memcpy(big + sizeof(head) - 1 + pad, "\"}}\n", 4);
                netd_test_raw_send(&r, big, 4097);
        }
        reply = netd_test_raw_recv(&r);
        netd_test_assert_json(reply, "{\"jsonrpc\":\"2.0\",\"id\":\"max\",\"result\":0}");
        json_decref(reply);
        netd_test_raw_close(&r);

        /* netd still serves new connections, and the library client too. */
        netd_test_raw_open(t, &r2);
        expect_alive(&r2);
        netd_test_raw_close(&r2);
        {
                struct netd_test_client *c = netd_test_connect(t);
                json_t *info = netd_test_call(c, "netd.info", NULL);

                assert_int_equal(json_integer_value(json_object_get(json_object_get(info, "limits"),
                                                                    "frameMaxBytes")),
                                 4096);
                json_decref(info);
        }
        free(big);
}

/*
 * One reader for every shape (PROTOCOL.md §4): the same socket.write as a
 * compact line, pretty-printed, reordered and with every character escaped
 * gets the same reply; ids with escapes, UTF-8 and fractions echo; a
 * broken line is one -32700. netd.info no longer counts lines by reader.
 */
static void test_request_shapes(struct netd_test_daemon *t)
{
        static const char *const writes[] = {
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"socket.write\",\"params\":"
                "{\"socket\":999999,\"data\":\"aGk=\",\"encoding\":\"base64\"}}\n",
                "{ \"jsonrpc\" : \"2.0\" ,\t\r\"id\" : 1 , \"method\" : \"socket.write\" , "
                "\"params\" : { \"socket\" : 999999 , \"data\" : \"aGk=\" , \"encoding\" : "
                "\"base64\" } }\n",
                "{\"params\":{\"encoding\":\"base64\",\"data\":\"aGk=\",\"socket\":999999},"
                "\"method\":\"socket.write\",\"id\":1,\"jsonrpc\":\"2.0\"}\n",
                "{\"jsonrpc\":\"\\u0032.0\",\"id\":1,\"method\":\"socket\\u002ewrite\",\"params\":"
                "{\"socket\":999999,\"data\":\"aG\\u0073=\",\"enc\\u006fding\":\"base64\"}}\n",
        };
        struct netd_test_raw r;
        json_t *reply, *info;

        netd_test_raw_open(t, &r);
        for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
                netd_test_raw_send_str(&r, writes[i]);
                reply = netd_test_raw_recv(&r);
                netd_test_assert_json(reply,
                                      "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32001,"
                                      "\"message\":\"No socket with id 999999\",\"data\":{\"code\":"
                                      "\"ERR_NETD_HANDLE_NOT_FOUND\"}}}");
                json_decref(reply);
        }
        netd_test_raw_send_str(&r, "{ \"jsonrpc\": \"2.0\", \"id\": \"caf\xc3\xa9\\n\", "
                                   "\"method\": \"netd.sync\" }\n");
        reply = netd_test_raw_recv(&r);
        netd_test_assert_json(reply,
                              "{\"jsonrpc\":\"2.0\",\"id\":\"caf\xc3\xa9\\n\",\"result\":true}");
        json_decref(reply);
        netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",\"id\":2.5,\"method\":\"netd.sync\"}\n");
        reply = netd_test_raw_recv(&r);
        netd_test_assert_json(reply, "{\"jsonrpc\":\"2.0\",\"id\":2.5,\"result\":true}");
        json_decref(reply);
        netd_test_raw_send_str(&r, "{\"jsonrpc\":\n");
        reply = netd_test_raw_recv(&r);
        assert_int_equal(netd_test_int_at(reply, "error.code"), -32700);
        assert_true(json_is_null(json_object_get(reply, "id")));
        json_decref(reply);
        netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",\"id\":\"i\",\"method\":\"netd.info\"}\n");
        info = netd_test_raw_recv(&r);
        assert_null(netd_test_get(info, "result.stats.linesFastWrite"));
        assert_null(netd_test_get(info, "result.stats.linesGeneral"));
        json_decref(info);
        netd_test_raw_close(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST_ARGS(test_parse_error, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_invalid_request, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_id_echo, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_method_not_found, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_params_array, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_invalid_params, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_notifications_get_no_reply, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_batches, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_pipelining, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_pipelining_then_eof, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_eof_discards_fragment, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_crlf_and_blank_lines, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_whitespace_lines, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_oversize_line, LINE_MAX_ARG),
                NETD_TEST_ARGS(test_request_shapes, LINE_MAX_ARG),
        };

        return cmocka_run_group_tests_name("integration/envelope", tests, NULL, NULL);
}
