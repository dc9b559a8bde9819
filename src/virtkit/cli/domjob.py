"""domjobinfo and domjobabort (virsh-domain.c cmdDomjobinfo, cmdDomjobabort), and the job
watch that ``save --verbose`` and ``managedsave --verbose`` draw progress with
(virshWatchJob, virshPrintJobProgress)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from virtkit.cli.common import lookup_domain, requires
from virtkit.cli.framework import Cmd, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import pretty_capacity
from virtkit.cli.specs import GROUPS
from virtkit.constants import (
    DomainAbortJobFlags,
    DomainGetJobStatsFlags,
    DomainJobOperation,
    DomainJobType,
)
from virtkit.errors import NoSupportError, VirtError
from virtkit.handles.domain import Domain
from virtkit.types import DomainJobInfo, TypedParams

TYPE_CHECKING = False  # typing is not imported at run time (start-up speed)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["COMMANDS", "print_job_progress", "watch_job"]

_JOB_TYPES = ("None", "Bounded", "Unbounded", "Completed", "Failed", "Cancelled")
_OPERATIONS = ("Unknown", "Start", "Save", "Restore", "Incoming migration",
               "Outgoing migration", "Snapshot", "Snapshot revert", "Dump", "Backup",
               "Snapshot delete")
_PROGRESS_PERIOD = 0.5  # virshWatchJob polls every 500 ms


def _label(text: str) -> str:
    return f"{text:<17} "


def _capacity(label: str, value: int, suffix: str = "") -> str:
    number, unit = pretty_capacity(value)
    return f"{_label(label)}{number:.3f} {unit}{suffix}\n"


def _as_info(kind: int, p: TypedParams) -> DomainJobInfo:
    """virshDomainJobStatsToDomainJobInfo."""
    def g(key: str) -> int:
        return int(p.get(key, 0))
    return DomainJobInfo(
        type=kind, time_elapsed=g("time_elapsed"), time_remaining=g("time_remaining"),
        data_total=g("data_total"), data_processed=g("data_processed"),
        data_remaining=g("data_remaining"), mem_total=g("memory_total"),
        mem_processed=g("memory_processed"), mem_remaining=g("memory_remaining"),
        file_total=g("disk_total"), file_processed=g("disk_processed"),
        file_remaining=g("disk_remaining"))


def _name(names: tuple[str, ...], value: int) -> str:
    return names[value] if 0 <= value < len(names) else "unknown"


def format_job_info(info: DomainJobInfo, p: TypedParams, flags: int, anystats: bool) -> str:
    """cmdDomjobinfo's report (everything after the raw-stats branch)."""
    out = [f"{_label('Job type:')}{_name(_JOB_TYPES, info.type):<12}\n"]
    if info.type == DomainJobType.NONE:
        return "".join(out)
    op = int(p.get("operation", DomainJobOperation.UNKNOWN))
    out.append(f"{_label('Operation:')}{_name(_OPERATIONS, op):<12}\n")
    if not anystats and info.type not in (DomainJobType.BOUNDED, DomainJobType.UNBOUNDED) \
            and not (flags & DomainGetJobStatsFlags.COMPLETED
                     and info.type == DomainJobType.COMPLETED):
        return "".join(out)

    def count(label: str, key: str, suffix: str = "", width: int = 12) -> None:
        if key in p:
            out.append(f"{_label(label)}{int(p[key]):<{width}}{suffix}\n")

    out.append(f"{_label('Time elapsed:')}{info.time_elapsed:<12} ms\n")
    count("Time elapsed w/o network:", "time_elapsed_net", " ms")
    if info.type == DomainJobType.BOUNDED:
        out.append(f"{_label('Time remaining:')}{info.time_remaining:<12} ms\n")
    if info.data_total or info.data_remaining or info.data_processed:
        out.append(_capacity("Data processed:", info.data_processed))
        out.append(_capacity("Data remaining:", info.data_remaining))
        out.append(_capacity("Data total:", info.data_total))
    if info.mem_total or info.mem_remaining or info.mem_processed:
        out.append(_capacity("Memory processed:", info.mem_processed))
        out.append(_capacity("Memory remaining:", info.mem_remaining))
        out.append(_capacity("Memory total:", info.mem_total))
        if int(p.get("memory_bps", 0)):
            out.append(_capacity("Memory bandwidth:", int(p["memory_bps"]), "/s"))
        count("Dirty rate:", "memory_dirty_rate", " pages/s")
        count("Page size:", "memory_page_size", " bytes")
        count("Iteration:", "memory_iteration")
        count("Postcopy requests:", "memory_postcopy_requests")
    if info.file_total or info.file_remaining or info.file_processed:
        out.append(_capacity("File processed:", info.file_processed))
        out.append(_capacity("File remaining:", info.file_remaining))
        out.append(_capacity("File total:", info.file_total))
        if int(p.get("disk_bps", 0)):
            out.append(_capacity("File bandwidth:", int(p["disk_bps"]), "/s"))
    count("Constant pages:", "memory_constant")
    count("Normal pages:", "memory_normal")
    if "memory_normal_bytes" in p:
        out.append(_capacity("Normal data:", int(p["memory_normal_bytes"])))
    if "downtime" in p:
        label = "Total downtime:" if info.type == DomainJobType.COMPLETED else "Expected downtime:"
        out.append(f"{_label(label)}{int(p['downtime']):<12} ms\n")
    count("Downtime w/o network:", "downtime_net", " ms")
    count("Setup time:", "setup_time", " ms")
    if "compression_cache" in p:
        out.append(_capacity("Compression cache:", int(p["compression_cache"])))
    if "compression_bytes" in p:
        out.append(_capacity("Compressed data:", int(p["compression_bytes"])))
    count("Compressed pages:", "compression_pages", width=13)
    count("Compression cache misses:", "compression_cache_misses", width=13)
    count("Compression overflows:", "compression_overflow", width=13)
    count("Auto converge throttle:", "auto_converge_throttle", width=13)
    if "disk_temp_used" in p:
        out.append(_capacity("Temporary disk space use:", int(p["disk_temp_used"])))
    if "disk_temp_total" in p:
        out.append(_capacity("Temporary disk space total:", int(p["disk_temp_total"])))
    if "errmsg" in p:
        out.append(f"{_label('Error message:')}{p['errmsg']}\n")
    return "".join(out)


