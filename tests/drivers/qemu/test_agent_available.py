"""qemuDomainAgentAvailable's rules in ``agent.connected_agent_socket`` (no guest needed)."""

from __future__ import annotations

import pytest

from virtkit.drivers.qemu import agent
from virtkit.drivers.qemu.defs import parse_def
from virtkit.errors import ErrorCode, VirtError


def _def(channel: str) -> object:
    return parse_def("<domain type='qemu'><name>a</name><memory>65536</memory>"
                     "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
                     f"<devices>{channel}</devices></domain>")


def _agent(state: str | None) -> str:
    attr = f" state='{state}'" if state else ""
    return ("<channel type='unix'><source mode='bind' path='/nonexistent/ga.sock'/>"
            f"<target type='virtio' name='org.qemu.guest_agent.0'{attr}/></channel>")


@pytest.mark.parametrize("state", [None, "connected"])
def test_a_channel_not_known_closed_is_tried(state: str | None) -> None:
    defn = _def(_agent(state))
    assert agent.connected_agent_socket(defn) == "/nonexistent/ga.sock"


def test_a_closed_channel_is_refused_without_connecting() -> None:
    with pytest.raises(VirtError) as exc:
        agent.connected_agent_socket(_def(_agent("disconnected")))
    assert exc.value.code == ErrorCode.AGENT_UNRESPONSIVE
    assert exc.value.message.endswith("QEMU guest agent is not connected")  # no errno text


def test_no_agent_channel_is_not_configured() -> None:
    spice = ("<channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0' "
             "state='disconnected'/></channel>")
    with pytest.raises(VirtError) as exc:
        agent.connected_agent_socket(_def(spice))
    assert exc.value.code == ErrorCode.ARGUMENT_UNSUPPORTED
    assert exc.value.message.endswith("QEMU guest agent is not configured")
