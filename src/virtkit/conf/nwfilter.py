"""libvirt's network filter XML (``<filter>``): parse, validate and format as libvirt 9.0 does.

A filter is a name, a UUID, a chain (``root`` or a prefix ``mac``, ``vlan``,
``stp``, ``arp``, ``rarp``, ``ipv4``, ``ipv6``), a chain priority and an
ordered list of entries: ``<rule>``s and ``<filterref>``s (references to
other filters, with ``<parameter name= value=>`` variables).

A rule's protocol element (``<tcp srcipaddr='10.0.0.1' dstportstart='22'/>``)
is not a fixed schema but a per-protocol table of typed attributes: each value
is tried against the attribute's data types in libvirt's order (decimal before
hex, number before name), may be a variable (``$IP``, ``$LIST[@1]``,
``$LIST[2]``), and may be negated with ``match='no'``. That is why rules are
modelled here by hand (``ATTRIBUTES`` holds the tables as data) rather than with
the declarative fields of ``virtkit.conf.model``, which suits fixed shapes such as
the binding document (``virtkit.conf.nwfilter_binding``).

Differences from libvirt, on purpose: values libvirt writes unescaped (filter
and filterref names) are escaped; a rule that has both ``ipset`` and
``ipsetflags`` keeps both (libvirt 9.0 silently drops the pair for every
protocol but ``all``).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from virtkit.conf.common import new_uuid, parse_uuid
from virtkit.conf.safechars import refuse_control
from virtkit.conf.xmlutil import Element, escape_attr, parse_xml
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, XMLError, format_message, make_error

__all__ = [
    "ATTRIBUTES",
    "FilterRef",
    "Item",
    "NWFilterDef",
    "Rule",
    "VarAccess",
    "format_params",
    "nwfilter_error",
    "parse_params",
]

_DOMAIN = ErrorDomain.NWFILTER

# Data types, in the order libvirt tries them (attrDatatype bit order).
U16, U8, U16H, U8H, MAC, MACMASK, IP, IPMASK, STRING, IP6, IP6MASK, STRCOPY, BOOL, U32, U32H, \
    IPSETNAME, IPSETFLAGS = (1 << i for i in range(17))

MIN_RULE_PRIORITY = -1000
MAX_RULE_PRIORITY = 1000
MIN_FILTER_PRIORITY = -1000
MAX_FILTER_PRIORITY = 1000
MAX_CHAIN_SUFFIX_SIZE = 12
MAX_COMMENT_LENGTH = 256
MAX_ITERID = 1000

ACTIONS = ("drop", "accept", "reject", "return", "continue")
DIRECTIONS = ("in", "out", "inout")
CHAIN_SUFFIXES = ("root", "mac", "vlan", "stp", "arp", "rarp", "ipv4", "ipv6")
# Default chain priorities by chain prefix (stp has none: it gets the middle, 0).
CHAIN_PRIORITIES = {"root": 0, "mac": -800, "vlan": -750, "ipv4": -700, "ipv6": -600,
                    "arp": -500, "rarp": -400}

_VALID_CHAINNAME = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")
_VALID_VARNAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_VALID_VARVALUE = _VALID_VARNAME | frozenset(".:")
_VALID_IPSETNAME = _VALID_CHAINNAME | frozenset("+ ")

MAC_PROTOCOLS = {"arp": 0x0806, "rarp": 0x8035, "ipv4": 0x0800, "ipv6": 0x86DD, "vlan": 0x8100}
ARP_OPCODES = {"Request": 1, "Reply": 2, "Request_Reverse": 3, "Reply_Reverse": 4,
               "DRARP_Request": 5, "DRARP_Reply": 6, "DRARP_Error": 7, "InARP_Request": 8,
               "ARP_NAK": 9}
IP_PROTOCOLS = {"tcp": 6, "udp": 17, "udplite": 136, "esp": 50, "ah": 51, "icmp": 1,
                "igmp": 2, "sctp": 132, "icmpv6": 58}
# ct state flags (RULE_FLAG_STATE_*), in formatting order.
STATES = {"NEW": 1 << 1, "ESTABLISHED": 1 << 2, "RELATED": 1 << 3, "INVALID": 1 << 4,
          "NONE": 1 << 5}
TCP_FLAGS = {"FIN": 0x1, "SYN": 0x2, "RST": 0x4, "PSH": 0x8, "ACK": 0x10, "URG": 0x20,
             "ALL": 0x3F, "NONE": 0x0}


def nwfilter_error(code: int, detail: str) -> VirtError:
    """An error in libvirt's nwfilter error domain."""
    return make_error(code, _DOMAIN, detail)


