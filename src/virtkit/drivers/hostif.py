"""The host's network interfaces, read through netlink (libvirt's interface driver, read-only).

What ``virsh iface-list``, ``iface-dumpxml``, ``iface-mac`` and ``iface-name``
show: every link of the host's network namespace, its MAC, whether it is up,
its addresses, and for a bridge the interfaces enslaved to it. Changing host
interfaces (define, start, destroy) is refused with VIR_ERR_NO_SUPPORT.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from virtkit.drivers.base import InterfaceDriver
from virtkit.errors import ErrorCode, ErrorDomain, invalid_flags, make_error
from virtkit.types import InterfaceIdent

__all__ = ["HostInterfaceDriver"]

_QUOTE = {"'": "&apos;"}

_IFF_UP = 0x1
_INACTIVE, _ACTIVE = 1, 2


def _links() -> list[dict[str, Any]]:
    """name, mac, up, kind, master, mtu, speed and addresses of every link."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        links = ipr.get_links()
        addrs = ipr.get_addr()
    by_index: dict[int, dict[str, Any]] = {}
    for link in links:
        info = link.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
        by_index[link["index"]] = {
            "name": link.get_attr("IFLA_IFNAME"),
            "mac": (link.get_attr("IFLA_ADDRESS") or "00:00:00:00:00:00").lower(),
            "up": bool(link["flags"] & _IFF_UP),
            "kind": kind,
            "master": link.get_attr("IFLA_MASTER"),
            "mtu": link.get_attr("IFLA_MTU"),
            "addrs": [],
        }
    for a in addrs:
        entry = by_index.get(a["index"])
        if entry is not None:
            family = "ipv4" if a["family"] == 2 else "ipv6"
            entry["addrs"].append((family, a.get_attr("IFA_ADDRESS"), a["prefixlen"]))
    for entry in by_index.values():
        master = entry["master"]
        entry["master_name"] = by_index[master]["name"] if master in by_index else None
    return list(by_index.values())


def _speed(name: str) -> int | None:
    try:
        with open(f"/sys/class/net/{name}/speed") as f:
            value = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return value if value > 0 else None


def _xml(link: dict[str, Any], links: list[dict[str, Any]], indent: str = "") -> str:
    kind = "bridge" if link["kind"] == "bridge" else "ethernet"
    name = link["name"]
    out = [f"{indent}<interface type='{kind}' name='{escape(name, _QUOTE)}'>"]
    if not indent:
        out.append(f"{indent}  <start mode='none'/>")
    if kind == "ethernet":
        out.append(f"{indent}  <mac address='{link['mac']}'/>")
    speed = _speed(name)
    state = "up" if link["up"] else "down"
    out.append(f"{indent}  <link speed='{speed}' state='{state}'/>" if speed
               else f"{indent}  <link state='{state}'/>")
    if link["mtu"] and not indent:
        out.append(f"{indent}  <mtu size='{link['mtu']}'/>")
    for family in ("ipv4", "ipv6"):
        ips = [(a, p) for f, a, p in link["addrs"] if f == family]
        if ips:
            out.append(f"{indent}  <protocol family='{family}'>")
            out.extend(f"{indent}    <ip address='{a}' prefix='{p}'/>" for a, p in ips)
            out.append(f"{indent}  </protocol>")
    if kind == "bridge":
        out.append(f"{indent}  <bridge>")
        for slave in links:
            if slave["master_name"] == name:
                out.append(_xml(slave, links, indent + "    "))
        out.append(f"{indent}  </bridge>")
    out.append(f"{indent}</interface>")
    return "\n".join(out)


class HostInterfaceDriver(InterfaceDriver):
    """virInterfaceDriver over netlink for the daemon's network namespace."""

    def connect_list_all_interfaces(self, flags: int = 0) -> list[InterfaceIdent]:
        if flags & ~(_ACTIVE | _INACTIVE):
            raise invalid_flags(flags & ~(_ACTIVE | _INACTIVE), "udevConnectListAllInterfaces",
                                ErrorDomain.INTERFACE)
        out = []
        for link in _links():
            want = flags & (_ACTIVE | _INACTIVE)
            if want and want != _ACTIVE | _INACTIVE and bool(want & _ACTIVE) != link["up"]:
                continue
            out.append(InterfaceIdent(link["name"], link["mac"]))
        return sorted(out, key=lambda i: i.name)

    def _find(self, name: str) -> dict[str, Any]:
        for link in _links():
            if link["name"] == name:
                return link
        raise make_error(ErrorCode.NO_INTERFACE, ErrorDomain.INTERFACE,
                         f"couldn't find interface named '{name}'")

    def interface_lookup_by_name(self, name: str) -> InterfaceIdent:
        link = self._find(name)
        return InterfaceIdent(link["name"], link["mac"])

    def interface_lookup_by_mac_string(self, mac: str) -> InterfaceIdent:
        found = [link for link in _links() if link["mac"] == mac.lower()]
        if not found:
            raise make_error(ErrorCode.NO_INTERFACE, ErrorDomain.INTERFACE,
                             f"couldn't find interface with MAC address '{mac}'")
        if len(found) > 1:
            raise make_error(ErrorCode.MULTIPLE_INTERFACES, ErrorDomain.INTERFACE,
                             f"the MAC '{mac}' matches multiple interfaces")
        return InterfaceIdent(found[0]["name"], found[0]["mac"])

    def interface_get_xml_desc(self, iface: InterfaceIdent, flags: int = 0) -> str:
        links = _links()
        for link in links:
            if link["name"] == iface.name:
                return _xml(link, links) + "\n"
        raise make_error(ErrorCode.NO_INTERFACE, ErrorDomain.INTERFACE,
                         f"couldn't find interface named '{iface.name}'")

    def interface_is_active(self, iface: InterfaceIdent) -> bool:
        return bool(self._find(iface.name)["up"])

    def connect_num_of_interfaces(self) -> int:
        return sum(1 for link in _links() if link["up"])

    def connect_num_of_defined_interfaces(self) -> int:
        return sum(1 for link in _links() if not link["up"])
