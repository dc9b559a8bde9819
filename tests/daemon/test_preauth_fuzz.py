"""Fuzzing the pre-authentication surface of a real virtkitd (TCP listener, auth "sasl").

Random headers, procedures and payloads, truncated and oversized frames, random
SASL exchanges, and a call to every non-auth procedure: the daemon never
crashes, every non-auth call is refused ("authentication required"), the
session never becomes authenticated, and other clients keep working.  Bounded
to well under a minute (``max_examples``)."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import virtkit
from virtkit.daemon.dispatch import AUTH_PROCS
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.message import (
    MESSAGE_MAX,
    REMOTE_PROGRAM,
    FrameError,
    FrameReader,
    Header,
    Message,
    MessageStatus,
    MessageType,
    encode_message,
    remote_error,
)
from virtkit.rpc.protocol import REMOTE, REMOTE_PROTOCOL_VERSION, ProcKind
from virtkit.testing.peers import Daemon, start_virtkitd

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

_HDR = struct.Struct(">IIIiiIi")
_CALLS = [p for p in REMOTE if p.kind is ProcKind.CALL]
_NON_AUTH = [p for p in _CALLS if p.name not in AUTH_PROCS]
_AUTH = [p for p in _CALLS if p.name in AUTH_PROCS]
_PROBE_SERIAL = 0x7FFF_FFF0


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root: Path = tmp_path_factory.mktemp("preauth")
    d = start_virtkitd(root, extra_conf=(
        'auth_tcp = "sasl"\nmax_anonymous_clients = 10000\nauth_timeout = 30\n'))
    try:
        yield d
    finally:
        code = d.stop()
        assert code == 0, d.log_text()[-4000:]


def _connect(daemon: Daemon) -> socket.socket | None:
    try:
        s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
    except OSError:
        return None
    s.settimeout(2)
    return s


def _read_all(s: socket.socket, want_serial: int) -> tuple[list[Message], bool]:
    """Replies until the one to ``want_serial`` (or EOF / silence): (messages, eof)."""
    reader = FrameReader()
    out: list[Message] = []
    while True:
        try:
            data = s.recv(1 << 20)
        except (TimeoutError, ConnectionResetError, OSError):
            return out, True
        if not data:
            return out, True
        try:
            out.extend(reader.feed(data))
        except FrameError:
            raise AssertionError("the daemon sent a malformed frame") from None
        if any(m.header.serial == want_serial for m in out):
            return out, False


def _call(proc: int, serial: int, payload: bytes = b"", prog: int = REMOTE_PROGRAM,
          vers: int = REMOTE_PROTOCOL_VERSION, mtype: int = MessageType.CALL,
          status: int = MessageStatus.OK) -> bytes:
    return _HDR.pack(28 + len(payload), prog, vers, proc & 0xFFFFFFFF if proc >= 0 else proc,
                     mtype, serial, status) + payload


def _assert_refusals(msgs: list[Message]) -> None:
    """No non-auth REMOTE call was answered with OK."""
    for m in msgs:
        h = m.header
        if h.prog != REMOTE_PROGRAM or h.type != MessageType.REPLY:
            continue
        proc = REMOTE.get(h.proc)
        if proc is not None and proc.name not in AUTH_PROCS:
            assert h.status == MessageStatus.ERROR, f"{proc.name} answered before auth"
            err = remote_error.decode(m.payload)  # a well-formed error
            assert err["code"] == ErrorCode.RPC, err


def _probe(s: socket.socket) -> None:
    """The session is still unauthenticated: CONNECT_OPEN is refused (or the socket closed)."""
    frame = encode_message(
        Header(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, REMOTE["connect_open"].number,
               MessageType.CALL, _PROBE_SERIAL, MessageStatus.OK),
        body_type=REMOTE["connect_open"].args, body={"name": "test:///default", "flags": 0})
    try:
        s.sendall(frame)
    except OSError:
        return  # dropped by the daemon: fine
    msgs, eof = _read_all(s, _PROBE_SERIAL)
    _assert_refusals(msgs)
    if not eof:
        (reply,) = [m for m in msgs if m.header.serial == _PROBE_SERIAL]
        assert reply.header.status == MessageStatus.ERROR
        err = remote_error.decode(reply.payload)
        assert (err["code"], err["domain"], err["message"]) == (
            ErrorCode.RPC, ErrorDomain.RPC, "authentication required")


def _others_work(daemon: Daemon) -> None:
    assert daemon.proc.poll() is None, daemon.log_text()[-4000:]
    with virtkit.open(daemon.uri("unix")) as conn:  # auth none on the unix socket
        assert conn.version > 0


def test_every_non_auth_procedure_is_refused(daemon: Daemon) -> None:
    s = _connect(daemon)
    assert s is not None
    frames = b"".join(_call(p.number, i) for i, p in enumerate(_NON_AUTH, 1))
    s.sendall(frames)
    got: list[Message] = []
    reader = FrameReader()
    s.settimeout(20)
    while len(got) < len(_NON_AUTH):
        data = s.recv(1 << 20)
        assert data, f"closed after {len(got)} replies"
        got.extend(reader.feed(data))
    assert sorted(m.header.serial for m in got) == list(range(1, len(_NON_AUTH) + 1))
    for m in got:
        assert m.header.status == MessageStatus.ERROR
        assert remote_error.decode(m.payload)["message"] == "authentication required"
    _probe(s)
    s.close()
    _others_work(daemon)


_u32 = st.integers(0, 2**32 - 1)
_frame_parts = st.one_of(
    # a call to a random non-auth procedure, random payload
    st.builds(lambda p, serial, body: _call(p.number, serial, body),
              st.sampled_from(_NON_AUTH), _u32, st.binary(max_size=512)),
    # an auth procedure with random (usually undecodable) arguments
    st.builds(lambda p, serial, body: _call(p.number, serial, body),
              st.sampled_from(_AUTH), _u32, st.binary(max_size=512)),
    # random header fields: program, version, type, status, procedure
    st.builds(lambda prog, vers, proc, mtype, status, serial, body: _call(
        proc, serial, body, prog, vers, mtype, status),
        st.one_of(st.just(REMOTE_PROGRAM), _u32), st.one_of(st.just(1), _u32),
        st.integers(-(2**31), 2**31 - 1), st.integers(-3, 8), st.integers(-2, 3), _u32,
        st.binary(max_size=64)),
    # a bad length word: too small, oversized, or cut short
    st.builds(lambda n, tail: struct.pack(">I", n) + tail,
              st.one_of(st.integers(0, 27), st.integers(MESSAGE_MAX + 1, 2**32 - 1)),
              st.binary(max_size=32)),
    st.binary(min_size=1, max_size=200),
)


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                  HealthCheck.too_slow])
@given(parts=st.lists(_frame_parts, min_size=1, max_size=6),
       truncate=st.one_of(st.none(), st.integers(1, 400)))
def test_fuzz_preauth(daemon: Daemon, parts: list[bytes], truncate: int | None) -> None:
    s = _connect(daemon)
    assert s is not None, "the daemon stopped accepting"
    data = b"".join(parts)
    if truncate is not None and truncate < len(data):
        data = data[:truncate]  # a frame cut short: the daemon must just wait
    with contextlib.suppress(OSError):
        s.sendall(data)
    if truncate is None:
        _probe(s)
    else:
        s.settimeout(0.3)
        msgs, _ = _read_all(s, -1)  # whatever comes back before the silence
        _assert_refusals(msgs)
    s.close()
    assert daemon.proc.poll() is None, daemon.log_text()[-4000:]


def test_daemon_survived_and_serves(daemon: Daemon) -> None:
    _others_work(daemon)
    log = daemon.log_text()
    assert "Traceback" not in log, log[-4000:]