# ----------------------------------------------------------------------------- variables


@dataclass(frozen=True)
class VarAccess:
    """A variable reference: ``NAME`` (= ``NAME[@0]``), ``NAME[@iter]`` or ``NAME[index]``."""

    name: str
    iterator: bool = True
    index: int = 0  # iterator id, or element index

    @classmethod
    def parse(cls, text: str) -> VarAccess:
        i = 0
        while i < len(text) and text[i] in _VALID_VARNAME:
            i += 1
        name = text[:i]
        if i == len(text):
            return cls(name)
        if text[i] != "[":
            raise nwfilter_error(ErrorCode.INVALID_ARG, "Malformatted variable")
        rest = text[i + 1:].lstrip()
        iterator = rest.startswith("@")
        if iterator:
            rest = rest[1:]
        m = re.match(r"\s*\+?(\d+)\s*\]", rest)
        if not m:
            raise nwfilter_error(ErrorCode.INVALID_ARG,
                                 "Malformatted iterator id" if iterator
                                 else "Malformatted array index")
        num = int(m.group(1))
        if iterator and num > MAX_ITERID:
            raise nwfilter_error(ErrorCode.INVALID_ARG,
                                 f"Iterator ID exceeds maximum ID of {MAX_ITERID}")
        return cls(name, iterator, num)

    def __str__(self) -> str:
        if not self.iterator:
            return f"{self.name}[{self.index}]"
        return self.name if self.index == 0 else f"{self.name}[@{self.index}]"


def valid_var_name(name: str) -> bool:
    return all(c in _VALID_VARNAME for c in name)


def valid_var_value(value: str) -> bool:
    return bool(value) and all(c in _VALID_VARVALUE for c in value)


def parse_params(el: Element) -> dict[str, list[str]]:
    """``<parameter name= value=>`` children; invalid ones are skipped, as libvirt does."""
    params: dict[str, list[str]] = {}
    for c in el:
        if c.tag != "parameter":
            continue
        name, value = c.get("name"), c.get("value")
        if name is None or value is None or not valid_var_name(name) \
                or not valid_var_value(value):
            continue
        params.setdefault(name, []).append(value)
    return params


def format_params(out: list[str], pad: str, filtername: str,
                  params: dict[str, list[str]]) -> None:
    """``<filterref filter=...>`` with its parameters sorted by name, as libvirt writes it."""
    head = f"{pad}<filterref filter='{escape_attr(filtername)}'"
    if not params:
        out.append(head + "/>\n")
        return
    out.append(head + ">\n")
    for name in sorted(params):
        for value in params[name]:
            out.append(f"{pad}  <parameter name='{escape_attr(name)}' "
                       f"value='{escape_attr(value)}'/>\n")
    out.append(f"{pad}</filterref>\n")


# ----------------------------------------------------------------------------- value parsers


def _strtoul(text: str, base: int) -> int | None:
    """``virStrToLong_ui`` with no trailing text allowed."""
    pat = r"\s*\+?([0-9]+)" if base == 10 else r"\s*\+?(?:0[xX])?([0-9a-fA-F]+)"
    m = re.fullmatch(pat, text)
    if not m:
        return None
    value = int(m.group(1), base)
    return value if value <= 0xFFFFFFFF else None


def parse_mac(text: str) -> str | None:
    """``virMacAddrParse``: six 1-2 digit hex groups; canonical lowercase form or None."""
    m = re.match(r"([0-9a-fA-F]{1,2})" + r":([0-9a-fA-F]{1,2})" * 5, text)
    if not m or (m.end() < len(text) and text[m.end()] > " "):
        return None
    return ":".join(f"{int(g, 16):02x}" for g in m.groups())


def parse_ip(text: str, family: int) -> bytes | None:
    """Numeric address as ``getaddrinfo(AI_NUMERICHOST)`` reads it (libvirt does the same)."""
    try:
        info = socket.getaddrinfo(text, None, family, 0, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    host = str(info[0][4][0])
    return socket.inet_pton(family, host.split("%")[0])


def format_ip(packed: bytes) -> str:
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, packed)


def _mask_bits(packed: bytes) -> int | None:
    """Prefix length of a contiguous netmask, or None."""
    bits = int.from_bytes(packed, "big")
    width = len(packed) * 8
    ones = bin(bits).count("1")
    expect = ((1 << ones) - 1) << (width - ones) if ones else 0
    return ones if bits == expect else None


