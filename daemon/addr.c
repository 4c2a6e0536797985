/* Address conversions (see addr.h). No state, no I/O but getsockname/getpeername. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

int netd_addr_from_sockaddr(const struct sockaddr *sa, struct netd_addr *ret)
{
        struct netd_addr a = { .family = 0 };

        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

                inet_ntop(AF_INET, &in->sin_addr, a.address, sizeof(a.address));
                a.port = ntohs(in->sin_port);
                a.family = 4;
        } else if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

                inet_ntop(AF_INET6, &in6->sin6_addr, a.address, sizeof(a.address));
                a.port = ntohs(in6->sin6_port);
                a.family = 6;
        } else {
                return -EAFNOSUPPORT;
        }
        *ret = a;
        return 0;
}

int netd_addr_of_fd(int fd, bool peer, struct netd_addr *ret)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int r;

        r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                 : getsockname(fd, (struct sockaddr *)&ss, &len);
        if (r < 0)
                return -errno;
        return netd_addr_from_sockaddr((struct sockaddr *)&ss, ret);
}

int netd_addr_to_sockaddr(const char *ip, int port, struct sockaddr_storage *ret,
                          socklen_t *ret_len)
{
        struct sockaddr_in *in = (struct sockaddr_in *)ret;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;
        char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
        char *zone;

        memset(ret, 0, sizeof(*ret));
        if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
                in->sin_family = AF_INET;
                in->sin_port = htons((uint16_t)port);
                *ret_len = sizeof(*in);
                return 0;
        }
        if (strlen(ip) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, ip);
        zone = strchr(buf, '%');
        if (zone)
                *zone++ = '\0';
        if (inet_pton(AF_INET6, buf, &in6->sin6_addr) != 1)
                return -EINVAL;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        if (zone)
                in6->sin6_scope_id = if_nametoindex(zone);
        *ret_len = sizeof(*in6);
        return 0;
}

const char *netd_addr_family_name(int family)
{
        return family == 4 ? "IPv4" : family == 6 ? "IPv6" : NULL;
}

json_t *netd_addr_to_json(const struct netd_addr *a)
{
        if (a->family == 0)
                return json_null();
        return json_pack("{s:s,s:s,s:i}", "address", a->address, "family",
                         netd_addr_family_name(a->family), "port", a->port);
}

int netd_addr_set_fields(json_t *o, const char *prefix, const struct netd_addr *a)
{
        static const char *const suffixes[] = { "Address", "Port", "Family" };
        json_t *values[3];
        int r = 0;

        values[0] = a->family ? json_string(a->address) : json_null();
        values[1] = a->family ? json_integer(a->port) : json_null();
        values[2] = a->family ? json_string(netd_addr_family_name(a->family)) : json_null();
        for (size_t i = 0; i < 3; i++) {
                char key[32];

                (void)snprintf(key, sizeof(key), "%s%s", prefix, suffixes[i]);
                if (json_object_set_new(o, key, values[i]) < 0)
                        r = -ENOMEM;
        }
        return r;
}
