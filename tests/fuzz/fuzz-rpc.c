/*
 * libFuzzer target: framing, the JSON-RPC envelope and dispatch, in process.
 *
 * One daemon (netd_daemon_new() with the default limits) lives for the whole
 * run. Each input gets a fresh control connection (netd_conn_new()) on a
 * socketpair: the input bytes (and a final "\n" if they lack one, so that a
 * corpus file is a line) are written to the peer end, the daemon's event
 * base runs (EVLOOP_NONBLOCK, bounded) until nothing moves, and everything
 * it wrote is read back and checked:
 *
 * - every output line is strict JSON: a reply {"jsonrpc":"2.0","id",
 *   "result"|"error"}, a batch array of replies, or an event {"jsonrpc":
 *   "2.0","method","params"} without an id;
 * - no reply without a request: at most one reply line per non-blank
 *   input line, and per id (string or integer) at most as many replies as
 *   requests carried it (so no request is answered twice), and once the
 *   daemon is idle, outside batches, replies plus the requests netd still
 *   holds equal the requests (so none is dropped without a reply);
 * - once every complete line has been handled, there is one -32700 per line
 *   that is not JSON (jansson with netd's flags decides, and a raw NUL byte
 *   is never JSON), none missing and none extra;
 * - a netd.sync sent afterwards is answered (the connection still works);
 * - after the peer closes, the connection goes away by itself, and with it
 *   every handle (d->handles.count 0), every counted descriptor
 *   (d->fds_open 0) and every process descriptor it opened;
 * - netd logs no error (they all mean a lost message or out of memory).
 *
 * ASan, UBSan and LeakSanitizer (per input and at exit) do the rest.
 *
 * Servers and sockets are real. To keep the run hermetic, bind() and
 * connect() of the daemon are wrapped (-Wl,--wrap): IP traffic stays on
 * loopback (a wildcard bind becomes a loopback bind), UNIX paths are
 * allowed only under the run's temporary directory and abstract names only
 * with the prefix "fz". Name lookups use an empty resolv.conf and a hosts
 * file holding only localhost, so nothing is ever asked of a real resolver.
 * Handle ids restart at 1 for every input (the registry is empty in
 * between), so inputs that name handles are reproducible.
 *
 * NETD_FUZZ_VERBOSE=1 shows the daemon's log.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "conn.h"
#include "daemon.h"
#include "frame.h"
#include "log.h"
#include "req.h"
#include "rpc.h"
#include "session.h"

/* Loop passes without any progress after which the daemon is considered idle. */
#define IDLE_PASSES 32
/* Upper bound on loop passes per phase (a 64 KiB input of "1\n" is 32768 lines, 16 per pass). */
#define MAX_PASSES  200000

/* How long a connection whose input is held may take to notice its client is gone. */
#define HELD_EOF_WAIT_S 2

#define SYNC_REQUEST "{\"jsonrpc\":\"2.0\",\"id\":\"fuzz-sync\",\"method\":\"netd.sync\"}\n"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void __wrap_netd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __real_bind(int fd, const struct sockaddr *sa, socklen_t len);
int __real_connect(int fd, const struct sockaddr *sa, socklen_t len);

static struct {
        struct netd_daemon *d;
        char dir[64];    /* mkdtemp(): resolv.conf, hosts, and the only UNIX paths allowed */
        char resolv[96]; /* empty: no nameserver */
        char hosts[96];  /* 127.0.0.1 localhost */
        bool verbose;
        unsigned long inputs;
} fz;

#define fuzz_fail(...)                                              \
        do {                                                        \
                fprintf(stderr, "fuzz-rpc: FAILURE: " __VA_ARGS__); \
                fputc('\n', stderr);                                \
                abort();                                            \
        } while (0)

/* ---- Wrappers ------------------------------------------------------------------------------ */

void __wrap_netd_log(int level, const char *fmt, ...)
{
        char line[2048];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (fz.verbose)
                fprintf(stderr, "netd: <%d> %s\n", level, line);
        /* Every error netd logs means a lost message or memory exhausted: neither may happen. */
        if (level <= NETD_LOG_ERR)
                fuzz_fail("netd logged an error: %s", line);
}

