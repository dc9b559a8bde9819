"""One test node: its objects, its lock and its event bus.

``test:///default`` connections in one process share one ``TestNode``
(reference counted, see ``virtkit.drivers.inmemory.open_connection``); every
``test:///path.xml`` connection gets its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from virtkit.drivers.domainobj import DomainList, DomainObjBase
from virtkit.drivers.eventbus import EventBus
from virtkit.errors import ErrorDomain
from virtkit.types import DomainIdent, NetworkIdent, NodeInfo, StoragePoolIdent

# The test driver's emulator and default architecture.
TEST_MODEL = "i686"
TEST_EMULATOR = "/usr/bin/test-hv"
# testDomainObjPrivateAlloc's fake guest clock.
DEFAULT_GUEST_SECONDS = 627319920


def default_node_info() -> NodeInfo:
    """defaultNodeInfo: i686, 3 GiB, 16 CPUs at 1400 MHz, 2x2x2x2."""
    return NodeInfo(TEST_MODEL, 3145728, 16, 1400, 2, 2, 2, 2)


class Pending:
    """A definition not parsed yet: ``make()`` builds it on first use, once.

    ``test:///default`` starts with its objects' definitions pending, so a
    connection that only lists objects never parses XML.
    """

    __slots__ = ("make", "value")

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make
        self.value: Any = None

    def get(self) -> Any:
        if self.value is None:
            self.value = self.make()
        return self.value


def _resolved(value: Any) -> Any:
    return value.get() if type(value) is Pending else value


class Cell:
    """A NUMA cell of the default node."""

    __slots__ = ("cpus", "free_mem", "mem")

    def __init__(self, cpus: int, mem: int, free_mem: int) -> None:
        self.cpus = cpus
        self.mem = mem
        self.free_mem = free_mem


class DomainObj(DomainObjBase):
    """A domain as the node keeps it (libvirt's virDomainObj; the shared part in
    ``drivers/domainobj.py``).

    ``defn`` is the running definition (or the only one while inactive);
    ``new_def`` is the persistent definition while a persistent domain runs.
    At start both may be the same object: the first change through either
    side copies it (copy on write), so start/stop does not copy definitions.
    ``max_mem``/``memory``/``vcpus`` mirror ``defn`` for a cheap get_info.
    Either definition may be a ``Pending`` until first read. ``snap_domains`` holds
    the domain definition each snapshot captured (by snapshot name).
    """

    __slots__ = (
        "_defn",
        "_new_def",
        "ident",
        "managed_save",
        "max_mem",
        "memory",
        "nseconds",
        "persistent",
        "seconds",
        "snap_domains",
        "vcpus",
    )

    def __init__(self, defn: Any, name: str, uuid: str) -> None:
        DomainObjBase.__init__(self, name, uuid, ErrorDomain.TEST)
        self.persistent = False
        self.managed_save = False
        self._defn: Any = defn
        self._new_def: Any = None
        self.snap_domains: dict[str, Any] = {}
        self.max_mem = 0
        self.memory = 0
        self.vcpus = 0
        self.seconds = DEFAULT_GUEST_SECONDS
        self.nseconds = 0
        self.ident = DomainIdent(name, uuid, -1)

    @property
    def defn(self) -> Any:
        value = self._defn
        if type(value) is Pending:
            value = self._defn = value.get()
        return value

    @defn.setter
    def defn(self, value: Any) -> None:
        self._defn = value

    @property
    def new_def(self) -> Any:
        value = self._new_def
        if type(value) is Pending:
            value = self._new_def = value.get()
        return value

    @new_def.setter
    def new_def(self, value: Any) -> None:
        self._new_def = value

    def share_def(self) -> None:
        """Make the running definition the persistent one too (copy on write, see above)."""
        self._new_def = self._defn

    def is_persistent(self) -> bool:
        return self.persistent

    def has_managed_save(self) -> bool:
        return self.managed_save

    def refresh_ident(self) -> DomainIdent:
        self.ident = DomainIdent(self.name, self.uuid, self.id)
        return self.ident

    current_ident = refresh_ident


class NetworkObj:
    """A virtual network; ``defn`` may be a ``Pending`` until first read."""

    __slots__ = ("_defn", "active", "autostart", "name", "new_def", "persistent", "uuid")

    def __init__(self, defn: Any, name: str, uuid: str, active: bool = False,
                 persistent: bool = False, autostart: bool = False, new_def: Any = None) -> None:
        self._defn = defn
        self.name = name
        self.uuid = uuid
        self.active = active
        self.persistent = persistent
        self.autostart = autostart
        self.new_def = new_def

    @property
    def defn(self) -> Any:
        value = self._defn = _resolved(self._defn)
        return value

    @defn.setter
    def defn(self, value: Any) -> None:
        self._defn = value

    @property
    def ident(self) -> NetworkIdent:
        return NetworkIdent(self.name, self.uuid)


class VolumeObj:
    """A storage volume of a pool."""

    __slots__ = ("allocation", "capacity", "defn", "key", "name", "path")

    def __init__(self, defn: Any, name: str, key: str, path: str, capacity: int,
                 allocation: int) -> None:
        self.defn = defn
        self.name = name
        self.key = key
        self.path = path
        self.capacity = capacity
        self.allocation = allocation


class PoolObj:
    """A storage pool; ``persistent`` is libvirt's "has a config file".

    ``defn`` may be a ``Pending`` until first read.
    """

    __slots__ = ("_defn", "active", "allocation", "autostart", "available", "capacity", "name",
                 "persistent", "pool_type", "target_path", "uuid", "volumes")

    def __init__(self, defn: Any, name: str, uuid: str, pool_type: str, target_path: str,
                 capacity: int, allocation: int, available: int, active: bool = False,
                 persistent: bool = False, autostart: bool = False,
                 volumes: dict[str, VolumeObj] | None = None) -> None:
        self._defn = defn
        self.name = name
        self.uuid = uuid
        self.pool_type = pool_type
        self.target_path = target_path
        self.capacity = capacity
        self.allocation = allocation
        self.available = available
        self.active = active
        self.persistent = persistent
        self.autostart = autostart
        self.volumes: dict[str, VolumeObj] = {} if volumes is None else volumes

    @property
    def defn(self) -> Any:
        value = self._defn = _resolved(self._defn)
        return value

    @defn.setter
    def defn(self, value: Any) -> None:
        self._defn = value

    @property
    def ident(self) -> StoragePoolIdent:
        return StoragePoolIdent(self.name, self.uuid)


class HostObj:
    """A host interface or node device: kept as formatted XML plus a few fields."""

    __slots__ = ("active", "caps", "mac", "name", "parent", "xml")

    def __init__(self, name: str, xml: str, mac: str = "", active: bool = True,
                 parent: str | None = None, caps: list[str] | None = None) -> None:
        self.name = name
        self.xml = xml
        self.mac = mac
        self.active = active
        self.parent = parent
        self.caps: list[str] = [] if caps is None else caps


class TestNode:
    """The whole fake node. Every field is guarded by ``lock``."""

    def __init__(self, uri_path: str) -> None:
        self.uri_path = uri_path
        self.lock = threading.RLock()
        self.events = EventBus()
        self.refs = 0
        self.node_info = default_node_info()
        self.cells: list[Cell] = []
        self.next_id = 1
        # libvirt's test driver reports a failed lookup as the bare "Domain not found"
        self.domains: DomainList[DomainObj] = DomainList(ErrorDomain.TEST, lookup_details=False)
        self.domains_by_uuid = self.domains.by_uuid  # the list's indexes, by their old names
        self.domains_by_name = self.domains.by_name
        self.domains_by_id = self.domains.by_id
        self.networks: dict[str, NetworkObj] = {}  # by name
        self.pools: dict[str, PoolObj] = {}  # by name
        self.interfaces: dict[str, HostObj] = {}
        self.devices: dict[str, HostObj] = {}
        self.auth_users: list[tuple[str, str | None]] = []
        self.hostname = os.uname().nodename  # gethostname(), without importing socket

    # --- domains

    def add_domain(self, obj: DomainObj) -> None:
        self.domains.add(obj)

    def remove_domain(self, obj: DomainObj) -> None:
        self.domains.remove(obj)

    def allocate_id(self) -> int:
        nid = self.next_id
        self.next_id += 1
        return nid

    def flush(self) -> None:
        """Deliver the events queued so far (call with the lock released)."""
        self.events.flush()
