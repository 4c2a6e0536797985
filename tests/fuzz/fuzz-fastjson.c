/*
 * libFuzzer target: the small-request reader against jansson. Any line it
 * reads must come out as the tree json_loadb() builds; a disagreement aborts
 * with the input saved.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fastpath-oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (netd_fastjson_check((const char *)data, size) < 0) {
                fprintf(stderr, "fast reader and jansson disagree on: %.*s\n", (int)size,
                        (const char *)data);
                abort();
        }
        return 0;
}
