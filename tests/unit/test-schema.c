/*
 * unit/schema: proto/netd.openrpc.json describes exactly the daemon's method
 * table (plus rpc.discover) and every event, in a form the tests' validator
 * understands (every schema linted, every $ref resolved, every error code a
 * name the code can produce), and the validator itself (helpers/schema-check.c)
 * accepts and rejects what JSON Schema says for each keyword it supports.
 */
#include <errno.h>
#include <netdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "dispatch.h"
#include "encoding.h"
#include "errors.h"
#include "schema-check.h"

static json_t *doc; /* the document, loaded once for the group */

static const char *const events[] = {
        "server.listening", "server.connection", "server.error", "server.close", "server.drop",
        "socket.lookup",    "socket.connect",    "socket.ready", "socket.data",  "socket.drain",
        "socket.error",     "socket.timeout",    "socket.end",   "socket.close",
};

/* The daemon's own notifications (about no handle). */
static const char *const daemon_events[] = { "netd.detached" };

static int group_setup(void **state)
{
        json_error_t jerr;

        doc = json_load_file(NETD_OPENRPC_PATH, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
                fprintf(stderr, "%s:%d: %s\n", NETD_OPENRPC_PATH, jerr.line, jerr.text);
                return -1;
        }
        return 0;
}

static int group_teardown(void **state)
{
        json_decref(doc);
        return 0;
}

/* Parses JSON text for a test; fails the test on a syntax error. */
static json_t *J(const char *text)
{
        json_error_t jerr;
        json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

        if (!v)
                fail_msg("bad test JSON %s: %s", text, jerr.text);
        return v;
}

/* Checks value against schema (both JSON text) with root (may be NULL); returns the result. */
static int check_text(json_t *root, const char *schema, const char *value, char *err, size_t len)
{
        json_t *s = J(schema), *v = J(value);
        int r = netd_schema_check(root, s, v, err, len);

        json_decref(s);
        json_decref(v);
        return r;
}

#define assert_match(schema, value)                                                  \
        do {                                                                         \
                char err_[512];                                                      \
                if (check_text(NULL, (schema), (value), err_, sizeof(err_)) != 0)    \
                        fail_msg("%s should match %s: %s", (value), (schema), err_); \
        } while (0)

#define assert_mismatch(schema, value, needle)                                          \
        do {                                                                            \
                char err_[512];                                                         \
                if (check_text(NULL, (schema), (value), err_, sizeof(err_)) != -EINVAL) \
                        fail_msg("%s should not match %s", (value), (schema));          \
                if (!strstr(err_, (needle)))                                            \
                        fail_msg("message \"%s\" lacks \"%s\"", err_, (needle));        \
        } while (0)

/* ---- The document against the code -------------------------------------------------------- */

static void test_document_header(void **state)
{
        json_t *info = json_object_get(doc, "info");
        json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
        static const char *const shared[] = { "Address", "Error", "HandleId", "Encoding" };

        assert_string_equal(json_string_value(json_object_get(doc, "openrpc")), "1.3.2");
        assert_string_equal(json_string_value(json_object_get(info, "title")), "netd");
        assert_string_equal(json_string_value(json_object_get(info, "version")), NETD_VERSION);
        assert_true(json_string_length(json_object_get(info, "description")) > 0);
        assert_true(json_is_array(json_object_get(doc, "methods")));
        assert_true(json_is_array(json_object_get(doc, "x-notifications")));
        for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
                if (!json_is_object(json_object_get(schemas, shared[i])))
                        fail_msg("components.schemas.%s is missing", shared[i]);
}

static bool in_table(const char *name)
{
        for (size_t i = 0; i < netd_methods_count; i++)
                if (strcmp(netd_methods[i].name, name) == 0)
                        return true;
        return false;
}

