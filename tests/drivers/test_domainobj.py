"""The driver-neutral domain layer: state tables, object, list, filter, snapshot getters."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs

import virtkit
from virtkit.constants import (
    ConnectListAllDomainsFlags,
    DomainEventType,
    DomainSnapshotListFlags,
    DomainState,
)
from virtkit.drivers import domainobj as do
from virtkit.drivers.eventbus import EventBus
from virtkit.drivers.snapshottree import SnapshotTree
from virtkit.errors import ErrorCode, ErrorDomain, VirtError
from virtkit.types import DomainIdent, SnapshotIdent

F = ConnectListAllDomainsFlags


class Dom(do.DomainObjBase):
    """A minimal driver object: persistence and managed save as plain fields."""

    def __init__(self, name: str, uuid: str, persistent: bool = True) -> None:
        super().__init__(name, uuid, ErrorDomain.TEST)
        self.persistent = persistent
        self.saved = False

    def is_persistent(self) -> bool:
        return self.persistent

    def has_managed_save(self) -> bool:
        return self.saved


def _uuid(i: int) -> str:
    return f"00000000-0000-0000-0000-{i:012x}"


# ---------------------------------------------------------------- state tables


def test_state_names_are_libvirts() -> None:
    assert do.state_names(DomainState.RUNNING, 1) == ("running", "booted")
    assert do.state_names(DomainState.PAUSED, 11) == ("paused", "starting up")
    assert do.state_names(DomainState.SHUTOFF, 8) == ("shutoff", "daemon")
    assert do.state_names(DomainState.SHUTDOWN, 1) == ("shutdown", "user")
    assert do.state_names(42, 0) == ("nostate", "unknown")
    assert do.state_names(DomainState.RUNNING, 99) == ("running", "unknown")
    assert set(do.STATE_NAMES) == {int(s) for s in DomainState}


@given(hs.sampled_from(sorted(do.REASON_NAMES)), hs.data())
def test_state_names_round_trip(state: int, data: hs.DataObject) -> None:
    reason = data.draw(hs.integers(0, len(do.REASON_NAMES[state]) - 1))
    assert do.state_values(*do.state_names(state, reason)) == (state, reason)


def test_unknown_state_name_gives_the_default() -> None:
    assert do.state_values("bogus", "booted") == (do.RUNNING, 1)
    assert do.state_values("paused", "bogus") == (do.PAUSED, 0)


# ---------------------------------------------------------------- object


def test_set_state_queues_the_lifecycle_event_when_asked() -> None:
    bus = EventBus()
    got: list[tuple[object, int, tuple[object, ...]]] = []
    bus.register("domain", 0, None, lambda *a: got.append(a), owner=None)
    dom = Dom("a", _uuid(1))
    dom.id = 3
    dom.set_state(do.PAUSED, do.PAUSED_USER)  # no bus: state only
    bus.flush()
    assert (dom.state, dom.reason) == (do.PAUSED, do.PAUSED_USER) and got == []
    dom.set_state(do.RUNNING, do.RUNNING_UNPAUSED, bus, int(DomainEventType.RESUMED),
                  do.RESUMED_UNPAUSED)
    bus.flush()
    assert got == [(DomainIdent("a", _uuid(1), 3), 0, (4, 0))]
    assert (dom.state, dom.reason) == (do.RUNNING, do.RUNNING_UNPAUSED)


def test_object_has_a_lock_and_a_job_in_its_error_domain() -> None:
    dom = Dom("a", _uuid(1))
    assert dom.job is dom.job
    assert isinstance(dom.lock, type(threading.RLock()))
    assert dom.snapshots.current is None and len(dom.snapshots) == 0
    assert not dom.active and dom.state == do.SHUTOFF


# ---------------------------------------------------------------- list: add and lookups


def _code(exc: pytest.ExceptionInfo[VirtError]) -> tuple[int, int, str]:
    e = exc.value
    return e.code, e.domain, e.message


def test_collisions_follow_virDomainObjListAddLocked() -> None:
    lst: do.DomainList[Dom] = do.DomainList(ErrorDomain.QEMU)
    a = Dom("a", _uuid(1))
    assert lst.check_add("a", _uuid(1), live=False) is None
    lst.add(a)
    assert lst.check_add("a", _uuid(1), live=False) is a
    assert lst.check_add("a", _uuid(1), live=True) is a  # inactive persistent: may start
    with pytest.raises(VirtError) as exc:
        lst.check_add("b", _uuid(1), live=False)
    assert _code(exc) == (ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                          f"operation failed: domain 'a' is already defined with uuid {_uuid(1)}")
    with pytest.raises(VirtError) as exc:
        lst.check_add("a", _uuid(2), live=False)
    assert _code(exc) == (ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                          f"operation failed: domain 'a' already exists with uuid {_uuid(1)}")
    a.id = 1
    with pytest.raises(VirtError) as exc:
        lst.check_add("a", _uuid(1), live=True)
    assert _code(exc)[:2] == (ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN)
    assert exc.value.message.endswith("domain 'a' is already active")
    t = Dom("t", _uuid(3), persistent=False)
    lst.add(t)
    with pytest.raises(VirtError) as exc:
        lst.check_add("t", _uuid(3), live=True)
    assert exc.value.message.endswith("domain 't' is already being started")


def test_lookups_and_their_errors() -> None:
    lst: do.DomainList[Dom] = do.DomainList(ErrorDomain.QEMU)
    a = Dom("a", _uuid(0xAB))
    lst.add(a)
    lst.set_id(a, 7)
    assert lst.find_by_id(7) is a and lst.find_by_name("a") is a
    assert lst.find_by_uuid(_uuid(0xAB).upper()) is a
    assert lst.get(DomainIdent("a", _uuid(0xAB), 7)) is a
    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: lst.find_by_id(8), "no domain with matching id 8"),
        (lambda: lst.find_by_name("b"), "no domain with matching name 'b'"),
        (lambda: lst.find_by_uuid(_uuid(9)), f"no domain with matching uuid '{_uuid(9)}'"),
        (lambda: lst.get(DomainIdent("z", _uuid(9), -1)),
         f"no domain with matching uuid '{_uuid(9)}' (z)")]
    for call, msg in calls:
        with pytest.raises(VirtError) as exc:
            call()
        assert _code(exc) == (ErrorCode.NO_DOMAIN, ErrorDomain.QEMU, "Domain not found: " + msg)
    lst.clear_id(a)
    with pytest.raises(VirtError):
        lst.find_by_id(7)
    a.id = 9  # an id the driver set without set_id: found by the scan
    assert lst.find_by_id(9) is a


def test_test_driver_lookups_report_the_bare_message() -> None:
    lst: do.DomainList[Dom] = do.DomainList(ErrorDomain.TEST, lookup_details=False)
    with pytest.raises(VirtError) as exc:
        lst.find_by_name("nope")
    assert _code(exc) == (ErrorCode.NO_DOMAIN, ErrorDomain.TEST, "Domain not found")


def test_remove_rename_and_listing() -> None:
    lst: do.DomainList[Dom] = do.DomainList(ErrorDomain.TEST)
    doms = [Dom(n, _uuid(i)) for i, n in enumerate("dcba")]
    for d in doms:
        lst.add(d)
    lst.set_id(doms[0], 5)
    lst.set_id(doms[2], 2)
    assert lst.num_active() == 2 and lst.num_inactive() == 2
    assert lst.active_ids(10) == [5, 2] and lst.active_ids(10, sort=True) == [2, 5]
    assert lst.active_ids(1, sort=True) == [2]
    assert lst.inactive_names(10) == ["c", "a"] and lst.inactive_names(10, sort=True) == ["a", "c"]
    lst.rename(doms[1], "z")
    assert lst.find_by_name("z") is doms[1] and "c" not in lst.by_name
    lst.remove(doms[0])
    assert len(lst) == 3 and 5 not in lst.by_id and "d" not in lst.by_name


# ---------------------------------------------------------------- the filter


def _model(d: Dom, flags: int) -> bool:
    """virDomainObjListFilter written out as libvirt's C does, one group at a time."""
    def group(yes: int, no: int, value: bool) -> bool:
        return not (flags & (yes | no)) or bool(flags & yes and value) or bool(
            flags & no and not value)

    states = F.RUNNING | F.PAUSED | F.SHUTOFF | F.OTHER
    if flags & states:
        st = d.state
        ok = ((flags & F.RUNNING and st == DomainState.RUNNING)
              or (flags & F.PAUSED and st == DomainState.PAUSED)
              or (flags & F.SHUTOFF and st == DomainState.SHUTOFF)
              or (flags & F.OTHER and st not in (DomainState.RUNNING, DomainState.PAUSED,
                                                  DomainState.SHUTOFF)))
        if not ok:
            return False
    return (group(F.ACTIVE, F.INACTIVE, d.id != -1)
            and group(F.PERSISTENT, F.TRANSIENT, d.persistent)
            and group(F.MANAGEDSAVE, F.NO_MANAGEDSAVE, d.saved)
            and group(F.AUTOSTART, F.NO_AUTOSTART, d.autostart)
            and group(F.HAS_SNAPSHOT, F.NO_SNAPSHOT, len(d.snapshots) > 0)
            and group(F.HAS_CHECKPOINT, F.NO_CHECKPOINT, False))


