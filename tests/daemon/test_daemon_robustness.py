"""virtkitd survives bad clients: malformed frames, floods, crashes, signals, hostile input.

Everything runs against a real ``virtkitd`` subprocess.  Raw-socket tests
build frames with :mod:`virtkit.rpc.message` and the generated XDR types; the
others use virtkit's own client (``virtkit.open``) over the unix socket.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import virtkit
from virtkit.daemon.paths import DaemonPaths
from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.message import (
    REMOTE_PROGRAM,
    Header,
    Message,
    MessageStatus,
    MessageType,
    decode_message,
    encode_message,
    remote_error,
)
from virtkit.rpc.protocol import REMOTE, REMOTE_PROTOCOL_VERSION
from virtkit.testing.peers import Daemon, start_virtkitd

DOM = ("<domain type='test'><name>{name}</name><memory>1024</memory>"
       "<os><type>hvm</type></os>{extra}</domain>")


# ---------------------------------------------------------------- raw frames

def _connect(daemon: Daemon, readonly: bool = False) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(daemon.sock_ro if readonly else daemon.sock)
    return s


def _frame(name: str, args: Any = None, serial: int = 1) -> bytes:
    proc = REMOTE.by_name[name]
    header = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, proc.number, MessageType.CALL,
                    serial, MessageStatus.OK)
    if args is None:
        return encode_message(header)
    return encode_message(header, body_type=proc.args, body=args)


def _recv_exact(s: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _read(s: socket.socket) -> Message | None:
    """The next message, or None at EOF."""
    head = _recv_exact(s, 4)
    if head is None:
        return None
    (length,) = struct.unpack(">I", head)
    rest = _recv_exact(s, length - 4)
    assert rest is not None, "EOF inside a message"
    return decode_message(head + rest)


def _read_reply(s: socket.socket) -> Message:
    """The next REPLY (keepalive traffic skipped)."""
    while True:
        msg = _read(s)
        assert msg is not None, "connection closed instead of a reply"
        if msg.header.type == MessageType.REPLY:
            return msg


def _is_closed(s: socket.socket, timeout: float = 5.0) -> bool:
    """True when the peer closes the connection within ``timeout`` (data read is dropped)."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def _open_raw(daemon: Daemon, readonly: bool = False) -> socket.socket:
    s = _connect(daemon, readonly)
    s.sendall(_frame("connect_open", {"name": "test:///default", "flags": 0}))
    reply = _read_reply(s)
    assert reply.header.status == MessageStatus.OK, reply.decode_payload(remote_error)
    return s


def _lookup_ok(s: socket.socket, serial: int = 7) -> None:
    s.sendall(_frame("domain_lookup_by_name", {"name": "test"}, serial))
    reply = _read_reply(s)
    assert (reply.header.serial, reply.header.status) == (serial, MessageStatus.OK)
    ret = reply.decode_payload(REMOTE.by_name["domain_lookup_by_name"].ret)
    assert ret["dom"]["name"] == "test"


def _error(reply: Message) -> dict[str, Any]:
    assert reply.header.status == MessageStatus.ERROR
    return reply.decode_payload(remote_error)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_virtkitd(tmp_path_factory.mktemp("virtkitd")) as d:
        yield d
        assert d.proc.poll() is None, d.log_text()


def _alive(daemon: Daemon) -> None:
    assert daemon.proc.poll() is None, daemon.log_text()
    with virtkit.open(daemon.uri("unix")) as conn:
        assert conn.lookup_domain("test").name == "test"


def test_4gib_length_word_closes_that_connection_only(daemon: Daemon) -> None:
    good = _open_raw(daemon)
    bad = _connect(daemon)
    bad.sendall(b"\xff\xff\xff\xff" + b"\0" * 64)
    assert _is_closed(bad)
    _lookup_ok(good)
    good.close()
    bad.close()
    _alive(daemon)


