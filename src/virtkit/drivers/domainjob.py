"""A domain's job: one state-changing operation at a time (libvirt's virdomainjob.c).

``DomainJob`` is libvirt's synchronous job on ``virDomainJobObj``: a caller that
finds the job held waits at most ``JOB_WAIT_TIME`` seconds, then fails as
virDomainObjBeginJobInternal does: VIR_ERR_OPERATION_TIMEOUT "Timed out during
operation: cannot acquire state change lock (held by monitor=API)", where API
is what the holder's thread was running (``thread_job``: libvirtd's dispatcher
names it ``remoteDispatchDomainSuspend`` and so on; without a name, the plain
"cannot acquire state change lock"). The job is re-entrant for the thread that
holds it (a snapshot revert starts the domain within its own job).

The wait holds no other lock: callers take the job before any node-wide lock.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from types import TracebackType

from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["JOB_WAIT_TIME", "DomainJob", "current_job_name", "thread_job"]

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


class DomainJob:
    """The job of one domain; ``with job:`` begins it (waiting at most JOB_WAIT_TIME)
    and ends it."""

    def __init__(self, error_domain: int = ErrorDomain.QEMU) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._error_domain = error_domain
        self.owner_api: str | None = None  # libvirt's ownerAPI
        self.started = 0.0  # time.monotonic() when begun

    @property
    def active(self) -> bool:
        return self._owner is not None

    def begin(self, timeout: float | None = None) -> None:
        """Take the job; VIR_ERR_OPERATION_TIMEOUT after ``timeout`` (JOB_WAIT_TIME)."""
        me = threading.get_ident()
        deadline = time.monotonic() + (JOB_WAIT_TIME if timeout is None else timeout)
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            while self._owner is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._timed_out()
                self._cond.wait(left)
            self._owner, self._depth = me, 1
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
                self._cond.notify()

    def __enter__(self) -> DomainJob:
        self.begin()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.end()

    def _timed_out(self) -> VirtError:
        held = f" (held by monitor={self.owner_api})" if self.owner_api else ""
        return make_error(ErrorCode.OPERATION_TIMEOUT, self._error_domain,
                          f"cannot acquire state change lock{held}")
