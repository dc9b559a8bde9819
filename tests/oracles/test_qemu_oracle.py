"""QEMU driver behaviour against libvirtd 9.0's: real TCG guests, hot-plug, stats, errors.

Both daemons boot the test guest (scripts/test_guest.py, direct kernel boot) from the same
XML; each guest's disk is its own qcow2 in the case's directory, its NIC on a NAT network
defined on each daemon.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import qemu_e2e  # tests/drivers/qemu, put on sys.path by conftest.py
from oracle_harness import PEERS, Case, Step, nat_xml, ok, shape

pytestmark = [pytest.mark.slow, pytest.mark.interop]

LIVE = 1  # VIR_DOMAIN_AFFECT_LIVE
BOOT_WAIT = 60  # seconds; guards a hang only (the guest is ready in a few seconds)
DOM_NORM = ("domain_id", "pty", "tap_names", "generated_uuids")
# domain stats whose values are the same on both daemons for the same guest
STABLE_STATS = re.compile(r"state\.(state|reason)|vcpu\.(current|maximum)|\w+\.count"
                          r"|block\.\d+\.(name|path)|balloon\.maximum")


def guest_xml(guest: Any, name: str, uuid: str, machine: str, network: str) -> str:
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='{machine}'>hvm</type>
    <kernel>{guest.kernel}</kernel>
    <initrd>{guest.initrd}</initrd>
    <cmdline>{guest.cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='@CASE@/{name}.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:00:0a:01'/>
      <source network='{network}'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><log file='@CASE@/{name}.console'/></serial>
    <console type='pty'/>
  </devices>
</domain>
"""


def dom(name: str, call: str, *args: object, id: str | None = None,
        norm: tuple[str, ...] = DOM_NORM) -> Step:
    step: Step = {"on": f"dom:{name}", "call": call, "args": list(args)}
    if id:
        step["id"] = id
        step["norm"] = list(norm)
    return step


def make_disks(oracle: Case, *names: str) -> None:
    for p in PEERS:
        for name in names:
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                            str(oracle.dirs[p] / f"{name}.qcow2"), "64M"], check=True)


def with_network(oracle: Case, net: str, bridge: str, prefix: str) -> None:
    results = oracle.run([{"call": "networkCreateXML", "args": [nat_xml(net, bridge, prefix)]}])
    for p in PEERS:
        ok(results[p][0])
    oracle.at_teardown([{"on": f"net:{net}", "call": "destroy"}])


def booted(oracle: Case, name: str, guest_tg: Any) -> None:
    """Start ``name`` on both and wait until each guest says it is ready."""
    results = oracle.run([
        dom(name, "create"),
        {"call": "wait_marker", "args": [f"@CASE@/{name}.console", guest_tg.READY_MARKER,
                                         BOOT_WAIT]},
    ])
    for p in PEERS:
        ok(results[p][0])
        assert ok(results[p][1]), f"{name} did not boot on {p}"


def compare_info_and_stats(oracle: Case, name: str, suffix: str) -> None:
    """dominfo: state, memory and vCPUs exact, CPU time by type; domstats: keys and value
    types of every group, and the values that do not move (STABLE_STATS)."""
    results = oracle.run([dom(name, "info"), dom(name, "stats"), dom(name, "stats_types")])
    info = {p: ok(results[p][0]) for p in PEERS}
    stats = {p: ok(results[p][1]) for p in PEERS}
    types = {p: ok(results[p][2]) for p in PEERS}
    both = sorted(set(types["libvirt"]) & set(types["virtkit"]))
    assert len(both) > 10, both
    # the typed-parameter type of every key both send, as libvirt's C API reads it
    oracle.check(f"domstats-types-{suffix}", {p: {k: types[p][k] for k in both} for p in PEERS})
    oracle.check(f"dominfo-{suffix}", {p: [*info[p][:4], shape(info[p][4])] for p in PEERS})
    oracle.check(f"domstats-shape-{suffix}", {p: shape(stats[p]) for p in PEERS})
    oracle.check(f"domstats-stable-{suffix}", {
        p: {k: v for k, v in stats[p].items() if STABLE_STATS.fullmatch(k)} for p in PEERS},
        ("tap_names",))


# dominfo lines that differ between two runs of the same guest by nature
_VOLATILE_DOMINFO = re.compile(r"^(Id|CPU time):.*$", re.M)


def assert_cli_dominfo_same(oracle: Case, name: str) -> None:
    """`virsh dominfo` on libvirtd and `virtkit dominfo` on virtkitd print the same for the
    same running guest, Messages (its taint) included; only Id and CPU time are masked."""
    cli = Path(sys.executable).with_name("virtkit")
    outs = {}
    for peer, argv in (("libvirt", ["virsh"]), ("virtkit", [str(cli)])):
        done = subprocess.run([*argv, "-c", oracle.peers[peer].uri, "dominfo", name],
                              capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, LC_ALL="C"))
        assert done.returncode == 0, done.stderr
        outs[peer] = _VOLATILE_DOMINFO.sub(r"\1: <masked>", done.stdout)
    assert "Messages:       tainted: " in outs["libvirt"]
    assert outs["virtkit"] == outs["libvirt"]


