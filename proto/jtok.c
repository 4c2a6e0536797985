/*
 * The JSON tokenizer (see jtok.h). One pass validates and records tokens
 * without touching the line; a second, only for accepted lines, decodes
 * strings in place. Containers are tracked on an explicit stack, so depth
 * costs no C stack.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef __x86_64__
#include <immintrin.h>
#endif

#include <jansson.h>

#include "encoding.h"
#include "jtok.h"

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * The high bit of each byte of x (little-endian: the first byte lowest)
 * that is below 0x20 or above 0x7e, or is '"' or '\'. Only the lowest set
 * bit is exact (a borrow may flag bytes after a true one): enough to find
 * the first special byte.
 */
static inline uint64_t word_special(uint64_t x)
{
        uint64_t quote = x ^ (ONES * '"'), bslash = x ^ (ONES * '\\');
        uint64_t below = (x - ONES * 0x20) & ~x;
        uint64_t above = (x + ONES * (0x7f - 0x7e)) | x;
        uint64_t zq = (quote - ONES) & ~quote, zb = (bslash - ONES) & ~bslash;

        return (below | above | zq | zb) & HIGHS;
}

/*
 * The first byte at or after p that is '"', '\\', a control character or
 * not ASCII: bulk payloads (base64, plain text) are scanned 64 bytes a step
 * with AVX2 where the CPU has it (chosen at run time), else 16 with SSE2
 * (part of every x86-64). Signed compares make "< 0x20" catch bytes >= 0x80
 * too. Returns p itself without either; the word loop follows.
 */
#ifdef __x86_64__
/* 64 bytes a step while 64 remain: the special byte's offset, or where fewer than 64 remain. */
__attribute__((target("avx2"))) static size_t skip_plain_avx2(const char *s, size_t len, size_t p,
                                                              bool *ret_found)
{
        const __m256i quote = _mm256_set1_epi8('"'), bslash = _mm256_set1_epi8('\\');
        const __m256i space = _mm256_set1_epi8(0x20);

        while (len - p >= 64) {
                __m256i x0 = _mm256_loadu_si256((const __m256i *)(s + p));
                __m256i x1 = _mm256_loadu_si256((const __m256i *)(s + p + 32));
                __m256i m0 = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x0, quote),
                                                             _mm256_cmpeq_epi8(x0, bslash)),
                                             _mm256_cmpgt_epi8(space, x0));
                __m256i m1 = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x1, quote),
                                                             _mm256_cmpeq_epi8(x1, bslash)),
                                             _mm256_cmpgt_epi8(space, x1));
                __m256i any = _mm256_or_si256(m0, m1);

                if (!_mm256_testz_si256(any, any)) {
                        unsigned b0 = (unsigned)_mm256_movemask_epi8(m0);

                        *ret_found = true;
                        if (b0)
                                return p + (size_t)__builtin_ctz(b0);
                        return p + 32 + (size_t)__builtin_ctz((unsigned)_mm256_movemask_epi8(m1));
                }
                p += 64;
        }
        *ret_found = false;
        return p;
}
#endif

/* What skip_plain() leaves for the word loop: fewer than this many bytes. */
#ifdef __SSE2__
#define SKIP_PLAIN_MIN 16
#else
#define SKIP_PLAIN_MIN SIZE_MAX
#endif

static size_t skip_plain(const char *s, size_t len, size_t p)
{
#ifdef __SSE2__
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        const __m128i space = _mm_set1_epi8(0x20);

#ifdef __x86_64__
        if (len - p >= 64 && __builtin_cpu_supports("avx2")) {
                bool found = false;

                p = skip_plain_avx2(s, len, p, &found);
                if (found)
                        return p;
        }
#endif
        while (len - p >= 16) {
                __m128i x = _mm_loadu_si128((const __m128i *)(s + p));
                __m128i m = _mm_or_si128(
                        _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                        _mm_cmplt_epi8(x, space));
                int bits = _mm_movemask_epi8(m);

                if (bits)
                        return p + (size_t)__builtin_ctz((unsigned)bits);
                p += 16;
        }
#endif
        return p;
}

