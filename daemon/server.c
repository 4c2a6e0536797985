/*
 * TCP servers (see server.h). A server owns its listening fd, its accept
 * and backoff events and the listen/close requests it has not answered yet.
 * Accepted sockets belong to the server's owner; the server only counts
 * them, by id, so either side may go first.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "auth.h"
#include "daemon.h"
#include "fdstore.h"
#include "ipc.h"
#include "isip.h"
#include "log.h"
#include "observe.h"
#include "owner.h"
#include "req.h"
#include "resolve.h"
#include "server.h"
#include "socket.h"

#define SERVER_ACCEPTS_PER_EVENT 64

static bool server_may_listen(struct netd_server *s, struct netd_req *req);
static void server_listen_failed(struct netd_server *s, json_t *err);
static void server_stop_listening(struct netd_server *s);

static void server_emit(struct netd_server *s, const char *event, json_t *params)
{
        netd_handle_emit(&s->h, event, params);
}

static json_t *server_address_json(const struct netd_server *s)
{
        if (!s->listening)
                return json_null();
        if (s->path)
                return json_stringn(s->path, s->path_len);
        return netd_addr_to_json(&s->addr);
}

static void server_apply_options(struct netd_server *s, struct netd_socket *sock)
{
        const struct netd_server_options *o = &s->opts;

        sock->allow_half_open = o->allow_half_open;
        sock->user_paused = o->pause_on_connect;
        if (o->high_water_mark >= 0)
                sock->high_water_mark = (size_t)o->high_water_mark;
        sock->opt_no_delay = o->no_delay;
        sock->opt_keep_alive = o->keep_alive;
        sock->opt_keep_alive_delay_ms = o->keep_alive_initial_delay;
        if (o->no_delay || o->keep_alive)
                netd_socket_apply_options(sock);
}

/* Over maxConnections: Node closes the connection at once and emits 'drop' with its addresses. */
static void server_drop(struct netd_server *s, int fd)
{
        struct netd_addr local = { .family = 0 }, remote = { .family = 0 };
        json_t *ev;

        (void)netd_addr_of_fd(fd, false, &local);
        (void)netd_addr_of_fd(fd, true, &remote);
        close(fd);
        netd_daemon_fd_release(s->h.daemon);
        s->dropped++;
        ev = json_pack("{s:I}", "server", (json_int_t)s->h.id);
        if (ev) {
                (void)netd_addr_set_fields(ev, "local", &local);
                (void)netd_addr_set_fields(ev, "remote", &remote);
        }
        server_emit(s, "server.drop", ev);
}

static void server_accept_one(struct netd_server *s, int fd)
{
        struct netd_daemon *d = s->h.daemon;
        struct netd_socket *sock;
        int pair = -1;
        json_t *ev;
        int r;

        if (s->max_connections >= 0 && (int64_t)s->connections >= s->max_connections) {
                server_drop(s, fd);
                return;
        }
        r = netd_socket_new(d, s->h.owner, &sock);
        if (r < 0) {
                log_warning("conn#%llu: server %llu: Failed to take a connection: %s, dropping",
                            (unsigned long long)s->h.owner->id, (unsigned long long)s->h.id,
                            strerror(-r));
                close(fd);
                netd_daemon_fd_release(d);
                return;
        }
        r = netd_socket_adopt(sock, fd, s->h.id);
        if (r < 0) {
                netd_handle_free(&sock->h);
                return;
        }
        server_apply_options(s, sock);
        if (s->opts.attach) {
                r = netd_socket_attach(sock, &pair);
                if (r < 0) {
                        /* Never a plain connection where a descriptor is expected. */
                        log_warning("conn#%llu: server %llu: Failed to attach a connection: %s, "
                                    "dropping",
                                    (unsigned long long)s->h.owner->id, (unsigned long long)s->h.id,
                                    strerror(-r));
                        netd_handle_free(&sock->h);
                        return;
                }
        }
        s->connections++;
        s->accepted++;
        ev = json_pack("{s:I,s:I}", "server", (json_int_t)s->h.id, "socket",
                       (json_int_t)sock->h.id);
        if (ev) {
                (void)netd_addr_set_fields(ev, "remote", &sock->remote);
                (void)netd_addr_set_fields(ev, "local", &sock->local);
                /* The conventions' five fields: Node's 'connection' has no localFamily. */
                (void)json_object_del(ev, "localFamily");
        }
        if (pair >= 0) {
                /* The event carries the pair's client end (createServer refused batches). */
                if (ev)
                        json_object_set_new(ev, "fd", json_integer(0));
                netd_observe_emit(&s->h, "server.connection", ev);
                if (s->h.owner) {
                        (void)netd_owner_notify_fd(s->h.owner, "server.connection", ev, pair);
                } else {
                        json_decref(ev);
                        close(pair);
                }
        } else {
                server_emit(s, "server.connection", ev);
        }
        /*
         * The connection event names the socket, so the socket's own events
         * may follow it. While the server itself is unannounced (its reply
         * waits in a batch) that event is held, and the socket is announced
         * when it is released (netd_handle_announce()).
         */
        if (s->h.announced)
                netd_handle_announce(&sock->h);
        netd_socket_update_reading(sock);
}

