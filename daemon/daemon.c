/*
 * The root context (see daemon.h): creation, the default limits, orderly
 * shutdown. Shutdown closes every connection (which destroys its handles),
 * lets the deferred frees run, then frees the resolver and the event base.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "fdstore.h"
#include "frame.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "observe.h"
#include "resolve.h"
#include "rpc.h"
#include "server.h"
#include "session.h"
#include "socket.h"
#include "unixdiag.h"
#include "upgrade.h"

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
                .write_hard_bytes = 64 * 1024 * 1024,
                .conn_write_bytes = 256 * 1024 * 1024,
                .total_write_bytes = 1024 * 1024 * 1024,
                .out_hard_bytes = 16 * 1024 * 1024,
                .stall_timeout_ms = 30 * 1000,
                .inflight_max = 16384,
                .lookups_per_conn = 8,
                .lookups_max = 64,
                .stop_grace_ms = 5000,
                .max_clients_per_uid = 64,
                .parse_max_bytes = 16 * 1024 * 1024,
                .fd_reserve = 16,
                .listen_backlog = 511,
                .handles_per_uid = 1024,
                .reserved_clients = 8,
                .lookups_per_uid = 64,
                .buffered_per_uid = 256 * 1024 * 1024,
                .session_linger_ms = 30 * 1000,
                .session_linger_max_ms = 10 * 60 * 1000,
                .session_kept_bytes = 8 * 1024 * 1024,
        };
}

static void daemon_closing_cb(evutil_socket_t fd, short what, void *arg)
{
        netd_handle_run_closes(arg);
}

int netd_daemon_new(const struct netd_limits *limits, struct netd_daemon **ret)
{
        struct netd_daemon *d = calloc(1, sizeof(*d));

        if (!d)
                return -ENOMEM;
        d->limits = *limits;
        netd_rpc_init();
        TAILQ_INIT(&d->conns);
        TAILQ_INIT(&d->sessions);
        clock_gettime(CLOCK_MONOTONIC, &d->started);
        {
                struct rlimit rl;

                /* The daemon's own descriptors: stdio, epoll, signals, resolver, listener. */
                d->fds_max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                                             rl.rlim_cur > 32
                                     ? (unsigned)(rl.rlim_cur - 32)
                                     : 1024 * 1024;
        }
        TAILQ_INIT(&d->closing);
        /* Sessions follow what their clients read (conn.c); -errno when netlink is filtered. */
        d->unixdiag_fd = netd_unixdiag_open();
        d->base = event_base_new();
        d->scratch = malloc(d->limits.read_chunk_bytes);
        if (d->base)
                d->ev_closing = event_new(d->base, -1, 0, daemon_closing_cb, d);
        if (!d->base || !d->scratch || !d->ev_closing) {
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

int64_t netd_daemon_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct netd_owner *netd_daemon_owner_next(const struct netd_daemon *d, const struct netd_owner *o)
{
        struct netd_owner *next;

        if (!o)
                next = TAILQ_FIRST(&d->conns);
        else if (o->is_session)
                return TAILQ_NEXT(o, link);
        else
                next = TAILQ_NEXT(o, link);
        return next ? next : TAILQ_FIRST(&d->sessions);
}

/* How often the stop looks at the sockets still flushing. */
#define DAEMON_STOP_STEP_MS 10

/* One step of the stop: see netd_daemon_stop() in daemon.h. */
static void daemon_stop_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_daemon *d = arg;
        unsigned flushing = 0;
        uint64_t unsent = 0;
        struct netd_owner *o, *next;
        struct netd_handle *h, *hn;

        NETD_DAEMON_FOREACH_OWNER(d, o)
                for (h = TAILQ_FIRST(&o->handles); h; h = hn) {
                        hn = TAILQ_NEXT(h, owner_link);
                        if (h->type == NETD_HANDLE_SOCKET &&
                            !netd_socket_stop_step((struct netd_socket *)h, &unsent))
                                flushing++;
                }
        if (flushing > 0 && netd_daemon_now_ms() < d->stop_deadline_ms) {
                event_add(d->ev_stop, &(struct timeval){ 0, DAEMON_STOP_STEP_MS * 1000 });
                return;
        }
        if (flushing > 0)
                log_warning("Stop grace of %u ms over: %u socket(s) still had %" PRIu64
                            " bytes for their peers, closing them all the same",
                            d->limits.stop_grace_ms, flushing, unsent);
        if (!d->stop_sockets_done) {
                /* One more turn: the sockets' deferred 'close' events go out first. */
                d->stop_sockets_done = true;
                event_add(d->ev_stop, &(struct timeval){ 0, 0 });
                return;
        }
        /* Every socket is out (or the grace is over): the clients get their last events. */
        for (o = TAILQ_FIRST(&d->conns); o; o = next) {
                next = TAILQ_NEXT(o, link);
                netd_conn_close_after_flush(netd_conn_of(o));
        }
        if (d->n_conns == 0 || netd_daemon_now_ms() >= d->stop_deadline_ms) {
                event_base_loopexit(d->base, NULL);
                return;
        }
        event_add(d->ev_stop, &(struct timeval){ 0, DAEMON_STOP_STEP_MS * 1000 });
}

