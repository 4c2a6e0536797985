/*
 * Unit tests for proto/encoding.c: encoding names, strict text-to-bytes
 * decoding (vectors and the rejection table), base64, the streaming
 * StringDecoder (vectors, and splits at every byte boundary), JSON escaping.
 * Expected strings marked "node" were produced by node v20.20.2 (Buffer,
 * StringDecoder, JSON.stringify) and pasted here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "encoding.h"

struct bytes {
        const char *s;
        size_t len;
};

/* A string literal with its exact length, embedded NULs included. */
#define B(str)                       \
        {                            \
                str, sizeof(str) - 1 \
        }

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define FFFD "\xEF\xBF\xBD"

/* Text with 1-, 2-, 3- and 4-byte characters: a é € 😀 ¢ ह 한 𐍈 𝄞 z. */
static const char mixed_text[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 \xC2\xA2\xE0\xA4\xB9"
                                 "\xED\x95\x9C\xF0\x90\x8D\x88\xF0\x9D\x84\x9Ez";

static uint32_t rng_state;

/* xorshift32 with a fixed seed per test: failures reproduce. */
static uint32_t rng_next(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 17;
        rng_state ^= rng_state << 5;
        return rng_state;
}

static void rng_fill(uint8_t *p, size_t n)
{
        size_t i;

        for (i = 0; i < n; i++)
                p[i] = (uint8_t)(rng_next() >> 24);
}

/* An independent UTF-8 encoder for generating test text. */
static size_t test_put_utf8(char *o, uint32_t cp)
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

/* A random Unicode scalar value, biased towards each UTF-8 length in turn. */
static uint32_t rng_scalar(void)
{
        uint32_t cp;

        for (;;) {
                switch (rng_next() % 4) {
                case 0:
                        cp = rng_next() % 0x80;
                        break;
                case 1:
                        cp = 0x80 + rng_next() % (0x800 - 0x80);
                        break;
                case 2:
                        cp = 0x800 + rng_next() % (0x10000 - 0x800);
                        break;
                default:
                        cp = 0x10000 + rng_next() % (0x110000 - 0x10000);
                        break;
                }
                if (cp < 0xD800 || cp > 0xDFFF)
                        return cp;
        }
}

static bool has_fffd(const char *s, size_t len)
{
        return memmem(s, len, FFFD, 3) != NULL;
}

/*
 * Feeds in[0..len) to a fresh decoder in pieces ending at cuts[] (ascending,
 * each < len), then flushes it. Checks every write against netd_strdec_max().
 * Returns the total length of the text at out.
 */
static size_t strdec_feed(enum netd_encoding enc, const uint8_t *in, size_t len, const size_t *cuts,
                          size_t ncuts, char *out)
{
        struct netd_strdec d;
        size_t i, start = 0, total = 0, n, max;

        netd_strdec_init(&d, enc);
        for (i = 0; i <= ncuts; i++) {
                size_t end = i < ncuts ? cuts[i] : len;

                max = netd_strdec_max(&d, end - start);
                n = netd_strdec_write(&d, in + start, end - start, out + total);
                assert_true(n <= max);
                total += n;
                start = end;
        }
        max = netd_strdec_max(&d, 0);
        n = netd_strdec_end(&d, out + total);
        assert_true(n <= max);
        assert_int_equal(d.npending, 0);
        return total + n;
}

static void assert_mem_equal(const void *a, size_t alen, const void *b, size_t blen)
{
        assert_int_equal(alen, blen);
        if (alen > 0)
                assert_memory_equal(a, b, alen);
}

/* ---- names ---- */

static void test_encoding_names(void **state)
{
        /* node: Buffer.isEncoding() is true for all of these... */
        static const struct {
                const char *name;
                enum netd_encoding enc;
        } good[] = {
                { "utf8", NETD_ENC_UTF8 },
                { "UTF-8", NETD_ENC_UTF8 },
                { "Utf8", NETD_ENC_UTF8 },
                { "base64", NETD_ENC_BASE64 },
                { "BASE64URL", NETD_ENC_BASE64URL },
                { "hex", NETD_ENC_HEX },
                { "HEX", NETD_ENC_HEX },
                { "latin1", NETD_ENC_LATIN1 },
                { "binary", NETD_ENC_LATIN1 },
                { "BINARY", NETD_ENC_LATIN1 },
                { "ascii", NETD_ENC_ASCII },
                { "utf16le", NETD_ENC_UTF16LE },
                { "UTF-16LE", NETD_ENC_UTF16LE },
                { "ucs2", NETD_ENC_UTF16LE },
                { "UCS-2", NETD_ENC_UTF16LE },
        };
        /* ...and false for these. */
        static const char *const bad[] = {
                "latin-1", "utf16", "utf-16", "utf-32", "buffer", "", "base-64", "utf 8", "utf8 ",
        };
        size_t i;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(good); i++)
                assert_int_equal(netd_encoding_from_string(good[i].name), good[i].enc);
        for (i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(netd_encoding_from_string(bad[i]), -EINVAL);
        assert_int_equal(netd_encoding_from_string(NULL), -EINVAL);

        for (i = 0; i < _NETD_ENC_MAX; i++) {
                const char *name = netd_encoding_to_string((enum netd_encoding)i);

                assert_non_null(name);
                assert_int_equal(netd_encoding_from_string(name), (int)i);
        }
        assert_string_equal(netd_encoding_to_string(NETD_ENC_UTF16LE), "utf16le");
        assert_string_equal(netd_encoding_to_string(NETD_ENC_LATIN1), "latin1");
        assert_null(netd_encoding_to_string(_NETD_ENC_MAX));
        assert_null(netd_encoding_to_string(_NETD_ENC_INVALID));
}

/* ---- text to bytes ---- */

static void decode_expect(enum netd_encoding enc, const char *in, size_t len, const void *want,
                          size_t want_len)
{
        uint8_t *out = malloc(netd_decode_max(enc, len) + 1);
        ssize_t r;

        assert_non_null(out);
        r = netd_decode(enc, in, len, out);
        assert_true(r >= 0);
        assert_true((size_t)r <= netd_decode_max(enc, len));
        assert_mem_equal(out, (size_t)r, want, want_len);
        free(out);
}

/* node: Buffer.from(text, enc) for valid text. */
static void test_decode_node_vectors(void **state)
{
        static const struct {
                enum netd_encoding enc;
                struct bytes text, bytes;
        } vecs[] = {
                { NETD_ENC_UTF8, B("a\303\251\342\202\254\360\237\230\200"),
                  B("a\303\251\342\202\254\360\237\230\200") },
                { NETD_ENC_UTF8, B(""), B("") },
                { NETD_ENC_LATIN1, B("a\303\251\303\277"), B("a\351\377") },
                { NETD_ENC_LATIN1, B("\000\302\200"), B("\000\200") },
                { NETD_ENC_ASCII, B("abc~\177\000"), B("abc~\177\000") },
                { NETD_ENC_UTF16LE, B("a\303\251\342\202\254\360\237\230\200"),
                  B("a\000\351\000\254 =\330\000\336") },
                { NETD_ENC_UTF16LE, B("\357\277\277\364\217\277\277"),
                  B("\377\377\377\333\377\337") },
                { NETD_ENC_HEX, B("00ff7Fa0"), B("\000\377\177\240") },
                { NETD_ENC_HEX, B("DEADbeef"), B("\336\255\276\357") },
                { NETD_ENC_BASE64, B("Zm9vYmFy"), B("foobar") },
                { NETD_ENC_BASE64, B("Zm9vYg=="), B("foob") },
                { NETD_ENC_BASE64, B("Zm9vYg"), B("foob") },
                { NETD_ENC_BASE64, B("Zm9vYmE="), B("fooba") },
                { NETD_ENC_BASE64, B("Zm9vYmE"), B("fooba") },
                { NETD_ENC_BASE64, B("+/+/"), B("\373\377\277") },
                { NETD_ENC_BASE64, B("AA"), B("\000") },
                { NETD_ENC_BASE64, B("AAA="), B("\000\000") },
                { NETD_ENC_BASE64URL, B("-_-_"), B("\373\377\277") },
                { NETD_ENC_BASE64URL, B("Zm9vYg"), B("foob") },
                { NETD_ENC_BASE64URL, B("Zm9vYg=="), B("foob") },
                { NETD_ENC_BASE64URL, B("_____w"), B("\377\377\377\377") },
                { NETD_ENC_BASE64, B(""), B("") },
                { NETD_ENC_HEX, B(""), B("") },
        };
        size_t i;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(vecs); i++)
                decode_expect(vecs[i].enc, vecs[i].text.s, vecs[i].text.len, vecs[i].bytes.s,
                              vecs[i].bytes.len);
        /* NULL is fine for empty input. */
        assert_int_equal(netd_decode(NETD_ENC_BASE64, NULL, 0, NULL), 0);
}