static size_t skip_ws(const char *s, size_t len, size_t p)
{
        while (p < len && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r'))
                p++;
        return p;
}

static bool hex4(const char *s, size_t len, size_t p, uint32_t *ret)
{
        uint32_t v = 0;

        if (len - p < 4 || p > len)
                return false;
        for (size_t i = 0; i < 4; i++) {
                int h = netd_hex_value((uint8_t)s[p + i]);

                if (h < 0)
                        return false;
                v = v << 4 | (uint32_t)h;
        }
        *ret = v;
        return true;
}

/*
 * Validates the string whose opening quote is at p: sets *ret_end to its
 * closing quote and *ret_escaped. A key may not hold U+0000 (jansson).
 */
static int scan_string(const char *s, size_t len, size_t p, bool key, size_t *ret_end,
                       bool *ret_escaped)
{
        bool escaped = false;

        p++;
        for (;;) {
                unsigned char ch;
                uint32_t cp, lo;

                p = skip_plain(s, len, p);
                /* Eight bytes a step over what the SIMD scan left (its tail, or all without it). */
                while (len - p >= 8 && len - p < SKIP_PLAIN_MIN) {
                        uint64_t x, m;

                        memcpy(&x, s + p, 8);
                        m = word_special(x);
                        if (m) {
                                p += (size_t)__builtin_ctzll(m) / 8;
                                break;
                        }
                        p += 8;
                }
                if (p >= len)
                        return -EINVAL;
                ch = (unsigned char)s[p];
                if (ch == '"')
                        break;
                if (ch >= 0x80) {
                        size_t q = p;

                        while (q < len && (unsigned char)s[q] >= 0x80)
                                q++;
                        if (netd_utf8_validate(s + p, q - p) < 0)
                                return -EINVAL;
                        p = q;
                        continue;
                }
                if (ch < 0x20)
                        return -EINVAL;
                if (ch != '\\') {
                        p++;
                        continue;
                }
                escaped = true;
                if (++p >= len)
                        return -EINVAL;
                switch (s[p++]) {
                case '"':
                case '\\':
                case '/':
                case 'b':
                case 'f':
                case 'n':
                case 'r':
                case 't':
                        break;
                case 'u':
                        if (!hex4(s, len, p, &cp))
                                return -EINVAL;
                        p += 4;
                        if (cp >= 0xDC00 && cp <= 0xDFFF)
                                return -EINVAL; /* a low surrogate first */
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                                if (len - p < 6 || s[p] != '\\' || s[p + 1] != 'u' ||
                                    !hex4(s, len, p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                                        return -EINVAL;
                                p += 6;
                        }
                        if (key && cp == 0)
                                return -EINVAL; /* jansson: NUL byte in object key */
                        break;
                default:
                        return -EINVAL;
                }
        }
        *ret_end = p;
        *ret_escaped = escaped;
        return 0;
}

/* Decodes a valid string's content s[0..len) in place; returns the decoded length. */
static size_t decode_in_place(char *s, size_t len)
{
        size_t i = 0, o = 0;

        while (i < len) {
                char *bs = memchr(s + i, '\\', len - i);
                size_t run = bs ? (size_t)(bs - (s + i)) : len - i;
                uint32_t cp = 0, lo = 0xDC00;

                if (o != i)
                        memmove(s + o, s + i, run);
                o += run;
                i += run;
                if (i >= len)
                        break;
                i++; /* the backslash */
                switch (s[i++]) {
                case 'b':
                        s[o++] = '\b';
                        break;
                case 'f':
                        s[o++] = '\f';
                        break;
                case 'n':
                        s[o++] = '\n';
                        break;
                case 'r':
                        s[o++] = '\r';
                        break;
                case 't':
                        s[o++] = '\t';
                        break;
                case 'u':
                        (void)hex4(s, len, i, &cp);
                        i += 4;
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                                (void)hex4(s, len, i + 2, &lo);
                                i += 6;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        }
                        o += netd_utf8_put(s + o, cp);
                        break;
                default: /* '"', '\\', '/' */
                        s[o++] = s[i - 1];
                        break;
                }
        }
        return o;
}

/* A number at p, as jansson's lexer reads it; sets the token's type, value and length. */
static int scan_number(const char *s, size_t len, size_t p, struct netd_jtok *t)
{
        size_t start = p;
        bool real = false;
        char small[64], *text;
        size_t n;

        if (p < len && s[p] == '-')
                p++;
        if (p < len && s[p] == '0') {
                p++;
                if (p < len && s[p] >= '0' && s[p] <= '9')
                        return -EINVAL;
        } else if (p < len && s[p] >= '1' && s[p] <= '9') {
                while (p < len && s[p] >= '0' && s[p] <= '9')
                        p++;
        } else {
                return -EINVAL;
        }
        if (p < len && s[p] == '.') {
                real = true;
                p++;
                if (p >= len || s[p] < '0' || s[p] > '9')
                        return -EINVAL;
                while (p < len && s[p] >= '0' && s[p] <= '9')
                        p++;
        }
        if (p < len && (s[p] == 'e' || s[p] == 'E')) {
                real = true;
                p++;
                if (p < len && (s[p] == '+' || s[p] == '-'))
                        p++;
                if (p >= len || s[p] < '0' || s[p] > '9')
                        return -EINVAL;
                while (p < len && s[p] >= '0' && s[p] <= '9')
                        p++;
        }
        n = p - start;
        t->start = (uint32_t)start;
        t->len = (uint32_t)n;
        if (!real && n - (s[start] == '-') <= 18) {
                /* Up to 18 digits always fit in int64: no strtoll, no copy. */
                int64_t v = 0;

                for (size_t i = start + (s[start] == '-'); i < p; i++)
                        v = v * 10 + (s[i] - '0');
                t->type = NETD_JTOK_INTEGER;
                t->integer = s[start] == '-' ? -v : v;
                return 0;
        }
        text = n < sizeof(small) ? small : malloc(n + 1);
        if (!text)
                return -ENOMEM;
        memcpy(text, s + start, n);
        text[n] = '\0';
        errno = 0;
        if (real) {
                double v = strtod(text, NULL);

                t->type = NETD_JTOK_REAL;
                if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL)) {
                        if (text != small)
                                free(text);
                        return -EINVAL; /* jansson: real number overflow */
                }
        } else {
                long long v = strtoll(text, NULL, 10);

                t->type = NETD_JTOK_INTEGER;
                t->integer = v;
                if (errno == ERANGE) {
                        if (text != small)
                                free(text);
                        return -EINVAL; /* jansson: too big (negative) integer */
                }
        }
        if (text != small)
                free(text);
        return 0;
}

