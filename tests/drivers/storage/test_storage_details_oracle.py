"""Pool sizes and qemu-img options of new volumes against libvirtd 9.0's storage driver.

A small ext4 file system with reserved blocks (so ``f_bfree`` and ``f_bavail`` differ) is
loop-mounted before Debian's libvirtd (QEMU and storage drivers, private mount
namespace) and virtkitd start; each gets a ``dir`` pool on it, driven with stock
``virsh``. Pool capacity, allocation and available must be libvirt's
(virStorageBackendRefreshLocal: ``f_frsize * f_blocks``, ``f_bfree * f_frsize``, the
difference) on both. Seeded volume definitions (format, compat, clusterSize,
``<features>``, allocation, ``--prealloc-metadata``, odd capacities) are created by both:
``qemu-img info --output=json`` of the images must be equal, and so must refusals.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from virtkit.testing.peers import start_virtkitd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "bench"))
import qemu_peers  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.interop]

SEED = 18
COUNT = 40


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=check)


@pytest.fixture(scope="module")
def fs() -> Iterator[Path]:
    """A 64 MiB ext4 with 5 % reserved blocks, loop-mounted (unmounted at the end)."""
    base = Path(tempfile.mkdtemp(prefix="vk-h18fs-", dir="/tmp"))
    image, mnt = base / "fs.img", base / "mnt"
    with open(image, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    _run("mkfs.ext4", "-q", "-m", "5", str(image))
    mnt.mkdir()
    _run("mount", "-o", "loop", str(image), str(mnt))
    try:
        yield mnt
    finally:
        _run("umount", str(mnt), check=False)
        image.unlink()
        mnt.rmdir()
        base.rmdir()


@pytest.fixture(scope="module")
def uris(fs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("daemons")
    lv = qemu_peers.start_libvirtd_qemu(root / "libvirtd", extra_modules=("storage",))
    try:
        vk = start_virtkitd(root / "virtkitd")
        try:
            yield lv.uri, vk.uri("unix", "/system", "qemu")
        finally:
            vk.stop()
    finally:
        lv.stop()


def virsh(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _run("virsh", "-q", "-c", uri, *args, check=False)


def _pool(uri: str, name: str, target: Path) -> None:
    for args in (("pool-define-as", name, "dir", "--target", str(target)),
                 ("pool-build", name), ("pool-start", name)):
        out = virsh(uri, *args)
        assert out.returncode == 0, out.stderr


def _sizes(uri: str, name: str) -> dict[str, int]:
    info = virsh(uri, "pool-info", "--bytes", name).stdout
    rows = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return {k.strip(): int(rows[k].split()[0]) for k in ("Capacity", "Allocation", "Available")}


def test_pool_sizes_as_libvirtd(uris: tuple[str, str], fs: Path) -> None:
    _pool(uris[0], "szlv", fs / "lv")
    _pool(uris[1], "szvk", fs / "vk")
    for uri, name in ((uris[0], "szlv"), (uris[1], "szvk")):
        assert virsh(uri, "pool-refresh", name).returncode == 0
    theirs, ours = _sizes(uris[0], "szlv"), _sizes(uris[1], "szvk")
    sv = os.statvfs(fs)
    assert sv.f_bavail < sv.f_bfree  # reserved blocks: the two fields differ here
    expected = {"Capacity": sv.f_frsize * sv.f_blocks, "Available": sv.f_bfree * sv.f_frsize}
    expected["Allocation"] = expected["Capacity"] - expected["Available"]
    assert theirs == expected
    assert ours == expected


# ------------------------------------------------------------------------- volumes


def _size(rng: random.Random) -> tuple[str, int]:
    unit, n = rng.choice((("bytes", 1000000), ("bytes", 1500), ("KiB", 1025), ("MiB", 3),
                          ("bytes", 4 * 1024 * 1024)))
    return unit, n


def generate(seed: int = SEED, count: int = COUNT) -> list[tuple[str, str, bool]]:
    """(name, volume XML, --prealloc-metadata) for ``count`` seeded volumes."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        name = f"v{i:02d}"
        fmt = rng.choice(("qcow2", "qcow2", "qcow2", "raw"))
        unit, cap = _size(rng)
        target = [f"<format type='{fmt}'/>"]
        compat = rng.choice((None, None, "0.10", "1.1"))
        if compat:
            target.append(f"<compat>{compat}</compat>")
        cluster = rng.choice((None, None, "<clusterSize unit='KiB'>4</clusterSize>",
                              "<clusterSize unit='B'>131072</clusterSize>",
                              "<clusterSize unit='MiB'>2</clusterSize>"))
        if cluster:
            target.append(cluster)
        features = rng.choice((None, None, "<features/>", "<features><lazy_refcounts/></features>",
                               "<features><extended_l2/></features>"))
        if features:
            target.append(features)
        alloc = ""
        if rng.random() < 0.4:
            alloc = (f"<allocation unit='{unit}'>{rng.choice((0, cap))}</allocation>")
        prealloc = rng.random() < 0.3
        xml = (f"<volume><name>{name}.img</name><capacity unit='{unit}'>{cap}</capacity>"
               f"{alloc}<target>{''.join(target)}</target></volume>")
        out.append((name, xml, prealloc))
    return out