/* Each input here is one reason to reject; Node would decode most of them leniently. */
static void test_decode_rejects(void **state)
{
        static const struct {
                enum netd_encoding enc;
                struct bytes text;
        } bad[] = {
                /* utf8: overlongs */
                { NETD_ENC_UTF8, B("\xC0\x80") },
                { NETD_ENC_UTF8, B("\xC1\xBF") },
                { NETD_ENC_UTF8, B("\xE0\x80\x80") },
                { NETD_ENC_UTF8, B("\xE0\x9F\xBF") },
                { NETD_ENC_UTF8, B("\xF0\x80\x80\x80") },
                { NETD_ENC_UTF8, B("\xF0\x8F\xBF\xBF") },
                /* utf8: surrogates */
                { NETD_ENC_UTF8, B("\xED\xA0\x80") },
                { NETD_ENC_UTF8, B("\xED\xBF\xBF") },
                { NETD_ENC_UTF8, B("\xED\xA0\xBD\xED\xB8\x80") }, /* CESU-8 pair */
                /* utf8: above U+10FFFF */
                { NETD_ENC_UTF8, B("\xF4\x90\x80\x80") },
                { NETD_ENC_UTF8, B("\xF5\x80\x80\x80") },
                { NETD_ENC_UTF8, B("\xF8\x88\x80\x80\x80") },
                { NETD_ENC_UTF8, B("\xFF") },
                { NETD_ENC_UTF8, B("\xFE") },
                /* utf8: truncated, or a stray continuation byte */
                { NETD_ENC_UTF8, B("\xC3") },
                { NETD_ENC_UTF8, B("\xE2\x82") },
                { NETD_ENC_UTF8, B("\xF0\x9F\x98") },
                { NETD_ENC_UTF8, B("abc\xF0\x9F\x98") },
                { NETD_ENC_UTF8, B("\xC3"
                                   "A") },
                { NETD_ENC_UTF8, B("\x80") },
                { NETD_ENC_UTF8, B("a\xBF"
                                   "b") },
                { NETD_ENC_UTF8, B("\xE2\x82\xAC\x80") },
                { NETD_ENC_UTF8, B("0123456789abcdef\x80") }, /* after the 8-byte fast path */
                /* hex */
                { NETD_ENC_HEX, B("a") },
                { NETD_ENC_HEX, B("abc") },
                { NETD_ENC_HEX, B("zz") },
                { NETD_ENC_HEX, B("0g") },
                { NETD_ENC_HEX, B(" 00") },
                { NETD_ENC_HEX, B("00 ") },
                { NETD_ENC_HEX, B("0x00") },
                { NETD_ENC_HEX, B("+1") },
                { NETD_ENC_HEX, B("00\0") },
                { NETD_ENC_HEX, B("\xC3\xA9") },
                /* base64: length and padding */
                { NETD_ENC_BASE64, B("Q") },
                { NETD_ENC_BASE64, B("QUJDQ") },
                { NETD_ENC_BASE64, B("QQ=") },
                { NETD_ENC_BASE64, B("QQ===") },
                { NETD_ENC_BASE64, B("Q===") },
                { NETD_ENC_BASE64, B("=") },
                { NETD_ENC_BASE64, B("==") },
                { NETD_ENC_BASE64, B("====") },
                { NETD_ENC_BASE64, B("QUJD=") },
                { NETD_ENC_BASE64, B("QUJD====") },
                { NETD_ENC_BASE64, B("QQ==QQ==") },
                { NETD_ENC_BASE64, B("Q=Q=") },
                /* base64: outside the alphabet */
                { NETD_ENC_BASE64, B("QU JD") },
                { NETD_ENC_BASE64, B("QUJD\n") },
                { NETD_ENC_BASE64, B(" QUJD") },
                { NETD_ENC_BASE64, B("QUJD\r\n") },
                { NETD_ENC_BASE64, B("QQ-_") },
                { NETD_ENC_BASE64, B("QU.D") },
                { NETD_ENC_BASE64, B("QUJ\0") },
                { NETD_ENC_BASE64, B("QUJ\xC3\xA9") },
                /* base64: unused bits not zero ("QR==" and "QUJ=" would drop them) */
                { NETD_ENC_BASE64, B("QR==") },
                { NETD_ENC_BASE64, B("QR") },
                { NETD_ENC_BASE64, B("QUJ=") },
                { NETD_ENC_BASE64, B("QUJ") },
                /* base64url */
                { NETD_ENC_BASE64URL, B("QQ+/") },
                { NETD_ENC_BASE64URL, B("Pz8/") },
                { NETD_ENC_BASE64URL, B("Pz8+") },
                { NETD_ENC_BASE64URL, B("QQ=") },
                { NETD_ENC_BASE64URL, B("Q") },
                { NETD_ENC_BASE64URL, B("QQ==\n") },
                { NETD_ENC_BASE64URL, B("QR") },
                /* latin1: above U+00FF, or not UTF-8 */
                { NETD_ENC_LATIN1, B("\xC4\x80") },
                { NETD_ENC_LATIN1, B("a\xE2\x82\xAC") },
                { NETD_ENC_LATIN1, B("\xF0\x9F\x98\x80") },
                { NETD_ENC_LATIN1, B("\xE9") },
                { NETD_ENC_LATIN1, B("\xC3") },
                /* ascii: above U+007F, or not UTF-8 */
                { NETD_ENC_ASCII, B("\xC2\x80") },
                { NETD_ENC_ASCII, B("caf\xC3\xA9") },
                { NETD_ENC_ASCII, B("\x80") },
                /* utf16le: not UTF-8 */
                { NETD_ENC_UTF16LE, B("\xED\xA0\x80") },
                { NETD_ENC_UTF16LE, B("\xF0\x9F\x98") },
                { NETD_ENC_UTF16LE, B("\xFF") },
        };
        uint8_t out[64];
        size_t i;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(bad); i++) {
                assert_true(netd_decode_max(bad[i].enc, bad[i].text.len) <= sizeof(out));
                if (netd_decode(bad[i].enc, bad[i].text.s, bad[i].text.len, out) != -EINVAL)
                        fail_msg("case %zu (%s) was accepted", i,
                                 netd_encoding_to_string(bad[i].enc));
        }
        assert_int_equal(netd_decode(_NETD_ENC_MAX, "a", 1, out), -EINVAL);
}

