"""Host capabilities of the QEMU driver against Debian's libvirtd 9.0, side by side.

Stock ``virsh capabilities`` against libvirtd's QEMU driver and against virtkitd's on
this machine, compared element by element (each element's path, attributes and
text). Every difference must be listed in ``JUSTIFIED`` with its reason (also in
docs/compat.md, "Host capabilities"); a listed difference that went away fails too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.cpu import hosttopo

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "bench"))
import qemu_peers  # noqa: E402

VIRSH = shutil.which("virsh") or "/usr/bin/virsh"

# (side, element line) -> reason. A line is "path attrs = text" of one element.
JUSTIFIED: dict[tuple[str, str], str] = {
    # libvirt stacks its DAC driver under security_driver = "none" (it chowns images to
    # the QEMU user, +0:+0 in the peer's config); virtkit has no DAC driver: QEMU runs
    # as the daemon's own user and nothing is relabelled, so it reports only 'none'.
    # libvirt built with RDMA lists rdma:// migration; virtkit's migration refuses it
    ("libvirt", "capabilities/host/migration_features/uri_transports/uri_transport {} = rdma"):
        "virtkit migrates over tcp only",
    ("libvirt", "capabilities/host/secmodel {} = "): "no DAC security driver in virtkit",
    ("libvirt", "capabilities/host/secmodel/model {} = dac"): "no DAC security driver",
    ("libvirt", "capabilities/host/secmodel/doi {} = 0"): "no DAC security driver",
    ("libvirt", "capabilities/host/secmodel/baselabel {'type': 'kvm'} = +0:+0"):
        "no DAC security driver",
    ("libvirt", "capabilities/host/secmodel/baselabel {'type': 'qemu'} = +0:+0"):
        "no DAC security driver",
}


def _lines(xml: str) -> list[str]:
    """Every element as "path attrs = text", in document order (the host UUID masked:
    without SMBIOS libvirtd makes up a random one at each start, virtkit uses
    /etc/machine-id)."""
    out: list[str] = []

    def walk(node: ET.Element, path: str) -> None:
        here = f"{path}/{node.tag}" if path else node.tag
        text = (node.text or "").strip()
        if here == "capabilities/host/uuid":
            text = "UUID"
        out.append(f"{here} {dict(sorted(node.attrib.items()))} = {text}")
        for child in node:
            walk(child, here)

    walk(ET.fromstring(xml), "")
    return out


def _virsh(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VIRSH, "-c", uri, *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(libvirtd URI, virtkitd URI), both qemu:///system."""
    with qemu_peers.qemu_system_pair(tmp_path_factory.mktemp("peers")) as uris:
        yield uris


def _differences(lv: list[str], vk: list[str]) -> set[tuple[str, str]]:
    """Element lines one side has more often than the other (multiset difference, so
    an element missing once from a repeated group is caught)."""
    from collections import Counter

    a, b = Counter(lv), Counter(vk)
    return ({("libvirt", k) for k in a - b} | {("virtkit", k) for k in b - a})


@pytest.mark.slow
@pytest.mark.interop
def test_capabilities_as_libvirtd(peers: tuple[str, str]) -> None:
    lv, vk = _virsh(peers[0], "capabilities"), _virsh(peers[1], "capabilities")
    assert lv.returncode == 0 and vk.returncode == 0, (lv.stderr, vk.stderr)
    lv_lines, vk_lines = _lines(lv.stdout), _lines(vk.stdout)
    found = _differences(lv_lines, vk_lines)
    assert found == set(JUSTIFIED), (
        f"new: {sorted(found - set(JUSTIFIED))}\ngone: {sorted(set(JUSTIFIED) - found)}")
    # outside the justified elements the order is libvirt's too (machine types, features)
    drop = {line for _, line in JUSTIFIED}
    assert [x for x in lv_lines if x not in drop] == [x for x in vk_lines if x not in drop]


@pytest.mark.slow
@pytest.mark.interop
def test_sysinfo_as_libvirtd(peers: tuple[str, str]) -> None:
    lv, vk = _virsh(peers[0], "sysinfo"), _virsh(peers[1], "sysinfo")
    assert (vk.returncode, vk.stdout, vk.stderr) == (lv.returncode, lv.stdout, lv.stderr)


def test_capabilities_host_section_from_sysfs(tmp_path: Path) -> None:
    """The sysfs readers on a tree this test builds: two NUMA-less CPUs sharing an L3,
    each with its own L2 (not reported: libvirt shows level 3 and above only)."""
    cpu_root = tmp_path / "sys/devices/system/cpu"
    (cpu_root).mkdir(parents=True)
    (cpu_root / "online").write_text("0-1\n")
    for cpu in (0, 1):
        topo = cpu_root / f"cpu{cpu}/topology"
        topo.mkdir(parents=True)
        for name, value in (("physical_package_id", 0), ("die_id", 0), ("core_id", cpu),
                            ("thread_siblings_list", cpu)):
            (topo / name).write_text(f"{value}\n")
        for index, (level, kind, size, ident, shared) in enumerate(
                ((2, "Unified", "512K", cpu, str(cpu)), (3, "Unified", "32768K", 0, "0-1"))):
            d = cpu_root / f"cpu{cpu}/cache/index{index}"
            d.mkdir(parents=True)
            for attr, text in (("level", level), ("type", kind), ("size", size),
                               ("id", ident), ("shared_cpu_list", shared)):
                (d / attr).write_text(f"{text}\n")
    banks = hosttopo.cache_banks(str(tmp_path))
    assert banks == [hosttopo.CacheBank(0, 3, "both", 32 * 1024 * 1024, "0-1")]
    assert hosttopo.pretty_size(banks[0].size) == (32, "MiB")
    cpus = hosttopo.cell_cpus(None, 2, str(tmp_path))
    assert [(c.id, c.core_id, c.siblings) for c in cpus] == [(0, 0, "0"), (1, 1, "1")]
    assert hosttopo.format_cpulist([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    # two NUMA nodes: node 1 holds CPU 1 and is 21 away from node 0
    for node, cpulist, distance in ((0, "0", "10 21"), (1, "1", "21 10")):
        d = tmp_path / f"sys/devices/system/node/node{node}"
        d.mkdir(parents=True)
        (d / "cpulist").write_text(f"{cpulist}\n")
        (d / "distance").write_text(f"{distance}\n")
    assert [c.id for c in hosttopo.cell_cpus(1, 2, str(tmp_path))] == [1]
    assert hosttopo.cell_distances(1, [0, 1], str(tmp_path)) == [(0, 21), (1, 10)]
