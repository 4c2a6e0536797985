/*
 * The socket.write fast path's recognizer (see fastpath.h). Pure: no daemon
 * state. Members may come in any order, each at most once; the payload is
 * scanned eight bytes a step.
 */
#include <string.h>

#include "encoding.h"
#include "fastpath.h"

struct cursor {
        const char *p, *end;
};

static bool take(struct cursor *c, const char *lit, size_t n)
{
        if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
                return false;
        c->p += n;
        return true;
}

#define TAKE(c, lit) take((c), (lit), sizeof(lit) - 1)

/* A JSON integer: -?(0|[1-9][0-9]*), at most 18 digits so it fits in int64. */
static bool take_int(struct cursor *c, int64_t *ret)
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
static bool take_plain_string(struct cursor *c, const char **ret, size_t *ret_len)
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

/*
 * A string's extent: up to the next '"', found with memchr() (which beats
 * any check of ours), without looking at the content. Its content must be
 * validated before use (take_plain_string() or the payload's decoder).
 */
static bool take_raw_string(struct cursor *c, const char **ret, size_t *ret_len)
{
        const char *q;

        if (c->p >= c->end || *c->p != '"')
                return false;
        q = memchr(c->p + 1, '"', (size_t)(c->end - c->p - 1));
        if (!q)
                return false;
        *ret = c->p + 1;
        *ret_len = (size_t)(q - c->p - 1);
        c->p = q + 1;
        return true;
}

static bool take_id(struct cursor *c, struct netd_fast_write *w)
{
        if (w->has_id)
                return false;
        w->has_id = true;
        if (c->p < c->end && *c->p == '"') {
                w->id_is_string = true;
                return take_plain_string(c, &w->id_str, &w->id_len);
        }
        return take_int(c, &w->id_int);
}

/* {"socket":N,"data":"…"[,"encoding":"E"]}, members in any order. */
static bool take_params(struct cursor *c, struct netd_fast_write *w)
{
        bool has_socket = false, has_data = false, has_encoding = false;
        int64_t socket;

        if (!TAKE(c, "{"))
                return false;
        do {
                if (TAKE(c, "\"socket\":")) {
                        if (has_socket || !take_int(c, &socket) || socket <= 0)
                                return false;
                        w->socket = (uint64_t)socket;
                        has_socket = true;
                } else if (TAKE(c, "\"data\":")) {
                        if (has_data || !take_raw_string(c, &w->data, &w->data_len))
                                return false;
                        has_data = true;
                } else if (TAKE(c, "\"encoding\":")) {
                        const char *name;
                        size_t name_len;
                        char buf[16];
                        int e;

                        if (has_encoding || !take_plain_string(c, &name, &name_len) ||
                            name_len >= sizeof(buf))
                                return false;
                        memcpy(buf, name, name_len);
                        buf[name_len] = '\0';
                        e = netd_encoding_from_string(buf);
                        if (e < 0)
                                return false;
                        w->encoding = e;
                        has_encoding = true;
                } else {
                        return false;
                }
        } while (TAKE(c, ","));
        if (!TAKE(c, "}") || !has_socket || !has_data)
                return false;
        /*
         * The alphabets of base64, base64url and hex hold nothing JSON would
         * read differently (no quote, backslash, control or non-ASCII byte):
         * their decoder is the check (fastpath.h). Text encodings are checked
         * here.
         */
        w->data_unchecked = w->encoding == NETD_ENC_BASE64 || w->encoding == NETD_ENC_BASE64URL ||
                            w->encoding == NETD_ENC_HEX;
        if (!w->data_unchecked) {
                struct cursor d = { w->data - 1, w->data + w->data_len + 1 };
                const char *s;
                size_t n;

                if (!take_plain_string(&d, &s, &n) || n != w->data_len)
                        return false;
        }
        return true;
}

int netd_fastpath_write(const char *line, size_t len, struct netd_fast_write *ret)
{
        struct cursor c = { line, line + len };
        struct netd_fast_write w = { .encoding = NETD_ENC_UTF8 };
        bool has_version = false, has_method = false, has_params = false;

        if (!TAKE(&c, "{"))
                return 0;
        do {
                if (TAKE(&c, "\"jsonrpc\":\"2.0\"")) {
                        if (has_version)
                                return 0;
                        has_version = true;
                } else if (TAKE(&c, "\"method\":\"socket.write\"")) {
                        if (has_method)
                                return 0;
                        has_method = true;
                } else if (TAKE(&c, "\"params\":")) {
                        if (has_params || !take_params(&c, &w))
                                return 0;
                        has_params = true;
                } else if (TAKE(&c, "\"id\":")) {
                        if (!take_id(&c, &w))
                                return 0;
                } else {
                        return 0;
                }
        } while (TAKE(&c, ","));
        if (!TAKE(&c, "}") || c.p != c.end || !has_version || !has_method || !has_params)
                return 0;
        *ret = w;
        return 1;
}
