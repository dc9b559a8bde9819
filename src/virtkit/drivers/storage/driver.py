"""The storage driver's table: libvirt's virStorageDriver on top of :class:`StorageNode`."""

from __future__ import annotations

from virtkit.conf.storage_pool import Permissions, format_type
from virtkit.conf.storage_vol import StorageVolDef, Timestamps, VolFeatures, VolTarget
from virtkit.conf.xmlutil import parse_xml
from virtkit.drivers.base import StorageDriver, StoragePoolEventCallback
from virtkit.drivers.objnode import NodeTable
from virtkit.drivers.storage import node as sn
from virtkit.drivers.storage.backend import VOL_BLOCK, VOL_DIR, VolState
from virtkit.drivers.storage.caps import POOL_TYPES, pool_capabilities_xml
from virtkit.drivers.storage.encryption import encryption_xml
from virtkit.drivers.storage.node import PoolObj, StorageNode, err
from virtkit.drivers.storage.streams import open_volume_stream
from virtkit.errors import ErrorCode, ErrorDomain, invalid_flags, make_error
from virtkit.streams import DataStream
from virtkit.types import StoragePoolIdent, StoragePoolInfo, StorageVolIdent, StorageVolInfo

__all__ = ["HostStorageDriver", "vol_xml"]

_ST = ErrorDomain.STORAGE
_POOL_INACTIVE, _POOL_BUILDING, _POOL_RUNNING = 0, 1, 2
_CREATE_WITH_BUILD, _CREATE_BUILD_OVERWRITE, _CREATE_BUILD_NO_OVERWRITE = 1, 2, 4
_BUILD_NO_OVERWRITE, _BUILD_OVERWRITE = 4, 8
_WIPE_ALG_LAST = 10
_SPARSE_STREAM = 1  # VIR_STORAGE_VOL_{UP,DOWN}LOAD_SPARSE_STREAM
_GET_PHYSICAL = 1  # VIR_STORAGE_VOL_GET_PHYSICAL
_VOL_TYPE_NAMES = ("file", "block", "dir", "network", "netdir", "ploop")


def _check_flags(flags: int, allowed: int, function: str) -> None:
    if flags & ~allowed:
        raise invalid_flags(flags & ~allowed, function, _ST)


def _create_build_flags(flags: int) -> int | None:
    """virStoragePoolCreateFlags -> the build flags to run first (None: no build)."""
    if flags & _CREATE_BUILD_OVERWRITE and flags & _CREATE_BUILD_NO_OVERWRITE:
        raise make_error(ErrorCode.INVALID_ARG, _ST,
                         "Flags 'VIR_STORAGE_POOL_CREATE_WITH_BUILD_OVERWRITE' and "
                         "'VIR_STORAGE_POOL_CREATE_WITH_BUILD_NO_OVERWRITE' are mutually "
                         "exclusive")
    if flags & _CREATE_BUILD_OVERWRITE:
        return _BUILD_OVERWRITE
    if flags & _CREATE_BUILD_NO_OVERWRITE:
        return _BUILD_NO_OVERWRITE
    if flags & _CREATE_WITH_BUILD:
        return 0
    return None


def vol_xml(pool: PoolObj, vol: VolState) -> str:
    """The ``<volume>`` document of one volume, as libvirt formats it."""
    d = StorageVolDef()
    d.type = _VOL_TYPE_NAMES[vol.type] if 0 <= vol.type < len(_VOL_TYPE_NAMES) else "file"
    d.name, d.key = vol.name, vol.key
    d.capacity, d.allocation = vol.capacity, vol.allocation
    d.physical = vol.physical or None
    t = VolTarget()
    t.path = vol.path
    if vol.format and vol.type not in (VOL_BLOCK,):
        t.format = format_type(vol.format)
    if vol.mode is not None:
        p = Permissions()
        p.mode = f"0{vol.mode:o}"
        p.owner = str(vol.owner) if vol.owner is not None else None
        p.group = str(vol.group) if vol.group is not None else None
        t.permissions = p
    if vol.timestamps:
        ts = Timestamps()
        ts.atime, ts.mtime, ts.ctime, ts.btime = (
            vol.timestamps.get(k) for k in ("atime", "mtime", "ctime", "btime"))
        t.timestamps = ts
    if vol.encryption:  # the format from the probe; the secret only after a creation
        t.encryption = parse_xml(encryption_xml(vol.encryption, vol.encryption_secret))
    facts = vol.created or vol.header
    if facts is not None:
        t.compat, t.cluster_size = facts.compat, facts.cluster_size
        if facts.features is not None:
            t.features = VolFeatures(names=list(facts.features))
    d.target = t
    if vol.backing:
        b = VolTarget()
        b.path = vol.backing
        if vol.backing_format:
            b.format = format_type(vol.backing_format)
        d.backing_store = b
    return str(d.to_xml())


