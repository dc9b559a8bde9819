"""vol-delete of a directory volume is libvirt's ``rmdir``: never a tree, never outside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from storage_helpers import dir_pool_xml

from virtkit.drivers.storage.driver import HostStorageDriver
from virtkit.errors import ErrorCode, VirtError
from virtkit.types import StoragePoolIdent


def _pool(drv: HostStorageDriver, target: Path) -> StoragePoolIdent:
    p = drv.storage_pool_define_xml(dir_pool_xml("p", target))
    drv.storage_pool_build(p)
    drv.storage_pool_create(p)
    return p


def _vol_xml(name: str) -> str:
    return (f"<volume><name>{name}</name><capacity>0</capacity>"
            "<target><format type='dir'/></target></volume>")


def test_empty_directory_volume_is_removed(drv: HostStorageDriver, tmp_path: Path) -> None:
    p = _pool(drv, tmp_path / "pool")
    v = drv.storage_vol_create_xml(p, _vol_xml("d"), 0)
    assert (tmp_path / "pool" / "d").is_dir()
    drv.storage_vol_delete(v, 0)
    assert not (tmp_path / "pool" / "d").exists()


def test_non_empty_directory_is_refused_and_kept(drv: HostStorageDriver,
                                                 tmp_path: Path) -> None:
    target = tmp_path / "pool"
    tree = target / "etc" / "sub"
    tree.mkdir(parents=True)
    (tree / "file").write_text("keep me")
    p = _pool(drv, target)
    v = drv.storage_vol_lookup_by_name(p, "etc")
    with pytest.raises(VirtError) as exc:
        drv.storage_vol_delete(v, 0)
    assert exc.value.code == ErrorCode.SYSTEM_ERROR
    assert str(exc.value) == (f"cannot remove directory '{target / 'etc'}': "
                              "Directory not empty")
    assert (tree / "file").read_text() == "keep me"
    assert drv.storage_vol_lookup_by_name(p, "etc") == v  # still listed


def test_symlink_to_directory_removes_only_the_link(drv: HostStorageDriver,
                                                    tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("keep me")
    target = tmp_path / "pool"
    target.mkdir()
    os.symlink(outside, target / "link")
    p = _pool(drv, target)
    names = drv.storage_pool_list_all_volumes(p, 0)
    assert "link" in {v.name for v in names}  # a link is a volume, as libvirt lists it
    drv.storage_vol_delete(drv.storage_vol_lookup_by_name(p, "link"), 0)
    assert not os.path.lexists(target / "link")
    assert (outside / "file").read_text() == "keep me"
