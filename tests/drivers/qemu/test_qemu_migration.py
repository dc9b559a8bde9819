"""Migration of QEMU domains between two nodes (two roots) in one process: libvirt's
protocol version 3 driven by virtkit's client (managed direct mode), live and offline,
abort, and a destination QEMU killed mid-stream.

The guest runs a counter on its serial console (a shell loop started through the console
stream, one tick every 100 ms): a live migration must leave it counting on, from where it
was, on the destination. Every guest is TCG (domain type 'qemu')."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import (
    QemuRoot,
    console_log,
    domain_xml,
    kill_pid,
    lifecycle,
    qemu_pids,
    wait_marker,
    wait_until,
)

from virtkit.constants import DomainEventID, DomainEventType, DomainMigrateFlags, DomainState
from virtkit.errors import ErrorCode, VirtError

pytestmark = pytest.mark.slow

F = DomainMigrateFlags
EV = DomainEventType
STARTED_MIGRATED = (EV.STARTED, 1)
RESUMED_MIGRATED = (EV.RESUMED, 1)
SUSPENDED_MIGRATED = (EV.SUSPENDED, 1)
STOPPED_MIGRATED = (EV.STOPPED, 3)
_TICK = re.compile(rb"TICK-(\d+)")
_COUNTER = b"i=0; while :; do i=$((i+1)); echo TICK-$i; usleep 100000; done &\r"


class Hosts:
    """Two nodes (embedded roots) and a shared directory for logs and disks."""

    def __init__(self) -> None:
        self.src, self.dst = QemuRoot(), QemuRoot()
        self.shared = Path(tempfile.mkdtemp(prefix="vkm-", dir="/tmp"))
        self.csrc, self.cdst = self.src.open(), self.dst.open()

    def cleanup(self) -> list[int]:
        left = self.src.cleanup() + self.dst.cleanup()
        for pid in qemu_pids(str(self.shared)):
            left.append(pid)
            kill_pid(pid)
        shutil.rmtree(self.shared, ignore_errors=True)
        return left


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    h = Hosts()
    try:
        yield h
    finally:
        left = h.cleanup()
    assert not left, f"QEMU processes left running: {left}"


class Counter:
    """The guest's console counter, read through a console stream."""

    def __init__(self, dom: Any) -> None:
        self.buf: list[bytes] = []
        self.con = dom.open_console()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):
            for chunk in iter(self.con.recv, b""):
                self.buf.append(chunk)

    def start(self) -> None:
        self.con.send(_COUNTER)
        wait_until(lambda: self.last() >= 3, 20, "the guest's counter")

    def last(self) -> int:
        ticks = _TICK.findall(b"".join(self.buf))
        return max((int(t) for t in ticks), default=0)


def _boot(hosts: Hosts, guest: Any, name: str, memory_mib: int = 256) -> Any:
    dom = hosts.csrc.define_domain(domain_xml(guest, hosts.shared, name, memory_mib=memory_mib))
    dom.start()
    wait_marker(console_log(hosts.shared, name), guest.READY_MARKER, timeout=60)
    return dom


