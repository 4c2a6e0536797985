/*
 * Integration: netd under systemd, with a fake $NOTIFY_SOCKET made by the
 * test (tests/helpers/notify-sink.h): READY=1 with a STATUS= of live
 * counts, STATUS= refreshed when they change, WATCHDOG=1 at half of
 * WATCHDOG_USEC for as long as netd runs, STOPPING=1 on SIGTERM; and the
 * fd store of detached sessions' listening sockets across a crash.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

#include "netd-test.h"
#include "notify-sink.h"
#include "sha256.h"

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
                            "0 clients, 0 servers, 0 sockets, 0 sessions; 0 B in, 0 B out");
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
 * WATCHDOG_USEC=1000000 on an abstract socket: a ping every 500 ms while
 * netd serves a client, every gap (the kernel's receive timestamps, not
 * when the test read them) shorter than the 1 s systemd allows. A second,
 * not less: on a loaded machine (2 cores, suites under ASan side by side)
 * netd's timer has been seen 250 ms late, and the test must not fail then.
 */
static void test_watchdog(struct netd_test_daemon *t)
{
        struct notify_sink sink;
        struct netd_test_client *a;
        int64_t at[6];
        json_t *info;
        int pings = 0;
        char *m;

        launch_notified(t, &sink, true, "1000000");
        free(wait_msg(t, &sink, "READY=1", NULL));
        a = netd_test_connect(t);
        while (pings < 6) {
                m = wait_msg(t, &sink, "WATCHDOG=1", NULL);
                free(m);
                at[pings++] = sink.last_ms;
                /* The loop keeps answering meanwhile. */
                info = netd_test_call(a, "netd.info", NULL);
                assert_int_equal(netd_test_int_at(info, "stats.watchdogUsec"), 1000000);
                json_decref(info);
        }
        /*
         * Each gap inside the period (what systemd checks). libevent keeps a
         * persistent timer on its schedule, so a late tick makes the next gap
         * shorter: the pace is checked on average, ~500 ms, not each gap.
         */
        for (int i = 1; i < pings; i++)
                if (at[i] - at[i - 1] >= 1000)
                        fail_msg("ping %d came %lld ms after the previous one (want < 1000)", i,
                                 (long long)(at[i] - at[i - 1]));
        if (at[pings - 1] - at[0] < (pings - 1) * 400)
                fail_msg("%d pings within %lld ms: faster than every 500 ms", pings,
                         (long long)(at[pings - 1] - at[0]));
        netd_test_stop(t);
        notify_sink_close(&sink);
}

/* ---- The fd store of detached sessions ------------------------------------------------------ */

/*
 * Starts netd as systemd would after a restart: the control socket ctl as
 * fd 3 ("control") and the n descriptors fds as 4, 5, ... named names[i],
 * LISTEN_PID its pid, NOTIFY_SOCKET sink's; waits for --ready-fd.
 */
