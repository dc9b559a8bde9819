"""Domain memory sizing and tuning: <memory>, <memtune>, <memoryBacking>, <blkiotune>.

libvirt keeps every memory size in KiB and writes ``unit='KiB'``; the
models here scale what the user wrote (any of libvirt's units, see
``virtkit.conf.units``) the same way while parsing, with libvirt's error
messages for values it cannot read.
"""

from __future__ import annotations

from typing import ClassVar, Self

from virtkit.conf.model import XmlModel, attr, child, children, flag, model, text, text_child
from virtkit.conf.units import LLONG_MAX, parse_ull, scale_integer
from virtkit.errors import ErrorCode, ErrorDomain, make_error

# libvirt's bound for a memory size on a 64-bit host (virMemoryMaxValue): LLONG_MAX bytes.
MAX_MEMORY_BYTES = LLONG_MAX


def parse_memory_kib(raw: str, unit: str | None, xpath: str, capped: bool = True) -> int:
    """Scale a memory value to KiB (rounding up) as ``virDomainParseMemory`` does."""
    try:
        value = parse_ull(raw)
    except ValueError:
        raise make_error(
            ErrorCode.XML_ERROR, ErrorDomain.DOMAIN,
            f"Invalid value '{raw}' for element or attribute '{xpath}'",
        ) from None
    limit = MAX_MEMORY_BYTES
    nbytes = scale_integer(value, unit, 1024, limit)
    kib = -(-nbytes // 1024)
    if kib >= -(-limit // 1024):
        raise make_error(ErrorCode.OVERFLOW, ErrorDomain.DOMAIN, "size value too large")
    return kib


@model("memory")
class ScaledMemory(XmlModel):
    """A size element (``<memory unit='MiB'>512</memory>``), normalised to KiB.

    ``value`` is in KiB after parsing; ``unit`` is then always ``'KiB'``.
    """

    XPATH: ClassVar[str] = "./memory[1]"

    slots: str | None = attr()
    dumpCore: str | None = attr()
    unit: str | None = attr()
    value: int | None = text()

    def post_parse(self) -> None:
        raw = self.value
        if isinstance(raw, str):
            if raw == "":  # libvirt reads an empty value as absent
                self.value = None
                return
            self.value = parse_memory_kib(raw, self.unit, self.XPATH)
            self.unit = "KiB"

    @classmethod
    def kib(cls, value: int) -> Self:
        """A size of ``value`` KiB."""
        size = cls()
        size.unit = "KiB"
        size.value = value
        return size


@model("maxMemory")
class MaxMemory(ScaledMemory):
    """``<maxMemory slots='16' unit='KiB'>``: the memory hotplug ceiling."""

    XPATH: ClassVar[str] = "./maxMemory[1]"


@model("currentMemory")
class CurrentMemory(ScaledMemory):
    """``<currentMemory>``: the balloon target."""

    XPATH: ClassVar[str] = "./currentMemory[1]"


@model("hard_limit")
class HardLimit(ScaledMemory):
    XPATH: ClassVar[str] = "./memtune/hard_limit[1]"


@model("soft_limit")
class SoftLimit(ScaledMemory):
    XPATH: ClassVar[str] = "./memtune/soft_limit[1]"


@model("min_guarantee")
class MinGuarantee(ScaledMemory):
    XPATH: ClassVar[str] = "./memtune/min_guarantee[1]"


@model("swap_hard_limit")
class SwapHardLimit(ScaledMemory):
    XPATH: ClassVar[str] = "./memtune/swap_hard_limit[1]"


@model("memtune")
class MemTune(XmlModel):
    """``<memtune>``: cgroup memory limits, in KiB."""

    hard_limit: HardLimit | None = child("hard_limit", HardLimit)
    soft_limit: SoftLimit | None = child("soft_limit", SoftLimit)
    min_guarantee: MinGuarantee | None = child("min_guarantee", MinGuarantee)
    swap_hard_limit: SwapHardLimit | None = child("swap_hard_limit", SwapHardLimit)


@model("page")
class HugePage(XmlModel):
    size: int | str | None = attr()
    unit: str | None = attr()
    nodeset: str | None = attr()

    def post_parse(self) -> None:
        if isinstance(self.size, str):
            self.size = parse_memory_kib(
                self.size, self.unit, "./memoryBacking/hugepages/page/@size"
            )
            self.unit = "KiB"


@model("hugepages")
class HugePages(XmlModel):
    pages: list[HugePage] = children("page", HugePage)


@model("source")
class MemorySource(XmlModel):
    type: str | None = attr()


@model("access")
class MemoryAccess(XmlModel):
    mode: str | None = attr()


@model("allocation")
class MemoryAllocation(XmlModel):
    mode: str | None = attr()
    threads: str | None = attr()


@model("memoryBacking")
class MemoryBacking(XmlModel):
    hugepages: HugePages | None = child("hugepages", HugePages)
    nosharepages: bool = flag("nosharepages")
    locked: bool = flag("locked")
    source: MemorySource | None = child("source", MemorySource)
    access: MemoryAccess | None = child("access", MemoryAccess)
    allocation: MemoryAllocation | None = child("allocation", MemoryAllocation)
    discard: bool = flag("discard")


@model("device")
class BlkioDevice(XmlModel):
    path: str | None = text_child("path")
    weight: str | None = text_child("weight")
    read_iops_sec: str | None = text_child("read_iops_sec")
    write_iops_sec: str | None = text_child("write_iops_sec")
    read_bytes_sec: str | None = text_child("read_bytes_sec")
    write_bytes_sec: str | None = text_child("write_bytes_sec")


@model("blkiotune")
class BlkioTune(XmlModel):
    weight: str | None = text_child("weight")
    devices: list[BlkioDevice] = children("device", BlkioDevice)


__all__ = [
    "BlkioDevice",
    "BlkioTune",
    "CurrentMemory",
    "HardLimit",
    "HugePage",
    "HugePages",
    "MaxMemory",
    "MemTune",
    "MemoryAccess",
    "MemoryAllocation",
    "MemoryBacking",
    "MemorySource",
    "MinGuarantee",
    "ScaledMemory",
    "SoftLimit",
    "SwapHardLimit",
    "parse_memory_kib",
    "scale_integer",
]