static void test_utf8_validate(void **state)
{
        static const struct bytes good[] = {
                B(""),
                B("plain ascii, longer than eight bytes"),
                B("\x7F"),
                B("\xC2\x80"),         /* U+0080 */
                B("\xDF\xBF"),         /* U+07FF */
                B("\xE0\xA0\x80"),     /* U+0800 */
                B("\xED\x9F\xBF"),     /* U+D7FF */
                B("\xEE\x80\x80"),     /* U+E000 */
                B("\xEF\xBF\xBD"),     /* U+FFFD */
                B("\xEF\xBF\xBF"),     /* U+FFFF */
                B("\xF0\x90\x80\x80"), /* U+10000 */
                B("\xF4\x8F\xBF\xBF"), /* U+10FFFF */
                B("a\0b"),             /* NUL is valid UTF-8 */
        };
        static const struct bytes bad[] = {
                B("\xC0\xAF"),         B("\xE0\x80\xAF"), B("\xED\xA0\x80"), B("\xED\xBF\xBF"),
                B("\xF4\x90\x80\x80"), B("\xC2"),         B("\xC2\xC0"),     B("\xE1\x80"),
                B("\xE1\x80\xC0"),     B("\xF1\x80\x80"), B("\xBF"),         B("\xFE\xFF"),
                B("abcdefgh\xC3\x28"),
        };
        size_t i;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(good); i++)
                assert_int_equal(netd_utf8_validate(good[i].s, good[i].len), 0);
        for (i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(netd_utf8_validate(bad[i].s, bad[i].len), -EINVAL);
        assert_int_equal(netd_utf8_validate(mixed_text, sizeof(mixed_text) - 1), 0);
}

/* ---- base64 ---- */

/* RFC 4648 section 10 plus the url alphabet; node: buf.toString('base64' / 'base64url'). */
static void test_base64_encode_vectors(void **state)
{
        static const struct {
                struct bytes in;
                const char *b64, *b64url;
        } vecs[] = {
                { B(""), "", "" },
                { B("f"), "Zg==", "Zg" },
                { B("fo"), "Zm8=", "Zm8" },
                { B("foo"), "Zm9v", "Zm9v" },
                { B("foob"), "Zm9vYg==", "Zm9vYg" },
                { B("fooba"), "Zm9vYmE=", "Zm9vYmE" },
                { B("foobar"), "Zm9vYmFy", "Zm9vYmFy" },
                { B("\373\377"), "+/8=", "-_8" },
                { B("\373\377\277"), "+/+/", "-_-_" },
                { B("\000"), "AA==", "AA" },
                { B("\000\000"), "AAA=", "AAA" },
                { B("\377\377\377\377"), "/////w==", "_____w" },
        };
        char out[64];
        size_t i, n;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(vecs); i++) {
                const uint8_t *in = (const uint8_t *)vecs[i].in.s;

                n = netd_base64_encode(in, vecs[i].in.len, out, 0);
                assert_true(n <= NETD_BASE64_ENCODED_MAX(vecs[i].in.len));
                assert_mem_equal(out, n, vecs[i].b64, strlen(vecs[i].b64));
                n = netd_base64_encode(in, vecs[i].in.len, out, 1);
                assert_mem_equal(out, n, vecs[i].b64url, strlen(vecs[i].b64url));
        }
}

/* ---- round trips ---- */

