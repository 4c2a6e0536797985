/*
 * What the kernel says of a UNIX stream socket's other end, through
 * NETLINK_SOCK_DIAG (unix_diag(7), what `ss -x` shows): the bytes the
 * peer has not read yet. A session's connection (session.h) uses it to
 * keep, and give to its session if the client dies, the lines it wrote
 * that the client never read (conn.c).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* A NETLINK_SOCK_DIAG socket (close-on-exec), or -errno (EAFNOSUPPORT under a filter). */
int netd_unixdiag_open(void);

/* The inode of the socket at the other end of the connected UNIX socket fd: 0 or -errno. */
int netd_unixdiag_peer(int diag, int fd, uint64_t *ret_ino);

/* Bytes in the receive queue of the UNIX socket with inode ino, not yet read: 0 or -errno. */
int netd_unixdiag_unread(int diag, uint64_t ino, uint32_t *ret_bytes);
