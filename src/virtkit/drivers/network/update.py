"""virNetworkUpdate on a network definition: libvirt's virNetworkDefUpdateSection.

Supported sections: ``ip-dhcp-host``, ``ip-dhcp-range``, ``dns-host``, ``dns-txt``,
``dns-srv`` and ``portgroup``; the others raise libvirt's "can't update 'X' section".
The definition is changed in place: callers work on a copy.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from virtkit.conf.network import Dhcp as DhcpModel
from virtkit.conf.network import (
    DhcpHost,
    DhcpRange,
    Dns,
    DnsHost,
    DnsSrv,
    DnsTxt,
    NetworkDef,
    NetworkIP,
    PortGroup,
)
from virtkit.conf.xmlutil import parse_xml
from virtkit.drivers.network.dnsmasq import ip_interface
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
                  SECTION_FORWARD: "forward", SECTION_FORWARD_INTERFACE: "forward interface",
                  SECTION_FORWARD_PF: "forward pf"}
_NET = ErrorDomain.NETWORK


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _NET, detail)


def _invalid(detail: str) -> VirtError:
    return _err(ErrorCode.OPERATION_INVALID, detail)


def _unknown_command(command: int) -> VirtError:
    return _err(ErrorCode.OPERATION_UNSUPPORTED,
                f"unrecognized network update command code {command}")


def apply_update(d: NetworkDef, command: int, section: int, parent_index: int, xml: str) -> None:
    """Apply one update to ``d`` (in place) or raise libvirt's error."""
    root = parse_xml(xml, "network_update_xml", _NET)
    name = d.name or ""
    if section in _SECTION_NAMES:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   f"can't update '{_SECTION_NAMES[section]}' section of network '{name}'")
    handlers = {SECTION_DHCP_HOST: _dhcp_host, SECTION_DHCP_RANGE: _dhcp_range,
                SECTION_DNS_HOST: _dns_host, SECTION_DNS_TXT: _dns_txt,
                SECTION_DNS_SRV: _dns_srv, SECTION_PORTGROUP: _portgroup}
    handler = handlers.get(section)
    if handler is None:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "can't update unrecognized section of network")
    handler(d, command, parent_index, root)


def _check_name(d: NetworkDef, el: Any, expected: str) -> None:
    if el.tag != expected:
        raise _err(ErrorCode.XML_ERROR,
                   f"unexpected element <{el.tag}>, expecting <{expected}>, "
                   f"while updating network '{d.name}'")


def _ip_by_index(d: NetworkDef, parent_index: int) -> NetworkIP:
    """libvirt's virNetworkIPDefByIndex: the given <ip>, or the one with DHCP."""
    if parent_index >= 0:
        if parent_index < len(d.ips):
            return d.ips[parent_index]
        raise _invalid(f"couldn't update dhcp host entry - no <ip> element found at index "
                       f"{parent_index} in network '{d.name}'")
    for ip in d.ips:
        if ip.dhcp is not None and (ip.dhcp.ranges or ip.dhcp.hosts):
            return ip
    for version in (4, 6):
        for ip in d.ips:
            if ip_interface(ip).version == version:
                return ip
    raise _invalid(f"couldn't update dhcp host entry - no <ip> element found in network "
                   f"'{d.name}'")


def _check_multi_dhcp(d: NetworkDef, ipdef: NetworkIP) -> None:
    version = ip_interface(ipdef).version
    for ip in d.ips:
        if ip is ipdef or ip_interface(ip).version != version:
            continue
        if ip.dhcp is not None and (ip.dhcp.ranges or ip.dhcp.hosts):
            fam = "IPv4" if version == 4 else "IPv6"
            raise _invalid(f"dhcp is supported only for a single {fam} address on each network")


def _dhcp(ip: NetworkIP) -> DhcpModel:
    if ip.dhcp is None:
        ip.dhcp = DhcpModel()
    return ip.dhcp


