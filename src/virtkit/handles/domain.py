"""The Domain handle: a domain's identity plus its connection."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from typing import TYPE_CHECKING

from virtkit.constants import DomainState
from virtkit.errors import NoSupportError, invalid_arg, make_error, no_support
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.handles.base import Handle
from virtkit.handles.snapshot import Snapshot
from virtkit.types import (
    DomainBlockInfo,
    DomainBlockStats,
    DomainIdent,
    DomainInfo,
    DomainInterface,
    DomainInterfaceStats,
    DomainJobInfo,
    SecurityLabel,
    TypedParams,
    VcpuInfo,
)

if TYPE_CHECKING:
    from virtkit.connection import Connection
    from virtkit.migration_check import MigrationBlocker
    from virtkit.streams import DataStream

__all__ = ["Domain"]

_D = ErrorDomain.DOMAIN
_S = ErrorDomain.DOMAIN_SNAPSHOT
_STRING_OKAY = 4  # VIR_TYPED_PARAM_STRING_OKAY

# virDomainMemoryStatTags -> the keys libvirt-python's memoryStats() uses.
_MEMORY_STAT_NAMES = (
    "swap_in", "swap_out", "major_fault", "minor_fault", "unused", "available",
    "actual", "rss", "usable", "last_update", "disk_caches", "hugetlb_pgalloc",
    "hugetlb_pgfail",
)


class Domain(Handle[DomainIdent]):
    """A domain (virDomainPtr): ``name``, ``uuid``, ``id`` and the calls on it.

    Handles are cheap and hold no state beyond the identity; every call goes
    to the connection's driver. Two handles are equal when they name the same
    domain (UUID) on the same connection.
    """

    __slots__ = ()

    # ------------------------------------------------------------ identity

    @property
    def uuid(self) -> str:
        """The domain's UUID, canonical lower-case form."""
        return self._ident.uuid

    @property
    def id(self) -> int:
        """The domain's id while it runs, -1 when inactive (as of the last call that knew)."""
        return self._ident.id

    def __repr__(self) -> str:
        return f"<Domain {self._ident.name!r} id={self._ident.id} uuid={self._ident.uuid}>"

    def refresh(self) -> None:
        """Re-read the identity (id after a start or stop done elsewhere): LookupByUUID."""
        self._ident = self._conn._hv.domain_lookup_by_uuid(self._ident.uuid)

    # ------------------------------------------------------------ state and config

    @property
    def state(self) -> DomainState:
        """The current state (virDomainGetState)."""
        return DomainState(self._conn._hv.domain_get_state(self._ident, 0)[0])

    def state_reason(self) -> tuple[DomainState, int]:
        """(state, reason): virDomainGetState."""
        state, reason = self._conn._hv.domain_get_state(self._ident, 0)
        return DomainState(state), reason

    def info(self) -> DomainInfo:
        """virDomainGetInfo: state, max_mem and memory (KiB), nr_virt_cpu, cpu_time (ns)."""
        return self._conn._hv.domain_get_info(self._ident)

    def xml(self, flags: int = 0) -> str:
        """virDomainGetXMLDesc (flags: DomainXMLFlags; SECURE and MIGRATABLE are refused
        on read-only connections, by the procedure table's rule)."""
        return self._conn._hv.domain_get_xml_desc(self._ident, flags)

    def os_type(self) -> str:
        """virDomainGetOSType ("hvm", "linux", ...)."""
        return self._conn._hv.domain_get_os_type(self._ident)

    def max_memory(self) -> int:
        """virDomainGetMaxMemory, KiB."""
        return self._conn._hv.domain_get_max_memory(self._ident)

    def set_max_memory(self, kib: int) -> None:
        """virDomainSetMaxMemory."""
        self._conn._check_write("virDomainSetMaxMemory", _D)
        self._conn._hv.domain_set_max_memory(self._ident, kib)

    def set_memory(self, kib: int, flags: int = 0) -> None:
        """virDomainSetMemoryFlags (flags: DomainMemoryModFlags)."""
        self._conn._check_write("virDomainSetMemoryFlags" if flags else "virDomainSetMemory", _D)
        self._conn._hv.domain_set_memory_flags(self._ident, kib, flags)

    def max_vcpus(self) -> int:
        """virDomainGetMaxVcpus."""
        return self._conn._hv.domain_get_max_vcpus(self._ident)

    def vcpus_count(self, flags: int = 0) -> int:
        """virDomainGetVcpusFlags (flags: DomainVcpuFlags; GUEST is refused on read-only
        connections, by the procedure table's rule)."""
        return self._conn._hv.domain_get_vcpus_flags(self._ident, flags)

    def set_vcpus(self, n: int, flags: int = 0) -> None:
        """virDomainSetVcpusFlags (flags: DomainVcpuFlags)."""
        self._conn._check_write("virDomainSetVcpusFlags" if flags else "virDomainSetVcpus", _D)
        self._conn._hv.domain_set_vcpus_flags(self._ident, n, flags)

    def vcpus(self) -> tuple[list[VcpuInfo], list[list[bool]]]:
        """virDomainGetVcpus: (per-vCPU info, per-vCPU host CPU affinity, one bool per
        host CPU as libvirt-python's vcpus)."""
        infos, maps = self._conn._hv.domain_get_vcpus(self._ident)
        ncpus = self._host_cpus()
        return infos, [[i < len(m) and m[i] for i in range(ncpus)] for m in maps]

    def pin_vcpu(self, vcpu: int, cpumap: list[bool], flags: int = 0) -> None:
        """virDomainPinVcpuFlags (``cpumap`` beyond the host's CPUs is ignored)."""
        self._conn._check_write("virDomainPinVcpuFlags" if flags else "virDomainPinVcpu", _D)
        cpumap = list(cpumap)[: self._host_cpus()]
        self._conn._hv.domain_pin_vcpu_flags(self._ident, vcpu, cpumap, flags)

    def is_active(self) -> bool:
        """virDomainIsActive."""
        return self._conn._hv.domain_is_active(self._ident)

    def is_persistent(self) -> bool:
        """virDomainIsPersistent."""
        return self._conn._hv.domain_is_persistent(self._ident)

    def is_updated(self) -> bool:
        """virDomainIsUpdated."""
        return self._conn._hv.domain_is_updated(self._ident)

    def messages(self, flags: int = 0) -> list[str]:
        """virDomainGetMessages (flags: DomainMessageType; 0: every kind)."""
        return list(self._conn._hv.domain_get_messages(self._ident, flags))

    @property
    def autostart(self) -> bool:
        """Whether the domain starts with the host (Get/SetAutostart)."""
        return self._conn._hv.domain_get_autostart(self._ident)

    @autostart.setter
    def autostart(self, value: bool) -> None:
        self._conn._check_write("virDomainSetAutostart", _D)
        self._conn._hv.domain_set_autostart(self._ident, bool(value))

    # ------------------------------------------------------------ life cycle

    def start(self, flags: int = 0) -> None:
        """virDomainCreateWithFlags (flags: DomainCreateFlags); refreshes ``id``."""
        conn = self._conn
        conn._check_write("virDomainCreateWithFlags" if flags else "virDomainCreate", _D)
        ident = conn._hv.domain_create(self._ident, flags)
        if isinstance(ident, DomainIdent):
            self._ident = ident
        else:
            self.refresh()

    def shutdown(self, flags: int = 0) -> None:
        """virDomainShutdownFlags (flags: DomainShutdownFlags)."""
        self._conn._check_write("virDomainShutdownFlags" if flags else "virDomainShutdown", _D)
        self._conn._hv.domain_shutdown(self._ident, flags)

    def reboot(self, flags: int = 0) -> None:
        """virDomainReboot (flags: DomainRebootFlags)."""
        self._conn._check_write("virDomainReboot", _D)
        self._conn._hv.domain_reboot(self._ident, flags)

    def reset(self) -> None:
        """virDomainReset."""
        self._conn._check_write("virDomainReset", _D)
        self._conn._hv.domain_reset(self._ident, 0)

    def screenshot(self, screen: int = 0, flags: int = 0) -> tuple[str | None, DataStream]:
        """virDomainScreenshot: the image's MIME type and a stream of its bytes.

        Read it with :func:`virtkit.streams.recv_all` (or ``recv()`` until
        ``b""``, then ``finish()``)."""
        self._conn._check_write("virDomainScreenshot", _D)
        return self._conn._hv.domain_screenshot(self._ident, screen, flags)

    def interface_addresses(self, source: int = 0, flags: int = 0) -> list[DomainInterface]:
        """virDomainInterfaceAddresses (source: 0 DHCP leases, 1 guest agent, 2 ARP table)."""
        return self._conn._hv.domain_interface_addresses(self._ident, source, flags)

    def open_console(self, dev_name: str | None = None, flags: int = 0) -> DataStream:
        """virDomainOpenConsole: a two-way stream to the guest's console (serial port).

        ``recv()`` returns guest output, ``send()`` types into it, ``abort()``
        lets go of it."""
        self._conn._check_write("virDomainOpenConsole", _D)
        return self._conn._hv.domain_open_console(self._ident, dev_name, flags)

    def open_graphics(self, idx: int, fd: int, flags: int = 0) -> None:
        """virDomainOpenGraphics: connect display ``idx`` to the caller's socket ``fd``
        (flags: DomainOpenGraphicsFlags); the caller keeps ``fd``."""
        try:
            is_socket = stat.S_ISSOCK(os.fstat(fd).st_mode)
        except OSError as e:  # libvirt-domain.c checks before anything else
            raise make_error(ErrorCode.SYSTEM_ERROR, _D,
                             f"Unable to access file descriptor {fd}: {e.strerror}") from None
        if not is_socket:
            raise invalid_arg(f"fd {fd} must be a socket", _D)
        self._conn._check_write("virDomainOpenGraphics", _D)
        self._conn._hv.domain_open_graphics(self._ident, idx, fd, flags)

    def open_graphics_fd(self, idx: int = 0, flags: int = 0) -> int:
        """virDomainOpenGraphicsFD: a new socket connected to display ``idx`` (the
        caller's to close; flags: DomainOpenGraphicsFlags)."""
        self._conn._check_write("virDomainOpenGraphicsFD", _D)
        fd: int = self._conn._hv.domain_open_graphics_fd(
            self._ident, idx, flags)
        return fd

    def fd_associate(self, name: str, fds: Sequence[int], flags: int = 0) -> None:
        """virDomainFDAssociate: hand ``fds`` to the driver as group ``name`` (the caller
        keeps them; flags: DomainFDAssociateFlags)."""
        self._conn._check_write("virDomainFDAssociate", _D)
        self._conn._hv.domain_fd_associate(
            self._ident, name, list(fds), flags)

    def open_channel(self, name: str | None = None, flags: int = 0) -> DataStream:
        """virDomainOpenChannel: a two-way stream to channel ``name`` (its alias or
        virtio target name; None: the first)."""
        self._conn._check_write("virDomainOpenChannel", _D)
        stream: DataStream = self._conn._hv.domain_open_channel(
            self._ident, name, flags)
        return stream

    def create_with_files(self, files: Sequence[int], flags: int = 0) -> None:
        """virDomainCreateWithFiles: start the domain, passing ``files`` to it."""
        self._conn._check_write("virDomainCreateWithFiles", _D)
        ident = self._conn._hv.domain_create_with_files(
            self._ident, list(files), flags)
        if isinstance(ident, DomainIdent):
            self._ident = ident

    def destroy(self, flags: int = 0) -> None:
        """virDomainDestroyFlags (flags: DomainDestroyFlags); ``id`` becomes -1."""
        self._conn._check_write("virDomainDestroyFlags" if flags else "virDomainDestroy", _D)
        self._conn._hv.domain_destroy(self._ident, flags)
        self._ident = self._ident._replace(id=-1)

    def suspend(self) -> None:
        """virDomainSuspend."""
        self._conn._check_write("virDomainSuspend", _D)
        self._conn._hv.domain_suspend(self._ident)

    def resume(self) -> None:
        """virDomainResume."""
        self._conn._check_write("virDomainResume", _D)
        self._conn._hv.domain_resume(self._ident)

    def undefine(self, flags: int = 0) -> None:
        """virDomainUndefineFlags (flags: DomainUndefineFlags)."""
        self._conn._check_write("virDomainUndefineFlags" if flags else "virDomainUndefine", _D)
        self._conn._hv.domain_undefine(self._ident, flags)

    def save(self, path: str, dxml: str | None = None, flags: int = 0) -> None:
        """virDomainSaveFlags: save the running state to ``path`` and stop the domain."""
        fn = "virDomainSaveFlags" if flags or dxml is not None else "virDomainSave"
        self._conn._check_write(fn, _D)
        self._conn._hv.domain_save(self._ident, path, dxml, flags)
        self._ident = self._ident._replace(id=-1)

    def managed_save(self, flags: int = 0) -> None:
        """virDomainManagedSave."""
        self._conn._check_write("virDomainManagedSave", _D)
        self._conn._hv.domain_managed_save(self._ident, flags)
        self._ident = self._ident._replace(id=-1)

    def has_managed_save(self) -> bool:
        """virDomainHasManagedSaveImage."""
        return self._conn._hv.domain_has_managed_save_image(self._ident, 0)

    def managed_save_remove(self) -> None:
        """virDomainManagedSaveRemove."""
        self._conn._check_write("virDomainManagedSaveRemove", _D)
        self._conn._hv.domain_managed_save_remove(self._ident, 0)

    # ------------------------------------------------------------ jobs

    def job_info(self) -> DomainJobInfo:
        """virDomainGetJobInfo: the running async job's type and progress."""
        return self._conn._hv.domain_get_job_info(self._ident)

    def job_stats(self, flags: int = 0) -> tuple[int, TypedParams]:
        """virDomainGetJobStats: (virDomainJobType, VIR_DOMAIN_JOB_* statistics); flags
        COMPLETED (the last completed job's) and KEEP_COMPLETED."""
        return self._conn._hv.domain_get_job_stats(self._ident, flags)

    def abort_job(self, flags: int = 0) -> None:
        """virDomainAbortJob, or virDomainAbortJobFlags when ``flags`` (POSTCOPY)."""
        if flags:
            self._conn._check_write("virDomainAbortJobFlags", _D)
            self._conn._hv.domain_abort_job_flags(self._ident, flags)
        else:
            self._conn._check_write("virDomainAbortJob", _D)
            self._conn._hv.domain_abort_job(self._ident)

    # ------------------------------------------------------------ migration

    def migrate(self, dest: Connection, flags: int = 0,
                params: TypedParams | None = None) -> Domain:
        """virDomainMigrate3 in managed direct mode: this client drives Begin, Prepare,
        Perform, Finish and Confirm on the two connections (VIR_MIGRATE_* ``flags``,
        VIR_MIGRATE_PARAM_* ``params``); the migrated domain on ``dest``. With
        PEER2PEER the source daemon drives it (:meth:`migrate_to_uri3` to ``dest``'s URI)."""
        from virtkit.constants import DomainMigrateFlags
        from virtkit.drivers.migrate3 import migrate_v3

        self._conn._check_write("virDomainMigrate3", _D)
        dest._check_write("virDomainMigrate3", _D)
        if flags & DomainMigrateFlags.PEER2PEER:
            self.migrate_to_uri3(dest.uri, flags, params)
            return dest.lookup_domain_by_uuid(self.uuid)
        ident = migrate_v3(self._conn._hv, self._ident, dest._hv, params or {}, flags)
        return dest._domain(ident)

    def migrate_to_uri3(self, dconnuri: str, flags: int = 0,
                        params: TypedParams | None = None) -> None:
        """virDomainMigrateToURI3 with PEER2PEER: the source's daemon opens ``dconnuri``
        and runs the whole migration (Perform3Params with a destination URI)."""
        from virtkit.constants import DomainMigrateFlags

        self._conn._check_write("virDomainMigrateToURI3", _D)
        if not flags & DomainMigrateFlags.PEER2PEER:
            raise make_error(ErrorCode.ARGUMENT_UNSUPPORTED, _D,
                             "direct migration is not supported by the connection driver")
        self._conn._hv.domain_migrate_perform3_params(self._ident, dconnuri, params or {},
                                                      b"", flags)

    def migrate_check(self, dest: Connection, flags: int = 0,
                      params: TypedParams | None = None) -> list[MigrationBlocker]:
        """The migration pre-check (``virtkit migrate --dry-run``): every reason
        :meth:`migrate` to ``dest`` with these ``flags`` and ``params`` would fail, found
        on both sides at once, nothing moved or changed (see virtkit.migration_check)."""
        from virtkit.migration_check import check_migration

        return check_migration(self, dest, flags, params)

    def migrate_max_downtime(self) -> int:
        """virDomainMigrateGetMaxDowntime (ms)."""
        return self._conn._hv.domain_migrate_get_max_downtime(self._ident, 0)

    def migrate_set_max_downtime(self, downtime_ms: int) -> None:
        """virDomainMigrateSetMaxDowntime (ms)."""
        self._conn._check_write("virDomainMigrateSetMaxDowntime", _D)
        self._conn._hv.domain_migrate_set_max_downtime(self._ident, downtime_ms, 0)

    def migrate_max_speed(self, flags: int = 0) -> int:
        """virDomainMigrateGetMaxSpeed (MiB/s)."""
        return self._conn._hv.domain_migrate_get_max_speed(self._ident, flags)

    def migrate_set_max_speed(self, bandwidth_mib: int, flags: int = 0) -> None:
        """virDomainMigrateSetMaxSpeed (MiB/s)."""
        self._conn._check_write("virDomainMigrateSetMaxSpeed", _D)
        self._conn._hv.domain_migrate_set_max_speed(self._ident, bandwidth_mib, flags)

    def migrate_compression_cache(self) -> int:
        """virDomainMigrateGetCompressionCache (bytes)."""
        return self._conn._hv.domain_migrate_get_compression_cache(self._ident, 0)

    def migrate_set_compression_cache(self, cache_size: int) -> None:
        """virDomainMigrateSetCompressionCache (bytes)."""
        self._conn._check_write("virDomainMigrateSetCompressionCache", _D)
        self._conn._hv.domain_migrate_set_compression_cache(self._ident, cache_size, 0)

    def migrate_start_post_copy(self, flags: int = 0) -> None:
        """virDomainMigrateStartPostCopy: switch the running migration to post-copy."""
        self._conn._check_write("virDomainMigrateStartPostCopy", _D)
        self._conn._hv.domain_migrate_start_post_copy(self._ident, flags)

    def rename(self, new_name: str) -> None:
        """virDomainRename (an inactive, persistent domain)."""
        self._conn._check_write("virDomainRename", _D)
        ident = self._conn._hv.domain_rename(self._ident, new_name, 0)
        self._ident = ident if isinstance(ident, DomainIdent) else self._ident._replace(
            name=new_name
        )

    # ------------------------------------------------------------ metadata, security

    def metadata(self, type: int, uri: str | None = None, flags: int = 0) -> str:
        """virDomainGetMetadata (type: DomainMetadataType, flags: DomainModificationImpact)."""
        return self._conn._hv.domain_get_metadata(self._ident, type, uri, flags)

    def set_metadata(
        self,
        type: int,
        metadata: str | None,
        key: str | None = None,
        uri: str | None = None,
        flags: int = 0,
    ) -> None:
        """virDomainSetMetadata; ``metadata=None`` removes it."""
        self._conn._check_write("virDomainSetMetadata", _D)
        self._conn._hv.domain_set_metadata(self._ident, type, metadata, key, uri, flags)

    def security_label(self) -> SecurityLabel:
        """virDomainGetSecurityLabel."""
        return self._conn._hv.domain_get_security_label(self._ident)

    # ------------------------------------------------------------ statistics

    def stats(self, stats: int = 0, flags: int = 0) -> TypedParams:
        """This domain's record of virConnectGetAllDomainStats (stats: DomainStatsTypes)."""
        records = self._conn._hv.connect_get_all_domain_stats([self._ident], stats, flags)
        return records[0].params if records else {}

    def block_stats(self, path: str) -> DomainBlockStats:
        """virDomainBlockStats for a disk target ("vda") or source path."""
        return self._conn._hv.domain_block_stats(self._ident, path)

    def block_stats_flags(self, path: str, flags: int = 0) -> TypedParams:
        """virDomainBlockStatsFlags: every statistic the driver has ("rd_operations" ...)."""
        return self._conn._hv.domain_block_stats_flags(self._ident, path, flags)

    def interface_stats(self, dev: str) -> DomainInterfaceStats:
        """virDomainInterfaceStats for an interface target or MAC."""
        return self._conn._hv.domain_interface_stats(self._ident, dev)

    def memory_stats(self) -> dict[str, int]:
        """virDomainMemoryStats, keyed as libvirt-python keys it ("actual", "rss", ...)."""
        raw = self._conn._hv.domain_memory_stats(self._ident, 0)
        names = _MEMORY_STAT_NAMES
        return {names[t] if 0 <= t < len(names) else str(t): v for t, v in raw.items()}

    def set_memory_stats_period(self, period: int, flags: int = 0) -> None:
        """virDomainSetMemoryStatsPeriod: the balloon's collection period, in seconds."""
        self._conn._check_write("virDomainSetMemoryStatsPeriod", _D)
        self._conn._hv.domain_set_memory_stats_period(self._ident, period, flags)

    def block_info(self, path: str) -> DomainBlockInfo:
        """virDomainGetBlockInfo."""
        return self._conn._hv.domain_get_block_info(self._ident, path, 0)

    def scheduler_type(self) -> tuple[str, int]:
        """virDomainGetSchedulerType: (scheduler name, number of parameters)."""
        return self._conn._hv.domain_get_scheduler_type(self._ident)

    def scheduler_parameters(self, flags: int = 0) -> TypedParams:
        """virDomainGetSchedulerParametersFlags."""
        return self._conn._hv.domain_get_scheduler_parameters(self._ident, flags)

    def set_scheduler_parameters(self, params: TypedParams, flags: int = 0) -> None:
        """virDomainSetSchedulerParametersFlags."""
        fn = "virDomainSetSchedulerParametersFlags" if flags else "virDomainSetSchedulerParameters"
        self._conn._check_write(fn, _D)
        self._conn._hv.domain_set_scheduler_parameters(self._ident, params, flags)

    # ------------------------------------------------------------ devices

    def attach_device(self, xml: str, flags: int = 0, *, flags_api: bool = False) -> None:
        """virDomainAttachDeviceFlags (flags: DomainDeviceModifyFlags).

        With ``flags`` 0 this is virDomainAttachDevice, unless ``flags_api`` asks for the
        Flags entry point (which names itself in a "not supported" error)."""
        legacy = not flags and not flags_api
        fn = "virDomainAttachDevice" if legacy else "virDomainAttachDeviceFlags"
        self._conn._check_write(fn, _D)
        try:
            self._conn._hv.domain_attach_device_flags(self._ident, xml, flags)
        except NoSupportError:
            if not legacy:
                raise
            raise no_support(fn) from None

    def detach_device(self, xml: str, flags: int = 0, *, flags_api: bool = False) -> None:
        """virDomainDetachDeviceFlags (flags: DomainDeviceModifyFlags); see attach_device."""
        legacy = not flags and not flags_api
        fn = "virDomainDetachDevice" if legacy else "virDomainDetachDeviceFlags"
        self._conn._check_write(fn, _D)
        try:
            self._conn._hv.domain_detach_device_flags(self._ident, xml, flags)
        except NoSupportError:
            if not legacy:
                raise
            raise no_support(fn) from None

    def detach_device_alias(self, alias: str, flags: int = 0) -> None:
        """virDomainDetachDeviceAlias (flags: DomainDeviceModifyFlags)."""
        self._conn._check_write("virDomainDetachDeviceAlias", _D)
        self._conn._hv.domain_detach_device_alias(self._ident, alias, flags)

    def update_device(self, xml: str, flags: int = 0) -> None:
        """virDomainUpdateDeviceFlags (flags: DomainDeviceModifyFlags)."""
        self._conn._check_write("virDomainUpdateDeviceFlags", _D)
        self._conn._hv.domain_update_device_flags(self._ident, xml, flags)

    # ------------------------------------------------------------ snapshots

    def create_snapshot(self, xml: str, flags: int = 0) -> Snapshot:
        """virDomainSnapshotCreateXML (flags: DomainSnapshotCreateFlags)."""
        self._conn._check_write("virDomainSnapshotCreateXML", _S)
        snap = self._conn._hv.domain_snapshot_create_xml(self._ident, xml, flags)
        return Snapshot(self._conn, snap)

    def list_snapshots(self, flags: int = 0) -> list[Snapshot]:
        """virDomainListAllSnapshots (flags: DomainSnapshotListFlags)."""
        conn = self._conn
        return [Snapshot(conn, s) for s in conn._hv.domain_list_all_snapshots(self._ident, flags)]

    def lookup_snapshot(self, name: str) -> Snapshot:
        """virDomainSnapshotLookupByName."""
        return Snapshot(
            self._conn, self._conn._hv.domain_snapshot_lookup_by_name(self._ident, name, 0)
        )

    def has_current_snapshot(self) -> bool:
        """virDomainHasCurrentSnapshot."""
        return self._conn._hv.domain_has_current_snapshot(self._ident, 0)

    def current_snapshot(self) -> Snapshot:
        """virDomainSnapshotCurrent."""
        return Snapshot(self._conn, self._conn._hv.domain_snapshot_current(self._ident, 0))

    def revert_to_snapshot(self, snap: Snapshot, flags: int = 0) -> None:
        """virDomainRevertToSnapshot (flags: DomainSnapshotRevertFlags); refreshes ``id``."""
        snap.revert(flags)
        self.refresh()

    def snapshot_count(self, flags: int = 0) -> int:
        """virDomainSnapshotNum (flags: DomainSnapshotListFlags)."""
        return self._conn._hv.domain_snapshot_num(self._ident, flags)

    # ------------------------------------------------------------ tuning
    # Typed-parameter getters ask with VIR_TYPED_PARAM_STRING_OKAY, as libvirt's
    # public API does; setters refuse an empty parameter list before the driver.

    def _tuning_params(self, params: TypedParams, api: str) -> None:
        self._conn._check_write(api, _D)
        if not params:
            raise invalid_arg(f"nparams in {api} must be greater than zero", _D)

    def iothread_info(self, flags: int = 0) -> list[tuple[int, list[bool]]]:
        """virDomainGetIOThreadInfo (flags: DomainModificationImpact): [(id, cpumap)],
        each cpumap one bool per host CPU, as libvirt-python's ioThreadInfo."""
        info = self._conn._hv.domain_get_iothread_info(self._ident, flags)
        ncpus = self._conn._hv.node_get_cpu_map(0)[0]
        return [(tid, [i < len(m) and m[i] for i in range(ncpus)]) for tid, m in info]

    def pin_iothread(self, iothread_id: int, cpumap: list[bool], flags: int = 0) -> None:
        """virDomainPinIOThread: run IOThread ``iothread_id`` on the host CPUs set in ``cpumap``."""
        self._conn._check_write("virDomainPinIOThread", _D)
        self._conn._hv.domain_pin_iothread(self._ident, iothread_id, list(cpumap), flags)

    def add_iothread(self, iothread_id: int, flags: int = 0) -> None:
        """virDomainAddIOThread (flags: DomainModificationImpact)."""
        self._conn._check_write("virDomainAddIOThread", _D)
        self._conn._hv.domain_add_iothread(self._ident, iothread_id, flags)

    def del_iothread(self, iothread_id: int, flags: int = 0) -> None:
        """virDomainDelIOThread (flags: DomainModificationImpact)."""
        self._conn._check_write("virDomainDelIOThread", _D)
        if iothread_id == 0:
            raise invalid_arg("iothread_id in virDomainDelIOThread must not be zero", _D)
        self._conn._hv.domain_del_iothread(self._ident, iothread_id, flags)

    def set_iothread_params(self, iothread_id: int, params: TypedParams, flags: int = 0) -> None:
        """virDomainSetIOThreadParams: ``poll_max_ns``, ``poll_grow``, ``poll_shrink``."""
        self._tuning_params(params, "virDomainSetIOThreadParams")
        self._conn._hv.domain_set_iothread_params(self._ident, iothread_id, params, flags)

    def blkio_parameters(self, flags: int = 0) -> TypedParams:
        """virDomainGetBlkioParameters: ``weight`` and the ``device_*`` lists."""
        return self._conn._hv.domain_get_blkio_parameters(self._ident, flags | _STRING_OKAY)

    def set_blkio_parameters(self, params: TypedParams, flags: int = 0) -> None:
        """virDomainSetBlkioParameters (``device_*`` values: ``path,value[,path,value...]``)."""
        self._conn._check_write("virDomainSetBlkioParameters", _D)
        self._conn._hv.domain_set_blkio_parameters(self._ident, params, flags)

    def numa_parameters(self, flags: int = 0) -> TypedParams:
        """virDomainGetNumaParameters: ``numa_mode`` (DomainNumatuneMemMode), ``numa_nodeset``."""
        return self._conn._hv.domain_get_numa_parameters(self._ident, flags | _STRING_OKAY)

    def set_numa_parameters(self, params: TypedParams, flags: int = 0) -> None:
        """virDomainSetNumaParameters."""
        self._tuning_params(params, "virDomainSetNumaParameters")
        self._conn._hv.domain_set_numa_parameters(self._ident, params, flags)

    def memory_parameters(self, flags: int = 0) -> TypedParams:
        """virDomainGetMemoryParameters: ``hard_limit``, ``soft_limit``, ``swap_hard_limit``
        (KiB; 9007199254740991 is unlimited)."""
        return self._conn._hv.domain_get_memory_parameters(self._ident, flags | _STRING_OKAY)

    def set_memory_parameters(self, params: TypedParams, flags: int = 0) -> None:
        """virDomainSetMemoryParameters."""
        self._tuning_params(params, "virDomainSetMemoryParameters")
        self._conn._hv.domain_set_memory_parameters(self._ident, params, flags)

    def perf_events(self, flags: int = 0) -> TypedParams:
        """virDomainGetPerfEvents: {event name: enabled}."""
        return self._conn._hv.domain_get_perf_events(self._ident, flags)

    def set_perf_events(self, params: TypedParams, flags: int = 0) -> None:
        """virDomainSetPerfEvents: {event name: enabled}."""
        self._conn._check_write("virDomainSetPerfEvents", _D)
        self._conn._hv.domain_set_perf_events(self._ident, params, flags)

    def launch_security_info(self, flags: int = 0) -> TypedParams:
        """virDomainGetLaunchSecurityInfo."""
        return self._conn._hv.domain_get_launch_security_info(self._ident, flags | _STRING_OKAY)

    # ------------------------------------------------------------ pinning
    # Affinities are lists of booleans, one per host CPU (virNodeGetCPUMap's count),
    # as libvirt-python's vcpuPinInfo / emulatorPinInfo return them.

    def _host_cpus(self) -> int:
        return self._conn._hv.node_get_cpu_map(0)[0]

    def vcpu_pin_info(self, flags: int = 0, ncpumaps: int | None = None) -> list[list[bool]]:
        """virDomainGetVcpuPinInfo (flags: DomainModificationImpact): one affinity per vCPU,
        for at most ``ncpumaps`` vCPUs (default: the running vCPU count, as libvirt-python)."""
        if ncpumaps is None:
            ncpumaps = self.info().nr_virt_cpu
        if ncpumaps <= 0:
            raise invalid_arg("ncpumaps in virDomainGetVcpuPinInfo must be greater than zero", _D)
        _exclusive_impact(flags)
        ncpus = self._host_cpus()
        maps = self._conn._hv.domain_get_vcpu_pin_info(self._ident, ncpumaps, flags)
        return [[i < len(m) and m[i] for i in range(ncpus)] for m in maps]

    def pin_emulator(self, cpumap: list[bool], flags: int = 0) -> None:
        """virDomainPinEmulator: run the emulator threads on the host CPUs set in ``cpumap``."""
        self._conn._check_write("virDomainPinEmulator", _D)
        cpumap = list(cpumap)[: self._host_cpus()]
        self._conn._hv.domain_pin_emulator(self._ident, cpumap, flags)

    def emulator_pin_info(self, flags: int = 0) -> list[bool]:
        """virDomainGetEmulatorPinInfo (flags: DomainModificationImpact)."""
        _exclusive_impact(flags)
        ncpus = self._host_cpus()
        cpumap = self._conn._hv.domain_get_emulator_pin_info(self._ident, flags)
        return [i < len(cpumap) and cpumap[i] for i in range(ncpus)]

    # ------------------------------------------------------------ device tuning

    def interface_parameters(self, device: str, flags: int = 0) -> TypedParams:
        """virDomainGetInterfaceParameters: ``inbound.average`` ... ``outbound.burst``
        for the interface with that target name or MAC address."""
        return self._conn._hv.domain_get_interface_parameters(self._ident, device,
                                                              flags | _STRING_OKAY)

    def set_interface_parameters(self, device: str, params: TypedParams, flags: int = 0) -> None:
        """virDomainSetInterfaceParameters (an average or floor of 0 removes that direction)."""
        self._tuning_params(params, "virDomainSetInterfaceParameters")
        self._conn._hv.domain_set_interface_parameters(self._ident, device, params, flags)

    def block_io_tune(self, disk: str, flags: int = 0) -> TypedParams:
        """virDomainGetBlockIoTune: ``total_bytes_sec`` ... ``group_name`` for a disk
        (target name or source path)."""
        _exclusive_impact(flags)
        return self._conn._hv.domain_get_block_io_tune(self._ident, disk, flags | _STRING_OKAY)

    def set_block_io_tune(self, disk: str, params: TypedParams, flags: int = 0) -> None:
        """virDomainSetBlockIoTune."""
        self._tuning_params(params, "virDomainSetBlockIoTune")
        self._conn._hv.domain_set_block_io_tune(self._ident, disk, params, flags)

    # ------------------------------------------------------------ guest statistics and agent

    def cpu_stats(self, total: bool, flags: int = 0) -> list[TypedParams]:
        """virDomainGetCPUStats as libvirt-python's getCPUStats: ``[totals]`` when ``total``,
        else one dict per host CPU (``cpu_time``, ``vcpu_time``)."""
        hv, ident = self._conn._hv, self._ident
        flags |= _STRING_OKAY
        if total:
            nparams = hv.domain_get_cpu_stats(ident, 0, -1, 1, flags)[0]
            return hv.domain_get_cpu_stats(ident, nparams, -1, 1, flags)[1][:1]
        ncpus = hv.domain_get_cpu_stats(ident, 0, 0, 0, flags)[0]
        nparams = hv.domain_get_cpu_stats(ident, 0, 0, 1, flags)[0]
        out: list[TypedParams] = []
        start = 0
        while ncpus > 0:
            chunk = min(ncpus, 128)  # libvirt-python's per-call limit
            got = hv.domain_get_cpu_stats(ident, nparams, start, chunk, flags)[1]
            out.extend(got + [{}] * (chunk - len(got)))
            ncpus -= chunk
            start += chunk
        return out

    def get_cpu_stats(
        self, start_cpu: int, ncpus: int, nparams: int, flags: int = 0
    ) -> tuple[int, list[TypedParams]]:
        """virDomainGetCPUStats as C has it: with ``nparams`` 0 the value is the number of
        parameters (or, with ``ncpus`` 0 too, of host CPUs); else (parameters per CPU,
        one dict per CPU from ``start_cpu``; -1 and ``ncpus`` 1 for the domain's totals)."""
        if start_cpu == -1:
            if ncpus != 1:
                raise invalid_arg("ncpus must be 1 when start_cpu is -1", _D)
        elif start_cpu < 0:
            raise invalid_arg("start_cpu in virDomainGetCPUStats must be zero or greater", _D)
        return self._conn._hv.domain_get_cpu_stats(self._ident, nparams, start_cpu, ncpus,
                                                   flags | _STRING_OKAY)

    def disk_errors(self, flags: int = 0) -> dict[str, int]:
        """virDomainGetDiskErrors: {disk target: DomainDiskErrorCode}."""
        return dict(self._conn._hv.domain_get_disk_errors(self._ident, flags))

    def fs_freeze(self, mountpoints: list[str] | None = None, flags: int = 0) -> int:
        """virDomainFSFreeze: the number of file systems frozen (all when none named)."""
        self._conn._check_write("virDomainFSFreeze", _D)
        return self._conn._hv.domain_fsfreeze(self._ident, list(mountpoints or ()), flags)

    def fs_thaw(self, mountpoints: list[str] | None = None, flags: int = 0) -> int:
        """virDomainFSThaw: the number of file systems thawed."""
        self._conn._check_write("virDomainFSThaw", _D)
        return self._conn._hv.domain_fsthaw(self._ident, list(mountpoints or ()), flags)

    def fs_trim(self, mount_point: str | None = None, minimum: int = 0, flags: int = 0) -> None:
        """virDomainFSTrim."""
        self._conn._check_write("virDomainFSTrim", _D)
        self._conn._hv.domain_fstrim(self._ident, mount_point, minimum, flags)

    def fs_info(self, flags: int = 0) -> list[tuple[str, str, str, list[str]]]:
        """virDomainGetFSInfo: [(mount point, name, type, [device aliases])]."""
        self._conn._check_write("virDomainGetFSInfo", _D)
        return self._conn._hv.domain_get_fsinfo(self._ident, flags)

    def get_time(self, flags: int = 0) -> tuple[int, int]:
        """virDomainGetTime: (seconds, nanoseconds) of the guest's clock."""
        return self._conn._hv.domain_get_time(self._ident, flags)

    def set_time(self, seconds: int, nseconds: int = 0, flags: int = 0) -> None:
        """virDomainSetTime (flags: DomainSetTimeFlags SYNC)."""
        self._conn._check_write("virDomainSetTime", _D)
        self._conn._hv.domain_set_time(self._ident, seconds, nseconds, flags)

    def set_user_password(self, user: str, password: str, flags: int = 0) -> None:
        """virDomainSetUserPassword (flags: DomainSetUserPasswordFlags ENCRYPTED)."""
        self._conn._check_write("virDomainSetUserPassword", _D)
        self._conn._hv.domain_set_user_password(self._ident, user, password, flags)

    def send_process_signal(self, pid: int, signum: int, flags: int = 0) -> None:
        """virDomainSendProcessSignal (signum: DomainProcessSignal)."""
        if pid == 0:
            raise invalid_arg("pid_value in virDomainSendProcessSignal must not be zero", _D)
        self._conn._check_write("virDomainSendProcessSignal", _D)
        self._conn._hv.domain_send_process_signal(self._ident, pid, signum, flags)

    def memory_peek(self, start: int, size: int, flags: int = 0) -> bytes:
        """virDomainMemoryPeek (flags: MemoryFlags VIRTUAL or PHYSICAL)."""
        self._conn._check_write("virDomainMemoryPeek", _D)
        if flags & 1 and flags & 2:
            raise invalid_arg("Flags 'VIR_MEMORY_VIRTUAL' and 'VIR_MEMORY_PHYSICAL' are "
                              "mutually exclusive", _D)
        return self._conn._hv.domain_memory_peek(self._ident, start, size, flags)

    def set_lifecycle_action(self, type: int, action: int, flags: int = 0) -> None:
        """virDomainSetLifecycleAction (type: DomainLifecycle, action: DomainLifecycleAction)."""
        self._conn._check_write("virDomainSetLifecycleAction", _D)
        if type >= 3:
            raise make_error(ErrorCode.INVALID_ARG, _D, f"invalid lifecycle type '{type}'")
        if action >= 6:
            raise make_error(ErrorCode.INVALID_ARG, _D, f"invalid lifecycle action '{action}'")
        self._conn._hv.domain_set_lifecycle_action(self._ident, type, action, flags)


def _exclusive_impact(flags: int) -> None:
    """VIR_EXCLUSIVE_FLAGS(VIR_DOMAIN_AFFECT_LIVE, VIR_DOMAIN_AFFECT_CONFIG)."""
    if flags & 1 and flags & 2:
        raise invalid_arg("Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are "
                          "mutually exclusive", _D)
