"""virt-manager 4.1's New VM wizard with its defaults creates and boots a guest on a virtkitd
node (issue 18: "Begin Installation" used to fail on ``tlsPort``).

File > New Virtual Machine, "Manual install", OS "Generic Linux 2022", 256 MiB and 1 CPU,
the default storage (a new qcow2 volume in the "default" pool, which virt-manager itself
creates at /var/lib/libvirt/images when it connects and finds none), "Customize
configuration before install", then "Begin Installation". Everything else is the wizard's
default for this QEMU: SPICE graphics (``port``/``tlsPort`` -1, autoport), a spicevmc
channel, ich9 sound, virtio video, two USB redirectors (spicevmc), a guest-agent channel,
tablet, RNG, qemu-xhci and pcie-root-ports.

Three things are changed in the customize dialog, each because of this machine, not of the
wizard:

- the XML tab switches ``<domain type="kvm">`` to ``"qemu"`` and drops ``<cpu
  mode="host-passthrough"/>``: this host has /dev/kvm, so the wizard (as against libvirtd
  9.0) picks KVM, whose guests cannot run here (QEMU aborts setting an MSR); TCG it is;
- the same edit makes the NIC user-mode networking: the node has no "default" network (a
  real one would put a bridge and dnsmasq on the host), so the wizard offers only an empty
  "Bridge device...";
- Boot Options > Direct kernel boot gets the test guest's kernel, initrd and arguments
  (tests/drivers/qemu/qemu_e2e.py): it is a kernel + initramfs, not an installer.

Checked through virtkit's API: the domain runs with the wizard's devices, the guest boots
(its shell answers on the serial console, its agent answers on the wizard's channel), the
pool and the volume exist; and in virt-manager the SPICE console shows the guest's screen
(``virDomainOpenGraphicsFD``: a unix socket pair to QEMU; no "Viewer was disconnected").

The volume is deleted at the end (through the API, then by path if that failed): the test
leaves nothing in /var/lib/libvirt/images (and removes that directory if it made it).
One virtkitd and one virt-manager session for the module (src/virtkit/testing/
virtmanager.py); the wizard runs once, in a module fixture, and each test checks one
outcome. A failure names a screenshot.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.constants import DomainState, DomainXMLFlags
from virtkit.drivers.qemu.agent import AGENT_CHANNEL, GuestAgent
from virtkit.streams import recv_all
from virtkit.testing.peers import start_virtkitd
from virtkit.testing.virtmanager import (
    VirtManagerSession,
    decode_image,
    lit_pixels,
    unix_socket_pairs,
)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "drivers" / "qemu"))
import qemu_e2e  # type: ignore[import-not-found]  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.interop]  # make test installs the packages

MANAGER = "Virtual Machine Manager"
WIZARD = "New VM"
IMAGES = Path("/var/lib/libvirt/images")  # virt-manager's default pool on qemu:///system
OS_ROW = "Generic Linux 2022 (linux2022)"
MEMORY_MIB = 256
GUARD = 120.0  # hang guard for one effect (TCG guests, GUIs, a busy 2-core machine)
BOOT_GUARD = 120.0  # the guest's boot under TCG while the GUIs share the two cores
XML_EDITOR = {"org/virt-manager/virt-manager": {"xmleditor-enabled": "true"}}  # the XML tab


@dataclass
class Created:
    """The guest the wizard made, and what to check it with."""

    name: str
    conn: Any
    session: VirtManagerSession
    root: Path
    wizard_xml: str  # the XML virt-manager showed before "Begin Installation"

    @property
    def window(self) -> str:
        return f"{self.name} on QEMU/KVM"

    @property
    def volume(self) -> Path:
        return IMAGES / f"{self.name}.qcow2"

    def dom(self) -> Any:
        return self.conn.lookup_domain(self.name)


# ----------------------------------------------------------------------------- the wizard


def _ui(s: VirtManagerSession, code: str, **args: Any) -> Any:
    return s.ui(code, args=args)


def _open_wizard(s: VirtManagerSession) -> None:
    """File > New Virtual Machine in the manager window."""
    _ui(s, "click(node=find('menu', 'File', parent=M))\n"
           "click(node=find('menu item', 'New Virtual Machine', parent=M, showing=False))",
        M=MANAGER)
    if not s.wait_showing("radio button", "Manual install", window=WIZARD, timeout=GUARD):
        s.fail("wizard-open", "the New VM wizard did not open")


def _forward(s: VirtManagerSession, step: int) -> None:
    s.click("push button", "Forward", window=WIZARD)
    if s.find_text(rf"^Step {step} of 5$", window=WIZARD, timeout=GUARD) is None:
        s.fail(f"wizard-step{step}", f"the wizard did not reach step {step}")


def _run_wizard(s: VirtManagerSession, name: str) -> None:
    """Steps 1-5 with the defaults, the name, memory and "Customize ... before install"."""
    _open_wizard(s)
    s.click("radio button", "Manual install", window=WIZARD)
    _forward(s, 2)
    # the OS: type into the search entry, pick the row from its popover
    _ui(s, "mouse_click(node=find('text', 'oslist-entry', parent=W))", W=WIZARD)
    s.type_text("generic")
    _ui(s, "mouse_click(node=find('table cell', row, parent=W))", W=WIZARD, row=OS_ROW)
    chosen = _ui(s, "text(find('text', 'oslist-entry', parent=W))", W=WIZARD)
    if chosen != "Generic Linux 2022":
        s.fail("wizard-os", f"the OS entry shows {chosen!r}")
    _forward(s, 3)
    # memory (the unnamed spin button) and CPUs; the rest of the wizard stays as it is
    _ui(s, "spins = [n for n in find_all('spin button', parent=W) if n.name != 'cpus']\n"
           "spins[0].value = mem\n"
           "find('spin button', 'cpus', parent=W).value = 1", W=WIZARD, mem=MEMORY_MIB)
    _forward(s, 4)
    if not s.exists("radio button", "Create a disk image for the virtual machine",
                    window=WIZARD):
        s.fail("wizard-storage", "no default disk image offered")
    _forward(s, 5)
    _ui(s, "entry = [n for n in find_all('text', parent=W) if text(n) == 'linux2022'][0]\n"
           "entry.text = name\n"
           "click(node=find('check box', 'Customize configuration before install', parent=W))",
        W=WIZARD, name=name)
    summary = s.all_text(WIZARD)
    if f"{IMAGES}/{name}.qcow2" not in summary or f"{MEMORY_MIB} MiB" not in summary:
        s.fail("wizard-summary", f"the last page does not show the default disk:\n{summary}")
    s.click("push button", "Finish", window=WIZARD)
    if not s.wait_showing("push button", "Begin Installation", window=f"{name} on QEMU/KVM",
                          timeout=GUARD):
        s.fail("wizard-customize", "the customize dialog did not open")


def _edit_xml(s: VirtManagerSession, window: str) -> str:
    """The customize dialog's XML tab: TCG, no host CPU, user-mode NIC; Apply. The XML
    the wizard generated (before the edit)."""
    _ui(s, "mouse_click(node=find('table cell', 'Overview', parent=W))\n"
           "click(node=find('page tab', 'XML', parent=W))", W=window)
    generated = str(_ui(s, "text(find('text', 'XML editor', parent=W))", W=window))
    edits = {'<domain type="kvm">': '<domain type="qemu">',
             '  <cpu mode="host-passthrough"/>\n': "",
             '<interface type="bridge">': '<interface type="user">'}
    edited = generated
    for old, new in edits.items():
        if old not in edited:
            s.fail("customize-xml", f"the wizard's XML has no {old.strip()!r}:\n{generated}")
        edited = edited.replace(old, new, 1)
    _ui(s, "find('text', 'XML editor', parent=W).text = xml\n"
           "click(node=find('push button', 'config-apply', parent=W))", W=window, xml=edited)
    shown = str(_ui(s, "text(find('text', 'XML editor', parent=W))", W=window))
    if '<domain type="qemu">' not in shown or "host-passthrough" in shown:
        s.fail("customize-xml-applied", f"the edit did not apply:\n{shown}")
    return generated


def _direct_kernel_boot(s: VirtManagerSession, window: str, guest: Any) -> None:
    """Boot Options > Direct kernel boot: the test guest's kernel, initrd and arguments."""
    _ui(s, "mouse_click(node=find('table cell', 'Boot Options', parent=W))\n"
           "click(node=find('page tab', 'Details', parent=W))\n"
           "if not exists('check box', 'Enable direct kernel boot', parent=W):\n"
           "    find('toggle button', 'Direct kernel boot', parent=W).doActionNamed('activate')\n"
           "box = find('check box', 'Enable direct kernel boot', parent=W)\n"
           "if not box.checked:\n"
           "    click(node=box)\n"
           "def beside(role, name):\n"
           "    node = find(role, name, parent=W, showing=False)\n"
           "    return [c for c in node.parent.children if c.roleName == 'text'][0]\n"
           "beside('push button', 'kernel-browse').text = kernel\n"
           "beside('push button', 'initrd-browse').text = initrd\n"
           "beside('label', 'Kernel args:').text = args\n"
           "click(node=find('push button', 'config-apply', parent=W))",
        W=window, kernel=str(guest.kernel), initrd=str(guest.initrd), args=guest.cmdline)
    _ui(s, "mouse_click(node=find('table cell', 'Overview', parent=W))\n"
           "click(node=find('page tab', 'XML', parent=W))", W=window)
    shown = str(_ui(s, "text(find('text', 'XML editor', parent=W))", W=window))
    if f"<kernel>{guest.kernel}</kernel>" not in shown or guest.cmdline not in shown:
        s.fail("customize-boot", f"direct kernel boot did not apply:\n{shown}")


