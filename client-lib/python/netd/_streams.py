"""asyncio transports, servers and streams whose sockets netd owns.

``open_connection``/``start_server`` (and the UNIX pair) build asyncio's own
``StreamReader``/``StreamReaderProtocol``/``StreamWriter`` on a transport that talks to
netd, exactly as asyncio builds them on a selector transport, so every stream method
behaves as asyncio's. What the transport does:

- ``write()`` keeps the bytes locally and sends them to netd as ``socket.write``
  requests (base64, at most 512 KiB each), one per socket waiting for its reply at a
  time. A reply means netd handed the bytes to the kernel (PROTOCOL.md §10.3), so the
  write buffer size (local + unanswered) is netd's backpressure; past the high-water mark
  the protocol is paused, which is what ``StreamWriter.drain()`` waits on.
- ``pause_reading()``/``resume_reading()`` send ``socket.pause``/``socket.resume``, so a
  full StreamReader (over twice its ``limit``) stops netd reading that socket.
- ``write_eof()`` is ``socket.end`` once the buffered bytes are sent; ``close()`` flushes
  and then destroys the socket; ``abort()`` destroys it at once.
- ``ssl=`` puts asyncio's own TLS protocol (``sslproto.SSLProtocol``, as the loop's
  ``create_connection`` does) between the transport and the application protocol.
"""

import asyncio
import binascii
import collections
import errno
import functools
import logging
import os
import socket
import stat
import weakref
from asyncio import sslproto

try:
    import ssl as _ssl
except ImportError:  # Python built without ssl
    _ssl = None

from ._client import Client
from ._errors import NetdConnectionLost, error_from_object

__all__ = ["open_connection", "start_server", "open_unix_connection", "start_unix_server",
           "create_connection", "create_server", "create_unix_connection",
           "create_unix_server", "get_client", "set_client", "close_client", "Server",
           "SocketInfo"]

logger = logging.getLogger("netd")

_DEFAULT_LIMIT = 2 ** 16  # asyncio.streams' default
# Bytes per socket.write: its line (base64, ~700 KB) stays well under netd's 1 MiB limit.
CHUNK = 512 * 1024
# Bytes per socket sent to netd and not yet answered: one write. Every write netd has
# not yet handed to the kernel takes one of the 64 request slots of the control
# connection (netd holds the connection's input when all are taken, §12), whether it
# was sent with an id or as a notification; one per socket keeps that for 64 sockets
# whose peers are all stalled at once.
WINDOW = CHUNK

# -- the default client of each event loop ----------------------------------------

_clients = weakref.WeakKeyDictionary()


async def get_client():
    """The running loop's shared :class:`Client` (one control connection, made on first
    use at :func:`netd.default_socket_path`, remade if it was closed)."""
    loop = asyncio.get_running_loop()
    entry = _clients.get(loop)
    if isinstance(entry, Client) and not entry.closed:
        return entry
    if isinstance(entry, asyncio.Future):
        return await asyncio.shield(entry)
    fut = loop.create_future()
    _clients[loop] = fut
    try:
        client = await Client.connect()
    except BaseException as e:
        _clients.pop(loop, None)
        fut.set_exception(e)
        fut.exception()  # retrieved: only concurrent first users see it
        raise
    _clients[loop] = client
    fut.set_result(client)
    return client


async def close_client(*, abort=False):
    """Closes the running loop's shared client, if any (its handles are destroyed);
    the next stream call makes a new one. ``abort`` as for :meth:`Client.close`."""
    entry = _clients.pop(asyncio.get_running_loop(), None)
    if isinstance(entry, asyncio.Future):
        entry = await asyncio.shield(entry)
    if isinstance(entry, Client):
        await entry.close(abort=abort)


def set_client(client):
    """Makes ``client`` (an open :class:`Client`) the running loop's shared client."""
    _clients[asyncio.get_running_loop()] = client


async def _client_for(client):
    if client is None:
        return await get_client()
    if client._transport is None:
        await client.open()
    return client


