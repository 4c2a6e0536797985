"""netd.Client: the JSON-RPC protocol layer over asyncio.

One Client is one control connection to netd (a UNIX stream socket carrying one compact
JSON-RPC 2.0 message per line, PROTOCOL.md §3-§5). It sends requests and notifications,
matches replies by id, and dispatches netd's events (notifications) to per-handle
watchers, to listeners and to async iterators.
"""

import asyncio
import collections
import json
import os

from ._errors import (NetdConnectionLost, NetdError, NetdUnavailableError,
                      error_from_object)

__all__ = ["Client", "Event", "EventStream", "default_socket_path"]


def default_socket_path():
    """The control socket path, resolved as netd resolves it (PROTOCOL.md §3.1):
    ``$NETD_SOCKET``, else ``$XDG_RUNTIME_DIR/netd/netd.sock`` for an unprivileged user,
    else ``/run/netd/netd.sock``."""
    path = os.environ.get("NETD_SOCKET")
    if path:
        return path
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if os.geteuid() != 0 and runtime:
        return os.path.join(runtime, "netd", "netd.sock")
    return "/run/netd/netd.sock"


Event = collections.namedtuple("Event", "method params")
Event.__doc__ = "A netd event: ``method`` (``\"socket.data\"``, ...) and its ``params`` dict."

_DATA_PREFIX = b'{"jsonrpc":"2.0","method":"socket.data","params":{"socket":'
_DATA_PREFIX_LEN = len(_DATA_PREFIX)
_DATA_SUFFIX = b'","encoding":"base64"}}'
_DATA_SUFFIX_LEN = len(_DATA_SUFFIX)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_STOP = object()


