"""Plain records passed between the API, the drivers and the RPC layer.

Identities (``DomainIdent`` ...) are what libvirt's remote protocol calls
``remote_nonnull_domain`` and friends: enough to find the object again.
Drivers resolve domains by UUID (as libvirt's daemon does), networks and
pools by UUID, volumes by (pool, name), the rest by name.

The mutable records (``DomainInfo`` ...) behave like slotted dataclasses
(field-wise ``repr`` and ``==``, unhashable) but are written out by hand:
creating dataclasses costs ~0.3 ms each at import time.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

TypedValue = int | float | str | bool
TypedParams = dict[str, TypedValue]


_T = TypeVar("_T")


class _Ident:
    """Mixed into the identities (tuple subclasses): NamedTuple's repr, ``_replace``,
    ``_asdict`` and pickling.

    Written out by hand because ``typing.NamedTuple`` costs ~0.15 ms per class at
    import time, which the CLI's start-up pays on every command."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{n}={v!r}" for n, v in zip(self._fields, self, strict=True))
        return f"{type(self).__name__}({inner})"

    def __getnewargs__(self: Any) -> tuple[Any, ...]:
        return tuple(self)

    def _replace(self: _T, **changes: Any) -> _T:
        me: Any = self
        values = [changes.pop(n, v) for n, v in zip(me._fields, me, strict=True)]
        if changes:
            raise ValueError(f"unknown fields {sorted(changes)}")
        return type(self)(*values)

    def _asdict(self: Any) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))


class DomainIdent(_Ident, tuple[str, str, int]):
    """A domain's identity: name, UUID (canonical string) and id (-1 when inactive)."""

    __slots__ = ()
    _fields = ("name", "uuid", "id")

    def __new__(cls, name: str, uuid: str, id: int = -1) -> DomainIdent:
        return tuple.__new__(cls, (name, uuid, id))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def uuid(self) -> str:
        return self[1]

    @property
    def id(self) -> int:
        return self[2]


class NetworkIdent(_Ident, tuple[str, str]):
    """A network's identity."""

    __slots__ = ()
    _fields = ("name", "uuid")

    def __new__(cls, name: str, uuid: str) -> NetworkIdent:
        return tuple.__new__(cls, (name, uuid))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def uuid(self) -> str:
        return self[1]


class NetworkPortIdent(_Ident, tuple[NetworkIdent, str]):
    """A network port's identity."""

    __slots__ = ()
    _fields = ("network", "uuid")

    def __new__(cls, network: NetworkIdent, uuid: str) -> NetworkPortIdent:
        return tuple.__new__(cls, (network, uuid))

    @property
    def network(self) -> NetworkIdent:
        return self[0]

    @property
    def uuid(self) -> str:
        return self[1]


class StoragePoolIdent(_Ident, tuple[str, str]):
    """A storage pool's identity."""

    __slots__ = ()
    _fields = ("name", "uuid")

    def __new__(cls, name: str, uuid: str) -> StoragePoolIdent:
        return tuple.__new__(cls, (name, uuid))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def uuid(self) -> str:
        return self[1]


class StorageVolIdent(_Ident, tuple[str, str, str]):
    """A storage volume's identity: its pool's name, its name and its key."""

    __slots__ = ()
    _fields = ("pool", "name", "key")

    def __new__(cls, pool: str, name: str, key: str) -> StorageVolIdent:
        return tuple.__new__(cls, (pool, name, key))

    @property
    def pool(self) -> str:
        return self[0]

    @property
    def name(self) -> str:
        return self[1]

    @property
    def key(self) -> str:
        return self[2]


class SnapshotIdent(_Ident, tuple[DomainIdent, str]):
    """A domain snapshot's identity."""

    __slots__ = ()
    _fields = ("domain", "name")

    def __new__(cls, domain: DomainIdent, name: str) -> SnapshotIdent:
        return tuple.__new__(cls, (domain, name))

    @property
    def domain(self) -> DomainIdent:
        return self[0]

    @property
    def name(self) -> str:
        return self[1]


class NodeDeviceIdent(_Ident, tuple[str]):
    """A node device's identity."""

    __slots__ = ()
    _fields = ("name",)

    def __new__(cls, name: str) -> NodeDeviceIdent:
        return tuple.__new__(cls, (name,))

    @property
    def name(self) -> str:
        return self[0]


class InterfaceIdent(_Ident, tuple[str, str]):
    """A host interface's identity."""

    __slots__ = ()
    _fields = ("name", "mac")

    def __new__(cls, name: str, mac: str) -> InterfaceIdent:
        return tuple.__new__(cls, (name, mac))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def mac(self) -> str:
        return self[1]


