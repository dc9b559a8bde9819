"""Cockpit's Machines page (cockpit-machines 288) drives a virtkitd node through libvirt-dbus,
in Debian's headless chromium: the VM list with every VM's state, the host's memory, a VM's
overview with its CPU and memory usage, and Run / Force shut down from the page, each
checked through virtkit's API.

The stack (src/virtkit/testing/cockpit.py): a private D-Bus system bus, ``libvirt-dbus
--system`` and ``cockpit-ws --no-tls --local-session=cockpit-bridge`` on 127.0.0.1, the
last two in private mount namespaces where virtkitd's socket directory is /run/libvirt (so
their fixed ``qemu:///system`` reaches virtkitd). No systemd, no login.

Packages: ``make sysdeps`` (scripts/sysdeps.py) installs cockpit-ws, cockpit-bridge,
cockpit-machines, libvirt-dbus and chromium with ``--no-install-recommends``,
``--force-confold`` and a policy-rc.d that forbids starting services (cockpit-machines
pulls in libvirt-daemon-system, which must not start or replace anything here).

Guests are QEMU under TCG (type 'qemu'), firmware only (no disk: SeaBIOS finds no boot
device and waits), which is all the page needs. Screenshots go to the test's tmp directory;
a failure message names the PNG.
"""

from __future__ import annotations

import contextlib
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.constants import DomainState, NodeGetMemoryStatsAllCells
from virtkit.testing.cockpit import Chromium, CockpitStack
from virtkit.testing.peers import start_virtkitd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "drivers" / "qemu"))
import qemu_e2e  # type: ignore[import-not-found]  # noqa: E402
import qemu_peers  # type: ignore[import-not-found]  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.interop]  # make test installs the packages

MACHINES = "/cockpit/@localhost/machines/index.html"
# gamma runs (firmware only), the others are shut off; delta boots the test guest
NAMES = ("alpha", "beta", "gamma", "delta")
STATE_LABELS = {DomainState.RUNNING: "Running", DomainState.SHUTOFF: "Shut off"}
PAGE_TIMEOUT = 90.0  # hang guard: TCG guests and a 2-core machine


def qemu_pids(root: str) -> list[int]:
    """Pids of the QEMU processes whose command line names ``root``."""
    pids = []
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            if entry.isdigit() and b"qemu-system" in argv[0] and any(
                    root.encode() in a for a in argv):
                pids.append(int(entry))
    return pids


def _domain_xml(name: str) -> str:
    return (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory>"
            "<vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os></domain>")


@dataclass
class Node:
    kind: str  # "virtkitd", or "libvirtd" (Debian's 9.0, the comparison)
    daemon_log: Path
    conn: Any
    stack: CockpitStack
    browser: Chromium
    shots: Path
    root: Path  # the guests' console logs: ROOT/NAME.console

    def shot(self, name: str) -> Path:
        return self.browser.screenshot(self.shots / f"{self.kind}-{name}.png")

    def state(self, name: str) -> DomainState:
        return DomainState(self.conn.lookup_domain(name).state)


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
        # the drivers the page lists besides domains (it reports any that fails); the
        # network driver's firewall and bridges stay in a network namespace of its own
        netns = f"vkck-{secrets.token_hex(4)}"
        subprocess.run(["ip", "netns", "add", netns], check=True)
        try:
            peer = qemu_peers.start_libvirtd_qemu(
                root, extra_modules=("storage", "network", "nodedev", "interface"),
                netns=netns)
            try:
                yield peer.uri, root / "run", peer.log
            finally:
                peer.stop()
        finally:
            subprocess.run(["ip", "netns", "del", netns], check=False)


