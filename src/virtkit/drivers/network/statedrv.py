"""The network driver's state driver: the daemon root's networks (libvirt's networkStateDriver)."""

from __future__ import annotations

from virtkit.drivers import state
from virtkit.drivers.network.node import NetworkNode, node_for, release
from virtkit.drivers.network.paths import NetworkPaths
from virtkit.drivers.objnode import NodeStateDriver

__all__ = ["state_driver"]


def state_driver() -> NodeStateDriver[NetworkNode]:
    return NodeStateDriver(
        "network", lambda ctx: node_for(NetworkPaths.system(ctx.root)), release)


state.register("network", state_driver)