/* The methods are exactly the dispatch table plus rpc.discover (once, wherever it is). */
static void test_methods_match_dispatch_table(void **state)
{
        char missing[2048] = "", extra[2048] = "";
        json_t *methods = json_object_get(doc, "methods"), *m;
        size_t i;

        for (i = 0; i < netd_methods_count; i++)
                if (!netd_schema_method(doc, netd_methods[i].name))
                        (void)snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
                                       " %s", netd_methods[i].name);
        if (!in_table("rpc.discover") && !netd_schema_method(doc, "rpc.discover"))
                (void)snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
                               " rpc.discover");
        json_array_foreach(methods, i, m) {
                const char *name = json_string_value(json_object_get(m, "name"));

                if (!name || (!in_table(name) && strcmp(name, "rpc.discover") != 0))
                        (void)snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), " %s",
                                       name ? name : "(unnamed)");
        }
        if (missing[0] || extra[0])
                fail_msg("methods in the dispatch table but not the document:%s; in the "
                         "document but not the table:%s",
                         missing[0] ? missing : " none", extra[0] ? extra : " none");
        /* No name twice, so the sets being equal means the counts are too. */
        json_array_foreach(methods, i, m) {
                for (size_t j = i + 1; j < json_array_size(methods); j++)
                        if (json_equal(json_object_get(m, "name"),
                                       json_object_get(json_array_get(methods, j), "name")))
                                fail_msg("method %s is listed twice",
                                         json_string_value(json_object_get(m, "name")));
        }
        assert_int_equal(json_array_size(methods),
                         netd_methods_count + (in_table("rpc.discover") ? 0 : 1));
}

/* Every content descriptor is {name, schema, required?, ...}. */
static void assert_params_list(const char *owner, json_t *params)
{
        size_t i;
        json_t *p;

        if (!json_is_array(params))
                fail_msg("%s: \"params\" is not an array", owner);
        json_array_foreach(params, i, p) {
                if (!json_is_string(json_object_get(p, "name")) ||
                    !json_is_object(json_object_get(p, "schema")))
                        fail_msg("%s: params[%zu] lacks a name or a schema", owner, i);
                if (!json_is_boolean(json_object_get(p, "required")))
                        fail_msg("%s: params[%zu] (%s) lacks \"required\"", owner, i,
                                 json_string_value(json_object_get(p, "name")));
        }
}

static bool is_err_name(const char *code)
{
        for (int e = 0; e < _NETD_ERR_MAX; e++)
                if (strcmp(netd_err_to_string(e), code) == 0)
                        return true;
        return false;
}

/* An errno name netd_errno_name() gives, or a resolver code netd_eai_describe() gives. */
static bool is_system_name(const char *code)
{
        static const int eai[] = { EAI_NONAME, EAI_AGAIN,  EAI_FAIL,
                                   EAI_FAMILY, EAI_MEMORY, EAI_CANCELED };
        const char *name;
        int ignored;

        for (int e = 1; e < 200; e++)
                if (strcmp(netd_errno_name(e), code) == 0)
                        return true;
        for (size_t i = 0; i < sizeof(eai) / sizeof(eai[0]); i++) {
                netd_eai_describe(eai[i], &name, &ignored);
                if (strcmp(name, code) == 0)
                        return true;
        }
        return false;
}

static void test_methods_complete(void **state)
{
        json_t *methods = json_object_get(doc, "methods"), *m, *e;
        size_t i, j;

        json_array_foreach(methods, i, m) {
                const char *name = json_string_value(json_object_get(m, "name"));
                json_t *result = json_object_get(m, "result");

                assert_non_null(name);
                if (json_string_length(json_object_get(m, "summary")) == 0)
                        fail_msg("%s has no summary", name);
                if (!json_is_string(json_object_get(m, "paramStructure")) ||
                    strcmp(json_string_value(json_object_get(m, "paramStructure")), "by-name"))
                        fail_msg("%s: paramStructure is not \"by-name\"", name);
                assert_params_list(name, json_object_get(m, "params"));
                if (!json_is_string(json_object_get(result, "name")) ||
                    !json_is_object(json_object_get(result, "schema")))
                        fail_msg("%s: result lacks a name or a schema", name);
                if (!json_is_array(json_object_get(m, "errors")))
                        fail_msg("%s: no \"errors\" list", name);
                json_array_foreach(json_object_get(m, "errors"), j, e) {
                        json_int_t code = json_integer_value(json_object_get(e, "code"));
                        const char *dc = json_string_value(
                                json_object_get(json_object_get(e, "data"), "code"));
                        char err[512];

                        if (!json_is_integer(json_object_get(e, "code")) ||
                            !json_is_string(json_object_get(e, "message")))
                                fail_msg("%s: errors[%zu] lacks a code or a message", name, j);
                        /* The entry is itself a valid error reply of this method. */
                        if (netd_schema_check_error(doc, m, e, err, sizeof(err)) < 0)
                                fail_msg("%s: errors[%zu]: %s", name, j, err);
                        if (!dc)
                                continue;
                        if ((code == -32602 || code == -32001) && !is_err_name(dc))
                                fail_msg("%s: %s is not an ERR_* name of errors.h", name, dc);
                        if (code == -32000 && !is_system_name(dc))
                                fail_msg("%s: %s is not an errno or resolver name", name, dc);
                }
        }
}

static void test_notifications(void **state)
{
        json_t *list = json_object_get(doc, "x-notifications"), *n;
        size_t i;

        for (i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
                const char *handle = strncmp(events[i], "server.", 7) == 0 ? "server" : "socket";
                json_t *p, *params;
                size_t k;
                bool found = false;

                n = netd_schema_notification(doc, events[i]);
                if (!n)
                        fail_msg("x-notifications lacks %s", events[i]);
                if (json_string_length(json_object_get(n, "summary")) == 0)
                        fail_msg("%s has no summary", events[i]);
                params = json_object_get(n, "params");
                assert_params_list(events[i], params);
                json_array_foreach(params, k, p) {
                        if (strcmp(json_string_value(json_object_get(p, "name")), handle) != 0)
                                continue;
                        found = json_is_true(json_object_get(p, "required"));
                        assert_string_equal(json_string_value(json_object_get(
                                                    json_object_get(p, "schema"), "$ref")),
                                            "#/components/schemas/HandleId");
                }
                if (!found)
                        fail_msg("%s: no required \"%s\" param", events[i], handle);
        }
        for (i = 0; i < sizeof(daemon_events) / sizeof(daemon_events[0]); i++) {
                n = netd_schema_notification(doc, daemon_events[i]);
                if (!n)
                        fail_msg("x-notifications lacks %s", daemon_events[i]);
                if (json_string_length(json_object_get(n, "summary")) == 0)
                        fail_msg("%s has no summary", daemon_events[i]);
                assert_params_list(daemon_events[i], json_object_get(n, "params"));
        }
        /* Every one of them, and nothing else. */
        json_array_foreach(list, i, n) {
                const char *name = json_string_value(json_object_get(n, "name"));
                bool known = false;

                for (size_t k = 0; k < sizeof(events) / sizeof(events[0]); k++)
                        known = known || (name && strcmp(name, events[k]) == 0);
                for (size_t k = 0; k < sizeof(daemon_events) / sizeof(daemon_events[0]); k++)
                        known = known || (name && strcmp(name, daemon_events[k]) == 0);
                if (!known)
                        fail_msg("x-notifications[%zu] (%s) is not an event netd emits", i,
                                 name ? name : "unnamed");
        }
        assert_int_equal(json_array_size(list),
                         sizeof(events) / sizeof(events[0]) +
                                 sizeof(daemon_events) / sizeof(daemon_events[0]));
}

static void lint_or_fail(const char *where, json_t *schema)
{
        char err[512];

        if (netd_schema_lint(doc, schema, err, sizeof(err)) < 0)
                fail_msg("%s: %s", where, err);
}

/* Every schema in the document uses only what the validator checks, and every $ref resolves. */
static void test_every_schema_lints(void **state)
{
        json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
        json_t *m, *p, *s;
        const char *key;
        char where[256];
        size_t i, j;

        json_object_foreach(schemas, key, s) {
                (void)snprintf(where, sizeof(where), "components.schemas.%s", key);
                lint_or_fail(where, s);
        }
        json_array_foreach(json_object_get(doc, "methods"), i, m) {
                const char *name = json_string_value(json_object_get(m, "name"));

                json_array_foreach(json_object_get(m, "params"), j, p) {
                        (void)snprintf(where, sizeof(where), "%s params[%zu]", name, j);
                        lint_or_fail(where, json_object_get(p, "schema"));
                }
                (void)snprintf(where, sizeof(where), "%s result", name);
                lint_or_fail(where, json_object_get(json_object_get(m, "result"), "schema"));
        }
        json_array_foreach(json_object_get(doc, "x-notifications"), i, m) {
                const char *name = json_string_value(json_object_get(m, "name"));

                json_array_foreach(json_object_get(m, "params"), j, p) {
                        (void)snprintf(where, sizeof(where), "%s params[%zu]", name, j);
                        lint_or_fail(where, json_object_get(p, "schema"));
                }
        }
}

