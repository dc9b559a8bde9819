"""A domain's jobs (libvirt's virdomainjob.c): one synchronous job at a time, and one
asynchronous job that lets some synchronous jobs run meanwhile.

``DomainJob`` is libvirt's ``virDomainJobObj``. A synchronous job (``begin(job=...)``,
``with job:`` is a MODIFY job) is held by one thread; a caller that cannot have it waits
at most ``JOB_WAIT_TIME`` seconds, then fails as virDomainObjBeginJobInternal does:
VIR_ERR_OPERATION_TIMEOUT "Timed out during operation: cannot acquire state change lock
(held by monitor=API)", where API is what the blocking thread was running
(``thread_job``: libvirtd's dispatcher names it ``remoteDispatchDomainSuspend`` and so
on; without a name, the plain "cannot acquire state change lock"). The synchronous job
is re-entrant for the thread that holds it (a snapshot revert starts the domain within
its own job).

An asynchronous job (``begin_async``: save, dump, snapshot, migration, backup) spans a
long operation. While it runs, other threads get only the synchronous jobs its mask
allows (``DEFAULT_MASK``: QUERY, DESTROY, ABORT, libvirt's VIR_JOB_DEFAULT_MASK); a
blocked caller names the async job's owner. The thread owning the async job takes
synchronous jobs as libvirt's nested jobs. The job's progress (``current``, a
``JobData``) is updated by the operation and read by virDomainGetJobInfo/Stats; the
data of the last job that completed stays in ``completed``. ``request_abort`` sets the
abort flag and calls the canceller the operation registered.

The waits hold no other lock: callers take the job before any node-wide lock.
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

from virtkit.constants import DomainJobOperation, DomainJobType
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error
from virtkit.types import DomainJobInfo, TypedParams

__all__ = [
    "DEFAULT_MASK",
    "JOB_WAIT_TIME",
    "AsyncJob",
    "DomainJob",
    "Job",
    "JobData",
    "JobStatus",
    "current_job_name",
    "job_mask",
    "thread_job",
]

# libvirt's VIR_JOB_WAIT_TIME (30 s). Read at each wait, so tests may shorten it.
JOB_WAIT_TIME = 30.0

_thread = threading.local()


@contextlib.contextmanager
def thread_job(name: str) -> Iterator[None]:
    """Name what this thread runs while the block runs (libvirt's virThreadJobSet)."""
    previous = getattr(_thread, "name", None)
    _thread.name = name
    try:
        yield
    finally:
        _thread.name = previous


def current_job_name() -> str | None:
    """The name ``thread_job`` gave this thread (libvirt's virThreadJobGet), or None."""
    name: str | None = getattr(_thread, "name", None)
    return name


class Job(enum.IntEnum):
    """libvirt's virDomainJob: the kinds of synchronous job."""

    NONE = 0
    QUERY = 1  # changes no state
    DESTROY = 2  # destroys the domain (never masked out)
    SUSPEND = 3  # stops the vCPUs
    MODIFY = 4  # may change state
    ABORT = 5  # aborts the async job
    MIGRATION_OP = 6  # influences an outgoing migration
    MODIFY_MIGRATION_SAFE = 7
    ASYNC = 8
    ASYNC_NESTED = 9


class AsyncJob(enum.IntEnum):
    """libvirt's virDomainAsyncJob."""

    NONE = 0
    MIGRATION_OUT = 1
    MIGRATION_IN = 2
    SAVE = 3
    DUMP = 4
    SNAPSHOT = 5
    START = 6
    BACKUP = 7

    @property
    def label(self) -> str:
        """virDomainAsyncJobTypeToString ("migration out", "save", ...)."""
        return self.name.lower().replace("_", " ")


class JobStatus(enum.IntEnum):
    """libvirt's virDomainJobStatus (what the job data says of the operation)."""

    NONE = 0
    ACTIVE = 1
    MIGRATING = 2
    HYPERVISOR_COMPLETED = 3
    PAUSED = 4
    POSTCOPY = 5
    POSTCOPY_PAUSED = 6
    COMPLETED = 7
    FAILED = 8
    CANCELED = 9

    @property
    def job_type(self) -> DomainJobType:
        """virDomainJobStatusToType: the virDomainJobType a client sees."""
        if self == JobStatus.NONE:
            return DomainJobType.NONE
        if self == JobStatus.COMPLETED:
            return DomainJobType.COMPLETED
        if self == JobStatus.FAILED:
            return DomainJobType.FAILED
        if self == JobStatus.CANCELED:
            return DomainJobType.CANCELLED
        return DomainJobType.UNBOUNDED


def job_mask(job: Job) -> int:
    """libvirt's JOB_MASK(job): the bit of ``job`` in an async job's allowed-jobs mask."""
    return 0 if job == Job.NONE else 1 << (job - 1)


# VIR_JOB_DEFAULT_MASK: what any async job lets other threads do.
DEFAULT_MASK = job_mask(Job.QUERY) | job_mask(Job.DESTROY) | job_mask(Job.ABORT)

# Typed parameters (VIR_DOMAIN_JOB_*) that go as INT, not ULLONG.
INT_PARAMS = frozenset({"operation", "auto_converge_throttle"})


def _now_ms() -> int:
    return int(time.time() * 1000)


class JobData:
    """libvirt's virDomainJobData: an async job's status, operation, times and progress.

    ``stats`` holds the progress as libvirt's typed-parameter names and values
    (``memory_total``, ``memory_processed``, ``memory_remaining``, ``disk_*``,
    ``memory_bps``, ...), in the order virDomainGetJobStats reports them. A plain
    class: every domain object makes a job, and the CLI's start-up has no room for
    ``dataclasses``.
    """

    __slots__ = ("errmsg", "operation", "started", "stats", "status", "stopped",
                 "time_elapsed")

    def __init__(self, operation: DomainJobOperation = DomainJobOperation.UNKNOWN,
                 status: JobStatus = JobStatus.ACTIVE, started: int | None = None,
                 stopped: int = 0, time_elapsed: int = 0,
                 stats: dict[str, int] | None = None, errmsg: str | None = None) -> None:
        self.operation = operation
        self.status = status
        self.started = _now_ms() if started is None else started  # ms since the epoch
        self.stopped = stopped  # when the guest's CPUs stopped (ms since the epoch); 0: never
        self.time_elapsed = time_elapsed  # ms
        self.stats: dict[str, int] = {} if stats is None else stats
        self.errmsg = errmsg

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"JobData({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JobData):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def update_time(self) -> None:
        """qemuDomainJobDataUpdateTime: time_elapsed from ``started`` to now."""
        if self.started:
            self.time_elapsed = max(0, _now_ms() - self.started)

    def copy(self) -> JobData:
        return JobData(self.operation, self.status, self.started, self.stopped,
                       self.time_elapsed, dict(self.stats), self.errmsg)

    def _triple(self, prefix: str) -> tuple[int, int, int]:
        s = self.stats
        return (s.get(f"{prefix}_total", 0), s.get(f"{prefix}_processed", 0),
                s.get(f"{prefix}_remaining", 0))

    def to_info(self) -> DomainJobInfo:
        """virDomainJobInfo (qemuDomainJobDataToInfo): data = memory + disk."""
        mem, disk = self._triple("memory"), self._triple("disk")
        return DomainJobInfo(
            type=self.status.job_type, time_elapsed=self.time_elapsed,
            data_total=mem[0] + disk[0], data_processed=mem[1] + disk[1],
            data_remaining=mem[2] + disk[2], mem_total=mem[0], mem_processed=mem[1],
            mem_remaining=mem[2], file_total=disk[0], file_processed=disk[1],
            file_remaining=disk[2])

    def to_params(self) -> tuple[int, TypedParams]:
        """virDomainGetJobStats' (type, params): operation, time_elapsed, data_* (the sum
        of memory_* and disk_* when the operation reports them), then ``stats``."""
        params: TypedParams = {"operation": int(self.operation),
                               "time_elapsed": self.time_elapsed}
        for key in ("downtime", "setup_time"):
            if key in self.stats:
                params[key] = self.stats[key]
        if any(k.startswith(("memory_", "disk_")) for k in self.stats):
            mem, disk = self._triple("memory"), self._triple("disk")
            params["data_total"] = mem[0] + disk[0]
            params["data_processed"] = mem[1] + disk[1]
            params["data_remaining"] = mem[2] + disk[2]
        for key, value in self.stats.items():
            params.setdefault(key, value)
        if self.errmsg:
            params["errmsg"] = self.errmsg
        return int(self.status.job_type), params


class DomainJob:
    """The jobs of one domain; ``with job:`` begins a MODIFY job (waiting at most
    JOB_WAIT_TIME) and ends it."""

    def __init__(self, error_domain: int = ErrorDomain.QEMU) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._error_domain = error_domain
        self.kind = Job.NONE  # libvirt's active
        self.owner_api: str | None = None  # libvirt's ownerAPI
        self.started = 0.0  # time.monotonic() when begun
        # the async job
        self._async_owner: int | None = None
        self.async_job = AsyncJob.NONE
        self.async_owner_api: str | None = None
        self.mask = DEFAULT_MASK
        self.api_flags = 0
        self.phase = ""  # the async job's phase (libvirt's job.phase: "begin3", "perform3", ...)
        self.current: JobData | None = None
        self.completed: JobData | None = None
        self._abort = False
        self._canceller: Callable[[], None] | None = None

    @property
    def active(self) -> bool:
        """A synchronous job is held."""
        return self._owner is not None

    # ------------------------------------------------------------ synchronous jobs

    def _nested_allowed(self, job: Job, me: int) -> bool:
        """virDomainNestedJobAllowed; the async job's own thread runs nested jobs."""
        return (self.async_job == AsyncJob.NONE or self._async_owner == me
                or bool(self.mask & job_mask(job)))

    def _wait(self, ready: Callable[[], bool], job: Job, me: int, deadline: float) -> None:
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                blocker = (self.owner_api if self._nested_allowed(job, me)
                           else self.async_owner_api)
                raise self._timed_out(blocker)
            self._cond.wait(left)

    def begin(self, timeout: float | None = None, job: Job = Job.MODIFY) -> None:
        """Take a synchronous job; VIR_ERR_OPERATION_TIMEOUT after ``timeout``
        (JOB_WAIT_TIME) when it stays held, or the async job does not allow ``job``."""
        me = threading.get_ident()
        deadline = time.monotonic() + (JOB_WAIT_TIME if timeout is None else timeout)
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            self._wait(lambda: self._owner is None and self._nested_allowed(job, me),
                       job, me, deadline)
            self._owner, self._depth, self.kind = me, 1, job
            self.owner_api = current_job_name()
            self.started = time.monotonic()

    def end(self) -> None:
        """End the job (the outermost ``begin`` of the owning thread)."""
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("domain job ended by a thread that does not hold it")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self.owner_api = None
                self.kind = Job.NONE
                self._cond.notify_all()

    @contextlib.contextmanager
    def using(self, job: Job, timeout: float | None = None) -> Iterator[DomainJob]:
        """``with domjob.using(Job.QUERY):`` holds a synchronous job of that kind."""
        self.begin(timeout, job)
        try:
            yield self
        finally:
            self.end()

    def __enter__(self) -> DomainJob:
        self.begin()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.end()

    # ------------------------------------------------------------ the asynchronous job

    @property
    def async_active(self) -> bool:
        return self.async_job != AsyncJob.NONE

    def begin_async(self, async_job: AsyncJob, operation: DomainJobOperation,
                    flags: int = 0, timeout: float | None = None) -> JobData:
        """virDomainObjBeginAsyncJob: wait (as ``begin``) until no other async job and no
        synchronous job of another thread runs; start ``current`` (status ACTIVE)."""
        me = threading.get_ident()
        deadline = time.monotonic() + (JOB_WAIT_TIME if timeout is None else timeout)
        with self._cond:
            self._wait(lambda: self.async_job == AsyncJob.NONE
                       and self._owner in (None, me), Job.ASYNC, me, deadline)
            self.async_job, self._async_owner = async_job, me
            self.async_owner_api = current_job_name()
            self.mask, self.api_flags, self.phase = DEFAULT_MASK, flags, ""
            self._abort, self._canceller = False, None
            self.current = JobData(operation=operation)
            return self.current

    def end_async(self) -> None:
        """virDomainObjEndAsyncJob: the async job is over; ``current`` goes (``completed``
        stays), waiters are woken."""
        with self._cond:
            if self._async_owner != threading.get_ident():
                raise RuntimeError("async job ended by a thread that does not own it")
            self.async_job, self._async_owner, self.async_owner_api = AsyncJob.NONE, None, None
            self.mask, self.api_flags, self.phase = DEFAULT_MASK, 0, ""
            self._abort, self._canceller = False, None
            self.current = None
            self._cond.notify_all()

    def release_async(self) -> None:
        """qemuDomainObjReleaseAsyncJob: the async job stays, owned by no thread, until a
        later call (the next migration phase) takes it with ``start_phase``."""
        with self._cond:
            self._async_owner = None
            self._cond.notify_all()

    def discard_released_async(self) -> bool:
        """virDomainObjDiscardAsyncJob as libvirt's qemuProcessCleanupMigrationJob runs it
        when the domain stops: an async job that waits, owned by no thread (a migration
        between two phases, or kept after a failed post-copy), ends. True when one did."""
        with self._cond:
            if self.async_job == AsyncJob.NONE or self._async_owner is not None:
                return False
            self.async_job, self.async_owner_api = AsyncJob.NONE, None
            self.mask, self.api_flags, self.phase = DEFAULT_MASK, 0, ""
            self._abort, self._canceller = False, None
            self.current = None
            self._cond.notify_all()
            return True

    def start_phase(self, phase: str) -> None:
        """qemuDomainObjStartJobPhase: this thread owns the async job from now on, in
        ``phase``."""
        with self._cond:
            self._async_owner = threading.get_ident()
            self.phase = phase
            self._cond.notify_all()

    def set_phase(self, phase: str) -> None:
        """qemuDomainObjSetJobPhase (by the thread that owns the async job)."""
        with self._cond:
            self.phase = phase

    @property
    def owned_by_me(self) -> bool:
        """This thread runs the async job."""
        return self._async_owner == threading.get_ident()

    @property
    def async_owned(self) -> bool:
        """Some thread runs the async job now (False while it waits for its next phase)."""
        return self._async_owner is not None

    @contextlib.contextmanager
    def running_async(self, async_job: AsyncJob, operation: DomainJobOperation,
                      flags: int = 0) -> Iterator[JobData]:
        """``with domjob.running_async(AsyncJob.SAVE, DomainJobOperation.SAVE) as data:``"""
        data = self.begin_async(async_job, operation, flags)
        try:
            yield data
        finally:
            self.end_async()

    def set_mask(self, mask: int) -> None:
        """qemuDomainObjSetAsyncJobMask: the synchronous jobs allowed meanwhile (DESTROY
        always is)."""
        with self._cond:
            self.mask = mask | job_mask(Job.DESTROY)
            self._cond.notify_all()

    def complete(self) -> None:
        """The operation succeeded: keep a copy of ``current`` as ``completed`` (status
        COMPLETED, elapsed time taken now)."""
        with self._cond:
            if self.current is not None:
                self.current.update_time()
                done = self.current.copy()
                done.status = JobStatus.COMPLETED
                self.completed = done

    def take_completed(self, keep: bool) -> JobData | None:
        """The completed job's data (a copy); it goes unless ``keep``
        (VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED)."""
        with self._cond:
            data = self.completed.copy() if self.completed is not None else None
            if not keep:
                self.completed = None
            return data

    def snapshot(self) -> JobData | None:
        """A copy of ``current`` with its elapsed time brought up to date, or None."""
        with self._cond:
            if self.current is None:
                return None
            self.current.update_time()
            return self.current.copy()

    # ------------------------------------------------------------ abort

    def on_abort(self, canceller: Callable[[], None] | None) -> None:
        """Register what ``request_abort`` calls to stop the running operation."""
        with self._cond:
            self._canceller = canceller

    @property
    def abort_requested(self) -> bool:
        """libvirt's abortJob: a client asked the async job to stop."""
        return self._abort

    def request_abort(self) -> None:
        """qemuDomainObjAbortAsyncJob: flag the async job as aborted and run its
        canceller (outside this object's lock)."""
        with self._cond:
            if self.async_job == AsyncJob.NONE:
                return
            self._abort = True
            canceller = self._canceller
        if canceller is not None:
            canceller()

    def _timed_out(self, blocker: str | None) -> VirtError:
        held = f" (held by monitor={blocker})" if blocker else ""
        return make_error(ErrorCode.OPERATION_TIMEOUT, self._error_domain,
                          f"cannot acquire state change lock{held}")
