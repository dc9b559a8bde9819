"""Domain statistics for the QEMU driver (virConnectGetAllDomainStats groups, memory stats).

Groups follow libvirt's names: ``state``, ``cpu-total`` (``cpu.*`` from the
QEMU process in /proc), ``balloon`` (QMP ``query-balloon``), ``vcpu`` (QMP
``query-cpus-fast`` threads, their time from /proc), ``net`` (host side of tap
devices from /proc/net/dev) and ``block`` (QMP ``query-blockstats``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from virtkit.errors import VirtError

if TYPE_CHECKING:
    from virtkit.drivers.qemu.node import QemuDomain, QemuNode

__all__ = ["domain_stats", "memory_stats"]

STATS_STATE, STATS_CPU, STATS_BALLOON, STATS_VCPU = 1, 2, 4, 8
STATS_INTERFACE, STATS_BLOCK = 16, 32
_ALL = STATS_STATE | STATS_CPU | STATS_BALLOON | STATS_VCPU | STATS_INTERFACE | STATS_BLOCK
_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _qmp(dom: QemuDomain, cmd: str) -> Any:
    if dom.mon is None:
        return None
    try:
        return dom.mon.execute(cmd, timeout=5.0)
    except VirtError:
        return None


def _proc_times(pid: int, tid: int | None = None) -> tuple[int, int]:
    """(user, system) CPU time in ns of a process or one of its threads."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0, 0
    return int(fields[11]) * _TICK_NS, int(fields[12]) * _TICK_NS


def _net_dev() -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    try:
        with open("/proc/net/dev") as f:
            for line in f.readlines()[2:]:
                name, _, rest = line.partition(":")
                out[name.strip()] = [int(x) for x in rest.split()]
    except OSError:
        pass
    return out


def domain_stats(node: QemuNode, dom: QemuDomain, stats: int) -> dict[str, Any]:
    """The typed parameters of one domain's record."""
    want = stats or _ALL
    out: dict[str, Any] = {}
    d = dom.definition()
    if want & STATS_STATE:
        out["state.state"] = dom.state
        out["state.reason"] = dom.reason
    proc = dom.proc
    if want & STATS_CPU and proc is not None:
        user, system = _proc_times(proc.pid)
        out["cpu.time"] = user + system
        out["cpu.user"] = user
        out["cpu.system"] = system
    if want & STATS_BALLOON:
        out["balloon.maximum"] = d.memory_kib
        balloon = _qmp(dom, "query-balloon") if dom.active else None
        out["balloon.current"] = (int(balloon["actual"]) // 1024 if balloon
                                  else d.current_memory_kib)
        if proc is not None:
            rss = _rss_kib(proc.pid)
            if rss is not None:
                out["balloon.rss"] = rss
    if want & STATS_VCPU:
        out["vcpu.current"] = d.vcpus_current
        out["vcpu.maximum"] = d.vcpus_max
        cpus = _qmp(dom, "query-cpus-fast") if dom.active else None
        for cpu in cpus or []:
            idx = cpu.get("cpu-index", 0)
            out[f"vcpu.{idx}.state"] = 1
            if proc is not None and cpu.get("thread-id"):
                user, system = _proc_times(proc.pid, cpu["thread-id"])
                out[f"vcpu.{idx}.time"] = user + system
    if want & STATS_INTERFACE and dom.active:  # libvirt: running domains only
        ifaces = d.devices.interfaces if d.devices is not None else []
        counters = _net_dev() if dom.active else {}
        out["net.count"] = len(ifaces)
        for i, iface in enumerate(ifaces):
            if iface.target is None or not iface.target.dev:
                continue  # like libvirt: no host device (user-mode NICs), no counters
            name = str(iface.target.dev)
            out[f"net.{i}.name"] = name
            c = counters.get(name)
            if c is not None and len(c) >= 12:
                # host view of a tap: its rx is the guest's tx, as libvirt swaps them
                out[f"net.{i}.rx.bytes"], out[f"net.{i}.rx.pkts"] = c[8], c[9]
                out[f"net.{i}.rx.errs"], out[f"net.{i}.rx.drop"] = c[10], c[11]
                out[f"net.{i}.tx.bytes"], out[f"net.{i}.tx.pkts"] = c[0], c[1]
                out[f"net.{i}.tx.errs"], out[f"net.{i}.tx.drop"] = c[2], c[3]
    if want & STATS_BLOCK:
        out.update(_block_stats(dom))
    return out


def disk_io_counters(dom: QemuDomain) -> dict[str, dict[str, Any]]:
    """QEMU's ``query-blockstats`` counters of each disk of a running domain, by target
    name (``vda``); disks QEMU does not report (an empty cdrom) are absent."""
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
            out[target] = entry.get("stats", {})
    return out


def _block_stats(dom: QemuDomain) -> dict[str, Any]:
    d = dom.definition()
    disks = d.devices.disks if d.devices is not None else []
    out: dict[str, Any] = {"block.count": len(disks)}
    counters = disk_io_counters(dom) if dom.active else {}
    for i, disk in enumerate(disks):
        target = disk.target.dev if disk.target is not None and disk.target.dev else ""
        out[f"block.{i}.name"] = target
        src = dom.disk_path(disk)
        if src:
            out[f"block.{i}.path"] = src
        s = counters.get(target)
        if s is None:
            continue
        out[f"block.{i}.rd.reqs"] = s.get("rd_operations", 0)
        out[f"block.{i}.rd.bytes"] = s.get("rd_bytes", 0)
        out[f"block.{i}.rd.times"] = s.get("rd_total_time_ns", 0)
        out[f"block.{i}.wr.reqs"] = s.get("wr_operations", 0)
        out[f"block.{i}.wr.bytes"] = s.get("wr_bytes", 0)
        out[f"block.{i}.wr.times"] = s.get("wr_total_time_ns", 0)
        out[f"block.{i}.fl.reqs"] = s.get("flush_operations", 0)
        out[f"block.{i}.fl.times"] = s.get("flush_total_time_ns", 0)
        if "wr_highest_offset" in s:
            out[f"block.{i}.allocation"] = s["wr_highest_offset"]
    return out


def _rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def memory_stats(node: QemuNode, dom: QemuDomain) -> dict[int, int]:
    """virDomainMemoryStats: actual balloon size (6) and the QEMU process's RSS (7)."""
    out: dict[int, int] = {}
    if not dom.active:
        return out
    balloon = _qmp(dom, "query-balloon")
    if balloon:
        out[6] = int(balloon["actual"]) // 1024
    if dom.proc is not None:
        rss = _rss_kib(dom.proc.pid)
        if rss is not None:
            out[7] = rss
    return out
