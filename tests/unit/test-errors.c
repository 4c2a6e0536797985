/*
 * Unit tests for proto/errors.c: errno names and libuv texts from
 * NETD_ERRNO_MAP, the ERR_* table, and getaddrinfo failures mapped the way
 * Node reports them.
 */
#include <errno.h>
#include <netdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "errors.h"

static void test_errno_name(void **state)
{
        (void)state;
        assert_string_equal(netd_errno_name(ECONNREFUSED), "ECONNREFUSED");
        assert_string_equal(netd_errno_name(-ECONNREFUSED), "ECONNREFUSED");
        assert_string_equal(netd_errno_name(EADDRINUSE), "EADDRINUSE");
        assert_string_equal(netd_errno_name(-ETIMEDOUT), "ETIMEDOUT");
        assert_string_equal(netd_errno_name(EPIPE), "EPIPE");
        /* Unknown, as Node says it. */
        assert_string_equal(netd_errno_name(0), "UNKNOWN");
        assert_string_equal(netd_errno_name(4095), "UNKNOWN");
        assert_string_equal(netd_errno_name(-4095), "UNKNOWN");
}

static void test_strerror(void **state)
{
        (void)state;
        assert_string_equal(netd_strerror(EADDRINUSE), "address already in use");
        assert_string_equal(netd_strerror(-EADDRINUSE), "address already in use");
        assert_string_equal(netd_strerror(ECONNREFUSED), "connection refused");
        assert_string_equal(netd_strerror(-ECONNRESET), "connection reset by peer");
        assert_string_equal(netd_strerror(4095), "unknown error");
}

/*
 * Every row of NETD_ERRNO_MAP maps both ways, whatever the sign. (All rows
 * were also checked against node v20.20.2's util.getSystemErrorMap().)
 */
static void test_errno_map_complete(void **state)
{
        (void)state;
#define CHECK_ERRNO_(name, msg)                               \
        assert_string_equal(netd_errno_name(name), #name);    \
        assert_string_equal(netd_errno_name(-(name)), #name); \
        assert_string_equal(netd_strerror(-(name)), msg);
        NETD_ERRNO_MAP(CHECK_ERRNO_)
#undef CHECK_ERRNO_
}

/* Every NETD_ERR_MAP row, in order: Node's names all start with "ERR_". */
static void test_err_map(void **state)
{
        static const char *const names[] = {
#define ERR_NAME_(name, msg) #name,
                NETD_ERR_MAP(ERR_NAME_)
#undef ERR_NAME_
        };
        size_t i;

        (void)state;
        assert_int_equal(sizeof(names) / sizeof(names[0]), _NETD_ERR_MAX);
        for (i = 0; i < _NETD_ERR_MAX; i++) {
                const char *name = netd_err_to_string((enum netd_err)i);
                const char *msg = netd_err_message((enum netd_err)i);

                assert_non_null(name);
                assert_string_equal(name, names[i]);
                assert_true(strncmp(name, "ERR_", 4) == 0);
                assert_non_null(msg);
                assert_true(strlen(msg) > 0);
        }
        assert_string_equal(netd_err_to_string(NETD_ERR_SOCKET_BAD_PORT), "ERR_SOCKET_BAD_PORT");
        assert_string_equal(netd_err_to_string(NETD_ERR_NETD_HANDLE_NOT_FOUND),
                            "ERR_NETD_HANDLE_NOT_FOUND");
        assert_string_equal(netd_err_message(NETD_ERR_STREAM_WRITE_AFTER_END), "write after end");
        /* Out of range: the same placeholders as for errnos. */
        assert_string_equal(netd_err_to_string(_NETD_ERR_MAX), "UNKNOWN");
        assert_string_equal(netd_err_to_string(_NETD_ERR_INVALID), "UNKNOWN");
        assert_string_equal(netd_err_message(_NETD_ERR_INVALID), "unknown error");
}

static void test_eai_describe(void **state)
{
        static const struct {
                int eai;
                const char *code;
                int err;
        } cases[] = {
                /* Node: dns lookup failures. */
                { EAI_NONAME, "ENOTFOUND", -3008 },      { EAI_NODATA, "ENOTFOUND", -3008 },
                { EAI_AGAIN, "EAI_AGAIN", -3001 },       { EAI_FAIL, "EAI_FAIL", -3004 },
                { EAI_FAMILY, "EAI_FAMILY", -3005 },     { EAI_MEMORY, "EAI_MEMORY", -3006 },
                { EAI_CANCELED, "EAI_CANCELED", -3003 },
        };
        const char *code = NULL;
        int err = 0;
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                netd_eai_describe(cases[i].eai, &code, &err);
                assert_string_equal(code, cases[i].code);
                assert_int_equal(err, cases[i].err);
        }
        /* Anything else is a generic failure. */
        netd_eai_describe(EAI_SYSTEM, &code, &err);
        assert_string_equal(code, "EAI_FAIL");
        assert_int_equal(err, -3004);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_errno_name),         cmocka_unit_test(test_strerror),
                cmocka_unit_test(test_errno_map_complete), cmocka_unit_test(test_err_map),
                cmocka_unit_test(test_eai_describe),
        };

        return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
