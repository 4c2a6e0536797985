/*
 * netctl, the command-line client of netd. This file owns argv (arg_*), the
 * sorted verb table and every verb: the RPC tier (info, call, notify, isip)
 * on the client library's *_sync() calls, and the data-plane tier (connect,
 * listen), which pipes stdin and stdout to a netd socket with one poll()
 * loop over stdin and the control connection. Each run opens one control
 * connection; netd destroys what that connection owns when netctl exits, so
 * error paths need not clean up on the daemon's side.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "netctl-args.h"
#include "netctl-forward.h"
#include "netctl-stream.h"
#include "netd/netd.h"

/* Each reply of the RPC tier is awaited this long unless --timeout says otherwise. */
#define NETCTL_TIMEOUT_DEFAULT_MS     30000
/* call/notify "-": the largest params document read from stdin. */
#define NETCTL_STDIN_PARAMS_MAX_BYTES (64 * 1024 * 1024)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static const char *arg_socket_path = NULL; /* NULL: netd_client_default_path() */
static bool arg_json = false;
static int arg_timeout_ms = NETCTL_TIMEOUT_DEFAULT_MS; /* -1: no limit */
static bool arg_quiet = false;
static bool arg_help = false;
/* connect and listen (netctl-stream.h) */
static bool arg_family4 = false, arg_family6 = false;
static bool arg_keep_open = false;
static int arg_max_conns = 0;
static const char *arg_exec = NULL, *arg_sh_exec = NULL;
static char *arg_exec_copy = NULL; /* owned: arg_exec split into arg_exec_argv */
static char *arg_exec_argv[64];
static bool arg_send_only = false, arg_recv_only = false;
static int arg_idle_timeout_ms = -1, arg_connect_timeout_ms = -1;
static bool arg_verbose = false, arg_progress = false;
static bool arg_no_attach = false;
/* ls, monitor, methods */
static const char *arg_kind = NULL; /* "server" or "socket" */
static long arg_owner = -1;         /* uid */
static const char *arg_events[32];
static size_t arg_n_events = 0;
static bool arg_names = false;
static volatile sig_atomic_t arg_stop = 0; /* monitor, shell: SIGINT/SIGTERM seen */

/* Prints "netctl: <message>" and then suffix on stderr. */
static void print_error(const char *suffix, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));

