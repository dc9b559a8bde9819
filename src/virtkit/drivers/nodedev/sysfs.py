"""The host's devices as libudev sees them: sysfs directories with their ``uevent``
properties, merged with udevd's database (``/run/udev/data``) when udevd runs.

libvirt's udev backend enumerates through libudev; libudev reads exactly these files,
so reading them here gives the same devices, properties and attributes without udevd.
``HostPaths`` names the roots, so tests run the same code on a sysfs tree they build.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["HostPaths", "SysDevice", "enumerate_devices"]

# libvirt's subsystem_ignored (node_device_udev.c): never node devices
IGNORED_SUBSYSTEMS = frozenset({"acpi", "tty", "vc", "i2c"})


@dataclass(frozen=True)
class HostPaths:
    """Where the host's device information lives (the real host by default)."""

    sysfs: str = "/sys"
    dev: str = "/dev"
    udev_db: str = "/run/udev/data"
    pci_ids: tuple[str, ...] = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids")
    privileged: bool = field(default_factory=lambda: os.geteuid() == 0)

    def sys(self, *parts: str) -> str:
        """A path under the sysfs root."""
        return os.path.join(self.sysfs, *parts)


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            data = f.read(65536)
    except OSError:
        return None
    return data.decode("utf-8", "replace")


class SysDevice:
    """One sysfs device (libudev's ``udev_device``)."""

    def __init__(self, paths: HostPaths, syspath: str) -> None:
        self.paths = paths
        self.syspath = syspath
        self.sysname = os.path.basename(syspath).replace("!", "/")
        self.props: dict[str, str] = {}
        self.devlinks: list[str] = []
        self._load()

    def _load(self) -> None:
        text = _read(os.path.join(self.syspath, "uevent")) or ""
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                self.props[key] = value
        sub = self.subsystem
        if sub:
            self.props["SUBSYSTEM"] = sub
        if "DEVNAME" in self.props and not self.props["DEVNAME"].startswith("/"):
            self.props["DEVNAME"] = os.path.join(self.paths.dev, self.props["DEVNAME"])
        self._load_db()

    def _db_name(self) -> str | None:
        """udevd's database file of this device (sd-device's ``device_get_device_id``)."""
        major, minor = self.props.get("MAJOR"), self.props.get("MINOR")
        if major and minor and major != "0":
            kind = "b" if self.subsystem == "block" else "c"
            return f"{kind}{major}:{minor}"
        if self.props.get("IFINDEX"):
            return f"n{self.props['IFINDEX']}"
        if self.subsystem:
            return f"+{self.subsystem}:{os.path.basename(self.syspath)}"
        return None

    def _load_db(self) -> None:
        name = self._db_name()
        if name is None:
            return
        text = _read(os.path.join(self.paths.udev_db, name))
        if text is None:
            return
        for line in text.splitlines():
            tag, _, rest = line.partition(":")
            if tag == "E":
                key, sep, value = rest.partition("=")
                if sep:
                    self.props.setdefault(key, value)
            elif tag == "S":
                self.devlinks.append(os.path.join(self.paths.dev, rest))

    @property
    def subsystem(self) -> str | None:
        try:
            return os.path.basename(os.readlink(os.path.join(self.syspath, "subsystem")))
        except OSError:
            return None

    @property
    def devtype(self) -> str | None:
        return self.props.get("DEVTYPE")

    @property
    def devnode(self) -> str | None:
        return self.props.get("DEVNAME")

    @property
    def driver(self) -> str | None:
        return self.props.get("DRIVER")

    def attr(self, name: str) -> str | None:
        """A sysfs attribute with trailing whitespace removed (None when unreadable)."""
        path = os.path.join(self.syspath, name)
        if os.path.isdir(path):
            return None
        value = _read(path)
        return None if value is None else value.rstrip("\n").rstrip()

    def link(self, name: str) -> str | None:
        """The target of a symlink in the device directory, resolved."""
        path = os.path.join(self.syspath, name)
        return os.path.realpath(path) if os.path.islink(path) else None

    def parent(self) -> SysDevice | None:
        """The nearest ancestor directory that is a device (libudev's parent)."""
        top = os.path.join(os.path.realpath(self.paths.sysfs), "devices")
        path = os.path.dirname(self.syspath)
        while path.startswith(top + "/"):
            if os.path.exists(os.path.join(path, "uevent")):
                return SysDevice(self.paths, path)
            path = os.path.dirname(path)
        return None


def _sort_key(syspath: str) -> tuple[int, str]:
    # sd-device's enumerator sorts by path and delays sound cards, md and dm devices
    late = "/sound/card" in syspath or "/block/md" in syspath or "/block/dm-" in syspath
    return (1 if late else 0, syspath)


def device_at(paths: HostPaths, syspath: str) -> SysDevice | None:
    """The device at a sysfs path, or None when it is not one."""
    real = os.path.realpath(syspath)
    if not os.path.isfile(os.path.join(real, "uevent")):
        return None
    return SysDevice(paths, real)


def enumerate_devices(paths: HostPaths) -> list[SysDevice]:
    """Every device in bus and class directories, ignored subsystems left out, parents
    before children (libudev's ``udev_enumerate_scan_devices`` order)."""
    found: set[str] = set()
    roots: list[str] = []
    bus = paths.sys("bus")
    for name in _listdir(bus):
        roots.append(os.path.join(bus, name, "devices"))
    klass = paths.sys("class")
    for name in _listdir(klass):
        roots.append(os.path.join(klass, name))
    for root in roots:
        for entry in _listdir(root):
            real = os.path.realpath(os.path.join(root, entry))
            if os.path.isfile(os.path.join(real, "uevent")):
                found.add(real)
    out = []
    for syspath in sorted(found, key=_sort_key):
        dev = SysDevice(paths, syspath)
        if dev.subsystem not in IGNORED_SUBSYSTEMS:
            out.append(dev)
    return out


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []
