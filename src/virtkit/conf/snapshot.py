"""The domain snapshot XML format (``<domainsnapshot>``), as libvirt's snapshot_conf.c.

Fields are in ``virDomainSnapshotDefFormat`` order. The embedded
``<domain>`` and ``<inactiveDomain>`` are kept verbatim; ``domain_def``
parses the first on demand. Generating a name and creation time for a new
snapshot is the driver's job (libvirt's moment post-parse).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from virtkit.conf.model import (
    INT,
    Spec,
    XmlModel,
    attr,
    child,
    children,
    flag,
    model,
    raw,
    text_child,
)
from virtkit.conf.secure import secure_output, without_secrets
from virtkit.conf.xmlutil import Element, write_raw
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

if TYPE_CHECKING:
    from virtkit.conf.domain import DomainDef

STATES = ("nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed",
          "pmsuspended", "disk-snapshot")
LOCATIONS = ("default", "no", "internal", "external", "manual")


def _err(code: int, detail: str | None) -> VirtError:
    return make_error(code, ErrorDomain.DOMAIN_SNAPSHOT, detail)


@model("memory")
class SnapshotMemory(XmlModel):
    """``<memory snapshot='internal'|'external'|'no' file=/>``."""

    snapshot: str | None = attr()
    file: str | None = attr()


@model("parent")
class SnapshotParent(XmlModel):
    """``<parent><name>..</name></parent>``."""

    name: str | None = text_child("name")


@model("driver")
class SnapshotDiskDriver(XmlModel):
    """``<driver type='qcow2'>`` with optional ``<metadata_cache>``."""

    type: str | None = attr()
    metadata_cache: Any = raw("metadata_cache")

    def is_empty(self) -> bool:
        return (self.type is None and self.metadata_cache is None
                and not self.unknown_attrs and not self.unknown_children)


@model("disk")
class SnapshotDisk(XmlModel):
    """One ``<disk name= snapshot= type=>`` of ``<disks>``."""

    name: str | None = attr()
    snapshot: str | None = attr()
    type: str | None = attr()
    delete_in_progress: bool = flag("snapshotDeleteInProgress")
    driver: SnapshotDiskDriver | None = child("driver", SnapshotDiskDriver)
    source: Any = raw("source")

    def post_parse(self) -> None:
        path = None
        if self.source is not None:
            for key in ("file", "dev", "dir", "name", "volume"):
                if self.source.get(key) is not None:
                    path = self.source.get(key)
                    break
        fmt = self.driver.type if self.driver is not None else None
        if self.snapshot in (None, "default") and (path or fmt):
            self.snapshot = "external"
        if (path or fmt) and self.type is None:
            self.type = "file"
        if self.driver is not None and self.driver.is_empty():
            self.driver = None

    def write_field(self, out: list[str], indent: int, fname: str, spec: Spec, value: Any) -> None:
        if fname == "source" and value is not None:
            _write_source(out, indent, value)
            return
        super().write_field(out, indent, fname, spec, value)


def _write_source(out: list[str], indent: int, el: Element) -> None:
    # libvirt writes an attribute-less, child-less <source/> for a disk without a path
    write_raw(el, indent, out)


@model("disks")
class SnapshotDisks(XmlModel):
    """``<disks>``."""

    disks: list[SnapshotDisk] = children("disk", SnapshotDisk)


@model("domainsnapshot")
class DomainSnapshotDef(XmlModel):
    """A domain snapshot definition."""

    XML_CONTEXT = "domain_snapshot"

    ERROR_DOMAIN = ErrorDomain.DOMAIN_SNAPSHOT

    name: str | None = text_child("name")
    description: str | None = text_child("description")
    state: str | None = text_child("state")
    parent_el: SnapshotParent | None = child("parent", SnapshotParent)
    creation_time: int | None = text_child("creationTime", INT)
    memory: SnapshotMemory | None = child("memory", SnapshotMemory)
    disks_el: SnapshotDisks | None = child("disks", SnapshotDisks)
    domain: Any = raw("domain")
    inactive_domain: Any = raw("inactiveDomain")
    cookie: Any = raw("cookie")
    active: int | None = text_child("active", INT)

    @property
    def parent(self) -> str | None:
        """The parent snapshot's name."""
        return self.parent_el.name if self.parent_el is not None else None

    @parent.setter
    def parent(self, value: str | None) -> None:
        if value is None:
            self.parent_el = None
            return
        el = SnapshotParent()
        el.name = value
        self.parent_el = el

    @property
    def disks(self) -> list[SnapshotDisk]:
        """The per-disk snapshot settings."""
        return self.disks_el.disks if self.disks_el is not None else []

    @disks.setter
    def disks(self, value: list[SnapshotDisk]) -> None:
        if not value:
            self.disks_el = None
            return
        el = SnapshotDisks()
        el.disks = list(value)
        self.disks_el = el

    @property
    def domain_def(self) -> DomainDef | None:
        """The embedded ``<domain>`` parsed as a DomainDef (None when absent or uuid-only)."""
        if self.domain is None or self.domain.get("type") is None:
            return None
        from virtkit.conf.domain import DomainDef

        return DomainDef.from_element(self.domain)

    def write_field(self, out: list[str], indent: int, fname: str, spec: Spec, value: Any) -> None:
        """libvirt's special cases; the kept domains without secrets unless they may be
        written (VIR_DOMAIN_SNAPSHOT_XML_SECURE)."""
        if fname in ("domain", "inactive_domain") and value is not None and not secure_output():
            value = without_secrets(value)
        if fname == "creation_time" and not value:
            return
        if fname == "disks_el" and (value is None or not value.disks):
            if value is not None and value.unknown_children:
                value.write(out, indent, "disks")
            return
        super().write_field(out, indent, fname, spec, value)


