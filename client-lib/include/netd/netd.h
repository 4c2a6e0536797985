/*
 * libnetdclient: the C client library of netd, the socket daemon.
 *
 * A struct netd_client is one control connection to netd. It speaks
 * newline-delimited JSON-RPC 2.0 (one compact object per line), assigns
 * request ids, matches replies to calls by id (they may come back out of
 * order) and hands every notification from the daemon (the events of the
 * servers and sockets this connection owns) to one event callback.
 *
 * Two ways to drive it:
 *   - asynchronously, inside the caller's event loop: poll netd_client_fd()
 *     for input (and for output while netd_client_wants_write() is true) and
 *     call netd_client_process() when it is ready; or let
 *     netd_client_attach_event_base() do that on a libevent event_base;
 *   - synchronously, for simple tools and tests: netd_client_call_sync(),
 *     netd_client_wait() and netd_client_sync() run their own poll() loop.
 * Both may be mixed; the library is single-threaded (one client must not be
 * used from two threads at once) and never raises SIGPIPE.
 *
 * Conventions of this API:
 *   - Functions returning int return >= 0 on success and a negative errno
 *     on failure. Constructors take a "ret" out-parameter, set only on success.
 *   - json_t parameters documented as "stolen" are owned by the library from
 *     the call on, even when the call fails (as jansson's *_new() setters).
 *     json_t pointers handed to callbacks are borrowed: valid until the
 *     callback returns; json_incref() them to keep them.
 *   - Every call gets exactly one reply callback: with the result, with the
 *     daemon's error, or with a local error (see struct netd_client_error)
 *     when the connection is lost or the client freed first. Callbacks are
 *     never run from inside the function that queued the call.
 *   - Request ids are integers, assigned 1, 2, 3, ... per client in call order.
 *   - Handle ids (servers, sockets) are positive integers below 2^63.
 *   - Descriptors: a message from the daemon may come with descriptors
 *     (SCM_RIGHTS on its first bytes; "fd":N in its result or params names
 *     the N-th). They are received close-on-exec, belong to that message
 *     only, and are the library's until a callback of that message takes
 *     one with netd_client_take_fd(); the others are closed once the
 *     callback returns. None is ever left open behind the caller's back.
 *
 * The header is C99 and includes only <jansson.h> and the standard headers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define NETD_PUBLIC __attribute__((visibility("default")))
#else
#define NETD_PUBLIC
#endif

struct netd_client;
struct event_base; /* libevent; only netd_client_attach_event_base() needs it */

/* The longest line accepted from the daemon, "\n" excluded: 64 MiB. */
#define NETD_CLIENT_LINE_MAX_BYTES (64u * 1024u * 1024u)

/* JSON-RPC code of every local error (one that did not come from the daemon). */
#define NETD_CLIENT_LOCAL_ERROR_CODE (-32603)

/*
 * data_code of the local errors. They never cross the wire; the daemon's own
 * codes are errno names ("ECONNREFUSED") and Node's or netd's ERR_* names.
 * DISCONNECTED: the connection was lost, or the client freed; PROTOCOL: the
 * daemon sent something invalid; TIMEOUT: a *_sync() call timed out.
 */
#define NETD_CLIENT_ERR_DISCONNECTED "ERR_NETD_DISCONNECTED"
#define NETD_CLIENT_ERR_PROTOCOL     "ERR_NETD_PROTOCOL"
#define NETD_CLIENT_ERR_TIMEOUT      "ERR_NETD_TIMEOUT"

