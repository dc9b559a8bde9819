"""SIGKILL of the driver's process in the middle of operations on running guests.

A child process holds ``qemu:///embed?root=DIR`` (the node code virtkitd runs, and the same
re-attach on open as a daemon restart), is given one operation (start, destroy, suspend,
resume, save, managed save, restore, snapshot, hot-plug) and is SIGKILLed after a random
delay from a seeded RNG (the seed is printed; ``VIRTKIT_CRASH_SEED`` repeats a run,
``VIRTKIT_CRASH_KILLS`` sets the number of kills). The next child re-attaches and reports
every domain; after each restart: exactly one QEMU per active domain (found through
``/proc``, by the ``-uuid`` on its command line), none for the others and none for no
domain, and each state one that the interrupted operation allows. A few guests are reused
across iterations; at the end no QEMU is left.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid as uuidlib
from collections import Counter
from typing import Any

import pytest
from qemu_e2e import QemuRoot, domain_xml, kill_pid, qemu_pids, wait_gone

from virtkit.constants import DomainPausedReason, DomainState

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("VIRTKIT_CRASH_KILLS", "50"))
GUESTS = ("c1", "c2")
RUNNING, PAUSED, SHUTOFF = DomainState.RUNNING, DomainState.PAUSED, DomainState.SHUTOFF
ACTIVE = (RUNNING, PAUSED)
HOT_DISK = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            "<source file='{path}'/><target dev='vdb' bus='virtio'/></disk>")
EXTRA = ("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
         "<controller type='pci' model='pcie-root-port'/>")  # a free slot for the hot-plug
CORE_OPS = ("start", "restore", "destroy", "suspend", "resume")
# The longest delay before the kill, per operation: about what it takes here (TCG, 2 CPUs),
# so that most kills land inside it.
MAX_DELAY = {"start": 0.5, "restore": 0.6, "save": 0.9, "managedsave": 0.9, "snapshot": 0.4,
             "destroy": 0.06, "suspend": 0.05, "resume": 0.05, "attach": 0.12, "detach": 0.12}

# The child: open the root (re-attaching), report every domain, then run one operation.
CHILD = r"""
import json, sys, time
import virtkit
from virtkit.errors import VirtError

conn = virtkit.open(sys.argv[1])

def report():
    out = {}
    for d in conn.list_domains():
        state, reason = d.state_reason()
        out[d.name] = [int(state), int(reason), d.has_managed_save(), d.xml().count("vdb")]
    return out

def run(op, name, arg):
    if op == "define":
        for xml in arg:
            conn.define_domain(xml)
        return
    if op == "destroy_all":
        for dom in conn.list_domains():
            if dom.is_active():
                dom.destroy()
        return
    dom = conn.lookup_domain(name)
    if op == "start":
        dom.start()
    elif op == "destroy":
        dom.destroy()
    elif op == "suspend":
        dom.suspend()
    elif op == "resume":
        dom.resume()
    elif op == "save":
        dom.save(arg)
    elif op == "managedsave":
        dom.managed_save()
    elif op == "restore":
        conn.restore_domain(arg)
    elif op == "snapshot":
        snap = dom.create_snapshot(f"<domainsnapshot><name>{arg}</name></domainsnapshot>")
        snap.delete()
    elif op == "attach":
        dom.attach_device(arg, 1)
    elif op == "detach":
        dom.detach_device(arg, 1)

print(json.dumps(report()), flush=True)
req = json.loads(sys.stdin.readline())
t0 = time.monotonic()
try:
    run(req["op"], req["name"], req.get("arg"))
    print(json.dumps({"ok": req["op"], "s": round(time.monotonic() - t0, 3)}), flush=True)
except VirtError as exc:
    print(json.dumps({"error": str(exc)}), flush=True)
