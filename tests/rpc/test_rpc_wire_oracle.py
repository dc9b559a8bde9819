"""virtkit's XDR codec against libvirt's own definition of the wire, compiled.

libvirt 9.0's ``.x`` files (Debian's source package, see ``scripts/sysdeps.py``)
go through ``rpcgen`` and gcc into a program that decodes with the system XDR
library, as libvirtd does (``_wire_oracle.py``).  For every procedure of the
``remote`` and ``admin`` programs, and the ``virnet`` messages, generated
values are encoded by virtkit; the C side must decode exactly those bytes,
dump the same value field by field (names from the ``.x`` file), and
re-encode the same bytes, which virtkit decodes back to the value.  The same
bytes with edge encodings (non-zero booleans and optional flags, padding
bytes, high bits above a ``char``/``short``, NUL inside strings) must be
accepted or refused as the C library does, with the same result.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import pytest
from _rpc_strategies import all_types, values
from _wire_oracle import KEEPALIVE_X, Oracle, build, normalise, parse_x
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from virtkit.rpc import message as m
from virtkit.rpc import remote_procs as rp
from virtkit.rpc import xdr
from virtkit.rpc.admin_procs import ADMIN
from virtkit.rpc.protocol import KEEPALIVE, REMOTE, Procedure, Program
from virtkit.testing.repo import libvirt_source_file

pytestmark = pytest.mark.system

_SETTINGS = settings(max_examples=6, deadline=None, database=None, derandomize=True,
                     report_multiple_bugs=False,
                     suppress_health_check=list(HealthCheck))

PROGRAMS: dict[str, tuple[Program, str]] = {"remote": (REMOTE, "remote"),
                                            "admin": (ADMIN, "admin")}


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    o = build(tmp_path_factory.mktemp("wire-oracle"))
    yield o
    o.close()


# --- edge encodings -------------------------------------------------------

Site = tuple[str, int]  # (kind, byte offset)


def _sites(t: xdr.XDRType, v: Any, pos: int, out: list[Site]) -> int:
    """Append the places where an edge encoding can go; return the end offset."""
    if isinstance(t, xdr.Struct):
        for name, ft in t.fields:
            pos = _sites(ft, v[name], pos, out)
        return pos
    if isinstance(t, xdr.Union):
        d, x = v
        return _sites(t.arms[d][1], x, pos + 4, out)
    if isinstance(t, xdr.Optional):
        out.append(("flag", pos))
        return pos + 4 if v is None else _sites(t.elem, v, pos + 4, out)
    if isinstance(t, xdr.VarArray | xdr.FixedArray):
        pos += 4 if isinstance(t, xdr.VarArray) else 0
        for x in v:
            pos = _sites(t.elem, x, pos, out)
        return pos
    if isinstance(t, xdr.String | xdr.VarOpaque | xdr.Opaque):
        data = v.encode("utf-8", "surrogateescape") if isinstance(v, str) else bytes(v)
        start = pos if isinstance(t, xdr.Opaque) else pos + 4
        if isinstance(t, xdr.String):
            out.extend(("nul", start + i) for i in range(len(data)))
        end = start + len(data)
        out.extend(("pad", end + i) for i in range(-len(data) & 3))
        return end + (-len(data) & 3)
    if isinstance(t, xdr.CharArray | xdr.VarCharArray):
        start = pos + (4 if isinstance(t, xdr.VarCharArray) else 0)
        n = t.size if isinstance(t, xdr.CharArray) else len(v)
        out.extend(("narrow", start + 4 * i) for i in range(n))
        return start + 4 * n
    if t is xdr.BOOL:
        out.append(("flag", pos))
    elif t in (xdr.CHAR, xdr.U_CHAR, xdr.SHORT, xdr.U_SHORT):
        out.append(("narrow", pos))
    return pos + len(t.encode(v))


def _mutate(wire: bytes, sites: list[Site], picks: list[tuple[int, int]]) -> bytes:
    out = bytearray(wire)
    for site, word in picks:
        kind, off = sites[site % len(sites)]
        if kind == "flag":
            out[off:off + 4] = struct.pack(">I", (2, 0x01000000, 0xFFFFFFFF)[word % 3])
        elif kind == "narrow":
            (w,) = struct.unpack_from(">I", out, off)
            out[off:off + 4] = struct.pack(">I", w ^ (0x00010000, 0x12340000, 0xFF000000)[word % 3])
        elif kind == "pad":
            out[off] = 0xA5
        else:
            out[off] = 0
    return bytes(out)


# --- the comparison ---------------------------------------------------------

def check_value(oracle: Oracle, ctype: str, t: xdr.XDRType, value: Any) -> None:
    """virtkit encodes ``value``: C decodes all of it to the same fields and
    re-encodes the same bytes, which virtkit decodes back to ``value``."""
    wire = t.encode(value)
    ans = oracle.ask(ctype, wire)
    assert ans.ok, f"C cannot decode virtkit's {ctype}: {wire.hex()}"
    assert ans.consumed == len(wire), f"C read {ans.consumed} of {len(wire)} bytes"
    assert ans.dump == normalise(t, value)
    assert ans.encoded == wire
    assert t.decode(ans.encoded) == value


def check_edges(oracle: Oracle, ctype: str, t: xdr.XDRType, value: Any,
                picks: list[tuple[int, int]]) -> None:
    """The same bytes with edge encodings: virtkit accepts what C accepts, reads
    the same value and writes C's canonical bytes."""
    sites: list[Site] = []
    wire = t.encode(value)
    assert _sites(t, value, 0, sites) == len(wire)
    if not sites or not picks:
        return
    odd = _mutate(wire, sites, picks)
    ans = oracle.ask(ctype, odd)
    try:
        # a flag turned non-zero can leave bytes unread: the XDR filter does not
        # mind (nor does libvirt's virNetMessageDecodePayload)
        got, end = t.decode_from(odd)
    except xdr.XDRError as e:
        assert not ans.ok, f"C decodes {ctype} {odd.hex()}, virtkit refuses it: {e}"
        return
    assert ans.ok, f"virtkit decodes {ctype} {odd.hex()}, C refuses it"
    assert ans.consumed == end
    assert normalise(t, got) == ans.dump
    assert t.encode(got) == ans.encoded