static void launch_activated(struct netd_test_daemon *t, struct notify_sink *sink, int ctl,
                             const int *fds, const char *const *names, size_t n)
{
        char ready_arg[32], hosts_arg[192], resolv_arg[192], fdnames[2048], buf[16];
        int pipefd[2], log_fd, moved[8];
        size_t got = 0, off;
        int64_t deadline;

        assert_true(n < 8);
        snprintf(hosts_arg, sizeof(hosts_arg), "--hosts-file=%s/hosts", t->dir);
        snprintf(resolv_arg, sizeof(resolv_arg), "--resolv-conf=%s/resolv.conf", t->dir);
        off = (size_t)snprintf(fdnames, sizeof(fdnames), "control");
        for (size_t i = 0; i < n; i++)
                off += (size_t)snprintf(fdnames + off, sizeof(fdnames) - off, ":%s", names[i]);
        assert_true(off < sizeof(fdnames));
        /* Out of the way of 3, 4, ...: the child's dup2() calls must not clobber them. */
        ctl = fcntl(ctl, F_DUPFD_CLOEXEC, 30);
        for (size_t i = 0; i < n; i++)
                moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 30);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pipefd[1] = fcntl(pipefd[1], F_DUPFD_CLOEXEC, 30);
        snprintf(ready_arg, sizeof(ready_arg), "--ready-fd=%d", pipefd[1]);
        log_fd = open(t->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        assert_true(log_fd >= 0);
        fflush(stdout);
        fflush(stderr);
        t->pid = fork();
        assert_true(t->pid >= 0);
        if (t->pid == 0) {
                const char *bin = getenv("NETD_BIN");
                char pid_env[32], n_env[16];

                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void)dup2(log_fd, STDOUT_FILENO);
                (void)dup2(log_fd, STDERR_FILENO);
                (void)dup2(ctl, 3); /* dup2() clears FD_CLOEXEC on the copy */
                for (size_t i = 0; i < n; i++)
                        (void)dup2(moved[i], 4 + (int)i);
                (void)fcntl(pipefd[1], F_SETFD, 0);
                snprintf(pid_env, sizeof(pid_env), "%d", (int)getpid());
                snprintf(n_env, sizeof(n_env), "%zu", n + 1);
                setenv("LISTEN_PID", pid_env, 1);
                setenv("LISTEN_FDS", n_env, 1);
                setenv("LISTEN_FDNAMES", fdnames, 1);
                setenv("NOTIFY_SOCKET", sink->env, 1);
                execl(bin, bin, "--foreground", "--log-level=debug", ready_arg, hosts_arg,
                      resolv_arg, (char *)NULL);
                _exit(127);
        }
        close(log_fd);
        close(pipefd[1]);
        close(ctl);
        for (size_t i = 0; i < n; i++)
                close(moved[i]);
        t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
        assert_true(t->pidfd >= 0);
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        while (got < 8 && netd_test_now_ms() < deadline) {
                struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
                ssize_t r;

                if (poll(&pfd, 1, (int)(deadline - netd_test_now_ms())) <= 0)
                        continue;
                r = read(pipefd[0], buf + got, sizeof(buf) - 1 - got);
                if (r <= 0)
                        break;
                got += (size_t)r;
        }
        close(pipefd[0]);
        buf[got] = '\0';
        if (strcmp(buf, "READY=1\n") != 0) {
                netd_test_dump_log(t);
                fail_msg("socket-activated netd did not become ready (read \"%s\")", buf);
        }
}

/* The control socket systemd's netd.socket would hold: bound at t's path, listening. */
static int control_socket(struct netd_test_daemon *t)
{
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t->socket_path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
        assert_int_equal(listen(fd, 16), 0);
        return fd;
}

/* The harness's private resolver files (launch_activated() passes them). */
static void resolver_files(struct netd_test_daemon *t)
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
        fclose(f);
}

static int local_port(int fd)
{
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);

        assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
        return ntohs(sin.sin_port);
}

static bool is_listening(int fd)
{
        int acc = 0;
        socklen_t len = sizeof(acc);

        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 && acc == 1;
}