def _registry(client):
    """The transports and servers of a client, told when its connection goes."""
    reg = getattr(client, "_netd_stream_objects", None)
    if reg is None:
        reg = client._netd_stream_objects = set()

        def lost(exc):
            err = exc or NetdConnectionLost("the netd control connection was closed")
            for obj in list(reg):
                obj._control_lost(err)
            reg.clear()
        client.add_close_callback(lost)
    return reg


def _ignore(result, error):
    pass


def _port(port):
    """A service name ("http") as getaddrinfo() takes it, as its number; the rest is
    netd's to check."""
    if isinstance(port, str) and port and not port.isdigit():
        try:
            return socket.getservbyname(port, "tcp")
        except OSError:
            raise socket.gaierror(getattr(socket, "EAI_SERVICE", -8),
                                  "Servname not supported for ai_socktype") from None
    return port


def _sockaddr(address, port, family):
    if address is None:
        return None
    if family == "IPv6" or (family is None and ":" in address):
        return (address, port, 0, 0)
    return (address, port)


def _unix_name(path):
    if isinstance(path, str) and path.startswith("\0"):
        return os.fsencode(path)  # Python names abstract sockets with bytes
    return path


# -- the transport ----------------------------------------------------------------

class _SocketTransport(asyncio.Transport):
    """An asyncio transport over one netd socket handle."""

    def __init__(self, client, sid, extra=None):
        super().__init__(extra)
        self._client = client
        self._loop = client._loop
        self._sid = sid
        self._protocol = None
        self._started = False
        self._early = []
        self._connect_waiter = None
        self._connect_exc = None
        self._closing = False
        self._lost = False
        self._eof = False
        self._end_sent = False
        self._destroy_sent = False
        self._read_paused = False
        self._buf = collections.deque()
        self._buf_size = 0
        self._inflight = 0
        self._high = _DEFAULT_LIMIT
        self._low = _DEFAULT_LIMIT // 4
        self._proto_paused = False
        self._exc = None
        self._dropped_writes = 0
        self._server = None
        client.watch("socket", sid, self._event)
        client.watch_data(sid, self._data_b64)
        _registry(client).add(self)

    def __repr__(self):
        state = "closed" if self._lost else "closing" if self._closing else "open"
        return "<netd socket transport %d %s>" % (self._sid, state)

    # events ---------------------------------------------------------------------

    def _event(self, method, params):
        if not self._started:
            self._early_event(method, params)
            return
        if method == "socket.data":
            if self._closing:
                return
            data = params.get("data", "")
            if params.get("encoding", "base64") == "base64":
                data = binascii.a2b_base64(data)
            else:
                data = data.encode("utf-8")
            if data:
                self._deliver(data)
        elif method == "socket.end":
            if self._closing:
                return
            if not self._protocol.eof_received():
                self.close()
        elif method == "socket.error":
            self._exc = error_from_object(params.get("error"))
        elif method == "socket.close":
            self._connection_lost(self._exc)

    def _deliver(self, data):
        p = self._protocol
        if not isinstance(p, asyncio.BufferedProtocol):
            p.data_received(data)
            return
        view = memoryview(data)
        while view:  # as asyncio feeds a BufferedProtocol (asyncio's TLS layer is one)
            buf = memoryview(p.get_buffer(len(view))).cast("B")
            if not buf:
                raise RuntimeError("get_buffer() returned an empty buffer")
            n = min(len(buf), len(view))
            buf[:n] = view[:n]
            p.buffer_updated(n)
            view = view[n:]

    def _data_b64(self, b64):
        if not self._started:
            return False
        if not self._closing:
            data = binascii.a2b_base64(b64)
            if data:
                self._deliver(data)
        return True

    def _early_event(self, method, params):
        w = self._connect_waiter
        if w is not None and not w.done():
            if method == "socket.connect":
                w.set_result(None)
            elif method == "socket.error":
                self._connect_exc = error_from_object(params.get("error"))
            elif method == "socket.close":
                self._lost = True
                self._client.unwatch("socket", self._sid)
                _registry(self._client).discard(self)
                w.set_exception(self._connect_exc or ConnectionResetError(
                    "netd closed the socket while connecting"))
            return
        self._early.append((method, params))

    def _start(self, protocol):
        """Hands the connected socket to its protocol, then the events held so far."""
        self._protocol = protocol
        self._started = True
        protocol.connection_made(self)
        early, self._early = self._early, []
        for method, params in early:
            if self._lost:
                break
            self._event(method, params)

    def _connection_lost(self, exc):
        if self._lost:
            return
        self._lost = True
        self._closing = True
        self._buf.clear()
        self._buf_size = 0
        self._client.unwatch("socket", self._sid)
        _registry(self._client).discard(self)
        if self._server is not None:
            self._server._detach(self)
        if self._started:
            self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc):
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._protocol = None

    def _control_lost(self, err):
        w = self._connect_waiter
        if w is not None and not w.done():
            w.set_exception(err)
        self._connection_lost(None if (self._closing and not self._buf) else err)

    # writing --------------------------------------------------------------------

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data argument must be a bytes-like object, not %r"
                            % type(data).__name__)
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        if self._lost or self._destroy_sent:
            self._dropped_writes += 1
            if self._dropped_writes >= 5:
                logger.warning("socket.send() raised exception.")
            return
        self._buf.append(memoryview(bytes(data)))
        self._buf_size += len(data)
        self._pump()
        self._maybe_pause_protocol()

    def _pump(self):
        buf = self._buf
        while buf and self._inflight < WINDOW:
            first = buf[0]
            if len(first) >= CHUNK:
                chunk = first[:CHUNK]
                if len(first) == CHUNK:
                    buf.popleft()
                else:
                    buf[0] = first[CHUNK:]
            else:
                parts = [buf.popleft()]
                size = len(parts[0])
                while buf and size + len(buf[0]) <= CHUNK:
                    size += len(buf[0])
                    parts.append(buf.popleft())
                chunk = parts[0] if len(parts) == 1 else b"".join(parts)
            n = len(chunk)
            self._buf_size -= n
            self._inflight += n
            self._client._send_write(self._sid, binascii.b2a_base64(chunk, newline=False),
                                     functools.partial(self._write_done, n))
        self._maybe_finish()

    def _write_done(self, n, result, error):
        self._inflight -= n
        if self._lost:
            return
        self._pump()
        self._maybe_resume_protocol()

    def _maybe_finish(self):
        if self._buf or self._lost:
            return
        if self._eof and not self._end_sent and not self._destroy_sent and \
                self._inflight == 0:
            # Once netd's queue is empty the FIN goes out at once: the request does not
            # sit in one of netd's request slots behind a slow peer.
            self._end_sent = True
            self._client.send_request("socket.end", {"socket": self._sid}, _ignore)
        if self._closing and self._inflight == 0 and not self._destroy_sent:
            # Every byte is in the kernel: close the descriptor, as asyncio's close()
            # does once its buffer is flushed (the peer still gets the data, then FIN).
            self._destroy()
            self._connection_lost(None)

    def _destroy(self):
        self._destroy_sent = True
        if not self._client.closed:
            self._client.send_request("socket.destroy", {"socket": self._sid}, _ignore)

    def get_write_buffer_size(self):
        return self._buf_size + self._inflight

    def get_write_buffer_limits(self):
        return (self._low, self._high)

    def set_write_buffer_limits(self, high=None, low=None):
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError("high (%r) must be >= low (%r) must be >= 0" % (high, low))
        self._high, self._low = high, low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self):
        if not self._proto_paused and self.get_write_buffer_size() > self._high:
            self._proto_paused = True
            try:
                self._protocol.pause_writing()
            except Exception as e:
                self._loop.call_exception_handler({
                    "message": "protocol.pause_writing() failed", "exception": e,
                    "transport": self, "protocol": self._protocol})

    def _maybe_resume_protocol(self):
        if self._proto_paused and self.get_write_buffer_size() <= self._low:
            self._proto_paused = False
            try:
                self._protocol.resume_writing()
            except Exception as e:
                self._loop.call_exception_handler({
                    "message": "protocol.resume_writing() failed", "exception": e,
                    "transport": self, "protocol": self._protocol})

    def write_eof(self):
        if self._closing or self._eof:
            return
        self._eof = True
        self._maybe_finish()

    def can_write_eof(self):
        return True

    # closing --------------------------------------------------------------------

    def is_closing(self):
        return self._closing

    def close(self):
        if self._closing:
            return
        self._closing = True
        self._maybe_finish()

    def abort(self):
        if self._lost:
            return
        self._closing = True
        self._buf.clear()
        self._buf_size = 0
        if not self._destroy_sent:
            self._destroy()
        self._connection_lost(None)

    def _force_close(self, exc):
        """asyncio's SSLProtocol calls this on a fatal TLS error."""
        if self._lost:
            return
        self._closing = True
        self._buf.clear()
        self._buf_size = 0
        if not self._destroy_sent:
            self._destroy()
        self._connection_lost(exc)

    # reading --------------------------------------------------------------------

    def is_reading(self):
        return not self._read_paused and not self._closing

    def pause_reading(self):
        if not self.is_reading():
            return
        self._read_paused = True
        if not self._client.closed:
            self._client.notify("socket.pause", {"socket": self._sid})

    def resume_reading(self):
        if self._closing or not self._read_paused:
            return
        self._read_paused = False
        if not self._client.closed:
            self._client.notify("socket.resume", {"socket": self._sid})

    def set_protocol(self, protocol):
        self._protocol = protocol

    def get_protocol(self):
        return self._protocol