def _parse_items(text: str, names: dict[str, int], sep: str) -> int | None:
    """libvirt's parseStringItems: case-insensitive prefix tokens, OR-ed together."""
    flags = 0
    i = 0
    upper = text.upper()
    while i < len(text):
        while i < len(text) and (text[i].isspace() or text[i] == sep):
            i += 1
        if i >= len(text):
            break
        for name, bit in names.items():
            if upper.startswith(name.upper(), i):
                flags |= bit
                i += len(name)
                break
        else:
            return None
    return flags


def _print_items(flags: int, names: dict[str, int]) -> str:
    parts: list[str] = []
    bit = 1
    while flags and bit <= 0x80000000:
        if flags & bit:
            parts.extend(n for n, v in names.items() if v == bit)
            flags ^= bit
        bit <<= 1
    return ",".join(parts)


def format_state(flags: int) -> str:
    return _print_items(flags, STATES)


def format_tcp_flags(flags: int) -> str:
    if flags == 0:
        return "NONE"
    if flags == 0x3F:
        return "ALL"
    return _print_items(flags, TCP_FLAGS)


# ----------------------------------------------------------------------------- items


@dataclass
class Item:
    """One matched attribute of a rule: a typed value or a variable, maybe negated."""

    value: Any = None
    dtype: int = 0
    neg: bool = False
    var: VarAccess | None = None


@dataclass(frozen=True)
class AttrSpec:
    name: str
    dtypes: int
    validator: str | None = None


def _mac_props() -> list[AttrSpec]:
    return [AttrSpec("srcmacaddr", MAC), AttrSpec("srcmacmask", MACMASK),
            AttrSpec("dstmacaddr", MAC), AttrSpec("dstmacmask", MACMASK)]


_COMMENT = AttrSpec("comment", STRCOPY)
_PORTS = [AttrSpec(n, U16 | U16H) for n in
          ("srcportstart", "srcportend", "dstportstart", "dstportend")]


def _ip_props(addr: int, mask: int) -> list[AttrSpec]:
    return [
        AttrSpec("srcmacaddr", MAC), AttrSpec("srcipaddr", addr), AttrSpec("srcipmask", mask),
        AttrSpec("dstipaddr", addr), AttrSpec("dstipmask", mask), AttrSpec("srcipfrom", addr),
        AttrSpec("srcipto", addr), AttrSpec("dstipfrom", addr),
        AttrSpec("dstipto", IP),  # IPv4 even for the -ipv6 protocols, as in libvirt 9.0
        AttrSpec("dscp", U8 | U8H, "dscp"), AttrSpec("connlimit-above", U16),
        AttrSpec("state", STRING, "state"), AttrSpec("ipset", IPSETNAME, "ipset"),
        AttrSpec("ipsetflags", IPSETFLAGS, "ipsetflags"),
    ]


def _u16(*names: str) -> list[AttrSpec]:
    return [AttrSpec(n, U16 | U16H) for n in names]


_ARP = [*_mac_props(), *_u16("hwtype", "protocoltype"),
        AttrSpec("opcode", U16 | U16H | STRING, "arpopcode"),
        AttrSpec("arpsrcmacaddr", MAC), AttrSpec("arpdstmacaddr", MAC),
        AttrSpec("arpsrcipaddr", IP), AttrSpec("arpsrcipmask", IPMASK),
        AttrSpec("arpdstipaddr", IP), AttrSpec("arpdstipmask", IPMASK),
        AttrSpec("gratuitous", BOOL), _COMMENT]
_IP4 = _ip_props(IP, IPMASK)
_IP6 = _ip_props(IP6, IP6MASK)
_TYPECODE = [AttrSpec("type", U8 | U8H), AttrSpec("code", U8 | U8H)]