/* True for a UNIX address netd may use here: a path in fz.dir, or an abstract "fz..." name. */
static bool unix_allowed(const struct sockaddr *sa, socklen_t len)
{
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path), n, dl = strlen(fz.dir);

        if (len <= off)
                return false;
        n = len - off;
        if (un->sun_path[0] == '\0')
                return n >= 3 && un->sun_path[1] == 'f' && un->sun_path[2] == 'z';
        return n > dl + 1 && strncmp(un->sun_path, fz.dir, dl) == 0 && un->sun_path[dl] == '/' &&
               !memmem(un->sun_path, n, "..", 2);
}

static bool ipv4_loopback(in_addr_t a)
{
        return (ntohl(a) >> 24) == 127;
}

static bool ipv6_loopback(const struct in6_addr *a)
{
        uint32_t v4;

        if (IN6_IS_ADDR_LOOPBACK(a))
                return true;
        if (!IN6_IS_ADDR_V4MAPPED(a))
                return false;
        memcpy(&v4, &a->s6_addr[12], 4);
        return ipv4_loopback(v4);
}

int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
        if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
                struct sockaddr_in in = *(const struct sockaddr_in *)sa;

                if (in.sin_addr.s_addr == htonl(INADDR_ANY))
                        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                if (!ipv4_loopback(in.sin_addr.s_addr)) {
                        errno = EADDRNOTAVAIL;
                        return -1;
                }
                return __real_bind(fd, (const struct sockaddr *)&in, sizeof(in));
        }
        if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
                struct sockaddr_in6 in6 = *(const struct sockaddr_in6 *)sa;

                if (IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr))
                        in6.sin6_addr = in6addr_loopback;
                if (!ipv6_loopback(&in6.sin6_addr)) {
                        errno = EADDRNOTAVAIL;
                        return -1;
                }
                return __real_bind(fd, (const struct sockaddr *)&in6, sizeof(in6));
        }
        if (sa->sa_family == AF_UNIX && !unix_allowed(sa, len)) {
                errno = EACCES;
                return -1;
        }
        if (sa->sa_family != AF_UNIX) {
                errno = EAFNOSUPPORT;
                return -1;
        }
        return __real_bind(fd, sa, len);
}

int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
        bool ok = false;

        if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
                in_addr_t a = ((const struct sockaddr_in *)sa)->sin_addr.s_addr;

                ok = a == htonl(INADDR_ANY) || ipv4_loopback(a);
        } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

                ok = IN6_IS_ADDR_UNSPECIFIED(a) || ipv6_loopback(a);
        } else if (sa->sa_family == AF_UNIX) {
                if (!unix_allowed(sa, len)) {
                        errno = ECONNREFUSED;
                        return -1;
                }
                ok = true;
        }
        if (!ok) {
                errno = ENETUNREACH;
                return -1;
        }
        return __real_connect(fd, sa, len);
}

