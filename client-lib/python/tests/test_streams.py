"""asyncio streams over netd: echo, addresses, many connections, errors, half-close,
the Server object."""

import asyncio
import errno
import os
import socket
import tempfile
import unittest

import netdtest
from netdtest import NetdTestCase, timed

import netd


def setUpModule():
    netdtest.start()


def tearDownModule():
    netdtest.stop()


async def line_echo(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        writer.write(line)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on (bound, never listened, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoTest(NetdTestCase):
    @timed(20)
    async def test_tcp_echo_and_addresses(self):
        seen = []

        async def handler(reader, writer):
            seen.append((writer.get_extra_info("peername"), writer.get_extra_info("sockname")))
            await line_echo(reader, writer)

        server = await netd.start_server(handler, "127.0.0.1", 0)
        self.assertEqual(len(server.sockets), 1)
        self.assertEqual(server.sockets[0].family, socket.AF_INET)
        host, port = server.sockets[0].getsockname()
        self.assertEqual(host, "127.0.0.1")
        self.assertGreater(port, 0)
        self.assertTrue(server.is_serving())

        reader, writer = await netd.open_connection("127.0.0.1", port)
        for msg in (b"hello\n", b"\x00\xff binary \x80\n", b"x" * 60000 + b"\n"):
            writer.write(msg)
            await writer.drain()
            self.assertEqual(await reader.readline(), msg)
        peer, sock = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
        self.assertEqual(peer, ("127.0.0.1", port))
        self.assertEqual(sock[0], "127.0.0.1")
        # The server saw the same connection from the other end.
        self.assertEqual(seen, [(sock, peer)])
        sock_info = writer.get_extra_info("socket")
        self.assertEqual((sock_info.family, sock_info.type), (socket.AF_INET, socket.SOCK_STREAM))
        self.assertEqual((sock_info.getsockname(), sock_info.getpeername()), (sock, peer))
        sock_info.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock_info.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
        with self.assertRaises(OSError) as cm:
            sock_info.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.assertEqual(cm.exception.errno, errno.ENOPROTOOPT)
        writer.write(b"after setsockopt\n")
        self.assertEqual(await reader.readline(), b"after setsockopt\n")
        self.assertIsInstance(writer.transport, asyncio.Transport)
        self.assertTrue(writer.can_write_eof())
        writer.close()
        self.assertTrue(writer.is_closing())
        await writer.wait_closed()
        server.close()
        self.assertFalse(server.is_serving())
        self.assertEqual(server.sockets, ())
        await server.wait_closed()

    @timed(20)
    async def test_ipv6_addresses(self):
        if not socket.has_ipv6:
            self.skipTest("no IPv6")
        try:
            server = await netd.start_server(line_echo, "::1", 0)
        except OSError as e:
            self.skipTest("no IPv6 loopback here: %s" % e)
        addr = server.sockets[0].getsockname()
        self.assertEqual(server.sockets[0].family, socket.AF_INET6)
        self.assertEqual(addr[0], "::1")
        self.assertEqual(len(addr), 4)
        reader, writer = await netd.open_connection("::1", addr[1])
        writer.write(b"six\n")
        self.assertEqual(await reader.readline(), b"six\n")
        self.assertEqual(writer.get_extra_info("peername"), ("::1", addr[1], 0, 0))
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    @timed(20)
    async def test_unix_echo_and_addresses(self):
        seen = []

        async def handler(reader, writer):
            seen.append((writer.get_extra_info("peername"), writer.get_extra_info("sockname")))
            await line_echo(reader, writer)

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "echo.sock")
            server = await netd.start_unix_server(handler, path)
            self.assertEqual(server.sockets[0].family, socket.AF_UNIX)
            self.assertEqual(server.sockets[0].getsockname(), path)
            reader, writer = await netd.open_unix_connection(path)
            writer.write(b"over unix\n")
            self.assertEqual(await reader.readline(), b"over unix\n")
            # As asyncio answers for a client socket that was never bound.
            self.assertEqual(writer.get_extra_info("peername"), path)
            self.assertEqual(writer.get_extra_info("sockname"), "")
            self.assertEqual(seen, [("", path)])
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()

    @timed(20)
    async def test_unix_server_replaces_stale_socket_file(self):
        # asyncio removes a stale socket file before binding; so do we.
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "stale.sock")
            with socket.socket(socket.AF_UNIX) as s:
                s.bind(path)
            server = await netd.start_unix_server(line_echo, path)
            reader, writer = await netd.open_unix_connection(path)
            writer.write(b"ok\n")
            self.assertEqual(await reader.readline(), b"ok\n")
            writer.close()
            server.close()
            await server.wait_closed()

    @timed(40)
    async def test_many_concurrent_connections(self):
        n = 200
        accepted = 0

        async def handler(reader, writer):
            nonlocal accepted
            accepted += 1
            await line_echo(reader, writer)

        server = await netd.start_server(handler, "127.0.0.1", 0, backlog=n)
        port = server.sockets[0].getsockname()[1]
        opened = asyncio.Event()
        count = 0

        async def one(i):
            nonlocal count
            reader, writer = await netd.open_connection("127.0.0.1", port)
            count += 1
            if count == n:
                opened.set()
            await opened.wait()  # all n are open at the same time
            msg = b"connection %d says %s\n" % (i, os.urandom(8).hex().encode())
            writer.write(msg)
            got = await reader.readline()
            writer.write_eof()
            rest = await reader.read()
            writer.close()
            await writer.wait_closed()
            return got == msg and rest == b""

        results = await asyncio.gather(*(one(i) for i in range(n)))
        self.assertEqual(results, [True] * n)
        self.assertEqual(accepted, n)
        server.close()
        await server.wait_closed()


