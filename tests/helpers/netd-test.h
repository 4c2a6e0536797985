/*
 * The integration test harness: runs the real netd ($NETD_BIN) on a
 * control socket in a fresh mkdtemp() directory, talks to it through
 * libnetdclient (struct netd_test_client records every event in arrival
 * order) or through raw UNIX sockets (struct netd_test_raw, for envelope
 * tests), and checks that the daemon exits 0 on SIGTERM. Every wait is a
 * poll() with a deadline (NETD_TEST_TIMEOUT_MS); nothing sleeps.
 *
 * A test is a function void fn(struct netd_test_daemon *t) registered with
 * NETD_TEST(fn) (daemon started before, stopped after), NETD_TEST_ARGS(fn,
 * "--opt", ...) (extra netd arguments) or NETD_TEST_MANUAL(fn) (only the
 * directory is made; the test calls netd_test_launch() itself). When the
 * test fails or the daemon does not exit 0, the daemon's log is printed
 * (redis dump_server_log). Assertions are cmocka's: they end the test.
 * Clients still open when a test passes are freed by the teardown, which
 * runs the callbacks of calls still pending: a test must not return with
 * calls pending whose userdata lives on its stack.
 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>
#include <jansson.h>

#include "netd/netd.h"

/* The longest any single wait may take (daemon start, a reply, an event). */
#define NETD_TEST_TIMEOUT_MS 10000

struct netd_test_daemon;
struct netd_test_client;

/* What NETD_TEST*() registers: the body, extra netd arguments, and whether setup launches. */
struct netd_test_case {
        void (*fn)(struct netd_test_daemon *t);
        const char *const *args; /* NULL-terminated, or NULL */
        bool manual;             /* setup only makes the directory */
};

struct netd_test_daemon {
        char dir[64];          /* the mkdtemp() directory, removed at the end */
        char socket_path[108]; /* <dir>/netd.sock */
        char log_path[96];     /* <dir>/netd.log: the daemon's stdout and stderr */
        pid_t pid;             /* the running daemon, 0 when none */
        int pidfd;             /* pidfd of pid, -1 when none */
        bool passed;           /* the test body returned (set by netd_test_run_case) */
        bool log_dumped;
        const struct netd_test_case *tcase; /* borrowed */
        struct netd_test_client *clients;   /* owned: list of open clients */
};

/* One notification the daemon sent, as recorded. */
struct netd_test_event {
        char *method;     /* owned: "socket.data", "server.connection", ... */
        json_t *params;   /* owned reference, may be NULL */
        uint64_t subject; /* the handle it is about: params.server for server.*, else
                             params.socket; 0 if absent */
};

/* Bytes received on one socket (the decoded socket.data payloads, in order). */
struct netd_test_rx {
        uint64_t socket;
        uint8_t *buf; /* owned */
        size_t len, cap;
        size_t events;  /* socket.data events seen */
        bool ended;     /* socket.end seen */
        bool bad_order; /* socket.data arrived after socket.end */
};

struct netd_test_client {
        struct netd_test_daemon *t;     /* borrowed */
        struct netd_client *c;          /* owned */
        struct netd_test_event *events; /* owned: every notification, in arrival order */
        size_t n_events, cap_events;
        struct netd_test_rx *rx; /* owned: one per socket that got data or end */
        size_t n_rx, cap_rx;
        int decode_errors; /* socket.data payloads netd_client_decode_data() rejected */
        bool hold;         /* netd_test_pump() leaves it alone: a client that stops reading */
        bool lost;         /* the daemon closed the connection */
        int lost_error;
        struct netd_test_client *next; /* list of t->clients */
};

/* ---- cmocka glue --------------------------------------------------------------------------- */

int netd_test_setup(void **state);
int netd_test_teardown(void **state);
void netd_test_run_case(void **state);

#define NETD_TEST_CASE_(f_, argv, is_manual)                                                      \
        {                                                                                         \
                .name = #f_, .test_func = netd_test_run_case, .setup_func = netd_test_setup,      \
                .teardown_func = netd_test_teardown,                                              \
                .initial_state = (void *)&(const struct netd_test_case){ .fn = (f_),              \
                                                                         .args = (argv),          \
                                                                         .manual = (is_manual) }, \
        }
