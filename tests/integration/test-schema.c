/*
 * Integration: the daemon speaks what proto/netd.openrpc.json says. One
 * realistic session on a raw control connection (so the exact wire
 * messages are checked, not the client library's reading of them) calls
 * every method of the document and provokes every event; each reply's
 * result is validated against its method's result schema, each error
 * against components.schemas.Error and the method's "errors" list, and each
 * notification's params against its x-notifications entry. rpc.discover
 * must return the document itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netd-test.h"
#include "schema-check.h"

struct session {
        struct netd_test_raw raw;
        json_t *doc;        /* owned: the document, from the source tree */
        json_t *events;     /* owned: every notification received, in order */
        json_t *ok_methods; /* owned: method name -> successful replies validated */
        json_int_t next_id;
        size_t n_replies, n_errors;
};

static void session_open(struct netd_test_daemon *t, struct session *s)
{
        json_error_t jerr;

        *s = (struct session){ .next_id = 1 };
        s->doc = json_load_file(NETD_OPENRPC_PATH, JSON_REJECT_DUPLICATES, &jerr);
        if (!s->doc)
                fail_msg("%s:%d: %s", NETD_OPENRPC_PATH, jerr.line, jerr.text);
        s->events = json_array();
        s->ok_methods = json_object();
        netd_test_raw_open(t, &s->raw);
}

static void session_close(struct session *s)
{
        netd_test_raw_close(&s->raw);
        json_decref(s->doc);
        json_decref(s->events);
        json_decref(s->ok_methods);
}

/* Asserts that msg has exactly the members named (NULL-terminated). */
static void assert_members(json_t *msg, const char *what, const char *const *names)
{
        size_t n = 0;

        for (; names[n]; n++)
                if (!json_object_get(msg, names[n]))
                        fail_msg("%s lacks \"%s\"", what, names[n]);
        if (json_object_size(msg) != n) {
                char *text = json_dumps(msg, JSON_COMPACT);

                fail_msg("%s has extra members: %s", what, text);
        }
}

/* Validates one notification and records it. */
static void session_event(struct session *s, json_t *msg)
{
        static const char *const members[] = { "jsonrpc", "method", "params", NULL };
        const char *name = json_string_value(json_object_get(msg, "method"));
        json_t *n;
        char err[512];

        assert_members(msg, "a notification", members);
        assert_string_equal(json_string_value(json_object_get(msg, "jsonrpc")), "2.0");
        assert_non_null(name);
        n = netd_schema_notification(s->doc, name);
        if (!n)
                fail_msg("the daemon sent %s, which the document does not list", name);
        if (netd_schema_check_params(s->doc, n, json_object_get(msg, "params"), err, sizeof(err)) <
            0) {
                char *text = json_dumps(msg, JSON_COMPACT);

                fail_msg("%s does not match its schema: %s\n  %s", name, err, text);
        }
        json_array_append(s->events, msg);
}

/* Reads and handles one message; returns it (a new reference) when it is a reply, else NULL. */
static json_t *session_read(struct session *s)
{
        json_t *msg = netd_test_raw_recv(&s->raw);

        if (json_object_get(msg, "method")) {
                session_event(s, msg);
                json_decref(msg);
                return NULL;
        }
        return msg;
}

/*
 * Sends method with params (stolen; NULL: no params member) and returns the
 * reply (a new reference) once it has been validated; notifications that
 * come first are validated and recorded.
 */
