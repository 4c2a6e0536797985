/*
 * Newline framing for the control protocol, shared by the daemon and the
 * client library. A netd_frame owns one flat input buffer: callers read()
 * straight into its free space, then take complete lines out. Lines are
 * handed out without their "\n" (and without a "\r" before it); blank lines
 * are skipped, as the conventions allow. Scanning resumes where the last
 * call stopped, so a line arriving a byte at a time costs O(n) in total.
 */
#pragma once

#include <stddef.h>

#define NETD_FRAME_MAX_BYTES_DEFAULT (1024 * 1024) /* bytes in one line, "\n" excluded */

struct netd_frame {
        char *buf;      /* owned */
        size_t cap;     /* bytes allocated */
        size_t start;   /* first byte not yet handed out */
        size_t end;     /* one past the last byte read */
        size_t scanned; /* bytes after start known to hold no "\n" */
        size_t max_line;
};

/* Prepares an empty frame whose lines may hold up to max_line bytes. */
void netd_frame_init(struct netd_frame *f, size_t max_line);

/* Frees the buffer; the frame may be initialised again. */
void netd_frame_done(struct netd_frame *f);

/*
 * Makes room for at least want bytes after the buffered input and returns
 * where to write them in *ret_ptr and how many fit in *ret_len. Returns 0, or
 * -ENOMEM. Follow with netd_frame_commit() for the bytes actually written.
 */
int netd_frame_reserve(struct netd_frame *f, size_t want, char **ret_ptr, size_t *ret_len);

/* Records that n bytes were written at the pointer netd_frame_reserve() gave. */
void netd_frame_commit(struct netd_frame *f, size_t n);

/* Copies len bytes in (reserve + memcpy + commit). Returns 0 or -ENOMEM. */
int netd_frame_feed(struct netd_frame *f, const void *data, size_t len);

/*
 * Takes the next complete line. Returns 1 with the line in *ret_line and
 * *ret_len (valid until the next call that changes the frame), 0 when no
 * complete line is buffered, or -EMSGSIZE when the line being received is
 * longer than max_line: the stream can't be framed any more.
 */
int netd_frame_next(struct netd_frame *f, char **ret_line, size_t *ret_len);

/* Bytes buffered and not yet handed out. */
size_t netd_frame_pending(const struct netd_frame *f);
