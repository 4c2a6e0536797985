/*
 * The integration test harness (see netd-test.h). It owns the daemon
 * process of each test (fork/exec, readiness pipe, pidfd, SIGTERM and exit
 * check), the test directory, the clients a test opened (freed at
 * teardown) and their recorded events. Assertions inside library callbacks
 * would longjmp through libnetdclient, so callbacks only record, and the
 * checks run once control is back in the test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
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
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "netd-test.h"

/* The tail of the daemon log printed on failure: enough for the last few requests. */
#define NETD_TEST_LOG_DUMP_MAX_BYTES (256 * 1024)

/* ---- Time ---------------------------------------------------------------------------------- */

int64_t netd_test_now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t netd_test_deadline(int timeout_ms)
{
        return netd_test_now_ms() + timeout_ms;
}

static int remaining_ms(int64_t deadline)
{
        int64_t left = deadline - netd_test_now_ms();

        return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* ---- The daemon process -------------------------------------------------------------------- */

static int pidfd_open_(pid_t pid)
{
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

void netd_test_init(struct netd_test_daemon *t)
{
        if (!getenv("NETD_BIN") || !*getenv("NETD_BIN"))
                fail_msg("NETD_BIN is not set: run the integration tests with ctest, or set "
                         "NETD_BIN to the netd executable");
        if (t->dir[0])
                return;
        snprintf(t->dir, sizeof(t->dir), "/tmp/netd-test-XXXXXX");
        if (!mkdtemp(t->dir)) {
                t->dir[0] = '\0';
                fail_msg("mkdtemp: %s", strerror(errno));
        }
        snprintf(t->socket_path, sizeof(t->socket_path), "%s/netd.sock", t->dir);
        snprintf(t->log_path, sizeof(t->log_path), "%s/netd.log", t->dir);
        t->pidfd = -1;
}

/*
 * Forks and execs $NETD_BIN with args (NULL-terminated, argv[0] excluded),
 * stdout and stderr appended to log_path, keeping keep_fd (if >= 0) open
 * across exec. The child dies with the test process (PR_SET_PDEATHSIG).
 */
static pid_t spawn_netd(const char *const *args, const char *log_path, int keep_fd)
{
        const char *bin = getenv("NETD_BIN");
        const char *argv[64];
        size_t n = 0;
        int log_fd;
        pid_t pid;

        argv[n++] = bin;
        for (; args && *args && n < 63; args++)
                argv[n++] = *args;
        argv[n] = NULL;

        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log_fd < 0)
                fail_msg("open %s: %s", log_path, strerror(errno));
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                fail_msg("fork: %s", strerror(errno));
        if (pid == 0) {
                int null_fd = open("/dev/null", O_RDONLY);

                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (null_fd >= 0)
                        (void)dup2(null_fd, STDIN_FILENO);
                (void)dup2(log_fd, STDOUT_FILENO);
                (void)dup2(log_fd, STDERR_FILENO);
                if (keep_fd >= 0)
                        (void)fcntl(keep_fd, F_SETFD, 0);
                execv(bin, (char *const *)argv);
                dprintf(STDERR_FILENO, "netd-test: exec %s: %s\n", bin, strerror(errno));
                _exit(127);
        }
        close(log_fd);
        return pid;
}

/*
 * Waits for the process of pidfd to exit, up to timeout_ms; SIGKILLs it
 * after that. Returns its status as the shell shows it (128+N for signal
 * N), or -1 if it had to be killed.
 */
static int wait_exit(pid_t pid, int pidfd, int timeout_ms)
{
        int64_t deadline = netd_test_deadline(timeout_ms);
        bool killed = false;
        int status;

        for (;;) {
                struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
                int r = poll(&pfd, 1, remaining_ms(deadline));

                if (r > 0)
                        break;
                if (r < 0 && errno != EINTR)
                        break;
                if (r == 0 && netd_test_now_ms() >= deadline) {
                        if (killed)
                                break; /* waitpid() below blocks, as a last resort */
                        (void)kill(pid, SIGKILL);
                        killed = true;
                        deadline = netd_test_deadline(timeout_ms);
                }
        }
        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR)
                        return -1;
        }
        if (killed)
                return -1;
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return -1;
}

void netd_test_dump_log(struct netd_test_daemon *t)
{
        char buf[8192];
        off_t size;
        ssize_t n;
        int fd;

        if (t->log_dumped || !t->log_path[0])
                return;
        t->log_dumped = true;
        fd = open(t->log_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "netd-test: no daemon log at %s\n", t->log_path);
                return;
        }
        size = lseek(fd, 0, SEEK_END);
        fprintf(stderr, "\n===== netd log %s (%lld bytes)%s =====\n", t->log_path, (long long)size,
                size > NETD_TEST_LOG_DUMP_MAX_BYTES ? ", last 256 KiB" : "");
        (void)lseek(fd,
                    size > NETD_TEST_LOG_DUMP_MAX_BYTES ? size - NETD_TEST_LOG_DUMP_MAX_BYTES : 0,
                    SEEK_SET);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                (void)fwrite(buf, 1, (size_t)n, stderr);
        fprintf(stderr, "===== end of netd log =====\n");
        close(fd);
}

/* Writes text to path, failing the test on error. */
static void write_file_(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                fail_msg("writing %s: %s", path, strerror(errno));
}