/* Encoding lists names netd_encoding_from_string() takes, every canonical one among them. */
static void test_encoding_names(void **state)
{
        json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
        json_t *all = json_object_get(json_object_get(schemas, "Encoding"), "enum");
        json_t *canon = json_object_get(json_object_get(schemas, "EncodingName"), "enum");
        static const char *const aliases[] = { "utf-8", "binary", "ucs2", "ucs-2", "utf-16le" };
        size_t i;
        json_t *v;

        assert_true(json_is_array(all));
        json_array_foreach(all, i, v)
                if (netd_encoding_from_string(json_string_value(v)) < 0)
                        fail_msg("Encoding lists \"%s\", which netd rejects", json_string_value(v));
        for (int e = 0; e < _NETD_ENC_MAX; e++) {
                json_t *name = json_string(netd_encoding_to_string(e));
                bool in_all = false, in_canon = false;

                json_array_foreach(all, i, v)
                        in_all = in_all || json_equal(v, name);
                json_array_foreach(canon, i, v)
                        in_canon = in_canon || json_equal(v, name);
                if (!in_all || !in_canon)
                        fail_msg("canonical encoding %s is missing from Encoding or EncodingName",
                                 json_string_value(name));
                json_decref(name);
        }
        assert_int_equal(json_array_size(canon), _NETD_ENC_MAX);
        for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
                bool found = false;
                size_t k;

                json_array_foreach(all, k, v)
                        found = found || strcmp(json_string_value(v), aliases[i]) == 0;
                if (!found)
                        fail_msg("Encoding lacks the alias %s", aliases[i]);
        }
}

/* Shapes the daemon sends, as captured from it, pass; near misses don't. */
static void test_shared_shapes(void **state)
{
        static const struct {
                const char *ref, *value;
                bool ok;
        } cases[] = {
                { "Address", "{\"address\":\"127.0.0.1\",\"family\":\"IPv4\",\"port\":80}", true },
                { "Address", "{\"address\":\"::1\",\"family\":\"IPv6\",\"port\":0}", true },
                { "Address", "{\"address\":\"::1\",\"family\":6,\"port\":0}", false },
                { "Address", "{\"address\":\"::1\",\"family\":\"IPv6\"}", false },
                { "HandleId", "1", true },
                { "HandleId", "0", false },
                { "HandleId", "1.0", false },
                { "Port", "\"8080\"", true },
                { "Port", "65536", false },
                { "Port", "\"80x\"", false },
                { "Encoding", "\"ucs-2\"", true },
                { "Encoding", "\"utf7\"", false },
                { "Error",
                  "{\"code\":-32000,\"message\":\"connect ECONNREFUSED 127.0.0.1:9\","
                  "\"data\":{\"code\":\"ECONNREFUSED\",\"errno\":-111,\"syscall\":\"connect\","
                  "\"address\":\"127.0.0.1\",\"port\":9}}",
                  true },
                { "Error",
                  "{\"code\":-32000,\"message\":\"AggregateError: all connection attempts "
                  "failed\",\"data\":{\"code\":\"ECONNREFUSED\",\"errors\":[{\"message\":\"connect "
                  "ECONNREFUSED 127.0.0.1:1\",\"code\":\"ECONNREFUSED\",\"errno\":-111,"
                  "\"syscall\":\"connect\",\"address\":\"127.0.0.1\",\"port\":1}]}}",
                  true },
                { "Error",
                  "{\"code\":-32000,\"message\":\"getaddrinfo ENOTFOUND x.invalid\",\"data\":{"
                  "\"code\":\"ENOTFOUND\",\"errno\":-3008,\"syscall\":\"getaddrinfo\","
                  "\"hostname\":\"x.invalid\"}}",
                  true },
                { "Error",
                  "{\"code\":-32602,\"message\":\"Invalid params\",\"data\":{\"code\":"
                  "\"ERR_MISSING_ARGS\",\"field\":\"socket\"}}",
                  true },
                { "Error",
                  "{\"code\":-32601,\"message\":\"Method not found\",\"data\":{\"method\":\"x\"}}",
                  true },
                { "Error", "{\"code\":-32700,\"message\":\"Parse error\"}", true },
                /* A positive errno, an ERR_* code under -32000, a -32001 without data.code. */
                { "Error",
                  "{\"code\":-32000,\"message\":\"m\",\"data\":{\"code\":\"EPIPE\",\"errno\":32}}",
                  false },
                { "Error", "{\"code\":-32001,\"message\":\"m\",\"data\":{\"code\":\"EPIPE\"}}",
                  false },
                { "Error", "{\"code\":-32001,\"message\":\"m\",\"data\":{}}", false },
                { "Error", "{\"code\":-32602,\"message\":\"m\",\"data\":{\"field\":\"params\"}}",
                  false },
                { "Error", "{\"code\":-32000,\"message\":\"m\"}", false },
                /* socket.destroy with an error that has no code: data {} and nothing else. */
                { "Error", "{\"code\":-32000,\"message\":\"m\",\"data\":{}}", true },
                { "Error", "{\"code\":-32000,\"message\":\"m\",\"data\":{\"errno\":-1}}", false },
                { "Error", "{\"code\":1,\"message\":\"m\"}", false },
        };
        char ref[128], err[512];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *schema, *value = J(cases[i].value);
                int r;

                (void)snprintf(ref, sizeof(ref), "{\"$ref\":\"#/components/schemas/%s\"}",
                               cases[i].ref);
                schema = J(ref);
                r = netd_schema_check(doc, schema, value, err, sizeof(err));
                if (cases[i].ok && r != 0)
                        fail_msg("%s should be a valid %s: %s", cases[i].value, cases[i].ref, err);
                if (!cases[i].ok && r == 0)
                        fail_msg("%s should not be a valid %s", cases[i].value, cases[i].ref);
                json_decref(schema);
                json_decref(value);
        }
}

