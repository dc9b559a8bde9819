"""virNetworkUpdate on a network definition: libvirt's virNetworkDefUpdateSection.

Supported sections: ``ip-dhcp-host``, ``ip-dhcp-range``, ``forward-interface``,
``portgroup``, ``dns-host``, ``dns-txt`` and ``dns-srv``; the others (``bridge``,
``domain``, ``ip``, ``forward``, ``forward-pf``) raise libvirt's "can't update 'X'
section". The new element is checked as libvirt's parser checks it (same errors, same
order); addresses are stored as libvirt formats them. The definition is changed in
place: callers work on a copy.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any

from virtkit.conf.network import Dhcp as DhcpModel
from virtkit.conf.network import (
    DhcpHost,
    DhcpRange,
    Dns,
    DnsHost,
    DnsSrv,
    DnsTxt,
    ForwardInterface,
    Lease,
    NetworkDef,
    NetworkIP,
    PortGroup,
    generated_file_values,
    ip_interface,
)
from virtkit.conf.safechars import check_values
from virtkit.conf.xmlutil import parse_xml
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = [
    "ADD_FIRST",
    "ADD_LAST",
    "DELETE",
    "MODIFY",
    "SECTION_DHCP_HOST",
    "SECTION_DNS_HOST",
    "apply_update",
]

MODIFY, DELETE, ADD_LAST, ADD_FIRST = 1, 2, 3, 4
(SECTION_BRIDGE, SECTION_DOMAIN, SECTION_IP, SECTION_DHCP_HOST, SECTION_DHCP_RANGE,
 SECTION_FORWARD, SECTION_FORWARD_INTERFACE, SECTION_FORWARD_PF, SECTION_PORTGROUP,
 SECTION_DNS_HOST, SECTION_DNS_TXT, SECTION_DNS_SRV) = range(1, 13)
# Sections whose change needs dnsmasq restarted (its config file), or only SIGHUP.
RESTART_SECTIONS = frozenset({SECTION_DHCP_RANGE, SECTION_DNS_TXT, SECTION_DNS_SRV})
RELOAD_SECTIONS = frozenset({SECTION_DHCP_HOST, SECTION_DNS_HOST})

_SECTION_NAMES = {SECTION_BRIDGE: "bridge", SECTION_DOMAIN: "domain", SECTION_IP: "ip",
                  SECTION_FORWARD: "forward", SECTION_FORWARD_PF: "forward pf"}
_NET = ErrorDomain.NETWORK
_ADDS = (ADD_FIRST, ADD_LAST)
_XML_CONTEXT = "network_update_xml"
# DNS_RECORD_LENGTH_SRV and the characters libvirt allows in SRV names.
_SRV_MAX = 512 - 30
_SERVICE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/*")
_PROTOCOL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+/")
_LEASE_UNITS = ("seconds", "minutes", "hours")

Addr = ipaddress.IPv4Address | ipaddress.IPv6Address


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _NET, detail)


def _invalid(detail: str) -> VirtError:
    return _err(ErrorCode.OPERATION_INVALID, detail)


def _xml(detail: str) -> VirtError:
    return _err(ErrorCode.XML_ERROR, detail)


def _prop(detail: str) -> VirtError:
    """An attribute error of virxml.c's virXMLProp* helpers (error domain XML)."""
    return make_error(ErrorCode.XML_ERROR, ErrorDomain.XML, detail)


def _detail(detail: str) -> VirtError:
    return _err(ErrorCode.XML_DETAIL, detail)


def _unknown_command(command: int) -> VirtError:
    return _err(ErrorCode.OPERATION_UNSUPPORTED,
                f"unrecognized network update command code {command}")


def _s(value: str | None) -> str:
    """A C string as libvirt's printf writes it (NULL is "(null)")."""
    return "(null)" if value is None else value


def _insert(items: list[Any], item: Any, command: int) -> None:
    items.insert(0 if command == ADD_FIRST else len(items), item)


