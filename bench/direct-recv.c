/*
 * direct-recv: connects to 127.0.0.1:PORT, reads until EOF, hashes, prints
 * the same JSON report as sink (elapsed: first byte to EOF).
 *   direct-recv --port P [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        size_t bufsz = 256 * 1024;
        uint8_t *buf = malloc(bufsz);
        struct bench_hash h;
        uint64_t total = 0;
        double t0 = 0, t1;
        int fd;

        bench_init("direct-recv", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        fd = tcp_connect(atoi(arg_get(argc, argv, "--port", "0")));
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
