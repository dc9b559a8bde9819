"""The shared host module (drivers/nodeinfo.py) on a /proc and /sys tree the test builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from virtkit.drivers import nodeinfo
from virtkit.drivers.nodeinfo import Host
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

PROC_STAT = """\
cpu  100 20 300 4000 50 6 7 8 0 0
cpu0 60 10 200 2000 30 4 5 4 0 0
cpu1 40 10 100 2000 20 2 2 4 0 0
intr 12345
ctxt 999
"""

MEMINFO = """\
MemTotal:        8000000 kB
MemFree:         5000000 kB
MemAvailable:    6000000 kB
Buffers:          100000 kB
Cached:          1000000 kB
SwapCached:            0 kB
"""


def _node_meminfo(n: int, total: int, free: int) -> str:
    return (f"Node {n} MemTotal:       {total} kB\nNode {n} MemFree:        {free} kB\n"
            f"Node {n} MemUsed:        {total - free} kB\n")


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A two-node host: 4 CPUs present, 0-1 and 3 online, 2 MiB and 1 GiB huge pages, KSM."""
    _write(tmp_path, "proc/stat", PROC_STAT)
    _write(tmp_path, "proc/meminfo", MEMINFO)
    _write(tmp_path, "sys/devices/system/cpu/present", "0-3\n")
    _write(tmp_path, "sys/devices/system/cpu/online", "0-1,3\n")
    for n, (total, free) in enumerate(((4000000, 3000000), (4000000, 2000000))):
        _write(tmp_path, f"sys/devices/system/node/node{n}/meminfo",
               _node_meminfo(n, total, free))
        hp = f"sys/devices/system/node/node{n}/hugepages"
        _write(tmp_path, f"{hp}/hugepages-2048kB/nr_hugepages", "16\n")
        _write(tmp_path, f"{hp}/hugepages-2048kB/free_hugepages", f"{10 + n}\n")
    _write(tmp_path, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "32\n")
    _write(tmp_path, "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "21\n")
    _write(tmp_path, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n")
    _write(tmp_path, "sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", "0\n")
    ksm = {"pages_to_scan": 100, "sleep_millisecs": 20, "pages_shared": 1, "pages_sharing": 2,
           "pages_unshared": 3, "pages_volatile": 4, "full_scans": 5, "merge_across_nodes": 1,
           "run": 0}
    for name, value in ksm.items():
        _write(tmp_path, f"sys/kernel/mm/ksm/{name}", f"{value}\n")
    _write(tmp_path, "proc/cpuinfo", "".join(
        f"processor\t: {i}\ncpu MHz\t\t: 2400.123\nphysical id\t: 0\ncore id\t\t: {i}\n\n"
        for i in range(4)))
    return tmp_path


@pytest.fixture
def host(tree: Path) -> Host:
    return Host(tree, clock_ticks=100, page_kib=4)


def _err(fn: object, *args: object) -> VirtError:
    with pytest.raises(VirtError) as info:
        fn(*args)  # type: ignore[operator]
    return info.value


def test_cpu_stats_total_and_per_cpu_in_nanoseconds(host: Host) -> None:
    # kernel = system + irq + softirq, user = user + nice; ticks of 10 ms
    assert host.cpu_stats(-1) == {"kernel": 313 * 10**7, "user": 120 * 10**7,
                                  "idle": 4000 * 10**7, "iowait": 50 * 10**7}
    assert list(host.cpu_stats(1)) == ["kernel", "user", "idle", "iowait"]
    assert host.cpu_stats(1)["kernel"] == 104 * 10**7


def test_cpu_stats_bad_cpu_is_libvirts_error(host: Host) -> None:
    e = _err(host.cpu_stats, 7)
    assert (e.code, e.domain, e.message) == (
        ErrorCode.INVALID_ARG, ErrorDomain.NONE, "Invalid cpuNum in virHostCPUGetStatsLinux")


def test_cpu_stats_short_line(tmp_path: Path) -> None:
    _write(tmp_path, "proc/stat", "cpu  1 2 3 4\ncpu0 1 2 3 4\n")  # old kernels: 4 fields
    h = Host(tmp_path, clock_ticks=100, page_kib=4)
    assert h.cpu_stats(0) == {"kernel": 3 * 10**7, "user": 3 * 10**7, "idle": 4 * 10**7,
                              "iowait": 0}


def test_cpu_map_from_present_and_online(host: Host) -> None:
    assert host.cpu_map() == (4, [True, True, False, True], 3)


def test_memory_stats_node_and_cells(host: Host) -> None:
    assert host.memory_stats(-1) == {"total": 8000000, "free": 5000000, "buffers": 100000,
                                     "cached": 1000000}
    assert host.memory_stats(1) == {"total": 4000000, "free": 2000000}
    e = _err(host.memory_stats, 2)
    assert (e.code, e.domain, e.message) == (
        ErrorCode.INVALID_ARG, ErrorDomain.NONE,
        "cellNum in virHostMemGetStats must be less than or equal to 1")


def test_cells_free_memory(host: Host) -> None:
    assert host.cells_free_memory(0, 8) == [3000000 * 1024, 2000000 * 1024]
    assert host.cells_free_memory(1, 1) == [2000000 * 1024]
    e = _err(host.cells_free_memory, 2, 1)
    assert (e.code, e.message) == (ErrorCode.INTERNAL_ERROR,
                                   "internal error: start cell 2 out of range (0-1)")
    # virHostMemGetInfo sums the nodes
    assert host.memory_info() == (8000000 * 1024, 5000000 * 1024)


def test_free_pages_per_cell_and_size(host: Host) -> None:
    assert host.page_sizes() == [4, 2048, 1048576]
    assert host.page_sizes(0) == [4, 2048]
    assert host.free_pages([4, 2048], 0, 2) == [3000000 // 4, 10, 2000000 // 4, 11]
    # base pages available exclude what huge pages took
    assert host.page_info(0, 4) == ((4000000 - 16 * 2048) // 4, 3000000 // 4)
    e = _err(host.free_pages, [1048576], 0, 1)
    assert (e.code, e.message) == (
        ErrorCode.OPERATION_FAILED,
        "operation failed: page size 1048576 is not available on node 0")
    e = _err(host.free_pages, [4], 5, 1)
    assert e.message == "internal error: start cell 5 out of range (0-1)"


def test_no_numa_is_one_fake_cell(tmp_path: Path) -> None:
    _write(tmp_path, "proc/meminfo", MEMINFO)
    _write(tmp_path, "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "3\n")
    _write(tmp_path, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "3\n")
    h = Host(tmp_path, clock_ticks=100, page_kib=4)
    assert h.memory_stats(0) == h.memory_stats(-1)  # cell 0 is the whole host
    assert h.cells_free_memory(0, 4) == [5000000 * 1024]
    assert h.free_pages([4, 2048], 0, 1) == [5000000 // 4, 3]
    assert _err(h.cells_free_memory, 1, 1).message == (
        "internal error: start cell 1 out of range (0-0)")


def test_memory_parameters_get_and_set(host: Host, tree: Path) -> None:
    assert host.memory_parameters() == {
        "shm_pages_to_scan": 100, "shm_sleep_millisecs": 20, "shm_pages_shared": 1,
        "shm_pages_sharing": 2, "shm_pages_unshared": 3, "shm_pages_volatile": 4,
        "shm_full_scans": 5, "shm_merge_across_nodes": 1}
    host.set_memory_parameters({"shm_pages_to_scan": 200, "shm_merge_across_nodes": 0})
    assert (tree / "sys/kernel/mm/ksm/pages_to_scan").read_text() == "200"
    assert host.memory_parameters()["shm_merge_across_nodes"] == 0
    e = _err(host.set_memory_parameters, {"shm_pages_shared": 1})
    assert (e.code, e.message) == (
        ErrorCode.ARGUMENT_UNSUPPORTED,
        "argument unsupported: parameter 'shm_pages_shared' not supported")
    e = _err(host.set_memory_parameters, {"shm_pages_to_scan": -1})
    assert e.code == ErrorCode.INVALID_ARG


def test_memory_parameters_without_ksm(tmp_path: Path) -> None:
    h = Host(tmp_path, clock_ticks=100, page_kib=4)
    assert h.memory_parameters() == {}
    e = _err(h.set_memory_parameters, {"shm_sleep_millisecs": 10})
    assert (e.code, e.message) == (
        ErrorCode.OPERATION_INVALID,
        "Requested operation is not valid: Parameter 'shm_sleep_millisecs' is not supported "
        "by this kernel")


def test_ksm_types_are_libvirts() -> None:
    types = {k: t for k, (_, t, _) in nodeinfo.KSM_PARAMS.items()}
    assert types == {"shm_pages_to_scan": "uint", "shm_sleep_millisecs": "uint",
                     "shm_pages_shared": "ullong", "shm_pages_sharing": "ullong",
                     "shm_pages_unshared": "ullong", "shm_pages_volatile": "ullong",
                     "shm_full_scans": "ullong", "shm_merge_across_nodes": "uint"}


def test_node_info_from_the_tree(host: Host) -> None:
    info = host.node_info()
    assert (info.memory, info.cpus, info.mhz, info.nodes) == (8000000, 3, 2400, 2)


def test_flags_and_sev(host: Host) -> None:
    e = _err(nodeinfo.cpu_stats, -1, 1, host)
    assert e.message == "unsupported flags (0x1) in function virHostCPUGetStats"
    assert nodeinfo.memory_parameters(4, host)["shm_full_scans"] == 5  # STRING_OKAY
    e = _err(nodeinfo.sev_info, 0, host)
    assert (e.code, e.domain, e.message) == (
        ErrorCode.OPERATION_UNSUPPORTED, ErrorDomain.QEMU,
        "Operation not supported: QEMU does not support SEV guest")