def apply_update(d: NetworkDef, command: int, section: int, parent_index: int, xml: str) -> None:
    """Apply one update to ``d`` (in place) or raise libvirt's error."""
    try:
        root = parse_xml(xml, _XML_CONTEXT, _NET)
    except VirtError as e:
        # libvirt names this document without the parentheses of its other contexts.
        if e.code != ErrorCode.XML_DETAIL:
            raise
        raise make_error(e.code, e.domain,
                         e.message.replace(f"({_XML_CONTEXT}):", f"{_XML_CONTEXT}:", 1)) from None
    name = d.name or ""
    if section in _SECTION_NAMES:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   f"can't update '{_SECTION_NAMES[section]}' section of network '{name}'")
    handlers = {SECTION_DHCP_HOST: _dhcp_host, SECTION_DHCP_RANGE: _dhcp_range,
                SECTION_FORWARD_INTERFACE: _forward_interface, SECTION_PORTGROUP: _portgroup,
                SECTION_DNS_HOST: _dns_host, SECTION_DNS_TXT: _dns_txt, SECTION_DNS_SRV: _dns_srv}
    handler = handlers.get(section)
    if handler is None:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "can't update unrecognized section of network")
    handler(d, command, parent_index, root)
    check_values(generated_file_values(d), _NET)


# ----------------------------------------------------------------------------- parsing helpers


def _name_ok(d: NetworkDef, el: Any, expected: str) -> VirtError | None:
    if el.tag != expected:
        return _xml(f"unexpected element <{el.tag}>, expecting <{expected}>, "
                    f"while updating network '{d.name}'")
    return None


def _check_name(d: NetworkDef, el: Any, expected: str) -> None:
    error = _name_ok(d, el, expected)
    if error is not None:
        raise error


def parse_addr(text: str | None) -> Addr | None:
    """virSocketAddrParse(AF_UNSPEC): a numeric address as getaddrinfo reads it.

    IPv4 takes inet_aton's forms (``10.1``, octal ``010``, hex ``0x0a``) as glibc does.
    """
    if not text:
        return None
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def _sock_addr(text: str) -> Addr:
    """virSocketAddrParse with its own error (a system error, no error domain)."""
    addr = parse_addr(text)
    if addr is None:
        raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.NONE,
                         f"Cannot parse socket address '{text}': Name or service not known")
    return addr


def _family(ip: NetworkIP) -> int:
    addr = parse_addr(ip.address)
    return addr.version if addr is not None else 0


def mac_equal(a: str, b: str) -> bool:
    """virMacAddrCompare: equal ignoring case and leading zeros."""
    def norm(s: str) -> str:
        return re.sub(r"0+(?=[0-9a-fA-F])", "", s).lower()
    return norm(a) == norm(b)


def _mac_valid(mac: str) -> bool:
    """virMacAddrParse: six hex octets of one or two digits, colon separated."""
    return re.fullmatch(r"[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}(?:[\x00- ].*)?", mac,
                        re.DOTALL) is not None


def _parse_ull(text: str) -> int | None:
    """virStrToLong_ullp with base 0 (decimal, 0x hex or 0 octal; no sign)."""
    t = text.strip()
    try:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", t):
            return int(t, 16)
        if re.fullmatch(r"0[0-7]*", t):
            return int(t, 8)
        if re.fullmatch(r"[1-9][0-9]*", t):
            return int(t)
    except ValueError:
        pass
    return None


def _lease(el: Any) -> Lease | None:
    """virNetworkDHCPLeaseTimeDefParseXML on the ``<lease>`` children (the last one wins)."""
    lease: Lease | None = None
    for child in el:
        if child.tag != "lease":
            continue
        expiry_text = child.get("expiry")
        if expiry_text is None:
            continue
        expiry = _parse_ull(expiry_text)
        if expiry is None:
            raise _prop(f"Invalid value for attribute 'expiry' in element 'lease': "
                       f"'{expiry_text}'. Expected non-negative integer value")
        unit = child.get("unit")
        if unit is not None and unit not in _LEASE_UNITS:
            raise _prop(f"Invalid value for attribute 'unit' in element 'lease': '{unit}'.")
        unit = unit or "minutes"
        if expiry and ((unit == "seconds" and expiry < 120) or (unit == "minutes" and expiry < 2)):
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       "The minimum lease time should be greater than 2 minutes")
        lease = Lease()
        lease.expiry = str(expiry)
        lease.unit = unit if expiry else None
    return lease