/* Connects to 127.0.0.1:port (blocking; the kernel completes it from the backlog). */
static int peer_connect(int port)
{
        struct sockaddr_in sin = { .sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
                fail_msg("connect to port %d: %s", port, strerror(errno));
        return fd;
}

static char *detach(struct netd_test_client *c, int linger_ms)
{
        json_t *res = netd_test_call(c, "netd.detach", json_pack("{s:i}", "lingerMs", linger_ms));
        char *token = strdup(json_string_value(json_object_get(res, "token")));

        assert_int_equal(strlen(token), 32);
        json_decref(res);
        return token;
}

/*
 * A session's servers go into the store when it detaches (and when one
 * starts listening later), under a name with the token's SHA-256 and the
 * server's id, never the token; a rotation renames them; a server that
 * closes, or the end of the session, takes them out.
 */
static void test_fdstore_follows_sessions(struct netd_test_daemon *t)
{
        struct notify_sink sink;
        struct netd_test_client *a, *b;
        uint64_t s1, s2;
        char *token, *token2, *m, name1[300], name2[300], hash[65], want[64], v[300];
        int fd, port1, port2;
        json_t *res;

        launch_notified(t, &sink, false, NULL);
        free(wait_msg(t, &sink, "READY=1", NULL));
        a = netd_test_connect(t);
        s1 = netd_test_create_server(a, NULL);
        port1 = netd_test_listen(a, s1, "127.0.0.1");

        /* netd.detach: the listening server goes into the store. */
        token = detach(a, 60000);
        m = wait_msg(t, &sink, "FDSTORE=1", &fd);
        assert_non_null(notify_msg_get(m, "FDNAME", name1, sizeof(name1)));
        free(m);
        netd_sha256_hex(token, strlen(token), hash);
        snprintf(want, sizeof(want), ".%llu.", (unsigned long long)s1);
        assert_non_null(strstr(name1, hash));
        assert_non_null(strstr(name1, want));
        assert_null(strstr(name1, token));
        assert_true(fd >= 0 && is_listening(fd));
        assert_int_equal(local_port(fd), port1);
        close(fd);
        res = netd_test_call(a, "netd.info", NULL);
        assert_int_equal(netd_test_int_at(res, "stats.fdStored"), 1);
        assert_int_equal(netd_test_int_at(res, "stats.watchdogUsec"), 0);
        json_decref(res);

        /* A server that starts listening in a detached session is stored too. */
        s2 = netd_test_create_server(a, NULL);
        port2 = netd_test_listen(a, s2, "127.0.0.1");
        m = wait_msg(t, &sink, "FDSTORE=1", &fd);
        assert_non_null(notify_msg_get(m, "FDNAME", name2, sizeof(name2)));
        free(m);
        snprintf(want, sizeof(want), ".%llu.", (unsigned long long)s2);
        assert_non_null(strstr(name2, want));
        assert_int_equal(local_port(fd), port2);
        close(fd);

        /* server.close: out of the store. */
        netd_test_call_true(a, "server.close", json_pack("{s:I}", "server", (json_int_t)s2));
        m = wait_msg(t, &sink, "FDSTOREREMOVE=1", NULL);
        assert_string_equal(notify_msg_get(m, "FDNAME", v, sizeof(v)), name2);
        free(m);
        res = netd_test_call(a, "netd.info", NULL);
        assert_int_equal(netd_test_int_at(res, "stats.fdStored"), 1);
        json_decref(res);

        /* A new token: the old name goes, the server comes back under the new one. */
        token2 = detach(a, 60000);
        m = wait_msg(t, &sink, "FDSTOREREMOVE=1", NULL);
        assert_string_equal(notify_msg_get(m, "FDNAME", v, sizeof(v)), name1);
        free(m);
        m = wait_msg(t, &sink, "FDSTORE=1", &fd);
        netd_sha256_hex(token2, strlen(token2), hash);
        assert_non_null(strstr(notify_msg_get(m, "FDNAME", name1, sizeof(name1)), hash));
        free(m);
        assert_int_equal(local_port(fd), port1);
        close(fd);

        /* The client goes and another attaches: the store keeps it, nothing is removed. */
        netd_test_disconnect(a);
        b = netd_test_connect(t);
        res = netd_test_call(b, "netd.attach", json_pack("{s:s}", "token", token2));
        json_decref(res);
        netd_test_disconnect(b);

        /* netctl close of the lingering session's server (nobody carries it): out of the store. */
        b = netd_test_connect(t);
        netd_test_call_true(b, "netd.close", json_pack("{s:I}", "handle", (json_int_t)s1));
        m = wait_msg(t, &sink, "FDSTOREREMOVE=1", NULL);
        assert_string_equal(notify_msg_get(m, "FDNAME", v, sizeof(v)), name1);
        free(m);
        netd_test_disconnect(b);

        /* A session nobody attaches to within its lingerMs: its server leaves the store. */
        b = netd_test_connect(t);
        s2 = netd_test_create_server(b, NULL);
        (void)netd_test_listen(b, s2, "127.0.0.1");
        free(detach(b, 100));
        m = wait_msg(t, &sink, "FDSTORE=1", &fd);
        assert_non_null(notify_msg_get(m, "FDNAME", name2, sizeof(name2)));
        free(m);
        close(fd);
        netd_test_disconnect(b);
        m = wait_msg(t, &sink, "FDSTOREREMOVE=1", NULL);
        assert_string_equal(notify_msg_get(m, "FDNAME", v, sizeof(v)), name2);
        free(m);
        free(token);
        free(token2);
        netd_test_stop(t);
        notify_sink_close(&sink);
}

/*
 * The crash: netd is SIGKILLed holding a detached session's listening
 * server; a peer connects while no netd runs (the kernel's backlog holds
 * it, systemd holds the socket); netd starts again with the control socket
 * and the stored descriptor in LISTEN_FDS. A wrong token finds nothing;
 * the right one gets the server under its old id, which accepts the
 * waiting connection and reads what the peer sent meanwhile.
 */
static void test_fdstore_restart(struct netd_test_daemon *t)
{
        struct notify_sink sink;
        struct netd_test_client *a, *b;
        char *token, *m, name[300], v[300];
        int ctl, stored, peer, port;
        uint64_t srv, sock;
        json_t *res, *err, *conn;
        const struct netd_test_rx *rx;
        int64_t deadline;

        netd_test_init(t);
        resolver_files(t);
        notify_sink_open(&sink, true);
        ctl = control_socket(t);
        launch_activated(t, &sink, ctl, NULL, NULL, 0);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, json_pack("{s:b}", "allowHalfOpen", 1));
        port = netd_test_listen(a, srv, "127.0.0.1");
        token = detach(a, 60000);
        m = wait_msg(t, &sink, "FDSTORE=1", &stored);
        assert_non_null(notify_msg_get(m, "FDNAME", name, sizeof(name)));
        free(m);
        assert_true(stored >= 0);

        /* The crash. */
        assert_int_equal(kill(t->pid, SIGKILL), 0);
        assert_int_equal(waitpid(t->pid, NULL, 0), t->pid);
        close(t->pidfd);
        t->pid = 0;
        t->pidfd = -1;
        netd_test_disconnect(a);

        /* Nobody runs: the port still takes connections, and what they send waits. */
        peer = peer_connect(port);
        assert_int_equal(send(peer, "while you were out", 18, MSG_NOSIGNAL), 18);

        launch_activated(t, &sink, ctl, &stored, (const char *const[]){ name }, 1);
        close(stored);
        free(wait_msg(t, &sink, "READY=1", NULL));

        b = netd_test_connect(t);
        err = netd_test_call_fail(b, "netd.attach",
                                  json_pack("{s:s}", "token", "0123456789abcdef0123456789abcdef"),
                                  -32001, "ERR_NETD_PERMISSION");
        json_decref(err);
        if (getuid() == 0) {
                /* The right token from another uid: refused alike, and the session stays. */
                struct netd_test_client *other;

                assert_int_equal(chmod(t->dir, 0711), 0);
                assert_int_equal(chmod(t->socket_path, 0666), 0);
                other = netd_test_connect_as(t, NETD_TEST_UID_NOBODY);

                err = netd_test_call_fail(other, "netd.attach", json_pack("{s:s}", "token", token),
                                          -32001, "ERR_NETD_PERMISSION");
                json_decref(err);
                netd_test_disconnect(other);
        }
        res = netd_test_call(b, "netd.attach", json_pack("{s:s}", "token", token));
        /*
         * The server, and the socket it accepted while the session lingered:
         * its server.connection was kept and follows the reply.
         */
        conn = netd_test_wait_event(b, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        sock = netd_test_conn_socket(conn);
        snprintf(v, sizeof(v), "[%llu,%llu]", (unsigned long long)srv, (unsigned long long)sock);
        netd_test_assert_json(json_object_get(res, "handles"), v);
        json_decref(res);
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        for (;;) {
                rx = netd_test_rx(b, sock);
                if (rx->len >= 18)
                        break;
                (void)netd_test_pump(t, -1, 0, deadline, "the peer's bytes");
        }
        assert_int_equal(rx->len, 18);
        assert_memory_equal(rx->buf, "while you were out", 18);
        /* And the other way: a live connection, from a server netd never saw listen. */
        netd_test_call_true(
                b, "socket.write",
                json_pack("{s:I,s:s}", "socket", (json_int_t)sock, "data", "welcome back"));
        netd_test_peer_expect(t, peer, "welcome back");

        /* Closing the server takes it out of the store. */
        netd_test_call_true(b, "socket.destroy", json_pack("{s:I}", "socket", (json_int_t)sock));
        netd_test_call_true(b, "server.close", json_pack("{s:I}", "server", (json_int_t)srv));
        m = wait_msg(t, &sink, "FDSTOREREMOVE=1", NULL);
        assert_string_equal(notify_msg_get(m, "FDNAME", v, sizeof(v)), name);
        free(m);
        close(peer);
        close(ctl);
        free(token);
        netd_test_stop(t);
        notify_sink_close(&sink);
}

/* The same for a UNIX server (server.listen {path}): its path comes back with it. */
static void test_fdstore_restart_unix(struct netd_test_daemon *t)
{
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        struct notify_sink sink;
        struct netd_test_client *a, *b;
        char *token, *m, name[300], path[96];
        int ctl, stored, peer;
        uint64_t srv;
        json_t *res;

        netd_test_init(t);
        resolver_files(t);
        notify_sink_open(&sink, false);
        ctl = control_socket(t);
        launch_activated(t, &sink, ctl, NULL, NULL, 0);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        snprintf(path, sizeof(path), "%s/app.sock", t->dir);
        res = netd_test_call(a, "server.listen",
                             json_pack("{s:I,s:s}", "server", (json_int_t)srv, "path", path));
        json_decref(res);
        token = detach(a, 60000);
        m = wait_msg(t, &sink, "FDSTORE=1", &stored);
        assert_non_null(notify_msg_get(m, "FDNAME", name, sizeof(name)));
        free(m);
        assert_true(stored >= 0 && is_listening(stored));

        assert_int_equal(kill(t->pid, SIGKILL), 0);
        assert_int_equal(waitpid(t->pid, NULL, 0), t->pid);
        close(t->pidfd);
        t->pid = 0;
        t->pidfd = -1;
        netd_test_disconnect(a);
        peer = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(peer >= 0);
        memcpy(sun.sun_path, path, strlen(path) + 1);
        assert_int_equal(connect(peer, (struct sockaddr *)&sun, sizeof(sun)), 0);

        launch_activated(t, &sink, ctl, &stored, (const char *const[]){ name }, 1);
        close(stored);
        b = netd_test_connect(t);
        res = netd_test_call(b, "netd.attach", json_pack("{s:s}", "token", token));
        json_decref(res);
        (void)netd_test_wait_event(b, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        res = netd_test_call(b, "server.address", json_pack("{s:I}", "server", (json_int_t)srv));
        assert_true(json_is_string(res));
        assert_string_equal(json_string_value(res), path);
        json_decref(res);
        close(peer);
        close(ctl);
        free(token);
        netd_test_stop(t);
        notify_sink_close(&sink);
}

/*
 * What systemd gives back that netd can't use (a name of another format
 * version, a session name on a socket that does not listen) is closed,
 * dropped from the store and logged; netd serves all the same, and no
 * client can take those descriptors by name.
 */
static void test_fdstore_unusable(struct netd_test_daemon *t)
{
        struct notify_sink sink;
        struct netd_test_client *a;
        char good_hash[65], bad_version[300], not_listening[300], v[300], *m;
        int ctl, fds[2];
        bool removed[2] = { false, false };
        uint64_t srv;
        json_t *err, *info;
        char *log;

        netd_test_init(t);
        resolver_files(t);
        notify_sink_open(&sink, false);
        ctl = control_socket(t);
        netd_sha256_hex("0123456789abcdef0123456789abcdef", 32, good_hash);
        snprintf(bad_version, sizeof(bad_version), "netd-session.9.0.1000.7.0.%s", good_hash);
        snprintf(not_listening, sizeof(not_listening), "netd-session.1.0.1000.7.0.%s", good_hash);
        fds[0] = netd_test_tcp_socket(true, &(int){ 0 });
        fds[1] = netd_test_tcp_socket(false, &(int){ 0 }); /* bound, not listening */
        launch_activated(t, &sink, ctl, fds, (const char *const[]){ bad_version, not_listening },
                         2);
        close(fds[0]);
        close(fds[1]);
        while (!removed[0] || !removed[1]) {
                m = wait_msg(t, &sink, "FDSTOREREMOVE=1", NULL);
                assert_non_null(notify_msg_get(m, "FDNAME", v, sizeof(v)));
                removed[0] |= strcmp(v, bad_version) == 0;
                removed[1] |= strcmp(v, not_listening) == 0;
                free(m);
        }
        free(wait_msg(t, &sink, "READY=1", NULL));

        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        err = netd_test_call_fail(a, "server.listen",
                                  json_pack("{s:I,s:{s:s}}", "server", (json_int_t)srv, "handle",
                                            "name", bad_version),
                                  -32602, "ERR_INVALID_ARG_VALUE");
        json_decref(err);
        info = netd_test_call(a, "netd.info", NULL);
        assert_int_equal(netd_test_int_at(info, "stats.sessions"), 0);
        assert_int_equal(netd_test_int_at(info, "stats.fdStored"), 0);
        json_decref(info);
        log = netd_test_read_file(t, "netd.log");
        assert_non_null(strstr(log, "Failed to rebuild a session's server"));
        free(log);
        close(ctl);
        netd_test_stop(t);
        notify_sink_close(&sink);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST_MANUAL(test_ready_status_stopping),
                NETD_TEST_MANUAL(test_watchdog),
                NETD_TEST_MANUAL(test_fdstore_follows_sessions),
                NETD_TEST_MANUAL(test_fdstore_restart),
                NETD_TEST_MANUAL(test_fdstore_restart_unix),
                NETD_TEST_MANUAL(test_fdstore_unusable),
        };

        return cmocka_run_group_tests_name("integration/systemd", tests, NULL, NULL);
}
