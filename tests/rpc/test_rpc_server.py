"""virtkit.rpc.server over real sockets, with a tiny dispatcher and raw socket clients."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from virtkit.errors import make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.message import (
    FrameReader,
    Header,
    Message,
    MessageStatus,
    MessageType,
    encode_message,
    remote_error,
)
from virtkit.rpc.protocol import KEEPALIVE_PROC_PING, KEEPALIVE_PROC_PONG, KEEPALIVE_PROGRAM
from virtkit.rpc.server import Server, Session

pytestmark = pytest.mark.timeout(30)

T = TypeVar("T")
PROG = 0x20008086
VERS = 1
# Test procedures.
ECHO, BLOCK, VIRT_ERROR, CRASH, NO_REPLY, PRIO_ECHO, KEEPALIVE_ON, WAIT_SEM = range(1, 9)


class RecordingDispatcher:
    """Echo, block, fail on demand; records what the server did with it."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.sem = threading.Semaphore(0)
        self.cond = threading.Condition()
        self.dispatched = 0
        self.opened: list[Session] = []
        self.closed: collections.Counter[int] = collections.Counter()
        self.streams: list[tuple[int, bytes]] = []

    def programs(self) -> list[tuple[int, int]]:
        return [(PROG, VERS)]

    def is_high_priority(self, prog: int, proc: int) -> bool:
        return proc == PRIO_ECHO

    def dispatch(self, session: Session, header: Header, payload: bytes) -> bytes | None:
        with self.cond:
            self.dispatched += 1
            self.cond.notify_all()
        proc = header.proc
        if proc in (ECHO, PRIO_ECHO):
            return payload
        if proc == BLOCK:
            assert self.gate.wait(10)
            return payload
        if proc == WAIT_SEM:
            assert self.sem.acquire(timeout=10)
            return payload
        if proc == VIRT_ERROR:
            raise make_error(ErrorCode.NO_DOMAIN, ErrorDomain.TEST, "no domain 'x'")
        if proc == CRASH:
            raise KeyError("boom")
        if proc == NO_REPLY:
            return None
        if proc == KEEPALIVE_ON:
            session.start_keepalive()
            return b""
        raise AssertionError(f"unexpected procedure {proc}")

    def stream_message(self, session: Session, header: Header, payload: bytes) -> None:
        self.streams.append((header.serial, payload))

    def session_opened(self, session: Session) -> None:
        self.opened.append(session)

    def session_closed(self, session: Session) -> None:
        with self.cond:
            self.closed[session.id] += 1
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        with self.cond:
            assert self.cond.wait_for(predicate, timeout), "condition not reached"


