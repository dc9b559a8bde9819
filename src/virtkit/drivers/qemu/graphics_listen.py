"""``<listen type='network' network='NAME'/>`` of VNC and SPICE graphics: the address QEMU
listens on, resolved at start as libvirt's qemuProcessGraphicsSetupNetworkAddress does.

libvirt reads the network's definition: for a network with its own bridge (no forward,
nat, route, open) the first ``<ip>`` of the definition, otherwise the first address of
its bridge or forward device (virNetDevIPAddrGet).  Here the network driver names the
active network's bridge and the bridge's first address is taken, IPv4 before IPv6 as
getifaddrs lists them: the same address for an active network whose definition lists
IPv4 first (the bridge carries the definition's addresses in order).  The resolved
address is written into the live ``<listen>``, as libvirt's live XML shows it.
"""

from __future__ import annotations

import socket
from typing import Any

from virtkit.drivers.qemu.netif import NetworkResolver
from virtkit.errors import ErrorCode, ErrorDomain, make_error

__all__ = ["interface_address", "resolve_network_listens"]


def interface_address(ifname: str) -> str:
    """The first IPv4 address of ``ifname`` (else its first IPv6 one), as libvirt's
    virNetDevIPAddrGet through getifaddrs."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        links = ipr.link_lookup(ifname=ifname)
        addrs = ipr.get_addr(index=links[0]) if links else []
    by_family: dict[int, list[str]] = {}
    for msg in addrs:
        address = msg.get_attr("IFA_ADDRESS")
        if address:
            by_family.setdefault(int(msg["family"]), []).append(str(address))
    for family in (socket.AF_INET, socket.AF_INET6):
        if by_family.get(family):
            return by_family[family][0]
    raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                     f"no IP address found for interface '{ifname}'")


def resolve_network_listens(defn: Any, resolve: NetworkResolver | None,
                            defaults: dict[str, str]) -> None:
    """Give every VNC/SPICE ``network`` listen without an address its network's address
    (``defaults``: qemu.conf's listen address by graphics type, for a listen that names
    no network). VIR_ERR_CONFIG_UNSUPPORTED without a network driver; the network
    driver's errors (no such network, not active) stand."""
    devices = getattr(defn, "devices", None)
    for g in devices.graphics if devices is not None else []:
        if g.type not in defaults:
            continue
        for listen in g.listens:
            if listen.type != "network" or listen.address:
                continue
            if not listen.network:
                listen.address = defaults[g.type]
                continue
            if resolve is None:
                raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.QEMU,
                                 "network-based listen isn't possible, network driver "
                                 "isn't present")
            listen.address = interface_address(resolve(listen.network))
