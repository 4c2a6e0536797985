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
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "netctl-args.h"
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

static int verb_call(int argc, char *argv[])
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        json_t *params, *result = NULL;
        int r;

        r = parse_params_arg(argc, argv, &params);
        if (r > 0)
                return r;
        r = open_client(&c);
        if (r > 0) {
                json_decref(params);
                return r;
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
        "      --progress          bytes and rate on stderr every second\n"

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

/* Sorted by name for netctl_verb_lookup(); "help" lists them in this order. */
static const struct netctl_verb verbs[] = {
        { "call", "METHOD [JSON|-]", "call METHOD with JSON params (\"-\": read them from stdin)",
          1, 2, verb_call, NULL },
        { "connect", "HOST PORT|PATH|@NAME", "connect via netd and pipe stdin/stdout to it", 1, 2,
          verb_connect, connect_help },
        { "help", "", "show this help", 0, 0, verb_help, NULL },
        { "info", "", "show netd's version, uptime, connections, handles and stats", 0, 0,
          verb_info, NULL },
        { "isip", "ADDR", "print 4 or 6 if ADDR is an IPv4 or IPv6 address, else 0", 1, 1,
          verb_isip, NULL },
        { "listen", "[HOST] PORT|PATH|@NAME", "accept connections via netd, piped to stdin/stdout",
          1, 2, verb_listen, listen_help },
        { "notify", "METHOD [JSON|-]", "send METHOD as a notification (netd sends no reply)", 1, 2,
          verb_notify, NULL },
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
        help();
        return NETCTL_EXIT_OK;
}

enum {
        ARG_MAX_CONNS = 0x100,
        ARG_SEND_ONLY,
        ARG_RECV_ONLY,
        ARG_CONNECT_TIMEOUT,
        ARG_PROGRESS,
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
