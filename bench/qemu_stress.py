"""One QEMU node under concurrent calls while one guest and one event callback are slow.

    python bench/qemu_stress.py [--guests 40] [--running 8] [--threads 4] [--rounds 3]
    PYTHONPATH=/tmp/before/src python bench/qemu_stress.py   # the same on other code

On one ``qemu:///embed?root=DIR`` node: GUESTS defined domains, RUNNING of them
running the test guest (scripts/test_guest.py, TCG). One running guest ("slow")
has its QMP event handling held on purpose (its ``_on_event`` waits on an Event
while holding the lock that event handling takes),
and a second connection registers a lifecycle callback that waits on the same
Event. A call holding the slow guest's job (``suspend``: it waits for the STOP
event the held handler never finishes) is under way; then THREADS threads call,
on the other guests: getInfo, getState, XMLDesc, listAllDomains, the domain stats
of all guests, and suspend+resume pairs on the running ones; finally a call that
needs the slow guest's job (``resume``) is made with a short JOB_WAIT_TIME.

Printed: the median and worst latency of the other guests' calls, how many failed,
whether they all finished while the slow handler was still held, and how the call
on the busy guest ended. On code where one slow handler stalls the node, the hold
ends after ``--hold-max`` seconds so that the run finishes (tests/drivers/qemu/
test_qemu_stress.py runs the same scenario with no such release and asserts).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import statistics
import sys
import tempfile
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import virtkit
from virtkit.errors import VirtError

REPO = Path(__file__).resolve().parents[1]
HANG_GUARD = 300.0  # no wait in the scenario is longer than this


def load_test_guest() -> ModuleType:
    """scripts/test_guest.py (builds the kernel + initramfs the guests boot)."""
    name = "virtkit_test_guest_stress"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "test_guest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def domain_xml(guest: Any, root: Path, name: str) -> str:
    """A TCG guest booting the test guest (no disk, user networking, serial logged)."""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuidlib.uuid4()}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{guest.kernel}</kernel>
    <initrd>{guest.initrd}</initrd>
    <cmdline>{guest.cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <serial type='pty'><log file='{root / (name + ".console")}'/></serial>
    <console type='pty'/>
  </devices>
</domain>
"""


@dataclasses.dataclass
class Result:
    """What one run measured."""

    latencies: dict[str, list[float]]  # call kind -> seconds, the other guests' calls (all)
    failures: list[str]  # the other guests' calls that raised
    others_done_while_held: bool  # every other call ended while the slow handler was held
    handler_entered: bool  # the slow guest's handler was reached (and held)
    callback_entered: bool  # the slow callback was reached (and held)
    busy_error: VirtError | None  # what the call needing the slow guest's job raised
    busy_seconds: float  # how long that call took
    slow_suspend_error: VirtError | None  # the suspend that held the job, once released
    slow_state: int  # the slow guest's state at the end

    @property
    def all_latencies(self) -> list[float]:
        return [x for xs in self.latencies.values() for x in xs]

    def summary(self, label: str) -> str:
        lat = sorted(self.all_latencies)
        med = statistics.median(lat) if lat else float("nan")
        worst = lat[-1] if lat else float("nan")
        lines = [f"{label}: {len(lat)} calls on the other guests, median {med * 1000:.1f} ms, "
                 f"worst {worst * 1000:.1f} ms, {len(self.failures)} failed; all done while "
                 f"the slow handler was held: {self.others_done_while_held}"]
        for kind, xs in sorted(self.latencies.items()):
            xs = sorted(xs)
            lines.append(f"  {kind:<18} n={len(xs):<4} median {statistics.median(xs) * 1000:8.1f}"
                         f" ms  worst {xs[-1] * 1000:8.1f} ms")
        busy = (f"{self.busy_error.code} {self.busy_error.message!r}"
                if self.busy_error is not None else "no error")
        lines.append(f"  call on the busy guest: {busy} after {self.busy_seconds:.2f} s")
        for f in self.failures[:5]:
            lines.append(f"  failed: {f}")
        return "\n".join(lines)