/*
 * base64 at every alignment and every length around the encoder's step
 * sizes (6-byte table steps, 12-byte SIMD steps that need 18 bytes): the
 * exact length, then back through the decoder, which rejects anything
 * outside the alphabet, so every one of the 64 values is checked in place.
 */
static void test_base64_encode_alignment(void **state)
{
        uint8_t buf[128 + 16], back[128];
        char text[256];

        (void)state;
        rng_state = 0x9E3779B9;
        for (size_t off = 0; off < 16; off++) {
                for (size_t len = 0; len <= 128; len++) {
                        uint8_t *in = buf + off;

                        rng_fill(in, len);
                        for (int url = 0; url < 2; url++) {
                                enum netd_encoding enc = url ? NETD_ENC_BASE64URL : NETD_ENC_BASE64;
                                size_t n = netd_base64_encode(in, len, text, url);
                                ssize_t r;

                                assert_int_equal(n, url ? (len * 4 + 2) / 3
                                                        : NETD_BASE64_ENCODED_MAX(len));
                                r = netd_decode(enc, text, n, back);
                                assert_int_equal(r, (ssize_t)len);
                                assert_memory_equal(back, in, len);
                        }
                }
        }
}

/*
 * Every byte value at every position of a 64-character text (SIMD blocks
 * and the portable tail): accepted exactly when it is in the alphabet, and
 * then decoded to the bytes that encode back to the same text.
 */
static void test_base64_decode_every_byte(void **state)
{
        static const char *const alphabets[2] = {
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        };
        uint8_t in[48], out[48];
        char text[64], again[64];

        (void)state;
        rng_state = 0x85EBCA6B;
        for (int url = 0; url < 2; url++) {
                enum netd_encoding enc = url ? NETD_ENC_BASE64URL : NETD_ENC_BASE64;

                rng_fill(in, sizeof(in));
                assert_int_equal(netd_base64_encode(in, sizeof(in), text, url), sizeof(text));
                for (size_t pos = 0; pos < sizeof(text); pos++) {
                        char keep = text[pos];

                        for (int b = 0; b < 256; b++) {
                                bool valid = b != 0 && strchr(alphabets[url], b) != NULL;
                                ssize_t r;

                                text[pos] = (char)b;
                                r = netd_decode(enc, text, sizeof(text), out);
                                if (!valid) {
                                        assert_int_equal(r, -EINVAL);
                                        continue;
                                }
                                assert_int_equal(r, (ssize_t)sizeof(out));
                                netd_base64_encode(out, sizeof(out), again, url);
                                assert_memory_equal(again, text, sizeof(text));
                        }
                        text[pos] = keep;
                }
        }
}

/* Random bytes -> text -> bytes for every encoding that can carry them. */
static void test_roundtrip_binary(void **state)
{
        static const size_t big = 65536 + 7;
        uint8_t *in = malloc(big), *back = malloc(big);
        char *text = malloc(big * 2 + 16);
        size_t k, len, n, i;
        ssize_t r;

        (void)state;
        assert_non_null(in);
        assert_non_null(back);
        assert_non_null(text);
        rng_state = 0x2545F491;
        /* Every length up to 300 (all remainders, all tails), then a big one. */
        for (k = 0; k <= 301; k++) {
                len = k <= 300 ? k : big;
                rng_fill(in, len);

                for (i = 0; i < 2; i++) {
                        enum netd_encoding enc = i ? NETD_ENC_BASE64URL : NETD_ENC_BASE64;

                        n = netd_base64_encode(in, len, text, (int)i);
                        assert_true(n <= NETD_BASE64_ENCODED_MAX(len));
                        r = netd_decode(enc, text, n, back);
                        assert_true(r >= 0 && (size_t)r <= netd_decode_max(enc, n));
                        assert_mem_equal(back, (size_t)r, in, len);
                        /* The streaming decoder gives the same text in one go. */
                        assert_int_equal(strdec_feed(enc, in, len, NULL, 0, text), n);
                }

                n = strdec_feed(NETD_ENC_HEX, in, len, NULL, 0, text);
                assert_int_equal(n, len * 2);
                r = netd_decode(NETD_ENC_HEX, text, n, back);
                assert_mem_equal(back, (size_t)r, in, len);

                n = strdec_feed(NETD_ENC_LATIN1, in, len, NULL, 0, text);
                assert_int_equal(netd_utf8_validate(text, n), 0);
                r = netd_decode(NETD_ENC_LATIN1, text, n, back);
                assert_mem_equal(back, (size_t)r, in, len);

                for (i = 0; i < len; i++)
                        in[i] &= 0x7F;
                n = strdec_feed(NETD_ENC_ASCII, in, len, NULL, 0, text);
                r = netd_decode(NETD_ENC_ASCII, text, n, back);
                assert_mem_equal(back, (size_t)r, in, len);

                /* ascii decoding drops the high bit, as Node's does. */
                rng_fill(in, len);
                n = strdec_feed(NETD_ENC_ASCII, in, len, NULL, 0, text);
                assert_int_equal(n, len);
                for (i = 0; i < len; i++)
                        assert_int_equal((uint8_t)text[i], in[i] & 0x7F);
        }
        free(in);
        free(back);
        free(text);
}

/* Random text -> bytes -> text for utf8 and utf16le, and latin1 for its range. */
static void test_roundtrip_text(void **state)
{
        char text[4096], back[4096 * 3];
        uint8_t bytes[4096 * 2];
        size_t round, len, n, i;
        ssize_t r;

        (void)state;
        rng_state = 0x9E3779B9;
        for (round = 0; round < 500; round++) {
                size_t nchars = rng_next() % 200;

                for (len = 0, i = 0; i < nchars; i++)
                        len += test_put_utf8(text + len, rng_scalar());
                assert_int_equal(netd_utf8_validate(text, len), 0);

                r = netd_decode(NETD_ENC_UTF8, text, len, bytes);
                assert_mem_equal(bytes, (size_t)r, text, len);
                n = strdec_feed(NETD_ENC_UTF8, bytes, (size_t)r, NULL, 0, back);
                assert_mem_equal(back, n, text, len);

                r = netd_decode(NETD_ENC_UTF16LE, text, len, bytes);
                assert_true(r >= 0 && (size_t)r <= netd_decode_max(NETD_ENC_UTF16LE, len));
                assert_true(r % 2 == 0);
                n = strdec_feed(NETD_ENC_UTF16LE, bytes, (size_t)r, NULL, 0, back);
                assert_mem_equal(back, n, text, len);

                for (len = 0, i = 0; i < nchars; i++)
                        len += test_put_utf8(text + len, rng_next() % 0x100);
                r = netd_decode(NETD_ENC_LATIN1, text, len, bytes);
                assert_int_equal(r, (ssize_t)nchars);
                n = strdec_feed(NETD_ENC_LATIN1, bytes, (size_t)r, NULL, 0, back);
                assert_mem_equal(back, n, text, len);
        }
}

