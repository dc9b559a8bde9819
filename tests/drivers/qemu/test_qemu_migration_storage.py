"""Migration with non-shared storage (``--copy-storage-all``, ``--migrate-disks``) between
two nodes (two roots) in one process: the destination gets its own copy of the disk
(another path, through ``destination_xml``; pre-created in the destination's pool when
it does not exist) over NBD, the guest's counter keeps going, and a destination that dies
mid-copy (or an abort) leaves the source running with its disk and without the NBD
client nodes. Then the same with stock ``virsh migrate --copy-storage-all --xml`` between
two daemons in two network namespaces: virtkitd to virtkitd, and virtkitd and Debian's
libvirtd 9.0 to each other.

Every guest is TCG (domain type 'qemu')."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import console_log, domain_xml, kill_pid, qemu_pids, wait_marker, wait_until
from test_qemu_migration import Counter, Hosts
from test_qemu_migration_hosts import _libvirtd, _start, virsh
from test_qemu_migration_hosts import hosts as hosts_fixture

import virtkit
from virtkit.constants import DomainMigrateFlags, DomainState
from virtkit.errors import ErrorCode, VirtError
from virtkit.testing.twohosts import TwoHosts

pytestmark = pytest.mark.slow

F = DomainMigrateFlags
_MIGRATABLE = 8  # VIR_DOMAIN_XML_MIGRATABLE
_DISK_MIB = 32


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    h = Hosts()
    try:
        yield h
    finally:
        left = h.cleanup()
    assert not left, f"QEMU processes left running: {left}"


def _image(path: Path, fmt: str = "qcow2", pattern: int | None = 0xA5) -> Path:
    """A disk image with data written at a few offsets (the guest's data)."""
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(path), f"{_DISK_MIB}M"],
                   check=True)
    if pattern is not None:
        for off in (0, 5, 17, _DISK_MIB - 1):
            subprocess.run(["qemu-io", "-f", fmt, "-c",
                            f"write -P {pattern + off} {off}M 1M", str(path)],
                           check=True, capture_output=True)
    return path


def _compare(a: Path, b: Path, fmt_b: str = "qcow2") -> subprocess.CompletedProcess[str]:
    """qemu-img compare (-U: the destination QEMU holds its image)."""
    return subprocess.run(["qemu-img", "compare", "-U", "-f", "qcow2", "-F", fmt_b,
                           str(a), str(b)], capture_output=True, text=True)


def _disk(path: Path, dev: str, fmt: str = "qcow2") -> str:
    return (f"<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/>"
            f"<source file='{path}'/><target dev='{dev}' bus='virtio'/></disk>")


def _boot(hosts: Hosts, guest: Any, name: str, disks: str) -> Any:
    dom = hosts.csrc.define_domain(domain_xml(guest, hosts.shared, name, memory_mib=128,
                                              extra_devices=disks))
    dom.start()
    wait_marker(console_log(hosts.shared, name), guest.READY_MARKER, timeout=60)
    return dom


def _dest_pool(hosts: Hosts) -> Path:
    """A directory pool on the destination node (where pre-created disks go)."""
    where = hosts.shared / "dst-pool"
    where.mkdir()
    hosts.cdst.create_storage_pool(
        f"<pool type='dir'><name>dstpool</name><target><path>{where}</path></target></pool>")
    return where


def _hv_dom(conn: Any, name: str) -> Any:
    return conn.tables.hypervisor._node.by_name[name]


def _node_names(conn: Any, name: str) -> set[str]:
    mon = _hv_dom(conn, name).mon
    return {n["node-name"] for n in mon.execute("query-named-block-nodes", {"flat": True})}


