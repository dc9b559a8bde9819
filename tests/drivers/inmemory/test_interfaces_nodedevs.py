# ruff: noqa: E501  (tables of scripted calls read better on one line each)
"""Host interfaces and node devices: the same script through libvirt-python on
test:///default and through virtkit's public API (locally, and over RPC to virtkitd).

Results, error codes, domains and messages, and node device lifecycle events
must agree.
"""

from __future__ import annotations

import glob
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.conf.interface import parse_interface
from virtkit.errors import VirtError
from virtkit.handles.hostdev import Interface, NodeDevice
from virtkit.testing.peers import start_virtkitd
from virtkit.testing.repo import conformance_dir

RUNNER = Path(__file__).parent / "iface_nodedev_libvirt_runner.py"
SYSTEM_PYTHON = "/usr/bin/python3"
CONFORMANCE = str(conformance_dir("interface") / "inout")

ETH = ("<interface type='ethernet' name='e0' foo='bar'><start mode='hotplug'/><mtu size='9000'/>"
       "<protocol family='ipv4'><dhcp peerdns='yes'/><ip address='1.2.3.4' prefix='0'/><ip prefix='3'/>"
       "<ip address='1.2.3.5' prefix='010'/><route gateway='1.1.1.1'/><route gateway='2.2.2.2'/></protocol>"
       "<protocol family='ipv6'><autoconf/><dhcp/><ip address='::1' prefix='64'/></protocol>"
       "<link state='up' speed='1000'/><mac address='AA:BB:cc:dd:ee:01'/><unknown/></interface>")
BRIDGE = ("<interface type='bridge' name='br0'><link state='up'/><mac address='aa:bb:cc:dd:ee:02'/>"
          "<bridge stp='off' delay='0.01'><interface type='ethernet' name='eth0'><start mode='onboot'/>"
          "<mac address='aa:bb:cc:dd:ee:03'/><link speed='10'/></interface><interface type='bond' name='bond1'>"
          "<bond><interface type='ethernet' name='eth9'/></bond></interface></bridge></interface>")
BOND_MII = ("<interface type='bond' name='bond0'><bond mode='active-backup'><miimon freq='100' updelay='10' "
            "downdelay='0' carrier='netif'/><interface type='ethernet' name='eth1'>"
            "<mac address='aa:bb:cc:dd:ee:04'/></interface></bond></interface>")
BOND_ARP = ("<interface type='bond' name='bond0'><bond mode='802.3ad'><arpmon interval='100' "
            "target='192.168.1.1' validate='all'/></bond></interface>")
VLAN = "<interface type='vlan' name='eth0.42'><start mode='onboot'/><vlan tag='42'><interface name='eth0'/></vlan></interface>"
E0 = "<interface type='ethernet' name='e0'/>"
BAD_IFACES = [
    "<interface name='x'/>", "<interface type='foo' name='x'/>", "<interface type='ethernet'/>",
    "<interface type='ethernet' name='e0'><start mode='x'/></interface>",
    "<interface type='ethernet' name='e0'><mtu size='100001'/></interface>",
    "<interface type='ethernet' name='e0'><mtu size='abc'/></interface>",
    "<interface type='ethernet' name='e0'><protocol/></interface>",
    "<interface type='ethernet' name='e0'><protocol family='ipx'/></interface>",
    "<interface type='ethernet' name='e0'><protocol family='ipv4'><ip address='1.2.3.4' prefix='x'/></protocol></interface>",
    "<interface type='ethernet' name='e0'><protocol family='ipv4'><dhcp peerdns='x'/></protocol></interface>",
    "<interface type='ethernet' name='e0'><link state='x'/></interface>",
    "<interface type='ethernet' name='e0'><link speed='-1'/></interface>",
    "<interface type='bridge' name='br0'/>",
    "<interface type='bridge' name='br0'><bridge stp='maybe' delay='1'><interface type='ethernet' name='q'/></bridge></interface>",
    "<interface type='bridge' name='br0'><bridge><interface type='bridge' name='x'><bridge/></interface></bridge></interface>",
    "<interface type='bond' name='bond0'/>", "<interface type='bond' name='bond0'><bond mode='x'/></interface>",
    "<interface type='bond' name='bond0'><bond><miimon/></bond></interface>",
    "<interface type='bond' name='bond0'><bond><miimon freq='1' carrier='x'/></bond></interface>",
    "<interface type='bond' name='bond0'><bond><miimon freq='1' updelay='q'/></bond></interface>",
    "<interface type='bond' name='bond0'><bond><arpmon interval='1'/></bond></interface>",
    "<interface type='bond' name='bond0'><bond><arpmon interval='1' target='t' validate='z'/></bond></interface>",
    "<interface type='bond' name='bond0'><bond><interface type='vlan' name='v'/></bond></interface>",
    "<interface type='vlan' name='v'><vlan><interface name='eth0'/></vlan></interface>",
    "<interface type='vlan' name='v'><vlan tag='4'/></interface>", "<interface type='vlan' name='v'/>",
    "<iface type='ethernet' name='e0'/>", "<interface type='ethernet' name='e0'>",
]
VHBA = ("<device><name>x</name><parent>{parent}</parent><capability type='scsi_host'><capability type='fc_host'>"
        "<wwnn>2001001b32a9da4e</wwnn><wwpn>2101001b32a9da4e</wwpn></capability></capability></device>")
