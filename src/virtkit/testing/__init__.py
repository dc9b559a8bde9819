"""Helpers for tests and benchmarks that need real daemons."""

from __future__ import annotations

import signal
import subprocess
from typing import Any

__all__ = ["terminate"]


def terminate(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    """SIGTERM a child we started (by its pid), SIGKILL it if it will not go; its status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode
