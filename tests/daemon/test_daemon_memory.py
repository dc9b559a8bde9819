"""Bounded memory per client (issue 13, item 3), measured on a real virtkitd.

A raw client pipelines many large-reply calls and never reads. The daemon
must stall that client, not itself: its RSS (``VmRSS`` of /proc/PID/status)
stays within a fixed bound over idle, another client on the same daemon
still gets answers, and after the stalled client leaves RSS comes back near
idle. Both sockets: the read-write one, and the read-only one (mode 0777 in
a system daemon) where any local user can do this."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import virtkit
from virtkit.rpc.message import (
    REMOTE_PROGRAM,
    FrameReader,
    Header,
    MessageStatus,
    MessageType,
    encode_message,
)
from virtkit.rpc.protocol import REMOTE, REMOTE_PROTOCOL_VERSION
from virtkit.testing.peers import Daemon, start_virtkitd

pytestmark = pytest.mark.timeout(180)

MiB = 1 << 20
BOUND = 64 * MiB        # the daemon's RSS over idle while a client is stalled
SETTLED = 24 * MiB      # ... and after that client left
DESCRIPTION = 2 * MiB   # each getXMLDesc reply is a little over this
HANG_GUARD = 60.0       # generous: guards a hang, not a latency figure
DOMAIN = "big"


def rss(pid: int) -> int:
    """The process's resident set size in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Stalled:
    """A raw RPC client that sends calls and, after the first replies, never reads."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(HANG_GUARD)
        self.sock.connect(path)
        self.serial = 0

    def frame(self, name: str, args: object = None) -> bytes:
        self.serial += 1
        proc = REMOTE[name]
        h = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, proc.number, MessageType.CALL,
                   self.serial, MessageStatus.OK)
        return (encode_message(h) if args is None
                else encode_message(h, body_type=proc.args, body=args))

    def call(self, name: str, args: object = None) -> bytes:
        """One call, read back (used before the client stops reading)."""
        self.sock.sendall(self.frame(name, args))
        reader = FrameReader()
        while True:
            data = self.sock.recv(1 << 16)
            assert data, "daemon closed the connection"
            for msg in reader.feed(data):
                assert msg.header.status == MessageStatus.OK, msg
                return msg.payload

    def pipeline(self, frames: bytes) -> threading.Thread:
        """Send ``frames`` from a thread (the daemon may stop reading them: it may block)."""
        def send() -> None:
            # Timed out against a daemon that stopped reading, or closed by the test.
            with contextlib.suppress(OSError):
                self.sock.sendall(frames)

        t = threading.Thread(target=send, daemon=True)
        t.start()
        return t

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the sender blocked in sendall
        self.sock.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    # test:///default lives while a connection holds it: this one, for the module.
    with (start_virtkitd(tmp_path_factory.mktemp("memory")) as d,
          virtkit.open(d.uri("unix")) as conn):
        conn.define_domain(
            f"<domain type='test'><name>{DOMAIN}</name><memory>65536</memory>"
            f"<description>{'x' * DESCRIPTION}</description>"
            "<os><type>hvm</type></os></domain>")
        yield d


def idle_rss(daemon: Daemon) -> int:
    """RSS after a warm-up round of the calls the test makes (imports, caches)."""
    with virtkit.open(daemon.uri("unix")) as conn:
        for _ in range(3):
            conn.lookup_domain(DOMAIN).xml()
            conn.capabilities()
    time.sleep(0.5)
    return rss(daemon.pid)


def other_client_answered(daemon: Daemon) -> None:
    """Another client's calls complete while the stalled one waits."""
    result: list[int] = []

    def work() -> None:
        with virtkit.open(daemon.uri("unix-ro")) as conn:
            result.append(len(conn.lookup_domain(DOMAIN).xml()))
            result.append(len(conn.capabilities()))

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(HANG_GUARD)
    assert not t.is_alive(), "the daemon stalled with the client"
    assert result and result[0] > DESCRIPTION


def watch(daemon: Daemon, limit: int, seconds: float, client: Stalled) -> int:
    """The highest RSS over ``seconds``; the client is cut off as soon as ``limit`` is
    passed, so a regression fails fast instead of eating the machine's memory."""
    peak = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak = max(peak, rss(daemon.pid))
        if peak > limit:
            client.close()
            break
        time.sleep(0.05)
    return peak


def settle(daemon: Daemon, limit: int) -> int:
    """Wait (within HANG_GUARD) for RSS to come down to ``limit``; the last figure."""
    deadline = time.monotonic() + HANG_GUARD
    now = rss(daemon.pid)
    while now > limit and time.monotonic() < deadline:
        time.sleep(0.2)
        now = rss(daemon.pid)
    return now


def _xml_calls(client: Stalled, count: int) -> bytes:
    payload = client.call("domain_lookup_by_name", {"name": DOMAIN})
    dom = REMOTE["domain_lookup_by_name"].ret.decode(payload)["dom"]
    return b"".join(client.frame("domain_get_xml_desc", {"dom": dom, "flags": 0})
                    for _ in range(count))


def _caps_calls(client: Stalled, count: int) -> bytes:
    return b"".join(client.frame("connect_get_capabilities") for _ in range(count))


CASES: dict[str, tuple[str, Callable[[Stalled, int], bytes], int]] = {
    "rw-getXMLDesc": ("sock", _xml_calls, 20000),
    "ro-getXMLDesc": ("sock_ro", _xml_calls, 20000),
    "ro-getCapabilities": ("sock_ro", _caps_calls, 50000),
}


@pytest.mark.parametrize("case", list(CASES))
def test_client_that_never_reads(daemon: Daemon, case: str) -> None:
    sock_attr, calls, count = CASES[case]
    idle = idle_rss(daemon)
    client = Stalled(getattr(daemon, sock_attr))
    client.call("connect_open", {"name": "test:///default", "flags": 0})
    sender = client.pipeline(calls(client, count))
    # Without limits the unread 2 MiB replies pass the bound within the watch; with them
    # the daemon holds a few replies and stops reading the client (over a MiB of calls,
    # more than the socket buffers take: the sender stays blocked).
    peak = watch(daemon, idle + BOUND, 4.0, client)
    other_client_answered(daemon)
    peak = max(peak, watch(daemon, idle + BOUND, 1.0, client))
    assert peak <= idle + BOUND, f"RSS {peak / MiB:.0f} MiB, idle {idle / MiB:.0f} MiB"
    assert sender.is_alive(), "the daemon read every call: the client was not stalled"
    client.close()
    sender.join(HANG_GUARD)
    after = settle(daemon, idle + SETTLED)
    print(f"{case}: idle {idle / MiB:.1f} MiB, peak {peak / MiB:.1f} MiB, "
          f"after {after / MiB:.1f} MiB")
    assert after <= idle + SETTLED, f"RSS {after / MiB:.0f} MiB after, idle {idle / MiB:.0f}"
    assert daemon.proc.poll() is None
