"""Node statistics on qemu:///system side by side with Debian's libvirtd 9.0 (QEMU driver)
on the same host: the same virsh commands and libvirt-python calls against both daemons.

The host's counters move between the two calls, so values are compared for plausibility
(equal totals, CPU counts and maps; free memory within 10 %); key sets, order, typed
parameter types and error paths (code, domain, message) must be identical.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import qemu_peers  # noqa: E402

VIRSH = shutil.which("virsh") or "/usr/bin/virsh"
pytestmark = [pytest.mark.slow, pytest.mark.interop]  # make test installs the peers


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(libvirtd URI, virtkitd URI), both qemu:///system."""
    with qemu_peers.qemu_system_pair(tmp_path_factory.mktemp("peers")) as uris:
        yield uris


def _virsh(uri: str, *args: str) -> tuple[int, str, str]:
    out = subprocess.run([VIRSH, "-c", uri, *args], capture_output=True, text=True,
                         timeout=60)
    return out.returncode, out.stdout, out.stderr


def _rows(text: str) -> dict[str, int]:
    """``label: number [KiB]`` lines -> {label: number}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*(.+?)\s*:\s+(\d+)", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def _close(a: int, b: int, tolerance: float = 0.10) -> bool:
    return abs(a - b) <= tolerance * max(a, b, 1)


# ---------------------------------------------------------------- virsh, both daemons


def test_nodecpustats_shape(peers: tuple[str, str]) -> None:
    for args in ((), ("--cpu", "0"), ("--cpu", "1")):
        lv, vk = (_virsh(u, "nodecpustats", *args) for u in peers)
        assert lv[0] == vk[0] == 0, (lv, vk)
        rl, rv = _rows(lv[1]), _rows(vk[1])
        assert list(rl) == list(rv) == ["user", "system", "idle", "iowait"]
        # cumulative counters in nanoseconds, of whole clock ticks
        assert all(v % 1_000_000 == 0 for v in rv.values())
        assert _close(rl["user"] + rl["system"] + rl["idle"],
                      rv["user"] + rv["system"] + rv["idle"], 0.05)


def test_nodecpustats_percent_shape(peers: tuple[str, str]) -> None:
    lv, vk = (_virsh(u, "nodecpustats", "--percent") for u in peers)
    assert lv[0] == vk[0] == 0, (lv, vk)
    labels = [line.split(":")[0] for line in vk[1].splitlines() if line]
    assert labels == [line.split(":")[0] for line in lv[1].splitlines() if line]
    assert labels == ["usage", "user", "system", "idle", "iowait"]
    assert all(re.fullmatch(r"\S+:\s+\d+\.\d%", line) for line in vk[1].splitlines() if line)


def test_nodememstats_node_and_cell(peers: tuple[str, str]) -> None:
    for args in ((), ("--cell", "0")):
        lv, vk = (_virsh(u, "nodememstats", *args) for u in peers)
        assert lv[0] == vk[0] == 0, (lv, vk)
        rl, rv = _rows(lv[1]), _rows(vk[1])
        assert list(rl) == list(rv)
        assert rl["total"] == rv["total"]
        assert _close(rl["free"], rv["free"])


def test_freecell_and_nodeinfo(peers: tuple[str, str]) -> None:
    for args in (("freecell",), ("freecell", "--all"), ("freecell", "--cellno", "0")):
        lv, vk = (_virsh(u, *args) for u in peers)
        assert lv[0] == vk[0] == 0, (args, lv, vk)
        rl, rv = _rows(lv[1]), _rows(vk[1])
        assert list(rl) == list(rv), args
        assert all(_close(rl[k], rv[k]) for k in rl), (args, rl, rv)
    lv, vk = (_virsh(u, "nodeinfo") for u in peers)
    assert lv == vk  # model, CPUs, MHz, topology and total memory are the host's


def test_freepages(peers: tuple[str, str]) -> None:
    lv, vk = (_virsh(u, "freepages", "--all") for u in peers)
    assert lv[0] == vk[0] == 0, (lv, vk)
    assert [line.split(":")[0] for line in lv[1].splitlines()] == [
        line.split(":")[0] for line in vk[1].splitlines()]
    rl, rv = _rows(lv[1]), _rows(vk[1])
    base = f"{os.sysconf('SC_PAGE_SIZE') // 1024}KiB"
    assert _close(rl[base], rv[base])
    assert {k: v for k, v in rl.items() if k != base} == {
        k: v for k, v in rv.items() if k != base}
    lv, vk = (_virsh(u, "freepages", "--cellno", "0", "--pagesize", "2048") for u in peers)
    assert lv == vk


def test_nodecpumap_and_memory_tune(peers: tuple[str, str]) -> None:
    for args in (("nodecpumap",), ("nodecpumap", "--pretty"), ("node-memory-tune",)):
        lv, vk = (_virsh(u, *args) for u in peers)
        # KSM counters may move between the two calls; names, order and knobs are the same
        if args[0] == "node-memory-tune":
            lines_lv, lines_vk = (o[1].split("\n") for o in (lv, vk))
            assert [ln.split()[:1] for ln in lines_lv] == [ln.split()[:1] for ln in lines_vk]
            knobs = ("shm_pages_to_scan", "shm_sleep_millisecs", "shm_merge_across_nodes")
            assert [ln for ln in lines_lv if (ln.split() or [""])[0] in knobs] == [
                ln for ln in lines_vk if (ln.split() or [""])[0] in knobs]
        else:
            assert lv == vk, args


ERROR_CASES = [
    ("nodecpustats", "--cpu", "4096"), ("nodecpustats", "--cpu", "-2"),
    ("nodememstats", "--cell", "64"), ("nodememstats", "--cell", "-5"),
    ("freecell", "--cellno", "64"), ("freepages", "--cellno", "64", "--pagesize", "4"),
    ("freepages", "--cellno", "0", "--pagesize", "16"), ("freepages",),
    ("freepages", "--cellno", "0"), ("nodesevinfo",),
    ("node-memory-tune", "--shm-pages-to-scan", "-1"),
]


@pytest.mark.parametrize("args", ERROR_CASES, ids=" ".join)
def test_error_paths_as_libvirtd(peers: tuple[str, str], args: tuple[str, ...]) -> None:
    lv, vk = (_virsh(u, *args) for u in peers)
    assert lv[0] == vk[0] != 0
    assert lv[1:] == vk[1:]


# ---------------------------------------------------------------- the API and the wire

API_CHILD = r"""
import json, sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
c = libvirt.open(sys.argv[1])
out = {}
def t(name, f):
    try:
        out[name] = ["ok", f()]
    except libvirt.libvirtError as e:
        out[name] = ["err", e.get_error_code(), e.get_error_domain(), e.get_error_message()]
