"""The network driver's pure parts: dnsmasq config, nftables rules, net-update, leases, checks.

The expected dnsmasq configs are libvirt 9.0's (tests/networkxml2confdata: nat-network,
isolated-network, nat-network-dns-hosts) with virtkit's ``pid-file=`` line added.
"""

from __future__ import annotations

import pytest

from virtkit.conf import network_update as update
from virtkit.conf.network import NetworkDef
from virtkit.drivers.network import dnsmasq, firewall
from virtkit.drivers.network.node import check_supported
from virtkit.errors import ErrorCode, VirtError

FILES = dnsmasq.DnsmasqFiles("C", "/var/lib/libvirt/dnsmasq/default.hostsfile",
                             "/var/lib/libvirt/dnsmasq/default.addnhosts", "L", "/run/x.pid")

HEADER = """##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:
##    virsh net-edit default
## or other application using the libvirt API.
##
## dnsmasq conf file created by libvirt
strict-order
"""

NAT_XML = """<network>
  <name>default</name>
  <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>
  <forward dev='eth1' mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
      <host mac='00:16:3e:77:e2:ed' name='a.example.com' ip='192.168.122.10'/>
      <host mac='00:16:3e:3e:a9:1a' name='b.example.com' ip='192.168.122.11'/>
    </dhcp>
  </ip>
  <ip family='ipv4' address='192.168.123.1' netmask='255.255.255.0'>
  </ip>
  <ip family='ipv6' address='2001:db8:ac10:fe01::1' prefix='64'>
  </ip>
  <ip family='ipv6' address='2001:db8:ac10:fd01::1' prefix='64'>
  </ip>
  <ip family='ipv4' address='10.24.10.1'>
  </ip>
</network>"""

NAT_CONF = HEADER + """pid-file=/run/x.pid
except-interface=lo
bind-dynamic
interface=virbr0
dhcp-range=192.168.122.2,192.168.122.254,255.255.255.0
dhcp-no-override
dhcp-authoritative
dhcp-lease-max=253
dhcp-hostsfile=/var/lib/libvirt/dnsmasq/default.hostsfile
addn-hosts=/var/lib/libvirt/dnsmasq/default.addnhosts
dhcp-range=2001:db8:ac10:fe01::1,ra-only
dhcp-range=2001:db8:ac10:fd01::1,ra-only
"""

ISOLATED_XML = """<network>
  <name>default</name>
  <bridge name='virbr2'/>
  <ip address='192.168.152.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.152.2' end='192.168.152.254'/></dhcp>
  </ip>
</network>"""

ISOLATED_CONF = HEADER + """pid-file=/run/x.pid
except-interface=lo
bind-dynamic
interface=virbr2
dhcp-option=3
no-resolv
ra-param=*,0,0
dhcp-range=192.168.152.2,192.168.152.254,255.255.255.0
dhcp-no-override
dhcp-authoritative
dhcp-lease-max=253
dhcp-hostsfile=/var/lib/libvirt/dnsmasq/default.hostsfile
addn-hosts=/var/lib/libvirt/dnsmasq/default.addnhosts
"""


def parse(xml: str) -> NetworkDef:
    return NetworkDef.from_xml(xml)


def test_nat_network_config_and_hostsfile_are_libvirts() -> None:
    conf, hosts, addn = dnsmasq.build_config(parse(NAT_XML), FILES)
    assert conf == NAT_CONF
    assert hosts == ("00:16:3e:77:e2:ed,192.168.122.10,a.example.com\n"
                     "00:16:3e:3e:a9:1a,192.168.122.11,b.example.com\n")
    assert addn == ""


def test_isolated_network_config() -> None:
    conf, _, _ = dnsmasq.build_config(parse(ISOLATED_XML), FILES)
    assert conf == ISOLATED_CONF


def test_dns_hosts_forwarders_domain_mtu_and_lease_times() -> None:
    d = parse("""<network><name>default</name><forward/><bridge name='virbr0'/>
      <mtu size='9000'/><domain name='example.com' localOnly='yes'/>
      <dns forwardPlainNames='no'>
        <forwarder addr='8.8.8.8'/><forwarder domain='corp' addr='10.0.0.1'/>
        <host ip='192.168.122.2'><hostname>a</hostname><hostname>b</hostname></host>
      </dns>
      <ip address='192.168.122.1' prefix='24'><dhcp>
        <range start='192.168.122.2' end='192.168.122.9'><lease expiry='1' unit='hours'/></range>
        <host mac='00:16:3e:00:00:01' ip='192.168.122.3'><lease expiry='0'/></host>
      </dhcp></ip></network>""")
    conf, hosts, addn = dnsmasq.build_config(d, FILES)
    lines = conf.splitlines()
    assert lines[7:14] == ["server=8.8.8.8", "server=/corp/10.0.0.1", "no-resolv",
                           "local=/example.com/", "domain=example.com", "expand-hosts",
                           "domain-needed"]
    assert "dhcp-range=192.168.122.2,192.168.122.9,255.255.255.0,1h" in lines
    assert "dhcp-lease-max=8" in lines and "dhcp-option=option:mtu,9000" in lines
    assert hosts == "00:16:3e:00:00:01,192.168.122.3,infinite\n"
    assert addn == "192.168.122.2\ta\tb\t\n"


