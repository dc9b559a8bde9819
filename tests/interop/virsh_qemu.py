"""Shared by the interop tests where Debian's virsh drives real guests through virtkitd:
a daemon under a private root (guests cleaned up after), virsh calls, and `virsh console`
on a pseudo-terminal as a user would type into it."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from virtkit.testing.peers import Daemon, start_virtkitd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drivers" / "qemu"))
import qemu_e2e


def virsh(uri: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                          timeout=timeout)


@contextlib.contextmanager
def qemu_daemon(prefix: str) -> Iterator[tuple[Daemon, Path, str]]:
    """virtkitd with a fresh root; (daemon, root, qemu:///system URI). On the way out every
    running guest is destroyed, the daemon stopped, and no QEMU may be left running."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    d = start_virtkitd(root)
    uri = d.uri("unix", "/system", "qemu")
    try:
        yield d, root, uri
    finally:
        for name in virsh(uri, "list", "--name").stdout.split():
            virsh(uri, "destroy", name)
        d.stop()
        leftovers = qemu_e2e.qemu_pids(str(root))
        for pid in leftovers:
            qemu_e2e.kill_pid(pid)
        shutil.rmtree(root, ignore_errors=True)
        assert not leftovers, f"QEMU left running: {leftovers}"


def console_session(uri: str, name: str, command: bytes, expect: bytes, timeout: float = 30,
                    *, after_command: bool = False) -> bytes:
    """Run ``virsh console`` on a pty, type ``command``, wait for ``expect`` (with
    ``after_command``: only in what follows the echoed command), leave with ^]."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("virsh", ["virsh", "-c", uri, "console", name])

    def seen_enough(seen: bytes) -> bool:
        return expect in (seen.split(command)[-1] if after_command else seen)

    seen = b""
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while not seen_enough(seen) and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
            if not sent and b"Escape character" in seen:
                time.sleep(0.5)
                os.write(fd, b"\r" + command + b"\r")
                sent = True
        os.write(fd, b"\x1d")  # ^] ends virsh console
        end = time.monotonic() + 10
        while time.monotonic() < end:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return seen
