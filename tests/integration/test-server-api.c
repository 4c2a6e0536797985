/*
 * Integration: the net.Server half of issue 3 ("every part of the net API,
 * with Node's semantics"), TCP and descriptor-passing forms (IPC paths are in
 * test-ipc.c). server.listen with port/host/backlog, the "::" dual-stack
 * default (an IPv4 peer shows as ::ffff:127.0.0.1), ipv6Only, reusePort,
 * exclusive, {handle:{fd}} over SCM_RIGHTS (listening, bound-only, UDP, a
 * bad index), {handle:{name}} from emulated systemd socket activation;
 * server.close (refuses new connections, keeps the old ones, 'close' after
 * the last and the reply after it, ERR_SERVER_NOT_RUNNING), address, get,
 * getConnections, ref/unref, maxConnections with server.drop, listen errors
 * (server.error, no close, retry); createServer options allowHalfOpen,
 * pauseOnConnect, noDelay/keepAlive (read back from netd's own descriptor
 * with pidfd_getfd() where the kernel allows it) and highWaterMark.
 *
 * Every daemon gets a private hosts file (localhost is 127.0.0.1 and ::1)
 * and a resolv.conf without nameservers: no lookup ever leaves the machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "netd-test.h"

/* ---- Helpers ------------------------------------------------------------------------------- */

/* Writes <dir>/hosts and an empty <dir>/resolv.conf; returns the two netd options. */
static void private_resolver(struct netd_test_daemon *t, char *hosts_arg, char *resolv_arg,
                             size_t size)
{
        char path[160];
        FILE *f;

        snprintf(path, sizeof(path), "%s/hosts", t->dir);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs("127.0.0.1 localhost\n::1 localhost\n", f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/resolv.conf", t->dir);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs("# no nameservers: only the hosts file resolves\n", f);
        fclose(f);
        snprintf(hosts_arg, size, "--hosts-file=%s/hosts", t->dir);
        snprintf(resolv_arg, size, "--resolv-conf=%s/resolv.conf", t->dir);
}

/*
 * Starts netd (the tests are NETD_TEST_MANUAL): the harness gives it the same
 * private hosts file and no nameserver. private_resolver() remains for the
 * test that execs netd itself (socket activation).
 */
static void start(struct netd_test_daemon *t)
{
        netd_test_launch(t, NULL);
}

#define SRV(id)  netd_test_handle_params("server", (id), NULL)
#define SOCK(id) netd_test_handle_params("socket", (id), NULL)

/* Calls method {key: id, ...extra (stolen, may be NULL)} and returns the result. */
static json_t *call_on(struct netd_test_client *tc, const char *method, const char *key,
                       uint64_t id, json_t *extra)
{
        return netd_test_call(tc, method, netd_test_handle_params(key, id, extra));
}

/* Calls a method whose result is true and drops it. */
static void call_true(struct netd_test_client *tc, const char *method, const char *key, uint64_t id,
                      json_t *extra)
{
        netd_test_call_true(tc, method, netd_test_handle_params(key, id, extra));
}

/* The n-th (0-based) event named method about subject, waiting for it. */
static json_t *wait_nth_event(struct netd_test_client *tc, const char *method, uint64_t subject,
                              size_t n)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        while (netd_test_count_events(tc, method, subject) <= n)
                (void)netd_test_pump(tc->t, -1, 0, deadline, method);
        for (size_t i = 0, k = 0; i < tc->n_events; i++) {
                if (strcmp(tc->events[i].method, method) != 0 ||
                    (subject && tc->events[i].subject != subject))
                        continue;
                if (k++ == n)
                        return tc->events[i].params;
        }
        return NULL;
}

/* A blocking TCP connect from the test to 127.0.0.1 (family AF_INET) or ::1; non-blocking after. */
static int tcp_connect(int family, int port)
{
        struct sockaddr_storage ss = { 0 };
        socklen_t len;
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        if (family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

                sin->sin_family = AF_INET;
                sin->sin_port = htons((uint16_t)port);
                sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                len = sizeof(*sin);
        } else {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons((uint16_t)port);
                sin6->sin6_addr = in6addr_loopback;
                len = sizeof(*sin6);
        }
        if (connect(fd, (struct sockaddr *)&ss, len) < 0)
                fail_msg("connect to port %d: %s", port, strerror(errno));
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        return fd;
}

