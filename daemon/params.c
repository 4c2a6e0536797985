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

static const char *json_type_name(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        case JSON_NULL:
                return "null";
        }
        return "a value";
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

static int parse_one(const struct netd_param *p, json_t *v, void *out, struct netd_param_error *err)
{
        char *field = (char *)out + p->offset;

        switch (p->type) {
        case NETD_T_HANDLE: {
                json_int_t id;

                if (!json_is_integer(v))
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be a handle id (a positive integer), not %s",
                                          p->name, json_type_name(v));
                id = json_integer_value(v);
                if (id <= 0)
                        return param_fail(err, p->name, NETD_ERR_OUT_OF_RANGE,
                                          "\"%s\" must be a positive integer%s", p->name, "");
                *(uint64_t *)field = (uint64_t)id;
                return 0;
        }
        case NETD_T_PORT: {
                int port = -1;

                if (json_is_integer(v)) {
                        json_int_t i = json_integer_value(v);

                        port = i >= 0 && i <= 65535 ? (int)i : -1;
                } else if (json_is_string(v)) {
                        port = parse_port_string(json_string_value(v), json_string_length(v));
                } else if (json_is_real(v)) {
                        double d = json_real_value(v);

                        port = d >= 0 && d <= 65535 && d == (double)(int)d ? (int)d : -1;
                } else {
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be a number, not %s", p->name,
                                          json_type_name(v));
                }
                if (port < 0)
                        return param_fail(err, p->name, NETD_ERR_SOCKET_BAD_PORT,
                                          "\"%s\" should be >= 0 and < 65536%s", p->name, "");
                *(int *)field = port;
                return 0;
        }
        case NETD_T_STRING:
                if (!json_is_string(v))
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be a string, not %s", p->name,
                                          json_type_name(v));
                ((struct netd_str *)field)->s = json_string_value(v);
                ((struct netd_str *)field)->len = json_string_length(v);
                return 0;
        case NETD_T_BOOL:
                if (!json_is_boolean(v))
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be a boolean, not %s", p->name,
                                          json_type_name(v));
                *(bool *)field = json_is_true(v);
                return 0;
        case NETD_T_INT: {
                json_int_t i;

                if (!json_is_integer(v))
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be an integer, not %s", p->name,
                                          json_type_name(v));
                i = json_integer_value(v);
                if (i < p->min || i > p->max) {
                        char range[64];

                        (void)snprintf(range, sizeof(range), " (%lld to %lld)", (long long)p->min,
                                       (long long)p->max);
                        return param_fail(err, p->name, NETD_ERR_OUT_OF_RANGE,
                                          "\"%s\" is out of range%s", p->name, range);
                }
                *(int64_t *)field = i;
                return 0;
        }
        case NETD_T_ENCODING: {
                int e;

                if (!json_is_string(v))
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be a string, not %s", p->name,
                                          json_type_name(v));
                e = strlen(json_string_value(v)) == json_string_length(v)
                            ? netd_encoding_from_string(json_string_value(v))
                            : -EINVAL;
                if (e < 0)
                        return param_fail(err, p->name, NETD_ERR_UNKNOWN_ENCODING,
                                          "\"%s\": unknown encoding \"%s\"", p->name,
                                          json_string_value(v));
                *(int *)field = e;
                return 0;
        }
        case NETD_T_OBJECT:
                if (!json_is_object(v))
                        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_TYPE,
                                          "\"%s\" must be an object, not %s", p->name,
                                          json_type_name(v));
                *(json_t **)field = v;
                return 0;
        case _NETD_T_MAX:
        case _NETD_T_INVALID:
                break;
        }
        return param_fail(err, p->name, NETD_ERR_INVALID_ARG_VALUE, "\"%s\" has no parser%s",
                          p->name, "");
}

int netd_params_parse(json_t *params, const struct netd_param *spec, void *out,
                      uint64_t *ret_present, struct netd_param_error *err)
{
        uint64_t present = 0;
        const char *key;
        json_t *v;
        size_t i;
        int r;

        /* Unknown names first: a typo must not pass silently as a default. */
        json_object_foreach(params, key, v) {
                for (i = 0; spec[i].name; i++)
                        if (strcmp(spec[i].name, key) == 0)
                                break;
                if (!spec[i].name)
                        return param_fail(err, key, NETD_ERR_INVALID_ARG_VALUE,
                                          "unknown parameter \"%s\"%s", key, "");
        }
        for (i = 0; spec[i].name; i++) {
                v = params ? json_object_get(params, spec[i].name) : NULL;
                if (!v || json_is_null(v)) {
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
