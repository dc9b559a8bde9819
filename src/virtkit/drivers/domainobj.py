"""Domain objects and the domain list every hypervisor driver keeps (libvirt's
virDomainObj and virdomainobjlist.c), and the read-only snapshot API over them.

- the state and reason numbers and their names (virDomainStateTypeToString and the
  reason ToString tables, the names QEMU status files hold);
- :class:`DomainObjBase`: name, uuid, id, state and reason (set through
  :meth:`DomainObjBase.set_state`, which also queues the lifecycle event), autostart,
  the snapshot tree, a per-domain ``lock`` and ``job``;
- :class:`DomainList`: indexes by uuid, name and id, libvirt's collision rules on add,
  lookups raising libvirt's errors, ``listAllDomains`` filtering, counting and listing;
- :class:`SnapshotGetters`: the 11 read-only virDomainSnapshot* methods, over a hook.

The list holds no lock of its own: callers hold their node's lock around changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

from virtkit.constants import (
    ConnectListAllDomainsFlags,
    DomainCrashedReason,
    DomainEventCrashedDetailType,
    DomainEventDefinedDetailType,
    DomainEventID,
    DomainEventResumedDetailType,
    DomainEventShutdownDetailType,
    DomainEventStartedDetailType,
    DomainEventStoppedDetailType,
    DomainEventSuspendedDetailType,
    DomainEventType,
    DomainEventUndefinedDetailType,
    DomainPausedReason,
    DomainRunningReason,
    DomainShutdownReason,
    DomainShutoffReason,
    DomainState,
)
from virtkit.drivers.domainjob import DomainJob
from virtkit.drivers.eventbus import DOMAIN, EventBus
from virtkit.drivers.snapshottree import LIST_ALLOWED as SNAPSHOT_LIST_ALLOWED
from virtkit.drivers.snapshottree import SnapshotTree
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, invalid_flags, make_error
from virtkit.types import DomainIdent, SnapshotIdent

__all__ = [
    "LIST_DOMAINS_ALL",
    "REASON_NAMES",
    "STATE_NAMES",
    "DomainList",
    "DomainObjBase",
    "SnapshotGetters",
    "matches",
    "pair_ok",
    "state_names",
    "state_values",
]

# virDomainState as plain ints (compared on every call of the hot paths).
NOSTATE = int(DomainState.NOSTATE)
RUNNING = int(DomainState.RUNNING)
BLOCKED = int(DomainState.BLOCKED)
PAUSED = int(DomainState.PAUSED)
SHUTDOWN = int(DomainState.SHUTDOWN)
SHUTOFF = int(DomainState.SHUTOFF)
CRASHED = int(DomainState.CRASHED)
PMSUSPENDED = int(DomainState.PMSUSPENDED)

# virDomain*Reason values the drivers set.
_RR, _PR, _SR = DomainRunningReason, DomainPausedReason, DomainShutoffReason
RUNNING_UNKNOWN, RUNNING_BOOTED, RUNNING_RESTORED = int(_RR.UNKNOWN), int(_RR.BOOTED), int(
    _RR.RESTORED)
RUNNING_FROM_SNAPSHOT, RUNNING_UNPAUSED = int(_RR.FROM_SNAPSHOT), int(_RR.UNPAUSED)
PAUSED_UNKNOWN, PAUSED_USER, PAUSED_SAVE = int(_PR.UNKNOWN), int(_PR.USER), int(_PR.SAVE)
PAUSED_FROM_SNAPSHOT, PAUSED_SHUTTING_DOWN = int(_PR.FROM_SNAPSHOT), int(_PR.SHUTTING_DOWN)
PAUSED_CRASHED, PAUSED_STARTING_UP = int(_PR.CRASHED), int(_PR.STARTING_UP)
SHUTOFF_UNKNOWN, SHUTOFF_SHUTDOWN, SHUTOFF_DESTROYED = int(_SR.UNKNOWN), int(_SR.SHUTDOWN), int(
    _SR.DESTROYED)
SHUTOFF_CRASHED, SHUTOFF_SAVED, SHUTOFF_FAILED = int(_SR.CRASHED), int(_SR.SAVED), int(_SR.FAILED)
SHUTOFF_FROM_SNAPSHOT = int(_SR.FROM_SNAPSHOT)
SHUTDOWN_UNKNOWN, SHUTDOWN_USER = int(DomainShutdownReason.UNKNOWN), int(
    DomainShutdownReason.USER)
CRASHED_PANICKED = int(DomainCrashedReason.PANICKED)

# virDomainEventType and the details the drivers emit.
_E = DomainEventType
EV_DEFINED, EV_UNDEFINED, EV_STARTED = int(_E.DEFINED), int(_E.UNDEFINED), int(_E.STARTED)
EV_SUSPENDED, EV_RESUMED, EV_STOPPED = int(_E.SUSPENDED), int(_E.RESUMED), int(_E.STOPPED)
EV_SHUTDOWN, EV_PMSUSPENDED, EV_CRASHED = int(_E.SHUTDOWN), int(_E.PMSUSPENDED), int(_E.CRASHED)
_DD, _UD = DomainEventDefinedDetailType, DomainEventUndefinedDetailType
DEFINED_ADDED, DEFINED_UPDATED, DEFINED_RENAMED = int(_DD.ADDED), int(_DD.UPDATED), int(
    _DD.RENAMED)
UNDEFINED_REMOVED, UNDEFINED_RENAMED = int(_UD.REMOVED), int(_UD.RENAMED)
_STD = DomainEventStartedDetailType
STARTED_BOOTED, STARTED_RESTORED = int(_STD.BOOTED), int(_STD.RESTORED)
STARTED_FROM_SNAPSHOT = int(_STD.FROM_SNAPSHOT)
SUSPENDED_PAUSED = int(DomainEventSuspendedDetailType.PAUSED)
SUSPENDED_FROM_SNAPSHOT = int(DomainEventSuspendedDetailType.FROM_SNAPSHOT)
RESUMED_UNPAUSED = int(DomainEventResumedDetailType.UNPAUSED)
RESUMED_FROM_SNAPSHOT = int(DomainEventResumedDetailType.FROM_SNAPSHOT)
_SD = DomainEventStoppedDetailType
STOPPED_SHUTDOWN, STOPPED_DESTROYED, STOPPED_CRASHED = int(_SD.SHUTDOWN), int(
    _SD.DESTROYED), int(_SD.CRASHED)
STOPPED_SAVED, STOPPED_FAILED, STOPPED_FROM_SNAPSHOT = int(_SD.SAVED), int(_SD.FAILED), int(
    _SD.FROM_SNAPSHOT)
_HD = DomainEventShutdownDetailType
SHUTDOWN_FINISHED, SHUTDOWN_GUEST, SHUTDOWN_HOST = int(_HD.FINISHED), int(_HD.GUEST), int(
    _HD.HOST)
CRASHED_EVENT_PANICKED = int(DomainEventCrashedDetailType.PANICKED)

_LIFECYCLE = int(DomainEventID.LIFECYCLE)
EVENT_ID_REBOOT = int(DomainEventID.REBOOT)

# virDomainStateTypeToString and each state's reason ToString (libvirt 9.0 domain_conf.c).
STATE_NAMES: dict[int, str] = {
    NOSTATE: "nostate", RUNNING: "running", BLOCKED: "blocked", PAUSED: "paused",
    SHUTDOWN: "shutdown", SHUTOFF: "shutoff", CRASHED: "crashed", PMSUSPENDED: "pmsuspended",
}
REASON_NAMES: dict[int, tuple[str, ...]] = {
    NOSTATE: ("unknown",),
    RUNNING: ("unknown", "booted", "migrated", "restored", "from snapshot", "unpaused",
              "migration canceled", "save canceled", "wakeup", "crashed", "post-copy",
              "post-copy failed"),
    BLOCKED: ("unknown",),
    PAUSED: ("unknown", "user", "migration", "save", "dump", "ioerror", "watchdog",
             "from snapshot", "shutdown", "snapshot", "panicked", "starting up", "post-copy",
             "post-copy failed"),
    SHUTDOWN: ("unknown", "user"),
    SHUTOFF: ("unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
              "from snapshot", "daemon"),
    CRASHED: ("unknown", "panicked"),
    PMSUSPENDED: ("unknown",),
}
_STATE_BY_NAME = {name: state for state, name in STATE_NAMES.items()}


def state_names(state: int, reason: int) -> tuple[str, str]:
    """(state, reason) as libvirt's status XML writes them; unknown numbers as libvirt's
    "nostate"/"unknown"."""
    reasons = REASON_NAMES.get(state, ("unknown",))
    return (STATE_NAMES.get(state, "nostate"),
            reasons[reason] if 0 <= reason < len(reasons) else "unknown")


def state_values(state: str, reason: str, default: int = RUNNING) -> tuple[int, int]:
    """The numbers for names :func:`state_names` gave (an unknown state is ``default``,
    an unknown reason 0)."""
    st = _STATE_BY_NAME.get(state, default)
    reasons = REASON_NAMES.get(st, ("unknown",))
    return st, reasons.index(reason) if reason in reasons else 0


# virConnectListAllDomainsFlags
_F = ConnectListAllDomainsFlags
_ACTIVE, _INACTIVE = int(_F.ACTIVE), int(_F.INACTIVE)
_PERSISTENT, _TRANSIENT = int(_F.PERSISTENT), int(_F.TRANSIENT)
_RUNNING, _PAUSED, _SHUTOFF, _OTHER = int(_F.RUNNING), int(_F.PAUSED), int(_F.SHUTOFF), int(
    _F.OTHER)
_STATES = _RUNNING | _PAUSED | _SHUTOFF | _OTHER
_MANAGEDSAVE, _NO_MANAGEDSAVE = int(_F.MANAGEDSAVE), int(_F.NO_MANAGEDSAVE)
_AUTOSTART, _NO_AUTOSTART = int(_F.AUTOSTART), int(_F.NO_AUTOSTART)
_HAS_SNAPSHOT, _NO_SNAPSHOT = int(_F.HAS_SNAPSHOT), int(_F.NO_SNAPSHOT)
_HAS_CHECKPOINT, _NO_CHECKPOINT = int(_F.HAS_CHECKPOINT), int(_F.NO_CHECKPOINT)
_ACTIVITY, _PERSISTENCE = _ACTIVE | _INACTIVE, _PERSISTENT | _TRANSIENT
_SAVE_BITS = _MANAGEDSAVE | _NO_MANAGEDSAVE
_REST = (_SAVE_BITS | _AUTOSTART | _NO_AUTOSTART | _HAS_SNAPSHOT | _NO_SNAPSHOT | _HAS_CHECKPOINT
         | _NO_CHECKPOINT)
LIST_DOMAINS_ALL = (_ACTIVE | _INACTIVE | _PERSISTENT | _TRANSIENT | _STATES | _MANAGEDSAVE
                    | _NO_MANAGEDSAVE | _AUTOSTART | _NO_AUTOSTART | _HAS_SNAPSHOT
                    | _NO_SNAPSHOT | _HAS_CHECKPOINT | _NO_CHECKPOINT)
"""virConnectListAllDomains' filter flags (VIR_CONNECT_LIST_DOMAINS_FILTERS_ALL)."""


