"""libvirt's network port XML (``<networkport>``, virNetworkPortDef).

A port is one connection of a guest interface to a virtual network: its owner
domain, MAC address, QoS and VLAN, and how it is plugged in (``<plug>``)::

    <networkport>
      <uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>
      <owner><name>vm1</name><uuid>d54df46f-...</uuid></owner>
      <mac address='52:54:00:7b:35:93'/>
      <plug type='network' bridge='virbr0'/>
    </networkport>

Fields are in virNetworkPortDefFormatBuf's order. ``post_parse`` raises the
errors virNetworkPortDefParseXML raises (same order and wording) and
canonicalises UUIDs, the MAC address and the PCI address as libvirt writes them.
Elements and attributes libvirt does not know are kept (``unknown_paths``), so
a driver can refuse them by name.
"""

from __future__ import annotations

from typing import Any

from virtkit.conf.common import parse_uuid
from virtkit.conf.model import Spec, XmlModel, attr, child, model, text_child
from virtkit.conf.netdev import Bandwidth, PortOptions, VirtualPort, Vlan
from virtkit.conf.nwfilter import parse_mac
from virtkit.conf.xmlutil import write_raw
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = [
    "PLUG_TYPES",
    "NetworkPortDef",
    "PlugAddress",
    "PlugDriver",
    "PortMac",
    "PortOwner",
    "PortPlug",
    "RxFilters",
    "validate_port_def",
]

# virNetworkPortPlugType; 'none' parses but is never written.
PLUG_TYPES = ("none", "network", "bridge", "direct", "hostdev-pci")
_MAC_TABLE_MANAGERS = ("kernel", "libvirt")  # 'default' (0) is refused by the parser
_MACVLAN_MODES = ("vepa", "private", "bridge", "passthrough")
_FORWARD_DRIVERS = ("kvm", "vfio", "xen")  # 'default' (0) is refused by the parser
_TRISTATE = ("yes", "no")


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, ErrorDomain.NETWORK, detail)


def _invalid_attr(element: str, name: str, value: str) -> VirtError:
    """virXMLPropEnum's error for a value outside the enum."""
    return make_error(ErrorCode.XML_ERROR, ErrorDomain.NETWORK,
                      f"Invalid value for attribute '{name}' in element '{element}': '{value}'.")


@model("owner")
class PortOwner(XmlModel):
    """The domain the port belongs to."""

    name: str | None = text_child("name")
    uuid: str | None = text_child("uuid")


@model("mac")
class PortMac(XmlModel):
    """``<mac address='52:54:00:...'/>``."""

    address: str | None = attr()


@model("rxfilters")
class RxFilters(XmlModel):
    """``<rxfilters trustGuest='yes'/>``."""

    trustGuest: str | None = attr()


@model("driver")
class PlugDriver(XmlModel):
    """``<driver name='vfio'/>`` of a hostdev-pci plug."""

    name: str | None = attr()


@model("address")
class PlugAddress(XmlModel):
    """The PCI address of a hostdev-pci plug (virPCIDeviceAddressFormat)."""

    domain: str | None = attr()
    bus: str | None = attr()
    slot: str | None = attr()
    function: str | None = attr()