static int local_port(int fd)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
        return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                       : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void peer_send(int fd, const char *s)
{
        assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Fetches the result of a *.get and checks one integer member. */
static void assert_get_int(struct netd_test_client *tc, const char *method, const char *key,
                           uint64_t id, const char *member, json_int_t want)
{
        json_t *res = call_on(tc, method, key, id, NULL);

        if (netd_test_int_at(res, member) != want)
                fail_msg("%s: %s is %lld, expected %lld in %s", method, member,
                         (long long)netd_test_int_at(res, member), (long long)want,
                         json_dumps(res, JSON_COMPACT));
        json_decref(res);
}

/* ---- Raw control connections with SCM_RIGHTS ------------------------------------------------ */

/* Sends one line with nfds descriptors attached to its bytes (one sendmsg()). */
static void raw_send_fds(struct netd_test_raw *r, const char *line, const int *fds, int nfds)
{
        union {
                char buf[CMSG_SPACE(sizeof(int) * 4)];
                struct cmsghdr align;
        } u;
        struct iovec iov = { .iov_base = (void *)line, .iov_len = strlen(line) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

        assert_true(nfds <= 4);
        if (nfds > 0) {
                struct cmsghdr *cm;

                memset(&u, 0, sizeof(u));
                msg.msg_control = u.buf;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
                cm = CMSG_FIRSTHDR(&msg);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
                memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
        }
        if (sendmsg(r->fd, &msg, MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
                fail_msg("sendmsg: %s", strerror(errno));
}

/* Reads lines until the reply with this id; every event on the way is appended to events. */
static json_t *raw_reply(struct netd_test_raw *r, json_int_t id, json_t *events)
{
        for (int i = 0; i < 1000; i++) {
                json_t *msg = netd_test_raw_recv(r);
                json_t *jid = json_object_get(msg, "id");

                if (jid && json_is_integer(jid) && json_integer_value(jid) == id)
                        return msg;
                if (!jid)
                        json_array_append(events, msg);
                json_decref(msg);
        }
        fail_msg("no reply with id %lld", (long long)id);
        return NULL;
}

/* A netd.sync round trip: every line sent before it has been handled completely. */
static void raw_sync(struct netd_test_raw *r, json_int_t id, json_t *events)
{
        char line[96];

        snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"netd.sync\"}\n",
                 (long long)id);
        netd_test_raw_send_str(r, line);
        json_decref(raw_reply(r, id, events));
}

/* The first event named method in events, reading more lines until it comes. */
static json_t *raw_event(struct netd_test_raw *r, json_t *events, const char *method)
{
        for (int i = 0; i < 1000; i++) {
                size_t k;
                json_t *ev;
                json_t *msg;

                json_array_foreach(events, k, ev) {
                        if (strcmp(json_string_value(json_object_get(ev, "method")), method) == 0)
                                return json_object_get(ev, "params");
                }
                msg = netd_test_raw_recv(r);
                if (!json_object_get(msg, "id"))
                        json_array_append(events, msg);
                json_decref(msg);
        }
        fail_msg("no %s event", method);
        return NULL;
}

/* ---- server.listen: TCP forms ---------------------------------------------------------------- */

/* listen(port, host, backlog) with an explicit port, a port as a decimal string, ::1 and a name. */
static void test_listen_port_host_backlog(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, srv2, srv3, srv4, ss;
        json_t *res, *conn;
        char want[128];
        int port, fd, port2;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        port = netd_test_free_port();
        res = netd_test_call(a, "server.listen",
                             json_pack("{s:I,s:i,s:s,s:i}", "server", (json_int_t)srv, "port", port,
                                       "host", "127.0.0.1", "backlog", 5));
        snprintf(want, sizeof(want), "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":%d}",
                 port);
        netd_test_assert_json(res, want);
        json_decref(res);
        /* server.listening came right before the reply. */
        assert_int_equal(netd_test_count_events(a, "server.listening", srv), 1);
        res = call_on(a, "server.address", "server", srv, NULL);
        netd_test_assert_json(res, want);
        json_decref(res);

        /* A plain TCP client is accepted, described from both ends. */
        fd = tcp_connect(AF_INET, port);
        conn = netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(conn, "remoteAddress", "127.0.0.1");
        netd_test_assert_str(conn, "remoteFamily", "IPv4");
        assert_int_equal(netd_test_int_at(conn, "remotePort"), local_port(fd));
        netd_test_assert_str(conn, "localAddress", "127.0.0.1");
        assert_int_equal(netd_test_int_at(conn, "localPort"), port);
        ss = netd_test_conn_socket(conn);
        {
                json_t *g = call_on(a, "socket.get", "socket", ss, NULL);

                assert_int_equal(netd_test_int_at(g, "server"), (json_int_t)srv);
                netd_test_assert_str(g, "remoteAddress", "127.0.0.1");
                assert_int_equal(netd_test_int_at(g, "remotePort"), local_port(fd));
                assert_int_equal(netd_test_int_at(g, "localPort"), port);
                json_decref(g);
        }
        peer_send(fd, "hi");
        (void)netd_test_wait_event(a, "socket.data", ss, NETD_TEST_TIMEOUT_MS);
        close(fd);

        /* The port as a decimal string (Node accepts "0"), on the IPv6 loopback. */
        srv2 = netd_test_create_server(a, NULL);
        res = netd_test_call(
                a, "server.listen",
                json_pack("{s:I,s:s,s:s}", "server", (json_int_t)srv2, "port", "0", "host", "::1"));
        netd_test_assert_str(res, "address", "::1");
        netd_test_assert_str(res, "family", "IPv6");
        port2 = (int)netd_test_int_at(res, "port");
        assert_true(port2 > 0);
        json_decref(res);
        fd = tcp_connect(AF_INET6, port2);
        conn = netd_test_wait_event(a, "server.connection", srv2, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(conn, "remoteAddress", "::1");
        netd_test_assert_str(conn, "remoteFamily", "IPv6");
        close(fd);

        /* A host name is resolved (hosts file) and the first address that binds wins. */
        srv3 = netd_test_create_server(a, NULL);
        res = netd_test_call(a, "server.listen",
                             json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv3, "port", 0,
                                       "host", "localhost"));
        netd_test_assert_str(res, "address", "127.0.0.1");
        netd_test_assert_str(res, "family", "IPv4");
        json_decref(res);

        /* path is ignored when port is given (Node). */
        {
                uint64_t srv5 = netd_test_create_server(a, NULL);
                char ignored[160];

                snprintf(ignored, sizeof(ignored), "%s/ignored.sock", t->dir);
                res = netd_test_call(a, "server.listen",
                                     json_pack("{s:I,s:i,s:s,s:s}", "server", (json_int_t)srv5,
                                               "port", 0, "host", "127.0.0.1", "path", ignored));
                netd_test_assert_str(res, "address", "127.0.0.1");
                assert_true(netd_test_int_at(res, "port") > 0);
                json_decref(res);
                assert_int_equal(access(ignored, F_OK), -1);
        }

        /* No port and no host at all: listen() binds an ephemeral port (Node). */
        srv4 = netd_test_create_server(a, NULL);
        res = call_on(a, "server.listen", "server", srv4, NULL);
        assert_true(netd_test_int_at(res, "port") > 0);
        json_decref(res);

        netd_test_assert_trace(a, srv, "listening connection");
        netd_test_assert_trace(a, srv3, "listening");
}

/* No host: "::" with IPV6_V6ONLY off, so an IPv4 peer is accepted as ::ffff:127.0.0.1. */
static void test_listen_dual_stack(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, ss, cs;
        json_t *res, *conn;
        int port, fd;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        res = netd_test_call(a, "server.listen",
                             json_pack("{s:I,s:i}", "server", (json_int_t)srv, "port", 0));
        netd_test_assert_str(res, "address", "::");
        netd_test_assert_str(res, "family", "IPv6");
        port = (int)netd_test_int_at(res, "port");
        json_decref(res);

        fd = tcp_connect(AF_INET, port);
        conn = netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(conn, "remoteAddress", "::ffff:127.0.0.1");
        netd_test_assert_str(conn, "remoteFamily", "IPv6");
        assert_int_equal(netd_test_int_at(conn, "remotePort"), local_port(fd));
        netd_test_assert_str(conn, "localAddress", "::ffff:127.0.0.1");
        assert_int_equal(netd_test_int_at(conn, "localPort"), port);
        ss = netd_test_conn_socket(conn);
        res = call_on(a, "socket.address", "socket", ss, NULL);
        netd_test_assert_str(res, "address", "::ffff:127.0.0.1");
        netd_test_assert_str(res, "family", "IPv6");
        json_decref(res);
        close(fd);

        /* A netd client over IPv4 and one over IPv6 both reach it. */
        cs = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);
        cs = netd_test_connect_tcp(a, port, "::1", NULL);
        (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);
        conn = wait_nth_event(a, "server.connection", srv, 2);
        netd_test_assert_str(conn, "remoteAddress", "::1");
}

/* ipv6Only: "::" no longer takes IPv4, so 127.0.0.1 on that port is refused. */
static void test_listen_ipv6_only(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, srv2, c4, c6;
        json_t *res, *err;
        char want[64];
        int port;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        res = netd_test_call(a, "server.listen",
                             json_pack("{s:I,s:i,s:s,s:b}", "server", (json_int_t)srv, "port", 0,
                                       "host", "::", "ipv6Only", 1));
        netd_test_assert_str(res, "address", "::");
        port = (int)netd_test_int_at(res, "port");
        json_decref(res);

        c4 = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.close", c4, NETD_TEST_TIMEOUT_MS);
        err = netd_test_find_event(a, "socket.error", c4);
        assert_non_null(err);
        netd_test_assert_str(err, "error.data.code", "ECONNREFUSED");
        snprintf(want, sizeof(want), "connect ECONNREFUSED 127.0.0.1:%d", port);
        netd_test_assert_str(err, "error.message", want);
        netd_test_assert_trace(a, c4, "error close");

        c6 = netd_test_connect_tcp(a, port, "::1", NULL);
        (void)netd_test_wait_event(a, "socket.ready", c6, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);

        /* Without a host, ipv6Only also means "::" only (no fallback to 0.0.0.0). */
        srv2 = netd_test_create_server(a, NULL);
        res = netd_test_call(a, "server.listen",
                             json_pack("{s:I,s:b}", "server", (json_int_t)srv2, "ipv6Only", 1));
        netd_test_assert_str(res, "address", "::");
        port = (int)netd_test_int_at(res, "port");
        json_decref(res);
        c4 = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.close", c4, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(netd_test_find_event(a, "socket.error", c4), "error.data.code",
                             "ECONNREFUSED");
}

