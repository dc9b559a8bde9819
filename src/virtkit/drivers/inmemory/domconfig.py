"""Domain configuration and fake statistics for the test driver."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from virtkit.constants import (
    ConnectGetAllDomainStatsFlags,
    DomainMemoryModFlags,
    DomainMessageType,
    DomainStatsTypes,
    DomainVcpuFlags,
    DomainXMLFlags,
)
from virtkit.drivers.domainobj import RUNNING, matches
from virtkit.drivers.inmemory.common import (
    AFFECT_CONFIG,
    AFFECT_LIVE,
    Base,
    check_active,
    check_flags,
    err,
)
from virtkit.drivers.inmemory.domains import config_def, live_def, set_numbers
from virtkit.drivers.inmemory.lazy import lazy_module
from virtkit.drivers.inmemory.node import DomainObj
from virtkit.errors import ErrorCode, ErrorDomain, invalid_arg
from virtkit.streams import BytesStream, DataStream, FileStream
from virtkit.types import (
    DomainBlockInfo,
    DomainBlockStats,
    DomainIdent,
    DomainInfo,
    DomainInterface,
    DomainInterfaceAddr,
    DomainInterfaceStats,
    DomainStatsRecord,
    SecurityLabel,
    TypedParams,
)

if TYPE_CHECKING:
    from virtkit.conf import metadata as domain_metadata
    from virtkit.conf import xmlutil
    from virtkit.drivers.inmemory import defs
else:
    defs = lazy_module("virtkit.drivers.inmemory.defs")
    xmlutil = lazy_module("virtkit.conf.xmlutil")
    domain_metadata = lazy_module("virtkit.conf.metadata")

MAX_VCPUS = 32
# testDomainScreenshot streams this file (shipped with libvirt); without it, a 1x1 PNG.
_SCREENSHOT = "/usr/share/libvirt/test-screenshot.png"
_TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
    "0000000a49444154789c636000000002000148afa4710000000049454e44ae426082")
_MEM_MAXIMUM = int(DomainMemoryModFlags.MAXIMUM)
_VCPU_MAXIMUM = int(DomainVcpuFlags.MAXIMUM)
_XML_COMMON = (int(DomainXMLFlags.SECURE) | int(DomainXMLFlags.INACTIVE)
               | int(DomainXMLFlags.UPDATE_CPU) | int(DomainXMLFlags.MIGRATABLE))
_MESSAGE_TYPES = int(DomainMessageType.DEPRECATION) | int(DomainMessageType.TAINTING)
_STATS_STATE = int(DomainStatsTypes.STATE)
_STATS_IOTHREAD = int(DomainStatsTypes.IOTHREAD)
_STATS_SUPPORTED = _STATS_STATE | _STATS_IOTHREAD
_G = ConnectGetAllDomainStatsFlags
# ACTIVE/INACTIVE, PERSISTENT/TRANSIENT and the states: the listAllDomains filter bits
_STATS_LIST_FLAGS = (int(_G.ACTIVE) | int(_G.INACTIVE) | int(_G.PERSISTENT) | int(_G.TRANSIENT)
                     | int(_G.RUNNING) | int(_G.PAUSED) | int(_G.SHUTOFF) | int(_G.OTHER))
_STATS_NOWAIT, _STATS_BACKING = int(_G.NOWAIT), int(_G.BACKING)
_STATS_ENFORCE = int(_G.ENFORCE_STATS)


def _real_time_us() -> int:
    """g_get_real_time(): wall-clock microseconds (the test driver's fake counters)."""
    return time.time_ns() // 1000


def _modification_impact(obj: DomainObj, flags: int) -> int:
    """virDomainObjUpdateModificationImpact; returns flags with LIVE/CONFIG resolved."""
    active = obj.id != -1
    if not flags & (AFFECT_LIVE | AFFECT_CONFIG):
        flags |= AFFECT_LIVE if active else AFFECT_CONFIG
    if not active and flags & AFFECT_LIVE:
        raise err(ErrorCode.OPERATION_INVALID, "domain is not running", ErrorDomain.DOMAIN)
    if not obj.persistent and flags & AFFECT_CONFIG:
        raise err(ErrorCode.OPERATION_INVALID,
                  "transient domains do not have any persistent config", ErrorDomain.DOMAIN)
    return flags


def _one_def(obj: DomainObj, flags: int, for_write: bool) -> tuple[Any, bool]:
    """virDomainObjGetOneDefState: (definition, is_live)."""
    if flags & AFFECT_LIVE and flags & AFFECT_CONFIG:
        raise invalid_arg("Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are "
                          "mutually exclusive", ErrorDomain.DOMAIN)
    flags = _modification_impact(obj, flags)
    live = bool(flags & AFFECT_LIVE)
    if obj.id != -1 and flags & AFFECT_CONFIG:
        return (config_def(obj) if for_write else obj.new_def), False
    if for_write and live:
        return live_def(obj), True
    return obj.defn, live


def _defs(obj: DomainObj, flags: int) -> tuple[Any, Any]:
    """virDomainObjGetDefs: (live definition or None, persistent definition or None)."""
    flags = _modification_impact(obj, flags)
    if obj.id != -1:
        live = live_def(obj) if flags & AFFECT_LIVE else None
        pers = config_def(obj) if flags & AFFECT_CONFIG else None
        return live, pers
    return None, obj.defn


class DomainConfigMixin(Base):
    """Info, XML, memory, vCPUs, metadata and the test driver's fake statistics."""

    def domain_get_info(self, dom: DomainIdent) -> DomainInfo:
        obj = self._node.domains_by_uuid.get(dom.uuid)
        if obj is None:
            obj = self._dom(dom)
        cpu_time = time.time_ns() // 1000 * 1000  # g_get_real_time() * 1000, as libvirt
        return DomainInfo(obj.state, obj.max_mem, obj.memory, obj.vcpus, cpu_time)

    def domain_get_xml_desc(self, dom: DomainIdent, flags: int = 0) -> str:
        check_flags(flags, _XML_COMMON, "testDomainGetXMLDesc")
        with self._node.lock:
            obj = self._dom(dom)
            secure = bool(flags & DomainXMLFlags.SECURE)
            if flags & DomainXMLFlags.INACTIVE and obj.new_def is not None:
                return defs.format_domain(obj.new_def, -1, secure)
            return defs.format_domain(obj.defn, obj.id, secure)

    def domain_get_os_type(self, dom: DomainIdent) -> str:
        return "linux"

    # ------------------------------------------------------------------ memory

    def domain_get_max_memory(self, dom: DomainIdent) -> int:
        with self._node.lock:
            return int(self._dom(dom).defn.memory_kib)

    def domain_set_max_memory(self, dom: DomainIdent, memory: int) -> None:
        self.domain_set_memory_flags(dom, memory, _MEM_MAXIMUM)

    def domain_set_memory_flags(self, dom: DomainIdent, memory: int, flags: int = 0) -> None:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG | _MEM_MAXIMUM, "testDomainSetMemoryFlags")
        with self._node.lock:
            obj = self._dom(dom)
            d, live = _one_def(obj, flags, for_write=True)
            if flags & _MEM_MAXIMUM:
                if live:
                    raise err(ErrorCode.OPERATION_INVALID,
                              "cannot resize the maximum memory on an active domain")
                if defs.has_numa(d):
                    raise err(ErrorCode.OPERATION_INVALID,
                              "initial memory size of a domain with NUMA nodes cannot be "
                              "modified with this API")
                if d.max_memory_kib and d.max_memory_kib < memory:
                    raise err(ErrorCode.OPERATION_INVALID,
                              "cannot set initial memory size greater than the maximum "
                              "memory size")
                d.memory_kib = memory
                if d.current_memory_kib > memory:
                    d.current_memory_kib = memory
            else:
                if memory > d.memory_kib:
                    raise err(ErrorCode.INVALID_ARG, "cannot set memory higher than max memory")
                d.current_memory_kib = memory
            if d is obj.defn:
                set_numbers(obj)

    # ------------------------------------------------------------------ vCPUs

    def domain_get_max_vcpus(self, dom: DomainIdent) -> int:
        return self.domain_get_vcpus_flags(dom, AFFECT_LIVE | _VCPU_MAXIMUM)

    def domain_get_vcpus_flags(self, dom: DomainIdent, flags: int = 0) -> int:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG | _VCPU_MAXIMUM, "testDomainGetVcpusFlags")
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=False)
            return int(d.vcpus_max if flags & _VCPU_MAXIMUM else d.vcpus_current)

    def domain_set_vcpus_flags(self, dom: DomainIdent, nvcpus: int, flags: int = 0) -> None:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG | _VCPU_MAXIMUM, "testDomainSetVcpusFlags")
        if nvcpus > MAX_VCPUS:
            raise err(ErrorCode.INVALID_ARG,
                      f"requested cpu amount exceeds maximum supported amount "
                      f"({nvcpus} > {MAX_VCPUS})")
        with self._node.lock:
            obj = self._dom(dom)
            live, pers = _defs(obj, flags)
            if live is not None and live.vcpus_max < nvcpus:
                raise err(ErrorCode.INVALID_ARG,
                          f"requested cpu amount exceeds maximum ({nvcpus} > {live.vcpus_max})")
            if pers is not None and not flags & _VCPU_MAXIMUM and pers.vcpus_max < nvcpus:
                raise err(ErrorCode.INVALID_ARG,
                          f"requested cpu amount exceeds maximum ({nvcpus} > {pers.vcpus_max})")
            if live is not None:
                live.vcpus_current = nvcpus
            if pers is not None:
                if flags & _VCPU_MAXIMUM:
                    cur = min(pers.vcpus_current, nvcpus)
                    pers.vcpus_max = nvcpus
                    pers.vcpus_current = cur
                else:
                    pers.vcpus_current = nvcpus
            set_numbers(obj)

    # ------------------------------------------------------------------ metadata

    def domain_get_metadata(
        self, dom: DomainIdent, type: int, uri: str | None = None, flags: int = 0
    ) -> str:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainGetMetadata")
        with self._node.lock:
            obj = self._dom(dom)
            domain_metadata.check_type(type)
            d, _ = _one_def(obj, flags, for_write=False)
            return domain_metadata.get_metadata(d, type, uri)

    def domain_set_metadata(
        self,
        dom: DomainIdent,
        type: int,
        metadata: str | None,
        key: str | None = None,
        uri: str | None = None,
        flags: int = 0,
    ) -> None:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainSetMetadata")
        with self._txn():
            obj = self._dom(dom)
            live, pers = _defs(obj, flags)
            for d in (live, pers):
                if d is not None:
                    domain_metadata.set_metadata(d, type, metadata, key, uri)
            events = self._node.events
            if events.active:
                events.queue("domain", obj.refresh_ident(), 23, (type, uri))

    # ------------------------------------------------------------------ security, scheduler

    def domain_get_security_label(self, dom: DomainIdent) -> SecurityLabel:
        with self._node.lock:
            if self._dom(dom).id != -1:
                return SecurityLabel("libvirt-test", True)
            return SecurityLabel("", False)

    def domain_get_scheduler_type(self, dom: DomainIdent) -> tuple[str, int]:
        return "fair", 1

    def domain_get_scheduler_parameters(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        check_flags(flags, 0, "testDomainGetSchedulerParametersFlags")
        with self._node.lock:
            self._dom(dom)
        return {"weight": 50}

    def domain_set_scheduler_parameters(
        self, dom: DomainIdent, params: TypedParams, flags: int = 0
    ) -> None:
        check_flags(flags, 0, "testDomainSetSchedulerParametersFlags")
        for name, value in params.items():
            if name != "weight":
                raise err(ErrorCode.ARGUMENT_UNSUPPORTED, f"parameter '{name}' not supported",
                          ErrorDomain.NONE)
            if not isinstance(value, int) or isinstance(value, bool):
                raise err(ErrorCode.INVALID_ARG,
                          f"invalid type 'string' for parameter '{name}', expected 'uint'",
                          ErrorDomain.NONE)
        with self._node.lock:
            self._dom(dom)

    # ------------------------------------------------------------------ guest-side fakes

    def domain_get_hostname(self, dom: DomainIdent, flags: int = 0) -> str:
        check_flags(flags, 0, "testDomainGetHostname")
        with self._node.lock:
            check_active(self._dom(dom))
        return f"{dom.name}host"

    def domain_get_time(self, dom: DomainIdent, flags: int = 0) -> tuple[int, int]:
        check_flags(flags, 0, "testDomainGetTime")
        with self._node.lock:
            obj = self._dom(dom)
            if obj.state != RUNNING:
                raise err(ErrorCode.OPERATION_INVALID, "domain is not running")
            return obj.seconds, obj.nseconds

    def domain_get_control_info(self, dom: DomainIdent, flags: int = 0) -> tuple[int, int, int]:
        check_flags(flags, 0, "testDomainGetControlInfo")
        with self._node.lock:
            obj = self._dom(dom)
            check_active(obj)
            s = obj.seconds
            if 0 < s < 10000:
                return 1, 0, s
            if 10000 <= s < 30000:
                return 2, 0, s - 10000
            if 30000 <= s < 60000:
                return 3, s % 4, s - 30000
            return 0, 0, 0

    def domain_inject_nmi(self, dom: DomainIdent, flags: int = 0) -> None:
        check_flags(flags, 0, "testDomainInjectNMI")
        with self._node.lock:
            check_active(self._dom(dom))

    def domain_send_key(
        self, dom: DomainIdent, codeset: int, holdtime: int, keycodes: list[int], flags: int = 0
    ) -> None:
        check_flags(flags, 0, "testDomainSendKey")
        with self._node.lock:
            check_active(self._dom(dom))

    def domain_screenshot(
        self, dom: DomainIdent, screen: int = 0, flags: int = 0
    ) -> tuple[str | None, DataStream]:
        # Like testDomainScreenshot: no domain lookup, libvirt's own test image.
        check_flags(flags, 0, "testDomainScreenshot")
        try:
            return "image/png", FileStream(open(_SCREENSHOT, "rb"))
        except OSError:
            return "image/png", BytesStream(_TINY_PNG)

    def domain_get_messages(self, dom: DomainIdent, flags: int = 0) -> list[str]:
        check_flags(flags, _MESSAGE_TYPES, "testDomainGetMessages")
        with self._node.lock:
            self._dom(dom)
        return []

    # ------------------------------------------------------------------ statistics

    def _disk_known(self, obj: DomainObj, path: str) -> bool:
        if path in defs.disk_targets(obj.defn):
            return True
        devices = obj.defn.devices
        for disk in devices.disks if devices is not None else []:
            src = getattr(disk, "source", None)
            if src is not None and path in (getattr(src, "file", None), getattr(src, "dev", None)):
                return True
        return False

    def domain_block_stats(self, dom: DomainIdent, path: str) -> DomainBlockStats:
        if not path:
            raise err(ErrorCode.OPERATION_UNSUPPORTED, "summary statistics are not supported yet")
        with self._node.lock:
            obj = self._dom(dom)
            check_active(obj)
            if not self._disk_known(obj, path):
                raise err(ErrorCode.INVALID_ARG, f"invalid path: {path}")
        base = _real_time_us()
        return DomainBlockStats(base // 10, base // 20, base // 30, base // 40, base // 2000000)

    def domain_interface_stats(self, dom: DomainIdent, device: str) -> DomainInterfaceStats:
        with self._node.lock:
            obj = self._dom(dom)
            check_active(obj)
            lowered = device.lower()
            if not any(n.ifname == device or n.mac == lowered for n in defs.interfaces(obj.defn)):
                raise err(ErrorCode.INVALID_ARG, f"'{device}' is not a known interface",
                          ErrorDomain.DOMAIN)
        b = _real_time_us()
        return DomainInterfaceStats(b // 10, b // 100, b // 1000000, b // 2000000,
                                    b // 20, b // 110, b // 3000000, b // 4000000)

    def domain_memory_stats(self, dom: DomainIdent, flags: int = 0) -> dict[int, int]:
        check_flags(flags, 0, "testDomainMemoryStats")
        with self._node.lock:
            obj = self._dom(dom)
            check_active(obj)
            if not defs.has_memballoon(obj.defn):
                return {}
            cur = obj.memory
        return {6: cur, 0: 0, 1: 0, 2: 0, 3: 0, 4: cur // 2, 5: cur, 8: cur // 2,
                9: 627319920, 10: cur // 8, 11: 0, 12: 0, 7: cur // 2}

    def domain_get_block_info(self, dom: DomainIdent, path: str, flags: int = 0) -> DomainBlockInfo:
        check_flags(flags, 0, "testDomainGetBlockInfo")
        with self._node.lock:
            obj = self._dom(dom)
            if not self._disk_known(obj, path):
                raise err(ErrorCode.INVALID_ARG, f"invalid path {path} not assigned to domain")
        return DomainBlockInfo(1099506450432, 1099511627776, 1099511627776)

    def domain_interface_addresses(
        self, dom: DomainIdent, source: int, flags: int = 0
    ) -> list[DomainInterface]:
        check_flags(flags, 0, "testDomainInterfaceAddresses")
        if not 0 <= source < 3:
            raise err(ErrorCode.ARGUMENT_UNSUPPORTED, f"Unknown IP address data source {source}")
        with self._node.lock:
            obj = self._dom(dom)
            check_active(obj)
            out = []
            for i, net in enumerate(defs.interfaces(obj.defn)):
                if net.type == "network":
                    addr = self._address_from_network(net.network or "", 20 * (obj.id - 1) + i + 1)
                else:
                    addr = DomainInterfaceAddr(0, f"192.168.0.{1 + i}", 24)
                out.append(DomainInterface(net.ifname, net.mac, [addr]))
            return out

    def _address_from_network(self, name: str, offset: int) -> DomainInterfaceAddr:
        import ipaddress

        net = self._node.networks.get(name)
        if net is None:
            raise err(ErrorCode.NO_NETWORK, f"no network with matching name '{name}'")
        ips = net.defn.ips
        if not ips:
            raise err(ErrorCode.INTERNAL_ERROR, f"network '{name}' has no IP address")
        ip = ips[0]
        iface = ipaddress.ip_interface(
            f"{ip.address}/{ip.prefix or ip.netmask or (64 if ip.family == 'ipv6' else 24)}"
        )
        start = ip.dhcp.ranges[0].start if ip.dhcp is not None and ip.dhcp.ranges else ip.address
        base = ipaddress.ip_address(start)
        family = 1 if base.version == 6 else 0
        return DomainInterfaceAddr(family, str(base + offset), iface.network.prefixlen)

    def connect_get_all_domain_stats(
        self, doms: list[DomainIdent] | None, stats: int = 0, flags: int = 0
    ) -> list[DomainStatsRecord]:
        check_flags(flags, _STATS_LIST_FLAGS | _STATS_NOWAIT | _STATS_BACKING | _STATS_ENFORCE,
                    "testConnectGetAllDomainStats")
        if not stats:
            stats = _STATS_SUPPORTED
        elif flags & _STATS_ENFORCE and stats & ~_STATS_SUPPORTED:
            raise err(ErrorCode.ARGUMENT_UNSUPPORTED,
                      f"Stats types bits 0x{stats & ~_STATS_SUPPORTED:x} are not supported by "
                      "this daemon")
        lflags = flags & _STATS_LIST_FLAGS
        with self._node.lock:
            if doms:
                by_uuid = self._node.domains_by_uuid
                objs = [by_uuid[d.uuid] for d in doms if d.uuid in by_uuid]
            else:
                objs = list(self._node.domains_by_uuid.values())
            records = []
            for obj in objs:
                if lflags and not matches(obj, lflags):
                    continue
                params: TypedParams = {}
                if stats & _STATS_STATE:
                    params["state.state"] = obj.state
                    params["state.reason"] = obj.reason
                records.append(DomainStatsRecord(obj.ident, params))
            return records