# Protocol element -> its attributes, in libvirt's order (parse lookup and output order).
ATTRIBUTES: dict[str, list[AttrSpec]] = {
    "arp": _ARP,
    "rarp": _ARP,
    "mac": [*_mac_props(), AttrSpec("protocolid", U16 | U16H | STRING, "macproto"), _COMMENT],
    "vlan": [*_mac_props(), AttrSpec("vlanid", U16 | U16H, "vlanid"),
             AttrSpec("encap-protocol", U16 | U16H | STRING, "vlanproto"), _COMMENT],
    "stp": [AttrSpec("srcmacaddr", MAC), AttrSpec("srcmacmask", MACMASK),
            AttrSpec("type", U8 | U8H), AttrSpec("flags", U8 | U8H),
            *_u16("root-priority", "root-priority-hi"),
            AttrSpec("root-address", MAC), AttrSpec("root-address-mask", MACMASK),
            AttrSpec("root-cost", U32 | U32H), AttrSpec("root-cost-hi", U32 | U32H),
            *_u16("sender-priority", "sender-priority-hi"),
            AttrSpec("sender-address", MAC), AttrSpec("sender-address-mask", MACMASK),
            *_u16("port", "port-hi", "age", "age-hi", "max-age", "max-age-hi", "hello-time",
                  "hello-time-hi", "forward-delay", "forward-delay-hi"), _COMMENT],
    "ip": [*_mac_props(), AttrSpec("srcipaddr", IP), AttrSpec("srcipmask", IPMASK),
           AttrSpec("dstipaddr", IP), AttrSpec("dstipmask", IPMASK),
           AttrSpec("protocol", STRING | U8 | U8H, "ipproto"), *_PORTS,
           AttrSpec("dscp", U8 | U8H, "dscp"), _COMMENT],
    "ipv6": [*_mac_props(), AttrSpec("srcipaddr", IP6), AttrSpec("srcipmask", IP6MASK),
             AttrSpec("dstipaddr", IP6), AttrSpec("dstipmask", IP6MASK),
             AttrSpec("protocol", STRING | U8 | U8H, "ipproto"), *_PORTS,
             AttrSpec("type", U8 | U8H), AttrSpec("typeend", U8 | U8H),
             AttrSpec("code", U8 | U8H), AttrSpec("codeend", U8 | U8H), _COMMENT],
    "tcp": [*_IP4, *_PORTS, AttrSpec("option", U8 | U8H),
            AttrSpec("flags", STRING, "tcpflags"), _COMMENT],
    "udp": [*_IP4, *_PORTS, _COMMENT],
    "udplite": [*_IP4, _COMMENT],
    "esp": [*_IP4, _COMMENT],
    "ah": [*_IP4, _COMMENT],
    "sctp": [*_IP4, *_PORTS, _COMMENT],
    "icmp": [*_IP4, *_TYPECODE, _COMMENT],
    "all": [*_IP4, _COMMENT],
    "igmp": [*_IP4, _COMMENT],
    "tcp-ipv6": [*_IP6, *_PORTS, AttrSpec("option", U8 | U8H), _COMMENT],
    "udp-ipv6": [*_IP6, *_PORTS, _COMMENT],
    "udplite-ipv6": [*_IP6, _COMMENT],
    "esp-ipv6": [*_IP6, _COMMENT],
    "ah-ipv6": [*_IP6, _COMMENT],
    "sctp-ipv6": [*_IP6, *_PORTS, _COMMENT],
    "icmpv6": [*_IP6, *_TYPECODE, _COMMENT],
    "all-ipv6": [*_IP6, _COMMENT],
}
# Output order of protocols (virNWFilterRuleProtocol) is irrelevant: a rule has one.
L2_PROTOCOLS = frozenset({"mac", "vlan", "stp", "arp", "rarp", "ip", "ipv6"})
IPV4_PROTOCOLS = frozenset({"tcp", "udp", "udplite", "esp", "ah", "sctp", "icmp", "all", "igmp"})
IPV6_PROTOCOLS = frozenset({"tcp-ipv6", "udp-ipv6", "udplite-ipv6", "esp-ipv6", "ah-ipv6",
                            "sctp-ipv6", "icmpv6", "all-ipv6"})

_MASKS = [("srcipmask", "srcipaddr"), ("dstipmask", "dstipaddr")]
_RANGES = [("srcipto", "srcipfrom"), ("dstipto", "dstipfrom")]
# libvirt copies these ports' negation from srcportstart (sic).
_PORTNEG = [("srcportend", "srcportstart"), ("dstportstart", "srcportstart"),
            ("dstportend", "srcportstart")]