class DomainObjBase:
    """What libvirt's virDomainObj holds for every driver.

    ``id`` is -1 while inactive. ``snapshots`` is the domain's snapshot tree, ``lock``
    the per-domain lock (virObjectLock), ``job`` its :class:`DomainJob`. A driver
    subclasses it and adds its definitions and run-time state.
    """

    __slots__ = ("autostart", "error_domain", "id", "job", "lock", "name", "reason",
                 "snapshots", "state", "uuid")

    def __init__(self, name: str, uuid: str, error_domain: int) -> None:
        self.name = name
        self.uuid = uuid
        self.id = -1
        self.state = SHUTOFF
        self.reason = 0
        self.autostart = False
        self.error_domain = error_domain
        self.snapshots = SnapshotTree(error_domain)
        self.lock = threading.RLock()
        # made here, not on first use: two threads must never get different jobs
        self.job = DomainJob(error_domain)

    @property
    def active(self) -> bool:
        return self.id > 0

    def is_persistent(self) -> bool:
        """Whether the domain has a persistent definition."""
        raise NotImplementedError

    def has_managed_save(self) -> bool:
        """Whether a managed save image exists (the list filter asks)."""
        return False

    def has_checkpoints(self) -> bool:
        return False

    def current_ident(self) -> DomainIdent:
        """The domain's identity as it is now (name, uuid, id)."""
        return DomainIdent(self.name, self.uuid, self.id)

    def set_state(self, state: int, reason: int, events: EventBus | None = None,
                  event: int = -1, detail: int = 0) -> None:
        """virDomainObjSetState; with ``events`` and an ``event`` (virDomainEventType),
        also queue the lifecycle event (event, detail) on that bus."""
        self.state = state
        self.reason = reason
        if events is not None and event >= 0 and events.active:
            events.queue(DOMAIN, self.current_ident(), _LIFECYCLE, (event, detail))

    def queue_lifecycle(self, events: EventBus, event: int, detail: int) -> None:
        """Queue a lifecycle event for the domain as it is now (no state change)."""
        if events.active:
            events.queue(DOMAIN, self.current_ident(), _LIFECYCLE, (event, detail))


