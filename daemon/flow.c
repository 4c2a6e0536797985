/*
 * Client-to-peer admission (see flow.h). A refusal never parks anything:
 * the caller answers the write with ERR_NETD_LIMIT (or, for a notification,
 * destroys that one socket), and every other request keeps being read.
 */
#include <errno.h>

#include "auth.h"
#include "daemon.h"
#include "flow.h"
#include "owner.h"

static int flow_refuse(struct netd_flow_refusal *ret, const char *limit, size_t max, size_t queued)
{
        *ret = (struct netd_flow_refusal){ .limit = limit, .max = max, .queued = queued };
        return -ENOBUFS;
}

int netd_flow_admit(const struct netd_daemon *d, const struct netd_owner *c, size_t queued,
                    size_t len, struct netd_flow_refusal *ret)
{
        const struct netd_limits *l = &d->limits;

        if (len > l->write_hard_bytes || queued > l->write_hard_bytes - len)
                return flow_refuse(ret, "write_hard_bytes", l->write_hard_bytes, queued);
        if (c && (len > l->conn_write_bytes || c->queued_bytes > l->conn_write_bytes - len))
                return flow_refuse(ret, "conn_write_bytes", l->conn_write_bytes, c->queued_bytes);
        if (c) {
                /* bufferedBytesPerUid (PROTOCOL.md §15.4), none for root and the admins. */
                unsigned quota = netd_auth_quota(d, &c->cred, NETD_QUOTA_BUFFERED);
                const struct netd_uid_usage *u = netd_auth_usage_find(d, c->cred.uid);
                size_t held = u ? u->queued_bytes : 0;

                if (quota != UINT32_MAX && (len > quota || held > quota - len))
                        return flow_refuse(ret, "bufferedBytesPerUid", quota, held);
        }
        if (len > l->total_write_bytes || d->queued_bytes > l->total_write_bytes - len)
                return flow_refuse(ret, "total_write_bytes", l->total_write_bytes, d->queued_bytes);
        return 0;
}

void netd_flow_account(struct netd_daemon *d, struct netd_owner *c, size_t *counted, size_t now)
{
        if (now == *counted)
                return;
        if (c) {
                struct netd_uid_usage *u = netd_auth_usage(d, c->cred.uid);

                c->queued_bytes = c->queued_bytes - *counted + now;
                /* Without memory for the uid's entry its count is skipped, never wrapped. */
                if (u)
                        u->queued_bytes = u->queued_bytes >= *counted
                                                  ? u->queued_bytes - *counted + now
                                                  : now;
        }
        d->queued_bytes = d->queued_bytes - *counted + now;
        *counted = now;
}