def test_live_migration_keeps_the_guest_running(hosts: Hosts, guest: Any) -> None:
    dom = _boot(hosts, guest, "mig-live")
    before = Counter(dom)
    before.start()
    src_events, dst_events = hosts.csrc.domain_events(), hosts.cdst.domain_events()
    completed = hosts.csrc.domain_events(DomainEventID.JOB_COMPLETED)
    moved = dom.migrate(hosts.cdst, F.LIVE | F.PERSIST_DEST, {})
    seen = before.last()
    assert moved.name == "mig-live" and moved.uuid == dom.uuid
    assert moved.state_reason() == (DomainState.RUNNING, 2)  # RUNNING_MIGRATED
    assert moved.is_persistent()
    # the source's copy stopped (it stays defined), its events say why
    assert dom.state_reason() == (DomainState.SHUTOFF, 4)  # SHUTOFF_MIGRATED
    assert lifecycle(src_events, timeout=10, until=STOPPED_MIGRATED) == [
        SUSPENDED_MIGRATED, STOPPED_MIGRATED]
    got = lifecycle(dst_events, timeout=10, until=RESUMED_MIGRATED)
    assert got[0] == STARTED_MIGRATED and got[-1] == RESUMED_MIGRATED
    # the counter goes on from where it was, on the destination
    after = Counter(moved)
    wait_until(lambda: after.last() > seen + 5, 20, "the counter on the destination")
    # JOB_COMPLETED on the source, with the job's statistics
    event = completed.get(timeout=10)
    assert event is not None and event.payload[0]["operation"] == 5  # MIGRATION_OUT
    assert event.payload[0]["memory_processed"] > 0
    # the source keeps the completed job's statistics
    _, stats = dom.job_stats(1 | 2)  # COMPLETED | KEEP_COMPLETED
    assert stats["operation"] == 5 and stats["memory_total"] > 0  # MIGRATION_OUT


def test_undefine_source_and_paused(hosts: Hosts, guest: Any) -> None:
    dom = _boot(hosts, guest, "mig-paused")
    moved = dom.migrate(hosts.cdst, F.LIVE | F.UNDEFINE_SOURCE | F.PAUSED, {})
    assert moved.state_reason() == (DomainState.PAUSED, 1)  # PAUSED_USER
    assert not moved.is_persistent()
    with pytest.raises(VirtError) as exc:
        hosts.csrc.lookup_domain("mig-paused")
    assert exc.value.code == ErrorCode.NO_DOMAIN
    moved.resume()
    assert moved.state == DomainState.RUNNING


def test_offline_migration_moves_the_definition(hosts: Hosts, guest: Any) -> None:
    xml = domain_xml(guest, hosts.shared, "mig-off")
    dom = hosts.csrc.define_domain(xml)
    moved = dom.migrate(hosts.cdst, F.OFFLINE | F.PERSIST_DEST | F.UNDEFINE_SOURCE,
                        {"destination_name": "mig-off2"})
    assert moved.name == "mig-off2" and moved.uuid == dom.uuid
    assert moved.is_persistent() and not moved.is_active()
    assert [d.name for d in hosts.csrc.list_domains()] == []


@pytest.mark.parametrize("flags,code,text", [
    (F.LIVE, ErrorCode.OPERATION_INVALID, "domain is not running"),
    (F.OFFLINE, ErrorCode.OPERATION_INVALID, "with the persistent flag set"),
    # virDomainMigrate3 (managed direct) refuses a tunnel before Begin
    (F.OFFLINE | F.PERSIST_DEST | F.TUNNELLED, ErrorCode.INVALID_ARG,
     "cannot perform tunnelled migration without using peer2peer flag"),
    (F.OFFLINE | F.PERSIST_DEST | F.NON_SHARED_DISK, ErrorCode.OPERATION_INVALID,
     "cannot handle non-shared storage"),
    (1 << 30, ErrorCode.INVALID_ARG, "unsupported flags"),
])
def test_begin_refuses_as_libvirt(hosts: Hosts, guest: Any, flags: int, code: int,
                                  text: str) -> None:
    dom = hosts.csrc.define_domain(domain_xml(guest, hosts.shared, "mig-bad"))
    with pytest.raises(VirtError) as exc:
        dom.migrate(hosts.cdst, flags, {})
    assert exc.value.code == code and text in exc.value.message
    assert [d.name for d in hosts.cdst.list_domains()] == []


def test_same_host_is_refused(hosts: Hosts, guest: Any) -> None:
    dom = _boot(hosts, guest, "mig-self")
    other = hosts.src.open()
    with pytest.raises(VirtError) as exc:
        dom.migrate(other, F.LIVE, {})
    assert exc.value.code == ErrorCode.INTERNAL_ERROR
    assert "Attempt to migrate guest to the same host" in exc.value.message
    assert dom.state == DomainState.RUNNING


