"""A domain's snapshot tree: lookup, relations, listing filters, current marker, redefinition,
disk alignment.

Driver-neutral (libvirt's virdomainmomentobjlist.c / virdomainsnapshotobjlist.c and
snapshot_conf.c semantics); a driver keeps one :class:`SnapshotTree` per domain (or builds
one over its own records) and adds what is its own (storage of metadata, disk work, events).
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

from virtkit.constants import DomainSnapshotCreateFlags, DomainSnapshotListFlags
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

if TYPE_CHECKING:
    from virtkit.conf.snapshot import DomainSnapshotDef, SnapshotDisk

__all__ = [
    "LIST_ALLOWED",
    "SnapshotTree",
    "align_disks",
    "is_external",
    "memory_location",
    "not_found",
]

_L = DomainSnapshotListFlags
LIST_ROOTS = LIST_DESCENDANTS = int(_L.ROOTS)
LIST_METADATA, LIST_NO_METADATA = int(_L.METADATA), int(_L.NO_METADATA)
LIST_LEAVES, LIST_NO_LEAVES = int(_L.LEAVES), int(_L.NO_LEAVES)
LIST_INACTIVE, LIST_ACTIVE, LIST_DISK_ONLY = int(_L.INACTIVE), int(_L.ACTIVE), int(_L.DISK_ONLY)
LIST_INTERNAL, LIST_EXTERNAL = int(_L.INTERNAL), int(_L.EXTERNAL)
LIST_TOPOLOGICAL = int(_L.TOPOLOGICAL)
# VIR_DOMAIN_SNAPSHOT_FILTERS_ALL: every filter group
FILTERS_ALL = (LIST_METADATA | LIST_NO_METADATA | LIST_LEAVES | LIST_NO_LEAVES | LIST_INACTIVE
               | LIST_ACTIVE | LIST_DISK_ONLY | LIST_INTERNAL | LIST_EXTERNAL)
LIST_ALLOWED = LIST_ROOTS | LIST_TOPOLOGICAL | FILTERS_ALL
CREATE_DISK_ONLY = int(DomainSnapshotCreateFlags.DISK_ONLY)

_SNAP = ErrorDomain.DOMAIN_SNAPSHOT
_ONLINE = ("running", "paused")
_OFFLINE = ("shutoff", "disk-snapshot")


def is_external(d: DomainSnapshotDef) -> bool:
    """virDomainSnapshotDefIsExternal: external memory or any external disk."""
    if d.memory is not None and d.memory.snapshot == "external":
        return True
    return any(disk.snapshot == "external" for disk in d.disks)


def not_found(name: str, error_domain: int) -> VirtError:
    """libvirt's error for a snapshot name the domain does not have."""
    return make_error(ErrorCode.NO_DOMAIN_SNAPSHOT, error_domain,
                      f"no domain snapshot with matching name '{name}'")


def memory_location(d: DomainSnapshotDef, offline: bool, redefine: bool) -> str | None:
    """virDomainSnapshotDefParse's ``<memory>`` rules, settled in ``d``: a file alone means
    external; a redefinition without a choice gets ``no`` offline and ``internal`` online;
    saved memory is refused for an offline or disk-only snapshot. Returns the location."""
    mem = d.memory
    location = mem.snapshot if mem is not None else None
    if location in (None, "default"):
        if mem is not None and mem.file:
            location = "external"
        elif redefine:
            location = "no" if offline else "internal"
        if location not in (None, "default"):
            if mem is None:
                from virtkit.conf.snapshot import SnapshotMemory

                mem = d.memory = SnapshotMemory()
            mem.snapshot = location
    if offline and location not in (None, "default", "no"):
        raise make_error(ErrorCode.XML_ERROR, _SNAP,
                         "memory state cannot be saved with offline or disk-only snapshot")
    return location


