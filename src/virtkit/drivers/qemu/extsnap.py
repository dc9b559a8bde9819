"""External (disk-only) snapshots of the QEMU driver, as libvirt 9.0's qemu_snapshot.c does them.

- creation, shut-off domain: ``qemu-img create -f qcow2 -o backing_fmt=FMT,backing_file=SRC
  OVERLAY`` for every external disk, then the persistent definition's disk sources switch to
  the overlays (state ``shutoff``);
- creation, running domain: each overlay is created (``qemu-img create -u`` with the size QEMU
  reports), opened with ``blockdev-add`` (file node + qcow2 node with ``backing: null``) and
  installed over the disk's current top node by one QMP ``transaction`` of
  ``blockdev-snapshot`` actions (atomic); the live disk shows the overlay with the old chain
  under ``<backingStore>`` (state ``disk-snapshot``);
- deletion (libvirt 9.0 deletes external snapshots without children): a running domain
  commits the overlay into its parent with ``block-commit`` (an active commit pivoted with
  ``job-complete`` when the overlay is the top), a shut-off one with ``qemu-img commit``; the
  overlay file is removed and the disk goes back to the parent image;
- revert is refused as libvirt 9.0 refuses it (in snapshots.py).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import stat
import uuid as uuidlib
from typing import TYPE_CHECKING, Any

from virtkit.conf.dev_disk import BackingStore, DiskDriver, DiskFormat, DiskSource
from virtkit.conf.snapshot import DomainSnapshotDef, SnapshotDiskDriver, SnapshotMemory
from virtkit.drivers import snapshottree as st
from virtkit.drivers.qemu import command
from virtkit.drivers.qemu import snapshots as snp
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

if TYPE_CHECKING:
    from virtkit.conf.domain import DomainDef
    from virtkit.drivers.qemu.node import QemuDomain, QemuNode

__all__ = ["create", "delete_single", "validate_delete", "wants_external"]

log = logging.getLogger(__name__)

_Q = ErrorDomain.QEMU
_FORMATS = ("qcow2", "qed")
_PAUSED_SNAPSHOT = 9  # VIR_DOMAIN_PAUSED_SNAPSHOT


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _Q, detail)


def wants_external(d: DomainSnapshotDef, memory: str | None, flags: int) -> bool:
    """Whether creation takes the external path (qemuSnapshotCreateAlignDisks' choice)."""
    return bool(flags & snp.C_DISK_ONLY) or memory == "external"


# ============================================================================ prepare


def _kind(disk: Any, volumes: dict[tuple[str, str], tuple[str, str]]) -> str:
    """virStorageSourceGetActualType of a domain disk."""
    if disk.type == "volume":
        with contextlib.suppress(VirtError):
            return command.disk_source(disk, volumes)[0]
    return disk.type or "file"


def _prepare_disk(dom: QemuDomain, snapdisk: Any, domdisk: Any, active: bool, reuse: bool,
                  volumes: dict[tuple[str, str], tuple[str, str]]) -> None:
    """qemuSnapshotPrepareDiskExternal."""
    snaptype = snapdisk.type or "file"
    if not active:
        domtype = _kind(domdisk, volumes)
        for kind in (domtype, snaptype):
            if kind not in ("file", "block"):
                raise _err(ErrorCode.INTERNAL_ERROR, "external inactive snapshots are not "
                           f"supported on '{kind}' disks")
    else:
        if domdisk.device == "lun":
            raise _err(ErrorCode.CONFIG_UNSUPPORTED, "external active snapshots are not "
                       "supported on scsi passthrough devices")
        if snaptype not in ("file", "block"):
            raise _err(ErrorCode.INTERNAL_ERROR, "external active snapshots are not supported "
                       f"on '{snaptype}' disks")
    path = st.snapdisk_path(snapdisk) or ""
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno != 2:
            raise _err(ErrorCode.SYSTEM_ERROR, f"unable to stat for disk {snapdisk.name}: "
                       f"{path}: {exc.strerror}") from None
        if reuse:
            raise _err(ErrorCode.SYSTEM_ERROR, f"missing existing file for disk "
                       f"{snapdisk.name}: {path}: {exc.strerror}") from None
        if snaptype == "block":
            raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                       f"block device snapshot target '{path}' doesn't exist") from None
        return
    if (snaptype == "block" and not stat.S_ISBLK(info.st_mode)) or \
            (snaptype == "file" and not stat.S_ISREG(info.st_mode)):
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, "mismatch between configured type for "
                   f"snapshot disk '{snapdisk.name}' and the type of existing file '{path}'")
    if not reuse and snaptype == "file" and info.st_size > 0:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, f"external snapshot file for disk "
                   f"{snapdisk.name} already exists and is not a block device: {path}")


