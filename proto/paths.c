/* The default control socket path (see paths.h). Reads the environment only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "paths.h"

int netd_default_socket_path(char *buf, size_t size)
{
        const char *env = secure_getenv("NETD_SOCKET");
        const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
        int n;

        if (env && *env)
                n = snprintf(buf, size, "%s", env);
        else if (geteuid() != 0 && xdg && *xdg)
                n = snprintf(buf, size, "%s/netd/netd.sock", xdg);
        else
                n = snprintf(buf, size, "%s", NETD_SOCKET_PATH_SYSTEM);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}