def _same_ip(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def _dhcp_host(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    _check_name(d, el, "host")
    ipdef = _ip_by_index(d, parent_index)
    host = DhcpHost.from_element(el)
    if host.mac:
        host.mac = host.mac.lower()
    partial = command == DELETE
    v6 = ip_interface(ipdef).version == 6
    if not partial:
        if not host.ip:
            raise _err(ErrorCode.XML_ERROR,
                       f"Missing IP address in static host definition for network '{d.name}'")
        try:
            host_v6 = ipaddress.ip_address(host.ip).version == 6
        except ValueError:
            raise _err(ErrorCode.XML_ERROR,
                       f"Invalid IP address in static host definition for network '{d.name}'"
                       ) from None
        if host_v6 != v6:
            raise _invalid("the address family of a host entry IP must match the address "
                           "family of the dhcp element's parent")
        if not v6 and not host.mac and not host.name:
            raise _err(ErrorCode.XML_ERROR,
                       f"Static host definition in IPv4 network '{d.name}' must have mac "
                       "or name attribute")
    hosts = _dhcp(ipdef).hosts

    def mac_eq(h: DhcpHost) -> bool:
        return bool(host.mac and h.mac and host.mac == h.mac.lower())

    if command == MODIFY:
        for i, h in enumerate(hosts):
            if mac_eq(h) or _same_ip(host.ip, h.ip) or (host.name and host.name == h.name):
                hosts[i] = host
                return
        raise _invalid(f"couldn't locate an existing dhcp host entry with \"mac='"
                       f"{host.mac or 'unknown'}'\" \"name='{host.name}'\" \"ip='"
                       f"{host.ip or 'unknown'}'\" in network '{d.name}'")
    if command in (ADD_FIRST, ADD_LAST):
        _check_multi_dhcp(d, ipdef)
        for h in hosts:
            if mac_eq(h) or (host.name and host.name == h.name) or _same_ip(host.ip, h.ip):
                raise _invalid(f"there is an existing dhcp host entry in network '{d.name}' "
                               f"that matches \"<host mac='{host.mac or 'unknown'}' "
                               f"name='{host.name}' ip='{host.ip or 'unknown'}'/>\"")
        hosts.insert(0 if command == ADD_FIRST else len(hosts), host)
        return
    if command == DELETE:
        for i, h in enumerate(hosts):
            if ((not host.mac or not h.mac or host.mac == h.mac.lower())
                    and (not host.name or host.name == h.name)
                    and (not host.ip or _same_ip(host.ip, h.ip))):
                del hosts[i]
                return
        raise _invalid(f"couldn't locate a matching dhcp host entry in network '{d.name}'")
    raise _unknown_command(command)


def _dhcp_range(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    _check_name(d, el, "range")
    ipdef = _ip_by_index(d, parent_index)
    rng = DhcpRange.from_element(el)
    try:
        start, end = ipaddress.ip_address(rng.start or ""), ipaddress.ip_address(rng.end or "")
    except ValueError:
        raise _err(ErrorCode.XML_ERROR,
                   f"Invalid dhcp range in network '{d.name}'") from None
    if command == MODIFY:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "dhcp ranges cannot be modified, only added or deleted")
    net = ip_interface(ipdef).network
    if (start.version != net.version or end.version != net.version or start not in net
            or end not in net or int(end) < int(start)):
        raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                   f"range {start} - {end} is not entirely within network {net} "
                   f"of network '{d.name}'")
    ranges = _dhcp(ipdef).ranges
    found = next((i for i, r in enumerate(ranges)
                  if _same_ip(r.start, str(start)) and _same_ip(r.end, str(end))), None)
    if command in (ADD_FIRST, ADD_LAST):
        _check_multi_dhcp(d, ipdef)
        if found is not None:
            raise _invalid(f"there is an existing dhcp range entry in network '{d.name}' "
                           f"that matches \"<range start='{start}' end='{end}'/>\"")
        ranges.insert(0 if command == ADD_FIRST else len(ranges), rng)
    elif command == DELETE:
        if found is None:
            raise _invalid(f"couldn't locate a matching dhcp range entry in network '{d.name}'")
        del ranges[found]
    else:
        raise _unknown_command(command)


def _dns(d: NetworkDef) -> Dns:
    if d.dns is None:
        d.dns = Dns()
    return d.dns


def _dns_host(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    if command == MODIFY:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "DNS HOST records cannot be modified, only added or deleted")
    _check_name(d, el, "host")
    host = DnsHost.from_element(el)
    is_add = command in (ADD_FIRST, ADD_LAST)
    if is_add and (not host.ip or not host.hostnames):
        raise _err(ErrorCode.XML_DETAIL,
                   f"Missing IP address or hostname in network '{d.name}' DNS HOST record")
    hosts = _dns(d).hosts
    found = [i for i, h in enumerate(hosts)
             if _same_ip(host.ip, h.ip)
             or (not is_add and set(host.hostnames) & set(h.hostnames))]
    if is_add:
        if found:
            raise _invalid("there is already at least one DNS HOST record with a matching "
                           f"field in network {d.name}")
        hosts.insert(0 if command == ADD_FIRST else len(hosts), host)
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
    txt = DnsTxt.from_element(el)
    txts = _dns(d).txts
    found = [i for i, t in enumerate(txts) if t.name == txt.name]
    if command in (ADD_FIRST, ADD_LAST):
        if found:
            raise _invalid(f"there is already a DNS TXT record with name '{txt.name}' in "
                           f"network {d.name}")
        txts.insert(0 if command == ADD_FIRST else len(txts), txt)
    elif command == DELETE:
        if not found:
            raise _invalid(f"couldn't locate a matching DNS TXT record in network {d.name}")
        del txts[found[0]]
    else:
        raise _unknown_command(command)


def _dns_srv(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    if command == MODIFY:
        raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                   "DNS SRV records cannot be modified, only added or deleted")
    _check_name(d, el, "srv")
    srv = DnsSrv.from_element(el)
    srvs = _dns(d).srvs
    keys = ("service", "protocol", "domain", "target", "port", "priority", "weight")
    found = [i for i, s in enumerate(srvs)
             if all(getattr(srv, k) is None or getattr(srv, k) == getattr(s, k) for k in keys)]
    if command in (ADD_FIRST, ADD_LAST):
        if found:
            raise _invalid(f"there is already at least one DNS SRV record matching all "
                           f"specified fields in network {d.name}")
        srvs.insert(0 if command == ADD_FIRST else len(srvs), srv)
    elif command == DELETE:
        if not found:
            raise _invalid(f"couldn't locate a matching DNS SRV record in network {d.name}")
        if len(found) > 1:
            raise _invalid(f"multiple DNS SRV records matching all specified fields were "
                           f"found in network {d.name}")
        del srvs[found[0]]
    else:
        raise _unknown_command(command)


def _portgroup(d: NetworkDef, command: int, parent_index: int, el: Any) -> None:
    _check_name(d, el, "portgroup")
    pg = PortGroup.from_element(el)
    groups = d.portgroups
    found = next((i for i, g in enumerate(groups) if g.name == pg.name), None)
    if command == MODIFY:
        if found is None:
            raise _invalid(f"couldn't find a portgroup entry in network '{d.name}' "
                           f"matching <portgroup name='{pg.name}'>")
        groups[found] = pg
    elif command in (ADD_FIRST, ADD_LAST):
        if found is not None:
            raise _invalid(f"there is an existing portgroup entry in network '{d.name}' "
                           f"that matches \"<portgroup name='{pg.name}'>\"")
        groups.insert(0 if command == ADD_FIRST else len(groups), pg)
    elif command == DELETE:
        if found is None:
            raise _invalid(f"couldn't find a portgroup entry in network '{d.name}' "
                           f"matching <portgroup name='{pg.name}'>")
        del groups[found]
    else:
        raise _unknown_command(command)
    if pg.default == "yes" and command != DELETE:
        for g in groups:
            if g is not pg and g.default == "yes":
                raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                           f"network '{d.name}' has multiple default <portgroup> elements "
                           f"({g.name} and {pg.name}), but only one default is allowed")
