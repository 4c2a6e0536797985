/* The method table: the only place that maps names to handlers. */
#pragma once

#include <stddef.h>

#include "handle.h"
#include "jtok.h"
#include "methods/methods.h"

struct netd_done;
struct netd_req;

typedef struct netd_done *(*netd_method_fn)(struct netd_req *req, struct netd_jv params);

struct netd_method {
        const char *name;
        netd_method_fn fn;               /* the handler; NULL for a method on one handle: */
        netd_handle_method_fn on_handle; /* called with the handle {"<type>":N} names */
        enum netd_handle_type type;      /* the type on_handle takes */
};

/* Sorted by name (strcmp); a unit test checks the order. */
extern const struct netd_method netd_methods[];
extern const size_t netd_methods_count;

/* The method named name, or NULL. */
const struct netd_method *netd_dispatch_lookup(const char *name);

/* Runs m's handler for req (the only caller of handlers). */
struct netd_done *netd_dispatch_call(const struct netd_method *m, struct netd_req *req,
                                     struct netd_jv params);
