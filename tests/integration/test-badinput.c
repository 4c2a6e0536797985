/*
 * Integration: hostile and malformed input over raw control connections
 * (PROTOCOL.md §4, §5, §6.3, §10.1, §12, §13; reliability matrix rows 2-5).
 *
 * - Every file of JSONTestSuite's test_parsing corpus (the directory named
 *   by $NETD_JSON_TEST_SUITE, read at run time) is sent as one request line,
 *   each followed by a netd.sync barrier so its replies can be attributed:
 *   exactly one reply per non-blank line, the right code (-32700 for what is
 *   not JSON, -32600 or an array of -32600 for JSON that is not a request),
 *   and netd still serves this client and others afterwards.
 * - A table of bad params: wrong JSON types, out-of-range values, unknown
 *   and wrong-kind handles, unknown and duplicate keys, numbers netd can't
 *   represent, unknown encodings, payloads not valid for their encoding,
 *   lone surrogates and invalid UTF-8. Each row gives the expected code,
 *   data.code and data.field; nothing is written for a rejected payload.
 * - IPC paths that can't be a socket address (empty, holding U+0000, too
 *   long) in net.connect, socket.connect and server.listen.
 * - The parse-memory budget (--limit=parseMaxBytes=65536).
 * - A client that disconnects while netd holds its input (inflight limit).
 *
 * Mismatches are printed one by one ("MISMATCH ...") before a test fails,
 * so one run shows every deviation from the spec, not only the first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netd-test.h"

#define SYNC_ID "badinput-sync"

static const char sync_line[] =
        "{\"jsonrpc\":\"2.0\",\"id\":\"" SYNC_ID "\",\"method\":\"netd.sync\"}\n";

/* The most reply lines one corpus file may draw before the test gives up on it. */
#define MAX_LINES_PER_FILE 16

/* netd writes strict JSON: no duplicate names, \u0000 allowed in strings. */
static json_t *parse_strict(const char *text)
{
        return json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
}

static char *dump(const json_t *j)
{
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

        return s ? s : strdup("(none)");
}

static bool is_sync_reply(const json_t *m)
{
        return json_is_object(m) &&
               strcmp(json_string_value(json_object_get(m, "id")) ?: "", SYNC_ID) == 0 &&
               json_is_true(json_object_get(m, "result"));
}

/* Reads lines up to the reply of sync_line; the others are returned in lines[] (malloc()ed). */
static size_t recv_until_sync(struct netd_test_raw *r, char **lines, size_t max, const char *what)
{
        size_t n = 0;

        for (;;) {
                char *line = netd_test_raw_recv_line(r, NETD_TEST_TIMEOUT_MS);
                json_t *m;

                if (!line)
                        fail_msg("%s: netd closed the connection", what);
                m = parse_strict(line);
                if (is_sync_reply(m)) {
                        json_decref(m);
                        free(line);
                        return n;
                }
                json_decref(m);
                if (n == max)
                        fail_msg("%s: more than %zu lines before the sync reply", what, max);
                lines[n++] = line;
        }
}

static void free_lines(char **lines, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
}

/* Asserts that r still gets replies: a netd.sync answered as the next line. */
static void expect_alive(struct netd_test_raw *r, const char *who)
{
        char *lines[1];

        netd_test_raw_send_str(r, sync_line);
        if (recv_until_sync(r, lines, 0, who) != 0)
                fail_msg("%s: unexpected line before the sync reply", who);
}

/*
 * Checks that m is exactly {"jsonrpc":"2.0","id":want_id,"error":{"code":code,
 * "message":"..."}} with no data. Returns NULL or why not (malloc()ed).
 */
static char *check_envelope_error(const json_t *m, int code, const json_t *want_id)
{
        const json_t *err = json_object_get(m, "error");
        char *why = NULL, *got_id;

        if (!json_is_object(m) || json_object_size(m) != 3 ||
            strcmp(json_string_value(json_object_get(m, "jsonrpc")) ?: "", "2.0") != 0 ||
            !json_is_object(err))
                return strdup("not a JSON-RPC 2.0 error object");
        if (json_integer_value(json_object_get(err, "code")) != code) {
                if (asprintf(&why, "code %lld, expected %d",
                             (long long)json_integer_value(json_object_get(err, "code")), code) < 0)
                        why = NULL;
                return why ? why : strdup("wrong code");
        }
        if (!json_equal(json_object_get(m, "id"), (json_t *)want_id)) {
                got_id = dump(json_object_get(m, "id"));
                if (asprintf(&why, "id %s, expected %s", got_id,
                             json_is_null(want_id) ? "null" : "the message's id") < 0)
                        why = NULL;
                free(got_id);
                return why ? why : strdup("wrong id");
        }
        if (!json_is_string(json_object_get(err, "message")) || json_object_get(err, "data") ||
            json_object_size(err) != 2)
                return strdup("error members are not exactly code and message");
        return NULL;
}

/* The id an invalid message's reply carries (PROTOCOL.md §5.2): its id if usable, else null. */
static json_t *expected_id(json_t *msg)
{
        json_t *id = json_is_object(msg) ? json_object_get(msg, "id") : NULL;

        if (id && (json_is_string(id) || json_is_number(id) || json_is_null(id)))
                return id;
        return json_null();
}

/* ---- JSONTestSuite ------------------------------------------------------------------------- */

enum verdict {
        V_BLANK,   /* white space only: a blank line, never answered (§4) */
        V_INVALID, /* not JSON for netd: one -32700 */
        V_VALID,   /* JSON that is not a request: -32600, or an array of them for a batch */
        V_EITHER,  /* implementation-defined (i_ files): either of the above */
};

struct corpus_stats {
        unsigned files, by_prefix[3];
        unsigned blank, parse_errors, invalid_requests, batches, batch_entries;
        unsigned mismatches;
};