def _prepare(dom: QemuDomain, d: DomainSnapshotDef, defn: DomainDef, reuse: bool,
             volumes: dict[tuple[str, str], tuple[str, str]]) -> bool:
    """qemuSnapshotPrepare for an external snapshot; whether a disk is 'manual'."""
    active = dom.active
    found_internal = forbid_internal = has_manual = False
    external = 0
    for snapdisk, domdisk in zip(d.disks, snp._disks(defn), strict=False):
        mode = snapdisk.snapshot
        if mode == "internal":
            found_internal = True
            if d.state == "disk-snapshot" and active:
                raise _err(ErrorCode.CONFIG_UNSUPPORTED, "active qemu domains require external "
                           f"disk snapshots; disk {snapdisk.name} requested internal")
            if snp._fmt(domdisk) != "qcow2":
                raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                           f"internal snapshot for disk {snapdisk.name} unsupported for "
                           f"storage type {snp._fmt(domdisk)}")
        elif mode == "external":
            if snapdisk.driver is None or not snapdisk.driver.type:
                snapdisk.driver = SnapshotDiskDriver(type="qcow2")
            elif snapdisk.driver.type not in _FORMATS:
                raise _err(ErrorCode.CONFIG_UNSUPPORTED, "external snapshot format for disk "
                           f"{snapdisk.name} is unsupported: {snapdisk.driver.type}")
            _prepare_disk(dom, snapdisk, domdisk, active, reuse, volumes)
            external += 1
        elif mode == "manual":
            has_manual = forbid_internal = True
        elif mode == "no" and not st.domdisk_empty(domdisk) and not domdisk.readonly:
            forbid_internal = True
    memory = d.memory.snapshot if d.memory is not None else None
    if not found_internal and not external and memory == "no":
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, "nothing selected for snapshot")
    if (memory == "internal" and not found_internal) or (found_internal and forbid_internal):
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, "internal and full system snapshots require "
                   "all disks to be selected for snapshot")
    if d.state == "disk-snapshot" and not external:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, "disk-only snapshots require at least one "
                   "disk to be selected for snapshot")
    if (found_internal and external) or (memory == "internal" and external) \
            or (memory == "external" and found_internal):
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, "mixing internal and external targets for a "
                   "snapshot is not yet supported")
    return has_manual


# ============================================================================ create


def create(node: QemuNode, dom: QemuDomain, d: DomainSnapshotDef, memory: str | None,
           flags: int) -> None:
    """qemuSnapshotCreate for a disk-only snapshot (external memory is refused)."""
    from virtkit.drivers.qemu import node as qn

    if memory == "external" and not flags & snp.C_DISK_ONLY:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                   "external memory snapshots are not supported by this QEMU driver yet")
    tree = dom.snapshots
    name = d.name or ""
    active = dom.active
    defn = dom.definition()
    d.domain = snp._domain_element(defn)
    if active and dom.persistent is not None:
        d.inactive_domain = snp._domain_element(dom.persistent, "inactiveDomain")
    d.state = "disk-snapshot" if active else "shutoff"
    d.memory = SnapshotMemory(snapshot="no")
    st.align_disks(d, defn, "external")
    volumes = dict(dom.volumes) if active else node.translate_volumes(defn)
    reuse = bool(flags & snp.C_REUSE_EXT)
    has_manual = _prepare(dom, d, defn, reuse, volumes)
    metadata = not flags & snp.C_NO_METADATA
    if metadata:
        if name in tree.snaps:
            raise _err(ErrorCode.OPERATION_FAILED, f"domain moment {name} already exists")
        d.parent = tree.current
    if active:
        _create_active(node, dom, d, flags, has_manual)
    else:
        _create_inactive(node, dom, d, volumes, reuse)
    if metadata:
        tree.snaps[name] = d
        snp._set_current(node, dom, name)
        try:
            snp.write_metadata(node, dom, d)
        except VirtError:
            del tree.snaps[name]
            tree.current = d.parent
            raise
    if active and flags & snp.C_HALT and dom.active:
        node.destroy(dom, 0, reason=qn.SHUTOFF_FROM_SNAPSHOT)
    node.events.flush()