# ----------------------------------------------------------------------------- ip-dhcp-*


def _ip_by_index(d: NetworkDef, parent_index: int) -> NetworkIP | VirtError:
    """virNetworkIPDefByIndex: the given <ip>, or the one with DHCP, or the first v4/v6."""
    if parent_index >= 0:
        if parent_index < len(d.ips):
            return d.ips[parent_index]
        return _invalid(f"couldn't update dhcp host entry - no <ip> element found at index "
                        f"{parent_index} in network '{d.name}'")
    for ip in d.ips:
        if ip.dhcp is not None and (ip.dhcp.ranges or ip.dhcp.hosts):
            return ip
    for version in (4, 6):
        for ip in d.ips:
            if _family(ip) == version:
                return ip
    return _invalid(f"couldn't update dhcp host entry - no <ip> element found in network "
                    f"'{d.name}'")


def _parent_ip(d: NetworkDef, parent_index: int, el: Any, expected: str) -> NetworkIP:
    # libvirt looks the <ip> up first, then checks the element name: the later error wins.
    ipdef = _ip_by_index(d, parent_index)
    _check_name(d, el, expected)
    if isinstance(ipdef, VirtError):
        raise ipdef
    return ipdef


def _check_multi_dhcp(d: NetworkDef, ipdef: NetworkIP) -> None:
    version = _family(ipdef)
    for ip in d.ips:
        if ip is ipdef or _family(ip) != version:
            continue
        if ip.dhcp is not None and (ip.dhcp.ranges or ip.dhcp.hosts):
            fam = "IPv4" if version == 4 else "IPv6"
            raise _invalid(f"dhcp is supported only for a single {fam} address on each network")


def _dhcp(ip: NetworkIP) -> DhcpModel:
    if ip.dhcp is None:
        ip.dhcp = DhcpModel()
    return ip.dhcp


def _drop_empty_dhcp(ip: NetworkIP) -> None:
    """libvirt writes no <dhcp> once its last range and host are gone."""
    if ip.dhcp is not None and ip.dhcp.is_empty() and ip.dhcp.bootp is None:
        ip.dhcp = None


def _parse_dhcp_host(d: NetworkDef, ipdef: NetworkIP, el: Any,
                     partial: bool) -> tuple[DhcpHost, Addr | None]:
    """virNetworkDHCPHostDefParseXML."""
    name = d.name
    v6 = _family(ipdef) == 6
    mac, hid, hname, ip = el.get("mac"), el.get("id"), el.get("name"), el.get("ip")
    if mac is not None:
        if v6:
            raise _xml(f"Invalid to specify MAC address '{mac}' in network '{name}' "
                       "IPv6 static host definition")
        if not _mac_valid(mac):
            raise _xml(f"Cannot parse MAC address '{mac}' in network '{name}'")
        if int(mac.split(":")[0], 16) & 1:
            raise _xml(f"expected unicast mac address, found multicast '{mac}' "
                       f"in network '{name}'")
    if hid is not None:
        bad = next((c for c in hid if c not in "0123456789abcdefABCDEF:"), None)
        if bad is not None:
            raise _xml(f"Invalid character '{bad}' in id '{hid}' of network '{name}'")
    if hname is not None and not (hname[:1].isascii() and hname[:1].isalnum()):
        raise _xml(f"Cannot use host name '{hname}' in network '{name}'")
    addr = None
    if ip is not None:
        addr = parse_addr(ip)
        if addr is None:
            raise _xml(f"Invalid IP address in static host definition for network '{name}'")
    if partial:
        if not (mac or hname or ip):
            raise _xml("At least one of name, mac, or ip attribute must be specified for "
                       f"static host definition in network '{name}' ")
    else:
        if v6:
            if not (hid or hname):
                raise _xml(f"Static host definition in IPv6 network '{name}' "
                           "must have id or name attribute")
        elif not (mac or hname):
            raise _xml(f"Static host definition in IPv4 network '{name}' "
                       "must have mac or name attribute")
        if ip is None:
            raise _xml(f"Missing IP address in static host definition for network '{name}'")
    host = DhcpHost()
    host.mac, host.id, host.name = mac, hid, hname
    host.ip = str(addr) if addr is not None else None
    host.lease = _lease(el)
    return host, addr


