/*
 * netd-send: client -> peer through netd. Connects to netd's control socket
 * (raw UNIX socket, its own framing), asks netd to net.connect to
 * 127.0.0.1:PORT, waits for socket.connect, then streams SIZE bytes of the
 * stream as socket.write notifications (base64, CHUNK raw bytes each), then
 * socket.end (with an id) and waits for its reply and the socket's close.
 *
 * Flow control: with --ack-every K, every K-th write carries an id and at
 * most --window W of them may be unanswered, as a Node client waits for
 * 'drain'. Without it every write is a notification: netd takes them up to
 * the socket's write_hard_bytes and destroys the socket past it (PROTOCOL.md
 * §12), so a sender that outruns the peer by that much fails.
 *
 * Prints {"bytes":..,"elapsed":..,"cpu":..,"writes":..,"drains":..}
 * (elapsed: first write sent to the socket.end reply).
 *   netd-send --socket PATH --port P --size S [--chunk 256K]
 *             [--ack-every K --window W] [--path fast|tree|escaped|jansson] [--timeout S]
 */
#include "common.h"

static long long sock_id;
static long drains, outstanding;
static bool closed;

static void on_line(char *l, void *ud)
{
        (void)ud;
        if (strncmp(l, "{\"jsonrpc\":\"2.0\",\"id\":", 22) == 0) {
                if (strstr(l, "\"error\":"))
                        die("write failed: %s", l);
                outstanding--;
                return;
        }
        if (line_is_event(l, "socket.drain"))
                drains++;
        else if (line_is_event(l, "socket.error"))
                die("socket error: %s", l);
        else if (line_is_event(l, "socket.close"))
                closed = true;
}

