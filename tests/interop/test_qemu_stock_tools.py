"""Stock Debian tools drive real guests through virtkitd's QEMU driver (TCG).

virsh: define, start, query, console (on a pseudo-terminal, as a user would), shutdown.
libvirt-python: define, create, info, lifecycle events, shutdown. virt-install: --import
with the test guest's kernel and initrd, then virsh sees it running and it boots.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.testing.peers import Daemon, start_virtkitd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drivers" / "qemu"))
import qemu_e2e

pytestmark = [pytest.mark.slow, pytest.mark.interop]
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture
def daemon() -> Iterator[tuple[Daemon, Path, str]]:
    root = Path(qemu_e2e.tempfile.mkdtemp(prefix="vki-", dir="/tmp"))
    d = start_virtkitd(root)
    uri = d.uri("unix", "/system", "qemu")
    try:
        yield d, root, uri
    finally:
        subprocess.run(["virsh", "-c", uri, "list", "--name"], capture_output=True)
        for name in _virsh(uri, "list", "--name").stdout.split():
            _virsh(uri, "destroy", name)
        d.stop()
        leftovers = qemu_e2e.qemu_pids(str(root))
        for pid in leftovers:
            qemu_e2e.kill_pid(pid)
        qemu_e2e.shutil.rmtree(root, ignore_errors=True)
        assert not leftovers, f"QEMU left running: {leftovers}"


def _virsh(uri: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                          timeout=timeout)


def _console_session(uri: str, name: str, command: bytes, expect: bytes,
                     timeout: float = 30) -> bytes:
    """Run ``virsh console`` on a pty, type ``command``, wait for ``expect``, leave with ^]."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("virsh", ["virsh", "-c", uri, "console", name])
    seen = b""
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while expect not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
            if not sent and b"Escape character" in seen:
                time.sleep(0.5)
                os.write(fd, b"\r" + command + b"\r")
                sent = True
        os.write(fd, b"\x1d")  # ^] ends virsh console
        end = time.monotonic() + 10
        while time.monotonic() < end:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return seen


def test_virsh_runs_a_real_guest(daemon: tuple[Daemon, Path, str]) -> None:
    _, root, uri = daemon
    xml = root / "web1.xml"
    xml.write_text(qemu_e2e.domain_xml(qemu_e2e.tg.ensure_guest(), root, "web1"))
    r = _virsh(uri, "define", str(xml))
    assert r.returncode == 0 and "Domain 'web1' defined" in r.stdout, r.stderr
    r = _virsh(uri, "start", "web1")
    assert r.returncode == 0 and "Domain 'web1' started" in r.stdout, r.stderr
    qemu_e2e.wait_marker(qemu_e2e.console_log(root, "web1"), qemu_e2e.tg.READY_MARKER)
    info = _virsh(uri, "dominfo", "web1").stdout
    assert "State:          running" in info and "CPU(s):         1" in info
    assert _virsh(uri, "domstate", "web1", "--reason").stdout.strip() == "running (booted)"
    listing = _virsh(uri, "list").stdout
    assert "web1" in listing and "running" in listing
    out = _console_session(uri, "web1", b"echo virtkit-$((6*7))", b"virtkit-42")
    assert b"Connected to domain 'web1'" in out and b"virtkit-42" in out, out[-500:]
    r = _virsh(uri, "shutdown", "web1")
    assert r.returncode == 0 and "Domain 'web1' is being shutdown" in r.stdout
    qemu_e2e.wait_until(lambda: _virsh(uri, "domstate", "web1").stdout.strip() == "shut off",
                        30, "the guest to power off")
    assert _virsh(uri, "domstate", "web1", "--reason").stdout.strip() == "shut off (shutdown)"
    assert _virsh(uri, "undefine", "web1").returncode == 0


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
    # defined/added, started/booted, suspended/paused, resumed/unpaused,
    # shutdown/guest, stopped/shutdown
    assert out["events"] == [[0, 0], [2, 0], [3, 0], [4, 0], [6, 1], [5, 0]], out["events"]
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
    listing = _virsh(uri, "list").stdout
    assert "vi1" in listing and "running" in listing, listing
    qemu_e2e.wait_marker(log, qemu_e2e.tg.BOOT_MARKER)
    assert _virsh(uri, "destroy", "vi1").returncode == 0
    assert _virsh(uri, "undefine", "vi1").returncode == 0
