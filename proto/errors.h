/*
 * The names of every error netd puts on the wire. NETD_ERRNO_MAP lists the
 * system errors with libuv's wording (so messages read like Node's), and
 * NETD_ERR_MAP the non-errno codes, under Node's names where Node has one.
 * Shared by the daemon and the client library.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>

/* JSON-RPC 2.0 codes, plus netd's two server-range codes. */
#define NETD_RPC_PARSE_ERROR      (-32700)
#define NETD_RPC_INVALID_REQUEST  (-32600)
#define NETD_RPC_METHOD_NOT_FOUND (-32601)
#define NETD_RPC_INVALID_PARAMS   (-32602)
#define NETD_RPC_INTERNAL_ERROR   (-32603)
#define NETD_RPC_SYSTEM_ERROR     (-32000) /* data.code is an errno name */
#define NETD_RPC_NETD_ERROR       (-32001) /* data.code is an ERR_* name */

/* XX(name, uv_strerror text), after libuv's UV_ERRNO_MAP. */
#define NETD_ERRNO_MAP(XX)                                             \
        XX(E2BIG, "argument list too long")                            \
        XX(EACCES, "permission denied")                                \
        XX(EADDRINUSE, "address already in use")                       \
        XX(EADDRNOTAVAIL, "address not available")                     \
        XX(EAFNOSUPPORT, "address family not supported")               \
        XX(EAGAIN, "resource temporarily unavailable")                 \
        XX(EALREADY, "connection already in progress")                 \
        XX(EBADF, "bad file descriptor")                               \
        XX(EBUSY, "resource busy or locked")                           \
        XX(ECANCELED, "operation canceled")                            \
        XX(ECONNABORTED, "software caused connection abort")           \
        XX(ECONNREFUSED, "connection refused")                         \
        XX(ECONNRESET, "connection reset by peer")                     \
        XX(EDESTADDRREQ, "destination address required")               \
        XX(EEXIST, "file already exists")                              \
        XX(EFAULT, "bad address in system call argument")              \
        XX(EHOSTDOWN, "host is down")                                  \
        XX(EHOSTUNREACH, "host is unreachable")                        \
        XX(EINTR, "interrupted system call")                           \
        XX(EINVAL, "invalid argument")                                 \
        XX(EIO, "i/o error")                                           \
        XX(EISCONN, "socket is already connected")                     \
        XX(EISDIR, "illegal operation on a directory")                 \
        XX(ELOOP, "too many symbolic links encountered")               \
        XX(EMFILE, "too many open files")                              \
        XX(EMSGSIZE, "message too long")                               \
        XX(ENAMETOOLONG, "name too long")                              \
        XX(ENETDOWN, "network is down")                                \
        XX(ENETUNREACH, "network is unreachable")                      \
        XX(ENFILE, "file table overflow")                              \
        XX(ENOBUFS, "no buffer space available")                       \
        XX(ENODEV, "no such device")                                   \
        XX(ENOENT, "no such file or directory")                        \
        XX(ENOMEM, "not enough memory")                                \
        XX(ENOPROTOOPT, "protocol not available")                      \
        XX(ENOSPC, "no space left on device")                          \
        XX(ENOSYS, "function not implemented")                         \
        XX(ENOTCONN, "socket is not connected")                        \
        XX(ENOTDIR, "not a directory")                                 \
        XX(ENOTEMPTY, "directory not empty")                           \
        XX(ENOTSOCK, "socket operation on non-socket")                 \
        XX(ENOTSUP, "operation not supported on socket")               \
        XX(EOVERFLOW, "value too large for defined data type")         \
        XX(EPERM, "operation not permitted")                           \
        XX(EPIPE, "broken pipe")                                       \
        XX(EPROTO, "protocol error")                                   \
        XX(EPROTONOSUPPORT, "protocol not supported")                  \
        XX(EPROTOTYPE, "protocol wrong type for socket")               \
        XX(ERANGE, "result too large")                                 \
        XX(EROFS, "read-only file system")                             \
        XX(ESHUTDOWN, "cannot send after transport endpoint shutdown") \
        XX(ESPIPE, "invalid seek")                                     \
        XX(ESRCH, "no such process")                                   \
        XX(ETIMEDOUT, "connection timed out")                          \
        XX(ETXTBSY, "text file is busy")                               \
        XX(EXDEV, "cross-device link not permitted")

