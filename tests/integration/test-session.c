/*
 * Integration: sessions (netd.detach, netd.attach, netd.detached; PROTOCOL.md
 * §16). Handles outlive the control connection that detached them: a client
 * SIGKILLed while its peer keeps sending leaves nothing behind that a new
 * client can't take, byte for byte; two live clients hand over under a
 * steady stream; an unclaimed session is destroyed on time with every
 * descriptor; a wrong token and another user are refused alike; the token
 * rotates; the kept events' budget pushes back on the peers.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netd-test.h"

/* ---- helpers ------------------------------------------------------------------------------- */

/* A peer writing data on a TCP socket netd holds the other end of. */
struct feed {
        int fd;
        const uint8_t *data;
        size_t len;
        size_t sent;
};

/* Writes what the kernel takes now, without blocking. */
static void feed_some(struct feed *f)
{
        while (f->sent < f->len) {
                size_t chunk = f->len - f->sent < 256 * 1024 ? f->len - f->sent : 256 * 1024;
                ssize_t n = send(f->fd, f->data + f->sent, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n > 0) {
                        f->sent += (size_t)n;
                        continue;
                }
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                fail_msg("peer send: %s", strerror(errno));
        }
}

/*
 * Feeds f and pumps the clients until cond holds (bounded by 60 s). A cond
 * that asks netd (netd.info) is re-checked every 100 ms at least, as
 * nothing else may wake the poll when netd stops reading the peer.
 */