class SocketInfo:
    """What ``get_extra_info("socket")`` returns: a stand-in for asyncio's
    ``TransportSocket``, since the descriptor lives in netd. It answers ``family``,
    ``type``, ``proto``, ``getsockname()``, ``getpeername()``, and maps the options
    programs commonly set to netd's methods: ``setsockopt(IPPROTO_TCP, TCP_NODELAY, v)``
    (``socket.setNoDelay``) and ``setsockopt(SOL_SOCKET, SO_KEEPALIVE, v)``
    (``socket.setKeepAlive``); other options raise ``OSError(ENOPROTOOPT)``.
    ``fileno()`` is -1."""

    type = socket.SOCK_STREAM
    proto = 0

    def __init__(self, transport, family=None):
        self._t = transport
        if family is None:
            peer = transport._extra.get("peername")
            family = socket.AF_INET6 if isinstance(peer, tuple) and len(peer) == 4 \
                else socket.AF_INET
        self.family = family

    def fileno(self):
        return -1

    def getsockname(self):
        return self._t._extra.get("sockname")

    def getpeername(self):
        return self._t._extra.get("peername")

    def setsockopt(self, level, option, value, *rest):
        on = bool(int.from_bytes(value, "little") if isinstance(value, (bytes, bytearray))
                  else value)
        if self.family != socket.AF_UNIX and level == socket.IPPROTO_TCP and \
                option == socket.TCP_NODELAY:
            method, params = "socket.setNoDelay", {"noDelay": on}
        elif self.family != socket.AF_UNIX and level == socket.SOL_SOCKET and \
                option == socket.SO_KEEPALIVE:
            method, params = "socket.setKeepAlive", {"enable": on}
        else:
            raise OSError(errno.ENOPROTOOPT, "netd streams can only set TCP_NODELAY and "
                          "SO_KEEPALIVE on their sockets")
        t = self._t
        if not t._lost and not t._client.closed:
            t._client.notify(method, dict(params, socket=t._sid))

    def __repr__(self):
        return "<netd.SocketInfo socket=%d family=%s laddr=%r raddr=%r>" % (
            self._t._sid, socket.AddressFamily(self.family).name, self.getsockname(),
            self.getpeername())


