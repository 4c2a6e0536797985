/*
 * echo-server: the direct C echo baseline. Prints "PORT <p>", accepts one
 * connection on 127.0.0.1 and writes back everything it reads until EOF.
 *   echo-server [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        size_t bufsz = 256 * 1024, n;
        char *buf = malloc(bufsz);
        int fd;

        if (!buf)
                die("out of memory");
        bench_init("echo-server", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        fd = tcp_accept_one();
        while ((n = read_some(fd, buf, bufsz)) > 0)
                write_all(fd, buf, n);
        shutdown(fd, SHUT_WR);
        close(fd);
        return 0;
}