void netd_test_launch(struct netd_test_daemon *t, const char *const *extra_args)
{
        char sock_arg[160], ready_arg[32], resolv_arg[200], hosts_arg[200];
        const char *args[64];
        int pipefd[2], r;
        size_t n = 0;
        char buf[16];
        size_t got = 0;
        int64_t deadline;

        assert_int_equal(t->pid, 0);
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                fail_msg("pipe2: %s", strerror(errno));
        snprintf(sock_arg, sizeof(sock_arg), "--socket=%s", t->socket_path);
        snprintf(ready_arg, sizeof(ready_arg), "--ready-fd=%d", pipefd[1]);
        /*
         * A private resolver: no nameserver and a hosts file with only
         * localhost, so no test can send a query off this machine. A test's
         * own --resolv-conf/--hosts-file come later and win.
         */
        snprintf(resolv_arg, sizeof(resolv_arg), "--resolv-conf=%s/resolv.conf", t->dir);
        snprintf(hosts_arg, sizeof(hosts_arg), "--hosts-file=%s/hosts", t->dir);
        write_file_(resolv_arg + strlen("--resolv-conf="), "");
        write_file_(hosts_arg + strlen("--hosts-file="), "127.0.0.1 localhost\n::1 localhost\n");
        args[n++] = "--foreground";
        args[n++] = sock_arg;
        args[n++] = "--log-level=debug";
        args[n++] = ready_arg;
        args[n++] = resolv_arg;
        args[n++] = hosts_arg;
        for (; extra_args && *extra_args && n < 63; extra_args++)
                args[n++] = *extra_args;
        args[n] = NULL;

        t->pid = spawn_netd(args, t->log_path, pipefd[1]);
        close(pipefd[1]);
        t->pidfd = pidfd_open_(t->pid);
        if (t->pidfd < 0) {
                int err = errno;

                (void)kill(t->pid, SIGKILL);
                (void)waitpid(t->pid, NULL, 0);
                t->pid = 0;
                close(pipefd[0]);
                fail_msg("pidfd_open: %s (the harness needs Linux >= 5.3)", strerror(err));
        }

        /* "READY=1\n", or EOF if netd exits first, or the timeout. */
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        while (got < 8) {
                struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };

                r = poll(&pfd, 1, remaining_ms(deadline));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                r = (int)read(pipefd[0], buf + got, sizeof(buf) - 1 - got);
                if (r <= 0)
                        break;
                got += (size_t)r;
        }
        close(pipefd[0]);
        buf[got] = '\0';
        if (strcmp(buf, "READY=1\n") != 0) {
                int status = wait_exit(t->pid, t->pidfd, 100);

                t->pid = 0;
                close(t->pidfd);
                t->pidfd = -1;
                netd_test_dump_log(t);
                fail_msg("netd did not become ready within %d ms (read \"%s\", exit status %d)",
                         NETD_TEST_TIMEOUT_MS, buf, status);
        }
}

void netd_test_start(struct netd_test_daemon *t, const char *const *extra_args)
{
        netd_test_init(t);
        netd_test_launch(t, extra_args);
}

/* Stops the daemon with sig; returns its exit status (see wait_exit()), 0 if none was running. */
static int stop_daemon(struct netd_test_daemon *t, int sig)
{
        int status;

        if (t->pid <= 0)
                return 0;
        (void)kill(t->pid, sig);
        status = wait_exit(t->pid, t->pidfd, NETD_TEST_TIMEOUT_MS);
        t->pid = 0;
        close(t->pidfd);
        t->pidfd = -1;
        if (status != 0) {
                netd_test_dump_log(t);
                fprintf(stderr, "netd-test: netd exited with status %d after %s%s\n", status,
                        strsignal(sig), status < 0 ? " (killed: it did not exit in time)" : "");
        }
        return status;
}

void netd_test_stop_signal(struct netd_test_daemon *t, int sig)
{
        int status = stop_daemon(t, sig);

        if (status != 0)
                fail_msg("netd exited with status %d after %s, expected 0", status, strsignal(sig));
}

void netd_test_stop(struct netd_test_daemon *t)
{
        netd_test_stop_signal(t, SIGTERM);
}

int netd_test_run_other(struct netd_test_daemon *t, const char *const *args, const char *log_name)
{
        char log_path[160];
        pid_t pid;
        int pidfd, status;

        snprintf(log_path, sizeof(log_path), "%s/%s", t->dir, log_name);
        pid = spawn_netd(args, log_path, -1);
        pidfd = pidfd_open_(pid);
        if (pidfd < 0) {
                (void)kill(pid, SIGKILL);
                (void)waitpid(pid, NULL, 0);
                fail_msg("pidfd_open: %s", strerror(errno));
        }
        status = wait_exit(pid, pidfd, NETD_TEST_TIMEOUT_MS);
        close(pidfd);
        if (status < 0)
                fail_msg("the other netd did not exit within %d ms", NETD_TEST_TIMEOUT_MS);
        return status;
}

