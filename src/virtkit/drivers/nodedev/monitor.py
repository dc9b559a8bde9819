"""Kernel uevents (``AF_NETLINK``/``NETLINK_KOBJECT_UEVENT``) applied to a device table,
as libvirt's udev monitor thread applies udevd's: add, change, move, remove.

While udevd runs, its multicast group is read, as libvirt does: its messages come
after udevd has written the device's database entry (the properties some names use).
Without udevd the kernel's group is read, so hot-plug is still seen (libvirt sees
nothing then)."""

from __future__ import annotations

import logging
import os
import select
import socket
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from virtkit.drivers.nodedev.table import DeviceTable

__all__ = ["UeventMonitor", "parse_uevent"]

log = logging.getLogger("virtkit.drivers.nodedev")

_NETLINK_KOBJECT_UEVENT = 15
_KERNEL_GROUP, _UDEV_GROUP = 1, 2
_UDEV_PREFIX, _UDEV_MAGIC = b"libudev\0", 0xFEEDCAFE
_UDEVD_CONTROL = "/run/udev/control"


def parse_uevent(data: bytes) -> dict[str, str] | None:
    """A kernel uevent ("action@devpath\\0KEY=VALUE\\0...") or a udevd message (libudev's
    header, then the properties); None if neither."""
    if data.startswith(_UDEV_PREFIX):
        if len(data) < 24 or int.from_bytes(data[8:12], "big") != _UDEV_MAGIC:
            return None
        off = int.from_bytes(data[16:20], sys.byteorder)
        length = int.from_bytes(data[20:24], sys.byteorder)
        items = data[off:off + length].split(b"\0")
    else:
        parts = data.split(b"\0")
        if b"@" not in parts[0]:
            return None
        items = parts[1:]
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return out if "ACTION" in out and "DEVPATH" in out else None


class UeventMonitor:
    """A daemon thread reading uevents into ``table`` until ``stop()``."""

    def __init__(self, table: DeviceTable) -> None:
        self.table = table
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_KOBJECT_UEVENT)
        udevd = os.path.exists(_UDEVD_CONTROL)
        self.sock.bind((0, _UDEV_GROUP if udevd else _KERNEL_GROUP))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._stop_r, self._stop_w = os.pipe()
        self.thread = threading.Thread(target=self._run, name="nodedev-uevents", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self.sock.fileno(), self._stop_r], [], [])
                if self._stop_r in ready:
                    return
                try:
                    data = self.sock.recv(1 << 16)
                except OSError:
                    continue
                event = parse_uevent(data)
                if event is not None:
                    try:
                        self.handle(event)
                    except Exception:
                        log.exception("uevent %r not applied", event.get("DEVPATH"))
        finally:
            self.sock.close()
            os.close(self._stop_r)

    def handle(self, event: dict[str, str]) -> None:
        """udevHandleOneDevice."""
        action = event["ACTION"]
        syspath = self.table.paths.sysfs + event["DEVPATH"]
        if action in ("add", "change"):
            self.table.add(syspath)
        elif action == "remove":
            self.table.remove(syspath)
        elif action == "move":
            old = event.get("DEVPATH_OLD")
            if old:
                self.table.remove(self.table.paths.sysfs + old)
            self.table.add(syspath)

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        os.close(self._stop_w)
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=5)
