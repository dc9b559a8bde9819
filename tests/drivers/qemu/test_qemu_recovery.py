"""Crash recovery of the QEMU node, one case at a time, with real (guest-less) QEMU processes.

A status record is written as a killed daemon would have left it, next to a QEMU launched by
another process (re-parented, not our child); a node opened on the root then kills an unfinished
start's QEMU (found by its pid file, or by ``-pidfile``/``-uuid`` on its command line before it
wrote one), leaves alone a process that only has a recorded pid (reused), and resumes a guest
whose save was interrupted. Also the pidfile lock: a second QEMU of a domain cannot start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from qemu_testutil import QEMU, qemu_argv

from virtkit.constants import DomainRunningReason, DomainShutoffReason, DomainState
from virtkit.drivers.persist import ConfigStore
from virtkit.drivers.qemu.monitor import Monitor
from virtkit.drivers.qemu.node import QemuNode
from virtkit.drivers.qemu.paths import QemuPaths
from virtkit.drivers.qemu.process import QemuProcess, proc_start_time
from virtkit.drivers.qemu.status import DomainStatus, StatusStore
from virtkit.errors import VirtError

LAUNCHER = """
import subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
print(p.pid, flush=True)
"""


def wait_for(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class Root:
    """An embedded root with one persistent domain, and the processes a test launched."""

    def __init__(self, path: Path) -> None:
        self.paths = QemuPaths.embed(str(path))
        self.paths.ensure()
        self.uuid = str(uuidlib.uuid4())
        self.run_dir = os.path.join(self.paths.lib_dir, "domain-1-vm1")
        os.makedirs(self.run_dir)
        self.sock = os.path.join(self.run_dir, "monitor.sock")
        self.pid_file = os.path.join(self.paths.status_dir, "vm1.pid")
        self.launched: list[tuple[int, int]] = []
        ConfigStore(self.paths.config_dir).save("vm1", self.xml())

    def xml(self, dom_id: int = 0) -> str:
        id_attr = f" id='{dom_id}'" if dom_id else ""
        return (f"<domain type='qemu'{id_attr}>\n  <name>vm1</name>\n  <uuid>{self.uuid}</uuid>\n"
                "  <memory unit='KiB'>65536</memory>\n  <os>\n"
                "    <type arch='x86_64' machine='q35'>hvm</type>\n  </os>\n</domain>\n")

    def launch(self, *argv: str) -> int:
        """Start ``argv`` in its own session from another process (not our child)."""
        out = subprocess.run([sys.executable, "-c", LAUNCHER, *argv], capture_output=True,
                             text=True, check=True, timeout=30)
        pid = int(out.stdout)
        start = proc_start_time(pid)
        assert start is not None
        self.launched.append((pid, start))
        return pid

    def launch_qemu(self) -> int:
        """The domain's QEMU as the driver starts it (-pidfile, -uuid), paused."""
        pid = self.launch(*qemu_argv(self.sock, self.pid_file, "-uuid", self.uuid))
        assert wait_for(lambda: os.path.exists(self.sock), 10)
        return pid

    def record(self, pid: int, state: str, reason: str, job: str = "") -> None:
        """The status file a killed daemon left."""
        start = proc_start_time(pid) if pid > 0 else 0
        StatusStore(self.paths.status_dir).save(DomainStatus(
            name="vm1", pid=pid, domain_xml=self.xml(1), state=state, reason=reason,
            start_time=start or 0, argv0=QEMU, monitor_path=self.sock,
            pid_file=self.pid_file, job=job))

    def alive(self, pid: int) -> bool:
        proc = QemuProcess.attach(pid)
        return proc is not None

    def cleanup(self) -> None:
        for pid, start in self.launched:
            proc = QemuProcess.attach(pid, start_time=start)
            if proc is not None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def root() -> Iterator[Root]:
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="vkr-", dir="/tmp"))  # sockets: under 108 bytes
    r = Root(path)
    try:
        yield r
    finally:
        r.cleanup()
        shutil.rmtree(path, ignore_errors=True)


def gone(pid: int) -> bool:
    return wait_for(lambda: QemuProcess.attach(pid) is None, 10)


