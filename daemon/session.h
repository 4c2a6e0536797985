/*
 * Sessions (netd.detach, netd.attach, netd.detached; PROTOCOL.md §16): the
 * handles of a control connection that outlive it. A connection that called
 * netd.detach "carries" a session (owner->session). When it ends, for any
 * reason, its handles are not destroyed: they move to the session's own
 * owner (a second implementation of struct netd_owner_ops, so every layer
 * below keeps working unchanged), which keeps every event line in order in
 * a bounded buffer (limits.session_kept_bytes) and, past that budget, pauses
 * the sockets (TCP pushes back) and servers (the kernel's backlog holds new
 * connections). netd.attach moves them to the attaching connection: the
 * reply first, then the kept lines, then live events; ids never change.
 * Nobody attached within the linger time: the handles are destroyed as on
 * an owner's disconnect (§7.3), logged.
 *
 * State, for an in-place upgrade that must carry sessions over: the struct
 * below (token, linger_ms, deadline_ms, the kept lines), whether a
 * connection carries it (conn, and that connection's o.session), the
 * handles on the lists of whichever owner holds them, and, for a connection
 * that carries one, the mid_line of struct netd_conn's out_fds (out.h), which says
 * whether the head of its output is a line already partly written.
 *
 * Lifetime: a session is created by netd_session_detach() and freed when
 * its linger time runs out, when the connection carrying it attaches
 * another session (netd_session_attach()), or with the daemon
 * (netd_session_free_all()). The token is a secret: it is never logged.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "owner.h"

struct event;
struct evbuffer;
struct netd_daemon;
struct netd_server;

/* A token: 128 random bits as 32 lowercase hex digits. */
#define NETD_SESSION_TOKEN_LEN 32

struct netd_session {
        struct netd_owner o;     /* first: the owner of the handles while none carries them */
        struct netd_owner *conn; /* weak: the connection carrying it; NULL while lingering */
        char token[NETD_SESSION_TOKEN_LEN + 1]; /* "" for a session rebuilt after a restart */
        char token_hash[64 + 1]; /* its SHA-256 (hex) when only that is known (restored) */
        unsigned linger_ms;      /* how long its handles wait for an attach */
        int64_t deadline_ms;     /* CLOCK_MONOTONIC ms when lingering ends; 0 while carried */
        struct evbuffer *kept;   /* owned: event lines kept while lingering, in order */
        struct event *ev_linger; /* owned: the linger timer */
        uint64_t kept_lines;     /* lines kept since it began to linger (logs) */
};

/*
 * What a session went through, for whoever watches (struct
 * netd_session_hooks): the systemd fd store keeps the listening sockets of
 * lingering sessions.
 */
enum netd_session_event {
        NETD_SESSION_CREATED,  /* netd.detach on a connection that carried none */
        NETD_SESSION_ROTATED,  /* netd.detach again: new token (and lingerMs) */
        NETD_SESSION_ARMED,    /* the carrying connection ended: its handles linger now */
        NETD_SESSION_ATTACHED, /* netd.attach: carried again (by another connection) */
        NETD_SESSION_DROPPED,  /* freed: linger over (its handles destroyed), daemon exit, or
                                  replaced (its carrier attached another session, which
                                  now has its handles) */
        _NETD_SESSION_EVENT_MAX,
        _NETD_SESSION_EVENT_INVALID = -22,
};

const char *netd_session_event_to_string(enum netd_session_event e);

/*
 * Callbacks a module installs in daemon->session_hooks (NULL: none). event
 * is called after the change (a server that starts or stops listening is
 * server.c's to report: netd_fdstore_server_changed()). For DROPPED the session is still
 * readable (it holds no handle any more); it is freed right after. A hook must
 * not create, attach or free sessions. For ARMED, netd_session_foreach_server()
 * lists the servers that now linger. The token is a secret of the session's
 * user: keep it out of names other users can read (FDNAME=, logs).
 */
