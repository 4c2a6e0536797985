/* unit/params: the declarative parser's types, ranges, unknown keys and error shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "encoding.h"
#include "params.h"

struct args {
        uint64_t handle;
        int port;
        struct netd_str str;
        bool flag;
        int64_t num;
        int enc;
};

static const struct netd_param spec[] = {
        NETD_PARAM_REQ("handle", NETD_T_HANDLE, struct args, handle),
        NETD_PARAM_OPT("port", NETD_T_PORT, struct args, port),
        NETD_PARAM_OPT("str", NETD_T_STRING, struct args, str),
        NETD_PARAM_OPT("flag", NETD_T_BOOL, struct args, flag),
        NETD_PARAM_INT("num", false, struct args, num, -5, 100),
        NETD_PARAM_OPT("enc", NETD_T_ENCODING, struct args, enc),
        {},
};

/* The last parsed params: strings in struct args borrow from its line. */
static struct netd_jdoc last;
static char line[4096];

/* Tokenizes text and parses it against spec; returns the result and fills *a and *pe. */
static int parse(const char *text, struct args *a, struct netd_param_error *pe, uint64_t *present)
{
        size_t len = strlen(text);

        assert_true(len < sizeof(line));
        memcpy(line, text, len + 1);
        assert_int_equal(netd_jtok_parse(&last, line, len, 1000), 0);
        netd_jtok_finish(&last);
        memset(a, 0, sizeof(*a));
        return netd_params_parse((struct netd_jv){ &last, 0 }, spec, a, present, pe);
}

static void test_valid(void **state)
{
        struct netd_param_error pe;
        uint64_t present;
        struct args a;

        assert_int_equal(parse("{\"handle\":7,\"port\":\"8080\",\"str\":\"a\\u0000b\","
                               "\"flag\":true,\"num\":-5,\"enc\":\"UTF-8\"}",
                               &a, &pe, &present),
                         0);
        assert_int_equal(a.handle, 7);
        assert_int_equal(a.port, 8080);
        assert_int_equal(a.str.len, 3);
        assert_memory_equal(a.str.s, "a\0b", 3);
        assert_true(a.flag);
        assert_int_equal(a.num, -5);
        assert_int_equal(a.enc, NETD_ENC_UTF8);
        assert_int_equal(present, 0x3f);

        /* null counts as absent; absent optional fields keep their defaults. */
        assert_int_equal(parse("{\"handle\":1,\"port\":null}", &a, &pe, &present), 0);
        assert_int_equal(present, 0x1);
        assert_int_equal(parse("{\"handle\":1,\"port\":0}", &a, &pe, NULL), 0);
        assert_int_equal(parse("{\"handle\":1,\"port\":65535}", &a, &pe, NULL), 0);
        assert_int_equal(a.port, 65535);
        assert_int_equal(parse("{\"handle\":1,\"port\":80.0}", &a, &pe, NULL), 0);
        assert_int_equal(a.port, 80);
        netd_jtok_done(&last);
}

static void test_no_params(void **state)
{
        static const struct netd_param opt_only[] = {
                NETD_PARAM_OPT("flag", NETD_T_BOOL, struct args, flag),
                {},
        };
        struct netd_param_error pe;
        struct args a = {};

        const struct netd_jv none = { NULL, -1 };

        assert_int_equal(netd_params_parse(none, opt_only, &a, NULL, &pe), 0);
        assert_int_equal(netd_params_parse(none, spec, &a, NULL, &pe), -EINVAL);
        assert_string_equal(pe.field, "handle");
        assert_int_equal(pe.code, NETD_ERR_MISSING_ARGS);
}

