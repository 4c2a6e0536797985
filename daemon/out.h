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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/*
 * Descriptors that go out with a line (SCM_RIGHTS): socket.attach's reply,
 * server.connection of an attach server. Each is sent by one sendmsg() whose
 * first byte is its line's first byte and whose last is that line's "\n",
 * so a client's recvmsg() that returns descriptors returns them with the
 * data of (at most) that one line's start: the descriptor belongs to the
 * last line that begins in the bytes read with it. Lines and descriptors
 * keep the queue's order, across partial writes.
 */
struct netd_out_fd {
        uint64_t pos; /* the output stream offset of its line's first byte */
        int fd;       /* owned until sent (then closed: the client has its copy) */
};

struct netd_out_fds {
        struct netd_out_fd *v; /* owned: FIFO from head, ordered by pos */
        size_t head, n, cap;
        uint64_t written; /* bytes of the output written to the socket so far */
        bool mid_line;    /* the last byte written was not a "\n": the head is inside a line */
        /*
         * Written bytes the client may not have read yet, kept for a
         * session's connection (conn.c): if the client dies they are the
         * first its session keeps. NULL: nothing is kept.
         */
        struct evbuffer *sent;
        uint64_t sent_pos;     /* the output stream offset of sent's first byte */
        bool sent_mid_line;    /* sent starts inside a line (keeping began mid-line) */
        uint64_t *sent_fd_pos; /* owned: offsets of the lines in sent that carried a descriptor */
        size_t n_sent_fd_pos, cap_sent_fd_pos;
};

/* The output offset the next line appended to b will start at. */
static inline uint64_t netd_out_fds_tail(const struct netd_out_fds *q, const struct evbuffer *b);

/* Records that fd (taken, closed on failure) goes with the byte at pos. 0 or -ENOMEM. */
int netd_out_fds_push(struct netd_out_fds *q, uint64_t pos, int fd);

/* Closes every descriptor still queued and frees the queue (the connection is gone). */
void netd_out_fds_done(struct netd_out_fds *q);

/*
 * Writes what it can of b to sock, descriptors with their lines, and keeps
 * q->mid_line (so a session can keep the lines a dead client never got).
 * Returns the bytes written (> 0), or -1 with errno (EAGAIN: the socket is
 * full).
 */
ssize_t netd_out_write(struct evbuffer *b, int sock, struct netd_out_fds *q);

size_t netd_out_evbuffer_length(const struct evbuffer *b);

/* Starts keeping what netd_out_write() writes (q->sent). 0 or -ENOMEM. */
int netd_out_sent_start(struct netd_out_fds *q);

/* Stops keeping it and frees what was kept. */
void netd_out_sent_stop(struct netd_out_fds *q);

/* Drops the kept lines that end at or before the output offset first_unread (read). */
void netd_out_sent_trim(struct netd_out_fds *q, uint64_t first_unread);

/* Whether the kept line at output offset pos carried a descriptor. */
bool netd_out_sent_carried_fd(const struct netd_out_fds *q, uint64_t pos);

static inline uint64_t netd_out_fds_tail(const struct netd_out_fds *q, const struct evbuffer *b)
{
        return q->written + netd_out_evbuffer_length(b);
}
