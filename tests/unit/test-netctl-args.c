/*
 * Unit tests for cli/netctl-args.c: verb lookup, the parsing of ports,
 * timeouts and JSON params, the formatting of addresses, durations and
 * errors, and the mapping of failed calls to netctl's exit codes.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "netctl-args.h"
#include "netd/netd.h"

static int run_nothing(int argc, char *argv[])
{
        return NETCTL_EXIT_OK;
}

static const struct netctl_verb sorted[] = {
        { "call", "METHOD", "", 1, 2, run_nothing, NULL },
        { "connect", "HOST PORT", "", 2, 2, run_nothing, NULL },
        { "help", "", "", 0, 0, run_nothing, NULL },
        { "info", "", "", 0, 0, run_nothing, NULL },
};

static void test_verb_lookup(void **state)
{
        const size_t n = sizeof(sorted) / sizeof(*sorted);

        assert_true(netctl_verbs_are_sorted(sorted, n));
        for (size_t i = 0; i < n; i++)
                assert_ptr_equal(netctl_verb_lookup(sorted, n, sorted[i].name), &sorted[i]);
        assert_null(netctl_verb_lookup(sorted, n, "cal"));
        assert_null(netctl_verb_lookup(sorted, n, "calls"));
        assert_null(netctl_verb_lookup(sorted, n, "Info"));
        assert_null(netctl_verb_lookup(sorted, n, ""));
        assert_null(netctl_verb_lookup(sorted, n, NULL));
        assert_null(netctl_verb_lookup(sorted, 0, "call"));
}

static void test_verbs_are_sorted(void **state)
{
        const struct netctl_verb unsorted[] = {
                { "info", "", "", 0, 0, run_nothing, NULL },
                { "call", "", "", 0, 0, run_nothing, NULL },
        };
        const struct netctl_verb duplicate[] = {
                { "call", "", "", 0, 0, run_nothing, NULL },
                { "call", "", "", 0, 0, run_nothing, NULL },
        };

        assert_false(netctl_verbs_are_sorted(unsorted, 2));
        assert_false(netctl_verbs_are_sorted(duplicate, 2));
        assert_true(netctl_verbs_are_sorted(unsorted, 1));
        assert_true(netctl_verbs_are_sorted(unsorted, 0));
}

static void test_parse_port(void **state)
{
        int port = -1;

        assert_int_equal(netctl_parse_port("0", &port), 0);
        assert_int_equal(port, 0);
        assert_int_equal(netctl_parse_port("8080", &port), 0);
        assert_int_equal(port, 8080);
        assert_int_equal(netctl_parse_port("65535", &port), 0);
        assert_int_equal(port, 65535);

        port = 7;
        assert_int_equal(netctl_parse_port("65536", &port), -ERANGE);
        assert_int_equal(netctl_parse_port("99999999999999999999999", &port), -ERANGE);
        assert_int_equal(netctl_parse_port("", &port), -EINVAL);
        assert_int_equal(netctl_parse_port("-1", &port), -EINVAL);
        assert_int_equal(netctl_parse_port("+80", &port), -EINVAL);
        assert_int_equal(netctl_parse_port(" 80", &port), -EINVAL);
        assert_int_equal(netctl_parse_port("80 ", &port), -EINVAL);
        assert_int_equal(netctl_parse_port("0x50", &port), -EINVAL);
        assert_int_equal(netctl_parse_port("http", &port), -EINVAL);
        assert_int_equal(netctl_parse_port(NULL, &port), -EINVAL);
        assert_int_equal(port, 7); /* untouched on failure */
}

static void test_parse_timeout(void **state)
{
        int ms = 0;

        assert_int_equal(netctl_parse_timeout("1500", &ms), 0);
        assert_int_equal(ms, 1500);
        assert_int_equal(netctl_parse_timeout("0", &ms), 0);
        assert_int_equal(ms, -1); /* no limit */
        assert_int_equal(netctl_parse_timeout("2147483647", &ms), 0);
        assert_int_equal(ms, 2147483647);
        assert_int_equal(netctl_parse_timeout("2147483648", &ms), -ERANGE);
        assert_int_equal(netctl_parse_timeout("1s", &ms), -EINVAL);
        assert_int_equal(netctl_parse_timeout("-5", &ms), -EINVAL);
}

