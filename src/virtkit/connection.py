"""The Connection: one opened URI, its driver tables, and the calls on the node.

Read-only connections get driver tables that refuse what the procedure table marks as
writing (:mod:`virtkit.drivers.readonly`, the daemon's rule), so every caller, handle or
tool, is refused alike ("operation forbidden: read only access prevents
virDomainCreate"). The handles' ``_check_write`` calls only make the error name the
public function the caller used (virDomainDefineXML vs virDomainDefineXMLFlags);
tests/handles/test_handle_readonly.py holds them to the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, cast

from virtkit.drivers.base import (
    DriverTables,
    HypervisorDriver,
    NetworkDriver,
    StorageDriver,
)
from virtkit.errors import InvalidArgError, NoSupportError, VirtError, invalid_arg, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.events import (
    DomainEvent,
    EventHandle,
    EventStream,
    NetworkEvent,
    StoragePoolEvent,
    make_relay,
)
from virtkit.handles import Domain, Network, StoragePool, StorageVolume
from virtkit.handles.hostdev import HostObjectsMixin
from virtkit.handles.nwfilter import NWFilterObjectsMixin
from virtkit.handles.secret import SecretObjectsMixin
from virtkit.types import (
    NodeInfo,
    SecurityModel,
    TypedParams,
)
from virtkit.uri import ParsedURI

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

__all__ = ["LIB_VERSION", "Connection", "canonical_uuid"]

# The libvirt version virtkit's API and protocol follow (major*1e6 + minor*1e3 + micro).
LIB_VERSION = 9_000_000

_RO = 1  # ConnectFlags.RO
_S = TypeVar("_S", bound="EventStream[Any]")

_HEX = frozenset("0123456789abcdefABCDEF")


def canonical_uuid(value: object, function: str, domain: int, message: str | None = None) -> str:
    """A UUID as the drivers key it (lower-case 8-4-4-4-12), parsed as liberally as libvirt.

    Accepts a string (dashes and spaces between digit pairs, surrounding
    blanks), ``uuid.UUID`` or 16 raw bytes. Anything else is libvirt's
    VIR_ERR_INVALID_ARG.
    """
    if isinstance(value, bytes) and len(value) == 16:
        digits = value.hex()
    else:
        text = str(value).strip()
        digits = text.replace("-", "").replace(" ", "").lower()
        if len(digits) != 32 or not _HEX.issuperset(digits):
            # virReportInvalidArg: the message is the text alone, no "invalid argument: ".
            raise InvalidArgError(
                message or f"uuidstr in {function} must be a valid UUID",
                code=ErrorCode.INVALID_ARG,
                domain=domain,
                str1=function,
                str2="uuidstr",
            )
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _libvirt_name(method: str) -> str:
    """``domain_get_xml_desc`` -> ``virDomainGetXMLDesc`` (for error messages)."""
    return "vir" + "".join(_UPPER.get(p, p.capitalize()) for p in method.split("_"))


def _non_null(value: object, name: str, function: str) -> None:
    """libvirt's virCheckNonNullArg (the API's own check, whatever the driver)."""
    if value is None:
        raise invalid_arg(f"{name} in {function} must not be NULL", ErrorDomain.DOMAIN)


_UPPER = {"xml": "XML", "uuid": "UUID", "id": "ID", "cpu": "CPU", "os": "OS", "dhcp": "DHCP",
          "nmi": "NMI", "pm": "PM", "uri": "URI"}


class _ClosedTable:
    """Stands in for every driver table once the connection is closed."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def closed(*args: object, **kwargs: object) -> Any:
            raise make_error(ErrorCode.INVALID_CONN, ErrorDomain.NONE, _libvirt_name(name))

        return closed


