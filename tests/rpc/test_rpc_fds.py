"""File descriptors on the RPC unix socket: CALL_WITH_FDS / REPLY_WITH_FDS, both sides.

A tiny dispatcher reads the descriptors a call brings (pipes) and answers with
descriptors of its own; raw socket clients forge what libvirt's never sends.
Descriptor counts of this process (/proc/self/fd) show that nothing leaks.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import virtkit
from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc import fdpass
from virtkit.rpc.client import Client
from virtkit.rpc.message import (
    MESSAGE_NUM_FDS_MAX,
    FrameError,
    FrameReader,
    Header,
    Message,
    MessageStatus,
    MessageType,
    decode_message,
    encode_message,
    remote_error,
)
from virtkit.rpc.server import Server, Session
from virtkit.testing.peers import start_virtkitd

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
PROG = 0x20008086
VERS = 1
# Test procedures: read every descriptor received; answer with a pipe holding the payload;
# count the descriptors received; queue a reply descriptor, then fail; echo.
READ_FDS, MAKE_FD, COUNT_FDS, FD_THEN_FAIL, ECHO = range(1, 6)


class FDDispatcher:
    def __init__(self) -> None:
        self.closed = 0
        self.cond = threading.Condition()

    def programs(self) -> list[tuple[int, int]]:
        return [(PROG, VERS)]

    def is_high_priority(self, prog: int, proc: int) -> bool:
        return False

    def dispatch(self, session: Session, header: Header, payload: bytes) -> bytes | None:
        proc = header.proc
        if proc == READ_FDS:
            out = b""
            for slot in range(fdpass.received_count()):
                fd = fdpass.dup_received(slot)
                try:
                    out += os.read(fd, 64)
                finally:
                    os.close(fd)
            return out
        if proc in (MAKE_FD, FD_THEN_FAIL):
            r, w = os.pipe()
            try:
                os.write(w, payload)
                fdpass.add_reply_fd(r)
            finally:
                os.close(r)
                os.close(w)
            if proc == FD_THEN_FAIL:
                raise make_error(ErrorCode.OPERATION_FAILED, ErrorDomain.RPC, "failed after fd")
            return b""
        if proc == COUNT_FDS:
            return struct.pack(">I", fdpass.received_count())
        if proc == ECHO:
            return payload
        raise AssertionError(f"unexpected procedure {proc}")

    def session_opened(self, session: Session) -> None:
        pass

    def session_closed(self, session: Session) -> None:
        with self.cond:
            self.closed += 1
            self.cond.notify_all()

    def wait_closed(self, n: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.closed >= n, 10), "sessions not closed"


class Env:
    def __init__(self, path: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.disp = FDDispatcher()
        self.server = Server(self.disp)
        self.path = path
        self.run(self.server.listen_unix(path))
        self.port = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def listen_tcp(self) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        self.run(self.server.listen_tcp("127.0.0.1", port))
        return port

    def close(self) -> None:
        self.run(self.server.stop(grace=2))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(str(tmp_path / "sock"))
    try:
        yield e
    finally:
        e.close()


class Raw:
    """A raw client: frames and descriptors exactly as the test writes them."""

    def __init__(self, address: str | tuple[str, int]) -> None:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(address)
        self.buf = b""

    def call(self, proc: int, payload: bytes = b"", fds: tuple[int, ...] = (), *,
             serial: int = 1, num_fds: int | None = None) -> None:
        n = len(fds) if num_fds is None else num_fds
        mtype = MessageType.CALL_WITH_FDS if n else MessageType.CALL
        self.sock.sendall(encode_message(Header(PROG, VERS, proc, mtype, serial), payload,
                                         num_fds=n))
        for fd in fds:
            self.sock.sendmsg([b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                         array.array("i", [fd]))])

    def reply(self) -> tuple[Message, list[int]]:
        """The next message and the descriptors that came after it (one per byte)."""
        fds: list[int] = []

        def more() -> None:
            data, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(4 * MESSAGE_NUM_FDS_MAX))
            if not data:
                raise EOFError("server closed the connection")
            self.buf += data
            for level, kind, raw in anc:
                assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
                fds.extend(array.array("i", raw))

        while len(self.buf) < 4 or len(self.buf) < struct.unpack_from(">I", self.buf)[0]:
            more()
        length = struct.unpack_from(">I", self.buf)[0]
        msg = decode_message(self.buf[:length])
        while len(self.buf) < length + msg.num_fds:
            more()
        assert self.buf[length:length + msg.num_fds] == b"\0" * msg.num_fds
        self.buf = self.buf[length + msg.num_fds:]
        assert len(fds) == msg.num_fds
        return msg, fds

    def closed_by_server(self) -> bool:
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.sock.close()


def pipe_with(data: bytes) -> tuple[int, int]:
    r, w = os.pipe()
    os.write(w, data)
    return r, w


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def error_of(msg: Message) -> dict[str, Any]:
    assert msg.header.type == MessageType.REPLY
    assert msg.header.status == MessageStatus.ERROR
    value: dict[str, Any] = remote_error.decode(msg.payload)
    return value


# ------------------------------------------------------------------ framing


def test_reader_skips_descriptor_bytes() -> None:
    """With fd_bytes, the byte after a WITH_FDS message is the descriptor's, not framing."""
    call = encode_message(Header(PROG, VERS, 1, MessageType.CALL_WITH_FDS, 7), b"abcd",
                          num_fds=2)
    plain = encode_message(Header(PROG, VERS, 2, MessageType.CALL, 8), b"")
    stream = call + b"\0\0" + plain
    r = FrameReader(fd_bytes=True)
    msgs = [m for i in range(len(stream)) for m in r.feed(stream[i:i + 1])]
    assert [(m.header.serial, m.num_fds, m.payload) for m in msgs] == [(7, 2, b"abcd"),
                                                                       (8, 0, b"")]
    assert r.fd_bytes_seen == 2
    whole = FrameReader(fd_bytes=True)
    assert len(whole.feed(stream)) == 2 and whole.fd_bytes_seen == 2
    # without fd_bytes (TCP) the bytes are framing: a bad length word
    with pytest.raises(FrameError):
        FrameReader().feed(stream)