/* reusePort: two servers on one port; without it the second bind is EADDRINUSE. exclusive: ok. */
static void test_listen_reuse_port_exclusive(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t s1, s2, s3, s4;
        json_t *res, *err, *ev;
        char want[128];
        int port;

        start(t);
        a = netd_test_connect(t);
        s1 = netd_test_create_server(a, NULL);
        s2 = netd_test_create_server(a, NULL);
        s3 = netd_test_create_server(a, NULL);
        s4 = netd_test_create_server(a, NULL);
        res = netd_test_call(a, "server.listen",
                             json_pack("{s:I,s:i,s:s,s:b}", "server", (json_int_t)s1, "port", 0,
                                       "host", "127.0.0.1", "reusePort", 1));
        port = (int)netd_test_int_at(res, "port");
        json_decref(res);
        res = netd_test_call(a, "server.listen",
                             json_pack("{s:I,s:i,s:s,s:b}", "server", (json_int_t)s2, "port", port,
                                       "host", "127.0.0.1", "reusePort", 1));
        assert_int_equal(netd_test_int_at(res, "port"), port);
        json_decref(res);

        err = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:i,s:s}", "server", (json_int_t)s3, "port", port,
                                            "host", "127.0.0.1"),
                                  -32000, "EADDRINUSE");
        snprintf(want, sizeof(want), "listen EADDRINUSE: address already in use 127.0.0.1:%d",
                 port);
        netd_test_assert_str(err, "message", want);
        snprintf(want, sizeof(want),
                 "{\"code\":\"EADDRINUSE\",\"errno\":-98,\"syscall\":\"listen\","
                 "\"address\":\"127.0.0.1\",\"port\":%d}",
                 port);
        netd_test_assert_json(json_object_get(err, "data"), want);
        /* The same error came first as server.error, and no server.close follows. */
        ev = netd_test_find_event(a, "server.error", s3);
        assert_non_null(ev);
        assert_true(json_equal(json_object_get(ev, "error"), err));
        json_decref(err);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        netd_test_assert_trace(a, s3, "error");

        /* exclusive is accepted and changes nothing. */
        res = netd_test_call(a, "server.listen",
                             json_pack("{s:I,s:i,s:s,s:b}", "server", (json_int_t)s4, "port", 0,
                                       "host", "127.0.0.1", "exclusive", 1));
        assert_true(netd_test_int_at(res, "port") > 0);
        json_decref(res);

        /* Both reusePort servers are listening and accept. */
        for (int i = 0; i < 8; i++) {
                uint64_t cs = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);

                (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);
        }
        netd_test_wait_until(t,
                             netd_test_count_events(a, "server.connection", s1) +
                                             netd_test_count_events(a, "server.connection", s2) ==
                                     8);
}

/* A listen error: server.error then the error reply, no close; listen may be retried. */
static void test_listen_error_then_retry(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv;
        json_t *err, *res, *g;
        long i_err;
        int busy_port, busy_fd, port;

        start(t);
        a = netd_test_connect(t);
        busy_fd = netd_test_tcp_socket(true, &busy_port);
        srv = netd_test_create_server(a, NULL);
        err = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv, "port",
                                            busy_port, "host", "127.0.0.1"),
                                  -32000, "EADDRINUSE");
        i_err = netd_test_event_index(a, "server.error", srv);
        assert_true(i_err >= 0);
        assert_true(json_equal(
                json_object_get(netd_test_find_event(a, "server.error", srv), "error"), err));
        json_decref(err);

        g = call_on(a, "server.get", "server", srv, NULL);
        assert_true(json_is_false(json_object_get(g, "listening")));
        assert_true(json_is_null(json_object_get(g, "address")));
        json_decref(g);
        res = call_on(a, "server.address", "server", srv, NULL);
        assert_true(json_is_null(res));
        json_decref(res);

        /* Twice more: each failure is its own server.error. */
        err = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv, "port",
                                            busy_port, "host", "127.0.0.1"),
                                  -32000, "EADDRINUSE");
        json_decref(err);

        port = netd_test_listen(a, srv, "127.0.0.1");
        assert_true(port != busy_port);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        netd_test_assert_trace(a, srv, "error error listening");
        close(busy_fd);
}

/* ERR_SERVER_ALREADY_LISTEN while listening; the server keeps listening. */
static void test_listen_twice(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv;
        json_t *err, *addr;
        int port;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, "127.0.0.1");
        err = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv, "port", 0,
                                            "host", "127.0.0.1"),
                                  -32001, "ERR_SERVER_ALREADY_LISTEN");
        json_decref(err);
        addr = call_on(a, "server.address", "server", srv, NULL);
        assert_int_equal(netd_test_int_at(addr, "port"), port);
        json_decref(addr);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        netd_test_assert_trace(a, srv, "listening");
}

/* ---- server.listen {handle} ---------------------------------------------------------------- */

