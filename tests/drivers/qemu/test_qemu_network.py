"""A real guest on a virtkit NAT network: tap on the bridge, nwfilter on the tap, DHCP lease,
domifaddr, clean-up.

All of it runs in a network namespace the test makes (bridge, nftables, dnsmasq, QEMU),
through one embedded connection: the QEMU driver and the network driver of the same root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from qemu_e2e import tg

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]

CHILD = r"""
import json, os, subprocess, sys, threading, time
import virtkit
from pyroute2 import IPRoute
root, kernel, initrd, cmdline = sys.argv[1:5]
log = os.path.join(root, "n1.console")
NET = '''<network><name>vknat</name><forward mode='nat'/><bridge name='vkbr7'/>
<ip address='192.168.77.1' netmask='255.255.255.0'><dhcp>
<range start='192.168.77.100' end='192.168.77.200'/></dhcp></ip></network>'''
DOM = f'''<domain type='qemu'><name>n1</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
<cmdline>{cmdline}</cmdline></os><features><acpi/></features><devices>
<interface type='network'><mac address='52:54:00:77:00:01'/><source network='vknat'/>
<model type='virtio'/><filterref filter='no-mac-spoofing'/></interface>
<controller type='pci' model='pcie-root-port'/><controller type='pci' model='pcie-root-port'/>
<serial type='pty'><log file='{log}'/></serial><console type='pty'/></devices></domain>'''
out = {}
conn = virtkit.open(f"qemu:///embed?root={root}")
net = conn.define_network(NET)
net.start()
dom = conn.define_domain(DOM)
dom.start()
print("started", file=sys.stderr, flush=True)
try:
    deadline = time.time() + 40
    text = ""
    while time.time() < deadline and "VIRTKIT-GUEST-READY" not in text:
        time.sleep(0.2)
        text = open(log, errors="replace").read() if os.path.exists(log) else ""
    out["ip_line"] = [l for l in text.splitlines() if "VIRTKIT-GUEST-IP" in l]
    out["leases"] = [[x.mac, x.ipaddr] for x in net.dhcp_leases()]
    out["domifaddr"] = [[i.name, i.hwaddr, [a.addr for a in i.addrs]]
                        for i in dom.interface_addresses(0)]
    print("leases", out["leases"], "domifaddr", out["domifaddr"], file=sys.stderr, flush=True)
    con = dom.open_console()
    buf = []
    reader = threading.Thread(target=lambda: [buf.append(c) for c in iter(con.recv, b"")],
                              daemon=True)
    reader.start()
    con.send(b"ping -c 1 -W 2 192.168.77.1 && echo PING-OK-$((40+2))\r")
    t = time.time()
    while b"PING-OK-42" not in b"".join(buf) and time.time() - t < 15:
        time.sleep(0.1)
    out["ping"] = b"PING-OK-42" in b"".join(buf)
    out["ports"] = len(conn.tables.network.network_list_all_ports(net.ident, 0))
    out["portid_in_xml"] = "portid=" in dom.xml()
    st = dom.interface_stats("vnet0")
    out["ifstat"] = [st.rx_bytes, st.tx_bytes]
    nic = ("<interface type='network'><mac address='52:54:00:77:00:02'/>"
           "<source network='vknat'/><model type='virtio'/></interface>")
    dom.attach_device(nic, 1)
    with IPRoute() as ipr:
        out["hotplug_tap"] = bool(ipr.link_lookup(ifname="vnet1"))
    dom.detach_device(nic, 1)
    with IPRoute() as ipr:
        out["hotplug_tap_after"] = bool(ipr.link_lookup(ifname="vnet1"))
    out["bindings"] = [[b.portdev, b.filtername]
                       for b in conn.tables.nwfilter.connect_list_all_nwfilter_bindings()]
    out["nft_filter"] = "virtkit_nwfilter" in subprocess.run(
        ["nft", "list", "tables"], capture_output=True, text=True).stdout
    con.abort()
    with IPRoute() as ipr:
        tap = ipr.get_links(ipr.link_lookup(ifname="vnet0")[0])[0]
        out["tap_on_bridge"] = tap.get_attr("IFLA_MASTER") == ipr.link_lookup(ifname="vkbr7")[0]
finally:
    dom.destroy()
out["ports_after"] = len(conn.tables.network.network_list_all_ports(net.ident, 0))
net.destroy()
with IPRoute() as ipr:
    out["links_after"] = sorted(l.get_attr("IFLA_IFNAME") for l in ipr.get_links())
out["nft_after"] = subprocess.run(["nft", "list", "tables"], capture_output=True,
                                  text=True).stdout
out["bindings_after"] = len(conn.tables.nwfilter.connect_list_all_nwfilter_bindings())
dom.undefine()
net.undefine()
conn.close()
print(json.dumps(out))
"""


def test_guest_on_a_nat_network(netns: str) -> None:
    guest = tg.ensure_guest()
    root = tempfile.mkdtemp(prefix="vkn-", dir="/tmp")  # dnsmasq (nobody) must traverse it
    os.chmod(root, 0o755)
    try:
        r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CHILD, root,
                            str(guest.kernel), str(guest.initrd), guest.cmdline],
                           capture_output=True, text=True, timeout=150, cwd=REPO)
        assert r.returncode == 0, r.stderr[-3000:]
        out = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert out["ip_line"] and "192.168.77." in out["ip_line"][0], out
    ip = out["ip_line"][0].split()[-1]
    assert ["52:54:00:77:00:01", ip] in out["leases"]
    assert out["domifaddr"] == [["vnet0", "52:54:00:77:00:01", [ip]]]
    assert out["ping"] and out["tap_on_bridge"]
    assert "vkbr7" not in out["links_after"] and "vnet0" not in out["links_after"]
    assert "virtkit" not in out["nft_after"]
    # <filterref>: its rules sat on the tap while the guest ran (and let DHCP and ping through)
    assert out["bindings"] == [["vnet0", "no-mac-spoofing"]] and out["nft_filter"]
    assert out["bindings_after"] == 0
    rx, tx = out["ifstat"]
    assert rx > 0 and tx > 0  # DHCP and ping went through the tap
    assert out["hotplug_tap"] and not out["hotplug_tap_after"]
    # a network port per network interface while the guest runs (libvirt's virNetworkPort)
    assert out["ports"] == 1 and out["portid_in_xml"] and out["ports_after"] == 0
