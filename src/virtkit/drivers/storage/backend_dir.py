"""``dir`` pools: a directory of image files."""

from __future__ import annotations

import os
import stat

from virtkit.conf.storage_pool import Permissions
from virtkit.conf.storage_vol import StorageVolDef
from virtkit.drivers.links import SecretValues
from virtkit.drivers.storage import encryption, volumes
from virtkit.drivers.storage.backend import (
    VOL_DIR,
    PoolBackend,
    PoolSize,
    VolState,
    storage_error,
)
from virtkit.drivers.storage.wipe import wipe_local
from virtkit.errors import ErrorCode, VirtError

__all__ = ["DirBackend", "statvfs_size"]

DEFAULT_POOL_MODE = 0o711  # libvirt's VIR_STORAGE_DEFAULT_POOL_PERM_MODE
DEFAULT_VOL_MODE = 0o600  # VIR_STORAGE_DEFAULT_VOL_PERM_MODE
_BUILD_NO_OVERWRITE, _BUILD_OVERWRITE = 4, 8  # VIR_STORAGE_POOL_BUILD_*
_PREALLOC_METADATA = 1


def _system(msg: str, exc: OSError) -> VirtError:
    return storage_error(ErrorCode.SYSTEM_ERROR, f"{msg}: {exc.strerror or exc}")


def statvfs_size(path: str) -> PoolSize:
    """Capacity, allocation and available bytes of the file system holding ``path``, as
    libvirt's virStorageBackendRefreshLocal computes them: available is the free blocks
    (``f_bfree``, the root-reserved ones included, not ``f_bavail``) and allocation the
    rest of the capacity."""
    try:
        sv = os.statvfs(path)
    except OSError as exc:
        raise _system(f"cannot statvfs path '{path}'", exc) from None
    capacity = sv.f_frsize * sv.f_blocks
    available = sv.f_bfree * sv.f_frsize
    return PoolSize(capacity=capacity, allocation=capacity - available, available=available)


def _mode(text: str | None, default: int) -> int:
    return int(text, 8) if text else default


