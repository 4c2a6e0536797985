/* Helpers shared by the method handlers. */
#include <errno.h>
#include <stdio.h>

#include "conn.h"
#include "methods.h"
#include "rpc.h"

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

struct netd_handle *netd_method_parse_handle(struct netd_req *req, json_t *params,
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
