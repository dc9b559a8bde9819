"""libvirt's domain XML: ``DomainDef`` (``<domain>``).

Children are declared in the order libvirt's formatter
(``virDomainDefFormatInternalSetRootName``) writes them, so a file libvirt
wrote formats back byte for byte. Parsing applies libvirt's
normalisations: every memory size in KiB, a generated UUID when none is
given, ``<currentMemory>`` defaulting to ``<memory>``. Anything not
modelled (including foreign namespaces such as ``qemu:commandline``) is kept
in place.

``DomainDef.from_xml`` raises only for XML it cannot read (malformed, or a
number or UUID it cannot parse); ``validate_domain_def`` raises the errors
libvirt's parser reports for a definition that is readable but incomplete.
"""

from __future__ import annotations

from typing import Any

from virtkit.conf.common import new_uuid, parse_uuid
from virtkit.conf.cpu import CpuDef
from virtkit.conf.devices import Devices
from virtkit.conf.domain_features import Features
from virtkit.conf.domain_memory import (
    BlkioTune,
    CurrentMemory,
    MaxMemory,
    MemoryBacking,
    MemTune,
    ScaledMemory,
)
from virtkit.conf.domain_os import IdMap, OsDef, OsType, Sysinfo
from virtkit.conf.domain_runtime import Clock, Perf, Pm
from virtkit.conf.domain_security import KeyWrap, LaunchSecurity, SecLabel
from virtkit.conf.domain_tuning import (
    CpuTune,
    DefaultIOThread,
    IOThreadIds,
    NumaTune,
    Resource,
    Vcpu,
    Vcpus,
)
from virtkit.conf.model import (
    INT,
    Spec,
    XmlModel,
    attr,
    child,
    children,
    model,
    raw,
    text_child,
)
from virtkit.conf.xmlutil import (
    Element,
    dump_element,
    escape_attr,
    escape_text,
    qualified_name,
    write_raw,
)
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

# libvirt's virDomainVirt names.
VIRT_TYPES = frozenset({
    "none", "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test", "vmware",
    "hyperv", "vbox", "phyp", "parallels", "bhyve", "vz", "hvf",
})
# libvirt's virDomainOSType names.
OS_TYPES = frozenset({"hvm", "xen", "linux", "exe", "uml", "xenpvh"})


def _xml_error(detail: str) -> VirtError:
    return make_error(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN, detail)


