/*
 * plain-accept: the accept-rate baseline, a plain libevent server
 * (evconnlistener) on 127.0.0.1:0. Prints "PORT <p>"; every accepted
 * socket gets a read event and is closed at EOF, as netd does. Stops after
 * COUNT connections have come and closed. Prints {"accepted":..,"closed":..,
 * "elapsed":..} (elapsed: first to last accept).
 *   plain-accept --count M [--timeout S]
 */
#include "common.h"
#include <event2/event.h>
#include <event2/listener.h>

static struct event_base *base;
static long count, accepted, closed;
static double t0, t1;

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
        struct event *ev = arg;
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n > 0 || (n < 0 && errno == EAGAIN))
                return;
        event_free(ev);
        close(fd);
        if (++closed >= count && accepted >= count)
                event_base_loopbreak(base);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int sl,
                      void *arg)
{
        struct event *ev = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, event_self_cbarg());

        if (accepted == 0)
                t0 = now_s();
        if (++accepted == count)
                t1 = now_s();
        event_add(ev, NULL);
}

int main(int argc, char **argv)
{
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        struct evconnlistener *lis;

        bench_init("plain-accept", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        count = atol(arg_get(argc, argv, "--count", "1000"));
        base = event_base_new();
        lis = evconnlistener_new_bind(base, accept_cb, NULL,
                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                              LEV_OPT_CLOSE_ON_EXEC,
                                      511, (struct sockaddr *)&sa, sizeof(sa));
        if (!lis)
                die("listen: %s", strerror(errno));
        getsockname(evconnlistener_get_fd(lis), (struct sockaddr *)&sa, &sl);
        printf("PORT %d\n", ntohs(sa.sin_port));
        fflush(stdout);
        double c0 = cpu_s();
        event_base_dispatch(base);
        printf("{\"accepted\":%ld,\"closed\":%ld,\"errors\":0,\"elapsed\":%.6f,\"cpu\":%.3f}\n",
               accepted, closed, t1 - t0, cpu_s() - c0);
        evconnlistener_free(lis);
        event_base_free(base);
        return 0;
}