_PICKS = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 2)), max_size=3)


def _run(oracle: Oracle, pairs: list[tuple[str, xdr.XDRType]],
         config: settings = _SETTINGS) -> None:
    """Generated values of each (C type, virtkit type) pair: as they are, and
    with edge encodings."""
    @config
    @given(st.tuples(*(values(t) for _, t in pairs)), _PICKS)
    def run(vals: tuple[Any, ...], picks: list[tuple[int, int]]) -> None:
        for (ctype, t), v in zip(pairs, vals, strict=True):
            check_value(oracle, ctype, t, v)
            check_edges(oracle, ctype, t, v, picks)

    run()


# --- every procedure --------------------------------------------------------

def _procedures() -> Iterator[Any]:
    for prog, (table, _) in PROGRAMS.items():
        for p in table:
            yield pytest.param(prog, p, id=f"{prog}-{p.number}-{p.name}")


def _pairs(oracle: Oracle, prog: str, p: Procedure) -> list[tuple[str, xdr.XDRType]]:
    cargs, cret = oracle.procedure_types(prog, PROGRAMS[prog][1])[p.number]
    assert (cargs is None) == (p.args is xdr.VOID), (p.name, cargs, p.args)
    assert (cret is None) == (p.ret is xdr.VOID), (p.name, cret, p.ret)
    return [(c, t) for c, t in ((cargs, p.args), (cret, p.ret)) if c is not None]


@pytest.mark.parametrize(("prog", "proc"), list(_procedures()))
def test_procedure_layout_matches_libvirt(oracle: Oracle, prog: str, proc: Procedure) -> None:
    pairs = _pairs(oracle, prog, proc)
    if pairs:
        _run(oracle, pairs)


