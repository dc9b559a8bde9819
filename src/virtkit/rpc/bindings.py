"""How each ``remote`` procedure maps onto a driver-table method, both ways.

The mapping is derived from two declarations that already exist: the
procedure table (:mod:`virtkit.rpc.remote_procs`: argument and return
structs, field by field) and the driver tables (:mod:`virtkit.drivers.base`:
method names and signatures). The rules:

- a procedure calls the driver method of the same name; ``X_flags`` calls
  ``X`` when only the latter exists (``domain_define_xml_flags`` ->
  ``domain_define_xml``); a few older procedures call the flags variant with
  the flags libvirt's own drivers use (``_ALIASES``);
- argument fields map to the method's parameters in order, converted by
  XDR type (:mod:`virtkit.rpc.wiretypes`); the fields that only steer the
  wire format are handled here: ``need_results``, ``nparams`` (libvirt's
  two-step "ask the count, then fetch" calls), ``maxStats``;
- one return field is the method's value; ``{list, ret}`` is a list;
  several fields are a record (the method's annotated return type) or a
  tuple.

What does not follow the rules is spelled out in ``_SERVER_SPECIAL`` and
``_CLIENT_SPECIAL``. Bindings are built on first use and cached.
"""

from __future__ import annotations

import inspect
import re
import struct
from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from typing import Any

from virtkit.constants import NodeGetCPUStatsAllCPUs
from virtkit.drivers import base
from virtkit.drivers.nodeinfo import KSM_PARAMS
from virtkit.errors import ErrorDomain, VirtError, no_support
from virtkit.rpc import fdcalls
from virtkit.rpc import remote_procs as rp
from virtkit.rpc.message import rpc_error
from virtkit.rpc.protocol import REMOTE, Procedure
from virtkit.rpc.typedparams import ParamType, encode_params
from virtkit.rpc.wiretypes import bits_to_bools, bools_to_bits, converters
from virtkit.rpc.xdr import VOID, Struct, VarArray
from virtkit.types import DomainIdent, NodeDeviceIdent

__all__ = [
    "TABLES",
    "ClientCall",
    "ServerCall",
    "api_name",
    "client_call",
    "method_for_proc",
    "proc_for_method",
    "server_call",
    "table_of",
]

# DriverTables attribute -> the class declaring that table's methods.
TABLES: tuple[tuple[str, type], ...] = (
    ("hypervisor", base.HypervisorDriver),
    ("network", base.NetworkDriver),
    ("storage", base.StorageDriver),
    ("nodedev", base.NodeDeviceDriver),
    ("interface", base.InterfaceDriver),
    ("secret", base.SecretDriver),
    ("nwfilter", base.NWFilterDriver),
)

_AFFECT_LIVE = 1
# Procedures of APIs that libvirt's drivers implement as "the flags variant with
# these flags" (e.g. testDomainSetMemory -> testDomainSetMemoryFlags(LIVE)).
_ALIASES: dict[str, tuple[str, tuple[Any, ...]]] = {
    "domain_create_with_flags": ("domain_create", ()),
    "domain_attach_device": ("domain_attach_device_flags", (_AFFECT_LIVE,)),
    "domain_detach_device": ("domain_detach_device_flags", (_AFFECT_LIVE,)),
    "domain_set_memory": ("domain_set_memory_flags", (_AFFECT_LIVE,)),
    "domain_set_vcpus": ("domain_set_vcpus_flags", (_AFFECT_LIVE,)),
    "domain_pin_vcpu": ("domain_pin_vcpu_flags", (_AFFECT_LIVE,)),
}

# Procedures served through a method of another shape (see _SERVER_SPECIAL).
_SPECIAL_TARGETS = {"domain_snapshot_list_children_names": "domain_snapshot_list_all_children"}

# Typed parameters whose wire type is not the one a Python value infers (an int goes
# as ULLONG): virsh prints numa_mode by name only when it comes as INT, and libvirt's
# drivers refuse a blkio weight that is not a UINT.
_DEVICE_LISTS = ("device_weight", "device_read_iops_sec", "device_write_iops_sec",
                 "device_read_bytes_sec", "device_write_bytes_sec")
_BLKIO_TYPES = {"weight": ParamType.UINT, **dict.fromkeys(_DEVICE_LISTS, ParamType.STRING)}
_NUMA_TYPES = {"numa_mode": ParamType.INT, "numa_nodeset": ParamType.STRING}
_BANDWIDTH_TYPES = {f"{d}.{k}": ParamType.UINT for d in ("inbound", "outbound")
                    for k in ("average", "peak", "burst", "floor")}