/* Its owner can't take more events now (a session over its budget): leave them queued. */
/*
 * Accepting stops at a session's budget, and for an attach server while a
 * session lingers: its server.connection must carry a descriptor, which no
 * kept line can, so the kernel's backlog holds the connections until an
 * attach (PROTOCOL.md §16).
 */
static bool server_owner_paused(const struct netd_server *s)
{
        return s->h.owner &&
               (s->h.owner->accept_paused || (s->opts.attach && s->h.owner->is_session));
}

void netd_server_update_accepting(struct netd_server *s)
{
        if (!s->listening || !s->ev_accept)
                return;
        if (server_owner_paused(s))
                event_del(s->ev_accept);
        else if (!s->ev_backoff || !event_pending(s->ev_backoff, EV_TIMEOUT, NULL))
                event_add(s->ev_accept, NULL);
}

static void server_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
        struct netd_server *s = arg;

        for (int i = 0; i < SERVER_ACCEPTS_PER_EVENT && s->listening; i++) {
                int fd = -1;

                if (server_owner_paused(s)) {
                        event_del(s->ev_accept);
                        return;
                }

                /* Past the descriptor reserve, back off as on EMFILE: control comes first. */
                if (netd_daemon_fd_take(s->h.daemon) == 0) {
                        fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                        if (fd < 0) {
                                int err = errno;

                                netd_daemon_fd_release(s->h.daemon);
                                errno = err;
                        }
                } else {
                        errno = EMFILE;
                }
                if (fd >= 0) {
                        server_accept_one(s, fd);
                        continue;
                }
                if (errno == EAGAIN || errno == EINTR)
                        return;
                {
                        int err = errno;
                        char who[40];

                        (void)snprintf(who, sizeof(who), "server %llu",
                                       (unsigned long long)s->h.id);
                        if (netd_daemon_accept_backoff(s->h.daemon, err, s->ev_accept,
                                                       s->ev_backoff, who))
                                return;
                }
                /* ECONNABORTED and friends: that one connection is gone, go on. */
        }
}

static void server_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_server *s = arg;

        if (s->listening && !server_owner_paused(s))
                event_add(s->ev_accept, NULL);
}

void netd_server_listen_fail(struct netd_server *s, struct netd_req *req, json_t *err)
{
        if (!server_may_listen(s, req)) {
                json_decref(err);
                return;
        }
        s->listen_req = req;
        netd_req_hold(req, "server listen");
        server_listen_failed(s, err);
}

