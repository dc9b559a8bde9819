"""x86 CPU data as libvirt's cpu_x86.c keeps it: CPUID/MSR register sets and bit algebra.

A :data:`Data` maps ``(kind, leaf, sub-leaf)`` to the four registers
``[eax, ebx, ecx, edx]``. Features, models and vendors of the CPU map become Data;
host CPUID becomes Data; everything libvirt decides (decode, compare, baseline)
is subset/subtract/intersect on them. All-zero items count as absent.
"""

from __future__ import annotations

from functools import cache

from virtkit.cpu.x86_map import FEATURES, MODELS, VENDORS
from virtkit.cpu.x86_types import CPUID, Feature, Item, Key, Model

__all__ = [
    "FEATURE_BY_NAME", "MODEL_BY_NAME", "Data", "add", "copy", "feature_data",
    "feature_names", "features_in", "intersect", "is_empty", "is_subset", "model_data",
    "signature", "subtract", "take_vendor", "vendor_data",
]

Data = dict[Key, list[int]]

FEATURE_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
MODEL_BY_NAME: dict[str, Model] = {m.name: m for m in MODELS}
SIGNATURE_MASK = 0x0FFF3FFF  # reserved bits of CPUID leaf 1 EAX masked out


def _from_items(items: tuple[Item, ...]) -> Data:
    data: Data = {}
    for kind, leaf, sub, *regs in items:
        cur = data.setdefault((kind, leaf, sub), [0, 0, 0, 0])
        for i in range(4):
            cur[i] |= regs[i]
    return data


def copy(data: Data) -> Data:
    return {k: list(v) for k, v in data.items()}


def add(data: Data, other: Data) -> None:
    """``data |= other``."""
    for k, regs in other.items():
        cur = data.setdefault(k, [0, 0, 0, 0])
        for i in range(4):
            cur[i] |= regs[i]


def subtract(data: Data, other: Data) -> None:
    """``data &= ~other``."""
    for k, regs in other.items():
        cur = data.get(k)
        if cur is not None:
            for i in range(4):
                cur[i] &= ~regs[i]


def intersect(data: Data, other: Data) -> None:
    """``data &= other`` (items missing from ``other`` become empty)."""
    for k, cur in data.items():
        regs = other.get(k, [0, 0, 0, 0])
        for i in range(4):
            cur[i] &= regs[i]


def is_subset(data: Data, sub: Data) -> bool:
    """Every bit set in ``sub`` is set in ``data``."""
    for k, regs in sub.items():
        if not any(regs):
            continue
        cur = data.get(k)
        if cur is None or any(cur[i] & regs[i] != regs[i] for i in range(4)):
            return False
    return True


def is_empty(data: Data) -> bool:
    return not any(any(regs) for regs in data.values())


@cache
def _feature_data(name: str) -> Data:
    return _from_items(FEATURE_BY_NAME[name].items)


def feature_data(name: str) -> Data:
    """A copy of the bits of the map's feature ``name`` (KeyError when unknown)."""
    return copy(_feature_data(name))


@cache
def _model_data(name: str) -> Data:
    data: Data = {}
    for feat in MODEL_BY_NAME[name].features:
        add(data, _feature_data(feat))
    return data


def model_data(name: str) -> Data:
    """A copy of the bits of every feature of the map's model ``name``."""
    return copy(_model_data(name))


def vendor_data(name: str) -> Data:
    """CPUID leaf 0 as the vendor string ``name`` (a map vendor) sets it."""
    raw = VENDORS[name].encode()
    ebx, edx, ecx = (int.from_bytes(raw[i:i + 4], "little") for i in (0, 4, 8))
    return {(CPUID, 0, 0): [0, ebx, ecx, edx]}


def take_vendor(data: Data) -> str | None:
    """The map vendor whose string ``data`` holds; its bits are cleared from ``data``."""
    for name in VENDORS:
        vdata = vendor_data(name)
        if is_subset(data, vdata):
            subtract(data, vdata)
            return name
    return None


def signature(data: Data) -> int:
    """CPUID leaf 1 EAX with reserved bits masked (0 when absent)."""
    regs = data.get((CPUID, 1, 0))
    return regs[0] & SIGNATURE_MASK if regs else 0


def features_in(data: Data) -> list[str]:
    """The map's features whose bits ``data`` holds, in map order; those bits are cleared
    from ``data`` as each is found (libvirt's x86DataToCPUFeatures)."""
    found = []
    for feat in FEATURES:
        fdata = _feature_data(feat.name)
        if is_subset(data, fdata):
            subtract(data, fdata)
            found.append(feat.name)
    return found


def feature_names(data: Data) -> list[str]:
    """The map's features whose bits ``data`` holds, in map order (x86FeatureNames)."""
    return [f.name for f in FEATURES if is_subset(data, _feature_data(f.name))]