/* {"handle":{"fd":0}} with SCM_RIGHTS on a raw control connection. */
static void test_listen_handle_fd(struct netd_test_daemon *t)
{
        struct netd_test_raw r;
        json_t *events = json_array(), *msg, *ev;
        json_int_t s1, s2, s3, s4;
        char line[256], want[128];
        int lfd, bfd, ufd, port1, port2, peer, peers[2], fds_before;

        start(t);
        netd_test_raw_open(t, &r);
        for (int i = 1; i <= 4; i++) {
                snprintf(line, sizeof(line),
                         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"net.createServer\"}\n", i);
                netd_test_raw_send_str(&r, line);
        }
        msg = raw_reply(&r, 1, events);
        s1 = netd_test_int_at(msg, "result.server");
        json_decref(msg);
        msg = raw_reply(&r, 2, events);
        s2 = netd_test_int_at(msg, "result.server");
        json_decref(msg);
        msg = raw_reply(&r, 3, events);
        s3 = netd_test_int_at(msg, "result.server");
        json_decref(msg);
        msg = raw_reply(&r, 4, events);
        s4 = netd_test_int_at(msg, "result.server");
        json_decref(msg);

        /* A listening socket: netd serves it as is. */
        lfd = netd_test_tcp_socket(true, &port1);
        snprintf(line, sizeof(line),
                 "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"server.listen\",\"params\":"
                 "{\"server\":%lld,\"handle\":{\"fd\":0}}}\n",
                 (long long)s1);
        raw_send_fds(&r, line, &lfd, 1);
        close(lfd);
        msg = raw_reply(&r, 10, events);
        snprintf(want, sizeof(want), "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":%d}",
                 port1);
        netd_test_assert_json(json_object_get(msg, "result"), want);
        json_decref(msg);
        peer = tcp_connect(AF_INET, port1);
        ev = raw_event(&r, events, "server.connection");
        assert_int_equal(netd_test_int_at(ev, "server"), s1);
        assert_int_equal(netd_test_int_at(ev, "localPort"), port1);
        assert_int_equal(netd_test_int_at(ev, "remotePort"), local_port(peer));

        /* Bound but not listening: netd puts it into listening state. */
        peers[0] = peer;
        bfd = netd_test_tcp_socket(false, &port2);
        snprintf(line, sizeof(line),
                 "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"server.listen\",\"params\":"
                 "{\"server\":%lld,\"handle\":{\"fd\":0},\"backlog\":8}}\n",
                 (long long)s2);
        raw_send_fds(&r, line, &bfd, 1);
        close(bfd);
        msg = raw_reply(&r, 11, events);
        assert_int_equal(netd_test_int_at(msg, "result.port"), port2);
        json_decref(msg);
        json_array_clear(events);
        peer = tcp_connect(AF_INET, port2);
        ev = raw_event(&r, events, "server.connection");
        assert_int_equal(netd_test_int_at(ev, "server"), s2);
        peers[1] = peer;

        /*
         * A UDP socket is not a stream: ERR_INVALID_FD_TYPE, and netd closes it. (The peers
         * above stay open, so netd's descriptor count only moves for the passed ones.)
         */
        fds_before = netd_test_daemon_fds(t);
        ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(ufd >= 0);
        snprintf(line, sizeof(line),
                 "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"server.listen\",\"params\":"
                 "{\"server\":%lld,\"handle\":{\"fd\":0}}}\n",
                 (long long)s3);
        raw_send_fds(&r, line, &ufd, 1);
        close(ufd);
        msg = raw_reply(&r, 12, events);
        assert_int_equal(netd_test_int_at(msg, "error.code"), -32001);
        netd_test_assert_str(msg, "error.data.code", "ERR_INVALID_FD_TYPE");
        json_decref(msg);
        raw_sync(&r, 112, events);
        assert_int_equal(netd_test_daemon_fds(t), fds_before);

        /* {"fd":1} with a single descriptor attached: -32602, and the descriptor is closed. */
        lfd = netd_test_tcp_socket(true, &port1);
        snprintf(line, sizeof(line),
                 "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"server.listen\",\"params\":"
                 "{\"server\":%lld,\"handle\":{\"fd\":1}}}\n",
                 (long long)s4);
        raw_send_fds(&r, line, &lfd, 1);
        close(lfd);
        msg = raw_reply(&r, 13, events);
        assert_int_equal(netd_test_int_at(msg, "error.code"), -32602);
        netd_test_assert_str(msg, "error.data.code", "ERR_INVALID_ARG_VALUE");
        netd_test_assert_str(msg, "error.data.field", "handle");
        json_decref(msg);
        raw_sync(&r, 113, events);
        assert_int_equal(netd_test_daemon_fds(t), fds_before);

        /* {"fd":0} with none attached: the same. */
        snprintf(line, sizeof(line),
                 "{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":\"server.listen\",\"params\":"
                 "{\"server\":%lld,\"handle\":{\"fd\":0}}}\n",
                 (long long)s4);
        netd_test_raw_send_str(&r, line);
        msg = raw_reply(&r, 14, events);
        assert_int_equal(netd_test_int_at(msg, "error.code"), -32602);
        netd_test_assert_str(msg, "error.data.code", "ERR_INVALID_ARG_VALUE");
        json_decref(msg);

        /* A listening UNIX socket: the result is its path. */
        {
                struct sockaddr_un sun = { .sun_family = AF_UNIX };
                char upath[108];
                int ufd2, upeer;

                snprintf(upath, sizeof(upath), "%s/passed.sock", t->dir);
                snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", upath);
                ufd2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                assert_int_equal(bind(ufd2, (struct sockaddr *)&sun, sizeof(sun)), 0);
                assert_int_equal(listen(ufd2, 4), 0);
                snprintf(line, sizeof(line),
                         "{\"jsonrpc\":\"2.0\",\"id\":16,\"method\":\"server.listen\",\"params\":"
                         "{\"server\":%lld,\"handle\":{\"fd\":0}}}\n",
                         (long long)s4);
                raw_send_fds(&r, line, &ufd2, 1);
                close(ufd2);
                msg = raw_reply(&r, 16, events);
                netd_test_assert_str(msg, "result", upath);
                json_decref(msg);
                json_array_clear(events);
                upeer = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                assert_int_equal(connect(upeer, (struct sockaddr *)&sun, sizeof(sun)), 0);
                ev = raw_event(&r, events, "server.connection");
                assert_int_equal(netd_test_int_at(ev, "server"), s4);
                assert_true(json_is_null(json_object_get(ev, "remoteAddress")));
                close(upeer);
        }

        /* The server whose listen was refused can still listen normally. */
        snprintf(line, sizeof(line),
                 "{\"jsonrpc\":\"2.0\",\"id\":15,\"method\":\"server.listen\",\"params\":"
                 "{\"server\":%lld,\"port\":0,\"host\":\"127.0.0.1\"}}\n",
                 (long long)s3);
        netd_test_raw_send_str(&r, line);
        msg = raw_reply(&r, 15, events);
        assert_true(netd_test_int_at(msg, "result.port") > 0);
        json_decref(msg);

        json_decref(events);
        netd_test_raw_close(&r);
        close(peers[0]);
        close(peers[1]);
}

