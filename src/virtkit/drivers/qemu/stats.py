"""Domain statistics for the QEMU driver (virConnectGetAllDomainStats groups, memory stats).

Groups and keys follow libvirt 9.0's qemuDomainGetStats* (wire types: rpc/stats_types.py):
``state``; ``cpu-total`` (``cpu.time`` in ns from the threads' schedstat, ``cpu.user`` and
``cpu.system`` from /proc, ``cpu.cache.monitor.count``, ``cpu.haltpoll.*`` from QMP
``query-stats``); ``balloon`` (``query-balloon``, the guest's virtio-balloon statistics
through ``qom-get guest-stats``, the process RSS); ``vcpu`` (per vCPU thread: state, time,
``wait`` and ``delay`` from the scheduler); ``interface`` (the host side of taps);
``block`` (``query-blockstats`` and ``query-named-block-nodes``: I/O counters,
allocation, capacity, physical, backingIndex; for a domain that is not running, the
sizes of its image files); ``iothread`` (``query-iothreads``); ``dirtyrate``
(``query-dirty-rate``). ``perf``, ``memory`` (resctrl bandwidth) and ``vm`` (KVM
statistics) add nothing here, as libvirt adds nothing without perf events, resctrl
monitors or KVM.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Any

from virtkit.constants import DomainDirtyRateStatus, DomainMemoryStatTags, DomainStatsTypes
from virtkit.drivers.qemu import procstats
from virtkit.errors import VirtError

if TYPE_CHECKING:
    from virtkit.drivers.qemu.node import QemuDomain, QemuNode

__all__ = ["disk_io_counters", "domain_stats", "memory_stats"]

_ALL = (DomainStatsTypes.STATE | DomainStatsTypes.CPU_TOTAL | DomainStatsTypes.BALLOON
        | DomainStatsTypes.VCPU | DomainStatsTypes.INTERFACE | DomainStatsTypes.BLOCK
        | DomainStatsTypes.PERF | DomainStatsTypes.IOTHREAD | DomainStatsTypes.MEMORY
        | DomainStatsTypes.DIRTYRATE | DomainStatsTypes.VM)
_CPU_CLOCK = procstats.ProcessCpuClock()

# qom-get guest-stats: (QEMU's name, libvirt's tag, divisor), qemuMonitorJSONGetMemoryStats
_GUEST_STATS = (
    ("stat-swap-in", DomainMemoryStatTags.SWAP_IN, 1024),
    ("stat-swap-out", DomainMemoryStatTags.SWAP_OUT, 1024),
    ("stat-major-faults", DomainMemoryStatTags.MAJOR_FAULT, 1),
    ("stat-minor-faults", DomainMemoryStatTags.MINOR_FAULT, 1),
    ("stat-free-memory", DomainMemoryStatTags.UNUSED, 1024),
    ("stat-total-memory", DomainMemoryStatTags.AVAILABLE, 1024),
    ("stat-available-memory", DomainMemoryStatTags.USABLE, 1024),
    ("last-update", DomainMemoryStatTags.LAST_UPDATE, 1),
    ("stat-disk-caches", DomainMemoryStatTags.DISK_CACHES, 1024),
    ("stat-htlb-pgalloc", DomainMemoryStatTags.HUGETLB_PGALLOC, 1),
    ("stat-htlb-pgfail", DomainMemoryStatTags.HUGETLB_PGFAIL, 1),
)
# the balloon group's key for each tag (qemuDomainGetStatsBalloon's STORE_MEM_RECORD)
_BALLOON_KEYS = {
    DomainMemoryStatTags.SWAP_IN: "swap_in", DomainMemoryStatTags.SWAP_OUT: "swap_out",
    DomainMemoryStatTags.MAJOR_FAULT: "major_fault",
    DomainMemoryStatTags.MINOR_FAULT: "minor_fault",
    DomainMemoryStatTags.UNUSED: "unused", DomainMemoryStatTags.AVAILABLE: "available",
    DomainMemoryStatTags.RSS: "rss", DomainMemoryStatTags.LAST_UPDATE: "last-update",
    DomainMemoryStatTags.USABLE: "usable", DomainMemoryStatTags.DISK_CACHES: "disk_caches",
    DomainMemoryStatTags.HUGETLB_PGALLOC: "hugetlb_pgalloc",
    DomainMemoryStatTags.HUGETLB_PGFAIL: "hugetlb_pgfail",
}
_DIRTYRATE_STATUS = {"unstarted": DomainDirtyRateStatus.UNSTARTED,
                     "measuring": DomainDirtyRateStatus.MEASURING,
                     "measured": DomainDirtyRateStatus.MEASURED}
_U64_MAX = (1 << 64) - 1


def _qmp(dom: QemuDomain, cmd: str, args: dict[str, Any] | None = None) -> Any:
    if dom.mon is None:
        return None
    try:
        return dom.mon.execute(cmd, args, timeout=5.0)
    except VirtError:
        return None


def domain_stats(node: QemuNode, dom: QemuDomain, stats: int) -> dict[str, Any]:
    """The typed parameters of one domain's record, for the groups in ``stats`` (0: all)."""
    want = stats or _ALL
    out: dict[str, Any] = {}
    d = dom.definition()
    running = dom.active
    if want & DomainStatsTypes.STATE:
        out["state.state"] = dom.state
        out["state.reason"] = dom.reason
    if want & DomainStatsTypes.CPU_TOTAL:
        out.update(_cpu_stats(dom))
    if want & DomainStatsTypes.BALLOON:
        out.update(_balloon_stats(dom, d))
    if want & DomainStatsTypes.VCPU:
        out.update(_vcpu_stats(dom, d))
    if want & DomainStatsTypes.INTERFACE and running:  # libvirt: running domains only
        out.update(_interface_stats(d))
    if want & DomainStatsTypes.BLOCK:
        out.update(_block_stats(dom))
    if want & DomainStatsTypes.IOTHREAD and running:
        out.update(_iothread_stats(dom))
    if want & DomainStatsTypes.DIRTYRATE and running:
        out.update(_dirtyrate_stats(dom))
    return out


