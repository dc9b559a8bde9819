"""What the host's QEMU can do: version, machine types, device models, KVM, firmware.

``probe(binary)`` runs the binary three times (``--version``, ``-machine help``,
``-device help``) and caches the answer per binary path, keyed on the file's
size and modification time, so a QEMU upgrade is noticed. The parsers are pure
functions of QEMU's help text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

# Where distributions install the x86_64 system emulator, in the order we try them.
EMULATOR_CANDIDATES = (
    "/usr/bin/qemu-system-x86_64",
    "/usr/local/bin/qemu-system-x86_64",
    "/usr/libexec/qemu-kvm",
)
# (code, vars template) pairs of UEFI firmware without Secure Boot enforcement.
OVMF_CANDIDATES = (
    ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
    ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
    ("/usr/share/edk2/x64/OVMF_CODE.fd", "/usr/share/edk2/x64/OVMF_VARS.fd"),
)
KVM_DEVICE = "/dev/kvm"
PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class QemuCaps:
    """Capabilities of one QEMU binary."""

    binary: str
    version: tuple[int, int, int]
    # Every machine name and alias -> the canonical (versioned) machine name.
    machines: dict[str, str]
    default_machine: str | None
    devices: frozenset[str]

    def canonical_machine(self, name: str) -> str | None:
        """The versioned machine type ``name`` stands for (``q35`` -> ``pc-q35-7.2``), or None."""
        return self.machines.get(name)

    def has_device(self, driver: str) -> bool:
        """Whether ``-device driver`` exists in this binary."""
        return driver in self.devices


_VERSION_RE = re.compile(r"QEMU emulator version (\d+)\.(\d+)(?:\.(\d+))?")
_ALIAS_RE = re.compile(r"\(alias of ([^)]+)\)")
_DEVICE_RE = re.compile(r'^name "([^"]+)"(?:.*?, alias "([^"]+)")?')


def parse_version(text: str) -> tuple[int, int, int]:
    """``QEMU emulator version 7.2.22 (...)`` -> ``(7, 2, 22)``; ``(0, 0, 0)`` if unreadable."""
    m = _VERSION_RE.search(text)
    if m is None:
        return (0, 0, 0)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def parse_machine_help(text: str) -> tuple[dict[str, str], str | None]:
    """Parse ``-machine help``: (name or alias -> canonical name, default machine)."""
    machines: dict[str, str] = {}
    default: str | None = None
    for line in text.splitlines():
        if not line or line.startswith("Supported machines") or line[0].isspace():
            continue
        name, _, rest = line.partition(" ")
        if not name:
            continue
        alias = _ALIAS_RE.search(rest)
        target = alias.group(1) if alias else name
        machines[name] = target
        machines.setdefault(target, target)
        if "(default)" in rest:
            default = target
    return machines, default


def parse_device_help(text: str) -> frozenset[str]:
    """Parse ``-device help``: every device name and alias."""
    names: set[str] = set()
    for line in text.splitlines():
        m = _DEVICE_RE.match(line.strip())
        if m:
            names.add(m.group(1))
            if m.group(2):
                names.add(m.group(2))
    return frozenset(names)


def _run(binary: str, *args: str) -> str:
    proc = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False,
        stdin=subprocess.DEVNULL,
    )
    return proc.stdout


_cache: dict[str, tuple[tuple[int, int], QemuCaps]] = {}


def probe(binary: str) -> QemuCaps:
    """The capabilities of ``binary`` (cached until the file changes).

    Raises ``OSError`` when the binary cannot be run.
    """
    st = os.stat(binary)
    key = (st.st_size, st.st_mtime_ns)
    hit = _cache.get(binary)
    if hit is not None and hit[0] == key:
        return hit[1]
    version = parse_version(_run(binary, "--version"))
    machines, default = parse_machine_help(_run(binary, "-machine", "help"))
    devices = parse_device_help(_run(binary, "-device", "help"))
    caps = QemuCaps(binary, version, machines, default, devices)
    _cache[binary] = (key, caps)
    return caps


def find_emulator() -> str | None:
    """The default ``qemu-system-x86_64`` of this host, or None."""
    for path in EMULATOR_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("qemu-system-x86_64")


def kvm_available(device: str = KVM_DEVICE) -> bool:
    """Whether ``/dev/kvm`` can be opened read-write by this process."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def find_ovmf() -> tuple[str, str] | None:
    """``(OVMF_CODE, OVMF_VARS template)`` of the installed UEFI firmware, or None."""
    for code, varstore in OVMF_CANDIDATES:
        if os.path.isfile(code) and os.path.isfile(varstore):
            return code, varstore
    return None


__all__ = [
    "QemuCaps",
    "find_emulator",
    "find_ovmf",
    "kvm_available",
    "parse_device_help",
    "parse_machine_help",
    "parse_version",
    "probe",
]
