"""chrstate: virtio channel state, AGENT_LIFECYCLE payloads and console 0's ``tty``."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from virtkit.constants import (
    ConnectDomainEventAgentLifecycleReason as Reason,
)
from virtkit.constants import (
    ConnectDomainEventAgentLifecycleState as State,
)
from virtkit.drivers.qemu import chrstate
from virtkit.drivers.qemu.defs import format_def, parse_def

DOMAIN = """<domain type='qemu'>
  <name>c</name><uuid>3c4b4b3e-8a0d-4c55-9a66-1e9a3c1d2f01</uuid>
  <memory unit='MiB'>128</memory><os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <serial type='pty'><source path='/dev/pts/4'/><alias name='serial0'/></serial>
    <console type='pty' tty='/dev/pts/9'><source path='/dev/pts/4'/>
      <target type='serial' port='0'/><alias name='serial0'/></console>
    <console type='pty'><source path='/dev/pts/5'/><target type='virtio' port='1'/>
      <alias name='console1'/></console>
    <channel type='unix'><source mode='bind' path='/run/x/agent.sock'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/><alias name='channel0'/></channel>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/>
      <alias name='channel1'/></channel>
    <channel type='pty'><target type='guestfwd' address='10.0.2.1' port='4600'/>
      <alias name='channel2'/></channel>
  </devices>
</domain>"""

CHARDEVS = [
    {"label": "charserial0", "filename": "pty:/dev/pts/4", "frontend-open": True},
    {"label": "charchannel0", "filename": "unix:/run/x/agent.sock,server=on",
     "frontend-open": False},
    {"label": "charchannel1", "filename": "spicevmc", "frontend-open": True},
    {"label": "charmonitor", "filename": "unix:/run/x/monitor.sock,server=on"},
]


def _states(d: object) -> dict[str, str | None]:
    return {ch.alias.name: ch.target.state for ch in d.devices.channels}  # type: ignore[attr-defined]


def test_channel_states_reads_frontend_open_only() -> None:
    assert chrstate.channel_states(CHARDEVS) == {
        "charserial0": "connected", "charchannel0": "disconnected",
        "charchannel1": "connected"}


def test_refresh_at_start_sets_virtio_channels_and_reports_the_agent() -> None:
    d = parse_def(DOMAIN)
    changed, events = chrstate.refresh_channel_states(d, CHARDEVS, booted=True)
    assert changed
    assert _states(d) == {"channel0": "disconnected", "channel1": "connected",
                          "channel2": None}
    assert events == [(State.DISCONNECTED, Reason.DOMAIN_STARTED)]
    changed, events = chrstate.refresh_channel_states(d, CHARDEVS, booted=False)
    assert not changed  # the same states again: nothing to save
    assert events == [(State.DISCONNECTED, Reason.CHANNEL)]  # libvirt re-emits on reconnect


def test_refresh_skips_channels_qemu_reports_no_state_for() -> None:
    d = parse_def(DOMAIN)
    changed, events = chrstate.refresh_channel_states(d, [{"label": "charchannel0"}], True)
    assert (changed, events) == (False, [])
    assert _states(d)["channel0"] is None


def test_serial_changed_agent_and_other_channels() -> None:
    d = parse_def(DOMAIN)
    assert chrstate.serial_changed(d, "channel0", True) == (
        True, (State.CONNECTED, Reason.CHANNEL))
    assert _states(d)["channel0"] == "connected"
    assert chrstate.serial_changed(d, "channel0", False) == (
        True, (State.DISCONNECTED, Reason.CHANNEL))
    assert chrstate.serial_changed(d, "channel1", True) == (True, None)
    assert _states(d)["channel1"] == "connected"
    # not a virtio channel, or no such device: nothing changes
    assert chrstate.serial_changed(d, "channel2", True) == (False, None)
    assert chrstate.serial_changed(d, "console1", True) == (False, None)
    assert chrstate.serial_changed(d, "nosuch", True) == (False, None)
    assert _states(d)["channel2"] is None


def _consoles(xml: str) -> list[dict[str, str]]:
    return [dict(c.attrib) for c in ET.fromstring(xml).find("devices").iter("console")]  # type: ignore[union-attr]


def test_live_xml_writes_console_0_tty_inactive_does_not() -> None:
    d = parse_def(DOMAIN)
    assert _consoles(format_def(d, 7)) == [{"type": "pty", "tty": "/dev/pts/4"},
                                           {"type": "pty"}]
    # the definition's own tty was dropped at parse (libvirt never reads it)
    assert _consoles(format_def(d, -1)) == [{"type": "pty"}, {"type": "pty"}]
    assert all(c.tty is None for c in d.devices.consoles)  # type: ignore[union-attr]


def test_state_and_tty_survive_the_status_round_trip() -> None:
    d = parse_def(DOMAIN)
    chrstate.serial_changed(d, "channel0", True)
    again = parse_def(format_def(d, 3))
    assert _states(again)["channel0"] == "connected"
    assert _consoles(format_def(again, 3))[0]["tty"] == "/dev/pts/4"


def test_console_tty_view_copies_and_skips() -> None:
    d = parse_def(DOMAIN)
    consoles = d.devices.consoles  # type: ignore[union-attr]
    view = chrstate.console_tty_view(consoles)
    assert view is not None and view[0] is not consoles[0] and view[1] is consoles[1]
    assert consoles[0].tty is None  # the held console is untouched
    consoles[0].sources[0].path = None  # no pty yet: nothing to show
    assert chrstate.console_tty_view(consoles) is None
