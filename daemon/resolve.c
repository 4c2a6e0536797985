/*
 * Lookups (see resolve.h). libevent may call back synchronously, from
 * inside evdns_getaddrinfo(), or later with EVUTIL_EAI_CANCEL after a
 * cancel; the context is freed only by whichever of the launch and the
 * callback finishes last.
 *
 * Fairness: at most limits.lookups_per_conn lookups of one control
 * connection and limits.lookups_max in all are with evdns at once (evdns
 * itself is allowed more, so it never queues). The rest wait here, and a
 * freed slot goes to the next connection in round-robin order of ids, so
 * one client's unanswered names never delay another client's lookups.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "daemon.h"
#include "log.h"
#include "resolve.h"

struct netd_resolve {
        struct netd_daemon *daemon; /* borrowed */
        netd_resolve_fn cb;         /* NULL once cancelled */
        void *userdata;
        struct evdns_getaddrinfo_request *req;
        uint64_t owner;                 /* the control connection's id (fairness) */
        char *host;                     /* owned while waiting */
        char port[8];                   /* decimal */
        struct evutil_addrinfo hints;   /* for the launch */
        bool waiting;                   /* queued for a slot, not launched */
        bool slot;                      /* holds an in-flight slot */
        bool starting;                  /* inside evdns_getaddrinfo() */
        bool done;                      /* the callback ran */
        TAILQ_ENTRY(netd_resolve) link; /* in the resolver's waiting or running list */
};

TAILQ_HEAD(netd_resolve_list, netd_resolve);

struct netd_resolver {
        struct netd_resolve_list waiting; /* in arrival order */
        struct netd_resolve_list running; /* holding slots */
        unsigned n_running;
        uint64_t last_owner;   /* the connection served last (round robin) */
        struct event *ev_pump; /* owned: launches waiting lookups, deferred */
};

static unsigned resolver_running_for(const struct netd_resolver *rs, uint64_t owner)
{
        const struct netd_resolve *r;
        unsigned n = 0;

        TAILQ_FOREACH(r, &rs->running, link)
                n += r->owner == owner;
        return n;
}

static bool resolver_has_slot(const struct netd_daemon *d, uint64_t owner)
{
        const struct netd_resolver *rs = d->resolver;

        return rs->n_running < d->limits.lookups_max &&
               resolver_running_for(rs, owner) < d->limits.lookups_per_conn;
}

static void resolve_release_slot(struct netd_resolve *r)
{
        struct netd_resolver *rs = r->daemon->resolver;

        if (!r->slot)
                return;
        r->slot = false;
        TAILQ_REMOVE(&rs->running, r, link);
        rs->n_running--;
        if (!TAILQ_EMPTY(&rs->waiting))
                event_active(rs->ev_pump, EV_TIMEOUT, 0);
}

static void resolve_cb(int result, struct evutil_addrinfo *res, void *arg)
{
        struct netd_resolve *r = arg;
        netd_resolve_fn cb = r->cb;
        void *userdata = r->userdata;

        resolve_release_slot(r);
        r->done = true;
        r->req = NULL;
        if (!r->starting)
                free(r);
        if (!cb) {
                if (res)
                        evutil_freeaddrinfo(res);
                return;
        }
        if (result != 0 && res) {
                evutil_freeaddrinfo(res);
                res = NULL;
        }
        cb(result, res, userdata);
}

/*
 * Hands r to evdns in a slot. Returns true when r is finished (its callback
 * ran, or it failed at once) and was freed, false while evdns has it.
 */
static bool resolve_launch(struct netd_resolve *r)
{
        struct netd_resolver *rs = r->daemon->resolver;
        struct evdns_base *dns = netd_daemon_dns(r->daemon);
        char *host = r->host;

        r->host = NULL;
        r->slot = true;
        TAILQ_INSERT_TAIL(&rs->running, r, link);
        rs->n_running++;
        rs->last_owner = r->owner;
        r->starting = true;
        if (dns)
                r->req = evdns_getaddrinfo(dns, host, r->port, &r->hints, resolve_cb, r);
        else
                resolve_cb(EVUTIL_EAI_FAIL, NULL, r);
        free(host);
        r->starting = false;
        if (r->done) {
                free(r);
                return true;
        }
        if (evdns_base_count_nameservers(dns) == 0) {
                /*
                 * Not in the hosts file (those are answered at once) and no
                 * nameserver to ask: evdns would wait for one forever.
                 */
                netd_resolve_fn cb = r->cb;
                void *userdata = r->userdata;

                r->cb = NULL;
                evdns_getaddrinfo_cancel(r->req); /* calls back: frees r */
                if (cb)
                        cb(EVUTIL_EAI_NONAME, NULL, userdata);
                return true;
        }
        return false;
}

