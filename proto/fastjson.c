/*
 * The fast reader (see fastjson.h): recursive descent, building jansson
 * values directly. Plain strings go through scan.h's word-at-a-time scan and
 * are borrowed from the line; others are decoded here with jansson's rules
 * (escapes, surrogate pairs, strict UTF-8). Each object is checked for a
 * repeated member name before the member is added, as
 * JSON_REJECT_DUPLICATES would; anything outside the subset unwinds and
 * returns NULL.
 */
#include <stdlib.h>

#include "encoding.h"
#include "fastjson.h"
#include "scan.h"

static void skip_space(struct cursor *c)
{
        while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
                c->p++;
}

static json_t *parse_value(struct cursor *c, int depth);

/* Member names remembered per object for the duplicate check; past this, jansson's lookup. */
#define NAMES_KEPT 16

/*
 * True when key is already a member: compared with the names seen (no
 * hashing) while they are all kept, else looked up.
 */
static bool is_duplicate(json_t *obj, const char *const *names, const size_t *lens, size_t count,
                         bool lookup, const char *key, size_t key_len)
{
        if (lookup)
                return json_object_getn(obj, key, key_len) != NULL;
        for (size_t i = 0; i < count; i++)
                if (lens[i] == key_len && memcmp(names[i], key, key_len) == 0)
                        return true;
        return false;
}

/* The four hex digits of a \u escape at p (before end). */
static bool take_hex4(const char *p, const char *end, uint32_t *ret)
{
        uint32_t v = 0;

        if (end - p < 4)
                return false;
        for (int i = 0; i < 4; i++) {
                int d = netd_hex_value((uint8_t)p[i]);

                if (d < 0)
                        return false;
                v = v << 4 | (uint32_t)d;
        }
        *ret = v;
        return true;
}

/*
 * Decodes the content s..end of a string that holds escapes or non-ASCII
 * text into out (room for end - s bytes: no escape grows). False where
 * jansson refuses the string: a raw control character, an unknown escape,
 * a short or non-hex \u, a lone or unpaired surrogate, invalid UTF-8.
 */
static bool decode_string(const char *s, const char *end, char *out, size_t *ret_len)
{
        char *o = out;

        for (const char *p = s; p < end;) {
                unsigned char ch = (unsigned char)*p;
                uint32_t cp, lo;

                if (ch >= 0x80) {
                        /* A run of non-ASCII bytes holds whole characters, or is invalid. */
                        const char *q = p;

                        while (q < end && (unsigned char)*q >= 0x80)
                                q++;
                        if (netd_utf8_validate(p, (size_t)(q - p)) < 0)
                                return false;
                        memcpy(o, p, (size_t)(q - p));
                        o += q - p;
                        p = q;
                        continue;
                }
                if (ch < 0x20)
                        return false;
                if (ch != '\\') {
                        /* A run of plain ASCII: whole words while none holds a special byte. */
                        const char *q = p + 1;

                        while (end - q >= 8) {
                                uint64_t x;

                                memcpy(&x, q, 8);
                                if (word_has_special(x))
                                        break;
                                q += 8;
                        }
                        while (q < end && (unsigned char)*q >= 0x20 && (unsigned char)*q < 0x80 &&
                               *q != '\\')
                                q++;
                        memcpy(o, p, (size_t)(q - p));
                        o += q - p;
                        p = q;
                        continue;
                }
                if (++p >= end)
                        return false;
                switch (*p++) {
                case '"':
                        *o++ = '"';
                        break;
                case '\\':
                        *o++ = '\\';
                        break;
                case '/':
                        *o++ = '/';
                        break;
                case 'b':
                        *o++ = '\b';
                        break;
                case 'f':
                        *o++ = '\f';
                        break;
                case 'n':
                        *o++ = '\n';
                        break;
                case 'r':
                        *o++ = '\r';
                        break;
                case 't':
                        *o++ = '\t';
                        break;
                case 'u':
                        if (!take_hex4(p, end, &cp))
                                return false;
                        p += 4;
                        if (cp >= 0xDC00 && cp <= 0xDFFF)
                                return false; /* a low surrogate first */
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                                    !take_hex4(p + 2, end, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                                        return false;
                                p += 6;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        }
                        o += netd_utf8_put(o, cp);
                        break;
                default:
                        return false;
                }
        }
        *ret_len = (size_t)(o - out);
        return true;
}

/*
 * A string at c->p: plain printable ASCII is borrowed from the line
 * (*ret_buf NULL); anything else (escapes, non-ASCII text, DEL) is decoded
 * into *ret_buf, a new buffer the caller frees. False for what jansson
 * refuses, or no closing quote.
 */
