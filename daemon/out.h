/*
 * The one writer: every line netd sends a client (replies, errors, events,
 * socket.data) is written by these functions into the connection's output
 * buffer, one compact JSON line each ending in "\n". Integers, ids and the
 * envelopes are written by hand; a result or params tree a method built
 * with jansson is dumped (off the hot paths); payloads are base64-encoded
 * or escaped straight into the buffer.
 *
 * Every function returns 0, or -ENOMEM with nothing of the line left in
 * the buffer (a half-written line could not be taken back otherwise).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct evbuffer;

/* {"jsonrpc":"2.0","id":id,"result":result} (NULL result: null). */
int netd_out_reply(struct evbuffer *b, const json_t *id, const json_t *result);

/* A whole message built as a tree: an error reply, a batch's array. */
int netd_out_message(struct evbuffer *b, const json_t *msg);

/* {"jsonrpc":"2.0","method":method,"params":params}. */
int netd_out_event(struct evbuffer *b, const char *method, const json_t *params);

/*
 * socket.data for socket: text (tlen bytes of UTF-8, escaped) with the
 * encoding's name when text is non-NULL, else bytes (len) as base64.
 */
int netd_out_data(struct evbuffer *b, uint64_t socket, const uint8_t *bytes, size_t len,
                  const char *text, size_t tlen, const char *encoding);
