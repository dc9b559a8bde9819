"""Helpers for the QEMU process/monitor tests: a paused, guest-less QEMU under TCG."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator

import pytest

from virtkit.drivers.qemu.monitor import EventCallback, Monitor
from virtkit.drivers.qemu.process import QemuProcess, proc_start_time
from virtkit.errors import VirtError

QEMU = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"


def qemu_argv(sock: str, pid_file: str | None = None, *extra: str) -> list[str]:
    """A QEMU that needs no guest image: paused (-S), no devices, TCG (never /dev/kvm)."""
    argv = [QEMU, "-machine", "q35,accel=tcg", "-m", "64", "-nodefaults", "-no-user-config",
            "-display", "none", "-S", "-qmp", f"unix:{sock},server=on,wait=off"]
    if pid_file:
        argv += ["-pidfile", pid_file]
    return argv + list(extra)


class QemuEnv:
    """A short private directory (unix socket paths are limited to 108 bytes)
    and every QEMU started through it, killed at teardown."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="vkq-", dir="/tmp")
        self.procs: list[QemuProcess] = []
        self.monitors: list[Monitor] = []
        # (pid, start time) of QEMUs started by other means (attach tests)
        self.foreign: list[tuple[int, int]] = []
        self._n = 0

    def paths(self) -> tuple[str, str, str]:
        self._n += 1
        base = os.path.join(self.dir, f"q{self._n}")
        return base + ".sock", base + ".pid", base + ".log"

    def spawn(self, *extra: str) -> tuple[QemuProcess, str]:
        sock, pid_file, log_file = self.paths()
        proc = QemuProcess.spawn(qemu_argv(sock, pid_file, *extra), log_file=log_file,
                                 pid_file=pid_file)
        self.procs.append(proc)
        return proc, sock

    def start(self, *, on_event: EventCallback | None = None,
              on_disconnect: object = None, name: str = "vm") -> tuple[QemuProcess, Monitor]:
        """Spawn and connect, the way the driver does it."""
        proc, sock = self.spawn()
        try:
            mon = Monitor.connect(sock, on_event=on_event, vm_name=name,
                                  on_disconnect=on_disconnect,  # type: ignore[arg-type]
                                  abort_if=lambda: not proc.alive())
        except VirtError:
            if not proc.alive():
                raise proc.startup_error("process exited while connecting to monitor") from None
            raise
        self.monitors.append(mon)
        return proc, mon

    def cleanup(self) -> None:
        for mon in self.monitors:
            mon.close()
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait(5)
        for pid, start in self.foreign:
            # Through a pidfd, and only if the pid still names the same process.
            with contextlib.suppress(OSError):
                fd = os.pidfd_open(pid)
                try:
                    if proc_start_time(pid) == start:
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
                finally:
                    os.close(fd)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def qemu_env() -> Iterator[QemuEnv]:
    env = QemuEnv()
    try:
        yield env
    finally:
        env.cleanup()
