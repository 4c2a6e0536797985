#!/usr/bin/env python3
"""64 MiB echo through asyncio streams: plain asyncio vs the netd Python client.

    bench/py-echo.py [--size 64M] [--runs 3] [--netd build/daemon/netd]

Starts a private netd (foreground, temporary socket). Each variant sends SIZE bytes
in 1 MiB writes (awaiting drain) to an echo peer and reads the echo back concurrently;
both sides are checked by SHA-256. Variants:
  asyncio      plain asyncio client -> plain asyncio echo server
  netd-client  netd.open_connection  -> plain asyncio echo server
  netd-server  plain asyncio client   -> netd.start_server echo server
  netd-both    netd client            -> netd server
Prints MB/s (10^6 bytes/s) of echoed payload: size / (first write .. last byte back),
and the CPU seconds per run of this Python process (both ends) and of netd.
"""

import argparse
import asyncio
import resource
import hashlib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "client-lib", "python", "tests"))
import netdtest  # noqa: E402  (puts client-lib/python on sys.path)
import netd  # noqa: E402


def payload(size):
    block = hashlib.shake_256(b"netd-py-bench").digest(1 << 20)
    reps, rest = divmod(size, len(block))
    return block * reps + block[:rest]


async def echo(reader, writer):
    while True:
        data = await reader.read(1 << 20)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


async def run(variant, data):
    srv_mod = netd if variant in ("netd-server", "netd-both") else asyncio
    cli_mod = netd if variant in ("netd-client", "netd-both") else asyncio
    server = await srv_mod.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await cli_mod.open_connection("127.0.0.1", port)
    want = hashlib.sha256(data).hexdigest()
    view = memoryview(data)

    async def send():
        for off in range(0, len(data), 1 << 20):
            writer.write(view[off:off + (1 << 20)])
            await writer.drain()
        writer.write_eof()

    t0 = time.perf_counter()
    task = asyncio.create_task(send())
    h = hashlib.sha256()
    got = 0
    while True:
        chunk = await reader.read(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        got += len(chunk)
    elapsed = time.perf_counter() - t0
    await task
    writer.close()
    server.close()
    await server.wait_closed()
    await netd.close_client()
    if got != len(data) or h.hexdigest() != want:
        raise SystemExit("%s: echo mismatch (%d of %d bytes)" % (variant, got, len(data)))
    return len(data) / elapsed / 1e6


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * mult[s[-1].upper()] if s[-1].upper() in mult else int(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--size", default="64M")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--netd", help="netd executable (default $NETD_BIN or build/daemon/netd)")
    ap.add_argument("--variants", default="asyncio,netd-client,netd-server,netd-both")
    a = ap.parse_args()
    if a.netd:
        os.environ["NETD_BIN"] = a.netd
    daemon = netdtest.Daemon()
    os.environ["NETD_SOCKET"] = daemon.socket
    data = payload(parse_size(a.size))
    results = {}
    cpu = {}
    tick = os.sysconf("SC_CLK_TCK")

    def netd_cpu():
        with open("/proc/%d/stat" % daemon.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    def own_cpu():
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    try:
        for r in range(a.runs):
            for v in a.variants.split(","):
                p0, n0 = own_cpu(), netd_cpu()
                results.setdefault(v, []).append(asyncio.run(run(v, data)))
                c = cpu.setdefault(v, [0.0, 0.0])
                c[0] += own_cpu() - p0
                c[1] += netd_cpu() - n0
    finally:
        daemon.stop()
    for v, xs in results.items():
        xs.sort()
        print("%-12s median %7.1f MB/s  (min %.1f, max %.1f, %d runs)  CPU per run: "
              "python %.2f s, netd %.2f s"
              % (v, xs[len(xs) // 2], xs[0], xs[-1], len(xs), cpu[v][0] / len(xs),
                 cpu[v][1] / len(xs)))


if __name__ == "__main__":
    main()
