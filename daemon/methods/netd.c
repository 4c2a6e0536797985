/* Daemon methods: netd.info and netd.sync. */
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "methods.h"
#include "params.h"
#include "rpc.h"

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
        struct netd_conn *c;

        if (netd_jv_is(params, NETD_JTOK_OBJECT) && netd_jv_tok(params)->size > 0)
                return netd_req_fail_rpc(
                        req, NETD_RPC_INVALID_PARAMS, "Invalid params: netd.info takes none",
                        json_pack("{s:s,s:s}", "code", "ERR_INVALID_ARG_VALUE", "field", "params"));
        /* A user sees its own figures; root and the adminGroup see the daemon's (auth.h). */
        admin = netd_auth_is_admin(d, &req->conn->cred);
        TAILQ_FOREACH(c, &d->conns, link) {
                if (!admin && c->cred.uid != req->conn->cred.uid)
                        continue;
                conns++;
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
        }
        result = json_pack("{s:s,s:i,s:f,s:i,s:{s:i,s:i},s:o,s:s,s:o}", "version", NETD_VERSION,
                           "pid", (int)getpid(), "uptime",
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
