"""Starting, watching, stopping and re-attaching real QEMU processes (TCG, no guest)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from qemu_testutil import QEMU, QemuEnv, qemu_argv, qemu_env

from virtkit.drivers.qemu.monitor import Monitor
from virtkit.drivers.qemu.process import (
    QemuProcess,
    proc_argv0,
    proc_start_time,
    read_log_tail,
)
from virtkit.drivers.qemu.status import DomainStatus, StatusStore
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

__all__ = ["qemu_env"]

# Starts QEMU in its own session, prints its pid and exits: QEMU is re-parented,
# as the guests of a daemon that was restarted.
LAUNCHER = """
import subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
print(p.pid, flush=True)
"""


def launch_foreign(env: QemuEnv) -> tuple[int, int, str]:
    """A QEMU that is not our child: (pid, start time, QMP socket)."""
    sock, pid_file, _log = env.paths()
    out = subprocess.run([sys.executable, "-c", LAUNCHER, *qemu_argv(sock, pid_file)],
                         capture_output=True, text=True, check=True, timeout=30)
    pid = int(out.stdout)
    start = proc_start_time(pid)
    assert start is not None
    env.foreign.append((pid, start))
    return pid, start, sock


def wait_until(pred: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_spawn_writes_log_header_and_pid(qemu_env: QemuEnv) -> None:
    t0 = time.monotonic()
    proc, mon = qemu_env.start()
    ready = time.monotonic() - t0
    print(f"\nspawn to QMP ready: {ready * 1e3:.1f} ms")
    assert proc.alive() and proc.is_child
    assert proc.start_time == proc_start_time(proc.pid)
    assert proc.argv0 == QEMU == proc_argv0(proc.pid)
    pid_file = mon.socket_path[:-len(".sock")] + ".pid"
    with open(pid_file) as f:
        assert int(f.read()) == proc.pid
    assert proc.log_file is not None
    with open(proc.log_file) as f:
        text = f.read()
    first, rest = text.split("\n", 1)
    assert " starting up virtkit version: " in first and ", kernel: " in first
    assert first[:4].isdigit() and first[23:29] == "+0000:"
    assert rest.startswith(f"{QEMU} \\\n-machine q35,accel=tcg \\\n-m 64 \\\n")
    assert proc.log_pos == len(text.encode())
    assert os.stat(proc.log_file).st_mode & 0o777 == 0o600
    # QEMU runs in its own session (it survives the daemon's process group).
    assert os.getsid(proc.pid) == proc.pid


def test_spawn_failure_reports_log_tail(qemu_env: QemuEnv) -> None:
    with pytest.raises(VirtError) as ei:
        qemu_env.spawn("-no-such-option")
    err = ei.value
    assert err.code == ErrorCode.INTERNAL_ERROR and err.domain == ErrorDomain.QEMU
    assert str(err) == ("internal error: process exited while connecting to monitor: "
                        "qemu-system-x86_64: -no-such-option: invalid option")


def test_failure_after_pidfile_caught_at_connect(qemu_env: QemuEnv) -> None:
    # A bad -device is refused after the pid file is written: the monitor
    # connection fails and the log explains why.
    with pytest.raises(VirtError) as ei:
        sock, pid_file, log_file = qemu_env.paths()
        proc = QemuProcess.spawn(qemu_argv(sock, pid_file, "-device", "no-such-device"),
                                 log_file=log_file, pid_file=pid_file)
        qemu_env.procs.append(proc)
        try:
            Monitor.connect(sock, abort_if=lambda: not proc.alive())
        except VirtError:
            proc.wait(5)
            raise proc.startup_error("process exited while connecting to monitor") from None
    assert "'no-such-device' is not a valid device model name" in str(ei.value)
    assert str(ei.value).startswith("internal error: process exited while connecting to monitor")


def test_spawn_missing_binary(qemu_env: QemuEnv) -> None:
    _sock, pid_file, log_file = qemu_env.paths()
    with pytest.raises(VirtError) as ei:
        QemuProcess.spawn(["/nonexistent/qemu", "-S"], log_file=log_file, pid_file=pid_file)
    assert ei.value.code == ErrorCode.SYSTEM_ERROR
    assert "No such file or directory" in str(ei.value)


def test_quit_detected_quickly(qemu_env: QemuEnv) -> None:
    proc, mon = qemu_env.start()
    got: list[tuple[int | None, float, str]] = []
    ev = threading.Event()

    def on_exit(status: int | None) -> None:
        got.append((status, time.monotonic(), threading.current_thread().name))
        ev.set()

    proc.on_exit(on_exit)
    t0 = time.monotonic()
    mon.execute("quit")
    assert ev.wait(5)
    assert got[0][0] == 0 and got[0][1] - t0 < 0.5
    assert got[0][2] == "virtkit-qemu-reaper"
    assert not proc.alive() and proc.wait(0) == 0 and proc.exit_status == 0
    # Reaped: no zombie left behind.
    assert not os.path.exists(f"/proc/{proc.pid}")
    # A callback added after the exit runs at once.
    late: list[int | None] = []
    proc.on_exit(late.append)
    assert late == [0]
    assert proc.cpu_time_ns() == 0 and proc.rss_kib() == 0


def test_terminate_graceful(qemu_env: QemuEnv) -> None:
    proc, _mon = qemu_env.start()
    proc.terminate()
    assert proc.wait(0) == 0  # QEMU exits cleanly on SIGTERM, no SIGKILL needed
    with open(proc.log_file or "") as f:
        assert "terminating on signal 15" in f.read()


def stop_process(pid: int) -> None:
    """SIGSTOP ``pid`` and wait until it is stopped: it cannot act on SIGTERM then."""
    os.kill(pid, signal.SIGSTOP)

    def stopped() -> bool:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"

    assert wait_until(stopped)


def test_terminate_forced_after_grace(qemu_env: QemuEnv) -> None:
    proc, _sock = qemu_env.spawn()
    stop_process(proc.pid)
    t0 = time.monotonic()
    proc.terminate(grace=0.3)
    took = time.monotonic() - t0
    assert 0.3 <= took < 30  # the grace was given; the upper bound guards a hang
    assert proc.wait(0) == -signal.SIGKILL


def test_terminate_without_force_reports_busy(qemu_env: QemuEnv) -> None:
    proc, _sock = qemu_env.spawn()
    stop_process(proc.pid)
    with pytest.raises(VirtError) as ei:
        proc.terminate(grace=0.2, force=False)
    assert ei.value.code == ErrorCode.SYSTEM_ERROR
    assert str(ei.value) == (f"Failed to terminate process {proc.pid} with SIGTERM: "
                             "Device or resource busy")
    assert proc.alive()
    proc.kill()
    assert proc.wait(5) == -signal.SIGKILL


def test_kill_and_signals_after_exit_are_noops(qemu_env: QemuEnv) -> None:
    proc, _sock = qemu_env.spawn()
    proc.kill()
    assert proc.wait(5) == -signal.SIGKILL
    proc.kill()
    proc.terminate(grace=0.1)


def test_wait_timeout(qemu_env: QemuEnv) -> None:
    proc, _sock = qemu_env.spawn()
    with pytest.raises(TimeoutError):
        proc.wait(0.05)


def test_resources(qemu_env: QemuEnv) -> None:
    proc, mon = qemu_env.start()
    assert proc.rss_kib() > 1024
    assert proc.cpu_time_ns() >= 0
    cpus = mon.execute("query-cpus-fast")
    tid = cpus[0]["thread-id"]
    assert tid in proc.thread_ids() and tid != proc.pid
    mon.execute("cont")
    time.sleep(0.3)  # the vCPU thread runs SeaBIOS under TCG
    assert proc.thread_cpu_time_ns(tid) > 0
    assert proc.cpu_time_ns() >= proc.thread_cpu_time_ns(tid)


def test_attach_after_daemon_restart(qemu_env: QemuEnv) -> None:
    pid, start, sock = launch_foreign(qemu_env)
    assert wait_until(lambda: os.path.exists(sock))
    # The restarted daemon reads the status file the old one wrote ...
    store = StatusStore(os.path.join(qemu_env.dir, "run"))
    store.save(DomainStatus(name="vm1", pid=pid, start_time=start, argv0=QEMU,
                            monitor_path=sock,
                            domain_xml="<domain type='qemu' id='1'>\n  <name>vm1</name>\n"
                                       "</domain>\n"))
    st = store.load("vm1")
    assert st is not None
    # ... and finds the same process again.
    proc = QemuProcess.attach(st.pid, expected_argv0=st.argv0, start_time=st.start_time)
    assert proc is not None and not proc.is_child and proc.alive()
    assert proc.rss_kib() > 1024
    lost = threading.Event()
    mon = Monitor.connect(st.monitor_path, on_disconnect=lost.set)
    qemu_env.monitors.append(mon)
    assert mon.execute("query-status")["status"] == "prelaunch"
    got: list[int | None] = []
    exited = threading.Event()
    proc.on_exit(lambda s: (got.append(s), exited.set()))
    t0 = time.monotonic()
    proc.kill()
    # Not our child: no status, but the exit is seen at once through the pidfd
    # (not after PID 1 gets round to reaping it).
    assert exited.wait(5)
    assert time.monotonic() - t0 < 1.5  # PID 1 here reaps only every ~1.7 s
    assert got == [None] and not proc.alive()
    assert lost.wait(5)
    proc.kill()  # the pidfd is closed: never signals whatever has the pid now


def test_attach_terminate_foreign(qemu_env: QemuEnv) -> None:
    pid, start, _sock = launch_foreign(qemu_env)
    proc = QemuProcess.attach(pid, start_time=start)
    assert proc is not None
    proc.terminate()
    assert proc.wait(0) is None  # gone; not our child, so no status


def test_attach_refuses_other_process(qemu_env: QemuEnv) -> None:
    pid, start, _sock = launch_foreign(qemu_env)
    assert QemuProcess.attach(pid, start_time=start + 1) is None
    assert QemuProcess.attach(pid, start_time=start, expected_argv0="/usr/bin/other") is None
    # Refused: nothing was signalled.
    time.sleep(0.05)
    assert proc_start_time(pid) == start
    assert QemuProcess.attach(0) is None
    # A pid that does not exist.
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert QemuProcess.attach(dead.pid) is None


SUBREAPER_SCRIPT = """
import ctypes, json, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
launcher, argv = sys.argv[1], sys.argv[2:]
out = subprocess.run([sys.executable, "-c", launcher, *argv], capture_output=True, text=True,
                     check=True)
