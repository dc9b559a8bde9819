"""Streams over RPC: downloads paced by the reader, uploads, finish, abort, failures.

A daemon (the real server and dispatcher, in a thread) serves a small driver
registered under the ``fakestream`` scheme whose streams record what the
daemon did with them; the client is virtkit's remote driver.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.daemon.dispatch import RemoteDispatcher
from virtkit.daemon.streamjob import WINDOW
from virtkit.drivers import base, registry
from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.server import Server
from virtkit.streams import PACKET_MAX, recv_all, send_all
from virtkit.types import DomainIdent, StorageVolIdent

DOM = DomainIdent("d", "6695eb01-f6a4-8304-79aa-97f2502e193f", 1)
VOL = StorageVolIdent("p", "v", "/p/v")


class Source:
    """A read stream of ``size`` bytes that counts what was taken from it."""

    def __init__(self, size: int, fail_at: int | None = None) -> None:
        self.size, self.sent, self.fail_at = size, 0, fail_at
        self.finished = self.aborted = False

    def recv(self, nbytes: int = PACKET_MAX) -> bytes:
        if self.fail_at is not None and self.sent >= self.fail_at:
            raise make_error(ErrorCode.OPERATION_FAILED, ErrorDomain.STREAMS, "disk on fire")
        n = min(nbytes, self.size - self.sent)
        self.sent += n
        return bytes([self.sent % 251]) * n

    def send(self, data: bytes) -> None:
        raise AssertionError("read stream")

    def finish(self) -> None:
        self.finished = True

    def abort(self) -> None:
        self.aborted = True


class Sink(Source):
    def __init__(self) -> None:
        super().__init__(0)
        self.data = bytearray()

    def send(self, data: bytes) -> None:
        self.data += data


class FakeDriver(base.HypervisorDriver, base.StorageDriver):
    streams: list[Source] = []
    next_size = 0
    fail_at: int | None = None

    def connect_get_uri(self) -> str:
        return "fakestream:///"

    def domain_lookup_by_name(self, name: str) -> DomainIdent:
        return DOM

    def domain_screenshot(self, dom: DomainIdent, screen: int = 0,
                          flags: int = 0) -> tuple[str | None, Any]:
        src = Source(FakeDriver.next_size, FakeDriver.fail_at)
        FakeDriver.streams.append(src)
        return "application/octet-stream", src

    def storage_vol_upload(self, vol: StorageVolIdent, offset: int = 0, length: int = 0,
                           flags: int = 0) -> Any:
        sink = Sink()
        FakeDriver.streams.append(sink)
        return sink


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    FakeDriver.streams = []
    FakeDriver.fail_at = None
    monkeypatch.setitem(registry.LOCAL_DRIVERS, "fakestream",
                        lambda uri, flags, ctx: base.DriverTables(FakeDriver(), None, FakeDriver()))
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
    assert ready.wait(5)
    yield f"fakestream+unix:///?socket={sock}"
    asyncio.run_coroutine_threadsafe(server.stop(2), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def _wait(pred: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return bool(pred())


def test_download_whole(daemon: str) -> None:
    FakeDriver.next_size = 3 * PACKET_MAX + 17
    with virtkit.open(daemon) as c:
        mime, stream = c.lookup_domain("d").screenshot()
        data = recv_all(stream)
    assert mime == "application/octet-stream"
    assert len(data) == 3 * PACKET_MAX + 17
    src = FakeDriver.streams[0]
    assert _wait(lambda: src.finished) and not src.aborted


def test_download_is_paced_by_the_reader(daemon: str) -> None:
    FakeDriver.next_size = 64 << 20
    with virtkit.open(daemon) as c:
        _, stream = c.lookup_domain("d").screenshot()
        time.sleep(0.5)  # read nothing: the daemon must stop pulling from the driver
        src = FakeDriver.streams[0]
        # the window plus what the kernel's socket buffers and our reader thread hold
        assert src.sent <= WINDOW + (8 << 20), src.sent
        total = 0
        while chunk := stream.recv():
            total += len(chunk)
        stream.finish()
    assert total == 64 << 20


def test_download_abort(daemon: str) -> None:
    FakeDriver.next_size = 16 << 20
    with virtkit.open(daemon) as c:
        dom = c.lookup_domain("d")
        _, stream = dom.screenshot()
        stream.recv()
        stream.abort()
        assert c.lookup_domain("d").name == "d"  # the connection carries on
    assert _wait(lambda: FakeDriver.streams[0].aborted)


def test_download_failure_reaches_the_reader(daemon: str) -> None:
    FakeDriver.next_size = 8 * PACKET_MAX
    FakeDriver.fail_at = 2 * PACKET_MAX
    with virtkit.open(daemon) as c:
        _, stream = c.lookup_domain("d").screenshot()
        with pytest.raises(VirtError) as info:
            recv_all(stream)
        assert info.value.code == ErrorCode.OPERATION_FAILED
        assert "disk on fire" in info.value.message
        assert c.lookup_domain("d").name == "d"


def test_client_vanishing_mid_download_aborts_the_driver_stream(daemon: str) -> None:
    FakeDriver.next_size = 64 << 20
    c = virtkit.open(daemon)
    _, stream = c.lookup_domain("d").screenshot()
    stream.recv()
    c.close()
    assert _wait(lambda: FakeDriver.streams[0].aborted)
    threads = {t.name for t in threading.enumerate()}
    assert not any(n.startswith("virtkit-rpc-reader") for n in threads)


def test_upload(daemon: str) -> None:
    payload = os.urandom(5 * PACKET_MAX + 3)
    with virtkit.open(daemon) as c:
        stream = c.tables.storage.storage_vol_upload(VOL, 0, 0, 0)
        send_all(stream, payload)
    sink = FakeDriver.streams[0]
    assert isinstance(sink, Sink)
    assert bytes(sink.data) == payload and sink.finished


def test_upload_abort(daemon: str) -> None:
    with virtkit.open(daemon) as c:
        stream = c.tables.storage.storage_vol_upload(VOL, 0, 0, 0)
        stream.send(b"x" * 1000)
        stream.abort()
    sink = FakeDriver.streams[0]
    assert _wait(lambda: sink.aborted) and not sink.finished
