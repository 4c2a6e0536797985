/*
 * unit/jtok: the one JSON reader (proto/jtok.h). It must accept exactly
 * the lines jansson accepts with netd's flags (jansson still writes the
 * text of every parse error), and read them to the same values: checked on
 * hand-picked lines, on every file of JSONTestSuite (when present), and on
 * 200,000 mutations of request lines. Also: strings decoded in place, the
 * token budget, member lookup.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jtok.h"

#define FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

/*
 * Tokenizes a copy of text[0..len) and compares with jansson: 1 when both
 * accept and read the same values, 0 when both refuse, -1 when they differ.
 */
static int agrees(const char *text, size_t len)
{
        static struct netd_jdoc d;
        char *line = malloc(len + 1);
        json_t *want, *got = NULL;
        int r, ok;

        assert_non_null(line);
        memcpy(line, text, len);
        line[len] = '\0';
        want = json_loadb(text, len, FLAGS, NULL);
        r = netd_jtok_parse(&d, line, len, len + 2);
        if (r == 0) {
                netd_jtok_finish(&d);
                got = netd_jtok_tree(&d);
                assert_non_null(got);
        }
        /* A raw NUL ends jansson's input early: netd refuses such lines before either. */
        if (memchr(text, '\0', len))
                ok = r != 0 ? 0 : -1;
        else if (!want || !got)
                ok = !want && !got ? 0 : -1;
        else
                ok = json_equal(want, got) ? 1 : -1;
        if (ok < 0)
                print_message("jtok %s, jansson %s: %.*s\n", r == 0 ? "accepts" : "refuses",
                              want ? "accepts" : "refuses", (int)(len > 200 ? 200 : len), text);
        json_decref(want);
        json_decref(got);
        free(line);
        return ok;
}

static void test_lines(void **state)
{
        static const char *const accept[] = {
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"net.isIP\",\"params\":{\"input\":\"::"
                "1\"}}",
                " [ 1 , -0 , -0.0 , 1e2 , 1E-400 , true , false , null , \"\" , {} , [] ] ",
                "\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"",
                "{\"a\":\"x\\u0000y\",\"b\":{\"a\":1},\"\\u0061b\":2}",
                "-9223372036854775808",
                "9223372036854775807",
                "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":"
                "10}",
        };
        static const char *const refuse[] = {
                "",
                " ",
                "{",
                "[1,]",
                "{\"a\":1,}",
                "{\"a\" 1}",
                "01",
                "-",
                "1.",
                "1e",
                ".5",
                "9223372036854775808",
                "-9223372036854775809",
                "1e400",
                "tru",
                "nul",
                "[1] x",
                "\"\\x\"",
                "\"\\ud800\"",
                "\"\\udc00x\"",
                "\"\\ud800\\u0041\"",
                "\"\x01\"",
                "\"\xc3\"",
                "\"\xed\xa0\x80\"",
                "\"\xf4\x90\x80\x80\"",
                "\"\xc0\xaf\"",
                "{\"a\":1,\"a\":2}",
                "{\"a\":1,\"\\u0061\":2}",
                "{\"a\\u0000\":1}",
                "{1:2}",
                "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"a\":"
                "10}",
                "'a'",
                "[1 2]",
                "\xef\xbb\xbf{}",
        };

        for (size_t i = 0; i < sizeof(accept) / sizeof(accept[0]); i++)
                assert_int_equal(agrees(accept[i], strlen(accept[i])), 1);
        for (size_t i = 0; i < sizeof(refuse) / sizeof(refuse[0]); i++)
                assert_int_equal(agrees(refuse[i], strlen(refuse[i])), 0);
}

/* Depth: jansson reads 2048 nested values and refuses 2049. */
static void test_depth(void **state)
{
        char *deep = malloc(2 * 2049 + 2);
        size_t n;

        assert_non_null(deep);
        for (int depth = 2047; depth <= 2049; depth++) {
                n = 0;
                for (int i = 0; i < depth; i++)
                        deep[n++] = '[';
                for (int i = 0; i < depth; i++)
                        deep[n++] = ']';
                assert_int_equal(agrees(deep, n), depth <= 2048 ? 1 : 0);
                n = 0;
                for (int i = 0; i < depth - 1; i++)
                        deep[n++] = '[';
                deep[n++] = '1';
                for (int i = 0; i < depth - 1; i++)
                        deep[n++] = ']';
                assert_int_equal(agrees(deep, n), depth <= 2048 ? 1 : 0);
        }
        free(deep);
}

