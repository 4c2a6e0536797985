/*
 * Observers (netd.subscribe): a control connection that follows the events
 * of handles it does not own, without taking them over. Observing costs the
 * observed client nothing: an observer's copy is dropped (and counted) when
 * the observer's own output is backed up, never held, and the owner's events
 * and flow control are untouched. The missed count reaches the observer as a
 * netd.missed notification before its next event.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct netd_owner;
struct netd_daemon;
struct netd_handle;

/* Most subscriptions one connection may hold. */
#define NETD_OBSERVE_MAX_PER_CONN 16

/*
 * Who may see a handle: its owner's uid, or root. True if the connection c
 * (its peer credentials) may list and observe h.
 */
bool netd_observe_allowed(const struct netd_owner *c, const struct netd_handle *h);

/*
 * Adds a subscription for c. filter (borrowed) holds the optional members
 * "handles" (array of ids), "kinds" (array of "server"/"socket") and
 * "events" (array of event names). Returns the subscription id (> 0),
 * -EINVAL with *ret_field naming the bad member, -EPERM if a named handle
 * belongs to another user, -ENOENT if a named handle does not exist,
 * -EMFILE over NETD_OBSERVE_MAX_PER_CONN, or -ENOMEM.
 */
int64_t netd_observe_add(struct netd_owner *c, json_t *filter, const char **ret_field);

/*
 * Removes c's subscription id. Returns the events it missed and never got
 * a netd.missed for (>= 0), or -ENOENT.
 */
int64_t netd_observe_remove(struct netd_owner *c, uint64_t id);

/*
 * Hands the event method/params (borrowed) of h to every matching observer
 * as netd.event {"subscription","handle","kind","owner","event","params"}.
 * Called where handle events are emitted (netd_handle_emit).
 */
void netd_observe_emit(struct netd_handle *h, const char *method, json_t *params);

/* The same for len bytes of socket data sent on the fast path (base64 for observers). */
void netd_observe_data(struct netd_handle *h, const uint8_t *buf, size_t len);

/* Frees every subscription of daemon d (which is being freed). */
void netd_observe_release(struct netd_daemon *d);

/* True while any connection has a subscription (the upgrade does not carry them yet). */
bool netd_observe_active(const struct netd_daemon *d);

/* Upgrade (upgrade.c): the subscriptions as JSON (an empty array when there are none). */
json_t *netd_observe_upgrade_save(const struct netd_daemon *d);

/*
 * Upgrade: validates state (d NULL) or restores the subscriptions from it,
 * with their ids, connections, filters and missed counts. 0, -EINVAL (err
 * set) or -ENOMEM.
 */
int netd_observe_upgrade_restore(struct netd_daemon *d, const json_t *state, char *err,
                                 size_t errlen);
