/*
 * Access control (see auth.h): peer credentials, the default policy, the
 * policy file's grants and quotas, and the filesystem credential switch.
 * It owns no long-lived state but the per-uid usage table (in the daemon).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>

#include "addr.h"
#include "auth.h"
#include "daemon.h"
#include "log.h"
#include "owner.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; Debian 12's headers predate it */
#endif

#define AUTH_GROUPS_MAX 65536

/* Does the kernel have SO_PEERPIDFD? Learnt at the first accept. */
static bool auth_peer_pidfd_known, auth_peer_pidfd;

int netd_cred_read(int fd, struct netd_cred *ret)
{
        struct ucred uc;
        socklen_t len = sizeof(uc);
        struct netd_cred c = { .uid = (uid_t)-1, .gid = (gid_t)-1, .pid = -1, .pidfd = -1 };
        int pidfd = -1;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        c.uid = uc.uid;
        c.gid = uc.gid;
        c.pid = uc.pid;
        /* The groups: ask with a small buffer, then with the size the kernel says. */
        len = 16 * sizeof(gid_t);
        for (int tries = 0; tries < 2; tries++) {
                gid_t *g = malloc(len ? len : sizeof(gid_t));

                if (!g)
                        return -ENOMEM;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
                        c.groups = g;
                        c.n_groups = len / sizeof(gid_t);
                        break;
                }
                free(g);
                if (errno != ERANGE || len > AUTH_GROUPS_MAX * sizeof(gid_t))
                        break; /* no groups known: the primary group only */
        }
        /*
         * The process, for its working directory later: the kernel keeps
         * the peer's struct pid with the socket, so SO_PEERPIDFD (Linux
         * 6.5) is asked at request time and no descriptor is held. Older
         * kernels: a pidfd opened now and held (the pid could only have
         * been recycled between the client's connect() and this accept).
         */
        if (!auth_peer_pidfd_known) {
                len = sizeof(pidfd);
                auth_peer_pidfd = getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 ||
                                  errno != ENOPROTOOPT;
                auth_peer_pidfd_known = true;
                if (pidfd >= 0)
                        close(pidfd);
        }
        if (!auth_peer_pidfd && c.pid > 0)
                c.pidfd = pidfd_open(c.pid, 0);
        *ret = c;
        return 0;
}

void netd_cred_done(struct netd_cred *c)
{
        if (c->pidfd >= 0)
                close(c->pidfd);
        c->pidfd = -1;
        free(c->groups);
        c->groups = NULL;
        c->n_groups = 0;
}

bool netd_cred_has_group(const struct netd_cred *c, gid_t g)
{
        if (c->gid == g)
                return true;
        for (size_t i = 0; i < c->n_groups; i++)
                if (c->groups[i] == g)
                        return true;
        return false;
}

bool netd_auth_is_admin(const struct netd_daemon *d, const struct netd_cred *c)
{
        /* Root, and netd's own user (who could stop it anyway). */
        if (c->uid == 0 || c->uid == geteuid())
                return true;
        return d->policy && d->policy->has_admin_group &&
               netd_cred_has_group(c, d->policy->admin_gid);
}

/* Does section s apply to c? */
static bool section_applies(const struct netd_policy_section *s, const struct netd_cred *c)
{
        switch (s->kind) {
        case NETD_SECTION_DEFAULT:
                return true;
        case NETD_SECTION_USER:
                return c->uid == (uid_t)s->id;
        case NETD_SECTION_GROUP:
                return netd_cred_has_group(c, (gid_t)s->id);
        default:
                return false;
        }
}

