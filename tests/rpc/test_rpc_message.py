"""Framing, headers and remote_error against libvirt's tests/virnetmessagetest.c."""

from __future__ import annotations

import tracemalloc

import pytest

from virtkit.errors import NoDomainError, VirtError
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc import message as m
from virtkit.rpc.message import FrameError, FrameReader, Header, MessageStatus, MessageType
from virtkit.rpc.protocol import REMOTE
from virtkit.rpc.xdr import XDRError

# tests/virnetmessagetest.c: testMessageHeaderEncode
HEADER_CALL = bytes.fromhex("0000001c" "11223344" "00000001" "00000666" "00000000" "00000099"
                            "00000000")
# testMessageHeaderDecode
HEADER_REPLY_ERROR = bytes.fromhex("0000001c" "11223344" "00000001" "00000666" "00000001"
                                   "00000099" "00000001")
# testMessagePayloadEncode / testMessagePayloadDecode
ERROR_MESSAGE = bytes.fromhex(
    "00000074" "11223344" "00000001" "00000666" "00000002" "00000099" "00000001"
    "00000001" "00000007" "00000001" "0000000b") + b"Hello World\0" + bytes.fromhex(
    "00000002" "00000000" "00000001" "00000003") + b"One\0" + bytes.fromhex(
    "00000001" "00000003") + b"Two\0" + bytes.fromhex(
    "00000001" "00000005") + b"Three\0\0\0" + bytes.fromhex(
    "00000001" "00000002" "00000000")
# testMessagePayloadStreamEncode
STREAM = bytes.fromhex("00000047" "11223344" "00000001" "00000666" "00000003" "00000099"
                       "00000002") + b"The quick brown fox jumps over the lazy dog"
# notes §3.1, trace: DOMAIN_LOOKUP_BY_NAME "test", serial 6
LOOKUP_CALL = bytes.fromhex("00000024" "20008086" "00000001" "00000017" "00000000" "00000006"
                            "00000000" "00000004" "74657374")

HELLO_ERROR = {"code": 1, "domain": 7, "message": "Hello World", "level": 2, "dom": None,
               "str1": "One", "str2": "Two", "str3": "Three", "int1": 1, "int2": 2, "net": None}


def test_header_encode() -> None:
    h = Header(0x11223344, 1, 0x666, MessageType.CALL, 0x99, MessageStatus.OK)
    assert m.encode_message(h) == HEADER_CALL
    assert h.encode() == HEADER_CALL[4:]


def test_header_decode() -> None:
    msg = m.decode_message(HEADER_REPLY_ERROR)
    assert msg.header == Header(0x11223344, 1, 0x666, MessageType.REPLY, 0x99,
                                MessageStatus.ERROR)
    assert msg.payload == b""


def test_error_payload_encode() -> None:
    h = Header(0x11223344, 1, 0x666, MessageType.MESSAGE, 0x99, MessageStatus.ERROR)
    assert m.encode_message(h, body_type=m.remote_error, body=HELLO_ERROR) == ERROR_MESSAGE


def test_error_payload_decode() -> None:
    msg = m.decode_message(ERROR_MESSAGE)
    assert msg.header.type == MessageType.MESSAGE and msg.header.status == MessageStatus.ERROR
    assert msg.decode_payload(m.remote_error) == HELLO_ERROR


def test_stream_encode() -> None:
    h = Header(0x11223344, 1, 0x666, MessageType.STREAM, 0x99, MessageStatus.CONTINUE)
    assert m.encode_message(h, b"The quick brown fox jumps over the lazy dog") == STREAM
    assert m.decode_message(STREAM).payload == b"The quick brown fox jumps over the lazy dog"


def test_trace_lookup_by_name_call() -> None:
    proc = REMOTE["domain_lookup_by_name"]
    h = Header(m.REMOTE_PROGRAM, 1, proc.number, MessageType.CALL, 6)
    assert m.encode_message(h, body_type=proc.args, body={"name": "test"}) == LOOKUP_CALL
    assert m.decode_message(LOOKUP_CALL).decode_payload(proc.args) == {"name": "test"}


def test_error_conversion_round_trip() -> None:
    err = VirtError("Domain not found", code=ErrorCode.NO_DOMAIN, domain=ErrorDomain.TEST,
                    str1="Domain not found", int1=-1, int2=-1)
    value = m.error_from_virt(err)
    wire = m.remote_error.encode(value)
    back = m.virt_from_error(m.remote_error.decode(wire))
    assert isinstance(back, NoDomainError)
    assert (back.code, back.domain, back.message, back.int1) == (42, 12, "Domain not found", -1)
    assert m.virt_from_error(dict(value, message=None)).message == "unknown error"


