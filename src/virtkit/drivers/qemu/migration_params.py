"""Migration capabilities and parameters (libvirt's src/qemu/qemu_migration_params.c).

:func:`from_flags` turns the VIR_MIGRATE_* flags and VIR_MIGRATE_PARAM_* typed parameters
into the QMP capabilities and parameters one side needs (libvirt's FlagMap and TPMap, its
compression rules and refusals); :func:`apply_source` and :func:`apply_incoming` send them
(``migrate-set-capabilities``, ``migrate-set-parameters``, the ``tls-creds-x509`` object)
before ``migrate`` / ``migrate-incoming``; :func:`reset` puts QEMU back afterwards so a
later save or dump does not inherit them.

Post-copy: :func:`source_postcopy` (the source switched: paused/post-copy),
:func:`dest_postcopy` (the destination runs the guest as soon as post-copy starts:
running/post-copy, then running/migrated at the end) and :func:`source_postcopy_failed`
(a failed post-copy leaves the source paused/post-copy failed under its migration job,
neither resumed nor killed, as libvirt does).
"""

from __future__ import annotations

import contextlib
import enum
import os
import resource
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from virtkit.constants import (
    DomainEventID,
    DomainEventResumedDetailType,
    DomainEventSuspendedDetailType,
    DomainMigrateFlags,
    DomainPausedReason,
    DomainRunningReason,
)
from virtkit.drivers.domainjob import DEFAULT_MASK, Job, JobStatus, job_mask
from virtkit.drivers.domainobj import EV_RESUMED, EV_SUSPENDED, PAUSED, RUNNING
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error
from virtkit.types import TypedParams

TYPE_CHECKING = False
if TYPE_CHECKING:
    from virtkit.drivers.domainjob import JobData
    from virtkit.drivers.qemu.node import QemuDomain, QemuNode

__all__ = [
    "CAPABILITIES",
    "COMPRESS_METHODS",
    "TLS_ALIAS",
    "TLS_FILES",
    "MigrationParams",
    "Party",
    "apply_incoming",
    "apply_source",
    "check_begin",
    "dest_completed",
    "dest_postcopy",
    "from_flags",
    "in_postcopy",
    "note_pass",
    "reset",
    "source_postcopy",
    "source_postcopy_failed",
    "tls_dir",
    "wait_source_done",
]

F = DomainMigrateFlags
_Q = ErrorDomain.QEMU


class Party(enum.IntFlag):
    """qemuMigrationParty: which side a capability or parameter is for."""

    SOURCE = 1
    DESTINATION = 2


_BOTH = Party.SOURCE | Party.DESTINATION
# qemuMigrationCapability, in libvirt's order ("events" is libvirt's own, always on)
CAPABILITIES = ("xbzrle", "auto-converge", "rdma-pin-all", "postcopy-ram", "compress",
                "pause-before-switchover", "late-block-activate", "multifd",
                "dirty-bitmaps", "return-path", "zero-copy-send")
# qemuMigrationParamsFlagMap: (required (else forbidden), flag, capability, party)
_FLAG_MAP: tuple[tuple[bool, int, str, Party], ...] = (
    (True, F.RDMA_PIN_ALL, "rdma-pin-all", _BOTH),
    (True, F.AUTO_CONVERGE, "auto-converge", Party.SOURCE),
    (True, F.POSTCOPY, "postcopy-ram", _BOTH),
    (True, F.PARALLEL, "multifd", _BOTH),
    (False, F.TUNNELLED, "return-path", _BOTH),
    (True, F.ZEROCOPY, "zero-copy-send", Party.SOURCE),
)
# qemuMigrationParamsTPMap: (typed parameter, QEMU parameter, party, unit)
_TP_MAP: tuple[tuple[str, str, Party, int], ...] = (
    ("auto_converge.initial", "cpu-throttle-initial", Party.SOURCE, 0),
    ("auto_converge.increment", "cpu-throttle-increment", Party.SOURCE, 0),
    ("compression.mt.level", "compress-level", _BOTH, 0),
    ("compression.mt.threads", "compress-threads", _BOTH, 0),
    ("compression.mt.dthreads", "decompress-threads", _BOTH, 0),
    ("compression.xbzrle.cache", "xbzrle-cache-size", _BOTH, 0),
    ("bandwidth.postcopy", "max-postcopy-bandwidth", _BOTH, 1024 * 1024),
    ("parallel.connections", "multifd-channels", _BOTH, 0),
    ("tls.destination", "tls-hostname", Party.SOURCE, 0),
)
_ULL_PARAMS = frozenset({"xbzrle-cache-size", "max-postcopy-bandwidth"})
_ULLONG_MAX = (1 << 64) - 1
# qemuMigrationCompressMethod (libvirt 9.0 knows these two) -> capability
COMPRESS_METHODS = {"xbzrle": "xbzrle", "mt": "compress"}
_MT_PARAMS = ("compress-level", "compress-threads", "decompress-threads")
# the parameters reset() restores (what libvirt's qemuMigrationParamsFetch keeps)
_RESTORED = ("compress-level", "compress-threads", "decompress-threads",
             "cpu-throttle-initial", "cpu-throttle-increment", "xbzrle-cache-size",
             "max-postcopy-bandwidth", "multifd-channels")
