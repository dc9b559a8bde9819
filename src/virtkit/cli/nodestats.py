"""Host statistics commands: nodecpustats, nodememstats, freecell, freepages, nodecpumap,
node-memory-tune, nodesevinfo (virsh-host.c's output; ``--json`` on each)."""

from __future__ import annotations

import time
from typing import Any

from virtkit.cli.common import exclusive
from virtkit.cli.framework import Cmd, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import to_json
from virtkit.cli.specs import GROUPS
from virtkit.conf.xmlutil import parse_xml
from virtkit.constants import NodeGetCPUStatsAllCPUs, NodeGetMemoryStatsAllCells
from virtkit.errors import VirtError

# virsh's rows: (label, libvirt's field)
_CPU_ROWS = (("user:", "user"), ("system:", "kernel"), ("idle:", "idle"),
             ("iowait:", "iowait"), ("intr:", "intr"))
_UINT_MAX = 2**32 - 1


def cmd_nodecpustats(ctl: Ctl, cmd: Cmd) -> bool:
    cpu = ctl.opt_int(cmd, "cpu")
    cpu = NodeGetCPUStatsAllCPUs.CPUS if cpu is None else cpu
    percent = cmd.flag("percent")
    # virsh asks the count first: only a bad negative number fails there.
    step = ("Unable to get number of cpu stats" if cpu < NodeGetCPUStatsAllCPUs.CPUS
            else "Unable to get node cpu stats")
    with ctl.failing(step):
        first = ctl.conn.node_cpu_stats(cpu)
    if not percent:
        if cmd.flag("json"):
            ctl.print(to_json(dict(first)))
            return True
        ctl.print("".join(f"{label:<15} {first[field]:>20}\n"
                          for label, field in _CPU_ROWS if field in first))
        return True
    time.sleep(1)
    with ctl.failing("Unable to get node cpu stats"):
        second = ctl.conn.node_cpu_stats(cpu)
    delta = {f: second[f] - first[f] for _, f in _CPU_ROWS if f in first and f in second}
    total = sum(delta.values()) or 1
    usage = (delta.get("user", 0) + delta.get("kernel", 0)) / total * 100
    rows = [("usage:", usage)] + [(label, delta[f] / total * 100)
                                  for label, f in _CPU_ROWS if f in delta]
    if cmd.flag("json"):
        ctl.print(to_json({label[:-1]: round(v, 1) for label, v in rows}))
        return True
    ctl.print("".join(f"{label:<15} {v:5.1f}%\n" for label, v in rows))
    return True


def cmd_nodememstats(ctl: Ctl, cmd: Cmd) -> bool:
    cell = ctl.opt_int(cmd, "cell")
    cell = NodeGetMemoryStatsAllCells.CELLS if cell is None else cell
    with ctl.failing("Unable to get number of memory stats"):
        stats = ctl.conn.node_memory_stats(cell)
    if cmd.flag("json"):
        ctl.print(to_json({f"{k}_kib": v for k, v in stats.items()}))
        return True
    ctl.print("".join(f"{k:<7}: {v:>20} KiB\n" for k, v in stats.items()))
    return True


def _capabilities(ctl: Ctl, message: str) -> Any:
    try:
        return parse_xml(ctl.conn.capabilities(), "capabilities")
    except VirtError:
        ctl.error(message)
        raise


def _cell_ids(caps: Any) -> list[int]:
    return [int(c.get("id", "0")) for c in caps.findall("./host/topology/cells/cell")]