def test_nat_rules_cover_subnet_masquerade_and_rejects() -> None:
    rules = firewall.build_rules(parse(NAT_XML))
    text = str(rules)
    assert "'masquerade'" in text and "'oifname'}}, 'right': 'eth1'" in text
    nat = [r for r in rules if r["add"]["rule"]["chain"] == "postrouting"]
    assert {r["add"]["rule"]["family"] for r in nat} == {"ip"}  # no IPv6 NAT unless asked
    assert all(r["add"]["rule"]["comment"] == "virtkit:virbr0" for r in rules)
    assert firewall.build_rules(parse(
        "<network><name>o</name><forward mode='open'/><bridge name='b'/>"
        "<ip address='10.0.0.1' prefix='24'/></network>")) == []


def test_update_dhcp_host_and_dns_host() -> None:
    d = parse(NAT_XML)
    host = "<host mac='00:16:3E:00:00:99' name='c' ip='192.168.122.99'/>"
    update.apply_update(d, update.ADD_FIRST, update.SECTION_DHCP_HOST, -1, host)
    assert d.ips[0].dhcp is not None and d.ips[0].dhcp.hosts[0].mac == "00:16:3e:00:00:99"
    with pytest.raises(VirtError) as e:
        update.apply_update(d, update.ADD_LAST, update.SECTION_DHCP_HOST, -1, host)
    assert e.value.code == ErrorCode.OPERATION_INVALID
    assert "there is an existing dhcp host entry in network 'default'" in str(e.value)
    update.apply_update(d, update.DELETE, update.SECTION_DHCP_HOST, -1, "<host name='c'/>")
    assert len(d.ips[0].dhcp.hosts) == 2
    with pytest.raises(VirtError) as e:
        update.apply_update(d, update.ADD_LAST, update.SECTION_DHCP_HOST, 9, host)
    assert "no <ip> element found at index 9" in str(e.value)
    with pytest.raises(VirtError) as e:
        update.apply_update(d, update.ADD_LAST, update.SECTION_DHCP_HOST, -1, "<range/>")
    assert e.value.code == ErrorCode.XML_ERROR and "expecting <host>" in str(e.value)
    dns = "<host ip='192.168.122.50'><hostname>x</hostname></host>"
    update.apply_update(d, update.ADD_LAST, update.SECTION_DNS_HOST, -1, dns)
    with pytest.raises(VirtError) as e:
        update.apply_update(d, update.MODIFY, update.SECTION_DNS_HOST, -1, dns)
    assert e.value.code == ErrorCode.OPERATION_UNSUPPORTED
    update.apply_update(d, update.DELETE, update.SECTION_DNS_HOST, -1,
                        "<host><hostname>x</hostname></host>")
    assert d.dns is not None and d.dns.hosts == []


def test_lease_file_parsing(tmp_path: object) -> None:
    path = f"{tmp_path}/l"
    with open(path, "w") as f:
        f.write("1700000000 52:54:00:AA:bb:cc 10.0.0.5 guest 01:52:54:00:aa:bb:cc\n"
                "0 52:54:00:00:00:01 10.0.0.6 * *\n"
                "duid 00:01:00:01:2a:2b:2c:2d:52:54:00:00:00:02\n"
                "1700000000 1234 fd00::5 g6 00:03:00:01:52:54:00:00:00:03\n"
                "1700000000 1234 fd00::6 * 00:02:00:00:ab:11\n")
    got = dnsmasq.read_leases(path)
    assert [(e.mac, e.ip, e.hostname, e.iaid) for e in got] == [
        ("52:54:00:aa:bb:cc", "10.0.0.5", "guest", None),
        ("52:54:00:00:00:01", "10.0.0.6", None, None),
        ("52:54:00:00:00:03", "fd00::5", "g6", "1234"),
    ]
    assert got[1].expiry == 0 and got[1].clientid is None


@pytest.mark.parametrize("xml, needle", [
    ("<network><name>x</name><forward mode='vepa'/></network>", "<forward mode='vepa'>"),
    ("<network><name>x</name><bandwidth><inbound average='1'/></bandwidth></network>",
     "<bandwidth>"),
    ("<network><name>x</name><portgroup name='p'><bandwidth><inbound average='1'/>"
     "</bandwidth></portgroup></network>", "<portgroup name='p'><bandwidth>"),
    ("<network><name>x</name><bridge name='b' zone='z'/></network>", "zone"),
    ("<network><name>x</name><forward mode='bridge'/><bridge name='br0'/>"
     "<ip address='10.0.0.1'/></network>", "Unsupported <ip> element"),
])
def test_refused_configurations(xml: str, needle: str) -> None:
    with pytest.raises(VirtError) as e:
        check_supported(parse(xml))
    assert e.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert needle in str(e.value)


def test_bad_bridge_name_is_refused() -> None:
    with pytest.raises(VirtError) as e:
        check_supported(parse("<network><name>x</name><bridge name='../etc'/></network>"))
    assert "not a valid interface name" in str(e.value)