def validate_snapshot_def(d: DomainSnapshotDef, redefine: bool = False) -> None:
    """Raise the error libvirt's snapshot parser raises for ``d``, if any."""
    if redefine:
        if d.name is None:
            raise _err(ErrorCode.XML_ERROR, "a redefined snapshot must have a name")
        if d.creation_time is None:
            raise _err(ErrorCode.INTERNAL_ERROR, "missing creationTime from existing snapshot")
        if d.state is None:
            raise _err(ErrorCode.XML_ERROR, "missing state from existing snapshot")
        if d.state not in STATES[1:]:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                       f"Invalid state '{d.state}' in domain snapshot XML")
    mem = d.memory
    if mem is not None:
        if mem.snapshot is not None and mem.snapshot not in LOCATIONS[1:]:
            raise make_error(ErrorCode.XML_ERROR, ErrorDomain.XML,
                             "Invalid value for attribute 'snapshot' in element 'memory': "
                             f"'{mem.snapshot}'.")
        if mem.snapshot == "manual":
            raise _err(ErrorCode.XML_ERROR, "'manual' memory snapshot mode not supported")
        location = mem.snapshot or ("external" if mem.file else None)
        if mem.file and location != "external":
            raise _err(ErrorCode.XML_ERROR,
                       f"memory filename '{mem.file}' requires external snapshot")
        if not mem.file and location == "external":
            raise _err(ErrorCode.XML_ERROR, "external memory snapshots require a filename")
        if mem.file and not mem.file.startswith("/"):
            raise _err(ErrorCode.XML_ERROR,
                       f"memory snapshot file path ({mem.file}) must be absolute")
    for disk in d.disks:
        if disk.name is None:
            raise _err(ErrorCode.INTERNAL_ERROR, "missing name from disk snapshot element")
        if disk.type in ("volume", "dir"):
            raise _err(ErrorCode.XML_ERROR, f"unsupported disk snapshot type '{disk.type}'")
        src = disk.source
        path = src.get("file") if src is not None else None
        if path is not None and not path.startswith("/"):
            raise _err(ErrorCode.XML_ERROR,
                       f"disk snapshot image path '{path}' must be absolute")
