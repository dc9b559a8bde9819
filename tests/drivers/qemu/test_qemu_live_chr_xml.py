"""Live XML details virt-manager reads, compared with Debian's libvirtd 9.0 on the same XML.

Each definition below runs on libvirtd (QEMU driver, bench/qemu_peers.py) and on virtkit's
QEMU driver; the elements virt-manager looks at must come out the same:

- virtio channels' ``<target state='connected|disconnected'/>`` (query-chardev's
  ``frontend-open`` at start, VSERPORT_CHANGE after) and the guest agent's
  VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE events (the test guest runs qemu-ga);
- console 0's ``tty='/dev/pts/N'`` next to the pty paths;
- ``<graphics listen='ADDR'>`` beside ``<listen type='address' address='ADDR'/>`` once the
  start gave an address listen qemu.conf's default.

Machine-specific values (pty numbers, socket paths, ports) are masked; the serial
``<target>`` (libvirt fills in isa-serial) is outside this comparison.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import REPO, console_log, domain_xml, kill_pid, qemu_pids, tg, wait_gone

import virtkit
from virtkit.constants import DomainEventID
from virtkit.drivers.qemu import agent
from virtkit.drivers.qemu.defs import parse_def
from virtkit.errors import VirtError

sys.path.insert(0, str(REPO / "bench"))
import qemu_peers  # type: ignore[import-not-found]

pytestmark = [pytest.mark.slow, pytest.mark.interop]

HANG_GUARD = 180.0  # TCG guests on a shared 2-core machine: a bound against hangs only
AGENT_NAME = "org.qemu.guest_agent.0"
BOOTED = ("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
          "<channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>"
          "<graphics type='spice' autoport='yes' listen='127.0.0.1'/>")
# started and stopped without waiting for the guest: the graphics and consoles of live XML
VARIANTS = {
    "vnc-none": "<graphics type='vnc' autoport='yes'/>",
    "vnc-attr": "<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>",
    "vnc-empty": "<graphics type='vnc' autoport='yes'><listen type='address'/></graphics>",
    "vnc-both": "<graphics type='vnc' autoport='yes' listen='0.0.0.0'>"
                "<listen type='address' address='0.0.0.0'/></graphics>",
    "spice-none": "<graphics type='spice' autoport='yes'/>",
    "spice-empty": "<graphics type='spice' autoport='yes'><listen type='address'/></graphics>",
    "spice-elem": "<graphics type='spice' autoport='yes'>"
                  "<listen type='address' address='127.0.0.1'/></graphics>",
    "virtio-consoles": "<console type='pty'><target type='virtio'/></console>"
                       "<console type='pty'><target type='virtio'/></console>",
}
_PTS = re.compile(r"/dev/pts/\d+\Z")


def _elements(xml: str) -> list[list[tuple[str, dict[str, str]]]]:
    """(tag, attributes) of each serial, console, channel and graphics element and their
    descendants, machine-specific values masked."""
    out = []
    devices = ET.fromstring(xml).find("devices")
    assert devices is not None
    for dev in devices:
        if dev.tag not in ("serial", "console", "channel", "graphics"):
            continue
        rows = []
        for el in dev.iter():
            if el.tag in ("alias", "address", "log") or (
                    dev.tag == "serial" and el.tag in ("target", "model")):
                continue
            attrs = {k: "PTS" if _PTS.match(v) else v for k, v in el.attrib.items()}
            if dev.tag == "graphics" and el is dev:
                attrs.pop("port", None)
            if dev.tag == "channel" and el.tag == "source" and "path" in attrs:
                attrs["path"] = "SOCKET"
            rows.append((el.tag, attrs))
        out.append(rows)
    return out


def _pts_of(xml: str) -> set[str]:
    """The distinct pty paths named anywhere in ``xml`` (console tty == serial's source)."""
    return set(re.findall(r"/dev/pts/\d+", xml))


def _wait(pred: Any, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"hang guard: {what}")
        time.sleep(0.2)


def _observe(conn: Any, root: Path, guest: Any,
             agent_exec: Callable[[Any, dict[str, Any]], None]) -> dict[str, Any]:
    """Run every definition on ``conn``: their XML at each step and the agent's events
    (``agent_exec(dom, command)``: one guest agent command, its reply not awaited)."""
    seen: dict[str, Any] = {"events": []}
    root.mkdir(parents=True, exist_ok=True)
    handle = conn.on_domain_event(
        lambda dom, _eid, *payload: seen["events"].append((dom.name, tuple(payload))),
        DomainEventID.AGENT_LIFECYCLE)
    try:
        for name, extra in VARIANTS.items():
            dom = conn.define_domain(domain_xml(guest, root, name, memory_mib=128,
                                                extra_devices=extra))
            seen[name] = {"inactive": dom.xml()}
            dom.start()
            seen[name]["live"] = dom.xml()
            seen[name]["inactive-running"] = dom.xml(2)
            dom.destroy()
            dom.undefine()
        dom = conn.define_domain(domain_xml(guest, root, "agent", memory_mib=192,
                                            extra_devices=BOOTED))
        dom.start()
        seen["started"] = dom.xml()
        log = console_log(root, "agent")
        _wait(lambda: log.exists() and guest.READY_MARKER in log.read_text(errors="replace"),
              "the guest's ready marker")
        _wait(lambda: "state='connected'" in dom.xml(), "qemu-ga to open its channel")
        seen["connected"] = dom.xml()
        seen["connected-inactive"] = dom.xml(2)
        _wait(lambda: len(seen["events"]) >= 2, "two AGENT_LIFECYCLE events")
        # qemu-ga exits (the guest's init starts it again a second later): VSERPORT_CHANGE
        # closed, then open
        agent_exec(dom, {"execute": "guest-exec", "arguments": {
            "path": "/bin/busybox", "arg": ["killall", "qemu-ga"]}})
        _wait(lambda: len(seen["events"]) >= 4, "qemu-ga to close and reopen its channel")
        _wait(lambda: "state='connected'" in dom.xml(), "qemu-ga to open its channel again")
        dom.destroy()
        dom.undefine()
    finally:
        handle.cancel()
    return seen


def _virsh_agent_exec(uri: str) -> Callable[[Any, dict[str, Any]], None]:
    """Through libvirtd (it holds the agent's socket): virsh qemu-agent-command."""
    def run(dom: Any, cmd: dict[str, Any]) -> None:
        subprocess.run(["virsh", "-c", uri, "qemu-agent-command", dom.name, json.dumps(cmd)],
                       capture_output=True, timeout=60, check=False)
    return run


def _socket_agent_exec(dom: Any, cmd: dict[str, Any]) -> None:
    """virtkit's driver leaves the agent's socket free: the command goes straight to it."""
    path = agent.agent_socket(parse_def(dom.xml()))
    assert path is not None
    with contextlib.suppress(VirtError), agent.GuestAgent(path) as ga:
        ga.execute(cmd["execute"], cmd.get("arguments"))


@contextlib.contextmanager
def _qemus_cleaned(root: Path) -> Iterator[None]:
    try:
        yield
    finally:
        for pid in qemu_pids(str(root)):
            kill_pid(pid)
            wait_gone(pid, 10)


@pytest.fixture(scope="module")
def observed() -> Iterator[dict[str, dict[str, Any]]]:
    """The same run on libvirtd 9.0 and on virtkit's QEMU driver (embedded)."""
    guest = tg.ensure_guest()
    root = Path(tempfile.mkdtemp(prefix="vklc", dir="/tmp"))
    result: dict[str, dict[str, Any]] = {}
    with _qemus_cleaned(root):
        peer = qemu_peers.start_libvirtd_qemu(root / "lvd")
        try:
            conn = virtkit.open(peer.uri)
            try:
                result["libvirtd"] = _observe(conn, root / "lv", guest,
                                              _virsh_agent_exec(peer.uri))
            finally:
                conn.close()
        finally:
            peer.stop()
        conn = virtkit.open(f"qemu:///embed?root={root / 'vk'}")
        try:
            result["virtkit"] = _observe(conn, root / "vkg", guest, _socket_agent_exec)
        finally:
            with contextlib.suppress(Exception):
                for dom in conn.list_domains():
                    if dom.is_active():
                        dom.destroy()
            conn.close()
    shutil.rmtree(root, ignore_errors=True)
    yield result


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("step", ["inactive", "live", "inactive-running"])
def test_consoles_and_graphics_match_libvirtd(observed: dict[str, dict[str, Any]],
                                              name: str, step: str) -> None:
    """Console ``tty``, pty paths and the graphics ``listen`` attribute, as libvirtd."""
    lv, vk = observed["libvirtd"][name][step], observed["virtkit"][name][step]
    assert _elements(vk) == _elements(lv)
    assert len(_pts_of(vk)) == len(_pts_of(lv))


@pytest.mark.parametrize("step", ["started", "connected", "connected-inactive"])
def test_channel_state_matches_libvirtd(observed: dict[str, dict[str, Any]],
                                        step: str) -> None:
    """Both channels ``disconnected`` at start, the agent's ``connected`` once qemu-ga
    opened it; no state in the inactive XML."""
    lv, vk = observed["libvirtd"][step], observed["virtkit"][step]
    assert _elements(vk) == _elements(lv)
    states = [t.get("state") for t in ET.fromstring(vk).iter("target")
              if t.get("type") == "virtio"]
    expected = {"started": ["disconnected", "disconnected"],
                "connected": ["connected", "disconnected"],
                "connected-inactive": [None, None]}[step]
    assert states == expected


def test_agent_lifecycle_events_match_libvirtd(observed: dict[str, dict[str, Any]]) -> None:
    """DISCONNECTED/DOMAIN_STARTED at start, then CONNECTED/CHANNEL from VSERPORT_CHANGE;
    qemu-ga's exit and restart: DISCONNECTED/CHANNEL, CONNECTED/CHANNEL."""
    lv, vk = observed["libvirtd"]["events"], observed["virtkit"]["events"]
    assert vk == lv
    assert vk == [("agent", (2, 1)), ("agent", (1, 2)), ("agent", (2, 2)), ("agent", (1, 2))]
