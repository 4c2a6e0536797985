/*
 * echo-client: pushes SIZE bytes of the stream through an echo server on
 * 127.0.0.1:PORT while reading them back (non-blocking, both directions at
 * once), hashes what comes back, closes once SIZE bytes are back. Prints the
 * sink's JSON report; elapsed: first write to the last byte back.
 *   echo-client --port P --size S [--chunk 256K] [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        uint64_t size, sent = 0, got = 0;
        size_t chunk, bufsz = 256 * 1024;
        uint8_t *pat, *buf = malloc(bufsz);
        struct bench_hash h;
        int fd;

        bench_init("echo-client", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        stream_args(argc, argv, &size, &chunk);
        pat = bench_pattern();
        bench_hash_init(&h);
        fd = tcp_connect(atoi(arg_get(argc, argv, "--port", "0")));
        set_nonblock(fd);
        double t0 = now_s(), c0 = cpu_s();
        while (got < size) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN | (sent < size ? POLLOUT : 0) };

                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                        die("poll: %s", strerror(errno));
                if (pfd.revents & POLLIN) {
                        for (;;) {
                                ssize_t n = read(fd, buf, bufsz);

                                if (n < 0) {
                                        if (errno == EAGAIN || errno == EINTR)
                                                break;
                                        die("read: %s", strerror(errno));
                                }
                                if (n == 0)
                                        die("EOF after %" PRIu64 " of %" PRIu64 " bytes", got,
                                            size);
                                got += (uint64_t)n;
                                bench_hash_update(&h, buf, (size_t)n);
                        }
                }
                if (sent < size && (pfd.revents & POLLOUT)) {
                        for (;;) {
                                size_t off = (size_t)(sent % BENCH_PATTERN_LEN);
                                size_t n = chunk - off % chunk;

                                if (n > size - sent)
                                        n = (size_t)(size - sent);
                                ssize_t w = write(fd, pat + off, n);
                                if (w < 0) {
                                        if (errno == EAGAIN || errno == EINTR)
                                                break;
                                        die("write: %s", strerror(errno));
                                }
                                sent += (uint64_t)w;
                                if (sent == size || (size_t)w < n)
                                        break;
                        }
                }
        }
        double t1 = now_s(), cpu = cpu_s() - c0;
        close(fd);
        report_stream(got, bench_hash_final(&h), t1 - t0, cpu, NULL);
        return 0;
}