def _alerts(s: VirtManagerSession) -> list[str]:
    """The texts of virt-manager's error dialogs on screen (the issue's bug showed one)."""
    return [str(t) for t in _ui(s, "[all_text(w) for w in app().children "
                                   "if w.roleName == 'alert' and w.showing]")]


def _begin(s: VirtManagerSession, conn: Any, window: str, name: str) -> None:
    s.click("push button", "Begin Installation", window=window)
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline:
        with contextlib.suppress(virtkit.VirtError):
            if conn.lookup_domain(name).state == DomainState.RUNNING:
                return
        alerts = _alerts(s)
        if alerts:
            s.fail("begin-installation", f"Begin Installation failed: {alerts}")
        time.sleep(0.5)
    s.fail("begin-installation", f"{name} is not running after Begin Installation")


# ----------------------------------------------------------------------------- fixture


def _cleanup_volume(conn: Any, path: Path) -> None:
    """Delete the wizard's volume through the API; by path if that failed."""
    with contextlib.suppress(Exception):
        conn.lookup_storage_volume_by_path(str(path)).delete()
    if path.exists():
        path.unlink()


@pytest.fixture(scope="module")
def created(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Created]:
    # a short root: QEMU's QMP socket path must stay under 108 bytes
    root = Path(tempfile.mkdtemp(prefix="vkwz", dir="/tmp"))
    shots = tmp_path_factory.mktemp("virt-manager-wizard")
    name = f"vkwizard-{secrets.token_hex(3)}"
    images_existed = IMAGES.is_dir()
    volume = IMAGES / f"{name}.qcow2"
    guest = qemu_e2e.tg.ensure_guest()
    daemon = start_virtkitd(root / "d")
    conn: Any = None
    session = VirtManagerSession(root / "gui", root / "d" / "run" / "libvirt", shots=shots,
                                 settings=XML_EDITOR)
    try:
        conn = virtkit.open(daemon.uri("unix", "/system", "qemu"))
        session.start()
        _run_wizard(session, name)
        window = f"{name} on QEMU/KVM"
        generated = _edit_xml(session, window)
        _direct_kernel_boot(session, window, guest)
        _begin(session, conn, window, name)
        yield Created(name, conn, session, root, generated)
    finally:
        for log in (session.log("virt-manager"), session.log("driver"), daemon.log):
            with contextlib.suppress(OSError):
                shutil.copyfile(log, shots / log.name)
        session.stop()
        if conn is not None:
            with contextlib.suppress(Exception):
                for dom in conn.list_domains():
                    if dom.is_active():
                        dom.destroy()
            _cleanup_volume(conn, volume)
            conn.close()
        daemon.stop()
        left = qemu_e2e.qemu_pids(str(root))
        for pid in left:  # guests of this root only, by pid
            os.kill(pid, signal.SIGKILL)
        if volume.exists():
            volume.unlink()
        if not images_existed:
            with contextlib.suppress(OSError):
                IMAGES.rmdir()  # made by the pool's build; empty again
        shutil.rmtree(root, ignore_errors=True)
    assert not left, f"QEMU left running under {root}: {left}"


