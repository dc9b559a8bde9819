"""Migration figures: virtkitd->virtkitd against libvirtd->libvirtd (`bench/run.py --migration`).

Two "hosts" (network namespaces on a veth pair, virtkit.testing.twohosts); in each a
virtkitd (its own root) and Debian's libvirtd 9.0 with its QEMU driver (qemu_peers.py:
private mount namespace, subreaper; each with a host UUID of its own). Each pair has one
TCG guest (the test guest, 256 MiB by default) that bounces between the hosts; the rounds
interleave the pairs (A B, B A, ...) and medians are shown.
Every migration is stock ``virsh migrate --live --persistent`` (the same client for both
pairs; the source keeps its definition, so both sides keep the job's statistics).

The guest runs two shell loops started on its serial console: a counter (``TICK-N``
every 20 ms) and a memory dirtier (``dd`` copies a file of random bytes over another in
the initramfs' page cache: ``--mig-dirty-mib`` MiB every ``--mig-dirty-period-ms``, a nominal
rate of dirty memory; TCG makes the copy itself slower, so the real rate is below it).

Figures per mode: total time (virsh's wall time), the guest-observed downtime (the
largest gap between two counter lines reaching the console log during the migration,
20 ms resolution plus polling), QEMU's downtime and the data transferred (the completed
job's statistics, ``domjobinfo --completed``), and the CPU time both daemons spent
(utime + stime from /proc/PID/stat, source and destination summed).

Modes: native TCP peer-to-peer (``--p2p``) and managed direct, tunnelled (``--p2p
--tunnelled``) and copy-storage (``--copy-storage-all`` of a 64 MiB qcow2 disk kept in
each host's own directory, the destination's path given with ``--xml``). A mode a side
refuses as not supported shows "not supported by virtkit yet" (or libvirt's refusal).

    python bench/migration_bench.py [--mig-rounds 5] [--mig-memory-mib 256]
            [--mig-dirty-mib 16] [--mig-dirty-period-ms 500] [--mig-modes p2p,direct,...]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qemu_peers

PAIRS = ("virtkitd", "libvirtd")
MODES = ("p2p", "direct", "tunnelled", "copy-storage")
_TICK = re.compile(rb"TICK-(\d+)")
_MIB = 1024 * 1024
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Mode:
    key: str
    title: str
    virsh: tuple[str, ...]  # options beyond --live
    disk: bool = False  # the guest with a local disk, copied
    p2p: bool = False


MODE_SPECS = {
    "p2p": Mode("p2p", "native --p2p", ("--p2p",), p2p=True),
    "direct": Mode("direct", "native managed direct", ()),
    "tunnelled": Mode("tunnelled", "--p2p --tunnelled", ("--p2p", "--tunnelled"),
                      p2p=True),
    "copy-storage": Mode("copy-storage", "--copy-storage-all (64 MiB disk)",
                         ("--copy-storage-all",), disk=True),
}


@dataclass
class Node:
    """One daemon on one host: its client URI, the URI its peer's daemon uses for p2p,
    its pid (CPU time), its host's address and a private directory."""

    uri: str
    p2p_uri: str
    pid: int
    address: str
    local: Path


@dataclass
class Guest:
    """A guest of one pair, where it is now, and its console watcher."""

    name: str
    nodes: tuple[Node, Node]
    log: Path
    disk: bool
    at: int = 0
    ticks: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def watch(self) -> None:
        """Timestamp each counter line when it reaches the console log (QEMU of either
        host appends to it)."""
        while not self.stop.is_set():
            with contextlib.suppress(OSError):
                data = self.log.read_bytes()
                now = time.monotonic()
                for m in _TICK.finditer(data):
                    self.ticks.setdefault(int(m.group(1)), now)
            time.sleep(0.005)

    def largest_gap(self, start: float, end: float) -> float:
        times = sorted(t for t in self.ticks.values() if start - 1 <= t <= end + 1)
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _virsh(uri: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virsh", "-c", uri, *args], capture_output=True, text=True,
                          timeout=timeout)


