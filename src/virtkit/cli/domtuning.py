"""Domain tuning commands: iothreadinfo/pin/add/set/del, blkiotune, numatune (virsh 9.0)."""

from __future__ import annotations

from typing import Any

from virtkit.cli.common import exclusive, lookup_domain
from virtkit.cli.framework import Cmd, CmdFailed, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import format_table, to_json
from virtkit.cli.specs import GROUPS

_LIVE, _CONFIG = 1, 2
_UINT_MAX = 2**32 - 1
_NUMA_MODES = ("strict", "preferred", "interleave", "restrictive")


def _impact(ctl: Ctl, cmd: Cmd) -> int:
    """--config/--live/--current as VIR_DOMAIN_AFFECT_* flags (current excludes the others)."""
    exclusive(ctl, cmd, "current", "live")
    exclusive(ctl, cmd, "current", "config")
    return (_CONFIG if cmd.flag("config") else 0) | (_LIVE if cmd.flag("live") else 0)


def _bitmap_text(cpumap: list[bool]) -> str:
    from virtkit.drivers.test.tuning import format_bitmap

    return format_bitmap(cpumap)


def _print_params(ctl: Ctl, params: dict[str, Any]) -> None:
    """vshGetTypedParamValue lines: "name           : value"."""
    for name, value in params.items():
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, float):
            text = f"{value:f}"
        else:
            text = str(value)
        ctl.print(f"{name:<15}: {text}\n")


# ------------------------------------------------------------------ IOThreads

