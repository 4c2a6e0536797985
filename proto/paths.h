/* Where the control socket lives by default, per the wire conventions. */
#pragma once

#include <stddef.h>

#define NETD_SOCKET_PATH_SYSTEM "/run/netd/netd.sock"

/*
 * Writes the default control socket path into buf: $NETD_SOCKET if set; else
 * $XDG_RUNTIME_DIR/netd/netd.sock for an unprivileged user (uid != 0) whose
 * XDG_RUNTIME_DIR is set; else /run/netd/netd.sock. Returns 0, or -ENAMETOOLONG
 * when it does not fit in size bytes.
 */
int netd_default_socket_path(char *buf, size_t size);