def _dhcp_host(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    ipdef = _parent_ip(d, parent_index, el, "host")
    partial = command == DELETE
    host, addr = _parse_dhcp_host(d, ipdef, el, partial)
    if not partial and (addr.version if addr else 0) != _family(ipdef):
        raise _invalid("the address family of a host entry IP must match the address "
                       "family of the dhcp element's parent")
    hosts = _dhcp(ipdef).hosts
    mac = host.mac
    ip_text = str(addr) if addr is not None else "unknown"

    def same_mac(h: DhcpHost) -> bool:
        return bool(mac and h.mac and mac_equal(mac, h.mac))

    def same_ip(h: DhcpHost) -> bool:
        return addr is not None and parse_addr(h.ip) == addr

    if mac is not None:
        # Stored lower case, as virtkit's parser stores every DHCP host MAC.
        host.mac = mac.lower()
    if command == MODIFY:
        for i, h in enumerate(hosts):
            if same_mac(h) or same_ip(h) or (host.name and host.name == h.name):
                hosts[i] = host
                return
        raise _invalid(f"couldn't locate an existing dhcp host entry with \"mac='"
                       f"{mac or 'unknown'}'\" \"name='{_s(host.name)}'\" \"ip='"
                       f"{ip_text}'\" in network '{d.name}'")
    if command in _ADDS:
        _check_multi_dhcp(d, ipdef)
        for h in hosts:
            if same_mac(h) or (host.name and host.name == h.name) or same_ip(h):
                raise _invalid(f"there is an existing dhcp host entry in network '{d.name}' "
                               f"that matches \"<host mac='{mac or 'unknown'}' "
                               f"name='{_s(host.name)}' ip='{ip_text}'/>\"")
        _insert(hosts, host, command)
        return
    if command == DELETE:
        for i, h in enumerate(hosts):
            if ((not mac or not h.mac or mac_equal(mac, h.mac))
                    and (not host.name or host.name == h.name)
                    and (addr is None or same_ip(h))):
                del hosts[i]
                _drop_empty_dhcp(ipdef)
                return
        raise _invalid(f"couldn't locate a matching dhcp host entry in network '{d.name}'")
    raise _unknown_command(command)


def _check_range(start: Addr, end: Addr, ipdef: NetworkIP) -> None:
    """virSocketAddrGetRange's checks of a range inside its network."""
    def internal(detail: str) -> VirtError:
        return make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE, detail)

    if start.version != end.version:
        raise internal(f"mismatch of address family in range {start} - {end}")
    iface = ip_interface(ipdef)
    net_str = str(iface.ip)
    if start.version != iface.version:
        raise internal(f"mismatch of address family in range {start} - {end} "
                       f"for network {net_str}")
    net, plen = iface.network, iface.network.prefixlen
    if start not in net or end not in net:
        raise internal(f"range {start} - {end} is not entirely within network "
                       f"{net_str}/{plen}")
    if start.version == 4:
        if start == net.network_address:
            raise internal(f"start of range {start} - {end} in network {net_str}/{plen} "
                           "is the network address")
        if end == net.broadcast_address:
            raise internal(f"end of range {start} - {end} in network {net_str}/{plen} "
                           "is the broadcast address")
        if int(start) >> 16 != int(end) >> 16:
            raise internal(f"range {start} - {end} is too large (> 65535)")
        if int(end) < int(start):
            raise internal(f"range {start} - {end} is reversed ")
    else:
        if int(start) >> 16 != int(end) >> 16:
            raise internal(f"range {start} - {end} is too large (> 65535)")
        if int(end) < int(start):
            raise internal(f"range {start} - {end} start larger than end")