/*
 * A failed call. For an error reply from the daemon, the fields mirror its
 * JSON-RPC error object: code (-32000 system error, -32001 netd ERR_*, or a
 * JSON-RPC envelope code), message (for humans only), data.code (the stable
 * string to switch on) and data.errno (negative, as in Node). For a local
 * error, code is NETD_CLIENT_LOCAL_ERROR_CODE, data_code one of the
 * NETD_CLIENT_ERR_* strings (or an errno name such as "ENOMEM"), errnum the
 * cause (-ECONNRESET, -EPIPE, -EPROTO, -EMSGSIZE, -ECANCELED, -ETIMEDOUT, ...)
 * and data NULL.
 *
 * In a reply callback the struct and everything it points to are borrowed
 * for the duration of the callback. Structs filled by the *_sync() functions
 * or netd_client_error_copy() own a reference and must be released with
 * netd_client_error_done().
 */
struct netd_client_error {
        int code;
        const char *message;   /* never NULL */
        const char *data_code; /* data.code, or NULL if absent */
        int errnum;            /* data.errno (negative), or 0 if absent */
        json_t *data;          /* data, or NULL if absent */
        json_t *reserved_ref;  /* private: the reference released by netd_client_error_done() */
};

/*
 * Called once per call with its outcome: exactly one of result and err is
 * non-NULL. A successful result may be any JSON value (json_null() included).
 * Both are borrowed. The callback may queue more calls, run the *_sync()
 * functions, or free the client.
 */
typedef void (*netd_client_reply_fn)(struct netd_client *c, json_t *result,
                                     const struct netd_client_error *err, void *userdata);

/*
 * Called for every notification from the daemon (every message without an
 * id), in the order they arrived. method is the event's name
 * ("socket.data", "server.connection", ...); params is borrowed and NULL
 * when the notification has none.
 */
typedef void (*netd_client_event_fn)(struct netd_client *c, const char *method, json_t *params,
                                     void *userdata);

/*
 * Called once when the connection to the daemon is lost (not when the
 * client is freed): error is -ECONNRESET (the daemon closed it), -EPIPE,
 * another errno from the socket, -EPROTO (an unparseable message) or
 * -EMSGSIZE (a line over NETD_CLIENT_LINE_MAX_BYTES). By then every pending
 * call has had its callback with a local error.
 */
typedef void (*netd_client_disconnect_fn)(struct netd_client *c, int error, void *userdata);

/* ---- Connection ---------------------------------------------------------------------------- */

/*
 * Puts the default control socket path in *ret: $NETD_SOCKET if set and not
 * empty; else $XDG_RUNTIME_DIR/netd/netd.sock when not running as root and
 * XDG_RUNTIME_DIR is set; else /run/netd/netd.sock. The environment is read
 * with secure_getenv(). *ret is malloc()ed and the caller free()s it.
 * Returns 0 or -ENOMEM.
 */
NETD_PUBLIC int netd_client_default_path(char **ret);

/*
 * Connects to the daemon's control socket at path (NULL: the default path)
 * and puts a new client in *ret. The socket is non-blocking and close-on-exec
 * once connected; the connect itself only waits while the daemon's listen
 * backlog is full. Returns 0, -ENAMETOOLONG, -ENOMEM, or the connect()
 * error (-ENOENT, -ECONNREFUSED, -EACCES, ...).
 */
NETD_PUBLIC int netd_client_connect(const char *path, struct netd_client **ret);

/*
 * Closes the connection and frees the client. Pending calls first get
 * their callback with a local NETD_CLIENT_ERR_DISCONNECTED error (errnum
 * -ECANCELED); the disconnect callback is not called. Safe from inside any
 * of the client's callbacks: the memory is released once the library
 * function that ran the callback returns, and nothing more is dispatched.
 * NULL-safe; returns NULL.
 */
NETD_PUBLIC struct netd_client *netd_client_free(struct netd_client *c);

/*
 * Sets the callback for notifications (NULL: drop them). userdata is
 * borrowed and passed back. Returns 0.
 */
NETD_PUBLIC int netd_client_on_event(struct netd_client *c, netd_client_event_fn cb,
                                     void *userdata);

/* Sets the callback for a lost connection (NULL: none). Returns 0. */
NETD_PUBLIC int netd_client_on_disconnect(struct netd_client *c, netd_client_disconnect_fn cb,
                                          void *userdata);

