"""Domain tuning commands (virsh 9.0): iothreadinfo/pin/add/set/del, blkiotune, numatune,
vcpuinfo, vcpupin, emulatorpin, memtune, perf, domiftune, blkdeviotune; the guest-side commands
(cpu-stats, domfs*, domtime, ...) live in cli/domguest.py and are registered here."""

from __future__ import annotations

from typing import Any

from virtkit.cli import domguest
from virtkit.cli.common import exclusive, lookup_domain
from virtkit.cli.framework import Cmd, CmdFailed, CommandDef, Ctl, scale_integer, specs_to_defs
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
    from virtkit.bitmap import format_bitmap

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
    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    iothread = ctl.opt_int(cmd, "iothread", lo=0, hi=_UINT_MAX) or 0
    cpulist = ctl.opt_required(cmd, "cpulist")
    cpumap = _cpulist_map(ctl, cpulist, ctl.conn.node_cpu_map()[0])
    if cpumap is None:
        return False
    dom.pin_iothread(iothread, cpumap, flags)
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


# ------------------------------------------------------------------ vcpupin, emulatorpin

def _cpulist_map(ctl: Ctl, cpulist: str, maxcpu: int) -> list[bool] | None:
    """virshParseCPUList: ``r`` is every host CPU; None (after the error) when refused."""
    from virtkit.bitmap import parse_bitmap
    from virtkit.errors import VirtError

    if cpulist.startswith("r"):
        return [True] * maxcpu
    try:
        bits = parse_bitmap(cpulist, 1024)
    except VirtError:
        ctl.error(f"Invalid cpulist '{cpulist}'")
        raise
    if not bits:
        ctl.error(f"Invalid cpulist '{cpulist}'")
        return None
    if max(bits) >= maxcpu:
        ctl.error(f"CPU {max(bits)} in cpulist '{cpulist}' exceed the maxcpu {maxcpu}")
        return None
    return [i in bits for i in range(max(bits) + 1)]


