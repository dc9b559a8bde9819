"""Cockpit's Machines page (cockpit-machines 288) drives a virtkitd node through libvirt-dbus,
in Debian's headless chromium, each step checked through virtkit's API and run the same way
against Debian's libvirtd 9.0 (the comparison: every step must pass on both):

- the VM list with every VM's state, the host's memory (Create VM dialog);
- a VM's overview: state, CPU and memory usage, vCPUs, memory, boot order, firmware,
  autostart (switched on and off from the page);
- Disks: the listed disk with its bus and source; add a pool's volume to the running guest
  and remove it again (live XML);
- Network interfaces: the NIC with its MAC, type and state; Unplug / Plug = link state
  down / up of the running guest (live XML);
- Snapshots: create, revert, delete (snapshot API);
- the VNC console in the page (the noVNC canvas shows non-blank pixels of the guest's
  screen) and the serial console (xterm.js runs a command in the guest's shell);
- Create VM ("Local install media" with an ISO, "Create and edit": virt-install defines it)
  and Import VM (an existing qcow2 image, "Import and edit"), checked in the defined XML;
- Run / Force shut down / Shut down (ACPI; the guest powers itself off).

The stack (src/virtkit/testing/cockpit.py): a private D-Bus system bus, ``libvirt-dbus
--system`` and ``cockpit-ws --no-tls --local-session=cockpit-bridge`` on 127.0.0.1, the
last two in private mount namespaces where the daemon's socket directory is /run/libvirt (so
their fixed ``qemu:///system`` reaches it). No systemd, no login.

Packages: ``make sysdeps`` (scripts/sysdeps.py) installs cockpit-ws, cockpit-bridge,
cockpit-machines, libvirt-dbus, virt-install and chromium with ``--no-install-recommends``,
``--force-confold`` and a policy-rc.d that forbids starting services (cockpit-machines
pulls in libvirt-daemon-system, which must not start or replace anything here).

Guests are QEMU under TCG (type 'qemu'): alpha, beta, gamma are firmware only (no disk:
SeaBIOS waits), delta boots the test guest (kernel + initramfs, a qcow2 volume of the
'images' pool, VNC, a serial console). VMs the dialogs create are type 'kvm' (virt-install's
choice) and only defined, never started. Tests do not depend on their order (pytest-randomly):
each one brings delta into the state it needs. Screenshots go to the test's tmp directory; a
failure message names the PNG.
"""

from __future__ import annotations

import contextlib
import functools
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
from collections.abc import Callable, Iterator
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
POOL = "images"  # a dir pool: delta's disk and a spare volume the Disks page adds
DELTA = "#vm?name=delta&connection=system"


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


def _define_delta(conn: Any, root: Path) -> None:
    """The 'images' pool (ROOT/pool: delta.qcow2, spare.qcow2) and delta: the test guest
    on delta.qcow2, VNC on 127.0.0.1, a serial console, and PCIe root ports to hot-plug
    into (libvirtd adds some to every q35 guest; virtkitd hot-plugs only into declared
    ones, see src/virtkit/drivers/qemu/command.py)."""
    pool_dir = root / "pool"
    pool_dir.mkdir()
    pool = conn.define_storage_pool(
        f"<pool type='dir'><name>{POOL}</name><target><path>{pool_dir}</path></target></pool>")
    pool.start()
    for vol in ("delta.qcow2", "spare.qcow2"):
        pool.create_volume(f"<volume><name>{vol}</name><capacity unit='MiB'>64</capacity>"
                           "<target><format type='qcow2'/></target></volume>")
    ports = "".join(f"<controller type='pci' index='{i}' model='pcie-root-port'/>"
                    for i in range(1, 9))
    extra = ("<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>"
             f"<video><model type='vga'/></video>{ports}")
    guest = qemu_e2e.tg.ensure_guest()
    conn.define_domain(qemu_e2e.domain_xml(guest, root, "delta", memory_mib=128,
                                           disk=pool_dir / "delta.qcow2", extra_devices=extra))


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
                _define_delta(conn, root)
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