def _domain_xml(guest: Any, name: str, log: Path, memory_mib: int, disk: Path | None) -> str:
    disk_xml = ""
    if disk is not None:
        disk_xml = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                    f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>")
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuidlib.uuid4()}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{guest.kernel}</kernel>
    <initrd>{guest.initrd}</initrd><cmdline>{guest.cmdline}</cmdline></os>
  <features><acpi/></features>
  <devices>{disk_xml}
    <serial type='pty'><log file='{log}' append='on'/></serial>
    <console type='pty'/>
  </devices>
</domain>
"""


def _workload(dirty_mib: int, period_ms: int) -> bytes:
    return (b"i=0; while :; do i=$((i+1)); echo TICK-$i; usleep 20000; done &\r"
            + f"head -c {dirty_mib}M /dev/urandom > /rnd; cp /rnd /dirty; while :; do "
              f"dd if=/rnd of=/dirty bs=1M conv=notrunc 2>/dev/null; usleep {period_ms * 1000};"
              " done &\r".encode())


class Bench:
    """The two pairs, their guests, the measurements."""

    def __init__(self, args: argparse.Namespace, say: Callable[[str], None]) -> None:
        self.args = args
        self.say = say
        self.pairs: dict[str, tuple[Node, Node]] = {}
        self.guests: dict[tuple[str, bool], Guest] = {}
        self.refused: dict[tuple[str, str], str] = {}

    def start(self, h: Any) -> None:
        h.a.start_virtkitd()
        h.b.start_virtkitd()
        vk = tuple(Node(host.unix_uri(), host.unix_uri(), host.daemon.pid, host.address,
                        host.root / "vk-local") for host in (h.a, h.b))
        lv = []
        for host in (h.a, h.b):
            with _own_host_uuid():
                peer = qemu_peers.start_libvirtd_qemu(host.root / "libvirtd", netns=host.netns)
            host.extra.append(peer.reaper)
            lv.append(Node(peer.uri, peer.uri, peer.pid, host.address,
                           host.root / "lv-local"))
        self.pairs = {"virtkitd": (vk[0], vk[1]), "libvirtd": (lv[0], lv[1])}
        for nodes in self.pairs.values():
            for node in nodes:
                node.local.mkdir(parents=True, exist_ok=True)

    def guest(self, pair: str, disk: bool, shared: Path, image: Any) -> Guest:
        key = (pair, disk)
        if key in self.guests:
            return self.guests[key]
        import virtkit

        name = f"mig-{pair[0]}{pair[-2]}{'-disk' if disk else ''}"
        nodes = self.pairs[pair]
        log = shared / f"{name}.console"
        g = Guest(name, nodes, log, disk)
        path = None
        if disk:
            for node in nodes:  # each host's own copy (the destination's is the target)
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                                str(node.local / f"{name}.qcow2"), "64M"], check=True)
            path = nodes[0].local / f"{name}.qcow2"
        xml = shared / f"{name}.xml"
        xml.write_text(_domain_xml(image, name, log, self.args.mig_memory_mib, path))
        for args in (("define", str(xml)), ("start", name)):
            done = _virsh(nodes[0].uri, *args)
            if done.returncode != 0:
                raise RuntimeError(f"{pair}: virsh {args[0]}: {done.stderr}")
        deadline = time.monotonic() + 120
        while not log.exists() or image.READY_MARKER.encode() not in log.read_bytes():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{pair}: the guest did not boot")
            time.sleep(0.2)
        conn = virtkit.open(nodes[0].uri)
        con = conn.lookup_domain(name).open_console()
        con.send(_workload(self.args.mig_dirty_mib, self.args.mig_dirty_period_ms))
        threading.Thread(target=g.watch, daemon=True).start()
        deadline = time.monotonic() + 60
        while len(g.ticks) < 20:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{pair}: the guest's counter did not start")
            time.sleep(0.1)
        conn.close()  # and with it the console stream
        time.sleep(2)  # the dirtier's random file written
        self.guests[key] = g
        return g

    def migrate(self, pair: str, mode: Mode, shared: Path, image: Any) -> dict[str, float] | None:
        """One migration of the pair's guest to its other host: the figures, or None when
        the mode is refused (noted in ``refused``)."""
        if (pair, mode.key) in self.refused:
            return None
        g = self.guest(pair, mode.disk, shared, image)
        src, dst = g.nodes[g.at], g.nodes[1 - g.at]
        # --persistent: the source keeps its definition, so both sides keep the job's
        # statistics (a transient source is gone after the migration)
        args = ["migrate", "--live", "--persistent", *mode.virsh, g.name,
                dst.p2p_uri if mode.p2p else dst.uri]
        if mode.key != "tunnelled":
            args += ["--migrateuri", f"tcp://{dst.address}"]
        if mode.disk:
            done = _virsh(src.uri, "dumpxml", "--migratable", g.name)
            xml = shared / f"{g.name}-to-{1 - g.at}.xml"
            xml.write_text(done.stdout.replace(str(src.local), str(dst.local)))
            args += ["--xml", str(xml)]
        cpu0 = _cpu_seconds(src.pid) + _cpu_seconds(dst.pid)
        t0 = time.monotonic()
        done = _virsh(src.uri, *args)
        t1 = time.monotonic()
        cpu1 = _cpu_seconds(src.pid) + _cpu_seconds(dst.pid)
        if done.returncode != 0:
            reason = done.stderr.strip().removeprefix("error: ")
            if "not supported" in reason or "unsupported" in reason:
                self.refused[(pair, mode.key)] = (
                    "not supported by virtkit yet" if pair == "virtkitd" else reason)
                return None
            raise RuntimeError(f"{pair} {mode.key}: virsh migrate failed: {done.stderr}")
        time.sleep(0.3)  # counter lines after the switch-over reach the log
        g.at = 1 - g.at
        # both sides' view of the completed job (the destination's comes in the cookie)
        both = [_completed_stats(node.uri, g.name) for node in (dst, src)]
        stats = max(both, key=len)  # a virtkitd destination keeps none (type only)
        if not stats.get("time_elapsed"):
            raise RuntimeError(f"{pair} {mode.key}: no completed job statistics on either side")
        data = max(max(s.get("data_processed", 0),
                       s.get("memory_processed", 0) + s.get("disk_processed", 0))
                   for s in both)
        return {"total_s": t1 - t0, "guest_downtime_ms": g.largest_gap(t0, t1) * 1000,
                "qemu_downtime_ms": float(stats.get("downtime", 0)),
                "data_mib": data / _MIB, "daemon_cpu_ms": (cpu1 - cpu0) * 1000}


def _completed_stats(uri: str, name: str) -> dict[str, int]:
    """``domjobinfo --completed`` as a dict (libvirt-python's names)."""
    code = (f"import json, libvirt\nd = libvirt.open({uri!r}).lookupByName({name!r})\n"
            "print(json.dumps(d.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)))\n")
    done = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        return {}
    stats = json.loads(done.stdout)
    return {k: int(v) for k, v in stats.items() if isinstance(v, (int, float))}


@contextlib.contextmanager
def _own_host_uuid() -> Iterator[None]:
    """Give the next libvirtd started by qemu_peers a host UUID of its own (``host_uuid``
    in libvirtd.conf), whatever the machine's SMBIOS says: two daemons with one host
    UUID fail libvirt's cookie check ("Attempt to migrate guest to the same host")."""
    original = qemu_peers._libvirtd_conf

    def with_uuid(sock_dir: Path) -> str:
        return original(sock_dir) + f'host_uuid = "{uuidlib.uuid4()}"\n'

    qemu_peers._libvirtd_conf = with_uuid
    try:
        yield
    finally:
        qemu_peers._libvirtd_conf = original


def run_migration(args: argparse.Namespace, log: Callable[[str], None] | None = None) -> int:
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from test_guest import ensure_guest  # type: ignore[import-not-found]

    from virtkit.testing.twohosts import TwoHosts

    modes = [MODE_SPECS[m] for m in args.mig_modes.split(",")]
    image = ensure_guest()
    bench = Bench(args, say)
    samples: dict[tuple[str, str], list[dict[str, float]]] = {}
    error = None
    base = Path(tempfile.mkdtemp(prefix="vkmb-", dir="/tmp"))
    with TwoHosts(base) as h:
        try:
            bench.start(h)
            for mode in modes:
                say(f"... {mode.title}: 1 warm-up + {args.mig_rounds} rounds per pair")
                for rnd in range(args.mig_rounds + 1):
                    order = PAIRS if rnd % 2 == 0 else PAIRS[::-1]
                    for pair in order:
                        got = bench.migrate(pair, mode, h.shared, image)
                        if got is not None and rnd > 0:
                            samples.setdefault((pair, mode.key), []).append(got)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            for g in bench.guests.values():
                g.stop.set()
                for node in g.nodes:
                    _virsh(node.uri, "destroy", g.name, timeout=60)
    with contextlib.suppress(OSError):
        import shutil

        shutil.rmtree(base)
    if error:
        print(f"migration figures failed: {error}", file=sys.stderr)
        return 1
    rows = build_rows(samples, bench.refused, modes)
    print(render(rows, args))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": rows, "samples": {
            f"{p}/{m}": s for (p, m), s in samples.items()}}, indent=2) + "\n")
    return 0