def _cpu_stats(dom: QemuDomain) -> dict[str, Any]:
    """qemuDomainGetStatsCpu: time, user, system; resctrl cache monitors (none here);
    halt-polling time (KVM's, summed over vCPUs; 0 under TCG, as QEMU reports none)."""
    out: dict[str, Any] = {}
    proc = dom.proc
    if proc is None or not dom.active:
        return out
    user, system = procstats.stat_times(proc.pid)
    out["cpu.time"] = _CPU_CLOCK.read(proc, proc.pid)
    out["cpu.user"] = user
    out["cpu.system"] = system
    out["cpu.cache.monitor.count"] = 0
    haltpoll = _haltpoll(dom)
    if haltpoll is not None:
        out["cpu.haltpoll.success.time"], out["cpu.haltpoll.fail.time"] = haltpoll
    return out


def _haltpoll(dom: QemuDomain) -> tuple[int, int] | None:
    """KVM's halt_poll_success_ns/halt_poll_fail_ns over every vCPU (query-stats), as
    qemuDomainGetStatsCpuHaltPollTimeFromStats; None where QEMU has no query-stats."""
    reply = _qmp(dom, "query-stats", {
        "target": "vcpu",
        "providers": [{"provider": "kvm",
                       "names": ["halt_poll_success_ns", "halt_poll_fail_ns"]}]})
    if not isinstance(reply, list):
        return None
    success = fail = 0
    for entry in reply:
        values = {}
        for result in entry.get("stats", []):
            for stat in result.get("stats", []):
                values[stat.get("name")] = stat.get("value")
        if not isinstance(values.get("halt_poll_success_ns"), int) or not isinstance(
                values.get("halt_poll_fail_ns"), int):
            return None
        success += values["halt_poll_success_ns"]
        fail += values["halt_poll_fail_ns"]
    return success, fail


