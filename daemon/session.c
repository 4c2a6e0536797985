/*
 * Sessions (see session.h). A session is a struct netd_owner of its own
 * (session_owner_ops) that, while no connection carries it, owns the
 * handles and writes every line they produce into an evbuffer with the same
 * writers a connection uses (out.c), so the kept bytes are exactly what the
 * attaching client receives. Its output_length is the kept size, and past
 * limits.session_kept_bytes it sets sockets_paused and accept_paused: the
 * sockets stop reading and the servers stop accepting until an attach.
 * Sessions live in daemon->sessions; the daemon frees them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "auth.h"
#include "daemon.h"
#include "handle.h"
#include "log.h"
#include "out.h"
#include "server.h"
#include "session.h"
#include "sha256.h"
#include "socket.h"

static const char *const session_event_names[_NETD_SESSION_EVENT_MAX] = {
        [NETD_SESSION_CREATED] = "created", [NETD_SESSION_ROTATED] = "rotated",
        [NETD_SESSION_ARMED] = "armed",     [NETD_SESSION_ATTACHED] = "attached",
        [NETD_SESSION_DROPPED] = "dropped",
};

const char *netd_session_event_to_string(enum netd_session_event e)
{
        if (e < 0 || e >= _NETD_SESSION_EVENT_MAX)
                return NULL;
        return session_event_names[e];
}

static const struct netd_owner_ops session_owner_ops;

struct netd_session *netd_session_of(struct netd_owner *o)
{
        return o && o->is_session ? (struct netd_session *)o : NULL;
}

static void session_hook(struct netd_session *s, enum netd_session_event e)
{
        const struct netd_session_hooks *hk = s->o.daemon->session_hooks;

        if (hk && hk->event)
                hk->event(hk->userdata, s, e);
}

/* The owner that holds s's handles now: the connection carrying it, or s itself. */
static struct netd_owner *session_holder(const struct netd_session *s)
{
        return s->conn ? s->conn : (struct netd_owner *)&s->o;
}

/* Applies o's flow state (sockets_paused, accept_paused) to each of its live handles. */
static void session_update_handles(struct netd_owner *o)
{
        struct netd_handle *h;

        TAILQ_FOREACH(h, &o->handles, owner_link) {
                if (h->type == NETD_HANDLE_SOCKET)
                        netd_socket_update_reading((struct netd_socket *)h);
                else
                        netd_server_update_accepting((struct netd_server *)h);
        }
}

/*
 * Gives every handle of from (live and closed), its queued byte count and
 * handle counts to to. A handle still unannounced (its reply was owed to a
 * connection that died, or waits in a batch) is announced to to: the attach
 * reply names it. The per-uid counts do not change: both have the same uid.
 */
static void session_move(struct netd_owner *from, struct netd_owner *to)
{
        struct netd_handle *h;

        TAILQ_FOREACH(h, &from->handles, owner_link)
                h->owner = to;
        TAILQ_FOREACH(h, &from->closed, owner_link)
                h->owner = to;
        TAILQ_FOREACH(h, &from->handles, owner_link)
                if (!h->announced)
                        netd_handle_announce(h);
        TAILQ_FOREACH(h, &from->closed, owner_link)
                if (!h->announced)
                        netd_handle_announce(h);
        TAILQ_CONCAT(&to->handles, &from->handles, owner_link);
        TAILQ_CONCAT(&to->closed, &from->closed, owner_link);
        to->n_handles += from->n_handles;
        to->n_closed += from->n_closed;
        from->n_handles = 0;
        from->n_closed = 0;
        to->queued_bytes += from->queued_bytes;
        from->queued_bytes = 0;
}

