/*
 * netd-accept: the accept-rate case through netd. Creates a netd server on
 * 127.0.0.1:0 (default options), prints "PORT <p>", and counts the
 * server.connection events (and the sockets' socket.close) until COUNT
 * connections have come and closed. Prints {"accepted":..,"closed":..,
 * "elapsed":..} (elapsed: first to last server.connection).
 *   netd-accept --socket PATH --count M [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        const char *path;
        struct linebuf lb;
        long count, accepted = 0, closed = 0, errors = 0;
        double t0 = 0, t1 = 0;
        char params[128], *l;
        size_t len;
        int fd;

        bench_init("netd-accept", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        path = arg_get(argc, argv, "--socket", NULL);
        if (!path)
                die("--socket required");
        count = atol(arg_get(argc, argv, "--count", "1000"));
        fd = unix_connect(path);
        linebuf_init(&lb, 1 << 20);
        l = netd_call(fd, &lb, 1, "net.createServer", NULL, NULL, NULL);
        snprintf(params, sizeof(params), "{\"server\":%lld,\"port\":0,\"host\":\"127.0.0.1\"}",
                 json_int_after(l, "\"server\":"));
        l = netd_call(fd, &lb, 2, "server.listen", params, NULL, NULL);
        printf("PORT %lld\n", json_int_after(l, "\"port\":"));
        fflush(stdout);
        double c0 = cpu_s();
        while (accepted < count || closed < accepted) {
                l = linebuf_read_line(&lb, fd, &len);
                if (!l)
                        die("netd closed the connection");
                if (line_is_event(l, "server.connection")) {
                        if (accepted == 0)
                                t0 = now_s();
                        if (++accepted == count)
                                t1 = now_s();
                } else if (line_is_event(l, "socket.close")) {
                        closed++;
                } else if (line_is_event(l, "socket.error")) {
                        errors++;
                }
        }
        printf("{\"accepted\":%ld,\"closed\":%ld,\"errors\":%ld,\"elapsed\":%.6f,\"cpu\":%.3f}\n",
               accepted, closed, errors, t1 - t0, cpu_s() - c0);
        close(fd);
        return 0;
}
