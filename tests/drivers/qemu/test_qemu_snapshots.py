"""End to end: internal snapshots of real TCG guests on qemu:///embed.

Shut-off snapshots live in the qcow2 image (``qemu-img snapshot``) and revert the disk; a
running guest's full system checkpoint (QMP ``snapshot-save``) brings its RAM back on revert
(a file created after the snapshot is gone, one created before is there, no new boot);
metadata survives a restart of the node; deletion re-parents or removes children; the CLI
drives it all.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import REPO, QemuRoot, console_log, domain_xml, lifecycle, wait_marker, wait_until

from virtkit.constants import DomainEventType, DomainState
from virtkit.drivers import snapshottree as st
from virtkit.drivers.qemu import node as qn
from virtkit.drivers.qemu.defs import parse_def
from virtkit.drivers.qemu.node import QemuNode
from virtkit.drivers.qemu.paths import QemuPaths
from virtkit.errors import ErrorCode, VirtError

pytestmark = pytest.mark.slow

EV = DomainEventType
FROM_SNAPSHOT_RUNNING, FROM_SNAPSHOT_PAUSED, FROM_SNAPSHOT_SHUTOFF = 4, 7, 7
BOOT_TIMEOUT = 90.0  # two CPUs shared with other test runs: be patient, never time things


def qemu_img_tags(disk: Path) -> list[str]:
    out = subprocess.run(["qemu-img", "snapshot", "-U", "-l", str(disk)], capture_output=True,
                         text=True, check=True).stdout
    return [line.split()[1] for line in out.splitlines()[2:] if line.strip()]


def first_sector(disk: Path, tmp: Path) -> bytes:
    out = tmp / "sector.raw"
    subprocess.run(["qemu-img", "dd", "-U", "-f", "qcow2", "-O", "raw", "bs=512", "count=1",
                    f"if={disk}", f"of={out}"], check=True, capture_output=True)
    data = out.read_bytes()
    out.unlink()
    return data


class Console:
    """The guest's serial shell: type a command, wait for what it prints."""

    def __init__(self, dom: Any) -> None:
        self.stream = dom.open_console()
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        while True:
            try:
                data = self.stream.recv(4096)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.buf.extend(data)

    def run(self, cmd: str, done: str) -> str:
        """Type ``cmd; echo DONE`` and return what came after the command until DONE."""
        with self.lock:
            start = len(self.buf)
        marker = done.encode()
        self.stream.send(f"{cmd}; echo {done[:-1]}''{done[-1]}\r".encode())

        def seen() -> bool:
            with self.lock:
                return marker in self.buf[start:]

        wait_until(seen, BOOT_TIMEOUT, f"{done} from the guest")
        with self.lock:
            return bytes(self.buf[start:]).decode(errors="replace")

    def close(self) -> None:
        self.stream.abort()
        self.reader.join(5)


def _define(conn: Any, root: Path, guest: Any, name: str = "vm1", fmt: str = "qcow2",
            ) -> tuple[Any, Path]:
    disk = guest.copy_disk(root / f"{name}.{fmt}", fmt)
    return conn.define_domain(domain_xml(guest, root, name, disk=disk, disk_format=fmt)), disk


