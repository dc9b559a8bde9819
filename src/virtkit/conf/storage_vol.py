"""The storage volume XML format (``<volume>``), as libvirt's storage_conf.c.

Fields are in ``virStorageVolDefFormat`` order. Sizes are ints in bytes and
written as ``<capacity unit='bytes'>N</capacity>``; ``allocation`` defaults
to ``capacity``. Defaults that depend on the pool (the target format) are
applied by ``apply_pool_defaults(pool_type)``, which a driver calls once it
knows the pool.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from virtkit.conf.model import Spec, XmlModel, attr, child, children, model, raw, text_child
from virtkit.conf.storage_pool import (
    FormatType,
    Permissions,
    format_type,
    read_size,
    write_size,
)
from virtkit.conf.units import LLONG_MAX, ULLONG_MAX
from virtkit.conf.xmlutil import Element
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

VOL_TYPES = ("file", "block", "dir", "network", "netdir", "ploop")
FEATURES = ("lazy_refcounts", "extended_l2")
# File formats a volume of a file-based pool may have (virStorageFileFormat).
FILE_FORMATS = ("raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd",
                "ploop", "cow", "qcow", "qcow2", "qed", "vmdk")
DISK_VOL_FORMATS = ("none", "linux", "fat16", "fat32", "linux-swap", "linux-lvm",
                    "linux-raid", "extended")
# Default target format per pool type (pools whose volumes have a format).
_POOL_VOL_DEFAULT = {"dir": "raw", "fs": "raw", "netfs": "raw", "rbd": "raw",
                     "gluster": "raw", "vstorage": "raw", "disk": "none"}


def _err(code: int, detail: str | None) -> VirtError:
    return make_error(code, ErrorDomain.STORAGE, detail)


@model("extent")
class Extent(XmlModel):
    """``<extent start= end=/>`` (filled by the driver)."""

    start: str | None = attr()
    end: str | None = attr()


@model("device")
class ExtentDevice(XmlModel):
    """``<device path=>`` with its extents."""

    path: str | None = attr()
    extents: list[Extent] = children("extent", Extent)


@model("source")
class VolSource(XmlModel):
    """``<source>`` of a volume: the physical extents it occupies (output only)."""

    devices: list[ExtentDevice] = children("device", ExtentDevice)

    def is_empty(self) -> bool:
        return not any(d.extents for d in self.devices) and not self.unknown_children


@model("timestamps")
class Timestamps(XmlModel):
    """``<timestamps>`` (atime, mtime, ctime, btime as 'sec.nsec')."""

    atime: str | None = text_child("atime")
    mtime: str | None = text_child("mtime")
    ctime: str | None = text_child("ctime")
    btime: str | None = text_child("btime")


@model("features")
class VolFeatures(XmlModel):
    """``<features>`` of a qcow2 target: ``<lazy_refcounts/>``, ``<extended_l2/>``."""

    names: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def from_element(cls, el: Element) -> VolFeatures:
        obj = cls()
        obj.names = [str(c.tag) for c in el if isinstance(c.tag, str)]
        return obj

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        pad = " " * indent
        known = [f for f in FEATURES if f in self.names]
        extra = [f for f in self.names if f not in FEATURES]
        names = known + extra
        if not names:
            out.append(f"{pad}<features/>\n")
            return
        out.append(f"{pad}<features>\n")
        for name in names:
            out.append(f"{pad}  <{name}/>\n")
        out.append(f"{pad}</features>\n")


@model("target")
class VolTarget(XmlModel):
    """``<target>`` (also used for ``<backingStore>``)."""

    path: str | None = text_child("path")
    format: FormatType | None = child("format", FormatType)
    permissions: Permissions | None = child("permissions", Permissions)
    timestamps: Timestamps | None = child("timestamps", Timestamps)
    encryption: Any = raw("encryption")
    compat: str | None = text_child("compat")
    cluster_size: int | None = text_child("clusterSize")
    features: VolFeatures | None = child("features", VolFeatures)
    nocow: bool = dataclasses.field(default=False)
    size_errors: list[VirtError] = dataclasses.field(
        default_factory=list, repr=False, compare=False
    )

    @classmethod
    def from_element(cls, el: Element) -> VolTarget:
        obj = super().from_element(el)
        try:
            obj.cluster_size = read_size(el, "clusterSize", ULLONG_MAX)
        except VirtError as exc:
            obj.cluster_size = None
            obj.size_errors.append(exc)
        # <nocow/> is read by libvirt but not written back; keep the fact.
        obj.unknown_children = [(a, c) for a, c in obj.unknown_children if c.tag != "nocow"]
        obj.nocow = el.find("nocow") is not None
        if obj.features is not None and obj.compat is None:
            obj.compat = "1.1"
        return obj

    def write_field(self, out: list[str], indent: int, fname: str, spec: Spec, value: Any) -> None:
        if fname == "cluster_size":
            if value:
                out.append(f"{' ' * indent}<clusterSize unit='B'>{value}</clusterSize>\n")
            return
        if isinstance(value, Permissions) and value.is_empty():
            return
        super().write_field(out, indent, fname, spec, value)


@model("volume")
class StorageVolDef(XmlModel):
    """A storage volume definition."""

    XML_CONTEXT = "storage_volume_definition"

    ERROR_DOMAIN = ErrorDomain.STORAGE

    type: str | None = attr()
    name: str | None = text_child("name")
    key: str | None = text_child("key")
    source: VolSource | None = child("source", VolSource)
    capacity: int | None = text_child("capacity")
    allocation: int | None = text_child("allocation")
    physical: int | None = text_child("physical")
    target: VolTarget | None = child("target", VolTarget)
    backing_store: VolTarget | None = child("backingStore", VolTarget)
    size_errors: list[VirtError] = dataclasses.field(
        default_factory=list, repr=False, compare=False
    )

    @classmethod
    def from_element(cls, el: Element) -> StorageVolDef:
        obj = super().from_element(el)
        for tag in ("capacity", "allocation", "physical"):
            try:
                setattr(obj, tag, read_size(el, tag, LLONG_MAX, "malformed capacity element"))
            except VirtError as exc:
                setattr(obj, tag, None)
                obj.size_errors.append(exc)
        if obj.allocation is None:
            obj.allocation = obj.capacity
        return obj

    def post_parse(self) -> None:
        if self.type is None:
            self.type = "file"
        if self.backing_store is not None and self.backing_store.path is None:
            self.backing_store = None

    def apply_pool_defaults(self, pool_type: str) -> None:
        """Fill the target (and backing store) format the way a ``pool_type`` pool does."""
        default = _POOL_VOL_DEFAULT.get(pool_type)
        if default is None:
            return
        for t in (self.target, self.backing_store):
            if t is not None and (t.format is None or t.format.type is None):
                t.format = format_type(default)
        if self.target is None:
            self.target = VolTarget()
            self.target.format = format_type(default)

    def write_field(self, out: list[str], indent: int, fname: str, spec: Spec, value: Any) -> None:
        if fname in ("capacity", "allocation"):
            write_size(out, indent, fname, value or 0)
            return
        if fname == "physical":
            if value:
                write_size(out, indent, fname, value)
            return
        if isinstance(value, VolSource) and value.is_empty():
            return
        if fname == "target":
            (value or VolTarget()).write(out, indent, "target")
            return
        super().write_field(out, indent, fname, spec, value)


def validate_storage_vol_def(d: StorageVolDef, pool_type: str | None = None) -> None:
    """Raise the error libvirt's volume parser raises for ``d``, if any."""
    if d.name is None:
        raise _err(ErrorCode.XML_ERROR, "missing volume name element")
    if d.type is not None and d.type not in VOL_TYPES:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, f"unknown volume type '{d.type}'")
    for exc in d.size_errors:
        raise exc
    if d.capacity is None and d.backing_store is None:
        raise _err(ErrorCode.XML_ERROR, "missing capacity element")
    allowed: tuple[str, ...] | None = None
    if pool_type == "disk":
        allowed = DISK_VOL_FORMATS
    elif pool_type in _POOL_VOL_DEFAULT:
        allowed = FILE_FORMATS
    for t in (d.target, d.backing_store):
        if t is None:
            continue
        for exc in t.size_errors:
            raise exc
        if allowed is not None and t.format is not None and t.format.type not in allowed:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       f"unknown volume format type {t.format.type}")
        if t.compat is not None:
            parts = t.compat.split(".", 1)
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise _err(ErrorCode.XML_ERROR, "forbidden characters in 'compat' attribute")
        if t.features is not None:
            for name in t.features.names:
                if name not in FEATURES:
                    raise _err(ErrorCode.CONFIG_UNSUPPORTED, f"unsupported feature {name}")
