/*
 * Integration test of netctl: starts the real netd ($NETD_BIN) on a socket
 * in a mkdtemp() directory, waits for its READY=1 on --ready-fd, and runs
 * the real netctl ($NETCTL_BIN) with fork/exec, checking exit codes, stdout
 * and stderr, and (connect, listen) the bytes on TCP sockets this test owns.
 * Self-contained until tests/helpers/netd-test.h exists; every wait has a
 * deadline and nothing sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#define TEST_WAIT_MS 10000 /* the longest any single step may take */

struct test_daemon {
        pid_t pid;
        char dir[64];
        char sock[128];
        char log[128];
        const char *netctl; /* $NETCTL_BIN, borrowed from the environment */
};

/* A running netctl: its pid and our ends of its stdio pipes (-1 once closed). */
struct child {
        pid_t pid;
        int in;
        int out;
        int err;
};

/* Bytes read so far, always NUL-terminated. */
struct buf {
        char *data;
        size_t len;
};

static struct test_daemon daemon_state = { .pid = -1 };

static int64_t now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
        int64_t left = deadline - now_ms();

        return left < 0 ? 0 : (int)left;
}

static void buf_done(struct buf *b)
{
        free(b->data);
        *b = (struct buf){ 0 };
}

/* Reads what fd has into b. Returns the byte count, 0 at EOF. */
static ssize_t buf_read(struct buf *b, int fd)
{
        char chunk[4096];
        ssize_t n;

        do
                n = read(fd, chunk, sizeof(chunk));
        while (n < 0 && errno == EINTR);
        assert_true(n >= 0);
        if (n == 0)
                return 0; /* b->data stays NULL if nothing ever came */
        b->data = realloc(b->data, b->len + (size_t)n + 1);
        assert_non_null(b->data);
        memcpy(b->data + b->len, chunk, (size_t)n);
        b->len += (size_t)n;
        b->data[b->len] = '\0';
        return n;
}

/* Waits until fd is readable. Fails the test after the deadline. */
static void wait_readable(int fd, int64_t deadline)
{
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int r;

        do
                r = poll(&pfd, 1, left_ms(deadline));
        while (r < 0 && errno == EINTR);
        assert_int_equal(r, 1);
}

/* Reads fd into b until b holds want. Fails the test on EOF or after the deadline. */
static void read_until(int fd, struct buf *b, const char *want, int64_t deadline)
{
        while (!b->data || !strstr(b->data, want)) {
                wait_readable(fd, deadline);
                if (buf_read(b, fd) == 0)
                        fail_msg("EOF before \"%s\"; got \"%s\"", want, b->data ? b->data : "");
        }
}

/* Reads fd into b until EOF. Fails the test after the deadline. */
static void read_to_eof(int fd, struct buf *b, int64_t deadline)
{
        for (;;) {
                wait_readable(fd, deadline);
                if (buf_read(b, fd) == 0)
                        return;
        }
}

