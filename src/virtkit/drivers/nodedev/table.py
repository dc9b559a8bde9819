"""The host's node-device table (libvirt's udev backend state): filled from sysfs at
start, kept current by kernel uevents (``monitor.py``), one per set of host paths and
shared by every connection of this process.

Lock order: ``DeviceTable.lock`` guards only the dict; sysfs is read outside it.
"""

from __future__ import annotations

import logging
import threading

from virtkit.drivers.eventbus import EventBus
from virtkit.drivers.nodedev.model import DeviceDef
from virtkit.drivers.nodedev.probe import probe, system_device
from virtkit.drivers.nodedev.sysfs import HostPaths, device_at, enumerate_devices
from virtkit.types import NodeDeviceIdent

__all__ = ["EVENT_KIND", "DeviceTable", "release", "table_for"]

log = logging.getLogger("virtkit.drivers.nodedev")

EVENT_KIND = "nodedev"
_LIFECYCLE, _UPDATE = 0, 1  # virNodeDeviceEventID
_CREATED, _DELETED = 0, 1  # virNodeDeviceEventLifecycleType


class DeviceTable:
    """Node devices by name, in libvirt's insertion order."""

    def __init__(self, paths: HostPaths) -> None:
        self.paths = paths
        self.lock = threading.Lock()
        self.devices: dict[str, DeviceDef] = {}
        self.events = EventBus()
        self.users = 0
        self.monitor: object | None = None  # a monitor.UeventMonitor while one runs
        self.load()

    def _name_of_path(self, syspath: str) -> str | None:
        with self.lock:
            for d in self.devices.values():
                if d.sysfs_path == syspath:
                    return d.name
        return None

    def load(self) -> None:
        """udevEnumerateDevices plus the computer (nodeStateInitialize)."""
        found: dict[str, DeviceDef] = {}
        computer = system_device(self.paths)
        found[computer.name] = computer
        by_path: dict[str, str] = {}
        for dev in enumerate_devices(self.paths):
            d = probe(dev, self.paths, by_path.get)
            if d is not None and d.sysfs_path is not None:
                found.pop(d.name, None)  # a later device of the same name replaces it
                found[d.name] = d
                by_path[d.sysfs_path] = d.name
        with self.lock:
            self.devices = found

    def get(self, name: str) -> DeviceDef | None:
        with self.lock:
            return self.devices.get(name)

    def snapshot(self) -> list[DeviceDef]:
        with self.lock:
            return list(self.devices.values())

    def refreshed(self, d: DeviceDef) -> DeviceDef:
        """The device read again from sysfs (nodeDeviceGetXMLDesc updates its caps and
        driver); the stored one when it cannot be read now."""
        if d.sysfs_path is None:
            return d
        dev = device_at(self.paths, d.sysfs_path)
        fresh = probe(dev, self.paths, self._name_of_path) if dev is not None else None
        if fresh is None or fresh.name != d.name:
            return d
        fresh.parent, fresh.parent_sysfs_path = d.parent, d.parent_sysfs_path
        return fresh

    # ------------------------------------------------------------ uevents

    def add(self, syspath: str) -> None:
        """udevAddOneDevice for an "add"/"change"/"move" uevent."""
        dev = device_at(self.paths, syspath)
        if dev is None:
            return
        d = probe(dev, self.paths, self._name_of_path)
        if d is None:
            return
        with self.lock:
            old = self.devices.pop(d.name, None)
            self.devices[d.name] = d
            if old is not None and old.sysfs_path is not None:
                self.events.queue(EVENT_KIND, NodeDeviceIdent(d.name), _UPDATE, ())
            else:
                self.events.queue(EVENT_KIND, NodeDeviceIdent(d.name), _LIFECYCLE,
                                  (_CREATED, 0))
        self.events.flush(wait=False)

    def remove(self, syspath: str) -> None:
        """udevRemoveOneDeviceSysPath for a "remove" uevent."""
        with self.lock:
            gone = next((d for d in self.devices.values() if d.sysfs_path == syspath), None)
            if gone is None:
                return
            del self.devices[gone.name]
            self.events.queue(EVENT_KIND, NodeDeviceIdent(gone.name), _LIFECYCLE,
                              (_DELETED, 0))
        self.events.flush(wait=False)


_tables: dict[HostPaths, DeviceTable] = {}
_tables_lock = threading.Lock()


def table_for(paths: HostPaths, monitor: bool = True) -> DeviceTable:
    """The table of ``paths`` (made and loaded on first use), one more user counted;
    ``monitor``: follow the kernel's uevents (only for the real /sys)."""
    with _tables_lock:
        table = _tables.get(paths)
        if table is None:
            table = _tables[paths] = DeviceTable(paths)
        table.users += 1
        if monitor and table.monitor is None and paths.sysfs == "/sys":
            from virtkit.drivers.nodedev.monitor import UeventMonitor

            try:
                table.monitor = UeventMonitor(table)
            except OSError as exc:
                log.warning("cannot follow uevents: %s", exc)
        return table


def release(table: DeviceTable) -> None:
    """One user fewer; the last one stops the monitor and drops the table."""
    with _tables_lock:
        table.users -= 1
        if table.users > 0:
            return
        _tables.pop(table.paths, None)
        mon = table.monitor
        table.monitor = None
    if mon is not None:
        mon.stop()  # type: ignore[attr-defined]
