"""Smoke test for bench/: every figure runs end to end with tiny iteration counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import domxml  # noqa: E402
import harness  # noqa: E402

TINY = [
    "--samples", "2", "--cli-samples", "2", "--iterations", "2",
    "--list-count", "20", "--xml-devices", "4",
]  # fmt: skip


def run_bench(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), *TINY, "--json", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, json.loads(out.read_text())


def test_every_figure_runs_on_both_sides(tmp_path: Path) -> None:
    proc, data = run_bench(tmp_path)
    keys = [row["key"] for row in data["results"]]
    assert keys == ["lookup_info", "lifecycle", "list_all", "large_xml", "parse_format", "cli_list"]
    for row in data["results"]:
        assert "error" not in row, row
        for side in ("virtkit", "libvirt"):
            assert len(row[side]["samples_s_per_op"]) == 2
            assert row[side]["median_s_per_op"] > 0
        assert row["ratio"] > 0
        assert isinstance(row["met"], bool)
        assert row["title"] in proc.stdout
    assert data["meta"]["libvirt_version"].startswith("9.")


def test_calibration_compares_libvirt_with_itself(tmp_path: Path) -> None:
    _, data = run_bench(tmp_path, "--calibrate", "--only", "lookup_info,list_all")
    assert [row["key"] for row in data["results"]] == ["lookup_info", "list_all"]
    assert all(row["ratio"] > 0 for row in data["results"])


def test_unknown_figure_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--only", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "nope" in proc.stderr


def test_worker_reports_errors_and_times_batches() -> None:
    worker = harness.libvirt_worker()
    try:
        with pytest.raises(harness.BenchError, match="KeyError"):
            worker.run("no-such-bench", 1)
        worker.setup("lookup_info", {})
        assert worker.run("lookup_info", 10) > 0
        worker.teardown("lookup_info")
    finally:
        worker.close()


def test_interleave_alternates_and_drops_warmup() -> None:
    calls: list[str] = []

    def runner(name: str) -> float:
        def run() -> float:
            calls.append(name)
            return float(len(calls))

        return run

    res = harness.interleave({"a": runner("a"), "b": runner("b")}, samples=3, warmup=1)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert res["a"].per_op == [4.0, 5.0, 8.0]
    assert res["b"].per_op == [3.0, 6.0, 7.0]
    assert res["a"].median == 5.0


def test_large_domain_has_unique_disk_targets() -> None:
    assert [domxml.disk_suffix(i) for i in (0, 25, 26, 701, 702)] == [
        "a", "z", "aa", "zz", "aaa",
    ]  # fmt: skip
    xml = domxml.large_domain("x", disks=300, nics=3)
    targets = [part.split("'")[0] for part in xml.split("<target dev='")[1:]]
    assert len(targets) == len(set(targets)) == 300
    assert xml.count("<interface ") == 3


def test_large_xml_figure_compares_equal_work() -> None:
    """Both sides of `large_xml` turn the document into the same formatted XML."""
    import virtkit
    doc = domxml.large_domain("bench-xml", disks=30, nics=30)
    script = (
        "import sys, libvirt\n"
        "libvirt.registerErrorHandler(lambda *a: None, None)\n"
        "c = libvirt.open('test:///default')\n"
        "sys.stdout.write(c.defineXML(sys.stdin.read()).XMLDesc(0))\n"
    )
    libvirt_out = subprocess.run(
        [harness.SYSTEM_PYTHON, "-c", script],
        input=doc,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with virtkit.open("test:///default") as conn:
        assert conn.define_domain(doc).xml() == libvirt_out