static void write_all(int fd, const char *s)
{
        size_t len = strlen(s);

        while (len > 0) {
                ssize_t n = write(fd, s, len);

                if (n < 0 && errno == EINTR)
                        continue;
                assert_true(n > 0);
                s += n;
                len -= (size_t)n;
        }
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

/* ---- netd ---------------------------------------------------------------------------------- */

static void dump_daemon_log(void)
{
        char line[512];
        FILE *f = fopen(daemon_state.log, "r");

        if (!f)
                return;
        fprintf(stderr, "---- netd log (%s) ----\n", daemon_state.log);
        while (fgets(line, sizeof(line), f))
                fputs(line, stderr);
        fprintf(stderr, "---- end of netd log ----\n");
        fclose(f);
}

/* Starts netd and waits for "READY=1\n" on its --ready-fd. Returns 0 or -1. */
static int group_setup(void **state)
{
        const char *netd = getenv("NETD_BIN");
        char ready_arg[32], socket_arg[160], got[16] = "";
        int ready[2], logfd;
        size_t got_len = 0;
        int64_t deadline;

        daemon_state.netctl = getenv("NETCTL_BIN");
        if (!netd || !daemon_state.netctl) {
                fprintf(stderr, "NETD_BIN and NETCTL_BIN must name the binaries\n");
                return -1;
        }
        /* netctl may exit before reading all of its stdin. */
        (void)signal(SIGPIPE, SIG_IGN);
        snprintf(daemon_state.dir, sizeof(daemon_state.dir), "/tmp/netd-test-XXXXXX");
        if (!mkdtemp(daemon_state.dir))
                return -1;
        snprintf(daemon_state.sock, sizeof(daemon_state.sock), "%s/netd.sock", daemon_state.dir);
        snprintf(daemon_state.log, sizeof(daemon_state.log), "%s/netd.log", daemon_state.dir);
        logfd = open(daemon_state.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (logfd < 0 || pipe2(ready, O_CLOEXEC) < 0)
                return -1;

        daemon_state.pid = fork();
        if (daemon_state.pid < 0)
                return -1;
        if (daemon_state.pid == 0) {
                int null = open("/dev/null", O_RDONLY);

                if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(logfd, STDOUT_FILENO) < 0 ||
                    dup2(logfd, STDERR_FILENO) < 0)
                        _exit(127);
                /* The ready fd must survive exec. */
                if (fcntl(ready[1], F_SETFD, 0) < 0)
                        _exit(127);
                snprintf(ready_arg, sizeof(ready_arg), "--ready-fd=%d", ready[1]);
                snprintf(socket_arg, sizeof(socket_arg), "--socket=%s", daemon_state.sock);
                execl(netd, netd, "--foreground", socket_arg, ready_arg, "--log-level=debug",
                      (char *)NULL);
                _exit(127);
        }
        close(logfd);
        close(ready[1]);

        deadline = now_ms() + TEST_WAIT_MS;
        while (!strstr(got, "READY=1\n")) {
                struct pollfd pfd = { .fd = ready[0], .events = POLLIN };
                ssize_t n;

                if (poll(&pfd, 1, left_ms(deadline)) <= 0) {
                        fprintf(stderr, "netd did not get ready within %d ms\n", TEST_WAIT_MS);
                        break;
                }
                n = read(ready[0], got + got_len, sizeof(got) - 1 - got_len);
                if (n <= 0) {
                        fprintf(stderr, "netd exited before it was ready\n");
                        break;
                }
                got_len += (size_t)n;
                got[got_len] = '\0';
                if (got_len == sizeof(got) - 1)
                        break;
        }
        close(ready[0]);
        if (!strstr(got, "READY=1\n")) {
                dump_daemon_log();
                return -1;
        }
        *state = &daemon_state;
        return 0;
}

/* Stops netd with SIGTERM; it must exit 0. Returns 0 or -1. */
static int group_teardown(void **state)
{
        int status = 0, ret = 0;

        if (daemon_state.pid > 0) {
                (void)kill(daemon_state.pid, SIGTERM);
                if (waitpid(daemon_state.pid, &status, 0) < 0 || !WIFEXITED(status) ||
                    WEXITSTATUS(status) != 0) {
                        fprintf(stderr, "netd did not exit cleanly (status 0x%x)\n", status);
                        dump_daemon_log();
                        ret = -1;
                }
        }
        (void)unlink(daemon_state.sock);
        (void)unlink(daemon_state.log);
        (void)rmdir(daemon_state.dir);
        return ret;
}

/* ---- netctl -------------------------------------------------------------------------------- */

/*
 * Starts netctl with --socket sock (none if NULL) and the NULL-terminated
 * args, its stdio on pipes.
 */
static void spawn_netctl(struct child *ch, const char *sock, const char *const *args)
{
        const char *argv[32];
        int in[2], out[2], err[2];
        size_t n = 0;

        argv[n++] = daemon_state.netctl;
        if (sock) {
                argv[n++] = "--socket";
                argv[n++] = sock;
        }
        for (; *args; args++) {
                assert_true(n < sizeof(argv) / sizeof(*argv) - 1);
                argv[n++] = *args;
        }
        argv[n] = NULL;

        assert_int_equal(pipe2(in, O_CLOEXEC), 0);
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        assert_int_equal(pipe2(err, O_CLOEXEC), 0);
        ch->pid = fork();
        assert_true(ch->pid >= 0);
        if (ch->pid == 0) {
                if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 ||
                    dup2(err[1], STDERR_FILENO) < 0)
                        _exit(127);
                /* Not from the caller's environment: netctl must use what it is told. */
                (void)unsetenv("NETD_SOCKET");
                execv(argv[0], (char *const *)argv);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        close(err[1]);
        ch->in = in[1];
        ch->out = out[0];
        ch->err = err[0];
}

/* Waits for netctl to exit (its stdout and stderr are at EOF). Returns its exit status. */
static int wait_child(struct child *ch)
{
        int status;

        close_fd(&ch->in);
        close_fd(&ch->out);
        close_fd(&ch->err);
        assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
        if (WIFSIGNALED(status))
                fail_msg("netctl died of signal %d", WTERMSIG(status));
        return WEXITSTATUS(status);
}

/* Reads netctl's stdout and stderr to EOF. Kills netctl and fails after the deadline. */
static void drain_child(struct child *ch, struct buf *out, struct buf *err, int64_t deadline)
{
        while (ch->out >= 0 || ch->err >= 0) {
                struct pollfd pfd[2] = {
                        { .fd = ch->out, .events = POLLIN },
                        { .fd = ch->err, .events = POLLIN },
                };
                int r = poll(pfd, 2, left_ms(deadline));

                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0) {
                        (void)kill(ch->pid, SIGKILL);
                        fail_msg("netctl did not finish in time; stdout \"%s\", stderr \"%s\"",
                                 out->data ? out->data : "", err->data ? err->data : "");
                }
                if (pfd[0].revents && buf_read(out, ch->out) == 0)
                        close_fd(&ch->out);
                if (pfd[1].revents && buf_read(err, ch->err) == 0)
                        close_fd(&ch->err);
        }
}

