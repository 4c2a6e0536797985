/*
 * pingpong: the raw control-plane baseline. A UNIX stream server at PATH
 * that accepts one connection and echoes every complete line back (no
 * parsing), until EOF. Prints "READY" once listening. rpc-bench --raw
 * drives it exactly as it drives netd.
 *   pingpong --listen PATH [--timeout S]
 */
#include "common.h"

int main(int argc, char **argv)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path;
        size_t cap = 1 << 20, have = 0;
        char *buf = malloc(cap);
        int lfd, fd;

        bench_init("pingpong", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        path = arg_get(argc, argv, "--listen", NULL);
        if (!path || strlen(path) >= sizeof(sa.sun_path))
                die("--listen PATH required");
        strcpy(sa.sun_path, path);
        unlink(path);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0)
                die("listen %s: %s", path, strerror(errno));
        printf("READY\n");
        fflush(stdout);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                die("accept: %s", strerror(errno));
        close(lfd);
        unlink(path);
        for (;;) {
                size_t n = read_some(fd, buf + have, cap - have);
                char *nl;

                if (n == 0)
                        break;
                have += n;
                nl = memrchr(buf, '\n', have);
                if (nl) {
                        size_t len = (size_t)(nl - buf) + 1;

                        write_all(fd, buf, len);
                        memmove(buf, buf + len, have - len);
                        have -= len;
                } else if (have == cap) {
                        die("line too long");
                }
        }
        close(fd);
        return 0;
}
