"""The XDR codec: RFC 4506 encodings, rpcgen quirks, limits, malformed input."""

from __future__ import annotations

import math
import tracemalloc

import pytest

from virtkit.rpc import xdr
from virtkit.rpc.xdr import XDRError

DOM = xdr.Struct("dom", [("name", xdr.String(4194304)), ("uuid", xdr.Opaque(16)),
                         ("id", xdr.INT)])


@pytest.mark.parametrize(("t", "value", "wire"), [
    (xdr.INT, -1, "ffffffff"),
    (xdr.INT, 7, "00000007"),
    (xdr.UINT, 0xFFFFFFFF, "ffffffff"),
    (xdr.HYPER, -2, "fffffffffffffffe"),
    (xdr.UHYPER, 1 << 63, "8000000000000000"),
    (xdr.BOOL, True, "00000001"),
    (xdr.BOOL, False, "00000000"),
    (xdr.DOUBLE, 1.5, "3ff8000000000000"),
    (xdr.FLOAT, 1.5, "3fc00000"),
    # rpcgen widens char, u_char, short and u_short to a 4-byte word
    (xdr.CHAR, -3, "fffffffd"),
    (xdr.U_CHAR, 255, "000000ff"),
    (xdr.SHORT, -2, "fffffffe"),
    (xdr.U_SHORT, 65535, "0000ffff"),
    (xdr.String(10), "abcde", "00000005" "6162636465" "000000"),
    (xdr.String(10), "", "00000000"),
    (xdr.String(10), "abcd", "00000004" "61626364"),
    (xdr.VarOpaque(10), b"\x01\x02", "00000002" "0102" "0000"),
    (xdr.Opaque(3), b"xyz", "78797a" "00"),
    (xdr.Opaque(16), bytes(range(16)), bytes(range(16)).hex()),
    (xdr.Optional(xdr.INT), None, "00000000"),
    (xdr.Optional(xdr.INT), 5, "00000001" "00000005"),
    (xdr.VarArray(xdr.INT, 5), [1, -1], "00000002" "00000001" "ffffffff"),
    (xdr.FixedArray(xdr.UHYPER, 2), [1, 2], "0000000000000001" "0000000000000002"),
    # char arrays: one word per byte, bytes above 127 sign-extended
    (xdr.CharArray(3), b"a\xe9", "00000061" "ffffffe9" "00000000"),
    (xdr.VarCharArray(8), b"ab\0", "00000003" "00000061" "00000062" "00000000"),
    (xdr.VOID, None, ""),
])
def test_encodings(t: xdr.XDRType, value: object, wire: str) -> None:
    assert t.encode(value).hex() == wire
    back = t.decode(bytes.fromhex(wire))
    if isinstance(t, xdr.CharArray):
        assert back == bytes(value).ljust(t.size, b"\0")  # type: ignore[arg-type]
    else:
        assert back == value


def test_struct_uses_field_order_and_dicts() -> None:
    v = {"name": "test", "uuid": bytes(16), "id": -1}
    wire = DOM.encode(v)
    assert wire.hex() == "00000004" "74657374" + "00" * 16 + "ffffffff"
    assert DOM.decode(wire) == v


def test_union() -> None:
    u = xdr.Union("u", xdr.INT, {1: ("i", xdr.INT), 7: ("s", xdr.String(9)), 8: ("v", xdr.VOID)})
    assert u.encode((7, "ab")).hex() == "00000007" "00000002" "61620000"
    assert u.decode(bytes.fromhex("00000001" "fffffffe")) == (1, -2)
    assert u.decode(bytes.fromhex("00000008")) == (8, None)
    with pytest.raises(XDRError, match="discriminant 3 has no arm"):
        u.decode(bytes.fromhex("00000003" "00000000"))
    with pytest.raises(XDRError, match="no arm"):
        u.encode((3, 1))
    d = xdr.Union("d", xdr.INT, {1: ("i", xdr.INT)}, default=("x", xdr.UHYPER))
    assert d.decode(bytes.fromhex("00000009" "0000000000000003")) == (9, 3)


def test_decode_accepts_memoryview_and_bytearray() -> None:
    wire = DOM.encode({"name": "x", "uuid": bytes(16), "id": 3})
    assert DOM.decode(memoryview(wire)) == DOM.decode(bytearray(wire)) == DOM.decode(wire)


def test_decode_from_returns_offset() -> None:
    wire = xdr.INT.encode(1) + xdr.INT.encode(2)
    assert xdr.INT.decode_from(wire, 4) == (2, 8)


def test_non_utf8_bytes_round_trip() -> None:
    wire = bytes.fromhex("00000002" "ffe90000")
    s = xdr.String(9).decode(wire)
    assert xdr.String(9).encode(s) == wire


def test_double_nan_and_inf() -> None:
    assert math.isnan(xdr.DOUBLE.decode(xdr.DOUBLE.encode(math.nan)))
    assert xdr.DOUBLE.decode(xdr.DOUBLE.encode(-math.inf)) == -math.inf


