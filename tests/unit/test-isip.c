/*
 * Unit tests for proto/isip.c: netd_isip() must answer what Node's
 * net.isIP() answers. Every expectation below was produced by running the
 * real node binary (v20.20.2) on the same input; see the table's comment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "isip.h"

struct isip_case {
        const char *s;
        size_t len; /* bytes, an embedded NUL included */
        int want;   /* net.isIP(s) */
};

#define C(str, v)                       \
        {                               \
                str, sizeof(str) - 1, v \
        }

/*
 * Generated with this node script, then pasted (strings as UTF-8, octal
 * escapes for other bytes):
 *   for (const s of cases) console.log(`C(${cEscape(s)}, ${net.isIP(s)}),`);
 * 131 rows, generated and checked with node v20.20.2
 */
static const struct isip_case isip_cases[] = {
        C("0.0.0.0", 4),
        C("1.2.3.4", 4),
        C("127.0.0.1", 4),
        C("255.255.255.255", 4),
        C("192.168.1.1", 4),
        C("10.0.0.255", 4),
        C("256.0.0.1", 0),
        C("1.2.3.256", 0),
        C("300.1.1.1", 0),
        C("999.0.0.0", 0),
        C("-1.2.3.4", 0),
        C("127.000.000.001", 0),
        C("01.2.3.4", 0),
        C("1.02.3.4", 0),
        C("1.2.3.04", 0),
        C("00.0.0.0", 0),
        C("0.0.0.00", 0),
        C("1.2.3", 0),
        C("1.2.3.4.5", 0),
        C("1.2.3.", 0),
        C(".1.2.3.4", 0),
        C("1..2.3", 0),
        C("1.2.3.4.", 0),
        C("1.2.3.4/24", 0),
        C("1.2.3.4:80", 0),
        C("1.2.3.4 ", 0),
        C(" 1.2.3.4", 0),
        C("1.2.3.4\012", 0),
        C("1.2.3.4\011", 0),
        C("1 .2.3.4", 0),
        C("0x7f.0.0.1", 0),
        C("1e1.2.3.4", 0),
        C("1.2.3.a", 0),
        C("127.1", 0),
        C("2130706433", 0),
        C("\357\274\221.2.3.4", 0),
        C("1.2.3.4\000", 0),
        C("\0001.2.3.4", 0),
        C("::", 6),
        C("::1", 6),
        C("1::", 6),
        C("::ffff", 6),
        C("1:2:3:4:5:6:7:8", 6),
        C("1:2:3:4:5:6:7::", 6),
        C("::2:3:4:5:6:7:8", 6),
        C("1::8", 6),
        C("1:2:3:4::5:6:7", 6),
        C("1:2:3:4:5:6::7", 6),
        C("1:2:3::4:5:6:7", 6),
        C("2001:db8::ff00:42:8329", 6),
        C("2001:0db8:0000:0000:0000:ff00:0042:8329", 6),
        C("FE80::1", 6),
        C("fE80::AbCd", 6),
        C("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6),
        C("0:0:0:0:0:0:0:0", 6),
        C("0000:0000:0000:0000:0000:0000:0000:0000", 6),
        C("1:2:3:4:5:6:7:8:9", 0),
        C("1:2:3:4:5:6:7", 0),
        C("1:2:3:4:5:6:7:8::", 0),
        C("::1:2:3:4:5:6:7:8", 0),
        C("1::2:3:4:5:6:7:8", 0),
        C(":::", 0),
        C("::::", 0),
        C("1:::2", 0),
        C(":::1", 0),
        C("1:::", 0),
        C("1::2::3", 0),
        C("::1::", 0),
        C(":1:2:3:4:5:6:7:8", 0),
        C("1:2:3:4:5:6:7:8:", 0),
        C(":1::2", 0),
        C("1::2:", 0),
        C(":", 0),
        C("1", 0),
        C("12345::", 0),
        C("::12345", 0),
        C("00000::1", 0),
        C("g::1", 0),
        C("1::g", 0),
        C("::-1", 0),
        C("::1 ", 0),
        C("[::1]", 0),
        C("::1/128", 0),
        C("::1\012", 0),
        C("fe80:0:0:0:0:0:0:1:", 0),
        C("1:2:3:4:5:6:7:8%eth0", 6),
        C("::ffff:127.0.0.1", 6),
        C("::ffff:1.2.3.4", 6),
        C("::FFFF:192.168.1.1", 6),
        C("::1.2.3.4", 6),
        C("::ffff:1.2.3.256", 0),
        C("::ffff:01.2.3.4", 0),
        C("::ffff:1.2.3", 0),
        C("::ffff:1.2.3.4.5", 0),
        C("1:2:3:4:5:6:1.2.3.4", 6),
        C("1:2:3:4:5::1.2.3.4", 6),
        C("1:2:3:4:5:6:7:1.2.3.4", 0),
        C("1:2:3:4:5:6::1.2.3.4", 0),
        C("1::2:3:4:5:1.2.3.4", 6),
        C("1::2:3:4:5:6:1.2.3.4", 0),
        C("::1:2:3:4:5:1.2.3.4", 6),
        C("::1:2:3:4:5:6:1.2.3.4", 0),
        C("1.2.3.4::", 0),
        C("1.2.3.4::1", 0),
        C("::1.2.3.4:1", 0),
        C("64:ff9b::192.0.2.33", 6),
        C("::ffff:1.2.3.4%eth0", 6),
        C("fe80::1%eth0", 6),
        C("fe80::1%", 0),
        C("fe80::1%1", 6),
        C("fe80::1%en0.100", 6),
        C("fe80::1%a-b", 6),
        C("fe80::1%a:b", 6),
        C("fe80::1%::", 6),
        C("fe80::1%a_b", 0),
        C("fe80::1%a b", 0),
        C("fe80::1%%", 0),
        C("fe80::1%eth0%1", 0),
        C("fe80::1%a/b", 0),
        C("fe80::1%\303\251", 0),
        C("%eth0", 0),
        C("::%1", 6),
        C("1.2.3.4%eth0", 0),
        C("", 0),
        C(" ", 0),
        C("localhost", 0),
        C("example.com", 0),
        C("abcd", 0),
        C("::\303\251", 0),
        C("\303\251", 0),
        C("\342\200\250", 0),
};

static void test_isip_node_table(void **state)
{
        size_t i, n = sizeof(isip_cases) / sizeof(isip_cases[0]);

        (void)state;
        assert_true(n >= 80);
        for (i = 0; i < n; i++) {
                const struct isip_case *c = &isip_cases[i];
                int got = netd_isip(c->s, c->len);

                if (got != c->want)
                        fail_msg("netd_isip(\"%s\", %zu) = %d, node says %d", c->s, c->len, got,
                                 c->want);
                assert_int_equal(netd_isipv4(c->s, c->len), c->want == 4);
                assert_int_equal(netd_isipv6(c->s, c->len), c->want == 6);
        }
}

/* The length, not a NUL, ends the input: a valid prefix of a longer buffer counts. */
static void test_isip_length_bounded(void **state)
{
        static const char buf[] = "1.2.3.4junk";
        static const char buf6[] = "fe80::1%eth0 trailing";

        (void)state;
        assert_int_equal(netd_isip(buf, 7), 4);
        assert_int_equal(netd_isip(buf, 8), 0);
        assert_int_equal(netd_isip(buf, 6), 0); /* "1.2.3." */
        assert_int_equal(netd_isip(buf6, 12), 6);
        assert_int_equal(netd_isip(buf6, 13), 0);
        assert_int_equal(netd_isip(buf6, 7), 6); /* "fe80::1" */
        assert_int_equal(netd_isip(buf6, 8), 0); /* "fe80::1%": empty zone */
        assert_int_equal(netd_isip(NULL, 0), 0);
}

static char *isip_repeat(const char *prefix, const char *unit, size_t times)
{
        size_t plen = strlen(prefix), ulen = strlen(unit), i;
        char *s = malloc(plen + ulen * times + 1);

        assert_non_null(s);
        memcpy(s, prefix, plen);
        for (i = 0; i < times; i++)
                memcpy(s + plen + i * ulen, unit, ulen);
        s[plen + ulen * times] = '\0';
        return s;
}

/* Over-long inputs; expectations again from node v20.20.2. */
static void test_isip_long(void **state)
{
        static const struct {
                const char *prefix, *unit;
                size_t times;
                int want;
        } cases[] = {
                { "", "1", 10000, 0 },         /* net.isIP("1".repeat(10000)) */
                { "", ":", 10000, 0 },         /* ":".repeat(10000) */
                { "1.2.3.4", "x", 9993, 0 },   /* a valid address, then junk */
                { "::1", " ", 9997, 0 },       /* trailing spaces */
                { "fe80::1%", "a", 10000, 6 }, /* zone ids have no length limit */
                { "", "1:", 5000, 0 },         /* 5000 groups */
                { "::0", ":0", 4998, 0 },      /* too many groups after "::" */
                { "", "255.", 2500, 0 },       /* too many IPv4 segments */
        };
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *s = isip_repeat(cases[i].prefix, cases[i].unit, cases[i].times);

                assert_int_equal(netd_isip(s, strlen(s)), cases[i].want);
                free(s);
        }
}

/*
 * Every byte value after a valid address (node v20.20.2: only the digits
 * keep "1.2.3.4?" valid, only the hex digits keep "::1?" valid).
 */
static void test_isip_every_byte(void **state)
{
        char v4[] = "1.2.3.4?", v6[] = "::1?";
        int b;

        (void)state;
        for (b = 0; b < 256; b++) {
                bool digit = b >= '0' && b <= '9';
                bool hex = digit || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');

                v4[7] = (char)b;
                v6[3] = (char)b;
                assert_int_equal(netd_isip(v4, 8), digit ? 4 : 0);
                assert_int_equal(netd_isip(v6, 4), hex ? 6 : 0);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_isip_node_table),
                cmocka_unit_test(test_isip_length_bounded),
                cmocka_unit_test(test_isip_long),
                cmocka_unit_test(test_isip_every_byte),
        };

        return cmocka_run_group_tests_name("isip", tests, NULL, NULL);
}