_MACNEG = [("srcmacmask", "srcmacaddr"), ("dstmacmask", "dstmacaddr")]
# virNWFilterRuleDefFixup: (target, source) pairs whose negation is made equal.
_NEG_FIXUP: dict[str, list[tuple[str, str]]] = {
    "mac": _MACNEG, "vlan": _MACNEG,
    "stp": [("srcmacmask", "srcmacaddr"), ("root-priority-hi", "root-priority"),
            ("root-address-mask", "root-address"), ("root-cost-hi", "root-cost"),
            ("sender-priority-hi", "sender-priority"),
            ("sender-address-mask", "sender-address"), ("port-hi", "port"),
            ("age-hi", "age"), ("max-age-hi", "max-age"), ("hello-time-hi", "hello-time"),
            ("forward-delay-hi", "forward-delay")],
    "ip": _MASKS,
    "ipv6": [*_MASKS, ("typeend", "type"), ("code", "type"), ("codeend", "type")],
    "icmp": [*_MASKS, *_RANGES, ("code", "type")],
    "icmpv6": [*_MASKS, *_RANGES, ("code", "type")],
}
for _p in ("tcp", "udp", "sctp"):
    _NEG_FIXUP[_p] = _NEG_FIXUP[_p + "-ipv6"] = [*_MASKS, *_RANGES, *_PORTNEG]
for _p in ("udplite", "esp", "ah", "all"):
    _NEG_FIXUP[_p] = _NEG_FIXUP[_p + "-ipv6"] = [*_MASKS, *_RANGES]
_NEG_FIXUP["igmp"] = [*_MASKS, *_RANGES]


def _illegal(name: str, value: str) -> VirtError:
    return nwfilter_error(ErrorCode.INTERNAL_ERROR, f"{name} has illegal value {value}")


def _try_type(dtype: int, text: str) -> tuple[bool, Any]:
    """Parse ``text`` as one data type: (ok, value)."""
    if dtype in (U8, U8H, U16, U16H, U32, U32H):
        base = 16 if dtype in (U8H, U16H, U32H) else 10
        v = _strtoul(text, base)
        limit = 0xFF if dtype in (U8, U8H) else 0xFFFF if dtype in (U16, U16H) else 0xFFFFFFFF
        return (v is not None and v <= limit), v
    if dtype in (IP, IP6):
        packed = parse_ip(text, socket.AF_INET if dtype == IP else socket.AF_INET6)
        return packed is not None, packed
    if dtype in (IPMASK, IP6MASK):
        width = 32 if dtype == IPMASK else 128
        v = _strtoul(text, 10)
        if v is not None:
            return v <= width, v
        packed = parse_ip(text, socket.AF_INET if dtype == IPMASK else socket.AF_INET6)
        bits = _mask_bits(packed) if packed is not None else None
        return bits is not None, bits
    if dtype in (MAC, MACMASK):
        mac = parse_mac(text)
        if mac is None:
            return False, None
        if dtype == MACMASK and _mask_bits(bytes.fromhex(mac.replace(":", ""))) is None:
            return False, None
        return True, mac
    if dtype in (STRING, IPSETNAME, IPSETFLAGS):
        return True, text  # the attribute's validator decides
    if dtype == STRCOPY:
        return True, text[:MAX_COMMENT_LENGTH]
    if dtype == BOOL:
        return True, text in ("true", "1", "yes")
    return False, None


def _by_name(names: dict[str, int], text: str) -> int | None:
    for name, value in names.items():
        if name.lower() == text.lower():
            return value
    return None


def _validate(kind: str, dtype: int, value: Any) -> tuple[bool, int, Any]:
    """libvirt's per-attribute validators: (ok, data type, value)."""
    if kind in ("macproto", "vlanproto"):
        if dtype == STRING:
            v = _by_name(MAC_PROTOCOLS, value)
            return v is not None, U16, v
        return value >= (0x600 if kind == "macproto" else 0x3C), dtype, value
    if kind == "vlanid":
        return value <= 4095, dtype, value
    if kind == "arpopcode":
        if dtype == STRING:
            v = _by_name(ARP_OPCODES, value)
            return v is not None, U16, v
        return True, dtype, value
    if kind == "ipproto":
        if dtype == STRING:
            v = _by_name(IP_PROTOCOLS, value)
            return v is not None, U8H, v
        return True, dtype, value
    if kind == "dscp":
        return value <= 63, dtype, value
    if kind == "state":
        flags = _parse_items(value, STATES, ",")
        if flags is None:
            return False, dtype, None
        if flags & STATES["NONE"]:
            flags = STATES["NONE"]
        return True, U16, flags
    if kind == "tcpflags":
        mask_s, sep, flags_s = value.partition("/")
        if not sep:
            return False, dtype, None
        mask = _parse_items(mask_s, TCP_FLAGS, ",")
        flags = _parse_items(flags_s, TCP_FLAGS, ",")
        if mask is None or flags is None:
            return False, dtype, None
        return True, dtype, (mask & 0x3F, flags & 0x3F)
    if kind == "ipset":
        ok = len(value.encode()) < 32 and all(c in _VALID_IPSETNAME for c in value)
        return ok, dtype, value
    if kind == "ipsetflags":
        m = re.fullmatch(r"((?:src|dst)(?:,(?:src|dst)){0,5})", value, re.IGNORECASE)
        if not m:
            return False, dtype, None
        return True, dtype, [p.lower() == "src" for p in value.split(",")]
    raise AssertionError(kind)


