"""The interface every storage pool backend implements (dir, fs, logical ...).

A backend works on one pool definition and knows nothing of persistence, events or
locking: :class:`~virtkit.drivers.storage.node.StorageNode` does that and calls the
backend with its lock held. Errors are raised as :class:`~virtkit.errors.VirtError`
(use :func:`storage_error`), with libvirt's wording. A backend must leave nothing
half made when an operation fails (remove a partly created volume before raising).

Volumes are described by :class:`VolState` records; the node keeps the list that
:meth:`PoolBackend.refresh` returns and updates it after create/delete/resize.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from virtkit.conf.storage_pool import StoragePoolDef
from virtkit.conf.storage_vol import StorageVolDef
from virtkit.drivers.links import SecretValues
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = [
    "VOL_BLOCK", "VOL_DIR", "VOL_FILE", "VOL_NETWORK", "VOL_PLOOP",
    "PoolBackend", "PoolSize", "TargetFacts", "VolState", "sources_xml", "storage_error",
    "xml_escape",
]

# virStorageVolType
VOL_FILE, VOL_BLOCK, VOL_DIR, VOL_NETWORK, VOL_NETDIR, VOL_PLOOP = range(6)


def storage_error(code: int, detail: str) -> VirtError:
    """A VirtError in libvirt's storage error domain."""
    return make_error(code, ErrorDomain.STORAGE, detail)


def internal_error(detail: str) -> VirtError:
    return storage_error(ErrorCode.INTERNAL_ERROR, detail)


