"""The storage pool XML format (``<pool type='dir'>``), as libvirt's storage_conf.c.

Fields are in ``virStoragePoolDefFormat`` order. ``post_parse`` applies the
parse-time defaults that depend on the pool type (source format, source
name, target path of logical/zfs pools, gluster's ``dir``, sanitized paths),
so ``to_xml()`` gives what ``virsh pool-dumpxml`` would. Sizes are ints in
bytes, always written as ``<capacity unit='bytes'>N</capacity>``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from typing import Any

from virtkit.conf.common import new_uuid, parse_uuid
from virtkit.conf.dev_common import Auth, Initiator
from virtkit.conf.model import (
    Spec,
    XmlModel,
    attr,
    child,
    children,
    model,
    raw,
    text_child,
)
from virtkit.conf.units import LLONG_MAX, ULLONG_MAX, parse_size
from virtkit.conf.xmlutil import Element, escape_text, qualified_name, start_tag
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

FS_NS = "http://libvirt.org/schemas/storagepool/fs/1.0"
RBD_NS = "http://libvirt.org/schemas/storagepool/rbd/1.0"

# Source parts each pool type formats (libvirt's poolTypeInfo flags).
_HOST, _DEVICE, _DIR, _ADAPTER, _NAME, _IQN, _NETWORK = (1, 2, 4, 8, 16, 32, 64)
_POOL_FLAGS: dict[str, int] = {
    "dir": 0,
    "fs": _DEVICE,
    "netfs": _HOST | _DIR,
    "logical": _NAME | _DEVICE,
    "disk": _DEVICE,
    "iscsi": _HOST | _DEVICE | _IQN,
    "iscsi-direct": _HOST | _DEVICE | _NETWORK | _IQN,
    "scsi": _ADAPTER,
    "mpath": 0,
    "rbd": _HOST | _NETWORK | _NAME,
    "sheepdog": _HOST | _NETWORK | _NAME,
    "gluster": _HOST | _NETWORK | _NAME | _DIR,
    "zfs": _NAME | _DEVICE,
    "vstorage": _NAME,
}
POOL_TYPES = tuple(_POOL_FLAGS)
# Source formats per pool type: (default, allowed values).
_POOL_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fs": ("auto", ("auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2",
                    "vfat", "hfs+", "xfs", "ocfs2", "vmfs")),
    "netfs": ("auto", ("auto", "nfs", "glusterfs", "cifs")),
    "disk": ("unknown", ("unknown", "dos", "dvh", "gpt", "mac", "bsd", "pc98", "sun", "lvm2")),
    "logical": ("lvm2", ("unknown", "lvm2")),
}
# Pools without a local target (not formatted by libvirt).
_NO_TARGET = ("rbd", "sheepdog", "gluster", "iscsi-direct")


def _err(code: int, detail: str | None) -> VirtError:
    return make_error(code, ErrorDomain.STORAGE, detail)


def sanitize_path(path: str) -> str:
    """libvirt's ``virFileSanitizePath``: collapse '//' and drop a trailing '/'."""
    if not path:
        return path
    # A leading '//' is kept only when it is exactly two slashes (POSIX).
    lead = "//" if path.startswith("//") and not path.startswith("///") else ""
    body = re.sub("/+", "/", path[len(lead):] if lead else path)
    if len(body) > 1 and body.endswith("/"):
        body = body[:-1]
    return lead + body.lstrip("/") if lead else body


# ----------------------------------------------------------------------------- shared


