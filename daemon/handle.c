/*
 * The handle registry (see handle.h): a chained hash table from id to
 * handle, grown by doubling. Ids are sequential, or with --handle-ids=random
 * a keyed permutation of the sequence (registry_id()). The registry never owns a handle; the owner
 * connection's lists do, and netd_handle_free() takes a handle out of both.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "auth.h"
#include "daemon.h"
#include "handle.h"
#include "log.h"
#include "observe.h"
#include "owner.h"

static const char *const handle_type_names[_NETD_HANDLE_TYPE_MAX] = {
        [NETD_HANDLE_SERVER] = "server",
        [NETD_HANDLE_SOCKET] = "socket",
};

const char *netd_handle_type_to_string(enum netd_handle_type t)
{
        if (t < 0 || t >= _NETD_HANDLE_TYPE_MAX)
                return NULL;
        return handle_type_names[t];
}

static size_t registry_slot(const struct netd_registry *r, uint64_t id)
{
        /* Fibonacci hashing spreads the sequential ids over the table. */
        return (size_t)((id * 0x9E3779B97F4A7C15ULL) >> 32) & (r->nbuckets - 1);
}

static int registry_grow(struct netd_registry *r)
{
        size_t n = r->nbuckets ? r->nbuckets * 2 : 64;
        struct netd_handle **nb = calloc(n, sizeof(*nb));
        struct netd_registry tmp = { .buckets = nb, .nbuckets = n };

        if (!nb)
                return -ENOMEM;
        for (size_t i = 0; i < r->nbuckets; i++) {
                struct netd_handle *h = r->buckets[i], *next;

                for (; h; h = next) {
                        size_t s = registry_slot(&tmp, h->id);

                        next = h->hash_next;
                        h->hash_next = nb[s];
                        nb[s] = h;
                }
        }
        free(r->buckets);
        r->buckets = nb;
        r->nbuckets = n;
        return 0;
}

/* One round of the id permutation: 26 bits keyed by k (a 64-bit mixer, splitmix64's). */
static uint64_t id_round(uint64_t x, uint64_t k)
{
        x ^= k;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
        return (x ^ (x >> 31)) & ((1ULL << 26) - 1);
}

/*
 * The id of the n-th handle (n >= 1). Sequential by default; with
 * random_ids a four-round Feistel permutation of n - 1 over 52 bits, keyed
 * at start, plus 1: still never reused (a bijection) and below 2^53 (exact
 * in JavaScript), but an id tells nothing of how many handles others made.
 */
static uint64_t registry_id(const struct netd_registry *r, uint64_t n)
{
        uint64_t left, right, t;

        if (!r->random_ids)
                return n;
        left = ((n - 1) >> 26) & ((1ULL << 26) - 1);
        right = (n - 1) & ((1ULL << 26) - 1);
        for (int i = 0; i < 4; i++) {
                t = right;
                right = left ^ id_round(right, r->id_key[i]);
                left = t;
        }
        return ((left << 26) | right) + 1;
}

/* netd_handle_register() with a new id (id 0), or netd_handle_register_id()'s. */
static int handle_register(struct netd_handle *h, struct netd_daemon *d, struct netd_owner *owner,
                           enum netd_handle_type type, const struct netd_handle_ops *ops,
                           uint64_t id)
{
        struct netd_registry *r = &d->handles;
        size_t s;
        int ret;

        if (id != 0 && netd_handle_lookup(d, id))
                return -EEXIST;

        if (owner->n_handles >= d->limits.handles_per_conn) {
                d->stats.handles_refused++;
                return -EMFILE;
        }
        if (r->count + 1 > r->nbuckets) {
                ret = registry_grow(r);
                if (ret < 0)
                        return ret;
        }
        ret = netd_auth_handle_take(owner);
        if (ret < 0)
                return ret;
        if (id == 0) {
                /* Skips an id a restored handle holds (netd_handle_register_id()). */
                do
                        id = registry_id(r, ++r->next_id);
                while (netd_handle_lookup(d, id));
        } else if (!r->random_ids && id > r->next_id) {
                r->next_id = id; /* sequential ids go on after it: never reused */
        }
        h->id = id;
        h->type = type;
        h->ops = ops;
        h->daemon = d;
        h->owner = owner;
        s = registry_slot(r, h->id);
        h->hash_next = r->buckets[s];
        r->buckets[s] = h;
        r->count++;
        TAILQ_INSERT_TAIL(&owner->handles, h, owner_link);
        owner->n_handles++;
        d->stats.handles_created++;
        return 0;
}