def _slow_migration(hosts: Hosts, dom: Any) -> tuple[threading.Thread, list[Any]]:
    """Start a migration throttled to 1 MiB/s in a thread; (thread, [result or error])."""
    dom.migrate_set_max_speed(1)
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(dom.migrate(hosts.cdst, F.LIVE, {}))
        except VirtError as exc:
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait_until(lambda: dom.job_info().type == 2 and dom.job_info().data_processed > 0,
               30, "the migration to stream")  # VIR_DOMAIN_JOB_UNBOUNDED
    return t, out


def test_abort_leaves_the_guest_on_the_source(hosts: Hosts, guest: Any) -> None:
    dom = _boot(hosts, guest, "mig-abort")
    counter = Counter(dom)
    counter.start()
    t, out = _slow_migration(hosts, dom)
    dom.abort_job()
    t.join(60)
    assert not t.is_alive()
    assert isinstance(out[0], VirtError) and out[0].code == ErrorCode.OPERATION_ABORTED
    assert dom.state == DomainState.RUNNING
    seen = counter.last()
    wait_until(lambda: counter.last() > seen + 3, 20, "the counter on the source")
    wait_until(lambda: hosts.cdst.list_domains() == [], 20, "the destination's copy to go")


def test_destination_qemu_killed_mid_migration(hosts: Hosts, guest: Any) -> None:
    dom = _boot(hosts, guest, "mig-kill")
    counter = Counter(dom)
    counter.start()
    t, out = _slow_migration(hosts, dom)
    pids = qemu_pids(str(hosts.dst.path))
    assert len(pids) == 1
    kill_pid(pids[0])
    t.join(60)
    assert not t.is_alive()
    assert isinstance(out[0], VirtError)
    assert dom.state == DomainState.RUNNING
    seen = counter.last()
    wait_until(lambda: counter.last() > seen + 3, 20, "the counter on the source")
    wait_until(lambda: hosts.cdst.list_domains() == [], 20, "the destination's copy to go")


@pytest.mark.parametrize("params,code,text", [
    ({"bogus": 1}, ErrorCode.ARGUMENT_UNSUPPORTED, "parameter 'bogus' not supported"),
    ({"bandwidth": "fast"}, ErrorCode.INVALID_ARG,
     "invalid type 'string' for parameter 'bandwidth', expected 'ullong'"),
    ({"migrate_uri": "rdma://host"}, ErrorCode.ARGUMENT_UNSUPPORTED, "rdma"),
    ({"migrate_uri": "ftp://host"}, ErrorCode.ARGUMENT_UNSUPPORTED,
     "unsupported scheme ftp in migration URI ftp://host"),
])
def test_parameters_checked_as_libvirt(hosts: Hosts, guest: Any, params: dict[str, Any],
                                       code: int, text: str) -> None:
    dom = _boot(hosts, guest, "mig-params")
    with pytest.raises(VirtError) as exc:
        dom.migrate(hosts.cdst, F.LIVE, params)
    assert exc.value.code == code and text in exc.value.message
    assert dom.state == DomainState.RUNNING
    assert hosts.cdst.list_domains() == []


def test_a_domain_with_snapshots_stays(hosts: Hosts, guest: Any) -> None:
    dom = hosts.csrc.define_domain(domain_xml(guest, hosts.shared, "mig-snap"))
    full = dom.xml(2)  # INACTIVE
    dom.create_snapshot(f"<domainsnapshot><name>s1</name><creationTime>1</creationTime>"
                        f"<state>shutoff</state>{full}</domainsnapshot>", 1)  # REDEFINE
    with pytest.raises(VirtError) as exc:
        dom.migrate(hosts.cdst, F.OFFLINE | F.PERSIST_DEST, {})
    assert exc.value.code == ErrorCode.OPERATION_INVALID
    assert "cannot migrate domain with 1 snapshots" in exc.value.message
