"""The migration pre-check (``virtkit migrate --dry-run``): every reason a migration of one
domain to a destination would fail, found at once, without moving or changing anything.

It asks both sides through the library (public calls, so libvirtd can be either side):
the source's state, snapshots and jobs, the XML that would travel, the destination's
domains, capabilities, domain capabilities, CPU comparison, networks, host interfaces or
node devices, storage volumes and pools, and both sides' migration features. Each finding
is a :class:`MigrationBlocker` carrying the libvirt error (code, error domain, message)
the real migration reports for it, and where it comes from.

One call is not public: the source's ``Begin3`` phase, made without CHANGE_PROTECTION (it
takes no job that outlives the call, as libvirt's Begin without protection). Its refusal
is libvirt's own first source-side error (flags, parameters, what a driver does not do);
its cookie names the source's host UUID, compared with the destination's for libvirt's
"Attempt to migrate guest to the same host".
"""

from __future__ import annotations

import contextlib
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from virtkit.constants import CPUCompareResult, DomainJobType, DomainXMLFlags
from virtkit.constants import DomainMigrateFlags as F
from virtkit.errors import VirtError, format_message
from virtkit.errtables import ErrorCode, ErrorDomain

if TYPE_CHECKING:
    from virtkit.connection import Connection
    from virtkit.handles.domain import Domain
    from virtkit.types import TypedParams

__all__ = ["MigrationBlocker", "check_migration"]

Side = Literal["source", "destination"]
_COPY_STORAGE = int(F.NON_SHARED_DISK | F.NON_SHARED_INC)
# VIR_DRV_FEATURE_*: what libvirt's client asks before it picks a protocol
_FEATURE_P2P, _FEATURE_V3, _FEATURE_OFFLINE, _FEATURE_PARAMS = 4, 6, 12, 13
_MIGRATABLE = int(DomainXMLFlags.SECURE | DomainXMLFlags.MIGRATABLE)


@dataclass(frozen=True)
class MigrationBlocker:
    """One reason the migration would fail: libvirt's error ``code`` (virErrorNumber),
    error ``domain`` (virErrorDomain), the ``message`` the migration would report, and
    ``where`` it comes from ("source" or "destination")."""

    code: int
    domain: int
    message: str
    where: Side

    @property
    def code_name(self) -> str:
        """libvirt's name of the code, ``VIR_ERR_OPERATION_INVALID``."""
        try:
            return f"VIR_ERR_{ErrorCode(self.code).name}"
        except ValueError:
            return str(self.code)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "code_name": self.code_name}

    def __str__(self) -> str:
        return f"{self.where}: {self.code_name}: {self.message}"


def _blocker(code: int, detail: str, where: Side,
             domain: int = ErrorDomain.QEMU) -> MigrationBlocker:
    return MigrationBlocker(int(code), int(domain), format_message(code, detail), where)


def _from_error(exc: VirtError, where: Side) -> MigrationBlocker:
    return MigrationBlocker(int(exc.code), int(exc.domain), str(exc), where)


class _Found:
    """The blockers found so far, without duplicates, in the order found."""

    def __init__(self) -> None:
        self.items: list[MigrationBlocker] = []

    def add(self, blocker: MigrationBlocker) -> None:
        if all((b.code, b.message) != (blocker.code, blocker.message) for b in self.items):
            self.items.append(blocker)

    def probe(self, where: Side, call: Callable[[], Any]) -> Any:
        """``call()``; its VirtError becomes a blocker (and None the answer)."""
        try:
            return call()
        except VirtError as exc:
            self.add(_from_error(exc, where))
            return None


def check_migration(dom: Domain, dest: Connection, flags: int = 0,
                    params: TypedParams | None = None) -> list[MigrationBlocker]:
    """Every blocker of migrating ``dom`` to ``dest`` with VIR_MIGRATE_* ``flags`` and
    VIR_MIGRATE_PARAM_* ``params`` (an empty list: nothing found)."""
    params = dict(params or {})
    found = _Found()
    src_uuid = _check_source(dom, flags, params, found)
    xml = _travelling_xml(dom, flags, params, found)
    _check_features(dom.connection, dest, flags, found)
    if xml is None:
        return found.items
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        found.add(_blocker(ErrorCode.XML_ERROR, f"(domain_definition): {exc}", "destination",
                           ErrorDomain.DOMAIN))
        return found.items
    dname = params.get("destination_name")
    name = dname if isinstance(dname, str) and dname else root.findtext("name", "")
    _check_clash(dest, name, root.findtext("uuid", ""), found)
    caps = found.probe("destination", dest.capabilities)
    if caps is not None:
        dest_uuid = ET.fromstring(caps).findtext("host/uuid", "")
        if src_uuid and dest_uuid and src_uuid == dest_uuid:
            found.add(_blocker(ErrorCode.INTERNAL_ERROR,
                               f"Attempt to migrate guest to the same host {src_uuid}",
                               "destination"))
    _check_platform(dest, root, caps, found)
    _check_interfaces(dest, root, found)
    _check_disks(dest, root, flags, params, found)
    return found.items


