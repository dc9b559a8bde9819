"""The filters every libvirt node has (libvirt ships them as files; here they are data).

Each entry is written in a compact form and turned into a ``<filter>`` document:
``(name, chain, priority, entries)``, where an entry is ``"ref:NAME"`` for a
filterref or ``(action, direction, priority, protocol_element)`` for a rule
(``priority`` None = libvirt's default 500; ``protocol_element`` None = no match).
Their UUIDs are derived from their names so they stay the same across restarts.
"""

from __future__ import annotations

import uuid
from functools import lru_cache

from virtkit.conf.nwfilter import NWFilterDef

_NS = uuid.UUID("6d3e0b1c-1f0e-4b8e-9a43-8b7a1d0f5c21")

_Rule = tuple[str, str, int | None, str | None]
_Entry = str | _Rule

_DHCP_OUT = ("accept", "out", 100, "ip srcipaddr='0.0.0.0' dstipaddr='255.255.255.255' "
             "protocol='udp' srcportstart='68' dstportstart='67'")
_DHCP6_OUT = ("accept", "out", 100, "ipv6 protocol='udp' srcipaddr='fe80::' srcipmask='10' "
              "dstipaddr='ff02::1:2' srcportstart='546' dstportstart='547'")

STANDARD: list[tuple[str, str | None, int | None, list[_Entry]]] = [
    ("allow-arp", "arp", None, [("accept", "inout", None, None)]),
    ("allow-dhcp", "ipv4", None, [
        _DHCP_OUT,
        ("accept", "in", 100, "ip protocol='udp' srcportstart='67' dstportstart='68'")]),
    ("allow-dhcp-server", "ipv4", None, [
        _DHCP_OUT,
        ("accept", "in", 100,
         "ip srcipaddr='$DHCPSERVER' protocol='udp' srcportstart='67' dstportstart='68'")]),
    ("allow-dhcpv6", "ipv6", None, [
        _DHCP6_OUT,
        ("accept", "in", 100, "ipv6 protocol='udp' srcportstart='547' dstportstart='546'")]),
    ("allow-dhcpv6-server", "ipv6", None, [
        _DHCP6_OUT,
        ("accept", "in", 100,
         "ipv6 srcipaddr='$DHCPSERVER' protocol='udp' srcportstart='547' dstportstart='546'")]),
    ("allow-incoming-ipv4", "ipv4", None, [("accept", "in", None, None)]),
    ("allow-incoming-ipv6", "ipv6", None, [("accept", "in", None, None)]),
    ("allow-ipv4", "ipv4", None, [("accept", "inout", None, None)]),
    ("allow-ipv6", "ipv6", None, [("accept", "inout", None, None)]),
    ("clean-traffic", "root", None, [
        "ref:no-mac-spoofing", "ref:no-ip-spoofing",
        ("accept", "out", -650, "mac protocolid='ipv4'"),
        "ref:allow-incoming-ipv4", "ref:no-arp-spoofing",
        ("accept", "inout", -500, "mac protocolid='arp'"),
        "ref:no-other-l2-traffic", "ref:qemu-announce-self"]),
    ("clean-traffic-gateway", None, None, [
        "ref:no-mac-spoofing", "ref:no-ip-spoofing", "ref:no-arp-spoofing",
        ("accept", "inout", -500, "mac protocolid='arp'"),
        ("accept", "in", None, "mac srcmacaddr='$GATEWAY_MAC'"),
        ("accept", "out", None, "mac dstmacaddr='$GATEWAY_MAC'"),
        "ref:no-other-l2-traffic", "ref:qemu-announce-self"]),
    ("no-arp-ip-spoofing", "arp-ip", -510, [
        ("return", "out", 400, "arp arpsrcipaddr='$IP'"),
        ("drop", "out", 1000, None)]),
    ("no-arp-mac-spoofing", "arp-mac", -520, [
        ("return", "out", 350, "arp arpsrcmacaddr='$MAC'"),
        ("drop", "out", 1000, None)]),
    ("no-arp-spoofing", "root", None, ["ref:no-arp-mac-spoofing", "ref:no-arp-ip-spoofing"]),
    ("no-ip-multicast", "ipv4", None, [
        ("drop", "out", None, "ip dstipaddr='224.0.0.0' dstipmask='4'")]),
    ("no-ip-spoofing", "ipv4-ip", -710, [
        ("return", "out", 100, "ip srcipaddr='0.0.0.0' protocol='udp'"),
        ("return", "out", 500, "ip srcipaddr='$IP'"),
        ("drop", "out", 1000, None)]),
    ("no-ipv6-multicast", "ipv6", None, [
        ("drop", "out", None, "ipv6 dstipaddr='ff00::' dstipmask='8'")]),
    ("no-ipv6-spoofing", "ipv6-ip", -610, [
        ("return", "out", 100, "ipv6 srcipaddr='fe80::' srcipmask='10' protocol='udp'"),
        ("return", "out", 500, "ipv6 srcipaddr='$IPV6'"),
        ("drop", "out", 1000, None)]),
    ("no-mac-broadcast", "ipv4", None, [
        ("drop", "out", None, "mac dstmacaddr='ff:ff:ff:ff:ff:ff'")]),
    ("no-mac-spoofing", "mac", -800, [
        ("return", "out", None, "mac srcmacaddr='$MAC'"),
        ("drop", "out", None, "mac")]),
    ("no-other-l2-traffic", None, None, [("drop", "inout", 1000, None)]),
    ("no-other-rarp-traffic", "rarp", None, [("drop", "inout", 1000, None)]),
    ("qemu-announce-self", "root", None, [
        ("accept", "out", None, "mac protocolid='0x835'"),
        "ref:qemu-announce-self-rarp", "ref:no-other-rarp-traffic"]),
    ("qemu-announce-self-rarp", "rarp", None, [
        ("accept", "out", 500,
         "rarp opcode='Request_Reverse' srcmacaddr='$MAC' dstmacaddr='ff:ff:ff:ff:ff:ff' "
         "arpsrcmacaddr='$MAC' arpdstmacaddr='$MAC' arpsrcipaddr='0.0.0.0' "
         "arpdstipaddr='0.0.0.0'"),
        ("accept", "in", 500,
         "rarp opcode='Request_Reverse' dstmacaddr='ff:ff:ff:ff:ff:ff' arpsrcmacaddr='$MAC' "
         "arpdstmacaddr='$MAC' arpsrcipaddr='0.0.0.0' arpdstipaddr='0.0.0.0'")]),
]


