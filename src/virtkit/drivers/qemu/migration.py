"""Live and offline migration of QEMU domains: libvirt's protocol version 3 (src/qemu/
qemu_migration.c), one function per phase, on a :class:`QemuNode`.

Source: ``begin`` (checks, the XML to send, cookie), ``perform`` (QMP ``migrate`` to the
destination's TCP listener under the async job MIGRATION_OUT: progress in the job data,
``domjobabort`` cancels it, the guest runs on when it fails), ``confirm`` (kill the source
QEMU, STOPPED/MIGRATED, or resume it, RESUMED/MIGRATED, when the migration was cancelled).
Destination: ``prepare`` (QEMU started with ``-incoming defer``, paused, then
``migrate-incoming`` on a port of libvirt's migration range 49152-49215; STARTED/MIGRATED)
and ``finish`` (wait for the stream, define the domain with PERSIST_DEST, resume it:
RESUMED/MIGRATED; or kill it when cancelled).

The migration async jobs span the phases (MIGRATION_OUT from Begin, or Perform, to
Confirm; MIGRATION_IN from Prepare to Finish), each phase in the status file:
``migration_job``; a daemon restarted mid-migration ends it: ``migration_recovery``.

``peer2peer`` runs libvirt's virDomainMigrateVersion3Full (``drivers/migrate3.py``, the
same code a client runs in managed direct mode) from the source daemon, with the
destination opened through the remote driver.

Each node has a host UUID of its own for the cookie's same-host check: the machine's for
the system root ``/``, derived from the root's path for any other root (a test "host").
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from virtkit.conf.migration_cookie import CookieFlag, CookieStats, MigrationCookie
from virtkit.constants import (
    DomainEventID,
    DomainMigrateFlags,
    DomainPausedReason,
    DomainRunningReason,
    DomainShutoffReason,
)
from virtkit.drivers import nodeinfo
from virtkit.drivers.domainjob import AsyncJob, Job, JobStatus
from virtkit.drivers.domainobj import EV_DEFINED, EV_SUSPENDED, PAUSED, PAUSED_USER, SHUTOFF_FAILED
from virtkit.drivers.migrate3 import MigrationPeer, migrate_v3
from virtkit.drivers.qemu import migration_job as mj
from virtkit.drivers.qemu import migration_nbd as nbd
from virtkit.drivers.qemu import migration_params as mparams
from virtkit.drivers.qemu import migration_recovery, migration_tunnel
from virtkit.drivers.qemu import node as qn
from virtkit.drivers.qemu.defs import copy_def, drop_generated_paths, format_def, parse_def
from virtkit.drivers.qemu.node import QemuDomain, QemuNode
from virtkit.drivers.qemu.saveimage import migration_stats
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, invalid_flags, make_error
from virtkit.streams import DataStream
from virtkit.types import DomainIdent, TypedParams

__all__ = [
    "MIGRATION_FLAGS",
    "PORT_MAX",
    "PORT_MIN",
    "begin",
    "confirm",
    "finish",
    "host_uuid",
    "perform",
    "prepare",
]

log = logging.getLogger("virtkit.drivers.qemu.migration")

_Q = ErrorDomain.QEMU
F = DomainMigrateFlags
PORT_MIN, PORT_MAX = 49152, 49215  # libvirt's migration_port_min / _max
# QEMU_MIGRATION_FLAGS: what virCheckFlags lets through
MIGRATION_FLAGS = int(
    F.LIVE | F.PEER2PEER | F.TUNNELLED | F.PERSIST_DEST | F.UNDEFINE_SOURCE | F.PAUSED
    | F.NON_SHARED_DISK | F.NON_SHARED_INC | F.CHANGE_PROTECTION | F.UNSAFE | F.OFFLINE
    | F.COMPRESSED | F.ABORT_ON_ERROR | F.AUTO_CONVERGE | F.RDMA_PIN_ALL | F.POSTCOPY
    | F.TLS | F.PARALLEL | F.NON_SHARED_SYNCHRONOUS_WRITES | F.POSTCOPY_RESUME | F.ZEROCOPY)
# Accepted flags virtkit does not carry out yet: refused, never silently ignored.
_NOT_YET = {F.RDMA_PIN_ALL: "RDMA migration", F.POSTCOPY_RESUME: "post-copy migration"}
# The cookie sections each phase accepts (the flags libvirt's phases parse with).
_ACCEPT_PREPARE = (CookieFlag.LOCKSTATE | CookieFlag.NBD | CookieFlag.MEMORY_HOTPLUG
                   | CookieFlag.CPU_HOTPLUG | CookieFlag.CPU | CookieFlag.ALLOW_REBOOT
                   | CookieFlag.CAPS | CookieFlag.BLOCK_DIRTY_BITMAPS)
_ACCEPT_PERFORM = (CookieFlag.GRAPHICS | CookieFlag.NBD | CookieFlag.CAPS
                   | CookieFlag.BLOCK_DIRTY_BITMAPS)
_ACCEPT_FINISH = (CookieFlag.NETWORK | CookieFlag.PERSISTENT | CookieFlag.STATS
                  | CookieFlag.NBD)
_ACCEPT_CONFIRM = CookieFlag.STATS
_RUNNING_MIGRATED = int(DomainRunningReason.MIGRATED)
_RUNNING_CANCELED = int(DomainRunningReason.MIGRATION_CANCELED)
_SHUTOFF_MIGRATED = int(DomainShutoffReason.MIGRATED)
_PAUSED_MIGRATION = qn._PAUSED_MIGRATION
_PAUSED_IOERROR = int(DomainPausedReason.IOERROR)
_EVENT_JOB_COMPLETED = int(DomainEventID.JOB_COMPLETED)
_WAIT_LIMIT = 3600.0  # hang guard for one migration stream (seconds)


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _Q, detail)


# ---------------------------------------------------------------- host identity, ports


def host_uuid(node: QemuNode) -> str:
    """The UUID this node puts in cookies: the machine's for root ``/``, else one
    derived from the root (so two roots on one machine are two hosts)."""
    from virtkit.drivers.qemu.caps import node_host_uuid

    return node_host_uuid(node.paths.root, node.paths.embedded)


_ports_lock = threading.Lock()
_ports_taken: set[int] = set()


def allocate_port(address: str = "") -> int:
    """The first port of PORT_MIN..PORT_MAX that nobody (in this process, or on
    ``address``) uses: libvirt's virPortAllocatorAcquire over the migration range."""
    with _ports_lock:
        for port in range(PORT_MIN, PORT_MAX + 1):
            if port in _ports_taken:
                continue
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((address, port))
                except OSError:
                    continue
            _ports_taken.add(port)
            return port
    raise _err(ErrorCode.INTERNAL_ERROR,
               f"Unable to find an unused port in range 'migration' ({PORT_MIN}-{PORT_MAX})")


