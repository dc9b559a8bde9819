"""One QEMU node never blocks on one guest: 40 guests (8 running the test guest under TCG),
concurrent calls from several threads while one guest's QMP event handling and one event
callback are held on purpose (bench/qemu_stress.py is the scenario; it prints the figures).

Functional properties only: every other guest's call ends while the slow handler is still
held (an Event holds it; no timing threshold), a call that needs the busy guest's job fails
after the (shortened) JOB_WAIT_TIME with libvirt's error, and once released the held call
completes. The latencies are printed (``pytest -s``).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import QemuRoot

from virtkit.constants import DomainState
from virtkit.errors import ErrorCode, ErrorDomain

pytestmark = pytest.mark.slow

_BENCH = Path(__file__).resolve().parents[3] / "bench" / "qemu_stress.py"


def _scenario() -> Any:
    name = "virtkit_bench_qemu_stress"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _BENCH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_one_slow_guest_and_callback_stall_no_other_guest(qroot: QemuRoot, guest: Any) -> None:
    stress = _scenario()
    result = stress.run(qroot.path, guest, guests=40, running=8, threads=4, rounds=2,
                        job_wait=1.0, log=print)
    print("\n" + result.summary("after"))
    assert result.handler_entered and result.callback_entered
    assert result.failures == []
    assert result.others_done_while_held
    calls = result.latencies
    for kind in ("getInfo", "getState", "XMLDesc", "suspend", "resume", "listAllDomains",
                 "domstats"):
        assert calls.get(kind), kind
    assert len(calls["getInfo"]) == 39 * 2 and len(calls["suspend"]) == 7 * 2
    err = result.busy_error
    assert err is not None
    assert err.code == ErrorCode.OPERATION_TIMEOUT and err.domain == ErrorDomain.QEMU
    assert err.message == "Timed out during operation: cannot acquire state change lock"
    # released: the call that held the job saw its STOP and the guest is paused
    assert result.slow_suspend_error is None
    assert result.slow_state == DomainState.PAUSED


def test_threads_are_named_daemons(qroot: QemuRoot, guest: Any) -> None:
    stress = _scenario()
    conn = qroot.open()
    dom = conn.define_domain(stress.domain_xml(guest, qroot.path, "named"))
    seen: list[str] = []
    got = threading.Event()

    def callback(*_args: Any) -> None:
        seen.append(threading.current_thread().name)
        got.set()

    handle = conn.on_domain_event(callback)
    dom.start()
    dom.suspend()
    assert got.wait(60)
    node = conn.tables.hypervisor._node
    qdom = node.by_name["named"]
    events = qdom.mon.event_thread
    assert events is not None and events.daemon and events.name == "virtkit-qemu-events-named"
    delivery = node.events.dispatcher_threads()
    assert len(delivery) == 1 and delivery[0].daemon
    assert seen and set(seen) == {delivery[0].name}
    assert delivery[0].name.startswith("virtkit-events-")
    handle.cancel()
    delivery[0].join(60)
    assert not delivery[0].is_alive()  # the last deregistration ends the connection's thread
    dom.destroy()
    events.join(60)
    assert not events.is_alive()  # the monitor closed: its event thread ended


def test_a_raising_event_handler_is_logged_and_handling_goes_on(
        qroot: QemuRoot, guest: Any, caplog: pytest.LogCaptureFixture) -> None:
    stress = _scenario()
    conn = qroot.open()
    dom = conn.define_domain(stress.domain_xml(guest, qroot.path, "sup"))
    dom.start()
    node = conn.tables.hypervisor._node
    on_event = node._on_event
    raised = threading.Event()

    def faulty(qdom: Any, name: str, data: dict[str, Any]) -> None:
        if name == "RESET" and not raised.is_set():
            raised.set()
            raise RuntimeError("handler bug")
        on_event(qdom, name, data)

    node._on_event = faulty
    try:
        with caplog.at_level("ERROR"):
            dom.reset()  # QEMU's RESET: the handler raises on the domain's event thread
            assert raised.wait(60)
            dom.suspend()  # the next event (STOP) is still handled on that thread
            assert dom.state_reason()[0] == DomainState.PAUSED
    finally:
        del node._on_event
    failed = [r for r in caplog.records if "QMP event callback of sup failed" in r.getMessage()]
    assert failed and failed[0].exc_info is not None
    assert isinstance(failed[0].exc_info[1], RuntimeError)
    assert node.by_name["sup"].mon.event_thread.is_alive()
    dom.destroy()
