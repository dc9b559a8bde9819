"""DomainSnapshotDef: libvirt's domain snapshot XML."""

from __future__ import annotations

import sys
import types

import pytest

from virtkit.conf.snapshot import DomainSnapshotDef, validate_snapshot_def
from virtkit.errors import VirtError

REDEFINE = """<domainsnapshot>
  <name>s1</name>
  <description>first</description>
  <state>running</state>
  <parent>
    <name>s0</name>
  </parent>
  <creationTime>1272917631</creationTime>
  <memory snapshot='internal'/>
  <disks>
    <disk name='vda' snapshot='external' type='file'>
      <driver type='qcow2'/>
      <source file='/tmp/vda.s1'/>
    </disk>
  </disks>
  <domain type='kvm'>
    <name>web1</name>
    <uuid>9d37b878-a7cc-9f9a-b78f-49b3abad25a8</uuid>
  </domain>
  <active>1</active>
</domainsnapshot>
"""


def test_fields_and_round_trip() -> None:
    d = DomainSnapshotDef.from_xml(REDEFINE)
    validate_snapshot_def(d, redefine=True)
    assert (d.name, d.description, d.state, d.creation_time, d.parent) == (
        "s1", "first", "running", 1272917631, "s0")
    assert d.memory is not None and d.memory.snapshot == "internal"
    assert [x.name for x in d.disks] == ["vda"]
    assert d.domain is not None and d.domain.get("type") == "kvm"
    assert d.to_xml() == REDEFINE


def test_name_may_be_missing() -> None:
    d = DomainSnapshotDef.from_xml("<domainsnapshot><description>x</description>"
                                   "</domainsnapshot>")
    assert d.name is None and d.creation_time is None and d.parent is None
    d.name = "1386166249"
    d.creation_time = 1386166249
    d.parent = "base"
    out = d.to_xml()
    assert out.index("<name>1386166249</name>") < out.index("<parent>") < out.index(
        "<creationTime>")


def test_disk_defaults() -> None:
    d = DomainSnapshotDef.from_xml(
        "<domainsnapshot><disks><disk name='vda'><source file='/a'/><driver/></disk>"
        "</disks></domainsnapshot>")
    assert "<disk name='vda' snapshot='external' type='file'>\n      <source file='/a'/>" in (
        d.to_xml())


def test_domain_def_is_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []

    class FakeDomainDef:
        @classmethod
        def from_element(cls, el: object) -> str:
            calls.append(el)
            return "parsed"

    fake = types.ModuleType("virtkit.conf.domain")
    fake.DomainDef = FakeDomainDef  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "virtkit.conf.domain", fake)
    d = DomainSnapshotDef.from_xml(REDEFINE)
    assert not calls
    assert d.domain_def == "parsed"
    assert calls == [d.domain]
    uuid_only = DomainSnapshotDef.from_xml(
        "<domainsnapshot><domain><uuid>9d37b878-a7cc-9f9a-b78f-49b3abad25a8</uuid></domain>"
        "</domainsnapshot>")
    assert uuid_only.domain_def is None


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<domainsnapshot><memory snapshot='manual'/></domainsnapshot>",
         "'manual' memory snapshot mode not supported"),
        ("<domainsnapshot><memory snapshot='external'/></domainsnapshot>",
         "external memory snapshots require a filename"),
        ("<domainsnapshot><memory snapshot='internal' file='/x'/></domainsnapshot>",
         "memory filename '/x' requires external snapshot"),
        ("<domainsnapshot><disks><disk name='a'><source file='rel'/></disk></disks>"
         "</domainsnapshot>", "disk snapshot image path 'rel' must be absolute"),
    ],
)
def test_errors(xml: str, message: str) -> None:
    with pytest.raises(VirtError) as exc:
        validate_snapshot_def(DomainSnapshotDef.from_xml(xml))
    assert message in str(exc.value)


def test_redefine_needs_name() -> None:
    with pytest.raises(VirtError, match="a redefined snapshot must have a name"):
        validate_snapshot_def(DomainSnapshotDef.from_xml("<domainsnapshot/>"), redefine=True)