def test_descriptor_count_above_maximum_is_a_frame_error() -> None:
    frame = bytearray(encode_message(Header(PROG, VERS, 1, MessageType.CALL_WITH_FDS, 1),
                                     b"", num_fds=1))
    struct.pack_into(">I", frame, 28, MESSAGE_NUM_FDS_MAX + 1)
    with pytest.raises(FrameError, match="exceed maximum"):
        FrameReader(fd_bytes=True).feed(bytes(frame))


# ------------------------------------------------------------------ server, raw client


def test_call_with_fds_round_trip(env: Env) -> None:
    c = Raw(env.path)
    pipes = [pipe_with(b"one;"), pipe_with(b"two;")]
    c.call(READ_FDS, b"", tuple(r for r, _ in pipes))
    msg, fds = c.reply()
    assert (msg.header.type, msg.header.status, msg.payload) == (
        MessageType.REPLY, MessageStatus.OK, b"one;two;")
    assert fds == []
    # the next call on the same connection is framed correctly
    c.call(COUNT_FDS, serial=2)
    msg, _ = c.reply()
    assert (msg.header.serial, msg.payload) == (2, b"\0\0\0\0")
    for r, w in pipes:
        os.close(r)
        os.close(w)
    c.close()


def test_reply_with_fds(env: Env) -> None:
    c = Raw(env.path)
    c.call(MAKE_FD, b"from the server")
    msg, fds = c.reply()
    assert msg.header.type == MessageType.REPLY_WITH_FDS
    assert (msg.num_fds, len(fds), msg.payload) == (1, 1, b"")
    assert os.read(fds[0], 64) == b"from the server"
    os.close(fds[0])
    c.call(ECHO, b"\0\0\0\1", serial=2)
    assert c.reply()[0].payload == b"\0\0\0\1"
    c.close()


def test_descriptors_sent_after_a_pause(env: Env) -> None:
    """The call waits for descriptors that arrive in a later read."""
    c = Raw(env.path)
    r, w = pipe_with(b"late")
    c.sock.sendall(encode_message(Header(PROG, VERS, READ_FDS, MessageType.CALL_WITH_FDS, 1),
                                  b"", num_fds=1))
    time.sleep(0.2)  # not an assertion: makes the server read the message alone
    c.sock.sendmsg([b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r]))])
    msg, _ = c.reply()
    assert msg.payload == b"late"
    os.close(r)
    os.close(w)
    c.close()


