"""``<compat>``, ``<clusterSize>`` and ``<features>`` of volume XML against libvirtd 9.0.

Debian's libvirtd (storage driver, private mount namespace) and virtkitd each get a
``dir`` pool, driven with stock ``virsh``. Seeded qcow2 volume definitions (compat
0.10/1.1 or none, cluster sizes, ``<features>`` empty or with ``lazy_refcounts``) are
created by both: ``vol-dumpxml`` must show the same target facts right after the
creation (libvirt keeps the creating definition's) and after ``pool-refresh`` (read
from the qcow2 header). Image files made with ``qemu-img`` (compat, cluster size,
lazy refcounts, extended L2, backing files) found by a refresh must read alike too.
"""

from __future__ import annotations

import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from virtkit.testing.peers import start_virtkitd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "bench"))
import qemu_peers  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.interop]

SEED = 27
COUNT = 14
LV, VK = "factslv", "factsvk"


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=check)


def virsh(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _run("virsh", "-q", "-c", uri, *args, check=False)


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, Path]]]:
    """pool name -> (URI, pool directory), for libvirtd's and virtkitd's pool."""
    root = tmp_path_factory.mktemp("facts")
    lv = qemu_peers.start_libvirtd_qemu(root / "libvirtd", extra_modules=("storage",))
    try:
        vk = start_virtkitd(root / "virtkitd")
        try:
            out = {LV: (lv.uri, root / "lvpool"), VK: (vk.uri("unix", "/system", "qemu"),
                                                      root / "vkpool")}
            for name, (uri, target) in out.items():
                for args in (("pool-define-as", name, "dir", "--target", str(target)),
                             ("pool-build", name), ("pool-start", name)):
                    res = virsh(uri, *args)
                    assert res.returncode == 0, res.stderr
            yield out
        finally:
            vk.stop()
    finally:
        lv.stop()


def facts(uri: str, pool: str, vol: str) -> str:
    """The volume's format, compat, clusterSize, features and backing store format."""
    res = virsh(uri, "vol-dumpxml", vol, "--pool", pool)
    assert res.returncode == 0, res.stderr
    doc = ET.fromstring(res.stdout)
    parts = []
    for tag in ("target/format", "target/compat", "target/clusterSize", "target/features",
                "backingStore/format"):
        el = doc.find(tag)
        if el is not None:
            parts.append(ET.tostring(el, encoding="unicode").strip())
    return " ".join(parts)


def generate(seed: int = SEED, count: int = COUNT) -> list[tuple[str, str]]:
    """(volume name, volume XML) for ``count`` seeded qcow2 definitions."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        target = ["<format type='qcow2'/>"]
        compat = rng.choice((None, "0.10", "1.1"))
        if compat:
            target.append(f"<compat>{compat}</compat>")
        cluster = rng.choice((None, "<clusterSize unit='KiB'>4</clusterSize>",
                              "<clusterSize unit='B'>131072</clusterSize>",
                              "<clusterSize unit='KiB'>64</clusterSize>"))
        if cluster:
            target.append(cluster)
        if compat != "0.10":
            features = rng.choice((None, "<features/>", "<features><lazy_refcounts/></features>"))
            if features:
                target.append(features)
        name = f"c{i:02d}.qcow2"
        out.append((name, f"<volume><name>{name}</name><capacity unit='MiB'>2</capacity>"
                          f"<target>{''.join(target)}</target></volume>"))
    return out


def _all_facts(pools: dict[str, tuple[str, Path]], names: list[str]) -> list[tuple[str, str]]:
    return [(facts(pools[LV][0], LV, n), facts(pools[VK][0], VK, n)) for n in names]


def _refresh(pools: dict[str, tuple[str, Path]]) -> None:
    for name, (uri, _) in pools.items():
        res = virsh(uri, "pool-refresh", name)
        assert res.returncode == 0, res.stderr


def test_created_volumes_as_libvirtd(pools: dict[str, tuple[str, Path]],
                                     tmp_path: Path) -> None:
    names = []
    for name, xml in generate():
        spec = tmp_path / f"{name}.xml"
        spec.write_text(xml)
        for pool, (uri, _) in pools.items():
            res = virsh(uri, "vol-create", pool, str(spec))
            assert res.returncode == 0, (pool, xml, res.stderr)
        names.append(name)
    created = _all_facts(pools, names)
    for (theirs, ours), (_, xml) in zip(created, generate(), strict=True):
        assert ours == theirs, xml
    _refresh(pools)
    refreshed = _all_facts(pools, names)
    for (theirs, ours), (_, xml) in zip(refreshed, generate(), strict=True):
        assert ours == theirs, xml
    # the generator reaches what matters: lazy refcounts, a version 2 image, an empty
    # <features/>, and a definition whose facts the refresh changes
    seen = " ".join(t for t, _ in created + refreshed)
    assert "<lazy_refcounts />" in seen and "<compat>0.10</compat>" in seen
    assert "<features />" in seen and created != refreshed
    for name in names:
        for pool, (uri, _) in pools.items():
            assert virsh(uri, "vol-delete", name, "--pool", pool).returncode == 0


_IMAGES = (
    # (file name, qemu-img create options, size; backing names are relative)
    ("v2.qcow2", ("-o", "compat=0.10"), "1M"),
    ("v3.qcow2", ("-o", "compat=1.1"), "1M"),
    ("lazy.qcow2", ("-o", "compat=1.1,lazy_refcounts=on,cluster_size=4096"), "1M"),
    ("big.qcow2", ("-o", "cluster_size=2097152"), "4M"),
    ("l2.qcow2", ("-o", "extended_l2=on,cluster_size=131072"), "1M"),
    ("both.qcow2", ("-o", "extended_l2=on,lazy_refcounts=on"), "1M"),
    ("base.raw", (), ""),
    ("child.qcow2", ("-b", "base.raw", "-F", "raw", "-o", "lazy_refcounts=on"), ""),
    ("child2.qcow2", ("-b", "v2.qcow2", "-F", "qcow2", "-o", "compat=0.10"), ""),
)


def test_found_images_as_libvirtd(pools: dict[str, tuple[str, Path]]) -> None:
    for _, (_, target) in pools.items():
        (target / "base.raw").write_bytes(b"\0" * 65536)
        for name, opts, size in _IMAGES:
            if name.endswith(".qcow2"):
                _run("qemu-img", "create", "-q", "-f", "qcow2", *opts, str(target / name),
                     *([size] if size else []))
    _refresh(pools)
    names = [n for n, _, _ in _IMAGES]
    found = _all_facts(pools, names)
    for (theirs, ours), name in zip(found, names, strict=True):
        assert ours == theirs, name
    by_name = dict(zip(names, (t for t, _ in found), strict=True))
    assert "<lazy_refcounts />" in by_name["lazy.qcow2"]
    assert "<extended_l2 />" in by_name["l2.qcow2"]
    assert "<compat>" not in by_name["v2.qcow2"]
    for name in names:
        for pool, (uri, _) in pools.items():
            assert virsh(uri, "vol-delete", name, "--pool", pool).returncode == 0
