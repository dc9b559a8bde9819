"""QEMU driver figures: virtkitd against Debian's libvirtd (QEMU driver) and bare QEMU.

    python bench/run.py --qemu [--qemu-samples N] [--qemu-parallel-samples N]
                               [--qemu-guests N] [--json FILE] [--check]
    python bench/qemu_bench.py [same options]

Systems, measured side by side in one run, interleaved run by run (a warm-up
round first, discarded; then rounds alternating direction: A B C D, D C B A, ...):

- ``virtkit``: libvirt-python (Debian's /usr/bin/python3 worker, qemu_worker.py)
  against virtkitd's ``qemu:///system``;
- ``virtkit_client``: virtkit's own client, in this process, against the same virtkitd;
- ``libvirt``: libvirt-python (the same worker) against Debian's libvirtd with its
  QEMU driver (qemu_peers.py: private mount namespace, under a subreaper);
- ``bare``: qemu-system-x86_64 started here with subprocess, with the argument
  vector virtkit's command builder makes for the same XML (without ``-S``: nobody
  sends ``cont``).

The guest is scripts/test_guest.py's kernel + initramfs under TCG; every system logs
the guest's serial port to a file (``<serial><log file=.../>`` / ``logfile=``) and
the caller polls that file for the boot marker (qemu_worker.wait_markers, 1 ms).

Figures: (1) create call -> boot marker; (2) create call -> return; (3) destroy call
-> return, and -> QEMU exited; (4) N guests at once: N threads, one connection each,
defineXML + create, time until every marker; (5) daemon VmRSS with those N guests
running. Goal (issue 4): virtkit's boot overhead over bare QEMU <= 100 ms and lower
than libvirt's.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import qemu_peers  # noqa: E402
import qemu_worker  # noqa: E402
from harness import SYSTEM_PYTHON, BenchError, WorkerSide  # noqa: E402

from virtkit.testing import terminate  # noqa: E402

SYSTEMS = ("virtkit", "virtkit_client", "libvirt", "bare")
DAEMON_OF = {"virtkit": "virtkitd", "virtkit_client": "virtkitd", "libvirt": "libvirtd"}
KEYS = ["qemu_boot", "qemu_create", "qemu_destroy", "qemu_parallel", "qemu_daemon_rss"]
OVERHEAD_GOAL_S = 0.100
BOOT_TIMEOUT_S = 120.0
EMULATOR = "/usr/bin/qemu-system-x86_64"


def load_test_guest() -> ModuleType:
    """scripts/test_guest.py, under a name no test module can shadow."""
    spec = importlib.util.spec_from_file_location(
        "virtkit_bench_test_guest", ROOT / "scripts" / "test_guest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (clock-tick resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


# --- the systems ------------------------------------------------------------------------


class QemuWorker(WorkerSide):
    """qemu_worker.py under Debian's interpreter (libvirt-python)."""

    def __init__(self) -> None:
        super().__init__("libvirt-python", [SYSTEM_PYTHON, str(BENCH_DIR / "qemu_worker.py")])

    def call(self, **req: Any) -> dict[str, Any]:
        return self._call(**req)


