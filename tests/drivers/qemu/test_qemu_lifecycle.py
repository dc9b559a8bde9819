"""End to end: the QEMU driver runs the real test guest under TCG (qemu:///embed).

Define, start, boot, inspect, suspend/resume, stats, ACPI shutdown, destroy, reboot, the console
stream, transient domains and the errors libvirt gives. Measured times are printed (``-s``).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import (
    QemuRoot,
    console_log,
    domain_xml,
    lifecycle,
    pid_alive,
    qemu_pids,
    wait_marker,
    wait_until,
)

from virtkit.constants import DomainEventID, DomainEventType, DomainState
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

pytestmark = pytest.mark.slow

EV = DomainEventType
STARTED_BOOTED = (EV.STARTED, 0)
SUSPENDED_PAUSED = (EV.SUSPENDED, 0)
RESUMED_UNPAUSED = (EV.RESUMED, 0)
SHUTDOWN_GUEST = (EV.SHUTDOWN, 1)
SHUTDOWN_HOST = (EV.SHUTDOWN, 2)
STOPPED_SHUTDOWN = (EV.STOPPED, 0)
STOPPED_DESTROYED = (EV.STOPPED, 1)
# virDomainShutoffReason / virDomainRunningReason / virDomainPausedReason
SHUTOFF_SHUTDOWN, SHUTOFF_DESTROYED, SHUTOFF_FAILED = 1, 2, 6
RUNNING_BOOTED, RUNNING_UNPAUSED = 1, 5
PAUSED_USER = 1


def qemu_pid(root: QemuRoot) -> int:
    pids = qemu_pids(str(root.path))
    assert len(pids) == 1, pids
    return pids[0]


def test_full_lifecycle(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    disk = guest.copy_disk(root / "vm1.qcow2")
    dom = conn.define_domain(domain_xml(guest, root, "vm1", disk=disk))
    assert dom.state_reason()[0] == DomainState.SHUTOFF
    events = conn.domain_events()

    t0 = time.monotonic()
    dom.start()
    t_start = time.monotonic() - t0
    assert dom.id > 0
    boot = wait_marker(console_log(root, "vm1"), guest.BOOT_MARKER) + t_start
    print(f"\nstart() returned in {t_start:.3f} s; boot marker after {boot:.2f} s")
    pid = qemu_pid(qroot)

    info = dom.info()
    assert info.state == DomainState.RUNNING
    assert info.cpu_time > 0
    assert info.max_mem == 256 * 1024
    assert 0 < info.memory <= 256 * 1024
    assert info.nr_virt_cpu == 1
    assert dom.state_reason() == (DomainState.RUNNING, RUNNING_BOOTED)

    live = dom.xml()
    assert f"id='{dom.id}'" in live.split(">", 1)[0]
    assert "<source path='/dev/pts/" in live
    for alias in ("serial0", "virtio-disk0", "net0"):
        assert f"<alias name='{alias}'/>" in live, alias
    assert "id=" not in dom.xml(flags=2).split(">", 1)[0]  # INACTIVE: no id, no aliases
    assert "<alias" not in dom.xml(flags=2)

    # libvirtd 9.0: the CPUs' RESUME (RESUMED/UNPAUSED) precedes STARTED/BOOTED
    assert lifecycle(events, until=STARTED_BOOTED) == [RESUMED_UNPAUSED, STARTED_BOOTED]
    dom.suspend()
    assert dom.state_reason() == (DomainState.PAUSED, PAUSED_USER)
    assert lifecycle(events, until=SUSPENDED_PAUSED) == [SUSPENDED_PAUSED]
    dom.resume()
    assert dom.state_reason() == (DomainState.RUNNING, RUNNING_UNPAUSED)
    assert lifecycle(events, until=RESUMED_UNPAUSED) == [RESUMED_UNPAUSED]

    wait_marker(console_log(root, "vm1"), guest.DISK_OK_MARKER)
    stats = dom.stats()
    assert stats["state.state"] == DomainState.RUNNING
    assert stats["cpu.time"] > 0
    assert 0 < stats["balloon.current"] <= 256 * 1024
    assert stats["vcpu.current"] == 1 and stats["vcpu.maximum"] == 1
    assert stats["vcpu.0.state"] == 1
    assert stats["net.count"] == 1
    assert stats["block.count"] == 1
    assert stats["block.0.name"] == "vda"
    assert stats["block.0.path"] == str(disk)

    t0 = time.monotonic()
    dom.shutdown()
    got = lifecycle(events, timeout=20, until=STOPPED_SHUTDOWN)
    t_shutdown = time.monotonic() - t0
    print(f"shutdown (ACPI) to STOPPED in {t_shutdown:.2f} s; events {got}")
    assert SHUTDOWN_GUEST in got
    assert got[-1] == STOPPED_SHUTDOWN
    assert got.index(SHUTDOWN_GUEST) < got.index(STOPPED_SHUTDOWN)
    assert guest.POWEROFF_MARKER in console_log(root, "vm1").read_text()
    assert dom.state_reason() == (DomainState.SHUTOFF, SHUTOFF_SHUTDOWN)
    assert dom.info().cpu_time == 0
    assert not pid_alive(pid)
    assert not os.path.exists(root / "run" / "qemu" / "vm1.xml")  # status file gone

    dom.undefine()
    with pytest.raises(VirtError) as exc:
        conn.lookup_domain("vm1")
    assert exc.value.code == ErrorCode.NO_DOMAIN
    events.close()


def test_block_stats_count_guest_io(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    """The guest reads and writes its virtio disk at boot: block.0.rd/wr.* show it."""
    root = qroot.path
    disk = guest.copy_disk(root / "vm1.raw", "raw")
    dom = conn.define_domain(domain_xml(guest, root, "vm1", disk=disk, disk_format="raw"))
    dom.start()
    wait_marker(console_log(root, "vm1"), guest.DISK_OK_MARKER)
    stats = dom.stats()
    assert stats.get("block.0.rd.reqs", 0) > 0, stats
    assert stats.get("block.0.wr.reqs", 0) > 0, stats
    assert stats["block.0.wr.bytes"] >= 512
    dom.destroy()
    assert guest.DISK_MARKER.encode() in disk.read_bytes()[:512]


def test_shutdown_events_match_libvirt(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    """libvirt (qemuProcessHandleShutdown/HandleStop): SHUTDOWN moves the domain to the
    'shutdown' state, so QEMU's following STOP (-no-shutdown) and the SHUTDOWN that 'quit'
    causes emit nothing: exactly SHUTDOWN/GUEST, then STOPPED/SHUTDOWN."""
    root = qroot.path
    dom = conn.define_domain(domain_xml(guest, root, "vm1"))
    dom.start()
    wait_marker(console_log(root, "vm1"), guest.READY_MARKER)
    with conn.domain_events() as events:
        dom.shutdown()
        got = lifecycle(events, timeout=20, until=STOPPED_SHUTDOWN)
    assert got == [SHUTDOWN_GUEST, STOPPED_SHUTDOWN]


def test_start_paused_then_resume(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    dom = conn.define_domain(domain_xml(guest, root, "vm1"))
    with conn.domain_events() as events:
        dom.start(1)  # VIR_DOMAIN_START_PAUSED
        assert dom.state_reason() == (DomainState.PAUSED, PAUSED_USER)
        assert dom.info().state == DomainState.PAUSED
        assert lifecycle(events, until=SUSPENDED_PAUSED) == [STARTED_BOOTED, SUSPENDED_PAUSED]
        time.sleep(0.5)
        log = console_log(root, "vm1")
        assert not log.exists() or guest.BOOT_MARKER not in log.read_text()
        dom.resume()
        assert dom.state_reason() == (DomainState.RUNNING, RUNNING_UNPAUSED)
        assert lifecycle(events, until=RESUMED_UNPAUSED) == [RESUMED_UNPAUSED]
        with pytest.raises(VirtError) as exc:  # libvirt's qemuDomainResume
            dom.resume()
        assert (exc.value.code, exc.value.domain) == (ErrorCode.OPERATION_INVALID,
                                                      ErrorDomain.QEMU)
        assert str(exc.value) == "Requested operation is not valid: domain is already running"
    wait_marker(log, guest.BOOT_MARKER)


def test_destroy_running_guest(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    dom = conn.define_domain(domain_xml(guest, root, "vm1"))
    dom.start()
    wait_marker(console_log(root, "vm1"), guest.BOOT_MARKER)
    pid = qemu_pid(qroot)
    with conn.domain_events() as events:
        t0 = time.monotonic()
        dom.destroy()
        took = time.monotonic() - t0
        print(f"\ndestroy() took {took * 1000:.0f} ms")
        got = lifecycle(events, until=STOPPED_DESTROYED, timeout=3)
    assert dom.id == -1
    assert not pid_alive(pid)  # destroy() returned once QEMU was gone
    assert dom.state_reason() == (DomainState.SHUTOFF, SHUTOFF_DESTROYED)
    # libvirtd 9.0: QEMU's SHUTDOWN on the SIGTERM is "Shutdown Finished after host request"
    assert got == [SHUTDOWN_HOST, STOPPED_DESTROYED]
    with pytest.raises(VirtError) as exc:
        dom.destroy()
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    assert "domain is not running" in str(exc.value)
    # the definition survives: it starts again
    dom.start()
    assert dom.state_reason()[0] == DomainState.RUNNING
    dom.destroy()


def test_reboot_is_a_fake_reboot(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    log = console_log(root, "vm1")
    dom = conn.define_domain(domain_xml(guest, root, "vm1"))
    dom.start()
    wait_marker(log, guest.READY_MARKER)
    dom_id, pid = dom.id, qemu_pid(qroot)
    reboots = conn.domain_events(DomainEventID.REBOOT)
    with conn.domain_events() as events:
        t0 = time.monotonic()
        dom.reboot()
        took = wait_marker(log, guest.BOOT_MARKER, count=2, timeout=30)
        print(f"\nreboot: second boot marker after {took:.2f} s")
        assert log.read_text().count(guest.POWEROFF_MARKER) == 1
        assert reboots.get(timeout=5) is not None  # QEMU's RESET -> VIR_DOMAIN_EVENT_ID_REBOOT
        assert dom.state_reason()[0] == DomainState.RUNNING
        dom.refresh()
        assert dom.id == dom_id
        assert conn.lookup_domain("vm1").id == dom_id
        assert qemu_pid(qroot) == pid
        # libvirt hides the transient pause of a fake reboot: no lifecycle event at all
        assert lifecycle(events, timeout=1.0) == []
    reboots.close()
    assert time.monotonic() - t0 < 120  # guards a hang only
    dom.destroy()


def test_reset_reboots_hard(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    log = console_log(root, "vm1")
    dom = conn.define_domain(domain_xml(guest, root, "vm1"))
    dom.start()
    wait_marker(log, guest.BOOT_MARKER)
    dom.reset()
    wait_marker(log, guest.BOOT_MARKER, count=2)
    assert guest.POWEROFF_MARKER not in log.read_text()
    assert dom.state_reason()[0] == DomainState.RUNNING
    dom.destroy()


def test_console_stream(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    dom = conn.define_domain(domain_xml(guest, root, "vm1"))
    dom.start()
    wait_marker(console_log(root, "vm1"), guest.READY_MARKER)
    stream = dom.open_console()
    buf = bytearray()
    lock = threading.Lock()

    def pump() -> None:
        while True:
            try:
                data = stream.recv(4096)
            except OSError:  # see test_console_recv_racing_abort_ends_quietly
                return
            if not data:
                return
            with lock:
                buf.extend(data)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def seen(text: bytes) -> bool:
        with lock:
            return text in buf

    try:
        stream.send(b"\r")
        wait_until(lambda: seen(b"# "), 10, "a shell prompt")
        stream.send(b"echo virtkit-$((6*7))\r")
        wait_until(lambda: seen(b"virtkit-42"), 10, "virtkit-42 from the guest")
    finally:
        stream.abort()
        reader.join(5)
    assert not reader.is_alive(), "recv() did not return after abort()"
    with lock:
        assert b"echo virtkit-$((6*7))" in buf  # the echo of what was typed


def test_screenshot(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    from virtkit.streams import recv_all

    root = qroot.path
    dom = conn.define_domain(domain_xml(guest, root, "vm1",
                                        extra_devices="<video><model type='vga'/></video>"))
    dom.start()
    mime, stream = dom.screenshot()
    data = recv_all(stream)
    assert mime == "image/x-portable-pixmap"
    assert data.startswith(b"P6\n")
    dom.destroy()


def test_transient_domain(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    root = qroot.path
    with conn.domain_events() as events:
        dom = conn.create_domain(domain_xml(guest, root, "tr1"))
        assert dom.id > 0
        assert not dom.is_persistent()
        assert dom.state_reason()[0] == DomainState.RUNNING
        assert [d.name for d in conn.list_domains()] == ["tr1"]
        wait_marker(console_log(root, "tr1"), guest.BOOT_MARKER)
        dom.destroy()
        got = lifecycle(events, until=STOPPED_DESTROYED, timeout=3)
    with pytest.raises(VirtError) as exc:
        conn.lookup_domain("tr1")
    assert exc.value.code == ErrorCode.NO_DOMAIN
    assert conn.list_domains() == []
    assert not (root / "etc" / "qemu" / "tr1.xml").exists()
    assert not list((root / "run" / "qemu").glob("*.xml"))
    assert got == [RESUMED_UNPAUSED, STARTED_BOOTED, SHUTDOWN_HOST, STOPPED_DESTROYED]


def test_start_twice_is_refused(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    dom = conn.define_domain(domain_xml(guest, qroot.path, "vm1"))
    dom.start(1)
    with pytest.raises(VirtError) as exc:
        dom.start()
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    assert str(exc.value) == "Requested operation is not valid: domain is already running"
    assert len(qemu_pids(str(qroot.path))) == 1
    dom.destroy()


def test_unsupported_element_is_named(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    """A transient create of what the builder cannot run is refused by start, naming the
    element, leaving no QEMU, status file or domain (define refuses the same earlier:
    test_qemu_hardening.py)."""
    with pytest.raises(VirtError) as exc:
        conn.create_domain(domain_xml(guest, qroot.path, "vm1",
                                      extra_devices="<hub type='usb'/>"))
    assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED
    assert "<domain/devices/hub>" in str(exc.value)
    assert conn.list_domains() == []
    assert qemu_pids(str(qroot.path)) == []
    assert not list((qroot.path / "run" / "qemu").glob("*.xml"))


def test_missing_kernel_fails_cleanly(qroot: QemuRoot, conn: Any, guest: Any) -> None:
    missing = qroot.path / "no-such-vmlinuz"
    dom = conn.define_domain(domain_xml(guest, qroot.path, "vm1", kernel=str(missing)))
    with conn.domain_events() as events:
        t0 = time.monotonic()
        with pytest.raises(VirtError) as exc:
            dom.start()
        took = time.monotonic() - t0
        print(f"\nfailed start reported in {took:.2f} s: {exc.value}")
        # nothing was announced: the domain never started
        assert lifecycle(events, timeout=0.5) == []
    assert exc.value.code in (ErrorCode.INTERNAL_ERROR, ErrorCode.OPERATION_FAILED)
    assert str(missing) in str(exc.value)  # QEMU's own words, from its log
    assert took < 60  # reported when QEMU failed, not after a hang (guard only)
    assert dom.state_reason()[0] == DomainState.SHUTOFF
    assert dom.id == -1
    assert not dom.is_active()
    assert qemu_pids(str(qroot.path)) == []
    assert not list((qroot.path / "run" / "qemu").glob("*.xml"))
    assert not list((qroot.path / "lib" / "qemu").glob("domain-*"))
    log = Path(qroot.path / "log" / "qemu" / "vm1.log")
    assert str(missing) in log.read_text()


def test_console_recv_racing_abort_ends_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """abort() from another thread between recv()'s select and its read: recv returns b""
    (seen in test_console_stream as an OSError EBADF escaping from the reader thread)."""
    import pty
    import select
    import types

    from virtkit.drivers.qemu import console

    master, slave = pty.openpty()
    try:
        stream = console.PtyStream(os.ttyname(slave))
        os.write(master, b"guest output\n")  # a whole line: readable in canonical mode

        def select_then_abort(r: Any, w: Any, x: Any, t: float) -> Any:
            ready = select.select(r, w, x, t)
            assert ready[0], "the pty should be readable"
            stream.abort()  # what the other thread does at that moment
            return ready

        monkeypatch.setattr(console, "select", types.SimpleNamespace(select=select_then_abort))
        assert stream.recv() == b""
    finally:
        os.close(master)
        os.close(slave)
