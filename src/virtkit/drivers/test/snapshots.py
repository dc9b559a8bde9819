"""Domain snapshots of the test driver: metadata only, with the domain XML kept."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from virtkit.drivers.test.common import PAUSED, RUNNING, SHUTOFF, Base, check_flags, err
from virtkit.drivers.test.domains import (
    EV_STARTED,
    EV_STOPPED,
    EV_SUSPENDED,
    PAUSED_FROM_SNAPSHOT,
    RUNNING_FROM_SNAPSHOT,
    SHUTOFF_FROM_SNAPSHOT,
    STARTED_FROM_SNAPSHOT,
    STOPPED_FROM_SNAPSHOT,
    SUSPENDED_FROM_SNAPSHOT,
    set_numbers,
    shutdown_state,
    start_state,
)
from virtkit.drivers.test.lazy import lazy_module
from virtkit.drivers.test.node import DomainObj
from virtkit.errors import ErrorCode, ErrorDomain
from virtkit.types import DomainIdent, SnapshotIdent

if TYPE_CHECKING:
    from virtkit.conf import snapshot as snapconf
    from virtkit.conf import xmlutil
    from virtkit.conf.snapshot import DomainSnapshotDef
    from virtkit.conf.xmlutil import Element
    from virtkit.drivers.test import defs
else:
    defs = lazy_module("virtkit.drivers.test.defs")
    snapconf = lazy_module("virtkit.conf.snapshot")
    xmlutil = lazy_module("virtkit.conf.xmlutil")

STATE_NAMES = ("nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed",
               "pmsuspended", "disk-snapshot")

_CREATE_REDEFINE, _CREATE_CURRENT, _CREATE_HALT = 1, 2, 8
_CREATE_ALLOWED = 1 | 2 | 8 | 64 | 128 | 256 | 512  # + QUIESCE, ATOMIC, LIVE, VALIDATE
_LIST_ROOTS = _LIST_DESCENDANTS = 1
_LIST_METADATA, _LIST_LEAVES, _LIST_NO_LEAVES, _LIST_NO_METADATA = 2, 4, 8, 16
_LIST_INACTIVE, _LIST_ACTIVE, _LIST_DISK_ONLY = 32, 64, 128
_LIST_INTERNAL, _LIST_EXTERNAL, _LIST_TOPOLOGICAL = 256, 512, 1024
_FILTERS_ALL = 2 | 4 | 8 | 16 | 32 | 64 | 128 | 256 | 512
_LIST_ALLOWED = 1 | _LIST_TOPOLOGICAL | _FILTERS_ALL
_REVERT_RUNNING, _REVERT_PAUSED, _REVERT_FORCE = 1, 2, 4
_DELETE_CHILDREN, _DELETE_METADATA_ONLY, _DELETE_CHILDREN_ONLY = 1, 2, 4


class Snapshot:
    """One snapshot: its definition and the domain definition it captured."""

    __slots__ = ("defn", "domain")

    def __init__(self, defn: DomainSnapshotDef, domain: Any) -> None:
        self.defn = defn
        self.domain = domain  # DomainDef or None

    @property
    def name(self) -> str:
        return self.defn.name or ""

    @property
    def parent(self) -> str | None:
        return self.defn.parent


def _children(obj: DomainObj, name: str | None) -> list[Snapshot]:
    """Newest first, as libvirt links a new child at the head of its parent's list."""
    return [s for s in reversed(obj.snapshots.values()) if s.parent == name]


def _descendants(obj: DomainObj, name: str) -> list[Snapshot]:
    """Pre-order walk (virDomainMomentForEachDescendant): each child, then its subtree."""
    out: list[Snapshot] = []
    for kid in _children(obj, name):
        out.append(kid)
        out.extend(_descendants(obj, kid.name))
    return out


def _is_external(s: Snapshot) -> bool:
    mem = s.defn.memory
    if mem is not None and mem.snapshot == "external":
        return True
    return any(d.snapshot == "external" for d in s.defn.disks)


