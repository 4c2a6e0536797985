/*
 * Detached sessions' listening sockets in systemd's fd store (README,
 * "Under systemd"; the wire of it is in notify.h). Every listening server
 * of a session, carried by its connection or lingering, is given to
 * systemd under a name that says whose it is (uid, a SHA-256 of the
 * session's token, the server's id and options); it is taken back when the
 * server stops listening or the session ends. After a crash, systemd
 * starts netd again with those sockets, and netd_fdstore_restore() makes
 * each a listening server again, with its id, in a lingering session that
 * netd.attach with the same token finds.
 *
 * The state lives in d->fdstore (the table of what is stored), created by
 * netd_fdstore_new(), which also installs d->session_hooks.
 */
#pragma once

#include <stddef.h>

struct netd_daemon;
struct netd_fdstore;
struct netd_server;

/* Descriptors netd keeps in the store at most: the units' FileDescriptorStoreMax=. */
#define NETD_FDSTORE_MAX_DEFAULT 1024

/*
 * Sets up the table and the session hooks. The cap is $FDSTORE when systemd
 * sets it (≥ 254), else NETD_FDSTORE_MAX_DEFAULT. Outside systemd nothing
 * is stored. Returns 0 or -ENOMEM.
 */
int netd_fdstore_new(struct netd_daemon *d);

/* Frees the table (removes nothing from systemd's store). NULL-safe. */
void netd_fdstore_free(struct netd_daemon *d);

/*
 * Rebuilds the servers systemd gave back at start (notify.h's
 * netd_notify_take_stored()): each in the lingering session of its token
 * hash and uid (made on first use, lingering lingerMs from now), under its
 * old id. A descriptor that can't be used is closed, removed from the
 * store and logged. Returns the number of servers rebuilt.
 */
unsigned netd_fdstore_restore(struct netd_daemon *d);

/*
 * A server that carries a session's handles started or stopped listening
 * (server.c): stores or removes it. Lingering sessions' servers come
 * through the session hooks instead.
 */
void netd_fdstore_server_changed(struct netd_server *s);

/*
 * Brings the table in line with every session's listening servers (at start,
 * after an in-place upgrade rebuilt the sessions: systemd still holds what
 * the previous image stored, and storing the same socket again is a no-op
 * for it). Returns the number of servers in the table.
 */
size_t netd_fdstore_resync(struct netd_daemon *d);

/* Descriptors in the store now (as netd counts them). */
size_t netd_fdstore_count(const struct netd_daemon *d);
