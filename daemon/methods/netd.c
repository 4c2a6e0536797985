/*
 * Daemon methods: netd.info, netd.sync, rpc.discover, and for netctl's ls
 * and monitor netd.handles (a listing) and netd.subscribe/netd.unsubscribe
 * (observers, observe.c).
 */
#include <errno.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "fdstore.h"
#include "log.h"
#include "methods.h"
#include "notify.h"
#include "observe.h"
#include "owner.h"
#include "params.h"
#include "req.h"
#include "server.h"
#include "session.h"
#include "socket.h"
#include "upgrade.h"

struct netd_done *m_netd_info(struct netd_req *req, struct netd_jv params)
{
        const struct netd_daemon *d = req->daemon;
        const struct netd_limits *l = &d->limits;
        const struct netd_stats *st = &d->stats;
        unsigned servers = 0, sockets = 0, conns = 0;
        const struct netd_cred *me = &req->conn->cred;
        json_t *result, *user;
        bool admin;
        json_t *limits, *stats;
        struct netd_handle *h;
        struct netd_owner *c;

        if (netd_jv_is(params, NETD_JTOK_OBJECT) && netd_jv_tok(params)->size > 0)
                return netd_req_fail_rpc(
                        req, NETD_RPC_INVALID_PARAMS, "Invalid params: netd.info takes none",
                        json_pack("{s:s,s:s}", "code", "ERR_INVALID_ARG_VALUE", "field", "params"));
        /* A user sees its own figures; root and the adminGroup see the daemon's (auth.h). */
        admin = netd_auth_is_admin(d, &req->conn->cred);
        NETD_DAEMON_FOREACH_OWNER(d, c) {
                if (!admin && c->cred.uid != req->conn->cred.uid)
                        continue;
                conns += !c->is_session;
                TAILQ_FOREACH(h, &c->handles, owner_link) {
                        if (h->type == NETD_HANDLE_SERVER)
                                servers++;
                        else
                                sockets++;
                }
        }
        limits = json_pack(
                "{s:I,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:I,s:I,s:I,"
                "s:I}",
                "frameMaxBytes", (json_int_t)l->frame_max_bytes, "reqsPerEvent",
                (int)l->reqs_per_event, "batchMax", (int)l->batch_max, "inflightMax",
                (int)l->inflight_max, "maxClients", (int)l->max_clients, "maxClientsPerUid",
                (int)l->max_clients_per_uid, "handlesPerConn", (int)l->handles_per_conn,
                "closedKeep", (int)l->closed_keep, "fdReserve", (int)l->fd_reserve, "parseMaxBytes",
                (json_int_t)l->parse_max_bytes, "outHighBytes", (json_int_t)l->out_high_bytes,
                "outLowBytes", (json_int_t)l->out_low_bytes, "outHardBytes",
                (json_int_t)l->out_hard_bytes, "readChunkBytes", (json_int_t)l->read_chunk_bytes,
                "highWaterMark", (json_int_t)l->write_high_bytes, "writeHardBytes",
                (json_int_t)l->write_hard_bytes, "stallTimeoutMs", (int)l->stall_timeout_ms,
                "handlesPerUid", (json_int_t)l->handles_per_uid, "reservedClients",
                (json_int_t)l->reserved_clients, "lookupsPerUid", (json_int_t)l->lookups_per_uid,
                "bufferedBytesPerUid", (json_int_t)l->buffered_per_uid);
        user = json_pack("{s:I,s:I,s:b,s:I,s:I,s:I,s:I}", "uid", (json_int_t)me->uid, "gid",
                         (json_int_t)me->gid, "admin", admin, "handlesPerUid",
                         (json_int_t)netd_auth_quota(d, me, NETD_QUOTA_HANDLES), "maxClientsPerUid",
                         (json_int_t)netd_auth_quota(d, me, NETD_QUOTA_CLIENTS), "lookupsPerUid",
                         (json_int_t)netd_auth_quota(d, me, NETD_QUOTA_LOOKUPS),
                         "bufferedBytesPerUid",
                         (json_int_t)netd_auth_quota(d, me, NETD_QUOTA_BUFFERED));
        if (limits) {
                json_object_set_new(limits, "connWriteBytes",
                                    json_integer((json_int_t)l->conn_write_bytes));
                json_object_set_new(limits, "totalWriteBytes",
                                    json_integer((json_int_t)l->total_write_bytes));
                json_object_set_new(limits, "lookupsPerConn", json_integer(l->lookups_per_conn));
                json_object_set_new(limits, "lookupsMax", json_integer(l->lookups_max));
                json_object_set_new(limits, "stopGraceMs", json_integer(l->stop_grace_ms));
                json_object_set_new(limits, "sessionLingerMs", json_integer(l->session_linger_ms));
                json_object_set_new(limits, "sessionLingerMaxMs",
                                    json_integer(l->session_linger_max_ms));
                json_object_set_new(limits, "sessionKeptBytes",
                                    json_integer((json_int_t)l->session_kept_bytes));
        }
        result = json_pack("{s:s,s:i,s:f,s:i,s:{s:i,s:i},s:o,s:s,s:o}", "version",
                           netd_build_version, "pid", (int)getpid(), "uptime",
                           (double)(long long)(netd_daemon_uptime(d) * 1000) / 1000, "connections",
                           (int)conns, "handles", "servers", (int)servers, "sockets", (int)sockets,
                           "limits", limits, "scope", admin ? "all" : "user", "user", user);
        if (!admin || !result)
                return netd_req_ok(req, result); /* the daemon's counters are everyone's */
        stats = json_pack(
                "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
                "s:I,s:I,s:I}",
                "connsAccepted", (json_int_t)st->conns_accepted, "connsRejected",
                (json_int_t)st->conns_rejected, "connsRejectedUid",
                (json_int_t)st->conns_rejected_uid, "connsStalled", (json_int_t)st->conns_stalled,
                "requests", (json_int_t)st->requests, "errors", (json_int_t)st->errors,
                "oversizeLines", (json_int_t)st->oversize_lines, "parseOverBudget",
                (json_int_t)st->parse_over_budget, "inputHeld", (json_int_t)st->input_held,
                "handlesCreated", (json_int_t)st->handles_created, "fdRefused",
                (json_int_t)st->fd_refused, "fdsOpen", (json_int_t)d->fds_open, "fdsMax",
                (json_int_t)d->fds_max, "bytesIn", (json_int_t)st->bytes_in, "bytesOut",
                (json_int_t)st->bytes_out, "readsPaused", (json_int_t)st->reads_paused, "yields",
                (json_int_t)st->yields, "handlesRefused", (json_int_t)st->handles_refused,
                "acceptPaused", (json_int_t)st->accept_paused, "handlesRefusedUid",
                (json_int_t)st->handles_over_uid, "permissionDenied", (json_int_t)st->perm_denied,
                "lookupsRefusedUid", (json_int_t)st->lookups_over_uid, "buffersOverUid",
                (json_int_t)st->buffers_over_uid);
        if (stats) {
                json_object_set_new(stats, "queuedBytes",
                                    json_integer((json_int_t)d->queued_bytes));
                json_object_set_new(stats, "writesRefused",
                                    json_integer((json_int_t)st->writes_refused));
                json_object_set_new(stats, "socketsLimited",
                                    json_integer((json_int_t)st->sockets_limited));
                json_object_set_new(stats, "inflightRefused",
                                    json_integer((json_int_t)st->inflight_refused));
                json_object_set_new(stats, "requestsDropped",
                                    json_integer((json_int_t)st->requests_dropped));
                json_object_set_new(stats, "lookupsQueued",
                                    json_integer((json_int_t)st->lookups_queued));
                json_object_set_new(stats, "sessions", json_integer(d->n_sessions));
                /* Under systemd (notify.h, fdstore.h); both 0 outside it. */
                json_object_set_new(stats, "fdStored",
                                    json_integer((json_int_t)netd_fdstore_count(d)));
                json_object_set_new(stats, "watchdogUsec",
                                    json_integer((json_int_t)netd_notify_watchdog_usec(d->notify)));
                json_object_set_new(stats, "sessionsDetached",
                                    json_integer((json_int_t)st->sessions_detached));
                json_object_set_new(stats, "sessionsAttached",
                                    json_integer((json_int_t)st->sessions_attached));
                json_object_set_new(stats, "sessionsExpired",
                                    json_integer((json_int_t)st->sessions_expired));
                json_object_set_new(stats, "attachRefused",
                                    json_integer((json_int_t)st->attach_refused));
                json_object_set_new(stats, "upgrades", json_integer((json_int_t)st->upgrades));
                json_object_set_new(stats, "upgradesFailed",
                                    json_integer((json_int_t)st->upgrades_failed));
        }
        (void)json_object_set_new(result, "stats", stats);
        (void)json_object_set_new(
                result, "policy",
                json_pack("{s:o,s:i,s:i}", "path",
                          d->policy && d->policy->path ? json_string(d->policy->path) : json_null(),
                          "generation", d->policy ? (int)d->policy->generation : 0, "reloadErrors",
                          (int)d->policy_errors));
        return netd_req_ok(req, result);
}