@pytest.mark.parametrize("extra", [0, F.NON_SHARED_SYNCHRONOUS_WRITES])
def test_copy_storage_all_gives_the_destination_its_own_disk(hosts: Hosts, guest: Any,
                                                            extra: int) -> None:
    src_disk = _image(hosts.shared / "src.qcow2")
    pool = _dest_pool(hosts)
    dst_disk = pool / "dst.qcow2"  # does not exist: pre-created from the cookie's capacity
    dom = _boot(hosts, guest, "mig-nbd", _disk(src_disk, "vda"))
    counter = Counter(dom)
    counter.start()
    xml = dom.xml(_MIGRATABLE).replace(str(src_disk), str(dst_disk))
    moved = dom.migrate(hosts.cdst, F.LIVE | F.NON_SHARED_DISK | extra,
                        {"destination_xml": xml})
    seen = counter.last()
    assert moved.state_reason() == (DomainState.RUNNING, 2)  # RUNNING_MIGRATED
    assert dom.state_reason() == (DomainState.SHUTOFF, 4)  # SHUTOFF_MIGRATED
    assert str(dst_disk) in moved.xml()
    # the guest runs on from where it was, on its own copy of the disk
    after = Counter(moved)
    wait_until(lambda: after.last() > seen + 5, 20, "the counter on the destination")
    assert dst_disk.exists()
    got = _compare(src_disk, dst_disk)
    assert got.returncode == 0, got.stdout + got.stderr
    assert hosts.cdst.lookup_storage_pool("dstpool").lookup_volume("dst.qcow2") is not None
    # the copy's progress is in the job's statistics
    _, stats = dom.job_stats(1 | 2)  # COMPLETED | KEEP_COMPLETED
    assert stats["disk_total"] >= _DISK_MIB * 1024 * 1024
    assert stats["disk_processed"] == stats["disk_total"]
    assert stats["disk_remaining"] == 0
    # the destination's NBD server is gone, its node names are its own
    mon = _hv_dom(hosts.cdst, "mig-nbd").mon
    assert mon.execute("query-block-exports") == []
    assert not any(n.startswith("migration-") for n in _node_names(hosts.cdst, "mig-nbd"))


def test_migrate_disks_copies_only_the_named_disk(hosts: Hosts, guest: Any) -> None:
    vda = _image(hosts.shared / "a.qcow2")
    vdb = _image(hosts.shared / "b.raw", fmt="raw", pattern=0x11)  # "shared": not copied
    vda_dst = _image(hosts.shared / "a-dst.qcow2", pattern=None)  # exists: used as it is
    before_b = vdb.read_bytes()
    dom = _boot(hosts, guest, "mig-two", _disk(vda, "vda") + _disk(vdb, "vdb", "raw"))
    xml = dom.xml(_MIGRATABLE).replace(str(vda), str(vda_dst))
    moved = dom.migrate(hosts.cdst, F.LIVE | F.NON_SHARED_DISK,
                        {"destination_xml": xml, "migrate_disks": "vda"})
    assert moved.state == DomainState.RUNNING
    got = _compare(vda, vda_dst)
    assert got.returncode == 0, got.stdout + got.stderr
    live = moved.xml()
    assert str(vda_dst) in live and str(vdb) in live
    assert vdb.read_bytes() == before_b
    _, stats = dom.job_stats(1 | 2)
    # one disk's worth of copy
    assert _DISK_MIB * 1024 * 1024 <= stats["disk_total"] < 2 * _DISK_MIB * 1024 * 1024


def test_migrate_disks_several_values(hosts: Hosts, guest: Any) -> None:
    vda = _image(hosts.shared / "a.qcow2")
    vdb = _image(hosts.shared / "b.qcow2", pattern=0x22)
    vda_dst = _image(hosts.shared / "a-dst.qcow2", pattern=None)
    vdb_dst = _image(hosts.shared / "b-dst.qcow2", pattern=None)
    dom = _boot(hosts, guest, "mig-both", _disk(vda, "vda") + _disk(vdb, "vdb"))
    xml = dom.xml(_MIGRATABLE).replace(str(vda), str(vda_dst)).replace(str(vdb), str(vdb_dst))
    moved = dom.migrate(hosts.cdst, F.LIVE | F.NON_SHARED_DISK,
                        {"destination_xml": xml, "migrate_disks": ["vda", "vdb"]})  # type: ignore[dict-item]
    assert moved.state == DomainState.RUNNING
    for a, b in ((vda, vda_dst), (vdb, vdb_dst)):
        got = _compare(a, b)
        assert got.returncode == 0, got.stdout + got.stderr