class SnapshotTree:
    """The snapshots of one domain, in creation order, and which one is current."""

    def __init__(self, error_domain: int,
                 snaps: dict[str, DomainSnapshotDef] | None = None) -> None:
        self.snaps: dict[str, DomainSnapshotDef] = {} if snaps is None else snaps
        self.current: str | None = None
        self._domain = error_domain  # the driver's error domain (NO_DOMAIN_SNAPSHOT)

    def __len__(self) -> int:
        return len(self.snaps)

    def get(self, name: str) -> DomainSnapshotDef:
        """The snapshot called ``name``, or libvirt's NO_DOMAIN_SNAPSHOT error."""
        d = self.snaps.get(name)
        if d is None:
            raise not_found(name, self._domain)
        return d

    def check_unused(self, name: str) -> None:
        """virDomainMomentAssignDef's refusal of a name already taken."""
        if name in self.snaps:
            raise make_error(ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                             f"domain moment {name} already exists")

    # ------------------------------------------------------------ relations

    def children(self, name: str | None) -> list[DomainSnapshotDef]:
        """Direct children (roots for None), newest first as libvirt links them."""
        return [d for d in reversed(self.snaps.values()) if d.parent == name]

    def descendants(self, name: str) -> list[DomainSnapshotDef]:
        """Pre-order walk below ``name`` (virDomainMomentForEachDescendant)."""
        out: list[DomainSnapshotDef] = []
        for kid in self.children(name):
            out.append(kid)
            out.extend(self.descendants(kid.name or ""))
        return out

    def check_cycles(self, d: DomainSnapshotDef) -> None:
        """virDomainMomentCheckCycles for a redefinition of ``d``."""
        name, parent = d.name or "", d.parent
        if parent is None:
            return
        if parent == name:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.DOMAIN,
                             f"cannot set moment {name} as its own parent")
        other = self.snaps.get(parent)
        if other is None:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.DOMAIN,
                             f"parent {parent} for moment {name} not found")
        seen = set()
        while other is not None and other.parent is not None and other.name not in seen:
            seen.add(other.name)
            if other.parent == name:
                raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.DOMAIN,
                                 f"parent {other.name} would create cycle to {name}")
            other = self.snaps.get(other.parent)

    def redefine_prep(self, d: DomainSnapshotDef, uuid: str, dom_def: Any, flags: int,
                      ) -> DomainSnapshotDef | None:
        """virDomainSnapshotRedefinePrep + virDomainSnapshotReplaceDef's domain take-over.

        ``dom_def`` is ``d``'s ``<domain>`` parsed (None when absent or uuid-only), ``uuid``
        the domain's. Checks the tree and the existing snapshot of that name, aligns ``d``'s
        disks; ``d`` takes the existing snapshot's ``<domain>`` when it has none. Returns
        the existing snapshot (None for a new one); storing ``d`` is the caller's.
        """
        name = d.name or ""
        self.check_cycles(d)
        other = self.snaps.get(name)
        if flags & CREATE_DISK_ONLY and d.state != "disk-snapshot":
            raise make_error(ErrorCode.INVALID_ARG, _SNAP, f"disk-only flag for snapshot {name} "
                             "requires disk-snapshot state")
        if dom_def is not None and (dom_def.uuid or "").lower() != uuid.lower():
            raise make_error(ErrorCode.INVALID_ARG, _SNAP,
                             f"definition for snapshot {name} must use uuid {uuid}")
        if other is not None:
            if (other.state in _ONLINE) != (d.state in _ONLINE):
                raise make_error(ErrorCode.INVALID_ARG, _SNAP, "cannot change between online "
                                 f"and offline snapshot state in snapshot {name}")
            if (other.state == "disk-snapshot") != (d.state == "disk-snapshot"):
                raise make_error(ErrorCode.INVALID_ARG, _SNAP, "cannot change between disk "
                                 f"only and full system in snapshot {name}")
        existing = other.domain_def if dom_def is None and other is not None else None
        location = "external" if d.state == "disk-snapshot" or is_external(d) else "internal"
        if dom_def is None and existing is None:
            raise make_error(ErrorCode.INTERNAL_ERROR, _SNAP, "missing domain in snapshot")
        align_disks(d, dom_def if dom_def is not None else existing, location)
        if existing is not None and other is not None:
            d.domain = other.domain
        return other

    # ------------------------------------------------------------ listing

    def _filter(self, snaps: list[DomainSnapshotDef], flags: int) -> list[DomainSnapshotDef]:
        if flags & (LIST_METADATA | LIST_NO_METADATA) == LIST_NO_METADATA:
            return []  # every snapshot has metadata
        out = []
        for d in snaps:
            if flags & (LIST_LEAVES | LIST_NO_LEAVES):
                leaf = not self.children(d.name)
                if not ((flags & LIST_LEAVES and leaf) or (flags & LIST_NO_LEAVES and not leaf)):
                    continue
            if flags & (LIST_INACTIVE | LIST_ACTIVE | LIST_DISK_ONLY):
                st = d.state
                if not ((flags & LIST_INACTIVE and st == "shutoff")
                        or (flags & LIST_DISK_ONLY and st == "disk-snapshot")
                        or (flags & LIST_ACTIVE and st not in ("shutoff", "disk-snapshot"))):
                    continue
            if flags & (LIST_INTERNAL | LIST_EXTERNAL):
                ext = is_external(d)
                if not ((flags & LIST_EXTERNAL and ext) or (flags & LIST_INTERNAL and not ext)):
                    continue
            out.append(d)
        return out

    def _topological(self, snaps: list[DomainSnapshotDef]) -> list[DomainSnapshotDef]:
        wanted = {d.name for d in snaps}
        ordered: list[DomainSnapshotDef] = []
        for root in reversed(self.snaps.values()):
            if root.parent is None or root.parent not in self.snaps:
                ordered.extend(d for d in [root, *self.descendants(root.name or "")]
                               if d.name in wanted)
        return ordered

    def list(self, parent: str | None, flags: int) -> list[DomainSnapshotDef]:
        """virDomainSnapshotObjListGetNames: all (ROOTS) or the children (DESCENDANTS) of
        ``parent``, filtered; TOPOLOGICAL puts parents before children."""
        if parent is None:
            snaps = list(self.snaps.values())
            if flags & LIST_ROOTS:
                snaps = [d for d in snaps if d.parent is None]
        elif flags & LIST_DESCENDANTS:
            snaps = self.descendants(parent)
        else:
            snaps = self.children(parent)
        snaps = self._filter(snaps, flags)
        if flags & LIST_TOPOLOGICAL:
            snaps = self._topological(snaps)
        return snaps