def _filter(obj: DomainObj, snaps: list[Snapshot], flags: int) -> list[Snapshot]:
    """virDomainSnapshotObjListGetNames's filters."""
    if flags & (_LIST_METADATA | _LIST_NO_METADATA) == _LIST_NO_METADATA:
        return []
    out = []
    for s in snaps:
        if flags & (_LIST_LEAVES | _LIST_NO_LEAVES):
            leaf = not _children(obj, s.name)
            if not ((flags & _LIST_LEAVES and leaf) or (flags & _LIST_NO_LEAVES and not leaf)):
                continue
        if flags & (_LIST_INACTIVE | _LIST_ACTIVE | _LIST_DISK_ONLY):
            st = s.defn.state
            if not ((flags & _LIST_INACTIVE and st == "shutoff")
                    or (flags & _LIST_DISK_ONLY and st == "disk-snapshot")
                    or (flags & _LIST_ACTIVE and st not in ("shutoff", "disk-snapshot"))):
                continue
        if flags & (_LIST_INTERNAL | _LIST_EXTERNAL):
            ext = _is_external(s)
            if not ((flags & _LIST_EXTERNAL and ext) or (flags & _LIST_INTERNAL and not ext)):
                continue
        out.append(s)
    return out


def _topological(obj: DomainObj, snaps: list[Snapshot]) -> list[Snapshot]:
    wanted = {s.name for s in snaps}
    ordered: list[Snapshot] = []
    for root in reversed(obj.snapshots.values()):
        if root.parent is None or root.parent not in obj.snapshots:
            ordered.extend(s for s in [root, *_descendants(obj, root.name)] if s.name in wanted)
    return ordered


def load_inline_snapshots(obj: DomainObj, elements: list[Element], path: str | None) -> None:
    """testParseDomainSnapshots: ``<test:domainsnapshot>`` children of a domain."""
    from virtkit.drivers.test.nodefile import _resolve

    for el in elements:
        inner = next((c for c in el if isinstance(c.tag, str)), None)
        if inner is None:
            continue
        inner = _resolve(inner, path)
        text = xmlutil.dump_element(inner, 0).replace(' xmlns="' + defs.TEST_NS + '"', "")
        d = snapconf.DomainSnapshotDef.from_xml(text)
        snapconf.validate_snapshot_def(d, redefine=True)
        current = bool(d.active)
        d.active = None
        dom = d.domain_def
        if dom is not None:
            defs.generate_ifnames(dom)
        obj.snapshots[d.name or ""] = Snapshot(d, dom)
        if current:
            if obj.current_snapshot is not None:
                raise err(ErrorCode.INTERNAL_ERROR, "more than one snapshot claims to be active")
            obj.current_snapshot = d.name


