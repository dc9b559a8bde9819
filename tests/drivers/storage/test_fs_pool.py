"""fs pools on a loop-mounted ext4 image: build formats, start mounts, stop unmounts."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from storage_helpers import vol_xml

from virtkit.drivers.storage.backend_fs import is_mounted
from virtkit.drivers.storage.driver import HostStorageDriver
from virtkit.errors import ErrorCode, VirtError

MiB = 1024 * 1024


def _fs_pool_xml(name: str, device: Path, target: Path, fmt: str = "ext4") -> str:
    return (f"<pool type='fs'><name>{name}</name><source><device path='{device}'/>"
            f"<format type='{fmt}'/></source><target><path>{target}</path></target></pool>")


@pytest.fixture
def image(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    img, mnt = tmp_path / "fs.img", tmp_path / "mnt"
    with open(img, "wb") as f:
        f.truncate(32 * MiB)
    yield img, mnt
    # clean up our own mount (and its autoclear loop device) if a test failed midway
    if mnt.exists() and is_mounted(str(mnt)):
        subprocess.run(["umount", str(mnt)], check=False)


def test_fs_pool_on_loop_image(drv: HostStorageDriver, image: tuple[Path, Path]) -> None:
    img, mnt = image
    p = drv.storage_pool_define_xml(_fs_pool_xml("fsp", img, mnt))
    drv.storage_pool_build(p, 8)  # OVERWRITE: mkfs.ext4 on the image, mkdir the target
    assert mnt.is_dir()
    with pytest.raises(VirtError) as exc:
        drv.storage_pool_build(p, 4)  # NO_OVERWRITE: already formatted
    assert exc.value.code == ErrorCode.STORAGE_POOL_BUILT
    assert "already formatted using 'ext4'" in str(exc.value)
    drv.storage_pool_create(p)
    assert is_mounted(str(mnt))
    info = drv.storage_pool_get_info(p)
    assert info.state == 2 and 20 * MiB < info.capacity < 32 * MiB
    assert drv.storage_pool_list_volumes(p, 10) == ["lost+found"]
    v = drv.storage_vol_create_xml(p, vol_xml("v.qcow2", 4 * MiB, fmt="qcow2"))
    assert (mnt / "v.qcow2").exists()
    assert drv.storage_vol_get_info(v).capacity == 4 * MiB
    with pytest.raises(VirtError, match="Not enough space left in storage pool"):
        drv.storage_vol_create_xml(p, vol_xml("big.img", 64 * MiB))
    assert not (mnt / "big.img").exists()
    drv.storage_pool_destroy(p)
    assert not is_mounted(str(mnt)) and not (mnt / "v.qcow2").exists()
    # the volume is still on the file system: mounted again, it is found
    drv.storage_pool_create(p)
    assert "v.qcow2" in drv.storage_pool_list_volumes(p, 10)
    drv.storage_pool_destroy(p)
    drv.storage_pool_delete(p)
    assert not mnt.exists()
    drv.storage_pool_undefine(p)


def test_fs_pool_missing_device(drv: HostStorageDriver, tmp_path: Path) -> None:
    (tmp_path / "mnt").mkdir()
    p = drv.storage_pool_define_xml(_fs_pool_xml("x", tmp_path / "nope.img", tmp_path / "mnt"))
    with pytest.raises(VirtError, match="cannot find source device"):
        drv.storage_pool_create(p)
    assert not drv.storage_pool_is_active(p) and not is_mounted(str(tmp_path / "mnt"))