/* Reads a whole file (malloc()ed, NUL-terminated after len bytes). */
static char *read_all(const char *path, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap + 1);

        if (fd < 0)
                fail_msg("open %s: %s", path, strerror(errno));
        assert_non_null(buf);
        for (;;) {
                ssize_t n;

                if (cap - len < 4096) {
                        cap *= 2;
                        buf = realloc(buf, cap + 1);
                        assert_non_null(buf);
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        fail_msg("read %s: %s", path, strerror(errno));
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        buf[len] = '\0';
        *ret_len = len;
        return buf;
}

/*
 * Makes a file's bytes one request line. A raw LF becomes a TAB: outside
 * strings both are JSON white space, inside strings both are unescaped
 * control characters, so the file's verdict does not change (a space would
 * turn n_string_unescaped_newline into valid JSON). A CR at the very end
 * would be eaten by the framer as part of "\r\n", so a TAB follows it.
 */
static char *file_to_line(const char *buf, size_t len, size_t *ret_len)
{
        char *line = malloc(len + 3);

        assert_non_null(line);
        for (size_t i = 0; i < len; i++)
                line[i] = buf[i] == '\n' ? '\t' : buf[i];
        if (len > 0 && line[len - 1] == '\r')
                line[len++] = '\t';
        line[len] = '\n';
        *ret_len = len + 1;
        return line;
}

static bool is_blank(const char *line, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
                        return false;
        return true;
}

/*
 * The verdict netd's spec gives a corpus file, and its parsed document when
 * it is JSON (*ret_doc, a new reference, or NULL).
 */
static enum verdict corpus_verdict(const char *name, const char *line, size_t len, json_t **ret_doc)
{
        json_error_t jerr;
        json_t *doc;

        *ret_doc = NULL;
        if (is_blank(line, len))
                return V_BLANK;
        if (name[0] == 'n')
                return V_INVALID;
        doc = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                         &jerr);
        if (doc) {
                *ret_doc = doc;
                return name[0] == 'y' ? V_VALID : V_EITHER;
        }
        if (name[0] != 'y')
                return V_EITHER;
        switch (json_error_code(&jerr)) {
        case json_error_duplicate_key:
                /* §4: "Object member names MUST be unique": a parse error. */
        case json_error_numeric_overflow:
                /* §4: "a number outside what netd can represent": a parse error. */
                return V_INVALID;
        case json_error_null_byte_in_key:
                /*
                 * §4 allows \u0000 "inside strings" and does not list a NUL in a
                 * member name among the parse errors; jansson can't hold one.
                 * Either answer is accepted here (reported as a spec gap).
                 */
                return V_EITHER;
        default:
                return V_VALID; /* valid JSON per the suite: netd must parse it */
        }
}

/* Checks the replies of one corpus file. Returns NULL or why they are wrong (malloc()ed). */
static char *corpus_check(enum verdict v, json_t *doc, char **lines, size_t n,
                          struct corpus_stats *st)
{
        json_t *m;
        char *why = NULL;

        if (v == V_BLANK) {
                if (n == 0) {
                        st->blank++;
                        return NULL;
                }
                return strdup("a blank line was answered");
        }
        if (n != 1) {
                if (asprintf(&why, "%zu reply lines, expected exactly 1", n) < 0)
                        why = NULL;
                return why ? why : strdup("wrong number of replies");
        }
        m = parse_strict(lines[0]);
        if (!m)
                return strdup("the reply is not valid JSON");
        if (json_is_object(m) &&
            json_integer_value(json_object_get(json_object_get(m, "error"), "code")) == -32700) {
                if (v == V_VALID)
                        why = strdup("-32700 for valid JSON");
                else
                        why = check_envelope_error(m, -32700, json_null());
                if (!why)
                        st->parse_errors++;
                json_decref(m);
                return why;
        }
        if (v == V_INVALID) {
                json_decref(m);
                return strdup("expected -32700");
        }
        if (json_is_array(doc) && json_array_size(doc) > 0 && json_array_size(doc) <= 64) {
                /* A batch (§5.3): one -32600 per entry, all immediate, so in order. */
                size_t i;
                json_t *entry;

                if (!json_is_array(m) || json_array_size(m) != json_array_size(doc)) {
                        json_decref(m);
                        if (asprintf(&why, "expected an array of %zu errors",
                                     json_array_size(doc)) < 0)
                                why = NULL;
                        return why ? why : strdup("expected an array");
                }
                json_array_foreach(doc, i, entry) {
                        why = check_envelope_error(json_array_get(m, i), -32600,
                                                   expected_id(entry));
                        if (why)
                                break;
                }
                if (!why) {
                        st->batches++;
                        st->batch_entries += (unsigned)json_array_size(m);
                }
        } else if (doc) {
                why = check_envelope_error(m, -32600, expected_id(doc));
                if (!why)
                        st->invalid_requests++;
        } else if (json_is_array(m) && json_array_size(m) > 0) {
                /* JSON the test's own parser could not read: any -32600 shape. */
                for (size_t i = 0; !why && i < json_array_size(m); i++)
                        if (json_integer_value(json_object_get(
                                    json_object_get(json_array_get(m, i), "error"), "code")) !=
                            -32600)
                                why = strdup("a batch entry is not -32600");
                if (!why) {
                        st->batches++;
                        st->batch_entries += (unsigned)json_array_size(m);
                }
        } else if (json_integer_value(json_object_get(json_object_get(m, "error"), "code")) !=
                   -32600) {
                why = strdup("expected -32600");
        } else {
                st->invalid_requests++;
        }
        json_decref(m);
        return why;
}

static int corpus_filter(const struct dirent *e)
{
        return e->d_name[0] != '.';
}