/* ---- Asynchronous core --------------------------------------------------------------------- */

/*
 * The connection's file descriptor, owned by the client, to poll for
 * reading (always) and for writing (while netd_client_wants_write()).
 * It stays open until netd_client_free(); stop polling it once
 * netd_client_process() has reported a disconnect.
 */
NETD_PUBLIC int netd_client_fd(const struct netd_client *c);

/* True while queued output waits to be sent (poll for POLLOUT then). */
NETD_PUBLIC bool netd_client_wants_write(const struct netd_client *c);

/* True until the connection is lost or the client is being freed. */
NETD_PUBLIC bool netd_client_is_connected(const struct netd_client *c);

/*
 * Does the I/O that is possible without blocking: sends queued output,
 * reads what has arrived (a bounded amount per call, so a busy daemon can't
 * starve the caller's loop: poll again and it is still readable) and
 * dispatches every complete message to its callbacks. Returns 0; on a lost
 * connection, the disconnect error (-ECONNRESET, -EPIPE, -EPROTO,
 * -EMSGSIZE, ...) after failing the pending calls and calling the
 * disconnect callback; -ENOTCONN afterwards; -ECANCELED if a callback freed
 * the client (which must then not be touched).
 */
NETD_PUBLIC int netd_client_process(struct netd_client *c);

/*
 * Registers the client's fd with a libevent base (which must outlive the
 * client or netd_client_detach_event_base()): it runs netd_client_process()
 * whenever the socket is readable, or writable with output queued. Events
 * are removed on disconnect. Returns 0, -EBUSY if already attached,
 * -ENOTCONN, or -ENOMEM.
 */
NETD_PUBLIC int netd_client_attach_event_base(struct netd_client *c, struct event_base *base);

/* Undoes netd_client_attach_event_base(). Returns 0 (also when not attached). */
NETD_PUBLIC int netd_client_detach_event_base(struct netd_client *c);

/* ---- Requests ------------------------------------------------------------------------------ */

/*
 * Queues a call of method (copied) with params (stolen; an object, NULL
 * for none). cb (may be NULL to ignore the reply) is called exactly once
 * with the outcome, from a later netd_client_process()/wait/sync call or
 * from netd_client_free(); userdata is borrowed and passed back. Returns 0,
 * -EINVAL (no method, or params not an object or array), -ENOTCONN, or
 * -ENOMEM; on failure cb is not called.
 */
NETD_PUBLIC int netd_client_call(struct netd_client *c, const char *method, json_t *params,
                                 netd_client_reply_fn cb, void *userdata);

/*
 * Queues a notification (a request without id, which the daemon never
 * answers, not even with an error). params is stolen, as for
 * netd_client_call(). Returns 0, -EINVAL, -ENOTCONN or -ENOMEM.
 */
NETD_PUBLIC int netd_client_notify(struct netd_client *c, const char *method, json_t *params);

/*
 * Calls method and runs a poll() loop until its reply arrives, for at most
 * timeout_ms milliseconds (-1: no limit). Meanwhile, events and other
 * replies are dispatched to their callbacks in arrival order. params is
 * stolen. On success returns 0 and puts the result (a new reference) in
 * *ret_result if ret_result is not NULL. On failure fills *reterr (if not
 * NULL; release it with netd_client_error_done()) and returns -EREMOTEIO
 * for an error reply from the daemon, -ETIMEDOUT when no reply came in
 * time (the late reply will be ignored), or the local error (-ECONNRESET,
 * -EPIPE, -EPROTO, -ENOTCONN, -EINVAL, -ENOMEM, -ECANCELED if a callback
 * freed the client, ...).
 */
NETD_PUBLIC int netd_client_call_sync(struct netd_client *c, const char *method, json_t *params,
                                      int timeout_ms, json_t **ret_result,
                                      struct netd_client_error *reterr);