# -- connecting -------------------------------------------------------------------

async def _connect(client, params, unix_path=None):
    """net.createConnection; waits for socket.connect; returns the (unstarted)
    transport with its extra info filled."""
    client = await _client_for(client)
    loop = client._loop
    waiter = loop.create_future()
    state = {"t": None, "cancelled": False}

    def on_reply(result):
        t = _SocketTransport(client, result["socket"])
        t._connect_waiter = waiter
        state["t"] = t
        if state["cancelled"]:
            t.abort()

    try:
        await client.call("net.createConnection", params, on_reply=on_reply)
        t = state["t"]
        await waiter
        if unix_path is None:
            info = await client.call("socket.get", {"socket": t._sid})
            t._extra["peername"] = _sockaddr(info.get("remoteAddress"),
                                             info.get("remotePort"), info.get("remoteFamily"))
            t._extra["sockname"] = _sockaddr(info.get("localAddress"),
                                             info.get("localPort"), info.get("localFamily"))
        else:
            t._extra["peername"] = _unix_name(unix_path)
            t._extra["sockname"] = ""
    except BaseException:
        state["cancelled"] = True
        t = state["t"]
        if t is not None and not t._lost:
            t._destroy()
            t._connection_lost(None)
        raise
    t._extra["socket"] = SocketInfo(t, socket.AF_UNIX if unix_path is not None else None)
    t._extra["netd_socket"] = t._sid
    t._extra["netd_client"] = client
    return t


