"""Helpers for the end-to-end QEMU driver tests: the test guest, domain XML, markers, processes.

Every guest runs under TCG (``type='qemu'``; never /dev/kvm). Each test gets its own short root
under /tmp (QMP socket paths must stay under 108 bytes); at teardown every domain of that root is
destroyed and any QEMU still naming the root on its command line is reported and killed by pid.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import virtkit

REPO = Path(__file__).resolve().parents[3]
BOOT_TIMEOUT = 20.0


def _load_guest_script() -> ModuleType:
    # A unique module name: tests/scripts/test_test_guest.py loads the same file as its own.
    name = "virtkit_test_guest_qemu_e2e"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "test_guest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tg = _load_guest_script()


# --------------------------------------------------------------------------- processes


def qemu_pids(root: str) -> list[int]:
    """Pids of QEMU processes whose command line mentions ``root``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and b"qemu-system" in argv[0] and any(root.encode() in a for a in argv):
            pids.append(int(entry))
    return pids


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_pid(pid: int) -> None:
    """SIGKILL one process we started (through a pidfd so a reused pid is never hit)."""
    with contextlib.suppress(OSError):
        fd = os.pidfd_open(pid)
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        finally:
            os.close(fd)


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return False


# --------------------------------------------------------------------------- XML


def domain_xml(guest: Any, root: Path, name: str, *, machine: str = "q35",
               disk: Path | None = None, disk_format: str = "qcow2", memory_mib: int = 256,
               kernel: str | None = None, extra_devices: str = "", dom_type: str = "qemu",
               uuid: str | None = None) -> str:
    """A TCG domain that boots the test guest, its serial console logged to ROOT/NAME.console."""
    disk_xml = ""
    if disk is not None:
        disk_xml = (f"<disk type='file' device='disk'><driver name='qemu' type='{disk_format}'/>"
                    f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>")
    return f"""<domain type='{dom_type}'>
  <name>{name}</name>
  <uuid>{uuid or uuidlib.uuid4()}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='{machine}'>hvm</type>
    <kernel>{kernel or guest.kernel}</kernel>
    <initrd>{guest.initrd}</initrd>
    <cmdline>{guest.cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    {disk_xml}
    <interface type='user'><model type='virtio'/></interface>
    <serial type='pty'><log file='{console_log(root, name)}'/></serial>
    <console type='pty'/>
    {extra_devices}
  </devices>
</domain>
"""


def console_log(root: Path, name: str) -> Path:
    return root / f"{name}.console"


def wait_marker(path: Path, marker: str, count: int = 1, timeout: float = BOOT_TIMEOUT) -> float:
    """Wait until ``marker`` appears ``count`` times in ``path``; seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with contextlib.suppress(OSError):
            if path.read_text(errors="replace").count(marker) >= count:
                return time.monotonic() - start
        time.sleep(0.05)
    text = path.read_text(errors="replace") if path.exists() else "<no console log>"
    raise AssertionError(f"{marker!r} x{count} not in {path} after {timeout} s:\n{text[-2000:]}")


def wait_until(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def lifecycle(stream: Any, timeout: float = 10.0, until: tuple[int, int] | None = None,
              ) -> list[tuple[int, int]]:
    """(event, detail) pairs from a domain event stream, up to ``until`` (or a quiet period)."""
    got: list[tuple[int, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = stream.get(timeout=0.5 if until is None else max(0.0, deadline - time.monotonic()))
        if ev is None:
            if until is None:
                break
            continue
        pair = (int(ev.payload[0]), int(ev.payload[1]))
        got.append(pair)
        if until is not None and pair == until:
            break
    return got


# --------------------------------------------------------------------------- roots


class QemuRoot:
    """A private root and the cleanup of everything that ran under it."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="vke-", dir="/tmp"))
        self.conns: list[Any] = []

    @property
    def uri(self) -> str:
        return f"qemu:///embed?root={self.path}"

    def open(self) -> Any:
        conn = virtkit.open(self.uri)
        self.conns.append(conn)
        return conn

    def cleanup(self) -> list[int]:
        """Destroy every domain, close connections, kill stragglers; their pids."""
        for conn in self.conns:
            with contextlib.suppress(Exception):
                for dom in conn.list_domains():
                    with contextlib.suppress(Exception):
                        if dom.is_active():
                            dom.destroy()
        for conn in self.conns:
            with contextlib.suppress(Exception):
                conn.close()
        left = qemu_pids(str(self.path))
        for pid in left:
            kill_pid(pid)
            wait_gone(pid, 5)
        shutil.rmtree(self.path, ignore_errors=True)
        return left