static void test_json_test_suite(struct netd_test_daemon *t)
{
        const char *dir = getenv("NETD_JSON_TEST_SUITE");
        struct corpus_stats st = { 0 };
        struct netd_test_raw r, other;
        struct dirent **names = NULL;
        int n;

        if (!dir || !*dir) {
                printf("NETD_JSON_TEST_SUITE is not set: skipped\n");
                skip();
        }
        n = scandir(dir, &names, corpus_filter, alphasort);
        if (n < 0) {
                printf("%s: %s: skipped\n", dir, strerror(errno));
                skip();
        }
        netd_test_raw_open(t, &r);
        for (int i = 0; i < n; i++) {
                const char *name = names[i]->d_name;
                char path[4096], *buf, *line, *lines[MAX_LINES_PER_FILE], *why;
                size_t len, line_len, got;
                json_t *doc;
                enum verdict v;
                struct stat sb;

                (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
                if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
                        continue;
                buf = read_all(path, &len);
                line = file_to_line(buf, len, &line_len);
                v = corpus_verdict(name, line, line_len - 1, &doc);
                st.files++;
                st.by_prefix[name[0] == 'y' ? 0 : name[0] == 'n' ? 1 : 2]++;
                netd_test_raw_send(&r, line, line_len);
                netd_test_raw_send_str(&r, sync_line);
                got = recv_until_sync(&r, lines, MAX_LINES_PER_FILE, name);
                why = corpus_check(v, doc, lines, got, &st);
                if (why) {
                        st.mismatches++;
                        printf("MISMATCH %s: %s; got %zu line(s)%s%.300s\n", name, why, got,
                               got ? ": " : "", got ? lines[0] : "");
                        free(why);
                }
                free_lines(lines, got);
                json_decref(doc);
                free(line);
                free(buf);
        }
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        printf("JSONTestSuite: %u files (%u y_, %u n_, %u i_): %u blank (no reply), "
               "%u -32700, %u -32600, %u batch arrays (%u -32600 entries); %u mismatches\n",
               st.files, st.by_prefix[0], st.by_prefix[1], st.by_prefix[2], st.blank,
               st.parse_errors, st.invalid_requests, st.batches, st.batch_entries, st.mismatches);
        assert_true(st.files > 0);

        /* The daemon is still up: a new client is served, and so is the first one. */
        netd_test_raw_open(t, &other);
        expect_alive(&other, "second client");
        netd_test_raw_close(&other);
        expect_alive(&r, "first client");
        netd_test_raw_close(&r);
        if (st.mismatches)
                fail_msg("%u corpus file(s) got a reply the spec does not allow (see above)",
                         st.mismatches);
}

/* ---- Bad params ---------------------------------------------------------------------------- */

/* A raw connection plus the events it received (a JSON array). */
struct conn {
        struct netd_test_raw r;
        json_t *events; /* owned */
        unsigned next_id;
};

/* Reads one message: records an event and returns NULL, or returns a reply. */
static json_t *conn_read(struct conn *c)
{
        char *line = netd_test_raw_recv_line(&c->r, NETD_TEST_TIMEOUT_MS);
        json_t *m;

        if (!line)
                fail_msg("netd closed the connection, expected a line");
        m = parse_strict(line);
        if (!m)
                fail_msg("netd sent a line that is not strict JSON: %s", line);
        free(line);
        if (json_is_object(m) && json_object_get(m, "method") && !json_object_get(m, "id")) {
                json_array_append_new(c->events, m);
                return NULL;
        }
        return m;
}

/* The next message that is not an event; events are recorded. Fails on EOF or bad JSON. */
static json_t *conn_next_reply(struct conn *c)
{
        json_t *m;

        while (!(m = conn_read(c)))
                ;
        return m;
}

/* Calls method with params (JSON text, may be NULL) and returns its result (a new reference). */
static json_t *conn_call(struct conn *c, const char *method, const char *params)
{
        char line[1024], id[32];
        json_t *m, *result;

        (void)snprintf(id, sizeof(id), "c%u", ++c->next_id);
        (void)snprintf(line, sizeof(line),
                       "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"method\":\"%s\"%s%s}\n", id, method,
                       params ? ",\"params\":" : "", params ? params : "");
        netd_test_raw_send_str(&c->r, line);
        m = conn_next_reply(c);
        result = json_object_get(m, "result");
        if (!result || strcmp(json_string_value(json_object_get(m, "id")) ?: "", id) != 0) {
                char *text = dump(m);

                fail_msg("%s %s: expected a result, got %s", method, params ? params : "", text);
        }
        json_incref(result);
        json_decref(m);
        return result;
}

static uint64_t conn_call_id(struct conn *c, const char *method, const char *params,
                             const char *key)
{
        json_t *result = conn_call(c, method, params);
        json_int_t id = json_integer_value(json_object_get(result, key));

        assert_true(id > 0);
        json_decref(result);
        return (uint64_t)id;
}

/* The recorded event named method whose params.key is value, or NULL (no waiting). */
static json_t *conn_find_event(struct conn *c, const char *method, const char *key, uint64_t value)
{
        size_t i;
        json_t *ev;

        json_array_foreach(c->events, i, ev) {
                json_t *params = json_object_get(ev, "params");

                if (strcmp(json_string_value(json_object_get(ev, "method")), method) == 0 &&
                    (uint64_t)json_integer_value(json_object_get(params, key)) == value)
                        return params;
        }
        return NULL;
}

/* The first recorded event named method whose params.key is value, waiting for it. */
static json_t *conn_wait_event(struct conn *c, const char *method, const char *key, uint64_t value)
{
        json_t *params;

        while (!(params = conn_find_event(c, method, key, value))) {
                json_t *m = conn_read(c);

                if (m) {
                        char *text = dump(m);

                        fail_msg("waiting for %s about %llu, got the reply %s", method,
                                 (unsigned long long)value, text);
                }
        }
        return params;
}

static void conn_open(struct netd_test_daemon *t, struct conn *c)
{
        netd_test_raw_open(t, &c->r);
        c->events = json_array();
        c->next_id = 0;
        assert_non_null(c->events);
}

static void conn_close(struct conn *c)
{
        netd_test_raw_close(&c->r);
        c->events = (json_decref(c->events), NULL);
}

struct bad_row {
        const char *method; /* NULL: params is the whole request (without its "\n") */
        /*
         * The params object as JSON text, with placeholders: $S a connected
         * socket, $A its peer (accepted by $V), $V a listening server, $T an
         * unconnected socket, $B a server of another connection, $0 a raw NUL.
         */
        const char *params;
        int code;
        const char *data_code; /* NULL: no data */
        const char *field;     /* NULL: no data.field */
};

#define PARSE_ERROR(m, p)                    \
        {                                    \
                (m), (p), -32700, NULL, NULL \
        }
#define INVALID_PARAMS(m, p, c, f)         \
        {                                  \
                (m), (p), -32602, (c), (f) \
        }
#define NETD_ERROR(m, p, c)                 \
        {                                   \
                (m), (p), -32001, (c), NULL \
        }

static const struct bad_row bad_rows[] = {
        /* Ports: wrong types and out-of-range values (§6.3, §8: "port"). */
        INVALID_PARAMS("net.connect", "{\"port\":\"x\",\"host\":\"127.0.0.1\"}",
                       "ERR_SOCKET_BAD_PORT", "port"),
        INVALID_PARAMS("net.connect", "{\"port\":true,\"host\":\"127.0.0.1\"}",
                       "ERR_INVALID_ARG_TYPE", "port"),
        INVALID_PARAMS("net.connect", "{\"port\":1.5,\"host\":\"127.0.0.1\"}",
                       "ERR_SOCKET_BAD_PORT", "port"),
        INVALID_PARAMS("net.connect", "{\"port\":-1,\"host\":\"127.0.0.1\"}", "ERR_SOCKET_BAD_PORT",
                       "port"),
        INVALID_PARAMS("net.connect", "{\"port\":65536,\"host\":\"127.0.0.1\"}",
                       "ERR_SOCKET_BAD_PORT", "port"),
        INVALID_PARAMS("net.connect", "{\"port\":1e6,\"host\":\"127.0.0.1\"}",
                       "ERR_SOCKET_BAD_PORT", "port"),
        INVALID_PARAMS("net.connect", "{\"port\":\"65536\",\"host\":\"127.0.0.1\"}",
                       "ERR_SOCKET_BAD_PORT", "port"),
        INVALID_PARAMS("net.connect", "{\"port\":\"\",\"host\":\"127.0.0.1\"}",
                       "ERR_SOCKET_BAD_PORT", "port"),
        INVALID_PARAMS("net.connect", "{\"port\":0,\"host\":\"127.0.0.1\"}", "ERR_SOCKET_BAD_PORT",
                       "port"),
        INVALID_PARAMS("net.connect", "{\"port\":9223372036854775807,\"host\":\"127.0.0.1\"}",
                       "ERR_SOCKET_BAD_PORT", "port"),
        INVALID_PARAMS("net.connect", "{\"port\":[80],\"host\":\"127.0.0.1\"}",
                       "ERR_INVALID_ARG_TYPE", "port"),
        INVALID_PARAMS("net.connect", "{\"port\":{},\"host\":\"127.0.0.1\"}",
                       "ERR_INVALID_ARG_TYPE", "port"),
        INVALID_PARAMS("net.connect", "{\"port\":80,\"host\":\"127.0.0.1\",\"localPort\":70000}",
                       "ERR_SOCKET_BAD_PORT", "localPort"),
        INVALID_PARAMS("net.connect", "{\"host\":\"127.0.0.1\"}", "ERR_MISSING_ARGS", "port"),
        INVALID_PARAMS("server.listen", "{\"server\":$V,\"port\":65536}", "ERR_SOCKET_BAD_PORT",
                       "port"),
        /* Other connect options (§8.2). */
        INVALID_PARAMS("net.connect", "{\"port\":80,\"host\":\"\"}", "ERR_INVALID_ARG_VALUE",
                       "host"),
        PARSE_ERROR("net.connect", "{\"port\":80,\"host\":\"127.0.0.1$0\"}"),
        INVALID_PARAMS("net.connect", "{\"port\":80,\"host\":5}", "ERR_INVALID_ARG_TYPE", "host"),
        INVALID_PARAMS("net.connect", "{\"port\":80,\"host\":\"127.0.0.1\",\"family\":5}",
                       "ERR_INVALID_ARG_VALUE", "family"),
        /* §6.3 and Node (validateOneOf): any family but 0, 4 and 6 is ERR_INVALID_ARG_VALUE. */
        INVALID_PARAMS("net.connect", "{\"port\":80,\"host\":\"127.0.0.1\",\"family\":7}",
                       "ERR_INVALID_ARG_VALUE", "family"),
        INVALID_PARAMS("net.connect", "{\"port\":80,\"host\":\"127.0.0.1\",\"family\":-1}",
                       "ERR_INVALID_ARG_VALUE", "family"),
        INVALID_PARAMS("net.connect", "{\"port\":80,\"host\":\"127.0.0.1\",\"hints\":3}",
                       "ERR_INVALID_ARG_VALUE", "hints"),
        INVALID_PARAMS("net.connect", "{\"port\":80,\"localAddress\":\"nope\"}",
                       "ERR_INVALID_IP_ADDRESS", "localAddress"),
        INVALID_PARAMS("net.connect", "{\"port\":80,\"host\":\"127.0.0.1\",\"timeout\":-1}",
                       "ERR_OUT_OF_RANGE", "timeout"),
        INVALID_PARAMS("net.connect", "{\"port\":80,\"host\":\"127.0.0.1\",\"autoSelectFamily\":1}",
                       "ERR_INVALID_ARG_TYPE", "autoSelectFamily"),
        INVALID_PARAMS("socket.setTimeout", "{\"socket\":$S,\"timeout\":2147483648}",
                       "ERR_OUT_OF_RANGE", "timeout"),
        /* Handles: wrong types, out of range, absent (§6.3, §7.1). */
        INVALID_PARAMS("socket.get", "{\"socket\":\"3\"}", "ERR_INVALID_ARG_TYPE", "socket"),
        INVALID_PARAMS("socket.get", "{\"socket\":true}", "ERR_INVALID_ARG_TYPE", "socket"),
        INVALID_PARAMS("socket.get", "{\"socket\":1.0}", "ERR_INVALID_ARG_TYPE", "socket"),
        INVALID_PARAMS("socket.get", "{\"socket\":0}", "ERR_OUT_OF_RANGE", "socket"),
        INVALID_PARAMS("socket.get", "{\"socket\":-3}", "ERR_OUT_OF_RANGE", "socket"),
        INVALID_PARAMS("socket.get", "{}", "ERR_MISSING_ARGS", "socket"),
        INVALID_PARAMS("socket.get", "{\"socket\":null}", "ERR_MISSING_ARGS", "socket"),
        INVALID_PARAMS("server.get", "{\"server\":\"$V\"}", "ERR_INVALID_ARG_TYPE", "server"),
        /* Unknown handles, another connection's handles, handles of the wrong kind (§6.4). */
        NETD_ERROR("socket.get", "{\"socket\":999999}", "ERR_NETD_HANDLE_NOT_FOUND"),
        NETD_ERROR("server.get", "{\"server\":999999}", "ERR_NETD_HANDLE_NOT_FOUND"),
        NETD_ERROR("socket.get", "{\"socket\":9223372036854775807}", "ERR_NETD_HANDLE_NOT_FOUND"),
        NETD_ERROR("server.get", "{\"server\":$B}", "ERR_NETD_HANDLE_NOT_FOUND"),
        NETD_ERROR("server.close", "{\"server\":$B}", "ERR_NETD_HANDLE_NOT_FOUND"),
        NETD_ERROR("socket.get", "{\"socket\":$V}", "ERR_NETD_HANDLE_WRONG_TYPE"),
        NETD_ERROR("server.get", "{\"server\":$S}", "ERR_NETD_HANDLE_WRONG_TYPE"),
        NETD_ERROR("server.listen", "{\"server\":$S,\"port\":0}", "ERR_NETD_HANDLE_WRONG_TYPE"),
        NETD_ERROR("server.close", "{\"server\":$A}", "ERR_NETD_HANDLE_WRONG_TYPE"),
        NETD_ERROR("socket.write", "{\"socket\":$V,\"data\":\"x\"}", "ERR_NETD_HANDLE_WRONG_TYPE"),
        NETD_ERROR("socket.destroy", "{\"socket\":$V}", "ERR_NETD_HANDLE_WRONG_TYPE"),
        /* Unknown keys: checked before anything else (§5.2, §6.3). */
        INVALID_PARAMS("net.isIP", "{\"input\":\"1.2.3.4\",\"bogus\":1}", "ERR_INVALID_ARG_VALUE",
                       "bogus"),
        INVALID_PARAMS("net.isIP", "{\"bogus\":1}", "ERR_INVALID_ARG_VALUE", "bogus"),
        INVALID_PARAMS("socket.get", "{\"socket\":$S,\"Socket\":$S}", "ERR_INVALID_ARG_VALUE",
                       "Socket"),
        INVALID_PARAMS("server.listen", "{\"server\":999999,\"port\":0,\"hostname\":\"x\"}",
                       "ERR_INVALID_ARG_VALUE", "hostname"),
        INVALID_PARAMS("netd.sync", "{\"x\":1}", "ERR_INVALID_ARG_VALUE", "x"),
        INVALID_PARAMS("netd.info", "{\"x\":1}", "ERR_INVALID_ARG_VALUE", "params"),
        INVALID_PARAMS("rpc.discover", "{\"x\":null}", "ERR_INVALID_ARG_VALUE", "params"),
        /* Duplicate member names: a parse error, at any depth (§4). */
        PARSE_ERROR("net.isIP", "{\"input\":\"1.2.3.4\",\"input\":\"::1\"}"),
        PARSE_ERROR("socket.get", "{\"socket\":$S,\"socket\":$S}"),
        PARSE_ERROR("socket.destroy",
                    "{\"socket\":$T,\"error\":{\"message\":\"a\",\"message\":\"b\"}}"),
        PARSE_ERROR(NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"netd.sync\"}"),
        PARSE_ERROR(NULL, "{\"jsonrpc\":\"2.0\",\"method\":\"netd.sync\",\"method\":\"netd.info\","
                          "\"id\":3}"),
        /* Numbers netd can't represent (§4). */
        PARSE_ERROR("socket.get", "{\"socket\":1e400}"),
        PARSE_ERROR("socket.get", "{\"socket\":-1e400}"),
        PARSE_ERROR("socket.get", "{\"socket\":9223372036854775808}"),
        PARSE_ERROR("socket.get", "{\"socket\":-9223372036854775809}"),
        PARSE_ERROR("net.connect", "{\"port\":1e400,\"host\":\"127.0.0.1\"}"),
        PARSE_ERROR("net.connect", "{\"port\":9223372036854775808,\"host\":\"127.0.0.1\"}"),
        PARSE_ERROR(NULL, "{\"jsonrpc\":\"2.0\",\"id\":1e400,\"method\":\"netd.sync\"}"),
        /* Encodings (§10.1). */
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":\"x\",\"encoding\":\"klingon\"}",
                       "ERR_UNKNOWN_ENCODING", "encoding"),
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":\"x\",\"encoding\":\"\"}",
                       "ERR_UNKNOWN_ENCODING", "encoding"),
        INVALID_PARAMS("socket.write",
                       "{\"socket\":$S,\"data\":\"x\",\"encoding\":\"utf8\\u0000\"}",
                       "ERR_UNKNOWN_ENCODING", "encoding"),
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":\"x\",\"encoding\":8}",
                       "ERR_INVALID_ARG_TYPE", "encoding"),
        INVALID_PARAMS("socket.setEncoding", "{\"socket\":$S,\"encoding\":\"klingon\"}",
                       "ERR_UNKNOWN_ENCODING", "encoding"),
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":5}", "ERR_INVALID_ARG_TYPE",
                       "data"),
        INVALID_PARAMS("socket.write", "{\"socket\":$S}", "ERR_MISSING_ARGS", "data"),
        /* Payloads not valid for their encoding: rejected whole, nothing written (§10.1). */
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":\"abc\",\"encoding\":\"hex\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":\"zz\",\"encoding\":\"hex\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":\"0g\",\"encoding\":\"hex\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":\"@@@@\",\"encoding\":\"base64\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":\"aGk-\",\"encoding\":\"base64\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        INVALID_PARAMS("socket.write",
                       "{\"socket\":$S,\"data\":\"aGk+\",\"encoding\":\"base64url\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":\"aGk =\",\"encoding\":\"base64\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":\"a\",\"encoding\":\"base64\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        INVALID_PARAMS("socket.write", "{\"socket\":$S,\"data\":\"aGl=\",\"encoding\":\"base64\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        INVALID_PARAMS("socket.write",
                       "{\"socket\":$S,\"data\":\"\xe2\x82\xac\",\"encoding\":\"latin1\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        INVALID_PARAMS("socket.write",
                       "{\"socket\":$S,\"data\":\"\\u20ac\",\"encoding\":\"binary\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        INVALID_PARAMS("socket.write",
                       "{\"socket\":$S,\"data\":\"\xc3\xa9\",\"encoding\":\"ascii\"}",
                       "ERR_INVALID_ARG_VALUE", "data"),
        /* Lone surrogates and invalid UTF-8: not JSON text (§4, §10.1). */
        PARSE_ERROR("socket.write", "{\"socket\":$S,\"data\":\"\\ud800\"}"),
        PARSE_ERROR("socket.write", "{\"socket\":$S,\"data\":\"\\udc00\"}"),
        PARSE_ERROR("socket.write", "{\"socket\":$S,\"data\":\"a\\ud800b\"}"),
        PARSE_ERROR("socket.write",
                    "{\"socket\":$S,\"data\":\"\\ud800\",\"encoding\":\"utf16le\"}"),
        PARSE_ERROR("socket.write", "{\"socket\":$S,\"data\":\"\xc3\x28\"}"),
        PARSE_ERROR("socket.write", "{\"socket\":$S,\"data\":\"\xc0\xaf\"}"),
        PARSE_ERROR("socket.write", "{\"socket\":$S,\"data\":\"\xed\xa0\x80\"}"),
        PARSE_ERROR("socket.write", "{\"socket\":$S,\"data\":\"\xff\"}"),
        /* A raw NUL byte is never JSON text, wherever it is (§4). */
        PARSE_ERROR("socket.write", "{\"socket\":$S,\"data\":\"a$0b\"}"),
        PARSE_ERROR("socket.get", "{\"socket\":$S$0}"),
        PARSE_ERROR(NULL, "{\"jsonrpc\":\"2.0\",\"id\":7$0,\"method\":\"netd.sync\"}"),
        /* An unescaped control character inside a string. */
        PARSE_ERROR("net.isIP", "{\"input\":\"1.2.3.4\x01\"}"),
        /* The socket.destroy "error" param (§8.14). */
        INVALID_PARAMS("socket.destroy", "{\"socket\":$T,\"error\":\"boom\"}",
                       "ERR_INVALID_ARG_TYPE", "error"),
        INVALID_PARAMS("socket.destroy", "{\"socket\":$T,\"error\":{\"message\":5}}",
                       "ERR_INVALID_ARG_TYPE", "error"),
};