static bool take_string(struct cursor *c, const char **ret, size_t *ret_len, char **ret_buf)
{
        struct cursor probe = *c;
        const char *s, *q;
        char *buf;

        *ret_buf = NULL;
        if (take_plain_string(&probe, ret, ret_len)) {
                *c = probe;
                return true;
        }
        if (c->p >= c->end || *c->p != '"')
                return false;
        /* The closing quote: the first '"' after an even run of backslashes. */
        s = c->p + 1;
        for (q = s;; q++) {
                size_t backslashes = 0;

                q = memchr(q, '"', (size_t)(c->end - q));
                if (!q)
                        return false;
                while (q - (ptrdiff_t)backslashes > s && q[-1 - (ptrdiff_t)backslashes] == '\\')
                        backslashes++;
                if (backslashes % 2 == 0)
                        break;
        }
        buf = malloc((size_t)(q - s) + 1);
        if (!buf || !decode_string(s, q, buf, ret_len)) {
                free(buf);
                return false;
        }
        c->p = q + 1;
        *ret = buf;
        *ret_buf = buf;
        return true;
}

static json_t *parse_object(struct cursor *c, int depth)
{
        const char *names[NAMES_KEPT];
        size_t lens[NAMES_KEPT], count = 0;
        bool lookup = false;
        json_t *obj = json_object();

        if (!obj)
                return NULL;
        c->p++; /* '{' */
        skip_space(c);
        if (TAKE(c, "}"))
                return obj;
        for (;;) {
                const char *key;
                char *key_buf;
                size_t key_len;
                json_t *v;
                int r;

                if (!take_string(c, &key, &key_len, &key_buf))
                        break;
                /* jansson: "NUL byte in object key not supported" */
                if (key_buf && memchr(key, '\0', key_len)) {
                        free(key_buf);
                        break;
                }
                skip_space(c);
                /* jansson: "duplicate object key" */
                if (!TAKE(c, ":") || is_duplicate(obj, names, lens, count, lookup, key, key_len)) {
                        free(key_buf);
                        break;
                }
                if (key_buf || count == NAMES_KEPT) {
                        /* A decoded name is not kept, nor a 17th: jansson's lookup from now on. */
                        lookup = true;
                } else if (!lookup) {
                        names[count] = key;
                        lens[count] = key_len;
                        count++;
                }
                skip_space(c);
                v = parse_value(c, depth);
                /* The value is stolen even when setting fails; the key is copied. */
                r = v ? json_object_setn_new_nocheck(obj, key, key_len, v) : -1;
                free(key_buf);
                if (r < 0)
                        break;
                skip_space(c);
                if (TAKE(c, "}"))
                        return obj;
                if (!TAKE(c, ","))
                        break;
                skip_space(c);
        }
        json_decref(obj);
        return NULL;
}

static json_t *parse_array(struct cursor *c, int depth)
{
        json_t *arr = json_array();

        if (!arr)
                return NULL;
        c->p++; /* '[' */
        skip_space(c);
        if (TAKE(c, "]"))
                return arr;
        for (;;) {
                json_t *v = parse_value(c, depth);

                if (!v || json_array_append_new(arr, v) < 0)
                        break;
                skip_space(c);
                if (TAKE(c, "]"))
                        return arr;
                if (!TAKE(c, ","))
                        break;
                skip_space(c);
        }
        json_decref(arr);
        return NULL;
}

/* One value at c->p (no white space before it). */
static json_t *parse_value(struct cursor *c, int depth)
{
        const char *s;
        size_t n;
        int64_t i;

        if (c->p >= c->end)
                return NULL;
        switch (*c->p) {
        case '{':
                return depth < NETD_FASTJSON_MAX_DEPTH ? parse_object(c, depth + 1) : NULL;
        case '[':
                return depth < NETD_FASTJSON_MAX_DEPTH ? parse_array(c, depth + 1) : NULL;
        case '"': {
                char *buf;
                json_t *v;

                if (!take_string(c, &s, &n, &buf))
                        return NULL;
                v = json_stringn_nocheck(s, n); /* valid UTF-8, checked on the way */
                free(buf);
                return v;
        }
        case 't':
                return TAKE(c, "true") ? json_true() : NULL;
        case 'f':
                return TAKE(c, "false") ? json_false() : NULL;
        case 'n':
                return TAKE(c, "null") ? json_null() : NULL;
        default:
                /* A literal or number running into more letters fails at the next token. */
                return take_int(c, &i) ? json_integer((json_int_t)i) : NULL;
        }
}

json_t *netd_fastjson_parse(const char *s, size_t len)
{
        struct cursor c = { s, s + len };
        json_t *v;

        skip_space(&c);
        v = parse_value(&c, 0);
        if (!v)
                return NULL;
        skip_space(&c);
        if (c.p != c.end) {
                json_decref(v);
                return NULL;
        }
        return v;
}
