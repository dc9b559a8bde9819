"""clean-traffic on a real bridge, in network namespaces the test makes (never the host's).

Namespaces: H (the host: bridge vkbr0, the VM's tap "vnet0", the peer's port),
G (the "guest": the other end of vnet0, with its IP and MAC), P (a peer on the
bridge). Each step runs in a child process inside a namespace; the driver's
state lives in a temp root, so every step is a fresh driver that reloads it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

GUEST_IP, PEER_IP, SPOOF_IP = "192.0.2.2", "192.0.2.3", "192.0.2.9"
GUEST_MAC, SPOOF_MAC = "52:54:00:aa:bb:01", "52:54:00:aa:bb:66"

PING = r"""
import json, os, select, socket, struct, sys, time
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
dst = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xffff
ok = False
for seq in range(3):
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"virtkit"
    s.sendto(struct.pack("!BBHHH", 8, 0, csum(body), ident, seq) + b"virtkit", (dst, 0))
    end = time.time() + 1.0
    while not ok and time.time() < end:
        r, _, _ = select.select([s], [], [], max(0.0, end - time.time()))
        if not r:
            break
        data, addr = s.recvfrom(2048)
        ihl = (data[0] & 15) * 4
        t, _, _, i, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        ok = t == 0 and i == ident and addr[0] == dst
    if ok:
        break
print(json.dumps(ok))
"""

DRIVER = r"""
import json, sys
from virtkit.drivers.nwfilter import NWFilterDriverImpl
from virtkit.types import NWFilterBindingIdent
root, action = sys.argv[1], sys.argv[2]
d = NWFilterDriverImpl(root=root)
if action == "create":
    d.nwfilter_binding_create_xml(sys.argv[3])
elif action == "delete":
    d.nwfilter_binding_delete(d.nwfilter_binding_lookup_by_port_dev("vnet0"))
print(json.dumps([list(b) for b in d.connect_list_all_nwfilter_bindings()]))
"""

BINDING = f"""<filterbinding>
  <owner><name>guest</name><uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner>
  <portdev name='vnet0'/>
  <mac address='{GUEST_MAC}'/>
  <filterref filter='clean-traffic'>
    <parameter name='IP' value='{GUEST_IP}'/>
  </filterref>
</filterbinding>
"""


class Lab:
    def __init__(self, tag: str, root: Path) -> None:
        self.h, self.g, self.p = f"vkf-{tag}", f"vkf-{tag}-g", f"vkf-{tag}-p"
        self.root = root

    def ip(self, ns: str, *args: str) -> None:
        subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)

    def run(self, ns: str, code: str, *args: str) -> object:
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code, *args],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])

    def ping(self) -> bool:
        self.ip(self.p, "neigh", "flush", "all")
        self.ip(self.g, "neigh", "flush", "all")
        return bool(self.run(self.g, PING, PEER_IP))

    def driver(self, *args: str) -> object:
        return self.run(self.h, DRIVER, str(self.root), *args)

    def ruleset(self) -> str:
        r = subprocess.run(["ip", "netns", "exec", self.h, "nft", "list", "ruleset"],
                           capture_output=True, text=True, check=True)
        return r.stdout

    def guest_addr(self, ip: str, mac: str) -> None:
        self.ip(self.g, "addr", "flush", "dev", "g0")
        self.ip(self.g, "link", "set", "g0", "down")
        self.ip(self.g, "link", "set", "g0", "address", mac)
        self.ip(self.g, "link", "set", "g0", "up")
        self.ip(self.g, "addr", "add", f"{ip}/24", "dev", "g0", "nodad")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(uuid.uuid4().hex[:6], tmp_path)
    for ns in (lab.h, lab.g, lab.p):
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        h = lab.h
        lab.ip(h, "link", "add", "vkbr0", "type", "bridge")
        lab.ip(h, "link", "add", "vnet0", "type", "veth", "peer", "name", "g0")
        lab.ip(h, "link", "add", "vkpeer", "type", "veth", "peer", "name", "p0")
        lab.ip(h, "link", "set", "g0", "netns", lab.g)
        lab.ip(h, "link", "set", "p0", "netns", lab.p)
        for dev in ("vnet0", "vkpeer"):
            lab.ip(h, "link", "set", dev, "master", "vkbr0")
            lab.ip(h, "link", "set", dev, "up")
        lab.ip(h, "link", "set", "vkbr0", "up")
        lab.ip(lab.g, "link", "set", "lo", "up")
        lab.guest_addr(GUEST_IP, GUEST_MAC)
        lab.ip(lab.p, "link", "set", "p0", "up")
        lab.ip(lab.p, "addr", "add", f"{PEER_IP}/24", "dev", "p0", "nodad")
        yield lab
    finally:
        for ns in (lab.h, lab.g, lab.p):
            subprocess.run(["ip", "netns", "del", ns], check=False)


def test_clean_traffic_blocks_spoofing(lab: Lab) -> None:
    assert lab.ping(), "no connectivity before any filter"
    assert lab.driver("create", BINDING) == [["vnet0", "clean-traffic"]]
    rules = lab.ruleset()
    assert "l2-o-vnet0-arp-ip" in rules and "192.0.2.2" in rules

    assert lab.ping(), "the guest's legitimate traffic must pass"

    lab.guest_addr(SPOOF_IP, GUEST_MAC)
    assert not lab.ping(), "a spoofed source IP must be dropped"

    lab.guest_addr(GUEST_IP, SPOOF_MAC)
    assert not lab.ping(), "a spoofed source MAC must be dropped"

    lab.guest_addr(GUEST_IP, GUEST_MAC)
    assert lab.ping(), "back to the real addresses, traffic passes again"

    lab.guest_addr(SPOOF_IP, SPOOF_MAC)
    assert lab.driver("delete") == []
    assert lab.ping(), "without the binding nothing is filtered"
    assert "virtkit_nwfilter" not in lab.ruleset()
    assert not list((lab.root / "run/libvirt/nwfilter-binding").glob("*.xml"))


def test_binding_survives_a_driver_restart(lab: Lab) -> None:
    """A new driver instance reloads the binding and re-instantiates its rules."""
    lab.driver("create", BINDING)
    subprocess.run(["ip", "netns", "exec", lab.h, "nft", "delete", "table", "bridge",
                    "virtkit_nwfilter"], check=True)
    lab.guest_addr(SPOOF_IP, GUEST_MAC)
    assert lab.ping(), "rules gone: spoofing passes"
    assert lab.driver("list") == [["vnet0", "clean-traffic"]]
    assert not lab.ping(), "the restarted driver put the rules back"
    lab.driver("delete")
    assert "virtkit_nwfilter" not in lab.ruleset()
