/*
 * netd-echo: the echo server through netd. Creates a netd server
 * (allowHalfOpen, so echoes still in flight after the peer's FIN go out)
 * listening on 127.0.0.1:0, prints "PORT <p>", and for the first accepted
 * socket sends every socket.data straight back as a socket.write
 * notification (the base64 text is reused as is, no decode/encode); on
 * socket.end it sends socket.end; it exits after socket.close. Output to
 * netd is buffered; while more than 4 MiB waits, it stops reading netd (and
 * netd, past out_high_bytes, stops reading the peer).
 *   netd-echo --socket PATH [--timeout S]
 */
#include "common.h"

static char *out;
static size_t out_cap, out_start, out_end;

static void out_add(const char *s, size_t n)
{
        if (out_end + n > out_cap) {
                if (out_start > 0) {
                        memmove(out, out + out_start, out_end - out_start);
                        out_end -= out_start;
                        out_start = 0;
                }
                while (out_end + n > out_cap) {
                        out_cap = out_cap ? out_cap * 2 : (1 << 20);
                        out = realloc(out, out_cap);
                        if (!out)
                                die("out of memory");
                }
        }
        memcpy(out + out_end, s, n);
        out_end += n;
}

int main(int argc, char **argv)
{
        const char *path;
        struct linebuf lb;
        long long server, sock = -1;
        long events = 0;
        bool closed = false;
        char params[256], *l, pre[160];
        size_t len;
        int fd, n;

        bench_init("netd-echo", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        path = arg_get(argc, argv, "--socket", NULL);
        if (!path)
                die("--socket required");
        fd = unix_connect(path);
        set_nonblock(fd);
        linebuf_init(&lb, 4 << 20);
        l = netd_call(fd, &lb, 1, "net.createServer", "{\"allowHalfOpen\":true}", NULL, NULL);
        server = json_int_after(l, "\"server\":");
        snprintf(params, sizeof(params), "{\"server\":%lld,\"port\":0,\"host\":\"127.0.0.1\"}",
                 server);
        l = netd_call(fd, &lb, 2, "server.listen", params, NULL, NULL);
        printf("PORT %lld\n", json_int_after(l, "\"port\":"));
        fflush(stdout);
        double c0 = cpu_s();
        while (!closed || out_end > out_start) {
                struct pollfd pfd = { .fd = fd,
                                      .events = (out_end - out_start < (4u << 20) ? POLLIN : 0) |
                                                (out_end > out_start ? POLLOUT : 0) };

                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                        die("poll: %s", strerror(errno));
                if (pfd.revents & POLLIN) {
                        ssize_t r;

                        while ((r = linebuf_fill(&lb, fd)) > 0) {
                                while ((l = linebuf_next(&lb, &len))) {
                                        events++;
                                        if (line_is_event(l, "socket.data")) {
                                                char *d = strstr(l, "\"data\":\"");
                                                char *e;

                                                if (!d)
                                                        die("bad socket.data");
                                                d += 8;
                                                e = memchr(d, '"', len - (size_t)(d - l));
                                                if (!e)
                                                        die("bad socket.data");
                                                n = snprintf(
                                                        pre, sizeof(pre),
                                                        "{\"jsonrpc\":\"2.0\",\"method\":\"socket."
                                                        "write\","
                                                        "\"params\":{\"socket\":%lld,\"data\":\"",
                                                        sock);
                                                out_add(pre, (size_t)n);
                                                out_add(d, (size_t)(e - d));
                                                out_add("\",\"encoding\":\"base64\"}}\n", 24);
                                        } else if (line_is_event(l, "server.connection")) {
                                                if (sock < 0)
                                                        sock = json_int_after(l, "\"socket\":");
                                        } else if (line_is_event(l, "socket.end")) {
                                                n = snprintf(pre, sizeof(pre),
                                                             "{\"jsonrpc\":\"2.0\",\"id\":3,"
                                                             "\"method\":\"socket.end\","
                                                             "\"params\":{\"socket\":%lld}}\n",
                                                             sock);
                                                out_add(pre, (size_t)n);
                                        } else if (line_is_event(l, "socket.close")) {
                                                closed = true;
                                        } else if (line_is_event(l, "socket.error")) {
                                                die("socket error: %s", l);
                                        } else if (strstr(l, "\"error\":")) {
                                                die("error: %s", l);
                                        }
                                }
                        }
                        if (r == 0)
                                die("netd closed the connection");
                }
                if (out_end > out_start && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
                        for (;;) {
                                ssize_t w = write(fd, out + out_start, out_end - out_start);

                                if (w < 0) {
                                        if (errno == EAGAIN || errno == EINTR)
                                                break;
                                        die("write: %s", strerror(errno));
                                }
                                out_start += (size_t)w;
                                if (out_start == out_end) {
                                        out_start = out_end = 0;
                                        break;
                                }
                        }
                }
                if (closed)
                        break;
        }
        printf("{\"events\":%ld,\"cpu\":%.3f}\n", events, cpu_s() - c0);
        close(fd);
        return 0;
}