def _balloon_path(dom: QemuDomain) -> str | None:
    """The virtio balloon's QOM path (libvirt finds it by type; its alias names it)."""
    d = dom.live
    balloon = d.devices.memballoon if d is not None and d.devices is not None else None
    if balloon is None or balloon.model != "virtio" or balloon.alias is None:
        return None
    return f"/machine/peripheral/{balloon.alias.name}"


def _guest_memory_stats(dom: QemuDomain) -> dict[int, int]:
    """The guest's virtio-balloon statistics by libvirt tag; values QEMU marks as never
    collected (-1) are left out, as libvirt leaves them out."""
    path = _balloon_path(dom)
    reply = _qmp(dom, "qom-get", {"path": path, "property": "guest-stats"}) if path else None
    if not isinstance(reply, dict):
        return {}
    stats = reply.get("stats") or {}
    out: dict[int, int] = {}
    for name, tag, divisor in _GUEST_STATS:
        source = reply if name == "last-update" else stats
        value = source.get(name)
        if not isinstance(value, int) or value < 0 or value == _U64_MAX:
            continue
        out[int(tag)] = value // divisor
    return out


def _balloon_stats(dom: QemuDomain, d: Any) -> dict[str, Any]:
    """qemuDomainGetStatsBalloon: current and maximum, then the memory stats."""
    out: dict[str, Any] = {}
    balloon = _qmp(dom, "query-balloon") if dom.active else None
    out["balloon.current"] = (int(balloon["actual"]) // 1024 if balloon
                              else d.current_memory_kib)
    out["balloon.maximum"] = d.memory_kib
    if not dom.active:
        return out
    for tag, value in memory_stats_of(dom, balloon).items():
        key = _BALLOON_KEYS.get(DomainMemoryStatTags(tag))
        if key is not None:
            out[f"balloon.{key}"] = value
    return out


def _vcpu_stats(dom: QemuDomain, d: Any) -> dict[str, Any]:
    """qemuDomainGetStatsVcpu: counts, then per vCPU its state and, running, the time of
    its thread and how long it waited for a CPU (``wait``: sched wait_sum, 0 when the
    kernel keeps no schedstats; ``delay``: schedstat)."""
    out: dict[str, Any] = {"vcpu.current": d.vcpus_current, "vcpu.maximum": d.vcpus_max}
    proc = dom.proc
    cpus = _qmp(dom, "query-cpus-fast") if dom.active else None
    for cpu in cpus or []:
        idx = cpu.get("cpu-index", 0)
        out[f"vcpu.{idx}.state"] = 1  # VIR_VCPU_RUNNING: a thread exists
        tid = cpu.get("thread-id")
        if proc is None or not tid:
            continue
        user, system = procstats.stat_times(proc.pid, tid)
        out[f"vcpu.{idx}.time"] = user + system
        out[f"vcpu.{idx}.wait"] = procstats.sched_wait_ns(proc.pid, tid)
        out[f"vcpu.{idx}.delay"] = procstats.schedstat(proc.pid, tid)[1]
    return out


def _interface_stats(d: Any) -> dict[str, Any]:
    """qemuDomainGetStatsInterface: the host side of each tap (its rx is the guest's tx)."""
    ifaces = d.devices.interfaces if d.devices is not None else []
    counters = procstats.net_dev()
    out: dict[str, Any] = {"net.count": len(ifaces)}
    for i, iface in enumerate(ifaces):
        if iface.target is None or not iface.target.dev:
            continue  # like libvirt: no host device (user-mode NICs), no counters
        name = str(iface.target.dev)
        out[f"net.{i}.name"] = name
        c = counters.get(name)
        if c is not None and len(c) >= 12:
            out[f"net.{i}.rx.bytes"], out[f"net.{i}.rx.pkts"] = c[8], c[9]
            out[f"net.{i}.rx.errs"], out[f"net.{i}.rx.drop"] = c[10], c[11]
            out[f"net.{i}.tx.bytes"], out[f"net.{i}.tx.pkts"] = c[0], c[1]
            out[f"net.{i}.tx.errs"], out[f"net.{i}.tx.drop"] = c[2], c[3]
    return out


