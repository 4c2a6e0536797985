/* The socket.write fast path's recognizer (see fastpath.h). Pure: no daemon state. */
#include <string.h>

#include "encoding.h"
#include "fastpath.h"

struct cursor {
        const char *p, *end;
};

static bool take(struct cursor *c, const char *lit)
{
        size_t n = strlen(lit);

        if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
                return false;
        c->p += n;
        return true;
}

/* A JSON integer: -?(0|[1-9][0-9]*), at most 18 digits so it fits in int64. */
static bool take_int(struct cursor *c, int64_t *ret)
{
        bool neg = false;
        int64_t v = 0;
        int digits = 0;

        if (c->p < c->end && *c->p == '-') {
                neg = true;
                c->p++;
        }
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
                return false;
        if (*c->p == '0') {
                c->p++;
                /* A leading zero must stand alone (JSON) and not start a real. */
                if (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' ||
                                      *c->p == 'e' || *c->p == 'E'))
                        return false;
                *ret = 0;
                return !neg; /* "-0" is a real to jansson */
        }
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
                if (++digits > 18)
                        return false;
                v = v * 10 + (*c->p - '0');
                c->p++;
        }
        if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
                return false;
        *ret = neg ? -v : v;
        return true;
}

/* A string of printable ASCII without '"' or '\': the content, without the quotes. */
static bool take_plain_string(struct cursor *c, const char **ret, size_t *ret_len)
{
        const char *s;

        if (c->p >= c->end || *c->p != '"')
                return false;
        s = ++c->p;
        for (; c->p < c->end; c->p++) {
                unsigned char ch = (unsigned char)*c->p;

                if (ch == '"') {
                        *ret = s;
                        *ret_len = (size_t)(c->p - s);
                        c->p++;
                        return true;
                }
                if (ch < 0x20 || ch > 0x7e || ch == '\\')
                        return false;
        }
        return false;
}

static bool take_id(struct cursor *c, struct netd_fast_write *w)
{
        if (w->has_id || !take(c, "\"id\":"))
                return false;
        w->has_id = true;
        if (c->p < c->end && *c->p == '"') {
                w->id_is_string = true;
                return take_plain_string(c, &w->id_str, &w->id_len);
        }
        return take_int(c, &w->id_int);
}

int netd_fastpath_write(const char *line, size_t len, struct netd_fast_write *ret)
{
        struct cursor c = { line, line + len };
        struct netd_fast_write w = { .encoding = NETD_ENC_UTF8 };
        int64_t socket;

        if (!take(&c, "{\"jsonrpc\":\"2.0\","))
                return 0;
        if ((size_t)(c.end - c.p) > 5 && memcmp(c.p, "\"id\":", 5) == 0) {
                if (!take_id(&c, &w) || !take(&c, ","))
                        return 0;
        }
        if (!take(&c, "\"method\":\"socket.write\",\"params\":{\"socket\":"))
                return 0;
        if (!take_int(&c, &socket) || socket <= 0)
                return 0;
        if (!take(&c, ",\"data\":") || !take_plain_string(&c, &w.data, &w.data_len))
                return 0;
        if (take(&c, ",\"encoding\":")) {
                const char *name;
                size_t name_len;
                char buf[16];
                int e;

                if (!take_plain_string(&c, &name, &name_len) || name_len >= sizeof(buf))
                        return 0;
                memcpy(buf, name, name_len);
                buf[name_len] = '\0';
                e = netd_encoding_from_string(buf);
                if (e < 0)
                        return 0;
                w.encoding = e;
        }
        if (!take(&c, "}"))
                return 0;
        if (take(&c, ",")) {
                if (!take_id(&c, &w))
                        return 0;
        }
        if (!take(&c, "}") || c.p != c.end)
                return 0;
        w.socket = (uint64_t)socket;
        *ret = w;
        return 1;
}