class Bare:
    """QEMU started by hand with virtkit's argument vector for the same XML."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._many: list[subprocess.Popen[bytes]] = []

    def argv(self, name: str, xml: str) -> list[str]:
        from virtkit.drivers.qemu import command
        from virtkit.drivers.qemu.defs import parse_def

        run_dir = self.workdir / name
        run_dir.mkdir(parents=True, exist_ok=True)
        ctx = command.CommandContext(
            emulator=EMULATOR,
            qmp_socket=str(run_dir / "monitor.sock"),
            pid_file=str(run_dir / "qemu.pid"),
            log_file=str(run_dir / "qemu.log"),
            runtime_dir=str(run_dir),
            kvm_available=os.access("/dev/kvm", os.R_OK | os.W_OK),
            start_paused=False,
        )
        return [EMULATOR, *command.build(parse_def(xml), ctx).argv]

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        with open(self.workdir / name / "qemu.log", "ab") as out:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    close_fds=True, start_new_session=True)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        terminate(proc)

    def qmp_start(self, name: str, xml: str) -> float:
        """The least a managed start can cost: QEMU with ``-S``, then over raw QMP the
        greeting, ``qmp_capabilities`` and ``cont``; seconds until ``cont`` is answered.
        (The guest is killed right away, no boot.)"""
        argv = self.argv(name, xml)
        argv.insert(1, "-S")
        sock_path = str(self.workdir / name / "monitor.sock")
        t0 = time.perf_counter()
        proc = self._spawn(argv, name)
        try:
            while True:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(sock_path)
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    s.close()
                    if proc.poll() is not None:
                        raise BenchError(f"bare QEMU exited with {proc.returncode}") from None
                    time.sleep(0.0005)
            with s, s.makefile("rwb") as f:
                f.readline()  # greeting
                for cmd in (b"qmp_capabilities", b"cont"):
                    f.write(b'{"execute": "' + cmd + b'"}\n')
                    f.flush()
                    while b'"return"' not in f.readline():  # events may come first
                        pass
            return time.perf_counter() - t0
        finally:
            proc.kill()
            proc.wait(10)

    def boot(self, name: str, xml: str, log: str, marker: str) -> dict[str, Any]:
        argv = self.argv(name, xml)
        clock = time.perf_counter
        t0 = clock()
        proc = self._spawn(argv, name)
        create_s = clock() - t0
        try:
            marker_s = qemu_worker.wait_markers([log], marker, t0, BOOT_TIMEOUT_S)
        finally:
            t1 = clock()
            self._kill(proc)
            gone_s = clock() - t1
        return {
            "create_s": create_s,
            "marker_s": marker_s[0],
            "destroy_s": gone_s,
            "gone_s": gone_s,
            "argv": argv,
        }

    def many_start(self, guests: Sequence[Sequence[str]], marker: str) -> dict[str, Any]:
        n = len(guests)
        argvs = [self.argv(g[0], g[1]) for g in guests]
        gate = threading.Barrier(n + 1)
        create_s = [0.0] * n
        procs: list[subprocess.Popen[bytes] | None] = [None] * n
        errors: list[str] = []
        t0_box = [0.0]

        def one(i: int) -> None:
            gate.wait()
            try:
                procs[i] = self._spawn(argvs[i], guests[i][0])
                create_s[i] = time.perf_counter() - t0_box[0]
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        t0_box[0] = time.perf_counter()
        gate.wait()
        try:
            marker_s = qemu_worker.wait_markers([g[2] for g in guests], marker, t0_box[0],
                                                BOOT_TIMEOUT_S,
                                                abort=lambda: errors[0] if errors else None)
        finally:
            for t in threads:
                t.join(BOOT_TIMEOUT_S)
            self._many = [p for p in procs if p is not None]
        return {"all_s": max(marker_s), "create_s": create_s, "marker_s": marker_s}

    def many_stop(self) -> None:
        for proc in self._many:
            self._kill(proc)
        self._many = []


class Bench:
    """Both daemons, both clients and bare QEMU, with their guests' files in one folder."""

    def __init__(self, workdir: Path, guest: Any) -> None:
        self.workdir = workdir
        self.guest = guest
        self.marker = guest.BOOT_MARKER
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.virtkitd: Any = None
        self.libvirtd: qemu_peers.LibvirtdQemu | None = None
        self.worker: QemuWorker | None = None
        self.vk_client: qemu_worker.Client | None = None
        self.bare = Bare(workdir / "bare")
        self.argvs: dict[str, list[str]] = {}

    # life cycle

    def start(self) -> None:
        from virtkit.testing.peers import start_virtkitd

        self.virtkitd = start_virtkitd(self.workdir / "virtkitd")
        self.libvirtd = qemu_peers.start_libvirtd_qemu(self.workdir / "libvirtd")
        self.worker = QemuWorker()
        self.vk_client = qemu_worker.Client(qemu_worker.VirtkitApi())

    def _close_client(self) -> None:
        if self.vk_client is not None:
            self.vk_client.close()

    def _close_worker(self) -> None:
        if self.worker is not None:
            self.worker.close()

    def stop(self) -> list[str]:
        """Stop everything started here; returns what went wrong on the way."""
        problems: list[str] = []
        steps: list[tuple[str, Callable[[], object]]] = [
            ("bare guests", self.bare.many_stop),
            ("virtkit client", self._close_client),
            ("worker", self._close_worker),
            ("virtkitd", lambda: self.virtkitd and self.virtkitd.stop()),
            ("libvirtd", lambda: self.libvirtd and self.libvirtd.stop()),
        ]
        for what, step in steps:
            try:
                step()
            except Exception as exc:
                problems.append(f"{what}: {type(exc).__name__}: {exc}")
        return problems

    @property
    def uris(self) -> dict[str, str]:
        assert self.virtkitd is not None and self.libvirtd is not None
        return {"virtkitd": self.virtkitd.uri("unix", "/system", "qemu"),
                "libvirtd": self.libvirtd.uri}

    def daemon_pids(self) -> dict[str, int]:
        assert self.virtkitd is not None and self.libvirtd is not None
        return {"virtkitd": self.virtkitd.pid, "libvirtd": self.libvirtd.pid}

    def guest_xml(self, name: str) -> tuple[str, str]:
        log = str(self.logs / f"{name}.log")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log)
        g = self.guest
        return qemu_worker.domain_xml(name, str(g.kernel), str(g.initrd), g.cmdline, log), log

    # one guest

    def boot(self, system: str, name: str) -> dict[str, Any]:
        xml, log = self.guest_xml(name)
        assert self.worker is not None and self.vk_client is not None
        daemon_pid = self.daemon_pids()[DAEMON_OF[system]] if system in DAEMON_OF else None
        cpu0 = cpu_seconds(daemon_pid) if daemon_pid else 0.0
        if system == "bare":
            res = self.bare.boot(name, xml, log, self.marker)
        elif system == "virtkit_client":
            res = self.vk_client.boot(self.uris["virtkitd"], name, xml, log, self.marker,
                                      BOOT_TIMEOUT_S)
        else:
            res = self.worker.call(op="boot", uri=self.uris[DAEMON_OF[system]], name=name,
                                   xml=xml, log=log, marker=self.marker,
                                   timeout=BOOT_TIMEOUT_S)
        # the daemon's CPU for create + boot + destroy (clock ticks, 10 ms)
        res["daemon_cpu_s"] = cpu_seconds(daemon_pid) - cpu0 if daemon_pid else 0.0
        self.argvs.setdefault(system, list(res.pop("argv")))
        res.pop("ok", None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log)
        return res

    # many guests

    def many(self, system: str, prefix: str, count: int) -> dict[str, Any]:
        guests = []
        for i in range(count):
            name = f"{prefix}-{i}"
            xml, log = self.guest_xml(name)
            guests.append([name, xml, log])
        assert self.worker is not None and self.vk_client is not None
        stop: Callable[[], object]
        if system == "bare":
            stop = self.bare.many_stop
            try:
                res = self.bare.many_start(guests, self.marker)
            except BaseException:
                stop()
                raise
        elif system == "virtkit_client":
            client = self.vk_client
            stop = client.many_stop
            try:
                res = client.many_start(self.uris["virtkitd"], guests, self.marker,
                                        BOOT_TIMEOUT_S)
            except BaseException:
                stop()
                raise
        else:
            worker = self.worker

            def stop() -> None:
                worker.call(op="many_stop")

            try:
                res = worker.call(op="many_start", uri=self.uris[DAEMON_OF[system]],
                                  guests=guests, marker=self.marker, timeout=BOOT_TIMEOUT_S)
            except BaseException:
                with contextlib.suppress(Exception):
                    stop()
                raise
            res.pop("ok", None)
        try:
            # every guest of this system is running: the daemons' memory now
            res["rss_kib"] = {d: vm_rss_kib(pid) for d, pid in self.daemon_pids().items()}
        finally:
            stop()
        for g in guests:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(g[2])
        return res