def test_forged_count_without_descriptors_closes(env: Env) -> None:
    """A count whose descriptors never come: libvirt's RecvFD fails and drops the client."""
    c = Raw(env.path)
    c.call(READ_FDS, num_fds=2)
    c.call(ECHO, b"", serial=2)  # its bytes are read where the descriptors should be
    assert c.closed_by_server()
    c.close()


def test_descriptor_count_above_maximum_closes(env: Env) -> None:
    c = Raw(env.path)
    frame = bytearray(encode_message(Header(PROG, VERS, READ_FDS, MessageType.CALL_WITH_FDS, 1),
                                     b"", num_fds=1))
    struct.pack_into(">I", frame, 28, MESSAGE_NUM_FDS_MAX + 1)
    c.sock.sendall(bytes(frame))
    assert c.closed_by_server()
    c.close()


def test_more_descriptors_than_announced_closes(env: Env) -> None:
    c = Raw(env.path)
    r, w = os.pipe()
    c.sock.sendall(encode_message(Header(PROG, VERS, READ_FDS, MessageType.CALL_WITH_FDS, 1),
                                  b"", num_fds=1))
    c.sock.sendmsg([b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r, w]))])
    assert c.closed_by_server()
    c.close()
    os.close(r)
    os.close(w)


def test_descriptor_with_a_plain_call_closes(env: Env) -> None:
    c = Raw(env.path)
    r, w = os.pipe()
    frame = encode_message(Header(PROG, VERS, ECHO, MessageType.CALL, 1), b"")
    c.sock.sendmsg([frame], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r]))])
    assert c.closed_by_server()
    c.close()
    os.close(r)
    os.close(w)


def test_descriptors_over_tcp_close_the_client(env: Env) -> None:
    """TCP cannot carry descriptors: a call announcing some drops the client (libvirt's
    "Receiving file descriptors is not supported on this socket"); a count of 0 is a call."""
    port = env.listen_tcp()
    c = Raw(("127.0.0.1", port))
    c.call(COUNT_FDS, num_fds=0, serial=1)
    msg, _ = c.reply()
    assert (msg.header.status, msg.payload) == (MessageStatus.OK, b"\0\0\0\0")
    c.call(READ_FDS, num_fds=1, serial=2)
    c.sock.sendall(b"\0")
    assert c.closed_by_server()
    c.close()


def test_reply_descriptors_over_tcp_are_an_error(env: Env) -> None:
    port = env.listen_tcp()
    c = Raw(("127.0.0.1", port))
    c.call(MAKE_FD, b"x")
    err = error_of(c.reply()[0])
    assert (err["code"], err["message"]) == (
        ErrorCode.INTERNAL_ERROR, "internal error: Sending file descriptors is not supported "
        "on this socket")
    c.call(ECHO, b"\0\0\0\2", serial=2)
    assert c.reply()[0].payload == b"\0\0\0\2"
    c.close()


# ------------------------------------------------------------------ virtkit's client


def test_client_round_trip_and_tcp_refusal(env: Env) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(env.path)
    client = Client(sock)
    r, w = pipe_with(b"client;")
    try:
        payload, fds = client.call_with_fds(PROG, VERS, READ_FDS, b"", [r])
        assert (payload, fds) == (b"client;", [])
        payload, fds = client.call_with_fds(PROG, VERS, MAKE_FD, b"back")
        assert len(fds) == 1 and os.read(fds[0], 16) == b"back"
        os.close(fds[0])
        # a plain call that gets descriptors back closes them itself
        assert client.call(PROG, VERS, MAKE_FD, b"dropped") == b""
        with pytest.raises(VirtError, match="failed after fd"):
            client.call_with_fds(PROG, VERS, FD_THEN_FAIL, b"")
    finally:
        client.close()
    port = env.listen_tcp()
    tcp = Client(socket.create_connection(("127.0.0.1", port)))
    try:
        with pytest.raises(VirtError, match="Sending file descriptors is not supported") as ei:
            tcp.call_with_fds(PROG, VERS, READ_FDS, b"", [r])
        assert ei.value.code == ErrorCode.INTERNAL_ERROR
        assert tcp.call(PROG, VERS, ECHO, b"\0\0\0\3") == b"\0\0\0\3"  # still connected
    finally:
        tcp.close()
        os.close(r)
        os.close(w)


