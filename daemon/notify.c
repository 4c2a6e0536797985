/*
 * The sd_notify protocol spoken by hand (see notify.h): one AF_UNIX
 * datagram per message to $NOTIFY_SOCKET (a path, or an abstract name
 * written with a leading '@'), descriptors as SCM_RIGHTS. netd does not
 * link libsystemd for this: the protocol is a documented, stable datagram
 * format (sd_notify(3), systemd's "NOTIFY_SOCKET" interface doc) that
 * takes ~100 lines here, while libsystemd (a Debian package, so it would
 * be allowed) would add 825 KiB of library (libsystemd.so.0.35.0, Debian
 * 12) and its own state to a daemon that otherwise needs only libevent
 * and jansson, for a handful of messages. It owns one socket, two timers
 * on d->base (watchdog, status) and the session descriptors systemd gave
 * back at start until fdstore.c takes them; no other state of the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "sha256.h"

struct netd_notify {
        struct netd_daemon *d; /* borrowed */
        int fd;                /* owned: SOCK_DGRAM; -1 outside systemd */
        struct sockaddr_un addr;
        socklen_t addr_len;
        uint64_t watchdog_usec;    /* 0: no watchdog */
        struct event *ev_watchdog; /* owned, persistent, every watchdog_usec / 2 */
        struct event *ev_status;   /* owned, persistent, NETD_NOTIFY_STATUS_INTERVAL_MS */
        char status[256];          /* the last STATUS= sent */
        bool send_failed_logged;   /* one warning, not one per watchdog tick */
        struct netd_stored_fd {
                char *name; /* owned */
                int fd;     /* owned; -1 once taken */
        } * stored;         /* owned: session sockets systemd gave back at start */
        size_t n_stored;
};

/* Parses an unsigned decimal environment variable; false when unset or malformed. */
static bool notify_env_u64(const char *name, uint64_t *ret)
{
        const char *s = getenv(name);
        char *end;
        unsigned long long v;

        if (!s || !*s || *s == '-')
                return false;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end)
                return false;
        *ret = v;
        return true;
}

static void notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_notify *n = arg;

        /* The loop turned, so netd is alive: that is exactly what the watchdog asks. */
        (void)netd_notify_send(n, "WATCHDOG=1", -1, false);
}

static void notify_status_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_notify *n = arg;

        netd_notify_status_refresh(n->d);
}

/* Fills in n->addr from $NOTIFY_SOCKET. Returns 0, or -EINVAL when it is unusable. */
static int notify_addr(struct netd_notify *n, const char *path)
{
        size_t len = strlen(path);

        if (len < 2 || len >= sizeof(n->addr.sun_path) || (path[0] != '/' && path[0] != '@'))
                return -EINVAL;
        n->addr.sun_family = AF_UNIX;
        memcpy(n->addr.sun_path, path, len);
        if (path[0] == '@') {
                /* Abstract: a leading NUL, and the length says where the name ends. */
                n->addr.sun_path[0] = '\0';
                n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
        } else {
                n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
        }
        return 0;
}

int netd_notify_new(struct netd_daemon *d, struct netd_notify **ret)
{
        struct netd_notify *n = calloc(1, sizeof(*n));
        const char *path = getenv("NOTIFY_SOCKET");
        uint64_t usec, pid;

        if (!n)
                return -ENOMEM;
        n->d = d;
        n->fd = -1;
        if (!path || !*path) {
                *ret = n;
                return 0;
        }
        if (notify_addr(n, path) < 0) {
                log_warning("NOTIFY_SOCKET=%s is not a socket address, not notifying systemd",
                            path);
                *ret = n;
                return 0;
        }
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (n->fd < 0) {
                int r = -errno;

                free(n);
                return r;
        }
        /* Blocking sends (readiness, fd store) wait at most this long for systemd's queue. */
        (void)setsockopt(n->fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ 1, 0 },
                         sizeof(struct timeval));
        if (notify_env_u64("WATCHDOG_USEC", &usec) && usec > 0 &&
            (!getenv("WATCHDOG_PID") ||
             (notify_env_u64("WATCHDOG_PID", &pid) && pid == (uint64_t)getpid())))
                n->watchdog_usec = usec;
        else if (getenv("WATCHDOG_USEC"))
                log_info("WATCHDOG_USEC=%s is not for this process, no watchdog",
                         getenv("WATCHDOG_USEC"));
        if (n->watchdog_usec > 0) {
                uint64_t half = n->watchdog_usec / 2;
                struct timeval tv = { (time_t)(half / 1000000), (suseconds_t)(half % 1000000) };

                n->ev_watchdog = event_new(d->base, -1, EV_PERSIST, notify_watchdog_cb, n);
                if (!n->ev_watchdog || event_add(n->ev_watchdog, &tv) < 0) {
                        netd_notify_free(n);
                        return -ENOMEM;
                }
                log_info("Watchdog: WATCHDOG=1 every %" PRIu64 " us", half);
                /*
                 * One now: after an in-place upgrade the previous image pinged up to
                 * half a period before its exec, and this image's first tick would
                 * come another half period after the restore: too close to the end.
                 */
                (void)netd_notify_send(n, "WATCHDOG=1", -1, false);
        }
        n->ev_status = event_new(d->base, -1, EV_PERSIST, notify_status_cb, n);
        if (!n->ev_status ||
            event_add(n->ev_status,
                      &(struct timeval){ NETD_NOTIFY_STATUS_INTERVAL_MS / 1000,
                                         (NETD_NOTIFY_STATUS_INTERVAL_MS % 1000) * 1000 }) < 0) {
                netd_notify_free(n);
                return -ENOMEM;
        }
        *ret = n;
        return 0;
}

