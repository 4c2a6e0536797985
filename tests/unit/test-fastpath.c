/*
 * unit/fastpath: the socket.write fast path against jansson. Whatever line
 * the fast path accepts, the general parser must accept too and extract the
 * same id, socket, data and encoding; and the common shapes must take the
 * fast path. A deterministic mutation fuzzer drives the comparison.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "encoding.h"
#include "fastpath.h"

static const char *const valid[] = {
        "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":9,\"data\":"
        "\"aGVsbG8=\",\"encoding\":\"base64\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"socket.write\",\"params\":{\"socket\":1,"
        "\"data\":\"hi there\"}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":123456789012,"
        "\"data\":\"\",\"encoding\":\"hex\"},\"id\":\"req-7\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":-4,\"method\":\"socket.write\",\"params\":{\"socket\":3,"
        "\"data\":\"00ff\",\"encoding\":\"HEX\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"socket.write\",\"params\":{\"socket\":3,"
        "\"data\":\"x\",\"encoding\":\"latin1\"}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":3,"
        "\"data\":\"~ !#$%&'()*+,-./:;<=>?@[]^_`{|}\",\"encoding\":\"utf-8\"},\"id\":\"\"}",
        /* Members in other orders, as other JSON encoders write them. */
        "{\"id\":5,\"params\":{\"encoding\":\"base64\",\"data\":\"QUJDREVGR0hJSktMTU5PUFFS\","
        "\"socket\":2},\"method\":\"socket.write\",\"jsonrpc\":\"2.0\"}",
        "{\"method\":\"socket.write\",\"jsonrpc\":\"2.0\",\"params\":{\"data\":"
        "\"0123456789abcdef0123456789abcdef\",\"socket\":77,\"encoding\":\"hex\"}}",
};

/* What the general path would see: 1 when the line is a socket.write request matching w. */
static int agrees_with_jansson(const char *line, size_t len, const struct netd_fast_write *w)
{
        json_error_t jerr;
        json_t *m = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                               &jerr);
        json_t *params, *v, *id;
        int ok = 0;

        if (!m || !json_is_object(m))
                goto out;
        if (json_object_size(m) != (w->has_id ? 4u : 3u))
                goto out;
        v = json_object_get(m, "jsonrpc");
        if (!json_is_string(v) || json_string_length(v) != 3 ||
            strcmp(json_string_value(v), "2.0") != 0)
                goto out;
        v = json_object_get(m, "method");
        if (!json_is_string(v) || strcmp(json_string_value(v), "socket.write") != 0 ||
            json_string_length(v) != strlen("socket.write"))
                goto out;
        id = json_object_get(m, "id");
        if (w->has_id != (id != NULL))
                goto out;
        if (id) {
                if (w->id_is_string) {
                        if (!json_is_string(id) || json_string_length(id) != w->id_len ||
                            memcmp(json_string_value(id), w->id_str, w->id_len) != 0)
                                goto out;
                } else if (!json_is_integer(id) || json_integer_value(id) != w->id_int) {
                        goto out;
                }
        }
        params = json_object_get(m, "params");
        if (!json_is_object(params))
                goto out;
        v = json_object_get(params, "socket");
        if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
            (uint64_t)json_integer_value(v) != w->socket)
                goto out;
        v = json_object_get(params, "data");
        if (!json_is_string(v) || json_string_length(v) != w->data_len ||
            memcmp(json_string_value(v), w->data, w->data_len) != 0)
                goto out;
        v = json_object_get(params, "encoding");
        if (v) {
                if (!json_is_string(v) ||
                    netd_encoding_from_string(json_string_value(v)) != w->encoding)
                        goto out;
        } else if (w->encoding != NETD_ENC_UTF8) {
                goto out;
        }
        if (json_object_size(params) != (v ? 3u : 2u))
                goto out;
        ok = 1;
out:
        json_decref(m);
        return ok;
}

/*
 * The fast path's verdict as the daemon applies it: recognized, and for the
 * binary encodings, data that decodes (fastpath.h).
 */
static int fast_accepts(const char *line, size_t len, struct netd_fast_write *w)
{
        uint8_t *buf;
        ssize_t n;

        if (!netd_fastpath_write(line, len, w))
                return 0;
        if (!w->data_unchecked)
                return 1;
        buf = malloc(netd_decode_max(w->encoding, w->data_len) + 1);
        assert_non_null(buf);
        n = netd_decode(w->encoding, w->data, w->data_len, buf);
        free(buf);
        return n >= 0;
}

