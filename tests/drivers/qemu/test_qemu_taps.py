"""Bridge and ethernet interfaces get real taps; a guest on a bridge takes a DHCP lease.

Everything happens in a network namespace the test makes: a bridge with an address,
dnsmasq serving DHCP on it, and the embedded QEMU driver running in that namespace.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from qemu_e2e import tg

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]

CHILD = r"""
import json, os, sys, time
import virtkit
from pyroute2 import IPRoute
root, kernel, initrd, cmdline = sys.argv[1:5]
log = os.path.join(root, "t1.console")
xml = f'''<domain type='qemu'><name>t1</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
<cmdline>{cmdline}</cmdline></os><features><acpi/></features><devices>
<interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='vkbr0'/>
<model type='virtio'/><mtu size='1400'/></interface>
<interface type='ethernet'><target dev='vkraw0'/><model type='virtio'/></interface>
<serial type='pty'><log file='{log}'/></serial><console type='pty'/></devices></domain>'''
out = {}
with virtkit.open(f"qemu:///embed?root={root}") as conn:
    dom = conn.define_domain(xml)
    dom.start()
    try:
        with IPRoute() as ipr:
            br = ipr.link_lookup(ifname="vkbr0")[0]
            tap = ipr.get_links(ipr.link_lookup(ifname="vnet0")[0])[0]
            out["tap_mac"] = tap.get_attr("IFLA_ADDRESS")
            out["tap_mtu"] = tap.get_attr("IFLA_MTU")
            out["tap_master_is_bridge"] = tap.get_attr("IFLA_MASTER") == br
            out["raw_exists"] = bool(ipr.link_lookup(ifname="vkraw0"))
        out["live_target"] = "<target dev='vnet0'/>" in dom.xml()
        deadline = time.time() + 40
        text = ""
        while time.time() < deadline and "VIRTKIT-GUEST-IP" not in text:
            time.sleep(0.2)
            text = open(log, errors="replace").read() if os.path.exists(log) else ""
        out["ip_line"] = [l for l in text.splitlines() if "VIRTKIT-GUEST-IP" in l]
    finally:
        dom.destroy()
    with IPRoute() as ipr:
        out["taps_after"] = [n for n in ("vnet0", "vkraw0") if ipr.link_lookup(ifname=n)]
    dom.undefine()
print(json.dumps(out))
"""


@pytest.fixture
def netns(tmp_path: Path) -> Iterator[str]:
    name = f"vkq-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    dnsmasq = None
    try:
        def ip(*args: str) -> None:
            subprocess.run(["ip", "-n", name, *args], check=True)
        ip("link", "set", "lo", "up")
        ip("link", "add", "vkbr0", "type", "bridge")
        ip("addr", "add", "192.0.2.1/24", "dev", "vkbr0")
        ip("link", "set", "vkbr0", "up")
        dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", name, "dnsmasq", "--keep-in-foreground", "--port=0",
             "--interface=vkbr0", "--bind-interfaces", "--except-interface=lo",
             "--dhcp-range=192.0.2.10,192.0.2.50,12h",
             f"--dhcp-leasefile={tmp_path / 'leases'}", f"--pid-file={tmp_path / 'dnsmasq.pid'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield name
    finally:
        if dnsmasq is not None:
            dnsmasq.terminate()
            dnsmasq.wait(10)
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_bridge_interface_gets_a_tap_and_a_lease(netns: str, tmp_path: Path) -> None:
    guest = tg.ensure_guest()
    root = tmp_path / "root"
    root.mkdir()
    r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CHILD, str(root),
                        str(guest.kernel), str(guest.initrd), guest.cmdline],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["tap_mac"] == "fe:54:00:12:34:56"  # the guest's MAC, first byte 0xfe
    assert out["tap_mtu"] == 1400
    assert out["tap_master_is_bridge"] and out["raw_exists"] and out["live_target"]
    assert out["ip_line"] and "192.0.2." in out["ip_line"][0], out["ip_line"]
    assert out["taps_after"] == [], r.stderr[-2000:]  # destroy removed both taps