unsigned netd_auth_quota(const struct netd_daemon *d, const struct netd_cred *c, enum netd_quota q)
{
        const struct netd_policy *p = d->policy;
        int64_t user = -1, group = -1, dflt = -1, v;

        if (c->uid == 0 || c->uid == geteuid())
                return q == NETD_QUOTA_CLIENTS ? d->limits.max_clients_per_uid : UINT32_MAX;
        for (size_t i = 0; p && i < p->n_sections; i++) {
                const struct netd_policy_section *s = &p->sections[i];
                int64_t set = s->quota[q];

                if (set < 0 || !section_applies(s, c))
                        continue;
                if (s->kind == NETD_SECTION_USER)
                        user = set;
                else if (s->kind == NETD_SECTION_GROUP)
                        group = set > group ? set : group;
                else
                        dflt = set;
        }
        v = user >= 0 ? user : group >= 0 ? group : dflt;
        if (q == NETD_QUOTA_HANDLES) {
                /*
                 * Every live handle may hold a descriptor: no one user may
                 * take more than a quarter of what netd has, whatever the
                 * settings (a shell's RLIMIT_NOFILE is often 1024).
                 */
                unsigned cap = d->fds_max ? d->fds_max / 4 : UINT32_MAX;
                unsigned want = v >= 0 ? (unsigned)v : d->limits.handles_per_uid;

                return want < cap ? want : cap;
        }
        if (v >= 0)
                return (unsigned)v;
        switch (q) {
        case NETD_QUOTA_CLIENTS:
                return d->limits.max_clients_per_uid;
        case NETD_QUOTA_LOOKUPS:
                return d->limits.lookups_per_uid;
        default:
                return d->limits.buffered_per_uid;
        }
}

unsigned netd_auth_unprivileged_port_start(void)
{
        char buf[32];
        ssize_t n;
        int fd = open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_RDONLY | O_CLOEXEC);
        unsigned v = 1024;

        if (fd < 0)
                return v;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n > 0) {
                buf[n] = '\0';
                if (sscanf(buf, "%u", &v) != 1)
                        v = 1024;
        }
        return v;
}

json_t *netd_auth_deny(struct netd_owner *c, const char *rule, const char *syscall, const char *fmt,
                       ...)
{
        char msg[400];
        va_list ap;
        json_t *err;

        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_notice("conn#%llu uid=%u gid=%u pid=%d: Permission denied: %s (rule %s)",
                   (unsigned long long)c->id, (unsigned)c->cred.uid, (unsigned)c->cred.gid,
                   (int)c->cred.pid, msg, rule);
        c->daemon->stats.perm_denied++;
        err = json_pack("{s:s,s:s,s:s}", "message", msg, "code", "ERR_NETD_PERMISSION", "rule",
                        rule);
        if (err && syscall)
                (void)json_object_set_new(err, "syscall", json_string(syscall));
        return err;
}

/* The address of sa as text for messages: "127.0.0.1:80", "[::1]:80". */
static void sa_text(const struct sockaddr *sa, char *buf, size_t len)
{
        struct netd_addr a;

        if (netd_addr_from_sockaddr(sa, &a) < 0) {
                (void)snprintf(buf, len, "?");
                return;
        }
        (void)snprintf(buf, len, a.family == 6 ? "[%s]:%d" : "%s:%d", a.address, a.port);
}

static int sa_port(const struct sockaddr *sa)
{
        if (sa->sa_family == AF_INET)
                return ntohs(((const struct sockaddr_in *)sa)->sin_port);
        if (sa->sa_family == AF_INET6)
                return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
        return -1;
}

/* Does a listen (listen true) or connect rule of a section that applies to c match sa? */
static bool policy_grants(const struct netd_policy *p, const struct netd_cred *c,
                          const struct sockaddr *sa, bool listen)
{
        for (size_t i = 0; p && i < p->n_sections; i++) {
                const struct netd_policy_section *s = &p->sections[i];
                const struct netd_net_rule *rules = listen ? s->listen : s->connect;
                size_t n = listen ? s->n_listen : s->n_connect;

                if (!section_applies(s, c))
                        continue;
                for (size_t j = 0; j < n; j++)
                        if (netd_net_rule_match(&rules[j], sa))
                                return true;
        }
        return false;
}

int netd_auth_check_bind(struct netd_owner *c, const struct sockaddr *sa, bool listen,
                         json_t **ret_err)
{
        const struct netd_policy *p = c->daemon->policy;
        int port = sa_port(sa);
        unsigned start;
        char text[80];

        if (port < 0 || c->cred.uid == 0)
                return 0;
        if (policy_grants(p, &c->cred, sa, true))
                return 0;
        start = netd_auth_unprivileged_port_start();
        sa_text(sa, text, sizeof(text));
        if (port > 0 && (unsigned)port < start) {
                *ret_err = netd_auth_deny(c, "privilegedPort", listen ? "listen" : "bind",
                                          "%s %s: ports below %u need root or a listen grant "
                                          "in the policy",
                                          listen ? "listen" : "bind", text, start);
                return -EACCES;
        }
        if (listen && p && p->listen_restricted) {
                *ret_err = netd_auth_deny(c, "listen", "listen",
                                          "listen %s: not among the policy's listen grants", text);
                return -EACCES;
        }
        return 0;
}

