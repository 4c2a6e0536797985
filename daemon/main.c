/*
 * netd's entry point: command line (arg_*), the control socket (given,
 * default or inherited from systemd), readiness (sd_notify, --ready-fd, or
 * the parent of a background daemon), signals, the loop, the exit code.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "daemon.h"
#include "fdstore.h"
#include "frame.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "paths.h"
#include "upgrade.h"

#define SD_LISTEN_FDS_START 3

static const char *arg_socket_path = NULL;
static bool arg_foreground = false;
static int arg_ready_fd = -1;
static const char *arg_resolv_conf = NULL;
static const char *arg_hosts_file = NULL;
static const char *arg_config = NULL; /* NULL: NETD_CONFIG_PATH_DEFAULT, missing is fine */
static mode_t arg_socket_mode = 0600;
static gid_t arg_socket_group = (gid_t)-1;
static bool arg_random_ids = true;

#define NETD_CONFIG_PATH_DEFAULT "/etc/netd/netd.conf"

static void help(void)
{
        printf("Usage: netd [OPTION]...\n"
               "Own TCP sockets on behalf of clients that drive them with JSON-RPC 2.0\n"
               "over a UNIX socket, mirroring Node.js's net API.\n\n"
               "  -s, --socket=PATH         control socket (default: $NETD_SOCKET, else\n"
               "                            $XDG_RUNTIME_DIR/netd/netd.sock when not root,\n"
               "                            else %s)\n"
               "  -f, --foreground          stay in the foreground (the default under systemd)\n"
               "  -l, --log-level=LEVEL     err, warning, notice, info (default) or debug\n"
               "      --max-line-bytes=N    longest request line accepted (default %d)\n"
               "      --max-clients=N       control connections at once (default 256)\n"
               "      --limit=NAME=VALUE    set any limit netd.info lists (repeatable), e.g.\n"
               "                            --limit=inflightMax=64 --limit=stallTimeoutMs=30000\n"
               "      --config=PATH         policy file (default " NETD_CONFIG_PATH_DEFAULT
               ", if present);\n"
               "                            SIGHUP re-reads it\n"
               "      --socket-mode=MODE    control socket file mode, octal (default 0600)\n"
               "      --socket-group=GROUP  control socket file group (name or gid)\n"
               "      --handle-ids=KIND     random (default): ids that tell a client nothing\n"
               "                            of other clients' activity; or sequential (1, 2, ...)\n"
               "      --resolv-conf=PATH    resolver configuration (default /etc/resolv.conf)\n"
               "      --hosts-file=PATH     hosts file for name lookups (default /etc/hosts)\n"
               "      --ready-fd=FD         write \"READY=1\\n\" to FD once serving, then close "
               "it\n"
               "      --upgrade-check=FD    validate an upgrade state (SIGUSR2 runs this), exit\n"
               "  -h, --help                show this help and exit\n"
               "  -V, --version             show the version and exit\n\n"
               "Exit status: 0 after SIGTERM/SIGINT, 1 on a start-up failure, 2 on bad usage.\n",
               NETD_SOCKET_PATH_SYSTEM, NETD_FRAME_MAX_BYTES_DEFAULT);
}