/* Non-errno codes: XX(name, default message). */
#define NETD_ERR_MAP(XX)                                                                   \
        XX(ERR_INVALID_ARG_TYPE, "The argument has the wrong type")                        \
        XX(ERR_INVALID_ARG_VALUE, "The argument is invalid")                               \
        XX(ERR_MISSING_ARGS, "A required argument is missing")                             \
        XX(ERR_OUT_OF_RANGE, "The value is out of range")                                  \
        XX(ERR_SOCKET_BAD_PORT, "Port should be >= 0 and < 65536")                         \
        XX(ERR_INVALID_IP_ADDRESS, "Invalid IP address")                                   \
        XX(ERR_UNKNOWN_ENCODING, "Unknown encoding")                                       \
        XX(ERR_INVALID_UTF8, "The data is not valid UTF-8")                                \
        XX(ERR_SERVER_ALREADY_LISTEN, "Listen method has been called more than once "      \
                                      "without closing.")                                  \
        XX(ERR_SERVER_NOT_RUNNING, "Server is not running.")                               \
        XX(ERR_SOCKET_CLOSED, "Socket is closed")                                          \
        XX(ERR_SOCKET_CLOSED_BEFORE_CONNECTION, "Socket closed before the connection was " \
                                                "established")                             \
        XX(ERR_SOCKET_CONNECTION_TIMEOUT, "Socket connection timeout")                     \
        XX(ERR_STREAM_DESTROYED, "Cannot call write after a stream was destroyed")         \
        XX(ERR_INVALID_HANDLE_TYPE, "This handle type cannot do that")                     \
        XX(ERR_INVALID_FD_TYPE, "Unsupported fd type")                                     \
        XX(ERR_STREAM_WRITE_AFTER_END, "write after end")                                  \
        XX(ERR_NETD_HANDLE_NOT_FOUND, "No such handle")                                    \
        XX(ERR_NETD_HANDLE_WRONG_TYPE, "The handle is of another kind")                    \
        XX(ERR_NETD_USER_ERROR, "Error")                                                   \
        XX(ERR_NETD_SOCKET_BUSY, "The socket is connecting or connected")                 \
        XX(ERR_NETD_SOCKET_ATTACHED, "The socket's bytes travel through its attached "     \
                                     "descriptor")                                         \
        XX(ERR_NETD_SOCKET_PIPED, "The socket is part of a socket.pipe")                   \
        XX(ERR_NETD_SOCKET_NOT_CONNECTED, "The socket is not connected")                   \
        XX(ERR_NETD_FD_IN_BATCH, "A reply carrying a descriptor cannot be part of a "      \
                                 "batch")                                                  \
        XX(ERR_NETD_LIMIT, "A netd limit was reached")                                     \
        XX(ERR_NETD_PERMISSION, "Permission denied")                                       \
        XX(ERR_NETD_SHUTTING_DOWN, "netd is shutting down")                               \
        XX(ERR_NETD_UPGRADE, "The upgrade was refused")

enum netd_err {
#define NETD_ERR_ENUM_(name, msg) NETD_##name,
        NETD_ERR_MAP(NETD_ERR_ENUM_)
#undef NETD_ERR_ENUM_
                _NETD_ERR_MAX,
        _NETD_ERR_INVALID = -EINVAL,
};

/* The errno's name ("ECONNREFUSED") for a positive or negative errno; "UNKNOWN" if unmapped. */
const char *netd_errno_name(int err);

/* libuv's text for the errno ("connection refused"); "unknown error" if unmapped. */
const char *netd_strerror(int err);

/* The ERR_* name and default message of a netd_err. */
const char *netd_err_to_string(enum netd_err e);
const char *netd_err_message(enum netd_err e);

/*
 * Maps a getaddrinfo() EAI_* (or libevent EVUTIL_EAI_*) failure onto Node's
 * code and libuv number: EAI_NONAME gives "ENOTFOUND", -3008.
 */
void netd_eai_describe(int eai, const char **ret_code, int *ret_errno);
