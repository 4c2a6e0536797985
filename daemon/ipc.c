/*
 * IPC address resolution (see ipc.h). A relative path is joined to the
 * client's working directory, read from /proc/<pid>/cwd of the peer
 * credentials taken at accept time: netd's own cwd means nothing to a
 * client.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "ipc.h"

int netd_ipc_resolve(const struct netd_conn *c, const char *path, size_t len,
                     struct netd_ipc_addr *ret)
{
        struct netd_ipc_addr a = { .sa.sun_family = AF_UNIX };
        char cwd[PATH_MAX], *full = NULL;
        size_t full_len;

        /* Safe to netd_ipc_addr_done() whatever the outcome. */
        *ret = (struct netd_ipc_addr){ .path = NULL };

        if (len == 0)
                return -EINVAL;
        if (path[0] == '\0') {
                /* Abstract: every byte counts, NULs included, no terminator. */
                if (len > sizeof(a.sa.sun_path))
                        return -EINVAL;
                full = malloc(len);
                if (!full)
                        return -ENOMEM;
                memcpy(full, path, len);
                full_len = len;
        } else {
                if (strlen(path) != len)
                        return -EINVAL;
                if (path[0] == '/') {
                        full = strdup(path);
                } else {
                        char link[64];
                        ssize_t n;

                        if (c->pid <= 0)
                                return -ENOENT;
                        (void)snprintf(link, sizeof(link), "/proc/%d/cwd", (int)c->pid);
                        n = readlink(link, cwd, sizeof(cwd) - 1);
                        if (n < 0)
                                return -errno;
                        cwd[n] = '\0';
                        if (asprintf(&full, "%s/%s", cwd, path) < 0)
                                full = NULL;
                }
                if (!full)
                        return -ENOMEM;
                full_len = strlen(full);
                /* sun_path needs room for the terminating NUL here. */
                if (full_len >= sizeof(a.sa.sun_path)) {
                        free(full);
                        return -EINVAL;
                }
        }
        memcpy(a.sa.sun_path, full, full_len);
        a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + full_len +
                            (full[0] == '\0' ? 0 : 1));
        a.path = full;
        a.path_len = full_len;
        *ret = a;
        return 0;
}

void netd_ipc_addr_done(struct netd_ipc_addr *a)
{
        free(a->path);
        a->path = NULL;
        a->path_len = 0;
}