@pytest.mark.parametrize("prog", list(PROGRAMS))
def test_procedure_tables_match_x_files(oracle: Oracle, prog: str) -> None:
    """Same numbers as the .x file; each procedure has args/ret exactly where it does."""
    table, prefix = PROGRAMS[prog]
    ctypes = oracle.procedure_types(prog, prefix)
    assert sorted(ctypes) == sorted(p.number for p in table)
    assert {n: name.lower() for n, name in oracle.xfiles[prog].procedures.items()} == {
        p.number: p.name for p in table}
    for p in table:
        _pairs(oracle, prog, p)


def test_keepalive_matches_x_file() -> None:
    procs = parse_x(libvirt_source_file(KEEPALIVE_X).read_text()).procedures
    assert procs == {p.number: p.name.upper() for p in KEEPALIVE}
    assert all(p.args is xdr.VOID and p.ret is xdr.VOID for p in KEEPALIVE)


def test_virnet_messages_match_libvirt(oracle: Oracle) -> None:
    """The error reply body and the sparse-stream hole."""
    _run(oracle, [("virNetMessageError", m.remote_error), ("virNetStreamHole", m.stream_hole)])


@_SETTINGS
@given(st.integers(0, (1 << 32) - 1), st.integers(0, (1 << 32) - 1),
       st.integers(-(1 << 31), (1 << 31) - 1), st.integers(0, 6),
       st.integers(0, (1 << 32) - 1), st.integers(0, 2))
def test_message_header_matches_libvirt(oracle: Oracle, prog: int, vers: int, proc: int,
                                        mtype: int, serial: int, status: int) -> None:
    wire = m.Header(prog, vers, proc, mtype, serial, status).encode()
    ans = oracle.ask("virNetMessageHeader", wire)
    assert ans.ok and ans.encoded == wire
    assert ans.dump == {"prog": prog, "vers": vers, "proc": proc, "type": mtype,
                        "serial": serial, "status": status}


_W = "00000000" * 2  # a zero unsigned hyper


@pytest.mark.parametrize(("ctype", "t", "wire"), [
    # xdr_pointer reads its flag with xdr_bool: any non-zero word (issue 21's
    # client sends 0x01000000)
    ("remote_string", rp.remote_string, "01000000" "00000001" "61000000"),
    ("remote_string", rp.remote_string, "ffffffff" "00000000"),
    # a C string ends at its first NUL; padding is not checked
    ("remote_nonnull_string", rp.remote_nonnull_string, "00000003" "61006200"),
    ("remote_nonnull_string", rp.remote_nonnull_string, "00000001" "61a5a5a5"),
    ("remote_uuid", rp.remote_uuid, "ff" * 16),
    # u_char state and u_short nrVirtCpu keep the low bits of their words
    ("remote_domain_get_info_ret", rp.remote_domain_get_info_ret,
     "12340101" + _W + _W + "00010002" + _W),
    # char model[32]: one word per char, the low byte kept
    ("remote_node_get_info_ret", rp.remote_node_get_info_ret,
     "00000141" + "ffffff80" + "00000000" * 30 + _W + "00000001" * 6),
    ("remote_domain_get_security_label_ret", rp.remote_domain_get_security_label_ret,
     "00000002" "12345678" "00000000" "00000001"),
])
def test_edge_encodings_read_as_libvirt_reads_them(oracle: Oracle, ctype: str,
                                                   t: xdr.XDRType, wire: str) -> None:
    data = bytes.fromhex(wire)
    ans = oracle.ask(ctype, data)
    got = t.decode(data)
    assert ans.ok and ans.consumed == len(data)
    assert normalise(t, got) == ans.dump and t.encode(got) == ans.encoded