/* Frees s: its handles (if any are still its own) go as on a disconnect. */
static void session_free(struct netd_session *s)
{
        struct netd_daemon *d = s->o.daemon;

        s->o.open = false;
        if (s->ev_linger)
                event_del(s->ev_linger);
        netd_handle_release_all(&s->o);
        session_hook(s, NETD_SESSION_DROPPED);
        if (s->conn)
                s->conn->session = NULL;
        TAILQ_REMOVE(&d->sessions, &s->o, link);
        d->n_sessions--;
        if (s->ev_linger)
                event_free(s->ev_linger);
        if (s->kept)
                evbuffer_free(s->kept);
        netd_cred_done(&s->o.cred);
        free(s);
}

static void session_linger_cb(evutil_socket_t fd, short what, void *arg)
{
        struct netd_session *s = arg;

        if (s->o.open) {
                s->o.daemon->stats.sessions_expired++;
                log_info("session#%llu uid=%u: nobody attached within %u ms: destroying %u "
                         "handle(s) (%u closed), %zu bytes of %llu kept event(s) discarded",
                         (unsigned long long)s->o.id, (unsigned)s->o.uid, s->linger_ms,
                         s->o.n_handles, s->o.n_closed, evbuffer_get_length(s->kept),
                         (unsigned long long)s->kept_lines);
        } else {
                log_warning("session#%llu uid=%u: destroying %u handle(s) after a failure",
                            (unsigned long long)s->o.id, (unsigned)s->o.uid, s->o.n_handles);
        }
        session_free(s);
}

/* ---- the owner interface of a lingering session (owner.h) ------------------------------- */

static struct netd_session *session_of_const(const struct netd_owner *o)
{
        return (struct netd_session *)o;
}

/*
 * After a line was kept (r from out.c): a failure loses an event, so the
 * session fails whole (logged, its handles destroyed) rather than go on
 * with a hole; past the budget its sockets and servers pause.
 */
static void session_kept(struct netd_session *s, int r)
{
        const struct netd_limits *l = &s->o.daemon->limits;

        if (r < 0) {
                netd_owner_close(&s->o, "out of memory keeping an event");
                return;
        }
        s->kept_lines++;
        if (!s->o.sockets_paused && evbuffer_get_length(s->kept) > l->session_kept_bytes) {
                s->o.sockets_paused = true;
                s->o.accept_paused = true;
                s->o.daemon->stats.reads_paused++;
                log_info("session#%llu uid=%u: %zu bytes of events kept (session_kept_bytes "
                         "%zu): its sockets stop reading, its servers stop accepting",
                         (unsigned long long)s->o.id, (unsigned)s->o.uid,
                         evbuffer_get_length(s->kept), l->session_kept_bytes);
                session_update_handles(&s->o);
        }
}

static void session_owner_send(struct netd_owner *o, json_t *msg)
{
        struct netd_session *s = (struct netd_session *)o;

        if (!msg) {
                netd_owner_close(o, "out of memory building an event");
                return;
        }
        if (o->open)
                session_kept(s, netd_out_message(s->kept, msg));
        json_decref(msg);
}

static void session_owner_send_result(struct netd_owner *o, json_t *id, json_t *result)
{
        struct netd_session *s = (struct netd_session *)o;

        if (o->open)
                session_kept(s, netd_out_reply(s->kept, id, result));
        json_decref(result);
}

static void session_owner_notify(struct netd_owner *o, const char *method, json_t *params)
{
        struct netd_session *s = (struct netd_session *)o;

        if (!params) {
                netd_owner_close(o, "out of memory building an event");
                return;
        }
        if (o->open)
                session_kept(s, netd_out_event(s->kept, method, params));
        json_decref(params);
}

static int session_owner_send_data(struct netd_owner *o, uint64_t socket, const uint8_t *bytes,
                                   size_t len, const char *text, size_t tlen, const char *encoding)
{
        struct netd_session *s = (struct netd_session *)o;
        int r;

        if (!o->open)
                return 0;
        r = netd_out_data(s->kept, socket, bytes, len, text, tlen, encoding);
        /* -ENOMEM: the caller (socket.c) closes the owner, as for a connection. */
        if (r == 0)
                session_kept(s, r);
        return r;
}