_KSM_TYPES = {name: ParamType[t.upper()] for name, (_, t, _) in KSM_PARAMS.items()}
# VIR_MIGRATE_PARAM_*: the types qemuMigrationParamsCheck (virTypedParamsValidate) wants
_MIGRATE_TYPES = {
    **dict.fromkeys(("migrate_uri", "destination_name", "destination_xml", "persistent_xml",
                     "graphics_uri", "listen_address", "migrate_disks", "disks_uri",
                     "compression", "tls.destination"), ParamType.STRING),
    **dict.fromkeys(("bandwidth", "bandwidth.postcopy", "compression.xbzrle.cache"),
                    ParamType.ULLONG),
    **dict.fromkeys(("disks_port", "compression.mt.level", "compression.mt.threads",
                     "compression.mt.dthreads", "compression.zlib.level",
                     "compression.zstd.level", "auto_converge.initial",
                     "auto_converge.increment", "parallel.connections"), ParamType.INT),
}
_PARAM_TYPES: dict[str, dict[str, ParamType]] = {
    "domain_get_blkio_parameters": _BLKIO_TYPES,
    "domain_set_blkio_parameters": _BLKIO_TYPES,
    "domain_get_numa_parameters": _NUMA_TYPES,
    "domain_set_numa_parameters": _NUMA_TYPES,
    "domain_set_iothread_params": {
        "poll_max_ns": ParamType.ULLONG, "poll_grow": ParamType.UINT,
        "poll_shrink": ParamType.UINT, "thread_pool_min": ParamType.INT,
        "thread_pool_max": ParamType.INT},
    "domain_get_interface_parameters": _BANDWIDTH_TYPES,
    "domain_set_interface_parameters": _BANDWIDTH_TYPES,
    "node_get_memory_parameters": _KSM_TYPES,
    "node_set_memory_parameters": _KSM_TYPES,
    # VIR_DOMAIN_JOB_OPERATION and _AUTO_CONVERGE_THROTTLE are INT; the rest ULLONG
    "domain_get_job_stats": {"operation": ParamType.INT,
                             "auto_converge_throttle": ParamType.INT},
    **dict.fromkeys((f"domain_migrate_{p}3_params" for p in (
        "begin", "prepare", "prepare_tunnel", "perform", "finish", "confirm")),
        _MIGRATE_TYPES),
}


def _params_encoder(proc: str, array: Any) -> Callable[[Any], Any] | None:
    """The ``params`` field's encoder for ``proc`` when it has typed-parameter hints."""
    hints = _PARAM_TYPES.get(proc)
    if hints is None:
        return None
    return lambda value: encode_params(value or {}, limit=array.max, hints=hints)


# Argument fields that steer the reply's shape instead of reaching the driver.
_SHAPE_FIELDS = ("need_results", "nparams", "maxStats")
_MEMORY_STAT_NR = 14  # VIR_DOMAIN_MEMORY_STAT_NR in libvirt 9.0

_ACRONYMS = {
    "xml": "XML", "uuid": "UUID", "uri": "URI", "id": "ID", "cpu": "CPU", "os": "OS",
    "nmi": "NMI", "dhcp": "DHCP", "pm": "PM", "nwfilter": "NWFilter", "nwfilters": "NWFilters",
    "fs": "FS", "sev": "SEV", "cpus": "CPUs", "iothread": "IOThread", "scsi": "SCSI",
    "numa": "Numa", "tpm": "TPM", "ssh": "SSH",
}


@cache
def table_of(method: str) -> str | None:
    """The DriverTables attribute whose class declares ``method``."""
    for attr, cls in TABLES:
        if method in cls.__dict__:
            return attr
    return None


@cache
def api_name(name: str) -> str:
    """libvirt's public function for a procedure or method name (``domain_get_info`` ->
    ``virDomainGetInfo``), as error messages name it."""
    return "vir" + "".join(_ACRONYMS.get(w, w.capitalize()) for w in name.split("_"))


# gendispatch.pl's fixup_name: applied to each word of a procedure name.
_DISPATCH_FIXUPS = tuple((re.compile(a), b) for a, b in (
    ("Nwfilter", "NWFilter"), ("Xml$", "XML"), ("Xml2$", "XML2"), ("Uri$", "URI"),
    ("Uuid$", "UUID"), ("Id$", "ID"), ("Mac$", "MAC"), ("Cpu$", "CPU"), ("Os$", "OS"),
    ("Nmi$", "NMI"), ("Pm", "PM"), ("Fstrim$", "FSTrim"), ("Fsfreeze$", "FSFreeze"),
    ("Fsthaw$", "FSThaw"), ("Fsinfo$", "FSInfo"), ("Iothread$", "IOThread"),
    ("Scsi", "SCSI"), ("Wwn$", "WWN"), ("Dhcp$", "DHCP")))


def dispatch_name(proc: str) -> str:
    """libvirtd's dispatcher function for a procedure (``DOMAIN_GET_XML_DESC`` ->
    ``remoteDispatchDomainGetXMLDesc``): the name its worker thread runs under, which
    "cannot acquire state change lock (held by monitor=...)" shows."""
    words = []
    for word in proc.lower().split("_"):
        word = word[:1].upper() + word[1:]
        for pattern, repl in _DISPATCH_FIXUPS:
            word = pattern.sub(repl, word, count=1)
        words.append(word)
    return "remoteDispatch" + "".join(words)