char *netd_test_read_file(struct netd_test_daemon *t, const char *name)
{
        char path[160];
        char *buf = NULL;
        size_t len = 0, cap = 0;
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "%s/%s", t->dir, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fail_msg("open %s: %s", path, strerror(errno));
        for (;;) {
                if (cap - len < 4096) {
                        cap = cap ? cap * 2 : 8192;
                        buf = realloc(buf, cap);
                        assert_non_null(buf);
                }
                n = read(fd, buf + len, cap - len - 1);
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        buf[len] = '\0';
        return buf;
}

int netd_test_daemon_fds(struct netd_test_daemon *t)
{
        char path[64];
        struct dirent *de;
        DIR *dir;
        int n = 0;

        assert_true(t->pid > 0);
        snprintf(path, sizeof(path), "/proc/%d/fd", (int)t->pid);
        dir = opendir(path);
        if (!dir)
                fail_msg("opendir %s: %s", path, strerror(errno));
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(dir);
        return n;
}

long netd_test_daemon_rss_kb(struct netd_test_daemon *t)
{
        char path[64], line[256];
        long kb = -1;
        FILE *f;

        assert_true(t->pid > 0);
        snprintf(path, sizeof(path), "/proc/%d/status", (int)t->pid);
        f = fopen(path, "re");
        if (!f)
                fail_msg("fopen %s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
                        break;
        fclose(f);
        assert_true(kb >= 0);
        return kb;
}

/* ---- cmocka glue --------------------------------------------------------------------------- */

/*
 * A failed assertion longjmps out of the test, past the frees of whatever
 * it held: set once a test failed, so LeakSanitizer (in -DNETD_SANITIZE
 * builds) does not bury the real failure under those leaks. Passing runs
 * keep the leak check. The daemon's own leaks show in its exit status.
 */
static bool test_failed;

int __lsan_is_turned_off(void);

int __lsan_is_turned_off(void)
{
        return test_failed;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)remove(path);
        return 0;
}

int netd_test_setup(void **state)
{
        struct netd_test_daemon *t = calloc(1, sizeof(*t));

        if (!t)
                return -1;
        t->pidfd = -1;
        t->tcase = *state;
        *state = t;
        netd_test_init(t);
        if (!t->tcase->manual)
                netd_test_launch(t, t->tcase->args);
        return 0;
}

void netd_test_run_case(void **state)
{
        struct netd_test_daemon *t = *state;

        t->tcase->fn(t);
        t->passed = true;
}

int netd_test_teardown(void **state)
{
        struct netd_test_daemon *t = *state;
        int status;

        if (!t)
                return 0;
        if (!t->passed) {
                test_failed = true;
                netd_test_dump_log(t);
        }
        /* SIGTERM with the clients still connected: netd must exit 0 all the same. */
        status = stop_daemon(t, SIGTERM);
        if (t->passed) {
                while (t->clients)
                        netd_test_disconnect(t->clients);
        } else {
                /*
                 * After a failed assertion, calls may still be pending with
                 * userdata on the dead test's stack: freeing the client would
                 * run their callbacks. Shut the connections down and leak them.
                 */
                for (struct netd_test_client *tc = t->clients; tc; tc = tc->next)
                        (void)shutdown(netd_client_fd(tc->c), SHUT_RDWR);
                t->clients = NULL;
        }
        if (t->dir[0])
                (void)nftw(t->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        free(t);
        *state = NULL;
        if (status != 0)
                test_failed = true;
        return status == 0 ? 0 : -1;
}

/* ---- Clients ------------------------------------------------------------------------------- */

static struct netd_test_rx *rx_get(struct netd_test_client *tc, uint64_t socket, bool create)
{
        struct netd_test_rx *rx;

        for (size_t i = 0; i < tc->n_rx; i++)
                if (tc->rx[i].socket == socket)
                        return &tc->rx[i];
        if (!create)
                return NULL;
        if (tc->n_rx == tc->cap_rx) {
                size_t cap = tc->cap_rx ? tc->cap_rx * 2 : 8;
                struct netd_test_rx *n = realloc(tc->rx, cap * sizeof(*n));

                if (!n)
                        abort();
                tc->rx = n;
                tc->cap_rx = cap;
        }
        rx = &tc->rx[tc->n_rx++];
        *rx = (struct netd_test_rx){ .socket = socket };
        return rx;
}

static void rx_append(struct netd_test_rx *rx, const void *data, size_t len)
{
        if (rx->cap - rx->len < len) {
                size_t cap = rx->cap ? rx->cap : 64 * 1024;
                uint8_t *n;

                while (cap - rx->len < len)
                        cap *= 2;
                n = realloc(rx->buf, cap);
                if (!n)
                        abort();
                rx->buf = n;
                rx->cap = cap;
        }
        memcpy(rx->buf + rx->len, data, len);
        rx->len += len;
}

static uint64_t event_subject(const char *method, json_t *params)
{
        const char *key = strncmp(method, "server.", 7) == 0 ? "server" : "socket";
        uint64_t id = 0;

        if (params && netd_client_get_handle(params, key, &id) < 0)
                id = 0;
        return id;
}

/* Records every notification; socket.data payloads are decoded into the socket's rx. */
static void client_event_cb(struct netd_client *c, const char *method, json_t *params,
                            void *userdata)
{
        struct netd_test_client *tc = userdata;
        struct netd_test_event *ev;

        if (tc->n_events == tc->cap_events) {
                size_t cap = tc->cap_events ? tc->cap_events * 2 : 64;
                struct netd_test_event *n = realloc(tc->events, cap * sizeof(*n));

                if (!n)
                        abort();
                tc->events = n;
                tc->cap_events = cap;
        }
        ev = &tc->events[tc->n_events++];
        ev->method = strdup(method);
        if (!ev->method)
                abort();
        ev->params = json_incref(params);
        ev->subject = event_subject(method, params);

        if (strcmp(method, "socket.data") == 0) {
                struct netd_test_rx *rx = rx_get(tc, ev->subject, true);
                void *buf;
                size_t len;

                rx->events++;
                if (rx->ended)
                        rx->bad_order = true;
                if (netd_client_decode_data(params, &buf, &len) < 0) {
                        tc->decode_errors++;
                        return;
                }
                rx_append(rx, buf, len);
                free(buf);
        } else if (strcmp(method, "socket.end") == 0) {
                rx_get(tc, ev->subject, true)->ended = true;
        }
}

static void client_disconnect_cb(struct netd_client *c, int error, void *userdata)
{
        struct netd_test_client *tc = userdata;

        tc->lost = true;
        tc->lost_error = error;
}

struct netd_test_client *netd_test_connect(struct netd_test_daemon *t)
{
        struct netd_test_client *tc = calloc(1, sizeof(*tc));
        int r;

        assert_non_null(tc);
        tc->t = t;
        r = netd_client_connect(t->socket_path, &tc->c);
        if (r < 0) {
                free(tc);
                fail_msg("netd_client_connect(%s): %s", t->socket_path, strerror(-r));
        }
        (void)netd_client_on_event(tc->c, client_event_cb, tc);
        (void)netd_client_on_disconnect(tc->c, client_disconnect_cb, tc);
        tc->next = t->clients;
        t->clients = tc;
        return tc;
}

void netd_test_disconnect(struct netd_test_client *tc)
{
        struct netd_test_client **p;

        if (!tc)
                return;
        for (p = &tc->t->clients; *p; p = &(*p)->next) {
                if (*p == tc) {
                        *p = tc->next;
                        break;
                }
        }
        tc->c = netd_client_free(tc->c);
        for (size_t i = 0; i < tc->n_events; i++) {
                free(tc->events[i].method);
                json_decref(tc->events[i].params);
        }
        free(tc->events);
        for (size_t i = 0; i < tc->n_rx; i++)
                free(tc->rx[i].buf);
        free(tc->rx);
        free(tc);
}

short netd_test_pump(struct netd_test_daemon *t, int extra_fd, short extra_events, int64_t deadline,
                     const char *what)
{
        struct pollfd pfds[64];
        struct netd_test_client *owners[64];
        struct netd_test_client *tc;
        size_t n = 0;
        short extra = 0;
        int r;

        if (netd_test_now_ms() >= deadline)
                fail_msg("timed out waiting for %s", what ? what : "the daemon");
        for (tc = t->clients; tc && n < 63; tc = tc->next) {
                if (tc->hold || !netd_client_is_connected(tc->c))
                        continue;
                owners[n] = tc;
                pfds[n++] = (struct pollfd){
                        .fd = netd_client_fd(tc->c),
                        .events = POLLIN | (netd_client_wants_write(tc->c) ? POLLOUT : 0),
                };
        }
        if (extra_fd >= 0)
                pfds[n] = (struct pollfd){ .fd = extra_fd, .events = extra_events };
        r = poll(pfds, n + (extra_fd >= 0), remaining_ms(deadline));
        if (r < 0 && errno != EINTR)
                fail_msg("poll: %s", strerror(errno));
        if (r <= 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (pfds[i].revents)
                        (void)netd_client_process(owners[i]->c);
        if (extra_fd >= 0)
                extra = pfds[n].revents;
        return extra;
}

/* Builds {"code","message","data"?} from a daemon error. */
static json_t *error_to_json(const struct netd_client_error *err)
{
        json_t *o = json_pack("{s:i,s:s}", "code", err->code, "message", err->message);

        assert_non_null(o);
        if (err->data)
                json_object_set(o, "data", err->data);
        return o;
}

json_t *netd_test_call_(struct netd_test_client *tc, const char *method, json_t *params,
                        const char *file, int line)
{
        struct netd_client_error err;
        json_t *result = NULL;
        int r;

        r = netd_client_call_sync(tc->c, method, params, NETD_TEST_TIMEOUT_MS, &result, &err);
        if (r < 0) {
                char text[512];

                snprintf(text, sizeof(text), "%s:%d: %s failed: %s (code %d, data.code %s)", file,
                         line, method, err.message ? err.message : strerror(-r), err.code,
                         err.data_code ? err.data_code : "none");
                netd_client_error_done(&err);
                fail_msg("%s", text);
        }
        assert_non_null(result);
        return result;
}

void netd_test_call_true_(struct netd_test_client *tc, const char *method, json_t *params,
                          const char *file, int line)
{
        json_t *result = netd_test_call_(tc, method, params, file, line);

        if (!json_is_true(result))
                fail_msg("%s:%d: %s replied %s, expected true", file, line, method,
                         json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY));
        json_decref(result);
}

json_t *netd_test_call_fail_(struct netd_test_client *tc, const char *method, json_t *params,
                             int code, const char *data_code, const char *file, int line)
{
        struct netd_client_error err;
        json_t *result = NULL, *o;
        int r;

        r = netd_client_call_sync(tc->c, method, params, NETD_TEST_TIMEOUT_MS, &result, &err);
        if (r == 0) {
                char *text = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);

                fail_msg("%s:%d: %s succeeded with %s, expected error %d %s", file, line, method,
                         text ? text : "?", code, data_code ? data_code : "");
        }
        if (r != -EREMOTEIO) {
                netd_client_error_done(&err);
                fail_msg("%s:%d: %s: local error %s, expected an error reply %d %s", file, line,
                         method, strerror(-r), code, data_code ? data_code : "");
        }
        o = error_to_json(&err);
        if (err.code != code ||
            (data_code && (!err.data_code || strcmp(err.data_code, data_code) != 0))) {
                char *text = json_dumps(o, JSON_COMPACT);

                netd_client_error_done(&err);
                fail_msg("%s:%d: %s: error %s, expected code %d data.code %s", file, line, method,
                         text, code, data_code ? data_code : "(any)");
        }
        netd_client_error_done(&err);
        return o;
}

uint64_t netd_test_create_server(struct netd_test_client *tc, json_t *options)
{
        json_t *res = netd_test_call(tc, "net.createServer", options ? options : json_object());
        uint64_t id = 0;

        assert_int_equal(netd_client_get_handle(res, "server", &id), 0);
        json_decref(res);
        return id;
}

int netd_test_listen(struct netd_test_client *tc, uint64_t server, const char *host)
{
        json_t *params = json_pack("{s:I,s:i}", "server", (json_int_t)server, "port", 0);
        json_t *res;
        int port;

        if (host)
                json_object_set_new(params, "host", json_string(host));
        res = netd_test_call(tc, "server.listen", params);
        assert_true(json_is_object(res));
        assert_true(json_is_integer(json_object_get(res, "port")));
        port = (int)json_integer_value(json_object_get(res, "port"));
        assert_true(port > 0 && port < 65536);
        if (host)
                assert_string_equal(json_string_value(json_object_get(res, "address")), host);
        json_decref(res);
        return port;
}

uint64_t netd_test_connect_tcp(struct netd_test_client *tc, int port, const char *host,
                               json_t *options)
{
        json_t *params = options ? options : json_object();
        json_t *res;
        uint64_t id = 0;

        json_object_set_new(params, "port", json_integer(port));
        if (host)
                json_object_set_new(params, "host", json_string(host));
        res = netd_test_call(tc, "net.connect", params);
        assert_int_equal(netd_client_get_handle(res, "socket", &id), 0);
        json_decref(res);
        return id;
}

long netd_test_event_index(struct netd_test_client *tc, const char *method, uint64_t subject)
{
        for (size_t i = 0; i < tc->n_events; i++) {
                const struct netd_test_event *ev = &tc->events[i];

                if ((!method || strcmp(ev->method, method) == 0) &&
                    (subject == 0 || ev->subject == subject))
                        return (long)i;
        }
        return -1;
}

json_t *netd_test_find_event(struct netd_test_client *tc, const char *method, uint64_t subject)
{
        long i = netd_test_event_index(tc, method, subject);

        return i < 0 ? NULL : tc->events[i].params;
}

size_t netd_test_count_events(struct netd_test_client *tc, const char *method, uint64_t subject)
{
        size_t n = 0;

        for (size_t i = 0; i < tc->n_events; i++) {
                const struct netd_test_event *ev = &tc->events[i];

                if ((!method || strcmp(ev->method, method) == 0) &&
                    (subject == 0 || ev->subject == subject))
                        n++;
        }
        return n;
}

json_t *netd_test_wait_event_(struct netd_test_client *tc, const char *method, uint64_t subject,
                              int timeout_ms, const char *file, int line)
{
        int64_t deadline = netd_test_deadline(timeout_ms);
        char what[160];
        long i;

        snprintf(what, sizeof(what), "%s:%d: event %s about handle %llu", file, line, method,
                 (unsigned long long)subject);
        while ((i = netd_test_event_index(tc, method, subject)) < 0) {
                if (tc->lost)
                        fail_msg("connection lost (%s) while waiting for %s",
                                 strerror(-tc->lost_error), what);
                if (netd_test_now_ms() >= deadline) {
                        char *trace = netd_test_trace(tc, subject);

                        fprintf(stderr, "netd-test: events about %llu so far: %s\n",
                                (unsigned long long)subject, trace);
                        free(trace);
                }
                (void)netd_test_pump(tc->t, -1, 0, deadline, what);
        }
        return tc->events[i].params;
}

char *netd_test_trace(struct netd_test_client *tc, uint64_t subject)
{
        size_t cap = 64, len = 0;
        char *s = malloc(cap);
        const char *prev = NULL;

        assert_non_null(s);
        s[0] = '\0';
        for (size_t i = 0; i < tc->n_events; i++) {
                const struct netd_test_event *ev = &tc->events[i];
                const char *dot = strchr(ev->method, '.');
                const char *name = dot ? dot + 1 : ev->method;
                bool data = strcmp(ev->method, "socket.data") == 0;
                size_t need;

                if ((subject && ev->subject != subject) || strcmp(ev->method, "socket.drain") == 0)
                        continue;
                if (data && prev && strcmp(prev, "socket.data") == 0)
                        continue;
                prev = ev->method;
                need = len + strlen(name) + 3;
                if (need > cap) {
                        while (need > cap)
                                cap *= 2;
                        s = realloc(s, cap);
                        assert_non_null(s);
                }
                len += (size_t)sprintf(s + len, "%s%s%s", len ? " " : "", name, data ? "+" : "");
        }
        return s;
}

const struct netd_test_rx *netd_test_rx(struct netd_test_client *tc, uint64_t socket)
{
        static const struct netd_test_rx empty;
        const struct netd_test_rx *rx = rx_get(tc, socket, false);

        return rx ? rx : &empty;
}

/* ---- Bulk transfer ------------------------------------------------------------------------- */

struct flow_write {
        struct netd_test_flow *flow;
        size_t len;
};

static void flow_write_cb(struct netd_client *c, json_t *result,
                          const struct netd_client_error *err, void *userdata)
{
        struct flow_write *w = userdata;
        struct netd_test_flow *f = w->flow;

        f->inflight--;
        if (err || !json_is_true(result)) {
                if (f->write_errors++ == 0)
                        snprintf(f->error, sizeof(f->error), "%s (%s)",
                                 err ? err->message : "reply is not true",
                                 err && err->data_code ? err->data_code : "");
        } else {
                f->acked += w->len;
        }
        free(w);
}

static bool flows_done(struct netd_test_flow *flows, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                struct netd_test_flow *f = &flows[i];

                if (f->write_errors)
                        return true;
                if (f->acked < f->len || netd_test_rx(f->reader, f->peer_socket)->len < f->len)
                        return false;
        }
        return true;
}

