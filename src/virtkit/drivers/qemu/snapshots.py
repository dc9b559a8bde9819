"""Internal domain snapshots of the QEMU driver, as libvirt 9.0's qemu_snapshot.c does them.

- metadata: ``LIBDIR/snapshot/DOMAIN/SNAPSHOT.xml`` (``<domainsnapshot>`` with the domain
  copy and ``<active>1</active>`` on the current one), loaded with the node;
- a shut-off domain: ``qemu-img snapshot -c/-a/-d`` on every qcow2 disk;
- a running or paused domain: a full system checkpoint with the QMP ``snapshot-save`` job
  (the guest paused meanwhile), reverted by starting a new QEMU paused and running
  ``snapshot-load``, deleted with ``snapshot-delete``.

Disk-only (external) snapshots live in extsnap.py; external memory snapshots are refused
(their metadata can still be redefined, listed and deleted with METADATA_ONLY).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import subprocess
import time
import uuid as uuidlib
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from virtkit.conf import secure
from virtkit.conf.snapshot import DomainSnapshotDef, SnapshotMemory, validate_snapshot_def
from virtkit.conf.xmlutil import parse_xml
from virtkit.constants import (
    DomainJobOperation,
    DomainSnapshotCreateFlags,
    DomainSnapshotDeleteFlags,
    DomainSnapshotRevertFlags,
    DomainSnapshotXMLFlags,
)
from virtkit.drivers import snapshottree as st
from virtkit.drivers.domainjob import AsyncJob
from virtkit.drivers.domainobj import (
    PAUSED_SAVE,
    RUNNING,
    RUNNING_FROM_SNAPSHOT,
    SHUTOFF_FROM_SNAPSHOT,
    SnapshotGetters,
    state_names,
)
from virtkit.drivers.persist import quarantine, write_atomic
from virtkit.drivers.qemu import command
from virtkit.drivers.qemu.defs import format_def, parse_def
from virtkit.errors import (
    ErrorCode,
    ErrorDomain,
    VirtError,
    invalid_arg,
    invalid_flags,
    make_error,
)
from virtkit.types import DomainIdent, SnapshotIdent

if TYPE_CHECKING:
    from virtkit.conf.domain import DomainDef
    from virtkit.drivers.qemu.node import QemuDomain, QemuNode

__all__ = ["SnapshotMixin", "discard_all_metadata", "load"]

log = logging.getLogger(__name__)

_Q = ErrorDomain.QEMU
_SNAP = ErrorDomain.DOMAIN_SNAPSHOT

# virDomainSnapshotCreateFlags
_C = DomainSnapshotCreateFlags
C_REDEFINE, C_CURRENT, C_NO_METADATA = int(_C.REDEFINE), int(_C.CURRENT), int(_C.NO_METADATA)
C_HALT, C_DISK_ONLY, C_REUSE_EXT = int(_C.HALT), int(_C.DISK_ONLY), int(_C.REUSE_EXT)
C_QUIESCE, C_ATOMIC, C_LIVE, C_VALIDATE = (int(_C.QUIESCE), int(_C.ATOMIC), int(_C.LIVE),
                                           int(_C.VALIDATE))
_CREATE_ALLOWED = (C_REDEFINE | C_CURRENT | C_NO_METADATA | C_HALT | C_DISK_ONLY | C_REUSE_EXT
                   | C_QUIESCE | C_ATOMIC | C_LIVE | C_VALIDATE)
# virDomainSnapshotRevertFlags, virDomainSnapshotDeleteFlags
_R = DomainSnapshotRevertFlags
R_RUNNING, R_PAUSED, R_FORCE, R_RESET_NVRAM = (int(_R.RUNNING), int(_R.PAUSED), int(_R.FORCE),
                                               int(_R.RESET_NVRAM))
_D = DomainSnapshotDeleteFlags
D_CHILDREN, D_METADATA_ONLY, D_CHILDREN_ONLY = (int(_D.CHILDREN), int(_D.METADATA_ONLY),
                                                int(_D.CHILDREN_ONLY))
_XML_FLAGS = int(DomainSnapshotXMLFlags.SECURE)
EV_DEFINED, DEF_FROM_SNAPSHOT = 0, 3
EV_SUSPENDED, SUSP_FROM_SNAPSHOT = 3, 5

_ONLINE = ("running", "paused")
_JOB_TIMEOUT = 600.0


def _err(code: int, detail: str, domain: int = _Q) -> VirtError:
    return make_error(code, domain, detail)


def _check_flags(flags: int, allowed: int, function: str) -> None:
    if flags & ~allowed:
        raise invalid_flags(flags & ~allowed, function, _Q)


# ============================================================================ metadata files


def _dir(node: QemuNode, dom: QemuDomain) -> str:
    return os.path.join(node.paths.snapshot_dir, dom.name)


def _file(node: QemuNode, dom: QemuDomain, name: str) -> str:
    return os.path.join(_dir(node, dom), f"{name}.xml")


_WARNING = ("<!--\n"
            "WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
            "OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n"
            "  virsh snapshot-edit\n"
            "or other application using the libvirt API.\n"
            "-->\n\n")


def _public_xml(d: DomainSnapshotDef) -> str:
    saved, d.active = d.active, None
    try:
        return str(d.to_xml())
    finally:
        d.active = saved


def write_metadata(node: QemuNode, dom: QemuDomain, d: DomainSnapshotDef) -> None:
    """qemuDomainSnapshotWriteMetadata: the snapshot's file, ``<active>`` telling current."""
    name = d.name or ""
    saved, d.active = d.active, int(dom.snapshots.current == name)
    try:
        xml = d.to_xml()
    finally:
        d.active = saved
    path = _file(node, dom, name)
    try:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        write_atomic(path, _WARNING + xml)
    except OSError as exc:
        raise _err(ErrorCode.INTERNAL_ERROR,
                   f"unable to save metadata for snapshot {name}: {exc.strerror}") from None


