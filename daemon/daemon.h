/*
 * struct netd_daemon: the root context. It owns the event base, the
 * resolver, the control listener, every control connection and the handle
 * registry, and it holds the one table of limits. Passed explicitly; there
 * are no globals besides the log level.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include "handle.h"
#include "jtok.h"
#include "owner.h"

struct event;
struct event_base;
struct evdns_base;
struct netd_handle;
struct netd_fdstore;
struct netd_listener;
struct netd_notify;
struct netd_observers;
struct netd_req;
struct netd_resolver;
struct netd_policy;
struct netd_session_hooks;
struct netd_uid_usage;
struct netd_upgrade;

/* Every limit netd enforces, with its unit. Defaults in netd_limits_init(). */
struct netd_limits {
        size_t frame_max_bytes;       /* one request line, "\n" excluded */
        unsigned reqs_per_event;      /* lines handled per read callback per conn (fairness) */
        unsigned batch_max;           /* entries in one JSON-RPC batch */
        unsigned max_clients;         /* control connections in total */
        unsigned handles_per_conn;    /* live servers + sockets per control connection */
        unsigned closed_keep;         /* closed handles kept readable per connection */
        size_t out_high_bytes;        /* conn output that pauses its sockets' reads */
        size_t out_low_bytes;         /* conn output below which they resume */
        size_t read_chunk_bytes;      /* bytes read from a socket per system call */
        size_t write_high_bytes;      /* a socket's default highWaterMark */
        size_t write_hard_bytes;      /* a socket's unsent queue past which writes are refused */
        size_t conn_write_bytes;      /* the same for all sockets of one control connection */
        size_t total_write_bytes;     /* the same for the whole daemon */
        size_t out_hard_bytes;        /* conn output that stops reading its requests */
        unsigned stall_timeout_ms;    /* over out_hard_bytes this long without progress: cut */
        unsigned inflight_max;        /* requests with an id awaiting a reply, per conn: refused */
        unsigned lookups_per_conn;    /* name lookups in flight per conn (the rest queue) */
        unsigned lookups_max;         /* name lookups in flight in the daemon */
        unsigned stop_grace_ms;       /* SIGTERM: time to flush queued writes before exit */
        unsigned max_clients_per_uid; /* control connections per peer uid */
        size_t parse_max_bytes;       /* heap one request's JSON parse may use */
        unsigned fd_reserve;          /* descriptors kept free under RLIMIT_NOFILE for control */
        unsigned listen_backlog;      /* server.listen default backlog (Node: 511) */
        unsigned handles_per_uid;     /* live servers + sockets per peer uid (policy: more/less) */
        unsigned reserved_clients;    /* of max_clients, kept for root and the adminGroup */
        unsigned lookups_per_uid;     /* host name lookups in flight per peer uid */
        unsigned buffered_per_uid;    /* bytes a peer uid's sockets hold unsent */
        unsigned session_linger_ms;   /* netd.detach's lingerMs when none is given */
        unsigned session_linger_max_ms; /* the largest lingerMs (larger ones are capped) */
        size_t session_kept_bytes;      /* events a lingering session keeps before pausing */
};