_dom_strategy = hs.tuples(hs.integers(0, 7), hs.booleans(), hs.booleans(), hs.booleans(),
                          hs.booleans(), hs.booleans())


@given(hs.lists(_dom_strategy, max_size=8), hs.integers(0, do.LIST_DOMAINS_ALL))
def test_list_all_matches_libvirts_filter(specs: list[tuple[int, bool, bool, bool, bool, bool]],
                                          flags: int) -> None:
    lst: do.DomainList[Dom] = do.DomainList(ErrorDomain.TEST)
    for i, (state, active, persistent, saved, autostart, snap) in enumerate(specs):
        d = Dom(f"d{i}", _uuid(i), persistent)
        d.state, d.saved, d.autostart = state, saved, autostart
        if active:
            lst.add(d)
            lst.set_id(d, i + 1)
        else:
            lst.add(d)
        if snap:
            from virtkit.conf.snapshot import DomainSnapshotDef

            d.snapshots.snaps["s"] = DomainSnapshotDef(name="s")
    want = [d for d in lst.by_uuid.values() if _model(d, flags)]
    assert lst.list_all(flags) == want


def test_managed_save_hook_overrides_the_object() -> None:
    lst: do.DomainList[Dom] = do.DomainList(ErrorDomain.TEST)
    d = Dom("a", _uuid(1))
    lst.add(d)
    assert lst.list_all(F.MANAGEDSAVE) == []
    assert lst.list_all(F.MANAGEDSAVE, lambda o: True) == [d]


