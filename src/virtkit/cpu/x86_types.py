"""The shapes of the x86 CPU map's facts (``x86_map``) and of CPUID data."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CPUID", "MSR", "Feature", "Item", "Key", "Model"]

CPUID = 0  # an item read with the cpuid instruction (leaf, sub-leaf)
MSR = 1  # an item read from a model-specific register (index, unused)

# (kind, leaf or MSR index, sub-leaf, eax, ebx, ecx, edx): the bits an item sets
Item = tuple[int, int, int, int, int, int, int]
# (kind, leaf or MSR index, sub-leaf): which register set an item belongs to
Key = tuple[int, int, int]


class Feature(NamedTuple):
    """A CPU feature by libvirt's name: the CPUID/MSR bits that mean it."""

    name: str
    items: tuple[Item, ...]
    migratable: bool
    aliases: tuple[str, ...]


class Model(NamedTuple):
    """A named CPU model of the map."""

    name: str
    vendor: str | None
    decode_host: bool  # may name a host CPU
    decode_guest: bool  # may name a guest CPU
    signatures: tuple[tuple[int, int, tuple[int, ...]], ...]  # family, model, steppings
    features: tuple[str, ...]
    removed: tuple[str, ...]  # features QEMU dropped from the model later
