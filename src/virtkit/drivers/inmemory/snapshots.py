"""Domain snapshots of the test driver: metadata only, with the domain XML kept."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from virtkit.constants import DomainSnapshotXMLFlags
from virtkit.drivers import snapshottree as st
from virtkit.drivers.inmemory.common import PAUSED, RUNNING, SHUTOFF, Base, check_flags, err
from virtkit.drivers.inmemory.domains import (
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
from virtkit.drivers.inmemory.lazy import lazy_module
from virtkit.drivers.inmemory.node import DomainObj
from virtkit.errors import ErrorCode, ErrorDomain
from virtkit.types import DomainIdent, SnapshotIdent

if TYPE_CHECKING:
    from virtkit.conf import snapshot as snapconf
    from virtkit.conf import xmlutil
    from virtkit.conf.snapshot import DomainSnapshotDef
    from virtkit.conf.xmlutil import Element
    from virtkit.drivers.inmemory import defs
else:
    defs = lazy_module("virtkit.drivers.inmemory.defs")
    snapconf = lazy_module("virtkit.conf.snapshot")
    xmlutil = lazy_module("virtkit.conf.xmlutil")

STATE_NAMES = ("nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed",
               "pmsuspended", "disk-snapshot")

_CREATE_REDEFINE, _CREATE_CURRENT, _CREATE_HALT = 1, 2, 8
_CREATE_ALLOWED = 1 | 2 | 8 | 64 | 128 | 256 | 512  # + QUIESCE, ATOMIC, LIVE, VALIDATE
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


def _tree(obj: DomainObj) -> st.SnapshotTree:
    """The domain's snapshots as a shared snapshot tree (over the same definitions)."""
    return st.SnapshotTree(ErrorDomain.TEST, {n: s.defn for n, s in obj.snapshots.items()})


def load_inline_snapshots(obj: DomainObj, elements: list[Element], path: str | None) -> None:
    """testParseDomainSnapshots: ``<test:domainsnapshot>`` children of a domain."""
    from virtkit.drivers.inmemory.nodefile import _resolve

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
            raise st.not_found(name, ErrorDomain.TEST)
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
                snap = self._redefine(obj, d, flags)
                if update_current:
                    obj.current_snapshot = snap.name
                return self._ident(obj, snap.name)
            now = int(time.time())
            d.creation_time = now
            if not d.name:
                d.name = str(now)
            dom_copy = obj.defn.copy()
            d.state = STATE_NAMES[obj.state]
            if st.memory_location(d, offline=False, redefine=False) == "external":
                location = "external"
            else:
                location = "internal"
                d.memory = snapconf.SnapshotMemory()
                d.memory.snapshot = "no" if obj.state == SHUTOFF else "internal"
            _align_disks(d, dom_copy, location)
            _tree(obj).check_unused(d.name)
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

    def _redefine(self, obj: DomainObj, d: DomainSnapshotDef, flags: int) -> Snapshot:
        """testDomainSnapshotRedefine: a new snapshot, or a replacement that keeps its place,
        its children and (when ``d`` has none) its domain."""
        name = d.name or ""
        st.memory_location(d, d.state in ("shutoff", "disk-snapshot"), redefine=True)
        dom = d.domain_def
        if dom is not None:
            defs.generate_ifnames(dom)
        _tree(obj).redefine_prep(d, obj.uuid, dom, flags)
        old: Snapshot | None = obj.snapshots.get(name)
        if dom is None and old is not None:
            dom = old.domain
        snap = Snapshot(d, dom)
        obj.snapshots[name] = snap
        return snap

    def domain_snapshot_get_xml_desc(self, snap: SnapshotIdent, flags: int = 0) -> str:
        from virtkit.conf.secure import public_xml  # XML code loads on first use

        check_flags(flags, DomainSnapshotXMLFlags.SECURE, "testDomainSnapshotGetXMLDesc")
        with self._node.lock, public_xml(not flags & DomainSnapshotXMLFlags.SECURE):
            obj = self._dom(snap.domain)
            return str(self._snap(obj, snap.name).defn.to_xml())

    def _list(self, obj: DomainObj, parent: str | None, flags: int) -> list[str]:
        return [d.name or "" for d in _tree(obj).list(parent, flags)]

    def domain_snapshot_num(self, dom: DomainIdent, flags: int = 0) -> int:
        check_flags(flags, st.LIST_ALLOWED, "testDomainSnapshotNum")
        with self._node.lock:
            return len(self._list(self._dom(dom), None, flags))

    def domain_snapshot_list_names(
        self, dom: DomainIdent, maxnames: int, flags: int = 0
    ) -> list[str]:
        check_flags(flags, st.LIST_ALLOWED, "testDomainSnapshotListNames")
        with self._node.lock:
            return self._list(self._dom(dom), None, flags)[:maxnames]

    def domain_list_all_snapshots(self, dom: DomainIdent, flags: int = 0) -> list[SnapshotIdent]:
        check_flags(flags, st.LIST_ALLOWED, "testDomainListAllSnapshots")
        with self._node.lock:
            obj = self._dom(dom)
            return [self._ident(obj, name) for name in self._list(obj, None, flags)]

    def domain_snapshot_num_children(self, snap: SnapshotIdent, flags: int = 0) -> int:
        check_flags(flags, st.LIST_ALLOWED, "testDomainSnapshotNumChildren")
        with self._node.lock:
            obj = self._dom(snap.domain)
            self._snap(obj, snap.name)
            return len(self._list(obj, snap.name, flags))

    def domain_snapshot_list_all_children(
        self, snap: SnapshotIdent, flags: int = 0
    ) -> list[SnapshotIdent]:
        check_flags(flags, st.LIST_ALLOWED, "testDomainSnapshotListAllChildren")
        with self._node.lock:
            obj = self._dom(snap.domain)
            self._snap(obj, snap.name)
            return [self._ident(obj, name) for name in self._list(obj, snap.name, flags)]

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
                for d in _tree(obj).descendants(s.name):
                    if obj.current_snapshot == d.name:
                        removed_current = True
                    del obj.snapshots[d.name or ""]
                if removed_current:
                    obj.current_snapshot = s.name
            else:
                for child in _tree(obj).children(s.name):
                    child.parent = s.parent
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


def _align_disks(d: DomainSnapshotDef, dom: Any, default: str) -> None:
    """testDomainSnapshotAlignDisks: no 'manual' disks, then virDomainSnapshotAlignDisks."""
    for disk in d.disks:
        if disk.snapshot == "manual":
            raise err(ErrorCode.OPERATION_UNSUPPORTED,
                      "'manual' snapshot mode is not supported by the test driver")
    st.align_disks(d, dom, default)