/* Every limit settable with --limit NAME=VALUE, under the name netd.info reports. */
static const struct limit_option {
        const char *name;
        size_t offset;
        bool is_size_t; /* else unsigned */
        unsigned long long min, max;
} limit_options[] = {
#define LIMIT_SIZE(n, f, lo, hi)                                 \
        {                                                        \
                n, offsetof(struct netd_limits, f), true, lo, hi \
        }
#define LIMIT_UINT(n, f, lo, hi)                                  \
        {                                                         \
                n, offsetof(struct netd_limits, f), false, lo, hi \
        }
        LIMIT_UINT("batchMax", batch_max, 1, 100000),
        LIMIT_UINT("bufferedBytesPerUid", buffered_per_uid, 4096, UINT32_MAX - 1),
        LIMIT_UINT("closedKeep", closed_keep, 0, 1000000),
        LIMIT_SIZE("connWriteBytes", conn_write_bytes, 4096, 1ULL << 40),
        LIMIT_UINT("fdReserve", fd_reserve, 0, 100000),
        LIMIT_SIZE("frameMaxBytes", frame_max_bytes, 64, 1ULL << 30),
        LIMIT_UINT("handlesPerConn", handles_per_conn, 1, 10000000),
        LIMIT_UINT("handlesPerUid", handles_per_uid, 1, 10000000),
        LIMIT_SIZE("highWaterMark", write_high_bytes, 1, 1ULL << 30),
        LIMIT_UINT("inflightMax", inflight_max, 1, 1000000),
        LIMIT_UINT("lookupsMax", lookups_max, 1, 10000),
        LIMIT_UINT("lookupsPerConn", lookups_per_conn, 1, 10000),
        LIMIT_UINT("lookupsPerUid", lookups_per_uid, 1, 1000000),
        LIMIT_UINT("maxClients", max_clients, 1, 1000000),
        LIMIT_UINT("maxClientsPerUid", max_clients_per_uid, 1, 1000000),
        LIMIT_SIZE("outHardBytes", out_hard_bytes, 4096, 1ULL << 34),
        LIMIT_SIZE("outHighBytes", out_high_bytes, 4096, 1ULL << 34),
        LIMIT_SIZE("outLowBytes", out_low_bytes, 0, 1ULL << 34),
        LIMIT_SIZE("parseMaxBytes", parse_max_bytes, 4096, 1ULL << 34),
        LIMIT_SIZE("readChunkBytes", read_chunk_bytes, 4096, 64ULL << 20),
        LIMIT_UINT("reservedClients", reserved_clients, 0, 1000000),
        LIMIT_UINT("reqsPerEvent", reqs_per_event, 1, 1000000),
        LIMIT_SIZE("sessionKeptBytes", session_kept_bytes, 4096, 1ULL << 34),
        LIMIT_UINT("sessionLingerMaxMs", session_linger_max_ms, 0, 86400000),
        LIMIT_UINT("sessionLingerMs", session_linger_ms, 0, 86400000),
        LIMIT_UINT("stallTimeoutMs", stall_timeout_ms, 1, 86400000),
        LIMIT_UINT("stopGraceMs", stop_grace_ms, 0, 3600000),
        LIMIT_SIZE("totalWriteBytes", total_write_bytes, 4096, 1ULL << 40),
        LIMIT_SIZE("writeHardBytes", write_hard_bytes, 4096, 1ULL << 34),
#undef LIMIT_SIZE
#undef LIMIT_UINT
};

static int parse_size(const char *s, unsigned long long min, unsigned long long max,
                      unsigned long long *ret)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max || *s == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Applies "NAME=VALUE" to limits. Returns 0 or -EINVAL (after saying why). */
static int parse_limit(const char *arg, struct netd_limits *limits)
{
        const char *eq = strchr(arg, '=');
        unsigned long long v;

        for (size_t i = 0; eq && i < sizeof(limit_options) / sizeof(limit_options[0]); i++) {
                const struct limit_option *o = &limit_options[i];

                if (strlen(o->name) != (size_t)(eq - arg) || strncmp(o->name, arg, eq - arg) != 0)
                        continue;
                if (parse_size(eq + 1, o->min, o->max, &v) < 0) {
                        fprintf(stderr, "netd: --limit %s takes %llu to %llu\n", o->name, o->min,
                                o->max);
                        return -EINVAL;
                }
                if (o->is_size_t)
                        *(size_t *)((char *)limits + o->offset) = (size_t)v;
                else
                        *(unsigned *)((char *)limits + o->offset) = (unsigned)v;
                return 0;
        }
        fprintf(stderr, "netd: --limit takes NAME=VALUE; names:");
        for (size_t i = 0; i < sizeof(limit_options) / sizeof(limit_options[0]); i++)
                fprintf(stderr, " %s", limit_options[i].name);
        fprintf(stderr, "\n");
        return -EINVAL;
}

