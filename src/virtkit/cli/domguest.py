"""Guest-side domain commands (virsh 9.0): cpu-stats, domfsfreeze/thaw/trim/info, domtime,
domblkerror, set-user-password, send-process-signal, set-lifecycle-action.

Registered by cli/domtuning.py, whose command family they belong to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtkit.cli.common import exclusive, lookup_domain
from virtkit.cli.framework import Cmd, Ctl
from virtkit.cli.output import format_table

if TYPE_CHECKING:
    from virtkit.cli.framework import Handler

_LIVE, _CONFIG = 1, 2
_INT_MAX = 2**31 - 1
_TIME_FIELDS = ("cpu_time", "vcpu_time", "user_time", "system_time")
_DISK_ERRORS = ("no error", "unspecified error", "no space")
_LIFECYCLE_TYPES = ("poweroff", "reboot", "crash")
_LIFECYCLE_ACTIONS = ("destroy", "restart", "rename-restart", "preserve", "coredump-destroy",
                      "coredump-restart")
_SIGNALS = (
    "nop", "hup", "int", "quit", "ill", "trap", "abrt", "bus", "fpe", "kill", "usr1", "segv",
    "usr2", "pipe", "alrm", "term", "stkflt", "chld", "cont", "stop", "tstp", "ttin", "ttou",
    "urg", "xcpu", "xfsz", "vtalrm", "prof", "winch", "poll", "pwr", "sys",
    *(f"rt{i}" for i in range(33)),
)


def _impact(ctl: Ctl, cmd: Cmd) -> int:
    exclusive(ctl, cmd, "current", "live")
    exclusive(ctl, cmd, "current", "config")
    return (_CONFIG if cmd.flag("config") else 0) | (_LIVE if cmd.flag("live") else 0)


# ------------------------------------------------------------------ cpu-stats

def _print_stat(ctl: Ctl, name: str, value: object) -> None:
    """vshCPUStatsPrintField: times as seconds with nine decimals."""
    if name in _TIME_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        ctl.print(f"\t{name:<12} {value // 10**9:9d}.{value % 10**9:09d} seconds\n")
    else:
        ctl.print(f"\t{name:<12} {value}\n")


def cmd_cpu_stats(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    dom, _ = lookup_domain(ctl, cmd)
    show_total = cmd.flag("total")
    show_per_cpu = False
    cpu = ctl.opt_int(cmd, "start")
    if cpu is not None:
        if cpu < 0:
            ctl.error("Invalid value for start CPU")
            return False
        show_per_cpu = True
    cpu = cpu or 0
    count = ctl.opt_int(cmd, "count")
    if count is not None:
        if count < 0:
            ctl.error("Invalid value for number of CPUs to show")
            return False
        show_per_cpu = True
    show_count = -1 if count is None else count
    if not show_total and not show_per_cpu:
        show_total = show_per_cpu = True
    try:
        if show_per_cpu:
            max_id = dom.get_cpu_stats(0, 0, 0, 0)[0]
            if cpu >= max_id:
                ctl.error(f"Start CPU {cpu} is out of range (min: 0, max: {max_id - 1})")
                return False
            if show_count < 0 or show_count > max_id:
                if show_count > max_id:
                    ctl.print(f"Only {max_id} CPUs available to show\n")
                show_count = max_id - cpu
            nparams = dom.get_cpu_stats(0, 1, 0, 0)[0]
            if not nparams:
                ctl.print("No per-CPU stats available")
                if not show_total:
                    return False
            else:
                while show_count:
                    ncpus = min(show_count, 128)
                    stats = dom.get_cpu_stats(cpu, ncpus, nparams, 0)[1]
                    for i, params in enumerate(stats[:ncpus]):
                        if not params:
                            continue  # this cpu is not in the map
                        ctl.print(f"CPU{cpu + i}:\n")
                        for field, value in params.items():
                            _print_stat(ctl, field, value)
                    cpu += ncpus
                    show_count -= ncpus
                if not show_total:
                    return True
        nparams = dom.get_cpu_stats(-1, 1, 0, 0)[0]
        if not nparams:
            ctl.print("No total stats available")
            return False
        _, stats = dom.get_cpu_stats(-1, 1, nparams, 0)
        ctl.print("Total:\n")
        for field, value in (stats[0] if stats else {}).items():
            _print_stat(ctl, field, value)
        return True
    except VirtError:
        ctl.error(f"Failed to retrieve CPU statistics for domain '{dom.name}'")
        raise


# ------------------------------------------------------------------ file systems

def cmd_domfsfreeze(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    with ctl.failing("Unable to freeze filesystems"):
        count = dom.fs_freeze(cmd.argv("mountpoint"))
    ctl.print_extra(f"Froze {count} filesystem(s)\n")
    return True


def cmd_domfsthaw(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    with ctl.failing("Unable to thaw filesystems"):
        count = dom.fs_thaw(cmd.argv("mountpoint"))
    ctl.print_extra(f"Thawed {count} filesystem(s)\n")
    return True


def cmd_domfstrim(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    minimum = ctl.opt_int(cmd, "minimum", lo=0, hi=2**64 - 1) or 0
    mount = ctl.opt_string(cmd, "mountpoint")
    with ctl.failing("Unable to invoke fstrim"):
        dom.fs_trim(mount, minimum)
    return True


def cmd_domfsinfo(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    with ctl.failing("Unable to get filesystem information"):
        info = dom.fs_info()
    if not info:
        ctl.print_extra("No filesystems are mounted in the domain")
        return True
    rows = [[mount, name, fstype, ",".join(aliases)] for mount, name, fstype, aliases in info]
    ctl.print(format_table(["Mountpoint", "Name", "Type", "Target"], rows))
    return True


# ------------------------------------------------------------------ time, disk errors

def cmd_domtime(ctl: Ctl, cmd: Cmd) -> bool:
    exclusive(ctl, cmd, "time", "now")
    exclusive(ctl, cmd, "time", "sync")
    exclusive(ctl, cmd, "now", "sync")
    dom, _ = lookup_domain(ctl, cmd)
    seconds = ctl.opt_int(cmd, "time", lo=-(2**63), hi=2**63 - 1)
    now, sync = cmd.flag("now"), cmd.flag("sync")
    if seconds is not None or now or sync:
        if now:
            import time

            seconds = int(time.time())
        dom.set_time(seconds or 0, 0, 1 if sync else 0)
        return True
    seconds, _ = dom.get_time()
    if cmd.flag("pretty"):
        import datetime

        when = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        ctl.print(f"Time: {when:%Y-%m-%d %H:%M:%S}")
    else:
        ctl.print(f"Time: {seconds}")
    return True


def cmd_domblkerror(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    errors = dom.disk_errors()
    if not errors:
        ctl.print("No errors found\n")
    for disk, code in errors.items():
        text = _DISK_ERRORS[code] if 0 <= code < len(_DISK_ERRORS) else "unknown error"
        ctl.print(f"{disk}: {text}\n")
    return True


# ------------------------------------------------------------------ passwords, signals, lifecycle

def cmd_set_user_password(ctl: Ctl, cmd: Cmd) -> bool:
    user = ctl.opt_required(cmd, "user")
    password = ctl.opt_required(cmd, "password")
    dom, name = lookup_domain(ctl, cmd)
    dom.set_user_password(user, password, 1 if cmd.flag("encrypted") else 0)
    ctl.print_extra(f"Password set successfully for {user} in {name}")
    return True


def _signal_number(name: str) -> int:
    """getSignalNumber: a number, or a name with or without ``sig``/``sig_``; -1 if neither."""
    from virtkit.cli.framework import parse_c_integer

    text = name.lower()
    number = parse_c_integer(text)
    if number is not None:
        return number if -(2**31) <= number <= _INT_MAX else -1
    for prefix in ("sig_", "sig"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return _SIGNALS.index(text) if text in _SIGNALS else -1


def cmd_send_process_signal(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    pid = ctl.opt_int(cmd, "pid", lo=-(2**63), hi=2**63 - 1) or 0
    signame = ctl.opt_required(cmd, "signame")
    signum = _signal_number(signame)
    if signum < 0:
        ctl.error(f"malformed signal name: {signame}")
        return False
    dom.send_process_signal(pid, signum, 0)
    return True


def cmd_set_lifecycle_action(ctl: Ctl, cmd: Cmd) -> bool:
    flags = _impact(ctl, cmd)
    type_name = ctl.opt_required(cmd, "type")
    action_name = ctl.opt_required(cmd, "action")
    if type_name not in _LIFECYCLE_TYPES:
        ctl.error(f"Invalid lifecycle type '{type_name}'.")
        return False
    if action_name not in _LIFECYCLE_ACTIONS:
        ctl.error(f"Invalid lifecycle action '{action_name}'.")
        return False
    dom, _ = lookup_domain(ctl, cmd)
    with ctl.failing("Unable to change lifecycle action."):
        dom.set_lifecycle_action(_LIFECYCLE_TYPES.index(type_name),
                                 _LIFECYCLE_ACTIONS.index(action_name), flags)
    return True


HANDLERS: dict[str, Handler] = {
    "cpu-stats": cmd_cpu_stats,
    "domfsfreeze": cmd_domfsfreeze,
    "domfsthaw": cmd_domfsthaw,
    "domfstrim": cmd_domfstrim,
    "domfsinfo": cmd_domfsinfo,
    "domtime": cmd_domtime,
    "domblkerror": cmd_domblkerror,
    "set-user-password": cmd_set_user_password,
    "send-process-signal": cmd_send_process_signal,
    "set-lifecycle-action": cmd_set_lifecycle_action,
}

__all__ = ["HANDLERS"]