/* Strings are decoded in place and NUL-terminated; members are found by name. */
static void test_in_place(void **state)
{
        char line[] = "{\"host\":\"a\\u00e9b\",\"port\":80,\"opts\":{\"x\":[1,2]},\"q\":\"plain\"}";
        struct netd_jdoc d = { 0 };
        struct netd_jv root = { &d, 0 }, v;

        assert_int_equal(netd_jtok_parse(&d, line, strlen(line), 100), 0);
        netd_jtok_finish(&d);
        v = netd_jv_get(root, "host", 4);
        assert_true(netd_jv_is(v, NETD_JTOK_STRING));
        assert_string_equal(netd_jv_str(v), "a\xc3\xa9"
                                            "b");
        assert_int_equal(netd_jv_tok(v)->len, 4);
        v = netd_jv_get(root, "port", 4);
        assert_int_equal(netd_jv_tok(v)->integer, 80);
        assert_string_equal(netd_jv_str(netd_jv_get(root, "q", 1)), "plain");
        v = netd_jv_get(netd_jv_get(root, "opts", 4), "x", 1);
        assert_true(netd_jv_is(v, NETD_JTOK_ARRAY));
        assert_int_equal(netd_jv_tok(v)->size, 2);
        assert_int_equal(netd_jv_get(root, "nope", 4).i, -1);
        assert_string_equal(netd_jv_type_name(v), "an array");
        netd_jtok_done(&d);
}

/* The token budget: a line that needs more tokens than allowed is -E2BIG. */
static void test_budget(void **state)
{
        char line[] = "[1,2,3,4,5,6,7,8,9]";
        struct netd_jdoc d = { 0 };

        assert_int_equal(netd_jtok_parse(&d, line, strlen(line), 5), -E2BIG);
        assert_int_equal(netd_jtok_parse(&d, line, strlen(line), 10), 0);
        netd_jtok_done(&d);
}

/* Every file of JSONTestSuite's test_parsing, when the corpus is there. */
static void test_json_test_suite(void **state)
{
        const char *dir = getenv("NETD_JSON_TEST_SUITE");
        struct dirent *e;
        size_t files = 0;
        DIR *dp;

        if (!dir || !(dp = opendir(dir))) {
                print_message("JSONTestSuite not found (NETD_JSON_TEST_SUITE), skipped\n");
                skip();
                return;
        }
        while ((e = readdir(dp))) {
                char path[1024];
                char *buf;
                long size;
                FILE *f;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                f = fopen(path, "rb");
                if (!f)
                        continue;
                (void)fseek(f, 0, SEEK_END);
                size = ftell(f);
                (void)fseek(f, 0, SEEK_SET);
                buf = malloc((size_t)size + 1);
                assert_non_null(buf);
                assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
                fclose(f);
                if (agrees(buf, (size_t)size) < 0)
                        fail_msg("%s read differently", e->d_name);
                free(buf);
                files++;
        }
        closedir(dp);
        print_message("JSONTestSuite: %zu files, every one accepted or refused as jansson does\n",
                      files);
        assert_true(files > 300);
}

/* 200,000 mutations (bytes changed, inserted, deleted) of request lines. */
static void test_mutations(void **state)
{
        static const char *const seeds[] = {
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"socket.write\",\"params\":{\"socket\":"
                "3,"
                "\"data\":\"aGVsbG8=\",\"encoding\":\"base64\"}}",
                "[{\"jsonrpc\":\"2.0\",\"id\":\"a\\u00e9\",\"method\":\"net.isIP\",\"params\":"
                "{\"input\":\"::1\"}},{\"jsonrpc\":\"2.0\",\"method\":\"netd.sync\"}]",
                "{\"a\":[1.5e3,-0,true,null,{\"b\":\"\\ud83d\\ude00\"}],\"c\":\"x\\ny\"}",
        };
        static const char alphabet[] = "{}[]:,\"\\u0123456789abcdefE.+- \t\r\xc3\xa9\x80";
        uint64_t x = 0x9e3779b97f4a7c15ULL;
        char buf[512];
        size_t differ = 0;

        for (int i = 0; i < 200000; i++) {
                const char *seed = seeds[i % 3];
                size_t len = strlen(seed);
                int edits;

                memcpy(buf, seed, len);
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                edits = 1 + (int)(x % 3);
                for (int k = 0; k < edits; k++) {
                        size_t pos;
                        char ch;

                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        pos = (size_t)(x % (len + 1));
                        ch = alphabet[(x >> 20) % (sizeof(alphabet) - 1)];
                        switch ((x >> 40) % 3) {
                        case 0:
                                if (pos < len)
                                        buf[pos] = ch;
                                break;
                        case 1:
                                if (len + 1 < sizeof(buf)) {
                                        memmove(buf + pos + 1, buf + pos, len - pos);
                                        buf[pos] = ch;
                                        len++;
                                }
                                break;
                        default:
                                if (pos < len) {
                                        memmove(buf + pos, buf + pos + 1, len - pos - 1);
                                        len--;
                                }
                                break;
                        }
                }
                differ += agrees(buf, len) < 0;
        }
        assert_int_equal(differ, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lines),           cmocka_unit_test(test_depth),
                cmocka_unit_test(test_in_place),        cmocka_unit_test(test_budget),
                cmocka_unit_test(test_json_test_suite), cmocka_unit_test(test_mutations),
        };

        return cmocka_run_group_tests_name("jtok", tests, NULL, NULL);
}
