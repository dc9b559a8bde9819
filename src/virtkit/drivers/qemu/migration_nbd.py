"""Migration of non-shared storage over NBD (``--copy-storage-all``/``-inc``), as
libvirt 9.0's qemu_migration.c does it with a ``-blockdev`` QEMU.

Which disks move (qemuMigrationAnyCopyDisk): the targets named by ``migrate_disks``, or
every writable, non-shareable disk with a source.

Source, Begin: the cookie's ``<nbd>`` lists every disk with its capacity. Destination,
Prepare: disks that do not exist yet are created from those capacities as volumes of the
pool whose target directory holds them (qemuMigrationDstPrecreateStorage); once QEMU runs
(``-incoming defer``), ``nbd-server-start`` on the listen address (a port of the
migration range, ``disks_port``, or ``disks_uri``) and one writable ``block-export-add``
per disk, named after the disk's drive alias (``drive-virtio-disk0``); the cookie answers
``<nbd port=>``. Source, Perform (:class:`SourceCopy`): per disk an NBD client blockdev
(``migration-vda-storage``/``-format``) and a ``blockdev-mirror`` job named after the
drive alias (sync ``full``, ``top`` for ``-inc``, copy mode ``write-blocking`` with
NON_SHARED_SYNCHRONOUS_WRITES); every mirror READY before the memory stream starts; the
stream pauses before the switch-over (QEMU's ``pause-before-switchover``), the mirrors
are cancelled there (a READY mirror then completes: the copy is consistent) and the
stream continues. Any failure cancels the mirrors (forced) and removes the NBD nodes.
Destination, Finish: ``nbd-server-stop``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from virtkit.conf.migration_cookie import CookieNBD, MigrationCookie
from virtkit.constants import DomainMigrateFlags, StorageVolCreateFlags
from virtkit.drivers.domainjob import JobStatus
from virtkit.drivers.qemu.node import QemuDomain, QemuNode
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error
from virtkit.types import TypedParams, TypedValue

__all__ = [
    "DestServer",
    "SourceCopy",
    "add_begin_nbd",
    "cancel_stream",
    "check_begin",
    "copy_disk",
    "dest_cookie_nbd",
    "migrate_disks",
    "precreate_storage",
    "start_server",
    "stop_server",
    "storage_requested",
]

F = DomainMigrateFlags
_Q = ErrorDomain.QEMU
_STORAGE = int(F.NON_SHARED_DISK | F.NON_SHARED_INC)
_WAIT_LIMIT = 3600.0  # hang guard for the mirrors (seconds)
_PREALLOC_METADATA = int(StorageVolCreateFlags.PREALLOC_METADATA)


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _Q, detail)


def storage_requested(flags: int) -> bool:
    """NON_SHARED_DISK or NON_SHARED_INC."""
    return bool(flags & _STORAGE)


def migrate_disks(params: TypedParams | dict[str, Any]) -> list[str]:
    """The ``migrate_disks`` targets: one string, or several (a list or tuple, as a
    repeated typed parameter arrives)."""
    value: Any = params.get("migrate_disks")
    if value is None:
        return []
    values: Iterable[Any] = [value] if isinstance(value, str) else value
    out: list[str] = []
    for v in values:
        if not isinstance(v, str):
            raise _err(ErrorCode.INVALID_ARG, "invalid type for parameter 'migrate_disks'")
        out.append(v)
    return out


def _disks(d: Any) -> list[Any]:
    return list(d.devices.disks) if d is not None and d.devices is not None else []


def _target(disk: Any) -> str:
    return str(disk.target.dev or "") if disk.target is not None else ""


def _has_source(disk: Any) -> bool:
    src = disk.source
    return src is not None and any(getattr(src, a) for a in (
        "file", "dev", "dir", "name", "volume", "path"))


def copy_disk(disk: Any, wanted: Sequence[str]) -> bool:
    """qemuMigrationAnyCopyDisk: named by ``migrate_disks``, else writable, not
    shareable, with a source."""
    if wanted:
        return _target(disk) in wanted
    return not disk.shareable and not disk.readonly and disk.device != "cdrom" \
        and _has_source(disk)


def check_begin(d: Any, flags: int, wanted: Sequence[str]) -> bool:
    """qemuMigrationSrcBeginPhase's storage checks; True when the cookie needs ``<nbd>``
    (a storage migration with at least one disk to copy)."""
    if not storage_requested(flags):
        return False
    if flags & F.TUNNELLED:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED, "migration of non-shared storage is not "
                   "supported with tunnelled migration and this QEMU")
    targets = {_target(disk) for disk in _disks(d)}
    for name in wanted:
        if name not in targets:
            raise _err(ErrorCode.INVALID_ARG, f"disk target {name} not found")
    return any(copy_disk(disk, wanted) for disk in _disks(d))


def _capacities(dom: QemuDomain) -> list[tuple[str, int]]:
    """(target, virtual size) of each disk QEMU has a format node for
    (qemuMigrationCookieAddNBD's capacity lookup)."""
    mon, cmd = dom.mon, dom.command
    if mon is None or cmd is None:
        return []
    sizes: dict[str, int] = {}
    for node in mon.execute("query-named-block-nodes", {"flat": True}) or []:
        image = node.get("image") or {}
        if isinstance(node.get("node-name"), str) and isinstance(image.get("virtual-size"), int):
            sizes[node["node-name"]] = image["virtual-size"]
    out = []
    for disk in _disks(dom.live):
        nodes = cmd.disks.get(_target(disk))
        if nodes is not None and nodes.format_node in sizes:
            out.append((_target(disk), sizes[nodes.format_node]))
    return out


def add_begin_nbd(dom: QemuDomain, cookie: MigrationCookie) -> None:
    """Begin's ``<nbd>``: no port, every disk with its capacity."""
    cookie.nbd = CookieNBD(0, _capacities(dom))


def _drive_alias(disk: Any) -> str:
    """qemuAliasDiskDriveFromDisk: ``drive-`` and the device alias."""
    if disk.alias is None or not disk.alias.name:
        raise _err(ErrorCode.INVALID_ARG, "disk does not have an alias")
    return f"drive-{disk.alias.name}"


# ---------------------------------------------------------------- destination: storage


def precreate_storage(node: QemuNode, d: Any, nbd: CookieNBD | None,
                      wanted: Sequence[str], incremental: bool) -> None:
    """qemuMigrationDstPrecreateStorage: create each disk to copy whose source does not
    exist, from the capacity the source sent (as libvirt, a failed migration leaves
    them)."""
    if nbd is None or not nbd.disks:
        return
    by_target = {_target(disk): disk for disk in _disks(d)}
    for target, capacity in nbd.disks:
        disk = by_target.get(target)
        if disk is None:
            raise _err(ErrorCode.INTERNAL_ERROR, f"unable to find disk by target: {target}")
        if not copy_disk(disk, wanted):
            continue
        if disk.type in (None, "file", "block") and disk.source is not None:
            path = disk.source.file if disk.type in (None, "file") else disk.source.dev
            if path and os.path.exists(path):
                continue
        if disk.type == "volume" and disk.source is not None and node.volume_resolver:
            try:
                node.volume_resolver(disk.source.pool or "", disk.source.volume or "")
                continue  # the volume exists
            except VirtError:
                pass
        if incremental:
            raise _err(ErrorCode.OPERATION_UNSUPPORTED, "pre-creation of storage targets "
                       "for incremental storage migration is not supported")
        _precreate_disk(node, disk, capacity)


def _precreate_disk(node: QemuNode, disk: Any, capacity: int) -> None:
    """qemuMigrationDstPrecreateDisk: a volume in the pool whose target directory holds
    the file (format from the disk's driver; qcow2 with metadata preallocation, compat
    1.1), or the named volume of a volume disk."""
    kind = disk.type or "file"
    src = disk.source
    fmt = disk.driver.type if disk.driver is not None and disk.driver.type else "raw"
    if kind == "file":
        path = src.file if src is not None else None
        if not path:
            return  # sourceless: nothing to create
        base, _, vol_name = path.rpartition("/")
        if not _:
            raise _err(ErrorCode.INVALID_ARG, f"malformed disk path: {path}")
        pools = node.volume_creation
        pool = pools.pool_at_directory(base or "/") if pools is not None else None
        if pools is None or pool is None:
            raise make_error(ErrorCode.NO_STORAGE_POOL, ErrorDomain.STORAGE,
                             f"no storage pool with matching target path '{base}'")
        compat = "1.1" if fmt == "qcow2" else None
    elif kind == "volume":
        pools = node.volume_creation
        pool = src.pool if src is not None else None
        if pools is None or not pool or not pools.pool_known(pool):
            raise make_error(ErrorCode.NO_STORAGE_POOL, ErrorDomain.STORAGE,
                             f"no storage pool with matching name '{pool or ''}'")
        vol_name, compat = src.volume or "", None
    elif kind == "network":
        return  # libvirt skips network disks
    else:
        raise _err(ErrorCode.INTERNAL_ERROR,
                   f"cannot precreate storage for disk type '{kind}'")
    xml = (f"<volume>\n  <name>{vol_name}</name>\n  <capacity>{capacity}</capacity>\n"
           f"  <target>\n    <format type='{fmt}'/>\n"
           + (f"    <compat>{compat}</compat>\n" if compat else "")
           + "  </target>\n</volume>\n")
    pools.create_volume_in(pool, xml, _PREALLOC_METADATA if fmt == "qcow2" else 0)


# ---------------------------------------------------------------- destination: NBD server


@dataclass
class DestServer:
    """The NBD server of one incoming domain."""

    port: int  # 0 with a UNIX socket
    owned_port: bool  # taken from the migration range (released at the end)


_servers: weakref.WeakKeyDictionary[QemuDomain, DestServer] = weakref.WeakKeyDictionary()
_servers_lock = threading.Lock()


def _server_addr(params: TypedParams, listen: str) -> tuple[dict[str, Any], int]:
    """qemuMigrationDstStartNBDServer's address: ``disks_uri`` (tcp://HOST[:PORT] or
    unix:///PATH), else the listen address and ``disks_port`` (0: allocate)."""
    uri = params.get("disks_uri")
    port_v: TypedValue | None = params.get("disks_port")
    port = int(port_v) if isinstance(port_v, int) else 0
    if isinstance(uri, str) and uri:
        parts = urlsplit(uri)
        if not parts.scheme:
            raise _err(ErrorCode.INVALID_ARG, f"No URI scheme specified: {uri}")
        if parts.scheme == "tcp":
            if not parts.hostname:
                raise _err(ErrorCode.INVALID_ARG,
                           f"URI with tcp scheme did not provide a server part: {uri}")
            return {"type": "inet", "data": {"host": parts.hostname}}, parts.port or port
        if parts.scheme == "unix":
            if not parts.path:
                raise _err(ErrorCode.INVALID_ARG, "UNIX disks URI does not include path")
            return {"type": "unix", "data": {"path": parts.path}}, -1
        raise _err(ErrorCode.INVALID_ARG, f"Unsupported scheme in disks URI: {parts.scheme}")
    if port < 0 or port > 65535:
        raise _err(ErrorCode.INVALID_ARG, "nbd port must be in range 0-65535")
    return {"type": "inet", "data": {"host": listen or "0.0.0.0"}}, port


def start_server(dom: QemuDomain, params: TypedParams, listen: str,
                 wanted: Sequence[str], flags: int = 0) -> DestServer:
    """NBD server and one writable export per disk to copy (QMP ``nbd-server-start``,
    with VIR_MIGRATE_TLS the migration's TLS credentials; ``block-export-add``); the port
    goes into the cookie."""
    from virtkit.drivers.qemu import migration as mig
    from virtkit.drivers.qemu.migration_params import TLS_ALIAS

    addr, port = _server_addr(params, listen)
    mon, cmd = dom.mon, dom.command
    assert mon is not None and cmd is not None
    server = DestServer(0, False)
    started = False
    try:
        for disk in _disks(dom.live):
            if not copy_disk(disk, wanted):
                continue
            if disk.readonly or not _has_source(disk):
                raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                           f"Cannot migrate empty or read-only disk {_target(disk)}")
            alias = _drive_alias(disk)
            nodes = cmd.disks.get(_target(disk))
            if nodes is None or nodes.format_node is None:
                raise _err(ErrorCode.INTERNAL_ERROR,
                           f"no block node for disk '{_target(disk)}'")
            if not started:
                if addr["type"] == "inet":
                    if port > 0:  # virPortAllocatorSetUsed
                        with mig._ports_lock:
                            mig._ports_taken.add(port)
                    else:
                        port = mig.allocate_port(addr["data"]["host"])
                    server.port, server.owned_port = port, True
                    addr["data"]["port"] = str(port)
                start: dict[str, Any] = {"addr": addr}
                if flags & F.TLS:
                    start["tls-creds"] = TLS_ALIAS
                mon.execute("nbd-server-start", start)
                started = True
            mon.execute("block-export-add", {
                "type": "nbd", "id": f"libvirt-nbd-{nodes.format_node}",
                "node-name": nodes.format_node, "writable": True, "name": alias})
    except BaseException:
        if server.owned_port:
            mig.release_port(server.port)
        raise
    with _servers_lock:
        _servers[dom] = server
    return server


