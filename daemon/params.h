/*
 * Declarative parameter parsing: a handler describes its params in a static
 * table and gets them in a C struct, with unknown keys, wrong types and
 * out-of-range values turned into one precise -32602 error naming the field
 * and Node's ERR_* code.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "jtok.h"

enum netd_param_type {
        NETD_T_HANDLE,   /* positive integer -> uint64_t */
        NETD_T_PORT,     /* integer 0-65535 or a decimal string -> int */
        NETD_T_STRING,   /* string -> struct netd_str (borrowed from the request line) */
        NETD_T_BOOL,     /* true/false -> bool */
        NETD_T_INT,      /* integer within [min, max] -> int64_t */
        NETD_T_ENCODING, /* a Node encoding name -> int (enum netd_encoding) */
        NETD_T_OBJECT,   /* an object -> struct netd_jv (a token of the request line) */
        _NETD_T_MAX,
        _NETD_T_INVALID = -22,
};

struct netd_str {
        const char *s; /* NUL-terminated, but may hold NULs: use len */
        size_t len;
};

struct netd_param {
        const char *name;
        enum netd_param_type type;
        bool required;
        size_t offset;
        int64_t min, max; /* NETD_T_INT only */
};

#define NETD_PARAM_REQ(n, t, st, f)                                                   \
        {                                                                             \
                .name = (n), .type = (t), .required = true, .offset = offsetof(st, f) \
        }
#define NETD_PARAM_OPT(n, t, st, f)                                                    \
        {                                                                              \
                .name = (n), .type = (t), .required = false, .offset = offsetof(st, f) \
        }
#define NETD_PARAM_INT(n, req, st, f, lo, hi)                                                  \
        {                                                                                      \
                .name = (n), .type = NETD_T_INT, .required = (req), .offset = offsetof(st, f), \
                .min = (lo), .max = (hi)                                                       \
        }

struct netd_param_error {
        const char *field; /* static or borrowed from the request line */
        enum netd_err code;
        char message[200];
};

/*
 * Parses params (an object token of the request line, or absent for none)
 * per spec (terminated by an entry with a NULL name) into out, reading the
 * tokens in place: strings are borrowed from the line. JSON null counts as
 * absent. Sets bit i of *ret_present (may be NULL) for each spec entry i
 * present. Returns 0, or -EINVAL with *err filled in.
 */
int netd_params_parse(struct netd_jv params, const struct netd_param *spec, void *out,
                      uint64_t *ret_present, struct netd_param_error *err);
