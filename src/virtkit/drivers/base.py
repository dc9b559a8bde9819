"""The driver tables: what every driver implements and every frontend calls.

This mirrors libvirt's ``src/driver-*.h``: one class per table
(hypervisor, network, storage, ...). Method names are libvirt's public API
names in snake case without the ``vir`` prefix (``virDomainGetInfo`` ->
``domain_get_info``), which are also the names of the remote protocol's
procedures (``REMOTE_PROC_DOMAIN_GET_INFO``), so the Python API and the RPC
server both dispatch to drivers by the same name.

Every method of the base classes raises VIR_ERR_NO_SUPPORT ("this function
is not supported by the connection driver: virDomainGetInfo"), exactly what
libvirt reports for a driver table entry left NULL. Drivers override what
they implement. Objects cross this boundary as identities
(``virtkit.types.DomainIdent`` ...), never as live handles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from virtkit.errors import ErrorDomain, no_support
from virtkit.streams import DataStream
from virtkit.types import (
    DomainBlockInfo,
    DomainBlockStats,
    DomainIdent,
    DomainInfo,
    DomainInterface,
    DomainInterfaceStats,
    DomainJobInfo,
    DomainStatsRecord,
    InterfaceIdent,
    NetworkDHCPLease,
    NetworkIdent,
    NetworkPortIdent,
    NodeDeviceIdent,
    NodeInfo,
    NWFilterBindingIdent,
    NWFilterIdent,
    SecretIdent,
    SecurityLabel,
    SecurityModel,
    SnapshotIdent,
    StoragePoolIdent,
    StoragePoolInfo,
    StorageVolIdent,
    StorageVolInfo,
    TypedParams,
    VcpuInfo,
)

# callback(domain, event_id, payload): payload is the tuple of arguments libvirt's
# callback for that event id receives after the domain (lifecycle: (event, detail)).
DomainEventCallback = Callable[[DomainIdent, int, tuple[object, ...]], None]
NetworkEventCallback = Callable[[NetworkIdent, int, tuple[object, ...]], None]
StoragePoolEventCallback = Callable[[StoragePoolIdent, int, tuple[object, ...]], None]
NodeDeviceEventCallback = Callable[[NodeDeviceIdent, int, tuple[object, ...]], None]
SecretEventCallback = Callable[[SecretIdent, int, tuple[object, ...]], None]


class HypervisorDriver:
    """virHypervisorDriver: the connection, the node and domains."""

    name: str = "base"
    #: True when no method ever blocks (in-memory drivers): the daemon may then run
    #: calls on its event loop instead of handing them to a worker thread.
    nonblocking: bool = False

    # ------------------------------------------------------------------ connection

    def connect_close(self) -> None:
        """Release what this connection holds (called once, when the connection closes)."""

    def connect_get_type(self) -> str:
        raise no_support("virConnectGetType")

    def connect_get_version(self) -> int:
        raise no_support("virConnectGetVersion")

    def connect_get_lib_version(self) -> int:
        raise no_support("virConnectGetLibVersion")

    def connect_get_hostname(self) -> str:
        raise no_support("virConnectGetHostname")

    def connect_get_uri(self) -> str:
        raise no_support("virConnectGetURI")

    def connect_get_sysinfo(self, flags: int = 0) -> str:
        raise no_support("virConnectGetSysinfo")

    def connect_get_max_vcpus(self, type: str | None = None) -> int:
        raise no_support("virConnectGetMaxVcpus")

    # CPU models (libvirt's hypervisor table; virtkit/cpu has the x86 logic)

    def connect_get_cpu_model_names(self, arch: str, flags: int = 0) -> list[str]:
        raise no_support("virConnectGetCPUModelNames")

    def connect_compare_cpu(self, xml_desc: str, flags: int = 0) -> int:
        raise no_support("virConnectCompareCPU")

    def connect_baseline_cpu(self, xml_cpus: Sequence[str], flags: int = 0) -> str:
        raise no_support("virConnectBaselineCPU")

    def connect_compare_hypervisor_cpu(self, emulator: str | None, arch: str | None,
                                       machine: str | None, virttype: str | None,
                                       xml_cpu: str, flags: int = 0) -> int:
        raise no_support("virConnectCompareHypervisorCPU")

    def connect_baseline_hypervisor_cpu(self, emulator: str | None, arch: str | None,
                                        machine: str | None, virttype: str | None,
                                        xml_cpus: Sequence[str], flags: int = 0) -> str:
        raise no_support("virConnectBaselineHypervisorCPU")

    # PCI host devices for assignment (libvirt puts these in the hypervisor table)

    def node_device_dettach(self, dev: NodeDeviceIdent) -> None:
        raise no_support("virNodeDeviceDettach")

    def node_device_detach_flags(self, dev: NodeDeviceIdent, driver_name: str | None = None,
                                 flags: int = 0) -> None:
        raise no_support("virNodeDeviceDetachFlags")

    def node_device_re_attach(self, dev: NodeDeviceIdent) -> None:
        raise no_support("virNodeDeviceReAttach")

    def node_device_reset(self, dev: NodeDeviceIdent) -> None:
        raise no_support("virNodeDeviceReset")

    def connect_get_capabilities(self) -> str:
        raise no_support("virConnectGetCapabilities")

    def connect_get_domain_capabilities(
        self,
        emulatorbin: str | None = None,
        arch: str | None = None,
        machine: str | None = None,
        virttype: str | None = None,
        flags: int = 0,
    ) -> str:
        raise no_support("virConnectGetDomainCapabilities")

    def connect_is_secure(self) -> bool:
        raise no_support("virConnectIsSecure")

    def connect_is_encrypted(self) -> bool:
        raise no_support("virConnectIsEncrypted")

    def connect_is_alive(self) -> bool:
        return True

    def connect_supports_feature(self, feature: int) -> bool:
        return False

    # ------------------------------------------------------------------ node

    def node_get_info(self) -> NodeInfo:
        raise no_support("virNodeGetInfo")

    def node_get_free_memory(self) -> int:
        raise no_support("virNodeGetFreeMemory")

    def node_get_cells_free_memory(self, start_cell: int, max_cells: int) -> list[int]:
        raise no_support("virNodeGetCellsFreeMemory")

    def node_get_security_model(self) -> SecurityModel:
        raise no_support("virNodeGetSecurityModel")

    def node_get_cpu_map(self, flags: int = 0) -> tuple[int, list[bool], int]:
        """(number of CPUs, online map, number online)."""
        raise no_support("virNodeGetCPUMap")

    def node_get_cpu_stats(self, cpu_num: int, flags: int = 0) -> dict[str, int]:
        raise no_support("virNodeGetCPUStats")

    def node_get_memory_stats(self, cell_num: int, flags: int = 0) -> dict[str, int]:
        raise no_support("virNodeGetMemoryStats")

    def node_get_free_pages(self, pages: list[int], start_cell: int, cell_count: int,
                            flags: int = 0) -> list[int]:
        """Free pages of each size (KiB) in ``pages``, for each cell in turn."""
        raise no_support("virNodeGetFreePages")

    def node_get_memory_parameters(self, flags: int = 0) -> TypedParams:
        raise no_support("virNodeGetMemoryParameters")

    def node_set_memory_parameters(self, params: TypedParams, flags: int = 0) -> None:
        raise no_support("virNodeSetMemoryParameters")

    def node_get_sev_info(self, flags: int = 0) -> TypedParams:
        raise no_support("virNodeGetSEVInfo")

    # ------------------------------------------------------------------ domain listing/lookup

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainIdent]:
        raise no_support("virConnectListAllDomains")

    def connect_num_of_domains(self) -> int:
        raise no_support("virConnectNumOfDomains")

    def connect_list_domains(self, maxids: int) -> list[int]:
        raise no_support("virConnectListDomains")

    def connect_num_of_defined_domains(self) -> int:
        raise no_support("virConnectNumOfDefinedDomains")

    def connect_list_defined_domains(self, maxnames: int) -> list[str]:
        raise no_support("virConnectListDefinedDomains")

    def domain_lookup_by_id(self, id: int) -> DomainIdent:
        raise no_support("virDomainLookupByID")

    def domain_lookup_by_name(self, name: str) -> DomainIdent:
        raise no_support("virDomainLookupByName")

    def domain_lookup_by_uuid(self, uuid: str) -> DomainIdent:
        raise no_support("virDomainLookupByUUID")

    # ------------------------------------------------------------------ domain lifecycle

    def domain_define_xml(self, xml: str, flags: int = 0) -> DomainIdent:
        raise no_support("virDomainDefineXMLFlags")

    def domain_undefine(self, dom: DomainIdent, flags: int = 0) -> None:
        raise no_support("virDomainUndefineFlags")

    def domain_create_xml(self, xml: str, flags: int = 0) -> DomainIdent:
        raise no_support("virDomainCreateXML")

    def domain_create(self, dom: DomainIdent, flags: int = 0) -> DomainIdent:
        raise no_support("virDomainCreateWithFlags")

    def domain_shutdown(self, dom: DomainIdent, flags: int = 0) -> None:
        raise no_support("virDomainShutdownFlags")

    def domain_reboot(self, dom: DomainIdent, flags: int = 0) -> None:
        raise no_support("virDomainReboot")

    def domain_reset(self, dom: DomainIdent, flags: int = 0) -> None:
        raise no_support("virDomainReset")

    def domain_destroy(self, dom: DomainIdent, flags: int = 0) -> None:
        raise no_support("virDomainDestroyFlags")

    def domain_suspend(self, dom: DomainIdent) -> None:
        raise no_support("virDomainSuspend")

    def domain_resume(self, dom: DomainIdent) -> None:
        raise no_support("virDomainResume")

    def domain_pm_suspend_for_duration(
        self, dom: DomainIdent, target: int, duration: int, flags: int = 0
    ) -> None:
        raise no_support("virDomainPMSuspendForDuration")

    def domain_pm_wakeup(self, dom: DomainIdent, flags: int = 0) -> None:
        raise no_support("virDomainPMWakeup")

    def domain_save(
        self, dom: DomainIdent, to: str, dxml: str | None = None, flags: int = 0
    ) -> None:
        raise no_support("virDomainSaveFlags")

    def domain_restore(self, frm: str, dxml: str | None = None, flags: int = 0) -> None:
        raise no_support("virDomainRestoreFlags")

    def domain_save_image_get_xml_desc(self, file: str, flags: int = 0) -> str:
        raise no_support("virDomainSaveImageGetXMLDesc")

    def domain_save_image_define_xml(self, file: str, dxml: str, flags: int = 0) -> None:
        raise no_support("virDomainSaveImageDefineXML")

    def domain_managed_save(self, dom: DomainIdent, flags: int = 0) -> None:
        raise no_support("virDomainManagedSave")

    def domain_has_managed_save_image(self, dom: DomainIdent, flags: int = 0) -> bool:
        raise no_support("virDomainHasManagedSaveImage")

    def domain_managed_save_remove(self, dom: DomainIdent, flags: int = 0) -> None:
        raise no_support("virDomainManagedSaveRemove")

    def domain_core_dump(self, dom: DomainIdent, to: str, flags: int = 0) -> None:
        raise no_support("virDomainCoreDump")

    def domain_rename(self, dom: DomainIdent, new_name: str, flags: int = 0) -> DomainIdent:
        raise no_support("virDomainRename")

    # ------------------------------------------------------------------ domain state and config

    def domain_get_info(self, dom: DomainIdent) -> DomainInfo:
        raise no_support("virDomainGetInfo")

    def domain_get_state(self, dom: DomainIdent, flags: int = 0) -> tuple[int, int]:
        """(state, reason)."""
        raise no_support("virDomainGetState")

    def domain_get_xml_desc(self, dom: DomainIdent, flags: int = 0) -> str:
        raise no_support("virDomainGetXMLDesc")

    def domain_get_os_type(self, dom: DomainIdent) -> str:
        raise no_support("virDomainGetOSType")

    def domain_get_max_memory(self, dom: DomainIdent) -> int:
        raise no_support("virDomainGetMaxMemory")

    def domain_set_max_memory(self, dom: DomainIdent, memory: int) -> None:
        raise no_support("virDomainSetMaxMemory")

    def domain_set_memory_flags(self, dom: DomainIdent, memory: int, flags: int = 0) -> None:
        raise no_support("virDomainSetMemoryFlags")

    def domain_get_max_vcpus(self, dom: DomainIdent) -> int:
        raise no_support("virDomainGetMaxVcpus")

    def domain_get_vcpus_flags(self, dom: DomainIdent, flags: int = 0) -> int:
        raise no_support("virDomainGetVcpusFlags")

    def domain_set_vcpus_flags(self, dom: DomainIdent, nvcpus: int, flags: int = 0) -> None:
        raise no_support("virDomainSetVcpusFlags")

    def domain_get_vcpus(self, dom: DomainIdent) -> tuple[list[VcpuInfo], list[list[bool]]]:
        """(per-vCPU info, per-vCPU host CPU affinity map)."""
        raise no_support("virDomainGetVcpus")

    def domain_pin_vcpu_flags(
        self, dom: DomainIdent, vcpu: int, cpumap: list[bool], flags: int = 0
    ) -> None:
        raise no_support("virDomainPinVcpuFlags")

    def domain_get_autostart(self, dom: DomainIdent) -> bool:
        raise no_support("virDomainGetAutostart")

    def domain_set_autostart(self, dom: DomainIdent, autostart: bool) -> None:
        raise no_support("virDomainSetAutostart")

    def domain_is_active(self, dom: DomainIdent) -> bool:
        raise no_support("virDomainIsActive")

    def domain_is_persistent(self, dom: DomainIdent) -> bool:
        raise no_support("virDomainIsPersistent")

    def domain_is_updated(self, dom: DomainIdent) -> bool:
        raise no_support("virDomainIsUpdated")

    def domain_get_metadata(
        self, dom: DomainIdent, type: int, uri: str | None = None, flags: int = 0
    ) -> str:
        raise no_support("virDomainGetMetadata")

    def domain_set_metadata(
        self,
        dom: DomainIdent,
        type: int,
        metadata: str | None,
        key: str | None = None,
        uri: str | None = None,
        flags: int = 0,
    ) -> None:
        raise no_support("virDomainSetMetadata")

    def domain_get_security_label(self, dom: DomainIdent) -> SecurityLabel:
        raise no_support("virDomainGetSecurityLabel")

    def domain_get_scheduler_type(self, dom: DomainIdent) -> tuple[str, int]:
        raise no_support("virDomainGetSchedulerType")

    def domain_get_scheduler_parameters(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        raise no_support("virDomainGetSchedulerParametersFlags")

    def domain_set_scheduler_parameters(
        self, dom: DomainIdent, params: TypedParams, flags: int = 0
    ) -> None:
        raise no_support("virDomainSetSchedulerParametersFlags")

    def domain_get_memory_parameters(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        raise no_support("virDomainGetMemoryParameters")

    def domain_set_memory_parameters(
        self, dom: DomainIdent, params: TypedParams, flags: int = 0
    ) -> None:
        raise no_support("virDomainSetMemoryParameters")

    def domain_get_blkio_parameters(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        raise no_support("virDomainGetBlkioParameters")

    def domain_set_blkio_parameters(
        self, dom: DomainIdent, params: TypedParams, flags: int = 0
    ) -> None:
        raise no_support("virDomainSetBlkioParameters")

    # -- domain tuning: NUMA, IOThreads, perf events, launch security
    def domain_get_numa_parameters(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        raise no_support("virDomainGetNumaParameters")

    def domain_set_numa_parameters(
        self, dom: DomainIdent, params: TypedParams, flags: int = 0
    ) -> None:
        raise no_support("virDomainSetNumaParameters")

    def domain_get_iothread_info(
        self, dom: DomainIdent, flags: int = 0
    ) -> list[tuple[int, list[bool]]]:
        """[(iothread id, host CPU affinity as booleans, whole bytes)]."""
        raise no_support("virDomainGetIOThreadInfo")

    def domain_pin_iothread(
        self, dom: DomainIdent, iothreads_id: int, cpumap: list[bool], flags: int = 0
    ) -> None:
        raise no_support("virDomainPinIOThread")

    def domain_add_iothread(self, dom: DomainIdent, iothread_id: int, flags: int = 0) -> None:
        raise no_support("virDomainAddIOThread")

    def domain_del_iothread(self, dom: DomainIdent, iothread_id: int, flags: int = 0) -> None:
        raise no_support("virDomainDelIOThread")

    def domain_set_iothread_params(
        self, dom: DomainIdent, iothread_id: int, params: TypedParams, flags: int = 0
    ) -> None:
        raise no_support("virDomainSetIOThreadParams")

    def domain_get_perf_events(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        raise no_support("virDomainGetPerfEvents")

    def domain_set_perf_events(
        self, dom: DomainIdent, params: TypedParams, flags: int = 0
    ) -> None:
        raise no_support("virDomainSetPerfEvents")

    def domain_get_launch_security_info(self, dom: DomainIdent, flags: int = 0) -> TypedParams:
        raise no_support("virDomainGetLaunchSecurityInfo")

    # -- pinning, device tuning, guest agent calls (helper: domain tuning)
    #: The flags virDomainPinVcpu (no flags) hands the Flags variant: AFFECT_LIVE as
    #: libvirt's QEMU driver does; libvirt's test driver passes 0.
    pin_vcpu_legacy_flags: int = 1

    def domain_get_vcpu_pin_info(
        self, dom: DomainIdent, ncpumaps: int, flags: int = 0
    ) -> list[list[bool]]:
        """One host CPU affinity (booleans) per vCPU, at most ``ncpumaps``."""
        raise no_support("virDomainGetVcpuPinInfo")

    def domain_pin_emulator(self, dom: DomainIdent, cpumap: list[bool], flags: int = 0) -> None:
        raise no_support("virDomainPinEmulator")

    def domain_get_emulator_pin_info(self, dom: DomainIdent, flags: int = 0) -> list[bool]:
        """The emulator threads' host CPU affinity as booleans."""
        raise no_support("virDomainGetEmulatorPinInfo")

    def domain_set_interface_parameters(
        self, dom: DomainIdent, device: str, params: TypedParams, flags: int = 0
    ) -> None:
        raise no_support("virDomainSetInterfaceParameters")

    def domain_get_interface_parameters(
        self, dom: DomainIdent, device: str, flags: int = 0
    ) -> TypedParams:
        raise no_support("virDomainGetInterfaceParameters")

    def domain_set_block_io_tune(
        self, dom: DomainIdent, disk: str, params: TypedParams, flags: int = 0
    ) -> None:
        raise no_support("virDomainSetBlockIoTune")

    def domain_get_block_io_tune(
        self, dom: DomainIdent, disk: str | None, flags: int = 0
    ) -> TypedParams:
        raise no_support("virDomainGetBlockIoTune")

    def domain_get_cpu_stats(
        self, dom: DomainIdent, nparams: int, start_cpu: int, ncpus: int, flags: int = 0
    ) -> tuple[int, list[TypedParams]]:
        """(virDomainGetCPUStats' return value, one parameter dict per CPU returned)."""
        raise no_support("virDomainGetCPUStats")

    def domain_get_disk_errors(self, dom: DomainIdent, flags: int = 0) -> list[tuple[str, int]]:
        """[(disk target, virDomainDiskErrorCode)] for every disk."""
        raise no_support("virDomainGetDiskErrors")

    def domain_fsfreeze(self, dom: DomainIdent, mountpoints: list[str], flags: int = 0) -> int:
        raise no_support("virDomainFSFreeze")

    def domain_fsthaw(self, dom: DomainIdent, mountpoints: list[str], flags: int = 0) -> int:
        raise no_support("virDomainFSThaw")

    def domain_fstrim(
        self, dom: DomainIdent, mount_point: str | None, minimum: int, flags: int = 0
    ) -> None:
        raise no_support("virDomainFSTrim")

    def domain_get_fsinfo(
        self, dom: DomainIdent, flags: int = 0
    ) -> list[tuple[str, str, str, list[str]]]:
        """[(mount point, name, fs type, device aliases)]."""
        raise no_support("virDomainGetFSInfo")

    def domain_set_user_password(
        self, dom: DomainIdent, user: str | None, password: str | None, flags: int = 0
    ) -> None:
        raise no_support("virDomainSetUserPassword")

    def domain_set_time(
        self, dom: DomainIdent, seconds: int, nseconds: int, flags: int = 0
    ) -> None:
        raise no_support("virDomainSetTime")

    def domain_send_process_signal(
        self, dom: DomainIdent, pid_value: int, signum: int, flags: int = 0
    ) -> None:
        raise no_support("virDomainSendProcessSignal")

    def domain_memory_peek(self, dom: DomainIdent, offset: int, size: int, flags: int = 0) -> bytes:
        raise no_support("virDomainMemoryPeek")

    def domain_set_lifecycle_action(
        self, dom: DomainIdent, type: int, action: int, flags: int = 0
    ) -> None:
        raise no_support("virDomainSetLifecycleAction")
    # -- end of domain tuning

    def domain_get_time(self, dom: DomainIdent, flags: int = 0) -> tuple[int, int]:
        raise no_support("virDomainGetTime")

    def domain_get_hostname(self, dom: DomainIdent, flags: int = 0) -> str:
        raise no_support("virDomainGetHostname")

    def domain_get_messages(self, dom: DomainIdent, flags: int = 0) -> list[str]:
        raise no_support("virDomainGetMessages")

    def domain_get_control_info(self, dom: DomainIdent, flags: int = 0) -> tuple[int, int, int]:
        raise no_support("virDomainGetControlInfo")

    def domain_send_key(
        self, dom: DomainIdent, codeset: int, holdtime: int, keycodes: list[int], flags: int = 0
    ) -> None:
        raise no_support("virDomainSendKey")

    def domain_inject_nmi(self, dom: DomainIdent, flags: int = 0) -> None:
        raise no_support("virDomainInjectNMI")

    def domain_open_console(
        self, dom: DomainIdent, dev_name: str | None = None, flags: int = 0
    ) -> DataStream:
        """A two-way stream to the domain's console (``dev_name``: its alias, None: the first)."""
        raise no_support("virDomainOpenConsole")

    def domain_screenshot(
        self, dom: DomainIdent, screen: int = 0, flags: int = 0
    ) -> tuple[str | None, DataStream]:
        """The screen as an image: its MIME type and a read stream of its bytes."""
        raise no_support("virDomainScreenshot")

    # The calls that pass file descriptors (over a unix socket, rpc/fdcalls.py).

    def domain_open_graphics(self, dom: DomainIdent, idx: int, fd: int, flags: int = 0) -> None:
        """Connect display ``idx`` to the caller's socket ``fd`` (the caller keeps it)."""
        raise no_support("virDomainOpenGraphics", ErrorDomain.DOMAIN)

    def domain_open_graphics_fd(self, dom: DomainIdent, idx: int, flags: int = 0) -> int:
        """A new socket connected to display ``idx`` (the caller's to close)."""
        raise no_support("virDomainOpenGraphicsFD", ErrorDomain.DOMAIN)

    def domain_create_xml_with_files(self, xml: str, files: Sequence[int],
                                     flags: int = 0) -> DomainIdent:
        """Create and start a transient domain, passing ``files`` to it."""
        raise no_support("virDomainCreateXMLWithFiles", ErrorDomain.DOMAIN)

    def domain_create_with_files(self, dom: DomainIdent, files: Sequence[int],
                                 flags: int = 0) -> DomainIdent:
        """Start a defined domain, passing ``files`` to it."""
        raise no_support("virDomainCreateWithFiles", ErrorDomain.DOMAIN)

    def domain_fd_associate(self, dom: DomainIdent, name: str, fds: Sequence[int],
                            flags: int = 0) -> None:
        """Hand ``fds`` to the driver as group ``name`` (the caller keeps them)."""
        raise no_support("virDomainFDAssociate", ErrorDomain.DOMAIN)

    def domain_open_channel(self, dom: DomainIdent, name: str | None = None,
                            flags: int = 0) -> DataStream:
        """A two-way stream to channel ``name`` (None: the first)."""
        raise no_support("virDomainOpenChannel", ErrorDomain.DOMAIN)

    # ------------------------------------------------------------------ devices

    def domain_attach_device_flags(self, dom: DomainIdent, xml: str, flags: int = 0) -> None:
        raise no_support("virDomainAttachDeviceFlags")

    def domain_detach_device_flags(self, dom: DomainIdent, xml: str, flags: int = 0) -> None:
        raise no_support("virDomainDetachDeviceFlags")

    def domain_detach_device_alias(self, dom: DomainIdent, alias: str, flags: int = 0) -> None:
        raise no_support("virDomainDetachDeviceAlias")

    def domain_update_device_flags(self, dom: DomainIdent, xml: str, flags: int = 0) -> None:
        raise no_support("virDomainUpdateDeviceFlags")

    # ------------------------------------------------------------------ statistics

    def connect_get_all_domain_stats(
        self, doms: list[DomainIdent] | None, stats: int = 0, flags: int = 0
    ) -> list[DomainStatsRecord]:
        raise no_support("virConnectGetAllDomainStats")

    def domain_block_stats(self, dom: DomainIdent, path: str) -> DomainBlockStats:
        raise no_support("virDomainBlockStats")

    def domain_block_stats_flags(self, dom: DomainIdent, path: str, flags: int = 0) -> TypedParams:
        raise no_support("virDomainBlockStatsFlags")

    def domain_interface_stats(self, dom: DomainIdent, device: str) -> DomainInterfaceStats:
        raise no_support("virDomainInterfaceStats")

    def domain_memory_stats(self, dom: DomainIdent, flags: int = 0) -> dict[int, int]:
        """{virDomainMemoryStatTags value: amount}."""
        raise no_support("virDomainMemoryStats")

    def domain_set_memory_stats_period(self, dom: DomainIdent, period: int, flags: int = 0) -> None:
        raise no_support("virDomainSetMemoryStatsPeriod")

    def domain_get_block_info(self, dom: DomainIdent, path: str, flags: int = 0) -> DomainBlockInfo:
        raise no_support("virDomainGetBlockInfo")

    def domain_interface_addresses(
        self, dom: DomainIdent, source: int, flags: int = 0
    ) -> list[DomainInterface]:
        raise no_support("virDomainInterfaceAddresses")

    def domain_get_job_info(self, dom: DomainIdent) -> DomainJobInfo:
        raise no_support("virDomainGetJobInfo")

    def domain_get_job_stats(self, dom: DomainIdent, flags: int = 0) -> tuple[int, TypedParams]:
        raise no_support("virDomainGetJobStats")

    def domain_abort_job(self, dom: DomainIdent) -> None:
        raise no_support("virDomainAbortJob")

    def domain_abort_job_flags(self, dom: DomainIdent, flags: int = 0) -> None:
        raise no_support("virDomainAbortJobFlags")

    # ------------------------------------------------------------------ migration (v3, params)

    def domain_migrate_begin3_params(self, dom: DomainIdent, params: TypedParams,
                                     flags: int = 0) -> tuple[bytes, str]:
        """Source, phase 1: ``(cookie_out, domain XML to send)``."""
        raise no_support("virDomainMigrateBegin3Params")

    def domain_migrate_prepare3_params(self, params: TypedParams, cookie_in: bytes,
                                       flags: int = 0) -> tuple[bytes, str | None]:
        """Destination, phase 2: ``(cookie_out, uri_out)``."""
        raise no_support("virDomainMigratePrepare3Params")

    def domain_migrate_prepare_tunnel3_params(self, params: TypedParams, cookie_in: bytes,
                                              flags: int = 0) -> tuple[bytes, DataStream]:
        """Destination, phase 2 of a tunnelled migration: ``(cookie_out, stream)``; the
        source writes QEMU's migration stream into ``stream`` and finishes it."""
        raise no_support("virDomainMigratePrepareTunnel3Params")

    def domain_migrate_perform3_params(self, dom: DomainIdent, dconnuri: str | None,
                                       params: TypedParams, cookie_in: bytes,
                                       flags: int = 0) -> bytes:
        """Source, phase 3 (with ``dconnuri``: the whole peer-to-peer migration)."""
        raise no_support("virDomainMigratePerform3Params")

    def domain_migrate_finish3_params(self, params: TypedParams, cookie_in: bytes,
                                      flags: int, cancelled: int) -> tuple[DomainIdent, bytes]:
        """Destination, phase 4: the migrated domain and ``cookie_out``."""
        raise no_support("virDomainMigrateFinish3Params")

    def domain_migrate_confirm3_params(self, dom: DomainIdent, params: TypedParams,
                                       cookie_in: bytes, flags: int, cancelled: int) -> None:
        """Source, phase 5: kill the source, or resume it when ``cancelled``."""
        raise no_support("virDomainMigrateConfirm3Params")

    # version 3 without typed parameters (virDomainMigrate, virDomainMigrateToURI2)

    def domain_migrate_begin3(self, dom: DomainIdent, xmlin: str | None, flags: int,
                              dname: str | None, resource: int) -> tuple[bytes, str]:
        raise no_support("virDomainMigrateBegin3")

    def domain_migrate_prepare3(self, cookie_in: bytes, uri_in: str | None, flags: int,
                                dname: str | None, resource: int,
                                dom_xml: str) -> tuple[bytes, str | None]:
        raise no_support("virDomainMigratePrepare3")

    def domain_migrate_prepare_tunnel3(self, cookie_in: bytes, flags: int, dname: str | None,
                                       resource: int,
                                       dom_xml: str) -> tuple[bytes, DataStream]:
        raise no_support("virDomainMigratePrepareTunnel3")

    def domain_migrate_perform3(self, dom: DomainIdent, xmlin: str | None, cookie_in: bytes,
                                dconnuri: str | None, uri: str | None, flags: int,
                                dname: str | None, resource: int) -> bytes:
        raise no_support("virDomainMigratePerform3")

    def domain_migrate_finish3(self, dname: str, cookie_in: bytes, dconnuri: str | None,
                               uri: str | None, flags: int,
                               cancelled: int) -> tuple[DomainIdent, bytes]:
        raise no_support("virDomainMigrateFinish3")

    def domain_migrate_confirm3(self, dom: DomainIdent, cookie_in: bytes, flags: int,
                                cancelled: int) -> None:
        raise no_support("virDomainMigrateConfirm3")

    def domain_migrate_get_max_downtime(self, dom: DomainIdent, flags: int = 0) -> int:
        raise no_support("virDomainMigrateGetMaxDowntime")

    def domain_migrate_set_max_downtime(self, dom: DomainIdent, downtime: int,
                                        flags: int = 0) -> None:
        raise no_support("virDomainMigrateSetMaxDowntime")

    def domain_migrate_get_max_speed(self, dom: DomainIdent, flags: int = 0) -> int:
        raise no_support("virDomainMigrateGetMaxSpeed")

    def domain_migrate_set_max_speed(self, dom: DomainIdent, bandwidth: int,
                                     flags: int = 0) -> None:
        raise no_support("virDomainMigrateSetMaxSpeed")

    def domain_migrate_get_compression_cache(self, dom: DomainIdent, flags: int = 0) -> int:
        raise no_support("virDomainMigrateGetCompressionCache")

    def domain_migrate_set_compression_cache(self, dom: DomainIdent, cache_size: int,
                                             flags: int = 0) -> None:
        raise no_support("virDomainMigrateSetCompressionCache")

    def domain_migrate_start_post_copy(self, dom: DomainIdent, flags: int = 0) -> None:
        raise no_support("virDomainMigrateStartPostCopy")

    # ------------------------------------------------------------------ snapshots

    def domain_snapshot_create_xml(
        self, dom: DomainIdent, xml: str, flags: int = 0
    ) -> SnapshotIdent:
        raise no_support("virDomainSnapshotCreateXML")

    def domain_snapshot_get_xml_desc(self, snap: SnapshotIdent, flags: int = 0) -> str:
        raise no_support("virDomainSnapshotGetXMLDesc")

    def domain_snapshot_num(self, dom: DomainIdent, flags: int = 0) -> int:
        raise no_support("virDomainSnapshotNum")

    def domain_snapshot_list_names(
        self, dom: DomainIdent, maxnames: int, flags: int = 0
    ) -> list[str]:
        raise no_support("virDomainSnapshotListNames")

    def domain_list_all_snapshots(self, dom: DomainIdent, flags: int = 0) -> list[SnapshotIdent]:
        raise no_support("virDomainListAllSnapshots")

    def domain_snapshot_num_children(self, snap: SnapshotIdent, flags: int = 0) -> int:
        raise no_support("virDomainSnapshotNumChildren")

    def domain_snapshot_list_all_children(
        self, snap: SnapshotIdent, flags: int = 0
    ) -> list[SnapshotIdent]:
        raise no_support("virDomainSnapshotListAllChildren")

    def domain_snapshot_lookup_by_name(
        self, dom: DomainIdent, name: str, flags: int = 0
    ) -> SnapshotIdent:
        raise no_support("virDomainSnapshotLookupByName")

    def domain_has_current_snapshot(self, dom: DomainIdent, flags: int = 0) -> bool:
        raise no_support("virDomainHasCurrentSnapshot")

    def domain_snapshot_get_parent(self, snap: SnapshotIdent, flags: int = 0) -> SnapshotIdent:
        raise no_support("virDomainSnapshotGetParent")

    def domain_snapshot_current(self, dom: DomainIdent, flags: int = 0) -> SnapshotIdent:
        raise no_support("virDomainSnapshotCurrent")

    def domain_snapshot_is_current(self, snap: SnapshotIdent, flags: int = 0) -> bool:
        raise no_support("virDomainSnapshotIsCurrent")

    def domain_snapshot_has_metadata(self, snap: SnapshotIdent, flags: int = 0) -> bool:
        raise no_support("virDomainSnapshotHasMetadata")

    def domain_revert_to_snapshot(self, snap: SnapshotIdent, flags: int = 0) -> None:
        raise no_support("virDomainRevertToSnapshot")

    def domain_snapshot_delete(self, snap: SnapshotIdent, flags: int = 0) -> None:
        raise no_support("virDomainSnapshotDelete")

    # ------------------------------------------------------------------ events

    def connect_domain_event_register_any(
        self, dom: DomainIdent | None, event_id: int, callback: DomainEventCallback
    ) -> int:
        raise no_support("virConnectDomainEventRegisterAny")

    def connect_domain_event_deregister_any(self, callback_id: int) -> None:
        raise no_support("virConnectDomainEventDeregisterAny")


