"""virt-manager 4.1 (Debian's) manages a virtkitd node under Xvfb: the VM list with every
VM's state and the CPU graph, the graphical (VNC) console showing the guest's screen, the
serial console showing the guest's text, and Run / Pause / Resume / Shut Down / Force Off,
each checked through virtkit's API.

The session (src/virtkit/testing/virtmanager.py): Xvfb, a private session bus with the
AT-SPI registry, virt-manager in a private mount namespace where virtkitd's socket
directory is /run/libvirt (its ``qemu:///system`` is a local connection, so the console
comes through ``virDomainOpenGraphicsFD``), driven through its accessibility tree with
dogtail. Packages: ``make sysdeps`` (scripts/sysdeps.py) installs virt-manager, xvfb,
x11-apps, xdotool, python3-dogtail and at-spi2-core with ``--no-install-recommends``,
``--force-confold`` and a policy-rc.d that forbids starting services (virt-manager pulls
in libvirt-daemon-system, which must not start or replace anything here).

Guests boot the test guest (tests/drivers/qemu/qemu_e2e.py) under TCG with VNC + VGA and a
serial console: "runner" runs for the whole module, "idle" stays shut off, "cycler" goes
through the life cycle. Screenshots go to the module's tmp directory; a failure message
names the PNG.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.constants import DomainState
from virtkit.streams import recv_all
from virtkit.testing.peers import start_virtkitd
from virtkit.testing.virtmanager import (
    Image,
    VirtManagerSession,
    decode_image,
    lit_pixels,
    unix_socket_pairs,
)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "drivers" / "qemu"))
import qemu_e2e  # type: ignore[import-not-found]  # noqa: E402
import qemu_peers  # type: ignore[import-not-found]  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.interop]  # make test installs the packages

MANAGER = "Virtual Machine Manager"
GRAPHICS = "<graphics type='vnc'/><video><model type='vga'/></video>"
STATE_LABELS = {DomainState.RUNNING: "Running", DomainState.SHUTOFF: "Shutoff",
                DomainState.PAUSED: "Paused"}
GUARD = 120.0  # hang guard: TCG guests, GUIs and a 2-core machine


def _vm_window(name: str) -> str:
    return f"{name} on QEMU/KVM"


@dataclass
class Node:
    kind: str  # "virtkitd", or "libvirtd" (Debian's 9.0, the comparison)
    daemon_log: Path
    conn: Any
    session: VirtManagerSession
    root: Path  # the guests' console logs: ROOT/NAME.console

    def state(self, name: str) -> DomainState:
        return DomainState(self.conn.lookup_domain(name).state)

    def wait_state(self, name: str, state: DomainState) -> None:
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline:
            if self.state(name) == state:
                return
            time.sleep(0.1)
        self.session.fail(f"{name}-{state.name}",
                          f"{self.kind} never reported {name} {state.name} (virtkit API): "
                          f"{self.state(name).name}")

    def row_text(self, name: str) -> str:
        """The manager's Name cell of ``name``: "NAME\\nSTATE"."""
        return str(self.session.ui(
            "text(find('table cell', name_re=pattern, parent=MANAGER_WINDOW))",
            args={"pattern": f"^{name}\n", "MANAGER_WINDOW": MANAGER}))

    def wait_row(self, name: str, label: str) -> None:
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline:
            if self.row_text(name) == f"{name}\n{label}":
                return
            time.sleep(0.25)
        self.session.fail(f"{name}-row", f"{name}'s row never showed {label!r}: "
                          f"{self.row_text(name)!r}")

    def open_vm(self, name: str) -> str:
        """Select ``name`` in the manager and press Open; its window's name."""
        s = self.session
        s.raise_window(MANAGER)
        s.ui("mouse_click('table cell', name_re=pattern, parent=MANAGER_WINDOW)",
             args={"pattern": f"^{name}\n", "MANAGER_WINDOW": MANAGER})
        s.xdotool("mousemove", "1590", "990")  # away from the list: no tooltip over it
        s.click("push button", "Open", window=MANAGER)
        window = _vm_window(name)
        if not s.wait_showing("tool bar", window=window, timeout=GUARD):
            s.fail(f"{name}-open", f"{name}'s window did not open")
        return window

    def close_vm(self, name: str) -> None:
        self.session.click("menu item", "Close", window=_vm_window(name), showing=False)


@contextlib.contextmanager
def _daemon(kind: str, root: Path) -> Iterator[tuple[str, Path, Path]]:
    """virtkitd, or libvirtd with its QEMU driver (bench/qemu_peers.py: private mount
    namespace, subreaper): (its qemu:///system URI, its socket directory, its log)."""
    if kind == "virtkitd":
        daemon = start_virtkitd(root)
        try:
            yield daemon.uri("unix", "/system", "qemu"), root / "run" / "libvirt", daemon.log
        finally:
            daemon.stop()  # virtkitd leaves guests running when it stops, as libvirtd does
    else:
        peer = qemu_peers.start_libvirtd_qemu(root)
        try:
            yield peer.uri, root / "run", peer.log
        finally:
            peer.stop()