@model("domain")
class DomainDef(XmlModel):
    """A domain definition (``<domain type='kvm'>``)."""

    XML_CONTEXT = "domain_definition"

    ERROR_DOMAIN = ErrorDomain.DOMAIN

    type: str | None = attr()
    id: int | None = attr(conv=INT)
    name: str | None = text_child("name")
    uuid: str = text_child("uuid", default="")
    genid: str | None = text_child("genid")
    title: str | None = text_child("title")
    description: str | None = text_child("description")
    metadata: Element | None = raw("metadata")
    max_memory: MaxMemory | None = child("maxMemory", MaxMemory)
    memory: ScaledMemory | None = child("memory", ScaledMemory)
    current_memory: CurrentMemory | None = child("currentMemory", CurrentMemory)
    blkiotune: BlkioTune | None = child("blkiotune", BlkioTune)
    memtune: MemTune | None = child("memtune", MemTune)
    memory_backing: MemoryBacking | None = child("memoryBacking", MemoryBacking)
    vcpu: Vcpu | None = child("vcpu", Vcpu)
    vcpus: Vcpus | None = child("vcpus", Vcpus)
    iothreads: str | None = text_child("iothreads")
    iothreadids: IOThreadIds | None = child("iothreadids", IOThreadIds)
    defaultiothread: DefaultIOThread | None = child("defaultiothread", DefaultIOThread)
    cputune: CpuTune | None = child("cputune", CpuTune)
    numatune: NumaTune | None = child("numatune", NumaTune)
    resource: Resource | None = child("resource", Resource)
    sysinfo: list[Sysinfo] = children("sysinfo", Sysinfo)
    bootloader: str | None = text_child("bootloader")
    bootloader_args: str | None = text_child("bootloader_args")
    os: OsDef | None = child("os", OsDef)
    idmap: IdMap | None = child("idmap", IdMap)
    features: Features | None = child("features", Features)
    cpu: CpuDef | None = child("cpu", CpuDef)
    clock: Clock | None = child("clock", Clock)
    on_poweroff: str | None = text_child("on_poweroff")
    on_reboot: str | None = text_child("on_reboot")
    on_crash: str | None = text_child("on_crash")
    on_lockfailure: str | None = text_child("on_lockfailure")
    pm: Pm | None = child("pm", Pm)
    perf: Perf | None = child("perf", Perf)
    devices: Devices | None = child("devices", Devices)
    seclabels: list[SecLabel] = children("seclabel", SecLabel)
    keywrap: KeyWrap | None = child("keywrap", KeyWrap)
    launch_security: LaunchSecurity | None = child("launchSecurity", LaunchSecurity)

    def __post_init__(self) -> None:
        if not self.uuid:
            self.uuid = new_uuid()
            self._uuid_generated = True
        else:
            self._uuid_generated = False

    # ------------------------------------------------------------------ parsing

    def post_parse(self) -> None:
        """libvirt's parse-time normalisation (UUIDs, memory, vCPU count, defaults)."""
        if self._uuid_generated:
            smbios_uuid = self._sysinfo_uuid()
            if smbios_uuid is not None:
                self.uuid = smbios_uuid
        else:
            canon = parse_uuid(self.uuid)
            if canon is None:
                raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN,
                                 "malformed uuid element")
            self.uuid = canon
        if self.genid is not None:
            if self.genid.strip() == "":
                self.genid = new_uuid()
            else:
                gen = parse_uuid(self.genid)
                if gen is None:
                    raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN,
                                     "malformed genid element")
                self.genid = gen
        if self.vcpu is not None and self.vcpu.count is not None:
            count = self.vcpu.count.strip()
            if not count.isdigit() or int(count) >= 1 << 32:
                raise _xml_error("maximum vcpus count must be an integer")
            self.vcpu.count = count
        if self.vcpu is not None and self.vcpu.current is not None:
            cur = self.vcpu.current
            if not cur.strip().isdigit():
                raise _xml_error(
                    f"Invalid value for attribute 'current' in element 'vcpu': '{cur}'. "
                    "Expected non-negative integer value"
                )
        self._post_parse_memory()
        if self.clock is None:
            self.clock = Clock()
            self.clock.offset = "utc"
        if self.on_poweroff is None:
            self.on_poweroff = "destroy"
        if self.on_reboot is None:
            self.on_reboot = "restart"
        if self.on_crash is None:
            self.on_crash = "destroy"

    def _sysinfo_uuid(self) -> str | None:
        for info in self.sysinfo:
            if info.system is not None:
                value = info.system.get("uuid")
                if value:
                    return parse_uuid(value)
        return None

    def _post_parse_memory(self) -> None:
        total = self.memory.value if self.memory is not None else None
        if not total and self.cpu is not None and self.cpu.numa is not None:
            numa_total = sum(int(c.memory or 0) for c in self.cpu.numa.cells)
            if numa_total:
                self.memory_kib = numa_total
                total = numa_total
        if total:
            cur = self.current_memory.value if self.current_memory is not None else None
            if not cur or cur > total:
                self.current_memory_kib = total

    # ------------------------------------------------------------------ contract properties

    @property
    def memory_kib(self) -> int:
        """``<memory>`` in KiB (0 when absent)."""
        if self.memory is None or self.memory.value is None:
            return 0
        return int(self.memory.value)

    @memory_kib.setter
    def memory_kib(self, value: int) -> None:
        if self.memory is None:
            self.memory = ScaledMemory.kib(value)
        else:
            self.memory.value = value
            self.memory.unit = "KiB"

    @property
    def current_memory_kib(self) -> int:
        """``<currentMemory>`` in KiB, falling back to ``memory_kib``."""
        if self.current_memory is None or self.current_memory.value is None:
            return self.memory_kib
        return int(self.current_memory.value)

    @current_memory_kib.setter
    def current_memory_kib(self, value: int) -> None:
        self.current_memory = CurrentMemory.kib(value)

    @property
    def max_memory_kib(self) -> int | None:
        """``<maxMemory>`` in KiB, or None."""
        if self.max_memory is None or self.max_memory.value is None:
            return None
        return int(self.max_memory.value)

    @max_memory_kib.setter
    def max_memory_kib(self, value: int | None) -> None:
        if value is None:
            self.max_memory = None
        elif self.max_memory is None:
            self.max_memory = MaxMemory.kib(value)
        else:
            self.max_memory.value = value
            self.max_memory.unit = "KiB"

    @property
    def vcpus_max(self) -> int:
        """The ``<vcpu>`` count (1 when absent)."""
        if self.vcpu is None or not self.vcpu.count:
            return 1
        return int(self.vcpu.count)

    @vcpus_max.setter
    def vcpus_max(self, value: int) -> None:
        if self.vcpu is None:
            self.vcpu = Vcpu()
            self.vcpu.placement = "static"
        self.vcpu.count = str(value)

    @property
    def vcpus_current(self) -> int:
        """``<vcpu current=...>``, or ``vcpus_max``."""
        if self.vcpu is None or self.vcpu.current is None:
            return self.vcpus_max
        return int(self.vcpu.current)

    @vcpus_current.setter
    def vcpus_current(self, value: int) -> None:
        if self.vcpu is None:
            self.vcpus_max = 1
        assert self.vcpu is not None
        self.vcpu.current = None if value == self.vcpus_max else str(value)

    @property
    def os_type(self) -> str:
        """The ``<os><type>`` text ('hvm' when absent)."""
        if self.os is None or self.os.type is None or not self.os.type.name:
            return "hvm"
        return self.os.type.name.strip()

    @os_type.setter
    def os_type(self, value: str) -> None:
        if self.os is None:
            self.os = OsDef()
        if self.os.type is None:
            self.os.type = OsType()
        self.os.type.name = value

    # ------------------------------------------------------------------ writing

    def write_field(self, out: list[str], indent: int, fname: str, spec: Spec, value: Any) -> None:
        if fname == "metadata":
            if value is not None:
                declared = {p: u for p, u in self.namespaces}
                out.append(dump_element(value, indent, declared))
            return
        super().write_field(out, indent, fname, spec, value)

    def write_children(self, out: list[str], indent: int) -> None:
        unknown = self.unknown_children
        if not unknown:
            super().write_children(out, indent)
            return
        declared = {p: u for p, u in self.namespaces}
        for anchor, el in unknown:
            if anchor is None:
                _write_extra(el, indent, out, declared)
        for fname, spec in self._compiled.child_order:
            self.write_field(out, indent, fname, spec, getattr(self, fname))
            for anchor, el in unknown:
                if anchor == fname:
                    _write_extra(el, indent, out, declared)


