/*
 * A fake $NOTIFY_SOCKET for tests (unit/notify, integration/systemd): a
 * UNIX datagram socket bound to a path in a fresh directory or to an
 * abstract name, as systemd's would be, and a non-blocking receive that
 * returns each message with the descriptor it carried (SCM_RIGHTS). The
 * callers do the waiting (poll() on sink->fd, or the harness's pump).
 * Header-only: unit tests do not link the integration harness.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

struct notify_sink {
        int fd;          /* non-blocking SOCK_DGRAM */
        char env[112];   /* the value for $NOTIFY_SOCKET: a path or "@name" */
        char dir[64];    /* the directory of a path socket, "" for an abstract one */
        int64_t last_ms; /* when the kernel queued the last message read (CLOCK_REALTIME ms) */
};

/* Binds a sink (abstract name or a path); fails the test on error. */
static inline void notify_sink_open(struct notify_sink *s, bool abstract)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t len;
        int one = 1;

        memset(s, 0, sizeof(*s));
        s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(s->fd >= 0);
        if (abstract) {
                snprintf(s->env, sizeof(s->env), "@netd-test-notify-%d-%u", (int)getpid(),
                         (unsigned)random());
                memcpy(sa.sun_path, s->env, strlen(s->env));
                sa.sun_path[0] = '\0';
                len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(s->env));
        } else {
                snprintf(s->dir, sizeof(s->dir), "/tmp/netd-notify-XXXXXX");
                assert_non_null(mkdtemp(s->dir));
                snprintf(s->env, sizeof(s->env), "%s/notify", s->dir);
                strcpy(sa.sun_path, s->env);
                len = sizeof(sa);
        }
        if (bind(s->fd, (struct sockaddr *)&sa, len) < 0)
                fail_msg("bind %s: %s", s->env, strerror(errno));
        /* What systemd sets on its own: the kernel attaches the sender's credentials. */
        (void)setsockopt(s->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
        /* The time each message was sent, not when the test got round to reading it. */
        assert_int_equal(setsockopt(s->fd, SOL_SOCKET, SO_TIMESTAMP, &one, sizeof(one)), 0);
}

static inline void notify_sink_close(struct notify_sink *s)
{
        char path[128];

        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        if (s->dir[0]) {
                snprintf(path, sizeof(path), "%s/notify", s->dir);
                (void)unlink(path);
                (void)rmdir(s->dir);
                s->dir[0] = '\0';
        }
}

/*
 * The next message (malloc()ed, NUL-terminated; the caller frees it) or
 * NULL when none is queued. *ret_fd (if not NULL) gets the descriptor it
 * carried, or -1; extra descriptors fail the test.
 */
static inline char *notify_sink_recv(struct notify_sink *s, int *ret_fd)
{
        char buf[4096];
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(4 * sizeof(int)) + CMSG_SPACE(64) +
                       CMSG_SPACE(sizeof(struct timeval))];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
        struct msghdr mh = { .msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control.b,
                             .msg_controllen = sizeof(control.b) };
        ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        int fd = -1;

        if (n < 0) {
                if (errno != EAGAIN)
                        fail_msg("recvmsg on the notify socket: %s", strerror(errno));
                return NULL;
        }
        assert_false(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
        buf[n] = '\0';
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP) {
                        struct timeval tv;

                        memcpy(&tv, CMSG_DATA(c), sizeof(tv));
                        s->last_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
                }
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                assert_int_equal(c->cmsg_len, CMSG_LEN(sizeof(int)));
                assert_int_equal(fd, -1);
                memcpy(&fd, CMSG_DATA(c), sizeof(int));
        }
        if (ret_fd)
                *ret_fd = fd;
        else if (fd >= 0)
                close(fd);
        return strdup(buf);
}

/* True when msg (a notify message) holds the line "line" exactly. */
static inline bool notify_msg_has(const char *msg, const char *line)
{
        size_t len = strlen(line);

        for (const char *p = msg; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, line, len) == 0 && (p[len] == '\n' || p[len] == '\0'))
                        return true;
        return false;
}

/* The value of "key=" in msg, copied into buf (size bytes); NULL when absent. */
static inline const char *notify_msg_get(const char *msg, const char *key, char *buf, size_t size)
{
        size_t klen = strlen(key);

        for (const char *p = msg; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
                        const char *v = p + klen + 1, *e = strchr(v, '\n');
                        size_t vlen = e ? (size_t)(e - v) : strlen(v);

                        if (vlen >= size)
                                vlen = size - 1;
                        memcpy(buf, v, vlen);
                        buf[vlen] = '\0';
                        return buf;
                }
        return NULL;
}
