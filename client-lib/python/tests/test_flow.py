"""Flow control: drain() waits on netd's backpressure when the peer reads slowly, and a
full StreamReader pauses the netd socket so that memory stays bounded at every hop."""

import asyncio
import hashlib
import os
import tempfile
import unittest

import netdtest
from netdtest import NetdTestCase, timed

import netd
from netd import _streams

MIB = 1024 * 1024
TOTAL = int(os.environ.get("NETD_PY_FLOW_BYTES", 48 * MIB))
# What may sit between a writer and a peer that reads nothing: the peer's StreamReader
# (2 x 64 KiB), both kernel socket buffers (tcp_wmem max 4 MiB, the receive window) and
# what netd holds for the socket (one write of at most 512 KiB). Far below TOTAL.
STALL_BOUND = 24 * MIB
STALL_MS = 300  # no progress for this long while netd holds bytes: the writer is held


def setUpModule():
    netdtest.start()


def tearDownModule():
    netdtest.stop()


PAYLOAD = hashlib.shake_256(b"netd python flow test").digest(TOTAL)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


async def wait_stalled(progress, task, what, confirm=None):
    """Waits until progress() stops moving for STALL_MS (and, if given, the coroutine
    function confirm() agrees that the data is held where it should be: a busy machine
    can starve a process for that long); fails if task finishes first (the data must
    not all get through while nobody reads it)."""
    for _ in range(400):  # bounded: 400 x 0.3 s
        before = progress()
        done, _ = await asyncio.wait({task}, timeout=STALL_MS / 1000 * netdtest.TIMEOUT_SCALE)
        if done:
            raise AssertionError("%s finished although nobody read the data" % what)
        if progress() == before and (confirm is None or await confirm()):
            return
    raise AssertionError("%s never stalled" % what)


