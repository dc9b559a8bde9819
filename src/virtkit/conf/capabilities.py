"""The host capabilities XML format (``<capabilities>``), as libvirt's capabilities.c.

Fields are in ``virCapabilitiesFormatXML`` order, including the blank
lines libvirt puts after ``<capabilities>``, ``</host>`` and each
``</guest>``. The model writes what it holds; a driver fills it in.
"""

from __future__ import annotations

from typing import Any

from virtkit.conf.cpu import CpuFeature
from virtkit.conf.model import (
    INT,
    Spec,
    XmlModel,
    attr,
    child,
    children,
    model,
    raw,
    text,
    text_child,
    text_children,
)
from virtkit.errors import ErrorDomain


@model("topology")
class CpuTopology(XmlModel):
    """``<topology sockets= dies= clusters= cores= threads=/>`` of the host CPU."""

    sockets: str | None = attr()
    dies: str | None = attr()
    clusters: str | None = attr()
    cores: str | None = attr()
    threads: str | None = attr()


@model("pages")
class PageSize(XmlModel):
    """``<pages unit='KiB' size='4'/>``."""

    unit: str | None = attr()
    size: str | None = attr()
    count: str | None = text()


@model("cpu")
class HostCpu(XmlModel):
    """The host ``<cpu>``."""

    arch: str | None = text_child("arch")
    features_el: Any = raw("features")
    model_el: Any = raw("model")
    vendor: str | None = text_child("vendor")
    microcode: Any = raw("microcode")
    signature: Any = raw("signature")
    counter: Any = raw("counter")
    topology: CpuTopology | None = child("topology", CpuTopology)
    maxphysaddr: Any = raw("maxphysaddr")
    features: list[CpuFeature] = children("feature", CpuFeature)
    pages: list[PageSize] = children("pages", PageSize)

    @property
    def model(self) -> str | None:
        """The CPU model name."""
        return self.model_el.text if self.model_el is not None else None


@model("uri_transports")
class UriTransports(XmlModel):
    """``<uri_transports>``."""

    transports: list[str] = text_children("uri_transport")


@model("migration_features")
class MigrationFeatures(XmlModel):
    """``<migration_features>``."""

    live: Any = raw("live")
    uri_transports: UriTransports | None = child("uri_transports", UriTransports)


@model("baselabel")
class BaseLabel(XmlModel):
    """``<baselabel type='kvm'>+0:+0</baselabel>``."""

    type: str | None = attr()
    label: str | None = text()


@model("secmodel")
class SecModel(XmlModel):
    """``<secmodel>``: a security driver and its DOI."""

    model: str | None = text_child("model")
    doi: str | None = text_child("doi")
    baselabels: list[BaseLabel] = children("baselabel", BaseLabel)


@model("iommu")
class Iommu(XmlModel):
    """``<iommu support='yes'/>``."""

    support: str | None = attr()


@model("host")
class CapsHost(XmlModel):
    """The ``<host>`` section."""

    uuid: str | None = text_child("uuid")
    cpu: HostCpu | None = child("cpu", HostCpu)
    power_management: Any = raw("power_management")
    iommu: Iommu | None = child("iommu", Iommu)
    migration_features: MigrationFeatures | None = child("migration_features", MigrationFeatures)
    netprefix: str | None = text_child("netprefix")
    topology: Any = raw("topology")
    cache: Any = raw("cache")
    memory_bandwidth: Any = raw("memory_bandwidth")
    secmodels: list[SecModel] = children("secmodel", SecModel)


@model("machine")
class GuestMachine(XmlModel):
    """``<machine canonical= maxCpus= deprecated=>name</machine>``."""

    canonical: str | None = attr()
    maxCpus: str | None = attr()
    deprecated: str | None = attr()
    name: str | None = text()


@model("domain")
class GuestDomain(XmlModel):
    """``<domain type='kvm'>`` with its own emulator and machines."""

    type: str | None = attr()
    emulator: str | None = text_child("emulator")
    loader: str | None = text_child("loader")
    machines: list[GuestMachine] = children("machine", GuestMachine)


@model("arch")
class GuestArch(XmlModel):
    """``<arch name='x86_64'>``."""

    name: str | None = attr()
    wordsize: int | None = text_child("wordsize", INT)
    emulator: str | None = text_child("emulator")
    loader: str | None = text_child("loader")
    machines: list[GuestMachine] = children("machine", GuestMachine)
    domains: list[GuestDomain] = children("domain", GuestDomain)


@model("guest")
class CapsGuest(XmlModel):
    """One ``<guest>``: an OS type on an architecture."""

    os_type: str | None = text_child("os_type")
    arch: GuestArch | None = child("arch", GuestArch)
    features: Any = raw("features")


@model("capabilities")
class CapabilitiesDef(XmlModel):
    """The host capabilities document."""

    XML_CONTEXT = "capabilities"

    ERROR_DOMAIN = ErrorDomain.CAPABILITIES

    host: CapsHost | None = child("host", CapsHost)
    guests: list[CapsGuest] = children("guest", CapsGuest)
    pool: Any = raw("pool")

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        pad = " " * indent
        out.append(f"{pad}<capabilities>\n\n")
        self.write_children(out, indent + 2)
        out.append(f"{pad}</capabilities>\n")

    def write_field(self, out: list[str], indent: int, fname: str, spec: Spec, value: Any) -> None:
        if value is None or value == []:
            return
        if fname == "guests":
            for item in value:
                item.write(out, indent, "guest")
                out.append("\n")
            return
        super().write_field(out, indent, fname, spec, value)
        if fname in ("host", "pool"):
            out.append("\n")