static void flows_feed(struct netd_test_flow *flows, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                struct netd_test_flow *f = &flows[i];

                while (f->queued < f->len && f->inflight < NETD_TEST_INFLIGHT_WRITES &&
                       !f->write_errors) {
                        size_t len = f->len - f->queued;
                        struct flow_write *w = malloc(sizeof(*w));
                        int r;

                        assert_non_null(w);
                        if (len > NETD_TEST_CHUNK_BYTES)
                                len = NETD_TEST_CHUNK_BYTES;
                        *w = (struct flow_write){ .flow = f, .len = len };
                        r = netd_client_socket_write(f->writer->c, f->socket, f->data + f->queued,
                                                     len, flow_write_cb, w);
                        if (r < 0) {
                                free(w);
                                fail_msg("netd_client_socket_write: %s", strerror(-r));
                        }
                        f->queued += len;
                        f->inflight++;
                }
        }
}

void netd_test_run_flows(struct netd_test_daemon *t, struct netd_test_flow *flows, size_t n,
                         int timeout_ms)
{
        int64_t deadline = netd_test_deadline(timeout_ms);

        for (;;) {
                flows_feed(flows, n);
                if (flows_done(flows, n))
                        break;
                if (netd_test_now_ms() >= deadline) {
                        for (size_t i = 0; i < n; i++)
                                fprintf(stderr,
                                        "netd-test: flow %zu (socket %llu -> %llu): queued %zu, "
                                        "acked %zu, received %zu of %zu\n",
                                        i, (unsigned long long)flows[i].socket,
                                        (unsigned long long)flows[i].peer_socket, flows[i].queued,
                                        flows[i].acked,
                                        netd_test_rx(flows[i].reader, flows[i].peer_socket)->len,
                                        flows[i].len);
                }
                (void)netd_test_pump(t, -1, 0, deadline, "the data transfers");
        }
        for (size_t i = 0; i < n; i++) {
                struct netd_test_flow *f = &flows[i];
                const struct netd_test_rx *rx = netd_test_rx(f->reader, f->peer_socket);

                if (f->write_errors)
                        fail_msg("flow %zu: socket.write failed: %s", i, f->error);
                assert_int_equal(f->reader->decode_errors, 0);
                assert_int_equal(rx->len, f->len);
                if (memcmp(rx->buf, f->data, f->len) != 0) {
                        size_t at = 0;

                        while (rx->buf[at] == f->data[at])
                                at++;
                        fail_msg("flow %zu: received data differs from sent at byte %zu", i, at);
                }
        }
}

