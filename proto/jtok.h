/*
 * The one JSON reader: a line is tokenized once into a flat array of
 * tokens that point into the line (Core Lightning's jsmn use). No tree is
 * built and no plain string is copied. It accepts exactly what jansson's
 * json_loadb() accepts with JSON_DECODE_ANY | JSON_REJECT_DUPLICATES |
 * JSON_ALLOW_NUL (strict UTF-8, paired surrogates, int64 integers, finite
 * reals, depth 2048, no duplicate or NUL-holding member names); on a line it
 * refuses, the caller may ask jansson for its error text, which the line is
 * left intact for.
 *
 * Once a line is accepted, netd_jtok_finish() decodes every string in
 * place and NUL-terminates it, so a string token is a C string (that may
 * hold NULs: use its length) living in the line.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum netd_jtok_type {
        NETD_JTOK_OBJECT = 1,
        NETD_JTOK_ARRAY,
        NETD_JTOK_STRING,
        NETD_JTOK_INTEGER,
        NETD_JTOK_REAL,
        NETD_JTOK_TRUE,
        NETD_JTOK_FALSE,
        NETD_JTOK_NULL,
};

/* Nesting jansson accepts (JSON_PARSER_MAX_DEPTH). */
#define NETD_JTOK_MAX_DEPTH 2048

struct netd_jtok {
        uint32_t start;  /* offset in the line: a string's first content byte, else the value's */
        uint32_t len;    /* bytes: a string's content (decoded after finish), else the text */
        uint32_t size;   /* an object's members, an array's elements */
        uint32_t next;   /* the index of the first token after this value (and its children) */
        uint8_t type;    /* enum netd_jtok_type */
        bool escaped;    /* a string with escapes (decoded by netd_jtok_finish) */
        int64_t integer; /* NETD_JTOK_INTEGER's value */
};

/*
 * A tokenized line. Objects hold their members as key, value, key, value...
 * (a key is a string token), arrays their elements; token 0 is the top value.
 */
struct netd_jdoc {
        char *line; /* borrowed: the line tokenized (modified by netd_jtok_finish) */
        size_t len;
        struct netd_jtok *t; /* owned, reused from line to line */
        size_t n, cap;
};

/*
 * Tokenizes line[0..len) (the line is not modified). Returns 0, -EINVAL
 * when jansson would refuse the text (invalid JSON, too deep, an integer
 * out of int64, a real overflow, a duplicate or NUL-holding member name),
 * -E2BIG when it would take more than max_tokens tokens, -ENOMEM.
 */
int netd_jtok_parse(struct netd_jdoc *d, char *line, size_t len, size_t max_tokens);

/* Decodes every string of a parsed line in place and NUL-terminates it. */
void netd_jtok_finish(struct netd_jdoc *d);

/* Frees the token array. */
void netd_jtok_done(struct netd_jdoc *d);

struct json_t;

/*
 * The jansson tree of a finished document, for APIs that hand trees to
 * their users (libnetdclient's callbacks); NULL on allocation failure.
 */
struct json_t *netd_jtok_tree(const struct netd_jdoc *d);

/* A value: a token of a document; i < 0 is "absent". */
struct netd_jv {
        const struct netd_jdoc *doc;
        int i;
};

static inline const struct netd_jtok *netd_jv_tok(struct netd_jv v)
{
        return v.i >= 0 ? &v.doc->t[v.i] : NULL;
}

static inline bool netd_jv_is(struct netd_jv v, enum netd_jtok_type type)
{
        return v.i >= 0 && v.doc->t[v.i].type == type;
}

/* A string token's text (after netd_jtok_finish: decoded, NUL-terminated). */
static inline const char *netd_jv_str(struct netd_jv v)
{
        return v.doc->line + v.doc->t[v.i].start;
}

/* The member of object v named name (len bytes), or an absent value. */
struct netd_jv netd_jv_get(struct netd_jv v, const char *name, size_t len);

/* The member name (a key token's index) and value of member k of object v, in order. */
#define NETD_JV_FOREACH_MEMBER(obj, key, val, k)                                                \
        for ((k) = 0, (key) = (obj).i + 1, (val) = (key) + 1; (k) < (obj).doc->t[(obj).i].size; \
             (k)++, (key) = (int)(obj).doc->t[(val)].next, (val) = (key) + 1)

/* A real or integer token's value as a double (a real is read with strtod). */
double netd_jv_number(struct netd_jv v);

/* What a token is, for messages: "an object", "a string", "a number"... */
const char *netd_jv_type_name(struct netd_jv v);

/* The jansson tree of one value (NULL when absent): for the few handlers that read a nested shape.
 */
struct json_t *netd_jv_tree(struct netd_jv v);