def _raw_value(value: object) -> str:
    """virTypedParameterToString."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


def cmd_domjobinfo(ctl: Ctl, cmd: Cmd) -> bool:
    requires(ctl, cmd, "keep-completed", "completed")
    dom, _ = lookup_domain(ctl, cmd)
    flags = 0
    if cmd.flag("completed"):
        flags |= DomainGetJobStatsFlags.COMPLETED
    if cmd.flag("keep-completed"):
        flags |= DomainGetJobStatsFlags.KEEP_COMPLETED
    try:
        kind, params = dom.job_stats(flags)
    except NoSupportError:
        if flags or cmd.flag("rawstats"):
            ctl.error("Optional flags or --rawstats are not supported by the daemon")
            raise  # virsh then reports the saved error too
        info = dom.job_info()  # older daemons: the plain info
        kind, params = info.type, {}
        ctl.print(format_job_info(info, params, flags, cmd.flag("anystats")))
        return True
    if cmd.flag("rawstats"):
        ctl.print(f"Job type: {kind}\n\n")
        for key, value in params.items():
            ctl.print(f"{key}: {_raw_value(value)}\n")
        return True
    ctl.print(format_job_info(_as_info(kind, params), params, flags, cmd.flag("anystats")))
    return True


def cmd_domjobabort(ctl: Ctl, cmd: Cmd) -> bool:
    dom, _ = lookup_domain(ctl, cmd)
    if cmd.flag("postcopy"):
        dom.abort_job(DomainAbortJobFlags.POSTCOPY)
    else:
        dom.abort_job()
    return True


def print_job_progress(ctl: Ctl, label: str, remaining: int, total: int) -> None:
    """virshPrintJobProgress: "\\rSave: [ 42 %]" on stderr (100 only when done)."""
    progress = 100 if remaining == 0 else min(99, int(100.0 - remaining * 100.0 / total))
    ctl.out.flush()
    ctl.err.write(f"\r{label}: [{progress:3d} %]")
    ctl.err.flush()


def watch_job(ctl: Ctl, dom: Domain, label: str, run: Callable[[], None],
              verbose: bool) -> None:
    """virshWatchJob: ``run`` on a worker thread; with ``verbose`` its progress every
    500 ms from virDomainGetJobInfo, and [100 %] when it succeeded. Ctrl-C aborts the
    job (virDomainAbortJob). ``run``'s error is raised here."""
    done = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            run()
        except BaseException as exc:  # handed to the caller
            failure.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=work, name=f"virtkit-{label.lower()}", daemon=True)
    worker.start()
    while not done.is_set():
        try:
            if done.wait(_PROGRESS_PERIOD) or not verbose:
                continue
            try:
                info = dom.job_info()
            except VirtError:
                continue  # virsh resets the error and polls again
            if info.data_total > 0 and not done.is_set():
                print_job_progress(ctl, label, info.data_remaining, info.data_total)
        except KeyboardInterrupt:
            with contextlib.suppress(VirtError):
                dom.abort_job()
    worker.join()
    if failure:
        raise failure[0]
    if verbose:
        print_job_progress(ctl, label, 0, 1)


def _specs() -> dict[str, Any]:
    return next(cmds for _, _, module, cmds in GROUPS if module == "domjob")


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    _specs(), {"domjobinfo": cmd_domjobinfo, "domjobabort": cmd_domjobabort})
