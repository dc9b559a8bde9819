"""QEMU firmware descriptors (``/usr/share/qemu/firmware/*.json``), as libvirt reads them.

Descriptors come from ``/usr/share/qemu/firmware`` then ``/etc/qemu/firmware`` (a
file of the same name in a later directory replaces the earlier one), ordered by
file name. ``supported(machine, arch)`` is libvirt's qemuFirmwareGetSupported:
the executables of the descriptors whose targets match, whether any of them is
UEFI and whether any enforces Secure Boot.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["DESCRIPTOR_DIRS", "FALLBACK_LOADERS", "Firmware", "supported"]

DESCRIPTOR_DIRS = ("/usr/share/qemu/firmware", "/etc/qemu/firmware")
# Debian's libvirt 9.0 built-in loader list (used when no descriptor matches).
FALLBACK_LOADERS = ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_CODE.secboot.fd")


@dataclass(frozen=True)
class Firmware:
    """What the matching descriptors offer for one machine type."""

    executables: tuple[str, ...]
    efi: bool
    bios: bool
    secure: bool


def _descriptors(dirs: tuple[str, ...]) -> list[dict[str, Any]]:
    files: dict[str, str] = {}
    for d in dirs:
        with contextlib.suppress(OSError):
            for name in os.listdir(d):
                if name.endswith(".json"):
                    files[name] = os.path.join(d, name)
    out = []
    for name in sorted(files):
        with contextlib.suppress(OSError, ValueError):
            with open(files[name], encoding="utf-8") as f:
                doc = json.load(f)
            if isinstance(doc, dict):
                out.append(doc)
    return out


def _matches(doc: dict[str, Any], machine: str, arch: str) -> bool:
    for target in doc.get("targets", []):
        if target.get("architecture") == arch and any(
                fnmatch.fnmatchcase(machine, pat) for pat in target.get("machines", [])):
            return True
    return False


def supported(machine: str, arch: str,
              dirs: tuple[str, ...] = DESCRIPTOR_DIRS) -> Firmware:
    """The firmware the descriptors offer for ``machine`` on ``arch``."""
    exes: list[str] = []
    efi = bios = secure = False
    for doc in _descriptors(dirs):
        if not _matches(doc, machine, arch):
            continue
        interfaces = doc.get("interface-types", [])
        efi = efi or "uefi" in interfaces
        bios = bios or "bios" in interfaces
        secure = secure or "secure-boot" in doc.get("features", [])
        mapping = doc.get("mapping", {})
        exe = mapping.get("executable", {}).get("filename") or mapping.get("filename")
        if isinstance(exe, str) and exe not in exes:
            exes.append(exe)
    return Firmware(tuple(exes), efi, bios, secure)