def _set_current(node: QemuNode, dom: QemuDomain, name: str | None) -> None:
    """qemuSnapshotSetCurrent: the old current's file is rewritten without its marker."""
    tree = dom.snapshots
    old, tree.current = tree.current, name
    if old is not None and old != name and old in tree.snaps:
        try:
            write_metadata(node, dom, tree.snaps[old])
        except VirtError as exc:
            log.warning("failed to update old current snapshot: %s", exc.message)


def load(node: QemuNode, dom: QemuDomain) -> None:
    """qemuDomainSnapshotLoad: every SNAP.xml of the domain; a bad file is reported and
    moved aside, the others still load."""
    directory = _dir(node, dom)
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return
    tree = dom.snapshots
    found: list[DomainSnapshotDef] = []
    current: str | None = None
    for entry in entries:
        if not entry.endswith(".xml") or entry.startswith("."):
            continue
        path = os.path.join(directory, entry)
        try:
            with open(path, "rb") as f:
                data = f.read(1024 * 1024 + 1)
            d = DomainSnapshotDef.from_xml(data)
            validate_snapshot_def(d, redefine=True)
        except (OSError, VirtError) as exc:
            log.error("Failed to parse snapshot XML from file '%s': %s", path, exc)
            with contextlib.suppress(OSError):
                quarantine(path)
            continue
        if d.active:
            if current is not None:
                log.error("Too many snapshots claiming to be current for domain %s", dom.name)
            current = d.name
        d.active = None
        found.append(d)
    found.sort(key=lambda d: (d.creation_time or 0, d.name or ""))
    tree.snaps = {d.name or "": d for d in found}
    for d in found:
        if d.parent is not None and d.parent not in tree.snaps:
            log.error("Snapshots have inconsistent relations for domain %s", dom.name)
            d.parent = None
    tree.current = current


def discard_all_metadata(node: QemuNode, dom: QemuDomain) -> None:
    """qemuSnapshotDiscardAllMetadata and the removal of the domain's snapshot directory."""
    for name in list(dom.snapshots.snaps):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_file(node, dom, name))
    dom.snapshots.snaps.clear()
    dom.snapshots.current = None
    with contextlib.suppress(OSError):
        os.rmdir(_dir(node, dom))


# ============================================================================ helpers