# ----------------------------------------------------------------------------- helpers


def _devices(xml: str) -> ET.Element:
    devices = ET.fromstring(xml).find("devices")
    assert devices is not None
    return devices


def _attr(element: ET.Element, path: str, attr: str) -> str | None:
    """``attr`` of the first ``path`` below ``element`` (None when either is missing)."""
    found = element.find(path)
    return None if found is None else found.get(attr)


class _Console:
    """The guest's serial console through ``virDomainOpenConsole``, read by a thread.

    The reader thread also aborts the stream (woken by a keystroke): virtkit's remote
    stream hands the server's abort confirmation to whichever thread reads its queue, so
    an abort from another thread while ``recv()`` waits could wait for it forever."""

    def __init__(self, dom: Any) -> None:
        self.stream = dom.open_console()
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        while True:
            try:
                data = self.stream.recv(4096)
            except (OSError, virtkit.VirtError):
                return
            if not data:
                return
            with self.lock:
                self.buf.extend(data)
            if self.closing.is_set():
                with contextlib.suppress(OSError, virtkit.VirtError):
                    self.stream.abort()
                return

    def text(self) -> str:
        with self.lock:
            return bytes(self.buf).decode(errors="replace")

    def close(self) -> None:
        self.closing.set()
        deadline = time.monotonic() + GUARD
        while self.reader.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(OSError, virtkit.VirtError):
                self.stream.send(b"\r")  # the guest echoes it: the reader wakes up
            self.reader.join(1)
        assert not self.reader.is_alive(), "the console stream did not close"


