/*
 * Observers (see observe.h). The subscriptions live in the daemon's list
 * (d->observers, made on the first subscription), each naming its
 * connection by id; a subscription whose connection is gone is dropped the
 * next time the list is walked, so the connection code needs no hook.
 * Finding an observer's connection walks d->conns once per observer and
 * event: cheap with no observers (the usual case, one test), linear in the
 * connections with one; a pointer cleared by netd_owner_close() would fix it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon.h"
#include "encoding.h"
#include "handle.h"
#include "log.h"
#include "observe.h"
#include "owner.h"
#include "socket.h"

#ifndef LIST_FOREACH_SAFE /* BSD's, missing from glibc's <sys/queue.h> */
#define LIST_FOREACH_SAFE(var, head, field, tvar)                                        \
        for ((var) = LIST_FIRST((head)); (var) && ((tvar) = LIST_NEXT((var), field), 1); \
             (var) = (tvar))
#endif

struct observer {
        uint64_t id;
        struct netd_daemon *daemon; /* borrowed */
        uint64_t conn_id;           /* weak: the connection, looked up by id */
        uint64_t *handles;          /* owned: only these, or all when n_handles is 0 */
        size_t n_handles;
        unsigned kinds; /* 1 << enum netd_handle_type; 0: all */
        char **events;  /* owned: only these event names; NULL: all */
        size_t n_events;
        uint64_t missed;         /* events dropped since the last netd.missed */
        struct event *ev_missed; /* owned: checks when a lagging observer has caught up */
        LIST_ENTRY(observer) link;
};

struct netd_observers {
        LIST_HEAD(, observer) list;
        uint64_t next_id;
};

/* The daemon's observers, made on first use when create; NULL when none (or no memory). */
static struct netd_observers *observers_of(struct netd_daemon *d, bool create)
{
        if (!d->observers && create) {
                d->observers = calloc(1, sizeof(*d->observers));
                if (d->observers)
                        LIST_INIT(&d->observers->list);
        }
        return d->observers;
}

/* How often a lagging observer's queue is checked, to send netd.missed once it has drained. */
#define OBSERVE_MISSED_CHECK_MS 50

static void observer_free(struct observer *o)
{
        LIST_REMOVE(o, link);
        if (o->ev_missed)
                event_free(o->ev_missed);
        for (size_t i = 0; i < o->n_events; i++)
                free(o->events[i]);
        free(o->events);
        free(o->handles);
        free(o);
}

static struct netd_owner *conn_by_id(struct netd_daemon *d, uint64_t id)
{
        struct netd_owner *c;

        TAILQ_FOREACH(c, &d->conns, link)
                if (c->id == id)
                        return c;
        return NULL;
}

/* Sends netd.missed to c for o, and starts counting again. */
static void observer_send_missed(struct observer *o, struct netd_owner *c)
{
        netd_owner_notify(c, "netd.missed",
                          json_pack("{s:I,s:I}", "subscription", (json_int_t)o->id, "missed",
                                    (json_int_t)o->missed));
        o->missed = 0;
}

/*
 * The timer of a lagging observer: once its queue is down to the low mark,
 * it hears how many events it missed even if no other event comes.
 */
static void observer_missed_cb(evutil_socket_t fd, short what, void *arg)
{
        struct observer *o = arg;
        struct netd_owner *c = conn_by_id(o->daemon, o->conn_id);
        struct timeval tv = { 0, OBSERVE_MISSED_CHECK_MS * 1000 };

        if (!c || !netd_owner_is_open(c) || o->missed == 0)
                return; /* freed with the subscription, or at the next walk of the list */
        if (netd_owner_output_length(c) > o->daemon->limits.out_low_bytes) {
                event_add(o->ev_missed, &tv);
                return;
        }
        observer_send_missed(o, c);
}

bool netd_observe_allowed(const struct netd_owner *c, const struct netd_handle *h)
{
        return c->uid == 0 || (h->owner && h->owner->uid == c->uid);
}