/* ---- Set-up -------------------------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                fuzz_fail("cannot write %s: %s", path, strerror(errno));
}

static void cleanup(void)
{
        DIR *dir;
        struct dirent *e;

        fprintf(stderr, "fuzz-rpc: %lu inputs\n", fz.inputs);
        fz.d = netd_daemon_free(fz.d);
        if (!fz.dir[0])
                return;
        dir = opendir(fz.dir);
        while (dir && (e = readdir(dir))) {
                char path[512];

                if (e->d_name[0] == '.')
                        continue;
                (void)snprintf(path, sizeof(path), "%s/%s", fz.dir, e->d_name);
                (void)unlink(path);
        }
        if (dir)
                closedir(dir);
        (void)rmdir(fz.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        struct netd_limits limits;
        const char *s;

        (void)argc;
        (void)argv;
        s = getenv("NETD_FUZZ_VERBOSE");
        fz.verbose = s && *s && strcmp(s, "0") != 0;
        netd_log_max_level = fz.verbose ? NETD_LOG_DEBUG : NETD_LOG_ERR;
        /* A write to a peer that went away must be EPIPE, as in netd (main.c ignores SIGPIPE). */
        (void)signal(SIGPIPE, SIG_IGN);

        (void)snprintf(fz.dir, sizeof(fz.dir), "/tmp/netd-fuzz-XXXXXX");
        if (!mkdtemp(fz.dir))
                fuzz_fail("mkdtemp: %s", strerror(errno));
        (void)snprintf(fz.resolv, sizeof(fz.resolv), "%s/resolv.conf", fz.dir);
        (void)snprintf(fz.hosts, sizeof(fz.hosts), "%s/hosts", fz.dir);
        write_file(fz.resolv, "");
        write_file(fz.hosts, "127.0.0.1 localhost\n::1 localhost\n");

        netd_limits_init(&limits);
        if (netd_daemon_new(&limits, &fz.d) < 0)
                fuzz_fail("netd_daemon_new failed");
        fz.d->resolv_conf = fz.resolv;
        fz.d->hosts_file = fz.hosts;
        /* The resolver now, so that its set-up is not attributed to the first input. */
        if (!netd_daemon_dns(fz.d))
                fuzz_fail("netd_daemon_dns failed");
        atexit(cleanup);
        return 0;
}

/* ---- One input ----------------------------------------------------------------------------- */

struct id_count {
        char *key; /* the id as compact JSON */
        unsigned requests, replies;
        bool in_batch; /* some request with it came in a batch (replied as one array) */
};

struct run {
        const uint8_t *in; /* the input, then SYNC_REQUEST */
        size_t in_len, in_sent;
        int peer;            /* the client's end of the socketpair; -1 once closed */
        struct netd_conn *c; /* weak: valid while conn_alive() */
        char *out;           /* everything netd wrote */
        size_t out_len, out_cap;
        size_t out_checked;   /* bytes of out already checked */
        unsigned reply_lines; /* replies (a batch array counts once) */
        unsigned parse_errors;
        bool sync_seen;
        struct id_count *ids; /* string and integer ids: requests sent, replies seen */
        size_t n_ids;
};

static bool conn_alive(const struct run *r)
{
        return r->c && TAILQ_FIRST(&fz.d->conns) == &r->c->o;
}

/* Bytes the daemon has yet to handle: unread in the kernel plus buffered in its framer. */
static size_t conn_backlog(const struct run *r)
{
        int unread = 0;

        if (!conn_alive(r))
                return 0;
        if (ioctl(r->c->o.fd, FIONREAD, &unread) < 0)
                unread = 0;
        return (size_t)unread + netd_frame_pending(&r->c->in);
}

/* True when the daemon's framer still holds a complete line it has not handled. */
static bool conn_has_line(const struct run *r)
{
        const struct netd_frame *f;

        if (!conn_alive(r))
                return false;
        f = &r->c->in;
        return f->end > f->start && memchr(f->buf + f->start, '\n', f->end - f->start);
}

/* The id as compact JSON when it is a string or an integer (reals are echoed rounded). */
static char *id_key(json_t *id)
{
        if (!json_is_string(id) && !json_is_integer(id))
                return NULL;
        return json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
}

static struct id_count *id_slot(struct run *r, json_t *id)
{
        char *key = id_key(id);
        struct id_count *ids;

        if (!key)
                return NULL;
        for (size_t i = 0; i < r->n_ids; i++)
                if (strcmp(r->ids[i].key, key) == 0) {
                        free(key);
                        return &r->ids[i];
                }
        ids = realloc(r->ids, (r->n_ids + 1) * sizeof(*ids));
        if (!ids)
                fuzz_fail("out of memory");
        r->ids = ids;
        r->ids[r->n_ids] = (struct id_count){ .key = key };
        return &r->ids[r->n_ids++];
}