/* Completes a listen failure: server.error, then the same error as the reply. No close. */
static void server_listen_failed(struct netd_server *s, json_t *err)
{
        struct netd_req *req = s->listen_req;

        s->listen_req = NULL;
        free(s->host);
        s->host = NULL;
        server_emit(s, "server.error",
                    json_pack("{s:I,s:o}", "server", (json_int_t)s->h.id, "error",
                              netd_rpc_error_from_nerr(json_deep_copy(err))));
        if (req)
                (void)netd_req_fail_node(req, err);
        else
                json_decref(err);
}

/*
 * A reusePort group never spans users: the kernel groups SO_REUSEPORT
 * sockets by the uid that made them, and netd makes them all. Is port
 * held with reusePort by a server of another uid?
 */
static bool server_port_shared_by_other_uid(struct netd_server *s, const struct sockaddr *sa)
{
        struct netd_addr want;
        struct netd_owner *c;
        struct netd_handle *h;

        if (netd_addr_from_sockaddr(sa, &want) < 0 || want.port == 0)
                return false;
        NETD_DAEMON_FOREACH_OWNER(s->h.daemon, c) {
                if (c->cred.uid == s->h.owner->cred.uid)
                        continue;
                TAILQ_FOREACH(h, &c->handles, owner_link) {
                        struct netd_server *o = (struct netd_server *)h;

                        if (h->type == NETD_HANDLE_SERVER && o->listening && o->reuse_port &&
                            !o->path && o->addr.port == want.port)
                                return true;
                }
        }
        return false;
}

/*
 * What c may bind, checked before the socket is made (auth.h): privileged
 * ports, the policy's listen list, reusePort across users. Returns 0 or
 * -EACCES with s->deny set.
 */
static int server_check_bind(struct netd_server *s, const struct sockaddr *sa)
{
        struct netd_owner *c = s->h.owner;
        json_t *err = NULL;

        if (!c || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
                return 0;
        if (netd_auth_check_bind(c, sa, true, &err) < 0) {
                json_decref(s->deny);
                s->deny = err;
                return -EACCES;
        }
        if (s->reuse_port && server_port_shared_by_other_uid(s, sa)) {
                struct netd_addr a = { .port = 0 };

                (void)netd_addr_from_sockaddr(sa, &a);
                json_decref(s->deny);
                s->deny = netd_auth_deny(c, "reusePort", "listen",
                                         "listen: port %d is held with reusePort by another "
                                         "user; a reusePort group never spans users",
                                         a.port);
                return -EACCES;
        }
        return 0;
}

/* The error for a failed bind: the permission refusal if there was one, else the system error. */
static json_t *server_bind_error(struct netd_server *s, int r, const char *host, int port)
{
        json_t *err = s->deny;

        s->deny = NULL;
        if (err && r == -EACCES) {
                if (host)
                        (void)json_object_set_new(err, "address", json_string(host));
                if (port > 0)
                        (void)json_object_set_new(err, "port", json_integer(port));
                return err;
        }
        json_decref(err);
        return netd_nerr_sys_uv(-r, "listen", host, port);
}

/* Binds and listens on one address. Returns 0 or -errno (-EACCES with s->deny: refused). */
static int server_bind(struct netd_server *s, const struct sockaddr *sa, socklen_t len,
                       bool dual_stack)
{
        int fd, one = 1, v6only = s->ipv6_only;

        if (server_check_bind(s, sa) < 0)
                return -EACCES;
        if (netd_daemon_fd_take(s->h.daemon) < 0)
                return -EMFILE;
        fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                int err = -errno;

                netd_daemon_fd_release(s->h.daemon);
                return err;
        }
        if (sa->sa_family != AF_UNIX)
                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (sa->sa_family == AF_INET6 && (dual_stack || s->ipv6_only))
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
        if (s->reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
                int err = -errno;

                close(fd);
                netd_daemon_fd_release(s->h.daemon);
                return err;
        }
        if (bind(fd, sa, len) < 0 || listen(fd, s->backlog) < 0) {
                int err = -errno;

                close(fd);
                netd_daemon_fd_release(s->h.daemon);
                return err;
        }
        s->fd = fd;
        return 0;
}