# ----------------------------------------------------------------------------- tests


def test_the_wizard_defaults_are_what_it_generated(created: Created) -> None:
    """virtkitd's capabilities lead the wizard to the defaults the issue names (the bug's
    ``tlsPort`` among them), so the run exercises them. (libvirtd 9.0's lead it to the same
    XML, but for the UUID and MAC: compared by running this wizard against both.)"""
    devices = _devices(created.wizard_xml)
    graphics = devices.find("graphics")
    assert graphics is not None and graphics.get("type") == "spice"
    assert graphics.get("tlsPort") == "-1" and graphics.get("autoport") == "yes"
    assert [c.get("type") for c in devices.findall("channel")] == ["unix", "spicevmc"]
    assert devices.find("sound") is not None
    assert [r.get("type") for r in devices.findall("redirdev")] == ["spicevmc", "spicevmc"]
    assert devices.find("video/model") is not None


def test_the_domain_runs_with_the_wizard_devices(created: Created) -> None:
    dom = created.dom()
    assert dom.state == DomainState.RUNNING
    for flags in (0, DomainXMLFlags.INACTIVE):
        root = ET.fromstring(dom.xml(flags))
        assert root.get("type") == "qemu"
        assert root.findtext("memory") == str(MEMORY_MIB * 1024)
        assert root.findtext("os/kernel") == str(qemu_e2e.tg.ensure_guest().kernel)
        devices = _devices(dom.xml(flags))
        graphics = devices.find("graphics")
        assert graphics is not None and graphics.get("type") == "spice"
        assert graphics.get("autoport") == "yes"
        spicevmc = [c for c in devices.findall("channel") if c.get("type") == "spicevmc"]
        assert [_attr(c, "target", "name") for c in spicevmc] == ["com.redhat.spice.0"]
        sound = devices.find("sound")
        assert sound is not None and sound.get("model") == "ich9"
        assert [(r.get("bus"), r.get("type")) for r in devices.findall("redirdev")] == \
            [("usb", "spicevmc")] * 2
        assert _attr(devices, "video/model", "type") == "virtio"
        disk = devices.find("disk")
        assert disk is not None
        assert _attr(disk, "source", "file") == str(created.volume)
        assert _attr(disk, "driver", "type") == "qcow2"
    live = _devices(dom.xml())
    graphics = live.find("graphics")
    assert graphics is not None and int(graphics.get("port", "0")) >= 5900, \
        "the live SPICE graphics has no port"