/* A failure (out of memory): the session ends on the next loop turn, logged. */
static void session_owner_close(struct netd_owner *o, const char *reason)
{
        struct netd_session *s = (struct netd_session *)o;

        if (!o->open)
                return;
        o->open = false;
        log_error("session#%llu uid=%u: %s: its events can't all be kept, ending it",
                  (unsigned long long)o->id, (unsigned)o->uid, reason ? reason : "failure");
        event_active(s->ev_linger, EV_TIMEOUT, 0);
}

static int session_owner_take_fd(struct netd_owner *o, size_t index)
{
        return -EBADF;
}

static size_t session_owner_output_length(const struct netd_owner *o)
{
        return evbuffer_get_length(session_of_const(o)->kept);
}

static void session_owner_send_lines(struct netd_owner *o, struct evbuffer *lines)
{
        struct netd_session *s = (struct netd_session *)o;

        if (o->open)
                session_kept(s, evbuffer_add_buffer(s->kept, lines) < 0 ? -ENOMEM : 0);
}

/*
 * Lines that carry a descriptor can't be kept: the kept buffer has no
 * descriptor queue. They don't arise while lingering: an attach server
 * stops accepting then (server.c, PROTOCOL.md §16), and socket.attach's
 * reply is owed to a connection, lost with it like every reply. Should one
 * come anyway it is refused loudly (the descriptor closed: the socket sees
 * its pair end closed, which is its end) instead of kept without it.
 */
static int session_owner_send_result_fd(struct netd_owner *o, json_t *id, json_t *result, int fd)
{
        log_warning("session#%llu: a reply carrying a descriptor can't be kept while lingering",
                    (unsigned long long)o->id);
        close(fd);
        json_decref(result);
        return -EPIPE;
}

static int session_owner_notify_fd(struct netd_owner *o, const char *method, json_t *params, int fd)
{
        log_warning("session#%llu: %s carrying a descriptor can't be kept while lingering",
                    (unsigned long long)o->id, method);
        close(fd);
        json_decref(params);
        return -EPIPE;
}

static const struct netd_owner_ops session_owner_ops = {
        .send_result_fd = session_owner_send_result_fd,
        .notify_fd = session_owner_notify_fd,
        .send = session_owner_send,
        .send_result = session_owner_send_result,
        .notify = session_owner_notify,
        .send_data = session_owner_send_data,
        .close = session_owner_close,
        .take_fd = session_owner_take_fd,
        .output_length = session_owner_output_length,
        .send_lines = session_owner_send_lines,
};

/* ---- detach, attach, orphan -------------------------------------------------------------- */

static int session_cred_copy(const struct netd_cred *from, struct netd_cred *to)
{
        *to = (struct netd_cred){
                .uid = from->uid, .gid = from->gid, .pid = from->pid, .pidfd = -1
        };
        if (from->n_groups > 0) {
                to->groups = malloc(from->n_groups * sizeof(*to->groups));
                if (!to->groups)
                        return -ENOMEM;
                memcpy(to->groups, from->groups, from->n_groups * sizeof(*to->groups));
                to->n_groups = from->n_groups;
        }
        return 0;
}

/* A session of cred (copied), carried by nobody yet, under id (0: the next one). */
static struct netd_session *session_alloc(struct netd_daemon *d, const struct netd_cred *cred,
                                          pid_t pid, uint64_t id)
{
        struct netd_session *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->o.ops = &session_owner_ops;
        s->o.is_session = true;
        s->o.open = true;
        s->o.daemon = d;
        s->o.fd = -1;
        s->o.id = id ? id : ++d->next_conn_id;
        s->o.uid = cred->uid;
        s->o.pid = pid;
        TAILQ_INIT(&s->o.reqs);
        TAILQ_INIT(&s->o.handles);
        TAILQ_INIT(&s->o.closed);
        s->kept = evbuffer_new();
        s->ev_linger = evtimer_new(d->base, session_linger_cb, s);
        if (!s->kept || !s->ev_linger || session_cred_copy(cred, &s->o.cred) < 0) {
                if (s->kept)
                        evbuffer_free(s->kept);
                if (s->ev_linger)
                        event_free(s->ev_linger);
                netd_cred_done(&s->o.cred);
                free(s);
                return NULL;
        }
        TAILQ_INSERT_TAIL(&d->sessions, &s->o, link);
        d->n_sessions++;
        return s;
}

