"""64 MiB of binary data both ways through netd, checked by SHA-256: a netd client
against a plain asyncio echo peer, and a plain asyncio client against a netd server."""

import asyncio
import hashlib
import os
import time
import unittest

import netdtest
from netdtest import NetdTestCase, timed

import netd

SIZE = int(os.environ.get("NETD_PY_BULK_BYTES", 64 * 1024 * 1024))
WRITE = 1024 * 1024


def setUpModule():
    netdtest.start()


def tearDownModule():
    netdtest.stop()


def make_payload(size):
    # Every byte value, no repeating period a hash could be blind to.
    block = hashlib.shake_256(b"netd python bulk test").digest(1 << 20)
    reps, rest = divmod(size, len(block))
    return block * reps + block[:rest]


PAYLOAD = make_payload(SIZE)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Peer:
    """An echo server that also hashes what it received."""

    def __init__(self):
        self.sha = hashlib.sha256()
        self.count = 0
        self.done = asyncio.get_running_loop().create_future()

    async def __call__(self, reader, writer):
        try:
            while True:
                data = await reader.read(1 << 20)
                if not data:
                    break
                self.sha.update(data)
                self.count += len(data)
                writer.write(data)
                await writer.drain()
            writer.write_eof()
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            self.done.set_result(None)
        except BaseException as e:
            self.done.set_exception(e)
            raise


async def transfer(open_connection, port):
    """Sends PAYLOAD in 1 MiB writes (awaiting drain) while reading the echo; returns
    (bytes back, their SHA-256, seconds)."""
    reader, writer = await open_connection("127.0.0.1", port)
    view = memoryview(PAYLOAD)

    async def send():
        for off in range(0, SIZE, WRITE):
            writer.write(view[off:off + WRITE])
            await writer.drain()
        writer.write_eof()

    t0 = time.perf_counter()
    sender = asyncio.create_task(send())
    sha = hashlib.sha256()
    got = 0
    while True:
        chunk = await reader.read(1 << 20)
        if not chunk:
            break
        sha.update(chunk)
        got += len(chunk)
    elapsed = time.perf_counter() - t0
    await sender
    writer.close()
    await writer.wait_closed()
    return got, sha.hexdigest(), elapsed


class BulkTest(NetdTestCase):
    async def asyncSetUp(self):
        asyncio.get_running_loop().set_debug(False)  # asyncio's debug mode costs 2-3x

    async def check(self, server_mod, client_mod, label):
        peer = Peer()
        server = await server_mod.start_server(peer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        got, sha, elapsed = await transfer(client_mod.open_connection, port)
        await peer.done
        server.close()
        await server.wait_closed()
        # Both directions, every byte: what the peer received, and what came back.
        self.assertEqual((peer.count, peer.sha.hexdigest()), (SIZE, PAYLOAD_SHA))
        self.assertEqual((got, sha), (SIZE, PAYLOAD_SHA))
        print("\n  %s: %d MiB echoed in %.2f s (%.0f MB/s each way)"
              % (label, SIZE >> 20, elapsed, SIZE / elapsed / 1e6), end=" ")

    @timed(90)
    async def test_netd_client_to_asyncio_peer(self):
        await self.check(asyncio, netd, "netd client -> asyncio echo peer")

    @timed(90)
    async def test_asyncio_client_to_netd_server(self):
        await self.check(netd, asyncio, "asyncio client -> netd echo server")


if __name__ == "__main__":
    unittest.main()