/* The handle ids a row's placeholders stand for. */
struct row_ids {
        uint64_t S, A, V, T, B;
};

/* Writes the request of row (number id) with its placeholders filled in; returns its length. */
static size_t row_request(const struct bad_row *row, unsigned id, const struct row_ids *ids,
                          char *out, size_t size)
{
        char params[768];
        size_t n = 0, len;

        for (const char *p = row->params; *p; p++) {
                uint64_t v = 0;

                assert_true(n + 24 < sizeof(params));
                if (p[0] != '$' || !p[1]) {
                        params[n++] = *p;
                        continue;
                }
                switch (*++p) {
                case 'S':
                        v = ids->S;
                        break;
                case 'A':
                        v = ids->A;
                        break;
                case 'V':
                        v = ids->V;
                        break;
                case 'T':
                        v = ids->T;
                        break;
                case 'B':
                        v = ids->B;
                        break;
                case '0':
                        params[n++] = '\0';
                        continue;
                default:
                        fail_msg("bad placeholder $%c in %s", *p, row->params);
                }
                n += (size_t)snprintf(params + n, sizeof(params) - n, "%llu",
                                      (unsigned long long)v);
        }
        if (!row->method) {
                assert_true(n + 1 < size);
                memcpy(out, params, n);
                len = n;
        } else {
                int k = snprintf(out, size,
                                 "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"%s\",\"params\":", id,
                                 row->method);

                assert_true(k > 0 && (size_t)k + n + 2 < size);
                memcpy(out + k, params, n);
                len = (size_t)k + n;
                out[len++] = '}';
        }
        out[len++] = '\n';
        return len;
}

