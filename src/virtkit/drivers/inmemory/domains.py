"""Domain life cycle, lookup and listing for the test driver."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from virtkit.drivers.inmemory.common import (
    PAUSED,
    RUNNING,
    SHUTOFF,
    Base,
    check_active,
    check_flags,
    err,
)
from virtkit.drivers.inmemory.lazy import lazy_module
from virtkit.drivers.inmemory.node import DomainObj, TestNode
from virtkit.errors import ErrorCode, ErrorDomain
from virtkit.types import DomainIdent

if TYPE_CHECKING:
    from virtkit.drivers.inmemory import defs
else:
    defs = lazy_module("virtkit.drivers.inmemory.defs")

# virDomainEventType and details used here.
EV_DEFINED, EV_UNDEFINED, EV_STARTED, EV_SUSPENDED, EV_RESUMED, EV_STOPPED = range(6)
DEFINED_ADDED, DEFINED_UPDATED, DEFINED_RENAMED = 0, 1, 2
UNDEFINED_REMOVED, UNDEFINED_RENAMED = 0, 1
STARTED_BOOTED, STARTED_RESTORED, STARTED_FROM_SNAPSHOT = 0, 2, 3
SUSPENDED_PAUSED, SUSPENDED_FROM_SNAPSHOT = 0, 5
RESUMED_UNPAUSED = 0
STOPPED_SHUTDOWN, STOPPED_DESTROYED, STOPPED_CRASHED, STOPPED_SAVED = 0, 1, 2, 4
STOPPED_FROM_SNAPSHOT = 6

# Reasons (virDomain*Reason).
RUNNING_BOOTED, RUNNING_RESTORED, RUNNING_FROM_SNAPSHOT, RUNNING_UNPAUSED = 1, 3, 4, 5
PAUSED_USER, PAUSED_FROM_SNAPSHOT = 1, 7
SHUTOFF_SHUTDOWN, SHUTOFF_DESTROYED, SHUTOFF_CRASHED, SHUTOFF_SAVED = 1, 2, 3, 5
SHUTOFF_FAILED, SHUTOFF_FROM_SNAPSHOT = 6, 7

# Flags.
_DEFINE_VALIDATE = 1
_START_VALIDATE = 16
_UNDEFINE_MANAGED_SAVE = 1
_UNDEFINE_SNAPSHOTS_METADATA = 2
_DESTROY_GRACEFUL = 1
_REBOOT_ALL = 0x3F
_DUMP_CRASH = 1

_LIST = {
    "ACTIVE": 1, "INACTIVE": 2, "PERSISTENT": 4, "TRANSIENT": 8, "RUNNING": 16,
    "PAUSED": 32, "SHUTOFF": 64, "OTHER": 128, "MANAGEDSAVE": 256, "NO_MANAGEDSAVE": 512,
    "AUTOSTART": 1024, "NO_AUTOSTART": 2048, "HAS_SNAPSHOT": 4096, "NO_SNAPSHOT": 8192,
    "HAS_CHECKPOINT": 16384, "NO_CHECKPOINT": 32768,
}
LIST_FILTERS_ALL = 0xFFFF


def pair_ok(flags: int, yes: int, no: int, value: bool) -> bool:
    """One pair of list filter bits: no bit set keeps all, else keep what matches a set bit."""
    if not flags & (yes | no):
        return True
    return bool((flags & yes and value) or (flags & no and not value))


def domain_matches(obj: DomainObj, flags: int) -> bool:
    """virDomainObjListFilter."""
    st = obj.state
    if flags & 240 and not (
        (flags & 16 and st == RUNNING)
        or (flags & 32 and st == PAUSED)
        or (flags & 64 and st == SHUTOFF)
        or (flags & 128 and st not in (RUNNING, PAUSED, SHUTOFF))
    ):
        return False
    return (
        pair_ok(flags, 1, 2, obj.id != -1)
        and pair_ok(flags, 4, 8, obj.persistent)
        and pair_ok(flags, 256, 512, obj.managed_save)
        and pair_ok(flags, 1024, 2048, obj.autostart)
        and pair_ok(flags, 4096, 8192, bool(obj.snapshots))
        and pair_ok(flags, 16384, 32768, False)  # test domains have no checkpoints
    )


def set_numbers(obj: DomainObj) -> None:
    """Refresh the get_info mirror of ``obj.defn``."""
    obj.max_mem, obj.memory, obj.vcpus = defs.numbers(obj.defn)


def start_state(node: TestNode, obj: DomainObj, reason: int) -> None:
    """testDomainStartState: running, a new id, the live definition split off."""
    obj.state = RUNNING
    obj.reason = reason
    obj.id = node.allocate_id()
    node.domains_by_id[obj.id] = obj
    if obj.persistent and obj.new_def is None:
        obj.share_def()  # shared until either side changes (copy on write)
    obj.managed_save = False
    obj.refresh_ident()


def shutdown_state(node: TestNode, obj: DomainObj, reason: int) -> None:
    """testDomainShutdownState: back to the persistent definition, shut off."""
    if obj.new_def is not None:
        obj.defn = obj.new_def
        obj.new_def = None
        set_numbers(obj)
    obj.state = SHUTOFF
    obj.reason = reason
    if obj.id != -1 and node.domains_by_id.get(obj.id) is obj:
        del node.domains_by_id[obj.id]
    obj.id = -1
    obj.refresh_ident()


def live_def(obj: DomainObj) -> Any:
    """The running definition, ready to be changed."""
    if obj.new_def is not None and obj.new_def is obj.defn:
        obj.defn = obj.defn.copy()
    return obj.defn


def config_def(obj: DomainObj) -> Any:
    """The persistent definition, ready to be changed."""
    if obj.id != -1 and obj.new_def is not None:
        if obj.new_def is obj.defn:
            obj.new_def = obj.new_def.copy()
        return obj.new_def
    return obj.defn


class DomainLifecycleMixin(Base):
    """Listing, lookup, define/undefine and state changes."""

    # ------------------------------------------------------------------ listing

    def connect_num_of_domains(self) -> int:
        with self._node.lock:
            return len(self._node.domains_by_id)

    def connect_list_domains(self, maxids: int) -> list[int]:
        with self._node.lock:
            return [o.id for o in self._node.domains_by_uuid.values() if o.id != -1][:maxids]

    def connect_num_of_defined_domains(self) -> int:
        with self._node.lock:
            return sum(1 for o in self._node.domains_by_uuid.values() if o.id == -1)

    def connect_list_defined_domains(self, maxnames: int) -> list[str]:
        with self._node.lock:
            names = [o.name for o in self._node.domains_by_uuid.values() if o.id == -1]
            return names[:maxnames]

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainIdent]:
        check_flags(flags, LIST_FILTERS_ALL, "testConnectListAllDomains")
        with self._node.lock:
            objs = self._node.domains_by_uuid.values()
            if not flags:
                return [o.ident for o in objs]
            return [o.ident for o in objs if domain_matches(o, flags)]

    # ------------------------------------------------------------------ lookup

    def domain_lookup_by_id(self, id: int) -> DomainIdent:
        obj = self._node.domains_by_id.get(id)
        if obj is None:
            raise err(ErrorCode.NO_DOMAIN, None)
        return obj.ident

    def domain_lookup_by_name(self, name: str) -> DomainIdent:
        obj = self._node.domains_by_name.get(name)
        if obj is None:
            raise err(ErrorCode.NO_DOMAIN, None)
        return obj.ident

    def domain_lookup_by_uuid(self, uuid: str) -> DomainIdent:
        obj = self._node.domains_by_uuid.get(uuid.lower())
        if obj is None:
            raise err(ErrorCode.NO_DOMAIN, None)
        return obj.ident

    # ------------------------------------------------------------------ define / undefine

    def _add(self, d: Any, live: bool) -> tuple[DomainObj, Any]:
        """virDomainObjListAdd: returns (object, previous definition or None)."""
        node = self._node
        name, uuid = d.name, d.uuid
        obj = node.domains_by_uuid.get(uuid)
        if obj is not None:
            if obj.name != name:
                raise err(ErrorCode.OPERATION_FAILED,
                          f"domain '{obj.name}' is already defined with uuid {uuid}",
                          ErrorDomain.DOMAIN)
            if live:
                if obj.id != -1:
                    raise err(ErrorCode.OPERATION_INVALID,
                              f"domain '{name}' is already active", ErrorDomain.DOMAIN)
                if not obj.persistent:
                    raise err(ErrorCode.OPERATION_INVALID,
                              f"domain '{name}' is already being started", ErrorDomain.DOMAIN)
            old = None
            if obj.id != -1:
                old = obj.new_def
                obj.new_def = d
            elif live:
                if obj.new_def is None:
                    obj.new_def = obj.defn
                obj.defn = d
                set_numbers(obj)
            else:
                old = obj.defn
                obj.defn = d
                set_numbers(obj)
            return obj, old
        other = node.domains_by_name.get(name)
        if other is not None:
            raise err(ErrorCode.OPERATION_FAILED,
                      f"domain '{name}' already exists with uuid {other.uuid}",
                      ErrorDomain.DOMAIN)
        obj = DomainObj(d, name, uuid)
        set_numbers(obj)
        node.add_domain(obj)
        return obj, None

    def domain_define_xml(self, xml: str, flags: int = 0) -> DomainIdent:
        check_flags(flags, _DEFINE_VALIDATE, "testDomainDefineXMLFlags")
        d = defs.parse_domain(xml)
        defs.take_test_namespace(d)
        if d.name and "\n" in d.name:
            raise err(ErrorCode.XML_DETAIL, "invalid char in name: \n", ErrorDomain.XML)
        with self._txn():
            obj, old = self._add(d, live=False)
            obj.persistent = True
            self._lifecycle(obj, EV_DEFINED, DEFINED_UPDATED if old is not None else DEFINED_ADDED)
            return obj.ident

    def domain_undefine(self, dom: DomainIdent, flags: int = 0) -> None:
        check_flags(flags, _UNDEFINE_MANAGED_SAVE | _UNDEFINE_SNAPSHOTS_METADATA,
                    "testDomainUndefineFlags")
        with self._txn() as node:
            obj = self._dom(dom)
            if obj.managed_save and not flags & _UNDEFINE_MANAGED_SAVE:
                raise err(ErrorCode.OPERATION_INVALID,
                          "Refusing to undefine while domain managed save image exists")
            if obj.id == -1 and obj.snapshots and not flags & _UNDEFINE_SNAPSHOTS_METADATA:
                raise err(ErrorCode.OPERATION_INVALID,
                          f"cannot delete inactive domain with {len(obj.snapshots)} snapshots")
            self._lifecycle(obj, EV_UNDEFINED, UNDEFINED_REMOVED)
            obj.managed_save = False
            if obj.id != -1:
                obj.persistent = False
                if obj.new_def is not None:
                    obj.new_def = None
            else:
                node.remove_domain(obj)

    # ------------------------------------------------------------------ start / stop

    def domain_create_xml(self, xml: str, flags: int = 0) -> DomainIdent:
        check_flags(flags, _START_VALIDATE, "testDomainCreateXML")
        d = defs.parse_domain(xml)
        defs.take_test_namespace(d)
        with self._txn() as node:
            obj, _ = self._add(d, live=True)
            start_state(node, obj, RUNNING_BOOTED)
            self._lifecycle(obj, EV_STARTED, STARTED_BOOTED)
            return obj.ident

    def domain_create(self, dom: DomainIdent, flags: int = 0) -> DomainIdent:
        check_flags(flags, 0, "testDomainCreateWithFlags")
        with self._txn() as node:
            obj = self._dom(dom)
            if obj.state != SHUTOFF:
                raise err(ErrorCode.INTERNAL_ERROR, f"Domain '{dom.name}' is already running")
            start_state(node, obj, RUNNING_BOOTED)
            self._lifecycle(obj, EV_STARTED, STARTED_BOOTED)
            return obj.ident

    def _stopped(self, node: TestNode, obj: DomainObj, reason: int, detail: int) -> None:
        shutdown_state(node, obj, reason)
        self._lifecycle(obj, EV_STOPPED, detail)
        if not obj.persistent:
            node.remove_domain(obj)

    def domain_destroy(self, dom: DomainIdent, flags: int = 0) -> None:
        check_flags(flags, _DESTROY_GRACEFUL, "testDomainDestroyFlags")
        with self._txn() as node:
            obj = self._dom(dom)
            check_active(obj)
            self._stopped(node, obj, SHUTOFF_DESTROYED, STOPPED_DESTROYED)

    def _lifecycle_action(self, node: TestNode, obj: DomainObj, action: str | None) -> None:
        """testDomainActionSetState followed by the shutdown bookkeeping."""
        if action in ("restart", "rename-restart"):
            obj.state, obj.reason = RUNNING, RUNNING_BOOTED
            return
        obj.state, obj.reason = SHUTOFF, SHUTOFF_SHUTDOWN
        self._stopped(node, obj, SHUTOFF_SHUTDOWN, STOPPED_SHUTDOWN)

    def domain_shutdown(self, dom: DomainIdent, flags: int = 0) -> None:
        check_flags(flags, 0, "testDomainShutdownFlags")
        with self._txn() as node:
            obj = self._dom(dom)
            if obj.state == SHUTOFF:
                raise err(ErrorCode.INTERNAL_ERROR, f"domain '{dom.name}' not running")
            self._lifecycle_action(node, obj, obj.defn.on_poweroff)

    def domain_reboot(self, dom: DomainIdent, flags: int = 0) -> None:
        check_flags(flags, _REBOOT_ALL, "testDomainReboot")
        with self._txn() as node:
            obj = self._dom(dom)
            check_active(obj)
            self._lifecycle_action(node, obj, obj.defn.on_reboot)

    def domain_reset(self, dom: DomainIdent, flags: int = 0) -> None:
        check_flags(flags, 0, "testDomainReset")
        with self._node.lock:
            check_active(self._dom(dom))

    def domain_suspend(self, dom: DomainIdent) -> None:
        with self._txn():
            obj = self._dom(dom)
            if obj.state in (SHUTOFF, PAUSED):
                raise err(ErrorCode.INTERNAL_ERROR, f"domain '{dom.name}' not running")
            obj.state, obj.reason = PAUSED, PAUSED_USER
            self._lifecycle(obj, EV_SUSPENDED, SUSPENDED_PAUSED)

    def domain_resume(self, dom: DomainIdent) -> None:
        with self._txn():
            obj = self._dom(dom)
            if obj.state != PAUSED:
                raise err(ErrorCode.INTERNAL_ERROR, f"domain '{dom.name}' not paused")
            obj.state, obj.reason = RUNNING, RUNNING_UNPAUSED
            self._lifecycle(obj, EV_RESUMED, RESUMED_UNPAUSED)

    def domain_core_dump(self, dom: DomainIdent, to: str, flags: int = 0) -> None:
        check_flags(flags, _DUMP_CRASH, "testDomainCoreDumpWithFormat")
        with self._txn() as node:
            obj = self._dom(dom)
            check_active(obj)
            try:
                with open(to, "wb") as fh:
                    fh.write(b"TestGuestMagic\0")
            except OSError as e:
                detail = f"domain '{dom.name}' coredump: failed to open {to}: {e.strerror}"
                raise err(ErrorCode.SYSTEM_ERROR, detail) from None
            if flags & _DUMP_CRASH:
                self._stopped(node, obj, SHUTOFF_CRASHED, STOPPED_CRASHED)

    # ------------------------------------------------------------------ simple queries

    def domain_is_active(self, dom: DomainIdent) -> bool:
        with self._node.lock:
            return self._dom(dom).id != -1

    def domain_is_persistent(self, dom: DomainIdent) -> bool:
        with self._node.lock:
            return self._dom(dom).persistent

    def domain_is_updated(self, dom: DomainIdent) -> bool:
        return False

    def domain_get_state(self, dom: DomainIdent, flags: int = 0) -> tuple[int, int]:
        check_flags(flags, 0, "testDomainGetState")
        with self._node.lock:
            obj = self._dom(dom)
            return obj.state, obj.reason

    def domain_get_autostart(self, dom: DomainIdent) -> bool:
        with self._node.lock:
            return self._dom(dom).autostart

    def domain_set_autostart(self, dom: DomainIdent, autostart: bool) -> None:
        with self._node.lock:
            self._dom(dom).autostart = bool(autostart)

    def domain_rename(self, dom: DomainIdent, new_name: str, flags: int = 0) -> DomainIdent:
        check_flags(flags, 0, "testDomainRename")
        with self._txn() as node:
            obj = self._dom(dom)
            if obj.id != -1:
                raise err(ErrorCode.OPERATION_INVALID, "cannot rename active domain")
            if not obj.persistent:
                raise err(ErrorCode.OPERATION_INVALID, "cannot rename a transient domain")
            if obj.state != SHUTOFF:
                raise err(ErrorCode.OPERATION_INVALID,
                          "domain has to be shutoff before renaming")
            if new_name in node.domains_by_name:
                raise err(ErrorCode.OPERATION_INVALID,
                          f"domain with name '{new_name}' already exists", ErrorDomain.DOMAIN)
            if "/" in new_name:
                raise err(ErrorCode.XML_ERROR, f"name {new_name} cannot contain '/'")
            self._lifecycle(obj, EV_UNDEFINED, UNDEFINED_RENAMED)
            del node.domains_by_name[obj.name]
            obj.defn.name = new_name
            obj.name = new_name
            node.domains_by_name[new_name] = obj
            obj.refresh_ident()
            self._lifecycle(obj, EV_DEFINED, DEFINED_RENAMED)
            return obj.ident
