/* Socket addresses as Node shows them: {address, family, port}. Pure helpers. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

#include <jansson.h>

struct netd_addr {
        char address[64]; /* numeric, without brackets or zone; "" when unknown */
        int port;
        int family; /* 4, 6, or 0 when unknown */
};

/* Fills *ret from an AF_INET/AF_INET6 sockaddr. Returns 0 or -EAFNOSUPPORT. */
int netd_addr_from_sockaddr(const struct sockaddr *sa, struct netd_addr *ret);

/* getsockname() (peer false) or getpeername() (peer true) of fd. Returns 0 or -errno. */
int netd_addr_of_fd(int fd, bool peer, struct netd_addr *ret);

/*
 * Builds a sockaddr for a numeric IPv4 or IPv6 address (an IPv6 zone id is
 * resolved to its interface index). Returns 0 or -EINVAL.
 */
int netd_addr_to_sockaddr(const char *ip, int port, struct sockaddr_storage *ret,
                          socklen_t *ret_len);

/* "IPv4" or "IPv6" (NULL for 0). */
const char *netd_addr_family_name(int family);

/*
 * Sets "<prefix>Address", "<prefix>Port" and "<prefix>Family" on o (Node's
 * socket property names: prefix "local" or "remote"), JSON null when unknown
 * (IPC sockets have no address, as in Node). Returns 0 or -ENOMEM.
 */
int netd_addr_set_fields(json_t *o, const char *prefix, const struct netd_addr *a);

/* {"address":…,"family":"IPv4"|"IPv6","port":…}, or JSON null when unknown. */
json_t *netd_addr_to_json(const struct netd_addr *a);
