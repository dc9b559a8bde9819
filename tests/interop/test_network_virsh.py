"""Debian's stock virsh drives virtkitd's network driver (qemu:///system), inside a netns.

virtkitd runs in a network namespace the test creates (``ip netns exec NS python -m
virtkit.daemon.main --root DIR --listen``); its bridge, nftables rules and dnsmasq live
there. virsh runs outside and reaches the daemon through the unix socket under DIR.
Wording and layout are compared with virsh on libvirt's own ``test:///default`` where
that driver implements the command (it has no network ports). At teardown every process
left in the namespaces (the daemon, dnsmasq) is killed by pid and the namespaces deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.testing import terminate

pytestmark = [pytest.mark.interop, pytest.mark.slow]

# busybox udhcpc with a script that reports the lease (prints "lease ADDRESS/PREFIX ROUTER")
UDHCPC_LEASE = Path(__file__).resolve().parents[1] / "drivers" / "network" / "udhcpc_lease.sh"
NET = "vkvnat"
PREFIX = "10.93.5"
NET_XML = f"""<network>
  <name>{NET}</name>
  <forward mode='nat'/>
  <ip address='{PREFIX}.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='{PREFIX}.100' end='{PREFIX}.150'/>
    </dhcp>
  </ip>
</network>
"""
GUEST_MAC = "52:54:00:00:00:42"
HOST_XML = f"<host mac='{GUEST_MAC}' name='h1' ip='{PREFIX}.42'/>"
PORT1 = "5d744f21-ba4a-4d6e-bdb2-30a35ff3207d"
PORT2 = "0a000000-ba4a-4d6e-bdb2-30a35ff3207d"


def port_xml(uuid: str) -> str:
    return (f"<networkport>\n  <uuid>{uuid}</uuid>\n  <owner>\n    <name>memtest</name>\n"
            "    <uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>\n  </owner>\n"
            "  <mac address='52:54:00:7b:35:93'/>\n</networkport>\n")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {res.stderr}")
    return res


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Netns:
    """A network namespace; ``close`` kills what runs in it (by pid) and deletes it."""

    def __init__(self, prefix: str) -> None:
        self.name = f"{prefix}-{secrets.token_hex(4)}"
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")

    def pids(self) -> list[int]:
        return [int(p) for p in sh("ip", "netns", "pids", self.name, check=False).stdout.split()]

    def close(self) -> None:
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        sh("ip", "netns", "del", self.name, check=False)


class NsDaemon:
    """virtkitd on ``root``, run inside ``ns`` (start_virtkitd cannot enter a netns)."""

    def __init__(self, ns: Netns, root: Path) -> None:
        self.ns, self.root = ns, root
        self.sock = root / "run" / "libvirt" / "libvirt-sock"
        self.proc: subprocess.Popen[bytes] | None = None
        conf = root / "etc" / "libvirt" / "libvirtd.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text('listen_tls = 0\nlisten_tcp = 0\nauth_unix_rw = "none"\n'
                        'auth_unix_ro = "none"\nlog_outputs = "3:stderr"\n')

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.sock}"

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.sock.unlink()
        with open(self.root / "virtkitd.log", "ab") as log:
            # `ip netns exec` execs the command: the pid is the daemon's own
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns.name, sys.executable, "-m",
                 "virtkit.daemon.main", "--root", str(self.root), "--listen"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + 15
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("virtkitd did not start:\n"
                                     + (self.root / "virtkitd.log").read_text())
            time.sleep(0.02)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            terminate(proc)


@pytest.fixture
def env() -> Iterator[tuple[NsDaemon, Netns, Path]]:
    root = Path(tempfile.mkdtemp(prefix="vkt-vsh-"))
    os.chmod(root, 0o755)  # dnsmasq reads its hosts files unprivileged
    ns = Netns("vkd")
    client = Netns("vkg")
    daemon = NsDaemon(ns, root)
    try:
        daemon.start()
        yield daemon, client, root
    finally:
        daemon.stop()
        client.close()
        ns.close()
        shutil.rmtree(root, ignore_errors=True)


def virsh(uri: str, commands: str, cwd: Path) -> tuple[str, str, int]:
    res = subprocess.run(["virsh", "-c", uri, commands], capture_output=True, text=True,
                         timeout=60, cwd=cwd, env=dict(os.environ, LC_ALL="C"))
    return res.stdout, res.stderr, res.returncode


def ok(uri: str, commands: str, cwd: Path) -> str:
    out, err, rc = virsh(uri, commands, cwd)
    assert rc == 0, f"virsh {commands!r}: {err}"
    return out


def vk(uri: str, *argv: str) -> str:
    """virtkit's CLI: stdout of one command (virsh's blank line after it included)."""
    res = subprocess.run([sys.executable, "-m", "virtkit.cli.main", "-c", uri, *argv],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_network_life_cycle_ports_and_restart_with_virsh(
        env: tuple[NsDaemon, Netns, Path]) -> None:
    daemon, client, root = env
    uri = daemon.uri
    work = root / "files"
    work.mkdir()
    net_file, port1, port2 = work / "net.xml", work / "port1.xml", work / "port2.xml"
    net_file.write_text(NET_XML)
    port1.write_text(port_xml(PORT1))
    port2.write_text(port_xml(PORT2))

    # define: bridge name and MAC assigned at define time
    assert ok(uri, f"net-define {net_file}", work) == f"Network {NET} defined from {net_file}\n\n"
    inactive = ok(uri, f"net-dumpxml {NET} --inactive", work)
    assert "<bridge name='virbr0' stp='on' delay='0'/>" in inactive
    assert "<mac address='52:54:00:" in inactive
    dumped = work / "dumped.xml"
    dumped.write_text(inactive)

    # start, autostart, list, info, update: the same output as libvirt's test driver
    # (given the XML we assigned, so UUID, bridge and MAC agree)
    seq = (f"net-start {NET}; net-autostart {NET}; net-list --all; net-info {NET}; "
           f"net-update {NET} add ip-dhcp-host \"{HOST_XML}\" --live --config")
    got = ok(uri, seq, work)
    ref = ok("test:///default", f"net-destroy default; net-undefine default; "
             f"net-define {dumped}; {seq}; net-destroy {NET}; net-undefine {NET}", work)
    ref = ref.split(f"defined from {dumped}\n\n", 1)[1]
    assert ref.startswith(got), f"virtkitd:\n{got}\nlibvirt:\n{ref}"
    ref_tail = ref[len(got):]
    assert "Bridge:         virbr0\n" in got
    assert f" {NET}   active   yes         yes\n" in got
    hosts = (root / "var/lib/libvirt/dnsmasq" / f"{NET}.hostsfile").read_text()
    assert f"{GUEST_MAC},{PREFIX}.42,h1" in hosts
    live = ok(uri, f"net-dumpxml {NET}", work)
    assert HOST_XML in live

    # ports
    assert ok(uri, f"net-port-create {NET} {port1}", work) == \
        f"Network port {PORT1} created from {port1}\n\n"
    assert ok(uri, f"net-port-create {NET} {port2}", work) == \
        f"Network port {PORT2} created from {port2}\n\n"
    listing = ok(uri, f"net-port-list {NET}", work)
    assert listing == (" UUID\n---------------------------------------\n"
                       f" {PORT2}\n {PORT1}\n\n")
    assert ok(uri, f"net-port-list {NET} --uuid", work) == f"{PORT2}\n{PORT1}\n\n"
    assert vk(uri, "net-port-list", NET) == listing
    doc = json.loads(vk(uri, "net-port-list", NET, "--json"))
    assert [(p["uuid"], p["bridge"], p["owner"]) for p in doc] == \
        [(PORT2, "virbr0", "memtest"), (PORT1, "virbr0", "memtest")]
    xml = ok(uri, f"net-port-dumpxml {NET} {PORT1}", work)
    assert "  <plug type='network' bridge='virbr0'/>\n</networkport>\n" in xml
    assert "<network connections='2'>" in ok(uri, f"net-dumpxml {NET}", work)
    out, err, rc = virsh(uri, f"net-port-create {NET} {port1}", work)
    assert rc == 1 and f"error: Failed to create network from {port1}" in err
    assert f"network port Network port with UUID {PORT1} already exists exists already" in err
    assert ok(uri, f"net-port-delete {NET} {PORT1}", work) == f"Network port {PORT1} deleted\n\n"
    out, err, _ = virsh(uri, f"net-port-dumpxml {NET} {PORT1}", work)
    assert f"error: failed to get network port '{PORT1}'" in err
    # virtkit's own CLI: the same words as virsh
    assert vk(uri, "net-port-create", NET, str(port1)) == \
        f"Network port {PORT1} created from {port1}\n\n"
    assert vk(uri, "net-port-dumpxml", NET, PORT1) == xml
    assert vk(uri, "net-port-delete", NET, PORT1) == f"Network port {PORT1} deleted\n\n"

    # a guest on the bridge gets the address of its net-update host entry
    veth = f"vh{secrets.token_hex(3)}"
    sh("ip", "link", "add", veth, "netns", daemon.ns.name, "type", "veth", "peer", "name",
       "eth0", "netns", client.name)
    sh("ip", "-n", daemon.ns.name, "link", "set", veth, "master", "virbr0", "up")
    sh("ip", "-n", client.name, "link", "set", "eth0", "address", GUEST_MAC, "up")
    lease = sh("ip", "netns", "exec", client.name, str(UDHCPC_LEASE), "eth0", "h1", "20")
    got = [line.split() for line in lease.stdout.splitlines() if line.startswith("lease ")]
    assert got == [["lease", f"{PREFIX}.42/24", f"{PREFIX}.1"]], lease.stdout

    # restart virtkitd with the network running: same dnsmasq, ports kept, leases read
    pid = int((root / "run/libvirt/network" / f"{NET}.pid").read_text().strip())
    assert alive(pid)
    before = ok(uri, "net-list --all", work)
    daemon.stop()
    assert alive(pid)
    daemon.start()
    assert ok(uri, "net-list --all", work) == before
    assert int((root / "run/libvirt/network" / f"{NET}.pid").read_text().strip()) == pid
    assert alive(pid)
    assert ok(uri, f"net-port-list {NET} --uuid", work) == f"{PORT2}\n\n"
    leases = ok(uri, f"net-dhcp-leases {NET}", work)
    header, rule, row = leases.splitlines()[:3]
    assert re.split(r"\s{2,}", header.strip()) == [
        "Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID"]
    assert set(rule) == {"-"}
    assert row.split()[2:6] == [GUEST_MAC, "ipv4", f"{PREFIX}.42/24", "h1"]

    # destroy and undefine: libvirt's wording; dnsmasq and the bridge are gone
    got = ok(uri, f"net-destroy {NET}; net-undefine {NET}", work)
    assert got == ref_tail
    assert not alive(pid)
    assert sh("ip", "-n", daemon.ns.name, "link", "show", "virbr0", check=False).returncode != 0
    out, err, rc = virsh(uri, f"net-list --all --name; net-port-list {NET}", work)
    assert NET not in out and "failed to get network" in err
