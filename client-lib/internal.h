/*
 * Declarations shared by the client library's own files, not installed.
 * Symbols here are hidden in libnetdclient.so (no NETD_PUBLIC).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "netd/netd.h"

struct netd_client_error;

/*
 * netd_client_call() of socket.write without a JSON tree: the line goes
 * straight into the output buffer in the compact shape the daemon's fast
 * path reads. encoding NULL: data holds len bytes, sent as base64; else data
 * is len bytes of text in that encoding (UTF-8, JSON-escaped on the way;
 * -EINVAL when it or the encoding name is not valid UTF-8, or the name is
 * over 64 bytes: no encoding has such a name). The caller has checked
 * socket and data.
 */
int netd_clib_call_write(struct netd_client *c, uint64_t socket, const void *data, size_t len,
                         const char *encoding, netd_client_reply_fn cb, void *userdata);

/* The same as netd_client_call_sync() (no result: socket.write gives true). */
int netd_clib_call_write_sync(struct netd_client *c, uint64_t socket, const void *data, size_t len,
                              const char *encoding, int timeout_ms,
                              struct netd_client_error *reterr);

/*
 * netd_client_call_sync() for a reply that carries a descriptor: on success
 * *ret_fd is the reply's descriptor 0 (now the caller's), or -1 if none came
 * with it. On failure no descriptor is left open.
 */
int netd_clib_call_sync_fd(struct netd_client *c, const char *method, json_t *params,
                           int timeout_ms, json_t **ret_result, int *ret_fd,
                           struct netd_client_error *reterr);

/*
 * Fills *ret with a local error (one that never crossed the wire) for the
 * negative errno errnum. data_code NULL derives it from errnum:
 * ERR_NETD_TIMEOUT for -ETIMEDOUT, ERR_NETD_PROTOCOL for -EPROTO, -EMSGSIZE
 * and -EBADMSG, ERR_NETD_DISCONNECTED for the errors of a lost connection,
 * ERR_INVALID_ARG_VALUE for -EINVAL, and the errno's name otherwise.
 * Everything it points to is static.
 */
void netd_clib_error_local(struct netd_client_error *ret, int errnum, const char *data_code);
