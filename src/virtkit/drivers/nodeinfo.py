"""Facts about the real host, read from /proc and /sys (for drivers that manage it)."""

from __future__ import annotations

import os
import platform
import socket

from virtkit.types import NodeInfo

__all__ = ["cpu_count", "free_memory_bytes", "hostname", "memory_kib", "node_info", "online_cpus"]


def hostname() -> str:
    """The host's name (libvirt's virGetHostname: the FQDN when resolvable)."""
    return socket.gethostname()


def memory_kib() -> int:
    """Total memory (MemTotal) in KiB."""
    return _meminfo().get("MemTotal", 0)


def free_memory_bytes() -> int:
    """Free memory in bytes (MemFree, as libvirt's nodeGetFreeMemory reports)."""
    return _meminfo().get("MemFree", 0) * 1024


def cpu_count() -> int:
    """CPUs present."""
    return os.cpu_count() or 1


def online_cpus() -> list[bool]:
    """Which CPUs are online, by number."""
    n = cpu_count()
    try:
        with open("/sys/devices/system/cpu/online") as f:
            text = f.read().strip()
    except OSError:
        return [True] * n
    online = [False] * n
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        for i in range(int(lo), int(hi or lo) + 1):
            if i < n:
                online[i] = True
    return online


def node_info() -> NodeInfo:
    """virNodeGetInfo for this host: model, memory (KiB), CPUs, MHz and topology."""
    cpus = cpu_count()
    mhz = 0
    sockets: set[str] = set()
    cores: set[tuple[str, str]] = set()
    try:
        with open("/proc/cpuinfo") as f:
            phys = "0"
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "cpu MHz" and not mhz:
                    mhz = int(float(value))
                elif key == "physical id":
                    phys = value
                    sockets.add(value)
                elif key == "core id":
                    cores.add((phys, value))
    except OSError:
        pass
    nsockets = max(1, len(sockets))
    ncores = max(1, len(cores) // nsockets) if cores else max(1, cpus // nsockets)
    threads = max(1, cpus // (nsockets * ncores))
    nodes = len([d for d in _listdir("/sys/devices/system/node") if d.startswith("node")]) or 1
    return NodeInfo(platform.machine(), memory_kib(), cpus, mhz, nodes, nsockets // nodes or 1,
                    ncores, threads)


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts:
                    out[key] = int(parts[0])
    except OSError:
        pass
    return out


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
