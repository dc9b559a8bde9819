"""Domain tuning for the test driver: IOThreads, blkio, NUMA, memory, perf events.

Every setting lives in the domain definition (``<iothreads>``, ``<iothreadids>``,
``<cputune><iothreadpin>``, ``<blkiotune>``, ``<numatune>``, ``<memtune>``,
``<perf>``) and is written back the way libvirt's formatter writes it, so it
shows in ``dumpxml``. The IOThread polling parameters are the test driver's
runtime-only list (``priv->iothreads`` in libvirt): ids added through the API
(and those a node file declares) with ``poll_max_ns`` 32768, grow/shrink 0.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from virtkit.bitmap import format_bitmap, parse_bitmap
from virtkit.drivers.inmemory.common import AFFECT_CONFIG, AFFECT_LIVE, Base, check_flags, err
from virtkit.drivers.inmemory.domconfig import _one_def
from virtkit.drivers.inmemory.node import DomainObj
from virtkit.errors import ErrorCode, ErrorDomain, VirtError
from virtkit.types import DomainIdent, TypedParams

if TYPE_CHECKING:
    from virtkit.conf.domain import DomainDef

_STRING_OKAY = 4  # VIR_TYPED_PARAM_STRING_OKAY
_CPUMASK_LEN = 16384  # VIR_DOMAIN_CPUMASK_LEN
_UINT_MAX = (1 << 32) - 1
_ULLONG_MAX = (1 << 64) - 1
_MEM_UNLIMITED = 9007199254740991  # VIR_DOMAIN_MEMORY_PARAM_UNLIMITED (KiB)
_POLL_MAX_NS = 32768

NUMA_MODES = ("strict", "preferred", "interleave", "restrictive")
_PLACEMENTS = ("default", "static", "auto")
PERF_EVENTS = (
    "cmt", "mbmt", "mbml", "cpu_cycles", "instructions", "cache_references", "cache_misses",
    "branch_instructions", "branch_misses", "bus_cycles", "stalled_cycles_frontend",
    "stalled_cycles_backend", "ref_cpu_cycles", "cpu_clock", "task_clock", "page_faults",
    "context_switches", "cpu_migrations", "page_faults_min", "page_faults_maj",
    "alignment_faults", "emulation_faults",
)
# blkio typed parameter -> <blkiotune><device> child, and its C type's maximum.
_BLKIO_DEVICE = {
    "device_weight": ("weight", _UINT_MAX),
    "device_read_iops_sec": ("read_iops_sec", _UINT_MAX),
    "device_write_iops_sec": ("write_iops_sec", _UINT_MAX),
    "device_read_bytes_sec": ("read_bytes_sec", _ULLONG_MAX),
    "device_write_bytes_sec": ("write_bytes_sec", _ULLONG_MAX),
}
_MEMTUNE = ("hard_limit", "soft_limit", "swap_hard_limit")


# ---------------------------------------------------------------- typed parameters

def _type_name(value: object) -> str:
    """virTypedParameterType's name for a value as it reached the driver."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "llong" if value < 0 else "ullong"
    if isinstance(value, float):
        return "double"
    return "string"


def _type_ok(value: object, expected: str) -> bool:
    if expected == "boolean":
        return isinstance(value, bool) or value in (0, 1)
    if expected == "string":
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    low, high = {"int": (-(1 << 31), (1 << 31) - 1), "uint": (0, _UINT_MAX),
                 "ullong": (0, _ULLONG_MAX)}[expected]
    return low <= value <= high


def validate_params(params: TypedParams, allowed: dict[str, str]) -> None:
    """virTypedParamsValidate: every name known, of its type (checked in name order)."""
    for name in sorted(params):
        expected = allowed.get(name)
        if expected is None:
            raise err(ErrorCode.ARGUMENT_UNSUPPORTED, f"parameter '{name}' not supported",
                      ErrorDomain.NONE)
        if not _type_ok(params[name], expected):
            raise err(ErrorCode.INVALID_ARG,
                      f"invalid type '{_type_name(params[name])}' for parameter '{name}', "
                      f"expected '{expected}'", ErrorDomain.NONE)


# ---------------------------------------------------------------- bitmaps

