"""The migration async job across the phases (libvirt's qemuMigrationJob* in
qemu_migration.c): MIGRATION_OUT on the source from Begin (with
VIR_MIGRATE_CHANGE_PROTECTION, else from Perform) to Confirm, MIGRATION_IN on the
destination from Prepare to Finish.

Between two phases the job is *released* (owned by no thread): other change operations
wait for it and then fail with "cannot acquire state change lock (held by
monitor=remoteDispatchDomainMigrateBegin3Params)"; the next phase takes it back. Every
phase is recorded in the domain's status file (``<job async='migration out'
phase='perform3' flags='0x...'/>``), which is what a restarted daemon recovers from
(``migration_recovery``). A client connection that goes away between two phases takes the
job with it (qemuMigrationAnyConnectionClosed): after Begin the job is dropped, after
Perform the job is dropped and the guest stays paused, after Prepare the incoming domain
is destroyed (libvirt's autodestroy).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from virtkit.constants import DomainJobOperation, DomainMigrateFlags, DomainPausedReason
from virtkit.drivers.domainjob import DEFAULT_MASK, AsyncJob, Job, JobData, job_mask
from virtkit.drivers.domainobj import PAUSED
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

if TYPE_CHECKING:
    from virtkit.drivers.qemu.node import QemuDomain, QemuNode

__all__ = [
    "BEGIN3",
    "CONFIRM3",
    "CONFIRM3_CANCELLED",
    "FINISH3",
    "PERFORM3",
    "PERFORM3_DONE",
    "PHASES",
    "POSTCOPY_FAILED",
    "PREPARE",
    "abandon",
    "confirm_job",
    "connection_closed",
    "driven_here",
    "failed_postcopy",
    "finish",
    "finish_phase",
    "perform_job",
    "release",
    "require",
    "set_phase",
    "start",
    "start_phase",
    "watch_connection",
]

log = logging.getLogger("virtkit.drivers.qemu.migration")

# qemuMigrationJobPhase, in libvirt's order (the protocol never goes backwards)
PHASES = ("none", "perform2", "begin3", "perform3", "perform3_done", "confirm3_cancelled",
          "confirm3", "prepare", "finish2", "finish3", "postcopy_failed")
BEGIN3, PERFORM3, PERFORM3_DONE = "begin3", "perform3", "perform3_done"
POSTCOPY_FAILED = "postcopy_failed"
CONFIRM3_CANCELLED, CONFIRM3, PREPARE, FINISH3 = ("confirm3_cancelled", "confirm3",
                                                  "prepare", "finish3")
_MIGRATIONS = (AsyncJob.MIGRATION_OUT, AsyncJob.MIGRATION_IN)
_Q = ErrorDomain.QEMU


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _Q, detail)


def _record(node: QemuNode, dom: QemuDomain) -> None:
    """The job and its phase into the status file (a running domain's)."""
    job = dom.job
    if job.async_job in _MIGRATIONS:
        node.set_async_job(dom, job.async_job.label, job.phase, job.api_flags)


def start(node: QemuNode, dom: QemuDomain, kind: AsyncJob, flags: int,
          phase: str) -> JobData:
    """qemuMigrationJobStart (then the first phase): the async job for this thread, with
    libvirt's masks (MIGRATION_OUT lets queries, suspend and migration tunables in;
    MIGRATION_IN only destroy)."""
    if dom.job.async_job in _MIGRATIONS:  # qemuMigrationJobIsAllowed
        raise _err(ErrorCode.OPERATION_INVALID,
                   f"another migration job is already running for domain '{dom.name}'")
    if kind == AsyncJob.MIGRATION_IN:
        op, mask = DomainJobOperation.MIGRATION_IN, 0
    else:
        op = DomainJobOperation.MIGRATION_OUT
        mask = DEFAULT_MASK | job_mask(Job.SUSPEND) | job_mask(Job.MIGRATION_OP)
    data = dom.job.begin_async(kind, op, flags)
    dom.job.set_mask(mask | job_mask(Job.MODIFY_MIGRATION_SAFE))
    dom.job.set_phase(phase)
    _record(node, dom)
    return data


def failed_postcopy(dom: QemuDomain) -> bool:
    """virDomainObjIsFailedPostcopy: paused with reason post-copy failed."""
    return dom.active and dom.state == PAUSED \
        and dom.reason == DomainPausedReason.POSTCOPY_FAILED


def require(dom: QemuDomain, kind: AsyncJob) -> None:
    """qemuMigrationJobIsActive: VIR_ERR_OPERATION_INVALID unless ``kind`` runs."""
    if dom.job.async_job != kind:
        what = ("is not processing incoming migration" if kind == AsyncJob.MIGRATION_IN
                else "is not being migrated")
        raise _err(ErrorCode.OPERATION_INVALID, f"domain '{dom.name}' {what}")


def _check_phase(dom: QemuDomain, phase: str) -> None:
    """qemuMigrationCheckPhase: "migration protocol going backwards"."""
    old = dom.job.phase or "none"
    if PHASES.index(phase) < PHASES.index(old if old in PHASES else "none"):
        raise _err(ErrorCode.INTERNAL_ERROR,
                   f"migration protocol going backwards {old} => {phase}")


def start_phase(node: QemuNode, dom: QemuDomain, phase: str) -> None:
    """qemuMigrationJobStartPhase: this thread takes the released job, in ``phase``."""
    _check_phase(dom, phase)
    dom.job.start_phase(phase)
    _record(node, dom)


def set_phase(node: QemuNode, dom: QemuDomain, phase: str) -> None:
    """qemuMigrationJobSetPhase (the owning thread moves on)."""
    _check_phase(dom, phase)
    dom.job.set_phase(phase)
    _record(node, dom)


def release(dom: QemuDomain) -> None:
    """qemuMigrationJobContinue: the job waits, owned by no thread, for the next phase."""
    dom.job.release_async()


def finish(node: QemuNode, dom: QemuDomain) -> None:
    """qemuMigrationJobFinish: the async job ends (and leaves the status file)."""
    dom.job.end_async()
    if dom.active:
        node.set_async_job(dom, "")


@contextlib.contextmanager
def perform_job(node: QemuNode, dom: QemuDomain, flags: int) -> Iterator[JobData]:
    """Perform3's job: Begin's (CHANGE_PROTECTION) taken back, or a new one; phase
    perform3, then perform3_done (``release`` lets it wait for Confirm); a failure in
    the block ends it."""
    if flags & DomainMigrateFlags.CHANGE_PROTECTION:
        require(dom, AsyncJob.MIGRATION_OUT)
        start_phase(node, dom, PERFORM3)
        data = dom.job.current
        assert data is not None
    else:
        data = start(node, dom, AsyncJob.MIGRATION_OUT, flags, PERFORM3)
    try:
        yield data
    except BaseException:
        finish(node, dom)
        raise
    set_phase(node, dom, PERFORM3_DONE)  # released when Perform returns


def abandon(node: QemuNode, dom: QemuDomain) -> bool:
    """Perform failed after its stream (phase perform3_done, still this thread's): end
    the job; True when it did."""
    if dom.job.async_job != AsyncJob.MIGRATION_OUT or not dom.job.owned_by_me \
            or dom.job.phase != PERFORM3_DONE:
        return False
    finish(node, dom)
    return True


@contextlib.contextmanager
def confirm_job(node: QemuNode, dom: QemuDomain, flags: int,
                cancelled: int) -> Iterator[None]:
    """Confirm3's job: phase confirm3 (or confirm3_cancelled) of the job Begin or Perform
    left, ended when Confirm returns. An offline migration without CHANGE_PROTECTION had
    no job: Confirm runs without one."""
    if dom.job.async_job != AsyncJob.MIGRATION_OUT and flags & DomainMigrateFlags.OFFLINE:
        yield
        return
    require(dom, AsyncJob.MIGRATION_OUT)
    if failed_postcopy(dom):  # an earlier Confirm kept the job: it keeps its phase
        start_phase(node, dom, dom.job.phase)
    else:
        start_phase(node, dom, CONFIRM3_CANCELLED if cancelled else CONFIRM3)
    try:
        yield
    finally:
        if failed_postcopy(dom):  # the job stays, released, until the domain stops
            set_phase(node, dom, POSTCOPY_FAILED)
            release(dom)
        else:
            finish(node, dom)


def finish_phase(node: QemuNode, dom: QemuDomain) -> bool:
    """Finish3 takes the incoming job (phase finish3); False when there is none."""
    if dom.job.async_job != AsyncJob.MIGRATION_IN:
        return False
    start_phase(node, dom, FINISH3)
    return True


# ---------------------------------------------------------------- the controlling client


_local = threading.local()


@contextlib.contextmanager
def driven_here() -> Iterator[None]:
    """The phases this thread runs belong to one call (peer-to-peer: the daemon is the
    client); no connection's end may drop its job meanwhile."""
    _local.driven = True
    try:
        yield
    finally:
        _local.driven = False


def watch_connection(closing: list[Callable[[], None]] | None, node: QemuNode,
                     dom: QemuDomain) -> None:
    """virCloseCallbacksDomainAdd: when the connection whose ``closing`` list this is goes
    away while the job waits for its next phase, :func:`connection_closed` runs."""
    if closing is None or getattr(_local, "driven", False):
        return
    token = dom.job.current
    closing.append(lambda: connection_closed(node, dom, token))


def connection_closed(node: QemuNode, dom: QemuDomain, token: JobData | None) -> None:
    """qemuMigrationAnyConnectionClosed, for the job that was running when the watch was
    set (``token``), if it still waits between two phases."""
    job = dom.job
    if job.current is not token or token is None or job.async_owned \
            or job.async_job not in _MIGRATIONS:
        return
    phase = job.phase
    log.warning("The connection which controls migration of domain %s was closed", dom.name)
    if phase == PREPARE:  # the incoming domain is autodestroyed
        job.start_phase(phase)
        try:
            if dom.active:
                with contextlib.suppress(VirtError):
                    node.destroy(dom, 0)
        finally:
            finish(node, dom)
        return
    if phase not in (BEGIN3, PERFORM3_DONE):
        return
    if phase == PERFORM3_DONE:
        log.warning("Migration of domain %s finished but we don't know if the domain was "
                    "successfully started on destination or not", dom.name)
    start_phase(node, dom, CONFIRM3_CANCELLED)
    finish(node, dom)