class DirBackend(PoolBackend):
    """A directory on the host; build makes it, delete removes it."""

    type_name = "dir"

    def check(self) -> bool:
        return os.path.isdir(self.target_path)

    def _build_dir(self) -> None:
        path = self.target_path
        perms = self.pool.target.permissions if self.pool.target else None
        mode = _mode(perms.mode if perms else None, DEFAULT_POOL_MODE)
        if not os.path.isabs(path):
            raise storage_error(ErrorCode.INTERNAL_ERROR, f"path '{path}' is not absolute")
        try:
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
            if perms is not None and (perms.owner or perms.group):
                uid = int(perms.owner) if perms.owner and perms.owner != "-1" else -1
                gid = int(perms.group) if perms.group and perms.group != "-1" else -1
                os.chown(path, uid, gid)
        except OSError as exc:
            raise _system(f"cannot create path '{path}'", exc) from None

    def build(self, flags: int = 0) -> None:
        if flags & _BUILD_OVERWRITE and flags & _BUILD_NO_OVERWRITE:
            raise storage_error(ErrorCode.OPERATION_INVALID,
                                "Overwrite and no overwrite flags are mutually exclusive")
        self._build_dir()

    def start(self) -> None:
        self._check_dir()

    def _check_dir(self) -> None:
        path = self.target_path
        try:
            os.listdir(path)
        except OSError as exc:
            raise _system(f"cannot open directory '{path}'", exc) from None

    def delete(self, flags: int = 0) -> None:
        path = self.target_path
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _system(f"failed to remove pool '{path}'", exc) from None

    def refresh(self) -> tuple[PoolSize, list[VolState]]:
        self._check_dir()
        path = self.target_path
        self._record_target_permissions(path)
        vols = []
        for name in sorted(os.listdir(path)):
            vol = volumes.probe(name, os.path.join(path, name))
            if vol is not None:
                vols.append(vol)
        return statvfs_size(path), vols

    def _record_target_permissions(self, path: str) -> None:
        """libvirt's virStorageBackendRefreshLocal: the definition in force takes the
        directory's mode, owner and group (kept after the pool stops, as in libvirt)."""
        try:
            st = os.stat(path)
        except OSError as exc:
            raise _system(f"cannot stat path '{path}'", exc) from None
        if self.pool.target is None:
            return
        perms = self.pool.target.permissions or Permissions()
        perms.mode = f"{stat.S_IMODE(st.st_mode) & 0o777:04o}"
        perms.owner, perms.group = str(st.st_uid), str(st.st_gid)
        self.pool.target.permissions = perms

    def vol_state(self, vol: VolState) -> VolState:
        return volumes.probe(vol.name, vol.path) or vol

    # ------------------------------------------------------------ volumes

    @staticmethod
    def _fmt(vol: StorageVolDef) -> str:
        t = vol.target
        return (t.format.type if t is not None and t.format is not None else None) or "raw"

    @staticmethod
    def _vol_mode(vol: StorageVolDef) -> int:
        perms = vol.target.permissions if vol.target else None
        return _mode(perms.mode if perms else None, DEFAULT_VOL_MODE)

    def create_vol(self, vol: StorageVolDef, flags: int = 0, *,
                   secrets: SecretValues | None = None) -> VolState:
        assert vol.target is not None and vol.target.path
        path, fmt = vol.target.path, self._fmt(vol)
        key: bytes | None = None
        if vol.target.encryption is not None and fmt != "dir":
            # libvirt's order: the passphrase first, then the format checks
            enc = encryption.parse_encryption(vol.target.encryption)
            key = encryption.passphrase(enc, secrets)
            encryption.check_creatable(enc, fmt)
        if fmt == "dir":
            if vol.backing_store is not None:
                raise storage_error(ErrorCode.NO_SUPPORT,
                                    "backing storage not supported for directories volumes")
            try:
                os.mkdir(path, self._vol_mode(vol))
            except OSError as exc:
                raise _system(f"cannot create path '{path}'", exc) from None
        else:
            bs = vol.backing_store
            volumes.create(
                path, fmt, vol.capacity or 0, vol.allocation or 0,
                backing=bs.path if bs is not None else None,
                backing_fmt=(bs.format.type if bs is not None and bs.format is not None
                             else None),
                prealloc_metadata=bool(flags & _PREALLOC_METADATA),
                compat=vol.target.compat, mode=self._vol_mode(vol), passphrase=key,
                cluster_size=vol.target.cluster_size,
                features=(vol.target.features.names if vol.target.features is not None
                          else None),
                nocow=vol.target.nocow)
        return self._probe_new(vol.name or "", path)

    def _probe_new(self, name: str, path: str) -> VolState:
        state = volumes.probe(name, path)
        if state is None:
            raise storage_error(ErrorCode.INTERNAL_ERROR, f"cannot stat file '{path}'")
        return state

    def create_vol_from(self, vol: StorageVolDef, src: VolState, src_backend: PoolBackend,
                        flags: int = 0, *, secrets: SecretValues | None = None) -> VolState:
        assert vol.target is not None and vol.target.path
        fmt = self._fmt(vol)
        if src.type == VOL_DIR or fmt == "dir":
            raise storage_error(ErrorCode.OPERATION_INVALID,
                                "cannot copy from volume to a directory volume")
        capacity = max(vol.capacity or 0, src.capacity)
        # libvirt's storageBackendCreateQemuImg: the new volume's passphrase, then the
        # source's (a source whose secret is not known, after a refresh, is refused)
        key = src_key = None
        if vol.target.encryption is not None:
            enc = encryption.parse_encryption(vol.target.encryption)
            key = encryption.passphrase(enc, secrets)
            encryption.check_creatable(enc, fmt)
        if src.encryption:
            src_key = encryption.passphrase(encryption.source_encryption(src), secrets)
        t = vol.target
        volumes.clone(src.path, src.format or "raw", vol.target.path, fmt, capacity,
                      mode=self._vol_mode(vol), passphrase=key, src_passphrase=src_key,
                      compat=t.compat, cluster_size=t.cluster_size,
                      features=t.features.names if t.features is not None else None,
                      nocow=t.nocow)
        return self._probe_new(vol.name or "", vol.target.path)

    def delete_vol(self, vol: VolState, flags: int = 0) -> None:
        """libvirt's virStorageBackendVolDeleteLocal: ``rmdir`` (never a tree) or ``unlink``.

        A symlink is unlinked, never followed; a non-empty directory is refused with
        "cannot remove directory '...': Directory not empty"."""
        path = vol.path
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                os.rmdir(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            what = "cannot remove directory" if vol.type == VOL_DIR else "cannot unlink file"
            raise _system(f"{what} '{path}'", exc) from None

    def resize_vol(self, vol: VolState, capacity: int, flags: int = 0) -> None:
        volumes.resize(vol.path, vol.format or "raw", capacity,
                       shrink=bool(flags & 4), allocate=bool(flags & 1))

    def wipe_vol(self, vol: VolState, algorithm: int = 0, flags: int = 0) -> None:
        """libvirt's virStorageBackendVolWipeLocal (a directory volume fails to open)."""
        wipe_local(vol.path, algorithm)