_API_DOMAINS = (("domain_snapshot_", ErrorDomain.DOMAIN_SNAPSHOT),
                ("domain_checkpoint_", ErrorDomain.DOMAIN_CHECKPOINT),
                ("domain_", ErrorDomain.DOMAIN), ("network_", ErrorDomain.NETWORK),
                ("storage_", ErrorDomain.STORAGE), ("node_device_", ErrorDomain.NODEDEV),
                ("interface_", ErrorDomain.INTERFACE), ("secret_", ErrorDomain.SECRET),
                ("nwfilter_", ErrorDomain.NWFILTER))


def api_error_domain(name: str) -> int:
    """The error domain of the libvirt API file a procedure's (or method's) function lives
    in (libvirt-domain.c: VIR_FROM_DOMAIN, ...)."""
    return next((d for p, d in _API_DOMAINS if name.startswith(p)), ErrorDomain.NONE)


def method_for_proc(proc: str) -> tuple[str, tuple[Any, ...]] | None:
    """``(method, trailing arguments)`` a procedure calls, or None when no table has it."""
    if proc in _SPECIAL_TARGETS:
        return _SPECIAL_TARGETS[proc], ()
    alias = _ALIASES.get(proc)
    if alias is not None:
        return alias
    if table_of(proc):
        return proc, ()
    if proc.endswith("_flags") and table_of(proc[:-6]):
        return proc[:-6], ()
    return None


def _params(method: str) -> list[inspect.Parameter]:
    table = table_of(method)
    cls = dict(TABLES)[table] if table else None
    if cls is None:
        return []
    return list(inspect.signature(getattr(cls, method)).parameters.values())[1:]


def proc_for_method(method: str) -> str | None:
    """The procedure a remote client sends for ``method`` (the flags variant when there is one)."""
    if method == "domain_create":
        return "domain_create_with_flags"
    names = [p.name for p in _params(method)]
    if "flags" in names and f"{method}_flags" in REMOTE:
        return f"{method}_flags"
    return method if method in REMOTE else None


def _fields(t: Any) -> tuple[tuple[str, Any], ...]:
    if t is VOID:
        return ()
    assert isinstance(t, Struct), t
    return t.fields


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


@cache
def _record_order(cls: Any, wire: tuple[str, ...]) -> tuple[str, ...]:
    """The record's attribute for each wire field, matched by name (``maxMem`` <->
    ``max_mem``); positional when the names do not all match."""
    attrs = {_norm(a): a for a in cls._fields}
    matched = tuple(attrs.get(_norm(w), "") for w in wire)
    return matched if all(matched) else tuple(cls._fields)


def _values(result: Any, wire: tuple[str, ...]) -> Sequence[Any]:
    """A tuple's values, or a record's in the order of the ``wire`` fields."""
    if isinstance(result, tuple):
        return result
    cls: Any = type(result)
    return tuple(getattr(result, a) for a in _record_order(cls, wire))


# =============================================================== server side

Invoke = Callable[[base.DriverTables, Any], Any]


class ServerCall:
    """A procedure bound to a driver method: ``invoke(tables, args) -> ret`` (wire values)."""

    __slots__ = ("invoke", "method", "proc", "table")

    def __init__(self, proc: Procedure, table: str, method: str, invoke: Invoke) -> None:
        self.proc = proc
        self.table = table
        self.method = method
        self.invoke = invoke


def _ret_to_wire(proc: Procedure) -> Callable[[Any, Any], Any]:
    """Build ``(driver result, call args) -> ret value`` for ``proc``."""
    fields = _fields(proc.ret)
    if not fields:
        return lambda result, args: None
    names = [f for f, _ in fields]
    if len(fields) == 2 and names[1] == "ret" and isinstance(fields[0][1], VarArray):
        lname, ltype = fields[0]
        conv = converters(ltype)[1]
        fast = _listing_encoder(ltype)
        if fast is not None:
            return fast

        def listing(result: Any, args: Any) -> Any:
            if args is not None and not args.get("need_results", 1):
                return {lname: [], "ret": len(result)}
            return {lname: conv(result) if conv else list(result), "ret": len(result)}

        return listing
    if "nparams" in names and names[0] == "params":
        conv = _params_encoder(proc.name, fields[0][1]) or converters(fields[0][1])[1]
        assert conv is not None

        def two_step(result: Any, args: Any) -> Any:
            wanted = args["nparams"]
            if wanted == 0:  # the caller asks how many there are
                return {"params": [], "nparams": len(result)}
            wire = conv(result)[:wanted]
            return {"params": wire, "nparams": len(wire)}

        return two_step
    convs = [(_params_encoder(proc.name, t) if n == "params" else None) or converters(t)[1]
             for n, t in fields]
    if len(fields) == 1:
        name, conv1 = names[0], convs[0]
        if conv1 is None:
            return lambda result, args: {name: result}
        return lambda result, args: {name: conv1(result)}

    wire = tuple(names)

    def several(result: Any, args: Any) -> Any:
        return {n: (c(v) if c else v)
                for n, c, v in zip(names, convs, _values(result, wire), strict=True)}

    return several


_U32 = struct.Struct(">I")