def test_no_descriptor_leaks(env: Env) -> None:
    """Every path (read, reply, error, refused, dropped with calls pending) closes what it
    received or made: this process's descriptor count is back where it started."""
    Raw(env.path).close()  # warm up (listener, loop)
    env.disp.wait_closed(1)
    before = open_fds()
    clients = 0
    for _ in range(5):
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(env.path)
        client = Client(sock)
        clients += 1
        r, w = pipe_with(b"abc")
        assert client.call_with_fds(PROG, VERS, READ_FDS, b"", [r])[0] == b"abc"
        _, fds = client.call_with_fds(PROG, VERS, MAKE_FD, b"x")
        fdpass.close_fds(fds)
        client.call(PROG, VERS, MAKE_FD, b"y")
        with pytest.raises(VirtError):
            client.call_with_fds(PROG, VERS, FD_THEN_FAIL, b"", [r])
        client.close()
        c = Raw(env.path)  # a forged call that carries descriptors, then dropped
        clients += 1
        c.call(READ_FDS, b"", (r, w), num_fds=3)
        c.call(ECHO, serial=2)
        assert c.closed_by_server()
        c.close()
        os.close(r)
        os.close(w)
    env.disp.wait_closed(1 + clients)
    assert open_fds() == before


# ------------------------------------------------------------------ virtkitd + libvirt-python

_LIBVIRT_SCRIPT = """
import libvirt, os, socket, sys
conn = libvirt.open(sys.argv[1])
dom = conn.lookupByName("test")
r, w = os.pipe()
a, b = socket.socketpair()
for name, call in (("openGraphics", lambda: dom.openGraphics(0, b.fileno(), 0)),
                   ("FDAssociate", lambda: dom.FDAssociate("grp", [r, w], 0)),
                   ("createXMLWithFiles", lambda: conn.createXMLWithFiles("<x/>", [r], 0))):
    try:
        call()
        print(name, "ok")
    except libvirt.libvirtError as e:
        print(name, e.get_error_code(), e.get_error_message())
    print("alive", dom.name(), dom.isActive())
"""


def test_libvirt_python_fd_calls_keep_the_connection(tmp_path: Path) -> None:
    """The procedures that pass descriptors against a driver without them (the test driver):
    libvirt's "not supported" error, and the connection goes on (it used to misread the
    descriptor bytes as the next frame)."""
    daemon = start_virtkitd(tmp_path / "root")
    try:
        out = subprocess.run(["/usr/bin/python3", "-c", _LIBVIRT_SCRIPT, daemon.uri("unix")],
                             capture_output=True, text=True, timeout=60)
    finally:
        daemon.stop()
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    no_support = ErrorCode.NO_SUPPORT
    assert lines == [
        f"openGraphics {no_support} this function is not supported by the connection driver: "
        "virDomainOpenGraphics", "alive test 1",
        f"FDAssociate {no_support} this function is not supported by the connection driver: "
        "virDomainFDAssociate", "alive test 1",
        f"createXMLWithFiles {no_support} this function is not supported by the connection "
        "driver: virDomainCreateXMLWithFiles", "alive test 1",
    ]


def test_virtkit_fd_methods_refused_on_a_driver_without_them() -> None:
    with virtkit.open("test:///default") as conn:
        dom = conn.lookup_domain("test")
        with pytest.raises(VirtError, match="virDomainOpenGraphicsFD") as ei:
            dom.open_graphics_fd(0)
        assert ei.value.code == ErrorCode.NO_SUPPORT
        with contextlib.closing(socket.socket()) as s, pytest.raises(VirtError) as ei:
            dom.open_graphics(0, s.fileno())
        assert ei.value.code == ErrorCode.NO_SUPPORT
        r, w = os.pipe()
        try:  # libvirt's own check, before the driver
            with pytest.raises(VirtError, match=f"^fd {r} must be a socket$") as ei:
                dom.open_graphics(0, r)
            assert ei.value.code == ErrorCode.INVALID_ARG
        finally:
            os.close(r)
            os.close(w)