class SecretIdent(_Ident, tuple[str, int, str]):
    """A secret's identity."""

    __slots__ = ()
    _fields = ("uuid", "usage_type", "usage_id")

    def __new__(cls, uuid: str, usage_type: int, usage_id: str) -> SecretIdent:
        return tuple.__new__(cls, (uuid, usage_type, usage_id))

    @property
    def uuid(self) -> str:
        return self[0]

    @property
    def usage_type(self) -> int:
        return self[1]

    @property
    def usage_id(self) -> str:
        return self[2]


class NWFilterIdent(_Ident, tuple[str, str]):
    """A network filter's identity."""

    __slots__ = ()
    _fields = ("name", "uuid")

    def __new__(cls, name: str, uuid: str) -> NWFilterIdent:
        return tuple.__new__(cls, (name, uuid))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def uuid(self) -> str:
        return self[1]


class NWFilterBindingIdent(_Ident, tuple[str, str]):
    """A network filter binding's identity."""

    __slots__ = ()
    _fields = ("portdev", "filtername")

    def __new__(cls, portdev: str, filtername: str) -> NWFilterBindingIdent:
        return tuple.__new__(cls, (portdev, filtername))

    @property
    def portdev(self) -> str:
        return self[0]

    @property
    def filtername(self) -> str:
        return self[1]


class _Record:
    """Base of the mutable records: field-wise ``repr`` and ``==``, like a dataclass."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()  # the fields in constructor order
    __hash__ = None  # type: ignore[assignment]  # mutable, as dataclasses with eq

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _Record)
        return self._values() == other._values()


class DomainInfo(_Record):
    """virDomainInfo: memory in KiB, cpu_time in nanoseconds."""

    _fields = ("state", "max_mem", "memory", "nr_virt_cpu", "cpu_time")
    __slots__ = _fields

    def __init__(
        self,
        state: int,
        max_mem: int,
        memory: int,
        nr_virt_cpu: int,
        cpu_time: int,
    ) -> None:
        self.state = state
        self.max_mem = max_mem
        self.memory = memory
        self.nr_virt_cpu = nr_virt_cpu
        self.cpu_time = cpu_time


class NodeInfo(_Record):
    """virNodeInfo: memory in KiB, mhz the CPU frequency."""

    _fields = ("model", "memory", "cpus", "mhz", "nodes", "sockets", "cores", "threads")
    __slots__ = _fields

    def __init__(
        self,
        model: str,
        memory: int,
        cpus: int,
        mhz: int,
        nodes: int,
        sockets: int,
        cores: int,
        threads: int,
    ) -> None:
        self.model = model
        self.memory = memory
        self.cpus = cpus
        self.mhz = mhz
        self.nodes = nodes
        self.sockets = sockets
        self.cores = cores
        self.threads = threads


class StoragePoolInfo(_Record):
    """virStoragePoolInfo: sizes in bytes."""

    _fields = ("state", "capacity", "allocation", "available")
    __slots__ = _fields

    def __init__(self, state: int, capacity: int, allocation: int, available: int) -> None:
        self.state = state
        self.capacity = capacity
        self.allocation = allocation
        self.available = available


class StorageVolInfo(_Record):
    """virStorageVolInfo: sizes in bytes."""

    _fields = ("type", "capacity", "allocation")
    __slots__ = _fields

    def __init__(self, type: int, capacity: int, allocation: int) -> None:
        self.type = type
        self.capacity = capacity
        self.allocation = allocation


class VcpuInfo(_Record):
    """virVcpuInfo: one virtual CPU."""

    _fields = ("number", "state", "cpu_time", "cpu")
    __slots__ = _fields

    def __init__(self, number: int, state: int, cpu_time: int, cpu: int) -> None:
        self.number = number
        self.state = state
        self.cpu_time = cpu_time
        self.cpu = cpu


class SecurityLabel(_Record):
    """virSecurityLabel."""

    _fields = ("label", "enforcing")
    __slots__ = _fields

    def __init__(self, label: str, enforcing: bool) -> None:
        self.label = label
        self.enforcing = enforcing


class SecurityModel(_Record):
    """virSecurityModel."""

    _fields = ("model", "doi")
    __slots__ = _fields

    def __init__(self, model: str, doi: str) -> None:
        self.model = model
        self.doi = doi


class DomainBlockInfo(_Record):
    """virDomainBlockInfo: sizes in bytes."""

    _fields = ("capacity", "allocation", "physical")
    __slots__ = _fields

    def __init__(self, capacity: int, allocation: int, physical: int) -> None:
        self.capacity = capacity
        self.allocation = allocation
        self.physical = physical


class DomainBlockStats(_Record):
    """virDomainBlockStatsStruct."""

    _fields = ("rd_req", "rd_bytes", "wr_req", "wr_bytes", "errs")
    __slots__ = _fields

    def __init__(
        self,
        rd_req: int = -1,
        rd_bytes: int = -1,
        wr_req: int = -1,
        wr_bytes: int = -1,
        errs: int = -1,
    ) -> None:
        self.rd_req = rd_req
        self.rd_bytes = rd_bytes
        self.wr_req = wr_req
        self.wr_bytes = wr_bytes
        self.errs = errs


class DomainInterfaceStats(_Record):
    """virDomainInterfaceStatsStruct."""

    _fields = (
        "rx_bytes",
        "rx_packets",
        "rx_errs",
        "rx_drop",
        "tx_bytes",
        "tx_packets",
        "tx_errs",
        "tx_drop",
    )
    __slots__ = _fields

    def __init__(
        self,
        rx_bytes: int = -1,
        rx_packets: int = -1,
        rx_errs: int = -1,
        rx_drop: int = -1,
        tx_bytes: int = -1,
        tx_packets: int = -1,
        tx_errs: int = -1,
        tx_drop: int = -1,
    ) -> None:
        self.rx_bytes = rx_bytes
        self.rx_packets = rx_packets
        self.rx_errs = rx_errs
        self.rx_drop = rx_drop
        self.tx_bytes = tx_bytes
        self.tx_packets = tx_packets
        self.tx_errs = tx_errs
        self.tx_drop = tx_drop


class DomainStatsRecord(_Record):
    """One domain's entry in virConnectGetAllDomainStats."""

    _fields = ("domain", "params")
    __slots__ = _fields

    def __init__(self, domain: DomainIdent, params: TypedParams | None = None) -> None:
        self.domain = domain
        self.params: TypedParams = {} if params is None else params