D = TypeVar("D", bound=DomainObjBase)


def pair_ok(flags: int, yes: int, no: int, value: bool) -> bool:
    """One pair of filter bits: neither set keeps every domain, else keep a match."""
    if not flags & (yes | no):
        return True
    return bool((flags & yes and value) or (flags & no and not value))


def matches(obj: DomainObjBase, flags: int,
            managed_save: Callable[[DomainObjBase], bool] | None = None) -> bool:
    """virDomainObjListFilter for one domain (``flags`` as virConnectListAllDomains').

    Each group of bits is looked at only when one of its bits is set: the listing of a
    node with many domains pays for the groups asked for alone."""
    if flags & _STATES:
        st = obj.state
        if not ((flags & _RUNNING and st == RUNNING) or (flags & _PAUSED and st == PAUSED)
                or (flags & _SHUTOFF and st == SHUTOFF)
                or (flags & _OTHER and st not in (RUNNING, PAUSED, SHUTOFF))):
            return False
    if flags & _ACTIVITY and not pair_ok(flags, _ACTIVE, _INACTIVE, obj.id != -1):
        return False
    if flags & _PERSISTENCE and not pair_ok(flags, _PERSISTENT, _TRANSIENT,
                                            obj.is_persistent()):
        return False
    if flags & _REST:
        if flags & _SAVE_BITS:
            saved = managed_save(obj) if managed_save is not None else obj.has_managed_save()
            if not pair_ok(flags, _MANAGEDSAVE, _NO_MANAGEDSAVE, saved):
                return False
        return (pair_ok(flags, _AUTOSTART, _NO_AUTOSTART, obj.autostart)
                and pair_ok(flags, _HAS_SNAPSHOT, _NO_SNAPSHOT, len(obj.snapshots) > 0)
                and pair_ok(flags, _HAS_CHECKPOINT, _NO_CHECKPOINT, obj.has_checkpoints()))
    return True