static void print_error(const char *suffix, const char *fmt, va_list ap)
{
        fputs("netctl: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputs(suffix, stderr);
}

static void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "netctl: <message>" on stderr. */
static void log_error(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        print_error("\n", fmt, ap);
        va_end(ap);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a usage error and the hint to --help. Returns NETCTL_EXIT_USAGE. */
static int usage_error(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        print_error("\nTry 'netctl --help'.\n", fmt, ap);
        va_end(ap);
        return NETCTL_EXIT_USAGE;
}

/* Prints "netctl: <message> (<code>)" for a failed call. Returns its exit code. */
static int report_error(int r, const struct netd_client_error *err)
{
        char line[1024];

        (void)netctl_format_error(err, line, sizeof(line));
        log_error("%s", line);
        return netctl_exit_for_error(r, err);
}

/* Reports a failed *_sync() call and releases *err. Returns the exit code. */
static int fail_call(int r, struct netd_client_error *err)
{
        int ret = report_error(r, err);

        netd_client_error_done(err);
        return ret;
}

/* Prints v (borrowed): compact with --json or when not on a terminal, else indented. */
static void print_json(json_t *v, FILE *f)
{
        size_t flags = JSON_ENCODE_ANY;

        flags |= !arg_json && isatty(fileno(f)) ? JSON_INDENT(2) : JSON_COMPACT;
        (void)json_dumpf(v, f, flags);
        fputc('\n', f);
}

/* Connects to netd. Returns 0, or NETCTL_EXIT_UNREACHABLE after saying why. */
static int open_client(struct netd_client **ret)
{
        char *def = NULL;
        int r;

        r = netd_client_connect(arg_socket_path, ret);
        if (r >= 0)
                return 0;
        if (!arg_socket_path)
                (void)netd_client_default_path(&def);
        log_error("cannot connect to netd at %s: %s (%s)",
                  arg_socket_path ? arg_socket_path
                  : def           ? def
                                  : "the default socket",
                  strerror(-r), strerrorname_np(-r) ?: "UNKNOWN");
        free(def);
        return NETCTL_EXIT_UNREACHABLE;
}

/* Reads all of stdin, NUL-terminated. Returns 0, -EFBIG, -ENOMEM or -errno. */
static int read_stdin(char **ret, size_t *ret_len)
{
        size_t len = 0, cap = 0;
        char *buf = NULL;

        for (;;) {
                char *nbuf;
                size_t n;

                if (cap - len < 4096) {
                        if (cap >= NETCTL_STDIN_PARAMS_MAX_BYTES) {
                                free(buf);
                                return -EFBIG;
                        }
                        cap = cap ? cap * 2 : 64 * 1024;
                        nbuf = realloc(buf, cap + 1);
                        if (!nbuf) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = nbuf;
                }
                n = fread(buf + len, 1, cap - len, stdin);
                len += n;
                if (n == 0) {
                        if (ferror(stdin)) {
                                free(buf);
                                return -EIO;
                        }
                        break;
                }
        }
        buf[len] = '\0';
        *ret = buf;
        *ret_len = len;
        return 0;
}

/*
 * Parses the optional JSON argument of call/notify: absent gives NULL
 * params, "-" reads them from stdin. Returns 0 or NETCTL_EXIT_USAGE.
 */
static int parse_params_arg(int argc, char *argv[], json_t **ret)
{
        char err[512];
        char *text = NULL;
        size_t len;
        int r;

        *ret = NULL;
        if (argc < 2)
                return 0;
        if (strcmp(argv[1], "-") != 0) {
                r = netctl_parse_params(argv[1], strlen(argv[1]), ret, err, sizeof(err));
                return r < 0 ? usage_error("%s", err) : 0;
        }
        r = read_stdin(&text, &len);
        if (r < 0)
                return usage_error("cannot read params from stdin: %s", strerror(-r));
        r = netctl_parse_params(text, len, ret, err, sizeof(err));
        free(text);
        return r < 0 ? usage_error("%s on stdin", err) : 0;
}

/* ---- RPC tier ------------------------------------------------------------------------------ */

static void print_info(json_t *info)
{
        json_t *v, *handles = json_object_get(info, "handles"), *stats;
        char uptime[64];
        const char *key;

        if ((v = json_object_get(info, "version")) && json_is_string(v))
                printf("%-14s %s\n", "version:", json_string_value(v));
        if ((v = json_object_get(info, "pid")) && json_is_integer(v))
                printf("%-14s %" JSON_INTEGER_FORMAT "\n", "pid:", json_integer_value(v));
        if ((v = json_object_get(info, "uptime")) && json_is_number(v) &&
            netctl_format_duration(json_number_value(v), uptime, sizeof(uptime)) >= 0)
                printf("%-14s %s\n", "uptime:", uptime);
        if ((v = json_object_get(info, "connections")) && json_is_integer(v))
                printf("%-14s %" JSON_INTEGER_FORMAT "\n", "connections:", json_integer_value(v));
        if (json_is_object(handles))
                printf("%-14s %" JSON_INTEGER_FORMAT " servers, %" JSON_INTEGER_FORMAT " sockets\n",
                       "handles:", json_integer_value(json_object_get(handles, "servers")),
                       json_integer_value(json_object_get(handles, "sockets")));
        /* "user": the figures above are the caller's uid's own (PROTOCOL.md §8.25). */
        if ((v = json_object_get(info, "scope")) && json_is_string(v))
                printf("%-14s %s (uid %" JSON_INTEGER_FORMAT ")\n", "scope:", json_string_value(v),
                       json_integer_value(json_object_get(json_object_get(info, "user"), "uid")));
        /* The stats are printed as netd names them, so new counters show up unchanged. */
        stats = json_object_get(info, "stats");
        if (!json_is_object(stats))
                return;
        printf("stats:\n");
        json_object_foreach(stats, key, v) {
                printf("  %-20s ", key);
                (void)json_dumpf(v, stdout, JSON_ENCODE_ANY | JSON_COMPACT);
                fputc('\n', stdout);
        }
}

static int verb_info(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        json_t *info = NULL;
        int r;

        r = open_client(&c);
        if (r > 0)
                return r;
        r = netd_client_netd_info_sync(c, arg_timeout_ms, &info, &err);
        c = netd_client_free(c);
        if (r < 0)
                return fail_call(r, &err);
        if (!arg_quiet) {
                if (arg_json)
                        print_json(info, stdout);
                else
                        print_info(info);
        }
        json_decref(info);
        return NETCTL_EXIT_OK;
}

/*
 * netd.upgrade: netd re-executes its binary in place. The reply comes from
 * the new binary (or says why the old one goes on), after up to 2 s of
 * settling and 5 s of checking: the wait is at least 10 s.
 */
static int verb_upgrade(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        json_t *res = NULL;
        int r, timeout = arg_timeout_ms < 0 || arg_timeout_ms > 10000 ? arg_timeout_ms : 10000;

        r = open_client(&c);
        if (r > 0)
                return r;
        r = netd_client_call_sync(c, "netd.upgrade", NULL, timeout, &res, &err);
        c = netd_client_free(c);
        if (r < 0)
                return fail_call(r, &err);
        if (!arg_quiet) {
                if (arg_json)
                        print_json(res, stdout);
                else
                        printf("netd upgraded in place: %s -> %s\n",
                               json_string_value(json_object_get(res, "previous")),
                               json_string_value(json_object_get(res, "version")));
        }
        json_decref(res);
        return NETCTL_EXIT_OK;
}

static int fetch_schema(struct netd_client *c, json_t **ret);

/* True if the words after the method are KEY=VALUE pairs (not one JSON text or "-"). */
static bool words_are_pairs(int argc, char *argv[])
{
        if (argc < 2)
                return false;
        if (argc == 2 && (strcmp(argv[1], "-") == 0 || argv[1][0] == '{' || argv[1][0] == '['))
                return false;
        return true;
}

static int verb_call(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        json_t *params = NULL, *result = NULL;
        int r;

        if (!words_are_pairs(argc, argv)) {
                r = parse_params_arg(argc, argv, &params);
                if (r > 0)
                        return r;
        }
        r = open_client(&c);
        if (r > 0) {
                json_decref(params);
                return r;
        }
        if (words_are_pairs(argc, argv)) {
                /* KEY=VALUE: the method's schema (rpc.discover) types each value. */
                json_t *doc = NULL;
                char msg[512];

                r = fetch_schema(c, &doc);
                if (r > 0) {
                        c = netd_client_free(c);
                        return r;
                }
                r = netctl_params_from_words(doc, argv[0], argc - 1, argv + 1, &params, msg,
                                             sizeof(msg));
                json_decref(doc);
                if (r < 0) {
                        c = netd_client_free(c);
                        return usage_error("%s", msg);
                }
        }
        r = netd_client_call_sync(c, argv[0], params, arg_timeout_ms, &result, &err);
        c = netd_client_free(c);
        if (r == -EINVAL && err.code == NETD_CLIENT_LOCAL_ERROR_CODE) {
                netd_client_error_done(&err);
                return usage_error("invalid method name or params");
        }
        if (r < 0) {
                json_auto_t *obj = NULL;
                int ret;

                if (r != -EREMOTEIO)
                        return fail_call(r, &err);
                /* The daemon's error object, for scripts; --json makes it the only line. */
                ret = arg_json ? netctl_exit_for_error(r, &err) : report_error(r, &err);
                obj = json_pack("{s:i,s:s,s:O*}", "code", err.code, "message", err.message, "data",
                                err.data);
                if (obj)
                        print_json(obj, stderr);
                netd_client_error_done(&err);
                return ret;
        }
        if (!arg_quiet)
                print_json(result, stdout);
        json_decref(result);
        return NETCTL_EXIT_OK;
}

static int verb_notify(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        json_t *params;
        int r;

        r = parse_params_arg(argc, argv, &params);
        if (r > 0)
                return r;
        r = open_client(&c);
        if (r > 0) {
                json_decref(params);
                return r;
        }
        r = netd_client_notify(c, argv[0], params);
        if (r < 0) {
                c = netd_client_free(c);
                if (r == -EINVAL)
                        return usage_error("invalid method name or params");
                log_error("cannot send the notification: %s", strerror(-r));
                return NETCTL_EXIT_ERROR;
        }
        /*
         * No reply will come. netd.sync flushes the notification and proves
         * that netd has read it before netctl hangs up.
         */
        r = netd_client_call_sync(c, "netd.sync", NULL, arg_timeout_ms, NULL, &err);
        c = netd_client_free(c);
        if (r < 0)
                return fail_call(r, &err);
        return NETCTL_EXIT_OK;
}

static int verb_isip(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        int r, family;

        r = open_client(&c);
        if (r > 0)
                return r;
        r = netd_client_net_is_ip_sync(c, argv[0], arg_timeout_ms, &family, &err);
        c = netd_client_free(c);
        if (r == -EINVAL && err.code == NETD_CLIENT_LOCAL_ERROR_CODE) {
                netd_client_error_done(&err);
                return usage_error("ADDR must be valid UTF-8");
        }
        if (r < 0)
                return fail_call(r, &err);
        if (!arg_quiet)
                printf("%d\n", family);
        return NETCTL_EXIT_OK;
}

/* ---- Seeing and calling: ls, monitor, close, methods, help METHOD, shell -----------------------
 */

/* Fetches rpc.discover's document on c. Returns 0 or an exit code after saying why. */
/* rpc.discover over a connection of its own: 0 and *ret, or an exit status (after saying why). */
static int load_schema(json_t **ret)
{
        struct netd_client *c = NULL;
        int r;

        r = open_client(&c);
        if (r > 0)
                return r;
        r = fetch_schema(c, ret);
        (void)netd_client_free(c);
        return r;
}

static int fetch_schema(struct netd_client *c, json_t **ret)
{
        struct netd_client_error err;
        int r;

        r = netd_client_call_sync(c, "rpc.discover", NULL, arg_timeout_ms, ret, &err);
        return r < 0 ? fail_call(r, &err) : 0;
}

/* An address of netd.handles ({address,family,port}, a path or null) for the table. */
static void format_cell_address(json_t *a, char *buf, size_t len)
{
        if (json_is_string(a) && json_string_length(a) > 0 && json_string_value(a)[0] == '\0')
                (void)snprintf(buf, len, "@%s", json_string_value(a) + 1);
        else if (netctl_format_address(a, buf, len) < 0)
                (void)snprintf(buf, len, "-");
}

static bool handle_wanted(json_t *row, int argc, char *argv[])
{
        json_int_t id = json_integer_value(json_object_get(row, "id"));
        json_int_t srv = json_integer_value(json_object_get(row, "server"));
        bool named = argc == 0;

        if (arg_kind && strcmp(json_string_value(json_object_get(row, "kind")) ?: "", arg_kind))
                return false;
        if (arg_owner >= 0 &&
            json_integer_value(json_object_get(json_object_get(row, "owner"), "uid")) != arg_owner)
                return false;
        /* A server named on the command line brings the sockets it accepted. */
        for (int i = 0; i < argc && !named; i++)
                named = atoll(argv[i]) == id || (srv && atoll(argv[i]) == srv);
        return named;
}

static int parse_handle_args(int argc, char *argv[])
{
        for (int i = 0; i < argc; i++) {
                unsigned long v;
                char *end;

                errno = 0;
                v = strtoul(argv[i], &end, 10);
                if (errno || *end || !*argv[i] || v == 0 || argv[i][0] == '-')
                        return usage_error("'%s' is not a handle id (a positive integer)", argv[i]);
        }
        return 0;
}

static int check_kind(void)
{
        if (arg_kind && strcmp(arg_kind, "server") != 0 && strcmp(arg_kind, "socket") != 0)
                return usage_error("--kind is server or socket");
        return 0;
}

static int verb_ls(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        json_t *res = NULL, *rows, *row, *out;
        size_t i;
        int r;

        r = parse_handle_args(argc, argv);
        if (r == 0)
                r = check_kind();
        if (r > 0)
                return r;
        r = open_client(&c);
        if (r > 0)
                return r;
        r = netd_client_call_sync(c, "netd.handles", NULL, arg_timeout_ms, &res, &err);
        c = netd_client_free(c);
        if (r < 0)
                return fail_call(r, &err);
        rows = json_object_get(res, "handles");
        out = json_array();
        json_array_foreach(rows, i, row)
                if (handle_wanted(row, argc, argv))
                        (void)json_array_append(out, row);
        if (arg_json) {
                print_json(out, stdout);
        } else if (!arg_quiet) {
                printf("%-6s %-6s %-10s %-24s %-24s %10s %10s %8s %s\n", "ID", "KIND", "STATE",
                       "LOCAL", "REMOTE", "RECV", "SENT", "BUFFERED", "OWNER");
                json_array_foreach(out, i, row) {
                        json_t *o = json_object_get(row, "owner");
                        char local[128], remote[128];

                        format_cell_address(json_object_get(row, "local"), local, sizeof(local));
                        format_cell_address(json_object_get(row, "remote"), remote, sizeof(remote));
                        if (json_object_get(row, "connections"))
                                (void)snprintf(
                                        remote, sizeof(remote),
                                        "%" JSON_INTEGER_FORMAT " open, %" JSON_INTEGER_FORMAT
                                        " accepted",
                                        json_integer_value(json_object_get(row, "connections")),
                                        json_integer_value(json_object_get(row, "accepted")));
                        printf("%-6" JSON_INTEGER_FORMAT
                               " %-6s %-10s %-24s %-24s %10" JSON_INTEGER_FORMAT
                               " %10" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT
                               " uid=%" JSON_INTEGER_FORMAT " pid=%" JSON_INTEGER_FORMAT
                               " %s#%" JSON_INTEGER_FORMAT "\n",
                               json_integer_value(json_object_get(row, "id")),
                               json_string_value(json_object_get(row, "kind")) ?: "?",
                               json_string_value(json_object_get(row, "state")) ?: "?", local,
                               remote, json_integer_value(json_object_get(row, "bytesRead")),
                               json_integer_value(json_object_get(row, "bytesWritten")),
                               json_integer_value(json_object_get(row, "bufferSize")),
                               json_integer_value(json_object_get(o, "uid")),
                               json_integer_value(json_object_get(o, "pid")),
                               json_is_true(json_object_get(o, "lingering")) ? "session" : "conn",
                               json_integer_value(json_object_get(o, "conn")));
                }
        }
        json_decref(out);
        json_decref(res);
        return NETCTL_EXIT_OK;
}

static void stop_cb(int signo)
{
        arg_stop = signo;
}

/* SIGINT/SIGTERM end monitor and shell cleanly: poll() returns EINTR and the loop stops. */
static void catch_stop_signals(void)
{
        struct sigaction sa = { .sa_handler = stop_cb };

        (void)sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGINT, &sa, NULL);
        (void)sigaction(SIGTERM, &sa, NULL);
}

/* One line for a netd.event: time, handle, event, the gist of its params, owner. */
static void print_observed(json_t *p)
{
        json_t *ev = json_object_get(p, "params"), *o = json_object_get(p, "owner"), *v;
        const char *name = json_string_value(json_object_get(p, "event")) ?: "?";
        const char *kind = json_string_value(json_object_get(p, "kind")) ?: "?";
        struct timespec ts;
        struct tm tm;
        const char *key;
        char when[32];

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        (void)localtime_r(&ts.tv_sec, &tm);
        (void)strftime(when, sizeof(when), "%H:%M:%S", &tm);
        printf("%s.%03ld %s#%" JSON_INTEGER_FORMAT " %s", when, ts.tv_nsec / 1000000, kind,
               json_integer_value(json_object_get(p, "handle")), name);
        if (strcmp(name, "socket.data") == 0) {
                void *buf = NULL;
                size_t len = 0;

                if (netd_client_decode_data(ev, &buf, &len) == 0)
                        printf(" %zu bytes", len);
                free(buf);
        } else {
                json_object_foreach(ev, key, v) {
                        char *text;

                        if (strcmp(key, kind) == 0)
                                continue; /* the handle itself, already shown */
                        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                        printf(" %s=%s", key, text ? text : "?");
                        free(text);
                }
        }
        printf(" (uid %" JSON_INTEGER_FORMAT " pid %" JSON_INTEGER_FORMAT ")\n",
               json_integer_value(json_object_get(o, "uid")),
               json_integer_value(json_object_get(o, "pid")));
}

static void monitor_event_cb(struct netd_client *c, const char *method, json_t *params,
                             void *userdata)
{
        if (arg_json) {
                json_t *n = json_pack("{s:s,s:O}", "method", method, "params", params);

                if (n)
                        print_json(n, stdout);
                json_decref(n);
        } else if (strcmp(method, "netd.event") == 0) {
                print_observed(params);
        } else if (strcmp(method, "netd.missed") == 0) {
                printf("netd.missed: %" JSON_INTEGER_FORMAT
                       " events were dropped: this monitor fell behind\n",
                       json_integer_value(json_object_get(params, "missed")));
        }
        (void)fflush(stdout);
}

static int verb_monitor(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        json_t *filter, *a;
        int r;

        r = parse_handle_args(argc, argv);
        if (r == 0)
                r = check_kind();
        if (r > 0)
                return r;
        filter = json_object();
        if (argc > 0) {
                a = json_array();
                for (int i = 0; i < argc; i++)
                        (void)json_array_append_new(a, json_integer(atoll(argv[i])));
                json_object_set_new(filter, "handles", a);
        }
        if (arg_kind)
                json_object_set_new(filter, "kinds", json_pack("[s]", arg_kind));
        if (arg_n_events > 0) {
                a = json_array();
                for (size_t i = 0; i < arg_n_events; i++)
                        (void)json_array_append_new(a, json_string(arg_events[i]));
                json_object_set_new(filter, "events", a);
        }
        r = open_client(&c);
        if (r > 0) {
                json_decref(filter);
                return r;
        }
        netd_client_on_event(c, monitor_event_cb, NULL);
        r = netd_client_call_sync(c, "netd.subscribe", filter, arg_timeout_ms, NULL, &err);
        if (r < 0) {
                c = netd_client_free(c);
                return fail_call(r, &err);
        }
        /* On stderr, so that --json output stays JSON; scripts wait for it. */
        if (!arg_quiet)
                fprintf(stderr, "monitoring; Ctrl-C ends\n");
        catch_stop_signals();
        while (!arg_stop) {
                struct pollfd pfd = { .fd = netd_client_fd(c),
                                      .events =
                                              POLLIN | (netd_client_wants_write(c) ? POLLOUT : 0) };

                if (poll(&pfd, 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("poll: %s", strerror(errno));
                        c = netd_client_free(c);
                        return NETCTL_EXIT_ERROR;
                }
                r = netd_client_process(c);
                if (r < 0) {
                        log_error("lost the connection to netd: %s", strerror(-r));
                        c = netd_client_free(c);
                        return NETCTL_EXIT_UNREACHABLE;
                }
        }
        c = netd_client_free(c);
        return NETCTL_EXIT_OK;
}

static int verb_close(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        int r, ret = NETCTL_EXIT_OK;

        r = parse_handle_args(argc, argv);
        if (r > 0)
                return r;
        r = open_client(&c);
        if (r > 0)
                return r;
        for (int i = 0; i < argc; i++) {
                r = netd_client_call_sync(c, "netd.close",
                                          json_pack("{s:I}", "handle", (json_int_t)atoll(argv[i])),
                                          arg_timeout_ms, NULL, &err);
                if (r < 0) {
                        ret = fail_call(r, &err);
                        break;
                }
        }
        c = netd_client_free(c);
        return ret;
}

static int verb_methods(int argc, char *argv[])
{
        json_t *doc = NULL, *m;
        size_t i;
        int r;

        r = load_schema(&doc);
        if (r > 0)
                return r;
        json_array_foreach(json_object_get(doc, "methods"), i, m) {
                const char *name = json_string_value(json_object_get(m, "name")) ?: "?";

                if (arg_names)
                        printf("%s\n", name);
                else if (arg_json)
                        print_json(
                                json_pack("{s:s,s:s}", "name", name, "summary",
                                          json_string_value(json_object_get(m, "summary")) ?: ""),
                                stdout);
                else
                        printf("%-24s %s\n", name,
                               json_string_value(json_object_get(m, "summary")) ?: "");
        }
        json_decref(doc);
        return NETCTL_EXIT_OK;
}

/* A short type name for a parameter's schema: "integer", "string", "HandleId", ... */
static void schema_type(json_t *schema, char *buf, size_t len)
{
        const char *ref = json_string_value(json_object_get(schema, "$ref"));
        json_t *t = json_object_get(schema, "type");

        if (ref && strrchr(ref, '/'))
                (void)snprintf(buf, len, "%s", strrchr(ref, '/') + 1);
        else if (json_is_string(t))
                (void)snprintf(buf, len, "%s", json_string_value(t));
        else if (json_object_get(schema, "enum")) {
                char *e = json_dumps(json_object_get(schema, "enum"), JSON_COMPACT);

                (void)snprintf(buf, len, "one of %s", e ? e : "?");
                free(e);
        } else if (json_object_get(schema, "oneOf"))
                (void)snprintf(buf, len, "several types");
        else
                (void)snprintf(buf, len, "any");
}

static int method_help(const char *name)
{
        json_t *doc = NULL, *m, *p, *e;
        char type[128];
        size_t i;
        int r;

        r = load_schema(&doc);
        if (r > 0)
                return r;
        m = netctl_schema_method(doc, name);
        if (!m) {
                json_decref(doc);
                return usage_error("netd has no method '%s' (netctl methods lists them)", name);
        }
        if (arg_json) {
                print_json(m, stdout);
                json_decref(doc);
                return NETCTL_EXIT_OK;
        }
        printf("%s: %s\n", name, json_string_value(json_object_get(m, "summary")) ?: "");
        if (json_object_get(m, "description"))
                printf("\n%s\n", json_string_value(json_object_get(m, "description")));
        printf("\nParams (netctl call %s KEY=VALUE ...):\n", name);
        if (json_array_size(json_object_get(m, "params")) == 0)
                printf("  none\n");
        json_array_foreach(json_object_get(m, "params"), i, p) {
                schema_type(json_object_get(p, "schema"), type, sizeof(type));
                printf("  %-22s %-10s %s%s\n", json_string_value(json_object_get(p, "name")) ?: "?",
                       type, json_is_true(json_object_get(p, "required")) ? "(required) " : "",
                       json_string_value(json_object_get(p, "description")) ?: "");
        }
        p = json_object_get(m, "result");
        printf("\nResult: %s\n", json_string_value(json_object_get(p, "description")) ?: "");
        if (json_array_size(json_object_get(m, "errors")) > 0)
                printf("\nErrors:\n");
        json_array_foreach(json_object_get(m, "errors"), i, e)
                printf("  %-7" JSON_INTEGER_FORMAT " %-36s %s\n",
                       json_integer_value(json_object_get(e, "code")),
                       json_string_value(json_object_get(json_object_get(e, "data"), "code")) ?: "",
                       json_string_value(json_object_get(e, "message")) ?: "");
        json_decref(doc);
        return NETCTL_EXIT_OK;
}

/* ---- shell ------------------------------------------------------------------------------------
 */

struct shell {
        struct netd_client *c; /* borrowed */
        json_t *doc;           /* owned: rpc.discover, fetched at start */
        unsigned pending;      /* calls without a reply yet */
        bool tty;
};

static void shell_prompt(void)
{
        printf("netd> ");
        (void)fflush(stdout);
}

static void shell_print(const char *prefix, json_t *v)
{
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

        printf("%s%s\n", prefix, text ? text : "?");
        free(text);
        (void)fflush(stdout);
}

static void shell_reply_cb(struct netd_client *c, json_t *result,
                           const struct netd_client_error *err, void *userdata)
{
        struct shell *sh = userdata;
        json_t *e;

        sh->pending--;
        if (result) {
                shell_print("< ", result);
        } else {
                e = json_pack("{s:i,s:s,s:O*}", "code", err->code, "message", err->message, "data",
                              err->data);
                shell_print("< error ", e);
                json_decref(e);
        }
        if (sh->tty && sh->pending == 0)
                shell_prompt();
}

static void shell_event_cb(struct netd_client *c, const char *method, json_t *params,
                           void *userdata)
{
        json_t *n = json_pack("{s:s,s:O*}", "method", method, "params", params);

        shell_print("< event ", n);
        json_decref(n);
}

/* Splits line at blanks into words (in place). Returns the count. */
static int split_words(char *line, char **words, int max)
{
        int n = 0;

        for (char *save = NULL, *w = strtok_r(line, " \t\r\n", &save); w && n < max;
             w = strtok_r(NULL, " \t\r\n", &save))
                words[n++] = w;
        return n;
}

static void shell_line(struct shell *sh, char *line)
{
        char errbuf[512], *words[64], *method;
        json_t *params = NULL;
        int n, r;

        while (*line == ' ' || *line == '\t')
                line++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!*line || *line == '#')
                return;
        if (*line == '{') {
                /* A whole JSON-RPC request: its method and params are sent (netctl sets the id). */
                json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, NULL);

                method = (char *)json_string_value(json_object_get(req, "method"));
                if (!json_is_object(req) || !method) {
                        printf("! a JSON line must be a request object with a method\n");
                        json_decref(req);
                        return;
                }
                params = json_incref(json_object_get(req, "params"));
                r = netd_client_call(sh->c, method, params, shell_reply_cb, sh);
                json_decref(req);
                if (r < 0)
                        printf("! cannot send: %s\n", strerror(-r));
                else
                        sh->pending++;
                return;
        }
        /* "method {json}" or "method key=value ..." */
        method = line;
        line += strcspn(line, " \t");
        if (*line)
                *line++ = '\0';
        while (*line == ' ' || *line == '\t')
                line++;
        if (strcmp(method, "help") == 0) {
                printf("Type a request per line: METHOD KEY=VALUE ... (typed by the schema),\n"
                       "METHOD {JSON params}, or a JSON-RPC request object. Replies (\"< \") and\n"
                       "events (\"< event \") print as they come. Handles live until the shell\n"
                       "ends. \"methods\" lists the methods; \"quit\" or end of input leaves.\n");
                return;
        }
        if (strcmp(method, "methods") == 0) {
                json_t *m;
                size_t i;

                json_array_foreach(json_object_get(sh->doc, "methods"), i, m)
                        printf("%-24s %s\n", json_string_value(json_object_get(m, "name")) ?: "",
                               json_string_value(json_object_get(m, "summary")) ?: "");
                return;
        }
        if (*line == '{' || *line == '[') {
                if (netctl_parse_params(line, strlen(line), &params, errbuf, sizeof(errbuf)) < 0) {
                        printf("! %s\n", errbuf);
                        return;
                }
        } else {
                n = split_words(line, words, 64);
                if (netctl_params_from_words(sh->doc, method, n, words, &params, errbuf,
                                             sizeof(errbuf)) < 0) {
                        printf("! %s\n", errbuf);
                        return;
                }
        }
        r = netd_client_call(sh->c, method, params, shell_reply_cb, sh);
        if (r < 0)
                printf("! cannot send %s: %s\n", method, strerror(-r));
        else
                sh->pending++;
}

