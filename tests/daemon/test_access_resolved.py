"""Access control on the objects the driver resolves (issue 13, items 1 and 2).

A real virtkitd with the ``virtkit`` access driver: root (this test process) may
use only ``web-*`` objects; a second unix user, the administrator, may do
everything and sets the node up with Debian's libvirt-python.  Root attacks with
virtkit's own remote driver, which sends whatever handle it is given, and with
Debian's virsh: forged handles (a visible name with a hidden object's UUID, a
volume key that looks like a visible name), XML whose ``name=`` attribute or
first of two ``<name>`` elements differ from what the parser reads, and a
define that reuses a hidden object's UUID under a visible name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import virtkit
from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.testing.peers import Daemon, libvirtd_available, start_libvirtd, start_virtkitd
from virtkit.types import DomainIdent, NetworkIdent, StoragePoolIdent, StorageVolIdent

pytestmark = pytest.mark.timeout(300)

PYTHON3 = "/usr/bin/python3"
DOM = ("<domain type='test'><name>{name}</name><memory>1024</memory>"
       "<os><type>hvm</type></os><devices>"
       "<graphics type='vnc' port='-1' passwd='pw-{name}'/></devices></domain>")
NET = "<network><name>{name}</name><bridge name='vk{short}'/></network>"
POOL = ("<pool type='dir'><name>{name}</name><target><path>/vk-nowhere/{name}</path>"
        "</target></pool>")
VOL = "<volume><name>{name}</name><capacity>1024</capacity></volume>"

POLICY = """
default = "deny"

[[rules]]
effect = "allow"
users = ["{admin}"]
permissions = ["*"]

[[rules]]
effect = "allow"
users = ["root"]
permissions = ["connect.*"]

[[rules]]
effect = "allow"
users = ["root"]
permissions = ["domain.*", "network.*", "storage-pool.*", "storage-vol.*"]
objects = ["web-*"]
"""

# The administrator's side: Debian's libvirt-python as the second user.
_ADMIN = r"""
import json, sys
import libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
c = libvirt.open(sys.argv[1])
cmd = json.loads(sys.argv[2])
out = {}
if cmd["op"] == "setup":
    for name in cmd["domains"]:
        c.defineXML(cmd["dom"].format(name=name))
    for i, name in enumerate(cmd["networks"]):
        c.networkDefineXML(cmd["net"].format(name=name, short=i))
    for name in cmd["pools"]:
        p = c.storagePoolDefineXML(cmd["pool"].format(name=name))
        p.create()
        p.createXML(cmd["vol"].format(name="secret.img" if name.startswith("priv")
                                      else "disk.img"))
out["domains"] = {d.name(): [d.UUIDString(), d.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE),
                             d.autostart()] for d in c.listAllDomains()}
out["networks"] = {n.name(): [n.UUIDString(), n.XMLDesc()] for n in c.listAllNetworks()}
out["pools"] = {p.name(): [p.UUIDString(), p.XMLDesc(), sorted(p.listVolumes())]
                for p in c.listAllStoragePools()}