@pytest.mark.parametrize(("ctype", "t", "wire"), [
    ("remote_typed_param_value", rp.remote_typed_param_value, "00000008" "00000000"),
    ("remote_auth_list_ret", rp.remote_auth_list_ret, "00000015" + "00000000" * 21),
    ("remote_nonnull_string", rp.remote_nonnull_string, "00000005" "61626364"),
    ("remote_nonnull_string", rp.remote_nonnull_string, "00000003" "616263"),
    ("remote_domain_get_info_ret", rp.remote_domain_get_info_ret, "00000001" + _W),
])
def test_both_refuse_malformed_input(oracle: Oracle, ctype: str, t: xdr.XDRType,
                                     wire: str) -> None:
    """Unknown union arm, count above the maximum, truncated data."""
    data = bytes.fromhex(wire)
    assert not oracle.ask(ctype, data).ok
    with pytest.raises(xdr.XDRError):
        t.decode(data)


def test_every_procedure_is_covered(oracle: Oracle) -> None:
    """The count the issue asks for: every procedure's args and ret compared."""
    covered = {prog: sum(1 for p in table if p.number in oracle.procedure_types(prog, prefix))
               for prog, (table, prefix) in PROGRAMS.items()}
    assert covered == {"remote": 443, "admin": 19}


# --- maxima -------------------------------------------------------------------

_VAR = (xdr.String, xdr.VarOpaque, xdr.VarCharArray, xdr.VarArray)


def _minimal(t: xdr.XDRType) -> Any:
    """The smallest value of ``t``."""
    if isinstance(t, xdr.Struct):
        return {f: _minimal(ft) for f, ft in t.fields}
    if isinstance(t, xdr.Union):
        d, (_, arm) = next(iter(t.arms.items()))
        return (d, _minimal(arm))
    if isinstance(t, xdr.FixedArray):
        return [_minimal(t.elem)] * t.size
    if isinstance(t, xdr.Opaque | xdr.CharArray):
        return bytes(t.size)
    if isinstance(t, xdr.VarOpaque | xdr.VarCharArray):
        return b""
    if isinstance(t, xdr.String):
        return ""
    if isinstance(t, xdr.Optional):
        return None
    if isinstance(t, xdr.VarArray):
        return []
    return {xdr.VOID: None, xdr.BOOL: False, xdr.DOUBLE: 0.0, xdr.FLOAT: 0.0}.get(t, 0)


def _items(t: xdr.XDRType, n: int) -> bytes:
    """The encoding of ``t`` holding ``n`` items (the maximum need not allow it)."""
    if isinstance(t, xdr.VarArray):
        body = t.elem.encode(_minimal(t.elem)) * n
    elif isinstance(t, xdr.VarCharArray):
        body = b"\0\0\0\x41" * n
    else:
        body = b"a" * n + bytes(-n & 3)
    return struct.pack(">I", n) + body


def _max_sites() -> Iterator[Any]:
    """Every bounded variable-length field of every procedure's types: a named
    typedef once on its own, other fields in their struct."""
    types = [t for table, _ in PROGRAMS.values() for p in table for t in (p.args, p.ret)]
    seen: set[tuple[str, int, str]] = set()
    for t in {id(x): x for top in [*types, m.remote_error]
              for x in all_types(top)}.values():
        if not isinstance(t, xdr.Struct):
            continue
        for f, ft in t.fields:
            inner = ft.elem if isinstance(ft, xdr.Optional) else ft
            if not isinstance(inner, _VAR) or inner.max >= xdr.UNBOUNDED:
                continue
            site: tuple[str, xdr.XDRType, str | None] = (t.name, t, f)
            key = (t.name, 0, f)
            if inner.name.isidentifier():
                site, key = (inner.name, inner, None), (inner.name, inner.max, "")
            if key not in seen:
                seen.add(key)
                yield pytest.param(*site, id=f"{site[0]}.{site[2] or ''}")


def _with_items(t: xdr.XDRType, field: str | None, n: int) -> bytes:
    if field is None:
        return _items(t, n)
    assert isinstance(t, xdr.Struct)
    out = bytearray()
    for f, ft in t.fields:
        if f != field:
            out += ft.encode(_minimal(ft))
        elif isinstance(ft, xdr.Optional):
            out += struct.pack(">I", 1) + _items(ft.elem, n)
        else:
            out += _items(ft, n)
    return bytes(out)


