/*
 * UNIX-domain (IPC) addresses as clients name them: a path, relative paths
 * taken from the client's working directory, or a Linux abstract name that
 * starts with a NUL byte (the address length then covers exactly the name,
 * as Node >= 20.8 does, so the two interoperate).
 */
#pragma once

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

struct netd_conn;

struct netd_ipc_addr {
        struct sockaddr_un sa;
        socklen_t len;
        char *path;      /* owned: the resolved path as reported (abstract: leading NUL) */
        size_t path_len; /* bytes in path (it may start with NUL) */
};

/*
 * Resolves the client's path (len bytes, may start with NUL) for c into
 * *ret. Returns 0; -EINVAL for an empty path, an embedded NUL or one too
 * long for sun_path (as libuv does, never truncating); -errno when the
 * client's working directory can't be read for a relative path.
 */
int netd_ipc_resolve(const struct netd_conn *c, const char *path, size_t len,
                     struct netd_ipc_addr *ret);

/* Frees the resolved path. */
void netd_ipc_addr_done(struct netd_ipc_addr *a);