def disk_io_counters(dom: QemuDomain) -> dict[str, dict[str, Any]]:
    """QEMU's ``query-blockstats`` counters of each disk of a running domain, by target
    name (``vda``); disks QEMU does not report (an empty cdrom) are absent."""
    return {target: entry.get("stats", {}) for target, entry in _blockstats(dom).items()}


def _blockstats(dom: QemuDomain) -> dict[str, dict[str, Any]]:
    """``query-blockstats`` entries of a running domain's disks, by target name."""
    by_alias: dict[str, dict[str, Any]] = {}
    for entry in _qmp(dom, "query-blockstats") or []:
        key = entry.get("qdev") or entry.get("device") or ""
        if key.startswith("/machine/peripheral/"):  # .../virtio-disk0/virtio-backend
            key = key.split("/")[3]
        by_alias[key] = entry
    out: dict[str, dict[str, Any]] = {}
    for target, nodes in (dom.command.disks.items() if dom.command is not None else ()):
        entry = by_alias.get(nodes.alias)
        if entry is not None:
            out[target] = entry
    return out


def _named_nodes(dom: QemuDomain) -> dict[str, dict[str, Any]]:
    """``query-named-block-nodes`` (flat) by node name."""
    nodes = _qmp(dom, "query-named-block-nodes", {"flat": True}) or []
    return {n["node-name"]: n for n in nodes if isinstance(n, dict) and n.get("node-name")}


def _backing_index(node_name: str | None) -> int | None:
    """libvirt's storage source id, the N of its ``libvirt-N-format`` node name."""
    parts = (node_name or "").split("-")
    if len(parts) == 3 and parts[0] == "libvirt" and parts[1].isdigit():
        return int(parts[1]) or None
    return None


def _block_stats(dom: QemuDomain) -> dict[str, Any]:
    """qemuDomainGetStatsBlock without backing chains (VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING
    is not followed): one record per disk."""
    d = dom.definition()
    disks = d.devices.disks if d.devices is not None else []
    out: dict[str, Any] = {"block.count": len(disks)}
    running = dom.active
    entries = _blockstats(dom) if running else {}
    named = _named_nodes(dom) if running else {}
    disk_nodes = dom.command.disks if running and dom.command is not None else {}
    for i, disk in enumerate(disks):
        target = disk.target.dev if disk.target is not None and disk.target.dev else ""
        out[f"block.{i}.name"] = target
        src = dom.disk_path(disk)
        if src:
            out[f"block.{i}.path"] = src
        if not running:
            out.update(_image_sizes(i, src, disk))
            continue
        nodes = disk_nodes.get(target)
        index = _backing_index(nodes.format_node if nodes is not None else None)
        if index is not None:
            out[f"block.{i}.backingIndex"] = index
        entry = entries.get(target)
        if entry is None:
            continue
        s = entry.get("stats", {})
        out[f"block.{i}.rd.reqs"] = s.get("rd_operations", 0)
        out[f"block.{i}.rd.bytes"] = s.get("rd_bytes", 0)
        out[f"block.{i}.rd.times"] = s.get("rd_total_time_ns", 0)
        out[f"block.{i}.wr.reqs"] = s.get("wr_operations", 0)
        out[f"block.{i}.wr.bytes"] = s.get("wr_bytes", 0)
        out[f"block.{i}.wr.times"] = s.get("wr_total_time_ns", 0)
        out[f"block.{i}.fl.reqs"] = s.get("flush_operations", 0)
        out[f"block.{i}.fl.times"] = s.get("flush_total_time_ns", 0)
        parent = (entry.get("parent") or {}).get("stats") or {}
        out[f"block.{i}.allocation"] = parent.get("wr_highest_offset", 0)
        image = (named.get(nodes.format_node or "") or {}).get("image") or {} if nodes else {}
        capacity = image.get("virtual-size")
        if isinstance(capacity, int) and capacity:
            out[f"block.{i}.capacity"] = capacity
            physical = image.get("actual-size", capacity)
            if physical:
                out[f"block.{i}.physical"] = physical
    return out