static struct netd_session *session_new(struct netd_owner *c)
{
        struct netd_session *s = session_alloc(c->daemon, &c->cred, c->pid, 0);

        if (!s)
                return NULL;
        s->conn = c;
        c->session = s;
        return s;
}

static int session_new_token(char token[NETD_SESSION_TOKEN_LEN + 1])
{
        static const char hex[] = "0123456789abcdef";
        uint8_t raw[NETD_SESSION_TOKEN_LEN / 2];
        size_t got = 0;

        while (got < sizeof(raw)) {
                ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -EIO;
                got += (size_t)n;
        }
        for (size_t i = 0; i < sizeof(raw); i++) {
                token[2 * i] = hex[raw[i] >> 4];
                token[2 * i + 1] = hex[raw[i] & 15];
        }
        token[NETD_SESSION_TOKEN_LEN] = '\0';
        return 0;
}

/* Sessions of uid that no connection carries. */
static unsigned session_lingering_of_uid(const struct netd_daemon *d, uid_t uid)
{
        const struct netd_owner *o;
        unsigned n = 0;

        TAILQ_FOREACH(o, &d->sessions, link)
                n += o->cred.uid == uid && !((const struct netd_session *)o)->conn;
        return n;
}

int netd_session_detach(struct netd_owner *c, int64_t linger_ms, struct netd_session **ret)
{
        const struct netd_limits *l = &c->daemon->limits;
        char token[NETD_SESSION_TOKEN_LEN + 1];
        struct netd_session *s = c->session;
        bool created = false;

        if (session_new_token(token) < 0)
                return -EIO;
        if (!s && session_lingering_of_uid(c->daemon, c->cred.uid) >=
                          netd_auth_quota(c->daemon, &c->cred, NETD_QUOTA_CLIENTS)) {
                log_notice("conn#%llu uid=%u: netd.detach refused: the uid has as many lingering "
                           "sessions as maxClientsPerUid",
                           (unsigned long long)c->id, (unsigned)c->cred.uid);
                return -EDQUOT;
        }
        if (!s) {
                s = session_new(c);
                if (!s)
                        return -ENOMEM;
                created = true;
                c->daemon->stats.sessions_detached++;
        }
        memcpy(s->token, token, sizeof(token));
        if (linger_ms < 0)
                linger_ms = l->session_linger_ms;
        if (linger_ms > (int64_t)l->session_linger_max_ms)
                linger_ms = l->session_linger_max_ms;
        s->linger_ms = (unsigned)linger_ms;
        log_info("session#%llu uid=%u: %s by conn#%llu, lingerMs %u", (unsigned long long)s->o.id,
                 (unsigned)s->o.uid, created ? "created" : "token rotated",
                 (unsigned long long)c->id, s->linger_ms);
        session_hook(s, created ? NETD_SESSION_CREATED : NETD_SESSION_ROTATED);
        *ret = s;
        return 0;
}

struct netd_session *netd_session_find(struct netd_owner *c, const char *token, size_t len)
{
        char want[NETD_SESSION_TOKEN_LEN] = { 0 };
        struct netd_session *found = NULL;
        char want_hash[64 + 1];
        struct netd_owner *o;

