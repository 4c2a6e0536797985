"""netd: asyncio streams and a JSON-RPC client for the netd socket daemon.

- :func:`open_connection`, :func:`start_server`, :func:`open_unix_connection`,
  :func:`start_unix_server`: asyncio's stream API with every socket owned by netd.
- :func:`create_connection`, :func:`create_server` (and the UNIX pair): the
  transport/protocol level, as the loop methods of the same names.
- :class:`Client`: the protocol itself (calls, notifications, events).
- :class:`SyncClient`: a blocking client for scripts.
"""

from ._client import Client, Event, EventStream, default_socket_path
from ._errors import (NetdConnectionLost, NetdError, NetdGaiError,
                      NetdInvalidParamsError, NetdOSError, NetdUnavailableError,
                      error_from_object)
from ._streams import (Server, SocketInfo, create_connection, create_server, create_unix_connection,
                       create_unix_server, close_client, get_client, open_connection,
                       open_unix_connection, set_client, start_server, start_unix_server)
from ._sync import SyncClient

__version__ = "0.1.0"

__all__ = [
    "Client", "Event", "EventStream", "SyncClient", "default_socket_path",
    "NetdError", "NetdOSError", "NetdGaiError", "NetdInvalidParamsError",
    "NetdUnavailableError", "NetdConnectionLost", "error_from_object",
    "open_connection", "start_server", "open_unix_connection", "start_unix_server",
    "create_connection", "create_server", "create_unix_connection", "create_unix_server",
    "Server", "SocketInfo", "get_client", "set_client", "close_client",
]