@pytest.mark.parametrize("recorded", ["spawned", "not-yet"])
def test_unfinished_start_is_killed_and_reported_failed(root: Root, recorded: str) -> None:
    pid = root.launch_qemu()
    # "not-yet": the daemon died before it learnt the pid (the record says 0)
    root.record(pid if recorded == "spawned" else 0, "paused", "starting up")
    node = QemuNode(root.paths)
    dom = node.by_name["vm1"]
    assert gone(pid)
    assert (dom.state, dom.reason) == (DomainState.SHUTOFF, DomainShutoffReason.FAILED)
    assert not dom.active
    assert node.statuses.load("vm1") is None and not os.path.exists(root.run_dir)


def test_qemu_found_by_its_command_line_before_its_pid_file(root: Root) -> None:
    pid = root.launch_qemu()
    os.unlink(root.pid_file)  # as if QEMU had not written it yet
    root.record(0, "paused", "starting up")
    QemuNode(root.paths)
    assert gone(pid)


def test_a_reused_pid_is_never_signalled(root: Root) -> None:
    sleeper = root.launch("sleep", "60")
    with open(root.pid_file, "w") as f:
        f.write(f"{sleeper}\n")
    root.record(sleeper, "paused", "starting up")
    node = QemuNode(root.paths)
    assert root.alive(sleeper)  # not a QEMU of this domain: left alone
    assert node.by_name["vm1"].state == DomainState.SHUTOFF


def test_started_guest_is_reattached_and_an_interrupted_save_resumed(root: Root) -> None:
    pid = root.launch_qemu()
    managed = root.paths.managed_save_file("vm1")
    Path(managed).write_bytes(b"partial image")
    root.record(pid, "paused", "save", job="save")
    node = QemuNode(root.paths)
    dom = node.by_name["vm1"]
    assert dom.active and dom.proc.pid == pid
    assert (dom.state, dom.reason) == (DomainState.RUNNING, DomainRunningReason.SAVE_CANCELED)
    assert not os.path.exists(managed)
    st = node.statuses.load("vm1")
    assert st is not None and st.job == "" and st.state == "running"
    node.destroy(dom, 0)
    assert gone(pid)


def test_a_second_qemu_with_the_same_pid_file_refuses_to_start(root: Root, tmp_path: Path) -> None:
    pid = root.launch_qemu()
    other = os.path.join(root.run_dir, "other.sock")
    with pytest.raises(VirtError) as exc:
        QemuProcess.spawn(qemu_argv(other, root.pid_file), log_file=str(tmp_path / "q.log"),
                          pid_file=root.pid_file)
    assert "Cannot lock pid file" in exc.value.message
    assert root.alive(pid)


def test_status_keeps_pid_file_and_job(tmp_path: Path) -> None:
    store = StatusStore(str(tmp_path))
    st = DomainStatus(name="vm1", pid=0, domain_xml="<domain>\n  <name>vm1</name>\n</domain>\n",
                      state="paused", reason="starting up", pid_file="/run/vm1.pid", job="save")
    store.save(st)
    text = (tmp_path / "vm1.xml").read_text()
    assert "<process starttime='0' argv0='' log='' logpos='0' pidfile='/run/vm1.pid'/>" in text
    assert "<job type='none' async='save'/>" in text
    back = store.load("vm1")
    assert back is not None and back.starting
    assert (back.pid_file, back.job) == ("/run/vm1.pid", "save")


def test_block_nodes_of_an_interrupted_hotplug_are_deleted(root: Root, tmp_path: Path) -> None:
    pid = root.launch_qemu()
    image = tmp_path / "hot.raw"
    image.write_bytes(b"\0" * 65536)
    mon = Monitor.connect(root.sock)
    try:  # blockdev-add done, device_add not: the live XML knows nothing of it
        mon.execute("blockdev-add", {"driver": "file", "filename": str(image),
                                     "node-name": "libvirt-9-storage"})
    finally:
        mon.close()
    root.record(pid, "running", "booted")
    node = QemuNode(root.paths)
    dom = node.by_name["vm1"]
    assert dom.active and dom.mon is not None
    names = [n["node-name"] for n in dom.mon.execute("query-named-block-nodes", {"flat": True})]
    assert "libvirt-9-storage" not in names
    node.destroy(dom, 0)
    assert gone(pid)
