"""Storage pools and volumes of the test driver (all in memory, fake sizes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from virtkit.constants import (
    ConnectListAllStoragePoolsFlags,
    StoragePoolDefineFlags,
    StorageVolCreateFlags,
)
from virtkit.drivers.base import StoragePoolEventCallback
from virtkit.drivers.domainobj import pair_ok
from virtkit.drivers.inmemory.common import Base, check_flags, err
from virtkit.drivers.inmemory.lazy import lazy_module
from virtkit.drivers.inmemory.node import PoolObj, VolumeObj
from virtkit.errors import ErrorCode, ErrorDomain
from virtkit.types import StoragePoolIdent, StoragePoolInfo, StorageVolIdent, StorageVolInfo

if TYPE_CHECKING:
    from virtkit.conf import storage_pool as poolconf
    from virtkit.conf import storage_vol as volconf
    from virtkit.conf.storage_pool import StoragePoolDef
    from virtkit.conf.storage_vol import StorageVolDef
else:
    poolconf = lazy_module("virtkit.conf.storage_pool")
    volconf = lazy_module("virtkit.conf.storage_vol")

DEFAULT_POOL_CAPACITY = 100 * 1024 * 1024 * 1024
POOL_DEFINED, POOL_UNDEFINED, POOL_STARTED, POOL_STOPPED, POOL_CREATED, POOL_DELETED = range(6)
_P = ConnectListAllStoragePoolsFlags
_INACTIVE, _ACTIVE = int(_P.INACTIVE), int(_P.ACTIVE)
_PERSISTENT, _TRANSIENT = int(_P.PERSISTENT), int(_P.TRANSIENT)
_AUTOSTART, _NO_AUTOSTART = int(_P.AUTOSTART), int(_P.NO_AUTOSTART)
_STATE_FILTERS = _INACTIVE | _ACTIVE | _PERSISTENT | _TRANSIENT | _AUTOSTART | _NO_AUTOSTART
_VOL_CREATE_VALIDATE = int(StorageVolCreateFlags.VALIDATE)
_POOL_DEFINE_VALIDATE = int(StoragePoolDefineFlags.VALIDATE)

_SOURCES_LOGICAL = (
    "<sources>\n"
    "  <source>\n"
    "    <device path='/dev/sda20'/>\n"
    "    <name>testvg1</name>\n"
    "    <format type='lvm2'/>\n"
    "  </source>\n"
    "  <source>\n"
    "    <device path='/dev/sda21'/>\n"
    "    <name>testvg2</name>\n"
    "    <format type='lvm2'/>\n"
    "  </source>\n"
    "</sources>\n"
)
_SOURCES_NETFS = (
    "<sources>\n"
    "  <source>\n"
    "    <host name='{host}'/>\n"
    "    <dir path='/testshare'/>\n"
    "    <format type='nfs'/>\n"
    "  </source>\n"
    "</sources>\n"
)
# The list filter bit of each pool type, in virConnectListAllStoragePoolsFlags order.
# pool type -> its VIR_CONNECT_LIST_STORAGE_POOLS_<TYPE> bit
_TYPE_FLAG = {
    "dir": int(_P.DIR), "fs": int(_P.FS), "netfs": int(_P.NETFS), "logical": int(_P.LOGICAL),
    "disk": int(_P.DISK), "iscsi": int(_P.ISCSI), "scsi": int(_P.SCSI), "mpath": int(_P.MPATH),
    "rbd": int(_P.RBD), "sheepdog": int(_P.SHEEPDOG), "gluster": int(_P.GLUSTER),
    "zfs": int(_P.ZFS), "vstorage": int(_P.VSTORAGE), "iscsi-direct": int(_P.ISCSI_DIRECT),
}
_FILTERS_ALL = _STATE_FILTERS
for _bit in _TYPE_FLAG.values():
    _FILTERS_ALL |= _bit


def vol_type_for_pool(pool_type: str) -> int:
    """testStorageVolumeTypeForPool."""
    if pool_type in ("dir", "fs", "netfs", "vstorage"):
        return 0  # FILE
    if pool_type in ("sheepdog", "iscsi-direct", "gluster", "rbd"):
        return 3  # NETWORK
    return 1  # BLOCK


def parse_pool(xml: str | Any) -> StoragePoolDef:
    d = (poolconf.StoragePoolDef.from_xml(xml) if isinstance(xml, str)
         else poolconf.StoragePoolDef.from_element(xml))
    poolconf.validate_storage_pool_def(d)
    return d


def pool_matches(obj: PoolObj, flags: int) -> bool:
    """virStoragePoolObjListFilter."""
    if not pair_ok(flags, _ACTIVE, _INACTIVE, obj.active):
        return False
    if not pair_ok(flags, _PERSISTENT, _TRANSIENT, obj.persistent):
        return False
    if not pair_ok(flags, _AUTOSTART, _NO_AUTOSTART, obj.autostart and obj.persistent):
        return False
    type_bits = flags & ~_STATE_FILTERS
    return not (type_bits and not type_bits & _TYPE_FLAG.get(obj.pool_type, 0))


def new_pool(d: StoragePoolDef) -> PoolObj:
    d.capacity = DEFAULT_POOL_CAPACITY
    d.allocation = 0
    d.available = DEFAULT_POOL_CAPACITY
    target = d.target.path if d.target is not None and d.target.path else ""
    return PoolObj(d, d.name or "", d.uuid or "", d.type or "", target,
                   DEFAULT_POOL_CAPACITY, 0, DEFAULT_POOL_CAPACITY)


def add_volume(pool: PoolObj, v: StorageVolDef) -> VolumeObj:
    """Give a volume its path (pool target + '/' + name) and key (= path), and account it."""
    from virtkit.conf.storage_vol import VolTarget

    if v.target is None:
        v.target = VolTarget()
    if not v.target.path:
        v.target.path = f"{pool.target_path}/{v.name}"
    if not v.key:
        v.key = v.target.path
    vol = VolumeObj(v, v.name or "", v.key, v.target.path, v.capacity or 0, v.allocation or 0)
    pool.volumes[vol.name] = vol
    set_sizes(pool, pool.allocation + vol.allocation)
    return vol


def set_sizes(pool: PoolObj, allocation: int) -> None:
    pool.allocation = allocation
    pool.available = pool.capacity - allocation
    d = pool.defn
    d.capacity, d.allocation, d.available = pool.capacity, pool.allocation, pool.available


class StorageMixin(Base):
    """virStorageDriver for the test node."""

    def _pool(self, name: str) -> PoolObj:
        obj = self._node.pools.get(name)
        if obj is None:
            raise err(ErrorCode.NO_STORAGE_POOL, f"no storage pool with matching name '{name}'")
        return obj

    def _active_pool(self, name: str) -> PoolObj:
        obj = self._pool(name)
        if not obj.active:
            raise err(ErrorCode.OPERATION_INVALID, f"storage pool '{name}' is not active")
        return obj

    def _inactive_pool(self, name: str) -> PoolObj:
        obj = self._pool(name)
        if obj.active:
            raise err(ErrorCode.OPERATION_INVALID, f"storage pool '{name}' is active")
        return obj

    def _pool_by_uuid(self, uuid: str) -> PoolObj:
        for obj in self._node.pools.values():
            if obj.uuid == uuid:
                return obj
        raise err(ErrorCode.NO_STORAGE_POOL, f"no storage pool with matching uuid '{uuid}'")

    def _vol(self, pool: PoolObj, name: str) -> VolumeObj:
        vol = pool.volumes.get(name)
        if vol is None:
            raise err(ErrorCode.NO_STORAGE_VOL, f"no storage vol with matching name '{name}'")
        return vol

    def _pool_event(self, obj: PoolObj, event: int) -> None:
        self._node.events.queue("pool", obj.ident, 0, (event, 0))

    # ------------------------------------------------------------------ listing

    def connect_num_of_storage_pools(self) -> int:
        with self._node.lock:
            return sum(1 for p in self._node.pools.values() if p.active)

    def connect_list_storage_pools(self, maxnames: int) -> list[str]:
        with self._node.lock:
            return [p.name for p in self._node.pools.values() if p.active][:maxnames]

    def connect_num_of_defined_storage_pools(self) -> int:
        with self._node.lock:
            return sum(1 for p in self._node.pools.values() if not p.active)

    def connect_list_defined_storage_pools(self, maxnames: int) -> list[str]:
        with self._node.lock:
            return [p.name for p in self._node.pools.values() if not p.active][:maxnames]

    def connect_list_all_storage_pools(self, flags: int = 0) -> list[StoragePoolIdent]:
        check_flags(flags, _FILTERS_ALL, "testConnectListAllStoragePools")
        with self._node.lock:
            return [p.ident for p in self._node.pools.values() if pool_matches(p, flags)]

    def connect_find_storage_pool_sources(
        self, type: str, src_spec: str | None = None, flags: int = 0
    ) -> str:
        check_flags(flags, 0, "testConnectFindStoragePoolSources")
        # libvirt tests virStoragePoolTypeFromString's result with "!": only "dir" (0) is
        # called unknown; a really unknown type (-1) falls through to "not supported".
        if type == "dir":
            raise err(ErrorCode.INTERNAL_ERROR, f"unknown storage pool type {type}")
        if type == "logical":
            return _SOURCES_LOGICAL
        if type == "netfs":
            host = _source_host(src_spec)
            if not host:
                raise err(ErrorCode.INVALID_ARG, "hostname must be specified for netfs sources")
            return _SOURCES_NETFS.format(host=host)
        raise err(ErrorCode.NO_SUPPORT, f"pool type '{type}' does not support source discovery")

    # ------------------------------------------------------------------ lookup

    def storage_pool_lookup_by_name(self, name: str) -> StoragePoolIdent:
        with self._node.lock:
            return self._pool(name).ident

    def storage_pool_lookup_by_uuid(self, uuid: str) -> StoragePoolIdent:
        with self._node.lock:
            return self._pool_by_uuid(uuid.lower()).ident

    def storage_pool_lookup_by_volume(self, vol: StorageVolIdent) -> StoragePoolIdent:
        return self.storage_pool_lookup_by_name(vol.pool)

    # ------------------------------------------------------------------ life cycle

    def _add_pool(self, d: StoragePoolDef, check_live: bool) -> PoolObj:
        """virStoragePoolObjListAdd."""
        pools = self._node.pools
        obj = pools.get(d.name or "")
        by_uuid = next((p for p in pools.values() if p.uuid == d.uuid), None)
        if by_uuid is not None and by_uuid.name != d.name:
            raise err(ErrorCode.OPERATION_FAILED,
                      f"pool '{by_uuid.name}' is already defined with uuid {d.uuid}",
                      ErrorDomain.STORAGE)
        if obj is not None:
            if obj.uuid != d.uuid:
                raise err(ErrorCode.OPERATION_FAILED,
                          f"pool '{obj.name}' already exists with uuid {obj.uuid}",
                          ErrorDomain.STORAGE)
            if check_live and obj.active:
                raise err(ErrorCode.OPERATION_INVALID,
                          f"Pool '{obj.name}' is already active", ErrorDomain.STORAGE)
            if obj.active:
                # libvirt keeps the new definition as the pool's newDef, which the test
                # driver never reads: the running pool is left as it is.
                return obj
            fresh = new_pool(d)
            fresh.volumes = obj.volumes
            fresh.persistent, fresh.autostart = obj.persistent, obj.autostart
            pools[fresh.name] = fresh
            return fresh
        obj = new_pool(d)
        pools[obj.name] = obj
        return obj

    def storage_pool_create_xml(self, xml: str, flags: int = 0) -> StoragePoolIdent:
        check_flags(flags, 0, "testStoragePoolCreateXML")
        d = parse_pool(xml)
        with self._txn():
            obj = self._add_pool(d, check_live=True)
            obj.persistent = False
            obj.active = True
            self._pool_event(obj, POOL_STARTED)
            return obj.ident

    def storage_pool_define_xml(self, xml: str, flags: int = 0) -> StoragePoolIdent:
        check_flags(flags, _POOL_DEFINE_VALIDATE, "testStoragePoolDefineXML")
        d = parse_pool(xml)
        with self._txn():
            obj = self._add_pool(d, check_live=False)
            obj.persistent = True
            self._pool_event(obj, POOL_DEFINED)
            return obj.ident

    def storage_pool_undefine(self, pool: StoragePoolIdent) -> None:
        with self._txn() as node:
            obj = self._inactive_pool(pool.name)
            self._pool_event(obj, POOL_UNDEFINED)
            del node.pools[obj.name]

    def storage_pool_build(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        check_flags(flags, 0, "testStoragePoolBuild")
        with self._txn():
            self._pool_event(self._inactive_pool(pool.name), POOL_CREATED)

    def storage_pool_create(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        check_flags(flags, 0, "testStoragePoolCreate")
        with self._txn():
            obj = self._inactive_pool(pool.name)
            obj.active = True
            self._pool_event(obj, POOL_STARTED)

    def storage_pool_destroy(self, pool: StoragePoolIdent) -> None:
        with self._txn() as node:
            obj = self._active_pool(pool.name)
            obj.active = False
            self._pool_event(obj, POOL_STOPPED)
            if not obj.persistent:
                del node.pools[obj.name]

    def storage_pool_delete(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        check_flags(flags, 0, "testStoragePoolDelete")
        with self._txn():
            self._pool_event(self._inactive_pool(pool.name), POOL_DELETED)

    def storage_pool_refresh(self, pool: StoragePoolIdent, flags: int = 0) -> None:
        check_flags(flags, 0, "testStoragePoolRefresh")
        with self._txn() as node:
            obj = self._active_pool(pool.name)
            node.events.queue("pool", obj.ident, 1, ())

    def storage_pool_get_info(self, pool: StoragePoolIdent) -> StoragePoolInfo:
        with self._node.lock:
            obj = self._pool(pool.name)
            return StoragePoolInfo(2 if obj.active else 0, obj.capacity, obj.allocation,
                                   obj.available)

    def storage_pool_get_xml_desc(self, pool: StoragePoolIdent, flags: int = 0) -> str:
        check_flags(flags, 0, "testStoragePoolGetXMLDesc")
        with self._node.lock:
            return str(self._pool(pool.name).defn.to_xml())

    def storage_pool_get_autostart(self, pool: StoragePoolIdent) -> bool:
        with self._node.lock:
            obj = self._pool(pool.name)
            return obj.persistent and obj.autostart

    def storage_pool_set_autostart(self, pool: StoragePoolIdent, autostart: bool) -> None:
        with self._node.lock:
            obj = self._pool(pool.name)
            if not obj.persistent:
                raise err(ErrorCode.INVALID_ARG, "pool has no config file")
            obj.autostart = bool(autostart)

    def storage_pool_is_active(self, pool: StoragePoolIdent) -> bool:
        with self._node.lock:
            return self._pool_by_uuid(pool.uuid).active

    def storage_pool_is_persistent(self, pool: StoragePoolIdent) -> bool:
        with self._node.lock:
            return self._pool_by_uuid(pool.uuid).persistent

    # ------------------------------------------------------------------ volumes

    def storage_pool_num_of_volumes(self, pool: StoragePoolIdent) -> int:
        with self._node.lock:
            return len(self._active_pool(pool.name).volumes)

    def storage_pool_list_volumes(self, pool: StoragePoolIdent, maxnames: int) -> list[str]:
        with self._node.lock:
            return list(self._active_pool(pool.name).volumes)[:maxnames]

    def storage_pool_list_all_volumes(
        self, pool: StoragePoolIdent, flags: int = 0
    ) -> list[StorageVolIdent]:
        check_flags(flags, 0, "testStoragePoolListAllVolumes")
        with self._node.lock:
            obj = self._pool_by_uuid(pool.uuid)
            if not obj.active:
                raise err(ErrorCode.OPERATION_INVALID, "storage pool is not active")
            return [StorageVolIdent(obj.name, v.name, v.key) for v in obj.volumes.values()]

    def storage_vol_lookup_by_name(self, pool: StoragePoolIdent, name: str) -> StorageVolIdent:
        with self._node.lock:
            obj = self._active_pool(pool.name)
            vol = self._vol(obj, name)
            return StorageVolIdent(obj.name, vol.name, vol.key)

    def storage_vol_lookup_by_key(self, key: str) -> StorageVolIdent:
        with self._node.lock:
            for obj in self._node.pools.values():
                if obj.active:
                    for vol in obj.volumes.values():
                        if vol.key == key:
                            return StorageVolIdent(obj.name, vol.name, vol.key)
        raise err(ErrorCode.NO_STORAGE_VOL, f"no storage vol with matching key '{key}'")

    def storage_vol_lookup_by_path(self, path: str) -> StorageVolIdent:
        with self._node.lock:
            for obj in self._node.pools.values():
                if obj.active:
                    for vol in obj.volumes.values():
                        if vol.path == path:
                            return StorageVolIdent(obj.name, vol.name, vol.key)
        raise err(ErrorCode.NO_STORAGE_VOL, f"no storage vol with matching path '{path}'")

    def _parse_vol(self, obj: PoolObj, xml: str, flags: int) -> StorageVolDef:
        v = volconf.StorageVolDef.from_xml(xml)
        volconf.validate_storage_vol_def(v, obj.pool_type)
        v.apply_pool_defaults(obj.pool_type)
        if v.name in obj.volumes:
            raise err(ErrorCode.OPERATION_FAILED, "storage vol already exists")
        if obj.allocation + (v.allocation or 0) > obj.capacity:
            raise err(ErrorCode.INTERNAL_ERROR,
                      f"Not enough free space in pool for volume '{v.name}'")
        v.key = None
        if v.target is not None:
            v.target.path = None
        return v

    def storage_vol_create_xml(
        self, pool: StoragePoolIdent, xml: str, flags: int = 0
    ) -> StorageVolIdent:
        check_flags(flags, _VOL_CREATE_VALIDATE, "testStorageVolCreateXML")
        with self._node.lock:
            obj = self._active_pool(pool.name)
            vol = add_volume(obj, self._parse_vol(obj, xml, flags))
            return StorageVolIdent(obj.name, vol.name, vol.key)

    def storage_vol_create_xml_from(
        self, pool: StoragePoolIdent, xml: str, clonevol: StorageVolIdent, flags: int = 0
    ) -> StorageVolIdent:
        check_flags(flags, _VOL_CREATE_VALIDATE, "testStorageVolCreateXMLFrom")
        with self._node.lock:
            obj = self._active_pool(pool.name)
            v = volconf.StorageVolDef.from_xml(xml)
            volconf.validate_storage_vol_def(v, obj.pool_type)
            v.apply_pool_defaults(obj.pool_type)
            if v.name in obj.volumes:
                raise err(ErrorCode.OPERATION_FAILED, "storage vol already exists")
            self._vol(obj, clonevol.name)
            v = self._parse_vol(obj, xml, flags)
            vol = add_volume(obj, v)
            return StorageVolIdent(obj.name, vol.name, vol.key)

    def storage_vol_delete(self, vol: StorageVolIdent, flags: int = 0) -> None:
        check_flags(flags, 0, "testStorageVolDelete")
        with self._node.lock:
            obj = self._active_pool(vol.pool)
            v = self._vol(obj, vol.name)
            del obj.volumes[v.name]
            set_sizes(obj, obj.allocation - v.allocation)

    def storage_vol_get_info(self, vol: StorageVolIdent) -> StorageVolInfo:
        with self._node.lock:
            obj = self._active_pool(vol.pool)
            v = self._vol(obj, vol.name)
            return StorageVolInfo(vol_type_for_pool(obj.pool_type), v.capacity, v.allocation)

    def storage_vol_get_xml_desc(self, vol: StorageVolIdent, flags: int = 0) -> str:
        check_flags(flags, 0, "testStorageVolGetXMLDesc")
        with self._node.lock:
            obj = self._active_pool(vol.pool)
            return str(self._vol(obj, vol.name).defn.to_xml())

    def storage_vol_get_path(self, vol: StorageVolIdent) -> str:
        with self._node.lock:
            obj = self._active_pool(vol.pool)
            return self._vol(obj, vol.name).path

    def connect_storage_pool_event_register_any(
        self, pool: StoragePoolIdent | None, event_id: int, callback: StoragePoolEventCallback
    ) -> int:
        if event_id not in (0, 1):
            raise err(ErrorCode.INVALID_ARG, f"unsupported event ID {event_id}", ErrorDomain.NONE)
        return self._node.events.register(
            "pool", event_id, pool.uuid if pool else None, callback, self
        )

    def connect_storage_pool_event_deregister_any(self, callback_id: int) -> None:
        self._node.events.deregister(callback_id, self)


def _source_host(spec: str | None) -> str | None:
    if not spec:
        return None
    from virtkit.conf.xmlutil import parse_xml

    root = parse_xml(spec, "(storage_source_specification)")
    host = root.find("host")
    return host.get("name") if host is not None else None