@pytest.fixture(scope="module", params=["virtkitd", "libvirtd"])
def node(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    kind = str(request.param)
    # a short root: QEMU's QMP socket path must stay under 108 bytes
    root = Path(tempfile.mkdtemp(prefix="vkck", dir="/tmp"))
    shots = tmp_path_factory.mktemp("cockpit-shots")
    conn: Any = None
    try:
        with _daemon(kind, root / "d") as (uri, run_dir, log):
            stack = CockpitStack(root / "cockpit", run_dir)
            browser = Chromium(root / "chromium")
            try:
                conn = virtkit.open(uri)
                for name in NAMES[:3]:
                    conn.define_domain(_domain_xml(name))
                guest = qemu_e2e.tg.ensure_guest()
                conn.define_domain(qemu_e2e.domain_xml(guest, root, "delta", memory_mib=128))
                conn.lookup_domain("gamma").start()
                stack.start()
                browser.start()
                yield Node(kind, log, conn, stack, browser, shots, root)
            finally:
                browser.stop()
                stack.stop()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        for dom in conn.list_domains():
                            if dom.is_active():
                                dom.destroy()
                    conn.close()
    finally:
        left = qemu_pids(str(root))
        for pid in left:  # guests of this root only, by pid
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
    assert not left, f"QEMU left running under {root}: {left}"


def _fail(node: Node, name: str, message: str) -> None:
    """Fail with a screenshot and the logs kept beside it (the node's root goes away)."""
    png = node.shot(f"{name}-failure")
    logs = [node.daemon_log, *(node.stack.log(n) for n in ("dbus", "libvirt-dbus", "cockpit-ws"))]
    for log in logs:
        with contextlib.suppress(OSError):
            shutil.copyfile(log, node.shots / log.name)
    pytest.fail(f"{node.kind}: {message}\nscreenshot: {png}\nlogs ({node.kind}, bus, "
                f"libvirt-dbus, cockpit-ws): {node.shots}")


def _rows(browser: Chromium) -> dict[str, list[str]]:
    """The VM table: name -> its cells' texts."""
    cells = browser.evaluate(
        "Array.from(document.querySelectorAll('tbody tr'))"
        ".map(r => Array.from(r.cells).map(c => c.innerText.trim()))")
    return {row[0]: row for row in cells or [] if row}


def _load(node: Node, fragment: str, content: str) -> None:
    """Load the Machines page at ``fragment``; past the host's "virtualization disabled"
    notice (this machine's CPU flags, not libvirt: TCG needs none) once the page shows
    either it or ``content`` (a JavaScript condition)."""
    b = node.browser
    b.goto(node.stack.url(MACHINES + fragment))
    ignore = "document.getElementById('ignore-hw-virtualization-disabled-btn')"
    if not b.wait_for(f"!!{ignore} || ({content})", PAGE_TIMEOUT):
        _fail(node, "load", f"the page at {fragment!r} rendered neither a notice nor content")
    b.evaluate(f"{ignore}?.click()")


def _open_list(node: Node) -> dict[str, list[str]]:
    """The Machines page's VM table, once every VM is listed."""
    rows = "document.querySelectorAll('tbody tr').length"
    _load(node, "", f"{rows} > 0")
    want = " && ".join(f"document.body.innerText.includes('{n}')" for n in NAMES)
    if not node.browser.wait_for(f"{rows} >= {len(NAMES)} && {want}", PAGE_TIMEOUT):
        _fail(node, "list", f"not every VM is listed: {_rows(node.browser)}")
    return _rows(node.browser)


def _wait_row_state(node: Node, name: str, label: str) -> list[str]:
    deadline = time.monotonic() + PAGE_TIMEOUT
    while time.monotonic() < deadline:
        row = _rows(node.browser).get(name, [])
        if label in row:
            return row
        time.sleep(0.25)
    _fail(node, f"{name}-{label}", f"{name}'s row never showed {label!r}: {_rows(node.browser)}")
    return []


def _wait_api_state(node: Node, name: str, state: DomainState) -> None:
    deadline = time.monotonic() + PAGE_TIMEOUT
    while time.monotonic() < deadline:
        if node.state(name) == state:
            return
        time.sleep(0.1)
    _fail(node, f"{name}-api", f"{node.kind} never reported {name} {state.name} (virtkit API)")


def test_vm_list_shows_every_vm_with_its_state(node: Node) -> None:
    rows = _open_list(node)
    png = node.shot("vm-list")
    assert sorted(rows) == sorted(NAMES), (rows, png)
    for name in NAMES:
        label = STATE_LABELS[node.state(name)]
        assert rows[name][1:3] == ["System", label], (name, rows[name], png)
    assert rows["gamma"][2] == "Running" and rows["beta"][2] == "Shut off", png
    body = node.browser.evaluate("document.body.innerText")
    # the notification Cockpit raises when a libvirt call of its start-up fails
    assert "Failed to fetch some resources" not in body, png


def test_host_memory_shown_in_create_dialog(node: Node) -> None:
    """The page's host figure: NodeGetMemoryStats' total, as "N GiB available on host"."""
    _open_list(node)
    b = node.browser
    # the button is enabled once the page has looked for virt-install: click until open
    text = b.wait_for("""(() => {
        const m = document.body.innerText.match(/[\\d.]+ GiB available on host/);
        if (m) return m[0];
        const create = Array.from(document.querySelectorAll('button'))
            .find(b => b.innerText.trim() == 'Create VM');
        if (create && !create.disabled && !document.getElementById('create-vm-dialog'))
            create.click();
        return '';
    })()""", PAGE_TIMEOUT)
    png = node.shot("create-dialog")
    b.evaluate("Array.from(document.querySelectorAll('button'))"
               ".find(b => b.innerText.trim() == 'Cancel')?.click()")
    if not text:
        _fail(node, "create-dialog", "the dialog shows no host memory")
    total_kib = node.conn.node_memory_stats(NodeGetMemoryStatsAllCells.CELLS)["total"]
    shown = float(text.split()[0])
    assert abs(shown - total_kib / 1024 ** 2) <= 0.1, (text, total_kib, png)


def test_vm_overview_shows_state_and_usage(node: Node) -> None:
    b = node.browser
    _load(node, "#vm?name=gamma&connection=system", "document.body.innerText.includes('Usage')")
    usage = re.compile(r"Memory\s+([\d.]+) / 128 MiB\s+CPU\s+([\d.]+)% of 1 vCPU")
    found = b.wait_for("""(() => { const t = document.body.innerText;
        const used = parseFloat((t.match(/([\\d.]+) \\/ 128 MiB/) || [0, 0])[1]);
        return t.includes('Usage') && /% of 1 vCPU/.test(t) && used > 0 ? t : ''; })()""",
                       PAGE_TIMEOUT)
    png = node.shot("overview-gamma")
    if not found:
        _fail(node, "overview-gamma", "the overview shows no usage")
    assert re.search(r"State\s+Running", found), png
    assert re.search(r"Memory\s+128\.0 MiB", found), png
    m = usage.search(found)
    assert m, (found, png)
    # memory in use (domain stats, polled by the page; 0 until the first poll) and CPU load
    assert 0 < float(m.group(1)) <= 128 and float(m.group(2)) >= 0, (m.group(0), png)


def test_run_and_force_off_from_the_page(node: Node) -> None:
    _open_list(node)
    b = node.browser
    assert node.state("alpha") == DomainState.SHUTOFF
    b.evaluate("Array.from(document.querySelectorAll('tbody tr'))"
               ".find(r => r.cells[0].innerText.trim() == 'alpha')"
               ".querySelector('[id$=\"-run\"]').click()")
    _wait_api_state(node, "alpha", DomainState.RUNNING)
    _wait_row_state(node, "alpha", "Running")
    node.shot("alpha-running")
    b.evaluate("Array.from(document.querySelectorAll('tbody tr'))"
               ".find(r => r.cells[0].innerText.trim() == 'alpha')"
               ".querySelector('[id$=\"-action-kebab\"] button').click()")
    if not b.wait_for("!!document.querySelector('[id$=\"-forceOff\"]')", PAGE_TIMEOUT):
        _fail(node, "alpha-menu", "the VM's menu has no Force shut down")
    node.shot("alpha-menu")
    b.evaluate("document.querySelector('[id$=\"-forceOff\"]').click()")
    _wait_api_state(node, "alpha", DomainState.SHUTOFF)
    _wait_row_state(node, "alpha", "Shut off")
    node.shot("alpha-forced-off")


def _click_in_row(node: Node, name: str, selector: str) -> None:
    node.browser.evaluate(
        f"Array.from(document.querySelectorAll('tbody tr'))"
        f".find(r => r.cells[0].innerText.trim() == '{name}')"
        f".querySelector('{selector}').click()")


# virtkitd only: under libvirtd 9.0 (bench/qemu_peers.py) the test guest never sees the
# power button, through the page or through virDomainShutdown directly (not investigated)
@pytest.mark.parametrize("node", ["virtkitd"], indirect=True)
def test_guest_shut_down_from_the_page(node: Node) -> None:
    """Run, then Shut down (ACPI power button: the test guest powers itself off)."""
    _open_list(node)
    _click_in_row(node, "delta", '[id$="-run"]')
    _wait_api_state(node, "delta", DomainState.RUNNING)
    console = qemu_e2e.console_log(node.root, "delta")
    qemu_e2e.wait_marker(console, qemu_e2e.tg.BOOT_MARKER, timeout=PAGE_TIMEOUT)
    _wait_row_state(node, "delta", "Running")
    _click_in_row(node, "delta", '[id$="-shutdown-button"]')
    _wait_api_state(node, "delta", DomainState.SHUTOFF)
    _wait_row_state(node, "delta", "Shut off")
    node.shot("delta-shut-down")
    assert qemu_e2e.tg.POWEROFF_MARKER in console.read_text(errors="replace")
