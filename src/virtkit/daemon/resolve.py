"""The objects a call will really act on, as the driver resolves them (for the guard).

libvirt checks access on the definition its driver found (``vir*EnsureACL(conn,
vm->def)``), never on the name a client wrote.  virtkitd does the same before a
call runs:

- every object handle in the arguments is looked up through the connection's
  driver (by UUID; volumes, interfaces and bindings by their names) and replaced
  by the object's real identity, so the policy sees the real name and UUID.  A
  handle whose name and UUID name different objects is answered "not found", as
  for a missing object: drivers look handles up by UUID (QEMU) or by name (the
  test driver), and both must mean the same object;
- an XML document that defines or creates an object is parsed with the driver's
  own parser (the same function, so the same ``<name>`` and ``<uuid>``), and the
  existing objects with that UUID or that name are checked too: a define that
  reuses an existing object's UUID under another name touches that object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from virtkit.daemon.access import ObjectRef, xml_fallback_identity
from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.protocol import Procedure
from virtkit.rpc.wiretypes import uuid_str
from virtkit.rpc.xdr import Struct

__all__ = ["creation_targets", "resolve_args"]

_XML_FIELDS = ("xml", "xml_desc", "xmlDesc")


def _fields(t: Any) -> tuple[tuple[str, Any], ...]:
    return t.fields if isinstance(t, Struct) else ()


def _handle_type(ftype: Any) -> str | None:
    name = str(getattr(ftype, "name", ""))
    if name.startswith("remote_nonnull_") and name != "remote_nonnull_string":
        return name.removeprefix("remote_nonnull_")
    return None


# ---------------------------------------------------------------- not found


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one object type is named in libvirt's "not found" errors."""

    words: str
    code: int
    table_domain: int  # the error domain of its driver outside the test driver


_KINDS = {
    "domain": _Kind("domain", ErrorCode.NO_DOMAIN, ErrorDomain.QEMU),
    "network": _Kind("network", ErrorCode.NO_NETWORK, ErrorDomain.NETWORK),
    "storage_pool": _Kind("storage pool", ErrorCode.NO_STORAGE_POOL, ErrorDomain.STORAGE),
    "nwfilter": _Kind("nwfilter", ErrorCode.NO_NWFILTER, ErrorDomain.NWFILTER),
    "secret": _Kind("secret", ErrorCode.NO_SECRET, ErrorDomain.SECRET),
}


def _not_found(kind: str, uuid: str, name: str | None, tables: Any,
               cause: VirtError | None = None) -> VirtError:
    """libvirt's error for a handle that names no object: ``no domain with matching uuid
    'U' (NAME)``, in the driver's error domain."""
    k = _KINDS[kind]
    if cause is not None:
        domain = cause.domain
    elif getattr(tables.hypervisor, "name", None) == "Test":
        domain = ErrorDomain.TEST
    else:
        domain = k.table_domain
    tail = f" ({name})" if name is not None else ""
    return make_error(k.code, domain, f"no {k.words} with matching uuid '{uuid}'{tail}")


def _by_uuid(kind: str, lookup: Callable[[str], Any], uuid: str, name: str | None,
             tables: Any) -> Any:
    """The object with ``uuid``; "not found" (naming the handle) when there is none or
    when its real name is not the handle's ``name``."""
    try:
        found = lookup(uuid)
    except VirtError as e:
        if e.code != _KINDS[kind].code:
            raise
        raise _not_found(kind, uuid, name, tables, e) from None
    real = found.usage_id if kind == "secret" else found.name
    if name is not None and real != name:
        raise _not_found(kind, uuid, name, tables)
    return found


# ---------------------------------------------------------------- one handle

Resolver = Callable[[Any, Mapping[str, Any], bool], dict[str, Any]]


def _domain(tables: Any, v: Mapping[str, Any], strict: bool) -> dict[str, Any]:
    uuid = uuid_str(bytes(v["uuid"]))
    d = _by_uuid("domain", tables.hypervisor.domain_lookup_by_uuid, uuid,
                 v["name"] if strict else None, tables)
    return dict(v, name=d.name, id=d.id)


