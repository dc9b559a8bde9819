"""The nwfilter driver's state driver (libvirt's nwfilterStateDriver).

Initialising loads the filters of the daemon root and re-applies the bindings that
running guests' taps had. Filters have no autostart; a reload does not re-read them
yet (libvirt's nwfilterStateReload does), and the driver stays loaded at exit.
"""

from __future__ import annotations

from virtkit.drivers import state
from virtkit.drivers.nwfilter.driver import driver_for

__all__ = ["NWFilterStateDriver"]


class NWFilterStateDriver:
    name = "nwfilter"

    def initialize(self, ctx: state.OpenContext) -> bool:
        driver_for(ctx.root)
        return True

    def autostart(self) -> None:
        pass

    def reload(self) -> None:
        pass

    def cleanup(self) -> None:
        pass


state.register("nwfilter", NWFilterStateDriver)