void netd_test_exchange(struct netd_test_daemon *t, struct netd_test_client *a, uint64_t sa,
                        const void *to_b, size_t to_b_len, struct netd_test_client *b, uint64_t sb,
                        const void *to_a, size_t to_a_len, int timeout_ms)
{
        struct netd_test_flow flows[] = {
                { .writer = a,
                  .socket = sa,
                  .data = to_b,
                  .len = to_b_len,
                  .reader = b,
                  .peer_socket = sb },
                { .writer = b,
                  .socket = sb,
                  .data = to_a,
                  .len = to_a_len,
                  .reader = a,
                  .peer_socket = sa },
        };

        netd_test_run_flows(t, flows, 2, timeout_ms);
}

void netd_test_random_bytes(uint8_t *buf, size_t len, uint64_t seed)
{
        uint64_t x = seed ? seed : 0x9E3779B97F4A7C15ULL;

        for (size_t i = 0; i < len; i++) {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                buf[i] = (uint8_t)((x * 0x2545F4914F6CDD1DULL) >> 56);
        }
}

/* ---- Raw control connections --------------------------------------------------------------- */

void netd_test_raw_open(struct netd_test_daemon *t, struct netd_test_raw *r)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        *r = (struct netd_test_raw){ .fd = -1 };
        r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (r->fd < 0)
                fail_msg("socket: %s", strerror(errno));
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->socket_path);
        if (connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                fail_msg("connect %s: %s", t->socket_path, strerror(errno));
        (void)fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) | O_NONBLOCK);
}