/* proto/netd.openrpc.json, embedded at build time (cmake/embed.cmake). */
extern const unsigned char netd_openrpc_json[];
extern const size_t netd_openrpc_json_len;

struct netd_done *m_rpc_discover(struct netd_req *req, struct netd_jv params)
{
        json_error_t jerr;
        json_t *doc;

        if (netd_jv_is(params, NETD_JTOK_OBJECT) && netd_jv_tok(params)->size > 0)
                return netd_req_fail_rpc(
                        req, NETD_RPC_INVALID_PARAMS, "Invalid params: rpc.discover takes none",
                        json_pack("{s:s,s:s}", "code", "ERR_INVALID_ARG_VALUE", "field", "params"));
        /* Parsed per call: it is asked for rarely, and a copy kept around would be 40 KiB. */
        doc = json_loadb((const char *)netd_openrpc_json, netd_openrpc_json_len, 0, &jerr);
        if (!doc)
                return netd_req_fail_rpc(req, NETD_RPC_INTERNAL_ERROR,
                                         "Internal error: the embedded schema does not parse",
                                         NULL);
        return netd_req_ok(req, doc);
}

struct netd_done *m_netd_sync(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param none[] = { {} };
        struct netd_param_error pe;

        if (netd_params_parse(params, none, NULL, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        /* Every notification already queued precedes this reply in the one output queue. */
        return netd_req_ok_true(req);
}

/* ---- netd.handles, netd.subscribe, netd.unsubscribe (netctl ls / monitor) ---------------- */

/* A path (maybe abstract: a leading NUL) as JSON, or null. */
static json_t *path_json(const char *path, size_t len)
{
        return path ? json_stringn(path, len) : json_null();
}

/* One row of netd.handles for h, whose owner is c. */
static json_t *handle_row(struct netd_handle *h, struct netd_owner *c)
{
        json_t *row = json_pack("{s:I,s:s,s:{s:i,s:i,s:I}}", "id", (json_int_t)h->id, "kind",
                                netd_handle_type_to_string(h->type), "owner", "uid", (int)c->uid,
                                "pid", (int)c->pid, "conn", (json_int_t)c->id);

        if (!row)
                return NULL;
        /* A lingering session holds it (session.h): no client does. */
        if (c->is_session)
                json_object_set_new(json_object_get(row, "owner"), "lingering", json_true());
        if (h->type == NETD_HANDLE_SERVER) {
                struct netd_server *s = (struct netd_server *)h;
                json_t *addr = netd_server_address(s);

                json_object_set_new(row, "state",
                                    json_string(s->listening ? "listening"
                                                : s->closing ? "closing"
                                                             : "idle"));
                json_object_set_new(row, "local", addr ? addr : json_null());
                json_object_set_new(row, "remote", json_null());
                json_object_set_new(row, "connections", json_integer(s->connections));
                json_object_set_new(row, "accepted", json_integer((json_int_t)s->accepted));
                json_object_set_new(row, "bytesRead", json_integer(0));
                json_object_set_new(row, "bytesWritten", json_integer(0));
                json_object_set_new(row, "bufferSize", json_integer(0));
                json_object_set_new(row, "server", json_null());
        } else {
                struct netd_socket *s = (struct netd_socket *)h;
                bool ipc = s->path != NULL;

                json_object_set_new(row, "state", json_string(netd_socket_ready_state(s)));
                json_object_set_new(row, "local",
                                    ipc || s->local.family == 0 ? json_null()
                                                                : netd_addr_to_json(&s->local));
                json_object_set_new(row, "remote",
                                    ipc                     ? path_json(s->path, s->path_len)
                                    : s->remote.family == 0 ? json_null()
                                                            : netd_addr_to_json(&s->remote));
                json_object_set_new(row, "bytesRead", json_integer((json_int_t)s->bytes_read));
                json_object_set_new(row, "bytesWritten", json_integer((json_int_t)s->queued));
                json_object_set_new(row, "bufferSize",
                                    json_integer((json_int_t)(s->queued - s->flushed)));
                json_object_set_new(row, "server",
                                    s->server ? json_integer((json_int_t)s->server) : json_null());
        }
        return row;
}

struct netd_done *m_netd_handles(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param none[] = { {} };
        struct netd_param_error pe;
        struct netd_handle *h;
        struct netd_owner *c;
        json_t *rows;

        if (netd_params_parse(params, none, NULL, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        rows = json_array();
        if (!rows)
                return netd_req_fail_errno(req, ENOMEM, "handles", NULL, -1);
        /* Every live handle the caller may see: its own uid's, or all for root. */
        NETD_DAEMON_FOREACH_OWNER(req->daemon, c)
                TAILQ_FOREACH(h, &c->handles, owner_link) {
                        json_t *row;

                        if (!req->conn || !netd_observe_allowed(req->conn, h))
                                continue;
                        row = handle_row(h, c);
                        if (!row || json_array_append_new(rows, row) < 0) {
                                json_decref(rows);
                                return netd_req_fail_errno(req, ENOMEM, "handles", NULL, -1);
                        }
                }
        return netd_req_ok(req, json_pack("{s:o}", "handles", rows));
}

static struct netd_done *fail_field(struct netd_req *req, const char *code, const char *field,
                                    const char *message)
{
        return netd_req_fail_rpc(req, NETD_RPC_INVALID_PARAMS, message,
                                 json_pack("{s:s,s:s}", "code", code, "field", field));
}

/* The reply to netd.subscribe once netd_observe_add() said r (field: the bad member's name). */
static struct netd_done *subscribe_reply(struct netd_req *req, int64_t r, const char *field)
{
        switch (r) {
        case -EINVAL:
                return fail_field(req, "ERR_INVALID_ARG_VALUE", field ? field : "params",
                                  "Invalid params: handles is an array of ids, kinds of \"server\" "
                                  "or \"socket\", events of server.* or socket.* names");
        case -ENOENT:
                return netd_req_fail_err(req, NETD_ERR_NETD_HANDLE_NOT_FOUND, NULL);
        case -EPERM:
                return netd_req_fail_err(req, NETD_ERR_NETD_PERMISSION,
                                         "Only the handle owner's user or root may observe it");
        case -EMFILE:
                return netd_req_fail_err(req, NETD_ERR_NETD_LIMIT,
                                         "Too many subscriptions on this connection");
        default:
                break;
        }
        if (r < 0)
                return netd_req_fail_errno(req, (int)-r, "subscribe", NULL, -1);
        return netd_req_ok(req, json_pack("{s:I}", "subscription", (json_int_t)r));
}

struct netd_done *m_netd_subscribe(struct netd_req *req, struct netd_jv params)
{
        const char *field = NULL;
        struct netd_done *done;
        json_t *filters;

        if (params.i >= 0 && !netd_jv_is(params, NETD_JTOK_OBJECT))
                return fail_field(req, "ERR_INVALID_ARG_TYPE", "params",
                                  "Invalid params: an object is expected");
        if (!req->conn)
                return netd_req_fail_errno(req, ENOTCONN, "subscribe", NULL, -1);
        /* The filters as a tree, read by observe.c (never echoed or copied back). */
        filters = netd_jv_tree(params);
        if (params.i >= 0 && !filters)
                return netd_req_fail_errno(req, ENOMEM, "subscribe", NULL, -1);
        /* field may point into filters: the reply is made before they go. */
        done = subscribe_reply(req, netd_observe_add(req->conn, filters, &field), field);
        json_decref(filters);
        return done;
}

struct unsubscribe_args {
        uint64_t subscription;
};

struct netd_done *m_netd_unsubscribe(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("subscription", NETD_T_HANDLE, struct unsubscribe_args,
                               subscription),
                {},
        };
        struct unsubscribe_args a = { 0 };
        struct netd_param_error pe;
        int64_t missed;

        if (netd_params_parse(params, spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        missed = req->conn ? netd_observe_remove(req->conn, a.subscription) : -ENOENT;
        if (missed < 0)
                return netd_req_fail_err(req, NETD_ERR_NETD_HANDLE_NOT_FOUND,
                                         "No such subscription on this connection");
        return netd_req_ok(req, json_pack("{s:I}", "missed", (json_int_t)missed));
}

struct close_args {
        uint64_t handle;
};

/*
 * netd.close {handle}: netctl close. Closes a handle of any connection of
 * the caller's user (root: any): a socket is destroyed at once (its owner
 * gets socket.close), a server closes as by server.close, whose reply this
 * is (once its last connection has closed).
 */
struct netd_done *m_netd_close(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("handle", NETD_T_HANDLE, struct close_args, handle),
                {},
        };
        struct close_args a = { 0 };
        struct netd_param_error pe;
        struct netd_handle *h;

        if (netd_params_parse(params, spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        h = netd_handle_lookup(req->daemon, a.handle);
        if (!h || !h->owner || h->closed)
                return netd_req_fail_err(req, NETD_ERR_NETD_HANDLE_NOT_FOUND, NULL);
        if (!req->conn || !netd_observe_allowed(req->conn, h))
                return netd_req_fail_err(req, NETD_ERR_NETD_PERMISSION,
                                         "Only the handle owner's user or root may close it");
        if (h->type == NETD_HANDLE_SERVER) {
                netd_server_close((struct netd_server *)h, req);
                return netd_req_pending(req);
        }
        netd_socket_destroy((struct netd_socket *)h, NULL);
        return netd_req_ok_true(req);
}

struct netd_done *m_netd_upgrade(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param none[] = { {} };
        struct netd_param_error pe;

        if (netd_params_parse(params, none, NULL, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        /* Root and netd's own user only: the same people who could send SIGUSR2. */
        if (req->conn->cred.uid != 0 && req->conn->cred.uid != geteuid())
                return netd_req_fail_err(req, NETD_ERR_NETD_PERMISSION,
                                         "netd.upgrade is for root and netd's own user");
        /* A batch's replies go out together: this one would wait for the exec, and hold it. */
        if (req->batch)
                return netd_req_fail_err(req, NETD_ERR_NETD_UPGRADE,
                                         "netd.upgrade can't be part of a batch");
        /* Answered by the new binary once it serves, or here with the reason it was refused. */
        netd_upgrade_begin(req->daemon, req);
        return netd_req_pending(req);
}

/* ---- netd.detach, netd.attach (sessions, session.h) -------------------------------------- */

struct detach_args {
        int64_t linger_ms;
};

/*
 * netd.detach {lingerMs}: from now on this connection's handles outlive it
 * by lingerMs, waiting for netd.attach with the token. Again: a new token
 * (the old one stops working) and lingerMs.
 */
struct netd_done *m_netd_detach(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_INT("lingerMs", false, struct detach_args, linger_ms, 0,
                               (int64_t)1 << 53),
                {},
        };
        struct detach_args a = { .linger_ms = -1 };
        struct netd_param_error pe;
        struct netd_session *s;
        int r;

        if (netd_params_parse(params, spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        if (!req->conn)
                return netd_req_fail_errno(req, ENOTCONN, "detach", NULL, -1);
        r = netd_session_detach(req->conn, a.linger_ms, &s);
        if (r == -EDQUOT) {
                json_t *err =
                        netd_nerr(NETD_ERR_NETD_LIMIT, "Too many lingering sessions for this user "
                                                       "(maxClientsPerUid)");

                if (err)
                        (void)json_object_set_new(err, "limit", json_string("maxClientsPerUid"));
                return netd_req_fail_node(req, err);
        }
        if (r < 0)
                return netd_req_fail_errno(req, -r, "detach", NULL, -1);
        return netd_req_ok(req, json_pack("{s:s,s:I}", "token", s->token, "lingerMs",
                                          (json_int_t)s->linger_ms));
}

struct attach_args {
        struct netd_str token;
};

/*
 * netd.attach {token}: takes the session's handles (from a lingering
 * session, or from the live connection carrying it: a handover). The reply
 * goes first, then the kept events, then live ones, so it can't wait in a
 * batch behind other replies.
 */
struct netd_done *m_netd_attach(struct netd_req *req, struct netd_jv params)
{
        static const struct netd_param spec[] = {
                NETD_PARAM_REQ("token", NETD_T_STRING, struct attach_args, token),
                {},
        };
        struct attach_args a = { 0 };
        struct netd_param_error pe;
        struct netd_owner *c = req->conn;
        struct netd_done *done;
        struct netd_session *s;
        json_t *ids;

        if (netd_params_parse(params, spec, &a, NULL, &pe) < 0)
                return netd_req_fail_params(req, &pe);
        if (req->batch)
                return netd_req_fail_rpc(
                        req, NETD_RPC_INVALID_REQUEST,
                        "Invalid Request: netd.attach can't be part of a batch (its reply "
                        "precedes the kept events)",
                        NULL);
        if (!c)
                return netd_req_fail_errno(req, ENOTCONN, "attach", NULL, -1);
        s = netd_session_find(c, a.token.s, a.token.len);
        if (!s) {
                req->daemon->stats.perm_denied++;
                log_notice("conn#%llu uid=%u: netd.attach refused: no session of this user has "
                           "that token",
                           (unsigned long long)c->id, (unsigned)c->uid);
                return netd_req_fail_err(req, NETD_ERR_NETD_PERMISSION,
                                         "No session of this user has that token");
        }
        if (netd_session_may_attach(s, c) < 0) {
                json_t *err = netd_nerr(NETD_ERR_NETD_LIMIT,
                                        "Attaching would pass handlesPerConn live handles");

                if (err)
                        (void)json_object_set_new(err, "limit", json_string("handlesPerConn"));
                return netd_req_fail_node(req, err);
        }
        ids = netd_session_handle_ids(s);
        if (!ids)
                return netd_req_fail_errno(req, ENOMEM, "attach", NULL, -1);
        /* The reply goes out first (netd_req_ok() frees req), the kept events after it. */
        done = netd_req_ok(req, json_pack("{s:o}", "handles", ids));
        netd_session_attach(s, c);
        return done;
}
