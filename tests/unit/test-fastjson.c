/*
 * unit/fastjson: the small-request reader against jansson. Every line it
 * reads must come out as the tree json_loadb() builds (same values, same
 * types, members in the same order); everything outside its subset, and
 * every invalid line, must be declined so that jansson answers it. A
 * deterministic mutation fuzzer drives the comparison.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "fastjson.h"
#include "fastpath-oracle.h"

/* Lines the fast reader must read, and read as jansson does. */
static const char *const read_fast[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"net.isIP\",\"params\":{\"input\":\"127.0.0.1\"}"
        "}",
        "{\"jsonrpc\":\"2.0\",\"id\":\"a-7\",\"method\":\"net.connect\",\"params\":{\"port\":8080,"
        "\"host\":\"localhost\",\"allowHalfOpen\":true,\"keepAlive\":false,\"hints\":null}}",
        "{ \"jsonrpc\" : \"2.0\" ,\t\"id\" : -42 , \"method\" : \"server.listen\", \"params\" : "
        "{ \"server\" : 3 , \"port\" : 0 , \"host\" : \"::\" } }\r",
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"netd.info\"},{\"jsonrpc\":\"2.0\",\"method\":"
        "\"socket.end\",\"params\":{\"socket\":2}}]",
        "{\"a\":[],\"b\":{},\"c\":[1,[2,[3,{\"d\":[]}]]],\"\":\"\",\"e\":[true,false,null]}",
        "{\"z\":1,\"y\":2,\"x\":3,\"w\":4,\"v\":5,\"u\":6,\"t\":7,\"s\":8,\"r\":9,\"q\":10,\"p\":"
        "11}",
        "123456789012345678",
        "-123456789012345678",
        "0",
        "\"~ !#$%&'()*+,-./:;<=>?@[]^_`{|}\"",
        "  [ ]  ",
        "null",
        "{\"id\":0,\"jsonrpc\":\"2.0\",\"method\":\"rpc.discover\"}",
        /* escapes and UTF-8 text, in values and in names */
        "{\"a\":\"esc\\\"aped \\\\ \\/ \\b\\f\\n\\r\\t\"}",
        "{\"a\":\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\u0000end\"}",
        "{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80 del\x7f\"}",
        "{\"n\\u00e9\":1,\"n\xc3\xa9x\":2,\"a\\\"b\":3}",
        "[\"\\\\\",\"\\\\\\\"\",\"x\\\\\\\\\"]",
        /* more members than the reader remembers names of (16) */
        "{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":"
        "9,\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14,\"k15\":15,\"k16\":16,\"k17\":17,"
        "\"k18\":18,\"k19\":19}",
};

/* Lines it must decline: outside its subset, or not valid JSON (jansson reports the error). */
static const char *const declined[] = {
        "",
        "   ",
        /* strings jansson refuses */
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"\\x41\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\ud800x\"}",
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\\udc00\\ud800\"}",
        "{\"a\":\"bad\xc3\"}",
        "{\"a\":\"\xc0\x80\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xf4\x90\x80\x80\"}",
        "{\"a\":\"\xf5\x80\x80\x80\"}",
        "{\"a\":\"\xe2\x82\"}",
        "{\"a\":\"ends in a backslash\\\"}",
        "{\"k\\u0000\":1}",
        "{\"a\":1.5}",
        "{\"a\":1e3}",
        "{\"a\":1E3}",
        "{\"a\":-0}",
        "{\"a\":01}",
        "{\"a\":1234567890123456789}",
        "{\"a\":-}",
        "{\"a\":+1}",
        "{\"a\":1,\"a\":2}",
        "{\"o\":{\"k\":1,\"k\":1}}",
        /* repeated past the 16 names remembered, and as the 17th member */
        "{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":"
        "9,\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14,\"k15\":15,\"k16\":16,\"k17\":17,"
        "\"k18\":18,\"k19\":19,\"k3\":0}",
        "{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":"
        "9,\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14,\"k15\":15,\"k15\":0}",
        "{\"\\u0061\":1,\"a\":2}",
        "{\"a\":1,\"\\u0061\":2}",
        "{\"\\u0061\":1,\"b\":2,\"a\":3}",
        "{\"a\":1,}",
        "[1,]",
        "[1 2]",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":tru}",
        "{\"a\":truex}",
        "{\"a\":nul}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "{\"a\":1",
        "[",
        "\"open",
        "1 2",
        "{\"a\":1}\v",
        "{\"a\":\x01}",
};

static void test_reads_the_common_lines(void **state)
{
        for (size_t i = 0; i < sizeof(read_fast) / sizeof(read_fast[0]); i++) {
                json_t *v = netd_fastjson_parse(read_fast[i], strlen(read_fast[i]));

                if (!v)
                        fail_msg("declined: %s", read_fast[i]);
                json_decref(v);
                assert_int_equal(netd_fastjson_check(read_fast[i], strlen(read_fast[i])), 1);
        }
}

static void test_declines_everything_else(void **state)
{
        for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++) {
                json_t *v = netd_fastjson_parse(declined[i], strlen(declined[i]));

                if (v)
                        fail_msg("read what it must decline: %s", declined[i]);
        }
}

/* The line is not a C string: nothing past len is read, and a NUL inside is declined. */
static void test_reads_only_len_bytes(void **state)
{
        static const char line[] = "{\"a\":12}{\"b\":3}";
        json_t *v = netd_fastjson_parse(line, 8);

        assert_non_null(v);
        assert_int_equal(json_integer_value(json_object_get(v, "a")), 12);
        json_decref(v);
        assert_null(netd_fastjson_parse(line, 7));
        assert_null(netd_fastjson_parse("{\"a\":\"x\0y\"}", 11));
        assert_null(netd_fastjson_parse("[1]\0", 4));
}

static char *nested(const char *open, const char *close, int depth)
{
        size_t lo = strlen(open), lc = strlen(close);
        char *s = malloc((size_t)depth * (lo + lc) + 2), *p = s;

        assert_non_null(s);
        for (int i = 0; i < depth; i++, p += lo)
                memcpy(p, open, lo);
        *p++ = '1';
        for (int i = 0; i < depth; i++, p += lc)
                memcpy(p, close, lc);
        *p = '\0';
        return s;
}

static void test_depth_limit(void **state)
{
        char *at = nested("[", "]", NETD_FASTJSON_MAX_DEPTH);
        char *over = nested("{\"k\":", "}", NETD_FASTJSON_MAX_DEPTH + 1);
        json_t *v = netd_fastjson_parse(at, strlen(at));

        assert_non_null(v);
        json_decref(v);
        assert_int_equal(netd_fastjson_check(at, strlen(at)), 1);
        assert_null(netd_fastjson_parse(over, strlen(over)));
        free(at);
        free(over);
}

static void test_mutations_agree(void **state)
{
        char bad[512];
        long read =
                netd_oracle_mutations(read_fast, sizeof(read_fast) / sizeof(read_fast[0]), 200000,
                                      0x2545f4914f6cdd1dULL, netd_fastjson_check, bad, sizeof(bad));

        if (read < 0)
                fail_msg("read differently from jansson: %s", bad);
        /* Edits inside strings and numbers keep a line readable: many must be. */
        assert_true(read > 10000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reads_the_common_lines),
                cmocka_unit_test(test_declines_everything_else),
                cmocka_unit_test(test_reads_only_len_bytes),
                cmocka_unit_test(test_depth_limit),
                cmocka_unit_test(test_mutations_agree),
        };

        return cmocka_run_group_tests_name("fastjson", tests, NULL, NULL);
}