def test_q35_guest_start_live_xml_stats_and_errors(oracle: Case, guest: Any) -> None:
    """define/start a q35 guest: inactive and live XML, dominfo/domstats; life-cycle errors."""
    name, uuid = "oq35", "6f1c2a60-4b1e-4f0e-9d1a-0c5e7a0d3501"
    make_disks(oracle, name)
    with_network(oracle, "oqnet1", "vkobr11", "10.78.1")
    oracle.at_teardown([dom(name, "destroy"), dom(name, "undefine")])
    oracle.compare([
        {"call": "defineXML", "args": [guest_xml(guest, name, uuid, "q35", "oqnet1")]},
        dom(name, "XMLDesc", 0, id="xml-defined"),
        dom(name, "info", id="dominfo-defined"),
        dom(name, "ID", id="id-defined"),
        dom(name, "messages", 0, id="messages-defined"),
    ])
    booted(oracle, name, qemu_e2e.tg)
    oracle.compare([
        dom(name, "XMLDesc", 0, id="xml-live"),
        dom(name, "XMLDesc", 2, id="xml-inactive-while-running"),  # VIR_DOMAIN_XML_INACTIVE
        dom(name, "state", 0, id="state"),
        dom(name, "messages", 0, id="messages-running"),  # the taint of a root QEMU
        dom(name, "messages", 1, id="messages-deprecations"),  # VIR_DOMAIN_MESSAGE_DEPRECATION
        dom(name, "create", id="error-start-twice"),
        {"call": "lookupByName", "args": ["nosuchdomain"], "id": "error-lookup-name"},
        {"call": "lookupByUUIDString", "args": ["6f1c2a60-4b1e-4f0e-9d1a-0c5e7a0d35ff"],
         "id": "error-lookup-uuid"},
        {"call": "lookupByID", "args": [9999], "id": "error-lookup-id"},
        {"call": "defineXML", "args": [guest_xml(guest, name, uuid.replace("3501", "3502"),
                                                 "q35", "oqnet1")],
         "id": "error-define-same-name-other-uuid"},
    ])
    compare_info_and_stats(oracle, name, "running")
    assert_cli_dominfo_same(oracle, name)
    oracle.compare([
        dom(name, "undefine", id="undefine-running"),  # allowed: the guest becomes transient
        dom(name, "isPersistent", id="persistent-after-undefine"),
        dom(name, "isActive", id="active-after-undefine"),
        dom(name, "destroy", id="destroy-transient"),
        {"call": "lookupByName", "args": [name], "id": "error-lookup-after-destroy"},
    ])
    oracle.verify()


def test_pc_guest_hotplug_disk_and_interface(oracle: Case, guest: Any) -> None:
    """attach-device of a disk and an interface (on the oracle network) to a running
    i440fx guest, then detach: live XML after each, and the hot-plug errors."""
    name, uuid = "opc", "6f1c2a60-4b1e-4f0e-9d1a-0c5e7a0d3601"
    make_disks(oracle, name, "extra")
    with_network(oracle, "oqnet2", "vkobr12", "10.78.2")
    oracle.at_teardown([dom(name, "destroy")])
    disk = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            "<source file='@CASE@/extra.qcow2'/><target dev='vdb' bus='virtio'/></disk>")
    nic = ("<interface type='network'><mac address='52:54:00:00:0a:02'/>"
           "<source network='oqnet2'/><model type='virtio'/></interface>")
    oracle.compare([
        {"call": "createXML", "args": [guest_xml(guest, name, uuid, "pc", "oqnet2"), 0]},
        {"call": "wait_marker", "args": [f"@CASE@/{name}.console", qemu_e2e.tg.READY_MARKER,
                                         BOOT_WAIT], "id": "booted"},
        dom(name, "XMLDesc", 0, id="xml-live"),
        dom(name, "attachDeviceFlags", disk, LIVE, id="attach-disk"),
        dom(name, "XMLDesc", 0, id="xml-after-attach-disk"),
        dom(name, "attachDeviceFlags", disk, LIVE, id="error-attach-disk-twice"),
        dom(name, "attachDeviceFlags", nic, LIVE, id="attach-interface"),
        dom(name, "XMLDesc", 0, id="xml-after-attach-interface"),
        dom(name, "attachDeviceFlags", nic.replace("oqnet2", "nosuchnet"), LIVE,
            id="error-attach-interface-missing-network"),
        dom(name, "attachDeviceFlags", disk, 2, id="error-attach-config-transient"),
    ])
    compare_info_and_stats(oracle, name, "hotplugged")
    oracle.compare([
        dom(name, "detachDeviceFlags", disk, LIVE, id="detach-disk"),
        dom(name, "detachDeviceFlags", nic, LIVE, id="detach-interface"),
        {"call": "sleep", "args": [1]},
        dom(name, "XMLDesc", 0, id="xml-after-detach"),
        dom(name, "detachDeviceFlags", disk, LIVE, id="error-detach-missing-disk"),
    ])
    oracle.verify()
