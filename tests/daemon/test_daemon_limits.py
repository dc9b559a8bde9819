"""virtkitd's client limits, from libvirtd.conf: max_clients, max_anonymous_clients,
auth_timeout, the pre-authentication message size, oversized messages and
max_client_call_rate.  Raw sockets against a real daemon; the ``sasl`` TCP
listener gives unauthenticated clients."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtkit
from virtkit.rpc.message import (
    MESSAGE_MAX,
    REMOTE_PROGRAM,
    FrameReader,
    Header,
    Message,
    MessageStatus,
    MessageType,
    encode_message,
    remote_error,
)
from virtkit.rpc.protocol import REMOTE, REMOTE_PROTOCOL_VERSION
from virtkit.testing.peers import Daemon, start_virtkitd

pytestmark = pytest.mark.timeout(90)


class Raw:
    """A raw RPC client socket."""

    def __init__(self, daemon: Daemon, tcp: bool = False) -> None:
        if tcp:
            self.sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(daemon.sock)
        self.reader = FrameReader()
        self.pending: list[Message] = []
        self.serial = 0

    def send(self, name: str, args: object = None) -> int:
        self.serial += 1
        proc = REMOTE[name]
        h = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, proc.number, MessageType.CALL,
                   self.serial, MessageStatus.OK)
        frame = (encode_message(h) if args is None
                 else encode_message(h, body_type=proc.args, body=args))
        self.sock.sendall(frame)
        return self.serial

    def recv(self) -> Message | None:
        while not self.pending:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                return None
            if not data:
                return None
            self.pending.extend(self.reader.feed(data))
        return self.pending.pop(0)

    def call(self, name: str, args: object = None) -> Message | None:
        self.send(name, args)
        return self.recv()

    def closed_by_server(self, timeout: float = 5.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


def _alive(daemon: Daemon) -> None:
    assert daemon.proc.poll() is None
    with virtkit.open(daemon.uri("unix")) as conn:
        assert conn.version > 0


def _until_no_client(d: Daemon) -> None:
    """Until the daemon's server lists no client (asked over the admin socket, a server
    of its own with its own limits)."""
    import virtkit.admin

    admin = f"libvirtd:///system?socket={d.root / 'run' / 'libvirt' / 'libvirt-admin-sock'}"
    deadline = time.monotonic() + 30  # hang guard
    with virtkit.admin.open(admin) as adm:
        srv = adm.lookup_server("libvirtd")
        while srv.list_clients():
            assert time.monotonic() < deadline, "the readiness probe is never counted off"
            time.sleep(0.02)


@pytest.fixture
def daemon(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Daemon]:
    d = start_virtkitd(tmp_path, extra_conf=getattr(request, "param", ""))
    _until_no_client(d)  # start_virtkitd's readiness probe has been counted off
    try:
        yield d
    finally:
        d.stop()


@pytest.mark.parametrize("daemon", ["max_clients = 2\n"], indirect=True)
def test_max_clients(daemon: Daemon) -> None:
    a, b = Raw(daemon), Raw(daemon)
    assert a.call("auth_list") is not None and b.call("auth_list") is not None
    extra = Raw(daemon)
    assert extra.closed_by_server()
    a.close()
    time.sleep(0.3)
    c = Raw(daemon)
    msg = c.call("auth_list")
    assert msg is not None and msg.header.status == MessageStatus.OK
    for cl in (b, c, extra):
        cl.close()
    assert "limit of 2 clients reached" in daemon.log_text()


@pytest.mark.parametrize("daemon", ['auth_tcp = "sasl"\nmax_anonymous_clients = 2\n'],
                         indirect=True)
def test_max_anonymous_clients(daemon: Daemon) -> None:
    a, b = Raw(daemon, tcp=True), Raw(daemon, tcp=True)
    assert a.call("auth_list") is not None and b.call("auth_list") is not None
    extra = Raw(daemon, tcp=True)
    assert extra.closed_by_server()
    # clients of the auth-none unix socket are not anonymous: still served
    _alive(daemon)
    a.close()
    time.sleep(0.3)
    again = Raw(daemon, tcp=True)
    assert again.call("auth_list") is not None
    for cl in (b, again, extra):
        cl.close()
    assert "limit of 2 unauthenticated clients reached" in daemon.log_text()


@pytest.mark.parametrize("daemon", ['auth_tcp = "sasl"\nauth_timeout = 1\n'], indirect=True)
def test_auth_timeout_drops_unauthenticated(daemon: Daemon) -> None:
    start = time.monotonic()
    lazy = Raw(daemon, tcp=True)
    local = Raw(daemon)  # auth none: no deadline
    assert lazy.call("auth_list") is not None
    # the deadline is 1 s: closed no earlier; the 60 s wait only guards a hang
    assert lazy.closed_by_server(timeout=60)
    assert time.monotonic() - start >= 0.8
    assert local.call("auth_list") is not None  # still here after the deadline
    local.close()
    lazy.close()
    assert "not authenticated within 1 s" in daemon.log_text()


@pytest.mark.parametrize("daemon", ['auth_tcp = "sasl"\n'], indirect=True)
def test_preauth_message_limit(daemon: Daemon) -> None:
    other = Raw(daemon, tcp=True)
    big = Raw(daemon, tcp=True)
    # 300 KiB: fine for an authenticated client, too big before authentication
    h = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, REMOTE["auth_sasl_step"].number,
               MessageType.CALL, 1, MessageStatus.OK)
    big.sock.sendall(encode_message(h, b"\0" * (300 << 10)))
    assert big.closed_by_server()
    assert other.call("auth_list") is not None
    other.close()
    _alive(daemon)


def test_oversized_message_drops_only_that_client(daemon: Daemon) -> None:
    good = Raw(daemon)
    assert good.call("auth_list") is not None
    bad = Raw(daemon)
    bad.sock.sendall(struct.pack(">I", MESSAGE_MAX + 1) + b"\0" * 24)
    assert bad.closed_by_server()
    msg = good.call("auth_list")
    assert msg is not None and msg.header.status == MessageStatus.OK
    good.close()
    _alive(daemon)
    assert f"packet of {MESSAGE_MAX + 1} bytes is too large" in daemon.log_text()


@pytest.mark.parametrize("daemon", ["max_client_call_rate = 1\nmax_client_call_burst = 5\n"],
                         indirect=True)
def test_call_rate_limit(daemon: Daemon) -> None:
    # At 1 call a second, five throttled calls would take 5 s: the burst of five must not
    # (the 4 s bound tells the two apart; no latency figure is asserted).
    c = Raw(daemon)
    start = time.monotonic()
    for _ in range(5):  # the burst goes through without waiting for tokens
        assert c.call("auth_list") is not None
    assert time.monotonic() - start < 4
    for _ in range(2):  # then one a second: at least ~2 s more
        msg = c.call("auth_list")
        assert msg is not None and msg.header.status == MessageStatus.OK
    assert time.monotonic() - start >= 1.8
    other = Raw(daemon)  # each client has its own bucket: a burst of its own
    t0 = time.monotonic()
    for _ in range(5):
        assert other.call("auth_list") is not None
    assert time.monotonic() - t0 < 4
    c.close()
    other.close()


def test_unauthenticated_calls_are_refused(tmp_path: Path) -> None:
    d = start_virtkitd(tmp_path, extra_conf='auth_tcp = "sasl"\n')
    try:
        c = Raw(d, tcp=True)
        msg = c.call("connect_open", {"name": "test:///default", "flags": 0})
        assert msg is not None and msg.header.status == MessageStatus.ERROR
        err = remote_error.decode(msg.payload)
        assert err["message"] == "authentication required"
        c.close()
    finally:
        d.stop()