/* ---- streaming decoder ---- */

/*
 * Feeds in split at every byte boundary (every single cut, every pair of
 * cuts, one byte at a time) and checks the text equals want each time.
 */
static void strdec_check_splits(enum netd_encoding enc, const uint8_t *in, size_t len,
                                const char *want, size_t want_len, bool no_fffd)
{
        char *out = malloc(len * 4 + 16);
        size_t *cuts = malloc(sizeof(size_t) * (len + 1));
        size_t i, j, n;

        assert_non_null(out);
        assert_non_null(cuts);

        n = strdec_feed(enc, in, len, NULL, 0, out);
        assert_mem_equal(out, n, want, want_len);

        for (i = 1; i < len; i++) {
                cuts[0] = i;
                n = strdec_feed(enc, in, len, cuts, 1, out);
                assert_mem_equal(out, n, want, want_len);
                if (no_fffd)
                        assert_false(has_fffd(out, n));
                for (j = i + 1; j < len; j++) {
                        cuts[1] = j;
                        n = strdec_feed(enc, in, len, cuts, 2, out);
                        assert_mem_equal(out, n, want, want_len);
                }
        }

        for (i = 0; i + 1 < len; i++)
                cuts[i] = i + 1;
        n = strdec_feed(enc, in, len, cuts, len > 0 ? len - 1 : 0, out);
        assert_mem_equal(out, n, want, want_len);
        if (no_fffd)
                assert_false(has_fffd(out, n));

        free(out);
        free(cuts);
}

/*
 * Each chunk's output must be valid UTF-8 by itself: a decoder that emitted
 * half a character would fail netd_utf8_validate() on some split.
 */
static void strdec_check_chunks_valid(enum netd_encoding enc, const uint8_t *in, size_t len)
{
        struct netd_strdec d;
        char out[64];
        size_t i, n;

        netd_strdec_init(&d, enc);
        for (i = 0; i < len; i++) {
                assert_true(netd_strdec_max(&d, 1) <= sizeof(out));
                n = netd_strdec_write(&d, in + i, 1, out);
                assert_int_equal(netd_utf8_validate(out, n), 0);
        }
        n = netd_strdec_end(&d, out);
        assert_int_equal(netd_utf8_validate(out, n), 0);
}

static void test_strdec_split_utf8(void **state)
{
        const uint8_t *in = (const uint8_t *)mixed_text;
        size_t len = sizeof(mixed_text) - 1;

        (void)state;
        strdec_check_splits(NETD_ENC_UTF8, in, len, mixed_text, len, true);
        strdec_check_chunks_valid(NETD_ENC_UTF8, in, len);
}

static void test_strdec_split_base64(void **state)
{
        uint8_t in[50];
        char want[NETD_BASE64_ENCODED_MAX(sizeof(in))];
        size_t len, n;

        (void)state;
        rng_state = 0xC0FFEE;
        rng_fill(in, sizeof(in));
        /* Every length, so every remainder mod 3 ends the stream. */
        for (len = 0; len <= sizeof(in); len++) {
                n = netd_base64_encode(in, len, want, 0);
                strdec_check_splits(NETD_ENC_BASE64, in, len, want, n, false);
                n = netd_base64_encode(in, len, want, 1);
                strdec_check_splits(NETD_ENC_BASE64URL, in, len, want, n, false);
        }
}

static void test_strdec_split_utf16le(void **state)
{
        uint8_t in[sizeof(mixed_text) * 2];
        ssize_t r;

        (void)state;
        r = netd_decode(NETD_ENC_UTF16LE, mixed_text, sizeof(mixed_text) - 1, in);
        assert_true(r > 0);
        strdec_check_splits(NETD_ENC_UTF16LE, in, (size_t)r, mixed_text, sizeof(mixed_text) - 1,
                            true);
        strdec_check_chunks_valid(NETD_ENC_UTF16LE, in, (size_t)r);
}

/* Splitting never changes hex, latin1 or ascii text either. */
static void test_strdec_split_simple(void **state)
{
        static const uint8_t in[] = { 0x00, 0x41, 0x7F, 0x80, 0xC3, 0xA9, 0xFF, 0x0A, 0xE2 };
        char want[sizeof(in) * 2];
        size_t n;

        (void)state;
        n = strdec_feed(NETD_ENC_HEX, in, sizeof(in), NULL, 0, want);
        assert_mem_equal(want, n, "00417f80c3a9ff0ae2", 18);
        strdec_check_splits(NETD_ENC_HEX, in, sizeof(in), want, n, true);
        n = strdec_feed(NETD_ENC_LATIN1, in, sizeof(in), NULL, 0, want);
        strdec_check_splits(NETD_ENC_LATIN1, in, sizeof(in), want, n, true);
        n = strdec_feed(NETD_ENC_ASCII, in, sizeof(in), NULL, 0, want);
        strdec_check_splits(NETD_ENC_ASCII, in, sizeof(in), want, n, true);
}

/*
 * node: new StringDecoder(enc), each chunk through write(), then end(); the
 * outputs (per call, the end() text last) as UTF-8. Invalid UTF-8 follows
 * V8's replacement rules, chunk by chunk.
 */
