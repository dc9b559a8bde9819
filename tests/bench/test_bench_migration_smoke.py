"""bench/migration_bench.py end to end, one mode and one round: both pairs, every figure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import migration_bench  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.interop, pytest.mark.timeout(600)]


def test_migration_bench_runs_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "migration.json"
    rc = migration_bench.main(["--mig-rounds", "1", "--mig-modes", "p2p", "--mig-memory-mib",
                               "128", "--json", str(out)])
    assert rc == 0
    rows = {r["figure"]: r for r in json.loads(out.read_text())["results"]}
    assert set(rows) == {key for key, _, _ in migration_bench.FIGURES}
    for key, row in rows.items():
        for pair in migration_bench.PAIRS:
            assert isinstance(row[pair], float), (key, pair, row[pair])
            if key != "daemon_cpu_ms":  # 10 ms ticks: a short migration may show none
                assert row[pair] > 0, (key, pair)
    assert rows["data_mib"]["virtkitd"] > 10 and rows["data_mib"]["libvirtd"] > 10