#define NETD_TEST(fn) NETD_TEST_CASE_(fn, NULL, false)
#define NETD_TEST_ARGS(fn, ...) \
        NETD_TEST_CASE_(fn, ((const char *const[]){ __VA_ARGS__, NULL }), false)
#define NETD_TEST_MANUAL(fn) NETD_TEST_CASE_(fn, NULL, true)

/* ---- The daemon ---------------------------------------------------------------------------- */

/*
 * Makes the test directory and fills in the paths (already done by setup).
 * Fails the test if $NETD_BIN is unset or the directory can't be made.
 */
void netd_test_init(struct netd_test_daemon *t);

/*
 * Starts $NETD_BIN --foreground --socket=<dir>/netd.sock --log-level=debug
 * --ready-fd=N plus extra_args (NULL-terminated, may be NULL), its output
 * appended to <dir>/netd.log, and waits up to NETD_TEST_TIMEOUT_MS for
 * "READY=1". Fails the test (printing the log) otherwise.
 */
void netd_test_launch(struct netd_test_daemon *t, const char *const *extra_args);

/* netd_test_init() and netd_test_launch(). */
void netd_test_start(struct netd_test_daemon *t, const char *const *extra_args);

/*
 * Sends SIGTERM, waits up to NETD_TEST_TIMEOUT_MS for the exit (SIGKILL
 * after that) and asserts the exit status is 0, printing the log if not.
 * Clients stay allocated (their connections see EOF). No-op when stopped.
 */
void netd_test_stop(struct netd_test_daemon *t);

/* netd_test_stop() with another signal than SIGTERM (SIGINT must also exit 0). */
void netd_test_stop_signal(struct netd_test_daemon *t, int sig);

/*
 * Runs another netd with exactly the given arguments (NULL-terminated;
 * argv[0] is added), output to <dir>/<log_name>, and waits up to
 * NETD_TEST_TIMEOUT_MS for it to exit. Returns its exit status (128+N for
 * signal N); fails the test if it is still running by then (it is killed).
 */
int netd_test_run_other(struct netd_test_daemon *t, const char *const *args, const char *log_name);

/* Reads <dir>/<name> into a NUL-terminated malloc()ed string (freed by the caller). */
char *netd_test_read_file(struct netd_test_daemon *t, const char *name);

/* Prints the daemon log to stderr (once per test). */
void netd_test_dump_log(struct netd_test_daemon *t);

/* The number of fds the daemon has open (/proc/PID/fd). */
int netd_test_daemon_fds(struct netd_test_daemon *t);

/* The daemon's resident set size in KiB (VmRSS in /proc/PID/status). */
long netd_test_daemon_rss_kb(struct netd_test_daemon *t);

/* ---- Time ---------------------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in milliseconds. */
int64_t netd_test_now_ms(void);

/* now + timeout_ms. */
int64_t netd_test_deadline(int timeout_ms);

/* ---- Clients ------------------------------------------------------------------------------- */

/* Connects a new client to the daemon, recording its events. Fails the test on error. */
struct netd_test_client *netd_test_connect(struct netd_test_daemon *t);

/* Closes the client's connection and frees it (NULL-safe). */
void netd_test_disconnect(struct netd_test_client *tc);

/*
 * Polls every connected client of t that is not on hold (at most 63),
 * plus extra_fd (if >= 0) for extra_events, until something is ready or
 * the deadline passes, and processes the ready clients. Returns extra_fd's revents (0 if none).
 * Fails the test with "timed out waiting for <what>" once the deadline
 * has passed.
 */
short netd_test_pump(struct netd_test_daemon *t, int extra_fd, short extra_events, int64_t deadline,
                     const char *what);