def test_shutoff_snapshot_reverts_the_disk(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    dom, disk = _define(conn, root, guest)
    snap = dom.create_snapshot("<domainsnapshot><name>clean</name>"
                               "<description>before boot</description></domainsnapshot>")
    assert qemu_img_tags(disk) == ["clean"]
    xml = snap.xml()
    assert "<state>shutoff</state>" in xml and "<memory snapshot='no'/>" in xml
    assert "<disk name='vda' snapshot='internal'/>" in xml and "<active>" not in xml
    meta = root / "lib" / "qemu" / "snapshot" / "vm1" / "clean.xml"
    assert "<active>1</active>" in meta.read_text()
    assert snap.is_current() and snap.has_metadata()

    dom.start()  # the guest writes its marker at offset 0 of the disk
    wait_marker(console_log(root, "vm1"), guest.DISK_OK_MARKER, timeout=BOOT_TIMEOUT)
    dom.destroy()
    assert guest.DISK_MARKER.encode() in first_sector(disk, root)

    events = conn.domain_events()
    dom.revert_to_snapshot(snap)
    assert guest.DISK_MARKER.encode() not in first_sector(disk, root)
    assert dom.state_reason()[0] == DomainState.SHUTOFF
    assert (EV.DEFINED, 3) in lifecycle(events, timeout=2)  # DEFINED/FROM_SNAPSHOT

    # a raw disk cannot hold an internal snapshot: libvirt's refusal, nothing written
    raw, _ = _define(conn, root, guest, "vm2", "raw")
    with pytest.raises(VirtError) as exc:
        raw.create_snapshot("<domainsnapshot/>")
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert "internal snapshot for disk vda unsupported for storage type raw" in str(exc.value)
    assert raw.snapshot_count() == 0


def test_running_snapshot_brings_the_guest_state_back(qroot: QemuRoot, conn: Any,
                                                     guest: Any) -> None:
    root = qroot.path
    dom, disk = _define(conn, root, guest)
    dom.start()
    wait_marker(console_log(root, "vm1"), guest.READY_MARKER, timeout=BOOT_TIMEOUT)
    con = Console(dom)
    try:
        con.stream.send(b"\r")
        con.run("touch /tmp/before-snap", "OK-1")
        events = conn.domain_events()
        snap = dom.create_snapshot("<domainsnapshot><name>live</name></domainsnapshot>")
        # paused for the checkpoint, then resumed: it still runs
        assert dom.state_reason()[0] == DomainState.RUNNING
        got = lifecycle(events, timeout=5, until=(EV.RESUMED, 0))
        assert got == [(EV.SUSPENDED, 0), (EV.RESUMED, 0)]
        xml = snap.xml()
        assert "<state>running</state>" in xml and "<memory snapshot='internal'/>" in xml
        assert "<inactiveDomain" in xml
        assert "live" in qemu_img_tags(disk)
        con.run("touch /tmp/after-snap", "OK-2")
    finally:
        con.close()

    dom.revert_to_snapshot(snap)
    assert dom.state_reason() == (DomainState.RUNNING, FROM_SNAPSHOT_RUNNING)
    got = lifecycle(events, timeout=10, until=(EV.DEFINED, 3))
    assert got == [(EV.STOPPED, 6), (EV.STARTED, 3), (EV.RESUMED, 2), (EV.DEFINED, 3)]
    con = Console(dom)
    try:
        con.stream.send(b"\r")
        out = con.run("ls /tmp", "OK-3")
    finally:
        con.close()
    assert "before-snap" in out and "after-snap" not in out, out
    log = console_log(root, "vm1")
    assert log.read_text(errors="replace").count(guest.BOOT_MARKER) <= 1  # no new boot

    dom.revert_to_snapshot(snap, 2)  # REVERT_PAUSED
    assert dom.state_reason() == (DomainState.PAUSED, FROM_SNAPSHOT_PAUSED)
    dom.resume()
    assert dom.state_reason()[0] == DomainState.RUNNING

    # deleting while it runs goes through QEMU (snapshot-delete)
    snap.delete()
    assert dom.snapshot_count() == 0 and not dom.has_current_snapshot()
    assert "live" not in qemu_img_tags(disk)
    assert not (root / "lib" / "qemu" / "snapshot" / "vm1" / "live.xml").exists()
    dom.destroy()


def test_tree_delete_restart_and_undefine(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    dom, disk = _define(conn, root, guest)

    def make(name: str) -> Any:
        return dom.create_snapshot(f"<domainsnapshot><name>{name}</name></domainsnapshot>")

    s1, s2, s3 = make("s1"), make("s2"), make("s3")
    dom.revert_to_snapshot(s2)
    s4 = make("s4")  # s1 -> s2 -> {s3, s4}
    assert s4.parent().name == "s2" and s3.parent().name == "s2"
    names = sorted(s.name for s in dom.list_snapshots())
    assert names == ["s1", "s2", "s3", "s4"]
    assert [s.name for s in dom.list_snapshots(1)] == ["s1"]  # ROOTS
    assert sorted(s.name for s in dom.list_snapshots(4)) == ["s3", "s4"]  # LEAVES
    assert [s.name for s in dom.list_snapshots(1024)][:2] == ["s1", "s2"]  # TOPOLOGICAL
    assert sorted(s.name for s in s1.children(1)) == ["s2", "s3", "s4"]  # DESCENDANTS
    assert s2.num_children() == 2 and dom.snapshot_count(64) == 0  # ACTIVE: none
    with pytest.raises(VirtError) as exc:
        s1.parent()
    assert exc.value.code == ErrorCode.NO_DOMAIN_SNAPSHOT
    assert "snapshot 's1' does not have a parent" in str(exc.value)

    # a restarted node (a new daemon) finds the snapshots, their relations and the current one
    fresh = QemuNode(QemuPaths.embed(str(root)))
    tree = fresh.by_name["vm1"].snapshots
    assert list(tree.snaps) == ["s1", "s2", "s3", "s4"]
    assert tree.current == "s4" and tree.snaps["s4"].parent == "s2"
    assert tree.snaps["s1"].description is None and tree.snaps["s1"].domain_def is not None

    s2.delete()  # children move up to s1
    assert sorted(s.name for s in s1.children()) == ["s3", "s4"]
    assert "s2" not in qemu_img_tags(disk)
    assert "<name>s1</name>" in (root / "lib/qemu/snapshot/vm1/s3.xml").read_text()
    s1.delete(4)  # CHILDREN_ONLY
    assert [s.name for s in dom.list_snapshots()] == ["s1"] and s1.is_current()
    assert qemu_img_tags(disk) == ["s1"]

    with pytest.raises(VirtError) as exc:
        dom.undefine()
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    assert "cannot delete inactive domain with 1 snapshots" in str(exc.value)
    dom.undefine(2)  # SNAPSHOTS_METADATA: the metadata goes, the qcow2 keeps its snapshot
    assert not (root / "lib/qemu/snapshot/vm1").exists()
    assert qemu_img_tags(disk) == ["s1"]


def test_cli_snapshot_commands(qroot: QemuRoot, guest: Any) -> None:
    root = qroot.path
    disk = guest.copy_disk(root / "vm1.qcow2")
    xml_file = root / "vm1.xml"
    xml_file.write_text(domain_xml(guest, root, "vm1", disk=disk))
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))

    def virtkit(*args: str) -> str:
        res = subprocess.run([str(REPO / ".venv" / "bin" / "virtkit"), "-c", qroot.uri, *args],
                             capture_output=True, text=True, env=env, timeout=120)
        assert res.returncode == 0, (args, res.stdout, res.stderr)
        return res.stdout

    virtkit("define", str(xml_file))
    assert "Domain snapshot first created" in virtkit("snapshot-create-as", "vm1", "first",
                                                      "--description", "one")
    virtkit("snapshot-create-as", "vm1", "second")
    listing = virtkit("snapshot-list", "vm1", "--parent")
    assert "first" in listing and "second" in listing and "shutoff" in listing
    assert virtkit("snapshot-current", "vm1", "--name").strip() == "second"
    assert "reverted" in virtkit("snapshot-revert", "vm1", "first")
    assert virtkit("snapshot-current", "vm1", "--name").strip() == "first"
    assert "deleted" in virtkit("snapshot-delete", "vm1", "first", "--children")
    assert "first" not in virtkit("snapshot-list", "vm1")
    assert qemu_img_tags(disk) == []