def _screenshot_on_failure(test: Callable[[Node], None]) -> Callable[[Node], None]:
    """A failed assertion of ``test`` also saves a screenshot and names it (as _fail does)."""
    @functools.wraps(test)
    def run(node: Node) -> None:
        try:
            test(node)
        except AssertionError as e:
            png = node.shot(f"{test.__name__.removeprefix('test_')}-failure")
            raise AssertionError(f"{node.kind}: {e}\nscreenshot: {png}") from e
    return run


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


@_screenshot_on_failure
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


@_screenshot_on_failure
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


@_screenshot_on_failure
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


@_screenshot_on_failure
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


def _wait_ready(node: Node) -> None:
    """Wait until delta's console log (rewritten at each start) shows the ready marker:
    acpid, the shell and the agent are up (the guest prints it after them)."""
    console = qemu_e2e.console_log(node.root, "delta")
    qemu_e2e.wait_marker(console, qemu_e2e.tg.READY_MARKER, timeout=PAGE_TIMEOUT)


def _delta_running(node: Node) -> Any:
    """delta, started through the API (and booted) unless it already runs."""
    dom = node.conn.lookup_domain("delta")
    if not dom.is_active():
        dom.start()
        _wait_ready(node)
    return dom


def _delta_off(node: Node) -> None:
    dom = node.conn.lookup_domain("delta")
    if dom.is_active():
        dom.destroy()


# virtkitd only: under libvirtd 9.0 (bench/qemu_peers.py) the test guest never sees the
# power button, through the page or through virDomainShutdown directly (not investigated)
@pytest.mark.parametrize("node", ["virtkitd"], indirect=True)
@_screenshot_on_failure
def test_guest_shut_down_from_the_page(node: Node) -> None:
    """Run, then Shut down (ACPI power button: the test guest powers itself off)."""
    _delta_off(node)
    _open_list(node)
    console = qemu_e2e.console_log(node.root, "delta")
    _click_in_row(node, "delta", '[id$="-run"]')
    _wait_api_state(node, "delta", DomainState.RUNNING)
    _wait_ready(node)  # not just booted: acpid must be there for the button
    _wait_row_state(node, "delta", "Running")
    _click_in_row(node, "delta", '[id$="-shutdown-button"]')
    _wait_api_state(node, "delta", DomainState.SHUTOFF)
    _wait_row_state(node, "delta", "Shut off")
    node.shot("delta-shut-down")
    assert qemu_e2e.tg.POWEROFF_MARKER in console.read_text(errors="replace")


def _exists(element_id: str) -> str:
    """A JavaScript condition: the page has an element ``element_id``."""
    return f"!!document.getElementById({json.dumps(element_id)})"


def _text(node: Node, element_id: str) -> str:
    value = node.browser.evaluate(
        f"document.getElementById({json.dumps(element_id)})?.innerText.trim() ?? ''")
    return str(value)


def _open_delta(node: Node) -> None:
    _load(node, DELTA, "!!document.getElementById('vm-delta-disks')")