int netd_auth_check_connect(struct netd_owner *c, const struct sockaddr *sa, json_t **ret_err)
{
        const struct netd_policy *p = c->daemon->policy;
        char text[80];

        if (sa_port(sa) < 0 || c->cred.uid == 0 || !p || !p->connect_restricted)
                return 0;
        if (policy_grants(p, &c->cred, sa, false))
                return 0;
        sa_text(sa, text, sizeof(text));
        *ret_err = netd_auth_deny(c, "connect", "connect",
                                  "connect %s: not among the policy's connect grants", text);
        return -EACCES;
}

int netd_auth_check_inherit(struct netd_owner *c, const char *name, json_t **ret_err)
{
        const struct netd_policy *p = c->daemon->policy;

        if (netd_auth_is_admin(c->daemon, &c->cred))
                return 0;
        for (size_t i = 0; p && i < p->n_sections; i++) {
                const struct netd_policy_section *s = &p->sections[i];

                if (!section_applies(s, &c->cred))
                        continue;
                for (size_t j = 0; j < s->n_inherit; j++)
                        if (strcmp(s->inherit[j], name) == 0)
                                return 0;
        }
        *ret_err = netd_auth_deny(c, "inherit", "listen",
                                  "listen: the inherited socket \"%s\" needs root, adminGroup "
                                  "or an inherit grant in the policy",
                                  name);
        return -EACCES;
}

/* Is path under one of the unix grants that apply to c? */
static bool unix_granted(const struct netd_policy *p, const struct netd_cred *c, const char *path)
{
        if (strstr(path, "/../") || strstr(path, "/./"))
                return false;
        for (size_t i = 0; p && i < p->n_sections; i++) {
                const struct netd_policy_section *s = &p->sections[i];

                if (!section_applies(s, c))
                        continue;
                for (size_t j = 0; j < s->n_unix; j++) {
                        const char *pre = s->unix_prefixes[j];
                        size_t n = strlen(pre);

                        if (pre[n - 1] == '/' ? strncmp(path, pre, n) == 0 && !strchr(path + n, '/')
                                              : strcmp(path, pre) == 0)
                                return true;
                }
        }
        return false;
}

int netd_auth_fs_enter(struct netd_owner *c, const char *path, size_t path_len,
                       struct netd_fs_creds *saved, json_t **ret_err)
{
        const struct netd_cred *cr = &c->cred;
        gid_t *groups = cr->groups, *lent = NULL;
        size_t n_groups = cr->n_groups;
        int n;

        *saved = (struct netd_fs_creds){ .switched = false };
        if (path_len == 0 || path[0] == '\0' || cr->uid == geteuid())
                return 0;
        if (unix_granted(c->daemon->policy, cr, path)) {
                /* A grant lends the client netd's own group for this one call. */
                saved->granted = true;
                lent = malloc((n_groups + 1) * sizeof(gid_t));
                if (!lent)
                        goto refuse;
                if (n_groups)
                        memcpy(lent, groups, n_groups * sizeof(gid_t));
                lent[n_groups++] = getegid();
                groups = lent;
        }
        n = getgroups(0, NULL);
        if (n < 0)
                n = 0;
        saved->groups = calloc((size_t)n + 1, sizeof(gid_t));
        if (!saved->groups)
                goto refuse;
        saved->n_groups = getgroups(n, saved->groups);
        if (saved->n_groups < 0)
                saved->n_groups = 0;
        saved->fsuid = (uid_t)setfsuid((uid_t)-1);
        saved->fsgid = (gid_t)setfsgid((gid_t)-1);
        if (setgroups(n_groups, groups) < 0)
                goto refuse;
        free(lent);
        lent = NULL;
        saved->switched = true;
        (void)setfsgid(cr->gid);
        (void)setfsuid(cr->uid);
        /* setfs*() report the old value whatever happens: read back to see that it took. */
        if ((gid_t)setfsgid((gid_t)-1) != cr->gid || (uid_t)setfsuid((uid_t)-1) != cr->uid) {
                netd_auth_fs_leave(saved);
                goto refuse_nofree;
        }
        return 0;
refuse:
        free(lent);
        free(saved->groups);
        saved->groups = NULL;
refuse_nofree:
        *ret_err = netd_auth_deny(c, "fsCredentials", NULL,
                                  "netd cannot take on uid %u's filesystem rights (it lacks "
                                  "CAP_SETUID/CAP_SETGID), so it does no filesystem work for "
                                  "other users",
                                  (unsigned)cr->uid);
        return -EPERM;
}

