"""The Domain handle against the real test driver."""

from __future__ import annotations

import pytest

from virtkit.connection import Connection
from virtkit.constants import (
    DomainMetadataType,
    DomainState,
    DomainXMLFlags,
)
from virtkit.errors import ErrorCode, VirtError
from virtkit.handles import Domain
from virtkit.types import DomainInfo

NEW_DOMAIN = """<domain type='test'>
  <name>{name}</name>
  <memory>1048576</memory>
  <vcpu>2</vcpu>
  <os><type>hvm</type></os>
</domain>"""


@pytest.fixture
def dom(conn: Connection) -> Domain:
    return conn.lookup_domain("test")


def test_identity(dom: Domain, conn: Connection) -> None:
    assert dom.name == "test"
    assert dom.uuid == "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert dom.id == 1
    assert dom.connection is conn
    assert dom.ident.name == "test"
    assert "test" in repr(dom)
    assert dom == conn.lookup_domain("test")
    assert hash(dom) == hash(conn.lookup_domain("test"))
    assert dom != conn.define_domain(NEW_DOMAIN.format(name="other"))


def test_handles_are_slotted(dom: Domain) -> None:
    with pytest.raises(AttributeError):
        dom.extra = 1  # type: ignore[attr-defined]


def test_info_and_state(dom: Domain) -> None:
    info = dom.info()
    assert isinstance(info, DomainInfo)
    assert info.state == DomainState.RUNNING
    assert (info.max_mem, info.memory, info.nr_virt_cpu) == (8388608, 2097152, 2)
    assert dom.state is DomainState.RUNNING
    state, reason = dom.state_reason()
    assert state is DomainState.RUNNING and reason == 0  # libvirt's default domain: UNKNOWN


def test_config_queries(dom: Domain) -> None:
    assert dom.os_type() == "linux"
    assert dom.max_memory() == 8388608
    assert dom.is_active() and dom.is_persistent() and not dom.is_updated()
    assert dom.autostart is False
    assert dom.vcpus_count() == 2
    xml = dom.xml()
    assert xml.startswith("<domain type='test'") and "<name>test</name>" in xml
    assert "<name>test</name>" in dom.xml(DomainXMLFlags.INACTIVE)


def test_lifecycle_refreshes_id(conn: Connection) -> None:
    dom = conn.define_domain(NEW_DOMAIN.format(name="vm1"))
    assert dom.id == -1
    dom.start()
    assert dom.id > 0
    assert dom.state is DomainState.RUNNING
    dom.suspend()
    assert dom.state is DomainState.PAUSED
    dom.resume()
    assert dom.state is DomainState.RUNNING
    dom.destroy()
    assert dom.id == -1
    assert dom.state is DomainState.SHUTOFF
    dom.start()
    dom.shutdown()
    assert dom.state is DomainState.SHUTOFF
    dom.undefine()
    with pytest.raises(VirtError) as info:
        conn.lookup_domain("vm1")
    assert info.value.code == ErrorCode.NO_DOMAIN


def test_refresh_sees_changes_made_elsewhere(conn: Connection) -> None:
    a = conn.lookup_domain("test")
    b = conn.lookup_domain("test")
    a.destroy()
    assert b.id == 1  # stale until refreshed, like a libvirt virDomainPtr
    b.refresh()
    assert b.id == -1


def test_autostart_setter(dom: Domain) -> None:
    dom.autostart = True
    assert dom.autostart is True
    dom.autostart = False
    assert dom.autostart is False


def test_memory_and_vcpus(conn: Connection) -> None:
    dom = conn.define_domain(NEW_DOMAIN.format(name="vm1"))
    dom.set_max_memory(2097152)
    assert dom.max_memory() == 2097152
    dom.start()
    dom.set_memory(524288)
    assert dom.info().memory == 524288


def test_rename(conn: Connection) -> None:
    dom = conn.define_domain(NEW_DOMAIN.format(name="vm1"))
    dom.rename("vm2")
    assert dom.name == "vm2"
    assert conn.lookup_domain("vm2") == dom


def test_metadata(dom: Domain) -> None:
    dom.set_metadata(DomainMetadataType.DESCRIPTION, "hello")
    assert dom.metadata(DomainMetadataType.DESCRIPTION) == "hello"


def test_flags_are_checked_by_the_driver(dom: Domain) -> None:
    with pytest.raises(VirtError) as info:
        dom.destroy(0x100)
    assert info.value.code == ErrorCode.INVALID_ARG
    assert dom.state is DomainState.RUNNING
