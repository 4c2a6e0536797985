/*
 * unit/notify: sd_notify spoken by hand (daemon/notify.c) to a fake
 * $NOTIFY_SOCKET, a path and an abstract name: READY=1 with STATUS=, the
 * watchdog's cadence at half of WATCHDOG_USEC and WATCHDOG_PID, RELOADING=1
 * with MONOTONIC_USEC=, STOPPING=1, FDSTORE=1 carrying a listening socket
 * and FDSTOREREMOVE=1; FDNAME= validation; and the SHA-256 that names
 * session descriptors in the store (FIPS 180-4 test vectors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <event2/event.h>

#include "../helpers/notify-sink.h"
#include "daemon.h"
#include "notify.h"
#include "sha256.h"

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- SHA-256 ------------------------------------------------------------------------------- */

static void test_sha256_vectors(void **state)
{
        char hex[65];
        static char million[1000000];
        struct netd_sha256 s;
        uint8_t md[32], md2[32];
        uint8_t msg[200];

        netd_sha256_hex("", 0, hex);
        assert_string_equal(hex,
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        netd_sha256_hex("abc", 3, hex);
        assert_string_equal(hex,
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        netd_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
        assert_string_equal(hex,
                            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        netd_sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
                        "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                        112, hex);
        assert_string_equal(hex,
                            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
        memset(million, 'a', sizeof(million));
        netd_sha256_hex(million, sizeof(million), hex);
        assert_string_equal(hex,
                            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

        /* Fed in two pieces split anywhere, the digest is the same as in one. */
        for (size_t i = 0; i < sizeof(msg); i++)
                msg[i] = (uint8_t)(i * 7 + 3);
        netd_sha256_init(&s);
        netd_sha256_update(&s, msg, sizeof(msg));
        netd_sha256_final(&s, md);
        for (size_t cut = 0; cut <= sizeof(msg); cut++) {
                netd_sha256_init(&s);
                netd_sha256_update(&s, msg, cut);
                netd_sha256_update(&s, msg + cut, sizeof(msg) - cut);
                netd_sha256_final(&s, md2);
                assert_memory_equal(md, md2, sizeof(md));
        }
}

/* ---- FDNAME= ------------------------------------------------------------------------------- */

static void test_fdname(void **state)
{
        char name[300];

        assert_true(netd_notify_fdname_is_valid("control"));
        assert_true(netd_notify_fdname_is_valid("netd.s1.1000.30000.7.ab"));
        assert_false(netd_notify_fdname_is_valid(""));
        assert_false(netd_notify_fdname_is_valid("a:b"));
        assert_false(netd_notify_fdname_is_valid("tab\there"));
        assert_false(netd_notify_fdname_is_valid("new\nline"));
        assert_false(netd_notify_fdname_is_valid("caf\xc3\xa9"));
        memset(name, 'x', 255);
        name[255] = '\0';
        assert_true(netd_notify_fdname_is_valid(name));
        name[255] = 'x';
        name[256] = '\0';
        assert_false(netd_notify_fdname_is_valid(name));
}

/* ---- The messages -------------------------------------------------------------------------- */

struct fixture {
        struct notify_sink sink;
        struct netd_daemon *d;
};

static void fixture_start(struct fixture *f, bool abstract, const char *watchdog_usec,
                          const char *watchdog_pid)
{
        struct netd_limits limits;

        notify_sink_open(&f->sink, abstract);
        setenv("NOTIFY_SOCKET", f->sink.env, 1);
        if (watchdog_usec)
                setenv("WATCHDOG_USEC", watchdog_usec, 1);
        else
                unsetenv("WATCHDOG_USEC");
        if (watchdog_pid)
                setenv("WATCHDOG_PID", watchdog_pid, 1);
        else
                unsetenv("WATCHDOG_PID");
        netd_limits_init(&limits);
        assert_int_equal(netd_daemon_new(&limits, &f->d), 0);
        assert_int_equal(netd_notify_new(f->d, &f->d->notify), 0);
        assert_true(netd_notify_enabled(f->d->notify));
}

static void fixture_stop(struct fixture *f)
{
        f->d = netd_daemon_free(f->d);
        notify_sink_close(&f->sink);
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
}

/* The next message, running the daemon's loop meanwhile; fails after 5 s. */
static char *next_msg(struct fixture *f, int *ret_fd)
{
        int64_t deadline = now_ms() + 5000;

        for (;;) {
                char *m = notify_sink_recv(&f->sink, ret_fd);
                struct pollfd pfd = { .fd = f->sink.fd, .events = POLLIN };

                if (m)
                        return m;
                if (now_ms() >= deadline)
                        fail_msg("no message on the notify socket within 5 s");
                (void)event_base_loop(f->d->base, EVLOOP_NONBLOCK);
                (void)poll(&pfd, 1, 5);
        }
}

static void check_ready_status_stopping(bool abstract)
{
        struct fixture f;
        char v[256], *m;

        fixture_start(&f, abstract, NULL, NULL);
        assert_int_equal(netd_notify_watchdog_usec(f.d->notify), 0);
        netd_notify_ready(f.d);
        m = next_msg(&f, NULL);
        assert_true(notify_msg_has(m, "READY=1"));
        assert_non_null(notify_msg_get(m, "STATUS", v, sizeof(v)));
        assert_string_equal(v, "0 clients, 0 servers, 0 sockets, 0 sessions; 0 B in, 0 B out");
        free(m);

        /* Unchanged: the refresh sends nothing. Changed: it sends the new line. */
        netd_notify_status_refresh(f.d);
        assert_null(notify_sink_recv(&f.sink, NULL));
        f.d->stats.bytes_in = 3 * 1024 * 1024 + 512 * 1024;
        f.d->stats.bytes_out = 100;
        netd_notify_status_refresh(f.d);
        m = next_msg(&f, NULL);
        assert_string_equal(
                m, "STATUS=0 clients, 0 servers, 0 sockets, 0 sessions; 3.5 MiB in, 100 B out");
        free(m);

        netd_notify_stopping(f.d);
        m = next_msg(&f, NULL);
        assert_true(notify_msg_has(m, "STOPPING=1"));
        assert_string_equal(notify_msg_get(m, "STATUS", v, sizeof(v)),
                            "Stopping: 0 clients, 0 bytes to flush");
        free(m);
        fixture_stop(&f);
}

static void test_ready_path(void **state)
{
        check_ready_status_stopping(false);
}

static void test_ready_abstract(void **state)
{
        check_ready_status_stopping(true);
}

/* WATCHDOG=1 at half of WATCHDOG_USEC: 5 pings, each gap inside the 600 ms period. */
static void test_watchdog_cadence(void **state)
{
        struct fixture f;
        int64_t at[5];
        int n = 0;
        char *m;

        fixture_start(&f, false, "600000", NULL);
        assert_int_equal(netd_notify_watchdog_usec(f.d->notify), 600000);
        /* A ping at once (an upgraded image must not wait half a period for its first). */
        m = notify_sink_recv(&f.sink, NULL);
        assert_non_null(m);
        assert_string_equal(m, "WATCHDOG=1");
        free(m);
        /* Before an upgrade's exec: the ping goes with RELOADING=1. */
        netd_notify_reloading(f.d);
        m = next_msg(&f, NULL);
        while (strcmp(m, "WATCHDOG=1") == 0) {
                free(m);
                m = next_msg(&f, NULL);
        }
        assert_true(notify_msg_has(m, "RELOADING=1") && notify_msg_has(m, "WATCHDOG=1"));
        free(m);
        while (n < 5) {
                m = next_msg(&f, NULL);

                if (strcmp(m, "WATCHDOG=1") == 0)
                        at[n++] = f.sink.last_ms; /* queued at, by the kernel */
                free(m);
        }
        /* Each gap inside the period; the pace (~300 ms) on average (see integration/systemd). */
        for (int i = 1; i < n; i++)
                if (at[i] - at[i - 1] >= 600)
                        fail_msg("ping %d came %lld ms after the previous one", i,
                                 (long long)(at[i] - at[i - 1]));
        if (at[n - 1] - at[0] < (n - 1) * 240)
                fail_msg("%d pings within %lld ms: faster than every 300 ms", n,
                         (long long)(at[n - 1] - at[0]));
        fixture_stop(&f);
}

/* WATCHDOG_PID names another process: the watchdog is not netd's. Its own pid: it is. */
static void test_watchdog_pid(void **state)
{
        struct fixture f;
        char pid[32];

        fixture_start(&f, true, "200000", "1");
        assert_int_equal(netd_notify_watchdog_usec(f.d->notify), 0);
        fixture_stop(&f);
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        fixture_start(&f, true, "200000", pid);
        assert_int_equal(netd_notify_watchdog_usec(f.d->notify), 200000);
        fixture_stop(&f);
        fixture_start(&f, true, "bogus", NULL);
        assert_int_equal(netd_notify_watchdog_usec(f.d->notify), 0);
        fixture_stop(&f);
}

static void test_reloading(void **state)
{
        struct fixture f;
        struct timespec ts;
        char v[64], *m, *end;
        unsigned long long usec, now;

        fixture_start(&f, false, NULL, NULL);
        netd_notify_reloading(f.d);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (unsigned long long)ts.tv_sec * 1000000 + (unsigned long long)ts.tv_nsec / 1000;
        m = next_msg(&f, NULL);
        assert_true(notify_msg_has(m, "RELOADING=1"));
        assert_non_null(notify_msg_get(m, "MONOTONIC_USEC", v, sizeof(v)));
        usec = strtoull(v, &end, 10);
        assert_true(*end == '\0' && usec <= now && usec + 5000000 > now);
        assert_false(notify_msg_has(m, "WATCHDOG=1")); /* no watchdog here */
        free(m);
        netd_notify_ready(f.d);
        m = next_msg(&f, NULL);
        assert_true(notify_msg_has(m, "READY=1"));
        free(m);
        fixture_stop(&f);
}

/* FDSTORE=1 carries a duplicate of the listening socket; FDSTOREREMOVE=1 names it. */
static void test_fdstore(void **state)
{
        struct sockaddr_in sin = { .sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct sockaddr_in got;
        socklen_t len = sizeof(sin);
        struct fixture f;
        int lfd, fd = -1, acc = 0;
        char *m;

        fixture_start(&f, false, NULL, NULL);
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(lfd >= 0);
        assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(listen(lfd, 4), 0);
        assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);

        assert_int_equal(netd_notify_fdstore_add(f.d, lfd, "bad:name"), -EINVAL);
        assert_int_equal(netd_notify_fdstore_add(f.d, lfd, "netd.test.1"), 1);
        m = next_msg(&f, &fd);
        assert_string_equal(m, "FDSTORE=1\nFDNAME=netd.test.1");
        free(m);
        assert_true(fd >= 0 && fd != lfd);
        len = sizeof(acc);
        assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len), 0);
        assert_int_equal(acc, 1);
        len = sizeof(got);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&got, &len), 0);
        assert_int_equal(got.sin_port, sin.sin_port);
        close(fd);

        assert_int_equal(netd_notify_fdstore_remove(f.d, "netd.test.1"), 1);
        m = next_msg(&f, &fd);
        assert_string_equal(m, "FDSTOREREMOVE=1\nFDNAME=netd.test.1");
        assert_int_equal(fd, -1);
        free(m);
        close(lfd);
        fixture_stop(&f);
}

/* Session names in the store: round trip, one spelling, the token only as its hash. */
static void test_fdstore_names(void **state)
{
        struct netd_fdstore_name n = { .uid = 1000,
                                       .linger_ms = 30000,
                                       .handle = 4503599627370497ULL,
                                       .flags = NETD_FDSTORE_OPT_NO_DELAY |
                                                NETD_FDSTORE_OPT_ALLOW_HALF_OPEN };
        struct netd_fdstore_name back;
        const char *token = "0123456789abcdef0123456789abcdef";
        char name[NETD_FDNAME_MAX + 1], bad[NETD_FDNAME_MAX + 8];

        netd_fdstore_token_hash(token, n.token_hash);
        assert_int_equal(netd_fdstore_name_format(&n, name, sizeof(name)), 0);
        assert_true(netd_notify_fdname_is_valid(name));
        assert_null(strstr(name, token));
        assert_non_null(strstr(name, n.token_hash));
        snprintf(bad, sizeof(bad), "netd-session.1.1000.30000.4503599627370497.5.%s", n.token_hash);
        assert_string_equal(name, bad);
        assert_int_equal(netd_fdstore_name_parse(name, &back), 0);
        assert_int_equal(back.uid, 1000);
        assert_int_equal(back.linger_ms, 30000);
        assert_true(back.handle == n.handle);
        assert_int_equal(back.flags, n.flags);
        assert_string_equal(back.token_hash, n.token_hash);

        assert_int_equal(netd_fdstore_name_parse("control", &back), -EINVAL);
        assert_int_equal(netd_fdstore_name_parse("netd-session.2.1.1.1.0.ab", &back), -EINVAL);
        snprintf(bad, sizeof(bad), "netd-session.1.1000.30000.0.5.%s", n.token_hash);
        assert_int_equal(netd_fdstore_name_parse(bad, &back), -EINVAL); /* no handle 0 */
        snprintf(bad, sizeof(bad), "netd-session.1.01000.30000.7.5.%s", n.token_hash);
        assert_int_equal(netd_fdstore_name_parse(bad, &back), -EINVAL); /* another spelling */
        snprintf(bad, sizeof(bad), "netd-session.1.1000.30000.7.5.%.63s", n.token_hash);
        assert_int_equal(netd_fdstore_name_parse(bad, &back), -EINVAL); /* short hash */
        snprintf(bad, sizeof(bad), "netd-session.1.1000.30000.7.5.%sx", n.token_hash);
        assert_int_equal(netd_fdstore_name_parse(bad, &back), -EINVAL); /* trailing text */
}

/* Outside systemd every call is a no-op that says so (0), and a bad name is still refused. */
static void test_outside_systemd(void **state)
{
        struct netd_limits limits;
        struct netd_daemon *d;

        unsetenv("NOTIFY_SOCKET");
        setenv("WATCHDOG_USEC", "200000", 1);
        netd_limits_init(&limits);
        assert_int_equal(netd_daemon_new(&limits, &d), 0);
        assert_int_equal(netd_notify_new(d, &d->notify), 0);
        assert_false(netd_notify_enabled(d->notify));
        assert_int_equal(netd_notify_watchdog_usec(d->notify), 0);
        assert_int_equal(netd_notify_send(d->notify, "READY=1", -1, true), 0);
        assert_int_equal(netd_notify_fdstore_add(d, 0, "x"), 0);
        assert_int_equal(netd_notify_fdstore_remove(d, "x:y"), -EINVAL);
        netd_notify_ready(d);
        netd_notify_stopping(d);
        (void)netd_daemon_free(d);
        unsetenv("WATCHDOG_USEC");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sha256_vectors),   cmocka_unit_test(test_fdname),
                cmocka_unit_test(test_ready_path),       cmocka_unit_test(test_ready_abstract),
                cmocka_unit_test(test_watchdog_cadence), cmocka_unit_test(test_watchdog_pid),
                cmocka_unit_test(test_reloading),        cmocka_unit_test(test_fdstore),
                cmocka_unit_test(test_outside_systemd),  cmocka_unit_test(test_fdstore_names),
        };

        return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
