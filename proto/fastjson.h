/*
 * The common line, parsed into a jansson tree without json_loadb(). jansson's
 * reader spends about 16,500 instructions on an 80-byte request (one
 * character at a time through a stream, every token copied twice) and moves
 * long strings at about 60-100 MB/s. This reads almost every line netd and
 * its clients exchange in a fraction of that (plain strings are scanned 8
 * bytes a step and borrowed; only strings with escapes or non-ASCII text
 * are decoded), building the same json_t values. The daemon reads request
 * lines with it, libnetdclient reply and event lines.
 *
 * It accepts a strict subset of what json_loadb(JSON_DECODE_ANY |
 * JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL) accepts and must build exactly
 * the tree jansson would (tests/unit/test-fastjson.c and the fuzz-fastjson
 * target compare the two). Everything else returns NULL and goes to
 * jansson, which also produces every parse error, so both paths answer
 * every line the same.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

/* Containers nested deeper than this go to jansson (whose own limit is 2048). */
#define NETD_FASTJSON_MAX_DEPTH 32

/*
 * Parses one JSON text made of objects, arrays, strings (any escapes,
 * valid UTF-8, \u0000 in values but not in member names), integers of at
 * most 18 digits, true, false and null, with JSON white space (space, tab,
 * CR, LF) between tokens and containers nested at most
 * NETD_FASTJSON_MAX_DEPTH deep. Returns the new tree, or NULL: outside that
 * subset (fractions, exponents, "-0", longer integers, deeper nesting), not
 * valid JSON, a duplicate member name, or an allocation failure. NULL is
 * never an error by itself: the caller parses the line again with jansson.
 */
json_t *netd_fastjson_parse(const char *s, size_t len);