static void server_listen_done(struct netd_server *s)
{
        struct netd_req *req = s->listen_req;
        struct netd_daemon *d = s->h.daemon;

        s->listen_req = NULL;
        free(s->host);
        s->host = NULL;
        (void)netd_addr_of_fd(s->fd, false, &s->addr);
        s->ev_accept = event_new(d->base, s->fd, EV_READ | EV_PERSIST, server_accept_cb, s);
        if (!s->ev_accept) {
                close(s->fd);
                netd_daemon_fd_release(d);
                s->fd = -1;
                server_listen_failed(s, netd_nerr_sys(ENOMEM, "listen", NULL, -1));
                return;
        }
        s->listening = true;
        netd_server_update_accepting(s);
        netd_fdstore_server_changed(s); /* a detached session's: into systemd's fd store */
        server_emit(s, "server.listening", json_pack("{s:I}", "server", (json_int_t)s->h.id));
        if (req)
                (void)netd_req_ok(req, server_address_json(s));
}

/* Tries the addresses in order; the first that binds wins, else the first error is reported. */
static void server_listen_addrs(struct netd_server *s, struct evutil_addrinfo *res,
                                const char *host)
{
        int first_err = 0;
        json_t *deny = NULL;

        for (struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next) {
                int r = server_bind(s, ai->ai_addr, ai->ai_addrlen, false);

                if (r == 0) {
                        json_decref(deny);
                        json_decref(s->deny);
                        s->deny = NULL;
                        server_listen_done(s);
                        return;
                }
                if (!first_err) {
                        first_err = r;
                        deny = s->deny;
                        s->deny = NULL;
                }
        }
        json_decref(s->deny);
        s->deny = deny;
        server_listen_failed(
                s, server_bind_error(s, first_err ? first_err : -EADDRNOTAVAIL, host, s->port));
}

static void server_lookup_cb(int result, struct evutil_addrinfo *res, void *arg)
{
        struct netd_server *s = arg;
        char *host = s->host;

        s->lookup = NULL;
        s->host = NULL;
        if (result != 0) {
                server_listen_failed(s, netd_nerr_eai(result, host));
        } else {
                server_listen_addrs(s, res, host);
                evutil_freeaddrinfo(res);
        }
        free(host);
}

/* Checks that s may start listening; otherwise completes req and returns false. */
static bool server_may_listen(struct netd_server *s, struct netd_req *req)
{
        if (s->h.closed) {
                (void)netd_req_fail_err(req, NETD_ERR_SERVER_NOT_RUNNING,
                                        "Server is closed: create a new one");
                return false;
        }
        if (s->listening || s->listen_req || s->closing) {
                (void)netd_req_fail_err(req, NETD_ERR_SERVER_ALREADY_LISTEN, NULL);
                return false;
        }
        return true;
}

/* The process umask, read without changing it for longer than the call. */
static mode_t server_umask(void)
{
        mode_t m = umask(077);

        umask(m);
        return m;
}

/*
 * Binds the UNIX socket with the client's rights (auth.h: its uid, gid and
 * groups, plus netd's group under a unix grant), so the file is the
 * client's, created with its final mode (umask around bind(): never a chmod
 * by name), and records the file's dev/ino for the unlink on close.
 */
