"""The ``virtkit`` access driver: policy parsing, decisions, and virtkitd enforcing a policy
on a second unix user (Debian's libvirt-python as that user), with the audit log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.daemon.access import (
    ObjectRef,
    PolicyError,
    parse_policy,
    rule_applies,
)
from virtkit.rpc.protocol import REMOTE
from virtkit.testing.peers import Daemon, start_virtkitd

pytestmark = pytest.mark.timeout(120)

DOM = ("<domain type='test'><name>{name}</name><memory>1024</memory>"
       "<os><type>hvm</type></os></domain>")
PYTHON3 = "/usr/bin/python3"


# ---------------------------------------------------------------- policy unit tests

def _ident(user: str = "alice", uid: str = "1001") -> dict[str, str]:
    return {"user-name": user, "unix-user-id": uid, "unix-group-id": uid}


def _groups() -> frozenset[str]:
    return frozenset({"1001", "alice"})


def test_policy_deny_wins_and_scopes() -> None:
    policy = parse_policy("""
        [[rules]]
        effect = "allow"
        users = ["alice"]
        permissions = ["domain.*", "org.libvirt.api.connect.search_domains"]
        [[rules]]
        effect = "deny"
        users = ["1001"]
        permissions = ["domain.start"]
        objects = ["db-*"]
    """)
    db, web = ObjectRef("domain", "db-1"), ObjectRef("domain", "web-1")
    assert policy.decide(_ident(), _groups, "domain.start", web)[0]
    assert not policy.decide(_ident(), _groups, "domain.start", db)[0]
    assert policy.decide(_ident(), _groups, "connect.search-domains", None)[0]
    # unknown object: a scoped deny applies (the safe side)
    assert not policy.decide(_ident(), _groups, "domain.start", None)[0]
    # nobody else
    assert not policy.decide(_ident("bob", "1002"), _groups, "domain.read", web)[0]


def test_policy_scoped_allow_needs_a_known_object() -> None:
    policy = parse_policy("""
        default = "deny"
        [[rules]]
        effect = "allow"
        sasl_users = ["carol"]
        x509_dns = ["CN=ops-*,O=Example"]
        permissions = ["domain.getattr"]
        objects = ["web-*", "7b1f*"]
    """)
    sasl = {"sasl-user-name": "carol"}
    x509 = {"x509-distinguished-name": "CN=ops-7,O=Example"}
    assert policy.decide(sasl, frozenset, "domain.getattr", ObjectRef("domain", "web-2"))[0]
    assert policy.decide(x509, frozenset, "domain.getattr",
                         ObjectRef("domain", None, "7b1f0000-0000-0000-0000-000000000000"))[0]
    assert not policy.decide(sasl, frozenset, "domain.getattr", None)[0]
    assert not policy.decide({"x509-distinguished-name": "CN=dev,O=Example"}, frozenset,
                             "domain.getattr", ObjectRef("domain", "web-2"))[0]


@pytest.mark.parametrize(("text", "error"), [
    ("[[rules]]\neffect = 'allow'\nusers = ['a']\npermissions = ['domain.fly']",
     "unknown permission 'domain.fly'"),
    ("[[rules]]\neffect = 'maybe'\nusers = ['a']\npermissions = ['domain.read']",
     "'effect' must be"),
    ("[[rules]]\neffect = 'allow'\npermissions = ['domain.read']", "no identity"),
    ("[[rules]]\neffect = 'allow'\nuser = ['a']\npermissions = ['domain.read']",
     "unknown key(s) user"),
    ("default = 'perhaps'", "'default' must be"),
    ("rules = [", "policy: "),
])
def test_policy_errors(text: str, error: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    assert error in str(info.value)


def test_flag_conditional_rules_follow_gendispatch() -> None:
    proc = REMOTE["domain_set_memory_flags"]
    live, config = 1, 2
    conds = {r.flag: r for r in proc.acl if r.flag}
    neg, pos = conds["!VIR_DOMAIN_AFFECT_CONFIG|VIR_DOMAIN_AFFECT_LIVE"], conds[
        "VIR_DOMAIN_AFFECT_CONFIG"]
    assert rule_applies(neg, {"flags": 0}) and not rule_applies(neg, {"flags": live})
    assert rule_applies(pos, {"flags": config | live}) and not rule_applies(pos, {"flags": live})
    (agent,) = [r for r in REMOTE["domain_interface_addresses"].acl if r.param]
    assert rule_applies(agent, {"source": 1, "flags": 0})
    assert not rule_applies(agent, {"source": 0, "flags": 0})


# ---------------------------------------------------------------- virtkitd + a second user

_CLIENT = r"""
import json, sys
import libvirt
libvirt.registerErrorHandler(lambda *a: None, None)

