/*
 * The tests' JSON Schema validator (see schema-check.h). Recursive descent
 * over the schema; the current JSON path lives in one buffer that grows and
 * shrinks with the recursion. anyOf/oneOf try their branches with the error
 * output redirected to a scratch buffer, so only the first real mismatch is
 * reported.
 */
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "schema-check.h"

/* $ref chains and nesting deeper than this are taken for a cycle. */
#define SCHEMA_DEPTH_MAX 64
#define SCHEMA_PATH_MAX  512

struct schema_ctx {
        json_t *root; /* borrowed: $ref target */
        char *err;    /* borrowed: where the first failure goes */
        size_t errlen;
        char path[SCHEMA_PATH_MAX]; /* "$", "$.a[3].b", ... */
        size_t pathlen;
        unsigned depth;
};

static const char *const keywords[] = {
        "type",    "properties", "required", "additionalProperties",
        "items",   "enum",       "const",    "minimum",
        "maximum", "minLength",  "pattern",  "oneOf",
        "anyOf",   "allOf",      "$ref",
};

static const char *const annotations[] = {
        "description", "title", "default", "examples", "$comment",
};

static const char *const combinators[] = { "allOf", "anyOf", "oneOf" };

static bool keyword_is_known(const char *key)
{
        for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
                if (strcmp(key, keywords[i]) == 0)
                        return true;
        for (size_t i = 0; i < sizeof(annotations) / sizeof(annotations[0]); i++)
                if (strcmp(key, annotations[i]) == 0)
                        return true;
        return false;
}