@pytest.mark.parametrize("params,code,text", [
    ({"migrate_disks": "vdz"}, ErrorCode.INVALID_ARG, "disk target vdz not found"),
    ({"disks_uri": "ftp://x"}, ErrorCode.INVALID_ARG, "Unsupported scheme in disks URI: ftp"),
    ({"disks_port": 70000}, ErrorCode.INVALID_ARG, "nbd port must be in range 0-65535"),
])
def test_storage_parameters_checked_as_libvirt(hosts: Hosts, guest: Any,
                                               params: dict[str, Any], code: int,
                                               text: str) -> None:
    vda = _image(hosts.shared / "a.qcow2", pattern=None)
    vda_dst = _image(hosts.shared / "a-dst.qcow2", pattern=None)
    dom = _boot(hosts, guest, "mig-nbdbad", _disk(vda, "vda"))
    xml = dom.xml(_MIGRATABLE).replace(str(vda), str(vda_dst))
    with pytest.raises(VirtError) as exc:
        dom.migrate(hosts.cdst, F.LIVE | F.NON_SHARED_DISK,
                    {"destination_xml": xml, **params})
    assert exc.value.code == code and text in exc.value.message
    assert dom.state == DomainState.RUNNING
    wait_until(lambda: hosts.cdst.list_domains() == [], 20, "the destination's copy to go")


def test_precreate_needs_a_pool(hosts: Hosts, guest: Any) -> None:
    vda = _image(hosts.shared / "a.qcow2", pattern=None)
    nowhere = hosts.shared / "nopool" / "a.qcow2"
    dom = _boot(hosts, guest, "mig-nopool", _disk(vda, "vda"))
    xml = dom.xml(_MIGRATABLE).replace(str(vda), str(nowhere))
    with pytest.raises(VirtError) as exc:
        dom.migrate(hosts.cdst, F.LIVE | F.NON_SHARED_DISK, {"destination_xml": xml})
    assert exc.value.code == ErrorCode.NO_STORAGE_POOL
    assert f"no storage pool with matching target path '{nowhere.parent}'" in exc.value.message
    assert dom.state == DomainState.RUNNING
    # -inc does not pre-create at all
    with pytest.raises(VirtError) as exc:
        dom.migrate(hosts.cdst, F.LIVE | F.NON_SHARED_INC, {"destination_xml": xml})
    assert exc.value.code == ErrorCode.OPERATION_UNSUPPORTED
    assert "incremental storage migration is not supported" in exc.value.message
    assert hosts.cdst.list_domains() == []