def xml_escape(text: str) -> str:
    """Escape for a quoted attribute or text (libvirt's virBufferEscapeString)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


def sources_xml(sources: list[list[str]]) -> str:
    """A ``<sources>`` document (virStoragePoolSourceListFormat); each source is given
    as its already formatted child lines."""
    lines = ["<sources>"]
    for src in sources:
        lines.append("  <source>")
        lines += [f"    {ln}" for ln in src]
        lines.append("  </source>")
    lines.append("</sources>")
    return "\n".join(lines) + "\n"


@dataclass
class PoolSize:
    """A pool's sizes in bytes (virStoragePoolInfo's capacity/allocation/available)."""

    capacity: int = 0
    allocation: int = 0
    available: int = 0


@dataclass(frozen=True)
class TargetFacts:
    """A volume's ``<compat>``, ``<clusterSize>`` (bytes) and ``<features>`` names, as read
    from a qcow2 header or named by the definition that created the volume (None: no
    such element)."""

    compat: str | None = None
    cluster_size: int | None = None
    features: tuple[str, ...] | None = None


@dataclass
class VolState:
    """What a backend knows of one volume.

    ``key`` is libvirt's volume key: the path for file volumes, the LV UUID for
    logical ones. ``format`` is the target format name ('raw', 'qcow2', ... for files;
    None for logical volumes). ``backing`` is the backing store's path, if any.
    """

    name: str
    path: str
    key: str
    type: int = VOL_FILE
    capacity: int = 0
    allocation: int = 0
    physical: int = 0
    format: str | None = None
    backing: str | None = None
    backing_format: str | None = None
    mode: int | None = None
    owner: int | None = None
    group: int | None = None
    timestamps: dict[str, str] = field(default_factory=dict)  # atime/mtime/ctime: "sec.nsec"
    encryption: str | None = None  # "luks" when the image is LUKS-encrypted (probed)
    # the <secret> its creation named, ("uuid" or "usage", value): libvirt shows it until
    # the pool is refreshed (a probe cannot know it)
    encryption_secret: tuple[str, str] | None = None
    # what the qcow2 header says (virStorageSourceGetMetadataFromBuf), and what the creating
    # definition said: libvirt shows the latter until a pool refresh re-reads the header
    header: TargetFacts | None = None
    created: TargetFacts | None = None
    extra: dict[str, object] = field(default_factory=dict)  # backend-private data


class PoolBackend:
    """One pool type. Subclasses override what the type supports; the defaults
    raise libvirt's "not supported" errors (or do nothing where libvirt does nothing).

    Instances are made per pool (``Backend(pooldef)``) and kept while it is defined;
    ``self.pool`` is the definition in force (the live one while active).
    """

    type_name: ClassVar[str] = ""
    vol_type: ClassVar[int] = VOL_FILE
    default_vol_format: ClassVar[str | None] = "raw"

    def __init__(self, pool: StoragePoolDef) -> None:
        self.pool = pool

    @property
    def name(self) -> str:
        return self.pool.name or ""

    @property
    def target_path(self) -> str:
        return (self.pool.target.path if self.pool.target else None) or ""

    # ---------------------------------------------------------------- pool

    @classmethod
    def find_sources(cls, spec: str | None, flags: int = 0) -> str:
        """virConnectFindStoragePoolSources: a ``<sources>`` document of what could be
        pooled (``spec``: a ``<source>`` document narrowing the search)."""
        raise storage_error(ErrorCode.NO_SUPPORT,
                            f"pool type '{cls.type_name}' does not support source discovery")

    def check(self) -> bool:
        """Is the pool usable as it stands (used to take back pools at daemon start)?"""
        return False

    def build(self, flags: int = 0) -> None:
        """virStoragePoolBuild (flags: VIR_STORAGE_POOL_BUILD_*)."""

    def start(self) -> None:
        """Make the pool active (mount, activate the VG ...)."""

    def stop(self) -> None:
        """Make it inactive (unmount, deactivate ...)."""

    def delete(self, flags: int = 0) -> None:
        """virStoragePoolDelete: remove what build made."""
        raise storage_error(ErrorCode.NO_SUPPORT,
                            "pool does not support pool deletion")

    def refresh(self) -> tuple[PoolSize, list[VolState]]:
        """The pool's sizes and every volume in it now."""
        raise NotImplementedError

    # ------------------------------------------------------------- volumes

    def vol_path(self, name: str) -> str:
        """Where volume ``name`` lives (target path + name for most types)."""
        import os

        return os.path.join(self.target_path, name)

    def create_vol(self, vol: StorageVolDef, flags: int = 0, *,
                   secrets: SecretValues | None = None) -> VolState:
        """Make a new volume from ``vol`` (name, capacity, allocation, target format,
        backing store are set; ``vol.target.path`` is already :meth:`vol_path`).
        ``secrets`` gives the passphrase of an ``<encryption>`` (the secret driver)."""
        raise storage_error(ErrorCode.NO_SUPPORT, "storage pool does not support volume creation")

    def create_vol_from(self, vol: StorageVolDef, src: VolState, src_backend: PoolBackend,
                        flags: int = 0, *, secrets: SecretValues | None = None) -> VolState:
        """Make a new volume holding a copy of ``src`` (which may be in another pool);
        ``secrets`` opens an encrypted source and encrypts the copy as ``vol`` asks."""
        raise storage_error(ErrorCode.NO_SUPPORT,
                            "storage pool does not support volume creation from an existing volume")

    def delete_vol(self, vol: VolState, flags: int = 0) -> None:
        raise storage_error(ErrorCode.NO_SUPPORT, "storage pool does not support volume deletion")

    def resize_vol(self, vol: VolState, capacity: int, flags: int = 0) -> None:
        """Set the volume's capacity (bytes; the node has applied DELTA and checked
        SHRINK and the free space already)."""
        raise storage_error(ErrorCode.NO_SUPPORT,
                            "storage pool does not support changing of volume capacity")

    def wipe_vol(self, vol: VolState, algorithm: int = 0, flags: int = 0) -> None:
        """Overwrite the volume's data (algorithm: VIR_STORAGE_VOL_WIPE_ALG_*)."""
        raise storage_error(ErrorCode.NO_SUPPORT, "storage pool does not support volume wiping")

    def vol_state(self, vol: VolState) -> VolState:
        """Re-read one volume (sizes after upload/resize); default: unchanged."""
        return vol
