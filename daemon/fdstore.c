/*
 * Detached sessions' servers in systemd's fd store (see fdstore.h). It
 * owns a table of what it stored: one entry per server, with the name it
 * was stored under, so that a token rotation renames (remove, then add
 * under the new name), a server that stops listening or a session that
 * ends takes it out, and nothing is stored twice. The descriptors
 * themselves stay the servers'; systemd holds duplicates.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "fdstore.h"
#include "log.h"
#include "notify.h"
#include "server.h"
#include "session.h"

struct fdstore_entry {
        uint64_t server;                /* the server's id */
        struct netd_session *session;   /* weak: the session it belongs to */
        char name[NETD_FDNAME_MAX + 1]; /* the FDNAME it is stored under */
        bool seen;                      /* fdstore_sync()'s mark */
};

struct netd_fdstore {
        struct netd_daemon *d; /* borrowed */
        struct fdstore_entry *entries;
        size_t n, cap;
        size_t max; /* entries at most ($FDSTORE, or NETD_FDSTORE_MAX_DEFAULT) */
        bool full_logged;
        struct netd_session_hooks hooks; /* d->session_hooks points here */
};

static struct fdstore_entry *fdstore_find(struct netd_fdstore *fs, uint64_t server)
{
        for (size_t i = 0; i < fs->n; i++)
                if (fs->entries[i].server == server)
                        return &fs->entries[i];
        return NULL;
}

/* Tells systemd to drop e's descriptor and forgets e. */
static void fdstore_drop(struct netd_fdstore *fs, struct fdstore_entry *e)
{
        size_t i = (size_t)(e - fs->entries);

        (void)netd_notify_fdstore_remove(fs->d, e->name);
        log_debug("fd store: server %" PRIu64 " removed", e->server);
        fs->entries[i] = fs->entries[--fs->n];
}

/* The FDNAME of server srv of session s into buf. Returns 0 or -errno. */
static int fdstore_name(struct netd_session *s, const struct netd_server *srv, char *buf,
                        size_t size)
{
        struct netd_fdstore_name n = {
                .uid = (uint32_t)s->o.cred.uid,
                .linger_ms = s->linger_ms,
                .handle = srv->h.id,
                .flags = (srv->opts.allow_half_open ? NETD_FDSTORE_OPT_ALLOW_HALF_OPEN : 0) |
                         (srv->opts.pause_on_connect ? NETD_FDSTORE_OPT_PAUSE_ON_CONNECT : 0) |
                         (srv->opts.no_delay ? NETD_FDSTORE_OPT_NO_DELAY : 0) |
                         (srv->opts.keep_alive ? NETD_FDSTORE_OPT_KEEP_ALIVE : 0),
        };

        if (s->token[0])
                netd_fdstore_token_hash(s->token, n.token_hash);
        else if (s->token_hash[0])
                memcpy(n.token_hash, s->token_hash, sizeof(n.token_hash));
        else
                return -ENOKEY;
        return netd_fdstore_name_format(&n, buf, size);
}

/* Stores srv of s (or renames its entry after a token rotation); e is its entry or NULL. */
static void fdstore_put(struct netd_fdstore *fs, struct netd_session *s, struct netd_server *srv,
                        struct fdstore_entry *e)
{
        char name[NETD_FDNAME_MAX + 1];
        int r;

