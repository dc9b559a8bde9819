# ruff: noqa: E501  (tables of scripted calls read better on one line each)
"""virNetworkUpdate on test:///default: virtkit's test driver against real libvirt-python.

Every case runs on a fresh node through both; results (returned XML, error code, domain
and message, network events) must agree step by step.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from virtkit.drivers.inmemory import TestDriver, open_connection
from virtkit.errors import VirtError

RUNNER = Path(__file__).parent / "netupdate_libvirt_runner.py"
SYSTEM_PYTHON = "/usr/bin/python3"

MODIFY, DELETE, ADD_LAST, ADD_FIRST = 1, 2, 3, 4
(BRIDGE, DOMAIN, IP, DHCP_HOST, DHCP_RANGE, FORWARD, FWD_IF, FWD_PF, PORTGROUP,
 DNS_HOST, DNS_TXT, DNS_SRV) = range(1, 13)
LIVE, CONFIG = 1, 2

N3 = ("<network><name>n3</name><uuid>dd8fe884-6c02-601e-7551-cca97df1c5e3</uuid>"
      "<bridge name='virbr5'/><domain name='example.com'/>"
      "<dns><txt name='t1' value='v1'/>"
      "<srv service='name' protocol='tcp' domain='test-domain-name' target='.' port='1024' priority='10' weight='10'/>"
      "<srv service='ldap' protocol='tcp' target='a.example.com'/>"
      "<host ip='192.168.125.5'><hostname>h1</hostname><hostname>h2</hostname></host>"
      "<host ip='192.168.125.6'><hostname>h2</hostname></host></dns>"
      "<ip address='192.168.125.1' netmask='255.255.255.0'><dhcp>"
      "<range start='192.168.125.2' end='192.168.125.100'/>"
      "<host mac='52:54:00:00:00:01' name='a' ip='192.168.125.10'/></dhcp></ip>"
      "<ip family='ipv6' address='2001:db8:ca2:2::1' prefix='64'><dhcp>"
      "<range start='2001:db8:ca2:2::10' end='2001:db8:ca2:2::ff'/></dhcp></ip>"
      "<ip address='10.0.0.1' prefix='8'/>"
      "<portgroup name='engineering' default='yes'><vlan><tag id='42'/></vlan></portgroup>"
      "<portgroup name='sales'/></network>")
N2 = ("<network><name>n2</name><uuid>dd8fe884-6c02-601e-7551-cca97df1c5e2</uuid>"
      "<forward mode='passthrough'><interface dev='eth1'/><interface dev='eth2'/></forward>"
      "</network>")
N4 = ("<network><name>n4</name><uuid>dd8fe884-6c02-601e-7551-cca97df1c5e4</uuid>"
      "<bridge name='virbr6'/><ip family='ipv6' address='2001:db8:ca2:3::1' prefix='64'/></network>")


def U(cmd: int, section: int, xml: str, idx: int = -1, flags: int = 0, net: str = "default") -> list[Any]:
    return ["update", net, cmd, section, idx, xml, flags]


def X(net: str = "default") -> list[Any]:
    return ["xml", net]


H9 = "<host mac='52:54:00:00:00:09' ip='192.168.122.9'/>"

CASES: dict[str, list[list[Any]]] = {
    # ---------------------------------------------------------------- flags and states
    "current-active": [U(ADD_LAST, DHCP_HOST, H9), X(), ["events"]],
    "live-config": [U(ADD_FIRST, DHCP_HOST, H9, flags=LIVE | CONFIG), X(),
                    U(ADD_LAST, DHCP_HOST, H9, flags=CONFIG), U(ADD_LAST, DHCP_HOST, H9, flags=LIVE)],
    "config-only-active": [U(ADD_LAST, DHCP_HOST, H9, flags=CONFIG), X(), ["xml", "default", 1],
                           U(ADD_LAST, DHCP_HOST, H9, flags=CONFIG),
                           U(ADD_LAST, DHCP_HOST, H9, flags=LIVE), X(), ["events"]],
    "config-then-destroy": [U(ADD_LAST, DHCP_HOST, H9, flags=CONFIG), ["destroy", "default"], X(),
                            U(ADD_LAST, DHCP_HOST, "<host name='x' ip='192.168.122.8'/>"), X(),
                            ["start", "default"], X()],
    "inactive": [["define", N3], U(ADD_LAST, DHCP_HOST, "<host name='b' ip='192.168.125.11'/>", net="n3", flags=LIVE),
                 U(ADD_LAST, DHCP_HOST, "<host name='b' ip='192.168.125.11'/>", net="n3"), X("n3"),
                 U(ADD_LAST, DHCP_HOST, "<host name='c' ip='192.168.125.12'/>", net="n3", flags=CONFIG), X("n3")],
    "transient": [["create", N3], U(ADD_LAST, DNS_TXT, "<txt name='t2' value='v'/>", net="n3", flags=CONFIG),
                  U(ADD_LAST, DNS_TXT, "<txt name='t2' value='v'/>", net="n3"), X("n3"),
                  U(ADD_LAST, DNS_TXT, "<txt name='t3' value='v'/>", net="n3", flags=LIVE | CONFIG)],
    "bad-flags": [U(ADD_LAST, DHCP_HOST, H9, flags=4), U(ADD_LAST, DHCP_HOST, H9, flags=8)],
    "bad-section": [U(ADD_LAST, 0, H9), U(ADD_LAST, 13, H9), U(ADD_LAST, 99, H9)],
    "bad-command": [U(0, DHCP_HOST, H9), U(5, DHCP_HOST, H9), U(0, DHCP_RANGE, "<range start='192.168.122.2' end='192.168.122.3'/>"),
                    U(7, PORTGROUP, "<portgroup name='x'/>"), U(0, DNS_HOST, "<host ip='1.2.3.4'><hostname>a</hostname></host>"),
                    U(0, DNS_TXT, "<txt name='a' value='b'/>"), U(0, DNS_SRV, "<srv service='a' protocol='tcp'/>"),
                    U(0, FWD_IF, "<interface dev='eth9'/>")],
    "bad-xml": [U(ADD_LAST, DHCP_HOST, "<host"), U(ADD_LAST, DHCP_HOST, "")],
    "unsupported": [U(MODIFY, BRIDGE, "<bridge name='x'/>"), U(MODIFY, DOMAIN, "<domain name='x'/>"),
                    U(ADD_LAST, IP, "<ip address='10.1.1.1'/>"), U(MODIFY, FORWARD, "<forward mode='route'/>"),
                    U(ADD_LAST, FWD_PF, "<pf dev='eth0'/>")],
    # ---------------------------------------------------------------- ip-dhcp-host
    "dhcp-host-dups": [U(ADD_LAST, DHCP_HOST, H9), U(ADD_LAST, DHCP_HOST, "<host mac='52:54:00:00:00:0A' name='n' ip='192.168.122.9'/>"),
                       U(ADD_LAST, DHCP_HOST, "<host mac='52:54:00:00:00:09' ip='192.168.122.19'/>"),
                       U(ADD_LAST, DHCP_HOST, "<host name='q' ip='192.168.122.20'/>"),
                       U(ADD_LAST, DHCP_HOST, "<host name='q' ip='192.168.122.21'/>"), X()],
    "dhcp-host-modify": [U(ADD_LAST, DHCP_HOST, H9), U(ADD_LAST, DHCP_HOST, "<host name='q' ip='192.168.122.20'/>"),
                         U(MODIFY, DHCP_HOST, "<host mac='52:54:00:00:00:09' name='nine' ip='192.168.122.29'/>"),
                         U(MODIFY, DHCP_HOST, "<host name='q' ip='192.168.122.30'><lease expiry='2' unit='hours'/></host>"),
                         U(MODIFY, DHCP_HOST, "<host mac='52:54:00:00:00:99' ip='192.168.122.99'/>"),
                         U(MODIFY, DHCP_HOST, "<host name='zz' ip='192.168.122.98'/>"), X()],
    "dhcp-host-delete": [U(ADD_LAST, DHCP_HOST, H9), U(ADD_LAST, DHCP_HOST, "<host name='q' ip='192.168.122.20'/>"),
                         U(ADD_LAST, DHCP_HOST, "<host mac='52:54:00:00:00:0b' name='r' ip='192.168.122.21'/>"),
                         U(DELETE, DHCP_HOST, "<host mac='52:54:00:00:00:0B'/>"),
                         U(DELETE, DHCP_HOST, "<host name='q' ip='192.168.122.21'/>"),
                         U(DELETE, DHCP_HOST, "<host ip='192.168.122.20'/>"),
                         U(DELETE, DHCP_HOST, "<host/>"), U(DELETE, DHCP_HOST, "<host name='nope'/>"), X()],
    "dhcp-host-invalid": [U(ADD_LAST, DHCP_HOST, "<host ip='192.168.122.10'/>"),
                          U(ADD_LAST, DHCP_HOST, "<host name='a'/>"),
                          U(ADD_LAST, DHCP_HOST, "<host name='a' ip='192.168.122.300'/>"),
                          U(ADD_LAST, DHCP_HOST, "<host name='a' ip='2001:db8::5'/>"),
                          U(ADD_LAST, DHCP_HOST, "<host mac='52:54:00:00:00' ip='192.168.122.10'/>"),
                          U(ADD_LAST, DHCP_HOST, "<host mac='01:54:00:00:00:01' ip='192.168.122.10'/>"),
                          U(ADD_LAST, DHCP_HOST, "<host id='0:1:zz' name='a' ip='192.168.122.10'/>"),
                          U(ADD_LAST, DHCP_HOST, "<host name='-a' ip='192.168.122.10'/>"),
                          U(ADD_LAST, DHCP_HOST, "<host name='a' ip='192.168.122.10'><lease expiry='1'/></host>"),
                          U(ADD_LAST, DHCP_HOST, "<range start='192.168.122.2' end='192.168.122.3'/>"),
                          U(ADD_LAST, DHCP_HOST, H9, idx=1), U(ADD_LAST, DHCP_HOST, "<bad/>", idx=1), X()],
    "dhcp-host-ipv6": [["define", N3],
                       U(ADD_LAST, DHCP_HOST, "<host name='six' ip='2001:db8:ca2:2::20'/>", idx=1, net="n3"),
                       U(ADD_LAST, DHCP_HOST, "<host id='0:3:0:1:52:54:0:0:0:7' ip='2001:db8:ca2:2::21'/>", idx=1, net="n3"),
                       U(ADD_LAST, DHCP_HOST, "<host mac='52:54:00:00:00:07' ip='2001:db8:ca2:2::22'/>", idx=1, net="n3"),
                       U(ADD_LAST, DHCP_HOST, "<host ip='2001:db8:ca2:2::23'/>", idx=1, net="n3"),
                       U(ADD_LAST, DHCP_HOST, "<host name='v4' ip='192.168.125.30'/>", idx=1, net="n3"),
                       U(ADD_LAST, DHCP_HOST, "<host name='ten' ip='10.0.0.5'/>", idx=2, net="n3"),
                       U(ADD_FIRST, DHCP_HOST, "<host name='b' mac='52:54:00:00:00:02' ip='192.168.125.11'/>", net="n3"),
                       X("n3"),
                       ["define", N4], U(ADD_LAST, DHCP_HOST, "<host name='six' ip='2001:db8:ca2:3::20'/>", net="n4"),
                       X("n4")],
    "dhcp-host-no-ip": [["define", N2], U(ADD_LAST, DHCP_HOST, H9, net="n2"), U(ADD_LAST, DHCP_RANGE, "<range start='1.1.1.1' end='1.1.1.2'/>", net="n2")],
    # ---------------------------------------------------------------- ip-dhcp-range
    "dhcp-range": [U(ADD_LAST, DHCP_RANGE, "<range start='192.168.122.2' end='192.168.122.254'/>"),
                   U(DELETE, DHCP_RANGE, "<range start='192.168.122.2' end='192.168.122.254'/>"),
                   U(DELETE, DHCP_RANGE, "<range start='192.168.122.2' end='192.168.122.254'/>"),
                   U(ADD_LAST, DHCP_RANGE, "<range start='192.168.122.100' end='192.168.122.200'/>"),
                   U(ADD_FIRST, DHCP_RANGE, "<range start='192.168.122.10' end='192.168.122.20'><lease expiry='1' unit='hours'/></range>"),
                   U(MODIFY, DHCP_RANGE, "<range start='192.168.122.10' end='192.168.122.20'/>"), X()],
    "dhcp-range-invalid": [U(ADD_LAST, DHCP_RANGE, "<range start='192.168.123.2' end='192.168.123.10'/>"),
                           U(ADD_LAST, DHCP_RANGE, "<range start='192.168.122.20' end='192.168.122.10'/>"),
                           U(ADD_LAST, DHCP_RANGE, "<range end='192.168.122.10'/>"),
                           U(ADD_LAST, DHCP_RANGE, "<range start='192.168.122.10'/>"),
                           U(ADD_LAST, DHCP_RANGE, "<range start='192.168.122.0' end='192.168.122.10'/>"),
                           U(ADD_LAST, DHCP_RANGE, "<range start='192.168.122.10' end='192.168.122.255'/>"),
                           U(ADD_LAST, DHCP_RANGE, "<range start='2001:db8::1' end='2001:db8::5'/>"),
                           U(ADD_LAST, DHCP_RANGE, "<range start='192.168.122.10' end='192.168.122.20'><lease expiry='1' unit='seconds'/></range>"),
                           U(ADD_LAST, DHCP_RANGE, "<host/>"), U(ADD_LAST, DHCP_RANGE, "<range start='1.1.1.1' end='1.1.1.2'/>", idx=3), X()],
    "dhcp-range-ipv6": [["define", N3],
                        U(ADD_LAST, DHCP_RANGE, "<range start='2001:db8:ca2:2::100' end='2001:db8:ca2:2::1ff'/>", idx=1, net="n3"),
                        U(ADD_LAST, DHCP_RANGE, "<range start='10.0.0.10' end='10.0.0.20'/>", idx=2, net="n3"),
                        U(DELETE, DHCP_RANGE, "<range start='192.168.125.2' end='192.168.125.100'/>", net="n3"), X("n3")],
    # ---------------------------------------------------------------- forward-interface
    "forward-interface": [["define", N2], U(ADD_LAST, FWD_IF, "<interface dev='eth3'/>", net="n2"),
                          U(ADD_FIRST, FWD_IF, "<interface dev='eth0'/>", net="n2"),
                          U(ADD_FIRST, FWD_IF, "<interface dev='eth1'/>", net="n2"),
                          U(DELETE, FWD_IF, "<interface dev='eth2'/>", net="n2"),
                          U(DELETE, FWD_IF, "<interface dev='eth2'/>", net="n2"),
                          U(MODIFY, FWD_IF, "<interface dev='eth1'/>", net="n2"),
                          U(ADD_LAST, FWD_IF, "<interface/>", net="n2"),
                          U(ADD_LAST, FWD_IF, "<pf dev='x'/>", net="n2"), X("n2")],
    "forward-interface-nat": [U(ADD_LAST, FWD_IF, "<interface dev='eth0'/>"), X(),
                              U(ADD_LAST, FWD_IF, "<interface dev='eth1'/>"), X(),
                              U(DELETE, FWD_IF, "<interface dev='eth0'/>"), X()],
    # ---------------------------------------------------------------- portgroup
    "portgroup": [["define", N3],
                  U(ADD_LAST, PORTGROUP, "<portgroup name='qa'><vlan><tag id='7'/></vlan></portgroup>", net="n3"),
                  U(ADD_FIRST, PORTGROUP, "<portgroup name='ops'/>", net="n3"),
                  U(ADD_LAST, PORTGROUP, "<portgroup name='sales'/>", net="n3"),
                  U(ADD_LAST, PORTGROUP, "<portgroup name='boss' default='yes'/>", net="n3"),
                  U(MODIFY, PORTGROUP, "<portgroup name='sales' default='yes'/>", net="n3"),
                  U(MODIFY, PORTGROUP, "<portgroup name='engineering' default='yes'><bandwidth><inbound average='1000'/></bandwidth></portgroup>", net="n3"),
                  U(MODIFY, PORTGROUP, "<portgroup name='nope'/>", net="n3"),
                  U(DELETE, PORTGROUP, "<portgroup name='nope'/>", net="n3"),
                  U(DELETE, PORTGROUP, "<portgroup name='engineering'/>", net="n3"),
                  U(ADD_LAST, PORTGROUP, "<portgroup default='yes'/>", net="n3"),
                  U(ADD_LAST, PORTGROUP, "<portgroup name='boss' default='yes'/>", net="n3"),
                  U(ADD_LAST, PORTGROUP, "<group name='x'/>", net="n3"), X("n3")],
    # ---------------------------------------------------------------- dns-host
    "dns-host": [U(ADD_LAST, DNS_HOST, "<host ip='192.168.122.50'><hostname>web</hostname></host>"), X(),
                 ["define", N3],
                 U(ADD_FIRST, DNS_HOST, "<host ip='192.168.125.7'><hostname>h1</hostname></host>", net="n3"),
                 U(ADD_LAST, DNS_HOST, "<host ip='192.168.125.5'><hostname>x</hostname></host>", net="n3"),
                 U(ADD_LAST, DNS_HOST, "<host><hostname>x</hostname></host>", net="n3"),
                 U(ADD_LAST, DNS_HOST, "<host ip='192.168.125.9'/>", net="n3"),
                 U(ADD_LAST, DNS_HOST, "<host ip='192.168.125.300'><hostname>x</hostname></host>", net="n3"),
                 U(ADD_LAST, DNS_HOST, "<host ip='192.168.125.9'><hostname></hostname></host>", net="n3"),
                 U(MODIFY, DNS_HOST, "<host ip='192.168.125.5'/>", net="n3"),
                 U(DELETE, DNS_HOST, "<host><hostname>h2</hostname></host>", net="n3"),
                 U(DELETE, DNS_HOST, "<host><hostname>nope</hostname></host>", net="n3"),
                 U(DELETE, DNS_HOST, "<host/>", net="n3"),
                 U(DELETE, DNS_HOST, "<host ip='192.168.125.6'/>", net="n3"),
                 U(DELETE, DNS_HOST, "<host><hostname>h1</hostname></host>", net="n3"),
                 U(DELETE, DNS_HOST, "<txt name='x'/>", net="n3"), X("n3")],
    # ---------------------------------------------------------------- dns-txt
    "dns-txt": [U(ADD_LAST, DNS_TXT, "<txt name='a' value='b'/>"), X(),
                ["define", N3],
                U(ADD_FIRST, DNS_TXT, "<txt name='t0' value='v0'/>", net="n3"),
                U(ADD_LAST, DNS_TXT, "<txt name='t1' value='other'/>", net="n3"),
                U(ADD_LAST, DNS_TXT, "<txt value='v'/>", net="n3"),
                U(ADD_LAST, DNS_TXT, "<txt name='a b' value='v'/>", net="n3"),
                U(ADD_LAST, DNS_TXT, "<txt name='nv'/>", net="n3"),
                U(MODIFY, DNS_TXT, "<txt name='t1' value='x'/>", net="n3"),
                U(DELETE, DNS_TXT, "<txt name='t1'/>", net="n3"),
                U(DELETE, DNS_TXT, "<txt name='t1'/>", net="n3"),
                U(DELETE, DNS_TXT, "<srv name='t1'/>", net="n3"), X("n3")],
    # ---------------------------------------------------------------- dns-srv
    "dns-srv": [U(ADD_LAST, DNS_SRV, "<srv service='sip' protocol='udp'/>"), X(),
                ["define", N3],
                U(ADD_FIRST, DNS_SRV, "<srv service='http' protocol='tcp' target='w.example.com' port='80'/>", net="n3"),
                U(ADD_LAST, DNS_SRV, "<srv service='name' protocol='tcp' domain='test-domain-name' target='.' port='99'/>", net="n3"),
                U(ADD_LAST, DNS_SRV, "<srv protocol='tcp'/>", net="n3"),
                U(ADD_LAST, DNS_SRV, "<srv service='a.b' protocol='tcp'/>", net="n3"),
                U(ADD_LAST, DNS_SRV, "<srv service='ab'/>", net="n3"),
                U(ADD_LAST, DNS_SRV, "<srv service='ab' protocol='t.cp'/>", net="n3"),
                U(ADD_LAST, DNS_SRV, "<srv service='ab' protocol='tcp' port='80'/>", net="n3"),
                U(ADD_LAST, DNS_SRV, "<srv service='ab' protocol='tcp' target='x' port='0'/>", net="n3"),
                U(ADD_LAST, DNS_SRV, "<srv service='ab' protocol='tcp' target='x' port='abc'/>", net="n3"),
                U(ADD_LAST, DNS_SRV, "<srv service='ab' protocol='tcp' target='x' priority='70000'/>", net="n3"),
                U(ADD_LAST, DNS_SRV, "<srv service='ab' protocol='tcp' target='x' weight='70000'/>", net="n3"),
                U(ADD_LAST, DNS_SRV, "<srv service='abcdefghijklmnopq' protocol='tcp'/>", net="n3"),
                U(MODIFY, DNS_SRV, "<srv service='name' protocol='tcp'/>", net="n3"),
                U(DELETE, DNS_SRV, "<srv protocol='tcp'/>", net="n3"),
                U(DELETE, DNS_SRV, "<srv service='nope'/>", net="n3"),
                U(DELETE, DNS_SRV, "<srv service='ldap' port='5'/>", net="n3"),
                U(DELETE, DNS_SRV, "<srv service='name'/>", net="n3"),
                U(DELETE, DNS_SRV, "<txt name='x'/>", net="n3"), X("n3")],
    # ---------------------------------------------------------------- normalisation and edges
    "normalised-values": [U(ADD_LAST, DHCP_RANGE, "<range start='192.168.122.010' end='192.168.122.0x14'/>"),
                          U(ADD_LAST, DHCP_HOST, "<host name='o' ip='192.168.122.011'><lease expiry='0x10' unit='hours'/></host>"),
                          U(ADD_LAST, DHCP_HOST, "<host name='z' ip='192.168.122.12'><lease expiry='0'/></host>"),
                          U(ADD_LAST, DNS_HOST, "<host ip='2001:DB8::0001'><hostname>x</hostname><hostname/><hostname>y</hostname></host>"),
                          U(ADD_LAST, DNS_SRV, "<srv service='s' protocol='tcp' target='t' port='080' priority='0' weight='5'/>"),
                          U(ADD_LAST, PORTGROUP, "<portgroup name='p' default='no' trustGuestRxFilters='yes'/>"),
                          U(ADD_LAST, PORTGROUP, "<portgroup name='q' default='YES'/>"), X()],
    "edge-errors": [U(ADD_LAST, DHCP_RANGE, "<range start='abc' end='192.168.122.20'/>"),
                    U(ADD_LAST, DHCP_RANGE, "<range start='192.168.122.10' end='192.168.122.20 '/>"),
                    U(ADD_LAST, DHCP_RANGE, "<range start='192.168.122.10' end='192.168.122.20'><lease expiry='5' unit='days'/></range>"),
                    U(ADD_LAST, DHCP_RANGE, "<range start='192.168.122.10' end='192.168.122.20'><lease expiry='x'/></range>"),
                    U(ADD_LAST, DHCP_HOST, "<host mac='52:54:00:00:00:09' name='a' ip='x'/>"),
                    U(ADD_LAST, DNS_SRV, "<srv service='ab' protocol='tcp' target='x' port='-1'/>"),
                    U(ADD_LAST, DNS_SRV, "<srv service='ab' protocol='tcp' priority='x'/>"),
                    U(ADD_LAST, PORTGROUP, "<portgroup name='p' trustGuestRxFilters='maybe'/>"),
                    U(DELETE, DHCP_HOST, "<host mac='52:54:00:00:00:09' ip='192.168.122.9'/>"),
                    U(ADD_LAST, DHCP_HOST, "<host mac='52:54:0:0:0:9' ip='192.168.122.9'/>"),
                    U(DELETE, DHCP_HOST, "<host mac='52:54:00:00:00:09'/>"), X()],
    "dhcp-range-ipv6-errors": [["define", N3],
                               U(ADD_LAST, DHCP_RANGE, "<range start='2001:db8:ca2:2::1ff' end='2001:db8:ca2:2::100'/>", idx=1, net="n3"),
                               U(ADD_LAST, DHCP_RANGE, "<range start='2001:db8:ca2:2::1:0' end='2001:db8:ca2:2::2:0'/>", idx=1, net="n3"),
                               U(ADD_LAST, DHCP_RANGE, "<range start='2001:db8:ca2:3::1' end='2001:db8:ca2:3::5'/>", idx=1, net="n3"),
                               U(ADD_LAST, DHCP_RANGE, "<range start='192.168.125.200' end='2001:db8:ca2:2::5'/>", idx=1, net="n3"),
                               U(ADD_LAST, DHCP_RANGE, "<range start='10.0.0.1' end='10.1.0.5'/>", idx=2, net="n3"),
                               U(ADD_LAST, DHCP_HOST, "<host name='x' ip='2001:db8:ca2:2::30'/>", net="n3"), X("n3")],
    "emptied": [U(DELETE, DHCP_RANGE, "<range start='192.168.122.2' end='192.168.122.254'/>"), X(),
                U(ADD_LAST, DHCP_HOST, "<host name='a' ip='192.168.122.5'/>"), X(),
                U(DELETE, DHCP_HOST, "<host name='a'/>"), X(),
                U(ADD_LAST, DNS_TXT, "<txt name='a' value='b'/>"), U(DELETE, DNS_TXT, "<txt name='a'/>"),
                U(ADD_LAST, PORTGROUP, "<portgroup name='p'/>"), U(DELETE, PORTGROUP, "<portgroup name='p'/>"), X()],
    "isolated-forward-interface": [["define", N4], U(ADD_LAST, FWD_IF, "<interface dev='eth0'/>", net="n4"), X("n4"),
                                   U(DELETE, FWD_IF, "<interface dev='eth9'/>", net="n4")],
}


def _virtkit_case(steps: list[list[Any]]) -> list[dict[str, Any]]:
    class _URI:
        path = "/default"

        def __str__(self) -> str:
            return "test:///default"

    tables = open_connection(_URI(), 0)
    h: Any = tables.hypervisor
    assert isinstance(h, TestDriver)
    events: list[list[Any]] = []
    cb = h.connect_network_event_register_any(
        None, 0, lambda n, e, p: events.append(["net", n.name, p[0], p[1]]))

    def net(name: str) -> Any:
        return h.network_lookup_by_name(name)

    def take_events() -> list[list[Any]]:
        out = list(events)
        events.clear()
        return out

    ops: dict[str, Any] = {
        "update": lambda n, cmd, sec, idx, xml, flags: (h.network_update(net(n), cmd, sec, idx, xml, flags), 0)[1],
        "xml": lambda n, flags=0: h.network_get_xml_desc(net(n), flags),
        "define": lambda xml: h.network_define_xml(xml).name,
        "create": lambda xml: h.network_create_xml(xml).name,
        "start": lambda n: (h.network_create(net(n)), 0)[1],
        "destroy": lambda n: (h.network_destroy(net(n)), 0)[1],
        "events": take_events,
    }
    out: list[dict[str, Any]] = []
    try:
        for op, *args in steps:
            try:
                out.append({"ok": ops[op](*args)})
            except VirtError as e:
                out.append({"err": [e.code, e.domain, e.message]})
    finally:
        h.connect_network_event_deregister_any(cb)
        h.connect_close()
    return json.loads(json.dumps(out))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def libvirt_results() -> dict[str, list[dict[str, Any]]]:
    assert os.path.exists(SYSTEM_PYTHON), "Debian's python3 with python3-libvirt is required"
    names = list(CASES)
    proc = subprocess.run([SYSTEM_PYTHON, str(RUNNER)], input=json.dumps([CASES[n] for n in names]),
                          capture_output=True, text=True, timeout=300, check=True)
    return dict(zip(names, json.loads(proc.stdout), strict=True))


@pytest.mark.parametrize("case", list(CASES))
def test_network_update_matches_libvirt(case: str, libvirt_results: dict[str, list[dict[str, Any]]]) -> None:
    theirs = libvirt_results[case]
    ours = _virtkit_case(CASES[case])
    diffs = [f"{step!r:.200}\n  libvirt: {t!r}\n  virtkit: {o!r}"
             for step, t, o in zip(CASES[case], theirs, ours, strict=True) if t != o]
    assert not diffs, f"{len(diffs)} steps differ:\n" + "\n".join(diffs)


def test_cases_exercise_errors_and_successes(libvirt_results: dict[str, list[dict[str, Any]]]) -> None:
    """The table is not vacuous: both outcomes occur, and an update changes the XML."""
    results = [r for rs in libvirt_results.values() for r in rs]
    assert sum("err" in r for r in results) > 50
    assert sum("ok" in r for r in results) > 40
    assert "192.168.122.9" in libvirt_results["current-active"][1]["ok"]
