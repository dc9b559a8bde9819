"""virTypedParameter lists on the wire (``remote_typed_param``).

On the wire a parameter is ``{field: string, value: union switch (int type)}``
with type 1..7 = INT, UINT, LLONG, ULLONG, DOUBLE, BOOLEAN, STRING.  In
virtkit's driver API typed parameters are plain dicts (``virtkit.types.
TypedParams``), so converting a dict to the wire needs each value's type:
given explicitly (:class:`TypedParam`, ``hints``) or inferred (bool ->
BOOLEAN, float -> DOUBLE, str -> STRING, int -> ULLONG, or LLONG when
negative).  Limits follow libvirt: field names shorter than 80 bytes
(``VIR_TYPED_PARAM_FIELD_LENGTH`` includes the NUL), a per-call maximum
count, and strings only when the peer accepts them (``STRING_OKAY``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any, NamedTuple

from virtkit.rpc.xdr import XDRError
from virtkit.types import TypedParams, TypedValue

__all__ = [
    "FIELD_LENGTH",
    "MULTI_FIELDS",
    "STRING_OKAY",
    "ParamType",
    "TypedParam",
    "TypedParamError",
    "decode_params",
    "encode_params",
    "params_to_dict",
]

FIELD_LENGTH = 80
"""``VIR_TYPED_PARAM_FIELD_LENGTH``: a field name's buffer, NUL included."""
STRING_OKAY = 1 << 2
"""``VIR_TYPED_PARAM_STRING_OKAY``: the caller accepts STRING parameters."""


MULTI_FIELDS = frozenset({"migrate_disks", "compression"})
"""Fields a caller may repeat (VIR_MIGRATE_PARAM_MIGRATE_DISKS, _COMPRESSION): in a dict,
several values are a list (one wire parameter each)."""


class ParamType(IntEnum):
    INT = 1
    UINT = 2
    LLONG = 3
    ULLONG = 4
    DOUBLE = 5
    BOOLEAN = 6
    STRING = 7


class TypedParamError(XDRError):
    """A typed-parameter list libvirt would refuse (libvirt reports these as RPC errors)."""


class TypedParam(NamedTuple):
    """One typed parameter with its explicit type."""

    field: str
    type: ParamType
    value: TypedValue


_RANGES = {
    ParamType.INT: (-(1 << 31), (1 << 31) - 1),
    ParamType.UINT: (0, (1 << 32) - 1),
    ParamType.LLONG: (-(1 << 63), (1 << 63) - 1),
    ParamType.ULLONG: (0, (1 << 64) - 1),
}


def _infer(value: object) -> ParamType:
    if isinstance(value, bool):
        return ParamType.BOOLEAN
    if isinstance(value, int):
        return ParamType.LLONG if value < 0 else ParamType.ULLONG
    if isinstance(value, float):
        return ParamType.DOUBLE
    if isinstance(value, str):
        return ParamType.STRING
    raise TypedParamError(f"cannot infer a parameter type for {type(value).__name__}")


def _check_field(name: object) -> str:
    if not isinstance(name, str):
        raise TypedParamError(f"parameter name must be a string, not {type(name).__name__}")
    if len(name.encode("utf-8", "surrogateescape")) >= FIELD_LENGTH:
        raise TypedParamError(f"parameter {name} too big for destination")
    return name


def _wire_value(p: TypedParam) -> tuple[int, Any]:
    t, v = p.type, p.value
    if t in _RANGES:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypedParamError(f"parameter {p.field}: {t.name} needs an int, got {v!r}")
        lo, hi = _RANGES[t]
        if not lo <= v <= hi:
            raise TypedParamError(f"parameter {p.field}: value {v} out of range for {t.name}")
        return int(t), v
    if t == ParamType.DOUBLE:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise TypedParamError(f"parameter {p.field}: DOUBLE needs a number, got {v!r}")
        return int(t), float(v)
    if t == ParamType.BOOLEAN:
        if not isinstance(v, bool | int):
            raise TypedParamError(f"parameter {p.field}: BOOLEAN needs a bool, got {v!r}")
        return int(t), 1 if v else 0
    if t == ParamType.STRING:
        if not isinstance(v, str):
            raise TypedParamError(f"parameter {p.field}: STRING needs a str, got {v!r}")
        return int(t), v
    raise TypedParamError(f"unknown parameter type: {int(t)}")


def encode_params(
    params: Mapping[str, TypedValue | TypedParam] | Iterable[TypedParam],
    *,
    limit: int,
    hints: Mapping[str, ParamType] | None = None,
    string_okay: bool = True,
) -> list[dict[str, Any]]:
    """Build the wire list (``remote_typed_param`` values) for ``params``.

    ``params`` is a dict (types from ``TypedParam`` values, then ``hints``,
    then inference) or an iterable of :class:`TypedParam` (duplicates kept, as
    libvirt allows).  Without ``string_okay`` STRING parameters are dropped,
    as libvirt does for peers that did not ask for them."""
    items: list[TypedParam] = []
    if isinstance(params, Mapping):
        for name, v in params.items():
            if isinstance(v, TypedParam):
                items.append(TypedParam(name, ParamType(v.type), v.value))
                continue
            t = hints.get(name) if hints is not None else None
            for one in v if isinstance(v, list | tuple) else (v,):  # a repeated field
                items.append(TypedParam(name, t if t is not None else _infer(one), one))
    else:
        for p in params:
            if not isinstance(p, TypedParam):
                raise TypedParamError(f"expected TypedParam, got {type(p).__name__}")
            items.append(p)
    out = []
    for p in items:
        if p.type == ParamType.STRING and not string_okay:
            continue
        out.append({"field": _check_field(p.field), "value": _wire_value(p)})
    if len(out) > limit:
        raise TypedParamError(f"too many parameters '{len(out)}' for limit '{limit}'")
    return out


def decode_params(remote: Iterable[Mapping[str, Any]], *, limit: int | None = None
                  ) -> list[TypedParam]:
    """Turn decoded ``remote_typed_param`` values into :class:`TypedParam`s."""
    remote = list(remote)
    if limit is not None and len(remote) > limit:
        raise TypedParamError(f"too many parameters '{len(remote)}' for limit '{limit}'")
    out = []
    for rp in remote:
        name = _check_field(rp["field"])
        t, v = rp["value"]
        try:
            ptype = ParamType(t)
        except ValueError:
            raise TypedParamError(f"unknown parameter type: {t}") from None
        if ptype == ParamType.BOOLEAN:
            v = bool(v)
        out.append(TypedParam(name, ptype, v))
    return out


def params_to_dict(params: Iterable[TypedParam]) -> TypedParams:
    """A dict of the values; for a repeated field the first wins (as
    ``virTypedParamsGet`` finds it), except the fields of :data:`MULTI_FIELDS`, whose
    repeated values become a list (as ``virTypedParamsGetStringList`` reads them)."""
    out: dict[str, Any] = {}
    for p in params:
        if p.field in out and p.field in MULTI_FIELDS:
            prev = out[p.field]
            out[p.field] = [*prev, p.value] if isinstance(prev, list) else [prev, p.value]
        else:
            out.setdefault(p.field, p.value)
    return out