class HalfCloseTest(NetdTestCase):
    @timed(20)
    async def test_write_eof_then_read(self):
        async def handler(reader, writer):
            request = await reader.read()  # until the client's EOF
            self.assertTrue(reader.at_eof())
            writer.write(b"got %d bytes: " % len(request) + request[::-1])
            await writer.drain()
            writer.close()

        server = await netd.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await netd.open_connection("127.0.0.1", port)
        writer.write(b"abc")
        writer.write(b"def")
        writer.write_eof()
        with self.assertRaisesRegex(RuntimeError, "write_eof"):
            writer.write(b"more")
        self.assertFalse(writer.is_closing())  # still readable after our FIN
        self.assertEqual(await reader.read(), b"got 6 bytes: fedcba")
        self.assertTrue(reader.at_eof())
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    @timed(20)
    async def test_server_half_closes_first(self):
        async def handler(reader, writer):
            writer.write(b"banner\n")
            writer.write_eof()
            data = await reader.read()  # still receives after its FIN
            writer.close()
            received.set_result(data)

        received = asyncio.get_running_loop().create_future()
        server = await netd.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await netd.open_connection("127.0.0.1", port)
        self.assertEqual(await reader.read(), b"banner\n")
        writer.write(b"late words")
        writer.write_eof()
        self.assertEqual(await received, b"late words")
        writer.close()
        server.close()
        await server.wait_closed()