/*
 * {"handle":{"name":"web"}} with systemd socket activation emulated: the test
 * binds the control socket and a TCP listener, and execs netd with them as
 * fds 3 and 4, LISTEN_FDS=2, LISTEN_PID=<netd's pid>, LISTEN_FDNAMES=control:web.
 */
static void test_listen_handle_name(struct netd_test_daemon *t)
{
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        char hosts_arg[192], resolv_arg[192], ready_arg[32], buf[16];
        int ctl, web, web_port, pipefd[2], log_fd, peer;
        struct netd_test_client *a;
        uint64_t srv, srv2;
        json_t *res, *err, *conn;
        size_t got = 0;
        int64_t deadline;

        private_resolver(t, hosts_arg, resolv_arg, sizeof(hosts_arg));
        ctl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(ctl >= 0);
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t->socket_path);
        assert_int_equal(bind(ctl, (struct sockaddr *)&sun, sizeof(sun)), 0);
        assert_int_equal(listen(ctl, 16), 0);
        web = netd_test_tcp_socket(true, &web_port);
        /* Out of the way of 3 and 4, so the child's dup2() calls cannot clobber them. */
        ctl = fcntl(ctl, F_DUPFD_CLOEXEC, 20);
        web = fcntl(web, F_DUPFD_CLOEXEC, 20);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pipefd[1] = fcntl(pipefd[1], F_DUPFD_CLOEXEC, 20);
        snprintf(ready_arg, sizeof(ready_arg), "--ready-fd=%d", pipefd[1]);
        log_fd = open(t->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        assert_true(log_fd >= 0);
        fflush(stdout);
        fflush(stderr);
        t->pid = fork();
        assert_true(t->pid >= 0);
        if (t->pid == 0) {
                const char *bin = getenv("NETD_BIN");
                char pid_env[32];

                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void)dup2(log_fd, STDOUT_FILENO);
                (void)dup2(log_fd, STDERR_FILENO);
                (void)dup2(ctl, 3); /* dup2() clears FD_CLOEXEC on the copy */
                (void)dup2(web, 4);
                (void)fcntl(pipefd[1], F_SETFD, 0);
                snprintf(pid_env, sizeof(pid_env), "%d", (int)getpid());
                setenv("LISTEN_PID", pid_env, 1);
                setenv("LISTEN_FDS", "2", 1);
                setenv("LISTEN_FDNAMES", "control:web", 1);
                execl(bin, bin, "--foreground", "--log-level=debug", ready_arg, hosts_arg,
                      resolv_arg, (char *)NULL);
                _exit(127);
        }
        close(log_fd);
        close(pipefd[1]);
        close(ctl);
        close(web);
        t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
        assert_true(t->pidfd >= 0);
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        while (got < 8 && netd_test_now_ms() < deadline) {
                struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
                ssize_t n;

                if (poll(&pfd, 1, (int)(deadline - netd_test_now_ms())) <= 0)
                        continue;
                n = read(pipefd[0], buf + got, sizeof(buf) - 1 - got);
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        close(pipefd[0]);
        buf[got] = '\0';
        if (strcmp(buf, "READY=1\n") != 0)
                fail_msg("socket-activated netd did not become ready (read \"%s\")", buf);

        /* The control socket is the inherited one; "web" is the TCP listener. */
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        res = netd_test_call(
                a, "server.listen",
                json_pack("{s:I,s:{s:s}}", "server", (json_int_t)srv, "handle", "name", "web"));
        netd_test_assert_str(res, "address", "127.0.0.1");
        assert_int_equal(netd_test_int_at(res, "port"), web_port);
        json_decref(res);
        peer = tcp_connect(AF_INET, web_port);
        conn = netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_test_int_at(conn, "localPort"), web_port);
        close(peer);

        /* A name can be taken once; an unknown name names no descriptor. */
        srv2 = netd_test_create_server(a, NULL);
        err = netd_test_call_fail(
                a, "server.listen",
                json_pack("{s:I,s:{s:s}}", "server", (json_int_t)srv2, "handle", "name", "web"),
                -32602, "ERR_INVALID_ARG_VALUE");
        netd_test_assert_str(err, "data.field", "handle");
        json_decref(err);
        err = netd_test_call_fail(
                a, "server.listen",
                json_pack("{s:I,s:{s:s}}", "server", (json_int_t)srv2, "handle", "name", "control"),
                -32602, "ERR_INVALID_ARG_VALUE");
        json_decref(err);
        err = netd_test_call_fail(
                a, "server.listen",
                json_pack("{s:I,s:{s:s}}", "server", (json_int_t)srv2, "handle", "name", "nope"),
                -32602, "ERR_INVALID_ARG_VALUE");
        json_decref(err);
}

/* ---- server.close, address, getConnections, get, ref/unref ---------------------------------- */

