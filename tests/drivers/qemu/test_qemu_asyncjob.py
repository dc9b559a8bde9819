"""libvirt's async job SAVE with real TCG guests (qemu:///embed): while a save streams (throttled
with QMP ``migrate-set-parameters`` so it can be watched), queries are answered, job info shows
its progress, a state-changing call waits for it and gives up with libvirt's message, and
virDomainAbortJob cancels it: the save fails with VIR_ERR_OPERATION_ABORTED, no image is left
and the guest runs on with reason ``save canceled``. A save that finishes leaves completed-job
statistics.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu_e2e import QemuRoot, domain_xml, lifecycle, wait_until

import virtkit
from virtkit.constants import (
    DomainEventType,
    DomainGetJobStatsFlags,
    DomainJobOperation,
    DomainJobType,
    DomainPausedReason,
    DomainRunningReason,
    DomainState,
)
from virtkit.drivers import domainjob
from virtkit.errors import ErrorCode, ErrorDomain, VirtError
from virtkit.rpc.bindings import dispatch_name
from virtkit.testing.peers import start_virtkitd

pytestmark = pytest.mark.slow

WAIT = 1.0  # the shortened VIR_JOB_WAIT_TIME
SLOW = 64 * 1024  # bytes/s: a save that takes minutes unless aborted
EV = DomainEventType
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with libvirt-python 9.0
VIRSH = shutil.which("virsh") or "/usr/bin/virsh"
VIRTKIT = [sys.executable, "-m", "virtkit.cli.main"]


class Saver:
    """Runs a save on its own thread, named as libvirtd's dispatcher names it."""

    def __init__(self, call: Any, proc: str) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(call, proc), daemon=True)
        self.thread.start()

    def _run(self, call: Any, proc: str) -> None:
        with domainjob.thread_job(dispatch_name(proc)):
            try:
                call()
            except BaseException as exc:  # reported to the test
                self.error = exc

    def join(self) -> BaseException | None:
        self.thread.join(120)  # hang guard
        assert not self.thread.is_alive()
        return self.error


