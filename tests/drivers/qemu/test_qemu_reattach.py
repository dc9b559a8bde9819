"""End to end: qemu:///embed guests outlive the process that started them.

A child Python process starts a guest and exits; this process then opens the same root and
takes the guest back (same id, info, events, destroy), or finds that it died or powered off
while nobody watched, and says so.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from qemu_e2e import (
    QemuRoot,
    console_log,
    domain_xml,
    lifecycle,
    pid_alive,
    qemu_pids,
    wait_gone,
    wait_marker,
)

from virtkit.conf.domain import DomainDef
from virtkit.constants import DomainEventType, DomainState

pytestmark = pytest.mark.slow

# The child: define and start the domain, optionally wait for a console marker and shut the guest
# down, print what it saw as JSON, and exit without destroying anything.
CHILD = r"""
import json, sys, time
import virtkit
uri, xml_file, log, marker, action = sys.argv[1:6]
conn = virtkit.open(uri)
dom = conn.define_domain(open(xml_file).read())
dom.start()
if marker:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if marker in open(log, errors="replace").read():
                break
        except OSError:
            pass
        time.sleep(0.05)
    else:
        sys.exit("marker not seen")
if action == "shutdown":
    dom.shutdown()
print(json.dumps({"id": dom.id, "state": int(dom.state_reason()[0])}))
"""


def run_child(root: QemuRoot, guest: Any, name: str, marker: str = "",
              action: str = "", extra_devices: str = "") -> dict[str, Any]:
    xml_file = root.path / f"{name}.in.xml"
    xml_file.write_text(domain_xml(guest, root.path, name, extra_devices=extra_devices))
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, root.uri, str(xml_file),
         str(console_log(root.path, name)), marker, action],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    print(f"\nchild process ran for {time.monotonic() - t0:.2f} s")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_reattach_running_guest(qroot: QemuRoot, guest: Any) -> None:
    child = run_child(qroot, guest, "vm1", marker=guest.BOOT_MARKER)
    assert child["id"] > 0 and child["state"] == DomainState.RUNNING
    pids = qemu_pids(str(qroot.path))
    assert len(pids) == 1, "the guest did not outlive the process that started it"
    pid = pids[0]

    t0 = time.monotonic()
    conn = qroot.open()
    print(f"open with re-attach: {time.monotonic() - t0:.3f} s")
    dom = conn.lookup_domain("vm1")
    assert dom.id == child["id"]
    assert dom.is_active()
    assert dom.state_reason()[0] == DomainState.RUNNING
    info = dom.info()
    assert info.state == DomainState.RUNNING and info.cpu_time > 0
    assert f"id='{child['id']}'" in dom.xml().split(">", 1)[0]
    assert dom.stats()["state.state"] == DomainState.RUNNING
    assert [d.id for d in conn.list_domains()] == [child["id"]]

    with conn.domain_events() as events:
        dom.suspend()
        assert dom.state_reason()[0] == DomainState.PAUSED
        dom.resume()
        assert lifecycle(events, until=(DomainEventType.RESUMED, 0)) == [
            (DomainEventType.SUSPENDED, 0), (DomainEventType.RESUMED, 0)]
        t0 = time.monotonic()
        dom.destroy()
        print(f"destroy of a re-attached guest: {(time.monotonic() - t0) * 1000:.0f} ms")
        got = lifecycle(events, until=(DomainEventType.STOPPED, 1), timeout=3)
    assert wait_gone(pid, 5)
    assert not (qroot.path / "run" / "qemu" / "vm1.xml").exists()
    assert dom.state_reason() == (DomainState.SHUTOFF, 2)  # destroyed
    # SHUTDOWN/HOST (QEMU ends on the SIGTERM) then STOPPED/DESTROYED, as libvirtd 9.0
    assert got == [(DomainEventType.SHUTDOWN, 2), (DomainEventType.STOPPED, 1)]


def test_guest_killed_while_unwatched(qroot: QemuRoot, guest: Any) -> None:
    run_child(qroot, guest, "vm1")
    status = qroot.path / "run" / "qemu" / "vm1.xml"
    assert status.exists()
    pids = qemu_pids(str(qroot.path))
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)  # our own QEMU, by pid
    assert wait_gone(pids[0], 5), "killed QEMU never went away (not reaped?)"

    conn = qroot.open()
    dom = conn.lookup_domain("vm1")
    assert not dom.is_active()
    assert dom.id == -1
    assert dom.state_reason()[0] == DomainState.SHUTOFF
    assert not status.exists()
    assert dom.info().state == DomainState.SHUTOFF
    # and it can start again
    dom.start()
    assert dom.state_reason()[0] == DomainState.RUNNING
    dom.destroy()


def test_guest_powered_off_while_unwatched(qroot: QemuRoot, guest: Any) -> None:
    run_child(qroot, guest, "vm1", marker=guest.READY_MARKER, action="shutdown")
    wait_marker(console_log(qroot.path, "vm1"), guest.POWEROFF_MARKER, timeout=10)
    time.sleep(1.0)  # the guest finishes powering off; nobody handles QEMU's SHUTDOWN event
    conn = qroot.open()
    dom = conn.lookup_domain("vm1")
    assert dom.state_reason() == (DomainState.SHUTOFF, 1)  # shutdown
    assert not dom.is_active()
    assert not (qroot.path / "run" / "qemu" / "vm1.xml").exists()
    for pid in qemu_pids(str(qroot.path)):
        assert not pid_alive(pid) or wait_gone(pid, 5)


def test_reattach_keeps_the_display_ports(qroot: QemuRoot, guest: Any) -> None:
    """A running domain's status is parsed as libvirt parses it (not as an inactive
    definition): the autoport VNC and SPICE displays keep the ports QEMU listens on, so
    the live XML, vncdisplay and the next guest's port choice stay right."""
    run_child(qroot, guest, "vm4", extra_devices=(
        "<graphics type='vnc' autoport='yes'/><graphics type='spice' autoport='yes'/>"
        "<video><model type='qxl'/></video>"))
    conn = qroot.open()
    dom = conn.lookup_domain("vm4")
    live = DomainDef.from_xml(dom.xml())
    assert live.devices is not None
    ports = {g.type: g.port for g in live.devices.graphics}
    mon = conn.tables.hypervisor._node.by_name["vm4"].mon
    assert ports["vnc"] == mon.execute("query-vnc")["service"]
    assert ports["spice"] == str(mon.execute("query-spice")["port"])
    inactive = DomainDef.from_xml(dom.xml(2))  # VIR_DOMAIN_XML_INACTIVE
    assert inactive.devices is not None
    assert [(g.type, g.port) for g in inactive.devices.graphics] == [("vnc", "-1"),
                                                                     ("spice", None)]
    dom.destroy()
