/*
 * unit/config: the policy file parser (sections, rules, quotas, errors that
 * name the line) and address/port rule matching, IPv4-mapped IPv6 included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "auth.h"
#include "config.h"
#include "daemon.h"

static struct netd_policy *parse_ok(const char *text)
{
        struct netd_policy *p = NULL;
        char err[300] = "";

        if (netd_policy_parse(text, strlen(text), &p, err, sizeof(err)) < 0)
                fail_msg("parse failed: %s\n%s", err, text);
        return p;
}

/* Parsing fails with a message containing want. */
static void parse_fails(const char *text, const char *want)
{
        struct netd_policy *p = NULL;
        char err[300] = "";

        if (netd_policy_parse(text, strlen(text), &p, err, sizeof(err)) == 0)
                fail_msg("parsed, expected \"%s\":\n%s", want, text);
        if (!strstr(err, want))
                fail_msg("error \"%s\", expected \"%s\"", err, want);
}

static struct sockaddr_storage sa4(const char *ip, int port)
{
        struct sockaddr_storage ss = { 0 };
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;

        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
        return ss;
}

static struct sockaddr_storage sa6(const char *ip, int port)
{
        struct sockaddr_storage ss = { 0 };
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
        return ss;
}

static bool match(const struct netd_net_rule *r, struct sockaddr_storage ss)
{
        return netd_net_rule_match(r, (const struct sockaddr *)&ss);
}

static void test_sections_and_rules(void **state)
{
        struct netd_policy *p = parse_ok("# netd policy\n"
                                         "\n"
                                         "[global]\n"
                                         "adminGroup = 0   ; root's group\n"
                                         "[default]\n"
                                         "connect = 10.0.0.0/8 5432\n"
                                         "handlesPerUid = 100\n"
                                         "[user:0]\n"
                                         "listen = * 80,443, 8000-8010\n"
                                         "unix = /run/app/\n"
                                         "inherit = web\n"
                                         "[group:0]\n"
                                         "maxClientsPerUid = 7\n"
                                         "lookupsPerUid = 2\n");
        const struct netd_policy_section *u;

        assert_int_equal(p->n_sections, 4);
        assert_true(p->has_admin_group);
        assert_int_equal(p->admin_gid, 0);
        assert_true(p->connect_restricted);
        assert_false(p->listen_restricted);
        assert_int_equal(p->sections[1].kind, NETD_SECTION_DEFAULT);
        assert_int_equal(p->sections[1].quota[NETD_QUOTA_HANDLES], 100);
        assert_int_equal(p->sections[1].quota[NETD_QUOTA_CLIENTS], -1);
        u = &p->sections[2];
        assert_int_equal(u->kind, NETD_SECTION_USER);
        assert_int_equal(u->id, 0);
        assert_int_equal(u->n_listen, 3);
        assert_true(match(&u->listen[0], sa4("192.0.2.1", 80)));
        assert_true(match(&u->listen[1], sa6("::1", 443)));
        assert_true(match(&u->listen[2], sa4("127.0.0.1", 8005)));
        assert_false(match(&u->listen[2], sa4("127.0.0.1", 8011)));
        assert_int_equal(u->n_unix, 1);
        assert_string_equal(u->unix_prefixes[0], "/run/app/");
        assert_string_equal(u->inherit[0], "web");
        assert_int_equal(p->sections[3].kind, NETD_SECTION_GROUP);
        assert_int_equal(p->sections[3].quota[NETD_QUOTA_CLIENTS], 7);
        assert_int_equal(p->sections[3].quota[NETD_QUOTA_LOOKUPS], 2);
        netd_policy_free(p);
}

static void test_cidr_matching(void **state)
{
        struct netd_policy *p = parse_ok("[default]\n"
                                         "connect = 10.1.0.0/15 1-1023\n"
                                         "connect = 2001:db8::/33 *\n"
                                         "connect = 192.0.2.7 22\n");
        const struct netd_net_rule *r = p->sections[0].connect;

        assert_int_equal(p->sections[0].n_connect, 3);
        assert_true(match(&r[0], sa4("10.0.255.1", 1)));
        assert_true(match(&r[0], sa4("10.1.2.3", 1023)));
        assert_false(match(&r[0], sa4("10.2.0.0", 80)));
        assert_false(match(&r[0], sa4("10.1.2.3", 1024)));
        assert_false(match(&r[0], sa6("::1", 80)));
        /* An IPv4-mapped IPv6 address is its IPv4 address. */
        assert_true(match(&r[0], sa6("::ffff:10.1.0.9", 443)));
        assert_true(match(&r[1], sa6("2001:db8:7fff::1", 0)));
        assert_false(match(&r[1], sa6("2001:db8:8000::1", 65535)));
        assert_true(match(&r[2], sa4("192.0.2.7", 22)));
        assert_false(match(&r[2], sa4("192.0.2.8", 22)));
        netd_policy_free(p);
}

