"""A migration never loses the guest: the migration jobs across the phases (change
protection on the source, MIGRATION_IN on the destination), their record in the status
file, a daemon SIGKILLed mid-migration and restarted (qemuProcessRecoverMigrationIn/Out),
a cut network link, a controlling client that goes away, and domjobabort in each phase.

The end-to-end tests run two daemons in two network namespaces (virtkit.testing.twohosts)
with stock ``virsh migrate``, or drive the phases one by one through virtkit's remote
driver (the way to stop between two phases without a hook in the product). After each
failure exactly one guest runs: QEMU processes and running domains are counted on both
hosts, and the guest's console counter goes on, from where it was, on the survivor."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from qemu_e2e import console_log, domain_xml, kill_pid, qemu_pids, wait_marker, wait_until
from test_qemu_migration import Counter
from test_qemu_migration_hosts import virsh

import virtkit
from virtkit.constants import DomainMigrateFlags
from virtkit.drivers import domainjob
from virtkit.drivers.domainjob import AsyncJob, DomainJob, Job, thread_job
from virtkit.drivers.qemu.migration_recovery import (
    Action,
    StallGuard,
    incoming_action,
    outgoing_action,
)
from virtkit.drivers.qemu.status import DomainStatus
from virtkit.errors import ErrorCode, VirtError
from virtkit.testing.twohosts import Host, TwoHosts

F = DomainMigrateFlags
LIVE_CP = int(F.LIVE | F.CHANGE_PROTECTION)
_JOB = re.compile(r"<job [^>]*>")


# ---------------------------------------------------------------- the rules, without QEMU


@pytest.mark.parametrize("phase,action", [
    ("begin3", Action.KEEP), ("perform3", Action.CANCEL_RESUME),
    ("perform3_done", Action.KEEP), ("confirm3_cancelled", Action.RESUME),
    ("confirm3", Action.KILL), ("none", Action.KEEP), ("prepare", Action.KEEP),
])
def test_outgoing_recovery_follows_libvirt(phase: str, action: Action) -> None:
    assert outgoing_action(phase) is action


@pytest.mark.parametrize("phase,running,action", [
    ("prepare", False, Action.KILL), ("prepare", True, Action.KILL),
    ("finish3", False, Action.KILL), ("finish3", True, Action.KEEP),
    ("finish2", False, Action.START_CPUS), ("perform3", False, Action.KEEP),
])
def test_incoming_recovery_follows_libvirt(phase: str, running: bool, action: Action) -> None:
    assert incoming_action(phase, running) is action


def test_status_records_the_job_and_its_phase_as_libvirt() -> None:
    st = DomainStatus(name="vm", pid=42, domain_xml="<domain><name>vm</name></domain>",
                      job="migration out", job_phase="perform3", job_flags=0x101)
    text = st.to_xml()
    assert _JOB.findall(text) == [
        "<job type='none' async='migration out' phase='perform3' flags='0x101'/>"]
    back = DomainStatus.from_xml("vm", text)
    assert (back.job, back.job_phase, back.job_flags) == ("migration out", "perform3", 0x101)
    bad = text.replace("0x101", "zz")
    with pytest.raises(VirtError) as exc:
        DomainStatus.from_xml("vm", bad)
    assert exc.value.code == ErrorCode.INTERNAL_ERROR


def test_a_released_job_blocks_changes_and_names_its_begin(monkeypatch: Any) -> None:
    """Between two phases nobody owns the async job: a change waits, then fails naming
    the API that began it; destroy and queries pass; the next phase takes it back."""
    monkeypatch.setattr(domainjob, "JOB_WAIT_TIME", 0.3)
    job = DomainJob()
    with thread_job("remoteDispatchDomainMigrateBegin3Params"):
        job.begin_async(AsyncJob.MIGRATION_OUT, domainjob.DomainJobOperation.MIGRATION_OUT)
    job.set_phase("begin3")
    job.release_async()
    assert not job.async_owned and job.phase == "begin3"
    with pytest.raises(VirtError) as exc:
        job.begin()  # MODIFY, from this (now foreign) thread
    assert exc.value.code == ErrorCode.OPERATION_TIMEOUT
    assert exc.value.message.endswith("cannot acquire state change lock (held by "
                                      "monitor=remoteDispatchDomainMigrateBegin3Params)")
    with job.using(Job.QUERY), job.using(Job.DESTROY):
        pass
    done: list[str] = []

    def perform() -> None:  # another thread: the Perform call
        job.start_phase("perform3")
        with job:  # nested jobs of the owner pass
            done.append(job.phase)
        job.end_async()

    t = threading.Thread(target=perform)
    t.start()
    t.join(10)
    assert done == ["perform3"] and job.async_job == AsyncJob.NONE and job.phase == ""


def test_a_stream_that_moves_nothing_is_stalled() -> None:
    guard = StallGuard(limit=0.0)
    info = {"status": "active", "ram": {"transferred": 10}}
    assert not guard.stalled(info)
    time.sleep(0.01)
    assert guard.stalled(info)
    assert not guard.stalled({"status": "active", "ram": {"transferred": 11}})


# ---------------------------------------------------------------- two hosts, stock virsh


class Pair:
    """Two hosts with a virtkitd each; restartable daemons."""

    def __init__(self) -> None:
        self.h = TwoHosts()
        self.uris: list[str] = []

    def start(self, host: Host) -> str:
        host.start_virtkitd()
        uri: str = host.unix_uri()
        if uri not in self.uris:
            self.uris.append(uri)
        return uri

    def kill(self, host: Host) -> None:
        assert host.daemon is not None
        host.daemon.kill()  # SIGKILL: its QEMUs live on

    def qemus(self, host: Host) -> list[int]:
        return qemu_pids(str(host.root))

    def running(self, uri: str) -> list[str]:
        return virsh(uri, "list", "--state-running", "--name").stdout.split()

    def status_job(self, host: Host, name: str = "vm1") -> str:
        """The ``<job>`` element of the domain's status file ("" without one)."""
        found = list(host.root.rglob(f"qemu/{name}.xml"))
        for path in found:
            if "run" in path.parts:
                got = _JOB.findall(path.read_text())
                return got[0] if got else ""
        return ""

    def close(self) -> list[int]:
        for uri in self.uris:
            done = virsh(uri, "list", "--name", check=False)
            for name in done.stdout.split() if done.returncode == 0 else []:
                virsh(uri, "destroy", name, check=False)
        self.h.close()
        left = [p for root in (self.h.a.root, self.h.b.root, self.h.shared)
                for p in qemu_pids(str(root))]
        for pid in left:
            kill_pid(pid)
        return left


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair()
    try:
        yield p
    finally:
        left = p.close()
    assert not left, f"QEMU processes left running: {left}"


