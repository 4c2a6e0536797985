/*
 * The policy file (/etc/netd/netd.conf, --config PATH): what netd grants
 * users and groups beyond the default policy (auth.h), and their quotas.
 * Parsed by code netd owns; the format is documented in PROTOCOL.md §15
 * ("Access control") and at the top of config.c. A policy is immutable once
 * loaded: SIGHUP loads a new one and swaps it in only if it parsed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* One address range and port range: "10.0.0.0/8 1024-2047". */
struct netd_net_rule {
        int family;       /* AF_INET or AF_INET6; 0: any address of either family */
        uint8_t addr[16]; /* network byte order; 4 bytes used for AF_INET */
        unsigned prefix;  /* bits */
        uint16_t port_lo, port_hi;
};

/* The per-uid quotas a section may set; -1: not set there. */
enum netd_quota {
        NETD_QUOTA_HANDLES,  /* handlesPerUid: live servers and sockets of a uid */
        NETD_QUOTA_CLIENTS,  /* maxClientsPerUid: control connections of a uid */
        NETD_QUOTA_LOOKUPS,  /* lookupsPerUid: host name lookups in flight of a uid */
        NETD_QUOTA_BUFFERED, /* bufferedBytesPerUid: bytes a uid's sockets hold unsent */
        _NETD_QUOTA_MAX,
        _NETD_QUOTA_INVALID = -22,
};

const char *netd_quota_to_string(enum netd_quota q);

enum netd_section_kind {
        NETD_SECTION_GLOBAL,  /* [global]: adminGroup */
        NETD_SECTION_DEFAULT, /* [default]: every user but root */
        NETD_SECTION_USER,    /* [user:NAME] or [user:UID] */
        NETD_SECTION_GROUP,   /* [group:NAME] or [group:GID]: primary or supplementary */
        _NETD_SECTION_KIND_MAX,
        _NETD_SECTION_KIND_INVALID = -22,
};

struct netd_policy_section {
        enum netd_section_kind kind;
        uint32_t id;                            /* uid or gid */
        char *name;                             /* owned: as written, for logs ("user:www-data") */
        struct netd_net_rule *listen, *connect; /* owned */
        size_t n_listen, n_connect;
        char **unix_prefixes; /* owned: each ends in "/" or names one path exactly */
        size_t n_unix;
        char **inherit; /* owned: systemd socket names (server.listen {handle:{name}}) */
        size_t n_inherit;
        int64_t quota[_NETD_QUOTA_MAX];
};

struct netd_policy {
        char *path; /* owned: the file it came from, NULL for the built-in default */
        struct netd_policy_section *sections; /* owned */
        size_t n_sections;
        bool has_admin_group;
        gid_t admin_gid;
        bool listen_restricted;  /* [default] lists listen rules: listening is an allow list */
        bool connect_restricted; /* [default] lists connect rules: connecting is an allow list */
        unsigned generation;     /* set by the daemon: 1 for the first policy, +1 per reload */
};

/*
 * Loads the policy at path. missing_ok: a missing file is the empty policy
 * (the default path). Returns 0, or -errno / -EINVAL with a message naming
 * the line in err.
 */
int netd_policy_load(const char *path, bool missing_ok, struct netd_policy **ret, char *err,
                     size_t errlen);

/* Parses policy text (for the loader and the unit tests). */
int netd_policy_parse(const char *text, size_t len, struct netd_policy **ret, char *err,
                      size_t errlen);

/* Frees p. NULL-safe; returns NULL. */
struct netd_policy *netd_policy_free(struct netd_policy *p);

/* True when sa (AF_INET/AF_INET6; v4-mapped v6 counts as v4) and its port match r. */
bool netd_net_rule_match(const struct netd_net_rule *r, const struct sockaddr *sa);
