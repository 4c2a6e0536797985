/*
 * Integration: lifetimes. server.close waits for the server's connections
 * (Node: 'close' once they are all gone, then the reply); SIGTERM with
 * busy clients exits 0 and removes the control socket; a stale socket file
 * is replaced at start; a second netd on a live socket path refuses to
 * start and leaves the first one serving.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "netd-test.h"

static json_t *server_params(uint64_t server)
{
        return json_pack("{s:I}", "server", (json_int_t)server);
}

static void test_close_waits_for_connections(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        struct netd_test_close_result cr = { .tc = a };
        uint64_t srv, cs, ss = 0, late;
        json_t *conn, *res;
        long i_ss_close, i_srv_close;
        int port;

        srv = netd_test_create_server(a, NULL);
        cr.server = srv;
        port = netd_test_listen(a, srv, "127.0.0.1");
        cs = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        conn = netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_get_handle(conn, "socket", &ss), 0);
        (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);

        assert_int_equal(netd_client_server_close(a->c, srv, netd_test_server_close_cb, &cr), 0);
        /* Everything netd queued before this barrier has arrived: no reply, no 'close' yet. */
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_false(cr.done);
        assert_int_equal(netd_test_count_events(a, "server.close", srv), 0);

        /* It no longer listens: address() is null and new connections are refused. */
        res = netd_test_call(a, "server.address", server_params(srv));
        assert_true(json_is_null(res));
        json_decref(res);
        late = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.close", late, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(netd_test_find_event(a, "socket.error", late), "error.data.code",
                             "ECONNREFUSED");
        /* The open connection still works meanwhile. */
        {
                static const char msg[] = "still here";
                struct netd_test_flow flows[] = {
                        { .writer = a,
                          .socket = cs,
                          .data = (const uint8_t *)msg,
                          .len = sizeof(msg) - 1,
                          .reader = a,
                          .peer_socket = ss },
                };

                netd_test_run_flows(t, flows, 1, NETD_TEST_TIMEOUT_MS);
        }
        res = netd_test_call(a, "server.getConnections", server_params(srv));
        assert_int_equal(json_integer_value(res), 1);
        json_decref(res);
        assert_false(cr.done);

        /* The last connection goes: its 'close', then the server's, then the reply. */
        res = netd_test_call(a, "socket.destroy", json_pack("{s:I}", "socket", (json_int_t)ss));
        json_decref(res);
        netd_test_wait_until(t, cr.done);
        if (!cr.ok)
                fail_msg("server.close failed: %s", cr.error);
        assert_true(cr.close_event_at >= 0);
        i_ss_close = netd_test_event_index(a, "socket.close", ss);
        i_srv_close = netd_test_event_index(a, "server.close", srv);
        assert_true(i_ss_close >= 0 && i_ss_close < i_srv_close);
        assert_int_equal(netd_test_count_events(a, "server.close", srv), 1);

        res = netd_test_call(a, "server.address", server_params(srv));
        assert_true(json_is_null(res));
        json_decref(res);
        /* Closing again: Node's ERR_SERVER_NOT_RUNNING. */
        res = netd_test_call_fail(a, "server.close", server_params(srv), -32001,
                                  "ERR_SERVER_NOT_RUNNING");
        json_decref(res);
        {
                char *trace = netd_test_trace(a, srv);

                assert_string_equal(trace, "listening connection close");
                free(trace);
        }
}

/* server.close with no connections: 'close' and the reply at once. */
static void test_close_idle_server(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        uint64_t srv = netd_test_create_server(a, NULL);
        json_t *res;

        (void)netd_test_listen(a, srv, "127.0.0.1");
        netd_test_call_true(a, "server.close", server_params(srv));
        /* The event precedes the reply on the wire, so it is already here. */
        assert_int_equal(netd_test_count_events(a, "server.close", srv), 1);
        res = netd_test_call(a, "server.address", server_params(srv));
        assert_true(json_is_null(res));
        json_decref(res);
}

/* A server that never listened: 'close' is still emitted, then ERR_SERVER_NOT_RUNNING (Node). */
static void test_close_never_listened(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        uint64_t srv = netd_test_create_server(a, NULL);
        json_t *res;

        res = netd_test_call_fail(a, "server.close", server_params(srv), -32001,
                                  "ERR_SERVER_NOT_RUNNING");
        json_decref(res);
        assert_int_equal(netd_test_count_events(a, "server.close", srv), 1);
        /* Closed for good: listen is refused, and a second close sends no event. */
        res = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:i}", "server", (json_int_t)srv, "port", 0),
                                  -32001, "ERR_SERVER_NOT_RUNNING");
        json_decref(res);
        res = netd_test_call_fail(a, "server.close", server_params(srv), -32001,
                                  "ERR_SERVER_NOT_RUNNING");
        json_decref(res);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, "server.close", srv), 1);
}

