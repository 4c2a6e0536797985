"""netd.Client (the protocol layer) and netd.SyncClient."""

import asyncio
import base64
import errno
import shutil
import socket
import unittest

import netdtest
from netdtest import NetdTestCase, timed

import netd


def setUpModule():
    netdtest.start()


def tearDownModule():
    netdtest.stop()


class ClientTest(NetdTestCase):
    async def asyncSetUp(self):
        self.client = await netd.Client.connect()

    async def asyncTearDown(self):
        await self.client.close()
        await super().asyncTearDown()

    @timed(20)
    async def test_calls_and_errors(self):
        c = self.client
        info = await c.call("netd.info")
        self.assertEqual(info["version"], "0.1.0")
        self.assertEqual(await c.call("net.isIP", {"input": "::1"}), 6)
        # Pipelined calls, matched by id whatever order the replies take.
        results = await asyncio.gather(*(c.call("net.isIPv4", {"input": x})
                                         for x in ("1.2.3.4", "nope", "10.0.0.1")))
        self.assertEqual(results, [True, False, True])

        with self.assertRaises(netd.NetdError) as cm:
            await c.call("no.such.method")
        self.assertEqual(cm.exception.rpc_code, -32601)
        self.assertEqual(cm.exception.data, {"method": "no.such.method"})

        with self.assertRaises(netd.NetdInvalidParamsError) as cm:
            await c.call("net.isIP", {"input": "x", "bogus": 1})
        self.assertIsInstance(cm.exception, ValueError)
        self.assertEqual((cm.exception.code, cm.exception.data["field"]),
                         ("ERR_INVALID_ARG_VALUE", "bogus"))

        with self.assertRaises(netd.NetdError) as cm:
            await c.call("socket.get", {"socket": 999999})
        self.assertEqual(cm.exception.code, "ERR_NETD_HANDLE_NOT_FOUND")
        self.assertEqual(cm.exception.rpc_code, -32001)
        self.assertIsNone(cm.exception.errno)

    @timed(20)
    async def test_events_iteration_and_dispatch(self):
        c = self.client
        stream = c.events()
        per_handle = []
        listened = []
        c.add_listener(lambda m, p: listened.append(m), "server.connection")

        srv = (await c.call("net.createServer"))["server"]
        addr = await c.call("server.listen", {"server": srv, "port": 0, "host": "127.0.0.1"})
        # on_reply runs before any event about the new socket is dispatched (§7.4), so
        # the watcher sees all of them.
        sock = (await c.call("net.createConnection",
                             {"port": addr["port"], "host": "127.0.0.1"},
                             on_reply=lambda r: c.watch("socket", r["socket"],
                                                        lambda m, p: per_handle.append(m))))[
            "socket"]
        seen = []
        accepted = None
        async for ev in stream:
            self.assertIsInstance(ev, netd.Event)
            seen.append(ev.method)
            if ev.method == "server.connection":
                accepted = ev.params["socket"]
                c.notify("socket.write", {"socket": accepted, "data": "aGkK",
                                          "encoding": "base64"})
                c.notify("socket.end", {"socket": accepted})
                # (sock has no allowHalfOpen: netd ends it on the FIN, then it closes)
            if ev.method == "socket.data":
                self.assertEqual(base64.b64decode(ev.params["data"]), b"hi\n")
            if ev.method == "socket.close" and ev.params["socket"] == sock:
                break
        self.assertEqual(seen[0], "server.listening")
        self.assertIn("server.connection", seen)
        self.assertEqual(listened, ["server.connection"])
        self.assertEqual(per_handle, ["socket.connect", "socket.ready", "socket.data",
                                      "socket.end", "socket.close"])
        await c.call("server.close", {"server": srv})
        stream.close()
        self.assertEqual([e async for e in stream], [])

    @timed(20)
    async def test_event_stream_filter_and_get(self):
        c = self.client
        everything = aiter(c)  # the same as c.events()
        self.assertIsInstance(everything, netd.EventStream)
        stream = c.events("server.close")
        srv = (await c.call("net.createServer"))["server"]
        with self.assertRaises(netd.NetdError):
            await c.call("server.close", {"server": srv})  # never listened: error + event
        ev = await stream.get(timeout=5)
        self.assertEqual(ev, netd.Event("server.close", {"server": srv}))
        with self.assertRaises(TimeoutError):
            await stream.get(timeout=0.05)
        stream.close()
        self.assertEqual((await anext(everything)).method, "server.close")
        everything.close()

    @timed(20)
    async def test_connection_errors_as_exceptions(self):
        c = self.client
        errors = c.events("socket.error")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            await c.call("net.connect", {"port": port, "host": "127.0.0.1"})
            ev = await errors.get(timeout=10)
        exc = netd.error_from_object(ev.params["error"])
        self.assertIsInstance(exc, ConnectionRefusedError)
        self.assertEqual((exc.errno, exc.code, exc.syscall, exc.port),
                         (errno.ECONNREFUSED, "ECONNREFUSED", "connect", port))
        errors.close()

    @timed(20)
    async def test_unconsumed_stream_pauses_input_then_resumes(self):
        c = self.client
        stream = c.events(maxsize=4)
        servers = [(await c.call("net.createServer"))["server"] for _ in range(6)]
        for srv in servers:
            c.notify("server.close", {"server": srv})  # one server.close event each
        # Once 4 events wait in the stream, the client stops reading netd (bounded
        # memory); consuming them resumes it, and nothing was dropped meanwhile.
        for _ in range(1000):  # bounded wait for the first 4 events
            if len(stream._queue) >= 4:
                break
            await asyncio.sleep(0.01)
        self.assertGreaterEqual(len(stream._queue), 4)
        self.assertFalse(c._transport.is_reading())
        got = [await stream.get(timeout=10) for _ in range(6)]
        self.assertEqual([e.params["server"] for e in got], servers)
        self.assertTrue(c._transport.is_reading())
        self.assertTrue(await c.sync())
        stream.close()

    @timed(20)
    async def test_daemon_gone(self):
        other = netdtest.Daemon()
        try:
            c = await netd.Client.connect(other.socket)
            stream = c.events()
            reader, writer = None, None
            srv = await netd.start_server(lambda r, w: None, "127.0.0.1", 0, client=c)
            reader, writer = await netd.open_connection(
                "127.0.0.1", srv.sockets[0].getsockname()[1], client=c)
            pending = asyncio.ensure_future(c.call("netd.sync"))
            other.proc.kill()  # the daemon dies
            with self.assertRaises(netd.NetdConnectionLost):
                await pending
            with self.assertRaises(ConnectionResetError):
                async for _ in stream:
                    pass
            with self.assertRaises(ConnectionResetError):
                await reader.read()
            self.assertTrue(c.closed)
            with self.assertRaises(netd.NetdConnectionLost):
                await c.call("netd.info")
            await srv.wait_closed()
        finally:
            other.proc.kill()
            other.proc.wait()
            other.log.close()
            shutil.rmtree(other.dir, ignore_errors=True)