/* Pumps until cond holds, for at most NETD_TEST_TIMEOUT_MS. */
#define netd_test_wait_until(t, cond)                                             \
        do {                                                                      \
                int64_t netd_test_dl_ = netd_test_deadline(NETD_TEST_TIMEOUT_MS); \
                while (!(cond))                                                   \
                        (void)netd_test_pump((t), -1, 0, netd_test_dl_, #cond);   \
        } while (0)

/*
 * Calls method with params (stolen) and waits for the reply. Asserts
 * success and returns the result (a new reference).
 */
#define netd_test_call(tc, method, params) \
        netd_test_call_((tc), (method), (params), __FILE__, __LINE__)
json_t *netd_test_call_(struct netd_test_client *tc, const char *method, json_t *params,
                        const char *file, int line);

/* netd_test_call() of a method whose result must be true (socket.end, server.close, ...). */
#define netd_test_call_true(tc, method, params) \
        netd_test_call_true_((tc), (method), (params), __FILE__, __LINE__)
void netd_test_call_true_(struct netd_test_client *tc, const char *method, json_t *params,
                          const char *file, int line);

/*
 * Calls method with params (stolen) and asserts an error reply from the
 * daemon with this code and, unless data_code is NULL, this data.code.
 * Returns the error object {"code","message","data"?} (a new reference).
 */
#define netd_test_call_fail(tc, method, params, code, data_code) \
        netd_test_call_fail_((tc), (method), (params), (code), (data_code), __FILE__, __LINE__)
json_t *netd_test_call_fail_(struct netd_test_client *tc, const char *method, json_t *params,
                             int code, const char *data_code, const char *file, int line);

/* The params {key: id} plus the members of extra (stolen, may be NULL). */
json_t *netd_test_handle_params(const char *key, uint64_t id, json_t *extra);

/* net.createServer with options (stolen, may be NULL); returns the server id. */
uint64_t netd_test_create_server(struct netd_test_client *tc, json_t *options);

/* server.listen {server, port: 0, host?}; asserts the address reply and returns the port. */
int netd_test_listen(struct netd_test_client *tc, uint64_t server, const char *host);

/* net.connect {port, host, options...} (options stolen, may be NULL); returns the socket id. */
uint64_t netd_test_connect_tcp(struct netd_test_client *tc, int port, const char *host,
                               json_t *options);

/*
 * The params (borrowed, valid until the client is freed) of the first
 * recorded event named method about subject (0: any), waiting for it up to
 * timeout_ms. Fails the test on timeout.
 */
#define netd_test_wait_event(tc, method, subject, timeout_ms) \
        netd_test_wait_event_((tc), (method), (subject), (timeout_ms), __FILE__, __LINE__)
json_t *netd_test_wait_event_(struct netd_test_client *tc, const char *method, uint64_t subject,
                              int timeout_ms, const char *file, int line);

/* The first recorded event named method about subject (0: any), or NULL. */
json_t *netd_test_find_event(struct netd_test_client *tc, const char *method, uint64_t subject);

/* How many recorded events are named method (NULL: any) and about subject (0: any). */
size_t netd_test_count_events(struct netd_test_client *tc, const char *method, uint64_t subject);

/* The index of the first recorded event named method about subject, or -1. */
long netd_test_event_index(struct netd_test_client *tc, const char *method, uint64_t subject);

/*
 * The events about subject as a string of their short names ("connect ready
 * data+ end close"), each run of socket.data shown once as "data+", and
 * without socket.drain (which follows the writes, so it interleaves with
 * the data received in any order; count it with netd_test_count_events()).
 * malloc()ed; the caller frees it.
 */
char *netd_test_trace(struct netd_test_client *tc, uint64_t subject);

/* The bytes received so far on socket (never NULL; len 0 if none). */
const struct netd_test_rx *netd_test_rx(struct netd_test_client *tc, uint64_t socket);

/* ---- Bulk transfer ------------------------------------------------------------------------- */

/*
 * One direction of a transfer: len bytes at data written on socket of
 * writer with socket.write (base64, NETD_TEST_CHUNK_BYTES per call, at most
 * NETD_TEST_INFLIGHT_WRITES unanswered), to arrive on peer_socket of
 * reader. The other fields are the engine's bookkeeping.
 */
struct netd_test_flow {
        struct netd_test_client *writer;
        uint64_t socket;
        const uint8_t *data;
        size_t len;
        struct netd_test_client *reader;
        uint64_t peer_socket;

        size_t queued; /* bytes handed to socket.write */
        size_t acked;  /* bytes whose write reply was true */
        unsigned inflight;
        int write_errors;
        char error[256]; /* the first write error */
};

#define NETD_TEST_CHUNK_BYTES     (64 * 1024)
#define NETD_TEST_INFLIGHT_WRITES 4

/*
 * Runs all n flows at once until every byte was acknowledged and received,
 * for at most timeout_ms, then asserts that each reader received exactly
 * the data (byte for byte) and no write failed.
 */
void netd_test_run_flows(struct netd_test_daemon *t, struct netd_test_flow *flows, size_t n,
                         int timeout_ms);

/*
 * Two flows at once, one each way between sockets sa (of client a) and sb
 * (of client b): a writes to_b to sa and b must read it on sb, while b
 * writes to_a to sb for a to read on sa. Fails the test as
 * netd_test_run_flows() does.
 */
void netd_test_exchange(struct netd_test_daemon *t, struct netd_test_client *a, uint64_t sa,
                        const void *to_b, size_t to_b_len, struct netd_test_client *b, uint64_t sb,
                        const void *to_a, size_t to_a_len, int timeout_ms);

/* Fills buf with len pseudo-random bytes from seed (xorshift64*; reproducible). */
void netd_test_random_bytes(uint8_t *buf, size_t len, uint64_t seed);

/*
 * An asynchronous server.close: pass netd_test_server_close_cb and a
 * struct netd_test_close_result (tc and server set) to
 * netd_client_server_close(). The callback records the outcome and where
 * the server.close event stood in tc's event log when the reply came.
 */
struct netd_test_close_result {
        struct netd_test_client *tc;
        uint64_t server;
        bool done, ok;
        long close_event_at; /* index of server.close when the reply came, -1 if none yet */
        char error[192];     /* the error's message and data.code, when not ok */
};

void netd_test_server_close_cb(struct netd_client *c, json_t *result,
                               const struct netd_client_error *err, void *userdata);

/* 1 when built with AddressSanitizer (gcc or clang): tests size their loads by it. */
#if defined(__SANITIZE_ADDRESS__)
#define NETD_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NETD_TEST_ASAN 1
#endif
#endif
#ifndef NETD_TEST_ASAN
#define NETD_TEST_ASAN 0
#endif

/*
 * Under ASan, gives the daemons started from now on a 4 MiB quarantine
 * (ASAN_OPTIONS, appended so later options win), so that their RSS measures
 * netd's buffers rather than freed memory held back; prints the options.
 * Does nothing in other builds.
 */
void netd_test_asan_small_quarantine(void);

/* ---- Raw control connections (no client library) ------------------------------------------ */

struct netd_test_raw {
        int fd;    /* owned, non-blocking; -1 once closed */
        char *buf; /* owned: bytes read and not yet returned as lines */
        size_t len, cap;
        bool eof;
};

/* Connects a raw UNIX socket to the daemon's control socket. */
void netd_test_raw_open(struct netd_test_daemon *t, struct netd_test_raw *r);

/* Closes it and frees its buffer. */
void netd_test_raw_close(struct netd_test_raw *r);

/* Writes all len bytes (waiting for room up to NETD_TEST_TIMEOUT_MS). */
void netd_test_raw_send(struct netd_test_raw *r, const void *data, size_t len);

/* netd_test_raw_send() of a NUL-terminated string. */
void netd_test_raw_send_str(struct netd_test_raw *r, const char *s);

/*
 * The next line from the daemon without its "\n" (malloc()ed), or NULL at
 * EOF. Fails the test after timeout_ms without a complete line.
 */
char *netd_test_raw_recv_line(struct netd_test_raw *r, int timeout_ms);

/* The next line parsed as JSON (a new reference). Fails on EOF, timeout or bad JSON. */
json_t *netd_test_raw_recv(struct netd_test_raw *r);

/* Asserts that the daemon closes the connection next, with no more lines. */
void netd_test_raw_expect_eof(struct netd_test_raw *r);

/* ---- Plain TCP on loopback ----------------------------------------------------------------- */

/*
 * A TCP socket on 127.0.0.1 with an ephemeral port, listening (listen
 * true) or only bound. Sets *ret_port; returns the fd (non-blocking,
 * close-on-exec).
 */
int netd_test_tcp_socket(bool listen, int *ret_port);

/*
 * The value at a dotted path of object keys ("error.data.code"; "" is root
 * itself), borrowed; NULL if any step is missing or not an object.
 */
json_t *netd_test_get(json_t *root, const char *path);

/* Asserts that the value at path (see netd_test_get()) is the string want, printing root if not. */
#define netd_test_assert_str(root, path, want) \
        netd_test_assert_str_((root), (path), (want), __FILE__, __LINE__)
void netd_test_assert_str_(json_t *root, const char *path, const char *want, const char *file,
                           int line);

/* Asserts that json equals the JSON text expected (parsed), printing both if not. */
#define netd_test_assert_json(json, expected) \
        netd_test_assert_json_((json), (expected), __FILE__, __LINE__)
void netd_test_assert_json_(json_t *json, const char *expected, const char *file, int line);

/*
 * A test's own socket fd (a raw peer): reads until want bytes came (returns
 * 0, *got = want), EOF (1) or an error (-errno), pumping the daemon's
 * clients meanwhile; bounded by NETD_TEST_TIMEOUT_MS.
 */
int netd_test_peer_read(struct netd_test_daemon *t, int fd, void *buf, size_t want, size_t *got);

/* Reads exactly the string want from the test's socket fd, or fails the test. */
void netd_test_peer_expect(struct netd_test_daemon *t, int fd, const char *want);

/* The next read on fd is EOF (returns 0) or an error (-errno); fails if data comes. */
int netd_test_peer_end(struct netd_test_daemon *t, int fd);

/* ---- Helpers shared by the integration tests ---- */

/* The integer at path of root (see netd_test_get()); fails the test when it is not one. */
json_int_t netd_test_int_at(json_t *root, const char *path);

/* The "socket" id of a server.connection event's params (or any object naming one). */
uint64_t netd_test_conn_socket(json_t *conn);

/* Asserts that tc's events about handle id, as netd_test_trace() spells them, are want. */
void netd_test_assert_trace(struct netd_test_client *tc, uint64_t id, const char *want);

/*
 * The descriptor netd holds at the other end of the test's connected fd,
 * duplicated into this process with pidfd_getfd(); -1 if none matches, -2
 * if the kernel does not let the test take it. The caller closes it.
 */
int netd_test_fd_facing(struct netd_test_daemon *t, int fd);

/* getsockopt() of an int option, failing the test on error. */
int netd_test_sockopt_int(int fd, int level, int name);

/* A loopback TCP port nobody listens on right now (bound, read, closed). */
int netd_test_free_port(void);

/* The daemon's soft RLIMIT_NOFILE as /proc/PID/limits shows it (-1 for unlimited). */
long netd_test_daemon_nofile(struct netd_test_daemon *t);

/* Accepts one connection on the listening socket lfd, waiting at most NETD_TEST_TIMEOUT_MS. */
int netd_test_accept_peer(int lfd);

/* ---- Other users (access control tests) ---------------------------------------------------- */

/* The uid/gid of "nobody" and of a second unprivileged user the tests use. */
#define NETD_TEST_UID_NOBODY 65534
#define NETD_TEST_UID_OTHER 65533

/*
 * Skips the test with a message unless the suite runs as root (it needs to
 * act as other users). Returns only when running as root.
 */
void netd_test_require_root(void);

/*
 * Takes on uid/gid as the effective ids with no supplementary groups (as
 * setpriv --reuid --regid --clear-groups does for a child), or back to
 * root with uid 0. Only for the moment of a connect(): SO_PEERCRED records
 * the credentials of that call.
 */
void netd_test_become(uid_t uid, gid_t gid);

/* netd_test_connect() / netd_test_raw_open() as uid/gid (gid = uid for the test users). */
struct netd_test_client *netd_test_connect_as(struct netd_test_daemon *t, uid_t uid);
void netd_test_raw_open_as(struct netd_test_daemon *t, struct netd_test_raw *r, uid_t uid);