static void test_errors_name_the_line(void **state)
{
        parse_fails("[default]\nlisten = 127.0.0.1 eighty\n", "line 2:");
        parse_fails("[default]\nlisten = 127.0.0.1\n", "ADDRESS[/BITS] PORTS");
        parse_fails("[default]\n\n\nconnect = 10.0.0.0/33 *\n", "line 4:");
        parse_fails("[default]\nlisten = * 90-80\n", "empty");
        parse_fails("[default]\nlisten = * 70000\n", "0-65535");
        parse_fails("[user:no-such-user-netd-test]\n", "no such user");
        parse_fails("[group:no-such-group-netd-test]\n", "no such group");
        parse_fails("[elsewhere]\n", "unknown section");
        parse_fails("listen = * 80\n", "outside a section");
        parse_fails("[default]\nfrobnicate = 1\n", "unknown key 'frobnicate'");
        parse_fails("[default]\nunix = run/app\n", "absolute path");
        parse_fails("[default]\nunix = /run/../etc/\n", "absolute path");
        parse_fails("[default]\nhandlesPerUid = 0\n", "handlesPerUid takes");
        parse_fails("[default]\nhandlesPerUid\n", "key = value");
        parse_fails("[default\n", "section header");
        parse_fails("[global]\nlisten = * 80\n", "unknown key 'listen' in [global]");
}

static void test_empty_and_missing(void **state)
{
        struct netd_policy *p = parse_ok("");
        char err[200];

        assert_int_equal(p->n_sections, 0);
        assert_false(p->listen_restricted || p->connect_restricted);
        netd_policy_free(p);
        assert_int_equal(netd_policy_load("/nonexistent/netd.conf", true, &p, err, sizeof(err)), 0);
        netd_policy_free(p);
        assert_true(netd_policy_load("/nonexistent/netd.conf", false, &p, err, sizeof(err)) < 0);
        assert_non_null(strstr(err, "No such file"));
}

/*
 * A quota comes from the user's section, else the highest of its groups',
 * else [default], else the --limit value; root has none for handles.
 * adminGroup makes a member an admin.
 */
static void test_quota_precedence(void **state)
{
        struct netd_daemon d = { .policy = NULL };
        gid_t groups[] = { 4001, 4002 };
        struct netd_cred user = {
                .uid = 3000, .gid = 3000, .pidfd = -1, .groups = groups, .n_groups = 2
        };
        struct netd_cred other = { .uid = 3001, .gid = 3001, .pidfd = -1 };
        struct netd_cred grouped = { .uid = 3002, .gid = 4002, .pidfd = -1 };
        struct netd_cred root = { .uid = 0, .gid = 0, .pidfd = -1 };

        netd_limits_init(&d.limits);
        assert_int_equal(netd_auth_quota(&d, &other, NETD_QUOTA_HANDLES), 1024);
        d.policy = parse_ok("[global]\nadminGroup = 4002\n"
                            "[default]\nhandlesPerUid = 10\nlookupsPerUid = 5\n"
                            "[group:4001]\nhandlesPerUid = 20\n"
                            "[group:4002]\nhandlesPerUid = 30\nmaxClientsPerUid = 2\n"
                            "[user:3000]\nlookupsPerUid = 7\n");
        assert_int_equal(netd_auth_quota(&d, &user, NETD_QUOTA_HANDLES), 30);
        assert_int_equal(netd_auth_quota(&d, &user, NETD_QUOTA_LOOKUPS), 7);
        assert_int_equal(netd_auth_quota(&d, &user, NETD_QUOTA_CLIENTS), 2);
        assert_int_equal(netd_auth_quota(&d, &other, NETD_QUOTA_HANDLES), 10);
        assert_int_equal(netd_auth_quota(&d, &other, NETD_QUOTA_CLIENTS), 64);
        assert_int_equal(netd_auth_quota(&d, &other, NETD_QUOTA_BUFFERED), 256 * 1024 * 1024);
        assert_int_equal(netd_auth_quota(&d, &root, NETD_QUOTA_HANDLES), UINT32_MAX);
        assert_int_equal(netd_auth_quota(&d, &root, NETD_QUOTA_CLIENTS), 64);
        assert_true(netd_auth_is_admin(&d, &root));
        assert_true(netd_auth_is_admin(&d, &user)); /* 4002 is a supplementary group */
        assert_true(netd_auth_is_admin(&d, &grouped));
        assert_false(netd_auth_is_admin(&d, &other));
        netd_policy_free(d.policy);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sections_and_rules),
                cmocka_unit_test(test_cidr_matching),
                cmocka_unit_test(test_errors_name_the_line),
                cmocka_unit_test(test_empty_and_missing),
                cmocka_unit_test(test_quota_precedence),
        };

        return cmocka_run_group_tests_name("unit/config", tests, NULL, NULL);
}
