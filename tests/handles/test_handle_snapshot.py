"""The Snapshot handle (and Domain's snapshot calls) against the real test driver."""

from __future__ import annotations

import pytest

from virtkit.connection import Connection
from virtkit.constants import DomainState
from virtkit.errors import ErrorCode, VirtError
from virtkit.handles import Domain, Snapshot


@pytest.fixture
def dom(conn: Connection) -> Domain:
    return conn.lookup_domain("test")


def test_snapshot_tree(dom: Domain) -> None:
    assert dom.snapshot_count() == 0
    assert not dom.has_current_snapshot()
    s1 = dom.create_snapshot("<domainsnapshot><name>s1</name></domainsnapshot>")
    assert isinstance(s1, Snapshot)
    assert s1.name == "s1"
    assert s1.domain == dom
    assert s1.is_current() and s1.has_metadata()
    s2 = dom.create_snapshot("<domainsnapshot><name>s2</name></domainsnapshot>")
    assert s2.parent() == s1
    assert s1.children() == [s2]
    assert dom.current_snapshot() == s2
    assert dom.lookup_snapshot("s1") == s1
    assert sorted(s.name for s in dom.list_snapshots()) == ["s1", "s2"]
    assert dom.snapshot_count() == 2
    assert "<name>s1</name>" in s1.xml()
    with pytest.raises(VirtError) as info:
        s1.parent()
    assert info.value.code == ErrorCode.NO_DOMAIN_SNAPSHOT


def test_revert_and_delete(dom: Domain) -> None:
    snap = dom.create_snapshot("<domainsnapshot><name>s1</name></domainsnapshot>")
    dom.destroy()
    assert dom.state is DomainState.SHUTOFF
    dom.revert_to_snapshot(snap)
    assert dom.state is DomainState.RUNNING
    assert dom.id > 0
    snap.delete()
    assert dom.snapshot_count() == 0