static int server_bind_path(struct netd_server *s, struct netd_ipc_addr *addr, bool readable_all,
                            bool writable_all, json_t **ret_err)
{
        struct netd_owner *c = s->h.owner;
        struct netd_fs_creds fs;
        struct stat st;
        mode_t mode, old;
        int r;

        if (c && netd_auth_fs_enter(c, s->path, s->path_len, &fs, ret_err) < 0)
                return -EACCES;
        /* As libuv's uv_pipe_chmod(): the bits are added to what the umask gives. */
        mode = (0777 & ~server_umask()) | (readable_all ? 0444 : 0) | (writable_all ? 0222 : 0);
        old = umask(0777 & ~mode);
        r = server_bind(s, (struct sockaddr *)&addr->sa, addr->len, false);
        umask(old);
        if (r == 0 && s->path[0] != '\0') {
                int pin = open(addr->sa.sun_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);

                if (pin < 0 || fstat(pin, &st) < 0 || !S_ISSOCK(st.st_mode)) {
                        r = -EEXIST; /* swapped under us: never touch it again */
                } else {
                        s->path_dev = st.st_dev;
                        s->path_ino = st.st_ino;
                        s->owns_path = true;
                }
                if (pin >= 0)
                        close(pin);
                if (r < 0) {
                        close(s->fd);
                        netd_daemon_fd_release(s->h.daemon);
                        s->fd = -1;
                }
        }
        if (c)
                netd_auth_fs_leave(&fs);
        return r;
}

/*
 * Unlinks the server's file if the path still names the inode it bound
 * (checked without following links), with the same rights it was bound
 * with: a file swapped in is never deleted.
 */
static void server_unlink_path(struct netd_server *s)
{
        struct netd_owner *c = s->h.owner;
        struct netd_fs_creds fs;
        json_t *err = NULL;
        struct stat st;

        if (c && netd_auth_fs_enter(c, s->path, s->path_len, &fs, &err) < 0) {
                json_decref(err);
                return;
        }
        if (lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == s->path_dev &&
            st.st_ino == s->path_ino)
                (void)unlink(s->path);
        else
                log_info("server %llu: %s no longer names the socket it bound, leaving it",
                         (unsigned long long)s->h.id, s->path);
        if (c)
                netd_auth_fs_leave(&fs);
}

void netd_server_listen_path(struct netd_server *s, struct netd_ipc_addr *addr, int backlog,
                             bool readable_all, bool writable_all, struct netd_req *req)
{
        json_t *deny = NULL;
        int r;

        if (!server_may_listen(s, req))
                return;
        s->backlog = backlog >= 0 ? backlog : (int)s->h.daemon->limits.listen_backlog;
        s->ipv6_only = s->reuse_port = false;
        s->listen_req = req;
        netd_req_hold(req, "server listen");
        free(s->path);
        s->path = addr->path;
        s->path_len = addr->path_len;
        s->owns_path = false;
        addr->path = NULL;
        /* No unlink of an existing file first: Node reports EADDRINUSE, and so do we. */
        r = server_bind_path(s, addr, readable_all, writable_all, &deny);
        if (r < 0) {
                json_t *err =
                        deny ? deny : netd_nerr_sys_path_uv(-r, "listen", s->path, s->path_len);

                s->path = (free(s->path), NULL);
                s->path_len = 0;
                s->owns_path = false;
                server_listen_failed(s, err);
                return;
        }
        server_listen_done(s);
}

/* Records the UNIX address ss (len bytes, from getsockname()) as s's path (server.address). */
static void server_take_unix_path(struct netd_server *s, const struct sockaddr_storage *ss,
                                  socklen_t len)
{
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        size_t n = len > offsetof(struct sockaddr_un, sun_path)
                           ? len - offsetof(struct sockaddr_un, sun_path)
                           : 0;

        if (n > 0 && un->sun_path[0] != '\0')
                n = strnlen(un->sun_path, n);
        s->path = malloc(n + 1);
        if (s->path) {
                memcpy(s->path, un->sun_path, n);
                s->path[n] = '\0';
                s->path_len = n;
        }
}

