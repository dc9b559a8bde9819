"""Event messages of the ``remote`` program, both ways.

Drivers report an event as ``(identity, event_id, payload)`` where the
payload holds the arguments libvirt's callback for that event id receives
after the object (lifecycle: ``(event, detail)``). On the wire each event id
has its own MESSAGE procedure whose struct carries the callback id, the
object and the same values, sometimes nested in a legacy ``msg`` struct
(``{callbackID, reason, msg: {dom}}``). :class:`EventKind` finds the
procedure and packs or unpacks the payload, field by field.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from virtkit.rpc.protocol import REMOTE, Procedure
from virtkit.rpc.wiretypes import converters
from virtkit.rpc.xdr import Struct

__all__ = ["DOMAIN", "KINDS", "NETWORK", "NODEDEV", "POOL", "SECRET", "EventKind",
           "event_for_proc", "event_proc"]

DOMAIN, NETWORK, POOL, NODEDEV, SECRET = "domain", "network", "pool", "nodedev", "secret"
KINDS = (DOMAIN, NETWORK, POOL, NODEDEV, SECRET)

# virDomainEventID, in order (libvirt 9.0).
_DOMAIN_EVENTS = (
    "lifecycle", "reboot", "rtc_change", "watchdog", "io_error", "graphics", "io_error_reason",
    "control_error", "block_job", "disk_change", "tray_change", "pmwakeup", "pmsuspend",
    "balloon_change", "pmsuspend_disk", "device_removed", "block_job_2", "tunable",
    "agent_lifecycle", "device_added", "migration_iteration", "job_completed",
    "device_removal_failed", "metadata_change", "block_threshold", "memory_failure",
    "memory_device_size_change",
)
_NETWORK_EVENTS = ("lifecycle",)
_POOL_EVENTS = ("lifecycle", "refresh")
_NODEDEV_EVENTS = ("lifecycle", "update")
_SECRET_EVENTS = ("lifecycle", "value_changed")
_OBJECT_FIELDS = ("dom", "net", "pool", "dev", "secret")
# kind -> (event names by id, MESSAGE procedure prefix)
_KIND_TABLE = {
    DOMAIN: (_DOMAIN_EVENTS, "domain_event"),
    NETWORK: (_NETWORK_EVENTS, "network_event"),
    POOL: (_POOL_EVENTS, "storage_pool_event"),
    NODEDEV: (_NODEDEV_EVENTS, "node_device_event"),
    SECRET: (_SECRET_EVENTS, "secret_event"),
}


class EventKind:
    """One event id's MESSAGE procedure and how its struct holds the payload."""

    __slots__ = ("event_id", "kind", "obj_conv", "proc", "slots")

    def __init__(self, kind: str, event_id: int, proc: Procedure) -> None:
        self.kind = kind
        self.event_id = event_id
        self.proc = proc
        # (path, to-python, to-wire) for every payload value, and the object's converters
        self.slots: list[tuple[tuple[str, ...], Any, Any]] = []
        self.obj_conv: tuple[Any, Any] = (None, None)
        assert isinstance(proc.args, Struct)
        self._walk(proc.args, ())

    def _walk(self, struct: Struct, path: tuple[str, ...]) -> None:
        for name, t in struct.fields:
            if name == "callbackID":
                continue
            if name in _OBJECT_FIELDS:
                self.obj_conv = converters(t)
                self.slots.insert(0, ((*path, name), None, None))  # the object goes first
                continue
            if name == "msg" and isinstance(t, Struct):
                self._walk(t, (*path, name))
                continue
            to_py, to_wire = converters(t)
            self.slots.append(((*path, name), to_py, to_wire))

    def encode(self, callback_id: int, obj: Any, payload: tuple[Any, ...]) -> bytes:
        """The MESSAGE body for ``obj``'s event carrying ``payload``."""
        body: dict[str, Any] = {"callbackID": callback_id}
        values = (self.obj_conv[1](obj), *payload)
        if len(values) != len(self.slots):
            raise ValueError(f"{self.proc.name}: payload {payload!r} does not fit")
        for (path, _, to_wire), value in zip(self.slots, values, strict=True):
            target = body
            for step in path[:-1]:
                target = target.setdefault(step, {})
            target[path[-1]] = to_wire(value) if to_wire else value
        return self.proc.args.encode(body)

    def decode(self, data: bytes) -> tuple[int, Any, tuple[Any, ...]]:
        """``(callback id, object identity, payload)`` from a MESSAGE body."""
        body = self.proc.args.decode(data)
        values = []
        for path, to_py, _ in self.slots:
            v = body
            for step in path:
                v = v[step]
            values.append(to_py(v) if to_py else v)
        return body["callbackID"], self.obj_conv[0](values[0]), tuple(values[1:])


@cache
def event_proc(kind: str, event_id: int) -> EventKind | None:
    """The callback-style MESSAGE procedure for ``kind``'s ``event_id`` (None if unknown)."""
    names, prefix = _KIND_TABLE[kind]
    if not 0 <= event_id < len(names):
        return None
    name = names[event_id]
    for candidate in (f"{prefix}_callback_{name}", f"{prefix}_{name}"):
        if candidate in REMOTE:
            proc = REMOTE[candidate]
            if isinstance(proc.args, Struct) and proc.args.fields[0][0] == "callbackID":
                return EventKind(kind, event_id, proc)
    return None


@cache
def _by_number() -> dict[int, EventKind]:
    out: dict[int, EventKind] = {}
    for kind in KINDS:
        for event_id in range(len(_KIND_TABLE[kind][0])):
            ek = event_proc(kind, event_id)
            if ek is not None:
                out[ek.proc.number] = ek
    return out


def event_for_proc(number: int) -> EventKind | None:
    """The event a MESSAGE procedure number carries (None: not a callback event)."""
    return _by_number().get(number)