        memcpy(want, token, len < sizeof(want) ? len : sizeof(want));
        netd_sha256_hex(want, sizeof(want), want_hash);
        TAILQ_FOREACH(o, &c->daemon->sessions, link) {
                struct netd_session *s = (struct netd_session *)o;
                unsigned diff = len != NETD_SESSION_TOKEN_LEN;

                /* Every byte is compared: the time says nothing of how much matched. */
                if (s->token[0]) {
                        for (size_t i = 0; i < NETD_SESSION_TOKEN_LEN; i++)
                                diff |= (unsigned char)(s->token[i] ^ want[i]);
                } else {
                        /* Rebuilt after a restart (fdstore.h): only the token's hash is known. */
                        for (size_t i = 0; i < 64; i++)
                                diff |= (unsigned char)(s->token_hash[i] ^ want_hash[i]);
                }
                /* A session ending after a failure (o.open false) can't be taken. */
                if (diff == 0 && s->o.open)
                        found = s;
        }
        if (found && !found->token[0] && found->o.cred.uid == c->cred.uid) {
                memcpy(found->token, want, NETD_SESSION_TOKEN_LEN);
                found->token[NETD_SESSION_TOKEN_LEN] = '\0';
                found->token_hash[0] = '\0';
        }
        if (found && found->o.cred.uid != c->cred.uid)
                found = NULL;
        if (!found)
                c->daemon->stats.attach_refused++;
        return found;
}

int netd_session_may_attach(const struct netd_session *s, const struct netd_owner *c)
{
        const struct netd_owner *holder = session_holder(s);

        if (holder == c)
                return 0;
        if (holder->n_handles > c->daemon->limits.handles_per_conn ||
            c->n_handles > c->daemon->limits.handles_per_conn - holder->n_handles)
                return -EMFILE;
        return 0;
}

json_t *netd_session_handle_ids(const struct netd_session *s)
{
        const struct netd_owner *holder = session_holder(s);
        json_t *ids = json_array();
        struct netd_handle *h;

        if (!ids)
                return NULL;
        TAILQ_FOREACH(h, &holder->handles, owner_link)
                if (json_array_append_new(ids, json_integer((json_int_t)h->id)) < 0)
                        return json_decref(ids), NULL;
        TAILQ_FOREACH(h, &holder->closed, owner_link)
                if (json_array_append_new(ids, json_integer((json_int_t)h->id)) < 0)
                        return json_decref(ids), NULL;
        return ids;
}

void netd_session_attach(struct netd_session *s, struct netd_owner *c)
{
        struct netd_owner *old = s->conn;
        const char *from = old ? "handed over" : "attached";

        if (old == c)
                return;
        /* A connection carries one session: the one it carried until now ends (no handles). */
        if (c->session)
                session_free(c->session);
        if (old) {
                netd_owner_notify(old, "netd.detached", json_pack("{s:s}", "token", s->token));
                old->session = NULL;
                session_move(old, c);
        } else {
                event_del(s->ev_linger);
                s->deadline_ms = 0;
                log_info("session#%llu uid=%u: conn#%llu attached: %u handle(s), %llu kept "
                         "event(s) (%zu bytes)",
                         (unsigned long long)s->o.id, (unsigned)s->o.uid, (unsigned long long)c->id,
                         s->o.n_handles, (unsigned long long)s->kept_lines,
                         evbuffer_get_length(s->kept));
                netd_owner_send_lines(c, s->kept);
                s->kept_lines = 0;
                session_move(&s->o, c);
                s->o.sockets_paused = false;
                s->o.accept_paused = false;
        }
        s->conn = c;
        c->session = s;
        while (c->n_closed > c->daemon->limits.closed_keep)
                netd_handle_free(TAILQ_FIRST(&c->closed));
        session_update_handles(c);
        c->daemon->stats.sessions_attached++;
        if (old)
                log_info("session#%llu uid=%u: %s from conn#%llu to conn#%llu",
                         (unsigned long long)s->o.id, (unsigned)s->o.uid, from,
                         (unsigned long long)old->id, (unsigned long long)c->id);
        session_hook(s, NETD_SESSION_ATTACHED);
}