int netd_handle_register(struct netd_handle *h, struct netd_daemon *d, struct netd_owner *owner,
                         enum netd_handle_type type, const struct netd_handle_ops *ops)
{
        return handle_register(h, d, owner, type, ops, 0);
}

int netd_handle_register_id(struct netd_handle *h, struct netd_daemon *d, struct netd_owner *owner,
                            enum netd_handle_type type, const struct netd_handle_ops *ops,
                            uint64_t id)
{
        return id == 0 ? -EINVAL : handle_register(h, d, owner, type, ops, id);
}

struct netd_handle *netd_handle_lookup(struct netd_daemon *d, uint64_t id)
{
        struct netd_registry *r = &d->handles;
        struct netd_handle *h;

        if (r->nbuckets == 0)
                return NULL;
        for (h = r->buckets[registry_slot(r, id)]; h; h = h->hash_next)
                if (h->id == id)
                        return h;
        return NULL;
}

static void registry_remove(struct netd_registry *r, struct netd_handle *h)
{
        struct netd_handle **p;

        if (r->nbuckets == 0)
                return;
        for (p = &r->buckets[registry_slot(r, h->id)]; *p; p = &(*p)->hash_next) {
                if (*p == h) {
                        *p = h->hash_next;
                        r->count--;
                        return;
                }
        }
}

void netd_handle_emit(struct netd_handle *h, const char *method, json_t *params)
{
        netd_observe_emit(h, method, params); /* observers get a copy, never hold it up */
        if (!h->owner) {
                json_decref(params);
                return;
        }
        if (h->announced) {
                netd_owner_notify(h->owner, method, params);
                return;
        }
        /* Hold the event until the reply that names this handle has gone out. */
        if (!h->held)
                h->held = json_array();
        if (!h->held || json_array_append_new(h->held, json_pack("{s:s,s:o}", "method", method,
                                                                 "params", params)) < 0)
                log_error("handle#%llu: Failed to hold event %s, out of memory",
                          (unsigned long long)h->id, method);
}

void netd_handle_announce(struct netd_handle *h)
{
        json_t *ev;
        size_t i;

        if (h->announced)
                return;
        h->announced = true;
        if (!h->held)
                return;
        json_array_foreach(h->held, i, ev) {
                const char *method = json_string_value(json_object_get(ev, "method"));
                json_t *params = json_incref(json_object_get(ev, "params"));

                uint64_t named = 0;

                /* A held server.connection is what first names its socket: announce it next. */
                if (strcmp(method, "server.connection") == 0)
                        named = (uint64_t)json_integer_value(json_object_get(params, "socket"));
                if (h->owner)
                        netd_owner_notify(h->owner, method, params);
                else
                        json_decref(params);
                if (named) {
                        struct netd_handle *s = netd_handle_lookup(h->daemon, named);

                        if (s && s->owner == h->owner)
                                netd_handle_announce(s);
                }
        }
        h->held = (json_decref(h->held), NULL);
}

void netd_handle_close_later(struct netd_handle *h)
{
        struct netd_daemon *d = h->daemon;

        if (h->close_pending)
                return;
        h->close_pending = true;
        TAILQ_INSERT_TAIL(&d->closing, h, close_link);
        event_active(d->ev_closing, EV_TIMEOUT, 0);
}

static void handle_cancel_close(struct netd_handle *h)
{
        if (!h->close_pending)
                return;
        TAILQ_REMOVE(&h->daemon->closing, h, close_link);
        h->close_pending = false;
}