class ErrorTest(NetdTestCase):
    @timed(20)
    async def test_refused(self):
        port = free_port()
        with self.assertRaises(ConnectionRefusedError) as cm:
            await netd.open_connection("127.0.0.1", port)
        e = cm.exception
        self.assertEqual(e.errno, errno.ECONNREFUSED)
        self.assertEqual(e.code, "ECONNREFUSED")
        self.assertEqual(e.syscall, "connect")
        self.assertEqual((e.address, e.port), ("127.0.0.1", port))
        self.assertIsInstance(e, netd.NetdError)
        self.assertIn("ECONNREFUSED", str(e))

    @timed(20)
    async def test_unix_path_missing(self):
        with self.assertRaises(FileNotFoundError) as cm:
            await netd.open_unix_connection("/nonexistent/netd-test.sock")
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertEqual(cm.exception.syscall, "connect")

    @timed(20)
    async def test_address_in_use(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            with self.assertRaises(OSError) as cm:
                await netd.start_server(line_echo, "127.0.0.1", port)
        e = cm.exception
        self.assertEqual(e.errno, errno.EADDRINUSE)
        self.assertEqual(e.code, "EADDRINUSE")
        self.assertEqual(e.syscall, "listen")
        self.assertEqual(e.port, port)

    @timed(20)
    async def test_host_not_found(self):
        with self.assertRaises(socket.gaierror) as cm:
            await netd.open_connection("no-such-host.invalid", 80)
        e = cm.exception
        self.assertEqual(e.errno, socket.EAI_NONAME)
        self.assertEqual(e.code, "ENOTFOUND")
        self.assertEqual(e.syscall, "getaddrinfo")
        self.assertEqual(e.hostname, "no-such-host.invalid")

    @timed(20)
    async def test_bad_port_is_value_error(self):
        with self.assertRaises(ValueError) as cm:
            await netd.open_connection("127.0.0.1", 70000)
        self.assertEqual(cm.exception.code, "ERR_SOCKET_BAD_PORT")

    @timed(20)
    async def test_peer_reset_reaches_reader(self):
        accepted = asyncio.get_running_loop().create_future()

        async def handler(reader, writer):
            accepted.set_result(writer)

        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await netd.open_connection("127.0.0.1", port)
        peer = await accepted
        # SO_LINGER 0: close() sends an RST.
        peer.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        peer.transport.abort()
        with self.assertRaises(ConnectionResetError) as cm:
            while await reader.read(100):
                pass
        self.assertEqual(cm.exception.errno, errno.ECONNRESET)
        self.assertEqual((cm.exception.code, cm.exception.syscall), ("ECONNRESET", "read"))
        writer.close()
        server.close()
        await server.wait_closed()

    @timed(30)
    async def test_cancelled_connect_leaves_nothing_behind(self):
        server = await netd.start_server(line_echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = await netd.get_client()
        # Cancel after 0, 1, 2, ... loop iterations: before the reply, between the reply
        # and socket.connect, during socket.get, ... until a connect completes first.
        for steps in range(100):
            task = asyncio.ensure_future(netd.open_connection("127.0.0.1", port))
            for _ in range(steps):
                await asyncio.sleep(0)
            if task.done():
                reader, writer = task.result()
                writer.close()
                await writer.wait_closed()
                break
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
        else:
            self.fail("open_connection never completed")
        self.assertGreater(steps, 1)
        server.close()
        await server.wait_closed()  # every accepted socket closed: none was leaked
        await client.sync()
        info = await client.call("netd.info")
        self.assertEqual(info["handles"], {"servers": 0, "sockets": 0})

    async def test_no_daemon(self):
        client = netd.Client("/nonexistent/netd.sock")
        with self.assertRaises(ConnectionError) as cm:
            await client.open()
        self.assertIsInstance(cm.exception, netd.NetdUnavailableError)
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertIn("/nonexistent/netd.sock", str(cm.exception))
        await client.close()  # nothing to close: returns at once

    async def test_sock_and_bad_ssl_are_refused_clearly(self):
        with socket.socket() as s, self.assertRaises(ValueError):
            await netd.start_server(line_echo, sock=s)
        with self.assertRaisesRegex(TypeError, "SSLContext"):
            await netd.start_server(line_echo, "127.0.0.1", 0, ssl=True)
        with self.assertRaisesRegex(ValueError, "only meaningful with ssl"):
            await netd.open_connection("127.0.0.1", 1, server_hostname="x")


class TlsTest(NetdTestCase):
    """TLS through asyncio's own SSLProtocol on top of netd's sockets, against plain
    asyncio TLS peers (a throwaway self-signed certificate made with openssl)."""

    @classmethod
    def setUpClass(cls):
        import shutil
        import ssl
        import subprocess
        if not shutil.which("openssl"):
            raise unittest.SkipTest("openssl not found: cannot make a test certificate")
        cls.dir = tempfile.TemporaryDirectory()
        cert, key = (os.path.join(cls.dir.name, n) for n in ("cert.pem", "key.pem"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
                        cert, "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        cls.server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cls.server_ctx.load_cert_chain(cert, key)
        cls.client_ctx = ssl.create_default_context(cafile=cert)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    async def echo_check(self, server_mod, client_mod):
        async def chunk_echo(reader, writer):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        server = await server_mod.start_server(chunk_echo, "127.0.0.1", 0,
                                               ssl=self.server_ctx)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await client_mod.open_connection(
            "127.0.0.1", port, ssl=self.client_ctx, server_hostname="localhost")
        self.assertIsNotNone(writer.get_extra_info("ssl_object"))
        self.assertEqual(writer.get_extra_info("peername"), ("127.0.0.1", port))
        writer.write(b"tls hello\n")
        self.assertEqual(await reader.readline(), b"tls hello\n")
        blob = os.urandom(4 * 1024 * 1024)
        writer.write(blob)
        await writer.drain()
        self.assertEqual(await reader.readexactly(len(blob)), blob)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    @timed(40)
    async def test_netd_client_asyncio_server(self):
        await self.echo_check(asyncio, netd)

    @timed(40)
    async def test_asyncio_client_netd_server(self):
        await self.echo_check(netd, asyncio)

    @timed(40)
    async def test_bad_certificate_fails_the_connect(self):
        import ssl
        server = await netd.start_server(line_echo, "127.0.0.1", 0, ssl=self.server_ctx)
        port = server.sockets[0].getsockname()[1]
        with self.assertRaises(ssl.SSLCertVerificationError):
            await netd.open_connection("127.0.0.1", port, ssl=ssl.create_default_context(),
                                       server_hostname="localhost")
        server.close()
        await server.wait_closed()


class ServerTest(NetdTestCase):
    @timed(20)
    async def test_default_host_listens_like_asyncio(self):
        # asyncio binds 0.0.0.0 and :: (IPv6-only) separately: two sockets.
        server = await netd.start_server(line_echo, None, 0)
        ref = await asyncio.start_server(line_echo, None, 0)
        try:
            self.assertEqual(sorted(s.family for s in server.sockets),
                             sorted(s.family for s in ref.sockets))
            for s in server.sockets:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1" if s.family == socket.AF_INET else "::1", s.getsockname()[1])
                writer.write(b"hi\n")
                self.assertEqual(await reader.readline(), b"hi\n")
                writer.close()
                await writer.wait_closed()
        finally:
            ref.close()
            server.close()
            await server.wait_closed()

    @timed(20)
    async def test_async_with_and_serve_forever(self):
        async with await netd.start_server(line_echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            task = asyncio.create_task(server.serve_forever())
            reader, writer = await netd.open_connection("127.0.0.1", port)
            writer.write(b"x\n")
            self.assertEqual(await reader.readline(), b"x\n")
            writer.close()
            await writer.wait_closed()
            with self.assertRaises(RuntimeError):
                await server.serve_forever()
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            self.assertFalse(server.is_serving())
        with self.assertRaises(ConnectionRefusedError):
            await netd.open_connection("127.0.0.1", port)

    @timed(20)
    async def test_start_serving_later(self):
        calls = []

        async def handler(reader, writer):
            calls.append(await reader.readline())
            writer.write(b"served\n")
            writer.close()

        server = await netd.start_server(handler, "127.0.0.1", 0, start_serving=False)
        self.assertFalse(server.is_serving())
        port = server.sockets[0].getsockname()[1]
        reader, writer = await netd.open_connection("127.0.0.1", port)
        writer.write(b"early\n")
        await (await netd.get_client()).sync()
        self.assertEqual(calls, [])
        await server.start_serving()
        self.assertTrue(server.is_serving())
        self.assertEqual(await reader.readline(), b"served\n")
        self.assertEqual(calls, [b"early\n"])
        writer.close()
        server.close()
        await server.wait_closed()

    @timed(20)
    async def test_wait_closed_waits_for_connections(self):
        release = asyncio.Event()

        async def handler(reader, writer):
            await release.wait()
            writer.close()

        server = await netd.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await netd.open_connection("127.0.0.1", port)
        await (await netd.get_client()).sync()
        server.close()
        waiter = asyncio.create_task(server.wait_closed())
        await (await netd.get_client()).sync()
        self.assertFalse(waiter.done())
        release.set()
        self.assertEqual(await reader.read(), b"")
        await waiter
        writer.close()
        await writer.wait_closed()


if __name__ == "__main__":
    unittest.main()