/* Checks a row's reply. Returns NULL or why it is wrong (malloc()ed). */
static char *row_check(const struct bad_row *row, unsigned id, json_t *reply)
{
        json_t *err = json_object_get(reply, "error"), *data = json_object_get(err, "data");
        json_t *want_id = row->code == -32700 ? json_null() : json_integer(id);
        char *why = NULL;

        if (row->code == -32700) {
                why = check_envelope_error(reply, -32700, want_id);
        } else if (!json_is_object(err) || !json_equal(json_object_get(reply, "id"), want_id) ||
                   json_integer_value(json_object_get(err, "code")) != row->code ||
                   !json_is_string(json_object_get(err, "message"))) {
                if (asprintf(&why, "expected an error %d with id %u", row->code, id) < 0)
                        why = NULL;
        } else if (!json_is_object(data) ||
                   strcmp(json_string_value(json_object_get(data, "code")) ?: "", row->data_code) !=
                           0) {
                if (asprintf(&why, "expected data.code %s", row->data_code) < 0)
                        why = NULL;
        } else if (row->field ? strcmp(json_string_value(json_object_get(data, "field")) ?: "",
                                       row->field) != 0
                              : json_object_get(data, "field") != NULL) {
                if (asprintf(&why, "expected data.field %s", row->field ? row->field : "absent") <
                    0)
                        why = NULL;
        }
        json_decref(want_id);
        if (why || !json_object_get(reply, "result"))
                return why;
        return strdup("a result");
}

