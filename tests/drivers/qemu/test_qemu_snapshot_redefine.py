"""Snapshot redefinition on qemu:///embed (metadata only: no guest is started).

libvirt 9.0's virDomainSnapshotRedefinePrep, shared with the test driver: the cycle check
with VIR_FROM_DOMAIN "moment" messages, the ``<memory>`` default, disk alignment, and a
redefinition without ``<domain>`` keeping the one it replaces (virDomainSnapshotReplaceDef).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import QemuRoot, domain_xml

from virtkit.errors import ErrorCode, ErrorDomain, VirtError

pytestmark = pytest.mark.slow


def _snap(name: str, dom: str, parent: str | None = None) -> str:
    p = f"<parent><name>{parent}</name></parent>" if parent else ""
    return (f"<domainsnapshot><name>{name}</name><state>shutoff</state>{p}"
            f"<creationTime>1</creationTime>{dom}</domainsnapshot>")


def _error(dom: Any, xml: str) -> VirtError:
    with pytest.raises(VirtError) as exc:
        dom.create_snapshot(xml, 1)
    return exc.value


def test_redefine(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root: Path = qroot.path
    disk = guest.copy_disk(root / "vm1.qcow2", "qcow2")
    dom = conn.define_domain(domain_xml(guest, root, "vm1", disk=disk, disk_format="qcow2"))
    full = dom.xml(2)

    err = _error(dom, _snap("a", full, parent="zz"))
    assert (err.code, err.domain) == (ErrorCode.INVALID_ARG, ErrorDomain.DOMAIN)
    assert err.message == "invalid argument: parent zz for moment a not found"
    err = _error(dom, _snap("a", ""))
    assert (err.code, err.domain) == (ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN_SNAPSHOT)
    assert err.message == "internal error: missing domain in snapshot"

    dom.create_snapshot(_snap("a", full), 1)
    dom.create_snapshot(_snap("b", full, parent="a"), 1)
    err = _error(dom, _snap("a", full, parent="b"))
    assert err.message == "invalid argument: parent b would create cycle to a"

    dom.create_snapshot(_snap("a", ""), 3)  # REDEFINE|CURRENT, no <domain>: the old one stays
    xml = dom.lookup_snapshot("a").xml()
    assert "<memory snapshot='no'/>" in xml and "<disk name='vda' snapshot='internal'/>" in xml
    assert "<domain type='kvm'>" in xml or "<domain type='qemu'>" in xml
    assert dom.current_snapshot().name == "a"
    assert [s.name for s in dom.lookup_snapshot("a").children()] == ["b"]
    on_disk = (root / "lib/qemu/snapshot/vm1/a.xml").read_text()
    assert "<active>1</active>" in on_disk and "<uuid>" in on_disk
    dom.undefine(2)