struct netd_session_hooks {
        void (*event)(void *userdata, struct netd_session *s, enum netd_session_event e);
        void *userdata;
};

/*
 * netd.detach on c: creates c's session, or rotates its token. linger_ms
 * < 0 takes limits.session_linger_ms; any value is capped at
 * limits.session_linger_max_ms. Returns 0 with *ret the session (its token
 * and linger_ms are the reply), -EDQUOT when c would create one while its
 * uid already has its maxClientsPerUid quota of lingering sessions (so a
 * user has at most twice that many), or -ENOMEM / -EIO (no randomness).
 */
int netd_session_detach(struct netd_owner *c, int64_t linger_ms, struct netd_session **ret);

/*
 * netd.attach: the session whose token is token (len bytes) and whose uid
 * is c's. Tokens are compared in constant time, and a wrong token and
 * another uid give the same answer: NULL.
 */
struct netd_session *netd_session_find(struct netd_owner *c, const char *token, size_t len);

/*
 * May c take s's handles? 0, or -EMFILE when c would then hold more than
 * limits.handles_per_conn live handles.
 */
int netd_session_may_attach(const struct netd_session *s, const struct netd_owner *c);

/*
 * The ids of every handle s's holder has (live, then closed ones kept
 * readable), as the array netd.attach replies with. NULL on ENOMEM.
 */
json_t *netd_session_handle_ids(const struct netd_session *s);

/*
 * Moves s to c, after the netd.attach reply has been queued on c: the kept
 * lines follow it, then c owns every handle (flow state and counters
 * moved), and c carries s (a session c carried before is dropped). When
 * another live connection carried s, that one gets netd.detached {token}
 * first and keeps nothing. Nothing happens when c carries s already.
 */
void netd_session_attach(struct netd_session *s, struct netd_owner *c);

/*
 * The connection c, which carries a session, is closing (conn.c, before
 * anything more could be sent to it): unsent (complete event lines about
 * its handles that it never sent, drained; may be NULL) become the first
 * kept events, its handles move to the session and the linger timer
 * starts. Not while the daemon stops: then c's handles go as without a
 * session.
 */
void netd_session_orphan(struct netd_owner *c, struct evbuffer *unsent);

/* The session an owner is (a lingering session's owner), or NULL for a connection. */
struct netd_session *netd_session_of(struct netd_owner *o);

/* Calls fn for each listening server among s's handles (carried or lingering). */
void netd_session_foreach_server(struct netd_session *s,
                                 void (*fn)(struct netd_server *server, void *userdata),
                                 void *userdata);

/*
 * After a crash and restart (systemd's fd store, fdstore.h): the lingering
 * session of uid whose token has the SHA-256 token_hash (64 hex digits),
 * made on first use with linger_ms from now; netd does not know the token
 * itself until an attach presents it (netd_session_find() compares
 * hashes). Returns 0 with *ret, -EINVAL for a bad hash, or -ENOMEM.
 */
int netd_session_restore(struct netd_daemon *d, uid_t uid, unsigned linger_ms,
                         const char *token_hash, struct netd_session **ret);

/* Frees every session and the handles lingering in them (daemon exit). */
void netd_session_free_all(struct netd_daemon *d);

struct netd_cred;

/*
 * Upgrade (upgrade.c): a session under its old id, token and linger time,
 * the owner of its handles if it lingers (carrier NULL), else carried by
 * carrier. Not armed: netd_session_upgrade_resume() does that. Returns 0 or
 * -ENOMEM.
 */
int netd_session_upgrade_restore(struct netd_daemon *d, uint64_t id, const struct netd_cred *cred,
                                 const char *token, unsigned linger_ms, struct netd_owner *carrier,
                                 struct netd_session **ret);

/* A lingering session's timer, for the left_ms its linger had left at the exec. */
void netd_session_upgrade_resume(struct netd_session *s, int64_t left_ms);
