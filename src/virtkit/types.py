"""Plain records passed between the API, the drivers and the RPC layer.

Identities (``DomainIdent`` ...) are what libvirt's remote protocol calls
``remote_nonnull_domain`` and friends: enough to find the object again.
Drivers resolve domains by UUID (as libvirt's daemon does), networks and
pools by UUID, volumes by (pool, name), the rest by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

TypedValue = int | float | str | bool
TypedParams = dict[str, TypedValue]


class DomainIdent(NamedTuple):
    """A domain's identity: name, UUID (canonical string) and id (-1 when inactive)."""

    name: str
    uuid: str
    id: int = -1


class NetworkIdent(NamedTuple):
    """A network's identity."""

    name: str
    uuid: str


class NetworkPortIdent(NamedTuple):
    """A network port's identity."""

    network: NetworkIdent
    uuid: str


class StoragePoolIdent(NamedTuple):
    """A storage pool's identity."""

    name: str
    uuid: str


class StorageVolIdent(NamedTuple):
    """A storage volume's identity: its pool's name, its name and its key."""

    pool: str
    name: str
    key: str


class SnapshotIdent(NamedTuple):
    """A domain snapshot's identity."""

    domain: DomainIdent
    name: str


class NodeDeviceIdent(NamedTuple):
    """A node device's identity."""

    name: str


class InterfaceIdent(NamedTuple):
    """A host interface's identity."""

    name: str
    mac: str


class SecretIdent(NamedTuple):
    """A secret's identity."""

    uuid: str
    usage_type: int
    usage_id: str


class NWFilterIdent(NamedTuple):
    """A network filter's identity."""

    name: str
    uuid: str


class NWFilterBindingIdent(NamedTuple):
    """A network filter binding's identity."""

    portdev: str
    filtername: str


@dataclass(slots=True)
class DomainInfo:
    """virDomainInfo: memory in KiB, cpu_time in nanoseconds."""

    state: int
    max_mem: int
    memory: int
    nr_virt_cpu: int
    cpu_time: int


@dataclass(slots=True)
class NodeInfo:
    """virNodeInfo: memory in KiB, mhz the CPU frequency."""

    model: str
    memory: int
    cpus: int
    mhz: int
    nodes: int
    sockets: int
    cores: int
    threads: int


@dataclass(slots=True)
class StoragePoolInfo:
    """virStoragePoolInfo: sizes in bytes."""

    state: int
    capacity: int
    allocation: int
    available: int


@dataclass(slots=True)
class StorageVolInfo:
    """virStorageVolInfo: sizes in bytes."""

    type: int
    capacity: int
    allocation: int


@dataclass(slots=True)
class VcpuInfo:
    """virVcpuInfo: one virtual CPU."""

    number: int
    state: int
    cpu_time: int
    cpu: int


@dataclass(slots=True)
class SecurityLabel:
    """virSecurityLabel."""

    label: str
    enforcing: bool


@dataclass(slots=True)
class SecurityModel:
    """virSecurityModel."""

    model: str
    doi: str


@dataclass(slots=True)
class DomainBlockInfo:
    """virDomainBlockInfo: sizes in bytes."""

    capacity: int
    allocation: int
    physical: int


@dataclass(slots=True)
class DomainBlockStats:
    """virDomainBlockStatsStruct."""

    rd_req: int = -1
    rd_bytes: int = -1
    wr_req: int = -1
    wr_bytes: int = -1
    errs: int = -1


@dataclass(slots=True)
class DomainInterfaceStats:
    """virDomainInterfaceStatsStruct."""

    rx_bytes: int = -1
    rx_packets: int = -1
    rx_errs: int = -1
    rx_drop: int = -1
    tx_bytes: int = -1
    tx_packets: int = -1
    tx_errs: int = -1
    tx_drop: int = -1


@dataclass(slots=True)
class DomainStatsRecord:
    """One domain's entry in virConnectGetAllDomainStats."""

    domain: DomainIdent
    params: TypedParams = field(default_factory=dict)


@dataclass(slots=True)
class DomainJobInfo:
    """virDomainJobInfo (times in ms, sizes in bytes)."""

    type: int = 0
    time_elapsed: int = 0
    time_remaining: int = 0
    data_total: int = 0
    data_processed: int = 0
    data_remaining: int = 0
    mem_total: int = 0
    mem_processed: int = 0
    mem_remaining: int = 0
    file_total: int = 0
    file_processed: int = 0
    file_remaining: int = 0


@dataclass(slots=True)
class NetworkDHCPLease:
    """virNetworkDHCPLease."""

    iface: str
    expirytime: int
    type: int
    mac: str
    iaid: str | None
    ipaddr: str
    prefix: int
    hostname: str | None
    clientid: str | None


@dataclass(slots=True)
class DomainInterfaceAddr:
    """One address of virDomainInterface."""

    type: int
    addr: str
    prefix: int


@dataclass(slots=True)
class DomainInterface:
    """virDomainInterface."""

    name: str
    hwaddr: str | None
    addrs: list[DomainInterfaceAddr] = field(default_factory=list)
