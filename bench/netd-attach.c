/*
 * netd-attach: a socket netd owns, attached: its bytes go through the
 * descriptor socket.attach hands over (the client's end of a socket pair),
 * with plain read(2)/write(2) of 256 KiB, no JSON.
 *   --send: net.connect to 127.0.0.1:PORT (the sink), socket.attach once
 *           connected, then the stream to the descriptor, a half-close, the
 *           peer's EOF awaited; prints {"bytes","elapsed","cpu"} as direct-send.
 *   --recv: net.connect to the source, socket.attach at once; any socket.data
 *           before the attach reply is decoded and hashed first (the seam),
 *           then the descriptor is read to EOF and hashed; prints the stream
 *           report as sink (elapsed: first byte to EOF) plus "events".
 *   netd-attach --socket PATH --port P (--send --size S | --recv) [--timeout S]
 */
#include "common.h"

static const char data_prefix[] = "{\"jsonrpc\":\"2.0\",\"method\":\"socket.data\",";

struct seam {
        struct bench_hash h;
        uint8_t *dec;
        uint64_t total;
        long events;
        double t0;
        bool connected;
};

/* Events before a reply: socket.connect, and (--recv) socket.data of the seam. */
static void on_other(char *l, void *ud)
{
        struct seam *s = ud;
        size_t len = strlen(l);

        if (line_is_event(l, "socket.connect")) {
                s->connected = true;
        } else if (len > sizeof(data_prefix) &&
                   memcmp(l, data_prefix, sizeof(data_prefix) - 1) == 0) {
                char *d = strstr(l, "\"data\":\""), *e;
                ssize_t n;

                if (!d)
                        die("bad socket.data: %.200s", l);
                d += 8;
                e = strchr(d, '"');
                if (!e || (size_t)(e - d) / 4 * 3 > (4u << 20))
                        die("bad socket.data: %.200s", l);
                n = b64_decode(d, (size_t)(e - d), s->dec);
                if (n < 0)
                        die("bad base64 in socket.data");
                if (s->total == 0)
                        s->t0 = now_s();
                s->total += (uint64_t)n;
                s->events++;
                bench_hash_update(&s->h, s->dec, (size_t)n);
        } else if (line_is_event(l, "socket.error") || line_is_event(l, "socket.close")) {
                die("the socket failed: %s", l);
        }
}

int main(int argc, char **argv)
{
        struct seam s = { .dec = malloc(4 << 20) };
        bool send = arg_flag(argc, argv, "--send");
        const char *path;
        struct linebuf lb;
        char params[128], *l;
        long long sock;
        size_t len;
        int fd, pair, fl;

        bench_init("netd-attach", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        path = arg_get(argc, argv, "--socket", NULL);
        if (!path || (!send && !arg_flag(argc, argv, "--recv")))
                die("usage: netd-attach --socket PATH --port P (--send --size S | --recv)");
        b64_init();
        b64_init_decode();
        bench_hash_init(&s.h);
        fd = unix_connect(path);
        linebuf_init(&lb, 4 << 20);
        snprintf(params, sizeof(params), "{\"port\":%d,\"host\":\"127.0.0.1\"}",
                 atoi(arg_get(argc, argv, "--port", "0")));
        l = netd_call(fd, &lb, 1, "net.connect", params, on_other, &s);
        sock = json_int_after(l, "\"socket\":");
        if (sock <= 0)
                die("bad net.connect reply: %s", l);
        if (send) {
                /* The sink sends nothing: attach once connected, as a client would. */
                while (!s.connected) {
                        l = linebuf_read_line(&lb, fd, &len);
                        if (!l)
                                die("netd closed the connection");
                        on_other(l, &s);
                }
        }
        snprintf(params, sizeof(params), "{\"socket\":%lld}", sock);
        l = netd_call(fd, &lb, 2, "socket.attach", params, on_other, &s);
        if (json_int_after(l, "\"fd\":") != 0 || lb.fd < 0)
                die("socket.attach gave no descriptor: %s", l);
        pair = lb.fd;
        lb.fd = -1;
        fl = fcntl(pair, F_GETFL); /* blocking reads and writes, as direct-send and sink */
        fcntl(pair, F_SETFL, fl & ~O_NONBLOCK);
        if (send) {
                uint64_t size;
                size_t chunk;

                stream_args(argc, argv, &size, &chunk);
                send_stream_report(pair, bench_pattern(), size, chunk);
        } else {
                size_t bufsz = 256 * 1024;
                uint8_t *buf = malloc(bufsz);
                double c0 = cpu_s(), t1;
                char extra[64];

                for (;;) {
                        size_t n = read_some(pair, buf, bufsz);

                        if (n == 0)
                                break;
                        if (s.total == 0)
                                s.t0 = now_s();
                        s.total += n;
                        bench_hash_update(&s.h, buf, n);
                }
                t1 = now_s();
                close(pair);
                snprintf(extra, sizeof(extra), "\"events\":%ld", s.events);
                report_stream(s.total, bench_hash_final(&s.h), s.total ? t1 - s.t0 : 0,
                              cpu_s() - c0, extra);
        }
        close(fd);
        return 0;
}
