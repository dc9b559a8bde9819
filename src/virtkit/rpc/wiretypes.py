"""Conversions between decoded XDR values and virtkit's Python values.

The XDR layer yields dicts, bytes and lists; drivers speak identities
(``DomainIdent`` ...), canonical UUID strings, records (``VcpuInfo`` ...)
and typed-parameter dicts. :func:`converters` returns, for one XDR type,
the pair of functions between the two (``None`` where the value passes
through unchanged, which is the common case and costs nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from virtkit.rpc import remote_procs as rp
from virtkit.rpc.stats_types import DOMAIN_STATS_TYPES
from virtkit.rpc.typedparams import decode_params, encode_params, params_to_dict
from virtkit.rpc.xdr import CharArray, Optional, VarArray, VarCharArray, XDRType
from virtkit.types import (
    DomainIdent,
    DomainInterface,
    DomainInterfaceAddr,
    DomainStatsRecord,
    InterfaceIdent,
    NetworkDHCPLease,
    NetworkIdent,
    NetworkPortIdent,
    NodeDeviceIdent,
    NWFilterBindingIdent,
    NWFilterIdent,
    SecretIdent,
    SnapshotIdent,
    StoragePoolIdent,
    StorageVolIdent,
    VcpuInfo,
)

__all__ = [
    "Conv",
    "bits_to_bools",
    "bools_to_bits",
    "converters",
    "params_from_wire",
    "params_to_wire",
    "record_pair",
    "uuid_bytes",
    "uuid_str",
]

Conv = Callable[[Any], Any]

# Typed parameter lists have per-call maxima in remote_protocol.x; 64 KiB
# covers the largest (domain stats records carry their own bound).
_PARAMS_LIMIT = 262144


@lru_cache(maxsize=65536)  # the same few thousand UUIDs cross the wire again and again
def uuid_str(raw: bytes) -> str:
    """16 raw bytes -> the canonical ``8-4-4-4-12`` string."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@lru_cache(maxsize=65536)
def uuid_bytes(text: str) -> bytes:
    """A UUID string (with or without dashes) -> 16 raw bytes."""
    raw = bytes.fromhex(text.replace("-", ""))
    if len(raw) != 16:
        raise ValueError(f"not a UUID: {text!r}")
    return raw