class NetworkDriver:
    """virNetworkDriver."""

    def connect_num_of_networks(self) -> int:
        raise no_support("virConnectNumOfNetworks")

    def connect_list_networks(self, maxnames: int) -> list[str]:
        raise no_support("virConnectListNetworks")

    def connect_num_of_defined_networks(self) -> int:
        raise no_support("virConnectNumOfDefinedNetworks")

    def connect_list_defined_networks(self, maxnames: int) -> list[str]:
        raise no_support("virConnectListDefinedNetworks")

    def connect_list_all_networks(self, flags: int = 0) -> list[NetworkIdent]:
        raise no_support("virConnectListAllNetworks")

    def network_lookup_by_uuid(self, uuid: str) -> NetworkIdent:
        raise no_support("virNetworkLookupByUUID")

    def network_lookup_by_name(self, name: str) -> NetworkIdent:
        raise no_support("virNetworkLookupByName")

    def network_create_xml(self, xml: str, flags: int = 0) -> NetworkIdent:
        raise no_support("virNetworkCreateXMLFlags")

    def network_define_xml(self, xml: str, flags: int = 0) -> NetworkIdent:
        raise no_support("virNetworkDefineXMLFlags")

    def network_undefine(self, net: NetworkIdent) -> None:
        raise no_support("virNetworkUndefine")

    def network_update(
        self, net: NetworkIdent, command: int, section: int, parent_index: int, xml: str,
        flags: int = 0,
    ) -> None:
        raise no_support("virNetworkUpdate")

    def network_create(self, net: NetworkIdent) -> None:
        raise no_support("virNetworkCreate")

    def network_destroy(self, net: NetworkIdent) -> None:
        raise no_support("virNetworkDestroy")

    def network_get_xml_desc(self, net: NetworkIdent, flags: int = 0) -> str:
        raise no_support("virNetworkGetXMLDesc")

    def network_get_bridge_name(self, net: NetworkIdent) -> str:
        raise no_support("virNetworkGetBridgeName")

    def network_get_autostart(self, net: NetworkIdent) -> bool:
        raise no_support("virNetworkGetAutostart")

    def network_set_autostart(self, net: NetworkIdent, autostart: bool) -> None:
        raise no_support("virNetworkSetAutostart")

    def network_is_active(self, net: NetworkIdent) -> bool:
        raise no_support("virNetworkIsActive")

    def network_is_persistent(self, net: NetworkIdent) -> bool:
        raise no_support("virNetworkIsPersistent")

    def network_get_dhcp_leases(
        self, net: NetworkIdent, mac: str | None = None, flags: int = 0
    ) -> list[NetworkDHCPLease]:
        raise no_support("virNetworkGetDHCPLeases")

    def connect_network_event_register_any(
        self, net: NetworkIdent | None, event_id: int, callback: NetworkEventCallback
    ) -> int:
        raise no_support("virConnectNetworkEventRegisterAny")

    def connect_network_event_deregister_any(self, callback_id: int) -> None:
        raise no_support("virConnectNetworkEventDeregisterAny")

    def network_list_all_ports(
        self, network: NetworkIdent, flags: int = 0
    ) -> list[NetworkPortIdent]:
        raise no_support("virNetworkListAllPorts")

    def network_port_lookup_by_uuid(self, network: NetworkIdent, uuid: str) -> NetworkPortIdent:
        raise no_support("virNetworkPortLookupByUUID")

    def network_port_create_xml(
        self, network: NetworkIdent, xml: str, flags: int = 0
    ) -> NetworkPortIdent:
        raise no_support("virNetworkPortCreateXML")

    def network_port_get_parameters(self, port: NetworkPortIdent, flags: int = 0) -> TypedParams:
        raise no_support("virNetworkPortGetParameters")

    def network_port_set_parameters(
        self, port: NetworkPortIdent, params: TypedParams, flags: int = 0
    ) -> None:
        raise no_support("virNetworkPortSetParameters")

    def network_port_get_xml_desc(self, port: NetworkPortIdent, flags: int = 0) -> str:
        raise no_support("virNetworkPortGetXMLDesc")

    def network_port_delete(self, port: NetworkPortIdent, flags: int = 0) -> None:
        raise no_support("virNetworkPortDelete")