def _domain_element(d: DomainDef, tag: str = "domain") -> Any:
    """The definition as an inactive ``<domain>`` element (no id, aliases, source index)."""
    el = parse_xml(format_def(d, -1))
    for alias in list(el.iter("alias")):
        parent = alias.getparent()
        if parent is not None:
            parent.remove(alias)
    for src in el.iterfind("devices/disk/source"):
        src.attrib.pop("index", "")
    el.tag = tag
    return el


def _def_of(el: Any, name: str) -> DomainDef:
    from virtkit.conf.xmlutil import dump_element

    el = parse_xml(dump_element(el, 0))
    el.tag = "domain"
    d = parse_def(dump_element(el, 0))
    d.name = name
    return d


def _disks(defn: DomainDef) -> list[Any]:
    return list(defn.devices.disks) if defn.devices is not None else []


def _fmt(disk: Any) -> str:
    return (disk.driver.type if disk.driver is not None else None) or "raw"


def _internal_disks(d: DomainSnapshotDef, defn: DomainDef) -> list[Any]:
    """The domain disks the snapshot holds internally (aligned: same order)."""
    modes = {sd.name: sd.snapshot for sd in d.disks}
    return [disk for disk in _disks(defn)
            if disk.target is not None and modes.get(disk.target.dev) == "internal"]


def _qemu_img(args: list[str]) -> None:
    argv = ["qemu-img", *args]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise _err(ErrorCode.INTERNAL_ERROR,
                   "unable to find qemu-img, needed for snapshot support") from None
    except subprocess.TimeoutExpired:
        raise _err(ErrorCode.OPERATION_TIMEOUT, f"{shlex.join(argv)} timed out") from None
    if res.returncode != 0:
        raise _err(ErrorCode.INTERNAL_ERROR,
                   f"Child process ({shlex.join(argv)}) unexpected exit status "
                   f"{res.returncode}: {res.stderr.strip()}")


def _for_each_qcow2(node: QemuNode, defn: DomainDef, d: DomainSnapshotDef, op: str,
                    try_all: bool) -> None:
    """qemuDomainSnapshotForEachQcow2: ``qemu-img snapshot OP NAME`` on each internal disk.
    Creation rolls back what it did on failure; with ``try_all`` every disk is tried and
    the first failure reported at the end."""
    name = d.name or ""
    volumes = node.translate_volumes(defn)
    done: list[str] = []
    failure: VirtError | None = None
    for disk in _internal_disks(d, defn):
        if disk.device not in (None, "disk"):
            continue
        dev = disk.target.dev
        try:
            path = command.disk_source(disk, volumes)[1]
        except VirtError:
            path = None
        if path is None or disk.type not in (None, "file", "block", "volume"):
            raise _err(ErrorCode.OPERATION_INVALID,
                       f"can't manipulate inactive snapshots of disk '{dev}'")
        try:
            if _fmt(disk) != "qcow2":
                raise _err(ErrorCode.OPERATION_INVALID,
                           f"Disk device '{dev}' does not support snapshotting")
            _qemu_img(["snapshot", op, name, path])
            done.append(path)
        except VirtError as exc:
            if try_all:
                log.warning("skipping snapshot action on %s: %s", dev, exc.message)
                failure = failure or exc
                continue
            if op == "-c":
                for undo in done:
                    with contextlib.suppress(VirtError):
                        _qemu_img(["snapshot", "-d", name, undo])
            raise
    if failure is not None:
        raise failure


def _nodes(dom: QemuDomain, disks: list[Any]) -> list[str]:
    cmd = dom.command
    if cmd is None:
        raise _err(ErrorCode.OPERATION_FAILED,
                   "the block node names of the running domain are unknown")
    out = []
    for disk in disks:
        nodes = cmd.disks.get(disk.target.dev)
        if nodes is not None and nodes.format_node:
            out.append(nodes.format_node)
    return out


