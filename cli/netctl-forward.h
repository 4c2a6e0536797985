/*
 * netctl forward: a port forwarder built on netd's socket.pipe. Each
 * connection accepted on one endpoint is relayed both ways, inside netd,
 * to a new connection to the target endpoint.
 */
#pragma once

#include "netctl-args.h"
#include "netctl-stream.h"

struct netd_client;

/*
 * Listens on listen_on through client c (taken over and freed) and relays
 * each accepted connection to target. o: keep_open (serve connection after
 * connection, at the same time; else one, then exit), max_conns, family,
 * idle_timeout_ms, setup_timeout_ms, verbose, quiet. Returns a
 * NETCTL_EXIT_* code: 0 once the one relay ended with every byte moved;
 * dies by SIGINT, SIGTERM or SIGHUP.
 */
int netctl_forward(struct netd_client *c, const struct netctl_endpoint *listen_on,
                   const struct netctl_endpoint *target, const struct netctl_stream_opts *o);