def standard_uuid(name: str) -> str:
    """The fixed UUID of a standard filter."""
    return str(uuid.uuid5(_NS, name))


def _document(name: str, chain: str | None, priority: int | None, entries: list[_Entry]) -> str:
    head = f"<filter name='{name}'"
    if chain:
        head += f" chain='{chain}'"
    if priority is not None:
        head += f" priority='{priority}'"
    lines = [head + ">", f"<uuid>{standard_uuid(name)}</uuid>"]
    for e in entries:
        if isinstance(e, str):
            lines.append(f"<filterref filter='{e.removeprefix('ref:')}'/>")
            continue
        action, direction, prio, element = e
        rule = f"<rule action='{action}' direction='{direction}'"
        if prio is not None:
            rule += f" priority='{prio}'"
        lines.append(rule + (f"><{element}/></rule>" if element else "/>"))
    lines.append("</filter>")
    return "\n".join(lines)


@lru_cache(maxsize=1)
def _documents() -> dict[str, str]:
    return {n: NWFilterDef.from_xml(_document(n, c, p, e)).to_xml() for n, c, p, e in STANDARD}


def standard_filters() -> dict[str, NWFilterDef]:
    """Fresh definitions of every standard filter, by name."""
    return {name: NWFilterDef.from_xml(xml) for name, xml in _documents().items()}