/* check_params builds the object schema from a params list. */
static void test_check_params(void **state)
{
        json_t *m = netd_schema_method(doc, "socket.write");
        json_t *ev = netd_schema_notification(doc, "socket.close");
        json_t *v;
        char err[512];

        assert_non_null(m);
        assert_non_null(ev);
        assert_null(netd_schema_method(doc, "socket.nope"));
        assert_null(netd_schema_notification(doc, "socket.write"));

        v = J("{\"socket\":3,\"data\":\"aGk=\",\"encoding\":\"base64\"}");
        assert_int_equal(netd_schema_check_params(doc, m, v, err, sizeof(err)), 0);
        json_decref(v);
        v = J("{\"socket\":3}");
        assert_int_equal(netd_schema_check_params(doc, m, v, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "\"data\""));
        json_decref(v);
        v = J("{\"socket\":3,\"data\":\"\",\"bogus\":1}");
        assert_int_equal(netd_schema_check_params(doc, m, v, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "$.bogus"));
        json_decref(v);
        v = J("{\"socket\":0,\"data\":\"\"}");
        assert_int_equal(netd_schema_check_params(doc, m, v, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "$.socket"));
        json_decref(v);
        assert_int_equal(netd_schema_check_params(doc, m, NULL, err, sizeof(err)), -EINVAL);
        assert_int_equal(netd_schema_check_params(doc, netd_schema_method(doc, "netd.sync"), NULL,
                                                  err, sizeof(err)),
                         0);

        v = J("{\"socket\":9,\"hadError\":false}");
        assert_int_equal(netd_schema_check_params(doc, ev, v, err, sizeof(err)), 0);
        json_decref(v);
        v = J("{\"socket\":9,\"hadError\":null}");
        assert_int_equal(netd_schema_check_params(doc, ev, v, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "$.hadError"));
        json_decref(v);

        v = J("{\"code\":-32001,\"message\":\"m\",\"data\":{\"code\":\"ERR_STREAM_DESTROYED\"}}");
        assert_int_equal(netd_schema_check_error(doc, m, v, err, sizeof(err)), 0);
        json_decref(v);
        v = J("{\"code\":-32001,\"message\":\"m\",\"data\":{\"code\":\"ERR_SERVER_NOT_RUNNING\"}}");
        assert_int_equal(netd_schema_check_error(doc, m, v, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "ERR_SERVER_NOT_RUNNING"));
        assert_int_equal(netd_schema_check_error(doc, NULL, v, err, sizeof(err)), 0);
        json_decref(v);

        v = J("true");
        assert_int_equal(netd_schema_check_result(doc, m, v, err, sizeof(err)), 0);
        json_decref(v);
        v = J("false");
        assert_int_equal(netd_schema_check_result(doc, m, v, err, sizeof(err)), -EINVAL);
        json_decref(v);
}

/* ---- The validator, keyword by keyword ----------------------------------------------------- */

