"""Exceptions: netd's Node-shaped error objects as Python exceptions.

A netd error object is ``{"code": -32000, "message": ..., "data": {"code": "ECONNREFUSED",
"errno": -111, "syscall": "connect", ...}}`` (PROTOCOL.md §6). System errors become
``OSError`` subclasses chosen by errno the way Python chooses them
(``ConnectionRefusedError`` for ``ECONNREFUSED``, ...), resolver errors become
``socket.gaierror``, everything else a plain :class:`NetdError`.
"""

import errno as _errno
import socket as _socket

__all__ = ["NetdError", "NetdOSError", "NetdGaiError", "NetdUnavailableError",
           "NetdConnectionLost", "NetdInvalidParamsError", "error_from_object"]


class NetdError(Exception):
    """An error reported by netd, or about the control connection.

    Attributes (``None`` when they do not apply):

    - ``code``: the Node error code (``data.code``): an errno name (``"ECONNREFUSED"``),
      a resolver code (``"ENOTFOUND"``) or an ``ERR_*`` name.
    - ``errno``: for system errors the *positive* Python errno (``errno.ECONNREFUSED``),
      for resolver errors the ``socket.EAI_*`` value, as Python's own exceptions carry it;
      else ``None``. netd's own (negative, Node/libuv) number is ``data["errno"]``.
    - ``syscall``, ``address``, ``port``, ``hostname``: Node's error properties.
    - ``rpc_code``: the JSON-RPC error code (-32000, -32001, -32602, ...).
    - ``message``: netd's message text; ``data``: the whole ``data`` object (a dict).
    """

    _netd_fields = ("code", "syscall", "address", "port", "hostname")

    def __init__(self, message="", *, rpc_code=None, data=None):
        super().__init__(message)
        self.errno = None
        _fill(self, message, rpc_code, data)


def _fill(exc, message, rpc_code, data):
    data = data if isinstance(data, dict) else {}
    exc.message = message
    exc.rpc_code = rpc_code
    exc.data = data
    for f in NetdError._netd_fields:
        setattr(exc, f, data.get(f))


class NetdOSError(NetdError, OSError):
    """A system error from netd; concrete classes also derive from the builtin
    ``OSError`` subclass Python picks for the errno (``ConnectionRefusedError``, ...)."""

    def __init__(self, *args):  # (errno, strerror) as OSError takes them
        OSError.__init__(self, *args)


class NetdGaiError(NetdOSError, _socket.gaierror):
    """A name-resolution failure (``ENOTFOUND``, ``EAI_AGAIN``, ...): a ``socket.gaierror``
    whose ``errno`` is the ``socket.EAI_*`` value, as ``getaddrinfo()`` raises it."""


class NetdInvalidParamsError(NetdError, ValueError):
    """netd rejected a parameter (JSON-RPC -32602); ``data["field"]`` names it."""


class NetdUnavailableError(NetdError, ConnectionError):
    """The netd control socket could not be reached (no daemon at that path)."""

    def __init__(self, *args):
        ConnectionError.__init__(self, *args)
        _fill(self, str(args[-1]) if args else "", None, None)


class NetdConnectionLost(NetdError, ConnectionResetError):
    """The control connection to netd closed; every handle on it is gone."""

    def __init__(self, *args):
        ConnectionResetError.__init__(self, *args)
        _fill(self, str(args[-1]) if args else "", None, None)


# libuv's resolver error numbers (what netd sends, as Node) -> Python's socket.EAI_*.
_GAI = {
    "ENOTFOUND": getattr(_socket, "EAI_NONAME", -2),
    "EAI_AGAIN": getattr(_socket, "EAI_AGAIN", -3),
    "EAI_FAIL": getattr(_socket, "EAI_FAIL", -4),
    "EAI_FAMILY": getattr(_socket, "EAI_FAMILY", -6),
    "EAI_MEMORY": getattr(_socket, "EAI_MEMORY", -10),
    "EAI_CANCELED": -101,  # glibc's EAI_CANCELED; Python does not export it
    "ENODATA": getattr(_socket, "EAI_NODATA", -5),
}

_os_classes = {}


def _os_class(number):
    """The NetdOSError subclass for a positive errno, derived from the builtin class
    that ``OSError(number, ...)`` would be."""
    base = type(OSError(number, "x"))
    cls = _os_classes.get(base)
    if cls is None:
        if base is OSError:
            cls = NetdOSError
        else:
            cls = type("Netd" + base.__name__, (NetdOSError, base),
                       {"__module__": __name__, "__doc__": base.__doc__})
        _os_classes[base] = cls
    return cls


def error_from_object(obj):
    """Builds the exception for a JSON-RPC error object (a reply's ``error``, or the
    ``error``/``err`` param of ``socket.error``, ``server.error``, ``socket.lookup``)."""
    if not isinstance(obj, dict):
        return NetdError(str(obj))
    message = str(obj.get("message", "netd error"))
    rpc_code = obj.get("code")
    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    code = data.get("code")
    num = data.get("errno")
    exc = None
    if isinstance(code, str) and code in _GAI:
        exc = NetdGaiError(_GAI[code], message)
    elif rpc_code == -32000 and isinstance(code, str) and not code.startswith("ERR_"):
        pyerr = getattr(_errno, code, None)
        if pyerr is None and isinstance(num, int) and num < 0:
            pyerr = -num
        if pyerr is not None:
            exc = _os_class(pyerr)(pyerr, message)
        else:
            exc = NetdOSError(message)
    if exc is None:
        cls = NetdInvalidParamsError if rpc_code == -32602 else NetdError
        return cls(message, rpc_code=rpc_code, data=data)
    _fill(exc, message, rpc_code, data)
    return exc
