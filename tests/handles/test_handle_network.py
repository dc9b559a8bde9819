"""The Network handle against the real test driver."""

from __future__ import annotations

import pytest

from virtkit.connection import Connection
from virtkit.handles import Network

NEW_NETWORK = """<network>
  <name>{name}</name>
  <bridge name='virbr9'/>
  <ip address='192.168.199.1' netmask='255.255.255.0'/>
</network>"""


@pytest.fixture
def net(conn: Connection) -> Network:
    return conn.lookup_network("default")


def test_identity_and_queries(net: Network, conn: Connection) -> None:
    assert net.name == "default"
    assert net.uuid == "dd8fe884-6c02-601e-7551-cca97df1c5df"
    assert net.connection is conn
    assert net.bridge_name() == "virbr0"
    assert net.is_active() and net.is_persistent()
    assert net.autostart is False
    assert "<name>default</name>" in net.xml()
    assert net == conn.lookup_network_by_uuid(net.uuid)


def test_lifecycle(conn: Connection) -> None:
    net = conn.define_network(NEW_NETWORK.format(name="n1"))
    assert not net.is_active()
    net.start()
    assert net.is_active()
    net.autostart = True
    assert net.autostart
    net.destroy()
    assert not net.is_active()
    net.undefine()
    assert [n.name for n in conn.list_networks()] == ["default"]


def test_transient(conn: Connection) -> None:
    net = conn.create_network(NEW_NETWORK.format(name="t1"))
    assert net.is_active() and not net.is_persistent()
