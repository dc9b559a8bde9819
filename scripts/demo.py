"""A guided session with a real virtual machine, then the test node (`make demo`).

First the QEMU driver, embedded (``qemu:///embed?root=DIR``: no daemon needed):
build the test guest from Debian packages (cached), define it, boot it under TCG,
show its console output as it boots, its info and stats, suspend and resume it,
shut it down with the ACPI power button and undefine it, printing each lifecycle
event as it arrives. Then the in-memory test driver through the same steps and
the `virtkit` CLI. Exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
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


def demo_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "virtkit", "demo-root")


def load_guest_builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "virtkit_demo_test_guest", Path(__file__).with_name("test_guest.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def guest_xml(guest: Any, name: str, console_log: str) -> str:
    return f"""\
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{guest.kernel}</kernel>
    <initrd>{guest.initrd}</initrd>
    <cmdline>{guest.cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <serial type='pty'><log file='{console_log}'/></serial>
    <console type='pty'/>
    <interface type='user'><model type='virtio'/></interface>
  </devices>
</domain>
"""


def qemu_session(uri: str, root: str) -> None:
    step("build (or reuse) the test guest: Debian's cloud kernel + a busybox initramfs")
    builder = load_guest_builder()
    guest = builder.ensure_guest()
    print(f"    kernel {guest.kernel}\n    initrd {guest.initrd}")
    name = "demo-vm"
    console_log = os.path.join(root, f"{name}-console.log")
    step(f"Python API: virtkit.open({uri!r})")
    with virtkit.open(uri) as conn:
        print(f"    connected: {conn.type} {conn.version}, {conn.node_info().cpus} host CPUs")
        events = EventLog()
        handle = conn.on_domain_event(events, C.DomainEventID.LIFECYCLE)
        for old in conn.list_domains():
            if old.name == name:  # left over from an interrupted run
                if old.is_active():
                    old.destroy()
                old.undefine()

        step(f"define {name} (TCG, q35, 256 MiB, user-mode network)")
        dom = conn.define_domain(guest_xml(guest, name, console_log))
        events.expect(name, "DEFINED/ADDED")

        step(f"start {name} and watch its console")
        started = time.monotonic()
        dom.start()
        events.expect(name, "STARTED/BOOTED")
        print(f"    start() returned after {time.monotonic() - started:.3f} s, id={dom.id}")
        console = dom.open_console()
        seen, pending = b"", b""
        deadline = time.monotonic() + 60
        while builder.Guest.READY_MARKER.encode() not in seen:
            if time.monotonic() > deadline:
                raise DemoFailure(f"no boot marker on the console within 60 s: {seen[-400:]!r}")
            chunk = console.recv()
            seen += chunk
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace").strip()
                if text:
                    print(f"    console| {text}")
        if pending.strip():
            print(f"    console| {pending.decode(errors='replace').strip()}")
        print(f"    booted: marker seen {time.monotonic() - started:.2f} s after start()")
        console.abort()

        step(f"dominfo and domstats {name}")
        info = dom.info()
        print(f"    state={dom.state.name.lower()} vcpus={info.nr_virt_cpu} "
              f"memory={info.memory // 1024} MiB cpu_time={info.cpu_time / 1e9:.2f} s")
        for key, value in dom.stats().items():
            print(f"    {key}={value}")

        step(f"suspend and resume {name}")
        dom.suspend()
        events.expect(name, "SUSPENDED/PAUSED")
        check_state(dom, C.DomainState.PAUSED)
        dom.resume()
        events.expect(name, "RESUMED/UNPAUSED")
        check_state(dom, C.DomainState.RUNNING)

        step(f"shutdown {name} (ACPI power button; the guest's acpid powers it off)")
        dom.shutdown()
        events.expect(name, "SHUTDOWN/GUEST", timeout=30)
        events.expect(name, "STOPPED/SHUTDOWN", timeout=30)
        check_state(dom, C.DomainState.SHUTOFF)

        step(f"undefine {name}")
        dom.undefine()
        events.expect(name, "UNDEFINED/REMOVED")
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
    parser.add_argument("--root", default=demo_root(),
                        help="state directory of the embedded QEMU driver (default %(default)s)")
    parser.add_argument("--no-qemu", action="store_true", help="skip the real-VM part")
    parser.add_argument("-c", "--connect", default=URI,
                        help=f"node URI for the second part (default {URI})")
    args = parser.parse_args(argv)
    try:
        if not args.no_qemu:
            qemu_session(f"qemu:///embed?root={args.root}", args.root)
        api_session(args.connect)
        cli_session(args.connect)
    except (DemoFailure, VirtError, OSError) as exc:
        print(f"\ndemo FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("\ndemo finished: every step succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
