"""Crash recovery: find every QEMU a previous daemon started, and finish what it left undone.

The status file of a domain is written before its QEMU is spawned (pid 0, ``paused`` /
``starting up``) and rewritten as the start proceeds, so a daemon killed at any point
leaves a record naming the QEMU's ``-pidfile`` and the domain's UUID. After a restart the
QEMUs of a record are the recorded pid, the pid in the pid file, and any process whose
command line holds that ``-pidfile`` and ``-uuid`` (one that had not written its pid file
yet). Each is checked against ``/proc/PID/cmdline`` and held through a pidfd before it is
signalled, so a reused pid is never hit. libvirt's qemuProcessReconnect then decides: a
start that had not finished is killed (the domain shut off, reason ``failed``); a started
QEMU is re-attached and any other QEMU of the record killed; an async job (save, snapshot)
that was interrupted is cancelled and the guest resumed (qemuProcessRecoverJob).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

from virtkit.constants import DomainPausedReason
from virtkit.drivers.qemu.process import (
    QemuProcess,
    find_processes,
    read_pid_file,
)
from virtkit.drivers.qemu.status import DomainStatus
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["ASYNC_JOBS", "RESUMABLE", "drop_orphan_nodes", "find_qemus",
           "interrupted_job_cleanup", "kill_all", "qemu_options"]

log = logging.getLogger(__name__)

# libvirt's async jobs whose interruption is recovered here (status ``<job async=...>``)
ASYNC_JOBS = ("save", "snapshot")
_JOB_WAIT = 60.0
_KILL_WAIT = 10.0
_ACTIVE_MIGRATION = ("setup", "active", "pre-switchover", "device", "cancelling")
_OUR_NODE = re.compile(r"libvirt-\d+-(storage|format)\Z")


def qemu_options(entry: DomainStatus, uuid: str) -> dict[str, str]:
    """The command-line options that make a QEMU this record's: ``-uuid`` and ``-pidfile``."""
    options = {"-uuid": uuid}
    if entry.pid_file:
        options["-pidfile"] = entry.pid_file
    return options


def _candidate_pids(entry: DomainStatus, options: dict[str, str]) -> set[int]:
    pids = {entry.pid} if entry.pid > 0 else set()
    if entry.pid_file:
        from_file = read_pid_file(entry.pid_file)
        if from_file is not None and from_file > 0:
            pids.add(from_file)
        pids.update(find_processes(options))
    return pids


def find_qemus(entry: DomainStatus, uuid: str) -> list[QemuProcess]:
    """Every live QEMU of ``entry`` (held by pidfd; its command line names the domain)."""
    options = qemu_options(entry, uuid)
    found = []
    for pid in sorted(_candidate_pids(entry, options)):
        start = entry.start_time if pid == entry.pid and entry.start_time else None
        proc = QemuProcess.attach(pid, expected_argv0=entry.argv0 or None, start_time=start,
                                  options=options)
        if proc is not None:
            found.append(proc)
    return found


def kill_all(procs: list[QemuProcess]) -> None:
    """SIGKILL each process (through its pidfd) and wait for it to be gone."""
    for proc in procs:
        log.warning("killing QEMU process %d left by an unfinished operation", proc.pid)
        proc.kill()
    for proc in procs:
        with contextlib.suppress(TimeoutError):
            proc.wait(_KILL_WAIT)


def _wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``pred`` until it holds; VIR_ERR_OPERATION_TIMEOUT after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= deadline:
            raise make_error(ErrorCode.OPERATION_TIMEOUT, ErrorDomain.QEMU,
                             f"{what} did not end within {timeout:g} s")
        time.sleep(0.05)


def _migration_over(mon: Any) -> bool:
    try:
        return mon.execute("query-migrate").get("status") not in _ACTIVE_MIGRATION
    except VirtError:
        return True


def _jobs_over(mon: Any) -> bool:
    """Dismiss the concluded jobs; True when none is left running."""
    try:
        jobs = mon.execute("query-jobs")
    except VirtError:
        return True
    running = False
    for job in jobs:
        if job.get("status") == "concluded":
            with contextlib.suppress(VirtError):
                mon.execute("job-dismiss", {"id": job["id"]})
        else:
            running = True
    return not running


def interrupted_job_cleanup(mon: Any, job: str, managed_save: str) -> None:
    """Cancel what an interrupted save or snapshot left in QEMU: the migration to the
    image (its managed-save image goes: the guest runs on) and the snapshot jobs."""
    if job == "save":
        with contextlib.suppress(VirtError):
            mon.execute("migrate_cancel")
        _wait(lambda: _migration_over(mon), _JOB_WAIT, "the interrupted migration to file")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(managed_save)
            log.warning("removed the managed-save image %s of an interrupted save",
                        managed_save)
    _wait(lambda: _jobs_over(mon), _JOB_WAIT, "the interrupted snapshot jobs")


def reconcile_devices(mon: Any, live: Any) -> list[str]:
    """qemuProcessUpdateDevices: drop from the live definition the disks and interfaces
    QEMU does not have (a hot-plug written ahead whose ``device_add`` never ran, or an
    unplug QEMU finished while the daemon was away); returns the aliases dropped. QEMU's
    devices are the children of ``/machine/peripheral`` (their ids are our aliases)."""
    try:
        present = {c.get("name") for c in mon.execute("qom-list",
                                                      {"path": "/machine/peripheral"})}
    except VirtError:
        return []
    devices = live.devices
    if devices is None:
        return []
    dropped: list[str] = []
    for group in (devices.disks, devices.interfaces):
        for dev in list(group):
            alias = dev.alias.name if dev.alias is not None else None
            if alias and alias not in present:
                group.remove(dev)
                dropped.append(str(alias))
    for alias in dropped:
        log.warning("device %s is not in QEMU (an interrupted hot-plug): dropped from the "
                    "live definition", alias)
    return dropped


def drop_orphan_nodes(mon: Any, known: set[str]) -> None:
    """Delete the block nodes an interrupted hot-plug or snapshot added (``blockdev-add``
    done, the live XML not updated): ours by name, unknown to the live definition. QEMU
    refuses to delete a node in use (a backing image, a device's), so only orphans go, and
    with them the image locks they held."""
    try:
        nodes = mon.execute("query-named-block-nodes", {"flat": True})
    except VirtError:
        return
    names = {n.get("node-name", "") for n in nodes}
    orphans = sorted((n for n in names if _OUR_NODE.match(n) and n not in known),
                     key=lambda n: not n.endswith("-format"))  # a format node holds its file
    for name in orphans:
        try:
            mon.execute("blockdev-del", {"node-name": name})
            log.warning("deleted block node %s left by an interrupted operation", name)
        except VirtError:
            pass  # in use: not an orphan


# paused reasons an interrupted job leaves the guest in (ours, or not yet seen)
RESUMABLE = (DomainPausedReason.SAVE, DomainPausedReason.UNKNOWN)
