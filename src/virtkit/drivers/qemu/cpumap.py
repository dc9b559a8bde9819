"""Facts from libvirt 9.0's x86 CPU map that domain capabilities need: which QEMU CPU
models libvirt knows, and their vendor.

libvirt lists only the QEMU models its map knows, with the map's vendor
(``unknown`` when the model names none). Derived from the generated map
(:mod:`virtkit.cpu.x86_map`, made by ``scripts/gen_cpumap.py``).
"""

from __future__ import annotations

from virtkit.cpu.x86_map import MODELS

__all__ = ["X86_MODEL_VENDORS"]

# model name -> vendor (None: the map names no vendor)
X86_MODEL_VENDORS: dict[str, str | None] = {m.name: m.vendor for m in MODELS}