static void test_bad_params(struct netd_test_daemon *t)
{
        const size_t n_rows = sizeof(bad_rows) / sizeof(bad_rows[0]);
        struct conn a, b;
        struct row_ids ids;
        unsigned mismatches = 0, by_code[3] = { 0 };
        json_t *result, *data;
        char params[256];
        int port;

        /* a: a server, a connected socket and its accepted peer, an unconnected socket. */
        conn_open(t, &a);
        conn_open(t, &b);
        ids.V = conn_call_id(&a, "net.createServer", NULL, "server");
        (void)snprintf(params, sizeof(params),
                       "{\"server\":%llu,\"port\":0,\"host\":\"127.0.0.1\"}",
                       (unsigned long long)ids.V);
        result = conn_call(&a, "server.listen", params);
        port = (int)json_integer_value(json_object_get(result, "port"));
        json_decref(result);
        assert_true(port > 0);
        (void)snprintf(params, sizeof(params), "{\"port\":%d,\"host\":\"127.0.0.1\"}", port);
        ids.S = conn_call_id(&a, "net.connect", params, "socket");
        ids.T = conn_call_id(&a, "net.Socket", NULL, "socket");
        (void)conn_wait_event(&a, "socket.connect", "socket", ids.S);
        ids.A = (uint64_t)json_integer_value(json_object_get(
                conn_wait_event(&a, "server.connection", "server", ids.V), "socket"));
        assert_true(ids.A > 0);
        /* b: a server a must not see. */
        ids.B = conn_call_id(&b, "net.createServer", NULL, "server");

        for (size_t i = 0; i < n_rows; i++) {
                const struct bad_row *row = &bad_rows[i];
                unsigned id = 1000 + (unsigned)i;
                char line[1024], *why, *text;
                size_t len = row_request(row, id, &ids, line, sizeof(line));
                json_t *reply;

                netd_test_raw_send(&a.r, line, len);
                reply = conn_next_reply(&a);
                why = row_check(row, id, reply);
                if (why) {
                        text = dump(reply);
                        mismatches++;
                        printf("MISMATCH row %zu (%s %s): %s; got %s\n", i,
                               row->method ? row->method : "request", row->params, why, text);
                        free(text);
                        free(why);
                } else {
                        by_code[row->code == -32700 ? 0 : row->code == -32602 ? 1 : 2]++;
                }
                json_decref(reply);
        }
        printf("bad params: %zu rows: %u -32700, %u -32602, %u -32001 as expected; "
               "%u mismatches\n",
               n_rows, by_code[0], by_code[1], by_code[2], mismatches);

        /* The other client is unaffected: its server is there, and it is served. */
        (void)snprintf(params, sizeof(params), "{\"server\":%llu}", (unsigned long long)ids.B);
        result = conn_call(&b, "server.get", params);
        assert_true(json_is_false(json_object_get(result, "listening")));
        json_decref(result);
        expect_alive(&b.r, "other client");

        /* Nothing of a rejected write was counted or sent: the first bytes the peer gets are "ok".
         */
        (void)snprintf(params, sizeof(params), "{\"socket\":%llu}", (unsigned long long)ids.S);
        result = conn_call(&a, "socket.get", params);
        assert_int_equal(json_integer_value(json_object_get(result, "bytesWritten")), 0);
        assert_true(json_is_false(json_object_get(result, "destroyed")));
        json_decref(result);
        (void)snprintf(params, sizeof(params),
                       "{\"socket\":%llu,\"data\":\"b2s=\",\"encoding\":\"base64\"}",
                       (unsigned long long)ids.S);
        result = conn_call(&a, "socket.write", params);
        assert_true(json_is_true(result));
        json_decref(result);
        data = conn_wait_event(&a, "socket.data", "socket", ids.A);
        netd_test_assert_str(data, "data", "b2s=");
        expect_alive(&a.r, "first client");
        conn_close(&b);
        conn_close(&a);
        if (mismatches)
                fail_msg("%u bad-params row(s) got another reply than the spec's (see above)",
                         mismatches);
}