class DomainJobInfo(_Record):
    """virDomainJobInfo (times in ms, sizes in bytes)."""

    _fields = (
        "type",
        "time_elapsed",
        "time_remaining",
        "data_total",
        "data_processed",
        "data_remaining",
        "mem_total",
        "mem_processed",
        "mem_remaining",
        "file_total",
        "file_processed",
        "file_remaining",
    )
    __slots__ = _fields

    def __init__(
        self,
        type: int = 0,
        time_elapsed: int = 0,
        time_remaining: int = 0,
        data_total: int = 0,
        data_processed: int = 0,
        data_remaining: int = 0,
        mem_total: int = 0,
        mem_processed: int = 0,
        mem_remaining: int = 0,
        file_total: int = 0,
        file_processed: int = 0,
        file_remaining: int = 0,
    ) -> None:
        self.type = type
        self.time_elapsed = time_elapsed
        self.time_remaining = time_remaining
        self.data_total = data_total
        self.data_processed = data_processed
        self.data_remaining = data_remaining
        self.mem_total = mem_total
        self.mem_processed = mem_processed
        self.mem_remaining = mem_remaining
        self.file_total = file_total
        self.file_processed = file_processed
        self.file_remaining = file_remaining


class NetworkDHCPLease(_Record):
    """virNetworkDHCPLease."""

    _fields = (
        "iface",
        "expirytime",
        "type",
        "mac",
        "iaid",
        "ipaddr",
        "prefix",
        "hostname",
        "clientid",
    )
    __slots__ = _fields

    def __init__(
        self,
        iface: str,
        expirytime: int,
        type: int,
        mac: str,
        iaid: str | None,
        ipaddr: str,
        prefix: int,
        hostname: str | None,
        clientid: str | None,
    ) -> None:
        self.iface = iface
        self.expirytime = expirytime
        self.type = type
        self.mac = mac
        self.iaid = iaid
        self.ipaddr = ipaddr
        self.prefix = prefix
        self.hostname = hostname
        self.clientid = clientid


class DomainInterfaceAddr(_Record):
    """One address of virDomainInterface."""

    _fields = ("type", "addr", "prefix")
    __slots__ = _fields

    def __init__(self, type: int, addr: str, prefix: int) -> None:
        self.type = type
        self.addr = addr
        self.prefix = prefix


class DomainInterface(_Record):
    """virDomainInterface."""

    _fields = ("name", "hwaddr", "addrs")
    __slots__ = _fields

    def __init__(
        self,
        name: str,
        hwaddr: str | None,
        addrs: list[DomainInterfaceAddr] | None = None,
    ) -> None:
        self.name = name
        self.hwaddr = hwaddr
        self.addrs: list[DomainInterfaceAddr] = [] if addrs is None else addrs