void netd_server_listen_fd(struct netd_server *s, int fd, int backlog, struct netd_req *req)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int type = 0, domain = 0, accepting = 0, flags;
        socklen_t ilen = sizeof(int);

        if (!server_may_listen(s, req)) {
                close(fd);
                return;
        }
        s->backlog = backlog >= 0 ? backlog : (int)s->h.daemon->limits.listen_backlog;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) < 0 || type != SOCK_STREAM ||
            getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &ilen) < 0 ||
            (domain != AF_INET && domain != AF_INET6 && domain != AF_UNIX) ||
            getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
                close(fd);
                (void)netd_req_fail_err(req, NETD_ERR_INVALID_FD_TYPE,
                                        "The handle is not a TCP or UNIX stream socket");
                return;
        }
        (void)getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &ilen);
        /* From here on the reply comes from server_listen_failed() or server_listen_done(). */
        s->listen_req = req;
        netd_req_hold(req, "server listen");
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || (!accepting && listen(fd, s->backlog) < 0)) {
                json_t *err = netd_nerr_sys_uv(errno, "listen", NULL, -1);

                close(fd);
                server_listen_failed(s, err);
                return;
        }
        s->fd = fd;
        s->h.daemon->fds_open++; /* adopted: counted, never refused (it exists already) */
        free(s->path);
        s->path = NULL;
        s->path_len = 0;
        s->owns_path = false;
        if (domain == AF_UNIX)
                server_take_unix_path(s, &ss, len);
        server_listen_done(s);
}

void netd_server_listen(struct netd_server *s, const struct netd_listen_opts *o,
                        struct netd_req *req)
{
        const char *host = o->host;
        int port = o->port, backlog = o->backlog;
        int r;

        if (!server_may_listen(s, req))
                return;
        s->ipv6_only = o->ipv6_only;
        s->reuse_port = o->reuse_port;
        s->backlog = backlog >= 0 ? backlog : (int)s->h.daemon->limits.listen_backlog;
        s->port = port;
        s->listen_req = req;
        netd_req_hold(req, "server listen");
        if (!host) {
                struct sockaddr_in6 in6 = { .sin6_family = AF_INET6,
                                            .sin6_port = htons((uint16_t)port),
                                            .sin6_addr = IN6ADDR_ANY_INIT };
                struct sockaddr_in in = { .sin_family = AF_INET,
                                          .sin_port = htons((uint16_t)port),
                                          .sin_addr.s_addr = htonl(INADDR_ANY) };

                r = server_bind(s, (struct sockaddr *)&in6, sizeof(in6), true);
                if ((r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL) && !s->ipv6_only)
                        r = server_bind(s, (struct sockaddr *)&in, sizeof(in), false);
                if (r < 0)
                        server_listen_failed(s, server_bind_error(s, r, "::", port));
                else
                        server_listen_done(s);
                return;
        }
        if (netd_isip(host, strlen(host))) {
                struct sockaddr_storage ss;
                socklen_t len;

                if (netd_addr_to_sockaddr(host, port, &ss, &len) < 0) {
                        server_listen_failed(s, netd_nerr_sys_uv(EINVAL, "listen", host, port));
                        return;
                }
                r = server_bind(s, (struct sockaddr *)&ss, len, false);
                if (r < 0)
                        server_listen_failed(s, server_bind_error(s, r, host, port));
                else
                        server_listen_done(s);
                return;
        }
        s->host = strdup(host);
        if (!s->host) {
                server_listen_failed(s, netd_nerr_sys(ENOMEM, "listen", NULL, -1));
                return;
        }
        r = netd_resolve_start(s->h.daemon, s->h.owner ? s->h.owner->id : 0, host, port, AF_UNSPEC,
                               0, server_lookup_cb, s, &s->lookup);
        if (r < 0)
                server_listen_failed(s, netd_nerr_sys(-r, "getaddrinfo", NULL, -1));
}

void netd_server_stop_accepting(struct netd_server *s)
{
        server_stop_listening(s);
}