def _image_sizes(index: int, path: str | None, disk: Any) -> dict[str, int]:
    """qemuDomainGetStatsOneBlockFallback for a domain that is not running: the image
    file's allocation (blocks in use), capacity (a qcow2's virtual size, else the size)
    and physical size, the ones that are not zero."""
    if not path:
        return {}
    try:
        st = os.stat(path)
    except OSError:
        return {}
    physical = st.st_size
    allocation = st.st_blocks * 512
    capacity = physical
    fmt = disk.driver.type if disk.driver is not None else None
    if fmt == "qcow2":
        capacity = _qcow2_virtual_size(path) or physical
    out = {}
    for key, value in (("allocation", allocation), ("capacity", capacity),
                       ("physical", physical)):
        if value:
            out[f"block.{index}.{key}"] = value
    return out


def _qcow2_virtual_size(path: str) -> int | None:
    """The virtual size in a qcow2 header (big-endian u64 at offset 24)."""
    try:
        with open(path, "rb") as f:
            header = f.read(32)
    except OSError:
        return None
    if len(header) < 32 or header[:4] != b"QFI\xfb":
        return None
    size: int = struct.unpack(">Q", header[24:32])[0]
    return size


def _iothread_stats(dom: QemuDomain) -> dict[str, Any]:
    """qemuDomainGetStatsIOThread: nothing without iothreads, else their polling."""
    threads = _qmp(dom, "query-iothreads") or []
    if not threads:
        return {}
    out: dict[str, Any] = {"iothread.count": len(threads)}
    for t in threads:
        ident = str(t.get("id", ""))
        number = ident.removeprefix("iothread")
        if not number.isdigit() or "poll-max-ns" not in t:
            continue
        out[f"iothread.{number}.poll-max-ns"] = t["poll-max-ns"]
        out[f"iothread.{number}.poll-grow"] = t.get("poll-grow", 0)
        out[f"iothread.{number}.poll-shrink"] = t.get("poll-shrink", 0)
    return out


def _dirtyrate_stats(dom: QemuDomain) -> dict[str, Any]:
    """qemuDomainGetStatsDirtyRate: the last ``calc-dirty-rate`` (unstarted before one)."""
    info = _qmp(dom, "query-dirty-rate")
    if not isinstance(info, dict):
        return {}
    out: dict[str, Any] = {
        "dirtyrate.calc_status": int(_DIRTYRATE_STATUS.get(info.get("status", ""),
                                                           DomainDirtyRateStatus.UNSTARTED)),
        "dirtyrate.calc_start_time": int(info.get("start-time", 0)),
        "dirtyrate.calc_period": int(info.get("calc-time", 0)),
        "dirtyrate.calc_mode": str(info.get("mode", "page-sampling")),
    }
    if out["dirtyrate.calc_status"] == DomainDirtyRateStatus.MEASURED:
        out["dirtyrate.megabytes_per_second"] = int(info.get("dirty-rate", 0))
        if info.get("mode") == "dirty-ring":
            for rate in info.get("vcpu-dirty-rate") or []:
                out[f"dirtyrate.vcpu.{rate.get('id', 0)}.megabytes_per_second"] = int(
                    rate.get("dirty-rate", 0))
    return out


def memory_stats_of(dom: QemuDomain, balloon: Any = None) -> dict[int, int]:
    """qemuDomainMemoryStatsInternal of a running domain: the balloon size, the guest's
    statistics, the process RSS, by libvirt tag (in libvirt's order)."""
    out: dict[int, int] = {}
    if balloon is None:
        balloon = _qmp(dom, "query-balloon")
    if balloon:
        out[int(DomainMemoryStatTags.ACTUAL_BALLOON)] = int(balloon["actual"]) // 1024
    out.update(_guest_memory_stats(dom))
    if dom.proc is not None:
        rss = procstats.rss_kib(dom.proc.pid)
        if rss is not None:
            out[int(DomainMemoryStatTags.RSS)] = rss
    return out


def memory_stats(node: QemuNode, dom: QemuDomain) -> dict[int, int]:
    """virDomainMemoryStats: nothing for a domain that is not running."""
    return memory_stats_of(dom) if dom.active else {}