def parse_attr(spec: AttrSpec, text: str, neg: bool) -> Item:
    if spec.dtypes & STRCOPY:  # a comment reaches the nftables ruleset
        refuse_control(text, f"<rule> attribute '{spec.name}'", ErrorDomain.NWFILTER)
    if text.startswith("$"):
        try:
            var = VarAccess.parse(text[1:])
        except VirtError:
            raise _illegal(spec.name, text) from None
        return Item(None, 0, neg, var)
    for i in range(17):
        dtype = 1 << i
        if not spec.dtypes & dtype:
            continue
        ok, value = _try_type(dtype, text)
        if not ok:
            continue  # libvirt moves on to the attribute's next data type
        if spec.validator is not None:
            ok, dtype, value = _validate(spec.validator, dtype, value)
            if not ok:
                raise _illegal(spec.name, text)
        elif dtype in (STRING, IPSETNAME, IPSETFLAGS):
            raise _illegal(spec.name, text)
        return Item(value, dtype, neg)
    raise _illegal(spec.name, text)


def _format_value(spec: AttrSpec, item: Item) -> str:
    if item.var is not None:
        return f"${item.var}"
    v, dt, kind = item.value, item.dtype, spec.validator
    if kind in ("macproto", "vlanproto"):
        names = {n: k for k, n in MAC_PROTOCOLS.items()}
        return names.get(v) or (str(v) if dt == U16 else f"0x{v:x}")
    if kind == "arpopcode":
        return {n: k for k, n in ARP_OPCODES.items()}.get(v) or str(v)
    if kind == "ipproto":
        return {n: k for k, n in IP_PROTOCOLS.items()}.get(v) or (
            str(v) if dt == U8 else f"0x{v:x}")
    if kind == "state":
        return format_state(v)
    if kind == "tcpflags":
        return f"{format_tcp_flags(v[0])}/{format_tcp_flags(v[1])}"
    if kind == "ipset":
        return str(v)
    if kind == "ipsetflags":
        return ",".join("src" if f else "dst" for f in v)
    if dt in (U8H, U16H, U32H):
        return f"0x{v:x}"
    if dt in (IP, IP6):
        return format_ip(v)
    if dt == BOOL:
        return "true" if v else "false"
    return str(v)


# ----------------------------------------------------------------------------- rules


