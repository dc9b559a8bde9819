"""``console`` and ``screenshot``: the domain commands that move data over a stream."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import threading
import time
import tty
from typing import TYPE_CHECKING

from virtkit.cli.common import lookup_domain

if TYPE_CHECKING:
    from virtkit.cli.framework import Cmd, Ctl
    from virtkit.streams import DataStream

__all__ = ["cmd_console", "cmd_screenshot"]

_ESCAPE = b"\x1d"  # Ctrl+], as virsh


def cmd_console(ctl: Ctl, cmd: Cmd) -> bool:
    """virsh console: the guest's serial console on this terminal until Ctrl+]."""
    dom, name = lookup_domain(ctl, cmd)
    flags = (1 if cmd.flag("force") else 0) | (2 if cmd.flag("safe") else 0)
    with ctl.failing("internal error: cannot open console"):
        stream = dom.open_console(ctl.opt_string(cmd, "devname"), flags)
    ctl.print(f"Connected to domain '{name}'\nEscape character is ^] (Ctrl + ])\n")
    sys.stdout.flush()
    _pump(stream)
    ctl.print("\n")
    return True


def _pump(stream: DataStream) -> None:
    """Guest output to stdout, stdin to the guest; raw terminal mode when stdin is a tty."""
    done = threading.Event()

    def from_guest() -> None:
        out = sys.stdout.buffer
        while not done.is_set():
            try:
                data = stream.recv()
            except Exception:  # the stream ended with an error: the console is gone
                break
            if not data:
                break
            out.write(data)
            out.flush()
        done.set()

    reader = threading.Thread(target=from_guest, daemon=True)
    reader.start()
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    try:
        if saved is not None:
            tty.setraw(fd)
        while not done.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            data = os.read(fd, 1024)
            if not data or _ESCAPE in data:
                break
            stream.send(data.replace(b"\n", b"\r") if saved is None else data)
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        done.set()
        with contextlib.suppress(Exception):  # already closed by the other side
            stream.abort()
        reader.join(2)


def cmd_screenshot(ctl: Ctl, cmd: Cmd) -> bool:
    """virsh screenshot: save the screen to --file (default NAME-DATE.EXT)."""
    from virtkit.streams import recv_all

    dom, name = lookup_domain(ctl, cmd)
    screen = ctl.opt_int(cmd, "screen", lo=0, hi=2**32 - 1) or 0
    with ctl.failing(f"could not take a screenshot of {name}"):
        mime, stream = dom.screenshot(screen, 0)
        data = recv_all(stream)
    path = ctl.opt_string(cmd, "file")
    if path is None:
        ext = {"image/png": ".png", "image/x-portable-pixmap": ".ppm"}.get(mime or "", "")
        path = f"{name}-{time.strftime('%Y-%m-%d-%H:%M:%S')}{ext}"
    with open(path, "wb") as f:
        f.write(data)
    ctl.print(f"Screenshot saved to {path}, with type of {mime}\n")
    return True