/* Counts the id of a request (an object with an "id"), as sent. */
static void note_request(struct run *r, json_t *m, bool in_batch)
{
        struct id_count *slot = json_is_object(m) ? id_slot(r, json_object_get(m, "id")) : NULL;

        if (slot) {
                slot->requests++;
                slot->in_batch |= in_batch;
        }
}

/*
 * Once the connection is idle, every request with an id (outside batches,
 * whose replies wait for their last entry) was answered exactly once or is
 * still held by netd (in the connection's request list, with a holder):
 * replies + held == requests. Catches a request dropped without a reply.
 */
static void check_exactly_once(struct run *r)
{
        for (size_t i = 0; i < r->n_ids; i++) {
                struct id_count *slot = &r->ids[i];
                unsigned held = 0;
                struct netd_req *req;

                if (slot->in_batch)
                        continue;
                TAILQ_FOREACH(req, &r->c->o.reqs, link) {
                        char *key = req->id ? id_key(req->id) : NULL;

                        held += key && strcmp(key, slot->key) == 0;
                        free(key);
                }
                if (slot->replies + held != slot->requests)
                        fuzz_fail("id %s: %u requests, %u replies, %u still held by netd",
                                  slot->key, slot->requests, slot->replies, held);
        }
}

/* Counts a reply's id; more replies than requests with that id is a failure. */
static void note_reply(struct run *r, json_t *m)
{
        struct id_count *slot = id_slot(r, json_object_get(m, "id"));

        if (slot && ++slot->replies > slot->requests)
                fuzz_fail("%u replies with id %s, sent by %u requests", slot->replies, slot->key,
                          slot->requests);
}

static bool is_reply(json_t *m)
{
        json_t *err = json_object_get(m, "error");

        if (!json_is_object(m) || !json_object_get(m, "id"))
                return false;
        if (json_object_size(m) != 3 ||
            strcmp(json_string_value(json_object_get(m, "jsonrpc")) ?: "", "2.0") != 0)
                return false;
        if (json_object_get(m, "result"))
                return true;
        return json_is_object(err) && json_is_integer(json_object_get(err, "code")) &&
               json_is_string(json_object_get(err, "message"));
}

static bool is_event(json_t *m)
{
        return json_is_object(m) && json_object_size(m) == 3 &&
               strcmp(json_string_value(json_object_get(m, "jsonrpc")) ?: "", "2.0") == 0 &&
               json_is_string(json_object_get(m, "method")) &&
               json_is_object(json_object_get(m, "params"));
}

