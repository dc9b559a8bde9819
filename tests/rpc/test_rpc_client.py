"""The RPC client against a small fake server speaking libvirt's framing over real sockets."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from virtkit.errors import NoDomainError, VirtError
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc import message as m
from virtkit.rpc.client import Client, CloseReason
from virtkit.rpc.message import FrameReader, Header, Message, MessageStatus, MessageType
from virtkit.rpc.protocol import KEEPALIVE_PROC_PING, KEEPALIVE_PROC_PONG, KEEPALIVE_PROGRAM
from virtkit.rpc.transport import connect_command, connect_tcp, connect_unix

PROG = m.REMOTE_PROGRAM
T = MessageType
S = MessageStatus

Handler = Callable[["FakeServer", Message], None]


class FakeServer:
    """Accepts one connection and feeds each incoming message to ``handler``."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = str(path)
        self.handler = handler
        self.received: list[Message] = []
        self.conn: socket.socket | None = None
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fake-server", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.listener.accept()
        self.conn = conn
        self.connected.set()
        reader = FrameReader()
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            for msg in reader.feed(data):
                self.received.append(msg)
                self.handler(self, msg)

    def send(self, header: Header, payload: bytes = b"") -> None:
        assert self.connected.wait(5) and self.conn is not None
        # The client may already be gone (teardown): that is not what these tests check.
        with self.lock, contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.conn.sendall(m.encode_message(header, payload))

    def reply(self, msg: Message, payload: bytes = b"", status: int = S.OK) -> None:
        h = msg.header
        self.send(Header(h.prog, h.vers, h.proc, T.REPLY, h.serial, status), payload)

    def hang_up(self) -> None:
        assert self.conn is not None
        self.conn.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


def echo(srv: FakeServer, msg: Message) -> None:
    if msg.header.type == T.CALL:
        srv.reply(msg, msg.payload)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Handler], tuple[FakeServer, Client]]]:
    made: list[tuple[FakeServer, Client]] = []

    def start(handler: Handler, **kw: object) -> tuple[FakeServer, Client]:
        srv = FakeServer(tmp_path / f"s{len(made)}.sock", handler)
        client = Client(connect_unix(srv.path), **kw)  # type: ignore[arg-type]
        made.append((srv, client))
        return srv, client

    yield start
    for srv, client in made:
        client.close()
        srv.stop()


def rpc_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("virtkit-rpc")}


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def assert_nothing_new(baseline_threads: set[threading.Thread], baseline_fds: set[str]) -> None:
    """No RPC thread or file descriptor made since the baselines is left. What earlier
    tests left behind may end meanwhile (so the suite's order does not matter)."""
    wait_for(lambda: not rpc_threads() - baseline_threads)
    assert not open_fds() - baseline_fds