class SnapshotMixin(Base):
    """virDomainSnapshot* for the test node."""

    def _snap(self, obj: DomainObj, name: str) -> Snapshot:
        s: Snapshot | None = obj.snapshots.get(name)
        if s is None:
            raise err(ErrorCode.NO_DOMAIN_SNAPSHOT,
                      f"no domain snapshot with matching name '{name}'")
        return s

    def _ident(self, obj: DomainObj, name: str) -> SnapshotIdent:
        return SnapshotIdent(obj.ident, name)

    def domain_snapshot_create_xml(
        self, dom: DomainIdent, xml: str, flags: int = 0
    ) -> SnapshotIdent:
        check_flags(flags, _CREATE_ALLOWED, "testDomainSnapshotCreateXML")
        redefine = bool(flags & _CREATE_REDEFINE)
        update_current = not redefine or bool(flags & _CREATE_CURRENT)
        with self._txn() as node:
            obj = self._dom(dom)
            if not obj.persistent and flags & _CREATE_HALT:
                raise err(ErrorCode.OPERATION_INVALID,
                          "cannot halt after transient domain snapshot")
            d = snapconf.DomainSnapshotDef.from_xml(xml)
            snapconf.validate_snapshot_def(d, redefine=redefine)
            if redefine:
                snap = self._redefine(obj, d)
                if update_current:
                    obj.current_snapshot = snap.name
                return self._ident(obj, snap.name)
            now = int(time.time())
            d.creation_time = now
            if not d.name:
                d.name = str(now)
            dom_copy = obj.defn.copy()
            d.state = STATE_NAMES[obj.state]
            mem = d.memory
            if mem is not None and mem.snapshot == "external":
                location = "external"
            else:
                location = "internal"
                d.memory = snapconf.SnapshotMemory()
                d.memory.snapshot = "no" if obj.state == SHUTOFF else "internal"
            _align_disks(d, dom_copy, location)
            if d.name in obj.snapshots:
                raise err(ErrorCode.OPERATION_INVALID,
                          f"domain snapshot {d.name} already exists", 20)
            d.domain = xmlutil.parse_xml(defs.format_domain(dom_copy, -1), "domain")
            d.parent = obj.current_snapshot
            snap = Snapshot(d, dom_copy)
            obj.snapshots[snap.name] = snap
            if flags & _CREATE_HALT and obj.id != -1:
                shutdown_state(node, obj, SHUTOFF_FROM_SNAPSHOT)
                self._lifecycle(obj, EV_STOPPED, STOPPED_FROM_SNAPSHOT)
            if update_current:
                obj.current_snapshot = snap.name
            return self._ident(obj, snap.name)

    def _redefine(self, obj: DomainObj, d: DomainSnapshotDef) -> Snapshot:
        name = d.name or ""
        if d.parent is not None and d.parent not in obj.snapshots:
            raise err(ErrorCode.INVALID_ARG,
                      f"parent {d.parent} for snapshot {name} not found", 20)
        dom = d.domain_def
        if dom is not None and dom.uuid != obj.uuid:
            raise err(ErrorCode.INVALID_ARG,
                      f"definition for snapshot {name} must use uuid {obj.uuid}", 20)
        if dom is not None:
            defs.generate_ifnames(dom)
        snap = Snapshot(d, dom)
        obj.snapshots[name] = snap
        return snap

    def domain_snapshot_get_xml_desc(self, snap: SnapshotIdent, flags: int = 0) -> str:
        check_flags(flags, 1, "testDomainSnapshotGetXMLDesc")
        with self._node.lock:
            obj = self._dom(snap.domain)
            return str(self._snap(obj, snap.name).defn.to_xml())

    def _list(self, obj: DomainObj, parent: str | None, flags: int) -> list[Snapshot]:
        if parent is None:
            snaps = list(obj.snapshots.values())
            if flags & _LIST_ROOTS:
                snaps = [s for s in snaps if s.parent is None]
        elif flags & _LIST_DESCENDANTS:
            snaps = _descendants(obj, parent)
        else:
            snaps = _children(obj, parent)
        snaps = _filter(obj, snaps, flags)
        if flags & _LIST_TOPOLOGICAL:
            snaps = _topological(obj, snaps)
        return snaps

    def domain_snapshot_num(self, dom: DomainIdent, flags: int = 0) -> int:
        check_flags(flags, _LIST_ALLOWED, "testDomainSnapshotNum")
        with self._node.lock:
            return len(self._list(self._dom(dom), None, flags))

    def domain_snapshot_list_names(
        self, dom: DomainIdent, maxnames: int, flags: int = 0
    ) -> list[str]:
        check_flags(flags, _LIST_ALLOWED, "testDomainSnapshotListNames")
        with self._node.lock:
            return [s.name for s in self._list(self._dom(dom), None, flags)][:maxnames]

    def domain_list_all_snapshots(self, dom: DomainIdent, flags: int = 0) -> list[SnapshotIdent]:
        check_flags(flags, _LIST_ALLOWED, "testDomainListAllSnapshots")
        with self._node.lock:
            obj = self._dom(dom)
            return [self._ident(obj, s.name) for s in self._list(obj, None, flags)]

    def domain_snapshot_num_children(self, snap: SnapshotIdent, flags: int = 0) -> int:
        check_flags(flags, _LIST_ALLOWED, "testDomainSnapshotNumChildren")
        with self._node.lock:
            obj = self._dom(snap.domain)
            self._snap(obj, snap.name)
            return len(self._list(obj, snap.name, flags))

    def domain_snapshot_list_all_children(
        self, snap: SnapshotIdent, flags: int = 0
    ) -> list[SnapshotIdent]:
        check_flags(flags, _LIST_ALLOWED, "testDomainSnapshotListAllChildren")
        with self._node.lock:
            obj = self._dom(snap.domain)
            self._snap(obj, snap.name)
            return [self._ident(obj, s.name) for s in self._list(obj, snap.name, flags)]

    def domain_snapshot_lookup_by_name(
        self, dom: DomainIdent, name: str, flags: int = 0
    ) -> SnapshotIdent:
        check_flags(flags, 0, "testDomainSnapshotLookupByName")
        with self._node.lock:
            obj = self._dom(dom)
            return self._ident(obj, self._snap(obj, name).name)

    def domain_has_current_snapshot(self, dom: DomainIdent, flags: int = 0) -> bool:
        check_flags(flags, 0, "testDomainHasCurrentSnapshot")
        with self._node.lock:
            return self._dom(dom).current_snapshot is not None

    def domain_snapshot_get_parent(self, snap: SnapshotIdent, flags: int = 0) -> SnapshotIdent:
        check_flags(flags, 0, "testDomainSnapshotGetParent")
        with self._node.lock:
            obj = self._dom(snap.domain)
            s = self._snap(obj, snap.name)
            if s.parent is None:
                raise err(ErrorCode.NO_DOMAIN_SNAPSHOT,
                          f"snapshot '{s.name}' does not have a parent")
            return self._ident(obj, s.parent)

    def domain_snapshot_current(self, dom: DomainIdent, flags: int = 0) -> SnapshotIdent:
        check_flags(flags, 0, "testDomainSnapshotCurrent")
        with self._node.lock:
            obj = self._dom(dom)
            if obj.current_snapshot is None:
                raise err(ErrorCode.NO_DOMAIN_SNAPSHOT,
                          "the domain does not have a current snapshot")
            return self._ident(obj, obj.current_snapshot)

    def domain_snapshot_is_current(self, snap: SnapshotIdent, flags: int = 0) -> bool:
        check_flags(flags, 0, "testDomainSnapshotIsCurrent")
        with self._node.lock:
            obj = self._dom(snap.domain)
            self._snap(obj, snap.name)
            return obj.current_snapshot == snap.name

    def domain_snapshot_has_metadata(self, snap: SnapshotIdent, flags: int = 0) -> bool:
        check_flags(flags, 0, "testDomainSnapshotHasMetadata")
        with self._node.lock:
            self._snap(self._dom(snap.domain), snap.name)
            return True

    def domain_snapshot_delete(self, snap: SnapshotIdent, flags: int = 0) -> None:
        check_flags(flags, _DELETE_CHILDREN | _DELETE_CHILDREN_ONLY, "testDomainSnapshotDelete")
        with self._node.lock:
            obj = self._dom(snap.domain)
            s = self._snap(obj, snap.name)
            if flags & (_DELETE_CHILDREN | _DELETE_CHILDREN_ONLY):
                removed_current = False
                for d in _descendants(obj, s.name):
                    if obj.current_snapshot == d.name:
                        removed_current = True
                    del obj.snapshots[d.name]
                if removed_current:
                    obj.current_snapshot = s.name
            else:
                for child in _children(obj, s.name):
                    child.defn.parent = s.parent
            if not flags & _DELETE_CHILDREN_ONLY:
                if obj.current_snapshot == s.name:
                    parent = s.parent if s.parent in obj.snapshots else None
                    obj.current_snapshot = parent
                del obj.snapshots[s.name]

    def domain_revert_to_snapshot(self, snap: SnapshotIdent, flags: int = 0) -> None:
        check_flags(flags, _REVERT_RUNNING | _REVERT_PAUSED | _REVERT_FORCE,
                    "testDomainRevertToSnapshot")
        with self._txn() as node:
            obj = self._dom(snap.domain)
            s = self._snap(obj, snap.name)
            state = s.defn.state
            if (not obj.persistent and state not in ("running", "paused")
                    and not flags & (_REVERT_RUNNING | _REVERT_PAUSED)):
                raise err(ErrorCode.OPERATION_INVALID,
                          "transient domain needs to request run or pause to revert to "
                          "inactive snapshot")
            if s.domain is None:
                raise err(ErrorCode.SNAPSHOT_REVERT_RISKY,
                          f"snapshot '{s.name}' lacks domain '{obj.name}' rollback info")
            obj.current_snapshot = None
            config = s.domain.copy()
            if state in ("running", "paused"):
                if obj.id != -1:
                    shutdown_state(node, obj, SHUTOFF_FROM_SNAPSHOT)
                    self._lifecycle(obj, EV_STOPPED, STOPPED_FROM_SNAPSHOT)
                _assign_inactive(obj, config)
                start_state(node, obj, RUNNING_FROM_SNAPSHOT)
                self._lifecycle(obj, EV_STARTED, STARTED_FROM_SNAPSHOT)
                if not flags & _REVERT_RUNNING and (state == "paused" or flags & _REVERT_PAUSED):
                    obj.state, obj.reason = PAUSED, PAUSED_FROM_SNAPSHOT
                    self._lifecycle(obj, EV_SUSPENDED, SUSPENDED_FROM_SNAPSHOT)
            else:
                if obj.id != -1:
                    obj.new_def = config
                    shutdown_state(node, obj, SHUTOFF_FROM_SNAPSHOT)
                    self._lifecycle(obj, EV_STOPPED, STOPPED_FROM_SNAPSHOT)
                else:
                    _assign_inactive(obj, config)
                if flags & (_REVERT_RUNNING | _REVERT_PAUSED):
                    # libvirt 9.0 reports these events without starting the domain.
                    self._lifecycle(obj, EV_STARTED, STARTED_FROM_SNAPSHOT)
                    if flags & _REVERT_PAUSED:
                        self._lifecycle(obj, EV_SUSPENDED, SUSPENDED_FROM_SNAPSHOT)
            obj.current_snapshot = s.name
            if obj.state == RUNNING and obj.id == -1:  # pragma: no cover - defensive
                obj.state = SHUTOFF


