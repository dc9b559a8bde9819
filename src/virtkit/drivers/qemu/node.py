"""The QEMU driver's node: its domains, their QEMU processes and their life cycle.

One :class:`QemuNode` exists per root in a process and is shared by every
connection to it (virtkitd's ``qemu:///system``, or each
``qemu:///embed?root=DIR``). It owns the domain objects, writes their
persistent config and live status atomically, starts QEMU (always paused,
``-S``, then ``cont`` once set up, as libvirt does), turns QMP events and
process exits into libvirt's states, reasons and lifecycle events, and on
open re-attaches to the QEMUs a previous daemon (or CLI call) left running.
Guests are never killed because the process that started them went away.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from virtkit.conf.chr_inactive import drop_live_chr_details
from virtkit.conf.domain import DomainDef
from virtkit.constants import (
    DomainEventID,
    DomainEventResumedDetailType,
    DomainEventStartedDetailType,
    DomainEventStoppedDetailType,
    DomainEventSuspendedDetailType,
    DomainJobOperation,
    DomainPausedReason,
    DomainRunningReason,
    DomainShutoffReason,
)
from virtkit.drivers import domain_nwfilter, domainobj
from virtkit.drivers.domainjob import AsyncJob, Job
from virtkit.drivers.domainobj import (
    CRASHED,
    CRASHED_EVENT_PANICKED,
    CRASHED_PANICKED,
    DEFINED_ADDED,
    DEFINED_UPDATED,
    EV_CRASHED,
    EV_DEFINED,
    EV_RESUMED,
    EV_SHUTDOWN,
    EV_STARTED,
    EV_STOPPED,
    EV_SUSPENDED,
    EV_UNDEFINED,
    EVENT_ID_REBOOT,
    PAUSED,
    PAUSED_FROM_SNAPSHOT,
    PAUSED_SAVE,
    PAUSED_STARTING_UP,
    PAUSED_UNKNOWN,
    PAUSED_USER,
    PMSUSPENDED,
    RESUMED_FROM_SNAPSHOT,
    RESUMED_UNPAUSED,
    RUNNING_BOOTED,
    RUNNING_FROM_SNAPSHOT,
    RUNNING_RESTORED,
    RUNNING_UNPAUSED,
    SHUTDOWN,
    SHUTDOWN_FINISHED,
    SHUTDOWN_GUEST,
    SHUTDOWN_HOST,
    SHUTDOWN_UNKNOWN,
    SHUTOFF,
    SHUTOFF_CRASHED,
    SHUTOFF_DESTROYED,
    SHUTOFF_FAILED,
    SHUTOFF_SAVED,
    SHUTOFF_SHUTDOWN,
    SHUTOFF_UNKNOWN,
    STARTED_BOOTED,
    STARTED_FROM_SNAPSHOT,
    STARTED_RESTORED,
    STOPPED_CRASHED,
    STOPPED_DESTROYED,
    STOPPED_FAILED,
    STOPPED_FROM_SNAPSHOT,
    STOPPED_SAVED,
    STOPPED_SHUTDOWN,
    SUSPENDED_PAUSED,
    DomainList,
    DomainObjBase,
)
from virtkit.drivers.domainobj import RUNNING as RUNNING  # (read by other QEMU modules)
from virtkit.drivers.domainobj import SHUTOFF_FROM_SNAPSHOT as SHUTOFF_FROM_SNAPSHOT
from virtkit.drivers.eventbus import EventBus
from virtkit.drivers.links import (
    LeaseLookup,
    NetworkPorts,
    SecretValues,
    VolumeCreation,
    VolumeResolver,
)
from virtkit.drivers.noderegistry import NodeRegistry
from virtkit.drivers.persist import ConfigStore
from virtkit.drivers.qemu import (
    agent,
    chrstate,
    command,
    command_spice,
    diskfds,
    graphics_listen,
    listen_attr,
    migration_recovery,
    monitor,
    netif,
    process,
    recovery,
)
from virtkit.drivers.qemu.defs import (
    copy_def,
    drop_backing_chains,
    drop_generated_paths,
    format_def,
    parse_def,
)
from virtkit.drivers.qemu.fdgroups import FDGroups
from virtkit.drivers.qemu.paths import QemuPaths
from virtkit.drivers.qemu.saveimage import SaveImage, migrate_to_file, restore_from_file
from virtkit.drivers.qemu.status import DomainStatus, StatusStore
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error
from virtkit.types import DomainIdent

__all__ = ["QemuDomain", "QemuNode", "node_for"]

log = logging.getLogger("virtkit.drivers.qemu")

_Q = ErrorDomain.QEMU

# How long a wait for the state a QMP event sets may take (seconds), e.g. PAUSED after our
# ``stop``; read at each wait, so tests may shorten it.
STATE_WAIT_TIME = 5.0

# libvirt's state, reason and event numbers and their status-file names, kept once in
# drivers/domainobj.py; the short event-detail names are this module's.
_state_name = domainobj.state_names
_state_value = domainobj.state_values
DEF_ADDED, DEF_UPDATED = DEFINED_ADDED, DEFINED_UPDATED
START_BOOTED, START_RESTORED, START_FROM_SNAPSHOT = (STARTED_BOOTED, STARTED_RESTORED,
                                                      STARTED_FROM_SNAPSHOT)
SUSP_PAUSED, RES_UNPAUSED, RES_FROM_SNAPSHOT = (SUSPENDED_PAUSED, RESUMED_UNPAUSED,
                                                RESUMED_FROM_SNAPSHOT)
STOP_SHUTDOWN, STOP_DESTROYED, STOP_CRASHED = STOPPED_SHUTDOWN, STOPPED_DESTROYED, STOPPED_CRASHED
STOP_SAVED, STOP_FAILED, STOP_FROM_SNAPSHOT = STOPPED_SAVED, STOPPED_FAILED, STOPPED_FROM_SNAPSHOT
SHUT_FINISHED, SHUT_GUEST, SHUT_HOST = SHUTDOWN_FINISHED, SHUTDOWN_GUEST, SHUTDOWN_HOST
CRASH_PANICKED = CRASHED_EVENT_PANICKED
# migration's states and event details (drivers/qemu/migration.py)
_PAUSED_MIGRATION = int(DomainPausedReason.MIGRATION)
_SUSP_MIGRATED = int(DomainEventSuspendedDetailType.MIGRATED)
_SHUTOFF_MIGRATED = int(DomainShutoffReason.MIGRATED)
_STOP_MIGRATED = int(DomainEventStoppedDetailType.MIGRATED)
# qemuDomainRunningReasonToResumeEvent (others: UNPAUSED)
_RESUME_DETAIL = {RUNNING_FROM_SNAPSHOT: RES_FROM_SNAPSHOT, RUNNING_RESTORED: RES_FROM_SNAPSHOT,
                  int(DomainRunningReason.MIGRATED): int(DomainEventResumedDetailType.MIGRATED),
                  int(DomainRunningReason.MIGRATION_CANCELED):
                      int(DomainEventResumedDetailType.MIGRATED),
                  int(DomainRunningReason.POSTCOPY): int(DomainEventResumedDetailType.POSTCOPY)}


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _Q, detail)


class QemuDomain(DomainObjBase):
    """One domain: definitions, state and (while it runs) its QEMU and monitor.

    Name, uuid, id, state and reason, autostart, the snapshot tree, ``lock`` and
    ``job`` come from :class:`DomainObjBase`."""

    def __init__(self, name: str, uuid: str, persistent: DomainDef | None) -> None:
        super().__init__(name, uuid, ErrorDomain.QEMU)
        self.persistent = persistent
        self.live: DomainDef | None = None
        self.proc: Any = None
        self.mon: Any = None
        self.run_dir: str | None = None
        self.command: Any = None  # the command.Command it runs with (aliases, node names)
        # <disk type='volume'> sources as the storage driver translated them at start
        self.volumes: dict[tuple[str, str], tuple[str, str]] = {}
        self.removed: set[str] = set()  # aliases QEMU reported DEVICE_DELETED for
        # What the driver asked for, so QMP events and the exit get the right reason.
        self.expect_stop: int | None = None  # paused reason for our own STOP
        self.stopping: int | None = None  # shutoff reason for an exit we caused
        self.guest_shutdown = False  # QEMU's SHUTDOWN seen (its event emitted): once per run
        self.fake_reboot = False
        self.rebooting = False  # between the fake reboot's reset and the guest running again
        self.resume_reason: int | None = None  # running reason for our own next ``cont``
        self.reverting = False  # a snapshot revert restarts it: keep it even when transient
        self.async_job = ""  # libvirt's async job under way ("save", "snapshot"), in the status
        self.async_phase = ""  # its phase (migrations: "begin3", "perform3", ...)
        self.async_flags = 0  # the flags of the API that started it
        # held while a QEMU exit is handled (state, status, taps, ports): a start waits for it
        self.stop_lock = threading.Lock()

    def is_persistent(self) -> bool:
        return self.persistent is not None

    def disk_path(self, disk: Any) -> str | None:
        """The host path behind a disk of the running (or defined) domain, if known."""
        try:
            return command.disk_source(disk, self.volumes)[1]
        except VirtError:
            return None

    def ident(self) -> DomainIdent:
        return DomainIdent(self.name, self.uuid, self.id)

    def definition(self, inactive: bool = False) -> DomainDef:
        if self.active and not inactive and self.live is not None:
            return self.live
        if self.persistent is not None:
            return self.persistent
        if self.live is None:  # a transient domain that stopped: it is gone (libvirt's race)
            raise make_error(ErrorCode.NO_DOMAIN, ErrorDomain.QEMU,
                             f"no domain with matching uuid '{self.uuid}' ({self.name})")
        return self.live


class QemuNode:
    """Every domain under one root, shared by the connections to it."""

    def __init__(self, paths: QemuPaths, *, autostart: bool = False) -> None:
        self.paths = paths
        # qemu.conf's SPICE settings (ROOT/etc/libvirt/qemu.conf; embedded: ROOT/etc/qemu.conf)
        self.spice = command_spice.load_config(
            os.path.join(os.path.dirname(paths.config_dir), "qemu.conf"))
        self.lock = threading.RLock()
        self.domains: DomainList[QemuDomain] = DomainList(ErrorDomain.QEMU)
        self.by_name = self.domains.by_name  # the list's indexes, by their old names
        self.by_uuid = self.domains.by_uuid
        self.events = EventBus()
        self.refs = 0
        # network name -> bridge, set by the connection's network driver when it has one
        self.network_resolver: netif.NetworkResolver | None = None
        self.lease_lookup: LeaseLookup | None = None  # MAC -> DHCP leases
        self.nwfilter: domain_nwfilter.BindingDriver | None = None  # <filterref>s on taps
        self.network_ports: NetworkPorts | None = None  # a port per network interface
        # (pool, volume) -> ("file" or "block", path): the storage driver's translation
        self.volume_resolver: VolumeResolver | None = None
        # the storage pools, where a migration destination pre-creates disks
        self.volume_creation: VolumeCreation | None = None
        # the secret node: passphrases of encrypted disks (drivers/compose.py links it)
        self.secrets: SecretValues | None = None
        # virDomainFDAssociate's descriptor groups, by domain (<source fdgroup> disks)
        self.fd_groups = FDGroups()
        self._ports_reclaimed = False
        self._next_id = 1
        paths.ensure()
        self.configs = ConfigStore(paths.config_dir, paths.autostart_dir)
        self.statuses = StatusStore(paths.status_dir)
        self._load()
        if autostart:
            self.autostart_all()

    # ------------------------------------------------------------ loading and re-attaching

    def _load(self) -> None:
        configs, errors = self.configs.load_all()
        for bad in errors:
            log.error("ignoring config %s: %s", bad.path, bad.reason)
        for name, xml in configs.items():
            try:
                d = parse_def(xml)
            except VirtError as exc:
                log.error("ignoring unparseable config of %s: %s", name, exc)
                continue
            dom = QemuDomain(d.name or name, d.uuid, d)
            dom.autostart = self.configs.autostart(dom.name)
            self._add(dom)
        statuses, errors = self.statuses.load_all()
        for bad in errors:
            log.error("ignoring status %s: %s", bad.path, bad.reason)
        for entry in statuses:
            self._reattach(entry)
        from virtkit.drivers.qemu import snapshots

        for dom in list(self.by_uuid.values()):
            snapshots.load(self, dom)

    def _reattach(self, entry: DomainStatus) -> None:
        """Take back a QEMU a previous instance started, or note that it died meanwhile."""
        try:
            live = parse_def(entry.domain_xml, live=True)
        except VirtError as exc:
            log.error("status of %s unreadable: %s", entry.name, exc)
            return
        dom_id = _id_of(entry.domain_xml)
        dom = self.by_uuid.get(live.uuid)
        if dom is None:  # transient: known only from its status
            dom = QemuDomain(live.name or entry.name, live.uuid, None)
            self._add(dom)
        run_dir = os.path.dirname(entry.monitor_path) if entry.monitor_path else None
        found = recovery.find_qemus(entry, live.uuid)
        if entry.starting:
            self._end_unfinished_start(dom, live, found, run_dir)
            return
        proc = next((p for p in found if p.pid == entry.pid), None)
        recovery.kill_all([p for p in found if p is not proc])
        if proc is None:
            log.warning("domain %s (pid %d) died while we were away", dom.name, entry.pid)
            self._forget_run(dom, run_dir)
            dom.set_state(SHUTOFF, SHUTOFF_UNKNOWN)
            if dom.persistent is None:
                self._remove(dom)
            return
        dom.live = live
        dom.id = dom_id
        dom.set_state(*_state_value(entry.state, entry.reason))
        dom.run_dir = run_dir
        dom.proc = proc
        dom.volumes = dict(entry.volumes)
        try:  # a pure function: the names it gave when the QEMU started
            ctx = dataclasses.replace(self._context(dom.name, dom_id, run_dir or ""),
                                      volumes=dom.volumes)
            dom.command = _rebuild_command(live, ctx)
        except VirtError:
            dom.command = None
        self._next_id = max(self._next_id, dom.id + 1)
        try:
            dom.mon = monitor.Monitor.connect(entry.monitor_path, timeout=5.0,
                                              on_event=self._event_handler(dom),
                                              label=dom.name)
        except VirtError as exc:
            log.error("cannot reconnect to the monitor of %s: %s", dom.name, exc)
        proc.on_exit(self._exit_handler(dom, proc))
        log.info("re-attached domain %s (id %d, pid %d)", dom.name, dom.id, proc.pid)
        self._sync_state(dom)
        if dom.mon is not None:  # qemuProcessReconnect: qemuRefreshVirtioChannelState
            with contextlib.suppress(VirtError):
                if self._refresh_channels(dom, dom.mon.execute("query-chardev"), False):
                    self._save_status(dom)
        if entry.job in recovery.ASYNC_JOBS:
            self._recover_job(dom, entry.job)
        elif entry.job in migration_recovery.MIGRATION_JOBS \
                and not migration_recovery.recover(self, dom, entry):
            return  # the migration's end killed it
        if dom.mon is not None and recovery.reconcile_devices(dom.mon, live):
            self._save_status(dom)
            try:
                ctx = dataclasses.replace(self._context(dom.name, dom_id, run_dir or ""),
                                          volumes=dom.volumes)
                dom.command = _rebuild_command(live, ctx)
            except VirtError:
                dom.command = None
        if dom.mon is not None and dom.command is not None:
            known = {n for nodes in dom.command.disks.values()
                     for n in (nodes.storage_node, nodes.format_node) if n}
            recovery.drop_orphan_nodes(dom.mon, known)

    def _end_unfinished_start(self, dom: QemuDomain, live: DomainDef,
                              found: list[process.QemuProcess], run_dir: str | None) -> None:
        """A start the previous instance did not finish: kill its QEMU (libvirt's
        qemuProcessReconnect does so for ``starting up``); the domain is shut off (failed)."""
        log.warning("domain %s had not finished starting: %d QEMU process(es) to kill",
                    dom.name, len(found))
        recovery.kill_all(found)
        netif.delete_taps(netif.taps_of(live))
        self._forget_run(dom, run_dir)
        dom.set_state(SHUTOFF, DomainShutoffReason.FAILED)
        if dom.persistent is None:
            self._remove(dom)

    def _recover_job(self, dom: QemuDomain, job: str) -> None:
        """An interrupted save or snapshot: cancel it in QEMU and resume a guest it paused
        (libvirt's qemuProcessRecoverJob, reason ``save canceled``)."""
        mon = dom.mon
        if mon is None or not dom.active:
            return
        log.warning("domain %s: recovering from an interrupted %s job", dom.name, job)
        try:
            recovery.interrupted_job_cleanup(mon, job, self.paths.managed_save_file(dom.name))
        except VirtError as exc:  # QEMU's job did not end: leave the guest as it is
            log.error("domain %s: cannot recover from the interrupted %s: %s", dom.name, job,
                      exc.message)
            return
        with dom.lock:
            resume = dom.state == PAUSED and dom.reason in recovery.RESUMABLE
            dom.async_job = ""
            if resume:
                dom.resume_reason = DomainRunningReason.SAVE_CANCELED
            self._save_status(dom)
        if resume:
            try:
                mon.execute("cont")
                self.wait_running(dom)
            except VirtError as exc:
                log.error("domain %s: cannot resume after the interrupted %s: %s", dom.name,
                          job, exc.message)

    def _sync_state(self, dom: QemuDomain) -> None:
        """After re-attaching: read the real run state (it may have changed while away)."""
        if dom.mon is None:
            return
        try:
            st = dom.mon.execute("query-status")
        except VirtError:
            return
        running = bool(st.get("running"))
        if st.get("status") == "shutdown":
            # The guest powered off while nobody watched (an embedded driver's process had
            # exited): apply on_poweroff now, as the SHUTDOWN event would have.
            with dom.lock:
                dom.guest_shutdown = True
                dom.stopping = SHUTOFF_SHUTDOWN
            proc = dom.proc
            self._quit_after_shutdown(dom, proc, wait_first=False)
            self._wait_stopped(dom, proc, 10.0)
            return
        with dom.lock:
            if running and dom.state != RUNNING:
                dom.set_state(RUNNING, RUNNING_UNPAUSED)
            elif not running and dom.state == RUNNING:
                dom.set_state(PAUSED, PAUSED_UNKNOWN)
            self._save_status(dom)

    def autostart_all(self) -> None:
        """Start every inactive domain marked autostart (errors are logged)."""
        for dom in list(self.by_name.values()):
            if dom.autostart and not dom.active:
                try:
                    self.start(dom, 0)
                except VirtError as exc:
                    log.error("autostart of %s failed: %s", dom.name, exc)

    # ------------------------------------------------------------ lookup

    def _add(self, dom: QemuDomain) -> None:
        self.domains.add(dom)

    def _remove(self, dom: QemuDomain) -> None:
        self.domains.remove(dom)
        self.fd_groups.drop_domain(dom.uuid)  # they lived in the domain object
        if len(dom.snapshots):  # libvirt drops a removed domain's snapshot metadata
            from virtkit.drivers.qemu import snapshots

            snapshots.discard_all_metadata(self, dom)

    def get(self, ident: DomainIdent) -> QemuDomain:
        """qemuDomainObjFromDomain: the domain, or "no domain with matching uuid 'U' (N)"."""
        return self.domains.get(ident)

    # ------------------------------------------------------------ events

    def emit(self, dom: QemuDomain, event: int, detail: int) -> None:
        if self.events.active:
            self.events.queue("domain", dom.ident(), 0, (event, detail))

    def emit_other(self, dom: QemuDomain, event_id: int, payload: tuple[Any, ...]) -> None:
        if self.events.active:
            self.events.queue("domain", dom.ident(), event_id, payload)

    # ------------------------------------------------------------ definitions

    def define(self, xml: str) -> QemuDomain:
        d = parse_def(xml)
        drop_live_chr_details(d)  # VIR_DOMAIN_DEF_PARSE_INACTIVE: no pty path, no state
        # what start would refuse is refused now (libvirt validates at define too), so no
        # definition is saved that cannot run
        command.check_supported(d, spice=self.spice)
        name = d.name or ""
        with self.lock:
            dom = self.domains.check_add(name, d.uuid, live=False)  # libvirt's collision rules
            added = dom is None
            if dom is None:  # listed at once, as virDomainObjListAdd does; gone if unsaved
                dom = QemuDomain(name, d.uuid, d)
                self._add(dom)
            dom.lock.acquire()  # node lock, then domain lock
        try:  # the config file is written under the domain's lock only
            updated = not added and dom.persistent is not None
            try:
                self.configs.save(name, d.to_xml(), d.uuid)
            except BaseException:
                if added:
                    dom.persistent = None
                raise
            dom.persistent = d
            self.emit(dom, EV_DEFINED, DEF_UPDATED if updated else DEF_ADDED)
        finally:
            dom.lock.release()
            if added and dom.persistent is None:
                self._remove_if_gone(dom)
        self.events.flush()
        return dom

    def _remove_if_gone(self, dom: QemuDomain) -> None:
        """Drop ``dom`` from the list if it is neither running nor defined (take no domain
        lock before this: the node lock comes first)."""
        with self.lock, dom.lock:
            if not dom.active and dom.persistent is None and not dom.reverting \
                    and self.by_uuid.get(dom.uuid) is dom:
                self._remove(dom)

    def undefine(self, dom: QemuDomain, flags: int) -> None:
        with dom.job:
            self._undefine(dom, flags)
            if not dom.active:
                self._remove_if_gone(dom)
        self.events.flush()

    def _undefine(self, dom: QemuDomain, flags: int) -> None:
        with dom.lock:
            if dom.persistent is None:
                raise _err(ErrorCode.OPERATION_INVALID, "cannot undefine transient domain")
            if not dom.active and len(dom.snapshots):
                if not flags & 2:  # VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                    raise _err(ErrorCode.OPERATION_INVALID,
                               f"cannot delete inactive domain with {len(dom.snapshots)} "
                               "snapshots")
                from virtkit.drivers.qemu import snapshots

                snapshots.discard_all_metadata(self, dom)
            managed = self.paths.managed_save_file(dom.name)
            if os.path.exists(managed):
                if not flags & 1:  # VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                    raise _err(ErrorCode.OPERATION_INVALID,
                               "Refusing to undefine while domain managed save image exists")
                os.unlink(managed)
            self.configs.set_autostart(dom.name, False)
            self.configs.delete(dom.name)
            dom.persistent = None
            dom.autostart = False
            self.emit(dom, EV_UNDEFINED, 0)

    def update_config(self, dom: QemuDomain, change: Callable[[DomainDef], None]) -> None:
        """Apply ``change`` to a copy of the persistent definition, then store it."""
        with dom.lock:
            if dom.persistent is None:
                raise _err(ErrorCode.OPERATION_INVALID, "domain is not persistent")
            newdef = copy_def(dom.persistent)
            change(newdef)
            self.configs.save(dom.name, newdef.to_xml(), dom.uuid)
            dom.persistent = newdef

    def set_autostart(self, dom: QemuDomain, on: bool) -> None:
        with dom.lock:
            if dom.persistent is None:
                raise _err(ErrorCode.OPERATION_INVALID, "cannot set autostart for transient domain")
            self.configs.set_autostart(dom.name, on)
            dom.autostart = on

    # ------------------------------------------------------------ starting

    def create_transient(self, xml: str, flags: int) -> QemuDomain:
        d = parse_def(xml)
        drop_live_chr_details(d)  # VIR_DOMAIN_DEF_PARSE_INACTIVE: no pty path, no state
        with self.lock:
            # libvirt's collision rules; an inactive persistent domain of the same name and
            # uuid runs with this definition (its persistent one stays)
            existing = self.domains.check_add(d.name or "", d.uuid, live=True)
            dom = existing or QemuDomain(d.name or "", d.uuid, None)
            if existing is None:
                dom.live = d
                self._add(dom)
        try:
            self.start(dom, flags, definition=d)
        except BaseException:
            with self.lock:
                if not dom.active and existing is None:
                    self._remove(dom)
            raise
        return dom

    def _context(self, name: str, dom_id: int, run_dir: str, *, paused: bool = True,
                 incoming: str | None = None) -> command.CommandContext:
        from virtkit.drivers.qemu.qemucaps import find_ovmf

        ovmf = find_ovmf()
        return command.CommandContext(
            ovmf_code=ovmf[0] if ovmf else None,
            ovmf_vars_template=ovmf[1] if ovmf else None,
            nvram_path=os.path.join(self.paths.nvram_dir, f"{name}_VARS.fd"),
            emulator="/usr/bin/qemu-system-x86_64",
            qmp_socket=os.path.join(run_dir, "monitor.sock"),
            pid_file=self._pid_file(name),
            log_file=self.paths.log_file(name),
            runtime_dir=run_dir,
            kvm_available=os.access("/dev/kvm", os.R_OK | os.W_OK),
            start_paused=paused,
            incoming=incoming,
            spice=self.spice,
        )

    def _pid_file(self, name: str) -> str:
        """The ``-pidfile`` of ``name``'s QEMU (libvirt's ``RUN_DIR/NAME.pid``)."""
        return os.path.join(self.paths.status_dir, f"{name}.pid")

    def start(self, dom: QemuDomain, flags: int, *, definition: DomainDef | None = None,
              image: SaveImage | None = None,
              prepare: Callable[[QemuDomain], None] | None = None,
              from_snapshot: bool = False, migrating: bool = False) -> None:
        """Start ``dom`` (flags: VIR_DOMAIN_START_PAUSED=1), or restore it from ``image``.

        A managed-save image, when one exists, is restored instead of a boot (and removed).
        ``prepare(dom)`` runs while the new QEMU is still paused (a snapshot load);
        ``from_snapshot`` makes the event STARTED/FROM_SNAPSHOT, and a paused start stays
        quiet (PAUSED/FROM_SNAPSHOT, the caller reports it) as a snapshot revert does.
        ``migrating``: an incoming migration's QEMU (``-incoming defer``; ``prepare`` starts
        the listener), left paused (PAUSED/MIGRATION, event STARTED/MIGRATED)."""
        paused = bool(flags & 1) or migrating
        with dom.job:
            with dom.stop_lock:  # the previous run's exit handling has finished
                pass
            if dom.active:
                raise _err(ErrorCode.OPERATION_INVALID, "domain is already running")
            managed = self.paths.managed_save_file(dom.name)
            from_managed = (image is None and definition is None and not from_snapshot
                            and os.path.exists(managed))
            if from_managed:
                image = SaveImage.open(managed)
                definition = parse_def(image.xml)
                paused = paused or not image.was_running
            if definition is None:
                if dom.persistent is None:
                    raise _err(ErrorCode.OPERATION_INVALID, "domain is not persistent")
                definition = copy_def(dom.persistent)
            elif image is not None or from_snapshot:  # what a previous run wrote: made anew
                drop_generated_paths(definition, self.paths.lib_dir)
                drop_backing_chains(definition)
            with self.lock:
                dom_id = self._next_id
                self._next_id += 1
            run_dir = self.paths.domain_dir(dom_id, dom.name)
            os.makedirs(run_dir, mode=0o700, exist_ok=True)
            self._allocate_vnc_ports(definition)
            self._plug_ports(dom, definition)
            try:
                taps = netif.prepare_taps(definition, self.network_resolver)
            except VirtError:
                self._release_ports(definition)
                raise
            if self.nwfilter is not None:
                try:  # <filterref> on an interface: its rules on the tap before QEMU runs
                    domain_nwfilter.instantiate(self.nwfilter, definition)
                except VirtError:
                    netif.delete_taps(taps)
                    self._release_ports(definition)
                    raise
            ctx = self._context(dom.name, dom_id, run_dir,
                                incoming="defer" if image is not None or migrating else None)
            if definition.devices is not None and definition.devices.emulator:
                ctx = dataclasses.replace(ctx, emulator=definition.devices.emulator)
            fdsets: dict[str, diskfds.DiskFDSet] = {}
            try:
                graphics_listen.resolve_network_listens(  # <listen type='network'>
                    definition, self.network_resolver,
                    {"vnc": "127.0.0.1", "spice": self.spice.listen})
                fdsets = diskfds.prepare(definition.devices.disks if definition.devices
                                         is not None else [], self.fd_groups, dom.uuid)
                ctx = dataclasses.replace(ctx, volumes=self.translate_volumes(definition),
                                          secrets=self.secrets, fdsets=fdsets)
                cmd = command.build(definition, ctx)
                listen_attr.sync_listen_attributes(definition)  # the addresses QEMU got
                _prepare_nvram(definition, ctx)
            except VirtError:
                diskfds.close(fdsets.values())
                shutil.rmtree(run_dir, ignore_errors=True)
                self._teardown_filters(taps)
                netif.delete_taps(taps)
                self._release_ports(definition)
                raise
            proc = None
            try:
                record = _StartRecord(definition, dom_id, ctx)
                self._write_start(dom, record, None)  # before QEMU exists: found after a crash
                try:
                    proc = process.QemuProcess.spawn(
                        [ctx.emulator, *cmd.argv], log_file=ctx.log_file,
                        pid_file=ctx.pid_file, pass_fds=diskfds.all_fds(fdsets))
                finally:  # QEMU holds its own copies now (or never will)
                    diskfds.close(fdsets.values())
                self._write_start(dom, record, proc)
                try:
                    mon = monitor.Monitor.connect(ctx.qmp_socket, timeout=30.0,
                                                  on_event=self._event_handler(dom),
                                                  vm_name=dom.name,
                                                  abort_if=lambda: not proc.alive())
                except VirtError:
                    if not proc.alive():  # QEMU refused its configuration: say why
                        _gone_within(proc, 5)
                        raise proc.startup_error(
                            "process exited while connecting to monitor") from None
                    raise
                with dom.lock:
                    dom.live, dom.id, dom.proc, dom.mon = definition, dom_id, proc, mon
                    dom.run_dir, dom.command, dom.volumes = run_dir, cmd, dict(ctx.volumes)
                    dom.set_state(PAUSED, PAUSED_STARTING_UP)
                    dom.stopping, dom.guest_shutdown, dom.fake_reboot = None, False, False
                proc.on_exit(self._exit_handler(dom, proc))
                self._after_launch(dom)
                if image is not None:
                    restore_from_file(mon, image)
                if prepare is not None:
                    prepare(dom)
                if not paused:  # qemuProcessStartCPUs: RESUMED (detail by reason) precedes STARTED
                    with dom.lock:
                        dom.resume_reason = (RUNNING_FROM_SNAPSHOT if from_snapshot else
                                             RUNNING_RESTORED if image is not None else
                                             RUNNING_BOOTED)
                    mon.execute("cont")
                    self.wait_running(dom)
            except BaseException as exc:
                failure: BaseException = exc
                if isinstance(exc, VirtError) and proc is not None and _gone_within(proc, 2):
                    # QEMU died (or is dying) during set-up: its log says why
                    failure = proc.startup_error("qemu unexpectedly closed the monitor")
                if proc is not None:
                    with dom.lock:
                        dom.stopping = SHUTOFF_FAILED
                    proc.kill()
                    _gone_within(proc, 10)
                shutil.rmtree(run_dir, ignore_errors=True)
                self.statuses.delete(dom.name)  # after the kill: no record names a live QEMU
                self._teardown_filters(taps)
                netif.delete_taps(taps)
                self._release_ports(definition)
                with dom.lock:
                    if dom.proc is proc:
                        self._clear_run(dom)
                if failure is not exc:
                    raise failure from None
                raise
            with dom.lock:
                if migrating:
                    dom.set_state(PAUSED, _PAUSED_MIGRATION)
                elif paused:
                    dom.set_state(PAUSED,
                                  PAUSED_FROM_SNAPSHOT if from_snapshot else PAUSED_USER)
                else:
                    dom.set_state(RUNNING,
                                  RUNNING_RESTORED if image is not None else RUNNING_BOOTED)
                self._save_status(dom)
                detail = START_RESTORED if image is not None else START_BOOTED
                if migrating:
                    detail = int(DomainEventStartedDetailType.MIGRATED)
                self.emit(dom, EV_STARTED, START_FROM_SNAPSHOT if from_snapshot else detail)
                if paused and not from_snapshot and not migrating:
                    self.emit(dom, EV_SUSPENDED, SUSP_PAUSED)
            if from_managed:
                os.unlink(managed)
        self.events.flush()

    # ------------------------------------------------------------ save and restore

    def save(self, dom: QemuDomain, path: str, dxml: str | None, flags: int) -> None:
        """Pause, write the state to ``path`` (flags RUNNING=2 / PAUSED=4 choose how a
        restore resumes), then stop the domain (STOPPED/SAVED).

        It runs as libvirt's async job SAVE: queries, destroy and abort run meanwhile;
        its progress is the job's data; an abort leaves no image and the guest running
        (reason ``save canceled``)."""
        with dom.job.running_async(AsyncJob.SAVE, DomainJobOperation.SAVE, flags):
            with dom.job:
                self._require_active(dom)
            self.set_async_job(dom, "save")
            try:
                self._write_image(dom, path, dxml, flags)
            except BaseException:
                self.set_async_job(dom, "")
                raise
            dom.job.complete()
            with dom.job:
                proc = dom.proc
                with dom.lock:
                    dom.stopping = SHUTOFF_SAVED
                try:
                    dom.mon.execute("quit", timeout=10.0)
                except VirtError:
                    proc.terminate(grace=3.0)
                self._wait_stopped(dom, proc, 15.0)
        self.events.flush()

    def _write_image(self, dom: QemuDomain, path: str, dxml: str | None, flags: int) -> None:
        """Pause a running guest and write its state to ``path``; on failure the image goes
        and the guest runs on."""
        was_running = dom.state == RUNNING
        if was_running:
            with dom.lock:
                dom.expect_stop = PAUSED_SAVE
            dom.mon.execute("stop")
            try:
                self.wait_paused(dom)
            except VirtError:
                dom.mon.execute("cont")  # QEMU stopped, its event is late: run on
                raise
            if dom.job.current is not None:
                dom.job.current.stopped = int(time.time() * 1000)
        live = dom.live
        assert live is not None
        resume = bool(flags & 2) or (was_running and not flags & 4)

        def run_on() -> None:  # libvirt resumes with VIR_DOMAIN_RUNNING_SAVE_CANCELED
            if was_running and dom.mon is not None:
                with dom.lock:
                    dom.resume_reason = DomainRunningReason.SAVE_CANCELED
                dom.mon.execute("cont")
                with contextlib.suppress(VirtError):
                    self.wait_running(dom)

        try:
            image = SaveImage.create(path, self._saved_xml(live, dxml), resume)
        except BaseException:
            run_on()
            raise
        try:
            migrate_to_file(dom.mon, image, dom.job)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            run_on()
            raise

    def _saved_xml(self, live: DomainDef, dxml: str | None) -> str:
        """The XML a save image holds: libvirt's migratable form, without the socket
        paths this run generated (the restore makes its own)."""
        d = parse_def(dxml) if dxml else copy_def(live)
        drop_generated_paths(d, self.paths.lib_dir)
        return format_def(d, -1)

    def set_async_job(self, dom: QemuDomain, job: str, phase: str = "", flags: int = 0) -> None:
        """Record in the status that an async job (save, snapshot, migration: with its
        phase and flags) is under way, or ended (""), so a restarted daemon can recover
        from its interruption."""
        with dom.lock:
            dom.async_job, dom.async_phase, dom.async_flags = job, phase, flags
            self._save_status(dom)

    def restore(self, path: str, dxml: str | None, flags: int) -> QemuDomain:
        """Start the domain a save image holds (as the persistent domain of that UUID, or
        as a transient one)."""
        image = SaveImage.open(path)
        d = parse_def(dxml or image.xml)
        if flags & 2:
            image.was_running = True
        elif flags & 4:
            image.was_running = False
        with self.lock:
            dom = self.by_uuid.get(d.uuid) or self.by_name.get(d.name or "")
            if dom is not None and dom.active:
                raise _err(ErrorCode.OPERATION_INVALID,
                           f"domain '{dom.name}' is already active")
            if dom is None:
                dom = QemuDomain(d.name or "", d.uuid, None)
                self._add(dom)
        try:
            with dom.job.running_async(AsyncJob.START, DomainJobOperation.RESTORE):
                self.start(dom, 0 if image.was_running else 1, definition=d, image=image)
        except BaseException:
            with self.lock:
                if not dom.active and dom.persistent is None:
                    self._remove(dom)
            raise
        return dom

    def _allocate_vnc_ports(self, d: DomainDef) -> None:
        """autoport: the first free TCP port from 5900 that no other domain of ours holds
        (libvirt's virPortAllocator over remote_display_port_min..max)."""
        graphics = d.devices.graphics if d.devices is not None else []
        with self.lock:
            taken = {int(g.port) for other in self.by_uuid.values() if other.live is not None
                     and other.live.devices is not None
                     for g in other.live.devices.graphics if g.port and g.port.isdigit()}
        for g in graphics:
            if g.type == "spice":  # port (and TLS port) as qemuProcessSPICEAllocatePorts
                command_spice.allocate_ports(g, self.spice, taken)
                continue
            if g.type != "vnc" or g.socket:
                continue
            if g.port not in (None, "-1") and g.autoport != "yes":
                continue
            listens = getattr(g, "listens", None) or []
            if listens and getattr(listens[0], "type", None) in ("socket", "none"):
                continue
            for port in range(5900, 65536):
                if port in taken:
                    continue
                with socket.socket() as probe:
                    try:
                        probe.bind(("127.0.0.1", port))
                    except OSError:
                        continue
                g.port = str(port)
                g.autoport = "yes"
                taken.add(port)
                break

    def _after_launch(self, dom: QemuDomain) -> None:
        """Set-up between launch and ``cont``: pty paths into the live XML, balloon target."""
        d = dom.live
        assert d is not None and dom.mon is not None
        try:
            chardevs = dom.mon.execute("query-chardev")
        except VirtError:
            chardevs = []
        ptys = {c["label"]: c["filename"][4:] for c in chardevs
                if str(c.get("filename", "")).startswith("pty:")}
        cmd = dom.command
        if cmd is not None:
            for alias, chr_id in cmd.chardevs.items():
                path = ptys.get(chr_id)
                device = cmd.aliases.get(alias)
                if path and device is not None and getattr(device, "type", None) == "pty":
                    _set_pty_path(device, path)
            if d.devices is not None and d.devices.consoles and d.devices.serials:
                # console 0 aliases serial 0: it shows the same pty
                con, ser = d.devices.consoles[0], d.devices.serials[0]
                if con.type == "pty" and ser.sources and ser.sources[0].path:
                    _set_pty_path(con, ser.sources[0].path)
        self._refresh_channels(dom, chardevs, booted=True)
        self._set_link_states(dom, d)
        for g in d.devices.graphics if d.devices is not None else []:
            default = command_spice.default_password(g, self.spice)
            for name, args in command_spice.password_commands(g, default):  # CPUs not run
                dom.mon.execute(name, args)
        from virtkit.drivers.qemu.balloon import apply_period

        apply_period(dom)
        current, total = d.current_memory_kib, d.memory_kib
        balloon = d.devices.memballoon if d.devices is not None else None
        if current and total and current < total and (balloon is None or balloon.model != "none"):
            dom.mon.execute("balloon", {"value": current * 1024})

    def _refresh_channels(self, dom: QemuDomain, chardevs: list[dict[str, Any]],
                          booted: bool) -> bool:
        """qemuProcessRefreshChannelVirtioState: virtio channels' state from
        ``query-chardev``, AGENT_LIFECYCLE for the agent's (True: a state changed)."""
        assert dom.live is not None
        changed, agent_events = chrstate.refresh_channel_states(dom.live, chardevs, booted)
        for payload in agent_events:
            self.emit_other(dom, DomainEventID.AGENT_LIFECYCLE, payload)
        return changed

    @staticmethod
    def _set_link_states(dom: QemuDomain, d: DomainDef) -> None:
        """qemuProcessSetLinkStates: ``<link state='down'/>`` interfaces go down before
        the guest runs."""
        assert dom.mon is not None
        for iface in d.devices.interfaces if d.devices is not None else []:
            if iface.link is None or iface.link.state != "down":
                continue
            alias = iface.alias.name if iface.alias is not None else None
            if not alias:
                raise _err(ErrorCode.INTERNAL_ERROR, "missing alias for network device")
            try:
                dom.mon.execute("set_link", {"name": alias, "up": False})
            except VirtError:
                raise _err(ErrorCode.OPERATION_FAILED,
                           f"Couldn't set link state on interface: {alias}") from None

    # ------------------------------------------------------------ stopping

    def destroy(self, dom: QemuDomain, flags: int, reason: int = SHUTOFF_DESTROYED) -> None:
        """Stop QEMU now (flags: VIR_DOMAIN_DESTROY_GRACEFUL=1: SIGTERM only); ``reason``
        is the shut-off reason recorded (a snapshot revert or halt: FROM_SNAPSHOT). A DESTROY
        job: an async job (an incoming migration) lets it in."""
        with dom.job.using(Job.DESTROY):
            if not dom.active:
                raise _err(ErrorCode.OPERATION_INVALID, "domain is not running")
            proc = dom.proc
            with dom.lock:
                dom.stopping = reason
            if flags & 1:
                proc.terminate(grace=10.0, force=False)
            else:
                proc.terminate(grace=3.0)
            self._wait_stopped(dom, proc, 15.0)
        self.events.flush()

    def _wait_stopped(self, dom: QemuDomain, proc: Any, timeout: float) -> None:
        """Wait for ``proc`` to exit (after ``timeout`` it is killed; libvirt's
        VIR_ERR_SYSTEM_ERROR "Failed to terminate process N with SIGKILL" if even that
        fails) and for its exit to be handled (by the exit watcher or here, once)."""
        if not _gone_within(proc, timeout):
            log.warning("domain %s: QEMU %d still running after %g s: killing it", dom.name,
                        proc.pid, timeout)
            proc.terminate(grace=3.0)
        self._stopped(dom, proc, proc.exit_status)

    def shutdown(self, dom: QemuDomain, flags: int = 0) -> None:
        """Ask the guest to power off: through its agent (flag GUEST_AGENT=2, or by default
        when an agent channel is configured), else the ACPI power button (ACPI_POWER_BTN=1)."""
        with dom.job:
            self._require_running(dom)
            assert dom.live is not None
            configured = agent.agent_socket(dom.live) is not None
            use_agent = bool(flags & 2) or (not flags & 1 and configured)
            if use_agent:
                if not configured:
                    raise make_error(ErrorCode.ARGUMENT_UNSUPPORTED, ErrorDomain.QEMU,
                                     "QEMU guest agent is not configured")
                try:
                    with agent.GuestAgent(agent.connected_agent_socket(dom.live)) as ga:
                        ga.shutdown()
                    return
                except VirtError as exc:
                    if flags & 2 and not flags & 1:
                        raise  # the agent was asked for explicitly
                    log.info("%s: agent shutdown failed (%s); pressing the power button",
                             dom.name, exc.message)
            dom.mon.execute("system_powerdown")

    def reboot(self, dom: QemuDomain) -> None:
        """ACPI shutdown, then reset and continue instead of exiting (libvirt's fake reboot)."""
        with dom.job:
            self._require_running(dom)
            with dom.lock:
                dom.fake_reboot = True
            dom.mon.execute("system_powerdown")

    def reset(self, dom: QemuDomain) -> None:
        with dom.job:
            self._require_active(dom)
            dom.mon.execute("system_reset")

    def suspend(self, dom: QemuDomain) -> None:
        with dom.job:
            self._require_active(dom)
            if dom.state == PAUSED:
                return
            with dom.lock:
                dom.expect_stop = PAUSED_USER
            dom.mon.execute("stop")
            self.wait_paused(dom)
        self.events.flush()

    def resume(self, dom: QemuDomain) -> None:
        """qemuDomainResume: a running or pmsuspended guest is refused, as in libvirt."""
        with dom.job:
            self._require_active(dom)
            if dom.state == PMSUSPENDED:
                raise _err(ErrorCode.OPERATION_INVALID, "domain is pmsuspended")
            if dom.state == RUNNING:
                raise _err(ErrorCode.OPERATION_INVALID, "domain is already running")
            dom.mon.execute("cont")
            self.wait_running(dom)
        self.events.flush()

    def wait_paused(self, dom: QemuDomain) -> None:
        """After our ``stop``: wait for its STOP event to pause ``dom``.

        libvirt sets the state from the command's reply and has no such wait; when the
        event does not come in STATE_WAIT_TIME, VIR_ERR_OPERATION_TIMEOUT (never success).
        """
        self._wait_for(dom, lambda: dom.state == PAUSED, lambda: _err(
            ErrorCode.OPERATION_TIMEOUT, f"domain '{dom.name}' did not pause"))

    def wait_running(self, dom: QemuDomain) -> None:
        """After our ``cont``: wait for its RESUME event; otherwise libvirt's error for CPUs
        that did not start (VIR_ERR_OPERATION_FAILED "resume operation failed")."""
        self._wait_for(dom, lambda: dom.state == RUNNING,
                       lambda: _err(ErrorCode.OPERATION_FAILED, "resume operation failed"))

    def _wait_for(self, dom: QemuDomain, pred: Callable[[], bool],
                  error: Callable[[], VirtError], timeout: float | None = None) -> None:
        """Wait until ``pred()`` holds, at most ``timeout`` (STATE_WAIT_TIME), then raise
        ``error()`` (never return without it). It is checked under ``dom``'s lock, so a
        state the QMP event handler sets is seen only once that handler has also queued
        its event (events queued after the wait then follow it). The lock is not held
        between checks, and waiting for it counts against the timeout too."""
        deadline = time.monotonic() + (STATE_WAIT_TIME if timeout is None else timeout)
        while True:
            if not dom.lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                raise error()
            try:
                if pred():
                    return
            finally:
                dom.lock.release()
            if time.monotonic() >= deadline:
                raise error()
            time.sleep(0.002)

    def _require_active(self, dom: QemuDomain) -> None:
        if not dom.active or dom.mon is None:
            raise _err(ErrorCode.OPERATION_INVALID, "domain is not running")

    def _require_running(self, dom: QemuDomain) -> None:
        self._require_active(dom)
        if dom.state != RUNNING:
            raise _err(ErrorCode.OPERATION_INVALID, "domain is not running")

    # ------------------------------------------------------------ QMP events and exits

    def _event_handler(self, dom: QemuDomain) -> Callable[[str, dict[str, Any], float], None]:
        def on_event(name: str, data: dict[str, Any], timestamp: float) -> None:
            try:
                self._on_event(dom, name, data)
            finally:
                self.events.flush(wait=False)

        return on_event

    def _on_event(self, dom: QemuDomain, name: str, data: dict[str, Any]) -> None:
        """One QMP event of ``dom``, on its monitor's event thread, under its lock."""
        with dom.lock:
            if not dom.active:
                return
            if name == "STOP":
                if dom.guest_shutdown or dom.rebooting:
                    return  # -no-shutdown pauses QEMU after a power-off: not a suspend
                reason = dom.expect_stop if dom.expect_stop is not None else PAUSED_UNKNOWN
                dom.expect_stop = None
                if dom.state != PAUSED or reason != dom.reason:
                    dom.set_state(PAUSED, reason)
                    self._save_status(dom)
                    if reason != PAUSED_STARTING_UP:
                        self.emit(dom, EV_SUSPENDED, _SUSP_MIGRATED
                                  if reason == _PAUSED_MIGRATION else SUSP_PAUSED)
            elif name == "RESUME":
                if dom.rebooting:  # the end of a fake reboot: the guest just runs on
                    dom.rebooting = False
                    if dom.state != RUNNING:
                        dom.set_state(RUNNING, RUNNING_BOOTED)
                        self._save_status(dom)
                    return
                resume: int | None = dom.resume_reason
                dom.resume_reason = None
                if dom.state != RUNNING:  # qemuProcessHandleResume: a start's CPUs too
                    dom.set_state(RUNNING,
                                  RUNNING_UNPAUSED if resume is None else resume)
                    self._save_status(dom)
                    self.emit(dom, EV_RESUMED, _RESUME_DETAIL.get(resume or 0, RES_UNPAUSED))
            elif name == "SHUTDOWN":
                guest = bool(data.get("guest"))
                if dom.fake_reboot:
                    dom.fake_reboot = False
                    dom.rebooting = True
                    _spawn("reboot", dom, self._finish_fake_reboot, dom)
                    return
                if dom.guest_shutdown or data.get("reason") == "host-qmp-quit":
                    return  # our own quit (save, migration, after a power-off): no event
                if dom.stopping is not None:  # destroy's SIGTERM: libvirt's SHUTDOWN/HOST
                    # (only the destroy API stops with DESTROYED: not a revert or recovery,
                    # which are libvirt's qemuProcessStop)
                    if dom.stopping == SHUTOFF_DESTROYED and data.get("reason") == "host-signal":
                        self._host_shutdown(dom)
                    return
                dom.guest_shutdown = True
                dom.set_state(SHUTDOWN, SHUTDOWN_UNKNOWN)
                self._save_status(dom)
                self.emit(dom, EV_SHUTDOWN, SHUT_GUEST if guest else SHUT_HOST)
                self._after_poweroff(dom)
            elif name == "RESET":
                self.emit_other(dom, EVENT_ID_REBOOT, ())
            elif name == "GUEST_PANICKED":
                dom.set_state(CRASHED, CRASHED_PANICKED)
                self._save_status(dom)
                self.emit(dom, EV_CRASHED, CRASH_PANICKED)
                action = (dom.live.on_crash if dom.live is not None else None) or "destroy"
                if action in ("destroy", "coredump-destroy"):
                    dom.stopping = SHUTOFF_CRASHED
                    _spawn("crash", dom, dom.proc.terminate)
            elif name == "DEVICE_DELETED":
                alias = data.get("device")
                if alias:
                    dom.removed.add(alias)
                    self.emit_other(dom, DomainEventID.DEVICE_REMOVED, (alias,))
            elif name == "DEVICE_TRAY_MOVED":
                from virtkit.drivers.qemu.devupdate import tray_moved

                tray_moved(self, dom, data)
            elif name == "VSERPORT_CHANGE" and dom.live is not None:  # processSerialChangedEvent
                found, payload = chrstate.serial_changed(dom.live, str(data.get("id", "")),
                                                         bool(data.get("open")))
                if found:
                    self._save_status_locked(dom)
                if payload is not None:
                    self.emit_other(dom, DomainEventID.AGENT_LIFECYCLE, payload)

    def _after_poweroff(self, dom: QemuDomain) -> None:
        """The guest powered off: on_poweroff decides (QEMU may be stopped, not gone)."""
        action = (dom.live.on_poweroff if dom.live is not None else None) or "destroy"
        dom.stopping = SHUTOFF_SHUTDOWN
        proc = dom.proc
        if action == "restart" and dom.persistent is not None:
            def restart() -> None:
                _gone_within(proc, 30)
                try:
                    self._wait_for(dom, lambda: not dom.active, lambda: _err(
                        ErrorCode.OPERATION_TIMEOUT, "domain did not stop"), 10)
                    self.start(dom, 0)
                except VirtError as exc:
                    log.error("restart of %s after power-off failed: %s", dom.name, exc)
            _spawn("restart", dom, restart)
        if proc is not None and proc.alive():
            _spawn("quit", dom, self._quit_after_shutdown, dom, proc, False)

    def _quit_after_shutdown(self, dom: QemuDomain, proc: Any, wait_first: bool = True) -> None:
        # QEMU run with -no-shutdown stays after the guest powers off: end it.
        if (not wait_first or not _gone_within(proc, 2.0)) and proc.alive():
            try:
                if dom.mon is not None:
                    dom.mon.execute("quit", timeout=5.0)
            except VirtError:
                pass
            if not _gone_within(proc, 5.0):
                proc.terminate(grace=3.0)

    def _finish_fake_reboot(self, dom: QemuDomain) -> None:
        try:
            dom.mon.execute("system_reset")
            dom.mon.execute("cont")
        except VirtError as exc:
            log.error("reboot of %s failed: %s", dom.name, exc)

    def _exit_handler(self, dom: QemuDomain, proc: Any) -> Callable[[int | None], None]:
        def stopped(status_code: int | None) -> None:
            self._stopped(dom, proc, status_code)
            self.events.flush(wait=False)

        def on_exit(status_code: int | None) -> None:  # on the reaper thread: hand it over
            _spawn("exit", dom, stopped, status_code)

        return on_exit

    def _stopped(self, dom: QemuDomain, proc: Any, status_code: int | None) -> None:
        """QEMU ``proc`` of ``dom`` is gone: record why, clean up, emit STOPPED.

        The state changes under the domain's lock; files, taps, filters and network ports
        are cleaned up under ``dom.stop_lock`` only (no node-wide lock), the list entry of a
        transient domain is dropped last. Run once per QEMU: a second caller waits for the
        first to finish."""
        with dom.stop_lock:
            with dom.lock:
                if dom.proc is not proc:
                    return
                cleanup = self._stopped_state(dom, status_code)
            run_dir, taps, live = cleanup
            if dom.job.discard_released_async():
                log.info("domain %s stopped: its waiting migration job ends", dom.name)
            self._forget_run(dom, run_dir)
            self._teardown_filters(taps)
            netif.delete_taps(taps)
            if live is not None:
                self._release_ports(live)
            if dom.persistent is None and not dom.reverting:
                self._remove_if_gone(dom)

    def _host_shutdown(self, dom: QemuDomain) -> None:
        """qemuProcessHandleShutdown for QEMU ending on destroy's SIGTERM (under
        ``dom.lock``): SHUTDOWN/HOST once, before STOPPED, as libvirtd 9.0 sends them."""
        if not dom.guest_shutdown:
            dom.guest_shutdown = True
            dom.set_state(SHUTDOWN, SHUTDOWN_UNKNOWN)
            self.emit(dom, EV_SHUTDOWN, SHUT_HOST)

    def _stopped_state(self, dom: QemuDomain, status_code: int | None
                       ) -> tuple[str | None, list[str], DomainDef | None]:
        """The state part of ``_stopped`` (under ``dom.lock``): returns what to clean up."""
        reason = dom.stopping
        if reason is None:
            reason = SHUTOFF_SHUTDOWN if dom.guest_shutdown else SHUTOFF_CRASHED
        detail = {SHUTOFF_SHUTDOWN: STOP_SHUTDOWN, SHUTOFF_DESTROYED: STOP_DESTROYED,
                  SHUTOFF_CRASHED: STOP_CRASHED, SHUTOFF_SAVED: STOP_SAVED,
                  SHUTOFF_FAILED: STOP_FAILED, _SHUTOFF_MIGRATED: _STOP_MIGRATED,
                  SHUTOFF_FROM_SNAPSHOT: STOP_FROM_SNAPSHOT}.get(reason, STOP_CRASHED)
        log.info("domain %s stopped (reason %d, exit status %s)", dom.name, reason,
                 status_code)
        if reason == SHUTOFF_DESTROYED and status_code == 0:  # SHUTDOWN not handled yet
            self._host_shutdown(dom)
        self.emit(dom, EV_STOPPED, detail)
        run_dir = dom.run_dir
        taps = netif.taps_of(dom.live) if dom.live is not None else []
        live = dom.live
        self._clear_run(dom)
        dom.set_state(SHUTOFF, reason)
        return run_dir, taps, live

    def _network_ifaces(self, d: DomainDef) -> list[Any]:
        devices = d.devices
        return [i for i in (devices.interfaces if devices is not None else [])
                if i.type == "network" and i.source is not None and i.source.network]

    def _plug_ports(self, dom: QemuDomain, d: DomainDef) -> list[str]:
        """A network port for every ``<interface type='network'>`` (its ``portid`` goes into
        the live XML, as libvirt records it)."""
        net = self.network_ports
        if net is None:
            return []
        made: list[str] = []
        try:
            for iface in self._network_ifaces(d):
                src = iface.source
                mac = iface.mac.address if iface.mac is not None else ""
                port = net.plug_interface(src.network, dom.name, dom.uuid, mac,
                                          portgroup=src.portgroup, port_uuid=src.portid)
                src.portid = port.uuid
                if port.uuid:  # the network driver always names its ports
                    made.append(port.uuid)
        except VirtError:
            self._release_ports(d)
            raise
        return made

    def reclaim_ports(self) -> None:
        """After re-attaching running domains: make sure their network ports exist again
        (the network may have been restarted meanwhile). Once per node."""
        net = self.network_ports
        if net is None or self._ports_reclaimed:
            return
        self._ports_reclaimed = True
        with self.lock:
            running = [d for d in self.by_uuid.values() if d.active and d.live is not None]
        for dom in running:
            assert dom.live is not None
            for iface in self._network_ifaces(dom.live):
                src = iface.source
                if not src.portid:
                    continue
                try:
                    bridge = src.bridge or net.bridge_for(src.network)
                    mac = iface.mac.address if iface.mac is not None else ""
                    net.reclaim_interface(src.network, src.portid, dom.name, dom.uuid, mac,
                                          bridge)
                except VirtError as exc:
                    log.warning("%s: cannot reclaim network port %s: %s", dom.name,
                                src.portid, exc.message)

    def _release_ports(self, d: DomainDef) -> None:
        net = self.network_ports
        if net is None:
            return
        for iface in self._network_ifaces(d):
            if iface.source.portid:
                try:
                    net.port_release(iface.source.network, iface.source.portid)
                except VirtError as exc:
                    log.debug("port %s already gone: %s", iface.source.portid, exc)

    def _teardown_filters(self, taps: list[str]) -> None:
        if self.nwfilter is not None and taps:
            domain_nwfilter.teardown(self.nwfilter, taps)

    def _clear_run(self, dom: QemuDomain) -> None:
        if dom.mon is not None:
            mon, dom.mon = dom.mon, None
            _spawn("monitor-close", dom, mon.close)
        dom.proc = None
        dom.live = None
        dom.id = -1
        dom.stopping = None
        dom.expect_stop = None
        dom.async_job, dom.async_phase, dom.async_flags = "", "", 0

    def _forget_run(self, dom: QemuDomain, run_dir: str | None) -> None:
        self.statuses.delete(dom.name)
        if run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)

    def _save_status(self, dom: QemuDomain) -> None:
        """Write ``dom``'s live status (under its lock: one writer per domain)."""
        with dom.lock:
            self._save_status_locked(dom)

    def _save_status_locked(self, dom: QemuDomain) -> None:
        if not dom.active or dom.live is None or dom.proc is None:
            return
        state, reason = _state_name(dom.state, dom.reason)
        self.statuses.save(DomainStatus(
            name=dom.name, pid=dom.proc.pid, domain_xml=format_def(dom.live, dom.id),
            state=state, reason=reason, start_time=dom.proc.start_time,
            argv0=dom.proc.argv0, monitor_path=os.path.join(dom.run_dir or "", "monitor.sock"),
            log_file=self.paths.log_file(dom.name), volumes=dict(dom.volumes),
            pid_file=self._pid_file(dom.name), job=dom.async_job,
            job_phase=dom.async_phase if dom.async_job else "",
            job_flags=dom.async_flags if dom.async_job else 0), dom.uuid)

    def _write_start(self, dom: QemuDomain, record: _StartRecord,
                     proc: process.QemuProcess | None) -> None:
        """The status of a start under way (``paused``/``starting up``): written before
        QEMU is spawned (pid 0) and again once it runs, so a restart finds that QEMU."""
        ctx = record.ctx
        self.statuses.save(DomainStatus(
            name=dom.name, pid=proc.pid if proc is not None else 0,
            domain_xml=format_def(record.definition, record.dom_id),
            state="paused", reason="starting up",
            start_time=proc.start_time if proc is not None else 0, argv0=ctx.emulator,
            monitor_path=ctx.qmp_socket, log_file=ctx.log_file, volumes=dict(ctx.volumes),
            pid_file=ctx.pid_file), dom.uuid)

    # ------------------------------------------------------------ storage

    def translate_volumes(self, definition: DomainDef,
                          disks: list[Any] | None = None) -> dict[tuple[str, str], tuple[str, str]]:
        """Ask the storage driver where each ``<disk type='volume'>`` lives (as libvirt
        does at start and hot-plug); its errors (no pool, inactive pool, no volume) stand."""
        if disks is None:
            disks = definition.devices.disks if definition.devices is not None else []
        out: dict[tuple[str, str], tuple[str, str]] = {}
        for disk in disks:
            src = disk.source
            if disk.type != "volume" or src is None or not src.pool or not src.volume:
                continue
            if self.volume_resolver is None:
                raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                           "volume disks need the storage driver (qemu:///system or embed)")
            out[(src.pool, src.volume)] = self.volume_resolver(src.pool, src.volume)
        return out

    def path_in_use(self, path: str) -> str | None:
        """The running domain whose disks include ``path`` (the storage driver's
        in-use check before it deletes, resizes or wipes a volume), or None."""
        want = os.path.realpath(path)
        with self.lock:
            doms = list(self.by_name.values())
        for dom in doms:  # realpath reads the disk: not under the node lock
            with dom.lock:
                live = dom.live if dom.active else None
                found_paths = [dom.disk_path(disk) for disk in live.devices.disks] \
                    if live is not None and live.devices is not None else []
            if any(found and os.path.realpath(found) == want for found in found_paths):
                return dom.name
        return None

    def pci_in_use(self, addr: tuple[int, int, int, int]) -> tuple[str, str] | None:
        """("QEMU", domain) when a running domain has the host PCI device ``addr``
        assigned (virHostdevIsPCINodeDeviceUsed), else None."""
        with self.lock:
            doms = list(self.by_name.values())
        for dom in doms:
            with dom.lock:
                live = dom.live if dom.active else None
                hostdevs = live.devices.hostdevs if live is not None and live.devices else []
            for hd in hostdevs:
                a = hd.source.address if hd.source is not None else None
                if hd.type != "pci" or a is None:
                    continue
                try:
                    got = tuple(int(x or "0", 0) for x in (a.domain, a.bus, a.slot, a.function))
                except ValueError:
                    continue
                if got == addr:
                    return "QEMU", dom.name
        return None

    # ------------------------------------------------------------ reading

    def domain_xml(self, dom: QemuDomain, inactive: bool) -> str:
        with dom.lock:
            d = dom.definition(inactive)
            return format_def(d, dom.id if (dom.active and not inactive) or
                              dom.persistent is None else -1)

    def cpu_time_ns(self, dom: QemuDomain) -> int:
        proc = dom.proc
        if proc is None:
            return 0
        try:
            return int(proc.cpu_time_ns())
        except OSError:
            return 0