static int schema_fail(struct schema_ctx *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int schema_fail(struct schema_ctx *c, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (c->errlen == 0)
                return -EINVAL;
        n = snprintf(c->err, c->errlen, "%s: ", c->path);
        if (n >= 0 && (size_t)n < c->errlen) {
                va_start(ap, fmt);
                (void)vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

/* Appends ".key" (or ["key"] when key is not a plain name) to the path; returns the old length. */
static size_t path_push_key(struct schema_ctx *c, const char *key)
{
        size_t old = c->pathlen;
        bool plain = key[0] != '\0';
        int n;

        for (const char *p = key; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '_' || *p == '$'))
                        plain = false;
        n = snprintf(c->path + old, sizeof(c->path) - old, plain ? ".%s" : "[\"%s\"]", key);
        if (n > 0)
                c->pathlen =
                        old + (size_t)n < sizeof(c->path) ? old + (size_t)n : sizeof(c->path) - 1;
        return old;
}

static size_t path_push_index(struct schema_ctx *c, size_t i)
{
        size_t old = c->pathlen;
        int n = snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", i);

        if (n > 0)
                c->pathlen =
                        old + (size_t)n < sizeof(c->path) ? old + (size_t)n : sizeof(c->path) - 1;
        return old;
}

static void path_pop(struct schema_ctx *c, size_t old)
{
        c->pathlen = old;
        c->path[old] = '\0';
}

static const char *json_kind(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
                return "integer";
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        case JSON_NULL:
                return "null";
        }
        return "?";
}

/* 1 when v is of the named type, 0 when not, -1 for an unknown name. */
static int type_matches(const char *name, const json_t *v)
{
        if (strcmp(name, "null") == 0)
                return json_is_null(v);
        if (strcmp(name, "boolean") == 0)
                return json_is_boolean(v);
        if (strcmp(name, "object") == 0)
                return json_is_object(v);
        if (strcmp(name, "array") == 0)
                return json_is_array(v);
        if (strcmp(name, "string") == 0)
                return json_is_string(v);
        if (strcmp(name, "integer") == 0)
                return json_is_integer(v);
        if (strcmp(name, "number") == 0)
                return json_is_number(v);
        return -1;
}

/* Follows a "#/a/b" JSON pointer (RFC 6901 escapes ~0 and ~1) from root; NULL if unresolved. */
static json_t *schema_resolve(json_t *root, const char *ref)
{
        json_t *cur = root;
        const char *p;

        if (!root || strncmp(ref, "#", 1) != 0)
                return NULL;
        p = ref + 1;
        while (*p) {
                char token[256];
                size_t n = 0;

                if (*p != '/')
                        return NULL;
                p++;
                while (*p && *p != '/') {
                        char ch = *p++;

                        if (ch == '~') {
                                if (*p == '0')
                                        ch = '~';
                                else if (*p == '1')
                                        ch = '/';
                                else
                                        return NULL;
                                p++;
                        }
                        if (n + 1 >= sizeof(token))
                                return NULL;
                        token[n++] = ch;
                }
                token[n] = '\0';
                if (json_is_object(cur)) {
                        cur = json_object_get(cur, token);
                } else if (json_is_array(cur)) {
                        char *end;
                        unsigned long i = strtoul(token, &end, 10);

                        cur = *token && !*end ? json_array_get(cur, i) : NULL;
                } else {
                        cur = NULL;
                }
                if (!cur)
                        return NULL;
        }
        return cur;
}

/* -1, 0 or 1 as a < b, for two JSON numbers, exactly when both are integers. */
static int number_cmp(const json_t *a, const json_t *b)
{
        double x, y;

        if (json_is_integer(a) && json_is_integer(b)) {
                json_int_t i = json_integer_value(a), j = json_integer_value(b);

                return i < j ? -1 : i > j;
        }
        x = json_number_value(a);
        y = json_number_value(b);
        return x < y ? -1 : x > y;
}

/* The number of code points in a UTF-8 string of len bytes (jansson only holds valid UTF-8). */
static size_t utf8_length(const char *s, size_t len)
{
        size_t n = 0;

        for (size_t i = 0; i < len; i++)
                if (((unsigned char)s[i] & 0xC0) != 0x80)
                        n++;
        return n;
}

/* A short rendering of v for messages. */
static void json_brief(const json_t *v, char *buf, size_t len)
{
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

        (void)snprintf(buf, len, "%.60s%s", text ? text : "?",
                       text && strlen(text) > 60 ? "..." : "");
        free(text);
}

static int schema_check(struct schema_ctx *c, json_t *schema, json_t *value);

/*
 * Checks value against schema with failures written to scratch instead of
 * c->err. Returns 0 or -EINVAL.
 */
static int schema_try(struct schema_ctx *c, json_t *schema, json_t *value, char *scratch,
                      size_t len)
{
        char *err = c->err;
        size_t errlen = c->errlen, pathlen = c->pathlen;
        int r;

        c->err = scratch;
        c->errlen = len;
        scratch[0] = '\0';
        r = schema_check(c, schema, value);
        c->err = err;
        c->errlen = errlen;
        path_pop(c, pathlen);
        return r;
}

static int check_type(struct schema_ctx *c, json_t *type, json_t *value)
{
        char names[128] = "";
        size_t i;
        json_t *t;
        int m;

        if (json_is_string(type)) {
                m = type_matches(json_string_value(type), value);
                if (m < 0)
                        return schema_fail(c, "schema: unknown type \"%s\"",
                                           json_string_value(type));
                if (!m)
                        return schema_fail(c, "expected %s, got %s", json_string_value(type),
                                           json_kind(value));
                return 0;
        }
        if (!json_is_array(type))
                return schema_fail(c, "schema: \"type\" must be a string or an array");
        json_array_foreach(type, i, t) {
                if (!json_is_string(t) || (m = type_matches(json_string_value(t), value)) < 0)
                        return schema_fail(c, "schema: bad entry in \"type\"");
                if (m)
                        return 0;
                (void)snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                               i ? " or " : "", json_string_value(t));
        }
        return schema_fail(c, "expected %s, got %s", names, json_kind(value));
}

