/*
 * Declarations shared by the client library's own files, not installed.
 * Symbols here are hidden in libnetdclient.so (no NETD_PUBLIC).
 */
#pragma once

#include <stddef.h>

struct netd_client_error;

/*
 * Fills *ret with a local error (one that never crossed the wire) for the
 * negative errno errnum. data_code NULL derives it from errnum:
 * ERR_NETD_TIMEOUT for -ETIMEDOUT, ERR_NETD_PROTOCOL for -EPROTO, -EMSGSIZE
 * and -EBADMSG, ERR_NETD_DISCONNECTED for the errors of a lost connection,
 * ERR_INVALID_ARG_VALUE for -EINVAL, and the errno's name otherwise.
 * Everything it points to is static.
 */
void netd_clib_error_local(struct netd_client_error *ret, int errnum, const char *data_code);