def dest_cookie_nbd(dom: QemuDomain, server: DestServer) -> CookieNBD:
    """Prepare's ``<nbd port=>`` with the destination's disks."""
    return CookieNBD(max(server.port, 0), _capacities(dom))


def stop_server(dom: QemuDomain) -> None:
    """Finish (or a failed incoming migration): ``nbd-server-stop``, the port back."""
    from virtkit.drivers.qemu import migration as mig

    with _servers_lock:
        server = _servers.pop(dom, None)
    if server is None:
        return
    mon = dom.mon
    if mon is not None and dom.active:
        with contextlib.suppress(VirtError):  # libvirt warns "Unable to stop NBD server"
            mon.execute("nbd-server-stop")
    if server.owned_port:
        mig.release_port(server.port)


# ---------------------------------------------------------------- source: the mirrors


@dataclass
class _Mirror:
    target: str
    job: str  # the job id: the drive alias
    storage: str  # migration-<target>-storage
    fmt: str  # migration-<target>-format
    running: bool = True


class SourceCopy:
    """The storage copy of one outgoing migration (qemuMigrationSrcNBDStorageCopy and
    qemuMigrationSrcNBDCopyCancel)."""

    def __init__(self, dom: QemuDomain, mon: Any) -> None:
        self.dom = dom
        self.mon = mon
        self.mirrors: list[_Mirror] = []
        self.switchover_cap = False

    # ---- start

    @classmethod
    def start(cls, dom: QemuDomain, cookie: MigrationCookie | None, host: str,
              params: TypedParams, flags: int, speed_mib: int) -> SourceCopy | None:
        """Attach the NBD targets and start the mirrors (the caller holds the domain's
        job, then waits with :meth:`wait_ready` without it); None when no disk is to be
        copied."""
        wanted = migrate_disks(params)
        copied = [disk for disk in _disks(dom.live) if copy_disk(disk, wanted)]
        if not storage_requested(flags) or not copied:
            return None
        if cookie is None or cookie.nbd is None:
            raise _err(ErrorCode.INTERNAL_ERROR,
                       "migration of non-shared disks requested but NBD is not set up")
        server = _client_server(host, cookie.nbd.port, params, flags)
        tls: dict[str, Any] = {}
        if flags & F.TLS:  # the migration's credentials (migration_params made them)
            from virtkit.drivers.qemu.migration_params import TLS_ALIAS

            dest = params.get("tls.destination")
            tls = {"tls-creds": TLS_ALIAS}
            name = dest if isinstance(dest, str) and dest else server.get("host")
            if name:
                tls["tls-hostname"] = name
        mon = dom.mon
        assert mon is not None
        self = cls(dom, mon)
        try:
            for disk in copied:
                self._start_one(disk, server, flags, speed_mib, tls)
            mon.execute("migrate-set-capabilities", {"capabilities": [
                {"capability": "pause-before-switchover", "state": True}]})
            self.switchover_cap = True
        except BaseException:
            self.abort()
            raise
        return self

    def _start_one(self, disk: Any, server: dict[str, Any], flags: int,
                   speed_mib: int, tls: dict[str, Any]) -> None:
        target = _target(disk)
        alias = _drive_alias(disk)
        cmd = self.dom.command
        nodes = cmd.disks.get(target) if cmd is not None else None
        if nodes is None or nodes.format_node is None:
            raise _err(ErrorCode.INTERNAL_ERROR, f"no block node for disk '{target}'")
        m = _Mirror(target, alias, f"migration-{target}-storage", f"migration-{target}-format",
                    running=False)
        self.mon.execute("blockdev-add", {"driver": "nbd", "server": server, "export": alias,
                                          **tls, "node-name": m.storage, "read-only": False})
        try:
            self.mon.execute("blockdev-add", {"node-name": m.fmt, "read-only": False,
                                              "driver": "raw", "file": m.storage})
        except VirtError:
            self._del_node(m.storage)
            raise
        self.mirrors.append(m)
        args: dict[str, Any] = {
            "job-id": alias, "device": nodes.format_node, "target": m.fmt,
            "sync": "top" if flags & F.NON_SHARED_INC else "full",
            "auto-finalize": True, "auto-dismiss": False}
        if speed_mib:
            args["speed"] = speed_mib * 1024 * 1024
        if flags & F.NON_SHARED_SYNCHRONOUS_WRITES:
            args["copy-mode"] = "write-blocking"
        self.mon.execute("blockdev-mirror", args)
        m.running = True

    def _jobs(self) -> dict[str, dict[str, Any]]:
        return {j.get("device", ""): j for j in self.mon.execute("query-block-jobs") or []}

    def update_stats(self, data: Any, jobs: dict[str, dict[str, Any]] | None = None) -> None:
        """disk_total / disk_processed / disk_remaining (qemuMigrationSrcFetchMirrorStats)."""
        if jobs is None:
            jobs = self._jobs()
        total = processed = 0
        for m in self.mirrors:
            j = jobs.get(m.job)
            if j is None:
                continue
            total += int(j.get("len", 0))
            processed += int(j.get("offset", 0))
        if total or processed:
            data.stats["disk_total"] = total
            data.stats["disk_processed"] = processed
            data.stats["disk_remaining"] = total - processed
            data.update_time()

    def _failure(self, m: _Mirror, job: dict[str, Any]) -> VirtError:
        msg = job.get("error")
        return _err(ErrorCode.OPERATION_FAILED, f"migration of disk {m.target} failed: {msg}"
                    if msg else f"migration of disk {m.target} failed")

    def wait_ready(self, data: Any) -> None:
        """qemuMigrationSrcNBDStorageCopyReady until all mirrors are READY (progress in
        the job's data; ``domjobabort`` ends the wait)."""
        deadline = time.monotonic() + _WAIT_LIMIT
        while True:
            jobs = self._jobs()
            self.update_stats(data, jobs)
            ready = 0
            for m in self.mirrors:
                j = jobs.get(m.job)
                if j is None or j.get("status") == "concluded":
                    raise self._failure(m, j or {})
                if j.get("ready"):
                    ready += 1
            if ready == len(self.mirrors):
                return
            if self.dom.job.abort_requested:
                data.status = JobStatus.CANCELED
                raise _err(ErrorCode.OPERATION_ABORTED, "migration out: canceled by client")
            if not self.dom.active:
                raise _err(ErrorCode.OPERATION_FAILED,
                           "migration out: guest unexpectedly quit")
            if time.monotonic() > deadline:
                raise _err(ErrorCode.OPERATION_TIMEOUT,
                           f"disk mirrors not ready in {_WAIT_LIMIT:g} s")
            time.sleep(0.05)

    # ---- end

    def poll(self, data: Any) -> None:
        """During the memory stream: progress, and a failed mirror fails the migration
        (QEMU_MIGRATION_COMPLETED_CHECK_STORAGE)."""
        jobs = self._jobs()
        self.update_stats(data, jobs)
        for m in self.mirrors:
            j = jobs.get(m.job)
            if m.running and (j is None or j.get("status") == "concluded"):
                raise self._failure(m, j or {})

    def switchover(self, data: Any) -> None:
        """At ``pre-switchover`` (the guest paused): cancel the READY mirrors, which
        completes them with the destination in sync, and wait until they are gone."""
        self.update_stats(data)
        self._cancel(force=False)
        failure = self._wait_gone(report=True)
        if failure is not None:
            raise failure

    def _cancel(self, *, force: bool) -> None:
        for m in self.mirrors:
            if not m.running:
                continue
            try:
                self.mon.execute("block-job-cancel", {"device": m.job, "force": force})
            except VirtError:
                if self.dom.mon is None or not self.dom.active:
                    raise
                # already concluded: _wait_gone collects it

    def _wait_gone(self, *, report: bool) -> VirtError | None:
        """Until every mirror has concluded (dismissed here); the first failure."""
        failure: VirtError | None = None
        deadline = time.monotonic() + _WAIT_LIMIT
        while any(m.running for m in self.mirrors):
            jobs = self._jobs()
            for m in self.mirrors:
                if not m.running:
                    continue
                j = jobs.get(m.job)
                if j is None or j.get("status") in ("concluded", "null"):
                    if j is not None:
                        with contextlib.suppress(VirtError):
                            self.mon.execute("job-dismiss", {"id": m.job})
                    m.running = False
                    if report and failure is None and (j is None or j.get("error")):
                        failure = self._failure(m, j or {})
            if time.monotonic() > deadline:
                raise _err(ErrorCode.OPERATION_TIMEOUT,
                           f"disk mirrors not cancelled in {_WAIT_LIMIT:g} s")
            if any(m.running for m in self.mirrors):
                time.sleep(0.05)
        return failure

    def finish(self) -> None:
        """After a successful stream: the NBD nodes go."""
        self._cleanup()

    def abort(self) -> None:
        """Any failure: forced cancel of the mirrors, the NBD nodes removed; the source
        keeps its own disks. Errors (a dead QEMU) are swallowed: the caller reports its
        own."""
        try:
            if self.dom.active and self.dom.mon is not None:
                self._cancel(force=True)
                self._wait_gone(report=False)
        except VirtError:
            pass
        self._cleanup()

    def _cleanup(self) -> None:
        if not self.dom.active or self.dom.mon is None:
            self.mirrors.clear()
            return
        if self.switchover_cap:
            with contextlib.suppress(VirtError):
                self.mon.execute("migrate-set-capabilities", {"capabilities": [
                    {"capability": "pause-before-switchover", "state": False}]})
            self.switchover_cap = False
        for m in self.mirrors:
            self._del_node(m.fmt)
            self._del_node(m.storage)
        self.mirrors.clear()

    def _del_node(self, name: str) -> None:
        with contextlib.suppress(VirtError):
            self.mon.execute("blockdev-del", {"node-name": name})


