/*
 * source: a TCP source on 127.0.0.1 (ephemeral port). Prints "PORT <p>",
 * accepts one connection, writes SIZE bytes of the stream, half-closes and
 * waits for the peer's EOF. Prints {"bytes":..,"elapsed":..,"cpu":..}.
 *   source --size S [--chunk 256K] [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        uint64_t size, sent = 0;
        size_t chunk;
        uint8_t *pat;
        char tmp[4096];
        int port, lfd, fd;

        bench_init("source", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        size = arg_size(argc, argv, "--size", NULL);
        chunk = (size_t)arg_size(argc, argv, "--chunk", "256K");
        if (chunk == 0 || BENCH_PATTERN_LEN % chunk)
                die("--chunk must divide %u", BENCH_PATTERN_LEN);
        pat = bench_pattern();
        lfd = tcp_listen_ephemeral(&port, 16);
        printf("PORT %d\n", port);
        fflush(stdout);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                die("accept: %s", strerror(errno));
        close(lfd);
        double t0 = now_s(), c0 = cpu_s();
        while (sent < size) {
                size_t off = (size_t)(sent % BENCH_PATTERN_LEN);
                size_t n = chunk;

                if (n > size - sent)
                        n = (size_t)(size - sent);
                write_all(fd, pat + off, n);
                sent += n;
        }
        shutdown(fd, SHUT_WR);
        while (read(fd, tmp, sizeof(tmp)) > 0)
                ;
        printf("{\"bytes\":%" PRIu64 ",\"elapsed\":%.6f,\"cpu\":%.3f}\n", sent, now_s() - t0,
               cpu_s() - c0);
        close(fd);
        return 0;
}