def _assign_inactive(obj: DomainObj, config: Any) -> None:
    """virDomainObjAssignDef(vm, config, live=false) on an inactive domain."""
    obj.defn = config
    set_numbers(obj)


_SNAP_CONF = ErrorDomain.DOMAIN_SNAPSHOT
_SOURCE_KEYS = {"file": "file", "block": "dev", "dir": "dir", "network": "name"}


def _domdisk_source(disk: Any) -> str | None:
    """virDomainDiskGetSource: the path of a local source, the name of a network one."""
    key = _SOURCE_KEYS.get(disk.type or "file")
    src = disk.source
    return getattr(src, key, None) if key and src is not None else None


def _domdisk_empty(disk: Any) -> bool:
    """virStorageSourceIsEmpty."""
    kind = disk.type or "file"
    return kind in ("file", "block", "dir") and _domdisk_source(disk) is None


def _snapdisk_path(disk: Any) -> str | None:
    src = disk.source
    if src is None:
        return None
    for key in ("file", "dev", "dir", "name", "volume"):
        value = src.get(key)
        if value is not None:
            return str(value)
    return None


def _find_domdisk(disks: list[Any], name: str) -> Any:
    """virDomainDiskByName(allow_ambiguous=false): target, or an unambiguous source path."""
    found = None
    for disk in disks:
        if not name.startswith("/"):
            if disk.target is not None and disk.target.dev == name:
                return disk
        elif _domdisk_source(disk) == name:
            if found is not None:
                return None
            found = disk
    return found