# ---------------------------------------------------------------- source


def _check_source(dom: Domain, flags: int, params: TypedParams, found: _Found) -> str:
    """qemuMigrationSrcBeginPhase's and qemuMigrationSrcIsAllowed's checks, then the
    source's own Begin3; the source's host UUID from Begin's cookie ("" without it)."""
    active = bool(found.probe("source", dom.is_active))
    persistent = bool(found.probe("source", dom.is_persistent))
    invalid = ErrorCode.OPERATION_INVALID
    if flags & F.OFFLINE:
        if flags & _COPY_STORAGE:
            found.add(_blocker(invalid, "offline migration cannot handle non-shared storage",
                               "source"))
        if not flags & F.PERSIST_DEST:
            found.add(_blocker(invalid, "offline migration must be specified with the "
                               "persistent flag set", "source"))
        if flags & F.TUNNELLED:
            found.add(_blocker(invalid, "tunnelled offline migration does not make sense",
                               "source"))
        if not persistent and not active:
            found.add(_blocker(invalid, "domain is not running", "source"))
    elif not active:
        found.add(_blocker(invalid, "domain is not running", "source"))
    snapshots = found.probe("source", dom.list_snapshots)
    if snapshots:
        found.add(_blocker(invalid, f"cannot migrate domain with {len(snapshots)} snapshots",
                           "source"))
    if active:
        job = _lookup(dom.job_info)  # a driver without job info runs no migration job
        if job is not None and job.type in (DomainJobType.BOUNDED, DomainJobType.UNBOUNDED):
            found.add(_blocker(invalid, "another migration job is already running for "
                               f"domain '{dom.name}'", "source"))
    hv = dom.connection.tables.hypervisor
    begin = found.probe("source", lambda: hv.domain_migrate_begin3_params(
        dom.ident, params, flags & ~int(F.CHANGE_PROTECTION)))
    if begin is None:
        return ""
    with contextlib.suppress(ET.ParseError):
        cookie = ET.fromstring(bytes(begin[0]).rstrip(b"\0").decode("utf-8", "replace"))
        return cookie.findtext("hostuuid", "")
    return ""


def _travelling_xml(dom: Domain, flags: int, params: TypedParams,
                    found: _Found) -> str | None:
    """The definition the destination would receive: ``destination_xml`` or the source's
    migratable XML (the inactive one for an offline migration of an inactive domain)."""
    given = params.get("destination_xml")
    if isinstance(given, str):
        return given
    xmlflags = _MIGRATABLE
    if flags & F.OFFLINE and not found.probe("source", dom.is_active):
        xmlflags |= int(DomainXMLFlags.INACTIVE)
    text: str | None = found.probe("source", lambda: dom.xml(xmlflags))
    return text


def _check_features(src: Connection, dest: Connection, flags: int, found: _Found) -> None:
    """virConnectSupportsFeature on both sides, as virDomainMigrate3 and
    virDomainMigrateToURI3 ask it."""
    def supports(conn: Connection, feature: int, where: Side) -> bool:
        answer = found.probe(where, lambda: conn.tables.hypervisor.connect_supports_feature(
            feature))
        return bool(answer)

    unsupported = ErrorCode.ARGUMENT_UNSUPPORTED
    if not (supports(dest, _FEATURE_V3, "destination")
            and supports(dest, _FEATURE_PARAMS, "destination")):
        found.add(_blocker(ErrorCode.NO_SUPPORT, "the destination host does not support "
                           "migration protocol version 3 with parameters", "destination",
                           ErrorDomain.DOMAIN))
    if flags & F.PEER2PEER and not supports(src, _FEATURE_P2P, "source"):
        found.add(_blocker(unsupported, "direct migration is not supported by the source host",
                           "source", ErrorDomain.DOMAIN))
    if flags & F.OFFLINE:
        for conn, where in ((src, "source"), (dest, "destination")):
            if not supports(conn, _FEATURE_OFFLINE, where):  # type: ignore[arg-type]
                found.add(_blocker(unsupported, "offline migration is not supported by "
                                   f"the {where} host", where,  # type: ignore[arg-type]
                                   ErrorDomain.DOMAIN))


