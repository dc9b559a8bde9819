"""The guest agent: Debian's qemu-guest-agent 7.2 in the test guest, reached through the driver.

The test guest runs the real ``qemu-ga`` on its ``org.qemu.guest_agent.0`` port; its
``guest-shutdown`` runs ``/sbin/shutdown -h -P +0 "hypervisor initiated shutdown"`` (a wrapper in
the guest that prints those arguments with the power-off marker), so the console shows that it
was qemu-ga, not a stand-in, that took the guest down.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest
from qemu_e2e import QemuRoot, console_log, domain_xml, wait_marker, wait_until

from virtkit.constants import DomainState
from virtkit.drivers.qemu import agent
from virtkit.drivers.qemu.defs import parse_def
from virtkit.errors import ErrorCode, VirtError

pytestmark = pytest.mark.slow

AGENT = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
MODE_DEFAULT, MODE_ACPI, MODE_AGENT = 0, 1, 2
SHUTDOWN_ARGS = "(shutdown -h -P +0 hypervisor initiated shutdown)"  # what qemu-ga 7.2 runs
BOOT_TIMEOUT = 60.0  # two CPUs shared with other test runs: a bound against hangs only


def call(dom: Any, cmd: str, args: dict[str, Any] | None = None) -> Any:
    """One agent command through the driver's agent module, on the domain's live channel."""
    path = agent.agent_socket(parse_def(dom.xml()))
    assert path is not None
    with agent.GuestAgent(path) as ga:
        return ga.execute(cmd, args)


def wait_agent(dom: Any) -> None:
    """Wait until qemu-ga answers guest-ping (it starts in the background after the ready
    marker)."""
    def answers() -> bool:
        try:
            return bool(call(dom, "guest-ping") == {})
        except VirtError:
            return False
    wait_until(answers, BOOT_TIMEOUT, "qemu-ga to answer guest-ping")


def exec_out(dom: Any, *argv: str) -> str:
    """Run a program in the guest with qemu-ga's guest-exec; its standard output."""
    pid = call(dom, "guest-exec", {"path": argv[0], "arg": list(argv[1:]),
                                   "capture-output": True})["pid"]
    status: dict[str, Any] = {}

    def exited() -> bool:
        status.update(call(dom, "guest-exec-status", {"pid": pid}))
        return bool(status["exited"])
    wait_until(exited, 30, f"{argv} to exit in the guest")
    assert status["exitcode"] == 0, status
    return base64.b64decode(status.get("out-data", "")).decode()


def start(conn: Any, guest: Any, root: Any, name: str, **kw: Any) -> tuple[Any, Any]:
    dom = conn.define_domain(domain_xml(guest, root, name, **kw))
    dom.start()
    log = console_log(root, name)
    wait_marker(log, guest.READY_MARKER, timeout=BOOT_TIMEOUT)
    return dom, log


@pytest.mark.parametrize("mode", [MODE_AGENT, MODE_DEFAULT])
def test_shutdown_uses_the_agent(qroot: QemuRoot, conn: Any, guest: Any, mode: int) -> None:
    """--mode agent, and the default mode when a channel is configured: qemu-ga's shutdown."""
    dom, log = start(conn, guest, qroot.path, "ga1", extra_devices=AGENT)
    assert "org.qemu.guest_agent.0" in dom.xml()
    wait_agent(dom)
    dom.shutdown(mode)
    wait_until(lambda: not dom.is_active(), 30, "the agent to power the guest off")
    assert dom.state_reason() == (DomainState.SHUTOFF, 1)  # shutdown
    assert f"{guest.POWEROFF_MARKER} {SHUTDOWN_ARGS}" in log.read_text(errors="replace")


