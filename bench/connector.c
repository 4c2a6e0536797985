/*
 * connector: opens TCP connections to 127.0.0.1 as fast as it can.
 *
 *   connector --mode cycle --ports P[,P..] --count M [--concurrency K]
 *     M full connection lifecycles, at most K at a time: connect, half-close
 *     (shutdown SHUT_WR), wait for the server's EOF, close. Prints
 *     {"completed":..,"errors":..,"elapsed":..}.
 *
 *   connector --mode hold --ports P[,P..] --count N [--concurrency K]
 *     opens N connections (ports used round-robin, at most K connects
 *     pending at a time) and keeps them open; prints "CONNECTED <n>
 *     <seconds>", then waits for EOF on stdin (or the timeout) and exits.
 *
 * Raises its RLIMIT_NOFILE soft limit to the hard limit.
 */
#include "common.h"
#include <sys/epoll.h>

static int ports[64], nports;

static int start_connect(int i)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)ports[i % nports]),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0)
                die("socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                int e = errno;

                close(fd);
                errno = e;
                return -1;
        }
        return fd;
}

int main(int argc, char **argv)
{
        const char *mode, *plist;
        long count, conc, started = 0, completed = 0, errors = 0, open_now = 0, pending = 0;
        int ep;
        struct epoll_event evs[256];

        bench_init("connector", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        raise_nofile();
        mode = arg_get(argc, argv, "--mode", "cycle");
        plist = arg_get(argc, argv, "--ports", NULL);
        if (!plist)
                die("--ports required");
        for (const char *p = plist; *p && nports < 64;) {
                ports[nports++] = atoi(p);
                p = strchr(p, ',');
                if (!p)
                        break;
                p++;
        }
        count = atol(arg_get(argc, argv, "--count", "1000"));
        conc = atol(arg_get(argc, argv, "--concurrency", "64"));
        ep = epoll_create1(EPOLL_CLOEXEC);
        bool hold = strcmp(mode, "hold") == 0;
        int *fds = hold ? calloc((size_t)count, sizeof(int)) : NULL;
        long nfds = 0;
        double t0 = now_s();

        for (;;) {
                long limit = hold ? pending : open_now;

                while (started < count && limit < conc) {
                        int fd = start_connect((int)started);

                        started++;
                        if (fd < 0) {
                                errors++;
                                continue;
                        }
                        struct epoll_event ev = { .events = EPOLLOUT, .data.fd = fd };
                        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                        limit++;
                        open_now++;
                        pending++;
                }
                if (hold ? (pending == 0 && started >= count) : (open_now == 0 && started >= count))
                        break;
                int n = epoll_wait(ep, evs, 256, 5000);
                if (n < 0 && errno != EINTR)
                        die("epoll_wait: %s", strerror(errno));
                if (n == 0)
                        die("stalled: %ld started, %ld completed, %ld pending", started, completed,
                            pending);
                for (int i = 0; i < n; i++) {
                        int fd = evs[i].data.fd;

                        if (evs[i].events & EPOLLOUT) {
                                int err = 0;
                                socklen_t el = sizeof(err);

                                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
                                pending--;
                                if (err) {
                                        errors++;
                                        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                                        close(fd);
                                        open_now--;
                                        continue;
                                }
                                if (hold) {
                                        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                                        fds[nfds++] = fd;
                                        completed++;
                                        continue;
                                }
                                shutdown(fd, SHUT_WR);
                                struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
                                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                        } else {
                                char tmp[256];
                                ssize_t r = read(fd, tmp, sizeof(tmp));

                                if (r > 0 || (r < 0 && errno == EAGAIN))
                                        continue;
                                if (r < 0)
                                        errors++;
                                else
                                        completed++;
                                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                                close(fd);
                                open_now--;
                        }
                }
        }
        double el = now_s() - t0;
        if (hold) {
                char tmp[64];

                printf("CONNECTED %ld %.6f %ld\n", completed, el, errors);
                fflush(stdout);
                while (read(0, tmp, sizeof(tmp)) > 0)
                        ;
                for (long i = 0; i < nfds; i++)
                        close(fds[i]);
                return 0;
        }
        printf("{\"completed\":%ld,\"errors\":%ld,\"elapsed\":%.6f}\n", completed, errors, el);
        return 0;
}
