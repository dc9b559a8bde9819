"""Host interfaces through netlink, in a network namespace the test makes."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

CHILD = """
import json
from virtkit.drivers.hostif import HostInterfaceDriver
from virtkit.errors import VirtError
from virtkit.types import InterfaceIdent
h = HostInterfaceDriver()
out = {"all": [list(i) for i in h.connect_list_all_interfaces(3)],
       "active": [i.name for i in h.connect_list_all_interfaces(2)],
       "inactive": [i.name for i in h.connect_list_all_interfaces(1)],
       "br_xml": h.interface_get_xml_desc(h.interface_lookup_by_name("vkbr0")),
       "by_mac": h.interface_lookup_by_mac_string("52:54:00:aa:bb:01").name}
try:
    h.interface_lookup_by_name("nope")
except VirtError as e:
    out["err"] = [e.code, e.domain, e.message]
print(json.dumps(out))
"""


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"vkh-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        def ip(*args: str) -> None:
            subprocess.run(["ip", "-n", name, *args], check=True)
        ip("link", "add", "vkbr0", "address", "52:54:00:aa:bb:99", "type", "bridge")
        ip("link", "add", "vkd0", "address", "52:54:00:aa:bb:01", "type", "veth",
           "peer", "name", "vkp0")
        ip("link", "add", "vkd1", "type", "veth", "peer", "name", "vkp1")
        ip("link", "set", "vkd0", "master", "vkbr0")
        ip("link", "set", "vkbr0", "up")
        ip("link", "set", "vkd0", "up")
        ip("addr", "add", "192.0.2.1/24", "dev", "vkbr0")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_host_interfaces_from_netlink(netns: str) -> None:
    r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CHILD],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    names = [n for n, _ in out["all"]]
    assert names == sorted(names) and {"lo", "vkbr0", "vkd0", "vkd1"} <= set(names)
    assert ["vkd0", "52:54:00:aa:bb:01"] in out["all"]
    assert "vkbr0" in out["active"] and "vkd1" in out["inactive"]
    assert "vkd1" not in out["active"]
    xml = out["br_xml"]
    assert xml.startswith("<interface type='bridge' name='vkbr0'>")
    assert "<ip address='192.0.2.1' prefix='24'/>" in xml
    assert "<interface type='ethernet' name='vkd0'>" in xml  # the bridge's member
    assert out["by_mac"] == "vkd0"
    assert out["err"][0] == 57 and out["err"][1] == 26  # NO_INTERFACE, VIR_FROM_INTERFACE
