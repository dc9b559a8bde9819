"""The synchronous QMP monitor against a real QEMU (TCG, paused, no guest)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from typing import Any

import pytest
from qemu_testutil import QemuEnv, qemu_env

from virtkit.drivers.qemu.monitor import Monitor
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

pytestmark = pytest.mark.system  # real QEMU processes

__all__ = ["qemu_env"]


class Recorder:
    """Collects events and disconnects, with the thread each arrived on."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], float, str]] = []
        self.disconnects: list[str] = []
        self.cond = threading.Condition()

    def on_event(self, name: str, data: dict[str, Any], ts: float) -> None:
        with self.cond:
            self.events.append((name, data, ts, threading.current_thread().name))
            self.cond.notify_all()

    def on_disconnect(self) -> None:
        with self.cond:
            self.disconnects.append(threading.current_thread().name)
            self.cond.notify_all()

    def wait_for(self, pred: Any, timeout: float = 5.0) -> None:
        with self.cond:
            assert self.cond.wait_for(pred, timeout), (self.events, self.disconnects)

    def names(self) -> list[str]:
        return [e[0] for e in self.events]


def test_query_status_and_events_in_order(qemu_env: QemuEnv) -> None:
    rec = Recorder()
    _proc, mon = qemu_env.start(on_event=rec.on_event, on_disconnect=rec.on_disconnect)
    assert mon.execute("query-status")["status"] == "prelaunch"
    for _ in range(3):
        assert mon.execute("cont") == {}
        assert mon.execute("query-status")["status"] == "running"
        assert mon.execute("stop") == {}
        assert mon.execute("query-status")["status"] == "paused"
    rec.wait_for(lambda: len(rec.events) >= 6)
    assert rec.names() == ["RESUME", "STOP"] * 3
    stamps = [e[2] for e in rec.events]
    assert stamps == sorted(stamps)
    assert abs(stamps[0] - time.time()) < 60
    # Delivered on the monitor's own event thread, never on the loop thread.
    assert {e[3] for e in rec.events} == {"virtkit-qemu-events-vm"}
    assert not mon.closed and rec.disconnects == []


def test_error_reply_has_libvirts_wording(qemu_env: QemuEnv) -> None:
    _proc, mon = qemu_env.start()
    with pytest.raises(VirtError) as ei:
        mon.execute("no-such-command")
    err = ei.value
    assert err.code == ErrorCode.INTERNAL_ERROR and err.domain == ErrorDomain.QEMU
    assert str(err) == ("internal error: unable to execute QEMU command 'no-such-command': "
                        "The command no-such-command has not been found")
    with pytest.raises(VirtError, match="unable to execute QEMU command 'device_del': "):
        mon.execute("device_del", {"id": "nonexistent"})
    # The monitor is still usable after errors.
    assert mon.execute("query-status")["running"] is False


def test_quit_calls_on_disconnect_once(qemu_env: QemuEnv) -> None:
    rec = Recorder()
    proc, mon = qemu_env.start(on_event=rec.on_event, on_disconnect=rec.on_disconnect)
    mon.execute("quit")
    rec.wait_for(lambda: rec.disconnects)
    assert proc.wait(5) == 0
    time.sleep(0.1)
    assert rec.disconnects == ["virtkit-qemu-events-vm"]
    # SHUTDOWN (host-qmp-quit) arrives before the disconnect.
    assert rec.names()[-1] == "SHUTDOWN"
    assert rec.events[-1][1].get("reason") == "host-qmp-quit"
    assert mon.closed
    with pytest.raises(VirtError) as ei:
        mon.execute("query-status")
    assert ei.value.code == ErrorCode.INTERNAL_ERROR
    assert str(ei.value) == "internal error: End of file from qemu monitor (vm='vm')"
    mon.close()  # harmless after the loss
    assert rec.disconnects == ["virtkit-qemu-events-vm"]


def test_kill_while_command_pending(qemu_env: QemuEnv) -> None:
    rec = Recorder()
    proc, mon = qemu_env.start(on_disconnect=rec.on_disconnect)
    proc.kill()
    rec.wait_for(lambda: rec.disconnects)
    with pytest.raises(VirtError, match="End of file from qemu monitor"):
        mon.execute("query-status")
    assert proc.wait(5) == -9