#define FEED_UNTIL(t, f, cond)                                                                  \
        do {                                                                                    \
                int64_t feed_dl_ = netd_test_deadline(60000);                                   \
                for (;;) {                                                                      \
                        int64_t step_ = netd_test_deadline(100);                                \
                        feed_some(f);                                                           \
                        if (cond)                                                               \
                                break;                                                          \
                        if (netd_test_now_ms() >= feed_dl_)                                     \
                                fail_msg("timed out feeding until %s", #cond);                  \
                        (void)netd_test_pump((t), (f)->sent < (f)->len ? (f)->fd : -1, POLLOUT, \
                                             step_ < feed_dl_ ? step_ : feed_dl_, #cond);       \
                }                                                                               \
        } while (0)

static uint8_t *random_data(size_t len, uint64_t seed)
{
        uint8_t *p = malloc(len);

        assert_non_null(p);
        netd_test_random_bytes(p, len, seed);
        return p;
}

/* netd.detach; returns the token (malloc()ed) and checks its shape. */
static char *detach(struct netd_test_client *tc, json_t *params, json_int_t *ret_linger)
{
        json_t *r = netd_test_call(tc, "netd.detach", params);
        const char *tok = json_string_value(json_object_get(r, "token"));
        char *copy;

        assert_non_null(tok);
        assert_int_equal(strlen(tok), 32);
        for (const char *p = tok; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        fail_msg("token %s is not lowercase hex", tok);
        if (ret_linger)
                *ret_linger = netd_test_int_at(r, "lingerMs");
        copy = strdup(tok);
        json_decref(r);
        return copy;
}

static json_t *attach(struct netd_test_client *tc, const char *token)
{
        return netd_test_call(tc, "netd.attach", json_pack("{s:s}", "token", token));
}

static bool ids_contain(json_t *result, uint64_t id)
{
        json_t *v;
        size_t i;

        json_array_foreach(json_object_get(result, "handles"), i, v)
                if ((uint64_t)json_integer_value(v) == id)
                        return true;
        return false;
}

/* Waits (netd.info round trips, bounded) until netd counts n control connections. */
static void wait_connections(struct netd_test_client *tc, json_int_t n)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        for (;;) {
                json_t *info = netd_test_call(tc, "netd.info", NULL);
                json_int_t have = json_integer_value(json_object_get(info, "connections"));

                json_decref(info);
                if (have == n)
                        return;
                if (netd_test_now_ms() >= deadline)
                        fail_msg("netd still counts %lld connections, expected %lld",
                                 (long long)have, (long long)n);
        }
}

static json_int_t info_stat(struct netd_test_client *tc, const char *name)
{
        json_t *info = netd_test_call(tc, "netd.info", NULL);
        json_int_t v = netd_test_int_at(json_object_get(info, "stats"), name);

        json_decref(info);
        return v;
}

/* A connected socket: netd's end (id) owned by tc, the test's end returned (non-blocking). */
static int connected_pair(struct netd_test_client *tc, uint64_t *ret_socket)
{
        int port, lfd = netd_test_tcp_socket(true, &port), fd;

        *ret_socket = netd_test_connect_tcp(tc, port, "127.0.0.1", NULL);
        fd = netd_test_accept_peer(lfd);
        close(lfd);
        (void)netd_test_wait_event(tc, "socket.connect", *ret_socket, NETD_TEST_TIMEOUT_MS);
        return fd;
}

/* ---- the client killed while its peer sends 16 MiB ------------------------------------- */

#define KILL_TOTAL (16u * 1024 * 1024)
#define KILL_FIRST (1u * 1024 * 1024)
#define KILL_X     (256u * 1024)

/* The child's control connection: blocking line I/O, no cmocka (it runs in another process). */
struct child {
        int fd;
        char buf[2 << 20]; /* a socket.data line: up to readChunkBytes as base64 */
        size_t len;
        int data_out; /* pipe: the bytes of sock received, forwarded to the test */
        uint64_t sock;
        size_t forwarded;
        char trace[256]; /* the events of sock, short names */
        int next_id;
};

static void child_die(const char *what)
{
        dprintf(2, "session child: %s\n", what);
        _exit(3);
}

static json_t *child_line(struct child *c)
{
        for (;;) {
                char *nl = memchr(c->buf, '\n', c->len);
                ssize_t n;

                if (nl) {
                        json_t *msg = json_loadb(c->buf, (size_t)(nl - c->buf), 0, NULL);
                        size_t used = (size_t)(nl - c->buf) + 1;

                        memmove(c->buf, c->buf + used, c->len - used);
                        c->len -= used;
                        if (!msg)
                                child_die("bad line");
                        return msg;
                }
                if (c->len == sizeof(c->buf))
                        child_die("line too long");
                n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
                if (n <= 0)
                        child_die("control connection lost");
                c->len += (size_t)n;
        }
}

/* Records an event; socket.data of sock is forwarded to the test. */
static void child_event(struct child *c, json_t *msg)
{
        const char *m = json_string_value(json_object_get(msg, "method"));
        json_t *p = json_object_get(msg, "params");
        size_t tl = strlen(c->trace);

        if (!m || (uint64_t)json_integer_value(json_object_get(p, "socket")) != c->sock ||
            strncmp(m, "socket.", 7) != 0)
                return;
        if (strcmp(m, "socket.data") == 0) {
                void *buf;
                size_t len;

                if (netd_client_decode_data(p, &buf, &len) < 0)
                        child_die("bad socket.data");
                for (size_t off = 0; off < len;) {
                        ssize_t n = write(c->data_out, (char *)buf + off, len - off);

                        if (n <= 0)
                                child_die("pipe");
                        off += (size_t)n;
                }
                c->forwarded += len;
                free(buf);
                if (tl >= 5 && strcmp(c->trace + tl - 5, "data+") == 0)
                        return;
                m = "socket.data+";
        }
        (void)snprintf(c->trace + tl, sizeof(c->trace) - tl, "%s%s", tl ? " " : "", m + 7);
}

/* Calls method and returns its result; events that come first are handled. */
static json_t *child_call(struct child *c, const char *method, json_t *params)
{
        int id = ++c->next_id;
        json_t *req = json_pack("{s:s,s:i,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method,
                                "params", params);
        char *line = json_dumps(req, JSON_COMPACT);
        size_t len = strlen(line);

        line[len] = '\n'; /* json_dumps leaves room for the NUL: replaced, length passed */
        for (size_t off = 0; off <= len;) {
                ssize_t n = write(c->fd, line + off, len + 1 - off);

                if (n <= 0)
                        child_die("write");
                off += (size_t)n;
        }
        free(line);
        json_decref(req);
        for (;;) {
                json_t *msg = child_line(c), *result;

                if (json_object_get(msg, "method")) {
                        child_event(c, msg);
                        json_decref(msg);
                        continue;
                }
                if (json_integer_value(json_object_get(msg, "id")) != id)
                        child_die("unexpected reply");
                result = json_incref(json_object_get(msg, "result"));
                if (!result)
                        child_die(method);
                json_decref(msg);
                return result;
        }
}

/*
 * The client: a server, a socket connected to the test's peer, detach;
 * reports "<token> <server> <port> <socket>", forwards the first
 * KILL_FIRST bytes, pauses the socket and reads up to a netd.sync reply
 * (so every event before the cut is its own), reports "paused <trace>",
 * then waits to be killed.
 */
static void child_main(const char *path, int peer_port, int report, int data_out, bool cut)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        static struct child c;
        json_t *r;
        uint64_t srv;
        int port;
        char *tok;

        c.data_out = data_out;
        c.fd = socket(AF_UNIX, SOCK_STREAM, 0);
        (void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                child_die("connect");
        r = child_call(&c, "net.createServer", json_object());
        srv = (uint64_t)json_integer_value(json_object_get(r, "server"));
        json_decref(r);
        r = child_call(&c, "server.listen",
                       json_pack("{s:I,s:i,s:s}", "server", (json_int_t)srv, "port", 0, "host",
                                 "127.0.0.1"));
        port = (int)json_integer_value(json_object_get(r, "port"));
        json_decref(r);
        r = child_call(&c, "net.connect",
                       json_pack("{s:i,s:s}", "port", peer_port, "host", "127.0.0.1"));
        c.sock = (uint64_t)json_integer_value(json_object_get(r, "socket"));
        json_decref(r);
        r = child_call(&c, "netd.detach", json_pack("{s:i}", "lingerMs", 20000));
        tok = strdup(json_string_value(json_object_get(r, "token")));
        json_decref(r);
        dprintf(report, "%s %llu %d %llu\n", tok, (unsigned long long)srv, port,
                (unsigned long long)c.sock);
        if (!cut)
                for (;;)
                        pause(); /* reads nothing more: killed with its output unread */
        while (c.forwarded < KILL_FIRST) {
                json_t *msg = child_line(&c);

                if (!json_object_get(msg, "method"))
                        child_die("a reply nobody waits for");
                child_event(&c, msg);
                json_decref(msg);
        }
        json_decref(
                child_call(&c, "socket.pause", json_pack("{s:I}", "socket", (json_int_t)c.sock)));
        json_decref(child_call(&c, "netd.sync", json_object()));
        dprintf(report, "paused %zu %s\n", c.forwarded, c.trace);
        for (;;)
                pause();
}

/* Reads one line (at most cap - 1 bytes) from fd within the test timeout, draining data_in. */
static void read_report(int fd, char *line, size_t cap, int data_in, uint8_t *got, size_t *n_got,
                        size_t max_got)
{
        int64_t deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        size_t len = 0;

        for (;;) {
                struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
                                       { .fd = data_in, .events = POLLIN } };
                int64_t left = deadline - netd_test_now_ms();

                if (left <= 0)
                        fail_msg("timed out waiting for the child's report");
                if (poll(p, 2, (int)left) <= 0)
                        continue;
                if (data_in >= 0 && (p[1].revents & POLLIN)) {
                        ssize_t n = read(data_in, got + *n_got, max_got - *n_got);

                        if (n > 0)
                                *n_got += (size_t)n;
                }
                if (p[0].revents & (POLLIN | POLLHUP)) {
                        char ch;

                        if (read(fd, &ch, 1) != 1)
                                fail_msg("the child died before reporting");
                        if (ch == '\n') {
                                line[len] = '\0';
                                return;
                        }
                        if (len + 1 < cap)
                                line[len++] = ch;
                }
        }
}

/*
 * A client detaches, reads the first MiB, cuts cleanly (socket.pause +
 * netd.sync) and is SIGKILLed while its peer keeps sending the other 15
 * MiB, and while a new connection to its server sends 256 KiB; a new
 * client attaches, resumes, and gets every byte of both, in order, with
 * each handle's events in Node's order across the kill.
 */
static void test_kill_then_attach(struct netd_test_daemon *t)
{
        uint8_t *data = random_data(KILL_TOTAL, 15), *xdata = random_data(KILL_X, 16);
        uint8_t *child_got = malloc(KILL_TOTAL);
        size_t child_n = 0;
        int report[2], dpipe[2], lfd, peer_port, srv_port, xfd, status;
        char line[512], token[64], trace[256];
        unsigned long long srv, sock;
        struct netd_test_client *n;
        struct feed f, fx;
        size_t paused_at;
        uint64_t xsock;
        json_t *r, *ev;
        pid_t pid;

        assert_non_null(child_got);
        lfd = netd_test_tcp_socket(true, &peer_port);
        assert_int_equal(pipe2(report, O_CLOEXEC), 0);
        assert_int_equal(pipe2(dpipe, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(report[0]);
                close(dpipe[0]);
                child_main(t->socket_path, peer_port, report[1], dpipe[1], true);
        }
        close(report[1]);
        close(dpipe[1]);
        read_report(report[0], line, sizeof(line), dpipe[0], child_got, &child_n, KILL_TOTAL);
        assert_int_equal(sscanf(line, "%63s %llu %d %llu", token, &srv, &srv_port, &sock), 4);
        f = (struct feed){ .fd = netd_test_accept_peer(lfd), .data = data, .len = KILL_FIRST };
        close(lfd);

        /* The first MiB, while the client lives and reads (and forwards: drain the pipe). */
        while (f.sent < f.len) {
                struct pollfd p[2] = { { .fd = f.fd, .events = POLLOUT },
                                       { .fd = dpipe[0], .events = POLLIN } };

                feed_some(&f);
                if (poll(p, 2, NETD_TEST_TIMEOUT_MS) <= 0)
                        fail_msg("the first MiB is stuck at %zu bytes", f.sent);
                if (p[1].revents & POLLIN) {
                        ssize_t k = read(dpipe[0], child_got + child_n, KILL_TOTAL - child_n);

                        if (k > 0)
                                child_n += (size_t)k;
                }
        }
        read_report(report[0], line, sizeof(line), dpipe[0], child_got, &child_n, KILL_TOTAL);
        assert_int_equal(sscanf(line, "paused %zu %255[^\n]", &paused_at, trace), 2);
        assert_int_equal(paused_at, KILL_FIRST);
        assert_string_equal(trace, "connect ready data+");
        while (child_n < KILL_FIRST) {
                ssize_t k = read(dpipe[0], child_got + child_n, KILL_TOTAL - child_n);

                assert_true(k > 0);
                child_n += (size_t)k;
        }
        assert_memory_equal(child_got, data, KILL_FIRST);

        /* The peer keeps sending; the kill comes with bytes still to go. */
        f.len = KILL_TOTAL;
        feed_some(&f);
        assert_true(f.sent < KILL_TOTAL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        close(report[0]);
        close(dpipe[0]);

        /* While nobody holds the session: a new connection to its server, with data. */
        xfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        {
                struct sockaddr_in in = { .sin_family = AF_INET,
                                          .sin_port = htons((uint16_t)srv_port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                assert_int_equal(connect(xfd, (struct sockaddr *)&in, sizeof(in)), 0);
        }
        assert_int_equal(fcntl(xfd, F_SETFL, O_NONBLOCK), 0);
        fx = (struct feed){ .fd = xfd, .data = xdata, .len = KILL_X };
        feed_some(&fx);
        feed_some(&f);

        /* The new client. */
        n = netd_test_connect(t);
        r = attach(n, token);
        assert_true(ids_contain(r, srv));
        assert_true(ids_contain(r, sock));
        json_decref(r);
        ev = netd_test_wait_event(n, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        xsock = netd_test_conn_socket(ev);
        netd_test_call_true(n, "socket.resume", netd_test_handle_params("socket", sock, NULL));
        FEED_UNTIL(t, &f,
                   (feed_some(&fx), netd_test_rx(n, sock)->len >= KILL_TOTAL - KILL_FIRST &&
                                            netd_test_rx(n, xsock)->len >= KILL_X));
        assert_int_equal(netd_test_rx(n, sock)->len, KILL_TOTAL - KILL_FIRST);
        assert_memory_equal(netd_test_rx(n, sock)->buf, data + KILL_FIRST, KILL_TOTAL - KILL_FIRST);
        assert_int_equal(netd_test_rx(n, xsock)->len, KILL_X);
        assert_memory_equal(netd_test_rx(n, xsock)->buf, xdata, KILL_X);

        /* The peers end: the rest of each handle's life, in Node's order. */
        assert_int_equal(shutdown(f.fd, SHUT_WR), 0);
        assert_int_equal(shutdown(xfd, SHUT_WR), 0);
        (void)netd_test_wait_event(n, "socket.close", sock, NETD_TEST_TIMEOUT_MS);
        (void)netd_test_wait_event(n, "socket.close", xsock, NETD_TEST_TIMEOUT_MS);
        netd_test_assert_trace(n, sock, "data+ end close");
        netd_test_assert_trace(n, xsock, "data+ end close");
        assert_true(netd_test_event_index(n, "server.connection", srv) <
                    netd_test_event_index(n, "socket.data", xsock));
        close(f.fd);
        close(xfd);
        free(data);
        free(xdata);
        free(child_got);
}

/*
 * No clean cut: the client stops reading right after netd.detach and is
 * killed once netd has paused its socket for its unread output. The events
 * netd wrote and the client never read (its socket buffer: netd follows it
 * with NETLINK_SOCK_DIAG), then those netd had not written, go to the
 * session: the new client gets the whole stream, nothing repeated or out of
 * order.
 */
static void test_kill_uncut(struct netd_test_daemon *t)
{
        uint8_t *data = random_data(KILL_TOTAL / 2, 17);
        struct netd_test_client *w = netd_test_connect(t), *n;
        int report[2], lfd, peer_port, srv_port, status;
        unsigned long long srv, sock;
        json_int_t paused_before;
        char line[512], token[64];
        size_t sent_at_kill, got;
        struct feed f;
        json_t *r;
        pid_t pid;

        paused_before = info_stat(w, "readsPaused");
        lfd = netd_test_tcp_socket(true, &peer_port);
        assert_int_equal(pipe2(report, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(report[0]);
                child_main(t->socket_path, peer_port, report[1], -1, false);
        }
        close(report[1]);
        read_report(report[0], line, sizeof(line), -1, NULL, NULL, 0);
        close(report[0]);
        assert_int_equal(sscanf(line, "%63s %llu %d %llu", token, &srv, &srv_port, &sock), 4);
        f = (struct feed){ .fd = netd_test_accept_peer(lfd), .data = data, .len = KILL_TOTAL / 2 };
        close(lfd);
        /* Until netd pauses the socket: the client's output is over outHighBytes. */
        FEED_UNTIL(t, &f, info_stat(w, "readsPaused") > paused_before);
        sent_at_kill = f.sent;
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);

        n = netd_test_connect(t);
        wait_connections(w, 2);
        r = attach(n, token);
        assert_true(ids_contain(r, sock));
        json_decref(r);
        FEED_UNTIL(t, &f, f.sent == f.len);
        assert_int_equal(shutdown(f.fd, SHUT_WR), 0);
        (void)netd_test_wait_event(n, "socket.end", sock, NETD_TEST_TIMEOUT_MS);
        got = netd_test_rx(n, sock)->len;
        fprintf(stderr,
                "uncut kill: %zu bytes sent before the kill, the new client got %zu of %u\n",
                sent_at_kill, got, KILL_TOTAL / 2);
        /*
         * Nothing is lost: the events netd queued past the client's socket
         * buffer, and those in it the client never read (netd follows its
         * receive queue, unixdiag.h), all go to the session.
         */
        assert_int_equal(got, KILL_TOTAL / 2);
        assert_memory_equal(netd_test_rx(n, sock)->buf, data, got);
        close(f.fd);
        free(data);
}

/*
 * A client that read everything netd wrote and exits cleanly leaves nothing
 * to come again: its socket closed with nothing unread (no ECONNRESET), so
 * the lines netd kept until it knew they were read are not kept for the
 * session. The next client gets only what came after.
 */
static void test_clean_exit_no_repeat(struct netd_test_daemon *t)
{
        struct netd_test_client *w = netd_test_connect(t), *a, *b;
        uint64_t sock;
        char *token;
        int fd;
        json_t *r;

        wait_connections(w, 1);
        a = netd_test_connect(t);
        fd = connected_pair(a, &sock);
        token = detach(a, NULL, NULL);
        assert_int_equal(write(fd, "first", 5), 5);
        netd_test_wait_until(t, netd_test_rx(a, sock)->len == 5);
        netd_test_disconnect(a);
        wait_connections(w, 1);
        b = netd_test_connect(t);
        r = attach(b, token);
        assert_true(ids_contain(r, sock));
        json_decref(r);
        assert_int_equal(write(fd, "second", 6), 6);
        netd_test_wait_until(t, netd_test_rx(b, sock)->len >= 6);
        json_decref(netd_test_call(b, "netd.sync", NULL));
        assert_int_equal(netd_test_rx(b, sock)->len, 6);
        assert_memory_equal(netd_test_rx(b, sock)->buf, "second", 6);
        assert_int_equal(netd_test_count_events(b, "socket.connect", sock), 0);
        close(fd);
        free(token);
}

/* ---- handover between two live clients ----------------------------------------------------- */

#define HANDOVER_TOTAL (8u * 1024 * 1024)

/*
 * A steady stream from the peer; midway B attaches A's token. A gets
 * netd.detached after its last socket.data; A's bytes then B's are the
 * stream, exactly. B carries the session on: when it goes, C attaches.
 */
static void test_handover(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t), *b = netd_test_connect(t), *c;
        uint8_t *data = random_data(HANDOVER_TOTAL, 21), *all;
        uint64_t sock;
        struct feed f;
        size_t alen;
        long detached_at;
        char *token;
        json_t *r, *ev, *err;

        f = (struct feed){ .fd = connected_pair(a, &sock), .data = data, .len = HANDOVER_TOTAL };
        token = detach(a, NULL, NULL);
        FEED_UNTIL(t, &f, netd_test_rx(a, sock)->len >= 1024 * 1024);
        r = attach(b, token);
        assert_true(ids_contain(r, sock));
        json_decref(r);
        ev = netd_test_wait_event(a, "netd.detached", 0, NETD_TEST_TIMEOUT_MS);
        assert_string_equal(json_string_value(json_object_get(ev, "token")), token);
        FEED_UNTIL(t, &f,
                   netd_test_rx(a, sock)->len + netd_test_rx(b, sock)->len >= HANDOVER_TOTAL);
        /* Nothing of the socket reached A after netd.detached. */
        detached_at = netd_test_event_index(a, "netd.detached", 0);
        for (size_t i = (size_t)detached_at; i < a->n_events; i++)
                assert_int_not_equal(a->events[i].subject, sock);
        alen = netd_test_rx(a, sock)->len;
        assert_int_equal(alen + netd_test_rx(b, sock)->len, HANDOVER_TOTAL);
        all = malloc(HANDOVER_TOTAL);
        assert_non_null(all);
        memcpy(all, netd_test_rx(a, sock)->buf, alen);
        memcpy(all + alen, netd_test_rx(b, sock)->buf, HANDOVER_TOTAL - alen);
        assert_memory_equal(all, data, HANDOVER_TOTAL);
        fprintf(stderr, "handover: A got %zu bytes, B %zu\n", alen, HANDOVER_TOTAL - alen);

        /* A no longer has it; B does, both ways. */
        err = netd_test_call_fail(
                a, "socket.write",
                netd_test_handle_params("socket", sock, json_pack("{s:s}", "data", "x")), -32001,
                "ERR_NETD_HANDLE_NOT_FOUND");
        json_decref(err);
        netd_test_call_true(
                b, "socket.write",
                netd_test_handle_params("socket", sock, json_pack("{s:s}", "data", "from B")));
        netd_test_peer_expect(t, f.fd, "from B");

        /* B carries the session now: it goes, the socket lingers, C takes it. */
        netd_test_disconnect(b);
        c = netd_test_connect(t);
        wait_connections(c, 2);
        assert_int_equal(send(f.fd, "after B", 7, 0), 7);
        r = attach(c, token);
        assert_true(ids_contain(r, sock));
        json_decref(r);
        netd_test_wait_until(t, netd_test_rx(c, sock)->len >= 7);
        assert_memory_equal(netd_test_rx(c, sock)->buf, "after B", 7);
        close(f.fd);
        free(all);
        free(data);
        free(token);
}

/* ---- two attaches racing --------------------------------------------------------------------- */

struct race_reply {
        bool done, ok;
};

static void race_cb(struct netd_client *c, json_t *result, const struct netd_client_error *err,
                    void *userdata)
{
        struct race_reply *r = userdata;

        r->done = true;
        r->ok = err == NULL && result != NULL;
}

/*
 * B and C send netd.attach for A's token at once: both succeed, in the
 * order netd read them; whoever came first gets netd.detached, the last
 * one holds the socket, and the peer's data goes there and nowhere else.
 */
static void test_attach_race(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t), *b = netd_test_connect(t),
                                *c = netd_test_connect(t), *winner, *loser;
        struct race_reply rb = { false, false }, rc = { false, false };
        uint64_t sock;
        int fd = connected_pair(a, &sock);
        char *token = detach(a, NULL, NULL);

        assert_int_equal(netd_client_call(b->c, "netd.attach", json_pack("{s:s}", "token", token),
                                          race_cb, &rb),
                         0);
        assert_int_equal(netd_client_call(c->c, "netd.attach", json_pack("{s:s}", "token", token),
                                          race_cb, &rc),
                         0);
        netd_test_wait_until(t, rb.done && rc.done);
        assert_true(rb.ok && rc.ok);
        (void)netd_test_wait_event(a, "netd.detached", 0, NETD_TEST_TIMEOUT_MS);
        netd_test_wait_until(t, netd_test_count_events(b, "netd.detached", 0) +
                                                netd_test_count_events(c, "netd.detached", 0) ==
                                        1);
        winner = netd_test_count_events(b, "netd.detached", 0) ? c : b;
        loser = winner == b ? c : b;
        assert_int_equal(send(fd, "to the winner", 13, 0), 13);
        netd_test_wait_until(t, netd_test_rx(winner, sock)->len >= 13);
        assert_memory_equal(netd_test_rx(winner, sock)->buf, "to the winner", 13);
        netd_test_call_true(loser, "netd.sync", NULL);
        assert_int_equal(netd_test_rx(loser, sock)->len, 0);
        assert_int_equal(info_stat(a, "sessions"), 1);
        close(fd);
        free(token);
}

/* ---- linger expiry -------------------------------------------------------------------------- */

/*
 * Nobody attaches: at the deadline the socket is destroyed (its peer sees
 * EOF), the server stops listening, every descriptor is freed, and the
 * token is gone.
 */
static void test_linger_expiry(struct netd_test_daemon *t)
{
        struct netd_test_client *w = netd_test_connect(t), *a;
        int fds_before, fd, port, lfd;
        struct sockaddr_in in = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int64_t started;
        json_int_t linger;
        uint64_t srv, sock;
        char *token;
        json_t *err;

        wait_connections(w, 1);
        fds_before = netd_test_daemon_fds(t);
        a = netd_test_connect(t);
        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, "127.0.0.1");
        fd = connected_pair(a, &sock);
        token = detach(a, json_pack("{s:i}", "lingerMs", 300), &linger);
        assert_int_equal(linger, 300);
        netd_test_disconnect(a);
        started = netd_test_now_ms();
        /* The peer sees the end (EOF, not data) once the linger is over. */
        assert_int_equal(netd_test_peer_end(t, fd), 0);
        assert_true(netd_test_now_ms() - started >= 250);
        close(fd);
        wait_connections(w, 1);
        assert_int_equal(netd_test_daemon_fds(t), fds_before);
        in.sin_port = htons((uint16_t)port);
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(lfd, (struct sockaddr *)&in, sizeof(in)), -1);
        assert_int_equal(errno, ECONNREFUSED);
        close(lfd);
        err = netd_test_call_fail(w, "netd.attach", json_pack("{s:s}", "token", token), -32001,
                                  "ERR_NETD_PERMISSION");
        json_decref(err);
        assert_int_equal(info_stat(w, "sessionsExpired"), 1);
        assert_int_equal(info_stat(w, "sessions"), 0);
        {
                char *log = netd_test_read_file(t, "netd.log");

                assert_non_null(strstr(log, "nobody attached within 300 ms: destroying 2 handle"));
                assert_null(strstr(log, token)); /* the token is a secret: never logged */
                free(log);
        }
        free(token);
}

/* ---- refusals -------------------------------------------------------------------------------- */

/* A wrong token, a malformed one and another uid's attach get one and the same error. */
static void test_refused_alike(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t), *b = netd_test_connect(t), *other;
        json_t *wrong, *bad, *foreign, *r;
        uint64_t srv = netd_test_create_server(a, NULL);
        char *token = detach(a, NULL, NULL);
        char flipped[33];

        memcpy(flipped, token, 33);
        flipped[31] = flipped[31] == '0' ? '1' : '0';
        wrong = netd_test_call_fail(b, "netd.attach", json_pack("{s:s}", "token", flipped), -32001,
                                    "ERR_NETD_PERMISSION");
        bad = netd_test_call_fail(b, "netd.attach", json_pack("{s:s}", "token", "not-a-token"),
                                  -32001, "ERR_NETD_PERMISSION");
        assert_true(json_equal(bad, wrong));
        netd_test_require_root();
        assert_int_equal(chmod(t->dir, 0711), 0); /* the socket itself is 0666 (the args) */
        other = netd_test_connect_as(t, NETD_TEST_UID_NOBODY);
        foreign = netd_test_call_fail(other, "netd.attach", json_pack("{s:s}", "token", token),
                                      -32001, "ERR_NETD_PERMISSION");
        assert_true(json_equal(foreign, wrong));
        /* The refusals took nothing: the owner's token still works, for its own user. */
        r = attach(b, token);
        assert_true(ids_contain(r, srv));
        json_decref(r);
        assert_int_equal(info_stat(b, "attachRefused"), 3);
        json_decref(wrong);
        json_decref(bad);
        json_decref(foreign);
        free(token);
}

/* ---- token rotation, lingerMs limits, zero handles, own token ------------------------------ */

static void test_rotation(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t), *b = netd_test_connect(t), *z;
        json_int_t linger;
        char *t1, *t2, *tz;
        json_t *r, *err;
        uint64_t srv = netd_test_create_server(a, NULL);

        t1 = detach(a, NULL, &linger);
        assert_int_equal(linger, 2000); /* --limit=sessionLingerMs */
        t2 = detach(a, json_pack("{s:i}", "lingerMs", 999999), &linger);
        assert_int_equal(linger, 5000); /* capped at --limit=sessionLingerMaxMs */
        assert_string_not_equal(t1, t2);
        err = netd_test_call_fail(b, "netd.attach", json_pack("{s:s}", "token", t1), -32001,
                                  "ERR_NETD_PERMISSION");
        json_decref(err);
        err = netd_test_call_fail(b, "netd.detach", json_pack("{s:i}", "lingerMs", -1), -32602,
                                  NULL);
        json_decref(err);

        /* A connection attaching its own token keeps everything, and is told nothing. */
        r = attach(a, t2);
        assert_true(ids_contain(r, srv));
        json_decref(r);
        r = netd_test_call(a, "netd.sync", NULL);
        json_decref(r);
        assert_int_equal(netd_test_count_events(a, "netd.detached", 0), 0);

        /* A session with no handles lingers too, and attaches as an empty list. */
        z = netd_test_connect(t);
        tz = detach(z, NULL, NULL);
        netd_test_disconnect(z);
        wait_connections(b, 2);
        r = attach(b, tz);
        netd_test_assert_json(r, "{\"handles\":[]}");
        json_decref(r);

        /* b carried tz; attaching t2 ends tz (a connection carries one session). */
        r = attach(b, t2);
        assert_true(ids_contain(r, srv));
        json_decref(r);
        (void)netd_test_wait_event(a, "netd.detached", 0, NETD_TEST_TIMEOUT_MS);
        err = netd_test_call_fail(a, "netd.attach", json_pack("{s:s}", "token", tz), -32001,
                                  "ERR_NETD_PERMISSION");
        json_decref(err);
        /* Not in a batch: the reply must precede the kept events. */
        {
                struct netd_test_raw raw;
                char line[256];

                netd_test_raw_open(t, &raw);
                (void)snprintf(line, sizeof(line),
                               "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"netd.attach\","
                               "\"params\":{\"token\":\"%s\"}}]\n",
                               t2);
                netd_test_raw_send_str(&raw, line);
                r = netd_test_raw_recv(&raw);
                assert_int_equal(netd_test_int_at(json_array_get(r, 0), "error.code"), -32600);
                json_decref(r);
                netd_test_raw_close(&raw);
        }
        free(t1);
        free(t2);
        free(tz);
}