def test_with_fds_count() -> None:
    h = Header(m.REMOTE_PROGRAM, 1, 310, MessageType.CALL_WITH_FDS, 1)
    wire = m.encode_message(h, b"\0\0\0\0", num_fds=2)
    assert wire[28:32] == b"\0\0\0\x02"
    msg = m.decode_message(wire)
    assert (msg.num_fds, msg.payload) == (2, b"\0\0\0\0")
    bad = bytearray(wire)
    bad[31] = 33
    with pytest.raises(FrameError, match="33 file descriptors"):
        m.decode_message(bytes(bad))
    with pytest.raises(FrameError, match="lacks"):
        m.decode_message(m.encode_message(Header(1, 1, 1, MessageType.STREAM, 1))[:28]
                         .replace(b"\0\0\0\x03", b"\0\0\0\x04", 1))


def test_encode_refuses_oversized_message() -> None:
    with pytest.raises(FrameError, match="exceeds maximum"):
        m.encode_message(Header(1, 1, 1), b"\0" * m.MESSAGE_MAX)


# --- FrameReader --------------------------------------------------------

def test_reader_byte_by_byte_and_batched() -> None:
    stream = HEADER_CALL + ERROR_MESSAGE + STREAM + LOOKUP_CALL
    r = FrameReader()
    got = []
    for i in range(len(stream)):
        got += r.feed(stream[i:i + 1])
    assert [x.header.proc for x in got] == [0x666, 0x666, 0x666, 23]
    assert r.buffered == 0
    whole = FrameReader().feed(stream)
    assert whole == got
    assert m.decode_message(ERROR_MESSAGE) == got[1]


def test_reader_partial_then_rest() -> None:
    r = FrameReader()
    assert r.feed(ERROR_MESSAGE[:50]) == []
    assert r.wanted() == len(ERROR_MESSAGE) - 50
    assert r.buffered == 50
    out = r.feed(memoryview(ERROR_MESSAGE[50:] + HEADER_CALL[:2]))
    assert len(out) == 1 and r.buffered == 2 and r.wanted() == 2


@pytest.mark.parametrize("length", [0, 4, 27])
def test_reader_refuses_short_length(length: int) -> None:
    with pytest.raises(FrameError, match="too small"):
        FrameReader().feed(length.to_bytes(4, "big") + bytes(40))


def test_reader_refuses_4gib_length_without_allocating() -> None:
    r = FrameReader()
    tracemalloc.start()
    try:
        with pytest.raises(FrameError, match="too large"):
            r.feed(b"\xff\xff\xff\xff" + bytes(24))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert r.buffered == 0
    # the stream is unrecoverable: later feeds fail the same way
    with pytest.raises(FrameError):
        r.feed(HEADER_CALL)


def test_reader_limit_just_above_max() -> None:
    with pytest.raises(FrameError, match="too large"):
        FrameReader().feed((m.MESSAGE_MAX + 1).to_bytes(4, "big"))
    # exactly the maximum is a valid length: the reader waits for the bytes
    r = FrameReader()
    assert r.feed(m.MESSAGE_MAX.to_bytes(4, "big") + bytes(24)) == []
    assert r.wanted() == m.MESSAGE_MAX - 28


def test_frame_error_is_xdr_error() -> None:
    assert issubclass(FrameError, XDRError)


def test_decode_message_length_mismatch() -> None:
    with pytest.raises(FrameError, match="length word says"):
        m.decode_message(HEADER_CALL + b"\0")
    with pytest.raises(FrameError, match="shorter"):
        m.decode_message(b"\0\0")


def test_constants() -> None:
    assert m.HEADER_SIZE == 28
    assert m.MESSAGE_MAX - m.MESSAGE_HEADER_MAX == m.MESSAGE_PAYLOAD_MAX
    assert (m.REMOTE_PROGRAM, m.KEEPALIVE_PROGRAM, m.QEMU_PROGRAM, m.LXC_PROGRAM,
            m.ADMIN_PROGRAM) == (0x20008086, 0x6B656570, 0x20008087, 0x00068000, 0x06900690)
    assert [int(t) for t in MessageType] == list(range(7))