# qemuAliasTLSObjFromSrcAlias("libvirt_migrate") and the files QEMU's x509 credentials read
TLS_ALIAS = "objlibvirt_migrate_tls0"
TLS_FILES = ("ca-cert.pem", "server-cert.pem", "server-key.pem", "client-cert.pem",
             "client-key.pem")
_WAIT_LIMIT = 3600.0  # hang guard (seconds)
_RUNNING_POSTCOPY = int(DomainRunningReason.POSTCOPY)
_RUNNING_MIGRATED = int(DomainRunningReason.MIGRATED)
_PAUSED_MIGRATION = int(DomainPausedReason.MIGRATION)
_PAUSED_POSTCOPY = int(DomainPausedReason.POSTCOPY)
_PAUSED_POSTCOPY_FAILED = int(DomainPausedReason.POSTCOPY_FAILED)
_SUSP_POSTCOPY = int(DomainEventSuspendedDetailType.POSTCOPY)
_SUSP_POSTCOPY_FAILED = int(DomainEventSuspendedDetailType.POSTCOPY_FAILED)
_RES_MIGRATED = int(DomainEventResumedDetailType.MIGRATED)
_EVENT_MIGRATION_ITERATION = int(DomainEventID.MIGRATION_ITERATION)


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _Q, detail)


@dataclass
class MigrationParams:
    """qemuMigrationParams: capabilities to turn on, QEMU parameter values, compression
    methods, for one side."""

    party: Party
    flags: int
    caps: set[str] = field(default_factory=set)
    values: dict[str, int | str] = field(default_factory=dict)
    methods: list[str] = field(default_factory=list)


def check_begin(flags: int) -> None:
    """The flag combinations qemuMigrationSrcBegin refuses besides the generic ones."""
    if flags & F.POSTCOPY and flags & F.TUNNELLED:
        raise _err(ErrorCode.ARGUMENT_UNSUPPORTED,
                   "post-copy is not supported with tunnelled migration")


def from_flags(params: TypedParams, flags: int, party: Party) -> MigrationParams:
    """qemuMigrationParamsFromFlags: ``party``'s capabilities and parameters, with
    libvirt's refusals (VIR_ERR_INVALID_ARG "Turn ... on to tune it", VIR_ERR_OVERFLOW)."""
    check_begin(flags)
    mp = MigrationParams(party, flags)
    for required, flag, cap, parties in _FLAG_MAP:
        if parties & party and bool(flags & flag) == required:
            mp.caps.add(cap)
    for name, qemu, parties, unit in _TP_MAP:
        if not parties & party or name not in params:
            continue
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _err(ErrorCode.INVALID_ARG, f"invalid type for parameter '{name}'")
        if isinstance(value, int) and unit:
            limit = _ULLONG_MAX // unit
            if value > limit:
                raise _err(ErrorCode.OVERFLOW,
                           f"migration parameter '{name}' must be less than {limit + 1}")
            value *= unit
        mp.values[qemu] = value
    if ("cpu-throttle-initial" in mp.values or "cpu-throttle-increment" in mp.values) \
            and not flags & F.AUTO_CONVERGE:
        raise _err(ErrorCode.INVALID_ARG, "Turn auto convergence on to tune it")
    if "multifd-channels" in mp.values and not flags & F.PARALLEL:
        raise _err(ErrorCode.INVALID_ARG, "Turn parallel migration on to tune it")
    _compression(params, flags, mp)
    return mp