@pytest.fixture
def vm(qroot: QemuRoot, conn: Any, guest: Any,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(domainjob, "JOB_WAIT_TIME", WAIT)
    dom = conn.define_domain(domain_xml(guest, qroot.path, "vm1", memory_mib=128))
    dom.start()
    yield dom


def _hv(conn: Any) -> Any:
    return conn.tables.hypervisor


def _throttle(conn: Any, name: str) -> None:
    mon = _hv(conn)._node.by_name[name].mon
    mon.execute("migrate-set-parameters", {"max-bandwidth": SLOW})


def _in_progress(conn: Any, dom: Any) -> Any:
    """Wait until the save streams; its job info."""
    infos: list[Any] = []

    def streaming() -> bool:
        info = dom.job_info()
        infos.append(info)
        return bool(info.type == DomainJobType.UNBOUNDED and info.mem_processed > 0)

    wait_until(streaming, timeout=60, what="the save to stream")
    return infos[-1]


@pytest.mark.parametrize("managed", [False, True], ids=["save", "managedsave"])
def test_abort_a_save_in_progress(qroot: QemuRoot, conn: Any, vm: Any, managed: bool) -> None:
    image = Path(qroot.path / "vm1.save")
    events = conn.domain_events()
    _throttle(conn, "vm1")
    if managed:
        saver = Saver(vm.managed_save, "DOMAIN_MANAGED_SAVE")
    else:
        saver = Saver(lambda: vm.save(str(image)), "DOMAIN_SAVE_FLAGS")
    info = _in_progress(conn, vm)
    assert 0 < info.mem_processed <= info.mem_total
    assert info.data_total == info.mem_total and info.data_processed == info.mem_processed
    kind, stats = vm.job_stats(0)
    assert kind == DomainJobType.UNBOUNDED
    assert stats["operation"] == DomainJobOperation.SAVE
    assert stats["memory_processed"] <= stats["memory_total"] == stats["data_total"]

    # queries are answered meanwhile; a state change waits, then fails as libvirt's does
    assert vm.state_reason() == (DomainState.PAUSED, DomainPausedReason.SAVE)
    assert vm.info().state == DomainState.PAUSED
    assert "<name>vm1</name>" in vm.xml()
    with pytest.raises(VirtError) as exc:
        vm.resume()
    assert exc.value.code == ErrorCode.OPERATION_TIMEOUT
    proc = "DOMAIN_MANAGED_SAVE" if managed else "DOMAIN_SAVE_FLAGS"
    assert str(exc.value) == ("Timed out during operation: cannot acquire state change lock "
                              f"(held by monitor={dispatch_name(proc)})")

    vm.abort_job()
    error = saver.join()
    assert isinstance(error, VirtError)
    assert error.code == ErrorCode.OPERATION_ABORTED
    assert error.domain == ErrorDomain.QEMU
    assert str(error) == "operation aborted: job 'domain save' canceled by client"
    assert vm.state_reason() == (DomainState.RUNNING, DomainRunningReason.SAVE_CANCELED)
    assert not image.exists()
    assert not vm.has_managed_save()
    assert lifecycle(events, until=(EV.RESUMED, 0)) == [(EV.SUSPENDED, 0), (EV.RESUMED, 0)]
    # no job now, and an aborted save leaves no completed statistics
    assert vm.job_info().type == DomainJobType.NONE
    assert vm.job_stats(DomainGetJobStatsFlags.COMPLETED) == (DomainJobType.NONE, {})
    vm.suspend()  # the job is free again
    vm.resume()


def test_a_finished_save_leaves_completed_stats(qroot: QemuRoot, conn: Any, vm: Any) -> None:
    image = str(qroot.path / "vm1.save")
    vm.save(image)
    assert vm.state == DomainState.SHUTOFF
    with pytest.raises(VirtError) as exc:
        vm.job_info()
    assert (exc.value.code, str(exc.value)) == (
        ErrorCode.OPERATION_INVALID, "Requested operation is not valid: domain is not running")
    keep = DomainGetJobStatsFlags.COMPLETED | DomainGetJobStatsFlags.KEEP_COMPLETED
    kind, stats = vm.job_stats(keep)
    assert kind == DomainJobType.COMPLETED
    assert stats["operation"] == DomainJobOperation.SAVE
    assert stats["memory_total"] > 0 and stats["memory_remaining"] == 0
    assert 0 < stats["memory_processed"] == stats["data_processed"]
    assert stats["time_elapsed"] > 0
    assert vm.job_stats(DomainGetJobStatsFlags.COMPLETED) == (kind, stats)
    # fetched without KEEP_COMPLETED: gone
    assert vm.job_stats(DomainGetJobStatsFlags.COMPLETED) == (DomainJobType.NONE, {})
    conn.restore_domain(image)
    assert vm.state_reason() == (DomainState.RUNNING, DomainRunningReason.RESTORED)


def test_abort_without_a_job(conn: Any, vm: Any) -> None:
    with pytest.raises(VirtError) as exc:
        vm.abort_job()
    assert (exc.value.code, str(exc.value)) == (
        ErrorCode.OPERATION_INVALID,
        "Requested operation is not valid: no job is active on the domain")
    with pytest.raises(VirtError) as exc:
        vm.abort_job(1)
    assert str(exc.value) == ("Requested operation is not valid: current job is not outgoing "
                              "migration in post-copy mode")
    with pytest.raises(VirtError) as exc:
        vm.job_stats(4)
    assert exc.value.code == ErrorCode.INVALID_ARG
    assert vm.job_info().type == DomainJobType.NONE
    assert vm.job_stats(0) == (DomainJobType.NONE, {})
    with pytest.raises(VirtError) as exc:
        vm.abort_job(2)
    assert exc.value.code == ErrorCode.INVALID_ARG
    assert str(exc.value) == "unsupported flags (0x2) in function qemuDomainAbortJobFlags"


# ------------------------------------------------------------------ over virtkitd's wire

LIBVIRT_SCRIPT = textwrap.dedent("""
    import json, sys
    import libvirt
    uri, name, image = sys.argv[1:4]
    conn = libvirt.open(uri)
    dom = conn.lookupByName(name)
    out = {}
    def error(call):
        try:
            call()
        except libvirt.libvirtError as e:
            return [e.get_error_code(), e.get_error_domain(), e.get_error_message()]
    out["abort"] = error(dom.abortJob)
    out["abort_flags"] = error(lambda: dom.abortJobFlags(0))
    out["abort_postcopy"] = error(lambda: dom.abortJobFlags(libvirt.VIR_DOMAIN_ABORT_JOB_POSTCOPY))
    out["info"] = dom.jobInfo()
    out["stats"] = dom.jobStats()
    dom.save(image)
    keep = libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED | libvirt.VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED
    out["completed"] = dom.jobStats(keep)
    print(json.dumps(out))
""")


@pytest.fixture
def daemon_vm(qroot: QemuRoot, guest: Any) -> Iterator[tuple[str, Any]]:
    daemon = start_virtkitd(qroot.path)
    uri = daemon.uri("unix", "/system", "qemu")
    conn = virtkit.open(uri)
    try:
        dom = conn.define_domain(domain_xml(guest, qroot.path, "vm1", memory_mib=128))
        dom.start()
        yield uri, conn
    finally:
        with contextlib.suppress(Exception):
            for dom in conn.list_domains():
                if dom.is_active():
                    dom.destroy()
        conn.close()
        daemon.stop()


def _run(argv: list[str]) -> tuple[str, int]:
    env = dict(os.environ, LC_ALL="C", LANG="C")
    env.pop("LIBVIRT_DEFAULT_URI", None)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, timeout=60, check=False)
    return proc.stdout.decode(), proc.returncode