/* ---- IPC paths netd can't use ------------------------------------------------------------- */

/* Calls method expecting an error reply; returns the error object (a new reference). */
static json_t *conn_call_error(struct conn *c, const char *method, const char *params)
{
        char line[1024], id[32];
        json_t *m, *err;

        (void)snprintf(id, sizeof(id), "c%u", ++c->next_id);
        (void)snprintf(line, sizeof(line),
                       "{\"jsonrpc\":\"2.0\",\"id\":\"%s\",\"method\":\"%s\",\"params\":%s}\n", id,
                       method, params);
        netd_test_raw_send_str(&c->r, line);
        m = conn_next_reply(c);
        err = json_object_get(m, "error");
        if (!json_is_object(err) ||
            strcmp(json_string_value(json_object_get(m, "id")) ?: "", id) != 0) {
                char *text = dump(m);

                fail_msg("%s %s: expected an error, got %s", method, params, text);
        }
        json_incref(err);
        json_decref(m);
        return err;
}

/* The socket's socket.error (data.code code, syscall connect), then socket.close with hadError. */
static void expect_connect_error(struct conn *c, uint64_t sock, const char *code)
{
        json_t *params = conn_wait_event(c, "socket.error", "socket", sock);

        netd_test_assert_str(params, "error.data.code", code);
        netd_test_assert_str(params, "error.data.syscall", "connect");
        params = conn_wait_event(c, "socket.close", "socket", sock);
        assert_true(json_is_true(json_object_get(params, "hadError")));
}

/*
 * Paths that can't be a UNIX socket address: empty, holding U+0000 after
 * the first byte, longer than sun_path. A connect reports them as a connect
 * failure (socket.error EINVAL, then socket.close), never as an error reply
 * (PROTOCOL.md §8.2, §8.12); a listen fails with EINVAL, or -32602 for an
 * empty path (§8.5). netd stays up and keeps serving this client and others.
 */
static void test_bad_ipc_paths(struct netd_test_daemon *t)
{
        char long_path[256], params[512];
        const char *paths[3];
        struct conn c, other;
        uint64_t server, sock;
        unsigned mismatches = 0;
        json_t *err;

        memset(long_path, 'x', 200);
        long_path[0] = '/';
        long_path[200] = '\0';
        paths[0] = "";
        paths[1] = "a\\u0000b";
        paths[2] = long_path;
        conn_open(t, &c);
        conn_open(t, &other);
        server = conn_call_id(&c, "net.createServer", NULL, "server");
        /*
         * §8.5: an empty path is -32602 (Node: neither port nor path given); the
         * others are EINVAL, sent as server.error and then as the error reply.
         */
        for (size_t i = 0; i < 3; i++) {
                bool empty = paths[i][0] == '\0', ok;
                const char *want = empty ? "ERR_INVALID_ARG_VALUE" : "EINVAL";

                (void)snprintf(params, sizeof(params), "{\"server\":%llu,\"path\":\"%s\"}",
                               (unsigned long long)server, paths[i]);
                err = conn_call_error(&c, "server.listen", params);
                ok = json_integer_value(json_object_get(err, "code")) == (empty ? -32602 : -32000);
                ok = ok &&
                     strcmp(json_string_value(netd_test_get(err, "data.code")) ?: "", want) == 0;
                if (empty)
                        ok = ok && strcmp(json_string_value(netd_test_get(err, "data.field")) ?: "",
                                          "path") == 0;
                else
                        ok = ok &&
                             strcmp(json_string_value(netd_test_get(err, "data.syscall")) ?: "",
                                    "listen") == 0;
                /* Only a listen that failed sends server.error. */
                ok = ok &&
                     (conn_find_event(&c, "server.error", "server", server) != NULL) == !empty;
                if (!ok) {
                        char *text = dump(err);

                        printf("MISMATCH server.listen %s: expected %s%s %s (PROTOCOL.md §8.5); "
                               "got %s\n",
                               params, empty ? "" : "server.error, then ",
                               empty ? "-32602" : "-32000", want, text);
                        free(text);
                        mismatches++;
                }
                json_decref(err);
                json_array_clear(c.events);
        }
        for (size_t i = 0; i < 3; i++) {
                (void)snprintf(params, sizeof(params), "{\"path\":\"%s\"}", paths[i]);
                sock = conn_call_id(&c, "net.connect", params, "socket");
                expect_connect_error(&c, sock, "EINVAL");
                sock = conn_call_id(&c, "net.Socket", NULL, "socket");
                (void)snprintf(params, sizeof(params), "{\"socket\":%llu,\"path\":\"%s\"}",
                               (unsigned long long)sock, paths[i]);
                err = conn_call(&c, "socket.connect", params);
                assert_true(json_is_true(err));
                json_decref(err);
                expect_connect_error(&c, sock, "EINVAL");
        }
        /* A usable path that names nothing: ENOENT, the same way. */
        (void)snprintf(params, sizeof(params), "{\"path\":\"%s/none.sock\"}", t->dir);
        sock = conn_call_id(&c, "net.connect", params, "socket");
        expect_connect_error(&c, sock, "ENOENT");
        expect_alive(&other.r, "other client");
        expect_alive(&c.r, "first client");
        conn_close(&other);
        conn_close(&c);
        if (mismatches)
                fail_msg("%u server.listen path(s) got another error than the spec's (see above)",
                         mismatches);
}