def _dhcp_range(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    ipdef = _parent_ip(d, parent_index, el, "range")
    if command == MODIFY:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "dhcp ranges cannot be modified, only added or deleted")
    start_text, end_text = el.get("start"), el.get("end")
    if start_text is None:
        raise _xml(f"Missing 'start' attribute in dhcp range for network '{d.name}'")
    start = _sock_addr(start_text)
    if end_text is None:
        raise _xml(f"Missing 'end' attribute in dhcp range for network '{d.name}'")
    end = _sock_addr(end_text)
    _check_range(start, end, ipdef)
    rng = DhcpRange()
    rng.start, rng.end = str(start), str(end)
    rng.lease = _lease(el)
    ranges = _dhcp(ipdef).ranges
    found = next((i for i, r in enumerate(ranges)
                  if parse_addr(r.start) == start and parse_addr(r.end) == end), None)
    if command in _ADDS:
        _check_multi_dhcp(d, ipdef)
        if found is not None:
            raise _invalid(f"there is an existing dhcp range entry in network '{d.name}' "
                           f"that matches \"<range start='{start}' end='{end}'/>\"")
        _insert(ranges, rng, command)
    elif command == DELETE:
        if found is None:
            raise _invalid(f"couldn't locate a matching dhcp range entry in network '{d.name}'")
        del ranges[found]
        _drop_empty_dhcp(ipdef)
    else:
        raise _unknown_command(command)


# ----------------------------------------------------------------------------- forward-interface


def _forward_interface(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    _check_name(d, el, "interface")
    if command == MODIFY:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "forward interface entries cannot be modified, only added or deleted")
    dev = el.get("dev")
    if dev is None:
        raise _xml("missing dev attribute in <interface> element")
    fwd = d.forward
    # An isolated network has no <forward> to write the pool into (libvirt keeps it unseen).
    ifaces = fwd.interfaces if fwd is not None else []
    found = next((i for i, f in enumerate(ifaces) if f.dev == dev), None)
    if command in _ADDS:
        if found is not None:
            raise _invalid(f"there is an existing interface entry in network '{d.name}' "
                           f"that matches \"<interface dev='{dev}'>\"")
        iface = ForwardInterface()
        iface.dev = dev
        _insert(ifaces, iface, command)
    elif command == DELETE:
        if found is None:
            raise _invalid(f"couldn't find an interface entry in network '{d.name}' "
                           f"matching <interface dev='{dev}'>")
        used = ifaces[found].connections
        if used and used.isdigit() and int(used) > 0:
            raise _invalid(f"unable to delete interface '{dev}' in network '{d.name}'. "
                           f"It is currently being used  by {int(used)} domains.")
        del ifaces[found]
    else:
        raise _unknown_command(command)
    if fwd is not None:
        # libvirt has no separate <forward dev>: it is the first interface of the pool.
        fwd.dev = ifaces[0].dev if ifaces and not fwd.pfs else None


# ----------------------------------------------------------------------------- portgroup