def release_port(port: int) -> None:
    with _ports_lock:
        _ports_taken.discard(port)


def parse_uri(uri: str) -> tuple[str, int]:
    """``tcp://HOST[:PORT]`` or ``tcp:HOST[:PORT]`` -> (host, port or 0), as
    qemuMigrationAnyParseURI reads a migration URI."""
    from urllib.parse import urlsplit

    text = uri if "://" in uri else uri.replace(":", "://", 1)
    parts = urlsplit(text)
    if not parts.scheme:
        raise _err(ErrorCode.INVALID_ARG, f"missing scheme in migration URI: {uri}")
    if parts.scheme != "tcp":
        if parts.scheme in ("rdma", "unix"):
            raise _err(ErrorCode.ARGUMENT_UNSUPPORTED,
                       f"migration URI scheme {parts.scheme} is not supported by virtkit")
        raise _err(ErrorCode.ARGUMENT_UNSUPPORTED,
                   f"unsupported scheme {parts.scheme} in migration URI {uri}")
    try:
        port = parts.port or 0
    except ValueError:
        raise _err(ErrorCode.INVALID_ARG, f"invalid port in migration URI {uri}") from None
    return parts.hostname or "", port


def _qemu_addr(host: str, port: int) -> str:
    return f"tcp:[{host}]:{port}" if ":" in host else f"tcp:{host}:{port}"


# ---------------------------------------------------------------- per-node state


@dataclass
class _Incoming:
    """A destination domain between Prepare and Finish."""

    port: int
    origname: str
    flags: int
    uuid: str = ""
    xml: str = ""  # the definition Prepare took (an offline Finish defines it)


@dataclass
class _Tunables:
    """virDomainMigrateSetMaxDowntime / SetMaxSpeed values kept for the next migration."""

    downtime_ms: int = 300  # QEMU's default downtime-limit
    speed_mib: int = 0  # 0: QEMU's default (unlimited in libvirt's terms)
    was_running: bool = True  # before the last Perform: what a cancelled Confirm restores


_incoming: weakref.WeakKeyDictionary[QemuNode, dict[str, _Incoming]] = \
    weakref.WeakKeyDictionary()
_tunables: weakref.WeakKeyDictionary[QemuDomain, _Tunables] = weakref.WeakKeyDictionary()
_state_lock = threading.Lock()


def tunables(dom: QemuDomain) -> _Tunables:
    with _state_lock:
        return _tunables.setdefault(dom, _Tunables())


def _incoming_of(node: QemuNode) -> dict[str, _Incoming]:
    with _state_lock:
        return _incoming.setdefault(node, {})


# ---------------------------------------------------------------- checks


def check_flags(flags: int, function: str) -> None:
    """virCheckFlags(QEMU_MIGRATION_FLAGS), then what virtkit does not do yet."""
    check_mask(flags, function)
    for flag, what in _NOT_YET.items():
        if flags & flag:
            raise _err(ErrorCode.ARGUMENT_UNSUPPORTED, f"{what} is not supported by virtkit")