def cmd_vcpupin(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    flags = _impact(ctl, cmd)
    cpulist = cmd.raw("cpulist")
    if cpulist is None:
        exclusive(ctl, cmd, "live", "config")
    vcpu = ctl.opt_int(cmd, "vcpu", lo=0, hi=_UINT_MAX)
    if cpulist is not None and vcpu is None:
        ctl.error("vcpupin: Missing vCPU number in pin mode.")
        return False
    maxcpu = ctl.conn.node_cpu_map()[0]
    dom, _ = lookup_domain(ctl, cmd)
    if cpulist is None:
        if (flags & _LIVE and not dom.is_active()) or (flags & _CONFIG
                                                       and not dom.is_persistent()):
            what = "offline" if flags & _LIVE else "transient"
            ctl.error(f"cannot get vcpupin for {what} domain")
            return False
        ncpus = dom.vcpus_count(flags | 4)  # VIR_DOMAIN_VCPU_MAXIMUM
        if vcpu is not None and vcpu >= ncpus:
            live = flags & _LIVE or (not flags & _CONFIG and dom.is_active())
            kind = "live" if live else "persistent"
            ctl.error(f"vcpu {vcpu} is out of range of {kind} cpu count {ncpus}")
            return False
        try:
            maps = dom.vcpu_pin_info(flags, ncpumaps=ncpus)
        except VirtError:
            return True  # virsh prints nothing and succeeds
        rows = [[str(i), _bitmap_text(m)] for i, m in enumerate(maps)
                if vcpu is None or i == vcpu]
        ctl.print(format_table(["VCPU", "CPU Affinity"], rows))
        return True
    cpumap = _cpulist_map(ctl, cpulist, maxcpu)
    if cpumap is None:
        return False
    dom.pin_vcpu(vcpu or 0, cpumap, flags)
    return True


_VCPU_STATES = ("offline", "running", "blocked")


def _xpath_uint(text: str | None) -> int | None:
    """virXPathUInt on a string: the whole (non-empty) text as an unsigned int, else None."""
    import re

    m = re.fullmatch(r"[ \t\n\v\f\r]*\+?([0-9]+)", text or "")
    return int(m.group(1)) if m and int(m.group(1)) <= _UINT_MAX else None


def _inactive_vcpus(ctl: Ctl, dom: Any) -> tuple[list[int], int] | None:
    """virshDomainGetVcpuBitmap of the inactive XML: (online vCPU ids, maximum vCPU
    count); None after virsh's error."""
    from virtkit.conf.xmlutil import parse_xml

    root = parse_xml(dom.xml(2), "domain_definition")  # VIR_DOMAIN_XML_INACTIVE
    maxvcpus = _xpath_uint(root.findtext("vcpu"))
    if maxvcpus is None:
        ctl.error("Failed to retrieve maximum vcpu count")
        return None
    vcpu = root.find("vcpu")
    curvcpus = _xpath_uint(vcpu.get("current") if vcpu is not None else None) or maxvcpus
    nodes = root.findall("vcpus/vcpu")
    if not nodes:  # no per-vCPU state: the first "current" ones are online
        return list(range(min(curvcpus, maxvcpus))), maxvcpus
    online: set[int] = set()
    for node in nodes:
        ident = _xpath_uint(node.get("id"))
        if ident is not None and node.get("enabled") == "yes" and ident < maxvcpus:
            online.add(ident)
    if len(online) != curvcpus:
        ctl.error("Failed to retrieve vcpu state bitmap")
        return None
    return sorted(online), maxvcpus


def _affinity(cpumap: list[bool], maxcpu: int, pretty: bool) -> str:
    """virshVcpuinfoPrintAffinity's value: ``y``/``-`` per host CPU, or ``0-3 (out of 8)``."""
    cpumap = [i < len(cpumap) and cpumap[i] for i in range(maxcpu)]
    if pretty:
        return f"{_bitmap_text(cpumap)} (out of {maxcpu})"
    return "".join("y" if on else "-" for on in cpumap)


def cmd_vcpuinfo(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    pretty = cmd.flag("pretty")
    dom, _ = lookup_domain(ctl, cmd)
    maxcpu = ctl.conn.node_cpu_map()[0]
    info = dom.info()
    # one row per vCPU: (number, host cpu, state, cpu time in ns, affinity); None is N/A
    rows: list[tuple[int, int | None, str | None, int | None, list[bool]]] = []
    try:
        infos, maps = dom.vcpus()
    except VirtError:
        if info.state != 5:  # VIR_DOMAIN_SHUTOFF: only then the config's pinning instead
            raise
        inactive = _inactive_vcpus(ctl, dom)
        if inactive is None:
            return False
        ids, size = inactive
        pins = dom.vcpu_pin_info(_CONFIG, ncpumaps=size)
        rows = [(n, None, None, None, pins[n] if n < len(pins) else []) for n in ids]
    else:
        rows = [(v.number, v.cpu, _VCPU_STATES[v.state] if 0 <= v.state < 3 else "no state",
                 v.cpu_time, maps[i] if i < len(maps) else []) for i, v in enumerate(infos)]
    if cmd.flag("json"):
        ctl.print(to_json([{"vcpu": n, "cpu": cpu, "state": state, "cpu_time": cpu_time,
                            "affinity": _bitmap_text(cpumap[:maxcpu])}
                           for n, cpu, state, cpu_time, cpumap in rows]))
        return True
    blocks = []
    for n, cpu, state, cpu_time, cpumap in rows:
        lines = [f"{'VCPU:':<15} {n}",
                 f"{'CPU:':<15} {'N/A' if cpu is None else cpu}",
                 f"{'State:':<15} {'N/A' if state is None else state}"]
        if cpu_time is None:
            lines.append(f"{'CPU time':<15} N/A")  # sic: virsh drops the colon here
        elif cpu_time:
            lines.append(f"{'CPU time:':<15} {cpu_time / 1e9:.1f}s")
        lines.append(f"{'CPU Affinity:':<15} {_affinity(cpumap, maxcpu, pretty)}")
        blocks.append("".join(line + "\n" for line in lines))
    ctl.print("\n".join(blocks))
    return True


def cmd_emulatorpin(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    cpulist = cmd.raw("cpulist")
    maxcpu = ctl.conn.node_cpu_map()[0]
    if cpulist is None:
        cpumap = dom.emulator_pin_info(flags)
        ctl.print_extra("emulator: CPU Affinity\n----------------------------------\n       *: ")
        ctl.print(_bitmap_text(cpumap[:maxcpu]) + "\n")
        return True
    pinned = _cpulist_map(ctl, cpulist, maxcpu)
    if pinned is None:
        return False
    no_impact = not (flags or cmd.flag("current"))
    dom.pin_emulator(pinned, _LIVE if no_impact else flags)
    return True


# ------------------------------------------------------------------ memtune, perf

_MEM_UNLIMITED = 9007199254740991  # VIR_DOMAIN_MEMORY_PARAM_UNLIMITED


def _memtune_size(ctl: Ctl, cmd: Cmd, option: str) -> int | None:
    """virshMemtuneGetSize: KiB (scaled, rounded up), or unlimited when negative."""
    import re

    from virtkit.errors import VirtError

    text = cmd.raw(option)
    if text is None:
        return None
    m = re.match(r"[ \t\n\v\f\r]*([+-]?\d+)", text)
    if m is None or not -(2**63) <= int(m.group(1)) < 2**63:
        ctl.error(f"Unable to parse integer parameter {option}")
        raise CmdFailed
    number = int(m.group(1))
    if number < 0:
        return _MEM_UNLIMITED
    try:
        scaled = scale_integer(str(number) + text[m.end():], 1024, 2**63 - 1)
    except VirtError:
        ctl.error(f"Unable to parse integer parameter {option}")
        raise
    except ValueError:
        ctl.error(f"Unable to parse integer parameter {option}")
        raise CmdFailed from None
    return -(-scaled // 1024)


def cmd_memtune(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    params: dict[str, Any] = {}
    for option, name in (("hard-limit", "hard_limit"), ("soft-limit", "soft_limit"),
                         ("swap-hard-limit", "swap_hard_limit"),
                         ("min-guarantee", "min_guarantee")):
        value = _memtune_size(ctl, cmd, option)
        if value is not None:
            params[name] = value
    if params:
        with ctl.failing("Unable to change memory parameters"):
            dom.set_memory_parameters(params, flags)
        return True
    message = ("Unable to get number of memory parameters" if flags == _LIVE | _CONFIG
               else "Unable to get memory parameters")
    with ctl.failing(message):
        current = dom.memory_parameters(flags)
    for name, setting in current.items():
        text = "unlimited" if setting == _MEM_UNLIMITED else str(setting)
        ctl.print(f"{name:<15}: {text}\n")
    return True


def cmd_perf(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    enable = ctl.opt_string(cmd, "enable")
    disable = ctl.opt_string(cmd, "disable")
    dom, _ = lookup_domain(ctl, cmd)
    params: dict[str, Any] = {}
    for text, state in ((enable, True), (disable, False)):
        for name in (text or "").split(","):
            if name:
                params[name] = state
    if not params:
        with ctl.failing("Unable to get perf events"):
            params = dom.perf_events(flags)
    else:
        with ctl.failing("Unable to enable/disable perf events"):
            dom.set_perf_events(params, flags)
    for name, on in params.items():
        ctl.print_extra(f"{name:<15}: {'enabled' if on else 'disabled'}\n")
    return True


# ------------------------------------------------------------------ domiftune, blkdeviotune

def cmd_domiftune(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.domdevices import _rate

    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    device = ctl.opt_string(cmd, "interface") or ""
    inbound = ctl.opt_string(cmd, "inbound")
    outbound = ctl.opt_string(cmd, "outbound")
    params: dict[str, Any] = {}
    for direction, text in (("inbound", inbound), ("outbound", outbound)):
        if text is None:
            continue
        average, peak, burst, floor = _rate(ctl, text)
        if max(average, peak, burst) > _UINT_MAX:
            ctl.error(f"{direction} rate larger than maximum {_UINT_MAX}")
            return False
        if direction == "inbound" and not average and (burst or peak) and not floor:
            ctl.error("either inbound average or floor is mandatory")
            return False
        if direction == "outbound":
            if not average and (burst or peak):
                ctl.error("outbound average is mandatory")
                return False
            if floor:
                ctl.error("outbound floor is unsupported yet")
                return False
        params[f"{direction}.average"] = average
        for name, value in (("peak", peak), ("burst", burst), ("floor", floor)):
            if value:
                params[f"{direction}.{name}"] = value
    if params:
        with ctl.failing("Unable to set interface parameters"):
            dom.set_interface_parameters(device, params, flags)
        return True
    with ctl.failing("Unable to get interface parameters"):
        current = dom.interface_parameters(device, flags)
    _print_params(ctl, current)
    return True


_IOTUNE_SCALED = ("total-bytes-sec", "read-bytes-sec", "write-bytes-sec",
                  "total-bytes-sec-max", "read-bytes-sec-max", "write-bytes-sec-max")
_IOTUNE_PLAIN = ("total-iops-sec", "read-iops-sec", "write-iops-sec", "total-iops-sec-max",
                 "read-iops-sec-max", "write-iops-sec-max", "size-iops-sec",
                 "total-bytes-sec-max-length", "read-bytes-sec-max-length",
                 "write-bytes-sec-max-length", "total-iops-sec-max-length",
                 "read-iops-sec-max-length", "write-iops-sec-max-length")


def cmd_blkdeviotune(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    flags = _impact(ctl, cmd)
    dom, _ = lookup_domain(ctl, cmd)
    disk = ctl.opt_string(cmd, "device") or ""
    params: dict[str, Any] = {}
    try:
        for option in _IOTUNE_SCALED:
            value = ctl.opt_scaled(cmd, option)
            if value is not None:
                params[option.replace("-", "_")] = value
        for option in _IOTUNE_PLAIN:
            value = ctl.opt_int(cmd, option, lo=0, hi=2**64 - 1)
            if value is not None:
                params[option.replace("-", "_")] = value
    except (CmdFailed, VirtError):
        ctl.error("Unable to parse integer parameter")
        raise
    try:
        group = ctl.opt_string(cmd, "group-name")
    except CmdFailed:
        ctl.error("Unable to parse group-name parameter")
        raise
    if group is not None:
        params["group_name"] = group
    if params:
        with ctl.failing("Unable to change block I/O throttle"):
            dom.set_block_io_tune(disk, params, flags)
        return True
    if flags == _LIVE | _CONFIG:
        with ctl.failing("Unable to get number of block I/O throttle parameters"):
            dom.block_io_tune(disk, flags)
    with ctl.failing("Unable to get block I/O throttle parameters"):
        current = dom.block_io_tune(disk, flags)
    _print_params(ctl, current)
    return True


def _family_specs() -> dict[str, Any]:
    """Every command table handled here (Domain Management and Domain Monitoring)."""
    out: dict[str, Any] = {}
    for _, _, module, cmds in GROUPS:
        if module == "domtuning":
            out.update(cmds)
    return out


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    _family_specs(),
    {
        "blkiotune": cmd_blkiotune,
        "iothreadinfo": cmd_iothreadinfo,
        "iothreadpin": cmd_iothreadpin,
        "iothreadadd": cmd_iothreadadd,
        "iothreadset": cmd_iothreadset,
        "iothreaddel": cmd_iothreaddel,
        "numatune": cmd_numatune,
        "vcpuinfo": cmd_vcpuinfo,
        "vcpupin": cmd_vcpupin,
        "emulatorpin": cmd_emulatorpin,
        "memtune": cmd_memtune,
        "perf": cmd_perf,
        "domiftune": cmd_domiftune,
        "blkdeviotune": cmd_blkdeviotune,
        **domguest.HANDLERS,
    },
    json_commands=("iothreadinfo", "vcpuinfo"),
)