def run_job(mon: Any, cmd: str, args: dict[str, Any], timeout: float = _JOB_TIMEOUT) -> None:
    """Run a QMP job command, wait for it to conclude, dismiss it, report its error."""
    job_id = args["job-id"]
    mon.execute(cmd, args)
    deadline = time.monotonic() + timeout
    delay = 0.01
    job: dict[str, Any] | None = None
    while True:
        jobs = mon.execute("query-jobs")
        job = next((j for j in jobs if j.get("id") == job_id), None)
        if job is None or job.get("status") in ("concluded", "null"):
            break
        if time.monotonic() > deadline:
            with contextlib.suppress(VirtError):
                mon.execute("job-cancel", {"id": job_id})
            raise _err(ErrorCode.OPERATION_TIMEOUT,
                       f"QEMU job '{cmd}' did not finish within {timeout:g} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    if job is not None and job.get("status") == "concluded":
        with contextlib.suppress(VirtError):
            mon.execute("job-dismiss", {"id": job_id})
    if job is not None and job.get("error"):
        raise _err(ErrorCode.OPERATION_FAILED, f"{cmd} job failed: {job['error']}")


def _job_id(cmd: str) -> str:
    return f"{cmd}-{uuidlib.uuid4().hex[:8]}"


# ============================================================================ create


def _check_name(d: DomainSnapshotDef, flags: int) -> None:
    """qemuSnapshotCreateXMLValidateDef: names become file names."""
    if flags & C_NO_METADATA:
        return
    name = d.name or ""
    if "/" in name:
        raise _err(ErrorCode.XML_DETAIL,
                   f"invalid snapshot name '{name}': name can't contain '/'")
    if name.startswith("."):
        raise _err(ErrorCode.XML_DETAIL,
                   f"invalid snapshot name '{name}': name can't start with '.'")


def _check_state(state: str, redefine: bool) -> None:
    if state in ("running", "paused", "shutdown", "shutoff", "crashed"):
        return
    if state == "disk-snapshot" and redefine:
        return
    if state == "pmsuspended":
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "qemu doesn't support taking snapshots of PMSUSPENDED guests")
    raise _err(ErrorCode.INTERNAL_ERROR, f"Invalid domain state {state}")


def _has_pflash(defn: DomainDef) -> bool:
    loader = defn.os.loader if defn.os is not None else None
    return loader is not None and getattr(loader, "type", None) == "pflash"


def _prepare(dom: QemuDomain, d: DomainSnapshotDef, defn: DomainDef) -> None:
    """qemuSnapshotPrepare for internal snapshots (external ones are refused before)."""
    active = dom.active
    found_internal = forbid_internal = False
    for snapdisk, disk in zip(d.disks, _disks(defn), strict=False):
        mode = snapdisk.snapshot
        if mode == "internal":
            found_internal = True
            if not active and disk.type not in (None, "file", "block", "volume"):
                raise _err(ErrorCode.INTERNAL_ERROR, "internal inactive snapshots are not "
                           f"supported on '{disk.type}' disks")
            if _fmt(disk) != "qcow2":
                raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                           f"internal snapshot for disk {snapdisk.name} unsupported for "
                           f"storage type {_fmt(disk)}")
        elif mode == "manual" or (mode == "no" and not st.domdisk_empty(disk)
                                  and not disk.readonly):
            forbid_internal = True
    memory = d.memory.snapshot if d.memory is not None else None
    if not found_internal and memory == "no":
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, "nothing selected for snapshot")
    if (memory == "internal" and not found_internal) or (found_internal and forbid_internal):
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, "internal and full system snapshots require "
                   "all disks to be selected for snapshot")
    if found_internal and _has_pflash(defn):
        raise _err(ErrorCode.OPERATION_UNSUPPORTED, "internal snapshots of a VM with pflash "
                   "based firmware are not supported")


