/*
 * netd-hold: the memory case through netd. Opens ceil(COUNT/PER) control
 * connections (netd allows handles_per_conn = 4096 live handles on one),
 * each with a netd server on 127.0.0.1:0, prints "PORTS p1,p2,..", counts
 * server.connection events until COUNT have come, prints "HELD <n>
 * <seconds>", then keeps the connections (reading events) until EOF on
 * stdin or the timeout.
 *   netd-hold --socket PATH --count N [--per-conn 2500] [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        const char *path;
        long count, per, held = 0;
        int k;

        bench_init("netd-hold", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        path = arg_get(argc, argv, "--socket", NULL);
        if (!path)
                die("--socket required");
        count = atol(arg_get(argc, argv, "--count", "10000"));
        per = atol(arg_get(argc, argv, "--per-conn", "2500"));
        k = (int)((count + per - 1) / per);
        if (k < 1 || k > 60)
                die("bad --count/--per-conn");
        struct pollfd pfd[61];
        struct linebuf lb[60];

        printf("PORTS ");
        for (int i = 0; i < k; i++) {
                char params[128], *l;

                pfd[i].fd = unix_connect(path);
                pfd[i].events = POLLIN;
                linebuf_init(&lb[i], 1 << 20);
                l = netd_call(pfd[i].fd, &lb[i], 1, "net.createServer", NULL, NULL, NULL);
                snprintf(params, sizeof(params),
                         "{\"server\":%lld,\"port\":0,\"host\":\"127.0.0.1\"}",
                         json_int_after(l, "\"server\":"));
                l = netd_call(pfd[i].fd, &lb[i], 2, "server.listen", params, NULL, NULL);
                printf("%s%lld", i ? "," : "", json_int_after(l, "\"port\":"));
                set_nonblock(pfd[i].fd);
        }
        printf("\n");
        fflush(stdout);
        pfd[k].fd = 0;
        pfd[k].events = POLLIN;
        double t0 = now_s();
        bool reported = false;
        for (;;) {
                if (poll(pfd, (nfds_t)k + 1, -1) < 0 && errno != EINTR)
                        die("poll: %s", strerror(errno));
                for (int i = 0; i < k; i++) {
                        if (!(pfd[i].revents & (POLLIN | POLLHUP)))
                                continue;
                        ssize_t r;
                        char *l;
                        size_t len;

                        while ((r = linebuf_fill(&lb[i], pfd[i].fd)) > 0)
                                while ((l = linebuf_next(&lb[i], &len)))
                                        if (line_is_event(l, "server.connection"))
                                                held++;
                        if (r == 0)
                                die("netd closed the connection");
                }
                if (!reported && held >= count) {
                        printf("HELD %ld %.6f\n", held, now_s() - t0);
                        fflush(stdout);
                        reported = true;
                }
                if (pfd[k].revents & (POLLIN | POLLHUP)) {
                        char tmp[64];

                        if (read(0, tmp, sizeof(tmp)) <= 0)
                                break;
                }
        }
        return 0;
}