@dataclasses.dataclass(frozen=True)
class _StartRecord:
    """What a start's status record names before the domain object holds it."""

    definition: DomainDef
    dom_id: int
    ctx: command.CommandContext


def _rebuild_command(live: DomainDef, ctx: command.CommandContext) -> command.Command:
    """The names a re-attached QEMU was started with, from its live definition (built on a
    copy: backing chains dropped; a disk an external snapshot moved onto an overlay keeps
    the ``libvirt-INDEX-*`` nodes of its source ``index``)."""
    clone = copy_def(live)
    for disk in clone.devices.disks if clone.devices is not None else []:
        disk.backing_store = None
    cmd = command.build(clone, ctx)
    for disk in live.devices.disks if live.devices is not None else []:
        index = getattr(disk.source, "index", None)
        nodes = cmd.disks.get(disk.target.dev or "") if disk.target is not None else None
        if index and nodes is not None and nodes.format_node is not None:
            cmd.disks[nodes.target] = command.DiskNodes(
                nodes.alias, nodes.target, f"libvirt-{index}-storage", f"libvirt-{index}-format")
    return cmd


def _prepare_nvram(d: DomainDef, ctx: command.CommandContext) -> None:
    """UEFI guests: create the per-domain variable store from its template on first use."""
    nvram = d.os.nvram if d.os is not None else None
    if nvram is None or not nvram.path or os.path.exists(nvram.path):
        return
    template = nvram.template or ctx.ovmf_vars_template
    if not template:
        raise _err(ErrorCode.OPERATION_FAILED,
                   f"unable to find any master var store for loader: {ctx.ovmf_code}")
    try:
        os.makedirs(os.path.dirname(nvram.path), mode=0o700, exist_ok=True)
        shutil.copyfile(template, nvram.path)
        os.chmod(nvram.path, 0o600)
    except OSError as exc:
        raise _err(ErrorCode.SYSTEM_ERROR,
                   f"Failed to create NVRAM file '{nvram.path}': {exc.strerror or exc}") from None


