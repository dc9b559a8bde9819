"""The QEMU driver's table: libvirt's hypervisor API on top of :class:`QemuNode`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from virtkit.conf.secure import public_xml
from virtkit.constants import (
    DomainConsoleFlags,
    DomainCreateFlags,
    DomainDefineFlags,
    DomainDestroyFlags,
    DomainDeviceModifyFlags,
    DomainMemoryModFlags,
    DomainMessageType,
    DomainModificationImpact,
    DomainRebootFlags,
    DomainSaveRestoreFlags,
    DomainShutdownFlags,
    DomainUndefineFlags,
    DomainVcpuFlags,
    DomainXMLFlags,
)
from virtkit.drivers import nodeinfo
from virtkit.drivers.base import DomainEventCallback, HypervisorDriver
from virtkit.drivers.domainobj import LIST_DOMAINS_ALL, DomainObjBase, matches
from virtkit.drivers.links import HostDevices
from virtkit.drivers.qemu import node as qn
from virtkit.drivers.qemu.cpuapi import CpuApiMixin
from virtkit.drivers.qemu.jobapi import JobMixin
from virtkit.drivers.qemu.metadata import modification_impact
from virtkit.drivers.qemu.migrateapi import MIGRATION_FEATURES, MigrateMixin
from virtkit.drivers.qemu.node import QemuDomain, QemuNode
from virtkit.drivers.qemu.snapshots import SnapshotMixin
from virtkit.errors import ErrorCode, ErrorDomain, invalid_flags, make_error, no_support
from virtkit.streams import DataStream, FileStream
from virtkit.types import (
    DomainBlockInfo,
    DomainBlockStats,
    DomainIdent,
    DomainInfo,
    DomainInterface,
    DomainInterfaceAddr,
    DomainInterfaceStats,
    DomainStatsRecord,
    NodeDeviceIdent,
    NodeInfo,
    SecurityLabel,
    SecurityModel,
    TypedParams,
)

__all__ = ["QemuDriver"]

_Q = ErrorDomain.QEMU
_LIB_VERSION = 9000000
_MAX_DOMAIN_EVENT_ID = 26


def _all(*flags: int) -> int:
    """The union of flag values (a virCheckFlags mask)."""
    mask = 0
    for f in flags:
        mask |= int(f)
    return mask


# virCheckFlags masks and flag bits, by libvirt's names
_DEFINE_FLAGS = _all(DomainDefineFlags.VALIDATE)
_U = DomainUndefineFlags
_UNDEFINE_FLAGS = _all(_U.MANAGED_SAVE, _U.SNAPSHOTS_METADATA, _U.NVRAM, _U.KEEP_NVRAM,
                       _U.CHECKPOINTS_METADATA, _U.TPM)
_C = DomainCreateFlags
_CREATE_FLAGS = _all(_C.START_PAUSED, _C.START_AUTODESTROY, _C.START_BYPASS_CACHE,
                     _C.START_FORCE_BOOT, _C.START_VALIDATE)
_XML_FLAGS = _all(DomainXMLFlags.SECURE, DomainXMLFlags.INACTIVE, DomainXMLFlags.UPDATE_CPU,
                  DomainXMLFlags.MIGRATABLE)
_XML_INACTIVE = int(DomainXMLFlags.INACTIVE)
_SD = DomainShutdownFlags
_SHUTDOWN_FLAGS = _all(_SD.ACPI_POWER_BTN, _SD.GUEST_AGENT, _SD.INITCTL, _SD.SIGNAL, _SD.PARAVIRT)
_RB = DomainRebootFlags
_REBOOT_FLAGS = _all(_RB.ACPI_POWER_BTN, _RB.GUEST_AGENT, _RB.INITCTL, _RB.SIGNAL, _RB.PARAVIRT)
_DESTROY_FLAGS = _all(DomainDestroyFlags.GRACEFUL)
_DEVICE_FLAGS = _all(DomainDeviceModifyFlags.LIVE, DomainDeviceModifyFlags.CONFIG)
_SR = DomainSaveRestoreFlags
_SAVE_FLAGS = _all(_SR.BYPASS_CACHE, _SR.RUNNING, _SR.PAUSED)
_SAVE_RUNNING, _SAVE_PAUSED = int(_SR.RUNNING), int(_SR.PAUSED)
_V = DomainVcpuFlags
_VCPU_FLAGS = _all(_V.LIVE, _V.CONFIG, _V.MAXIMUM, _V.GUEST, _V.HOTPLUGGABLE)
_VCPU_CONFIG, _VCPU_MAXIMUM = int(_V.CONFIG), int(_V.MAXIMUM)
_M = DomainMemoryModFlags
_MEM_FLAGS = _all(_M.LIVE, _M.CONFIG, _M.MAXIMUM)
_MEM_MAXIMUM = int(_M.MAXIMUM)
_AFFECT_LIVE = int(DomainModificationImpact.LIVE)
_AFFECT_CONFIG = int(DomainModificationImpact.CONFIG)
_AFFECT = _AFFECT_LIVE | _AFFECT_CONFIG
_CONSOLE_FLAGS = _all(DomainConsoleFlags.FORCE, DomainConsoleFlags.SAFE)


def _check_flags(flags: int, allowed: int, function: str) -> None:
    if flags & ~allowed:
        raise invalid_flags(flags & ~allowed, function, _Q)


@cache
def qemu_version(emulator: str = "/usr/bin/qemu-system-x86_64") -> int:
    """QEMU's version as libvirt encodes it (7.2.22 -> 7002022)."""
    try:
        out = subprocess.run([emulator, "--version"], capture_output=True, text=True,
                             timeout=10).stdout
        ver = out.split("version", 1)[1].split()[0]
        major, minor, micro = (int(x) for x in [*ver.split("."), "0", "0"][:3])
        return major * 1_000_000 + minor * 1000 + micro
    except (OSError, IndexError, ValueError, subprocess.TimeoutExpired):
        return 0


