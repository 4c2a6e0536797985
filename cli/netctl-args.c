/*
 * netctl's pure helpers (see netctl-args.h): verb lookup, value parsing and
 * formatting. No I/O and no state, so every function here is unit-tested
 * (tests/unit/test-netctl-args.c); netctl.c owns argv, the connection and
 * the output.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "netctl-args.h"
#include "netd/netd.h"

static int verb_compare(const void *key, const void *elem)
{
        const struct netctl_verb *v = elem;

        return strcmp(key, v->name);
}

const struct netctl_verb *netctl_verb_lookup(const struct netctl_verb *verbs, size_t n,
                                             const char *name)
{
        if (!name)
                return NULL;
        return bsearch(name, verbs, n, sizeof(*verbs), verb_compare);
}

bool netctl_verbs_are_sorted(const struct netctl_verb *verbs, size_t n)
{
        for (size_t i = 1; i < n; i++)
                if (strcmp(verbs[i - 1].name, verbs[i].name) >= 0)
                        return false;
        return true;
}

/* Parses decimal digits only (strtoul would accept blanks, a sign and "0x"). */
static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
        unsigned long v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                if (v > (max - (unsigned long)(*p - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (unsigned long)(*p - '0');
        }
        *ret = v;
        return 0;
}

int netctl_parse_port(const char *s, int *ret)
{
        unsigned long v;
        int r;

        r = parse_uint(s, 65535, &v);
        if (r < 0)
                return r;
        *ret = (int)v;
        return 0;
}

int netctl_parse_timeout(const char *s, int *ret_ms)
{
        unsigned long v;
        int r;

        r = parse_uint(s, INT_MAX, &v);
        if (r < 0)
                return r;
        *ret_ms = v == 0 ? -1 : (int)v;
        return 0;
}

int netctl_parse_params(const char *text, size_t len, json_t **ret, char *errbuf, size_t errlen)
{
        json_error_t jerr;
        json_t *v;

        /* DECODE_ANY so that a scalar gets the clearer message below, not a syntax error. */
        v = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!v) {
                (void)snprintf(errbuf, errlen, "invalid JSON params: %s (line %d, column %d)",
                               jerr.text, jerr.line, jerr.column);
                return -EINVAL;
        }
        if (!json_is_object(v) && !json_is_array(v)) {
                json_decref(v);
                (void)snprintf(errbuf, errlen, "params must be a JSON object or array");
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

/* snprintf() that reports truncation as -ENOBUFS. */
static int format(char *buf, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int format(char *buf, size_t len, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, len, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= len)
                return -ENOBUFS;
        return 0;
}

int netctl_format_address(json_t *addr, char *buf, size_t len)
{
        const char *host, *family;
        json_t *port;

        if (json_is_string(addr))
                return format(buf, len, "%s", json_string_value(addr));
        host = json_string_value(json_object_get(addr, "address"));
        family = json_string_value(json_object_get(addr, "family"));
        port = json_object_get(addr, "port");
        if (!host || !json_is_integer(port))
                return -EINVAL;
        /* Node says "IPv6"; older Node versions said 6. Brackets keep "::1:80" unambiguous. */
        if ((family && strcmp(family, "IPv6") == 0) || strchr(host, ':'))
                return format(buf, len, "[%s]:%" JSON_INTEGER_FORMAT, host,
                              json_integer_value(port));
        return format(buf, len, "%s:%" JSON_INTEGER_FORMAT, host, json_integer_value(port));
}

int netctl_format_duration(double seconds, char *buf, size_t len)
{
        unsigned long long s, d, h, m;

        if (!isfinite(seconds) || seconds < 0 || seconds > 1e15)
                return -EINVAL;
        if (seconds < 60)
                return format(buf, len, "%.1fs", seconds);
        s = (unsigned long long)seconds;
        d = s / 86400;
        h = s / 3600 % 24;
        m = s / 60 % 60;
        s %= 60;
        if (d > 0)
                return format(buf, len, "%llud %lluh %llum %llus", d, h, m, s);
        if (h > 0)
                return format(buf, len, "%lluh %llum %llus", h, m, s);
        return format(buf, len, "%llum %llus", m, s);
}

int netctl_format_error(const struct netd_client_error *err, char *buf, size_t len)
{
        const char *message = err->message && *err->message ? err->message : "unknown error";

        if (err->data_code)
                return format(buf, len, "%s (%s)", message, err->data_code);
        return format(buf, len, "%s (%d)", message, err->code);
}

int netctl_exit_for_error(int r, const struct netd_client_error *err)
{
        static const char *const unreachable[] = {
                NETD_CLIENT_ERR_DISCONNECTED,
                NETD_CLIENT_ERR_TIMEOUT,
                NETD_CLIENT_ERR_PROTOCOL,
        };

        if (r == -EREMOTEIO)
                return NETCTL_EXIT_ERROR;
        for (size_t i = 0; err && err->data_code && i < sizeof(unreachable) / sizeof(*unreachable);
             i++)
                if (strcmp(err->data_code, unreachable[i]) == 0)
                        return NETCTL_EXIT_UNREACHABLE;
        return NETCTL_EXIT_ERROR;
}

int netctl_parse_duration(const char *s, int *ret_ms)
{
        static const struct {
                const char *suffix;
                double ms;
        } units[] = { { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
        const char *p = s;
        double v;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL; /* no sign, no blank, no "inf" */
        errno = 0;
        v = strtod(p, &end);
        if (errno != 0 || end == p || !isfinite(v))
                return -EINVAL;
        for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++) {
                double ms;

                if (strcmp(end, units[i].suffix) != 0)
                        continue;
                ms = ceil(v * units[i].ms);
                if (ms <= 0)
                        return -EINVAL;
                if (ms > INT_MAX)
                        return -ERANGE;
                *ret_ms = (int)ms;
                return 0;
        }
        return -EINVAL;
}

static bool is_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

int netctl_parse_endpoint(int argc, char *argv[], bool for_listen, struct netctl_endpoint *ret,
                          char *errbuf, size_t errlen)
{
        struct netctl_endpoint e = { .port = -1 };
        const char *port = NULL;
        size_t n;

        if (argc == 2) {
                e.host = argv[0];
                port = argv[1];
                if (!*e.host) {
                        (void)snprintf(errbuf, errlen, "empty host");
                        return -EINVAL;
                }
        } else if (argc == 1 && argv[0][0] == '@') {
                /* Linux abstract names, written "@name" as ss(8) and systemd do. */
                n = strlen(argv[0] + 1);
                if (n == 0 || n > sizeof(e.path) - 2) {
                        (void)snprintf(errbuf, errlen, "abstract name must be 1 to %zu bytes",
                                       sizeof(e.path) - 2);
                        return -EINVAL;
                }
                e.path[0] = '\0';
                memcpy(e.path + 1, argv[0] + 1, n);
                e.path_len = n + 1;
        } else if (argc == 1 && strchr(argv[0], '/')) {
                n = strlen(argv[0]);
                if (n > sizeof(e.path) - 2) {
                        (void)snprintf(errbuf, errlen, "socket path is longer than %zu bytes",
                                       sizeof(e.path) - 2);
                        return -EINVAL;
                }
                memcpy(e.path, argv[0], n + 1);
                e.path_len = n;
        } else if (argc == 1 && for_listen && is_digits(argv[0])) {
                port = argv[0];
        } else {
                (void)snprintf(
                        errbuf, errlen,
                        "expected %sHOST PORT, a socket path containing '/' or @NAME, got '%s'",
                        for_listen ? "[HOST] PORT, " : "", argc > 0 ? argv[0] : "");
                return -EINVAL;
        }
        if (port) {
                if (netctl_parse_port(port, &e.port) < 0 || (!for_listen && e.port == 0)) {
                        (void)snprintf(errbuf, errlen, "invalid port '%s' (%s)", port,
                                       for_listen ? "0 to 65535" : "1 to 65535");
                        return -EINVAL;
                }
        }
        *ret = e;
        return 0;
}

int netctl_format_endpoint(const struct netctl_endpoint *e, char *buf, size_t len)
{
        if (e->path_len > 0 && e->path[0] == '\0')
                return format(buf, len, "@%.*s", (int)(e->path_len - 1), e->path + 1);
        if (e->path_len > 0)
                return format(buf, len, "%s", e->path);
        if (e->host && strchr(e->host, ':'))
                return format(buf, len, "[%s]:%d", e->host, e->port);
        return format(buf, len, "%s:%d", e->host ? e->host : "*", e->port);
}

int netctl_format_bytes(unsigned long long n, char *buf, size_t len)
{
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
        double v = (double)n;
        size_t i;

        if (n < 1024)
                return format(buf, len, "%llu B", n);
        for (i = 0, v /= 1024; v >= 1024 && i + 1 < sizeof(units) / sizeof(*units); i++)
                v /= 1024;
        return format(buf, len, "%.1f %s", v, units[i]);
}

json_t *netctl_schema_method(json_t *doc, const char *name)
{
        json_t *m;
        size_t i;

        json_array_foreach(json_object_get(doc, "methods"), i, m)
                if (json_is_string(json_object_get(m, "name")) &&
                    strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
                        return m;
        return NULL;
}

/* Follows "#/components/schemas/X" references. */
static json_t *schema_resolve(json_t *doc, json_t *schema)
{
        for (int depth = 0; depth < 8 && json_is_object(schema); depth++) {
                const char *ref = json_string_value(json_object_get(schema, "$ref"));
                const char *prefix = "#/components/schemas/";

                if (!ref || strncmp(ref, prefix, strlen(prefix)) != 0)
                        return schema;
                schema = json_object_get(
                        json_object_get(json_object_get(doc, "components"), "schemas"),
                        ref + strlen(prefix));
        }
        return schema;
}

/* Parses text as a whole JSON value. Returns a new reference or NULL. */
static json_t *json_from_text(const char *text)
{
        return json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
}

/* The value of text under schema, or NULL if it fits none of its types. */
static json_t *value_for_schema(json_t *doc, json_t *schema, const char *text)
{
        json_t *type, *alts, *alt, *v;
        size_t i;

        schema = schema_resolve(doc, schema);
        if (!json_is_object(schema))
                return json_string(text);
        alts = json_object_get(schema, "oneOf");
        if (!alts)
                alts = json_object_get(schema, "anyOf");
        if (json_is_array(alts)) {
                /* Typed alternatives first, so "80" is a port number before it is a string. */
                for (int pass = 0; pass < 2; pass++) {
                        json_array_foreach(alts, i, alt) {
                                json_t *r = schema_resolve(doc, alt);
                                const char *t = json_string_value(json_object_get(r, "type"));
                                bool is_string = t && strcmp(t, "string") == 0;

                                if ((pass == 0) == is_string)
                                        continue;
                                v = value_for_schema(doc, alt, text);
                                if (v)
                                        return v;
                        }
                }
                return NULL;
        }
        if (json_object_get(schema, "enum") || json_object_get(schema, "const")) {
                json_t *choices = json_object_get(schema, "enum");

                v = json_from_text(text);
                if (!v)
                        v = json_string(text);
                if (json_is_array(choices)) {
                        json_array_foreach(choices, i, alt)
                                if (json_equal(alt, v))
                                        return v;
                        /* An enum of strings: the text itself. */
                        json_decref(v);
                        v = json_string(text);
                        json_array_foreach(choices, i, alt)
                                if (json_equal(alt, v))
                                        return v;
                        json_decref(v);
                        return NULL;
                }
                return v;
        }
        type = json_object_get(schema, "type");
        if (json_is_array(type)) {
                json_array_foreach(type, i, alt) {
                        json_t *one = json_pack("{s:O}", "type", alt);

                        v = one ? value_for_schema(doc, one, text) : NULL;
                        json_decref(one);
                        if (v)
                                return v;
                }
                return NULL;
        }
        if (!json_is_string(type))
                return (v = json_from_text(text)) ? v : json_string(text);
        if (strcmp(json_string_value(type), "string") == 0)
                return json_string(text);
        v = json_from_text(text);
        if (!v)
                return NULL;
        if ((strcmp(json_string_value(type), "integer") == 0 && json_is_integer(v)) ||
            (strcmp(json_string_value(type), "number") == 0 && json_is_number(v)) ||
            (strcmp(json_string_value(type), "boolean") == 0 && json_is_boolean(v)) ||
            (strcmp(json_string_value(type), "null") == 0 && json_is_null(v)) ||
            (strcmp(json_string_value(type), "object") == 0 && json_is_object(v)) ||
            (strcmp(json_string_value(type), "array") == 0 && json_is_array(v)))
                return v;
        json_decref(v);
        return NULL;
}

int netctl_params_from_words(json_t *doc, const char *method, int argc, char *argv[], json_t **ret,
                             char *errbuf, size_t errlen)
{
        json_t *m = netctl_schema_method(doc, method), *params, *obj, *p;
        size_t i;

        if (!m) {
                (void)snprintf(errbuf, errlen, "netd has no method '%s' (netctl methods)", method);
                return -EINVAL;
        }
        params = json_object_get(m, "params");
        obj = json_object();
        if (!obj) {
                (void)snprintf(errbuf, errlen, "out of memory");
                return -EINVAL;
        }
        for (int a = 0; a < argc; a++) {
                const char *eq = strchr(argv[a], '=');
                json_t *schema = NULL, *v;
                char key[128];

                if (!eq || eq == argv[a] || (size_t)(eq - argv[a]) >= sizeof(key)) {
                        (void)snprintf(errbuf, errlen, "expected KEY=VALUE, got '%s'", argv[a]);
                        json_decref(obj);
                        return -EINVAL;
                }
                memcpy(key, argv[a], (size_t)(eq - argv[a]));
                key[eq - argv[a]] = '\0';
                json_array_foreach(params, i, p)
                        if (strcmp(json_string_value(json_object_get(p, "name")) ?: "", key) == 0)
                                schema = json_object_get(p, "schema");
                if (!schema) {
                        size_t n = (size_t)snprintf(errbuf, errlen, "%s has no parameter '%s';",
                                                    method, key);

                        json_array_foreach(params, i, p)
                                if (n < errlen)
                                        n += (size_t)snprintf(
                                                errbuf + n, errlen - n, " %s",
                                                json_string_value(json_object_get(p, "name")));
                        if (json_array_size(params) == 0 && n < errlen)
                                (void)snprintf(errbuf + n, errlen - n, " it takes none");
                        json_decref(obj);
                        return -EINVAL;
                }
                v = value_for_schema(doc, schema, eq + 1);
                if (!v) {
                        char *s = json_dumps(schema, JSON_COMPACT);

                        (void)snprintf(errbuf, errlen, "%s: '%s' does not fit %s", key, eq + 1,
                                       s ? s : "its schema");
                        free(s);
                        json_decref(obj);
                        return -EINVAL;
                }
                json_object_set_new(obj, key, v);
        }
        *ret = obj;
        return 0;
}