def create(node: QemuNode, dom: QemuDomain, xml: str, flags: int) -> str:
    """qemuSnapshotCreateXML; the new (or redefined) snapshot's name."""
    _check_flags(flags, _CREATE_ALLOWED, "qemuSnapshotCreateXML")
    if flags & C_QUIESCE and not flags & C_DISK_ONLY:
        raise invalid_arg("Flag 'VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY' is required by flag "
                          "'VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE'", _Q)
    if flags & C_LIVE and flags & C_REDEFINE:
        raise invalid_arg("Flags 'VIR_DOMAIN_SNAPSHOT_CREATE_LIVE' and "
                          "'VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE' are mutually exclusive", _Q)
    redefine = bool(flags & C_REDEFINE)
    # qemuSnapshotCreateXML: a snapshot of a running domain is the async job SNAPSHOT
    # (queries and destroy go on meanwhile, job info shows it); otherwise a MODIFY job
    job: AbstractContextManager[object] = (
        dom.job.running_async(AsyncJob.SNAPSHOT, DomainJobOperation.SNAPSHOT)
        if dom.active and not redefine else dom.job)
    with job:
        if dom.persistent is None and flags & C_HALT:
            raise _err(ErrorCode.OPERATION_INVALID, "cannot halt after transient domain snapshot")
        d = DomainSnapshotDef.from_xml(xml)
        validate_snapshot_def(d, redefine=redefine)
        d.active = None
        offline = bool(flags & C_DISK_ONLY) or not dom.active
        if redefine:
            offline = d.state in ("shutoff", "disk-snapshot")
        else:
            d.state, d.parent, d.domain, d.inactive_domain, d.cookie = None, None, None, None, None
            d.creation_time = int(time.time())
            if d.name is None:
                d.name = str(d.creation_time)
        memory = st.memory_location(d, offline, redefine)
        _check_name(d, flags)
        if flags & C_LIVE and (not dom.active or memory != "external"):
            raise _err(ErrorCode.OPERATION_UNSUPPORTED, "live snapshot creation is supported "
                       "only during full system snapshots")
        _check_state((d.state or "") if redefine else state_names(dom.state, dom.reason)[0],
                     redefine)
        if redefine:
            _redefine(node, dom, d, flags)
            return d.name or ""
        from virtkit.drivers.qemu import extsnap

        if extsnap.wants_external(d, memory, flags):
            extsnap.create(node, dom, d, memory, flags)
        else:
            _create(node, dom, d, memory, flags)
        return d.name or ""


def _redefine(node: QemuNode, dom: QemuDomain, d: DomainSnapshotDef, flags: int) -> None:
    """qemuSnapshotRedefine: metadata only, checked against the domain and the tree."""
    tree = dom.snapshots
    name = d.name or ""
    other = tree.redefine_prep(d, dom.uuid, d.domain_def, flags)
    tree.snaps[name] = d  # an existing one keeps its place (and its children: they name it)
    if flags & C_CURRENT:
        _set_current(node, dom, name)
    try:
        write_metadata(node, dom, d)
    except VirtError:
        if other is None:
            del tree.snaps[name]
        raise


def _create(node: QemuNode, dom: QemuDomain, d: DomainSnapshotDef, memory: str | None,
            flags: int) -> None:
    """qemuSnapshotCreate for internal snapshots."""
    tree = dom.snapshots
    name = d.name or ""
    active = dom.active
    defn = dom.definition()
    # qemuSnapshotCreateAlignDisks: the domain as it is (live when running) goes along
    d.domain = _domain_element(defn)
    if active and dom.persistent is not None:
        d.inactive_domain = _domain_element(dom.persistent, "inactiveDomain")
    state = state_names(dom.state, dom.reason)[0]
    d.state = state
    if active and memory == "no":
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "internal snapshot of a running VM must include the memory state")
    d.memory = SnapshotMemory()
    d.memory.snapshot = "no" if state == "shutoff" else "internal"
    st.align_disks(d, defn, "internal")
    _prepare(dom, d, defn)
    metadata = not flags & C_NO_METADATA
    if metadata:
        tree.check_unused(name)
        d.parent = tree.current
    if active:
        _create_active(node, dom, d, flags)
    else:
        _for_each_qcow2(node, defn, d, "-c", False)
    if metadata:
        tree.snaps[name] = d
        _set_current(node, dom, name)
        try:
            write_metadata(node, dom, d)
        except VirtError:
            del tree.snaps[name]
            tree.current = d.parent
            raise


