"""A guest channel as a two-way stream (virDomainOpenChannel).

libvirt's qemuDomainOpenChannel finds the running domain's ``<channel>`` by
alias or by virtio target name (e.g. ``org.qemu.guest_agent.0``), the first
one without a name, and connects the stream to the unix socket QEMU listens
on for it.  One stream per channel at a time: another open fails unless it
forces (``VIR_DOMAIN_CHANNEL_FORCE``), which cuts the earlier stream off.
"""

from __future__ import annotations

import os
import socket
import threading
import weakref

from virtkit.constants import DomainChannelFlags
from virtkit.drivers.qemu.console import PtyStream
from virtkit.drivers.qemu.node import QemuDomain
from virtkit.errors import ErrorCode, ErrorDomain, invalid_flags, make_error

__all__ = ["ChannelStream", "open_channel"]

_Q = ErrorDomain.QEMU
_FLAGS = int(DomainChannelFlags.FORCE)

_lock = threading.Lock()
_open: weakref.WeakKeyDictionary[QemuDomain, dict[str, ChannelStream]] = (
    weakref.WeakKeyDictionary())


class ChannelStream(PtyStream):
    """:class:`PtyStream`'s pumping over a connected unix socket instead of a pty."""

    def __init__(self, path: str) -> None:  # the pty is replaced by the socket, not opened
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise make_error(ErrorCode.SYSTEM_ERROR, _Q,
                             f"Unable to open channel device '{path}': "
                             f"{exc.strerror or exc}") from None
        sock.setblocking(False)
        self._fd = sock.detach()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._reading = False
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed or self._stop.is_set()


def _find(d: QemuDomain, name: str | None) -> tuple[str, str]:
    """(key, socket path) of the channel ``name`` (None: the first channel)."""
    devices = d.live.devices if d.live is not None else None
    channels = devices.channels if devices is not None else []
    chosen = None
    if name is None:
        chosen = channels[0] if channels else None
    else:
        for ch in channels:
            alias = ch.alias.name if ch.alias is not None else None
            target = ch.target
            if alias == name or (target is not None and target.type == "virtio"
                                 and target.name == name):
                chosen = ch
                break
    if chosen is None:
        raise make_error(ErrorCode.INTERNAL_ERROR, _Q,
                         f"cannot find channel {name if name is not None else '<null>'}")
    alias = chosen.alias.name if chosen.alias is not None else None
    path = chosen.source.path if chosen.source is not None else None
    if chosen.type != "unix" or not path:
        shown = name if name is not None else (alias or "<null>")
        raise make_error(ErrorCode.INTERNAL_ERROR, _Q,
                         f"channel {shown} is not using a UNIX socket")
    return alias or path, path


def open_channel(d: QemuDomain, name: str | None, flags: int) -> ChannelStream:
    """qemuDomainOpenChannel for a running domain."""
    if flags & ~_FLAGS:
        raise invalid_flags(flags & ~_FLAGS, "qemuDomainOpenChannel", _Q)
    if not d.active or d.live is None:
        raise make_error(ErrorCode.OPERATION_INVALID, _Q, "domain is not running")
    key, path = _find(d, name)
    with _lock:
        streams = _open.setdefault(d, {})
        old = streams.get(key)
        if old is not None and not old.closed:
            if not flags & DomainChannelFlags.FORCE:
                raise make_error(ErrorCode.OPERATION_FAILED, _Q,
                                 "Active channel stream exists for this domain")
            old.abort()
        stream = ChannelStream(path)
        streams[key] = stream
    return stream
