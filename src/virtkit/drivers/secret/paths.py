"""Where the secret driver keeps its files.

Daemon (under its root): definitions ``etc/libvirt/secrets/UUID.xml`` and their values,
encrypted, ``etc/libvirt/secrets/UUID.aes`` (libvirt 9.0 writes ``UUID.base64`` in the
clear); the master key ``var/lib/libvirt/secrets/master-key.bin``. Embedded root DIR
(``secret:///embed?root=DIR``): ``DIR/etc/secrets`` as libvirt, key in ``DIR/lib/secrets``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["SecretPaths"]

_KEY_FILE = "master-key.bin"


@dataclass(frozen=True)
class SecretPaths:
    """The secret driver's directories for one root."""

    root: str
    config_dir: str  # UUID.xml and UUID.aes
    key_dir: str  # the master key, mode 0700
    embedded: bool

    @classmethod
    def system(cls, root: str = "/") -> SecretPaths:
        root = os.path.abspath(root)
        return cls(root, os.path.join(root, "etc", "libvirt", "secrets"),
                   os.path.join(root, "var", "lib", "libvirt", "secrets"), embedded=False)

    @classmethod
    def embed(cls, root: str) -> SecretPaths:
        root = os.path.abspath(root)
        return cls(root, os.path.join(root, "etc", "secrets"),
                   os.path.join(root, "lib", "secrets"), embedded=True)

    @property
    def key_file(self) -> str:
        return os.path.join(self.key_dir, _KEY_FILE)

    def config_file(self, uuid: str) -> str:
        return os.path.join(self.config_dir, f"{uuid}.xml")

    def value_file(self, uuid: str) -> str:
        return os.path.join(self.config_dir, f"{uuid}.aes")

    def ensure(self) -> None:
        os.makedirs(self.config_dir, mode=0o700, exist_ok=True)