def _compression(params: TypedParams, flags: int, mp: MigrationParams) -> None:
    """qemuMigrationParamsSetCompression."""
    methods = params.get("compression")
    given = [methods] if isinstance(methods, str) else \
        list(methods) if isinstance(methods, (list, tuple)) else []
    for method in given:
        cap = COMPRESS_METHODS.get(method)
        if cap is None:
            raise _err(ErrorCode.INVALID_ARG, f"Unsupported compression method '{method}'")
        if method in mp.methods:
            raise _err(ErrorCode.INVALID_ARG,
                       f"Compression method '{method}' is specified twice")
        mp.methods.append(method)
        mp.caps.add(cap)
    if any(p in mp.values for p in _MT_PARAMS) and "mt" not in mp.methods:
        raise _err(ErrorCode.INVALID_ARG, "Turn multithread compression on to tune it")
    if "xbzrle-cache-size" in mp.values and "xbzrle" not in mp.methods:
        raise _err(ErrorCode.INVALID_ARG, "Turn xbzrle compression on to tune it")
    if not mp.methods and flags & F.COMPRESSED:
        mp.methods.append("xbzrle")
        mp.caps.add("xbzrle")


# ---------------------------------------------------------------- applying to QEMU


@dataclass
class _Saved:
    """What :func:`reset` restores on one domain's QEMU."""

    node: QemuNode
    values: dict[str, int | str]
    flags: int
    memlock: tuple[int, int] | None = None  # the QEMU process's limit before zero-copy
    passes: int = 0  # the last pass MIGRATION_ITERATION reported


_saved: weakref.WeakKeyDictionary[QemuDomain, _Saved] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def tls_dir(node: QemuNode) -> str:
    """libvirt's migrate_tls_x509_cert_dir default: ``/etc/pki/qemu`` under the root."""
    return os.path.join(node.paths.root, "etc", "pki", "qemu")


def _supported(mon: Any) -> set[str]:
    reply = mon.execute("query-migrate-capabilities")
    return {str(c.get("capability")) for c in reply if isinstance(c, dict)} \
        if isinstance(reply, list) else set()


def _apply(node: QemuNode, dom: QemuDomain, mp: MigrationParams,
           extra: dict[str, Any], tls: tuple[bool, str] | None) -> None:
    """qemuMigrationParamsCheck + EnableTLS/DisableTLS + Apply: refuse what this QEMU
    cannot do, remember the values to restore, then capabilities and parameters."""
    mon = dom.mon
    if mon is None:
        raise _err(ErrorCode.OPERATION_INVALID, "domain is not running")
    supported = _supported(mon)
    for cap in CAPABILITIES:
        if cap in mp.caps and cap not in supported:
            raise _err(ErrorCode.ARGUMENT_UNSUPPORTED,
                       f"Migration option '{cap}' is not supported by QEMU binary")
    current = mon.execute("query-migrate-parameters")
    orig = {k: current[k] for k in _RESTORED if isinstance(current.get(k), int)}
    orig.update({k: current[k] for k in ("tls-creds", "tls-hostname")
                 if isinstance(current.get(k), str)})
    with _lock:
        _saved[dom] = _Saved(node, orig, mp.flags)
    values: dict[str, Any] = {**extra, **mp.values}
    if "tls-creds" in current:  # this QEMU does TLS migration
        if mp.flags & F.TLS and tls is not None:
            listen, hostname = tls
            _add_tls_object(node, mon, listen)
            values["tls-creds"] = TLS_ALIAS
            values.setdefault("tls-hostname", hostname)
        else:
            values["tls-creds"] = values["tls-hostname"] = ""
    elif mp.flags & F.TLS:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "TLS migration is not supported with this QEMU binary")
    states = [{"capability": cap, "state": cap in mp.caps}
              for cap in CAPABILITIES if cap in supported]
    if states:
        mon.execute("migrate-set-capabilities", {"capabilities": states})
    if values:
        mon.execute("migrate-set-parameters", values)


