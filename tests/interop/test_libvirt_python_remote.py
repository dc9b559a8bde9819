"""Debian's stock libvirt-python (/usr/bin/python3) against virtkitd.

Each check is one snippet of libvirt-python code run twice: against
``test:///default`` in-process (libvirt's own test driver, the reference) and
against virtkitd over its unix socket (or TCP).  The snippet fills a dict
``out`` that is printed as JSON; both runs must print the same.  Events are
compared against Debian's libvirtd instead, since they need a daemon.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from virtkit.testing.peers import Daemon, start_libvirtd, start_virtkitd

pytestmark = pytest.mark.interop

SYSTEM_PYTHON = "/usr/bin/python3"
LOCAL = "test:///default"
CLIENT = Path(__file__).with_name("libvirt_events_client.py")

PRELUDE = textwrap.dedent("""
    import json, sys
    import libvirt
    libvirt.registerErrorHandler(lambda *a: None, None)
    conn = libvirt.open(sys.argv[1])
    out = {}

    def err(fn, *args):
        try:
            fn(*args)
        except libvirt.libvirtError as e:
            return [e.get_error_code(), e.get_error_domain(), e.get_error_message()]
        return None
""")

DOM = """<domain type='test'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <title>a title</title>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='i686'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <devices>
    <disk type='file' device='disk'>
      <source file='/img/{name}.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:{mac}'/>
      <source network='default'/>
    </interface>
  </devices>
</domain>
"""
P1 = DOM.format(name="p1", uuid="aaaaaaaa-0000-0000-0000-000000000001", mac="01")
T1 = DOM.format(name="t1", uuid="aaaaaaaa-0000-0000-0000-000000000002", mac="02")


@pytest.fixture(scope="module")
def virtkitd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_virtkitd(tmp_path_factory.mktemp("virtkitd")) as daemon:
        yield daemon
        assert daemon.proc.poll() is None, daemon.log_text()


def _py(code: str, uri: str, **values: Any) -> dict[str, Any]:
    """Run ``code`` after PRELUDE with ``values`` bound as globals; its ``out``."""
    binds = "".join(f"{k} = json.loads({json.dumps(json.dumps(v))})\n" for k, v in values.items())
    script = PRELUDE + binds + textwrap.dedent(code) + "\nprint(json.dumps(out))\n"
    proc = subprocess.run([SYSTEM_PYTHON, "-c", script, uri], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, f"{uri}: {proc.stderr}"
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _both(code: str, daemon: Daemon, transport: str = "unix",
          **values: Any) -> dict[str, Any]:
    want = _py(code, LOCAL, **values)
    got = _py(code, daemon.uri(transport), **values)
    assert got == want
    return got


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_lookups(virtkitd: Daemon, transport: str) -> None:
    out = _both("""
        d = conn.lookupByName("test")
        out["name"] = [d.name(), d.ID(), d.UUIDString(), d.isActive(), d.isPersistent()]
        out["uuid"] = conn.lookupByUUIDString(d.UUIDString()).name()
        out["rawuuid"] = conn.lookupByUUID(d.UUID()).name()
        out["id"] = conn.lookupByID(d.ID()).name()
        out["info"] = d.info()[:4]  # [4] is CPU time: the wall clock
        out["state"] = d.state()
        out["nodeinfo"] = conn.getInfo()
        out["type"] = conn.getType()
        out["ids"] = conn.listDomainsID()
        out["net"] = conn.networkLookupByName("default").UUIDString()
        out["pool"] = conn.storagePoolLookupByName("default-pool").info()
        out["no_name"] = err(conn.lookupByName, "nope")
        out["no_uuid"] = err(conn.lookupByUUIDString, "aaaaaaaa-0000-0000-0000-00000000ffff")
        out["no_id"] = err(conn.lookupByID, 99)
        out["no_net"] = err(conn.networkLookupByName, "nope")
    """, virtkitd, transport)
    assert out["name"][0] == "test" and out["id"] == "test"
    assert out["no_name"] == [42, 12, "Domain not found"]


def test_list_all_domains_flags(virtkitd: Daemon) -> None:
    out = _both("""
        conn.defineXML(P1)
        conn.createXML(T1, 0)
        conn.defineXML(P1.replace("p1", "p2").replace("001</uuid>", "003</uuid>")
                       .replace(":01'", ":03'"))
        conn.lookupByName("p2").create()
        conn.lookupByName("p2").suspend()
        conn.lookupByName("p1").setAutostart(1)
        for flag in [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
                     16384, 32768, 1 | 4, 2 | 4, 1 | 8, 16 | 32]:
            out[str(flag)] = sorted(d.name() for d in conn.listAllDomains(flag))
        out["defined"] = sorted(conn.listDefinedDomains())
        out["num"] = [conn.numOfDomains(), conn.numOfDefinedDomains()]
        out["bad_flag"] = err(conn.listAllDomains, 1 << 30)
    """, virtkitd, P1=P1, T1=T1)
    assert out["1"] == ["p2", "t1", "test"]
    assert out["8"] == ["t1"]
    assert out["2"] == ["p1"]


def test_lifecycle_and_states(virtkitd: Daemon) -> None:
    out = _both("""
        steps = []
        d = conn.defineXML(P1)
        steps.append(["defined", d.state(), d.ID(), d.isActive()])
        steps.append(["create", d.create(), d.state(), d.ID()])
        steps.append(["create again", err(d.create)])
        steps.append(["suspend", d.suspend(), d.state()])
        steps.append(["resume", d.resume(), d.state()])
        steps.append(["destroy", d.destroy(), d.state(), d.ID()])
        steps.append(["destroy again", err(d.destroy)])
        steps.append(["undefine", d.undefine()])
        steps.append(["gone", err(conn.lookupByName, "p1")])
        steps.append(["stale handle", err(d.create)])
        t = conn.createXML(T1, 0)
        steps.append(["transient", t.state(), t.isPersistent(), err(t.undefine)])
        steps.append(["destroy transient", t.destroy(), err(conn.lookupByName, "t1")])
        out["steps"] = steps
    """, virtkitd, P1=P1, T1=T1)
    assert out["steps"][2][1] == [1, 12, "internal error: Domain 'p1' is already running"]


def test_xml_round_trip(virtkitd: Daemon) -> None:
    out = _both("""
        d = conn.defineXML(P1)
        out["inactive"] = d.XMLDesc(0)
        d.create()
        out["live"] = d.XMLDesc(0)
        out["live_inactive"] = d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        out["test"] = conn.lookupByName("test").XMLDesc(0)
        out["net"] = conn.networkLookupByName("default").XMLDesc(0)
        out["pool"] = conn.storagePoolLookupByName("default-pool").XMLDesc(0)
        out["caps"] = conn.getCapabilities()
        d.destroy()
        d.undefine()
    """, virtkitd, P1=P1)
    assert "<title>a title</title>" in out["inactive"]
    assert "<source file='/img/p1.img'/>" in out["inactive"]


IMPLIED = P1.replace("  </devices>", "    <console type='pty'/>\n"
                     "    <graphics type='vnc' port='-1' autoport='yes'/>\n  </devices>")


def test_xml_round_trip_implied_devices(virtkitd: Daemon) -> None:
    """libvirt's post-parse adds a <serial> behind a lone <console> and a <video> for
    <graphics>; the XML read back must be the same as libvirt's."""
    out = _both("""
        d = conn.defineXML(X)
        out["xml"] = d.XMLDesc(0)
    """, virtkitd, X=IMPLIED)
    assert "<serial type='pty'>" in out["xml"] and "<video>" in out["xml"]


def test_wrong_root_element_error(virtkitd: Daemon) -> None:
    out = _both("""
        out["domain"] = err(conn.defineXML, "<network><name>n</name></network>")
        out["network"] = err(conn.networkDefineXML, "<domain><name>n</name></domain>")
    """, virtkitd)
    assert out["domain"] == [27, 5, "XML error: expecting root element of 'domain', "
                             "not 'network'"]


def test_get_all_domain_stats(virtkitd: Daemon) -> None:
    out = _both("""
        conn.defineXML(P1)
        conn.createXML(T1, 0)
        for stats, flags in [(0, 0), (1, 0), (libvirt.VIR_DOMAIN_STATS_STATE, 0),
                             (0, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE),
                             (0, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_INACTIVE)]:
            out[f"{stats}/{flags}"] = sorted(
                [d.name(), {k: v for k, v in s.items() if k != "cpu.time"}]
                for d, s in conn.getAllDomainStats(stats, flags))
        doms = [conn.lookupByName("test"), conn.lookupByName("p1")]
        out["list"] = sorted([d.name(), s] for d, s in conn.domainListGetStats(doms, 1))
    """, virtkitd, P1=P1, T1=T1)
    assert ["test", {"state.state": 1, "state.reason": 0}] in out["0/0"]


def test_error_codes_domains_messages(virtkitd: Daemon) -> None:
    out = _both("""
        d = conn.lookupByName("test")
        out["running"] = err(d.create)
        out["resume running"] = err(d.resume)
        out["malformed"] = err(conn.defineXML, "<domain")
        out["malformed create"] = err(conn.createXML, "<domain type='test'><name>x</name", 0)
        out["no name"] = err(conn.defineXML, "<domain type='test'><memory>1</memory></domain>")
        out["dup uuid"] = err(conn.defineXML,
                              P1.replace("aaaaaaaa-0000-0000-0000-000000000001",
                                         d.UUIDString()).replace("p1", "other"))
        out["bad net xml"] = err(conn.networkDefineXML, "<network>")
        out["net running"] = err(conn.networkLookupByName("default").create)
        out["pool missing"] = err(conn.storagePoolLookupByName, "nope")
        pool = conn.storagePoolLookupByName("default-pool")
        out["vol missing"] = err(pool.storageVolLookupByName, "nope")
        out["bad uuid"] = err(conn.lookupByUUIDString, "not-a-uuid")
        out["bad flags"] = err(d.XMLDesc, 1 << 20)
    """, virtkitd, P1=P1)
    code, dom, msg = out["malformed"]
    assert (code, dom) == (35, 20)  # VIR_ERR_XML_DETAIL, VIR_FROM_DOMAIN
    assert msg.splitlines() == [
        "(domain_definition):1: Couldn't find end of Start Tag domain line 1", "<domain",
        "-------^"]
    assert out["running"] == [1, 12, "internal error: Domain 'test' is already running"]


