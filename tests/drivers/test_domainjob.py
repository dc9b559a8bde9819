"""The domain job (libvirt's virdomainjob.c): the synchronous job's wait and message, the async
job's allowed-jobs mask, its data, completed statistics and abort."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from virtkit.constants import DomainJobOperation, DomainJobType
from virtkit.drivers import domainjob
from virtkit.drivers.domainjob import AsyncJob, DomainJob, Job, JobStatus, job_mask, thread_job
from virtkit.errors import ErrorCode, VirtError
from virtkit.rpc.bindings import dispatch_name
from virtkit.types import DomainJobInfo


@pytest.mark.parametrize(("proc", "name"), [
    ("DOMAIN_SUSPEND", "remoteDispatchDomainSuspend"),
    ("DOMAIN_GET_XML_DESC", "remoteDispatchDomainGetXMLDesc"),
    ("NWFILTER_DEFINE_XML", "remoteDispatchNWFilterDefineXML"),
    ("DOMAIN_LOOKUP_BY_UUID", "remoteDispatchDomainLookupByUUID"),
    ("DOMAIN_PM_SUSPEND_FOR_DURATION", "remoteDispatchDomainPMSuspendForDuration"),
    ("DOMAIN_GET_FSINFO", "remoteDispatchDomainGetFSInfo"),
    ("CONNECT_OPEN", "remoteDispatchConnectOpen"),
])
def test_dispatch_names_are_libvirts(proc: str, name: str) -> None:
    assert dispatch_name(proc) == name


def test_the_job_is_reentrant_for_its_thread() -> None:
    job = DomainJob()
    with job, job:
        assert job.active
    assert not job.active


def test_waiting_gives_up_after_the_module_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domainjob, "JOB_WAIT_TIME", 0.3)
    job = DomainJob()
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with thread_job("remoteDispatchDomainSaveFlags"), job:
            taken.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert taken.wait(5)
    t0 = time.monotonic()
    with pytest.raises(VirtError) as exc:
        job.begin()
    assert 0.25 <= time.monotonic() - t0 < 2
    assert exc.value.code == ErrorCode.OPERATION_TIMEOUT
    assert str(exc.value) == ("Timed out during operation: cannot acquire state change lock "
                              "(held by monitor=remoteDispatchDomainSaveFlags)")
    release.set()
    t.join()
    with job:  # free again, and a waiter that arrives in time gets it
        pass


def test_a_waiter_gets_the_job_when_it_ends() -> None:
    job = DomainJob()
    job.begin()
    got = threading.Event()

    def wait() -> None:
        with job:
            got.set()

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.05)
    assert not got.is_set()
    job.end()
    t.join(5)
    assert got.is_set()


def test_only_the_holder_ends_the_job() -> None:
    job = DomainJob()
    job.begin()
    errors: list[BaseException] = []
    t = threading.Thread(target=lambda: errors.extend(_try_end(job)))
    t.start()
    t.join()
    assert len(errors) == 1
    job.end()


def _try_end(job: DomainJob) -> list[BaseException]:
    try:
        job.end()
    except RuntimeError as e:
        return [e]
    return []


# ------------------------------------------------------------------ the async job


class AsyncHolder:
    """Owns an async job on its own thread (named as libvirtd names it) until released."""

    def __init__(self, job: DomainJob, name: str = "remoteDispatchDomainSaveFlags") -> None:
        self.job = job
        self.started, self.release, self.ended = (threading.Event(), threading.Event(),
                                                  threading.Event())
        self.nested_ok = False
        self.thread = threading.Thread(target=self._run, args=(name,), daemon=True)
        self.thread.start()
        assert self.started.wait(5)

    def _run(self, name: str) -> None:
        with thread_job(name), self.job.running_async(AsyncJob.SAVE, DomainJobOperation.SAVE):
            with self.job:  # its own (nested) synchronous job
                self.nested_ok = True
            self.started.set()
            self.release.wait(30)
        self.ended.set()

    def stop(self) -> None:
        self.release.set()
        self.thread.join(5)
        assert self.ended.is_set()


def test_an_async_job_lets_the_jobs_of_its_mask_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domainjob, "JOB_WAIT_TIME", 0.3)
    job = DomainJob()
    holder = AsyncHolder(job)
    try:
        assert holder.nested_ok and job.async_active
        for allowed in (Job.QUERY, Job.DESTROY, Job.ABORT):
            with job.using(allowed):
                assert job.kind == allowed
        for blocked in (Job.MODIFY, Job.SUSPEND, Job.MIGRATION_OP):
            with pytest.raises(VirtError) as exc:
                job.begin(job=blocked)
            assert exc.value.code == ErrorCode.OPERATION_TIMEOUT
            assert str(exc.value) == ("Timed out during operation: cannot acquire state change "
                                      "lock (held by monitor=remoteDispatchDomainSaveFlags)")
        with pytest.raises(VirtError):  # one async job at a time
            job.begin_async(AsyncJob.DUMP, DomainJobOperation.DUMP)
        job.set_mask(job_mask(Job.MODIFY))  # as a migration widens it
        with job:
            pass
    finally:
        holder.stop()
    assert not job.async_active
    with job:  # MODIFY again without the async job
        pass


def test_a_query_waits_for_a_synchronous_job_and_names_its_holder(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domainjob, "JOB_WAIT_TIME", 0.3)
    job = DomainJob()
    holder = AsyncHolder(job)
    taken, release = threading.Event(), threading.Event()

    def destroy() -> None:
        with thread_job("remoteDispatchDomainDestroy"), job.using(Job.DESTROY):
            taken.set()
            release.wait(10)

    t = threading.Thread(target=destroy)
    t.start()
    try:
        assert taken.wait(5)
        with pytest.raises(VirtError) as exc:
            job.begin(job=Job.QUERY)
        assert str(exc.value).endswith("(held by monitor=remoteDispatchDomainDestroy)")
    finally:
        release.set()
        t.join()
        holder.stop()


def test_an_async_job_waits_for_the_synchronous_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domainjob, "JOB_WAIT_TIME", 0.3)
    job = DomainJob()
    errors: list[BaseException] = []
    with thread_job("remoteDispatchDomainSuspend"), job:
        t = threading.Thread(target=lambda: errors.extend(
            _try(lambda: job.begin_async(AsyncJob.SAVE, DomainJobOperation.SAVE))))
        t.start()
        t.join(5)
    assert len(errors) == 1 and isinstance(errors[0], VirtError)
    assert str(errors[0]).endswith("(held by monitor=remoteDispatchDomainSuspend)")


def _try(call: Any) -> list[BaseException]:
    try:
        call()
    except BaseException as e:
        return [e]
    return []


def test_abort_runs_the_canceller_the_operation_registered() -> None:
    job = DomainJob()
    cancelled: list[str] = []
    job.request_abort()  # no async job: nothing to flag
    assert not job.abort_requested
    with job.running_async(AsyncJob.SAVE, DomainJobOperation.SAVE) as data:
        assert data.status == JobStatus.ACTIVE and data.operation == DomainJobOperation.SAVE
        job.on_abort(lambda: cancelled.append("migrate_cancel"))
        t = threading.Thread(target=job.request_abort)
        t.start()
        t.join(5)
        assert job.abort_requested and cancelled == ["migrate_cancel"]
    assert not job.abort_requested and job.current is None


def test_job_data_as_info_and_stats() -> None:
    job = DomainJob()
    with job.running_async(AsyncJob.SAVE, DomainJobOperation.SAVE, flags=2) as data:
        assert job.api_flags == 2
        data.status = JobStatus.MIGRATING
        data.stats.update(memory_total=1000, memory_processed=400, memory_remaining=600,
                          memory_bps=50, downtime=3)
        info = job.snapshot()
        assert info is not None
        assert info.to_info() == DomainJobInfo(
            type=DomainJobType.UNBOUNDED, time_elapsed=info.time_elapsed, data_total=1000,
            data_processed=400, data_remaining=600, mem_total=1000, mem_processed=400,
            mem_remaining=600)
        kind, params = info.to_params()
        assert kind == DomainJobType.UNBOUNDED
        assert list(params) == ["operation", "time_elapsed", "downtime", "data_total",
                                "data_processed", "data_remaining", "memory_total",
                                "memory_processed", "memory_remaining", "memory_bps"]
        assert params["operation"] == DomainJobOperation.SAVE
        assert job.completed is None
        job.complete()
    done = job.take_completed(keep=True)
    assert done is not None and done.status == JobStatus.COMPLETED
    assert done.to_params()[0] == DomainJobType.COMPLETED
    assert job.take_completed(keep=False) is not None
    assert job.take_completed(keep=False) is None


@pytest.mark.parametrize(("status", "kind"), [
    (JobStatus.NONE, DomainJobType.NONE), (JobStatus.ACTIVE, DomainJobType.UNBOUNDED),
    (JobStatus.MIGRATING, DomainJobType.UNBOUNDED), (JobStatus.PAUSED, DomainJobType.UNBOUNDED),
    (JobStatus.COMPLETED, DomainJobType.COMPLETED), (JobStatus.FAILED, DomainJobType.FAILED),
    (JobStatus.CANCELED, DomainJobType.CANCELLED),
])
def test_status_to_type_is_libvirts(status: JobStatus, kind: DomainJobType) -> None:
    assert status.job_type == kind


def test_masks_are_libvirts() -> None:
    assert [job_mask(j) for j in (Job.NONE, Job.QUERY, Job.DESTROY, Job.ABORT)] == [0, 1, 2, 16]
    assert domainjob.DEFAULT_MASK == 0b10011
    assert AsyncJob.MIGRATION_OUT.label == "migration out"
