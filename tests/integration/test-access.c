/*
 * Integration: access control between users (issue 11). The suite runs as
 * root in CI; these tests act as "nobody" (65534) and a second user (65533)
 * by connecting with those effective ids and no supplementary groups, as
 * setpriv --reuid --regid --clear-groups would (SO_PEERCRED records the
 * credentials of connect()), and once through setpriv and netctl as a real
 * program. Without root they skip with a message. The control socket is
 * opened to them with --socket-mode=0666 and a 0711 test directory; netd
 * runs with --handle-ids=random, as netd-peruser.service does.
 *
 * Shown: a privileged port refused (listen and localPort), then granted by
 * a policy reload while existing connections keep working, an invalid
 * policy refused with the old one kept; UNIX paths with the client's rights
 * (unwritable directories refused and nothing created, a root-only socket
 * unreachable, socket files owned by the client); the symlink-swap race run
 * for two seconds never changes or deletes a root-owned file; relative
 * paths against the connecting process's directory, refused once it is
 * gone; foreign handles invisible, ids that do not count up, netd.info per
 * user; reusePort not
 * shared across users; handle and connection quotas that leave other users
 * (and root's reserved slots) served, refused clients that write first
 * still reading the error line.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "netd-test.h"
#include "schema-check.h"

#define NOBODY NETD_TEST_UID_NOBODY
#define OTHER  NETD_TEST_UID_OTHER

/* ---- Helpers ------------------------------------------------------------------------------- */

/* proto/netd.openrpc.json, loaded once: the new errors and results must match it. */
static json_t *schema_doc(void)
{
        static json_t *doc;
        json_error_t jerr;

        if (!doc) {
                doc = json_load_file(NETD_OPENRPC_PATH, 0, &jerr);
                if (!doc)
                        fail_msg("%s: %s", NETD_OPENRPC_PATH, jerr.text);
        }
        return doc;
}

/* Checks an error reply's error object against the method's declared errors. */
static void schema_error(const char *method, json_t *error)
{
        char err[300];

        if (netd_schema_check_error(schema_doc(), netd_schema_method(schema_doc(), method), error,
                                    err, sizeof(err)) < 0)
                fail_msg("%s error does not match the schema: %s", method, err);
}

/* Checks a result, or an event's params, against the schema. */
static void schema_result(const char *method, json_t *result)
{
        char err[300];

        if (netd_schema_check_result(schema_doc(), netd_schema_method(schema_doc(), method), result,
                                     err, sizeof(err)) < 0)
                fail_msg("%s result does not match the schema: %s", method, err);
}

static void schema_event(const char *name, json_t *params)
{
        char err[300];

        if (netd_schema_check_params(schema_doc(), netd_schema_notification(schema_doc(), name),
                                     params, err, sizeof(err)) < 0)
                fail_msg("%s does not match the schema: %s", name, err);
}

/* Lets other users reach the control socket: search on the test directory. */
static void open_dir(struct netd_test_daemon *t)
{
        if (chmod(t->dir, 0711) < 0)
                fail_msg("chmod %s: %s", t->dir, strerror(errno));
}

/* Makes <dir>/<name> owned by uid with mode; writes its path to out. */
static void make_dir(struct netd_test_daemon *t, const char *name, uid_t uid, mode_t mode,
                     char *out, size_t len)
{
        snprintf(out, len, "%s/%s", t->dir, name);
        if (mkdir(out, mode) < 0 || chown(out, uid, (gid_t)uid) < 0 || chmod(out, mode) < 0)
                fail_msg("mkdir %s: %s", out, strerror(errno));
}

static void write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                fail_msg("write %s: %s", path, strerror(errno));
}

static void write_policy(struct netd_test_daemon *t, const char *text)
{
        char path[160];

        snprintf(path, sizeof(path), "%s/netd.conf", t->dir);
        write_text(path, text);
}

/* Starts netd with the policy file <dir>/netd.conf (text) and the socket open to all. */
static void launch_with_policy(struct netd_test_daemon *t, const char *text,
                               const char *const *more)
{
        char config_arg[200];
        const char *args[16];
        size_t n = 0;

        open_dir(t);
        write_policy(t, text);
        snprintf(config_arg, sizeof(config_arg), "--config=%s/netd.conf", t->dir);
        args[n++] = config_arg;
        args[n++] = "--socket-mode=0666";
        args[n++] = "--handle-ids=random"; /* as netd-peruser.service runs it */
        for (; more && *more && n < 15; more++)
                args[n++] = *more;
        args[n] = NULL;
        netd_test_launch(t, args);
}

/*
 * A port in 600-999 (below ip_unprivileged_port_start) that nothing listens
 * on (as root, bound and freed). integration/access and access-capped also
 * hold a ctest RESOURCE_LOCK so they never race for it.
 */
