"""The ``event`` command: list event types or wait for domain events."""

from __future__ import annotations

from virtkit.cli.common import exclusive, find_domain
from virtkit.cli.framework import Cmd, CommandDef, Ctl, specs_to_defs
from virtkit.cli.specs import GROUPS

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from typing import Any


# virsh's names, indexed by virDomainEventID.
EVENT_NAMES = (
    "lifecycle",
    "reboot",
    "rtc-change",
    "watchdog",
    "io-error",
    "graphics",
    "io-error-reason",
    "control-error",
    "block-job",
    "disk-change",
    "tray-change",
    "pm-wakeup",
    "pm-suspend",
    "balloon-change",
    "pm-suspend-disk",
    "device-removed",
    "block-job-2",
    "tunable",
    "agent-lifecycle",
    "device-added",
    "migration-iteration",
    "job-completed",
    "device-removal-failed",
    "metadata-change",
    "block-threshold",
    "memory-failure",
    "memory-device-size-change",
)

LIFECYCLE_EVENTS = (
    "Defined",
    "Undefined",
    "Started",
    "Suspended",
    "Resumed",
    "Stopped",
    "Shutdown",
    "PMSuspended",
    "Crashed",
)
LIFECYCLE_DETAILS: tuple[tuple[str, ...], ...] = (
    ("Added", "Updated", "Renamed", "Snapshot"),
    ("Removed", "Renamed"),
    ("Booted", "Migrated", "Restored", "Snapshot", "Event wakeup"),
    (
        "Paused",
        "Migrated",
        "I/O Error",
        "Watchdog",
        "Restored",
        "Snapshot",
        "API error",
        "Post-copy",
        "Post-copy Error",
    ),
    ("Unpaused", "Migrated", "Snapshot", "Post-copy", "Post-copy Error"),
    ("Shutdown", "Destroyed", "Crashed", "Migrated", "Saved", "Failed", "Snapshot"),
    ("Finished", "Finished after guest request", "Finished after host request"),
    ("Memory", "Disk"),
    ("Panicked", "Crashloaded"),
)


def format_event(name: str, domain: str, event_id: int, payload: tuple[Any, ...]) -> str:
    """One event line as virsh prints it (lifecycle in full, the others generically)."""
    if event_id == 0 and len(payload) >= 2:
        event, detail = int(payload[0]), int(payload[1])
        ev = LIFECYCLE_EVENTS[event] if 0 <= event < len(LIFECYCLE_EVENTS) else "unknown"
        details = LIFECYCLE_DETAILS[event] if 0 <= event < len(LIFECYCLE_DETAILS) else ()
        det = details[detail] if 0 <= detail < len(details) else "unknown"
        return f"event 'lifecycle' for domain '{domain}': {ev} {det}\n"
    if event_id == 2 and payload:
        return f"event 'rtc-change' for domain '{domain}': {int(payload[0])}\n"
    return f"event '{name}' for domain '{domain}'\n"


def cmd_event(ctl: Ctl, cmd: Cmd) -> bool:
    import threading
    import time

    exclusive(ctl, cmd, "all", "event")
    exclusive(ctl, cmd, "list", "all")
    exclusive(ctl, cmd, "list", "event")
    if cmd.flag("list"):
        ctl.print("".join(f"{name}\n" for name in EVENT_NAMES))
        return True
    wanted = ctl.opt_string(cmd, "event")
    if not wanted and not cmd.flag("all"):
        ctl.error("one of --list, --all, or --event <type> is required")
        return False
    ids = [i for i, n in enumerate(EVENT_NAMES) if wanted is None or n == wanted]
    if not ids:
        ctl.error(f"unknown event type {wanted}")
        return False
    timeout = ctl.opt_int(cmd, "timeout", lo=0, hi=2**32 - 1)
    if timeout is not None and timeout <= 0:
        ctl.error(
            f"Numeric value '{cmd.raw('timeout')}' for <timeout> option is malformed or "
            "out of range"
        )
        return False
    dom = find_domain(ctl, ctl.opt_required(cmd, "domain")) if cmd.has("domain") else None
    loop, stamp = cmd.flag("loop"), cmd.flag("timestamp")
    count = 0
    done = threading.Event()
    lock = threading.Lock()

    def callback(domain: Any, event_id: int, *payload: Any) -> None:
        nonlocal count
        with lock:
            if not loop and count:
                return
            line = format_event(EVENT_NAMES[event_id], domain.name, event_id, payload)
            if stamp:
                now = time.time()
                line = (
                    time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
                    + f".{int(now * 1000) % 1000:03d}+0000: "
                    + line
                )
            ctl.print(line)
            ctl.out.flush()
            count += 1
            if not loop:
                done.set()

    handles = []
    try:
        for index, event_id in enumerate(ids):
            try:
                handles.append(ctl.conn.on_domain_event(callback, event_id, dom))
            except Exception:
                if index == 0:
                    raise
        try:
            finished = done.wait(timeout if timeout is not None else None)
        except KeyboardInterrupt:
            ctl.print("event loop interrupted\n")
        else:
            if not finished:
                ctl.print("event loop timed out\n")
    finally:
        for handle in handles:
            handle.cancel()
    ctl.print(f"events received: {count}\n")
    return count > 0


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, kw, _, cmds in GROUPS if kw == "events"),
    {"event": cmd_event},
)