        if (!srv->listening || srv->fd < 0 || fdstore_name(s, srv, name, sizeof(name)) < 0)
                return;
        if (e && strcmp(e->name, name) == 0) {
                e->seen = true;
                return;
        }
        if (e)
                fdstore_drop(fs, e); /* a new token: the old name goes */
        if (fs->n >= fs->max) {
                if (!fs->full_logged)
                        log_warning("fd store: %zu servers stored already (the most systemd "
                                    "keeps): server %" PRIu64 " and others beyond it would not "
                                    "survive a crash of netd",
                                    fs->n, srv->h.id);
                fs->full_logged = true;
                return;
        }
        if (fs->n == fs->cap) {
                size_t cap = fs->cap ? fs->cap * 2 : 16;
                struct fdstore_entry *a = realloc(fs->entries, cap * sizeof(*a));

                if (!a) {
                        log_error("fd store: out of memory, server %" PRIu64 " not stored",
                                  srv->h.id);
                        return;
                }
                fs->entries = a;
                fs->cap = cap;
        }
        r = netd_notify_fdstore_add(fs->d, srv->fd, name);
        if (r <= 0) {
                if (r < 0)
                        log_warning("fd store: Failed to store server %" PRIu64 ": %s", srv->h.id,
                                    strerror(-r));
                return;
        }
        e = &fs->entries[fs->n++];
        e->server = srv->h.id;
        e->session = s;
        e->seen = true;
        memcpy(e->name, name, sizeof(name));
        log_debug("fd store: server %" PRIu64 " stored", srv->h.id);
}

struct fdstore_sync_ctx {
        struct netd_fdstore *fs;
        struct netd_session *s;
};

static void fdstore_sync_server(struct netd_server *srv, void *userdata)
{
        struct fdstore_sync_ctx *ctx = userdata;

        fdstore_put(ctx->fs, ctx->s, srv, fdstore_find(ctx->fs, srv->h.id));
}

/* Makes the store hold exactly s's listening servers, under their current names. */
static void fdstore_sync(struct netd_fdstore *fs, struct netd_session *s)
{
        struct fdstore_sync_ctx ctx = { fs, s };

        for (size_t i = 0; i < fs->n; i++)
                if (fs->entries[i].session == s)
                        fs->entries[i].seen = false;
        netd_session_foreach_server(s, fdstore_sync_server, &ctx);
        for (size_t i = fs->n; i-- > 0;)
                if (fs->entries[i].session == s && !fs->entries[i].seen)
                        fdstore_drop(fs, &fs->entries[i]);
}

static void fdstore_session_cb(void *userdata, struct netd_session *s, enum netd_session_event e)
{
        struct netd_fdstore *fs = userdata;

        switch (e) {
        case NETD_SESSION_DROPPED:
                for (size_t i = fs->n; i-- > 0;)
                        if (fs->entries[i].session == s)
                                fdstore_drop(fs, &fs->entries[i]);
                break;
        case NETD_SESSION_CREATED:
        case NETD_SESSION_ROTATED:
        case NETD_SESSION_ARMED:
        case NETD_SESSION_ATTACHED:
                fdstore_sync(fs, s);
                break;
        case _NETD_SESSION_EVENT_MAX:
        case _NETD_SESSION_EVENT_INVALID:
                break;
        }
}

int netd_fdstore_new(struct netd_daemon *d)
{
        struct netd_fdstore *fs = calloc(1, sizeof(*fs));
        const char *env = getenv("FDSTORE");
        char *end;

        if (!fs)
                return -ENOMEM;
        fs->d = d;
        fs->max = NETD_FDSTORE_MAX_DEFAULT;
        if (env && *env) {
                unsigned long v = strtoul(env, &end, 10);

                if (*end == '\0')
                        fs->max = v;
        }
        fs->hooks.event = fdstore_session_cb;
        fs->hooks.userdata = fs;
        d->fdstore = fs;
        if (netd_notify_enabled(d->notify))
                d->session_hooks = &fs->hooks;
        return 0;
}

void netd_fdstore_free(struct netd_daemon *d)
{
        struct netd_fdstore *fs = d->fdstore;

        if (!fs)
                return;
        if (d->session_hooks == &fs->hooks)
                d->session_hooks = NULL;
        free(fs->entries);
        free(fs);
        d->fdstore = NULL;
}

void netd_fdstore_server_changed(struct netd_server *srv)
{
        struct netd_owner *o = srv->h.owner;
        struct netd_fdstore *fs = srv->h.daemon->fdstore;
        struct netd_session *s;
        struct fdstore_entry *e;

        if (!fs || !o || srv->h.daemon->session_hooks != &fs->hooks)
                return;
        /* The session carried by its connection, or the lingering one that owns it. */
        s = o->is_session ? netd_session_of(o) : o->session;
        if (!s)
                return;
        e = fdstore_find(fs, srv->h.id);
        if (srv->listening)
                fdstore_put(fs, s, srv, e);
        else if (e)
                fdstore_drop(fs, e);
}