FIGURES = (("total_s", "total time (s)", "{:.2f}"),
           ("guest_downtime_ms", "guest downtime (ms)", "{:.0f}"),
           ("qemu_downtime_ms", "QEMU downtime (ms)", "{:.0f}"),
           ("data_mib", "data sent (MiB)", "{:.1f}"),
           ("daemon_cpu_ms", "daemons' CPU (ms)", "{:.0f}"))


def build_rows(samples: dict[tuple[str, str], list[dict[str, float]]],
               refused: dict[tuple[str, str], str], modes: list[Mode]) -> list[dict[str, Any]]:
    rows = []
    for mode in modes:
        for key, title, fmt in FIGURES:
            row: dict[str, Any] = {"mode": mode.key, "figure": key,
                                   "title": f"{mode.title}: {title}", "fmt": fmt}
            for pair in PAIRS:
                got = samples.get((pair, mode.key))
                row[pair] = statistics.median(s[key] for s in got) if got else \
                    refused.get((pair, mode.key), "no sample")
            rows.append(row)
    return rows


def render(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [f"migration: virtkitd->virtkitd vs libvirtd->libvirtd 9.0, two network "
             f"namespaces, stock virsh, TCG guest {args.mig_memory_mib} MiB dirtying "
             f"{args.mig_dirty_mib} MiB every {args.mig_dirty_period_ms} ms, "
             f"{args.mig_rounds} rounds "
             f"interleaved, medians; loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
             f"{'figure':<52} {'virtkitd':>12} {'libvirtd':>12} {'ratio':>7}"]
    for r in rows:
        a, b = r["virtkitd"], r["libvirtd"]
        if isinstance(a, float) and isinstance(b, float):
            ratio = f"{a / b:>6.2f}x" if b else "      -"
            lines.append(f"{r['title']:<52} {r['fmt'].format(a):>12} "
                         f"{r['fmt'].format(b):>12} {ratio}")
        else:
            show = [r["fmt"].format(v) if isinstance(v, float) else str(v) for v in (a, b)]
            lines.append(f"{r['title']:<52} {show[0]:>12} {show[1]:>12}")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mig-rounds", type=int, default=5,
                   help="migration: measured rounds per pair and mode (default 5)")
    p.add_argument("--mig-memory-mib", type=int, default=256,
                   help="migration: guest memory (default 256)")
    p.add_argument("--mig-dirty-mib", type=int, default=16,
                   help="migration: MiB the guest rewrites each period (default 16)")
    p.add_argument("--mig-dirty-period-ms", type=int, default=500,
                   help="migration: pause between two rewrites (default 500)")
    p.add_argument("--mig-modes", default=",".join(MODES),
                   help=f"migration: comma-separated modes, of {', '.join(MODES)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_arguments(p)
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    return run_migration(p.parse_args(argv))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    t0 = time.monotonic()
    rc = main()
    print(f"({time.monotonic() - t0:.0f} s)", file=sys.stderr)
    sys.exit(rc)
