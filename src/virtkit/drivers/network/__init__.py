"""virtkit's virtual-network driver: Linux bridges, dnsmasq and nftables (libvirt's bridge driver).

Entry points: :func:`virtkit.drivers.network.node.node_for` (one node per root),
:class:`virtkit.drivers.network.driver.BridgeNetworkDriver` (the driver table) and
:class:`virtkit.drivers.network.paths.NetworkPaths` (daemon or embedded layout).
"""