def _add_tls_object(node: QemuNode, mon: Any, listen: bool) -> None:
    """qemuMigrationParamsEnableTLS: the ``tls-creds-x509`` object (server on the
    destination, client on the source) over the root's etc/pki/qemu."""
    path = tls_dir(node)
    if not os.path.isdir(path):
        raise _err(ErrorCode.CONF_SYNTAX,
                   f"migrate_tls_x509_cert_dir directory '{path}' does not exist")
    with contextlib.suppress(VirtError):  # a leftover of an earlier attempt
        mon.execute("object-del", {"id": TLS_ALIAS})
    mon.execute("object-add", {"qom-type": "tls-creds-x509", "id": TLS_ALIAS, "dir": path,
                               "endpoint": "server" if listen else "client",
                               "verify-peer": True})


def apply_source(node: QemuNode, dom: QemuDomain, mp: MigrationParams, host: str,
                 extra: dict[str, Any]) -> None:
    """The source before ``migrate``: capabilities, ``extra`` (downtime, bandwidth) and
    the parameters; with TLS a client credentials object and ``tls-hostname`` (the
    ``tls.destination`` parameter, else the migration URI's host); with ZEROCOPY the
    locked-memory limit the pages in flight need."""
    _apply(node, dom, mp, extra, (False, host))
    if mp.flags & F.ZEROCOPY:
        old = _raise_memlock(dom)
        with _lock:
            if dom in _saved:
                _saved[dom].memlock = old


def _raise_memlock(dom: QemuDomain) -> tuple[int, int]:
    """qemuDomainSetMaxMemLock for zero-copy: QEMU may lock the whole guest (its
    ``<memtune><hard_limit>``, else its memory); the previous limits."""
    proc, d = dom.proc, dom.live
    if proc is None or d is None:
        raise _err(ErrorCode.OPERATION_INVALID, "domain is not running")
    hard = d.memtune.hard_limit if d.memtune is not None else None
    kib = int(hard.value) if hard is not None and hard.value is not None else d.memory_kib
    try:
        old = resource.prlimit(proc.pid, resource.RLIMIT_MEMLOCK)
        resource.prlimit(proc.pid, resource.RLIMIT_MEMLOCK, (kib << 10, kib << 10))
    except OSError as exc:
        raise _err(ErrorCode.SYSTEM_ERROR, f"cannot limit locked memory of process "
                   f"{proc.pid} to {kib << 10}: {exc.strerror}") from None
    return old


def apply_incoming(node: QemuNode, dom: QemuDomain, mp: MigrationParams) -> None:
    """The destination before ``migrate-incoming`` (qemuMigrationDstPrepareActive)."""
    _apply(node, dom, mp, {}, (True, ""))


def reset(dom: QemuDomain) -> None:
    """qemuMigrationParamsReset: every capability off, the parameters as they were, the
    TLS object gone. Errors are logged by the caller's path, never raised."""
    with _lock:
        saved = _saved.pop(dom, None)
    mon = dom.mon
    if saved is None or mon is None or not dom.active:
        return
    with contextlib.suppress(VirtError):
        supported = _supported(mon)
        states = [{"capability": c, "state": False} for c in CAPABILITIES if c in supported]
        if states:
            mon.execute("migrate-set-capabilities", {"capabilities": states})
        if saved.values:
            mon.execute("migrate-set-parameters", saved.values)
    if saved.flags & F.TLS:
        with contextlib.suppress(VirtError):
            mon.execute("object-del", {"id": TLS_ALIAS})
    if saved.memlock is not None and dom.proc is not None:
        with contextlib.suppress(OSError):
            resource.prlimit(dom.proc.pid, resource.RLIMIT_MEMLOCK, saved.memlock)


def note_pass(dom: QemuDomain, data: JobData) -> None:
    """qemuProcessHandleMigrationPass: VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION for every
    pass over the guest's memory the source's QEMU began (its dirty-sync-count; virsh's
    ``--postcopy-after-precopy`` switches at iteration 2)."""
    count = int(data.stats.get("memory_iteration", 0))
    with _lock:
        saved = _saved.get(dom)
        if saved is None or count <= saved.passes:
            return
        first, saved.passes = saved.passes + 1, count
    for iteration in range(first, count + 1):
        saved.node.emit_other(dom, _EVENT_MIGRATION_ITERATION, (iteration,))
    saved.node.events.flush()


# ---------------------------------------------------------------- post-copy


