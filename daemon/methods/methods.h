/*
 * Declarations of every method handler (one file per wire object) and the
 * helpers they share. Only dispatch.c calls the handlers.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "handle.h"
#include "params.h"
#include "socket.h"

struct netd_done;
struct netd_req;

/*
 * Finds the handle id of the given type owned by req's connection. On
 * failure completes req (ERR_NETD_HANDLE_NOT_FOUND, or
 * ERR_NETD_HANDLE_WRONG_TYPE) and returns NULL with *ret_done set.
 * A handle of another connection is reported as not found.
 */
struct netd_handle *netd_method_handle(struct netd_req *req, uint64_t id,
                                       enum netd_handle_type type, struct netd_done **ret_done);

/*
 * Completes req for a handle refused by netd_handle_register() or _reopen():
 * r -EMFILE (handles_per_conn) or -EDQUOT (the uid's handlesPerUid), both
 * ERR_NETD_LIMIT.
 */
struct netd_done *netd_method_fail_handle_limit(struct netd_req *req, int r);

/*
 * Before a host name lookup for req's client: 0, or -EDQUOT with *ret_err
 * an ERR_NETD_LIMIT error object when its uid has lookupsPerUid in flight.
 */
int netd_method_lookup_check(struct netd_req *req, json_t **ret_err);

struct netd_socket;

/* socket.connect's options, also part of net.createConnection's. */
struct netd_connect_args {
        int port;             /* -1: not given */
        struct netd_str path; /* IPC: when given, the TCP options are ignored (Node) */
        struct netd_str host; /* NULL: "localhost", as in Node */
        int64_t timeout;      /* ms, 0: none (socket.setTimeout before connecting) */
        int64_t family;       /* 0, 4 or 6 */
        int64_t hints;        /* Node's dns hints: ADDRCONFIG 1024, V4MAPPED 2048, ALL 256 */
        struct netd_str local_address;
        int local_port;
        bool auto_select_family;
        int64_t attempt_timeout; /* autoSelectFamilyAttemptTimeout, ms */
};

/* The defaults of netd_connect_args (Node's: autoSelectFamily on). */
#define NETD_CONNECT_ARGS_INIT                                     \
        {                                                          \
                .port = -1, .auto_select_family = true,            \
                .attempt_timeout = NETD_ATTEMPT_TIMEOUT_MS_DEFAULT \
        }

/* Validates c; returns 0, or -EINVAL with *pe naming the bad option. */
int netd_method_connect_check(const struct netd_connect_args *c, struct netd_param_error *pe);

/*
 * Parses a connect's params per spec into args, then checks the connect
 * options c (inside args) with netd_method_connect_check(). 0 or -EINVAL.
 */
int netd_method_parse_connect(struct netd_jv params, const struct netd_param *spec, void *args,
                              const struct netd_connect_args *c, struct netd_param_error *pe);

/*
 * Starts connecting s (c validated; reopening it after a close); replies
 * with result (stolen) at once, the outcome following as events.
 */
struct netd_done *netd_method_connect(struct netd_req *req, struct netd_socket *s,
                                      const struct netd_connect_args *c, json_t *result);

/*
 * Parses params per spec into args, whose first member must be the
 * uint64_t id named by spec[0], then finds that handle as
 * netd_method_handle() does. On failure completes req and returns NULL
 * with *ret_done set.
 */
struct netd_handle *netd_method_parse_handle(struct netd_req *req, struct netd_jv params,
                                             const struct netd_param *spec, void *args,
                                             enum netd_handle_type type,
                                             struct netd_done **ret_done);

/* What a method on one handle does once it is found: h of the type asked, args as parsed. */
typedef struct netd_done *(*netd_handle_method_fn)(struct netd_req *req, struct netd_handle *h,
                                                   const void *args);

/*
 * The preamble every method on one handle shares: parses params per spec
 * into args (whose first member is the uint64_t id spec[0] names; NULL spec
 * and args: the params are just {"socket":N} or {"server":N}), finds that
 * handle as netd_method_handle() does and returns fn's result. On a
 * failure req is completed and fn is not called.
 */
struct netd_done *netd_method_on_handle(struct netd_req *req, struct netd_jv params,
                                        const struct netd_param *spec, void *args,
                                        enum netd_handle_type type, netd_handle_method_fn fn);

#define NETD_METHOD(fn) struct netd_done *fn(struct netd_req *req, struct netd_jv params)

NETD_METHOD(m_net_create_connection);
NETD_METHOD(m_net_create_server);
NETD_METHOD(m_net_is_ip);
NETD_METHOD(m_net_is_ipv4);
NETD_METHOD(m_net_is_ipv6);
NETD_METHOD(m_net_socket);
NETD_METHOD(m_netd_info);
NETD_METHOD(m_netd_sync);
NETD_METHOD(m_netd_attach);
NETD_METHOD(m_netd_close);
NETD_METHOD(m_netd_detach);
NETD_METHOD(m_netd_handles);
NETD_METHOD(m_netd_subscribe);
NETD_METHOD(m_netd_unsubscribe);
NETD_METHOD(m_rpc_discover);
NETD_METHOD(m_server_listen);
NETD_METHOD(m_server_set);
NETD_METHOD(m_socket_connect);
NETD_METHOD(m_socket_set_timeout);
NETD_METHOD(m_socket_destroy);
NETD_METHOD(m_socket_end);
NETD_METHOD(m_socket_set_encoding);
NETD_METHOD(m_socket_set_keep_alive);
NETD_METHOD(m_socket_set_no_delay);
NETD_METHOD(m_socket_write);

/* Methods on one handle whose params are only {"socket":N} or {"server":N} (dispatch.c). */
#define NETD_HANDLE_METHOD(fn) \
        struct netd_done *fn(struct netd_req *req, struct netd_handle *h, const void *args)

NETD_HANDLE_METHOD(m_server_address);
NETD_HANDLE_METHOD(m_server_close);
NETD_HANDLE_METHOD(m_server_get);
NETD_HANDLE_METHOD(m_server_get_connections);
NETD_HANDLE_METHOD(m_server_ref);
NETD_HANDLE_METHOD(m_server_unref);
NETD_HANDLE_METHOD(m_socket_address);
NETD_HANDLE_METHOD(m_socket_get);
NETD_HANDLE_METHOD(m_socket_pause);
NETD_HANDLE_METHOD(m_socket_ref);
NETD_HANDLE_METHOD(m_socket_reset_and_destroy);
NETD_HANDLE_METHOD(m_socket_resume);
NETD_HANDLE_METHOD(m_socket_unref);
