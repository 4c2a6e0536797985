/*
 * The I/O-free parts of netctl, split out so unit tests can reach them:
 * the subcommand table type and its lookup, the parsing of command-line
 * values (ports, timeouts, JSON params) and the formatting of values
 * (addresses, durations, errors) and exit codes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct netd_client_error;

/* netctl's documented exit codes (netctl --help, netctl.1.md). */
enum {
        NETCTL_EXIT_OK = 0,          /* success; connect/listen: the socket closed cleanly */
        NETCTL_EXIT_ERROR = 1,       /* netd returned an error, or the socket had one */
        NETCTL_EXIT_UNREACHABLE = 2, /* can't connect to netd, lost it, or it didn't answer */
        NETCTL_EXIT_USAGE = 3,       /* bad command line */
};

/*
 * Runs a verb with its own arguments (argv[0] is the first one after the
 * verb's name; argc was checked against min_args/max_args). The verb checks
 * its arguments before it connects to netd, so that a usage error wins over
 * an unreachable daemon. Returns one of the NETCTL_EXIT_* codes.
 */
typedef int (*netctl_verb_fn)(int argc, char *argv[]);

struct netctl_verb {
        const char *name;    /* the table is sorted by name (strcmp) */
        const char *args;    /* usage of the arguments, "" for none */
        const char *summary; /* one line for the help text */
        int min_args;
        int max_args;
        netctl_verb_fn run;
        const char *help; /* "netctl VERB --help": the verb's own options, or NULL */
};

/* Finds name in the sorted table verbs[0..n). Returns a borrowed pointer, or NULL if absent. */
const struct netctl_verb *netctl_verb_lookup(const struct netctl_verb *verbs, size_t n,
                                             const char *name);

/* True if verbs[0..n) is sorted by name without duplicates, as netctl_verb_lookup() needs. */
bool netctl_verbs_are_sorted(const struct netctl_verb *verbs, size_t n);

/*
 * Parses a TCP port: decimal 0..65535, no sign, no blanks. Returns 0 and
 * sets *ret, or -EINVAL (not a number) or -ERANGE (over 65535).
 */
int netctl_parse_port(const char *s, int *ret);

/*
 * Parses a --timeout value in milliseconds, 0..INT_MAX. 0 means "no limit"
 * and sets *ret_ms to -1, as the client library's *_sync() functions take
 * it. Returns 0, or -EINVAL / -ERANGE as netctl_parse_port().
 */
int netctl_parse_timeout(const char *s, int *ret_ms);

/*
 * Parses len bytes of JSON text (not necessarily NUL-terminated) as the
 * params of a request: an object or an array. Returns 0 and puts a new
 * reference in *ret, or -EINVAL with a message for humans in errbuf
 * (errlen bytes, always NUL-terminated).
 */
int netctl_parse_params(const char *text, size_t len, json_t **ret, char *errbuf, size_t errlen);

/*
 * Formats a Node address value (borrowed): an object {address, family,
 * port} as "ADDR:PORT" ("[ADDR]:PORT" for IPv6), a string (a UNIX socket
 * path) as is. Returns 0, -EINVAL if addr has neither shape, or -ENOBUFS
 * if buf (len bytes) is too short.
 */
int netctl_format_address(json_t *addr, char *buf, size_t len);

/*
 * Formats a duration in seconds for humans: "42.5s", "3m 2s", "1h 0m 5s",
 * "2d 3h 4m 5s". Returns 0, -EINVAL for a negative or non-finite value, or
 * -ENOBUFS.
 */
int netctl_format_duration(double seconds, char *buf, size_t len);

/*
 * Formats an error for the "netctl: <message> (<code>)" line: code is
 * data.code, or the numeric JSON-RPC code when there is none. Returns 0 or
 * -ENOBUFS (the text is then truncated but still NUL-terminated).
 */
int netctl_format_error(const struct netd_client_error *err, char *buf, size_t len);

/*
 * The exit code for a failed call: r is what a *_sync() function returned
 * and err what it filled in. A daemon error (-EREMOTEIO) gives
 * NETCTL_EXIT_ERROR; a lost connection, a timeout or a protocol error
 * NETCTL_EXIT_UNREACHABLE; anything else (-ENOMEM, -EINVAL) NETCTL_EXIT_ERROR.
 */
int netctl_exit_for_error(int r, const struct netd_client_error *err);

/*
 * Parses a duration for -w/--idle-timeout and --connect-timeout: a decimal
 * number (fractions allowed) with an optional unit "ms", "s" (the default,
 * as ncat), "m" or "h". Returns 0 and sets *ret_ms (at least 1 for a
 * positive value), -EINVAL for bad text or a zero duration, -ERANGE beyond
 * INT_MAX ms.
 */
int netctl_parse_duration(const char *s, int *ret_ms);

/* Where connect goes or listen listens: a TCP host and port, a UNIX path or an abstract name. */
struct netctl_endpoint {
        const char *host; /* borrowed from argv; NULL: listen's default host */
        int port;         /* TCP; -1 for a UNIX socket */
        /* UNIX: the path, or for an abstract name a leading NUL then the name (path_len bytes). */
        char path[109];
        size_t path_len; /* 0 for TCP */
};

/*
 * Parses the endpoint arguments of connect (for_listen false) or listen:
 * "HOST PORT", a path containing '/', "@NAME" for a Linux abstract name,
 * and for listen also "PORT" alone. connect needs a port 1-65535, listen
 * allows 0 (any free port). Returns 0, or -EINVAL with a message for
 * humans in errbuf (errlen bytes).
 */
int netctl_parse_endpoint(int argc, char *argv[], bool for_listen, struct netctl_endpoint *ret,
                          char *errbuf, size_t errlen);

/*
 * Formats an endpoint for messages: "HOST:PORT" ("[HOST]:PORT" for an IPv6
 * literal), the path, or "@NAME". Returns 0 or -ENOBUFS.
 */
int netctl_format_endpoint(const struct netctl_endpoint *e, char *buf, size_t len);

/*
 * Formats a byte count for humans: "512 B", "10.0 KiB", "3.2 MiB", "1.5 GiB".
 * Returns 0 or -ENOBUFS.
 */
int netctl_format_bytes(unsigned long long n, char *buf, size_t len);

/*
 * The method named name in an OpenRPC document (rpc.discover's result,
 * borrowed), or NULL. Returns a borrowed pointer.
 */
json_t *netctl_schema_method(json_t *doc, const char *name);

/*
 * Builds the params of a call from "key=value" words, typed by the method's
 * schema in doc: integers, numbers, booleans and null from their text,
 * objects and arrays from JSON, strings as they are ($ref and oneOf are
 * followed). A key the method does not have is an error; so is a value
 * that fits none of the key's types. Returns 0 and a new object in *ret,
 * or -EINVAL with a message for humans in errbuf.
 */
int netctl_params_from_words(json_t *doc, const char *method, int argc, char *argv[], json_t **ret,
                             char *errbuf, size_t errlen);