static int check_object(struct schema_ctx *c, json_t *schema, json_t *value)
{
        json_t *props = json_object_get(schema, "properties");
        json_t *req = json_object_get(schema, "required");
        json_t *addl = json_object_get(schema, "additionalProperties");
        const char *key;
        json_t *v, *sub;
        size_t i, old;
        int r;

        if (req) {
                if (!json_is_array(req))
                        return schema_fail(c, "schema: \"required\" must be an array");
                json_array_foreach(req, i, v) {
                        if (!json_is_string(v))
                                return schema_fail(c, "schema: \"required\" holds a non-string");
                        if (!json_object_get(value, json_string_value(v)))
                                return schema_fail(c, "missing required member \"%s\"",
                                                   json_string_value(v));
                }
        }
        if (props && !json_is_object(props))
                return schema_fail(c, "schema: \"properties\" must be an object");
        if (addl && !json_is_boolean(addl) && !json_is_object(addl))
                return schema_fail(c, "schema: \"additionalProperties\" must be a boolean or "
                                      "a schema");
        json_object_foreach(value, key, v) {
                sub = props ? json_object_get(props, key) : NULL;
                if (!sub && (!addl || json_is_true(addl)))
                        continue;
                old = path_push_key(c, key);
                if (sub)
                        r = schema_check(c, sub, v);
                else if (json_is_false(addl))
                        r = schema_fail(c, "member not allowed (additionalProperties)");
                else
                        r = schema_check(c, addl, v);
                if (r < 0)
                        return r;
                path_pop(c, old);
        }
        return 0;
}

static int check_string(struct schema_ctx *c, json_t *schema, json_t *value)
{
        json_t *min_len = json_object_get(schema, "minLength");
        json_t *pattern = json_object_get(schema, "pattern");

        if (min_len) {
                if (!json_is_integer(min_len) || json_integer_value(min_len) < 0)
                        return schema_fail(c, "schema: \"minLength\" must be a non-negative "
                                              "integer");
                if (utf8_length(json_string_value(value), json_string_length(value)) <
                    (size_t)json_integer_value(min_len))
                        return schema_fail(c, "string shorter than %lld",
                                           (long long)json_integer_value(min_len));
        }
        if (pattern) {
                regex_t re;
                int m;

                if (!json_is_string(pattern) ||
                    regcomp(&re, json_string_value(pattern), REG_EXTENDED | REG_NOSUB) != 0)
                        return schema_fail(c, "schema: bad \"pattern\"");
                m = regexec(&re, json_string_value(value), 0, NULL, 0);
                regfree(&re);
                if (m != 0)
                        return schema_fail(c, "string does not match /%s/",
                                           json_string_value(pattern));
        }
        return 0;
}

static int check_number(struct schema_ctx *c, json_t *schema, json_t *value)
{
        json_t *min = json_object_get(schema, "minimum");
        json_t *max = json_object_get(schema, "maximum");
        char a[80], b[80];

        if ((min && !json_is_number(min)) || (max && !json_is_number(max)))
                return schema_fail(c, "schema: \"minimum\" and \"maximum\" must be numbers");
        if (min && number_cmp(value, min) < 0) {
                json_brief(value, a, sizeof(a));
                json_brief(min, b, sizeof(b));
                return schema_fail(c, "%s is below the minimum %s", a, b);
        }
        if (max && number_cmp(value, max) > 0) {
                json_brief(value, a, sizeof(a));
                json_brief(max, b, sizeof(b));
                return schema_fail(c, "%s is above the maximum %s", a, b);
        }
        return 0;
}

static int check_combinator(struct schema_ctx *c, const char *kw, json_t *list, json_t *value)
{
        char scratch[512], first[512] = "";
        size_t i, matched = 0;
        json_t *sub;

        if (!json_is_array(list) || json_array_size(list) == 0)
                return schema_fail(c, "schema: \"%s\" must be a non-empty array", kw);
        json_array_foreach(list, i, sub) {
                if (strcmp(kw, "allOf") == 0) {
                        int r = schema_check(c, sub, value);

                        if (r < 0)
                                return r;
                        continue;
                }
                if (schema_try(c, sub, value, scratch, sizeof(scratch)) == 0) {
                        matched++;
                        if (strcmp(kw, "anyOf") == 0)
                                return 0;
                } else if (!first[0]) {
                        (void)snprintf(first, sizeof(first), "%s", scratch);
                }
        }
        if (strcmp(kw, "allOf") == 0 || matched == 1)
                return 0;
        if (matched > 1)
                return schema_fail(c, "matches %zu of the oneOf schemas, not exactly one", matched);
        return schema_fail(c, "matches none of the %zu %s schemas (first: %s)",
                           json_array_size(list), kw, first);
}