# QEMU_MIGRATION_PARAMETERS: the VIR_MIGRATE_PARAM_* names and types the driver takes
# (rpc/bindings.py sends them with these types)
PARAM_TYPES: dict[str, str] = {
    **dict.fromkeys(("migrate_uri", "destination_name", "destination_xml", "graphics_uri",
                     "listen_address", "migrate_disks", "compression", "persistent_xml",
                     "tls.destination", "disks_uri"), "string"),
    **dict.fromkeys(("bandwidth", "compression.xbzrle.cache", "bandwidth.postcopy"),
                    "ullong"),
    **dict.fromkeys(("disks_port", "compression.mt.level", "compression.mt.threads",
                     "compression.mt.dthreads", "auto_converge.initial",
                     "auto_converge.increment", "parallel.connections"), "int"),
}


def check_params(params: TypedParams) -> None:
    """virTypedParamsValidate(params, QEMU_MIGRATION_PARAMETERS)."""
    for name, value in params.items():
        expected = PARAM_TYPES.get(name)
        if expected is None:
            raise _err(ErrorCode.ARGUMENT_UNSUPPORTED, f"parameter '{name}' not supported")
        if name in ("migrate_disks", "compression") and isinstance(value, (list, tuple)):
            # given several times (rpc/typedparams.py MULTI_FIELDS): every value a string
            value = next((v for v in value if not isinstance(v, str)), "")
        if (expected == "string") != isinstance(value, str) or isinstance(value, bool) \
                or (expected != "string" and not isinstance(value, int)):
            got = "string" if isinstance(value, str) else type(value).__name__
            raise _err(ErrorCode.INVALID_ARG, f"invalid type '{got}' for parameter "
                       f"'{name}', expected '{expected}'")


def check_mask(flags: int, function: str) -> None:
    """virCheckFlags(QEMU_MIGRATION_FLAGS)."""
    if flags & ~MIGRATION_FLAGS:
        raise invalid_flags(flags & ~MIGRATION_FLAGS, function, _Q)


def _check_begin(dom: QemuDomain, flags: int) -> None:
    """qemuMigrationSrcBeginPhase's checks (and virDomainObjCheckActive)."""
    check_mask(flags, "qemuDomainMigrateBegin3Params")
    if flags & F.OFFLINE:
        if flags & (F.NON_SHARED_DISK | F.NON_SHARED_INC):
            raise _err(ErrorCode.OPERATION_INVALID,
                       "offline migration cannot handle non-shared storage")
        if not flags & F.PERSIST_DEST:
            raise _err(ErrorCode.OPERATION_INVALID,
                       "offline migration must be specified with the persistent flag set")
        if flags & F.TUNNELLED:
            raise _err(ErrorCode.OPERATION_INVALID,
                       "tunnelled offline migration does not make sense")
        if dom.persistent is None and not dom.active:
            raise _err(ErrorCode.OPERATION_INVALID, "domain is not running")
    elif not dom.active:
        raise _err(ErrorCode.OPERATION_INVALID, "domain is not running")
    if flags & F.POSTCOPY and (not flags & F.LIVE or flags & F.PAUSED):
        raise _err(ErrorCode.ARGUMENT_UNSUPPORTED,
                   "post-copy migration is not supported with non-live or paused migration")
    mparams.check_begin(flags)
    if flags & F.ZEROCOPY and not flags & F.PARALLEL:
        raise _err(ErrorCode.OPERATION_INVALID,
                   "zero-copy is only available for parallel migration")
    _check_allowed(dom, flags)
    check_flags(flags, "qemuMigrationSrcBegin")
    if dom.active and dom.job.async_active and not flags & F.CHANGE_PROTECTION:
        raise _err(ErrorCode.OPERATION_INVALID,
                   f"another migration job is already running for domain '{dom.name}'")


def _check_allowed(dom: QemuDomain, flags: int) -> None:
    """qemuMigrationSrcIsAllowed (to a remote host): no snapshots, no migration blocker
    QEMU reports (query-migrate's blocked-reasons), no I/O error pause with
    ABORT_ON_ERROR."""
    if len(dom.snapshots):
        raise _err(ErrorCode.OPERATION_INVALID,
                   f"cannot migrate domain with {len(dom.snapshots)} snapshots")
    if flags & F.OFFLINE or not dom.active or dom.mon is None:
        return
    reasons = dom.mon.execute("query-migrate").get("blocked-reasons") or []
    if reasons:
        raise _err(ErrorCode.OPERATION_INVALID, f"cannot migrate domain: {'; '.join(reasons)}")
    if flags & F.ABORT_ON_ERROR and dom.state == PAUSED \
            and dom.reason == _PAUSED_IOERROR:
        raise _err(ErrorCode.OPERATION_INVALID, "cannot migrate domain with I/O error")