def _client_server(host: str, port: int, params: TypedParams, flags: int) -> dict[str, Any]:
    """The NBD server the source connects to: the destination's cookie port on the
    migration host, or what ``disks_uri`` says (qemuMigrationSrcNBDStorageCopy)."""
    uri = params.get("disks_uri")
    if isinstance(uri, str) and uri:
        parts = urlsplit(uri)
        if parts.scheme == "tcp":
            host = parts.hostname or host
            port = parts.port or port
        elif parts.scheme == "unix":
            if flags & F.TLS:
                raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                           "NBD migration with TLS is not supported over UNIX socket")
            if not parts.path:
                raise _err(ErrorCode.INVALID_ARG, "UNIX disks URI does not include path")
            return {"type": "unix", "path": parts.path}
        else:
            raise _err(ErrorCode.INVALID_ARG,
                       f"Unsupported scheme in disks URI: {parts.scheme}")
    if not port:
        raise _err(ErrorCode.INTERNAL_ERROR,
                   "migration of non-shared disks requested but NBD is not set up")
    return {"type": "inet", "host": host, "port": str(port)}


def cancel_stream(mon: Any, limit: float = 30.0) -> None:
    """``migrate_cancel`` after a storage failure, and wait until QEMU has left the
    migration (so that the source can run on)."""
    try:
        mon.execute("migrate_cancel")
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            status = (mon.execute("query-migrate") or {}).get("status")
            if status not in ("active", "cancelling", "pre-switchover", "device", "setup"):
                return
            time.sleep(0.05)
    except VirtError:
        pass
