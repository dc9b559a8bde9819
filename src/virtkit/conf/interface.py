"""Host interface XML (libvirt's ``virInterfaceDef``: ethernet, bridge, bond, vlan).

:func:`parse_interface` reads a document with libvirt's checks and messages
(``virInterfaceDefParseString``) and returns the definition libvirt keeps:
what libvirt ignores is dropped (unknown elements, ``<start>``/``<mtu>``/
``<protocol>`` below the top level, ``<link>`` on bridges, ...), so
``to_xml()`` writes exactly what ``virInterfaceDefFormat`` writes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from virtkit.conf.model import XmlModel, attr, children, flag, invalid_value, model, raws
from virtkit.conf.xmlutil import Element, start_tag
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, XMLError, format_message

__all__ = ["InterfaceDef", "parse_interface"]

TYPES = ("ethernet", "bridge", "bond", "vlan")
_START_MODES = frozenset({"onboot", "hotplug", "none"})
_BOND_MODES = frozenset({"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad",
                         "balance-tlb", "balance-alb"})
_LINK_STATES = frozenset({"", "unknown", "notpresent", "down", "lowerlayerdown", "testing",
                          "dormant", "up"})
_INT_MAX = 2**31 - 1
_UINT_MAX = 2**32 - 1


# ----------------------------------------------------------------------------- the elements


@model("start")
class IfaceStart(XmlModel):
    mode: str | None = attr()


@model("mtu")
class IfaceMtu(XmlModel):
    size: str | None = attr()


@model("link")
class IfaceLink(XmlModel):
    speed: str | None = attr()
    state: str | None = attr()


@model("mac")
class IfaceMac(XmlModel):
    address: str | None = attr()


@model("dhcp")
class IfaceDhcp(XmlModel):
    peerdns: str | None = attr()


@model("ip")
class IfaceIP(XmlModel):
    address: str | None = attr()
    prefix: str | None = attr()


@model("route")
class IfaceRoute(XmlModel):
    gateway: str | None = attr()


@model("protocol")
class IfaceProtocol(XmlModel):
    family: str | None = attr()
    autoconf: bool = flag("autoconf")
    dhcp: list[IfaceDhcp] = children("dhcp", IfaceDhcp)
    ips: list[IfaceIP] = children("ip", IfaceIP)
    routes: list[IfaceRoute] = children("route", IfaceRoute)


@model("miimon")
class BondMiimon(XmlModel):
    freq: str | None = attr()
    downdelay: str | None = attr()
    updelay: str | None = attr()
    carrier: str | None = attr()


@model("arpmon")
class BondArpmon(XmlModel):
    interval: str | None = attr()
    target: str | None = attr()
    validate: str | None = attr()


@model("interface")
class VlanDev(XmlModel):
    name: str | None = attr()


@model("vlan")
class IfaceVlan(XmlModel):
    tag: str | None = attr()
    devs: list[VlanDev] = children("interface", VlanDev)


class _Container(XmlModel):
    """A bridge or bond: member interfaces read as elements, kept as definitions."""

    members: list[Element] = raws("interface")
    member_defs: list[InterfaceDef] = dataclasses.field(default_factory=list)

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        # libvirt always writes <bridge ...>\n ... </bridge>, even when empty.
        name = tag or self.TAG
        pad = " " * indent
        out.append(f"{pad}{start_tag(name, self.xml_attrs())}>\n")
        self.write_children(out, indent + 2)
        for member in self.member_defs:
            member.write(out, indent + 2)
        out.append(f"{pad}</{name}>\n")


@model("bridge")
class IfaceBridge(_Container):
    stp: str | None = attr()
    delay: str | None = attr()


@model("bond")
class IfaceBond(_Container):
    mode: str | None = attr()
    miimon: list[BondMiimon] = children("miimon", BondMiimon)
    arpmon: list[BondArpmon] = children("arpmon", BondArpmon)


@model("interface")
class InterfaceDef(XmlModel):
    """``<interface type=... name=...>`` (after :func:`parse_interface`: libvirt's view of it)."""

    XML_CONTEXT = "interface_definition"
    ERROR_DOMAIN = ErrorDomain.INTERFACE

    type: str | None = attr()
    name: str | None = attr()
    start: list[IfaceStart] = children("start", IfaceStart)
    mtu: list[IfaceMtu] = children("mtu", IfaceMtu)
    protocols: list[IfaceProtocol] = children("protocol", IfaceProtocol)
    link: list[IfaceLink] = children("link", IfaceLink)
    mac: list[IfaceMac] = children("mac", IfaceMac)
    bridge: list[IfaceBridge] = children("bridge", IfaceBridge)
    bond: list[IfaceBond] = children("bond", IfaceBond)
    vlan: list[IfaceVlan] = children("vlan", IfaceVlan)

    @property
    def mac_address(self) -> str | None:
        """The MAC address libvirt reports for the interface (ethernet only)."""
        return self.mac[0].address if self.mac else None

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        # virInterfaceDefDevFormat: always an open and a close tag.
        pad = " " * indent
        out.append(f"{pad}{start_tag('interface', self.xml_attrs())}>\n")
        self.write_children(out, indent + 2)
        out.append(f"{pad}</interface>\n")


# ----------------------------------------------------------------------------- errors


def _xml_error(detail: str) -> XMLError:
    """VIR_ERR_XML_ERROR reported by interface_conf.c (domain INTERFACE)."""
    return XMLError(format_message(ErrorCode.XML_ERROR, detail), code=ErrorCode.XML_ERROR,
                    domain=ErrorDomain.INTERFACE)


def _missing_attr(attribute: str, element: str) -> XMLError:
    return XMLError(
        format_message(ErrorCode.XML_ERROR,
                       f"Missing required attribute '{attribute}' in element '{element}'"),
        code=ErrorCode.XML_ERROR, domain=ErrorDomain.XML)


def _unknown_cause() -> VirtError:
    """A parse that failed without reporting why (libvirt's virXPathUInt -2 paths)."""
    return VirtError("An error occurred, but the cause is unknown",
                     code=ErrorCode.INTERNAL_ERROR, domain=ErrorDomain.NONE)


# ----------------------------------------------------------------------------- numbers


def _strtol(text: str, base: int) -> int | None:
    """C's strtol on the whole string (leading blanks, a sign; base 0 knows 0x and 0)."""
    s = text.lstrip(" \t\n\v\f\r")
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if base == 0:
        if s[:2].lower() == "0x":
            base, s = 16, s[2:]
        elif s[:1] == "0" and len(s) > 1:
            base, s = 8, s[1:]
        else:
            base = 10
    if not s or not all(c in "0123456789abcdef"[:base] for c in s.lower()):
        return None
    return sign * int(s, base)


def _int(text: str, base: int = 10) -> int | None:
    """virStrToLong_i: None when not an int."""
    v = _strtol(text, base)
    return v if v is not None and -_INT_MAX - 1 <= v <= _INT_MAX else None


def _uint_wrapping(text: str) -> int | None:
    """virStrToLong_ui: "-1" is UINT_MAX."""
    v = _strtol(text, 10)
    if v is None or v > _UINT_MAX or v < -_UINT_MAX:
        return None
    return v & _UINT_MAX if v < 0 else v


def _first(items: list[Any]) -> Any:
    return items[0] if items else None


def _xpath_str(value: str | None) -> str | None:
    """virXPathString: an empty result is no result."""
    return value or None


# ----------------------------------------------------------------------------- parsing


def parse_interface(xml: str) -> InterfaceDef:
    """virInterfaceDefParseString: the definition libvirt keeps, or libvirt's error."""
    return _check(InterfaceDef.from_xml(xml), None)


def _check(src: InterfaceDef, parent: str | None) -> InterfaceDef:
    """virInterfaceDefParseXML for ``src`` under a ``parent`` of that type (None: top level)."""
    if src.type is None:
        raise _missing_attr("type", "interface")
    if src.type not in TYPES:
        raise invalid_value("interface", "type", src.type, "")
    kind = src.type
    if ((parent == "bond" and kind != "ethernet")
            or (parent == "bridge" and kind == "bridge")
            or parent in ("ethernet", "vlan")):
        raise _xml_error(f"interface has unsupported type '{kind}'")
    if src.name is None:
        raise _xml_error("interface has no name")
    out = InterfaceDef(type=kind, name=src.name)
    if parent is None:
        out.start = _check_start(src)
        out.mtu = _check_mtu(src)
        out.protocols = [_check_protocol(p) for p in src.protocols]
    if kind != "bridge":
        link = _first(src.link)
        if link is not None:
            out.link = _check_link(link)
    if kind == "ethernet":
        address = _xpath_str(_first(src.mac).address if src.mac else None)
        if address is not None:
            out.mac = [IfaceMac(address=address)]
    elif kind == "bridge":
        if not src.bridge:
            raise _xml_error("bridge interface misses the bridge element")
        out.bridge = [_check_bridge(src.bridge[0])]
    elif kind == "bond":
        if not src.bond:
            raise _xml_error("bond interface misses the bond element")
        out.bond = [_check_bond(src.bond[0])]
    else:
        if not src.vlan:
            raise _xml_error("vlan interface misses the vlan element")
        out.vlan = [_check_vlan(src.vlan[0])]
    return out


def _check_start(src: InterfaceDef) -> list[IfaceStart]:
    mode = _xpath_str(_first(src.start).mode if src.start else None)
    if mode is None:
        return []
    if mode not in _START_MODES:
        raise _xml_error(f"unknown interface startmode {mode}")
    return [IfaceStart(mode=mode)]


def _check_mtu(src: InterfaceDef) -> list[IfaceMtu]:
    text = _xpath_str(_first(src.mtu).size if src.mtu else None)
    if text is None:
        return []
    size = _uint_wrapping(text)
    if size is None:
        raise _unknown_cause()
    if size > 100000:
        raise _xml_error("value of the 'size' attribute of 'mtu' element must be at most 100000")
    return [IfaceMtu(size=str(size))] if size else []


def _check_link(link: IfaceLink) -> list[IfaceLink]:
    state = link.state
    if state is not None and state not in _LINK_STATES:
        raise invalid_value("link", "state", state, "")
    speed = 0
    if link.speed is not None:
        value = _strtol(link.speed, 10)
        if value is None or value < 0 or value > _UINT_MAX or link.speed.lstrip()[:1] == "-":
            raise invalid_value("link", "speed", link.speed, "non-negative integer value")
        speed = value
    if not speed and not state:
        return []
    return [IfaceLink(speed=str(speed) if speed else None, state=state or None)]


def _check_protocol(p: IfaceProtocol) -> IfaceProtocol:
    if p.family is None:
        raise _xml_error("protocol misses the family attribute")
    if p.family not in ("ipv4", "ipv6"):
        raise _xml_error(f"unsupported protocol family '{p.family}'")
    out = IfaceProtocol(family=p.family, autoconf=p.family == "ipv6" and p.autoconf)
    gateway = _xpath_str(p.routes[0].gateway if p.routes else None)
    if p.dhcp:
        peerdns = p.dhcp[0].peerdns
        if peerdns is not None and peerdns not in ("yes", "no"):
            raise invalid_value("dhcp", "peerdns", peerdns, "")
        out.dhcp = [IfaceDhcp(peerdns=peerdns)]
    for ip in p.ips:
        if ip.address is None:
            continue
        prefix = 0
        if ip.prefix is not None:
            value = _int(ip.prefix, 0)
            if value is None:
                raise invalid_value("ip", "prefix", ip.prefix, "integer value")
            prefix = value
        out.ips.append(IfaceIP(address=ip.address, prefix=str(prefix) if prefix else None))
    if gateway is not None:
        out.routes = [IfaceRoute(gateway=gateway)]
    return out


def _check_members(elements: list[Element], parent: str) -> list[InterfaceDef]:
    return [_check(InterfaceDef.from_element(el), parent) for el in elements]


def _check_bridge(b: IfaceBridge) -> IfaceBridge:
    out = IfaceBridge()
    if b.stp is not None and b.stp not in ("on", "off"):
        # libvirt reports this, yet carries on with an empty bridge (returns 0)
        return out
    out.stp, out.delay = b.stp, b.delay
    out.member_defs = _check_members(b.members, "bridge")
    return out


def _check_bond(b: IfaceBond) -> IfaceBond:
    if b.mode is not None and b.mode not in _BOND_MODES:
        raise _xml_error(f"unknown bonding mode {b.mode}")
    out = IfaceBond(mode=b.mode)
    out.member_defs = _check_members(b.members, "bond")
    if b.miimon:
        mii = b.miimon[0]
        freq = _int(mii.freq, 10) if mii.freq else None
        if freq is None:
            raise _xml_error("bond interface miimon freq missing or invalid")
        delays = []
        for name in ("downdelay", "updelay"):
            text = getattr(mii, name)
            value = _int(text, 10) if text else 0
            if value is None:
                raise _xml_error(f"bond interface miimon {name} invalid")
            delays.append(value)
        if mii.carrier is not None and mii.carrier not in ("ioctl", "netif"):
            raise _xml_error(f"unknown mii bonding carrier {mii.carrier}")
        out.miimon = [BondMiimon(freq=str(freq),
                                 downdelay=str(delays[0]) if delays[0] > 0 else None,
                                 updelay=str(delays[1]) if delays[1] > 0 else None,
                                 carrier=mii.carrier)]
    elif b.arpmon:
        arp = b.arpmon[0]
        interval = _int(arp.interval, 10) if arp.interval else None
        if interval is None:
            raise _xml_error("bond interface arpmon interval missing or invalid")
        target = _xpath_str(arp.target)
        if target is None:
            raise _xml_error("bond interface arpmon target missing")
        if arp.validate is not None and arp.validate not in ("active", "backup", "all"):
            raise _xml_error(f"unknown arp bonding validate {arp.validate}")
        out.arpmon = [BondArpmon(interval=str(interval), target=target, validate=arp.validate)]
    return out


def _check_vlan(v: IfaceVlan) -> IfaceVlan:
    tag = _xpath_str(v.tag)
    if tag is None:
        raise _xml_error("vlan interface misses the tag attribute")
    dev = _xpath_str(v.devs[0].name if v.devs else None)
    if dev is None:
        raise _xml_error("vlan interface misses name attribute")
    return IfaceVlan(tag=tag, devs=[VlanDev(name=dev)])
