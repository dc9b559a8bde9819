"""Where the network driver keeps its files: libvirt's daemon layout, or an embedded root.

Daemon (virtkitd, under its root): ``etc/libvirt/qemu/networks/NAME.xml`` (+ ``autostart/``),
``run/libvirt/network/NAME.xml`` (live status) and ``NAME.pid`` (dnsmasq),
``var/lib/libvirt/dnsmasq/NAME.conf``, ``.hostsfile``, ``.addnhosts``, ``.leases``.
Embedded root DIR: ``DIR/etc/network``, ``DIR/run/network``, ``DIR/lib/network``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["NetworkPaths"]


@dataclass(frozen=True)
class NetworkPaths:
    """The network driver's directories for one root."""

    root: str
    config_dir: str  # persistent definitions NAME.xml
    status_dir: str  # live status NAME.xml and dnsmasq's NAME.pid
    dnsmasq_dir: str  # NAME.conf, NAME.hostsfile, NAME.addnhosts, NAME.leases
    embedded: bool

    @classmethod
    def system(cls, root: str = "/") -> NetworkPaths:
        """libvirt's privileged layout under ``root``."""
        root = os.path.abspath(root)

        def under(path: str) -> str:
            return os.path.join(root, path.lstrip("/"))

        return cls(root, under("/etc/libvirt/qemu/networks"), under("/run/libvirt/network"),
                   under("/var/lib/libvirt/dnsmasq"), embedded=False)

    @classmethod
    def embed(cls, root: str) -> NetworkPaths:
        """Everything under ``root`` (DIR/etc/network, DIR/run/network, DIR/lib/network)."""
        root = os.path.abspath(root)
        return cls(root, os.path.join(root, "etc", "network"), os.path.join(root, "run", "network"),
                   os.path.join(root, "lib", "network"), embedded=True)

    @property
    def autostart_dir(self) -> str:
        return os.path.join(self.config_dir, "autostart")

    def pid_file(self, name: str) -> str:
        return os.path.join(self.status_dir, f"{name}.pid")

    def dnsmasq_file(self, name: str, suffix: str) -> str:
        """``NAME.conf``, ``NAME.hostsfile``, ``NAME.addnhosts`` or ``NAME.leases``."""
        return os.path.join(self.dnsmasq_dir, f"{name}.{suffix}")

    def ensure(self) -> None:
        """Create the directories. The dnsmasq directory is 0755: dnsmasq drops its
        privileges and must still read the hosts files there when it gets SIGHUP."""
        os.makedirs(self.config_dir, mode=0o755, exist_ok=True)
        os.makedirs(self.status_dir, mode=0o755, exist_ok=True)
        os.makedirs(self.dnsmasq_dir, mode=0o755, exist_ok=True)
