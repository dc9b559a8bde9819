"""``<source fdgroup='NAME'/>`` disks: an associated descriptor group handed to QEMU as an
fd set (libvirt 9.0's qemuDomainPrepareStorageSourceFDs and qemu_fd.c's qemuFDPass).

At start each such disk gets copies of its group's descriptors as fd set N
(``-add-fd set=N,fd=FD,opaque=libvirt-I-storageK`` before its ``-blockdev``) and QEMU
opens ``/dev/fdset/N``: the daemon never opens the image by path.  A hot-plugged disk
gets them through QMP ``add-fd`` (each descriptor sent with SCM_RIGHTS on the monitor
socket).  The daemon's copies close once QEMU holds its own; QEMU's close when it exits;
the group stays with the domain until the connection that associated it closes
(fdgroups.py), so the domain can start again from it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from virtkit.drivers.qemu.fdgroups import FDGroups
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error
from virtkit.rpc.fdpass import close_fds

__all__ = ["PLACEHOLDER", "DiskFDSet", "add_fd_args", "all_fds", "close", "fdgroup_of",
           "next_set_id", "prepare", "prepare_disk", "remove_set", "remove_sets_of",
           "transfer_monitor"]

_MONITOR_TIMEOUT = 30.0
FAKE_PATH = "/dev/fdset/monitor-fake"  # libvirt's path when the set is not known


@dataclass(frozen=True)
class DiskFDSet:
    """One disk's fd set: its id, the daemon's copies of the group's descriptors and the
    group's VIR_DOMAIN_FD_ASSOCIATE_SECLABEL_WRITABLE."""

    set_id: int  # -1: unknown (a re-attach rebuilding names only)
    fds: tuple[int, ...]
    writable: bool = False

    @property
    def path(self) -> str:
        """What QEMU opens (``/dev/fdset/N``)."""
        return f"/dev/fdset/{self.set_id}" if self.set_id >= 0 else FAKE_PATH

    def storage_props(self, readonly: bool) -> dict[str, bool]:
        """The storage node's access flags (qemuBlockStorageSourceGetBackendProps): QEMU
        picks a descriptor from the set by access mode, so with one descriptor there is no
        ``auto-read-only`` (it would ask for a read-only one first) and ``read-only`` is
        the disk's unless the group was associated writable."""
        if len(self.fds) == 1:
            return {"read-only": False if self.writable else readonly}
        return {"auto-read-only": True}


PLACEHOLDER = DiskFDSet(-1, ())  # the names of a disk whose fd set is not known


def fdgroup_of(disk: Any) -> str | None:
    """The group a file disk's source names (libvirt parses ``fdgroup`` for type file)."""
    src = getattr(disk, "source", None)
    if src is None or getattr(disk, "type", None) not in (None, "file"):
        return None
    group = getattr(src, "fdgroup", None)
    return str(group) if group else None


def _target(disk: Any) -> str:
    return str(disk.target.dev) if disk.target is not None and disk.target.dev else ""


def prepare_disk(disk: Any, groups: FDGroups, uuid: str, set_id: int) -> DiskFDSet:
    """Copies of the descriptors of the group ``disk`` names, as fd set ``set_id``."""
    name = fdgroup_of(disk)
    group = groups.get(uuid, name) if name is not None else None
    if group is None:
        raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.QEMU,
                         f"file descriptor group '{name}' was not associated with the domain")
    copies: list[int] = []
    try:
        for fd in group.fds:
            copies.append(os.dup(fd))
    except OSError:
        close_fds(copies)
        raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.QEMU,
                         f"failed to duplicate file descriptor for fd group '{name}'") from None
    return DiskFDSet(set_id, tuple(copies), group.writable)


def prepare(disks: Iterable[Any], groups: FDGroups, uuid: str) -> dict[str, DiskFDSet]:
    """The fd sets (by ``<target dev>``, numbered from 0 in document order) of the disks
    whose source is a descriptor group; VIR_ERR_INVALID_ARG for a group not associated."""
    sets: dict[str, DiskFDSet] = {}
    try:
        for disk in disks:
            if fdgroup_of(disk) is not None:
                sets[_target(disk)] = prepare_disk(disk, groups, uuid, len(sets))
    except BaseException:
        close(sets.values())
        raise
    return sets


def close(sets: Iterable[DiskFDSet]) -> None:
    """Drop the daemon's copies (QEMU has its own, or the start failed)."""
    for s in sets:
        close_fds(s.fds)


def all_fds(sets: Mapping[str, DiskFDSet]) -> list[int]:
    """Every descriptor the new QEMU must inherit."""
    return [fd for s in sets.values() for fd in s.fds]


def add_fd_args(fdset: DiskFDSet, storage_node: str) -> list[str]:
    """``-add-fd`` for each descriptor (qemuFDPassTransferCommand)."""
    argv: list[str] = []
    for i, fd in enumerate(fdset.fds):
        argv += ["-add-fd", f"set={fdset.set_id},fd={fd},opaque={storage_node}{i}"]
    return argv


def _set_ids(mon: Any) -> set[int]:
    return {int(s["fdset-id"]) for s in mon.execute("query-fdsets") or []}


def next_set_id(mon: Any) -> int:
    """The first fd set id after those QEMU has (qemuProcessRefreshFdsetIndex)."""
    ids = _set_ids(mon)
    return max(ids) + 1 if ids else 0


def transfer_monitor(mon: Any, fdset: DiskFDSet, storage_node: str) -> None:
    """qemuFDPassTransferMonitor: each descriptor to QEMU with QMP ``add-fd``."""
    if fdset.set_id in _set_ids(mon):
        raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.QEMU,
                         f"fdset '{fdset.set_id}' is already in use by qemu")
    for i, fd in enumerate(fdset.fds):
        mon.execute("add-fd", {"fdset-id": fdset.set_id, "opaque": f"{storage_node}{i}"},
                    timeout=_MONITOR_TIMEOUT, fd=fd)


def remove_sets_of(mon: Any, storage_node: str) -> None:
    """A detached disk's fd sets (their descriptors' opaque names its storage node) go,
    as libvirt's detach removes the disk's fdset: QEMU lets go of the image."""
    try:
        sets = mon.execute("query-fdsets") or []
    except VirtError:
        return
    for fdset in sets:
        opaques = [str(fd.get("opaque", "")) for fd in fdset.get("fds", [])]
        if any(o.startswith(storage_node) and o[len(storage_node):].isdigit()
               for o in opaques):
            remove_set(mon, int(fdset["fdset-id"]))


def remove_set(mon: Any, set_id: int) -> None:
    """qemuFDPassTransferMonitorRollback: QMP ``remove-fd`` of the whole set."""
    with contextlib.suppress(VirtError):
        mon.execute("remove-fd", {"fdset-id": set_id})