/*
 * Processes I/O for up to timeout_ms milliseconds (-1: no limit) and
 * returns as soon as at least one message was dispatched: returns the
 * number of messages dispatched (> 0), 0 on timeout, or a negative errno
 * when the connection is lost (or was already).
 */
NETD_PUBLIC int netd_client_wait(struct netd_client *c, int timeout_ms);

/*
 * Calls the daemon's netd.sync barrier and waits for its reply, which the
 * daemon queues after every notification already queued for this
 * connection: once it returns 0, every event sent before the barrier has
 * been delivered to the event callback. Returns as netd_client_call_sync().
 */
NETD_PUBLIC int netd_client_sync(struct netd_client *c, int timeout_ms);

/*
 * From inside a reply or event callback: takes the index-th descriptor
 * that came with the message being dispatched (index 0 for "fd":0). The
 * descriptor is the caller's from then on (close-on-exec, blocking as the
 * daemon made it). Returns it, or -EBADF if the message came with no such
 * descriptor, it was already taken, or no callback is running. Descriptors
 * not taken are closed when the callback returns.
 */
NETD_PUBLIC int netd_client_take_fd(struct netd_client *c, unsigned index);

/* ---- Errors and results -------------------------------------------------------------------- */

/*
 * Makes *ret an independent copy of *err (taking a reference on the error
 * object). Release it with netd_client_error_done(). Returns 0.
 */
NETD_PUBLIC int netd_client_error_copy(const struct netd_client_error *err,
                                       struct netd_client_error *ret);

/* Releases what a *_sync() function or netd_client_error_copy() put in *err and zeroes it. */
NETD_PUBLIC void netd_client_error_done(struct netd_client_error *err);

/*
 * Reads the handle id under key ("server", "socket") of a result or event
 * params object (borrowed) into *ret. Returns 0, -ENOENT if there is no
 * such key, or -EBADMSG if the value is not a positive integer.
 */
NETD_PUBLIC int netd_client_get_handle(json_t *obj, const char *key, uint64_t *ret);

/*
 * Decodes the payload of a socket.data event: params (borrowed) holds
 * "data", a string, and "encoding", a Node encoding name (base64 when
 * absent; also base64url, hex, utf8/utf-8, latin1/binary, ascii,
 * utf16le/ucs2). Puts the bytes in *ret_buf (malloc()ed, NUL-terminated
 * for convenience, freed by the caller) and their count in *ret_len.
 * Returns 0, -EINVAL (no data string, or text not valid for the encoding),
 * -EOPNOTSUPP (unknown encoding) or -ENOMEM.
 */
NETD_PUBLIC int netd_client_decode_data(json_t *params, void **ret_buf, size_t *ret_len);

/* ---- Typed helpers ------------------------------------------------------------------------- */
/*
 * Thin wrappers that build params and call netd_client_call() or
 * netd_client_call_sync(); they return as those do. The asynchronous forms
 * hand the raw result to cb (see PROTOCOL.md, installed in share/doc/netd, for its shape;
 * netd_client_get_handle() reads handle ids). The *_sync forms unpack it;
 * a result of the wrong shape gives -EBADMSG with a local
 * NETD_CLIENT_ERR_PROTOCOL error in *reterr. Strings are copied. A port
 * must be within 0..65535 and a handle id within 1..INT64_MAX; -EINVAL
 * otherwise, or for a string that is NULL or not valid UTF-8.
 */

/* net.isIP {input} -> 0, 4 or 6. */
NETD_PUBLIC int netd_client_net_is_ip(struct netd_client *c, const char *input,
                                      netd_client_reply_fn cb, void *userdata);
NETD_PUBLIC int netd_client_net_is_ip_sync(struct netd_client *c, const char *input, int timeout_ms,
                                           int *ret_family, struct netd_client_error *reterr);

