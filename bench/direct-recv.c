/*
 * direct-recv: connects to 127.0.0.1:PORT, reads until EOF, hashes, prints
 * the same JSON report as sink (elapsed: first byte to EOF).
 *   direct-recv --port P [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        bench_init("direct-recv", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        recv_hash_report(tcp_connect(atoi(arg_get(argc, argv, "--port", "0"))));
        return 0;
}
