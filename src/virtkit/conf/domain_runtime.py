"""Domain runtime behaviour: <clock> and its timers, <pm>, <perf>."""

from __future__ import annotations

from virtkit.conf.model import XmlModel, attr, child, children, model


@model("catchup")
class TimerCatchup(XmlModel):
    threshold: str | None = attr()
    slew: str | None = attr()
    limit: str | None = attr()


@model("timer")
class Timer(XmlModel):
    name: str | None = attr()
    present: str | None = attr()
    tickpolicy: str | None = attr()
    track: str | None = attr()
    frequency: str | None = attr()
    mode: str | None = attr()
    catchup: TimerCatchup | None = child("catchup", TimerCatchup)


@model("clock")
class Clock(XmlModel):
    """``<clock offset=...>``; which offset attributes apply depends on ``offset``."""

    offset: str | None = attr()
    adjustment: str | None = attr()
    basis: str | None = attr()
    adjustment0: str | None = attr()
    timezone: str | None = attr()
    start: str | None = attr()
    timers: list[Timer] = children("timer", Timer)


@model("suspend")
class PmState(XmlModel):
    enabled: str | None = attr()


@model("pm")
class Pm(XmlModel):
    suspend_to_mem: PmState | None = child("suspend-to-mem", PmState)
    suspend_to_disk: PmState | None = child("suspend-to-disk", PmState)


@model("event")
class PerfEvent(XmlModel):
    name: str | None = attr()
    enabled: str | None = attr()


@model("perf")
class Perf(XmlModel):
    events: list[PerfEvent] = children("event", PerfEvent)
