/*
 * The hot request, parsed without a JSON tree: socket.write as clients and
 * the C library send it, compact, with a payload free of escapes. jansson
 * moves payload strings at about 100 MB/s; this moves them at memory speed.
 * It recognizes a strict subset of what the general parser accepts and
 * must extract exactly what it would (tests/unit/test-fastpath.c compares
 * the two); anything else returns 0 and takes the general path, which then
 * produces the error replies, so both paths answer every line the same.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netd_fast_write {
        bool has_id;
        bool id_is_string;
        int64_t id_int;
        const char *id_str; /* borrowed from the line, without quotes */
        size_t id_len;
        uint64_t socket;
        const char *data; /* borrowed from the line, without quotes */
        size_t data_len;
        bool data_unchecked; /* base64/base64url/hex: valid only if it decodes */
        int encoding;        /* enum netd_encoding; NETD_ENC_UTF8 when absent */
};

/*
 * Recognizes
 *   {"jsonrpc":"2.0","method":"socket.write",
 *    "params":{"socket":N,"data":"…"[,"encoding":"E"]}[,"id":ID]}
 * with the members of either object in any order, each once, and no white
 * space; ID a JSON integer of at most 18 digits or a string of printable
 * ASCII without '"' or '\', N a positive integer of at most 18 digits, the
 * data printable ASCII without '"' or '\', and E a known encoding. Returns
 * 1 with *ret filled in, or 0: not this shape.
 *
 * For the binary encodings (base64, base64url, hex) the data is not checked
 * here (ret->data_unchecked): the caller must decode it, and if that fails
 * treat the line as not recognized. A string that decodes holds only the
 * alphabet, which JSON reads as is, so the general path would see the same.
 */
int netd_fastpath_write(const char *line, size_t len, struct netd_fast_write *ret);