BAD_DEVICES = [
    "<device><parent>scsi_host1</parent><capability type='scsi_host'><capability type='fc_host'/></capability></device>",
    "<device><parent>scsi_host1</parent><capability type='scsi_host'><capability type='fc_host'><wwnn>1</wwnn></capability></capability></device>",
    "<device><capability type='scsi_host'><capability/></capability></device>",
    "<device><capability type='scsi_host'><capability type='bogus'/></capability></device>",
    "<device><capability/></device>", "<device><capability type='bogus'/></device>", "<device/>",
    "<device><parent wwnn='1'/><capability type='scsi_host'/></device>",
    "<device><parent wwpn='1'/><capability type='scsi_host'/></device>",
    "<device><capability type='scsi_host'/></device>",
    "<device><capability type='system'/></device>",
    "<dev/>", "<device>",
    "<device><parent wwnn='2000000012341234' wwpn='1000000012341234'/><capability type='scsi_host'><capability type='fc_host'><wwnn>1</wwnn><wwpn>2</wwpn></capability></capability></device>",
    "<device><parent wwnn='2000000034563456' wwpn='1000000034563456'/><capability type='scsi_host'><capability type='fc_host'><wwnn>1</wwnn><wwpn>2</wwpn></capability></capability></device>",
    "<device><parent wwnn='9' wwpn='9'/><capability type='scsi_host'><capability type='fc_host'><wwnn>1</wwnn><wwpn>2</wwpn></capability></capability></device>",
    "<device><parent fabric_wwn='2000000087658765'/><capability type='scsi_host'><capability type='fc_host'><wwnn>1</wwnn><wwpn>2</wwpn></capability></capability></device>",
    "<device><capability type='scsi_host'><capability type='fc_host'><wwnn>1</wwnn><wwpn>2</wwpn></capability></capability></device>",
]


