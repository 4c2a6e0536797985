/*
 * libFuzzer target: the socket.write fast path against jansson. Any line the
 * fast path accepts (as the daemon applies it) must be read identically by
 * the general path; a disagreement aborts with the input saved.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fastpath-oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct netd_fast_write w;

        if (netd_fastpath_accepts((const char *)data, size, &w) &&
            !netd_fastpath_agrees_with_jansson((const char *)data, size, &w)) {
                fprintf(stderr, "fast path and jansson disagree on: %.*s\n", (int)size,
                        (const char *)data);
                abort();
        }
        return 0;
}
