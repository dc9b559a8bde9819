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
from virtkit.types import NetworkDHCPLease, StorageVolIdent

__all__ = ["LeaseLookup", "NetworkPorts", "PathInUse", "SecretValues", "VolumeCreation",
           "VolumeResolver"]

# MAC address -> the DHCP leases the node's networks hold for it (domain_interface_addresses)
LeaseLookup = Callable[[str], list[NetworkDHCPLease]]
# (pool, volume) -> ("file" or "block", host path): a <disk type='volume'> translated
VolumeResolver = Callable[[str, str], tuple[str, str]]
# host path -> the name of the running domain that uses it, or None (storage asks this)
PathInUse = Callable[[str], str | None]
# PCI address (domain, bus, slot, function) -> (driver name, domain name) of its user
PciInUse = Callable[[tuple[int, int, int, int]], tuple[str, str] | None]


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


class VolumeCreation(Protocol):
    """The storage node's pools, as a migration destination pre-creating the disks to
    copy uses them (libvirt's qemuMigrationDstPrecreateDisk opens a storage connection)."""

    def pool_at_directory(self, path: str) -> str | None:
        """The name of the active pool whose target directory is ``path``, or None."""
        ...

    def pool_known(self, name: str) -> bool:
        """Whether a pool named ``name`` is defined."""
        ...

    def create_volume_in(self, pool: str, xml: str, flags: int) -> StorageVolIdent:
        """virStorageVolCreateXML in the pool ``pool`` (VIR_ERR_NO_STORAGE_POOL ...)."""
        ...


class SecretValues(Protocol):
    """The secret node of the root, as the storage and QEMU drivers use it
    (libvirt's virSecretGetSecretString through the secret driver)."""

    def secret_value(self, usage_type: int, uuid: str | None,
                     usage_id: str | None = None) -> bytes:
        """The value of the secret found by ``uuid`` (or by usage ``usage_id``) of
        ``usage_type``: VIR_ERR_NO_SECRET when there is none or it has no value,
        VIR_ERR_INVALID_ARG when its usage is another. Private secrets too: the value
        stays inside the daemon."""
        ...


class HostDevices(Protocol):
    """The node-device driver's PCI devices, for assignment (virNodeDeviceDetachFlags,
    ReAttach, Reset: libvirt's hypervisor table calls its hostdev manager)."""

    def detach(self, name: str, driver_name: str | None = None, flags: int = 0) -> None:
        """Bind the device to vfio-pci (libvirt's errors when it cannot be)."""
        ...

    def reattach(self, name: str) -> None:
        """Give the device back to its own driver."""
        ...

    def reset(self, name: str) -> None:
        """Reset the device (endpoints not in use only)."""
        ...