# ---------------------------------------------------------------- disk alignment

_SOURCE_KEYS = {"file": "file", "block": "dev", "dir": "dir", "network": "name"}


def domdisk_source(disk: Any) -> str | None:
    """virDomainDiskGetSource: the path of a local source, the name of a network one."""
    key = _SOURCE_KEYS.get(disk.type or "file")
    src = disk.source
    return getattr(src, key, None) if key and src is not None else None


def domdisk_empty(disk: Any) -> bool:
    """virStorageSourceIsEmpty."""
    return (disk.type or "file") in ("file", "block", "dir") and domdisk_source(disk) is None


def snapdisk_path(disk: SnapshotDisk) -> str | None:
    """The path (or network name, volume) a snapshot ``<disk>``'s ``<source>`` names."""
    src = disk.source
    if src is None:
        return None
    for key in ("file", "dev", "dir", "name", "volume"):
        value = src.get(key)
        if value is not None:
            return str(value)
    return None


def _find_domdisk(disks: list[Any], name: str) -> Any:
    """virDomainDiskByName(allow_ambiguous=false): target, or an unambiguous source path."""
    found = None
    for disk in disks:
        if not name.startswith("/"):
            if disk.target is not None and disk.target.dev == name:
                return disk
        elif domdisk_source(disk) == name:
            if found is not None:
                return None
            found = disk
    return found


def _location(value: str | None) -> str | None:
    return None if value in (None, "default") else value


