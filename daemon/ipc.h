/*
 * UNIX-domain (IPC) addresses as clients name them: a path, relative paths
 * taken from the client's working directory at request time (through its
 * pidfd, never a bare pid), or a Linux abstract name that
 * starts with a NUL byte (the address length then covers exactly the name,
 * as Node >= 20.8 does, so the two interoperate).
 */
#pragma once

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <jansson.h>

struct netd_owner;

struct netd_ipc_addr {
        struct sockaddr_un sa;
        socklen_t len;
        char *path;      /* owned: the resolved path as reported (abstract: leading NUL) */
        size_t path_len; /* bytes in path (it may start with NUL) */
        int dirfd;       /* owned: the client's cwd for a relative path (sa names it), or -1 */
        int pin_fd;      /* owned: netd_ipc_pin()'s O_PATH descriptor, or -1 */
};

/*
 * Resolves the client's path (len bytes, may start with NUL) for c into
 * *ret. Returns 0; -EINVAL for an empty path, an embedded NUL or one too
 * long for sun_path (as libuv does, never truncating); -ESRCH for a
 * relative path when the connecting process's working directory can't be
 * read safely (it is gone or not dumpable, or the kernel gave no pidfd);
 * other -errno.
 */
int netd_ipc_resolve(const struct netd_owner *c, const char *path, size_t len,
                     struct netd_ipc_addr *ret);

/*
 * For a connect under a unix grant (netd's group lent to the client):
 * opens the socket file without following a final symlink and points sa at it through
 * /proc/self/fd, so connect() reaches that very inode. Returns 0 (nothing
 * for an abstract name), -ELOOP for a symlink, -ECONNREFUSED for a file
 * that is not a socket, or -errno.
 */
int netd_ipc_pin(struct netd_ipc_addr *a);

/* For err -ESRCH from netd_ipc_resolve(), says why in nerr's message. */
void netd_ipc_explain(json_t *nerr, int err);

/* Frees the resolved path and closes its descriptors. */
void netd_ipc_addr_done(struct netd_ipc_addr *a);
