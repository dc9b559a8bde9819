"""Graphics connections handed over as file descriptors (virDomainOpenGraphics[FD]).

A client that shares the host (virt-manager on a local connection) gets its VNC
or SPICE connection as a descriptor instead of a TCP port: QEMU takes one end
of a socket pair with QMP ``getfd`` (the descriptor passed with ``SCM_RIGHTS``
on the monitor socket) and ``add_client``, as libvirt's qemuDomainOpenGraphics
and qemuDomainOpenGraphicsFD do.  ``VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH`` lets that
client skip the display's password.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from virtkit.constants import DomainOpenGraphicsFlags
from virtkit.drivers.qemu.node import QemuDomain
from virtkit.errors import ErrorCode, ErrorDomain, invalid_flags, make_error

__all__ = ["FD_NAME", "open_graphics", "open_graphics_fd"]

FD_NAME = "graphicsfd"
"""The name QEMU files the descriptor under (libvirt's)."""

_Q = ErrorDomain.QEMU
_FLAGS = int(DomainOpenGraphicsFlags.SKIPAUTH)
_PROTOCOLS = {"vnc": "vnc", "spice": "spice", "dbus": "@dbus-display"}
_MONITOR_TIMEOUT = 30.0


def _protocol(d: QemuDomain, idx: int) -> str:
    """The ``add_client`` protocol of the running domain's graphics ``idx``."""
    if not d.active or d.mon is None or d.live is None:
        raise make_error(ErrorCode.OPERATION_INVALID, _Q, "domain is not running")
    graphics = d.live.devices.graphics if d.live.devices is not None else []
    if idx >= len(graphics):
        raise make_error(ErrorCode.INTERNAL_ERROR, _Q, f"No graphics backend with index {idx}")
    kind = graphics[idx].type or ""
    protocol = _PROTOCOLS.get(kind)
    if protocol is None:
        raise make_error(ErrorCode.CONFIG_UNSUPPORTED, _Q,
                         f"Can only open VNC, SPICE or D-Bus p2p graphics backends, not {kind}")
    return protocol


def _send_fd(mon: Any, fd: int, name: str) -> None:
    """QMP ``getfd``: ``fd`` travels with a byte on the monitor socket just before it."""
    mon.execute("getfd", {"fdname": name}, timeout=_MONITOR_TIMEOUT, fd=fd)


def _add_client(d: QemuDomain, protocol: str, fd: int, flags: int) -> None:
    """qemuMonitorOpenGraphics: pass ``fd`` and attach it to the display."""
    mon = d.mon
    _send_fd(mon, fd, FD_NAME)
    try:
        mon.execute("add_client", {"protocol": protocol, "fdname": FD_NAME,
                                   "skipauth": bool(flags & DomainOpenGraphicsFlags.SKIPAUTH)})
    except Exception:
        with contextlib.suppress(Exception):
            mon.execute("closefd", {"fdname": FD_NAME})
        raise


def open_graphics(d: QemuDomain, idx: int, fd: int, flags: int) -> None:
    """virDomainOpenGraphics: connect the client's socket ``fd`` (the caller keeps it)."""
    if flags & ~_FLAGS:
        raise invalid_flags(flags & ~_FLAGS, "qemuDomainOpenGraphics", _Q)
    with d.job:
        _add_client(d, _protocol(d, idx), fd, flags)


def open_graphics_fd(d: QemuDomain, idx: int, flags: int) -> int:
    """virDomainOpenGraphicsFD: a new socket connected to the display (the caller's)."""
    if flags & ~_FLAGS:
        raise invalid_flags(flags & ~_FLAGS, "qemuDomainOpenGraphicsFD", _Q)
    protocol = _protocol(d, idx)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with d.job:
            _protocol(d, idx)  # still running under the job
            _add_client(d, protocol, theirs.fileno(), flags)
        return ours.detach()
    finally:
        ours.close()  # a no-op once detached
        theirs.close()