def _location(value: str | None) -> str | None:
    return None if value in (None, "default") else value


def _align_disks(d: DomainSnapshotDef, dom: Any, default: str) -> None:
    """testDomainSnapshotAlignDisks + virDomainSnapshotAlignDisks(uniform internal)."""
    for disk in d.disks:
        if disk.snapshot == "manual":
            raise err(ErrorCode.OPERATION_UNSUPPORTED,
                      "'manual' snapshot mode is not supported by the test driver")
    domdisks = list(dom.devices.disks) if dom.devices is not None else []
    if len(d.disks) > len(domdisks):
        raise err(ErrorCode.CONFIG_UNSUPPORTED,
                  "too many disk snapshot requests for domain", _SNAP_CONF)
    require_match = default == "internal"
    if not domdisks:
        return
    given: dict[str, Any] = {}
    for snapdisk in d.disks:
        name = snapdisk.name or ""
        domdisk = _find_domdisk(domdisks, name)
        if domdisk is None:
            raise err(ErrorCode.CONFIG_UNSUPPORTED, f"no disk named '{name}'", _SNAP_CONF)
        dst = domdisk.target.dev
        if dst in given:
            raise err(ErrorCode.CONFIG_UNSUPPORTED, f"disk '{name}' specified twice", _SNAP_CONF)
        given[dst] = snapdisk
        wanted, configured = _location(snapdisk.snapshot), _location(domdisk.snapshot)
        if wanted is None:
            if configured is not None and (not require_match or configured == "no"):
                snapdisk.snapshot = configured
            else:
                snapdisk.snapshot = default
        elif require_match and wanted != default and not (wanted == configured == "no"):
            raise err(ErrorCode.CONFIG_UNSUPPORTED,
                      f"disk '{name}' must use snapshot mode '{default}'", _SNAP_CONF)
        path = _snapdisk_path(snapdisk)
        if path and snapdisk.snapshot != "external":
            raise err(ErrorCode.CONFIG_UNSUPPORTED,
                      f"file '{path}' for disk '{name}' requires use of external snapshot mode",
                      _SNAP_CONF)
        snapdisk.name = dst
    aligned = []
    for domdisk in domdisks:
        dst = domdisk.target.dev
        if dst in given:
            aligned.append(given[dst])
            continue
        snapdisk = snapconf.SnapshotDisk()
        snapdisk.name = dst
        snapdisk.snapshot = "no" if _domdisk_empty(domdisk) else _location(domdisk.snapshot)
        snapdisk.snapshot = snapdisk.snapshot or default
        aligned.append(snapdisk)
    d.disks = aligned
    _assign_external_names(d, domdisks)


