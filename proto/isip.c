/*
 * Node's net.isIP()/isIPv4()/isIPv6(), hand-written from the IPv4Reg and
 * IPv6Reg regexes of Node's lib/internal/net.js (checked against node v20).
 * Pure functions over (pointer, length); no state, no allocation, and one
 * linear pass over the input, so hostile lengths cost nothing special.
 */
#include <string.h>

#include "isip.h"

/*
 * The regexes, for reference (v4Seg, v4Str and v6Seg as named in Node):
 *
 *   v4Seg  = (?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])
 *   v4Str  = (?:v4Seg\.){3}v4Seg               IPv4Reg = ^v4Str$
 *   v6Seg  = (?:[0-9a-fA-F]{1,4})
 *   IPv6Reg = ^(?:(?:v6Seg:){7}(?:v6Seg|:)|
 *                 (?:v6Seg:){6}(?:v4Str|:v6Seg|:)|
 *                 (?:v6Seg:){5}(?::v4Str|(?::v6Seg){1,2}|:)|
 *                 (?:v6Seg:){4}(?:(?::v6Seg){0,1}:v4Str|(?::v6Seg){1,3}|:)|
 *                 ...
 *                 (?::(?:(?::v6Seg){0,5}:v4Str|(?::v6Seg){1,7}|:))
 *             )(?:%[0-9a-zA-Z-.:]{1,})?$
 *
 * Spelled out, the alternatives accept exactly:
 *   - eight groups and no "::", or six groups then a dotted quad;
 *   - one "::" with k groups before it and r after it (a trailing dotted
 *     quad counting as two), where k + r <= 7;
 * followed by an optional zone id: '%' and at least one of [0-9a-zA-Z-.:].
 * A group is 1 to 4 hex digits, either case. JavaScript's '$' (no 'm' flag)
 * only matches at the very end, so a trailing "\n" is invalid too.
 */

static bool isip_is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool isip_is_hex(char c)
{
        return isip_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool isip_is_zone_char(char c)
{
        return isip_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
               c == '.' || c == ':';
}

/* One v4Seg: 0-255 in decimal, without leading zeros ("0" itself is fine). */
static bool isip_v4_seg(const char *s, size_t len)
{
        unsigned v = 0;
        size_t i;

        if (len < 1 || len > 3)
                return false;
        if (len > 1 && s[0] == '0')
                return false;
        for (i = 0; i < len; i++) {
                if (!isip_is_digit(s[i]))
                        return false;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        return v <= 255;
}

bool netd_isipv4(const char *s, size_t len)
{
        size_t seg = 0, nseg = 0, i;

        /* The longest match is "255.255.255.255"; bail out early on anything longer. */
        if (!s || len < 7 || len > 15)
                return false;
        for (i = 0; i <= len; i++) {
                if (i < len && s[i] != '.')
                        continue;
                if (!isip_v4_seg(s + seg, i - seg))
                        return false;
                nseg++;
                seg = i + 1;
        }
        return nseg == 4;
}

/*
 * Counts the groups of a "::"-free run of the form g(:g)*, where only the last
 * element may be a dotted quad (worth two groups). The run must not be empty.
 * Returns the group count or -1.
 */
static int isip_v6_groups(const char *s, size_t len)
{
        size_t seg = 0, i;
        int n = 0;

        for (i = 0; i <= len; i++) {
                if (i < len && s[i] != ':')
                        continue;
                if (i == len && memchr(s + seg, '.', len - seg)) {
                        if (!netd_isipv4(s + seg, len - seg))
                                return -1;
                        return n + 2;
                }
                if (i - seg < 1 || i - seg > 4)
                        return -1;
                for (size_t j = seg; j < i; j++) {
                        if (!isip_is_hex(s[j]))
                                return -1;
                }
                n++;
                /* Bounds the work: no valid run holds more than eight groups. */
                if (n > 8)
                        return -1;
                seg = i + 1;
        }
        return n;
}

bool netd_isipv6(const char *s, size_t len)
{
        const char *pct, *dc;
        size_t alen, i;
        int left, right;

        if (!s || len < 2)
                return false;
        /* The zone id starts at the first '%': no other part may hold one. */
        pct = memchr(s, '%', len);
        alen = pct ? (size_t)(pct - s) : len;
        if (pct) {
                if (alen + 1 == len)
                        return false; /* "%" with an empty zone */
                for (i = alen + 1; i < len; i++) {
                        if (!isip_is_zone_char(s[i]))
                                return false;
                }
        }

        dc = memmem(s, alen, "::", 2);
        if (!dc) {
                /* Eight groups, or six and a dotted quad: exactly eight either way. */
                return alen > 0 && isip_v6_groups(s, alen) == 8;
        }

        /* At most one "::"; both sides are plain runs (a dotted quad only on the right). */
        left = 0;
        if (dc > s) {
                size_t llen = (size_t)(dc - s);

                if (memchr(s, '.', llen))
                        return false;
                left = isip_v6_groups(s, llen);
                if (left < 0)
                        return false;
        }
        right = 0;
        if ((size_t)(dc + 2 - s) < alen) {
                const char *r = dc + 2;
                size_t rlen = alen - (size_t)(r - s);

                /* Also rejects ":::" and a second "::", which leave an empty element. */
                right = isip_v6_groups(r, rlen);
                if (right < 0)
                        return false;
        }
        return left + right <= 7;
}

int netd_isip(const char *s, size_t len)
{
        if (netd_isipv4(s, len))
                return 4;
        if (netd_isipv6(s, len))
                return 6;
        return 0;
}