static void test_server_close(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        struct netd_test_close_result cr = { 0 };
        uint64_t srv, c1, c2, s1, s2, late;
        json_t *res, *err;
        int port, raw;

        start(t);
        a = netd_test_connect(t);
        cr.tc = a;
        srv = netd_test_create_server(a, NULL);
        cr.server = srv;
        res = call_on(a, "server.address", "server", srv, NULL);
        assert_true(json_is_null(res)); /* before listen */
        json_decref(res);
        port = netd_test_listen(a, srv, "127.0.0.1");
        c1 = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        s1 = netd_test_conn_socket(wait_nth_event(a, "server.connection", srv, 0));
        c2 = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        s2 = netd_test_conn_socket(wait_nth_event(a, "server.connection", srv, 1));
        (void)netd_test_wait_event(a, "socket.ready", c1, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(a, "socket.ready", c2, NETD_TEST_TIMEOUT_MS);
        res = call_on(a, "server.getConnections", "server", srv, NULL);
        assert_int_equal(json_integer_value(res), 2);
        json_decref(res);

        assert_int_equal(netd_client_server_close(a->c, srv, netd_test_server_close_cb, &cr), 0);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_false(cr.done);

        /* Not accepting any more: address() null, listening false, new connects refused. */
        res = call_on(a, "server.address", "server", srv, NULL);
        assert_true(json_is_null(res));
        json_decref(res);
        res = call_on(a, "server.get", "server", srv, NULL);
        assert_true(json_is_false(json_object_get(res, "listening")));
        assert_int_equal(netd_test_int_at(res, "connections"), 2);
        json_decref(res);
        late = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.close", late, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(netd_test_find_event(a, "socket.error", late), "error.data.code",
                             "ECONNREFUSED");
        raw = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        {
                struct sockaddr_in sin = { .sin_family = AF_INET,
                                           .sin_port = htons((uint16_t)port),
                                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                assert_int_equal(connect(raw, (struct sockaddr *)&sin, sizeof(sin)), -1);
                assert_int_equal(errno, ECONNREFUSED);
        }
        close(raw);
        /* Listening again while the close waits: ERR_SERVER_ALREADY_LISTEN (§6.4). */
        err = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv, "port", 0,
                                            "host", "127.0.0.1"),
                                  -32001, "ERR_SERVER_ALREADY_LISTEN");
        json_decref(err);

        /* The existing connections still carry data both ways. */
        call_true(a, "socket.write", "socket", c1, json_pack("{s:s}", "data", "ping"));
        call_true(a, "socket.write", "socket", s2, json_pack("{s:s}", "data", "pong"));
        netd_test_wait_until(t, netd_test_rx(a, s1)->len == 4 && netd_test_rx(a, c2)->len == 4);

        /* The first goes: no close yet. */
        call_true(a, "socket.destroy", "socket", c1, NULL);
        (void)netd_test_wait_event(a, "socket.close", s1, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_false(cr.done);
        assert_int_equal(netd_test_count_events(a, "server.close", srv), 0);
        res = call_on(a, "server.getConnections", "server", srv, NULL);
        assert_int_equal(json_integer_value(res), 1);
        json_decref(res);

        /* The last goes: its close, the server's close, then the reply. */
        call_true(a, "socket.end", "socket", s2, NULL);
        netd_test_wait_until(t, cr.done);
        if (!cr.ok)
                fail_msg("server.close failed: %s", cr.error);
        assert_true(cr.close_event_at >= 0);
        assert_true(netd_test_event_index(a, "socket.close", s2) < cr.close_event_at);
        assert_int_equal(netd_test_count_events(a, "server.close", srv), 1);
        netd_test_assert_trace(a, srv, "listening connection connection close");

        res = call_on(a, "server.address", "server", srv, NULL);
        assert_true(json_is_null(res)); /* after close */
        json_decref(res);
        res = call_on(a, "server.getConnections", "server", srv, NULL);
        assert_int_equal(json_integer_value(res), 0);
        json_decref(res);
        /* Closed for good: close again and listen are ERR_SERVER_NOT_RUNNING, no more events. */
        err = netd_test_call_fail(a, "server.close", SRV(srv), -32001, "ERR_SERVER_NOT_RUNNING");
        json_decref(err);
        err = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv, "port", 0,
                                            "host", "127.0.0.1"),
                                  -32001, "ERR_SERVER_NOT_RUNNING");
        json_decref(err);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, "server.close", srv), 1);
}

/* server.close on a server that is not listening: 'close' still comes, then the error. */
static void test_server_close_not_running(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, srv2;
        json_t *err;
        int busy_fd, busy_port;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        err = netd_test_call_fail(a, "server.close", SRV(srv), -32001, "ERR_SERVER_NOT_RUNNING");
        json_decref(err);
        assert_int_equal(netd_test_count_events(a, "server.close", srv), 1);
        netd_test_assert_trace(a, srv, "close");

        /* After a failed listen too (Node: the server is not running). */
        busy_fd = netd_test_tcp_socket(true, &busy_port);
        srv2 = netd_test_create_server(a, NULL);
        err = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv2, "port",
                                            busy_port, "host", "127.0.0.1"),
                                  -32000, "EADDRINUSE");
        json_decref(err);
        err = netd_test_call_fail(a, "server.close", SRV(srv2), -32001, "ERR_SERVER_NOT_RUNNING");
        json_decref(err);
        netd_test_assert_trace(a, srv2, "error close");
        close(busy_fd);
}

static void test_server_get_ref(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, srv2, cs;
        json_t *g;
        char want[256];
        int port;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        g = call_on(a, "server.get", "server", srv, NULL);
        netd_test_assert_json(g, "{\"listening\":false,\"maxConnections\":null,\"connections\":0,"
                                 "\"address\":null,\"ref\":true}");
        json_decref(g);

        port = netd_test_listen(a, srv, "127.0.0.1");
        g = call_on(a, "server.get", "server", srv, NULL);
        snprintf(want, sizeof(want),
                 "{\"listening\":true,\"maxConnections\":null,\"connections\":0,\"address\":"
                 "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":%d},\"ref\":true}",
                 port);
        netd_test_assert_json(g, want);
        json_decref(g);

        call_true(a, "server.unref", "server", srv, NULL);
        assert_get_int(a, "server.get", "server", srv, "connections", 0);
        g = call_on(a, "server.get", "server", srv, NULL);
        assert_true(json_is_false(json_object_get(g, "ref")));
        json_decref(g);
        /* unref is not a close: the server still accepts. */
        cs = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(a, "socket.ready", cs, NETD_TEST_TIMEOUT_MS);
        assert_get_int(a, "server.get", "server", srv, "connections", 1);
        call_true(a, "server.ref", "server", srv, NULL);
        g = call_on(a, "server.get", "server", srv, NULL);
        assert_true(json_is_true(json_object_get(g, "ref")));
        json_decref(g);

        /* An unref() before listen() persists (Node stores it). */
        srv2 = netd_test_create_server(a, NULL);
        call_true(a, "server.unref", "server", srv2, NULL);
        (void)netd_test_listen(a, srv2, "127.0.0.1");
        g = call_on(a, "server.get", "server", srv2, NULL);
        assert_true(json_is_false(json_object_get(g, "ref")));
        assert_true(json_is_true(json_object_get(g, "listening")));
        json_decref(g);
}

/* ---- maxConnections and server.drop --------------------------------------------------------- */

static void assert_drop(struct netd_test_client *a, uint64_t srv, size_t nth, int port, int peer)
{
        json_t *drop = wait_nth_event(a, "server.drop", srv, nth);
        char want[320];

        snprintf(want, sizeof(want),
                 "{\"server\":%llu,\"localAddress\":\"127.0.0.1\",\"localPort\":%d,"
                 "\"localFamily\":\"IPv4\",\"remoteAddress\":\"127.0.0.1\",\"remotePort\":%d,"
                 "\"remoteFamily\":\"IPv4\"}",
                 (unsigned long long)srv, port, local_port(peer));
        netd_test_assert_json(drop, want);
}