def err(fn):
    try:
        fn()
    except libvirt.libvirtError as e:
        return [e.get_error_code(), e.get_error_domain(), e.get_error_message()]
    return None

c = libvirt.open(sys.argv[1])
out = {
    "all": sorted(d.name() for d in c.listAllDomains()),
    "defined": sorted(c.listDefinedDomains()),
    "num_defined": c.numOfDefinedDomains(),
    "active": sorted(c.lookupByID(i).name() for i in c.listDomainsID()),
    "num_active": c.numOfDomains(),
    "xml": "<name>web-1</name>" in c.lookupByName("web-1").XMLDesc(),
    "start": err(lambda: c.lookupByName("web-1").create()),
    "lookup_db": err(lambda: c.lookupByName("db-1")),
    "lookup_missing": err(lambda: c.lookupByName("nope")),
    "define": err(lambda: c.defineXML(sys.argv[2])),
}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def acl_user() -> Iterator[tuple[str, int, int]]:
    name = f"vkacl{os.getpid() % 100000}"
    subprocess.run(["userdel", name], capture_output=True, check=False)
    subprocess.run(["useradd", "--user-group", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", name], check=True, capture_output=True)
    try:
        out = subprocess.run(["id", "-u", name], check=True, capture_output=True, text=True)
        gid = subprocess.run(["id", "-g", name], check=True, capture_output=True, text=True)
        yield name, int(out.stdout), int(gid.stdout)
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)


POLICY = """
default = "deny"

[[rules]]
effect = "allow"
users = ["root"]
permissions = ["*"]

[[rules]]
effect = "allow"
users = ["{user}"]
permissions = ["connect.getattr", "connect.read", "connect.search-domains"]

[[rules]]
effect = "allow"
groups = ["{user}"]
permissions = ["domain.getattr", "domain.read"]
objects = ["web-*"]
"""


@pytest.fixture(scope="module")
def acl_daemon(acl_user: tuple[str, int, int]) -> Iterator[Daemon]:
    root = Path(tempfile.mkdtemp(prefix="vk-acl-"))
    root.chmod(0o755)  # the second user reaches the sockets through it
    (root / "etc" / "libvirt").mkdir(parents=True)
    (root / "etc" / "libvirt" / "policy.toml").write_text(POLICY.format(user=acl_user[0]))
    daemon = start_virtkitd(root, extra_conf=(
        'access_drivers = ["virtkit"]\n'
        'access_policy_file = "/etc/libvirt/policy.toml"\n'
        'unix_sock_rw_perms = "0777"\n'))
    try:
        # root is allowed everything; its connection keeps test:///default's state alive
        with virtkit.open(daemon.uri("unix")) as conn:
            for name in ("web-1", "web-2", "db-1"):
                conn.define_domain(DOM.format(name=name))
            conn.lookup_domain("web-2").start()
            yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


def _as_user(user: tuple[str, int, int], uri: str) -> dict[str, Any]:
    home = tempfile.mkdtemp(prefix="vk-acl-home-")
    os.chown(home, user[1], user[2])
    try:
        res = subprocess.run(
            [PYTHON3, "-c", _CLIENT, uri, DOM.format(name="web-3")], user=user[1],
            group=user[2], extra_groups=[], capture_output=True, text=True, timeout=60,
            env={"HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, check=False)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert res.returncode == 0, res.stderr
    return dict(json.loads(res.stdout))


def _audit(daemon: Daemon) -> list[dict[str, Any]]:
    path = daemon.root / "var" / "log" / "libvirt" / "virtkitd-audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()]


DENIED = [88, 55, "access denied: 'Test' denied access"]


def test_read_only_user_cannot_start_and_sees_only_permitted(
        acl_daemon: Daemon, acl_user: tuple[str, int, int]) -> None:
    out = _as_user(acl_user, acl_daemon.uri("unix"))
    assert out["all"] == ["web-1", "web-2"]  # not db-1, not the driver's "test"
    assert (out["defined"], out["num_defined"]) == (["web-1"], 1)
    assert (out["active"], out["num_active"]) == (["web-2"], 1)
    assert out["xml"] is True
    assert out["start"] == DENIED
    assert out["lookup_db"] == DENIED
    assert out["lookup_missing"][0] == 42  # VIR_ERR_NO_DOMAIN: found first, then checked
    assert out["define"] == DENIED
    with virtkit.open(acl_daemon.uri("unix")) as conn:  # nothing changed
        assert not conn.lookup_domain("web-1").is_active()
        assert "web-3" not in [d.name for d in conn.list_domains()]
    log = acl_daemon.log_text()
    assert "access denied: client=" in log and f"user-name={acl_user[0]}" in log


def test_read_only_socket_keeps_its_check(acl_daemon: Daemon,
                                          acl_user: tuple[str, int, int]) -> None:
    out = _as_user(acl_user, acl_daemon.uri("unix-ro"))
    assert out["all"] == ["web-1", "web-2"]
    assert out["start"][0] == 29  # VIR_ERR_OPERATION_DENIED: read only access prevents ...
    assert "read only access prevents" in out["start"][2]


def test_audit_log_lines(acl_daemon: Daemon, acl_user: tuple[str, int, int]) -> None:
    _as_user(acl_user, acl_daemon.uri("unix"))
    lines = _audit(acl_daemon)
    defines = [e for e in lines if e["procedure"].startswith("domain_define_xml")
               and e["result"] == "ok"]
    assert {e["object"]["name"] for e in defines} >= {"web-1", "web-2", "db-1"}
    assert all(e["identity"]["unix-user-id"] == "0" for e in defines)
    started = [e for e in lines if e["procedure"] == "domain_create_with_flags"
               or e["procedure"] == "domain_create"]
    ok = [e for e in started if e["result"] == "ok"]
    assert ok and ok[0]["object"]["name"] == "web-2" and ok[0]["object"]["uuid"]
    denied = [e for e in started if e["result"] == "denied"]
    assert denied and denied[-1]["identity"]["user-name"] == acl_user[0]
    assert denied[-1]["object"]["name"] == "web-1"
    assert denied[-1]["error"] == {"code": 88, "name": "ACCESS_DENIED",
                                   "message": "access denied: 'Test' denied access"}
    assert denied[-1]["api"].startswith("virDomainCreate")
    assert any(e["procedure"] == "domain_lookup_by_name" and e["result"] == "denied"
               for e in lines)  # denials of read-only calls are audited too
    # successful read-only calls are not
    assert not any(e["procedure"] == "connect_list_all_domains" for e in lines)
    for e in lines:
        assert set(e) >= {"time", "client", "identity", "procedure", "api", "object", "result"}


def test_bad_policy_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "etc" / "libvirt").mkdir(parents=True)
    (tmp_path / "etc" / "libvirt" / "virtkit-access.toml").write_text(
        "[[rules]]\neffect = 'allow'\neveryone = true\npermissions = ['domain.teleport']\n")
    with pytest.raises(RuntimeError, match=r"unknown permission 'domain\.teleport'"):
        start_virtkitd(tmp_path, extra_conf='access_drivers = ["virtkit"]\n', timeout=15)
    with pytest.raises(RuntimeError, match="access driver 'polkit' is not available"):
        start_virtkitd(tmp_path, extra_conf='access_drivers = ["polkit"]\n', timeout=15)


def test_events_follow_the_registration_aclfilter() -> None:
    from virtkit.daemon.access import AccessControl
    from virtkit.daemon.guard import CallGuard
    from virtkit.types import DomainIdent

    class FakeSession:
        identity = _ident()

    policy = parse_policy("""
        [[rules]]
        effect = "allow"
        users = ["alice"]
        permissions = ["domain.getattr"]
        objects = ["web-*"]
    """)
    guard = CallGuard(AccessControl(policy), None)
    sess: Any = FakeSession()
    assert guard.event_visible(sess, "domain", DomainIdent("web-1", "u1", 1))
    assert not guard.event_visible(sess, "domain", DomainIdent("db-1", "u2", 2))
    assert CallGuard(None, None).event_visible(sess, "domain", DomainIdent("db-1", "u2", 2))