print(json.dumps(out))
"""

WEB_DOMS, HIDDEN_DOMS = ("web-1", "web-2"), ("db-1", "db-2")


@pytest.fixture(scope="module")
def admin() -> Iterator[tuple[str, int, int]]:
    name = f"vkadm{os.getpid() % 100000}"
    subprocess.run(["userdel", name], capture_output=True, check=False)
    subprocess.run(["useradd", "--user-group", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", name], check=True, capture_output=True)
    try:
        uid = subprocess.run(["id", "-u", name], check=True, capture_output=True, text=True)
        gid = subprocess.run(["id", "-g", name], check=True, capture_output=True, text=True)
        yield name, int(uid.stdout), int(gid.stdout)
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)


class Node:
    """The daemon, root's restricted connection and the administrator's view."""

    def __init__(self, daemon: Daemon, conn: virtkit.Connection,
                 admin: tuple[str, int, int]) -> None:
        self.daemon = daemon
        self.conn = conn
        self.admin = admin

    def admin_view(self, op: str = "view", **extra: Any) -> dict[str, Any]:
        """What the administrator sees (after running ``op``)."""
        home = tempfile.mkdtemp(prefix="vk-adm-home-")
        os.chown(home, self.admin[1], self.admin[2])
        try:
            res = subprocess.run(
                [PYTHON3, "-c", _ADMIN, self.daemon.uri("unix"), json.dumps(dict(op=op, **extra))],
                user=self.admin[1], group=self.admin[2], extra_groups=[], capture_output=True,
                text=True, timeout=60, check=False,
                env={"HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        finally:
            shutil.rmtree(home, ignore_errors=True)
        assert res.returncode == 0, res.stderr
        return dict(json.loads(res.stdout))

    def uuid(self, kind: str, name: str) -> str:
        return str(self.admin_view()[kind][name][0])

    def audit(self) -> list[dict[str, Any]]:
        path = self.daemon.root / "var" / "log" / "libvirt" / "virtkitd-audit.log"
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def node(admin: tuple[str, int, int]) -> Iterator[Node]:
    root = Path(tempfile.mkdtemp(prefix="vk-acl-res-"))
    root.chmod(0o755)  # the administrator reaches the sockets through it
    (root / "etc" / "libvirt").mkdir(parents=True)
    (root / "etc" / "libvirt" / "policy.toml").write_text(POLICY.replace("{admin}", admin[0]))
    daemon = start_virtkitd(root, extra_conf=(
        'access_drivers = ["virtkit"]\n'
        'access_policy_file = "/etc/libvirt/policy.toml"\n'
        'unix_sock_rw_perms = "0777"\n'))
    try:
        # root's connection keeps test:///default's state alive between the admin's calls
        with virtkit.open(daemon.uri("unix")) as conn:
            n = Node(daemon, conn, admin)
            n.admin_view("setup", domains=[*WEB_DOMS, *HIDDEN_DOMS],
                         networks=["web-net", "priv-net"], pools=["web-pool", "priv-pool"],
                         dom=DOM, net=NET, pool=POOL, vol=VOL)
            yield n
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


def _error(fn: Callable[[], Any]) -> VirtError:
    with pytest.raises(VirtError) as info:
        fn()
    return info.value


def _denied(e: VirtError) -> None:
    assert (e.code, e.domain, str(e)) == (
        ErrorCode.ACCESS_DENIED, ErrorDomain.ACCESS, "access denied: 'Test' denied access")


# ---------------------------------------------------------------- forged handles


def test_forged_domain_handle_is_not_found(node: Node) -> None:
    hv = node.conn.tables.hypervisor
    db_uuid = node.uuid("domains", "db-1")
    forged = DomainIdent("web-1", db_uuid, -1)
    for call in (lambda: hv.domain_get_xml_desc(forged, 0), lambda: hv.domain_undefine(forged),
                 lambda: hv.domain_set_autostart(forged, True)):
        e = _error(call)
        assert (e.code, e.domain) == (ErrorCode.NO_DOMAIN, ErrorDomain.TEST)
        assert str(e) == f"Domain not found: no domain with matching uuid '{db_uuid}' (web-1)"
    # the honest handle of the hidden domain is denied; db-1 is untouched
    _denied(_error(lambda: hv.domain_get_xml_desc(DomainIdent("db-1", db_uuid, -1), 0)))
    view = node.admin_view()["domains"]
    assert "db-1" in view and not view["db-1"][2]
    # the visible domain still works through an honest handle
    web = hv.domain_lookup_by_name("web-1")
    assert "<name>web-1</name>" in hv.domain_get_xml_desc(web, 0)


def _missing_handle_error(daemon: Daemon, handle: DomainIdent) -> tuple[int, int, str]:
    with virtkit.open(daemon.uri("unix")) as conn:
        e = _error(lambda: conn.tables.hypervisor.domain_get_xml_desc(handle, 0))
    return e.code, e.domain, str(e)


def test_not_found_answer_is_libvirtds(node: Node, tmp_path: Path) -> None:
    """The answer to a forged handle is word for word libvirtd's answer to a handle
    whose UUID names no domain."""
    if not libvirtd_available():
        pytest.fail("Debian's libvirtd is missing: make test installs it (scripts/sysdeps.py)")
    missing = DomainIdent("web-1", str(uuidlib.uuid4()), -1)
    with start_libvirtd(tmp_path / "libvirtd") as libvirtd:
        expected = _missing_handle_error(libvirtd, missing)
    assert _missing_handle_error(node.daemon, missing) == expected
    forged = DomainIdent("web-1", node.uuid("domains", "db-2"), -1)
    got = _missing_handle_error(node.daemon, forged)
    assert got == (expected[0], expected[1], expected[2].replace(missing.uuid, forged.uuid))


def test_forged_network_pool_and_volume_handles(node: Node) -> None:
    tables = node.conn.tables
    priv_net, priv_pool = node.uuid("networks", "priv-net"), node.uuid("pools", "priv-pool")
    e = _error(lambda: tables.network.network_get_xml_desc(NetworkIdent("web-net", priv_net), 0))
    assert e.code == ErrorCode.NO_NETWORK
    assert str(e).endswith(f"no network with matching uuid '{priv_net}' (web-net)")
    e = _error(lambda: tables.network.network_undefine(NetworkIdent("web-net", priv_net)))
    assert e.code == ErrorCode.NO_NETWORK
    e = _error(lambda: tables.storage.storage_pool_get_xml_desc(
        StoragePoolIdent("web-pool", priv_pool), 0))
    assert e.code == ErrorCode.NO_STORAGE_POOL
    assert str(e).endswith(f"no storage pool with matching uuid '{priv_pool}' (web-pool)")
    # a volume key that looks like a visible object's name does not make the volume visible
    forged_vol = StorageVolIdent("priv-pool", "secret.img", "web-1")
    _denied(_error(lambda: tables.storage.storage_vol_get_xml_desc(forged_vol, 0)))
    _denied(_error(lambda: tables.storage.storage_vol_delete(forged_vol, 0)))
    # a volume created through a forged pool handle lands nowhere
    e = _error(lambda: tables.storage.storage_vol_create_xml(
        StoragePoolIdent("web-pool", priv_pool), VOL.format(name="web-x.img"), 0))
    assert e.code == ErrorCode.NO_STORAGE_POOL
    view = node.admin_view()
    assert "priv-net" in view["networks"]
    assert view["pools"]["priv-pool"][2] == ["secret.img"]


def test_audit_names_the_real_object(node: Node) -> None:
    hv = node.conn.tables.hypervisor
    web = hv.domain_lookup_by_name("web-2")
    hv.domain_set_autostart(web, False)
    db_uuid = node.uuid("domains", "db-2")
    _error(lambda: hv.domain_set_autostart(DomainIdent("web-2", db_uuid, -1), True))
    lines = [e for e in node.audit() if e["procedure"] == "domain_set_autostart"]
    ok = [e for e in lines if e["result"] == "ok"]
    assert ok[-1]["object"] == {"type": "domain", "name": "web-2", "uuid": web.uuid}
    failed = lines[-1]
    assert failed["result"] != "ok" and failed["error"]["code"] == ErrorCode.NO_DOMAIN


# ---------------------------------------------------------------- XML read once


def _virsh_define(node: Node, tmp_path: Path, xml: str, what: str = "define"
                  ) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "obj.xml"
    path.write_text(xml)
    return subprocess.run(["virsh", "-c", node.daemon.uri("unix"), what, str(path)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_name_attribute_and_two_names(node: Node, tmp_path: Path) -> None:
    before = node.admin_view()["domains"]["db-1"]
    attr = DOM.format(name="db-1").replace("<domain type='test'>",
                                           "<domain type='test' name='web-x'>")
    res = _virsh_define(node, tmp_path, attr.replace("<memory>1024", "<memory>2048"))
    assert res.returncode != 0 and "access denied" in res.stderr
    two = DOM.format(name="db-2").replace("<name>db-2</name>",
                                          "<name>db-3</name><name>web-3</name>")
    res = _virsh_define(node, tmp_path, two)
    assert res.returncode != 0 and "access denied" in res.stderr
    # libvirt reads the first <name>: web-first is web-4, for the guard and for the driver
    two_ok = DOM.format(name="x").replace("<name>x</name>", "<name>web-4</name><name>db-4</name>")
    res = _virsh_define(node, tmp_path, two_ok)
    assert res.returncode == 0, res.stderr
    assert "Domain 'web-4' defined" in res.stdout
    net = NET.format(name="priv-net2", short=9).replace("<network>", "<network name='web-n'>")
    res = _virsh_define(node, tmp_path, net, "net-define")
    assert res.returncode != 0 and "access denied" in res.stderr
    view = node.admin_view()
    assert view["domains"]["db-1"] == before
    assert not {"db-3", "web-3", "db-4", "web-x"} & set(view["domains"])
    assert "web-4" in view["domains"] and "priv-net2" not in view["networks"]
    defined = [e for e in node.audit() if e["procedure"].startswith("domain_define_xml")
               and e["result"] == "ok" and e["identity"].get("unix-user-id") == "0"]
    assert defined[-1]["object"] == {"type": "domain", "name": "web-4",
                                     "uuid": view["domains"]["web-4"][0]}


def test_define_reusing_a_hidden_uuid_is_denied(node: Node, tmp_path: Path) -> None:
    db_uuid = node.uuid("domains", "db-1")
    rename = DOM.format(name="web-9").replace("</name>", f"</name><uuid>{db_uuid}</uuid>", 1)
    res = _virsh_define(node, tmp_path, rename)
    assert res.returncode != 0 and "access denied" in res.stderr
    res = _virsh_define(node, tmp_path, rename, "create")
    assert res.returncode != 0 and "access denied" in res.stderr
    priv = node.uuid("networks", "priv-net")
    net = NET.format(name="web-n9", short=8).replace("</name>", f"</name><uuid>{priv}</uuid>")
    res = _virsh_define(node, tmp_path, net, "net-define")
    assert res.returncode != 0 and "access denied" in res.stderr
    view = node.admin_view()
    assert view["domains"]["db-1"][0] == db_uuid and "web-9" not in view["domains"]
    assert "web-n9" not in view["networks"]


# ---------------------------------------------------------------- property


def test_random_handles_never_reach_hidden_objects(node: Node) -> None:
    hv = node.conn.tables.hypervisor
    web, hidden = ("web-p1", "web-p2"), ("db-p1", "db-p2")  # this test's own domains
    view = node.admin_view("setup", domains=[*web, *hidden], networks=[], pools=[], dom=DOM,
                           net=NET, pool=POOL, vol=VOL)["domains"]
    uuids = {name: view[name][0] for name in (*web, *hidden)}
    hidden_before = {name: view[name] for name in hidden}
    visible = {(name, uuids[name]) for name in web}
    names = st.sampled_from([*uuids, "nope", "web-zz"])
    ids = st.sampled_from([*uuids.values(), str(uuidlib.uuid4())])
    ops: dict[str, Callable[[DomainIdent], Any]] = {
        "xml": lambda d: hv.domain_get_xml_desc(d, 1),
        "info": hv.domain_get_info,
        "autostart": lambda d: hv.domain_set_autostart(d, True),
        "metadata": lambda d: hv.domain_set_metadata(d, 0, "pwned", None, None, 2),
        "undefine": hv.domain_undefine,
    }

    @settings(max_examples=80, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(name=names, uuid=ids, op=st.sampled_from(sorted(ops)))
    def attack(name: str, uuid: str, op: str) -> None:
        handle = DomainIdent(name, uuid, -1)
        try:
            result = ops[op](handle)
        except VirtError as e:
            assert e.code in (ErrorCode.NO_DOMAIN, ErrorCode.ACCESS_DENIED), e
            return
        assert (name, uuid) in visible  # only an honest handle of a visible domain works
        if op == "xml":
            assert f"<uuid>{uuid}</uuid>" in result and "pw-db" not in result

    attack()
    after = node.admin_view()["domains"]
    assert {name: after.get(name) for name in hidden} == hidden_before