static void server_stop_listening(struct netd_server *s)
{
        /* An IPC server removes its file (not an abstract name: there is none). */
        if (s->path && s->listening && s->owns_path && s->path[0] != '\0')
                server_unlink_path(s);
        if (s->ev_accept)
                event_free(s->ev_accept);
        s->ev_accept = NULL;
        if (s->ev_backoff)
                event_del(s->ev_backoff);
        if (s->fd >= 0) {
                close(s->fd);
                netd_daemon_fd_release(s->h.daemon);
        }
        s->fd = -1;
        if (s->listening) {
                s->listening = false;
                netd_fdstore_server_changed(s); /* out of systemd's fd store */
        }
}

/*
 * The server is done: 'close', then the reply to server.close (req, may be
 * NULL; ERR_SERVER_NOT_RUNNING when it was not listening), on a later loop
 * turn, as Node emits 'close' from nextTick (server_closed).
 */
static void server_finish(struct netd_server *s, struct netd_req *req, bool not_running)
{
        s->closing = true;
        s->close_req = req;
        s->close_not_running = not_running;
        if (req)
                netd_req_hold(req, "server close");
        netd_handle_close_later(&s->h);
}

/* The deferred half of a close (handle.h). */
static void server_closed(struct netd_handle *h)
{
        struct netd_server *s = (struct netd_server *)h;
        struct netd_req *req = s->close_req;

        s->close_req = NULL;
        server_emit(s, "server.close", json_pack("{s:I}", "server", (json_int_t)s->h.id));
        if (req) {
                if (s->close_not_running)
                        (void)netd_req_fail_err(req, NETD_ERR_SERVER_NOT_RUNNING, NULL);
                else
                        (void)netd_req_ok_true(req);
        }
        netd_handle_finish(&s->h);
}

void netd_server_close(struct netd_server *s, struct netd_req *req)
{
        bool was_listening = s->listening;

        if (s->h.closed || s->closing) {
                (void)netd_req_fail_err(req, NETD_ERR_SERVER_NOT_RUNNING, NULL);
                return;
        }
        if (s->listen_req) {
                /* A close during the listen's lookup cancels the listen (Node). */
                struct netd_req *lr = s->listen_req;

                netd_resolve_cancel(s->lookup);
                s->lookup = NULL;
                s->listen_req = NULL;
                (void)netd_req_fail_err(lr, NETD_ERR_SERVER_NOT_RUNNING,
                                        "Server was closed before it started listening");
        }
        server_stop_listening(s);
        if (!was_listening) {
                server_finish(s, req, true);
                return;
        }
        s->closing = true;
        if (s->connections == 0) {
                server_finish(s, req, false);
                return;
        }
        s->close_req = req;
        netd_req_hold(req, "server close");
}

void netd_server_connection_closed(struct netd_daemon *d, uint64_t server_id)
{
        struct netd_server *s = netd_server_lookup(d, server_id);
        struct netd_req *req;

        if (!s || s->connections == 0)
                return;
        s->connections--;
        if (!s->closing || s->connections > 0 || s->h.closed)
                return;
        req = s->close_req;
        s->close_req = NULL;
        server_finish(s, req, false);
}

static void server_abandon(struct netd_handle *h)
{
        struct netd_server *s = (struct netd_server *)h;

        netd_resolve_cancel(s->lookup);
        s->lookup = NULL;
        if (s->listen_req)
                netd_req_drop(s->listen_req, "its server is abandoned");
        if (s->close_req)
                netd_req_drop(s->close_req, "its server is abandoned");
        s->listen_req = s->close_req = NULL;
        server_stop_listening(s);
}

static void server_free(struct netd_handle *h)
{
        struct netd_server *s = (struct netd_server *)h;

        server_abandon(h);
        if (s->ev_backoff)
                event_free(s->ev_backoff);
        free(s->host);
        free(s->path);
        json_decref(s->deny);
        free(s);
}

static const struct netd_handle_ops server_ops = {
        .abandon = server_abandon,
        .closed = server_closed,
        .free = server_free,
};