/* A user has at most maxClientsPerUid lingering sessions when it detaches. */
static void test_sessions_per_uid(struct netd_test_daemon *t)
{
        struct netd_test_client *w = netd_test_connect(t), *c;
        char *tok[3];
        json_t *err;

        for (int i = 0; i < 3; i++) {
                c = netd_test_connect(t);
                tok[i] = detach(c, NULL, NULL);
                netd_test_disconnect(c);
                wait_connections(w, 1);
        }
        err = netd_test_call_fail(w, "netd.detach", NULL, -32001, "ERR_NETD_LIMIT");
        netd_test_assert_str(err, "data.limit", "maxClientsPerUid");
        json_decref(err);
        /* One attached (w carries it now): the user may detach again. */
        json_decref(attach(w, tok[0]));
        c = netd_test_connect(t);
        free(detach(c, NULL, NULL));
        for (int i = 0; i < 3; i++)
                free(tok[i]);
}

/* ---- the kept events' budget ------------------------------------------------------------- */

/* bytesRead of a socket as netd.handles lists it (any owner of tc's user). */
static json_int_t socket_bytes_read(struct netd_test_client *tc, uint64_t sock)
{
        json_t *r = netd_test_call(tc, "netd.handles", NULL), *row;
        json_int_t v = -1;
        size_t i;

        json_array_foreach(json_object_get(r, "handles"), i, row)
                if ((uint64_t)json_integer_value(json_object_get(row, "id")) == sock)
                        v = netd_test_int_at(row, "bytesRead");
        json_decref(r);
        assert_true(v >= 0);
        return v;
}