/*
 * Runs netctl on the test daemon's socket (or sock, if not NULL) with input
 * on stdin and the NULL-terminated arguments; collects stdout and stderr.
 * Returns its exit status.
 */
static int run_netctl_on(const char *sock, const char *input, struct buf *out, struct buf *err, ...)
{
        const char *args[24];
        struct child ch;
        size_t n = 0;
        va_list ap;

        va_start(ap, err);
        while ((args[n] = va_arg(ap, const char *)))
                n++;
        va_end(ap);

        *out = (struct buf){ 0 };
        *err = (struct buf){ 0 };
        spawn_netctl(&ch, sock, args);
        if (input)
                write_all(ch.in, input);
        close_fd(&ch.in);
        drain_child(&ch, out, err, now_ms() + TEST_WAIT_MS);
        return wait_child(&ch);
}

#define run_netctl(input, out, err, ...) \
        run_netctl_on(daemon_state.sock, input, out, err, __VA_ARGS__, (const char *)NULL)

/* ---- TCP ----------------------------------------------------------------------------------- */

/* A listening TCP socket on 127.0.0.1 and a port the kernel chose. */
static int tcp_listen(int *ret_port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 8), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

static int tcp_accept(int lfd)
{
        int fd;

        wait_readable(lfd, now_ms() + TEST_WAIT_MS);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}

