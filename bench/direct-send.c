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
        uint64_t size;
        size_t chunk;
        uint8_t *pat;

        bench_init("direct-send", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        stream_args(argc, argv, &size, &chunk);
        pat = bench_pattern();
        if (arg_flag(argc, argv, "--stdout")) {
                write_stream(STDOUT_FILENO, pat, size, chunk);
                return 0;
        }
        send_stream_report(tcp_connect(atoi(arg_get(argc, argv, "--port", "0"))), pat, size, chunk);
        return 0;
}
