/*
 * rpc-bench: control-plane round trips on one connection. Sends
 * {"jsonrpc":"2.0","id":N,"method":"net.isIP","params":{"input":"127.0.0.1"}}
 * lines, keeping DEPTH of them outstanding (1: send, wait for the reply,
 * repeat), for DURATION seconds, then waits for the outstanding ones.
 * Against netd each reply is checked to be {"jsonrpc":"2.0","id":N,"result":4}
 * in order; with --raw the peer is pingpong, which echoes the line.
 * Prints {"requests":..,"elapsed":..,"rps":..,"rtt_us":..}; rtt_us is the
 * mean time from sending a request to reading its reply.
 *   rpc-bench --socket PATH [--depth 1] [--duration 2] [--raw] [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        const char *path;
        bool raw;
        int depth, fd;
        double duration;
        struct linebuf lb;
        long long next_id = 1, expect_id = 1, done = 0, inflight = 0;
        char *reqs;
        size_t len;

        bench_init("rpc-bench", (unsigned)atoi(arg_get(argc, argv, "--timeout", "120")));
        path = arg_get(argc, argv, "--socket", NULL);
        if (!path)
                die("--socket required");
        depth = atoi(arg_get(argc, argv, "--depth", "1"));
        duration = atof(arg_get(argc, argv, "--duration", "2"));
        raw = arg_flag(argc, argv, "--raw");
        if (depth < 1 || depth > 4096)
                die("bad --depth");
        reqs = malloc((size_t)depth * 128);
        fd = unix_connect(path);
        linebuf_init(&lb, 1 << 20);

        /* Warm-up: a few hundred round trips, not counted. */
        for (int i = 0; i < 200; i++) {
                char req[128];
                int n = snprintf(req, sizeof(req),
                                 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"net.isIP\","
                                 "\"params\":{\"input\":\"127.0.0.1\"}}\n",
                                 next_id++);
                write_all(fd, req, (size_t)n);
                if (!linebuf_read_line(&lb, fd, &len))
                        die("EOF during warm-up");
        }
        expect_id = next_id;

        double t0 = now_s(), deadline = t0 + duration, t1;
        bool sending = true;
        for (;;) {
                /* Top up to depth with one write. */
                size_t off = 0;

                while (sending && inflight < depth) {
                        off += (size_t)sprintf(reqs + off,
                                               "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"net."
                                               "isIP\",\"params\":{\"input\":\"127.0.0.1\"}}\n",
                                               next_id++);
                        inflight++;
                }
                if (off)
                        write_all(fd, reqs, off);
                if (inflight == 0)
                        break;
                /* Read at least one reply, and every complete one already here. */
                char *l = linebuf_read_line(&lb, fd, &len);
                if (!l)
                        die("EOF from the server");
                do {
                        if (!raw) {
                                char want[64];
                                int wn = snprintf(want, sizeof(want),
                                                  "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":4}",
                                                  expect_id);
                                if ((size_t)wn != len || memcmp(l, want, len) != 0)
                                        die("unexpected reply: %.200s", l);
                        }
                        expect_id++;
                        inflight--;
                        done++;
                } while ((l = linebuf_next(&lb, &len)));
                if (sending && now_s() >= deadline)
                        sending = false;
        }
        t1 = now_s();
        double el = t1 - t0;
        printf("{\"requests\":%lld,\"elapsed\":%.6f,\"rps\":%.1f,\"rtt_us\":%.3f,\"depth\":%d}\n",
               done, el, done / el, el * 1e6 * depth / done, depth);
        close(fd);
        return 0;
}
