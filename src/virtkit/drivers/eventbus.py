"""Event registrations and delivery for one node (shared by the drivers).

Events are queued while a lock is held and handed over by ``flush()`` after
it is released. Each owner (a connection) has its own dispatcher: a named
daemon thread with a queue, started with its first registration and ended
with its last (deregistration, or ``drop_owner`` when it closes). Callbacks
run there, in the order the events were queued, so a callback may call back
into the driver, and a slow callback stalls neither the thread that flushed
(a QMP event thread, an exit watcher) nor another connection. libvirt
delivers asynchronously too (its event loop); ``flush()`` returns once the
events reached the callbacks the *calling thread* registered (so a program
that registers and then calls sees its own events when the call returns),
and ``wait_delivered()`` waits for everything handed over so far. A callback
that raises is logged and otherwise ignored, as libvirt ignores them.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from virtkit.errors import ErrorCode, ErrorDomain, make_error

__all__ = ["DOMAIN", "NETWORK", "POOL", "EventBus"]

DOMAIN = "domain"
NETWORK = "network"
POOL = "pool"


def _log_callback_failure(callback: object) -> None:
    """Log a raising callback; ``logging`` is imported only here, off the start-up path."""
    import logging

    logging.getLogger(__name__).exception("event callback %r raised", callback)


def _key_of(ident: object) -> str | None:
    """What a registration's ``key`` is compared with: the uuid, else the name."""
    key = getattr(ident, "uuid", None)
    return key if key is not None else getattr(ident, "name", None)


class _Registration:
    """One callback registration (a plain slotted class: no dataclasses import at start-up)."""

    __slots__ = ("callback", "callback_id", "event_id", "key", "kind", "owner", "thread")

    def __init__(
        self,
        callback_id: int,
        kind: str,
        event_id: int,
        key: str | None,
        callback: Callable[..., None],
        owner: object,
    ) -> None:
        self.callback_id = callback_id
        self.kind = kind
        self.event_id = event_id
        self.key = key
        self.callback = callback
        self.owner = owner
        self.thread = threading.get_ident()  # whose flushes wait for its deliveries


# (registration, ident, event_id, payload): one callback call
_Call = tuple[_Registration, object, int, tuple[object, ...]]
# a batch of calls and the Event set once they ran; None ends the dispatcher
_Item = tuple[list[_Call], threading.Event] | None

_dispatcher_ids = itertools.count(1)
_dispatcher_threads: set[int] = set()  # thread idents of every live dispatcher


class _Dispatcher:
    """One owner's delivery thread and queue."""

    def __init__(self, bus: EventBus) -> None:
        import queue  # here, not at import: the CLI's start-up has no room for it

        self._bus = bus
        self.queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"virtkit-events-{next(_dispatcher_ids)}")
        self.thread.start()

    def _run(self) -> None:
        me = threading.get_ident()
        _dispatcher_threads.add(me)
        try:
            while True:
                item = self.queue.get()
                if item is None:
                    return
                calls, done = item
                try:
                    for reg, ident, event_id, payload in calls:
                        if not self._bus.registered(reg):
                            continue  # deregistered meanwhile: libvirt stops calling it
                        try:
                            reg.callback(ident, event_id, payload)
                        except Exception:
                            _log_callback_failure(reg.callback_id)
                finally:
                    done.set()
        finally:
            _dispatcher_threads.discard(me)

    def stop(self) -> None:
        """End the thread once what is queued was delivered (or skipped)."""
        self.queue.put(None)