static void test_valid_lines_take_fast_path(void **state)
{
        for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
                struct netd_fast_write w;

                assert_int_equal(fast_accepts(valid[i], strlen(valid[i]), &w), 1);
                assert_true(agrees_with_jansson(valid[i], strlen(valid[i]), &w));
        }
}

static void test_refused_shapes(void **state)
{
        static const char *const others[] = {
                /* escapes, spaces, unknown keys, bad numbers, duplicate ids: general path */
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":9,"
                "\"data\":\"a\\nb\"}}",
                "{\"jsonrpc\": \"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":9,"
                "\"data\":\"ab\"}}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":9,"
                "\"data\":\"ab\",\"x\":1}}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":09,"
                "\"data\":\"ab\"}}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":0,"
                "\"data\":\"ab\"}}",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"socket.write\",\"params\":{\"socket\":"
                "1,"
                "\"data\":\"ab\"},\"id\":2}",
                "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"socket.write\",\"params\":{"
                "\"socket\":"
                "1,\"data\":\"ab\"}}",
                "{\"jsonrpc\":\"2.0\",\"id\":-0,\"method\":\"socket.write\",\"params\":{\"socket\":"
                "1,\"data\":\"ab\"}}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":1,"
                "\"data\":\"ab\",\"encoding\":\"klingon\"}}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":1,"
                "\"data\":\"\xc3\xa9\"}}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":1,"
                "\"data\":\"ab\"}} ",
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":"
                "1234567890123456789,\"data\":\"ab\"}}",
                /* a member twice, or one missing */
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":1,"
                "\"data\":\"ab\",\"socket\":2}}",
                "{\"jsonrpc\":\"2.0\",\"jsonrpc\":\"2.0\",\"method\":\"socket.write\","
                "\"params\":{\"socket\":1,\"data\":\"ab\"}}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"data\":\"ab\"}}",
                "{\"method\":\"socket.write\",\"params\":{\"socket\":1,\"data\":\"ab\"}}",
                /* a payload with a control byte or DEL in the middle of a long run */
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":1,"
                "\"data\":\"abcdefghijklmnop\x01qrstuvwxyz0123456789\"}}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":1,"
                "\"data\":\"abcdefghijklmnop\x7fqrstuvwxyz0123456789\"}}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\",\"params\":{\"socket\":1,"
                "\"data\":\"abcdefghijklmnop\\\"qrstuvwxyz0123456789\"}}",
        };

        for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
                struct netd_fast_write w;

                assert_int_equal(fast_accepts(others[i], strlen(others[i]), &w), 0);
        }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

/* Mutates buf in place: replace, insert or delete bytes from a JSON-heavy alphabet. */
static size_t mutate(char *buf, size_t len, size_t cap)
{
        static const char alphabet[] = "{}[]\":,\\0123456789-.eE aZsocketdatiynrp\x01\x7f\xc3\xa9";
        int n = 1 + (int)(rng() % 3);

        for (int k = 0; k < n; k++) {
                size_t pos = len ? (size_t)(rng() % len) : 0;
                char ch = alphabet[rng() % (sizeof(alphabet) - 1)];

                switch (rng() % 3) {
                case 0:
                        if (len)
                                buf[pos] = ch;
                        break;
                case 1:
                        if (len + 1 < cap) {
                                memmove(buf + pos + 1, buf + pos, len - pos);
                                buf[pos] = ch;
                                len++;
                        }
                        break;
                default:
                        if (len) {
                                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                                len--;
                        }
                        break;
                }
        }
        return len;
}

static void test_mutations_agree(void **state)
{
        char buf[512];
        unsigned accepted = 0;

        for (int i = 0; i < 200000; i++) {
                const char *base = valid[rng() % (sizeof(valid) / sizeof(valid[0]))];
                size_t len = strlen(base);
                struct netd_fast_write w;

                memcpy(buf, base, len);
                len = mutate(buf, len, sizeof(buf));
                if (fast_accepts(buf, len, &w)) {
                        accepted++;
                        if (!agrees_with_jansson(buf, len, &w))
                                fail_msg("fast path accepted what jansson reads otherwise: %.*s",
                                         (int)len, buf);
                }
        }
        /* Mutations in the payload keep the shape: some must still be accepted. */
        assert_true(accepted > 1000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_lines_take_fast_path),
                cmocka_unit_test(test_refused_shapes),
                cmocka_unit_test(test_mutations_agree),
        };

        return cmocka_run_group_tests_name("fastpath", tests, NULL, NULL);
}