static void test_max_connections(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, c1, c2, s1;
        json_t *res, *err;
        int port, p2, p3, p4, p5;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, "127.0.0.1");
        res = netd_test_call(
                a, "server.set",
                json_pack("{s:I,s:i}", "server", (json_int_t)srv, "maxConnections", 1));
        netd_test_assert_json(res, "{\"maxConnections\":1}");
        json_decref(res);
        assert_get_int(a, "server.get", "server", srv, "maxConnections", 1);
        err = netd_test_call_fail(
                a, "server.set",
                json_pack("{s:I,s:i}", "server", (json_int_t)srv, "maxConnections", -1), -32602,
                "ERR_OUT_OF_RANGE");
        json_decref(err);

        c1 = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        s1 = netd_test_conn_socket(
                netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS));
        (void)netd_test_wait_event(a, "socket.ready", c1, NETD_TEST_TIMEOUT_MS);

        /* Over the cap: accepted and closed at once; the peer sees EOF, never data. */
        p2 = tcp_connect(AF_INET, port);
        assert_drop(a, srv, 0, port, p2);
        assert_int_equal(netd_test_peer_end(t, p2), 0);
        close(p2);
        /* A netd client that is dropped sees connect, then end, then close. */
        c2 = netd_test_connect_tcp(a, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(a, "socket.close", c2, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_trace(a, c2, "connect ready end close");
        (void)wait_nth_event(a, "server.drop", srv, 1);
        assert_int_equal(netd_test_count_events(a, "server.connection", srv), 1);
        res = call_on(a, "server.getConnections", "server", srv, NULL);
        assert_int_equal(json_integer_value(res), 1);
        json_decref(res);

        /* Once the connection is gone, there is room again. */
        call_true(a, "socket.destroy", "socket", s1, NULL);
        (void)netd_test_wait_event(a, "socket.close", c1, NETD_TEST_TIMEOUT_MS);
        p3 = tcp_connect(AF_INET, port);
        (void)wait_nth_event(a, "server.connection", srv, 1);
        close(p3);

        /* 0 drops every connection (Node >= 21). */
        res = netd_test_call(
                a, "server.set",
                json_pack("{s:I,s:i}", "server", (json_int_t)srv, "maxConnections", 0));
        netd_test_assert_json(res, "{\"maxConnections\":0}");
        json_decref(res);
        (void)netd_test_wait_event(
                a, "socket.close",
                netd_test_conn_socket(wait_nth_event(a, "server.connection", srv, 1)),
                NETD_TEST_TIMEOUT_MS);
        assert_get_int(a, "server.get", "server", srv, "connections", 0);
        p4 = tcp_connect(AF_INET, port);
        assert_drop(a, srv, 2, port, p4);
        assert_int_equal(netd_test_peer_end(t, p4), 0);
        close(p4);

        /* null removes the limit. */
        res = netd_test_call(a, "server.set",
                             json_pack("{s:I,s:n}", "server", (json_int_t)srv, "maxConnections"));
        netd_test_assert_json(res, "{\"maxConnections\":null}");
        json_decref(res);
        res = call_on(a, "server.get", "server", srv, NULL);
        assert_true(json_is_null(json_object_get(res, "maxConnections")));
        json_decref(res);
        p5 = tcp_connect(AF_INET, port);
        (void)wait_nth_event(a, "server.connection", srv, 2);
        assert_int_equal(netd_test_count_events(a, "server.drop", srv), 3);
        close(p5);
}

/* ---- createServer options ------------------------------------------------------------------- */

/* allowHalfOpen: the accepted socket stays writable after the peer's FIN, until socket.end. */
static void test_create_server_allow_half_open(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, srv2, ss, ss2;
        json_t *g;
        int port, port2, peer, peer2;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, json_pack("{s:b}", "allowHalfOpen", 1));
        port = netd_test_listen(a, srv, "127.0.0.1");
        peer = tcp_connect(AF_INET, port);
        ss = netd_test_conn_socket(
                netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS));
        peer_send(peer, "req");
        assert_int_equal(shutdown(peer, SHUT_WR), 0);
        (void)netd_test_wait_event(a, "socket.end", ss, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, "socket.close", ss), 0);
        g = call_on(a, "socket.get", "socket", ss, NULL);
        netd_test_assert_str(g, "readyState", "writeOnly");
        assert_true(json_is_false(json_object_get(g, "destroyed")));
        json_decref(g);
        call_true(a, "socket.write", "socket", ss, json_pack("{s:s}", "data", "resp"));
        netd_test_peer_expect(t, peer, "resp");
        call_true(a, "socket.end", "socket", ss, json_pack("{s:s}", "data", "!"));
        netd_test_peer_expect(t, peer, "!");
        assert_int_equal(netd_test_peer_end(t, peer), 0);
        (void)netd_test_wait_event(a, "socket.close", ss, NETD_TEST_TIMEOUT_MS);
        assert_true(json_is_false(
                json_object_get(netd_test_find_event(a, "socket.close", ss), "hadError")));
        netd_test_assert_trace(a, ss, "data+ end close");
        close(peer);

        /* Default (allowHalfOpen false): the FIN makes netd end its side at once. */
        srv2 = netd_test_create_server(a, NULL);
        port2 = netd_test_listen(a, srv2, "127.0.0.1");
        peer2 = tcp_connect(AF_INET, port2);
        ss2 = netd_test_conn_socket(
                netd_test_wait_event(a, "server.connection", srv2, NETD_TEST_TIMEOUT_MS));
        assert_int_equal(shutdown(peer2, SHUT_WR), 0);
        assert_int_equal(netd_test_peer_end(t, peer2), 0);
        (void)netd_test_wait_event(a, "socket.close", ss2, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_trace(a, ss2, "end close");
        close(peer2);
}

/* pauseOnConnect: nothing is read until socket.resume; then everything arrives. */
static void test_create_server_pause_on_connect(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, ss;
        json_t *g;
        int port, peer;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, json_pack("{s:b}", "pauseOnConnect", 1));
        port = netd_test_listen(a, srv, "127.0.0.1");
        peer = tcp_connect(AF_INET, port);
        peer_send(peer, "hello");
        ss = netd_test_conn_socket(
                netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS));
        for (int i = 0; i < 5; i++)
                assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, "socket.data", ss), 0);
        g = call_on(a, "socket.get", "socket", ss, NULL);
        assert_int_equal(netd_test_int_at(g, "bytesRead"), 0);
        assert_true(json_is_true(json_object_get(g, "paused")));
        json_decref(g);
        peer_send(peer, " world");
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, "socket.data", ss), 0);

        call_true(a, "socket.resume", "socket", ss, NULL);
        netd_test_wait_until(t, netd_test_rx(a, ss)->len == 11);
        assert_memory_equal(netd_test_rx(a, ss)->buf, "hello world", 11);
        g = call_on(a, "socket.get", "socket", ss, NULL);
        assert_int_equal(netd_test_int_at(g, "bytesRead"), 11);
        assert_true(json_is_false(json_object_get(g, "paused")));
        json_decref(g);
        close(peer);
}