def check_maximum(oracle: Oracle, ctype: str, t: xdr.XDRType, field: str | None) -> None:
    """C and virtkit both read the declared maximum of items, and both refuse one more."""
    ft = t
    if field is not None:
        assert isinstance(t, xdr.Struct)
        ft = dict(t.fields)[field]
    inner = ft.elem if isinstance(ft, xdr.Optional) else ft
    assert isinstance(inner, _VAR)
    at_max, over = _with_items(t, field, inner.max), _with_items(t, field, inner.max + 1)
    ans = oracle.ask(ctype, at_max, full=False)
    assert ans.ok and ans.consumed == len(at_max), f"C refuses {inner.max} items"
    t.decode(at_max)
    assert not oracle.ask(ctype, over, full=False).ok, f"C accepts {inner.max + 1} items"
    with pytest.raises(xdr.XDRError, match="exceeds maximum"):
        t.decode(over)


@pytest.mark.parametrize(("ctype", "t", "field"), list(_max_sites()))
def test_maximum_matches_libvirt(oracle: Oracle, ctype: str, t: xdr.XDRType,
                                 field: str | None) -> None:
    check_maximum(oracle, ctype, t, field)


# --- the oracle can fail ----------------------------------------------------

def _swapped(t: xdr.Struct, a: str, b: str) -> xdr.Struct:
    """A copy of ``t`` with fields ``a`` and ``b`` in each other's place."""
    fields = dict(t.fields)
    order = [b if f == a else a if f == b else f for f, _ in t.fields]
    return xdr.Struct(t.name, [(f, fields[f]) for f in order])


def _retyped(t: xdr.Struct, field: str, new: xdr.XDRType) -> xdr.Struct:
    return xdr.Struct(t.name, [(f, new if f == field else ft) for f, ft in t.fields])


def _faults() -> Iterator[Any]:
    info = REMOTE["domain_get_info"].ret
    node = REMOTE["node_get_info"].ret
    lookup = REMOTE["domain_create_xml"].args
    label = REMOTE["domain_get_security_label"].ret
    assert isinstance(info, xdr.Struct) and isinstance(node, xdr.Struct)
    assert isinstance(lookup, xdr.Struct) and isinstance(label, xdr.Struct)
    yield pytest.param("remote_domain_get_info_ret", _swapped(info, "maxMem", "memory"),
                       id="same-type-swap")
    yield pytest.param("remote_node_get_info_ret", _swapped(node, "model", "memory"),
                       id="swap")
    yield pytest.param("remote_domain_get_info_ret", _retyped(info, "nrVirtCpu", xdr.UHYPER),
                       id="wider-field")
    yield pytest.param("remote_domain_create_xml_args",
                       _retyped(lookup, "flags", xdr.Optional(xdr.UINT)), id="optional")
    yield pytest.param("remote_domain_get_security_label_ret",
                       _retyped(label, "label", xdr.VarOpaque(4097)), id="packed-char-array")


@pytest.mark.parametrize(("ctype", "wrong"), list(_faults()))
def test_oracle_catches_a_wrong_layout(oracle: Oracle, ctype: str, wrong: xdr.Struct) -> None:
    """A deliberately wrong copy of one struct fails the comparison."""
    with pytest.raises(AssertionError):
        _run(oracle, [(ctype, wrong)], config=settings(_SETTINGS, max_examples=20,
                                                       phases=[Phase.generate]))


@pytest.mark.parametrize("delta", [-1, 1])
def test_oracle_catches_a_wrong_maximum(oracle: Oracle, delta: int) -> None:
    auth = rp.remote_auth_list_ret
    assert isinstance(auth, xdr.Struct)
    wrong = _retyped(auth, "types", xdr.VarArray(rp.remote_auth_type,
                                                 rp.REMOTE_AUTH_TYPE_LIST_MAX + delta))
    with pytest.raises(AssertionError):
        check_maximum(oracle, "remote_auth_list_ret", wrong, "types")