def test_filter_mask_is_every_listing_flag() -> None:
    mask = 0
    for f in F:
        mask |= int(f)
    assert mask == do.LIST_DOMAINS_ALL


# ---------------------------------------------------------------- snapshot getters


class _Getters(do.SnapshotGetters):
    _snapshot_prefix = "test"
    _snapshot_error_domain = ErrorDomain.TEST

    def __init__(self, tree: SnapshotTree) -> None:
        self.tree = tree
        self.lock = threading.RLock()

    def _snapshot_lock(self) -> AbstractContextManager[object]:
        return self.lock

    def _snapshot_domain(self, dom: DomainIdent) -> tuple[DomainIdent, SnapshotTree]:
        return DomainIdent("vm", _uuid(1), 1), self.tree


def _tree() -> SnapshotTree:
    from virtkit.conf.snapshot import DomainSnapshotDef

    tree = SnapshotTree(ErrorDomain.TEST)
    for name, parent in [("root", None), ("a", "root"), ("b", "root"), ("a1", "a")]:
        d = DomainSnapshotDef(name=name, state="shutoff")
        d.parent = parent
        tree.snaps[name] = d
    tree.current = "a1"
    return tree


def test_snapshot_getters() -> None:
    g = _Getters(_tree())
    dom = DomainIdent("old-name", _uuid(1), -1)
    ident = DomainIdent("vm", _uuid(1), 1)
    assert g.domain_snapshot_num(dom) == 4
    assert g.domain_snapshot_num(dom, DomainSnapshotListFlags.ROOTS) == 1
    assert g.domain_snapshot_list_names(dom, 2) == ["root", "a"]
    assert g.domain_list_all_snapshots(dom, DomainSnapshotListFlags.LEAVES) == [
        SnapshotIdent(ident, "b"), SnapshotIdent(ident, "a1")]
    root = SnapshotIdent(dom, "root")
    assert g.domain_snapshot_num_children(root) == 2
    assert g.domain_snapshot_num_children(root, DomainSnapshotListFlags.DESCENDANTS) == 3
    assert g.domain_snapshot_list_all_children(root) == [SnapshotIdent(ident, "b"),
                                                          SnapshotIdent(ident, "a")]
    assert g.domain_snapshot_lookup_by_name(dom, "a") == SnapshotIdent(ident, "a")
    assert g.domain_has_current_snapshot(dom)
    assert g.domain_snapshot_current(dom) == SnapshotIdent(ident, "a1")
    assert g.domain_snapshot_get_parent(SnapshotIdent(dom, "a1")) == SnapshotIdent(ident, "a")
    assert g.domain_snapshot_is_current(SnapshotIdent(dom, "a1"))
    assert not g.domain_snapshot_is_current(SnapshotIdent(dom, "a"))
    assert g.domain_snapshot_has_metadata(SnapshotIdent(dom, "b"))