struct netd_notify *netd_notify_free(struct netd_notify *n)
{
        if (!n)
                return NULL;
        if (n->ev_watchdog)
                event_free(n->ev_watchdog);
        if (n->ev_status)
                event_free(n->ev_status);
        if (n->fd >= 0)
                close(n->fd);
        for (size_t i = 0; i < n->n_stored; i++) {
                if (n->stored[i].fd >= 0)
                        close(n->stored[i].fd);
                free(n->stored[i].name);
        }
        free(n->stored);
        free(n);
        return NULL;
}

bool netd_notify_enabled(const struct netd_notify *n)
{
        return n && n->fd >= 0;
}

uint64_t netd_notify_watchdog_usec(const struct netd_notify *n)
{
        return n ? n->watchdog_usec : 0;
}

int netd_notify_send(struct netd_notify *n, const char *state, int fd, bool wait)
{
        struct iovec iov = { .iov_base = (void *)state, .iov_len = strlen(state) };
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct msghdr mh = {
                .msg_name = NULL,
                .msg_iov = &iov,
                .msg_iovlen = 1,
        };

        if (!netd_notify_enabled(n))
                return 0;
        mh.msg_name = &n->addr;
        mh.msg_namelen = n->addr_len;
        if (fd >= 0) {
                struct cmsghdr *c;

                memset(&control, 0, sizeof(control));
                mh.msg_control = control.buf;
                mh.msg_controllen = sizeof(control.buf);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        while (sendmsg(n->fd, &mh, MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT)) < 0) {
                int r = -errno;

                if (r == -EINTR)
                        continue;
                if (!n->send_failed_logged) {
                        /* Once: a gone manager must not fill the log at watchdog cadence. */
                        log_warning("Failed to notify systemd (%.*s...): %s", 24, state,
                                    strerror(-r));
                        n->send_failed_logged = true;
                }
                return r;
        }
        return 1;
}

/* "12.3 MiB" and the like: one decimal above 1 KiB. */
static void notify_fmt_bytes(char *buf, size_t size, uint64_t v)
{
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
        double x = (double)v;
        int u = -1;

        if (v < 1024) {
                snprintf(buf, size, "%" PRIu64 " B", v);
                return;
        }
        while (x >= 1024 && u < 3) {
                x /= 1024;
                u++;
        }
        snprintf(buf, size, "%.1f %s", x, units[u]);
}

const char *netd_notify_status_text(struct netd_daemon *d, char *buf, size_t size)
{
        unsigned servers = 0, sockets = 0;
        char in[32], out[32];
        struct netd_owner *o;
        struct netd_handle *h;

        NETD_DAEMON_FOREACH_OWNER(d, o) {
                TAILQ_FOREACH(h, &o->handles, owner_link) {
                        if (h->type == NETD_HANDLE_SERVER)
                                servers++;
                        else
                                sockets++;
                }
        }
        notify_fmt_bytes(in, sizeof(in), d->stats.bytes_in);
        notify_fmt_bytes(out, sizeof(out), d->stats.bytes_out);
        snprintf(buf, size, "%u client%s, %u server%s, %u socket%s, %u session%s; %s in, %s out",
                 d->n_conns, d->n_conns == 1 ? "" : "s", servers, servers == 1 ? "" : "s", sockets,
                 sockets == 1 ? "" : "s", d->n_sessions, d->n_sessions == 1 ? "" : "s", in, out);
        return buf;
}

/* Sends "<prefix>STATUS=<status>" (prefix may be ""), remembering the status sent. */
static void notify_with_status(struct netd_notify *n, const char *prefix, const char *status,
                               bool wait)
{
        char msg[sizeof(n->status) + 128];

        snprintf(msg, sizeof(msg), "%sSTATUS=%s", prefix, status);
        if (netd_notify_send(n, msg, -1, wait) > 0)
                snprintf(n->status, sizeof(n->status), "%s", status);
}

void netd_notify_status_refresh(struct netd_daemon *d)
{
        struct netd_notify *n = d->notify;
        char status[sizeof(n->status)];

        if (!netd_notify_enabled(n) || d->stopping)
                return;
        netd_notify_status_text(d, status, sizeof(status));
        if (strcmp(status, n->status) != 0)
                notify_with_status(n, "", status, false);
}

void netd_notify_ready(struct netd_daemon *d)
{
        char status[256];

        if (!netd_notify_enabled(d->notify))
                return;
        netd_notify_status_text(d, status, sizeof(status));
        notify_with_status(d->notify, "READY=1\n", status, true);
}

