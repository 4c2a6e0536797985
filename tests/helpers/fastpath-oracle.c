/*
 * The oracles for the daemon's two fast readers, the socket.write fast path
 * (daemon/fastpath.c) and the small-request reader (proto/fastjson.c): what
 * the daemon accepts through them, and whether jansson, the general path,
 * reads the same line the same way. Shared by unit/fastpath, unit/fastjson
 * and the fuzz-fastpath and fuzz-fastjson libFuzzer targets.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "encoding.h"
#include "fastjson.h"
#include "fastpath-oracle.h"

/* What the general path would see: 1 when the line is a socket.write request matching w. */
int netd_fastpath_agrees_with_jansson(const char *line, size_t len, const struct netd_fast_write *w)
{
        json_error_t jerr;
        json_t *m = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                               &jerr);
        json_t *params, *v, *id;
        int ok = 0;

        if (!m || !json_is_object(m))
                goto out;
        if (json_object_size(m) != (w->has_id ? 4u : 3u))
                goto out;
        v = json_object_get(m, "jsonrpc");
        if (!json_is_string(v) || json_string_length(v) != 3 ||
            strcmp(json_string_value(v), "2.0") != 0)
                goto out;
        v = json_object_get(m, "method");
        if (!json_is_string(v) || strcmp(json_string_value(v), "socket.write") != 0 ||
            json_string_length(v) != strlen("socket.write"))
                goto out;
        id = json_object_get(m, "id");
        if (w->has_id != (id != NULL))
                goto out;
        if (id) {
                if (w->id_is_string) {
                        if (!json_is_string(id) || json_string_length(id) != w->id_len ||
                            memcmp(json_string_value(id), w->id_str, w->id_len) != 0)
                                goto out;
                } else if (!json_is_integer(id) || json_integer_value(id) != w->id_int) {
                        goto out;
                }
        }
        params = json_object_get(m, "params");
        if (!json_is_object(params))
                goto out;
        v = json_object_get(params, "socket");
        if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
            (uint64_t)json_integer_value(v) != w->socket)
                goto out;
        v = json_object_get(params, "data");
        if (!json_is_string(v) || json_string_length(v) != w->data_len ||
            memcmp(json_string_value(v), w->data, w->data_len) != 0)
                goto out;
        v = json_object_get(params, "encoding");
        if (v) {
                if (!json_is_string(v) ||
                    netd_encoding_from_string(json_string_value(v)) != w->encoding)
                        goto out;
        } else if (w->encoding != NETD_ENC_UTF8) {
                goto out;
        }
        if (json_object_size(params) != (v ? 3u : 2u))
                goto out;
        ok = 1;
out:
        json_decref(m);
        return ok;
}

/*
 * The fast path's verdict as the daemon applies it: recognized, and for the
 * binary encodings, data that decodes (fastpath.h).
 */
int netd_fastpath_accepts(const char *line, size_t len, struct netd_fast_write *w)
{
        uint8_t *buf;
        ssize_t n;

        if (!netd_fastpath_write(line, len, w))
                return 0;
        if (!w->data_unchecked)
                return 1;
        buf = malloc(netd_decode_max(w->encoding, w->data_len) + 1);
        if (!buf)
                abort();
        n = netd_decode(w->encoding, w->data, w->data_len, buf);
        free(buf);
        return n >= 0;
}

int netd_fastpath_check(const char *line, size_t len)
{
        struct netd_fast_write w;

        if (!netd_fastpath_accepts(line, len, &w))
                return 0;
        return netd_fastpath_agrees_with_jansson(line, len, &w) ? 1 : -1;
}

int netd_fastjson_check(const char *line, size_t len)
{
        const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
        json_t *fast = netd_fastjson_parse(line, len), *slow;
        char *fast_text, *slow_text;
        json_error_t jerr;
        int ok;

        if (!fast)
                return 0;
        slow = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                          &jerr);
        /* The fast reader's trees are at most NETD_FASTJSON_MAX_DEPTH deep: safe to compare. */
        fast_text = json_dumps(fast, flags);
        slow_text = slow ? json_dumps(slow, flags) : NULL;
        ok = slow && json_equal(fast, slow) && fast_text && slow_text &&
             strcmp(fast_text, slow_text) == 0;
        free(fast_text);
        free(slow_text);
        json_decref(fast);
        json_decref(slow);
        return ok ? 1 : -1;
}

static uint64_t next_random(uint64_t *seed)
{
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        return *seed;
}

size_t netd_oracle_mutate(char *buf, size_t len, size_t cap, uint64_t *seed)
{
        static const char alphabet[] =
                "{}[]\":,\\0123456789-.eE aZsocketdatiynrpulfs\t\r\n\x01\x7f\xc3\xa9";
        int n = 1 + (int)(next_random(seed) % 3);

        for (int k = 0; k < n; k++) {
                size_t pos = len ? (size_t)(next_random(seed) % len) : 0;
                char ch = alphabet[next_random(seed) % (sizeof(alphabet) - 1)];

                switch (next_random(seed) % 3) {
                case 0:
                        if (len)
                                buf[pos] = ch;
                        break;
                case 1:
                        if (len + 1 < cap) {
                                memmove(buf + pos + 1, buf + pos, len - pos);
                                buf[pos] = ch;
                                len++;
                        }
                        break;
                default:
                        if (len) {
                                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                                len--;
                        }
                        break;
                }
        }
        return len;
}

long netd_oracle_mutations(const char *const *seeds, size_t nseeds, unsigned rounds, uint64_t seed,
                           netd_oracle_check_fn *check, char *bad, size_t badcap)
{
        char buf[1024];
        long read = 0;

        for (unsigned i = 0; i < rounds; i++) {
                const char *base = seeds[seed % nseeds];
                size_t len = strlen(base);
                int r;

                if (len > sizeof(buf))
                        abort(); /* a seed longer than the buffer: the test is wrong */
                memcpy(buf, base, len);
                len = netd_oracle_mutate(buf, len, sizeof(buf), &seed);
                r = check(buf, len);
                if (r < 0) {
                        size_t n = len < badcap - 1 ? len : badcap - 1;

                        memcpy(bad, buf, n);
                        bad[n] = '\0';
                        return -1;
                }
                read += r;
        }
        return read;
}
