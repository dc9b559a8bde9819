"""Filter -> nft rule text, for standard filters and variable expansion."""

from __future__ import annotations

import pytest

from virtkit.conf.nwfilter import NWFilterDef
from virtkit.drivers.nwfilter import nft
from virtkit.drivers.nwfilter.expand import expand
from virtkit.drivers.nwfilter.standard import STANDARD, standard_filters
from virtkit.errors import ErrorCode, VirtError

MAC = "52:54:00:aa:bb:01"
STD = standard_filters()


def program(name: str, **vars: list[str]) -> dict[str, list[str]]:
    return nft.build("vnet0", expand(STD.get, name, {"MAC": [MAC], **vars})).chains


def test_every_standard_filter_is_defined() -> None:
    assert len(STD) == len(STANDARD) == 24
    assert {"clean-traffic", "no-ip-spoofing", "qemu-announce-self-rarp"} <= set(STD)
    arp_ip = STD["no-arp-ip-spoofing"]
    assert (arp_ip.chain, arp_ip.priority) == ("arp-ip", -510)


def test_no_mac_spoofing() -> None:
    c = program("no-mac-spoofing")
    assert c["l2-o-vnet0"] == ["jump l2-o-vnet0-mac"]
    assert c["l2-o-vnet0-mac"] == [f"ether saddr {MAC} return", "drop"]
    assert c["l2-i-vnet0"] == []


def test_no_ip_spoofing() -> None:
    c = program("no-ip-spoofing", IP=["10.0.0.2"])
    assert c["l2-o-vnet0"] == ["ether type ip jump l2-o-vnet0-ipv4-ip"]
    assert c["l2-o-vnet0-ipv4-ip"] == [
        "ether type ip ip saddr 0.0.0.0 meta l4proto 17 return",
        "ether type ip ip saddr 10.0.0.2 return",
        "drop"]


def test_ip_lists_expand_to_one_rule_each() -> None:
    c = program("no-arp-ip-spoofing", IP=["10.0.0.2", "10.0.0.3"])
    assert c["l2-o-vnet0-arp-ip"] == [
        "ether type arp @nh,112,32 0xa000002 return",
        "ether type arp @nh,112,32 0xa000003 return",
        "drop"]


def test_clean_traffic_order() -> None:
    root = program("clean-traffic", IP=["10.0.0.2"])["l2-o-vnet0"]
    assert root == [
        "jump l2-o-vnet0-mac",
        "ether type ip jump l2-o-vnet0-ipv4-ip",
        "ether type 0x0800 accept",
        "ether type arp jump l2-o-vnet0-arp-mac",
        "ether type arp jump l2-o-vnet0-arp-ip",
        "ether type 0x0806 accept",
        "ether type 0x8035 jump l2-o-vnet0-rarp",
        "ether type 0x0835 accept",
        "drop"]


def test_missing_variable_is_reported() -> None:
    with pytest.raises(VirtError, match=r"unresolvable variables.*: IP") as info:
        program("clean-traffic")
    assert info.value.code == ErrorCode.INTERNAL_ERROR


def test_l3_rules_go_to_the_l3_chain() -> None:
    d = NWFilterDef.from_xml(
        "<filter name='web'>"
        "<rule action='accept' direction='in' priority='200'>"
        "<tcp dstportstart='21' dstportend='22' state='NEW' comment='ssh &quot;x&quot;'/></rule>"
        "<rule action='drop' direction='inout'><icmp match='no' type='8'/></rule>"
        "<rule action='reject' direction='out'><udp dstipaddr='10.1.2.3' dstipmask='24'/>"
        "</rule></filter>")
    c = nft.build("vnet0", expand({"web": d}.get, "web", {})).chains
    assert c["l3-i-vnet0"] == [
        "ether type ip meta l4proto 6 th dport 21-22 ct state new accept comment \"ssh 'x'\"",
        "ether type ip meta l4proto 1 icmp type != 8 drop"]
    assert c["l3-o-vnet0"] == [
        "ether type ip meta l4proto 1 icmp type != 8 drop",
        "ether type ip ip daddr 10.1.2.0/24 meta l4proto 17 reject"]


def test_iterators_combine() -> None:
    d = NWFilterDef.from_xml(
        "<filter name='f'><rule action='accept' direction='out'>"
        "<udp srcipaddr='$A' srcportstart='$B[@1]'/></rule></filter>")
    placed = expand({"f": d}.get, "f", {"A": ["10.0.0.1", "10.0.0.2"], "B": ["1", "2"]})
    got = [nft.rule_text(p.rule, "o") for p in placed]
    assert len(got) == 4 and len(set(got)) == 4


def test_same_iterator_needs_same_length() -> None:
    d = NWFilterDef.from_xml(
        "<filter name='f'><rule action='accept' direction='out'>"
        "<udp srcipaddr='$A' dstipaddr='$B'/></rule></filter>")
    with pytest.raises(VirtError, match="Cardinality"):
        expand({"f": d}.get, "f", {"A": ["10.0.0.1", "10.0.0.2"], "B": ["10.0.0.3"]})


def test_unsupported_attribute_is_refused() -> None:
    d = NWFilterDef.from_xml(
        "<filter name='f'><rule action='accept' direction='out'>"
        "<tcp connlimit-above='3'/></rule></filter>")
    with pytest.raises(VirtError) as info:
        nft.build("vnet0", expand({"f": d}.get, "f", {}))
    assert info.value.code == ErrorCode.CONFIG_UNSUPPORTED


def test_script_reuses_existing_chains_and_drops_stale_ones() -> None:
    prog = nft.build("vnet0", expand(STD.get, "no-mac-spoofing", {"MAC": [MAC]}))
    text = nft.script(prog, {"l2-o-vnet0", "l2-o-vnet0-old"},
                      {("l2-from", "vnet0"), ("l2-to", "vnet0"),
                       ("l3-from", "vnet0"), ("l3-to", "vnet0")})
    assert "delete chain bridge virtkit_nwfilter l2-o-vnet0-old" in text
    assert "add element" not in text
    assert nft.teardown_script("vnet0", set(), set(), last=True) == \
        "delete table bridge virtkit_nwfilter\n"
