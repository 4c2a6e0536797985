/*
 * Client-to-peer admission: the bytes waiting in sockets' unsent queues are
 * counted per socket, per control connection, per peer uid and for the
 * whole daemon, and
 * a write that would take any of them past its limit is refused. The counts
 * live here and nowhere else; sockets report their queue's size after every
 * change (netd_flow_account). Peer-to-client flow (a connection's output
 * pausing its sockets) is conn.c's.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct netd_owner;
struct netd_daemon;

/* Which limit a refused write hit: its name (PROTOCOL.md §13, §15.4) and its value. */
struct netd_flow_refusal {
        const char *limit; /* "write_hard_bytes", "conn_write_bytes", "bufferedBytesPerUid"
                              (the owner's uid) or "total_write_bytes" */
        uint64_t max;
        uint64_t queued; /* what that limit counted before the write */
};

/*
 * May len more bytes join a socket queue holding queued bytes, owned by c
 * (NULL: none)? Returns 0, or -ENOBUFS and fills *ret with the limit.
 */
int netd_flow_admit(const struct netd_daemon *d, const struct netd_owner *c, size_t queued,
                    size_t len, struct netd_flow_refusal *ret);

/*
 * A socket's queue now holds now bytes where *counted were counted: the
 * connection's (c may be NULL) and the daemon's counts follow, and *counted
 * becomes now. Call with now 0 when the socket leaves its owner or dies.
 */
void netd_flow_account(struct netd_daemon *d, struct netd_owner *c, size_t *counted, size_t now);
