"""QEMU processes: start one, notice its exit, stop it, find it again after a restart.

Every process is watched through a pidfd (``os.pidfd_open``): signals go
through ``signal.pidfd_send_signal``, so a pid that was reused after the
guest exited is never signalled, and one shared thread (``virtkit-qemu-reaper``)
polls all pidfds, reaps our children at once and calls the exit callbacks.
A process found again after a daemon restart (``attach``) is identified by
pid, start time (/proc/PID/stat field 22) and ``argv[0]``; its exit is seen
through the same pidfd, and reaped when it happens to be our child
(the daemon is a child subreaper).
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import logging
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from virtkit.drivers.qemu import procstats
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = [
    "QemuProcess",
    "find_processes",
    "has_options",
    "proc_argv0",
    "proc_cmdline",
    "proc_start_time",
    "read_log_tail",
    "read_pid_file",
    "thread_cpu_time_ns",
]

log = logging.getLogger(__name__)

_DOMAIN = ErrorDomain.QEMU
# libvirt's virProcessKillPainfully: SIGKILL after 10 s of SIGTERM, then up to 30 s more.
KILL_WAIT = 30.0
# libvirt reads at most this much of QEMU's log into a start-up error.
LOG_TAIL_MAX = 1024
_SPAWN_TIMEOUT = 30.0


# -- /proc --------------------------------------------------------------------------


def _stat_fields(path: str) -> list[str] | None:
    """Fields of a /proc stat file after ``comm`` (so index 0 is field 3, ``state``)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    end = data.rfind(b")")
    if end < 0:
        return None
    return data[end + 2:].decode("ascii", "replace").split()


def proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks after boot (/proc/PID/stat field 22)."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    if fields is None or len(fields) < 20:
        return None
    return int(fields[19])


def proc_argv0(pid: int) -> str | None:
    """``argv[0]`` of ``pid`` (None when it is gone or a kernel thread)."""
    argv = proc_cmdline(pid)
    return argv[0] if argv else None


