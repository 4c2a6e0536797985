/*
 * unit/session: the hooks of daemon/session.h, which the systemd fd store
 * relies on, on a real connection in process (a socketpair, as fuzz-rpc
 * does): created, rotated, armed (with the lingering servers listed),
 * dropped when the linger runs out, and nothing left behind.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "conn.h"
#include "daemon.h"
#include "server.h"
#include "session.h"

struct seen {
        unsigned events[_NETD_SESSION_EVENT_MAX];
        unsigned servers_armed; /* listening servers listed at ARMED */
        char token_at_create[NETD_SESSION_TOKEN_LEN + 1];
        char token_at_rotate[NETD_SESSION_TOKEN_LEN + 1];
};

static void count_server(struct netd_server *server, void *userdata)
{
        struct seen *s = userdata;

        assert_true(server->listening);
        s->servers_armed++;
}

static void hook(void *userdata, struct netd_session *session, enum netd_session_event e)
{
        struct seen *s = userdata;

        assert_non_null(netd_session_event_to_string(e));
        s->events[e]++;
        if (e == NETD_SESSION_CREATED)
                memcpy(s->token_at_create, session->token, sizeof(session->token));
        if (e == NETD_SESSION_ROTATED)
                memcpy(s->token_at_rotate, session->token, sizeof(session->token));
        if (e == NETD_SESSION_ARMED) {
                assert_null(session->conn);
                netd_session_foreach_server(session, count_server, s);
        }
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until cond (bounded: 5 s), reading what the daemon sent into out. */
#define RUN_UNTIL(d, fd, out, cond)                                                \
        do {                                                                       \
                int64_t dl_ = now_ms() + 5000;                                     \
                while (!(cond)) {                                                  \
                        ssize_t n_;                                                \
                        if (now_ms() > dl_)                                        \
                                fail_msg("timed out waiting for %s", #cond);       \
                        (void)event_base_loop((d)->base, EVLOOP_NONBLOCK);         \
                        if ((fd) >= 0) {                                           \
                                size_t l_ = strlen(out);                           \
                                n_ = read((fd), (out) + l_, sizeof(out) - 1 - l_); \
                                if (n_ > 0)                                        \
                                        (out)[l_ + (size_t)n_] = '\0';             \
                        }                                                          \
                        (void)poll(NULL, 0, 1);                                    \
                }                                                                  \
        } while (0)

static void send_str(int fd, const char *s)
{
        assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_hooks(void **state)
{
        static const struct netd_session_hooks hooks_tmpl = { .event = hook };
        struct netd_session_hooks hooks = hooks_tmpl;
        struct netd_limits limits;
        struct netd_daemon *d;
        struct netd_conn *c;
        static char out[16384];
        struct seen seen;
        int sv[2];

        netd_limits_init(&limits);
        assert_int_equal(netd_daemon_new(&limits, &d), 0);
        memset(&seen, 0, sizeof(seen));
        hooks.userdata = &seen;
        d->session_hooks = &hooks;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(netd_conn_new(d, sv[0], &c), 0);
        out[0] = '\0';
        send_str(sv[1], "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"net.createServer\"}\n"
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"server.listen\","
                        "\"params\":{\"server\":1,\"port\":0}}\n"
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"netd.detach\","
                        "\"params\":{\"lingerMs\":50}}\n");
        RUN_UNTIL(d, sv[1], out, strstr(out, "\"id\":3"));
        assert_non_null(strstr(out, "\"port\""));
        assert_int_equal(seen.events[NETD_SESSION_CREATED], 1);
        assert_non_null(strstr(out, seen.token_at_create));
        send_str(sv[1], "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"netd.detach\","
                        "\"params\":{\"lingerMs\":50}}\n");
        RUN_UNTIL(d, sv[1], out, strstr(out, "\"id\":4"));
        assert_int_equal(seen.events[NETD_SESSION_ROTATED], 1);
        assert_string_not_equal(seen.token_at_create, seen.token_at_rotate);
        assert_int_equal(seen.events[NETD_SESSION_ARMED], 0);

        /* The client goes: armed, with its server listed; then, 50 ms on, dropped. */
        close(sv[1]);
        RUN_UNTIL(d, -1, out, seen.events[NETD_SESSION_ARMED] == 1);
        assert_int_equal(seen.servers_armed, 1);
        assert_int_equal(d->n_sessions, 1);
        assert_int_equal(d->handles.count, 1);
        RUN_UNTIL(d, -1, out, seen.events[NETD_SESSION_DROPPED] == 1);
        assert_int_equal(d->n_sessions, 0);
        assert_int_equal(d->handles.count, 0);
        assert_int_equal(seen.events[NETD_SESSION_ATTACHED], 0);
        d = netd_daemon_free(d);
        (void)state;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hooks),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
