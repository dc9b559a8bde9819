"""A guided session on virtkit's test:///default node (`make demo`).

Drives the in-memory test node through a realistic session with the Python API
(list, define from XML, start, suspend, resume, domain stats, shutdown, undefine),
printing each domain event as it arrives, then runs the same kind of commands
through the `virtkit` CLI. Exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import virtkit
from virtkit import constants as C
from virtkit.errors import VirtError

URI = "test:///default"
NAME = "demo-web"
DOMAIN_XML = f"""\
<domain type='test'>
  <name>{NAME}</name>
  <memory unit='MiB'>512</memory>
  <currentMemory unit='MiB'>512</currentMemory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/virtkit/images/{NAME}.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <source network='default'/>
      <mac address='52:54:00:12:34:56'/>
    </interface>
  </devices>
</domain>
"""

# event type -> the enum naming its detail codes
DETAILS: dict[int, type[Any]] = {
    C.DomainEventType.DEFINED: C.DomainEventDefinedDetailType,
    C.DomainEventType.UNDEFINED: C.DomainEventUndefinedDetailType,
    C.DomainEventType.STARTED: C.DomainEventStartedDetailType,
    C.DomainEventType.SUSPENDED: C.DomainEventSuspendedDetailType,
    C.DomainEventType.RESUMED: C.DomainEventResumedDetailType,
    C.DomainEventType.STOPPED: C.DomainEventStoppedDetailType,
    C.DomainEventType.SHUTDOWN: C.DomainEventShutdownDetailType,
    C.DomainEventType.PMSUSPENDED: C.DomainEventPMSuspendedDetailType,
    C.DomainEventType.CRASHED: C.DomainEventCrashedDetailType,
}


class DemoFailure(Exception):
    """Something the demo expected did not happen."""


def event_name(event: int, detail: int) -> str:
    """'STARTED/BOOTED' for (2, 0)."""
    ev = C.DomainEventType(event)
    try:
        det = DETAILS[ev](detail).name
    except (KeyError, ValueError):
        det = str(detail)
    return f"{ev.name}/{det}"


class EventLog:
    """Prints lifecycle events as the callback receives them and remembers them."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, dom: Any, _event_id: int, event: int, detail: int, *_: Any) -> None:
        name = event_name(event, detail)
        self.seen.append((dom.name, name))
        print(f"    event: {dom.name}: {name}")

    def expect(self, domain: str, name: str, timeout: float = 5.0) -> None:
        """Wait until `domain` has emitted event `name` (e.g. 'STARTED/BOOTED')."""
        deadline = time.monotonic() + timeout
        while (domain, name) not in self.seen:
            if time.monotonic() > deadline:
                raise DemoFailure(f"no {name} event for {domain} (saw {self.seen})")
            time.sleep(0.01)
        self.seen.remove((domain, name))


def step(title: str) -> None:
    print(f"\n== {title}")


def show_domains(conn: Any) -> None:
    print(f"    {'Id':>4}  {'Name':<16} State")
    for dom in sorted(conn.list_domains(), key=lambda d: d.name):
        ident = str(dom.id) if dom.id >= 0 else "-"
        print(f"    {ident:>4}  {dom.name:<16} {dom.state.name.lower()}")


def check_state(dom: Any, want: C.DomainState) -> None:
    got = dom.state
    print(f"    {dom.name} is {got.name.lower()}")
    if got != want:
        raise DemoFailure(f"{dom.name}: expected state {want.name}, got {got.name}")


def api_session(uri: str) -> None:
    step(f"Python API: virtkit.open({uri!r})")
    with virtkit.open(uri) as conn:
        info = conn.node_info()
        print(f"    connected to {conn.uri}: {info.cpus} CPUs, {info.memory // 1024} MiB")
        events = EventLog()
        handle = conn.on_domain_event(events, C.DomainEventID.LIFECYCLE)

        step("list all domains")
        show_domains(conn)

        step(f"define {NAME} from XML")
        dom = conn.define_domain(DOMAIN_XML)
        events.expect(NAME, "DEFINED/ADDED")
        print(f"    defined {dom.name} uuid={dom.uuid} persistent={dom.is_persistent()}")
        check_state(dom, C.DomainState.SHUTOFF)

        step(f"start {NAME}")
        dom.start()
        events.expect(NAME, "STARTED/BOOTED")
        check_state(dom, C.DomainState.RUNNING)
        print(f"    id={dom.id}")

        step(f"suspend {NAME}")
        dom.suspend()
        events.expect(NAME, "SUSPENDED/PAUSED")
        check_state(dom, C.DomainState.PAUSED)

        step(f"resume {NAME}")
        dom.resume()
        events.expect(NAME, "RESUMED/UNPAUSED")
        check_state(dom, C.DomainState.RUNNING)

        step(f"domstats {NAME}")
        stats = dom.stats()
        if not stats:
            raise DemoFailure("domain stats are empty")
        for key, value in list(stats.items())[:12]:
            print(f"    {key}={value}")
        if len(stats) > 12:
            print(f"    ... {len(stats) - 12} more")
        reason = C.DomainRunningReason(int(stats["state.reason"])).name
        print(f"    (running, reason {reason})")
        dinfo = dom.info()
        print(f"    info: {dinfo.nr_virt_cpu} vCPUs, {dinfo.memory // 1024} MiB")

        step("list running domains")
        show_domains(conn)

        step(f"shutdown {NAME}")
        dom.shutdown()
        events.expect(NAME, "STOPPED/SHUTDOWN")
        check_state(dom, C.DomainState.SHUTOFF)

        step(f"undefine {NAME}")
        dom.undefine()
        events.expect(NAME, "UNDEFINED/REMOVED")
        names = [d.name for d in conn.list_domains()]
        if NAME in names:
            raise DemoFailure(f"{NAME} still listed after undefine: {names}")
        print(f"    {NAME} is gone; remaining: {', '.join(sorted(names))}")
        handle.cancel()


def virtkit_cli() -> str:
    beside = Path(sys.executable).parent / "virtkit"
    found = str(beside) if beside.exists() else shutil.which("virtkit")
    if found is None:
        raise DemoFailure("the virtkit CLI is not installed (run `make venv`)")
    return found


def cli_session(uri: str) -> None:
    cli = virtkit_cli()
    commands: list[tuple[list[str], Callable[[str], bool]]] = [
        (["list", "--all"], lambda out: "test" in out),
        (["dominfo", "test"], lambda out: "running" in out),
        (["domstate", "test"], lambda out: "running" in out),
        (["nodeinfo"], lambda out: "CPU" in out),
    ]
    for argv, ok in commands:
        full = ["virtkit", "-c", uri, *argv]
        step("CLI: " + " ".join(full))
        proc = subprocess.run([cli, "-c", uri, *argv], capture_output=True, text=True, check=False)
        for line in proc.stdout.rstrip().splitlines():
            print(f"    {line}")
        if proc.returncode != 0 or not ok(proc.stdout):
            raise DemoFailure(
                f"`{' '.join(full)}` failed (status {proc.returncode}): {proc.stderr.strip()}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--connect", default=URI, help=f"node URI (default {URI})")
    uri = parser.parse_args(argv).connect
    try:
        api_session(uri)
        cli_session(uri)
    except (DemoFailure, VirtError, OSError) as exc:
        print(f"\ndemo FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("\ndemo finished: every step succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