def test_agent_mode_without_a_channel_is_refused(qroot: QemuRoot, conn: Any,
                                                 guest: Any) -> None:
    dom, log = start(conn, guest, qroot.path, "ga2")
    with pytest.raises(VirtError) as info:
        dom.shutdown(MODE_AGENT)
    assert info.value.code == ErrorCode.ARGUMENT_UNSUPPORTED
    assert "QEMU guest agent is not configured" in info.value.message
    dom.shutdown(MODE_ACPI)  # the power button still works
    wait_until(lambda: not dom.is_active(), 30, "the ACPI power-off")
    text = log.read_text(errors="replace")
    assert guest.POWEROFF_MARKER in text and SHUTDOWN_ARGS not in text


def test_agent_not_connected_is_refused_at_once(qroot: QemuRoot, conn: Any,
                                                guest: Any) -> None:
    """Before qemu-ga opens its port the channel is ``disconnected``: an agent shutdown
    gets libvirt's "not connected" at once (qemuDomainAgentAvailable), the default mode
    presses the power button instead, and once qemu-ga runs the agent answers."""
    dom = conn.define_domain(domain_xml(guest, qroot.path, "ga3", extra_devices=AGENT))
    dom.start()  # the kernel boots for seconds before qemu-ga opens the port
    assert "state='disconnected'" in dom.xml()
    t0 = time.monotonic()
    with pytest.raises(VirtError) as info:
        dom.shutdown(MODE_AGENT)
    waited = time.monotonic() - t0
    assert info.value.code == ErrorCode.AGENT_UNRESPONSIVE
    assert info.value.message.endswith("QEMU guest agent is not connected")
    print(f"\nrefused after {waited * 1000:.0f} ms (the agent timeout is 5 s)")
    wait_marker(console_log(qroot.path, "ga3"), guest.READY_MARKER, timeout=BOOT_TIMEOUT)
    wait_until(lambda: "state='connected'" in dom.xml(), BOOT_TIMEOUT, "the agent channel")
    wait_agent(dom)
    dom.destroy()