# ---------------------------------------------------------------- events

NET = ("<network><name>evnet</name><uuid>dd8fe884-6c02-601e-7551-cca97df1c5d9</uuid>"
       "<bridge name='evbr0'/></network>")
POOL = ("<pool type='dir'><name>evpool</name><uuid>dfe224cb-28fb-8dd0-c4b2-64eb3f0f4569</uuid>"
        "<target><path>/evpool</path></target></pool>")
ACTIONS: list[list[Any]] = [
    ["define", "p1", P1], ["create", "p1", None], ["suspend", "p1", None],
    ["resume", "p1", None], ["destroy", "p1", None], ["undefine", "p1", None],
    ["createxml", "t1", T1], ["shutdown", "t1", None], ["create", "p1", None],
    ["destroy", "test", None], ["undefine", "test", None],
    ["net-define", "evnet", NET], ["net-create", "evnet", None], ["net-destroy", "evnet", None],
    ["net-undefine", "evnet", None], ["net-destroy", "default", None],
    ["pool-define", "evpool", POOL], ["pool-create", "evpool", None],
    ["pool-refresh", "evpool", None], ["pool-destroy", "evpool", None],
    ["pool-undefine", "evpool", None],
]


def _events(uri: str) -> dict[str, Any]:
    proc = subprocess.run([SYSTEM_PYTHON, str(CLIENT), "events", uri], input=json.dumps(ACTIONS),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_lifecycle_events_same_as_libvirtd(tmp_path: Path) -> None:
    with start_virtkitd(tmp_path / "vk") as vk, start_libvirtd(tmp_path / "lv") as lv:
        theirs = _events(lv.uri("unix"))
        ours = _events(vk.uri("unix"))
        assert vk.proc.poll() is None, vk.log_text()
    assert ["dom", "p1", 0, 0] in theirs["events"]  # VIR_DOMAIN_EVENT_DEFINED_ADDED
    assert any(e[0] == "net" for e in theirs["events"])
    assert any(e[0] == "pool" for e in theirs["events"])
    assert ours["errors"] == theirs["errors"]
    assert ours["events"] == theirs["events"]


# ---------------------------------------------------------------- keepalive

@pytest.mark.slow
def test_keepalive_notices_stopped_daemon(tmp_path: Path) -> None:
    """setKeepAlive(1, 2), then SIGSTOP the daemon: the client gives up within seconds."""
    with start_virtkitd(tmp_path / "vk") as vk:
        client = subprocess.Popen([SYSTEM_PYTHON, str(CLIENT), "keepalive", vk.uri("unix")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        assert client.stdin is not None and client.stdout is not None
        stopped = False
        try:
            assert client.stdout.readline().strip() == "ready"
            os.kill(vk.pid, signal.SIGSTOP)
            stopped = True
            client.stdin.write("go\n")
            client.stdin.flush()
            start = time.monotonic()
            line = client.stdout.readline()
            elapsed = time.monotonic() - start
            client.wait(10)
        finally:
            if stopped:
                os.kill(vk.pid, signal.SIGCONT)
            if client.poll() is None:
                client.kill()
                client.wait()
        assert line, client.stderr.read() if client.stderr else ""
        result = json.loads(line)
        assert result["reason"] == 2, result  # VIR_CONNECT_CLOSE_REASON_KEEPALIVE
        assert result["alive"] == 0
        assert result["call_error"] is not None
        assert elapsed < 60, result  # keepalive gave up by itself (guards a hang only)
        # the daemon carries on once continued
        assert vk.stop() == 0, vk.log_text()
