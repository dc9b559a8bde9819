"""What QEMU reports about a running domain's character devices, as its live XML shows it.

- A virtio channel's ``<target ... state='connected|disconnected'/>``: from
  ``query-chardev``'s ``frontend-open`` at start and re-attach (libvirt's
  qemuProcessRefreshChannelVirtioState), then from QEMU's VSERPORT_CHANGE events
  (processSerialChangedEvent).  The guest agent's channel (``org.qemu.guest_agent.0``)
  also gives VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE with the new state: reason
  DOMAIN_STARTED from a start's refresh, CHANNEL otherwise.
- The legacy ``<console type='pty' tty='/dev/pts/N'>`` attribute: console port 0's pty
  path, written in live XML only (virDomainChrDefFormat's ``tty_compat``); a document's
  own ``tty`` is dropped at parse (virtkit.conf.chr_inactive).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from virtkit.conf.dev_chr import Channel, ChrDevice, Console
from virtkit.conf.domain import DomainDef
from virtkit.constants import (
    ConnectDomainEventAgentLifecycleReason as AgentReason,
)
from virtkit.constants import (
    ConnectDomainEventAgentLifecycleState as AgentState,
)
from virtkit.drivers.qemu.agent import AGENT_CHANNEL

__all__ = ["AgentLifecycle", "channel_states", "console_tty_view",
           "refresh_channel_states", "serial_changed"]

CONNECTED, DISCONNECTED = "connected", "disconnected"  # virDomainChrDeviceState

AgentLifecycle = tuple[int, int]
"""An AGENT_LIFECYCLE payload: (virConnectDomainEventAgentLifecycleState, reason)."""

_AGENT_STATE = {CONNECTED: int(AgentState.CONNECTED), DISCONNECTED: int(AgentState.DISCONNECTED)}


def channel_states(chardevs: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Chardev label -> ``connected``/``disconnected`` for the ``query-chardev`` entries
    that report ``frontend-open`` (qemuMonitorJSONExtractChardevInfo)."""
    states = {}
    for entry in chardevs:
        label, is_open = entry.get("label"), entry.get("frontend-open")
        if isinstance(label, str) and isinstance(is_open, bool):
            states[label] = CONNECTED if is_open else DISCONNECTED
    return states


def _virtio_channels(live: DomainDef) -> list[Channel]:
    devices = live.devices
    return [ch for ch in (devices.channels if devices is not None else [])
            if ch.target is not None and ch.target.type == "virtio"]


def _alias(dev: ChrDevice) -> str | None:
    return dev.alias.name if dev.alias is not None else None


def _is_agent(ch: Channel) -> bool:
    return ch.target is not None and ch.target.name == AGENT_CHANNEL


def refresh_channel_states(live: DomainDef, chardevs: Iterable[Mapping[str, Any]],
                           booted: bool) -> tuple[bool, list[AgentLifecycle]]:
    """Set the state of every virtio channel of ``live`` that ``query-chardev`` reports:
    (whether a state changed, the guest agent's AGENT_LIFECYCLE payloads)."""
    states = channel_states(chardevs)
    reason = int(AgentReason.DOMAIN_STARTED if booted else AgentReason.CHANNEL)
    changed, events = False, []
    for ch in _virtio_channels(live):
        alias = _alias(ch)
        state = states.get(f"char{alias}") if alias else None
        if state is None or ch.target is None:
            continue  # port state not reported
        if _is_agent(ch):
            events.append((_AGENT_STATE[state], reason))
        changed = changed or ch.target.state != state
        ch.target.state = state
    return changed, events


def serial_changed(live: DomainDef, alias: str, connected: bool
                   ) -> tuple[bool, AgentLifecycle | None]:
    """VSERPORT_CHANGE of device ``alias``: (whether it is a virtio channel whose state
    was set, the AGENT_LIFECYCLE payload when it is the guest agent's)."""
    for ch in _virtio_channels(live):
        if _alias(ch) != alias or ch.target is None:
            continue
        state = CONNECTED if connected else DISCONNECTED
        ch.target.state = state
        if _is_agent(ch):
            return True, (_AGENT_STATE[state], int(AgentReason.CHANNEL))
        return True, None
    return False, None


def console_tty_view(consoles: list[Console]) -> list[Console] | None:
    """The consoles with console port 0's pty path as its ``tty`` (copies), or None when
    none gets one."""
    view, changed = [], False
    for n, con in enumerate(consoles):
        path = con.source.path if con.source is not None else None
        port = con.target.port if con.target is not None else None
        if con.type == "pty" and path and (port == "0" or (port is None and n == 0)) \
                and con.tty != path:
            con = copy.copy(con)
            con.tty = path
            changed = True
        view.append(con)
    return view if changed else None