static void test_strdec_node_vectors(void **state)
{
        static const struct {
                enum netd_encoding enc;
                struct bytes chunks[6]; /* until .s == NULL */
                struct bytes outs[7];   /* one per chunk, then end() */
        } vecs[] = {
                /* [[226,130],[172]] -> ["","\u20ac",""] */
                { NETD_ENC_UTF8,
                  { B("\342\202"), B("\254") },
                  { B(""), B("\342\202\254"), B("") } },
                /* [[226],[65]] -> ["","\ufffdA",""] */
                { NETD_ENC_UTF8, { B("\342"), B("A") }, { B(""), B("\357\277\275A"), B("") } },
                /* [[240,159,152]] -> ["","\ufffd"] */
                { NETD_ENC_UTF8, { B("\360\237\230") }, { B(""), B("\357\277\275") } },
                /* [[237,160,128]] -> ["\ufffd\ufffd\ufffd",""] */
                { NETD_ENC_UTF8,
                  { B("\355\240\200") },
                  { B("\357\277\275\357\277\275\357\277\275"), B("") } },
                /* [[192,128]] -> ["\ufffd\ufffd",""] */
                { NETD_ENC_UTF8, { B("\300\200") }, { B("\357\277\275\357\277\275"), B("") } },
                /* [[244,144,128,128]] -> ["\ufffd\ufffd\ufffd\ufffd",""] */
                { NETD_ENC_UTF8,
                  { B("\364\220\200\200") },
                  { B("\357\277\275\357\277\275\357\277\275\357\277\275"), B("") } },
                /* [[97,128,98]] -> ["a\ufffdb",""] */
                { NETD_ENC_UTF8, { B("a\200b") }, { B("a\357\277\275b"), B("") } },
                /* [[240],[159],[152],[128]] -> ["","","","\ud83d\ude00",""] */
                { NETD_ENC_UTF8,
                  { B("\360"), B("\237"), B("\230"), B("\200") },
                  { B(""), B(""), B(""), B("\360\237\230\200"), B("") } },
                /* [[224,128],[128]] -> ["","\ufffd\ufffd\ufffd",""] */
                { NETD_ENC_UTF8,
                  { B("\340\200"), B("\200") },
                  { B(""), B("\357\277\275\357\277\275\357\277\275"), B("") } },
                /* [[240,159],[65,152]] -> ["","\ufffdA\ufffd",""] */
                { NETD_ENC_UTF8,
                  { B("\360\237"), B("A\230") },
                  { B(""), B("\357\277\275A\357\277\275"), B("") } },
                /* [[195],[169,195],[169]] -> ["","\u00e9","\u00e9",""] */
                { NETD_ENC_UTF8,
                  { B("\303"), B("\251\303"), B("\251") },
                  { B(""), B("\303\251"), B("\303\251"), B("") } },
                /* [[255,254]] -> ["\ufffd\ufffd",""] */
                { NETD_ENC_UTF8, { B("\377\376") }, { B("\357\277\275\357\277\275"), B("") } },
                /* [[226,130,172,226],[130],[172]] -> ["\u20ac","","\u20ac",""] */
                { NETD_ENC_UTF8,
                  { B("\342\202\254\342"), B("\202"), B("\254") },
                  { B("\342\202\254"), B(""), B("\342\202\254"), B("") } },
                /* [[245],[128]] -> ["","","\ufffd\ufffd"] */
                { NETD_ENC_UTF8,
                  { B("\365"), B("\200") },
                  { B(""), B(""), B("\357\277\275\357\277\275") } },
                /* [[128,128,128,128]] -> ["\ufffd\ufffd\ufffd\ufffd",""] */
                { NETD_ENC_UTF8,
                  { B("\200\200\200\200") },
                  { B("\357\277\275\357\277\275\357\277\275\357\277\275"), B("") } },
                /* [[65,240,159,152],[128,226]] -> ["A","\ud83d\ude00","\ufffd"] */
                { NETD_ENC_UTF8,
                  { B("A\360\237\230"), B("\200\342") },
                  { B("A"), B("\360\237\230\200"), B("\357\277\275") } },
                /* [[97,98,99,100]] -> ["YWJj","ZA=="] */
                { NETD_ENC_BASE64, { B("abcd") }, { B("YWJj"), B("ZA==") } },
                /* [[97],[98],[99],[100],[101]] -> ["","","YWJj","","","ZGU="] */
                { NETD_ENC_BASE64,
                  { B("a"), B("b"), B("c"), B("d"), B("e") },
                  { B(""), B(""), B("YWJj"), B(""), B(""), B("ZGU=") } },
                /* [[251],[255]] -> ["","","-_8"] */
                { NETD_ENC_BASE64URL, { B("\373"), B("\377") }, { B(""), B(""), B("-_8") } },
                /* [[251,255,191,251]] -> ["-_-_","-w"] */
                { NETD_ENC_BASE64URL, { B("\373\377\277\373") }, { B("-_-_"), B("-w") } },
                /* [[65,255,128,233]] -> ["A\u007f\u0000i",""] */
                { NETD_ENC_ASCII, { B("A\377\200\351") }, { B("A\177\000i"), B("") } },
                /* [[233,255,65,128]] -> ["\u00e9\u00ffA\u0080",""] */
                { NETD_ENC_LATIN1,
                  { B("\351\377A\200") },
                  { B("\303\251\303\277A\302\200"), B("") } },
                /* [[222,173],[190,239,0]] -> ["dead","beef00",""] */
                { NETD_ENC_HEX,
                  { B("\336\255"), B("\276\357\000") },
                  { B("dead"), B("beef00"), B("") } },
        };
        size_t i, j;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(vecs); i++) {
                struct netd_strdec d;
                char out[64];
                size_t n;

                netd_strdec_init(&d, vecs[i].enc);
                for (j = 0; vecs[i].chunks[j].s; j++) {
                        const struct bytes *c = &vecs[i].chunks[j];

                        assert_true(netd_strdec_max(&d, c->len) <= sizeof(out));
                        n = netd_strdec_write(&d, (const uint8_t *)c->s, c->len, out);
                        assert_mem_equal(out, n, vecs[i].outs[j].s, vecs[i].outs[j].len);
                }
                n = netd_strdec_end(&d, out);
                assert_mem_equal(out, n, vecs[i].outs[j].s, vecs[i].outs[j].len);
        }
}

/*
 * node, utf16le: the write()/end() strings concatenated, then as UTF-8 (lone
 * surrogates become U+FFFD, as in Buffer.from(s, 'utf8')). Node may return
 * half a surrogate pair from one write(); netd holds it back, so only the
 * concatenation is comparable.
 */
