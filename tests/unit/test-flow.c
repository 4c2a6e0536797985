/*
 * unit/flow: client-to-peer admission (daemon/flow.c). Each limit refuses
 * exactly the write that would pass it, names itself and what it counted;
 * the counts follow every socket's queue and go back to zero.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon.h"
#include "flow.h"
#include "owner.h"

static void setup_limits(struct netd_daemon *d)
{
        memset(d, 0, sizeof(*d));
        netd_limits_init(&d->limits);
        d->limits.write_hard_bytes = 1000;
        d->limits.conn_write_bytes = 1500;
        d->limits.total_write_bytes = 2000;
}

static void test_socket_limit(void **state)
{
        struct netd_daemon d;
        struct netd_owner c = { 0 };
        struct netd_flow_refusal fr;

        setup_limits(&d);
        assert_int_equal(netd_flow_admit(&d, &c, 0, 1000, &fr), 0);
        assert_int_equal(netd_flow_admit(&d, &c, 999, 1, &fr), 0);
        assert_int_equal(netd_flow_admit(&d, &c, 1000, 1, &fr), -ENOBUFS);
        assert_string_equal(fr.limit, "write_hard_bytes");
        assert_int_equal(fr.max, 1000);
        assert_int_equal(fr.queued, 1000);
        /* One write larger than the cap, on an empty queue: refused, no wrap-around. */
        assert_int_equal(netd_flow_admit(&d, &c, 0, 1001, &fr), -ENOBUFS);
        assert_int_equal(netd_flow_admit(&d, &c, 0, SIZE_MAX, &fr), -ENOBUFS);
        free(d.uids);
}

static void test_conn_and_total(void **state)
{
        struct netd_daemon d;
        struct netd_owner a = { 0 }, b = { 0 };
        struct netd_flow_refusal fr;
        size_t sa1 = 0, sa2 = 0, sb = 0;

        setup_limits(&d);
        netd_flow_account(&d, &a, &sa1, 900);
        netd_flow_account(&d, &a, &sa2, 500);
        assert_int_equal(a.queued_bytes, 1400);
        assert_int_equal(d.queued_bytes, 1400);
        /* A's second socket is under its own cap, but the connection's 1500 is not. */
        assert_int_equal(netd_flow_admit(&d, &a, 500, 101, &fr), -ENOBUFS);
        assert_string_equal(fr.limit, "conn_write_bytes");
        assert_int_equal(fr.queued, 1400);
        assert_int_equal(netd_flow_admit(&d, &a, 500, 100, &fr), 0);
        /* B alone is far from its connection's cap, but the daemon's 2000 is near. */
        netd_flow_account(&d, &b, &sb, 500);
        assert_int_equal(netd_flow_admit(&d, &b, 500, 101, &fr), -ENOBUFS);
        assert_string_equal(fr.limit, "total_write_bytes");
        assert_int_equal(fr.queued, 1900);
        /* A socket without an owner (its connection gone) counts for the daemon only. */
        assert_int_equal(netd_flow_admit(&d, NULL, 0, 100, &fr), 0);
        /* Queues drain: the counts follow and return to zero. */
        netd_flow_account(&d, &a, &sa1, 0);
        netd_flow_account(&d, &a, &sa2, 0);
        netd_flow_account(&d, &b, &sb, 0);
        assert_int_equal(a.queued_bytes, 0);
        assert_int_equal(b.queued_bytes, 0);
        assert_int_equal(d.queued_bytes, 0);
        assert_int_equal(sa1 + sa2 + sb, 0);
        free(d.uids);
}

/*
 * bufferedBytesPerUid counts every connection of one uid (not root's): two
 * connections of uid 4242 share 1200 bytes; a third user is not affected.
 */
static void test_uid_quota(void **state)
{
        struct netd_daemon d;
        struct netd_owner a = { 0 }, b = { 0 }, other = { 0 };
        struct netd_flow_refusal fr;
        size_t sa = 0, sb = 0;

        setup_limits(&d);
        d.limits.buffered_per_uid = 1200;
        a.cred.uid = b.cred.uid = 4242;
        other.cred.uid = 4343;
        netd_flow_account(&d, &a, &sa, 700);
        netd_flow_account(&d, &b, &sb, 400);
        assert_int_equal(netd_flow_admit(&d, &b, 400, 100, &fr), 0);
        assert_int_equal(netd_flow_admit(&d, &b, 400, 101, &fr), -ENOBUFS);
        assert_string_equal(fr.limit, "bufferedBytesPerUid");
        assert_int_equal(fr.queued, 1100);
        assert_int_equal(netd_flow_admit(&d, &other, 0, 500, &fr), 0);
        netd_flow_account(&d, &a, &sa, 0);
        netd_flow_account(&d, &b, &sb, 0);
        assert_int_equal(netd_flow_admit(&d, &b, 0, 1000, &fr), 0);
        free(d.uids);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_socket_limit),
                cmocka_unit_test(test_conn_and_total),
                cmocka_unit_test(test_uid_quota),
        };

        return cmocka_run_group_tests_name("flow", tests, NULL, NULL);
}
