/*
 * Node Buffer encodings (see encoding.h): strict text-to-bytes decoding for
 * socket.write, StringDecoder-style bytes-to-text for socket.data, base64 and
 * JSON string escaping. Pure functions over caller-owned buffers; the only
 * state is the caller's struct netd_strdec and base64 lookup tables built
 * once (pthread_once) on first use. Nothing here allocates.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "encoding.h"

/* Marks an invalid UTF-8 sequence in utf8_seq()'s result. */
#define UTF8_BAD UINT32_C(0xFFFFFFFF)

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
#define UTF8_REPLACEMENT     "\xEF\xBF\xBD"
#define UTF8_REPLACEMENT_LEN 3

#define ASCII_MASK8 UINT64_C(0x8080808080808080)

/*
 * base64 has SSSE3 loops on x86-64 (gcc and clang), chosen at run time; the
 * portable loops below them do the rest, and everything on other CPUs.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define NETD_SIMD_X86 1
#include <tmmintrin.h>

/* Reads what libgcc's constructor found: cheap, and safe from any thread. */
static bool have_ssse3(void)
{
        return __builtin_cpu_supports("ssse3");
}
#else
#define NETD_SIMD_X86 0
#endif

static const char *const encoding_names[_NETD_ENC_MAX] = {
        [NETD_ENC_UTF8] = "utf8",           [NETD_ENC_BASE64] = "base64",
        [NETD_ENC_BASE64URL] = "base64url", [NETD_ENC_HEX] = "hex",
        [NETD_ENC_LATIN1] = "latin1",       [NETD_ENC_ASCII] = "ascii",
        [NETD_ENC_UTF16LE] = "utf16le",
};

/* Every name Node's Buffer.isEncoding() accepts, aliases included. */
static const struct {
        const char *name;
        enum netd_encoding enc;
} encoding_aliases[] = {
        { "utf8", NETD_ENC_UTF8 },       { "utf-8", NETD_ENC_UTF8 },
        { "base64", NETD_ENC_BASE64 },   { "base64url", NETD_ENC_BASE64URL },
        { "hex", NETD_ENC_HEX },         { "latin1", NETD_ENC_LATIN1 },
        { "binary", NETD_ENC_LATIN1 },   { "ascii", NETD_ENC_ASCII },
        { "utf16le", NETD_ENC_UTF16LE }, { "utf-16le", NETD_ENC_UTF16LE },
        { "ucs2", NETD_ENC_UTF16LE },    { "ucs-2", NETD_ENC_UTF16LE },
};

