"""Stock Debian tools drive real guests through virtkitd's QEMU driver (TCG).

virsh: define, start, query, console (on a pseudo-terminal, as a user would), shutdown.
libvirt-python: define, create, info, lifecycle events, shutdown. virt-install: --import
with the test guest's kernel and initrd, then virsh sees it running and it boots.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.testing.peers import Daemon

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drivers" / "qemu"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import qemu_e2e
from virsh_qemu import console_session, qemu_daemon, virsh

pytestmark = [pytest.mark.slow, pytest.mark.interop]
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture
def daemon() -> Iterator[tuple[Daemon, Path, str]]:
    with qemu_daemon("vki-") as d:
        yield d


def test_virsh_runs_a_real_guest(daemon: tuple[Daemon, Path, str]) -> None:
    _, root, uri = daemon
    xml = root / "web1.xml"
    xml.write_text(qemu_e2e.domain_xml(qemu_e2e.tg.ensure_guest(), root, "web1"))
    r = virsh(uri, "define", str(xml))
    assert r.returncode == 0 and "Domain 'web1' defined" in r.stdout, r.stderr
    r = virsh(uri, "start", "web1")
    assert r.returncode == 0 and "Domain 'web1' started" in r.stdout, r.stderr
    qemu_e2e.wait_marker(qemu_e2e.console_log(root, "web1"), qemu_e2e.tg.READY_MARKER)
    info = virsh(uri, "dominfo", "web1").stdout
    assert "State:          running" in info and "CPU(s):         1" in info
    assert virsh(uri, "domstate", "web1", "--reason").stdout.strip() == "running (booted)"
    listing = virsh(uri, "list").stdout
    assert "web1" in listing and "running" in listing
    out = console_session(uri, "web1", b"echo virtkit-$((6*7))", b"virtkit-42")
    assert b"Connected to domain 'web1'" in out and b"virtkit-42" in out, out[-500:]
    r = virsh(uri, "shutdown", "web1")
    assert r.returncode == 0 and "Domain 'web1' is being shutdown" in r.stdout
    qemu_e2e.wait_until(lambda: virsh(uri, "domstate", "web1").stdout.strip() == "shut off",
                        30, "the guest to power off")
    assert virsh(uri, "domstate", "web1", "--reason").stdout.strip() == "shut off (shutdown)"
    assert virsh(uri, "undefine", "web1").returncode == 0


LIBVIRT_SCRIPT = textwrap.dedent("""
    import json, sys, threading, time
    import libvirt
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)],
                     daemon=True).start()
    uri, xml, log = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]
    conn = libvirt.open(uri)
    events = []
    conn.domainEventRegisterAny(None, 0, lambda c, d, e, det, o: events.append([e, det]), None)
    dom = conn.defineXML(xml)
    dom.create()
    deadline = time.time() + 30
    while b"VIRTKIT-GUEST-READY" not in open(log, "rb").read() and time.time() < deadline:
        time.sleep(0.05)
    state, maxmem, mem, vcpus, cputime = dom.info()
    running = dom.isActive()
    dom.suspend(); dom.resume()
    stats = conn.domainListGetStats([dom], 0)[0][1]
    dom.shutdown()
    while dom.isActive() and time.time() < deadline + 30:
        time.sleep(0.05)
    time.sleep(0.3)
    out = {"state": state, "maxmem": maxmem, "vcpus": vcpus, "cputime": cputime,
           "running": running, "after": dom.state(), "events": list(events),
           "stats_keys": sorted(stats)}
    dom.undefine()
    print(json.dumps(out))
""")


def test_libvirt_python_runs_a_real_guest(daemon: tuple[Daemon, Path, str]) -> None:
    _, root, uri = daemon
    xml = root / "py1.xml"
    xml.write_text(qemu_e2e.domain_xml(qemu_e2e.tg.ensure_guest(), root, "py1"))
    script = root / "drive.py"
    script.write_text(LIBVIRT_SCRIPT)
    r = subprocess.run([SYSTEM_PYTHON, str(script), uri, str(xml),
                        str(qemu_e2e.console_log(root, "py1"))],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout)
    assert out["running"] == 1 and out["state"] == 1 and out["vcpus"] == 1
    assert out["maxmem"] == 256 * 1024 and out["cputime"] > 0
    assert out["after"] == [5, 1]  # shut off, reason shutdown
    # defined/added, resumed/unpaused and started/booted (libvirtd 9.0 sends both at a
    # start), suspended/paused, resumed/unpaused, shutdown/guest, stopped/shutdown
    assert out["events"] == [[0, 0], [4, 0], [2, 0], [3, 0], [4, 0], [6, 1], [5, 0]], \
        out["events"]
    assert "cpu.time" in out["stats_keys"] and "balloon.current" in out["stats_keys"]


def test_virt_install_imports_and_boots_the_guest(daemon: tuple[Daemon, Path, str]) -> None:
    _, root, uri = daemon
    guest = qemu_e2e.tg.ensure_guest()
    log = root / "vi1-console.log"
    r = subprocess.run([
        "virt-install", "--connect", uri, "--name", "vi1", "--memory", "256", "--vcpus", "1",
        "--import", "--disk", "none", "--osinfo", "detect=on,require=off", "--virt-type", "qemu",
        "--boot", f"kernel={guest.kernel},initrd={guest.initrd},kernel_args={guest.cmdline}",
        "--network", "none", "--graphics", "none", "--serial", f"pty,log.file={log}",
        "--noautoconsole"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Domain creation completed" in r.stdout
    listing = virsh(uri, "list").stdout
    assert "vi1" in listing and "running" in listing, listing
    qemu_e2e.wait_marker(log, qemu_e2e.tg.BOOT_MARKER)
    assert virsh(uri, "destroy", "vi1").returncode == 0
    assert virsh(uri, "undefine", "vi1").returncode == 0