class StorageDriver:
    """virStorageDriver: pools and volumes."""

    def connect_num_of_storage_pools(self) -> int:
        raise no_support("virConnectNumOfStoragePools")

    def connect_list_storage_pools(self, maxnames: int) -> list[str]:
        raise no_support("virConnectListStoragePools")

    def connect_num_of_defined_storage_pools(self) -> int:
        raise no_support("virConnectNumOfDefinedStoragePools")

    def connect_list_defined_storage_pools(self, maxnames: int) -> list[str]:
        raise no_support("virConnectListDefinedStoragePools")

    def connect_list_all_storage_pools(self, flags: int = 0) -> list[StoragePoolIdent]:
        raise no_support("virConnectListAllStoragePools")

    def connect_find_storage_pool_sources(
        self, type: str, src_spec: str | None = None, flags: int = 0
    ) -> str:
        raise no_support("virConnectFindStoragePoolSources")

    def storage_pool_lookup_by_name(self, name: str) -> StoragePoolIdent:
        raise no_support("virStoragePoolLookupByName")

    def storage_pool_lookup_by_uuid(self, uuid: str) -> StoragePoolIdent:
        raise no_support("virStoragePoolLookupByUUID")

    def storage_pool_lookup_by_volume(self, vol: StorageVolIdent) -> StoragePoolIdent:
        raise no_support("virStoragePoolLookupByVolume")

    def storage_pool_lookup_by_target_path(self, path: str) -> StoragePoolIdent:
        raise no_support("virStoragePoolLookupByTargetPath")

    def storage_pool_create_xml(self, xml: str, flags: int = 0) -> StoragePoolIdent:
        raise no_support("virStoragePoolCreateXML")

    def storage_pool_define_xml(self, xml: str, flags: int = 0) -> StoragePoolIdent:
        raise no_support("virStoragePoolDefineXML")

    def storage_pool_build(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        raise no_support("virStoragePoolBuild")

    def storage_pool_undefine(self, pool: StoragePoolIdent) -> None:
        raise no_support("virStoragePoolUndefine")

    def storage_pool_create(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        raise no_support("virStoragePoolCreate")

    def storage_pool_destroy(self, pool: StoragePoolIdent) -> None:
        raise no_support("virStoragePoolDestroy")

    def storage_pool_delete(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        raise no_support("virStoragePoolDelete")

    def storage_pool_refresh(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        raise no_support("virStoragePoolRefresh")

    def storage_pool_get_info(self, pool: StoragePoolIdent) -> StoragePoolInfo:
        raise no_support("virStoragePoolGetInfo")

    def storage_pool_get_xml_desc(self, pool: StoragePoolIdent, flags: int = 0) -> str:
        raise no_support("virStoragePoolGetXMLDesc")

    def storage_pool_get_autostart(self, pool: StoragePoolIdent) -> bool:
        raise no_support("virStoragePoolGetAutostart")

    def storage_pool_set_autostart(self, pool: StoragePoolIdent, autostart: bool) -> None:
        raise no_support("virStoragePoolSetAutostart")

    def storage_pool_is_active(self, pool: StoragePoolIdent) -> bool:
        raise no_support("virStoragePoolIsActive")

    def storage_pool_is_persistent(self, pool: StoragePoolIdent) -> bool:
        raise no_support("virStoragePoolIsPersistent")

    def storage_pool_num_of_volumes(self, pool: StoragePoolIdent) -> int:
        raise no_support("virStoragePoolNumOfVolumes")

    def storage_pool_list_volumes(self, pool: StoragePoolIdent, maxnames: int) -> list[str]:
        raise no_support("virStoragePoolListVolumes")

    def storage_pool_list_all_volumes(
        self, pool: StoragePoolIdent, flags: int = 0
    ) -> list[StorageVolIdent]:
        raise no_support("virStoragePoolListAllVolumes")

    def storage_vol_lookup_by_name(self, pool: StoragePoolIdent, name: str) -> StorageVolIdent:
        raise no_support("virStorageVolLookupByName")

    def storage_vol_lookup_by_key(self, key: str) -> StorageVolIdent:
        raise no_support("virStorageVolLookupByKey")

    def storage_vol_lookup_by_path(self, path: str) -> StorageVolIdent:
        raise no_support("virStorageVolLookupByPath")

    def storage_vol_create_xml(
        self, pool: StoragePoolIdent, xml: str, flags: int = 0
    ) -> StorageVolIdent:
        raise no_support("virStorageVolCreateXML")

    def storage_vol_create_xml_from(
        self, pool: StoragePoolIdent, xml: str, clonevol: StorageVolIdent, flags: int = 0
    ) -> StorageVolIdent:
        raise no_support("virStorageVolCreateXMLFrom")

    def storage_vol_delete(self, vol: StorageVolIdent, flags: int = 0) -> None:
        raise no_support("virStorageVolDelete")

    def storage_vol_wipe(self, vol: StorageVolIdent, flags: int = 0) -> None:
        raise no_support("virStorageVolWipe")

    def storage_vol_get_info(self, vol: StorageVolIdent) -> StorageVolInfo:
        raise no_support("virStorageVolGetInfo")

    def storage_vol_get_info_flags(self, vol: StorageVolIdent, flags: int = 0) -> StorageVolInfo:
        raise no_support("virStorageVolGetInfoFlags")

    def storage_vol_get_xml_desc(self, vol: StorageVolIdent, flags: int = 0) -> str:
        raise no_support("virStorageVolGetXMLDesc")

    def storage_vol_get_path(self, vol: StorageVolIdent) -> str:
        raise no_support("virStorageVolGetPath")

    def storage_vol_wipe_pattern(self, vol: StorageVolIdent, algorithm: int,
                                 flags: int = 0) -> None:
        raise no_support("virStorageVolWipePattern")

    def connect_get_storage_pool_capabilities(self, flags: int = 0) -> str:
        raise no_support("virConnectGetStoragePoolCapabilities")

    def storage_vol_upload(
        self, vol: StorageVolIdent, offset: int = 0, length: int = 0, flags: int = 0
    ) -> DataStream:
        """A write stream into the volume from ``offset`` (``length`` 0: to the end)."""
        raise no_support("virStorageVolUpload")

    def storage_vol_download(
        self, vol: StorageVolIdent, offset: int = 0, length: int = 0, flags: int = 0
    ) -> DataStream:
        """A read stream of the volume's bytes from ``offset`` (``length`` 0: to the end)."""
        raise no_support("virStorageVolDownload")

    def storage_vol_resize(self, vol: StorageVolIdent, capacity: int, flags: int = 0) -> None:
        raise no_support("virStorageVolResize")

    def connect_storage_pool_event_register_any(
        self, pool: StoragePoolIdent | None, event_id: int, callback: StoragePoolEventCallback
    ) -> int:
        raise no_support("virConnectStoragePoolEventRegisterAny")

    def connect_storage_pool_event_deregister_any(self, callback_id: int) -> None:
        raise no_support("virConnectStoragePoolEventDeregisterAny")


class NodeDeviceDriver:
    """virNodeDeviceDriver."""

    def connect_list_all_node_devices(self, flags: int = 0) -> list[NodeDeviceIdent]:
        raise no_support("virConnectListAllNodeDevices")

    def node_device_lookup_by_name(self, name: str) -> NodeDeviceIdent:
        raise no_support("virNodeDeviceLookupByName")

    def node_device_get_xml_desc(self, dev: NodeDeviceIdent, flags: int = 0) -> str:
        raise no_support("virNodeDeviceGetXMLDesc")

    # node devices: counting, capabilities, vHBA create/destroy (helper: interfaces/nodedevs)

    def node_num_of_devices(self, cap: str | None = None, flags: int = 0) -> int:
        raise no_support("virNodeNumOfDevices", ErrorDomain.NODEDEV)

    def node_list_devices(self, cap: str | None, maxnames: int, flags: int = 0) -> list[str]:
        raise no_support("virNodeListDevices", ErrorDomain.NODEDEV)

    def node_device_get_parent(self, dev: NodeDeviceIdent) -> str | None:
        """The parent's name; None for a device without one."""
        raise no_support("virNodeDeviceGetParent", ErrorDomain.NODEDEV)

    def node_device_num_of_caps(self, dev: NodeDeviceIdent) -> int:
        raise no_support("virNodeDeviceNumOfCaps", ErrorDomain.NODEDEV)

    def node_device_list_caps(self, dev: NodeDeviceIdent, maxnames: int) -> list[str]:
        raise no_support("virNodeDeviceListCaps", ErrorDomain.NODEDEV)

    def node_device_lookup_scsi_host_by_wwn(
        self, wwnn: str, wwpn: str, flags: int = 0
    ) -> NodeDeviceIdent:
        raise no_support("virNodeDeviceLookupSCSIHostByWWN", ErrorDomain.NODEDEV)

    def node_device_create_xml(self, xml: str, flags: int = 0) -> NodeDeviceIdent:
        raise no_support("virNodeDeviceCreateXML", ErrorDomain.NODEDEV)

    def node_device_destroy(self, dev: NodeDeviceIdent) -> None:
        raise no_support("virNodeDeviceDestroy", ErrorDomain.NODEDEV)

    def node_device_is_active(self, dev: NodeDeviceIdent) -> bool:
        raise no_support("virNodeDeviceIsActive", ErrorDomain.NODEDEV)

    def node_device_is_persistent(self, dev: NodeDeviceIdent) -> bool:
        raise no_support("virNodeDeviceIsPersistent", ErrorDomain.NODEDEV)

    def node_device_get_autostart(self, dev: NodeDeviceIdent) -> bool:
        raise no_support("virNodeDeviceGetAutostart", ErrorDomain.NODEDEV)

    # node device events (LIFECYCLE payload: (event, detail); UPDATE: ())

    def connect_node_device_event_register_any(
        self, dev: NodeDeviceIdent | None, event_id: int, callback: NodeDeviceEventCallback
    ) -> int:
        raise no_support("virConnectNodeDeviceEventRegisterAny", ErrorDomain.NODEDEV)

    def connect_node_device_event_deregister_any(self, callback_id: int) -> None:
        raise no_support("virConnectNodeDeviceEventDeregisterAny", ErrorDomain.NODEDEV)


class InterfaceDriver:
    """virInterfaceDriver."""

    def connect_list_all_interfaces(self, flags: int = 0) -> list[InterfaceIdent]:
        raise no_support("virConnectListAllInterfaces")

    def interface_lookup_by_name(self, name: str) -> InterfaceIdent:
        raise no_support("virInterfaceLookupByName")

    def interface_get_xml_desc(self, iface: InterfaceIdent, flags: int = 0) -> str:
        raise no_support("virInterfaceGetXMLDesc")

    def interface_is_active(self, iface: InterfaceIdent) -> bool:
        raise no_support("virInterfaceIsActive")

    def interface_lookup_by_mac_string(self, mac: str) -> InterfaceIdent:
        raise no_support("virInterfaceLookupByMACString")

    def connect_num_of_interfaces(self) -> int:
        raise no_support("virConnectNumOfInterfaces")

    def connect_num_of_defined_interfaces(self) -> int:
        raise no_support("virConnectNumOfDefinedInterfaces")

    # interfaces: listing by name, define/undefine, start/stop, transactions
    # (helper: interfaces/nodedevs)

    def connect_list_interfaces(self, maxnames: int) -> list[str]:
        raise no_support("virConnectListInterfaces", ErrorDomain.INTERFACE)

    def connect_list_defined_interfaces(self, maxnames: int) -> list[str]:
        raise no_support("virConnectListDefinedInterfaces", ErrorDomain.INTERFACE)

    def interface_define_xml(self, xml: str, flags: int = 0) -> InterfaceIdent:
        raise no_support("virInterfaceDefineXML", ErrorDomain.INTERFACE)

    def interface_undefine(self, iface: InterfaceIdent) -> None:
        raise no_support("virInterfaceUndefine", ErrorDomain.INTERFACE)

    def interface_create(self, iface: InterfaceIdent, flags: int = 0) -> None:
        raise no_support("virInterfaceCreate", ErrorDomain.INTERFACE)

    def interface_destroy(self, iface: InterfaceIdent, flags: int = 0) -> None:
        raise no_support("virInterfaceDestroy", ErrorDomain.INTERFACE)

    def interface_change_begin(self, flags: int = 0) -> None:
        raise no_support("virInterfaceChangeBegin", ErrorDomain.INTERFACE)

    def interface_change_commit(self, flags: int = 0) -> None:
        raise no_support("virInterfaceChangeCommit", ErrorDomain.INTERFACE)

    def interface_change_rollback(self, flags: int = 0) -> None:
        raise no_support("virInterfaceChangeRollback", ErrorDomain.INTERFACE)


class SecretDriver:
    """virSecretDriver."""

    def connect_list_all_secrets(self, flags: int = 0) -> list[SecretIdent]:
        raise no_support("virConnectListAllSecrets")

    def connect_num_of_secrets(self) -> int:
        raise no_support("virConnectNumOfSecrets")

    def connect_list_secrets(self, maxuuids: int) -> list[str]:
        raise no_support("virConnectListSecrets", ErrorDomain.SECRET)

    def secret_lookup_by_uuid(self, uuid: str) -> SecretIdent:
        raise no_support("virSecretLookupByUUID", ErrorDomain.SECRET)

    def secret_lookup_by_usage(self, usage_type: int, usage_id: str) -> SecretIdent:
        raise no_support("virSecretLookupByUsage", ErrorDomain.SECRET)

    def secret_define_xml(self, xml: str, flags: int = 0) -> SecretIdent:
        raise no_support("virSecretDefineXML", ErrorDomain.SECRET)

    def secret_get_xml_desc(self, secret: SecretIdent, flags: int = 0) -> str:
        raise no_support("virSecretGetXMLDesc", ErrorDomain.SECRET)

    def secret_set_value(self, secret: SecretIdent, value: bytes, flags: int = 0) -> None:
        raise no_support("virSecretSetValue", ErrorDomain.SECRET)

    def secret_get_value(self, secret: SecretIdent, flags: int = 0) -> bytes:
        raise no_support("virSecretGetValue", ErrorDomain.SECRET)

    def secret_undefine(self, secret: SecretIdent) -> None:
        raise no_support("virSecretUndefine", ErrorDomain.SECRET)

    # secret events (LIFECYCLE payload: (event, detail); VALUE_CHANGED: ())

    def connect_secret_event_register_any(
        self, secret: SecretIdent | None, event_id: int, callback: SecretEventCallback
    ) -> int:
        raise no_support("virConnectSecretEventRegisterAny", ErrorDomain.SECRET)

    def connect_secret_event_deregister_any(self, callback_id: int) -> None:
        raise no_support("virConnectSecretEventDeregisterAny", ErrorDomain.SECRET)


class NWFilterDriver:
    """virNWFilterDriver."""

    def connect_list_all_nwfilters(self, flags: int = 0) -> list[NWFilterIdent]:
        raise no_support("virConnectListAllNWFilters")

    def connect_num_of_nwfilters(self) -> int:
        raise no_support("virConnectNumOfNWFilters")

    def connect_list_nwfilters(self, maxnames: int = -1) -> list[str]:
        raise no_support("virConnectListNWFilters")

    def nwfilter_lookup_by_name(self, name: str) -> NWFilterIdent:
        raise no_support("virNWFilterLookupByName")

    def nwfilter_lookup_by_uuid(self, uuid: str) -> NWFilterIdent:
        raise no_support("virNWFilterLookupByUUID")

    def nwfilter_define_xml(self, xml: str, flags: int = 0) -> NWFilterIdent:
        raise no_support("virNWFilterDefineXMLFlags")

    def nwfilter_undefine(self, ident: NWFilterIdent) -> None:
        raise no_support("virNWFilterUndefine")

    def nwfilter_get_xml_desc(self, ident: NWFilterIdent, flags: int = 0) -> str:
        raise no_support("virNWFilterGetXMLDesc")

    def connect_list_all_nwfilter_bindings(self, flags: int = 0) -> list[NWFilterBindingIdent]:
        raise no_support("virConnectListAllNWFilterBindings")

    def nwfilter_binding_lookup_by_port_dev(self, portdev: str) -> NWFilterBindingIdent:
        raise no_support("virNWFilterBindingLookupByPortDev")

    def nwfilter_binding_create_xml(self, xml: str, flags: int = 0) -> NWFilterBindingIdent:
        raise no_support("virNWFilterBindingCreateXML")

    def nwfilter_binding_delete(self, ident: NWFilterBindingIdent) -> None:
        raise no_support("virNWFilterBindingDelete")

    def nwfilter_binding_get_xml_desc(self, ident: NWFilterBindingIdent, flags: int = 0) -> str:
        raise no_support("virNWFilterBindingGetXMLDesc")


class SecondaryConnection(HypervisorDriver):
    """The hypervisor table of a connection that opens one secondary driver only
    (``secret:///``, ``nodedev:///``: libvirt's secretHypervisorDriver,
    nodedevHypervisorDriver): its URI, close, and nothing else."""

    def __init__(self, name: str, uri: str, on_close: list[Callable[[], None]]) -> None:
        self.name = name
        self._uri = uri
        self._on_close = on_close

    def connect_close(self) -> None:
        for fn in self._on_close:
            fn()
        self._on_close = []

    def connect_get_uri(self) -> str:
        return self._uri

    def connect_is_secure(self) -> bool:
        return True  # served inside the daemon (or this process)

    def connect_is_encrypted(self) -> bool:
        return False


class DriverTables:
    """The tables one connection uses; a driver may fill several with one object."""

    def __init__(
        self,
        hypervisor: HypervisorDriver,
        network: NetworkDriver | None = None,
        storage: StorageDriver | None = None,
        nodedev: NodeDeviceDriver | None = None,
        interface: InterfaceDriver | None = None,
        secret: SecretDriver | None = None,
        nwfilter: NWFilterDriver | None = None,
    ) -> None:
        self.hypervisor = hypervisor
        self.network = network or NetworkDriver()
        self.storage = storage or StorageDriver()
        self.nodedev = nodedev or NodeDeviceDriver()
        self.interface = interface or InterfaceDriver()
        self.secret = secret or SecretDriver()
        self.nwfilter = nwfilter or NWFilterDriver()
