/* Node's net.isIP family of checks, byte for byte. Pure functions. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Returns 4 for a dotted-quad IPv4 address, 6 for an IPv6 address (zone ids
 * and IPv4-mapped forms included), 0 for anything else, exactly as Node's
 * net.isIP(input) answers for the same string. s need not be NUL-terminated;
 * an embedded NUL makes it invalid. s may be NULL when len is 0.
 */
int netd_isip(const char *s, size_t len);

/* Node's net.isIPv4(): true for a dotted quad of 0-255 without leading zeros ("1.2.3.4"). */
bool netd_isipv4(const char *s, size_t len);

/*
 * Node's net.isIPv6(): true for the text forms of an IPv6 address, "::"
 * compression and a trailing dotted quad included, optionally followed by a
 * zone id ('%' and one or more of [0-9a-zA-Z-.:]).
 */
bool netd_isipv6(const char *s, size_t len);
