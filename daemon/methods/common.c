/* Helpers shared by the method handlers. */
#include <errno.h>
#include <stdio.h>

#include "auth.h"
#include "daemon.h"
#include "log.h"
#include "methods.h"
#include "owner.h"
#include "req.h"
#include "server.h"

struct netd_handle *netd_method_handle(struct netd_req *req, uint64_t id,
                                       enum netd_handle_type type, struct netd_done **ret_done)
{
        struct netd_handle *h = netd_handle_lookup(req->daemon, id);
        char message[128];

        /* Another connection's handle does not exist for this one. */
        if (!h || h->owner != req->conn) {
                (void)snprintf(message, sizeof(message), "No %s with id %llu",
                               netd_handle_type_to_string(type), (unsigned long long)id);
                *ret_done = netd_req_fail_err(req, NETD_ERR_NETD_HANDLE_NOT_FOUND, message);
                return NULL;
        }
        if (h->type != type) {
                (void)snprintf(message, sizeof(message), "Handle %llu is a %s, not a %s",
                               (unsigned long long)id, netd_handle_type_to_string(h->type),
                               netd_handle_type_to_string(type));
                *ret_done = netd_req_fail_err(req, NETD_ERR_NETD_HANDLE_WRONG_TYPE, message);
                return NULL;
        }
        return h;
}

struct netd_handle *netd_method_parse_handle(struct netd_req *req, struct netd_jv params,
                                             const struct netd_param *spec, void *args,
                                             enum netd_handle_type type,
                                             struct netd_done **ret_done)
{
        struct netd_param_error pe;

        if (netd_params_parse(params, spec, args, NULL, &pe) < 0) {
                *ret_done = netd_req_fail_params(req, &pe);
                return NULL;
        }
        return netd_method_handle(req, *(uint64_t *)args, type, ret_done);
}

struct netd_done *netd_method_fail_handle_limit(struct netd_req *req, int r)
{
        json_t *err;

        if (r != -EDQUOT)
                return netd_req_fail_err(req, NETD_ERR_NETD_LIMIT,
                                         "Too many handles on this connection");
        err = netd_nerr(NETD_ERR_NETD_LIMIT, "Too many handles for this user (handlesPerUid)");
        if (err)
                (void)json_object_set_new(err, "limit", json_string("handlesPerUid"));
        return netd_req_fail_node(req, err);
}

int netd_method_lookup_check(struct netd_req *req, json_t **ret_err)
{
        struct netd_daemon *d = req->daemon;
        const struct netd_cred *me = &req->conn->cred;
        unsigned quota = netd_auth_quota(d, me, NETD_QUOTA_LOOKUPS), n = 0;
        struct netd_owner *c;
        struct netd_handle *h;

        if (quota == UINT32_MAX)
                return 0;
        NETD_DAEMON_FOREACH_OWNER(d, c) {
                if (c->cred.uid != me->uid)
                        continue;
                TAILQ_FOREACH(h, &c->handles, owner_link) {
                        if (h->type == NETD_HANDLE_SOCKET)
                                n += ((struct netd_socket *)h)->state == NETD_SOCKET_LOOKUP;
                        else
                                n += ((struct netd_server *)h)->lookup != NULL;
                }
        }
        if (n < quota)
                return 0;
        d->stats.lookups_over_uid++;
        log_notice("conn#%llu uid=%u: lookup refused: the uid has %u in flight (lookupsPerUid)",
                   (unsigned long long)req->conn->id, (unsigned)me->uid, n);
        *ret_err = netd_nerr(NETD_ERR_NETD_LIMIT,
                             "Too many host name lookups in flight for this user (lookupsPerUid)");
        if (*ret_err)
                (void)json_object_set_new(*ret_err, "limit", json_string("lookupsPerUid"));
        return -EDQUOT;
}

struct handle_id_args {
        uint64_t id;
};

struct netd_done *netd_method_on_handle(struct netd_req *req, struct netd_jv params,
                                        const struct netd_param *spec, void *args,
                                        enum netd_handle_type type, netd_handle_method_fn fn)
{
        static const struct netd_param socket_spec[] = {
                NETD_PARAM_REQ("socket", NETD_T_HANDLE, struct handle_id_args, id),
                {},
        };
        static const struct netd_param server_spec[] = {
                NETD_PARAM_REQ("server", NETD_T_HANDLE, struct handle_id_args, id),
                {},
        };
        struct handle_id_args id = { 0 };
        struct netd_done *done;
        struct netd_handle *h;

        if (!spec) {
                spec = type == NETD_HANDLE_SOCKET ? socket_spec : server_spec;
                args = &id;
        }
        h = netd_method_parse_handle(req, params, spec, args, type, &done);
        return h ? fn(req, h, args) : done;
}

int netd_method_parse_connect(struct netd_jv params, const struct netd_param *spec, void *args,
                              const struct netd_connect_args *c, struct netd_param_error *pe)
{
        int r = netd_params_parse(params, spec, args, NULL, pe);

        return r < 0 ? r : netd_method_connect_check(c, pe);
}
