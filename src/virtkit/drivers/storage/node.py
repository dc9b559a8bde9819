"""The storage driver's node: every pool under one root, shared by its connections.

One :class:`StorageNode` exists per root in a process (:func:`node_for`). It keeps the
persistent definitions (``ConfigStore``) and the live definitions of active pools
(status directory), runs pool backends under its lock, holds the volume lists the
backends report, and queues pool events. Pools stay active when the process exits;
a new node takes back those whose backend still finds them usable.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import uuid as uuidlib
from collections.abc import Callable

from virtkit.conf.storage_pool import StoragePoolDef, validate_storage_pool_def
from virtkit.conf.storage_vol import StorageVolDef, validate_storage_vol_def
from virtkit.drivers.links import SecretValues
from virtkit.drivers.noderegistry import NodeRegistry
from virtkit.drivers.objnode import NodeObject, ObjectNode
from virtkit.drivers.persist import ConfigStore, check_name
from virtkit.drivers.storage.backend import (
    VOL_BLOCK,
    PoolBackend,
    PoolSize,
    TargetFacts,
    VolState,
)
from virtkit.drivers.storage.encryption import encryption_secret, parse_encryption
from virtkit.drivers.storage.paths import StoragePaths
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error
from virtkit.types import StoragePoolIdent, StorageVolIdent

__all__ = ["PoolObj", "StorageNode", "node_for", "release"]

log = logging.getLogger("virtkit.drivers.storage")

_ST = ErrorDomain.STORAGE
(EV_DEFINED, EV_UNDEFINED, EV_STARTED, EV_STOPPED, EV_CREATED, EV_DELETED) = range(6)
EVENT_LIFECYCLE, EVENT_REFRESH = 0, 1

# pool type -> "module:Class" of its backend
BACKENDS = {
    "dir": "virtkit.drivers.storage.backend_dir:DirBackend",
    "fs": "virtkit.drivers.storage.backend_fs:FsBackend",
    "netfs": "virtkit.drivers.storage.backend_netfs:NetfsBackend",
    "logical": "virtkit.drivers.storage.backend_logical:LogicalBackend",
}


def err(code: int, detail: str) -> VirtError:
    return make_error(code, _ST, detail)


def backend_class(pool_type: str) -> type[PoolBackend]:
    spec = BACKENDS.get(pool_type)
    if spec is None:
        raise err(ErrorCode.NO_SUPPORT,
                  f"storage pool type '{pool_type}' is not supported by virtkit")
    mod, cls = spec.split(":")
    try:
        found: type[PoolBackend] = getattr(importlib.import_module(mod), cls)
    except (ImportError, AttributeError):
        raise err(ErrorCode.INTERNAL_ERROR, f"missing backend for pool type '{pool_type}'"
                  ) from None
    return found


def parse_pool(xml: str) -> StoragePoolDef:
    d = StoragePoolDef.from_xml(xml)
    validate_storage_pool_def(d)
    check_name(d.name or "", _ST)
    if not d.uuid:
        d.uuid = str(uuidlib.uuid4())
    return d


def check_vol_name(name: str) -> None:
    """Refuse volume names that are not a single file name in the pool."""
    if "/" in name:  # libvirt's storageVolCreateXML: VIR_ERR_OPERATION_INVALID
        raise err(ErrorCode.OPERATION_INVALID, f"volume name '{name}' cannot contain '/'")
    if "\0" in name or name in ("", ".", ".."):
        raise err(ErrorCode.INVALID_ARG, f"volume name '{name}' is not allowed")


class PoolObj(NodeObject[StoragePoolDef]):
    """One pool: its definitions, backend and (while active) sizes and volumes."""

    def __init__(self, name: str, uuid: str, backend: PoolBackend) -> None:
        super().__init__(name, uuid)
        self.backend = backend
        self.size = PoolSize()
        self.vols: dict[str, VolState] = {}
        # volume name -> open upload/download streams (libvirt's voldef->in_use)
        self.in_use: dict[str, int] = {}

    @property
    def ident(self) -> StoragePoolIdent:
        return StoragePoolIdent(self.name, self.uuid)

    @property
    def type(self) -> str:
        return self.definition().type or "dir"

    def target_path(self) -> str:
        t = self.definition().target
        return os.path.normpath(t.path) if t is not None and t.path else ""


class StorageNode(ObjectNode[PoolObj]):
    """Every pool under one root."""

    kind = "storage pool"
    error_domain = _ST
    not_found_code = ErrorCode.NO_STORAGE_POOL

    def __init__(self, paths: StoragePaths, *, autostart: bool = False) -> None:
        paths.ensure()
        super().__init__(ConfigStore(paths.config_dir, paths.autostart_dir), log)
        self.paths = paths
        # set by the QEMU driver: path -> name of the running domain using it, or None
        self.in_use: Callable[[str], str | None] | None = None
        # set by drivers/compose.py: the secret node of the root (LUKS passphrases)
        self.secrets: SecretValues | None = None
        self.statuses = ConfigStore(paths.status_dir)
        with self.lock:
            self.load_configs()
            live, _ = self.statuses.load_all()
            for name, xml in live.items():
                self._reattach(name, xml)
        if autostart:
            self.autostart_all()

    # ------------------------------------------------------------ helpers

    def event(self, obj: PoolObj, event: int) -> None:
        self.events.queue("pool", obj.ident, EVENT_LIFECYCLE, (event, 0))

    def active_pool(self, ident: StoragePoolIdent) -> PoolObj:
        obj = self.lookup(ident)
        if not obj.active:
            raise err(ErrorCode.OPERATION_INVALID, f"storage pool '{obj.name}' is not active")
        return obj

    def vol(self, ident: StorageVolIdent) -> tuple[PoolObj, VolState]:
        obj = self.by_name.get(ident.pool)
        if obj is None:
            raise err(ErrorCode.NO_STORAGE_POOL,
                      f"no storage pool with matching name '{ident.pool}'")
        if not obj.active:
            raise err(ErrorCode.OPERATION_INVALID, f"storage pool '{obj.name}' is not active")
        vol = obj.vols.get(ident.name)
        if vol is None:
            raise err(ErrorCode.NO_STORAGE_VOL,
                      f"no storage vol with matching name '{ident.name}'")
        return obj, vol

    def resolve_volume(self, pool: str, volume: str) -> tuple[str, str]:
        """A ``<disk type='volume'>`` source: ("file" or "block", path), as libvirt
        translates it at domain start (the pool must be active)."""
        with self.lock:
            obj = self.by_name.get(pool)
            if obj is None:
                raise err(ErrorCode.NO_STORAGE_POOL,
                          f"no storage pool with matching name '{pool}'")
            if not obj.active:
                raise err(ErrorCode.OPERATION_INVALID,
                          f"storage pool '{pool}' containing volume '{volume}' is not active")
            vol = obj.vols.get(volume)
            if vol is None:
                raise err(ErrorCode.NO_STORAGE_VOL,
                          f"no storage vol with matching name '{volume}'")
            return ("block" if vol.type == VOL_BLOCK else "file"), vol.path

    def pool_at_directory(self, path: str) -> str | None:
        """The name of the active pool whose target directory is ``path`` (normalised),
        or None (virStoragePoolLookupByTargetPath, as migration's disk pre-creation asks)."""
        want = os.path.normpath(path or "/")
        with self.lock:
            for obj in self.by_name.values():
                if obj.active and obj.target_path() == want:
                    return obj.name
        return None

    def pool_known(self, name: str) -> bool:
        """Whether a pool named ``name`` is defined (active or not)."""
        with self.lock:
            return name in self.by_name

    def create_volume_in(self, pool: str, xml: str, flags: int) -> StorageVolIdent:
        """virStorageVolCreateXML in the pool named ``pool``."""
        with self.lock:
            obj = self.by_name.get(pool)
        if obj is None:
            raise err(ErrorCode.NO_STORAGE_POOL, f"no storage pool with matching name '{pool}'")
        return self.create_vol(obj.ident, xml, flags)

    def vol_ident(self, obj: PoolObj, vol: VolState) -> StorageVolIdent:
        return StorageVolIdent(obj.name, vol.name, vol.key)

    def check_not_in_use(self, vol: VolState, obj: PoolObj | None = None) -> None:
        """Refuse a volume a running domain uses or (with ``obj``) a stream has open."""
        owner = self.in_use(vol.path) if self.in_use is not None else None
        if owner is not None:
            log.info("volume %s is used by domain %s", vol.path, owner)
        if owner is not None or (obj is not None and obj.in_use.get(vol.name)):
            raise err(ErrorCode.OPERATION_INVALID, f"volume '{vol.name}' is still in use.")

    def vol_acquire(self, obj: PoolObj, vol: VolState) -> Callable[[], None]:
        """Mark ``vol`` in use (an upload or download stream is open); the function
        returned releases it, once."""
        obj.in_use[vol.name] = obj.in_use.get(vol.name, 0) + 1
        done = False

        def release() -> None:
            nonlocal done
            with self.lock:
                if done:
                    return
                done = True
                left = obj.in_use.get(vol.name, 0) - 1
                if left > 0:
                    obj.in_use[vol.name] = left
                else:
                    obj.in_use.pop(vol.name, None)
        return release

    # ------------------------------------------------------------ loading

    def object_from_config(self, name: str, xml: str) -> PoolObj:
        d = parse_pool(xml)
        obj = PoolObj(d.name or name, d.uuid or "", backend_class(d.type or "dir")(d))
        obj.config = d
        return obj

    def start_object(self, obj: PoolObj) -> None:
        self.start(obj.ident)

    def _reattach(self, name: str, xml: str) -> None:
        try:
            d = parse_pool(xml)
            backend = backend_class(d.type or "dir")(d)
        except VirtError as exc:
            log.error("live state of storage pool %s unreadable: %s", name, exc)
            return
        obj = self.by_name.get(name)
        if obj is None:
            obj = PoolObj(name, d.uuid or "", backend)
            self.by_name[name] = obj
        if not backend.check():
            log.warning("storage pool %s is no longer usable; it is inactive", name)
            with contextlib.suppress(VirtError):
                self.statuses.delete(name)
            if not obj.persistent:
                del self.by_name[name]
            return
        obj.backend, obj.live = backend, d
        try:
            self._refresh(obj)
        except VirtError as exc:
            log.error("refresh of storage pool %s failed: %s", name, exc)
            self._deactivate(obj)

    # ------------------------------------------------------------ definitions

    def list_all(self, flags: int = 0) -> list[PoolObj]:
        def pair(on: int, off: int, value: bool) -> bool:
            if not flags & (on | off):
                return True
            return bool((flags & on and value) or (flags & off and not value))

        type_bits = flags & ~0x3F
        with self.lock:
            out = []
            for o in sorted(self.by_name.values(), key=lambda o: o.name):
                if not (pair(2, 1, o.active) and pair(4, 8, o.persistent)
                        and pair(16, 32, o.autostart)):
                    continue
                if type_bits and not type_bits & _TYPE_FLAG.get(o.type, 0):
                    continue
                out.append(o)
            return out

    def _assign(self, d: StoragePoolDef, live: bool) -> PoolObj:
        """Add ``d`` or find the pool it redefines (libvirt's duplicate checks)."""
        name, uuid = d.name or "", d.uuid or ""
        obj = self.by_name.get(name)
        if obj is not None and obj.uuid != uuid:
            raise err(ErrorCode.OPERATION_FAILED,
                      f"pool '{name}' already exists with uuid {obj.uuid}")
        for other in self.by_name.values():
            if other.name != name and other.uuid == uuid:
                raise err(ErrorCode.OPERATION_FAILED,
                          f"pool '{other.name}' is already defined with uuid {uuid}")
        target = os.path.normpath(d.target.path) if d.target and d.target.path else None
        for other in self.by_name.values():
            if other.name != name and target and other.target_path() == target:
                raise err(ErrorCode.OPERATION_FAILED,
                          f"Storage source conflict with pool: '{other.name}'")
        if obj is not None:
            if live and obj.active:
                raise err(ErrorCode.OPERATION_INVALID,
                          f"storage pool '{name}' is already active")
            if obj.type != (d.type or "dir"):
                raise err(ErrorCode.OPERATION_FAILED,
                          f"pool '{name}' is already defined with a different type")
            return obj
        obj = PoolObj(name, uuid, backend_class(d.type or "dir")(d))
        self.by_name[name] = obj
        return obj

    def define(self, xml: str) -> StoragePoolIdent:
        with self.op():
            d = parse_pool(xml)
            obj = self._assign(d, live=False)
            self.configs.save(obj.name, d.to_xml(), obj.uuid)
            obj.config = d
            if not obj.active:
                obj.backend = backend_class(d.type or "dir")(d)
            self.event(obj, EV_DEFINED)
            return obj.ident

    def create_xml(self, xml: str, build_flags: int | None) -> StoragePoolIdent:
        with self.op():
            d = parse_pool(xml)
            existed = d.name in self.by_name
            obj = self._assign(d, live=True)
            try:
                backend = backend_class(d.type or "dir")(d)
                if build_flags is not None:
                    backend.build(build_flags)
                self._start(obj, d, backend)
            except BaseException:
                if not existed:
                    self.by_name.pop(obj.name, None)
                raise
            return obj.ident

    def undefine(self, ident: StoragePoolIdent) -> None:
        with self.op():
            obj = self.lookup(ident)
            if obj.active:
                raise err(ErrorCode.OPERATION_INVALID,
                          f"storage pool '{obj.name}' is still active")
            if not obj.persistent:
                raise err(ErrorCode.INVALID_ARG, "pool has no config file")
            self.configs.delete(obj.name)
            obj.config = None
            obj.autostart = False
            self.event(obj, EV_UNDEFINED)
            del self.by_name[obj.name]

    # ------------------------------------------------------------ life cycle

    def build(self, ident: StoragePoolIdent, flags: int) -> None:
        with self.op():
            obj = self.lookup(ident)
            if obj.active:
                raise err(ErrorCode.OPERATION_INVALID,
                          f"storage pool '{obj.name}' is already active")
            obj.backend.build(flags)
            self.event(obj, EV_CREATED)

    def start(self, ident: StoragePoolIdent, build_flags: int | None = None) -> None:
        with self.op():
            obj = self.lookup(ident)
            if obj.active:
                raise err(ErrorCode.OPERATION_INVALID,
                          f"storage pool '{obj.name}' is already active")
            d = obj.definition()
            backend = backend_class(d.type or "dir")(d)
            if build_flags is not None:
                backend.build(build_flags)
            self._start(obj, d, backend)

    def _start(self, obj: PoolObj, d: StoragePoolDef, backend: PoolBackend) -> None:
        backend.start()
        try:
            size, vols = backend.refresh()
            self.statuses.save(obj.name, d.to_xml(), obj.uuid)
        except BaseException:
            with contextlib.suppress(VirtError):
                backend.stop()
            raise
        obj.backend, obj.live = backend, d
        obj.size, obj.vols = size, {v.name: v for v in vols}
        self.event(obj, EV_STARTED)

    def _deactivate(self, obj: PoolObj) -> None:
        with contextlib.suppress(VirtError):
            self.statuses.delete(obj.name)
        obj.live, obj.vols, obj.size, obj.in_use = None, {}, PoolSize(), {}
        if obj.config is not None:
            obj.backend = backend_class(obj.config.type or "dir")(obj.config)
        else:
            self.by_name.pop(obj.name, None)

    def destroy(self, ident: StoragePoolIdent) -> None:
        with self.op():
            obj = self.active_pool(ident)
            if any(obj.in_use.values()):
                raise err(ErrorCode.INTERNAL_ERROR,
                          f"pool '{obj.name}' has asynchronous jobs running.")
            for vol in obj.vols.values():
                self.check_not_in_use(vol)
            obj.backend.stop()
            self._deactivate(obj)
            self.event(obj, EV_STOPPED)

    def delete(self, ident: StoragePoolIdent, flags: int) -> None:
        with self.op():
            obj = self.lookup(ident)
            if obj.active:
                raise err(ErrorCode.OPERATION_INVALID,
                          f"storage pool '{obj.name}' is still active")
            obj.backend.delete(flags)
            self.event(obj, EV_DELETED)

    def _refresh(self, obj: PoolObj) -> None:
        size, vols = obj.backend.refresh()
        obj.size, obj.vols = size, {v.name: v for v in vols}

    def refresh(self, ident: StoragePoolIdent) -> None:
        with self.op():
            obj = self.active_pool(ident)
            try:
                self._refresh(obj)
            except VirtError:
                # libvirt stops a pool whose refresh fails
                with contextlib.suppress(VirtError):
                    obj.backend.stop()
                self._deactivate(obj)
                self.event(obj, EV_STOPPED)
                raise
            self.events.queue("pool", obj.ident, EVENT_REFRESH, ())

    def set_autostart(self, ident: StoragePoolIdent, on: bool) -> None:
        with self.op():
            obj = self.lookup(ident)
            if not obj.persistent:
                raise err(ErrorCode.INTERNAL_ERROR, "cannot set autostart for transient pool")
            self.configs.set_autostart(obj.name, on)
            obj.autostart = on

    def pool_xml(self, ident: StoragePoolIdent, inactive: bool) -> str:
        with self.lock:
            obj = self.lookup(ident)
            d = StoragePoolDef.from_xml(obj.definition(inactive).to_xml())
            if obj.active and not (inactive and obj.persistent):
                d.capacity, d.allocation = obj.size.capacity, obj.size.allocation
                d.available = obj.size.available
            else:
                d.capacity = d.allocation = d.available = 0
            return str(d.to_xml())

    # ------------------------------------------------------------ volumes

    def find_vol(self, pred: Callable[[VolState], bool]) -> tuple[PoolObj, VolState] | None:
        for obj in sorted(self.by_name.values(), key=lambda o: o.name):
            if not obj.active:
                continue
            for vol in obj.vols.values():
                if pred(vol):
                    return obj, vol
        return None

    def _parse_vol(self, obj: PoolObj, xml: str) -> StorageVolDef:
        d = StorageVolDef.from_xml(xml)
        d.apply_pool_defaults(obj.type)
        validate_storage_vol_def(d, obj.type)
        check_vol_name(d.name or "")
        if d.name in obj.vols:
            raise err(ErrorCode.STORAGE_VOL_EXIST, f"'{d.name}'")
        assert d.target is not None
        d.target.path = obj.backend.vol_path(d.name or "")
        if d.target.encryption is not None:
            parse_encryption(d.target.encryption)  # its XML errors before anything is made
        return d

    def _check_space(self, obj: PoolObj, needed: int) -> None:
        if needed > obj.size.available:
            raise err(ErrorCode.OPERATION_FAILED, "Not enough space left in storage pool")

    def _after_vol_change(self, obj: PoolObj) -> None:
        known = {n: v.encryption_secret for n, v in obj.vols.items() if v.encryption_secret}
        created = {n: v.created for n, v in obj.vols.items() if v.created is not None}
        with contextlib.suppress(VirtError):
            self._refresh(obj)
        for name, secret in known.items():  # what only a pool-refresh forgets in libvirt
            vol = obj.vols.get(name)
            if vol is not None and vol.encryption:
                vol.encryption_secret = secret
        for name, facts in created.items():
            vol = obj.vols.get(name)
            if vol is not None:
                vol.created = facts

    def _reread(self, obj: PoolObj, vol: VolState) -> VolState:
        """The volume re-read from its file (libvirt's refreshVol), keeping what only a
        pool refresh forgets: the creating definition's <compat>/<clusterSize>/<features>."""
        new = obj.backend.vol_state(vol)
        if new is not vol:
            new.created = vol.created
        return new

    def create_vol(self, ident: StoragePoolIdent, xml: str, flags: int) -> StorageVolIdent:
        with self.op():
            obj = self.active_pool(ident)
            d = self._parse_vol(obj, xml)
            self._check_space(obj, d.allocation or 0)
            vol = obj.backend.create_vol(d, flags, secrets=self.secrets)
            if d.target is not None and d.target.encryption is not None:
                vol.encryption_secret = encryption_secret(d.target.encryption)
            vol.created = _created_facts(d)
            obj.vols[vol.name] = vol
            self._after_vol_change(obj)
            return self.vol_ident(obj, obj.vols.get(vol.name, vol))

    def create_vol_from(self, ident: StoragePoolIdent, xml: str, src: StorageVolIdent,
                        flags: int) -> StorageVolIdent:
        with self.op():
            obj = self.active_pool(ident)
            src_obj, src_vol = self.vol(src)
            d = self._parse_vol(obj, xml)
            self._check_space(obj, min(d.allocation or 0, src_vol.capacity))
            vol = obj.backend.create_vol_from(d, src_vol, src_obj.backend, flags,
                                              secrets=self.secrets)
            if d.target is not None and d.target.encryption is not None:
                vol.encryption_secret = encryption_secret(d.target.encryption)
            vol.created = _created_facts(d)
            obj.vols[vol.name] = vol
            self._after_vol_change(obj)
            return self.vol_ident(obj, obj.vols.get(vol.name, vol))

    def delete_vol(self, ident: StorageVolIdent, flags: int) -> None:
        with self.op():
            obj, vol = self.vol(ident)
            self.check_not_in_use(vol, obj)
            obj.backend.delete_vol(vol, flags)
            obj.vols.pop(vol.name, None)
            self._after_vol_change(obj)

    def resize_vol(self, ident: StorageVolIdent, capacity: int, flags: int) -> None:
        with self.op():
            obj, vol = self.vol(ident)
            self.check_not_in_use(vol, obj)
            shrink, allocate = bool(flags & 4), bool(flags & 1)
            if flags & 2:  # DELTA
                capacity = (vol.capacity - min(capacity, vol.capacity) if shrink
                            else vol.capacity + capacity)
            if capacity < vol.allocation:  # libvirt checks this even with the shrink flag
                raise err(ErrorCode.INVALID_ARG, "can't shrink capacity below existing allocation")
            if capacity < vol.capacity and not shrink:
                raise err(ErrorCode.INVALID_ARG,
                          "Can't shrink capacity below current capacity unless shrink flag "
                          "explicitly specified")
            if allocate:
                self._check_space(obj, capacity - vol.allocation)
            obj.backend.resize_vol(vol, capacity, flags & ~2)
            obj.vols[vol.name] = self._reread(obj, vol)
            self._after_vol_change(obj)

    def wipe_vol(self, ident: StorageVolIdent, algorithm: int, flags: int) -> None:
        with self.op():
            obj, vol = self.vol(ident)
            self.check_not_in_use(vol, obj)
            obj.backend.wipe_vol(vol, algorithm, flags)
            obj.vols[vol.name] = self._reread(obj, vol)

    def vol_updated(self, ident: StorageVolIdent) -> None:
        """Re-read a volume after an upload finished."""
        with self.lock:
            obj = self.by_name.get(ident.pool)
            if obj is None or not obj.active or ident.name not in obj.vols:
                return
            obj.vols[ident.name] = self._reread(obj, obj.vols[ident.name])
            with contextlib.suppress(VirtError):
                self._refresh(obj)


def _created_facts(d: StorageVolDef) -> TargetFacts:
    """What libvirt keeps of the creating definition's <target> until a pool refresh."""
    t = d.target
    if t is None:
        return TargetFacts()
    return TargetFacts(t.compat, t.cluster_size or None,
                       tuple(t.features.names) if t.features is not None else None)


# The list filter bit of each pool type (virConnectListAllStoragePoolsFlags).
_TYPE_FLAG = {
    "dir": 1 << 6, "fs": 1 << 7, "netfs": 1 << 8, "logical": 1 << 9, "disk": 1 << 10,
    "iscsi": 1 << 11, "scsi": 1 << 12, "mpath": 1 << 13, "rbd": 1 << 14,
    "sheepdog": 1 << 15, "gluster": 1 << 16, "zfs": 1 << 17, "vstorage": 1 << 18,
    "iscsi-direct": 1 << 19,
}

_nodes: NodeRegistry[StorageNode] = NodeRegistry()


def node_for(paths: StoragePaths, *, autostart: bool = False) -> StorageNode:
    """The node for ``paths`` in this process (created and loaded once)."""
    return _nodes.acquire(paths, lambda: StorageNode(paths, autostart=autostart))


def loaded(paths: StoragePaths) -> StorageNode | None:
    """The node for ``paths`` if this process has one (none is created)."""
    return _nodes.loaded(paths)


def release(node: StorageNode) -> None:
    """A connection closed (the node and its pools stay)."""
    _nodes.release(node)
