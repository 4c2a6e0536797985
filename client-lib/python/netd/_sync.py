"""netd.SyncClient: a small blocking client for scripts."""

import collections
import json
import os
import socket
import time

from ._client import Event, default_socket_path
from ._errors import NetdConnectionLost, NetdUnavailableError, error_from_object

__all__ = ["SyncClient"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class SyncClient:
    """A blocking control connection to netd, for scripts::

        with netd.SyncClient() as c:
            srv = c.call("net.createServer")["server"]
            addr = c.call("server.listen", {"server": srv, "port": 0, "host": "127.0.0.1"})
            ev = c.wait_event("server.connection", timeout=10)

    - ``call(method, params=None, timeout=None)`` returns the result or raises the error
      (the same exceptions as :class:`netd.Client`); events that arrive meanwhile are kept.
    - ``notify(method, params=None)`` sends a notification.
    - ``next_event(timeout=None)`` returns the next :class:`netd.Event` (kept ones
      first); ``events(timeout=None)`` iterates them; ``wait_event(method,
      predicate=None, timeout=None)`` skips to the first matching one (the skipped ones
      are kept for ``next_event``). A timeout raises ``TimeoutError``.

    Events are only read while one of these methods runs; between calls they wait in
    the kernel and netd (which then stops reading the sockets' peers, §12).
    """

    def __init__(self, path=None, timeout=None):
        self.path = os.fspath(path) if path is not None else default_socket_path()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(self.path)
        except OSError as e:
            self._sock.close()
            raise NetdUnavailableError(e.errno, "cannot reach netd at %s: %s"
                                       % (self.path, e.strerror or e)) from e
        self._sock.settimeout(None)
        self._buf = bytearray()
        self._events = collections.deque()
        self._replies = {}
        self._next_id = 1
        self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Closes the connection (netd destroys every handle it owns)."""
        if not self._closed:
            self._closed = True
            self._sock.close()

    def fileno(self):
        return self._sock.fileno()

    def _send(self, msg):
        if self._closed:
            raise NetdConnectionLost("the netd control connection is closed")
        self._sock.sendall(_dumps(msg).encode() + b"\n")

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self._send(msg)

    def send_request(self, method, params=None):
        """Sends a request without waiting; returns its id for :meth:`reply`."""
        i = self._next_id
        self._next_id += 1
        msg = {"jsonrpc": "2.0", "id": i, "method": method}
        if params is not None:
            msg["params"] = params
        self._send(msg)
        return i

    def reply(self, i, timeout=None):
        """Waits for the reply of request ``i``; returns its result or raises."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while i not in self._replies:
            self._read_one(deadline)
        msg = self._replies.pop(i)
        if "error" in msg:
            raise error_from_object(msg["error"])
        return msg.get("result")

    def call(self, method, params=None, timeout=None):
        return self.reply(self.send_request(method, params), timeout)

    def next_event(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._events:
            self._read_one(deadline)
        return self._events.popleft()

    def events(self, timeout=None):
        """Yields events until one takes longer than ``timeout`` (then it returns)."""
        while True:
            try:
                yield self.next_event(timeout)
            except TimeoutError:
                return

    def wait_event(self, method, predicate=None, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = 0
        while True:
            while seen < len(self._events):
                ev = self._events[seen]
                if ev.method == method and (predicate is None or predicate(ev.params)):
                    del self._events[seen]
                    return ev
                seen += 1
            self._read_one(deadline)

    def _read_one(self, deadline):
        """Reads until at least one more message has been stored."""
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[:nl + 1]
                if line.strip():
                    msg = json.loads(line)
                    for m in (msg if isinstance(msg, list) else [msg]):
                        self._store(m)
                    return
                continue
            if self._closed:
                raise NetdConnectionLost("the netd control connection is closed")
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no message from netd in time")
                self._sock.settimeout(left)
            else:
                self._sock.settimeout(None)
            try:
                data = self._sock.recv(1 << 20)
            except socket.timeout:
                raise TimeoutError("no message from netd in time") from None
            if not data:
                self.close()
                raise NetdConnectionLost("netd closed the control connection")
            self._buf += data

    def _store(self, m):
        if not isinstance(m, dict):
            return
        if "id" in m:
            if m["id"] is None and "error" in m:
                raise error_from_object(m["error"])
            self._replies[m["id"]] = m
        elif isinstance(m.get("method"), str):
            p = m.get("params")
            self._events.append(Event(m["method"], p if isinstance(p, dict) else {}))