static int free_privileged_port(void)
{
        /* A start that differs between runs: two runs at once rarely pick the same port. */
        int start = 600 + (int)((unsigned)getpid() * 7919u % 400u);

        for (int i = 0, port = start; i < 400; i++, port = 600 + (port - 600 + 1) % 400) {
                struct sockaddr_in sa = { .sin_family = AF_INET,
                                          .sin_port = htons(port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        close(fd);
                        return port;
                }
                close(fd);
        }
        fail_msg("no free port below 1000 on 127.0.0.1");
        return -1;
}

static json_t *listen_params(uint64_t srv, int port, json_t *extra)
{
        json_t *p = netd_test_handle_params("server", srv, extra);

        json_object_set_new(p, "port", json_integer(port));
        json_object_set_new(p, "host", json_string("127.0.0.1"));
        return p;
}

static json_t *path_params(const char *key, uint64_t id, const char *path, json_t *extra)
{
        json_t *p = id ? netd_test_handle_params(key, id, extra) : (extra ? extra : json_object());

        json_object_set_new(p, "path", json_string(path));
        return p;
}

static bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

/* Sends SIGHUP and waits (netd.info from an admin client) until the policy state changes. */
static json_t *reload(struct netd_test_daemon *t, struct netd_test_client *admin)
{
        json_t *info = netd_test_call(admin, "netd.info", NULL);
        json_int_t gen = netd_test_int_at(info, "policy.generation");
        json_int_t errs = netd_test_int_at(info, "policy.reloadErrors");
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        json_decref(info);
        assert_int_equal(kill(t->pid, SIGHUP), 0);
        for (;;) {
                info = netd_test_call(admin, "netd.info", NULL);
                if (netd_test_int_at(info, "policy.generation") != gen ||
                    netd_test_int_at(info, "policy.reloadErrors") != errs)
                        return info;
                json_decref(info);
                if (netd_test_now_ms() > deadline)
                        fail_msg("netd did not act on SIGHUP within %d ms", NETD_TEST_TIMEOUT_MS);
        }
}

static void assert_log_has(struct netd_test_daemon *t, const char *want)
{
        char *log = netd_test_read_file(t, "netd.log");

        if (!strstr(log, want)) {
                netd_test_dump_log(t);
                free(log);
                fail_msg("the log does not say \"%s\"", want);
        }
        free(log);
}

/* ---- Privileged ports and the policy file -------------------------------------------------- */

/*
 * As nobody, a port below ip_unprivileged_port_start is refused for listen
 * (error reply and server.error) and for a connect's localPort (socket.error),
 * with ERR_NETD_PERMISSION naming the rule, and logged; root may. A policy
 * grant loaded by SIGHUP allows it, while a server listening since before
 * the reload keeps accepting; an invalid policy is refused and the grant
 * stays in force.
 */
static void test_privileged_port_then_granted(struct netd_test_daemon *t)
{
        struct netd_test_client *nob, *root;
        uint64_t srv, sock, early, rsrv, conn;
        int port, early_port;
        json_t *err, *info, *res, *ev;
        char policy[200];

        netd_test_require_root();
        launch_with_policy(t, "# nothing granted yet\n", NULL);
        port = free_privileged_port();
        root = netd_test_connect(t);
        nob = netd_test_connect_as(t, NOBODY);

        early = netd_test_create_server(nob, NULL);
        early_port = netd_test_listen(nob, early, "127.0.0.1");

        srv = netd_test_create_server(nob, NULL);
        err = netd_test_call_fail(nob, "server.listen", listen_params(srv, port, NULL), -32001,
                                  "ERR_NETD_PERMISSION");
        netd_test_assert_str(err, "data.rule", "privilegedPort");
        schema_error("server.listen", err);
        json_decref(err);
        ev = netd_test_wait_event(nob, "server.error", srv, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(ev, "error.data.code", "ERR_NETD_PERMISSION");
        schema_event("server.error", ev);
        assert_log_has(t, "rule privilegedPort");

        sock = netd_test_connect_tcp(nob, early_port, "127.0.0.1",
                                     json_pack("{s:i}", "localPort", port));
        ev = netd_test_wait_event(nob, "socket.error", sock, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(ev, "error.data.code", "ERR_NETD_PERMISSION");
        netd_test_assert_str(ev, "error.data.rule", "privilegedPort");
        netd_test_assert_str(ev, "error.data.syscall", "bind");
        schema_event("socket.error", ev);

        /* Root may, through the same netd. */
        rsrv = netd_test_create_server(root, NULL);
        res = netd_test_call(root, "server.listen", listen_params(rsrv, port, NULL));
        assert_int_equal(netd_test_int_at(res, "port"), port);
        json_decref(res);
        netd_test_call_true(root, "server.close", json_pack("{s:I}", "server", (json_int_t)rsrv));

        /* The grant, by reload. */
        snprintf(policy, sizeof(policy), "[user:%d]\nlisten = 127.0.0.1 %d\n", NOBODY, port);
        write_policy(t, policy);
        info = reload(t, root);
        assert_int_equal(netd_test_int_at(info, "policy.generation"), 2);
        json_decref(info);
        srv = netd_test_create_server(nob, NULL);
        res = netd_test_call(nob, "server.listen", listen_params(srv, port, NULL));
        assert_int_equal(netd_test_int_at(res, "port"), port);
        json_decref(res);
        /* Only that address: 127.0.0.2 is still refused. */
        rsrv = netd_test_create_server(nob, NULL);
        err = netd_test_call_fail(nob, "server.listen",
                                  json_pack("{s:I,s:i,s:s}", "server", (json_int_t)rsrv, "port",
                                            port, "host", "127.0.0.2"),
                                  -32001, "ERR_NETD_PERMISSION");
        json_decref(err);

        /* The server from before the reload still accepts; its owner's connection still works. */
        conn = netd_test_connect_tcp(root, early_port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(root, "socket.connect", conn, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(nob, "server.connection", early, NETD_TEST_TIMEOUT_MS);

        /* An invalid file is reported and the grant stays. */
        write_policy(t, "[user:65534]\nlisten = 127.0.0.1 eighty\n");
        info = reload(t, root);
        assert_int_equal(netd_test_int_at(info, "policy.generation"), 2);
        assert_int_equal(netd_test_int_at(info, "policy.reloadErrors"), 1);
        json_decref(info);
        assert_log_has(t, "keeping the policy in force");
        netd_test_call_true(nob, "server.close", json_pack("{s:I}", "server", (json_int_t)srv));
        (void)netd_test_wait_event(nob, "server.close", srv, NETD_TEST_TIMEOUT_MS);
        srv = netd_test_create_server(nob, NULL);
        res = netd_test_call(nob, "server.listen", listen_params(srv, port, NULL));
        json_decref(res);
}

/*
 * --socket-mode=0660 --socket-group=65533: the control socket is root's,
 * group 65533, mode 0660: a member connects, nobody (not a member) gets
 * EACCES from the kernel before netd sees it.
 */
static void test_socket_mode_group(struct netd_test_daemon *t)
{
        const char *args[] = { "--socket-mode=0660", "--socket-group=65533", NULL };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct netd_test_client *member;
        struct stat st;
        json_t *info;
        int fd, r;

        netd_test_require_root();
        if (getenv("NETD_REAL_BIN")) {
                /* access-capped: no CAP_CHOWN; under that unit systemd makes the socket. */
                fprintf(stderr, "netd-test: skipped: netd holds no CAP_CHOWN here\n");
                skip();
        }
        open_dir(t);
        netd_test_launch(t, args);
        assert_int_equal(lstat(t->socket_path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0660);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(st.st_gid, OTHER);
        member = netd_test_connect_as(t, OTHER);
        info = netd_test_call(member, "netd.info", NULL);
        assert_int_equal(netd_test_int_at(info, "user.uid"), OTHER);
        json_decref(info);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->socket_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        netd_test_become(NOBODY, NOBODY);
        r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        netd_test_become(0, 0);
        assert_int_equal(r, -1);
        close(fd);
}

/* A bad policy file at start is a start-up failure (exit 1) naming the line. */
static void test_bad_policy_at_start(struct netd_test_daemon *t)
{
        char path[160], arg[200];
        const char *args[] = { "--foreground", arg, NULL, NULL };
        char sock_arg[160];
        char *log;

        snprintf(path, sizeof(path), "%s/bad.conf", t->dir);
        write_text(path, "[default]\nconnect = 10.0.0.0/33 *\n");
        snprintf(arg, sizeof(arg), "--config=%s", path);
        snprintf(sock_arg, sizeof(sock_arg), "--socket=%s/other.sock", t->dir);
        args[2] = sock_arg;
        assert_int_equal(netd_test_run_other(t, args, "bad.log"), 1);
        log = netd_test_read_file(t, "bad.log");
        if (!strstr(log, "line 2:"))
                fail_msg("expected the bad line named, got: %s", log);
        free(log);
}

/*
 * The real program: netctl run by setpriv as nobody cannot listen on a
 * privileged port through netd (exit status 1, the refusal printed).
 */
static void test_setpriv_netctl(struct netd_test_daemon *t)
{
        const char *netctl = getenv("NETCTL_BIN");
        char port_arg[16], sock_arg[160], log_path[160], copy[160], cmd[600];
        int status, fd;
        pid_t pid;
        char *log;

        netd_test_require_root();
        if (!netctl || access("/usr/bin/setpriv", X_OK) != 0) {
                fprintf(stderr, "netd-test: skipped: needs NETCTL_BIN and setpriv\n");
                skip();
        }
        launch_with_policy(t, "", NULL);
        /* A copy nobody can run wherever the build tree is (a 0700 home, say). */
        snprintf(copy, sizeof(copy), "%s/netctl", t->dir);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0755 '%s'", netctl, copy, copy);
        assert_int_equal(system(cmd), 0);
        snprintf(port_arg, sizeof(port_arg), "%d", free_privileged_port());
        snprintf(sock_arg, sizeof(sock_arg), "--socket=%s", t->socket_path);
        snprintf(log_path, sizeof(log_path), "%s/netctl.log", t->dir);
        fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY);

                dup2(null, 0);
                dup2(fd, 1);
                dup2(fd, 2);
                execl("/usr/bin/setpriv", "setpriv", "--reuid=65534", "--regid=65534",
                      "--clear-groups", copy, sock_arg, "listen", "127.0.0.1", port_arg,
                      (char *)NULL);
                _exit(127);
        }
        close(fd);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        log = netd_test_read_file(t, "netctl.log");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || !strstr(log, "ports below"))
                fail_msg("netctl as nobody: status %d, output: %s", status, log);
        free(log);
}

/* ---- UNIX paths with the client's rights --------------------------------------------------- */

/*
 * Nobody cannot create a socket where it could not create a file (root's
 * 0700 directory, root's 0711 test directory: EACCES, nothing created),
 * can where it may (the file is then nobody's), cannot connect to root's
 * socket that only root may write, can once root opened it with writableAll.
 */
static void test_unix_paths_client_rights(struct netd_test_daemon *t)
{
        char private_dir[128], own_dir[128], path[200], root_sock[200], open_sock[200];
        struct netd_test_client *nob, *root;
        uint64_t srv, s;
        struct stat st;
        json_t *err, *ev, *res;

        netd_test_require_root();
        launch_with_policy(t, "", NULL);
        make_dir(t, "private", 0, 0700, private_dir, sizeof(private_dir));
        make_dir(t, "nobody", NOBODY, 0755, own_dir, sizeof(own_dir));
        root = netd_test_connect(t);
        nob = netd_test_connect_as(t, NOBODY);

        snprintf(path, sizeof(path), "%s/a.sock", private_dir);
        srv = netd_test_create_server(nob, NULL);
        err = netd_test_call_fail(nob, "server.listen", path_params("server", srv, path, NULL),
                                  -32000, "EACCES");
        json_decref(err);
        assert_false(exists(path));
        snprintf(path, sizeof(path), "%s/b.sock", t->dir);
        err = netd_test_call_fail(nob, "server.listen", path_params("server", srv, path, NULL),
                                  -32000, "EACCES");
        json_decref(err);
        assert_false(exists(path));

        snprintf(path, sizeof(path), "%s/c.sock", own_dir);
        res = netd_test_call(nob, "server.listen", path_params("server", srv, path, NULL));
        json_decref(res);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_uid, NOBODY);
        assert_int_equal(st.st_gid, NOBODY);

        /* Root's socket, mode 0755 by netd's umask: nobody may not write it. */
        snprintf(root_sock, sizeof(root_sock), "%s/root.sock", t->dir);
        res = netd_test_call(
                root, "server.listen",
                path_params("server", netd_test_create_server(root, NULL), root_sock, NULL));
        json_decref(res);
        assert_int_equal(lstat(root_sock, &st), 0);
        assert_int_equal(st.st_uid, 0);
        res = netd_test_call(nob, "net.connect", path_params(NULL, 0, root_sock, NULL));
        s = (uint64_t)netd_test_int_at(res, "socket");
        json_decref(res);
        ev = netd_test_wait_event(nob, "socket.error", s, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(ev, "error.data.code", "EACCES");
        assert_int_equal(netd_test_count_events(root, "server.connection", 0), 0);
        /* A private directory is no way through either. */
        snprintf(path, sizeof(path), "%s/x.sock", private_dir);
        res = netd_test_call(nob, "net.connect", path_params(NULL, 0, path, NULL));
        s = (uint64_t)netd_test_int_at(res, "socket");
        json_decref(res);
        ev = netd_test_wait_event(nob, "socket.error", s, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(ev, "error.data.code", "EACCES");

        /* writableAll opens it, as it would without netd. */
        snprintf(open_sock, sizeof(open_sock), "%s/open.sock", t->dir);
        res = netd_test_call(root, "server.listen",
                             path_params("server", netd_test_create_server(root, NULL), open_sock,
                                         json_pack("{s:b}", "writableAll", 1)));
        json_decref(res);
        res = netd_test_call(nob, "net.connect", path_params(NULL, 0, open_sock, NULL));
        s = (uint64_t)netd_test_int_at(res, "socket");
        json_decref(res);
        (void)netd_test_wait_event(nob, "socket.connect", s, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(root, "server.connection", 0, NETD_TEST_TIMEOUT_MS);

        /* Nobody's own file goes with its server. */
        snprintf(path, sizeof(path), "%s/c.sock", own_dir);
        netd_test_call_true(nob, "server.close", json_pack("{s:I}", "server", (json_int_t)srv));
        assert_false(exists(path));
}

/*
 * The race of the issue, for two seconds: nobody's directory "sub" is
 * swapped (renameat2 RENAME_EXCHANGE) with a symlink to a root directory
 * holding a root-owned 0600 file named like the socket, while nobody
 * listens there with writableAll and closes, again and again. The root
 * file keeps its mode, owner and bytes, and is never deleted.
 */
static void test_symlink_swap_race(struct netd_test_daemon *t)
{
        char own_dir[128], victims[128], victim[200], sub[200], alt[200], path[220];
        unsigned iterations = 0, listened = 0, refused = 0, left = 0;
        struct netd_test_client *nob;
        int64_t deadline;
        struct stat st;
        int realfd, status;
        pid_t swapper;
        char *text;

        netd_test_require_root();
        launch_with_policy(t, "", NULL);
        make_dir(t, "victims", 0, 0755, victims, sizeof(victims));
        snprintf(victim, sizeof(victim), "%s/x.sock", victims);
        write_text(victim, "secret\n");
        assert_int_equal(chmod(victim, 0600), 0);
        make_dir(t, "nobody", NOBODY, 0755, own_dir, sizeof(own_dir));
        snprintf(sub, sizeof(sub), "%s/sub", own_dir);
        snprintf(alt, sizeof(alt), "%s/alt", own_dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(chown(sub, NOBODY, NOBODY), 0);
        assert_int_equal(symlink(victims, alt), 0);
        assert_int_equal(lchown(alt, NOBODY, NOBODY), 0);
        realfd = open(sub, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(realfd >= 0);
        snprintf(path, sizeof(path), "%s/x.sock", sub);
        nob = netd_test_connect_as(t, NOBODY);

        swapper = fork();
        assert_true(swapper >= 0);
        if (swapper == 0) {
                int64_t end = netd_test_now_ms() + 3000;

                if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                    setresuid(NOBODY, NOBODY, NOBODY) < 0)
                        _exit(2);
                while (netd_test_now_ms() < end)
                        (void)renameat2(AT_FDCWD, sub, AT_FDCWD, alt, RENAME_EXCHANGE);
                _exit(0);
        }
        deadline = netd_test_now_ms() + 2000;
        while (netd_test_now_ms() < deadline) {
                uint64_t srv = netd_test_create_server(nob, NULL);
                struct netd_client_error err;
                int r;

                iterations++;
                r = netd_client_call_sync(
                        nob->c, "server.listen",
                        path_params("server", srv, path, json_pack("{s:b}", "writableAll", 1)),
                        NETD_TEST_TIMEOUT_MS, NULL, &err);
                if (r == 0)
                        listened++;
                else if (r == -EREMOTEIO) {
                        refused++;
                        netd_client_error_done(&err);
                } else {
                        fail_msg("server.listen: %s", strerror(-r));
                }
                r = netd_client_call_sync(nob->c, "server.close",
                                          json_pack("{s:I}", "server", (json_int_t)srv),
                                          NETD_TEST_TIMEOUT_MS, NULL, &err);
                if (r == -EREMOTEIO)
                        netd_client_error_done(&err);
                /* A socket netd left because the path had changed: root clears it. */
                if (fstatat(realfd, "x.sock", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISSOCK(st.st_mode)) {
                        left++;
                        (void)unlinkat(realfd, "x.sock", 0);
                }
        }
        (void)kill(swapper, SIGKILL);
        assert_int_equal(waitpid(swapper, &status, 0), swapper);
        close(realfd);
        fprintf(stderr,
                "netd-test: swap race: %u listen+close rounds in 2 s, %u listened, %u refused, "
                "%u sockets left in place after a swap\n",
                iterations, listened, refused, left);
        assert_true(iterations > 50);
        assert_true(listened > 0);
        assert_int_equal(lstat(victim, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_uid, 0);
        text = netd_test_read_file(t, "victims/x.sock");
        assert_string_equal(text, "secret\n");
        free(text);
}

/* Sends server.listen {server, path} on a raw connection; returns the reply (events skipped). */
static json_t *raw_listen(struct netd_test_raw *raw, int id, const char *path)
{
        char line[300];
        uint64_t srv;
        json_t *reply;

        snprintf(line, sizeof(line),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"net.createServer\"}\n", id);
        netd_test_raw_send_str(raw, line);
        reply = netd_test_raw_recv(raw);
        srv = (uint64_t)netd_test_int_at(reply, "result.server");
        json_decref(reply);
        snprintf(line, sizeof(line),
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"server.listen\",\"params\":"
                 "{\"server\":%llu,\"path\":\"%s\"}}\n",
                 id + 1, (unsigned long long)srv, path);
        netd_test_raw_send_str(raw, line);
        for (;;) {
                reply = netd_test_raw_recv(raw);
                if (json_object_get(reply, "id"))
                        return reply;
                json_decref(reply); /* server.listening, server.error */
        }
}

/*
 * Relative paths, on the connection of a process running as nobody in
 * nobody's directory: resolved against that process's working directory
 * at request time (the file is nobody's); once that process has exited,
 * refused with a clear error (ESRCH), never resolved against another
 * process (netd's, the test's, or one that reused the pid).
 */
static void test_relative_paths(struct netd_test_daemon *t)
{
        char own_dir[128], path[200];
        struct netd_test_raw raw;
        int go[2], ready[2], status;
        struct stat st;
        json_t *reply;
        pid_t child;
        char c;

        netd_test_require_root();
        launch_with_policy(t, "", NULL);
        make_dir(t, "nobody", NOBODY, 0755, own_dir, sizeof(own_dir));
        raw = (struct netd_test_raw){ .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) };
        assert_true(raw.fd >= 0);
        assert_int_equal(pipe2(go, O_CLOEXEC), 0);
        assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };

                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->socket_path);
                close(go[1]);
                if (chdir(own_dir) < 0 || setgroups(0, NULL) < 0 ||
                    setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                    setresuid(NOBODY, NOBODY, NOBODY) < 0 ||
                    connect(raw.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                        _exit(1);
                /* Dumpable, as a program started as nobody is (the setresuid() cleared it). */
                (void)prctl(PR_SET_DUMPABLE, 1);
                (void)!write(ready[1], "r", 1);
                (void)!read(go[0], &c, 1); /* until the parent says so */
                _exit(0);
        }
        close(go[0]);
        close(ready[1]);
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);
        (void)fcntl(raw.fd, F_SETFL, fcntl(raw.fd, F_GETFL) | O_NONBLOCK);

        reply = raw_listen(&raw, 1, "rel.sock");
        snprintf(path, sizeof(path), "%s/rel.sock", own_dir);
        netd_test_assert_str(reply, "result", path);
        json_decref(reply);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_uid, NOBODY);

        close(go[1]); /* the connecting process exits; its connection lives on here */
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        reply = raw_listen(&raw, 3, "gone.sock");
        netd_test_assert_str(reply, "error.data.code", "ESRCH");
        schema_error("server.listen", json_object_get(reply, "error"));
        if (!strstr(json_string_value(netd_test_get(reply, "error.message")),
                    "use an absolute path"))
                fail_msg("expected an explanation in the message");
        json_decref(reply);
        snprintf(path, sizeof(path), "%s/gone.sock", own_dir);
        assert_false(exists(path));
        assert_false(exists("gone.sock"));
        netd_test_raw_close(&raw);
}

/* ---- Handles, netd.info, reusePort --------------------------------------------------------- */

/*
 * Another user's handles do not exist for nobody (ERR_NETD_HANDLE_NOT_FOUND,
 * whatever the method), and netd.info shows nobody only its own figures.
 */
static void test_foreign_handles_and_info(struct netd_test_daemon *t)
{
        struct netd_test_client *root, *nob, *nob2;
        uint64_t rsrv, nsrv;
        json_t *err, *info;

        netd_test_require_root();
        launch_with_policy(t, "", NULL);
        root = netd_test_connect(t);
        nob = netd_test_connect_as(t, NOBODY);
        nob2 = netd_test_connect_as(t, NOBODY);
        rsrv = netd_test_create_server(root, NULL);
        (void)netd_test_listen(root, rsrv, "127.0.0.1");
        (void)netd_test_create_server(root, NULL);
        nsrv = netd_test_create_server(nob2, NULL);

        err = netd_test_call_fail(nob, "server.close",
                                  json_pack("{s:I}", "server", (json_int_t)rsrv), -32001,
                                  "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);
        err = netd_test_call_fail(nob, "server.get", json_pack("{s:I}", "server", (json_int_t)rsrv),
                                  -32001, "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);
        err = netd_test_call_fail(nob, "server.address",
                                  json_pack("{s:I}", "server", (json_int_t)nsrv), -32001,
                                  "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);

        info = netd_test_call(nob, "netd.info", NULL);
        netd_test_assert_str(info, "scope", "user");
        assert_int_equal(netd_test_int_at(info, "connections"), 2);
        netd_test_assert_json(json_object_get(info, "handles"), "{\"servers\":1,\"sockets\":0}");
        assert_null(json_object_get(info, "stats"));
        assert_int_equal(netd_test_int_at(info, "user.uid"), NOBODY);
        assert_true(json_is_false(netd_test_get(info, "user.admin")));
        schema_result("netd.info", info);
        json_decref(info);
        info = netd_test_call(root, "netd.info", NULL);
        netd_test_assert_str(info, "scope", "all");
        assert_int_equal(netd_test_int_at(info, "connections"), 3);
        netd_test_assert_json(json_object_get(info, "handles"), "{\"servers\":3,\"sockets\":0}");
        assert_non_null(json_object_get(info, "stats"));
        schema_result("netd.info", info);
        json_decref(info);
}

/*
 * The byte paths and sessions of this round, as another user: nobody can't
 * attach, pipe from or pipe into root's socket (they don't exist for it),
 * can't take root's session with root's own token, and can't upgrade netd;
 * root's socket carries its bytes afterwards as before.
 */
static void test_foreign_byte_paths(struct netd_test_daemon *t)
{
        struct netd_test_client *root, *nob;
        uint64_t rs, ns;
        int lfd, port, rpeer, npeer;
        json_t *r, *err;
        char token[64], buf[8];

        netd_test_require_root();
        launch_with_policy(t, "", NULL);
        root = netd_test_connect(t);
        nob = netd_test_connect_as(t, NOBODY);
        lfd = netd_test_tcp_socket(true, &port);
        rs = netd_test_connect_tcp(root, port, "127.0.0.1", NULL);
        rpeer = netd_test_accept_peer(lfd);
        ns = netd_test_connect_tcp(nob, port, "127.0.0.1", NULL);
        npeer = netd_test_accept_peer(lfd);
        (void)netd_test_wait_event(root, "socket.connect", rs, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(nob, "socket.connect", ns, NETD_TEST_TIMEOUT_MS);
        r = netd_test_call(root, "netd.detach", NULL);
        (void)snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(r, "token")));
        json_decref(r);

        err = netd_test_call_fail(nob, "socket.attach",
                                  json_pack("{s:I}", "socket", (json_int_t)rs), -32001,
                                  "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);
        err = netd_test_call_fail(
                nob, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)ns, "destination", (json_int_t)rs),
                -32001, "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);
        err = netd_test_call_fail(
                nob, "socket.pipe",
                json_pack("{s:I,s:I}", "socket", (json_int_t)rs, "destination", (json_int_t)ns),
                -32001, "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);
        err = netd_test_call_fail(nob, "socket.unpipe",
                                  json_pack("{s:I}", "socket", (json_int_t)rs), -32001,
                                  "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);
        err = netd_test_call_fail(nob, "netd.attach", json_pack("{s:s}", "token", token), -32001,
                                  "ERR_NETD_PERMISSION");
        json_decref(err);
        err = netd_test_call_fail(nob, "netd.upgrade", NULL, -32001, "ERR_NETD_PERMISSION");
        json_decref(err);

        /* Root's socket is root's still: its bytes go both ways, none of them to nobody. */
        json_decref(
                netd_test_call(root, "socket.write",
                               json_pack("{s:I,s:s}", "socket", (json_int_t)rs, "data", "root")));
        netd_test_peer_expect(t, rpeer, "root");
        assert_int_equal(write(rpeer, "back", 4), 4);
        (void)netd_test_wait_event(root, "socket.data", rs, NETD_TEST_TIMEOUT_MS);
        assert_int_equal(recv(npeer, buf, sizeof(buf), MSG_DONTWAIT), -1);
        assert_int_equal(errno, EAGAIN);
        close(rpeer);
        close(npeer);
        close(lfd);
}

/*
 * reusePort: root's second server joins root's group; nobody's is refused
 * (the kernel would let it in, since netd made every socket).
 */
static void test_reuse_port_per_user(struct netd_test_daemon *t)
{
        struct netd_test_client *root, *root2, *nob;
        json_t *res, *err;
        uint64_t a, b, c;
        int port;

        netd_test_require_root();
        launch_with_policy(t, "", NULL);
        root = netd_test_connect(t);
        root2 = netd_test_connect(t);
        nob = netd_test_connect_as(t, NOBODY);
        a = netd_test_create_server(root, NULL);
        res = netd_test_call(root, "server.listen",
                             listen_params(a, 0, json_pack("{s:b}", "reusePort", 1)));
        port = (int)netd_test_int_at(res, "port");
        json_decref(res);
        b = netd_test_create_server(root2, NULL);
        res = netd_test_call(root2, "server.listen",
                             listen_params(b, port, json_pack("{s:b}", "reusePort", 1)));
        json_decref(res);
        c = netd_test_create_server(nob, NULL);
        err = netd_test_call_fail(nob, "server.listen",
                                  listen_params(c, port, json_pack("{s:b}", "reusePort", 1)),
                                  -32001, "ERR_NETD_PERMISSION");
        netd_test_assert_str(err, "data.rule", "reusePort");
        json_decref(err);
        err = netd_test_call_fail(nob, "server.listen", listen_params(c, port, NULL), -32000,
                                  "EADDRINUSE");
        json_decref(err);
}

/*
 * --handle-ids=random: ids are positive, below 2^53, never repeated, and do
 * not count up: a client cannot read from its own ids how many handles
 * other clients made in between.
 */
static void test_random_handle_ids(struct netd_test_daemon *t)
{
        struct netd_test_client *a, *b;
        uint64_t ids[200];
        unsigned up = 0;

        netd_test_require_root();
        launch_with_policy(t, "", NULL);
        a = netd_test_connect(t);
        b = netd_test_connect_as(t, NOBODY);
        for (size_t i = 0; i < 200; i++) {
                ids[i] = netd_test_create_server(i % 2 ? b : a, NULL);
                assert_true(ids[i] > 0 && ids[i] < (UINT64_C(1) << 53));
                for (size_t j = 0; j < i; j++)
                        assert_true(ids[j] != ids[i]);
                if (i > 0 && ids[i] == ids[i - 1] + 1)
                        up++;
        }
        /* Sequential ids would count up 199 times; a keyed permutation about never. */
        assert_true(up < 5);
        (void)netd_test_listen(a, ids[0], "127.0.0.1");
        (void)netd_test_listen(b, ids[1], "127.0.0.1");
        netd_test_call_true(b, "server.close", json_pack("{s:I}", "server", (json_int_t)ids[1]));
}

/* ---- Quotas -------------------------------------------------------------------------------- */

/*
 * A raw client of uid that writes a request first, reads the refusal line,
 * writes again (accepted, read and dropped: no EPIPE), then sees EOF.
 */
static void expect_refused_as(struct netd_test_daemon *t, uid_t uid, const char *limit)
{
        struct netd_test_raw r;
        json_t *line;

        netd_test_raw_open_as(t, &r, uid);
        netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"netd.info\"}\n");
        line = netd_test_raw_recv(&r);
        netd_test_assert_str(line, "error.data.code", "ERR_NETD_LIMIT");
        netd_test_assert_str(line, "error.data.limit", limit);
        json_decref(line);
        /* netd has refused it by now, and still takes what the client writes: no EPIPE. */
        netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"netd.info\"}\n");
        netd_test_raw_expect_eof(&r);
        netd_test_raw_close(&r);
}

/*
 * handlesPerUid 20: nobody's 21st handle is refused while another user (30
 * by the policy) and root go on; maxClientsPerUid 3 for every user but root
 * (policy [default]) and maxClients 12 (3 reserved for root):
 * nobody's 4th connection and a third user's past 9 in all are refused with
 * the error line (after writing first), root still gets in.
 */
static void test_quotas(struct netd_test_daemon *t)
{
        static const char *const more[] = { "--limit=handlesPerUid=20", "--max-clients=12", NULL };
        struct netd_test_client *nob, *other, *root;
        json_t *err, *info;
        unsigned made = 0;

        netd_test_require_root();
        launch_with_policy(t,
                           "[default]\nmaxClientsPerUid = 3\n"
                           "[user:65533]\nhandlesPerUid = 30\n",
                           more);
        nob = netd_test_connect_as(t, NOBODY);
        other = netd_test_connect_as(t, OTHER);
        root = netd_test_connect(t);
        for (;;) {
                struct netd_client_error e;
                int r = netd_client_call_sync(nob->c, "net.createServer", NULL,
                                              NETD_TEST_TIMEOUT_MS, NULL, &e);

                if (r < 0) {
                        assert_int_equal(r, -EREMOTEIO);
                        assert_string_equal(e.data_code, "ERR_NETD_LIMIT");
                        netd_client_error_done(&e);
                        break;
                }
                made++;
                assert_true(made <= 20);
        }
        assert_int_equal(made, 20);
        err = netd_test_call_fail(nob, "net.Socket", NULL, -32001, "ERR_NETD_LIMIT");
        netd_test_assert_str(err, "data.limit", "handlesPerUid");
        json_decref(err);
        /* The policy gives 65533 thirty; root has no handle quota. */
        for (int i = 0; i < 30; i++)
                (void)netd_test_create_server(other, NULL);
        err = netd_test_call_fail(other, "net.createServer", NULL, -32001, "ERR_NETD_LIMIT");
        json_decref(err);
        for (int i = 0; i < 40; i++)
                (void)netd_test_create_server(root, NULL);
        info = netd_test_call(nob, "netd.info", NULL);
        assert_int_equal(netd_test_int_at(info, "user.handlesPerUid"), 20);
        json_decref(info);

        /* Connections: nobody's 4th is refused, the others go on. */
        (void)netd_test_connect_as(t, NOBODY);
        (void)netd_test_connect_as(t, NOBODY);
        expect_refused_as(t, NOBODY, "max_clients_per_uid");
        {
                /* As `echo REQUEST | socat - UNIX:…` does: write, shut down, then read. */
                struct netd_test_raw r;
                json_t *line;

                netd_test_raw_open_as(t, &r, NOBODY);
                netd_test_raw_send_str(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n");
                assert_int_equal(shutdown(r.fd, SHUT_WR), 0);
                line = netd_test_raw_recv(&r);
                netd_test_assert_str(line, "error.data.limit", "max_clients_per_uid");
                json_decref(line);
                netd_test_raw_expect_eof(&r);
                netd_test_raw_close(&r);
        }
        (void)netd_test_connect_as(t, OTHER);
        (void)netd_test_connect_as(t, OTHER);
        /* 7 now; 65532 gets 2 more up to the 9 non-reserved slots, then none. */
        (void)netd_test_connect_as(t, 65532);
        (void)netd_test_connect_as(t, 65532);
        expect_refused_as(t, 65532, "max_clients");
        /* Root takes the reserved slots. */
        for (int i = 0; i < 3; i++)
                info = netd_test_call(netd_test_connect(t), "netd.info", NULL), json_decref(info);
        expect_refused_as(t, 0, "max_clients");
        info = netd_test_call(root, "netd.info", NULL);
        assert_int_equal(netd_test_int_at(info, "connections"), 12);
        assert_true(netd_test_int_at(info, "stats.handlesRefusedUid") >= 3);
        json_decref(info);
        /* The users at their quota are still served. */
        info = netd_test_call(nob, "netd.info", NULL);
        json_decref(info);
}

/*
 * With RLIMIT_NOFILE 256, a user's handle quota is a quarter of netd's
 * descriptors (handlesPerUid stays 1024): nobody's listeners stop there with
 * ERR_NETD_LIMIT, and another user and root still get theirs.
 */
static void test_descriptor_share(struct netd_test_daemon *t)
{
        struct netd_test_client *nob, *other, *root;
        struct rlimit old, low;
        json_int_t quota;
        json_t *info, *err;

        netd_test_require_root();
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
        low = (struct rlimit){ .rlim_cur = 256, .rlim_max = old.rlim_max };
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        launch_with_policy(t, "", NULL);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
        nob = netd_test_connect_as(t, NOBODY);
        other = netd_test_connect_as(t, OTHER);
        root = netd_test_connect(t);
        info = netd_test_call(nob, "netd.info", NULL);
        quota = netd_test_int_at(info, "user.handlesPerUid");
        json_decref(info);
        assert_true(quota >= 32 && quota <= 64);
        for (json_int_t i = 0; i < quota; i++) {
                (void)netd_test_listen(nob, netd_test_create_server(nob, NULL), "127.0.0.1");
                (void)netd_test_listen(other, netd_test_create_server(other, NULL), "127.0.0.1");
        }
        err = netd_test_call_fail(nob, "net.createServer", NULL, -32001, "ERR_NETD_LIMIT");
        netd_test_assert_str(err, "data.limit", "handlesPerUid");
        json_decref(err);
        for (int i = 0; i < 40; i++)
                (void)netd_test_listen(root, netd_test_create_server(root, NULL), "127.0.0.1");
}

/*
 * bufferedBytesPerUid 1 MiB: nobody writes fire-and-forget 64 KiB chunks to
 * a peer that never reads; once its sockets would hold more than 1 MiB
 * unsent in netd, the socket ends with socket.error ERR_NETD_LIMIT (no
 * reply carries a notification's refusal, and nothing is dropped quietly),
 * while another user's writes go on.
 */
static void test_buffer_quota(struct netd_test_daemon *t)
{
        static const char *const more[] = { "--limit=bufferedBytesPerUid=1048576", NULL };
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        struct netd_test_client *nob, *other;
        int lfd, peer, rcvbuf = 4096, port, writes = 0;
        uint64_t s, srv, o;
        char *chunk;
        json_t *ev, *info;

        netd_test_require_root();
        launch_with_policy(t, "", more);
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(lfd >= 0);
        assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
        assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(lfd, 4), 0);
        assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
        port = ntohs(sa.sin_port);

        nob = netd_test_connect_as(t, NOBODY);
        s = netd_test_connect_tcp(nob, port, "127.0.0.1", NULL);
        (void)netd_test_wait_event(nob, "socket.connect", s, NETD_TEST_TIMEOUT_MS);
        peer = netd_test_accept_peer(lfd); /* never read */
        chunk = malloc(65537);
        assert_non_null(chunk);
        memset(chunk, 'x', 65536);
        chunk[65536] = '\0';
        while (!netd_test_find_event(nob, "socket.error", s)) {
                assert_int_equal(netd_client_notify(nob->c, "socket.write",
                                                    json_pack("{s:I,s:s}", "socket", (json_int_t)s,
                                                              "data", chunk)),
                                 0);
                if (++writes % 8 == 0)
                        netd_test_call_true(nob, "netd.sync", NULL);
                if (writes > 1024)
                        fail_msg("64 MiB written without reaching bufferedBytesPerUid");
        }
        free(chunk);
        ev = netd_test_find_event(nob, "socket.error", s);
        netd_test_assert_str(ev, "error.data.code", "ERR_NETD_LIMIT");
        netd_test_assert_str(ev, "error.data.limit", "bufferedBytesPerUid");
        schema_event("socket.error", ev);
        (void)netd_test_wait_event(nob, "socket.close", s, NETD_TEST_TIMEOUT_MS);
        fprintf(stderr, "netd-test: buffer quota: refused after %d writes of 64 KiB\n", writes);

        /* Another user writes on. */
        other = netd_test_connect_as(t, OTHER);
        srv = netd_test_create_server(other, NULL);
        o = netd_test_connect_tcp(other, netd_test_listen(other, srv, "127.0.0.1"), "127.0.0.1",
                                  NULL);
        (void)netd_test_wait_event(other, "socket.connect", o, NETD_TEST_TIMEOUT_MS);
        netd_test_call_true(
                other, "socket.write",
                json_pack("{s:I,s:s}", "socket", (json_int_t)o, "data", "still served"));
        info = netd_test_call(netd_test_connect(t), "netd.info", NULL);
        assert_true(netd_test_int_at(info, "stats.buffersOverUid") >= 1);
        json_decref(info);
        close(peer);
        close(lfd);
}

/*
 * lookupsPerUid 3: with a nameserver that never answers, nobody's fourth
 * lookup in flight fails at once (socket.error ERR_NETD_LIMIT), while
 * another user's lookup still starts.
 */
static void test_lookup_quota(struct netd_test_daemon *t)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        char resolv[160], resolv_arg[200], line[64];
        const char *more[] = { resolv_arg, "--limit=lookupsPerUid=3", NULL };
        struct netd_test_client *nob, *other;
        uint64_t s[4], o;
        json_t *ev;
        int dns;

        netd_test_require_root();
        dns = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(dns >= 0);
        assert_int_equal(bind(dns, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(dns, (struct sockaddr *)&sa, &len), 0);
        snprintf(resolv, sizeof(resolv), "%s/resolv-silent.conf", t->dir);
        snprintf(line, sizeof(line), "nameserver 127.0.0.1:%d\n", ntohs(sa.sin_port));
        write_text(resolv, line);
        snprintf(resolv_arg, sizeof(resolv_arg), "--resolv-conf=%s", resolv);
        launch_with_policy(t, "", more);
        nob = netd_test_connect_as(t, NOBODY);
        other = netd_test_connect_as(t, OTHER);
        for (int i = 0; i < 4; i++)
                s[i] = netd_test_connect_tcp(nob, 80, "nowhere.test", NULL);
        ev = netd_test_wait_event(nob, "socket.error", s[3], NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(ev, "error.data.code", "ERR_NETD_LIMIT");
        netd_test_assert_str(ev, "error.data.limit", "lookupsPerUid");
        o = netd_test_connect_tcp(other, 80, "nowhere.test", NULL);
        netd_test_call_true(other, "netd.sync", NULL);
        netd_test_call_true(nob, "netd.sync", NULL);
        assert_null(netd_test_find_event(other, "socket.error", o));
        for (int i = 0; i < 3; i++)
                assert_null(netd_test_find_event(nob, "socket.error", s[i]));
        close(dns);
}

/*
 * [default] connect = ... makes connecting an allow list for everyone but
 * root: nobody reaches the granted port, not another (socket.error
 * ERR_NETD_PERMISSION, rule "connect"); root reaches both.
 */
static void test_connect_allow_list(struct netd_test_daemon *t)
{
        struct netd_test_client *nob, *root;
        uint64_t a, b, s;
        int pa, pb;
        char policy[200];
        json_t *ev, *info;

        netd_test_require_root();
        launch_with_policy(t, "", NULL);
        root = netd_test_connect(t);
        a = netd_test_create_server(root, NULL);
        pa = netd_test_listen(root, a, "127.0.0.1");
        b = netd_test_create_server(root, NULL);
        pb = netd_test_listen(root, b, "127.0.0.1");
        snprintf(policy, sizeof(policy), "[default]\nconnect = 127.0.0.0/8 %d\n", pa);
        write_policy(t, policy);
        info = reload(t, root);
        json_decref(info);
        nob = netd_test_connect_as(t, NOBODY);
        s = netd_test_connect_tcp(nob, pa, "127.0.0.1", NULL);
        (void)netd_test_wait_event(nob, "socket.connect", s, NETD_TEST_TIMEOUT_MS);
        s = netd_test_connect_tcp(nob, pb, "127.0.0.1", NULL);
        ev = netd_test_wait_event(nob, "socket.error", s, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(ev, "error.data.code", "ERR_NETD_PERMISSION");
        netd_test_assert_str(ev, "error.data.rule", "connect");
        s = netd_test_connect_tcp(root, pb, "127.0.0.1", NULL);
        (void)netd_test_wait_event(root, "socket.connect", s, NETD_TEST_TIMEOUT_MS);
}

/*
 * unix = <dir>/granted/ lends nobody netd's group (root's, here) for paths
 * right in that directory: nobody may listen in it (0775, the file is then
 * nobody's) and connect to root's 0770 socket there, but not through a
 * symlink planted in it, nor anywhere else.
 */
static void test_unix_grant(struct netd_test_daemon *t)
{
        char granted[128], policy[300], path[220], root_sock[220], link[220], target[220];
        struct netd_test_client *nob, *root;
        uint64_t srv, s;
        struct stat st;
        json_t *res, *ev, *err;

        netd_test_require_root();
        launch_with_policy(t, "", NULL);
        make_dir(t, "granted", 0, 0775, granted, sizeof(granted));
        snprintf(policy, sizeof(policy), "[user:%d]\nunix = %s/\n", NOBODY, granted);
        write_policy(t, policy);
        root = netd_test_connect(t);
        res = reload(t, root);
        json_decref(res);
        nob = netd_test_connect_as(t, NOBODY);

        snprintf(path, sizeof(path), "%s/nob.sock", granted);
        srv = netd_test_create_server(nob, NULL);
        res = netd_test_call(nob, "server.listen", path_params("server", srv, path, NULL));
        json_decref(res);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_uid, NOBODY);

        snprintf(root_sock, sizeof(root_sock), "%s/root.sock", granted);
        res = netd_test_call(
                root, "server.listen",
                path_params("server", netd_test_create_server(root, NULL), root_sock, NULL));
        json_decref(res);
        assert_int_equal(chmod(root_sock, 0770), 0);
        res = netd_test_call(nob, "net.connect", path_params(NULL, 0, root_sock, NULL));
        s = (uint64_t)netd_test_int_at(res, "socket");
        json_decref(res);
        (void)netd_test_wait_event(nob, "socket.connect", s, NETD_TEST_TIMEOUT_MS);

        /* A symlink in the granted directory to a socket elsewhere is not followed. */
        snprintf(target, sizeof(target), "%s/elsewhere.sock", t->dir);
        res = netd_test_call(
                root, "server.listen",
                path_params("server", netd_test_create_server(root, NULL), target, NULL));
        json_decref(res);
        snprintf(link, sizeof(link), "%s/link.sock", granted);
        assert_int_equal(symlink(target, link), 0);
        res = netd_test_call(nob, "net.connect", path_params(NULL, 0, link, NULL));
        s = (uint64_t)netd_test_int_at(res, "socket");
        json_decref(res);
        ev = netd_test_wait_event(nob, "socket.error", s, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_str(ev, "error.data.code", "ELOOP");

        /* Outside the grant, nobody's own rights: the test directory is root's. */
        snprintf(path, sizeof(path), "%s/outside.sock", t->dir);
        srv = netd_test_create_server(nob, NULL);
        err = netd_test_call_fail(nob, "server.listen", path_params("server", srv, path, NULL),
                                  -32000, "EACCES");
        json_decref(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST_MANUAL(test_privileged_port_then_granted),
                NETD_TEST_MANUAL(test_bad_policy_at_start),
                NETD_TEST_MANUAL(test_socket_mode_group),
                NETD_TEST_MANUAL(test_setpriv_netctl),
                NETD_TEST_MANUAL(test_unix_paths_client_rights),
                NETD_TEST_MANUAL(test_symlink_swap_race),
                NETD_TEST_MANUAL(test_relative_paths),
                NETD_TEST_MANUAL(test_foreign_handles_and_info),
                NETD_TEST_MANUAL(test_foreign_byte_paths),
                NETD_TEST_MANUAL(test_reuse_port_per_user),
                NETD_TEST_MANUAL(test_random_handle_ids),
                NETD_TEST_MANUAL(test_quotas),
                NETD_TEST_MANUAL(test_lookup_quota),
                NETD_TEST_MANUAL(test_buffer_quota),
                NETD_TEST_MANUAL(test_descriptor_share),
                NETD_TEST_MANUAL(test_connect_allow_list),
                NETD_TEST_MANUAL(test_unix_grant),
        };

        return cmocka_run_group_tests_name("integration/access", tests, NULL, NULL);
}