pid = int(out.stdout)
from virtkit.drivers.qemu.process import QemuProcess, proc_start_time
proc = QemuProcess.attach(pid, start_time=proc_start_time(pid))
assert proc is not None and not proc.is_child
assert os.getppid() != pid
proc.kill()
status = proc.wait(5)
print(json.dumps({"status": status, "gone": not os.path.exists(f"/proc/{pid}")}))
"""


def test_attach_as_subreaper_reaps_and_gets_status(qemu_env: QemuEnv) -> None:
    # The daemon is a child subreaper: guests re-parented to it are reaped at
    # once and their exit status is known.
    sock, pid_file, _log = qemu_env.paths()
    out = subprocess.run([sys.executable, "-c", SUBREAPER_SCRIPT, LAUNCHER,
                          *qemu_argv(sock, pid_file)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"status": -signal.SIGKILL, "gone": True}


def test_read_log_tail(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "x.log")
    with open(path, "w") as f:
        f.write("header line\n")
        pos = f.tell()
        f.write("2024-01-01 10:00:00.000+0000: 1234: debug : something internal\n")
        f.write("char device redirected to /dev/pts/3 (label charserial0)\n")
        f.write("qemu: first problem\nqemu: second problem\n")
    assert read_log_tail(path, pos) == "qemu: first problem\nqemu: second problem"
    assert read_log_tail(path, 0).startswith("header line\n")
    # Only the end is kept, cut at a line start.
    with open(path, "a") as f:
        for i in range(200):
            f.write(f"line {i:03d} of noise\n")
    tail = read_log_tail(path, pos)
    assert len(tail) <= 1024 and tail.startswith("line ") and tail.endswith("line 199 of noise")
    assert read_log_tail(os.path.join(str(tmp_path), "missing.log")) == ""


def test_no_fd_or_thread_leak(qemu_env: QemuEnv) -> None:
    def cycle() -> None:
        exited = threading.Event()
        proc, mon = qemu_env.start()
        proc.on_exit(lambda _s: exited.set())
        mon.execute("query-status")
        mon.execute("quit")
        assert exited.wait(5)
        mon.close()
        qemu_env.monitors.remove(mon)
        qemu_env.procs.remove(proc)

    cycle()  # the shared threads start here
    time.sleep(0.1)
    fds = len(os.listdir("/proc/self/fd"))
    threads = threading.active_count()
    t0 = time.monotonic()
    for _ in range(20):
        cycle()
    per_cycle = (time.monotonic() - t0) / 20
    print(f"\nspawn + connect + quit cycle: {per_cycle * 1e3:.1f} ms")
    time.sleep(0.1)
    assert len(os.listdir("/proc/self/fd")) == fds
    assert threading.active_count() == threads