def cmd_freecell(ctl: Ctl, cmd: Cmd) -> bool:
    exclusive(ctl, cmd, "all", "cellno")
    conn = ctl.conn
    as_json = cmd.flag("json")
    if not cmd.flag("all"):
        cell = ctl.opt_int(cmd, "cellno")
        if cell is not None:
            free = conn.node_cells_free_memory(cell, 1)
            if len(free) != 1:
                return False
            ctl.print(to_json({"cell": cell, "free_kib": free[0] // 1024}) if as_json
                      else f"{cell}: {free[0] // 1024} KiB\n")
            return True
        total = conn.node_free_memory()
        if not total:
            return False
        ctl.print(to_json({"total_kib": total // 1024}) if as_json
                  else f"Total: {total // 1024} KiB\n")
        return True
    caps = _capabilities(ctl, "unable to get node capabilities")
    cells: list[tuple[int, int]] = []
    for cell in _cell_ids(caps):
        try:
            free = conn.node_cells_free_memory(cell, 1)
        except VirtError:
            ctl.error(f"failed to get free memory for NUMA node number: {cell}")
            raise
        cells.append((cell, free[0] if free else 0))
    total = sum(f for _, f in cells)
    if as_json:
        ctl.print(to_json({"cells": [{"cell": c, "free_kib": f // 1024} for c, f in cells],
                           "total_kib": total // 1024}))
        return True
    ctl.print("".join(f"{c:>5}: {f // 1024:>10} KiB\n" for c, f in cells))
    ctl.print_extra("--------------------\n")
    ctl.print_extra(f"{'Total':>5}: {total // 1024:>10} KiB\n")
    return True


def _page_sizes(caps: Any) -> list[int]:
    nodes = caps.findall("./host/cpu/pages") or caps.findall("./host/topology/cells/cell/pages")
    return sorted({int(p.get("size", "0")) for p in nodes})


def cmd_freepages(ctl: Ctl, cmd: Cmd) -> bool:
    exclusive(ctl, cmd, "all", "cellno")
    conn = ctl.conn
    as_json = cmd.flag("json")
    size_bytes = ctl.opt_scaled(cmd, "pagesize", scale=1024, maximum=_UINT_MAX)
    kib = -(-(size_bytes or 0) // 1024)
    if cmd.flag("all"):
        caps = _capabilities(ctl, "unable to get node capabilities")
        if size_bytes is None:
            sizes = _page_sizes(caps)
            if not sizes:
                ctl.error("could not get information about supported page sizes")
                return False
        else:
            sizes = [kib]
        out: list[dict[str, Any]] = []
        for cell in _cell_ids(caps):
            counts = conn.node_free_pages(sizes, cell, 1)
            out.append({"cell": cell, "pages": [{"size_kib": s, "free": n}
                                                for s, n in zip(sizes, counts, strict=False)]})
            if not as_json:
                ctl.print(f"Node {cell}:\n" + "".join(
                    f"{s}KiB: {n}\n" for s, n in zip(sizes, counts, strict=False)) + "\n")
        if as_json:
            ctl.print(to_json(out))
        return True
    if not cmd.has("cellno"):
        ctl.error("missing cellno argument")
        return False
    cellno = ctl.opt_int(cmd, "cellno")
    assert cellno is not None
    if cellno < -1:
        ctl.error("cell number must be non-negative integer or -1")
        return False
    if size_bytes is None:
        ctl.error("missing pagesize argument")
        return False
    (count,) = conn.node_free_pages([kib], cellno, 1)[:1]
    ctl.print(to_json({"cell": cellno, "size_kib": kib, "free": count}) if as_json
              else f"{kib}KiB: {count}\n")
    return True


def _format_bitmap(bits: list[bool]) -> str:
    """virBitmapDataFormat: "0-3,5"."""
    ranges: list[str] = []
    i = 0
    while i < len(bits):
        if not bits[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(bits) and bits[j + 1]:
            j += 1
        ranges.append(str(i) if i == j else f"{i}-{j}")
        i = j + 1
    return ",".join(ranges)


def cmd_nodecpumap(ctl: Ctl, cmd: Cmd) -> bool:
    with ctl.failing("Unable to get cpu map"):
        ncpus, online_map, online = ctl.conn.node_cpu_map()
    if cmd.flag("json"):
        ctl.print(to_json({"cpus_present": ncpus, "cpus_online": online,
                           "online": [i for i, on in enumerate(online_map[:ncpus]) if on]}))
        return True
    cpumap = (_format_bitmap(online_map[:ncpus]) if cmd.flag("pretty")
              else "".join("y" if on else "-" for on in online_map[:ncpus]))
    ctl.print(f"{'CPUs present:':<15} {ncpus}\n{'CPUs online:':<15} {online}\n"
              f"{'CPU map:':<15} {cpumap}\n")
    return True


_KSM_OPTIONS = (("shm-pages-to-scan", "shm_pages_to_scan"),
                ("shm-sleep-millisecs", "shm_sleep_millisecs"),
                ("shm-merge-across-nodes", "shm_merge_across_nodes"))


def cmd_node_memory_tune(ctl: Ctl, cmd: Cmd) -> bool:
    params: dict[str, int] = {}
    for option, field in _KSM_OPTIONS:
        value = ctl.opt_int(cmd, option, lo=0, hi=_UINT_MAX)
        if value is not None:
            params[field] = value
    if params:
        with ctl.failing("Unable to change memory parameters"):
            ctl.conn.set_node_memory_parameters(dict(params))
        return True
    with ctl.failing("Unable to get number of memory parameters"):
        current = ctl.conn.node_memory_parameters()
    if cmd.flag("json"):
        ctl.print(to_json(dict(current)))
        return True
    if current:
        ctl.print("Shared memory:\n" + "".join(f"\t{k:<15} {v}\n" for k, v in current.items()))
    return True


def cmd_nodesevinfo(ctl: Ctl, cmd: Cmd) -> bool:
    with ctl.failing("Unable to get host SEV information"):
        info = ctl.conn.node_sev_info()
    if cmd.flag("json"):
        ctl.print(to_json(dict(info)))
        return True
    ctl.print("".join(f"{k:<18}: {v}\n" for k, v in info.items()))
    return True


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, _, module, cmds in GROUPS if module == "nodestats"),
    {
        "freecell": cmd_freecell,
        "freepages": cmd_freepages,
        "node-memory-tune": cmd_node_memory_tune,
        "nodecpumap": cmd_nodecpumap,
        "nodecpustats": cmd_nodecpustats,
        "nodememstats": cmd_nodememstats,
        "nodesevinfo": cmd_nodesevinfo,
    },
    json_commands=("freecell", "freepages", "node-memory-tune", "nodecpumap", "nodecpustats",
                   "nodememstats", "nodesevinfo"),
)
