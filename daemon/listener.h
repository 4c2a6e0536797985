/*
 * The control socket: created with mode 0600 by default (a stale file from a dead
 * daemon is replaced, a live daemon's is left alone), or inherited from
 * systemd socket activation. Accepts clients up to limits.max_clients and
 * backs off instead of spinning when accept() runs out of descriptors.
 */
#pragma once

#include <sys/types.h>

struct netd_daemon;
struct netd_listener;

/*
 * Binds path (file mode mode, group group unless (gid_t)-1: --socket-mode,
 * --socket-group) and starts accepting. Returns 0; -EADDRINUSE when a live
 * daemon answers on path; -EEXIST when path exists and is not a socket;
 * other -errno from mkdir/bind/listen.
 */
int netd_listener_open(struct netd_daemon *d, const char *path, mode_t mode, gid_t group,
                       struct netd_listener **ret);

/* Accepts on fd, a listening UNIX socket netd did not create (systemd). */
int netd_listener_adopt(struct netd_daemon *d, int fd, struct netd_listener **ret);

/*
 * Upgrade (upgrade.c): accepts on fd, the control socket kept across the
 * re-exec; path (may be NULL) is the file netd created, unlinked at the end.
 */
int netd_listener_upgrade_restore(struct netd_daemon *d, int fd, const char *path,
                                  struct netd_listener **ret);

/* The listening descriptor, the file netd created (NULL: inherited), refused clients lingering. */
int netd_listener_fd(const struct netd_listener *l);
const char *netd_listener_path(const struct netd_listener *l);
unsigned netd_listener_lingering(const struct netd_listener *l);

/* Stops accepting, closes the socket and unlinks the file netd created. NULL-safe. */
struct netd_listener *netd_listener_free(struct netd_listener *l);