static int tcp_connect(int port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

/* ---- RPC tier ------------------------------------------------------------------------------ */

static void test_isip(void **state)
{
        struct buf out, err;

        assert_int_equal(run_netctl(NULL, &out, &err, "isip", "::1"), 0);
        assert_string_equal(out.data, "6\n");
        buf_done(&out);
        buf_done(&err);

        assert_int_equal(run_netctl(NULL, &out, &err, "isip", "1.2.3.4"), 0);
        assert_string_equal(out.data, "4\n");
        buf_done(&out);
        buf_done(&err);

        assert_int_equal(run_netctl(NULL, &out, &err, "isip", "nope"), 0);
        assert_string_equal(out.data, "0\n");
        buf_done(&out);
        buf_done(&err);
}

static void test_info_json(void **state)
{
        struct buf out, err;
        json_error_t jerr;
        json_t *info;

        assert_int_equal(run_netctl(NULL, &out, &err, "--json", "info"), 0);
        /* One compact line. */
        assert_non_null(out.data);
        assert_ptr_equal(strchr(out.data, '\n'), out.data + out.len - 1);
        info = json_loads(out.data, 0, &jerr);
        if (!info)
                fail_msg("not JSON (%s): %s", jerr.text, out.data);
        assert_true(json_is_string(json_object_get(info, "version")));
        assert_true(json_is_integer(json_object_get(info, "pid")));
        json_decref(info);
        buf_done(&out);
        buf_done(&err);

        /* Options may follow the command. */
        assert_int_equal(run_netctl(NULL, &out, &err, "info", "--json"), 0);
        assert_non_null(strstr(out.data, "\"version\""));
        buf_done(&out);
        buf_done(&err);
}

static void test_info_human(void **state)
{
        struct buf out, err;

        assert_int_equal(run_netctl(NULL, &out, &err, "info"), 0);
        assert_non_null(strstr(out.data, "version:"));
        assert_non_null(strstr(out.data, "uptime:"));
        assert_non_null(strstr(out.data, "connections:"));
        buf_done(&out);
        buf_done(&err);

        /* -q: the exit status only, as a liveness check. */
        assert_int_equal(run_netctl(NULL, &out, &err, "-q", "info"), 0);
        assert_null(out.data);
        buf_done(&out);
        buf_done(&err);
}

static void test_call(void **state)
{
        struct buf out, err;

        assert_int_equal(
                run_netctl(NULL, &out, &err, "call", "net.isIPv4", "{\"input\":\"1.2.3.4\"}"), 0);
        assert_string_equal(out.data, "true\n");
        buf_done(&out);
        buf_done(&err);

        /* Params from stdin. */
        assert_int_equal(run_netctl("{\"input\": \"::1\"}\n", &out, &err, "call", "net.isIP", "-"),
                         0);
        assert_string_equal(out.data, "6\n");
        buf_done(&out);
        buf_done(&err);
}

static void test_call_errors(void **state)
{
        struct buf out, err;

        assert_int_equal(run_netctl(NULL, &out, &err, "call", "nope"), 1);
        assert_null(out.data);
        assert_non_null(err.data);
        assert_non_null(strstr(err.data, "-32601"));
        assert_non_null(strstr(err.data, "netctl: Method not found (-32601)"));
        buf_done(&out);
        buf_done(&err);

        /* --json: only netd's error object, on one line. */
        assert_int_equal(run_netctl(NULL, &out, &err, "--json", "call", "nope"), 1);
        assert_string_equal(err.data, "{\"code\":-32601,\"message\":\"Method not found\","
                                      "\"data\":{\"method\":\"nope\"}}\n");
        buf_done(&out);
        buf_done(&err);

        /* A Node-style error: "netctl: <message> (<data.code>)". */
        assert_int_equal(run_netctl(NULL, &out, &err, "call", "net.isIP", "{\"bogus\":1}"), 1);
        assert_non_null(strstr(err.data, "(ERR_INVALID_ARG_VALUE)"));
        assert_non_null(strstr(err.data, "\"code\":-32602"));
        buf_done(&out);
        buf_done(&err);
}

static void test_notify(void **state)
{
        struct buf out, err;

        assert_int_equal(run_netctl(NULL, &out, &err, "notify", "net.isIP", "{\"input\":\"x\"}"),
                         0);
        assert_null(out.data);
        assert_null(err.data);
        buf_done(&out);
        buf_done(&err);
}

static void test_unreachable(void **state)
{
        char path[160];
        struct buf out, err;

        snprintf(path, sizeof(path), "%s/no-such.sock", daemon_state.dir);
        assert_int_equal(run_netctl_on(path, NULL, &out, &err, "info", (const char *)NULL), 2);
        assert_non_null(strstr(err.data, "netctl: cannot connect"));
        assert_non_null(strstr(err.data, "(ENOENT)"));
        buf_done(&out);
        buf_done(&err);
}

static void test_usage(void **state)
{
        static const char *const cases[][4] = {
                { NULL },
                { "frobnicate", NULL },
                { "isip", NULL },
                { "isip", "1", "2", NULL },
                { "call", "m", "{bad", NULL },
                { "call", "m", "42", NULL },
                { "connect", "127.0.0.1", "70000", NULL },
                { "listen", "x", NULL },
                { "--bogus", "info", NULL },
                { "--timeout", "soon", "info", NULL },
        };
        struct buf out, err;

        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                struct child ch;

                out = (struct buf){ 0 };
                err = (struct buf){ 0 };
                spawn_netctl(&ch, daemon_state.sock, (const char *const *)cases[i]);
                drain_child(&ch, &out, &err, now_ms() + TEST_WAIT_MS);
                assert_int_equal(wait_child(&ch), 3);
                assert_non_null(err.data);
                assert_non_null(strstr(err.data, "Try 'netctl --help'."));
                buf_done(&out);
                buf_done(&err);
        }

        /* A usage error wins over an unreachable daemon. */
        assert_int_equal(run_netctl_on("/nonexistent/netd.sock", NULL, &out, &err, "call", "m", "[",
                                       (const char *)NULL),
                         3);
        buf_done(&out);
        buf_done(&err);
}

