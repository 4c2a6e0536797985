/*
 * sink: a TCP sink on 127.0.0.1 (ephemeral port). Prints "PORT <p>", accepts
 * one connection, reads until EOF, hashes every byte, then prints one JSON
 * line: bytes, hash, expected hash, elapsed (first byte to EOF), cpu. With
 * --stdin it reads its standard input instead (the end of a pipeline such
 * as `netctl connect ... | sink --stdin`) and prints only the report.
 *   sink [--stdin] [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        int port, lfd, fd;

        bench_init("sink", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        if (arg_flag(argc, argv, "--stdin")) {
                recv_hash_report(STDIN_FILENO);
                return 0;
        }
        lfd = tcp_listen_ephemeral(&port, 16);
        printf("PORT %d\n", port);
        fflush(stdout);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                die("accept: %s", strerror(errno));
        close(lfd);
        recv_hash_report(fd);
        return 0;
}
