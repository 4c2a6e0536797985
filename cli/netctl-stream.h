/*
 * netctl's data plane: connect and listen, which move bytes between a
 * socket netd owns and stdin/stdout (or a child process per connection,
 * --exec). Each direction ends on its own: input's EOF half-closes the
 * socket, the peer's EOF ends the output, and netctl exits once both have
 * ended and every byte is accounted for.
 */
#pragma once

#include <stdbool.h>

#include "netctl-args.h"

struct netd_client;

struct netctl_stream_opts {
        int setup_timeout_ms;   /* each set-up reply (net.connect, server.listen); -1: none */
        int connect_timeout_ms; /* connect: until socket.connect; -1: the kernel's */
        int idle_timeout_ms;    /* no data either way this long is an error; -1: none */
        int family;             /* 0, 4 or 6 */
        bool send_only;         /* received data is read and discarded */
        bool recv_only;         /* input is not read; our side ends when the peer's does */
        bool keep_open;         /* listen: serve connection after connection */
        int max_conns;          /* listen: connections at once (open and waiting); 0: no limit */
        char **exec_argv;       /* borrowed: each connection runs this (execvp), or NULL */
        bool verbose;           /* who connected, bytes each way at the end */
        bool progress;          /* bytes and rate on stderr while running */
        bool quiet;             /* no "listening on" line */
        bool no_attach;         /* move the bytes as JSON even if netd can attach sockets */
};

/*
 * connect: opens a connection to e through netd on client c (borrowed, not
 * freed) and moves the bytes until both directions have ended. Returns a
 * NETCTL_EXIT_* code after printing any error; on SIGINT, SIGTERM or SIGHUP
 * it resets the connection, prints what was moved and dies by that signal.
 */
int netctl_stream_connect(struct netd_client *c, const struct netctl_endpoint *e,
                          const struct netctl_stream_opts *o);

/* listen: as netctl_stream_connect(), on the connections a netd server accepts on e. */
int netctl_stream_listen(struct netd_client *c, const struct netctl_endpoint *e,
                         const struct netctl_stream_opts *o);