def test_destination_killed_mid_copy_keeps_the_source(hosts: Hosts, guest: Any) -> None:
    vda = _image(hosts.shared / "a.qcow2")
    vda_dst = _image(hosts.shared / "a-dst.qcow2", pattern=None)
    dom = _boot(hosts, guest, "mig-nbdkill", _disk(vda, "vda"))
    counter = Counter(dom)
    counter.start()
    names_before = _node_names(hosts.csrc, "mig-nbdkill")
    xml = dom.xml(_MIGRATABLE).replace(str(vda), str(vda_dst))
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(dom.migrate(hosts.cdst, F.LIVE | F.NON_SHARED_DISK,
                                   {"destination_xml": xml, "bandwidth": 1}))
        except VirtError as exc:
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait_until(lambda: dom.job_stats()[1].get("disk_processed", 0) > 0, 60,
               "the disk copy to start")
    assert any(n.startswith("migration-vda") for n in _node_names(hosts.csrc, "mig-nbdkill"))
    pids = qemu_pids(str(hosts.dst.path))
    assert len(pids) == 1
    kill_pid(pids[0])
    t.join(120)
    assert not t.is_alive()
    # Perform's "migration of disk vda failed" gives way to Finish's error (the
    # destination's domain went with its QEMU), as in virDomainMigrateVersion3Full
    assert isinstance(out[0], VirtError)
    assert dom.state == DomainState.RUNNING
    seen = counter.last()
    wait_until(lambda: counter.last() > seen + 3, 20, "the counter on the source")
    # no NBD client node, no mirror job left; the disk is the source's own
    assert _node_names(hosts.csrc, "mig-nbdkill") == names_before
    assert _hv_dom(hosts.csrc, "mig-nbdkill").mon.execute("query-block-jobs") == []
    assert str(vda) in dom.xml()
    wait_until(lambda: hosts.cdst.list_domains() == [], 20, "the destination's copy to go")


def test_abort_during_the_copy(hosts: Hosts, guest: Any) -> None:
    vda = _image(hosts.shared / "a.qcow2")
    vda_dst = _image(hosts.shared / "a-dst.qcow2", pattern=None)
    dom = _boot(hosts, guest, "mig-nbdabort", _disk(vda, "vda"))
    names_before = _node_names(hosts.csrc, "mig-nbdabort")
    xml = dom.xml(_MIGRATABLE).replace(str(vda), str(vda_dst))
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(dom.migrate(hosts.cdst, F.LIVE | F.NON_SHARED_DISK,
                                   {"destination_xml": xml, "bandwidth": 1}))
        except VirtError as exc:
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait_until(lambda: dom.job_stats()[1].get("disk_processed", 0) > 0, 60,
               "the disk copy to start")
    dom.abort_job()
    t.join(120)
    assert not t.is_alive()
    assert isinstance(out[0], VirtError) and out[0].code == ErrorCode.OPERATION_ABORTED
    assert dom.state == DomainState.RUNNING
    assert _node_names(hosts.csrc, "mig-nbdabort") == names_before
    assert _hv_dom(hosts.csrc, "mig-nbdabort").mon.execute("query-block-jobs") == []
    wait_until(lambda: hosts.cdst.list_domains() == [], 20, "the destination's copy to go")


# ---------------------------------------------------------------- two hosts, stock virsh


# test_qemu_migration_hosts' two-namespace set-up and teardown, under this file's name
nshosts = hosts_fixture


@pytest.mark.parametrize("pair", [("virtkitd", "virtkitd"), ("virtkitd", "libvirtd"),
                                  ("libvirtd", "virtkitd")])
def test_virsh_copy_storage_all_between_daemons(nshosts: TwoHosts, guest: Any,
                                                pair: tuple[str, str]) -> None:
    h = nshosts
    src = _start(h, h.a) if pair[0] == "virtkitd" else _libvirtd(h, h.a)
    dst = _start(h, h.b) if pair[1] == "virtkitd" else _libvirtd(h, h.b)
    vda = _image(h.shared / "a.qcow2")
    vda_dst = _image(h.shared / "a-dst.qcow2", pattern=None)  # libvirtd has no pool here
    xml = h.shared / "vm1.xml"
    xml.write_text(domain_xml(guest, h.shared, "vm1", memory_mib=128,
                              extra_devices=_disk(vda, "vda")))
    virsh(src, "define", str(xml))
    virsh(src, "start", "vm1")
    wait_marker(console_log(h.shared, "vm1"), guest.READY_MARKER, timeout=60)
    moved_xml = h.shared / "vm1-dst.xml"
    moved_xml.write_text(virsh(src, "dumpxml", "--migratable", "vm1").stdout
                         .replace(str(vda), str(vda_dst)))
    virsh(src, "migrate", "--live", "--copy-storage-all", "--xml", str(moved_xml), "vm1", dst,
          "--migrateuri", f"tcp://{h.b.address}")
    assert virsh(dst, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    assert virsh(src, "domstate", "--reason", "vm1").stdout.strip() == "shut off (migrated)"
    assert str(vda_dst) in virsh(dst, "dumpxml", "vm1").stdout
    got = _compare(vda, vda_dst)
    assert got.returncode == 0, got.stdout + got.stderr
    if pair[1] == "virtkitd":  # the guest goes on counting there
        counter = Counter(virtkit.open(dst).lookup_domain("vm1"))
        counter.start()
    virsh(dst, "destroy", "vm1")


def _vk(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "virtkit.cli.main", "-c", uri, *args],
                          capture_output=True, text=True, timeout=300)


