"""The domain job (libvirt's virDomainObjBeginJob wait) and the names its message shows."""

from __future__ import annotations

import threading
import time

import pytest

from virtkit.drivers import domainjob
from virtkit.drivers.domainjob import DomainJob, thread_job
from virtkit.errors import ErrorCode, VirtError
from virtkit.rpc.bindings import dispatch_name


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
