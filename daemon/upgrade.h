/*
 * In-place upgrade: SIGUSR2 or netd.upgrade re-executes netd's binary in
 * the same process. The state (control socket, connections with their
 * partial input and pending output, handles with their queues, pending
 * write completions, ids, counters) is written to a memfd in the format
 * proto/UPGRADE.md describes; the new binary is first run with
 * --upgrade-check=FD to validate it, then the kept descriptors lose
 * FD_CLOEXEC and the binary is exec'd with NETD_UPGRADE_FD naming the memfd.
 * Anything short of a clean exec leaves the old process serving, logged.
 */
#pragma once

#include <signal.h>

#include <stddef.h>
#include <stdint.h>

struct netd_daemon;
struct netd_req;

/* The state format this build writes and reads (proto/UPGRADE.md). */
#define NETD_UPGRADE_FORMAT 1

/* The environment variable naming the state's descriptor in the new process. */
#define NETD_UPGRADE_ENV "NETD_UPGRADE_FD"

/* The build's identity: its version string and state format (a test build changes them). */
extern const char *netd_build_version;
extern uint32_t netd_build_upgrade_format;

/*
 * The signals an upgrade blocks around its exec (their default action would
 * kill the new image before it has handlers); the new image unblocks them
 * once it serves, and those that came meanwhile are handled then.
 */
void netd_upgrade_sigset(sigset_t *set);

/*
 * Remembers what to exec: the path of /proc/self/exe resolved now (a file
 * renamed over that path later is what runs) and argv. Returns 0 or -errno.
 */
int netd_upgrade_setup(int argc, char *argv[]);

/*
 * Starts an upgrade (SIGUSR2: req NULL; netd.upgrade: req, answered by the
 * new process with {"version","previous"}, or here with the reason it was
 * refused). It waits, up to NETD_UPGRADE_SETTLE_MS, for a moment with no
 * state the format does not carry (lookups in flight, closes due, batches).
 */
void netd_upgrade_begin(struct netd_daemon *d, struct netd_req *req);

#define NETD_UPGRADE_SETTLE_MS 2000
#define NETD_UPGRADE_CHECK_MS  5000

/* Frees the upgrade in progress (daemon exit). */
void netd_upgrade_free(struct netd_daemon *d);

/*
 * --upgrade-check=FD: reads and validates the whole state in fd without
 * touching a descriptor it names. Returns 0, or -errno with err set.
 */
int netd_upgrade_check_fd(int fd, char *err, size_t errlen);

/*
 * In the new process: restores the state in fd into d (which has no
 * listener yet) and closes fd. Returns 0, or -errno with err set.
 */
int netd_upgrade_restore(struct netd_daemon *d, int fd, char *err, size_t errlen);
