"""Read-only connections and secrets (issue 13, item 4), against libvirtd 9.0.

The daemon itself refuses what libvirt's API refuses a read-only connection:
the flags that bring in a flag-conditional ``@acl`` rule beyond reading
(``VIR_DOMAIN_XML_SECURE`` and ``MIGRATABLE``, ``VIR_DOMAIN_VCPU_GUEST``, the
guest agent as address source, secure snapshot XML), with or without an access
driver.  virtkit's remote driver sends such calls unchecked (stock virsh and
libvirt-python refuse them before sending), so these tests reach the daemon.
Passwords never appear in XML without ``SECURE``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
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
from virtkit.errors import VirtError
from virtkit.testing.peers import Daemon, libvirtd_available, start_libvirtd, start_virtkitd

pytestmark = pytest.mark.timeout(180)

DOM = ("<domain type='test'><name>vnc-1</name><memory>1024</memory>"
       "<os><type>hvm</type></os><devices>"
       "<graphics type='vnc' port='-1' passwd='vnc-secret'/>"
       "<graphics type='spice' autoport='yes' passwd='spice-secret'/></devices></domain>")
SNAP = "<domainsnapshot><name>s1</name></domainsnapshot>"
ALLOW_ALL = 'default = "allow"\n'

Call = Callable[[Any], Any]
# label -> a call on the read-only connection's driver tables, with the forbidden flag
RO_CALLS: dict[str, Call] = {
    "xml-secure": lambda t: t.hypervisor.domain_get_xml_desc(
        t.hypervisor.domain_lookup_by_name("vnc-1"), DomainXMLFlags.SECURE),
    "xml-migratable": lambda t: t.hypervisor.domain_get_xml_desc(
        t.hypervisor.domain_lookup_by_name("vnc-1"), DomainXMLFlags.MIGRATABLE),
    "vcpus-guest": lambda t: t.hypervisor.domain_get_vcpus_flags(
        t.hypervisor.domain_lookup_by_name("test"), DomainVcpuFlags.GUEST),
    "ifaddr-agent": lambda t: t.hypervisor.domain_interface_addresses(
        t.hypervisor.domain_lookup_by_name("test"), DomainInterfaceAddressesSource.AGENT, 0),
    "snapshot-secure": lambda t: t.hypervisor.domain_snapshot_get_xml_desc(
        t.hypervisor.domain_snapshot_lookup_by_name(
            t.hypervisor.domain_lookup_by_name("test"), "s1", 0),
        DomainSnapshotXMLFlags.SECURE),
}


class Peer:
    """A daemon with vnc-1 defined and a snapshot of test (a read-write connection
    keeps the test driver's state alive)."""

    def __init__(self, daemon: Daemon, conn: virtkit.Connection) -> None:
        self.daemon = daemon
        self.conn = conn

    def virsh(self, *args: str, ro: bool = True) -> subprocess.CompletedProcess[str]:
        uri = self.daemon.uri("unix-ro" if ro else "unix")
        return subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                              timeout=60, check=False)

    def ro_error(self, label: str) -> tuple[int, int, str] | None:
        with virtkit.open_readonly(self.daemon.uri("unix-ro")) as ro:
            try:
                RO_CALLS[label](ro.tables)
            except VirtError as e:
                return e.code, e.domain, str(e)
        return None


def _peer(kind: str, root: Path) -> Daemon:
    if kind == "libvirtd":
        if not libvirtd_available():
            pytest.fail("Debian's libvirtd is missing: make test installs it (scripts/sysdeps.py)")
        return start_libvirtd(root)
    extra = ""
    if kind == "virtkitd-acl":
        (root / "etc" / "libvirt").mkdir(parents=True, exist_ok=True)
        (root / "etc" / "libvirt" / "policy.toml").write_text(ALLOW_ALL)
        extra = ('access_drivers = ["virtkit"]\n'
                 'access_policy_file = "/etc/libvirt/policy.toml"\n')
    return start_virtkitd(root, extra_conf=extra)


