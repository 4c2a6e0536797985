/*
 * unit/pump: daemon/pump.c on socketpairs and a private event_base, in
 * splice mode and in copy mode (the fallback for descriptors that refuse
 * splice, forced here because this kernel splices everything): bytes arrive
 * exact and in order under backpressure, EOF comes after the last byte,
 * held and paused stop the right side, detaching the source delivers what
 * the pipe holds, and a closed destination is an error, not a silent loss.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

/* The statics (pump_to_copy) are reached by including the module (STYLE.md §8). */
#include "../../daemon/pump.c"

struct rec {
        size_t read, wrote;
        int eof, drained, src_err, dst_err;
        struct netd_pump *p; /* freed on a final event, as owners do */
};

static void rec_cb(struct netd_pump *p, enum netd_pump_event ev, size_t n, void *arg)
{
        struct rec *r = arg;

        switch (ev) {
        case NETD_PUMP_READ:
                r->read += n;
                return;
        case NETD_PUMP_WROTE:
                r->wrote += n;
                return;
        case NETD_PUMP_EOF:
                r->eof++;
                break;
        case NETD_PUMP_DRAINED:
                r->drained++;
                break;
        case NETD_PUMP_SRC_ERROR:
                r->src_err = (int)n;
                break;
        case NETD_PUMP_DST_ERROR:
                r->dst_err = (int)n;
                break;
        case _NETD_PUMP_EVENT_MAX:
        case _NETD_PUMP_EVENT_INVALID:
                return;
        }
        r->p = netd_pump_free(r->p); /* inside its own callback: deferred by the pump */
}

static uint8_t pat(size_t i)
{
        return (uint8_t)(i * 2654435761u >> 13);
}

/* Two socketpairs: the test writes a[1], the pump moves a[0] -> b[0], the test reads b[1]. */
struct rig {
        struct event_base *base;
        int a[2], b[2];
        struct rec r;
};

static void rig_init(struct rig *g, bool copy)
{
        memset(g, 0, sizeof(*g));
        g->base = event_base_new();
        assert_non_null(g->base);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, g->a), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, g->b), 0);
        assert_int_equal(netd_pump_new(g->base, g->a[0], g->b[0], rec_cb, &g->r, &g->r.p), 0);
        if (copy)
                assert_int_equal(pump_to_copy(g->r.p), 0);
}

static void rig_done(struct rig *g)
{
        g->r.p = netd_pump_free(g->r.p);
        for (int i = 0; i < 2; i++) {
                if (g->a[i] >= 0)
                        close(g->a[i]);
                if (g->b[i] >= 0)
                        close(g->b[i]);
        }
        event_base_free(g->base);
}

static void turn(struct rig *g)
{
        (void)event_base_loop(g->base, EVLOOP_NONBLOCK);
}

/* 16 MiB through the pump, the reader slower than the writer; then EOF after the last byte. */
static void move_all(bool copy)
{
        const size_t total = 16 * 1024 * 1024;
        static uint8_t buf[64 * 1024];
        size_t sent = 0, got = 0;
        struct rig g;
        bool shut = false;

        rig_init(&g, copy);
        for (unsigned rounds = 0; got < total || !g.r.eof; rounds++) {
                ssize_t n;

                assert_true(rounds < 1000000);
                if (sent < total) {
                        size_t k = total - sent < sizeof(buf) ? total - sent : sizeof(buf);

                        for (size_t i = 0; i < k; i++)
                                buf[i] = pat(sent + i);
                        n = write(g.a[1], buf, k);
                        if (n > 0)
                                sent += (size_t)n;
                } else if (!shut) {
                        assert_int_equal(shutdown(g.a[1], SHUT_WR), 0);
                        shut = true;
                }
                turn(&g);
                /* The reader takes a quarter chunk per turn: dst fills, backpressure. */
                n = read(g.b[1], buf, sizeof(buf) / 4);
                if (n > 0) {
                        for (ssize_t i = 0; i < n; i++)
                                if (buf[i] != pat(got + (size_t)i))
                                        fail_msg("byte %zu differs", got + (size_t)i);
                        got += (size_t)n;
                        /* Nothing beyond one pipe (or buffer) waits inside the pump. */
                        if (g.r.p)
                                assert_true(netd_pump_pending(g.r.p) <= 1024 * 1024);
                }
                /* EOF only once every byte has been written to dst. */
                if (g.r.eof)
                        assert_int_equal(g.r.wrote, total);
        }
        assert_int_equal(got, total);
        assert_int_equal(g.r.read, total);
        assert_int_equal(g.r.wrote, total);
        assert_int_equal(g.r.eof, 1);
        assert_null(g.r.p);
        rig_done(&g);
}

