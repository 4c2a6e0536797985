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
        bench_init("sink", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        recv_hash_report(arg_flag(argc, argv, "--stdin") ? STDIN_FILENO : tcp_accept_one());
        return 0;
}
