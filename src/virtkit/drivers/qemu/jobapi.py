"""virDomainGetJobInfo, virDomainGetJobStats and virDomainAbortJob(Flags) of the QEMU
driver (qemuDomainGetJobInfo, qemuDomainGetJobStats, qemuDomainAbortJobFlags), mixed
into QemuDriver. The jobs themselves are drivers.domainjob's."""

from __future__ import annotations

from virtkit.constants import DomainAbortJobFlags, DomainGetJobStatsFlags, DomainJobType
from virtkit.drivers.domainjob import AsyncJob, Job, JobData, JobStatus
from virtkit.drivers.qemu.node import QemuDomain, QemuNode
from virtkit.drivers.qemu.saveimage import migration_stats
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, invalid_flags, make_error
from virtkit.types import DomainIdent, DomainJobInfo, TypedParams

__all__ = ["JobMixin"]

_Q = ErrorDomain.QEMU
_STATS_FLAGS = int(DomainGetJobStatsFlags.COMPLETED | DomainGetJobStatsFlags.KEEP_COMPLETED)
_ABORT_FLAGS = int(DomainAbortJobFlags.POSTCOPY)
# Job data statuses during which QEMU's migration stream has numbers to ask for.
_STREAMING = frozenset({JobStatus.MIGRATING, JobStatus.HYPERVISOR_COMPLETED,
                        JobStatus.POSTCOPY, JobStatus.PAUSED, JobStatus.POSTCOPY_PAUSED})
# The async jobs whose abort cancels QEMU's migration stream (qemuDomainAbortJobMigration).
_MIGRATING_JOBS = frozenset({AsyncJob.MIGRATION_OUT, AsyncJob.SAVE, AsyncJob.DUMP,
                             AsyncJob.SNAPSHOT})


def _err(code: int, detail: str) -> VirtError:
    return make_error(code, _Q, detail)


def _require_active(dom: QemuDomain) -> None:
    """virDomainObjCheckActive."""
    if not dom.active:
        raise _err(ErrorCode.OPERATION_INVALID, "domain is not running")


class JobMixin:
    """The job calls of the QEMU driver table."""

    _node: QemuNode

    def _dom(self, ident: DomainIdent) -> QemuDomain:
        return self._node.get(ident)

    def _job_data(self, dom: QemuDomain, completed: bool) -> JobData | None:
        """qemuDomainGetJobStatsInternal: the completed job's data (kept), or the running
        async job's with fresh numbers from QEMU (taken under a QUERY job)."""
        if completed:
            return dom.job.completed.copy() if (
                dom.job.completed is not None and dom.job.current is None) else None
        if dom.job.async_job == AsyncJob.MIGRATION_IN:
            raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                       "migration statistics are available only on the source host")
        with dom.job.using(Job.QUERY):
            _require_active(dom)
            data = dom.job.snapshot()
            if data is None:
                return None
            if data.status in _STREAMING and dom.mon is not None:
                data.stats.update(migration_stats(dom.mon.execute("query-migrate")))
            return data

    def domain_get_job_info(self, dom: DomainIdent) -> DomainJobInfo:
        data = self._job_data(self._dom(dom), False)
        if data is None or data.status == JobStatus.NONE:
            return DomainJobInfo(type=DomainJobType.NONE)
        return data.to_info()

    def domain_get_job_stats(self, dom: DomainIdent, flags: int = 0) -> tuple[int, TypedParams]:
        if flags & ~_STATS_FLAGS:
            raise invalid_flags(flags & ~_STATS_FLAGS, "qemuDomainGetJobStats", _Q)
        d = self._dom(dom)
        completed = bool(flags & DomainGetJobStatsFlags.COMPLETED)
        data = self._job_data(d, completed)
        if completed and data is not None and not flags & DomainGetJobStatsFlags.KEEP_COMPLETED:
            d.job.take_completed(keep=False)
        if data is None or data.status == JobStatus.NONE:
            return int(DomainJobType.NONE), {}
        return data.to_params()

    def domain_abort_job(self, dom: DomainIdent) -> None:
        self.domain_abort_job_flags(dom, 0)

    def domain_abort_job_flags(self, dom: DomainIdent, flags: int = 0) -> None:
        if flags & ~_ABORT_FLAGS:
            raise invalid_flags(flags & ~_ABORT_FLAGS,
                                "qemuDomainAbortJobFlags", _Q)
        d = self._dom(dom)
        with d.job.using(Job.ABORT):
            _require_active(d)
            kind = d.job.async_job
            if flags & DomainAbortJobFlags.POSTCOPY:  # no post-copy migration here yet
                raise _err(ErrorCode.OPERATION_INVALID,
                           "current job is not outgoing migration in post-copy mode")
            if kind == AsyncJob.NONE:
                raise _err(ErrorCode.OPERATION_INVALID, "no job is active on the domain")
            if kind == AsyncJob.MIGRATION_IN:
                raise _err(ErrorCode.OPERATION_INVALID,
                           "cannot abort incoming migration; use virDomainDestroy instead")
            if kind == AsyncJob.START:
                raise _err(ErrorCode.OPERATION_INVALID,
                           "cannot abort VM start; use virDomainDestroy instead")
            if kind in _MIGRATING_JOBS or kind == AsyncJob.BACKUP:
                d.job.request_abort()
