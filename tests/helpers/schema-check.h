/*
 * A small JSON Schema validator for the tests, on jansson: enough of the
 * language to check netd's replies and events against proto/netd.openrpc.json.
 *
 * Supported keywords: type (a name or an array of names; "integer" is a JSON
 * integer, "number" an integer or a real), properties, required,
 * additionalProperties (boolean or schema), items (one schema for every
 * element), enum, const, minimum, maximum, minLength (in code points),
 * pattern (POSIX extended regular expression, unanchored), oneOf, anyOf,
 * allOf and $ref (a JSON pointer into the document root, such as
 * "#/components/schemas/Address"; sibling keywords are checked too). The
 * boolean schemas true and false work as in JSON Schema. The annotations
 * description, title, default, examples and $comment are ignored; any other
 * keyword is an error, so a typo in the document can't pass silently.
 *
 * Error messages name the JSON path of the first mismatch ("$.error.data.code:
 * expected string, got integer"). Nothing is allocated that outlives a call.
 */
#pragma once

#include <stddef.h>

#include <jansson.h>

/*
 * Checks value (borrowed) against schema (borrowed); $refs resolve against
 * root (borrowed, may be NULL when the schema has none). Returns 0 when value
 * matches, or -EINVAL with a NUL-terminated message in err (errlen bytes,
 * may be 0) naming the path of the first mismatch or the schema fault.
 */
int netd_schema_check(json_t *root, json_t *schema, json_t *value, char *err, size_t errlen);

/*
 * Checks that schema (borrowed) uses only the keywords above, in their
 * proper forms, and that each of its $refs resolves in root. Does not follow
 * $refs (lint their targets separately). Returns 0 or -EINVAL with err set.
 */
int netd_schema_lint(json_t *root, json_t *schema, char *err, size_t errlen);

/* The method object named name in the OpenRPC document doc (borrowed), or NULL. */
json_t *netd_schema_method(json_t *doc, const char *name);

/* The x-notifications entry named name in doc (borrowed), or NULL. */
json_t *netd_schema_notification(json_t *doc, const char *name);

/*
 * Checks params (borrowed; NULL counts as {}) against the "params" list of a
 * method or notification m (borrowed): an object whose members are the
 * listed names, each matching its schema, the required ones present, no
 * other member. Returns 0 or -EINVAL with err set.
 */
int netd_schema_check_params(json_t *doc, json_t *m, json_t *params, char *err, size_t errlen);

/* Checks result (borrowed) against method m's result schema. Returns 0 or -EINVAL. */
int netd_schema_check_result(json_t *doc, json_t *m, json_t *result, char *err, size_t errlen);

/*
 * Checks an error reply's error object (borrowed) against
 * components.schemas.Error and, unless m is NULL or the code is an envelope
 * error (-32700, -32600, -32601), that m's "errors" list an entry with the
 * same code and data.code. Returns 0 or -EINVAL with err set.
 */
int netd_schema_check_error(json_t *doc, json_t *m, json_t *error, char *err, size_t errlen);