/* Parses a JSON array of strings into a new char * array. Returns 0 or -EINVAL/-ENOMEM. */
static int parse_events(json_t *a, char ***ret, size_t *ret_n)
{
        size_t i, n = json_array_size(a);
        char **v = calloc(n ? n : 1, sizeof(*v));
        json_t *e;

        if (!v)
                return -ENOMEM;
        json_array_foreach(a, i, e) {
                const char *s = json_string_value(e);

                if (!s || (strncmp(s, "server.", 7) != 0 && strncmp(s, "socket.", 7) != 0) ||
                    !(v[i] = strdup(s))) {
                        for (size_t j = 0; j < i; j++)
                                free(v[j]);
                        free(v);
                        return s ? -ENOMEM : -EINVAL;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int64_t netd_observe_add(struct netd_owner *c, json_t *filter, const char **ret_field)
{
        struct observer *o, *x, *next;
        struct netd_observers *obs;
        json_t *handles = json_object_get(filter, "handles");
        json_t *kinds = json_object_get(filter, "kinds");
        json_t *events = json_object_get(filter, "events");
        const char *key;
        unsigned count = 0;
        json_t *v;
        size_t i;
        int r;

        json_object_foreach(filter, key, v) {
                if (strcmp(key, "handles") != 0 && strcmp(key, "kinds") != 0 &&
                    strcmp(key, "events") != 0) {
                        *ret_field = key;
                        return -EINVAL;
                }
                if (!json_is_array(v)) {
                        *ret_field = key;
                        return -EINVAL;
                }
        }
        obs = observers_of(c->daemon, true);
        if (!obs)
                return -ENOMEM;
        LIST_FOREACH_SAFE(x, &obs->list, link, next)
        {
                if (x->daemon == c->daemon && !conn_by_id(c->daemon, x->conn_id))
                        observer_free(x); /* its connection is gone */
                else if (x->daemon == c->daemon && x->conn_id == c->id)
                        count++;
        }
        if (count >= NETD_OBSERVE_MAX_PER_CONN)
                return -EMFILE;
        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        o->daemon = c->daemon;
        o->conn_id = c->id;
        LIST_INSERT_HEAD(&obs->list, o, link);
        *ret_field = "handles";
        if (handles) {
                o->handles = calloc(json_array_size(handles) + 1, sizeof(*o->handles));
                if (!o->handles) {
                        observer_free(o);
                        return -ENOMEM;
                }
                json_array_foreach(handles, i, v) {
                        struct netd_handle *h;

                        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
                                observer_free(o);
                                return -EINVAL;
                        }
                        h = netd_handle_lookup(c->daemon, (uint64_t)json_integer_value(v));
                        if (!h || !h->owner) {
                                observer_free(o);
                                return -ENOENT;
                        }
                        if (!netd_observe_allowed(c, h)) {
                                observer_free(o);
                                return -EPERM;
                        }
                        o->handles[o->n_handles++] = h->id;
                }
        }
        *ret_field = "kinds";
        json_array_foreach(kinds, i, v) {
                const char *k = json_string_value(v);

                if (k && strcmp(k, "server") == 0) {
                        o->kinds |= 1u << NETD_HANDLE_SERVER;
                } else if (k && strcmp(k, "socket") == 0) {
                        o->kinds |= 1u << NETD_HANDLE_SOCKET;
                } else {
                        observer_free(o);
                        return -EINVAL;
                }
        }
        *ret_field = "events";
        if (events) {
                r = parse_events(events, &o->events, &o->n_events);
                if (r < 0) {
                        observer_free(o);
                        return r;
                }
        }
        *ret_field = NULL;
        o->id = ++obs->next_id;
        return (int64_t)o->id;
}

int64_t netd_observe_remove(struct netd_owner *c, uint64_t id)
{
        struct netd_observers *obs = observers_of(c->daemon, false);
        struct observer *o;

        if (!obs)
                return -ENOENT;
        LIST_FOREACH(o, &obs->list, link)
        {
                if (o->id == id && o->daemon == c->daemon && o->conn_id == c->id) {
                        int64_t missed = (int64_t)o->missed;

                        observer_free(o);
                        return missed;
                }
        }
        return -ENOENT;
}

static bool observer_matches(const struct observer *o, const struct netd_handle *h,
                             const char *method)
{
        bool found;

        if (o->kinds && !(o->kinds & (1u << h->type)))
                return false;
        if (o->n_handles) {
                found = false;
                for (size_t i = 0; i < o->n_handles && !found; i++)
                        found = o->handles[i] == h->id ||
                                /* a server's filter covers the sockets it accepts */
                                (h->type == NETD_HANDLE_SOCKET &&
                                 ((const struct netd_socket *)h)->server == o->handles[i]);
                if (!found)
                        return false;
        }
        if (o->events) {
                found = false;
                for (size_t i = 0; i < o->n_events && !found; i++)
                        found = strcmp(o->events[i], method) == 0;
                if (!found)
                        return false;
        }
        return true;
}

/*
 * Calls send for every observer that takes the event: one that matches, may
 * see h, is not h's owner (which gets the event anyway) and whose output is
 * not backed up; the others count it as missed.
 */
static void observe_each(struct netd_handle *h, const char *method, json_t *(*make)(void *ctx),
                         void *ctx)
{
        struct observer *o, *next;
        json_t *params = NULL;

        struct netd_observers *obs = observers_of(h->daemon, false);

        if (!obs || LIST_EMPTY(&obs->list) || !h->owner)
                return;
        LIST_FOREACH_SAFE(o, &obs->list, link, next)
        {
                struct netd_owner *c;

                if (o->daemon != h->daemon)
                        continue;
                c = conn_by_id(h->daemon, o->conn_id);
                if (!c) {
                        observer_free(o);
                        continue;
                }
                if (c == h->owner || !netd_owner_is_open(c) || !netd_observe_allowed(c, h) ||
                    !observer_matches(o, h, method))
                        continue;
                /* Lagging: its queue is past the high mark, so its copy is dropped. */
                if (netd_owner_output_length(c) > h->daemon->limits.out_high_bytes) {
                        struct timeval tv = { 0, OBSERVE_MISSED_CHECK_MS * 1000 };

                        if (o->missed++ == 0) {
                                if (!o->ev_missed)
                                        o->ev_missed =
                                                evtimer_new(h->daemon->base, observer_missed_cb, o);
                                if (o->ev_missed)
                                        evtimer_add(o->ev_missed, &tv);
                        }
                        continue;
                }
                if (o->missed)
                        observer_send_missed(o, c);
                if (!params) {
                        params = make(ctx);
                        if (!params)
                                return;
                }
                netd_owner_notify(c, "netd.event",
                                  json_pack("{s:I,s:I,s:s,s:{s:i,s:i,s:I},s:s,s:O}", "subscription",
                                            (json_int_t)o->id, "handle", (json_int_t)h->id, "kind",
                                            netd_handle_type_to_string(h->type), "owner", "uid",
                                            (int)h->owner->uid, "pid", (int)h->owner->pid, "conn",
                                            (json_int_t)h->owner->id, "event", method, "params",
                                            params));
        }
        json_decref(params);
}

static json_t *make_copy(void *ctx)
{
        return json_incref(ctx);
}

void netd_observe_emit(struct netd_handle *h, const char *method, json_t *params)
{
        observe_each(h, method, make_copy, params);
}

struct data_ctx {
        uint64_t id;
        const uint8_t *buf;
        size_t len;
};

static json_t *make_data(void *ctx)
{
        struct data_ctx *d = ctx;
        char *text = malloc(NETD_BASE64_ENCODED_MAX(d->len) + 1);
        size_t n;
        json_t *p;

        if (!text)
                return NULL;
        n = netd_base64_encode(d->buf, d->len, text, 0);
        p = json_pack("{s:I,s:s%,s:s}", "socket", (json_int_t)d->id, "data", text, n, "encoding",
                      "base64");
        free(text);
        return p;
}

void netd_observe_data(struct netd_handle *h, const uint8_t *buf, size_t len)
{
        struct data_ctx d = { .id = h->id, .buf = buf, .len = len };

        observe_each(h, "socket.data", make_data, &d);
}

void netd_observe_release(struct netd_daemon *d)
{
        struct netd_observers *obs = d->observers;
        struct observer *o, *next;

        if (!obs)
                return;
        LIST_FOREACH_SAFE(o, &obs->list, link, next)
        observer_free(o);
        free(obs);
        d->observers = NULL;
}

bool netd_observe_active(const struct netd_daemon *d)
{
        return d->observers && !LIST_EMPTY(&d->observers->list);
}

json_t *netd_observe_upgrade_save(const struct netd_daemon *d)
{
        json_t *list = json_array();
        const struct observer *o;

        if (!list || !d->observers)
                return list;
        LIST_FOREACH(o, &d->observers->list, link)
        {
                json_t *handles = json_array(), *events = o->events ? json_array() : json_null();

                for (size_t i = 0; i < o->n_handles; i++)
                        json_array_append_new(handles, json_integer((json_int_t)o->handles[i]));
                for (size_t i = 0; i < o->n_events; i++)
                        json_array_append_new(events, json_string(o->events[i]));
                json_array_append_new(list,
                                      json_pack("{s:I,s:I,s:o,s:i,s:o,s:I}", "id",
                                                (json_int_t)o->id, "conn", (json_int_t)o->conn_id,
                                                "handles", handles, "kinds", (int)o->kinds,
                                                "events", events, "missed", (json_int_t)o->missed));
        }
        return json_pack("{s:I,s:o}", "next_id", (json_int_t)d->observers->next_id, "list", list);
}

int netd_observe_upgrade_restore(struct netd_daemon *d, const json_t *state, char *err,
                                 size_t errlen)
{
        json_t *list = json_object_get(state, "list"), *v;
        json_t *next = json_object_get(state, "next_id");
        struct netd_observers *obs = NULL;
        size_t i;

        if (json_is_array(state) && json_array_size(state) == 0)
                return 0; /* none */
        if (!json_is_array(list) || !json_is_integer(next) || json_integer_value(next) < 0) {
                (void)snprintf(err, errlen, "observers: not a list");
                return -EINVAL;
        }
        if (d && !(obs = observers_of(d, true)))
                return -ENOMEM;
        if (obs)
                obs->next_id = (uint64_t)json_integer_value(next);
        /* Saved head first; LIST_INSERT_HEAD: restore from the last to keep the order. */
        for (i = json_array_size(list); i-- > 0;) {
                json_t *h, *ev, *x;
                struct observer *o;
                size_t k;

                v = json_array_get(list, i);
                h = json_object_get(v, "handles");
                ev = json_object_get(v, "events");
                if (!json_is_integer(json_object_get(v, "id")) ||
                    !json_is_integer(json_object_get(v, "conn")) ||
                    !json_is_integer(json_object_get(v, "kinds")) ||
                    !json_is_integer(json_object_get(v, "missed")) || !json_is_array(h) ||
                    !(json_is_array(ev) || json_is_null(ev))) {
                        (void)snprintf(err, errlen, "observers: entry %zu is malformed", i);
                        return -EINVAL;
                }
                json_array_foreach(h, k, x)
                        if (!json_is_integer(x) || json_integer_value(x) <= 0) {
                                (void)snprintf(err, errlen, "observers: entry %zu: bad handle", i);
                                return -EINVAL;
                        }
                json_array_foreach(ev, k, x)
                        if (!json_is_string(x)) {
                                (void)snprintf(err, errlen, "observers: entry %zu: bad event", i);
                                return -EINVAL;
                        }
                if (!d)
                        continue;
                o = calloc(1, sizeof(*o));
                if (!o)
                        return -ENOMEM;
                o->daemon = d;
                o->id = (uint64_t)json_integer_value(json_object_get(v, "id"));
                o->conn_id = (uint64_t)json_integer_value(json_object_get(v, "conn"));
                o->kinds = (unsigned)json_integer_value(json_object_get(v, "kinds"));
                o->missed = (uint64_t)json_integer_value(json_object_get(v, "missed"));
                LIST_INSERT_HEAD(&obs->list, o, link);
                o->handles = calloc(json_array_size(h) + 1, sizeof(*o->handles));
                if (!o->handles)
                        return -ENOMEM;
                json_array_foreach(h, k, x)
                        o->handles[o->n_handles++] = (uint64_t)json_integer_value(x);
                if (json_is_array(ev)) {
                        o->events = calloc(json_array_size(ev) + 1, sizeof(*o->events));
                        if (!o->events)
                                return -ENOMEM;
                        json_array_foreach(ev, k, x) {
                                o->events[o->n_events] = strdup(json_string_value(x));
                                if (!o->events[o->n_events])
                                        return -ENOMEM;
                                o->n_events++;
                        }
                }
                if (o->missed > 0) {
                        /* A lagging observer: netd.missed once its connection has drained. */
                        struct timeval tv = { 0, OBSERVE_MISSED_CHECK_MS * 1000 };

                        o->ev_missed = evtimer_new(d->base, observer_missed_cb, o);
                        if (!o->ev_missed)
                                return -ENOMEM;
                        evtimer_add(o->ev_missed, &tv);
                }
        }
        return 0;
}