def wait_for(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


# --- calls -------------------------------------------------------------------------------------

def test_round_trip_and_serials_from_zero(serve) -> None:
    srv, client = serve(echo)
    assert client.call(PROG, 1, 66) == b""
    assert client.call(PROG, 1, 23, b"\0\0\0\4test") == b"\0\0\0\4test"
    assert client.call(PROG, 1, 1, b"abcd") == b"abcd"
    assert [msg.header.serial for msg in srv.received] == [0, 1, 2]
    first = srv.received[0].header
    assert (first.prog, first.vers, first.proc, first.type, first.status) == (PROG, 1, 66, 0, 0)


def test_error_reply_keeps_code_domain_and_message(serve) -> None:
    def fail(srv: FakeServer, msg: Message) -> None:
        err = {"code": ErrorCode.NO_DOMAIN, "domain": ErrorDomain.TEST,
               "message": "Domain not found: no domain with matching name 'x'", "level": 2,
               "dom": None, "str1": "Domain not found", "str2": "x", "str3": None,
               "int1": 0, "int2": 0, "net": None}
        srv.reply(msg, m.remote_error.encode(err), S.ERROR)

    _, client = serve(fail)
    with pytest.raises(NoDomainError) as info:
        client.call(PROG, 1, 23)
    e = info.value
    assert (e.code, e.domain) == (ErrorCode.NO_DOMAIN, ErrorDomain.TEST)
    assert str(e) == "Domain not found: no domain with matching name 'x'"
    assert e.str2 == "x"
    assert not client.closed  # an error reply is not a connection error


def test_undecodable_error_reply_is_an_rpc_error(serve) -> None:
    _, client = serve(lambda srv, msg: srv.reply(msg, b"\0\0", S.ERROR))
    with pytest.raises(VirtError) as info:
        client.call(PROG, 1, 23)
    assert (info.value.code, info.value.domain) == (ErrorCode.RPC, ErrorDomain.RPC)
    assert str(info.value) == "Unable to decode message payload"


def test_reply_for_another_proc_is_refused(serve) -> None:
    def wrong(srv: FakeServer, msg: Message) -> None:
        h = msg.header
        srv.send(Header(h.prog, h.vers, h.proc + 1, T.REPLY, h.serial, S.OK))

    _, client = serve(wrong)
    with pytest.raises(VirtError, match=r"^internal error: Unexpected message proc 24 != 23$"):
        client.call(PROG, 1, 23)


def test_twenty_threads_with_replies_in_reverse_order(serve) -> None:
    calls: list[Message] = []
    lock = threading.Lock()

    def reverse(srv: FakeServer, msg: Message) -> None:
        with lock:
            calls.append(msg)
            if len(calls) < 20:
                return
        for call in reversed(calls):
            srv.reply(call, call.payload)

    srv, client = serve(reverse)
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            results[i] = client.call(PROG, 1, 1, i.to_bytes(4, "big"), timeout=5)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert results == {i: i.to_bytes(4, "big") for i in range(20)}
    assert sorted(msg.header.serial for msg in srv.received) == list(range(20))


def test_call_timeout_discards_the_late_reply(serve) -> None:
    held: list[Message] = []

    def slow_first(srv: FakeServer, msg: Message) -> None:
        if msg.header.serial == 0:
            held.append(msg)
            return
        if held:
            srv.reply(held.pop(), b"late")
        srv.reply(msg, msg.payload)

    _, client = serve(slow_first)
    with pytest.raises(VirtError) as info:
        client.call(PROG, 1, 1, timeout=0.05)
    assert info.value.code == ErrorCode.OPERATION_TIMEOUT
    assert str(info.value).startswith("Timed out during operation: ")
    assert client.call(PROG, 1, 1, b"next") == b"next"
    assert not client.closed


# --- events ------------------------------------------------------------------------------------

def test_events_delivered_in_order_on_dispatch_thread_and_may_call(serve) -> None:
    seen: list[tuple[int, bytes, str, bytes]] = []
    done = threading.Event()
    box: dict[str, Client] = {}

    def on_message(msg: Message) -> None:
        # A callback may itself make a call: the reader thread is not blocked by it.
        answer = box["client"].call(PROG, 1, 1, msg.payload, timeout=5)
        seen.append((msg.header.proc, msg.payload, threading.current_thread().name, answer))
        if len(seen) == 5:
            done.set()

    def handler(srv: FakeServer, msg: Message) -> None:
        if msg.header.proc == 300:
            for i in range(5):
                srv.send(Header(PROG, 1, 400 + i, T.MESSAGE, 0, S.OK), bytes([i]) * 4)
        srv.reply(msg, msg.payload)

    _, client = serve(handler, on_message=on_message)
    box["client"] = client
    client.call(PROG, 1, 300)
    assert done.wait(5)
    assert seen == [(400 + i, bytes([i]) * 4, "virtkit-rpc-events", bytes([i]) * 4)
                    for i in range(5)]


def test_server_ping_gets_pong_without_keepalive_started(serve) -> None:
    srv, client = serve(echo)
    client.call(PROG, 1, 1)
    srv.send(Header(KEEPALIVE_PROGRAM, 1, KEEPALIVE_PROC_PING, T.MESSAGE, 0, S.OK))
    wait_for(lambda: any(msg.header.prog == KEEPALIVE_PROGRAM for msg in srv.received))
    pong = next(msg for msg in srv.received if msg.header.prog == KEEPALIVE_PROGRAM).header
    assert (pong.vers, pong.proc, pong.type, pong.serial, pong.status) == (
        1, KEEPALIVE_PROC_PONG, T.MESSAGE, 0, S.OK)


# --- keepalive ---------------------------------------------------------------------------------

def test_keepalive_closes_a_silent_connection(serve) -> None:
    closes: list[int] = []
    srv, client = serve(lambda srv, msg: None, on_close=closes.append)
    client.start_keepalive(interval=0.1, count=2)
    start = time.monotonic()
    with pytest.raises(VirtError) as info:
        client.call(PROG, 1, 1, timeout=5)
    elapsed = time.monotonic() - start
    e = info.value
    assert str(e) == "internal error: connection closed due to keepalive timeout"
    assert (e.code, e.domain) == (ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC)
    # libvirt: dead after interval * (count + 1) of silence, so never sooner; the call's
    # 5 s timeout would answer differently had keepalive not closed it
    assert elapsed >= 0.25
    pings = [msg for msg in srv.received if msg.header.prog == KEEPALIVE_PROGRAM]
    assert [p.header.proc for p in pings] == [KEEPALIVE_PROC_PING] * 2
    wait_for(lambda: closes == [CloseReason.KEEPALIVE])
    assert client.closed and not client.is_alive()
    assert client.close_reason == CloseReason.KEEPALIVE


def test_keepalive_stays_up_while_server_answers(serve) -> None:
    def answer(srv: FakeServer, msg: Message) -> None:
        if msg.header.prog == KEEPALIVE_PROGRAM and msg.header.proc == KEEPALIVE_PROC_PING:
            srv.send(Header(KEEPALIVE_PROGRAM, 1, KEEPALIVE_PROC_PONG, T.MESSAGE, 0, S.OK))
        elif msg.header.type == T.CALL:
            srv.reply(msg)

    srv, client = serve(answer)
    client.start_keepalive(interval=0.05, count=1)
    time.sleep(0.4)
    assert client.is_alive()
    assert client.call(PROG, 1, 1) == b""
    assert sum(msg.header.prog == KEEPALIVE_PROGRAM for msg in srv.received) >= 3
    with pytest.raises(VirtError, match="keepalive interval already set"):
        client.start_keepalive()


# --- connection loss ---------------------------------------------------------------------------

def test_server_hangs_up_mid_call(serve) -> None:
    closes: list[int] = []
    _, client = serve(lambda srv, msg: srv.hang_up(), on_close=closes.append)
    with pytest.raises(VirtError) as info:
        client.call(PROG, 1, 1)
    e = info.value
    assert str(e) == "End of file while reading data: Input/output error"
    assert (e.code, e.domain) == (ErrorCode.SYSTEM_ERROR, ErrorDomain.RPC)
    wait_for(lambda: closes == [CloseReason.EOF])
    with pytest.raises(VirtError, match=r"^internal error: client socket is closed$"):
        client.call(PROG, 1, 1)
    client.close()
    assert closes == [CloseReason.EOF]


@pytest.mark.parametrize("frame, wording", [
    (b"\xff\xff\xff\xff" + bytes(24),
     "packet 4294967295 bytes received from server too large, want 33554432"),
    (b"\0\0\0\x08garbage!", "packet 8 bytes received from server too small, want 28"),
    (m.encode_message(Header(PROG, 1, 1, T.CALL, 0, S.OK)),
     "got unexpected RPC call prog 536903814 vers 1 proc 1 type 0"),
    (m.encode_message(Header(PROG, 1, 1, T.REPLY, 77, S.OK)),
     "no call waiting for reply with prog 536903814 vers 1 serial 77"),
])
def test_garbage_from_server_closes_connection(serve, frame: bytes, wording: str) -> None:
    closes: list[int] = []

    def garbage(srv: FakeServer, msg: Message) -> None:
        assert srv.conn is not None
        srv.conn.sendall(frame)

    _, client = serve(garbage, on_close=closes.append)
    with pytest.raises(VirtError) as info:
        client.call(PROG, 1, 1, timeout=5)
    assert (info.value.code, info.value.domain) == (ErrorCode.RPC, ErrorDomain.RPC)
    assert str(info.value) == wording
    wait_for(lambda: closes == [CloseReason.ERROR])


def test_close_is_idempotent_fails_pending_calls_and_leaks_nothing(tmp_path: Path) -> None:
    baseline_fds = open_fds()
    baseline_threads = rpc_threads()
    closes: list[int] = []
    srv = FakeServer(tmp_path / "c.sock", lambda srv, msg: None)
    client = Client(connect_unix(srv.path), on_close=closes.append)
    client.start_keepalive(interval=5, count=5)
    failures: list[BaseException] = []

    def pending() -> None:
        try:
            client.call(PROG, 1, 1)
        except VirtError as e:
            failures.append(e)

    caller = threading.Thread(target=pending)
    caller.start()
    wait_for(lambda: len(srv.received) == 1)
    client.close()
    client.close()
    caller.join(5)
    assert [str(e) for e in failures] == ["internal error: client socket is closed"]
    assert closes == [CloseReason.CLIENT]
    assert client.closed and client.close_reason == CloseReason.CLIENT
    srv.stop()
    assert_nothing_new(baseline_threads, baseline_fds)


def test_on_close_once_even_when_close_is_called_from_callbacks(serve) -> None:
    closes: list[int] = []
    box: dict[str, Client] = {}

    def on_close(reason: int) -> None:
        closes.append(reason)
        box["client"].close()

    def on_message(msg: Message) -> None:
        box["client"].close()

    srv, client = serve(echo, on_message=on_message, on_close=on_close)
    box["client"] = client
    srv.send(Header(PROG, 1, 400, T.MESSAGE, 0, S.OK))
    wait_for(lambda: closes == [CloseReason.CLIENT])
    client.close()
    assert closes == [CloseReason.CLIENT]


# --- streams -----------------------------------------------------------------------------------

def test_stream_download_and_upload(serve) -> None:
    def handler(srv: FakeServer, msg: Message) -> None:
        h = msg.header
        if h.type == T.CALL:
            srv.reply(msg)
            if h.proc != 201:
                return
            for chunk in (b"hello ", b"world", b""):
                srv.send(Header(h.prog, h.vers, h.proc, T.STREAM, h.serial, S.CONTINUE), chunk)
        elif h.type == T.STREAM and h.status == S.OK:
            srv.send(Header(h.prog, h.vers, h.proc, T.STREAM, h.serial, S.OK))

    srv, client = serve(handler)
    reply, stream = client.open_stream(PROG, 1, 201)
    assert reply == b""
    got = []
    while chunk := stream.recv(timeout=5):
        got.append(chunk)
    assert b"".join(got) == b"hello world"
    stream.send(b"x" * 300000)
    stream.finish(timeout=5)
    sent = [msg for msg in srv.received if msg.header.type == T.STREAM]
    assert [len(msg.payload) for msg in sent] == [m.MESSAGE_LEGACY_PAYLOAD_MAX,
                                                  300000 - m.MESSAGE_LEGACY_PAYLOAD_MAX, 0]
    assert [msg.header.status for msg in sent] == [S.CONTINUE, S.CONTINUE, S.OK]
    assert {msg.header.serial for msg in sent} == {stream.serial}
    assert client.call(PROG, 1, 1) == b""


# --- transports --------------------------------------------------------------------------------

def test_connect_unix_missing_path_wording(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.sock")
    with pytest.raises(VirtError) as info:
        connect_unix(path)
    assert str(info.value) == f"Failed to connect socket to '{path}': No such file or directory"
    assert (info.value.code, info.value.domain) == (ErrorCode.SYSTEM_ERROR, ErrorDomain.RPC)


def test_connect_tcp_refused_wording_and_success() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(VirtError) as info:
        connect_tcp("127.0.0.1", port)
    assert str(info.value) == f"unable to connect to server at '127.0.0.1:{port}': " \
        "Connection refused"
    assert info.value.code == ErrorCode.SYSTEM_ERROR
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sock = connect_tcp("127.0.0.1", listener.getsockname()[1], timeout=5)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert sock.gettimeout() is None
        sock.close()


CHILD = r"""
import struct, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
sys.stderr.write("child says goodbye\n"); sys.stderr.flush()
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    (n,) = struct.unpack(">I", head)
    body = inp.read(n - 4)
    prog, vers, proc, typ, serial, status = struct.unpack(">IIiiIi", body[:24])
    if proc == 99:
        break
    payload = body[24:]
    out.write(struct.pack(">IIIiiIi", 28 + len(payload), prog, vers, proc, 1, serial, 0)
              + payload)
    out.flush()
"""


def test_connect_command_speaks_the_protocol_and_reaps_child() -> None:
    baseline_fds = open_fds()
    baseline_threads = rpc_threads()
    sock = connect_command([sys.executable, "-c", CHILD])
    proc = sock.process
    assert proc is not None
    client = Client(sock)
    assert client.call(PROG, 1, 5, b"ping") == b"ping"
    assert client.call(PROG, 1, 5, b"pong") == b"pong"
    client.close()
    assert proc.returncode is not None
    assert_nothing_new(baseline_threads, baseline_fds)


def test_connect_command_eof_error_includes_child_stderr() -> None:
    sock = connect_command([sys.executable, "-c", CHILD])
    client = Client(sock)
    with pytest.raises(VirtError) as info:
        client.call(PROG, 1, 99)
    assert str(info.value) == ("End of file while reading data: child says goodbye: "
                               "Input/output error")
    client.close()


def test_connect_command_missing_binary() -> None:
    with pytest.raises(VirtError) as info:
        connect_command(["/nonexistent/virtkit-helper"])
    assert str(info.value) == ("cannot execute binary /nonexistent/virtkit-helper: "
                               "No such file or directory")
    assert info.value.code == ErrorCode.SYSTEM_ERROR
