"""A re-attached guest's virtio channel state comes from QEMU, not from the status file.

libvirt's qemuProcessReconnect asks ``query-chardev`` again
(qemuRefreshVirtioChannelState): the state a restarted daemon shows is the port's state
now. A child process starts the guest and exits once qemu-ga opened its port; the status
it left is then made to say ``disconnected`` before this process re-attaches.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from qemu_e2e import QemuRoot, domain_xml, qemu_pids, wait_gone

pytestmark = pytest.mark.slow

AGENT = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
HANG_GUARD = 180  # TCG on a shared 2-core machine: a bound against hangs only
CHILD = r"""
import sys, time
import virtkit
uri, xml_file, guard = sys.argv[1], sys.argv[2], float(sys.argv[3])
conn = virtkit.open(uri)
dom = conn.define_domain(open(xml_file).read())
dom.start()
deadline = time.monotonic() + guard
while "state='connected'" not in dom.xml():
    if time.monotonic() > deadline:
        sys.exit("qemu-ga never opened its port")
    time.sleep(0.2)
"""


def test_reattach_refreshes_channel_state(qroot: QemuRoot, guest: Any) -> None:
    xml_file = qroot.path / "ch1.in.xml"
    xml_file.write_text(domain_xml(guest, qroot.path, "ch1", memory_mib=192,
                                   extra_devices=AGENT))
    out = subprocess.run([sys.executable, "-c", CHILD, qroot.uri, str(xml_file),
                          str(HANG_GUARD)], capture_output=True, text=True,
                         timeout=HANG_GUARD + 60)
    assert out.returncode == 0, out.stderr
    (pid,) = qemu_pids(str(qroot.path))
    status = qroot.path / "run" / "qemu" / "ch1.xml"
    text = status.read_text()
    assert "state='connected'" in text  # VSERPORT_CHANGE was saved
    status.write_text(text.replace("state='connected'", "state='disconnected'"))

    conn = qroot.open()
    dom = conn.lookup_domain("ch1")
    assert dom.is_active()
    targets = [line for line in dom.xml().splitlines() if "org.qemu.guest_agent.0" in line
               and "<target" in line]
    assert targets == ["      <target type='virtio' name='org.qemu.guest_agent.0' "
                       "state='connected'/>"]
    assert "state='connected'" in status.read_text()  # the refreshed state was saved
    dom.destroy()
    assert wait_gone(pid, 10)