void netd_handle_run_closes(struct netd_daemon *d)
{
        struct netd_handle *h;

        while ((h = TAILQ_FIRST(&d->closing))) {
                handle_cancel_close(h);
                h->ops->closed(h);
        }
}

void netd_handle_free(struct netd_handle *h)
{
        struct netd_owner *owner = h->owner;

        handle_cancel_close(h);
        registry_remove(&h->daemon->handles, h);
        if (owner) {
                if (h->closed) {
                        TAILQ_REMOVE(&owner->closed, h, owner_link);
                        owner->n_closed--;
                } else {
                        TAILQ_REMOVE(&owner->handles, h, owner_link);
                        owner->n_handles--;
                        netd_auth_handle_release(owner);
                }
        }
        json_decref(h->held);
        h->ops->free(h);
}

void netd_handle_finish(struct netd_handle *h)
{
        struct netd_owner *owner = h->owner;

        if (h->closed)
                return;
        if (!owner) {
                h->closed = true;
                return;
        }
        TAILQ_REMOVE(&owner->handles, h, owner_link);
        owner->n_handles--;
        netd_auth_handle_release(owner);
        h->closed = true;
        TAILQ_INSERT_TAIL(&owner->closed, h, owner_link);
        owner->n_closed++;
        while (owner->n_closed > h->daemon->limits.closed_keep) {
                struct netd_handle *old = TAILQ_FIRST(&owner->closed);

                /* Never free the handle whose close is on the stack right now. */
                if (old == h)
                        break;
                netd_handle_free(old);
        }
}

int netd_handle_reopen(struct netd_handle *h)
{
        struct netd_owner *owner = h->owner;

        if (!h->closed || !owner)
                return 0;
        if (owner->n_handles >= h->daemon->limits.handles_per_conn)
                return -EMFILE;
        if (netd_auth_handle_take(owner) < 0)
                return -EDQUOT;
        TAILQ_REMOVE(&owner->closed, h, owner_link);
        owner->n_closed--;
        h->closed = false;
        TAILQ_INSERT_TAIL(&owner->handles, h, owner_link);
        owner->n_handles++;
        return 0;
}

void netd_handle_release_all(struct netd_owner *owner)
{
        struct netd_handle *h;

        /* Abandon first, so no handle touches another one already freed. */
        TAILQ_FOREACH(h, &owner->handles, owner_link) {
                handle_cancel_close(h);
                h->ops->abandon(h);
        }
        while ((h = TAILQ_FIRST(&owner->handles)))
                netd_handle_free(h);
        while ((h = TAILQ_FIRST(&owner->closed)))
                netd_handle_free(h);
}

int netd_handle_upgrade_restore(struct netd_handle *h, struct netd_daemon *d,
                                struct netd_owner *owner, enum netd_handle_type type,
                                const struct netd_handle_ops *ops, uint64_t id, bool closed)
{
        struct netd_registry *r = &d->handles;
        size_t s;
        int ret;

        if (id == 0 || netd_handle_lookup(d, id))
                return -EEXIST;
        if (r->count + 1 > r->nbuckets) {
                ret = registry_grow(r);
                if (ret < 0)
                        return ret;
        }
        h->id = id;
        h->type = type;
        h->ops = ops;
        h->daemon = d;
        h->owner = owner;
        h->announced = true;
        s = registry_slot(r, h->id);
        h->hash_next = r->buckets[s];
        r->buckets[s] = h;
        r->count++;
        if (closed) {
                h->closed = true;
                TAILQ_INSERT_TAIL(&owner->closed, h, owner_link);
                owner->n_closed++;
        } else {
                struct netd_uid_usage *u = netd_auth_usage(d, owner->cred.uid);

                /* Counted as it was before the upgrade, whatever the quota says now. */
                if (u)
                        u->handles++;
                TAILQ_INSERT_TAIL(&owner->handles, h, owner_link);
                owner->n_handles++;
        }
        return 0;
}
