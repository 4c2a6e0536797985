/*
 * The control listener (see listener.h). It owns the listening fd, the
 * socket file it created and its accept/backoff events; accepted fds pass
 * to netd_conn_new() at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "daemon.h"
#include "listener.h"
#include "log.h"

#define LISTENER_ACCEPTS_PER_EVENT 32

struct netd_listener {
        struct netd_daemon *daemon;            /* borrowed */
        int fd;                                /* owned */
        char *path;                            /* owned: the file to unlink, NULL if inherited */
        struct event *ev_accept;               /* owned */
        struct event *ev_backoff;              /* owned */
        TAILQ_HEAD(, listener_reject) rejects; /* owned: refused clients being read out */
        unsigned n_rejects;
};

struct listener_reject;

/* Refused clients kept open at most this long to read what they send (no EPIPE for them). */
#define LISTENER_REJECT_LINGER_MS  2000
/* At most this many at once; beyond, a refused client is closed at once. */
#define LISTENER_REJECT_LINGER_MAX 64

struct listener_reject {
        struct netd_listener *l; /* borrowed */
        int fd;                  /* owned */
        struct event *ev;        /* owned */
        TAILQ_ENTRY(listener_reject) link;
};

/* Reads and discards what the client sent: 0 (more may come), 1 at EOF, -1 on an error. */
static int listener_reject_drain(int fd)
{
        char buf[4096];

        for (int i = 0; i < 64; i++) {
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n == 0)
                        return 1;
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -1;
        }
        return 0;
}

static void listener_reject_free(struct listener_reject *rj)
{
        TAILQ_REMOVE(&rj->l->rejects, rj, link);
        rj->l->n_rejects--;
        event_free(rj->ev);
        close(rj->fd);
        free(rj);
}

static void listener_reject_cb(evutil_socket_t fd, short what, void *arg)
{
        struct listener_reject *rj = arg;

        if ((what & EV_TIMEOUT) || listener_reject_drain(rj->fd) != 0)
                listener_reject_free(rj);
}

/*
 * Answers a refused client with one error line and closes it. What it sent
 * first is read, the line sent, the sending side shut; the client is then
 * read until it closes (or LISTENER_REJECT_LINGER_MS), so a client that
 * writes first still reads the line, never EPIPE or ECONNRESET.
 */
static void listener_reject(struct netd_listener *l, int fd, const char *limit)
{
        struct netd_daemon *d = l->daemon;
        struct timeval tv = { LISTENER_REJECT_LINGER_MS / 1000,
                              (LISTENER_REJECT_LINGER_MS % 1000) * 1000 };
        struct listener_reject *rj;
        char line[256];
        int n, r;

        d->stats.conns_rejected++;
        n = snprintf(line, sizeof(line),
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32001,"
                     "\"message\":\"Too many control connections\",\"data\":{\"code\":"
                     "\"ERR_NETD_LIMIT\",\"limit\":\"%s\"}}}\n",
                     limit);
        r = listener_reject_drain(fd);
        /* Best effort: a fresh socket's buffer always takes one short line. */
        if (r >= 0 && n > 0 && (size_t)n < sizeof(line))
                (void)send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r != 0) {
                /* It sent everything (EOF) or is gone: nothing unread, so no reset. */
                close(fd);
                return;
        }
        (void)shutdown(fd, SHUT_WR);
        rj = l->n_rejects < LISTENER_REJECT_LINGER_MAX ? calloc(1, sizeof(*rj)) : NULL;
        if (rj)
                rj->ev = event_new(d->base, fd, EV_READ | EV_PERSIST, listener_reject_cb, rj);
        if (!rj || !rj->ev || event_add(rj->ev, &tv) < 0) {
                if (rj && rj->ev)
                        event_free(rj->ev);
                free(rj);
                close(fd);
                return;
        }
        rj->l = l;
        rj->fd = fd;
        TAILQ_INSERT_TAIL(&l->rejects, rj, link);
        l->n_rejects++;
}

static unsigned listener_uid_conns(struct netd_daemon *d, uid_t uid)
{
        struct netd_owner *o;
        unsigned n = 0;

        TAILQ_FOREACH(o, &d->conns, link)
                if (o->uid == uid)
                        n++;
        return n;
}

/* Control connections a client may take: root and the adminGroup also get the reserve. */
static unsigned listener_cap(struct netd_daemon *d, const struct netd_cred *cred)
{
        unsigned max = d->limits.max_clients;
        unsigned reserve = d->limits.reserved_clients;

        if (reserve > max / 4)
                reserve = max / 4;
        return netd_auth_is_admin(d, cred) ? max : max - reserve;
}