static void test_parse_params(void **state)
{
        char err[256];
        json_t *v = NULL;
        const char *text;

        text = "{\"input\":\"1.2.3.4\"}";
        assert_int_equal(netctl_parse_params(text, strlen(text), &v, err, sizeof(err)), 0);
        assert_true(json_is_object(v));
        assert_string_equal(json_string_value(json_object_get(v, "input")), "1.2.3.4");
        json_decref(v);

        text = " [1, 2]\n";
        assert_int_equal(netctl_parse_params(text, strlen(text), &v, err, sizeof(err)), 0);
        assert_true(json_is_array(v));
        json_decref(v);

        /* len bounds the text: no NUL needed. */
        text = "{}garbage";
        assert_int_equal(netctl_parse_params(text, 2, &v, err, sizeof(err)), 0);
        json_decref(v);

        v = NULL;
        text = "{bad";
        assert_int_equal(netctl_parse_params(text, strlen(text), &v, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "invalid JSON params"));
        assert_null(v);

        text = "42";
        assert_int_equal(netctl_parse_params(text, strlen(text), &v, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "params must be a JSON object or array");

        text = "\"str\"";
        assert_int_equal(netctl_parse_params(text, strlen(text), &v, err, sizeof(err)), -EINVAL);

        text = "{\"a\":1,\"a\":2}";
        assert_int_equal(netctl_parse_params(text, strlen(text), &v, err, sizeof(err)), -EINVAL);

        text = "{} {}";
        assert_int_equal(netctl_parse_params(text, strlen(text), &v, err, sizeof(err)), -EINVAL);

        assert_int_equal(netctl_parse_params("", 0, &v, err, sizeof(err)), -EINVAL);
        assert_null(v);
}

static void check_address(const char *json, const char *want)
{
        json_t *addr = json_loads(json, JSON_DECODE_ANY, NULL);
        char buf[128];

        assert_non_null(addr);
        assert_int_equal(netctl_format_address(addr, buf, sizeof(buf)), 0);
        assert_string_equal(buf, want);
        json_decref(addr);
}

static void test_format_address(void **state)
{
        json_t *addr;
        char small[8];
        char buf[64];

        check_address("{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":8080}",
                      "127.0.0.1:8080");
        check_address("{\"address\":\"::1\",\"family\":\"IPv6\",\"port\":80}", "[::1]:80");
        check_address("{\"address\":\"::\",\"port\":0}", "[::]:0");
        check_address("\"/run/x.sock\"", "/run/x.sock");

        addr = json_pack("{s:s}", "address", "1.2.3.4");
        assert_int_equal(netctl_format_address(addr, buf, sizeof(buf)), -EINVAL);
        json_decref(addr);
        assert_int_equal(netctl_format_address(json_null(), buf, sizeof(buf)), -EINVAL);
        assert_int_equal(netctl_format_address(NULL, buf, sizeof(buf)), -EINVAL);

        addr = json_pack("{s:s,s:s,s:i}", "address", "127.0.0.1", "family", "IPv4", "port", 8080);
        assert_int_equal(netctl_format_address(addr, small, sizeof(small)), -ENOBUFS);
        assert_int_equal(strlen(small), sizeof(small) - 1);
        json_decref(addr);
}