@_screenshot_on_failure
def test_vm_overview_details_and_autostart(node: Node) -> None:
    """The overview of delta: vCPUs, memory, boot order, firmware as defined; the Autostart
    switch sets and clears the domain's autostart."""
    _open_delta(node)
    b = node.browser
    if not b.wait_for("document.getElementById('vm-delta-firmware')?.innerText", PAGE_TIMEOUT):
        _fail(node, "overview-details", "the overview shows no hypervisor details")
    png = node.shot("overview-delta")
    dom = node.conn.lookup_domain("delta")
    info = dom.info()
    assert _text(node, "vm-delta-vcpus-count").splitlines()[0] == str(info.nr_virt_cpu), png
    assert info.max_mem == 128 * 1024
    assert _text(node, "vm-delta-memory-count").splitlines()[0] == "128.0 MiB", png
    assert _text(node, "vm-delta-boot-order").splitlines()[0] == "disk", png  # <boot dev='hd'/>
    assert _text(node, "vm-delta-firmware") == "BIOS", png  # no <loader>: SeaBIOS
    assert "q35" in _text(node, "vm-delta-emulated-machine"), png
    switch = "document.getElementById('vm-delta-autostart-switch')"
    assert dom.autostart is False and b.evaluate(f"{switch}.checked") is False, png
    try:
        for want in (True, False):
            b.evaluate(f"{switch}.click()")
            _wait_for_api(node, f"autostart {want}", lambda w=want: dom.autostart is w)
            if not b.wait_for(f"{switch}.checked === {json.dumps(want)}", PAGE_TIMEOUT):
                _fail(node, "autostart", f"the switch never showed autostart {want}")
    finally:
        dom.autostart = False


def _wait_for_api(node: Node, what: str, cond: Any) -> None:
    deadline = time.monotonic() + PAGE_TIMEOUT
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    _fail(node, what.replace(" ", "-"), f"{node.kind} never reported {what} (virtkit API)")


def _disks(xml: str) -> dict[str, str]:
    """target dev -> the <disk> element's text."""
    return {re.search(r"<target dev='(\w+)'", d).group(1): d  # type: ignore[union-attr]
            for d in re.findall(r"<disk .*?</disk>", xml, re.S)}


def _open_menu_item(node: Node, kebab_id: str, label: str) -> None:
    b = node.browser
    b.evaluate(f"document.querySelector('#{kebab_id} button').click()")
    item = (f"Array.from(document.querySelectorAll('[role=menuitem]'))"
            f".find(e => e.innerText.trim() == {json.dumps(label)})")
    if not b.wait_for(f"!!{item}", PAGE_TIMEOUT):
        _fail(node, kebab_id, f"the menu has no {label!r}")
    b.evaluate(f"{item}.click()")


def _modal_closed(node: Node, name: str) -> None:
    """Wait for the open dialog to close (it stays open with an alert when the call failed)."""
    b = node.browser
    state = b.wait_for("!document.querySelector('.pf-c-modal-box') ? 'closed' : "
                       "(document.querySelector('.pf-c-modal-box .pf-c-alert')?.innerText "
                       "|| '')", PAGE_TIMEOUT)
    if state != "closed":
        _fail(node, name, f"the dialog did not close: {state!r}")


