"""Facts from libvirt 9.0's x86 CPU map (``/usr/share/libvirt/cpu_map``) that domain
capabilities need: which QEMU CPU models libvirt knows, and their vendor.

libvirt lists only the QEMU models its map knows, with the map's vendor
(``unknown`` when the model names none). Generated from libvirt 9.0's map.
"""

from __future__ import annotations

__all__ = ["X86_MODEL_VENDORS"]

_INTEL = "Intel"
_AMD = "AMD"

# model name -> vendor (None: the map names no vendor)
X86_MODEL_VENDORS: dict[str, str | None] = {
    "486": None, "pentium": None, "pentium2": None, "pentium3": None, "pentiumpro": None,
    "qemu32": None, "qemu64": None, "kvm32": None, "kvm64": None,
    "cpu64-rhel5": None, "cpu64-rhel6": None,
    "coreduo": _INTEL, "core2duo": _INTEL, "n270": _INTEL, "Conroe": _INTEL, "Penryn": _INTEL,
    "Nehalem": _INTEL, "Nehalem-IBRS": _INTEL, "Westmere": _INTEL, "Westmere-IBRS": _INTEL,
    "SandyBridge": _INTEL, "SandyBridge-IBRS": _INTEL,
    "IvyBridge": _INTEL, "IvyBridge-IBRS": _INTEL,
    "Haswell": _INTEL, "Haswell-IBRS": _INTEL, "Haswell-noTSX": _INTEL,
    "Haswell-noTSX-IBRS": _INTEL,
    "Broadwell": _INTEL, "Broadwell-IBRS": _INTEL, "Broadwell-noTSX": _INTEL,
    "Broadwell-noTSX-IBRS": _INTEL,
    "Skylake-Client": _INTEL, "Skylake-Client-IBRS": _INTEL,
    "Skylake-Client-noTSX-IBRS": _INTEL,
    "Skylake-Server": _INTEL, "Skylake-Server-IBRS": _INTEL,
    "Skylake-Server-noTSX-IBRS": _INTEL,
    "Cascadelake-Server": _INTEL, "Cascadelake-Server-noTSX": _INTEL,
    "Cooperlake": _INTEL, "Snowridge": _INTEL,
    "Icelake-Client": _INTEL, "Icelake-Client-noTSX": _INTEL,
    "Icelake-Server": _INTEL, "Icelake-Server-noTSX": _INTEL,
    "athlon": _AMD, "phenom": _AMD,
    "Opteron_G1": _AMD, "Opteron_G2": _AMD, "Opteron_G3": _AMD, "Opteron_G4": _AMD,
    "Opteron_G5": _AMD, "EPYC": _AMD, "EPYC-IBPB": _AMD, "EPYC-Rome": _AMD,
    "EPYC-Milan": _AMD, "Dhyana": "Hygon",
}