def _portgroup(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    _check_name(d, el, "portgroup")
    if not el.get("name"):
        raise _xml("Missing required name attribute in portgroup")
    trust = el.get("trustGuestRxFilters")
    if trust is not None and trust not in ("yes", "no"):
        raise _prop("Invalid value for attribute 'trustGuestRxFilters' in element "
                   f"'portgroup': '{trust}'.")
    pg = PortGroup.from_element(el)
    is_default = (pg.default or "").lower() == "yes"
    pg.default = "yes" if is_default else None
    groups = d.portgroups
    found = next((i for i, g in enumerate(groups) if g.name == pg.name), None)
    default = next((i for i, g in enumerate(groups) if g.default == "yes"), None)
    if found is None and command in (MODIFY, DELETE):
        raise _invalid(f"couldn't find a portgroup entry in network '{d.name}' "
                       f"matching <portgroup name='{pg.name}'>")
    if found is not None and command in _ADDS:
        raise _invalid(f"there is an existing portgroup entry in network '{d.name}' "
                       f"that matches \"<portgroup name='{pg.name}'>\"")
    if command != DELETE and is_default and default is not None and default != found:
        raise _invalid(f"a different portgroup entry in network '{d.name}' is already set "
                       "as the default. Only one default is allowed.")
    if command == MODIFY:
        assert found is not None
        groups[found] = pg
    elif command in _ADDS:
        _insert(groups, pg, command)
    elif command == DELETE:
        assert found is not None
        del groups[found]
    else:
        raise _unknown_command(command)


# ----------------------------------------------------------------------------- dns


def _dns(d: NetworkDef) -> Dns:
    if d.dns is None:
        d.dns = Dns()
    return d.dns


def _parse_dns_host(d: NetworkDef, el: Any, partial: bool) -> tuple[DnsHost, Addr | None]:
    """virNetworkDNSHostDefParseXML."""
    ip = el.get("ip")
    if ip is None and not partial:
        raise _detail(f"Missing IP address in network '{d.name}' DNS HOST record")
    addr = None
    if ip is not None:
        addr = parse_addr(ip)
        if addr is None:
            raise _detail(f"Invalid IP address in network '{d.name}' DNS HOST record")
    names: list[str] = []
    for child in el:
        if child.tag == "hostname" and len(child) + len(child.text or "") > 0:
            text = "".join(child.itertext())
            if not text:
                raise _detail(f"Missing hostname in network '{d.name}' DNS HOST record")
            names.append(text)
    if not names and not partial:
        raise _detail(f"Missing hostname in network '{d.name}' DNS HOST record")
    if addr is None and not names:
        raise _detail(f"Missing ip and hostname in network '{d.name}' DNS HOST record")
    host = DnsHost()
    host.ip = str(addr) if addr is not None else None
    host.hostnames = names
    return host, addr


def _dns_host(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    if command == MODIFY:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "DNS HOST records cannot be modified, only added or deleted")
    _check_name(d, el, "host")
    is_add = command in _ADDS
    host, addr = _parse_dns_host(d, el, not is_add)
    hosts = _dns(d).hosts
    found = [i for i, h in enumerate(hosts)
             if (addr is not None and parse_addr(h.ip) == addr)
             or (not is_add and set(host.hostnames) & set(h.hostnames))]
    if is_add:
        if found:
            raise _invalid("there is already at least one DNS HOST record with a matching "
                           f"field in network {d.name}")
        _insert(hosts, host, command)
    elif command == DELETE:
        if not found:
            raise _invalid(f"couldn't locate a matching DNS HOST record in network {d.name}")
        if len(found) > 1:
            raise _invalid(f"multiple matching DNS HOST records were found in network {d.name}")
        del hosts[found[0]]
    else:
        raise _unknown_command(command)


def _dns_txt(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    if command == MODIFY:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "DNS TXT records cannot be modified, only added or deleted")
    _check_name(d, el, "txt")
    is_add = command in _ADDS
    name, value = el.get("name"), el.get("value")
    if name is None:
        raise _detail(f"missing required name attribute in DNS TXT record of network {d.name}")
    if " " in name or "," in name:
        raise _detail(f"prohibited character in DNS TXT record name '{name}' of network {d.name}")
    if value is None and is_add:
        raise _detail(f"missing required value attribute in DNS TXT record named '{name}' "
                      f"of network {d.name}")
    txt = DnsTxt()
    txt.name, txt.value = name, value
    txts = _dns(d).txts
    found = next((i for i, t in enumerate(txts) if t.name == name), None)
    if is_add:
        if found is not None:
            raise _invalid(f"there is already a DNS TXT record with name '{name}' in "
                           f"network {d.name}")
        _insert(txts, txt, command)
    elif command == DELETE:
        if found is None:
            raise _invalid(f"couldn't locate a matching DNS TXT record in network {d.name}")
        del txts[found]
    else:
        raise _unknown_command(command)


def _srv_number(el: Any, attr: str) -> int | str | None:
    """virXPathUInt on ``@attr``: None if absent, "bad" if not a number."""
    text = el.get(attr)
    if not text:
        return None
    t = text.strip()
    if re.fullmatch(r"[0-9]+", t):
        return int(t)
    if re.fullmatch(r"-[0-9]+", t):
        return (1 << 32) + int(t) if -int(t) <= 0xFFFFFFFF else "bad"
    return "bad"


def _parse_dns_srv(d: NetworkDef, el: Any, partial: bool) -> DnsSrv:
    """virNetworkDNSSrvDefParseXML."""
    name = d.name
    service, protocol = el.get("service"), el.get("protocol")
    if service is None and not partial:
        raise _detail(f"missing required service attribute in DNS SRV record of network '{name}'")
    if service is not None:
        if len(service.encode()) > _SRV_MAX:
            raise _detail(f"service attribute '{service}' in network '{name}' is too long, "
                          f"limit is {_SRV_MAX} bytes")
        if any(c not in _SERVICE_CHARS for c in service):
            raise _detail(f"invalid character in service attribute '{service}' in DNS SRV "
                          f"record of network '{name}'")
    if protocol is None and not partial:
        raise _detail(f"missing required protocol attribute in DNS SRV record "
                      f"'{_s(service)}' of network '{name}'")
    if protocol is not None and any(c not in _PROTOCOL_CHARS for c in protocol):
        raise _detail(f"invalid character in protocol attribute '{protocol}' in DNS SRV "
                      f"record of network '{name}'")
    srv = DnsSrv()
    srv.service, srv.protocol = service, protocol
    srv.domain, srv.target = el.get("domain"), el.get("target")
    limits = (("port", "invalid", 1), ("priority", "Invalid", 0), ("weight", "invalid", 0))
    for attr, word, low in limits:
        value = _srv_number(el, attr)
        if value is not None and value != "bad" and srv.target is None:
            raise _detail(f"DNS SRV {attr} attribute not permitted without target for "
                          f"service '{_s(service)}' in network '{name}'")
        if value == "bad" or (isinstance(value, int) and not low <= value <= 65535):
            raise _detail(f"{word} DNS SRV {attr} attribute for service '{_s(service)}' "
                          f"in network '{name}'")
        # libvirt writes the number only when it is not 0.
        setattr(srv, attr, str(value) if isinstance(value, int) and value else None)
    return srv


def _dns_srv(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    if command == MODIFY:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "DNS SRV records cannot be modified, only added or deleted")
    _check_name(d, el, "srv")
    is_add = command in _ADDS
    srv = _parse_dns_srv(d, el, not is_add)
    srvs = _dns(d).srvs
    keys = ("domain", "service", "protocol", "target")
    found = [i for i, s in enumerate(srvs)
             if all(getattr(srv, k) is None or getattr(srv, k) == getattr(s, k) for k in keys)]
    if is_add:
        if found:
            raise _invalid(f"there is already at least one DNS SRV record matching all "
                           f"specified fields in network {d.name}")
        _insert(srvs, srv, command)
    elif command == DELETE:
        if not found:
            raise _invalid(f"couldn't locate a matching DNS SRV record in network {d.name}")
        if len(found) > 1:
            raise _invalid(f"multiple DNS SRV records matching all specified fields were "
                           f"found in network {d.name}")
        del srvs[found[0]]
    else:
        raise _unknown_command(command)