sys.stdin.readline()  # wait for the kill
"""

# What the interrupted operation may leave, from the state before it (running or paused).
AFTER = {
    "start": {SHUTOFF: {SHUTOFF, RUNNING}},
    "restore": {SHUTOFF: {SHUTOFF, RUNNING}},
    "destroy": {RUNNING: {RUNNING, SHUTOFF}, PAUSED: {PAUSED, SHUTOFF}},
    "suspend": {RUNNING: {RUNNING, PAUSED}},
    "resume": {PAUSED: {PAUSED, RUNNING}},
    "save": {RUNNING: {RUNNING, SHUTOFF}, PAUSED: {PAUSED, SHUTOFF}},
    "managedsave": {RUNNING: {RUNNING, SHUTOFF}, PAUSED: {PAUSED, SHUTOFF}},
    "snapshot": {RUNNING: {RUNNING}, PAUSED: {PAUSED}},
    "attach": {RUNNING: {RUNNING}},
    "detach": {RUNNING: {RUNNING}},
}


class Loop:
    """The guests, the child in charge, and what each kill left."""

    def __init__(self, root: QemuRoot, guest: Any, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.uuids: dict[str, str] = {}
        # guests whose save file holds a complete image: their state when it was saved
        self.saved: dict[str, int] = {}
        self.child: subprocess.Popen[str] | None = None
        self.stats: Counter[str] = Counter()
        self.errors: list[tuple[str, str, str]] = []  # (guest, operation, error)
        self.took: dict[str, list[float]] = {}  # seconds of the operations that finished
        self.last = ""  # what the last child answered before it was killed
        xmls = []
        for name in GUESTS:
            self.uuids[name] = str(uuidlib.uuid4())
            disk = guest.copy_disk(root.path / f"{name}.qcow2")
            xmls.append(domain_xml(guest, root.path, name, disk=disk, memory_mib=192,
                                   extra_devices=EXTRA, uuid=self.uuids[name]))
        self.once("define", "", xmls)
        for name in GUESTS:
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", self.hot_disk(name),
                            "16M"], check=True)

    def once(self, op: str, name: str, arg: Any) -> None:
        """Run one operation in a child (never in this process: its node would go stale)."""
        self.spawn()
        self.send(op, name, arg)
        assert self.child is not None and self.child.stdout is not None
        answer = json.loads(self.child.stdout.readline())
        self.kill()
        assert answer.get("ok") == op, answer

    def send(self, op: str, name: str, arg: Any) -> None:
        assert self.child is not None and self.child.stdin is not None
        self.child.stdin.write(json.dumps({"op": op, "name": name, "arg": arg}) + "\n")
        self.child.stdin.flush()

    def hot_disk(self, name: str) -> str:
        return str(self.root.path / f"{name}-hot.qcow2")

    def save_file(self, name: str) -> str:
        return str(self.root.path / f"{name}.save")

    def spawn(self) -> dict[str, list[Any]]:
        """A new child: it re-attaches and reports every domain."""
        self.child = subprocess.Popen([sys.executable, "-c", CHILD, self.root.uri],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.child.stdout is not None
        line = self.child.stdout.readline()
        assert line, f"the child died while opening {self.root.uri}"
        report: dict[str, list[Any]] = json.loads(line)
        return report

    def kill(self) -> str:
        """SIGKILL the child (ours, not yet reaped: its pid cannot be reused); its last word."""
        child = self.child
        assert child is not None and child.stdout is not None and child.stdin is not None
        child.kill()
        child.wait()
        last = child.stdout.read().strip()
        child.stdin.close()
        child.stdout.close()
        self.child = None
        return last

    def choose(self, report: dict[str, list[Any]]) -> tuple[str, str, str | None]:
        """A random operation that the chosen guest's state allows."""
        name = self.rng.choice(GUESTS)
        state, _reason, _managed, hot = report[name]
        if state == SHUTOFF:
            ops = ["start", "start", "restore"] if name in self.saved else ["start"]
        elif state == RUNNING:
            ops = ["destroy", "suspend", "save", "managedsave", "snapshot",
                   "detach" if hot else "attach"]
        else:  # (no snapshot: QEMU refuses one of a guest restored paused, never continued)
            ops = ["resume", "destroy", "save"]
        op = self.rng.choice(ops)
        arg: str | None = None
        if op in ("save", "restore"):
            arg = self.save_file(name)
        elif op == "snapshot":
            arg = f"s{self.stats['kills']}"
        elif op in ("attach", "detach"):
            arg = HOT_DISK.format(path=self.hot_disk(name))
        return name, op, arg

    def check(self, before: dict[str, list[Any]] | None, op: tuple[str, str, str | None] | None,
              report: dict[str, list[Any]]) -> None:
        """One QEMU per active domain, none for the others; states the operation allows."""
        for name, uuid in self.uuids.items():
            state = report[name][0]
            pids = qemu_pids(uuid)
            want = 1 if state in ACTIVE else 0
            assert len(pids) == want, f"{name} is {state!r} with QEMU {pids} ({op})"
            if before is None or op is None:
                continue
            old = before[name][0]
            allowed = AFTER[op[1]].get(old, {old}) if op[0] == name else {old}
            if op[0] == name and op[1] == "restore" and self.saved.get(name) == PAUSED:
                allowed = {SHUTOFF, PAUSED}  # the image was saved paused
            elif op[0] == name and op[1] == "start" and before[name][2]:
                allowed = {SHUTOFF, RUNNING, PAUSED}  # from a managed-save image
            elif (op[0] == name and op[1] in ("save", "managedsave", "snapshot")
                  and old == PAUSED and before[name][1] == DomainPausedReason.UNKNOWN):
                # libvirt's qemuProcessRecoverJob resumes a guest paused for an unknown
                # reason (as a re-attach finds one a kill left paused) after its
                # interrupted job: so does virtkit
                allowed = allowed | {RUNNING}
            assert state in allowed, f"{name}: {old!r} -> {state!r} after {op}"
        assert len(qemu_pids(str(self.root.path))) == sum(
            1 for r in report.values() if r[0] in ACTIVE), "a QEMU of no domain"

    def note(self, op: tuple[str, str, str | None], before: dict[str, list[Any]],
             report: dict[str, list[Any]], last: str) -> None:
        """What the kill interrupted; which save files are complete images."""
        name, kind, _arg = op
        self.stats["kills"] += 1
        self.stats[f"{kind}:{'done' if last else 'cut'}"] += 1
        answer = json.loads(last) if last else {}
        if "error" in answer:
            self.errors.append((name, kind, answer["error"]))
        elif answer:
            self.took.setdefault(kind, []).append(answer["s"])
        if kind == "save":
            if report[name][0] == SHUTOFF:
                self.saved[name] = before[name][0]
            else:
                self.saved.pop(name, None)

    def run(self, kills: int) -> None:
        before: dict[str, list[Any]] | None = None
        op: tuple[str, str, str | None] | None = None
        for _ in range(kills):
            report = self.spawn()
            self.check(before, op, report)
            if op is not None and before is not None:
                self.note(op, before, report, self.last)
            op = self.choose(report)
            delay = self.rng.uniform(0.0, MAX_DELAY[op[1]])
            print(f"kill {self.stats['kills'] + 1}: {op[1]} of {op[0]} after {delay:.3f} s")
            self.send(op[1], op[0], op[2])
            time.sleep(delay)
            self.last = self.kill()
            before = report
        report = self.spawn()
        self.check(before, op, report)
        assert op is not None and before is not None
        self.note(op, before, report, self.last)
        self.kill()