def source_postcopy(dom: QemuDomain, data: JobData) -> None:
    """The source entered post-copy (query-migrate "postcopy-active"): job status
    POSTCOPY; the guest, paused by QEMU at the switch, becomes paused/post-copy with
    libvirt's SUSPENDED/POSTCOPY event (qemuProcessHandleMigrationStatus)."""
    data.status = JobStatus.POSTCOPY
    with _lock:
        saved = _saved.get(dom)
    if saved is None:
        return
    node = saved.node
    with contextlib.suppress(VirtError):
        node.wait_paused(dom)
    with dom.lock:
        if dom.state == PAUSED and dom.reason == _PAUSED_MIGRATION:
            dom.set_state(PAUSED, _PAUSED_POSTCOPY)
            node._save_status_locked(dom)
            node.emit(dom, EV_SUSPENDED, _SUSP_POSTCOPY)
    node.events.flush()


def _status(dom: QemuDomain) -> str | None:
    mon = dom.mon
    if mon is None or not dom.active:
        return None
    try:
        return str(mon.execute("query-migrate").get("status"))
    except VirtError:
        return None


def in_postcopy(dom: QemuDomain) -> bool:
    """QEMU's migration is (or was, and failed) in its post-copy phase."""
    return _status(dom) in ("postcopy-active", "postcopy-paused", "postcopy-recover")


def wait_source_done(dom: QemuDomain, flags: int) -> None:
    """qemuMigrationSrcConfirmPhase after post-copy: the source QEMU still sends pages
    until the destination has them all; wait for "completed" before it goes."""
    if not flags & F.POSTCOPY:
        return
    deadline = time.monotonic() + _WAIT_LIMIT
    while _status(dom) in ("postcopy-active", "active") and time.monotonic() < deadline:
        time.sleep(0.05)


def source_postcopy_failed(node: QemuNode, dom: QemuDomain, flags: int) -> bool:
    """qemuMigrationSrcPostcopyFailed: a migration cancelled after the switch to
    post-copy cannot give the guest back (part of its memory is on the destination):
    it stays paused/post-copy failed (SUSPENDED/POSTCOPY_FAILED) and the migration job
    stays (libvirt's asyncPaused: :func:`migration_job.confirm_job` keeps it, released,
    and the domain's stop discards it): resume waits for it and times out, domjobinfo
    says POSTCOPY_PAUSED, destroy ends it. True when that is the case."""
    if not flags & F.POSTCOPY or not dom.active or not in_postcopy(dom):
        return False
    with dom.lock:
        if dom.state != PAUSED:
            return False
        dom.expect_stop = None
        dom.set_state(PAUSED, _PAUSED_POSTCOPY_FAILED)
        node._save_status_locked(dom)
        node.emit(dom, EV_SUSPENDED, _SUSP_POSTCOPY_FAILED)
    node.events.flush()
    dom.job.set_mask(DEFAULT_MASK | job_mask(Job.SUSPEND) | job_mask(Job.MIGRATION_OP))
    if dom.job.current is not None:
        dom.job.current.status = JobStatus.POSTCOPY_PAUSED
    return True


def dest_postcopy(node: QemuNode, dom: QemuDomain, flags: int) -> bool:
    """The destination's Finish of a POSTCOPY migration: once QEMU is in post-copy the
    guest runs here (running/post-copy, RESUMED/POSTCOPY) while the rest of its memory
    comes; True when it was resumed so (the caller waits for the end, then
    :func:`dest_completed`). False when the migration ended as a pre-copy one."""
    if not flags & F.POSTCOPY or flags & F.PAUSED:
        return False
    deadline = time.monotonic() + _WAIT_LIMIT
    while time.monotonic() < deadline:
        status = _status(dom)
        if status == "postcopy-active":
            break
        if status != "active" and status != "setup":
            return False  # completed, failed or gone: the caller's wait tells which
        time.sleep(0.05)
    else:
        return False
    with dom.job:
        with dom.lock:
            dom.resume_reason = _RUNNING_POSTCOPY
        assert dom.mon is not None
        dom.mon.execute("cont")
        node.wait_running(dom)
    node.events.flush()
    return True


def dest_completed(node: QemuNode, dom: QemuDomain) -> None:
    """qemuMigrationDstComplete after post-copy: running/migrated and the RESUMED/MIGRATED
    event libvirt's API documentation promises at the very end."""
    with dom.lock:
        if dom.state == RUNNING:
            dom.set_state(RUNNING, _RUNNING_MIGRATED)
            node._save_status_locked(dom)
        node.emit(dom, EV_RESUMED, _RES_MIGRATED)
    node.events.flush()