void netd_test_raw_close(struct netd_test_raw *r)
{
        if (r->fd >= 0)
                close(r->fd);
        r->fd = -1;
        free(r->buf);
        r->buf = NULL;
        r->len = r->cap = 0;
}

void netd_test_raw_send(struct netd_test_raw *r, const void *data, size_t len)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        const char *p = data;

        while (len > 0) {
                ssize_t n = send(r->fd, p, len, MSG_NOSIGNAL);

                if (n > 0) {
                        p += n;
                        len -= (size_t)n;
                        continue;
                }
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        fail_msg("send: %s", strerror(errno));
                if (netd_test_now_ms() >= deadline)
                        fail_msg("timed out sending to the daemon");
                (void)poll(&(struct pollfd){ .fd = r->fd, .events = POLLOUT }, 1,
                           remaining_ms(deadline));
        }
}

void netd_test_raw_send_str(struct netd_test_raw *r, const char *s)
{
        netd_test_raw_send(r, s, strlen(s));
}

char *netd_test_raw_recv_line(struct netd_test_raw *r, int timeout_ms)
{
        int64_t deadline = netd_test_deadline(timeout_ms);

        for (;;) {
                char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
                ssize_t n;

                if (nl) {
                        size_t len = (size_t)(nl - r->buf);
                        char *line = malloc(len + 1);

                        assert_non_null(line);
                        memcpy(line, r->buf, len);
                        line[len] = '\0';
                        memmove(r->buf, nl + 1, r->len - len - 1);
                        r->len -= len + 1;
                        return line;
                }
                if (r->eof) {
                        if (r->len > 0)
                                fail_msg("EOF after a partial line of %zu bytes", r->len);
                        return NULL;
                }
                if (r->cap - r->len < 65536) {
                        r->cap = r->cap ? r->cap * 2 : 131072;
                        r->buf = realloc(r->buf, r->cap);
                        assert_non_null(r->buf);
                }
                n = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
                if (n > 0) {
                        r->len += (size_t)n;
                        continue;
                }
                if (n == 0) {
                        r->eof = true;
                        continue;
                }
                if (errno != EAGAIN && errno != EINTR)
                        fail_msg("recv: %s", strerror(errno));
                if (netd_test_now_ms() >= deadline)
                        fail_msg("timed out after %d ms waiting for a line from the daemon",
                                 timeout_ms);
                (void)poll(&(struct pollfd){ .fd = r->fd, .events = POLLIN }, 1,
                           remaining_ms(deadline));
        }
}