static void test_keyword_type(void **state)
{
        assert_match("{\"type\":\"string\"}", "\"x\"");
        assert_match("{\"type\":\"integer\"}", "-3");
        assert_match("{\"type\":\"number\"}", "3");
        assert_match("{\"type\":\"number\"}", "3.5");
        assert_match("{\"type\":\"boolean\"}", "false");
        assert_match("{\"type\":\"null\"}", "null");
        assert_match("{\"type\":\"object\"}", "{}");
        assert_match("{\"type\":\"array\"}", "[]");
        assert_match("{\"type\":[\"integer\",\"null\"]}", "null");
        assert_match("{\"type\":[\"integer\",\"null\"]}", "7");
        assert_mismatch("{\"type\":\"integer\"}", "3.0", "expected integer, got number");
        assert_mismatch("{\"type\":\"string\"}", "1", "expected string, got integer");
        assert_mismatch("{\"type\":\"object\"}", "[]", "got array");
        assert_mismatch("{\"type\":\"boolean\"}", "0", "got integer");
        assert_mismatch("{\"type\":[\"integer\",\"null\"]}", "\"1\"",
                        "expected integer or null, got string");
        assert_mismatch("{\"type\":\"int\"}", "1", "unknown type");
}

static void test_keyword_properties_required(void **state)
{
        const char *s =
                "{\"type\":\"object\",\"required\":[\"a\"],"
                "\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}}}";

        assert_match(s, "{\"a\":1}");
        assert_match(s, "{\"a\":1,\"b\":\"x\",\"c\":null}");
        assert_mismatch(s, "{\"b\":\"x\"}", "missing required member \"a\"");
        assert_mismatch(s, "{\"a\":1,\"b\":2}", "$.b: expected string");
        /* properties and required only constrain objects. */
        assert_match("{\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}", "5");
}

static void test_keyword_additional_properties(void **state)
{
        assert_match("{\"properties\":{\"a\":{}},\"additionalProperties\":false}", "{\"a\":1}");
        assert_mismatch("{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
                        "{\"a\":1,\"z\":2}", "$.z: member not allowed");
        assert_match("{\"additionalProperties\":{\"type\":\"integer\"}}", "{\"x\":1,\"y\":2}");
        assert_mismatch("{\"additionalProperties\":{\"type\":\"integer\"}}",
                        "{\"x\":1,\"y\":\"2\"}", "$.y: expected integer");
        assert_match("{\"additionalProperties\":true}", "{\"x\":1}");
        assert_mismatch("{\"properties\":{},\"additionalProperties\":false}", "{\"a b\":1}",
                        "$[\"a b\"]");
}

static void test_keyword_items(void **state)
{
        assert_match("{\"items\":{\"type\":\"string\"}}", "[\"a\",\"b\"]");
        assert_match("{\"items\":{\"type\":\"string\"}}", "[]");
        assert_mismatch("{\"items\":{\"type\":\"string\"}}", "[\"a\",2]", "$[1]: expected string");
        assert_mismatch("{\"properties\":{\"a\":{\"items\":{\"properties\":{\"b\":{\"type\":"
                        "\"integer\"}}}}}}",
                        "{\"a\":[{\"b\":1},{\"b\":true}]}", "$.a[1].b: expected integer");
}

static void test_keyword_enum_const(void **state)
{
        assert_match("{\"enum\":[\"IPv4\",\"IPv6\",null]}", "\"IPv6\"");
        assert_match("{\"enum\":[\"IPv4\",\"IPv6\",null]}", "null");
        assert_mismatch("{\"enum\":[\"IPv4\",\"IPv6\"]}", "\"ipv4\"", "not one of the enum");
        assert_mismatch("{\"enum\":[4,6]}", "4.0", "not one of the enum");
        assert_match("{\"const\":true}", "true");
        assert_match("{\"const\":{\"a\":[1]}}", "{\"a\":[1]}");
        assert_mismatch("{\"const\":true}", "1", "not the constant true");
        assert_mismatch("{\"const\":{\"a\":[1]}}", "{\"a\":[2]}", "not the constant");
}

