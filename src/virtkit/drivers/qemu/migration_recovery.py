"""A daemon restarted in the middle of a migration (libvirt's qemuProcessRecoverMigrationIn
and qemuProcessRecoverMigrationOut, qemu_process.c): the status file names the async job
and its phase (``migration_job``), the re-attach path (``QemuNode._reattach``) calls
:func:`recover` once the QEMU is back under control.

Outgoing (the source):

======================  ==========================================================
phase                   what happens
======================  ==========================================================
begin3                  nothing had happened: the job is forgotten
perform3                QEMU's migration is cancelled (``migrate_cancel``), a guest
                        it paused runs again (running/migration canceled)
perform3_done           the stream ended, the destination's Finish is unknown: the
                        guest stays paused, for a third party to decide
confirm3_cancelled      Finish failed: the guest runs again
confirm3                the guest runs on the destination: QEMU is stopped
                        (shut off/migrated)
postcopy_failed         the guest stays paused/post-copy failed; the job is not
                        restored (libvirt keeps it, released, until destroy)
======================  ==========================================================

Incoming (the destination): in *prepare* the domain is killed (the source's Confirm
resumes it there); in *finish3* it is killed unless its CPUs already run.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import time
from typing import TYPE_CHECKING, Any

from virtkit.constants import DomainPausedReason, DomainRunningReason, DomainShutoffReason
from virtkit.drivers.domainobj import PAUSED, RUNNING
from virtkit.errors import VirtError

if TYPE_CHECKING:
    from virtkit.drivers.qemu.node import QemuDomain, QemuNode
    from virtkit.drivers.qemu.status import DomainStatus

__all__ = ["CANCEL_WAIT", "MIGRATION_JOBS", "STALL_LIMIT", "Action", "StallGuard",
           "cancel_migration", "incoming_action", "outgoing_action", "recover"]

log = logging.getLogger(__name__)

MIGRATION_JOBS = ("migration out", "migration in")  # the status file's <job async=...>
CANCEL_WAIT = 30.0  # seconds a cancelled QEMU migration may take to end
STALL_LIMIT = 30.0  # seconds without a byte moved before a stream counts as dead
_ACTIVE = ("setup", "active", "pre-switchover", "device", "cancelling", "wait-unplug")
_RESUMABLE = (int(DomainPausedReason.MIGRATION), int(DomainPausedReason.UNKNOWN))


class Action(enum.Enum):
    """What recovery does with the domain of an interrupted migration."""

    KEEP = "keep"  # drop the job, leave the guest as it is
    CANCEL_RESUME = "cancel and resume"  # cancel QEMU's migration, resume a paused guest
    RESUME = "resume"  # resume a guest the migration paused
    START_CPUS = "start CPUs"  # the incoming guest was complete (finish2): run it
    KILL = "kill"  # stop QEMU (incoming: failed; outgoing: migrated)


def outgoing_action(phase: str) -> Action:
    """qemuProcessRecoverMigrationOut (pre-copy)."""
    if phase in ("perform2", "perform3"):
        return Action.CANCEL_RESUME
    if phase == "confirm3_cancelled":
        return Action.RESUME
    if phase == "confirm3":
        return Action.KILL
    return Action.KEEP  # begin3, perform3_done, phases of no outgoing migration


def incoming_action(phase: str, running: bool) -> Action:
    """qemuProcessRecoverMigrationIn (pre-copy)."""
    if phase == "prepare":
        return Action.KILL
    if phase == "finish2":
        return Action.START_CPUS
    if phase == "finish3" and not running:
        return Action.KILL
    return Action.KEEP


def _status(mon: Any) -> str:
    try:
        got = mon.execute("query-migrate").get("status")
    except VirtError:
        return ""
    return got if isinstance(got, str) else ""


def cancel_migration(mon: Any, timeout: float = CANCEL_WAIT) -> bool:
    """``migrate_cancel`` and wait (at most ``timeout`` s) until QEMU's migration is no
    longer active; False when it still is."""
    with contextlib.suppress(VirtError):
        mon.execute("migrate_cancel")
    deadline = time.monotonic() + timeout
    while _status(mon) in _ACTIVE:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


class StallGuard:
    """A stream that moves no byte for STALL_LIMIT seconds is dead (a cut link: QEMU's
    TCP socket would wait for the kernel's retransmission timeout, a quarter of an
    hour): ``stalled(info)`` on each query-migrate answer says when to give up."""

    def __init__(self, limit: float | None = None) -> None:
        self.limit = STALL_LIMIT if limit is None else limit
        self._seen: tuple[object, ...] = ()
        self._since = time.monotonic()

    def stalled(self, info: dict[str, Any]) -> bool:
        ram, disk = info.get("ram") or {}, info.get("disk") or {}
        seen = (info.get("status"), ram.get("transferred"), disk.get("transferred"))
        now = time.monotonic()
        if seen != self._seen:
            self._seen, self._since = seen, now
            return False
        return now - self._since > self.limit


def recover(node: QemuNode, dom: QemuDomain, entry: DomainStatus) -> bool:
    """Finish what the interrupted migration of ``entry`` left; False when the domain
    was stopped (it no longer runs here)."""
    phase = entry.job_phase or "none"
    if entry.job == "migration in":
        action = incoming_action(phase, dom.state == RUNNING)
    else:
        action = outgoing_action(phase)
    mon = dom.mon
    log.warning("domain %s: the daemon restarted during job '%s' in phase %s (QEMU: %s): %s",
                dom.name, entry.job, phase, _status(mon) if mon is not None else "no monitor",
                action.value)
    if action == Action.KILL:
        reason = (DomainShutoffReason.MIGRATED if entry.job == "migration out"
                  else DomainShutoffReason.FAILED)
        try:
            node.destroy(dom, 0, reason=int(reason))
        except VirtError as exc:
            log.error("domain %s: cannot stop it after the interrupted migration: %s",
                      dom.name, exc.message)
        node._remove_if_gone(dom)
        return dom.active
    node.set_async_job(dom, "")
    if mon is None:
        return True
    if action == Action.CANCEL_RESUME and not cancel_migration(mon):
        log.error("domain %s: the interrupted migration did not end within %g s; the guest "
                  "stays as it is", dom.name, CANCEL_WAIT)
        return True
    if action in (Action.CANCEL_RESUME, Action.RESUME) and not (
            dom.state == PAUSED and dom.reason in _RESUMABLE):
        return True
    if action in (Action.CANCEL_RESUME, Action.RESUME, Action.START_CPUS):
        _start_cpus(node, dom, DomainRunningReason.MIGRATED if action == Action.START_CPUS
                    else DomainRunningReason.MIGRATION_CANCELED)
    return True


def _start_cpus(node: QemuNode, dom: QemuDomain, reason: int) -> None:
    """qemuProcessStartCPUs with ``reason`` (event RESUMED/MIGRATED)."""
    mon = dom.mon
    if mon is None:
        return
    with dom.lock:
        dom.resume_reason = int(reason)
    try:
        mon.execute("cont")
        node.wait_running(dom)
    except VirtError as exc:
        log.error("domain %s: cannot resume it after the interrupted migration: %s",
                  dom.name, exc.message)