def _bytes_bools(bits: set[int]) -> list[bool]:
    """virBitmapToData as booleans: whole bytes up to the last set bit (one byte if none)."""
    nbytes = max(bits) // 8 + 1 if bits else 1
    return [i in bits for i in range(nbytes * 8)]


# ---------------------------------------------------------------- IOThreads in a definition

class _IOThread:
    """One IOThread as libvirt holds it (a plain class: no dataclasses on the CLI's path)."""

    __slots__ = ("autofill", "cpumask", "id", "model")

    def __init__(self, id: int, autofill: bool, cpumask: set[int] | None, model: Any) -> None:
        self.id = id
        self.autofill = autofill
        self.cpumask = cpumask
        self.model = model  # the <iothread> element as parsed (pool sizes, unknown attributes)


def _iothreads(d: DomainDef) -> list[_IOThread]:
    """The definition's IOThreads as libvirt holds them (virDomainIOThreadIDDefArrayInit)."""
    auto: set[int] | None = getattr(d, "_vk_iothread_autofill", None)
    explicit = d.iothreadids.iothreads if d.iothreadids is not None else []
    pins = {}
    if d.cputune is not None:
        for pin in d.cputune.iothreadpins:
            if pin.iothread and pin.cpuset is not None:
                pins[int(pin.iothread)] = parse_bitmap(pin.cpuset)
    out = []
    for el in explicit:
        tid = int(el.id or 0)
        out.append(_IOThread(tid, auto is not None and tid in auto, pins.get(tid), el))
    try:
        count = int(d.iothreads or 0)
    except ValueError:
        count = 0
    used = {t.id for t in out}
    nxt = 1
    while len(out) < count:
        while nxt in used:
            nxt += 1
        out.append(_IOThread(nxt, True, pins.get(nxt), None))
        used.add(nxt)
    return out


def _store_iothreads(d: DomainDef, threads: list[_IOThread]) -> None:
    """Write ``threads`` back as libvirt formats them: the count, ``<iothreadids>`` when
    any is not auto-filled (or sets a thread pool), ``<iothreadpin>`` for each mask."""
    from virtkit.conf.domain_tuning import CpuTune, IOThread, IOThreadIds, IOThreadPin

    d.iothreads = str(len(threads)) if threads else None
    keep_ids = any(not t.autofill or (t.model is not None and (
        t.model.thread_pool_min is not None or t.model.thread_pool_max is not None))
        for t in threads)
    if keep_ids:
        elements = []
        for t in threads:
            el = t.model if t.model is not None else IOThread()
            el.id = str(t.id)
            elements.append(el)
        ids = d.iothreadids if d.iothreadids is not None else IOThreadIds()
        ids.iothreads = elements
        d.iothreadids = ids
    else:
        d.iothreadids = None
    pins = []
    for t in threads:
        if t.cpumask is not None:
            pin = IOThreadPin()
            pin.iothread = str(t.id)
            pin.cpuset = format_bitmap(t.cpumask)
            pins.append(pin)
    if d.cputune is None and pins:
        d.cputune = CpuTune()
    if d.cputune is not None:
        d.cputune.iothreadpins = pins
        if d.cputune.to_xml().strip() == "<cputune/>":
            d.cputune = None
    d._vk_iothread_autofill = {t.id for t in threads if t.autofill}  # type: ignore[attr-defined]


def _vcpu_cpumask(d: DomainDef) -> set[int] | None:
    if d.vcpu is not None and d.vcpu.cpuset:
        return parse_bitmap(d.vcpu.cpuset)
    return None


# ---------------------------------------------------------------- blkio in a definition