static int verb_shell(int argc, char *argv[])
{
        struct shell sh = { .tty = isatty(STDIN_FILENO) };
        char *line = NULL;
        size_t cap = 0;
        int r, ret = NETCTL_EXIT_OK;
        bool eof = false;

        r = open_client(&sh.c);
        if (r > 0)
                return r;
        r = fetch_schema(sh.c, &sh.doc);
        if (r > 0) {
                sh.c = netd_client_free(sh.c);
                return r;
        }
        netd_client_on_event(sh.c, shell_event_cb, &sh);
        catch_stop_signals();
        if (sh.tty) {
                printf("netd shell: \"help\" for help, \"quit\" or Ctrl-D to leave.\n");
                shell_prompt();
        }
        (void)setvbuf(stdin, NULL, _IONBF, 0);
        while (!arg_stop && !(eof && sh.pending == 0)) {
                struct pollfd pfd[2] = {
                        { .fd = netd_client_fd(sh.c),
                          .events = POLLIN | (netd_client_wants_write(sh.c) ? POLLOUT : 0) },
                        { .fd = eof ? -1 : STDIN_FILENO, .events = POLLIN },
                };

                if (poll(pfd, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("poll: %s", strerror(errno));
                        ret = NETCTL_EXIT_ERROR;
                        break;
                }
                if (pfd[0].revents) {
                        r = netd_client_process(sh.c);
                        if (r < 0) {
                                log_error("lost the connection to netd: %s", strerror(-r));
                                ret = NETCTL_EXIT_UNREACHABLE;
                                break;
                        }
                }
                if (pfd[1].revents) {
                        /* One line per wake-up; the terminal delivers whole lines. */
                        if (getline(&line, &cap, stdin) < 0) {
                                eof = true;
                                continue;
                        }
                        if (strncmp(line, "quit", 4) == 0 || strncmp(line, "exit", 4) == 0) {
                                eof = true;
                                continue;
                        }
                        shell_line(&sh, line);
                        if (sh.tty && sh.pending == 0)
                                shell_prompt();
                        (void)fflush(stdout);
                }
        }
        free(line);
        json_decref(sh.doc);
        sh.c = netd_client_free(sh.c);
        return ret;
}

/* ---- Data-plane tier: connect and listen --------------------------------------------------- */

/* Checks the options of connect/listen and fills *o. Returns 0 or NETCTL_EXIT_USAGE. */
static int stream_options(bool listen, struct netctl_stream_opts *o)
{
        if (arg_family4 && arg_family6)
                return usage_error("-4 and -6 exclude each other");
        if (arg_send_only && arg_recv_only)
                return usage_error("--send-only and --recv-only exclude each other");
        if (arg_exec && arg_sh_exec)
                return usage_error("--exec and --sh-exec exclude each other");
        if (!listen && (arg_keep_open || arg_max_conns > 0))
                return usage_error("--keep-open and --max-conns are for listen only");
        *o = (struct netctl_stream_opts){
                .setup_timeout_ms = arg_timeout_ms,
                .connect_timeout_ms = arg_connect_timeout_ms,
                .idle_timeout_ms = arg_idle_timeout_ms,
                .family = arg_family4   ? 4
                          : arg_family6 ? 6
                                        : 0,
                .send_only = arg_send_only,
                .recv_only = arg_recv_only,
                .keep_open = arg_keep_open,
                .max_conns = arg_max_conns,
                .verbose = arg_verbose,
                .progress = arg_progress,
                .quiet = arg_quiet,
                .no_attach = arg_no_attach,
        };
        if (arg_sh_exec) {
                arg_exec_argv[0] = (char *)"/bin/sh";
                arg_exec_argv[1] = (char *)"-c";
                arg_exec_argv[2] = (char *)arg_sh_exec;
                arg_exec_argv[3] = NULL;
                o->exec_argv = arg_exec_argv;
        } else if (arg_exec) {
                /* As ncat: the command is split at blanks, with no shell and no quoting. */
                size_t n = 0;

                arg_exec_copy = strdup(arg_exec);
                if (!arg_exec_copy)
                        return usage_error("out of memory");
                for (char *save = NULL, *w = strtok_r(arg_exec_copy, " \t\n", &save); w;
                     w = strtok_r(NULL, " \t\n", &save)) {
                        if (n + 1 >= ELEMENTSOF(arg_exec_argv))
                                return usage_error("--exec: more than %zu words",
                                                   ELEMENTSOF(arg_exec_argv) - 1);
                        arg_exec_argv[n++] = w;
                }
                if (n == 0)
                        return usage_error("--exec needs a command");
                arg_exec_argv[n] = NULL;
                o->exec_argv = arg_exec_argv;
        }
        return 0;
}

static int verb_stream(int argc, char *argv[], bool listen)
{
        struct netctl_stream_opts o;
        struct netctl_endpoint e;
        struct netd_client *c = NULL;
        char err[256];
        int r;

        if (netctl_parse_endpoint(argc, argv, listen, &e, err, sizeof(err)) < 0)
                return usage_error("%s", err);
        r = stream_options(listen, &o);
        if (r > 0)
                return r;
        if (e.path_len > 0 && o.family)
                return usage_error("-4 and -6 are for TCP, not UNIX sockets");
        r = open_client(&c);
        if (r > 0)
                return r;
        r = listen ? netctl_stream_listen(c, &e, &o) : netctl_stream_connect(c, &e, &o);
        free(arg_exec_copy);
        return r;
}

static int verb_connect(int argc, char *argv[])
{
        return verb_stream(argc, argv, false);
}

static int verb_listen(int argc, char *argv[])
{
        return verb_stream(argc, argv, true);
}

/*
 * forward LISTEN_ADDR TARGET_ADDR, each as listen and connect take it: the
 * target is its last word if that is a path or @NAME, else its last two
 * (HOST PORT); the listen address is what comes before.
 */
static int verb_forward(int argc, char *argv[])
{
        struct netctl_endpoint l, t;
        struct netctl_stream_opts o;
        struct netd_client *c = NULL;
        const char *last = argv[argc - 1];
        int nt = last[0] == '@' || strchr(last, '/') ? 1 : 2;
        char err[256];
        int r;

        if (argc - nt < 1)
                return usage_error("forward takes LISTEN_ADDR TARGET_ADDR ([HOST] PORT, PATH or "
                                   "@NAME, then HOST PORT, PATH or @NAME)");
        if (netctl_parse_endpoint(argc - nt, argv, true, &l, err, sizeof(err)) < 0)
                return usage_error("listen address: %s", err);
        if (netctl_parse_endpoint(nt, argv + argc - nt, false, &t, err, sizeof(err)) < 0)
                return usage_error("target address: %s", err);
        if (arg_exec || arg_sh_exec || arg_send_only || arg_recv_only || arg_progress ||
            arg_connect_timeout_ms >= 0 || arg_no_attach)
                return usage_error("forward takes only -4, -6, -k, --max-conns, -w, -v and -q");
        r = stream_options(true, &o);
        if (r > 0)
                return r;
        if (o.family && (l.path_len > 0 || t.path_len > 0))
                return usage_error("-4 and -6 are for TCP, not UNIX sockets");
        r = open_client(&c);
        if (r > 0)
                return r;
        return netctl_forward(c, &l, &t, &o);
}

/* ---- Help, version, argv ------------------------------------------------------------------- */

static int verb_help(int argc, char *argv[]);

static int verb_version(int argc, char *argv[])
{
        if (arg_json)
                printf("{\"version\":\"%s\"}\n", NETD_VERSION);
        else
                printf("netctl %s\n", NETD_VERSION);
        return NETCTL_EXIT_OK;
}

#define STREAM_HELP_COMMON                                                                     \
        "Both directions end on their own: stdin's end half-closes the socket and the\n"       \
        "peer's data is copied to stdout until the peer ends; netctl exits once both\n"        \
        "have ended. A byte not delivered, an error or a signal is a non-zero exit.\n\n"       \
        "  -4, -6                  TCP over IPv4 / IPv6 only\n"                                \
        "  -e, --exec=CMD          wire each connection to CMD's stdin and stdout (split at\n" \
        "                          blanks, no shell)\n"                                        \
        "  -c, --sh-exec=CMD       the same through /bin/sh -c CMD\n"                          \
        "      --send-only         only send: data from the peer is read and dropped\n"        \
        "      --recv-only         only receive: stdin is not read; our side ends after\n"     \
        "                          the peer's\n"                                               \
        "  -w, --idle-timeout=T    fail after T without data either way (30, 500ms, 2m)\n"     \
        "  -v, --verbose           say who connected and the bytes moved each way\n"           \
        "      --progress          bytes and rate on stderr every second\n"                    \
        "      --no-attach         move the bytes as JSON (socket.write, socket.data), as\n"   \
        "                          with a netd that cannot attach sockets\n"

static const char connect_help[] =
        "Usage: netctl connect [OPTION]... HOST PORT | PATH | @NAME\n"
        "Connect through netd to HOST:PORT, to the UNIX socket PATH (it must contain a\n"
        "'/') or to the abstract UNIX name NAME, and pipe stdin and stdout to "
        "it.\n" STREAM_HELP_COMMON
        "      --connect-timeout=T fail if the connection is not made within T\n";

static const char listen_help[] =
        "Usage: netctl listen [OPTION]... [HOST] PORT | PATH | @NAME\n"
        "Listen through netd on HOST:PORT (port 0: any free port; no HOST: all\n"
        "addresses), on the UNIX socket PATH or the abstract name NAME, print\n"
        "\"listening on ADDR\" on stderr, accept one connection and pipe stdin and stdout\n"
        "to it.\n" STREAM_HELP_COMMON
        "  -k, --keep-open         serve connection after connection (with --exec, at the\n"
        "                          same time; else one after the other, in turn)\n"
        "      --max-conns=N       refuse connections beyond N open ones\n";

static const char forward_help[] =
        "Usage: netctl forward [OPTION]... LISTEN_ADDR TARGET_ADDR\n"
        "Forward connections: listen through netd on LISTEN_ADDR ([HOST] PORT, PATH or\n"
        "@NAME, as listen), print \"listening on ADDR, forwarding to TARGET\" on stderr,\n"
        "and relay each accepted connection both ways to a new connection to\n"
        "TARGET_ADDR (HOST PORT, PATH or @NAME, as connect). The bytes move inside netd\n"
        "(socket.pipe); each direction ends on its own. A connection the target refuses\n"
        "is closed, with a message. Without -k, one connection is served and the exit\n"
        "status says whether every byte was relayed.\n\n"
        "  -4, -6                  TCP over IPv4 / IPv6 only\n"
        "  -k, --keep-open         serve connection after connection, at the same time\n"
        "      --max-conns=N       refuse connections beyond N open ones\n"
        "  -w, --idle-timeout=T    close a relay after T without data from its client\n"
        "  -v, --verbose           log each connection, its target and the bytes moved\n";

/* Sorted by name for netctl_verb_lookup(); "help" lists them in this order. */
static const struct netctl_verb verbs[] = {
        { "call", "METHOD [JSON|-|KEY=VALUE...]",
          "call METHOD; params: JSON, \"-\" (stdin), or KEY=VALUE typed by the schema", 1, 64,
          verb_call, NULL },
        { "close", "HANDLE...", "close servers or sockets of any client of yours (root: any)", 1,
          64, verb_close, NULL },
        { "connect", "HOST PORT|PATH|@NAME", "connect via netd and pipe stdin/stdout to it", 1, 2,
          verb_connect, connect_help },
        { "forward", "LISTEN_ADDR TARGET_ADDR",
          "relay connections accepted via netd to a target, inside netd (socket.pipe)", 2, 4,
          verb_forward, forward_help },
        { "help", "[METHOD]", "show this help, or METHOD's params, result and errors", 0, 1,
          verb_help, NULL },
        { "info", "", "show netd's version, uptime, connections, handles and stats", 0, 0,
          verb_info, NULL },
        { "isip", "ADDR", "print 4 or 6 if ADDR is an IPv4 or IPv6 address, else 0", 1, 1,
          verb_isip, NULL },
        { "listen", "[HOST] PORT|PATH|@NAME", "accept connections via netd, piped to stdin/stdout",
          1, 2, verb_listen, listen_help },
        { "ls", "[HANDLE...]", "list servers and sockets (--kind, --owner=UID, --json)", 0, 64,
          verb_ls, NULL },
        { "methods", "", "list netd's methods with a summary each (--names: names only)", 0, 0,
          verb_methods, NULL },
        { "monitor", "[HANDLE...]", "follow events live (--event=NAME, --kind, --json)", 0, 64,
          verb_monitor, NULL },
        { "notify", "METHOD [JSON|-]", "send METHOD as a notification (netd sends no reply)", 1, 2,
          verb_notify, NULL },
        { "shell", "", "one connection; requests typed per line, replies and events as they come",
          0, 0, verb_shell, NULL },
        { "upgrade", "", "re-execute netd's binary in place, keeping every connection (root)", 0, 0,
          verb_upgrade, NULL },
        { "version", "", "show netctl's version", 0, 0, verb_version, NULL },
};

/* "netctl VERB --help". */
static void verb_usage(const struct netctl_verb *v)
{
        if (v->help)
                fputs(v->help, stdout);
        else
                printf("Usage: netctl [OPTION]... %s %s\n%s.\n", v->name, v->args, v->summary);
        printf("\nGlobal options (--socket, --json, --timeout, --quiet): netctl --help.\n");
}

static void help(void)
{
        char *def = NULL;

        (void)netd_client_default_path(&def);
        printf("Usage: netctl [OPTION]... COMMAND [ARG]...\n"
               "Drive netd, the socket daemon, over its JSON-RPC control socket.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                char left[64];

                snprintf(left, sizeof(left), "%s %s", verbs[i].name, verbs[i].args);
                if (strlen(left) > 24)
                        printf("  %s\n  %-24s %s\n", left, "", verbs[i].summary);
                else
                        printf("  %-24s %s\n", left, verbs[i].summary);
        }
        printf("\nOptions:\n"
               "  -s, --socket=PATH   netd's control socket (default: $NETD_SOCKET, else\n"
               "                      $XDG_RUNTIME_DIR/netd/netd.sock when not root, else\n"
               "                      /run/netd/netd.sock; here: %s)\n"
               "  -j, --json          print results as compact JSON on one line, for scripts\n"
               "  -t, --timeout=MS    wait at most MS milliseconds for each reply (default %d;\n"
               "                      0: no limit); connect and listen then wait for ever\n"
               "  -q, --quiet         print no results and no progress messages, only errors\n"
               "  -h, --help          show this help (after a command: its own) and exit\n"
               "  -V, --version       show the version and exit\n"
               "Options of connect and listen: netctl connect --help, netctl listen --help.\n\n"
               "Errors are printed as \"netctl: MESSAGE (CODE)\" on stderr, CODE being the\n"
               "error's data.code (or its JSON-RPC code). call also prints netd's error object.\n\n"
               "Exit status:\n"
               "  0  success; connect, listen: every byte was delivered both ways\n"
               "  1  netd returned an error, or the connection had one, or bytes were lost\n"
               "  2  cannot reach netd: connecting to the control socket failed, the\n"
               "     connection was lost, or no reply came within --timeout\n"
               "  3  usage error\n"
               "  connect and listen die by the signal (128+N) after SIGINT/SIGTERM/SIGHUP.\n",
               def ? def : "?", NETCTL_TIMEOUT_DEFAULT_MS);
        free(def);
}

static int verb_help(int argc, char *argv[])
{
        if (argc == 1)
                return method_help(argv[0]);
        help();
        return NETCTL_EXIT_OK;
}

enum {
        ARG_MAX_CONNS = 0x100,
        ARG_SEND_ONLY,
        ARG_RECV_ONLY,
        ARG_CONNECT_TIMEOUT,
        ARG_PROGRESS,
        ARG_KIND,
        ARG_OWNER,
        ARG_EVENT,
        ARG_NAMES,
        ARG_NO_ATTACH,
};

/* Returns 1 to go on, 0 to exit with success (--version), -EINVAL on a usage error. */
static int parse_argv(int argc, char *argv[])
{
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "json", no_argument, NULL, 'j' },
                { "timeout", required_argument, NULL, 't' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { "keep-open", no_argument, NULL, 'k' },
                { "max-conns", required_argument, NULL, ARG_MAX_CONNS },
                { "exec", required_argument, NULL, 'e' },
                { "sh-exec", required_argument, NULL, 'c' },
                { "send-only", no_argument, NULL, ARG_SEND_ONLY },
                { "recv-only", no_argument, NULL, ARG_RECV_ONLY },
                { "idle-timeout", required_argument, NULL, 'w' },
                { "connect-timeout", required_argument, NULL, ARG_CONNECT_TIMEOUT },
                { "verbose", no_argument, NULL, 'v' },
                { "progress", no_argument, NULL, ARG_PROGRESS },
                { "kind", required_argument, NULL, ARG_KIND },
                { "owner", required_argument, NULL, ARG_OWNER },
                { "event", required_argument, NULL, ARG_EVENT },
                { "names", no_argument, NULL, ARG_NAMES },
                { "no-attach", no_argument, NULL, ARG_NO_ATTACH },
                {},
        };
        int c;

        /*
         * GNU argument order: options may also follow the command ("netctl
         * info --json"). The leading ':' makes getopt quiet, so that errors
         * name "netctl" rather than argv[0].
         */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":s:jt:qhV46ke:c:w:v", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        if (!*optarg) {
                                usage_error("--socket takes a path");
                                return -EINVAL;
                        }
                        arg_socket_path = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 't':
                        if (netctl_parse_timeout(optarg, &arg_timeout_ms) < 0) {
                                usage_error("--timeout takes milliseconds, 0 to %d", INT32_MAX);
                                return -EINVAL;
                        }
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case 'h':
                        arg_help = true; /* after the loop: the command's help, if one is named */
                        break;
                case '4':
                        arg_family4 = true;
                        break;
                case '6':
                        arg_family6 = true;
                        break;
                case 'k':
                        arg_keep_open = true;
                        break;
                case ARG_MAX_CONNS: {
                        int n;

                        if (netctl_parse_timeout(optarg, &n) < 0 || n <= 0) {
                                usage_error("--max-conns takes a number from 1 to %d", INT32_MAX);
                                return -EINVAL;
                        }
                        arg_max_conns = n;
                        break;
                }
                case 'e':
                        arg_exec = optarg;
                        break;
                case 'c':
                        arg_sh_exec = optarg;
                        break;
                case ARG_SEND_ONLY:
                        arg_send_only = true;
                        break;
                case ARG_RECV_ONLY:
                        arg_recv_only = true;
                        break;
                case 'w':
                case ARG_CONNECT_TIMEOUT:
                        if (netctl_parse_duration(optarg, c == 'w' ? &arg_idle_timeout_ms
                                                                   : &arg_connect_timeout_ms) < 0) {
                                usage_error("%s takes a duration such as 30, 2.5s, 500ms or 1m",
                                            c == 'w' ? "--idle-timeout" : "--connect-timeout");
                                return -EINVAL;
                        }
                        break;
                case 'v':
                        arg_verbose = true;
                        break;
                case ARG_PROGRESS:
                        arg_progress = true;
                        break;
                case ARG_KIND:
                        arg_kind = optarg;
                        break;
                case ARG_OWNER: {
                        int uid;

                        if (netctl_parse_timeout(optarg, &uid) < 0) {
                                usage_error("--owner takes a uid");
                                return -EINVAL;
                        }
                        arg_owner = uid < 0 ? 0 : uid;
                        break;
                }
                case ARG_EVENT:
                        if (arg_n_events >= ELEMENTSOF(arg_events)) {
                                usage_error("at most %zu --event options", ELEMENTSOF(arg_events));
                                return -EINVAL;
                        }
                        arg_events[arg_n_events++] = optarg;
                        break;
                case ARG_NAMES:
                        arg_names = true;
                        break;
                case ARG_NO_ATTACH:
                        arg_no_attach = true;
                        break;
                case 'V':
                        (void)verb_version(0, NULL);
                        return 0;
                case ':':
                        usage_error("option '%s' needs an argument", argv[optind - 1]);
                        return -EINVAL;
                default:
                        if (strncmp(argv[optind - 1], "--", 2) == 0)
                                usage_error("invalid option '%s'", argv[optind - 1]);
                        else
                                usage_error("invalid option '-%c'", optopt);
                        return -EINVAL;
                }
        }
        return 1;
}