static void test_errors(void **state)
{
        static const struct {
                const char *text;
                const char *field;
                enum netd_err code;
        } cases[] = {
                { "{\"handle\":1,\"bogus\":1}", "bogus", NETD_ERR_INVALID_ARG_VALUE },
                { "{\"port\":1}", "handle", NETD_ERR_MISSING_ARGS },
                { "{\"handle\":0}", "handle", NETD_ERR_OUT_OF_RANGE },
                { "{\"handle\":-3}", "handle", NETD_ERR_OUT_OF_RANGE },
                { "{\"handle\":\"1\"}", "handle", NETD_ERR_INVALID_ARG_TYPE },
                { "{\"handle\":1.5}", "handle", NETD_ERR_INVALID_ARG_TYPE },
                { "{\"handle\":1,\"port\":-1}", "port", NETD_ERR_SOCKET_BAD_PORT },
                { "{\"handle\":1,\"port\":65536}", "port", NETD_ERR_SOCKET_BAD_PORT },
                { "{\"handle\":1,\"port\":1e999}", NULL, 0 }, /* jansson rejects: see below */
                { "{\"handle\":1,\"port\":80.5}", "port", NETD_ERR_SOCKET_BAD_PORT },
                { "{\"handle\":1,\"port\":\"80x\"}", "port", NETD_ERR_SOCKET_BAD_PORT },
                { "{\"handle\":1,\"port\":\"\"}", "port", NETD_ERR_SOCKET_BAD_PORT },
                { "{\"handle\":1,\"port\":\"999999\"}", "port", NETD_ERR_SOCKET_BAD_PORT },
                { "{\"handle\":1,\"port\":true}", "port", NETD_ERR_INVALID_ARG_TYPE },
                { "{\"handle\":1,\"port\":[80]}", "port", NETD_ERR_INVALID_ARG_TYPE },
                { "{\"handle\":1,\"str\":5}", "str", NETD_ERR_INVALID_ARG_TYPE },
                { "{\"handle\":1,\"flag\":1}", "flag", NETD_ERR_INVALID_ARG_TYPE },
                { "{\"handle\":1,\"flag\":\"true\"}", "flag", NETD_ERR_INVALID_ARG_TYPE },
                { "{\"handle\":1,\"num\":101}", "num", NETD_ERR_OUT_OF_RANGE },
                { "{\"handle\":1,\"num\":-6}", "num", NETD_ERR_OUT_OF_RANGE },
                { "{\"handle\":1,\"num\":9223372036854775807}", "num", NETD_ERR_OUT_OF_RANGE },
                { "{\"handle\":1,\"num\":1.0}", "num", NETD_ERR_INVALID_ARG_TYPE },
                { "{\"handle\":1,\"enc\":\"klingon\"}", "enc", NETD_ERR_UNKNOWN_ENCODING },
                { "{\"handle\":1,\"enc\":\"utf8\\u0000x\"}", "enc", NETD_ERR_UNKNOWN_ENCODING },
                { "{\"handle\":1,\"enc\":4}", "enc", NETD_ERR_INVALID_ARG_TYPE },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct netd_param_error pe = {};
                struct args a;
                size_t len = strlen(cases[i].text);

                memcpy(line, cases[i].text, len + 1);
                if (!cases[i].field) {
                        /* Over-large numbers never reach the parser: the envelope's -32700. */
                        assert_int_equal(netd_jtok_parse(&last, line, len, 1000), -EINVAL);
                        continue;
                }
                assert_int_equal(netd_jtok_parse(&last, line, len, 1000), 0);
                netd_jtok_finish(&last);
                memset(&a, 0, sizeof(a));
                assert_int_equal(
                        netd_params_parse((struct netd_jv){ &last, 0 }, spec, &a, NULL, &pe),
                        -EINVAL);
                assert_string_equal(pe.field, cases[i].field);
                assert_int_equal(pe.code, cases[i].code);
                assert_true(strlen(pe.message) > 0);
                assert_non_null(strstr(pe.message, cases[i].field));
        }
        netd_jtok_done(&last);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_no_params),
                cmocka_unit_test(test_errors),
        };

        return cmocka_run_group_tests_name("params", tests, NULL, NULL);
}