def test_two_disks_virsh_there_virtkit_cli_back(nshosts: TwoHosts, guest: Any) -> None:
    """``--migrate-disks vda,vdb`` (two typed parameters on the wire) with virsh, and
    back with ``virtkit migrate --copy-storage-inc --migrate-disks vda,vdb``."""
    h = nshosts
    ua, ub = _start(h, h.a), _start(h, h.b)
    disks = {dev: (_image(h.shared / f"{dev}.qcow2", pattern=p),
                   _image(h.shared / f"{dev}-b.qcow2", pattern=None))
             for dev, p in (("vda", 0x31), ("vdb", 0x41))}
    xml = h.shared / "vm1.xml"
    xml.write_text(domain_xml(guest, h.shared, "vm1", memory_mib=128, extra_devices="".join(
        _disk(a, dev) for dev, (a, _) in disks.items())))
    virsh(ua, "define", str(xml))
    virsh(ua, "start", "vm1")
    wait_marker(console_log(h.shared, "vm1"), guest.READY_MARKER, timeout=60)
    there = virsh(ua, "dumpxml", "--migratable", "vm1").stdout
    for a, b in disks.values():
        there = there.replace(str(a), str(b))
    (h.shared / "there.xml").write_text(there)
    virsh(ua, "migrate", "--live", "--copy-storage-all", "--migrate-disks", "vda,vdb",
          "--xml", str(h.shared / "there.xml"), "vm1", ub, "--migrateuri",
          f"tcp://{h.b.address}")
    assert virsh(ub, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    for a, b in disks.values():
        got = _compare(a, b)
        assert got.returncode == 0, got.stdout + got.stderr
    # back: the originals exist (no pre-creation), only the top images are copied
    for a, _ in disks.values():
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(a), f"{_DISK_MIB}M"],
                       check=True)
    back = virsh(ub, "dumpxml", "--migratable", "vm1").stdout
    for a, b in disks.values():
        back = back.replace(str(b), str(a))
    (h.shared / "back.xml").write_text(back)
    done = _vk(ub, "migrate", "--live", "--copy-storage-inc", "--migrate-disks", "vda,vdb",
               "--xml", str(h.shared / "back.xml"), "vm1", ua, "--migrateuri",
               f"tcp://{h.a.address}")
    assert done.returncode == 0, done.stderr
    assert virsh(ua, "domstate", "--reason", "vm1").stdout.strip() == "running (migrated)"
    for a, b in disks.values():
        got = _compare(b, a)
        assert got.returncode == 0, got.stdout + got.stderr
    counter = Counter(virtkit.open(ua).lookup_domain("vm1"))
    counter.start()
    virsh(ua, "destroy", "vm1")