def _parse_blkio_devices(text: str, kind: str) -> list[tuple[str, int]]:
    """virDomainDriverParseBlkioDeviceStr: ``/dev/sda,500,/dev/sdb,300``."""
    if text == "":
        return []
    if text.count(",") % 2 == 0:
        raise err(ErrorCode.INVALID_ARG, f"unable to parse blkio device '{kind}' '{text}'",
                  ErrorDomain.DOMAIN)
    maximum = _BLKIO_DEVICE[kind][1]
    out = []
    pos = 0
    number = re.compile(r"[ \t\n\v\f\r]*([+-]?\d+)")
    while True:
        comma = text.find(",", pos)
        if comma < 0:
            raise err(ErrorCode.INVALID_ARG, f"unable to parse blkio device '{kind}' '{text}'",
                      ErrorDomain.DOMAIN)
        path = text[pos:comma]
        rest = comma + 1
        m = number.match(text, rest)
        if m is None or m.group(1).startswith("-") or int(m.group(1)) > maximum:
            raise err(ErrorCode.INVALID_ARG,
                      f"invalid value '{text[rest:]}' for parameter '{kind}' of device "
                      f"'{path}'", ErrorDomain.DOMAIN)
        out.append((path, int(m.group(1))))
        end = m.end()
        if end == len(text):
            return out
        if text[end] != ",":
            raise err(ErrorCode.INVALID_ARG, f"unable to parse blkio device '{kind}' '{text}'",
                      ErrorDomain.DOMAIN)
        pos = end + 1


def _int(text: str | None) -> int:
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


def _store_blkio(d: DomainDef) -> None:
    """Drop what libvirt's formatter leaves out: zero values, empty devices, empty tune."""
    tune = d.blkiotune
    if tune is None:
        return
    if not _int(tune.weight):
        tune.weight = None
    kept = []
    for dev in tune.devices:
        for _, (attr, _) in _BLKIO_DEVICE.items():
            if not _int(getattr(dev, attr)):
                setattr(dev, attr, None)
        if any(getattr(dev, a) for a, _ in _BLKIO_DEVICE.values()):
            kept.append(dev)
    tune.devices = kept
    if tune.weight is None and not kept:
        d.blkiotune = None


# ---------------------------------------------------------------- NUMA in a definition

class _Numatune:
    __slots__ = ("mode", "nodeset", "placement", "specified")

    def __init__(self, specified: bool, mode: int, placement: int,
                 nodeset: set[int] | None) -> None:
        self.specified = specified
        self.mode = mode
        self.placement = placement
        self.nodeset = nodeset


def _numatune(d: DomainDef) -> _Numatune:
    mem = d.numatune.memory if d.numatune is not None else None
    if mem is None:
        return _Numatune(False, 0, 0, None)
    mode = NUMA_MODES.index(mem.mode) if mem.mode in NUMA_MODES else 0
    nodeset = parse_bitmap(mem.nodeset) if mem.nodeset else None
    if mem.placement in _PLACEMENTS:
        placement = _PLACEMENTS.index(mem.placement)
    else:
        placement = 1 if nodeset is not None else 2
    return _Numatune(True, mode, placement, nodeset)


def _store_numatune(d: DomainDef, n: _Numatune) -> None:
    from virtkit.conf.domain_tuning import NumaTune, NumatuneMemory

    if d.numatune is None:
        d.numatune = NumaTune()
    mem = d.numatune.memory if d.numatune.memory is not None else NumatuneMemory()
    mem.mode = NUMA_MODES[n.mode]
    if n.placement == 1:
        mem.nodeset, mem.placement = format_bitmap(n.nodeset or set()), None
    else:
        mem.nodeset, mem.placement = None, _PLACEMENTS[n.placement] if n.placement else None
    d.numatune.memory = mem


# ---------------------------------------------------------------- the mixin