static void test_move_splice(void **state)
{
        move_all(false);
}

static void test_move_copy(void **state)
{
        move_all(true);
}

/* held: nothing reaches dst; paused: nothing more is taken from src. */
static void held_paused(bool copy)
{
        struct rig g;
        char b[16];

        rig_init(&g, copy);
        netd_pump_set_held(g.r.p, true);
        assert_int_equal(write(g.a[1], "abc", 3), 3);
        for (int i = 0; i < 10; i++)
                turn(&g);
        assert_int_equal(g.r.read, 3); /* taken into the pipe */
        assert_int_equal(read(g.b[1], b, sizeof(b)), -1);
        assert_int_equal(errno, EAGAIN);
        netd_pump_set_held(g.r.p, false);
        netd_pump_set_paused(g.r.p, true);
        for (int i = 0; i < 10; i++)
                turn(&g);
        assert_int_equal(read(g.b[1], b, sizeof(b)), 3); /* what the pipe held still goes */
        assert_int_equal(write(g.a[1], "def", 3), 3);
        for (int i = 0; i < 10; i++)
                turn(&g);
        assert_int_equal(g.r.read, 3); /* paused: not taken */
        netd_pump_set_paused(g.r.p, false);
        for (int i = 0; i < 10; i++)
                turn(&g);
        assert_int_equal(read(g.b[1], b, sizeof(b)), 3);
        assert_memory_equal(b, "def", 3);
        rig_done(&g);
}

static void test_held_paused_splice(void **state)
{
        held_paused(false);
}

static void test_held_paused_copy(void **state)
{
        held_paused(true);
}

/* Detaching the source delivers what the pipe holds, then DRAINED; src is not read again. */
static void test_detach(void **state)
{
        struct rig g;
        char b[16];

        rig_init(&g, false);
        netd_pump_set_held(g.r.p, true);
        assert_int_equal(write(g.a[1], "held", 4), 4);
        for (int i = 0; i < 10; i++)
                turn(&g);
        assert_false(netd_pump_detach_src(g.r.p));
        assert_int_equal(write(g.a[1], "later", 5), 5);
        netd_pump_set_held(g.r.p, false);
        for (int i = 0; i < 10; i++)
                turn(&g);
        assert_int_equal(g.r.drained, 1);
        assert_null(g.r.p);
        assert_int_equal(read(g.b[1], b, sizeof(b)), 4);
        assert_memory_equal(b, "held", 4);
        assert_int_equal(read(g.a[0], b, sizeof(b)), 5); /* still in the source */
        rig_done(&g);
}

/* A destination whose reader is gone: DST_ERROR (EPIPE), never a silent drop. */
static void test_dst_gone(void **state)
{
        struct rig g;

        rig_init(&g, false);
        close(g.b[1]);
        g.b[1] = -1;
        assert_int_equal(write(g.a[1], "lost?", 5), 5);
        for (int i = 0; i < 10 && g.r.p; i++)
                turn(&g);
        assert_int_equal(g.r.dst_err, EPIPE);
        assert_null(g.r.p);
        rig_done(&g);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_move_splice),
                cmocka_unit_test(test_move_copy),
                cmocka_unit_test(test_held_paused_splice),
                cmocka_unit_test(test_held_paused_copy),
                cmocka_unit_test(test_detach),
                cmocka_unit_test(test_dst_gone),
        };

        signal(SIGPIPE, SIG_IGN); /* as netd does: EPIPE, not a signal */
        return cmocka_run_group_tests_name("pump", tests, NULL, NULL);
}
