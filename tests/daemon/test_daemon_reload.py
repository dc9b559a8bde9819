"""``SIGHUP`` on a real virtkitd: the access policy, the TLS credentials and the audit log are
reloaded, bad new files keep the old ones, and no client is dropped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtkit
from virtkit.errors import VirtError
from virtkit.testing.peers import Daemon, start_virtkitd

pytestmark = pytest.mark.timeout(180)

DOM = ("<domain type='test'><name>{name}</name><memory>1024</memory>"
       "<os><type>hvm</type></os></domain>")
ACCESS_DENIED = 88
# info level: the reload's log lines are checked
CONF = 'log_level = 2\nlog_outputs = "2:stderr"\n'
ACL_CONF = CONF + 'access_drivers = ["virtkit"]\naccess_policy_file = "/etc/libvirt/policy.toml"\n'

NO_START = """
default = "allow"

[[rules]]
effect = "deny"
everyone = true
permissions = ["domain.start"]
objects = ["web-*"]
"""
NO_STOP = NO_START.replace("domain.start", "domain.stop")
BROKEN = "[[rules]]\neffect = 'allow'\neveryone = true\npermissions = ['domain.teleport']\n"


def _sighup(daemon: Daemon, timeout: float = 20.0) -> str:
    """Send SIGHUP and wait for the reload to finish; returns the log it wrote."""
    before = daemon.log_text()
    done = before.count("reload done")
    os.kill(daemon.pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = daemon.log_text()
        if text.count("reload done") > done:
            assert daemon.proc.poll() is None
            return text[len(before):]
        assert daemon.proc.poll() is None, text
        time.sleep(0.05)
    raise AssertionError(f"no reload after SIGHUP:\n{daemon.log_text()}")


def _code(fn: object) -> int | None:
    try:
        fn()  # type: ignore[operator]
    except VirtError as e:
        return int(e.code)
    return None


@pytest.fixture
def acl_daemon(tmp_path: Path) -> Iterator[Daemon]:
    (tmp_path / "etc" / "libvirt").mkdir(parents=True)
    (tmp_path / "etc" / "libvirt" / "policy.toml").write_text(NO_START)
    with start_virtkitd(tmp_path, extra_conf=ACL_CONF) as daemon:
        yield daemon


def test_policy_change_applies_to_connected_and_new_clients(acl_daemon: Daemon) -> None:
    policy = acl_daemon.root / "etc" / "libvirt" / "policy.toml"
    with virtkit.open(acl_daemon.uri("unix")) as conn:
        conn.define_domain(DOM.format(name="web-1"))
        dom = conn.lookup_domain("web-1")
        assert _code(dom.start) == ACCESS_DENIED
        policy.write_text(NO_STOP)
        out = _sighup(acl_daemon)
        assert "access control: reloaded policy" in out
        dom.start()  # the same connection, under the new policy
        assert dom.is_active()
        assert _code(dom.destroy) == ACCESS_DENIED
        with virtkit.open(acl_daemon.uri("unix")) as other:  # a new client
            assert _code(other.lookup_domain("web-1").destroy) == ACCESS_DENIED
            assert other.lookup_domain("web-1").is_active()
        assert dom.is_active()


def test_broken_policy_keeps_the_old_one(acl_daemon: Daemon) -> None:
    policy = acl_daemon.root / "etc" / "libvirt" / "policy.toml"
    with virtkit.open(acl_daemon.uri("unix")) as conn:
        conn.define_domain(DOM.format(name="web-2"))
        policy.write_text(BROKEN)
        out = _sighup(acl_daemon)
        assert "access policy not reloaded, keeping the previous one" in out
        assert "unknown permission 'domain.teleport'" in out
        assert "reload done, with errors" in out
        assert _code(conn.lookup_domain("web-2").start) == ACCESS_DENIED  # old policy
        policy.unlink()
        out = _sighup(acl_daemon)
        assert "cannot read access policy" in out
        with virtkit.open(acl_daemon.uri("unix")) as other:
            assert _code(other.lookup_domain("web-2").start) == ACCESS_DENIED
    assert acl_daemon.proc.poll() is None


def _audit(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_audit_log_reopened_after_logrotate(tmp_path: Path) -> None:
    with start_virtkitd(tmp_path, extra_conf=CONF) as daemon, \
            virtkit.open(daemon.uri("unix")) as conn:
        log = daemon.root / "var" / "log" / "libvirt" / "virtkitd-audit.log"
        conn.define_domain(DOM.format(name="before"))
        rotated = log.with_name(log.name + ".1")
        log.rename(rotated)
        conn.define_domain(DOM.format(name="moved"))  # still the old (moved) file
        _sighup(daemon)
        assert log.exists() and (log.stat().st_mode & 0o777) == 0o600
        conn.define_domain(DOM.format(name="after"))
        names = [e["object"]["name"] for e in _audit(rotated)  # type: ignore[index]
                 if str(e["procedure"]).startswith("domain_define_xml")]
        assert names == ["before", "moved"]
        names = [e["object"]["name"] for e in _audit(log)  # type: ignore[index]
                 if str(e["procedure"]).startswith("domain_define_xml")]
        assert names == ["after"]


def test_sighup_storm_drops_nobody(tmp_path: Path) -> None:
    with start_virtkitd(tmp_path, extra_conf=CONF) as daemon, \
            virtkit.open(daemon.uri("unix")) as unix, virtkit.open(daemon.uri("tcp")) as tcp:
        for _ in range(10):
            os.kill(daemon.pid, signal.SIGHUP)
            time.sleep(0.01)
        _sighup(daemon)
        assert daemon.proc.poll() is None
        assert unix.hostname and tcp.hostname
        assert "Received signal" not in daemon.log_text()


# ---------------------------------------------------------------- TLS


def _cli(*args: str) -> None:
    res = subprocess.run([sys.executable, "-m", "virtkit.cli.main", *args, "--bits", "2048"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def _pki(base: Path, name: str) -> tuple[Path, Path]:
    """A CA with a server certificate (``name``/server) and a client (``name``/client)."""
    ca = base / name / "ca"
    _cli("pki-ca", "--dir", str(ca), "--dn", f"O=virtkit,CN={name} CA")
    _cli("pki-server", "127.0.0.1,localhost", "--dir", str(base / name / "server"),
         "--ca-dir", str(ca))
    _cli("pki-client", "C=GB,O=virtkit,CN=admin", "--dir", str(base / name / "client"),
         "--ca-dir", str(ca))
    return base / name / "server", base / name / "client"


def test_new_server_certificate_after_sighup(tmp_path: Path) -> None:
    old_server, old_client = _pki(tmp_path / "pki", "old")
    new_server, new_client = _pki(tmp_path / "pki", "new")
    live = tmp_path / "live"  # the files the daemon's config names
    shutil.copytree(old_server, live)
    with start_virtkitd(tmp_path / "root", tls=live, extra_conf=CONF) as daemon:
        uri = daemon.uri("tls")
        with virtkit.open(f"{uri}?pkipath={old_client}") as old_conn:
            old_conn.define_domain(DOM.format(name="tls-1"))
            with pytest.raises(VirtError):
                virtkit.open(f"{uri}?pkipath={new_client}")
            for name in ("cacert.pem", "servercert.pem", "serverkey.pem"):
                shutil.copy(new_server / name, live / name)
            out = _sighup(daemon)
            assert "TLS credentials reloaded" in out
            with virtkit.open(f"{uri}?pkipath={new_client}") as new_conn:
                assert "tls-1" in [d.name for d in new_conn.list_domains()]
            with pytest.raises(VirtError):  # the old CA no longer matches
                virtkit.open(f"{uri}?pkipath={old_client}")
            # the session established before keeps its credentials
            old_conn.define_domain(DOM.format(name="tls-2"))
            assert {"tls-1", "tls-2"} <= {d.name for d in old_conn.list_domains()}

            # a broken certificate: refused, the current context stays
            (live / "servercert.pem").write_text("not a certificate\n")
            out = _sighup(daemon)
            assert "TLS credentials not reloaded, keeping the previous ones" in out
            assert "servercert.pem" in out
            with virtkit.open(f"{uri}?pkipath={new_client}") as new_conn:
                assert new_conn.hostname
            assert old_conn.hostname
        assert daemon.proc.poll() is None


# ---------------------------------------------------------------- drivers (virStateReload)


def test_storage_node_reload_picks_up_new_pools(tmp_path: Path) -> None:
    from virtkit.drivers.storage import node as storage_node
    from virtkit.drivers.storage.paths import StoragePaths

    paths = StoragePaths.embed(str(tmp_path / "root"))
    node = storage_node.node_for(paths)
    try:
        assert storage_node.loaded(paths) is node
        assert node.reload() == []
        target = tmp_path / "images"
        target.mkdir()
        xml = (f"<pool type='dir'><name>late</name><target><path>{target}</path>"
               "</target></pool>")
        Path(paths.config_dir, "late.xml").write_text(xml)
        Path(paths.autostart_dir).mkdir(exist_ok=True)
        Path(paths.autostart_dir, "late.xml").symlink_to(Path(paths.config_dir, "late.xml"))
        assert node.reload() == ["late"]
        obj = node.get("late")
        assert obj.autostart and obj.active
        assert node.reload() == []  # known pools are kept as they are
    finally:
        storage_node.release(node)
    assert storage_node.loaded(StoragePaths.embed(str(tmp_path / "other"))) is None


def test_network_node_reload_picks_up_new_networks(tmp_path: Path) -> None:
    from virtkit.drivers.network import node as net_node
    from virtkit.drivers.network.paths import NetworkPaths

    paths = NetworkPaths.embed(str(tmp_path / "root"))
    node = net_node.node_for(paths)
    try:
        assert net_node.loaded(paths) is node
        xml = ("<network><name>late</name><uuid>0b1f8f2e-6c1a-4a55-9a5e-3b0e8a4b7c11</uuid>"
               "<bridge name='vklate0'/></network>")
        Path(paths.config_dir, "late.xml").write_text(xml)
        assert node.reload() == ["late"]  # no autostart link: defined, not started
        obj = node.get("late")
        assert not obj.autostart and not obj.active
        assert node.reload() == []
    finally:
        net_node.release(node)
