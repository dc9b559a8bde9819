"""The virtio balloon's statistics period (qemuDomainSetMemoryStatsPeriod, qemuProcessSetupBalloon).

QEMU collects the guest's memory statistics every ``guest-stats-polling-interval``
seconds (0: never), a QOM property of the balloon device, which libvirt sets from
``<memballoon><stats period='N'/>`` at start and with virDomainSetMemoryStatsPeriod.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from virtkit.conf.dev_misc import BalloonStats, MemBalloon
from virtkit.constants import DomainModificationImpact
from virtkit.drivers.qemu.metadata import modification_impact
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, invalid_flags, make_error

if TYPE_CHECKING:
    from virtkit.drivers.qemu.node import QemuDomain, QemuNode

__all__ = ["apply_period", "balloon_path", "set_memory_stats_period"]

_FLAGS = int(DomainModificationImpact.LIVE) | int(DomainModificationImpact.CONFIG)


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, ErrorDomain.QEMU, detail)


def _balloon(d: Any) -> Any:
    """virDomainDefHasMemballoon: the balloon, unless absent or model 'none'."""
    b = d.devices.memballoon if d is not None and d.devices is not None else None
    return b if b is not None and b.model != "none" else None


def balloon_path(d: Any) -> str | None:
    """The virtio balloon's QOM path (its alias names it), None without one."""
    b = _balloon(d)
    if b is None or b.model != "virtio" or b.alias is None or not b.alias.name:
        return None
    return f"/machine/peripheral/{b.alias.name}"


def _qom_set_period(dom: QemuDomain, period: int) -> bool:
    """qemuMonitorSetMemoryStatsPeriod: False when it cannot be set."""
    path = balloon_path(dom.live)
    if period < 0 or path is None or dom.mon is None:
        return False
    try:
        dom.mon.execute("qom-set", {"path": path, "property": "guest-stats-polling-interval",
                                    "value": period})
    except VirtError:
        return False
    return True


def _store_period(b: Any, period: int) -> None:
    """``<stats period>`` as libvirt formats it: absent for 0."""
    b.stats = BalloonStats(period=str(period)) if period else None


def _period(d: Any) -> int:
    b = _balloon(d)
    try:
        return int(b.stats.period) if b is not None and b.stats is not None else 0
    except (TypeError, ValueError):
        return 0


def apply_period(dom: QemuDomain) -> None:
    """At start (qemuProcessSetupBalloon): the configured period, failures ignored."""
    period = _period(dom.live)
    if period:
        with contextlib.suppress(VirtError):
            _qom_set_period(dom, period)


def set_memory_stats_period(node: QemuNode, dom: QemuDomain, period: int, flags: int) -> None:
    """qemuDomainSetMemoryStatsPeriod."""
    if flags & ~_FLAGS:
        raise invalid_flags(flags & ~_FLAGS, "qemuDomainSetMemoryStatsPeriod", ErrorDomain.QEMU)
    missing = "No memory balloon device configured, can not set the collection period"
    with dom.job:
        live, config = modification_impact(dom, flags)
        if live:
            b = _balloon(dom.live)
            if b is None:
                raise _err(ErrorCode.INTERNAL_ERROR, missing)
            if not _qom_set_period(dom, period):
                raise _err(ErrorCode.OPERATION_INVALID,
                           "unable to set balloon driver collection period")
            _store_period(b, period)
            node._save_status(dom)
        if config:
            def change(d: Any) -> None:
                if d.devices is not None and d.devices.memballoon is None:
                    # the virtio balloon start adds (libvirt adds it at define)
                    d.devices.memballoon = MemBalloon(model="virtio")
                b = _balloon(d)
                if b is None:
                    raise _err(ErrorCode.INTERNAL_ERROR, missing)
                _store_period(b, period)
            node.update_config(dom, change)