/* Checks the complete output lines not checked yet. */
static void check_output(struct run *r)
{
        for (;;) {
                char *start = r->out + r->out_checked;
                char *nl = memchr(start, '\n', r->out_len - r->out_checked);
                size_t len;
                json_error_t jerr;
                json_t *m;

                if (!nl)
                        return;
                len = (size_t)(nl - start);
                r->out_checked += len + 1;
                m = json_loadb(start, len,
                               JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
                if (!m)
                        fuzz_fail("netd wrote a line that is not JSON (%s): %.*s", jerr.text,
                                  (int)(len > 400 ? 400 : len), start);
                if (json_is_array(m)) {
                        size_t i;
                        json_t *e;

                        if (json_array_size(m) == 0)
                                fuzz_fail("netd wrote an empty batch reply");
                        json_array_foreach(m, i, e) {
                                if (!is_reply(e))
                                        fuzz_fail("a batch reply holds a non-reply: %.*s",
                                                  (int)(len > 400 ? 400 : len), start);
                                note_reply(r, e);
                        }
                        r->reply_lines++;
                } else if (is_reply(m)) {
                        json_t *id = json_object_get(m, "id");

                        r->reply_lines++;
                        note_reply(r, m);
                        if (json_integer_value(json_object_get(json_object_get(m, "error"),
                                                               "code")) == -32700) {
                                if (!json_is_null(id))
                                        fuzz_fail("a parse error with an id: %.*s", (int)len,
                                                  start);
                                r->parse_errors++;
                        }
                        if (json_is_string(id) && strcmp(json_string_value(id), "fuzz-sync") == 0 &&
                            json_is_true(json_object_get(m, "result")))
                                r->sync_seen = true;
                } else if (!is_event(m)) {
                        fuzz_fail("netd wrote neither a reply nor an event: %.*s",
                                  (int)(len > 400 ? 400 : len), start);
                }
                json_decref(m);
        }
}

/* Writes what the socket takes of the input, runs the loop once, reads what netd wrote. */
static bool pass(struct run *r)
{
        bool progress = false;
        size_t before = conn_backlog(r);

        if (r->peer >= 0 && r->in_sent < r->in_len) {
                ssize_t n = send(r->peer, r->in + r->in_sent, r->in_len - r->in_sent,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n > 0) {
                        r->in_sent += (size_t)n;
                        progress = true;
                }
        }
        (void)event_base_loop(fz.d->base, EVLOOP_NONBLOCK);
        for (;;) {
                ssize_t n;

                if (r->peer < 0)
                        break;
                if (r->out_cap - r->out_len < 65536) {
                        r->out_cap = r->out_cap ? r->out_cap * 2 : 262144;
                        r->out = realloc(r->out, r->out_cap);
                        if (!r->out)
                                fuzz_fail("out of memory");
                }
                n = recv(r->peer, r->out + r->out_len, r->out_cap - r->out_len, MSG_DONTWAIT);
                if (n <= 0)
                        break;
                r->out_len += (size_t)n;
                progress = true;
        }
        check_output(r);
        return progress || conn_backlog(r) != before;
}

/* Runs passes until IDLE_PASSES in a row make no progress, or until done() holds. */
static void run_until_idle(struct run *r, bool (*done)(const struct run *))
{
        unsigned idle = 0;

        for (unsigned i = 0; i < MAX_PASSES && idle < IDLE_PASSES; i++) {
                if (pass(r))
                        idle = 0;
                else
                        idle++;
                if (done && done(r))
                        return;
        }
}

static bool sync_done(const struct run *r)
{
        return r->sync_seen;
}

static bool conn_gone(const struct run *r)
{
        return !conn_alive(r);
}

/* Lines of in[0..len) as netd frames them: complete, not blank. */
struct line_counts {
        unsigned nonblank;
        unsigned not_json; /* what netd must answer with -32700 */
};

static void count_lines(const uint8_t *in, size_t len, struct line_counts *lc, struct run *r)
{
        size_t start = 0;

        *lc = (struct line_counts){ 0 };
        for (size_t i = 0; i < len; i++) {
                const char *line = (const char *)in + start;
                size_t n = i - start, k;
                json_error_t jerr;
                json_t *doc;

                if (in[i] != '\n')
                        continue;
                start = i + 1;
                if (n > 0 && line[n - 1] == '\r')
                        n--;
                for (k = 0; k < n; k++)
                        if (line[k] != ' ' && line[k] != '\t' && line[k] != '\r')
                                break;
                if (k == n)
                        continue;
                lc->nonblank++;
                doc = json_loadb(line, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                                 &jerr);
                if (!doc || memchr(line, '\0', n)) {
                        lc->not_json++;
                } else if (json_is_array(doc)) {
                        size_t j;
                        json_t *e;

                        json_array_foreach(doc, j, e)
                                note_request(r, e, true);
                } else {
                        note_request(r, doc, false);
                }
                json_decref(doc);
        }
}

static int count_fds(void)
{
        DIR *dir = opendir("/proc/self/fd");
        struct dirent *e;
        int n = 0;

        if (!dir)
                return -1;
        while ((e = readdir(dir)))
                n += e->d_name[0] != '.';
        closedir(dir);
        return n - 1; /* the directory's own descriptor */
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t input_size)
{
        struct run r = { .peer = -1 };
        struct line_counts lc;
        int sv[2], fds_before = count_fds();
        /* The input as lines: a last line without "\n" gets one (most corpus files lack it). */
        size_t size = input_size + (input_size > 0 && input[input_size - 1] != '\n');
        uint8_t *data = malloc(size + 1);

        if (!data)
                fuzz_fail("out of memory");
        if (input_size > 0)
                memcpy(data, input, input_size);
        data[size - (size > 0)] = '\n';
        r.in = data;
        r.in_len = size;

        fz.inputs++;
        if (fz.d->n_conns != 0 || fz.d->handles.count != 0)
                fuzz_fail("state left over from the previous input");
        /* Nothing is registered: ids may start again, which makes inputs reproducible. */
        fz.d->handles.next_id = 0;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                fuzz_fail("socketpair: %s", strerror(errno));
        r.peer = sv[1];
        if (netd_conn_new(fz.d, sv[0], &r.c) < 0)
                fuzz_fail("netd_conn_new failed");

        /* 1. The input, until the daemon is idle (its request ids counted first). */
        count_lines(data, size, &lc, &r);
        run_until_idle(&r, NULL);
        if (r.reply_lines > lc.nonblank)
                fuzz_fail("%u reply lines for %u non-blank request lines", r.reply_lines,
                          lc.nonblank);
        if (conn_alive(&r) && !r.c->input_held && r.in_sent == size && !conn_has_line(&r)) {
                /* Every complete line was handled: one -32700 for each that is not JSON. */
                if (r.parse_errors != lc.not_json)
                        fuzz_fail("%u lines are not JSON, netd sent %u parse errors", lc.not_json,
                                  r.parse_errors);
                check_exactly_once(&r);

                /* 2. The connection still works: a netd.sync gets its reply. */
                r.in = (const uint8_t *)SYNC_REQUEST;
                r.in_len = strlen(SYNC_REQUEST);
                count_lines(r.in, r.in_len, &lc, &r); /* its id */
                r.in_sent = 0;
                run_until_idle(&r, sync_done);
                if (!r.sync_seen && conn_alive(&r) && !r.c->input_held)
                        fuzz_fail("no reply to netd.sync after the input");
        }

        /* 3. The client goes away: the connection and everything it owned must follow. */
        close(r.peer);
        r.peer = -1;
        run_until_idle(&r, conn_gone);
        if (conn_alive(&r) && r.c->input_held) {
                /* A held connection notices the hang-up from a timer: wait for it (bounded). */
                struct timespec t0, now;

                clock_gettime(CLOCK_MONOTONIC, &t0);
                do {
                        (void)event_base_loop(fz.d->base, EVLOOP_ONCE);
                        clock_gettime(CLOCK_MONOTONIC, &now);
                } while (conn_alive(&r) && now.tv_sec - t0.tv_sec < HELD_EOF_WAIT_S);
        }
        if (conn_alive(&r))
                fuzz_fail("the connection outlived its client's EOF (input %s)",
                          r.c->input_held ? "held" : "not held");
        /* The deferred free, and whatever the handles left to run. */
        for (int i = 0; i < IDLE_PASSES; i++)
                (void)event_base_loop(fz.d->base, EVLOOP_NONBLOCK);
        /*
         * A connection that called netd.detach left its handles to a session,
         * lingering: end them now, as the linger timer would.
         */
        netd_session_free_all(fz.d);
        for (int i = 0; i < IDLE_PASSES; i++)
                (void)event_base_loop(fz.d->base, EVLOOP_NONBLOCK);
        if (fz.d->n_conns != 0 || !TAILQ_EMPTY(&fz.d->conns))
                fuzz_fail("%u connections left after the client closed", fz.d->n_conns);
        if (fz.d->handles.count != 0)
                fuzz_fail("%zu handles left after their owner closed", fz.d->handles.count);
        if (fz.d->fds_open != 0)
                fuzz_fail("%u descriptors still counted after the owner closed", fz.d->fds_open);
        if (fds_before >= 0 && count_fds() != fds_before)
                fuzz_fail("%d descriptors open before the input, %d after", fds_before,
                          count_fds());
        for (size_t i = 0; i < r.n_ids; i++)
                free(r.ids[i].key);
        free(r.ids);
        free(r.out);
        free(data);
        return 0;
}