static json_t *request(struct session *s, const char *method, json_t *params)
{
        static const char *const ok_members[] = { "jsonrpc", "id", "result", NULL };
        static const char *const err_members[] = { "jsonrpc", "id", "error", NULL };
        json_int_t id = s->next_id++;
        json_t *req, *reply, *m;
        char *line, err[512];

        req = json_pack("{s:s,s:I,s:s}", "jsonrpc", "2.0", "id", id, "method", method);
        assert_non_null(req);
        if (params)
                json_object_set_new(req, "params", params);
        line = json_dumps(req, JSON_COMPACT);
        assert_non_null(line);
        netd_test_raw_send_str(&s->raw, line);
        netd_test_raw_send_str(&s->raw, "\n");
        free(line);
        json_decref(req);

        while (!(reply = session_read(s)))
                ;
        if (json_integer_value(json_object_get(reply, "id")) != id) {
                char *text = json_dumps(reply, JSON_COMPACT);

                fail_msg("%s: a reply to another request: %s", method, text);
        }
        assert_string_equal(json_string_value(json_object_get(reply, "jsonrpc")), "2.0");
        m = netd_schema_method(s->doc, method);
        if (json_object_get(reply, "error")) {
                assert_members(reply, "an error reply", err_members);
                /* An unknown method is checked by the caller (rpc.discover), not here. */
                if (json_integer_value(json_object_get(json_object_get(reply, "error"), "code")) !=
                    -32601) {
                        if (!m)
                                fail_msg("%s is not in the document", method);
                        if (netd_schema_check_error(s->doc, m, json_object_get(reply, "error"), err,
                                                    sizeof(err)) < 0) {
                                char *text = json_dumps(reply, JSON_COMPACT);

                                fail_msg("%s: the error reply does not match: %s\n  %s", method,
                                         err, text);
                        }
                }
                s->n_errors++;
                return reply;
        }
        assert_members(reply, "a reply", ok_members);
        if (!m)
                fail_msg("%s succeeded but is not in the document", method);
        if (netd_schema_check_result(s->doc, m, json_object_get(reply, "result"), err,
                                     sizeof(err)) < 0) {
                char *text = json_dumps(reply, JSON_COMPACT);

                fail_msg("%s: the result does not match: %s\n  %s", method, err, text);
        }
        json_object_set_new(
                s->ok_methods, method,
                json_integer(json_integer_value(json_object_get(s->ok_methods, method)) + 1));
        s->n_replies++;
        return reply;
}

/* The method's result (a new reference); fails on an error reply. */
static json_t *call_ok(struct session *s, const char *method, json_t *params)
{
        json_t *reply = request(s, method, params), *result;

        if (!json_object_get(reply, "result")) {
                char *text = json_dumps(reply, JSON_COMPACT);

                fail_msg("%s failed: %s", method, text);
        }
        result = json_incref(json_object_get(reply, "result"));
        json_decref(reply);
        return result;
}

/* Asserts an error reply with this code and data.code (NULL: none); returns nothing. */
static void call_err(struct session *s, const char *method, json_t *params, int code,
                     const char *data_code)
{
        json_t *reply = request(s, method, params);
        json_t *error = json_object_get(reply, "error");
        const char *dc = json_string_value(json_object_get(json_object_get(error, "data"), "code"));

        if (!error || json_integer_value(json_object_get(error, "code")) != code ||
            (data_code ? !dc || strcmp(dc, data_code) != 0 : dc != NULL)) {
                char *text = json_dumps(reply, JSON_COMPACT);

                fail_msg("%s: %s, expected error %d %s", method, text, code,
                         data_code ? data_code : "");
        }
        json_decref(reply);
}

static void call_true(struct session *s, const char *method, json_t *params)
{
        json_t *result = call_ok(s, method, params);

        if (!json_is_true(result))
                fail_msg("%s: the result is not true", method);
        json_decref(result);
}

/* params with {key: id}: every method of a handle takes one. */
static json_t *H(const char *key, json_int_t id)
{
        return json_pack("{s:I}", key, id);
}

static bool event_is(json_t *ev, const char *method, const char *key, json_int_t id)
{
        return strcmp(json_string_value(json_object_get(ev, "method")), method) == 0 &&
               (!key ||
                json_integer_value(json_object_get(json_object_get(ev, "params"), key)) == id);
}

/* The params (borrowed) of the n-th (from 0) event method about {key: id}, waiting for it. */
static json_t *wait_nth_event(struct session *s, const char *method, const char *key, json_int_t id,
                              size_t nth)
{
        for (;;) {
                size_t i, seen = 0;
                json_t *ev, *reply;

                json_array_foreach(s->events, i, ev) {
                        if (event_is(ev, method, key, id) && seen++ == nth)
                                return json_object_get(ev, "params");
                }
                reply = session_read(s);
                if (reply) {
                        char *text = json_dumps(reply, JSON_COMPACT);

                        fail_msg("a reply nobody waits for, while waiting for %s: %s", method,
                                 text);
                }
        }
}

static json_t *wait_event(struct session *s, const char *method, const char *key, json_int_t id)
{
        return wait_nth_event(s, method, key, id, 0);
}

static size_t count_events(struct session *s, const char *method, const char *key, json_int_t id)
{
        size_t i, n = 0;
        json_t *ev;

        json_array_foreach(s->events, i, ev)
                n += event_is(ev, method, key, id);
        return n;
}

