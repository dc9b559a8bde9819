"""TLS between virtkit and Debian's libvirt 9.0, both ways, with certificates from `virtkit pki`.

* Debian's ``virsh -c 'qemu+tls://127.0.0.1:PORT/system?pkipath=DIR'`` (and test+tls)
  against virtkitd: listed and allowed clients get in; no certificate, a certificate
  of another CA and a DN not on ``tls_allowed_dn_list`` are refused.
* virtkit's client against Debian's libvirtd listening for TLS with its
  ``key_file``/``cert_file``/``ca_file`` pointing at the same certificates: GnuTLS
  accepts them (libvirtd's sanity checks) and matches the DN virtkit wrote.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtkit
from virtkit.errors import VirtError
from virtkit.testing.peers import Daemon, libvirtd_available, start_libvirtd, start_virtkitd

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(180)]

VIRSH = shutil.which("virsh") or "/usr/bin/virsh"
ADMIN = "C=GB,O=virtkit,CN=admin"
ACL = 'tls_allowed_dn_list = ["C=GB,O=virtkit,CN=admin", "C=GB,O=virtkit,CN=ops-*"]\n'


def _cli(*args: str) -> None:
    """Run `virtkit pki-...` as an admin would."""
    res = subprocess.run([sys.executable, "-m", "virtkit.cli.main", *args, "--bits", "2048"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


@pytest.fixture(scope="module")
def pkidirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """server/ (CA + server cert), admin/ and ops/ (allowed), guest/ (not listed),
    nocert/ (the CA only), foreign/ (another CA's client with the admin DN)."""
    base = tmp_path_factory.mktemp("tlspki")
    ca = base / "ca"
    _cli("pki-ca", "--dir", str(ca))
    _cli("pki-server", "127.0.0.1,localhost", "--dir", str(base / "server"), "--ca-dir", str(ca))
    for name, dn in (("admin", ADMIN), ("ops", "C=GB,O=virtkit,CN=ops-1"),
                     ("guest", "C=GB,O=virtkit,CN=guest")):
        _cli("pki-client", dn, "--dir", str(base / name), "--ca-dir", str(ca))
    (base / "nocert").mkdir()
    shutil.copy(ca / "cacert.pem", base / "nocert" / "cacert.pem")
    other = base / "otherca"
    _cli("pki-ca", "--dir", str(other), "--dn", "O=elsewhere,CN=other CA")
    _cli("pki-client", ADMIN, "--dir", str(other))
    foreign = base / "foreign"  # trusts our CA, presents the other CA's certificate
    foreign.mkdir()
    shutil.copy(ca / "cacert.pem", foreign / "cacert.pem")
    for name in ("clientcert.pem", "clientkey.pem"):
        shutil.copy(other / name, foreign / name)
    return {p.name: p for p in base.iterdir()}


@pytest.fixture(scope="module")
def virtkitd(tmp_path_factory: pytest.TempPathFactory,
             pkidirs: dict[str, Path]) -> Iterator[Daemon]:
    with start_virtkitd(tmp_path_factory.mktemp("virtkitd"), tls=pkidirs["server"],
                        extra_conf=ACL) as daemon:
        yield daemon
        assert daemon.proc.poll() is None, daemon.log_text()


@pytest.fixture(scope="module")
def libvirtd(tmp_path_factory: pytest.TempPathFactory,
             pkidirs: dict[str, Path]) -> Iterator[Daemon]:
    if not libvirtd_available():
        pytest.fail("libvirtd is missing: `make test` installs libvirt-daemon")
    with start_libvirtd(tmp_path_factory.mktemp("libvirtd"), tls=pkidirs["server"],
                        extra_conf=ACL) as daemon:
        yield daemon
        assert daemon.proc.poll() is None, daemon.log_text()


def _virsh(uri: str, *commands: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VIRSH, "-c", uri, *commands], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})


def test_debian_virsh_over_tls_to_virtkitd(virtkitd: Daemon, pkidirs: dict[str, Path]) -> None:
    uri = f"{virtkitd.uri('tls')}?pkipath={pkidirs['admin']}"
    res = _virsh(uri, "list --all; dominfo test; uri")
    assert res.returncode == 0, res.stderr
    assert " test " in res.stdout and "running" in res.stdout
    assert "Name:           test" in res.stdout
    assert uri in res.stdout
    # the daemon's own QEMU driver, as the issue names it
    uri = f"{virtkitd.uri('tls', '/system', 'qemu')}?pkipath={pkidirs['ops']}"
    res = _virsh(uri, "list --all; uri")
    assert res.returncode == 0, res.stderr
    assert "Id   Name   State" in res.stdout