def test_close_is_quiet_and_idempotent(qemu_env: QemuEnv) -> None:
    rec = Recorder()
    proc, mon = qemu_env.start(on_disconnect=rec.on_disconnect)
    mon.close()
    mon.close()
    assert mon.closed
    with pytest.raises(VirtError) as ei:
        mon.execute("query-status")
    assert ei.value.code == ErrorCode.OPERATION_FAILED
    assert str(ei.value) == "operation failed: domain is no longer running"
    time.sleep(0.1)
    assert rec.disconnects == []
    # QEMU keeps running and accepts a new connection (as after a daemon restart).
    assert proc.alive()
    mon2 = Monitor.connect(mon.socket_path)
    qemu_env.monitors.append(mon2)
    assert mon2.execute("query-status")["status"] == "prelaunch"


def test_connect_missing_socket_times_out() -> None:
    t0 = time.monotonic()
    with pytest.raises(VirtError) as ei:
        Monitor.connect("/nonexistent/qmp.sock", timeout=0.2)
    # not before its timeout; the upper bound only guards a hang
    assert 0.15 < time.monotonic() - t0 < 30
    assert ei.value.code == ErrorCode.SYSTEM_ERROR
    assert str(ei.value) == "failed to connect to monitor socket: No such file or directory"


def test_connect_gives_up_when_abort_if(tmp_path: Any) -> None:
    t0 = time.monotonic()
    with pytest.raises(VirtError, match="failed to connect to monitor socket"):
        Monitor.connect(str(tmp_path / "none.sock"), timeout=10, abort_if=lambda: True)
    assert time.monotonic() - t0 < 8  # gave up at once, not at its 10 s timeout


def test_concurrent_execute_from_threads(qemu_env: QemuEnv) -> None:
    _proc, mon = qemu_env.start()
    errors: list[BaseException] = []
    results: list[str] = []

    def worker() -> None:
        try:
            for _ in range(40):
                results.append(mon.execute("query-status")["status"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert results == ["prelaunch"] * 320


def test_event_callback_may_execute(qemu_env: QemuEnv) -> None:
    seen: list[str] = []
    done = threading.Event()
    holder: list[Monitor] = []

    def on_event(name: str, data: dict[str, Any], ts: float) -> None:
        if name == "RESUME":
            seen.append(holder[0].execute("query-status")["status"])
            done.set()

    _proc, mon = qemu_env.start(on_event=on_event)
    holder.append(mon)
    mon.execute("cont")
    assert done.wait(5)
    assert seen == ["running"]


class FakeQMP:
    """A QMP server that greets, negotiates, then never answers (for timeouts)."""

    def __init__(self, path: str) -> None:
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        self.srv.listen(1)
        self.conn: socket.socket | None = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        self.conn, _ = self.srv.accept()
        greeting = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7},
                                        "package": ""}, "capabilities": []}}
        self.conn.sendall(json.dumps(greeting).encode() + b"\n")
        # qemu.qmp sends no newline after a command: one recv() is one message here.
        msg = json.loads(self.conn.recv(65536))
        assert msg["execute"] == "qmp_capabilities"
        self.conn.sendall(b'{"return": {}}\n')
        while self.conn.recv(65536):  # swallow commands, never answer
            pass

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)
            self.conn.close()
        self.srv.close()


def test_execute_timeout(tmp_path: Any) -> None:
    path = os.path.join(str(tmp_path), "f.sock")
    fake = FakeQMP(path)
    rec = Recorder()
    mon = Monitor.connect(path, on_disconnect=rec.on_disconnect)
    try:
        t0 = time.monotonic()
        with pytest.raises(VirtError) as ei:
            mon.execute("query-status", timeout=0.2)
        assert time.monotonic() - t0 < 30  # the fake never answers: guards a hang only
        assert ei.value.code == ErrorCode.OPERATION_TIMEOUT
        assert "QEMU command 'query-status' got no reply" in str(ei.value)
        assert not mon.closed
        fake.close()  # the server hangs up: on_disconnect
        rec.wait_for(lambda: rec.disconnects)
    finally:
        mon.close()
        fake.close()


def test_many_calls_in_a_row_each_get_their_own_answer(qemu_env: QemuEnv) -> None:
    """500 round trips, each answered with its own reply (the figure is printed only:
    latency belongs to the benchmarks, not to a test)."""
    _proc, mon = qemu_env.start()
    n = 500
    t0 = time.perf_counter()
    statuses = [mon.execute("query-status") for _ in range(n)]
    per_call = (time.perf_counter() - t0) / n
    print(f"\nQMP query-status round trip: {per_call * 1e6:.0f} us")
    assert statuses == [{"status": "prelaunch", "singlestep": False, "running": False}] * n
