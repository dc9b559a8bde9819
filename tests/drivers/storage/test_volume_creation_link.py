"""The storage node as the QEMU driver's ``VolumeCreation`` link (drivers/links.py):
what a migration destination uses to pre-create the disks it receives."""

from __future__ import annotations

from pathlib import Path

import pytest
from storage_helpers import dir_pool_xml

from virtkit.drivers.links import VolumeCreation
from virtkit.drivers.storage.driver import HostStorageDriver
from virtkit.errors import ErrorCode, VirtError


def test_pool_found_by_its_directory_only_while_active(drv: HostStorageDriver,
                                                       tmp_path: Path) -> None:
    link: VolumeCreation = drv.node
    p = drv.storage_pool_define_xml(dir_pool_xml("p", tmp_path / "pool"))
    drv.storage_pool_build(p)
    assert link.pool_known("p") and not link.pool_known("q")
    assert link.pool_at_directory(str(tmp_path / "pool")) is None  # inactive
    drv.storage_pool_create(p)
    assert link.pool_at_directory(str(tmp_path / "pool") + "/") == "p"  # normalised
    assert link.pool_at_directory(str(tmp_path)) is None


def test_volume_created_in_the_named_pool(drv: HostStorageDriver, tmp_path: Path) -> None:
    link: VolumeCreation = drv.node
    p = drv.storage_pool_define_xml(dir_pool_xml("p", tmp_path / "pool"))
    drv.storage_pool_build(p)
    drv.storage_pool_create(p)
    xml = ("<volume><name>d.img</name><capacity>1048576</capacity>"
           "<target><format type='raw'/></target></volume>")
    vol = link.create_volume_in("p", xml, 0)
    assert (vol.pool, vol.name) == ("p", "d.img")
    assert (tmp_path / "pool" / "d.img").stat().st_size == 1048576
    with pytest.raises(VirtError) as exc:
        link.create_volume_in("nope", xml, 0)
    assert exc.value.code == ErrorCode.NO_STORAGE_POOL