def _external(d: DomainSnapshotDef, defn: DomainDef) -> list[tuple[Any, Any]]:
    """(snapshot disk, domain disk) of every external disk, aligned."""
    return [(sd, disk) for sd, disk in zip(d.disks, snp._disks(defn), strict=False)
            if sd.snapshot == "external"]


def _snapfmt(snapdisk: Any) -> str:
    return (snapdisk.driver.type if snapdisk.driver is not None else None) or "qcow2"


def _escape_comma(value: str) -> str:
    return value.replace(",", ",,")


def _create_inactive(node: QemuNode, dom: QemuDomain, d: DomainSnapshotDef,
                     volumes: dict[tuple[str, str], tuple[str, str]], reuse: bool) -> None:
    """qemuSnapshotCreateInactiveExternal."""
    defn = dom.definition()
    pairs = _external(d, defn)
    created: list[str] = []
    try:
        for snapdisk, disk in pairs if not reuse else []:
            path = st.snapdisk_path(snapdisk) or ""
            backing = command.disk_source(disk, volumes)[1] or ""
            existed = os.path.exists(path)
            snp._qemu_img(["create", "-f", _snapfmt(snapdisk), "-o",
                           f"backing_fmt={snp._fmt(disk)},backing_file={_escape_comma(backing)}",
                           _escape_comma(path)])
            if not existed:
                created.append(path)
        newdef = copy.deepcopy(defn)
        for snapdisk, _ in pairs:
            disk = next(x for x in snp._disks(newdef)
                        if x.target is not None and x.target.dev == snapdisk.name)
            _switch_source(disk, snapdisk)
        _save_config(node, dom, newdef)
    except BaseException:
        for path in created:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise


def _switch_source(disk: Any, snapdisk: Any, index: str | None = None) -> None:
    """The disk now reads and writes the snapshot's overlay."""
    disk.type = snapdisk.type or "file"
    path = st.snapdisk_path(snapdisk)
    disk.source = DiskSource(dev=path) if disk.type == "block" else DiskSource(file=path)
    disk.source.index = index
    if disk.driver is None:
        disk.driver = DiskDriver(name="qemu")
    disk.driver.type = _snapfmt(snapdisk)


def _save_config(node: QemuNode, dom: QemuDomain, newdef: DomainDef) -> None:
    if dom.persistent is None:
        return
    with dom.lock:
        node.configs.save(dom.name, newdef.to_xml(), dom.uuid)
        dom.persistent = newdef


# ---------------------------------------------------------------------------- running


def _named_nodes(mon: Any) -> list[dict[str, Any]]:
    nodes = mon.execute("query-named-block-nodes")
    return list(nodes) if isinstance(nodes, list) else []


def _format_node(nodes: list[dict[str, Any]], path: str) -> dict[str, Any] | None:
    """The format (not protocol) node QEMU opened ``path`` with; ours (libvirt-*) first."""
    found = [n for n in nodes if n.get("file") == path
             and n.get("drv") not in ("file", "host_device", "host_cdrom")]
    found.sort(key=lambda n: not str(n.get("node-name", "")).startswith("libvirt-"))
    return found[0] if found else None


def _next_index(defn: DomainDef) -> int:
    """One more than every ``index`` of the disks' sources and backing chains."""
    top = len(snp._disks(defn))
    for disk in snp._disks(defn):
        top = max(top, int(getattr(disk.source, "index", None) or 0))
        layer = disk.backing_store
        while layer is not None:
            top = max(top, int(layer.index or 0))
            layer = layer.backing_store
    return top + 1


def _chain_from_image(image: dict[str, Any] | None) -> BackingStore:
    """The ``<backingStore>`` chain QEMU reports below an image (its ``backing-image``s)."""
    if not image:
        return BackingStore()
    path = str(image.get("filename", ""))
    kind = "block" if path.startswith("/dev/") else "file"
    src = DiskSource(dev=path) if kind == "block" else DiskSource(file=path)
    return BackingStore(type=kind, format=DiskFormat(type=image.get("format")), source=src,
                        backing_store=_chain_from_image(image.get("backing-image")))


