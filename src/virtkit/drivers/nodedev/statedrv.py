"""The daemon's node-device state driver (libvirt's nodeStateInitialize/Cleanup):
enumerates the host's devices once at start and follows uevents until the daemon ends."""

from __future__ import annotations

from virtkit.drivers import state
from virtkit.drivers.nodedev.sysfs import HostPaths
from virtkit.drivers.nodedev.table import DeviceTable, release, table_for

__all__ = ["NodeDevStateDriver"]


class NodeDevStateDriver:
    name = "NODEDEV"

    def __init__(self) -> None:
        self.table: DeviceTable | None = None

    def initialize(self, ctx: state.OpenContext) -> bool:
        self.table = table_for(HostPaths())
        return True

    def autostart(self) -> None:
        """Nothing: mediated devices (mdevctl) are not managed here."""

    def reload(self) -> None:
        if self.table is not None:
            self.table.load()

    def cleanup(self) -> None:
        if self.table is not None:
            release(self.table)
            self.table = None


state.register("NODEDEV", NodeDevStateDriver)
