"""Storage figures: virtkitd against Debian's libvirtd, side by side (`bench/run.py --storage`).

Both daemons run here with fresh roots: virtkitd (``--root``, its qemu:///system node with
the storage driver) and libvirtd with its QEMU and storage driver modules, in a private
mount namespace (qemu_peers.py). Pools are directories under one temporary folder on the
same file system for both. The client is libvirt-python for both daemons (one
/usr/bin/python3 process, storage_worker.py), so the ratios compare the daemons; the
rounds alternate the daemons (A B, B A, ...) and medians are compared.

    python bench/storage_bench.py [--size-mib 1024] [--rounds 5] [--refresh-count 10000]

Figures: upload and download throughput of one volume over the unix socket (MiB/s,
higher is better), a sparse download (--sparse: 16 MiB of data, the rest holes sent as
lengths; MiB/s of the volume's size), and the time of pool.refresh() on a dir pool with
--refresh-count files (lower is better).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import qemu_peers
from harness import BENCH_DIR, SYSTEM_PYTHON

DAEMONS = ("virtkitd", "libvirtd")
CHUNK = 16 * 1024 * 1024


def _source_file(path: Path, size: int) -> None:
    """``size`` bytes of incompressible data, on tmpfs so reading it costs no disk I/O."""
    block = os.urandom(CHUNK)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, CHUNK)
            f.write(block[:n])
            left -= n


def _refresh_dir(path: Path, count: int) -> None:
    """``count`` small volumes: raw files, and every 20th a qcow2 made by qemu-img."""
    path.mkdir(parents=True)
    qcow2 = path / "seed.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow2), "1M"], check=True)
    seed = qcow2.read_bytes()
    for i in range(count - 1):
        if i % 20 == 0:
            (path / f"v{i:05d}.qcow2").write_bytes(seed)
        else:
            (path / f"v{i:05d}.img").write_bytes(b"\0" * 4096)


def run_storage(args: argparse.Namespace, log: Callable[[str], None] | None = None) -> int:
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    from virtkit.testing.peers import start_virtkitd

    size = args.size_mib * 1024 * 1024
    # not under /etc or /var: libvirtd sees those through its private overlays
    workdir = Path(tempfile.mkdtemp(prefix="vksb-", dir="/tmp"))
    shm = Path(tempfile.mkdtemp(prefix="vksb-", dir="/dev/shm"))
    virtkitd = libvirtd = None
    error = None
    result: dict[str, Any] = {}
    try:
        say(f"... storage figures in {workdir} (source data in {shm})")
        source = shm / "source.bin"
        _source_file(source, size)
        dirs = {d: {"xfer": str(workdir / d / "xfer"), "refresh": str(workdir / d / "refresh")}
                for d in DAEMONS}
        for d in DAEMONS:
            _refresh_dir(Path(dirs[d]["refresh"]), args.refresh_count)
        virtkitd = start_virtkitd(workdir / "virtkitd-root")
        libvirtd = qemu_peers.start_libvirtd_qemu(workdir / "libvirtd-root",
                                                  extra_modules=("storage",))
        plan = {
            "uris": {"virtkitd": virtkitd.uri(driver="qemu", path="/system"),
                     "libvirtd": libvirtd.uri},
            "dirs": dirs, "size": size, "source": str(source),
            "rounds": args.rounds, "warmup": 1, "refresh_rounds": args.rounds,
        }
        say(f"... {args.rounds} rounds of {args.size_mib} MiB up and down per daemon, "
            f"then refresh of {args.refresh_count} volumes")
        proc = subprocess.run([SYSTEM_PYTHON, str(BENCH_DIR / "storage_worker.py"),
                               json.dumps(plan)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"storage worker failed:\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if libvirtd is not None:
            error += "\nlibvirtd log tail:\n" + libvirtd.log_text()[-1500:]
    finally:
        if virtkitd is not None:
            virtkitd.stop()
        if libvirtd is not None:
            libvirtd.stop()
        shutil.rmtree(shm, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    if error:
        print(f"storage figures failed: {error}", file=sys.stderr)
        return 1
    rows = build_rows(result, size, args.refresh_count)
    print(render(rows, result, args))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": rows, "raw": result}, indent=2) + "\n")
    return 0


def build_rows(result: dict[str, Any], size: int, count: int) -> list[dict[str, Any]]:
    mib = size / (1024 * 1024)
    rows = []
    for key, title in (("upload", "upload"), ("download", "download"),
                       ("sparse", "sparse download")):
        med = {d: mib / statistics.median(result[key][d]) for d in DAEMONS}
        rows.append({"key": f"storage_{key}", "title": f"{title} {mib:.0f} MiB (MiB/s)",
                     "virtkitd": med["virtkitd"], "libvirtd": med["libvirtd"],
                     "ratio": med["virtkitd"] / med["libvirtd"], "better": "higher"})
    med = {d: statistics.median(result["refresh"][d]) * 1000 for d in DAEMONS}
    rows.append({"key": "storage_refresh", "title": f"pool refresh, {count} volumes (ms)",
                 "virtkitd": med["virtkitd"], "libvirtd": med["libvirtd"],
                 "ratio": med["virtkitd"] / med["libvirtd"], "better": "lower",
                 "volumes_seen": result.get("refresh_volumes")})
    return rows


def render(rows: list[dict[str, Any]], result: dict[str, Any], args: argparse.Namespace) -> str:
    v = result.get("libvirt_version", 0)
    lines = [f"storage: virtkitd vs libvirtd {v // 1_000_000}.{v // 1000 % 1000}.{v % 1000}, "
             f"client libvirt-python for both, unix socket, {args.rounds} rounds interleaved, "
             f"medians; loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
             f"{'figure':<36} {'virtkitd':>10} {'libvirtd':>10} {'ratio':>7}"]
    for r in rows:
        lines.append(f"{r['title']:<36} {r['virtkitd']:>10.1f} {r['libvirtd']:>10.1f} "
                     f"{r['ratio']:>6.2f}x  ({r['better']} is better)")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size-mib", type=int, default=1024, help="volume size (default 1024)")
    p.add_argument("--rounds", type=int, default=5, help="measured rounds per daemon")
    p.add_argument("--refresh-count", type=int, default=10_000,
                   help="volumes in the refreshed pool (default 10000)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_arguments(p)
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    return run_storage(p.parse_args(argv))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    t0 = time.monotonic()
    rc = main()
    print(f"({time.monotonic() - t0:.0f} s)", file=sys.stderr)
    sys.exit(rc)