def test_truncated_frame_then_close(daemon: Daemon) -> None:
    good = _open_raw(daemon)
    s = _connect(daemon)
    s.sendall(_frame("domain_lookup_by_name", {"name": "test"})[:13])
    s.close()
    _lookup_ok(good)
    good.close()
    _alive(daemon)


@pytest.mark.parametrize("junk", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\0\0\0\x05hello",
                                  b"\0\0\0\0", bytes(range(255, -1, -1)) * 4])
def test_garbage_closes_connection(daemon: Daemon, junk: bytes) -> None:
    s = _connect(daemon)
    s.sendall(junk)
    assert _is_closed(s)
    s.close()
    _alive(daemon)


def test_unknown_procedure_is_an_rpc_error(daemon: Daemon) -> None:
    s = _open_raw(daemon)
    header = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, 99999, MessageType.CALL, 42)
    s.sendall(encode_message(header))
    reply = _read_reply(s)
    assert (reply.header.serial, reply.header.proc) == (42, 99999)
    err = _error(reply)
    assert (err["code"], err["domain"]) == (ErrorCode.RPC, ErrorDomain.RPC)
    assert err["message"] == "unknown procedure: 99999"
    _lookup_ok(s)  # the connection is still good
    s.close()


def test_unknown_program_is_an_rpc_error(daemon: Daemon) -> None:
    s = _open_raw(daemon)
    s.sendall(encode_message(Header(0x12345678, 1, 1, MessageType.CALL, 5)))
    err = _error(_read_reply(s))
    assert (err["code"], err["domain"]) == (ErrorCode.RPC, ErrorDomain.RPC)
    assert err["message"] == "Cannot find program 305419896 version 1"
    s.sendall(encode_message(Header(REMOTE_PROGRAM, 2, 1, MessageType.CALL, 6)))
    assert _error(_read_reply(s))["message"] == f"Cannot find program {REMOTE_PROGRAM} version 2"
    _lookup_ok(s)
    s.close()


def test_oversized_frame_refused(daemon: Daemon) -> None:
    s = _connect(daemon)
    header = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, 1, MessageType.CALL, 1)
    s.sendall(struct.pack(">I", 40 << 20) + header.encode() + b"\0" * 65536)
    assert _is_closed(s)
    s.close()
    _alive(daemon)


def test_undecodable_arguments_are_an_rpc_error(daemon: Daemon) -> None:
    s = _open_raw(daemon)
    proc = REMOTE.by_name["domain_lookup_by_name"]
    header = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, proc.number, MessageType.CALL, 3)
    s.sendall(encode_message(header, struct.pack(">I", 1000) + b"ab"))  # string cut short
    err = _error(_read_reply(s))
    assert (err["code"], err["domain"]) == (ErrorCode.RPC, ErrorDomain.RPC)
    _lookup_ok(s)
    s.close()