def _listing_encoder(ltype: VarArray) -> Callable[[Any, Any], bytes] | None:
    """For ``{identity<>, ret}`` replies (listAllDomains and friends): the encoded reply
    itself, each identity's bytes cached — a 1,000-domain listing costs a join."""
    elem = ltype.elem
    to_wire = converters(elem)[1]
    if not isinstance(elem, Struct) or to_wire is None or not elem.name.startswith(
            "remote_nonnull_"):
        return None

    @lru_cache(maxsize=65536)
    def item(ident: Any) -> bytes:
        return elem.encode(to_wire(ident))

    maximum = ltype.max

    def listing(result: Any, args: Any) -> bytes:
        if len(result) > maximum:
            raise rpc_error(f"too many remote {elem.name[15:]}s: {len(result)} > {maximum}")
        if args is not None and not args.get("need_results", 1):
            return _U32.pack(0) + _U32.pack(len(result))
        return b"".join([_U32.pack(len(result)), *map(item, result), _U32.pack(len(result))])

    return listing


def _generic_server(proc: Procedure, table: str, method: str, extra: tuple[Any, ...]) -> Invoke:
    arg_fields = [(f, converters(t)[0]) for f, t in _fields(proc.args) if f not in _SHAPE_FIELDS]
    params = _params(method)
    if (arg_fields and arg_fields[0][0] == "name" and params
            and params[0].name == "dev"):  # node devices travel by name
        arg_fields[0] = ("name", NodeDeviceIdent)
    to_wire = _ret_to_wire(proc)
    plain = all(c is None for _, c in arg_fields)
    names = [f for f, _ in arg_fields]

    def invoke(tables: base.DriverTables, args: Any) -> Any:
        fn = getattr(getattr(tables, table), method)
        if args is None:
            values: list[Any] = []
        elif plain:
            values = [args[f] for f in names]
        else:
            values = [c(args[f]) if c else args[f] for f, c in arg_fields]
        return to_wire(fn(*values, *extra), args)

    if proc.stream is None:
        return invoke

    def invoke_stream(tables: base.DriverTables, args: Any) -> Any:
        # Stream APIs return (value, stream): the reply carries the value.
        fn = getattr(getattr(tables, table), method)
        values = [c(args[f]) if c else args[f] for f, c in arg_fields]
        result = fn(*values, *extra)
        if proc.ret is VOID:  # the method returns just the stream
            return None, result
        value, stream = result
        return to_wire(value, args), stream

    return invoke_stream


def _srv_cpu_map(tables: base.DriverTables, args: Any) -> Any:
    ncpus, online_map, online = tables.hypervisor.node_get_cpu_map(args["flags"])
    return {"cpumap": bools_to_bits(online_map) if args["need_map"] else b"",
            "online": online if args["need_online"] else 0, "ret": ncpus}


def _srv_get_vcpus(tables: base.DriverTables, args: Any) -> Any:
    dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
    infos, maps = tables.hypervisor.domain_get_vcpus(dom)
    maxinfo, maplen = args["maxinfo"], args["maplen"]
    to_wire = converters(rp.remote_vcpu_info)[1]
    assert to_wire is not None
    return {"info": [to_wire(v) for v in infos[:maxinfo]],
            "cpumaps": b"".join(bools_to_bits(m, maplen) for m in maps[:maxinfo])}


def _srv_pin_vcpu(legacy: bool) -> Invoke:
    def invoke(tables: base.DriverTables, args: Any) -> Any:
        hv = tables.hypervisor
        dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
        cpumap = bits_to_bools(args["cpumap"], len(args["cpumap"]) * 8)
        flags = hv.pin_vcpu_legacy_flags if legacy else args["flags"]
        hv.domain_pin_vcpu_flags(dom, args["vcpu"], cpumap, flags)

    return invoke


def _srv_rename(tables: base.DriverTables, args: Any) -> Any:
    dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
    tables.hypervisor.domain_rename(dom, args["new_name"], args["flags"])
    return {"retcode": 0}


def _srv_sched_params(tables: base.DriverTables, args: Any) -> Any:
    dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
    params = tables.hypervisor.domain_get_scheduler_parameters(dom, args.get("flags", 0))
    to_wire = converters(VarArray(rp.remote_typed_param))[1]
    assert to_wire is not None
    return {"params": to_wire(params)[: args["nparams"]]}


def _srv_snapshot_children_names(tables: base.DriverTables, args: Any) -> Any:
    to_py = converters(rp.remote_nonnull_domain_snapshot)[0]
    assert to_py is not None
    children = tables.hypervisor.domain_snapshot_list_all_children(
        to_py(args["snap"]), args["flags"])
    return {"names": [c.name for c in children][: args["maxnames"]]}


def _srv_iothread_info(tables: base.DriverTables, args: Any) -> Any:
    dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
    info = tables.hypervisor.domain_get_iothread_info(dom, args["flags"])
    return {"info": [{"iothread_id": i, "cpumap": bools_to_bits(m)} for i, m in info],
            "ret": len(info)}