class HostStorageDriver(NodeTable[StorageNode], StorageDriver):
    """One connection's storage table (libvirt's storage driver on the host); closing it
    leaves the pools active."""

    def __init__(self, node: StorageNode) -> None:
        super().__init__(node, sn.release)

    # ------------------------------------------------------------ listing and lookup

    def connect_num_of_storage_pools(self) -> int:
        return len(self.node.list_all(2))

    def connect_list_storage_pools(self, maxnames: int) -> list[str]:
        return [o.name for o in self.node.list_all(2)][:maxnames]

    def connect_num_of_defined_storage_pools(self) -> int:
        return len(self.node.list_all(1))

    def connect_list_defined_storage_pools(self, maxnames: int) -> list[str]:
        return [o.name for o in self.node.list_all(1)][:maxnames]

    def connect_list_all_storage_pools(self, flags: int = 0) -> list[StoragePoolIdent]:
        _check_flags(flags, 0xFFFFF, "storageConnectListAllStoragePools")
        return [o.ident for o in self.node.list_all(flags)]

    def connect_find_storage_pool_sources(
        self, type: str, src_spec: str | None = None, flags: int = 0
    ) -> str:
        if type not in POOL_TYPES:
            raise err(ErrorCode.INTERNAL_ERROR, f"unknown storage pool type {type}")
        return sn.backend_class(type).find_sources(src_spec, flags)

    def connect_get_storage_pool_capabilities(self, flags: int = 0) -> str:
        _check_flags(flags, 0, "storageConnectGetStoragePoolCapabilities")
        return pool_capabilities_xml(sn.BACKENDS)

    def storage_pool_lookup_by_name(self, name: str) -> StoragePoolIdent:
        with self.node.lock:
            return self.node.get(name).ident

    def storage_pool_lookup_by_uuid(self, uuid: str) -> StoragePoolIdent:
        with self.node.lock:
            return self.node.get_by_uuid(uuid).ident

    def storage_pool_lookup_by_volume(self, vol: StorageVolIdent) -> StoragePoolIdent:
        with self.node.lock:
            obj = self.node.by_name.get(vol.pool)
            if obj is None:
                raise err(ErrorCode.NO_STORAGE_POOL,
                          f"no storage pool with matching name '{vol.pool}'")
            return obj.ident

    def storage_pool_lookup_by_target_path(self, path: str) -> StoragePoolIdent:
        import os

        want = os.path.normpath(path)
        with self.node.lock:
            for obj in self.node.by_name.values():
                if obj.active and obj.target_path() == want:
                    return obj.ident
        raise err(ErrorCode.NO_STORAGE_POOL,
                  f"no storage pool with matching target path '{path}'")

    # ------------------------------------------------------------ pool life cycle

    def storage_pool_create_xml(self, xml: str, flags: int = 0) -> StoragePoolIdent:
        _check_flags(flags, 7, "storagePoolCreateXML")
        return self.node.create_xml(xml, _create_build_flags(flags))

    def storage_pool_define_xml(self, xml: str, flags: int = 0) -> StoragePoolIdent:
        _check_flags(flags, 1, "storagePoolDefineXML")
        return self.node.define(xml)

    def storage_pool_build(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        _check_flags(flags, 0xF, "storagePoolBuild")
        self.node.build(pool, flags)

    def storage_pool_undefine(self, pool: StoragePoolIdent) -> None:
        self.node.undefine(pool)

    def storage_pool_create(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        _check_flags(flags, 7, "storagePoolCreate")
        self.node.start(pool, _create_build_flags(flags))

    def storage_pool_destroy(self, pool: StoragePoolIdent) -> None:
        self.node.destroy(pool)

    def storage_pool_delete(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        _check_flags(flags, 1, "storagePoolDelete")
        self.node.delete(pool, flags)

    def storage_pool_refresh(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        _check_flags(flags, 0, "storagePoolRefresh")
        self.node.refresh(pool)

    def storage_pool_get_info(self, pool: StoragePoolIdent) -> StoragePoolInfo:
        with self.node.lock:
            obj = self.node.lookup(pool)
            if not obj.active:
                return StoragePoolInfo(_POOL_INACTIVE, 0, 0, 0)
            s = obj.size
            return StoragePoolInfo(_POOL_RUNNING, s.capacity, s.allocation, s.available)

    def storage_pool_get_xml_desc(self, pool: StoragePoolIdent, flags: int = 0) -> str:
        _check_flags(flags, 1, "storagePoolGetXMLDesc")
        return self.node.pool_xml(pool, bool(flags & 1))

    def storage_pool_get_autostart(self, pool: StoragePoolIdent) -> bool:
        with self.node.lock:
            return self.node.lookup(pool).autostart

    def storage_pool_set_autostart(self, pool: StoragePoolIdent, autostart: bool) -> None:
        self.node.set_autostart(pool, autostart)

    def storage_pool_is_active(self, pool: StoragePoolIdent) -> bool:
        with self.node.lock:
            return self.node.lookup(pool).active

    def storage_pool_is_persistent(self, pool: StoragePoolIdent) -> bool:
        with self.node.lock:
            return self.node.lookup(pool).persistent

    # ------------------------------------------------------------ volumes

    def storage_pool_num_of_volumes(self, pool: StoragePoolIdent) -> int:
        with self.node.lock:
            return len(self.node.active_pool(pool).vols)

    def storage_pool_list_volumes(self, pool: StoragePoolIdent, maxnames: int) -> list[str]:
        with self.node.lock:
            return sorted(self.node.active_pool(pool).vols)[:maxnames]

    def storage_pool_list_all_volumes(
        self, pool: StoragePoolIdent, flags: int = 0
    ) -> list[StorageVolIdent]:
        _check_flags(flags, 0, "storagePoolListAllVolumes")
        with self.node.lock:
            obj = self.node.active_pool(pool)
            return [self.node.vol_ident(obj, obj.vols[n]) for n in sorted(obj.vols)]

    def storage_vol_lookup_by_name(self, pool: StoragePoolIdent, name: str) -> StorageVolIdent:
        with self.node.lock:
            obj = self.node.active_pool(pool)
            vol = obj.vols.get(name)
            if vol is None:
                raise err(ErrorCode.NO_STORAGE_VOL,
                          f"no storage vol with matching name '{name}'")
            return self.node.vol_ident(obj, vol)

    def storage_vol_lookup_by_key(self, key: str) -> StorageVolIdent:
        with self.node.lock:
            found = self.node.find_vol(lambda v: v.key == key)
            if found is None:
                raise err(ErrorCode.NO_STORAGE_VOL, f"no storage vol with matching key {key}")
            return self.node.vol_ident(*found)

    def storage_vol_lookup_by_path(self, path: str) -> StorageVolIdent:
        import os

        want = os.path.normpath(path)
        with self.node.lock:
            found = self.node.find_vol(lambda v: os.path.normpath(v.path) == want)
            if found is None:
                raise err(ErrorCode.NO_STORAGE_VOL,
                          f"no storage vol with matching path '{path}'")
            return self.node.vol_ident(*found)

    def storage_vol_create_xml(
        self, pool: StoragePoolIdent, xml: str, flags: int = 0
    ) -> StorageVolIdent:
        _check_flags(flags, 3, "storageVolCreateXML")
        return self.node.create_vol(pool, xml, flags)

    def storage_vol_create_xml_from(
        self, pool: StoragePoolIdent, xml: str, clonevol: StorageVolIdent, flags: int = 0
    ) -> StorageVolIdent:
        _check_flags(flags, 3, "storageVolCreateXMLFrom")
        return self.node.create_vol_from(pool, xml, clonevol, flags)

    def storage_vol_delete(self, vol: StorageVolIdent, flags: int = 0) -> None:
        _check_flags(flags, 3, "storageVolDelete")
        self.node.delete_vol(vol, flags)

    def storage_vol_wipe(self, vol: StorageVolIdent, flags: int = 0) -> None:
        self.storage_vol_wipe_pattern(vol, 0, flags)

    def storage_vol_wipe_pattern(self, vol: StorageVolIdent, algorithm: int,
                                 flags: int = 0) -> None:
        _check_flags(flags, 0, "storageVolWipePattern")
        if algorithm < 0 or algorithm >= _WIPE_ALG_LAST:
            raise err(ErrorCode.INVALID_ARG, f"wiping algorithm {algorithm} not supported")
        self.node.wipe_vol(vol, algorithm, flags)

    def storage_vol_get_info(self, vol: StorageVolIdent) -> StorageVolInfo:
        return self.storage_vol_get_info_flags(vol, 0)

    def storage_vol_get_info_flags(self, vol: StorageVolIdent, flags: int = 0) -> StorageVolInfo:
        _check_flags(flags, _GET_PHYSICAL, "storageVolGetInfoFlags")
        with self.node.lock:
            _, v = self.node.vol(vol)
            # VIR_STORAGE_VOL_GET_PHYSICAL: the allocation field carries the physical size
            used = v.physical if flags & _GET_PHYSICAL else v.allocation
            return StorageVolInfo(v.type, v.capacity, used)

    def storage_vol_get_xml_desc(self, vol: StorageVolIdent, flags: int = 0) -> str:
        _check_flags(flags, 0, "storageVolGetXMLDesc")
        with self.node.lock:
            obj, v = self.node.vol(vol)
            return vol_xml(obj, v)

    def storage_vol_get_path(self, vol: StorageVolIdent) -> str:
        with self.node.lock:
            return self.node.vol(vol)[1].path

    def storage_vol_upload(
        self, vol: StorageVolIdent, offset: int = 0, length: int = 0, flags: int = 0
    ) -> DataStream:
        _check_flags(flags, _SPARSE_STREAM, "storageVolUpload")
        with self.node.lock:
            obj, v = self.node.vol(vol)
            self.node.check_not_in_use(v, obj)
            if v.type == VOL_DIR:
                raise err(ErrorCode.NO_SUPPORT, "storage pool doesn't support volume upload")
            release = self.node.vol_acquire(obj, v)
            try:
                stream = open_volume_stream(v.path, offset, length, True,
                                            sparse=bool(flags & _SPARSE_STREAM))
            except BaseException:
                release()
                raise

        def finished() -> None:
            release()
            self.node.vol_updated(vol)
        stream.on_finish = finished
        return stream

    def storage_vol_download(
        self, vol: StorageVolIdent, offset: int = 0, length: int = 0, flags: int = 0
    ) -> DataStream:
        _check_flags(flags, _SPARSE_STREAM, "storageVolDownload")
        with self.node.lock:
            obj, v = self.node.vol(vol)
            if v.type == VOL_DIR:
                raise err(ErrorCode.NO_SUPPORT, "storage pool doesn't support volume download")
            release = self.node.vol_acquire(obj, v)
            try:
                stream = open_volume_stream(v.path, offset, length, False,
                                            sparse=bool(flags & _SPARSE_STREAM))
            except BaseException:
                release()
                raise
        stream.on_finish = release
        return stream

    def storage_vol_resize(self, vol: StorageVolIdent, capacity: int, flags: int = 0) -> None:
        _check_flags(flags, 7, "storageVolResize")
        self.node.resize_vol(vol, capacity, flags)

    # ------------------------------------------------------------ events

    def connect_storage_pool_event_register_any(
        self, pool: StoragePoolIdent | None, event_id: int, callback: StoragePoolEventCallback
    ) -> int:
        if event_id not in (sn.EVENT_LIFECYCLE, sn.EVENT_REFRESH):
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             f"unsupported event ID {event_id}")
        return self.node.events.register("pool", event_id, pool.uuid if pool else None,
                                         callback, self)

    def connect_storage_pool_event_deregister_any(self, callback_id: int) -> None:
        self.node.events.deregister(callback_id, self)