#define BUDGET_TOTAL (32u * 1024 * 1024)

/*
 * With sessionKeptBytes 256 KiB, a lingering session stops reading its
 * socket (the peer's writes block: TCP pushes back) and its server stops
 * accepting (the connection waits in the backlog); after the attach every
 * byte arrives, in order, and the waiting connection is accepted.
 */
static void test_budget(struct netd_test_daemon *t)
{
        struct netd_test_client *a = netd_test_connect(t), *w = netd_test_connect(t), *c;
        uint8_t *data = random_data(BUDGET_TOTAL, 33);
        json_int_t paused_before, read_at_pause;
        uint64_t sock, srv, xsock;
        struct feed f;
        json_t *r, *ev;
        int port, xfd;
        char *token;

        srv = netd_test_create_server(a, NULL);
        port = netd_test_listen(a, srv, "127.0.0.1");
        f = (struct feed){ .fd = connected_pair(a, &sock), .data = data, .len = BUDGET_TOTAL };
        token = detach(a, NULL, NULL);
        netd_test_disconnect(a);
        wait_connections(w, 1);
        paused_before = info_stat(w, "readsPaused");

        /* The peer writes until the session is over its budget and the kernel's buffers fill. */
        FEED_UNTIL(t, &f, info_stat(w, "readsPaused") > paused_before);
        read_at_pause = socket_bytes_read(w, sock);
        for (int i = 0; i < 20; i++) {
                feed_some(&f);
                netd_test_call_true(w, "netd.sync", NULL);
        }
        /* netd reads nothing more: what the peer could write sits in the kernel's buffers. */
        assert_int_equal(socket_bytes_read(w, sock), read_at_pause);
        assert_true(read_at_pause < 2 * 1024 * 1024);
        fprintf(stderr, "budget: netd read %lld bytes, the peer wrote %zu of %u\n",
                (long long)read_at_pause, f.sent, BUDGET_TOTAL);
        assert_true(f.sent < BUDGET_TOTAL);

        /* A new connection to the paused server is not accepted yet. */
        xfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        {
                struct sockaddr_in in = { .sin_family = AF_INET,
                                          .sin_port = htons((uint16_t)port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                assert_int_equal(connect(xfd, (struct sockaddr *)&in, sizeof(in)), 0);
        }
        for (int i = 0; i < 5; i++)
                netd_test_call_true(w, "netd.sync", NULL);
        r = netd_test_call(w, "netd.handles", NULL);
        assert_int_equal(json_array_size(json_object_get(r, "handles")), 2);
        assert_true(json_is_true(netd_test_get(json_array_get(json_object_get(r, "handles"), 0),
                                               "owner.lingering")));
        json_decref(r);

        /* The attach: everything flows again, nothing lost. */
        c = netd_test_connect(t);
        r = attach(c, token);
        json_decref(r);
        ev = netd_test_wait_event(c, "server.connection", srv, NETD_TEST_TIMEOUT_MS);
        xsock = netd_test_conn_socket(ev);
        assert_true(xsock != 0);
        FEED_UNTIL(t, &f, netd_test_rx(c, sock)->len >= BUDGET_TOTAL);
        assert_int_equal(netd_test_rx(c, sock)->len, BUDGET_TOTAL);
        assert_memory_equal(netd_test_rx(c, sock)->buf, data, BUDGET_TOTAL);
        close(xfd);
        close(f.fd);
        free(data);
        free(token);
}

/* ---- work accepted before the death is done ----------------------------------------------- */

#define WRITE_CHUNK (256u * 1024)
#define WRITE_N     8

/*
 * A raw client detaches, pipelines socket.write requests and closes
 * without reading a reply: every byte still reaches the peer. Then the
 * daemon stops (SIGTERM) with the session lingering: the peer gets EOF
 * after the bytes, and netd exits 0.
 */
static void test_writes_survive(struct netd_test_daemon *t)
{
        static const char hex[] = "0123456789abcdef";
        uint8_t *data = random_data(WRITE_CHUNK * WRITE_N, 44), *got;
        struct netd_test_raw raw;
        int lfd, port, fd;
        uint64_t sock = 0;
        char *line;
        size_t n;

        lfd = netd_test_tcp_socket(true, &port);
        netd_test_raw_open(t, &raw);
        line = malloc(WRITE_CHUNK * 2 + 256);
        assert_non_null(line);
        (void)snprintf(line, 256,
                       "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"net.connect\","
                       "\"params\":{\"port\":%d,\"host\":\"127.0.0.1\"}}\n"
                       "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"netd.detach\"}\n",
                       port);
        netd_test_raw_send_str(&raw, line);
        fd = netd_test_accept_peer(lfd);
        close(lfd);
        while (!sock) {
                json_t *msg = netd_test_raw_recv(&raw);

                if (json_integer_value(json_object_get(msg, "id")) == 1)
                        sock = (uint64_t)netd_test_int_at(msg, "result.socket");
                json_decref(msg);
        }
        for (int i = 0; i < WRITE_N; i++) {
                int k = sprintf(line,
                                "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"socket.write\","
                                "\"params\":{\"socket\":%llu,\"encoding\":\"hex\",\"data\":\"",
                                10 + i, (unsigned long long)sock);

                for (size_t j = 0; j < WRITE_CHUNK; j++) {
                        uint8_t b = data[i * WRITE_CHUNK + j];

                        line[k++] = hex[b >> 4];
                        line[k++] = hex[b & 15];
                }
                strcpy(line + k, "\"}}\n");
                netd_test_raw_send_str(&raw, line);
        }
        free(line);
        netd_test_raw_close(&raw);

        got = malloc(WRITE_CHUNK * WRITE_N);
        assert_non_null(got);
        assert_int_equal(netd_test_peer_read(t, fd, got, WRITE_CHUNK * WRITE_N, &n), 0);
        assert_memory_equal(got, data, WRITE_CHUNK * WRITE_N);

        /* The daemon stops with the session lingering: graceful for its socket. */
        netd_test_stop(t);
        assert_int_equal(netd_test_peer_end(t, fd), 0);
        close(fd);
        free(got);
        free(data);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_kill_then_attach),
                NETD_TEST(test_kill_uncut),
                NETD_TEST(test_clean_exit_no_repeat),
                NETD_TEST(test_handover),
                NETD_TEST(test_attach_race),
                NETD_TEST(test_linger_expiry),
                NETD_TEST_ARGS(test_refused_alike, "--socket-mode=0666"),
                NETD_TEST_ARGS(test_rotation, "--limit=sessionLingerMs=2000",
                               "--limit=sessionLingerMaxMs=5000"),
                NETD_TEST_ARGS(test_sessions_per_uid, "--limit=maxClientsPerUid=3"),
                NETD_TEST_ARGS(test_budget, "--limit=sessionKeptBytes=262144"),
                NETD_TEST(test_writes_survive),
        };

        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