def test_answers_are_qemu_ga_7_2s(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    """What qemu-ga itself answers: its version and command list, the guest's host name, clock,
    interfaces and OS, QEMU's own error for an unknown command; and it comes back when killed."""
    dom, log = start(conn, guest, qroot.path, "ga3", extra_devices=AGENT)
    wait_marker(log, guest.IP_MARKER, timeout=BOOT_TIMEOUT)
    wait_agent(dom)

    info = call(dom, "guest-info")
    manifest = json.loads((guest.root / "manifest.json").read_text())
    upstream = manifest["qemu-guest-agent_version"].split(":")[-1].split("+")[0]  # 1:7.2+dfsg-..
    assert upstream == "7.2" and info["version"].startswith("7.2.")
    commands = {c["name"]: c["enabled"] for c in info["supported_commands"]}
    for name in ("guest-sync", "guest-ping", "guest-shutdown", "guest-info", "guest-exec",
                 "guest-get-host-name", "guest-get-time", "guest-network-get-interfaces",
                 "guest-fsfreeze-freeze", "guest-fsfreeze-thaw", "guest-get-osinfo",
                 "guest-get-users", "guest-get-fsinfo", "guest-set-user-password"):
        assert commands.get(name) is True, name
    assert commands["guest-get-devices"] is False  # Windows only: listed, disabled
    assert len(commands) > 40

    assert call(dom, "guest-get-host-name") == {"host-name": guest.HOSTNAME}
    # nanoseconds since the epoch from the guest's RTC (set from the host's clock at boot); the
    # bound only tells a wrong unit or epoch apart, a TCG guest's clock may drift
    assert abs(call(dom, "guest-get-time") - time.time_ns()) < 3600 * 10**9

    ifaces = {i["name"]: i for i in call(dom, "guest-network-get-interfaces")}
    assert set(ifaces) == {"lo", "eth0"}
    mac = re.search(r"<mac address='([0-9a-f:]+)'/>", dom.xml())
    assert mac is not None and ifaces["eth0"]["hardware-address"] == mac.group(1)
    assert {"ip-address-type": "ipv4", "ip-address": "10.0.2.15", "prefix": 24} \
        in ifaces["eth0"]["ip-addresses"]  # QEMU's user network
    assert {"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8} \
        in ifaces["lo"]["ip-addresses"]

    osinfo = call(dom, "guest-get-osinfo")  # /etc/os-release from Debian's base-files
    assert osinfo["id"] == "debian" and osinfo["version-id"] == "12"
    assert osinfo["kernel-release"] == guest.kernel_version and osinfo["machine"] == "x86_64"
    assert call(dom, "guest-fsfreeze-status") == "thawed"

    with pytest.raises(VirtError) as exc:
        call(dom, "guest-no-such-command")
    assert exc.value.code == ErrorCode.INTERNAL_ERROR
    assert exc.value.message.endswith("unable to execute QEMU agent command "
                                      "'guest-no-such-command': The command "
                                      "guest-no-such-command has not been found")

    # the guest's init starts qemu-ga again when it exits
    first = exec_out(dom, "/bin/pidof", "qemu-ga").split()
    assert len(first) == 1
    call(dom, "guest-exec", {"path": "/bin/sh", "arg": ["-c", f"sleep 1; kill {first[0]}"]})
    wait_until(lambda: _pids(dom) not in ([], first), 30, "qemu-ga to be started again")
    assert call(dom, "guest-get-host-name") == {"host-name": guest.HOSTNAME}
    dom.shutdown(MODE_AGENT)
    wait_until(lambda: not dom.is_active(), 30, "the agent to power the guest off")
    assert SHUTDOWN_ARGS in log.read_text(errors="replace")


def _pids(dom: Any) -> list[str]:
    """The pids of qemu-ga in the guest, as qemu-ga itself finds them; [] while none answers."""
    try:
        return exec_out(dom, "/bin/pidof", "qemu-ga").split()
    except VirtError:
        return []


def test_quiesced_disk_snapshot_freezes_through_the_agent(qroot: QemuRoot, conn: Any,
                                                          guest: Any) -> None:
    """snapshot-create-as --disk-only --quiesce: guest-fsfreeze-freeze, then -thaw, on qemu-ga."""
    root = qroot.path
    disk = guest.copy_disk(root / "ga4.qcow2")
    dom, _ = start(conn, guest, root, "ga4", disk=disk, extra_devices=AGENT)
    wait_agent(dom)
    snap = dom.create_snapshot("<domainsnapshot><name>q1</name></domainsnapshot>",
                               16 | 64)  # DISK_ONLY | QUIESCE
    assert snap.name == "q1" and dom.snapshot_count(128) == 1  # DISK_ONLY
    assert dom.state_reason()[0] == DomainState.RUNNING
    assert call(dom, "guest-fsfreeze-status") == "thawed"  # thawed again afterwards
    syslog = exec_out(dom, "/bin/cat", "/var/log/messages")  # qemu-ga logs each command there
    assert "qemu-ga: info: guest-fsfreeze called" in syslog, syslog


@pytest.mark.parametrize(("link", "carrier"), [("down", "0"), ("up", "1")])
def test_link_state_is_set_before_the_guest_runs(qroot: QemuRoot, conn: Any, guest: Any,
                                                 link: str, carrier: str) -> None:
    """``<link state='down'/>`` is accepted at define and honoured at start (QMP set_link
    before the CPUs run, as qemuProcessSetLinkStates): the guest's NIC has no carrier."""
    xml = domain_xml(guest, qroot.path, f"link{link}", extra_devices=AGENT).replace(
        "<model type='virtio'/></interface>",
        f"<model type='virtio'/><link state='{link}'/></interface>")
    assert f"<link state='{link}'/>" in xml
    dom = conn.define_domain(xml)
    dom.start()
    assert f"<link state='{link}'/>" in dom.xml()
    wait_marker(console_log(qroot.path, f"link{link}"), guest.READY_MARKER, timeout=BOOT_TIMEOUT)
    wait_agent(dom)
    assert exec_out(dom, "/bin/cat", "/sys/class/net/eth0/carrier").strip() == carrier
