/*
 * A TCP server handle: listen (IP, host name or the dual-stack default),
 * accept with netd's own loop (bounded per turn, paused with a backoff on
 * EMFILE/ENFILE instead of spinning), and Node's close semantics: 'close'
 * only once the last accepted connection is gone.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "addr.h"
#include "handle.h"

struct event;
struct netd_req;
struct netd_resolve;

/* Options of net.createServer, applied to every accepted socket. */
struct netd_server_options {
        bool allow_half_open;
        bool pause_on_connect;
        bool no_delay;
        bool keep_alive;
        int64_t keep_alive_initial_delay; /* ms */
        int64_t high_water_mark;          /* bytes; -1: the daemon's default */
        bool attach; /* netd's own: each connection is attached (socket.attach) */
};

struct netd_server {
        struct netd_handle h;        /* first: a netd_handle * is a netd_server * */
        int fd;                      /* owned; -1 when not listening */
        struct event *ev_accept;     /* owned */
        struct event *ev_backoff;    /* owned: re-enables accepting after EMFILE */
        struct netd_req *listen_req; /* owned: a listen waiting for its lookup */
        struct netd_req *close_req;  /* owned: a close waiting for the connections */
        struct netd_resolve *lookup; /* owned */
        struct netd_server_options opts;
        struct netd_addr addr; /* while listening */
        int backlog;
        int port;   /* of the pending listen */
        char *host; /* owned: of the pending listen */
        char *path; /* owned: the IPC path listened on (may start with NUL) */
        size_t path_len;
        bool ipv6_only; /* of the current or pending listen */
        bool owns_path; /* netd created the IPC file: unlink it on close */
        dev_t path_dev; /* the IPC file netd bound: unlinked only if the path still names it */
        ino_t path_ino;
        json_t *deny; /* owned: the permission refusal of the bind being tried */
        bool reuse_port;
        unsigned connections;    /* accepted and not yet closed */
        int64_t max_connections; /* -1: no limit */
        uint64_t accepted;
        uint64_t dropped; /* connections refused over maxConnections */
        bool listening;
        bool closing;           /* server.close called: no more listen or close */
        bool close_not_running; /* the close found it not listening (ERR_SERVER_NOT_RUNNING) */
        bool unref;             /* server.unref: reported by server.get only */
};

/* Creates a server owned by owner. Returns 0, -EMFILE or -ENOMEM. */
int netd_server_new(struct netd_daemon *d, struct netd_owner *owner,
                    const struct netd_server_options *opts, struct netd_server **ret);

/*
 * A listening server rebuilt around fd (a listening stream socket, now the
 * server's on success) under the id it had before a restart (systemd's fd
 * store, notify.h), owned by owner, accepting at once and announced (its
 * client knows the id). No server.listening event: it never stopped
 * listening. A UNIX socket's file is not unlinked when it closes (netd
 * cannot tell it is still the one it bound). Returns 0, -ENOTSOCK when fd
 * is not a listening stream socket, -EEXIST when the id is taken, or what
 * netd_server_new() returns.
 */
int netd_server_restore(struct netd_daemon *d, struct netd_owner *owner,
                        const struct netd_server_options *opts, uint64_t id, int fd,
                        struct netd_server **ret);

/* How server.listen binds: the options of Node's listen(options). */
struct netd_listen_opts {
        const char *host; /* NULL: "::" dual-stack, else "0.0.0.0" */
        int port;
        int backlog; /* < 0: the default (511) */
        bool ipv6_only;
        bool reuse_port;
        bool exclusive; /* accepted for Node compatibility: netd has no cluster */
};

/*
 * server.listen on TCP: host an IP or a name (resolved first). Completes req
 * with the address, or with the error (also emitted as server.error).
 */
void netd_server_listen(struct netd_server *s, const struct netd_listen_opts *o,
                        struct netd_req *req);

struct netd_ipc_addr;

/*
 * server.listen {path}: binds the UNIX socket (taking addr's path) with the
 * client's filesystem rights (auth.h), the file created readable/writable
 * by all when asked, and unlinks it on close if the path still names it.
 * An existing file is EADDRINUSE, as in Node.
 */
void netd_server_listen_path(struct netd_server *s, struct netd_ipc_addr *addr, int backlog,
                             bool readable_all, bool writable_all, struct netd_req *req);

/*
 * server.listen {handle}: adopts fd (now owned by the server), a stream
 * socket passed by the client or inherited from systemd; listens on it if
 * it isn't listening yet. Not a stream socket: ERR_INVALID_FD_TYPE.
 */
void netd_server_listen_fd(struct netd_server *s, int fd, int backlog, struct netd_req *req);

/* Fails a listen before it binds (a bad path): server.error, then the error reply. */
void netd_server_listen_fail(struct netd_server *s, struct netd_req *req, json_t *err);

/* server.close: completes req once the last connection has closed. */
void netd_server_close(struct netd_server *s, struct netd_req *req);

/* Tells the server with that id that one of its accepted sockets closed. */
void netd_server_connection_closed(struct netd_daemon *d, uint64_t server_id);

/* Node's server.address(): {address, family, port} while listening, else JSON null. */
json_t *netd_server_address(const struct netd_server *s);

/* The server with that id, or NULL. */
struct netd_server *netd_server_lookup(struct netd_daemon *d, uint64_t id);

/* Daemon stop: closes the listening socket (and its file), no event. */
void netd_server_stop_accepting(struct netd_server *s);

/*
 * Upgrade (upgrade.c): a server under its old id, on owner's live or closed
 * list, owning fd (-1: none) with its accept event made (not armed). The
 * caller fills in the fields, then netd_server_upgrade_resume() starts accepting.
 * Returns 0, -EEXIST or -ENOMEM (fd is closed then).
 */
int netd_server_upgrade_restore(struct netd_daemon *d, struct netd_owner *owner, uint64_t id,
                                bool closed, int fd, struct netd_server **ret);

/* Accepts again when listening; holds a restored close_req. */
void netd_server_upgrade_resume(struct netd_server *s);

/*
 * Accepts or stops accepting per the owner's accept_paused (a lingering
 * session past its budget, session.h): while paused, new connections wait
 * in the kernel's backlog.
 */
void netd_server_update_accepting(struct netd_server *s);