struct reply {
        bool done;
        char data_code[64]; /* data.code of an error reply, "" for a result */
};

static void reply_cb(struct netd_client *c, json_t *result, const struct netd_client_error *err,
                     void *userdata)
{
        struct reply *r = userdata;

        r->done = true;
        snprintf(r->data_code, sizeof(r->data_code), "%s",
                 err ? (err->data_code ? err->data_code : "?") : "");
}

/*
 * server.close while server.listen resolves its host: the listen is
 * cancelled (ERR_SERVER_NOT_RUNNING, no 'listening' nor 'error'), 'close'
 * is still emitted and the close gets ERR_SERVER_NOT_RUNNING (PROTOCOL.md
 * §8.5, §8.6). Both requests go out in one write, so netd handles the close
 * before any DNS answer can arrive.
 */
static void test_close_during_listen_lookup(struct netd_test_daemon *t)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        char resolv[128], resolv_arg[160], line[64];
        const char *args[2] = { resolv_arg, NULL };
        struct netd_test_client *a;
        uint64_t srv;
        struct reply listen = { 0 }, closing = { 0 };
        char *trace;
        int dns, fd;

        /*
         * A nameserver on loopback that never answers keeps the lookup
         * pending: nothing leaves the machine, and the close surely comes first.
         */
        dns = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(dns >= 0);
        assert_int_equal(bind(dns, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(dns, (struct sockaddr *)&sa, &len), 0);
        snprintf(resolv, sizeof(resolv), "%s/resolv-silent.conf", t->dir);
        snprintf(line, sizeof(line), "nameserver 127.0.0.1:%d\n", ntohs(sa.sin_port));
        fd = open(resolv, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
        close(fd);
        snprintf(resolv_arg, sizeof(resolv_arg), "--resolv-conf=%s", resolv);
        netd_test_launch(t, args);

        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        assert_int_equal(
                netd_client_server_listen(a->c, srv, 0, "nowhere.test", -1, reply_cb, &listen), 0);
        assert_int_equal(netd_client_server_close(a->c, srv, reply_cb, &closing), 0);
        netd_test_wait_until(t, listen.done && closing.done);
        assert_string_equal(listen.data_code, "ERR_SERVER_NOT_RUNNING");
        assert_string_equal(closing.data_code, "ERR_SERVER_NOT_RUNNING");
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        trace = netd_test_trace(a, srv);
        assert_string_equal(trace, "close");
        free(trace);
        close(dns);
}

static void test_sigterm_with_busy_clients(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t), *b = netd_test_connect(t);
        uint64_t srv, cs;
        int port, fd, dead_port;
        json_t *res;

        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, NULL);
        cs = netd_test_connect_tcp(b, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(b, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        /* Unread events queued for A; for B a peer never accepted and a lookup maybe pending. */
        res = netd_test_call(b, "socket.write",
                             json_pack("{s:I,s:s}", "socket", (json_int_t)cs, "data", "unread"));
        json_decref(res);
        fd = netd_test_tcp_socket(true, &dead_port);
        (void)netd_test_connect_tcp(b, dead_port, "127.0.0.1", NULL);
        assert_int_equal(netd_client_notify(
                                 b->c, "net.connect",
                                 json_pack("{s:i,s:s}", "port", 80, "host", "nonexistent.invalid")),
                         0);
        assert_int_equal(netd_client_sync(b->c, NETD_TEST_TIMEOUT_MS), 0);

        netd_test_stop(t); /* asserts exit status 0 */

        /* Both clients see the connection end, and the socket file is gone. */
        netd_test_wait_until(t, a->lost && b->lost);
        assert_int_equal(access(t->socket_path, F_OK), -1);
        assert_int_equal(errno, ENOENT);
        close(fd);
}

static void test_sigint_exits_0(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t);
        uint64_t srv = netd_test_create_server(a, NULL);

        (void)netd_test_listen(a, srv, "127.0.0.1");
        netd_test_stop_signal(t, SIGINT);
        netd_test_wait_until(t, a->lost);
        assert_int_equal(access(t->socket_path, F_OK), -1);
}

