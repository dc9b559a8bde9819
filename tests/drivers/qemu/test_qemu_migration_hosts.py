"""Migration between two "hosts" (network namespaces on a veth pair, a daemon in each:
virtkit.testing.twohosts), driven by Debian's stock ``virsh migrate``: managed direct,
peer-to-peer and offline between two virtkitd; a destination daemon SIGKILLed
mid-migration; and Debian's libvirtd 9.0 and virtkitd migrating to each other.

The guest's console counter (see test_qemu_migration.py) proves it kept running."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import REPO, console_log, domain_xml, kill_pid, qemu_pids, wait_marker, wait_until
from test_qemu_migration import Counter

import virtkit
from virtkit.constants import DomainState
from virtkit.testing.twohosts import TwoHosts

pytestmark = pytest.mark.slow


def virsh(uri: str, *args: str, check: bool = True,
          timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Stock virsh on ``uri`` (``timeout``: a hang guard); asserts success with ``check``."""
    done = subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert done.returncode == 0, f"virsh {' '.join(args)}: {done.stderr}"
    return done


URIS: dict[int, list[str]] = {}  # id(TwoHosts) -> the daemons' URIs, for the teardown


@pytest.fixture
def hosts() -> Iterator[TwoHosts]:
    h = TwoHosts()
    URIS[id(h)] = []
    try:
        yield h
    finally:
        for uri in URIS.pop(id(h)):  # every guest goes before its daemon stops
            done = virsh(uri, "list", "--name", check=False)
            for name in done.stdout.split() if done.returncode == 0 else []:
                virsh(uri, "destroy", name, check=False)
        h.close()
        left = [p for root in (h.a.root, h.b.root, h.shared) for p in qemu_pids(str(root))]
        for pid in left:
            kill_pid(pid)
    assert not left, f"QEMU processes left running: {left}"


def _start(h: TwoHosts, host: Any) -> str:
    host.start_virtkitd()
    uri: str = host.unix_uri()
    URIS[id(h)].append(uri)
    return uri


def _boot(h: TwoHosts, guest: Any, uri: str, name: str = "vm1") -> Any:
    xml = h.shared / f"{name}.xml"
    xml.write_text(domain_xml(guest, h.shared, name))
    virsh(uri, "define", str(xml))
    virsh(uri, "start", name)
    wait_marker(console_log(h.shared, name), guest.READY_MARKER, timeout=60)
    conn = virtkit.open(uri)
    return conn.lookup_domain(name)