def proc_cmdline(pid: int) -> list[str] | None:
    """The argument vector of ``pid`` (None when it is gone or a kernel thread)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            data = f.read()
    except OSError:
        return None
    if not data:
        return None
    return [a.decode("utf-8", "surrogateescape") for a in data.rstrip(b"\0").split(b"\0")]


def has_options(argv: Sequence[str], options: Mapping[str, str]) -> bool:
    """Whether ``argv`` holds each ``-option value`` pair of ``options`` (``ps``'s view)."""
    pairs = set(itertools.pairwise(argv))
    return all((opt, value) in pairs for opt, value in options.items())


def find_processes(options: Mapping[str, str]) -> list[int]:
    """Pids of the processes whose command line holds every ``-option value`` of ``options``
    (a QEMU by its ``-pidfile`` and ``-uuid``, even before it wrote its pid file)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            argv = proc_cmdline(int(entry))
            if argv is not None and has_options(argv, options):
                found.append(int(entry))
    return sorted(found)


def read_pid_file(path: str) -> int | None:
    """The pid a ``-pidfile`` holds (None when missing, empty or not a number)."""
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def thread_cpu_time_ns(pid: int, tid: int) -> int:
    """CPU time (user + system) of thread ``tid`` of ``pid`` (0 when it is gone)."""
    return sum(procstats.stat_times(pid, tid))


# -- the log ----------------------------------------------------------------------------


_LOG_MESSAGE = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\+\d{4}: \d+: "
    r"(debug|info|warning|error) : ")


def read_log_tail(path: str, pos: int = 0, max_chars: int = LOG_TAIL_MAX) -> str:
    """QEMU's output in ``path`` from ``pos``, as libvirt quotes it in errors.

    Lines that look like libvirt debug messages and "char device redirected
    to" notices are dropped; the last ``max_chars`` characters are kept,
    cut at a line start when possible (qemuProcessReadLog).
    """
    try:
        with open(path, "rb") as f:
            f.seek(pos)
            data = f.read(128 * 1024)
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").split("\n")
    kept = [ln for ln in lines
            if not _LOG_MESSAGE.match(ln) and "char device redirected to" not in ln]
    text = "\n".join(kept)
    if text.endswith("\n"):
        text = text[:-1]
    if max_chars > 0 and len(text) > max_chars:
        skip = len(text) - max_chars
        if text[skip - 1] != "\n":
            eol = text.find("\n", skip)
            if eol >= 0 and text[eol + 1:].strip():
                skip = eol + 1
        text = text[skip:]
    return text


def _log_header(argv: Sequence[str], env: Mapping[str, str] | None,
                qemu_version: str | None) -> str:
    """libvirt's "starting up" line and the command line (one option per line)."""
    from virtkit import __version__

    now = datetime.datetime.now(datetime.UTC)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"
    uts = os.uname()
    qv = f", qemu version: {qemu_version}" if qemu_version else ""
    parts = [f"{stamp}: starting up virtkit version: {__version__}{qv}, "
             f"kernel: {uts.release}, hostname: {socket.gethostname()}\n"]
    for key, value in (env or {}).items():
        parts.append(f"{key}={shlex.quote(value)} \\\n")
    parts.append(shlex.quote(argv[0]))
    for arg in argv[1:]:
        parts.append(" \\\n" if arg.startswith("-") else " ")
        parts.append(shlex.quote(arg))
    parts.append("\n")
    return "".join(parts)


# -- the reaper ------------------------------------------------------------------------


class _Reaper:
    """One thread that polls the pidfds of every watched process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, QemuProcess] = {}  # pidfd -> process
        self._poll = select.poll()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._poll.register(self._wake_r, select.POLLIN)
        self._thread: threading.Thread | None = None

    def watch(self, proc: QemuProcess, pidfd: int) -> None:
        with self._lock:
            self._watched[pidfd] = proc
            self._poll.register(pidfd, select.POLLIN)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="virtkit-qemu-reaper",
                                                daemon=True)
                self._thread.start()
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def _run(self) -> None:
        while True:
            try:
                ready = self._poll.poll()
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            for fd, _events in ready:
                if fd == self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                    continue
                with self._lock:
                    proc = self._watched.pop(fd, None)
                    if proc is None:
                        continue
                    self._poll.unregister(fd)
                try:
                    proc._exited_now()
                except Exception:  # a bug in a callback must not stop the reaper
                    log.exception("exit handling of QEMU process %d failed", proc.pid)


_reaper: _Reaper | None = None
_reaper_lock = threading.Lock()


def _get_reaper() -> _Reaper:
    global _reaper
    with _reaper_lock:
        if _reaper is None:
            _reaper = _Reaper()
        return _reaper


# -- the process -------------------------------------------------------------------------


class QemuProcess:
    """One QEMU process, started here (``spawn``) or found again (``attach``)."""

    pid: int
    start_time: int
    argv0: str
    log_file: str | None
    log_pos: int

    def __init__(self, pid: int, pidfd: int, start_time: int, argv0: str, *,
                 popen: subprocess.Popen[bytes] | None = None,
                 log_file: str | None = None, log_pos: int = 0) -> None:
        self.pid = pid
        self.start_time = start_time
        self.argv0 = argv0
        self.log_file = log_file
        self.log_pos = log_pos
        self._popen = popen
        self._pidfd: int | None = pidfd
        self._lock = threading.Lock()
        self._exited = threading.Event()
        self._status: int | None = None
        self._callbacks: list[Callable[[int | None], None]] = []
        _get_reaper().watch(self, pidfd)

    def __repr__(self) -> str:
        state = "running" if not self._exited.is_set() else f"exited({self._status})"
        return f"<QemuProcess pid={self.pid} {state}>"

    # -- start ------------------------------------------------------------------------

    @classmethod
    def spawn(cls, argv: Sequence[str], *, log_file: str, pid_file: str,
              env: Mapping[str, str] | None = None, cwd: str | None = None,
              qemu_version: str | None = None,
              timeout: float = _SPAWN_TIMEOUT,
              pass_fds: Sequence[int] = ()) -> QemuProcess:
        """Start QEMU detached from us (own session), output appended to ``log_file``.

        The log gets libvirt's "starting up" header and the command line first.
        When ``argv`` has ``-pidfile`` this waits until QEMU has written
        ``pid_file`` (it has parsed its options by then); otherwise the pid
        file is written here. A stale pid file is left in place: QEMU holds a
        lock on it while it runs, so a second QEMU with the same pid file
        refuses to start ("Cannot lock pid file"). ``env`` replaces the environment when given.
        ``pass_fds``: descriptors QEMU inherits under the same numbers (``-add-fd``).
        If QEMU exits first, VirtError "internal error: process exited while
        connecting to monitor: <end of the log>" is raised.
        """
        if not argv:
            raise make_error(ErrorCode.INTERNAL_ERROR, _DOMAIN, "empty QEMU command line")
        try:
            logfd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                            0o600)
        except OSError as exc:
            raise _sys_error(f"failed to create logfile {log_file}", exc) from None
        try:
            os.write(logfd, _log_header(argv, env, qemu_version).encode("utf-8",
                                                                        "surrogateescape"))
            log_pos = os.lseek(logfd, 0, os.SEEK_END)
            try:
                popen = subprocess.Popen(
                    list(argv), stdin=subprocess.DEVNULL, stdout=logfd, stderr=logfd,
                    env=dict(env) if env is not None else None, cwd=cwd,
                    close_fds=True, pass_fds=tuple(pass_fds), start_new_session=True)
            except OSError as exc:
                raise _sys_error(f"Cannot find QEMU binary {argv[0]}"
                                 if isinstance(exc, FileNotFoundError)
                                 else f"cannot execute binary {argv[0]}", exc) from None
        finally:
            os.close(logfd)
        pidfd = os.pidfd_open(popen.pid)
        start_time = proc_start_time(popen.pid) or 0
        proc = cls(popen.pid, pidfd, start_time, argv[0], popen=popen,
                   log_file=log_file, log_pos=log_pos)
        if "-pidfile" in argv:
            proc._wait_pid_file(pid_file, timeout)
        else:
            from virtkit.drivers.persist import write_atomic

            write_atomic(pid_file, f"{popen.pid}\n", 0o644)
        return proc

    def _wait_pid_file(self, pid_file: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            with contextlib.suppress(OSError, ValueError):
                with open(pid_file) as f:
                    text = f.read()
                if text.endswith("\n") and int(text) == self.pid:
                    return
            if self._exited.wait(delay):
                self.wait(5.0)
                raise self.startup_error("process exited while connecting to monitor")
            if time.monotonic() > deadline:
                self.kill()
                raise make_error(ErrorCode.OPERATION_TIMEOUT, _DOMAIN,
                                 f"QEMU did not write its pid file {pid_file} "
                                 f"within {timeout:g} seconds")
            delay = min(delay * 2, 0.005)  # QEMU is up within tens of ms: poll finely

    def startup_error(self, prefix: str) -> VirtError:
        """libvirt's start-up failure: ``internal error: PREFIX: <end of QEMU's log>``.

        ``prefix`` is "process exited while connecting to monitor" when QEMU
        died before the monitor was up, "qemu unexpectedly closed the monitor"
        when it closed the monitor.
        """
        tail = read_log_tail(self.log_file, self.log_pos) if self.log_file else ""
        detail = f"{prefix}: {tail}" if tail.strip() else prefix
        return make_error(ErrorCode.INTERNAL_ERROR, _DOMAIN, detail)

    # -- attach ------------------------------------------------------------------------

    @classmethod
    def attach(cls, pid: int, *, expected_argv0: str | None = None,
               start_time: int | None = None,
               options: Mapping[str, str] | None = None) -> QemuProcess | None:
        """The running process ``pid``, if it is still the one we started.

        None when it is gone, or when its start time, ``argv[0]`` or (given
        ``options``) one of the ``-option value`` pairs of its command line
        differ (the pid was reused): such a process is never signalled.
        """
        if pid <= 0:
            return None
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return None
        # Checked after the pidfd is open: it pins this pid to one process.
        now_start = proc_start_time(pid)
        argv0 = proc_argv0(pid)
        argv = proc_cmdline(pid) if options else None
        stale = (now_start is None or argv0 is None
                 or (start_time is not None and now_start != start_time)
                 or (expected_argv0 is not None and argv0 != expected_argv0)
                 or (options is not None and not has_options(argv or [], options)))
        if stale:
            os.close(pidfd)
            return None
        assert now_start is not None and argv0 is not None
        return cls(pid, pidfd, now_start, argv0)

    # -- state ---------------------------------------------------------------------------

    @property
    def is_child(self) -> bool:
        """Whether we started this process (its exit status is then known)."""
        return self._popen is not None

    @property
    def exit_status(self) -> int | None:
        """Exit status once known: as Popen's (negative: killed by that signal)."""
        return self._status

    def alive(self) -> bool:
        """Whether the process has not exited yet (a zombie counts as exited)."""
        if self._exited.is_set():
            return False
        with self._lock:
            if self._pidfd is None:
                return False
            p = select.poll()
            p.register(self._pidfd, select.POLLIN)
            return not p.poll(0)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit; the exit status of our child, None for others.

        Raises TimeoutError if the process is still running after ``timeout``.
        """
        if not self._exited.wait(timeout):
            raise TimeoutError(f"QEMU process {self.pid} still running after {timeout} s")
        return self._status

    def on_exit(self, callback: Callable[[int | None], None]) -> None:
        """Call ``callback(exit_status)`` once the process has exited.

        It runs on the reaper thread (or right away if the process is gone
        already) and must not block for long.
        """
        with self._lock:
            if not self._exited.is_set():
                self._callbacks.append(callback)
                return
        callback(self._status)

    def _exited_now(self) -> None:
        """The pidfd became readable: reap, record the status, run the callbacks."""
        status = self._popen.wait() if self._popen is not None else self._reap_adopted()
        with self._lock:
            self._status = status
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
            callbacks, self._callbacks = self._callbacks, []
            self._exited.set()
        log.debug("QEMU process %d exited with status %s", self.pid, status)
        for cb in callbacks:
            try:
                cb(status)
            except Exception:
                log.exception("exit callback of QEMU process %d failed", self.pid)

    def _reap_adopted(self) -> int | None:
        # Reparented to us (we are a subreaper ancestor): reap it, keep the status.
        assert self._pidfd is not None
        try:
            res = os.waitid(os.P_PIDFD, self._pidfd, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            return None
        except OSError:
            return None
        if res is None:
            return None
        if res.si_code == os.CLD_EXITED:
            return res.si_status
        return -res.si_status

    # -- signals ---------------------------------------------------------------------------

    def _signal(self, signum: int) -> bool:
        """Send ``signum`` through the pidfd; False if the process is gone."""
        with self._lock:
            if self._pidfd is None:
                return False
            try:
                signal.pidfd_send_signal(self._pidfd, signum)
            except ProcessLookupError:
                return False
            except OSError as exc:
                name = signal.Signals(signum).name
                raise _sys_error(f"Failed to terminate process {self.pid} with {name}",
                                 exc) from None
        return True

    def kill(self) -> None:
        """Send SIGKILL (no wait)."""
        self._signal(signal.SIGKILL)

    def terminate(self, grace: float = 10.0, *, force: bool = True) -> None:
        """Stop the process: SIGTERM, ``grace`` seconds, then SIGKILL, and wait for the exit.

        libvirt's virProcessKillPainfully: SIGKILL after 10 s (``force``), then
        up to 30 s more. Without ``force`` (a graceful destroy) the process
        is left running after ``grace`` and VirtError "Failed to terminate
        process N with SIGTERM: Device or resource busy" raised.
        """
        if not self._signal(signal.SIGTERM) and not self._exited.is_set():
            self._exited.wait(KILL_WAIT)
        if self._exited.wait(grace):
            return
        if not force:
            raise _busy(self.pid, "SIGTERM")
        log.debug("QEMU process %d ignored SIGTERM for %g s: SIGKILL", self.pid, grace)
        self._signal(signal.SIGKILL)
        if not self._exited.wait(KILL_WAIT):
            raise _busy(self.pid, "SIGKILL")

    # -- resources -----------------------------------------------------------------------

    def cpu_time_ns(self) -> int:
        """User + system CPU time of the whole process, in nanoseconds (0 once gone)."""
        return sum(procstats.stat_times(self.pid)) if self.alive() else 0

    def rss_kib(self) -> int:
        """Resident set size (VmRSS) in KiB (0 once gone)."""
        return (procstats.rss_kib(self.pid) or 0) if self.alive() else 0

    def thread_cpu_time_ns(self, tid: int) -> int:
        """CPU time of one of this process's threads (a vCPU thread from query-cpus-fast)."""
        return thread_cpu_time_ns(self.pid, tid)

    def thread_ids(self) -> list[int]:
        """Thread ids of the process (empty once gone)."""
        try:
            return sorted(int(t) for t in os.listdir(f"/proc/{self.pid}/task"))
        except OSError:
            return []


def _sys_error(message: str, exc: OSError) -> VirtError:
    return VirtError(f"{message}: {exc.strerror or exc}", code=ErrorCode.SYSTEM_ERROR,
                     domain=_DOMAIN, int1=exc.errno or 0)


def _busy(pid: int, signame: str) -> VirtError:
    import errno

    return _sys_error(f"Failed to terminate process {pid} with {signame}",
                      OSError(errno.EBUSY, os.strerror(errno.EBUSY)))
