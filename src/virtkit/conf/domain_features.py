"""Domain ``<features>``, in the order of libvirt's virDomainFeature enum."""

from __future__ import annotations

from virtkit.conf.domain_memory import ScaledMemory
from virtkit.conf.model import XmlModel, attr, child, model, text
from virtkit.conf.xmlutil import start_tag


class OpenCloseModel(XmlModel):
    """An element libvirt writes as ``<x>`` and ``</x>`` on two lines even when empty."""

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        name = tag or self.TAG
        pad = " " * indent
        out.append(f"{pad}{start_tag(name, self.xml_attrs())}>\n")
        self.write_children(out, indent + 2)
        out.append(f"{pad}</{name}>\n")


@model("feature")
class Feature(XmlModel):
    """A feature switch: ``<acpi/>`` or ``<pmu state='off'/>``."""

    state: str | None = attr()


@model("apic")
class Apic(XmlModel):
    eoi: str | None = attr()


@model("direct")
class StimerDirect(XmlModel):
    state: str | None = attr()


@model("feature")
class HypervFeature(XmlModel):
    """A ``<hyperv>`` enlightenment (spinlocks retries=, vendor_id value=, stimer direct)."""

    state: str | None = attr()
    retries: str | None = attr()
    value: str | None = attr()
    direct: StimerDirect | None = child("direct", StimerDirect)


@model("hyperv")
class Hyperv(OpenCloseModel):
    mode: str | None = attr()
    relaxed: HypervFeature | None = child("relaxed", HypervFeature)
    vapic: HypervFeature | None = child("vapic", HypervFeature)
    spinlocks: HypervFeature | None = child("spinlocks", HypervFeature)
    vpindex: HypervFeature | None = child("vpindex", HypervFeature)
    runtime: HypervFeature | None = child("runtime", HypervFeature)
    synic: HypervFeature | None = child("synic", HypervFeature)
    stimer: HypervFeature | None = child("stimer", HypervFeature)
    reset: HypervFeature | None = child("reset", HypervFeature)
    vendor_id: HypervFeature | None = child("vendor_id", HypervFeature)
    frequencies: HypervFeature | None = child("frequencies", HypervFeature)
    reenlightenment: HypervFeature | None = child("reenlightenment", HypervFeature)
    tlbflush: HypervFeature | None = child("tlbflush", HypervFeature)
    ipi: HypervFeature | None = child("ipi", HypervFeature)
    evmcs: HypervFeature | None = child("evmcs", HypervFeature)
    avic: HypervFeature | None = child("avic", HypervFeature)


@model("feature")
class KvmFeature(XmlModel):
    state: str | None = attr()
    size: str | None = attr()


@model("kvm")
class Kvm(OpenCloseModel):
    hidden: KvmFeature | None = child("hidden", KvmFeature)
    hint_dedicated: KvmFeature | None = child("hint-dedicated", KvmFeature)
    poll_control: KvmFeature | None = child("poll-control", KvmFeature)
    pv_ipi: KvmFeature | None = child("pv-ipi", KvmFeature)
    dirty_ring: KvmFeature | None = child("dirty-ring", KvmFeature)


@model("feature")
class XenFeature(XmlModel):
    state: str | None = attr()
    mode: str | None = attr()


@model("xen")
class Xen(OpenCloseModel):
    e820_host: XenFeature | None = child("e820_host", XenFeature)
    passthrough: XenFeature | None = child("passthrough", XenFeature)


@model("capabilities")
class ProcessCapabilities(XmlModel):
    """``<capabilities policy=...>`` (LXC): capability switches are kept as written."""

    policy: str | None = attr()


@model("gic")
class Gic(XmlModel):
    version: str | None = attr()


@model("ioapic")
class Ioapic(XmlModel):
    driver: str | None = attr()


@model("maxpagesize")
class HptMaxPageSize(ScaledMemory):
    XPATH = "./features/hpt/maxpagesize"


@model("hpt")
class Hpt(XmlModel):
    resizing: str | None = attr()
    maxpagesize: HptMaxPageSize | None = child("maxpagesize", HptMaxPageSize)


@model("msrs")
class Msrs(XmlModel):
    unknown: str | None = attr()


@model("tseg")
class Tseg(XmlModel):
    unit: str | None = attr()
    value: str | None = text()


@model("smm")
class Smm(XmlModel):
    state: str | None = attr()
    tseg: Tseg | None = child("tseg", Tseg)


@model("feature")
class ValueFeature(XmlModel):
    """``<cfpc value=.../>``, ``<sbbc>``, ``<ibs>``."""

    value: str | None = attr()


@model("tb-cache")
class TbCache(ScaledMemory):
    XPATH = "./features/tcg/tb-cache"


@model("tcg")
class Tcg(XmlModel):
    tb_cache: TbCache | None = child("tb-cache", TbCache)


@model("features")
class Features(XmlModel):
    """``<features>``: hypervisor features, each optional."""

    acpi: Feature | None = child("acpi", Feature)
    apic: Apic | None = child("apic", Apic)
    pae: Feature | None = child("pae", Feature)
    hap: Feature | None = child("hap", Feature)
    viridian: Feature | None = child("viridian", Feature)
    privnet: Feature | None = child("privnet", Feature)
    hyperv: Hyperv | None = child("hyperv", Hyperv)
    kvm: Kvm | None = child("kvm", Kvm)
    pvspinlock: Feature | None = child("pvspinlock", Feature)
    capabilities: ProcessCapabilities | None = child("capabilities", ProcessCapabilities)
    pmu: Feature | None = child("pmu", Feature)
    vmport: Feature | None = child("vmport", Feature)
    gic: Gic | None = child("gic", Gic)
    smm: Smm | None = child("smm", Smm)
    ioapic: Ioapic | None = child("ioapic", Ioapic)
    hpt: Hpt | None = child("hpt", Hpt)
    vmcoreinfo: Feature | None = child("vmcoreinfo", Feature)
    htm: Feature | None = child("htm", Feature)
    nested_hv: Feature | None = child("nested-hv", Feature)
    msrs: Msrs | None = child("msrs", Msrs)
    ccf_assist: Feature | None = child("ccf-assist", Feature)
    xen: Xen | None = child("xen", Xen)
    cfpc: ValueFeature | None = child("cfpc", ValueFeature)
    sbbc: ValueFeature | None = child("sbbc", ValueFeature)
    ibs: ValueFeature | None = child("ibs", ValueFeature)
    tcg: Tcg | None = child("tcg", Tcg)