static struct netd_jtok *tok_new(struct netd_jdoc *d, enum netd_jtok_type type, size_t start,
                                 size_t max_tokens, int *ret_err)
{
        struct netd_jtok *t;

        if (d->n >= max_tokens) {
                *ret_err = -E2BIG;
                return NULL;
        }
        if (d->n == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 64;
                struct netd_jtok *nt;

                if (cap > max_tokens)
                        cap = max_tokens;
                nt = realloc(d->t, cap * sizeof(*nt));
                if (!nt) {
                        *ret_err = -ENOMEM;
                        return NULL;
                }
                d->t = nt;
                d->cap = cap;
        }
        t = &d->t[d->n];
        *t = (struct netd_jtok){ .type = (uint8_t)type, .start = (uint32_t)start };
        d->n++;
        t->next = (uint32_t)d->n;
        return t;
}

/* A string token for the string whose quote is at p; *ret_p: the byte after its end. */
static int string_tok(struct netd_jdoc *d, size_t p, bool key, size_t max_tokens, size_t *ret_p)
{
        struct netd_jtok *t;
        bool escaped;
        size_t end;
        int r;

        r = scan_string(d->line, d->len, p, key, &end, &escaped);
        if (r < 0)
                return r;
        t = tok_new(d, NETD_JTOK_STRING, p + 1, max_tokens, &r);
        if (!t)
                return r;
        t->len = (uint32_t)(end - p - 1);
        t->escaped = escaped;
        *ret_p = end + 1;
        return 0;
}