/* net.isIPv4 {input} / net.isIPv6 {input} -> true or false. */
NETD_PUBLIC int netd_client_net_is_ipv4(struct netd_client *c, const char *input,
                                        netd_client_reply_fn cb, void *userdata);
NETD_PUBLIC int netd_client_net_is_ipv4_sync(struct netd_client *c, const char *input,
                                             int timeout_ms, bool *ret,
                                             struct netd_client_error *reterr);
NETD_PUBLIC int netd_client_net_is_ipv6(struct netd_client *c, const char *input,
                                        netd_client_reply_fn cb, void *userdata);
NETD_PUBLIC int netd_client_net_is_ipv6_sync(struct netd_client *c, const char *input,
                                             int timeout_ms, bool *ret,
                                             struct netd_client_error *reterr);

/*
 * net.createServer {options...} -> {"server":N}. options (stolen, NULL for
 * none) is an object of Node's createServer options (allowHalfOpen,
 * pauseOnConnect, ...), sent as the params. With netd's "attach": true, each
 * server.connection event has "fd":0 and comes with the accepted socket's
 * descriptor (as socket.attach gives): take it in the event callback with
 * netd_client_take_fd(c, 0).
 */
NETD_PUBLIC int netd_client_net_create_server(struct netd_client *c, json_t *options,
                                              netd_client_reply_fn cb, void *userdata);
NETD_PUBLIC int netd_client_net_create_server_sync(struct netd_client *c, json_t *options,
                                                   int timeout_ms, uint64_t *ret_server,
                                                   struct netd_client_error *reterr);

/*
 * server.listen {server, port, host?, backlog?}: host NULL and backlog < 0
 * are left out (Node's defaults). The reply comes once listening, with the
 * server's address object, or with the error (EADDRINUSE, ...).
 */
NETD_PUBLIC int netd_client_server_listen(struct netd_client *c, uint64_t server, int port,
                                          const char *host, int backlog, netd_client_reply_fn cb,
                                          void *userdata);
/* *ret_address (if not NULL) gets a new reference to the address the server listens on. */
NETD_PUBLIC int netd_client_server_listen_sync(struct netd_client *c, uint64_t server, int port,
                                               const char *host, int backlog, int timeout_ms,
                                               json_t **ret_address,
                                               struct netd_client_error *reterr);

/* server.listen {server, path}: listens on a UNIX socket path. */
NETD_PUBLIC int netd_client_server_listen_path(struct netd_client *c, uint64_t server,
                                               const char *path, netd_client_reply_fn cb,
                                               void *userdata);

/* server.close {server} -> true, once the server has closed. */
NETD_PUBLIC int netd_client_server_close(struct netd_client *c, uint64_t server,
                                         netd_client_reply_fn cb, void *userdata);
NETD_PUBLIC int netd_client_server_close_sync(struct netd_client *c, uint64_t server,
                                              int timeout_ms, struct netd_client_error *reterr);

/*
 * server.address {server} -> an address object, a path string or null.
 * The sync form puts a new reference in *ret_address (if not NULL).
 */
NETD_PUBLIC int netd_client_server_address(struct netd_client *c, uint64_t server,
                                           netd_client_reply_fn cb, void *userdata);
NETD_PUBLIC int netd_client_server_address_sync(struct netd_client *c, uint64_t server,
                                                int timeout_ms, json_t **ret_address,
                                                struct netd_client_error *reterr);

/*
 * net.createConnection {port, host?} -> {"socket":N}, at once; the outcome
 * of the connect arrives as socket.* events. host NULL: Node's default
 * (localhost).
 */
NETD_PUBLIC int netd_client_net_create_connection(struct netd_client *c, int port, const char *host,
                                                  netd_client_reply_fn cb, void *userdata);
NETD_PUBLIC int netd_client_net_create_connection_sync(struct netd_client *c, int port,
                                                       const char *host, int timeout_ms,
                                                       uint64_t *ret_socket,
                                                       struct netd_client_error *reterr);