class _Overlay:
    """One disk's overlay while it is being installed."""

    def __init__(self, snapdisk: Any, disk: Any, index: int) -> None:
        self.snapdisk = snapdisk
        self.disk = disk
        self.path = st.snapdisk_path(snapdisk) or ""
        self.index = index
        self.storage = f"libvirt-{index}-storage"
        self.format = f"libvirt-{index}-format"
        self.created = False
        self.added: list[str] = []
        self.top: dict[str, Any] = {}


def _create_active(node: QemuNode, dom: QemuDomain, d: DomainSnapshotDef, flags: int,
                   has_manual: bool) -> None:
    """qemuSnapshotCreateActiveExternal for disks only: quiesce, transaction, thaw."""
    from virtkit.drivers.qemu import node as qn

    assert dom.live is not None
    thaw = False
    if flags & snp.C_QUIESCE:
        _freeze(dom)
        thaw = True
    try:
        if has_manual and dom.state == qn.RUNNING:
            with dom.lock:
                dom.expect_stop = _PAUSED_SNAPSHOT
            dom.mon.execute("stop")
            node.wait_paused(dom)
        _install_overlays(node, dom, d, bool(flags & snp.C_REUSE_EXT))
    finally:
        if thaw and dom.active:
            _thaw(dom)


def _install_overlays(node: QemuNode, dom: QemuDomain, d: DomainSnapshotDef,
                      reuse: bool) -> None:
    assert dom.live is not None
    mon = dom.mon
    nodes = _named_nodes(mon)
    index = _next_index(dom.live)
    overlays: list[_Overlay] = []
    for snapdisk, disk in _external(d, dom.live):
        ov = _Overlay(snapdisk, disk, index)
        index += 1
        top = _format_node(nodes, dom.disk_path(disk) or "")
        if top is None:
            raise _err(ErrorCode.INTERNAL_ERROR,
                       f"cannot find the block node of disk '{snapdisk.name}'")
        ov.top = top
        overlays.append(ov)
    try:
        for ov in overlays:
            if not reuse:
                size = int((ov.top.get("image") or {}).get("virtual-size") or 0)
                existed = os.path.exists(ov.path)
                snp._qemu_img(["create", "-f", _snapfmt(ov.snapdisk), "-u",
                               "-o", f"backing_fmt={ov.top.get('drv')},"
                               f"backing_file={_escape_comma(str(ov.top.get('file')))}",
                               _escape_comma(ov.path), str(size)])
                ov.created = not existed
            driver = "host_device" if (ov.snapdisk.type or "file") == "block" else "file"
            mon.execute("blockdev-add", {"driver": driver, "filename": ov.path,
                                         "node-name": ov.storage, "auto-read-only": True,
                                         "discard": "unmap"})
            ov.added.append(ov.storage)
            mon.execute("blockdev-add", {"node-name": ov.format, "read-only": False,
                                         "driver": _snapfmt(ov.snapdisk), "file": ov.storage,
                                         "backing": None})
            ov.added.append(ov.format)
        mon.execute("transaction", {"actions": [
            {"type": "blockdev-snapshot",
             "data": {"node": ov.top["node-name"], "overlay": ov.format}}
            for ov in overlays]})
    except BaseException:
        for ov in overlays:
            for name in reversed(ov.added):
                with contextlib.suppress(VirtError):
                    mon.execute("blockdev-del", {"node-name": name})
            if ov.created:
                with contextlib.suppress(OSError):
                    os.unlink(ov.path)
        raise
    _update_definitions(node, dom, overlays)


