/* The socket.write fast path's oracle (see fastpath-oracle.c). */
#pragma once

#include <stddef.h>

#include "fastpath.h"

/*
 * The fast path's verdict as the daemon applies it: recognized, and for the
 * binary encodings, data that decodes. Returns 1 with *w filled in, or 0.
 */
int netd_fastpath_accepts(const char *line, size_t len, struct netd_fast_write *w);

/* 1 when jansson reads line as a socket.write request with exactly the fields of w. */
int netd_fastpath_agrees_with_jansson(const char *line, size_t len,
                                      const struct netd_fast_write *w);