@_screenshot_on_failure
def test_disks_page_adds_and_removes_a_pool_volume(node: Node) -> None:
    """The Disks page lists vda (virtio, its file); Add disk > Use existing attaches the pool's
    spare volume to the running guest (and its config); Remove detaches it again."""
    dom = _delta_running(node)
    _open_delta(node)
    b = node.browser
    if not b.wait_for(_exists('vm-delta-disks-vda-source-file'), PAGE_TIMEOUT):
        _fail(node, "disks", "the Disks page does not list vda")
    vda = _disks(dom.xml())["vda"]
    assert _text(node, "vm-delta-disks-vda-bus") == "virtio"
    assert f"<source file='{_text(node, 'vm-delta-disks-vda-source-file')}'" in vda
    b.evaluate("document.getElementById('vm-delta-disks-adddisk').click()")
    if not b.wait_for(_exists('vm-delta-disks-adddisk-useexisting'),
                      PAGE_TIMEOUT):
        _fail(node, "adddisk", "no Add disk dialog")
    b.evaluate("document.getElementById('vm-delta-disks-adddisk-useexisting').click()")
    volume = "#vm-delta-disks-adddisk-existing-select-volume"
    if b.wait_for(f"document.querySelector('{volume}')?.value", PAGE_TIMEOUT) != "spare.qcow2":
        _fail(node, "adddisk", "the dialog does not offer the pool's free volume")
    node.shot("adddisk-dialog")
    b.evaluate("document.getElementById('vm-delta-disks-adddisk-dialog-add').click()")
    _modal_closed(node, "adddisk")
    try:
        _wait_for_api(node, "vdb attached", lambda: "vdb" in _disks(dom.xml()))
        vdb = _disks(dom.xml())["vdb"]
        assert f"<source pool='{POOL}' volume='spare.qcow2'" in vdb, vdb
        assert "cache=" not in vdb, vdb  # cache='default' is not formatted (libvirt)
        assert "vdb" not in _disks(dom.xml(2)), "not 'Always attach': live only"
        if not b.wait_for("document.getElementById('vm-delta-disks-vdb-source-volume')"
                          "?.innerText.includes('spare.qcow2')", PAGE_TIMEOUT):
            _fail(node, "adddisk", "the page does not list vdb")
        node.shot("disk-added")
        _open_menu_item(node, "vm-delta-disks-vdb-action-kebab", "Remove")
        if not b.wait_for(_exists('delete-resource-modal-primary'),
                          PAGE_TIMEOUT):
            _fail(node, "removedisk", "no Remove disk dialog")
        b.evaluate("document.getElementById('delete-resource-modal-primary').click()")
        _modal_closed(node, "removedisk")
        _wait_for_api(node, "vdb detached", lambda: "vdb" not in _disks(dom.xml()))
        if not b.wait_for("!document.getElementById('vm-delta-disks-vdb-device')", PAGE_TIMEOUT):
            _fail(node, "removedisk", "the page still lists vdb")
    finally:
        if "vdb" in _disks(dom.xml()):
            dom.detach_device(_disks(dom.xml())["vdb"])


def _link(xml: str) -> str:
    iface = re.search(r"<interface .*?</interface>", xml, re.S)
    assert iface, xml
    state = re.search(r"<link state='(\w+)'/>", iface.group(0))
    return state.group(1) if state else "up"


@_screenshot_on_failure
def test_network_interface_unplug_and_plug(node: Node) -> None:
    """The NIC row shows the type, model, MAC and state of delta's interface; Unplug and
    Plug set its link state down and up on the running guest (live XML)."""
    dom = _delta_running(node)
    _open_delta(node)
    b = node.browser
    if not b.wait_for(_exists('vm-delta-network-1-mac'), PAGE_TIMEOUT):
        _fail(node, "nic", "the Network interfaces page lists no NIC")
    mac = re.search(r"<mac address='([0-9a-f:]+)'/>", dom.xml())
    assert mac and _text(node, "vm-delta-network-1-mac") == mac.group(1)
    assert _text(node, "vm-delta-network-1-type") == "user"
    assert _text(node, "vm-delta-network-1-model") == "virtio"
    assert _text(node, "vm-delta-network-1-state") == "up" == _link(dom.xml())
    try:
        for button, want in (("unplug", "down"), ("plug", "up")):
            if not b.wait_for(_exists(f'vm-delta-iface-1-{button}'),
                              PAGE_TIMEOUT):
                _fail(node, f"nic-{button}", f"no {button.title()} button")
            b.evaluate(f"document.getElementById('vm-delta-iface-1-{button}').click()")
            _wait_for_api(node, f"link {want}", lambda w=want: _link(dom.xml()) == w)
            if not b.wait_for(f"document.getElementById('vm-delta-network-1-state')"
                              f"?.innerText.trim() == '{want}'", PAGE_TIMEOUT):
                _fail(node, f"nic-{button}", f"the page never showed the NIC {want}")
            node.shot(f"nic-{want}")
        assert "<link" not in dom.xml(2), "a live change only"
    finally:
        if _link(dom.xml()) != "up":
            dom.update_device(re.sub(r"<link state='down'/>", "",
                                     re.search(r"<interface .*?</interface>", dom.xml(),
                                               re.S).group(0)))  # type: ignore[union-attr]


