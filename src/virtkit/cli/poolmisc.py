"""Pool management commands: pool-autostart, pool-delete, pool-name, pool-uuid, pool-edit,
pool-event; the event loop the *-event commands share (wait_events)."""

from __future__ import annotations

from typing import Any

from virtkit.cli.common import BY_NAME, BY_UUID, find_pool, lookup_pool
from virtkit.cli.framework import Cmd, CmdFailed, Ctl

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from virtkit.events import EventHandle

__all__ = [
    "POOL_EVENT_NAMES",
    "cmd_pool_autostart",
    "cmd_pool_delete",
    "cmd_pool_edit",
    "cmd_pool_event",
    "cmd_pool_name",
    "cmd_pool_uuid",
    "event_timeout",
    "event_timestamp",
    "wait_events",
]

# Indexed by virStoragePoolEventID and virStoragePoolEventLifecycleType.
POOL_EVENT_NAMES = ("lifecycle", "refresh")
_LIFECYCLE = ("Defined", "Undefined", "Started", "Stopped", "Created", "Deleted")


def cmd_pool_autostart(ctl: Ctl, cmd: Cmd) -> bool:
    pool, name = lookup_pool(ctl, cmd)
    enable = not cmd.flag("disable")
    verb = "mark" if enable else "unmark"
    with ctl.failing(f"failed to {verb} pool {name} as autostarted"):
        pool.autostart = enable
    ctl.print_extra(f"Pool {name} {verb}ed as autostarted\n")
    return True


def cmd_pool_delete(ctl: Ctl, cmd: Cmd) -> bool:
    pool, name = lookup_pool(ctl, cmd)
    with ctl.failing(f"Failed to delete pool {name}"):
        pool.delete(0)
    ctl.print_extra(f"Pool {name} deleted\n")
    return True


def cmd_pool_name(ctl: Ctl, cmd: Cmd) -> bool:
    pool, _ = lookup_pool(ctl, cmd, by=BY_UUID)
    ctl.print(f"{pool.name}\n")
    return True


def cmd_pool_uuid(ctl: Ctl, cmd: Cmd) -> bool:
    pool, _ = lookup_pool(ctl, cmd, by=BY_NAME)
    ctl.print(f"{pool.uuid}\n")
    return True


def cmd_pool_edit(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.editing import edit_object_xml

    pool, _ = lookup_pool(ctl, cmd)
    return edit_object_xml(ctl, "Pool", pool.name, pool.xml,
                           lambda xml: ctl.conn.define_storage_pool(xml, 0).name)


def event_timestamp() -> str:
    """virTimeStringNowRaw: UTC with milliseconds."""
    import time

    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
    return f"{stamp}.{int(now * 1000) % 1000:03d}+0000"


def event_timeout(ctl: Ctl, cmd: Cmd) -> float | None:
    """vshCommandOptTimeoutToMs, in seconds (None: wait for ever)."""
    timeout = ctl.opt_int(cmd, "timeout", lo=0, hi=2**32 - 1)
    if timeout is None:
        return None
    if timeout == 0 or timeout > (2**31 - 1) // 1000:
        ctl.error(f"Numeric value '{timeout}' for <timeout> option is malformed or out of range")
        raise CmdFailed
    return float(timeout)


def wait_events(
    ctl: Ctl,
    cmd: Cmd,
    timeout: float | None,
    register: Callable[[Callable[[str], None]], EventHandle],
) -> int:
    """vshEventStart/Wait for the *-event commands: ``register(emit)`` subscribes a callback
    that passes ``emit`` each event's line; prints the closing lines, returns the count."""
    import threading

    loop, stamp = cmd.flag("loop"), cmd.flag("timestamp")
    count = 0
    done = threading.Event()
    lock = threading.Lock()

    def emit(line: str) -> None:
        nonlocal count
        with lock:
            if not loop and count:
                return
            ctl.print(f"{event_timestamp()}: {line}" if stamp else line)
            ctl.out.flush()
            count += 1
            if not loop:
                done.set()

    handle = register(emit)
    try:
        try:
            finished = done.wait(timeout)
        except KeyboardInterrupt:
            ctl.print("event loop interrupted\n")
        else:
            if not finished:
                ctl.print("event loop timed out\n")
    finally:
        handle.cancel()
    ctl.print(f"events received: {count}\n")
    return count


def run_event_command(
    ctl: Ctl, cmd: Cmd, names: Sequence[str], object_opt: str,
    find: Callable[[Ctl, str], Any],
    subscribe: Callable[[int, str, Any, Callable[[str], None]], EventHandle],
    *, missing_object_ends: bool = False,
) -> bool:
    """The flow every virsh ``*-event`` command shares: --list, --event checks, --timeout,
    the optional object, then waiting for the events. An object that is not found: virsh
    keeps watching every object and reports the lookup error at the end, except where
    ``missing_object_ends`` (nodedev-event), when the lookup error ends the command.
    ``subscribe(event_id, event_name, obj_or_None, emit)`` registers the callback."""
    from virtkit.errors import VirtError

    if cmd.flag("list"):
        ctl.print("".join(f"{name}\n" for name in names))
        return True
    wanted = ctl.opt_string(cmd, "event")
    if not wanted:
        ctl.error("either --list or --event <type> is required")
        return False
    if wanted not in names:
        ctl.error(f"unknown event type {wanted}")
        return False
    event_id = list(names).index(wanted)
    timeout = event_timeout(ctl, cmd)
    obj = None
    pending: VirtError | None = None
    if missing_object_ends:
        name = ctl.opt_string(cmd, object_opt)
        if name is not None:
            obj = find(ctl, name)
    elif cmd.has(object_opt):
        try:
            obj = find(ctl, ctl.opt_required(cmd, object_opt))
        except VirtError as exc:
            pending = exc
        except CmdFailed:
            pass
    if wait_events(ctl, cmd, timeout,
                   lambda emit: subscribe(event_id, wanted, obj, emit)):
        return True
    if pending is not None:
        raise pending
    return False


def cmd_pool_event(ctl: Ctl, cmd: Cmd) -> bool:
    def subscribe(event_id: int, wanted: str, pool: Any,
                  emit: Callable[[str], None]) -> EventHandle:
        def callback(obj: Any, eid: int, *payload: Any) -> None:
            if eid == 0:
                event = int(payload[0]) if payload else -1
                what = _LIFECYCLE[event] if 0 <= event < len(_LIFECYCLE) else "unknown"
                emit(f"event 'lifecycle' for storage pool {obj.name}: {what}\n")
            else:
                emit(f"event '{wanted}' for storage pool {obj.name}\n")

        return ctl.conn.on_storage_pool_event(callback, event_id, pool)

    return run_event_command(ctl, cmd, POOL_EVENT_NAMES, "pool", find_pool, subscribe)
