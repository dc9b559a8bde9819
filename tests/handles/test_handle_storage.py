"""The StoragePool and StorageVolume handles against the real test driver."""

from __future__ import annotations

import pytest

from virtkit.connection import Connection
from virtkit.constants import StoragePoolState
from virtkit.handles import StoragePool, StorageVolume

NEW_VOLUME = """<volume>
  <name>{name}</name>
  <capacity unit='bytes'>1048576</capacity>
</volume>"""

NEW_POOL = """<pool type='dir'>
  <name>{name}</name>
  <target><path>/tmp/{name}</path></target>
</pool>"""


@pytest.fixture
def pool(conn: Connection) -> StoragePool:
    return conn.lookup_storage_pool("default-pool")


def test_pool_identity_and_info(pool: StoragePool, conn: Connection) -> None:
    assert pool.name == "default-pool"
    assert pool.connection is conn
    info = pool.info()
    assert info.state == StoragePoolState.RUNNING
    assert info.capacity == 107374182400
    assert pool.is_active() and pool.is_persistent()
    assert pool.autostart is False
    assert "<name>default-pool</name>" in pool.xml()
    assert pool.num_of_volumes() == 0
    assert pool.list_volumes() == []


def test_volumes(pool: StoragePool, conn: Connection) -> None:
    vol = pool.create_volume(NEW_VOLUME.format(name="disk1.img"))
    assert isinstance(vol, StorageVolume)
    assert vol.name == "disk1.img"
    assert vol.pool_name == "default-pool"
    assert vol.pool() == pool
    assert vol.info().capacity == 1048576
    assert "<name>disk1.img</name>" in vol.xml()
    path = vol.path()
    assert path.endswith("disk1.img")
    assert pool.lookup_volume("disk1.img") == vol
    assert conn.lookup_storage_volume_by_path(path) == vol
    assert conn.lookup_storage_volume_by_key(vol.key) == vol
    assert [v.name for v in pool.list_volumes()] == ["disk1.img"]
    clone = pool.create_volume_from(NEW_VOLUME.format(name="disk2.img"), vol)
    assert clone.name == "disk2.img"
    vol.delete()
    assert pool.num_of_volumes() == 1


def test_pool_lifecycle(conn: Connection) -> None:
    pool = conn.define_storage_pool(NEW_POOL.format(name="p1"))
    assert not pool.is_active()
    pool.build()
    pool.start()
    assert pool.is_active()
    pool.refresh()
    pool.autostart = True
    assert pool.autostart
    pool.destroy()
    assert not pool.is_active()
    pool.undefine()
    assert [p.name for p in conn.list_storage_pools()] == ["default-pool"]