def _script() -> list[list[Any]]:
    s: list[list[Any]] = [
        ["ilist"], ["ilist", 1], ["ilist", 2], ["ilist", 4], ["icounts"], ["ixml", "eth1"], ["ixml", "eth1", 1],
        ["ibymac", "AA:BB:CC:DD:EE:FF"], ["ibymac", "00:00:00:00:00:00"], ["iactive", "nope"],
        ["istart", "eth1"], ["istop", "eth1"], ["istop", "eth1"], ["istart", "eth1", 1], ["istart", "eth1"],
        ["idefine", ETH], ["ixml", "e0"], ["iactive", "e0"], ["ibymac", "aa:bb:cc:dd:ee:01"],
        ["idefine", BRIDGE], ["ixml", "br0"], ["idefine", BOND_MII], ["ixml", "bond0"],
        ["idefine", BOND_ARP], ["ixml", "bond0"], ["idefine", VLAN], ["ixml", "eth0.42"],
        ["idefine", E0, 2], ["idefine", E0, 1], ["ixml", "e0"], ["istart", "e0"], ["idefine", ETH], ["iactive", "e0"],
        ["ilist", 2], ["ilist", 1], ["icounts"],
        ["commit"], ["rollback"], ["begin", 1], ["begin"], ["begin"], ["iundefine", "br0"],
        ["idefine", "<interface type='ethernet' name='e7'><mac address='00:11:22:33:44:55'/></interface>"],
        ["ilist"], ["rollback"], ["ilist"], ["icounts"], ["begin"], ["iundefine", "e0"], ["commit"], ["ilist"],
        ["iundefine", "e0"], ["istart", "e0"], ["istop", "e0"],
    ]
    s += [["idefine", x] for x in BAD_IFACES]
    s += [
        ["dlist"], ["dlist", 1], ["dlist", 32], ["dlist", 512], ["dlist", 1024], ["dlist", 2], ["dlist", 1 << 30],
        ["dlist", 1 << 31], ["dnames"], ["dnames", "scsi_host"], ["dnames", "fc_host"], ["dnames", "vports"],
        ["dnames", "bogus"], ["dcaps", "scsi_host1"], ["dcaps", "computer"], ["dparent", "scsi_host11"],
        ["dparent", "computer"], ["dxml", "computer"], ["dxml", "nope"], ["dbywwn", "2000000012341234", "1000000012341234"],
        ["dactive", "computer"],
        ["dcreate", VHBA.format(parent="scsi_host1")], ["dxml", "scsi_host12"], ["dparent", "scsi_host12"],
        ["dcaps", "scsi_host12"], ["dlist"], ["dcreate", VHBA.format(parent="scsi_host2")],
        ["dcreate", VHBA.format(parent="scsi_host1"), 2], ["ddestroy", "scsi_host12"], ["ddestroy", "scsi_host12"],
        ["dcreate", VHBA.format(parent="scsi_host11")], ["dcreate", VHBA.format(parent="computer")],
        ["dcreate", VHBA.format(parent="nope")],
    ]
    s += [["dcreate", x] for x in BAD_DEVICES]
    s += [["ddestroy", "computer"], ["dlist"], ["ddestroy", "scsi_host12"], ["ddestroy", "scsi_host11"],
          ["dcreate", VHBA.format(parent="scsi_host1")], ["ddestroy", "scsi_host1"], ["dlist"]]
    return s