def _update_definitions(node: QemuNode, dom: QemuDomain, overlays: list[_Overlay]) -> None:
    """qemuSnapshotDiskUpdateSource: the overlay on top of the old chain (live), the overlay
    as the source of the persistent disk that used the same image."""
    newdef = copy.deepcopy(dom.persistent) if dom.persistent is not None else None
    with dom.lock:
        for ov in overlays:
            disk = ov.disk
            old_path = dom.disk_path(disk)
            below = BackingStore(type=disk.type or "file", index=getattr(disk.source, "index",
                                                                       None),
                                 format=DiskFormat(type=snp._fmt(disk)),
                                 source=copy.deepcopy(disk.source),
                                 backing_store=disk.backing_store
                                 or _chain_from_image((ov.top.get("image") or {})
                                                      .get("backing-image")))
            if below.source is not None:
                below.source.index = None
            _switch_source(disk, ov.snapdisk, str(ov.index))
            disk.backing_store = below
            if dom.command is not None and disk.target is not None:
                old = dom.command.disks.get(disk.target.dev)
                if old is not None:
                    dom.command.disks[disk.target.dev] = command.DiskNodes(
                        old.alias, old.target, ov.storage, ov.format)
            if newdef is None:
                continue
            for pdisk in snp._disks(newdef):
                if pdisk.target is not None and pdisk.target.dev == ov.snapdisk.name \
                        and dom.disk_path(pdisk) == old_path:
                    _switch_source(pdisk, ov.snapdisk)
        node._save_status(dom)
    if newdef is not None:
        _save_config(node, dom, newdef)


def _freeze(dom: QemuDomain) -> None:
    """qemuSnapshotFSFreeze through the guest agent (refused when there is none)."""
    from virtkit.drivers.qemu import agent

    with agent.GuestAgent(agent.connected_agent_socket(dom.live)) as ga:
        ga.execute("guest-fsfreeze-freeze")


def _thaw(dom: QemuDomain) -> None:
    from virtkit.drivers.qemu import agent

    path = agent.agent_socket(dom.live) if dom.live is not None else None
    if path is None:
        return
    try:
        with agent.GuestAgent(path) as ga:
            ga.execute("guest-fsfreeze-thaw")
    except VirtError as exc:
        log.warning("%s: thawing guest filesystems failed: %s", dom.name, exc.message)


# ============================================================================ delete


def validate_delete(dom: QemuDomain, snap: DomainSnapshotDef, flags: int) -> None:
    """The external half of qemuSnapshotDeleteValidate (after the children checks)."""
    if flags & snp.D_CHILDREN:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                   "deletion of external disk snapshots with children not supported")


class _Commit:
    """One disk of an external snapshot being deleted (qemuSnapshotDeleteExternalData)."""

    def __init__(self, snapdisk: Any, disk: Any, parent_disk: Any) -> None:
        self.snapdisk = snapdisk
        self.disk = disk
        self.parent_disk = parent_disk
        self.path = st.snapdisk_path(snapdisk) or ""
        self.parent_path = st.domdisk_source(parent_disk) or ""


def _chain_paths(disk: Any) -> list[str]:
    paths = [st.domdisk_source(disk) or ""]
    layer = disk.backing_store
    while layer is not None and layer.source is not None:
        paths.append(layer.source.file or layer.source.dev or "")
        layer = layer.backing_store
    return paths


def _prepare_delete(dom: QemuDomain, snap: DomainSnapshotDef) -> list[_Commit]:
    """qemuSnapshotDeleteExternalPrepare."""
    defn = dom.definition()
    snapdom = snap.domain_def
    out = []
    for snapdisk in snap.disks:
        if snapdisk.snapshot == "no":
            continue
        if snapdisk.delete_in_progress:
            raise _err(ErrorCode.OPERATION_INVALID, f"snapshot disk '{snapdisk.name}' was "
                       "target of not completed snapshot delete")
        disk = next((x for x in snp._disks(defn)
                     if x.target is not None and x.target.dev == snapdisk.name), None)
        if disk is None:
            raise _err(ErrorCode.INVALID_ARG, f"disk '{snapdisk.name}' not found in domain")
        if dom.active and disk.backing_store is None:
            _detect_chain(dom, disk)
        chain = _chain_paths(disk)
        path = st.snapdisk_path(snapdisk) or ""
        if path not in chain:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.STORAGE,
                             "could not find base disk source in disk source chain")
        parent_disk = next((x for x in snp._disks(snapdom) if x.target is not None
                            and x.target.dev == snapdisk.name), None) if snapdom else None
        if parent_disk is None:
            raise _err(ErrorCode.OPERATION_FAILED,
                       f"failed to find disk '{snapdisk.name}' in snapshot VM XML")
        at = chain.index(path)
        if dom.active:
            if at + 1 >= len(chain):
                raise _err(ErrorCode.OPERATION_FAILED,
                           "failed to find parent disk source in backing chain")
            if chain[at + 1] != st.domdisk_source(parent_disk):
                raise _err(ErrorCode.OPERATION_FAILED, "snapshot VM disk source and parent "
                           "disk source are not the same")
        elif at != 0:
            raise _err(ErrorCode.OPERATION_UNSUPPORTED, "deleting an external snapshot below "
                       "the top of a shut-off domain's disk is not supported")
        parent = _parent_snap_for_disk(dom, snap, snapdisk.name)
        if parent is not None and not st.is_external(parent):
            raise _err(ErrorCode.OPERATION_UNSUPPORTED, "deleting external snapshot that has "
                       "internal snapshot as parent not supported")
        out.append(_Commit(snapdisk, disk, parent_disk))
    return out