class DomainList(Generic[D]):
    """The domains of one node, by uuid, name and id (libvirt's virDomainObjList).

    ``error_domain`` is the driver's (VIR_FROM_TEST, VIR_FROM_QEMU); ``lookup_details``
    says whether lookups by id/name/uuid name what was asked for (the QEMU driver's
    "no domain with matching name 'x'") or report libvirt's bare "Domain not found"
    (the test driver's). ``by_id`` indexes the running domains whose ids the driver
    recorded with :meth:`set_id`; the id lookup falls back to a scan.
    """

    __slots__ = ("by_id", "by_name", "by_uuid", "error_domain", "lookup_details")

    def __init__(self, error_domain: int, lookup_details: bool = True) -> None:
        self.by_uuid: dict[str, D] = {}
        self.by_name: dict[str, D] = {}
        self.by_id: dict[int, D] = {}
        self.error_domain = error_domain
        self.lookup_details = lookup_details

    def __len__(self) -> int:
        return len(self.by_uuid)

    def __iter__(self) -> Iterator[D]:
        return iter(list(self.by_uuid.values()))

    # ------------------------------------------------------------ add and remove

    def check_add(self, name: str, uuid: str, live: bool) -> D | None:
        """virDomainObjListAddLocked's checks: the domain with this uuid (to be updated),
        or None when the name and uuid are both free; libvirt's errors otherwise.
        ``live`` is VIR_DOMAIN_OBJ_LIST_ADD_LIVE|CHECK_LIVE (a create, not a define)."""
        obj = self.by_uuid.get(uuid)
        if obj is not None:
            if obj.name != name:
                raise make_error(ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                                 f"domain '{obj.name}' is already defined with uuid {uuid}")
            if live:
                if obj.id != -1:
                    raise make_error(ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN,
                                     f"domain '{name}' is already active")
                if not obj.is_persistent():
                    raise make_error(ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN,
                                     f"domain '{name}' is already being started")
            return obj
        other = self.by_name.get(name)
        if other is not None:
            raise make_error(ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                             f"domain '{name}' already exists with uuid {other.uuid}")
        return None

    def add(self, obj: D) -> None:
        """Index ``obj`` (after :meth:`check_add`)."""
        self.by_uuid[obj.uuid] = obj
        self.by_name[obj.name] = obj
        if obj.id != -1:
            self.by_id[obj.id] = obj

    def remove(self, obj: D) -> None:
        """virDomainObjListRemove: forget ``obj`` (only the entries that are ``obj``)."""
        if self.by_uuid.get(obj.uuid) is obj:
            del self.by_uuid[obj.uuid]
        if self.by_name.get(obj.name) is obj:
            del self.by_name[obj.name]
        if obj.id != -1 and self.by_id.get(obj.id) is obj:
            del self.by_id[obj.id]

    def set_id(self, obj: D, dom_id: int) -> None:
        """Give a starting domain its id (and index it)."""
        obj.id = dom_id
        self.by_id[dom_id] = obj

    def clear_id(self, obj: D) -> None:
        """The domain stopped: id -1, out of the id index."""
        if obj.id != -1 and self.by_id.get(obj.id) is obj:
            del self.by_id[obj.id]
        obj.id = -1

    def rename(self, obj: D, new_name: str) -> None:
        """virDomainObjListRename's index change (the caller checked the new name)."""
        if self.by_name.get(obj.name) is obj:
            del self.by_name[obj.name]
        obj.name = new_name
        self.by_name[new_name] = obj

    # ------------------------------------------------------------ lookups

    def _not_found(self, detail: str) -> VirtError:
        return make_error(ErrorCode.NO_DOMAIN, self.error_domain,
                          detail if self.lookup_details else None)

    def find_by_id(self, dom_id: int) -> D:
        """virDomainObjListFindByID, or VIR_ERR_NO_DOMAIN."""
        obj = self.by_id.get(dom_id)
        if obj is None or obj.id != dom_id:
            obj = next((o for o in self.by_uuid.values() if o.id == dom_id and o.id != -1),
                       None)
        if obj is None:
            raise self._not_found(f"no domain with matching id {dom_id}")
        return obj

    def find_by_name(self, name: str) -> D:
        """virDomainObjListFindByName, or VIR_ERR_NO_DOMAIN."""
        obj = self.by_name.get(name)
        if obj is None:
            raise self._not_found(f"no domain with matching name '{name}'")
        return obj

    def find_by_uuid(self, uuid: str) -> D:
        """virDomainObjListFindByUUID (any case), or VIR_ERR_NO_DOMAIN."""
        obj = self.by_uuid.get(uuid) or self.by_uuid.get(uuid.lower())
        if obj is None:
            raise self._not_found(f"no domain with matching uuid '{uuid}'")
        return obj

    def get(self, ident: DomainIdent) -> D:
        """The object behind a domain handle (the drivers' *DomObjFromDomain):
        "no domain with matching uuid 'U' (NAME)" when it is gone."""
        obj = self.by_uuid.get(ident.uuid)
        if obj is None:
            raise make_error(ErrorCode.NO_DOMAIN, self.error_domain,
                             f"no domain with matching uuid '{ident.uuid}' ({ident.name})")
        return obj

    # ------------------------------------------------------------ listing

    def list_all(self, flags: int,
                 managed_save: Callable[[DomainObjBase], bool] | None = None) -> list[D]:
        """virDomainObjListCollect + Filter: the domains ``flags`` keep (all for 0)."""
        if not flags:
            return list(self.by_uuid.values())
        return [o for o in self.by_uuid.values() if matches(o, flags, managed_save)]

    def num_active(self) -> int:
        return sum(1 for o in self.by_uuid.values() if o.id != -1)

    def num_inactive(self) -> int:
        return sum(1 for o in self.by_uuid.values() if o.id == -1)

    def active_ids(self, maxids: int, sort: bool = False) -> list[int]:
        """virDomainObjListGetActiveIDs (in list order, or sorted)."""
        ids = [o.id for o in self.by_uuid.values() if o.id != -1]
        if sort:
            ids.sort()
        return ids[:maxids]

    def inactive_names(self, maxnames: int, sort: bool = False) -> list[str]:
        """virDomainObjListGetInactiveNames (in list order, or sorted)."""
        names = [o.name for o in self.by_uuid.values() if o.id == -1]
        if sort:
            names.sort()
        return names[:maxnames]