def _info(path: Path) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(_run("qemu-img", "info", "-U", "--output=json",
                                            str(path)).stdout)
    for key in ("filename", "actual-size", "dirty-flag"):
        info.pop(key, None)
    return info


def _create(uri: str, pool: str, xml: str, prealloc: bool, tmp: Path) -> tuple[int, str]:
    spec = tmp / f"{pool}.xml"
    spec.write_text(xml)
    args = ["vol-create", pool, str(spec)] + (["--prealloc-metadata"] if prealloc else [])
    out = virsh(uri, *args)
    return out.returncode, out.stderr.strip().replace(pool, "POOL")


def test_volume_create_options_as_libvirtd(uris: tuple[str, str], fs: Path,
                                           tmp_path: Path) -> None:
    _pool(uris[0], "vollv", fs / "vollv")
    _pool(uris[1], "volvk", fs / "volvk")
    compared = refused = 0
    for name, xml, prealloc in generate():
        rc_l, err_l = _create(uris[0], "vollv", xml, prealloc, tmp_path)
        rc_v, err_v = _create(uris[1], "volvk", xml, prealloc, tmp_path)
        assert (rc_l, err_l) == (rc_v, err_v), (xml, prealloc)
        if rc_l:
            refused += 1
            continue
        a, b = fs / "vollv" / f"{name}.img", fs / "volvk" / f"{name}.img"
        assert _info(a) == _info(b), (xml, prealloc)
        compared += 1
        # a copy (qemu-img convert) gets the same options
        copy = xml.replace(f"<name>{name}.img</name>", f"<name>{name}c.img</name>")
        results = []
        for uri, pool in ((uris[0], "vollv"), (uris[1], "volvk")):
            spec = tmp_path / f"{pool}-copy.xml"
            spec.write_text(copy)
            out = virsh(uri, "vol-create-from", pool, str(spec), f"{name}.img",
                        "--inputpool", pool)
            results.append((out.returncode, out.stderr.strip().replace(pool, "POOL")))
        assert results[0] == results[1], copy
        if results[0][0] == 0:
            assert _info(fs / "vollv" / f"{name}c.img") == _info(fs / "volvk" / f"{name}c.img")
        for uri, pool in ((uris[0], "vollv"), (uris[1], "volvk")):
            for vol in (f"{name}.img", f"{name}c.img") if results[0][0] == 0 else (
                    f"{name}.img",):
                assert virsh(uri, "vol-delete", vol, "--pool", pool).returncode == 0
    assert compared > COUNT // 2 and refused > 0  # the generator reaches both outcomes
