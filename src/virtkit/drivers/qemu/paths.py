"""Where the QEMU driver keeps its files: libvirt's layout, privileged or embedded.

``qemu:///system`` (virtkitd) uses libvirt's system directories under the
daemon's root; ``qemu:///embed?root=DIR`` puts everything under DIR with
libvirt's embedded shape (DIR/etc/qemu, DIR/run/qemu, DIR/lib/qemu, DIR/log/qemu).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["QemuPaths"]


@dataclass(frozen=True)
class QemuPaths:
    """The QEMU driver's directories for one root."""

    root: str
    config_dir: str  # persistent definitions: NAME.xml
    status_dir: str  # live status of running domains: NAME.xml
    lib_dir: str  # per-domain runtime directories, save images, nvram
    log_dir: str  # NAME.log: QEMU's output
    cache_dir: str
    embedded: bool

    @classmethod
    def system(cls, root: str = "/") -> QemuPaths:
        """libvirt's privileged layout (/etc/libvirt/qemu, /run/libvirt/qemu ...) under root."""
        def under(path: str) -> str:
            return os.path.join(os.path.abspath(root), path.lstrip("/"))

        return cls(os.path.abspath(root), under("/etc/libvirt/qemu"), under("/run/libvirt/qemu"),
                   under("/var/lib/libvirt/qemu"), under("/var/log/libvirt/qemu"),
                   under("/var/cache/libvirt/qemu"), embedded=False)

    @classmethod
    def embed(cls, root: str) -> QemuPaths:
        """libvirt's embedded layout: everything under ``root``."""
        root = os.path.abspath(root)
        return cls(root, os.path.join(root, "etc", "qemu"), os.path.join(root, "run", "qemu"),
                   os.path.join(root, "lib", "qemu"), os.path.join(root, "log", "qemu"),
                   os.path.join(root, "cache", "qemu"), embedded=True)

    @property
    def autostart_dir(self) -> str:
        return os.path.join(self.config_dir, "autostart")

    @property
    def save_dir(self) -> str:
        """Managed-save images: NAME.save."""
        return os.path.join(self.lib_dir, "save")

    @property
    def nvram_dir(self) -> str:
        return os.path.join(self.lib_dir, "nvram")

    @property
    def snapshot_dir(self) -> str:
        """Snapshot metadata: DOMAIN/SNAPSHOT.xml (libvirt's ``LIBDIR/snapshot``)."""
        return os.path.join(self.lib_dir, "snapshot")

    def config_file(self, name: str) -> str:
        return os.path.join(self.config_dir, f"{name}.xml")

    def status_file(self, name: str) -> str:
        return os.path.join(self.status_dir, f"{name}.xml")

    def log_file(self, name: str) -> str:
        return os.path.join(self.log_dir, f"{name}.log")

    def managed_save_file(self, name: str) -> str:
        return os.path.join(self.save_dir, f"{name}.save")

    def domain_dir(self, dom_id: int, name: str) -> str:
        """Per-run directory for the QMP socket, pid file and other sockets
        (libvirt: ``domain-ID-NAME``, the name cut to 20 characters)."""
        return os.path.join(self.lib_dir, f"domain-{dom_id}-{name[:20]}")

    def ensure(self) -> None:
        """Create the directories (0700 where they hold guest data)."""
        for d in (self.config_dir, self.status_dir, self.lib_dir, self.log_dir, self.cache_dir,
                  self.save_dir, self.nvram_dir, self.snapshot_dir):
            os.makedirs(d, mode=0o700, exist_ok=True)