def test_snapshot_getter_errors() -> None:
    tree = _tree()
    g = _Getters(tree)
    dom = DomainIdent("vm", _uuid(1), 1)
    with pytest.raises(VirtError) as exc:
        g.domain_snapshot_get_parent(SnapshotIdent(dom, "root"))
    assert _code(exc) == (ErrorCode.NO_DOMAIN_SNAPSHOT, ErrorDomain.TEST,
                          "Domain snapshot not found: snapshot 'root' does not have a parent")
    with pytest.raises(VirtError) as exc:
        g.domain_snapshot_lookup_by_name(dom, "nope")
    assert exc.value.code == ErrorCode.NO_DOMAIN_SNAPSHOT
    with pytest.raises(VirtError) as exc:
        g.domain_snapshot_num_children(SnapshotIdent(dom, "nope"))
    assert exc.value.code == ErrorCode.NO_DOMAIN_SNAPSHOT
    with pytest.raises(VirtError) as exc:
        g.domain_snapshot_num(dom, 1 << 20)
    assert _code(exc)[:2] == (ErrorCode.INVALID_ARG, ErrorDomain.TEST)
    assert exc.value.message.endswith(
        "unsupported flags (0x100000) in function testDomainSnapshotNum")
    with pytest.raises(VirtError) as exc:
        g.domain_snapshot_current(dom, 1)
    assert exc.value.message.endswith("in function testDomainSnapshotCurrent")
    tree.current = None
    assert not g.domain_has_current_snapshot(dom)
    with pytest.raises(VirtError) as exc:
        g.domain_snapshot_current(dom)
    assert exc.value.message.endswith("the domain does not have a current snapshot")


# ---------------------------------------------------------------- the drivers stand on it