# ---------------------------------------------------------------- snapshot getters


class SnapshotGetters:
    """The read-only virDomainSnapshot* methods, once for every driver.

    A driver provides ``_snapshot_prefix`` (libvirt's function prefix for the
    unsupported-flags message: "test", "qemu"), ``_snapshot_error_domain`` (its error
    domain), ``_snapshot_lock()`` (the lock its
    snapshot trees are read under) and ``_snapshot_domain(dom)`` (the domain's current
    identity and its :class:`SnapshotTree`, or the driver's NO_DOMAIN error).
    """

    _snapshot_prefix: str
    _snapshot_error_domain: int

    def _snapshot_lock(self) -> AbstractContextManager[object]:
        raise NotImplementedError

    def _snapshot_domain(self, dom: DomainIdent) -> tuple[DomainIdent, SnapshotTree]:
        raise NotImplementedError

    def _snapshot_flags(self, flags: int, allowed: int, api: str) -> None:
        extra = flags & ~allowed
        if extra:
            raise invalid_flags(extra, self._snapshot_prefix + api, self._snapshot_error_domain)

    def _names(self, dom: DomainIdent, parent: str | None, flags: int,
               api: str) -> tuple[DomainIdent, list[str]]:
        self._snapshot_flags(flags, SNAPSHOT_LIST_ALLOWED, api)
        with self._snapshot_lock():
            ident, tree = self._snapshot_domain(dom)
            if parent is not None:
                tree.get(parent)
            return ident, [d.name or "" for d in tree.list(parent, flags)]

    def _no_flags(self, flags: int, api: str) -> None:
        if flags:
            self._snapshot_flags(flags, 0, api)

    def domain_snapshot_num(self, dom: DomainIdent, flags: int = 0) -> int:
        return len(self._names(dom, None, flags, "DomainSnapshotNum")[1])

    def domain_snapshot_list_names(self, dom: DomainIdent, maxnames: int,
                                   flags: int = 0) -> list[str]:
        return self._names(dom, None, flags, "DomainSnapshotListNames")[1][:maxnames]

    def domain_list_all_snapshots(self, dom: DomainIdent, flags: int = 0) -> list[SnapshotIdent]:
        ident, names = self._names(dom, None, flags, "DomainListAllSnapshots")
        return [SnapshotIdent(ident, name) for name in names]

    def domain_snapshot_num_children(self, snap: SnapshotIdent, flags: int = 0) -> int:
        return len(self._names(snap.domain, snap.name, flags, "DomainSnapshotNumChildren")[1])

    def domain_snapshot_list_all_children(self, snap: SnapshotIdent,
                                          flags: int = 0) -> list[SnapshotIdent]:
        ident, names = self._names(snap.domain, snap.name, flags,
                                   "DomainSnapshotListAllChildren")
        return [SnapshotIdent(ident, name) for name in names]

    def domain_snapshot_lookup_by_name(self, dom: DomainIdent, name: str,
                                       flags: int = 0) -> SnapshotIdent:
        self._no_flags(flags, "DomainSnapshotLookupByName")
        with self._snapshot_lock():
            ident, tree = self._snapshot_domain(dom)
            return SnapshotIdent(ident, tree.get(name).name or "")

    def domain_has_current_snapshot(self, dom: DomainIdent, flags: int = 0) -> bool:
        self._no_flags(flags, "DomainHasCurrentSnapshot")
        with self._snapshot_lock():
            return self._snapshot_domain(dom)[1].current is not None

    def domain_snapshot_get_parent(self, snap: SnapshotIdent, flags: int = 0) -> SnapshotIdent:
        self._no_flags(flags, "DomainSnapshotGetParent")
        with self._snapshot_lock():
            ident, tree = self._snapshot_domain(snap.domain)
            s = tree.get(snap.name)
            if s.parent is None:
                raise make_error(ErrorCode.NO_DOMAIN_SNAPSHOT, self._snapshot_error_domain,
                                 f"snapshot '{s.name}' does not have a parent")
            return SnapshotIdent(ident, s.parent)

    def domain_snapshot_current(self, dom: DomainIdent, flags: int = 0) -> SnapshotIdent:
        self._no_flags(flags, "DomainSnapshotCurrent")
        with self._snapshot_lock():
            ident, tree = self._snapshot_domain(dom)
            if tree.current is None:
                raise make_error(ErrorCode.NO_DOMAIN_SNAPSHOT, self._snapshot_error_domain,
                                 "the domain does not have a current snapshot")
            return SnapshotIdent(ident, tree.current)

    def domain_snapshot_is_current(self, snap: SnapshotIdent, flags: int = 0) -> bool:
        self._no_flags(flags, "DomainSnapshotIsCurrent")
        with self._snapshot_lock():
            tree = self._snapshot_domain(snap.domain)[1]
            return tree.current == tree.get(snap.name).name

    def domain_snapshot_has_metadata(self, snap: SnapshotIdent, flags: int = 0) -> bool:
        self._no_flags(flags, "DomainSnapshotHasMetadata")
        with self._snapshot_lock():
            self._snapshot_domain(snap.domain)[1].get(snap.name)
            return True
