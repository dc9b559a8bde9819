"""Hypothesis strategies that produce valid Python values for any XDR type."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from virtkit.rpc import xdr

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                max_size=6)
_RANGES = {
    xdr.INT: (-(1 << 31), (1 << 31) - 1),
    xdr.UINT: (0, (1 << 32) - 1),
    xdr.HYPER: (-(1 << 63), (1 << 63) - 1),
    xdr.UHYPER: (0, (1 << 64) - 1),
    xdr.CHAR: (-128, 127),
    xdr.U_CHAR: (0, 255),
    xdr.SHORT: (-32768, 32767),
    xdr.U_SHORT: (0, 65535),
}
_cache: dict[int, st.SearchStrategy[Any]] = {}


def values(t: xdr.XDRType) -> st.SearchStrategy[Any]:
    """A strategy for values of ``t`` (sizes kept small)."""
    key = id(t)
    if key not in _cache:
        _cache[key] = _values(t)
    return _cache[key]


def _values(t: xdr.XDRType) -> st.SearchStrategy[Any]:
    if t in _RANGES:
        lo, hi = _RANGES[t]
        return st.integers(lo, hi)
    if t is xdr.BOOL:
        return st.booleans()
    if t is xdr.VOID:
        return st.none()
    if t is xdr.DOUBLE:
        return st.floats(allow_nan=False)
    if t is xdr.FLOAT:
        return st.floats(width=32, allow_nan=False)
    if isinstance(t, xdr.Opaque):
        return st.binary(min_size=t.size, max_size=t.size)
    if isinstance(t, xdr.CharArray):
        return st.binary(min_size=t.size, max_size=t.size)
    if isinstance(t, xdr.String):
        return _TEXT
    if isinstance(t, xdr.VarOpaque | xdr.VarCharArray):
        return st.binary(max_size=min(t.max, 9))
    if isinstance(t, xdr.VarArray):
        return st.lists(values(t.elem), max_size=min(t.max, 3))
    if isinstance(t, xdr.FixedArray):
        return st.lists(values(t.elem), min_size=t.size, max_size=t.size)
    if isinstance(t, xdr.Optional):
        return st.none() | values(t.elem)
    if isinstance(t, xdr.Struct):
        return st.fixed_dictionaries({name: values(ft) for name, ft in t.fields})
    if isinstance(t, xdr.Union):
        return st.one_of([st.tuples(st.just(d), values(at)) for d, (_, at) in t.arms.items()])
    raise TypeError(f"no strategy for {t!r}")


def all_types(t: xdr.XDRType) -> list[xdr.XDRType]:
    """``t`` and every type nested in it."""
    out = [t]
    for sub in _children(t):
        out.extend(all_types(sub))
    return out


def _children(t: xdr.XDRType) -> list[xdr.XDRType]:
    if isinstance(t, xdr.Struct):
        return [ft for _, ft in t.fields]
    if isinstance(t, xdr.Union):
        return [at for _, at in t.arms.values()]
    if isinstance(t, xdr.VarArray | xdr.FixedArray | xdr.Optional):
        return [t.elem]
    return []