def _boot(p: Pair, guest: Any, uri: str, name: str = "vm1") -> tuple[Any, Counter]:
    xml = p.h.shared / f"{name}.xml"
    xml.write_text(domain_xml(guest, p.h.shared, name))
    virsh(uri, "define", str(xml))
    virsh(uri, "start", name)
    wait_marker(console_log(p.h.shared, name), guest.READY_MARKER, timeout=60)
    dom = virtkit.open(uri).lookup_domain(name)
    counter = Counter(dom)
    counter.start()
    return dom, counter


def _migrate_bg(p: Pair, ua: str, ub: str, *extra: str) -> subprocess.Popen[str]:
    """``virsh migrate --live`` throttled to 1 MiB/s (a stream long enough to act in)."""
    return subprocess.Popen(["virsh", "-c", ua, "migrate", "--live", "--bandwidth", "1",
                             *extra, "vm1", ub, "--migrateuri", f"tcp://{p.h.b.address}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _streaming(dom: Any) -> None:
    wait_until(lambda: dom.job_info().data_processed > 0, 60, "the stream to start")


def _end(run: subprocess.Popen[str], timeout: float = 240) -> str:
    """Wait for the virsh run (hang guard: ``timeout``); its stderr."""
    try:
        _, err = run.communicate(timeout=timeout)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    return err


def _runs_only_on(p: Pair, here: tuple[Host, str], there: tuple[Host, str],
                  seen: int) -> None:
    """Exactly one guest: one QEMU and one running domain on ``here``, none on
    ``there``; its counter goes on from past ``seen``."""
    (host, uri), (other, ouri) = here, there
    wait_until(lambda: not p.qemus(other), 30, "no QEMU left on the other host")
    assert len(p.qemus(host)) == 1
    assert p.running(uri) == ["vm1"] and p.running(ouri) == []
    counter = Counter(virtkit.open(uri).lookup_domain("vm1"))
    wait_until(lambda: counter.last() > seen + 3, 30, "the counter on the survivor")


@pytest.mark.slow
def test_source_daemon_killed_mid_stream(pair: Pair, guest: Any) -> None:
    """Phase perform3: virsh's Perform fails, its Finish(cancelled) kills the incoming
    QEMU; the restarted source cancels QEMU's migration and resumes the guest."""
    p, h = pair, pair.h
    ua, ub = p.start(h.a), p.start(h.b)
    dom, counter = _boot(p, guest, ua)
    run = _migrate_bg(p, ua, ub)
    _streaming(dom)
    assert "async='migration out' phase='perform3'" in p.status_job(h.a)
    seen = counter.last()
    p.kill(h.a)
    assert _end(run) and run.returncode != 0
    assert len(p.qemus(h.a)) == 1  # the guest, paused or not, outlived its daemon
    ua = p.start(h.a)
    assert virsh(ua, "domstate", "vm1").stdout.strip() == "running"
    assert p.status_job(h.a) == ""
    _runs_only_on(p, (h.a, ua), (h.b, ub), seen)


@pytest.mark.slow
def test_source_daemon_killed_after_begin(pair: Pair, guest: Any) -> None:
    """Phase begin3: nothing happened yet; the restarted daemon forgets the job, the guest
    runs on and takes changes again."""
    p, h = pair, pair.h
    ua = p.start(h.a)
    _, counter = _boot(p, guest, ua)
    src = virtkit.open(ua).tables.hypervisor
    src.domain_migrate_begin3_params(src.domain_lookup_by_name("vm1"), {}, LIVE_CP)
    assert "async='migration out' phase='begin3'" in p.status_job(h.a)
    seen = counter.last()
    p.kill(h.a)
    ua = p.start(h.a)
    assert virsh(ua, "domstate", "vm1").stdout.strip() == "running"  # the node loads
    assert p.status_job(h.a) == ""
    virsh(ua, "suspend", "vm1")
    virsh(ua, "resume", "vm1")
    assert p.running(ua) == ["vm1"] and len(p.qemus(h.a)) == 1
    after = Counter(virtkit.open(ua).lookup_domain("vm1"))
    wait_until(lambda: after.last() > seen + 3, 30, "the counter after the restart")


@pytest.mark.slow
def test_source_daemon_killed_after_perform(pair: Pair, guest: Any) -> None:
    """Begin (change protection: other changes refused), Prepare, Perform one by one;
    the source daemon dies in perform3_done, Finish runs the guest on the destination.
    The restarted source keeps its copy paused (libvirt: a third party decides): one
    guest runs."""
    p, h = pair, pair.h
    ua, ub = p.start(h.a), p.start(h.b)
    _, counter = _boot(p, guest, ua)
    src = virtkit.open(ua).tables.hypervisor
    dst = virtkit.open(ub).tables.hypervisor
    ident = src.domain_lookup_by_name("vm1")
    cookie, xml = src.domain_migrate_begin3_params(ident, {}, LIVE_CP)
    assert "async='migration out' phase='begin3'" in p.status_job(h.a)
    refused = virsh(ua, "suspend", "vm1", check=False, timeout=120)
    assert refused.returncode != 0
    assert "cannot acquire state change lock (held by " \
           "monitor=remoteDispatchDomainMigrateBegin3Params)" in refused.stderr
    params = {"destination_xml": xml, "migrate_uri": f"tcp://{h.b.address}"}
    cookie, uri = dst.domain_migrate_prepare3_params(params, cookie, LIVE_CP)
    assert "async='migration in' phase='prepare'" in p.status_job(h.b)
    # libvirt's destination has no statistics of an incoming migration
    stats = virsh(ub, "domjobinfo", "vm1", check=False)
    assert "migration statistics are available only on the source host" in stats.stderr
    params["migrate_uri"] = uri or params["migrate_uri"]
    cookie = src.domain_migrate_perform3_params(ident, None, params, cookie, LIVE_CP)
    assert "async='migration out' phase='perform3_done'" in p.status_job(h.a)
    seen = counter.last()
    p.kill(h.a)
    dst.domain_migrate_finish3_params({"destination_name": "vm1"}, cookie, LIVE_CP, 0)
    assert p.status_job(h.b) == ""
    ua = p.start(h.a)
    assert virsh(ua, "domstate", "--reason", "vm1").stdout.strip() == "paused (migrating)"
    assert p.status_job(h.a) == ""
    assert p.running(ua) == [] and p.running(ub) == ["vm1"]
    there = Counter(virtkit.open(ub).lookup_domain("vm1"))
    wait_until(lambda: there.last() > seen + 3, 30, "the counter on the destination")
    virsh(ua, "destroy", "vm1")  # the third party's decision
    assert p.qemus(h.a) == [] and len(p.qemus(h.b)) == 1


@pytest.mark.slow
def test_destination_daemon_killed_after_prepare(pair: Pair, guest: Any) -> None:
    """Phase prepare on the destination: Finish fails, Confirm(cancelled) resumes the
    source; the restarted destination kills the incoming QEMU it had left."""
    p, h = pair, pair.h
    ua, ub = p.start(h.a), p.start(h.b)
    dom, counter = _boot(p, guest, ua)
    run = _migrate_bg(p, ua, ub)
    _streaming(dom)
    assert "async='migration in' phase='prepare'" in p.status_job(h.b)
    p.kill(h.b)
    virsh(ua, "migrate-setspeed", "vm1", "1000")  # the stream ends into the orphan QEMU
    assert _end(run) and run.returncode != 0
    assert virsh(ua, "domstate", "--reason", "vm1").stdout.strip() \
        == "running (migration canceled)"
    seen = counter.last()
    assert len(p.qemus(h.b)) == 1  # left paused by the dead daemon
    ub = p.start(h.b)
    assert "vm1" not in virsh(ub, "list", "--all", "--name").stdout
    _runs_only_on(p, (h.a, ua), (h.b, ub), seen)


@pytest.mark.slow
def test_network_cut_mid_stream(pair: Pair, guest: Any) -> None:
    """The link goes down during the stream: QEMU's socket would wait a quarter of an
    hour; Perform gives up when no byte moved for STALL_LIMIT, the source runs on, the
    destination's Finish(cancelled) removes its QEMU."""
    p, h = pair, pair.h
    ua, ub = p.start(h.a), p.start(h.b)
    dom, counter = _boot(p, guest, ua)
    run = _migrate_bg(p, ua, ub)
    _streaming(dom)
    h.cut()
    err = _end(run)
    assert run.returncode != 0 and "Lost connection to destination host" in err
    assert virsh(ua, "domstate", "vm1").stdout.strip() == "running"
    _runs_only_on(p, (h.a, ua), (h.b, ub), counter.last())


@pytest.mark.slow
def test_network_cut_mid_stream_peer_to_peer(pair: Pair, guest: Any) -> None:
    """--p2p: the source daemon's stream stalls (Perform gives up), its Finish(cancelled)
    to the unreachable destination ends on keepalive; the destination's server drops the
    dead client by keepalive too, and with it the incoming QEMU (libvirt's autodestroy)."""
    p, h = pair, pair.h
    ua, ub = p.start(h.a), p.start(h.b)
    dom, counter = _boot(p, guest, ua)
    run = subprocess.Popen(["virsh", "-c", ua, "migrate", "--live", "--p2p", "--bandwidth",
                            "1", "vm1", h.b.tcp_uri(), "--migrateuri",
                            f"tcp://{h.b.address}"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _streaming(dom)
    h.cut()
    err = _end(run)
    assert run.returncode != 0 and "Lost connection to destination host" in err
    assert virsh(ua, "domstate", "vm1").stdout.strip() == "running"
    wait_until(lambda: not p.qemus(h.b), 120, "the destination to drop its incoming QEMU")
    assert "vm1" not in virsh(ub, "list", "--all", "--name").stdout
    _runs_only_on(p, (h.a, ua), (h.b, ub), counter.last())


@pytest.mark.slow
def test_client_gone_and_aborts_in_each_phase(pair: Pair, guest: Any) -> None:
    """A Begin whose client goes: the job goes with it (changes work again). domjobabort
    after Begin makes Perform fail as aborted; on the destination it cannot have its job;
    after Perform it changes nothing and Confirm completes the migration."""
    p, h = pair, pair.h
    ua, ub = p.start(h.a), p.start(h.b)
    _, counter = _boot(p, guest, ua)
    gone = virtkit.open(ua)
    ident = gone.tables.hypervisor.domain_lookup_by_name("vm1")
    gone.tables.hypervisor.domain_migrate_begin3_params(ident, {}, LIVE_CP)
    assert "phase='begin3'" in p.status_job(h.a)
    gone.close()
    wait_until(lambda: p.status_job(h.a) == "", 20, "the job to go with its client")
    virsh(ua, "suspend", "vm1")
    virsh(ua, "resume", "vm1")
    # abort after Begin: Perform is refused as aborted, the guest runs on
    conn_a, conn_b = virtkit.open(ua), virtkit.open(ub)
    src, dst = conn_a.tables.hypervisor, conn_b.tables.hypervisor
    cookie, xml = src.domain_migrate_begin3_params(ident, {}, LIVE_CP)
    virsh(ua, "domjobabort", "vm1")
    params = {"destination_xml": xml, "migrate_uri": f"tcp://{h.b.address}"}
    cookie, uri = dst.domain_migrate_prepare3_params(params, cookie, LIVE_CP)
    # the incoming job lets no abort job in (libvirt's mask): it waits, then fails
    refused = virsh(ub, "domjobabort", "vm1", check=False, timeout=120)
    assert "cannot acquire state change lock (held by " \
           "monitor=remoteDispatchDomainMigratePrepare3Params)" in refused.stderr
    params["migrate_uri"] = uri or params["migrate_uri"]
    with pytest.raises(VirtError) as exc:
        src.domain_migrate_perform3_params(ident, None, params, cookie, LIVE_CP)
    assert exc.value.code == ErrorCode.OPERATION_ABORTED
    with pytest.raises(VirtError) as fin:
        dst.domain_migrate_finish3_params({"destination_name": "vm1"}, b"", LIVE_CP, 1)
    # cancelled (or gone already: the incoming QEMU quits when its stream fails)
    assert fin.value.code in (ErrorCode.MIGRATE_FINISH_OK, ErrorCode.NO_DOMAIN)
    wait_until(lambda: not p.qemus(h.b), 30, "the incoming QEMU to go")
    assert p.running(ua) == ["vm1"] and p.qemus(h.b) == []
    # abort after Perform: nothing to cancel; Confirm ends the migration
    cookie, xml = src.domain_migrate_begin3_params(ident, {}, LIVE_CP)
    params = {"destination_xml": xml, "migrate_uri": f"tcp://{h.b.address}"}
    cookie, uri = dst.domain_migrate_prepare3_params(params, cookie, LIVE_CP)
    params["migrate_uri"] = uri or params["migrate_uri"]
    cookie = src.domain_migrate_perform3_params(ident, None, params, cookie, LIVE_CP)
    virsh(ua, "domjobabort", "vm1")
    seen = counter.last()
    _, cookie = dst.domain_migrate_finish3_params({"destination_name": "vm1"}, cookie,
                                                  LIVE_CP, 0)
    src.domain_migrate_confirm3_params(ident, {}, cookie, LIVE_CP, 0)
    assert virsh(ua, "domstate", "--reason", "vm1").stdout.strip() == "shut off (migrated)"
    _runs_only_on(p, (h.b, ub), (h.a, ua), seen)
