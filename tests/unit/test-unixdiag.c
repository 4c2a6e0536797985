/*
 * unit/unixdiag: daemon/unixdiag.c against real sockets: the peer of a
 * connected UNIX socket is found, its unread bytes are counted exactly as
 * they come and go (a partial read included), a socket that is gone is an
 * error, and a socket that isn't UNIX has no peer to find.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "unixdiag.h"

static int diag;

static int setup(void **state)
{
        (void)state;
        diag = netd_unixdiag_open();
        return diag < 0 ? -1 : 0;
}

static int teardown(void **state)
{
        (void)state;
        close(diag);
        return 0;
}

static void test_unread_follows_reads(void **state)
{
        int sv[2];
        uint64_t ino = 0;
        uint32_t unread = 99;
        struct stat st;
        char buf[4096];

        (void)state;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        assert_int_equal(netd_unixdiag_peer(diag, sv[0], &ino), 0);
        assert_int_equal(fstat(sv[1], &st), 0);
        assert_int_equal(ino, (uint64_t)st.st_ino);
        assert_int_equal(netd_unixdiag_unread(diag, ino, &unread), 0);
        assert_int_equal(unread, 0);
        assert_int_equal(write(sv[0], "hello\n", 6), 6);
        assert_int_equal(write(sv[0], "world\n", 6), 6);
        assert_int_equal(netd_unixdiag_unread(diag, ino, &unread), 0);
        assert_int_equal(unread, 12);
        assert_int_equal(read(sv[1], buf, 3), 3); /* inside the first write */
        assert_int_equal(netd_unixdiag_unread(diag, ino, &unread), 0);
        assert_int_equal(unread, 9);
        assert_int_equal(read(sv[1], buf, sizeof(buf)), 9);
        assert_int_equal(netd_unixdiag_unread(diag, ino, &unread), 0);
        assert_int_equal(unread, 0);
        close(sv[1]);
        /* Gone: the kernel has no socket with that inode any more. */
        assert_true(netd_unixdiag_unread(diag, ino, &unread) < 0);
        close(sv[0]);
}

static void test_not_unix(void **state)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        uint64_t ino = 0;

        (void)state;
        assert_true(fd >= 0);
        assert_true(netd_unixdiag_peer(diag, fd, &ino) < 0);
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unread_follows_reads),
                cmocka_unit_test(test_not_unix),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
