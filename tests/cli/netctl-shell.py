#!/usr/bin/env python3
"""netctl shell driven through a pseudo-terminal, as a person would type it:
the prompt, KEY=VALUE requests typed by the schema, a raw JSON-RPC line,
events printed as they come, handles alive for other processes to see
(netctl ls) until the shell ends, an unknown method, then quit."""
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

NETD, NETCTL = os.environ["NETD_BIN"], os.environ["NETCTL_BIN"]
WAIT_S = 10


class Term:
    def __init__(self, argv, env):
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     close_fds=True, start_new_session=True)
        os.close(slave)
        self.buf = ""

    def expect(self, pattern):
        """Reads until pattern (a regex) matches; returns the match, consuming up to its end."""
        deadline = time.monotonic() + WAIT_S
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; got {self.buf!r}")
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                if not data:
                    raise AssertionError(f"EOF waiting for {pattern!r}; got {self.buf!r}")
                self.buf += data.decode(errors="replace").replace("\r\n", "\n")

    def send(self, line):
        os.write(self.master, (line + "\n").encode())


def main():
    tmp = tempfile.mkdtemp(prefix="netctl-shell-")
    sock = os.path.join(tmp, "netd.sock")
    r, w = os.pipe()
    netd = subprocess.Popen([NETD, "--foreground", f"--socket={sock}", f"--ready-fd={w}"],
                            pass_fds=[w], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    ready, _, _ = select.select([r], [], [], WAIT_S)
    assert ready and os.read(r, 64).startswith(b"READY=1"), "netd did not start"
    env = dict(os.environ, NETD_SOCKET=sock)
    t = Term([NETCTL, "shell"], env)
    try:
        t.expect(r"netd> ")
        t.send("net.createServer allowHalfOpen=true")
        server = int(t.expect(r'< \{"server":(\d+)\}').group(1))
        t.send(f"server.listen server={server} port=0 host=127.0.0.1")
        t.expect(r'< event \{"method":"server.listening","params":\{"server":%d\}\}' % server)
        port = int(t.expect(r'< \{"address":"127.0.0.1","family":"IPv4","port":(\d+)\}').group(1))
        t.send(f"net.connect port={port} host=127.0.0.1")
        client = int(t.expect(r'< \{"socket":(\d+)\}').group(1))
        accepted = int(t.expect(r'"method":"server.connection","params":\{"server":%d,"socket":(\d+)'
                                % server).group(1))
        t.expect(r'"method":"socket.connect","params":\{"socket":%d\}' % client)
        # A whole JSON-RPC request line.
        t.send(json.dumps({"jsonrpc": "2.0", "id": 99, "method": "socket.write",
                           "params": {"socket": client, "data": "hi there"}}))
        t.expect(r"< true")
        t.expect(r'"method":"socket.data","params":\{"socket":%d,"data":"aGkgdGhlcmU=",'
                 r'"encoding":"base64"\}' % accepted)
        # The handles belong to the shell's one connection: another process sees them.
        ls = subprocess.run([NETCTL, "--json", "ls"], env=env, capture_output=True, text=True,
                            timeout=WAIT_S)
        rows = json.loads(ls.stdout)
        ids = {row["id"] for row in rows if row["owner"]["pid"] == t.proc.pid}
        assert ids == {server, client, accepted}, f"ls: {rows}"
        # Mistakes are reported and the shell goes on.
        t.send("bogus.method")
        t.expect(r"! netd has no method 'bogus.method'")
        t.send("net.isIP input=::1")
        t.expect(r"< 6\n")
        t.send("quit")
        assert t.proc.wait(timeout=WAIT_S) == 0, "shell exit status"
        # Its handles went with it.
        ls = subprocess.run([NETCTL, "--json", "ls"], env=env, capture_output=True, text=True,
                            timeout=WAIT_S)
        assert json.loads(ls.stdout) == [], f"ls after the shell: {ls.stdout}"
        print("ok: netctl shell through a pty")
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
        netd.terminate()
        status = netd.wait(timeout=WAIT_S)
        shutil.rmtree(tmp, ignore_errors=True)
        assert status == 0, "netd exit status"
    return 0


if __name__ == "__main__":
    sys.exit(main())