def _no_sock(sock):
    if sock is not None:
        raise ValueError("netd streams cannot take a sock=: netd owns the sockets")


def _client_ssl_context(ssl):
    if _ssl is None:
        raise RuntimeError("Python ssl module is not available")
    if isinstance(ssl, _ssl.SSLContext):
        return ssl
    return _ssl.create_default_context()


async def _start_protocol(t, protocol, sslcontext=None, server_side=False,
                          server_hostname=None, ssl_handshake_timeout=None,
                          ssl_shutdown_timeout=None):
    """Starts the transport with protocol, through asyncio's own TLS layer (the
    SSLProtocol that loop.create_connection/create_server use) when sslcontext is
    given; returns the transport the protocol sees once ready."""
    if not sslcontext:
        t._start(protocol)
        return t
    waiter = t._loop.create_future()
    ssl_protocol = sslproto.SSLProtocol(
        t._loop, protocol, sslcontext, waiter, server_side, server_hostname,
        ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout)
    t._start(ssl_protocol)
    try:
        await waiter
    except BaseException:
        t.close()
        raise
    return ssl_protocol._get_app_transport()


async def create_connection(protocol_factory, host=None, port=None, *, ssl=None,
                            family=0, proto=0, flags=0, sock=None, local_addr=None,
                            server_hostname=None, ssl_handshake_timeout=None,
                            ssl_shutdown_timeout=None, happy_eyeballs_delay=None,
                            interleave=None, client=None):
    """``loop.create_connection()`` over netd: returns ``(transport, protocol)``."""
    _no_sock(sock)
    if server_hostname is not None and not ssl:
        raise ValueError("server_hostname is only meaningful with ssl")
    if server_hostname is None and ssl:
        if not host:
            raise ValueError("You must set server_hostname when using ssl without a host")
        server_hostname = host
    if ssl_handshake_timeout is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    if host is None and port is None:
        raise ValueError("host and port was not specified and no sock specified")
    # asyncio sets TCP_NODELAY on every TCP socket it makes; so do we.
    params = {"port": _port(port), "allowHalfOpen": True, "noDelay": True}
    if host is not None:
        params["host"] = host
    if family == socket.AF_INET:
        params["family"] = 4
    elif family == socket.AF_INET6:
        params["family"] = 6
    if local_addr is not None:
        lhost, lport = local_addr[0], local_addr[1]
        if lhost:
            params["localAddress"] = lhost
        if lport:
            params["localPort"] = lport
    if happy_eyeballs_delay is not None:
        params["autoSelectFamilyAttemptTimeout"] = max(10, int(happy_eyeballs_delay * 1000))
    sslcontext = _client_ssl_context(ssl) if ssl else None
    t = await _connect(client, params)
    protocol = protocol_factory()
    transport = await _start_protocol(t, protocol, sslcontext, False, server_hostname,
                                      ssl_handshake_timeout, ssl_shutdown_timeout)
    return transport, protocol