/*
 * noDelay/keepAlive/keepAliveInitialDelay: applied to accepted sockets. The
 * options are read back from netd's descriptor (pidfd_getfd()) when the
 * kernel lets the test do so; otherwise only that the sockets work.
 */
static void test_create_server_nodelay_keepalive(struct netd_test_daemon *t)
{
        struct netd_test_client *a;
        uint64_t srv, plain, ss;
        json_t *g;
        int port, pport, peer, ppeer, nfd;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, json_pack("{s:b,s:b,s:i}", "noDelay", 1, "keepAlive", 1,
                                                   "keepAliveInitialDelay", 3500));
        port = netd_test_listen(a, srv, "127.0.0.1");
        plain = netd_test_create_server(a, NULL);
        pport = netd_test_listen(a, plain, "127.0.0.1");
        peer = tcp_connect(AF_INET, port);
        ss = netd_test_conn_socket(
                netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS));
        ppeer = tcp_connect(AF_INET, pport);
        (void)netd_test_wait_event(a, "server.connection", plain, NETD_TEST_TIMEOUT_MS);

        g = call_on(a, "socket.get", "socket", ss, NULL);
        netd_test_assert_str(g, "readyState", "open");
        json_decref(g);
        call_true(a, "socket.write", "socket", ss, json_pack("{s:s}", "data", "x"));
        netd_test_peer_expect(t, peer, "x");

        nfd = netd_test_fd_facing(t, peer);
        if (nfd == -2) {
                print_message("note: pidfd_getfd() not permitted; noDelay/keepAlive not read "
                              "back\n");
        } else {
                assert_true(nfd >= 0);
                assert_int_equal(netd_test_sockopt_int(nfd, IPPROTO_TCP, TCP_NODELAY), 1);
                assert_int_equal(netd_test_sockopt_int(nfd, SOL_SOCKET, SO_KEEPALIVE), 1);
                assert_int_equal(netd_test_sockopt_int(nfd, IPPROTO_TCP, TCP_KEEPIDLE),
                                 3); /* floored */
                close(nfd);
                nfd = netd_test_fd_facing(t, ppeer);
                assert_true(nfd >= 0);
                assert_int_equal(netd_test_sockopt_int(nfd, IPPROTO_TCP, TCP_NODELAY), 0);
                assert_int_equal(netd_test_sockopt_int(nfd, SOL_SOCKET, SO_KEEPALIVE), 0);
                close(nfd);
        }
        close(peer);
        close(ppeer);
}

struct write_done {
        bool done, ok;
        long drain_at; /* index of the first socket.drain of the socket when the reply came */
        struct netd_test_client *tc;
        uint64_t socket;
};

static void write_cb(struct netd_client *c, json_t *result, const struct netd_client_error *err,
                     void *userdata)
{
        struct write_done *w = userdata;

        w->done = true;
        w->ok = !err && json_is_true(result);
        w->drain_at = netd_test_event_index(w->tc, "socket.drain", w->socket);
}

/* highWaterMark: a write that leaves the queue at or over it is followed by one socket.drain. */
static void test_create_server_high_water_mark(struct netd_test_daemon *t)
{
        static char big[101];
        struct netd_test_client *a;
        struct write_done w = { 0 };
        uint64_t srv, ss;
        char buf[128];
        size_t got;
        int port, peer;

        start(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, json_pack("{s:i}", "highWaterMark", 16));
        port = netd_test_listen(a, srv, "127.0.0.1");
        peer = tcp_connect(AF_INET, port);
        ss = netd_test_conn_socket(
                netd_test_wait_event(a, "server.connection", srv, NETD_TEST_TIMEOUT_MS));

        /* Under the mark: no drain. */
        call_true(a, "socket.write", "socket", ss, json_pack("{s:s}", "data", "12345678"));
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, "socket.drain", ss), 0);

        /* Over it: the reply, then one drain. */
        memset(big, 'b', sizeof(big) - 1);
        w.tc = a;
        w.socket = ss;
        assert_int_equal(netd_client_socket_write_string(a->c, ss, big, NULL, write_cb, &w), 0);
        (void)netd_test_wait_event(a, "socket.drain", ss, NETD_TEST_TIMEOUT_MS);
        netd_test_wait_until(t, w.done);
        assert_true(w.ok);
        assert_int_equal(w.drain_at, -1); /* the drain came after the write's reply */
        assert_int_equal(netd_client_sync(a->c, NETD_TEST_TIMEOUT_MS), 0);
        assert_int_equal(netd_test_count_events(a, "socket.drain", ss), 1);
        assert_get_int(a, "socket.get", "socket", ss, "bufferSize", 0);
        assert_get_int(a, "socket.get", "socket", ss, "bytesWritten", 108);
        assert_int_equal(netd_test_peer_read(t, peer, buf, 108, &got), 0);
        close(peer);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST_MANUAL(test_listen_port_host_backlog),
                NETD_TEST_MANUAL(test_listen_dual_stack),
                NETD_TEST_MANUAL(test_listen_ipv6_only),
                NETD_TEST_MANUAL(test_listen_reuse_port_exclusive),
                NETD_TEST_MANUAL(test_listen_error_then_retry),
                NETD_TEST_MANUAL(test_listen_twice),
                NETD_TEST_MANUAL(test_listen_handle_fd),
                NETD_TEST_MANUAL(test_listen_handle_name),
                NETD_TEST_MANUAL(test_server_close),
                NETD_TEST_MANUAL(test_server_close_not_running),
                NETD_TEST_MANUAL(test_server_get_ref),
                NETD_TEST_MANUAL(test_max_connections),
                NETD_TEST_MANUAL(test_create_server_allow_half_open),
                NETD_TEST_MANUAL(test_create_server_pause_on_connect),
                NETD_TEST_MANUAL(test_create_server_nodelay_keepalive),
                NETD_TEST_MANUAL(test_create_server_high_water_mark),
        };

        return cmocka_run_group_tests_name("integration/server-api", tests, NULL, NULL);
}
