"""The whole secure path at once, driven by Debian's virsh 9.0: TLS with client certificates
from `virtkit pki-*`, SASL SCRAM-SHA-256 on top (``auth_tls = "sasl"``), and an access
policy keyed on the SASL user name and on the certificate's DN, with the audit log.

* ``reader`` (SASL) may read the web-* domains only: it lists exactly those, cannot start
  one, cannot see db-1.
* ``boss`` (SASL) may do everything, unless it comes with the ``CN=intern`` certificate:
  a deny rule on that DN wins.
* A wrong password, and a certificate of another CA, are refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.daemon import sasldb
from virtkit.testing.peers import Daemon, start_virtkitd

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(180)]

VIRSH = shutil.which("virsh") or "/usr/bin/virsh"
POLICY = """
default = "deny"

[[rules]]
effect = "allow"
sasl_users = ["boss"]
permissions = ["*"]

[[rules]]
effect = "allow"
sasl_users = ["reader"]
permissions = ["connect.getattr", "connect.read", "connect.search-domains"]

[[rules]]
effect = "allow"
sasl_users = ["reader"]
permissions = ["domain.getattr", "domain.read"]
objects = ["web-*"]

[[rules]]
effect = "deny"
x509_dns = ["*CN=intern"]
permissions = ["domain.start", "domain.stop", "domain.write", "domain.delete"]
"""
# qemu:///system (persistent definitions; no guest is started: the denied start never runs)
DOM = ("<domain type='qemu'><name>{}</name><memory unit='MiB'>64</memory>"
       "<os><type arch='x86_64'>hvm</type></os></domain>")


def _pki(*args: str) -> None:
    res = subprocess.run([sys.executable, "-m", "virtkit.cli.main", *args, "--bits", "2048"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Path]]:
    base = tmp_path_factory.mktemp("secure")
    ca = base / "ca"
    _pki("pki-ca", "--dir", str(ca))
    _pki("pki-server", "127.0.0.1", "--dir", str(base / "server"), "--ca-dir", str(ca))
    _pki("pki-client", "C=GB,O=virtkit,CN=staff", "--dir", str(base / "staff"),
         "--ca-dir", str(ca))
    _pki("pki-client", "C=GB,O=virtkit,CN=intern", "--dir", str(base / "intern"),
         "--ca-dir", str(ca))
    _pki("pki-ca", "--dir", str(base / "otherca"), "--dn", "O=elsewhere,CN=other CA")
    _pki("pki-client", "C=GB,O=virtkit,CN=staff", "--dir", str(base / "otherca"))
    foreign = base / "foreign"
    foreign.mkdir()
    shutil.copy(ca / "cacert.pem", foreign / "cacert.pem")
    for name in ("clientcert.pem", "clientkey.pem"):
        shutil.copy(base / "otherca" / name, foreign / name)
    for who, password in (("reader", "r3ad"), ("boss", "b0ss"), ("wrong", "nope")):
        (base / f"{who}.auth").write_text(
            f"[credentials-x]\nauthname={'reader' if who == 'wrong' else who}\n"
            f"password={password}\n\n[auth-libvirt-127.0.0.1]\ncredentials=x\n")
    root = base / "root"
    (root / "etc" / "libvirt").mkdir(parents=True)
    (root / "etc" / "libvirt" / "policy.toml").write_text(POLICY)
    db = sasldb.default_db_path(str(root))
    sasldb.add_user(db, "reader", "r3ad")
    sasldb.add_user(db, "boss", "b0ss")
    conf = ('auth_tls = "sasl"\naccess_drivers = [ "virtkit" ]\n'
            'access_policy_file = "/etc/libvirt/policy.toml"\n')
    with start_virtkitd(root, tls=base / "server", extra_conf=conf) as daemon:
        yield daemon, base
        assert daemon.proc.poll() is None, daemon.log_text()


def virsh(setup: tuple[Daemon, Path], cert: str, who: str,
          line: str) -> subprocess.CompletedProcess[str]:
    daemon, base = setup
    uri = (f"{daemon.uri('tls', '/system', 'qemu')}?pkipath={base / cert}"
           f"&authfile={base / (who + '.auth')}")
    return subprocess.run([VIRSH, "-c", uri, line], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})


def test_policy_over_tls_and_sasl(setup: tuple[Daemon, Path]) -> None:
    daemon, base = setup
    for name in ("web-1", "web-2", "db-1"):
        (base / f"{name}.xml").write_text(DOM.format(name))
        res = virsh(setup, "staff", "boss", f"define {base / name}.xml")
        assert res.returncode == 0, res.stderr

    res = virsh(setup, "staff", "boss", "list --all --name")
    assert sorted(res.stdout.split()) == ["db-1", "web-1", "web-2"], res.stderr
    res = virsh(setup, "staff", "reader", "list --all --name")
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.split()) == ["web-1", "web-2"]
    res = virsh(setup, "staff", "reader", "start web-1")
    assert res.returncode == 1
    assert "access denied" in res.stderr, res.stderr
    res = virsh(setup, "staff", "reader", "dominfo db-1")  # virsh words a failed lookup so
    assert res.returncode == 1 and "failed to get domain 'db-1'" in res.stderr, res.stderr

    res = virsh(setup, "staff", "boss", "autostart web-1; list --all --autostart --name")
    assert res.returncode == 0, res.stderr
    assert "web-1" in res.stdout
    res = virsh(setup, "intern", "boss", "undefine db-1")  # the DN's deny wins
    assert res.returncode == 1 and "access denied" in res.stderr, res.stderr
    res = virsh(setup, "staff", "boss", "undefine db-1")
    assert res.returncode == 0, res.stderr

    audit = [json.loads(line) for line in
             (daemon.root / "var" / "log" / "libvirt" / "virtkitd-audit.log").read_text()
             .splitlines()]
    denied = [a for a in audit if json.dumps(a).count("denied")]
    assert any("reader" in json.dumps(a) and "web-1" in json.dumps(a) for a in denied)
    assert any("CN=intern" in json.dumps(a) for a in denied)
    assert any("boss" in json.dumps(a) and "DOMAIN_UNDEFINE" in json.dumps(a).upper()
               for a in audit)


def test_wrong_password_and_foreign_certificate(setup: tuple[Daemon, Path]) -> None:
    res = virsh(setup, "staff", "wrong", "list")
    assert res.returncode == 1
    assert "authentication failed" in res.stderr, res.stderr
    res = virsh(setup, "foreign", "boss", "list")
    assert res.returncode == 1
    assert "TLS" in res.stderr or "certificate" in res.stderr, res.stderr
