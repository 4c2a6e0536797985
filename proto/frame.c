/*
 * Newline framing over one flat buffer (see frame.h). The buffer is
 * compacted lazily: consumed bytes are only moved out of the way when the
 * free space at the end runs short.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

void netd_frame_init(struct netd_frame *f, size_t max_line)
{
        *f = (struct netd_frame){ .max_line = max_line };
}

void netd_frame_done(struct netd_frame *f)
{
        free(f->buf);
        *f = (struct netd_frame){ .max_line = f->max_line };
}

int netd_frame_reserve(struct netd_frame *f, size_t want, char **ret_ptr, size_t *ret_len)
{
        size_t used = f->end - f->start;

        if (f->cap - f->end < want && f->start > 0) {
                memmove(f->buf, f->buf + f->start, used);
                f->start = 0;
                f->end = used;
        }
        if (f->cap - f->end < want) {
                size_t ncap = f->cap ? f->cap : 4096;
                char *nbuf;

                while (ncap - used < want)
                        ncap *= 2;
                nbuf = realloc(f->buf, ncap);
                if (!nbuf)
                        return -ENOMEM;
                f->buf = nbuf;
                f->cap = ncap;
        }
        *ret_ptr = f->buf + f->end;
        *ret_len = f->cap - f->end;
        return 0;
}

void netd_frame_commit(struct netd_frame *f, size_t n)
{
        f->end += n;
}

int netd_frame_feed(struct netd_frame *f, const void *data, size_t len)
{
        char *p;
        size_t room;
        int r;

        if (len == 0)
                return 0; /* memcpy() to a still NULL buffer would be undefined */
        r = netd_frame_reserve(f, len, &p, &room);
        if (r < 0)
                return r;
        memcpy(p, data, len);
        netd_frame_commit(f, len);
        return 0;
}

int netd_frame_next(struct netd_frame *f, char **ret_line, size_t *ret_len)
{
        for (;;) {
                char *line = f->buf + f->start;
                size_t avail = f->end - f->start;
                char *nl = NULL;
                size_t len;

                if (avail > f->scanned)
                        nl = memchr(line + f->scanned, '\n', avail - f->scanned);
                if (!nl) {
                        f->scanned = avail;
                        /* A trailing "\r" may still be stripped, so allow one more byte. */
                        if (avail > f->max_line + 1 ||
                            (avail == f->max_line + 1 && line[avail - 1] != '\r'))
                                return -EMSGSIZE;
                        return 0;
                }
                len = (size_t)(nl - line);
                f->start += len + 1;
                f->scanned = 0;
                if (len > 0 && line[len - 1] == '\r')
                        len--;
                if (len > f->max_line)
                        return -EMSGSIZE;
                if (len == 0)
                        continue; /* blank line */
                if (f->start == f->end)
                        f->start = f->end = 0; /* the line stays valid: nothing overwrites it yet */
                *ret_line = line;
                *ret_len = len;
                return 1;
        }
}

size_t netd_frame_pending(const struct netd_frame *f)
{
        return f->end - f->start;
}