/* ---- The parse budget ---------------------------------------------------------------------- */

#define BUDGET_ARG "--limit=parseMaxBytes=65536"

/* A 60 KB line of valid JSON whose tree needs far more than 64 KiB: one -32600, then business as
 * usual. */
static void test_parse_budget(struct netd_test_daemon *t)
{
        const size_t n = 30000;
        struct conn c;
        char *line = malloc(2 * n + 3), *lines[1];
        size_t len = 0;
        json_t *reply, *info;

        assert_non_null(line);
        line[len++] = '[';
        for (size_t i = 0; i < n; i++) {
                line[len++] = '1';
                line[len++] = i + 1 < n ? ',' : ']';
        }
        line[len++] = '\n';
        conn_open(t, &c);
        netd_test_raw_send(&c.r, line, len);
        free(line);
        reply = conn_next_reply(&c);
        if (!json_is_null(json_object_get(reply, "id")) ||
            json_integer_value(netd_test_get(reply, "error.code")) != -32600) {
                char *text = dump(reply);

                fail_msg("expected one -32600 with id null, got %s", text);
        }
        netd_test_assert_json(netd_test_get(reply, "error.data"),
                              "{\"code\":\"ERR_NETD_LIMIT\",\"limit\":\"parse_max_bytes\","
                              "\"max\":65536}");
        json_decref(reply);
        /* The connection stays usable: the next line is the sync's reply, nothing in between. */
        netd_test_raw_send_str(&c.r, sync_line);
        if (recv_until_sync(&c.r, lines, 0, "after the over-budget line") != 0)
                fail_msg("a line came before the sync reply");
        info = conn_call(&c, "netd.info", NULL);
        assert_int_equal(json_integer_value(netd_test_get(info, "stats.parseOverBudget")), 1);
        assert_int_equal(json_integer_value(netd_test_get(info, "limits.parseMaxBytes")), 65536);
        json_decref(info);
        conn_close(&c);
}

/* ---- A client that goes away while its input is held ---------------------------------------- */

#define HELD_ARG "--limit=outHardBytes=65536"

static json_t *info_of(struct conn *c)
{
        return conn_call(c, "netd.info", NULL);
}

/*
 * A client that reads none of its replies (200 rpc.discover requests, about
 * 8 MiB of replies) passes outHardBytes, so netd holds its input (§12), the
 * one thing that may hold a connection. The client then disconnects: netd
 * must notice and destroy its handles (§7.3), not keep the connection, its
 * descriptor and its sockets until it exits.
 */
static void test_held_client_disconnect(struct netd_test_daemon *t)
{
        struct conn a, b;
        char line[256];
        uint64_t sock;
        int64_t deadline;
        json_t *info = NULL;
        bool gone = false;

        conn_open(t, &a);
        conn_open(t, &b);
        sock = conn_call_id(&a, "net.Socket", NULL, "socket");
        (void)sock;
        for (int i = 0; i < 200; i++) {
                (void)snprintf(line, sizeof(line),
                               "{\"jsonrpc\":\"2.0\",\"id\":\"d%d\",\"method\":\"rpc.discover\"}\n",
                               i);
                netd_test_raw_send_str(&a.r, line);
        }
        /* Wait (bounded) until netd reports that it holds a's input. */
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        for (;;) {
                info = info_of(&b);
                if (json_integer_value(netd_test_get(info, "stats.inputHeld")) >= 1)
                        break;
                json_decref(info);
                if (netd_test_now_ms() >= deadline)
                        fail_msg("netd never held the input of a client that reads none of its "
                                 "replies (outHardBytes=65536)");
        }
        assert_int_equal(json_integer_value(json_object_get(info, "connections")), 2);
        assert_int_equal(json_integer_value(netd_test_get(info, "handles.sockets")), 1);
        json_decref(info);

        conn_close(&a);
        deadline = netd_test_deadline(NETD_TEST_TIMEOUT_MS);
        while (!gone && netd_test_now_ms() < deadline) {
                info = info_of(&b);
                gone = json_integer_value(json_object_get(info, "connections")) == 1 &&
                       json_integer_value(netd_test_get(info, "handles.sockets")) == 0;
                json_decref(info);
        }
        expect_alive(&b.r, "other client");
        conn_close(&b);
        if (!gone)
                fail_msg("netd kept the connection of a client that disconnected while its input "
                         "was held (its socket too), for %d ms (PROTOCOL.md §7.3, §12)",
                         NETD_TEST_TIMEOUT_MS);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                NETD_TEST(test_json_test_suite),
                NETD_TEST(test_bad_params),
                NETD_TEST(test_bad_ipc_paths),
                NETD_TEST_ARGS(test_parse_budget, BUDGET_ARG),
                NETD_TEST_ARGS(test_held_client_disconnect, HELD_ARG),
        };

        return cmocka_run_group_tests_name("integration/badinput", tests, NULL, NULL);
}