# libvirt's virDomainTaintMessage texts, by taint flag
TAINT_MESSAGES = {"high-privileges": "running with undesirable elevated privileges"}


def _taints(d: QemuDomain) -> list[str]:
    """qemuDomainObjCheckTaint's flags for a running domain: a privileged driver running
    QEMU as user or group 0 taints it 'high-privileges' (virtkit has no DAC driver yet,
    so QEMU runs with the daemon's ids)."""
    proc = d.proc
    if not d.active or proc is None:
        return []
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            ids = {k: v.split() for k, _, v in (line.partition(":") for line in f)
                   if k in ("Uid", "Gid")}
    except OSError:
        return []
    root = ids.get("Uid", [""])[0] == "0" or ids.get("Gid", [""])[0] == "0"
    return ["high-privileges"] if root and os.geteuid() == 0 else []


class QemuDriver(JobMixin, MigrateMixin, SnapshotMixin, CpuApiMixin, HypervisorDriver):
    """One connection to a QEMU node."""

    name = "QEMU"

    def __init__(self, node: QemuNode, uri: str,
                 on_close: list[Callable[[], None]] | None = None) -> None:
        self._node = node
        self._uri = uri
        self._closed = False
        self._on_close = on_close or []  # the connection's other tables (network ...)
        # the node-device driver's PCI devices, linked by drivers/compose.py
        self.hostdevs: Callable[[], HostDevices] | None = None

    def _dom(self, ident: DomainIdent) -> QemuDomain:
        return self._node.get(ident)

    # ------------------------------------------------------------ connection

    # ------------------------------------------------------------ host devices

    def _hostdevs(self) -> HostDevices:
        if self.hostdevs is None:
            raise no_support("virNodeDeviceDetachFlags")
        return self.hostdevs()

    def node_device_dettach(self, dev: NodeDeviceIdent) -> None:
        self._hostdevs().detach(dev.name)

    def node_device_detach_flags(self, dev: NodeDeviceIdent, driver_name: str | None = None,
                                 flags: int = 0) -> None:
        self._hostdevs().detach(dev.name, driver_name, flags)

    def node_device_re_attach(self, dev: NodeDeviceIdent) -> None:
        self._hostdevs().reattach(dev.name)

    def node_device_reset(self, dev: NodeDeviceIdent) -> None:
        self._hostdevs().reset(dev.name)

    def connect_close(self) -> None:
        if not self._closed:
            self._closed = True
            self._node.events.drop_owner(self)
            self._node.fd_groups.close(self)  # the groups this connection associated
            qn.release(self._node)
            for close in self._on_close:
                close()

    def connect_get_type(self) -> str:
        return "QEMU"

    def connect_get_version(self) -> int:
        return qemu_version()

    def connect_get_lib_version(self) -> int:
        return _LIB_VERSION

    def connect_get_hostname(self) -> str:
        return nodeinfo.hostname()

    def connect_get_uri(self) -> str:
        return self._uri

    def connect_get_max_vcpus(self, type: str | None = None) -> int:
        return 255 if (type or "kvm").lower() == "qemu" else 288

    def connect_get_capabilities(self) -> str:
        from virtkit.drivers.qemu.caps import capabilities_xml, node_host_uuid

        paths = self._node.paths
        return capabilities_xml(host_uuid=node_host_uuid(paths.root, paths.embedded))

    def connect_get_domain_capabilities(
        self,
        emulatorbin: str | None = None,
        arch: str | None = None,
        machine: str | None = None,
        virttype: str | None = None,
        flags: int = 0,
    ) -> str:
        from virtkit.drivers.qemu import domcaps, qemucaps_probe

        _check_flags(flags, 0, "qemuConnectGetDomainCapabilities")
        emulator = domcaps.check_args(emulatorbin or None, arch or None, virttype or None)
        probe = qemucaps_probe.probe(emulator, self._node.paths.cache_dir)
        target = domcaps.resolve(probe, emulator, arch or None, machine or None,
                                 virttype or None)
        return domcaps.build(probe, target)

    def connect_is_secure(self) -> bool:
        return True

    def connect_is_encrypted(self) -> bool:
        return False

    def connect_is_alive(self) -> bool:
        return not self._closed

    def connect_supports_feature(self, feature: int) -> bool:
        # FD_PASSING, TYPED_PARAM_STRING, migration
        return feature in (8, 9) or feature in MIGRATION_FEATURES

    # ------------------------------------------------------------ node

    def node_get_info(self) -> NodeInfo:
        return nodeinfo.node_info()

    def node_get_free_memory(self) -> int:
        return nodeinfo.free_memory_bytes()

    def node_get_cells_free_memory(self, start_cell: int, max_cells: int) -> list[int]:
        return nodeinfo.cells_free_memory(start_cell, max_cells)

    def node_get_cpu_map(self, flags: int = 0) -> tuple[int, list[bool], int]:
        return nodeinfo.cpu_map(flags)

    def node_get_cpu_stats(self, cpu_num: int, flags: int = 0) -> dict[str, int]:
        return nodeinfo.cpu_stats(cpu_num, flags)

    def node_get_memory_stats(self, cell_num: int, flags: int = 0) -> dict[str, int]:
        return nodeinfo.memory_stats(cell_num, flags)

    def node_get_free_pages(self, pages: list[int], start_cell: int, cell_count: int,
                            flags: int = 0) -> list[int]:
        return nodeinfo.free_pages(pages, start_cell, cell_count, flags, domain=_Q)

    def node_get_memory_parameters(self, flags: int = 0) -> TypedParams:
        return nodeinfo.memory_parameters(flags)

    def node_set_memory_parameters(self, params: TypedParams, flags: int = 0) -> None:
        nodeinfo.set_memory_parameters(params, flags)

    def node_get_sev_info(self, flags: int = 0) -> TypedParams:
        return nodeinfo.sev_info(flags)

    def node_get_security_model(self) -> SecurityModel:
        return SecurityModel("none", "0")

    # ------------------------------------------------------------ listing and lookup

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainIdent]:
        _check_flags(flags, LIST_DOMAINS_ALL, "qemuConnectListAllDomains")
        node = self._node
        with node.lock:
            doms = node.domains.list_all(0)
        return [d.ident() for d in doms if not flags or matches(d, flags, self._managed_saved)]

    def _managed_saved(self, d: DomainObjBase) -> bool:
        """The list filter's MANAGEDSAVE test: the domain's managed save file exists."""
        return os.path.exists(self._node.paths.managed_save_file(d.name))

    def connect_num_of_domains(self) -> int:
        with self._node.lock:
            return self._node.domains.num_active()

    def connect_list_domains(self, maxids: int) -> list[int]:
        with self._node.lock:
            return self._node.domains.active_ids(maxids, sort=True)

    def connect_num_of_defined_domains(self) -> int:
        with self._node.lock:
            return self._node.domains.num_inactive()

    def connect_list_defined_domains(self, maxnames: int) -> list[str]:
        with self._node.lock:
            return self._node.domains.inactive_names(maxnames, sort=True)

    def domain_lookup_by_id(self, id: int) -> DomainIdent:
        with self._node.lock:
            return self._node.domains.find_by_id(id).ident()

    def domain_lookup_by_name(self, name: str) -> DomainIdent:
        with self._node.lock:
            return self._node.domains.find_by_name(name).ident()

    def domain_lookup_by_uuid(self, uuid: str) -> DomainIdent:
        with self._node.lock:
            return self._node.domains.find_by_uuid(uuid).ident()

    # ------------------------------------------------------------ definitions

    def domain_define_xml(self, xml: str, flags: int = 0) -> DomainIdent:
        _check_flags(flags, _DEFINE_FLAGS, "qemuDomainDefineXMLFlags")
        return self._node.define(xml).ident()

    def domain_undefine(self, dom: DomainIdent, flags: int = 0) -> None:
        _check_flags(flags, _UNDEFINE_FLAGS, "qemuDomainUndefineFlags")
        self._node.undefine(self._dom(dom), flags)

    def domain_create_xml(self, xml: str, flags: int = 0) -> DomainIdent:
        _check_flags(flags, _CREATE_FLAGS, "qemuDomainCreateXML")
        return self._node.create_transient(xml, flags).ident()

    def domain_create(self, dom: DomainIdent, flags: int = 0) -> DomainIdent:
        _check_flags(flags, _CREATE_FLAGS, "qemuDomainCreateWithFlags")
        d = self._dom(dom)
        self._node.start(d, flags)
        return d.ident()

    def domain_get_xml_desc(self, dom: DomainIdent, flags: int = 0) -> str:
        _check_flags(flags, _XML_FLAGS, "qemuDomainGetXMLDesc")
        with public_xml(not flags & DomainXMLFlags.SECURE):
            return self._node.domain_xml(self._dom(dom), inactive=bool(flags & _XML_INACTIVE))

    def domain_get_os_type(self, dom: DomainIdent) -> str:
        return self._dom(dom).definition().os_type or "hvm"

    def domain_is_active(self, dom: DomainIdent) -> bool:
        return self._dom(dom).active

    def domain_is_persistent(self, dom: DomainIdent) -> bool:
        return self._dom(dom).persistent is not None

    def domain_is_updated(self, dom: DomainIdent) -> bool:
        return False

    def domain_get_autostart(self, dom: DomainIdent) -> bool:
        return self._dom(dom).autostart

    def domain_set_autostart(self, dom: DomainIdent, autostart: bool) -> None:
        self._node.set_autostart(self._dom(dom), bool(autostart))

    def domain_has_managed_save_image(self, dom: DomainIdent, flags: int = 0) -> bool:
        d = self._dom(dom)
        return os.path.exists(self._node.paths.managed_save_file(d.name))

    def domain_managed_save_remove(self, dom: DomainIdent, flags: int = 0) -> None:
        d = self._dom(dom)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._node.paths.managed_save_file(d.name))

    # ------------------------------------------------------------ life cycle

    def domain_shutdown(self, dom: DomainIdent, flags: int = 0) -> None:
        _check_flags(flags, _SHUTDOWN_FLAGS, "qemuDomainShutdownFlags")
        self._node.shutdown(self._dom(dom), flags)

    def domain_reboot(self, dom: DomainIdent, flags: int = 0) -> None:
        _check_flags(flags, _REBOOT_FLAGS, "qemuDomainReboot")
        self._node.reboot(self._dom(dom))

    def domain_reset(self, dom: DomainIdent, flags: int = 0) -> None:
        _check_flags(flags, 0, "qemuDomainReset")
        self._node.reset(self._dom(dom))

    def domain_destroy(self, dom: DomainIdent, flags: int = 0) -> None:
        _check_flags(flags, _DESTROY_FLAGS, "qemuDomainDestroyFlags")
        self._node.destroy(self._dom(dom), flags)

    def domain_suspend(self, dom: DomainIdent) -> None:
        self._node.suspend(self._dom(dom))

    def domain_resume(self, dom: DomainIdent) -> None:
        self._node.resume(self._dom(dom))

    # ------------------------------------------------------------ devices

    def domain_attach_device_flags(self, dom: DomainIdent, xml: str, flags: int = 0) -> None:
        _check_flags(flags, _DEVICE_FLAGS, "qemuDomainAttachDeviceFlags")
        from virtkit.drivers.qemu import hotplug

        hotplug.attach(self._node, self._dom(dom), xml, flags)

    def domain_detach_device_flags(self, dom: DomainIdent, xml: str, flags: int = 0) -> None:
        _check_flags(flags, _DEVICE_FLAGS, "qemuDomainDetachDeviceFlags")
        from virtkit.drivers.qemu import hotplug

        hotplug.detach(self._node, self._dom(dom), xml, flags)

    def domain_update_device_flags(self, dom: DomainIdent, xml: str, flags: int = 0) -> None:
        _check_flags(flags, _DEVICE_FLAGS | int(DomainDeviceModifyFlags.FORCE),
                     "qemuDomainUpdateDeviceFlags")
        from virtkit.drivers.qemu import devupdate

        devupdate.update(self._node, self._dom(dom), xml, flags)

    # ------------------------------------------------------------ metadata

    def domain_get_metadata(self, dom: DomainIdent, type: int, uri: str | None = None,
                            flags: int = 0) -> str:
        from virtkit.drivers.qemu import metadata

        return metadata.get_metadata(self._dom(dom), type, uri, flags)

    def domain_set_metadata(self, dom: DomainIdent, type: int, metadata: str | None,
                            key: str | None = None, uri: str | None = None,
                            flags: int = 0) -> None:
        _check_flags(flags, _AFFECT, "qemuDomainSetMetadata")
        from virtkit.drivers.qemu import metadata as qmeta

        qmeta.set_metadata(self._node, self._dom(dom), type, metadata, key, uri, flags)

    def _disk_counters(self, dom: DomainIdent, path: str) -> dict[str, int]:
        """QEMU's counters of the disk named by target or source path; all disks summed
        for an empty path (as libvirt's qemu driver does)."""
        from virtkit.drivers.qemu.stats import disk_io_counters

        d = self._dom(dom)
        if not d.active:
            raise make_error(ErrorCode.OPERATION_INVALID, _Q, "domain is not running")
        counters = disk_io_counters(d)
        if path:
            devices = d.definition().devices
            for disk in devices.disks if devices is not None else []:
                target = disk.target.dev if disk.target is not None else None
                if target and path in (target, d.disk_path(disk)):
                    if target not in counters:
                        break
                    return counters[target]
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             f"invalid path: {path}")
        total: dict[str, int] = {}
        for stats in counters.values():
            for key, value in stats.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    total[key] = total.get(key, 0) + value
        return total

    def domain_block_stats(self, dom: DomainIdent, path: str) -> DomainBlockStats:
        s = self._disk_counters(dom, path)
        return DomainBlockStats(s.get("rd_operations", 0), s.get("rd_bytes", 0),
                                s.get("wr_operations", 0), s.get("wr_bytes", 0), -1)

    def domain_block_stats_flags(self, dom: DomainIdent, path: str, flags: int = 0
                                 ) -> TypedParams:
        """libvirt's qemu fields (qemuDomainBlockStatsFlags), times in nanoseconds."""
        s = self._disk_counters(dom, path)
        return {"rd_bytes": s.get("rd_bytes", 0), "rd_operations": s.get("rd_operations", 0),
                "rd_total_times": s.get("rd_total_time_ns", 0),
                "wr_bytes": s.get("wr_bytes", 0), "wr_operations": s.get("wr_operations", 0),
                "wr_total_times": s.get("wr_total_time_ns", 0),
                "flush_operations": s.get("flush_operations", 0),
                "flush_total_times": s.get("flush_total_time_ns", 0)}

    def domain_interface_stats(self, dom: DomainIdent, device: str) -> DomainInterfaceStats:
        """domifstat: the counters of the interface's tap (named, or found by MAC), as the
        guest sees them (the host's rx is the guest's tx, as libvirt swaps them)."""
        from virtkit.drivers.qemu.procstats import net_dev

        d = self._dom(dom)
        if not d.active:
            raise make_error(ErrorCode.OPERATION_INVALID, _Q, "domain is not running")
        devices = d.definition().devices
        for iface in devices.interfaces if devices is not None else []:
            tap = str(iface.target.dev) if iface.target is not None and iface.target.dev else None
            mac = iface.mac.address.lower() if iface.mac is not None and iface.mac.address else None
            if tap and device in (tap, mac):
                c = net_dev().get(tap)
                if c is not None and len(c) >= 12:
                    return DomainInterfaceStats(c[8], c[9], c[10], c[11], c[0], c[1], c[2], c[3])
        raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                         f"'{device}' is not a known interface")

    def domain_interface_addresses(self, dom: DomainIdent, source: int = 0,
                                   flags: int = 0) -> list[DomainInterface]:
        """domifaddr: from the DHCP leases of the domain's networks (LEASE=0) or the host's
        ARP table (ARP=2); the guest agent source (1) is not supported yet."""
        _check_flags(flags, 0, "qemuDomainInterfaceAddresses")
        d = self._dom(dom)
        if not d.active:
            raise make_error(ErrorCode.OPERATION_INVALID, _Q, "domain is not running")
        if source not in (0, 2):
            raise make_error(ErrorCode.ARGUMENT_UNSUPPORTED, _Q,
                             f"argument unsupported: Unknown IP address data source {source}")
        devices = d.definition().devices
        out = []
        arp = _arp_table() if source == 2 else {}
        for iface in devices.interfaces if devices is not None else []:
            mac = iface.mac.address.lower() if iface.mac is not None and iface.mac.address else ""
            name = str(iface.target.dev) if iface.target is not None and iface.target.dev else "-"
            if source == 0:
                if iface.type != "network" or self._node.lease_lookup is None:
                    continue
                addrs = [DomainInterfaceAddr(x.type, x.ipaddr, x.prefix)
                         for x in self._node.lease_lookup(mac)]
            else:
                addrs = [DomainInterfaceAddr(0, ip, 0) for ip in arp.get(mac, [])]
            if addrs:
                out.append(DomainInterface(name, mac, addrs))
        return out

    def domain_get_block_info(self, dom: DomainIdent, path: str,
                              flags: int = 0) -> DomainBlockInfo:
        qdom = self._dom(dom)
        d = qdom.definition()
        disks = d.devices.disks if d.devices is not None else []
        for disk in disks:
            src = qdom.disk_path(disk)
            target = disk.target.dev if disk.target is not None else None
            if path in (target, src) and src:
                return _block_info(src)
        raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE, f"invalid path {path} not "
                         "assigned to domain")

    # ------------------------------------------------------------ save and restore

    def domain_save(self, dom: DomainIdent, to: str, dxml: str | None = None,
                    flags: int = 0) -> None:
        _check_flags(flags, _SAVE_FLAGS, "qemuDomainSaveFlags")
        self._node.save(self._dom(dom), to, dxml, flags)

    def domain_restore(self, frm: str, dxml: str | None = None, flags: int = 0) -> None:
        _check_flags(flags, _SAVE_FLAGS, "qemuDomainRestoreFlags")
        self._node.restore(frm, dxml, flags)

    def domain_managed_save(self, dom: DomainIdent, flags: int = 0) -> None:
        _check_flags(flags, _SAVE_FLAGS, "qemuDomainManagedSave")
        d = self._dom(dom)
        if d.persistent is None:
            raise make_error(ErrorCode.OPERATION_INVALID, _Q,
                             "cannot do managed save for transient domain")
        self._node.save(d, self._node.paths.managed_save_file(d.name), None, flags)

    def domain_save_image_get_xml_desc(self, file: str, flags: int = 0) -> str:
        from virtkit.drivers.qemu.saveimage import SaveImage

        return SaveImage.open(file).xml

    def domain_save_image_define_xml(self, file: str, dxml: str, flags: int = 0) -> None:
        from virtkit.drivers.qemu.defs import format_def, parse_def
        from virtkit.drivers.qemu.saveimage import SaveImage

        image = SaveImage.open(file)
        if flags & _SAVE_RUNNING:
            image.was_running = True
        elif flags & _SAVE_PAUSED:
            image.was_running = False
        image.set_xml(format_def(parse_def(dxml), -1))

    # ------------------------------------------------------------ state

    def domain_get_state(self, dom: DomainIdent, flags: int = 0) -> tuple[int, int]:
        d = self._dom(dom)
        return d.state, d.reason

    def domain_get_info(self, dom: DomainIdent) -> DomainInfo:
        d = self._dom(dom)
        defn = d.definition()
        memory = defn.current_memory_kib
        if d.active and d.mon is not None:
            try:
                memory = int(d.mon.execute("query-balloon", timeout=2.0)["actual"]) // 1024
            except Exception:  # no balloon device, or a busy monitor: the configured value
                memory = defn.current_memory_kib
        return DomainInfo(d.state, defn.memory_kib, memory, defn.vcpus_current,
                          self._node.cpu_time_ns(d))

    def domain_get_max_memory(self, dom: DomainIdent) -> int:
        return self._dom(dom).definition().memory_kib

    def domain_get_max_vcpus(self, dom: DomainIdent) -> int:
        d = self._dom(dom)
        if not d.active:
            raise make_error(ErrorCode.OPERATION_INVALID, _Q, "domain is not running")
        return d.definition().vcpus_max

    def domain_get_vcpus_flags(self, dom: DomainIdent, flags: int = 0) -> int:
        d = self._dom(dom).definition(inactive=bool(flags & _VCPU_CONFIG))
        return d.vcpus_max if flags & _VCPU_MAXIMUM else d.vcpus_current

    def domain_get_security_label(self, dom: DomainIdent) -> SecurityLabel:
        self._dom(dom)
        return SecurityLabel("", False)

    def domain_get_control_info(self, dom: DomainIdent, flags: int = 0) -> tuple[int, int, int]:
        self._dom(dom)
        return 0, 0, 0

    def domain_get_messages(self, dom: DomainIdent, flags: int = 0) -> list[str]:
        """qemuDomainGetMessages: the taint of a running domain (no deprecations yet)."""
        _check_flags(flags, DomainMessageType.DEPRECATION | DomainMessageType.TAINTING,
                     "qemuDomainGetMessages")
        d = self._dom(dom)
        if flags and not flags & DomainMessageType.TAINTING:
            return []
        return [f"tainted: {TAINT_MESSAGES[t]}" for t in _taints(d)]

    def domain_set_memory_flags(self, dom: DomainIdent, memory: int, flags: int = 0) -> None:
        """Current memory (balloon, live) or, with MAXIMUM, the configured maximum."""
        _check_flags(flags, _MEM_FLAGS, "qemuDomainSetMemoryFlags")
        d = self._dom(dom)
        live, config = modification_impact(d, flags)
        if flags & _MEM_MAXIMUM:
            if live:
                raise make_error(ErrorCode.OPERATION_INVALID, _Q,
                                 "cannot resize the maximum memory on an active domain")
            self._node.update_config(d, lambda p: _set_max_memory(p, memory))
            return
        if config:
            def set_current(p: Any) -> None:
                if memory > p.memory_kib:
                    raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                                     "cannot set memory higher than max memory")
                p.current_memory_kib = memory
            self._node.update_config(d, set_current)
        if live:
            if memory > d.definition().memory_kib:
                raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                                 "cannot set memory higher than max memory")
            d.mon.execute("balloon", {"value": memory * 1024})
            live_def = d.live
            if live_def is not None:
                live_def.current_memory_kib = memory

    def domain_set_max_memory(self, dom: DomainIdent, memory: int) -> None:
        """virDomainSetMaxMemory = SetMemoryFlags(MAXIMUM | CURRENT)."""
        self.domain_set_memory_flags(dom, memory, _MEM_MAXIMUM)

    def domain_set_vcpus_flags(self, dom: DomainIdent, nvcpus: int, flags: int = 0) -> None:
        """vCPU counts in the persistent config (live vCPU hot-plug is not supported)."""
        _check_flags(flags, _VCPU_FLAGS, "qemuDomainSetVcpusFlags")
        d = self._dom(dom)
        live, _ = modification_impact(d, flags & _AFFECT)
        if live:
            raise make_error(ErrorCode.OPERATION_UNSUPPORTED, _Q,
                             "changing the vCPU count of a running domain is not supported")
        if nvcpus < 1:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             "argument unsupported: nvcpus must be at least 1")

        def change(p: Any) -> None:
            if flags & _VCPU_MAXIMUM:
                p.vcpus_max = nvcpus
                p.vcpus_current = min(p.vcpus_current, nvcpus)
            else:
                if nvcpus > p.vcpus_max:
                    raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                                     f"requested vcpus is greater than max allowable vcpus "
                                     f"for the persistent domain: {nvcpus} > {p.vcpus_max}")
                p.vcpus_current = nvcpus
        self._node.update_config(d, change)

    # ------------------------------------------------------------ stats

    def connect_get_all_domain_stats(
        self, doms: list[DomainIdent] | None, stats: int = 0, flags: int = 0
    ) -> list[DomainStatsRecord]:
        from virtkit.drivers.qemu.stats import domain_stats

        node = self._node
        if doms:
            targets = [self._dom(i) for i in doms]
        else:
            with node.lock:
                every = node.domains.list_all(0)
            # the filter may look for managed save files: not under the node lock
            targets = [d for d in every
                       if matches(d, flags & LIST_DOMAINS_ALL, self._managed_saved)]
        return [DomainStatsRecord(d.ident(), domain_stats(node, d, stats)) for d in targets]

    def domain_memory_stats(self, dom: DomainIdent, flags: int = 0) -> dict[int, int]:
        from virtkit.drivers.qemu.stats import memory_stats

        _check_flags(flags, 0, "qemuDomainMemoryStats")
        d = self._dom(dom)
        if not d.active:  # virDomainObjCheckActive
            raise make_error(ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN,
                             "domain is not running")
        return memory_stats(self._node, d)

    def domain_set_memory_stats_period(self, dom: DomainIdent, period: int,
                                       flags: int = 0) -> None:
        from virtkit.drivers.qemu import balloon

        balloon.set_memory_stats_period(self._node, self._dom(dom), period, flags)

    # ------------------------------------------------------------ streams

    def domain_screenshot(self, dom: DomainIdent, screen: int = 0,
                          flags: int = 0) -> tuple[str | None, DataStream]:
        _check_flags(flags, 0, "qemuDomainScreenshot")
        d = self._dom(dom)
        if not d.active or d.mon is None:
            raise make_error(ErrorCode.OPERATION_INVALID, _Q, "domain is not running")
        fd, path = tempfile.mkstemp(prefix="screenshot-", suffix=".ppm", dir=d.run_dir)
        os.close(fd)
        try:
            d.mon.execute("screendump", {"filename": path})
            f = open(path, "rb")  # noqa: SIM115  (closed by the stream)
        finally:
            os.unlink(path)
        return "image/x-portable-pixmap", FileStream(f)

    def domain_open_console(self, dom: DomainIdent, dev_name: str | None = None,
                            flags: int = 0) -> DataStream:
        _check_flags(flags, _CONSOLE_FLAGS, "qemuDomainOpenConsole")
        from virtkit.drivers.qemu.console import PtyStream

        d = self._dom(dom)
        if not d.active or d.mon is None:
            raise make_error(ErrorCode.OPERATION_INVALID, _Q, "domain is not running")
        ptys = {c["label"]: c["filename"][4:] for c in d.mon.execute("query-chardev")
                if str(c.get("filename", "")).startswith("pty:")}
        if dev_name:
            label = "char" + ("serial0" if dev_name == "console0" else dev_name)
            path = ptys.get(label)
        else:
            labels = sorted(k for k in ptys if k.startswith(("charserial", "charconsole")))
            path = ptys[labels[0]] if labels else None
        if path is None:
            raise make_error(ErrorCode.INTERNAL_ERROR, _Q,
                             f"cannot find character device {dev_name or '<null>'}")
        return PtyStream(path)

    # ------------------------------------------------------------ file descriptors

    def domain_open_graphics(self, dom: DomainIdent, idx: int, fd: int, flags: int = 0) -> None:
        """virDomainOpenGraphics: attach the caller's socket ``fd`` to display ``idx``."""
        from virtkit.drivers.qemu.graphicsfd import open_graphics

        open_graphics(self._dom(dom), idx, fd, flags)

    def domain_open_graphics_fd(self, dom: DomainIdent, idx: int, flags: int = 0) -> int:
        """virDomainOpenGraphicsFD: a socket connected to display ``idx`` (the caller's)."""
        from virtkit.drivers.qemu.graphicsfd import open_graphics_fd

        return open_graphics_fd(self._dom(dom), idx, flags)

    def domain_open_channel(self, dom: DomainIdent, name: str | None = None,
                            flags: int = 0) -> DataStream:
        """virDomainOpenChannel: a two-way stream to the channel's unix socket."""
        from virtkit.drivers.qemu.channel import open_channel

        return open_channel(self._dom(dom), name, flags)

    def domain_fd_associate(self, dom: DomainIdent, name: str, fds: Sequence[int],
                            flags: int = 0) -> None:
        """virDomainFDAssociate: keep copies of ``fds`` as group ``name`` of the domain."""
        self._node.fd_groups.associate(self._dom(dom).uuid, name, list(fds), flags, self)

    # ------------------------------------------------------------ events

    def connect_domain_event_register_any(
        self, dom: DomainIdent | None, event_id: int, callback: DomainEventCallback
    ) -> int:
        if not 0 <= event_id <= _MAX_DOMAIN_EVENT_ID:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             f"unsupported event ID {event_id}")
        uuid = getattr(dom, "uuid", None)
        return self._node.events.register("domain", event_id, uuid, callback, self)

    def connect_domain_event_deregister_any(self, callback_id: int) -> None:
        self._node.events.deregister(callback_id, self)

    def domain_get_scheduler_type(self, dom: DomainIdent) -> tuple[str, int]:
        self._dom(dom)
        return "posix", 0

    def domain_get_scheduler_parameters(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        self._dom(dom)
        return {}


def _arp_table() -> dict[str, list[str]]:
    """MAC -> IPv4 addresses the host's neighbour table holds (/proc/net/arp)."""
    out: dict[str, list[str]] = {}
    try:
        with open("/proc/net/arp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if len(parts) >= 4 and parts[3] != "00:00:00:00:00:00":
                    out.setdefault(parts[3].lower(), []).append(parts[0])
    except OSError:
        pass
    return out


def _set_max_memory(p: Any, memory: int) -> None:
    p.memory_kib = memory
    if p.current_memory_kib > memory:
        p.current_memory_kib = memory


def _block_info(path: str) -> DomainBlockInfo:
    """Capacity, allocation and physical size of an image (``qemu-img info``)."""
    import json

    try:
        out = subprocess.run(["qemu-img", "info", "-U", "--output=json", path],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        info = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise make_error(ErrorCode.OPERATION_FAILED, _Q,
                         f"cannot read image '{path}': {exc}") from None
    physical = os.stat(path).st_size
    return DomainBlockInfo(int(info.get("virtual-size", 0)),
                           int(info.get("actual-size", physical)), physical)