@pytest.mark.parametrize(("who", "message"), [
    ("nocert", "Unable to read TLS confirmation: Input/output error"),
    ("guest", "Unable to read TLS confirmation: Input/output error"),
    ("foreign", "Unable to read TLS confirmation: Input/output error"),
])
def test_debian_virsh_refused_by_virtkitd(virtkitd: Daemon, pkidirs: dict[str, Path],
                                          who: str, message: str) -> None:
    # no_sanity: else the client itself refuses to present another CA's certificate
    res = _virsh(f"{virtkitd.uri('tls')}?pkipath={pkidirs[who]}&no_sanity=1", "list")
    assert res.returncode == 1
    assert message in res.stderr
    log = virtkitd.log_text()
    if who == "guest":
        assert "C=GB,O=virtkit,CN=guest" in log and "tls_allowed_dn_list" in log
    assert virtkitd.proc.poll() is None


def test_server_certificate_check_and_no_verify(virtkitd: Daemon, pkidirs: dict[str, Path],
                                               tmp_path: Path) -> None:
    """A client that trusts another CA refuses virtkitd's certificate, in the same words
    from virsh and from virtkit; ``no_verify=1`` skips the check for both."""
    trust_other = tmp_path / "trust-other"
    trust_other.mkdir()
    shutil.copy(pkidirs["otherca"] / "cacert.pem", trust_other / "cacert.pem")
    for name in ("clientcert.pem", "clientkey.pem"):
        shutil.copy(pkidirs["admin"] / name, trust_other / name)
    uri = f"{virtkitd.uri('tls')}?pkipath={trust_other}&no_sanity=1"
    res = _virsh(uri, "list --name")
    assert res.returncode == 1
    assert "error: authentication failed: Failed to verify peer's certificate" in res.stderr
    with pytest.raises(VirtError) as info:
        virtkit.open(uri)
    assert str(info.value) == "authentication failed: Failed to verify peer's certificate"
    res = _virsh(f"{uri}&no_verify=1", "list --name")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["test"]
    with virtkit.open(f"{uri}&no_verify=1") as conn:
        assert conn.lookup_domain("test").name == "test"


def test_virtkit_client_to_debian_libvirtd(libvirtd: Daemon, pkidirs: dict[str, Path]) -> None:
    uri = f"{libvirtd.uri('tls')}?pkipath={pkidirs['admin']}"
    with virtkit.open(uri) as conn:
        dom = conn.lookup_domain("test")
        assert dom.name == "test"
        assert conn.is_encrypted()
        assert "test" in [d.name for d in conn.list_domains()]
    # libvirtd matched the DN string virtkit wrote, wildcards included
    with virtkit.open(f"{libvirtd.uri('tls')}?pkipath={pkidirs['ops']}") as conn:
        assert conn.lookup_domain("test").name == "test"


@pytest.mark.parametrize("who", ["nocert", "guest", "foreign"])
def test_debian_libvirtd_refuses_virtkit_client(libvirtd: Daemon, pkidirs: dict[str, Path],
                                                who: str) -> None:
    with pytest.raises(VirtError) as info:
        virtkit.open(f"{libvirtd.uri('tls')}?pkipath={pkidirs[who]}&no_sanity=1")
    assert str(info.value) == "Unable to read TLS confirmation: Input/output error"
    if who == "guest":
        assert "not on the list of allowed clients" in libvirtd.log_text()


def test_client_sanity_check_same_as_virsh(virtkitd: Daemon, pkidirs: dict[str, Path]) -> None:
    """Without no_sanity both clients refuse their own certificate of another CA alike."""
    uri = f"{virtkitd.uri('tls')}?pkipath={pkidirs['foreign']}"
    res = _virsh(uri, "list")
    assert res.returncode == 1
    with pytest.raises(VirtError) as info:
        virtkit.open(uri)
    assert f"error: {info.value}\n" in res.stderr
    assert "failed validation against" in str(info.value)


def test_virtkit_client_checks_libvirtds_certificate(libvirtd: Daemon,
                                                    pkidirs: dict[str, Path]) -> None:
    """Our client trusts only the other CA: libvirtd's certificate fails its check."""
    with pytest.raises(VirtError) as info:
        virtkit.open(f"{libvirtd.uri('tls')}?pkipath={pkidirs['otherca']}")
    assert str(info.value) == "authentication failed: Failed to verify peer's certificate"
