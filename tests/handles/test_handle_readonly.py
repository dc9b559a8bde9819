"""Read-only is decided by the procedure table; the handles only name the API.

A read-only connection's driver tables refuse every procedure libvirt's table marks as
writing (virtkit.drivers.readonly). The handles' ``_check_write("virXxx", ...)`` calls
come first only so that the error names the public function the caller used (libvirt's
virCheckReadOnlyGoto: virNWFilterDefineXML vs virNWFilterDefineXMLFlags). This test
holds them to the table: each names a procedure the table marks as writing (or one
whose flag-conditional rule writes, the call site checking the flag), so no handle can
refuse a reading call on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.constants import (
    DomainInterfaceAddressesSource,
    DomainSnapshotXMLFlags,
    DomainVcpuFlags,
    DomainXMLFlags,
)
from virtkit.errors import ErrorCode, ErrorDomain, VirtError
from virtkit.rpc.bindings import api_name
from virtkit.rpc.protocol import REMOTE, Procedure

SRC = Path(virtkit.__file__).parent
FILES = sorted([*(SRC / "handles").glob("*.py"), SRC / "connection.py"])


def named_apis(source: str) -> list[str]:
    """The function names literally passed to ``_check_write`` in ``source``."""
    out: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "_check_write" and node.args):
            continue
        first = node.args[0]
        for sub in ast.walk(first):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                out.append(sub.value)
    return out


_BY_API = {api_name(p.name).lower(): p for p in REMOTE}
# Public APIs that libvirt's client library carries as several procedures: the first
# procedure each sends (the one its read-only answer comes from).
_SEVERAL = {"virdomainmigrate3": "domain_migrate_begin3_params",
            "virdomainmigratetouri3": "domain_migrate_perform3_params"}
_BY_API.update({api: REMOTE[proc] for api, proc in _SEVERAL.items()})


def writes(proc: Procedure) -> bool:
    """Not read-only, or read-only save a flag-conditional rule beyond reading."""
    return not proc.readonly or any(r.conditional and not r.anonymous for r in proc.acl)


def test_the_scan_finds_the_calls() -> None:
    sample = ('def f(self, flags):\n'
              '    self._check_write("virA" if flags else "virB", 1)\n'
              '    conn._check_write("virC", 2)\n'
              '    self._check_write(name, 3)\n')
    assert named_apis(sample) == ["virA", "virB", "virC"]
    assert len([a for f in FILES for a in named_apis(f.read_text())]) > 80


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_named_api_writes_by_the_table(path: Path) -> None:
    wrong = {}
    for api in named_apis(path.read_text()):
        proc = _BY_API.get(api.lower())
        if proc is None or not writes(proc):
            wrong[api] = None if proc is None else proc.name
    assert wrong == {}


# ---------------------------------------------------------------- flag-conditional rules

def _answer(call: Any) -> tuple[int, int, str] | None:
    try:
        call()
    except VirtError as exc:
        return exc.code, exc.domain, str(exc)
    return None


_DENIED = ErrorCode.OPERATION_DENIED
_SECURE_XML = (_DENIED, ErrorDomain.DOMAIN,
               "operation forbidden: virDomainGetXMLDesc with secure flag")


def test_flag_conditional_rules_hold_for_the_tables_too() -> None:
    """A tool holding a read-only connection's tables gets what the handles and the
    daemon answer: SECURE/MIGRATABLE XML, guest vCPU counts and agent addresses refused,
    the same calls without those flags allowed."""
    rw = virtkit.open("test:///default")
    try:
        hv = rw.tables.hypervisor
        hv.domain_snapshot_create_xml(hv.domain_lookup_by_name("test"),
                                      "<domainsnapshot><name>s1</name></domainsnapshot>", 0)
        with virtkit.open_readonly("test:///default") as ro:
            t = ro.tables.hypervisor
            dom = t.domain_lookup_by_name("test")
            snap = t.domain_snapshot_lookup_by_name(dom, "s1", 0)
            handle = ro.lookup_domain("test")
            cases: dict[str, tuple[Any, tuple[int, int, str] | None]] = {
                "xml": (lambda: t.domain_get_xml_desc(dom, 0), None),
                "xml-inactive": (lambda: t.domain_get_xml_desc(dom, DomainXMLFlags.INACTIVE),
                                 None),
                "xml-secure": (lambda: t.domain_get_xml_desc(dom, DomainXMLFlags.SECURE),
                               _SECURE_XML),
                "xml-migratable": (
                    lambda: t.domain_get_xml_desc(dom, DomainXMLFlags.MIGRATABLE), _SECURE_XML),
                "handle-xml-secure": (lambda: handle.xml(DomainXMLFlags.SECURE), _SECURE_XML),
                "snapshot-secure": (
                    lambda: t.domain_snapshot_get_xml_desc(snap, DomainSnapshotXMLFlags.SECURE),
                    (_DENIED, ErrorDomain.DOMAIN_SNAPSHOT,
                     "operation forbidden: virDomainSnapshotGetXMLDesc with secure flag")),
                "vcpus": (lambda: t.domain_get_vcpus_flags(dom, 0), None),
                "vcpus-guest": (
                    lambda: handle.vcpus_count(DomainVcpuFlags.GUEST),
                    (_DENIED, ErrorDomain.DOMAIN,
                     "operation forbidden: read only access prevents virDomainGetVcpusFlags")),
                "addresses-lease": (
                    lambda: t.domain_interface_addresses(
                        dom, DomainInterfaceAddressesSource.LEASE, 0), None),
                "addresses-agent": (
                    lambda: handle.interface_addresses(DomainInterfaceAddressesSource.AGENT),
                    (_DENIED, ErrorDomain.DOMAIN, "operation forbidden: read only access "
                     "prevents virDomainInterfaceAddresses")),
            }
            got = {label: _answer(call) for label, (call, _) in cases.items()}
            assert got == {label: want for label, (_, want) in cases.items()}
    finally:
        rw.close()
