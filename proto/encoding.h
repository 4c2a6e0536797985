/*
 * Node Buffer encodings on the wire. Payload strings travel as UTF-8 JSON
 * strings; this module turns them into bytes (socket.write) and bytes into
 * them (socket.data), plus the JSON string escaping both sides need.
 * Decoding is strict where Node is lenient: netd never drops bytes silently,
 * so malformed input is an error instead of a shorter buffer.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum netd_encoding {
        NETD_ENC_UTF8,
        NETD_ENC_BASE64,
        NETD_ENC_BASE64URL,
        NETD_ENC_HEX,
        NETD_ENC_LATIN1,
        NETD_ENC_ASCII,
        NETD_ENC_UTF16LE,
        _NETD_ENC_MAX,
        _NETD_ENC_INVALID = -EINVAL,
};

/*
 * Parses a Node encoding name, case-insensitively, with Node's aliases
 * ("utf-8", "binary", "ucs2", "ucs-2", "utf-16le"). Returns the encoding or
 * -EINVAL.
 */
int netd_encoding_from_string(const char *s);

/*
 * The canonical name: "utf8", "base64", "base64url", "hex", "latin1", "ascii",
 * "utf16le"; NULL for a value outside the enum.
 */
const char *netd_encoding_to_string(enum netd_encoding e);

/*
 * An upper bound on the bytes netd_decode() writes for len input bytes; 0 for
 * an unknown encoding.
 */
size_t netd_decode_max(enum netd_encoding e, size_t len);

/*
 * Turns the text in (len bytes of UTF-8, as it came out of a JSON string)
 * into bytes at out, which must hold netd_decode_max() bytes. Returns the
 * number of bytes written, or -EINVAL when the text is not valid for the
 * encoding: invalid UTF-8, a hex string of odd length or with a non-hex
 * digit, base64 outside its alphabet or with bad padding, a latin1 code point
 * above U+00FF, an ascii one above U+007F. Base64 padding is optional, but if
 * present it must make the length a multiple of 4; base64 uses only "+/",
 * base64url only "-_"; whitespace is rejected, and so is a final character
 * whose unused low bits aren't zero (they would be dropped). Also -EINVAL for
 * an unknown encoding. On failure out may hold a partial result.
 */
ssize_t netd_decode(enum netd_encoding e, const char *in, size_t len, uint8_t *out);

/*
 * Returns 0 when in[0..len) is valid UTF-8 (no overlongs, surrogates, code
 * points above U+10FFFF or truncated sequences), else -EINVAL.
 */
int netd_utf8_validate(const char *in, size_t len);

/* The value of a hex digit (either case), or -1. */
int netd_hex_value(uint8_t c);

/*
 * Writes code point cp as UTF-8 at o (1 to 4 bytes; a surrogate, which
 * UTF-8 cannot carry, becomes U+FFFD). Returns the bytes written.
 */
size_t netd_utf8_put(char *o, uint32_t cp);

/*
 * Writes the base64 of in to out, padded with '=', or with url != 0 the
 * base64url, unpadded as Node does. out must hold NETD_BASE64_ENCODED_MAX(len)
 * bytes; no NUL is added. Returns the number of characters written.
 */
size_t netd_base64_encode(const uint8_t *in, size_t len, char *out, int url);
#define NETD_BASE64_ENCODED_MAX(n) ((((n) + 2) / 3) * 4)

/*
 * A streaming bytes-to-text decoder, as Node's StringDecoder: a multi-byte
 * character (or base64 group, or utf16le unit) split across two chunks is
 * held back and completed by the next chunk, never broken, so each chunk's
 * text is valid UTF-8 on its own and the chunks concatenated equal the
 * one-shot text. Invalid UTF-8 becomes U+FFFD with Node's (WHATWG) rules;
 * hex is lowercase; ascii drops the high bit, as Node does. For utf16le a
 * high surrogate at the end of a chunk is held back too (Node returns it
 * alone and relies on string concatenation); unpaired surrogates become
 * U+FFFD, and so does an odd byte left at the end (Node drops it silently).
 * Plain value, no resources: copy it or drop it at will.
 */
struct netd_strdec {
        enum netd_encoding enc;
        uint8_t pending[4];
        size_t npending;
};

void netd_strdec_init(struct netd_strdec *d, enum netd_encoding enc);

/*
 * An upper bound on the text bytes netd_strdec_write() produces for len more
 * input bytes (pending bytes included). netd_strdec_max(d, 0) bounds
 * netd_strdec_end().
 */
size_t netd_strdec_max(const struct netd_strdec *d, size_t len);

/*
 * Writes the UTF-8 text for in[0..len) to out, which must hold
 * netd_strdec_max(d, len) bytes, and keeps an incomplete tail in d. Not
 * NUL-terminated, not JSON-escaped. Returns the bytes written (maybe 0).
 */
size_t netd_strdec_write(struct netd_strdec *d, const uint8_t *in, size_t len, char *out);

/*
 * Flushes what is held back at end of stream: U+FFFD for a partial UTF-8
 * character, a lone surrogate or an odd utf16le byte; the base64 (padded) or
 * base64url (unpadded) of a partial group. d is then empty and reusable.
 * Returns the bytes written to out.
 */
size_t netd_strdec_end(struct netd_strdec *d, char *out);

/* An upper bound on netd_json_escape() output for len input bytes. */
#define NETD_JSON_ESCAPED_MAX(n) ((n)*6)

/*
 * Escapes UTF-8 text for the inside of a JSON string (no quotes added):
 * '"', '\\' and control characters are escaped, everything else is copied.
 * The input must be valid UTF-8. out must hold NETD_JSON_ESCAPED_MAX(len)
 * bytes; no NUL is added. Returns the bytes written.
 */
size_t netd_json_escape(const char *in, size_t len, char *out);