static json_int_t int_member(json_t *o, const char *key)
{
        json_t *v = json_object_get(o, key);

        if (!json_is_integer(v))
                fail_msg("\"%s\" is not an integer", key);
        return json_integer_value(v);
}

/*
 * Waits until the socket.data events of socket from the *nth on decode to
 * exactly want, in encoding; *nth moves past them.
 */
static void wait_data(struct session *s, json_int_t socket, const char *want, const char *encoding,
                      size_t *nth)
{
        size_t got = 0, len = strlen(want);
        char buf[256];

        assert_true(len < sizeof(buf));
        while (got < len) {
                json_t *p = wait_nth_event(s, "socket.data", "socket", socket, (*nth)++);
                void *bytes;
                size_t n;

                assert_string_equal(json_string_value(json_object_get(p, "encoding")), encoding);
                assert_int_equal(netd_client_decode_data(p, &bytes, &n), 0);
                if (got + n > len)
                        fail_msg("socket %lld received more than \"%s\"", (long long)socket, want);
                memcpy(buf + got, bytes, n);
                got += n;
                free(bytes);
        }
        if (memcmp(buf, want, len) != 0)
                fail_msg("socket %lld received \"%.*s\", expected \"%s\"", (long long)socket,
                         (int)len, buf, want);
}

/* rpc.discover returns the document, byte-for-byte equal as JSON. */
static void check_discover(struct session *s)
{
        json_t *reply = request(s, "rpc.discover", NULL), *result;
        size_t i;
        json_t *m;

        if (json_integer_value(json_object_get(json_object_get(reply, "error"), "code")) == -32601)
                fail_msg("rpc.discover is not implemented (-32601): the daemon must serve "
                         "proto/netd.openrpc.json");
        result = json_object_get(reply, "result");
        assert_non_null(result);
        if (!json_equal(result, s->doc)) {
                json_array_foreach(json_object_get(s->doc, "methods"), i, m) {
                        if (!json_equal(m, json_array_get(json_object_get(result, "methods"), i)))
                                fail_msg("rpc.discover differs from %s, first at method %s "
                                         "(stale build?)",
                                         NETD_OPENRPC_PATH,
                                         json_string_value(json_object_get(m, "name")));
                }
                fail_msg("rpc.discover differs from %s outside \"methods\" (stale build?)",
                         NETD_OPENRPC_PATH);
        }
        json_decref(reply);
}