int main(int argc, char *argv[])
{
        const struct netctl_verb *v;
        int r, nargs;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? NETCTL_EXIT_USAGE : NETCTL_EXIT_OK;
        if (arg_help && optind >= argc) {
                help();
                return NETCTL_EXIT_OK;
        }
        if (optind >= argc)
                return usage_error("missing command");
        v = netctl_verb_lookup(verbs, ELEMENTSOF(verbs), argv[optind]);
        if (!v)
                return usage_error("unknown command '%s'", argv[optind]);
        if (arg_help) {
                if (v->run == verb_help)
                        help();
                else
                        verb_usage(v);
                return NETCTL_EXIT_OK;
        }
        nargs = argc - optind - 1;
        if (nargs < v->min_args || nargs > v->max_args)
                return usage_error("usage: netctl %s %s", v->name, v->args);

        /*
         * A closed stdin/stdout/stderr (<&-) is /dev/null instead, so that
         * the control socket can never take fd 0-2 and be read as stdin.
         */
        for (int fd = 0; fd <= 2; fd++)
                if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
                    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
                        return NETCTL_EXIT_ERROR;
        /* A closed stdout is reported as EPIPE by write(), not by a fatal signal. */
        (void)signal(SIGPIPE, SIG_IGN);
        /*
         * connect/listen pass every chunk (up to ~350 KB of base64) through
         * buffers freed right after: keep freed heap, as netd does, instead
         * of mapping and faulting in fresh pages for each one.
         */
        (void)mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
        (void)mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
        r = v->run(nargs, argv + optind + 1);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                log_error("cannot write to stdout: %s", strerror(errno));
                if (r == NETCTL_EXIT_OK)
                        r = NETCTL_EXIT_ERROR;
        }
        return r;
}
