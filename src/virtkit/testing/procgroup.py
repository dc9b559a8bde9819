"""Processes a test harness starts in sessions of their own: wait until one is ready
(a hang guard) and stop its whole process group. Shared by the Cockpit and virt-manager
harnesses."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["stop_group", "wait_ready"]

LOG_TAIL = 4000  # characters of a process's log quoted in a failure


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group we created for ``proc`` (its own session), then SIGKILL
    what is left of the group (children included)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_ready(cond: Callable[[], object], what: str, timeout: float,
               proc: subprocess.Popen[bytes] | None = None, log: Path | None = None,
               interval: float = 0.05) -> None:
    """Poll ``cond()`` until true (a hang guard, not a timed assertion); ``proc`` exiting
    first, or the time running out, raises RuntimeError with the end of ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}\n{_tail(log)}")
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if cond():
                return
        time.sleep(interval)
    raise RuntimeError(f"{what}: not ready after {timeout} s\n{_tail(log)}")


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-LOG_TAIL:] if log is not None else ""