def _named_by_uuid(kind: str, table: str, lookup: str) -> Resolver:
    """A resolver for a handle of name and UUID found by UUID (``table.lookup``)."""
    def resolve(tables: Any, v: Mapping[str, Any], strict: bool) -> dict[str, Any]:
        found = _by_uuid(kind, getattr(getattr(tables, table), lookup),
                         uuid_str(bytes(v["uuid"])), v["name"] if strict else None, tables)
        return dict(v, name=found.name)
    return resolve


_network = _named_by_uuid("network", "network", "network_lookup_by_uuid")
_pool = _named_by_uuid("storage_pool", "storage", "storage_pool_lookup_by_uuid")
_nwfilter = _named_by_uuid("nwfilter", "nwfilter", "nwfilter_lookup_by_uuid")


def _secret(tables: Any, v: Mapping[str, Any], strict: bool) -> dict[str, Any]:
    uuid = uuid_str(bytes(v["uuid"]))
    s = _by_uuid("secret", tables.secret.secret_lookup_by_uuid, uuid,
                 v["usageID"] if strict else None, tables)
    return dict(v, usageType=s.usage_type, usageID=s.usage_id)


def _volume(tables: Any, v: Mapping[str, Any], strict: bool) -> dict[str, Any]:
    """Volumes are found by pool name and volume name (libvirt ignores the key): the
    policy sees the real key."""
    storage = tables.storage
    pool = storage.storage_pool_lookup_by_name(v["pool"])
    vol = storage.storage_vol_lookup_by_name(pool, v["name"])
    return dict(v, pool=vol.pool, name=vol.name, key=vol.key)


def _interface(tables: Any, v: Mapping[str, Any], strict: bool) -> dict[str, Any]:
    iface = tables.interface.interface_lookup_by_name(v["name"])
    return dict(v, name=iface.name, mac=iface.mac)


def _binding(tables: Any, v: Mapping[str, Any], strict: bool) -> dict[str, Any]:
    b = tables.nwfilter.nwfilter_binding_lookup_by_port_dev(v["portdev"])
    return dict(v, portdev=b.portdev, filtername=b.filtername)


def _with_domain(tables: Any, v: Mapping[str, Any], strict: bool) -> dict[str, Any]:
    """Snapshots and checkpoints: their domain."""
    return dict(v, dom=_domain(tables, v["dom"], strict))


def _port(tables: Any, v: Mapping[str, Any], strict: bool) -> dict[str, Any]:
    return dict(v, net=_network(tables, v["net"], strict))


_RESOLVERS: dict[str, Resolver] = {
    "domain": _domain,
    "network": _network,
    "storage_pool": _pool,
    "storage_vol": _volume,
    "nwfilter": _nwfilter,
    "secret": _secret,
    "interface": _interface,
    "nwfilter_binding": _binding,
    "domain_snapshot": _with_domain,
    "domain_checkpoint": _with_domain,
    "network_port": _port,
}


def resolve_args(proc: Procedure, args: Any, tables: Any, strict: bool = True) -> Any:
    """``args`` with every object handle replaced by the real identity of the object the
    driver finds for it.  ``strict``: a missing object or a handle whose name and UUID
    disagree raises the driver's "not found" error; otherwise what cannot be resolved is
    left as the client wrote it (for the audit log)."""
    if not isinstance(args, Mapping):
        return args
    out: dict[str, Any] | None = None
    for fname, ftype in _fields(proc.args):
        htype = _handle_type(ftype)
        resolver = _RESOLVERS.get(htype or "")
        value = args.get(fname)
        if resolver is None or not isinstance(value, Mapping):
            continue
        try:
            real = resolver(tables, value, strict)
        except VirtError:
            if strict:
                raise
            continue
        if out is None:
            out = dict(args)
        out[fname] = real
    return args if out is None else out


# ---------------------------------------------------------------- new objects from XML