@_screenshot_on_failure
def test_snapshots_create_revert_delete(node: Node) -> None:
    dom = _delta_running(node)
    _open_delta(node)
    b = node.browser
    if not b.wait_for(_exists('vm-delta-add-snapshot-button'), PAGE_TIMEOUT):
        _fail(node, "snapshots", "no Create snapshot button")
    b.evaluate("document.getElementById('vm-delta-add-snapshot-button').click()")
    if not b.wait_for(_exists('snapshot-create-dialog-name'), PAGE_TIMEOUT):
        _fail(node, "snapshot-create", "no Create snapshot dialog")
    b.set_value("#snapshot-create-dialog-name", "snap1")
    b.set_value("#snapshot-create-dialog-description", "from cockpit")
    _click_button(node, ".pf-c-modal-box", "Create")
    _modal_closed(node, "snapshot-create")
    try:
        _wait_for_api(node, "snapshot snap1", lambda: dom.snapshot_count() == 1)
        snap = dom.lookup_snapshot("snap1").xml()
        assert "<description>from cockpit</description>" in snap, snap
        assert "<state>running</state>" in snap, snap
        if not b.wait_for("document.getElementById('vm-delta-snapshot-0-name')?.innerText"
                          ".trim() == 'snap1'", PAGE_TIMEOUT):
            _fail(node, "snapshot-create", "the page does not list snap1")
        node.shot("snapshot-created")
        b.evaluate("document.getElementById('vm-delta-snapshot-0-revert').click()")
        _click_button(node, ".pf-c-modal-box", "Revert")
        _modal_closed(node, "snapshot-revert")
        assert dom.current_snapshot().name == "snap1"
        _wait_api_state(node, "delta", DomainState.RUNNING)  # a running snapshot's state
        b.evaluate("document.getElementById('delete-vm-delta-snapshot-0').click()")
        if not b.wait_for(_exists('delete-resource-modal-primary'),
                          PAGE_TIMEOUT):
            _fail(node, "snapshot-delete", "no Delete snapshot dialog")
        b.evaluate("document.getElementById('delete-resource-modal-primary').click()")
        _modal_closed(node, "snapshot-delete")
        _wait_for_api(node, "no snapshot", lambda: dom.snapshot_count() == 0)
        if not b.wait_for("document.getElementById('vm-delta-snapshots')?.innerText"
                          ".includes('No snapshots')", PAGE_TIMEOUT):
            _fail(node, "snapshot-delete", "the page still lists snap1")
    finally:
        for snap in dom.list_snapshots():
            snap.delete()


def _click_button(node: Node, scope: str, label: str) -> None:
    button = (f"Array.from(document.querySelectorAll('{scope} button'))"
              f".find(e => e.innerText.trim() == {json.dumps(label)})")
    if not node.browser.wait_for(f"!!{button} && !{button}.disabled", PAGE_TIMEOUT):
        _fail(node, label.lower().replace(" ", "-"), f"no {label!r} button in {scope}")
    node.browser.evaluate(f"{button}.click()")


def _choose_console(node: Node, label: str) -> None:
    """Pick ``label`` in the console card's type menu."""
    b = node.browser
    toggle = "document.querySelector('#vm-delta-consoles .pf-c-select__toggle')"
    if not b.wait_for(f"!!{toggle}", PAGE_TIMEOUT):
        _fail(node, "console-menu", "the console card has no console type menu")
    b.evaluate(f"{toggle}.click()")
    option = ("Array.from(document.querySelectorAll('#vm-delta-consoles [role=option]'))"
              f".find(e => e.innerText.trim() == {json.dumps(label)})")
    if not b.wait_for(f"!!{option}", PAGE_TIMEOUT):
        _fail(node, "console-menu", f"the console menu offers no {label!r}")
    b.evaluate(f"{option}.click()")


# the canvas the noVNC console draws on: its size and how many pixels are not black
_CANVAS_PIXELS = """(() => {
    const c = Array.from(document.querySelectorAll('#vm-delta-consoles canvas'))
        .find(c => !c.closest('.xterm'));  // not the serial terminal's
    if (!c || !c.width) return null;
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i] || px[i + 1] || px[i + 2]) lit++;
    return lit ? [c.width, c.height, lit] : null;
})()"""


