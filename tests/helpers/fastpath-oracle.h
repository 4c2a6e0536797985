/* The oracles of the two fast readers, socket.write and small requests (fastpath-oracle.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "fastpath.h"

/*
 * The fast path's verdict as the daemon applies it: recognized, and for the
 * binary encodings, data that decodes. Returns 1 with *w filled in, or 0.
 */
int netd_fastpath_accepts(const char *line, size_t len, struct netd_fast_write *w);

/* 1 when jansson reads line as a socket.write request with exactly the fields of w. */
int netd_fastpath_agrees_with_jansson(const char *line, size_t len,
                                      const struct netd_fast_write *w);

/*
 * A reader's verdict on a line, checked against jansson: 0 declined (the
 * general path takes it), 1 read as jansson reads it, -1 read otherwise.
 */
typedef int netd_oracle_check_fn(const char *line, size_t len);

/* The socket.write fast path (netd_fastpath_accepts(), then the fields compared). */
int netd_fastpath_check(const char *line, size_t len);

/*
 * The small-request reader: its tree must be the one json_loadb() builds
 * with the daemon's flags (json_equal(), and the same compact text, so
 * members in the same order).
 */
int netd_fastjson_check(const char *line, size_t len);

/*
 * Mutates buf (len bytes, room for cap) in place with 1-3 random edits:
 * replace, insert or delete a byte from a JSON-heavy alphabet. Deterministic
 * for a given *seed, which it advances. Returns the new length.
 */
size_t netd_oracle_mutate(char *buf, size_t len, size_t cap, uint64_t *seed);

/*
 * Checks rounds mutations of the seed lines (one picked and mutated per
 * round, deterministic from seed). Returns how many the reader read, or -1
 * at the first line read otherwise, copied to bad (cut to badcap - 1 bytes,
 * NUL-terminated).
 */
long netd_oracle_mutations(const char *const *seeds, size_t nseeds, unsigned rounds, uint64_t seed,
                           netd_oracle_check_fn *check, char *bad, size_t badcap);
