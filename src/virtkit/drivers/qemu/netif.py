"""Tap devices for a domain's network, bridge and ethernet interfaces (netlink, pyroute2).

Before QEMU starts, each such interface gets a persistent tap: named by
``<target dev>`` or the first free ``vnetN`` (written back into the live XML as
libvirt does), with the guest MAC's first byte replaced by 0xfe (so the bridge
never takes the guest's address), the MTU asked for, plugged into the bridge
(``<source bridge>``, or the bridge of ``<source network>`` as the network driver
reports it) and up, with ``noqueue`` as its root qdisc and the interface's ``<bandwidth>``
set with tc (drivers/netbandwidth.py; the guest's inbound is the tap's transmit), as
libvirt's qemuInterface*Connect. QEMU opens it by name (``-netdev tap,ifname=...``). When
the domain stops, the taps it got are deleted (and their qdiscs with them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from virtkit.drivers import netbandwidth
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["NetworkResolver", "change_bandwidth", "delete_taps", "prepare_taps"]

log = logging.getLogger("virtkit.drivers.qemu.netif")

# network name -> its bridge (VIR_ERR_OPERATION_INVALID when the network is not active)
NetworkResolver = Callable[[str], str]

_TAP_KINDS = ("network", "bridge", "ethernet")


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, ErrorDomain.QEMU, detail)


def _no_network_driver(name: str) -> str:
    raise make_error(ErrorCode.NO_SUPPORT, ErrorDomain.NETWORK,
                     f"network '{name}': no network driver on this connection")


def prepare_taps(defn: Any, resolve: NetworkResolver | None = None) -> list[str]:
    """Create the taps ``defn``'s interfaces need; returns their names (for clean-up)."""
    devices = defn.devices
    ifaces = [i for i in (devices.interfaces if devices is not None else [])
              if i.type in _TAP_KINDS]
    if not ifaces:
        return []
    from pyroute2 import IPRoute

    created: list[str] = []
    try:
        with IPRoute() as ipr:
            for iface in ifaces:
                bridge = _bridge_of(iface, resolve or _no_network_driver)
                name = _tap_name(ipr, iface)
                mac = iface.mac.address if iface.mac is not None else None
                ipr.link("add", ifname=name, kind="tuntap", mode="tap")
                created.append(name)
                index = ipr.link_lookup(ifname=name)[0]
                settings: dict[str, Any] = {"state": "up"}
                if mac:
                    settings["address"] = "fe" + mac[2:]
                mtu = iface.mtu.size if getattr(iface, "mtu", None) is not None else None
                if mtu:
                    settings["mtu"] = int(mtu)
                if bridge is not None:
                    found = ipr.link_lookup(ifname=bridge)
                    if not found:
                        raise _err(ErrorCode.SYSTEM_ERROR,
                                   f"Cannot get interface MTU on '{bridge}': No such device")
                    settings["master"] = found[0]
                ipr.link("set", index=index, **settings)
                _start_qos(iface, name)
    except VirtError:
        delete_taps(created)
        raise
    except Exception as exc:  # netlink refused: report it as libvirt's system error
        delete_taps(created)
        raise _err(ErrorCode.SYSTEM_ERROR, f"Unable to create tap device: {exc}") from None
    return created


def _spec(iface: Any) -> netbandwidth.BandwidthSpec | None:
    """The interface's bandwidth; a ``floor`` needs a network with inbound QoS, which
    virtkit's networks never have (libvirt's networkCheckBandwidth)."""
    spec = netbandwidth.parse(iface.bandwidth, allow_floor=iface.type == "network")
    if spec is not None and spec.has_floor:
        mac = iface.mac.address if iface.mac is not None else ""
        network = iface.source.network if iface.source is not None else ""
        raise make_error(ErrorCode.OPERATION_UNSUPPORTED, ErrorDomain.NETWORK,
                         f"Invalid use of 'floor' on interface with MAC address {mac} - "
                         f"network '{network}' has no inbound QoS set")
    return spec


def _swapped(iface: Any) -> bool:
    return not netbandwidth.shares_host_view(iface.type)


def _start_qos(iface: Any, tap: str) -> None:
    """qemuDomainInterfaceSetDefaultQDisc (its failure ignored) then virNetDevBandwidthSet."""
    netbandwidth.set_root_qdisc(tap, "noqueue")
    netbandwidth.set_bandwidth(tap, _spec(iface), swapped=_swapped(iface))


def change_bandwidth(old: Any, new: Any) -> None:
    """qemuDomainChangeNet's bandwidth part for a running interface: set the new QoS on
    the tap (or clear it), then ``noqueue`` again when the tap's transmit is unshaped."""
    spec = _spec(new)
    if netbandwidth.parse(old.bandwidth, allow_floor=True) == spec:
        return
    if new.type not in _TAP_KINDS:
        return  # check_supported refused <bandwidth> there; removing one changes nothing
    tap = old.target.dev if old.target is not None else None
    if spec is not None:
        netbandwidth.set_bandwidth(tap, spec, swapped=_swapped(new))
    else:
        netbandwidth.clear(tap)
    shaped = spec.inbound if _swapped(new) and spec is not None else (
        spec.outbound if spec is not None else None)
    if tap and (shaped is None or shaped.average == 0):
        netbandwidth.set_root_qdisc(tap, "noqueue")


def _bridge_of(iface: Any, resolve: NetworkResolver) -> str | None:
    src = iface.source
    if iface.type == "bridge":
        bridge = src.bridge if src is not None else None
        if not bridge:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       "unsupported configuration: missing bridge name for interface")
        return str(bridge)
    if iface.type == "network":
        network = src.network if src is not None else None
        if not network:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       "unsupported configuration: missing network name for interface")
        return resolve(str(network))
    return None  # ethernet: a bare tap


def _tap_name(ipr: Any, iface: Any) -> str:
    """``<target dev>`` if given (libvirt refuses the reserved ``vnet``/``macvtap`` prefixes
    only when they are auto-generated), else the first unused ``vnetN``."""
    from virtkit.conf.dev_net import InterfaceTarget

    target = iface.target
    if target is not None and target.dev:
        if ipr.link_lookup(ifname=target.dev):
            raise _err(ErrorCode.OPERATION_FAILED,
                       f"Unable to create tap device {target.dev}: Device or resource busy")
        return str(target.dev)
    n = 0
    while ipr.link_lookup(ifname=f"vnet{n}"):
        n += 1
    if target is None:
        iface.target = target = InterfaceTarget()
    name = f"vnet{n}"
    target.dev = name
    return name


def delete_taps(names: list[str]) -> None:
    """Remove the taps a domain got (missing ones are fine)."""
    if not names:
        return
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for name in names:
            found = ipr.link_lookup(ifname=name)
            if not found:
                continue
            try:
                ipr.link("del", index=found[0])
            except Exception as exc:  # netlink refused: say so, go on with the others
                log.warning("cannot delete tap %s: %s", name, exc)


def taps_of(defn: Any) -> list[str]:
    """The tap names a running definition holds (for clean-up after a re-attach)."""
    devices = defn.devices
    return [str(i.target.dev) for i in (devices.interfaces if devices is not None else [])
            if i.type in _TAP_KINDS and i.target is not None and i.target.dev]
