/* Declarative parameter parsing (see params.h). Pure: no daemon state. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "params.h"

static int param_fail(struct netd_param_error *err, const char *field, enum netd_err code,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int param_fail(struct netd_param_error *err, const char *field, enum netd_err code,
                      const char *fmt, ...)
{
        va_list ap;

        err->field = field;
        err->code = code;
        va_start(ap, fmt);
        (void)vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* Parses a decimal port string as Node accepts it ("80"); returns the port or -1. */
static int parse_port_string(const char *s, size_t len)
{
        long v = 0;

        if (len == 0 || len > 5)
                return -1;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v <= 65535 ? (int)v : -1;
}

static int parse_one(const struct netd_param *p, struct netd_jv v, void *out,
                     struct netd_param_error *err)
{
        const struct netd_jtok *t = netd_jv_tok(v);
        char *field = (char *)out + p->offset;

        switch (p->type) {
        case NETD_T_HANDLE:
                if (t->type != NETD_JTOK_INTEGER)
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be a handle id (a positive integer), not %s",
                                          p->name, netd_jv_type_name(v));
                if (t->integer <= 0)
                        return param_fail(err, p->name, NETD_ERR_OUT_OF_RANGE,
                                          "\"%s\" must be a positive integer%s", p->name, "");
                *(uint64_t *)field = (uint64_t)t->integer;
                return 0;
        case NETD_T_PORT: {
                int port = -1;

                if (t->type == NETD_JTOK_INTEGER) {
                        port = t->integer >= 0 && t->integer <= 65535 ? (int)t->integer : -1;
                } else if (t->type == NETD_JTOK_STRING) {
                        port = parse_port_string(netd_jv_str(v), t->len);
                } else if (t->type == NETD_JTOK_REAL) {
                        double d = netd_jv_number(v);

                        port = d >= 0 && d <= 65535 && d == (double)(int)d ? (int)d : -1;
                } else {
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be a number, not %s", p->name,
                                          netd_jv_type_name(v));
                }
                if (port < 0)
                        return param_fail(err, p->name, NETD_ERR_SOCKET_BAD_PORT,
                                          "\"%s\" should be >= 0 and < 65536%s", p->name, "");
                *(int *)field = port;
                return 0;
        }
        case NETD_T_STRING:
                if (t->type != NETD_JTOK_STRING)
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be a string, not %s", p->name,
                                          netd_jv_type_name(v));
                ((struct netd_str *)field)->s = netd_jv_str(v);
                ((struct netd_str *)field)->len = t->len;
                return 0;
        case NETD_T_BOOL:
                if (t->type != NETD_JTOK_TRUE && t->type != NETD_JTOK_FALSE)
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be a boolean, not %s", p->name,
                                          netd_jv_type_name(v));
                *(bool *)field = t->type == NETD_JTOK_TRUE;
                return 0;
        case NETD_T_INT:
                if (t->type != NETD_JTOK_INTEGER)
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be an integer, not %s", p->name,
                                          netd_jv_type_name(v));
                if (t->integer < p->min || t->integer > p->max) {
                        char range[64];

                        (void)snprintf(range, sizeof(range), " (%lld to %lld)", (long long)p->min,
                                       (long long)p->max);
                        return param_fail(err, p->name, NETD_ERR_OUT_OF_RANGE,
                                          "\"%s\" is out of range%s", p->name, range);
                }
                *(int64_t *)field = t->integer;
                return 0;
        case NETD_T_ENCODING: {
                const char *name;
                int e;

                if (t->type != NETD_JTOK_STRING)
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be a string, not %s", p->name,
                                          netd_jv_type_name(v));
                name = netd_jv_str(v);
                e = strlen(name) == t->len ? netd_encoding_from_string(name) : -EINVAL;
                if (e < 0)
                        return param_fail(err, p->name, NETD_ERR_UNKNOWN_ENCODING,
                                          "\"%s\": unknown encoding \"%s\"", p->name, name);
                *(int *)field = e;
                return 0;
        }
        case NETD_T_OBJECT:
                if (t->type != NETD_JTOK_OBJECT)
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be an object, not %s", p->name,
                                          netd_jv_type_name(v));
                *(struct netd_jv *)field = v;
                return 0;
        case _NETD_T_MAX:
        case _NETD_T_INVALID:
                break;
        }
        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_VALUE, "\"%s\" has no parser%s",
                          p->name, "");
}

int netd_params_parse(struct netd_jv params, const struct netd_param *spec, void *out,
                      uint64_t *ret_present, struct netd_param_error *err)
{
        int found[64]; /* the value token of each spec entry, -1 when absent */
        uint64_t present = 0;
        int key, val;
        uint32_t k;
        size_t i, n;
        int r;

        for (n = 0; spec[n].name; n++)
                found[n] = -1;
        /* One pass over the members: unknown names first, in the line's order. */
        if (netd_jv_is(params, NETD_JTOK_OBJECT)) {
                NETD_JV_FOREACH_MEMBER(params, key, val, k) {
                        const struct netd_jtok *kt = &params.doc->t[key];
                        const char *name = params.doc->line + kt->start;

                        for (i = 0; i < n; i++)
                                if (spec[i].name[0] == name[0] && strlen(spec[i].name) == kt->len &&
                                    memcmp(spec[i].name, name, kt->len) == 0)
                                        break;
                        if (i == n)
                                return param_fail(err, name, NETD_ERR_INVALID_ARG_VALUE,
                                                  "unknown parameter \"%s\"%s", name, "");
                        found[i] = val;
                }
        }
        for (i = 0; i < n; i++) {
                struct netd_jv v = { params.doc, found[i] };

                if (v.i < 0 || netd_jv_is(v, NETD_JTOK_NULL)) {
                        if (spec[i].required)
                                return param_fail(err, spec[i].name, NETD_ERR_MISSING_ARGS,
                                                  "\"%s\" is required%s", spec[i].name, "");
                        continue;
                }
                r = parse_one(&spec[i], v, out, err);
                if (r < 0)
                        return r;
                present |= UINT64_C(1) << i;
        }
        if (ret_present)
                *ret_present = present;
        return 0;
}