def _srv_pin_iothread(tables: base.DriverTables, args: Any) -> Any:
    dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
    cpumap = bits_to_bools(args["cpumap"], len(args["cpumap"]) * 8)
    tables.hypervisor.domain_pin_iothread(dom, args["iothreads_id"], cpumap, args["flags"])


def _srv_vcpu_pin_info(tables: base.DriverTables, args: Any) -> Any:
    dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
    maps = tables.hypervisor.domain_get_vcpu_pin_info(dom, args["ncpumaps"], args["flags"])
    maplen = args["maplen"]
    return {"cpumaps": b"".join(bools_to_bits(m, maplen) for m in maps), "num": len(maps)}


def _srv_pin_emulator(tables: base.DriverTables, args: Any) -> Any:
    dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
    cpumap = bits_to_bools(args["cpumap"], len(args["cpumap"]) * 8)
    tables.hypervisor.domain_pin_emulator(dom, cpumap, args["flags"])


def _srv_emulator_pin_info(tables: base.DriverTables, args: Any) -> Any:
    dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
    cpumap = tables.hypervisor.domain_get_emulator_pin_info(dom, args["flags"])
    return {"cpumaps": bools_to_bits(cpumap, args["maplen"]), "ret": 1}


def _srv_cpu_stats(tables: base.DriverTables, args: Any) -> Any:
    dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
    if args["nparams"] > rp.REMOTE_NODE_CPU_STATS_MAX:
        raise rpc_error("nparams too large")
    if args["ncpus"] > rp.REMOTE_DOMAIN_GET_CPU_STATS_NCPUS_MAX:
        raise rpc_error("ncpus too large")
    count, per_cpu = tables.hypervisor.domain_get_cpu_stats(
        dom, args["nparams"], args["start_cpu"], args["ncpus"], args["flags"])
    to_wire = converters(VarArray(rp.remote_typed_param))[1]
    assert to_wire is not None
    # the caller's array is sparse: empty slots do not travel
    wire = [p for params in per_cpu for p in to_wire(params)] if args["nparams"] else []
    return {"params": wire, "nparams": count}


def _srv_disk_errors(tables: base.DriverTables, args: Any) -> Any:
    dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
    if args["maxerrors"] > rp.REMOTE_DOMAIN_DISK_ERRORS_MAX:
        raise rpc_error("maxerrors too large")
    errors = tables.hypervisor.domain_get_disk_errors(dom, args["flags"])
    if not args["maxerrors"]:
        return {"errors": [], "nerrors": len(errors)}
    wire = [{"disk": d, "error": e} for d, e in errors[: args["maxerrors"]]]
    return {"errors": wire, "nerrors": len(wire)}


def _srv_fsinfo(tables: base.DriverTables, args: Any) -> Any:
    dom = converters(rp.remote_nonnull_domain)[0](args["dom"])  # type: ignore[misc]
    info = tables.hypervisor.domain_get_fsinfo(dom, args["flags"])
    return {"info": [{"mountpoint": m, "name": n, "fstype": t, "dev_aliases": list(a)}
                     for m, n, t, a in info], "ret": len(info)}


def _srv_node_cpu_stats(tables: base.DriverTables, args: Any) -> Any:
    # Asking the count checks no CPU number (every CPU has the same stats), as libvirt.
    cpu = args["cpuNum"] if args["nparams"] else NodeGetCPUStatsAllCPUs.CPUS
    stats = tables.hypervisor.node_get_cpu_stats(cpu, args["flags"])
    if not args["nparams"]:
        return {"params": [], "nparams": len(stats)}
    wire = [{"field": k, "value": v} for k, v in stats.items()][: args["nparams"]]
    return {"params": wire, "nparams": 0}  # libvirtd sends the count only when asked


_SERVER_SPECIAL: dict[str, Invoke] = {
    "node_get_cpu_stats": _srv_node_cpu_stats,
    "domain_get_vcpu_pin_info": _srv_vcpu_pin_info,
    "domain_pin_emulator": _srv_pin_emulator,
    "domain_get_emulator_pin_info": _srv_emulator_pin_info,
    "domain_get_cpu_stats": _srv_cpu_stats,
    "domain_get_disk_errors": _srv_disk_errors,
    "domain_get_fsinfo": _srv_fsinfo,
    "domain_get_iothread_info": _srv_iothread_info,
    "domain_pin_iothread": _srv_pin_iothread,
    "domain_snapshot_list_children_names": _srv_snapshot_children_names,
    "node_get_cpu_map": _srv_cpu_map,
    "domain_get_vcpus": _srv_get_vcpus,
    "domain_pin_vcpu": _srv_pin_vcpu(legacy=True),
    "domain_pin_vcpu_flags": _srv_pin_vcpu(legacy=False),
    "domain_rename": _srv_rename,
    "domain_get_scheduler_parameters": _srv_sched_params,
    "domain_get_scheduler_parameters_flags": _srv_sched_params,
}