static void test_help_version(void **state)
{
        static const char *const verbs[] = { "call", "connect", "help",   "info",
                                             "isip", "listen",  "notify", "version" };
        struct buf out, err;
        const char *p;

        assert_int_equal(run_netctl(NULL, &out, &err, "help"), 0);
        /* Every command, in the table's sorted order. */
        p = out.data;
        for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++) {
                char needle[32];

                snprintf(needle, sizeof(needle), "\n  %s ", verbs[i]);
                p = strstr(p, needle);
                if (!p)
                        fail_msg("\"%s\" missing or out of order in:\n%s", verbs[i], out.data);
        }
        assert_non_null(strstr(out.data, "Exit status:"));
        buf_done(&out);
        buf_done(&err);

        assert_int_equal(run_netctl(NULL, &out, &err, "--help"), 0);
        assert_non_null(strstr(out.data, "Usage: netctl"));
        buf_done(&out);
        buf_done(&err);

        assert_int_equal(run_netctl(NULL, &out, &err, "version"), 0);
        assert_memory_equal(out.data, "netctl ", 7);
        buf_done(&out);
        buf_done(&err);
}

/* ---- Data-plane tier ----------------------------------------------------------------------- */

/*
 * The peer ends first: netctl still owns its direction, so it exits only
 * once its stdin has ended too (each direction half-closes on its own).
 */
static void test_connect(void **state)
{
        struct buf out = { 0 }, err = { 0 }, got = { 0 };
        int64_t deadline = now_ms() + TEST_WAIT_MS;
        char port_s[16];
        struct child ch;
        int lfd, fd, port;

        lfd = tcp_listen(&port);
        snprintf(port_s, sizeof(port_s), "%d", port);
        spawn_netctl(&ch, daemon_state.sock,
                     (const char *const[]){ "connect", "127.0.0.1", port_s, NULL });
        write_all(ch.in, "hello");
        fd = tcp_accept(lfd);
        read_until(fd, &got, "hello", deadline);
        assert_string_equal(got.data, "hello");
        write_all(fd, "world\n");
        close(fd);

        read_until(ch.out, &out, "world\n", deadline);
        close_fd(&ch.in);
        drain_child(&ch, &out, &err, deadline);
        if (wait_child(&ch) != 0)
                fail_msg("netctl connect failed: %s", err.data ? err.data : "");
        assert_string_equal(out.data, "world\n");
        assert_null(err.data);
        close(lfd);
        buf_done(&out);
        buf_done(&err);
        buf_done(&got);
}

