"""Shutdown through the guest agent (the test guest runs a minimal one on its virtio port)."""

from __future__ import annotations

from typing import Any

import pytest
from qemu_e2e import QemuRoot, console_log, domain_xml, wait_marker, wait_until

from virtkit.constants import DomainState
from virtkit.errors import ErrorCode, VirtError

pytestmark = pytest.mark.slow

AGENT = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
MODE_ACPI, MODE_AGENT = 1, 2


def test_shutdown_uses_the_agent(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    dom = conn.define_domain(domain_xml(guest, qroot.path, "ga1", extra_devices=AGENT))
    dom.start()
    log = console_log(qroot.path, "ga1")
    wait_marker(log, guest.READY_MARKER)
    assert "org.qemu.guest_agent.0" in dom.xml()
    dom.shutdown(MODE_AGENT)
    wait_until(lambda: not dom.is_active(), 30, "the agent to power the guest off")
    assert dom.state_reason() == (DomainState.SHUTOFF, 1)  # shutdown
    assert "(guest agent)" in log.read_text(errors="replace")


def test_agent_mode_without_a_channel_is_refused(qroot: QemuRoot, conn: Any,
                                                 guest: Any) -> None:
    dom = conn.define_domain(domain_xml(guest, qroot.path, "ga2"))
    dom.start()
    wait_marker(console_log(qroot.path, "ga2"), guest.READY_MARKER)
    with pytest.raises(VirtError) as info:
        dom.shutdown(MODE_AGENT)
    assert info.value.code == ErrorCode.ARGUMENT_UNSUPPORTED
    assert "QEMU guest agent is not configured" in info.value.message
    dom.shutdown(MODE_ACPI)  # the power button still works
    wait_until(lambda: not dom.is_active(), 30, "the ACPI power-off")
