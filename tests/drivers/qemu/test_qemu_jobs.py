"""libvirt's job wait with real TCG guests (qemu:///embed): a call that finds its domain's job
held gives up after the (here shortened) wait with libvirt's error and message, while calls on
other domains proceed; a state wait that never sees its event fails instead of succeeding.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from qemu_e2e import QemuRoot, domain_xml

from virtkit.constants import DomainState
from virtkit.drivers import domainjob
from virtkit.drivers.qemu import node as qnode
from virtkit.errors import ErrorCode, ErrorDomain, VirtError
from virtkit.rpc.bindings import dispatch_name

pytestmark = pytest.mark.slow

WAIT = 2.0  # the shortened VIR_JOB_WAIT_TIME


@pytest.fixture
def two(qroot: QemuRoot, conn: Any, guest: Any,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    monkeypatch.setattr(domainjob, "JOB_WAIT_TIME", WAIT)
    doms = []
    for name in ("busy", "free"):
        dom = conn.define_domain(domain_xml(guest, qroot.path, name))
        dom.start(1)  # paused: nothing to boot, the job is what matters
        doms.append(dom)
    yield doms[0], doms[1]


def _domain(conn: Any, name: str) -> Any:
    return conn.tables.hypervisor._node.by_name[name]


class Holder:
    """Holds a domain's job on its own thread, named as libvirtd's dispatcher names it."""

    def __init__(self, job: domainjob.DomainJob, name: str | None) -> None:
        self.taken, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, args=(job, name), daemon=True)
        self.thread.start()
        assert self.taken.wait(5)

    def _run(self, job: domainjob.DomainJob, name: str | None) -> None:
        if name is None:
            self._hold(job)
        else:
            with domainjob.thread_job(name):
                self._hold(job)

    def _hold(self, job: domainjob.DomainJob) -> None:
        with job:
            self.taken.set()
            self.release.wait(60)

    def stop(self) -> None:
        self.release.set()
        self.thread.join(5)


def test_held_job_times_out_with_libvirts_message(conn: Any, two: tuple[Any, Any]) -> None:
    busy, _ = two
    holder = Holder(_domain(conn, "busy").job, dispatch_name("DOMAIN_SAVE"))
    try:
        t0 = time.monotonic()
        with pytest.raises(VirtError) as exc:
            busy.resume()
        waited = time.monotonic() - t0
    finally:
        holder.stop()
    print(f"\nwaited {waited:.2f} s for the job")
    assert waited >= WAIT - 0.05  # it waited its time (the upper bound guards a hang only)
    assert waited < WAIT + 30
    assert exc.value.code == ErrorCode.OPERATION_TIMEOUT
    assert exc.value.domain == ErrorDomain.QEMU
    assert str(exc.value) == ("Timed out during operation: cannot acquire state change lock "
                              "(held by monitor=remoteDispatchDomainSave)")
    busy.suspend()  # the job is free again
    busy.resume()
    assert busy.state == DomainState.RUNNING


def test_unnamed_holder_gives_the_plain_message(conn: Any, two: tuple[Any, Any]) -> None:
    busy, _ = two
    holder = Holder(_domain(conn, "busy").job, None)
    try:
        with pytest.raises(VirtError) as exc:
            busy.suspend()
    finally:
        holder.stop()
    assert str(exc.value) == "Timed out during operation: cannot acquire state change lock"


def test_a_waiting_call_blocks_no_other_domain(conn: Any, two: tuple[Any, Any]) -> None:
    busy, free = two
    holder = Holder(_domain(conn, "busy").job, dispatch_name("DOMAIN_SUSPEND"))
    waiter_error: list[BaseException] = []

    def wait_on_busy() -> None:
        try:
            busy.resume()
        except VirtError as e:
            waiter_error.append(e)

    waiter = threading.Thread(target=wait_on_busy, daemon=True)
    t0 = time.monotonic()
    waiter.start()
    try:
        time.sleep(0.2)  # the waiter is now waiting for busy's job
        latencies = []
        for call in (free.suspend, free.resume, free.info, conn.list_domains,
                     lambda: conn.lookup_domain("busy"), busy.info, busy.xml):
            c0 = time.monotonic()
            call()
            latencies.append(time.monotonic() - c0)
        done = time.monotonic() - t0
        assert waiter.is_alive(), "the other calls must finish while the waiter still waits"
    finally:
        waiter.join(WAIT + 5)
        holder.stop()
    print(f"\nother calls: worst {max(latencies) * 1000:.0f} ms, all done after {done:.2f} s")
    assert free.state == DomainState.RUNNING
    assert len(waiter_error) == 1 and "(held by monitor=remoteDispatchDomainSuspend)" in str(
        waiter_error[0])


def test_suspend_fails_when_the_guest_never_pauses(
        conn: Any, two: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    busy, _ = two
    if busy.state == DomainState.PAUSED:
        busy.resume()
    node = conn.tables.hypervisor._node
    on_event = node._on_event

    def drop_stop(dom: Any, name: str, data: dict[str, Any]) -> None:
        if name != "STOP":
            on_event(dom, name, data)

    monkeypatch.setattr(qnode, "STATE_WAIT_TIME", 0.5)
    monkeypatch.setattr(node, "_on_event", drop_stop)
    with pytest.raises(VirtError) as exc:
        busy.suspend()
    assert exc.value.code == ErrorCode.OPERATION_TIMEOUT
    assert str(exc.value) == "Timed out during operation: domain 'busy' did not pause"