class LoopThread:
    """An event loop running in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Client:
    """A raw socket libvirt RPC client."""

    def __init__(self, address: str | tuple[str, int]) -> None:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(address)
        self.reader = FrameReader()
        self.queue: collections.deque[Message] = collections.deque()
        self.serial = 0

    def send(self, proc: int, payload: bytes = b"", *, prog: int = PROG, vers: int = VERS,
             mtype: int = MessageType.CALL, serial: int | None = None) -> int:
        if serial is None:
            self.serial += 1
            serial = self.serial
        self.sock.sendall(encode_message(Header(prog, vers, proc, mtype, serial), payload))
        return serial

    def recv(self, timeout: float = 5.0) -> Message:
        self.sock.settimeout(timeout)
        while not self.queue:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("server closed the connection")
            self.queue.extend(self.reader.feed(data))
        return self.queue.popleft()

    def call(self, proc: int, payload: bytes = b"", **kw: Any) -> Message:
        serial = self.send(proc, payload, **kw)
        reply = self.recv()
        assert reply.header.serial == serial
        return reply

    def closed_by_server(self, timeout: float = 5.0) -> bool:
        """True when the server closes us (anything it still sends is skipped)."""
        self.sock.settimeout(timeout)
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


@dataclass
class Env:
    lt: LoopThread
    disp: RecordingDispatcher
    path: str
    servers: list[Server] = field(default_factory=list)

    def make(self, **kw: Any) -> Server:
        srv = Server(self.disp, **kw)
        self.lt.run(srv.listen_unix(self.path))
        self.servers.append(srv)
        return srv


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(LoopThread(), RecordingDispatcher(), str(tmp_path / "run" / "sock"))
    try:
        yield e
    finally:
        e.disp.gate.set()
        for _ in range(20):
            e.disp.sem.release()
        for srv in e.servers:
            e.lt.run(srv.stop(grace=2))
        e.lt.close()


def error_of(msg: Message) -> dict[str, Any]:
    assert msg.header.type == MessageType.REPLY
    assert msg.header.status == MessageStatus.ERROR
    value: dict[str, Any] = remote_error.decode(msg.payload)
    return value


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


# --- round trips ---------------------------------------------------------------------


def test_call_round_trip_unix(env: Env) -> None:
    srv = env.make()
    c = Client(env.path)
    reply = c.call(ECHO, b"\x00\x00\x00\x2a")
    h = reply.header
    assert (h.prog, h.vers, h.proc, h.type, h.status) == (
        PROG, VERS, ECHO, MessageType.REPLY, MessageStatus.OK)
    assert reply.payload == b"\x00\x00\x00\x2a"
    assert [s.id for s in srv.clients] == [1]
    assert srv.stats.calls == 1
    c.close()


def test_disabled_services_queue_clients_until_enabled(env: Env) -> None:
    """libvirt's daemon: listeners start disabled; a client connects (the backlog holds
    it) but is not served until update_services(True); disabling stops new accepts."""
    srv = env.make(services_enabled=False)
    c = Client(env.path)  # connect() succeeds: the kernel queues it
    c.send(ECHO, b"\x00\x00\x00\x01")
    with pytest.raises(TimeoutError):
        c.recv(timeout=0.3)
    assert srv.clients == [] and env.disp.dispatched == 0
    env.lt.loop.call_soon_threadsafe(srv.update_services, True)
    assert c.recv().payload == b"\x00\x00\x00\x01"
    env.lt.loop.call_soon_threadsafe(srv.update_services, False)
    assert c.call(ECHO, b"").header.status == MessageStatus.OK  # accepted clients go on
    late = Client(env.path)
    late.send(ECHO, b"")
    with pytest.raises(TimeoutError):
        late.recv(timeout=0.3)
    env.lt.loop.call_soon_threadsafe(srv.update_services, True)
    assert late.recv().header.status == MessageStatus.OK
    c.close()
    late.close()


def test_call_round_trip_tcp(env: Env) -> None:
    srv = env.make()
    port = env.lt.run(srv.listen_tcp("127.0.0.1", 0))
    assert port > 0
    c = Client(("127.0.0.1", port))
    assert c.call(ECHO, b"abcd").payload == b"abcd"
    (sess,) = srv.clients
    assert sess.peer.transport == "tcp"
    assert sess.peer.pid is None and sess.peer.uid is None
    assert sess.peer.address == f"127.0.0.1;{c.sock.getsockname()[1]}"
    c.close()


def test_peer_credentials_of_unix_client(env: Env) -> None:
    srv = env.make()
    c = Client(env.path)
    c.call(ECHO)
    (sess,) = srv.clients
    assert (sess.peer.transport, sess.peer.pid, sess.peer.uid, sess.peer.gid) == (
        "unix", os.getpid(), os.getuid(), os.getgid())
    assert sess.peer.address == env.path
    assert sess.peer.user_name() is not None
    assert not sess.readonly
    assert env.disp.opened == [sess]
    c.close()


def test_unix_socket_mode_parents_and_stale_socket(env: Env, tmp_path: Path) -> None:
    srv = env.make()
    stale = tmp_path / "a" / "b" / "ro-sock"
    stale.parent.mkdir(parents=True)
    old = socket.socket(socket.AF_UNIX)
    old.bind(str(stale))
    old.close()  # leaves a stale socket file behind
    env.lt.run(srv.listen_unix(str(stale), mode=0o666, readonly=True))
    assert stat.S_IMODE(os.stat(stale).st_mode) == 0o666
    assert stat.S_IMODE(os.stat(Path(env.path).parent).st_mode) == 0o755
    c = Client(str(stale))
    c.call(ECHO)
    assert [s.readonly for s in srv.clients] == [True]
    c.close()
    env.lt.run(srv.stop(grace=1))
    assert not stale.exists() and not os.path.exists(env.path)


def test_concurrent_calls_replies_matched_by_serial(env: Env) -> None:
    env.make()
    c = Client(env.path)
    slow = c.send(BLOCK, b"slow")
    fast1 = c.send(ECHO, b"one!")
    fast2 = c.send(ECHO, b"two!")
    got = {m.header.serial: m.payload for m in (c.recv(), c.recv())}
    assert got == {fast1: b"one!", fast2: b"two!"}
    env.disp.gate.set()
    last = c.recv()
    assert (last.header.serial, last.payload) == (slow, b"slow")
    c.close()


def test_max_client_requests_backpressure(env: Env) -> None:
    env.make(max_client_requests=5)
    c = Client(env.path)
    serials = [c.send(WAIT_SEM, struct.pack(">I", i)) for i in range(6)]
    env.disp.wait_for(lambda: env.disp.dispatched == 5)
    time.sleep(0.2)
    assert env.disp.dispatched == 5  # the 6th waits for a free slot
    env.disp.sem.release()
    first = c.recv()
    env.disp.wait_for(lambda: env.disp.dispatched == 6)
    for _ in range(5):
        env.disp.sem.release()
    rest = [c.recv() for _ in range(5)]
    assert sorted(m.header.serial for m in [first, *rest]) == serials
    assert c.call(ECHO, b"more").payload == b"more"  # reading resumed
    c.close()


def test_large_messages_both_ways(env: Env) -> None:
    env.make()
    c = Client(env.path)
    big = os.urandom(4 << 20)
    reply = c.call(ECHO, big)  # the reply cannot go out in one send(): queued and flushed
    assert reply.payload == big
    assert c.call(ECHO, b"tiny").payload == b"tiny"
    c.close()


def test_message_over_max_message_closes_client(env: Env) -> None:
    srv = env.make(max_message=1024)
    c = Client(env.path)
    assert c.call(ECHO, b"x" * 900).payload == b"x" * 900
    c.sock.sendall(encode_message(Header(PROG, VERS, ECHO, MessageType.CALL, 5), b"y" * 2000))
    assert c.closed_by_server()
    wait_until(lambda: srv.clients == [])
    c.close()


def test_high_priority_calls_not_starved_by_blocked_workers(env: Env) -> None:
    env.make(max_workers=1, prio_workers=1)
    c = Client(env.path)
    c.send(BLOCK)
    env.disp.wait_for(lambda: env.disp.dispatched == 1)
    assert c.call(PRIO_ECHO, b"prio").payload == b"prio"
    env.disp.gate.set()
    assert c.recv().header.proc == BLOCK
    c.close()


# --- errors --------------------------------------------------------------------------


def test_unknown_program_error_reply_and_client_keeps_working(env: Env) -> None:
    env.make()
    c = Client(env.path)
    reply = c.call(7, prog=0x1234, vers=1)
    err = error_of(reply)
    assert (err["code"], err["domain"]) == (ErrorCode.RPC, ErrorDomain.RPC)
    assert err["message"] == "Cannot find program 4660 version 1"
    assert (reply.header.prog, reply.header.proc) == (0x1234, 7)
    err = error_of(c.call(ECHO, vers=2))
    assert err["message"] == f"Cannot find program {PROG} version 2"
    assert c.call(ECHO, b"ok!!").payload == b"ok!!"
    c.close()


def test_dispatcher_errors_become_error_replies(env: Env,
                                                caplog: pytest.LogCaptureFixture) -> None:
    srv = env.make()
    c = Client(env.path)
    err = error_of(c.call(VIRT_ERROR))
    assert (err["code"], err["domain"]) == (ErrorCode.NO_DOMAIN, ErrorDomain.TEST)
    assert err["message"] == "Domain not found: no domain 'x'"
    with caplog.at_level(logging.ERROR, logger="virtkit.rpc.server"):
        err = error_of(c.call(CRASH))
    assert err["code"] == ErrorCode.INTERNAL_ERROR
    assert err["message"].startswith("internal error: ")
    assert any("KeyError" in (r.exc_text or "") for r in caplog.records)
    assert c.call(ECHO, b"fine").payload == b"fine"
    assert srv.stats.errors == 2
    c.close()


def test_no_reply_when_dispatcher_returns_none(env: Env) -> None:
    env.make()
    c = Client(env.path)
    c.send(NO_REPLY)
    assert c.call(ECHO, b"next").payload == b"next"
    c.close()


def test_call_with_bad_status_is_refused(env: Env) -> None:
    env.make()
    c = Client(env.path)
    c.sock.sendall(encode_message(Header(PROG, VERS, ECHO, MessageType.CALL, 9,
                                         MessageStatus.ERROR)))
    err = error_of(c.recv())
    assert err["message"] == "Unexpected message status 1"
    c.close()


@pytest.mark.parametrize("data", [
    b"\xff\xff\xff\xff" + b"\x00" * 64,                  # 4 GiB length word
    b"\x00\x00\x00\x08" + b"\x00" * 4,                  # shorter than a header
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",               # garbage
    encode_message(Header(PROG, VERS, ECHO, MessageType.REPLY, 1)),   # wrong direction
    encode_message(Header(PROG, VERS, ECHO, MessageType.MESSAGE, 1)),
], ids=["4GiB", "too-short", "garbage", "reply", "message"])
def test_bad_input_closes_only_that_client(env: Env, data: bytes) -> None:
    srv = env.make()
    good = Client(env.path)
    good.call(ECHO)
    bad = Client(env.path)
    bad.call(ECHO)
    bad.sock.sendall(data)
    assert bad.closed_by_server()
    env.disp.wait_for(lambda: env.disp.closed[2] == 1)
    assert good.call(ECHO, b"live").payload == b"live"
    assert [s.id for s in srv.clients] == [1]
    good.close()
    bad.close()


def test_truncated_frame_then_eof(env: Env) -> None:
    srv = env.make()
    c = Client(env.path)
    frame = encode_message(Header(PROG, VERS, ECHO, MessageType.CALL, 1), b"x" * 100)
    c.sock.sendall(frame[:50])
    c.close()
    env.disp.wait_for(lambda: env.disp.closed[1] == 1)
    assert srv.clients == []


# --- lifecycle -----------------------------------------------------------------------


def test_client_killed_mid_call(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    srv = env.make()
    c = Client(env.path)
    c.send(BLOCK)
    env.disp.wait_for(lambda: env.disp.dispatched == 1)
    c.close()
    wait_until(lambda: srv.clients == [])
    time.sleep(0.05)
    assert env.disp.closed[1] == 0  # not before its call has finished
    with caplog.at_level(logging.WARNING, logger="virtkit.rpc.server"):
        env.disp.gate.set()
        env.disp.wait_for(lambda: env.disp.closed[1] == 1)
        time.sleep(0.05)
    assert env.disp.closed == {1: 1}
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    c2 = Client(env.path)
    assert c2.call(ECHO, b"next").payload == b"next"
    c2.close()


def test_max_clients(env: Env) -> None:
    srv = env.make(max_clients=2)
    a, b = Client(env.path), Client(env.path)
    a.call(ECHO)
    b.call(ECHO)
    extra = Client(env.path)
    assert extra.closed_by_server()
    assert srv.stats.rejected == 1
    a.close()
    wait_until(lambda: len(srv.clients) == 1)
    d = Client(env.path)
    assert d.call(ECHO, b"room").payload == b"room"
    for cl in (b, d, extra):
        cl.close()


def test_send_message_from_another_thread(env: Env) -> None:
    srv = env.make()
    c = Client(env.path)
    c.call(ECHO)
    (sess,) = srv.clients
    t = threading.Thread(target=sess.send_message, args=(PROG, VERS, 318, b"evt!"))
    t.start()
    t.join(5)
    msg = c.recv()
    h = msg.header
    assert (h.prog, h.vers, h.proc, h.type, h.serial, h.status) == (
        PROG, VERS, 318, MessageType.MESSAGE, 0, MessageStatus.OK)
    assert msg.payload == b"evt!"
    sess.close()
    assert c.closed_by_server()
    sess.send_message(PROG, VERS, 318, b"late")  # silently dropped
    assert sess.closed
    env.disp.wait_for(lambda: env.disp.closed[1] == 1)


def test_stream_messages_go_to_stream_handler(env: Env) -> None:
    env.make()
    c = Client(env.path)
    c.send(ECHO, b"data", mtype=MessageType.STREAM, serial=77)
    assert c.call(ECHO).header.type == MessageType.REPLY
    assert env.disp.streams == [(77, b"data")]
    c.close()


def test_stop_lets_in_flight_call_finish(env: Env) -> None:
    srv = env.make()
    c = Client(env.path)
    serial = c.send(BLOCK, b"last")
    env.disp.wait_for(lambda: env.disp.dispatched == 1)
    stopping = asyncio.run_coroutine_threadsafe(srv.stop(grace=5), env.lt.loop)
    time.sleep(0.1)
    assert not stopping.done()
    with pytest.raises(OSError):
        Client(env.path)  # no longer accepting
    env.disp.gate.set()
    reply = c.recv()
    assert (reply.header.serial, reply.payload) == (serial, b"last")
    assert c.closed_by_server()
    stopping.result(5)
    assert env.disp.closed == {1: 1}
    env.lt.run(srv.wait_closed())
    c.close()


def test_stop_gives_up_on_stuck_calls_after_grace(env: Env) -> None:
    srv = env.make()
    c = Client(env.path)
    c.send(BLOCK)
    env.disp.wait_for(lambda: env.disp.dispatched == 1)
    t0 = time.monotonic()
    env.lt.run(srv.stop(grace=0.3))
    # the call never finishes by itself: without the grace stop would wait forever
    # (a bound that only guards that hang, generous for a loaded machine)
    assert time.monotonic() - t0 < 30
    assert c.closed_by_server()
    assert env.disp.closed == {1: 1}
    env.disp.gate.set()
    time.sleep(0.05)
    assert env.disp.closed == {1: 1}  # the late finish does not close it again
    c.close()


def test_no_fd_leak(env: Env) -> None:
    srv = env.make()
    Client(env.path).close()  # warm up lazily created fds (worker threads, executor)

    def count() -> int:
        return len(os.listdir("/proc/self/fd"))

    wait_until(lambda: srv.clients == [])
    before = count()
    for _ in range(50):
        c = Client(env.path)
        c.call(ECHO)
        c.close()
    wait_until(lambda: srv.clients == [])
    env.disp.wait_for(lambda: sum(env.disp.closed.values()) == 51)
    assert count() <= before + 1


# --- keepalive -----------------------------------------------------------------------


def test_client_ping_answered_with_pong(env: Env) -> None:
    env.make()
    c = Client(env.path)
    c.send(KEEPALIVE_PROC_PING, prog=KEEPALIVE_PROGRAM, mtype=MessageType.MESSAGE, serial=0)
    pong = c.recv()
    h = pong.header
    assert (h.prog, h.vers, h.proc, h.type, h.serial) == (
        KEEPALIVE_PROGRAM, 1, KEEPALIVE_PROC_PONG, MessageType.MESSAGE, 0)
    assert len(pong.payload) == 0
    c.close()


def test_keepalive_pings_idle_client_and_closes_it(env: Env) -> None:
    env.make(keepalive_interval=0.1, keepalive_count=2)
    c = Client(env.path)
    c.call(KEEPALIVE_ON)
    # Answer pings for a while: the client stays.
    answered = 0
    t_end = time.monotonic() + 0.5
    while time.monotonic() < t_end:
        msg = c.recv(timeout=1)
        assert (msg.header.prog, msg.header.proc) == (KEEPALIVE_PROGRAM, KEEPALIVE_PROC_PING)
        c.send(KEEPALIVE_PROC_PONG, prog=KEEPALIVE_PROGRAM, mtype=MessageType.MESSAGE,
               serial=0)
        answered += 1
    assert answered >= 3
    # Stop answering: two more pings, then the server hangs up.
    t0 = time.monotonic()
    pings = 0
    with pytest.raises(EOFError):
        while True:
            msg = c.recv(timeout=2)
            assert msg.header.proc == KEEPALIVE_PROC_PING
            pings += 1
    assert pings == 2
    assert time.monotonic() - t0 >= 0.2  # interval x count; recv's timeout guards a hang
    env.disp.wait_for(lambda: env.disp.closed[1] == 1)
    c.close()


def test_no_keepalive_pings_until_started(env: Env) -> None:
    env.make(keepalive_interval=0.05, keepalive_count=1)
    c = Client(env.path)
    c.call(ECHO)
    with pytest.raises(TimeoutError):
        c.recv(timeout=0.3)
    c.close()


# --- limits per client: replies hold their slot until written; output is bounded -------


def _send_in_thread(c: Client, frames: list[tuple[int, bytes]]) -> threading.Thread:
    """Pipeline calls from a thread: the server may stop reading them (sendall blocks)."""
    def run() -> None:
        with contextlib.suppress(OSError):
            for proc, payload in frames:
                c.send(proc, payload)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_call_counts_until_its_reply_is_written(env: Env) -> None:
    """max_client_requests=N: N replies produced but unread hold every slot, so the
    (N+1)-th pipelined call of a client that does not read is not dispatched."""
    srv = env.make(max_client_requests=3, max_client_output=1 << 30)  # slots alone
    c = Client(env.path)
    big = b"x" * (2 << 20)  # far more than the socket buffers take
    serials = [c.send(ECHO, big) for _ in range(3)] + [c.send(ECHO, b"last")]
    env.disp.wait_for(lambda: env.disp.dispatched == 3)
    (sess,) = srv.clients
    wait_until(lambda: sess.inflight == 0)  # every worker has finished ...
    time.sleep(0.2)
    assert env.disp.dispatched == 3  # ... yet the 4th call waits: replies unwritten
    assert sess.output_backlog > 2 << 20
    replies = [c.recv() for _ in range(4)]
    assert [m.header.serial for m in replies] == serials
    assert replies[-1].payload == b"last" and env.disp.dispatched == 4
    c.close()


def test_unread_output_is_bounded_and_only_that_client_stalls(env: Env) -> None:
    srv = env.make(max_client_requests=50, max_client_output=256 << 10)
    c = Client(env.path)
    c.sock.settimeout(30)  # the sender thread waits while the server does not read
    chunk = b"y" * (128 << 10)
    sender = _send_in_thread(c, [(ECHO, chunk)] * 40)  # 5 MiB of replies if all ran
    env.disp.wait_for(lambda: env.disp.dispatched > 0)
    (sess,) = srv.clients
    wait_until(lambda: sess.inflight == 0)
    time.sleep(0.2)
    assert env.disp.dispatched < 40  # the server stopped reading: not every call ran
    assert sess.output_backlog <= 2 << 20
    other = Client(env.path)
    assert other.call(ECHO, b"still served").payload == b"still served"
    other.close()
    assert all(c.recv(timeout=30).payload == chunk for _ in range(40))  # then resumes
    sender.join(30)
    assert env.disp.dispatched == 41
    c.close()


def test_events_for_a_client_that_does_not_read_are_bounded(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    limit = 64 << 10
    srv = env.make(max_client_output=limit)
    c = Client(env.path)
    c.call(ECHO)
    (sess,) = srv.clients
    event = b"e" * 4096
    for _ in range(2000):  # 8 MiB of events, never read
        sess.send_message(PROG, VERS, 318, event)
    assert sess.output_backlog <= 4 * limit + len(event) + 64
    assert sess.events_dropped > 0
    assert "dropped event procedure 318" in caplog.text
    serial = c.send(ECHO, b"after")  # the events kept come first, then the reply
    kept = 0
    while (msg := c.recv()).header.type == MessageType.MESSAGE:
        assert msg.payload == event
        kept += 1
    assert msg.header.serial == serial and kept + sess.events_dropped == 2000
    c.close()
    wait_until(lambda: sess.closed)
    env.disp.wait_for(lambda: env.disp.closed[sess.id] == 1)
    assert sess.output_backlog == 0


def test_queued_replies_dropped_when_the_client_leaves(env: Env) -> None:
    srv = env.make(max_client_requests=2, max_client_output=1 << 30)
    c = Client(env.path)
    for _ in range(2):
        c.send(ECHO, b"z" * (2 << 20))
    env.disp.wait_for(lambda: env.disp.dispatched == 2)
    (sess,) = srv.clients
    wait_until(lambda: sess.inflight == 0 and sess.output_backlog > 2 << 20)
    c.close()
    env.disp.wait_for(lambda: env.disp.closed[sess.id] == 1)
    assert sess.output_backlog == 0 and not sess._out
