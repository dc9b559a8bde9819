"""State drivers: what a driver that keeps node state does when the daemon starts, reloads
and stops (libvirt's ``virStateDriver``, ``src/driver-state.h``).

A driver module registers its state driver with ``register()`` when it is imported;
``load()`` imports the modules in ``MODULES`` (libvirtd's ``VIR_DAEMON_LOAD_MODULE``
list, in its order: resources before the domains that use them) and returns the
registered drivers. ``StateDrivers`` is the daemon's set: it initialises each, then
autostarts each, reloads them on SIGHUP and cleans them up at exit. The daemon knows
only this module, never a driver's internals.

``OpenContext`` is what the daemon passes to its drivers, for initialising and for
opening connections: the root its system drivers live under. Outside the daemon there
is none (``qemu:///system`` then goes to the daemon through the remote driver).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from virtkit.drivers.context import OpenContext

__all__ = ["MODULES", "OpenContext", "StateDriver", "StateDrivers", "load", "register"]

log = logging.getLogger("virtkit.drivers.state")


class StateDriver(Protocol):
    """What a stateful driver implements (libvirt's virStateDriver)."""

    name: str

    def initialize(self, ctx: OpenContext) -> bool:
        """Load the persistent definitions and re-attach to what a previous instance left
        running (libvirt's stateInitialize, which re-attaches too). False: skipped (the
        driver cannot run here: VIR_DRV_STATE_INIT_SKIPPED)."""

    def autostart(self) -> None:
        """Start the objects marked autostart (libvirt's stateAutoStart); errors logged."""

    def reload(self) -> None:
        """SIGHUP: pick up definitions and autostart links written meanwhile (stateReload)."""

    def cleanup(self) -> None:
        """The daemon exits: drop its hold on the node; what runs keeps running (stateCleanup)."""


# Driver modules that register a state driver, in libvirtd's order: networks and pools
# come up before the domains that use them.
MODULES = (
    "virtkit.drivers.network.statedrv",
    "virtkit.drivers.secret.statedrv",  # before storage and QEMU, which use secrets
    "virtkit.drivers.storage.statedrv",
    "virtkit.drivers.nodedev.statedrv",  # the host's devices (sysfs, uevents)
    "virtkit.drivers.nwfilter.statedrv",
    "virtkit.drivers.compose",  # the QEMU driver, linked to the four above
)

_registered: dict[str, Callable[[], StateDriver]] = {}


def register(name: str, factory: Callable[[], StateDriver]) -> None:
    """Register a state driver (libvirt's virRegisterStateDriver); a module calls it once."""
    _registered[name] = factory


def load() -> list[StateDriver]:
    """Import ``MODULES`` (they register) and make one driver of each registration, in
    the order of ``MODULES`` (the factory's module), whatever the order of the imports."""
    for module in MODULES:
        importlib.import_module(module)

    def rank(factory: Callable[[], StateDriver]) -> int:
        module = getattr(factory, "__module__", "")
        return MODULES.index(module) if module in MODULES else len(MODULES)

    return [factory() for factory in sorted(_registered.values(), key=rank)]


class StateDrivers:
    """The daemon's state drivers: initialised, autostarted, reloaded, cleaned up in order."""

    def __init__(self, ctx: OpenContext, drivers: list[StateDriver] | None = None) -> None:
        self.ctx = ctx
        self._drivers = load() if drivers is None else drivers
        self._ready: list[StateDriver] = []
        self._lock = threading.Lock()  # start, reload and cleanup one at a time
        self._closed = False

    def start(self) -> None:
        """Initialise every driver, then autostart those that initialised (libvirt's
        virStateInitialize). A driver that fails is logged; the others go on."""
        with self._lock:
            for drv in self._drivers:
                if self._closed:
                    return
                try:
                    if drv.initialize(self.ctx):
                        self._ready.append(drv)
                except Exception:
                    log.exception("cannot initialise the %s driver", drv.name)
            for drv in self._ready:
                try:
                    drv.autostart()
                except Exception:
                    log.exception("cannot autostart the objects of the %s driver", drv.name)

    def reload(self) -> bool:
        """``reload()`` each initialised driver; False when one failed (it is logged)."""
        ok = True
        with self._lock:
            for drv in self._ready:
                try:
                    drv.reload()
                except Exception:
                    log.exception("cannot reload the %s driver", drv.name)
                    ok = False
        return ok

    def cleanup(self, wait: float = 5.0) -> None:
        """``cleanup()`` each initialised driver, the last initialised first. A start still
        under way (guests autostarting) is not waited for beyond ``wait`` seconds."""
        self._closed = True
        if not self._lock.acquire(timeout=wait):
            log.warning("state drivers still starting; not cleaned up")
            return
        try:
            for drv in reversed(self._ready):
                try:
                    drv.cleanup()
                except Exception:
                    log.exception("cannot clean up the %s driver", drv.name)
            self._ready.clear()
        finally:
            self._lock.release()