class EventStream:
    """An async iterator over netd events (``async for ev in client.events(): ...``).

    It receives every event netd sends on this connection (optionally only the given
    methods) from its creation on, whoever else also handles them. Memory is bounded:
    when ``maxsize`` events wait unconsumed, the Client stops reading its control
    connection until the stream is down to half, so netd in turn stops reading the
    sockets' peers (PROTOCOL.md §12) - and replies wait too, so consume the stream or
    ``close()`` it. Iteration ends when the stream or the client is closed, and raises
    :class:`NetdConnectionLost` if netd went away.
    """

    def __init__(self, client, methods, maxsize):
        self._client = client
        self._methods = frozenset(methods) if methods else None
        self._maxsize = max(1, maxsize)
        self._queue = collections.deque()
        self._waiter = None
        self._closed = False
        self._user_closed = False
        self._exc = None

    def _wants(self, method):
        return self._methods is None or method in self._methods

    def _push(self, item):
        if self._closed:
            return
        self._queue.append(item)
        if len(self._queue) >= self._maxsize:
            self._client._pause_input(self)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _end(self, exc):
        if self._exc is None:
            self._exc = exc
        self._push(_STOP)

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = self._client._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._queue.popleft()
        if len(self._queue) <= self._maxsize // 2:
            self._client._resume_input(self)
        if item is _STOP:
            self._closed = True
            self._queue.clear()
            self._client._streams.discard(self)
            if self._exc is not None:
                raise self._exc
            raise StopAsyncIteration
        return item

    async def get(self, timeout=None):
        """The next event, waiting at most ``timeout`` seconds (``TimeoutError``)."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    def close(self):
        """Stops receiving events; pending ones are discarded."""
        self._closed = True
        self._queue.clear()
        self._client._streams.discard(self)
        self._client._resume_input(self)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()


class _ControlProtocol(asyncio.Protocol):
    def __init__(self, client):
        self._client = client
        self._parts = []

    def connection_made(self, transport):
        self._client._transport = transport

    def data_received(self, data):
        line = self._client._line
        nl = data.find(b"\n")
        if nl < 0:
            self._parts.append(data)
            return
        view = memoryview(data)
        if self._parts:
            self._parts.append(view[:nl])
            whole = b"".join(self._parts)
            self._parts = []
            line(memoryview(whole))
        else:
            line(view[:nl])
        start = nl + 1
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            line(view[start:nl])
            start = nl + 1
        if start < len(data):
            self._parts.append(data[start:])

    def eof_received(self):
        return False

    def pause_writing(self):
        self._client._set_write_paused(True)

    def resume_writing(self):
        self._client._set_write_paused(False)

    def connection_lost(self, exc):
        self._client._lost(exc)


class Client:
    """A control connection to netd.

    ``client = await netd.Client.connect(path=None)`` (or ``async with
    netd.Client(path) as client:``); ``path`` defaults to :func:`default_socket_path`.

    - ``await client.call(method, params)`` returns the reply's ``result`` or raises the
      error as an exception (:class:`NetdError`, or an ``OSError`` subclass for system
      errors, e.g. ``ConnectionRefusedError``).
    - ``client.notify(method, params)`` sends a notification (never answered).
    - ``client.events(*methods)`` is an async iterator of :class:`Event`;
      ``client.add_listener(callback, method=None)`` calls ``callback(method, params)``
      for events; ``client.watch("socket", id, callback)`` routes one handle's events.
    - ``await client.sync()`` is netd's barrier (every event queued before it has been
      dispatched once it returns).
    """

    def __init__(self, path=None):
        self.path = os.fspath(path) if path is not None else default_socket_path()
        self._loop = None
        self._transport = None
        self._next_id = 1
        self._pending = {}
        self._watchers = {}
        self._data_watchers = {}
        self._listeners = []
        self._method_listeners = {}
        self._streams = set()
        self._close_callbacks = []
        self._paused_by = set()
        self._write_paused = False
        self._drain_waiters = []
        self._closed = False
        self._user_closed = False
        self._exc = None
        self._closed_fut = None

    # -- connection ---------------------------------------------------------------

    @classmethod
    async def connect(cls, path=None):
        """Opens a control connection; raises :class:`NetdUnavailableError` (a
        ``ConnectionError``) when no netd answers at the path."""
        self = cls(path)
        await self.open()
        return self

    async def open(self):
        if self._transport is not None:
            return self
        self._loop = asyncio.get_running_loop()
        self._closed_fut = self._loop.create_future()
        try:
            await self._loop.create_unix_connection(lambda: _ControlProtocol(self),
                                                    self.path)
        except OSError as e:
            self._closed_fut = None  # nothing to wait for in close()
            raise NetdUnavailableError(e.errno, "cannot reach netd at %s: %s"
                                       % (self.path, e.strerror or e)) from e
        return self

    async def __aenter__(self):
        return await self.open()

    async def __aexit__(self, *exc):
        await self.close()

    @property
    def closed(self):
        """True once the connection is closed (by :meth:`close` or by netd)."""
        return self._closed

    async def close(self, *, abort=False):
        """Closes the connection: netd destroys every handle it owns (§7.3). Requests
        already written are delivered first, unless ``abort`` (then at once: use it when
        netd may not be reading this connection, e.g. while it holds its input)."""
        self._user_closed = True
        if self._transport is not None and not self._closed:
            if abort:
                self._transport.abort()
            else:
                self._transport.close()
        if self._closed_fut is not None:
            await asyncio.shield(self._closed_fut)

    def add_close_callback(self, callback):
        """``callback(exc)`` once the connection closes (``exc`` None after close())."""
        self._close_callbacks.append(callback)

    # -- sending ------------------------------------------------------------------

    def _check_open(self):
        if self._closed:
            raise self._exc or NetdConnectionLost("the netd control connection is closed")
        if self._transport is None:
            raise NetdError("Client is not connected: await client.open() first")

    def _new_id(self):
        i = self._next_id
        self._next_id = i + 1
        return i

    def send_request(self, method, params=None, callback=None):
        """Sends a request and returns its id; ``callback(result, error)`` is called
        from the connection's read loop as soon as the reply arrives, before any line
        after it is handled (``error`` is an exception or None). Use this when the
        reply must be acted on before later events (e.g. to watch a new handle)."""
        self._check_open()
        i = self._new_id()
        msg = {"jsonrpc": "2.0", "id": i, "method": method}
        if params is not None:
            msg["params"] = params
        self._pending[i] = callback
        self._transport.write(_dumps(msg).encode() + b"\n")
        return i

    def _send_write(self, sid, b64, callback=None):
        """Sends ``socket.write`` of base64 bytes ``b64`` in netd's compact fast shape
        (PROTOCOL.md §4): a notification, or with ``callback`` a request as
        send_request makes it."""
        self._check_open()
        if callback is None:
            head = (b'{"jsonrpc":"2.0","method":"socket.write","params":{"socket":%d,'
                    b'"encoding":"base64","data":"' % sid)
        else:
            i = self._new_id()
            self._pending[i] = callback
            head = (b'{"jsonrpc":"2.0","id":%d,"method":"socket.write","params":'
                    b'{"socket":%d,"encoding":"base64","data":"' % (i, sid))
        self._transport.write(b"".join((head, b64, b'"}}\n')))

    def call_soon(self, method, params=None, on_reply=None):
        """Sends a request; returns a future for its result. ``on_reply(result)`` (if
        given) runs synchronously when a successful reply arrives (see send_request)."""
        fut = self._loop.create_future()

        def done(result, error):
            if error is None and on_reply is not None:
                on_reply(result)
            if not fut.done():
                if error is not None:
                    fut.set_exception(error)
                else:
                    fut.set_result(result)

        self.send_request(method, params, done)
        return fut

    async def call(self, method, params=None, *, on_reply=None):
        """Sends a request and returns its result; raises the error reply as an
        exception. Requests may be issued concurrently; replies are matched by id."""
        return await self.call_soon(method, params, on_reply)

    def notify(self, method, params=None):
        """Sends a notification: netd executes it and never replies."""
        self._check_open()
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self._transport.write(_dumps(msg).encode() + b"\n")

    async def sync(self):
        """netd's barrier: returns once every event queued before it was dispatched."""
        return await self.call("netd.sync")

    async def drain(self):
        """Waits while the control connection's send buffer is over its limit."""
        self._check_open()
        if self._write_paused:
            w = self._loop.create_future()
            self._drain_waiters.append(w)
            await w

    def _set_write_paused(self, paused):
        self._write_paused = paused
        if not paused:
            waiters, self._drain_waiters = self._drain_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    # -- events -------------------------------------------------------------------

    def watch(self, kind, handle, callback):
        """Routes the events of one handle (``kind`` "socket" or "server", the id) to
        ``callback(method, params)``; replaces a previous watcher of that handle."""
        self._watchers[(kind, handle)] = callback

    def unwatch(self, kind, handle):
        self._watchers.pop((kind, handle), None)
        if kind == "socket":
            self._data_watchers.pop(handle, None)

    def watch_data(self, socket_id, callback):
        """A shortcut for base64 ``socket.data`` of a watched socket:
        ``callback(payload)`` gets the base64 text as a bytes-like object and returns
        True if it handled it (else the event goes the normal way). Used only while no
        listener or event stream wants ``socket.data``."""
        self._data_watchers[socket_id] = callback

    def add_listener(self, callback, method=None):
        """``callback(method, params)`` for every event, or only for ``method``."""
        if method is None:
            self._listeners.append(callback)
        else:
            self._method_listeners.setdefault(method, []).append(callback)

    def remove_listener(self, callback, method=None):
        lst = self._listeners if method is None else self._method_listeners.get(method, [])
        if callback in lst:
            lst.remove(callback)

    def events(self, *methods, maxsize=4096):
        """An :class:`EventStream` of the events from now on (only ``methods`` if
        given)."""
        self._check_open()
        s = EventStream(self, methods, maxsize)
        self._streams.add(s)
        return s

    def __aiter__(self):
        """``async for ev in client:`` iterates a fresh :meth:`events` stream."""
        return self.events()

    def _pause_input(self, who):
        if not self._paused_by and self._transport is not None and not self._closed:
            self._transport.pause_reading()
        self._paused_by.add(who)

    def _resume_input(self, who):
        if who in self._paused_by:
            self._paused_by.discard(who)
            if not self._paused_by and self._transport is not None and not self._closed:
                self._transport.resume_reading()

    # -- receiving ----------------------------------------------------------------

    def _line(self, line):
        """Handles one line (a memoryview, without its newline)."""
        if line[:_DATA_PREFIX_LEN] == _DATA_PREFIX and line[-_DATA_SUFFIX_LEN:] == _DATA_SUFFIX:
            # socket.data as netd writes it for base64: hand the payload's bytes to the
            # socket's data watcher without building JSON strings (the bulk of traffic).
            i = bytes(line[_DATA_PREFIX_LEN:_DATA_PREFIX_LEN + 24]).find(b',"data":"')
            if i > 0:
                try:
                    sid = int(bytes(line[_DATA_PREFIX_LEN:_DATA_PREFIX_LEN + i]))
                except ValueError:
                    sid = None
                cb = self._data_watchers.get(sid)
                if cb is not None and not self._streams and not self._listeners and \
                        "socket.data" not in self._method_listeners:
                    try:
                        handled = cb(line[_DATA_PREFIX_LEN + i + 9:-_DATA_SUFFIX_LEN])
                    except Exception as e:
                        self._report(e, "event callback for socket.data")
                        handled = True
                    if handled:
                        return
        line = bytes(line)
        if not line.strip():
            return
        try:
            msg = json.loads(line)
        except ValueError as e:
            self._loop.call_exception_handler({
                "message": "netd sent a line that is not JSON: %r" % bytes(line[:200]),
                "exception": e})
            return
        if isinstance(msg, list):
            for m in msg:
                self._message(m)
        else:
            self._message(msg)

    def _message(self, msg):
        if not isinstance(msg, dict):
            return
        if "id" in msg:
            i = msg["id"]
            if i in self._pending:
                cb = self._pending.pop(i)
                if cb is not None:
                    err = msg.get("error")
                    try:
                        if err is not None:
                            cb(None, error_from_object(err))
                        else:
                            cb(msg.get("result"), None)
                    except Exception as e:  # a callback's bug must not stop the reader
                        self._report(e, "reply callback")
            elif i is None and "error" in msg:
                # A connection-level error (oversize line, limits): netd closes next.
                self._exc = error_from_object(msg["error"])
            return
        method = msg.get("method")
        if not isinstance(method, str):
            return
        params = msg.get("params")
        if not isinstance(params, dict):
            params = {}
        kind = method.partition(".")[0]
        cb = self._watchers.get((kind, params.get(kind)))
        try:
            if cb is not None:
                cb(method, params)
            for cb in self._method_listeners.get(method, ()):
                cb(method, params)
            for cb in self._listeners:
                cb(method, params)
        except Exception as e:
            self._report(e, "event callback for %s" % method)
        if self._streams:
            ev = Event(method, params)
            for s in list(self._streams):
                if s._wants(method):
                    s._push(ev)

    def _report(self, exc, where):
        self._loop.call_exception_handler({
            "message": "netd.Client: exception in %s" % where, "exception": exc})

    def _lost(self, exc):
        self._closed = True
        if self._exc is None:
            if exc is None and self._user_closed:
                err = None
            else:
                err = NetdConnectionLost("the netd control connection closed%s"
                                         % (": %s" % exc if exc else ""))
                err.__cause__ = exc
            self._exc = err
        err = self._exc
        lost = err or NetdConnectionLost("the netd control connection is closed")
        pending, self._pending = self._pending, {}
        for cb in pending.values():
            if cb is not None:
                try:
                    cb(None, lost)
                except Exception as e:
                    self._report(e, "reply callback")
        self._set_write_paused(False)
        for s in list(self._streams):
            s._end(err)
        for cb in list(self._close_callbacks):
            try:
                cb(err)
            except Exception as e:
                self._report(e, "close callback")
        self._watchers.clear()
        self._data_watchers.clear()
        if self._closed_fut is not None and not self._closed_fut.done():
            self._closed_fut.set_result(None)