# virtkitd only: libvirtd 9.0 runs in a network namespace of its own (its network driver's
# firewall and bridges stay there, see _daemon), so its QEMU's VNC server on 127.0.0.1 is
# out of cockpit-ws's reach; the serial console (a libvirt stream) works on both
@pytest.mark.parametrize("node", ["virtkitd"], indirect=True)
@_screenshot_on_failure
def test_vnc_console_shows_the_guest_screen(node: Node) -> None:
    """The console card's VNC viewer connects (through cockpit-ws to QEMU's VNC server on
    127.0.0.1) and draws the guest's VGA text screen: non-black pixels in its canvas."""
    _delta_running(node)
    _open_delta(node)
    _choose_console(node, "VNC console")  # the page opens the type last chosen
    drawn = node.browser.wait_for(_CANVAS_PIXELS, PAGE_TIMEOUT)
    png = node.shot("vnc-console")
    if not drawn:
        _fail(node, "vnc-console", "the VNC canvas never showed the guest's screen")
    width, height, lit = drawn
    assert width >= 640 and height >= 400 and lit > 100, (drawn, png)


@_screenshot_on_failure
def test_serial_console_runs_a_command(node: Node) -> None:
    """The serial console (``virsh console`` in an xterm.js terminal) reaches the guest's
    shell: a command typed into it prints its output there."""
    _delta_running(node)
    _open_delta(node)
    b = node.browser
    _choose_console(node, "Serial console")
    screen = "document.querySelector('#vm-delta-consoles .xterm-accessibility-tree')"
    if not b.wait_for(f"{screen}?.innerText.includes(\"Connected to domain 'delta'\")",
                      PAGE_TIMEOUT):
        _fail(node, "serial-console", "the serial console never connected")
    b.evaluate("document.querySelector('#vm-delta-consoles .xterm-helper-textarea').focus()")
    b.type_keys("\recho vk-$((6*7))-ok\r")
    shown = b.wait_for(f"{screen}?.innerText.includes('vk-42-ok') ? {screen}.innerText : ''",
                       PAGE_TIMEOUT)
    png = node.shot("serial-console")
    if not shown:
        _fail(node, "serial-console", "the guest's shell never answered in the terminal")
    assert "/ # " in shown or "/ #" in shown, (shown, png)  # the guest's shell prompt


def _open_dialog(node: Node, button: str) -> None:
    """Click the list page's ``button`` (enabled once the page found virt-install) until
    its dialog is open."""
    _open_list(node)
    if not node.browser.wait_for(f"""(() => {{
        if (document.querySelector('.pf-c-modal-box')) return true;
        const b = Array.from(document.querySelectorAll('button'))
            .find(b => b.innerText.trim() == {json.dumps(button)});
        if (b && !b.disabled) b.click();
        return false; }})()""", PAGE_TIMEOUT):
        _fail(node, button.lower().replace(" ", "-"), f"no {button} dialog")


def _typeahead(node: Node, group: str, text: str, pick: str) -> None:
    """Type ``text`` into the typeahead select of form group ``group``; choose ``pick``."""
    b = node.browser
    b.set_value(f"#{group} input", text)
    option = (f"Array.from(document.querySelectorAll('#{group} [role=option]'))"
              f".find(e => e.innerText.trim() == {json.dumps(pick)})")
    if not b.wait_for(f"!!{option}", PAGE_TIMEOUT):
        _fail(node, group, f"{group} never offered {pick!r}")
    b.evaluate(f"{option}.click()")
    if not b.wait_for(f"document.querySelector('#{group} input').value == {json.dumps(pick)}",
                      PAGE_TIMEOUT):
        _fail(node, group, f"{group} did not take {pick!r}")


