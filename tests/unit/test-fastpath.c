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
#include "fastpath-oracle.h"
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

static void test_valid_lines_take_fast_path(void **state)
{
        for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
                struct netd_fast_write w;

                assert_int_equal(netd_fastpath_accepts(valid[i], strlen(valid[i]), &w), 1);
                assert_int_equal(netd_fastpath_check(valid[i], strlen(valid[i])), 1);
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

                assert_int_equal(netd_fastpath_accepts(others[i], strlen(others[i]), &w), 0);
        }
}

static void test_mutations_agree(void **state)
{
        char bad[512];
        long accepted =
                netd_oracle_mutations(valid, sizeof(valid) / sizeof(valid[0]), 200000,
                                      0x9e3779b97f4a7c15ULL, netd_fastpath_check, bad, sizeof(bad));

        if (accepted < 0)
                fail_msg("fast path accepted what jansson reads otherwise: %s", bad);
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