static int parse_argv(int argc, char *argv[], struct netd_limits *limits)
{
        enum {
                ARG_MAX_LINE = 0x100,
                ARG_READY_FD,
                ARG_MAX_CLIENTS,
                ARG_RESOLV_CONF,
                ARG_HOSTS_FILE,
                ARG_LIMIT,
                ARG_CONFIG,
                ARG_SOCKET_MODE,
                ARG_SOCKET_GROUP,
                ARG_HANDLE_IDS,
        };
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "foreground", no_argument, NULL, 'f' },
                { "log-level", required_argument, NULL, 'l' },
                { "max-line-bytes", required_argument, NULL, ARG_MAX_LINE },
                { "max-clients", required_argument, NULL, ARG_MAX_CLIENTS },
                { "ready-fd", required_argument, NULL, ARG_READY_FD },
                { "resolv-conf", required_argument, NULL, ARG_RESOLV_CONF },
                { "hosts-file", required_argument, NULL, ARG_HOSTS_FILE },
                { "limit", required_argument, NULL, ARG_LIMIT },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "socket-mode", required_argument, NULL, ARG_SOCKET_MODE },
                { "socket-group", required_argument, NULL, ARG_SOCKET_GROUP },
                { "handle-ids", required_argument, NULL, ARG_HANDLE_IDS },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        unsigned long long v;
        int c, r;

        while ((c = getopt_long(argc, argv, "s:fl:hV", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        arg_socket_path = optarg;
                        break;
                case 'f':
                        arg_foreground = true;
                        break;
                case 'l':
                        r = netd_log_level_from_string(optarg);
                        if (r < 0) {
                                fprintf(stderr, "netd: unknown log level '%s'\n", optarg);
                                return -EINVAL;
                        }
                        netd_log_max_level = r;
                        break;
                case ARG_MAX_LINE:
                        if (parse_size(optarg, 64, 1ULL << 30, &v) < 0) {
                                fprintf(stderr, "netd: --max-line-bytes takes 64 to %llu\n",
                                        1ULL << 30);
                                return -EINVAL;
                        }
                        limits->frame_max_bytes = (size_t)v;
                        break;
                case ARG_MAX_CLIENTS:
                        if (parse_size(optarg, 1, 1000000, &v) < 0) {
                                fprintf(stderr, "netd: --max-clients takes 1 to 1000000\n");
                                return -EINVAL;
                        }
                        limits->max_clients = (unsigned)v;
                        break;
                case ARG_READY_FD:
                        if (parse_size(optarg, 0, INT_MAX, &v) < 0) {
                                fprintf(stderr, "netd: --ready-fd takes a file descriptor\n");
                                return -EINVAL;
                        }
                        arg_ready_fd = (int)v;
                        break;
                case ARG_RESOLV_CONF:
                        arg_resolv_conf = optarg;
                        break;
                case ARG_HOSTS_FILE:
                        arg_hosts_file = optarg;
                        break;
                case ARG_LIMIT:
                        if (parse_limit(optarg, limits) < 0)
                                return -EINVAL;
                        break;
                case ARG_CONFIG:
                        arg_config = optarg;
                        break;
                case ARG_SOCKET_MODE: {
                        char *end;
                        unsigned long m;

                        errno = 0;
                        m = strtoul(optarg, &end, 8);
                        if (errno || end == optarg || *end || m > 0777) {
                                fprintf(stderr, "netd: --socket-mode takes an octal mode, e.g. "
                                                "0660\n");
                                return -EINVAL;
                        }
                        arg_socket_mode = (mode_t)m;
                        break;
                }
                case ARG_HANDLE_IDS:
                        if (strcmp(optarg, "sequential") != 0 && strcmp(optarg, "random") != 0) {
                                fprintf(stderr, "netd: --handle-ids takes sequential or random\n");
                                return -EINVAL;
                        }
                        arg_random_ids = optarg[0] == 'r';
                        break;
                case ARG_SOCKET_GROUP: {
                        struct group *gr = getgrnam(optarg);

                        if (gr)
                                arg_socket_group = gr->gr_gid;
                        else if (parse_size(optarg, 0, UINT32_MAX - 1, &v) == 0)
                                arg_socket_group = (gid_t)v;
                        else {
                                fprintf(stderr, "netd: --socket-group: no such group '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                }
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("netd %s\n", netd_build_version);
                        return 0;
                default:
                        fprintf(stderr, "Try 'netd --help'.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "netd: unexpected argument '%s'\nTry 'netd --help'.\n",
                        argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static void ready(struct netd_daemon *d)
{
        netd_notify_ready(d);
        if (arg_ready_fd >= 0) {
                (void)!write(arg_ready_fd, "READY=1\n", 8);
                close(arg_ready_fd);
                arg_ready_fd = -1;
        }
}

/*
 * Takes the sockets systemd passed (LISTEN_FDS): the one named "control", or
 * else the first, is the control socket (returned, or -1 without any).
 * Detached sessions' sockets coming back from the fd store (names starting
 * NETD_FDSTORE_SESSION_PREFIX, notify.h) go to d->notify for the sessions
 * to rebuild, never to clients; the others are kept under their
 * FileDescriptorName for server.listen {handle}.
 */
static int systemd_listen_fds(struct netd_daemon *d)
{
        const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
        const char *names_env = getenv("LISTEN_FDNAMES");
        char *names = NULL, *save = NULL, *name;
        int n, control = -1;

        if (!pid || !fds || atol(pid) != (long)getpid())
                return -1;
        n = atoi(fds);
        /* Sockets of the units, plus up to FileDescriptorStoreMax= (1024) from the fd store. */
        if (n < 1 || n > 65536)
                return -1;
        if (names_env)
                names = strdup(names_env);
        d->inherited = calloc((size_t)n, sizeof(*d->inherited));
        name = names ? strtok_r(names, ":", &save) : NULL;
        for (int i = 0; i < n; i++, name = name ? strtok_r(NULL, ":", &save) : NULL) {
                int fd = SD_LISTEN_FDS_START + i;

                (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
                if (name && strncmp(name, NETD_FDSTORE_SESSION_PREFIX,
                                    strlen(NETD_FDSTORE_SESSION_PREFIX)) == 0) {
                        if (netd_notify_keep_stored(d->notify, name, fd) == 0)
                                log_info("Got back a session's socket from systemd's fd store");
                        continue;
                }
                if (control < 0 && (!names || (name && strcmp(name, "control") == 0))) {
                        control = fd;
                        continue;
                }
                if (!d->inherited || !name) {
                        close(fd);
                        continue;
                }
                d->inherited[d->n_inherited].name = strdup(name);
                d->inherited[d->n_inherited].fd = fd;
                d->n_inherited++;
                log_info("Inherited socket '%s' from systemd", name);
        }
        if (control < 0 && d->n_inherited > 0) {
                /* No "control" name: the first socket serves as the control socket. */
                control = d->inherited[0].fd;
                free(d->inherited[0].name);
                memmove(d->inherited, d->inherited + 1, --d->n_inherited * sizeof(*d->inherited));
        }
        free(names);
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
        return control;
}

/*
 * Loads the policy file into d. At start (reload false) a bad file stops
 * netd; on SIGHUP it is reported and the policy in force stays.
 */
static int load_policy(struct netd_daemon *d, bool reload)
{
        const char *path = arg_config ? arg_config : NETD_CONFIG_PATH_DEFAULT;
        struct netd_policy *p;
        char err[300] = "";
        int r;

        r = netd_policy_load(path, !arg_config, &p, err, sizeof(err));
        if (r < 0) {
                if (reload)
                        log_error("Failed to reload the policy %s: %s; keeping the policy in "
                                  "force",
                                  path, err);
                else
                        log_error("Failed to load the policy %s: %s", path, err);
                return r;
        }
        p->generation = d->policy ? d->policy->generation + 1 : 1;
        netd_policy_free(d->policy);
        d->policy = p;
        log_info("%s policy %s (%zu sections, generation %u)", reload ? "Reloaded" : "Loaded",
                 p->path ? p->path : "(none: the default policy)", p->n_sections, p->generation);
        return 0;
}

static void sighup_cb(evutil_socket_t sig, short what, void *arg)
{
        struct netd_daemon *d = arg;

        if (load_policy(d, true) < 0)
                d->policy_errors++;
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
        log_info("Received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        netd_notify_stopping(arg);
        netd_daemon_stop(arg);
}

static void sigusr2_cb(evutil_socket_t sig, short what, void *arg)
{
        log_info("Received SIGUSR2");
        netd_upgrade_begin(arg, NULL);
}

/*
 * Forks into the background: the parent waits until the child is serving (or
 * failed) and exits with its status, so "netd && netctl …" never races.
 */
static int daemonize(void)
{
        int pipefd[2];
        pid_t pid;
        char c;

        if (pipe(pipefd) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid > 0) {
                close(pipefd[1]);
                if (read(pipefd[0], &c, 1) == 1)
                        _exit(0);
                _exit(1);
        }
        close(pipefd[0]);
        (void)setsid();
        if (arg_ready_fd < 0)
                arg_ready_fd = pipefd[1];
        else
                close(pipefd[1]);
        return 0;
}

int main(int argc, char *argv[])
{
        struct netd_limits limits;
        struct netd_daemon *d = NULL;
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        int r, fd, upgrade_fd = -1;

#ifdef NETD_VERSION_SUFFIX
        netd_build_version = NETD_VERSION NETD_VERSION_SUFFIX; /* test builds (netd-alt) */
#endif
#ifdef NETD_UPGRADE_FORMAT_TEST
        netd_build_upgrade_format = NETD_UPGRADE_FORMAT_TEST;
#endif
        /* The new binary validating a state for the old one: nothing else runs. */
        if (argc == 2 && strncmp(argv[1], "--upgrade-check=", 16) == 0) {
                char err[512] = "", *end;
                long sfd = strtol(argv[1] + 16, &end, 10);

                if (*end || sfd < 0 || sfd > INT_MAX) {
                        log_error("--upgrade-check: %s is not a descriptor", argv[1] + 16);
                        return 2;
                }
                r = netd_upgrade_check_fd((int)sfd, err, sizeof(err));
                if (r < 0) {
                        log_error("netd %s can't take over this state: %s", netd_build_version,
                                  err);
                        return 1;
                }
                return 0;
        }
        {
                const char *env = getenv(NETD_UPGRADE_ENV);

                if (env) {
                        char *end;
                        long v = strtol(env, &end, 10);

                        upgrade_fd = *env && !*end && v >= 0 && v <= INT_MAX ? (int)v : -1;
                        if (upgrade_fd < 0)
                                log_error("%s=%s is not a descriptor: starting afresh",
                                          NETD_UPGRADE_ENV, env);
                        (void)unsetenv(NETD_UPGRADE_ENV);
                        if (upgrade_fd >= 0)
                                (void)fcntl(upgrade_fd, F_SETFD, FD_CLOEXEC);
                }
        }
        netd_limits_init(&limits);
        r = parse_argv(argc, argv, &limits);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (upgrade_fd >= 0)
                arg_ready_fd = -1; /* told once by the first process; the number is reused now */
        if (netd_upgrade_setup(argc, argv) < 0)
                log_warning("Failed to resolve /proc/self/exe: in-place upgrades are off");

        signal(SIGPIPE, SIG_IGN);
        /*
         * Data moves through buffers of a few hundred KiB that are freed as
         * soon as they are written: keep up to 8 MiB of freed heap instead of
         * returning it (brk) and faulting it back for every chunk.
         */
        (void)mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
        (void)mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
        if (!arg_foreground && !getenv("NOTIFY_SOCKET") && !getenv("LISTEN_FDS") &&
            upgrade_fd < 0) {
                r = daemonize();
                if (r < 0) {
                        log_error("Failed to go into the background: %s", strerror(-r));
                        return 1;
                }
        }
        r = netd_daemon_new(&limits, &d);
        if (r < 0) {
                log_error("Failed to start: %s", strerror(-r));
                return 1;
        }
        d->resolv_conf = arg_resolv_conf;
        d->hosts_file = arg_hosts_file;
        r = netd_notify_new(d, &d->notify);
        if (r == 0)
                r = netd_fdstore_new(d);
        if (r < 0) {
                log_error("Failed to set up notifications to systemd: %s", strerror(-r));
                netd_daemon_free(d);
                return 1;
        }
        if (load_policy(d, false) < 0) {
                netd_daemon_free(d);
                return 1;
        }
        if (arg_random_ids) {
                if (getrandom(d->handles.id_key, sizeof(d->handles.id_key), 0) !=
                    (ssize_t)sizeof(d->handles.id_key)) {
                        log_error("Failed to read a key for --handle-ids=random: %s",
                                  strerror(errno));
                        netd_daemon_free(d);
                        return 1;
                }
                d->handles.random_ids = true;
        }
        fd = upgrade_fd >= 0 ? -1 : systemd_listen_fds(d);
        if (upgrade_fd >= 0) {
                char err[512] = "";

                /* Same pid after an exec: the old image's state, no socket of our own. */
                r = netd_upgrade_restore(d, upgrade_fd, err, sizeof(err));
                if (r < 0) {
                        log_error("Failed to take over the state of the previous netd: %s", err);
                        netd_daemon_free(d);
                        return 1;
                }
                snprintf(path, sizeof(path), "%s", "(kept across the upgrade)");
        } else if (fd >= 0) {
                r = netd_listener_adopt(d, fd, &d->listener);
                snprintf(path, sizeof(path), "%s", "(systemd socket)");
        } else {
                if (arg_socket_path)
                        r = snprintf(path, sizeof(path), "%s", arg_socket_path) >= (int)sizeof(path)
                                    ? -ENAMETOOLONG
                                    : 0;
                else
                        r = netd_default_socket_path(path, sizeof(path));
                if (r == 0)
                        r = netd_listener_open(d, path, arg_socket_mode, arg_socket_group,
                                               &d->listener);
        }
        if (r < 0) {
                if (r == -EADDRINUSE)
                        log_error("Another netd is already serving %s; exiting", path);
                else if (r == -EEXIST)
                        log_error("%s exists and is not a socket; refusing to replace it", path);
                else
                        log_error("Failed to listen on %s: %s", path, strerror(-r));
                netd_daemon_free(d);
                return 1;
        }
        d->sig_term = evsignal_new(d->base, SIGTERM, signal_cb, d);
        d->sig_int = evsignal_new(d->base, SIGINT, signal_cb, d);
        d->sig_hup = evsignal_new(d->base, SIGHUP, sighup_cb, d);
        d->sig_usr2 = evsignal_new(d->base, SIGUSR2, sigusr2_cb, d);
        if (!d->sig_term || !d->sig_int || !d->sig_hup || !d->sig_usr2 ||
            event_add(d->sig_term, NULL) < 0 || event_add(d->sig_int, NULL) < 0 ||
            event_add(d->sig_hup, NULL) < 0 || event_add(d->sig_usr2, NULL) < 0) {
                log_error("Failed to set up signal handling");
                netd_daemon_free(d);
                return 1;
        }
        {
                /* An upgrade blocked these around its exec: pending ones arrive now. */
                sigset_t set;

                netd_upgrade_sigset(&set);
                (void)sigprocmask(SIG_UNBLOCK, &set, NULL);
        }
        log_info("netd %s serving %s", netd_build_version, path);
        /* Detached sessions' servers systemd kept across a crash listen again, then ready. */
        if (netd_notify_n_stored(d->notify) > 0)
                log_info("Rebuilt %u server(s) of detached sessions from systemd's fd store",
                         netd_fdstore_restore(d));
        (void)netd_fdstore_resync(d);
        /* After an upgrade this READY=1 is the one that ends the old image's RELOADING=1. */
        ready(d);
        r = event_base_dispatch(d->base);
        /* Stopped: a later SIGTERM/SIGINT must not kill the teardown (exit status 0). */
        (void)signal(SIGTERM, SIG_IGN);
        (void)signal(SIGINT, SIG_IGN);
        netd_daemon_free(d);
        if (r < 0) {
                log_error("The event loop failed");
                return 1;
        }
        log_info("Stopped");
        return 0;
}