@contextlib.contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def run(root: Path, guest: Any, *, guests: int = 40, running: int = 8, threads: int = 4,
        rounds: int = 3, job_wait: float = 1.0, state_wait: float = HANG_GUARD,
        hold_max: float | None = None, log: Callable[[str], None] = lambda s: None) -> Result:
    """The scenario; ``hold_max`` releases the held handler and callback after that many
    seconds (None: only once the other calls ended: the test's setting)."""
    from virtkit.drivers import domainjob
    from virtkit.drivers.qemu import node as qnode

    conn = virtkit.open(f"qemu:///embed?root={root}")
    listener = virtkit.open(f"qemu:///embed?root={root}")
    hypervisor: Any = conn.tables.hypervisor  # the QEMU driver: its node is what is stressed
    node = hypervisor._node
    names = [f"g{i:02d}" for i in range(guests)]
    doms = {n: conn.define_domain(domain_xml(guest, root, n)) for n in names}
    slow_name = names[0]
    run_names = names[:running]
    t0 = time.monotonic()
    for n in run_names:
        doms[n].start()
    log(f"{guests} defined, {running} started in {time.monotonic() - t0:.1f} s")

    hold = threading.Event()
    handler_entered = threading.Event()
    callback_entered = threading.Event()
    slow_dom = node.by_name[slow_name]
    on_event = node._on_event

    def slow_on_event(dom: Any, name: str, data: dict[str, Any]) -> None:
        if dom is slow_dom and name == "STOP":
            # held inside the lock the event handling takes: the domain's own lock, or
            # (on code that has none) the node's
            with getattr(dom, "lock", None) or node.lock:
                handler_entered.set()
                hold.wait(HANG_GUARD)
                on_event(dom, name, data)
            return
        on_event(dom, name, data)

    def slow_callback(*_args: Any) -> None:
        callback_entered.set()
        hold.wait(HANG_GUARD)

    listener.on_domain_event(slow_callback)
    release_timer = None
    if hold_max is not None:
        release_timer = threading.Timer(hold_max, hold.set)
        release_timer.daemon = True
        release_timer.start()

    latencies: dict[str, list[float]] = {}
    failures: list[str] = []
    record_lock = threading.Lock()
    slow_result: list[VirtError | None] = []

    def timed(kind: str, fn: Callable[[], object]) -> None:
        start = time.monotonic()
        try:
            fn()
        except VirtError as exc:
            with record_lock:
                failures.append(f"{kind}: {exc.code} {exc.message}")
        with record_lock:  # failed calls count too: their time is what a caller waited
            latencies.setdefault(kind, []).append(time.monotonic() - start)

    def slow_suspend() -> None:
        try:
            doms[slow_name].suspend()
            slow_result.append(None)
        except VirtError as exc:
            slow_result.append(exc)

    with patched(node, "_on_event", slow_on_event), \
            patched(domainjob, "JOB_WAIT_TIME", job_wait), \
            patched(qnode, "STATE_WAIT_TIME", state_wait):
        holder = threading.Thread(target=slow_suspend, name="stress-slow-suspend", daemon=True)
        holder.start()
        handler_entered.wait(HANG_GUARD)

        def worker(k: int) -> None:
            others = [n for n in names if n != slow_name]
            mine = others[k::threads]
            for _ in range(rounds):
                for n in mine:
                    d = doms[n]
                    timed("getInfo", d.info)
                    timed("getState", d.state_reason)
                    timed("XMLDesc", d.xml)
                    if n in run_names:
                        timed("suspend", d.suspend)
                        timed("resume", d.resume)
                timed("listAllDomains", conn.list_domains)
                timed("domstats", conn.all_domain_stats)

        workers = [threading.Thread(target=worker, args=(k,), name=f"stress-worker-{k}",
                                    daemon=True) for k in range(threads)]
        t0 = time.monotonic()
        for w in workers:
            w.start()
        for w in workers:
            w.join(HANG_GUARD)
        others_done_while_held = not hold.is_set() and not any(w.is_alive() for w in workers)
        log(f"other guests' calls done in {time.monotonic() - t0:.1f} s")

        start = time.monotonic()
        busy_error: VirtError | None = None
        try:
            doms[slow_name].resume()
        except VirtError as exc:
            busy_error = exc
        busy_seconds = time.monotonic() - start

        hold.set()
        holder.join(HANG_GUARD)
    if release_timer is not None:
        release_timer.cancel()
    slow_state = int(doms[slow_name].state_reason()[0])
    for n in run_names:
        with contextlib.suppress(VirtError):
            doms[n].destroy()
    listener.close()
    conn.close()
    return Result(latencies, failures, others_done_while_held, handler_entered.is_set(),
                  callback_entered.is_set(), busy_error, busy_seconds,
                  slow_result[0] if slow_result else None, slow_state)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--guests", type=int, default=40)
    ap.add_argument("--running", type=int, default=8)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hold-max", type=float, default=20.0,
                    help="release the held handler/callback after this many seconds")
    ap.add_argument("--state-wait", type=float, default=60.0,
                    help="qemu.node.STATE_WAIT_TIME for the run (the driver's is 5 s; longer "
                    "here, so that the held guest's own suspend keeps its job throughout)")
    ap.add_argument("--label", default=virtkit.__file__)
    args = ap.parse_args()
    guest = load_test_guest().ensure_guest()
    with tempfile.TemporaryDirectory(prefix="vks-", dir="/tmp") as tmp:
        result = run(Path(tmp), guest, guests=args.guests, running=args.running,
                     threads=args.threads, rounds=args.rounds, hold_max=args.hold_max,
                     state_wait=args.state_wait, log=print)
    print(result.summary(args.label))


if __name__ == "__main__":
    main()
