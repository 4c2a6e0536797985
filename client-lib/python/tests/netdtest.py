"""Test harness: starts the real netd (``$NETD_BIN``, set by ctest) on a temporary
socket with a private resolver, and points ``NETD_SOCKET`` at it."""

import asyncio
import functools
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the netd package next to tests/

import netd  # noqa: E402  (from the line above)

TIMEOUT_SCALE = float(os.environ.get("NETD_TEST_TIMEOUT_SCALE", "1"))


def find_netd():
    b = os.environ.get("NETD_BIN")
    if b:
        return b
    guess = os.path.join(HERE, "..", "..", "..", "build", "daemon", "netd")
    return guess if os.access(guess, os.X_OK) else None


def _die_with_parent():
    """In the child before exec: netd gets SIGKILL when the test process dies, however it
    dies (as tests/helpers/netd-test.c does with PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Daemon:
    """One netd process on a temporary socket."""

    def __init__(self, extra_args=()):
        self.bin = find_netd()
        if not self.bin:
            raise unittest.SkipTest("NETD_BIN is not set (run through ctest, or set "
                                    "NETD_BIN to the netd executable)")
        self.dir = tempfile.mkdtemp(prefix="netd-py-")
        self.socket = os.path.join(self.dir, "netd.sock")
        self.log_path = os.path.join(self.dir, "netd.log")
        with open(os.path.join(self.dir, "resolv.conf"), "w"):
            pass
        with open(os.path.join(self.dir, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n::1 localhost\n")
        r, w = os.pipe()
        args = [self.bin, "--foreground", "--socket=" + self.socket,
                "--log-level=info", "--ready-fd=%d" % w,
                "--resolv-conf=" + os.path.join(self.dir, "resolv.conf"),
                "--hosts-file=" + os.path.join(self.dir, "hosts"), *extra_args]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     pass_fds=(w,), preexec_fn=_die_with_parent)
        os.close(w)
        got = b""
        deadline = time.monotonic() + 10 * TIMEOUT_SCALE
        while len(got) < 8 and time.monotonic() < deadline:
            rl, _, _ = select.select([r], [], [], max(0.0, deadline - time.monotonic()))
            if not rl:
                break
            chunk = os.read(r, 16)
            if not chunk:
                break
            got += chunk
        os.close(r)
        if got != b"READY=1\n":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("netd did not become ready (read %r); log:\n%s"
                               % (got, self.read_log()))

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM; returns netd's exit status (it must be 0: no crash, no leak report
        under ASan)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30 * TIMEOUT_SCALE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.log.close()
                raise RuntimeError("netd did not exit on SIGTERM")
        self.log.close()
        status = self.proc.returncode
        if status != 0:
            sys.stderr.write(self.read_log())
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return status


_daemon = None


def start():
    """setUpModule helper."""
    global _daemon
    _daemon = Daemon()
    os.environ["NETD_SOCKET"] = _daemon.socket
    return _daemon


def stop():
    """tearDownModule helper: fails when netd did not exit cleanly."""
    global _daemon
    if _daemon is not None:
        d, _daemon = _daemon, None
        status = d.stop()
        if status != 0:
            raise AssertionError("netd exited with status %r (log above)" % status)



def timed(seconds):
    """Bounds an async test: fails with TimeoutError after ``seconds`` (scaled)."""
    def deco(fn):
        @functools.wraps(fn)
        async def wrapper(*a, **kw):
            async with asyncio.timeout(seconds * TIMEOUT_SCALE):
                return await fn(*a, **kw)
        return wrapper
    return deco


class NetdTestCase(unittest.IsolatedAsyncioTestCase):
    """Each test runs on a fresh event loop whose shared netd client is checked and
    closed at the end: once the test has closed what it opened, netd must hold no
    handle at all (nothing leaked, no socket left half-closed)."""

    check_handles = True

    async def asyncTearDown(self):
        client = netd._streams._clients.get(asyncio.get_running_loop())
        if isinstance(client, netd.Client) and not client.closed:
            failed = self._outcome_failed()
            if self.check_handles and not failed:
                await client.sync()
                info = await client.call("netd.info")
                self.assertEqual(info["handles"], {"servers": 0, "sockets": 0},
                                 "handles left open at the end of the test")
            await netd.close_client(abort=failed)

    def _outcome_failed(self):
        res = getattr(self, "_outcome", None)
        r = getattr(res, "result", None)
        return bool(r and (r.failures or r.errors))
