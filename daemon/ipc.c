/*
 * IPC address resolution (see ipc.h). A relative path is resolved against
 * the client's working directory at request time: the directory is opened
 * through the connecting process's pidfd (auth.h) and the address names it
 * as /proc/self/fd/N/<path>, so neither a later chdir of netd nor a
 * recycled pid can redirect it. The reported path is that directory's
 * name joined to the client's path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "ipc.h"
#include "owner.h"

/* Points a->sa at path (NUL-terminated). Returns 0 or -EINVAL when it does not fit. */
static int ipc_set_sa(struct netd_ipc_addr *a, const char *path)
{
        size_t n = strlen(path);

        if (n >= sizeof(a->sa.sun_path))
                return -EINVAL;
        memset(a->sa.sun_path, 0, sizeof(a->sa.sun_path));
        memcpy(a->sa.sun_path, path, n);
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
}

int netd_ipc_resolve(const struct netd_owner *c, const char *path, size_t len,
                     struct netd_ipc_addr *ret)
{
        struct netd_ipc_addr a = { .sa.sun_family = AF_UNIX, .dirfd = -1, .pin_fd = -1 };
        char *full = NULL;
        size_t full_len;
        int r;

        /* Safe to netd_ipc_addr_done() whatever the outcome. */
        *ret = (struct netd_ipc_addr){ .path = NULL, .dirfd = -1, .pin_fd = -1 };

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
                memcpy(a.sa.sun_path, full, len);
                a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
                a.path = full;
                a.path_len = len;
                *ret = a;
                return 0;
        }
        if (strlen(path) != len)
                return -EINVAL;
        if (path[0] == '/') {
                full = strdup(path);
                if (!full)
                        return -ENOMEM;
                r = ipc_set_sa(&a, full);
        } else {
                char cwd[PATH_MAX], link[64], via[sizeof(a.sa.sun_path) + 64];
                ssize_t n;

                r = netd_auth_open_cwd(c);
                if (r < 0)
                        return r == -ENOMEM || r == -EMFILE || r == -ENFILE ? r : -ESRCH;
                a.dirfd = r;
                (void)snprintf(link, sizeof(link), "/proc/self/fd/%d", a.dirfd);
                n = readlink(link, cwd, sizeof(cwd) - 1);
                if (n < 0) {
                        r = -errno;
                        close(a.dirfd);
                        return r;
                }
                cwd[n] = '\0';
                if (asprintf(&full, "%s%s%s", cwd, n > 1 ? "/" : "", path) < 0) {
                        close(a.dirfd);
                        return -ENOMEM;
                }
                (void)snprintf(via, sizeof(via), "%s/%s", link, path);
                r = strlen(full) >= sizeof(a.sa.sun_path) ? -EINVAL : ipc_set_sa(&a, via);
        }
        full_len = strlen(full);
        a.path = full;
        a.path_len = full_len;
        if (r < 0) {
                netd_ipc_addr_done(&a);
                return r;
        }
        *ret = a;
        return 0;
}

int netd_ipc_pin(struct netd_ipc_addr *a)
{
        char via[64];
        struct stat st;
        int fd;

        if (a->path_len == 0 || a->path[0] == '\0')
                return 0;
        fd = open(a->sa.sun_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
                close(fd);
                return S_ISLNK(st.st_mode) ? -ELOOP : -ECONNREFUSED;
        }
        (void)snprintf(via, sizeof(via), "/proc/self/fd/%d", fd);
        if (a->pin_fd >= 0)
                close(a->pin_fd);
        a->pin_fd = fd;
        return ipc_set_sa(a, via);
}

void netd_ipc_addr_done(struct netd_ipc_addr *a)
{
        free(a->path);
        a->path = NULL;
        a->path_len = 0;
        if (a->dirfd >= 0)
                close(a->dirfd);
        a->dirfd = -1;
        if (a->pin_fd >= 0)
                close(a->pin_fd);
        a->pin_fd = -1;
}

void netd_ipc_explain(json_t *nerr, int err)
{
        const char *msg = json_string_value(json_object_get(nerr, "message"));
        char *text = NULL;

        if (err != -ESRCH || !msg)
                return;
        if (asprintf(&text,
                     "%s: a relative path needs the working directory of the process that "
                     "connected, and netd cannot read it (the process is gone or not dumpable, "
                     "or the kernel gives no pidfd); use an absolute path",
                     msg) < 0)
                return;
        (void)json_object_set_new(nerr, "message", json_string(text));
        free(text);
}