sys.path.insert(0, str(Path(__file__).resolve().parent / "qemu"))  # the QEMU tests' helpers
from qemu_e2e import (  # type: ignore[import-not-found]  # noqa: E402
    QemuRoot,
    domain_xml,
    qemu_pids,
    tg,
)


@pytest.fixture
def qroot() -> Iterator[QemuRoot]:
    root = QemuRoot()
    try:
        yield root
    finally:
        left = root.cleanup()
    assert not left, f"QEMU processes left running under {root.path}: {left}"


def _both_drivers(qroot: QemuRoot) -> list[tuple[Any, int]]:
    return [(virtkit.open("test:///default"), ErrorDomain.TEST),
            (qroot.open(), ErrorDomain.QEMU)]


def test_both_drivers_refuse_define_collisions_as_libvirt(qroot: QemuRoot) -> None:
    """virDomainObjListAddLocked's messages, in VIR_FROM_DOMAIN, from either driver."""
    guest = tg.ensure_guest()
    for conn, _ in _both_drivers(qroot):
        xml = domain_xml(guest, qroot.path, "dup", uuid=_uuid(0xD0))
        conn.define_domain(xml)
        with pytest.raises(VirtError) as exc:
            conn.define_domain(domain_xml(guest, qroot.path, "other", uuid=_uuid(0xD0)))
        assert _code(exc) == (ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                              "operation failed: domain 'dup' is already defined with uuid "
                              + _uuid(0xD0))
        with pytest.raises(VirtError) as exc:
            conn.define_domain(domain_xml(guest, qroot.path, "dup", uuid=_uuid(0xD1)))
        assert _code(exc) == (ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                              f"operation failed: domain 'dup' already exists with uuid "
                              f"{_uuid(0xD0)}")
        conn.lookup_domain("dup").undefine()
        conn.close()


def test_both_drivers_list_and_look_up_through_the_list(qroot: QemuRoot) -> None:
    guest = tg.ensure_guest()
    for conn, edomain in _both_drivers(qroot):
        conn.define_domain(domain_xml(guest, qroot.path, "zz-one", uuid=_uuid(0xE1)))
        assert "zz-one" in conn.list_defined_domain_names()
        names = [d.name for d in conn.list_domains(int(F.INACTIVE | F.PERSISTENT))]
        assert "zz-one" in names
        assert conn.list_domains(int(F.TRANSIENT)) == []
        assert conn.lookup_domain_by_uuid(_uuid(0xE1).upper()).name == "zz-one"
        with pytest.raises(VirtError) as exc:
            conn.lookup_domain("zz-none")
        assert (exc.value.code, exc.value.domain) == (ErrorCode.NO_DOMAIN, edomain)
        conn.lookup_domain("zz-one").undefine()
        conn.close()


def test_qemu_create_over_an_inactive_persistent_domain_starts_it(qroot: QemuRoot) -> None:
    """libvirt's create (ADD_LIVE): the defined domain runs with the new definition and
    stays persistent; once destroyed, its persistent definition is back."""
    guest = tg.ensure_guest()
    conn = qroot.open()
    conn.define_domain(domain_xml(guest, qroot.path, "pc", uuid=_uuid(0xC1), memory_mib=256))
    dom = conn.create_domain(domain_xml(guest, qroot.path, "pc", uuid=_uuid(0xC1),
                                        memory_mib=192))
    assert dom.is_active() and dom.is_persistent()
    assert len(qemu_pids(str(qroot.path))) == 1
    with pytest.raises(VirtError) as exc:  # now running: CHECK_LIVE refuses
        conn.create_domain(domain_xml(guest, qroot.path, "pc", uuid=_uuid(0xC1)))
    assert _code(exc) == (ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN,
                          "Requested operation is not valid: domain 'pc' is already active")
    assert "192" in dom.xml() or "196608" in dom.xml()
    dom.destroy()
    assert not dom.is_active() and dom.is_persistent()
    assert "262144" in dom.xml()
