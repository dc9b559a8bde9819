"""bench/qemu_bench.py: every QEMU figure end to end (slow), and its pieces (fast)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import qemu_bench  # noqa: E402
import qemu_peers  # noqa: E402
import qemu_worker  # noqa: E402

SYSTEMS = {"virtkit", "virtkit_client", "libvirt", "bare"}


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_qemu_figure_runs_once_against_every_system(tmp_path: Path) -> None:
    out = tmp_path / "qemu.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--qemu", "--qemu-samples", "1",
         "--qemu-parallel-samples", "1", "--qemu-guests", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=850, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    meta, rows = data["meta"], data["results"]
    assert [r["key"] for r in rows] == qemu_bench.KEYS
    assert meta["samples"] == 1 and meta["guests"] == 2
    assert set(meta["uris"]) == {"virtkitd", "libvirtd"}
    assert meta["bare_argv_matches_virtkit"] is True  # bare QEMU ran virtkit's command line
    assert set(meta["argv"]) == SYSTEMS
    by_key = {r["key"]: r for r in rows}
    for key in ("qemu_boot", "qemu_create", "qemu_destroy", "qemu_parallel"):
        systems = by_key[key]["systems"]
        assert set(systems) == SYSTEMS
        for side in systems.values():
            assert side["median_s"] > 0 and len(side["samples_s"]) == 1
    boot = by_key["qemu_boot"]["systems"]
    assert boot["bare"]["overhead_s"] == 0
    for s in ("virtkit", "virtkit_client"):
        expected = boot[s]["overhead_s"] <= 0.1 and boot[s]["overhead_s"] < boot["libvirt"][
            "overhead_s"
        ]
        assert boot[s]["met"] is expected
    assert by_key["qemu_boot"]["met"] is boot["virtkit"]["met"]
    assert by_key["qemu_boot"]["bare_init_s"]["median_s"] > 0  # the raw-QMP reference start
    for s in ("virtkit", "virtkit_client", "libvirt"):
        assert "startup_overhead_s" in boot[s]
    # the guest cannot print its marker before the create call returned
    for s in SYSTEMS:
        assert boot[s]["median_s"] > by_key["qemu_create"]["systems"][s]["median_s"]
    assert set(by_key["qemu_destroy"]["gone"]) == SYSTEMS
    assert set(by_key["qemu_create"]["daemon_cpu"]) == {"virtkit", "virtkit_client", "libvirt"}
    assert by_key["qemu_parallel"]["guests"] == 2
    rss = by_key["qemu_daemon_rss"]["daemons"]
    for daemon in ("virtkitd", "libvirtd"):
        assert rss[daemon]["median_kib"] > 1024 and rss[daemon]["idle_kib"] > 1024
    assert "create call -> boot marker" in proc.stdout
    # nothing the run started is left: no daemon, no QEMU, no work folder
    m = re.search(r"qemu figures in (\S+)", proc.stderr)
    assert m, proc.stderr
    workdir = m.group(1)
    assert not Path(workdir).exists()
    deadline = time.monotonic() + 5
    while _processes_mentioning(workdir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_mentioning(workdir) == []


# --- pieces ------------------------------------------------------------------------------


def test_rounds_alternate_direction_after_a_warmup() -> None:
    order = qemu_bench.rounds(["a", "b", "c"], 2)
    assert order == [(-1, "a"), (-1, "b"), (-1, "c"), (0, "c"), (0, "b"), (0, "a"),
                     (1, "a"), (1, "b"), (1, "c")]  # fmt: skip
    assert qemu_bench.rounds(["a", "b"], 1, warmup=0) == [(0, "a"), (0, "b")]


def test_paired_overhead_is_the_median_of_round_differences() -> None:
    assert qemu_bench.paired_overhead([3.0, 2.5, 9.0], [2.0, 2.4, 2.0]) == pytest.approx(1.0)


def test_normalised_argv_ignores_name_paths_uuid_and_pause() -> None:
    a = ["qemu", "-name", "guest=x1,debug-threads=on", "-S", "-uuid", "u-1",
         "-chardev", "pty,id=c,logfile=/tmp/a/x1.log", "-m", "256"]  # fmt: skip
    b = ["qemu", "-name", "guest=y2,debug-threads=on", "-uuid", "u-2",
         "-chardev", "pty,id=c,logfile=/tmp/b/y2.log", "-m", "256"]  # fmt: skip
    assert qemu_bench.normalised(a, "x1") == qemu_bench.normalised(b, "y2")
    assert qemu_bench.normalised(a, "x1") != qemu_bench.normalised([*b[:-1], "512"], "y2")


def test_wait_markers_sees_a_marker_written_later(tmp_path: Path) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log"]

    def write() -> None:
        time.sleep(0.05)
        logs[0].write_text("noise\nMARK")
        time.sleep(0.05)
        with open(logs[1], "w") as f:
            f.write("MA")
            f.flush()
            time.sleep(0.02)
            f.write("RK here\n")  # split across two reads

    t = threading.Thread(target=write)
    t0 = time.perf_counter()
    t.start()
    found = qemu_worker.wait_markers([str(p) for p in logs], "MARK", t0, 5.0)
    t.join()
    assert 0.04 < found[0] < found[1] < 2.0


def test_wait_markers_times_out_and_aborts(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("no marker")
    with pytest.raises(TimeoutError):
        qemu_worker.wait_markers([str(log)], "MARK", time.perf_counter(), 0.05)
    with pytest.raises(RuntimeError, match="gave up"):
        qemu_worker.wait_markers([str(log)], "MARK", time.perf_counter(), 5.0,
                                 abort=lambda: "gave up")  # fmt: skip


def test_domain_xml_is_a_tcg_guest_logging_its_serial_port() -> None:
    xml = qemu_worker.domain_xml("g1", "/k", "/i", "console=ttyS0", "/tmp/g1.log")
    assert "<domain type='qemu'>" in xml and "machine='q35'" in xml
    assert "<log file='/tmp/g1.log'/>" in xml and "<console type='pty'/>" in xml


def test_libvirtd_setup_keeps_host_paths_private(tmp_path: Path) -> None:
    script = qemu_peers._setup_script(tmp_path, tmp_path / "c.conf", tmp_path / "p.pid")
    lines = script.splitlines()
    # every write under /etc, /var or /run/libvirt happens after the private mounts
    mounts = [i for i, line in enumerate(lines) if line.startswith("mount ")]
    writes = [i for i, line in enumerate(lines) if ">> /etc/" in line or "/etc/libvirt" in line]
    assert len(mounts) == 4 and writes and min(writes) > max(mounts)
    assert "lowerdir=/etc" in script and "lowerdir=/var" in script
    assert lines[-1].startswith("exec /usr/sbin/libvirtd")


def test_subreaper_kills_and_reaps_orphans_left_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "orphan.pid"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "qemu_peers.py"), "reaper", "--", "sh", "-c",
         f"sleep 60 & echo $! > {pid_file}; exit 3"],
        timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 3
    orphan = int(pid_file.read_text())
    assert not os.path.exists(f"/proc/{orphan}")  # killed and reaped, not left to PID 1