static void test_strdec_node_vectors_utf16le(void **state)
{
        static const struct {
                struct bytes chunks[4]; /* until .s == NULL */
                struct bytes text;
        } vecs[] = {
                /* [[61,216],[0,222]] -> ["","\ud83d\ude00",""] */
                { { B("=\330"), B("\000\336") }, B("\360\237\230\200") },
                /* [[61],[216,0],[222]] -> ["","\ud83d","\ude00",""] */
                { { B("="), B("\330\000"), B("\336") }, B("\360\237\230\200") },
                /* [[61,216],[65,0]] -> ["","\ud83dA",""] */
                { { B("=\330"), B("A\000") }, B("\357\277\275A") },
                /* [[0,222,65,0]] -> ["\ude00A",""] */
                { { B("\000\336A\000") }, B("\357\277\275A") },
                /* [[65,0,61,216]] -> ["A","\ud83d"] */
                { { B("A\000=\330") }, B("A\357\277\275") },
                /* [[172,32,233,0]] -> ["\u20ac\u00e9",""] */
                { { B("\254 \351\000") }, B("\342\202\254\303\251") },
                /* [[61,216,61,216],[0,222]] -> ["\ud83d","\ud83d\ude00",""] */
                { { B("=\330=\330"), B("\000\336") }, B("\357\277\275\360\237\230\200") },
                /* [[52,216,30],[221]] -> ["\ud834","\udd1e",""] */
                { { B("4\330\036"), B("\335") }, B("\360\235\204\236") },
        };
        size_t i, j;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(vecs); i++) {
                struct netd_strdec d;
                char out[64];
                size_t n = 0;

                netd_strdec_init(&d, NETD_ENC_UTF16LE);
                for (j = 0; vecs[i].chunks[j].s; j++) {
                        const struct bytes *c = &vecs[i].chunks[j];
                        size_t w = netd_strdec_write(&d, (const uint8_t *)c->s, c->len, out + n);

                        /* Whatever a chunk gives is valid UTF-8 by itself. */
                        assert_int_equal(netd_utf8_validate(out + n, w), 0);
                        n += w;
                }
                n += netd_strdec_end(&d, out + n);
                assert_mem_equal(out, n, vecs[i].text.s, vecs[i].text.len);
        }
}

/* What end() flushes, and that a flushed decoder starts afresh. */
static void test_strdec_end(void **state)
{
        struct netd_strdec d;
        char out[32];
        size_t n;

        (void)state;
        /* utf16le: an odd trailing byte is marked, not dropped as Node does (netd's choice). */
        netd_strdec_init(&d, NETD_ENC_UTF16LE);
        n = netd_strdec_write(&d, (const uint8_t *)"A\0B", 3, out);
        assert_mem_equal(out, n, "A", 1);
        n = netd_strdec_end(&d, out);
        assert_mem_equal(out, n, FFFD, 3);
        /* A lone high surrogate and an odd byte: two marks. */
        n = netd_strdec_write(&d, (const uint8_t *)"=\xD8x", 3, out);
        assert_int_equal(n, 0);
        assert_true(netd_strdec_max(&d, 0) >= 6);
        n = netd_strdec_end(&d, out);
        assert_mem_equal(out, n, FFFD FFFD, 6);
        /* Nothing pending: nothing out. */
        assert_int_equal(netd_strdec_end(&d, out), 0);

        /* utf8: a partial character at the end is one U+FFFD; then reuse. */
        netd_strdec_init(&d, NETD_ENC_UTF8);
        n = netd_strdec_write(&d, (const uint8_t *)"ab\xF0\x9F\x98", 5, out);
        assert_mem_equal(out, n, "ab", 2);
        n = netd_strdec_end(&d, out);
        assert_mem_equal(out, n, FFFD, 3);
        n = netd_strdec_write(&d, (const uint8_t *)"\x80z", 2, out);
        assert_mem_equal(out, n, FFFD "z", 4);

        /* base64: the remainder of a group, padded; base64url unpadded. */
        netd_strdec_init(&d, NETD_ENC_BASE64);
        n = netd_strdec_write(&d, (const uint8_t *)"\xFB", 1, out);
        assert_int_equal(n, 0);
        n = netd_strdec_end(&d, out);
        assert_mem_equal(out, n, "+w==", 4);
        netd_strdec_init(&d, NETD_ENC_BASE64URL);
        n = netd_strdec_write(&d, (const uint8_t *)"\xFB", 1, out);
        n = netd_strdec_end(&d, out);
        assert_mem_equal(out, n, "-w", 2);

        /* Empty writes change nothing. */
        netd_strdec_init(&d, NETD_ENC_UTF8);
        assert_int_equal(netd_strdec_write(&d, NULL, 0, out), 0);
        assert_int_equal(netd_strdec_end(&d, out), 0);
}

/* Invalid UTF-8 streams: one U+FFFD per maximal subpart however the bytes are split. */
static void test_strdec_utf8_invalid_splits(void **state)
{
        static const struct {
                struct bytes in, want;
        } vecs[] = {
                /* node: Buffer.from(in).toString() */
                { B("a\xC3(b"), B("a" FFFD "(b") },
                { B("\xE2\x82(\xF0\x9F\x98\x80"), B(FFFD "(\xF0\x9F\x98\x80") },
                { B("\xF0\x9F\x98\x80\xF0\x9F\x98"), B("\xF0\x9F\x98\x80" FFFD) },
                { B("\xED\xA0\x80z"), B(FFFD FFFD FFFD "z") },
        };
        size_t i;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(vecs); i++)
                strdec_check_splits(NETD_ENC_UTF8, (const uint8_t *)vecs[i].in.s, vecs[i].in.len,
                                    vecs[i].want.s, vecs[i].want.len, false);
}

/* ---- JSON ---- */