@cache
def server_call(proc_number: int) -> ServerCall | None:
    """The binding of ``remote`` procedure ``proc_number``, or None when no driver method
    implements it (the dispatcher answers those itself or with VIR_ERR_NO_SUPPORT)."""
    proc = REMOTE.get(proc_number)
    if proc is None:
        return None
    fd_call = fdcalls.SERVER.get(proc.name)
    if fd_call is not None:  # methods only some drivers have (rpc/fdcalls.py)
        return ServerCall(proc, "hypervisor", fdcalls.FD_METHODS[proc.name][0], fd_call)
    target = method_for_proc(proc.name)
    if target is None:
        return None
    method, extra = target
    table = table_of(method)
    assert table is not None
    invoke = _SERVER_SPECIAL.get(proc.name) or _generic_server(proc, table, method, extra)
    if proc.name in _ALIASES:
        invoke = _named_as(invoke, api_name(proc.name))
    return ServerCall(proc, table, method, invoke)


def _named_as(invoke: Invoke, api: str) -> Invoke:
    """An aliased procedure's "not supported" error names the API the client called
    (virDomainAttachDevice, not the Flags variant serving it), as libvirt's does."""
    from virtkit.errors import NoSupportError, no_support

    def run(tables: base.DriverTables, args: Any) -> Any:
        try:
            return invoke(tables, args)
        except NoSupportError:
            raise no_support(api) from None

    return run


# =============================================================== client side

Call = Callable[[str, Any], Any]  # (procedure name, args value) -> ret value


class ClientCall:
    """A driver method carried by a procedure: ``run(call, args) -> result``.

    ``call`` sends one procedure and returns its decoded ret value; a
    binding may send several (libvirt's two-step calls)."""

    __slots__ = ("method", "proc", "run")

    def __init__(self, method: str, proc: str,
                 run: Callable[[Call, tuple[Any, ...]], Any]) -> None:
        self.method = method
        self.proc = proc
        self.run = run


def _result_shape(method: str) -> Callable[[Sequence[Any]], Any] | None:
    """How to build the method's result from several ret fields (record or tuple)."""
    table = table_of(method)
    fn = getattr(dict(TABLES)[table], method) if table else None
    ann = getattr(fn, "__annotations__", {}).get("return", "")
    if not isinstance(ann, str):
        ann = getattr(ann, "__name__", "")
    if ann.startswith("tuple"):
        return tuple
    import virtkit.types as vt

    cls = getattr(vt, ann, None)
    if cls is not None and hasattr(cls, "_fields"):
        wire = tuple(f for f, _ in _fields(REMOTE[proc_for_method(method) or method].ret))
        order = _record_order(cls, wire)
        return lambda values: cls(**dict(zip(order, values, strict=True)))
    return None


def _ret_from_wire(proc: Procedure, method: str) -> Callable[[Any], Any]:
    fields = _fields(proc.ret)
    if not fields:
        return lambda ret: None
    names = [f for f, _ in fields]
    if len(fields) == 2 and names[1] == "ret" and isinstance(fields[0][1], VarArray):
        lname, conv = names[0], converters(fields[0][1])[0]
        return lambda ret: conv(ret[lname]) if conv else ret[lname]
    if "nparams" in names and names[0] == "params":  # two-step: the count is not returned
        pconv = converters(fields[0][1])[0]
        assert pconv is not None
        return lambda ret: pconv(ret["params"])
    convs = [converters(t)[0] for _, t in fields]
    if len(fields) == 1:
        name, conv1 = names[0], convs[0]
        table = table_of(method)
        fn = getattr(dict(TABLES)[table], method) if table else None
        if getattr(fn, "__annotations__", {}).get("return") == "bool":
            return lambda ret: bool(ret[name])
        if conv1 is None:
            return lambda ret: ret[name]
        return lambda ret: conv1(ret[name])
    shape = _result_shape(method) or tuple

    def several(ret: Any) -> Any:
        return shape([c(ret[n]) if c else ret[n] for n, c in zip(names, convs, strict=True)])

    return several


def _bind_params(method: str) -> Callable[[tuple[Any, ...], dict[str, Any]], tuple[Any, ...]]:
    """Normalise a call's ``(*args, **kwargs)`` to the full positional tuple."""
    params = _params(method)
    count = len(params)

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        if not kwargs and len(args) == count:
            return args
        out = list(args)
        for p in params[len(args):]:
            if p.name in kwargs:
                out.append(kwargs.pop(p.name))
            elif p.default is not inspect.Parameter.empty:
                out.append(p.default)
            else:
                raise TypeError(f"{method}() missing argument {p.name!r}")
        if kwargs:
            raise TypeError(f"{method}() got unexpected arguments {sorted(kwargs)}")
        return tuple(out)

    return bind