def _libvirt(script: list[list[Any]], uri: str = "test:///default") -> list[dict[str, Any]]:
    proc = subprocess.run([SYSTEM_PYTHON, str(RUNNER), uri], input=json.dumps(script),
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _virtkit(script: list[list[Any]], uri: str = "test:///default") -> list[dict[str, Any]]:
    c = virtkit.open(uri)
    events: list[list[Any]] = []
    c.on_node_device_event(lambda d, eid, ev, det: events.append([d.name, int(ev), det]))

    def iface(n: str) -> Interface:
        return c.lookup_interface(n)

    def dev(n: str) -> NodeDevice:
        return c.lookup_node_device(n)

    def define(xml: str, flags: int = 0) -> list[str]:
        i = c.define_interface(xml, flags)
        return [i.name, i.mac]

    ops: dict[str, Any] = {
        "idefine": define,
        "ixml": lambda n, flags=0: iface(n).xml(flags),
        "iactive": lambda n: int(iface(n).is_active()),
        "istart": lambda n, flags=0: iface(n).start(flags) or 0,
        "istop": lambda n, flags=0: iface(n).destroy(flags) or 0,
        "iundefine": lambda n: iface(n).undefine() or 0,
        "ibymac": lambda m: [c.lookup_interface_by_mac(m).name, c.lookup_interface_by_mac(m).mac],
        "ilist": lambda flags=0: sorted([i.name, i.mac, int(i.is_active())] for i in c.list_interfaces(flags)),
        "icounts": lambda: [c.num_of_interfaces(), c.num_of_defined_interfaces(),
                            sorted(c.tables.interface.connect_list_interfaces(100)),
                            sorted(c.tables.interface.connect_list_defined_interfaces(100))],
        "begin": lambda flags=0: c.interface_change_begin(flags) or 0,
        "commit": lambda flags=0: c.interface_change_commit(flags) or 0,
        "rollback": lambda flags=0: c.interface_change_rollback(flags) or 0,
        "dcreate": lambda xml, flags=0: c.create_node_device(xml, flags).name,
        "ddestroy": lambda n: dev(n).destroy() or 0,
        "dxml": lambda n: dev(n).xml(),
        "dparent": lambda n: dev(n).parent(),
        "dcaps": lambda n: [dev(n).num_of_caps(), dev(n).caps()],
        "dlist": lambda flags=0: sorted(d.name for d in c.list_node_devices(flags)),
        "dnames": lambda cap=None: [c.num_of_node_devices(cap), sorted(c.list_node_device_names(cap))],
        "dbywwn": lambda a, b: c.lookup_scsi_host_by_wwn(a, b).name,
        "dactive": lambda n: int(dev(n).is_active()),
    }
    out: list[dict[str, Any]] = []
    try:
        for op, *args in script:
            try:
                res: dict[str, Any] = {"ok": ops[op](*args)}
            except VirtError as e:
                res = {"err": [e.code, e.domain, e.message]}
            if not uri.startswith("test:"):
                # events arrive on the client's dispatch thread, after the reply at worst
                time.sleep(0.1 if op in ("dcreate", "ddestroy") else 0.01)
            res["events"] = list(events)
            events.clear()
            out.append(json.loads(json.dumps(res)))
    finally:
        c.close()
    return out


def _compare(script: list[Any], theirs: list[Any], ours: list[Any], who: str) -> None:
    assert len(theirs) == len(ours)
    bad = [f"{step!r:.200}\n  libvirt: {t!r:.600}\n  {who}: {o!r:.600}"
           for step, t, o in zip(script, theirs, ours, strict=True) if t != o]
    assert not bad, f"{len(bad)} steps differ:\n" + "\n".join(bad)


@pytest.fixture(scope="module")
def reference() -> tuple[list[Any], list[Any]]:
    script = _script()
    return script, _libvirt(script)


def test_same_as_libvirt(reference: tuple[list[Any], list[Any]]) -> None:
    script, theirs = reference
    assert sum("err" in r for r in theirs) > 40  # the script does probe the error paths
    _compare(script, theirs, _virtkit(script), "virtkit")


@pytest.mark.interop
@pytest.mark.parametrize("client", ["virtkit", "libvirt-python"])
def test_same_over_rpc(client: str, reference: tuple[list[Any], list[Any]], tmp_path: Path) -> None:
    script, theirs = reference
    assert sum(len(r["events"]) for r in theirs) >= 4  # the script does make events
    with start_virtkitd(tmp_path / "d") as daemon:
        run = _virtkit if client == "virtkit" else _libvirt
        ours = run(script, daemon.uri("unix"))
        assert daemon.proc.poll() is None, daemon.log_text()
    _compare(script, theirs, ours, f"{client}->virtkitd")


@pytest.mark.parametrize("path", sorted(glob.glob(f"{CONFORMANCE}/*.xml")),
                         ids=lambda p: Path(p).stem)
def test_conformance_round_trip(path: str) -> None:
    text = Path(path).read_text()
    assert parse_interface(text).to_xml() == text


def test_conformance_files_present() -> None:
    assert len(glob.glob(f"{CONFORMANCE}/*.xml")) >= 15


def test_read_only_connection_refuses_changes() -> None:
    with virtkit.open("test:///default", flags=1) as c:
        with pytest.raises(VirtError, match="read only access prevents virInterfaceDefineXML"):
            c.define_interface(E0)
        with pytest.raises(VirtError, match="read only access prevents virNodeDeviceCreateXML"):
            c.create_node_device(VHBA.format(parent="scsi_host1"))
        assert c.lookup_interface("eth1").is_active()


def test_device_filtered_events() -> None:
    with virtkit.open("test:///default") as c:
        seen: list[tuple[str, int]] = []
        other: list[str] = []
        h = c.on_node_device_event(lambda d, eid, ev, det: seen.append((d.name, int(ev))))
        c.on_node_device_event(lambda d, *a: other.append(d.name), device=c.lookup_node_device("computer"))
        d = c.create_node_device(VHBA.format(parent="scsi_host1"))
        d.destroy()
        h.cancel()
        c.create_node_device(VHBA.format(parent="scsi_host1")).destroy()
        assert seen == [("scsi_host12", 0), ("scsi_host12", 1)]
        assert other == []
        with pytest.raises(VirtError, match="must be less than 2"):
            c.on_node_device_event(lambda *a: None, event_id=2)
