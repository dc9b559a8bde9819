"""`make demo` (scripts/demo.py) runs to completion and shows what it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_the_whole_session() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    # every step, in order
    steps = [
        "== list all domains",
        "== define demo-web from XML",
        "== start demo-web",
        "== suspend demo-web",
        "== resume demo-web",
        "== domstats demo-web",
        "== shutdown demo-web",
        "== undefine demo-web",
        "== CLI: virtkit -c test:///default list --all",
    ]
    positions = [out.index(s) for s in steps]
    assert positions == sorted(positions)
    # the lifecycle events, as they arrived, in order
    events = [
        "event: demo-web: DEFINED/ADDED",
        "event: demo-web: STARTED/BOOTED",
        "event: demo-web: SUSPENDED/PAUSED",
        "event: demo-web: RESUMED/UNPAUSED",
        "event: demo-web: STOPPED/SHUTDOWN",
        "event: demo-web: UNDEFINED/REMOVED",
    ]
    positions = [out.index(e) for e in events]
    assert positions == sorted(positions)
    assert "demo-web is paused" in out
    assert "state.state=" in out  # a domstats record
    assert out.rstrip().endswith("demo finished: every step succeeded")


def test_demo_fails_loudly_when_a_step_fails() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "-c", "test:///no/such/node.xml"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "demo FAILED" in proc.stderr
    assert "demo finished" not in proc.stdout
