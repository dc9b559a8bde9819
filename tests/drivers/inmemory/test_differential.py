# ruff: noqa: E501  (tables of scripted calls read better on one line each)
"""The same scripted calls through real libvirt (test:///default) and virtkit's test driver.

Results, states and reasons, error codes and messages and the event sequence of
every step must agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from vk_runner import run_script

from virtkit.testing.peers import start_libvirtd, start_virtkitd

RUNNER = Path(__file__).parent / "libvirt_runner.py"
SYSTEM_PYTHON = "/usr/bin/python3"

DOM = ("<domain type='test'><name>{name}</name>{uuid}<memory>1048576</memory>"
       "<currentMemory>524288</currentMemory><vcpu>2</vcpu><os><type>hvm</type></os>"
       "<devices><disk type='file' device='disk'><source file='/img/{name}'/>"
       "<target dev='vdb'/></disk><interface type='network'><mac address='52:54:00:00:00:{mac}'/>"
       "<source network='default'/></interface></devices></domain>")
U1 = "<uuid>11111111-2222-3333-4444-555555555555</uuid>"
U2 = "<uuid>11111111-2222-3333-4444-666666666666</uuid>"
NET = "<network><name>{name}</name><uuid>{uuid}</uuid>{bridge}</network>"
POOL = "<pool type='dir'><name>{name}</name><uuid>{uuid}</uuid><target><path>/{name}</path></target></pool>"
VOL = "<volume><name>{name}</name><capacity>{cap}</capacity><allocation>{alloc}</allocation></volume>"


def _script(tmp: str) -> list[list[Any]]:
    a = DOM.format(name="a", uuid=U1, mac="01")
    b = DOM.format(name="b", uuid=U2, mac="02")
    s = [
        ["nodeinfo"], ["caps"], ["cellsfree", 0, 5], ["cellsfree", 2, 1], ["cpumap"], ["sysinfo"],
        ["nodedevxml", "scsi_host1"], ["nodedevxml", "computer"], ["ifacexml", "eth1"],
        ["lookup", "test"], ["lookup_id", 1], ["lookup_id", 7], ["lookup", "nope"],
        ["lookup_uuid", "6695eb01-f6a4-8304-79aa-97f2502e193f"],
        ["xml", "test"], ["xml", "test", 2], ["info", "test"], ["state", "test"],
        ["define", a], ["define", a], ["define", DOM.format(name="test", uuid=U1, mac="03")],
        ["define", DOM.format(name="zz", uuid=U1, mac="03")],
        ["xml", "a"], ["state", "a"], ["info", "a"], ["active", "a"],
        ["create", "a"], ["create", "a"], ["lookup", "a"], ["xml", "a"], ["state", "a"],
        ["suspend", "a"], ["suspend", "a"], ["state", "a"], ["resume", "a"], ["resume", "a"],
        ["state", "a"], ["reboot", "a"], ["state", "a"], ["reset", "a"],
        ["seclabel", "a"], ["memstats", "a"], ["blockinfo", "a", "vdb"], ["blockinfo", "a", "vdz"],
        ["blockstats", "a", "vdb"], ["blockstats", "a", "nope"], ["ifstats", "a", "testnet0"],
        ["ifstats", "a", "52:54:00:00:00:01"], ["ifstats", "a", "nope"], ["ifaddr", "a"],
        ["hostname", "a"], ["numdoms"], ["listdefined"],
        ["setmem", "a", 99999999, 0], ["setmem", "a", 1024, 0], ["info", "a"],
        ["setmem", "a", 2097152, 4], ["setmem", "a", 2097152, 6], ["setmem", "a", 262144, 2],
        ["setmem", "a", 1, 3], ["xml", "a", 2], ["maxmem", "a"],
        ["setvcpus", "a", 40, 0], ["setvcpus", "a", 3, 0], ["setvcpus", "a", 1, 0],
        ["setvcpus", "a", 4, 6], ["vcpus", "a", 0], ["vcpus", "a", 2], ["vcpus", "a", 6],
        ["setvcpus", "a", 1, 1024],
        ["metaget", "a", 1, None], ["metaset", "a", 1, "A title", None, None],
        ["metaget", "a", 1, None], ["metaset", "a", 0, "desc", None, None, 2],
        ["metaget", "a", 0, None, 2], ["metaget", "a", 0, None],
        ["metaset", "a", 2, "<foo a='1'><bar/>x</foo>", "k", "http://example.org/k"],
        ["metaget", "a", 2, "http://example.org/k"], ["metaget", "a", 2, "http://other/"],
        ["xml", "a"],
        ["managedsave", "a"], ["hasms", "a"], ["state", "a"], ["list", 256], ["list", 512],
        ["undefine", "a"], ["create", "a"], ["hasms", "a"], ["state", "a"], ["lookup", "a"],
        ["managedsave", "a"], ["msremove", "a"], ["hasms", "a"],
        ["create", "a"], ["shutdown", "a"], ["state", "a"], ["shutdown", "a"], ["reboot", "a"],
        ["destroy", "a"], ["suspend", "a"], ["resume", "a"],
        ["createxml", b], ["createxml", b], ["active", "b"], ["state", "b"], ["lookup", "b"],
        ["list", 0], ["list", 1], ["list", 2], ["list", 4], ["list", 8], ["list", 16],
        ["list", 32], ["list", 64], ["list", 128], ["list", 1024], ["list", 2048],
        ["list", 4096], ["list", 8192], ["list", 16384], ["list", 32768], ["list", 1 << 20],
        ["stats"], ["stats", 1], ["stats", 2], ["stats", 8],
        ["save", "b", f"{tmp}/b.save"], ["lookup", "b"], ["saveimagexml", f"{tmp}/b.save"],
        ["restore", f"{tmp}/b.save"], ["state", "b"], ["lookup", "b"], ["restore", f"{tmp}/b.save"],
        ["restore", f"{tmp}/missing"], ["saveimagexml", f"{tmp}/garbage"],
        ["shutdown", "b"], ["lookup", "b"],
        ["setautostart", "a", 1], ["autostart", "a"], ["list", 1024],
        ["rename", "a", "test"], ["rename", "a", "x/y"], ["rename", "a", "a2"], ["lookup", "a"],
        ["lookup", "a2"], ["rename", "a2", "a"],
        ["snapcreate", "test", "<domainsnapshot><name>s1</name><description>d</description></domainsnapshot>"],
        ["snapcreate", "test", "<domainsnapshot><name>s2</name></domainsnapshot>"],
        ["snapcreate", "test", "<domainsnapshot><name>s3</name></domainsnapshot>", 16],
        ["snapparent", "test", "s2"], ["snapparent", "test", "s1"], ["snapcurrent", "test"],
        ["snaplist", "test"], ["snaplist", "test", 1], ["snaplist", "test", 4], ["snapnum", "test", 8],
        ["snapchildren", "test", "s1"], ["snapstate", "test", "s1"], ["snaplist", "test", 16],
        ["list", 4096], ["list", 8192],
        ["suspend", "test"],
        ["snapcreate", "test", "<domainsnapshot><name>p1</name></domainsnapshot>", 8],
        ["state", "test"], ["snapstate", "test", "p1"],
        ["snaprevert", "test", "s1"], ["state", "test"], ["lookup", "test"],
        ["snaprevert", "test", "p1"], ["state", "test"],
        ["snaprevert", "test", "s2", 1], ["state", "test"],
        ["destroy", "test"], ["undefine", "test"],
        ["snapcreate", "test", "<domainsnapshot><name>off</name></domainsnapshot>"],
        ["snapstate", "test", "off"], ["snaprevert", "test", "off"], ["state", "test"],
        ["snaprevert", "test", "off", 1], ["state", "test"],
        ["snaprevert", "test", "s1"], ["state", "test"],
        ["snapdelete", "test", "s1", 4], ["snaplist", "test"], ["snapdelete", "test", "nope"],
        ["snapdelete", "test", "s1"], ["snaplist", "test"], ["snaphascurrent", "test"],
        ["create", "test"], ["state", "test"],
        ["netdefine", NET.format(name="n1", uuid="dd8fe884-6c02-601e-7551-cca97df1c5d1",
                                 bridge="<bridge name='br9'/>")],
        ["netdefine", NET.format(name="n1", uuid="dd8fe884-6c02-601e-7551-cca97df1c5d2", bridge="")],
        ["netxml", "n1"], ["netactive", "n1"], ["netstart", "n1"], ["netstart", "n1"],
        ["netundefine", "n1"], ["netbridge", "n1"], ["netlist", 1], ["netlist", 2], ["netlist", 8],
        ["netdestroy", "n1"], ["netdestroy", "n1"], ["netundefine", "n1"], ["netxml", "n1"],
        ["netcreatexml", NET.format(name="n2", uuid="dd8fe884-6c02-601e-7551-cca97df1c5d3", bridge="")],
        ["netactive", "n2"], ["netbridge", "n2"], ["netlist", 0], ["netdestroy", "n2"], ["netlist", 0],
        ["pooldefine", POOL.format(name="p1", uuid="dfe224cb-28fb-8dd0-c4b2-64eb3f0f4561")],
        ["pooldefine", POOL.format(name="p1", uuid="dfe224cb-28fb-8dd0-c4b2-64eb3f0f4562")],
        ["poolinfo", "p1"], ["poolxml", "p1"], ["poolautostart", "p1"], ["poolbuild", "p1"],
        ["poolrefresh", "p1"], ["vollist", "p1"], ["poolstart", "p1"], ["poolstart", "p1"],
        ["poolbuild", "p1"], ["pooldelete", "p1"], ["poolrefresh", "p1"],
        ["volcreate", "p1", VOL.format(name="v1", cap=1000000, alloc=5000)],
        ["volcreate", "p1", VOL.format(name="v1", cap=1000000, alloc=5000)],
        ["volcreate", "p1", VOL.format(name="big", cap=1, alloc=10**15)],
        ["volclone", "p1", VOL.format(name="v2", cap=2000, alloc=2000), "v1"],
        ["volclone", "p1", VOL.format(name="v3", cap=2000, alloc=2000), "nope"],
        ["volinfo", "p1", "v1"], ["volpath", "p1", "v2"], ["volxml", "p1", "v1"],
        ["vollist", "p1"], ["poolinfo", "p1"], ["volbykey", "/p1/v1"], ["volbypath", "/p1/v2"],
        ["volbykey", "/p1/zz"], ["volbypath", "/p1/zz"], ["voldelete", "p1", "v1"],
        ["voldelete", "p1", "v1"], ["poolinfo", "p1"], ["poollist", 2], ["poollist", 64],
        ["poollist", 128], ["pooldestroy", "p1"], ["pooldestroy", "p1"], ["pooldelete", "p1"],
        ["poolsetautostart", "p1", 1], ["poolautostart", "p1"], ["poolundefine", "p1"],
        ["poolinfo", "p1"],
        ["poolcreatexml", POOL.format(name="p2", uuid="dfe224cb-28fb-8dd0-c4b2-64eb3f0f4563")],
        ["poolsetautostart", "p2", 1], ["poollist", 8], ["pooldestroy", "p2"], ["poollist", 0],
    ]
    return s


def _libvirt_results(script: list[list[Any]], uri: str = "test:///default"
                     ) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [SYSTEM_PYTHON, str(RUNNER), uri], input=json.dumps(script), capture_output=True, text=True,
        timeout=300, check=True,
    )
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[Any], list[Any]]:
    assert os.path.exists(SYSTEM_PYTHON), "Debian's python3 with python3-libvirt is required"
    tmp = tmp_path_factory.mktemp("diff")
    (tmp / "garbage").write_bytes(b"not a save image at all")
    script = _script(str(tmp))
    theirs = _libvirt_results(script)
    for f in ("b.save",):
        (tmp / f).unlink(missing_ok=True)
    ours = run_script(script)
    return script, theirs, ours


def _compare(script: list[Any], theirs: list[Any], ours: list[Any], who: str) -> None:
    assert len(theirs) == len(ours)
    mismatches = []
    for step, t, o in zip(script, theirs, ours, strict=True):
        if _clean(t) != _clean(o):
            mismatches.append(f"{step!r:.160}\n  libvirt: {t!r:.600}\n  {who}: {o!r:.600}")
    assert not mismatches, f"{len(mismatches)} steps differ:\n" + "\n".join(mismatches)


def _clean(res: dict[str, Any]) -> dict[str, Any]:
    # libvirt's libxml2 parser messages and /dev/null-ish errno texts are not compared here.
    return res


def test_differential(both: tuple[list[Any], list[Any], list[Any]]) -> None:
    script, theirs, ours = both
    _compare(script, theirs, ours, "virtkit")


# ---------------------------------------------------------------- over RPC
# The same script through the wire: virtkit's client to virtkitd, libvirt-python
# to virtkitd, and virtkit's client to Debian's libvirtd (its test driver is the
# reference itself, so only the transport is under test). Each run gets a fresh
# daemon, hence a fresh test:///default node.

@pytest.mark.interop
@pytest.mark.parametrize("path", ["virtkit->virtkitd", "libvirt-python->virtkitd",
                                  "virtkit->libvirtd"])
def test_differential_over_rpc(path: str, both: tuple[list[Any], list[Any], list[Any]],
                               tmp_path: Path) -> None:
    script, theirs, _ = both
    client, server = path.split("->")
    start = start_virtkitd if server == "virtkitd" else start_libvirtd
    for f in ("b.save",):
        Path(script_tmp(script), f).unlink(missing_ok=True)
    with start(tmp_path / server) as daemon:
        uri = daemon.uri("unix")
        run = run_script if client == "virtkit" else _libvirt_results
        ours = run(script, uri)
        assert daemon.proc.poll() is None, daemon.log_text()
    _compare(script, theirs, ours, path)


def script_tmp(script: list[Any]) -> str:
    """The scratch directory the script's save/restore steps use."""
    for step in script:
        if step[0] == "save":
            return str(Path(step[2]).parent)
    raise AssertionError("script has no save step")