static void test_format_duration(void **state)
{
        char buf[64];

        assert_int_equal(netctl_format_duration(0, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "0.0s");
        assert_int_equal(netctl_format_duration(42.54, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "42.5s");
        assert_int_equal(netctl_format_duration(60, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "1m 0s");
        assert_int_equal(netctl_format_duration(3 * 60 + 2.9, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "3m 2s");
        assert_int_equal(netctl_format_duration(3600 + 5, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "1h 0m 5s");
        assert_int_equal(
                netctl_format_duration(2 * 86400 + 3 * 3600 + 4 * 60 + 5, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "2d 3h 4m 5s");

        assert_int_equal(netctl_format_duration(-1, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(netctl_format_duration(NAN, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(netctl_format_duration(INFINITY, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(netctl_format_duration(86400, buf, 4), -ENOBUFS);
}

static void test_format_error(void **state)
{
        struct netd_client_error err = {
                .code = -32000,
                .message = "connect ECONNREFUSED 127.0.0.1:9",
                .data_code = "ECONNREFUSED",
                .errnum = -111,
        };
        char buf[128];

        assert_int_equal(netctl_format_error(&err, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "connect ECONNREFUSED 127.0.0.1:9 (ECONNREFUSED)");

        /* Envelope errors have no data.code: the numeric code stands in. */
        err = (struct netd_client_error){ .code = -32601, .message = "Method not found" };
        assert_int_equal(netctl_format_error(&err, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "Method not found (-32601)");

        err = (struct netd_client_error){ .code = -32603, .message = "" };
        assert_int_equal(netctl_format_error(&err, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "unknown error (-32603)");

        err = (struct netd_client_error){ .code = 1, .message = "long message", .data_code = "X" };
        assert_int_equal(netctl_format_error(&err, buf, 6), -ENOBUFS);
        assert_string_equal(buf, "long ");
}

static void test_exit_for_error(void **state)
{
        struct netd_client_error err = { .code = NETD_CLIENT_LOCAL_ERROR_CODE, .message = "x" };

        /* An error reply from the daemon, whatever its code. */
        err.data_code = "ERR_NETD_HANDLE_NOT_FOUND";
        assert_int_equal(netctl_exit_for_error(-EREMOTEIO, &err), NETCTL_EXIT_ERROR);
        err.data_code = NULL;
        assert_int_equal(netctl_exit_for_error(-EREMOTEIO, &err), NETCTL_EXIT_ERROR);

        /* Local errors: netd is gone, silent or talking nonsense. */
        err.data_code = NETD_CLIENT_ERR_DISCONNECTED;
        assert_int_equal(netctl_exit_for_error(-ECONNRESET, &err), NETCTL_EXIT_UNREACHABLE);
        err.data_code = NETD_CLIENT_ERR_TIMEOUT;
        assert_int_equal(netctl_exit_for_error(-ETIMEDOUT, &err), NETCTL_EXIT_UNREACHABLE);
        err.data_code = NETD_CLIENT_ERR_PROTOCOL;
        assert_int_equal(netctl_exit_for_error(-EPROTO, &err), NETCTL_EXIT_UNREACHABLE);

        /* Other local failures are netctl's own. */
        err.data_code = "ENOMEM";
        assert_int_equal(netctl_exit_for_error(-ENOMEM, &err), NETCTL_EXIT_ERROR);
        assert_int_equal(netctl_exit_for_error(-ENOMEM, NULL), NETCTL_EXIT_ERROR);
}

static void test_parse_duration(void **state)
{
        int ms = -1;

        assert_int_equal(netctl_parse_duration("30", &ms), 0);
        assert_int_equal(ms, 30000);
        assert_int_equal(netctl_parse_duration("500ms", &ms), 0);
        assert_int_equal(ms, 500);
        assert_int_equal(netctl_parse_duration("2.5s", &ms), 0);
        assert_int_equal(ms, 2500);
        assert_int_equal(netctl_parse_duration("1m", &ms), 0);
        assert_int_equal(ms, 60000);
        assert_int_equal(netctl_parse_duration("0.0001", &ms), 0);
        assert_int_equal(ms, 1);
        ms = 7;
        assert_int_equal(netctl_parse_duration("0", &ms), -EINVAL);
        assert_int_equal(netctl_parse_duration("", &ms), -EINVAL);
        assert_int_equal(netctl_parse_duration("-1", &ms), -EINVAL);
        assert_int_equal(netctl_parse_duration("5x", &ms), -EINVAL);
        assert_int_equal(netctl_parse_duration(" 5", &ms), -EINVAL);
        assert_int_equal(netctl_parse_duration("1000h", &ms), -ERANGE);
        assert_int_equal(ms, 7);
}

static void test_parse_endpoint(void **state)
{
        struct netctl_endpoint e;
        char err[256], text[128];

        assert_int_equal(
                netctl_parse_endpoint(2, (char *[]){ "::1", "80" }, false, &e, err, sizeof(err)),
                0);
        assert_string_equal(e.host, "::1");
        assert_int_equal(e.port, 80);
        assert_int_equal(e.path_len, 0);
        assert_int_equal(netctl_format_endpoint(&e, text, sizeof(text)), 0);
        assert_string_equal(text, "[::1]:80");

        assert_int_equal(netctl_parse_endpoint(1, (char *[]){ "/run/app.sock" }, false, &e, err,
                                               sizeof(err)),
                         0);
        assert_int_equal(e.path_len, strlen("/run/app.sock"));
        assert_string_equal(e.path, "/run/app.sock");

        assert_int_equal(
                netctl_parse_endpoint(1, (char *[]){ "@name" }, true, &e, err, sizeof(err)), 0);
        assert_int_equal(e.path_len, 5);
        assert_memory_equal(e.path, "\0name", 5);
        assert_int_equal(netctl_format_endpoint(&e, text, sizeof(text)), 0);
        assert_string_equal(text, "@name");

        /* listen alone takes a bare port; 0 only for listen. */
        assert_int_equal(netctl_parse_endpoint(1, (char *[]){ "0" }, true, &e, err, sizeof(err)),
                         0);
        assert_null(e.host);
        assert_int_equal(e.port, 0);
        assert_int_equal(netctl_parse_endpoint(1, (char *[]){ "80" }, false, &e, err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(
                netctl_parse_endpoint(2, (char *[]){ "h", "0" }, false, &e, err, sizeof(err)),
                -EINVAL);
        assert_non_null(strstr(err, "invalid port '0'"));
        assert_int_equal(
                netctl_parse_endpoint(2, (char *[]){ "h", "65536" }, true, &e, err, sizeof(err)),
                -EINVAL);
        assert_int_equal(netctl_parse_endpoint(1, (char *[]){ "@" }, true, &e, err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(
                netctl_parse_endpoint(1, (char *[]){ "app.sock" }, true, &e, err, sizeof(err)),
                -EINVAL);
        assert_non_null(strstr(err, "containing '/'"));
}

static void test_format_bytes(void **state)
{
        char b[32];

        assert_int_equal(netctl_format_bytes(0, b, sizeof(b)), 0);
        assert_string_equal(b, "0 B");
        assert_int_equal(netctl_format_bytes(1023, b, sizeof(b)), 0);
        assert_string_equal(b, "1023 B");
        assert_int_equal(netctl_format_bytes(10 * 1024 * 1024, b, sizeof(b)), 0);
        assert_string_equal(b, "10.0 MiB");
        assert_int_equal(netctl_format_bytes(3ULL << 30, b, sizeof(b)), 0);
        assert_string_equal(b, "3.0 GiB");
        assert_int_equal(netctl_format_bytes(1ULL << 62, b, sizeof(b)), 0);
        assert_string_equal(b, "4194304.0 TiB");
}

static void test_params_from_words(void **state)
{
        json_t *doc = json_loads(
                "{\"methods\":[{\"name\":\"m\",\"params\":["
                "{\"name\":\"port\",\"schema\":{\"$ref\":\"#/components/schemas/Port\"}},"
                "{\"name\":\"host\",\"schema\":{\"type\":\"string\"}},"
                "{\"name\":\"on\",\"schema\":{\"type\":\"boolean\"}},"
                "{\"name\":\"kinds\",\"schema\":{\"type\":\"array\"}},"
                "{\"name\":\"mode\",\"schema\":{\"enum\":[\"a\",\"b\"]}}]}],"
                "\"components\":{\"schemas\":{\"Port\":{\"oneOf\":[{\"type\":\"integer\"},"
                "{\"type\":\"string\"}]}}}}",
                0, NULL);
        char err[256];
        json_t *p = NULL;

        assert_non_null(doc);
        assert_int_equal(netctl_params_from_words(doc, "m", 5,
                                                  (char *[]){ "port=80", "host=80", "on=true",
                                                              "kinds=[\"x\"]", "mode=b" },
                                                  &p, err, sizeof(err)),
                         0);
        assert_true(json_is_integer(json_object_get(p, "port")));
        assert_string_equal(json_string_value(json_object_get(p, "host")), "80");
        assert_true(json_is_true(json_object_get(p, "on")));
        assert_true(json_is_array(json_object_get(p, "kinds")));
        assert_string_equal(json_string_value(json_object_get(p, "mode")), "b");
        json_decref(p);
        /* A port that is not a number falls back to the string branch of oneOf. */
        assert_int_equal(netctl_params_from_words(doc, "m", 1, (char *[]){ "port=http" }, &p, err,
                                                  sizeof(err)),
                         0);
        assert_string_equal(json_string_value(json_object_get(p, "port")), "http");
        json_decref(p);
        assert_int_equal(
                netctl_params_from_words(doc, "m", 1, (char *[]){ "on=yes" }, &p, err, sizeof(err)),
                -EINVAL);
        assert_int_equal(
                netctl_params_from_words(doc, "m", 1, (char *[]){ "mode=c" }, &p, err, sizeof(err)),
                -EINVAL);
        assert_int_equal(
                netctl_params_from_words(doc, "m", 1, (char *[]){ "nope=1" }, &p, err, sizeof(err)),
                -EINVAL);
        assert_non_null(strstr(err, "m has no parameter 'nope'; port host on kinds mode"));
        assert_int_equal(
                netctl_params_from_words(doc, "m", 1, (char *[]){ "port" }, &p, err, sizeof(err)),
                -EINVAL);
        assert_int_equal(netctl_params_from_words(doc, "x", 0, NULL, &p, err, sizeof(err)),
                         -EINVAL);
        json_decref(doc);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_verb_lookup),       cmocka_unit_test(test_verbs_are_sorted),
                cmocka_unit_test(test_parse_port),        cmocka_unit_test(test_parse_timeout),
                cmocka_unit_test(test_parse_params),      cmocka_unit_test(test_format_address),
                cmocka_unit_test(test_format_duration),   cmocka_unit_test(test_format_error),
                cmocka_unit_test(test_exit_for_error),    cmocka_unit_test(test_parse_duration),
                cmocka_unit_test(test_parse_endpoint),    cmocka_unit_test(test_format_bytes),
                cmocka_unit_test(test_params_from_words),
        };

        return cmocka_run_group_tests_name("netctl-args", tests, NULL, NULL);
}
