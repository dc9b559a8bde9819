"""The StoragePool and StorageVolume handles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtkit.errtables import ErrorDomain
from virtkit.handles.base import Handle
from virtkit.types import StoragePoolIdent, StoragePoolInfo, StorageVolIdent, StorageVolInfo

if TYPE_CHECKING:
    from virtkit.streams import DataStream

__all__ = ["StoragePool", "StorageVolume"]

_ST = ErrorDomain.STORAGE


class StoragePool(Handle[StoragePoolIdent]):
    """A storage pool (virStoragePoolPtr)."""

    __slots__ = ()

    @property
    def uuid(self) -> str:
        """The pool's UUID."""
        return self._ident.uuid

    def __repr__(self) -> str:
        return f"<StoragePool {self._ident.name!r} uuid={self._ident.uuid}>"

    def info(self) -> StoragePoolInfo:
        """virStoragePoolGetInfo: state, capacity, allocation, available (bytes)."""
        return self._conn._storage.storage_pool_get_info(self._ident)

    def xml(self, flags: int = 0) -> str:
        """virStoragePoolGetXMLDesc (flags: StorageXMLFlags)."""
        return self._conn._storage.storage_pool_get_xml_desc(self._ident, flags)

    def is_active(self) -> bool:
        """virStoragePoolIsActive."""
        return self._conn._storage.storage_pool_is_active(self._ident)

    def is_persistent(self) -> bool:
        """virStoragePoolIsPersistent."""
        return self._conn._storage.storage_pool_is_persistent(self._ident)

    @property
    def autostart(self) -> bool:
        """Whether the pool starts with the host (Get/SetAutostart)."""
        return self._conn._storage.storage_pool_get_autostart(self._ident)

    @autostart.setter
    def autostart(self, value: bool) -> None:
        self._conn._check_write("virStoragePoolSetAutostart", _ST)
        self._conn._storage.storage_pool_set_autostart(self._ident, bool(value))

    def build(self, flags: int = 0) -> None:
        """virStoragePoolBuild (flags: StoragePoolBuildFlags)."""
        self._conn._check_write("virStoragePoolBuild", _ST)
        self._conn._storage.storage_pool_build(self._ident, flags)

    def start(self, flags: int = 0) -> None:
        """virStoragePoolCreate (flags: StoragePoolCreateFlags)."""
        self._conn._check_write("virStoragePoolCreate", _ST)
        self._conn._storage.storage_pool_create(self._ident, flags)

    def destroy(self) -> None:
        """virStoragePoolDestroy."""
        self._conn._check_write("virStoragePoolDestroy", _ST)
        self._conn._storage.storage_pool_destroy(self._ident)

    def delete(self, flags: int = 0) -> None:
        """virStoragePoolDelete (flags: StoragePoolDeleteFlags)."""
        self._conn._check_write("virStoragePoolDelete", _ST)
        self._conn._storage.storage_pool_delete(self._ident, flags)

    def undefine(self) -> None:
        """virStoragePoolUndefine."""
        self._conn._check_write("virStoragePoolUndefine", _ST)
        self._conn._storage.storage_pool_undefine(self._ident)

    def refresh(self) -> None:
        """virStoragePoolRefresh: rescan the pool's volumes."""
        self._conn._check_write("virStoragePoolRefresh", _ST)
        self._conn._storage.storage_pool_refresh(self._ident, 0)

    def num_of_volumes(self) -> int:
        """virStoragePoolNumOfVolumes."""
        return self._conn._storage.storage_pool_num_of_volumes(self._ident)

    def list_volumes(self, flags: int = 0) -> list[StorageVolume]:
        """virStoragePoolListAllVolumes."""
        conn = self._conn
        return [
            StorageVolume(conn, v)
            for v in conn._storage.storage_pool_list_all_volumes(self._ident, flags)
        ]

    def lookup_volume(self, name: str) -> StorageVolume:
        """virStorageVolLookupByName."""
        return StorageVolume(
            self._conn, self._conn._storage.storage_vol_lookup_by_name(self._ident, name)
        )

    def create_volume(self, xml: str, flags: int = 0) -> StorageVolume:
        """virStorageVolCreateXML (flags: StorageVolCreateFlags)."""
        self._conn._check_write("virStorageVolCreateXML", _ST)
        return StorageVolume(
            self._conn, self._conn._storage.storage_vol_create_xml(self._ident, xml, flags)
        )

    def create_volume_from(self, xml: str, clone: StorageVolume, flags: int = 0) -> StorageVolume:
        """virStorageVolCreateXMLFrom: a new volume with ``clone``'s contents."""
        self._conn._check_write("virStorageVolCreateXMLFrom", _ST)
        ident = self._conn._storage.storage_vol_create_xml_from(
            self._ident, xml, clone._ident, flags
        )
        return StorageVolume(self._conn, ident)