@pytest.fixture(scope="module", params=["virtkitd", "virtkitd-acl", "libvirtd"])
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    root = Path(tempfile.mkdtemp(prefix="vk-ro-"))
    daemon = _peer(str(request.param), root)
    try:
        with virtkit.open(daemon.uri("unix")) as conn:
            conn.define_domain(DOM)
            hv = conn.tables.hypervisor
            hv.domain_snapshot_create_xml(hv.domain_lookup_by_name("test"), SNAP, 0)
            hv.domain_snapshot_create_xml(hv.domain_lookup_by_name("vnc-1"), SNAP, 0)
            yield Peer(daemon, conn)
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


_LIBVIRT_ANSWERS: dict[str, tuple[int, int, str] | None] = {}


@pytest.fixture(scope="module")
def libvirt_answers() -> Iterator[dict[str, tuple[int, int, str] | None]]:
    """libvirtd 9.0's answers to RO_CALLS on its read-only socket."""
    if not libvirtd_available():
        pytest.fail("Debian's libvirtd is missing: make test installs it (scripts/sysdeps.py)")
    if not _LIBVIRT_ANSWERS:
        root = Path(tempfile.mkdtemp(prefix="vk-ro-lv-"))
        daemon = start_libvirtd(root)
        try:
            with virtkit.open(daemon.uri("unix")) as conn:
                conn.define_domain(DOM)
                hv = conn.tables.hypervisor
                hv.domain_snapshot_create_xml(hv.domain_lookup_by_name("test"), SNAP, 0)
                p = Peer(daemon, conn)
                _LIBVIRT_ANSWERS.update({label: p.ro_error(label) for label in RO_CALLS})
        finally:
            daemon.stop()
            shutil.rmtree(root, ignore_errors=True)
    yield _LIBVIRT_ANSWERS


@pytest.mark.parametrize("label", sorted(RO_CALLS))
def test_daemon_refuses_readonly_flags_as_libvirtd(
        peer: Peer, label: str, libvirt_answers: dict[str, tuple[int, int, str] | None]) -> None:
    got = peer.ro_error(label)
    assert got is not None and got[0] == 29  # VIR_ERR_OPERATION_DENIED
    assert got == libvirt_answers[label]


def test_libvirt_wording(libvirt_answers: dict[str, tuple[int, int, str] | None]) -> None:
    assert libvirt_answers["xml-secure"] == (
        29, 20, "operation forbidden: virDomainGetXMLDesc with secure flag")
    assert libvirt_answers["vcpus-guest"] == (
        29, 20, "operation forbidden: read only access prevents virDomainGetVcpusFlags")


def test_virsh_readonly_dumpxml_hides_passwords(peer: Peer) -> None:
    res = peer.virsh("dumpxml", "--security-info", "vnc-1")
    assert res.returncode != 0
    assert "virDomainGetXMLDesc with secure flag" in res.stderr
    res = peer.virsh("dumpxml", "vnc-1")
    assert res.returncode == 0, res.stderr
    assert "<graphics type='vnc'" in res.stdout and "<graphics type='spice'" in res.stdout
    assert "passwd" not in res.stdout and "secret" not in res.stdout
    # read-write: only with --security-info
    plain = peer.virsh("dumpxml", "vnc-1", ro=False)
    assert plain.returncode == 0 and "passwd" not in plain.stdout
    secure = peer.virsh("dumpxml", "--security-info", "vnc-1", ro=False)
    assert "passwd='vnc-secret'" in secure.stdout and "passwd='spice-secret'" in secure.stdout


def test_snapshot_xml_hides_passwords(peer: Peer) -> None:
    res = peer.virsh("snapshot-dumpxml", "vnc-1", "s1")
    assert res.returncode == 0, res.stderr
    assert "<graphics type='vnc'" in res.stdout and "passwd" not in res.stdout
    res = peer.virsh("snapshot-dumpxml", "--security-info", "vnc-1", "s1", ro=False)
    assert res.returncode == 0, res.stderr
    assert "passwd='vnc-secret'" in res.stdout


def test_readonly_allowed_calls_still_work(peer: Peer) -> None:
    with virtkit.open_readonly(peer.daemon.uri("unix-ro")) as ro:
        hv = ro.tables.hypervisor
        dom = hv.domain_lookup_by_name("vnc-1")
        assert "<name>vnc-1</name>" in hv.domain_get_xml_desc(dom, DomainXMLFlags.INACTIVE)
        assert hv.domain_get_vcpus_flags(hv.domain_lookup_by_name("test"), 0) >= 1
