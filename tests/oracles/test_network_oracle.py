"""Network driver behaviour against libvirtd 9.0's: a NAT network with DHCP, its dnsmasq."""

from __future__ import annotations

import pytest
from oracle_harness import PEERS, Case, Step, nat_xml

pytestmark = [pytest.mark.slow, pytest.mark.interop]

# virNetworkUpdate commands, sections and flags
MODIFY, DELETE, ADD_LAST, ADD_FIRST = 1, 2, 3, 4
BRIDGE, IP_DHCP_HOST, IP_DHCP_RANGE, DNS_HOST = 1, 4, 5, 10
LIVE, CONFIG = 1, 2
NET_NORM = ("generated_uuids", "generated_macs")


def net(name: str, call: str, *args: object, id: str | None = None,
        norm: tuple[str, ...] = NET_NORM) -> Step:
    step: Step = {"on": f"net:{name}", "call": call, "args": list(args)}
    if id:
        step["id"] = id
        step["norm"] = list(norm)
    return step


def dnsmasq_files(oracle: Case, name: str, suffix: str) -> None:
    """Compare the dnsmasq files both daemons wrote for network ``name``."""
    for ext in ("conf", "hostsfile", "addnhosts"):
        oracle.check(f"dnsmasq-{ext}-{suffix}", {
            p: oracle.peers[p].read(f"/var/lib/libvirt/dnsmasq/{name}.{ext}") for p in PEERS})


def test_nat_network_live_xml_dnsmasq_and_leases(oracle: Case) -> None:
    """define/start a NAT network: its XML (inactive, live), dnsmasq's files, no leases."""
    name, prefix = "onat", "10.77.1"
    oracle.compare([
        {"call": "networkDefineXML", "args": [nat_xml(name, "vkobr1", prefix)]},
        net(name, "XMLDesc", 0, id="xml-defined"),
        net(name, "create", id="start"),
        net(name, "XMLDesc", 0, id="xml-live"),
        net(name, "XMLDesc", 1, id="xml-inactive-while-running"),
        net(name, "isActive", id="active"),
        net(name, "bridgeName", id="bridge"),
        net(name, "DHCPLeases", id="leases-none"),
        net(name, "DHCPLeases", "52:54:00:00:00:42", id="leases-by-mac-none"),
        net(name, "DHCPLeases", "52:54:00:zz", id="error-leases-bad-mac"),
        net(name, "create", id="error-start-twice"),
        {"call": "networkDefineXML", "args": [nat_xml("onat-b", "vkobr1", "10.77.2")],
         "id": "error-bridge-in-use", "norm": list(NET_NORM)},
        {"call": "networkLookupByName", "args": ["nosuchnet"], "id": "error-lookup"},
    ])
    dnsmasq_files(oracle, name, "started")
    oracle.compare([
        net(name, "destroy", id="destroy"),
        net(name, "XMLDesc", 0, id="xml-after-destroy"),
        net(name, "destroy", id="error-destroy-inactive"),
        net(name, "undefine", id="undefine"),
    ])
    oracle.verify()


def test_network_update_and_its_errors(oracle: Case) -> None:
    """net-update on a running network: hosts and ranges, the files after, refusals."""
    name, prefix = "oupd", "10.77.3"
    host2 = f"<host mac='52:54:00:00:00:43' name='h2' ip='{prefix}.43'/>"
    both = LIVE | CONFIG
    oracle.compare([
        {"call": "networkDefineXML", "args": [nat_xml(name, "vkobr3", prefix)]},
        net(name, "create"),
        net(name, "update", ADD_LAST, IP_DHCP_HOST, -1, host2, both, id="add-host"),
        net(name, "update", ADD_LAST, IP_DHCP_HOST, -1, host2, both, id="error-add-host-twice"),
        net(name, "update", MODIFY, IP_DHCP_HOST, -1,
            f"<host mac='52:54:00:00:00:43' name='h2b' ip='{prefix}.44'/>", both,
            id="modify-host"),
        net(name, "update", DELETE, IP_DHCP_HOST, -1,
            f"<host mac='52:54:00:00:00:99' name='nobody' ip='{prefix}.99'/>", both,
            id="error-delete-missing-host"),
        net(name, "update", ADD_LAST, IP_DHCP_HOST, -1,
            "<host mac='52:54:00:00:00:45' name='h5' ip='10.99.0.5'/>", both,
            id="error-host-outside-subnet"),
        net(name, "update", ADD_LAST, IP_DHCP_RANGE, -1,
            f"<range start='{prefix}.200' end='{prefix}.210'/>", both, id="add-range"),
        net(name, "update", ADD_LAST, IP_DHCP_RANGE, -1,
            f"<range start='{prefix}.210' end='{prefix}.200'/>", both,
            id="error-range-reversed"),
        net(name, "update", MODIFY, BRIDGE, -1, "<bridge name='vkobr9'/>", both,
            id="error-update-bridge"),
        net(name, "update", ADD_LAST, DNS_HOST, -1,
            f"<host ip='{prefix}.42'><hostname>h1.example</hostname></host>", both,
            id="add-dns-host"),
        net(name, "update", ADD_LAST, IP_DHCP_HOST, 7, host2, both,
            id="error-parent-index-out-of-range"),
        net(name, "XMLDesc", 0, id="xml-live-after-updates"),
        net(name, "XMLDesc", 1, id="xml-config-after-updates"),
    ])
    dnsmasq_files(oracle, name, "after-updates")
    oracle.run([net(name, "destroy"), net(name, "undefine")])
    oracle.verify()


def test_network_defaults_filled_at_define(oracle: Case) -> None:
    """A network with no bridge, MAC or UUID: what each daemon fills in at define."""
    oracle.compare([
        {"call": "networkDefineXML",
         "args": ["<network><name>odef</name><ip address='10.77.4.1' prefix='24'/></network>"]},
        net("odef", "XMLDesc", 0, id="xml-defined"),
        net("odef", "undefine", id="undefine"),
        {"call": "networkDefineXML", "args": ["<network><name>a/b</name></network>"],
         "id": "error-name-with-slash"},
        {"call": "networkCreateXML",
         "args": ["<network><name>obad</name><forward mode='nat'/></network>"],
         "id": "error-nat-without-ip"},
    ])
    oracle.verify()
