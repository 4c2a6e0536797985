/*
 * The policy file parser (see config.h). The format, INI-like:
 *
 *   # comment (also ';'); blank lines are ignored; keys are case-sensitive
 *   [global]
 *   adminGroup = netdadm            # sees every figure in netd.info, uses reserved slots
 *   [default]                       # applies to every user but root
 *   listen  = ADDR[/BITS] PORTS     # repeatable; makes listening an allow list
 *   connect = ADDR[/BITS] PORTS     # repeatable; makes connecting an allow list
 *   handlesPerUid = 256             # quotas: handlesPerUid, maxClientsPerUid, lookupsPerUid,
 *                                   #   bufferedBytesPerUid
 *   [user:NAME] or [user:UID]       # grants for one user
 *   [group:NAME] or [group:GID]     # grants for members (primary or supplementary)
 *   listen = * 80,443               # ADDR "*" is any address; PORTS "*", "N", "N-M", lists
 *   connect = 10.0.0.0/8 5432
 *   unix = /run/app/                # UNIX paths right under this prefix: netd's group lent
 *   inherit = web                   # may take systemd's socket "web" (listen {handle:{name}})
 *   handlesPerUid = 4096
 *
 * Names are looked up (getpwnam/getgrnam) when the file is read. Grants add
 * up over every section that applies; a quota comes from the user's
 * section, else the highest of its groups', else [default], else --limit.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define POLICY_FILE_MAX_BYTES (1024 * 1024)

static const char *const quota_names[_NETD_QUOTA_MAX] = {
        [NETD_QUOTA_HANDLES] = "handlesPerUid",
        [NETD_QUOTA_CLIENTS] = "maxClientsPerUid",
        [NETD_QUOTA_LOOKUPS] = "lookupsPerUid",
        [NETD_QUOTA_BUFFERED] = "bufferedBytesPerUid",
};

const char *netd_quota_to_string(enum netd_quota q)
{
        if (q < 0 || q >= _NETD_QUOTA_MAX)
                return NULL;
        return quota_names[q];
}

static void section_done(struct netd_policy_section *s)
{
        free(s->name);
        free(s->listen);
        free(s->connect);
        for (size_t i = 0; i < s->n_unix; i++)
                free(s->unix_prefixes[i]);
        free(s->unix_prefixes);
        for (size_t i = 0; i < s->n_inherit; i++)
                free(s->inherit[i]);
        free(s->inherit);
}

struct netd_policy *netd_policy_free(struct netd_policy *p)
{
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_sections; i++)
                section_done(&p->sections[i]);
        free(p->sections);
        free(p->path);
        free(p);
        return NULL;
}

static int fail(char *err, size_t errlen, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, unsigned line, const char *fmt, ...)
{
        va_list ap;
        int n = line ? snprintf(err, errlen, "line %u: ", line) : 0;

        if (n < 0 || (size_t)n >= errlen)
                return -EINVAL;
        va_start(ap, fmt);
        (void)vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static char *trim(char *s)
{
        char *end;

        while (isspace((unsigned char)*s))
                s++;
        end = s + strlen(s);
        while (end > s && isspace((unsigned char)end[-1]))
                *--end = '\0';
        return s;
}

/* A decimal number in [0, max]. Returns 0 or -EINVAL. */
static int parse_uint(const char *s, unsigned long long max, unsigned long long *ret)
{
        char *end;
        unsigned long long v;

        if (!isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_address(const char *s, struct netd_net_rule *r)
{
        char buf[64], *slash;
        unsigned long long bits;
        unsigned maxbits;

        if (strcmp(s, "*") == 0) {
                r->family = 0;
                r->prefix = 0;
                return 0;
        }
        if (strlen(s) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, s);
        slash = strchr(buf, '/');
        if (slash)
                *slash = '\0';
        if (inet_pton(AF_INET, buf, r->addr) == 1) {
                r->family = AF_INET;
                maxbits = 32;
        } else if (inet_pton(AF_INET6, buf, r->addr) == 1) {
                r->family = AF_INET6;
                maxbits = 128;
        } else {
                return -EINVAL;
        }
        if (!slash) {
                r->prefix = maxbits;
                return 0;
        }
        if (parse_uint(slash + 1, maxbits, &bits) < 0)
                return -EINVAL;
        r->prefix = (unsigned)bits;
        return 0;
}

/* Appends one rule per port range of ports ("*", "80", "80-90", "80,443,8000-8100"). */
static int parse_net_rules(char *value, struct netd_net_rule **rules, size_t *n, char *err,
                           size_t errlen, unsigned line)
{
        struct netd_net_rule base = { .family = 0 };
        char *addr = value, *ports, *save = NULL, *tok;

        ports = addr + strcspn(addr, " \t");
        if (!*ports)
                return fail(err, errlen, line, "expected \"ADDRESS[/BITS] PORTS\", e.g. \"* 80\"");
        *ports++ = '\0';
        ports = trim(ports);
        if (parse_address(addr, &base) < 0)
                return fail(err, errlen, line, "'%s' is not an IP address, ADDRESS/BITS or \"*\"",
                            addr);
        for (tok = strtok_r(ports, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                struct netd_net_rule r = base, *grown;
                unsigned long long lo, hi;
                char *dash;

                tok = trim(tok);
                if (strcmp(tok, "*") == 0) {
                        lo = 0;
                        hi = 65535;
                } else {
                        dash = strchr(tok, '-');
                        if (dash)
                                *dash = '\0';
                        if (parse_uint(trim(tok), 65535, &lo) < 0 ||
                            (dash && parse_uint(trim(dash + 1), 65535, &hi) < 0))
                                return fail(err, errlen, line,
                                            "ports must be \"*\", N, N-M or a comma list of "
                                            "them, each 0-65535");
                        if (!dash)
                                hi = lo;
                        if (hi < lo)
                                return fail(err, errlen, line, "port range %llu-%llu is empty", lo,
                                            hi);
                }
                r.port_lo = (uint16_t)lo;
                r.port_hi = (uint16_t)hi;
                grown = realloc(*rules, (*n + 1) * sizeof(**rules));
                if (!grown)
                        return -ENOMEM;
                *rules = grown;
                (*rules)[(*n)++] = r;
        }
        return 0;
}

static int push_string(char ***list, size_t *n, const char *s)
{
        char **grown = realloc(*list, (*n + 1) * sizeof(**list));

        if (!grown)
                return -ENOMEM;
        *list = grown;
        grown[*n] = strdup(s);
        if (!grown[*n])
                return -ENOMEM;
        (*n)++;
        return 0;
}

static int lookup_id(bool user, const char *name, uint32_t *ret)
{
        unsigned long long v;

        if (parse_uint(name, UINT32_MAX - 1, &v) == 0) {
                *ret = (uint32_t)v;
                return 0;
        }
        if (user) {
                struct passwd *pw = getpwnam(name);

                if (!pw)
                        return -ENOENT;
                *ret = pw->pw_uid;
        } else {
                struct group *gr = getgrnam(name);

                if (!gr)
                        return -ENOENT;
                *ret = gr->gr_gid;
        }
        return 0;
}

static int parse_header(struct netd_policy *p, char *h, char *err, size_t errlen, unsigned line)
{
        struct netd_policy_section s = { .kind = _NETD_SECTION_KIND_INVALID }, *grown;

        for (int i = 0; i < _NETD_QUOTA_MAX; i++)
                s.quota[i] = -1;
        if (strcmp(h, "global") == 0) {
                s.kind = NETD_SECTION_GLOBAL;
        } else if (strcmp(h, "default") == 0) {
                s.kind = NETD_SECTION_DEFAULT;
        } else if (strncmp(h, "user:", 5) == 0 || strncmp(h, "group:", 6) == 0) {
                bool user = h[0] == 'u';
                const char *name = trim(h + (user ? 5 : 6));

                s.kind = user ? NETD_SECTION_USER : NETD_SECTION_GROUP;
                if (!*name || lookup_id(user, name, &s.id) < 0)
                        return fail(err, errlen, line, "no such %s '%s'", user ? "user" : "group",
                                    name);
        } else {
                return fail(err, errlen, line,
                            "unknown section [%s]: expected [global], [default], [user:NAME] "
                            "or [group:NAME]",
                            h);
        }
        grown = realloc(p->sections, (p->n_sections + 1) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        p->sections = grown;
        s.name = strdup(h);
        if (!s.name)
                return -ENOMEM;
        p->sections[p->n_sections++] = s;
        return 0;
}

static int parse_entry(struct netd_policy *p, char *key, char *value, char *err, size_t errlen,
                       unsigned line)
{
        struct netd_policy_section *s;
        unsigned long long v;

        if (p->n_sections == 0)
                return fail(err, errlen, line, "'%s' outside a section", key);
        s = &p->sections[p->n_sections - 1];
        if (s->kind == NETD_SECTION_GLOBAL) {
                if (strcmp(key, "adminGroup") == 0) {
                        uint32_t gid;

                        if (lookup_id(false, value, &gid) < 0)
                                return fail(err, errlen, line, "no such group '%s'", value);
                        p->has_admin_group = true;
                        p->admin_gid = gid;
                        return 0;
                }
                return fail(err, errlen, line, "unknown key '%s' in [global] (adminGroup)", key);
        }
        if (strcmp(key, "listen") == 0)
                return parse_net_rules(value, &s->listen, &s->n_listen, err, errlen, line);
        if (strcmp(key, "connect") == 0)
                return parse_net_rules(value, &s->connect, &s->n_connect, err, errlen, line);
        if (strcmp(key, "unix") == 0) {
                if (value[0] != '/' || strstr(value, "/../") || strstr(value, "/./") ||
                    (strlen(value) >= 3 && strcmp(value + strlen(value) - 3, "/..") == 0))
                        return fail(err, errlen, line,
                                    "unix takes an absolute path without '.' or '..' parts");
                return push_string(&s->unix_prefixes, &s->n_unix, value);
        }
        if (strcmp(key, "inherit") == 0)
                return push_string(&s->inherit, &s->n_inherit, value);
        for (int q = 0; q < _NETD_QUOTA_MAX; q++) {
                unsigned long long max = q == NETD_QUOTA_BUFFERED ? UINT32_MAX - 1 : 10000000;

                if (strcmp(key, quota_names[q]) != 0)
                        continue;
                if (parse_uint(value, max, &v) < 0 || v == 0)
                        return fail(err, errlen, line, "%s takes 1 to %llu", key, max);
                s->quota[q] = (int64_t)v;
                return 0;
        }
        return fail(err, errlen, line,
                    "unknown key '%s' (listen, connect, unix, inherit, handlesPerUid, "
                    "maxClientsPerUid, lookupsPerUid, bufferedBytesPerUid)",
                    key);
}

int netd_policy_parse(const char *text, size_t len, struct netd_policy **ret, char *err,
                      size_t errlen)
{
        struct netd_policy *p = calloc(1, sizeof(*p));
        char *buf = malloc(len + 1), *line, *save = NULL;
        unsigned lineno = 0;
        int r = 0;

        if (!p || !buf) {
                free(buf);
                netd_policy_free(p);
                return -ENOMEM;
        }
        memcpy(buf, text, len);
        buf[len] = '\0';
        if (memchr(text, '\0', len)) {
                r = fail(err, errlen, 0, "the file contains a NUL byte");
                goto out;
        }
        /* strtok_r would skip empty lines and so miscount: split by hand. */
        for (line = buf; line && r == 0; line = save) {
                char *nl = strchr(line, '\n'), *s, *eq;

                save = nl ? nl + 1 : NULL;
                if (nl)
                        *nl = '\0';
                lineno++;
                s = line + strcspn(line, "#;");
                *s = '\0';
                s = trim(line);
                if (!*s)
                        continue;
                if (*s == '[') {
                        char *close = strchr(s, ']');

                        if (!close || *trim(close + 1))
                                r = fail(err, errlen, lineno, "a section header is \"[name]\"");
                        else {
                                *close = '\0';
                                r = parse_header(p, trim(s + 1), err, errlen, lineno);
                        }
                        continue;
                }
                eq = strchr(s, '=');
                if (!eq) {
                        r = fail(err, errlen, lineno, "expected \"key = value\"");
                        continue;
                }
                *eq = '\0';
                if (!*trim(s) || !*trim(eq + 1)) {
                        r = fail(err, errlen, lineno, "expected \"key = value\"");
                        continue;
                }
                r = parse_entry(p, trim(s), trim(eq + 1), err, errlen, lineno);
        }
out:
        free(buf);
        if (r < 0) {
                if (r == -ENOMEM)
                        (void)fail(err, errlen, 0, "out of memory");
                netd_policy_free(p);
                return r;
        }
        for (size_t i = 0; i < p->n_sections; i++) {
                if (p->sections[i].kind != NETD_SECTION_DEFAULT)
                        continue;
                p->listen_restricted |= p->sections[i].n_listen > 0;
                p->connect_restricted |= p->sections[i].n_connect > 0;
        }
        *ret = p;
        return 0;
}

int netd_policy_load(const char *path, bool missing_ok, struct netd_policy **ret, char *err,
                     size_t errlen)
{
        FILE *f = fopen(path, "re");
        char *text;
        size_t n;
        int r;

        if (!f) {
                r = -errno;
                if (r == -ENOENT && missing_ok)
                        return netd_policy_parse("", 0, ret, err, errlen);
                (void)fail(err, errlen, 0, "%s", strerror(-r));
                return r;
        }
        text = malloc(POLICY_FILE_MAX_BYTES + 1);
        if (!text) {
                fclose(f);
                return -ENOMEM;
        }
        n = fread(text, 1, POLICY_FILE_MAX_BYTES + 1, f);
        r = ferror(f) ? -EIO : 0;
        fclose(f);
        if (r == 0 && n > POLICY_FILE_MAX_BYTES)
                r = fail(err, errlen, 0, "larger than %d bytes", POLICY_FILE_MAX_BYTES);
        else if (r < 0)
                (void)fail(err, errlen, 0, "read error");
        if (r == 0)
                r = netd_policy_parse(text, n, ret, err, errlen);
        free(text);
        if (r == 0) {
                (*ret)->path = strdup(path);
                if (!(*ret)->path) {
                        *ret = netd_policy_free(*ret);
                        return -ENOMEM;
                }
        }
        return r;
}

bool netd_net_rule_match(const struct netd_net_rule *r, const struct sockaddr *sa)
{
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        const uint8_t *a;
        int family = sa->sa_family;
        unsigned port, full, rest;

        if (family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

                a = (const uint8_t *)&in->sin_addr;
                port = ntohs(in->sin_port);
        } else if (family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

                a = in6->sin6_addr.s6_addr;
                port = ntohs(in6->sin6_port);
                if (memcmp(a, mapped, sizeof(mapped)) == 0) {
                        a += 12; /* ::ffff:a.b.c.d is a.b.c.d */
                        family = AF_INET;
                }
        } else {
                return false;
        }
        if (port < r->port_lo || port > r->port_hi)
                return false;
        if (r->family == 0)
                return true;
        if (r->family != family)
                return false;
        full = r->prefix / 8;
        rest = r->prefix % 8;
        if (memcmp(a, r->addr, full) != 0)
                return false;
        return rest == 0 || ((a[full] ^ r->addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}