def _configured(domdisk: Any) -> str | None:
    """A domain disk's own snapshot mode: a read-only disk (a CD-ROM) that names none is
    'no' (libvirt's virDomainDiskDefPostParse), so snapshots leave it out."""
    mode = _location(domdisk.snapshot)
    if mode is None and (domdisk.readonly or domdisk.device == "cdrom"):
        return "no"
    return mode


def _conf_err(detail: str) -> VirtError:
    return make_error(ErrorCode.CONFIG_UNSUPPORTED, _SNAP, detail)


def align_disks(d: DomainSnapshotDef, dom: Any, default: str, uniform_internal: bool = True,
                ) -> None:
    """virDomainSnapshotAlignDisks: one ``<disk>`` per domain disk, in the domain's order,
    with its snapshot mode settled (``default`` where neither side chose)."""
    from virtkit.conf.snapshot import SnapshotDisk

    domdisks = list(dom.devices.disks) if dom is not None and dom.devices is not None else []
    if len(d.disks) > len(domdisks):
        raise _conf_err("too many disk snapshot requests for domain")
    require_match = uniform_internal and default == "internal"
    if not domdisks:
        return
    given: dict[str, SnapshotDisk] = {}
    for snapdisk in d.disks:
        name = snapdisk.name or ""
        domdisk = _find_domdisk(domdisks, name)
        if domdisk is None:
            raise _conf_err(f"no disk named '{name}'")
        dst = domdisk.target.dev
        if dst in given:
            raise _conf_err(f"disk '{name}' specified twice")
        given[dst] = snapdisk
        wanted, configured = _location(snapdisk.snapshot), _configured(domdisk)
        if wanted is None:
            if configured is not None and (not require_match or configured == "no"):
                snapdisk.snapshot = configured
            else:
                snapdisk.snapshot = default
        elif require_match and wanted != default and not (wanted == configured == "no"):
            raise _conf_err(f"disk '{name}' must use snapshot mode '{default}'")
        path = snapdisk_path(snapdisk)
        if path and snapdisk.snapshot != "external":
            raise _conf_err(f"file '{path}' for disk '{name}' requires use of external "
                            "snapshot mode")
        snapdisk.name = dst
    aligned = []
    for domdisk in domdisks:
        dst = domdisk.target.dev
        if dst in given:
            aligned.append(given[dst])
            continue
        snapdisk = SnapshotDisk()
        snapdisk.name = dst
        snapdisk.snapshot = "no" if domdisk_empty(domdisk) else _configured(domdisk)
        snapdisk.snapshot = snapdisk.snapshot or default
        aligned.append(snapdisk)
    d.disks = aligned
    _assign_external_names(d, domdisks)


def _assign_external_names(d: DomainSnapshotDef, domdisks: list[Any]) -> None:
    """virDomainSnapshotDefAssignExternalNames: ``<source path minus suffix>.<snapshot>``."""
    from lxml import etree

    for index, snapdisk in enumerate(d.disks):
        if snapdisk.snapshot != "external" or snapdisk_path(snapdisk):
            continue
        name = snapdisk.name
        if snapdisk.type not in (None, "file"):
            raise _conf_err(f"cannot generate external snapshot name for disk '{name}' "
                            f"on a '{snapdisk.type}' device")
        origin = domdisk_source(domdisks[index])
        if origin is None:
            raise _conf_err(f"cannot generate external snapshot name for disk '{name}' "
                            "without source")
        try:
            regular = stat.S_ISREG(os.stat(origin).st_mode)
        except OSError:
            regular = False
        if not regular:
            raise _conf_err(f"source for disk '{name}' is not a regular file; refusing to "
                            "generate external snapshot name")
        base, dot, suffix = origin.rpartition(".")
        stem = base if dot and "/" not in suffix else origin
        path = f"{stem}.{d.name}"
        for other in d.disks[:index]:
            if snapdisk_path(other) == path:
                raise _conf_err(f"cannot generate external snapshot name for disk '{name}': "
                                f"collision with disk '{other.name}'")
        snapdisk.type = "file"
        snapdisk.source = etree.Element("source", file=path)
