/*
 * libnetdclient against the real netd: descriptors that come with lines.
 * netd_client_socket_attach_sync() on a connected socket and
 * netd_client_take_fd() in the event callback of an {"attach":true}
 * server's server.connection; 4 MiB each way between the two descriptors at
 * once, byte-exact; each side's shutdown() is the other's EOF; the events
 * still come as JSON (socket.end, socket.close) and socket.get counts the
 * bytes; no descriptor is left open in the client. And the refusals:
 * attaching an unknown socket, or a socket twice, leaves nothing open.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netd-test.h"

#define XFER_BYTES (4u << 20)

struct rec {
        int server_fd;     /* taken from server.connection, or -1 */
        uint64_t accepted; /* its socket */
        int connects, ends, closes;
};

static void rec_event_cb(struct netd_client *c, const char *method, json_t *params, void *userdata)
{
        struct rec *r = userdata;

        if (strcmp(method, "server.connection") == 0) {
                assert_int_equal(json_integer_value(json_object_get(params, "fd")), 0);
                r->server_fd = netd_client_take_fd(c, 0);
                assert_true(r->server_fd >= 0);
                assert_int_equal(netd_client_get_handle(params, "socket", &r->accepted), 0);
        } else if (strcmp(method, "socket.connect") == 0) {
                r->connects++;
        } else if (strcmp(method, "socket.end") == 0) {
                r->ends++;
        } else if (strcmp(method, "socket.close") == 0) {
                assert_false(json_is_true(json_object_get(params, "hadError")));
                r->closes++;
        }
}

static int count_open_fds(void)
{
        char path[64];
        int n = 0;

        for (int fd = 0; fd < 4096; fd++) {
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                if (access(path, F_OK) == 0)
                        n++;
        }
        return n;
}

static void wait_for(struct netd_client *c, const int *counter, int want)
{
        int64_t dl = netd_test_deadline(NETD_TEST_TIMEOUT_MS);

        while (*counter < want) {
                assert_true(netd_test_now_ms() < dl);
                assert_true(netd_client_wait(c, 100) >= 0);
        }
}

/* One direction of the exchange: what to send on fd, and what to read from it. */
struct side {
        int fd;
        const uint8_t *out;
        size_t sent;
        bool shut;
        uint8_t *in;
        size_t got;
        bool eof;
};

static void side_step(struct side *s, short revents)
{
        ssize_t n;

        if ((revents & POLLOUT) && s->sent < XFER_BYTES) {
                n = send(s->fd, s->out + s->sent, XFER_BYTES - s->sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0)
                        assert_true(errno == EAGAIN);
                else
                        s->sent += (size_t)n;
        }
        if (s->sent == XFER_BYTES && !s->shut) {
                assert_int_equal(shutdown(s->fd, SHUT_WR), 0);
                s->shut = true;
        }
        if (revents & (POLLIN | POLLHUP)) {
                n = recv(s->fd, s->in + s->got, XFER_BYTES + 1 - s->got, MSG_DONTWAIT);
                if (n == 0)
                        s->eof = true;
                else if (n < 0)
                        assert_true(errno == EAGAIN);
                else
                        s->got += (size_t)n;
        }
}

