"""Event plumbing between the drivers and the user: callbacks and streams.

Drivers call ``callback(ident, event_id, payload)`` (see
``virtkit.drivers.base.DomainEventCallback``). The connection wraps that
into a *relay* that turns the identity into a handle and calls the user's
function; a user callback that raises is logged and forgotten, so one bad
callback never breaks a driver's delivery loop. :class:`EventStream` is the
pull form: a thread-safe queue fed by such a relay.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

if TYPE_CHECKING:
    import queue
    from types import TracebackType

    from virtkit.handles import Domain, Network, StoragePool

__all__ = [
    "DomainEvent",
    "EventHandle",
    "EventStream",
    "NetworkEvent",
    "StoragePoolEvent",
    "make_relay",
]


def _log_callback_failure(callback: object) -> None:
    """Log a raising callback; ``logging`` is imported only here, off the start-up path."""
    import logging

    logging.getLogger(__name__).exception("event callback %r raised", callback)


class DomainEvent(NamedTuple):
    """One domain event: for LIFECYCLE the payload is ``(DomainEventType, detail)``."""

    domain: Domain
    event_id: int
    payload: tuple[Any, ...]


class NetworkEvent(NamedTuple):
    """One network event: for LIFECYCLE the payload is ``(NetworkEventLifecycleType, detail)``."""

    network: Network
    event_id: int
    payload: tuple[Any, ...]


class StoragePoolEvent(NamedTuple):
    """One storage pool event: LIFECYCLE ``(type, detail)``, REFRESH ``()``."""

    pool: StoragePool
    event_id: int
    payload: tuple[Any, ...]


H = TypeVar("H")
DriverCallback = Callable[[Any, int, tuple[Any, ...]], None]


def make_relay(
    wrap: Callable[[Any], H],
    callback: Callable[..., object],
    lifecycle_type: Callable[[int], object] | None = None,
) -> DriverCallback:
    """A driver callback calling ``callback(wrap(ident), event_id, *payload)``.

    ``lifecycle_type`` turns the first element of a LIFECYCLE (event id 0)
    payload into its enum. Exceptions from ``callback`` are logged, not raised.
    """

    def relay(ident: Any, event_id: int, payload: tuple[Any, ...]) -> None:
        try:
            if event_id == 0 and lifecycle_type is not None and payload:
                payload = (_as_enum(lifecycle_type, payload[0]), *payload[1:])
            callback(wrap(ident), event_id, *payload)
        except Exception:
            _log_callback_failure(callback)

    return relay


def _as_enum(enum: Callable[[int], object], value: Any) -> object:
    try:
        return enum(value)
    except ValueError:
        return value


class EventHandle:
    """One registration; :meth:`cancel` deregisters it (DeregisterAny)."""

    __slots__ = ("_callback_id", "_deregister", "_lock", "_on_cancel")

    def __init__(
        self,
        callback_id: int,
        deregister: Callable[[int], None],
        on_cancel: Callable[[EventHandle], None] | None = None,
    ) -> None:
        self._callback_id = callback_id
        self._deregister: Callable[[int], None] | None = deregister
        self._on_cancel = on_cancel
        self._lock = threading.Lock()

    @property
    def callback_id(self) -> int:
        """The driver's callback id (what libvirt's RegisterAny returns)."""
        return self._callback_id

    @property
    def active(self) -> bool:
        """False once cancelled."""
        return self._deregister is not None

    def cancel(self) -> None:
        """Stop delivery. Cancelling twice is harmless."""
        with self._lock:
            deregister, self._deregister = self._deregister, None
        if deregister is None:
            return
        try:
            deregister(self._callback_id)
        finally:
            if self._on_cancel is not None:
                self._on_cancel(self)

    def __repr__(self) -> str:
        state = "active" if self.active else "cancelled"
        return f"<EventHandle {self._callback_id} {state}>"


_CLOSED = object()
E = TypeVar("E")


class EventStream(Generic[E]):
    """Events as an iterator: ``for ev in stream``, ``stream.get(timeout)``, ``stream.close()``.

    Events queue up (unbounded) from the moment the stream exists until it is
    closed; closing it (or its connection) deregisters and ends iteration
    once the queued events are consumed.
    """

    def __init__(self) -> None:
        import queue  # only streams need it; kept off the CLI's start-up path

        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._handle: EventHandle | None = None
        self._closed = False

    def _attach(self, handle: EventHandle) -> None:
        self._handle = handle

    def push(self, event: E) -> None:
        """Queue one event (called by the relay, in the driver's thread)."""
        if not self._closed:
            self._queue.put(event)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def get(self, timeout: float | None = None) -> E | None:
        """The next event; ``None`` after ``timeout`` seconds, or when closed and drained."""
        if self._closed and self._queue.empty():
            return None
        import queue

        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self._queue.put(_CLOSED)  # wake every other reader too
            return None
        return item  # type: ignore[return-value]

    def __iter__(self) -> Iterator[E]:
        while True:
            item = self._queue.get()
            if item is _CLOSED:
                self._queue.put(_CLOSED)
                return
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Deregister and end iteration (events already queued are still yielded)."""
        if self._closed:
            return
        self._closed = True
        handle, self._handle = self._handle, None
        try:
            if handle is not None:
                handle.cancel()
        finally:
            self._queue.put(_CLOSED)

    def __enter__(self) -> EventStream[E]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