@dataclass
class Rule:
    """A ``<rule>``: action, direction, priority, and one protocol's matched items."""

    action: str
    direction: str
    priority: int = 500
    statematch: bool = True
    protocol: str | None = None
    items: dict[str, Item] = field(default_factory=dict)

    @classmethod
    def from_element(cls, el: Element) -> Rule:
        action = el.get("action")
        if action is None:
            raise nwfilter_error(ErrorCode.INTERNAL_ERROR, "rule node requires action attribute")
        if action not in ACTIONS:
            raise nwfilter_error(ErrorCode.CONFIG_UNSUPPORTED,
                                 "unknown rule action attribute value")
        direction = el.get("direction")
        if direction is None:
            raise nwfilter_error(ErrorCode.INTERNAL_ERROR,
                                 "rule node requires direction attribute")
        if direction not in DIRECTIONS:
            raise nwfilter_error(ErrorCode.CONFIG_UNSUPPORTED,
                                 "unknown rule direction attribute value")
        rule = cls(action, direction)
        prio = el.get("priority")
        if prio is not None:
            m = re.fullmatch(r"\s*([+-]?\d+)", prio)
            if m and MIN_RULE_PRIORITY <= int(m.group(1)) <= MAX_RULE_PRIORITY:
                rule.priority = int(m.group(1))
        sm = el.get("statematch")
        if sm is not None and (sm == "0" or sm.lower() == "false"):
            rule.statematch = False
        for c in el:
            if not isinstance(c.tag, str) or c.tag not in ATTRIBUTES:
                continue
            if rule.protocol is None:
                rule.protocol = c.tag
            elif c.tag != rule.protocol:
                continue  # libvirt reads only the first protocol's elements
            neg = c.get("match") == "no"
            error: VirtError | None = None
            for spec in ATTRIBUTES[c.tag]:
                text = c.get(spec.name)
                if text is not None:
                    try:
                        rule.items[spec.name] = parse_attr(spec, text, neg)
                    except VirtError as exc:
                        error = exc  # libvirt reports every bad value; the last one sticks
            if error is not None:
                raise error
            rule._validate()
        rule._fixup()
        return rule

    def _validate(self) -> None:
        if self.protocol not in ("ip", "ipv6"):
            return
        ports = ("srcportstart", "srcportend", "dstportstart", "dstportend")
        if not any(p in self.items for p in ports):
            return
        proto = self.items.get("protocol")
        value = proto.value if proto is not None and proto.var is None else 0
        if proto is None or value not in (6, 17, 33, 132):
            name = "IP" if self.protocol == "ip" else "IPv6"
            raise nwfilter_error(
                ErrorCode.INTERNAL_ERROR,
                f"{name} rule with port specification requires protocol specification with "
                "protocol to be either one of tcp(6), udp(17), dccp(33), or sctp(132)")

    def _fixup(self) -> None:
        for target, source in _NEG_FIXUP.get(self.protocol or "", []):
            item = self.items.get(target)
            if item is not None:
                src = self.items.get(source)
                item.neg = src.neg if src is not None else False
        if (self.protocol not in (None, "all", "all-ipv6") and "ipset" in self.items
                and "ipsetflags" not in self.items):
            self.items["ipsetflags"] = Item([True], IPSETFLAGS)

    @property
    def state_flags(self) -> int:
        """The ``state`` flags of the rule (0 when it has none or it is a variable)."""
        item = self.items.get("state")
        return int(item.value) if item is not None and item.var is None else 0

    def variables(self) -> list[VarAccess]:
        """Every distinct variable reference, in attribute order."""
        seen: list[VarAccess] = []
        for spec in ATTRIBUTES.get(self.protocol or "", []):
            item = self.items.get(spec.name)
            if item is not None and item.var is not None and item.var not in seen:
                seen.append(item.var)
        return seen

    def write(self, out: list[str], pad: str) -> None:
        head = (f"{pad}<rule action='{self.action}' direction='{self.direction}' "
                f"priority='{self.priority}'")
        if not self.statematch:
            head += " statematch='false'"
        if self.protocol is None:
            out.append(head + "/>\n")
            return
        out.append(head + ">\n")
        self._write_details(out, pad + "  ")
        out.append(f"{pad}</rule>\n")

    def _write_details(self, out: list[str], pad: str) -> None:
        # libvirt starts a new element whenever negation changes along the attribute order.
        assert self.protocol is not None
        line: str | None = None
        match: bool | None = None
        for spec in ATTRIBUTES[self.protocol]:
            item = self.items.get(spec.name)
            if item is None:
                continue
            if line is not None and match is not None and match == item.neg:
                out.append(line + "/>\n")
                line, match = None, None
            if line is None:
                line = f"{pad}<{self.protocol}"
            if item.neg and match is None:
                line += " match='no'"
            match = not item.neg
            line += f" {spec.name}='{escape_attr(_format_value(spec, item))}'"
        if line is not None:
            out.append(line + "/>\n")
        elif not any(s.name in self.items for s in ATTRIBUTES[self.protocol]):
            out.append(f"{pad}<{self.protocol}/>\n")


@dataclass
class FilterRef:
    """A ``<filterref filter=NAME>`` with its parameters (name -> values in order)."""

    filter: str
    params: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_element(cls, el: Element) -> FilterRef:
        name = el.get("filter")
        if name is None:
            # libvirt's own (misleading) message for a filterref without filter=
            raise nwfilter_error(ErrorCode.INTERNAL_ERROR, "rule node requires action attribute")
        return cls(name, parse_params(el))

    def write(self, out: list[str], pad: str) -> None:
        format_params(out, pad, self.filter, self.params)


Entry = Rule | FilterRef


# ----------------------------------------------------------------------------- the filter