@model("plug")
class PortPlug(XmlModel):
    """How the port is connected: ``network``/``bridge`` (a bridge), ``direct``
    (macvtap on ``dev``), ``hostdev-pci`` (an SR-IOV function)."""

    type: str | None = attr()
    bridge: str | None = attr()
    macTableManager: str | None = attr()
    dev: str | None = attr()
    mode: str | None = attr()
    managed: str | None = attr()
    driver: PlugDriver | None = child("driver", PlugDriver)
    address: PlugAddress | None = child("address", PlugAddress)

    @property
    def kind(self) -> str:
        return self.type or "none"

    def xml_attrs(self) -> list[tuple[str, str]]:
        kind = self.kind
        out: list[tuple[str, str]] = [("type", kind)]
        if kind in ("network", "bridge"):
            out.append(("bridge", self.bridge or ""))
            if self.macTableManager:
                out.append(("macTableManager", self.macTableManager))
        elif kind == "direct":
            out.append(("dev", self.dev or ""))
            out.append(("mode", self.mode or "vepa"))
        elif kind == "hostdev-pci" and self.managed:
            out.append(("managed", self.managed))
        out.extend(self.unknown_attrs)
        return out

    def write_children(self, out: list[str], indent: int) -> None:
        if self.kind == "hostdev-pci":
            super().write_children(out, indent)
        else:
            for _, el in self.unknown_children:
                write_raw(el, indent, out)


@model("networkport")
class NetworkPortDef(XmlModel):
    """virNetworkPortDef."""

    XML_CONTEXT = "(networkport_definition)"
    ERROR_DOMAIN = ErrorDomain.NETWORK

    uuid: str | None = text_child("uuid")
    owner: PortOwner | None = child("owner", PortOwner)
    group: str | None = text_child("group")
    mac: PortMac | None = child("mac", PortMac)
    virtualport: VirtualPort | None = child("virtualport", VirtualPort)
    bandwidth: Bandwidth | None = child("bandwidth", Bandwidth)
    vlan: Vlan | None = child("vlan", Vlan)
    port: PortOptions | None = child("port", PortOptions)
    rxfilters: RxFilters | None = child("rxfilters", RxFilters)
    plug: PortPlug | None = child("plug", PortPlug)

    def post_parse(self) -> None:
        validate_port_def(self)

    def write_field(self, out: list[str], indent: int, fname: str, spec: Spec, value: Any) -> None:
        if fname == "plug" and value is not None and value.kind == "none":
            return  # libvirt writes no <plug> for plug type 'none'
        super().write_field(out, indent, fname, spec, value)

    # ------------------------------------------------------------------ convenience

    @property
    def owner_name(self) -> str:
        return self.owner.name or "" if self.owner is not None else ""

    @property
    def owner_uuid(self) -> str:
        return self.owner.uuid or "" if self.owner is not None else ""

    @property
    def mac_address(self) -> str:
        return self.mac.address or "" if self.mac is not None else ""

    @property
    def plug_type(self) -> str:
        """The plug type ('none' when there is no ``<plug>``)."""
        return self.plug.kind if self.plug is not None else "none"

    @classmethod
    def build(cls, uuid: str, owner_name: str, owner_uuid: str, mac: str,
              group: str | None = None) -> NetworkPortDef:
        """A port without a plug (what a hypervisor driver asks the network for)."""
        d = cls(uuid=uuid, owner=PortOwner(name=owner_name, uuid=owner_uuid), group=group,
                mac=PortMac(address=mac))
        validate_port_def(d)
        return d


def validate_port_def(d: NetworkPortDef) -> None:
    """virNetworkPortDefParseXML's checks, in its order; canonicalises values in place."""
    if d.uuid is None:
        raise _err(ErrorCode.INTERNAL_ERROR, "network port has no uuid")
    canon = parse_uuid(d.uuid)
    if canon is None:
        raise _err(ErrorCode.INTERNAL_ERROR, f"Unable to parse UUID '{d.uuid}'")
    d.uuid = canon
    if d.owner is None or d.owner.name is None:
        raise _err(ErrorCode.INTERNAL_ERROR, "network port has no owner name")
    if d.owner.uuid is None:
        raise _err(ErrorCode.INTERNAL_ERROR, "network port has no owner UUID")
    canon = parse_uuid(d.owner.uuid)
    if canon is None:
        raise _err(ErrorCode.INTERNAL_ERROR, f"Unable to parse UUID '{d.owner.uuid}'")
    d.owner.uuid = canon
    if d.mac is None or d.mac.address is None:
        raise _err(ErrorCode.INTERNAL_ERROR, "network port has no mac")
    mac = parse_mac(d.mac.address)
    if mac is None:
        raise _err(ErrorCode.INTERNAL_ERROR, f"Unable to parse MAC '{d.mac.address}'")
    d.mac.address = mac
    if d.rxfilters is not None and d.rxfilters.trustGuest is not None \
            and d.rxfilters.trustGuest not in _TRISTATE:
        raise _invalid_attr("rxfilters", "trustGuest", d.rxfilters.trustGuest)
    if d.plug is not None:
        _validate_plug(d.plug)