async def create_unix_connection(protocol_factory, path=None, *, ssl=None, sock=None,
                                 server_hostname=None, ssl_handshake_timeout=None,
                                 ssl_shutdown_timeout=None, client=None):
    """``loop.create_unix_connection()`` over netd."""
    _no_sock(sock)
    if ssl:
        if server_hostname is None:
            raise ValueError("you have to pass server_hostname when using ssl")
    elif server_hostname is not None:
        raise ValueError("server_hostname is only meaningful with ssl")
    if path is None:
        raise ValueError("no path and sock were specified")
    sslcontext = _client_ssl_context(ssl) if ssl else None
    path = os.fsdecode(os.fspath(path))
    t = await _connect(client, {"path": path, "allowHalfOpen": True}, unix_path=path)
    protocol = protocol_factory()
    transport = await _start_protocol(t, protocol, sslcontext, False, server_hostname,
                                      ssl_handshake_timeout, ssl_shutdown_timeout)
    return transport, protocol


async def open_connection(host=None, port=None, *, limit=_DEFAULT_LIMIT, **kwds):
    """``asyncio.open_connection()`` with netd owning the socket: returns asyncio's own
    ``(StreamReader, StreamWriter)``. Extra keyword: ``client`` (a :class:`Client`;
    default: the loop's shared one)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await create_connection(lambda: protocol, host, port, **kwds)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


async def open_unix_connection(path=None, *, limit=_DEFAULT_LIMIT, **kwds):
    """``asyncio.open_unix_connection()`` with netd owning the socket."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await create_unix_connection(lambda: protocol, path, **kwds)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


# -- servers ----------------------------------------------------------------------

class _ServerSocket:
    """What ``Server.sockets`` lists: the listening address (no descriptor: netd owns
    it; ``fileno()`` is -1)."""

    type = socket.SOCK_STREAM
    proto = 0

    def __init__(self, family, name, netd_server):
        self.family = family
        self._name = name
        self.netd_server = netd_server

    def getsockname(self):
        return self._name

    def fileno(self):
        return -1

    def __repr__(self):
        return "<netd server socket %d family=%s laddr=%r>" % (
            self.netd_server, self.family.name, self._name)


