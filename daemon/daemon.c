/*
 * The root context (see daemon.h): creation, the default limits, orderly
 * shutdown. Shutdown closes every connection (which destroys its handles),
 * lets the deferred frees run, then frees the resolver and the event base.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "conn.h"
#include "daemon.h"
#include "frame.h"
#include "listener.h"
#include "log.h"
#include "observe.h"
#include "rpc.h"

void netd_limits_init(struct netd_limits *l)
{
        *l = (struct netd_limits){
                .frame_max_bytes = NETD_FRAME_MAX_BYTES_DEFAULT,
                .reqs_per_event = 16,
                .batch_max = 64,
                .max_clients = 256,
                .handles_per_conn = 4096,
                .closed_keep = 64,
                .out_high_bytes = 1024 * 1024,
                .out_low_bytes = 256 * 1024,
                .read_chunk_bytes = 256 * 1024,
                .write_high_bytes = 64 * 1024,
                .write_hard_bytes = 8 * 1024 * 1024,
                .out_hard_bytes = 16 * 1024 * 1024,
                .stall_timeout_ms = 30 * 1000,
                .inflight_max = 64,
                .max_clients_per_uid = 64,
                .parse_max_bytes = 16 * 1024 * 1024,
                .fd_reserve = 16,
                .listen_backlog = 511,
        };
}

int netd_daemon_new(const struct netd_limits *limits, struct netd_daemon **ret)
{
        struct netd_daemon *d = calloc(1, sizeof(*d));

        if (!d)
                return -ENOMEM;
        d->limits = *limits;
        netd_rpc_init();
        TAILQ_INIT(&d->conns);
        clock_gettime(CLOCK_MONOTONIC, &d->started);
        {
                struct rlimit rl;

                /* The daemon's own descriptors: stdio, epoll, signals, resolver, listener. */
                d->fds_max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                                             rl.rlim_cur > 32
                                     ? (unsigned)(rl.rlim_cur - 32)
                                     : 1024 * 1024;
        }
        d->base = event_base_new();
        d->scratch = malloc(d->limits.read_chunk_bytes);
        if (!d->base || !d->scratch) {
                netd_daemon_free(d);
                return -ENOMEM;
        }
        *ret = d;
        return 0;
}

struct evdns_base *netd_daemon_dns(struct netd_daemon *d)
{
        if (d->dns)
                return d->dns;
        /*
         * resolv.conf and the hosts file, without libevent's fallback of a
         * nameserver on 127.0.0.1 when resolv.conf names none: with none, names
         * outside the hosts file fail at once.
         */
        d->dns = evdns_base_new(d->base, 0);
        if (d->dns) {
                int r = evdns_base_resolv_conf_parse(d->dns,
                                                     (DNS_OPTIONS_ALL & ~DNS_OPTION_HOSTSFILE) |
                                                             DNS_OPTION_NAMESERVERS_NO_DEFAULT,
                                                     d->resolv_conf ? d->resolv_conf
                                                                    : "/etc/resolv.conf");

                if (r != 0 && r != 6 /* no nameservers: fine */)
                        log_warning("Failed to read %s (evdns error %d), ignoring",
                                    d->resolv_conf ? d->resolv_conf : "/etc/resolv.conf", r);
                if (evdns_base_load_hosts(d->dns, d->hosts_file) != 0)
                        log_warning("Failed to read %s, ignoring",
                                    d->hosts_file ? d->hosts_file : "/etc/hosts");
        }
        if (!d->dns)
                log_error("Failed to set up the resolver");
        return d->dns;
}

void netd_daemon_stop(struct netd_daemon *d)
{
        struct netd_conn *c;

        if (d->stopping)
                return;
        d->stopping = true;
        log_info("Stopping: %u client(s)", d->n_conns);
        d->listener = netd_listener_free(d->listener);
        while ((c = TAILQ_FIRST(&d->conns)))
                netd_conn_close(c, NULL);
        event_base_loopexit(d->base, NULL);
}

struct netd_daemon *netd_daemon_free(struct netd_daemon *d)
{
        struct netd_conn *c;

        if (!d)
                return NULL;
        d->listener = netd_listener_free(d->listener);
        while ((c = TAILQ_FIRST(&d->conns)))
                netd_conn_close(c, NULL);
        if (d->base) {
                /* Runs the deferred frees of the connections closed above. */
                (void)event_base_loop(d->base, EVLOOP_NONBLOCK);
        }
        if (d->dns)
                evdns_base_free(d->dns, 1);
        if (d->sig_term)
                event_free(d->sig_term);
        if (d->sig_int)
                event_free(d->sig_int);
        netd_observe_release(d); /* their timers are on d->base */
        if (d->base)
                event_base_free(d->base);
        for (size_t i = 0; i < d->n_inherited; i++) {
                if (d->inherited[i].fd >= 0)
                        close(d->inherited[i].fd);
                free(d->inherited[i].name);
        }
        free(d->inherited);
        free(d->handles.buckets);
        free(d->scratch);
        free(d);
        return NULL;
}

int netd_daemon_take_inherited(struct netd_daemon *d, const char *name)
{
        for (size_t i = 0; i < d->n_inherited; i++) {
                struct netd_inherited_fd *in = &d->inherited[i];

                if (in->fd >= 0 && strcmp(in->name, name) == 0) {
                        int fd = in->fd;

                        in->fd = -1;
                        return fd;
                }
        }
        return -ENOENT;
}

int netd_daemon_fd_take(struct netd_daemon *d)
{
        if (d->fds_open + d->limits.fd_reserve >= d->fds_max) {
                d->stats.fd_refused++;
                return -EMFILE;
        }
        d->fds_open++;
        return 0;
}

void netd_daemon_fd_release(struct netd_daemon *d)
{
        if (d->fds_open > 0)
                d->fds_open--;
}

bool netd_daemon_accept_backoff(struct netd_daemon *d, int err, struct event *ev_accept,
                                struct event *ev_backoff, const char *who)
{
        const struct timeval tv = { NETD_ACCEPT_BACKOFF_MS / 1000,
                                    (NETD_ACCEPT_BACKOFF_MS % 1000) * 1000 };

        if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
                return false;
        log_warning("%s: accept: %s, pausing for %d ms", who, strerror(err),
                    NETD_ACCEPT_BACKOFF_MS);
        event_del(ev_accept);
        event_add(ev_backoff, &tv);
        d->stats.accept_paused++;
        return true;
}

double netd_daemon_uptime(const struct netd_daemon *d)
{
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)(now.tv_sec - d->started.tv_sec) +
               (double)(now.tv_nsec - d->started.tv_nsec) / 1e9;
}