def cmd_iothreadinfo(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    with ctl.failing("Unable to get domain IOThreads information"):
        info = dom.iothread_info(flags)
    if cmd.flag("json"):
        ctl.print(to_json([{"iothread_id": tid, "cpu_affinity": _bitmap_text(cpumap)}
                           for tid, cpumap in info]))
        return True
    if not info:
        ctl.print_extra("No IOThreads found for the domain")
        return True
    rows = [[str(tid), _bitmap_text(cpumap)] for tid, cpumap in info]
    ctl.print(format_table(["IOThread ID", "CPU Affinity"], rows))
    return True


def _iothread_id(ctl: Ctl, cmd: Cmd) -> int:
    """vshCommandOptInt "id", then virsh's own refusal of ids below 1."""
    value = ctl.opt_int(cmd, "id")
    value = 0 if value is None else value
    if value <= 0:
        ctl.error(f"Invalid IOThread id value: '{value}'")
        raise CmdFailed
    return value


def cmd_iothreadpin(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.drivers.test.tuning import parse_bitmap
    from virtkit.errors import VirtError

    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    iothread = ctl.opt_int(cmd, "iothread", lo=0, hi=_UINT_MAX) or 0
    cpulist = ctl.opt_required(cmd, "cpulist")
    maxcpu = ctl.conn.node_cpu_map()[0]
    if cpulist.startswith("r"):
        bits = set(range(maxcpu))
    else:
        try:
            bits = parse_bitmap(cpulist, 1024)
        except VirtError:
            ctl.error(f"Invalid cpulist '{cpulist}'")
            raise
        if not bits:
            ctl.error(f"Invalid cpulist '{cpulist}'")
            return False
        if max(bits) >= maxcpu:
            ctl.error(f"CPU {max(bits)} in cpulist '{cpulist}' exceed the maxcpu {maxcpu}")
            return False
    dom.pin_iothread(iothread, [i in bits for i in range(max(bits) + 1)], flags)
    return True


def cmd_iothreadadd(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    dom.add_iothread(_iothread_id(ctl, cmd), flags)
    return True


def cmd_iothreaddel(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    dom.del_iothread(_iothread_id(ctl, cmd), flags)
    return True


def cmd_iothreadset(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    iothread = _iothread_id(ctl, cmd)
    params: dict[str, Any] = {}
    for option, name, lo, hi in (
        ("poll-max-ns", "poll_max_ns", 0, 2**64 - 1),
        ("poll-grow", "poll_grow", 0, _UINT_MAX),
        ("poll-shrink", "poll_shrink", 0, _UINT_MAX),
        ("thread-pool-min", "thread_pool_min", -(2**31), 2**31 - 1),
        ("thread-pool-max", "thread_pool_max", -(2**31), 2**31 - 1),
    ):
        value = ctl.opt_int(cmd, option, lo=lo, hi=hi)
        if value is not None:
            params[name] = value
    if not params:
        ctl.error("Not enough arguments passed, nothing to set")
        return False
    dom.set_iothread_params(iothread, params, flags)
    return True


# ------------------------------------------------------------------ blkio, NUMA

_BLKIO_OPTIONS = (
    ("device-weights", "device_weight"),
    ("device-read-iops-sec", "device_read_iops_sec"),
    ("device-write-iops-sec", "device_write_iops_sec"),
    ("device-read-bytes-sec", "device_read_bytes_sec"),
    ("device-write-bytes-sec", "device_write_bytes_sec"),
)


def cmd_blkiotune(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    params: dict[str, Any] = {}
    weight = ctl.opt_int(cmd, "weight")
    if weight is not None:
        if weight <= 0:
            ctl.error(f"Invalid value of {weight} for I/O weight")
            return False
        params["weight"] = weight
    for option, name in _BLKIO_OPTIONS:
        value = cmd.raw(option)
        if value == "":
            ctl.error("Unable to parse string parameter")
            return False
        if value is not None:
            params[name] = value
    if not params:
        with ctl.failing("Unable to get number of blkio parameters"):
            current = dom.blkio_parameters(flags)
        _print_params(ctl, current)
        return True
    with ctl.failing("Unable to change blkio parameters"):
        dom.set_blkio_parameters(params, flags)
    return True


def cmd_numatune(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    params: dict[str, Any] = {}
    nodeset = ctl.opt_string(cmd, "nodeset")
    if nodeset is not None:
        params["numa_nodeset"] = nodeset
    mode = ctl.opt_string(cmd, "mode")
    if mode is not None:
        number = _NUMA_MODES.index(mode) if mode in _NUMA_MODES else _c_long(mode)
        if number is None:
            ctl.error(f"Invalid mode: {mode}")
            return False
        params["numa_mode"] = number
    if not params:
        with ctl.failing("Unable to get number of memory parameters"):
            current = dom.numa_parameters(flags)
        mode_no = current.get("numa_mode")
        if isinstance(mode_no, int) and 0 <= mode_no < len(_NUMA_MODES):
            current["numa_mode"] = _NUMA_MODES[mode_no]
        _print_params(ctl, current)
        return True
    with ctl.failing("Unable to change numa parameters"):
        dom.set_numa_parameters(params, flags)
    return True


def _c_long(text: str) -> int | None:
    """virStrToLong_i with base 0 (decimal, 0x hex, 0 octal), int range."""
    body = text.lstrip(" \t\n\v\f\r")
    sign = -1 if body.startswith("-") else 1
    digits = body[1:] if body[:1] in "+-" else body
    try:
        if digits.lower().startswith("0x"):
            value = int(digits[2:], 16)
        elif digits.startswith("0") and len(digits) > 1:
            value = int(digits[1:], 8)
        else:
            value = int(digits, 10)
    except ValueError:
        return None
    value *= sign
    return value if -(2**31) <= value < 2**31 else None


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, _, module, cmds in GROUPS if module == "domtuning"),
    {
        "blkiotune": cmd_blkiotune,
        "iothreadinfo": cmd_iothreadinfo,
        "iothreadpin": cmd_iothreadpin,
        "iothreadadd": cmd_iothreadadd,
        "iothreadset": cmd_iothreadset,
        "iothreaddel": cmd_iothreaddel,
        "numatune": cmd_numatune,
    },
    json_commands=("iothreadinfo",),
)