@pytest.mark.parametrize(("t", "wire", "message"), [
    (xdr.INT, "000000", "truncated"),
    (xdr.String(3), "00000004" "61626364", "exceeds maximum 3"),
    (xdr.String(9), "00000005" "6162", "exceeds the 2 bytes left"),
    (xdr.String(9), "00000003" "616263", "truncated padding"),
    (xdr.VarOpaque(2), "00000003" "01020300", "exceeds maximum 2"),
    (xdr.VarArray(xdr.INT, 2), "00000003" + "00000000" * 3, "exceeds maximum 2"),
    (xdr.VarArray(xdr.HYPER, 9), "00000002" + "00" * 12, "exceeds the 12 bytes left"),
    (xdr.INT, "00000001" "00", "trailing"),
])
def test_malformed_input(t: xdr.XDRType, wire: str, message: str) -> None:
    with pytest.raises(XDRError, match=message):
        t.decode(bytes.fromhex(wire))


@pytest.mark.parametrize(("t", "wire", "value"), [
    # decoded as libtirpc decodes (libvirtd's library; test_rpc_wire_oracle.py
    # compares with it): xdr_bool / xdr_pointer take any non-zero word as TRUE
    (xdr.BOOL, "00000002", True),
    (xdr.BOOL, "ffffffff", True),
    (xdr.Optional(xdr.INT), "00000002" "00000005", 5),
    (xdr.Optional(xdr.INT), "01000000" "00000005", 5),
    # xdr_char, xdr_u_char, xdr_short, xdr_u_short cast the word to the C type
    (xdr.U_CHAR, "00000100", 0),
    (xdr.U_CHAR, "123401ff", 255),
    (xdr.CHAR, "000001e9", -23),
    (xdr.SHORT, "0001ffff", -1),
    (xdr.U_SHORT, "00010000", 0),
    (xdr.CharArray(2), "00000001" "00001000", b"\x01\x00"),
    (xdr.VarCharArray(4), "00000001" "ffffff41", b"A"),
    # a C string ends at its first NUL; padding bytes are not checked
    (xdr.String(9), "00000003" "61006300", "a"),
    (xdr.String(9), "00000001" "61ffffff", "a"),
    (xdr.VarOpaque(9), "00000001" "61a5a5a5", b"a"),
])
def test_decodes_as_the_system_xdr_library(t: xdr.XDRType, wire: str, value: object) -> None:
    assert t.decode(bytes.fromhex(wire)) == value


def test_char_from_unsigned_char_platform_wraps() -> None:
    assert xdr.CHAR.decode(bytes.fromhex("000000e9")) == -23
    assert xdr.CharArray(1).decode(bytes.fromhex("000000e9")) == b"\xe9"


@pytest.mark.parametrize(("t", "value", "message"), [
    (xdr.INT, 1 << 31, "cannot encode"),
    (xdr.UINT, -1, "cannot encode"),
    (xdr.UHYPER, 1 << 64, "cannot encode"),
    (xdr.U_CHAR, 256, "out of range"),
    (xdr.CHAR, 128, "out of range"),
    (xdr.U_SHORT, -1, "out of range"),
    (xdr.INT, "1", "cannot encode"),
    (xdr.String(3), "abcd", "exceeds maximum 3"),
    (xdr.String(9), "a\0b", "NUL"),
    (xdr.String(9), b"ab", "cannot encode"),
    (xdr.String(9), "\ud800", "cannot encode"),
    (xdr.VarOpaque(2), b"abc", "exceeds maximum 2"),
    (xdr.VarOpaque(9), "abc", "needs bytes"),
    (xdr.Opaque(16), b"short", "exactly 16"),
    (xdr.CharArray(2), b"abc", "given 3 bytes"),
    (xdr.VarArray(xdr.INT, 1), [1, 2], "exceeds maximum 1"),
    (xdr.FixedArray(xdr.INT, 2), [1], "exactly 2"),
    (DOM, {"name": "x", "uuid": bytes(16)}, "KeyError"),
    (xdr.VOID, 1, "void takes None"),
])
def test_unencodable_values(t: xdr.XDRType, value: object, message: str) -> None:
    with pytest.raises(XDRError, match=message):
        t.encode(value)


def test_huge_counts_refused_before_allocating() -> None:
    lists = xdr.VarArray(DOM, xdr.UNBOUNDED)
    tracemalloc.start()
    try:
        for t in (xdr.String(), xdr.VarOpaque(), lists, xdr.VarCharArray()):
            with pytest.raises(XDRError):
                t.decode(bytes.fromhex("ffffffff" "00000000"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_error_names_the_type() -> None:
    with pytest.raises(XDRError, match=r"^dom: "):
        DOM.decode(b"\0\0\0\x01a")


def test_compile_all_remote_types_eagerly() -> None:
    from virtkit.rpc.protocol import REMOTE

    for p in REMOTE:
        p.args.compile()
        p.ret.compile()
    assert "def _enc(buf, v):" in REMOTE["domain_get_info"].ret.source()
