/*
 * netd-recv: peer -> client through netd. Asks netd to net.connect to
 * 127.0.0.1:PORT (the source), then decodes every socket.data (base64, the
 * default encoding) and hashes the bytes until socket.end; waits for
 * socket.close. Prints the same JSON report as sink (elapsed: first
 * socket.data to socket.end), plus the number of events.
 *   netd-recv --socket PATH --port P [--timeout S]
 */
#include "common.h"

static const char data_prefix[] = "{\"jsonrpc\":\"2.0\",\"method\":\"socket.data\",";

int main(int argc, char **argv)
{
        const char *path;
        struct linebuf lb;
        struct bench_hash h;
        uint8_t *dec = malloc(4 << 20);
        uint64_t total = 0;
        long events = 0;
        double t0 = 0, t1 = 0, c0;
        bool ended = false, closed = false;
        char params[128], *l;
        size_t len;
        int fd;

        bench_init("netd-recv", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        path = arg_get(argc, argv, "--socket", NULL);
        if (!path)
                die("--socket required");
        b64_init();
        b64_init_decode();
        bench_hash_init(&h);
        fd = unix_connect(path);
        set_nonblock(fd);
        linebuf_init(&lb, 4 << 20);
        snprintf(params, sizeof(params), "{\"port\":%d,\"host\":\"127.0.0.1\"}",
                 atoi(arg_get(argc, argv, "--port", "0")));
        l = netd_call(fd, &lb, 1, "net.connect", params, NULL, NULL);
        if (json_int_after(l, "\"socket\":") <= 0)
                die("bad net.connect reply: %s", l);
        c0 = cpu_s();
        while (!closed) {
                l = linebuf_read_line(&lb, fd, &len);
                if (!l)
                        die("netd closed the connection");
                if (len > sizeof(data_prefix) &&
                    memcmp(l, data_prefix, sizeof(data_prefix) - 1) == 0) {
                        char *d = memmem(l, len, "\"data\":\"", 8);
                        char *e;
                        ssize_t n;

                        if (!d)
                                die("bad socket.data: %.200s", l);
                        d += 8;
                        e = memchr(d, '"', len - (size_t)(d - l));
                        if (!e || (size_t)(e - d) / 4 * 3 > (4u << 20))
                                die("bad socket.data: %.200s", l);
                        n = b64_decode(d, (size_t)(e - d), dec);
                        if (n < 0)
                                die("bad base64 in socket.data");
                        if (total == 0)
                                t0 = now_s();
                        total += (uint64_t)n;
                        events++;
                        bench_hash_update(&h, dec, (size_t)n);
                } else if (line_is_event(l, "socket.end")) {
                        t1 = now_s();
                        ended = true;
                } else if (line_is_event(l, "socket.close")) {
                        closed = true;
                } else if (line_is_event(l, "socket.error")) {
                        die("socket error: %s", l);
                }
        }
        if (!ended)
                t1 = now_s();
        double cpu = cpu_s() - c0;
        close(fd);
        char extra[64];
        snprintf(extra, sizeof(extra), "\"events\":%ld", events);
        report_stream(total, bench_hash_final(&h), total ? t1 - t0 : 0, cpu, extra);
        return 0;
}