void netd_daemon_stop(struct netd_daemon *d)
{
        struct netd_owner *o;
        struct netd_handle *h;

        if (d->stopping) {
                log_notice("Stopping now: a second stop signal");
                event_base_loopexit(d->base, NULL);
                return;
        }
        d->stopping = true;
        log_info("Stopping: %u client(s), %zu bytes queued for peers, up to %u ms to flush",
                 d->n_conns, d->queued_bytes, d->limits.stop_grace_ms);
        d->listener = netd_listener_free(d->listener);
        NETD_DAEMON_FOREACH_OWNER(d, o) {
                if (!o->is_session)
                        netd_conn_stop_input(netd_conn_of(o));
                TAILQ_FOREACH(h, &o->handles, owner_link)
                        if (h->type == NETD_HANDLE_SERVER)
                                netd_server_stop_accepting((struct netd_server *)h);
        }
        d->stop_deadline_ms = netd_daemon_now_ms() + d->limits.stop_grace_ms;
        d->ev_stop = evtimer_new(d->base, daemon_stop_cb, d);
        if (!d->ev_stop) {
                event_base_loopexit(d->base, NULL);
                return;
        }
        daemon_stop_cb(-1, 0, d);
}

struct netd_daemon *netd_daemon_free(struct netd_daemon *d)
{
        struct netd_owner *o;

        if (!d)
                return NULL;
        d->listener = netd_listener_free(d->listener);
        /*
         * First: freeing the sessions below must not empty systemd's fd store.
         * After a clean stop systemd flushes it; after a failure (exit 1, then
         * Restart=on-failure) the detached servers must come back.
         */
        netd_fdstore_free(d);
        while ((o = TAILQ_FIRST(&d->conns)))
                (void)netd_conn_free(netd_conn_of(o));
        netd_session_free_all(d);
        if (d->base) {
                /* Runs what the frees above left (deferred closes of handles: none are queued). */
                (void)event_base_loop(d->base, EVLOOP_NONBLOCK);
        }
        netd_resolver_free(d);
        netd_jtok_done(&d->tokens);
        if (d->dns)
                evdns_base_free(d->dns, 1);
        if (d->ev_stop)
                event_free(d->ev_stop);
        if (d->ev_closing)
                event_free(d->ev_closing);
        if (d->sig_term)
                event_free(d->sig_term);
        if (d->sig_int)
                event_free(d->sig_int);
        if (d->sig_hup)
                event_free(d->sig_hup);
        if (d->sig_usr2)
                event_free(d->sig_usr2);
        netd_upgrade_free(d);
        if (d->unixdiag_fd >= 0)
                close(d->unixdiag_fd);
        netd_observe_release(d);                 /* their timers are on d->base */
        d->notify = netd_notify_free(d->notify); /* so are these */
        if (d->base)
                event_base_free(d->base);
        for (size_t i = 0; i < d->n_inherited; i++) {
                if (d->inherited[i].fd >= 0)
                        close(d->inherited[i].fd);
                free(d->inherited[i].name);
        }
        free(d->inherited);
        netd_policy_free(d->policy);
        free(d->uids);
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
