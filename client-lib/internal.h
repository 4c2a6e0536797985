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
 * netd_client_call() of socket.write {socket, data: base64 of data,
 * encoding: "base64"} without a JSON tree: the line goes straight into the
 * output buffer, the payload encoded in place, in the compact shape the
 * daemon's fast path reads. The caller has checked socket and data.
 */
int netd_clib_call_write(struct netd_client *c, uint64_t socket, const void *data, size_t len,
                         netd_client_reply_fn cb, void *userdata);

/*
 * Fills *ret with a local error (one that never crossed the wire) for the
 * negative errno errnum. data_code NULL derives it from errnum:
 * ERR_NETD_TIMEOUT for -ETIMEDOUT, ERR_NETD_PROTOCOL for -EPROTO, -EMSGSIZE
 * and -EBADMSG, ERR_NETD_DISCONNECTED for the errors of a lost connection,
 * ERR_INVALID_ARG_VALUE for -EINVAL, and the errno's name otherwise.
 * Everything it points to is static.
 */
void netd_clib_error_local(struct netd_client_error *ret, int errnum, const char *data_code);