class FlowTest(NetdTestCase):
    async def asyncSetUp(self):
        asyncio.get_running_loop().set_debug(False)

    @timed(90)
    async def test_drain_waits_for_slow_peer(self):
        loop = asyncio.get_running_loop()
        gate = asyncio.Event()
        peer_done = loop.create_future()
        state = {"received": 0, "max_ahead": 0}
        sha = hashlib.sha256()
        sent = 0

        async def slow_peer(reader, writer):  # plain asyncio
            await gate.wait()
            while True:
                data = await reader.read(64 * 1024)
                if not data:
                    break
                sha.update(data)
                state["received"] += len(data)
                state["max_ahead"] = max(state["max_ahead"], sent - state["received"])
                if state["received"] < 4 * MIB:
                    await asyncio.sleep(0.002)  # slow: about 30 MB/s at most
            writer.close()
            peer_done.set_result(None)

        server = await asyncio.start_server(slow_peer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await netd.open_connection("127.0.0.1", port)
        transport = writer.transport
        max_buffered = 0
        view = memoryview(PAYLOAD)
        chunk = 256 * 1024

        async def produce():
            nonlocal sent, max_buffered
            for off in range(0, TOTAL, chunk):
                writer.write(view[off:off + chunk])
                max_buffered = max(max_buffered, transport.get_write_buffer_size())
                await writer.drain()
                sent += chunk
            writer.write_eof()
            await writer.drain()

        producer = asyncio.create_task(produce())
        try:
            client = await netd.get_client()

            async def netd_holds_bytes():
                info = await client.call("socket.get",
                                         {"socket": writer.get_extra_info("netd_socket")})
                return info["bufferSize"] > 0

            await wait_stalled(lambda: sent, producer, "the writer", netd_holds_bytes)
            # drain() really waits: netd holds bytes the kernel would not take, no more
            # than our window, and the writer got nowhere near the end.
            info = await client.call("socket.get",
                                     {"socket": writer.get_extra_info("netd_socket")})
            self.assertGreater(info["bufferSize"], 0)
            self.assertLessEqual(info["bufferSize"], _streams.WINDOW)
            self.assertGreater(transport.get_write_buffer_size(),
                               transport.get_write_buffer_limits()[1])
            self.assertLess(sent, STALL_BOUND)
            self.assertFalse(producer.done())
        finally:
            gate.set()
        await producer
        await peer_done
        # The writer never ran ahead of the slow reader by more than the buffers.
        self.assertLess(state["max_ahead"], STALL_BOUND)
        # Locally at most one write plus the low-water mark was ever buffered.
        self.assertLessEqual(max_buffered, chunk + transport.get_write_buffer_limits()[0])
        self.assertEqual((state["received"], sha.hexdigest()), (TOTAL, PAYLOAD_SHA))
        self.assertEqual(await reader.read(), b"")
        writer.close()
        await writer.wait_closed()
        server.close()

    @timed(90)
    async def test_full_reader_pauses_the_netd_socket(self):
        loop = asyncio.get_running_loop()
        limit = 64 * 1024
        state = {"sent": 0}
        peer_done = loop.create_future()

        async def fast_peer(reader, writer):  # plain asyncio, writes as fast as it can
            view = memoryview(PAYLOAD)
            for off in range(0, TOTAL, 256 * 1024):
                writer.write(view[off:off + 256 * 1024])
                await writer.drain()
                state["sent"] = off + 256 * 1024
            writer.write_eof()
            writer.close()
            peer_done.set_result(None)

        server = await asyncio.start_server(fast_peer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await netd.open_connection("127.0.0.1", port, limit=limit)
        client = await netd.get_client()

        async def netd_paused_it():
            info = await client.call("socket.get",
                                     {"socket": writer.get_extra_info("netd_socket")})
            return info["paused"]

        await wait_stalled(lambda: state["sent"], peer_done, "the peer", netd_paused_it)
        # Bounded on our side: the StreamReader holds its 2 x limit plus what netd had
        # already read when the pause reached it; netd paused the socket; the peer is
        # held by TCP.
        buffered = len(reader._buffer)
        self.assertGreater(buffered, 2 * limit)
        self.assertLess(buffered, 2 * limit + 2 * MIB)
        info = await client.call("socket.get", {"socket": writer.get_extra_info("netd_socket")})
        self.assertTrue(info["paused"])
        self.assertLess(state["sent"], STALL_BOUND)

        sha = hashlib.sha256()
        got = 0
        most = 0
        while True:
            data = await reader.read(32 * 1024)
            if not data:
                break
            sha.update(data)
            got += len(data)
            most = max(most, len(reader._buffer))
        self.assertEqual((got, sha.hexdigest()), (TOTAL, PAYLOAD_SHA))
        self.assertLess(most, 2 * limit + 2 * MIB)
        await peer_done
        writer.close()
        await writer.wait_closed()
        server.close()

    @timed(90)
    async def test_slow_peers_do_not_hold_the_control_connection(self):
        # netd holds a control connection's input while 64 of its requests wait (§12),
        # and every write it has not yet handed to the kernel is one. 40 sockets whose
        # peers read nothing must not get there: each has one write waiting, and a fast
        # socket on the same connection still echoes at once.
        n = 40
        per_socket = 2 * MIB
        gate = asyncio.Event()
        received = []

        async def sleepy_peer(reader, writer):  # plain asyncio, reads only after the gate
            await gate.wait()
            got = 0
            while data := await reader.read(1 << 20):
                got += len(data)
            received.append(got)
            writer.close()

        async def echo(reader, writer):
            while line := await reader.readline():
                writer.write(line)
                await writer.drain()
            writer.close()

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "sleepy.sock")  # UNIX sockets: small fixed buffers
            sleepy = await asyncio.start_unix_server(sleepy_peer, path)
            fast = await asyncio.start_server(echo, "127.0.0.1", 0)
            client = await netd.get_client()
            before = (await client.call("netd.info"))["stats"]["inputHeld"]
            writers = []
            progress = [0] * n

            async def stuff(i, writer):
                # All at once: the transport, not the application, decides how much
                # goes to netd.
                writer.write(memoryview(PAYLOAD)[:per_socket])
                await writer.drain()
                progress[i] = per_socket
                writer.write_eof()

            for i in range(n):
                writers.append((await netd.open_unix_connection(path))[1])
            tasks = [asyncio.create_task(stuff(i, w)) for i, w in enumerate(writers)]
            everyone = asyncio.ensure_future(asyncio.gather(*tasks))
            await wait_stalled(lambda: sum(w.transport.get_write_buffer_size()
                                           for w in writers), everyone, "the stalled writers")
            self.assertTrue(all(p < per_socket for p in progress))

            reader, writer = await netd.open_connection("127.0.0.1",
                                                        fast.sockets[0].getsockname()[1])
            writer.write(b"still here\n")
            self.assertEqual(await asyncio.wait_for(reader.readline(), 10), b"still here\n")
            info = await client.call("netd.info")
            self.assertEqual(info["stats"]["inputHeld"], before)
            writer.close()

            gate.set()
            await everyone
            for w in writers:
                w.close()
            sleepy.close()
            fast.close()
            for _ in range(1000):
                if len(received) == n:
                    break
                await asyncio.sleep(0.01)
            self.assertEqual(received, [per_socket] * n)


if __name__ == "__main__":
    unittest.main()