static const char b64_std_alphabet[65] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url_alphabet[65] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Reverse alphabets: the 6-bit value of each character, 255 when it is not in the alphabet. */
/* clang-format off */
static const uint8_t b64_std_dec[256] = {
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255, 255,  63,
         52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255, 255, 255, 255,
        255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
         15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255, 255,
        255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
         41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

static const uint8_t b64_url_dec[256] = {
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255,
         52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255, 255, 255, 255,
        255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
         15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255,  63,
        255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
         41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

/*
 * How netd_json_escape() writes each byte: 0 copies it, 'u' gives \u00XX,
 * anything else is the letter after the backslash.
 */
static const char json_escapes[256] = {
        'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
        'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
        0,   0,   '"', 0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
        0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
        0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
        0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   '\\', 0,  0,   0,
};
/* clang-format on */

static const char hex_digits[16] = "0123456789abcdef";

int netd_encoding_from_string(const char *s)
{
        size_t i;

        if (!s)
                return -EINVAL;
        for (i = 0; i < sizeof(encoding_aliases) / sizeof(encoding_aliases[0]); i++) {
                if (strcasecmp(s, encoding_aliases[i].name) == 0)
                        return encoding_aliases[i].enc;
        }
        return -EINVAL;
}

const char *netd_encoding_to_string(enum netd_encoding e)
{
        if (e < 0 || e >= _NETD_ENC_MAX)
                return NULL;
        return encoding_names[e];
}

/* ---- UTF-8 ---- */

/*
 * Reads one UTF-8 sequence at s (len >= 1), following the well-formed byte
 * sequences of Unicode table 3-7. Returns the bytes it spans and the code
 * point in *ret_cp; for an ill-formed sequence *ret_cp is UTF8_BAD and the
 * span is its "maximal subpart" (the lead byte plus the continuation bytes
 * that still fit), which is what the WHATWG decoder, and so V8 and Node,
 * replace with one U+FFFD.
 */
static size_t utf8_seq(const uint8_t *s, size_t len, uint32_t *ret_cp)
{
        uint8_t c = s[0], lo = 0x80, hi = 0xBF;
        size_t need, i;
        uint32_t cp;

        if (c < 0x80) {
                *ret_cp = c;
                return 1;
        }
        if (c >= 0xC2 && c <= 0xDF) {
                need = 1;
                cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                cp = c & 0x0F;
                if (c == 0xE0)
                        lo = 0xA0; /* overlong */
                else if (c == 0xED)
                        hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                cp = c & 0x07;
                if (c == 0xF0)
                        lo = 0x90; /* overlong */
                else if (c == 0xF4)
                        hi = 0x8F; /* above U+10FFFF */
        } else {
                /* A continuation byte, C0/C1 (always overlong) or F5..FF. */
                *ret_cp = UTF8_BAD;
                return 1;
        }
        for (i = 1; i <= need; i++) {
                if (i >= len || s[i] < lo || s[i] > hi) {
                        *ret_cp = UTF8_BAD;
                        return i;
                }
                cp = (cp << 6) | (s[i] & 0x3F);
                lo = 0x80;
                hi = 0xBF;
        }
        *ret_cp = cp;
        return need + 1;
}

/* True when the 8 bytes at s are all ASCII. */
static bool ascii8(const uint8_t *s)
{
        uint64_t w;

        memcpy(&w, s, sizeof(w));
        return (w & ASCII_MASK8) == 0;
}

int netd_utf8_validate(const char *in, size_t len)
{
        const uint8_t *s = (const uint8_t *)in;
        size_t i = 0;
        uint32_t cp;

        while (i < len) {
                if (len - i >= 8 && ascii8(s + i)) {
                        i += 8;
                        continue;
                }
                if (s[i] < 0x80) {
                        i++;
                        continue;
                }
                i += utf8_seq(s + i, len - i, &cp);
                if (cp == UTF8_BAD)
                        return -EINVAL;
        }
        return 0;
}

/*
 * Copies s to out, replacing each ill-formed maximal subpart with U+FFFD,
 * exactly as V8's String::NewFromUtf8() does. Runs of valid text are copied
 * with one memcpy(). Writes at most 3 * len bytes; returns the count.
 */
static size_t utf8_sanitize(const uint8_t *s, size_t len, char *out)
{
        size_t i = 0, run = 0, n;
        char *o = out;
        uint32_t cp;

        while (i < len) {
                if (len - i >= 8 && ascii8(s + i)) {
                        i += 8;
                        continue;
                }
                if (s[i] < 0x80) {
                        i++;
                        continue;
                }
                n = utf8_seq(s + i, len - i, &cp);
                if (cp != UTF8_BAD) {
                        i += n;
                        continue;
                }
                memcpy(o, s + run, i - run);
                o += i - run;
                memcpy(o, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
                o += UTF8_REPLACEMENT_LEN;
                i += n;
                run = i;
        }
        memcpy(o, s + run, len - run);
        o += len - run;
        return (size_t)(o - out);
}

/* See encoding.h. */
size_t netd_utf8_put(char *o, uint32_t cp)
{
        if (cp < 0x80) {
                o[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                o[0] = (char)(0xC0 | (cp >> 6));
                o[1] = (char)(0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) {
                memcpy(o, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
                return UTF8_REPLACEMENT_LEN;
        }
        if (cp < 0x10000) {
                o[0] = (char)(0xE0 | (cp >> 12));
                o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[2] = (char)(0x80 | (cp & 0x3F));
                return 3;
        }
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
}

/*
 * The length Node's StringDecoder gives a character from its first byte
 * (just the bit pattern: C0, C1 and F5..F7 count too), 0 for ASCII,
 * continuation bytes and F8..FF.
 */
static size_t utf8_lead_len(uint8_t c)
{
        if ((c & 0xE0) == 0xC0)
                return 2;
        if ((c & 0xF0) == 0xE0)
                return 3;
        if ((c & 0xF8) == 0xF0)
                return 4;
        return 0;
}

/* ---- text to bytes ---- */

size_t netd_decode_max(enum netd_encoding e, size_t len)
{
        switch (e) {
        case NETD_ENC_UTF8:
        case NETD_ENC_LATIN1:
        case NETD_ENC_ASCII:
                return len;
        case NETD_ENC_HEX:
                return len / 2;
        case NETD_ENC_BASE64:
        case NETD_ENC_BASE64URL:
                return (len + 3) / 4 * 3;
        case NETD_ENC_UTF16LE:
                /* 1-, 2- and 3-byte characters give one unit, 4-byte ones two. */
                return len * 2;
        case _NETD_ENC_MAX:
        case _NETD_ENC_INVALID:
                break;
        }
        return 0;
}

int netd_hex_value(uint8_t c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static ssize_t decode_hex(const uint8_t *s, size_t len, uint8_t *out)
{
        size_t i;

        if (len % 2)
                return -EINVAL;
        for (i = 0; i < len; i += 2) {
                int hi = netd_hex_value(s[i]), lo = netd_hex_value(s[i + 1]);

                if (hi < 0 || lo < 0)
                        return -EINVAL;
                out[i / 2] = (uint8_t)(hi << 4 | lo);
        }
        return (ssize_t)(len / 2);
}

/*
 * Decode table for two characters at once, indexed by their two bytes as a
 * little-endian 16-bit value: their 12 bits, or bit 15 set when either is
 * outside the alphabet. Built on first use; 128 KiB per alphabet, of which
 * only the 4096 valid pairs are hot.
 */
struct b64_pairs {
        uint16_t v[65536];
};

static struct b64_pairs b64_std_pairs, b64_url_pairs;
static pthread_once_t b64_std_pairs_once = PTHREAD_ONCE_INIT,
                      b64_url_pairs_once = PTHREAD_ONCE_INIT;

static void b64_pairs_fill(struct b64_pairs *t, const uint8_t *dec)
{
        for (unsigned i = 0; i < 65536; i++) {
                uint8_t a = dec[i & 0xFF], b = dec[i >> 8];

                t->v[i] = (a | b) & 0x80 ? 0x8000 : (uint16_t)(a << 6 | b);
        }
}

static void b64_std_pairs_fill(void)
{
        b64_pairs_fill(&b64_std_pairs, b64_std_dec);
}

static void b64_url_pairs_fill(void)
{
        b64_pairs_fill(&b64_url_pairs, b64_url_dec);
}

/* Built once, on first use, safely from any thread (libnetdclient runs in its users' threads). */
static const struct b64_pairs *b64_pair_decode_table(const uint8_t *dec)
{
        if (dec == b64_std_dec) {
                (void)pthread_once(&b64_std_pairs_once, b64_std_pairs_fill);
                return &b64_std_pairs;
        }
        (void)pthread_once(&b64_url_pairs_once, b64_url_pairs_fill);
        return &b64_url_pairs;
}

static inline unsigned pair_index(const uint8_t *p)
{
        return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/*
 * Strict base64: only the alphabet's 64 characters, then optionally the
 * padding that makes the length a multiple of 4. An unpadded tail of 2 or 3
 * characters is fine; a tail of 1 carries no whole byte and is rejected. The
 * bits below the last whole byte must be zero, otherwise they would be
 * dropped silently (Node ignores them; RFC 4648 section 3.5 allows rejecting).
 */
#if NETD_SIMD_X86
/*
 * SSSE3: 16 characters in, 12 bytes out a step (Muła and Lemire, "Faster
 * Base64 Encoding and Decoding using AVX2 Instructions", 2018, in 16-byte
 * registers). A character is valid when the bit its high nibble selects
 * (check_hi) is clear in the mask of its low nibble (check_lo); bytes from
 * 0x80 and control characters select bit 4, set in every mask. The high
 * nibble also picks the offset to the 6-bit value (roll), with one fix-up
 * for the character that shares a nibble with others ('/' or '_'). Two
 * multiply-adds pack four values into 24 bits and a shuffle puts the bytes
 * in order.
 */
struct b64_simd_tables {
        int8_t check_lo[16], check_hi[16], roll[16];
};

/* clang-format off */
static const struct b64_simd_tables b64_simd_std = {
        /* '+' (2B) and '/' (2F) are the valid characters with high nibble 2 (bit 0). */
        .check_lo = { 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                      0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A },
        .check_hi = { 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08,
                      0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10 },
        /* index: the high nibble, minus 1 for '/' */
        .roll = { 0, 63 - '/', 62 - '+', 52 - '0', 0 - 'A', 0 - 'A', 26 - 'a', 26 - 'a',
                  0, 0, 0, 0, 0, 0, 0, 0 },
};

static const struct b64_simd_tables b64_simd_url = {
        /* '-' (2D) with high nibble 2 (bit 0); '_' (5F) with 5 (bit 3), unlike DEL (7F, bit 5) */
        .check_lo = { 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                      0x11, 0x11, 0x13, 0x3B, 0x3B, 0x3A, 0x3B, 0x33 },
        .check_hi = { 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x20,
                      0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10 },
        /* index: the high nibble; '_' then gets 63 - '_' instead of 0 - 'A' */
        .roll = { 0, 0, 62 - '-', 52 - '0', 0 - 'A', 0 - 'A', 26 - 'a', 26 - 'a',
                  0, 0, 0, 0, 0, 0, 0, 0 },
};
/* clang-format on */

/*
 * Stores 16 bytes for 12: runs while at least 24 characters remain, so the
 * 4 extra stay inside netd_decode_max() and are rewritten by what follows.
 * Returns the characters done, or -1 at a block holding a character outside
 * the alphabet.
 */
__attribute__((target("ssse3"))) static ssize_t decode_base64_ssse3(const uint8_t *restrict s,
                                                                    size_t n, uint8_t *restrict out,
                                                                    bool url)
{
        const struct b64_simd_tables *t = url ? &b64_simd_url : &b64_simd_std;
        const __m128i check_lo = _mm_loadu_si128((const __m128i *)(const void *)t->check_lo);
        const __m128i check_hi = _mm_loadu_si128((const __m128i *)(const void *)t->check_hi);
        const __m128i roll = _mm_loadu_si128((const __m128i *)(const void *)t->roll);
        const __m128i nibble = _mm_set1_epi8(0x0F), zero = _mm_setzero_si128();
        /* std: '/' steps its roll index back by one; url: '_' adds 65 - 32 to its offset */
        const __m128i special = _mm_set1_epi8(url ? '_' : '/');
        const __m128i order = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
        size_t i = 0;

        for (; i + 24 <= n; i += 16) {
                __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
                __m128i hi = _mm_and_si128(_mm_srli_epi32(c, 4), nibble);
                __m128i lo = _mm_and_si128(c, nibble);
                __m128i is_special = _mm_cmpeq_epi8(c, special);
                __m128i bad = _mm_and_si128(_mm_shuffle_epi8(check_lo, lo),
                                            _mm_shuffle_epi8(check_hi, hi));
                __m128i v;

                if (_mm_movemask_epi8(_mm_cmpeq_epi8(bad, zero)) != 0xFFFF)
                        return -1;
                if (url)
                        v = _mm_add_epi8(
                                _mm_add_epi8(c, _mm_shuffle_epi8(roll, hi)),
                                _mm_and_si128(is_special, _mm_set1_epi8((63 - '_') - (0 - 'A'))));
                else
                        v = _mm_add_epi8(c, _mm_shuffle_epi8(roll, _mm_add_epi8(hi, is_special)));
                /* sixteen 6-bit values a, b, c, d, ... */
                v = _mm_maddubs_epi16(v, _mm_set1_epi32(0x01400140)); /* a << 6 | b */
                v = _mm_madd_epi16(v, _mm_set1_epi32(0x00011000));    /* ab << 12 | cd */
                _mm_storeu_si128((__m128i *)(void *)out, _mm_shuffle_epi8(v, order));
                out += 12;
        }
        return (ssize_t)i;
}
#endif

static ssize_t decode_base64(const uint8_t *s, size_t len, uint8_t *out, const uint8_t *dec)
{
        size_t n = len, pad = 0, i;
        uint8_t *o = out;
        uint32_t v;

        while (n > 0 && pad < 2 && s[n - 1] == '=') {
                n--;
                pad++;
        }
        if (pad > 0 && len % 4 != 0)
                return -EINVAL;
        if (n % 4 == 1)
                return -EINVAL;

        i = 0;
#if NETD_SIMD_X86
        if (n >= 24 && have_ssse3()) {
                ssize_t done = decode_base64_ssse3(s, n, o, dec == b64_url_dec);

                if (done < 0)
                        return -EINVAL;
                i = (size_t)done;
                o += i / 4 * 3;
        }
#endif
        if (n - i >= 8) {
                const struct b64_pairs *t = b64_pair_decode_table(dec);

                /*
                 * 8 characters a step, as 4 pairs of 12 bits: one validity test
                 * and one 8-byte store per 6 bytes. The store's last 2 bytes are
                 * rewritten by what follows: the loop stops while at least 4
                 * more characters (3 more bytes) remain.
                 */
                for (; i + 12 <= n; i += 8) {
                        uint64_t p0 = t->v[pair_index(s + i)], p1 = t->v[pair_index(s + i + 2)];
                        uint64_t p2 = t->v[pair_index(s + i + 4)], p3 = t->v[pair_index(s + i + 6)];
                        uint64_t word;

                        if ((p0 | p1 | p2 | p3) & 0x8000)
                                return -EINVAL;
                        word = __builtin_bswap64(p0 << 52 | p1 << 40 | p2 << 28 | p3 << 16);
                        memcpy(o, &word, 8);
                        o += 6;
                }
        }
        for (; i + 4 <= n; i += 4) {
                uint8_t a = dec[s[i]], b = dec[s[i + 1]], c = dec[s[i + 2]], d = dec[s[i + 3]];

                /* 255 is the only table value with bit 7 set. */
                if ((a | b | c | d) & 0x80)
                        return -EINVAL;
                v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
                o[0] = (uint8_t)(v >> 16);
                o[1] = (uint8_t)(v >> 8);
                o[2] = (uint8_t)v;
                o += 3;
        }
        if (n - i == 2) {
                uint8_t a = dec[s[i]], b = dec[s[i + 1]];

                if (((a | b) & 0x80) || (b & 0x0F))
                        return -EINVAL;
                *o++ = (uint8_t)(a << 2 | b >> 4);
        } else if (n - i == 3) {
                uint8_t a = dec[s[i]], b = dec[s[i + 1]], c = dec[s[i + 2]];

                if (((a | b | c) & 0x80) || (c & 0x03))
                        return -EINVAL;
                v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
                *o++ = (uint8_t)(v >> 16);
                *o++ = (uint8_t)(v >> 8);
        }
        return (ssize_t)(o - out);
}

/* latin1 (max 0xFF) and ascii (max 0x7F): one byte per code point. */
static ssize_t decode_narrow(const uint8_t *s, size_t len, uint8_t *out, uint32_t max)
{
        size_t i = 0;
        uint8_t *o = out;
        uint32_t cp;

        while (i < len) {
                i += utf8_seq(s + i, len - i, &cp);
                if (cp == UTF8_BAD || cp > max)
                        return -EINVAL;
                *o++ = (uint8_t)cp;
        }
        return (ssize_t)(o - out);
}

static ssize_t decode_utf16le(const uint8_t *s, size_t len, uint8_t *out)
{
        size_t i = 0;
        uint8_t *o = out;
        uint32_t cp;

        while (i < len) {
                i += utf8_seq(s + i, len - i, &cp);
                if (cp == UTF8_BAD)
                        return -EINVAL;
                if (cp >= 0x10000) {
                        uint32_t hi = 0xD800 + ((cp - 0x10000) >> 10);
                        uint32_t lo = 0xDC00 + ((cp - 0x10000) & 0x3FF);

                        *o++ = (uint8_t)hi;
                        *o++ = (uint8_t)(hi >> 8);
                        cp = lo;
                }
                *o++ = (uint8_t)cp;
                *o++ = (uint8_t)(cp >> 8);
        }
        return (ssize_t)(o - out);
}

ssize_t netd_decode(enum netd_encoding e, const char *in, size_t len, uint8_t *out)
{
        const uint8_t *s = (const uint8_t *)in;
        int r;

        if (len == 0)
                return 0;
        switch (e) {
        case NETD_ENC_UTF8:
                r = netd_utf8_validate(in, len);
                if (r < 0)
                        return r;
                memcpy(out, in, len);
                return (ssize_t)len;
        case NETD_ENC_HEX:
                return decode_hex(s, len, out);
        case NETD_ENC_BASE64:
                return decode_base64(s, len, out, b64_std_dec);
        case NETD_ENC_BASE64URL:
                return decode_base64(s, len, out, b64_url_dec);
        case NETD_ENC_LATIN1:
                return decode_narrow(s, len, out, 0xFF);
        case NETD_ENC_ASCII:
                return decode_narrow(s, len, out, 0x7F);
        case NETD_ENC_UTF16LE:
                return decode_utf16le(s, len, out);
        case _NETD_ENC_MAX:
        case _NETD_ENC_INVALID:
                break;
        }
        return -EINVAL;
}

/* ---- bytes to text ---- */

/* Two output characters for each 12-bit value, per alphabet, built on first use. */
static uint16_t b64_std_chars[4096], b64_url_chars[4096];
static pthread_once_t b64_std_chars_once = PTHREAD_ONCE_INIT,
                      b64_url_chars_once = PTHREAD_ONCE_INIT;

static void b64_chars_fill(uint16_t *t, const char *a)
{
        for (int v = 0; v < 4096; v++) {
                char pair[2] = { a[v >> 6], a[v & 0x3F] };

                memcpy(&t[v], pair, 2);
        }
}

static void b64_std_chars_fill(void)
{
        b64_chars_fill(b64_std_chars, b64_std_alphabet);
}

static void b64_url_chars_fill(void)
{
        b64_chars_fill(b64_url_chars, b64_url_alphabet);
}

/* Built once, on first use, safely from any thread. */
static const uint16_t *b64_pair_table(const char *a)
{
        if (a == b64_std_alphabet) {
                (void)pthread_once(&b64_std_chars_once, b64_std_chars_fill);
                return b64_std_chars;
        }
        (void)pthread_once(&b64_url_chars_once, b64_url_chars_fill);
        return b64_url_chars;
}

#if NETD_SIMD_X86
/*
 * SSSE3 (every x86-64 CPU since 2006, checked at run time): 12 bytes in,
 * 16 characters out a step, with Wojciech Muła's method ("Base64 encoding
 * with SIMD instructions", 2016): a byte shuffle puts each 3-byte group in a
 * 32-bit lane, two multiplies move its four 6-bit fields to byte
 * boundaries, and a 16-entry shuffle table turns the values into the
 * alphabet's characters by range (A-Z, a-z, 0-9, the last two). About 3 x
 * the table loop below. Loads 16 bytes for 12: runs while at least 6 groups
 * (18 bytes) remain, so it never reads past the input. Returns the groups
 * done.
 */
__attribute__((target("ssse3"))) static size_t base64_encode_ssse3(const uint8_t *restrict in,
                                                                   size_t ngroups,
                                                                   char *restrict out, bool url)
{
        const __m128i spread = _mm_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1);
        const __m128i shift = _mm_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                            '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                            '0' - 52, (char)(url ? '-' - 62 : '+' - 62),
                                            (char)(url ? '_' - 63 : '/' - 63), 'A', 0, 0);
        size_t g = 0;

        for (; g + 6 <= ngroups; g += 4) {
                __m128i v = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)in),
                                             spread);
                __m128i hi = _mm_mulhi_epu16(_mm_and_si128(v, _mm_set1_epi32(0x0fc0fc00)),
                                             _mm_set1_epi32(0x04000040));
                __m128i lo = _mm_mullo_epi16(_mm_and_si128(v, _mm_set1_epi32(0x003f03f0)),
                                             _mm_set1_epi32(0x01000010));
                __m128i idx = _mm_or_si128(hi, lo); /* sixteen 6-bit values */
                /* 0..51 -> 0, 52..61 -> 1..10, 62 -> 11, 63 -> 12; then 0..25 -> 13 */
                __m128i range = _mm_subs_epu8(idx, _mm_set1_epi8(51));
                __m128i upper = _mm_cmpgt_epi8(_mm_set1_epi8(26), idx);

                range = _mm_or_si128(range, _mm_and_si128(upper, _mm_set1_epi8(13)));
                _mm_storeu_si128((__m128i *)(void *)out,
                                 _mm_add_epi8(_mm_shuffle_epi8(shift, range), idx));
                in += 12;
                out += 16;
        }
        return g;
}

#endif

static size_t base64_encode_groups(const uint8_t *restrict in, size_t ngroups, char *restrict out,
                                   const char *restrict a)
{
        const uint16_t *pairs = b64_pair_table(a);
        size_t g = 0;

#if NETD_SIMD_X86
        if (have_ssse3()) {
                g = base64_encode_ssse3(in, ngroups, out, a[62] == '-');
                in += g * 3;
                out += g * 4;
        }
#endif

        /*
         * The groups SIMD left (all of them without it): two lookups of 12
         * bits per 3 bytes, 6 bytes a step (about 1.7 GB/s with gcc 12 -O2
         * on x86-64), one 8-byte load (the loop keeps at least one more
         * group, so the 2 extra bytes read are the input's own) and one
         * 8-byte store.
         */
        for (; g + 2 < ngroups; g += 2) {
                uint64_t x, word;

                memcpy(&x, in, 8);
                x = __builtin_bswap64(x);
                word = (uint64_t)pairs[(x >> 52) & 0xFFF] |
                       (uint64_t)pairs[(x >> 40) & 0xFFF] << 16 |
                       (uint64_t)pairs[(x >> 28) & 0xFFF] << 32 |
                       (uint64_t)pairs[(x >> 16) & 0xFFF] << 48;
                memcpy(out, &word, 8);
                in += 6;
                out += 8;
        }
        for (; g < ngroups; g++) {
                uint32_t v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];

                out[0] = a[v >> 18];
                out[1] = a[(v >> 12) & 0x3F];
                out[2] = a[(v >> 6) & 0x3F];
                out[3] = a[v & 0x3F];
                in += 3;
                out += 4;
        }
        return ngroups * 4;
}

size_t netd_base64_encode(const uint8_t *in, size_t len, char *out, int url)
{
        const char *a = url ? b64_url_alphabet : b64_std_alphabet;
        size_t i = len - len % 3;
        char *o = out;
        uint32_t v;

        o += base64_encode_groups(in, len / 3, out, a);
        if (len - i == 1) {
                v = (uint32_t)in[i] << 16;
                *o++ = a[v >> 18];
                *o++ = a[(v >> 12) & 0x3F];
                if (!url) {
                        *o++ = '=';
                        *o++ = '=';
                }
        } else if (len - i == 2) {
                v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
                *o++ = a[v >> 18];
                *o++ = a[(v >> 12) & 0x3F];
                *o++ = a[(v >> 6) & 0x3F];
                if (!url)
                        *o++ = '=';
        }
        return (size_t)(o - out);
}

void netd_strdec_init(struct netd_strdec *d, enum netd_encoding enc)
{
        *d = (struct netd_strdec){ .enc = enc };
}

size_t netd_strdec_max(const struct netd_strdec *d, size_t len)
{
        size_t n = d->npending + len;

        switch (d->enc) {
        case NETD_ENC_UTF8:
                /* Each byte is at worst one U+FFFD. */
                return n * UTF8_REPLACEMENT_LEN;
        case NETD_ENC_BASE64:
        case NETD_ENC_BASE64URL:
                return NETD_BASE64_ENCODED_MAX(n);
        case NETD_ENC_HEX:
        case NETD_ENC_LATIN1:
                return len * 2;
        case NETD_ENC_ASCII:
                return len;
        case NETD_ENC_UTF16LE:
                /* A unit (or an odd byte at the end) gives at most 3 bytes, a pair 4. */
                return (n + 1) / 2 * 3;
        case _NETD_ENC_MAX:
        case _NETD_ENC_INVALID:
                break;
        }
        return 0;
}

/*
 * Node's StringDecoder for utf8 (src/string_decoder.cc), step for step: a
 * held-back partial character is completed with the continuation bytes that
 * follow, or cut short by the first byte that isn't one; then a trailing
 * partial character of the new data is held back. Each piece is converted
 * with V8's replacement rules (utf8_sanitize()).
 */
static size_t strdec_utf8_write(struct netd_strdec *d, const uint8_t *in, size_t len, char *out)
{
        char *o = out;
        size_t i, keep = 0;

        if (d->npending > 0) {
                size_t missing = utf8_lead_len(d->pending[0]) - d->npending;

                for (i = 0; i < len && i < missing && (in[i] & 0xC0) == 0x80; i++)
                        d->pending[d->npending++] = in[i];
                in += i;
                len -= i;
                if (i < missing && len == 0)
                        return 0; /* still incomplete, and no more input */
                o += utf8_sanitize(d->pending, d->npending, o);
                d->npending = 0;
        }
        if (len == 0)
                return (size_t)(o - out);

        if (in[len - 1] & 0x80) {
                /* Find where the last character starts, at most 3 bytes back. */
                for (i = len - 1;; i--) {
                        keep++;
                        if ((in[i] & 0xC0) == 0x80) {
                                if (keep >= 4 || i == 0) {
                                        keep = 0; /* no lead byte: let the conversion handle it */
                                        break;
                                }
                        } else {
                                size_t want = utf8_lead_len(in[i]);

                                if (want == 0 || keep >= want)
                                        keep = 0; /* complete, or invalid anyway */
                                break;
                        }
                }
        }
        o += utf8_sanitize(in, len - keep, o);
        memcpy(d->pending, in + len - keep, keep);
        d->npending = keep;
        return (size_t)(o - out);
}

/*
 * base64: only whole 3-byte groups are encoded, so every chunk's text is
 * standalone base64 and the concatenation equals the one-shot encoding.
 */
static size_t strdec_base64_write(struct netd_strdec *d, const uint8_t *in, size_t len, char *out)
{
        int url = d->enc == NETD_ENC_BASE64URL;
        char *o = out;
        size_t whole;

        if (d->npending > 0) {
                while (d->npending < 3 && len > 0) {
                        d->pending[d->npending++] = *in++;
                        len--;
                }
                if (d->npending < 3)
                        return 0;
                o += netd_base64_encode(d->pending, 3, o, url);
                d->npending = 0;
        }
        whole = len - len % 3;
        o += netd_base64_encode(in, whole, o, url);
        memcpy(d->pending, in + whole, len - whole);
        d->npending = len - whole;
        return (size_t)(o - out);
}

static bool utf16_is_high(uint32_t u)
{
        return u >= 0xD800 && u <= 0xDBFF;
}

static bool utf16_is_low(uint32_t u)
{
        return u >= 0xDC00 && u <= 0xDFFF;
}

/*
 * utf16le: pending holds an odd byte, or a high surrogate (2 bytes) waiting
 * for its low half, possibly followed by an odd byte. Unlike Node, which
 * returns a lone high surrogate at the end of a chunk and relies on the
 * caller concatenating JavaScript strings, netd must emit valid UTF-8 per
 * chunk, so the surrogate is held back too. Unpaired surrogates become
 * U+FFFD (netd_utf8_put()).
 */
static size_t strdec_utf16_write(struct netd_strdec *d, const uint8_t *in, size_t len, char *out)
{
        char *o = out;
        size_t i = 0;
        uint32_t u, lo;

        /* Complete the held-back bytes one input byte at a time. */
        while (d->npending > 0 && i < len) {
                d->pending[d->npending++] = in[i++];
                if (d->npending == 2) {
                        u = d->pending[0] | (uint32_t)d->pending[1] << 8;
                        if (utf16_is_high(u))
                                continue;
                        o += netd_utf8_put(o, u);
                        d->npending = 0;
                } else if (d->npending == 4) {
                        u = d->pending[0] | (uint32_t)d->pending[1] << 8;
                        lo = d->pending[2] | (uint32_t)d->pending[3] << 8;
                        if (utf16_is_low(lo)) {
                                o += netd_utf8_put(o,
                                                   0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
                                d->npending = 0;
                                continue;
                        }
                        o += netd_utf8_put(o, u); /* unpaired: U+FFFD */
                        d->pending[0] = d->pending[2];
                        d->pending[1] = d->pending[3];
                        d->npending = 2;
                        if (utf16_is_high(lo))
                                continue;
                        o += netd_utf8_put(o, lo);
                        d->npending = 0;
                }
        }

        while (len - i >= 2) {
                u = in[i] | (uint32_t)in[i + 1] << 8;
                if (utf16_is_high(u)) {
                        if (len - i < 4)
                                break; /* hold it back */
                        lo = in[i + 2] | (uint32_t)in[i + 3] << 8;
                        if (utf16_is_low(lo)) {
                                o += netd_utf8_put(o,
                                                   0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
                                i += 4;
                                continue;
                        }
                }
                o += netd_utf8_put(o, u);
                i += 2;
        }
        if (i < len) {
                memcpy(d->pending + d->npending, in + i, len - i);
                d->npending += len - i;
        }
        return (size_t)(o - out);
}

size_t netd_strdec_write(struct netd_strdec *d, const uint8_t *in, size_t len, char *out)
{
        char *o = out;
        size_t i;

        if (len == 0)
                return 0;
        switch (d->enc) {
        case NETD_ENC_UTF8:
                return strdec_utf8_write(d, in, len, out);
        case NETD_ENC_BASE64:
        case NETD_ENC_BASE64URL:
                return strdec_base64_write(d, in, len, out);
        case NETD_ENC_UTF16LE:
                return strdec_utf16_write(d, in, len, out);
        case NETD_ENC_HEX:
                for (i = 0; i < len; i++) {
                        *o++ = hex_digits[in[i] >> 4];
                        *o++ = hex_digits[in[i] & 0x0F];
                }
                return (size_t)(o - out);
        case NETD_ENC_LATIN1:
                for (i = 0; i < len; i++)
                        o += netd_utf8_put(o, in[i]);
                return (size_t)(o - out);
        case NETD_ENC_ASCII:
                /* Node's 'ascii' decoding drops the high bit. */
                for (i = 0; i < len; i++)
                        *o++ = (char)(in[i] & 0x7F);
                return (size_t)(o - out);
        case _NETD_ENC_MAX:
        case _NETD_ENC_INVALID:
                break;
        }
        return 0;
}

size_t netd_strdec_end(struct netd_strdec *d, char *out)
{
        size_t n = 0;

        if (d->npending == 0)
                return 0;
        switch (d->enc) {
        case NETD_ENC_UTF8:
                n = utf8_sanitize(d->pending, d->npending, out);
                break;
        case NETD_ENC_BASE64:
        case NETD_ENC_BASE64URL:
                n = netd_base64_encode(d->pending, d->npending, out, d->enc == NETD_ENC_BASE64URL);
                break;
        case NETD_ENC_UTF16LE:
                /*
                 * A lone high surrogate, then an odd byte. Node drops the odd
                 * byte; netd doesn't drop data silently and marks it instead.
                 */
                if (d->npending >= 2)
                        n += netd_utf8_put(out, d->pending[0] | (uint32_t)d->pending[1] << 8);
                if (d->npending % 2) {
                        memcpy(out + n, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
                        n += UTF8_REPLACEMENT_LEN;
                }
                break;
        case NETD_ENC_HEX:
        case NETD_ENC_LATIN1:
        case NETD_ENC_ASCII:
        case _NETD_ENC_MAX:
        case _NETD_ENC_INVALID:
                break;
        }
        d->npending = 0;
        return n;
}

/* ---- JSON ---- */

/*
 * True when one of the 8 bytes at s is below 0x20, '"' or '\\'. The usual
 * SWAR tests ("has a zero byte", "has a byte less than n") are exact as
 * yes/no answers; only which byte matched would be unreliable.
 */
static bool json_needs_escape8(const uint8_t *s)
{
        const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones * 0x80;
        uint64_t w, quote, bslash;

        memcpy(&w, s, sizeof(w));
        quote = w ^ (ones * '"');
        bslash = w ^ (ones * '\\');
        return (((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) |
                ((bslash - ones) & ~bslash)) &
               highs;
}

size_t netd_json_escape(const char *in, size_t len, char *out)
{
        const uint8_t *s = (const uint8_t *)in;
        size_t i = 0, run = 0;
        char *o = out;

        if (len == 0)
                return 0;
        while (i < len) {
                char e;

                if (len - i >= 8 && !json_needs_escape8(s + i)) {
                        i += 8;
                        continue;
                }
                e = json_escapes[s[i]];
                if (!e) {
                        i++;
                        continue;
                }
                /* Copy the run of safe bytes before this one in one go. */
                memcpy(o, in + run, i - run);
                o += i - run;
                *o++ = '\\';
                *o++ = e;
                if (e == 'u') {
                        *o++ = '0';
                        *o++ = '0';
                        *o++ = hex_digits[s[i] >> 4];
                        *o++ = hex_digits[s[i] & 0x0F];
                }
                run = ++i;
        }
        memcpy(o, in + run, len - run);
        o += len - run;
        return (size_t)(o - out);
}