@model("permissions")
class Permissions(XmlModel):
    """``<permissions>``: mode (octal), owner, group, label."""

    mode: str | None = text_child("mode")
    owner: str | None = text_child("owner")
    group: str | None = text_child("group")
    label: str | None = text_child("label")

    def post_parse(self) -> None:
        if self.mode is not None:
            with contextlib.suppress(ValueError):
                self.mode = f"0{int(self.mode.strip(), 8):o}"
        for name in ("owner", "group"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                num = int(value.strip(), 10)
            except ValueError:
                continue
            # -1 (or its unsigned form) means "not set" and is not written.
            setattr(self, name, None if num in (-1, 2**32 - 1) else str(num))

    def is_empty(self) -> bool:
        return (self.mode is None and self.owner is None and self.group is None
                and self.label is None and not self.unknown_children)


def write_size(out: list[str], indent: int, tag: str, value: int) -> None:
    """``<tag unit='bytes'>N</tag>`` as libvirt writes sizes."""
    out.append(f"{' ' * indent}<{tag} unit='bytes'>{value}</{tag}>\n")


def read_size(
    el: Element, tag: str, limit: int = ULLONG_MAX, message: str | None = None
) -> int | None:
    """The size in bytes held by child ``tag`` of ``el`` (with its ``unit``), or None."""
    node = el.find(tag)
    if node is None:
        return None
    text = node.text or ""
    if message is not None:
        try:
            return parse_size(text, node.get("unit"), 1, limit, ErrorDomain.STORAGE, tag)
        except VirtError as exc:
            if exc.code == ErrorCode.XML_ERROR:
                raise _err(ErrorCode.XML_ERROR, message) from None
            raise
    return parse_size(text, node.get("unit"), 1, limit, ErrorDomain.STORAGE, tag)


def write_ns_tree(out: list[str], indent: int, el: Element) -> None:
    """Write a namespaced subtree with prefixed names and single quotes, as libvirt does."""
    pad = " " * indent
    name = qualified_name(el)
    attrs = [(qualified_name(el, str(k)), str(v)) for k, v in el.attrib.items()]
    kids = [c for c in el if isinstance(c.tag, str)]
    head = start_tag(name, attrs)
    if kids:
        out.append(f"{pad}{head}>\n")
        for c in kids:
            write_ns_tree(out, indent + 2, c)
        out.append(f"{pad}</{name}>\n")
    elif el.text and el.text.strip():
        out.append(f"{pad}{head}>{escape_text(el.text)}</{name}>\n")
    else:
        out.append(f"{pad}{head}/>\n")


# ----------------------------------------------------------------------------- source


@model("host")
class SourceHost(XmlModel):
    """``<host name= port=/>``."""

    name: str | None = attr()
    port: str | None = attr()


@model("freeExtent")
class FreeExtent(XmlModel):
    """``<freeExtent start= end=/>`` (output only)."""

    start: str | None = attr()
    end: str | None = attr()


@model("device")
class SourceDevice(XmlModel):
    """``<device path= part_separator=>``."""

    path: str | None = attr()
    part_separator: str | None = attr()
    free_extents: list[FreeExtent] = children("freeExtent", FreeExtent)


@model("dir")
class SourceDir(XmlModel):
    """``<dir path=/>``."""

    path: str | None = attr()


@model("adapter")
class SourceAdapter(XmlModel):
    """``<adapter type='scsi_host'|'fc_host' ...>``."""

    type: str | None = attr()
    name: str | None = attr()
    parent: str | None = attr()
    parent_wwnn: str | None = attr()
    parent_wwpn: str | None = attr()
    parent_fabric_wwn: str | None = attr()
    managed: str | None = attr()
    wwnn: str | None = attr()
    wwpn: str | None = attr()
    parentaddr: Any = raw("parentaddr")

    def post_parse(self) -> None:
        if self.type is None and self.name is not None:
            self.type = "scsi_host"


@model("format")
class FormatType(XmlModel):
    """``<format type=/>``."""

    type: str | None = attr()


def format_type(value: str) -> FormatType:
    """A ``<format type=value/>``."""
    fmt = FormatType()
    fmt.type = value
    return fmt


@model("protocol")
class SourceProtocol(XmlModel):
    """``<protocol ver=/>`` (NFS version)."""

    ver: str | None = attr()


@model("vendor")
class NamedAttr(XmlModel):
    """``<vendor name=/>`` / ``<product name=/>``."""

    name: str | None = attr()


@model("source")
class PoolSource(XmlModel):
    """``<source>`` of a pool."""

    hosts: list[SourceHost] = children("host", SourceHost)
    devices: list[SourceDevice] = children("device", SourceDevice)
    dir: SourceDir | None = child("dir", SourceDir)
    adapter: SourceAdapter | None = child("adapter", SourceAdapter)
    name: str | None = text_child("name")
    initiator: Initiator | None = child("initiator", Initiator)
    format: FormatType | None = child("format", FormatType)
    auth: Auth | None = child("auth", Auth)
    protocol: SourceProtocol | None = child("protocol", SourceProtocol)
    vendor: NamedAttr | None = child("vendor", NamedAttr)
    product: NamedAttr | None = child("product", NamedAttr)

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        # libvirt always writes <source> and </source> on their own lines.
        pad = " " * indent
        out.append(f"{pad}<source")
        out.append("".join(f" {k}='{v}'" for k, v in self.xml_attrs()) + ">\n")
        self.write_children(out, indent + 2)
        out.append(f"{pad}</source>\n")


# ----------------------------------------------------------------------------- the pool


@model("target")
class PoolTarget(XmlModel):
    """``<target>``: the local path and its permissions."""

    path: str | None = text_child("path")
    permissions: Permissions | None = child("permissions", Permissions)

    def write_field(self, out: list[str], indent: int, fname: str, spec: Spec, value: Any) -> None:
        if isinstance(value, Permissions) and value.is_empty():
            return
        super().write_field(out, indent, fname, spec, value)


@model("cow")
class CowFeature(XmlModel):
    """``<cow state='yes'|'no'/>``."""

    state: str | None = attr()


@model("features")
class PoolFeatures(XmlModel):
    """``<features>`` of a pool."""

    cow: CowFeature | None = child("cow", CowFeature)


@model("pool")
class StoragePoolDef(XmlModel):
    """A storage pool definition."""

    XML_CONTEXT = "storage_pool_definition"

    ERROR_DOMAIN = ErrorDomain.STORAGE
    _SIZES = ("capacity", "allocation", "available")

    type: str | None = attr()
    name: str | None = text_child("name")
    uuid: str | None = text_child("uuid")
    capacity: int | None = text_child("capacity")
    allocation: int | None = text_child("allocation")
    available: int | None = text_child("available")
    features: PoolFeatures | None = child("features", PoolFeatures)
    source: PoolSource | None = child("source", PoolSource)
    target: PoolTarget | None = child("target", PoolTarget)
    refresh: Any = raw("refresh")
    fs_mount_opts: Any = raw(f"{{{FS_NS}}}mount_opts")
    rbd_config_opts: Any = raw(f"{{{RBD_NS}}}config_opts")
    # Where sizes could not be read (reported by validate_storage_pool_def).
    size_errors: list[VirtError] = dataclasses.field(
        default_factory=list, repr=False, compare=False
    )
    # Whether <source><name> was in the input (RBD pools require it).
    source_name_given: bool = dataclasses.field(default=True, repr=False, compare=False)

    @classmethod
    def from_element(cls, el: Element) -> StoragePoolDef:
        obj = super().from_element(el)
        for tag in cls._SIZES:
            try:
                setattr(obj, tag, read_size(el, tag, LLONG_MAX))
            except VirtError as exc:
                setattr(obj, tag, None)
                obj.size_errors.append(exc)
        return obj

    def post_parse(self) -> None:
        """libvirt's parse-time defaults for this pool type."""
        flags = _POOL_FLAGS.get(self.type or "", 0)
        if self.source is None:
            self.source = PoolSource()
        src = self.source
        self.source_name_given = src.name is not None
        fmt = _POOL_FORMATS.get(self.type or "")
        if fmt is not None and (src.format is None or src.format.type is None):
            src.format = format_type(fmt[0])
        if src.dir is not None and src.dir.path is not None:
            src.dir.path = sanitize_path(src.dir.path)
        if self.type == "gluster" and (src.dir is None or src.dir.path is None):
            src.dir = SourceDir()
            src.dir.path = "/"
        if self.name is None and flags & _NAME:
            self.name = src.name
        if flags & _NAME and src.name is None:
            src.name = self.name
        if self.uuid is None:
            self.uuid = new_uuid()
        else:
            self.uuid = parse_uuid(self.uuid) or self.uuid
        if not flags & _NETWORK:
            if self.target is None:
                self.target = PoolTarget()
            if self.type == "logical" and src.name is not None:
                self.target.path = f"/dev/{src.name}"
            elif self.type == "zfs" and src.name is not None:
                self.target.path = f"/dev/zvol/{src.name}"
            if self.target.path is not None:
                self.target.path = sanitize_path(self.target.path)

    # ------------------------------------------------------------------ writing

    def write_field(self, out: list[str], indent: int, fname: str, spec: Spec, value: Any) -> None:
        if fname in self._SIZES:
            write_size(out, indent, fname, value or 0)
            return
        if fname == "target" and self.type in _NO_TARGET:
            return
        if fname == "source" and value is not None:
            self._write_source(out, indent, value)
            return
        if fname in ("fs_mount_opts", "rbd_config_opts"):
            if value is not None:
                write_ns_tree(out, indent, value)
            return
        super().write_field(out, indent, fname, spec, value)

    def _write_source(self, out: list[str], indent: int, src: PoolSource) -> None:
        flags = _POOL_FLAGS.get(self.type or "")
        if flags is None:  # unknown pool type: write what was given
            src.write(out, indent)
            return
        trimmed = src.copy()
        if not flags & _HOST:
            trimmed.hosts = []
        if not flags & _DEVICE:
            trimmed.devices = []
        if not flags & _DIR:
            trimmed.dir = None
        if not flags & _ADAPTER or (src.adapter is not None
                                    and src.adapter.type not in ("scsi_host", "fc_host")):
            trimmed.adapter = None
        if not flags & _NAME:
            trimmed.name = None
        if not flags & _IQN:
            trimmed.initiator = None
        if (self.type or "") not in _POOL_FORMATS:
            trimmed.format = None
        for dev in trimmed.devices:
            dev.free_extents = []
        trimmed.write(out, indent)


# ----------------------------------------------------------------------------- validation


def validate_storage_pool_def(d: StoragePoolDef) -> None:
    """Raise the error libvirt's pool parser raises for ``d``, if any."""
    if d.type is None:
        raise make_error(ErrorCode.XML_ERROR, ErrorDomain.XML,
                         "Missing required attribute 'type' in element 'pool'")
    if d.type not in POOL_TYPES:
        raise make_error(ErrorCode.XML_ERROR, ErrorDomain.XML,
                         f"Invalid value for attribute 'type' in element 'pool': '{d.type}'.")
    for exc in d.size_errors:
        raise exc
    flags = _POOL_FLAGS[d.type]
    src = d.source or PoolSource()
    if d.type == "rbd" and (src.name is None or not d.source_name_given):
        raise _err(ErrorCode.XML_ERROR, "element 'name' is mandatory for RBD pool")
    fmt = _POOL_FORMATS.get(d.type)
    if fmt is not None and src.format is not None and src.format.type not in fmt[1]:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, f"unknown pool format type {src.format.type}")
    for host in src.hosts:
        if not host.name:
            raise _err(ErrorCode.XML_ERROR, "missing storage pool host name")
    for dev in src.devices:
        if dev.path is None:
            raise _err(ErrorCode.XML_ERROR, "missing storage pool source device path")
    if src.auth is not None and src.auth.type is None:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, "storage pool missing auth type")
    if src.protocol is not None and src.protocol.ver is not None:
        fmt_type = src.format.type if src.format is not None else None
        if fmt_type not in ("nfs", "auto"):
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       f"storage pool protocol ver unsupported for pool type '{fmt_type}'")
        if "," in src.protocol.ver:
            raise _err(ErrorCode.XML_DETAIL,
                       f"storage pool protocol ver '{src.protocol.ver}' must not contain ','")
    if d.name is None:
        raise _err(ErrorCode.XML_ERROR, "missing pool source name element")
    if "/" in d.name:
        raise _err(ErrorCode.XML_ERROR, f"name {d.name} cannot contain '/'")
    if d.uuid is not None and parse_uuid(d.uuid) is None:
        raise _err(ErrorCode.XML_ERROR, "malformed uuid element")
    if flags & _HOST and not src.hosts:
        raise _err(ErrorCode.XML_ERROR, "missing storage pool source host name")
    if flags & _DIR and (src.dir is None or not src.dir.path):
        raise _err(ErrorCode.XML_ERROR, "missing storage pool source path")
    if flags & _ADAPTER:
        _check_adapter(src.adapter)
    if flags == _DEVICE and not src.devices:
        raise _err(ErrorCode.XML_ERROR, "missing storage pool source device name")
    if not flags & _NETWORK and (d.target is None or not d.target.path):
        raise _err(ErrorCode.XML_ERROR, "missing storage pool target path")
    if d.target is not None and d.target.permissions is not None:
        mode = d.target.permissions.mode
        if mode is not None and not re.fullmatch(r"0[0-7]*|[0-7]+", mode.strip()):
            raise _err(ErrorCode.XML_ERROR, "malformed octal mode")
    if d.type == "iscsi-direct" and (src.initiator is None or src.initiator.iqn is None
                                     or not src.initiator.iqn.name):
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, "missing initiator IQN")


def _check_adapter(adapter: SourceAdapter | None) -> None:
    if adapter is None or adapter.type is None:
        raise _err(ErrorCode.XML_ERROR, "missing storage pool source adapter")
    if adapter.type == "fc_host":
        if not adapter.wwnn or not adapter.wwpn:
            raise _err(ErrorCode.XML_ERROR,
                       "'wwnn' and 'wwpn' must be specified for adapter type 'fchost'")
    elif adapter.type == "scsi_host":
        if not adapter.name and adapter.parentaddr is None:
            raise _err(ErrorCode.XML_ERROR,
                       "Either 'name' or 'parent' must be specified for the 'scsi_host' adapter")
    else:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, f"Unknown pool adapter type '{adapter.type}'")


__all__ = [
    "Permissions",
    "PoolSource",
    "PoolTarget",
    "StoragePoolDef",
    "format_type",
    "read_size",
    "sanitize_path",
    "validate_storage_pool_def",
    "write_ns_tree",
    "write_size",
]