void netd_auth_fs_leave(struct netd_fs_creds *saved)
{
        if (saved->switched) {
                (void)setfsuid(saved->fsuid);
                (void)setfsgid(saved->fsgid);
                if ((uid_t)setfsuid((uid_t)-1) != saved->fsuid ||
                    (gid_t)setfsgid((gid_t)-1) != saved->fsgid ||
                    setgroups((size_t)saved->n_groups, saved->groups) < 0) {
                        log_error("Failed to restore netd's own filesystem credentials, exiting");
                        abort();
                }
        }
        free(saved->groups);
        *saved = (struct netd_fs_creds){ .switched = false };
}

int netd_auth_open_cwd(const struct netd_owner *c)
{
        socklen_t len = sizeof(int);
        int pidfd = c->cred.pidfd, fd, r = 0, err;
        uid_t saved_fsuid;
        gid_t saved_fsgid;
        char link[64];

        if (c->cred.pid <= 0)
                return -ENOTSUP;
        if (pidfd < 0 && c->fd >= 0 &&
            getsockopt(c->fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
                return errno == ENOPROTOOPT ? -ENOTSUP : -ESRCH;
        if (pidfd < 0)
                return -ENOTSUP;
        (void)snprintf(link, sizeof(link), "/proc/%d/cwd", (int)c->cred.pid);
        /*
         * As the client (fsuid): reading another uid's /proc/PID/cwd as root
         * would need CAP_SYS_PTRACE; as the same uid it needs nothing.
         */
        saved_fsuid = (uid_t)setfsuid(c->cred.uid);
        saved_fsgid = (gid_t)setfsgid(c->cred.gid);
        fd = open(link, O_PATH | O_DIRECTORY | O_CLOEXEC);
        err = errno;
        (void)setfsgid(saved_fsgid);
        (void)setfsuid(saved_fsuid);
        if (fd < 0)
                r = err == ENOENT ? -ESRCH : -err;
        /*
         * Not exited now (a pidfd polls readable once its process exits),
         * so the pid named that same process when the open ran.
         */
        else if (poll(&(struct pollfd){ .fd = pidfd, .events = POLLIN }, 1, 0) != 0)
                r = -ESRCH;
        if (pidfd != c->cred.pidfd)
                close(pidfd);
        if (r < 0) {
                if (fd >= 0)
                        close(fd);
                return r;
        }
        return fd;
}

const struct netd_uid_usage *netd_auth_usage_find(const struct netd_daemon *d, uid_t uid)
{
        for (size_t i = 0; i < d->n_uids; i++)
                if (d->uids[i].uid == uid)
                        return &d->uids[i];
        return NULL;
}

struct netd_uid_usage *netd_auth_usage(struct netd_daemon *d, uid_t uid)
{
        const struct netd_uid_usage *found = netd_auth_usage_find(d, uid);
        struct netd_uid_usage *grown;

        if (found)
                return &d->uids[found - d->uids];
        grown = realloc(d->uids, (d->n_uids + 1) * sizeof(*grown));
        if (!grown)
                return NULL;
        d->uids = grown;
        d->uids[d->n_uids] = (struct netd_uid_usage){ .uid = uid };
        return &d->uids[d->n_uids++];
}

int netd_auth_handle_take(struct netd_owner *c)
{
        struct netd_uid_usage *u = netd_auth_usage(c->daemon, c->cred.uid);
        unsigned quota = netd_auth_quota(c->daemon, &c->cred, NETD_QUOTA_HANDLES);

        if (!u)
                return -ENOMEM;
        if (u->handles >= quota) {
                c->daemon->stats.handles_over_uid++;
                log_notice("conn#%llu uid=%u: handle refused: the uid holds %u live handles "
                           "(handlesPerUid %u)",
                           (unsigned long long)c->id, (unsigned)c->cred.uid, u->handles, quota);
                return -EDQUOT;
        }
        u->handles++;
        return 0;
}

void netd_auth_handle_release(struct netd_owner *c)
{
        struct netd_uid_usage *u = netd_auth_usage(c->daemon, c->cred.uid);

        if (u && u->handles > 0)
                u->handles--;
}