void netd_session_orphan(struct netd_owner *c, struct evbuffer *unsent)
{
        struct netd_session *s = c->session;
        struct timeval tv;

        if (!s)
                return;
        c->session = NULL;
        s->conn = NULL;
        if (c->daemon->stopping) {
                /* The stop ends every socket anyway: no one could attach. */
                session_free(s);
                return;
        }
        if (unsent && evbuffer_get_length(unsent) > 0)
                netd_owner_send_lines(&s->o, unsent);
        session_move(c, &s->o);
        s->deadline_ms = netd_daemon_now_ms() + s->linger_ms;
        tv = (struct timeval){ s->linger_ms / 1000, (s->linger_ms % 1000) * 1000 };
        event_add(s->ev_linger, &tv);
        log_info("session#%llu uid=%u: conn#%llu ended: %u handle(s) linger for %u ms",
                 (unsigned long long)s->o.id, (unsigned)s->o.uid, (unsigned long long)c->id,
                 s->o.n_handles, s->linger_ms);
        /* What the connection's output paused is the session's budget's now. */
        session_update_handles(&s->o);
        session_hook(s, NETD_SESSION_ARMED);
}

void netd_session_foreach_server(struct netd_session *s,
                                 void (*fn)(struct netd_server *server, void *userdata),
                                 void *userdata)
{
        struct netd_handle *h, *next;

        for (h = TAILQ_FIRST(&session_holder(s)->handles); h; h = next) {
                next = TAILQ_NEXT(h, owner_link);
                if (h->type == NETD_HANDLE_SERVER && ((struct netd_server *)h)->listening)
                        fn((struct netd_server *)h, userdata);
        }
}

int netd_session_restore(struct netd_daemon *d, uid_t uid, unsigned linger_ms,
                         const char *token_hash, struct netd_session **ret)
{
        const struct netd_cred cred = { .uid = uid, .gid = (gid_t)-1, .pid = -1, .pidfd = -1 };
        struct netd_session *s;
        struct netd_owner *o;
        struct timeval tv;

        if (strlen(token_hash) != 64)
                return -EINVAL;
        TAILQ_FOREACH(o, &d->sessions, link) {
                s = (struct netd_session *)o;
                if (!s->token[0] && s->o.cred.uid == uid &&
                    strcmp(s->token_hash, token_hash) == 0) {
                        *ret = s;
                        return 0;
                }
        }
        s = session_alloc(d, &cred, -1, 0);
        if (!s)
                return -ENOMEM;
        memcpy(s->token_hash, token_hash, sizeof(s->token_hash));
        s->linger_ms = linger_ms;
        s->deadline_ms = netd_daemon_now_ms() + linger_ms;
        tv = (struct timeval){ linger_ms / 1000, (linger_ms % 1000) * 1000 };
        event_add(s->ev_linger, &tv);
        log_info("session#%llu uid=%u: rebuilt after a restart, lingering %u ms for an attach",
                 (unsigned long long)s->o.id, (unsigned)uid, linger_ms);
        *ret = s;
        return 0;
}

void netd_session_free_all(struct netd_daemon *d)
{
        struct netd_owner *o;

        while ((o = TAILQ_FIRST(&d->sessions)))
                session_free((struct netd_session *)o);
}

int netd_session_upgrade_restore(struct netd_daemon *d, uint64_t id, const struct netd_cred *cred,
                                 const char *token, unsigned linger_ms, struct netd_owner *carrier,
                                 struct netd_session **ret)
{
        struct netd_session *s = session_alloc(d, cred, cred->pid, id); /* its old id */

        if (!s)
                return -ENOMEM;
        (void)snprintf(s->token, sizeof(s->token), "%s", token);
        s->linger_ms = linger_ms;
        if (carrier) {
                s->conn = carrier;
                carrier->session = s;
        }
        *ret = s;
        return 0;
}

void netd_session_upgrade_resume(struct netd_session *s, int64_t left_ms)
{
        struct timeval tv;

        if (s->conn)
                return;
        if (left_ms < 0)
                left_ms = 0;
        s->deadline_ms = netd_daemon_now_ms() + left_ms;
        tv = (struct timeval){ (time_t)(left_ms / 1000), (suseconds_t)(left_ms % 1000) * 1000 };
        event_add(s->ev_linger, &tv);
}