static void test_keyword_minimum_maximum(void **state)
{
        const char *s = "{\"minimum\":0,\"maximum\":65535}";

        assert_match(s, "0");
        assert_match(s, "65535");
        assert_match(s, "1.5");
        assert_mismatch(s, "-1", "-1 is below the minimum 0");
        assert_mismatch(s, "65536", "above the maximum 65535");
        assert_mismatch(s, "65535.5", "above the maximum");
        assert_mismatch("{\"maximum\":-1}", "0", "above the maximum -1");
        assert_match("{\"minimum\":0.5}", "1");
        assert_mismatch("{\"minimum\":0.5}", "0", "below the minimum");
        /* Exact for integers beyond a double's 53 bits. */
        assert_mismatch("{\"maximum\":9007199254740992}", "9007199254740993", "above");
        /* Only numbers are constrained. */
        assert_match(s, "\"99999\"");
}

static void test_keyword_min_length_pattern(void **state)
{
        assert_match("{\"minLength\":1}", "\"x\"");
        assert_mismatch("{\"minLength\":1}", "\"\"", "shorter than 1");
        /* Code points, not bytes: "é" is one. */
        assert_mismatch("{\"minLength\":2}", "\"\\u00e9\"", "shorter than 2");
        assert_match("{\"minLength\":2}", "\"\\u00e9e\"");
        assert_match("{\"minLength\":1}", "3");
        assert_match("{\"pattern\":\"^[0-9]{1,5}$\"}", "\"8080\"");
        assert_mismatch("{\"pattern\":\"^[0-9]{1,5}$\"}", "\"123456\"", "does not match");
        assert_match("{\"pattern\":\"^ERR_\"}", "\"ERR_X\"");
        assert_mismatch("{\"pattern\":\"^ERR_\"}", "\"EPIPE\"", "does not match /^ERR_/");
        assert_mismatch("{\"pattern\":\"(\"}", "\"x\"", "bad \"pattern\"");
}

static void test_keyword_combinators(void **state)
{
        const char *one = "{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":5}]}";
        const char *any =
                "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\",\"minimum\":5}]}";

        assert_match(one, "2");
        assert_match(one, "5.5");
        assert_mismatch(one, "7", "matches 2 of the oneOf schemas");
        assert_mismatch("{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"null\"}]}", "\"x\"",
                        "matches none of the 2 oneOf schemas (first: $: expected integer");
        assert_match(any, "\"x\"");
        assert_match(any, "9");
        assert_mismatch(any, "2", "matches none of the 2 anyOf");
        assert_match("{\"allOf\":[{\"type\":\"integer\"},{\"minimum\":1}]}", "1");
        assert_mismatch("{\"allOf\":[{\"type\":\"integer\"},{\"minimum\":1}]}", "0", "below");
        assert_mismatch("{\"anyOf\":[]}", "0", "non-empty array");
        /* A failed branch leaves no trace in the path of a later failure. */
        assert_mismatch("{\"properties\":{\"a\":{\"anyOf\":[{\"properties\":{\"b\":{\"type\":"
                        "\"string\"}}},{\"type\":\"array\"}]}}}",
                        "{\"a\":{\"b\":1}}", "$.a: matches none");
}

static void test_keyword_ref(void **state)
{
        json_t *root =
                J("{\"components\":{\"schemas\":{\"Id\":{\"type\":\"integer\",\"minimum\":1},"
                  "\"Pair\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/"
                  "schemas/Id\"}},\"Loop\":{\"$ref\":\"#/components/schemas/Loop\"},"
                  "\"a/b\":{\"const\":1}}}}");
        char err[512];

        assert_int_equal(
                check_text(root, "{\"$ref\":\"#/components/schemas/Id\"}", "3", err, sizeof(err)),
                0);
        assert_int_equal(
                check_text(root, "{\"$ref\":\"#/components/schemas/Id\"}", "0", err, sizeof(err)),
                -EINVAL);
        assert_non_null(strstr(err, "below the minimum 1"));
        assert_int_equal(check_text(root, "{\"$ref\":\"#/components/schemas/Pair\"}", "[1,0]", err,
                                    sizeof(err)),
                         -EINVAL);
        assert_non_null(strstr(err, "$[1]:"));
        /* Siblings of $ref are checked too. */
        assert_int_equal(check_text(root, "{\"$ref\":\"#/components/schemas/Id\",\"maximum\":2}",
                                    "3", err, sizeof(err)),
                         -EINVAL);
        assert_int_equal(
                check_text(root, "{\"$ref\":\"#/components/schemas/a~1b\"}", "1", err, sizeof(err)),
                0);
        assert_int_equal(
                check_text(root, "{\"$ref\":\"#/components/schemas/Nope\"}", "1", err, sizeof(err)),
                -EINVAL);
        assert_non_null(strstr(err, "unresolved $ref"));
        assert_int_equal(
                check_text(NULL, "{\"$ref\":\"#/components/schemas/Id\"}", "1", err, sizeof(err)),
                -EINVAL);
        assert_int_equal(
                check_text(root, "{\"$ref\":\"#/components/schemas/Loop\"}", "1", err, sizeof(err)),
                -EINVAL);
        assert_non_null(strstr(err, "too deep"));
        json_decref(root);
}