# ============================================================================ external (disk-only)


def sector(disk: Path, tmp: Path, index: int, fmt: str = "qcow2") -> bytes:
    """Sector ``index`` of an image as a reader of its whole backing chain sees it."""
    out = tmp / "sector.raw"  # (qemu-img dd counts the skipped blocks too)
    subprocess.run(["qemu-img", "dd", "-U", "-f", fmt, "-O", "raw", "bs=512", f"count={index + 1}",
                    f"skip={index}", f"if={disk}", f"of={out}"], check=True, capture_output=True)
    data = out.read_bytes()
    out.unlink()
    return data


def backing_chain(image: Path) -> list[tuple[str, str]]:
    """(filename, format) of every image of ``qemu-img info --backing-chain``."""
    import json

    out = subprocess.run(["qemu-img", "info", "-U", "--backing-chain", "--output=json",
                          str(image)], capture_output=True, text=True, check=True).stdout
    return [(i["filename"], i["format"]) for i in json.loads(out)]


def test_disk_only_snapshot_of_a_shut_off_guest(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    dom, base = _define(conn, root, guest, "vm1", "raw")  # a raw base is fine: overlays are qcow2
    snap = dom.create_snapshot("<domainsnapshot><name>s1</name></domainsnapshot>", 16)
    overlay = root / "vm1.s1"  # libvirt's default name: the source minus its suffix, .NAME
    assert backing_chain(overlay) == [(str(overlay), "qcow2"), (str(base), "raw")]
    xml = snap.xml()
    assert "<state>shutoff</state>" in xml and "<memory snapshot='no'/>" in xml
    assert (f"<disk name='vda' snapshot='external' type='file'>\n      <driver type='qcow2'/>\n"
            f"      <source file='{overlay}'/>") in xml, xml
    assert f"<source file='{base}'/>" in xml  # the domain as it was
    conf = dom.xml(2)  # INACTIVE: the disk now is the overlay
    assert f"<source file='{overlay}'/>" in conf and "<driver name='qemu' type='qcow2'/>" in conf
    assert dom.snapshot_count(512) == 1 and dom.snapshot_count(256) == 0  # EXTERNAL / INTERNAL
    assert dom.snapshot_count(32) == 1 and dom.snapshot_count(128) == 0  # INACTIVE / DISK_ONLY
    fresh = QemuNode(QemuPaths.embed(str(root)))  # the metadata loads back
    assert st.is_external(fresh.by_name["vm1"].snapshots.snaps["s1"])

    # the guest writes its marker: into the overlay, the base stays clean
    dom.start()
    wait_marker(console_log(root, "vm1"), guest.DISK_OK_MARKER, timeout=BOOT_TIMEOUT)
    dom.destroy()
    assert guest.DISK_MARKER.encode() in sector(overlay, root, 0)
    assert guest.DISK_MARKER.encode() not in sector(base, root, 0, "raw")

    with pytest.raises(VirtError) as exc:
        dom.revert_to_snapshot(snap)
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert "revert to external snapshot not supported yet" in str(exc.value)
    with pytest.raises(VirtError) as exc:
        snap.delete(1)  # CHILDREN
    assert "deletion of external disk snapshots with children not supported" in str(exc.value)

    # an existing file is not overwritten; a file name must be usable
    (root / "vm1.s2").write_bytes(b"data")
    with pytest.raises(VirtError) as exc:
        dom.create_snapshot("<domainsnapshot><name>s2</name></domainsnapshot>", 16)
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert ("external snapshot file for disk vda already exists and is not a block device: "
            f"{root / 'vm1.s2'}") in str(exc.value)

    # deletion commits the overlay into its base and the disk goes back to the base
    snap.delete()
    assert not overlay.exists() and dom.snapshot_count() == 0
    assert guest.DISK_MARKER.encode() in sector(base, root, 0, "raw")
    conf = dom.xml(2)
    assert f"<source file='{base}'/>" in conf and "<driver name='qemu' type='raw'/>" in conf


def test_disk_only_snapshot_of_a_running_guest(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    dom, base = _define(conn, root, guest)
    dom.start()
    wait_marker(console_log(root, "vm1"), guest.READY_MARKER, timeout=BOOT_TIMEOUT)
    overlay = root / "ov.qcow2"
    with pytest.raises(VirtError) as exc:
        dom.create_snapshot("<domainsnapshot/>", 16 | 64)  # QUIESCE needs the guest agent
    assert exc.value.code == ErrorCode.ARGUMENT_UNSUPPORTED
    assert "QEMU guest agent is not configured" in str(exc.value)
    con = Console(dom)
    try:
        con.stream.send(b"\r")
        events = conn.domain_events()
        snap = dom.create_snapshot(
            "<domainsnapshot><name>d1</name><disks><disk name='vda' snapshot='external'>"
            f"<source file='{overlay}'/></disk></disks></domainsnapshot>", 16 | 128)  # ATOMIC
        assert dom.state_reason()[0] == DomainState.RUNNING
        assert lifecycle(events, timeout=1) == []  # a disk-only snapshot does not pause it
        xml = snap.xml()
        assert "<state>disk-snapshot</state>" in xml and "<memory snapshot='no'/>" in xml
        assert backing_chain(overlay) == [(str(overlay), "qcow2"), (str(base), "qcow2")]
        live = dom.xml()
        assert (f"<source file='{overlay}' index='2'/>\n      <backingStore type='file' "
                f"index='1'>\n        <format type='qcow2'/>\n        <source file='{base}'/>\n"
                "        <backingStore/>\n      </backingStore>") in live, live
        assert f"<source file='{overlay}'/>" in dom.xml(2)  # the config follows
        # a re-attaching node finds the overlay's node names from the live XML
        other = QemuNode(QemuPaths.embed(str(root / "other")))
        cmd = qn._rebuild_command(parse_def(live), other._context("vm1", 1, str(root)))
        assert cmd.disks["vda"].format_node == "libvirt-2-format"
        assert dom.snapshot_count(128) == 1  # DISK_ONLY
        # the guest keeps writing, now into the overlay
        con.run("echo AFTER-SNAP | dd of=/dev/vda bs=512 seek=8 count=1 conv=sync,notrunc,fsync",
                "OK-1")
    finally:
        con.close()
    assert b"AFTER-SNAP" in sector(overlay, root, 8)
    assert b"AFTER-SNAP" not in sector(base, root, 8)

    # a second one stacks on the first; node names follow libvirt's (libvirt-N-format)
    snap2 = dom.create_snapshot("<domainsnapshot><name>d2</name></domainsnapshot>", 16)
    top = root / "ov.d2"
    assert backing_chain(top)[1:] == [(str(overlay), "qcow2"), (str(base), "qcow2")]
    assert snap2.parent().name == "d1"
    assert f"<source file='{top}' index='3'/>" in dom.xml()

    # deleting the top one commits it back (active commit + pivot), the guest keeps running
    snap2.delete()
    assert not top.exists() and dom.state_reason()[0] == DomainState.RUNNING
    assert f"<source file='{overlay}' index='2'/>" in dom.xml()
    assert f"<source file='{overlay}'/>" in dom.xml(2)
    snap.delete()
    assert not overlay.exists()
    live = dom.xml()
    assert f"<source file='{base}' index='1'/>\n      <backingStore/>\n" in live, live
    assert b"AFTER-SNAP" in sector(base, root, 8)  # committed into the base
    assert dom.state_reason()[0] == DomainState.RUNNING
    dom.destroy()


def test_external_snapshot_taken_shut_off_deleted_while_running(qroot: QemuRoot, conn: Any,
                                                               guest: Any) -> None:
    root = qroot.path
    dom, base = _define(conn, root, guest)
    snap = dom.create_snapshot("<domainsnapshot><name>e1</name></domainsnapshot>", 16)
    overlay = root / "vm1.e1"
    dom.start()  # on the overlay: the guest's marker goes there
    wait_marker(console_log(root, "vm1"), guest.DISK_OK_MARKER, timeout=BOOT_TIMEOUT)
    assert f"<source file='{overlay}' index='1'/>" in dom.xml()
    assert guest.DISK_MARKER.encode() not in first_sector(base, root)
    snap.delete()  # the chain QEMU opened is found, the overlay committed and dropped
    assert not overlay.exists() and dom.state_reason()[0] == DomainState.RUNNING
    assert f"<source file='{base}'/>" in dom.xml()
    assert f"<source file='{base}'/>" in dom.xml(2)
    dom.destroy()
    assert guest.DISK_MARKER.encode() in first_sector(base, root)

    # libvirt 9.0 refuses to delete an external snapshot above an internal one
    dom.create_snapshot("<domainsnapshot><name>i1</name></domainsnapshot>")
    ext = dom.create_snapshot("<domainsnapshot><name>e2</name></domainsnapshot>", 16)
    assert ext.parent().name == "i1"
    with pytest.raises(VirtError) as exc:
        ext.delete()
    assert exc.value.code == ErrorCode.OPERATION_UNSUPPORTED
    assert ("deleting external snapshot that has internal snapshot as parent not supported"
            in str(exc.value))
    ext.delete(2)  # METADATA_ONLY: the overlay stays, the domain still uses it
    assert (root / "vm1.e2").exists() and [s.name for s in dom.list_snapshots()] == ["i1"]


def test_disk_only_snapshot_is_all_or_nothing(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    base = guest.copy_disk(root / "vm1.qcow2")
    data = root / "data.raw"
    subprocess.run(["qemu-img", "create", "-f", "raw", str(data), "16M"], check=True,
                   capture_output=True)
    extra = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source "
             f"file='{data}'/><target dev='vdb' bus='virtio'/></disk>")
    dom = conn.define_domain(domain_xml(guest, root, "vm1", disk=base, extra_devices=extra))
    dom.start()
    before = dom.xml()
    with pytest.raises(VirtError) as exc:  # the second overlay cannot be created
        dom.create_snapshot(
            "<domainsnapshot><name>bad</name><disks>"
            f"<disk name='vda' snapshot='external'><source file='{root}/a.qcow2'/></disk>"
            f"<disk name='vdb' snapshot='external'><source file='{root}/no/b.qcow2'/></disk>"
            "</disks></domainsnapshot>", 16 | 128)
    assert "qemu-img" in str(exc.value)
    assert not (root / "a.qcow2").exists() and dom.xml() == before
    assert dom.snapshot_count() == 0

    # a disk with snapshot='no' is left alone; a raw disk takes a qcow2 overlay
    snap = dom.create_snapshot("<domainsnapshot><name>n</name><disks><disk name='vdb' "
                               "snapshot='no'/></disks></domainsnapshot>", 16)
    assert "<disk name='vdb' snapshot='no'/>" in snap.xml()
    assert (root / "vm1.n").exists() and not (root / "data.n").exists()
    live = dom.xml()
    # libvirt numbers block nodes from the last disk: vdb is 1, vda 2, new overlays 3, 4
    assert f"<source file='{data}' index='1'/>" in live and f"<source file='{root}/vm1.n'" in live
    snap2 = dom.create_snapshot("<domainsnapshot><name>r</name><disks><disk name='vda' "
                                "snapshot='no'/></disks></domainsnapshot>", 16)
    assert backing_chain(root / "data.r") == [(str(root / "data.r"), "qcow2"),
                                              (str(data), "raw")]
    assert (f"<backingStore type='file' index='1'>\n        <format type='raw'/>\n"
            f"        <source file='{data}'/>") in dom.xml()
    snap2.delete()
    assert not (root / "data.r").exists() and f"<source file='{data}' index='1'/>" in dom.xml()
    dom.destroy()