/* The control socket is created 0600 (PROTOCOL.md §3.2): only netd's user can connect. */
static void test_socket_mode(struct netd_test_daemon *t)
{
        struct stat st;

        assert_int_equal(lstat(t->socket_path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
}

/* Bad usage exits 2 and touches nothing (netd --help). */
static void test_bad_usage(struct netd_test_daemon *t)
{
        char arg[192];
        int status;

        snprintf(arg, sizeof(arg), "--socket=%s/other.sock", t->dir);
        status = netd_test_run_other(
                t, (const char *const[]){ "--foreground", arg, "--max-line-bytes=10", NULL },
                "usage.log");
        assert_int_equal(status, 2);
        status = netd_test_run_other(
                t, (const char *const[]){ "--foreground", arg, "--no-such-option", NULL },
                "usage.log");
        assert_int_equal(status, 2);
        status = netd_test_run_other(t, (const char *const[]){ "--foreground", arg, "extra", NULL },
                                     "usage.log");
        assert_int_equal(status, 2);
        snprintf(arg, sizeof(arg), "%s/other.sock", t->dir);
        assert_int_equal(access(arg, F_OK), -1);
}

/* Binds a UNIX socket at path and closes it without unlinking: a stale socket file. */
static void make_stale_socket(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 1), 0);
        close(fd);
        assert_int_equal(access(path, F_OK), 0);
}

static void test_stale_socket_replaced(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        json_t *info;

        make_stale_socket(t->socket_path);
        netd_test_launch(t, NULL);
        a = netd_test_connect(t);
        info = netd_test_call(a, "netd.info", NULL);
        assert_int_equal(json_integer_value(json_object_get(info, "pid")), t->pid);
        json_decref(info);
}

/* A path that exists and is not a socket is never replaced: netd refuses to start. */
static void test_non_socket_path_refused(struct netd_test_daemon *t)
{
        char path[160], arg[192];
        char *log;
        int fd, status;

        snprintf(path, sizeof(path), "%s/not-a-socket", t->dir);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "keep", 4), 4);
        close(fd);
        snprintf(arg, sizeof(arg), "--socket=%s", path);
        status = netd_test_run_other(t, (const char *const[]){ "--foreground", arg, NULL },
                                     "refused.log");
        log = netd_test_read_file(t, "refused.log");
        if (status != 1 || !strstr(log, path))
                fail_msg("netd on a regular file: exit status %d (expected 1), output: %s", status,
                         log);
        free(log);
        log = netd_test_read_file(t, "not-a-socket");
        assert_string_equal(log, "keep");
        free(log);
}

static void test_second_daemon_refused(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t), *b;
        char arg[192];
        char *log;
        json_t *info;
        int status;

        snprintf(arg, sizeof(arg), "--socket=%s", t->socket_path);
        status = netd_test_run_other(t, (const char *const[]){ "--foreground", arg, NULL },
                                     "second.log");
        log = netd_test_read_file(t, "second.log");
        if (status == 0 || !strstr(log, t->socket_path))
                fail_msg("second netd: exit status %d (expected non-zero), output mentioning "
                         "%s expected: %s",
                         status, t->socket_path, log);
        assert_int_equal(status, 1); /* "1 on a start-up failure" (netd --help) */
        free(log);

        /* The first one is untouched: same socket file, old and new clients served. */
        assert_int_equal(access(t->socket_path, F_OK), 0);
        info = netd_test_call(a, "netd.info", NULL);
        assert_int_equal(json_integer_value(json_object_get(info, "pid")), t->pid);
        json_decref(info);
        b = netd_test_connect(t);
        info = netd_test_call(b, "netd.info", NULL);
        assert_int_equal(json_integer_value(json_object_get(info, "pid")), t->pid);
        json_decref(info);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_close_waits_for_connections),
                NETD_TEST(test_close_idle_server),
                NETD_TEST(test_close_never_listened),
                NETD_TEST_MANUAL(test_close_during_listen_lookup),
                NETD_TEST(test_sigterm_with_busy_clients),
                NETD_TEST(test_sigint_exits_0),
                NETD_TEST(test_socket_mode),
                NETD_TEST(test_bad_usage),
                NETD_TEST_MANUAL(test_stale_socket_replaced),
                NETD_TEST(test_non_socket_path_refused),
                NETD_TEST(test_second_daemon_refused),
        };

        return cmocka_run_group_tests_name("integration/lifecycle", tests, NULL, NULL);
}