def _spawn(task: str, dom: QemuDomain, fn: Callable[..., object], *args: Any) -> None:
    """Run ``fn(*args)`` on a daemon thread named ``virtkit-qemu-TASK-DOMAIN``; an
    exception is logged with the domain (the thread is supervised, never silent)."""
    def run() -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("domain %s: %s thread failed", dom.name, task)

    threading.Thread(target=run, name=f"virtkit-qemu-{task}-{dom.name}", daemon=True).start()


def _gone_within(proc: Any, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``proc`` to exit; True when it is gone."""
    try:
        proc.wait(timeout)
    except TimeoutError:
        return False
    return True


def _set_pty_path(device: Any, path: str) -> None:
    """Show the pty QEMU allocated in the live XML (``<source path='/dev/pts/N'/>``)."""
    from virtkit.conf.dev_chr import ChrSource

    if not device.sources:
        device.sources.append(ChrSource())
    device.sources[0].path = path


def _id_of(domain_xml: str) -> int:
    """The ``id='N'`` of a live ``<domain>`` document (-1 without one)."""
    m = re.search(r"<domain\b[^>]*\bid=['\"](\d+)['\"]", domain_xml)
    return int(m.group(1)) if m else -1


_nodes: NodeRegistry[QemuNode] = NodeRegistry()


def node_for(paths: QemuPaths, *, autostart: bool = False) -> QemuNode:
    """The node for ``paths.root`` in this process (created, loaded and re-attached once)."""
    return _nodes.acquire(paths.root, lambda: QemuNode(paths, autostart=autostart))


def release(node: QemuNode) -> None:
    """A connection closed (the node stays: its guests keep running and are watched)."""
    _nodes.release(node)
