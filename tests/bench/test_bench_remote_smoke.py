"""Smoke test for the remote figures: both daemons, every figure, tiny counts, JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import remote  # noqa: E402

TINY = [
    "--samples", "2", "--iterations", "3", "--remote-list-count", "5", "--remote-clients", "3",
]  # fmt: skip

SIDE_KEYS = {"median_s_per_op", "ops_per_s", "samples_s_per_op", "daemon_cpu_s_per_op"}


def run_bench(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], Any]:
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


def test_every_remote_figure_runs_against_both_daemons(tmp_path: Path) -> None:
    proc, data = run_bench(tmp_path, "--remote")
    assert data["results"] == []  # --remote: no local figures
    meta, rows = data["remote"]["meta"], data["remote"]["results"]
    assert [row["key"] for row in rows] == remote.KEYS
    assert set(meta["uris"]) == {"virtkitd", "libvirtd"}
    assert meta["calibration"] is False
    assert meta["clients"] == 3 and meta["list_count"] == 5
    for row in rows:
        assert "error" not in row, row
        assert row["client"] in ("libvirt-python", "virtkit")
        assert row["ratio_of"] in ("time", "throughput")
        for daemon in ("virtkitd", "libvirtd"):
            side = row[daemon]
            assert set(side) >= SIDE_KEYS, side
            assert len(side["samples_s_per_op"]) == 2
            assert side["median_s_per_op"] > 0
        assert row["ratio"] > 0
        assert row["title"] in proc.stdout
    by_key = {row["key"]: row for row in rows}
    latency = by_key["remote_latency"]
    assert latency["virtkitd"]["calls"] == 2 * 3  # warm-up block dropped, 2 blocks of 3
    assert isinstance(latency["met"], bool)
    assert latency["met"] == (latency["ratio"] <= remote.LATENCY_GOAL)
    assert all(row["met"] is None for row in rows if row["key"] != "remote_latency")
    per_client = by_key["remote_concurrent"]["libvirtd"]["per_client_calls_last_window"]
    assert len(per_client) == 3
    assert "virtkitd" in proc.stdout and "libvirtd" in proc.stdout


def test_only_accepts_patterns_and_calibration_uses_two_libvirtds(tmp_path: Path) -> None:
    _, data = run_bench(tmp_path, "--only", "remote_latency*", "--calibrate")
    rows = data["remote"]["results"]
    assert [row["key"] for row in rows] == ["remote_latency", "remote_latency_vk"]
    assert data["remote"]["meta"]["calibration"] is True


def test_unknown_pattern_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--only", "remote_nope*"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "remote_nope*" in proc.stderr


def test_cpu_seconds_reads_this_process() -> None:
    import os

    t0 = remote.cpu_seconds(os.getpid())
    sum(i * i for i in range(300_000))
    assert remote.cpu_seconds(os.getpid()) >= t0 >= 0