/* A key's bytes for comparison: borrowed when plain, else decoded into *buf (malloc()ed). */
static int key_bytes(const struct netd_jdoc *d, const struct netd_jtok *k, const char **ret,
                     size_t *ret_len, char **buf)
{
        *buf = NULL;
        if (!k->escaped) {
                *ret = d->line + k->start;
                *ret_len = k->len;
                return 0;
        }
        *buf = malloc(k->len ? k->len : 1);
        if (!*buf)
                return -ENOMEM;
        memcpy(*buf, d->line + k->start, k->len);
        *ret_len = decode_in_place(*buf, k->len);
        *ret = *buf;
        return 0;
}

struct key_ref {
        const char *s;
        size_t len;
};

static int key_cmp(const void *a, const void *b)
{
        const struct key_ref *x = a, *y = b;
        size_t n = x->len < y->len ? x->len : y->len;
        int c = memcmp(x->s, y->s, n);

        return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* -EINVAL when object o names a member twice (JSON_REJECT_DUPLICATES). */
static int check_duplicates(const struct netd_jdoc *d, uint32_t o)
{
        const struct netd_jtok *obj = &d->t[o];
        struct key_ref *keys;
        char **bufs;
        uint32_t k, i;
        int r = 0;

        if (obj->size < 2)
                return 0;
        if (obj->size <= 16) {
                /* The usual object: a few plain keys, compared in place, nothing allocated. */
                uint32_t idx[16];
                bool plain = true;

                for (i = 0, k = o + 1; i < obj->size; i++, k = d->t[k + 1].next) {
                        idx[i] = k;
                        plain &= !d->t[k].escaped;
                }
                if (plain) {
                        for (i = 0; i < obj->size; i++)
                                for (uint32_t j = i + 1; j < obj->size; j++) {
                                        const struct netd_jtok *a = &d->t[idx[i]],
                                                               *b = &d->t[idx[j]];

                                        if (a->len == b->len &&
                                            memcmp(d->line + a->start, d->line + b->start,
                                                   a->len) == 0)
                                                return -EINVAL;
                                }
                        return 0;
                }
        }
        keys = calloc(obj->size, sizeof(*keys));
        bufs = calloc(obj->size, sizeof(*bufs));
        if (!keys || !bufs) {
                free(keys);
                free(bufs);
                return -ENOMEM;
        }
        for (i = 0, k = o + 1; i < obj->size; i++, k = d->t[k + 1].next) {
                r = key_bytes(d, &d->t[k], &keys[i].s, &keys[i].len, &bufs[i]);
                if (r < 0)
                        goto out;
        }
        if (obj->size <= 8) {
                for (i = 0; i < obj->size && r == 0; i++)
                        for (uint32_t j = i + 1; j < obj->size; j++)
                                if (key_cmp(&keys[i], &keys[j]) == 0) {
                                        r = -EINVAL;
                                        break;
                                }
        } else {
                qsort(keys, obj->size, sizeof(*keys), key_cmp);
                for (i = 1; i < obj->size; i++)
                        if (key_cmp(&keys[i - 1], &keys[i]) == 0) {
                                r = -EINVAL;
                                break;
                        }
        }
out:
        for (i = 0; i < obj->size; i++)
                free(bufs[i]);
        free(bufs);
        free(keys);
        return r;
}

int netd_jtok_parse(struct netd_jdoc *d, char *line, size_t len, size_t max_tokens)
{
        uint32_t stack[NETD_JTOK_MAX_DEPTH + 1];
        size_t depth = 0, p;
        struct netd_jtok *t;
        int r = 0;

        d->line = line;
        d->len = len;
        d->n = 0;
        if (len > UINT32_MAX)
                return -E2BIG;
        p = skip_ws(line, len, 0);

value:
        /* jansson counts every value's depth, the top one being 1: at most 2048. */
        if (p >= len || depth >= NETD_JTOK_MAX_DEPTH)
                return -EINVAL;
        switch (line[p]) {
        case '{':
        case '[':
                t = tok_new(d, line[p] == '{' ? NETD_JTOK_OBJECT : NETD_JTOK_ARRAY, p, max_tokens,
                            &r);
                if (!t)
                        return r;
                stack[depth++] = (uint32_t)(d->n - 1);
                p = skip_ws(line, len, p + 1);
                if (p < len && line[p] == (t->type == NETD_JTOK_OBJECT ? '}' : ']'))
                        goto close;
                if (t->type == NETD_JTOK_OBJECT)
                        goto key;
                goto value;
        case '"':
                r = string_tok(d, p, false, max_tokens, &p);
                if (r < 0)
                        return r;
                goto after;
        case 't':
        case 'f':
        case 'n': {
                static const struct {
                        const char *text;
                        size_t len;
                        enum netd_jtok_type type;
                } lits[] = { { "true", 4, NETD_JTOK_TRUE },
                             { "false", 5, NETD_JTOK_FALSE },
                             { "null", 4, NETD_JTOK_NULL } };

                for (size_t i = 0; i < 3; i++) {
                        if (len - p < lits[i].len || memcmp(line + p, lits[i].text, lits[i].len))
                                continue;
                        t = tok_new(d, lits[i].type, p, max_tokens, &r);
                        if (!t)
                                return r;
                        t->len = (uint32_t)lits[i].len;
                        p += lits[i].len;
                        goto after;
                }
                return -EINVAL;
        }
        default:
                t = tok_new(d, NETD_JTOK_INTEGER, p, max_tokens, &r);
                if (!t)
                        return r;
                r = scan_number(line, len, p, t);
                if (r < 0)
                        return r;
                p += t->len;
                goto after;
        }

key:
        if (p >= len || line[p] != '"')
                return -EINVAL;
        r = string_tok(d, p, true, max_tokens, &p);
        if (r < 0)
                return r;
        p = skip_ws(line, len, p);
        if (p >= len || line[p] != ':')
                return -EINVAL;
        p = skip_ws(line, len, p + 1);
        goto value;

after:
        /* A value is complete; it is a direct child of the container on top, if any. */
        if (depth == 0) {
                p = skip_ws(line, len, p);
                return p == len ? 0 : -EINVAL;
        }
        d->t[stack[depth - 1]].size++;
        p = skip_ws(line, len, p);
        if (p < len && line[p] == ',') {
                p = skip_ws(line, len, p + 1);
                if (d->t[stack[depth - 1]].type == NETD_JTOK_OBJECT)
                        goto key;
                goto value;
        }
        if (p >= len || line[p] != (d->t[stack[depth - 1]].type == NETD_JTOK_OBJECT ? '}' : ']'))
                return -EINVAL;
close:
        /* line[p] closes the container on top. */
        {
                uint32_t c = stack[--depth];

                d->t[c].next = (uint32_t)d->n;
                d->t[c].len = (uint32_t)(p + 1 - d->t[c].start);
                if (d->t[c].type == NETD_JTOK_OBJECT) {
                        r = check_duplicates(d, c);
                        if (r < 0)
                                return r;
                }
                p++;
        }
        goto after;
}

void netd_jtok_finish(struct netd_jdoc *d)
{
        for (size_t i = 0; i < d->n; i++) {
                struct netd_jtok *t = &d->t[i];

                if (t->type != NETD_JTOK_STRING)
                        continue;
                if (t->escaped)
                        t->len = (uint32_t)decode_in_place(d->line + t->start, t->len);
                d->line[t->start + t->len] = '\0'; /* the closing quote, or inside the escapes */
        }
}

void netd_jtok_done(struct netd_jdoc *d)
{
        free(d->t);
        d->t = NULL;
        d->n = d->cap = 0;
}

struct netd_jv netd_jv_get(struct netd_jv v, const char *name, size_t len)
{
        int key, val;
        uint32_t k;

        if (!netd_jv_is(v, NETD_JTOK_OBJECT))
                return (struct netd_jv){ v.doc, -1 };
        NETD_JV_FOREACH_MEMBER(v, key, val, k) {
                const struct netd_jtok *kt = &v.doc->t[key];

                if (kt->len == len && memcmp(v.doc->line + kt->start, name, len) == 0)
                        return (struct netd_jv){ v.doc, val };
        }
        return (struct netd_jv){ v.doc, -1 };
}

double netd_jv_number(struct netd_jv v)
{
        const struct netd_jtok *t = netd_jv_tok(v);
        char small[64], *text;
        double r;

        if (!t || (t->type != NETD_JTOK_INTEGER && t->type != NETD_JTOK_REAL))
                return 0;
        if (t->type == NETD_JTOK_INTEGER)
                return (double)t->integer;
        text = t->len < sizeof(small) ? small : malloc((size_t)t->len + 1);
        if (!text)
                return 0;
        memcpy(text, v.doc->line + t->start, t->len);
        text[t->len] = '\0';
        r = strtod(text, NULL);
        if (text != small)
                free(text);
        return r;
}

const char *netd_jv_type_name(struct netd_jv v)
{
        switch (v.i >= 0 ? v.doc->t[v.i].type : 0) {
        case NETD_JTOK_OBJECT:
                return "an object";
        case NETD_JTOK_ARRAY:
                return "an array";
        case NETD_JTOK_STRING:
                return "a string";
        case NETD_JTOK_INTEGER:
        case NETD_JTOK_REAL:
                return "a number";
        case NETD_JTOK_TRUE:
        case NETD_JTOK_FALSE:
                return "a boolean";
        case NETD_JTOK_NULL:
                return "null";
        }
        return "a value";
}

/* The tree of value i (after netd_jtok_finish); its index past the value in *next. */
static json_t *tree_of(const struct netd_jdoc *d, uint32_t i)
{
        const struct netd_jtok *t = &d->t[i];
        json_t *v = NULL;
        uint32_t k, n;

        switch (t->type) {
        case NETD_JTOK_OBJECT:
                v = json_object();
                for (n = 0, k = i + 1; v && n < t->size; n++, k = d->t[k + 1].next) {
                        json_t *m = tree_of(d, k + 1);

                        if (!m || json_object_setn_new_nocheck(v, d->line + d->t[k].start,
                                                               d->t[k].len, m) < 0) {
                                json_decref(v);
                                v = NULL;
                        }
                }
                return v;
        case NETD_JTOK_ARRAY:
                v = json_array();
                for (n = 0, k = i + 1; v && n < t->size; n++, k = d->t[k].next)
                        if (json_array_append_new(v, tree_of(d, k)) < 0) {
                                json_decref(v);
                                v = NULL;
                        }
                return v;
        case NETD_JTOK_STRING:
                return json_stringn_nocheck(d->line + t->start, t->len);
        case NETD_JTOK_INTEGER:
                return json_integer(t->integer);
        case NETD_JTOK_REAL:
                return json_real(netd_jv_number((struct netd_jv){ d, (int)i }));
        case NETD_JTOK_TRUE:
                return json_true();
        case NETD_JTOK_FALSE:
                return json_false();
        default:
                return json_null();
        }
}

json_t *netd_jtok_tree(const struct netd_jdoc *d)
{
        return d->n > 0 ? tree_of(d, 0) : NULL;
}

json_t *netd_jv_tree(struct netd_jv v)
{
        return v.i >= 0 ? tree_of(v.doc, (uint32_t)v.i) : NULL;
}