class Connection(HostObjectsMixin, NWFilterObjectsMixin, SecretObjectsMixin):
    """An open connection (virConnectPtr). Use :func:`virtkit.open` to make one.

    Host interface and node device calls come from :class:`HostObjectsMixin`, network
    filters from :class:`NWFilterObjectsMixin`, secrets from :class:`SecretObjectsMixin`.

    A context manager: leaving the ``with`` block closes it. After
    :meth:`close`, every call fails with VIR_ERR_INVALID_CONN.
    """

    __slots__ = (
        "__weakref__",
        "_event_handles",
        "_hv",
        "_net",
        "_parsed_uri",
        "_readonly",
        "_storage",
        "_streams",
        "_tables",
    )

    def __init__(self, uri: ParsedURI, tables: DriverTables, flags: int = 0) -> None:
        self._parsed_uri = uri
        self._readonly = bool(flags & _RO)
        if self._readonly:  # every state-changing method refused, from the procedure table
            from virtkit.drivers.readonly import readonly_tables

            tables = readonly_tables(tables)
        self._tables: DriverTables | None = tables
        self._hv: HypervisorDriver = tables.hypervisor
        self._net: NetworkDriver = tables.network
        self._storage: StorageDriver = tables.storage
        self._event_handles: set[EventHandle] = set()
        self._streams: list[EventStream[Any]] = []

    # ------------------------------------------------------------ life cycle

    def close(self) -> None:
        """Deregister this connection's events and release the driver (virConnectClose).

        Closing twice is harmless.
        """
        tables = self._tables
        if tables is None:
            return
        closers = [s.close for s in self._streams] + [h.cancel for h in self._event_handles]
        for closer in closers:
            try:
                closer()
            except VirtError:
                continue  # already gone on the driver's side: nothing left to undo
        self._tables = None
        closed = cast(Any, _ClosedTable())
        self._hv, self._net, self._storage = closed, closed, closed
        tables.hypervisor.connect_close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._tables is None else ("read-only" if self._readonly else "open")
        return f"<Connection {self._parsed_uri} {state}>"

    @property
    def tables(self) -> DriverTables:
        """The driver tables behind this connection (for the RPC server and tools)."""
        if self._tables is None:
            raise make_error(ErrorCode.INVALID_CONN, ErrorDomain.NONE, "virConnectGetTables")
        return self._tables

    @property
    def parsed_uri(self) -> ParsedURI:
        """The URI this connection was opened with, parsed."""
        return self._parsed_uri

    def _check_write(self, function: str, domain: int) -> None:
        """libvirt's virCheckReadOnlyGoto: refuse a state-changing call when read-only."""
        if self._readonly:
            raise make_error(
                ErrorCode.OPERATION_DENIED, domain, f"read only access prevents {function}"
            )

    # ------------------------------------------------------------ the connection itself

    @property
    def uri(self) -> str:
        """The canonical URI (virConnectGetURI)."""
        try:
            return self._hv.connect_get_uri()
        except NoSupportError:
            return str(self._parsed_uri)

    @property
    def type(self) -> str:
        """The driver's name, e.g. "Test", "QEMU" (virConnectGetType)."""
        return self._hv.connect_get_type()

    @property
    def version(self) -> int:
        """The hypervisor's version, major*1,000,000 + minor*1,000 + micro."""
        return self._hv.connect_get_version()

    @property
    def lib_version(self) -> int:
        """The libvirt version the far end implements (virConnectGetLibVersion)."""
        try:
            return self._hv.connect_get_lib_version()
        except NoSupportError:
            return LIB_VERSION

    @property
    def hostname(self) -> str:
        """The node's host name (virConnectGetHostname)."""
        return self._hv.connect_get_hostname()

    @property
    def is_readonly(self) -> bool:
        """True for connections opened with :func:`virtkit.open_readonly`."""
        return self._readonly

    def capabilities(self) -> str:
        """The capabilities XML (virConnectGetCapabilities)."""
        return self._hv.connect_get_capabilities()

    def domain_capabilities(self, emulatorbin: str | None = None, arch: str | None = None,
                            machine: str | None = None, virttype: str | None = None,
                            flags: int = 0) -> str:
        """The domain capabilities XML (virConnectGetDomainCapabilities)."""
        return self._hv.connect_get_domain_capabilities(emulatorbin, arch, machine, virttype,
                                                         flags)

    def sysinfo(self, flags: int = 0) -> str:
        """The host's sysinfo XML (virConnectGetSysinfo)."""
        return self._hv.connect_get_sysinfo(flags)

    def max_vcpus(self, type: str | None = None) -> int:
        """Maximum vCPUs of a guest of ``type`` (virConnectGetMaxVcpus)."""
        return self._hv.connect_get_max_vcpus(type)

    # ------------------------------------------------------------ CPU models

    def cpu_model_names(self, arch: str, flags: int = 0) -> list[str]:
        """The CPU models the hypervisor knows for ``arch`` (virConnectGetCPUModelNames)."""
        _non_null(arch, "arch", "virConnectGetCPUModelNames")
        return self._hv.connect_get_cpu_model_names(arch, flags)

    def compare_cpu(self, xml: str, flags: int = 0) -> int:
        """virConnectCompareCPU: a ``<cpu>`` against the host CPU (a CPUCompareResult;
        flags: ConnectCompareCPUFlags)."""
        _non_null(xml, "xmlDesc", "virConnectCompareCPU")
        return self._hv.connect_compare_cpu(xml, flags)

    def baseline_cpu(self, xmls: Sequence[str], flags: int = 0) -> str:
        """virConnectBaselineCPU: the CPU every ``<cpu>`` of ``xmls`` can run
        (flags: ConnectBaselineCPUFlags)."""
        _non_null(xmls, "xmlCPUs", "virConnectBaselineCPU")
        return self._hv.connect_baseline_cpu(list(xmls), flags)

    def compare_hypervisor_cpu(self, xml: str, *, emulator: str | None = None,
                               arch: str | None = None, machine: str | None = None,
                               virttype: str | None = None, flags: int = 0) -> int:
        """virConnectCompareHypervisorCPU: a ``<cpu>`` against the CPU the hypervisor
        offers guests of that emulator, arch, machine and virt type (None: its default)."""
        _non_null(xml, "xmlCPU", "virConnectCompareHypervisorCPU")
        self._check_write("virConnectCompareHypervisorCPU", ErrorDomain.DOMAIN)
        return self._hv.connect_compare_hypervisor_cpu(emulator, arch, machine, virttype,
                                                       xml, flags)

    def baseline_hypervisor_cpu(self, xmls: Sequence[str], *, emulator: str | None = None,
                                arch: str | None = None, machine: str | None = None,
                                virttype: str | None = None, flags: int = 0) -> str:
        """virConnectBaselineHypervisorCPU: the CPU every ``<cpu>`` of ``xmls`` can run
        that the hypervisor also offers (flags: ConnectBaselineCPUFlags)."""
        _non_null(xmls, "xmlCPUs", "virConnectBaselineHypervisorCPU")
        self._check_write("virConnectBaselineHypervisorCPU", ErrorDomain.DOMAIN)
        return self._hv.connect_baseline_hypervisor_cpu(emulator, arch, machine, virttype,
                                                        list(xmls), flags)

    def is_alive(self) -> bool:
        """virConnectIsAlive (False once closed)."""
        if self._tables is None:
            return False
        return self._hv.connect_is_alive()

    def is_secure(self) -> bool:
        """virConnectIsSecure: nobody can eavesdrop on the channel."""
        return self._hv.connect_is_secure()

    def is_encrypted(self) -> bool:
        """virConnectIsEncrypted."""
        return self._hv.connect_is_encrypted()

    # ------------------------------------------------------------ node

    def node_info(self) -> NodeInfo:
        """virNodeGetInfo."""
        return self._hv.node_get_info()

    def node_free_memory(self) -> int:
        """virNodeGetFreeMemory, bytes."""
        return self._hv.node_get_free_memory()

    def node_cells_free_memory(self, start: int, max: int) -> list[int]:
        """virNodeGetCellsFreeMemory, bytes per NUMA cell."""
        return self._hv.node_get_cells_free_memory(start, max)

    def node_security_model(self) -> SecurityModel:
        """virNodeGetSecurityModel."""
        return self._hv.node_get_security_model()

    def node_cpu_map(self) -> tuple[int, list[bool], int]:
        """virNodeGetCPUMap: (CPUs, online map, number online)."""
        return self._hv.node_get_cpu_map(0)

    def node_cpu_stats(self, cpu: int = -1) -> dict[str, int]:
        """virNodeGetCPUStats (cpu=-1: all CPUs), nanoseconds."""
        if cpu < 0 and cpu != -1:
            raise invalid_arg("cpuNum in virNodeGetCPUStats only accepts -1 as a negative value")
        return self._hv.node_get_cpu_stats(cpu, 0)

    def node_memory_stats(self, cell: int = -1) -> dict[str, int]:
        """virNodeGetMemoryStats (cell=-1: the whole node), KiB."""
        if cell < 0 and cell != -1:
            raise invalid_arg(
                "cellNum in virNodeGetMemoryStats only accepts -1 as a negative value")
        return self._hv.node_get_memory_stats(cell, 0)

    def node_free_pages(self, pages: list[int], start_cell: int, cell_count: int = 1,
                        flags: int = 0) -> list[int]:
        """virNodeGetFreePages: free counts of each page size (KiB), cell after cell."""
        return self._hv.node_get_free_pages(pages, start_cell, cell_count, flags)

    def node_memory_parameters(self, flags: int = 0) -> TypedParams:
        """virNodeGetMemoryParameters (KSM: shm_*)."""
        return self._hv.node_get_memory_parameters(flags)

    def set_node_memory_parameters(self, params: TypedParams, flags: int = 0) -> None:
        """virNodeSetMemoryParameters."""
        self._hv.node_set_memory_parameters(params, flags)

    def node_sev_info(self, flags: int = 0) -> TypedParams:
        """virNodeGetSEVInfo."""
        return self._hv.node_get_sev_info(flags)

    # ------------------------------------------------------------ domains

    def list_domains(self, flags: int = 0) -> list[Domain]:
        """virConnectListAllDomains (flags: ConnectListAllDomainsFlags filters)."""
        return [Domain(self, i) for i in self._hv.connect_list_all_domains(flags)]

    def num_of_domains(self) -> int:
        """virConnectNumOfDomains: running domains."""
        return self._hv.connect_num_of_domains()

    def list_domain_ids(self) -> list[int]:
        """virConnectListDomains: ids of running domains."""
        n = self._hv.connect_num_of_domains()
        return self._hv.connect_list_domains(n) if n else []

    def num_of_defined_domains(self) -> int:
        """virConnectNumOfDefinedDomains: inactive persistent domains."""
        return self._hv.connect_num_of_defined_domains()

    def list_defined_domain_names(self) -> list[str]:
        """virConnectListDefinedDomains: names of inactive persistent domains."""
        n = self._hv.connect_num_of_defined_domains()
        return self._hv.connect_list_defined_domains(n) if n else []

    def lookup_domain(self, name: str) -> Domain:
        """virDomainLookupByName (VIR_ERR_NO_DOMAIN if there is none)."""
        return Domain(self, self._hv.domain_lookup_by_name(name))

    def lookup_domain_by_uuid(self, uuid: object) -> Domain:
        """virDomainLookupByUUIDString (str, ``uuid.UUID`` or 16 bytes)."""
        key = canonical_uuid(
            uuid, "virDomainLookupByUUIDString", ErrorDomain.DOMAIN, "Invalid UUID"
        )
        return Domain(self, self._hv.domain_lookup_by_uuid(key))

    def lookup_domain_by_id(self, id: int) -> Domain:
        """virDomainLookupByID."""
        return Domain(self, self._hv.domain_lookup_by_id(id))

    def define_domain(self, xml: str, flags: int = 0) -> Domain:
        """virDomainDefineXMLFlags (flags: DomainDefineFlags)."""
        self._check_write("virDomainDefineXMLFlags" if flags else "virDomainDefineXML",
                          ErrorDomain.DOMAIN)
        return Domain(self, self._hv.domain_define_xml(xml, flags))

    def create_domain(self, xml: str, flags: int = 0) -> Domain:
        """virDomainCreateXML: start a transient domain (flags: DomainCreateFlags)."""
        self._check_write("virDomainCreateXML", ErrorDomain.DOMAIN)
        return Domain(self, self._hv.domain_create_xml(xml, flags))

    def restore_domain(self, path: str, dxml: str | None = None, flags: int = 0) -> None:
        """virDomainRestoreFlags: start a domain from a saved image."""
        fn = "virDomainRestoreFlags" if flags or dxml is not None else "virDomainRestore"
        self._check_write(fn, ErrorDomain.DOMAIN)
        self._hv.domain_restore(path, dxml, flags)

    def save_image_xml(self, path: str, flags: int = 0) -> str:
        """virDomainSaveImageGetXMLDesc: the domain XML inside a saved image."""
        self._check_write("virDomainSaveImageGetXMLDesc", ErrorDomain.DOMAIN)
        return self._hv.domain_save_image_get_xml_desc(path, flags)

    def all_domain_stats(
        self, stats: int = 0, flags: int = 0, domains: list[Domain] | None = None
    ) -> list[tuple[Domain, TypedParams]]:
        """virConnectGetAllDomainStats, or virDomainListGetStats when ``domains`` is given."""
        idents = None if domains is None else [d._ident for d in domains]
        records = self._hv.connect_get_all_domain_stats(idents, stats, flags)
        return [(Domain(self, r.domain), r.params) for r in records]

    # ------------------------------------------------------------ networks

    def list_networks(self, flags: int = 0) -> list[Network]:
        """virConnectListAllNetworks (flags: ConnectListAllNetworksFlags)."""
        return [Network(self, i) for i in self._net.connect_list_all_networks(flags)]

    def lookup_network(self, name: str) -> Network:
        """virNetworkLookupByName."""
        return Network(self, self._net.network_lookup_by_name(name))

    def lookup_network_by_uuid(self, uuid: object) -> Network:
        """virNetworkLookupByUUIDString."""
        key = canonical_uuid(uuid, "virNetworkLookupByUUIDString", ErrorDomain.NETWORK)
        return Network(self, self._net.network_lookup_by_uuid(key))

    def define_network(self, xml: str, flags: int = 0) -> Network:
        """virNetworkDefineXMLFlags."""
        self._check_write("virNetworkDefineXMLFlags" if flags else "virNetworkDefineXML",
                          ErrorDomain.NETWORK)
        return Network(self, self._net.network_define_xml(xml, flags))

    def create_network(self, xml: str, flags: int = 0) -> Network:
        """virNetworkCreateXMLFlags: start a transient network."""
        self._check_write("virNetworkCreateXMLFlags" if flags else "virNetworkCreateXML",
                          ErrorDomain.NETWORK)
        return Network(self, self._net.network_create_xml(xml, flags))

    # ------------------------------------------------------------ storage

    def list_storage_pools(self, flags: int = 0) -> list[StoragePool]:
        """virConnectListAllStoragePools (flags: ConnectListAllStoragePoolsFlags)."""
        return [StoragePool(self, i) for i in self._storage.connect_list_all_storage_pools(flags)]

    def lookup_storage_pool(self, name: str) -> StoragePool:
        """virStoragePoolLookupByName."""
        return StoragePool(self, self._storage.storage_pool_lookup_by_name(name))

    def lookup_storage_pool_by_uuid(self, uuid: object) -> StoragePool:
        """virStoragePoolLookupByUUIDString."""
        key = canonical_uuid(uuid, "virStoragePoolLookupByUUIDString", ErrorDomain.STORAGE)
        return StoragePool(self, self._storage.storage_pool_lookup_by_uuid(key))

    def define_storage_pool(self, xml: str, flags: int = 0) -> StoragePool:
        """virStoragePoolDefineXML."""
        self._check_write("virStoragePoolDefineXML", ErrorDomain.STORAGE)
        return StoragePool(self, self._storage.storage_pool_define_xml(xml, flags))

    def create_storage_pool(self, xml: str, flags: int = 0) -> StoragePool:
        """virStoragePoolCreateXML: start a transient pool."""
        self._check_write("virStoragePoolCreateXML", ErrorDomain.STORAGE)
        return StoragePool(self, self._storage.storage_pool_create_xml(xml, flags))

    def lookup_storage_volume_by_key(self, key: str) -> StorageVolume:
        """virStorageVolLookupByKey."""
        return StorageVolume(self, self._storage.storage_vol_lookup_by_key(key))

    def lookup_storage_volume_by_path(self, path: str) -> StorageVolume:
        """virStorageVolLookupByPath."""
        return StorageVolume(self, self._storage.storage_vol_lookup_by_path(path))

    def storage_pool_capabilities(self, flags: int = 0) -> str:
        """virConnectGetStoragePoolCapabilities: the pool types and formats XML."""
        return self._storage.connect_get_storage_pool_capabilities(flags)

    def find_storage_pool_sources(self, type: str, spec: str | None = None) -> str:
        """virConnectFindStoragePoolSources: XML listing the sources found."""
        self._check_write("virConnectFindStoragePoolSources", ErrorDomain.STORAGE)
        return self._storage.connect_find_storage_pool_sources(type, spec, 0)

    # ------------------------------------------------------------ events

    def _track(self, callback_id: int, deregister: Callable[[int], None]) -> EventHandle:
        handle = EventHandle(callback_id, deregister, self._event_handles.discard)
        self._event_handles.add(handle)
        return handle

    def on_domain_event(
        self,
        callback: Callable[..., object],
        event_id: int = 0,
        domain: Domain | None = None,
    ) -> EventHandle:
        """Call ``callback(domain, event_id, *payload)`` for each event (RegisterAny).

        ``event_id`` is a ``DomainEventID`` (default LIFECYCLE, whose payload
        is ``(DomainEventType, detail)``); ``domain`` limits it to one domain.
        """
        from virtkit.constants import DomainEventType

        hv = self._hv
        relay = make_relay(self._domain, callback, DomainEventType)
        cid = hv.connect_domain_event_register_any(
            None if domain is None else domain._ident, int(event_id), relay
        )
        return self._track(cid, hv.connect_domain_event_deregister_any)

    def on_network_event(
        self,
        callback: Callable[..., object],
        event_id: int = 0,
        network: Network | None = None,
    ) -> EventHandle:
        """Call ``callback(network, event_id, *payload)`` for each network event."""
        from virtkit.constants import NetworkEventLifecycleType

        net = self._net
        relay = make_relay(self._network, callback, NetworkEventLifecycleType)
        cid = net.connect_network_event_register_any(
            None if network is None else network._ident, int(event_id), relay
        )
        return self._track(cid, net.connect_network_event_deregister_any)

    def on_storage_pool_event(
        self,
        callback: Callable[..., object],
        event_id: int = 0,
        pool: StoragePool | None = None,
    ) -> EventHandle:
        """Call ``callback(pool, event_id, *payload)`` for each storage pool event."""
        from virtkit.constants import StoragePoolEventLifecycleType

        st = self._storage
        relay = make_relay(self._pool, callback, StoragePoolEventLifecycleType)
        cid = st.connect_storage_pool_event_register_any(
            None if pool is None else pool._ident, int(event_id), relay
        )
        return self._track(cid, st.connect_storage_pool_event_deregister_any)

    def domain_events(
        self, event_id: int = 0, domain: Domain | None = None
    ) -> EventStream[DomainEvent]:
        """The iterator form of :meth:`on_domain_event`: a stream of :class:`DomainEvent`."""
        stream: EventStream[DomainEvent] = EventStream()
        stream._attach(self.on_domain_event(
            lambda d, eid, *p: stream.push(DomainEvent(d, eid, p)), event_id, domain
        ))
        return self._add_stream(stream)

    def network_events(
        self, event_id: int = 0, network: Network | None = None
    ) -> EventStream[NetworkEvent]:
        """A stream of :class:`NetworkEvent`."""
        stream: EventStream[NetworkEvent] = EventStream()
        stream._attach(self.on_network_event(
            lambda n, eid, *p: stream.push(NetworkEvent(n, eid, p)), event_id, network
        ))
        return self._add_stream(stream)

    def storage_pool_events(
        self, event_id: int = 0, pool: StoragePool | None = None
    ) -> EventStream[StoragePoolEvent]:
        """A stream of :class:`StoragePoolEvent`."""
        stream: EventStream[StoragePoolEvent] = EventStream()
        stream._attach(self.on_storage_pool_event(
            lambda p, eid, *pl: stream.push(StoragePoolEvent(p, eid, pl)), event_id, pool
        ))
        return self._add_stream(stream)

    def _add_stream(self, stream: _S) -> _S:
        streams = [s for s in self._streams if not s.closed]
        streams.append(stream)
        self._streams = streams
        return stream

    def _domain(self, ident: Any) -> Domain:
        return Domain(self, ident)

    def _network(self, ident: Any) -> Network:
        return Network(self, ident)

    def _pool(self, ident: Any) -> StoragePool:
        return StoragePool(self, ident)
