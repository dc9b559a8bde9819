"""virt-manager 4.1's details pages drive a running virtkitd guest: Add Hardware > Storage
(a new qcow2 disk hot-plugged, then removed with its volume), CD-ROM media (a path typed in
"Source path", then cleared: ``virDomainUpdateDeviceFlags``), the NIC's "Link state" (and
the issue's bug: a VM whose saved link is down must start again, link still down), the
Overview's title and description (``virDomainSetMetadata``) and the Snapshots view
(create, run, delete an internal snapshot). Every effect is checked through virtkit's API
(live and config XML, the storage pool, the snapshot list), not only in the window, and
where the test guest can see it, in the guest too (its serial-console shell, through a
forced console stream: the new disk's size in /sys/block, the NIC's carrier, a file in
/tmp that the snapshot's revert brings back). The guest has no SATA/CD driver, so the
CD-ROM media is checked in the XML only.

One virtkitd and one virt-manager session for the module (src/virtkit/testing/
virtmanager.py: Xvfb, a private session bus with AT-SPI, virt-manager in a mount namespace
where virtkitd's socket directory is /run/libvirt, a dogtail driver). The guest is the test
guest (tests/drivers/qemu/qemu_e2e.py) under TCG on q35, with a qcow2 data disk (internal
snapshots need one), a SATA CD-ROM, a user-mode NIC and free ``pcie-root-port``s (pcie.0
does not hot-plug; virt-manager's own q35 guests get spare root ports the same way). The
"default" storage pool is a directory in the test's root, so Add Hardware creates its
volume there. Packages: ``make sysdeps`` (scripts/sysdeps.py); confirmations are turned
off by the session's settings, except those virt-manager always asks (disk removal,
running a snapshot, deleting one).

Buttons that open a modal question (run or delete a snapshot) are clicked with the mouse:
through their accessible action the call would wait in the dialog's nested main loop and
virt-manager would stop answering the accessibility bus.

The tests do not depend on their order (pytest-randomly): each sets what it needs and puts
the guest back as it found it. A failure names a screenshot (the session's ``shots``,
where the logs are copied at the end).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.constants import (
    DomainConsoleFlags,
    DomainMetadataType,
    DomainModificationImpact,
    DomainState,
    DomainXMLFlags,
)
from virtkit.errors import ErrorCode, VirtError
from virtkit.testing.peers import start_virtkitd
from virtkit.testing.virtmanager import UIError, VirtManagerSession

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "drivers" / "qemu"))
import qemu_e2e  # type: ignore[import-not-found]  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.interop]  # make test installs the packages

NAME = "guest"
GUARD = 120.0  # hang guard for one effect (TCG guests, a busy 2-core machine)
LIVE = DomainModificationImpact.LIVE
CONFIG = DomainModificationImpact.CONFIG
INACTIVE = DomainXMLFlags.INACTIVE
# the questions these tests do not answer (the harness's defaults too, kept explicit)
SETTINGS = {"org/virt-manager/virt-manager/confirm": {
    "removedev": "false", "delete-storage": "false", "unapplied-dev": "false"}}

# Snippet helpers for the dogtail driver (prepended to each snippet): the VM's window is
# found by its suffix, since a title renames it ("TITLE on QEMU/KVM").
_HELPERS = r'''
def vmwin():
    return window(name_re=r' on QEMU/KVM$')

def hw(name_re):
    """Select a row of the details page's hardware list (the mouse: rows only activate)."""
    table = find('table', 'hw-list', parent=vmwin())
    return mouse_click(node=find('table cell', name_re=name_re, parent=table))

def labelled(label, parent=None):
    """The widget a showing label names (its mnemonic target)."""
    return find('label', label, parent=parent or vmwin()).labelee

def alerts():
    return [all_text(w) for w in app().children if w.roleName == 'alert' and w.showing]