def _create_active(node: QemuNode, dom: QemuDomain, d: DomainSnapshotDef, flags: int) -> None:
    """qemuSnapshotCreateActiveInternal: pause, ``snapshot-save``, resume (or halt)."""
    assert dom.live is not None
    disks = _internal_disks(d, dom.live)
    nodes = _nodes(dom, disks)
    if not nodes:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, "nothing selected for snapshot")
    resume = dom.state == RUNNING
    node.set_async_job(dom, "snapshot")
    try:
        if resume:
            with dom.lock:
                dom.expect_stop = PAUSED_SAVE
            dom.mon.execute("stop")
            node.wait_paused(dom)
        run_job(dom.mon, "snapshot-save", {"job-id": _job_id("snapshot-save"),
                                           "tag": d.name, "vmstate": nodes[0],
                                           "devices": nodes})
        if flags & C_HALT:
            resume = False
            node.destroy(dom, 0, reason=SHUTOFF_FROM_SNAPSHOT)
    finally:
        if resume and dom.active and dom.mon is not None:
            try:
                dom.mon.execute("cont")
                node.wait_running(dom)
            except VirtError:
                log.error("%s: resuming after snapshot failed", dom.name)
                raise _err(ErrorCode.OPERATION_FAILED,
                           "resuming after snapshot failed") from None
        node.set_async_job(dom, "")
    node.events.flush()


# ============================================================================ revert


def revert(node: QemuNode, dom: QemuDomain, name: str, flags: int) -> None:
    """qemuSnapshotRevert."""
    _check_flags(flags, R_RUNNING | R_PAUSED | R_FORCE | R_RESET_NVRAM, "qemuSnapshotRevert")
    if flags & R_RUNNING and flags & R_PAUSED:
        raise invalid_arg("Flags 'VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING' and "
                          "'VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED' are mutually exclusive",
                          ErrorDomain.DOMAIN)
    with dom.job:
        snap = dom.snapshots.get(name)
        state = snap.state or ""
        if dom.persistent is None and state not in _ONLINE and not flags & (R_RUNNING | R_PAUSED):
            raise _err(ErrorCode.OPERATION_INVALID, "transient domain needs to request run or "
                       "pause to revert to inactive snapshot")
        if st.is_external(snap):
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       "revert to external snapshot not supported yet")
        if snap.domain is None or snap.domain.get("type") is None:
            raise _err(ErrorCode.SNAPSHOT_REVERT_RISKY,
                       f"snapshot '{name}' lacks domain '{dom.name}' rollback info")
        if not flags & R_FORCE and state not in _ONLINE \
                and os.path.exists(node.paths.managed_save_file(dom.name)):
            raise _err(ErrorCode.SNAPSHOT_REVERT_RISKY, "snapshot without memory state, removal "
                       "of existing managed saved state strongly recommended to avoid corruption")
        config = _def_of(snap.domain, dom.name)
        if snap.inactive_domain is not None:
            inactive = _def_of(snap.inactive_domain, dom.name)
        else:
            inactive = _def_of(snap.domain, dom.name) if state in _ONLINE else config
        if state == "pmsuspended":
            raise _err(ErrorCode.OPERATION_UNSUPPORTED, "qemu doesn't support reversion of "
                       "snapshot taken in PMSUSPENDED state")
        if state not in ("running", "paused", "shutdown", "shutoff", "crashed"):
            raise _err(ErrorCode.INTERNAL_ERROR, f"Invalid target domain state '{state}'. "
                       "Refusing snapshot reversion")
        dom.reverting = True
        try:
            if state in _ONLINE:
                defined = _revert_active(node, dom, snap, config, inactive, flags)
            else:
                defined = _revert_inactive(node, dom, snap, config, inactive, flags)
        finally:
            dom.reverting = False
            if dom.persistent is None and not dom.active:
                with node.lock:
                    node._remove(dom)
        _set_current(node, dom, name)
        write_metadata(node, dom, snap)
        if defined:
            node.emit(dom, EV_DEFINED, DEF_FROM_SNAPSHOT)
    node.events.flush()


def _assign_inactive(node: QemuNode, dom: QemuDomain, inactive: DomainDef) -> bool:
    """virDomainObjAssignDef(live=false) + virDomainDefSave for a persistent domain."""
    if dom.persistent is None:
        return False
    with dom.lock:
        node.configs.save(dom.name, inactive.to_xml(), dom.uuid)
        dom.persistent = inactive
    return True


