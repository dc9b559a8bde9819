"""The ``<cpu>`` element: guest CPU (domain XML) and host CPU (capabilities XML).

Order follows libvirt's ``virCPUDefFormatBufFull``: attributes mode, match,
check, migratable; children arch (host), model, vendor, microcode,
signature, counter (host), topology, cache, maxphysaddr, feature*, numa.
"""

from __future__ import annotations

from virtkit.conf.domain_memory import parse_memory_kib
from virtkit.conf.model import XmlModel, attr, child, children, model, text, text_child
from virtkit.errors import ErrorCode, ErrorDomain, make_error


@model("model")
class CpuModel(XmlModel):
    fallback: str | None = attr()
    vendor_id: str | None = attr()
    name: str | None = text()


@model("microcode")
class CpuMicrocode(XmlModel):
    version: str | None = attr()


@model("signature")
class CpuSignature(XmlModel):
    family: str | None = attr()
    model: str | None = attr()
    stepping: str | None = attr()


@model("counter")
class CpuCounter(XmlModel):
    name: str | None = attr()
    frequency: str | None = attr()
    scaling: str | None = attr()


@model("topology")
class CpuTopology(XmlModel):
    sockets: int | None = attr()
    dies: int | None = attr()
    cores: int | None = attr()
    threads: int | None = attr()

    def post_parse(self) -> None:
        # Kept as text while parsing so that a bad number gets libvirt's wording.
        for name in ("sockets", "dies", "cores", "threads"):
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, _topology_number(name, value))


def _topology_number(name: str, value: str) -> int:
    v = value.strip()
    if not v.isdigit():
        raise make_error(
            ErrorCode.XML_ERROR, ErrorDomain.CPU,
            f"Invalid value for attribute '{name}' in element 'topology': '{value}'. "
            "Expected non-negative integer value",
        )
    return int(v)


@model("cache")
class CpuCache(XmlModel):
    level: str | None = attr()
    mode: str | None = attr()


@model("maxphysaddr")
class CpuMaxPhysAddr(XmlModel):
    mode: str | None = attr()
    bits: str | None = attr()


@model("feature")
class CpuFeature(XmlModel):
    policy: str | None = attr()
    name: str | None = attr()


@model("sibling")
class NumaSibling(XmlModel):
    id: str | None = attr()
    value: str | None = attr()


@model("distances")
class NumaDistances(XmlModel):
    siblings: list[NumaSibling] = children("sibling", NumaSibling)


@model("cell")
class NumaCell(XmlModel):
    """A guest NUMA node; ``memory`` is in KiB after parsing."""

    id: str | None = attr()
    cpus: str | None = attr()
    memory: int | None = attr()
    unit: str | None = attr()
    memAccess: str | None = attr()
    discard: str | None = attr()
    distances: NumaDistances | None = child("distances", NumaDistances)

    def post_parse(self) -> None:
        if isinstance(self.memory, str):
            self.memory = parse_memory_kib(self.memory, self.unit, "./@memory")
            self.unit = "KiB"


@model("numa")
class CpuNuma(XmlModel):
    cells: list[NumaCell] = children("cell", NumaCell)


@model("cpu")
class CpuDef(XmlModel):
    """``<cpu>``: mode/match/check, model, vendor, topology, features, NUMA cells."""

    mode: str | None = attr()
    match: str | None = attr()
    check: str | None = attr()
    migratable: str | None = attr()
    arch: str | None = text_child("arch")
    model: CpuModel | None = child("model", CpuModel)
    vendor: str | None = text_child("vendor")
    microcode: CpuMicrocode | None = child("microcode", CpuMicrocode)
    signature: CpuSignature | None = child("signature", CpuSignature)
    counter: CpuCounter | None = child("counter", CpuCounter)
    topology: CpuTopology | None = child("topology", CpuTopology)
    cache: CpuCache | None = child("cache", CpuCache)
    maxphysaddr: CpuMaxPhysAddr | None = child("maxphysaddr", CpuMaxPhysAddr)
    features: list[CpuFeature] = children("feature", CpuFeature)
    numa: CpuNuma | None = child("numa", CpuNuma)


__all__ = [
    "CpuCache",
    "CpuCounter",
    "CpuDef",
    "CpuFeature",
    "CpuMaxPhysAddr",
    "CpuMicrocode",
    "CpuModel",
    "CpuNuma",
    "CpuSignature",
    "CpuTopology",
    "NumaCell",
    "NumaDistances",
    "NumaSibling",
]
