/*
 * sink: a TCP sink on 127.0.0.1 (ephemeral port). Prints "PORT <p>", accepts
 * one connection, reads until EOF, hashes every byte, then prints one JSON
 * line: bytes, hash, expected hash, elapsed (first byte to EOF), cpu.
 *   sink [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        int port, lfd, fd;
        size_t bufsz = 256 * 1024;
        uint8_t *buf = malloc(bufsz);
        struct bench_hash h;
        uint64_t total = 0;
        double t0 = 0, t1;

        bench_init("sink", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        lfd = tcp_listen_ephemeral(&port, 16);
        printf("PORT %d\n", port);
        fflush(stdout);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                die("accept: %s", strerror(errno));
        close(lfd);
        bench_hash_init(&h);
        double c0 = cpu_s();
        for (;;) {
                ssize_t n = read(fd, buf, bufsz);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        die("read: %s", strerror(errno));
                }
                if (n == 0)
                        break;
                if (total == 0)
                        t0 = now_s();
                total += (uint64_t)n;
                bench_hash_update(&h, buf, (size_t)n);
        }
        t1 = now_s();
        close(fd);
        report_stream(total, bench_hash_final(&h), total ? t1 - t0 : 0, cpu_s() - c0, NULL);
        return 0;
}