# --- rounds -----------------------------------------------------------------------------


def rounds(systems: Sequence[str], samples: int, warmup: int = 1) -> list[tuple[int, str]]:
    """(round, system) in run order: A B C D, D C B A, ...; rounds < warmup are discarded."""
    out = []
    for rnd in range(warmup + samples):
        order = list(systems) if rnd % 2 == 0 else list(systems)[::-1]
        out += [(rnd - warmup, s) for s in order]
    return out


def summary(values: list[float]) -> dict[str, Any]:
    return {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values),
            "samples_s": values}


def paired_overhead(sys_vals: list[float], bare_vals: list[float]) -> float:
    """Median of per-round differences system - bare (same round, back to back)."""
    return statistics.median(a - b for a, b in zip(sys_vals, bare_vals, strict=True))


def collect(bench: Bench, args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    single: dict[str, dict[str, list[float]]] = {
        s: {"create_s": [], "marker_s": [], "destroy_s": [], "gone_s": [], "daemon_cpu_s": []}
        for s in SYSTEMS
    }
    bare_init: list[float] = []
    for rnd, system in rounds(SYSTEMS, args.qemu_samples):
        name = f"qb-{system.replace('_', '-')}-{rnd + 1}" if rnd >= 0 else f"qb-warm-{system}"
        res = bench.boot(system, name.replace("--", "-"))
        log(f"   boot {system:<15} round {rnd:>2}: marker {res['marker_s'] * 1000:7.1f} ms, "
            f"create {res['create_s'] * 1000:7.1f} ms, destroy {res['destroy_s'] * 1000:6.1f} ms")
        if rnd >= 0:
            for k in single[system]:
                single[system][k].append(float(res[k]))
            if system == "bare":
                bare_init.append(bench.bare.qmp_start(f"qi-{rnd + 1}", bench.guest_xml("qi")[0]))
    many: dict[str, list[dict[str, Any]]] = {s: [] for s in SYSTEMS}
    data_init = {"bare_init_s": bare_init}
    for rnd, system in rounds(SYSTEMS, args.qemu_parallel_samples, warmup=0):
        res = bench.many(system, f"qp-{system.replace('_', '-')}-{rnd + 1}", args.qemu_guests)
        log(f"   {args.qemu_guests} at once {system:<15} round {rnd:>2}: all markers "
            f"{res['all_s']:.2f} s, rss {res['rss_kib']}")
        many[system].append(res)
    return {"single": single, "many": many, **data_init}


def build_rows(data: dict[str, Any], guests: int) -> list[dict[str, Any]]:
    single, many = data["single"], data["many"]
    rows: list[dict[str, Any]] = []
    bare_marker = single["bare"]["marker_s"]
    boot: dict[str, Any] = {
        "key": "qemu_boot", "title": "create call -> boot marker",
        "goal": f"overhead over bare <= {OVERHEAD_GOAL_S * 1000:.0f} ms and < libvirt's",
        "systems": {},
    }
    for s in SYSTEMS:
        side = summary(single[s]["marker_s"])
        side["overhead_s"] = side["median_s"] - statistics.median(bare_marker)
        side["paired_overhead_s"] = paired_overhead(single[s]["marker_s"], bare_marker)
        boot["systems"][s] = side
    # A steadier view of the same cost: the guest of a managed start runs only once create
    # has returned (QEMU starts paused; cont comes last). Start-up overhead = create return
    # - the same QEMU started with -S and sent cont over raw QMP at once (Bare.qmp_start):
    # what the management layer adds to the least a paused start costs.
    init = statistics.median(data["bare_init_s"])
    boot["bare_init_s"] = summary(data["bare_init_s"])
    for s in DAEMON_OF:
        boot["systems"][s]["startup_overhead_s"] = (
            statistics.median(single[s]["create_s"]) - init
        )
    lv = boot["systems"]["libvirt"]["overhead_s"]
    for s in ("virtkit", "virtkit_client"):
        o = boot["systems"][s]["overhead_s"]
        boot["systems"][s]["met"] = o <= OVERHEAD_GOAL_S and o < lv
    boot["met"] = boot["systems"]["virtkit"]["met"]
    rows.append(boot)
    for key, field, title in (
        ("qemu_create", "create_s", "create call -> return"),
        ("qemu_destroy", "destroy_s", "destroy call -> return"),
    ):
        row: dict[str, Any] = {"key": key, "title": title, "goal": None, "met": None,
                               "systems": {s: summary(single[s][field]) for s in SYSTEMS}}
        if key == "qemu_destroy":
            row["gone"] = {s: summary(single[s]["gone_s"]) for s in SYSTEMS}
        if key == "qemu_create":
            # what each daemon's process spent on CPU per create + boot + destroy
            row["daemon_cpu"] = {s: summary(single[s]["daemon_cpu_s"]) for s in DAEMON_OF}
        rows.append(row)
    par: dict[str, Any] = {
        "key": "qemu_parallel", "title": f"{guests} guests at once -> every boot marker",
        "guests": guests, "goal": None, "met": None, "systems": {},
    }
    for s in SYSTEMS:
        side = summary([r["all_s"] for r in many[s]])
        side["create_return_max_s"] = statistics.median(max(r["create_s"]) for r in many[s])
        par["systems"][s] = side
    bare_all = par["systems"]["bare"]["median_s"]
    for s in SYSTEMS:
        par["systems"][s]["overhead_s"] = par["systems"][s]["median_s"] - bare_all
    rows.append(par)
    rss: dict[str, Any] = {
        "key": "qemu_daemon_rss", "title": f"daemon RSS with {guests} guests running",
        "guests": guests, "goal": None, "met": None, "daemons": {},
    }
    for daemon, system in (("virtkitd", "virtkit"), ("libvirtd", "libvirt")):
        vals = [r["rss_kib"][daemon] for r in many[system]]
        if daemon == "virtkitd":
            vals += [r["rss_kib"][daemon] for r in many["virtkit_client"]]
        rss["daemons"][daemon] = {"median_kib": statistics.median(vals), "samples_kib": vals}
    rows.append(rss)
    return rows


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if abs(seconds) < 10 else f"{seconds:.2f} s"


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"QEMU driver: virtkitd ({meta['virtkit_version']}) vs libvirtd {meta['libvirt_version']}"
        f" (QEMU driver) vs bare {meta['qemu_version']}; TCG guest, {meta['cpus']} CPUs",
        f"medians of {meta['samples']} interleaved runs per system ({meta['parallel_samples']} "
        f"for {meta['guests']} guests at once); host load {meta['loadavg']}",
        "virtkit = libvirt-python -> virtkitd; virtkit_client = virtkit's client -> virtkitd",
        "",
        f"{'figure':<34}" + "".join(f"{s:>15}" for s in SYSTEMS),
        "-" * (34 + 15 * len(SYSTEMS)),
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['title']:<34} ERROR: {row['error']}")
            continue
        if row["key"] == "qemu_daemon_rss":
            d = row["daemons"]
            lines.append(f"{row['title']:<34}{d['virtkitd']['median_kib'] / 1024:>12.1f} MiB"
                         f"{'(same)':>15}{d['libvirtd']['median_kib'] / 1024:>12.1f} MiB")
            continue
        sy = row["systems"]
        lines.append(f"{row['title']:<34}" + "".join(f"{ms(sy[s]['median_s']):>15}"
                                                     for s in SYSTEMS))
        if "overhead_s" in sy["virtkit"]:
            lines.append(f"{'  overhead over bare':<34}"
                         + "".join(f"{ms(sy[s]['overhead_s']):>15}" for s in SYSTEMS))
        if "paired_overhead_s" in sy["virtkit"]:
            lines.append(f"{'  (median of per-round diffs)':<34}"
                         + "".join(f"{ms(sy[s]['paired_overhead_s']):>15}" for s in SYSTEMS))
        if "startup_overhead_s" in sy["virtkit"]:
            lines.append(
                f"{'  create return - raw QMP start':<34}"
                + "".join(
                    f"{ms(sy[s]['startup_overhead_s']):>15}"
                    if s in DAEMON_OF
                    else f"{'(' + ms(row['bare_init_s']['median_s']) + ')':>15}"
                    for s in SYSTEMS
                )
            )
        if row["key"] == "qemu_destroy":
            lines.append(f"{'  destroy call -> QEMU exited':<34}"
                         + "".join(f"{ms(row['gone'][s]['median_s']):>15}" for s in SYSTEMS))
        if row["key"] == "qemu_create":
            lines.append(
                f"{'  daemon CPU per create+destroy':<34}"
                + "".join(f"{ms(row['daemon_cpu'][s]['median_s']):>15}" for s in DAEMON_OF)
            )
        if row["key"] == "qemu_parallel":
            lines.append(f"{'  slowest create call returned':<34}"
                         + "".join(f"{ms(sy[s]['create_return_max_s']):>15}" for s in SYSTEMS))
    boot = next((r for r in rows if r["key"] == "qemu_boot" and "error" not in r), None)
    if boot is not None:
        sy = boot["systems"]
        lines += [""]
        for s in ("virtkit", "virtkit_client"):
            verdict = "ok" if sy[s]["met"] else "MISSED"
            lines.append(f"goal ({s}): overhead {ms(sy[s]['overhead_s'])} <= 100 ms and < "
                         f"libvirt's {ms(sy['libvirt']['overhead_s'])}: {verdict}")
    lines.append("bare destroy = SIGTERM + wait (no API); bare create = Popen returning;")
    lines.append("(bare) in the raw-QMP row: QEMU -S, greeting, qmp_capabilities, cont answered.")
    return "\n".join(lines)