def _generic_client(method: str, proc: Procedure) -> Callable[[Call, tuple[Any, ...]], Any]:
    fields = _fields(proc.args)
    params = _params(method)
    carried = [(f, (_params_encoder(proc.name, t) if f == "params" else None) or converters(t)[1])
               for f, t in fields if f not in _SHAPE_FIELDS]
    if len(carried) != len(params):
        raise no_support(api_name(method))
    if carried and carried[0][0] == "name" and params and params[0].name == "dev":
        carried[0] = ("name", lambda dev: dev.name)
    name = proc.name
    from_wire = _ret_from_wire(proc, method)
    field_names = [f for f, _ in fields]
    two_step = "nparams" in field_names and "nparams" in [f for f, _ in _fields(proc.ret)]

    def build(values: tuple[Any, ...], nparams: int = 0) -> Any:
        if not fields:
            return None
        wire: dict[str, Any] = {}
        it = iter(values)
        conv_of = dict(carried)
        for f in field_names:
            if f == "need_results":
                wire[f] = 1
            elif f == "nparams":
                wire[f] = nparams
            elif f == "maxStats":
                wire[f] = _MEMORY_STAT_NR
            else:
                c = conv_of[f]
                v = next(it)
                wire[f] = c(v) if c else v
        return wire

    if two_step:
        def run_two_step(call: Call, values: tuple[Any, ...]) -> Any:
            count = call(name, build(values))["nparams"]
            if count == 0:
                return {}
            return from_wire(call(name, build(values, count)))

        return run_two_step

    if proc.stream is not None:
        def run_stream(call: Call, values: tuple[Any, ...]) -> Any:
            ret, stream = call(name, build(values))  # the transport opens the stream
            return stream if proc.ret is VOID else (from_wire(ret), stream)

        return run_stream

    def run(call: Call, values: tuple[Any, ...]) -> Any:
        return from_wire(call(name, build(values)))

    return run


def _cli_rename(call: Call, values: tuple[Any, ...]) -> Any:
    dom, new_name, flags = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    call("domain_rename", {"dom": wire_dom(dom), "new_name": new_name, "flags": flags})
    return DomainIdent(new_name, dom.uuid, dom.id)


def _cli_get_vcpus(call: Call, values: tuple[Any, ...]) -> Any:
    (dom,) = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    nvcpus = call("domain_get_info", {"dom": wire_dom(dom)})["nrVirtCpu"]
    cpus = call("node_get_info", None)["cpus"]
    maplen = (cpus + 7) // 8
    ret = call("domain_get_vcpus", {"dom": wire_dom(dom), "maxinfo": nvcpus, "maplen": maplen})
    to_py = converters(rp.remote_vcpu_info)[0]
    assert to_py is not None
    infos = [to_py(v) for v in ret["info"]]
    raw = ret["cpumaps"]
    maps = [bits_to_bools(raw[i * maplen:(i + 1) * maplen], cpus) for i in range(len(infos))]
    return infos, maps


def _cli_pin_vcpu(call: Call, values: tuple[Any, ...]) -> Any:
    dom, vcpu, cpumap, flags = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    call("domain_pin_vcpu_flags", {"dom": wire_dom(dom), "vcpu": vcpu,
                                   "cpumap": bools_to_bits(cpumap), "flags": flags})


def _cli_cpu_map(call: Call, values: tuple[Any, ...]) -> Any:
    (flags,) = values
    ret = call("node_get_cpu_map", {"need_map": 1, "need_online": 1, "flags": flags})
    return ret["ret"], bits_to_bools(ret["cpumap"], ret["ret"]), ret["online"]


def _cli_sched_params(call: Call, values: tuple[Any, ...]) -> Any:
    dom, flags = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    nparams = call("domain_get_scheduler_type", {"dom": wire_dom(dom)})["nparams"]
    if nparams == 0:
        return {}
    ret = call("domain_get_scheduler_parameters_flags",
               {"dom": wire_dom(dom), "nparams": nparams, "flags": flags})
    to_py = converters(VarArray(rp.remote_typed_param))[0]
    assert to_py is not None
    return to_py(ret["params"])


def _cli_iothread_info(call: Call, values: tuple[Any, ...]) -> Any:
    dom, flags = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    ret = call("domain_get_iothread_info", {"dom": wire_dom(dom), "flags": flags})
    return [(i["iothread_id"], bits_to_bools(i["cpumap"], len(i["cpumap"]) * 8))
            for i in ret["info"]]


def _cli_pin_iothread(call: Call, values: tuple[Any, ...]) -> Any:
    dom, iothread_id, cpumap, flags = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    call("domain_pin_iothread", {"dom": wire_dom(dom), "iothreads_id": iothread_id,
                                 "cpumap": bools_to_bits(cpumap), "flags": flags})


def _cli_vcpu_pin_info(call: Call, values: tuple[Any, ...]) -> Any:
    dom, ncpumaps, flags = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    cpus = call("node_get_info", None)["cpus"]
    maplen = (cpus + 7) // 8
    ret = call("domain_get_vcpu_pin_info", {"dom": wire_dom(dom), "ncpumaps": ncpumaps,
                                            "maplen": maplen, "flags": flags})
    raw = ret["cpumaps"]
    return [bits_to_bools(raw[i * maplen:(i + 1) * maplen], maplen * 8)
            for i in range(ret["num"])]


def _cli_pin_emulator(call: Call, values: tuple[Any, ...]) -> Any:
    dom, cpumap, flags = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    call("domain_pin_emulator", {"dom": wire_dom(dom), "cpumap": bools_to_bits(cpumap),
                                 "flags": flags})