static int schema_check(struct schema_ctx *c, json_t *schema, json_t *value)
{
        const char *key;
        json_t *kw, *v;
        size_t i;
        int r;

        if (json_is_true(schema))
                return 0;
        if (json_is_false(schema))
                return schema_fail(c, "no value is allowed here (schema false)");
        if (!json_is_object(schema))
                return schema_fail(c, "schema: not an object or a boolean");
        if (++c->depth > SCHEMA_DEPTH_MAX) {
                c->depth--;
                return schema_fail(c, "schema: nested too deep ($ref cycle?)");
        }
        r = 0;
        json_object_foreach(schema, key, kw) {
                if (!keyword_is_known(key)) {
                        r = schema_fail(c, "schema: unsupported keyword \"%s\"", key);
                        goto out;
                }
        }
        kw = json_object_get(schema, "$ref");
        if (kw) {
                json_t *target =
                        json_is_string(kw) ? schema_resolve(c->root, json_string_value(kw)) : NULL;

                if (!target) {
                        r = schema_fail(c, "schema: unresolved $ref");
                        goto out;
                }
                r = schema_check(c, target, value);
                if (r < 0)
                        goto out;
        }
        kw = json_object_get(schema, "type");
        if (kw && (r = check_type(c, kw, value)) < 0)
                goto out;
        kw = json_object_get(schema, "const");
        if (kw && !json_equal(kw, value)) {
                char a[80], b[80];

                json_brief(value, a, sizeof(a));
                json_brief(kw, b, sizeof(b));
                r = schema_fail(c, "%s is not the constant %s", a, b);
                goto out;
        }
        kw = json_object_get(schema, "enum");
        if (kw) {
                bool found = false;
                char a[80];

                if (!json_is_array(kw)) {
                        r = schema_fail(c, "schema: \"enum\" must be an array");
                        goto out;
                }
                json_array_foreach(kw, i, v)
                        found = found || json_equal(v, value);
                if (!found) {
                        json_brief(value, a, sizeof(a));
                        r = schema_fail(c, "%s is not one of the enum values", a);
                        goto out;
                }
        }
        if (json_is_number(value) && (r = check_number(c, schema, value)) < 0)
                goto out;
        if (json_is_string(value) && (r = check_string(c, schema, value)) < 0)
                goto out;
        if (json_is_object(value) && (r = check_object(c, schema, value)) < 0)
                goto out;
        kw = json_object_get(schema, "items");
        if (kw && json_is_array(value)) {
                json_array_foreach(value, i, v) {
                        size_t old = path_push_index(c, i);

                        r = schema_check(c, kw, v);
                        if (r < 0)
                                goto out;
                        path_pop(c, old);
                }
        }
        for (i = 0; i < sizeof(combinators) / sizeof(combinators[0]); i++) {
                kw = json_object_get(schema, combinators[i]);
                if (kw && (r = check_combinator(c, combinators[i], kw, value)) < 0)
                        goto out;
        }
out:
        c->depth--;
        return r;
}

int netd_schema_check(json_t *root, json_t *schema, json_t *value, char *err, size_t errlen)
{
        struct schema_ctx c = {
                .root = root, .err = err, .errlen = errlen, .path = "$", .pathlen = 1
        };

        if (errlen > 0)
                err[0] = '\0';
        if (!schema || !value) {
                (void)snprintf(err, errlen, "$: no %s", !schema ? "schema" : "value");
                return -EINVAL;
        }
        return schema_check(&c, schema, value);
}

static int lint(struct schema_ctx *c, json_t *schema);

static int lint_list(struct schema_ctx *c, const char *kw, json_t *list)
{
        size_t i;
        json_t *sub;

        if (!json_is_array(list) || json_array_size(list) == 0)
                return schema_fail(c, "\"%s\" must be a non-empty array", kw);
        json_array_foreach(list, i, sub) {
                size_t old = path_push_key(c, kw);
                int r;

                (void)path_push_index(c, i);
                r = lint(c, sub);
                if (r < 0)
                        return r;
                path_pop(c, old);
        }
        return 0;
}

