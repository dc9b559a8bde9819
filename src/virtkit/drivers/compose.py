"""The QEMU driver with the network, storage, secret and nwfilter drivers of its root.

A ``qemu://`` connection gets the QEMU hypervisor table, the network driver of the
same root (bridges, dnsmasq, nftables: its bridges are where the domains' taps go),
the storage driver of the same root (its volumes back ``<disk type='volume'>``; a
volume a running domain uses cannot be deleted), the secret driver (the passphrases of
LUKS volumes and disks: storage and QEMU get values through its node), the nwfilter
driver and the host-interface table. The QEMU state driver (drivers/state.py) links the
same nodes before it autostarts the daemon's domains.

This is the one module that links drivers to each other; the driver packages
themselves never import one another (``tests/drivers/test_import_direction.py``).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from virtkit.drivers import state
from virtkit.drivers.base import DriverTables
from virtkit.drivers.hostif import HostInterfaceDriver
from virtkit.drivers.network import node as net_nodes
from virtkit.drivers.network.driver import BridgeNetworkDriver
from virtkit.drivers.network.node import NetworkNode
from virtkit.drivers.network.paths import NetworkPaths
from virtkit.drivers.nwfilter.driver import NWFilterDriverImpl, driver_for
from virtkit.drivers.qemu import node as qemu_nodes
from virtkit.drivers.qemu.driver import QemuDriver
from virtkit.drivers.qemu.node import QemuNode
from virtkit.drivers.qemu.paths import QemuPaths
from virtkit.drivers.secret import node as secret_nodes
from virtkit.drivers.secret.driver import SecretDriverImpl
from virtkit.drivers.secret.node import SecretNode
from virtkit.drivers.secret.paths import SecretPaths
from virtkit.drivers.storage import node as storage_nodes
from virtkit.drivers.storage.driver import HostStorageDriver
from virtkit.drivers.storage.node import StorageNode
from virtkit.drivers.storage.paths import StoragePaths
from virtkit.errors import ErrorCode, ErrorDomain, make_error
from virtkit.uri import ParsedURI

__all__ = ["QemuStateDriver", "open_connection"]

log = logging.getLogger("virtkit.drivers.qemu")


@dataclass
class _Nodes:
    """The nodes of one root, each holding one reference for its user."""

    qemu: QemuNode
    net: NetworkNode
    storage: StorageNode
    nwfilter: NWFilterDriverImpl
    secret: SecretNode

    def release(self) -> None:
        qemu_nodes.release(self.qemu)
        storage_nodes.release(self.storage)
        secret_nodes.release(self.secret)
        net_nodes.release(self.net)


def _linked(qemu: QemuPaths, net: NetworkPaths, storage: StoragePaths,
            secret: SecretPaths) -> _Nodes:
    """The nodes of one root (loaded and re-attached once per process), linked."""
    netn = net_nodes.node_for(net)  # networks, secrets and pools first, as libvirt's
    secretn = secret_nodes.node_for(secret)
    storagen = storage_nodes.node_for(storage)
    storagen.secrets = secretn
    nodes = _Nodes(qemu=qemu_nodes.node_for(qemu), net=netn, storage=storagen,
                   nwfilter=driver_for(qemu.root), secret=secretn)
    node = nodes.qemu
    node.network_resolver = nodes.net.bridge_for
    node.lease_lookup = nodes.net.leases_for_mac
    node.network_ports = nodes.net
    node.volume_resolver = nodes.storage.resolve_volume
    node.volume_creation = nodes.storage
    node.secrets = nodes.secret
    nodes.storage.in_use = node.path_in_use
    node.nwfilter = nodes.nwfilter
    node.reclaim_ports()
    return nodes


def _system(ctx: state.OpenContext) -> _Nodes:
    root = ctx.root
    return _linked(QemuPaths.system(root), NetworkPaths.system(root), StoragePaths.system(root),
                   SecretPaths.system(root))


def open_connection(uri: ParsedURI, flags: int = 0,
                    ctx: state.OpenContext | None = None) -> DriverTables | None:
    """``qemu:///embed?root=DIR`` here; ``qemu:///system`` only inside virtkitd (``ctx``;
    elsewhere the remote driver takes it to the daemon, as in libvirt). None declines."""
    path = uri.path or ""
    if path == "/embed":
        root = uri.params.get("root")
        if not root:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.QEMU,
                             "URI must be qemu:///embed?root=...")
        nodes = _linked(QemuPaths.embed(root), NetworkPaths.embed(root),
                        StoragePaths.embed(root), SecretPaths.embed(root))
        name = str(uri)
    elif path == "/system" and ctx is not None:
        nodes = _system(ctx)
        name = "qemu:///system"
    else:
        return None
    netdrv = BridgeNetworkDriver(nodes.net)
    stdrv = HostStorageDriver(nodes.storage)
    secdrv = SecretDriverImpl(nodes.secret)
    from virtkit.drivers.nodedev.driver import host_driver  # the host's devices (sysfs)

    nddrv = host_driver()
    hv = QemuDriver(nodes.qemu, name,
                    on_close=[netdrv.close, stdrv.close, secdrv.close, nddrv.close])
    qemu_node = nodes.qemu
    hv.hostdevs = lambda: nddrv.pci_hostdevs(qemu_node.pci_in_use)
    return DriverTables(hv, network=netdrv, storage=stdrv, interface=HostInterfaceDriver(),
                        secret=secdrv, nwfilter=nodes.nwfilter, nodedev=nddrv)


class QemuStateDriver:
    """The daemon's QEMU node (libvirt's qemuStateDriver): loaded and re-attached at
    start, linked to the network, storage and nwfilter drivers of the same root, its
    autostart domains started once the networks and pools are up."""

    name = "QEMU"

    def __init__(self) -> None:
        self.nodes: _Nodes | None = None

    def initialize(self, ctx: state.OpenContext) -> bool:
        if shutil.which("qemu-system-x86_64") is None:
            log.info("qemu-system-x86_64 not found: the QEMU driver stays unloaded")
            return False
        self.nodes = _system(ctx)
        return True

    def autostart(self) -> None:
        if self.nodes is not None:
            self.nodes.qemu.autostart_all()

    def reload(self) -> None:
        """Nothing yet: libvirt's qemuStateReload re-reads the config dir and autostarts."""

    def cleanup(self) -> None:
        if self.nodes is not None:
            self.nodes.release()
            self.nodes = None


state.register("QEMU", QemuStateDriver)