def _write_extra(el: Element, indent: int, out: list[str], declared: dict[str | None, str]) -> None:
    """Write an element kept from input at the top level.

    Elements of a namespace declared on ``<domain>`` (qemu:commandline, lxc:namespace, ...)
    are written as libvirt's namespace formatters write them (single quotes, no
    re-declaration); anything else as the framework keeps unknown elements.
    """
    tag = el.tag
    if not isinstance(tag, str):
        return
    if tag[0] == "{" and tag[1:].split("}", 1)[0] in declared.values():
        _write_ns(el, indent, out)
    elif tag[0] == "{":
        out.append(dump_element(el, indent, declared))
    else:
        write_raw(el, indent, out)


def _write_ns(el: Element, indent: int, out: list[str]) -> None:
    pad = " " * indent
    name = qualified_name(el)
    attrs = "".join(
        f" {qualified_name(el, str(k))}='{escape_attr(str(v))}'" for k, v in el.attrib.items()
    )
    kids = [c for c in el if isinstance(c.tag, str)]
    content = el.text or ""
    if kids:
        out.append(f"{pad}<{name}{attrs}>\n")
        for c in kids:
            _write_ns(c, indent + 2, out)
        out.append(f"{pad}</{name}>\n")
    elif content.strip():
        out.append(f"{pad}<{name}{attrs}>{escape_text(content)}</{name}>\n")
    else:
        out.append(f"{pad}<{name}{attrs}/>\n")


def validate_domain_def(d: DomainDef) -> None:
    """Raise the error libvirt's domain parser reports for an incomplete definition."""
    if d.type is None:
        raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN,
                         "missing domain type attribute")
    if d.type not in VIRT_TYPES:
        raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.DOMAIN,
                         f"invalid domain type {d.type}")
    if d.id is not None and d.id < 0:
        raise make_error(
            ErrorCode.XML_ERROR, ErrorDomain.DOMAIN,
            f"Invalid value for attribute 'id' in element 'domain': '{d.id}'. "
            "Expected non-negative integer value",
        )
    if not d.name:
        raise make_error(ErrorCode.NO_NAME, ErrorDomain.DOMAIN, None)
    if parse_uuid(d.uuid) is None:
        raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN, "malformed uuid element")
    ostype = d.os.type.name if d.os is not None and d.os.type is not None else None
    if not ostype:
        if d.bootloader is None:
            raise _xml_error("an os <type> must be specified")
    elif ostype.strip() not in OS_TYPES:
        raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.DOMAIN,
                         f"unknown OS type '{ostype}'")
    if d.memory_kib == 0:
        raise _xml_error(
            "Memory size must be specified via <memory> or in the <numa> configuration"
        )
    max_kib = d.max_memory_kib
    slots = d.max_memory.slots if d.max_memory is not None else None
    if (max_kib or slots) and not (max_kib and slots):
        raise _xml_error("both maximum memory size and memory slot count must be specified")
    if max_kib and max_kib < d.memory_kib:
        raise _xml_error(
            "maximum memory size must be equal or greater than the actual memory size"
        )
    if d.vcpus_current > d.vcpus_max:
        raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.DOMAIN,
                         "maximum vCPU count must not be less than current vCPU count")


__all__ = ["DomainDef", "parse_uuid", "validate_domain_def"]