# ---------------------------------------------------------------- destination


def _check_clash(dest: Connection, name: str, uuid: str, found: _Found) -> None:
    """virDomainObjListAdd's refusals for an incoming domain (ADD_LIVE | CHECK_LIVE)."""
    by_uuid = _lookup(lambda: dest.lookup_domain_by_uuid(uuid)) if uuid else None
    D = ErrorDomain.DOMAIN
    if by_uuid is not None:
        if by_uuid.name != name:
            found.add(_blocker(ErrorCode.OPERATION_FAILED, f"domain '{by_uuid.name}' is "
                               f"already defined with uuid {by_uuid.uuid}", "destination", D))
        elif found.probe("destination", by_uuid.is_active):
            found.add(_blocker(ErrorCode.OPERATION_INVALID,
                               f"domain '{name}' is already active", "destination", D))
        elif not found.probe("destination", by_uuid.is_persistent):
            found.add(_blocker(ErrorCode.OPERATION_INVALID,
                               f"domain '{name}' is already being started", "destination", D))
        return
    by_name = _lookup(lambda: dest.lookup_domain(name)) if name else None
    if by_name is not None:
        found.add(_blocker(ErrorCode.OPERATION_FAILED, f"domain '{name}' already exists "
                           f"with uuid {by_name.uuid}", "destination", D))


def _lookup(call: Callable[[], Any]) -> Any:
    """``call()``, or None when it fails (a lookup that finds nothing)."""
    try:
        return call()
    except VirtError:
        return None


def _check_platform(dest: Connection, root: ET.Element, caps: str | None,
                    found: _Found) -> None:
    """Emulator, virt type and machine type in the destination's capabilities (libvirt's
    qemuValidateDomainDef), then the guest CPU against the destination hypervisor's."""
    emulator = root.findtext("devices/emulator", "") or None
    ostype = root.find("os/type")
    arch = ostype.get("arch") if ostype is not None else None
    machine = ostype.get("machine") if ostype is not None else None
    virttype = root.get("type", "")
    where: Side = "destination"
    domcaps = found.probe(where, lambda: dest.domain_capabilities(emulator, arch, None,
                                                                  virttype or None))
    if domcaps is None:
        return
    dc = ET.fromstring(domcaps)
    emulator = emulator or dc.findtext("path", "")
    arch = arch or dc.findtext("arch", "")
    assert emulator is not None and arch is not None
    offered = _caps_offer(caps, emulator, arch)
    unsupported = ErrorCode.CONFIG_UNSUPPORTED
    before = len(found.items)
    if offered is not None:
        types, machines = offered
        if virttype and virttype not in types:
            found.add(_blocker(unsupported, f"Emulator '{emulator}' does not support virt "
                               f"type '{virttype}'", where))
        elif machine and machine not in machines | types.get(virttype, set()):
            found.add(_blocker(unsupported, f"Emulator '{emulator}' does not support "
                               f"machine type '{machine}'", where))
    elif machine and _lookup(lambda: dest.domain_capabilities(
            emulator, arch, machine, virttype or None)) is None:
        found.add(_blocker(unsupported, f"Emulator '{emulator}' does not support machine "
                           f"type '{machine}'", where))
    cpu = root.find("cpu")
    # TCG emulates whatever model is asked (QEMU warns, libvirt starts it): only a guest
    # on the host's CPU (kvm) depends on the destination's processor
    if cpu is None or cpu.get("mode", "custom") == "host-passthrough" \
            or cpu.find("model") is None or virttype != "kvm" or len(found.items) > before:
        return
    cpu_xml = ET.tostring(cpu, encoding="unicode")
    result = found.probe(where, lambda: dest.compare_hypervisor_cpu(
        cpu_xml, emulator=emulator, arch=arch, machine=machine, virttype=virttype or None))
    if result == CPUCompareResult.INCOMPATIBLE:
        model = cpu.findtext("model", "")
        found.add(_blocker(ErrorCode.CPU_INCOMPATIBLE, f"guest CPU model '{model}' and its "
                           "required features are not offered by the destination "
                           "hypervisor", where))


