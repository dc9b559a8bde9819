"""bench/storage_bench.py end to end with small sizes: both daemons, every figure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import storage_bench  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.interop, pytest.mark.timeout(300)]


def test_storage_bench_runs_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "storage.json"
    rc = storage_bench.main(["--size-mib", "16", "--rounds", "1", "--refresh-count", "40",
                             "--json", str(out)])
    assert rc == 0
    rows = {r["key"]: r for r in json.loads(out.read_text())["results"]}
    assert set(rows) == {"storage_upload", "storage_download", "storage_sparse",
                         "storage_refresh"}
    for row in rows.values():
        assert row["virtkitd"] > 0 and row["libvirtd"] > 0 and row["ratio"] > 0
    assert rows["storage_refresh"]["volumes_seen"] == {"virtkitd": 40, "libvirtd": 40}
