"""What a hypervisor driver may ask of the network and storage drivers of its root.

The QEMU (and later LXC) driver holds these as typed links, made by a compose module
(``drivers/compose.py``): the driver packages never import one another, so a
hypervisor driver names only these Protocols, and the network and storage nodes
satisfy them structurally. libvirt's equivalents are the virNetworkPort* calls a
domain driver makes through the public API and virStorageTranslateDiskSourcePool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from virtkit.conf.networkport import NetworkPortDef
from virtkit.types import NetworkDHCPLease

__all__ = ["LeaseLookup", "NetworkPorts", "PathInUse", "VolumeResolver"]

# MAC address -> the DHCP leases the node's networks hold for it (domain_interface_addresses)
LeaseLookup = Callable[[str], list[NetworkDHCPLease]]
# (pool, volume) -> ("file" or "block", host path): a <disk type='volume'> translated
VolumeResolver = Callable[[str, str], tuple[str, str]]
# host path -> the name of the running domain that uses it, or None (storage asks this)
PathInUse = Callable[[str], str | None]


class NetworkPorts(Protocol):
    """The network node's ports, one per guest ``<interface type='network'>``."""

    def bridge_for(self, name: str) -> str:
        """The bridge of the active network ``name`` (VIR_ERR_NO_NETWORK, OPERATION_INVALID)."""
        ...

    def plug_interface(self, network: str, owner_name: str, owner_uuid: str, mac: str, *,
                       portgroup: str | None = None,
                       port_uuid: str | None = None) -> NetworkPortDef:
        """A new port for a starting guest's interface; its ``uuid`` becomes ``portid``."""
        ...

    def reclaim_interface(self, network: str, port_uuid: str, owner_name: str, owner_uuid: str,
                          mac: str, bridge: str) -> NetworkPortDef:
        """A running guest's port again after a daemon restart."""
        ...

    def port_release(self, network: str, uuid: str) -> None:
        """The interface went away: delete its port (silent when already gone)."""
        ...
