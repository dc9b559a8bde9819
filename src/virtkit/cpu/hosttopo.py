"""The host's CPU topology as the capabilities describe it, from sysfs.

Per NUMA node: its CPUs (socket, die, core, thread siblings) and distances
(virCapabilitiesInitNUMA); cache banks of level 3 and above
(virCapabilitiesInitCaches). ``root`` lets tests point it at a sysfs tree they build.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["CacheBank", "CellCPU", "cache_banks", "cell_cpus", "cell_distances",
           "format_cpulist", "parse_cpulist"]

SYSFS_CPU = "sys/devices/system/cpu"
SYSFS_NODE = "sys/devices/system/node"
_CACHE_TYPES = {"Data": "data", "Instruction": "code", "Unified": "both"}
_MIN_CACHE_LEVEL = 3  # libvirt exposes no lower level


@dataclass(frozen=True)
class CellCPU:
    id: int
    socket_id: int
    die_id: int
    core_id: int
    siblings: str


@dataclass(frozen=True)
class CacheBank:
    id: int
    level: int
    type: str  # both / code / data
    size: int  # bytes
    cpus: str


def _read(root: str, rel: str) -> str | None:
    try:
        with open(os.path.join(root, rel)) as f:
            return f.read().strip()
    except OSError:
        return None


def parse_cpulist(text: str) -> list[int]:
    """``0-3,8`` -> [0, 1, 2, 3, 8]."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def format_cpulist(cpus: list[int]) -> str:
    """[0, 1, 2, 3, 8] -> ``0-3,8`` (virBitmapFormat)."""
    runs: list[str] = []
    ids = sorted(set(cpus))
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        runs.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(runs)


def _int(root: str, rel: str, default: int = 0) -> int:
    text = _read(root, rel)
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _cpu(root: str, cpu: int) -> CellCPU:
    topo = f"{SYSFS_CPU}/cpu{cpu}/topology"
    siblings = _read(root, f"{topo}/thread_siblings_list")
    return CellCPU(cpu, _int(root, f"{topo}/physical_package_id"),
                   _int(root, f"{topo}/die_id"), _int(root, f"{topo}/core_id"),
                   format_cpulist(parse_cpulist(siblings)) if siblings else str(cpu))


def cell_cpus(node: int | None, ncpus: int, root: str = "/") -> list[CellCPU]:
    """The CPUs of NUMA ``node`` (None: no NUMA, all ``ncpus`` CPUs in one cell)."""
    if node is None:
        ids = list(range(ncpus))
    else:
        ids = parse_cpulist(_read(root, f"{SYSFS_NODE}/node{node}/cpulist") or "")
    return [_cpu(root, i) for i in ids]


def cell_distances(node: int, nodes: list[int], root: str = "/") -> list[tuple[int, int]]:
    """(sibling node, distance) for ``node`` (``nodes``: the nodes the distances name)."""
    text = _read(root, f"{SYSFS_NODE}/node{node}/distance")
    if not text:
        return []
    values = [int(v) for v in text.split()]
    return list(zip(nodes, values, strict=False))


def _size_bytes(text: str) -> int:
    scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(text[-1:].upper(), 1)
    return int(text.rstrip("KMGkmg")) * scale


def cache_banks(root: str = "/") -> list[CacheBank]:
    """Distinct caches of level >= 3 of the online CPUs, sorted by level then id."""
    online = parse_cpulist(_read(root, f"{SYSFS_CPU}/online") or "")
    banks: list[CacheBank] = []
    for cpu in online:
        base = f"{SYSFS_CPU}/cpu{cpu}/cache"
        try:
            entries = sorted(os.listdir(os.path.join(root, base)))
        except OSError:
            continue
        for entry in entries:
            if not entry.startswith("index"):
                continue
            d = f"{base}/{entry}"
            level = _int(root, f"{d}/level")
            if level < _MIN_CACHE_LEVEL:
                continue
            ident, kind = _read(root, f"{d}/id"), _read(root, f"{d}/type")
            size, cpus = _read(root, f"{d}/size"), _read(root, f"{d}/shared_cpu_list")
            if ident is None or kind is None or size is None or cpus is None:
                continue
            bank = CacheBank(int(ident), level, _CACHE_TYPES.get(kind, kind.lower()),
                             _size_bytes(size), format_cpulist(parse_cpulist(cpus)))
            if bank not in banks:
                banks.append(bank)
    return sorted(banks, key=lambda b: (b.level, b.id))


def pretty_size(size: int) -> tuple[int, str]:
    """virFormatIntPretty: the largest binary unit that divides ``size`` exactly."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    i = 0
    while size and size % 1024 == 0 and i < len(units) - 1:
        size //= 1024
        i += 1
    return size, units[i]
