/*
 * netd under systemd's service manager (sd_notify(3), without libsystemd):
 * readiness, reloading and stopping, a STATUS= line with live counts, the
 * watchdog, and the file descriptor store. Every call is a no-op outside
 * systemd (no $NOTIFY_SOCKET), so the daemon calls them unconditionally.
 *
 * The object lives in d->notify (main.c creates it, netd_daemon_free()
 * frees it). It reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID and
 * leaves them in the environment: an in-place upgrade re-executes netd in
 * the same pid, and the new image must find them again.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netd_daemon;
struct netd_notify;

/* How often STATUS= is rebuilt; it is sent only when it changed. */
#define NETD_NOTIFY_STATUS_INTERVAL_MS 2000

/* FDNAME= allows this many characters (systemd's fdname_is_valid()). */
#define NETD_FDNAME_MAX 255

/*
 * Reads the environment and, under systemd, opens the datagram socket and
 * arms the watchdog timer (WATCHDOG=1 every WATCHDOG_USEC / 2 when
 * WATCHDOG_USEC is set and WATCHDOG_PID is unset or netd's pid) and the
 * status timer on d->base. Returns 0 (also outside systemd: an inert
 * object) or -ENOMEM / -errno of socket().
 */
int netd_notify_new(struct netd_daemon *d, struct netd_notify **ret);

/* Stops the timers and closes the socket. NULL-safe; returns NULL. */
struct netd_notify *netd_notify_free(struct netd_notify *n);

/* True when $NOTIFY_SOCKET names a socket to tell systemd things. */
bool netd_notify_enabled(const struct netd_notify *n);

/* The watchdog interval systemd asked for in microseconds, 0 when none (or not for us). */
uint64_t netd_notify_watchdog_usec(const struct netd_notify *n);

/*
 * Sends one datagram "state" (newline-separated VAR=VALUE assignments) to
 * $NOTIFY_SOCKET with fd attached (SCM_RIGHTS) unless fd < 0. With wait,
 * blocks up to a second if systemd's queue is full (readiness, stop, fd
 * store: they must arrive); without, gives up at once (periodic messages:
 * the next one replaces it). Returns 1 sent, 0 outside systemd, or -errno.
 */
int netd_notify_send(struct netd_notify *n, const char *state, int fd, bool wait);

/*
 * READY=1 with a fresh STATUS=: at start, and again after a re-exec or a
 * failed upgrade (the upgrade's second half; netd_notify_reloading() is
 * its first). NULL-safe: d->notify may be NULL.
 */
void netd_notify_ready(struct netd_daemon *d);

/*
 * RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC now, as systemd ≥ 253
 * wants it for Type=notify-reload; older versions ignore it) and
 * STATUS=Upgrading (and WATCHDOG=1 under a watchdog: the new image pings
 * again only once it runs): sent just before the in-place upgrade
 * re-executes netd. systemd then waits for READY=1 from the same pid. The
 * new image pings the watchdog as soon as netd_notify_new() runs.
 */
void netd_notify_reloading(struct netd_daemon *d);

/* STOPPING=1 with a STATUS= of what is left to flush: at SIGTERM/SIGINT. */
void netd_notify_stopping(struct netd_daemon *d);

/* Rebuilds STATUS= and sends it if it changed since the last one (the timer calls this). */
void netd_notify_status_refresh(struct netd_daemon *d);

/*
 * The status line for d into buf: "3 clients, 2 servers, 10 sockets,
 * 1 session; 1.5 MiB in, 2.0 MiB out" (counts of live objects, the
 * daemon's byte totals). Returns buf.
 */
const char *netd_notify_status_text(struct netd_daemon *d, char *buf, size_t size);

/* True when name is a valid FDNAME=: 1 to 255 printable ASCII characters, no ':'. */
bool netd_notify_fdname_is_valid(const char *name);

/*
 * Gives systemd a duplicate of fd to keep under name (FDSTORE=1, FDNAME=;
 * the unit needs FileDescriptorStoreMax=). It comes back after a restart
 * in $LISTEN_FDS with that name in $LISTEN_FDNAMES. Returns 1 stored (as
 * far as netd can tell: systemd answers nothing), 0 outside systemd,
 * -EINVAL for a bad name, or -errno of sendmsg().
 */
int netd_notify_fdstore_add(struct netd_daemon *d, int fd, const char *name);

/* Makes systemd drop (and close) every fd it keeps under name (FDSTOREREMOVE=1). Same returns. */
int netd_notify_fdstore_remove(struct netd_daemon *d, const char *name);

/* ---- Detached sessions' listening sockets in the fd store -------------------------------- */

/*
 * FDNAME= of a detached session's listening socket:
 *   netd-session.1.<uid>.<lingerMs>.<handle id>.<flags hex>.<sha256(token) hex>
 * The token itself never goes to systemd (FDNAMEs show in the service's
 * environment after a restart and in systemd's state): only its SHA-256,
 * which is one-way, and for a token of 128 random bits no table or search
 * finds the token back. The uid keeps "same uid only" after a restart;
 * lingerMs is how long the restarted netd keeps the server for an attach;
 * flags are the server's options (NETD_FDSTORE_OPT_*). "1" is the format's
 * version: a netd that does not know it leaves the descriptor alone.
 */
#define NETD_FDSTORE_SESSION_PREFIX "netd-session."

#define NETD_FDSTORE_OPT_ALLOW_HALF_OPEN  (1u << 0)
#define NETD_FDSTORE_OPT_PAUSE_ON_CONNECT (1u << 1)
#define NETD_FDSTORE_OPT_NO_DELAY         (1u << 2)
#define NETD_FDSTORE_OPT_KEEP_ALIVE       (1u << 3)

struct netd_fdstore_name {
        uint32_t uid;
        uint32_t linger_ms;
        uint64_t handle;         /* the server's id */
        unsigned flags;          /* NETD_FDSTORE_OPT_* */
        char token_hash[64 + 1]; /* lowercase hex SHA-256 of the token's text */
};

/* The SHA-256 of token (its text, as netd.detach returned it) in hex. */
void netd_fdstore_token_hash(const char *token, char hex[64 + 1]);

/* Writes n's FDNAME into buf (at least NETD_FDNAME_MAX + 1 bytes). Returns 0 or -ENAMETOOLONG. */
int netd_fdstore_name_format(const struct netd_fdstore_name *n, char *buf, size_t size);

/* Parses a name netd_fdstore_name_format() wrote. Returns 0, or -EINVAL for anything else. */
int netd_fdstore_name_parse(const char *name, struct netd_fdstore_name *ret);

/*
 * At start: keeps fd, given back by systemd under a session name, for the
 * sessions to take (netd_notify_take_stored()); they are not inherited
 * sockets a client may take by name. Returns 0 or -ENOMEM (fd closed).
 */
int netd_notify_keep_stored(struct netd_notify *n, const char *name, int fd);

/*
 * The i-th descriptor kept at start, or -1 (past the end, or already
 * taken); *ret_name is its FDNAME (borrowed from n). The fd becomes the
 * caller's.
 */
int netd_notify_take_stored(struct netd_notify *n, size_t i, const char **ret_name);

/* How many descriptors were kept at start (taken or not). */
size_t netd_notify_n_stored(const struct netd_notify *n);