size_t netd_fdstore_resync(struct netd_daemon *d)
{
        struct netd_fdstore *fs = d->fdstore;
        struct netd_owner *o;

        if (!fs || d->session_hooks != &fs->hooks)
                return 0;
        NETD_DAEMON_FOREACH_OWNER(d, o) {
                struct netd_session *s = o->is_session ? netd_session_of(o) : o->session;

                if (s)
                        fdstore_sync(fs, s);
        }
        return fs->n;
}

size_t netd_fdstore_count(const struct netd_daemon *d)
{
        return d->fdstore ? d->fdstore->n : 0;
}

/* A listening stream socket, as a server needs. */
static bool fdstore_is_listening(int fd)
{
        int type = 0, accepting = 0;
        socklen_t len = sizeof(int);

        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM &&
               getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0 && accepting;
}

unsigned netd_fdstore_restore(struct netd_daemon *d)
{
        struct netd_fdstore *fs = d->fdstore;
        unsigned rebuilt = 0;
        const char *name;
        int fd;

        for (size_t i = 0; i < netd_notify_n_stored(d->notify); i++) {
                struct netd_server_options opts = { .high_water_mark = -1 };
                struct netd_fdstore_name n;
                struct netd_session *s;
                struct netd_server *srv;
                struct fdstore_entry *e;
                int r;

                fd = netd_notify_take_stored(d->notify, i, &name);
                if (fd < 0)
                        continue;
                r = netd_fdstore_name_parse(name, &n);
                /* Checked before a session is made for it: no empty session to find. */
                if (r == 0 && !fdstore_is_listening(fd))
                        r = -ENOTCONN;
                if (r == 0)
                        r = netd_session_restore(d, (uid_t)n.uid, n.linger_ms, n.token_hash, &s);
                if (r == 0) {
                        opts.allow_half_open = n.flags & NETD_FDSTORE_OPT_ALLOW_HALF_OPEN;
                        opts.pause_on_connect = n.flags & NETD_FDSTORE_OPT_PAUSE_ON_CONNECT;
                        opts.no_delay = n.flags & NETD_FDSTORE_OPT_NO_DELAY;
                        opts.keep_alive = n.flags & NETD_FDSTORE_OPT_KEEP_ALIVE;
                        r = netd_server_restore(d, &s->o, &opts, n.handle, fd, &srv);
                }
                if (r < 0) {
                        log_warning("fd store: Failed to rebuild a session's server from "
                                    "'%.40s...': %s; dropping it",
                                    name,
                                    r == -EINVAL     ? "not a name this netd writes"
                                    : r == -ENOTCONN ? "not a listening stream socket"
                                                     : strerror(-r));
                        close(fd);
                        (void)netd_notify_fdstore_remove(d, name);
                        continue;
                }
                /* Already in systemd's store under this name: only remembered. */
                if (fs && fs->n < fs->cap) {
                        e = &fs->entries[fs->n++];
                } else if (fs) {
                        size_t cap = fs->cap ? fs->cap * 2 : 16;
                        struct fdstore_entry *a = realloc(fs->entries, cap * sizeof(*a));

                        e = a ? &a[fs->n++] : NULL;
                        if (a) {
                                fs->entries = a;
                                fs->cap = cap;
                        }
                } else {
                        e = NULL;
                }
                if (e) {
                        e->server = srv->h.id;
                        e->session = s;
                        e->seen = true;
                        snprintf(e->name, sizeof(e->name), "%s", name);
                }
                log_info("session#%llu uid=%u: server %" PRIu64 " rebuilt from the fd store "
                         "after a restart, lingering %u ms for an attach",
                         (unsigned long long)s->o.id, (unsigned)n.uid, srv->h.id, s->linger_ms);
                rebuilt++;
        }
        return rebuilt;
}