def _validate_plug(plug: PortPlug) -> None:
    kind = plug.kind
    if kind not in PLUG_TYPES:
        raise _invalid_attr("plug", "type", kind)
    if kind in ("network", "bridge"):
        if plug.bridge is None:
            raise _err(ErrorCode.XML_ERROR, "Missing network port bridge name")
        mgr = plug.macTableManager
        if mgr is not None and mgr not in _MAC_TABLE_MANAGERS:
            raise _err(ErrorCode.XML_ERROR,
                       f"Invalid macTableManager setting '{mgr}' in network port")
    elif kind == "direct":
        if plug.dev is None:
            raise _err(ErrorCode.XML_ERROR, "Missing network port link device name")
        if plug.mode is not None and plug.mode not in _MACVLAN_MODES:
            raise _err(ErrorCode.XML_ERROR,
                       f"Invalid mode setting '{plug.mode}' in network port")
    elif kind == "hostdev-pci":
        if plug.managed is not None and plug.managed not in _TRISTATE:
            raise _invalid_attr("plug", "managed", plug.managed)
        if plug.driver is not None and plug.driver.name is not None \
                and plug.driver.name not in _FORWARD_DRIVERS:
            raise _err(ErrorCode.XML_ERROR, "Missing network port driver name")
        if plug.address is None:
            raise _err(ErrorCode.XML_ERROR, "Missing network port PCI address")
        _canon_pci(plug.address)


def _canon_pci(a: PlugAddress) -> None:
    """virPCIDeviceAddressParseXML + Format: ``0x%04x``/``0x%02x``/``0x%02x``/``0x%x``."""
    values: dict[str, int] = {}
    for name in ("domain", "bus", "slot", "function"):
        raw = getattr(a, name)
        try:
            values[name] = _parse_uint(raw) if raw is not None else 0
        except ValueError:
            raise _err(ErrorCode.XML_ERROR,
                       f"Invalid value for attribute '{name}' in element 'address': '{raw}'. "
                       "Expected non-negative integer value") from None
    dom, bus, slot, fn = (values[k] for k in ("domain", "bus", "slot", "function"))
    if dom or bus or slot:
        if bus > 0xFF:
            raise _err(ErrorCode.XML_ERROR, f"Invalid PCI address bus='{bus:#x}', must be <= 0xFF")
        if slot > 0x1F:
            raise _err(ErrorCode.XML_ERROR,
                       f"Invalid PCI address slot='{slot:#x}', must be <= 0x1F")
        if fn > 7:
            raise _err(ErrorCode.XML_ERROR, f"Invalid PCI address function={fn:#x}, must be <= 7")
    a.domain, a.bus, a.slot = f"0x{dom:04x}", f"0x{bus:02x}", f"0x{slot:02x}"
    a.function = f"0x{fn:x}"


def _parse_uint(text: str) -> int:
    """strtoul with base 0 (virStrToLong_uip): 0x hex, leading-0 octal, decimal; < 2**32."""
    s = text.strip()
    if s.lower().startswith("0x"):
        value = int(s[2:], 16)
    elif len(s) > 1 and s.startswith("0"):
        value = int(s[1:], 8)
    else:
        value = int(s, 10)
    if s.startswith(("-", "+")) or value >= 1 << 32:
        raise ValueError(text)
    return value
