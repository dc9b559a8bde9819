"""Domain snapshots of the test driver: metadata only, with the domain XML kept."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from virtkit.constants import (
    DomainSnapshotCreateFlags,
    DomainSnapshotDeleteFlags,
    DomainSnapshotRevertFlags,
    DomainSnapshotXMLFlags,
)
from virtkit.drivers import snapshottree as st
from virtkit.drivers.domainobj import (
    EV_STARTED,
    EV_STOPPED,
    EV_SUSPENDED,
    PAUSED,
    PAUSED_FROM_SNAPSHOT,
    RUNNING,
    RUNNING_FROM_SNAPSHOT,
    SHUTOFF,
    SHUTOFF_FROM_SNAPSHOT,
    STARTED_FROM_SNAPSHOT,
    STATE_NAMES,
    STOPPED_FROM_SNAPSHOT,
    SUSPENDED_FROM_SNAPSHOT,
    SnapshotGetters,
)
from virtkit.drivers.inmemory.common import Base, check_flags, err
from virtkit.drivers.inmemory.domains import (
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

_C = DomainSnapshotCreateFlags
_CREATE_REDEFINE, _CREATE_CURRENT, _CREATE_HALT = int(_C.REDEFINE), int(_C.CURRENT), int(_C.HALT)
# testDomainSnapshotCreateXML's virCheckFlags
_CREATE_ALLOWED = (_CREATE_REDEFINE | _CREATE_CURRENT | _CREATE_HALT | int(_C.QUIESCE)
                   | int(_C.ATOMIC) | int(_C.LIVE) | int(_C.VALIDATE))
_R = DomainSnapshotRevertFlags
_REVERT_RUNNING, _REVERT_PAUSED, _REVERT_FORCE = int(_R.RUNNING), int(_R.PAUSED), int(_R.FORCE)
_DELETE_CHILDREN = int(DomainSnapshotDeleteFlags.CHILDREN)
_DELETE_CHILDREN_ONLY = int(DomainSnapshotDeleteFlags.CHILDREN_ONLY)


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
        _store(obj, d, dom)
        if current:
            if obj.snapshots.current is not None:
                raise err(ErrorCode.INTERNAL_ERROR, "more than one snapshot claims to be active")
            obj.snapshots.current = d.name


def _store(obj: DomainObj, d: DomainSnapshotDef, dom: Any) -> None:
    """Add (or replace) snapshot ``d`` with the domain definition it captured."""
    name = d.name or ""
    obj.snapshots.snaps[name] = d
    obj.snap_domains[name] = dom


def _forget(obj: DomainObj, name: str) -> None:
    del obj.snapshots.snaps[name]
    obj.snap_domains.pop(name, None)


class SnapshotMixin(SnapshotGetters, Base):
    """virDomainSnapshot* for the test node (the read-only ones from SnapshotGetters)."""

    _snapshot_prefix = "test"
    _snapshot_error_domain = ErrorDomain.TEST

    def _snapshot_lock(self) -> AbstractContextManager[object]:
        return self._node.lock

    def _snapshot_domain(self, dom: DomainIdent) -> tuple[DomainIdent, st.SnapshotTree]:
        obj = self._dom(dom)
        return obj.ident, obj.snapshots

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
                    obj.snapshots.current = snap.name
                return self._ident(obj, snap.name or "")
            now = int(time.time())
            d.creation_time = now
            if not d.name:
                d.name = str(now)
            dom_copy = obj.defn.copy()
            d.state = STATE_NAMES[obj.state]  # a running or shut-off domain: never disk-only
            if st.memory_location(d, offline=False, redefine=False) == "external":
                location = "external"
            else:
                location = "internal"
                d.memory = snapconf.SnapshotMemory()
                d.memory.snapshot = "no" if obj.state == SHUTOFF else "internal"
            _align_disks(d, dom_copy, location)
            obj.snapshots.check_unused(d.name)
            d.domain = xmlutil.parse_xml(defs.format_domain(dom_copy, -1), "domain")
            d.parent = obj.snapshots.current
            _store(obj, d, dom_copy)
            if flags & _CREATE_HALT and obj.id != -1:
                shutdown_state(node, obj, SHUTOFF_FROM_SNAPSHOT)
                self._lifecycle(obj, EV_STOPPED, STOPPED_FROM_SNAPSHOT)
            if update_current:
                obj.snapshots.current = d.name
            return self._ident(obj, d.name or "")

    def _redefine(self, obj: DomainObj, d: DomainSnapshotDef, flags: int) -> DomainSnapshotDef:
        """testDomainSnapshotRedefine: a new snapshot, or a replacement that keeps its place,
        its children and (when ``d`` has none) its domain."""
        name = d.name or ""
        st.memory_location(d, d.state in ("shutoff", "disk-snapshot"), redefine=True)
        dom = d.domain_def
        if dom is not None:
            defs.generate_ifnames(dom)
        obj.snapshots.redefine_prep(d, obj.uuid, dom, flags)
        if dom is None:
            dom = obj.snap_domains.get(name)
        _store(obj, d, dom)
        return d

    def domain_snapshot_get_xml_desc(self, snap: SnapshotIdent, flags: int = 0) -> str:
        from virtkit.conf.secure import public_xml  # XML code loads on first use

        check_flags(flags, DomainSnapshotXMLFlags.SECURE, "testDomainSnapshotGetXMLDesc")
        with self._node.lock, public_xml(not flags & DomainSnapshotXMLFlags.SECURE):
            obj = self._dom(snap.domain)
            return str(obj.snapshots.get(snap.name).to_xml())

    def domain_snapshot_delete(self, snap: SnapshotIdent, flags: int = 0) -> None:
        check_flags(flags, _DELETE_CHILDREN | _DELETE_CHILDREN_ONLY, "testDomainSnapshotDelete")
        with self._node.lock:
            obj = self._dom(snap.domain)
            tree = obj.snapshots
            s = tree.get(snap.name)
            name = s.name or ""
            if flags & (_DELETE_CHILDREN | _DELETE_CHILDREN_ONLY):
                removed_current = False
                for d in tree.descendants(name):
                    if tree.current == d.name:
                        removed_current = True
                    _forget(obj, d.name or "")
                if removed_current:
                    tree.current = name
            else:
                for child in tree.children(name):
                    child.parent = s.parent
            if not flags & _DELETE_CHILDREN_ONLY:
                if tree.current == name:
                    tree.current = s.parent if s.parent in tree.snaps else None
                _forget(obj, name)

    def domain_revert_to_snapshot(self, snap: SnapshotIdent, flags: int = 0) -> None:
        check_flags(flags, _REVERT_RUNNING | _REVERT_PAUSED | _REVERT_FORCE,
                    "testDomainRevertToSnapshot")
        with self._txn() as node:
            obj = self._dom(snap.domain)
            s = obj.snapshots.get(snap.name)
            state = s.state
            if (not obj.persistent and state not in ("running", "paused")
                    and not flags & (_REVERT_RUNNING | _REVERT_PAUSED)):
                raise err(ErrorCode.OPERATION_INVALID,
                          "transient domain needs to request run or pause to revert to "
                          "inactive snapshot")
            s_domain = obj.snap_domains.get(snap.name)
            if s_domain is None:
                raise err(ErrorCode.SNAPSHOT_REVERT_RISKY,
                          f"snapshot '{s.name}' lacks domain '{obj.name}' rollback info")
            obj.snapshots.current = None
            config = s_domain.copy()
            if state in ("running", "paused"):
                if obj.id != -1:
                    shutdown_state(node, obj, SHUTOFF_FROM_SNAPSHOT)
                    self._lifecycle(obj, EV_STOPPED, STOPPED_FROM_SNAPSHOT)
                _assign_inactive(obj, config)
                start_state(node, obj, RUNNING_FROM_SNAPSHOT)
                self._lifecycle(obj, EV_STARTED, STARTED_FROM_SNAPSHOT)
                if not flags & _REVERT_RUNNING and (state == "paused" or flags & _REVERT_PAUSED):
                    obj.set_state(PAUSED, PAUSED_FROM_SNAPSHOT, node.events, EV_SUSPENDED,
                                  SUSPENDED_FROM_SNAPSHOT)
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
            obj.snapshots.current = s.name
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
