"""The test driver's use of the domain XML model.

Everything the driver needs from ``DomainDef`` goes through here: parsing with
libvirt's generic defaults (``apply_generic_defaults``) and the test driver's own
post-parse defaults (i686, interface names ``testnetN``, the default video model),
formatting for the different ``virDomainGetXMLDesc`` flags, and the few
fields the driver reads or changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from virtkit.conf.chr_inactive import drop_live_chr_details, drop_tty
from virtkit.conf.domain import DomainDef, validate_domain_def
from virtkit.conf.domain_implicit import console_view
from virtkit.conf.domain_os import OsDef, OsType
from virtkit.conf.domain_postparse import apply_generic_defaults
from virtkit.conf.secure import public_xml
from virtkit.conf.xmlutil import Element
from virtkit.errors import ErrorCode, ErrorDomain, make_error

TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
DEFAULT_ARCH = "i686"

_RUNSTATES = {
    "nostate": 0, "running": 1, "blocked": 2, "paused": 3, "shutdown": 4,
    "shutoff": 5, "crashed": 6, "pmsuspended": 7,
}


@dataclass(slots=True)
class TestNamespace:
    """The ``test:`` extras of a domain in a node file."""

    runstate: int = 1
    transient: bool = False
    has_managed_save: bool = False
    snapshots: list[Element] = field(default_factory=list)


def parse_domain(xml: str | Element) -> DomainDef:
    """Parse and validate a domain definition as the test driver does."""
    d = DomainDef.from_element(xml) if isinstance(xml, Element) else DomainDef.from_xml(xml)
    validate_domain_def(d)
    _post_parse(d)
    return d


def _post_parse(d: DomainDef) -> None:
    """libvirt's generic defaults plus the test driver's own (i686, ``testnetN``)."""
    if d.id is not None:
        d.id = None
    if d.os is None:
        d.os = OsDef()
    if d.os.type is None:
        d.os.type = OsType()
        d.os.type.name = "hvm"
    if d.os.type.arch is None:
        d.os.type.arch = DEFAULT_ARCH
    apply_generic_defaults(d, default_video_type)
    drop_tty(d)  # the test driver parses with VIR_DOMAIN_DEF_PARSE_INACTIVE only
    drop_live_chr_details(d)
    generate_ifnames(d)


def default_video_type(d: DomainDef) -> str:
    """testDomainDevicesDefPostParse: xen for xen/linux guests, vga on ppc64, else cirrus."""
    if d.os_type in ("xen", "linux"):
        return "xen"
    arch = d.os.type.arch if d.os is not None and d.os.type is not None else None
    if arch in ("ppc64", "ppc64le"):
        return "vga"
    return "cirrus"


def take_test_namespace(d: DomainDef) -> TestNamespace:
    """Remove the ``test:`` elements from ``d`` and return what they said."""
    ns = TestNamespace()
    kept = []
    for anchor, el in d.unknown_children:
        tag = el.tag if isinstance(el.tag, str) else ""
        if not tag.startswith("{" + TEST_NS + "}"):
            kept.append((anchor, el))
            continue
        local = tag.split("}", 1)[1]
        if local == "runstate":
            text = (el.text or "").strip()
            value = int(text) if text.isdigit() else _RUNSTATES.get(text, -1)
            if not 0 <= value <= 7:
                raise make_error(ErrorCode.XML_ERROR, ErrorDomain.TEST,
                                 f"invalid runstate: {text}")
            ns.runstate = value
        elif local == "transient":
            ns.transient = True
        elif local == "hasmanagedsave":
            ns.has_managed_save = True
        elif local == "domainsnapshot":
            ns.snapshots.append(el)
    d.unknown_children = kept
    d.namespaces = [(p, u) for p, u in d.namespaces if u != TEST_NS]
    if ns.transient and ns.runstate == 5:
        raise make_error(ErrorCode.XML_ERROR, ErrorDomain.TEST,
                         "transient domain cannot have runstate 'shutoff'")
    if ns.has_managed_save and (ns.transient or ns.runstate != 5):
        raise make_error(ErrorCode.XML_ERROR, ErrorDomain.TEST,
                         "domain with managedsave data can only be in shutoff state")
    return ns


def generate_ifnames(d: DomainDef) -> None:
    """testDomainGenerateIfnames: name unnamed interfaces testnet0, testnet1, ..."""
    from virtkit.conf.dev_net import InterfaceTarget

    devices = d.devices
    if devices is None:
        return
    used = {i.target.dev for i in devices.interfaces if i.target is not None and i.target.dev}
    n = 0
    for iface in devices.interfaces:
        if iface.target is not None and iface.target.dev:
            continue
        while f"testnet{n}" in used:
            n += 1
        name = f"testnet{n}"
        used.add(name)
        if iface.target is None:
            iface.target = InterfaceTarget()
        iface.target.dev = name


def format_domain(d: DomainDef, dom_id: int, secure: bool = True) -> str:
    """The XML of ``d``, with ``id='N'`` when the domain runs; without passwords and
    cookies unless ``secure`` (VIR_DOMAIN_XML_SECURE)."""
    with public_xml(not secure):
        return _format_domain(d, dom_id)


def _format_domain(d: DomainDef, dom_id: int) -> str:
    d.id = dom_id if dom_id > 0 else None
    devices = d.devices
    held = devices.consoles if devices is not None else []
    view = console_view(d)
    try:
        if devices is not None and view is not None:
            devices.consoles = view
        return d.to_xml()
    finally:
        d.id = None
        if devices is not None:
            devices.consoles = held


def numbers(d: DomainDef) -> tuple[int, int, int]:
    """(total memory KiB, current memory KiB, current vCPUs) for get_info."""
    return d.memory_kib, d.current_memory_kib, d.vcpus_current


def disk_targets(d: DomainDef) -> list[str]:
    devices = d.devices
    if devices is None:
        return []
    return [d.target.dev for d in devices.disks if d.target is not None and d.target.dev]


@dataclass(slots=True)
class NetInfo:
    """What the driver needs of one ``<interface>``."""

    ifname: str
    mac: str
    type: str
    network: str | None


def interfaces(d: DomainDef) -> list[NetInfo]:
    devices = d.devices
    if devices is None:
        return []
    out = []
    for iface in devices.interfaces:
        out.append(NetInfo(
            ifname=iface.target.dev if iface.target is not None and iface.target.dev else "",
            mac=iface.mac.address if iface.mac is not None and iface.mac.address else "",
            type=iface.type or "",
            network=iface.source.network if iface.source is not None else None,
        ))
    return out


def has_memballoon(d: DomainDef) -> bool:
    devices = d.devices
    if devices is None or devices.memballoon is None:
        return False
    return devices.memballoon.model != "none"


def has_numa(d: DomainDef) -> bool:
    return d.cpu is not None and d.cpu.numa is not None and bool(d.cpu.numa.cells)


__all__ = [
    "DomainDef", "NetInfo", "TestNamespace", "default_video_type", "disk_targets", "format_domain",
    "generate_ifnames", "has_memballoon", "has_numa", "interfaces", "numbers",
    "parse_domain", "take_test_namespace",
]
