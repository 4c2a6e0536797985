/*
 * Asynchronous host name resolution over evdns, with cancellation that is
 * safe at any point: after netd_resolve_cancel() the callback never runs,
 * and the context lives on privately until libevent is done with it.
 */
#pragma once

#include <stdint.h>

struct evutil_addrinfo;
struct netd_daemon;
struct netd_resolve;

/*
 * Called once with 0 and the addresses (owned by the callee: free them with
 * evutil_freeaddrinfo()), or with an EVUTIL_EAI_* error and NULL.
 */
typedef void (*netd_resolve_fn)(int result, struct evutil_addrinfo *res, void *userdata);

/*
 * Resolves host for TCP port, limited to family (AF_UNSPEC for any), with
 * EVUTIL_AI_* flags (Node's dns hints), for the control connection whose id
 * is owner (fairness: limits.lookups_per_conn, lookups_max; the rest wait,
 * served round robin). The callback may run before this returns; then *ret
 * is NULL. Otherwise *ret names the lookup for netd_resolve_cancel().
 * Returns 0 or -ENOMEM.
 */
int netd_resolve_start(struct netd_daemon *d, uint64_t owner, const char *host, int port,
                       int family, int flags, netd_resolve_fn cb, void *userdata,
                       struct netd_resolve **ret);

/* Cancels r (NULL-safe); its callback will not run. */
void netd_resolve_cancel(struct netd_resolve *r);

/* Frees the lookups still waiting for a slot; before evdns_base_free(). */
void netd_resolver_free(struct netd_daemon *d);

/* Lookups waiting or running (the upgrade waits for none). */
unsigned netd_resolver_busy(const struct netd_daemon *d);