class StorageVolume(Handle[StorageVolIdent]):
    """A storage volume (virStorageVolPtr)."""

    __slots__ = ()

    @property
    def key(self) -> str:
        """The volume's key (unique on the host; for file volumes, its path)."""
        return self._ident.key

    @property
    def pool_name(self) -> str:
        """The name of the pool holding the volume."""
        return self._ident.pool

    def __repr__(self) -> str:
        return f"<StorageVolume {self._ident.name!r} in {self._ident.pool!r}>"

    def _key(self) -> object:
        return self._ident.key

    def pool(self) -> StoragePool:
        """virStoragePoolLookupByVolume."""
        ident = self._conn._storage.storage_pool_lookup_by_volume(self._ident)
        return StoragePool(self._conn, ident)

    def info(self, flags: int = 0) -> StorageVolInfo:
        """virStorageVolGetInfo: type, capacity, allocation (bytes); with flags
        (VIR_STORAGE_VOL_GET_PHYSICAL) virStorageVolGetInfoFlags."""
        if flags:
            return self._conn._storage.storage_vol_get_info_flags(self._ident, flags)
        return self._conn._storage.storage_vol_get_info(self._ident)

    def xml(self, flags: int = 0) -> str:
        """virStorageVolGetXMLDesc."""
        return self._conn._storage.storage_vol_get_xml_desc(self._ident, flags)

    def path(self) -> str:
        """virStorageVolGetPath."""
        return self._conn._storage.storage_vol_get_path(self._ident)

    def delete(self, flags: int = 0) -> None:
        """virStorageVolDelete (flags: StorageVolDeleteFlags)."""
        self._conn._check_write("virStorageVolDelete", _ST)
        self._conn._storage.storage_vol_delete(self._ident, flags)

    def wipe(self, flags: int = 0) -> None:
        """virStorageVolWipe."""
        self._conn._check_write("virStorageVolWipe", _ST)
        self._conn._storage.storage_vol_wipe(self._ident, flags)

    def wipe_pattern(self, algorithm: int, flags: int = 0) -> None:
        """virStorageVolWipePattern (algorithm: StorageVolWipeAlgorithm)."""
        self._conn._check_write("virStorageVolWipePattern", _ST)
        self._conn._storage.storage_vol_wipe_pattern(self._ident, algorithm, flags)

    def upload(self, offset: int = 0, length: int = 0, flags: int = 0) -> DataStream:
        """virStorageVolUpload: a stream to ``send()`` the new contents into, then ``finish()``."""
        self._conn._check_write("virStorageVolUpload", _ST)
        return self._conn._storage.storage_vol_upload(self._ident, offset, length, flags)

    def download(self, offset: int = 0, length: int = 0, flags: int = 0) -> DataStream:
        """virStorageVolDownload: a stream to ``recv()`` the contents from (``b""`` at the end)."""
        return self._conn._storage.storage_vol_download(self._ident, offset, length, flags)

    def resize(self, capacity: int, flags: int = 0) -> None:
        """virStorageVolResize (flags: StorageVolResizeFlags)."""
        self._conn._check_write("virStorageVolResize", _ST)
        self._conn._storage.storage_vol_resize(self._ident, capacity, flags)
