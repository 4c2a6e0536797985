/*
 * unit/out: the one writer (daemon/out.c). Every line is one compact JSON
 * message ending in "\n" that jansson reads back to what was meant: ids
 * of every kind, results short and long (past the stack buffer), events,
 * socket.data in base64 and as escaped text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
        json_t *ids[] = { json_integer(INT64_MIN), json_integer(INT64_MAX), json_integer(0),
                          json_string("caf\xc3\xa9\n\"x\""), json_real(2.5), json_null() };

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
        assert_int_equal(json_integer_value(json_object_get(json_object_get(line, "params"),
                                                            "socket")),
                         12345);
        data = json_string_value(json_object_get(json_object_get(line, "params"), "data"));
        n = netd_decode(NETD_ENC_BASE64, data, strlen(data), back);
        assert_int_equal(n, sizeof(bytes));
        assert_memory_equal(back, bytes, sizeof(bytes));
        json_decref(line);
        assert_int_equal(netd_out_data(b, 1, NULL, 0, text, sizeof(text) - 1, "utf8"), 0);
        line = take_line(b);
        assert_string_equal(json_string_value(json_object_get(json_object_get(line, "params"),
                                                              "data")),
                            text);
        assert_string_equal(json_string_value(json_object_get(json_object_get(line, "params"),
                                                              "encoding")),
                            "utf8");
        json_decref(line);
        free(back);
        evbuffer_free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reply_ids),
                cmocka_unit_test(test_long_result_and_event),
                cmocka_unit_test(test_data),
        };

        return cmocka_run_group_tests_name("out", tests, NULL, NULL);
}
