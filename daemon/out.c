/*
 * The one writer (see out.h). A line is built in a stack buffer when it is
 * short (most replies and events), so it joins the output in one append;
 * a long one is appended piece by piece and cut back to the line's start
 * if any piece fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

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

size_t netd_out_evbuffer_length(const struct evbuffer *b)
{
        return evbuffer_get_length(b);
}

int netd_out_fds_push(struct netd_out_fds *q, uint64_t pos, int fd)
{
        if (q->head > 0 && q->head == q->n) {
                q->head = q->n = 0;
        }
        if (q->n == q->cap) {
                size_t cap = q->cap ? q->cap * 2 : 4;
                struct netd_out_fd *v;

                if (q->head > 0) {
                        /* Reuse the room the sent ones left before growing. */
                        memmove(q->v, q->v + q->head, (q->n - q->head) * sizeof(*q->v));
                        q->n -= q->head;
                        q->head = 0;
                }
                if (q->n == q->cap) {
                        v = realloc(q->v, cap * sizeof(*v));
                        if (!v) {
                                close(fd);
                                return -ENOMEM;
                        }
                        q->v = v;
                        q->cap = cap;
                }
        }
        q->v[q->n++] = (struct netd_out_fd){ .pos = pos, .fd = fd };
        return 0;
}

void netd_out_fds_done(struct netd_out_fds *q)
{
        for (size_t i = q->head; i < q->n; i++)
                close(q->v[i].fd);
        free(q->v);
        netd_out_sent_stop(q);
        *q = (struct netd_out_fds){ .written = q->written };
}

int netd_out_sent_start(struct netd_out_fds *q)
{
        if (q->sent)
                return 0;
        q->sent = evbuffer_new();
        if (!q->sent)
                return -ENOMEM;
        q->sent_pos = q->written;
        q->sent_mid_line = q->mid_line;
        q->n_sent_fd_pos = 0;
        return 0;
}

void netd_out_sent_stop(struct netd_out_fds *q)
{
        if (q->sent)
                evbuffer_free(q->sent);
        free(q->sent_fd_pos);
        q->sent = NULL;
        q->sent_fd_pos = NULL;
        q->n_sent_fd_pos = q->cap_sent_fd_pos = 0;
}

void netd_out_sent_trim(struct netd_out_fds *q, uint64_t first_unread)
{
        size_t keep = 0;

        struct evbuffer_ptr at, end, nl;
        size_t read, cut = 0;

        if (!q->sent || first_unread <= q->sent_pos)
                return;
        /* The lines wholly read end at or before first_unread: one bounded scan, one drain. */
        read = (size_t)(first_unread - q->sent_pos);
        if (read > evbuffer_get_length(q->sent))
                read = evbuffer_get_length(q->sent);
        if (evbuffer_ptr_set(q->sent, &at, 0, EVBUFFER_PTR_SET) < 0 ||
            evbuffer_ptr_set(q->sent, &end, read, EVBUFFER_PTR_SET) < 0)
                return;
        while ((nl = evbuffer_search_range(q->sent, "\n", 1, &at, &end)).pos >= 0) {
                cut = (size_t)nl.pos + 1;
                if (evbuffer_ptr_set(q->sent, &at, cut, EVBUFFER_PTR_SET) < 0)
                        break;
        }
        if (cut > 0) {
                evbuffer_drain(q->sent, cut);
                q->sent_pos += cut;
                q->sent_mid_line = false;
        }
        for (size_t i = 0; i < q->n_sent_fd_pos; i++)
                if (q->sent_fd_pos[i] >= q->sent_pos)
                        q->sent_fd_pos[keep++] = q->sent_fd_pos[i];
        q->n_sent_fd_pos = keep;
}

bool netd_out_sent_carried_fd(const struct netd_out_fds *q, uint64_t pos)
{
        for (size_t i = 0; i < q->n_sent_fd_pos; i++)
                if (q->sent_fd_pos[i] == pos)
                        return true;
        return false;
}

/* n bytes of b were written: dropped, or kept in q->sent (a failure to keep stops keeping). */
static void out_consume(struct evbuffer *b, struct netd_out_fds *q, size_t n)
{
        if (q->sent && evbuffer_remove_buffer(b, q->sent, n) == (int)n)
                return;
        if (q->sent)
                netd_out_sent_stop(q); /* out of memory: the session loses what it can't keep */
        evbuffer_drain(b, n);
}