t("cpu", lambda: c.getCPUStats(-1))
t("cpu0", lambda: c.getCPUStats(0))
t("cpu_bad", lambda: c.getCPUStats(4096))
t("mem", lambda: c.getMemoryStats(-1))
t("mem0", lambda: c.getMemoryStats(0))
t("mem_bad", lambda: c.getMemoryStats(64))
t("cells", lambda: c.getCellsFreeMemory(0, 64))
t("cells_bad", lambda: c.getCellsFreeMemory(64, 1))
t("freemem", lambda: c.getFreeMemory())
t("pages", lambda: {str(k): {str(s): n for s, n in v.items()}
                    for k, v in c.getFreePages([4, 2048], 0, 1).items()})
t("pages_bad", lambda: c.getFreePages([3], 0, 1))
t("cpumap", lambda: c.getCPUMap())
t("info", lambda: c.getInfo())
t("memparams", lambda: c.getMemoryParameters())
t("sev", lambda: c.getSEVInfo())
t("secmodel", lambda: c.getSecurityModel())
print(json.dumps(out))
"""


def _api(uri: str) -> dict[str, Any]:
    out = subprocess.run(["/usr/bin/python3", "-c", API_CHILD, uri], capture_output=True,
                         text=True, timeout=60, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_libvirt_python_as_libvirtd(peers: tuple[str, str]) -> None:
    lv, vk = (_api(u) for u in peers)
    assert lv.keys() == vk.keys()
    for name in lv:
        a, b = lv[name], vk[name]
        assert a[0] == b[0], (name, a, b)
        if a[0] == "err" or name in ("cpumap", "secmodel", "sev"):
            assert a == b, name
    for name in ("cpu", "cpu0", "mem", "mem0", "memparams"):
        assert list(lv[name][1]) == list(vk[name][1]), name
    assert lv["mem"][1]["total"] == vk["mem"][1]["total"]
    assert _close(lv["freemem"][1], vk["freemem"][1])
    assert all(_close(x, y) for x, y in zip(lv["cells"][1], vk["cells"][1], strict=True))
    info_lv, info_vk = lv["info"][1], vk["info"][1]
    assert info_lv == info_vk  # model, memory MiB, CPUs, MHz, nodes, sockets, cores, threads
    assert lv["pages"][1]["0"]["2048"] == vk["pages"][1]["0"]["2048"]


def _wire_types(uri: str, proc: str, args: dict[str, Any]) -> list[tuple[str, Any]]:
    """(field, XDR value type) of each parameter the daemon sent for ``proc``."""
    import virtkit

    conn = virtkit.open(uri)
    try:
        ret = conn._hv._call(proc, args)  # type: ignore[attr-defined]
    finally:
        conn.close()
    return [(p["field"], p["value"][0] if isinstance(p["value"], tuple) else "uhyper")
            for p in ret["params"]]


@pytest.mark.parametrize(("proc", "args"), [
    ("node_get_memory_parameters", {"nparams": 8, "flags": 0}),
    ("node_get_cpu_stats", {"cpuNum": -1, "nparams": 4, "flags": 0}),
    ("node_get_memory_stats", {"cellNum": -1, "nparams": 4, "flags": 0}),
    ("node_get_memory_stats", {"cellNum": 0, "nparams": 2, "flags": 0}),
])
def test_wire_types_as_libvirtd(peers: tuple[str, str], proc: str, args: dict[str, Any]) -> None:
    lv, vk = (_wire_types(u, proc, args) for u in peers)
    assert lv == vk
    assert lv


# ---------------------------------------------------------------- virtkit's own CLI

STABLE = [("nodecpumap",), ("nodecpumap", "--pretty"), ("nodeinfo",),
          ("freepages", "--cellno", "0", "--pagesize", "2048"), *ERROR_CASES]


def _virtkit(uri: str, *args: str) -> tuple[int, str, str]:
    out = subprocess.run([sys.executable, "-m", "virtkit.cli.main", "-c", uri, *args],
                         capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout, out.stderr


@pytest.mark.parametrize("args", STABLE, ids=" ".join)
def test_virtkit_cli_prints_what_virsh_prints(peers: tuple[str, str],
                                              args: tuple[str, ...]) -> None:
    """virtkit's CLI against libvirtd prints what virsh prints against libvirtd."""
    ours, theirs = _virtkit(peers[0], *args), _virsh(peers[0], *args)
    assert (ours[0] != 0) == (theirs[0] != 0)
    assert ours[1:] == theirs[1:]


def test_virtkit_cli_json(peers: tuple[str, str]) -> None:
    uri = peers[1]
    stats = json.loads(_virtkit(uri, "nodecpustats", "--json")[1])
    assert list(stats) == ["kernel", "user", "idle", "iowait"]
    mem = json.loads(_virtkit(uri, "nodememstats", "--cell", "0", "--json")[1])
    assert list(mem) == ["total_kib", "free_kib"]
    cells = json.loads(_virtkit(uri, "freecell", "--all", "--json")[1])
    assert cells["total_kib"] == sum(c["free_kib"] for c in cells["cells"])
    cpumap = json.loads(_virtkit(uri, "nodecpumap", "--json")[1])
    assert cpumap["cpus_online"] == len(cpumap["online"])
    pages = json.loads(_virtkit(uri, "freepages", "--all", "--json")[1])
    assert pages[0]["pages"][0]["size_kib"] == os.sysconf("SC_PAGE_SIZE") // 1024
    ksm = json.loads(_virtkit(uri, "node-memory-tune", "--json")[1])
    assert "shm_pages_to_scan" in ksm