/* Undoes netd_json_escape() for the forms it writes. */
static size_t json_unescape(const char *s, size_t len, char *out)
{
        size_t i, n = 0;

        for (i = 0; i < len; i++) {
                if (s[i] != '\\') {
                        out[n++] = s[i];
                        continue;
                }
                switch (s[++i]) {
                case 'n':
                        out[n++] = '\n';
                        break;
                case 'r':
                        out[n++] = '\r';
                        break;
                case 't':
                        out[n++] = '\t';
                        break;
                case 'b':
                        out[n++] = '\b';
                        break;
                case 'f':
                        out[n++] = '\f';
                        break;
                case 'u':
                        out[n++] = (char)strtoul(
                                (char[]){ s[i + 1], s[i + 2], s[i + 3], s[i + 4], 0 }, NULL, 16);
                        i += 4;
                        break;
                default:
                        out[n++] = s[i];
                        break;
                }
        }
        return n;
}

/* node: JSON.stringify(s) without its quotes. */
static void test_json_escape_vectors(void **state)
{
        static const struct {
                struct bytes in, want;
        } vecs[] = {
                { B("plain"), B("plain") },
                { B("a\"b\\c"), B("a\\\"b\\\\c") },
                { B("\012\015\011\010\014"), B("\\n\\r\\t\\b\\f") },
                { B("\000\001\037\177"), B("\\u0000\\u0001\\u001f\177") },
                { B("\013\016"), B("\\u000b\\u000e") },
                { B("\303\251\342\202\254\360\237\230\200"),
                  B("\303\251\342\202\254\360\237\230\200") },
                { B("</script>"), B("</script>") },
                { B("\342\200\250\342\200\251"), B("\342\200\250\342\200\251") },
                { B("x\""), B("x\\\"") },
        };
        char out[128];
        size_t i, n;

        (void)state;
        for (i = 0; i < ARRAY_SIZE(vecs); i++) {
                assert_true(NETD_JSON_ESCAPED_MAX(vecs[i].in.len) <= sizeof(out));
                n = netd_json_escape(vecs[i].in.s, vecs[i].in.len, out);
                assert_mem_equal(out, n, vecs[i].want.s, vecs[i].want.len);
        }
        assert_int_equal(netd_json_escape(NULL, 0, out), 0);
}

static void test_json_escape_bytes(void **state)
{
        char in[1], out[16], hex[8];
        size_t n;
        int b;

        (void)state;
        /* Every ASCII byte alone: escaped exactly when JSON requires it. */
        for (b = 0; b < 0x80; b++) {
                in[0] = (char)b;
                n = netd_json_escape(in, 1, out);
                if (b == '"' || b == '\\') {
                        assert_int_equal(n, 2);
                        assert_int_equal(out[0], '\\');
                        assert_int_equal(out[1], b);
                } else if (b == '\n' || b == '\r' || b == '\t' || b == '\b' || b == '\f') {
                        assert_int_equal(n, 2);
                } else if (b < 0x20) {
                        snprintf(hex, sizeof(hex), "\\u%04x", (unsigned)b);
                        assert_mem_equal(out, n, hex, 6);
                } else {
                        assert_mem_equal(out, n, in, 1);
                }
        }
        /* Each byte that needs escaping, at every position of a longer run. */
        for (b = 0; b < 0x80; b++) {
                char run[20], esc[NETD_JSON_ESCAPED_MAX(20)], one[8];
                size_t pos, k;

                in[0] = (char)b;
                k = netd_json_escape(in, 1, one);
                for (pos = 0; pos < sizeof(run); pos++) {
                        memset(run, 'x', sizeof(run));
                        run[pos] = (char)b;
                        n = netd_json_escape(run, sizeof(run), esc);
                        assert_int_equal(n, sizeof(run) - 1 + k);
                        assert_memory_equal(esc + pos, one, k);
                }
        }
        /* Bytes from 0x80 up (UTF-8 sequences) are copied. */
        n = netd_json_escape("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xEF\xBF\xBF", 12, out);
        assert_int_equal(n, 12);

        /* The bound is reached by a run of control bytes. */
        n = netd_json_escape("\x01\x02", 2, out);
        assert_int_equal(n, NETD_JSON_ESCAPED_MAX(2));
}

/* Random text with many specials round-trips through escape and unescape. */
static void test_json_escape_roundtrip(void **state)
{
        static const char specials[] = "\"\\\n\r\t\b\f\x01\x1f\x7f";
        char in[2048], *out = malloc(NETD_JSON_ESCAPED_MAX(sizeof(in))), back[2048];
        size_t round, len, n, i;

        (void)state;
        assert_non_null(out);
        rng_state = 0xBADC0DE;
        for (round = 0; round < 300; round++) {
                size_t nchars = rng_next() % 300;

                for (len = 0, i = 0; i < nchars; i++) {
                        if (rng_next() % 3 == 0)
                                in[len++] = specials[rng_next() % (sizeof(specials) - 1)];
                        else
                                len += test_put_utf8(in + len, rng_scalar());
                }
                n = netd_json_escape(in, len, out);
                assert_true(n <= NETD_JSON_ESCAPED_MAX(len));
                for (i = 0; i < n; i++)
                        assert_true((uint8_t)out[i] >= 0x20);
                assert_mem_equal(back, json_unescape(out, n, back), in, len);
        }
        free(out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_encoding_names),
                cmocka_unit_test(test_decode_node_vectors),
                cmocka_unit_test(test_decode_rejects),
                cmocka_unit_test(test_utf8_validate),
                cmocka_unit_test(test_base64_encode_vectors),
                cmocka_unit_test(test_base64_encode_alignment),
                cmocka_unit_test(test_base64_decode_every_byte),
                cmocka_unit_test(test_roundtrip_binary),
                cmocka_unit_test(test_roundtrip_text),
                cmocka_unit_test(test_strdec_split_utf8),
                cmocka_unit_test(test_strdec_split_base64),
                cmocka_unit_test(test_strdec_split_utf16le),
                cmocka_unit_test(test_strdec_split_simple),
                cmocka_unit_test(test_strdec_node_vectors),
                cmocka_unit_test(test_strdec_node_vectors_utf16le),
                cmocka_unit_test(test_strdec_end),
                cmocka_unit_test(test_strdec_utf8_invalid_splits),
                cmocka_unit_test(test_json_escape_vectors),
                cmocka_unit_test(test_json_escape_bytes),
                cmocka_unit_test(test_json_escape_roundtrip),
        };

        return cmocka_run_group_tests_name("encoding", tests, NULL, NULL);
}