def _assign_external_names(d: DomainSnapshotDef, domdisks: list[Any]) -> None:
    """virDomainSnapshotDefAssignExternalNames: ``<source path minus suffix>.<snapshot>``."""
    import os
    import stat

    from lxml import etree

    for index, snapdisk in enumerate(d.disks):
        if snapdisk.snapshot != "external" or _snapdisk_path(snapdisk):
            continue
        name = snapdisk.name
        if snapdisk.type not in (None, "file"):
            raise err(ErrorCode.CONFIG_UNSUPPORTED,
                      f"cannot generate external snapshot name for disk '{name}' "
                      f"on a '{snapdisk.type}' device", _SNAP_CONF)
        origin = _domdisk_source(domdisks[index])
        if origin is None:
            raise err(ErrorCode.CONFIG_UNSUPPORTED,
                      f"cannot generate external snapshot name for disk '{name}' without source",
                      _SNAP_CONF)
        try:
            regular = stat.S_ISREG(os.stat(origin).st_mode)
        except OSError:
            regular = False
        if not regular:
            raise err(ErrorCode.CONFIG_UNSUPPORTED,
                      f"source for disk '{name}' is not a regular file; refusing to generate "
                      "external snapshot name", _SNAP_CONF)
        base, dot, suffix = origin.rpartition(".")
        stem = base if dot and "/" not in suffix else origin
        path = f"{stem}.{d.name}"
        for other in d.disks[:index]:
            if _snapdisk_path(other) == path:
                raise err(ErrorCode.CONFIG_UNSUPPORTED,
                          f"cannot generate external snapshot name for disk '{name}': "
                          f"collision with disk '{other.name}'", _SNAP_CONF)
        snapdisk.type = "file"
        snapdisk.source = etree.Element("source", file=path)