class EventBus:
    """Registrations plus a queue of pending events (kind, ident, event_id, payload)."""

    def __init__(self) -> None:
        self._regs: dict[int, _Registration] = {}
        self._next_id = 0
        self._pending: list[tuple[str, object, int, tuple[object, ...]]] = []
        self._mutex = threading.Lock()
        self._deliver = threading.Lock()
        self._dispatchers: dict[int, _Dispatcher] = {}  # id(owner) -> its dispatcher
        self._handed: list[threading.Event] = []  # batches not yet known delivered

    def register(
        self,
        kind: str,
        event_id: int,
        key: str | None,
        callback: Callable[..., None],
        owner: object,
    ) -> int:
        """Add a callback; returns its id (libvirt numbers them from 0 per node).

        ``key``: only the events of that object, named by its uuid (by its name for
        objects without one, node devices); None: every object's."""
        with self._mutex:
            cid = self._next_id
            self._next_id += 1
            self._regs[cid] = _Registration(cid, kind, event_id, key, callback, owner)
            if id(owner) not in self._dispatchers:
                self._dispatchers[id(owner)] = _Dispatcher(self)
            return cid

    def deregister(self, callback_id: int, owner: object) -> None:
        """Remove a callback registered by ``owner`` (its last one ends its dispatcher)."""
        with self._mutex:
            reg = self._regs.get(callback_id)
            if reg is None or reg.owner is not owner:
                raise make_error(
                    ErrorCode.INVALID_ARG,
                    ErrorDomain.NONE,
                    f"could not find event callback {callback_id} for deletion",
                )
            del self._regs[callback_id]
            self._end_idle_dispatcher(owner)

    def drop_owner(self, owner: object) -> None:
        """Forget every callback a closing connection registered; end its dispatcher."""
        with self._mutex:
            for cid in [c for c, r in self._regs.items() if r.owner is owner]:
                del self._regs[cid]
            self._end_idle_dispatcher(owner)

    def _end_idle_dispatcher(self, owner: object) -> None:
        # under _mutex
        if any(r.owner is owner for r in self._regs.values()):
            return
        dispatcher = self._dispatchers.pop(id(owner), None)
        if dispatcher is not None:
            dispatcher.stop()

    def registered(self, reg: _Registration) -> bool:
        """Whether ``reg`` is still registered (checked before each call)."""
        return self._regs.get(reg.callback_id) is reg

    @property
    def active(self) -> bool:
        """Whether anyone listens (lets callers skip building events)."""
        return bool(self._regs)

    def dispatcher_threads(self) -> list[threading.Thread]:
        """The delivery threads of the current owners (for tests and diagnostics)."""
        with self._mutex:
            return [d.thread for d in self._dispatchers.values()]

    def queue(self, kind: str, ident: object, event_id: int, payload: tuple[object, ...]) -> None:
        """Queue an event for delivery at the next ``flush()``."""
        if self._regs:
            with self._mutex:
                self._pending.append((kind, ident, event_id, payload))

    def flush(self, wait: bool = True) -> None:
        """Hand the queued events, in order, to their owners' dispatchers.

        With ``wait`` (and not on a dispatcher thread), return once the callbacks this
        thread registered have run for them; the others are delivered asynchronously.
        The event and exit threads of a driver pass ``wait=False``.
        """
        if not self._pending:
            return
        me = threading.get_ident()
        mine: list[threading.Event] = []
        # One hand-over at a time keeps the order events were queued in.
        with self._deliver:
            with self._mutex:
                pending, self._pending = self._pending, []
                regs = list(self._regs.values())
                dispatchers = dict(self._dispatchers)
            batches: dict[int, list[_Call]] = {}
            waits: set[int] = set()
            for kind, ident, event_id, payload in pending:
                obj_key = _key_of(ident)
                for reg in regs:
                    if reg.kind != kind or reg.event_id != event_id:
                        continue
                    if reg.key is not None and reg.key != obj_key:
                        continue
                    batches.setdefault(id(reg.owner), []).append((reg, ident, event_id, payload))
                    if reg.thread == me:
                        waits.add(id(reg.owner))
            handed: list[threading.Event] = []
            for key, calls in batches.items():
                dispatcher = dispatchers.get(key)
                if dispatcher is None:
                    continue  # the owner closed meanwhile
                done = threading.Event()
                dispatcher.queue.put((calls, done))
                handed.append(done)
                if key in waits:
                    mine.append(done)
            with self._mutex:
                self._handed = [e for e in self._handed if not e.is_set()] + handed
        if wait and me not in _dispatcher_threads:
            for done in mine:
                done.wait()

    def wait_delivered(self, timeout: float | None = None) -> bool:
        """Wait until every event handed over so far was delivered; False on timeout.

        Must not be called from a callback (its own delivery would never finish)."""
        with self._mutex:
            handed = list(self._handed)
        return all(done.wait(timeout) for done in handed)