void netd_notify_reloading(struct netd_daemon *d)
{
        struct timespec ts;
        char prefix[96];

        if (!netd_notify_enabled(d->notify))
                return;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        /* WATCHDOG=1 too: the new image's first ping comes only after its restore. */
        snprintf(prefix, sizeof(prefix), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\n%s",
                 (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000,
                 d->notify->watchdog_usec ? "WATCHDOG=1\n" : "");
        notify_with_status(d->notify, prefix, "Upgrading in place", true);
}

void netd_notify_stopping(struct netd_daemon *d)
{
        char status[128];

        if (!netd_notify_enabled(d->notify))
                return;
        snprintf(status, sizeof(status), "Stopping: %u client%s, %zu bytes to flush", d->n_conns,
                 d->n_conns == 1 ? "" : "s", d->queued_bytes);
        notify_with_status(d->notify, "STOPPING=1\n", status, true);
}

bool netd_notify_fdname_is_valid(const char *name)
{
        size_t len = strlen(name);

        if (len == 0 || len > NETD_FDNAME_MAX)
                return false;
        for (const char *p = name; *p; p++)
                if (*p < ' ' || *p > '~' || *p == ':')
                        return false;
        return true;
}

int netd_notify_fdstore_add(struct netd_daemon *d, int fd, const char *name)
{
        char msg[sizeof("FDSTORE=1\nFDNAME=") + NETD_FDNAME_MAX];

        if (!netd_notify_fdname_is_valid(name) || fd < 0)
                return -EINVAL;
        if (!netd_notify_enabled(d->notify))
                return 0;
        snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
        return netd_notify_send(d->notify, msg, fd, true);
}

int netd_notify_fdstore_remove(struct netd_daemon *d, const char *name)
{
        char msg[sizeof("FDSTOREREMOVE=1\nFDNAME=") + NETD_FDNAME_MAX];

        if (!netd_notify_fdname_is_valid(name))
                return -EINVAL;
        if (!netd_notify_enabled(d->notify))
                return 0;
        snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
        return netd_notify_send(d->notify, msg, -1, true);
}

void netd_fdstore_token_hash(const char *token, char hex[64 + 1])
{
        netd_sha256_hex(token, strlen(token), hex);
}

int netd_fdstore_name_format(const struct netd_fdstore_name *n, char *buf, size_t size)
{
        int len =
                snprintf(buf, size,
                         NETD_FDSTORE_SESSION_PREFIX "1.%" PRIu32 ".%" PRIu32 ".%" PRIu64 ".%x.%s",
                         n->uid, n->linger_ms, n->handle, n->flags, n->token_hash);

        if (len < 0 || (size_t)len >= size || len > NETD_FDNAME_MAX)
                return -ENAMETOOLONG;
        return 0;
}

int netd_fdstore_name_parse(const char *name, struct netd_fdstore_name *ret)
{
        struct netd_fdstore_name n = { 0 };
        char again[NETD_FDNAME_MAX + 1];
        unsigned long long handle;
        unsigned uid, linger, flags;
        int end = -1;

        if (strncmp(name, NETD_FDSTORE_SESSION_PREFIX "1.",
                    strlen(NETD_FDSTORE_SESSION_PREFIX "1.")))
                return -EINVAL;
        if (sscanf(name + strlen(NETD_FDSTORE_SESSION_PREFIX "1."), "%u.%u.%llu.%x.%64[0-9a-f]%n",
                   &uid, &linger, &handle, &flags, n.token_hash, &end) != 5 ||
            end < 0 || strlen(n.token_hash) != 64 || handle == 0)
                return -EINVAL;
        n.uid = uid;
        n.linger_ms = linger;
        n.handle = handle;
        n.flags = flags;
        /* Exactly what format writes (no sign, no leading zero, nothing after): one spelling. */
        if (netd_fdstore_name_format(&n, again, sizeof(again)) < 0 || strcmp(again, name) != 0)
                return -EINVAL;
        *ret = n;
        return 0;
}

int netd_notify_keep_stored(struct netd_notify *n, const char *name, int fd)
{
        struct netd_stored_fd *a = realloc(n->stored, (n->n_stored + 1) * sizeof(*a));
        char *copy = strdup(name);

        if (!a || !copy) {
                if (a)
                        n->stored = a;
                free(copy);
                close(fd);
                return -ENOMEM;
        }
        n->stored = a;
        a[n->n_stored].name = copy;
        a[n->n_stored].fd = fd;
        n->n_stored++;
        return 0;
}

int netd_notify_take_stored(struct netd_notify *n, size_t i, const char **ret_name)
{
        int fd;

        if (!n || i >= n->n_stored || n->stored[i].fd < 0)
                return -1;
        fd = n->stored[i].fd;
        n->stored[i].fd = -1;
        *ret_name = n->stored[i].name;
        return fd;
}

size_t netd_notify_n_stored(const struct netd_notify *n)
{
        return n ? n->n_stored : 0;
}