/* The next waiting lookup to launch: round robin over connections, in order within one. */
static struct netd_resolve *resolver_next(struct netd_daemon *d)
{
        struct netd_resolver *rs = d->resolver;
        struct netd_resolve *r, *after = NULL, *first = NULL;

        if (rs->n_running >= d->limits.lookups_max)
                return NULL;
        TAILQ_FOREACH(r, &rs->waiting, link) {
                if (!resolver_has_slot(d, r->owner))
                        continue;
                if (r->owner > rs->last_owner && (!after || r->owner < after->owner))
                        after = r;
                if (!first || r->owner < first->owner)
                        first = r;
        }
        return after ? after : first;
}

static void resolver_pump_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_daemon *d = arg;
        struct netd_resolve *r;

        while ((r = resolver_next(d))) {
                TAILQ_REMOVE(&d->resolver->waiting, r, link);
                r->waiting = false;
                (void)resolve_launch(r);
        }
}

static int resolver_get(struct netd_daemon *d)
{
        struct netd_resolver *rs;
        struct evdns_base *dns;
        char max[16];

        if (d->resolver)
                return 0;
        rs = calloc(1, sizeof(*rs));
        if (!rs)
                return -ENOMEM;
        TAILQ_INIT(&rs->waiting);
        TAILQ_INIT(&rs->running);
        rs->ev_pump = event_new(d->base, -1, 0, resolver_pump_cb, d);
        if (!rs->ev_pump) {
                free(rs);
                return -ENOMEM;
        }
        d->resolver = rs;
        /* Two queries (A and AAAA) a lookup, and room: evdns never queues on its own. */
        dns = netd_daemon_dns(d);
        (void)snprintf(max, sizeof(max), "%u", d->limits.lookups_max * 2 + 8);
        if (dns && evdns_base_set_option(dns, "max-inflight:", max) != 0)
                log_warning("Failed to set evdns max-inflight to %s, ignoring", max);
        return 0;
}

int netd_resolve_start(struct netd_daemon *d, uint64_t owner, const char *host, int port,
                       int family, int flags, netd_resolve_fn cb, void *userdata,
                       struct netd_resolve **ret)
{
        struct netd_resolve *r;
        int e;

        *ret = NULL;
        e = resolver_get(d);
        if (e < 0)
                return e;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->host = strdup(host);
        if (!r->host) {
                free(r);
                return -ENOMEM;
        }
        r->daemon = d;
        r->owner = owner;
        r->cb = cb;
        r->userdata = userdata;
        r->hints = (struct evutil_addrinfo){
                .ai_flags = flags,
                .ai_family = family,
                .ai_socktype = SOCK_STREAM,
                .ai_protocol = IPPROTO_TCP,
        };
        (void)snprintf(r->port, sizeof(r->port), "%d", port);
        if (TAILQ_EMPTY(&d->resolver->waiting) && resolver_has_slot(d, owner)) {
                if (!resolve_launch(r))
                        *ret = r;
                return 0;
        }
        d->stats.lookups_queued++;
        r->waiting = true;
        TAILQ_INSERT_TAIL(&d->resolver->waiting, r, link);
        event_active(d->resolver->ev_pump, EV_TIMEOUT, 0);
        *ret = r;
        return 0;
}

void netd_resolve_cancel(struct netd_resolve *r)
{
        if (!r)
                return;
        r->cb = NULL;
        if (r->waiting) {
                TAILQ_REMOVE(&r->daemon->resolver->waiting, r, link);
                free(r->host);
                free(r);
                return;
        }
        /* libevent calls back with EVUTIL_EAI_CANCEL, which frees r. */
        if (r->req)
                evdns_getaddrinfo_cancel(r->req);
}

void netd_resolver_free(struct netd_daemon *d)
{
        struct netd_resolver *rs = d->resolver;
        struct netd_resolve *r;

        if (!rs)
                return;
        while ((r = TAILQ_FIRST(&rs->waiting))) {
                TAILQ_REMOVE(&rs->waiting, r, link);
                free(r->host);
                free(r);
        }
        /* Running lookups are freed by evdns_base_free()'s cancel callbacks. */
        while ((r = TAILQ_FIRST(&rs->running))) {
                TAILQ_REMOVE(&rs->running, r, link);
                r->slot = false;
        }
        event_free(rs->ev_pump);
        free(rs);
        d->resolver = NULL;
}

unsigned netd_resolver_busy(const struct netd_daemon *d)
{
        const struct netd_resolve *r;
        unsigned n = 0;

        if (!d->resolver)
                return 0;
        TAILQ_FOREACH(r, &d->resolver->waiting, link)
                n++;
        return n + d->resolver->n_running;
}
