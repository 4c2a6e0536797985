/*
 * The one writer (see out.h). A line is built in a stack buffer when it is
 * short (most replies and events), so it joins the output in one append;
 * a long one is appended piece by piece and cut back to the line's start
 * if any piece fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <event2/buffer.h>

#include "encoding.h"
#include "out.h"

#define OUT_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

/* A line under construction: a stack buffer, spilling into the evbuffer when full. */
struct out_line {
        struct evbuffer *b;
        size_t start; /* the evbuffer's length when the line began */
        char buf[2048];
        size_t n;
        int err;
};

static void line_begin(struct out_line *l, struct evbuffer *b)
{
        l->b = b;
        l->start = evbuffer_get_length(b);
        l->n = 0;
        l->err = 0;
}

static void line_spill(struct out_line *l)
{
        if (l->n > 0 && l->err == 0 && evbuffer_add(l->b, l->buf, l->n) < 0)
                l->err = -ENOMEM;
        l->n = 0;
}

static void line_put(struct out_line *l, const char *s, size_t len)
{
        if (l->err)
                return;
        if (len > sizeof(l->buf) - l->n) {
                line_spill(l);
                if (len > sizeof(l->buf)) {
                        if (evbuffer_add(l->b, s, len) < 0)
                                l->err = -ENOMEM;
                        return;
                }
        }
        memcpy(l->buf + l->n, s, len);
        l->n += len;
}

#define LINE_LIT(l, lit) line_put((l), (lit), sizeof(lit) - 1)

static void line_int(struct out_line *l, int64_t i)
{
        char digits[24], out[24];
        uint64_t u = i < 0 ? 0ULL - (uint64_t)i : (uint64_t)i;
        size_t k = 0, n = 0;

        do {
                digits[k++] = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        if (i < 0)
                out[n++] = '-';
        while (k)
                out[n++] = digits[--k];
        line_put(l, out, n);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
        line_put(data, buf, size);
        return ((struct out_line *)data)->err;
}

/* A JSON value: integers, literals and plain strings by hand, anything else by jansson. */
static void line_value(struct out_line *l, const json_t *v)
{
        size_t room, n;

        if (!v || json_is_null(v)) {
                LINE_LIT(l, "null");
                return;
        }
        if (json_is_integer(v)) {
                line_int(l, json_integer_value(v));
                return;
        }
        if (json_is_true(v)) {
                LINE_LIT(l, "true");
                return;
        }
        if (json_is_false(v)) {
                LINE_LIT(l, "false");
                return;
        }
        /* Dump into the room left in the stack buffer, else piece by piece. */
        room = sizeof(l->buf) - l->n;
        n = l->err ? 0 : json_dumpb(v, l->buf + l->n, room, OUT_DUMP_FLAGS);
        if (n > 0 && n <= room) {
                l->n += n;
                return;
        }
        line_spill(l);
        if (!l->err && json_dump_callback(v, dump_cb, l, OUT_DUMP_FLAGS) < 0 && !l->err)
                l->err = -ENOMEM;
}

/* Ends the line: "\n", everything appended, or the line taken back on a failure. */
static int line_end(struct out_line *l)
{
        LINE_LIT(l, "\n");
        line_spill(l);
        if (l->err) {
                size_t len = evbuffer_get_length(l->b);

                /* Take back what was appended of the line: cut the buffer to its start. */
                if (len > l->start) {
                        struct evbuffer *keep = evbuffer_new();

                        if (keep && evbuffer_remove_buffer(l->b, keep, l->start) >= 0) {
                                evbuffer_drain(l->b, evbuffer_get_length(l->b));
                                evbuffer_add_buffer(l->b, keep);
                        }
                        if (keep)
                                evbuffer_free(keep);
                }
                return l->err;
        }
        return 0;
}

int netd_out_reply(struct evbuffer *b, const json_t *id, const json_t *result)
{
        struct out_line l;

        line_begin(&l, b);
        LINE_LIT(&l, "{\"jsonrpc\":\"2.0\",\"id\":");
        line_value(&l, id);
        LINE_LIT(&l, ",\"result\":");
        line_value(&l, result);
        LINE_LIT(&l, "}");
        return line_end(&l);
}

int netd_out_message(struct evbuffer *b, const json_t *msg)
{
        struct out_line l;

        line_begin(&l, b);
        line_value(&l, msg);
        return line_end(&l);
}

int netd_out_event(struct evbuffer *b, const char *method, const json_t *params)
{
        struct out_line l;

        line_begin(&l, b);
        LINE_LIT(&l, "{\"jsonrpc\":\"2.0\",\"method\":\"");
        line_put(&l, method, strlen(method)); /* a static name: plain ASCII */
        LINE_LIT(&l, "\",\"params\":");
        line_value(&l, params);
        LINE_LIT(&l, "}");
        return line_end(&l);
}

int netd_out_data(struct evbuffer *b, uint64_t socket, const uint8_t *bytes, size_t len,
                  const char *text, size_t tlen, const char *encoding)
{
        size_t max = text ? NETD_JSON_ESCAPED_MAX(tlen) : NETD_BASE64_ENCODED_MAX(len);
        struct evbuffer_iovec vec;
        struct out_line l;

        line_begin(&l, b);
        LINE_LIT(&l, "{\"jsonrpc\":\"2.0\",\"method\":\"socket.data\",\"params\":{\"socket\":");
        line_int(&l, (int64_t)socket);
        LINE_LIT(&l, ",\"data\":\"");
        line_spill(&l);
        /* The payload is encoded straight into the output buffer. */
        if (l.err == 0 && evbuffer_reserve_space(b, (ev_ssize_t)(max ? max : 1), &vec, 1) < 1)
                l.err = -ENOMEM;
        if (l.err == 0) {
                vec.iov_len = text ? netd_json_escape(text, tlen, vec.iov_base)
                                   : netd_base64_encode(bytes, len, vec.iov_base, 0);
                if (evbuffer_commit_space(b, &vec, 1) < 0)
                        l.err = -ENOMEM;
        }
        LINE_LIT(&l, "\",\"encoding\":\"");
        line_put(&l, encoding, strlen(encoding));
        LINE_LIT(&l, "\"}}");
        return line_end(&l);
}
