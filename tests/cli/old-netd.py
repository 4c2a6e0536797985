#!/usr/bin/env python3
"""A netd from before socket.attach, for the fallback tests of netctl: a
line proxy on a UNIX socket in front of the real netd that answers
socket.attach, socket.pipe and socket.unpipe with -32601 (Method not found)
and refuses net.createServer's
"attach" option with -32602 (unknown parameter), as such a netd does, and
passes every other line through unchanged, both ways.

    old-netd.py LISTEN_PATH NETD_PATH   (prints "ready" once listening)
"""
import asyncio
import json
import sys


def refusal(msg):
    method = msg.get("method")
    params = msg.get("params") or {}
    if method in ("socket.attach", "socket.pipe", "socket.unpipe"):
        return {"code": -32601, "message": "Method not found: " + method}
    if method == "net.createServer" and isinstance(params, dict) and "attach" in params:
        return {"code": -32602, "message": 'Invalid params: unknown parameter "attach"',
                "data": {"code": "ERR_INVALID_ARG_VALUE", "field": "attach"}}
    return None


async def serve(reader, writer, netd_path):
    ur, uw = await asyncio.open_unix_connection(netd_path, limit=1 << 30)

    async def up():
        try:
            while line := await reader.readline():
                try:
                    msg = json.loads(line)
                except ValueError:
                    msg = None
                err = refusal(msg) if isinstance(msg, dict) else None
                if err is None:
                    uw.write(line)
                    await uw.drain()
                elif "id" in msg:
                    writer.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "error": err},
                                            separators=(",", ":")).encode() + b"\n")
                    await writer.drain()
        except OSError:
            # A reset (the client left replies unread): netd's connection goes too, which
            # destroys what it owns, as when the client talks to netd directly.
            uw.close()
            return
        uw.write_eof()

    async def down():
        while data := await ur.read(1 << 20):
            writer.write(data)
            await writer.drain()
        writer.close()

    await asyncio.gather(up(), down(), return_exceptions=True)


async def main():
    path, netd_path = sys.argv[1], sys.argv[2]
    server = await asyncio.start_unix_server(lambda r, w: serve(r, w, netd_path), path,
                                             limit=1 << 30)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
