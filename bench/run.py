"""virtkit vs libvirt-python benchmarks on test:///default (`make bench`).

Every figure is measured side by side in the same run: virtkit in this process,
libvirt-python in a persistent /usr/bin/python3 worker, batches interleaved
(A B, B A, ...), medians compared. See docs/benchmarks.md for the method.

    python bench/run.py [--quick] [--json FILE] [--only NAME,...] [--check] [--remote]

--remote runs only the remote figures (virtkitd against libvirtd, bench/remote.py);
a run without --only/--remote includes them.
--qemu runs only the QEMU driver figures (real TCG guests, several minutes;
bench/qemu_bench.py); no other run includes them.
--storage runs only the storage figures (1 GiB upload/download and a 10,000-volume
pool refresh against libvirtd's storage driver; bench/storage_bench.py).
--migration runs only the migration figures (virtkitd->virtkitd against
libvirtd->libvirtd in two network namespaces, TCG guests; bench/migration_bench.py).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import migration_bench
import qemu_bench
import remote
import storage_bench
from harness import (
    BenchError,
    InProcessSide,
    Samples,
    Side,
    WorkerSide,
    interleave,
    libvirt_worker,
    process_runner,
)

URI = "test:///default"


@dataclass(frozen=True)
class ApiSpec:
    """One API figure: a virtkit benchmark against a libvirt one."""

    key: str
    title: str
    virtkit_bench: str
    libvirt_bench: str
    batch: int  # iterations per batch
    quick_batch: int
    show: str  # "rate" (ops/s) or "time" (ms per op)
    virtkit_measures: str
    libvirt_measures: str


API_SPECS = [
    ApiSpec(
        "lookup_info", "lookup + info", "lookup_info", "lookup_info", 5000, 1000, "rate",
        'conn.lookup_domain("test").info()',
        'conn.lookupByName("test").info()',
    ),
    ApiSpec(
        "lifecycle", "define/start/destroy/undefine", "lifecycle", "lifecycle", 300, 60, "rate",
        "define_domain(xml); start(); destroy(); undefine()",
        "defineXML(xml); create(); destroy(); undefine()",
    ),
    ApiSpec(
        "list_all", "list {list_count} defined domains", "list_all", "list_all", 3, 1, "time",
        "conn.list_domains() -> list[Domain]",
        "conn.listAllDomains(0) -> list[virDomain]",
    ),
    ApiSpec(
        "large_xml", "large XML define + dump", "large_xml", "large_xml", 5, 2, "time",
        "conn.define_domain(xml).xml(): test driver parses, validates, stores, formats",
        "conn.defineXML(xml).XMLDesc(0): test driver parses, validates, stores, formats",
    ),
    ApiSpec(
        "parse_format", "large XML parse + format", "parse_format", "large_xml", 5, 2, "time",
        "DomainDef.from_xml(xml).to_xml(): config layer only, no driver",
        "conn.defineXML(xml).XMLDesc(0) (libvirt's parser/formatter are reachable only "
        "through a driver)",
    ),
]

API_GOAL = 0.5  # virtkit throughput / libvirt throughput
CLI_GOAL = 3.0  # virtkit process time / virsh process time


def fmt_rate(per_op: float) -> str:
    rate = 1.0 / per_op
    if rate >= 10_000:
        return f"{rate / 1000:,.1f}k/s"
    return f"{rate:,.1f}/s"


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.2f} ms"


def run_api(
    spec: ApiSpec, virtkit_side: Side, worker: WorkerSide, args: argparse.Namespace
) -> dict[str, Any]:
    params = {"count": args.list_count, "disks": args.xml_devices, "nics": args.xml_devices}
    batch = args.iterations or (spec.quick_batch if args.quick else spec.batch)
    row: dict[str, Any] = {
        "key": spec.key,
        "title": spec.title.format(list_count=args.list_count),
        "kind": "api",
        "batch_iterations": batch,
        "virtkit_measures": spec.virtkit_measures,
        "libvirt_measures": spec.libvirt_measures,
        "show": spec.show,
        "goal": f">= {API_GOAL}x libvirt throughput",
    }
    try:
        res = compare_sides(spec, virtkit_side, worker, params, batch, args.samples)
    except Exception as exc:  # report and go on with the other figures
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    vk, lv = res["virtkit"], res["libvirt"]
    row["virtkit"], row["libvirt"] = vk.to_json(), lv.to_json()
    row["ratio"] = lv.median / vk.median  # throughput ratio virtkit/libvirt
    row["met"] = row["ratio"] >= API_GOAL
    return row


def compare_sides(
    spec: ApiSpec,
    virtkit_side: Side,
    worker: WorkerSide,
    params: dict[str, Any],
    batch: int,
    samples: int,
) -> dict[str, Samples]:
    # --calibrate puts a second libvirt worker on the virtkit side: same benchmark names.
    vk_bench = spec.virtkit_bench if isinstance(virtkit_side, InProcessSide) else spec.libvirt_bench
    virtkit_side.setup(vk_bench, params)
    try:
        worker.setup(spec.libvirt_bench, params)
        try:
            return interleave(
                {
                    "virtkit": lambda: virtkit_side.run(vk_bench, batch) / batch,
                    "libvirt": lambda: worker.run(spec.libvirt_bench, batch) / batch,
                },
                samples,
            )
        finally:
            worker.teardown(spec.libvirt_bench)
    finally:
        virtkit_side.teardown(vk_bench)


def virtkit_cli() -> str | None:
    beside = Path(sys.executable).parent / "virtkit"
    return str(beside) if beside.exists() else shutil.which("virtkit")


def run_cli(args: argparse.Namespace) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": "cli_list",
        "title": "CLI `list --all` (whole process)",
        "kind": "cli",
        "show": "time",
        "goal": f"<= {CLI_GOAL}x virsh time",
        "virtkit_measures": f"virtkit -c {URI} list --all",
        "libvirt_measures": f"virsh -c {URI} list --all",
    }
    vk_cli, virsh = virtkit_cli(), shutil.which("virsh")
    if vk_cli is None or virsh is None:
        row["error"] = "virtkit CLI not installed" if vk_cli is None else "virsh not found"
        return row
    # An installed package has its bytecode compiled (pip does it); an editable checkout
    # under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every changed module on
    # every start and measure the compiler, not the CLI.
    import compileall

    import virtkit

    compileall.compile_dir(str(Path(virtkit.__file__).parent), quiet=1)
    runners: dict[str, Callable[[], float]] = {
        "virtkit": process_runner([vk_cli, "-c", URI, "list", "--all"], lambda out: "test" in out),
        "libvirt": process_runner([virsh, "-c", URI, "list", "--all"], lambda out: "test" in out),
    }
    try:
        res = interleave(runners, args.cli_samples)
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    vk, lv = res["virtkit"], res["libvirt"]
    row["virtkit"], row["libvirt"] = vk.to_json(), lv.to_json()
    row["ratio"] = vk.median / lv.median  # time ratio virtkit/virsh
    row["met"] = row["ratio"] <= CLI_GOAL
    return row


def show(per_op: float, how: str) -> str:
    return fmt_rate(per_op) if how == "rate" else fmt_time(per_op)


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"virtkit {meta['virtkit_version']} (Python {meta['python_virtkit']}) vs "
        f"libvirt-python {meta['libvirt_version']} (Python {meta['python_libvirt']}) on {URI}",
        f"medians of {meta['samples']} interleaved batches per side "
        f"(CLI: {meta['cli_samples']} runs per side); host load {meta['loadavg']}",
        "",
        f"{'figure':<36} {'virtkit':>12} {'libvirt':>12} {'ratio':>8}  {'goal':<8} result",
        "-" * 88,
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['title']:<36} ERROR: {row['error']}")
            continue
        how = row["show"]
        vk = show(row["virtkit"]["median_s_per_op"], how)
        lv = show(row["libvirt"]["median_s_per_op"], how)
        goal = ">=0.5x" if row["kind"] == "api" else "<=3x"
        verdict = "ok" if row["met"] else "MISSED"
        lines.append(
            f"{row['title']:<36} {vk:>12} {lv:>12} {row['ratio']:>7.2f}x  {goal:<8} {verdict}"
        )
    lines += [
        "",
        "API ratio = virtkit throughput / libvirt-python throughput (higher is better);",
        "CLI ratio = virtkit process time / virsh process time (lower is better).",
        "libvirt column: libvirt-python (API rows) or virsh (CLI row).",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few samples, small batches")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--only", metavar="NAMES", help="comma-separated figure keys (see --list)")
    p.add_argument("--list", action="store_true", help="list figure keys and exit")
    p.add_argument("--samples", type=int, help="batches per side per figure (default 21, quick 5)")
    p.add_argument("--cli-samples", type=int, help="process runs per side (default 21, quick 5)")
    p.add_argument("--iterations", type=int, help="override every figure's batch size")
    p.add_argument("--list-count", type=int, default=10_000, help="domains for list_all")
    p.add_argument("--xml-devices", type=int, default=200, help="disks and NICs in large XML")
    p.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    p.add_argument("--remote", action="store_true", help="only the remote_* figures")
    p.add_argument(
        "--remote-list-count", type=int, default=1000, help="domains for remote_list_all"
    )
    p.add_argument("--remote-clients", type=int, default=20, help="threads for remote_concurrent")
    p.add_argument("--remote-tls", action="store_true",
                   help="remote figures over TLS (certificates from `virtkit pki-*`)")
    p.add_argument("--qemu", action="store_true", help="only the QEMU driver figures (minutes)")
    qemu_bench.add_arguments(p)
    p.add_argument("--storage", action="store_true", help="only the storage figures (minutes)")
    storage_bench.add_arguments(p)
    p.add_argument("--migration", action="store_true",
                   help="only the migration figures (minutes)")
    migration_bench.add_arguments(p)
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="A/A check: a second libvirt worker in place of virtkit (ratios should be ~1)",
    )
    args = p.parse_args(argv)
    args.samples = args.samples or (5 if args.quick else 21)
    args.cli_samples = args.cli_samples or (5 if args.quick else 21)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.qemu:
        return qemu_bench.run_qemu(args)
    if args.storage:
        return storage_bench.run_storage(args)
    if args.migration:
        return migration_bench.run_migration(args)
    keys = [s.key for s in API_SPECS] + ["cli_list"] + remote.KEYS
    if args.list:
        print("\n".join(keys))
        return 0
    wanted = set(args.only.split(",")) if args.only else set(keys)
    if args.remote and not args.only:
        wanted = set(remote.KEYS)
    patterns = {w for w in wanted if any(c in w for c in "*?[")}
    wanted = (wanted - patterns) | {k for k in keys for p in patterns if fnmatch.fnmatch(k, p)}
    unknown = wanted - set(keys) or {p for p in patterns if not fnmatch.filter(keys, p)}
    if unknown:
        print(f"unknown figure(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2

    worker = libvirt_worker()
    vk_side: Side | None = None
    rows: list[dict[str, Any]] = []
    try:
        libvirt_version, libvirt_python = worker.version()
        meta = {
            "uri": URI,
            "libvirt_version": fmt_version(libvirt_version),
            "virtkit_version": "?",
            "python_virtkit": platform.python_version(),
            "python_libvirt": libvirt_python,
            "samples": args.samples,
            "cli_samples": args.cli_samples,
            "list_count": args.list_count,
            "xml_devices": args.xml_devices,
            "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "cpus": os.cpu_count(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        vk_side, vk_error = load_virtkit_side(args, meta)
        for spec in API_SPECS:
            if spec.key not in wanted:
                continue
            if vk_side is None:
                title = spec.title.format(list_count=args.list_count)
                rows.append({"key": spec.key, "title": title, "error": vk_error})
                continue
            print(f"... {spec.key}", file=sys.stderr, flush=True)
            rows.append(run_api(spec, vk_side, worker, args))
    finally:
        worker.close()
        if isinstance(vk_side, WorkerSide):
            vk_side.close()
    if "cli_list" in wanted and not args.calibrate:
        print("... cli_list", file=sys.stderr, flush=True)
        rows.append(run_cli(args))

    remote_rows: list[dict[str, Any]] = []
    if wanted & set(remote.KEYS):
        remote_rows, remote_meta = remote.run_remote(wanted, args)
    if rows:
        print(render(rows, meta))
    if remote_rows:
        print(("\n" if rows else "") + remote.render(remote_rows, remote_meta))
    if args.json:
        out: dict[str, Any] = {"meta": meta, "results": rows}
        if remote_rows:
            out["remote"] = {"meta": remote_meta, "results": remote_rows}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    rows += remote_rows
    if any("error" in r for r in rows):
        return 1
    if args.check and not all(r["met"] for r in rows if r["met"] is not None):
        return 1
    return 0


def load_virtkit_side(
    args: argparse.Namespace, meta: dict[str, Any]
) -> tuple[Side | None, str]:
    """The side measured against libvirt: virtkit in-process, or libvirt again (--calibrate)."""
    if args.calibrate:
        meta["virtkit_version"] = "(calibration: libvirt-python again)"
        return libvirt_worker(), ""
    try:
        import virtkit_side  # imports virtkit

        meta["virtkit_version"] = virtkit_side.version()
        return InProcessSide("virtkit", virtkit_side.BENCHES), ""
    except Exception as exc:
        return None, f"cannot load virtkit: {type(exc).__name__}: {exc}"


def fmt_version(v: int) -> str:
    return f"{v // 1_000_000}.{v // 1000 % 1000}.{v % 1000}"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(1)
