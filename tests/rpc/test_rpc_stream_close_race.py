"""A stream finished or aborted by one thread while another waits in its ``recv()``.

The daemon confirms a finish/abort with the stream's last message (STREAM, OK); libvirt's
client hands that confirmation to the call waiting for it (virNetClientCallDispatchStream)
and the reader sees the end of the stream.  Here the real server and dispatcher (in a
thread, on a unix socket) serve a console on a real pseudo-terminal that stays quiet: one
thread reads it through virtkit's remote driver while another finishes or aborts it, and
the same with Debian's libvirt-python as the client.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.daemon.dispatch import RemoteDispatcher
from virtkit.drivers import base, registry
from virtkit.drivers.qemu.console import PtyStream
from virtkit.rpc.server import Server
from virtkit.types import DomainIdent

pytestmark = pytest.mark.timeout(60)

DOM = DomainIdent("d", "4a3b5c1e-2f0d-4e6a-9b8c-7d1e2f3a4b5c", 1)
HANG_GUARD = 10.0  # seconds: a bound against hangs only


class Console(PtyStream):
    """The console of a guest that prints nothing; remembers how it was closed."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.closed_by: list[str] = []

    def finish(self) -> None:
        self.closed_by.append("finish")
        super().finish()

    def abort(self) -> None:
        self.closed_by.append("abort")
        super().abort()


class ConsoleDriver(base.HypervisorDriver):
    consoles: list[Console] = []
    pty = ""

    def connect_get_uri(self) -> str:
        return "fakeconsole:///"

    def domain_lookup_by_name(self, name: str) -> DomainIdent:
        return DOM

    def domain_lookup_by_uuid(self, uuid: str) -> DomainIdent:
        return DOM

    def domain_open_console(self, dom: DomainIdent, dev_name: str | None = None,
                            flags: int = 0) -> Console:
        console = Console(ConsoleDriver.pty)
        ConsoleDriver.consoles.append(console)
        return console


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The socket of a server whose ``fakeconsole:///`` domain has a quiet console."""
    master, slave = os.openpty()
    ConsoleDriver.consoles = []
    ConsoleDriver.pty = os.ttyname(slave)
    monkeypatch.setitem(registry.LOCAL_DRIVERS, "fakeconsole",
                        lambda uri, flags, ctx: base.DriverTables(ConsoleDriver(), None, None))
    sock = str(tmp_path / "sock")
    loop = asyncio.new_event_loop()
    server = Server(RemoteDispatcher())
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            await server.listen_unix(sock)
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(HANG_GUARD)
    try:
        yield sock
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(2), loop).result(HANG_GUARD)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(HANG_GUARD)
        loop.close()
        os.close(master)
        os.close(slave)


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``fn`` in a daemon thread; the list gets its result or exception."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def waiting_in(thread: threading.Thread, function: str) -> bool:
    """``thread`` is (somewhere below) ``function`` right now."""
    assert thread.ident is not None
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


def wait_for(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("close", ["abort", "finish"])
def test_close_while_another_thread_reads(daemon: str, close: str) -> None:
    """The closing call gets the daemon's confirmation, the reader the end of the stream,
    and the connection carries on."""
    with virtkit.open(f"fakeconsole+unix:///?socket={daemon}") as conn:
        dom = conn.lookup_domain("d")
        stream = dom.open_console()
        reader, got = in_thread(stream.recv)
        wait_for(lambda: waiting_in(reader, "recv_sparse"), "the reader to wait for data")
        closer, done = in_thread(getattr(stream, close))
        closer.join(HANG_GUARD)
        reader.join(HANG_GUARD)
        assert not closer.is_alive(), f"{close}() hangs: its confirmation went to the reader"
        assert not reader.is_alive(), f"recv() hangs after another thread's {close}()"
        assert done == [None]
        assert got == [b""]
        assert conn.lookup_domain("d").name == "d"  # the connection carries on
    assert [c.closed_by for c in ConsoleDriver.consoles] == [[close]]


# libvirt-python: one thread waits in virStreamRecv while the main thread aborts.
LIBVIRT_SCRIPT = r"""
import sys, threading, libvirt
conn = libvirt.open(sys.argv[1])
dom = conn.lookupByName("d")
st = conn.newStream(0)
dom.openConsole(None, st, 0)
got = []
def read():
    try:
        got.append(st.recv(1024))
    except libvirt.libvirtError as e:
        got.append(e.get_error_message())
reader = threading.Thread(target=read, daemon=True)
reader.start()
reader.join(0.5)  # let it block in virStreamRecv (a quiet console)
getattr(st, sys.argv[2])()
reader.join(10)
print("reader", "hangs" if reader.is_alive() else "done", flush=True)
print("got", got, flush=True)
print("alive", conn.lookupByName("d").name(), flush=True)
"""


@pytest.mark.parametrize("close", ["abort", "finish"])
def test_libvirt_python_close_while_reading(daemon: str, close: str) -> None:
    """libvirt's own client against the same server does not hang either."""
    out = subprocess.run(["/usr/bin/python3", "-c", LIBVIRT_SCRIPT,
                          f"fakeconsole+unix:///?socket={daemon}", close],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    # libvirt's reader learns that the stream was closed (virNetClientStreamCheckState)
    assert out.stdout.splitlines() == [
        "reader done", "got ['operation failed: stream is closed']", "alive d"]
    assert [c.closed_by for c in ConsoleDriver.consoles] == [[close]]