/*
 * socket.write {socket, data, encoding:"base64"}: len bytes at data
 * (copied; binary-safe). The reply (true) comes when the bytes reached the
 * kernel, as Node's write callback.
 */
NETD_PUBLIC int netd_client_socket_write(struct netd_client *c, uint64_t socket, const void *data,
                                         size_t len, netd_client_reply_fn cb, void *userdata);
NETD_PUBLIC int netd_client_socket_write_sync(struct netd_client *c, uint64_t socket,
                                              const void *data, size_t len, int timeout_ms,
                                              struct netd_client_error *reterr);

/*
 * socket.write {socket, data, encoding}: data is a NUL-terminated UTF-8
 * string (copied) that the daemon decodes with the Node encoding named by
 * encoding (NULL: "utf8"). Returns -EINVAL if data is not valid UTF-8.
 */
NETD_PUBLIC int netd_client_socket_write_string(struct netd_client *c, uint64_t socket,
                                                const char *data, const char *encoding,
                                                netd_client_reply_fn cb, void *userdata);

/* socket.end {socket} -> true: half-closes after the queued data. */
NETD_PUBLIC int netd_client_socket_end(struct netd_client *c, uint64_t socket,
                                       netd_client_reply_fn cb, void *userdata);
NETD_PUBLIC int netd_client_socket_end_sync(struct netd_client *c, uint64_t socket, int timeout_ms,
                                            struct netd_client_error *reterr);

/* socket.destroy {socket} -> true. */
NETD_PUBLIC int netd_client_socket_destroy(struct netd_client *c, uint64_t socket,
                                           netd_client_reply_fn cb, void *userdata);
NETD_PUBLIC int netd_client_socket_destroy_sync(struct netd_client *c, uint64_t socket,
                                                int timeout_ms, struct netd_client_error *reterr);

/*
 * socket.attach {socket} -> {"fd":0}: from the reply on, the socket's bytes
 * no longer come as socket.data events nor go with socket.write; they move
 * through a descriptor that comes with the reply, the client's end of an
 * AF_UNIX SOCK_STREAM socketpair: read() it for the peer's bytes (EOF once
 * the peer ended), write() it to send, shutdown(SHUT_WR) or close() it to
 * end the socket. Events other than socket.data (socket.end, socket.close,
 * socket.error, ...) still arrive. Every socket.data dispatched before the
 * reply holds bytes read before the attach.
 *
 * The asynchronous form hands {"fd":0} to cb, which takes the descriptor
 * with netd_client_take_fd(c, 0). The sync form returns the descriptor
 * (>= 0, the caller's, close-on-exec) or a negative errno as
 * netd_client_call_sync(): -EREMOTEIO with the daemon's error in *reterr
 * (an unknown or closed socket; code -32601 from a daemon without
 * socket.attach), -EBADMSG if the reply came without its descriptor.
 */
NETD_PUBLIC int netd_client_socket_attach(struct netd_client *c, uint64_t socket,
                                          netd_client_reply_fn cb, void *userdata);
NETD_PUBLIC int netd_client_socket_attach_sync(struct netd_client *c, uint64_t socket,
                                               int timeout_ms, struct netd_client_error *reterr);

/* netd.info -> {version, pid, uptime, counts...}; *ret_info (if not NULL) gets a new reference. */
NETD_PUBLIC int netd_client_netd_info(struct netd_client *c, netd_client_reply_fn cb,
                                      void *userdata);
NETD_PUBLIC int netd_client_netd_info_sync(struct netd_client *c, int timeout_ms, json_t **ret_info,
                                           struct netd_client_error *reterr);

/* netd.sync, asynchronously: cb runs after every event queued before it (see netd_client_sync()).
 */
NETD_PUBLIC int netd_client_netd_sync(struct netd_client *c, netd_client_reply_fn cb,
                                      void *userdata);

#ifdef __cplusplus
}
#endif
