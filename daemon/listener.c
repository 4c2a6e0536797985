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
        struct netd_daemon *daemon; /* borrowed */
        int fd;                     /* owned */
        char *path;                 /* owned: the file to unlink, NULL if inherited */
        struct event *ev_accept;    /* owned */
        struct event *ev_backoff;   /* owned */
};

/* Answers a refused client with one error line, then closes it. */
static void listener_reject(struct netd_daemon *d, int fd, const char *limit)
{
        char line[256];
        int n;

        d->stats.conns_rejected++;
        n = snprintf(line, sizeof(line),
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32001,"
                     "\"message\":\"Too many control connections\",\"data\":{\"code\":"
                     "\"ERR_NETD_LIMIT\",\"limit\":\"%s\"}}}\n",
                     limit);
        /* Best effort: a fresh socket's buffer always takes one short line. */
        if (n > 0 && (size_t)n < sizeof(line))
                (void)send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
}

static unsigned listener_uid_conns(struct netd_daemon *d, uid_t uid)
{
        struct netd_conn *c;
        unsigned n = 0;

        TAILQ_FOREACH(c, &d->conns, link)
                if (c->uid == uid)
                        n++;
        return n;
}

static void listener_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
        struct netd_listener *l = arg;
        struct netd_daemon *d = l->daemon;

        for (int i = 0; i < LISTENER_ACCEPTS_PER_EVENT; i++) {
                struct ucred cred = { .pid = -1, .uid = (uid_t)-1 };
                socklen_t len = sizeof(cred);
                struct netd_conn *c;
                int fd;

                fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        (void)netd_daemon_accept_backoff(d, errno, l->ev_accept, l->ev_backoff,
                                                         "Control socket");
                        return;
                }
                if (d->n_conns >= d->limits.max_clients) {
                        log_notice("Control socket: %u clients already, refusing one", d->n_conns);
                        listener_reject(d, fd, "max_clients");
                        continue;
                }
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
                    listener_uid_conns(d, cred.uid) >= d->limits.max_clients_per_uid) {
                        log_notice("Control socket: uid %u has %u clients already, refusing one",
                                   (unsigned)cred.uid, d->limits.max_clients_per_uid);
                        d->stats.conns_rejected_uid++;
                        listener_reject(d, fd, "max_clients_per_uid");
                        continue;
                }
                if (netd_conn_new(d, fd, &c) < 0) {
                        log_error("Control socket: Failed to set up a client, out of memory");
                        continue;
                }
                c->uid = cred.uid;
                c->pid = cred.pid;
                d->stats.conns_accepted++;
                log_debug("conn#%llu uid=%u pid=%d: connected", (unsigned long long)c->id,
                          (unsigned)c->uid, (int)c->pid);
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

int netd_listener_open(struct netd_daemon *d, const char *path, struct netd_listener **ret)
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
        /* The umask makes bind() create the file 0600: no window with wider rights. */
        old = umask(0177);
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
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
        if (l->fd >= 0)
                close(l->fd);
        if (l->path) {
                (void)unlink(l->path);
                free(l->path);
        }
        free(l);
        return NULL;
}
