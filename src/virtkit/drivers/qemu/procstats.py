"""What the host kernel says about a QEMU process and its threads (/proc).

The readers libvirt's virprocess.c and qemu_driver.c use: ``stat`` (user and system
time in clock ticks, as virProcessGetStatInfo), ``schedstat`` (time on a CPU and
time waiting for one, in nanoseconds, as qemuGetSchedstatDelay), ``sched``
(``wait_sum``, only with CONFIG_SCHEDSTATS, as virProcessGetSchedInfo), ``status``
(VmRSS) and ``/proc/net/dev`` (the host side of taps). A file that is missing or
unreadable (the process exited meanwhile) reads as zero, as libvirt ignores it.
"""

from __future__ import annotations

import os
import threading
import weakref

__all__ = ["ProcessCpuClock", "net_dev", "rss_kib", "sched_wait_ns", "schedstat",
           "stat_times", "thread_ids"]

_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _task(pid: int, tid: int | None, name: str) -> str:
    return f"/proc/{pid}/task/{tid}/{name}" if tid else f"/proc/{pid}/{name}"


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def stat_times(pid: int, tid: int | None = None) -> tuple[int, int]:
    """(user, system) CPU time in ns of a process (its exited threads included) or one
    thread, in clock-tick steps (virProcessGetStatInfo)."""
    text = _read(_task(pid, tid, "stat"))
    if text is None:
        return 0, 0
    try:
        fields = text.rsplit(")", 1)[1].split()
        return int(fields[11]) * _TICK_NS, int(fields[12]) * _TICK_NS
    except (IndexError, ValueError):
        return 0, 0


def schedstat(pid: int, tid: int | None = None) -> tuple[int, int]:
    """(time on a CPU, time runnable but waiting) in ns of one thread (the leader when
    ``tid`` is None); zeros without CONFIG_SCHED_INFO."""
    text = _read(_task(pid, tid, "schedstat"))
    try:
        run, delay = (text or "").split()[:2]
        return int(run), int(delay)
    except ValueError:
        return 0, 0


def sched_wait_ns(pid: int, tid: int | None = None) -> int:
    """``se.statistics.wait_sum`` (ms, as a float) in ns: 0 when the kernel does not keep
    it (CONFIG_SCHEDSTATS, kernel.sched_schedstats), as virProcessGetSchedInfo."""
    for line in (_read(_task(pid, tid, "sched")) or "").splitlines():
        if line.startswith(("se.statistics.wait_sum", "se.wait_sum")):
            try:
                return int(float(line.split(":", 1)[1]) * 1_000_000)
            except (IndexError, ValueError):
                return 0
    return 0


def thread_ids(pid: int) -> list[int]:
    """The ids of the process's live threads."""
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def rss_kib(pid: int) -> int | None:
    """VmRSS in KiB, None when the process is gone."""
    for line in (_read(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def net_dev() -> dict[str, list[int]]:
    """/proc/net/dev: interface -> its 16 counters (rx bytes, packets, errs, drop, ...)."""
    out: dict[str, list[int]] = {}
    for line in (_read("/proc/net/dev") or "").splitlines()[2:]:
        name, _, rest = line.partition(":")
        try:
            out[name.strip()] = [int(x) for x in rest.split()]
        except ValueError:
            continue
    return out


class ProcessCpuClock:
    """A process's CPU time in nanoseconds that never goes back.

    libvirt reads cgroup ``cpuacct.usage`` (every thread, exited ones too, in ns). Without
    a cgroup of its own the nearest is the sum of the live threads' ``schedstat``
    (ns, but a thread that exits takes its time along) and ``stat``'s utime+stime
    (exited threads included, in ticks): the larger of the two, and never less than
    what was reported before for the same process."""

    def __init__(self) -> None:
        self._last: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def read(self, proc: object, pid: int) -> int:
        """The CPU time of ``pid``, held by the caller's process object ``proc``."""
        on_cpu = sum(schedstat(pid, tid)[0] for tid in thread_ids(pid))
        user, system = stat_times(pid)
        value = max(on_cpu, user + system)
        with self._lock:
            value = max(value, self._last.get(proc, 0))
            self._last[proc] = value
        return value