def _stop(node: QemuNode, dom: QemuDomain) -> None:
    if dom.active:
        node.destroy(dom, 0, reason=SHUTOFF_FROM_SNAPSHOT)


def _revert_active(node: QemuNode, dom: QemuDomain, snap: DomainSnapshotDef,
                   config: DomainDef, inactive: DomainDef, flags: int) -> bool:
    """Transitions to running/paused: a fresh QEMU, paused, loads the checkpoint."""
    _stop(node, dom)
    defined = _assign_inactive(node, dom, inactive)
    disks = _internal_disks(snap, config)

    def load_snapshot(d: QemuDomain) -> None:
        nodes = _nodes(d, disks)
        if not nodes:
            raise _err(ErrorCode.INTERNAL_ERROR, "no disk holds the snapshot's memory state")
        run_job(d.mon, "snapshot-load", {"job-id": _job_id("snapshot-load"), "tag": snap.name,
                                         "vmstate": nodes[0], "devices": nodes})

    node.start(dom, 1, definition=config, prepare=load_snapshot, from_snapshot=True)
    if not flags & R_RUNNING and (snap.state == "paused" or flags & R_PAUSED):
        node.emit(dom, EV_SUSPENDED, SUSP_FROM_SNAPSHOT)
    else:
        if not dom.active or dom.mon is None:
            raise _err(ErrorCode.INTERNAL_ERROR, "guest unexpectedly quit")
        with dom.lock:
            dom.resume_reason = RUNNING_FROM_SNAPSHOT
        dom.mon.execute("cont")
        node.wait_running(dom)
    return defined


def _revert_inactive(node: QemuNode, dom: QemuDomain, snap: DomainSnapshotDef,
                     config: DomainDef, inactive: DomainDef, flags: int) -> bool:
    """Transitions to shut off: ``qemu-img snapshot -a``, then maybe a fresh start."""
    _stop(node, dom)
    _for_each_qcow2(node, config, snap, "-a", True)
    defined = _assign_inactive(node, dom, inactive)
    if flags & (R_RUNNING | R_PAUSED):
        paused = bool(flags & R_PAUSED)
        node.start(dom, 1 if paused else 0,
                   definition=None if dom.persistent is not None else inactive,
                   from_snapshot=True)
        if paused:
            node.emit(dom, EV_SUSPENDED, SUSP_FROM_SNAPSHOT)
    return defined


# ============================================================================ delete


def delete(node: QemuNode, dom: QemuDomain, name: str, flags: int) -> None:
    """qemuSnapshotDelete."""
    _check_flags(flags, D_CHILDREN | D_METADATA_ONLY | D_CHILDREN_ONLY, "qemuSnapshotDelete")
    metadata_only = bool(flags & D_METADATA_ONLY)
    with dom.job:
        tree = dom.snapshots
        snap = tree.get(name)
        subtree = bool(flags & (D_CHILDREN | D_CHILDREN_ONLY))
        if not metadata_only:
            _validate_delete(dom, snap, subtree)
            if st.is_external(snap):
                from virtkit.drivers.qemu import extsnap

                extsnap.validate_delete(dom, snap, flags)
        if subtree:
            for kid in tree.descendants(name):
                _delete_single(node, dom, kid, metadata_only)
            if not flags & D_CHILDREN_ONLY:
                _delete_single(node, dom, snap, metadata_only)
        else:
            _delete_single(node, dom, snap, metadata_only)


def _validate_delete(dom: QemuDomain, snap: DomainSnapshotDef, subtree: bool) -> None:
    tree = dom.snapshots
    if not st.is_external(snap) and dom.active and dom.live is not None:
        snapdom = snap.domain_def
        if snapdom is not None:
            live = {disk.target.dev: dom.disk_path(disk) for disk in _disks(dom.live)
                    if disk.target is not None}
            for disk in _internal_disks(snap, snapdom):
                dev = disk.target.dev
                if dev not in live or live[dev] != dom.disk_path(disk):
                    raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                               f"disk image '{dev}' for internal snapshot '{snap.name}' is not "
                               "the same as disk image currently used by VM")
    if subtree:
        kinds = {st.is_external(kid) for kid in tree.descendants(snap.name or "")}
        if kinds == {True, False}:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED, "deletion of external and internal "
                       "children disk snapshots not supported")
        if True in kinds:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       "deletion of external children disk snapshots not supported")


