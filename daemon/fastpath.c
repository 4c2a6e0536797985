/*
 * The socket.write fast path's recognizer (see fastpath.h). Pure: no daemon
 * state. Members may come in any order, each at most once; the payload is
 * scanned eight bytes a step.
 */
#include <string.h>

#include "encoding.h"
#include "fastpath.h"
#include "scan.h"

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