def _cli_emulator_pin_info(call: Call, values: tuple[Any, ...]) -> Any:
    dom, flags = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    cpus = call("node_get_info", None)["cpus"]
    maplen = (cpus + 7) // 8
    ret = call("domain_get_emulator_pin_info",
               {"dom": wire_dom(dom), "maplen": maplen, "flags": flags})
    return bits_to_bools(ret["cpumaps"], maplen * 8)


def _cli_cpu_stats(call: Call, values: tuple[Any, ...]) -> Any:
    dom, nparams, start_cpu, ncpus, flags = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    ret = call("domain_get_cpu_stats", {"dom": wire_dom(dom), "nparams": nparams,
                                        "start_cpu": start_cpu, "ncpus": ncpus, "flags": flags})
    count, wire = ret["nparams"], ret["params"]
    if len(wire) > nparams * ncpus or (wire and (len(wire) % count or count > nparams)):
        raise rpc_error("remoteDomainGetCPUStats: returned number of stats exceeds limit")
    if not nparams or not wire:
        return count, []
    to_py = converters(VarArray(rp.remote_typed_param))[0]
    assert to_py is not None
    return count, [to_py(wire[i:i + count]) for i in range(0, len(wire), count)]


def _cli_disk_errors(call: Call, values: tuple[Any, ...]) -> Any:
    dom, flags = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    args = {"dom": wire_dom(dom), "maxerrors": 0, "flags": flags}
    count = call("domain_get_disk_errors", args)["nerrors"]
    if not count:
        return []
    ret = call("domain_get_disk_errors", {**args, "maxerrors": count})
    return [(e["disk"], e["error"]) for e in ret["errors"]]


def _cli_fsinfo(call: Call, values: tuple[Any, ...]) -> Any:
    dom, flags = values
    wire_dom = converters(rp.remote_nonnull_domain)[1]
    assert wire_dom is not None
    ret = call("domain_get_fsinfo", {"dom": wire_dom(dom), "flags": flags})
    return [(i["mountpoint"], i["name"], i["fstype"], list(i["dev_aliases"]))
            for i in ret["info"]]


_CLIENT_SPECIAL: dict[str, tuple[str, Callable[[Call, tuple[Any, ...]], Any]]] = {
    "domain_get_vcpu_pin_info": ("domain_get_vcpu_pin_info", _cli_vcpu_pin_info),
    "domain_pin_emulator": ("domain_pin_emulator", _cli_pin_emulator),
    "domain_get_emulator_pin_info": ("domain_get_emulator_pin_info", _cli_emulator_pin_info),
    "domain_get_cpu_stats": ("domain_get_cpu_stats", _cli_cpu_stats),
    "domain_get_disk_errors": ("domain_get_disk_errors", _cli_disk_errors),
    "domain_get_fsinfo": ("domain_get_fsinfo", _cli_fsinfo),
    "domain_get_iothread_info": ("domain_get_iothread_info", _cli_iothread_info),
    "domain_pin_iothread": ("domain_pin_iothread", _cli_pin_iothread),
    "domain_rename": ("domain_rename", _cli_rename),
    "domain_get_vcpus": ("domain_get_vcpus", _cli_get_vcpus),
    "domain_pin_vcpu_flags": ("domain_pin_vcpu_flags", _cli_pin_vcpu),
    "node_get_cpu_map": ("node_get_cpu_map", _cli_cpu_map),
    "domain_get_scheduler_parameters": ("domain_get_scheduler_parameters_flags",
                                        _cli_sched_params),
}


@cache
def client_call(method: str) -> ClientCall:
    """How a remote client carries driver method ``method``.

    Raises VIR_ERR_NO_SUPPORT (naming libvirt's function) when no procedure
    carries it."""
    special = _CLIENT_SPECIAL.get(method)
    if special is not None:
        return ClientCall(method, special[0], special[1])
    proc_name = proc_for_method(method)
    if proc_name is None:
        raise no_support(api_name(method))
    return ClientCall(method, proc_name, _generic_client(method, REMOTE[proc_name]))


def bind_arguments(method: str) -> Callable[[tuple[Any, ...], dict[str, Any]], tuple[Any, ...]]:
    """``(args, kwargs) -> positional tuple`` for calls of ``method`` (defaults filled in)."""
    return _bind_cache(method)


@cache
def _bind_cache(method: str) -> Callable[[tuple[Any, ...], dict[str, Any]], tuple[Any, ...]]:
    return _bind_params(method)


def check_bindings() -> list[str]:
    """Every driver-table method no procedure can carry (for tests and docs); the
    calls passing file descriptors are carried by rpc/fdcalls.py's procedures."""
    from virtkit.rpc.fdcalls import FD_METHODS

    with_fds = {method for method, _ in FD_METHODS.values()}
    missing = []
    for _, cls in TABLES:
        for name, fn in cls.__dict__.items():
            if name.startswith("_") or not callable(fn) or name == "connect_close" \
                    or name in with_fds:
                continue
            try:
                client_call(name)
            except VirtError:
                missing.append(name)
    return missing