static int lint(struct schema_ctx *c, json_t *schema)
{
        const char *key;
        json_t *kw, *v;
        size_t i;
        int r;

        if (json_is_boolean(schema))
                return 0;
        if (!json_is_object(schema))
                return schema_fail(c, "a schema must be an object or a boolean");
        json_object_foreach(schema, key, kw) {
                if (!keyword_is_known(key))
                        return schema_fail(c, "unsupported keyword \"%s\"", key);
        }
        kw = json_object_get(schema, "$ref");
        if (kw && (!json_is_string(kw) || !schema_resolve(c->root, json_string_value(kw))))
                return schema_fail(c, "unresolved $ref %s",
                                   json_is_string(kw) ? json_string_value(kw) : "(not a string)");
        kw = json_object_get(schema, "type");
        if (kw) {
                if (json_is_string(kw) && type_matches(json_string_value(kw), kw) < 0)
                        return schema_fail(c, "unknown type \"%s\"", json_string_value(kw));
                if (json_is_array(kw)) {
                        if (json_array_size(kw) == 0)
                                return schema_fail(c, "empty \"type\" array");
                        json_array_foreach(kw, i, v)
                                if (!json_is_string(v) || type_matches(json_string_value(v), v) < 0)
                                        return schema_fail(c, "bad entry in \"type\"");
                } else if (!json_is_string(kw)) {
                        return schema_fail(c, "\"type\" must be a string or an array");
                }
        }
        kw = json_object_get(schema, "required");
        if (kw) {
                if (!json_is_array(kw))
                        return schema_fail(c, "\"required\" must be an array");
                json_array_foreach(kw, i, v)
                        if (!json_is_string(v))
                                return schema_fail(c, "\"required\" holds a non-string");
        }
        kw = json_object_get(schema, "enum");
        if (kw && (!json_is_array(kw) || json_array_size(kw) == 0))
                return schema_fail(c, "\"enum\" must be a non-empty array");
        kw = json_object_get(schema, "minimum");
        if (kw && !json_is_number(kw))
                return schema_fail(c, "\"minimum\" must be a number");
        kw = json_object_get(schema, "maximum");
        if (kw && !json_is_number(kw))
                return schema_fail(c, "\"maximum\" must be a number");
        kw = json_object_get(schema, "minLength");
        if (kw && (!json_is_integer(kw) || json_integer_value(kw) < 0))
                return schema_fail(c, "\"minLength\" must be a non-negative integer");
        kw = json_object_get(schema, "pattern");
        if (kw) {
                regex_t re;

                if (!json_is_string(kw) ||
                    regcomp(&re, json_string_value(kw), REG_EXTENDED | REG_NOSUB) != 0)
                        return schema_fail(c, "bad \"pattern\"");
                regfree(&re);
        }
        kw = json_object_get(schema, "properties");
        if (kw) {
                if (!json_is_object(kw))
                        return schema_fail(c, "\"properties\" must be an object");
                json_object_foreach(kw, key, v) {
                        size_t old = path_push_key(c, "properties");

                        (void)path_push_key(c, key);
                        r = lint(c, v);
                        if (r < 0)
                                return r;
                        path_pop(c, old);
                }
        }
        kw = json_object_get(schema, "additionalProperties");
        if (kw) {
                size_t old = path_push_key(c, "additionalProperties");

                r = lint(c, kw);
                if (r < 0)
                        return r;
                path_pop(c, old);
        }
        kw = json_object_get(schema, "items");
        if (kw) {
                size_t old = path_push_key(c, "items");

                r = lint(c, kw);
                if (r < 0)
                        return r;
                path_pop(c, old);
        }
        for (i = 0; i < sizeof(combinators) / sizeof(combinators[0]); i++) {
                kw = json_object_get(schema, combinators[i]);
                if (kw && (r = lint_list(c, combinators[i], kw)) < 0)
                        return r;
        }
        return 0;
}

