/* The method table: the only place that maps names to handlers. */
#pragma once

#include <stddef.h>

#include "jtok.h"

struct netd_done;
struct netd_req;

typedef struct netd_done *(*netd_method_fn)(struct netd_req *req, struct netd_jv params);

struct netd_method {
        const char *name;
        netd_method_fn fn;
};

/* Sorted by name (strcmp); a unit test checks the order. */
extern const struct netd_method netd_methods[];
extern const size_t netd_methods_count;

/* The method named name, or NULL. */
const struct netd_method *netd_dispatch_lookup(const char *name);
