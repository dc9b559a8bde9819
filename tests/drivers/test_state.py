"""The daemon's state drivers (libvirt's virStateDriver): registered, run in order."""

from __future__ import annotations

import pytest

from virtkit.drivers import state
from virtkit.drivers.state import OpenContext, StateDrivers


class Fake:
    def __init__(self, name: str, calls: list[str], *, skip: bool = False,
                 fail: str = "") -> None:
        self.name, self.calls, self.skip, self.fail = name, calls, skip, fail

    def _call(self, what: str) -> None:
        self.calls.append(f"{self.name}.{what}")
        if what == self.fail:
            raise RuntimeError(f"{self.name} {what} failed")

    def initialize(self, ctx: OpenContext) -> bool:
        self._call(f"initialize({ctx.root})")
        return not self.skip

    def autostart(self) -> None:
        self._call("autostart")

    def reload(self) -> None:
        self._call("reload")

    def cleanup(self) -> None:
        self._call("cleanup")


def test_every_stateful_driver_registers_in_libvirts_order() -> None:
    # remote_daemon.c daemonInitialize: network, (interface,) secret, storage, nodedev,
    # nwfilter, then the hypervisors
    names = [d.name for d in state.load()]
    assert names == ["network", "secret", "storage", "NODEDEV", "nwfilter", "QEMU"]


def test_initialise_all_then_autostart_skip_and_failures_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    drivers = StateDrivers(OpenContext("/r"), [
        Fake("network", calls), Fake("storage", calls, fail="autostart"),
        Fake("nwfilter", calls, fail="initialize(/r)"), Fake("QEMU", calls, skip=True)])
    drivers.start()
    assert calls == ["network.initialize(/r)", "storage.initialize(/r)",
                     "nwfilter.initialize(/r)", "QEMU.initialize(/r)",
                     "network.autostart", "storage.autostart"]
    assert "cannot initialise the nwfilter driver" in caplog.text
    assert "cannot autostart the objects of the storage driver" in caplog.text
    calls.clear()
    assert drivers.reload() is True  # only the drivers that initialised
    assert calls == ["network.reload", "storage.reload"]
    calls.clear()
    drivers.cleanup()
    assert calls == ["storage.cleanup", "network.cleanup"]
    calls.clear()
    assert drivers.reload() is True and calls == []


def test_a_failed_reload_is_reported() -> None:
    calls: list[str] = []
    drivers = StateDrivers(OpenContext("/r"), [Fake("network", calls, fail="reload"),
                                               Fake("storage", calls)])
    drivers.start()
    assert drivers.reload() is False
    assert calls[-2:] == ["network.reload", "storage.reload"]


def test_nothing_starts_after_cleanup() -> None:
    calls: list[str] = []
    drivers = StateDrivers(OpenContext("/r"), [Fake("network", calls)])
    drivers.cleanup()
    drivers.start()
    assert calls == []