/* stdin's EOF half-closes: the peer reads to its EOF, then still answers. */
static void test_connect_half_close(void **state)
{
        struct buf out = { 0 }, err = { 0 }, got = { 0 };
        int64_t deadline = now_ms() + TEST_WAIT_MS;
        char port_s[16];
        struct child ch;
        int lfd, fd, port;

        lfd = tcp_listen(&port);
        snprintf(port_s, sizeof(port_s), "%d", port);
        spawn_netctl(&ch, daemon_state.sock,
                     (const char *const[]){ "connect", "127.0.0.1", port_s, NULL });
        write_all(ch.in, "ping");
        close_fd(&ch.in);
        fd = tcp_accept(lfd);
        read_to_eof(fd, &got, deadline);
        assert_string_equal(got.data, "ping");
        write_all(fd, "pong");
        close(fd);

        drain_child(&ch, &out, &err, deadline);
        if (wait_child(&ch) != 0)
                fail_msg("netctl connect failed: %s", err.data ? err.data : "");
        assert_string_equal(out.data, "pong");
        close(lfd);
        buf_done(&out);
        buf_done(&err);
        buf_done(&got);
}

/* A closed port: socket.error, exit 1, "netctl: connect ECONNREFUSED ... (ECONNREFUSED)". */
static void test_connect_refused(void **state)
{
        struct buf out, err;
        char port_s[16];
        int lfd, port;

        lfd = tcp_listen(&port);
        close(lfd); /* nothing listens there any more */
        snprintf(port_s, sizeof(port_s), "%d", port);
        assert_int_equal(run_netctl(NULL, &out, &err, "connect", "127.0.0.1", port_s), 1);
        assert_non_null(err.data);
        assert_non_null(strstr(err.data, "netctl: connect ECONNREFUSED"));
        assert_non_null(strstr(err.data, "(ECONNREFUSED)"));
        buf_done(&out);
        buf_done(&err);
}

static void test_listen(void **state)
{
        struct buf out = { 0 }, err = { 0 }, got = { 0 };
        int64_t deadline = now_ms() + TEST_WAIT_MS;
        struct child ch;
        const char *p;
        int fd, port;

        spawn_netctl(&ch, daemon_state.sock,
                     (const char *const[]){ "listen", "127.0.0.1", "0", NULL });
        read_until(ch.err, &err, "\n", deadline);
        p = strstr(err.data, "listening on 127.0.0.1:");
        if (!p)
                fail_msg("unexpected stderr: %s", err.data);
        port = atoi(p + strlen("listening on 127.0.0.1:"));
        assert_true(port > 0 && port < 65536);

        fd = tcp_connect(port);
        write_all(fd, "abc");
        read_until(ch.out, &out, "abc", deadline);
        write_all(ch.in, "xyz");
        close_fd(&ch.in);
        read_to_eof(fd, &got, deadline);
        assert_string_equal(got.data, "xyz");
        close(fd);

        drain_child(&ch, &out, &err, deadline);
        if (wait_child(&ch) != 0)
                fail_msg("netctl listen failed: %s", err.data);
        assert_string_equal(out.data, "abc");
        assert_non_null(strstr(err.data, "connection from 127.0.0.1:"));
        buf_done(&out);
        buf_done(&err);
        buf_done(&got);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_isip),
                cmocka_unit_test(test_info_json),
                cmocka_unit_test(test_info_human),
                cmocka_unit_test(test_call),
                cmocka_unit_test(test_call_errors),
                cmocka_unit_test(test_notify),
                cmocka_unit_test(test_unreachable),
                cmocka_unit_test(test_usage),
                cmocka_unit_test(test_help_version),
                cmocka_unit_test(test_connect),
                cmocka_unit_test(test_connect_half_close),
                cmocka_unit_test(test_connect_refused),
                cmocka_unit_test(test_listen),
        };

        return cmocka_run_group_tests_name("integration/netctl", tests, group_setup,
                                           group_teardown);
}
