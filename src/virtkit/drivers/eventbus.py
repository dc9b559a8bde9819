"""Event registrations and delivery for one node (shared by the drivers).

Events are queued while the node's lock is held and delivered by ``flush()``
after it is released, so a callback may call back into the driver. A callback
that raises is logged and otherwise ignored, as libvirt ignores them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from virtkit.errors import ErrorCode, ErrorDomain, make_error


def _log_callback_failure(callback: object) -> None:
    """Log a raising callback; ``logging`` is imported only here, off the start-up path."""
    import logging

    logging.getLogger(__name__).exception("event callback %r raised", callback)

DOMAIN = "domain"
NETWORK = "network"
POOL = "pool"


class _Registration:
    """One callback registration (a plain slotted class: no dataclasses import at start-up)."""

    __slots__ = ("callback", "callback_id", "event_id", "kind", "owner", "uuid")

    def __init__(
        self,
        callback_id: int,
        kind: str,
        event_id: int,
        uuid: str | None,
        callback: Callable[..., None],
        owner: object,
    ) -> None:
        self.callback_id = callback_id
        self.kind = kind
        self.event_id = event_id
        self.uuid = uuid
        self.callback = callback
        self.owner = owner


class EventBus:
    """Registrations plus a queue of pending events (kind, ident, event_id, payload)."""

    def __init__(self) -> None:
        self._regs: dict[int, _Registration] = {}
        self._next_id = 0
        self._pending: list[tuple[str, object, int, tuple[object, ...]]] = []
        self._mutex = threading.Lock()
        self._deliver = threading.Lock()

    def register(
        self,
        kind: str,
        event_id: int,
        uuid: str | None,
        callback: Callable[..., None],
        owner: object,
    ) -> int:
        """Add a callback; returns its id (libvirt numbers them from 0 per node)."""
        with self._mutex:
            cid = self._next_id
            self._next_id += 1
            self._regs[cid] = _Registration(cid, kind, event_id, uuid, callback, owner)
            return cid

    def deregister(self, callback_id: int, owner: object) -> None:
        """Remove a callback registered by ``owner``."""
        with self._mutex:
            reg = self._regs.get(callback_id)
            if reg is None or reg.owner is not owner:
                raise make_error(
                    ErrorCode.INVALID_ARG,
                    ErrorDomain.NONE,
                    f"could not find event callback {callback_id} for deletion",
                )
            del self._regs[callback_id]

    def drop_owner(self, owner: object) -> None:
        """Forget every callback a closing connection registered."""
        with self._mutex:
            for cid in [c for c, r in self._regs.items() if r.owner is owner]:
                del self._regs[cid]

    @property
    def active(self) -> bool:
        """Whether anyone listens (lets callers skip building events)."""
        return bool(self._regs)

    def queue(self, kind: str, ident: object, event_id: int, payload: tuple[object, ...]) -> None:
        """Queue an event for delivery at the next ``flush()``."""
        if self._regs:
            with self._mutex:
                self._pending.append((kind, ident, event_id, payload))

    def flush(self) -> None:
        """Deliver queued events, in order, outside the node's lock."""
        if not self._pending:
            return
        # One deliverer at a time keeps the order events were queued in.
        with self._deliver:
            with self._mutex:
                pending, self._pending = self._pending, []
                regs = list(self._regs.values())
            for kind, ident, event_id, payload in pending:
                uuid = getattr(ident, "uuid", None)
                for reg in regs:
                    if reg.kind != kind or reg.event_id != event_id:
                        continue
                    if reg.uuid is not None and reg.uuid != uuid:
                        continue
                    if reg.callback_id not in self._regs:
                        continue
                    try:
                        reg.callback(ident, event_id, payload)
                    except Exception:
                        _log_callback_failure(reg.callback_id)