def test_libvirt_clients_over_the_wire(qroot: QemuRoot, daemon_vm: tuple[str, Any]) -> None:
    uri, conn = daemon_vm
    image = str(qroot.path / "vm1.save")
    out, rc = _run([SYSTEM_PYTHON, "-c", LIBVIRT_SCRIPT, uri, "vm1", image])
    assert rc == 0, out
    got = json.loads(out.splitlines()[-1])  # libvirt also logs each error on stderr
    invalid = int(ErrorCode.OPERATION_INVALID)
    assert got["abort"] == [invalid, int(ErrorDomain.QEMU),
                            "Requested operation is not valid: no job is active on the domain"]
    assert got["abort_flags"] == got["abort"]  # proc 442 reaches the driver
    assert got["abort_postcopy"][2] == ("Requested operation is not valid: current job is not "
                                        "outgoing migration in post-copy mode")
    assert got["info"] == [DomainJobType.NONE] + [0] * 11
    assert got["stats"] == {"type": DomainJobType.NONE}
    done = got["completed"]
    assert done["type"] == DomainJobType.COMPLETED
    assert done["operation"] == DomainJobOperation.SAVE
    assert 0 < done["memory_processed"] == done["data_processed"]
    assert done["memory_total"] == done["data_total"] > 0

    # virtkit's own remote client reads the same kept statistics
    dom = conn.lookup_domain("vm1")
    kind, stats = dom.job_stats(
        DomainGetJobStatsFlags.COMPLETED | DomainGetJobStatsFlags.KEEP_COMPLETED)
    assert kind == DomainJobType.COMPLETED
    assert {k: stats[k] for k in ("operation", "memory_total", "memory_processed")} == {
        k: done[k] for k in ("operation", "memory_total", "memory_processed")}

    # the virtkit CLI prints what stock virsh prints, on the same daemon
    for args in (["domjobinfo", "vm1", "--completed", "--keep-completed"],
                 ["domjobinfo", "vm1", "--completed", "--keep-completed", "--rawstats"],
                 ["domjobinfo", "vm1"], ["domjobabort", "vm1"],
                 ["domjobinfo", "vm1", "--keep-completed"]):
        virsh = _run([VIRSH, "-c", uri, *args])
        ours = _run([*VIRTKIT, "-c", uri, *args])
        assert ours == virsh, args
        if "--completed" in args:
            assert virsh[1] == 0 and ("Memory processed:" in virsh[0]
                                      or "memory_processed: " in virsh[0]), virsh
    assert "Operation:        Save" in _run(
        [VIRSH, "-c", uri, "domjobinfo", "vm1", "--completed"])[0]
    # read without --keep-completed: gone
    assert _run([*VIRTKIT, "-c", uri, "domjobinfo", "vm1", "--completed"])[0] == (
        "Job type:         None        \n\n")


