/*
 * Lookups (see resolve.h). libevent may call back synchronously, from
 * inside evdns_getaddrinfo(), or later with EVUTIL_EAI_CANCEL after a
 * cancel; the context is freed only by whichever of the start function and
 * the callback finishes last.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "daemon.h"
#include "resolve.h"

struct netd_resolve {
        netd_resolve_fn cb; /* NULL once cancelled */
        void *userdata;
        struct evdns_getaddrinfo_request *req;
        bool starting; /* inside evdns_getaddrinfo() */
        bool done;     /* the callback ran */
};

static void resolve_cb(int result, struct evutil_addrinfo *res, void *arg)
{
        struct netd_resolve *r = arg;
        netd_resolve_fn cb = r->cb;
        void *userdata = r->userdata;

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

int netd_resolve_start(struct netd_daemon *d, const char *host, int port, int family, int flags,
                       netd_resolve_fn cb, void *userdata, struct netd_resolve **ret)
{
        struct evutil_addrinfo hints = {
                .ai_flags = flags,
                .ai_family = family,
                .ai_socktype = SOCK_STREAM,
                .ai_protocol = IPPROTO_TCP,
        };
        struct evdns_base *dns = netd_daemon_dns(d);
        struct netd_resolve *r;
        char portstr[8];

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->cb = cb;
        r->userdata = userdata;
        r->starting = true;
        *ret = NULL;
        (void)snprintf(portstr, sizeof(portstr), "%d", port);
        if (dns)
                r->req = evdns_getaddrinfo(dns, host, portstr, &hints, resolve_cb, r);
        else
                resolve_cb(EVUTIL_EAI_FAIL, NULL, r);
        r->starting = false;
        if (r->done) {
                free(r);
                return 0;
        }
        if (evdns_base_count_nameservers(dns) == 0) {
                /*
                 * Not in the hosts file (those are answered at once) and no
                 * nameserver to ask: evdns would wait for one forever.
                 */
                r->cb = NULL;
                evdns_getaddrinfo_cancel(r->req);
                cb(EVUTIL_EAI_NONAME, NULL, userdata);
                return 0;
        }
        *ret = r;
        return 0;
}

void netd_resolve_cancel(struct netd_resolve *r)
{
        if (!r)
                return;
        r->cb = NULL;
        /* libevent calls back with EVUTIL_EAI_CANCEL, which frees r. */
        if (r->req)
                evdns_getaddrinfo_cancel(r->req);
}
