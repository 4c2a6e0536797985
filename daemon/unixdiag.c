/*
 * NETLINK_SOCK_DIAG for UNIX sockets (unixdiag.h): one request, one reply,
 * answered by the kernel before send() returns, so the reads don't block.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unixdiag.h"

static uint32_t unixdiag_seq; /* the last query's nlmsg_seq */

int netd_unixdiag_open(void)
{
        int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

        return fd < 0 ? -errno : fd;
}

/* Asks for the socket with inode ino's attributes show; copies attribute want to out. */
static int unixdiag_query(int diag, uint64_t ino, uint32_t show, uint16_t want, void *out,
                          size_t out_len)
{
        struct {
                struct nlmsghdr nlh;
                struct unix_diag_req r;
        } req = {
                .nlh = { .nlmsg_len = sizeof(req),
                         .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                         .nlmsg_flags = NLM_F_REQUEST },
                .r = { .sdiag_family = AF_UNIX,
                       .udiag_ino = (uint32_t)ino,
                       .udiag_show = show,
                       .udiag_cookie = { ~0U, ~0U } },
        };
        union {
                struct nlmsghdr align;
                char buf[1024];
        } rep;
        struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
        ssize_t n;
        int len;

        /*
         * A reply left behind by an interrupted query would answer the next
         * one: each query has its own sequence number, and replies to
         * others are read past. The kernel answers within sendto().
         */
        req.nlh.nlmsg_seq = ++unixdiag_seq;
        while (recv(diag, rep.buf, sizeof(rep.buf), MSG_DONTWAIT) > 0)
                ; /* stale replies */
        if (sendto(diag, &req, sizeof(req), 0, (struct sockaddr *)&nl, sizeof(nl)) < 0)
                return -errno;
again:
        n = recv(diag, rep.buf, sizeof(rep.buf), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
                goto again;
        if (n < 0)
                return -errno;
        len = (int)n;
        if (len >= (int)sizeof(struct nlmsghdr) && rep.align.nlmsg_seq != req.nlh.nlmsg_seq)
                goto again;
        for (struct nlmsghdr *h = &rep.align; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
                const struct unix_diag_msg *m = NLMSG_DATA(h);
                const char *p = (const char *)(m + 1), *end = (const char *)h + h->nlmsg_len;

                if (h->nlmsg_type == NLMSG_ERROR) {
                        const struct nlmsgerr *e = NLMSG_DATA(h);

                        return e->error ? e->error : -EIO;
                }
                if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || m->udiag_ino != (uint32_t)ino)
                        continue;
                while (p + NLA_HDRLEN <= end) {
                        const struct nlattr *a = (const struct nlattr *)p;

                        if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
                                break;
                        if ((a->nla_type & NLA_TYPE_MASK) == want &&
                            (size_t)(a->nla_len - NLA_HDRLEN) >= out_len) {
                                memcpy(out, p + NLA_HDRLEN, out_len);
                                return 0;
                        }
                        p += NLA_ALIGN(a->nla_len);
                }
                return -ENODATA;
        }
        return -ENOENT;
}

int netd_unixdiag_peer(int diag, int fd, uint64_t *ret_ino)
{
        struct stat st;
        uint32_t peer = 0;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        r = unixdiag_query(diag, (uint64_t)st.st_ino, UDIAG_SHOW_PEER, UNIX_DIAG_PEER, &peer,
                           sizeof(peer));
        if (r < 0)
                return r;
        *ret_ino = peer;
        return 0;
}

int netd_unixdiag_unread(int diag, uint64_t ino, uint32_t *ret_bytes)
{
        struct unix_diag_rqlen rq;
        int r = unixdiag_query(diag, ino, UDIAG_SHOW_RQLEN, UNIX_DIAG_RQLEN, &rq, sizeof(rq));

        if (r < 0)
                return r;
        *ret_bytes = rq.udiag_rqueue;
        return 0;
}
