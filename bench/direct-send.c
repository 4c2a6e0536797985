/*
 * direct-send: connects to 127.0.0.1:PORT, writes SIZE bytes of the stream in
 * CHUNK-sized write(2)s, half-closes, waits for the peer's EOF. Prints
 * {"bytes":..,"elapsed":..,"cpu":..}. With --stdout it writes the stream to
 * its standard output instead (the head of a pipeline such as
 * `direct-send --stdout | netctl connect ...`), closes it, and prints nothing.
 *   direct-send (--port P | --stdout) --size S [--chunk 256K] [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        uint64_t size, sent = 0;
        size_t chunk;
        uint8_t *pat;
        char tmp[4096];
        int fd;

        bench_init("direct-send", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        size = arg_size(argc, argv, "--size", NULL);
        chunk = (size_t)arg_size(argc, argv, "--chunk", "256K");
        if (chunk == 0 || BENCH_PATTERN_LEN % chunk)
                die("--chunk must divide %u", BENCH_PATTERN_LEN);
        pat = bench_pattern();
        if (arg_flag(argc, argv, "--stdout")) {
                for (; sent < size; sent += chunk)
                        write_all(STDOUT_FILENO, pat + sent % BENCH_PATTERN_LEN,
                                  size - sent < chunk ? (size_t)(size - sent) : chunk);
                return 0;
        }
        fd = tcp_connect(atoi(arg_get(argc, argv, "--port", "0")));
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