/* netd_server_new() under a new id (id 0) or the given one (netd_server_restore()). */
static int server_new(struct netd_daemon *d, struct netd_owner *owner,
                      const struct netd_server_options *opts, uint64_t id, struct netd_server **ret)
{
        struct netd_server *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        s->fd = -1;
        s->max_connections = -1;
        s->opts = *opts;
        s->ev_backoff = evtimer_new(d->base, server_backoff_cb, s);
        if (!s->ev_backoff) {
                free(s);
                return -ENOMEM;
        }
        r = id ? netd_handle_register_id(&s->h, d, owner, NETD_HANDLE_SERVER, &server_ops, id)
               : netd_handle_register(&s->h, d, owner, NETD_HANDLE_SERVER, &server_ops);
        if (r < 0) {
                event_free(s->ev_backoff);
                free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int netd_server_new(struct netd_daemon *d, struct netd_owner *owner,
                    const struct netd_server_options *opts, struct netd_server **ret)
{
        return server_new(d, owner, opts, 0, ret);
}

int netd_server_restore(struct netd_daemon *d, struct netd_owner *owner,
                        const struct netd_server_options *opts, uint64_t id, int fd,
                        struct netd_server **ret)
{
        socklen_t ilen = sizeof(int), sslen = sizeof(struct sockaddr_storage);
        int type = 0, accepting = 0, flags, r;
        struct sockaddr_storage ss;
        struct netd_server *s;

        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) < 0 || type != SOCK_STREAM ||
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &ilen) < 0 || !accepting)
                return -ENOTSOCK;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return -errno;
        r = server_new(d, owner, opts, id, &s);
        if (r < 0)
                return r;
        s->fd = fd;
        s->backlog = (int)d->limits.listen_backlog;
        (void)netd_addr_of_fd(fd, false, &s->addr);
        if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 && ss.ss_family == AF_UNIX)
                server_take_unix_path(s, &ss, sslen);
        s->ev_accept = event_new(d->base, fd, EV_READ | EV_PERSIST, server_accept_cb, s);
        if (!s->ev_accept) {
                s->fd = -1;
                netd_handle_free(&s->h);
                return -ENOMEM;
        }
        d->fds_open++; /* adopted: counted, never refused (it exists already) */
        /* Its client knew it before the restart: its events go out as they come. */
        s->h.announced = true;
        s->listening = true;
        netd_server_update_accepting(s);
        *ret = s;
        return 0;
}

struct netd_server *netd_server_lookup(struct netd_daemon *d, uint64_t id)
{
        struct netd_handle *h = netd_handle_lookup(d, id);

        return h && h->type == NETD_HANDLE_SERVER ? (struct netd_server *)h : NULL;
}

json_t *netd_server_address(const struct netd_server *s)
{
        return server_address_json(s);
}

int netd_server_upgrade_restore(struct netd_daemon *d, struct netd_owner *owner, uint64_t id,
                                bool closed, int fd, struct netd_server **ret)
{
        struct netd_server *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        s->fd = -1;
        s->max_connections = -1;
        s->ev_backoff = evtimer_new(d->base, server_backoff_cb, s);
        if (!s->ev_backoff) {
                free(s);
                return -ENOMEM;
        }
        r = netd_handle_upgrade_restore(&s->h, d, owner, NETD_HANDLE_SERVER, &server_ops, id,
                                        closed);
        if (r < 0) {
                event_free(s->ev_backoff);
                free(s);
                return r;
        }
        if (fd >= 0) {
                d->fds_open++;
                s->fd = fd;
                s->ev_accept = event_new(d->base, s->fd, EV_READ | EV_PERSIST, server_accept_cb, s);
                if (!s->ev_accept) {
                        netd_handle_free(&s->h);
                        return -ENOMEM;
                }
        }
        *ret = s;
        return 0;
}

void netd_server_upgrade_resume(struct netd_server *s)
{
        netd_server_update_accepting(s); /* a lingering session past its budget stays paused */
        if (s->close_req)
                netd_req_hold(s->close_req, "server close");
}