/* Counters reported by netd.info. */
struct netd_stats {
        uint64_t conns_accepted;
        uint64_t conns_rejected; /* over max_clients */
        uint64_t requests;       /* request objects dispatched (batch entries counted) */
        uint64_t errors;         /* error replies sent */
        uint64_t oversize_lines; /* connections closed for a line over frame_max_bytes */
        uint64_t handles_created;
        uint64_t bytes_in;           /* read from remote peers */
        uint64_t bytes_out;          /* written to remote peers */
        uint64_t reads_paused;       /* times a conn's output paused its sockets */
        uint64_t input_held;         /* times a conn's requests were held (limits reached) */
        uint64_t conns_stalled;      /* control connections cut for not reading */
        uint64_t conns_rejected_uid; /* over max_clients_per_uid */
        uint64_t parse_over_budget;  /* requests discarded: parse over parse_max_bytes */
        uint64_t fd_refused;         /* sockets refused to keep fd_reserve descriptors free */
        uint64_t yields;             /* times a conn yielded after reqs_per_event lines */
        uint64_t handles_refused;    /* handles refused over handles_per_conn */
        uint64_t accept_paused;      /* times accepting paused on EMFILE/ENFILE/reserve */
        uint64_t writes_refused;     /* writes over a byte limit, refused with ERR_NETD_LIMIT */
        uint64_t sockets_limited;    /* sockets destroyed for a notification write over one */
        uint64_t inflight_refused;   /* requests refused over inflight_max */
        uint64_t requests_dropped;   /* held requests freed unanswered (their conn was gone) */
        uint64_t lookups_queued;     /* lookups that waited for a slot (fairness) */
        uint64_t handles_over_uid;   /* handles refused over a uid's handlesPerUid */
        uint64_t perm_denied;        /* requests refused with ERR_NETD_PERMISSION */
        uint64_t lookups_over_uid;   /* lookups refused over a uid's lookupsPerUid */
        uint64_t buffers_over_uid;   /* writes refused over a uid's bufferedBytesPerUid */
        uint64_t sessions_detached;  /* sessions created by netd.detach */
        uint64_t sessions_attached;  /* netd.attach that took a session */
        uint64_t sessions_expired;   /* sessions whose linger ran out, handles destroyed */
        uint64_t attach_refused;     /* netd.attach with a wrong token or of another uid */
        uint64_t upgrades;           /* in-place upgrades (re-execs) this process went through */
        uint64_t upgrades_failed;    /* upgrades refused or failed: the old process went on */
};

struct netd_registry {
        struct netd_handle **buckets; /* owned array; the handles are owned by their conn */
        size_t nbuckets;              /* a power of two */
        size_t count;
        uint64_t next_id; /* ids start at 1 and are never reused */
        bool random_ids;  /* --handle-ids=random: ids are next_id through a keyed permutation */
        uint64_t id_key[4];
};

/* A listening socket systemd passed besides the control socket, by FileDescriptorName. */
struct netd_inherited_fd {
        char *name; /* owned */
        int fd;     /* owned; -1 once a server adopted it */
};

struct netd_daemon {
        struct event_base *base;         /* owned */
        struct evdns_base *dns;          /* owned; NULL until first needed */
        struct netd_listener *listener;  /* owned */
        struct event *sig_term;          /* owned */
        struct event *sig_int;           /* owned */
        struct event *ev_stop;           /* owned: the stop's flush steps (netd_daemon_stop) */
        struct event *ev_closing;        /* owned: runs the handles' deferred closes */
        struct netd_handle_list closing; /* handles whose close event is due (handle.c) */
        int64_t stop_deadline_ms;        /* CLOCK_MONOTONIC ms: the stop's grace ends */
        bool stop_sockets_done;          /* the stop closed every socket it could */
        struct event *sig_hup;           /* owned: re-reads the policy */
        struct netd_owner_list conns;    /* owned: the control connections, as owners */
        unsigned n_conns;
        uint64_t next_conn_id;
        struct netd_owner_list sessions; /* owned: every session's owner (session.h) */
        int unixdiag_fd;      /* owned: NETLINK_SOCK_DIAG (conn.c, unixdiag.h), or -errno */
        bool unixdiag_warned; /* its failure was logged */
        unsigned n_sessions;
        const struct netd_session_hooks *session_hooks; /* borrowed: NULL, or who watches them */
        struct netd_registry handles;
        struct netd_limits limits;
        struct netd_stats stats;
        struct timespec started;          /* CLOCK_MONOTONIC */
        uint8_t *scratch;                 /* owned: read buffer shared by every socket */
        const char *resolv_conf;          /* borrowed: NULL for /etc/resolv.conf */
        const char *hosts_file;           /* borrowed: NULL for /etc/hosts */
        unsigned fds_open;                /* descriptors held by handles and control connections */
        size_t queued_bytes;              /* bytes in every socket's unsent queue (flow.c) */
        struct netd_req *dispatching;     /* the request whose handler runs (rpc.c) */
        struct netd_jdoc tokens;          /* owned: the tokens of the request line (rpc.c) */
        struct netd_observers *observers; /* owned: netd.subscribe's (observe.c), or NULL */
        struct netd_resolver *resolver;   /* owned: fair scheduling of lookups (resolve.c) */
        unsigned fds_max; /* RLIMIT_NOFILE at start, less what the daemon itself holds */
        struct netd_inherited_fd *inherited; /* owned */
        size_t n_inherited;
        struct netd_policy *policy;  /* owned: the policy file in force (config.h) */
        struct netd_uid_usage *uids; /* owned: per-uid usage for the quotas (auth.h) */
        size_t n_uids;
        unsigned policy_errors;       /* reloads refused because the file was invalid */
        struct netd_notify *notify;   /* owned: sd_notify, watchdog, fd store (notify.h), or NULL */
        struct netd_fdstore *fdstore; /* owned: sessions' servers in the fd store (fdstore.h) */
        bool stopping;
        struct event *sig_usr2;       /* owned: the in-place upgrade (upgrade.c) */
        struct netd_upgrade *upgrade; /* owned: the upgrade in progress, or NULL */
};