class Server(asyncio.AbstractServer):
    """A listening server whose sockets netd owns; the interface of
    ``asyncio.Server``."""

    def __init__(self, client, protocol_factory, start_serving, ssl=None,
                 ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
        if ssl is not None and (_ssl is None or not isinstance(ssl, _ssl.SSLContext)):
            raise TypeError("ssl argument must be an SSLContext or None")
        if ssl is None and (ssl_handshake_timeout is not None or
                            ssl_shutdown_timeout is not None):
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        self._ssl = ssl
        self._ssl_timeouts = (ssl_handshake_timeout, ssl_shutdown_timeout)
        self._client = client
        self._loop = client._loop
        self._factory = protocol_factory
        self._pause_on_connect = not start_serving
        self._handles = []
        self._sockets = []
        self._serving = False
        self._held = []
        self._transports = set()
        self._closed = False
        self._close_left = 0
        self._closed_fut = self._loop.create_future()
        self._serving_forever_fut = None
        _registry(client).add(self)

    def __repr__(self):
        return "<%s sockets=%r>" % (self.__class__.__name__, self.sockets)

    async def _listen(self, params, family, unix=False):
        opts = {"allowHalfOpen": True, "pauseOnConnect": self._pause_on_connect}
        if not unix:
            opts["noDelay"] = True  # as asyncio, on every accepted TCP socket
        srv = (await self._client.call("net.createServer", opts))["server"]
        self._handles.append(srv)
        self._client.watch("server", srv, self._event)
        params = dict(params, server=srv)
        addr = await self._client.call("server.listen", params)
        if unix:
            name = _unix_name(addr)
        else:
            family = socket.AF_INET6 if addr.get("family") == "IPv6" else socket.AF_INET
            name = _sockaddr(addr.get("address"), addr.get("port"), addr.get("family"))
        self._sockets.append(_ServerSocket(family, name, srv))

    def _event(self, method, params):
        if method != "server.connection":
            return
        sid = params.get("socket")
        lf = params.get("remoteFamily")
        t = _SocketTransport(self._client, sid)
        if params.get("localAddress") is None and self._sockets and \
                self._sockets[0].family == socket.AF_UNIX:
            t._extra["peername"] = ""
            t._extra["sockname"] = self._sockets[0].getsockname()
        else:
            t._extra["peername"] = _sockaddr(params.get("remoteAddress"),
                                             params.get("remotePort"), lf)
            t._extra["sockname"] = _sockaddr(params.get("localAddress"),
                                             params.get("localPort"), lf)
        t._extra["socket"] = SocketInfo(
            t, socket.AF_UNIX if self._sockets and self._sockets[0].family == socket.AF_UNIX
            else None)
        t._extra["netd_socket"] = sid
        t._extra["netd_client"] = self._client
        t._server = self
        self._transports.add(t)
        if self._serving:
            self._accept(t)
        else:
            self._held.append(t)

    def _accept(self, t):
        if t._lost:
            return
        if self._pause_on_connect:
            self._client.notify("socket.resume", {"socket": t._sid})
        try:
            protocol = self._factory()
        except Exception as e:
            t.abort()
            self._loop.call_exception_handler({
                "message": "protocol factory failed", "exception": e, "transport": t})
            return
        if self._ssl is None:
            t._start(protocol)
            return

        async def handshake():
            try:
                await _start_protocol(t, protocol, self._ssl, True, None, *self._ssl_timeouts)
            except (asyncio.CancelledError, Exception) as e:
                if self._loop.get_debug():
                    self._loop.call_exception_handler({
                        "message": "Error on transport creation for incoming connection",
                        "exception": e, "protocol": protocol, "transport": t})
        self._loop.create_task(handshake())

    def _detach(self, t):
        self._transports.discard(t)

    def _control_lost(self, err):
        self._closed = True
        self._serving = False
        for t in self._held:
            t._connection_lost(err)
        self._held = []
        if not self._closed_fut.done():
            self._closed_fut.set_result(None)
        if self._serving_forever_fut is not None and not self._serving_forever_fut.done():
            self._serving_forever_fut.cancel()

    # asyncio.AbstractServer ----------------------------------------------------

    @property
    def sockets(self):
        if self._closed:
            return ()
        return tuple(self._sockets)

    def get_loop(self):
        return self._loop

    def is_serving(self):
        return self._serving

    async def start_serving(self):
        if self._closed or self._serving:
            return
        self._serving = True
        held, self._held = self._held, []
        for t in held:
            self._accept(t)
        # asyncio yields once here so that the listening is effective.
        await asyncio.sleep(0)

    async def serve_forever(self):
        if self._serving_forever_fut is not None:
            raise RuntimeError("server %r is already being awaited on serve_forever()"
                               % self)
        if self._closed:
            raise RuntimeError("server %r is closed" % self)
        await self.start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    def close(self):
        """Stops listening at once (netd's ``server.close``); connections already
        accepted keep working."""
        if self._closed:
            return
        self._closed = True
        self._serving = False
        for t in self._held:
            t.abort()
        self._held = []
        if self._client.closed:
            if not self._closed_fut.done():
                self._closed_fut.set_result(None)
        else:
            self._close_left = len(self._handles)
            for srv in self._handles:
                self._client.send_request("server.close", {"server": srv},
                                          self._close_done)
            if not self._handles and not self._closed_fut.done():
                self._closed_fut.set_result(None)
        if self._serving_forever_fut is not None and not self._serving_forever_fut.done():
            self._serving_forever_fut.cancel()

    def _close_done(self, result, error):
        self._close_left -= 1
        if self._close_left <= 0 and not self._closed_fut.done():
            self._closed_fut.set_result(None)

    def close_clients(self):
        """Closes every connection this server accepted (Python 3.13's method)."""
        for t in list(self._transports):
            t.close()

    def abort_clients(self):
        """Aborts every connection this server accepted (Python 3.13's method)."""
        for t in list(self._transports):
            t.abort()

    async def wait_closed(self):
        """Waits until close() has been called and netd closed the server, which is
        after every connection it accepted has closed (Python >= 3.12 semantics)."""
        await asyncio.shield(self._closed_fut)

    def _abandon(self):
        for srv in self._handles:
            if not self._client.closed:
                self._client.send_request("server.close", {"server": srv}, _ignore)
        self._closed = True
        if not self._closed_fut.done():
            self._closed_fut.set_result(None)
        _registry(self._client).discard(self)


def _listen_specs(host, port, family, reuse_port, backlog):
    if host is None or host == "":
        hosts = [None]
    elif isinstance(host, str):
        hosts = [host]
    else:
        hosts = list(dict.fromkeys(host))  # asyncio binds each distinct address once
    specs = []
    for h in hosts:
        base = {"port": _port(port) if port is not None else 0, "backlog": backlog}
        if reuse_port:
            base["reusePort"] = True
        if h is None or h == "":
            # asyncio binds every passive address, IPv4 then IPv6-only (two sockets).
            if family in (0, socket.AF_INET):
                specs.append((dict(base, host="0.0.0.0"), socket.AF_INET, False))
            if family in (0, socket.AF_INET6) and socket.has_ipv6:
                specs.append((dict(base, host="::", ipv6Only=True), socket.AF_INET6,
                              family == 0))
        else:
            spec = dict(base, host=h)
            if ":" in h or family == socket.AF_INET6:
                spec["ipv6Only"] = True  # asyncio sets IPV6_V6ONLY on every IPv6 socket
            specs.append((spec, family, False))
    return specs


async def create_server(protocol_factory, host=None, port=None, *, family=0,
                        flags=socket.AI_PASSIVE, sock=None, backlog=100, ssl=None,
                        reuse_address=None, reuse_port=None, ssl_handshake_timeout=None,
                        ssl_shutdown_timeout=None, start_serving=True, client=None):
    """``loop.create_server()`` over netd: returns a :class:`Server`."""
    _no_sock(sock)
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    client = await _client_for(client)
    server = Server(client, protocol_factory, start_serving, ssl, ssl_handshake_timeout,
                    ssl_shutdown_timeout)
    try:
        for params, fam, optional in _listen_specs(host, port, family, reuse_port, backlog):
            try:
                await server._listen(params, fam)
            except OSError as e:
                # No IPv6 here: asyncio's getaddrinfo() would not have offered "::".
                if optional and getattr(e, "code", None) in ("EAFNOSUPPORT",
                                                             "EADDRNOTAVAIL"):
                    continue
                raise
    except BaseException:
        server._abandon()
        raise
    if start_serving:
        await server.start_serving()
    return server


async def create_unix_server(protocol_factory, path=None, *, sock=None, backlog=100,
                             ssl=None, ssl_handshake_timeout=None,
                             ssl_shutdown_timeout=None, start_serving=True, client=None):
    """``loop.create_unix_server()`` over netd: returns a :class:`Server`."""
    _no_sock(sock)
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    if path is None:
        raise ValueError("path was not specified, and no sock specified")
    path = os.fsdecode(os.fspath(path))
    if not path.startswith("\0"):
        # asyncio removes a stale socket file first (netd itself never does).
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.remove(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)
    client = await _client_for(client)
    server = Server(client, protocol_factory, start_serving, ssl, ssl_handshake_timeout,
                    ssl_shutdown_timeout)
    try:
        await server._listen({"path": path, "backlog": backlog}, socket.AF_UNIX, unix=True)
    except BaseException:
        server._abandon()
        raise
    if start_serving:
        await server.start_serving()
    return server


async def start_server(client_connected_cb, host=None, port=None, *,
                       limit=_DEFAULT_LIMIT, **kwds):
    """``asyncio.start_server()`` with netd owning the sockets."""
    loop = asyncio.get_running_loop()

    def factory():
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)

    return await create_server(factory, host, port, **kwds)


async def start_unix_server(client_connected_cb, path=None, *, limit=_DEFAULT_LIMIT,
                            **kwds):
    """``asyncio.start_unix_server()`` with netd owning the sockets."""
    loop = asyncio.get_running_loop()

    def factory():
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)

    return await create_unix_server(factory, path, **kwds)
