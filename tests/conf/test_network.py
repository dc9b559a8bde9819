"""NetworkDef: libvirt's network XML."""

from __future__ import annotations

import uuid

import pytest

from virtkit.conf.network import NetworkDef, validate_network_def
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

NAT = """<network>
  <name>default</name>
  <forward mode="nat" dev="eth1"/>
  <bridge name="virbr0"/>
  <mac address='52:54:00:AB:CD:EF'/>
  <ip address="192.168.122.1" netmask="255.255.255.0">
    <dhcp>
      <range start="192.168.122.2" end="192.168.122.254"/>
    </dhcp>
  </ip>
</network>
"""


def test_nat_network_defaults_as_libvirt() -> None:
    d = NetworkDef.from_xml(NAT)
    validate_network_def(d)
    assert d.name == "default"
    assert d.uuid is not None and uuid.UUID(d.uuid)
    assert d.forward is not None and d.forward.mode == "nat"
    assert d.bridge is not None and d.bridge.name == "virbr0"
    ip = d.ips[0]
    assert (ip.address, ip.netmask, ip.prefix) == ("192.168.122.1", "255.255.255.0", None)
    assert ip.dhcp is not None and ip.dhcp.ranges[0].start == "192.168.122.2"
    out = d.to_xml()
    assert out == (
        "<network>\n"
        "  <name>default</name>\n"
        f"  <uuid>{d.uuid}</uuid>\n"
        "  <forward dev='eth1' mode='nat'>\n"
        "    <interface dev='eth1'/>\n"
        "  </forward>\n"
        "  <bridge name='virbr0' stp='on' delay='0'/>\n"
        "  <mac address='52:54:00:ab:cd:ef'/>\n"
        "  <ip address='192.168.122.1' netmask='255.255.255.0'>\n"
        "    <dhcp>\n"
        "      <range start='192.168.122.2' end='192.168.122.254'/>\n"
        "    </dhcp>\n"
        "  </ip>\n"
        "</network>\n"
    )
    again = NetworkDef.from_xml(out)
    assert again == d and again.to_xml() == out


def test_copy_is_deep() -> None:
    d = NetworkDef.from_xml(NAT)
    c = d.copy()
    assert c == d
    assert c.bridge is not None
    c.bridge.name = "other"
    assert d.bridge is not None and d.bridge.name == "virbr0"


def test_missing_name() -> None:
    d = NetworkDef.from_xml("<network><bridge name='b'/></network>")
    with pytest.raises(VirtError) as exc:
        validate_network_def(d)
    assert exc.value.code == ErrorCode.NO_NAME
    assert exc.value.domain == ErrorDomain.NETWORK


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<network><name>n</name><forward mode='route'/></network>",
         "route forwarding requested, but no IP address provided for network 'n'"),
        ("<network><name>n</name><forward mode='bogus'/></network>",
         "unknown forwarding type 'bogus'"),
        ("<network><name>n</name><mac address='01:00:00:00:00:01'/></network>",
         "Invalid multicast bridge mac address"),
        ("<network><name>n</name><dns enable='no'><txt name='a' value='b'/></dns></network>",
         "Extra data in disabled network 'n'"),
        ("<network><name>n</name><forward mode='bridge'><interface dev='a'/>"
         "<interface dev='a'/></forward></network>",
         "interface 'a' can only be listed once in network n"),
    ],
)
def test_parse_errors(xml: str, message: str) -> None:
    with pytest.raises(VirtError) as exc:
        validate_network_def(NetworkDef.from_xml(xml))
    assert message in str(exc.value)


def test_unknown_content_kept_in_place() -> None:
    xml = ("<network>\n  <name>n</name>\n  <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>\n"
           "  <forward mode='bridge'/>\n  <frobnicate level='3'/>\n  <bridge name='br0'/>\n"
           "</network>\n")
    d = NetworkDef.from_xml(xml)
    assert d.unknown_paths() == ["/network/frobnicate"]
    assert d.to_xml() == xml


def test_dnsmasq_namespace() -> None:
    xml = ("<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>\n"
           "  <name>n</name>\n  <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>\n"
           "  <bridge name='virbr0' stp='on' delay='0'/>\n"
           "  <dnsmasq:options>\n    <dnsmasq:option value='foo=bar'/>\n"
           "  </dnsmasq:options>\n</network>\n")
    d = NetworkDef.from_xml(xml)
    assert d.dnsmasq_options == ["foo=bar"]
    assert d.to_xml() == xml


def test_ip_without_children_keeps_open_close_tags() -> None:
    d = NetworkDef.from_xml("<network><name>n</name><forward mode='passthrough'>"
                            "<pf dev='eth0'/></forward><ip address='10.0.0.1' prefix='24'/>"
                            "</network>")
    out = d.to_xml()
    assert "  <ip address='10.0.0.1' prefix='24'>\n  </ip>\n" in out
    assert "<forward mode='passthrough'>\n    <pf dev='eth0'/>\n  </forward>" in out