/* Records that the line at offset pos, being written, carries a descriptor (kept lines only). */
static void out_sent_fd(struct netd_out_fds *q, uint64_t pos)
{
        if (!q->sent)
                return;
        if (q->n_sent_fd_pos == q->cap_sent_fd_pos) {
                size_t cap = q->cap_sent_fd_pos ? q->cap_sent_fd_pos * 2 : 4;
                uint64_t *v = realloc(q->sent_fd_pos, cap * sizeof(*v));

                if (!v) {
                        netd_out_sent_stop(q);
                        return;
                }
                q->sent_fd_pos = v;
                q->cap_sent_fd_pos = cap;
        }
        q->sent_fd_pos[q->n_sent_fd_pos++] = pos;
}

/* Sends the line at the start of b with fd attached; the bytes sent, or -1 with errno. */
static ssize_t out_send_with_fd(struct evbuffer *b, int sock, int fd, struct netd_out_fds *q)
{
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct evbuffer_ptr eol = evbuffer_search(b, "\n", 1, NULL);
        size_t len = eol.pos >= 0 ? (size_t)eol.pos + 1 : evbuffer_get_length(b);
        struct iovec iov;
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        struct cmsghdr *cm;
        ssize_t n;

        iov.iov_base = evbuffer_pullup(b, (ev_ssize_t)len);
        iov.iov_len = len;
        if (!iov.iov_base) {
                errno = ENOMEM;
                return -1;
        }
        memset(control.buf, 0, sizeof(control.buf));
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
                q->mid_line = ((const char *)iov.iov_base)[n - 1] != '\n';
                out_sent_fd(q, q->written);
                out_consume(b, q, (size_t)n);
        }
        return n;
}

/* Iovecs one write takes (as evbuffer_write's NUM_WRITE_IOVEC). */
#define OUT_WRITE_IOVECS 128

/*
 * evbuffer_write_atmost(b, sock, atmost) (atmost < 0: all), plus
 * q->mid_line: whether the last byte written was not a "\n".
 */
static ssize_t out_writev(struct evbuffer *b, int sock, ev_ssize_t atmost, struct netd_out_fds *q)
{
        struct evbuffer_iovec v[OUT_WRITE_IOVECS];
        int nv = evbuffer_peek(b, atmost, NULL, v, OUT_WRITE_IOVECS);
        size_t total = 0, left;
        ssize_t n;

        if (nv > OUT_WRITE_IOVECS)
                nv = OUT_WRITE_IOVECS;
        for (int i = 0; i < nv; i++) {
                if (atmost >= 0 && total + v[i].iov_len > (size_t)atmost)
                        v[i].iov_len = (size_t)atmost - total;
                total += v[i].iov_len;
        }
        /* evbuffer_iovec has struct iovec's layout (event2/buffer.h). */
        n = writev(sock, (const struct iovec *)v, nv);
        if (n <= 0)
                return n;
        left = (size_t)n;
        for (int i = 0; i < nv; i++) {
                if (left <= v[i].iov_len) {
                        q->mid_line = ((const char *)v[i].iov_base)[left - 1] != '\n';
                        break;
                }
                left -= v[i].iov_len;
        }
        out_consume(b, q, (size_t)n);
        return n;
}

ssize_t netd_out_write(struct evbuffer *b, int sock, struct netd_out_fds *q)
{
        struct netd_out_fd *next = q->head < q->n ? &q->v[q->head] : NULL;
        ssize_t n;

        if (!next) {
                n = out_writev(b, sock, -1, q);
        } else if (next->pos > q->written) {
                /* Up to the line that carries the descriptor, not one byte further. */
                n = out_writev(b, sock, (ev_ssize_t)(next->pos - q->written), q);
        } else {
                n = out_send_with_fd(b, sock, next->fd, q);
                if (n > 0) {
                        /* The kernel holds a reference for the client: ours goes. */
                        close(next->fd);
                        q->head++;
                }
        }
        if (n > 0)
                q->written += (uint64_t)n;
        else if (n == 0)
                errno = EAGAIN;
        return n > 0 ? n : -1;
}