static void test_boolean_schemas_and_unknown_keywords(void **state)
{
        char err[8];

        assert_match("true", "{\"anything\":1}");
        assert_mismatch("false", "1", "schema false");
        assert_mismatch("{\"minimun\":1}", "1", "unsupported keyword \"minimun\"");
        assert_match("{\"description\":\"d\",\"title\":\"t\",\"default\":1,\"examples\":[1]}", "1");
        assert_mismatch("3", "1", "not an object or a boolean");
        /* A short buffer truncates the message but keeps the result. */
        assert_int_equal(check_text(NULL, "{\"type\":\"string\"}", "1", err, sizeof(err)), -EINVAL);
        assert_int_equal(strlen(err), sizeof(err) - 1);
        assert_int_equal(check_text(NULL, "{\"type\":\"string\"}", "1", NULL, 0), -EINVAL);
}

static void test_lint(void **state)
{
        json_t *root = J("{\"components\":{\"schemas\":{\"A\":{}}}}");
        static const struct {
                const char *schema;
                const char *needle; /* NULL: lints clean */
        } cases[] = {
                { "{\"type\":[\"string\",\"null\"],\"minLength\":1,\"pattern\":\"^a\"}", NULL },
                { "{\"$ref\":\"#/components/schemas/A\"}", NULL },
                { "{\"oneOf\":[{\"$ref\":\"#/components/schemas/A\"},true]}", NULL },
                { "{\"$ref\":\"#/components/schemas/B\"}", "unresolved $ref" },
                { "{\"properties\":{\"x\":{\"items\":{\"typ\":\"string\"}}}}",
                  "#.properties.x.items: unsupported keyword \"typ\"" },
                { "{\"anyOf\":[{},{\"type\":\"float\"}]}", "#.anyOf[1]: unknown type" },
                { "{\"enum\":[]}", "non-empty" },
                { "{\"minimum\":\"0\"}", "must be a number" },
                { "{\"minLength\":-1}", "non-negative" },
                { "{\"pattern\":\"[\"}", "bad \"pattern\"" },
                { "{\"required\":[1]}", "non-string" },
                { "{\"additionalProperties\":{\"type\":1}}", "#.additionalProperties" },
        };
        char err[512];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *s = J(cases[i].schema);
                int r = netd_schema_lint(root, s, err, sizeof(err));

                if (!cases[i].needle && r != 0)
                        fail_msg("%s should lint clean: %s", cases[i].schema, err);
                if (cases[i].needle && (r != -EINVAL || !strstr(err, cases[i].needle)))
                        fail_msg("%s: \"%s\", expected \"%s\"", cases[i].schema,
                                 r == 0 ? "(clean)" : err, cases[i].needle);
                json_decref(s);
        }
        json_decref(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_document_header),
                cmocka_unit_test(test_methods_match_dispatch_table),
                cmocka_unit_test(test_methods_complete),
                cmocka_unit_test(test_notifications),
                cmocka_unit_test(test_every_schema_lints),
                cmocka_unit_test(test_encoding_names),
                cmocka_unit_test(test_shared_shapes),
                cmocka_unit_test(test_check_params),
                cmocka_unit_test(test_keyword_type),
                cmocka_unit_test(test_keyword_properties_required),
                cmocka_unit_test(test_keyword_additional_properties),
                cmocka_unit_test(test_keyword_items),
                cmocka_unit_test(test_keyword_enum_const),
                cmocka_unit_test(test_keyword_minimum_maximum),
                cmocka_unit_test(test_keyword_min_length_pattern),
                cmocka_unit_test(test_keyword_combinators),
                cmocka_unit_test(test_keyword_ref),
                cmocka_unit_test(test_boolean_schemas_and_unknown_keywords),
                cmocka_unit_test(test_lint),
        };

        return cmocka_run_group_tests_name("schema", tests, group_setup, group_teardown);
}