def test_copy_storage_with_tls(hosts: Hosts, guest: Any, tmp_path: Path) -> None:
    """With VIR_MIGRATE_TLS the NBD server requires the migration's TLS credentials and
    the source's NBD client presents them (a client without TLS would be refused)."""
    ca = tmp_path / "ca"
    done = _vk_local("pki-ca", "--dir", str(ca), "--bits", "2048")
    assert done.returncode == 0, done.stderr
    for root in (hosts.src.path, hosts.dst.path):
        done = _vk_local("pki-qemu", "--root", str(root), "--ca-dir", str(ca),
                         "--host", "127.0.0.1,localhost", "--bits", "2048")
        assert done.returncode == 0, done.stderr
    vda = _image(hosts.shared / "a.qcow2")
    vda_dst = _image(hosts.shared / "a-dst.qcow2", pattern=None)
    dom = _boot(hosts, guest, "mig-nbdtls", _disk(vda, "vda"))
    xml = dom.xml(_MIGRATABLE).replace(str(vda), str(vda_dst))
    moved = dom.migrate(hosts.cdst, F.LIVE | F.TLS | F.NON_SHARED_DISK,
                        {"destination_xml": xml, "migrate_uri": "tcp://127.0.0.1"})
    assert moved.state == DomainState.RUNNING
    got = _compare(vda, vda_dst)
    assert got.returncode == 0, got.stdout + got.stderr


def _vk_local(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "virtkit.cli.main", *args],
                          capture_output=True, text=True, timeout=300)


# ---------------------------------------------------------------- without a guest


def test_repeated_migrate_disks_cross_the_wire() -> None:
    from virtkit.rpc.typedparams import ParamType, decode_params, encode_params, params_to_dict

    wire = encode_params({"migrate_disks": ["vda", "vdb"], "bandwidth": 5}, limit=64,
                         hints={"migrate_disks": ParamType.STRING})
    assert [w["field"] for w in wire] == ["migrate_disks", "migrate_disks", "bandwidth"]
    back = params_to_dict(decode_params(wire))
    assert back == {"migrate_disks": ["vda", "vdb"], "bandwidth": 5}
    # one value stays a string; other repeated fields keep their first value
    one = encode_params({"migrate_disks": "vda"}, limit=64)
    assert params_to_dict(decode_params(one)) == {"migrate_disks": "vda"}
    twice = encode_params({"bandwidth": [1, 2]}, limit=64)
    assert params_to_dict(decode_params(twice)) == {"bandwidth": 1}


@pytest.mark.parametrize("nbd,message", [
    ("<nbd port='x'/>", "Malformed nbd port 'x'"),
    ("<nbd><disk capacity='1'/></nbd>", "Malformed disk target"),
    ("<nbd><disk target='vda'/></nbd>", "Malformed disk capacity: '(null)'"),
    ("<nbd><disk target='vda' capacity='big'/></nbd>", "Malformed disk capacity: 'big'"),
])
def test_cookie_nbd_errors(nbd: str, message: str) -> None:
    from virtkit.conf.migration_cookie import CookieFlag, MigrationCookie

    doc = ("<qemu-migration><name>d</name><uuid>00000000-0000-0000-0000-000000000001</uuid>"
           "<hostname>h</hostname><hostuuid>00000000-0000-0000-0000-000000000002</hostuuid>"
           f"{nbd}</qemu-migration>").encode() + b"\0"
    with pytest.raises(VirtError) as exc:
        MigrationCookie.parse(doc, accept=CookieFlag.NBD)
    assert exc.value.code == ErrorCode.INTERNAL_ERROR and message in exc.value.message


def test_cookie_nbd_round_trip() -> None:
    from virtkit.conf.migration_cookie import CookieFlag, CookieNBD, MigrationCookie

    cookie = MigrationCookie("d", "00000000-0000-0000-0000-000000000001", "h",
                             "00000000-0000-0000-0000-000000000002")
    cookie.nbd = CookieNBD(49153, [("vda", 1 << 30), ("vdb", 512)])
    text = cookie.to_xml()
    assert ("  <nbd port='49153'>\n    <disk target='vda' capacity='1073741824'/>\n"
            "    <disk target='vdb' capacity='512'/>\n  </nbd>\n") in text
    back = MigrationCookie.parse(cookie.to_bytes(), accept=CookieFlag.NBD)
    assert back.nbd == cookie.nbd