@pytest.fixture(scope="module", params=["virtkitd", "libvirtd"])
def node(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    kind = str(request.param)
    # a short root: QEMU's QMP socket path must stay under 108 bytes
    root = Path(tempfile.mkdtemp(prefix="vkvm", dir="/tmp"))
    shots = tmp_path_factory.mktemp(f"virt-manager-{kind}")
    try:
        with _daemon(kind, root / "d") as (uri, run_dir, log):
            yield from _session(kind, root, uri, run_dir, log, shots)
    finally:
        left = qemu_e2e.qemu_pids(str(root))
        for pid in left:  # guests of this root only, by pid
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
    assert not left, f"QEMU left running under {root}: {left}"


def _session(kind: str, root: Path, uri: str, run_dir: Path, log: Path,
             shots: Path) -> Iterator[Node]:
    conn: Any = None
    session = VirtManagerSession(root / "gui", run_dir, shots=shots)
    try:
        conn = virtkit.open(uri)
        guest = qemu_e2e.tg.ensure_guest()
        for name in ("runner", "idle", "cycler"):
            conn.define_domain(qemu_e2e.domain_xml(guest, root, name, memory_mib=128,
                                                   extra_devices=GRAPHICS))
        conn.lookup_domain("runner").start()
        qemu_e2e.wait_marker(qemu_e2e.console_log(root, "runner"), qemu_e2e.tg.READY_MARKER,
                             timeout=GUARD)
        session.start()
        yield Node(kind, log, conn, session, root)
    finally:
        for name in ("virt-manager", "driver"):
            with contextlib.suppress(OSError):
                shutil.copyfile(session.log(name), shots / f"{name}.log")
        session.stop()
        if conn is not None:
            with contextlib.suppress(Exception):
                for dom in conn.list_domains():
                    if dom.is_active():
                        dom.destroy()
            conn.close()
        with contextlib.suppress(OSError):
            shutil.copyfile(log, shots / log.name)


@pytest.fixture(autouse=True)
def _shot_on_failure(request: pytest.FixtureRequest, node: Node) -> Iterator[None]:
    """A screenshot when the test failed (any way), named in the teardown's output."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        with contextlib.suppress(Exception):
            print(f"screenshot at the failure: {node.session.screenshot(request.node.name)}")


def _coloured(image: Image) -> int:
    """Pixels with a colour (a graph's line or fill), not white, grey or black."""
    rgb = image.rgb
    return sum(1 for i in range(0, len(rgb), 3)
               if max(rgb[i:i + 3]) - min(rgb[i:i + 3]) > 40)


def _qemu_pids(uuid: str) -> list[int]:
    """The QEMU running the domain ``uuid`` (``-uuid UUID``; libvirtd's QEMU command line
    does not name our root)."""
    found = []
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            if entry.isdigit() and b"qemu-system" in argv[0] and uuid.encode() in argv:
                found.append(int(entry))
    return found


def _wait_booted_again(console: Path) -> None:
    """The guest's new boot: QEMU truncates the console log at start (no ``append``)."""
    deadline = time.monotonic() + GUARD
    text = ""
    while time.monotonic() < deadline:
        text = console.read_text(errors="replace")
        if qemu_e2e.tg.READY_MARKER in text and qemu_e2e.tg.POWEROFF_MARKER not in text:
            return
        time.sleep(0.2)
    raise AssertionError(f"the guest did not boot again:\n{text[-2000:]}")


def test_list_shows_every_vm_with_its_state_and_graphs(node: Node) -> None:
    s = node.session
    for name in ("runner", "idle", "cycler"):
        node.wait_row(name, STATE_LABELS[node.state(name)])
    assert node.state("runner") == DomainState.RUNNING
    assert node.state("idle") == DomainState.SHUTOFF
    assert node.row_text("runner") == "runner\nRunning"
    assert node.row_text("idle") == "idle\nShutoff"
    listed = s.ui("sorted(text(n).split(chr(10))[0] for n in find_all("
                  "'table cell', name_re=chr(10), parent=MANAGER_WINDOW))",
                  args={"MANAGER_WINDOW": MANAGER})
    assert listed == sorted(d.name for d in node.conn.list_domains()), listed
    # select the connection's row: a selected VM row is drawn highlighted
    s.raise_window(MANAGER)
    s.ui("mouse_click('table cell', 'QEMU/KVM', parent=MANAGER_WINDOW)",
         args={"MANAGER_WINDOW": MANAGER})
    s.xdotool("mousemove", "1590", "990")  # away from the list: no tooltip over it

    def graph(name: str, column: str) -> Image:
        """The graph of ``column`` in ``name``'s row (a sparkline: nothing drawn for 0s)."""
        x, _, w, _ = s.extents("table column header", column, window=MANAGER)
        _, y, _, h = s.extents("table cell", name_re=f"^{name}\n", window=MANAGER)
        return s.screen().crop(x, y, w, h)

    # the running guest's CPU and memory graphs fill as virt-manager polls its statistics
    # (virConnectGetAllDomainStats: CPU time, balloon)
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline and not (
            _coloured(graph("runner", "CPU usage")) and _coloured(graph("runner", "Memory usage"))):
        time.sleep(1)
    png = s.screenshot("vm-list")
    for column in ("CPU usage", "Memory usage"):
        assert _coloured(graph("runner", column)) > 0, f"runner's {column} stays empty: {png}"
        assert _coloured(graph("idle", column)) == 0, f"idle (shut off) has {column}: {png}"


def test_graphical_console_shows_the_guest_screen(node: Node) -> None:
    s = node.session
    window = node.open_vm("runner")
    try:
        s.click("radio menu item", "Graphical Console VNC", window=window, showing=False)
        if not s.wait_showing("drawing area", window=window, timeout=GUARD):
            s.fail("runner-console", "no graphical console")
        x, y, w, h = s.extents("drawing area", window=window)
        _mime, stream = node.conn.lookup_domain("runner").screenshot()
        guest = decode_image(recv_all(stream))
        want = lit_pixels(guest)
        assert len(want) > 500, "the guest's own screen (virDomainScreenshot) is blank"
        # unscaled (console scaling "never"): the guest's screen centred in the widget
        left, top = x + (w - guest.width) // 2, y + (h - guest.height) // 2
        deadline = time.monotonic() + GUARD
        overlap = 0.0
        while time.monotonic() < deadline:
            shown = lit_pixels(s.screen().crop(left, top, guest.width, guest.height))
            overlap = len(want & shown) / len(want | shown)
            if overlap > 0.9:
                break
            time.sleep(1)
        png = s.screenshot("runner-console")
        assert overlap > 0.9, f"the viewer does not show the guest's screen ({overlap}): {png}"
        assert not s.exists("label", name_re="Viewer was disconnected", window=window), png
        # the viewer's connection is a socket pair whose other end QEMU holds: handed
        # over by virDomainOpenGraphicsFD, not a TCP connection to the VNC port
        (qemu_pid,) = _qemu_pids(node.conn.lookup_domain("runner").uuid)
        pairs = unix_socket_pairs(qemu_pid, s.app_pid)
        assert pairs, "no unix socket connects virt-manager to QEMU"
    finally:
        node.close_vm("runner")


def test_serial_console_shows_the_guest_text(node: Node) -> None:
    s = node.session
    window = node.open_vm("runner")
    try:
        s.click("radio menu item", "Serial 1", window=window, showing=False)
        if not s.wait_showing("terminal", window=window, timeout=GUARD):
            s.fail("runner-serial", "no serial terminal")
        x, y, w, h = s.extents("terminal", window=window)
        s.xdotool("mousemove", str(x + w // 2), str(y + h // 2), "click", "1")
        s.type_text("echo VK-$((6*7))\n")  # the guest's shell answers on its serial port
        deadline = time.monotonic() + GUARD
        shown = ""
        while "VK-42" not in shown and time.monotonic() < deadline:
            shown = str(s.ui("text(find('terminal', parent=w))", args={"w": window}))
            time.sleep(0.5)
        png = s.screenshot("runner-serial")
        assert "\nVK-42\n" in shown, f"the serial console shows {shown.strip()!r}: {png}"
        assert "VK-42" in qemu_e2e.console_log(node.root, "runner").read_text(errors="replace")
    finally:
        node.close_vm("runner")


def test_life_cycle_from_the_vm_window(node: Node) -> None:
    """Run, Pause, Resume, Shut Down (ACPI: the test guest powers itself off), Run, Force Off
    from the VM window's toolbar, each checked through virtkit's API."""
    s = node.session
    console = qemu_e2e.console_log(node.root, "cycler")
    assert node.state("cycler") == DomainState.SHUTOFF
    window = node.open_vm("cycler")
    try:
        s.click("push button", "Run", window=window)
        node.wait_state("cycler", DomainState.RUNNING)
        qemu_e2e.wait_marker(console, qemu_e2e.tg.READY_MARKER, timeout=GUARD)
        s.click("toggle button", "Pause", window=window)
        node.wait_state("cycler", DomainState.PAUSED)
        node.wait_row("cycler", "Paused")
        s.screenshot("cycler-paused")
        s.click("toggle button", "Pause", window=window)
        node.wait_state("cycler", DomainState.RUNNING)
        s.click("push button", "Shut Down", window=window)
        node.wait_state("cycler", DomainState.SHUTOFF)
        assert qemu_e2e.tg.POWEROFF_MARKER in console.read_text(errors="replace")
        node.wait_row("cycler", "Shutoff")
        s.click("push button", "Run", window=window)
        node.wait_state("cycler", DomainState.RUNNING)
        _wait_booted_again(console)
        node.wait_row("cycler", "Running")
        s.click("toggle button", "Menu", window=window)
        s.click("menu item", "Force Off", window=window, showing=False)
        node.wait_state("cycler", DomainState.SHUTOFF)
        node.wait_row("cycler", "Shutoff")
        s.screenshot("cycler-forced-off")
    finally:
        node.close_vm("cycler")