class SyncClientTest(unittest.TestCase):
    def test_call_notify_events(self):
        with netd.SyncClient() as c:
            self.assertEqual(c.call("net.isIP", {"input": "10.1.2.3"}), 4)
            srv = c.call("net.createServer")["server"]
            addr = c.call("server.listen", {"server": srv, "port": 0, "host": "127.0.0.1"})
            self.assertEqual(c.next_event(timeout=5),
                             netd.Event("server.listening", {"server": srv}))
            with socket.create_connection(("127.0.0.1", addr["port"]), timeout=10) as peer:
                ev = c.wait_event("server.connection", timeout=10)
                sock = ev.params["socket"]
                self.assertEqual(ev.params["remotePort"], peer.getsockname()[1])
                c.notify("socket.setEncoding", {"socket": sock, "encoding": "utf8"})
                peer.sendall("héllo".encode())
                ev = c.wait_event("socket.data", lambda p: p["socket"] == sock, timeout=10)
                self.assertEqual((ev.params["data"], ev.params["encoding"]), ("héllo", "utf8"))
                self.assertTrue(c.call("socket.write", {"socket": sock, "data": "back"}))
                self.assertEqual(peer.recv(100), b"back")
                with self.assertRaises(TimeoutError):
                    c.next_event(timeout=0.05)
                with self.assertRaises(netd.NetdError) as cm:
                    c.call("socket.write", {"socket": sock, "data": "zz", "encoding": "hex"})
                self.assertEqual(cm.exception.data["field"], "data")
            c.wait_event("socket.close", lambda p: p["socket"] == sock, timeout=10)
            self.assertTrue(c.call("server.close", {"server": srv}))
            self.assertEqual(c.call("netd.info")["handles"], {"servers": 0, "sockets": 0})

    def test_refused_is_connection_refused_error(self):
        with netd.SyncClient() as c:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
                sock = c.call("net.connect", {"port": port, "host": "127.0.0.1"})["socket"]
                ev = c.wait_event("socket.error", timeout=10)
            self.assertEqual(ev.params["socket"], sock)
            self.assertEqual(ev.params["error"]["data"]["code"], "ECONNREFUSED")

    def test_no_daemon(self):
        with self.assertRaises(netd.NetdUnavailableError) as cm:
            netd.SyncClient("/nonexistent/netd.sock")
        self.assertEqual(cm.exception.errno, errno.ENOENT)


if __name__ == "__main__":
    unittest.main()