@pytest.fixture
def loop_root(qroot: QemuRoot) -> Any:
    yield qroot
    for pid in qemu_pids(str(qroot.path)):  # a failed check leaves guests: not for long
        kill_pid(pid)
        wait_gone(pid)


def test_sigkill_during_operations_leaves_one_qemu_per_running_guest(
        loop_root: QemuRoot, guest: Any) -> None:
    seed = int(os.environ.get("VIRTKIT_CRASH_SEED") or random.SystemRandom().randrange(1 << 31))
    print(f"\ncrash loop: seed {seed} (VIRTKIT_CRASH_SEED={seed} repeats it), {KILLS} kills")
    loop = Loop(loop_root, guest, seed)
    t0 = time.monotonic()
    try:
        loop.run(KILLS)
    finally:
        if loop.child is not None:
            loop.kill()
        print(f"crash loop: {loop.stats['kills']} kills in {time.monotonic() - t0:.0f} s: "
              f"{dict(sorted(loop.stats.items()))}")
        print(f"  finished operations took: { {k: max(v) for k, v in loop.took.items()} }")
        for name, kind, err in loop.errors:
            print(f"  {kind} of {name} failed: {err}")
    # After any crash these must work: a failure means the recovery left something behind.
    core = [e for e in loop.errors if e[1] in CORE_OPS]
    assert not core, core
    loop.once("destroy_all", "", None)
    assert qemu_pids(str(loop_root.path)) == []
    assert loop.stats["kills"] >= KILLS
