"""bench/api_survey.py: a small subset end to end (slow), and the report pieces (fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import api_survey  # noqa: E402

# read-only calls both daemons answer, one virtkitd does not support (issue 20), and one
# that fails on both (no snapshot-less guest has a current snapshot: run in the sequence)
ONLY = r"^virDomain\.(info|name|blockStats|XMLDesc|vcpuPinInfo)$|^virConnect\.getVersion$"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_subset_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "survey.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "api_survey.py"), "--only", ONLY, "--json", str(out)],
        capture_output=True, text=True, timeout=850, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    rows = {r["method"]: r for r in data["rows"]}
    assert set(rows) == {"virDomain.info", "virDomain.name", "virDomain.blockStats",
                         "virDomain.XMLDesc", "virDomain.vcpuPinInfo", "virConnect.getVersion"}
    for name in ("virDomain.info", "virDomain.name", "virDomain.blockStats",
                 "virDomain.XMLDesc", "virConnect.getVersion"):
        assert rows[name]["libvirtd"]["outcome"] == "ok", rows[name]
        assert rows[name]["virtkitd"]["outcome"] == "ok", rows[name]
    pin = rows["virDomain.vcpuPinInfo"]
    assert pin["libvirtd"]["outcome"] == "ok"
    assert pin["virtkitd"]["outcome"] == "libvirt"
    assert pin["virtkitd"]["code"] == "VIR_ERR_NO_SUPPORT"
    t = data["totals"]
    assert (t["methods"], t["libvirtd_ok"], t["both_ok"]) == (6, 6, 5)
    assert data["missing_on_virtkitd"] == {"VIR_ERR_NO_SUPPORT": ["virDomain.vcpuPinInfo"]}
    assert data["connection_problems"] == {"libvirtd": [], "virtkitd": []}
    assert data["daemons_alive_at_end"] == {"libvirtd": True, "virtkitd": True}
    assert data["cleanup_problems"] == {"libvirtd": [], "virtkitd": []}
    assert "6 methods succeed on libvirtd, 5 of them succeed on virtkitd" in proc.stdout
    assert "VIR_ERR_NO_SUPPORT (1): virDomain.vcpuPinInfo" in proc.stdout
    # its work folder and every process it started are gone
    work = data["meta"]["work"]
    assert not Path(work).exists()
    assert api_survey.qemu_e2e.qemu_pids(work) == []


# --- pieces ------------------------------------------------------------------------------


def _rec(method: str, outcome: str, code: str | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {"method": method, "outcome": outcome}
    if code is not None:
        rec["code"] = code
    return rec


def test_compare_counts_and_groups_by_virtkitd_outcome() -> None:
    lv = [_rec("a", "ok"), _rec("b", "ok"), _rec("c", "ok"), _rec("d", "libvirt", "X"),
          _rec("e", "ok"), _rec("f", "not_run")]
    vk = [_rec("a", "ok"), _rec("b", "libvirt", "VIR_ERR_NO_SUPPORT"),
          _rec("c", "client", "LookupError"), _rec("d", "ok"), _rec("e", "broken"),
          _rec("f", "not_run")]
    rep = api_survey.compare({"libvirtd": {"results": lv}, "virtkitd": {"results": vk}})
    assert rep["totals"] == {"methods": 6, "libvirtd_ok": 4, "both_ok": 1, "virtkitd_ok": 2,
                             "virtkitd_only_ok": 1, "not_run": 1}
    assert rep["missing_on_virtkitd"] == {"VIR_ERR_NO_SUPPORT": ["b"],
                                          "broken(None)": ["e"], "client:LookupError": ["c"]}
    assert rep["virtkitd_only_ok"] == ["d"]
    assert [r["method"] for r in rep["connection_problems"]["virtkitd"]] == ["e"]
    text = api_survey.render(rep, {"libvirtd": None, "virtkitd": None})
    assert text.startswith("!!! virtkitd BUGS")  # a dropped connection is listed first
    assert "4 methods succeed on libvirtd, 1 of them succeed on virtkitd" in text


def test_labels() -> None:
    assert api_survey.label(_rec("m", "ok")) == "ok"
    assert api_survey.label(_rec("m", "libvirt", "VIR_ERR_NO_SUPPORT")) == "VIR_ERR_NO_SUPPORT"
    assert api_survey.label(_rec("m", "client", "TypeError")) == "client:TypeError"
    assert api_survey.label(_rec("m", "hang")) == "hang"
    assert api_survey.label(_rec("m", "not_run")) == "not run"
    assert api_survey.label(None) == "-"
