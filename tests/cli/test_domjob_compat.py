"""domjobinfo, domjobabort and ``save``/``managedsave --verbose`` against Debian's virsh 9.0.

On test:///default (libvirt's test driver has no job calls) both tools give the same
errors and help. On virtkitd's QEMU driver with a real TCG guest, ``--verbose`` saves print
virsh's progress ("Save: [100 %]") and the same messages; the progress steps in between
depend on timing and are masked. The report layout of ``domjobinfo`` is checked against
virsh on the same daemon in tests/drivers/qemu/test_qemu_asyncjob.py; here against fixed
statistics.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.cli.domjob import format_job_info
from virtkit.constants import DomainJobOperation, DomainJobType
from virtkit.drivers.domainjob import JobData, JobStatus
from virtkit.testing.peers import start_virtkitd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drivers" / "qemu"))
import qemu_e2e

pytestmark = pytest.mark.interop

VIRSH = shutil.which("virsh") or "/usr/bin/virsh"
VIRTKIT = [sys.executable, "-m", "virtkit.cli.main"]
PROGRESS = re.compile(r"(\r(Save|Managedsave): \[ *\d+ %\])*\r(Save|Managedsave): \[100 %\]")


def _run(argv: list[str]) -> tuple[str, int]:
    env = dict(os.environ, LC_ALL="C", LANG="C")
    env.pop("LIBVIRT_DEFAULT_URI", None)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, timeout=120, check=False)
    return proc.stdout.decode(), proc.returncode


@pytest.mark.parametrize("args", [
    "domjobinfo test", "domjobinfo test --completed", "domjobinfo test --rawstats",
    "domjobinfo test --keep-completed", "domjobinfo nosuch", "domjobabort test",
    "domjobabort test --postcopy", "help domjobinfo", "help domjobabort",
])
def test_same_as_virsh_on_the_test_driver(args: str) -> None:
    virsh = _run([VIRSH, "-c", "test:///default", *args.split()])
    assert _run([*VIRTKIT, "-c", "test:///default", *args.split()]) == virsh


def test_report_layout() -> None:
    """virsh's cmdDomjobinfo layout: labels padded to 17, values to 12, capacities with
    three decimals, only the statistics present."""
    data = JobData(operation=DomainJobOperation.SAVE, status=JobStatus.MIGRATING,
                   time_elapsed=1234, stats={
                       "memory_total": 2 << 30, "memory_processed": 3 << 20,
                       "memory_remaining": (2 << 30) - (3 << 20), "memory_bps": 5 << 20,
                       "memory_dirty_rate": 0, "memory_iteration": 1,
                       "memory_postcopy_requests": 0, "memory_page_size": 4096,
                       "setup_time": 7})
    kind, params = data.to_params()
    assert kind == DomainJobType.UNBOUNDED
    assert format_job_info(data.to_info(), params, 0, False) == (
        "Job type:         Unbounded   \n"
        "Operation:        Save        \n"
        "Time elapsed:     1234         ms\n"
        "Data processed:   3.000 MiB\n"
        "Data remaining:   1.997 GiB\n"
        "Data total:       2.000 GiB\n"
        "Memory processed: 3.000 MiB\n"
        "Memory remaining: 1.997 GiB\n"
        "Memory total:     2.000 GiB\n"
        "Memory bandwidth: 5.000 MiB/s\n"
        "Dirty rate:       0            pages/s\n"
        "Page size:        4096         bytes\n"
        "Iteration:        1           \n"
        "Postcopy requests: 0           \n"
        "Setup time:       7            ms\n")


@pytest.fixture
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Any]]:
    root = qemu_e2e.QemuRoot()
    d = start_virtkitd(root.path)
    uri = d.uri("unix", "/system", "qemu")
    conn = virtkit.open(uri)
    try:
        yield uri, root.path, conn
    finally:
        for dom in conn.list_domains():
            if dom.is_active():
                dom.destroy()
        conn.close()
        d.stop()
        assert not root.cleanup()


@pytest.mark.slow
def test_verbose_saves_show_virshs_progress(daemon: tuple[str, Path, Any]) -> None:
    uri, root, conn = daemon
    guest = qemu_e2e.tg.ensure_guest()
    dom = conn.define_domain(qemu_e2e.domain_xml(guest, root, "vm1", memory_mib=128))
    image = root / "vm1.save"
    outputs = []
    for tool in ([VIRSH], VIRTKIT):
        dom.start()
        save = _run([*tool, "-c", uri, "save", "vm1", str(image), "--verbose"])
        conn.restore_domain(str(image))
        image.unlink()
        managed = _run([*tool, "-c", uri, "managedsave", "vm1", "--verbose"])
        outputs.append((save, managed))
        assert dom.has_managed_save()
    (vsave, vmanaged), (save, managed) = outputs
    assert vsave[1] == 0 and vmanaged[1] == 0, outputs
    assert PROGRESS.search(vsave[0]) and PROGRESS.search(vmanaged[0]), outputs
    assert PROGRESS.sub("<progress>", save[0]) == PROGRESS.sub("<progress>", vsave[0])
    assert PROGRESS.sub("<progress>", managed[0]) == PROGRESS.sub("<progress>", vmanaged[0])
    assert (save[1], managed[1]) == (0, 0)
