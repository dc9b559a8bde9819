"""The QEMU driver's stats readers on real files and this test's own process (the
groups themselves are compared with libvirtd on the same guest: tests/oracles)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from virtkit.drivers.qemu import procstats, stats


def test_qcow2_capacity_allocation_physical_of_a_stopped_domain(tmp_path: Path) -> None:
    image = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "3G"], check=True)
    raw = tmp_path / "d.raw"
    raw.write_bytes(b"\1" * 65536)
    qcow2_disk = SimpleNamespace(driver=SimpleNamespace(type="qcow2"))
    raw_disk = SimpleNamespace(driver=SimpleNamespace(type="raw"))
    sizes = stats._image_sizes(0, str(image), qcow2_disk)
    assert sizes["block.0.capacity"] == 3 << 30
    assert sizes["block.0.physical"] == image.stat().st_size
    assert sizes["block.0.allocation"] == image.stat().st_blocks * 512
    assert stats._image_sizes(2, str(raw), raw_disk) == {
        "block.2.allocation": raw.stat().st_blocks * 512, "block.2.capacity": 65536,
        "block.2.physical": 65536}
    assert stats._image_sizes(0, str(tmp_path / "absent"), raw_disk) == {}
    assert stats._qcow2_virtual_size(str(raw)) is None  # not a qcow2 header


def test_backing_index_is_the_node_number() -> None:
    assert stats._backing_index("libvirt-3-format") == 3
    assert stats._backing_index("libvirt-0-format") is None
    assert stats._backing_index("drive-virtio-disk0") is None
    assert stats._backing_index(None) is None


class _Owner:
    """Stands for the QEMU process object the clock keys its last value by."""


def test_cpu_clock_is_nanoseconds_and_never_goes_back() -> None:
    """On a busy child process (its threads all alive, like QEMU's vCPUs): schedstat's
    nanoseconds, never going back."""
    clock = procstats.ProcessCpuClock()
    owner = _Owner()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        values = []
        for _ in range(200):
            values.append(clock.read(owner, busy.pid))
            time.sleep(0.002)
    finally:
        busy.kill()
        busy.wait()
    assert values == sorted(values)
    assert values[-1] > values[0]
    # schedstat gives time at nanosecond resolution, not in clock ticks
    tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    assert any(v % tick for v in values)
    # a process that is gone reads as the last value, not as zero
    assert clock.read(owner, busy.pid) == values[-1]


def test_thread_readers_on_this_process() -> None:
    pid = os.getpid()
    tids = procstats.thread_ids(pid)
    assert pid in tids
    run, delay = procstats.schedstat(pid, pid)
    assert run > 0 and delay >= 0
    assert procstats.sched_wait_ns(pid, pid) >= 0
    user, system = procstats.stat_times(pid)
    assert user + system > 0
    assert (procstats.rss_kib(pid) or 0) > 0
    assert procstats.stat_times(2**22 + 7) == (0, 0)  # no such process: zeros
    assert procstats.rss_kib(2**22 + 7) is None
    assert "lo" in procstats.net_dev()