static void listener_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
        struct netd_listener *l = arg;
        struct netd_daemon *d = l->daemon;

        for (int i = 0; i < LISTENER_ACCEPTS_PER_EVENT; i++) {
                struct netd_cred cred = {
                        .uid = (uid_t)-1, .gid = (gid_t)-1, .pid = -1, .pidfd = -1
                };
                unsigned quota;
                struct netd_conn *c;
                int fd;

                fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        (void)netd_daemon_accept_backoff(d, errno, l->ev_accept, l->ev_backoff,
                                                         "Control socket");
                        return;
                }
                if (netd_cred_read(fd, &cred) < 0)
                        log_warning("Control socket: Failed to read the peer's credentials, "
                                    "treating it as an unknown user");
                if (d->n_conns >= listener_cap(d, &cred)) {
                        log_notice("Control socket: %u clients already, refusing uid %u",
                                   d->n_conns, (unsigned)cred.uid);
                        netd_cred_done(&cred);
                        listener_reject(l, fd, "max_clients");
                        continue;
                }
                quota = netd_auth_quota(d, &cred, NETD_QUOTA_CLIENTS);
                if (listener_uid_conns(d, cred.uid) >= quota) {
                        log_notice("Control socket: uid %u has %u clients already, refusing one",
                                   (unsigned)cred.uid, quota);
                        d->stats.conns_rejected_uid++;
                        netd_cred_done(&cred);
                        listener_reject(l, fd, "max_clients_per_uid");
                        continue;
                }
                if (netd_conn_new(d, fd, &c) < 0) {
                        log_error("Control socket: Failed to set up a client, out of memory");
                        netd_cred_done(&cred);
                        continue;
                }
                c->o.cred = cred;
                c->o.uid = cred.uid;
                c->o.pid = cred.pid;
                d->stats.conns_accepted++;
                log_debug("conn#%llu uid=%u gid=%u pid=%d: connected", (unsigned long long)c->o.id,
                          (unsigned)c->o.uid, (unsigned)cred.gid, (int)c->o.pid);
        }
}

static void listener_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_listener *l = arg;

        event_add(l->ev_accept, NULL);
}

static int listener_start(struct netd_daemon *d, int fd, char *path, struct netd_listener **ret)
{
        struct netd_listener *l = calloc(1, sizeof(*l));

        if (!l)
                return -ENOMEM;
        l->daemon = d;
        l->fd = fd;
        TAILQ_INIT(&l->rejects);
        l->path = path;
        l->ev_accept = event_new(d->base, fd, EV_READ | EV_PERSIST, listener_accept_cb, l);
        l->ev_backoff = evtimer_new(d->base, listener_backoff_cb, l);
        if (!l->ev_accept || !l->ev_backoff) {
                l->path = NULL; /* the caller still owns path and fd */
                l->fd = -1;
                netd_listener_free(l);
                return -ENOMEM;
        }
        event_add(l->ev_accept, NULL);
        *ret = l;
        return 0;
}

/* Creates the socket's directory (one level) if it is missing. */
static int listener_mkdir_parent(const char *path)
{
        char *dir = strdup(path), *slash;
        int r = 0;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        r = -errno;
        }
        free(dir);
        return r;
}

/* Returns 0 when path is free (removing a stale socket), else -EADDRINUSE or -EEXIST. */
static int listener_claim_path(const char *path, const struct sockaddr_un *sa)
{
        struct stat st;
        int fd, r;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
        close(fd);
        if (r == 0)
                return -EADDRINUSE; /* someone answers: a live daemon */
        if (errno != ECONNREFUSED)
                return -errno;
        log_info("Removing stale control socket %s", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* Gives the socket file netd just bound to group, through an O_PATH descriptor (no symlink). */
static int listener_chgrp(const char *path, gid_t group)
{
        struct stat st;
        int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC), r = 0;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
                r = -EEXIST;
        else if (fchownat(fd, "", (uid_t)-1, group, AT_EMPTY_PATH) < 0)
                r = -errno;
        close(fd);
        return r;
}

int netd_listener_open(struct netd_daemon *d, const char *path, mode_t mode, gid_t group,
                       struct netd_listener **ret)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char *owned_path;
        mode_t old;
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        r = listener_mkdir_parent(path);
        if (r < 0)
                return r;
        r = listener_claim_path(path, &sa);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* The umask makes bind() create the file with mode: no window with wider rights. */
        old = umask(0777 & ~mode);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r == 0 && group != (gid_t)-1) {
                r = listener_chgrp(path, group);
                if (r < 0) {
                        (void)unlink(path);
                        close(fd);
                        return r;
                }
        }
        if (r < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        owned_path = strdup(path);
        if (!owned_path) {
                close(fd);
                unlink(path);
                return -ENOMEM;
        }
        r = listener_start(d, fd, owned_path, ret);
        if (r < 0) {
                close(fd);
                unlink(path);
                free(owned_path);
        }
        return r;
}

int netd_listener_adopt(struct netd_daemon *d, int fd, struct netd_listener **ret)
{
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        return listener_start(d, fd, NULL, ret);
}

struct netd_listener *netd_listener_free(struct netd_listener *l)
{
        if (!l)
                return NULL;
        if (l->ev_accept)
                event_free(l->ev_accept);
        if (l->ev_backoff)
                event_free(l->ev_backoff);
        while (!TAILQ_EMPTY(&l->rejects))
                listener_reject_free(TAILQ_FIRST(&l->rejects));
        if (l->fd >= 0)
                close(l->fd);
        if (l->path) {
                (void)unlink(l->path);
                free(l->path);
        }
        free(l);
        return NULL;
}

int netd_listener_upgrade_restore(struct netd_daemon *d, int fd, const char *path,
                                  struct netd_listener **ret)
{
        char *owned = NULL;
        int r;

        if (path && !(owned = strdup(path)))
                return -ENOMEM;
        r = listener_start(d, fd, owned, ret);
        if (r < 0)
                free(owned);
        return r;
}

int netd_listener_fd(const struct netd_listener *l)
{
        return l->fd;
}

const char *netd_listener_path(const struct netd_listener *l)
{
        return l->path;
}

unsigned netd_listener_lingering(const struct netd_listener *l)
{
        return l->n_rejects;
}