def _fill_vm_form(node: Node, name: str, source_group: str, source: Path) -> None:
    b = node.browser
    b.set_value("#vm-name", name)
    _typeahead(node, source_group, str(source), str(source))
    _typeahead(node, "os-select-group", "Generic Linux", "Generic Linux 2022")
    b.set_value("#memory-size-unit-select", "MiB")
    b.set_value("#memory-size", "128")


def _wait_defined(node: Node, name: str) -> str:
    """The defined XML of ``name`` once the page shows its details page."""
    b = node.browser
    _modal_closed(node, f"{name}-dialog")
    if not b.wait_for(f"location.href.includes('name={name}') && "
                      f"!!document.getElementById('vm-{name}-overview')", PAGE_TIMEOUT):
        _fail(node, f"{name}-details", f"the page never showed {name}'s details")
    node.shot(f"{name}-defined")
    assert node.state(name) == DomainState.SHUTOFF
    return str(node.conn.lookup_domain(name).xml(2))


def _undefine(node: Node, name: str) -> None:
    with contextlib.suppress(Exception):
        node.conn.lookup_domain(name).undefine()


@_screenshot_on_failure
def test_create_vm_from_local_install_media(node: Node) -> None:
    """Create VM > Local install media (an image file), Generic Linux, no storage, 128 MiB, "Create
    and edit": virt-install defines the VM with the page's choices; its details page opens."""
    media = node.root / "media.iso"  # only its path matters: nothing boots it
    media.write_bytes(bytes(1 << 20))
    _open_dialog(node, "Create VM")
    b = node.browser
    try:
        b.set_value("#source-type", "file")
        _fill_vm_form(node, "epsilon", "source-file-group", media)
        b.set_value("#storage-pool-select", "NoStorage")
        node.shot("create-vm-form")
        b.evaluate("document.getElementById('create-and-edit').click()")
        xml = _wait_defined(node, "epsilon")
        assert "<memory unit='KiB'>131072</memory>" in xml, xml
        assert f"<cockpit_machines:install_source>{media}<" in xml, xml
        assert "<cockpit_machines:os_variant>linux2022<" in xml, xml
        assert "<libosinfo:os id=\"http://libosinfo.org/linux/2022\"/>" in xml, xml
        # virt-install's defaults the page must be able to show (USB addresses assigned)
        assert re.search(r"<redirdev bus='usb' type='spicevmc'>\s*<address type='usb'", xml)
        assert "<graphics type='vnc'" in xml and "<disk" not in xml, xml
        if not b.wait_for("document.getElementById('vm-epsilon-overview')?.innerText"
                          ".includes('128.0 MiB')", PAGE_TIMEOUT):
            _fail(node, "epsilon-details", "the overview does not show epsilon's memory")
    finally:
        _undefine(node, "epsilon")


@_screenshot_on_failure
def test_import_vm_from_a_disk_image(node: Node) -> None:
    """Import VM with an existing qcow2 image, "Import and edit": the VM is defined with that
    image as its virtio disk."""
    image = node.root / "import.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True,
                   timeout=60)
    _open_dialog(node, "Import VM")
    try:
        _fill_vm_form(node, "zeta", "source-disk-group", image)
        node.shot("import-vm-form")
        node.browser.evaluate("document.getElementById('create-and-edit').click()")
        xml = _wait_defined(node, "zeta")
        disks = _disks(xml)
        assert list(disks) == ["vda"], xml
        assert f"<source file='{image}'/>" in disks["vda"], disks
        assert "<driver name='qemu' type='qcow2'/>" in disks["vda"], disks
        assert "<memory unit='KiB'>131072</memory>" in xml, xml
        if not node.browser.wait_for("document.getElementById('vm-zeta-disks-vda-source-file')"
                                     f"?.innerText == {json.dumps(str(image))}", PAGE_TIMEOUT):
            _fail(node, "zeta-details", "zeta's Disks page does not show the image")
    finally:
        _undefine(node, "zeta")
