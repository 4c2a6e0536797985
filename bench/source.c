/*
 * source: a TCP source on 127.0.0.1 (ephemeral port). Prints "PORT <p>",
 * accepts one connection, writes SIZE bytes of the stream, half-closes and
 * waits for the peer's EOF. Prints {"bytes":..,"elapsed":..,"cpu":..}.
 *   source --size S [--chunk 256K] [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        uint64_t size;
        size_t chunk;
        uint8_t *pat;

        bench_init("source", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        stream_args(argc, argv, &size, &chunk);
        pat = bench_pattern();
        send_stream_report(tcp_accept_one(), pat, size, chunk);
        return 0;
}