def qemu_version() -> str:
    out = subprocess.run([EMULATOR, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.split("\n")[0].replace("QEMU emulator version ", "QEMU ")


def normalised(argv: list[str], name: str) -> list[str]:
    """An argv with the per-run guest name and paths blanked, to compare two systems'."""
    out: list[str] = []
    for a in argv:
        if out and out[-1] == "-uuid":
            a = "UUID"
        a = a.replace(name, "NAME")
        if "/" in a and ("," in a or a.startswith("/")):
            a = ",".join("PATH" if "/" in part else part for part in a.split(","))
        out.append(a)
    return [a for a in out if a != "-S"]


def private_guest(guest: Any, folder: Path) -> Any:
    """The guest with its kernel and initramfs copied to ``folder``: the shared cache may be
    rebuilt (and the old build removed) by another process while the benchmark runs."""
    folder.mkdir(parents=True)
    kernel, initrd = folder / "vmlinuz", folder / "initrd.img"
    shutil.copyfile(guest.kernel, kernel)
    shutil.copyfile(guest.initrd, initrd)
    return dataclasses.replace(guest, kernel=kernel, initrd=initrd)


def run_qemu(args: argparse.Namespace, log: Callable[[str], None] | None = None) -> int:
    """Run the figures, print the table, write --json; exit status as bench/run.py's."""
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    import virtkit

    tg = load_test_guest()
    workdir = Path(tempfile.mkdtemp(prefix="vkqb-", dir="/tmp"))
    guest = private_guest(tg.ensure_guest(), workdir / "guest")
    bench = Bench(workdir, guest)
    rows: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    error: str | None = None
    try:
        say(f"... qemu figures in {workdir}")
        bench.start()
        assert bench.worker is not None
        version, py = bench.worker.version()
        meta = {
            "virtkit_version": getattr(virtkit, "__version__", "?"),
            "libvirt_version": f"{version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}",
            "python_libvirt": py,
            "python_virtkit": platform.python_version(),
            "qemu_version": qemu_version(),
            "kernel_version": guest.kernel_version,
            "samples": args.qemu_samples,
            "parallel_samples": args.qemu_parallel_samples,
            "guests": args.qemu_guests,
            "cpus": os.cpu_count(),
            "uris": bench.uris,
            "libvirtd": "Debian libvirtd, only its QEMU driver module, private mount namespace "
                        "(overlay /etc and /var, tmpfs /run/libvirt), under a child subreaper",
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        idle = {d: vm_rss_kib(pid) for d, pid in bench.daemon_pids().items()}
        data = collect(bench, args, say)
        meta["loadavg"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        meta["daemon_rss_idle_kib"] = idle
        meta["argv"] = {s: a for s, a in bench.argvs.items()}
        vk, bare = bench.argvs.get("virtkit"), bench.argvs.get("bare")
        if vk and bare:
            meta["bare_argv_matches_virtkit"] = (
                normalised(vk, "qb-warm-virtkit") == normalised(bare, "qb-warm-bare"))
        rows = build_rows(data, args.qemu_guests)
        rss = next(r for r in rows if r["key"] == "qemu_daemon_rss")
        rss["daemons"]["virtkitd"]["idle_kib"] = idle["virtkitd"]
        rss["daemons"]["libvirtd"]["idle_kib"] = idle["libvirtd"]
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if bench.libvirtd is not None and "libvirt" in error:
            error += "\nlibvirtd log tail:\n" + bench.libvirtd.log_text()[-2000:]
    finally:
        problems = bench.stop()
        if problems:
            say("cleanup problems: " + "; ".join(problems))
        if not problems:
            shutil.rmtree(workdir, ignore_errors=True)
    if error:
        print(f"qemu figures failed: {error}", file=sys.stderr)
        rows = [{"key": "qemu", "title": "QEMU figures", "error": error}]
    else:
        meta.setdefault("loadavg", "?")
        print(render(rows, meta))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    if error:
        return 1
    if args.check and not all(r["met"] for r in rows if r.get("met") is not None):
        return 1
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The QEMU options (shared with bench/run.py)."""
    p.add_argument("--qemu-samples", type=int, default=7,
                   help="measured runs per system for the one-guest figures (default 7)")
    p.add_argument("--qemu-parallel-samples", type=int, default=3,
                   help="measured runs per system for the guests-at-once figure (default 3)")
    p.add_argument("--qemu-guests", type=int, default=10,
                   help="guests started at once (default 10)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_arguments(p)
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    return run_qemu(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