def bools_to_bits(flags: list[bool], length: int | None = None) -> bytes:
    """libvirt's cpumap: bit ``i`` of byte ``i // 8`` set when ``flags[i]``."""
    out = bytearray(length if length is not None else (len(flags) + 7) // 8)
    for i, on in enumerate(flags):
        if on and i // 8 < len(out):
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def bits_to_bools(raw: bytes, count: int) -> list[bool]:
    """The inverse of :func:`bools_to_bits` for ``count`` CPUs."""
    return [bool(raw[i // 8] >> (i % 8) & 1) if i // 8 < len(raw) else False
            for i in range(count)]


def params_from_wire(value: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``remote_typed_param<>`` list -> a plain dict (first occurrence wins)."""
    return params_to_dict(decode_params(value))


def params_to_wire(value: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A dict of parameters -> the wire list, types inferred (see typedparams)."""
    return encode_params(value or {}, limit=_PARAMS_LIMIT)


# --------------------------------------------------------------- identities

def _dom_py(d: dict[str, Any]) -> DomainIdent:
    return DomainIdent(d["name"], uuid_str(d["uuid"]), d["id"])


def _dom_wire(i: DomainIdent) -> dict[str, Any]:
    return {"name": i.name, "uuid": uuid_bytes(i.uuid), "id": i.id}


def _named_uuid(cls: Callable[[str, str], Any]) -> tuple[Conv, Conv]:
    def to_py(d: dict[str, Any]) -> Any:
        return cls(d["name"], uuid_str(d["uuid"]))

    def to_wire(i: Any) -> dict[str, Any]:
        return {"name": i.name, "uuid": uuid_bytes(i.uuid)}

    return to_py, to_wire


def _net_py(d: dict[str, Any]) -> NetworkIdent:
    return NetworkIdent(d["name"], uuid_str(d["uuid"]))


def _net_wire(i: NetworkIdent) -> dict[str, Any]:
    return {"name": i.name, "uuid": uuid_bytes(i.uuid)}


_IDENTS: dict[str, tuple[Conv, Conv]] = {
    "remote_nonnull_domain": (_dom_py, _dom_wire),
    "remote_nonnull_network": (_net_py, _net_wire),
    "remote_nonnull_storage_pool": _named_uuid(StoragePoolIdent),
    "remote_nonnull_nwfilter": _named_uuid(NWFilterIdent),
    "remote_nonnull_network_port": (
        lambda d: NetworkPortIdent(_net_py(d["net"]), uuid_str(d["uuid"])),
        lambda i: {"net": _net_wire(i.network), "uuid": uuid_bytes(i.uuid)},
    ),
    "remote_nonnull_nwfilter_binding": (
        lambda d: NWFilterBindingIdent(d["portdev"], d["filtername"]),
        lambda i: {"portdev": i.portdev, "filtername": i.filtername},
    ),
    "remote_nonnull_interface": (
        lambda d: InterfaceIdent(d["name"], d["mac"]),
        lambda i: {"name": i.name, "mac": i.mac},
    ),
    "remote_nonnull_storage_vol": (
        lambda d: StorageVolIdent(d["pool"], d["name"], d["key"]),
        lambda i: {"pool": i.pool, "name": i.name, "key": i.key},
    ),
    "remote_nonnull_node_device": (
        lambda d: NodeDeviceIdent(d["name"]),
        lambda i: {"name": i.name},
    ),
    "remote_nonnull_secret": (
        lambda d: SecretIdent(uuid_str(d["uuid"]), d["usageType"], d["usageID"]),
        lambda i: {"uuid": uuid_bytes(i.uuid), "usageType": i.usage_type, "usageID": i.usage_id},
    ),
    "remote_nonnull_domain_snapshot": (
        lambda d: SnapshotIdent(_dom_py(d["dom"]), d["name"]),
        lambda i: {"name": i.name, "dom": _dom_wire(i.domain)},
    ),
}


# --------------------------------------------------------------- records

def _iface_py(d: dict[str, Any]) -> DomainInterface:
    addrs = [DomainInterfaceAddr(a["type"], a["addr"], a["prefix"]) for a in d["addrs"]]
    return DomainInterface(d["name"], d["hwaddr"], addrs)


def _iface_wire(i: DomainInterface) -> dict[str, Any]:
    addrs = [{"type": a.type, "addr": a.addr, "prefix": a.prefix} for a in i.addrs or ()]
    return {"name": i.name, "hwaddr": i.hwaddr, "addrs": addrs}


_RECORDS: dict[str, tuple[Conv, Conv]] = {
    "remote_vcpu_info": (
        lambda d: VcpuInfo(d["number"], d["state"], d["cpu_time"], d["cpu"]),
        lambda v: {"number": v.number, "state": v.state, "cpu_time": v.cpu_time, "cpu": v.cpu},
    ),
    "remote_domain_stats_record": (
        lambda d: DomainStatsRecord(_dom_py(d["dom"]), params_from_wire(d["params"])),
        lambda r: {"dom": _dom_wire(r.domain),
                   "params": encode_params(r.params or {}, limit=_PARAMS_LIMIT,
                                           hints=DOMAIN_STATS_TYPES)},
    ),
    "remote_domain_interface": (_iface_py, _iface_wire),
}


def record_pair(cls: Callable[..., Any], fields: tuple[str, ...]) -> tuple[Conv, Conv]:
    """Convert a struct to the record ``cls`` whose fields are the struct's, in order."""
    def to_py(d: dict[str, Any]) -> Any:
        return cls(*d.values())

    def to_wire(r: Any) -> dict[str, Any]:
        return {f: getattr(r, a) for f, a in zip(fields, r._fields, strict=True)}

    return to_py, to_wire


_RECORDS["remote_network_dhcp_lease"] = record_pair(
    NetworkDHCPLease, tuple(f for f, _ in rp.remote_network_dhcp_lease.fields))


def _stats_pair(key: str, value: str) -> tuple[Conv, Conv]:
    """A list of ``{key, value}`` structs <-> a dict (node CPU/memory stats, memory stats)."""
    return (lambda v: {x[key]: x[value] for x in v},
            lambda d: [{key: k, value: v} for k, v in d.items()])


_STAT_LISTS: dict[str, tuple[Conv, Conv]] = {
    "remote_node_get_cpu_stats": _stats_pair("field", "value"),
    "remote_node_get_memory_stats": _stats_pair("field", "value"),
    "remote_domain_memory_stat": _stats_pair("tag", "val"),
}


def _optional(pair: tuple[Conv, Conv]) -> tuple[Conv, Conv]:
    to_py, to_wire = pair
    return (lambda v: None if v is None else to_py(v),
            lambda v: None if v is None else to_wire(v))


def _listed(pair: tuple[Conv, Conv]) -> tuple[Conv, Conv]:
    to_py, to_wire = pair
    return (lambda v: [to_py(x) for x in v], lambda v: [to_wire(x) for x in v or ()])


def _cstr_py(raw: bytes) -> str:
    """A C string in a char array: up to the first NUL."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _cstr_wire(text: str) -> bytes:
    """libvirt sends ``strlen + 1`` bytes: the terminating NUL travels too."""
    return text.encode() + b"\0"


def _fixed_cstr_wire(text: str) -> bytes:
    return text.encode()


_UUID = (uuid_str, uuid_bytes)
_PARAMS = (params_from_wire, params_to_wire)


def converters(t: XDRType) -> tuple[Conv | None, Conv | None]:
    """``(wire -> python, python -> wire)`` for values of XDR type ``t``."""
    if t is rp.remote_uuid:
        return _UUID
    if isinstance(t, VarCharArray):
        return _cstr_py, _cstr_wire
    if isinstance(t, CharArray):
        size = t.size
        return _cstr_py, lambda text: _fixed_cstr_wire(text)[: size - 1]
    name = getattr(t, "name", "")
    pair = _IDENTS.get(name) or _RECORDS.get(name)
    if pair is not None:
        return pair
    if isinstance(t, Optional):
        inner = converters(t.elem)
        if inner == (None, None):
            return None, None
        return _optional(_fill(inner))
    if isinstance(t, VarArray):
        if t.elem is rp.remote_typed_param:
            return _PARAMS
        stats = _STAT_LISTS.get(getattr(t.elem, "name", ""))
        if stats is not None:
            return stats
        inner = converters(t.elem)
        if inner == (None, None):
            return None, None
        return _listed(_fill(inner))
    return None, None


def _same(v: Any) -> Any:
    return v


def _fill(pair: tuple[Conv | None, Conv | None]) -> tuple[Conv, Conv]:
    return pair[0] or _same, pair[1] or _same
