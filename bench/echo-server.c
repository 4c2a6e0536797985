/*
 * echo-server: the direct C echo baseline. Prints "PORT <p>", accepts one
 * connection on 127.0.0.1 and writes back everything it reads until EOF.
 *   echo-server [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        size_t bufsz = 256 * 1024;
        char *buf = malloc(bufsz);
        int port, lfd, fd;

        bench_init("echo-server", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        lfd = tcp_listen_ephemeral(&port, 16);
        printf("PORT %d\n", port);
        fflush(stdout);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                die("accept: %s", strerror(errno));
        close(lfd);
        for (;;) {
                ssize_t n = read(fd, buf, bufsz);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        die("read: %s", strerror(errno));
                }
                if (n == 0)
                        break;
                write_all(fd, buf, (size_t)n);
        }
        shutdown(fd, SHUT_WR);
        close(fd);
        return 0;
}