int netd_schema_lint(json_t *root, json_t *schema, char *err, size_t errlen)
{
        struct schema_ctx c = {
                .root = root, .err = err, .errlen = errlen, .path = "#", .pathlen = 1
        };

        if (errlen > 0)
                err[0] = '\0';
        if (!schema) {
                (void)snprintf(err, errlen, "#: no schema");
                return -EINVAL;
        }
        return lint(&c, schema);
}

/* The entry of array list (an array of objects) whose "name" is name, or NULL. */
static json_t *find_named(json_t *list, const char *name)
{
        size_t i;
        json_t *m;

        json_array_foreach(list, i, m) {
                const char *n = json_string_value(json_object_get(m, "name"));

                if (n && strcmp(n, name) == 0)
                        return m;
        }
        return NULL;
}

json_t *netd_schema_method(json_t *doc, const char *name)
{
        return find_named(json_object_get(doc, "methods"), name);
}

json_t *netd_schema_notification(json_t *doc, const char *name)
{
        return find_named(json_object_get(doc, "x-notifications"), name);
}

int netd_schema_check_params(json_t *doc, json_t *m, json_t *params, char *err, size_t errlen)
{
        json_t *list = json_object_get(m, "params");
        json_t *schema, *props, *req, *p, *empty = NULL;
        size_t i;
        int r;

        if (!json_is_array(list)) {
                (void)snprintf(err, errlen, "$: %s has no \"params\" list",
                               json_string_value(json_object_get(m, "name")));
                return -EINVAL;
        }
        props = json_object();
        req = json_array();
        schema = json_pack("{s:s,s:o,s:o,s:b}", "type", "object", "properties", props, "required",
                           req, "additionalProperties", 0);
        if (!schema) {
                (void)snprintf(err, errlen, "$: out of memory");
                return -ENOMEM;
        }
        json_array_foreach(list, i, p) {
                const char *name = json_string_value(json_object_get(p, "name"));
                json_t *sub = json_object_get(p, "schema");

                if (!name || !sub) {
                        json_decref(schema);
                        (void)snprintf(err, errlen, "$: params[%zu] lacks a name or a schema", i);
                        return -EINVAL;
                }
                json_object_set(props, name, sub);
                if (json_is_true(json_object_get(p, "required")))
                        json_array_append_new(req, json_string(name));
        }
        if (!params)
                params = empty = json_object();
        r = netd_schema_check(doc, schema, params, err, errlen);
        json_decref(empty);
        json_decref(schema);
        return r;
}

int netd_schema_check_result(json_t *doc, json_t *m, json_t *result, char *err, size_t errlen)
{
        json_t *schema = json_object_get(json_object_get(m, "result"), "schema");

        if (!schema) {
                (void)snprintf(err, errlen, "$: %s has no result schema",
                               json_string_value(json_object_get(m, "name")));
                return -EINVAL;
        }
        return netd_schema_check(doc, schema, result, err, errlen);
}

int netd_schema_check_error(json_t *doc, json_t *m, json_t *error, char *err, size_t errlen)
{
        json_t *schema = schema_resolve(doc, "#/components/schemas/Error");
        json_t *data_code, *e;
        json_int_t code;
        size_t i;
        int r;

        if (!schema) {
                (void)snprintf(err, errlen, "$: the document has no components.schemas.Error");
                return -EINVAL;
        }
        r = netd_schema_check(doc, schema, error, err, errlen);
        if (r < 0 || !m)
                return r;
        code = json_integer_value(json_object_get(error, "code"));
        if (code == -32700 || code == -32600 || code == -32601)
                return 0;
        data_code = json_object_get(json_object_get(error, "data"), "code");
        json_array_foreach(json_object_get(m, "errors"), i, e) {
                json_t *listed = json_object_get(json_object_get(e, "data"), "code");

                if (json_integer_value(json_object_get(e, "code")) != code)
                        continue;
                if ((!listed && !data_code) ||
                    (listed && data_code && json_equal(listed, data_code)))
                        return 0;
        }
        (void)snprintf(err, errlen, "$: error %lld with data.code %s is not among %s's errors",
                       (long long)code, data_code ? json_string_value(data_code) : "(none)",
                       json_string_value(json_object_get(m, "name")));
        return -EINVAL;
}