'''


@dataclass
class Node:
    conn: Any
    ui: VirtManagerSession
    root: Path
    pool_dir: Path
    data_disk: Path
    iso: Path
    seq: int = 0

    @property
    def dom(self) -> Any:
        return self.conn.lookup_domain(NAME)

    def xml(self, flags: int = 0) -> str:
        return str(self.dom.xml(flags))

    def run(self, code: str, **args: Any) -> Any:
        """Run a snippet (with the helpers above) in the dogtail driver; a failure fails
        the test with a screenshot."""
        try:
            return self.ui.ui(_HELPERS + code, args=args)
        except UIError as exc:
            detail = str(exc).split(" failed in the UI driver:", 1)[-1]
            self.fail("ui", f"UI snippet {code!r} failed: {detail}")

    def fail(self, name: str, message: str) -> None:
        """Fail with virt-manager's error dialogs (if any), a screenshot and the logs."""
        with contextlib.suppress(UIError):
            alerts = self.ui.ui(_HELPERS + "alerts()")
            if alerts:
                message += f"\nvirt-manager's error dialogs: {alerts}"
        self.ui.fail(name, f"{message}\n(the logs are copied to {self.ui.shots} at the end)")

    def await_api(self, name: str, what: str, pred: Callable[[], bool]) -> None:
        """Poll virtkit's API until ``pred()`` (a hang guard); fail early on an error dialog."""
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline:
            if pred():
                return
            if self.run("alerts()"):
                break
            time.sleep(0.25)
        self.fail(name, f"virtkit never showed {what}\nlive XML:\n{self.xml()}")

    def forget_console(self) -> None:
        """Remove the (shut off) guest's console log, so :meth:`wait_booted` sees the next
        boot (QEMU truncates it anyway: ``logappend=off``)."""
        qemu_e2e.console_log(self.root, NAME).unlink(missing_ok=True)

    def wait_booted(self) -> None:
        qemu_e2e.wait_marker(qemu_e2e.console_log(self.root, NAME),
                             qemu_e2e.tg.READY_MARKER, timeout=GUARD)

    def guest_run(self, command: str) -> str:
        """Run ``command`` in the guest's serial-console shell (a forced console stream:
        virt-manager's own lets go); its output, read back from the console log."""
        self.seq += 1
        con = self.dom.open_console(None, DomainConsoleFlags.FORCE)
        try:  # the shell expands the tag, so the echoed command line never matches
            # (its output on one line: its newlines become spaces)
            con.send(f"echo \"VK$(({self.seq}))=$({command} | tr '\\n' ' ')\"\r".encode())
            log = qemu_e2e.console_log(self.root, NAME)
            qemu_e2e.wait_marker(log, f"VK{self.seq}=", timeout=GUARD)
        finally:
            con.abort()
        found = re.search(rf"VK{self.seq}=(.*)", log.read_text(errors="replace"))
        assert found is not None
        return found.group(1).strip()

    def guest_until(self, command: str, pred: Callable[[str], bool], what: str) -> str:
        """:meth:`guest_run` until ``pred(output)`` (a hang guard: the guest's own pace)."""
        deadline = time.monotonic() + GUARD
        while True:
            out = self.guest_run(command)
            if pred(out):
                return out
            if time.monotonic() > deadline:
                self.fail("guest", f"the guest never showed {what}: {command!r} says {out!r}")
            time.sleep(0.5)

    def details(self) -> None:
        """The VM's window on its Details view (opened from the manager's list if needed)."""
        if not self.run("bool([w for w in app().children if w.name.endswith(' on QEMU/KVM')])"):
            self.ui.double_click("table cell", name_re=rf"^{NAME}\n",
                                 window="Virtual Machine Manager")
        self.run("click('radio button', 'Details', parent=vmwin())")
        self.run("find('table', 'hw-list', parent=vmwin())")

    def apply(self) -> None:
        self.run("click('push button', 'config-apply', parent=vmwin())")


def _devices(xml: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}\b.*?</{tag}>", xml, re.S)


def _disk(xml: str, target: str) -> str | None:
    found = [d for d in _devices(xml, "disk") if f"dev='{target}'" in d]
    return found[0] if found else None


def _link_down(xml: str) -> bool:
    return "<link state='down'/>" in _devices(xml, "interface")[0]


def _make_iso(root: Path) -> Path:
    """A small ISO 9660 image (xorriso), or a plain file where xorriso is missing."""
    iso = root / "media.iso"
    src = root / "iso-content"
    src.mkdir()
    (src / "README.TXT").write_text("virtkit media\n")
    if shutil.which("xorriso"):
        subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", "VIRTKIT", "-o", str(iso),
                        str(src)], check=True, capture_output=True, timeout=60)
    else:
        iso.write_bytes(b"\0" * (1 << 20))
    return iso


def _guest_xml(root: Path, data_disk: Path) -> str:
    devices = (
        f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{data_disk}'/><target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
        "<target dev='sda' bus='sata'/><readonly/></disk>"
        + "<controller type='pci' model='pcie-root-port'/>" * 3)
    guest = qemu_e2e.tg.ensure_guest()
    return str(qemu_e2e.domain_xml(guest, root, NAME, memory_mib=192, extra_devices=devices))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    # a short root: QEMU's QMP socket path must stay under 108 bytes
    root = Path(tempfile.mkdtemp(prefix="vkvmd", dir="/tmp"))
    shots = tmp_path_factory.mktemp("virt-manager-details-shots")
    conn: Any = None
    left: list[int] = []
    try:
        daemon = start_virtkitd(root / "d")
        try:
            conn = virtkit.open(daemon.uri("unix", "/system", "qemu"))
            pool_dir = root / "images"
            pool_dir.mkdir()
            pool = conn.define_storage_pool(
                "<pool type='dir'><name>default</name>"
                f"<target><path>{pool_dir}</path></target></pool>")
            pool.start()
            data_disk = pool_dir / "data.qcow2"
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(data_disk), "32M"],
                           check=True, timeout=60)
            iso = _make_iso(root)
            conn.define_domain(_guest_xml(root, data_disk))
            conn.lookup_domain(NAME).start()
            with VirtManagerSession(root / "vm", root / "d" / "run" / "libvirt",
                                    settings=SETTINGS, shots=shots) as session:
                n = Node(conn, session, root, pool_dir, data_disk, iso)
                n.wait_booted()
                n.details()
                yield n
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    for dom in conn.list_domains():
                        if dom.is_active():
                            dom.destroy()
                conn.close()
            daemon.stop()
    finally:
        # the logs outlive the root, beside the screenshots
        for log in [root / "d" / "virtkitd.log", *(root / "vm").glob("*.log")]:
            with contextlib.suppress(OSError):
                shutil.copyfile(log, shots / log.name)
        left = qemu_e2e.qemu_pids(str(root))
        for pid in left:  # guests of this root only, by pid
            qemu_e2e.kill_pid(pid)
            qemu_e2e.wait_gone(pid, 10)
        shutil.rmtree(root, ignore_errors=True)
    assert not left, f"QEMU left running under {root}: {left}"


@pytest.fixture()
def vm(node: Node) -> Node:
    """The guest running and booted, its window on the Details view."""
    if node.dom.state != DomainState.RUNNING:
        if node.dom.is_active():  # paused, say
            node.dom.destroy()
        node.forget_console()
        node.dom.start()
        node.wait_booted()
    node.details()
    return node


def test_add_storage_hotplugs_a_qcow2_disk_and_remove_deletes_it(vm: Node) -> None:
    vm.run("click('push button', 'add-hardware', parent=vmwin())")
    vm.run("dlg = window('Add New Virtual Hardware')\n"
           "mouse_click(node=find('table cell', 'Storage', parent=dlg))\n"
           "find('radio button', 'Create a disk image for the virtual machine', parent=dlg)"
           ".checked or click('radio button', 'Create a disk image for the virtual machine',"
           " parent=dlg)\n"
           "find('spin button', parent=dlg).value = 0.1\n"
           "click('push button', 'Finish', parent=dlg)")
    vm.await_api("add-disk", "vdb in the live and config XML",
                 lambda: _disk(vm.xml(), "vdb") is not None
                 and _disk(vm.xml(INACTIVE), "vdb") is not None)
    volume = vm.conn.lookup_storage_pool("default").lookup_volume(f"{NAME}.qcow2")
    path = vm.pool_dir / f"{NAME}.qcow2"
    for xml in (vm.xml(), vm.xml(INACTIVE)):
        disk = _disk(xml, "vdb")
        assert disk is not None
        assert f"<source file='{path}'" in disk, disk
        assert "type='qcow2'" in disk and "bus='virtio'" in disk, disk
    assert "<alias name='virtio-disk1'/>" in str(_disk(vm.xml(), "vdb"))
    assert volume.path() == str(path)
    assert "<format type='qcow2'/>" in volume.xml()
    info = json.loads(subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", str(path)], capture_output=True, text=True,
        check=True, timeout=60).stdout)
    assert info["format"] == "qcow2" and info["format-specific"]["data"]["lazy-refcounts"], info
    capacity = volume.info().capacity
    assert 0.09 * 2**30 <= capacity <= 0.11 * 2**30, volume.info()
    vm.guest_until("cat /sys/block/vdb/size 2>/dev/null", lambda out: out == str(capacity // 512),
                   "the new disk (vdb) with the volume's size")

    vm.details()
    vm.run("hw('^VirtIO Disk 2$')\nclick('push button', 'config-remove', parent=vmwin())")
    vm.run("dlg = window('Remove Disk Device')\n"
           "box = find('check box', 'Delete associated storage files', parent=dlg)\n"
           "box.checked or click(node=box)\n"
           "click('push button', 'Delete', parent=dlg)")
    vm.await_api("remove-disk", "vdb gone from the live and config XML and its volume deleted",
                 lambda: _disk(vm.xml(), "vdb") is None
                 and _disk(vm.xml(INACTIVE), "vdb") is None and not path.exists())
    disks = vm.guest_run("ls /sys/block").split()
    assert "vda" in disks and "vdb" not in disks, disks  # the guest let it go
    pool = vm.conn.lookup_storage_pool("default")
    pool.refresh()
    assert f"{NAME}.qcow2" not in [v.name for v in pool.list_volumes()]
    assert vm.dom.state == DomainState.RUNNING


def test_cdrom_media_connect_and_eject_live(vm: Node) -> None:
    def source(flags: int) -> str:
        disk = _disk(vm.xml(flags), "sda")
        assert disk is not None and "device='cdrom'" in disk, disk
        return disk

    vm.run("hw('^SATA CDROM 1$')\n"
           "find('text', 'media-entry', parent=vmwin()).text = path", path=str(vm.iso))
    vm.apply()
    vm.await_api("cdrom-connect", "the ISO in the CD-ROM, live and config",
                 lambda: f"<source file='{vm.iso}'" in source(0)
                 and f"<source file='{vm.iso}'" in source(INACTIVE))
    assert "<alias name='sata0-0-0'/>" in source(0)  # changed in place, not re-plugged

    vm.details()
    vm.run("hw('^SATA CDROM 1$')\nfind('text', 'media-entry', parent=vmwin()).text = ''")
    vm.apply()
    vm.await_api("cdrom-eject", "the CD-ROM empty, live and config",
                 lambda: "file=" not in source(0) and "file=" not in source(INACTIVE))
    assert vm.dom.state == DomainState.RUNNING


def _set_link(vm: Node, up: bool) -> None:
    vm.details()
    vm.run("hw('^NIC ')\n"
           "box = labelled('Link state:')\n"
           "box.checked == up or click(node=box)", up=up)
    vm.apply()
    vm.await_api(f"link-{'up' if up else 'down'}", f"link {'up' if up else 'down'}, live and "
                 "config", lambda: _link_down(vm.xml()) != up
                 and _link_down(vm.xml(INACTIVE)) != up)


def _carrier(vm: Node) -> str:
    """The guest's view of its NIC's link (virtio-net reports the link status)."""
    return vm.guest_run("cat /sys/class/net/eth0/carrier")


def test_link_state_live_and_the_vm_starts_again_with_link_down(vm: Node) -> None:
    _set_link(vm, up=False)
    assert _carrier(vm) == "0"
    _set_link(vm, up=True)
    assert _carrier(vm) == "1"
    _set_link(vm, up=False)

    # the bug: a saved link state made the VM unstartable
    vm.dom.destroy()
    vm.forget_console()
    vm.details()
    vm.await_api("run-sensitive", "the Run button enabled (the VM off)",
                 lambda: bool(vm.run("find('push button', 'Run', parent=vmwin()).sensitive")))
    vm.run("click('push button', 'Run', parent=vmwin())")
    vm.await_api("link-down-start", "the VM running again",
                 lambda: vm.dom.state == DomainState.RUNNING)
    assert _link_down(vm.xml()), vm.xml()
    assert _link_down(vm.xml(INACTIVE))
    vm.wait_booted()
    assert _carrier(vm) == "0"  # QEMU started with the link down

    _set_link(vm, up=True)  # as the other tests expect it


def _metadata(vm: Node, kind: DomainMetadataType, flags: int) -> str | None:
    """The title/description, or None when the domain has none."""
    try:
        return str(vm.dom.metadata(kind, None, flags))
    except VirtError as exc:
        if exc.code != ErrorCode.NO_DOMAIN_METADATA:
            raise
        return None


def test_overview_title_and_description_live_and_config(vm: Node) -> None:
    title, description = "Web shop", "Runs the shop\nsecond line"
    vm.run("hw('^Overview$')\n"
           "labelled('Title:').text = title\n"
           "labelled('Description:').text = description",
           title=title, description=description)
    vm.apply()
    vm.await_api("title", "the title and description, live and config", lambda: all(
        _metadata(vm, DomainMetadataType.TITLE, f) == title
        and _metadata(vm, DomainMetadataType.DESCRIPTION, f) == description
        for f in (LIVE, CONFIG)))
    vm.run("window(name, timeout=60)", name=f"{title} on QEMU/KVM")  # the window's new name

    for kind in (DomainMetadataType.TITLE, DomainMetadataType.DESCRIPTION):
        vm.dom.set_metadata(kind, None, None, None, LIVE | CONFIG)


def _snapshot_cell(vm: Node, name: str) -> None:
    vm.run("mouse_click(node=find('table cell', name_re='^' + name + '\\n',"
           " parent=find('table', 'snapshot-list', parent=vmwin())))", name=name)


def _answer_yes(vm: Node, question: str) -> None:
    """Answer a modal question. The button that opened it was clicked with the mouse: its
    accessible action would wait in the dialog's nested main loop, and with it every
    other accessibility call to virt-manager."""
    vm.run("dlg = find('alert', parent=app())\n"
           "assert question in all_text(dlg), all_text(dlg)\n"
           "click('push button', 'Yes', parent=dlg)", question=question)


def _qcow2_snapshots(path: Path) -> str:
    done = subprocess.run(["qemu-img", "snapshot", "-U", "-l", str(path)], capture_output=True,
                          text=True, check=True, timeout=60)
    return done.stdout


def test_snapshot_create_run_and_delete(vm: Node) -> None:
    snap = "ui-snap"
    vm.dom.set_metadata(DomainMetadataType.TITLE, "before the snapshot", None, None,
                        LIVE | CONFIG)
    assert vm.guest_run("echo before > /tmp/state; cat /tmp/state") == "before"
    vm.run("click('radio button', 'Snapshots', parent=vmwin())\n"
           "click('push button', 'snapshot-add', parent=vmwin())\n"
           "dlg = window('Create snapshot')\n"
           "labelled('Name:', dlg).text = snap\n"
           "labelled('Description:', dlg).text = 'made by virt-manager'\n"
           "click('push button', 'Finish', parent=dlg)", snap=snap)
    vm.await_api("snapshot-create", f"snapshot {snap}",
                 lambda: [s.name for s in vm.dom.list_snapshots()] == [snap])
    xml = vm.dom.lookup_snapshot(snap).xml()
    assert "<state>running</state>" in xml and "<memory snapshot='internal'/>" in xml, xml
    assert "<description>made by virt-manager</description>" in xml, xml
    assert re.search(r"<disk name='vda' snapshot='internal'/>", xml), xml
    assert snap in _qcow2_snapshots(vm.data_disk)

    vm.dom.set_metadata(DomainMetadataType.TITLE, "after the snapshot", None, None,
                        LIVE | CONFIG)
    assert vm.guest_run("echo after > /tmp/state; cat /tmp/state") == "after"
    _snapshot_cell(vm, snap)
    vm.run("mouse_click('push button', 'snapshot-start', parent=vmwin())")  # opens a modal dialog
    _answer_yes(vm, f"run the snapshot '{snap}'")

    def reverted() -> bool:
        # the revert runs a new QEMU from the snapshot (as libvirt does): the domain is
        # shut off for a moment on the way
        try:
            return (_metadata(vm, DomainMetadataType.TITLE, LIVE) == "before the snapshot"
                    and vm.dom.state == DomainState.RUNNING)
        except VirtError as exc:
            if exc.code != ErrorCode.OPERATION_INVALID:
                raise
            return False

    vm.await_api("snapshot-revert", "the snapshot's title back and the VM running", reverted)
    assert vm.dom.current_snapshot().name == snap
    assert vm.guest_run("cat /tmp/state") == "before"  # the guest's memory went back too

    vm.run("click('radio button', 'Snapshots', parent=vmwin())")
    _snapshot_cell(vm, snap)
    vm.run("mouse_click('push button', 'snapshot-delete', parent=vmwin())")  # opens a modal dialog
    _answer_yes(vm, "delete the selected snapshots")
    vm.await_api("snapshot-delete", "no snapshot left", lambda: not vm.dom.list_snapshots())
    assert snap not in _qcow2_snapshots(vm.data_disk)
    assert not vm.dom.has_current_snapshot()

    vm.dom.set_metadata(DomainMetadataType.TITLE, None, None, None, LIVE | CONFIG)
