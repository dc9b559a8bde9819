"""One test node: its objects, its lock and its event bus.

``test:///default`` connections in one process share one ``TestNode``
(reference counted, see ``virtkit.drivers.test.open_connection``); every
``test:///path.xml`` connection gets its own.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from virtkit.drivers.test.events import EventBus
from virtkit.types import DomainIdent, NetworkIdent, NodeInfo, StoragePoolIdent

# The test driver's emulator and default architecture.
TEST_MODEL = "i686"
TEST_EMULATOR = "/usr/bin/test-hv"
# testDomainObjPrivateAlloc's fake guest clock.
DEFAULT_GUEST_SECONDS = 627319920


def default_node_info() -> NodeInfo:
    """defaultNodeInfo: i686, 3 GiB, 16 CPUs at 1400 MHz, 2x2x2x2."""
    return NodeInfo(TEST_MODEL, 3145728, 16, 1400, 2, 2, 2, 2)


@dataclass(slots=True)
class Cell:
    """A NUMA cell of the default node."""

    cpus: int
    mem: int
    free_mem: int


class DomainObj:
    """A domain as the node keeps it (libvirt's virDomainObj).

    ``defn`` is the running definition (or the only one while inactive);
    ``new_def`` is the persistent definition while a persistent domain runs.
    At start both may be the same object: the first change through either
    side copies it (copy on write), so start/stop does not copy definitions.
    ``max_mem``/``memory``/``vcpus`` mirror ``defn`` for a cheap get_info.
    """

    __slots__ = (
        "autostart",
        "current_snapshot",
        "defn",
        "id",
        "ident",
        "managed_save",
        "max_mem",
        "memory",
        "name",
        "new_def",
        "nseconds",
        "persistent",
        "reason",
        "seconds",
        "snapshots",
        "state",
        "uuid",
        "vcpus",
    )

    def __init__(self, defn: Any, name: str, uuid: str) -> None:
        self.name = name
        self.uuid = uuid
        self.id = -1
        self.state = 5  # SHUTOFF
        self.reason = 0
        self.persistent = False
        self.autostart = False
        self.managed_save = False
        self.defn: Any = defn
        self.new_def: Any = None
        self.snapshots: dict[str, Any] = {}
        self.current_snapshot: str | None = None
        self.max_mem = 0
        self.memory = 0
        self.vcpus = 0
        self.seconds = DEFAULT_GUEST_SECONDS
        self.nseconds = 0
        self.ident = DomainIdent(name, uuid, -1)

    @property
    def active(self) -> bool:
        return self.id != -1

    def refresh_ident(self) -> DomainIdent:
        self.ident = DomainIdent(self.name, self.uuid, self.id)
        return self.ident


@dataclass(slots=True)
class NetworkObj:
    """A virtual network."""

    defn: Any
    name: str
    uuid: str
    active: bool = False
    persistent: bool = False
    autostart: bool = False
    new_def: Any = None

    @property
    def ident(self) -> NetworkIdent:
        return NetworkIdent(self.name, self.uuid)


@dataclass(slots=True)
class VolumeObj:
    """A storage volume of a pool."""

    defn: Any
    name: str
    key: str
    path: str
    capacity: int
    allocation: int


@dataclass(slots=True)
class PoolObj:
    """A storage pool; ``persistent`` is libvirt's "has a config file"."""

    defn: Any
    name: str
    uuid: str
    pool_type: str
    target_path: str
    capacity: int
    allocation: int
    available: int
    active: bool = False
    persistent: bool = False
    autostart: bool = False
    volumes: dict[str, VolumeObj] = field(default_factory=dict)

    @property
    def ident(self) -> StoragePoolIdent:
        return StoragePoolIdent(self.name, self.uuid)


@dataclass(slots=True)
class HostObj:
    """A host interface or node device: kept as formatted XML plus a few fields."""

    name: str
    xml: str
    mac: str = ""
    active: bool = True
    parent: str | None = None
    caps: list[str] = field(default_factory=list)


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
        self.domains_by_uuid: dict[str, DomainObj] = {}
        self.domains_by_name: dict[str, DomainObj] = {}
        self.domains_by_id: dict[int, DomainObj] = {}
        self.networks: dict[str, NetworkObj] = {}  # by name
        self.pools: dict[str, PoolObj] = {}  # by name
        self.interfaces: dict[str, HostObj] = {}
        self.devices: dict[str, HostObj] = {}
        self.auth_users: list[tuple[str, str | None]] = []
        self.hostname = socket.gethostname()

    # --- domains

    def add_domain(self, obj: DomainObj) -> None:
        self.domains_by_uuid[obj.uuid] = obj
        self.domains_by_name[obj.name] = obj
        if obj.id != -1:
            self.domains_by_id[obj.id] = obj

    def remove_domain(self, obj: DomainObj) -> None:
        self.domains_by_uuid.pop(obj.uuid, None)
        if self.domains_by_name.get(obj.name) is obj:
            del self.domains_by_name[obj.name]
        if obj.id != -1 and self.domains_by_id.get(obj.id) is obj:
            del self.domains_by_id[obj.id]

    def allocate_id(self) -> int:
        nid = self.next_id
        self.next_id += 1
        return nid

    def flush(self) -> None:
        """Deliver the events queued so far (call with the lock released)."""
        self.events.flush()