def _string(params: TypedParams, key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _err(ErrorCode.INVALID_ARG, f"invalid type for parameter '{key}'")
    return value


def _cookie(node: QemuNode, name: str, uuid: str) -> MigrationCookie:
    return MigrationCookie(name, uuid, nodeinfo.hostname(), host_uuid(node))


def _migratable_xml(node: QemuNode, d: Any) -> str:
    """The definition as it travels: libvirt's migratable form, without this run's
    generated socket paths."""
    copy = copy_def(d)
    drop_generated_paths(copy, node.paths.lib_dir)
    return format_def(copy, -1)


# ---------------------------------------------------------------- source


def begin(node: QemuNode, dom: QemuDomain, params: TypedParams, flags: int,
          closing: list[Callable[[], None]] | None = None) -> tuple[bytes, str]:
    """Begin3: check, then the domain XML to send and the first cookie. With
    CHANGE_PROTECTION the async job MIGRATION_OUT starts here (phase begin3) and waits
    for Perform; the connection's ``closing`` list drops it if the client goes."""
    if not flags & F.CHANGE_PROTECTION:
        return _begin_phase(node, dom, params, flags)
    check_mask(flags, "qemuDomainMigrateBegin3Params")
    mj.start(node, dom, AsyncJob.MIGRATION_OUT, flags, mj.BEGIN3)
    try:
        out = _begin_phase(node, dom, params, flags)
    except BaseException:
        mj.finish(node, dom)
        raise
    mj.watch_connection(closing, node, dom)
    mj.release(dom)
    return out


def _begin_phase(node: QemuNode, dom: QemuDomain, params: TypedParams,
                 flags: int) -> tuple[bytes, str]:
    """qemuMigrationSrcBeginPhase: checks, the XML and the cookie."""
    xmlin = _string(params, "destination_xml")
    with dom.job.using(Job.QUERY):
        _check_begin(dom, flags)
        if xmlin is not None:
            xml = xmlin
        elif dom.active and dom.live is not None:
            xml = _migratable_xml(node, dom.live)
        else:
            assert dom.persistent is not None
            xml = _migratable_xml(node, dom.persistent)
        cookie = _cookie(node, dom.name, dom.uuid)
        if dom.active and nbd.check_begin(dom.live, flags, nbd.migrate_disks(params)):
            nbd.add_begin_nbd(dom, cookie)
    return cookie.to_bytes(), xml


def perform(node: QemuNode, dom: QemuDomain, params: TypedParams, cookie_in: bytes,
            flags: int, tunnel: DataStream | None = None) -> bytes:
    """Perform3 (native, or with ``tunnel``: into the destination's PrepareTunnel3
    stream): stream the guest to the destination; the cookie out carries the job's
    statistics and, with PERSIST_DEST, the persistent definition. The job (phase
    perform3, then perform3_done) waits for Confirm; a failure ends it."""
    try:
        out = _perform_phase(node, dom, params, cookie_in, flags, tunnel)
    except BaseException:
        if mj.abandon(node, dom):  # failed after the stream: the guest runs on here
            _restore_source(node, dom, tunables(dom).was_running)
        raise
    mj.release(dom)
    return out


def _perform_phase(node: QemuNode, dom: QemuDomain, params: TypedParams, cookie_in: bytes,
                   flags: int, tunnel: DataStream | None = None) -> bytes:
    """qemuMigrationSrcPerformPhase."""
    check_flags(flags, "qemuMigrationSrcPerform")
    if flags & F.TUNNELLED and tunnel is None:  # only peer2peer has the stream
        raise _err(ErrorCode.OPERATION_INVALID,
                   "cannot perform tunnelled migration without using peer2peer flag")
    host, port = "", 0
    uri = None if tunnel is not None else _string(params, "migrate_uri")
    if tunnel is None and not uri:
        raise _err(ErrorCode.INVALID_ARG, "migration URI is required")
    if uri:
        host, port = parse_uri(uri)
        if not host or not port:
            raise _err(ErrorCode.INVALID_ARG, f"migration URI {uri} needs a host and a port")
    mig = MigrationCookie.parse(cookie_in, accept=_ACCEPT_PERFORM, name=dom.name,
                                uuid=dom.uuid, local_hostuuid=host_uuid(node)) \
        if cookie_in else None
    mp = mparams.from_flags(params, flags, mparams.Party.SOURCE)
    bandwidth = params.get("bandwidth")
    copy: nbd.SourceCopy | None = None
    with mj.perform_job(node, dom, flags) as data:  # Begin's job, or one from here
        was_running = dom.state == qn.RUNNING
        tunables(dom).was_running = was_running
        try:
            with dom.job:
                if not dom.active or dom.mon is None:
                    raise _err(ErrorCode.OPERATION_INVALID, "domain is not running")
                mon = dom.mon
                tune = tunables(dom)
                speed = int(bandwidth) if isinstance(bandwidth, int) and bandwidth else \
                    tune.speed_mib
                settings: dict[str, Any] = {"downtime-limit": tune.downtime_ms}
                if speed:
                    settings["max-bandwidth"] = speed * 1024 * 1024
                mparams.apply_source(node, dom, mp, host, settings)
                copy = nbd.SourceCopy.start(dom, mig, host, params, flags, speed)
            if copy is not None:  # without the job: queries and domjobabort meanwhile
                copy.wait_ready(data)
            with dom.job:
                with dom.lock:
                    dom.expect_stop = _PAUSED_MIGRATION  # QEMU's STOP at the switch-over
                if was_running and not flags & F.LIVE:
                    mon.execute("stop")
                    node.wait_paused(dom)
                    data.stopped = int(time.time() * 1000)
            if tunnel is not None:
                migration_tunnel.run_tunnelled(
                    dom, tunnel, lambda target: _run_stream(dom, mon, target, data, copy))
            else:
                _run_stream(dom, mon, _qemu_addr(host, port), data, copy)
            if copy is not None:
                copy.finish()
        except BaseException:
            if copy is not None:
                copy.abort()
            _restore_source(node, dom, was_running)
            mparams.reset(dom)
            raise
        if not data.stopped:
            data.stopped = int(time.time() * 1000)
        dom.job.complete()
    node.events.flush()
    cookie = _cookie(node, dom.name, dom.uuid)
    if copy is not None and dom.active:
        with dom.job:
            nbd.add_begin_nbd(dom, cookie)  # libvirt's Perform cookie: <nbd> with the disks
    completed = dom.job.take_completed(keep=True)
    if completed is not None:
        cookie.stats = CookieStats(completed.started, completed.stopped,
                                   int(time.time() * 1000),
                                   values={"time_elapsed": completed.time_elapsed,
                                           **completed.stats})
    if flags & F.PERSIST_DEST:
        persist = _string(params, "persistent_xml")
        source = dom.persistent if dom.persistent is not None else dom.live
        if persist is None and source is not None:
            persist = _migratable_xml(node, source)
        cookie.persistent = persist
    return cookie.to_bytes()


def _run_stream(dom: QemuDomain, mon: Any, uri: str, data: Any,
                copy: nbd.SourceCopy | None = None) -> None:
    """``migrate`` and poll query-migrate to the end; job data kept current; an abort
    (``domjobabort``) cancels the stream. With a storage ``copy``: its progress and
    failures while the stream runs, its mirrors ended at ``pre-switchover``."""
    dom.job.on_abort(lambda: mon.execute("migrate_cancel"))
    data.status = JobStatus.MIGRATING
    try:
        mon.execute("migrate", {"uri": uri})
        if dom.job.abort_requested:
            mon.execute("migrate_cancel")
        deadline = time.monotonic() + _WAIT_LIMIT
        stall = migration_recovery.StallGuard()
        while True:
            try:
                info = mon.execute("query-migrate")
            except VirtError:
                if not dom.active:
                    raise _err(ErrorCode.OPERATION_FAILED,
                               "migration out: guest unexpectedly quit") from None
                raise
            status = info.get("status")
            data.stats.update(migration_stats(info))
            mparams.note_pass(dom, data)  # MIGRATION_ITERATION events
            data.update_time()
            if status == "completed":
                return
            if status == "postcopy-active":  # the source's part ends at the switch
                mparams.source_postcopy(dom, data)
                return
            if copy is not None and status not in ("cancelled", "failed"):
                try:
                    if status == "pre-switchover":
                        copy.switchover(data)
                        mon.execute("migrate-continue", {"state": "pre-switchover"})
                        continue
                    copy.poll(data)
                except VirtError:
                    nbd.cancel_stream(mon)
                    raise
            if status == "cancelled" or (status == "failed" and dom.job.abort_requested):
                data.status = JobStatus.CANCELED
                raise _err(ErrorCode.OPERATION_ABORTED, "job 'migration out' canceled by client")
            if status == "failed":
                data.status = JobStatus.FAILED
                desc = info.get("error-desc")
                raise _err(ErrorCode.OPERATION_FAILED, f"job 'migration out' failed: {desc}"
                           if desc else "job 'migration out' unexpectedly failed")
            if stall.stalled(info):  # a cut link: give up rather than wait for TCP
                data.status = JobStatus.FAILED
                migration_recovery.cancel_migration(mon)
                raise _err(ErrorCode.OPERATION_FAILED, "Lost connection to destination host")
            if time.monotonic() > deadline:
                mon.execute("migrate_cancel")
                raise _err(ErrorCode.OPERATION_TIMEOUT,
                           f"migration out: no completion in {_WAIT_LIMIT:g} s")
            time.sleep(0.05)
    finally:
        dom.job.on_abort(None)


def _restore_source(node: QemuNode, dom: QemuDomain, was_running: bool) -> None:
    """qemuMigrationSrcRestoreDomainState: a guest the migration paused runs again
    (RUNNING/MIGRATION_CANCELED, event RESUMED/MIGRATED)."""
    with dom.lock:
        dom.expect_stop = None
    if not was_running or not dom.active or dom.mon is None:
        return
    try:
        with dom.job:
            if dom.state == qn.RUNNING:
                return
            with dom.lock:
                dom.resume_reason = _RUNNING_CANCELED
            dom.mon.execute("cont")
            node.wait_running(dom)
    except VirtError as exc:
        log.error("domain %s: cannot resume after a failed migration: %s", dom.name, exc)
    node.events.flush()


def confirm(node: QemuNode, dom: QemuDomain, params: TypedParams, cookie_in: bytes,
            flags: int, cancelled: int) -> None:
    """Confirm3: the migration succeeded (stop the source: STOPPED/MIGRATED, undefine it
    with UNDEFINE_SOURCE) or was cancelled (resume the source); the job Begin or Perform
    left (phase confirm3 or confirm3_cancelled) ends."""
    check_flags(flags, "qemuMigrationSrcConfirm")
    with mj.confirm_job(node, dom, flags, cancelled):
        _confirm_phase(node, dom, params, cookie_in, flags, cancelled)


def _confirm_phase(node: QemuNode, dom: QemuDomain, params: TypedParams, cookie_in: bytes,
                   flags: int, cancelled: int) -> None:
    """qemuMigrationSrcConfirmPhase."""
    if cookie_in:
        MigrationCookie.parse(cookie_in, accept=_ACCEPT_CONFIRM, name=None, uuid=dom.uuid,
                              local_hostuuid=host_uuid(node))
    if flags & F.OFFLINE:
        if not cancelled and flags & F.UNDEFINE_SOURCE and dom.persistent is not None:
            node.undefine(dom, 0)
        return
    if cancelled:
        if mparams.source_postcopy_failed(node, dom, flags):
            return  # paused/post-copy failed: neither resumed nor killed
        _restore_source(node, dom, was_running=tunables(dom).was_running)
        mparams.reset(dom)
        return
    mparams.wait_source_done(dom, flags)
    completed = dom.job.take_completed(keep=True)
    with dom.job:
        if dom.active and dom.proc is not None:
            proc = dom.proc
            with dom.lock:
                dom.stopping = _SHUTOFF_MIGRATED
            with contextlib.suppress(VirtError):
                dom.mon.execute("quit", timeout=10.0)
            node._wait_stopped(dom, proc, 15.0)
        if completed is not None:
            node.emit_other(dom, _EVENT_JOB_COMPLETED, (completed.to_params()[1],))
        if flags & F.UNDEFINE_SOURCE and dom.persistent is not None:
            node._undefine(dom, 0)
    node._remove_if_gone(dom)
    node.events.flush()


# ---------------------------------------------------------------- destination


def _dest_def(params: TypedParams) -> tuple[Any, str]:
    """qemuMigrationAnyPrepareDef: the definition to run and the source's name."""
    xml = _string(params, "destination_xml")
    if not xml:
        raise _err(ErrorCode.INTERNAL_ERROR, "no domain XML passed")
    d = parse_def(xml)
    _drop_default_partition(d)
    origname = d.name or ""
    dname = _string(params, "destination_name")
    if dname:
        d.name = dname
    return d, origname


def _drop_default_partition(d: Any) -> None:
    """libvirt's live XML names the default cgroup partition (``<resource><partition>
    /machine``), which virtkit's QEMU driver has no use for: a definition coming from
    libvirtd loses it (any other resource setting stays, and is refused as usual)."""
    res = d.resource
    if res is not None and res.partition == "/machine" and res.fibrechannel is None \
            and not res.unknown_children and not res.unknown_attrs:
        d.resource = None


def prepare(node: QemuNode, params: TypedParams, cookie_in: bytes, flags: int,
            incoming: Callable[[QemuDomain], None] | None = None,
            closing: list[Callable[[], None]] | None = None) -> tuple[bytes, str | None]:
    """Prepare3: start the incoming QEMU and its listener (or, offline, only check);
    ``(cookie_out, uri_out)``. ``incoming(dom)``: a tunnelled migration's listener on
    the new QEMU, instead of a TCP port (migrateapi's PrepareTunnel3Params)."""
    check_flags(flags, "qemuMigrationDstPrepare")
    mp = mparams.from_flags(params, flags, mparams.Party.DESTINATION)
    d, origname = _dest_def(params)
    name = d.name or ""
    hu = host_uuid(node)
    mig = MigrationCookie.parse(cookie_in, accept=_ACCEPT_PREPARE, name=origname,
                                uuid=d.uuid, local_hostuuid=hu) if cookie_in else None
    out = _cookie(node, origname, d.uuid)
    storage = nbd.storage_requested(flags) and mig is not None and mig.nbd is not None \
        and not flags & F.OFFLINE
    wanted = nbd.migrate_disks(params)
    if storage:
        assert mig is not None
        nbd.precreate_storage(node, d, mig.nbd, wanted, bool(flags & F.NON_SHARED_INC))
    uri_in = _string(params, "migrate_uri")
    listen = _string(params, "listen_address") or ""
    uri_out: str | None = None
    port = 0
    if incoming is not None:  # tunnelled: the stream comes over the RPC connection
        uri_in = None
    if uri_in:
        host, port = parse_uri(uri_in)
        listen = listen or host
    if not port and incoming is None:
        port = allocate_port(listen)
        if not uri_in:
            uri_out = f"tcp:{nodeinfo.hostname()}:{port}"
        else:
            uri_out = _qemu_addr(parse_uri(uri_in)[0], port)
    elif port:
        with _ports_lock:
            _ports_taken.add(port)
    if flags & F.OFFLINE:  # libvirt answers with a URI all the same (virsh insists)
        release_port(port)
        with node.lock:
            node.domains.check_add(name, d.uuid, live=True)
        _incoming_of(node)[name] = _Incoming(0, origname, flags, d.uuid, d.to_xml())
        return out.to_bytes(), uri_out
    with node.lock:
        existing = node.domains.check_add(name, d.uuid, live=True)
        dom = existing or QemuDomain(name, d.uuid, None)
        if existing is None:
            dom.live = d
            node._add(dom)

    def listen_now(dom: QemuDomain) -> None:
        if storage:
            out.nbd = nbd.dest_cookie_nbd(dom, nbd.start_server(dom, params, listen, wanted,
                                                                flags))
        dom.mon.execute("migrate-incoming", {"uri": _qemu_addr(listen or "0.0.0.0", port)})

    def start_incoming(dom: QemuDomain) -> None:
        mparams.apply_incoming(node, dom, mp)  # capabilities before migrate-incoming
        (incoming or listen_now)(dom)

    mj.start(node, dom, AsyncJob.MIGRATION_IN, flags, mj.PREPARE)  # until Finish
    try:
        node.start(dom, 0, definition=d, migrating=True, prepare=start_incoming)
    except BaseException:
        mj.finish(node, dom)
        nbd.stop_server(dom)
        release_port(port)
        with node.lock:
            if not dom.active and existing is None:
                node._remove(dom)
        raise
    _incoming_of(node)[name] = _Incoming(port, origname, flags, d.uuid)
    mj.set_phase(node, dom, mj.PREPARE)  # the status file of the started QEMU
    mj.watch_connection(closing, node, dom)
    mj.release(dom)
    return out.to_bytes(), uri_out


def finish(node: QemuNode, params: TypedParams, cookie_in: bytes, flags: int,
           cancelled: int) -> tuple[DomainIdent, bytes]:
    """Finish3: wait for the stream, persist, resume; or kill the incoming QEMU."""
    check_flags(flags, "qemuMigrationDstFinish")
    name = _string(params, "destination_name") or ""
    if _string(params, "destination_xml"):
        d, _ = _dest_def(params)
        name = d.name or ""
    inc = _incoming_of(node).pop(name, None)
    dom = node.by_name.get(name)
    uuid = inc.uuid if inc is not None else dom.uuid if dom is not None else None
    cookie = MigrationCookie.parse(cookie_in, accept=_ACCEPT_FINISH, name=None, uuid=uuid,
                                   local_hostuuid=host_uuid(node)) if cookie_in else None
    out = _cookie(node, inc.origname if inc is not None else name, uuid or "").to_bytes()
    if flags & F.OFFLINE:
        if cancelled:
            raise make_error(ErrorCode.MIGRATE_FINISH_OK, _Q)
        xml = cookie.persistent if cookie is not None and cookie.persistent else \
            _string(params, "destination_xml") or (inc.xml if inc is not None else None)
        if not xml:
            raise _err(ErrorCode.OPERATION_INVALID,
                       f"domain '{name}' is not processing incoming migration")
        defined = node.define(_renamed(xml, name))
        return defined.ident(), out
    if dom is None:
        if inc is not None:
            release_port(inc.port)
        raise make_error(ErrorCode.NO_DOMAIN, _Q, f"no domain with matching name '{name}'")
    resumed = False  # post-copy: the guest runs here before the stream ends
    owned = False  # Prepare's job MIGRATION_IN, phase finish3
    try:
        if inc is None:
            raise _err(ErrorCode.OPERATION_INVALID,
                       f"domain '{name}' is not processing incoming migration")
        owned = mj.finish_phase(node, dom)
        if cancelled:  # libvirt's "successful" NULL: VIR_ERR_MIGRATE_FINISH_OK
            nbd.stop_server(dom)
            _kill_incoming(node, dom)
            raise make_error(ErrorCode.MIGRATE_FINISH_OK, _Q)
        resumed = mparams.dest_postcopy(node, dom, flags)
        _wait_incoming(dom)
        mparams.reset(dom)
        with dom.job:
            nbd.stop_server(dom)
            if flags & F.PERSIST_DEST:
                xml = cookie.persistent if cookie is not None and cookie.persistent else \
                    format_def(copy_def(dom.live), -1) if dom.live is not None else None
                if xml is not None:
                    _define_persistent(node, dom, _renamed(xml, name))
            if flags & F.PAUSED:
                with dom.lock:
                    dom.reason = PAUSED_USER
                    node._save_status(dom)
                    node.emit(dom, EV_SUSPENDED, qn.SUSP_PAUSED)
            elif resumed:
                mparams.dest_completed(node, dom)
            else:
                with dom.lock:
                    dom.resume_reason = _RUNNING_MIGRATED
                dom.mon.execute("cont")
                node.wait_running(dom)
    except BaseException:
        nbd.stop_server(dom)
        if dom.active and inc is not None and not cancelled and not resumed:
            _kill_incoming(node, dom)
        raise
    finally:
        if inc is not None:
            release_port(inc.port)
        if owned:
            mj.finish(node, dom)
    node.events.flush()
    return dom.ident(), out


def _renamed(xml: str, name: str) -> str:
    d = parse_def(xml)
    _drop_default_partition(d)
    d.name = name
    return d.to_xml()


def _define_persistent(node: QemuNode, dom: QemuDomain, xml: str) -> None:
    """Store ``xml`` as the persistent definition of the running ``dom``."""
    d = parse_def(xml)
    node.configs.save(dom.name, d.to_xml(), dom.uuid)
    with dom.lock:
        dom.persistent = d
        node.emit(dom, EV_DEFINED, qn.DEF_ADDED)


def _wait_incoming(dom: QemuDomain) -> None:
    """Until the destination QEMU has the whole stream (query-migrate "completed")."""
    deadline = time.monotonic() + _WAIT_LIMIT
    while True:
        mon = dom.mon
        if not dom.active or mon is None:
            raise _err(ErrorCode.OPERATION_FAILED, "migration in: guest unexpectedly quit")
        try:
            info = mon.execute("query-migrate")
        except VirtError:
            if not dom.active:
                raise _err(ErrorCode.OPERATION_FAILED,
                           "migration in: guest unexpectedly quit") from None
            raise
        status = info.get("status")
        if status == "completed":
            return
        if status in ("failed", "cancelled"):
            desc = info.get("error-desc")
            raise _err(ErrorCode.OPERATION_FAILED, f"job 'migration in' failed: {desc}"
                       if desc else "job 'migration in' unexpectedly failed")
        if time.monotonic() > deadline:
            raise _err(ErrorCode.OPERATION_TIMEOUT,
                       f"migration in: no completion in {_WAIT_LIMIT:g} s")
        time.sleep(0.05)


def _kill_incoming(node: QemuNode, dom: QemuDomain) -> None:
    """The incoming QEMU goes (STOPPED/FAILED), and with it a transient domain."""
    with dom.job:
        if dom.active and dom.proc is not None:
            proc = dom.proc
            with dom.lock:
                dom.stopping = SHUTOFF_FAILED
            proc.terminate(grace=3.0)
            node._wait_stopped(dom, proc, 15.0)
    node._remove_if_gone(dom)
    node.events.flush()


# ---------------------------------------------------------------- orchestration


def peer2peer(node: QemuNode, dom: QemuDomain, src: MigrationPeer, dconnuri: str,
              params: TypedParams, flags: int) -> None:
    """qemuMigrationSrcPerformPeer2Peer3: open ``dconnuri`` (virtkit's remote driver)
    and run every phase from here (TUNNELLED: QEMU's stream over that connection)."""
    import virtkit

    migration_tunnel.check_peer2peer(params, flags)
    try:
        dconn = virtkit.open(dconnuri)
    except VirtError as exc:
        raise _err(ErrorCode.OPERATION_FAILED,
                   f"Failed to connect to remote libvirt URI {dconnuri}: {exc.message}") from None
    try:
        dst = dconn.tables.hypervisor
        for feature, what in ((6, "v3"), (13, "params")):  # VIR_DRV_FEATURE_MIGRATION_*
            if not dst.connect_supports_feature(feature):
                raise _err(ErrorCode.ARGUMENT_UNSUPPORTED,
                           f"Destination libvirt does not support migration {what} protocol")
        local_flags = flags & ~int(F.PEER2PEER)

        def run(p: TypedParams, cookie: bytes, tunnel: DataStream | None = None) -> bytes:
            # migrate_v3's Begin (on this driver) took the job: change protection
            return perform(node, dom, p, cookie, local_flags | int(F.CHANGE_PROTECTION),
                           tunnel)

        with mj.driven_here():  # one job from Begin to Confirm, whoever closes
            migrate_v3(src, dom.ident(), dst, params, local_flags, perform=run)
    finally:
        with contextlib.suppress(VirtError):
            dconn.close()