def test_virsh_managed_direct_then_p2p_back(hosts: TwoHosts, guest: Any) -> None:
    h = hosts
    ua, ub = _start(h, h.a), _start(h, h.b)
    dom = _boot(h, guest, ua)
    counter = Counter(dom)
    counter.start()
    virsh(ua, "migrate", "--live", "--persistent", "--verbose", "vm1", ub,
          "--migrateuri", f"tcp://{h.b.address}")
    seen = counter.last()
    assert virsh(ub, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    assert virsh(ua, "domstate", "--reason", "vm1").stdout.strip() == "shut off (migrated)"
    there = virtkit.open(ub).lookup_domain("vm1")
    after = Counter(there)
    wait_until(lambda: after.last() > seen + 5, 20, "the counter on host b")
    # back with --p2p: host b's daemon drives it over the veth
    virsh(ub, "migrate", "--live", "--p2p", "--undefinesource", "vm1", h.a.tcp_uri(),
          "--migrateuri", f"tcp://{h.a.address}")
    assert virsh(ua, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    assert "vm1" not in virsh(ub, "list", "--all", "--name").stdout
    back = Counter(virtkit.open(ua).lookup_domain("vm1"))
    wait_until(lambda: back.last() > seen + 10, 20, "the counter back on host a")
    virsh(ua, "destroy", "vm1")


def test_virsh_offline(hosts: TwoHosts, guest: Any) -> None:
    h = hosts
    ua, ub = _start(h, h.a), _start(h, h.b)
    xml = h.shared / "off.xml"
    xml.write_text(domain_xml(guest, h.shared, "off"))
    virsh(ua, "define", str(xml))
    virsh(ua, "migrate", "--offline", "--persistent", "--undefinesource", "off", ub)
    assert virsh(ub, "domstate", "off").stdout.strip() == "shut off"
    assert "off" not in virsh(ua, "list", "--all", "--name").stdout
    refused = virsh(ub, "migrate", "--offline", "off", ua, check=False)
    assert refused.returncode != 0
    assert "offline migration must be specified with the persistent flag set" in refused.stderr


def test_destination_daemon_killed_source_resumes(hosts: TwoHosts, guest: Any) -> None:
    h = hosts
    ua, ub = _start(h, h.a), _start(h, h.b)
    dom = _boot(h, guest, ua)
    counter = Counter(dom)
    counter.start()
    virsh(ua, "migrate-setspeed", "vm1", "1")
    assert virsh(ua, "migrate-getspeed", "vm1").stdout.strip() == "1"
    run = subprocess.Popen(["virsh", "-c", ua, "migrate", "--live", "vm1", ub, "--migrateuri",
                            f"tcp://{h.b.address}"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: dom.job_info().data_processed > 0, 30, "the stream to start")
        assert h.b.daemon is not None
        h.b.daemon.kill()  # SIGKILL: its QEMU lives on, the stream goes on into it
        virsh(ua, "migrate-setspeed", "vm1", "1000")
        run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    assert run.returncode != 0, "the migration cannot succeed without its destination daemon"
    assert dom.state == DomainState.RUNNING
    seen = counter.last()
    wait_until(lambda: counter.last() > seen + 3, 20, "the counter on the source")
    for pid in qemu_pids(str(h.b.root)):  # the dead daemon's QEMU: never resumed
        kill_pid(pid)


# ---------------------------------------------------------------- libvirtd 9.0


def _libvirtd(h: TwoHosts, host: Any) -> str:
    sys.path.insert(0, str(REPO / "bench"))
    import qemu_peers  # type: ignore[import-not-found]

    peer = qemu_peers.start_libvirtd_qemu(host.root / "libvirtd", netns=host.netns)
    host.extra.append(peer.reaper)
    uri: str = peer.uri
    URIS[id(h)].append(uri)
    return uri


@pytest.mark.parametrize("first", ["virtkitd", "libvirtd"])
def test_interop_with_libvirtd_both_ways(hosts: TwoHosts, guest: Any, first: str) -> None:
    h = hosts
    uv, ul = _start(h, h.a), _libvirtd(h, h.b)
    (src, src_addr), (dst, dst_addr) = ((uv, h.a.address), (ul, h.b.address))
    if first == "libvirtd":
        (src, src_addr), (dst, dst_addr) = (dst, dst_addr), (src, src_addr)
    xml = h.shared / "vm1.xml"
    xml.write_text(domain_xml(guest, h.shared, "vm1"))
    virsh(src, "define", str(xml))
    virsh(src, "start", "vm1")
    wait_marker(console_log(h.shared, "vm1"), guest.READY_MARKER, timeout=60)
    virsh(src, "migrate", "--live", "--persistent", "--undefinesource", "vm1", dst,
          "--migrateuri", f"tcp://{dst_addr}")
    assert virsh(dst, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    assert "vm1" not in virsh(src, "list", "--all", "--name").stdout
    virsh(dst, "migrate", "--live", "--persistent", "--undefinesource", "vm1", src,
          "--migrateuri", f"tcp://{src_addr}")
    assert virsh(src, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    if src == uv:  # the guest answers on its console after the round trip
        counter = Counter(virtkit.open(uv).lookup_domain("vm1"))
        counter.start()
    virsh(src, "destroy", "vm1")
    virsh(src, "undefine", "vm1")
    # offline, both ways
    virsh(src, "define", str(xml))
    virsh(src, "migrate", "--offline", "--persistent", "--undefinesource", "vm1", dst)
    assert virsh(dst, "domstate", "vm1").stdout.strip() == "shut off"
    virsh(dst, "migrate", "--offline", "--persistent", "--undefinesource", "vm1", src)
    assert virsh(src, "domstate", "vm1").stdout.strip() == "shut off"


def test_hosts_helper_cleans_up() -> None:
    with TwoHosts() as h:
        names = (h.a.netns, h.b.netns)
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert all(n in listed for n in names)
        assert h.a.can_connect(h.b.address, 9) is False  # reachable link, nothing listening
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names)
    assert not Path(h.base).exists()


VIRTKIT = [sys.executable, "-m", "virtkit.cli.main"]


def vk(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VIRTKIT, "-c", uri, *args], capture_output=True, text=True,
                          timeout=300)


def test_virtkit_cli_migrate_and_tunables(hosts: TwoHosts, guest: Any) -> None:
    h = hosts
    ua, ub = _start(h, h.a), _start(h, h.b)
    _boot(h, guest, ua)
    # the tunables, as virsh prints and refuses them
    assert vk(ua, "migrate-setmaxdowntime", "vm1", "450").returncode == 0
    assert vk(ua, "migrate-getmaxdowntime", "vm1").stdout.strip() == "450"
    assert vk(ua, "migrate-getmaxdowntime", "vm1").stdout == virsh(
        ua, "migrate-getmaxdowntime", "vm1").stdout
    bad = vk(ua, "migrate-setmaxdowntime", "vm1", "0")
    assert bad.returncode == 1 and "migrate: Invalid downtime" in bad.stderr
    assert vk(ua, "migrate-setspeed", "vm1", "200").returncode == 0
    assert vk(ua, "migrate-getspeed", "vm1").stdout == virsh(ua, "migrate-getspeed", "vm1").stdout
    assert vk(ua, "migrate-getspeed", "vm1").stdout.strip() == "200"
    done = vk(ua, "migrate", "--live", "--verbose", "--persistent", "--dname", "vm2", "vm1", ub,
              "--migrateuri", f"tcp://{h.b.address}")
    assert done.returncode == 0, done.stderr
    assert done.stderr.endswith("Migration: [100 %]")
    assert virsh(ub, "domstate", "--reason", "vm2").stdout.strip() == "running (migrated)"
    # back peer-to-peer with the library's migrate_to_uri3
    dom = virtkit.open(ub).lookup_domain("vm2")
    dom.migrate_to_uri3(h.a.tcp_uri(), 1 | 2 | 16,  # LIVE | PEER2PEER | UNDEFINE_SOURCE
                        {"migrate_uri": f"tcp://{h.a.address}", "destination_name": "vm1"})
    assert virsh(ua, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    refused = vk(ua, "migrate", "--live", "--tunnelled", "--p2p", "vm1", h.b.tcp_uri(),
                 "--migrateuri", f"tcp://{h.b.address}")
    assert refused.returncode == 1
    assert "migration URI is not supported by tunnelled migration" in refused.stderr
    assert virsh(ua, "domstate", "vm1").stdout.strip() == "running"


def test_virtkit_library_drives_libvirtd_and_virtkitd(hosts: TwoHosts, guest: Any) -> None:
    """virtkit's client (remote driver to both daemons) runs virDomainMigrate3's phases."""
    h = hosts
    uv, ul = _start(h, h.a), _libvirtd(h, h.b)
    xml = h.shared / "vm1.xml"
    xml.write_text(domain_xml(guest, h.shared, "vm1"))
    virsh(ul, "define", str(xml))
    virsh(ul, "start", "vm1")
    wait_marker(console_log(h.shared, "vm1"), guest.READY_MARKER, timeout=60)
    lconn, vconn = virtkit.open(ul), virtkit.open(uv)
    flags = 1 | 8 | 16  # LIVE | PERSIST_DEST | UNDEFINE_SOURCE
    moved = lconn.lookup_domain("vm1").migrate(vconn, flags,
                                               {"migrate_uri": f"tcp://{h.a.address}"})
    assert moved.state_reason() == (DomainState.RUNNING, 2)  # RUNNING_MIGRATED
    counter = Counter(moved)
    counter.start()
    back = moved.migrate(lconn, flags, {"migrate_uri": f"tcp://{h.b.address}"})
    assert back.state_reason() == (DomainState.RUNNING, 2)
    assert virsh(ul, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    assert "vm1" not in virsh(uv, "list", "--all", "--name").stdout


def test_libvirt_python_migrate_and_migrate3(hosts: TwoHosts, guest: Any) -> None:
    """libvirt-python's migrate() (protocol v3 without parameters) and migrate3()."""
    h = hosts
    ua, ub = _start(h, h.a), _start(h, h.b)
    _boot(h, guest, ua)
    code = f"""
import libvirt
s, d = libvirt.open({ua!r}), libvirt.open({ub!r})
new = s.lookupByName('vm1').migrate(d, libvirt.VIR_MIGRATE_LIVE, 'vm2',
                                    'tcp://{h.b.address}', 0)
print(new.name(), new.state())
back = new.migrate3(s, {{libvirt.VIR_MIGRATE_PARAM_URI: 'tcp://{h.a.address}',
                        libvirt.VIR_MIGRATE_PARAM_DEST_NAME: 'vm1',
                        libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 100}}, libvirt.VIR_MIGRATE_LIVE)
print(back.name(), back.state())
print(s.lookupByName('vm1').jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)['operation'])
"""
    done = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["vm2 [1, 2]", "vm1 [1, 2]", "5"]