def _detect_chain(dom: QemuDomain, disk: Any) -> None:
    """The backing chain of a running disk whose chain was never recorded, as QEMU has it
    open (libvirt detects it at start; virtkit when a snapshot operation needs it)."""
    top = _format_node(_named_nodes(dom.mon), dom.disk_path(disk) or "")
    if top is not None:
        disk.backing_store = _chain_from_image((top.get("image") or {}).get("backing-image"))


def _parent_snap_for_disk(dom: QemuDomain, snap: DomainSnapshotDef,
                          name: str | None) -> DomainSnapshotDef | None:
    """qemuSnapshotFindParentSnapForDisk."""
    tree = dom.snapshots
    parent = tree.snaps.get(snap.parent) if snap.parent else None
    while parent is not None:
        if any(sd.snapshot != "no" and sd.name == name for sd in parent.disks):
            return parent
        parent = tree.snaps.get(parent.parent) if parent.parent else None
    return None


def delete_single(node: QemuNode, dom: QemuDomain, snap: DomainSnapshotDef) -> None:
    """The disk work of deleting one external snapshot (metadata is the caller's)."""
    commits = _prepare_delete(dom, snap)
    if dom.active:
        for c in commits:
            _commit_active(node, dom, c)
    else:
        for c in commits:
            _commit_inactive(node, dom, c)
    _update_descendants(node, dom, snap)


def _commit_inactive(node: QemuNode, dom: QemuDomain, c: _Commit) -> None:
    """``qemu-img commit`` of the top overlay into its backing file, then the disk goes back
    to the parent image (libvirt starts QEMU paused and runs block-commit: same result)."""
    snp._qemu_img(["commit", "-q", "-f", _snapfmt(c.snapdisk), c.path])
    if dom.persistent is not None:
        newdef = copy.deepcopy(dom.persistent)
        for disk in snp._disks(newdef):
            if disk.target is not None and disk.target.dev == c.snapdisk.name:
                _restore_parent(disk, c.parent_disk)
        _save_config(node, dom, newdef)
    _unlink(c.path)


def _restore_parent(disk: Any, parent_disk: Any) -> None:
    disk.type = parent_disk.type
    disk.source = copy.deepcopy(parent_disk.source)
    if disk.source is not None:
        disk.source.index = None
    disk.driver = copy.deepcopy(parent_disk.driver)
    disk.backing_store = None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        log.warning("failed to remove the snapshot image '%s': %s", path, exc.strerror)


def _commit_active(node: QemuNode, dom: QemuDomain, c: _Commit) -> None:
    """qemuSnapshotDiscardExternal for one disk: block-commit, pivot or finalize, cleanup."""
    mon = dom.mon
    nodes = _named_nodes(mon)
    top_path = dom.disk_path(c.disk) or ""
    top = _format_node(nodes, top_path)
    overlay = _format_node(nodes, c.path)
    base = _format_node(nodes, c.parent_path)
    if top is None or overlay is None or base is None:
        raise _err(ErrorCode.INTERNAL_ERROR, f"cannot find the block nodes of disk "
                   f"'{c.snapdisk.name}' to commit")
    active = top_path == c.path
    job_id = f"commit-{c.snapdisk.name}-{uuidlib.uuid4().hex[:8]}"
    mon.execute("block-commit", {"job-id": job_id, "device": top["node-name"],
                                 "top-node": overlay["node-name"],
                                 "base-node": base["node-name"], "auto-finalize": True,
                                 "auto-dismiss": False})
    _wait_job(dom, job_id, "ready" if active else "concluded", c)
    if active:
        mon.execute("job-complete", {"id": job_id})
        _wait_job(dom, job_id, "concluded", c)
    with contextlib.suppress(VirtError):
        mon.execute("job-dismiss", {"id": job_id})
    for name in (overlay["node-name"], str(overlay["node-name"]).replace("-format",
                                                                          "-storage")):
        if name.startswith("libvirt-"):
            with contextlib.suppress(VirtError):
                mon.execute("blockdev-del", {"node-name": name})
    _unlink(c.path)
    _drop_from_chain(node, dom, c, active, base["node-name"])


