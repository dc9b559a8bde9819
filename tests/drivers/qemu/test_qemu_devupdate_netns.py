"""virDomainUpdateDeviceFlags on a tap interface (a NAT network in a network namespace the
test makes): the ``<filterref>`` of a running guest is re-bound on its tap (libvirt's
qemuDomainChangeNetFilter), and its link state changes, without touching the tap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest
from qemu_e2e import REPO, tg

pytestmark = pytest.mark.slow

CHILD = r"""
import json, sys, virtkit
root, kernel, initrd, cmdline = sys.argv[1:5]
NET = '''<network><name>vkupd</name><forward mode='nat'/><bridge name='vkbr8'/>
<ip address='192.168.78.1' netmask='255.255.255.0'/></network>'''
MAC = '52:54:00:78:00:01'
NIC = ("<interface type='network'><mac address='" + MAC + "'/><source network='vkupd'/>"
       "<model type='virtio'/>{extra}</interface>")
DOM = f'''<domain type='qemu'><name>u1</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel>
<initrd>{initrd}</initrd><cmdline>{cmdline}</cmdline></os><devices>
{NIC.format(extra="<filterref filter='no-mac-spoofing'/>")}</devices></domain>'''
out = {}
conn = virtkit.open(f"qemu:///embed?root={root}")
net = conn.define_network(NET)
net.start()
dom = conn.define_domain(DOM)
dom.start()

def bindings():
    return sorted([b.portdev, b.filtername]
                  for b in conn.tables.nwfilter.connect_list_all_nwfilter_bindings())

try:
    out["before"] = bindings()
    dom.update_device(NIC.format(extra="<filterref filter='no-ip-multicast'/>"), 1)
    out["changed"] = bindings()
    out["live_xml"] = "filter='no-ip-multicast'" in dom.xml()
    out["config_xml"] = "filter='no-mac-spoofing'" in dom.xml(2)
    dom.update_device(NIC.format(extra="<link state='down'/>"), 1)
    out["removed"] = bindings()
    out["link_xml"] = "<link state='down'/>" in dom.xml()
    try:
        dom.update_device(NIC.format(extra="<filterref filter='no-such-filter'/>"), 1)
    except virtkit.VirtError as e:
        out["bad"] = [int(e.code), str(e)]
    out["after_bad"] = bindings()
    out["tap"] = "<target dev='vnet0'/>" in dom.xml()
finally:
    dom.destroy()
    out["gone"] = bindings()
    net.destroy()
    dom.undefine()
    net.undefine()
    conn.close()
print(json.dumps(out))
"""


def test_filter_and_link_of_a_tap_change_live(netns: str) -> None:
    guest = tg.ensure_guest()
    root = tempfile.mkdtemp(prefix="vku-", dir="/tmp")  # dnsmasq (nobody) must traverse it
    os.chmod(root, 0o755)
    r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CHILD, root,
                        str(guest.kernel), str(guest.initrd), guest.cmdline],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["before"] == [["vnet0", "no-mac-spoofing"]]
    assert out["changed"] == [["vnet0", "no-ip-multicast"]]
    assert out["live_xml"] and out["config_xml"]
    assert out["removed"] == [] and out["link_xml"]  # no <filterref>: the binding went
    # an unknown filter fails (the old rules, none here, are put back)
    assert out["bad"][1] == ("operation failed: failed to add new filter rules to 'vnet0' - "
                             "attempting to restore old rules")
    assert out["after_bad"] == []
    assert out["tap"] and out["gone"] == []
