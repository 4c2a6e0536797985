/*
 * The cursor the fast readers share (daemon/fastpath.c for socket.write,
 * fastjson.c for other plain lines, in the daemon and the client library): literal tokens, JSON integers that
 * fit in int64, and strings of printable ASCII without escapes, the subset
 * of JSON both read without jansson. Header-only so each reader inlines it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cursor {
        const char *p, *end;
};

static inline bool take(struct cursor *c, const char *lit, size_t n)
{
        if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
                return false;
        c->p += n;
        return true;
}

#define TAKE(c, lit) take((c), (lit), sizeof(lit) - 1)

/* A JSON integer: -?(0|[1-9][0-9]*), at most 18 digits so it fits in int64. */
static inline bool take_int(struct cursor *c, int64_t *ret)
{
        bool neg = false;
        int64_t v = 0;
        int digits = 0;

        if (c->p < c->end && *c->p == '-') {
                neg = true;
                c->p++;
        }
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
                return false;
        if (*c->p == '0') {
                c->p++;
                /* A leading zero must stand alone (JSON) and not start a real. */
                if (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' ||
                                      *c->p == 'e' || *c->p == 'E'))
                        return false;
                *ret = 0;
                return !neg; /* "-0" is a real to jansson */
        }
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
                if (++digits > 18)
                        return false;
                v = v * 10 + (*c->p - '0');
                c->p++;
        }
        if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
                return false;
        *ret = neg ? -v : v;
        return true;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* True when a byte of x is below 0x20 or above 0x7e, or is '"' or '\'. */
static inline bool word_has_special(uint64_t x)
{
        uint64_t quote = x ^ (ONES * '"'), bslash = x ^ (ONES * '\\');
        uint64_t below = (x - ONES * 0x20) & ~x;         /* bytes < 0x20 (and >= 0x80) */
        uint64_t above = (x + ONES * (0x7f - 0x7e)) | x; /* bytes > 0x7e */
        uint64_t zq = (quote - ONES) & ~quote, zb = (bslash - ONES) & ~bslash;

        return ((below | above | zq | zb) & HIGHS) != 0;
}

/*
 * A string of printable ASCII without '"' or '\': the content, without the
 * quotes. The payload can be hundreds of KiB: whole words are checked at a
 * time, and only a word that holds something special is looked at bytewise.
 */
static inline bool take_plain_string(struct cursor *c, const char **ret, size_t *ret_len)
{
        const char *s;

        if (c->p >= c->end || *c->p != '"')
                return false;
        s = ++c->p;
        for (;;) {
                while ((size_t)(c->end - c->p) >= 8) {
                        uint64_t x;

                        memcpy(&x, c->p, 8);
                        if (word_has_special(x))
                                break;
                        c->p += 8;
                }
                if (c->p >= c->end)
                        return false;
                for (const char *stop = c->p + 8; c->p < c->end && c->p < stop; c->p++) {
                        unsigned char ch = (unsigned char)*c->p;

                        if (ch == '"') {
                                *ret = s;
                                *ret_len = (size_t)(c->p - s);
                                c->p++;
                                return true;
                        }
                        if (ch < 0x20 || ch > 0x7e || ch == '\\')
                                return false;
                }
        }
}
