"""Opening ``qemu://`` URIs: embedded in this process, or the daemon's system node.

A connection gets the QEMU hypervisor table, the network driver of the same root
(bridges, dnsmasq, nftables: its bridges are where the domains' taps go), the storage
driver of the same root (its volumes back ``<disk type='volume'>``; a volume a running
domain uses cannot be deleted), the nwfilter driver and the host-interface table.
"""

from __future__ import annotations

import threading
from typing import Any

from virtkit.drivers import registry
from virtkit.drivers.base import DriverTables
from virtkit.errors import ErrorCode, ErrorDomain, make_error

__all__ = ["open_connection"]


def open_connection(uri: Any, flags: int = 0) -> DriverTables | None:
    """``qemu:///embed?root=DIR`` here; ``qemu:///system`` only inside virtkitd (elsewhere
    the remote driver takes it to the daemon, as in libvirt). None declines the URI."""
    from virtkit.drivers.hostif import HostInterfaceDriver
    from virtkit.drivers.network.driver import BridgeNetworkDriver
    from virtkit.drivers.network.node import node_for as net_node_for
    from virtkit.drivers.network.paths import NetworkPaths
    from virtkit.drivers.qemu.driver import QemuDriver
    from virtkit.drivers.qemu.node import node_for
    from virtkit.drivers.qemu.paths import QemuPaths
    from virtkit.drivers.storage.driver import HostStorageDriver
    from virtkit.drivers.storage.node import node_for as storage_node_for
    from virtkit.drivers.storage.paths import StoragePaths

    path = uri.path or ""
    if path == "/embed":
        root = uri.params.get("root") if hasattr(uri, "params") else None
        if not root:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.QEMU,
                             "URI must be qemu:///embed?root=...")
        net = net_node_for(NetworkPaths.embed(root))
        storage = storage_node_for(StoragePaths.embed(root))
        node = node_for(QemuPaths.embed(root))
        name = str(uri)
    elif path == "/system" and registry.daemon_root is not None:
        net = net_node_for(NetworkPaths.system(registry.daemon_root), autostart=True)
        storage = storage_node_for(StoragePaths.system(registry.daemon_root), autostart=True)
        node = node_for(QemuPaths.system(registry.daemon_root), autostart=True)
        name = "qemu:///system"
    else:
        return None
    node.network_resolver = net.bridge_for
    node.lease_lookup = net.leases_for_mac
    node.network_ports = net
    node.volume_resolver = storage.resolve_volume
    storage.in_use = node.path_in_use
    node.reclaim_ports()
    node.nwfilter = nwfilter = _nwfilter_for(node.paths.root)
    netdrv = BridgeNetworkDriver(net)
    stdrv = HostStorageDriver(storage)
    hv = QemuDriver(node, name, on_close=[netdrv.close, stdrv.close])
    return DriverTables(hv, network=netdrv, storage=stdrv, interface=HostInterfaceDriver(),
                        nwfilter=nwfilter)


_nwfilters: dict[str, Any] = {}
_nwfilters_lock = threading.Lock()


def _nwfilter_for(root: str) -> Any:
    """One nwfilter driver per root in a process: bindings are node state."""
    from virtkit.drivers.nwfilter import NWFilterDriverImpl

    with _nwfilters_lock:
        driver = _nwfilters.get(root)
        if driver is None:
            driver = _nwfilters[root] = NWFilterDriverImpl(root=root)
        return driver