static void test_session(struct netd_test_daemon *t)
{
        struct session s;
        json_t *r, *p, *ev;
        json_int_t srv, srv2, c, a, k, a2, d, x, refused, lookup;
        int port, rport, fd;
        const char *key;
        char missing[1024] = "";
        size_t i, nth = 0;

        session_open(t, &s);
        check_discover(&s);

        /* The daemon and the module functions. */
        r = call_ok(&s, "netd.info", NULL);
        assert_int_equal(int_member(r, "pid"), t->pid);
        json_decref(r);
        call_true(&s, "netd.sync", json_object());
        r = call_ok(&s, "net.isIP", json_pack("{s:s}", "input", "::1"));
        assert_int_equal(json_integer_value(r), 6);
        json_decref(r);
        r = call_ok(&s, "net.isIPv4", json_pack("{s:s}", "input", "127.0.0.1"));
        assert_true(json_is_true(r));
        json_decref(r);
        r = call_ok(&s, "net.isIPv6", json_pack("{s:s}", "input", "127.0.0.1"));
        assert_true(json_is_false(r));
        json_decref(r);

        /* A server on 127.0.0.1, port 0. */
        r = call_ok(&s, "net.createServer", json_object());
        srv = int_member(r, "server");
        json_decref(r);
        r = call_ok(&s, "server.address", H("server", srv));
        assert_true(json_is_null(r));
        json_decref(r);
        r = call_ok(&s, "server.listen",
                    json_pack("{s:I,s:i,s:s}", "server", srv, "port", 0, "host", "127.0.0.1"));
        port = (int)int_member(r, "port");
        json_decref(r);
        /* 'listening' comes before the reply. */
        assert_int_equal(count_events(&s, "server.listening", "server", srv), 1);
        r = call_ok(&s, "server.address", H("server", srv));
        assert_int_equal(int_member(r, "port"), port);
        json_decref(r);
        call_true(&s, "server.unref", H("server", srv));
        call_true(&s, "server.ref", H("server", srv));
        r = call_ok(&s, "server.set", json_pack("{s:I,s:i}", "server", srv, "maxConnections", 10));
        assert_int_equal(int_member(r, "maxConnections"), 10);
        json_decref(r);
        r = call_ok(&s, "server.get", H("server", srv));
        assert_true(json_is_true(json_object_get(r, "listening")));
        json_decref(r);

        /* A client connection to it, with a highWaterMark of 1 so every write drains. */
        r = call_ok(&s, "net.createConnection",
                    json_pack("{s:i,s:s,s:b,s:i}", "port", port, "host", "127.0.0.1", "noDelay", 1,
                              "highWaterMark", 1));
        c = int_member(r, "socket");
        json_decref(r);
        p = wait_event(&s, "server.connection", "server", srv);
        a = int_member(p, "socket");
        (void)wait_event(&s, "socket.connect", "socket", c);
        (void)wait_event(&s, "socket.ready", "socket", c);
        r = call_ok(&s, "server.getConnections", H("server", srv));
        assert_int_equal(json_integer_value(r), 1);
        json_decref(r);

        /* Data both ways: base64 by default, then utf8 after setEncoding. */
        call_true(&s, "socket.write", json_pack("{s:I,s:s}", "socket", c, "data", "hello"));
        wait_data(&s, a, "hello", "base64", &nth);
        (void)wait_event(&s, "socket.drain", "socket", c);
        call_true(&s, "socket.setEncoding",
                  json_pack("{s:I,s:s}", "socket", a, "encoding", "utf8"));
        call_true(
                &s, "socket.write",
                json_pack("{s:I,s:s,s:s}", "socket", c, "data", "68c3a96c6c6f", "encoding", "hex"));
        wait_data(&s, a, "h\xc3\xa9llo", "utf8", &nth);

        /* Properties and options. */
        r = call_ok(&s, "socket.get", H("socket", c));
        assert_int_equal(int_member(r, "bytesWritten"), 11);
        json_decref(r);
        r = call_ok(&s, "socket.get", H("socket", a));
        assert_int_equal(int_member(r, "server"), srv);
        assert_string_equal(json_string_value(json_object_get(r, "encoding")), "utf8");
        json_decref(r);
        r = call_ok(&s, "socket.address", H("socket", c));
        assert_string_equal(json_string_value(json_object_get(r, "address")), "127.0.0.1");
        json_decref(r);
        call_true(&s, "socket.setNoDelay", json_pack("{s:I,s:b}", "socket", c, "noDelay", 1));
        call_true(&s, "socket.setKeepAlive",
                  json_pack("{s:I,s:b,s:i}", "socket", c, "enable", 1, "initialDelay", 1000));
        call_true(&s, "socket.pause", H("socket", a));
        call_true(&s, "socket.resume", H("socket", a));
        call_true(&s, "socket.unref", H("socket", c));
        call_true(&s, "socket.ref", H("socket", c));
        call_true(&s, "socket.setTimeout", json_pack("{s:I,s:i}", "socket", a, "timeout", 1));
        (void)wait_event(&s, "socket.timeout", "socket", a);
        call_true(&s, "socket.setTimeout", json_pack("{s:I,s:i}", "socket", a, "timeout", 0));

        /* An orderly close: c ends with data, a ends back (no allowHalfOpen), both close. */
        call_true(&s, "socket.end", json_pack("{s:I,s:s}", "socket", c, "data", "bye"));
        wait_data(&s, a, "bye", "utf8", &nth);
        (void)wait_event(&s, "socket.end", "socket", a);
        (void)wait_event(&s, "socket.end", "socket", c);
        p = wait_event(&s, "socket.close", "socket", a);
        assert_true(json_is_false(json_object_get(p, "hadError")));
        (void)wait_event(&s, "socket.close", "socket", c);
        call_err(&s, "socket.write", json_pack("{s:I,s:s}", "socket", c, "data", "x"), -32001,
                 "ERR_STREAM_DESTROYED");

        /* A listen failure: server.error, then the same error as the reply. */
        r = call_ok(&s, "net.createServer", json_object());
        srv2 = int_member(r, "server");
        json_decref(r);
        call_err(&s, "server.listen",
                 json_pack("{s:I,s:i,s:s}", "server", srv2, "port", port, "host", "127.0.0.1"),
                 -32000, "EADDRINUSE");
        p = wait_event(&s, "server.error", "server", srv2);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_object_get(p, "error"), "data"), "code")),
                            "EADDRINUSE");
        call_err(&s, "server.close", H("server", srv2), -32001, "ERR_SERVER_NOT_RUNNING");
        (void)wait_event(&s, "server.close", "server", srv2);

        /* maxConnections 0: the next connection is dropped. */
        r = call_ok(&s, "server.set", json_pack("{s:I,s:i}", "server", srv, "maxConnections", 0));
        json_decref(r);
        r = call_ok(&s, "net.connect", json_pack("{s:i,s:s}", "port", port, "host", "127.0.0.1"));
        d = int_member(r, "socket");
        json_decref(r);
        (void)wait_event(&s, "server.drop", "server", srv);
        (void)wait_event(&s, "socket.close", "socket", d);
        r = call_ok(&s, "server.set", json_pack("{s:I,s:n}", "server", srv, "maxConnections"));
        assert_true(json_is_null(json_object_get(r, "maxConnections")));
        json_decref(r);

        /* net.Socket + socket.connect, then a reset. */
        r = call_ok(&s, "net.Socket", json_object());
        k = int_member(r, "socket");
        json_decref(r);
        call_true(&s, "socket.connect",
                  json_pack("{s:I,s:i,s:s}", "socket", k, "port", port, "host", "127.0.0.1"));
        p = wait_nth_event(&s, "server.connection", "server", srv, 1);
        a2 = int_member(p, "socket");
        (void)wait_event(&s, "socket.ready", "socket", k);
        call_true(&s, "socket.resetAndDestroy", H("socket", k));
        p = wait_event(&s, "socket.close", "socket", k);
        assert_true(json_is_false(json_object_get(p, "hadError")));
        (void)wait_event(&s, "socket.close", "socket", a2);

        /* destroy(error): the client's {message, code} as socket.error. */
        r = call_ok(&s, "net.Socket", json_object());
        x = int_member(r, "socket");
        json_decref(r);
        call_true(&s, "socket.destroy",
                  json_pack("{s:I,s:{s:s,s:s}}", "socket", x, "error", "message", "boom", "code",
                            "EBOOM"));
        p = wait_event(&s, "socket.error", "socket", x);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(p, "error"), "message")), "boom");
        p = wait_event(&s, "socket.close", "socket", x);
        assert_true(json_is_true(json_object_get(p, "hadError")));
        r = call_ok(&s, "net.Socket", json_object());
        x = int_member(r, "socket");
        json_decref(r);
        call_true(&s, "socket.destroy",
                  json_pack("{s:I,s:{s:s}}", "socket", x, "error", "message", "no code"));
        (void)wait_event(&s, "socket.error", "socket", x);
        (void)wait_event(&s, "socket.close", "socket", x);

        /* ECONNREFUSED: a port bound but not listening, by IP and by name. */
        fd = netd_test_tcp_socket(false, &rport);
        r = call_ok(&s, "net.connect", json_pack("{s:i,s:s}", "port", rport, "host", "127.0.0.1"));
        refused = int_member(r, "socket");
        json_decref(r);
        p = wait_event(&s, "socket.error", "socket", refused);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_object_get(p, "error"), "data"), "code")),
                            "ECONNREFUSED");
        p = wait_event(&s, "socket.close", "socket", refused);
        assert_true(json_is_true(json_object_get(p, "hadError")));
        r = call_ok(&s, "net.createConnection",
                    json_pack("{s:i,s:s}", "port", rport, "host", "localhost"));
        lookup = int_member(r, "socket");
        json_decref(r);
        p = wait_event(&s, "socket.lookup", "socket", lookup);
        assert_true(json_is_null(json_object_get(p, "err")));
        (void)wait_event(&s, "socket.error", "socket", lookup);
        (void)wait_event(&s, "socket.close", "socket", lookup);
        close(fd);

        /* Error replies of another kind: unknown handle, wrong kind, bad params. */
        call_err(&s, "socket.write",
                 json_pack("{s:I,s:s}", "socket", (json_int_t)999999, "data", ""), -32001,
                 "ERR_NETD_HANDLE_NOT_FOUND");
        call_err(&s, "server.get", H("server", c), -32001, "ERR_NETD_HANDLE_WRONG_TYPE");
        call_err(&s, "socket.setEncoding", json_pack("{s:I,s:s}", "socket", a, "encoding", "bogus"),
                 -32602, "ERR_UNKNOWN_ENCODING");
        call_err(&s, "socket.setTimeout", H("socket", a), -32602, "ERR_MISSING_ARGS");
        call_err(&s, "server.listen", json_pack("{s:I,s:i}", "server", srv, "port", 65536), -32602,
                 "ERR_SOCKET_BAD_PORT");

        /* The server closes once its last connection has. */
        call_true(&s, "server.close", H("server", srv));
        (void)wait_event(&s, "server.close", "server", srv);
        call_err(&s, "server.listen", json_pack("{s:I,s:i}", "server", srv, "port", 0), -32001,
                 "ERR_SERVER_NOT_RUNNING");
        /* The observer and listing methods (netctl ls, monitor, close). */
        r = call_ok(&s, "net.createServer", json_object());
        x = int_member(r, "server");
        json_decref(r);
        call_err(&s, "netd.close", H("handle", x), -32001, "ERR_SERVER_NOT_RUNNING");
        r = call_ok(&s, "net.Socket", json_object());
        x = int_member(r, "socket");
        json_decref(r);
        call_true(&s, "netd.close", H("handle", x));
        r = call_ok(&s, "netd.handles", NULL);
        json_decref(r);
        r = call_ok(&s, "netd.subscribe", json_pack("{s:[s]}", "kinds", "socket"));
        x = int_member(r, "subscription");
        json_decref(r);
        r = call_ok(&s, "netd.unsubscribe", json_pack("{s:I}", "subscription", (json_int_t)x));
        json_decref(r);
        call_err(&s, "netd.unsubscribe", json_pack("{s:I}", "subscription", (json_int_t)x), -32001,
                 "ERR_NETD_HANDLE_NOT_FOUND");
        call_true(&s, "netd.sync", NULL);

        /* Sessions: detach, then a second connection takes the handles over (a handover). */
        {
                struct session s2;
                char *token;

                r = call_ok(&s, "netd.detach", json_pack("{s:i}", "lingerMs", 1000));
                token = strdup(json_string_value(json_object_get(r, "token")));
                json_decref(r);
                session_open(t, &s2);
                r = call_ok(&s2, "netd.attach", json_pack("{s:s}", "token", token));
                json_decref(r);
                ev = wait_event(&s, "netd.detached", NULL, 0);
                assert_string_equal(json_string_value(json_object_get(ev, "token")), token);
                call_err(&s2, "netd.attach", json_pack("{s:s}", "token", "0123"), -32001,
                         "ERR_NETD_PERMISSION");
                json_object_update(s.ok_methods, s2.ok_methods);
                session_close(&s2);
                free(token);
        }

        /* Every method answered successfully at least once, every event came. */
        json_array_foreach(json_object_get(s.doc, "methods"), i, p) {
                key = json_string_value(json_object_get(p, "name"));
                if (!json_object_get(s.ok_methods, key))
                        (void)snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
                                       " %s", key);
        }
        json_array_foreach(json_object_get(s.doc, "x-notifications"), i, p) {
                key = json_string_value(json_object_get(p, "name"));
                if (count_events(&s, key, NULL, 0) == 0)
                        (void)snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
                                       " %s", key);
        }
        if (missing[0])
                fail_msg("never exercised:%s", missing);
        /* Each handle's close is its last event and comes once. */
        json_array_foreach(s.events, i, ev) {
                const char *m = json_string_value(json_object_get(ev, "method"));
                bool is_server = strncmp(m, "server.", 7) == 0;
                const char *hk = is_server ? "server" : "socket";
                const char *closing = is_server ? "server.close" : "socket.close";
                json_int_t id;
                size_t j;
                json_t *later;

                if (strcmp(m, closing) != 0)
                        continue;
                id = int_member(json_object_get(ev, "params"), hk);
                json_array_foreach(s.events, j, later) {
                        if (j > i &&
                            json_integer_value(
                                    json_object_get(json_object_get(later, "params"), hk)) == id &&
                            strncmp(json_string_value(json_object_get(later, "method")), hk,
                                    strlen(hk)) == 0)
                                fail_msg("%s of %lld is followed by %s", closing, (long long)id,
                                         json_string_value(json_object_get(later, "method")));
                }
        }
        fprintf(stderr, "schema: %zu replies, %zu error replies, %zu events validated\n",
                s.n_replies, s.n_errors, json_array_size(s.events));
        session_close(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_session),
        };

        return cmocka_run_group_tests_name("integration/schema", tests, NULL, NULL);
}