class DomainTuningMixin(Base):
    """IOThreads, blkio/NUMA/memory tuning, perf events and launch security."""

    def _iothread_rt(self, obj: DomainObj) -> list[list[int]]:
        """The running IOThreads' polling parameters: [[id, max_ns, grow, shrink], ...]."""
        table: dict[str, tuple[DomainObj, list[list[int]]]] | None = getattr(
            self._node, "_vk_iothread_rt", None)
        if table is None:
            table = {}
            self._node._vk_iothread_rt = table  # type: ignore[attr-defined]
        entry = table.get(obj.uuid)
        if entry is None or entry[0] is not obj:
            entry = (obj, [])
            table[obj.uuid] = entry
        return entry[1]

    # ------------------------------------------------------------ IOThreads

    def domain_get_iothread_info(
        self, dom: DomainIdent, flags: int = 0
    ) -> list[tuple[int, list[bool]]]:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainGetIOThreadInfo")
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=False)
            size = d.vcpus_current
            default = _vcpu_cpumask(d)
            out = []
            for t in _iothreads(d):
                mask = t.cpumask if t.cpumask is not None else default
                if mask is None:
                    mask = set(range(size))
                out.append((t.id, _bytes_bools(mask)))
            return out

    def domain_add_iothread(self, dom: DomainIdent, iothread_id: int, flags: int = 0) -> None:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainAddIOThread")
        _nonzero(iothread_id)
        with self._node.lock:
            obj = self._dom(dom)
            d, _ = _one_def(obj, flags, for_write=True)
            threads = _iothreads(d)
            if any(t.id == iothread_id for t in threads):
                raise err(ErrorCode.INVALID_ARG,
                          f"an IOThread is already using iothread_id '{iothread_id}'",
                          ErrorDomain.DOMAIN)
            threads.append(_IOThread(iothread_id, False, None, None))
            _store_iothreads(d, threads)
            self._iothread_rt(obj).append([iothread_id, _POLL_MAX_NS, 0, 0])

    def domain_del_iothread(self, dom: DomainIdent, iothread_id: int, flags: int = 0) -> None:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainDelIOThread")
        _nonzero(iothread_id)
        with self._node.lock:
            obj = self._dom(dom)
            d, _ = _one_def(obj, flags, for_write=True)
            threads = _iothreads(d)
            index = next((i for i, t in enumerate(threads) if t.id == iothread_id), None)
            if index is None:
                raise err(ErrorCode.INVALID_ARG,
                          f"cannot find IOThread '{iothread_id}' in iothreadids list",
                          ErrorDomain.DOMAIN)
            _check_iothread_unused(d, iothread_id)
            for t in threads[index + 1:]:
                t.autofill = False  # keep the later ids as they are
            del threads[index]
            _store_iothreads(d, threads)
            rt = self._iothread_rt(obj)
            for i, entry in enumerate(rt):
                if entry[0] == iothread_id:
                    del rt[i]
                    break

    def domain_pin_iothread(
        self, dom: DomainIdent, iothreads_id: int, cpumap: list[bool], flags: int = 0
    ) -> None:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainPinIOThread")
        with self._node.lock:
            obj = self._dom(dom)
            d, _ = _one_def(obj, flags, for_write=True)
            mask = {i for i, on in enumerate(cpumap) if on}
            if not mask:
                raise err(ErrorCode.INVALID_ARG, "Empty iothread cpumap list for pinning")
            threads = _iothreads(d)
            found = next((t for t in threads if t.id == iothreads_id), None)
            if found is None:
                raise err(ErrorCode.INVALID_ARG, f"iothreadid {_c_int(iothreads_id)} not found")
            found.cpumask = mask
            found.autofill = False
            _store_iothreads(d, threads)

    def domain_set_iothread_params(
        self, dom: DomainIdent, iothread_id: int, params: TypedParams, flags: int = 0
    ) -> None:
        check_flags(flags, AFFECT_LIVE, "testDomainSetIOThreadParams")
        _nonzero(iothread_id)
        with self._node.lock:
            obj = self._dom(dom)
            d, _ = _one_def(obj, flags, for_write=False)
            if not any(t.id == iothread_id for t in _iothreads(d)):
                raise err(ErrorCode.INVALID_ARG,
                          f"cannot find IOThread '{iothread_id}' in iothreadids")
            for entry in self._iothread_rt(obj):
                if entry[0] == iothread_id:
                    validate_params(params, {"poll_max_ns": "ullong", "poll_grow": "uint",
                                             "poll_shrink": "uint"})
                    for i, name in enumerate(("poll_max_ns", "poll_grow", "poll_shrink"), 1):
                        if name in params:
                            entry[i] = int(params[name])
                    return
            # libvirt fails here without reporting why
            raise VirtError("An error occurred, but the cause is unknown",
                            code=ErrorCode.INTERNAL_ERROR)

    # ------------------------------------------------------------ blkio

    def domain_get_blkio_parameters(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG | _STRING_OKAY,
                    "testDomainGetBlkioParameters")
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=False)
            tune = d.blkiotune
            out: TypedParams = {"weight": _int(tune.weight) if tune is not None else 0}
            for name, (attr, _) in _BLKIO_DEVICE.items():
                parts = []
                for dev in tune.devices if tune is not None else []:
                    value = _int(getattr(dev, attr))
                    if value:
                        parts.append(f"{dev.path},{value}")
                out[name] = ",".join(parts)
            return out

    def domain_set_blkio_parameters(
        self, dom: DomainIdent, params: TypedParams, flags: int = 0
    ) -> None:
        from virtkit.conf.domain_memory import BlkioDevice, BlkioTune

        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainSetBlkioParameters")
        validate_params(params, {"weight": "uint", **{k: "string" for k in _BLKIO_DEVICE}})
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=True)
            failure = None
            for name, value in params.items():
                if d.blkiotune is None:
                    d.blkiotune = BlkioTune()
                tune = d.blkiotune
                if name == "weight":
                    tune.weight = str(value)
                    continue
                try:
                    devices = _parse_blkio_devices(str(value), name)
                except Exception as e:
                    failure = e  # libvirt goes on with the next parameter
                    continue
                attr = _BLKIO_DEVICE[name][0]
                for path, number in devices:
                    dev = next((x for x in tune.devices if x.path == path), None)
                    if dev is None:
                        if not number:
                            continue
                        dev = BlkioDevice()
                        dev.path = path
                        tune.devices.append(dev)
                    setattr(dev, attr, str(number))
            _store_blkio(d)
            if failure is not None:
                raise failure

    # ------------------------------------------------------------ NUMA

    def domain_get_numa_parameters(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG | _STRING_OKAY,
                    "testDomainGetNumaParameters")
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=False)
            n = _numatune(d)
            nodeset = n.nodeset if n.specified and n.placement != 2 else None
            return {"numa_mode": n.mode if n.specified else 0,
                    "numa_nodeset": format_bitmap(nodeset or set())}

    def domain_set_numa_parameters(
        self, dom: DomainIdent, params: TypedParams, flags: int = 0
    ) -> None:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainSetNumaParameters")
        validate_params(params, {"numa_mode": "int", "numa_nodeset": "string"})
        with self._node.lock:
            d, live = _one_def(self._dom(dom), flags, for_write=True)
            mode, nodeset = -1, None
            for name, value in params.items():
                if name == "numa_mode":
                    mode = int(value)
                    if not 0 <= mode < len(NUMA_MODES):
                        raise err(ErrorCode.INVALID_ARG, f"unsupported numatune mode: '{mode}'")
                else:
                    nodeset = parse_bitmap(str(value))
                    if not nodeset:
                        raise err(ErrorCode.OPERATION_INVALID,
                                  f"Invalid nodeset of 'numatune': {value}")
            n = _numatune(d)
            if live and mode != -1 and n.specified and n.mode != mode:
                raise err(ErrorCode.OPERATION_INVALID,
                          "can't change numatune mode for running domain")
            if mode == -1 and nodeset is None:
                return
            placement = -1
            if not n.specified:
                n.mode, placement = 0, 0
            if mode != -1:
                n.mode = mode
            if nodeset is not None:
                n.nodeset = nodeset
                if placement == -1:
                    placement = 1
            if placement == 0:
                static = d.vcpu is None or d.vcpu.placement in (None, "static")
                placement = 1 if n.nodeset is not None or static else 2
            if placement == 1 and n.nodeset is None:
                raise err(ErrorCode.CONFIG_UNSUPPORTED,
                          "nodeset for NUMA memory tuning must be set if 'placement' is "
                          "'static'", ErrorDomain.DOMAIN)
            if placement == 2:
                n.nodeset = None
            if placement != -1:
                n.placement = placement
            n.specified = True
            _store_numatune(d, n)

    # ------------------------------------------------------------ memory

    def domain_get_memory_parameters(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG | _STRING_OKAY,
                    "testDomainGetMemoryParameters")
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=False)
            return {name: _memtune(d, name) for name in _MEMTUNE}

    def domain_set_memory_parameters(
        self, dom: DomainIdent, params: TypedParams, flags: int = 0
    ) -> None:
        from virtkit.conf.domain_memory import HardLimit, MemTune, SoftLimit, SwapHardLimit

        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainSetMemoryParameters")
        validate_params(params, dict.fromkeys(_MEMTUNE, "ullong"))
        with self._node.lock:
            obj = self._dom(dom)
            d, _ = _one_def(obj, flags, for_write=True)
            if "swap_hard_limit" in params or "hard_limit" in params:
                hard = int(params.get("hard_limit", _memtune(obj.defn, "hard_limit")))
                swap = int(params.get("swap_hard_limit", _memtune(obj.defn, "swap_hard_limit")))
                if hard > swap:
                    raise err(ErrorCode.INVALID_ARG,
                              "memory hard_limit tunable value must be lower than or equal to "
                              "swap_hard_limit")
            classes = {"hard_limit": HardLimit, "soft_limit": SoftLimit,
                       "swap_hard_limit": SwapHardLimit}
            for name in ("soft_limit", "hard_limit", "swap_hard_limit"):
                if name not in params:
                    continue
                value = int(params[name])
                if d.memtune is None:
                    d.memtune = MemTune()
                setattr(d.memtune, name,
                        classes[name].kib(value) if value < _MEM_UNLIMITED else None)
            tune = d.memtune
            if tune is not None and not any(getattr(tune, f) is not None for f in (
                    *_MEMTUNE, "min_guarantee")):
                d.memtune = None

    # ------------------------------------------------------------ perf, launch security

    def domain_get_perf_events(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG | _STRING_OKAY,
                    "testDomainGetPerfEvents")
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=False)
            enabled = _perf_state(d)
            return {name: enabled.get(name) == "yes" for name in PERF_EVENTS}

    def domain_set_perf_events(
        self, dom: DomainIdent, params: TypedParams, flags: int = 0
    ) -> None:
        from virtkit.conf.domain_runtime import Perf, PerfEvent

        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainSetPerfEvents")
        validate_params(params, dict.fromkeys(PERF_EVENTS, "boolean"))
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=True)
            state = _perf_state(d)
            for name, value in params.items():
                state[name] = "yes" if value else "no"
            events = []
            for name in PERF_EVENTS:
                if name in state:
                    ev = PerfEvent()
                    ev.name, ev.enabled = name, state[name]
                    events.append(ev)
            if d.perf is None:
                d.perf = Perf()
            d.perf.events = events

    def domain_get_launch_security_info(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        check_flags(flags, 0, "testDomainGetLaunchSecurityInfo")
        return {}


def _nonzero(iothread_id: int) -> None:
    if iothread_id == 0:
        raise err(ErrorCode.INVALID_ARG, "invalid value of 0 for iothread_id")


def _c_int(value: int) -> int:
    """An unsigned id printed with ``%d``, as libvirt's message does."""
    return value - (1 << 32) if value >= 1 << 31 else value


def _check_iothread_unused(d: DomainDef, iothread_id: int) -> None:
    """virDomainDriverDelIOThreadCheck's checks on disks and controllers."""
    devices = d.devices
    if devices is None:
        return
    for disk in devices.disks:
        drv = disk.driver
        if drv is not None and drv.iothread and _int(drv.iothread) == iothread_id:
            dst = disk.target.dev if disk.target is not None else ""
            raise err(ErrorCode.INVALID_ARG,
                      f"cannot remove IOThread {iothread_id} since it is being used by disk "
                      f"'{dst}'", ErrorDomain.DOMAIN)
    for ctrl in devices.controllers:
        drv = getattr(ctrl, "driver", None)
        if drv is not None and drv.iothread and _int(drv.iothread) == iothread_id:
            raise err(ErrorCode.INVALID_ARG,
                      f"cannot remove IOThread '{iothread_id}' since it is being used by "
                      "controller", ErrorDomain.DOMAIN)


def _memtune(d: DomainDef, name: str) -> int:
    tune = d.memtune
    size = getattr(tune, name) if tune is not None else None
    if size is None or size.value is None:
        return _MEM_UNLIMITED
    return int(size.value)


def _perf_state(d: DomainDef) -> dict[str, str]:
    out: dict[str, str] = {}
    for ev in d.perf.events if d.perf is not None else []:
        if ev.name in PERF_EVENTS and ev.enabled in ("yes", "no"):
            out[ev.name] = ev.enabled
    return out


__all__ = ["NUMA_MODES", "PERF_EVENTS", "DomainTuningMixin", "format_bitmap", "parse_bitmap",
           "validate_params"]
