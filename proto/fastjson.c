/*
 * The small-request reader (see fastjson.h): recursive descent over the
 * subset scan.h reads, building jansson values directly. Each object is
 * checked for a repeated member name before the member is added, as
 * JSON_REJECT_DUPLICATES would; anything outside the subset unwinds and
 * returns NULL.
 */
#include "fastjson.h"
#include "scan.h"

static void skip_space(struct cursor *c)
{
        while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
                c->p++;
}

static json_t *parse_value(struct cursor *c, int depth);

/* Member names remembered per object for the duplicate check; past this, jansson's lookup. */
#define NAMES_KEPT 16

/* True when key is already a member: compares with the names seen, no hashing. */
static bool is_duplicate(json_t *obj, const char *const *names, const size_t *lens, size_t count,
                         const char *key, size_t key_len)
{
        if (count > NAMES_KEPT)
                return json_object_getn(obj, key, key_len) != NULL;
        for (size_t i = 0; i < count; i++)
                if (lens[i] == key_len && memcmp(names[i], key, key_len) == 0)
                        return true;
        return false;
}

static json_t *parse_object(struct cursor *c, int depth)
{
        const char *names[NAMES_KEPT];
        size_t lens[NAMES_KEPT], count = 0;
        json_t *obj = json_object();

        if (!obj)
                return NULL;
        c->p++; /* '{' */
        skip_space(c);
        if (TAKE(c, "}"))
                return obj;
        for (;;) {
                const char *key;
                size_t key_len;
                json_t *v;

                if (!take_plain_string(c, &key, &key_len))
                        break;
                skip_space(c);
                if (!TAKE(c, ":"))
                        break;
                skip_space(c);
                if (is_duplicate(obj, names, lens, count, key, key_len))
                        break; /* jansson: "duplicate object key" */
                if (count < NAMES_KEPT) {
                        names[count] = key;
                        lens[count] = key_len;
                }
                count++;
                v = parse_value(c, depth);
                /* The value is stolen even when setting fails. */
                if (!v || json_object_setn_new_nocheck(obj, key, key_len, v) < 0)
                        break;
                skip_space(c);
                if (TAKE(c, "}"))
                        return obj;
                if (!TAKE(c, ","))
                        break;
                skip_space(c);
        }
        json_decref(obj);
        return NULL;
}

static json_t *parse_array(struct cursor *c, int depth)
{
        json_t *arr = json_array();

        if (!arr)
                return NULL;
        c->p++; /* '[' */
        skip_space(c);
        if (TAKE(c, "]"))
                return arr;
        for (;;) {
                json_t *v = parse_value(c, depth);

                if (!v || json_array_append_new(arr, v) < 0)
                        break;
                skip_space(c);
                if (TAKE(c, "]"))
                        return arr;
                if (!TAKE(c, ","))
                        break;
                skip_space(c);
        }
        json_decref(arr);
        return NULL;
}

/* One value at c->p (no white space before it). */
static json_t *parse_value(struct cursor *c, int depth)
{
        const char *s;
        size_t n;
        int64_t i;

        if (c->p >= c->end)
                return NULL;
        switch (*c->p) {
        case '{':
                return depth < NETD_FASTJSON_MAX_DEPTH ? parse_object(c, depth + 1) : NULL;
        case '[':
                return depth < NETD_FASTJSON_MAX_DEPTH ? parse_array(c, depth + 1) : NULL;
        case '"':
                return take_plain_string(c, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
        case 't':
                return TAKE(c, "true") ? json_true() : NULL;
        case 'f':
                return TAKE(c, "false") ? json_false() : NULL;
        case 'n':
                return TAKE(c, "null") ? json_null() : NULL;
        default:
                /* A literal or number running into more letters fails at the next token. */
                return take_int(c, &i) ? json_integer((json_int_t)i) : NULL;
        }
}

json_t *netd_fastjson_parse(const char *s, size_t len)
{
        struct cursor c = { s, s + len };
        json_t *v;

        skip_space(&c);
        v = parse_value(&c, 0);
        if (!v)
                return NULL;
        skip_space(&c);
        if (c.p != c.end) {
                json_decref(v);
                return NULL;
        }
        return v;
}