json_t *netd_test_raw_recv(struct netd_test_raw *r)
{
        char *line = netd_test_raw_recv_line(r, NETD_TEST_TIMEOUT_MS);
        json_error_t jerr;
        json_t *msg;

        if (!line)
                fail_msg("the daemon closed the connection, expected a line");
        msg = json_loads(line, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!msg)
                fail_msg("the daemon sent invalid JSON (%s): %s", jerr.text, line);
        free(line);
        return msg;
}

void netd_test_raw_expect_eof(struct netd_test_raw *r)
{
        char *line = netd_test_raw_recv_line(r, NETD_TEST_TIMEOUT_MS);

        if (line)
                fail_msg("expected EOF, the daemon sent: %s", line);
}

/* ---- Plain TCP ----------------------------------------------------------------------------- */

int netd_test_tcp_socket(bool do_listen, int *ret_port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                fail_msg("socket: %s", strerror(errno));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                fail_msg("bind: %s", strerror(errno));
        if (do_listen && listen(fd, 16) < 0)
                fail_msg("listen: %s", strerror(errno));
        if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                fail_msg("getsockname: %s", strerror(errno));
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

void netd_test_assert_json_(json_t *json, const char *expected, const char *file, int line)
{
        json_error_t jerr;
        json_t *want = json_loads(expected, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

        if (!want)
                fail_msg("%s:%d: bad expected JSON (%s): %s", file, line, jerr.text, expected);
        if (!json_equal(json, want)) {
                char *got = json ? json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

                fail_msg("%s:%d: JSON differs\n  got:      %s\n  expected: %s", file, line,
                         got ? got : "(null)", expected);
        }
        json_decref(want);
}

json_t *netd_test_get(json_t *root, const char *path)
{
        const char *p = path;
        json_t *v = root;

        while (v && *p) {
                const char *dot = strchr(p, '.');
                size_t len = dot ? (size_t)(dot - p) : strlen(p);
                char key[128];

                if (!json_is_object(v) || len >= sizeof(key))
                        return NULL;
                memcpy(key, p, len);
                key[len] = '\0';
                v = json_object_get(v, key);
                p += len + (dot ? 1 : 0);
        }
        return v;
}

void netd_test_assert_str_(json_t *root, const char *path, const char *want, const char *file,
                           int line)
{
        const char *got = json_string_value(netd_test_get(root, path));

        if (!got || strcmp(got, want) != 0) {
                char *text = root ? json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

                fail_msg("%s:%d: \"%s\" is %s%s%s, expected \"%s\" in %s", file, line, path,
                         got ? "\"" : "", got ? got : "not a string", got ? "\"" : "", want,
                         text ? text : "(null)");
        }
}

/*
 * Reads from the test's own socket until want bytes came (returns 0), EOF
 * (1) or an error (-errno), pumping the clients meanwhile.
 */
int netd_test_peer_read(struct netd_test_daemon *t, int fd, void *buf, size_t want, size_t *got)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        *got = 0;
        while (*got < want) {
                ssize_t n = recv(fd, (char *)buf + *got, want - *got, 0);

                if (n > 0) {
                        *got += (size_t)n;
                        continue;
                }
                if (n == 0)
                        return 1;
                if (errno != EAGAIN && errno != EINTR)
                        return -errno;
                (void)netd_test_pump(t, fd, POLLIN, deadline, "data on the test's socket");
        }
        return 0;
}

/* Reads exactly the string want from fd. */
void netd_test_peer_expect(struct netd_test_daemon *t, int fd, const char *want)
{
        char buf[256];
        size_t len = strlen(want), got;
        int r;

        assert_true(len < sizeof(buf));
        r = netd_test_peer_read(t, fd, buf, len, &got);
        if (r != 0)
                fail_msg("peer read \"%.*s\", then %s, expected \"%s\"", (int)got, buf,
                         r > 0 ? "EOF" : strerror(-r), want);
        assert_memory_equal(buf, want, len);
}

/* The next read on fd is EOF (returns 0) or an error (-errno); fails if data comes. */
int netd_test_peer_end(struct netd_test_daemon *t, int fd)
{
        char c;
        size_t got;
        int r = netd_test_peer_read(t, fd, &c, 1, &got);

        if (r == 0)
                fail_msg("peer got a byte (0x%02x), expected EOF or an error", (unsigned char)c);
        return r > 0 ? 0 : r;
}

/* ---- Helpers shared by the integration tests ---- */

json_int_t netd_test_int_at(json_t *root, const char *path)
{
        json_t *v = netd_test_get(root, path);

        if (!json_is_integer(v))
                fail_msg("\"%s\" is not an integer in %s", path,
                         json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY));
        return json_integer_value(v);
}

uint64_t netd_test_conn_socket(json_t *conn)
{
        uint64_t id = 0;

        assert_int_equal(netd_client_get_handle(conn, "socket", &id), 0);
        return id;
}

void netd_test_assert_trace(struct netd_test_client *tc, uint64_t id, const char *want)
{
        char *trace = netd_test_trace(tc, id);

        if (strcmp(trace, want) != 0)
                fail_msg("events of handle %llu: \"%s\", expected \"%s\"", (unsigned long long)id,
                         trace, want);
        free(trace);
}

/* Whether netd's descriptor nfd is bound where the test's fd is connected to. */
static bool test_same_peer(int nfd, int fd)
{
        struct sockaddr_storage a, b;
        socklen_t alen = sizeof(a), blen = sizeof(b);

        return getsockname(nfd, (struct sockaddr *)&a, &alen) == 0 &&
               getpeername(fd, (struct sockaddr *)&b, &blen) == 0 && alen == blen &&
               memcmp(&a, &b, alen) == 0;
}

