"""The storage driver's state driver: the daemon root's pools (libvirt's storageStateDriver)."""

from __future__ import annotations

from virtkit.drivers import state
from virtkit.drivers.objnode import NodeStateDriver
from virtkit.drivers.storage.node import StorageNode, node_for, release
from virtkit.drivers.storage.paths import StoragePaths

__all__ = ["state_driver"]


def state_driver() -> NodeStateDriver[StorageNode]:
    return NodeStateDriver(
        "storage", lambda ctx: node_for(StoragePaths.system(ctx.root)), release)


state.register("storage", state_driver)