class StalledReader:
    """The reading end of a FIFO a save writes to: it takes the image's header, then reads
    no more, so the save stalls (deterministically in progress) until ``close``."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.fd: int | None = None
        self.opened = threading.Event()
        threading.Thread(target=self._open, daemon=True).start()

    def _open(self) -> None:
        self.fd = os.open(self.path, os.O_RDONLY)  # returns when the save opens it
        os.read(self.fd, 4096)
        self.opened.set()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


_VOLATILE = re.compile(r"^(Time elapsed|Memory bandwidth|Expected downtime|Dirty rate|"
                       r"Iteration|Setup time):.*$", re.M)


@pytest.mark.parametrize("tool", ["virsh", "virtkit"])
def test_clients_watch_and_abort_a_save(qroot: QemuRoot, daemon_vm: tuple[str, Any],
                                        tool: str) -> None:
    """virsh (or virtkit's CLI) saves to a FIFO that stops being read; while the save is
    stuck both CLIs and libvirt-python see the job, and the same tool aborts it."""
    cli = [VIRSH] if tool == "virsh" else VIRTKIT
    uri, conn = daemon_vm
    dom = conn.lookup_domain("vm1")
    fifo = qroot.path / "vm1.fifo"
    reader = StalledReader(fifo)
    save = subprocess.Popen([*cli, "-c", uri, "save", "vm1", str(fifo)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, LC_ALL="C", LANG="C"))
    try:
        assert reader.opened.wait(60)
        wait_until(lambda: dom.job_info().mem_processed > 0, timeout=60,
                   what="the save to stream")
        assert _run([VIRSH, "-c", uri, "domstate", "vm1", "--reason"]) == (
            "paused (saving)\n\n", 0)
        virsh = _run([VIRSH, "-c", uri, "domjobinfo", "vm1"])
        ours = _run([*VIRTKIT, "-c", uri, "domjobinfo", "vm1"])
        assert virsh[0].startswith("Job type:         Unbounded   \n"
                                   "Operation:        Save        \n"), virsh
        assert _VOLATILE.sub("", ours[0]) == _VOLATILE.sub("", virsh[0])
        out, rc = _run([SYSTEM_PYTHON, "-c",
                        "import libvirt, sys; d = libvirt.open(sys.argv[1])"
                        ".lookupByName('vm1'); i = d.jobInfo(); "
                        "print(i[0], 0 < i[4] <= i[3], i[3] == i[6])", uri])
        assert (out, rc) == ("2 True True\n", 0)
        assert _run([*cli, "-c", uri, "domjobabort", "vm1"]) == ("\n", 0)
    finally:
        reader.close()  # the stalled stream ends
        saved = save.communicate(timeout=60)[0].decode()
    assert save.returncode == 1
    assert saved == (f"error: Failed to save domain 'vm1' to {fifo}\n"
                     "error: operation aborted: job 'domain save' canceled by client\n\n")
    assert _run([VIRSH, "-c", uri, "domstate", "vm1", "--reason"]) == (
        "running (save canceled)\n\n", 0)
    assert not fifo.exists()