def _caps_offer(caps: str | None, emulator: str,
                arch: str) -> tuple[dict[str, set[str]], set[str]] | None:
    """For the ``<guest>`` of ``arch`` whose emulator is ``emulator``: its domain types
    (each with the machines it adds) and its machine names (aliases included); None when
    the capabilities list no such guest."""
    if caps is None:
        return None
    for guest in ET.fromstring(caps).iterfind("guest"):
        arch_el = guest.find("arch")
        if arch_el is None or arch_el.get("name") != arch:
            continue
        types = {d.get("type", ""): {m.text or "" for m in d.iterfind("machine")}
                 for d in arch_el.iterfind("domain")}
        if arch_el.findtext("emulator") != emulator and not any(
                d.findtext("emulator") == emulator for d in arch_el.iterfind("domain")):
            continue
        machines = {m.text or "" for m in arch_el.iterfind("machine")}
        return types, machines
    return None


def _check_interfaces(dest: Connection, root: ET.Element, found: _Found) -> None:
    """Each ``<interface type='network'>``'s network exists and runs; each
    ``<interface type='bridge'>``'s bridge exists."""
    where: Side = "destination"
    bridges: set[str] | None = None  # looked up at the first bridge
    for iface in root.iterfind("devices/interface"):
        source = iface.find("source")
        if source is None:
            continue
        kind = iface.get("type")
        if kind == "network" and source.get("network"):
            name = source.get("network", "")
            net = found.probe(where, partial(dest.lookup_network, name))
            if net is not None and not found.probe(where, net.is_active):
                found.add(_blocker(ErrorCode.OPERATION_INVALID,
                                   f"network '{name}' is not active", where,
                                   ErrorDomain.NETWORK))
        elif kind == "bridge" and source.get("bridge"):
            bridge = source.get("bridge", "")
            if bridges is None:
                bridges = _host_interfaces(dest) or set()
            if bridges and bridge not in bridges:
                found.add(MigrationBlocker(int(ErrorCode.SYSTEM_ERROR), int(ErrorDomain.NONE),
                                           f"Cannot get interface MTU on '{bridge}': "
                                           "No such device", where))


def _host_interfaces(dest: Connection) -> set[str] | None:
    """The destination's network interface names: its node devices' ``net`` capabilities,
    else the interface API's list; None when neither answers."""
    try:
        devices = dest.list_node_devices()
    except VirtError:
        devices = None
    if devices:
        names: set[str] = set()
        for dev in devices:
            with contextlib.suppress(VirtError, ET.ParseError):
                cap = ET.fromstring(dev.xml()).find("capability[@type='net']")
                if cap is not None and cap.findtext("interface"):
                    names.add(cap.findtext("interface", ""))
        if names:
            return names
    try:
        return {i.name for i in dest.list_interfaces()}
    except VirtError:
        return None


def _check_disks(dest: Connection, root: ET.Element, flags: int, params: TypedParams,
                 found: _Found) -> None:
    """Each local disk is visible on the destination (a volume there, or a pool holding
    its directory); with copy-storage, a pool must hold the directory of each disk copied
    (what the destination's precreation needs)."""
    try:
        pools = dest.list_storage_pools()
    except VirtError:  # no storage API there: nothing can be told
        return
    targets: set[str] = set()
    for pool in pools:
        with contextlib.suppress(VirtError, ET.ParseError):
            path = ET.fromstring(pool.xml()).findtext("target/path")
            if path:
                targets.add(os.path.normpath(path))
    chosen = params.get("migrate_disks")
    where: Side = "destination"
    for disk in root.iterfind("devices/disk"):
        source = disk.find("source")
        if source is None or disk.get("type") not in ("file", "block"):
            continue
        path = source.get("file") or source.get("dev")
        if not path:
            continue
        target = disk.find("target")
        dev = target.get("dev", "") if target is not None else ""
        readonly = disk.find("readonly") is not None or disk.get("device") in ("cdrom",
                                                                                "floppy")
        directory = os.path.dirname(os.path.normpath(path))
        volume = _lookup(partial(dest.lookup_storage_volume_by_path, path)) is not None
        copied = bool(flags & _COPY_STORAGE) and not readonly and (
            not isinstance(chosen, str) or chosen == dev)
        if copied:
            if directory not in targets and not volume:
                found.add(_blocker(ErrorCode.NO_STORAGE_POOL, "no storage pool with "
                                   f"matching target path '{directory}'", where,
                                   ErrorDomain.STORAGE))
        elif not volume and directory not in targets:
            found.add(MigrationBlocker(
                int(ErrorCode.SYSTEM_ERROR), int(ErrorDomain.QEMU),
                f"Cannot access storage file '{path}': disk '{dev}' not shared (no volume "
                "or pool of the destination holds it) and no --copy-storage-all", where))
