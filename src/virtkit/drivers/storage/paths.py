"""Where the storage driver keeps its files.

Daemon (under its root): ``etc/libvirt/storage/NAME.xml`` (+ ``autostart/``) and
``run/libvirt/storage/NAME.xml`` (live pools). Embedded root DIR: ``DIR/etc/storage``
and ``DIR/run/storage`` (libvirt's storage driver has no embedded mode; this follows
the layout of virtkit's other embedded drivers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["StoragePaths"]


@dataclass(frozen=True)
class StoragePaths:
    """The storage driver's directories for one root."""

    root: str
    config_dir: str  # persistent definitions NAME.xml
    status_dir: str  # live definitions NAME.xml
    embedded: bool

    @classmethod
    def system(cls, root: str = "/") -> StoragePaths:
        """libvirt's privileged layout under ``root``."""
        root = os.path.abspath(root)
        return cls(root, os.path.join(root, "etc", "libvirt", "storage"),
                   os.path.join(root, "run", "libvirt", "storage"), embedded=False)

    @classmethod
    def embed(cls, root: str) -> StoragePaths:
        """Everything under ``root`` (DIR/etc/storage, DIR/run/storage)."""
        root = os.path.abspath(root)
        return cls(root, os.path.join(root, "etc", "storage"),
                   os.path.join(root, "run", "storage"), embedded=True)

    @property
    def autostart_dir(self) -> str:
        return os.path.join(self.config_dir, "autostart")

    def status_file(self, name: str) -> str:
        return os.path.join(self.status_dir, f"{name}.xml")

    def ensure(self) -> None:
        os.makedirs(self.config_dir, mode=0o755, exist_ok=True)
        os.makedirs(self.status_dir, mode=0o755, exist_ok=True)
