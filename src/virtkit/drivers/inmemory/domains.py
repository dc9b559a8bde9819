"""Domain life cycle, lookup and listing for the test driver."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from virtkit.constants import (
    DomainCoreDumpFlags,
    DomainCreateFlags,
    DomainDefineFlags,
    DomainDestroyFlags,
    DomainRebootFlags,
    DomainUndefineFlags,
)
from virtkit.drivers.domainobj import (
    DEFINED_ADDED,
    DEFINED_RENAMED,
    DEFINED_UPDATED,
    EV_DEFINED,
    EV_RESUMED,
    EV_STARTED,
    EV_STOPPED,
    EV_SUSPENDED,
    EV_UNDEFINED,
    LIST_DOMAINS_ALL,
    PAUSED,
    PAUSED_USER,
    RESUMED_UNPAUSED,
    RUNNING,
    RUNNING_BOOTED,
    RUNNING_UNPAUSED,
    SHUTOFF,
    SHUTOFF_CRASHED,
    SHUTOFF_DESTROYED,
    SHUTOFF_SHUTDOWN,
    STARTED_BOOTED,
    STOPPED_CRASHED,
    STOPPED_DESTROYED,
    STOPPED_SHUTDOWN,
    SUSPENDED_PAUSED,
    UNDEFINED_REMOVED,
    UNDEFINED_RENAMED,
)
from virtkit.drivers.inmemory.common import Base, check_active, check_flags, err
from virtkit.drivers.inmemory.lazy import lazy_module
from virtkit.drivers.inmemory.node import DomainObj, TestNode
from virtkit.errors import ErrorCode, ErrorDomain
from virtkit.types import DomainIdent

if TYPE_CHECKING:
    from virtkit.drivers.inmemory import defs
else:
    defs = lazy_module("virtkit.drivers.inmemory.defs")

# Flags (libvirt's names).
_DEFINE_VALIDATE = int(DomainDefineFlags.VALIDATE)
_START_VALIDATE = int(DomainCreateFlags.START_VALIDATE)
_UNDEFINE_MANAGED_SAVE = int(DomainUndefineFlags.MANAGED_SAVE)
_UNDEFINE_SNAPSHOTS_METADATA = int(DomainUndefineFlags.SNAPSHOTS_METADATA)
_DESTROY_GRACEFUL = int(DomainDestroyFlags.GRACEFUL)
# testDomainReboot's virCheckFlags (VIR_DOMAIN_REBOOT_*)
_REBOOT_ALL = (int(DomainRebootFlags.ACPI_POWER_BTN) | int(DomainRebootFlags.GUEST_AGENT)
               | int(DomainRebootFlags.INITCTL) | int(DomainRebootFlags.SIGNAL)
               | int(DomainRebootFlags.PARAVIRT))
_DUMP_CRASH = int(DomainCoreDumpFlags.CRASH)


def set_numbers(obj: DomainObj) -> None:
    """Refresh the get_info mirror of ``obj.defn``."""
    obj.max_mem, obj.memory, obj.vcpus = defs.numbers(obj.defn)


def start_state(node: TestNode, obj: DomainObj, reason: int) -> None:
    """testDomainStartState: running, a new id, the live definition split off."""
    obj.set_state(RUNNING, reason)
    node.domains.set_id(obj, node.allocate_id())
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
    obj.set_state(SHUTOFF, reason)
    node.domains.clear_id(obj)
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
            return len(self._node.domains.by_id)

    def connect_list_domains(self, maxids: int) -> list[int]:
        with self._node.lock:
            return self._node.domains.active_ids(maxids)

    def connect_num_of_defined_domains(self) -> int:
        with self._node.lock:
            return self._node.domains.num_inactive()

    def connect_list_defined_domains(self, maxnames: int) -> list[str]:
        with self._node.lock:
            return self._node.domains.inactive_names(maxnames)

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainIdent]:
        check_flags(flags, LIST_DOMAINS_ALL, "testConnectListAllDomains")
        with self._node.lock:
            if not flags:  # the common call: no filter, no list copy
                return [o.ident for o in self._node.domains_by_uuid.values()]
            return [o.ident for o in self._node.domains.list_all(flags)]

    # ------------------------------------------------------------------ lookup

    def domain_lookup_by_id(self, id: int) -> DomainIdent:
        return self._node.domains.find_by_id(id).ident

    def domain_lookup_by_name(self, name: str) -> DomainIdent:
        return self._node.domains.find_by_name(name).ident

    def domain_lookup_by_uuid(self, uuid: str) -> DomainIdent:
        return self._node.domains.find_by_uuid(uuid).ident

    # ------------------------------------------------------------------ define / undefine

    def _add(self, d: Any, live: bool) -> tuple[DomainObj, Any]:
        """virDomainObjListAdd: returns (object, previous definition or None)."""
        obj = self._node.domains.check_add(d.name, d.uuid, live)
        if obj is None:
            obj = DomainObj(d, d.name, d.uuid)
            set_numbers(obj)
            self._node.add_domain(obj)
            return obj, None
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
            if (obj.id == -1 and len(obj.snapshots)
                    and not flags & _UNDEFINE_SNAPSHOTS_METADATA):
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
            obj.set_state(RUNNING, RUNNING_BOOTED)
            return
        obj.set_state(SHUTOFF, SHUTOFF_SHUTDOWN)
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
            obj.set_state(PAUSED, PAUSED_USER, self._node.events, EV_SUSPENDED, SUSPENDED_PAUSED)

    def domain_resume(self, dom: DomainIdent) -> None:
        with self._txn():
            obj = self._dom(dom)
            if obj.state != PAUSED:
                raise err(ErrorCode.INTERNAL_ERROR, f"domain '{dom.name}' not paused")
            obj.set_state(RUNNING, RUNNING_UNPAUSED, self._node.events, EV_RESUMED,
                          RESUMED_UNPAUSED)

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
            obj.defn.name = new_name
            node.domains.rename(obj, new_name)
            obj.refresh_ident()
            self._lifecycle(obj, EV_DEFINED, DEFINED_RENAMED)
            return obj.ident