@settings(max_examples=int(os.environ.get("VK_FUZZ_EXAMPLES", "200")), deadline=None,
          derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_never_kill_the_daemon(daemon: Daemon, data: bytes) -> None:
    s = _connect(daemon)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        assert _is_closed(s), "the daemon must close a connection whose client hung up"
    finally:
        s.close()
    assert daemon.proc.poll() is None, daemon.log_text()


# CONNECT_CLOSE would (rightly) leave the connection unusable for the check after it.
_KNOWN_PROCS = sorted(p.number for p in REMOTE.by_number.values()
                      if p.kind.value == "call" and p.name != "connect_close")


@settings(max_examples=int(os.environ.get("VK_FUZZ_EXAMPLES", "200")), deadline=None,
          derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(proc=st.sampled_from(_KNOWN_PROCS), payload=st.binary(max_size=64))
def test_random_payloads_for_real_procedures(daemon: Daemon, proc: int, payload: bytes) -> None:
    """Valid headers, random arguments (read-only socket: nothing can be changed):
    every call gets a reply with its serial and the connection stays usable."""
    s = _open_raw(daemon, readonly=True)
    try:
        header = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, proc, MessageType.CALL, 77)
        s.sendall(encode_message(header, payload))
        reply = _read_reply(s)
        assert (reply.header.serial, reply.header.proc) == (77, proc)
        if reply.header.status == MessageStatus.ERROR:
            err = _error(reply)
            assert err["code"] != ErrorCode.INTERNAL_ERROR or "unexpected" not in (
                err["message"] or ""), err
        _lookup_ok(s)
    finally:
        s.close()


def test_pipelined_calls_beyond_max_client_requests(daemon: Daemon) -> None:
    """20 calls in one write (max_client_requests is 5): all 20 replies come back."""
    s = _open_raw(daemon)
    s.sendall(b"".join(_frame("domain_lookup_by_name", {"name": "test"}, 100 + i)
                       for i in range(20)))
    serials = []
    for _ in range(20):
        reply = _read_reply(s)
        assert reply.header.status == MessageStatus.OK
        serials.append(reply.header.serial)
    assert sorted(serials) == list(range(100, 120))
    s.close()


# ---------------------------------------------------------------- misbehaving processes

CHILD = textwrap.dedent("""
    import sys, virtkit
    conn = virtkit.open(sys.argv[1])
    print("go", flush=True)
    for i in range(200):
        conn.define_domain(
            "<domain type='test'><name>k%d</name><memory>1024</memory>"
            "<os><type>hvm</type></os></domain>" % i)
    print("finished", flush=True)
""")


def test_client_killed_mid_call(daemon: Daemon) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, daemon.uri("unix")],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "go"
    time.sleep(0.05)
    child.kill()
    child.wait(10)
    _alive(daemon)
    with virtkit.open(daemon.uri("unix")) as conn:
        conn.define_domain(DOM.format(name="after-kill", extra=""))
        assert "after-kill" in [d.name for d in conn.list_domains()]


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _settle_fds(pid: int, baseline: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    n = _fd_count(pid)
    while n > baseline and time.monotonic() < deadline:
        time.sleep(0.1)
        n = _fd_count(pid)
    return n


@pytest.mark.slow
def test_100_concurrent_clients_no_errors_no_fd_leak(daemon: Daemon) -> None:
    _alive(daemon)
    baseline = _settle_fds(daemon.pid, 0, timeout=1.0)
    errors: list[BaseException] = []
    start = threading.Barrier(100, timeout=60)

    def client(i: int) -> None:
        try:
            with virtkit.open(daemon.uri("unix")) as conn:
                start.wait()
                for round_ in range(3):
                    name = f"c{i}-{round_}"
                    dom = conn.define_domain(DOM.format(name=name, extra=""))
                    assert conn.lookup_domain(name).uuid == dom.uuid
                    assert f"<name>{name}</name>" in dom.xml()
                    assert conn.lookup_domain("test").info().state == 1
                    assert name in [d.name for d in conn.list_domains()]
                    dom.undefine()
                    with pytest.raises(VirtError):
                        conn.lookup_domain(name)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[:3]
    _alive(daemon)
    assert _settle_fds(daemon.pid, baseline) <= baseline, (
        f"{_fd_count(daemon.pid)} fds open, {baseline} before the clients")


def test_max_clients(tmp_path: Path) -> None:
    with start_virtkitd(tmp_path / "vk", extra_conf="max_clients = 5\n") as d:
        socks = [_open_raw(d) for _ in range(5)]
        sixth = _connect(d)
        assert _is_closed(sixth), "a 6th client must be turned away"
        sixth.close()
        for i, s in enumerate(socks):
            _lookup_ok(s, serial=10 + i)
        socks.pop().close()
        deadline = time.monotonic() + 5
        while True:  # the freed slot is taken back once the daemon saw the close
            s = _connect(d)
            s.sendall(_frame("connect_open", {"name": "test:///default", "flags": 0}))
            try:
                msg = _read(s)
            except ConnectionResetError:
                msg = None
            if msg is not None or time.monotonic() > deadline:
                break
            s.close()
            time.sleep(0.05)
        assert msg is not None and msg.header.status == MessageStatus.OK
        _lookup_ok(s)
        for x in [*socks, s]:
            x.close()
        assert d.proc.poll() is None, d.log_text()


# ---------------------------------------------------------------- signals

def _busy_client(uri: str, name: str, outcome: dict[str, Any], started: threading.Event) -> None:
    try:
        conn = virtkit.open(uri)
        started.set()
        i = 0
        while True:
            dom = conn.define_domain(DOM.format(name=f"{name}-{i}", extra=""))
            dom.xml()
            conn.list_domains()
            i += 1
    except VirtError as e:
        outcome[name] = e
    except BaseException as e:
        outcome[name] = e
    finally:
        started.set()


@pytest.mark.slow
def test_sigkill_daemon_mid_operation_then_restart(tmp_path: Path) -> None:
    root = tmp_path / "vk"
    d = start_virtkitd(root)
    try:
        outcome: dict[str, Any] = {}
        threads = []
        for i in range(4):
            started = threading.Event()
            t = threading.Thread(target=_busy_client, args=(d.uri("unix"), f"b{i}", outcome,
                                                            started), daemon=True)
            t.start()
            started.wait(10)
            threads.append(t)
        time.sleep(0.3)
        d.kill()
        for t in threads:  # the join bound only guards a hang
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a client hangs on a dead daemon"
        assert all(isinstance(e, VirtError) for e in outcome.values()), outcome
        assert len(outcome) == 4
        paths = DaemonPaths(str(root))
        assert os.path.exists(paths.pid_file) and os.path.exists(d.sock)  # left behind
    finally:
        d.kill()
    with start_virtkitd(root) as d2:
        _alive(d2)
        with virtkit.open(d2.uri("tcp")) as conn:
            assert conn.lookup_domain("test").is_active()
        assert d2.stop() == 0


def _drive_letters(index: int) -> str:
    """virIndexToDiskName's suffix: 0 -> a, 25 -> z, 26 -> aa."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(ord("a") + rem) + out
    return out


def _slow_define_xml() -> str:
    disks = "".join(f"<disk type='file' device='disk'><source file='/img/d{i}'/>"
                    f"<target dev='vd{_drive_letters(i)}'/></disk>" for i in range(30000))
    return DOM.format(name="slow", extra=f"<devices>{disks}</devices>")


@pytest.mark.slow
def test_sigterm_with_call_in_flight(tmp_path: Path) -> None:
    d = start_virtkitd(tmp_path / "vk")
    try:
        s = _open_raw(d)
        xml = _slow_define_xml()
        t0 = time.monotonic()
        s.sendall(_frame("domain_define_xml", {"xml": xml}, 9))
        time.sleep(0.3)
        os.kill(d.pid, signal.SIGTERM)
        s.settimeout(30)
        reply = _read_reply(s)
        took = time.monotonic() - t0
        assert reply.header.serial == 9
        assert reply.header.status == MessageStatus.OK, _error(reply)
        ret = reply.decode_payload(REMOTE.by_name["domain_define_xml"].ret)
        assert ret["dom"]["name"] == "slow"
        assert took > 0.3, "the call was not in flight when the signal came"
        assert _is_closed(s, 15)
        s.close()
        assert d.proc.wait(20) == 0, d.log_text()
    finally:
        d.kill()
    paths = DaemonPaths(str(tmp_path / "vk"))
    for path in (d.sock, d.sock_ro, paths.pid_file):
        assert not os.path.exists(path), path


# ---------------------------------------------------------------- hostile input

def test_hostile_names_and_xml(daemon: Daemon) -> None:
    with virtkit.open(daemon.uri("unix")) as conn:
        for name in ("a/b", "x" * 10000, "../../etc/passwd", "a\nb"):
            with pytest.raises(VirtError) as exc:
                conn.lookup_domain(name)
            assert exc.value.code == ErrorCode.NO_DOMAIN, name
        long = conn.define_domain(DOM.format(name="y" * 10000, extra=""))  # libvirt accepts it
        assert conn.lookup_domain("y" * 10000).uuid == long.uuid
        long.undefine()
        with pytest.raises(VirtError) as exc:
            conn.define_domain(DOM.format(name="a\nb", extra=""))
        assert (exc.value.code, exc.value.domain) == (ErrorCode.XML_DETAIL, ErrorDomain.XML)
        for bad in ("<domain", "<domain><name>x</name", "", "<!DOCTYPE x [<!ENTITY e SYSTEM "
                    "'file:///etc/passwd'>]><domain type='test'><name>&e;</name></domain>"):
            with pytest.raises(VirtError) as exc:
                conn.define_domain(bad)
            assert exc.value.code in (ErrorCode.XML_DETAIL, ErrorCode.XML_ERROR,
                                      ErrorCode.INVALID_ARG), bad
        # a 3 MiB description is fine; the daemon is still there
        big = conn.define_domain(DOM.format(name="big", extra="<description>" + "x" * (3 << 20)
                                            + "</description>"))
        big.undefine()
    _alive(daemon)


def test_nul_and_oversized_strings_over_raw_socket(daemon: Daemon) -> None:
    s = _open_raw(daemon)
    proc = REMOTE.by_name["domain_lookup_by_name"]
    header = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, proc.number, MessageType.CALL, 21)
    s.sendall(encode_message(header, struct.pack(">I", 3) + b"a\0b\0"))
    err = _error(_read_reply(s))
    assert err["code"] in (ErrorCode.RPC, ErrorCode.NO_DOMAIN), err
    # an 11 MiB string: beyond libvirt's 4 MiB string limit, within the 32 MiB message limit
    proc = REMOTE.by_name["domain_define_xml"]
    header = Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, proc.number, MessageType.CALL, 22)
    n = 11 << 20
    s.sendall(encode_message(header, struct.pack(">I", n) + b"<" * n))
    err = _error(_read_reply(s))
    assert (err["code"], err["domain"]) == (ErrorCode.RPC, ErrorDomain.RPC), err
    _lookup_ok(s)
    s.close()
    _alive(daemon)


def test_domain_name_with_slash_refused(daemon: Daemon) -> None:
    """libvirt: [27, 20] "XML error: name a/b cannot contain '/'" (virDomainDefParseXML)."""
    with virtkit.open(daemon.uri("unix")) as conn, pytest.raises(VirtError) as exc:
        conn.define_domain(DOM.format(name="a/b", extra=""))
    assert (exc.value.code, exc.value.domain) == (ErrorCode.XML_ERROR, ErrorDomain.DOMAIN)
    assert exc.value.message == "XML error: name a/b cannot contain '/'"


def test_11mib_xml_through_client_is_a_clean_rpc_error(daemon: Daemon) -> None:
    """libvirt's client: [39, 7] "Unable to encode message payload" (string > 4 MiB)."""
    xml = DOM.format(name="huge", extra="<description>" + "x" * (11 << 20) + "</description>")
    with virtkit.open(daemon.uri("unix")) as conn:
        with pytest.raises(VirtError) as exc:
            conn.define_domain(xml)
        assert (exc.value.code, exc.value.domain) == (ErrorCode.RPC, ErrorDomain.RPC)
        assert exc.value.message == "Unable to encode message payload"
        assert conn.lookup_domain("test").name == "test"
    _alive(daemon)


def test_bytes_after_the_arguments_are_ignored(daemon: Daemon) -> None:
    """libvirt's virNetMessageDecodePayload decodes the arguments and ignores what follows
    (the system XDR library reads no further): so does virtkitd."""
    s = _open_raw(daemon)
    frame = bytearray(_frame("domain_lookup_by_name", {"name": "test"}, 11) + b"\0\1\2\3")
    frame[0:4] = struct.pack(">I", len(frame))
    s.sendall(bytes(frame))
    reply = _read_reply(s)
    assert reply.header.serial == 11
    assert reply.header.status == MessageStatus.OK, _error(reply)
    s.close()