def _delete_single(node: QemuNode, dom: QemuDomain, snap: DomainSnapshotDef,
                   metadata_only: bool) -> None:
    """qemuSnapshotDiscardImpl with children re-parented (update_parent)."""
    if not metadata_only and st.is_external(snap):
        from virtkit.drivers.qemu import extsnap

        extsnap.delete_single(node, dom, snap)
    elif not metadata_only:
        if not dom.active:
            defn = snap.domain_def or dom.definition()
            with contextlib.suppress(VirtError):  # skipped disks are ignored, as libvirt does
                _for_each_qcow2(node, defn, snap, "-d", True)
        elif dom.live is not None:
            disks = [disk for disk in _disks(dom.live) if disk.target is not None and any(
                sd.name == disk.target.dev and sd.snapshot == "internal" for sd in snap.disks)]
            try:  # libvirt goes on even when QEMU fails to delete it
                nodes = _nodes(dom, disks)
                if nodes:
                    run_job(dom.mon, "snapshot-delete", {"job-id": _job_id("snapshot-delete"),
                                                         "tag": snap.name, "devices": nodes})
            except VirtError as exc:
                log.warning("%s: deleting snapshot %s in QEMU failed: %s", dom.name, snap.name,
                            exc.message)
    _discard_metadata(node, dom, snap)


def _discard_metadata(node: QemuNode, dom: QemuDomain, snap: DomainSnapshotDef) -> None:
    """qemuSnapshotDiscardMetadata(update_parent=true)."""
    tree = dom.snapshots
    name = snap.name or ""
    for kid in tree.children(name):
        kid.parent = snap.parent
        try:
            write_metadata(node, dom, kid)
        except VirtError as exc:
            log.warning("%s", exc.message)
    if tree.current == name:
        tree.current = None
        parent = tree.snaps.get(snap.parent) if snap.parent else None
        if parent is not None:
            tree.current = parent.name
            try:
                write_metadata(node, dom, parent)
            except VirtError:
                log.warning("failed to set parent snapshot '%s' as current", parent.name)
                tree.current = None
    try:
        os.unlink(_file(node, dom, name))
    except OSError:
        log.warning("Failed to unlink %s", _file(node, dom, name))
    tree.snaps.pop(name, None)


# ============================================================================ driver table


class SnapshotMixin(SnapshotGetters):
    """virDomainSnapshot* of the QEMU driver table (mixed into QemuDriver); the read-only
    ones come from :class:`SnapshotGetters`."""

    _node: QemuNode
    _snapshot_prefix = "qemu"
    _snapshot_error_domain = _Q

    def _dom(self, ident: DomainIdent) -> QemuDomain:
        return self._node.get(ident)

    def _snapshot_lock(self) -> AbstractContextManager[object]:
        return self._node.lock

    def _snapshot_domain(self, dom: DomainIdent) -> tuple[DomainIdent, st.SnapshotTree]:
        d = self._dom(dom)
        return d.ident(), d.snapshots

    def domain_snapshot_create_xml(self, dom: DomainIdent, xml: str,
                                   flags: int = 0) -> SnapshotIdent:
        d = self._dom(dom)
        name = create(self._node, d, xml, flags)
        return SnapshotIdent(d.ident(), name)

    def domain_snapshot_get_xml_desc(self, snap: SnapshotIdent, flags: int = 0) -> str:
        _check_flags(flags, _XML_FLAGS, "qemuDomainSnapshotGetXMLDesc")
        with self._node.lock, secure.public_xml(not flags & DomainSnapshotXMLFlags.SECURE):
            return _public_xml(self._dom(snap.domain).snapshots.get(snap.name))

    def domain_revert_to_snapshot(self, snap: SnapshotIdent, flags: int = 0) -> None:
        revert(self._node, self._dom(snap.domain), snap.name, flags)

    def domain_snapshot_delete(self, snap: SnapshotIdent, flags: int = 0) -> None:
        delete(self._node, self._dom(snap.domain), snap.name, flags)