def _parsers() -> dict[str, Callable[[str], Any]]:
    """The conf parser the drivers use, per ACL object type (imported on first use)."""
    from virtkit.conf.domain import DomainDef
    from virtkit.conf.interface import parse_interface
    from virtkit.conf.network import NetworkDef
    from virtkit.conf.nwfilter import NWFilterDef
    from virtkit.conf.storage_pool import StoragePoolDef
    from virtkit.conf.storage_vol import StorageVolDef

    return {"domain": DomainDef.from_xml, "network": NetworkDef.from_xml,
            "storage_pool": StoragePoolDef.from_xml, "storage_vol": StorageVolDef.from_xml,
            "nwfilter": NWFilterDef.from_xml, "interface": parse_interface}


_PARSERS: dict[str, Callable[[str], Any]] = {}


def _identity(obj_type: str, text: str) -> tuple[str | None, str | None]:
    """``(name, uuid)`` of a document as the driver's parser reads them (its errors
    propagate, as libvirt parses before it checks access).  A UUID the parser made up
    (none in the document) is None: it differs from one parse to the next."""
    if not _PARSERS:
        _PARSERS.update(_parsers())
    parse = _PARSERS.get(obj_type)
    if parse is None:
        return xml_fallback_identity(text)
    first = parse(text)
    name = getattr(first, "name", None)
    uuid = getattr(first, "uuid", None)
    if uuid is not None and getattr(parse(text), "uuid", None) != uuid:
        uuid = None
    return (str(name) if name is not None else None), (str(uuid) if uuid else None)


def _xml_text(proc: Procedure, args: Mapping[str, Any]) -> str | None:
    names = dict(_fields(proc.args))
    for key in _XML_FIELDS:
        if key in names and isinstance(args.get(key), str):
            return str(args[key])
    return None


def _existing(obj_type: str, tables: Any, name: str | None,
              uuid: str | None) -> list[ObjectRef]:
    """The existing objects a definition named ``name`` with ``uuid`` would touch."""
    lookups = {
        "domain": (tables.hypervisor, "domain_lookup_by_name", "domain_lookup_by_uuid"),
        "network": (tables.network, "network_lookup_by_name", "network_lookup_by_uuid"),
        "storage_pool": (tables.storage, "storage_pool_lookup_by_name",
                         "storage_pool_lookup_by_uuid"),
        "nwfilter": (tables.nwfilter, "nwfilter_lookup_by_name", "nwfilter_lookup_by_uuid"),
    }.get(obj_type)
    if lookups is None:
        return []
    table, by_name, by_uuid = lookups
    out = []
    for method, key in ((by_name, name), (by_uuid, uuid)):
        if key is None:
            continue
        try:
            found = getattr(table, method)(key)
        except VirtError:
            continue
        out.append(ObjectRef(obj_type, found.name, found.uuid))
    return out


# The calls that define or create an object of their ACL type from an XML document.
_CREATION = frozenset({
    "domain_create_xml", "domain_create_xml_with_files", "domain_define_xml",
    "domain_define_xml_flags", "network_create_xml", "network_create_xml_flags",
    "network_define_xml", "network_define_xml_flags", "storage_pool_create_xml",
    "storage_pool_define_xml", "storage_vol_create_xml", "storage_vol_create_xml_from",
    "interface_define_xml", "secret_define_xml", "nwfilter_define_xml",
    "nwfilter_define_xml_flags", "nwfilter_binding_create_xml", "node_device_create_xml",
    "node_device_define_xml"})


def creation_targets(proc: Procedure, obj_type: str, args: Any,
                     tables: Any) -> list[ObjectRef] | None:
    """For a call that defines or creates an object from XML (``args`` resolved): the new
    object as parsed and every existing object it would touch; None for other calls."""
    if proc.name not in _CREATION or not isinstance(args, Mapping):
        return None
    text = _xml_text(proc, args)
    if text is None:
        return None
    name, uuid = _identity(obj_type, text)
    if obj_type == "storage_vol":
        pool = next((v for f, t in _fields(proc.args)
                     if _handle_type(t) == "storage_pool"
                     for v in [args.get(f)] if isinstance(v, Mapping)), None)
        if pool is None or name is None:
            return [ObjectRef(obj_type)]
        return [ObjectRef(obj_type, f"{pool['name']}/{name}")]
    return [ObjectRef(obj_type, name, uuid), *_existing(obj_type, tables, name, uuid)]
