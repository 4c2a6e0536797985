/*
 * Access control: who a client is (the kernel's peer credentials, taken at
 * accept) and what it may do through netd. The default policy is "what the
 * user could do without netd": privileged ports need root or a grant, UNIX
 * paths are bound and connected with the client's filesystem rights
 * (setfsuid/setfsgid/setgroups around the call; netd is single-threaded),
 * relative paths resolve against the client's working directory through
 * its pidfd (SO_PEERPIDFD). The policy file (config.h) grants more and sets quotas.
 * Refusals are ERR_NETD_PERMISSION errors naming the rule, and are logged.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>

#include "config.h"

struct netd_owner;
struct netd_daemon;

/* A client's identity, from SO_PEERCRED, SO_PEERGROUPS and SO_PEERPIDFD at accept. */
struct netd_cred {
        uid_t uid; /* (uid_t)-1 when unknown: treated as nobody special */
        gid_t gid;
        pid_t pid;     /* for logs only: never used to find the process */
        int pidfd;     /* owned: before Linux 6.5 only (no SO_PEERPIDFD): the process */
        gid_t *groups; /* owned: supplementary groups */
        size_t n_groups;
};

/* Reads the peer credentials of the connected socket fd. Returns 0 or -errno. */
int netd_cred_read(int fd, struct netd_cred *ret);

/* Frees what netd_cred_read() allocated. */
void netd_cred_done(struct netd_cred *c);

/* True when g is the primary or a supplementary group of c. */
bool netd_cred_has_group(const struct netd_cred *c, gid_t g);

/* Root, or a member of the policy's adminGroup: sees all, uses reserved slots. */
bool netd_auth_is_admin(const struct netd_daemon *d, const struct netd_cred *c);

/*
 * The quota q for c: the policy's value or the --limit default. Root and
 * netd's own uid have no handle or lookup quota and the --limit client quota.
 */
unsigned netd_auth_quota(const struct netd_daemon *d, const struct netd_cred *c, enum netd_quota q);

/* net.ipv4.ip_unprivileged_port_start, read now (1024 when it can't be read). */
unsigned netd_auth_unprivileged_port_start(void);

/*
 * May c bind sa (AF_INET/AF_INET6)? listen true: server.listen (the policy's
 * listen allow list applies), false: a connect's localAddress/localPort.
 * Returns 0, or -EACCES with *ret_err an ERR_NETD_PERMISSION error object
 * (logged). Other families: 0.
 */
int netd_auth_check_bind(struct netd_owner *c, const struct sockaddr *sa, bool listen,
                         json_t **ret_err);

/* May c connect to sa? As netd_auth_check_bind(), with the policy's connect allow list. */
int netd_auth_check_connect(struct netd_owner *c, const struct sockaddr *sa, json_t **ret_err);

/* May c take the socket systemd passed under name? */
int netd_auth_check_inherit(struct netd_owner *c, const char *name, json_t **ret_err);

/*
 * Builds an ERR_NETD_PERMISSION error object {"message", "code", "rule"}
 * (plus "syscall" when given) and logs who, what and why.
 */
json_t *netd_auth_deny(struct netd_owner *c, const char *rule, const char *syscall, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));

/* Saved filesystem credentials, between netd_auth_fs_enter() and _leave(). */
struct netd_fs_creds {
        bool switched;
        bool granted; /* a unix grant: the client also has netd's group for the call */
        uid_t fsuid;
        gid_t fsgid;
        gid_t *groups; /* owned: netd's own supplementary groups */
        int n_groups;
};

/*
 * Takes on c's filesystem rights for work on path (absolute, as resolved):
 * fsuid, fsgid and supplementary groups become the client's; for a path the
 * policy grants (unix = prefix) netd's own group is added to them. Nothing
 * changes for an abstract name or a client with netd's own uid. Returns 0,
 * or -EPERM with *ret_err set (netd lacks CAP_SETUID/CAP_SETGID to act as
 * another user: refused).
 * Always pair with netd_auth_fs_leave().
 */
int netd_auth_fs_enter(struct netd_owner *c, const char *path, size_t path_len,
                       struct netd_fs_creds *saved, json_t **ret_err);

/* Restores netd's own filesystem credentials. Aborts if that fails (never runs as a client). */
void netd_auth_fs_leave(struct netd_fs_creds *saved);

/*
 * Opens c's current working directory (O_PATH) through its pidfd: the
 * directory is the connecting process's, checked alive after the open, so
 * a recycled pid is never used. Returns the fd, -ESRCH when that process is
 * gone, -ENOTSUP when no pidfd can be had.
 */
int netd_auth_open_cwd(const struct netd_owner *c);

/* Per-uid usage, for the quotas. Entries live as long as the daemon. */
struct netd_uid_usage {
        uid_t uid;
        unsigned handles;    /* live servers and sockets */
        size_t queued_bytes; /* unsent bytes of its sockets (flow.c writes it) */
};

/* The entry for uid, or NULL when it has none yet. */
const struct netd_uid_usage *netd_auth_usage_find(const struct netd_daemon *d, uid_t uid);

/* The entry for uid, created on first use; NULL when out of memory. */
struct netd_uid_usage *netd_auth_usage(struct netd_daemon *d, uid_t uid);

/*
 * Accounts for one more live handle of c's uid: 0, or -EDQUOT over its
 * handlesPerUid quota (counted in stats.handles_over_uid).
 */
int netd_auth_handle_take(struct netd_owner *c);

/* Accounts for a live handle of c's uid closing or going away. */
void netd_auth_handle_release(struct netd_owner *c);
