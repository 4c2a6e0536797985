/*
 * The JSON-RPC 2.0 envelope: a request line from a connection is tokenized
 * (proto/jtok.h), its envelope checked (objects and batches), its requests
 * admitted (inflight_max) and dispatched (dispatch.c). Requests and replies
 * are req.h's. The whole path: daemon/README.md.
 */
#pragma once

#include <stddef.h>

struct netd_owner;

/* Installs the parse-budget allocator in jansson; call once before any JSON is made. */
void netd_rpc_init(void);

/*
 * Handles one framed request line from c: tokenize (in place: strings are
 * decoded and NUL-terminated inside the line), check the envelope, dispatch.
 */
void netd_rpc_handle_line(struct netd_owner *c, char *line, size_t len);
