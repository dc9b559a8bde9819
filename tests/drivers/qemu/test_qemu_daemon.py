"""End to end: virtkitd's qemu:///system with real guests, across daemon crashes and restarts.

virtkit's client and Debian's stock ``virsh`` reach the daemon over its unix socket
(``qemu+unix:///system?socket=...``). Guests survive a SIGKILLed daemon, the next daemon on the
same root re-attaches to them, and autostart domains start with the daemon.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from qemu_e2e import QemuRoot, console_log, domain_xml, lifecycle, qemu_pids, wait_marker

import virtkit
from virtkit.constants import DomainEventType, DomainState
from virtkit.testing.peers import Daemon, start_virtkitd

pytestmark = pytest.mark.slow

VIRSH = shutil.which("virsh") or "/usr/bin/virsh"


class Daemons:
    """virtkitd instances on one root, one at a time; at teardown the guests are destroyed
    through the last daemon and it is stopped."""

    def __init__(self, root: QemuRoot) -> None:
        self.root = root
        self.current: Daemon | None = None
        self.conns: list[Any] = []

    def start(self) -> Daemon:
        t0 = time.monotonic()
        self.current = start_virtkitd(self.root.path)
        print(f"\nvirtkitd up in {time.monotonic() - t0:.2f} s")
        return self.current

    @property
    def uri(self) -> str:
        assert self.current is not None
        return self.current.uri("unix", "/system", "qemu")

    def open(self) -> Any:
        conn = virtkit.open(self.uri)
        self.conns.append(conn)
        return conn

    def virsh(self, *args: str) -> str:
        out = subprocess.run([VIRSH, "-c", self.uri, *args], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0, f"virsh {' '.join(args)}: {out.stderr}"
        return out.stdout

    def cleanup(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(Exception):
                conn.close()
        daemon = self.current
        if daemon is None:
            return
        if daemon.proc.poll() is None:
            with contextlib.suppress(Exception), virtkit.open(self.uri) as conn:
                for dom in conn.list_domains():
                    with contextlib.suppress(Exception):
                        if dom.is_active():
                            dom.destroy()
        daemon.stop()


@pytest.fixture
def daemons(qroot: QemuRoot) -> Iterator[Daemons]:
    d = Daemons(qroot)
    try:
        yield d
    finally:
        d.cleanup()


def wait_state(conn: Any, name: str, state: DomainState, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            dom = conn.lookup_domain(name)
            if dom.state_reason()[0] == state:
                return dom
        except virtkit.VirtError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not {state.name} after {timeout} s")
        time.sleep(0.1)


def test_guest_survives_daemon_crash(daemons: Daemons, qroot: QemuRoot, guest: Any) -> None:
    daemons.start()
    conn = daemons.open()
    dom = conn.define_domain(domain_xml(guest, qroot.path, "vm1"))
    t0 = time.monotonic()
    dom.start()
    print(f"start() over RPC returned in {time.monotonic() - t0:.3f} s")
    dom_id = dom.id
    assert dom_id > 0
    wait_marker(console_log(qroot.path, "vm1"), guest.READY_MARKER)
    pids = qemu_pids(str(qroot.path))
    assert len(pids) == 1

    daemons.current.kill()  # type: ignore[union-attr]  # SIGKILL, as a crash would
    time.sleep(0.3)
    assert qemu_pids(str(qroot.path)) == pids, "the guest died with the daemon"

    daemons.start()
    conn = daemons.open()
    dom = wait_state(conn, "vm1", DomainState.RUNNING)
    assert dom.id == dom_id
    assert dom.info().cpu_time > 0
    with conn.domain_events() as events:
        dom.suspend()
        assert lifecycle(events, until=(DomainEventType.SUSPENDED, 0)) == [
            (DomainEventType.SUSPENDED, 0)]
        dom.resume()
        assert lifecycle(events, until=(DomainEventType.RESUMED, 0)) == [
            (DomainEventType.RESUMED, 0)]

    # stock virsh on the re-attached guest
    listing = daemons.virsh("list")
    assert f" {dom_id} " in listing and "vm1" in listing and "running" in listing
    dominfo = daemons.virsh("dominfo", "vm1")
    assert f"Id:             {dom_id}" in dominfo
    assert "State:          running" in dominfo
    assert "Max memory:     262144 KiB" in dominfo
    assert daemons.virsh("domstate", "vm1", "--reason").strip() == "running (unpaused)"
    daemons.virsh("shutdown", "vm1")
    wait_state(conn, "vm1", DomainState.SHUTOFF)
    assert daemons.virsh("domstate", "vm1", "--reason").strip() == "shut off (shutdown)"
    assert qemu_pids(str(qroot.path)) == []


def test_autostart_on_daemon_start(daemons: Daemons, qroot: QemuRoot, guest: Any) -> None:
    daemons.start()
    conn = daemons.open()
    dom = conn.define_domain(domain_xml(guest, qroot.path, "auto1"))
    conn.define_domain(domain_xml(guest, qroot.path, "manual1"))
    dom.autostart = True
    assert dom.autostart
    assert daemons.virsh("list", "--all", "--autostart", "--name").split() == ["auto1"]
    conn.close()
    daemons.current.stop()  # type: ignore[union-attr]

    daemons.start()
    conn = daemons.open()
    dom = wait_state(conn, "auto1", DomainState.RUNNING)
    assert dom.id > 0
    assert conn.lookup_domain("manual1").state_reason()[0] == DomainState.SHUTOFF
    wait_marker(console_log(qroot.path, "auto1"), guest.BOOT_MARKER)
    dom.destroy()