/*
 * The descriptor netd holds that is the other end of fd, duplicated into
 * this process with pidfd_getfd(); -1 if none matches, -2 if the kernel
 * does not let the test take it.
 */
int netd_test_fd_facing(struct netd_test_daemon *t, int fd)
{
        struct sockaddr_storage mine, theirs;
        socklen_t mine_len = sizeof(mine);
        int found = -1;

        assert_int_equal(getsockname(fd, (struct sockaddr *)&mine, &mine_len), 0);
        for (int n = 0; n < 1024 && found < 0; n++) {
                char link[96], target[64];
                socklen_t len = sizeof(theirs);
                ssize_t l;
                int dup;

                snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)t->pid, n);
                l = readlink(link, target, sizeof(target) - 1);
                if (l < 0)
                        continue;
                target[l] = '\0';
                if (strncmp(target, "socket:", 7) != 0)
                        continue;
                dup = (int)syscall(SYS_pidfd_getfd, t->pidfd, n, 0);
                if (dup < 0) {
                        if (errno == ENOSYS || errno == EPERM || errno == EACCES)
                                return -2;
                        continue;
                }
                if (getpeername(dup, (struct sockaddr *)&theirs, &len) == 0 && len == mine_len &&
                    memcmp(&theirs, &mine, len) == 0 && test_same_peer(dup, fd))
                        found = dup;
                else
                        close(dup);
        }
        return found;
}

int netd_test_sockopt_int(int fd, int level, int name)
{
        int v = -1;
        socklen_t len = sizeof(v);

        assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
        return v;
}

/* A port nobody listens on right now (bound, read, closed). */
int netd_test_free_port(void)
{
        int port, fd = netd_test_tcp_socket(false, &port);

        close(fd);
        return port;
}

/* The daemon's soft RLIMIT_NOFILE as /proc/PID/limits shows it (-1 for unlimited). */
long netd_test_daemon_nofile(struct netd_test_daemon *t)
{
        char path[64], line[256];
        long soft = -2;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/limits", (int)t->pid);
        f = fopen(path, "re");
        if (!f)
                fail_msg("fopen %s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f)) {
                char value[32];

                if (sscanf(line, "Max open files %31s", value) == 1) {
                        soft = strcmp(value, "unlimited") == 0 ? -1 : atol(value);
                        break;
                }
        }
        fclose(f);
        assert_true(soft != -2);
        return soft;
}

/* Accepts one connection on the listening socket lfd (non-blocking result), waiting for it. */
int netd_test_accept_peer(int lfd)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                int64_t left = deadline - netd_test_now_ms();

                if (fd >= 0)
                        return fd;
                if (errno != EAGAIN && errno != EINTR)
                        fail_msg("accept: %s", strerror(errno));
                if (left <= 0)
                        fail_msg("timed out waiting for netd to connect to the test's peer");
                (void)poll(&(struct pollfd){ .fd = lfd, .events = POLLIN }, 1, (int)left);
        }
}

void netd_test_asan_small_quarantine(void)
{
        const char *old = getenv("ASAN_OPTIONS");
        char opts[1024];

        if (!NETD_TEST_ASAN)
                return;
        snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=4", old ? old : "",
                 old && *old ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        printf("ASan: netd runs with ASAN_OPTIONS=%s\n", opts);
}

void netd_test_server_close_cb(struct netd_client *c, json_t *result,
                               const struct netd_client_error *err, void *userdata)
{
        struct netd_test_close_result *cr = userdata;

        cr->done = true;
        cr->ok = !err && json_is_true(result);
        if (err)
                snprintf(cr->error, sizeof(cr->error), "%s (%s)", err->message ? err->message : "",
                         err->data_code ? err->data_code : "no data.code");
        cr->close_event_at = netd_test_event_index(cr->tc, "server.close", cr->server);
}

json_t *netd_test_handle_params(const char *key, uint64_t id, json_t *extra)
{
        json_t *params = json_pack("{s:I}", key, (json_int_t)id);

        assert_non_null(params);
        if (extra) {
                json_object_update(params, extra);
                json_decref(extra);
        }
        return params;
}

/* ---- Other users --------------------------------------------------------------------------- */

void netd_test_require_root(void)
{
        if (geteuid() == 0)
                return;
        fprintf(stderr, "netd-test: skipped: this test acts as other users and needs root "
                        "(CI runs the suite as root)\n");
        skip();
}

void netd_test_become(uid_t uid, gid_t gid)
{
        if (uid == 0) {
                if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(0, NULL) < 0)
                        fail_msg("back to root: %s", strerror(errno));
                return;
        }
        if (setgroups(0, NULL) < 0 || setegid(gid) < 0 || seteuid(uid) < 0)
                fail_msg("become uid %u: %s", (unsigned)uid, strerror(errno));
}

struct netd_test_client *netd_test_connect_as(struct netd_test_daemon *t, uid_t uid)
{
        struct netd_test_client *tc = calloc(1, sizeof(*tc));
        int r;

        assert_non_null(tc);
        tc->t = t;
        netd_test_become(uid, (gid_t)uid);
        r = netd_client_connect(t->socket_path, &tc->c);
        netd_test_become(0, 0);
        if (r < 0) {
                free(tc);
                fail_msg("netd_client_connect(%s) as uid %u: %s", t->socket_path, (unsigned)uid,
                         strerror(-r));
        }
        (void)netd_client_on_event(tc->c, client_event_cb, tc);
        (void)netd_client_on_disconnect(tc->c, client_disconnect_cb, tc);
        tc->next = t->clients;
        t->clients = tc;
        return tc;
}

void netd_test_raw_open_as(struct netd_test_daemon *t, struct netd_test_raw *r, uid_t uid)
{
        netd_test_become(uid, (gid_t)uid);
        netd_test_raw_open(t, r);
        netd_test_become(0, 0);
}