def _allowed_chain(chain: str) -> str:
    """The chain prefix ``chain`` is allowed under, or VIR_ERR_INVALID_ARG."""
    if len(chain) > MAX_CHAIN_SUFFIX_SIZE:
        raise nwfilter_error(ErrorCode.INVALID_ARG,
                             f"Name of chain is longer than {MAX_CHAIN_SUFFIX_SIZE} characters")
    if any(c not in _VALID_CHAINNAME for c in chain):
        raise nwfilter_error(ErrorCode.INVALID_ARG, "Chain name contains invalid characters")
    for name in CHAIN_SUFFIXES:
        if name == "root":
            if chain == "root":
                return name
            if chain.startswith("root"):
                break
        elif chain.startswith(name):
            return name
    others = ", ".join(CHAIN_SUFFIXES[1:])
    detail = (f"Invalid chain name '{chain}'. Please use a chain name called 'root' or any "
              f"of the following prefixes: {others}")
    raise VirtError(detail, code=ErrorCode.INVALID_ARG, domain=_DOMAIN)


@dataclass
class NWFilterDef:
    """A network filter definition (virNWFilterDef)."""

    name: str
    uuid: str = field(default_factory=new_uuid)
    chain: str = "root"
    priority: int = 0
    entries: list[Entry] = field(default_factory=list)
    uuid_specified: bool = True

    @classmethod
    def from_xml(cls, xml: str | bytes) -> NWFilterDef:
        root = parse_xml(xml, "(nwfilter_definition)", _DOMAIN)
        if root.tag != "filter":
            raise XMLError(format_message(
                ErrorCode.XML_ERROR, f"expecting root element of 'filter', not '{root.tag}'"),
                code=ErrorCode.XML_ERROR, domain=_DOMAIN)
        return cls.from_element(root)

    @classmethod
    def from_element(cls, el: Element) -> NWFilterDef:
        name = el.get("name")
        if not name:
            raise nwfilter_error(ErrorCode.INTERNAL_ERROR, "filter has no name")
        d = cls(name)
        prio_s = el.get("priority")
        prio = None
        if prio_s:
            m = re.fullmatch(r"\s*([+-]?\d+)", prio_s)
            if not m:
                raise VirtError(f"Could not parse chain priority '{prio_s}'",
                                code=ErrorCode.INVALID_ARG, domain=_DOMAIN)
            prio = int(m.group(1))
            if not MIN_FILTER_PRIORITY <= prio <= MAX_FILTER_PRIORITY:
                raise VirtError(
                    f"Priority '{prio}' is outside valid range of "
                    f"[{MIN_FILTER_PRIORITY},{MAX_FILTER_PRIORITY}]",
                    code=ErrorCode.INVALID_ARG, domain=_DOMAIN)
        chain = el.get("chain")
        if chain:
            prefix = _allowed_chain(chain)
            d.chain = chain
            d.priority = prio if prio is not None else CHAIN_PRIORITIES.get(prefix, 0)
        uuid_el = el.find("uuid")
        if uuid_el is not None and uuid_el.text:
            canon = parse_uuid(uuid_el.text)
            if canon is None:
                raise nwfilter_error(ErrorCode.XML_ERROR, "malformed uuid element")
            d.uuid = canon
        else:
            d.uuid_specified = False
        for c in el:
            if c.tag == "rule":
                d.entries.append(Rule.from_element(c))
            elif c.tag == "filterref":
                d.entries.append(FilterRef.from_element(c))
        return d

    def to_xml(self) -> str:
        out = [f"<filter name='{escape_attr(self.name)}' chain='{escape_attr(self.chain)}'"]
        if self.priority != 0:
            out.append(f" priority='{self.priority}'")
        out.append(">\n")
        out.append(f"  <uuid>{self.uuid}</uuid>\n")
        for entry in self.entries:
            entry.write(out, "  ")
        out.append("</filter>\n")
        return "".join(out)

    def rules(self) -> list[Rule]:
        return [e for e in self.entries if isinstance(e, Rule)]

    def refs(self) -> list[FilterRef]:
        return [e for e in self.entries if isinstance(e, FilterRef)]

    @property
    def chain_prefix(self) -> str:
        """The chain type this filter's chain belongs to (``root``, ``mac``, ...)."""
        return _allowed_chain(self.chain)


def walk_refs(defs: Callable[[str], NWFilterDef | None], start: str) -> Iterable[str]:
    """Names of the filters reachable from ``start`` through filterrefs (``start`` included)."""
    seen: list[str] = []
    stack = [start]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.append(name)
        d = defs(name)
        if d is not None:
            stack.extend(r.filter for r in reversed(d.refs()))
    return seen