int main(int argc, char **argv)
{
        const char *path;
        uint64_t size, sent = 0;
        size_t chunk, len, cap, off = 0, linelen = 0;
        long ack_every, window, writes = 0;
        struct linebuf lb;
        uint8_t *pat;
        char *line, params[256], *l;
        int fd, port;

        bench_init("netd-send", (unsigned)atoi(arg_get(argc, argv, "--timeout", "300")));
        path = arg_get(argc, argv, "--socket", NULL);
        if (!path)
                die("--socket required");
        port = atoi(arg_get(argc, argv, "--port", "0"));
        stream_args(argc, argv, &size, &chunk);
        ack_every = atol(arg_get(argc, argv, "--ack-every", "0"));
        window = atol(arg_get(argc, argv, "--window", "4"));
        /*
         * --path picks the shape of every write line, all read by netd's one
         * reader (proto/jtok.h): "fast" (the default) is compact; "tree"
         * adds a space after "params":; "escaped" writes each '/' of the
         * base64 as "\/" (as PHP's json_encode does); "jansson" gives every
         * write an id with a fraction (100.5, 101.5, ...; acknowledged,
         * window --window). The names are those of the readers they took
         * before there was one.
         */
        const char *reader = arg_get(argc, argv, "--path", "fast");
        bool escape_slash = strcmp(reader, "escaped") == 0;
        bool real_ids = strcmp(reader, "jansson") == 0;
        if (strcmp(reader, "fast") != 0 && strcmp(reader, "tree") != 0 && !escape_slash &&
            !real_ids)
                die("--path must be fast, tree, escaped or jansson");
        if (real_ids)
                ack_every = 1;
        const char *data_key = strcmp(reader, "tree") == 0 ? " {\"socket\":%lld,\"data\":\""
                                                           : "{\"socket\":%lld,\"data\":\"";
        const char *tail = "\",\"encoding\":\"base64\"}}\n";
        size_t tail_len = strlen(tail);

        b64_init();
        pat = bench_pattern();
        cap = 256 + 2 * B64_ENC_LEN(chunk);
        line = malloc(cap);
        char *plain = escape_slash ? malloc(B64_ENC_LEN(chunk)) : NULL;

        fd = unix_connect(path);
        set_nonblock(fd);
        linebuf_init(&lb, 1 << 20);
        snprintf(params, sizeof(params), "{\"port\":%d,\"host\":\"127.0.0.1\"}", port);
        l = netd_call(fd, &lb, 1, "net.connect", params, on_line, NULL);
        sock_id = json_int_after(l, "\"socket\":");
        if (sock_id <= 0)
                die("bad net.connect reply: %s", l);
        for (;;) {
                l = linebuf_read_line(&lb, fd, &len);
                if (!l)
                        die("netd closed the connection");
                if (line_is_event(l, "socket.connect"))
                        break;
                on_line(l, NULL);
        }

        double t0 = now_s(), c0 = cpu_s();
        long long next_id = 100;
        for (;;) {
                if (linelen == 0 && sent < size && (ack_every == 0 || outstanding < window)) {
                        size_t n = chunk;
                        bool with_id = ack_every > 0 && (writes + 1) % ack_every == 0;
                        int p;

                        if (n > size - sent)
                                n = (size_t)(size - sent);
                        if (with_id) {
                                p = sprintf(
                                        line,
                                        "{\"jsonrpc\":\"2.0\",\"id\":%lld%s,\"method\":\"socket."
                                        "write\","
                                        "\"params\":",
                                        next_id++, real_ids ? ".5" : "");
                                outstanding++;
                        } else {
                                p = sprintf(line,
                                            "{\"jsonrpc\":\"2.0\",\"method\":\"socket.write\","
                                            "\"params\":");
                        }
                        p += sprintf(line + p, data_key, sock_id);
                        linelen = (size_t)p;
                        if (escape_slash) {
                                size_t m = b64_encode(pat + sent % BENCH_PATTERN_LEN, n, plain);

                                for (size_t i = 0; i < m; i++) {
                                        if (plain[i] == '/')
                                                line[linelen++] = '\\';
                                        line[linelen++] = plain[i];
                                }
                        } else {
                                linelen += b64_encode(pat + sent % BENCH_PATTERN_LEN, n,
                                                      line + linelen);
                        }
                        memcpy(line + linelen, tail, tail_len);
                        linelen += tail_len;
                        off = 0;
                        sent += n;
                        writes++;
                }
                if (linelen == 0 && sent >= size)
                        break;
                struct pollfd pfd = { .fd = fd, .events = POLLIN | (linelen ? POLLOUT : 0) };

                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                        die("poll: %s", strerror(errno));
                if (pfd.revents & POLLIN) {
                        ssize_t r;

                        while ((r = linebuf_fill(&lb, fd)) > 0)
                                while ((l = linebuf_next(&lb, &len)))
                                        on_line(l, NULL);
                        if (r == 0)
                                die("netd closed the connection");
                }
                if (linelen && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
                        for (;;) {
                                ssize_t w = write(fd, line + off, linelen - off);

                                if (w < 0) {
                                        if (errno == EAGAIN || errno == EINTR)
                                                break;
                                        die("write: %s", strerror(errno));
                                }
                                off += (size_t)w;
                                if (off == linelen) {
                                        linelen = 0;
                                        break;
                                }
                        }
                }
        }
        snprintf(params, sizeof(params), "{\"socket\":%lld}", sock_id);
        netd_call(fd, &lb, 2, "socket.end", params, on_line, NULL);
        double t1 = now_s(), c1 = cpu_s();
        /* The sink closes after EOF: wait (bounded) for socket.close. */
        double deadline = now_s() + 10;
        while (!closed && now_s() < deadline) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };

                poll(&pfd, 1, 100);
                ssize_t r;
                while ((r = linebuf_fill(&lb, fd)) > 0)
                        while ((l = linebuf_next(&lb, &len)))
                                on_line(l, NULL);
                if (r == 0)
                        break;
        }
        printf("{\"bytes\":%" PRIu64
               ",\"elapsed\":%.6f,\"cpu\":%.3f,\"writes\":%ld,\"drains\":%ld}\n",
               sent, t1 - t0, c1 - c0, writes, drains);
        close(fd);
        return 0;
}