def test_the_default_pool_and_the_new_volume_exist(created: Created) -> None:
    pool = created.conn.lookup_storage_pool("default")
    assert pool.is_active()
    assert pool.autostart, "virt-manager builds the default pool with autostart"
    target = ET.fromstring(pool.xml()).findtext("target/path")
    assert target == str(IMAGES)
    vol = pool.lookup_volume(f"{created.name}.qcow2")
    assert vol.path() == str(created.volume)
    assert created.volume.is_file()
    vol_xml = ET.fromstring(vol.xml())
    assert _attr(vol_xml, "target/format", "type") == "qcow2"
    info = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(created.volume)],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    assert '"lazy-refcounts": true' in info, f"lazy_refcounts asked for, not set:\n{info}"


def test_the_guest_boots(created: Created) -> None:
    """Its shell answers on the serial console and its agent on the wizard's channel."""
    dom = created.dom()
    console = _Console(dom)
    try:
        deadline = time.monotonic() + BOOT_GUARD
        while "VK-42" not in console.text() and time.monotonic() < deadline:
            console.stream.send(b"echo VK-$((6*7))\r")
            time.sleep(2)
        shown = console.text()
    finally:
        console.close()
    if "VK-42" not in shown:
        created.session.fail("guest-console", f"the guest's shell never answered:\n{shown}")
    (path,) = [_attr(c, "source", "path") for c in _devices(dom.xml()).findall("channel")
               if c.get("type") == "unix" and _attr(c, "target", "name") == AGENT_CHANNEL]
    assert path, "the wizard's guest-agent channel has no socket"
    hostname = ""
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline:
        try:
            with GuestAgent(path) as ga:
                hostname = str(ga.execute("guest-get-host-name")["host-name"])
            break
        except virtkit.VirtError:
            time.sleep(2)  # qemu-ga starts once the guest probed its virtio ports
    assert hostname == qemu_e2e.tg.HOSTNAME


def test_the_spice_console_shows_the_guest_screen(created: Created) -> None:
    s, window = created.session, created.window
    if not s.wait_showing("drawing area", window=window, timeout=GUARD):
        s.fail("spice-console", "no graphical console in the VM window")
    _mime, stream = created.dom().screenshot()
    guest = decode_image(recv_all(stream))
    want = lit_pixels(guest)
    assert len(want) > 500, "the guest's own screen (virDomainScreenshot) is blank"
    x, y, w, h = s.extents("drawing area", window=window)
    left, top = x + (w - guest.width) // 2, y + (h - guest.height) // 2
    deadline = time.monotonic() + GUARD
    overlap = 0.0
    while time.monotonic() < deadline:
        shown = lit_pixels(s.screen().crop(left, top, guest.width, guest.height))
        overlap = len(want & shown) / len(want | shown)
        if overlap > 0.9:
            break
        time.sleep(1)
    png = s.screenshot("spice-console")
    assert overlap > 0.9, f"the SPICE viewer does not show the guest's screen ({overlap}): {png}"
    assert not s.exists("label", name_re="Viewer was disconnected", window=window), png
    # the viewer's channels are socket pairs whose other ends QEMU holds (handed over by
    # virDomainOpenGraphicsFD), not TCP connections to the SPICE port
    (qemu_pid,) = qemu_e2e.qemu_pids(str(created.root))
    pairs = unix_socket_pairs(qemu_pid, s.app_pid)
    assert pairs, "no unix socket connects virt-manager to QEMU"