static void test_attach_both_ends(struct netd_test_daemon *t)
{
        struct rec r = { .server_fd = -1 };
        struct netd_client_error err;
        struct netd_client *c = NULL;
        uint8_t *a = malloc(XFER_BYTES), *b = malloc(XFER_BYTES);
        struct side cs = { .out = a, .in = malloc(XFER_BYTES + 1) };
        struct side ss = { .out = b, .in = malloc(XFER_BYTES + 1) };
        json_t *addr = NULL, *got;
        uint64_t server, sock;
        int before = count_open_fds();
        int64_t dl;

        assert_non_null(a);
        assert_non_null(b);
        netd_test_random_bytes(a, XFER_BYTES, 1);
        netd_test_random_bytes(b, XFER_BYTES, 2);
        assert_int_equal(netd_client_connect(t->socket_path, &c), 0);
        netd_client_on_event(c, rec_event_cb, &r);
        assert_int_equal(netd_client_net_create_server_sync(
                                 c, json_pack("{s:b,s:b}", "attach", 1, "allowHalfOpen", 1),
                                 NETD_TEST_TIMEOUT_MS, &server, &err),
                         0);
        assert_int_equal(netd_client_server_listen_sync(c, server, 0, "127.0.0.1", -1,
                                                        NETD_TEST_TIMEOUT_MS, &addr, &err),
                         0);
        assert_int_equal(
                netd_client_call_sync(c, "net.connect",
                                      json_pack("{s:I,s:s,s:b}", "port",
                                                json_integer_value(json_object_get(addr, "port")),
                                                "host", "127.0.0.1", "allowHalfOpen", 1),
                                      NETD_TEST_TIMEOUT_MS, &got, &err),
                0);
        assert_int_equal(netd_client_get_handle(got, "socket", &sock), 0);
        json_decref(got);
        json_decref(addr);
        wait_for(c, &r.connects, 1);
        while (r.server_fd < 0)
                assert_true(netd_client_wait(c, NETD_TEST_TIMEOUT_MS) > 0);

        cs.fd = netd_client_socket_attach_sync(c, sock, NETD_TEST_TIMEOUT_MS, &err);
        assert_true(cs.fd >= 0);
        assert_int_equal(fcntl(cs.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        ss.fd = r.server_fd;
        assert_int_equal(fcntl(ss.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

        /* A socket attached twice: refused, nothing left open. */
        assert_int_equal(netd_client_socket_attach_sync(c, sock, NETD_TEST_TIMEOUT_MS, &err),
                         -EREMOTEIO);
        netd_client_error_done(&err);

        /* Both ways at once, then each side's shutdown is the other's EOF. */
        dl = netd_test_deadline(NETD_TEST_TIMEOUT_MS * 3);
        while (!cs.eof || !ss.eof) {
                struct pollfd p[3] = {
                        { .fd = cs.fd, .events = POLLIN | (cs.sent < XFER_BYTES ? POLLOUT : 0) },
                        { .fd = ss.fd, .events = POLLIN | (ss.sent < XFER_BYTES ? POLLOUT : 0) },
                        { .fd = netd_client_fd(c), .events = POLLIN },
                };

                assert_true(netd_test_now_ms() < dl);
                assert_true(poll(p, 3, 1000) >= 0);
                side_step(&cs, p[0].revents);
                side_step(&ss, p[1].revents);
                if (p[2].revents)
                        assert_int_equal(netd_client_process(c), 0);
        }
        assert_int_equal(cs.got, XFER_BYTES);
        assert_int_equal(ss.got, XFER_BYTES);
        assert_memory_equal(cs.in, b, XFER_BYTES);
        assert_memory_equal(ss.in, a, XFER_BYTES);

        /* The events still come: each socket's end and close. */
        wait_for(c, &r.closes, 2);
        assert_int_equal(r.ends, 2);
        assert_int_equal(netd_client_call_sync(c, "socket.get",
                                               json_pack("{s:I}", "socket", (json_int_t)sock),
                                               NETD_TEST_TIMEOUT_MS, &got, &err),
                         0);
        assert_int_equal(json_integer_value(json_object_get(got, "bytesRead")), XFER_BYTES);
        assert_int_equal(json_integer_value(json_object_get(got, "bytesWritten")), XFER_BYTES);
        json_decref(got);

        close(cs.fd);
        close(ss.fd);
        c = netd_client_free(c);
        assert_int_equal(count_open_fds(), before);
        free(a);
        free(b);
        free(cs.in);
        free(ss.in);
}

/* Refusals leave no descriptor behind, and the connection stays usable. */
static void test_attach_refused(struct netd_test_daemon *t)
{
        struct netd_client_error err;
        struct netd_client *c = NULL;
        int before = count_open_fds();

        assert_int_equal(netd_client_connect(t->socket_path, &c), 0);
        assert_int_equal(netd_client_socket_attach_sync(c, 424242, NETD_TEST_TIMEOUT_MS, &err),
                         -EREMOTEIO);
        assert_non_null(err.data_code);
        netd_client_error_done(&err);
        assert_int_equal(netd_client_sync(c, NETD_TEST_TIMEOUT_MS), 0);
        c = netd_client_free(c);
        assert_int_equal(count_open_fds(), before);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_attach_both_ends),
                NETD_TEST(test_attach_refused),
        };

        return cmocka_run_group_tests_name("client-attach", tests, NULL, NULL);
}