/* Fills in the default limits. */
void netd_limits_init(struct netd_limits *l);

/* Creates the daemon's event base and state. Returns 0 or -ENOMEM. */
int netd_daemon_new(const struct netd_limits *limits, struct netd_daemon **ret);

/* Closes every connection and handle and frees the daemon. NULL-safe; returns NULL. */
struct netd_daemon *netd_daemon_free(struct netd_daemon *d);

/* The resolver, created on first use. Returns NULL when it can't be created. */
struct evdns_base *netd_daemon_dns(struct netd_daemon *d);

/*
 * The orderly stop (SIGTERM, SIGINT): stops accepting (control socket and
 * servers) and reading requests, ends every socket so that its queued bytes
 * and a FIN go out, closes each one once its peer has them all, then closes
 * the connections after their last events and ends the loop. What is not
 * out after limits.stop_grace_ms is logged with counts and the loop ends
 * all the same. A second call (another signal) ends the loop at once.
 */
void netd_daemon_stop(struct netd_daemon *d);

/*
 * Takes the inherited socket named name (server.listen {handle:{name}}).
 * Returns the fd, now the caller's, or -ENOENT.
 */
int netd_daemon_take_inherited(struct netd_daemon *d, const char *name);

/*
 * Accounts for a descriptor a handle or connection is about to open:
 * returns 0 (counted), or -EMFILE when it would eat into limits.fd_reserve,
 * the descriptors kept so control connections can still be served.
 */
int netd_daemon_fd_take(struct netd_daemon *d);

/* Accounts for such a descriptor being closed. */
void netd_daemon_fd_release(struct netd_daemon *d);

/* How long an accept loop pauses when descriptors or memory run out. */
#define NETD_ACCEPT_BACKOFF_MS 1000

struct event;

/*
 * For an accept loop (the control socket's, a server's) whose accept4()
 * failed with err: on EMFILE, ENFILE, ENOBUFS or ENOMEM it stops listening
 * (ev_accept off) and arms ev_backoff for NETD_ACCEPT_BACKOFF_MS instead of
 * spinning on the still-readable socket, logs it for who ("Control socket",
 * "server 3") and counts stats.accept_paused. Returns true when it paused.
 */
bool netd_daemon_accept_backoff(struct netd_daemon *d, int err, struct event *ev_accept,
                                struct event *ev_backoff, const char *who);

/*
 * Every owner of handles: the control connections, then the sessions'
 * owners. NULL starts; returns NULL after the last.
 */
struct netd_owner *netd_daemon_owner_next(const struct netd_daemon *d, const struct netd_owner *o);

#define NETD_DAEMON_FOREACH_OWNER(d, o) \
        for ((o) = netd_daemon_owner_next((d), NULL); (o); (o) = netd_daemon_owner_next((d), (o)))

/* CLOCK_MONOTONIC in milliseconds. */
int64_t netd_daemon_now_ms(void);

/* Seconds since the daemon started. */
double netd_daemon_uptime(const struct netd_daemon *d);
