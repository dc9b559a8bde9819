"""The test driver on the shared domain layer (drivers/domainobj.py): its list, filter,
lookups, state changes and snapshot getters, through the public API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import virtkit
from virtkit.constants import ConnectListAllDomainsFlags, DomainRebootFlags, DomainState
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

F = ConnectListAllDomainsFlags


def _xml(name: str, uuid: str) -> str:
    return (f"<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>"
            "<memory>1024</memory><os><type>hvm</type></os></domain>")


def _node(tmp_path: Path) -> virtkit.Connection:
    """A private test node holding the default domain 'test' (running, id 1)."""
    node = tmp_path / "node.xml"
    node.write_text("<node>" + _xml("test", "6695eb01-f6a4-8304-79aa-97f2502e193f") + "</node>")
    return virtkit.open(f"test://{node}")


def test_lookups_report_libvirts_bare_not_found() -> None:
    conn = virtkit.open("test:///default")
    try:
        calls: list[Callable[[], object]] = [
            lambda: conn.lookup_domain("nope"),
            lambda: conn.lookup_domain_by_id(99),
            lambda: conn.lookup_domain_by_uuid("11111111-2222-3333-4444-555555555555")]
        for call in calls:
            with pytest.raises(VirtError) as exc:
                call()
            assert (exc.value.code, exc.value.domain) == (ErrorCode.NO_DOMAIN, ErrorDomain.TEST)
            assert exc.value.message == "Domain not found"
    finally:
        conn.close()


def test_filters_counts_and_ids_follow_the_state(tmp_path: Path) -> None:
    conn = _node(tmp_path)
    try:
        a = conn.define_domain(_xml("a", "00000000-0000-0000-0000-00000000000a"))
        b = conn.define_domain(_xml("b", "00000000-0000-0000-0000-00000000000b"))
        b.start()
        b.suspend()
        def names(flags: int) -> list[str]:
            return sorted(d.name for d in conn.list_domains(flags))

        assert names(int(F.PAUSED)) == ["b"]
        assert names(int(F.INACTIVE)) == ["a"]
        assert names(int(F.SHUTOFF | F.PAUSED)) == ["a", "b"]
        assert conn.num_of_domains() == len(conn.list_domain_ids())
        assert b.id in conn.list_domain_ids()
        assert conn.lookup_domain_by_id(b.id).name == "b"
        assert b.state_reason() == (DomainState.PAUSED, 1)  # PAUSED_USER
        b.destroy()
        assert names(int(F.ACTIVE)) == sorted(d.name for d in conn.list_domains(int(F.RUNNING)))
        assert sorted(conn.list_defined_domain_names()) == ["a", "b"]
        a.rename("a2")
        assert conn.lookup_domain("a2").name == "a2"
        with pytest.raises(VirtError):
            conn.lookup_domain("a")
    finally:
        conn.close()


def test_reboot_accepts_exactly_libvirts_flags() -> None:
    conn = virtkit.open("test:///default")
    try:
        dom = conn.lookup_domain("test")
        dom.reboot(int(DomainRebootFlags.PARAVIRT))
        with pytest.raises(VirtError) as exc:
            dom.reboot(0x20)  # no VIR_DOMAIN_REBOOT_* name: testDomainReboot refuses it
        assert exc.value.code == ErrorCode.INVALID_ARG
        assert "unsupported flags (0x20) in function testDomainReboot" in exc.value.message
    finally:
        conn.close()


def test_snapshot_getters_on_the_shared_tree(tmp_path: Path) -> None:
    conn = _node(tmp_path)
    try:
        dom = conn.lookup_domain("test")
        first = dom.create_snapshot("<domainsnapshot><name>s1</name></domainsnapshot>")
        dom.create_snapshot("<domainsnapshot><name>s2</name></domainsnapshot>")
        assert dom.snapshot_count() == 2
        assert [s.name for s in dom.list_snapshots()] == ["s1", "s2"]
        assert dom.current_snapshot().name == "s2"
        assert dom.lookup_snapshot("s2").parent().name == "s1"
        assert [s.name for s in first.children()] == ["s2"] and first.num_children() == 1
        assert not first.is_current() and first.has_metadata()
        names = [d.name for d in conn.list_domains(int(F.HAS_SNAPSHOT))]
        assert names == ["test"]
        with pytest.raises(VirtError) as exc:
            first.parent()
        assert (exc.value.code, exc.value.domain) == (ErrorCode.NO_DOMAIN_SNAPSHOT,
                                                      ErrorDomain.TEST)
        dom.lookup_snapshot("s2").delete()
        assert dom.current_snapshot().name == "s1"
        first.delete()
        assert not dom.has_current_snapshot() and dom.snapshot_count() == 0
        assert conn.list_domains(int(F.HAS_SNAPSHOT)) == []
    finally:
        conn.close()
