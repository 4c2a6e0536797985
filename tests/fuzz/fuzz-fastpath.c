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
        if (netd_fastpath_check((const char *)data, size) < 0) {
                fprintf(stderr, "fast path and jansson disagree on: %.*s\n", (int)size,
                        (const char *)data);
                abort();
        }
        return 0;
}