def _wait_job(dom: QemuDomain, job_id: str, status: str, c: _Commit) -> None:
    import time

    deadline = time.monotonic() + snp._JOB_TIMEOUT
    delay = 0.01
    while True:
        jobs = dom.mon.execute("query-jobs")
        job = next((j for j in jobs if j.get("id") == job_id), None)
        if job is not None and job.get("error"):
            with contextlib.suppress(VirtError):
                dom.mon.execute("job-dismiss", {"id": job_id})
            raise _err(ErrorCode.INTERNAL_ERROR, "block commit failed while deleting disk "
                       f"'{c.snapdisk.name}' snapshot: '{job['error']}'")
        if job is None or job.get("status") in (status, "concluded", "null"):
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(VirtError):
                dom.mon.execute("job-cancel", {"id": job_id})
            raise _err(ErrorCode.OPERATION_TIMEOUT,
                       f"block commit of disk '{c.snapdisk.name}' did not finish")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _drop_from_chain(node: QemuNode, dom: QemuDomain, c: _Commit, active: bool,
                     base_node: str) -> None:
    """The committed overlay leaves the live chain (and the persistent source if it was
    the top there)."""
    disk = c.disk
    with dom.lock:
        if active:
            below = disk.backing_store
            disk.type = below.type if below is not None and below.type else disk.type
            src = copy.deepcopy(below.source) if below is not None else None
            if src is not None and below is not None:
                src.index = below.index
            disk.source = src
            if disk.driver is None:
                disk.driver = DiskDriver(name="qemu")
            disk.driver.type = below.format.type if below is not None and below.format \
                else snp._fmt(c.parent_disk)
            disk.backing_store = below.backing_store if below is not None else None
            if dom.command is not None and disk.target is not None:
                old = dom.command.disks.get(disk.target.dev)
                if old is not None:
                    dom.command.disks[disk.target.dev] = command.DiskNodes(
                        old.alias, old.target, base_node.replace("-format", "-storage"),
                        base_node)
        else:
            layer: Any = disk
            while layer.backing_store is not None:
                nxt = layer.backing_store
                path = (nxt.source.file or nxt.source.dev) if nxt.source is not None else None
                if path == c.path:
                    layer.backing_store = nxt.backing_store
                    break
                layer = nxt
        node._save_status(dom)
    if active and dom.persistent is not None:
        newdef = copy.deepcopy(dom.persistent)
        changed = False
        for pdisk in snp._disks(newdef):
            if pdisk.target is not None and pdisk.target.dev == c.snapdisk.name \
                    and st.domdisk_source(pdisk) == c.path:
                _restore_parent(pdisk, c.parent_disk)
                changed = True
        if changed:
            _save_config(node, dom, newdef)


def _update_descendants(node: QemuNode, dom: QemuDomain, snap: DomainSnapshotDef) -> None:
    """qemuSnapshotDeleteUpdateDisks: descendants' domain copies no longer name the deleted
    overlay (an external one's disk goes back to the parent's source)."""
    snapdom = snap.domain_def
    for kid in dom.snapshots.descendants(snap.name or ""):
        if kid.domain is None or snapdom is None:
            continue
        changed = False
        for el_name in ("domain", "inactive_domain"):
            el = getattr(kid, el_name)
            if el is None:
                continue
            for sd in snap.disks:
                if sd.snapshot == "no":
                    continue
                path = st.snapdisk_path(sd)
                parent = next((x for x in snp._disks(snapdom) if x.target is not None
                               and x.target.dev == sd.name), None)
                for src in el.iterfind("devices/disk/source"):
                    if path and src.get("file") == path and parent is not None:
                        new = st.domdisk_source(parent)
                        if new:
                            src.set("file", new)
                            changed = True
        if changed:
            try:
                snp.write_metadata(node, dom, kid)
            except VirtError as exc:
                log.warning("%s", exc.message)
