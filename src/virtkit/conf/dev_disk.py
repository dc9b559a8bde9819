"""``<disk>`` and ``<lease>`` devices, with their storage sources and backing chains."""

from __future__ import annotations

from typing import Self

from virtkit.conf.dev_common import (
    Acpi,
    Address,
    Alias,
    Auth,
    BackendDomain,
    Boot,
    DeviceSeclabel,
    Encryption,
    Initiator,
    Reconnect,
    SizeValue,
)
from virtkit.conf.model import (
    XmlModel,
    attr,
    child,
    children,
    enum_conv,
    flag,
    model,
    raw,
    text,
    text_child,
)
from virtkit.conf.secure import secure_output
from virtkit.conf.xmlutil import Element

STORAGE_TYPES = enum_conv("file", "block", "dir", "network", "volume", "nvme", "vhostuser")
DISK_DEVICES = enum_conv("disk", "cdrom", "floppy", "lun")
DISK_BUSES = enum_conv("ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd")


@model("host")
class DiskSourceHost(XmlModel):
    name: str | None = attr()
    port: str | None = attr()
    transport: str | None = attr()
    socket: str | None = attr()


@model("identity")
class DiskSourceIdentity(XmlModel):
    user: str | None = attr()
    group: str | None = attr()


@model("snapshot")
class NameRef(XmlModel):
    name: str | None = attr()


@model("config")
class FileRef(XmlModel):
    file: str | None = attr()


@model("ssl")
class Ssl(XmlModel):
    verify: str | None = attr()


@model("cookie")
class DiskCookie(XmlModel):
    name: str | None = attr()
    value: str | None = text()


@model("cookies")
class Cookies(XmlModel):
    cookies: list[DiskCookie] = children("cookie", DiskCookie)

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        """Cookies are secrets: written only with VIR_DOMAIN_XML_SECURE."""
        if secure_output():
            super().write(out, indent, tag)


@model("readahead")
class Readahead(XmlModel):
    size: str | None = attr()


@model("timeout")
class Timeout(XmlModel):
    seconds: str | None = attr()


@model("slice")
class Slice(XmlModel):
    type: str | None = attr()
    offset: str | None = attr()
    size: str | None = attr()


@model("slices")
class Slices(XmlModel):
    slices: list[Slice] = children("slice", Slice)


@model("source")
class UnixSource(XmlModel):
    """``<source type='unix' path='...' mode='client'/>`` (reservations manager socket)."""

    type: str | None = attr()
    path: str | None = attr()
    mode: str | None = attr()


@model("reservations")
class Reservations(XmlModel):
    enabled: str | None = attr()
    managed: str | None = attr()
    source: UnixSource | None = child("source", UnixSource)


class _BackingStoreRef(XmlModel):
    """Forwards parsing to ``BackingStore`` (lets the chain refer to itself)."""

    @classmethod
    def from_element(cls, el: Element) -> Self:
        return BackingStore.from_element(el)  # type: ignore[return-value]


class _DataStoreRef(XmlModel):
    @classmethod
    def from_element(cls, el: Element) -> Self:
        return DataStore.from_element(el)  # type: ignore[return-value]


@model("source")
class DiskSource(XmlModel):
    """A storage source; the attributes used depend on the disk ``type``:
    file (file, fdgroup), block (dev), dir (dir), network (protocol, name, query,
    tls, tlsHostname), volume (pool, volume, mode), nvme (type='pci', managed,
    namespace), vhostuser (type='unix', path)."""

    file: str | None = attr()
    fdgroup: str | None = attr()
    dev: str | None = attr()
    dir: str | None = attr()
    protocol: str | None = attr()
    name: str | None = attr()
    query: str | None = attr()
    tls: str | None = attr()
    tlsHostname: str | None = attr()
    tlsFromConfig: str | None = attr()
    pool: str | None = attr()
    volume: str | None = attr()
    mode: str | None = attr()
    type: str | None = attr()
    managed: str | None = attr()
    namespace: str | None = attr()
    path: str | None = attr()
    startupPolicy: str | None = attr()
    index: str | None = attr()

    hosts: list[DiskSourceHost] = children("host", DiskSourceHost)
    identity: DiskSourceIdentity | None = child("identity", DiskSourceIdentity)
    snapshot: NameRef | None = child("snapshot", NameRef)
    config: FileRef | None = child("config", FileRef)
    initiator: Initiator | None = child("initiator", Initiator)
    ssl: Ssl | None = child("ssl", Ssl)
    cookies: Cookies | None = child("cookies", Cookies)
    readahead: Readahead | None = child("readahead", Readahead)
    timeout: Timeout | None = child("timeout", Timeout)
    address: Address | None = child("address", Address)
    reconnect: Reconnect | None = child("reconnect", Reconnect)
    slices: Slices | None = child("slices", Slices)
    seclabels: list[DeviceSeclabel] = children("seclabel", DeviceSeclabel)
    auth: Auth | None = child("auth", Auth)
    encryption: Encryption | None = child("encryption", Encryption)
    reservations: Reservations | None = child("reservations", Reservations)
    data_store: DataStore | None = child("dataStore", _DataStoreRef)
    privateData: Element | None = raw("privateData")


@model("metadata_cache")
class MetadataCache(XmlModel):
    max_size: SizeValue | None = child("max_size", SizeValue)


@model("format")
class DiskFormat(XmlModel):
    type: str | None = attr()
    metadata_cache: MetadataCache | None = child("metadata_cache", MetadataCache)


@model("backingStore")
class BackingStore(XmlModel):
    """One layer of a disk's backing chain (recursive); empty ``<backingStore/>`` ends it."""

    type: str | None = attr()
    index: str | None = attr()
    format: DiskFormat | None = child("format", DiskFormat)
    source: DiskSource | None = child("source", DiskSource)
    backing_store: BackingStore | None = child("backingStore", _BackingStoreRef)


@model("dataStore")
class DataStore(XmlModel):
    """A qcow2 image's external data file (``<source><dataStore>``)."""

    type: str | None = attr()
    format: DiskFormat | None = child("format", DiskFormat)
    source: DiskSource | None = child("source", DiskSource)


@model("driver")
class DiskDriver(XmlModel):
    name: str | None = attr()
    type: str | None = attr()
    cache: str | None = attr()
    error_policy: str | None = attr()
    rerror_policy: str | None = attr()
    io: str | None = attr()
    ioeventfd: str | None = attr()
    event_idx: str | None = attr()
    copy_on_read: str | None = attr()
    discard: str | None = attr()
    iothread: str | None = attr()
    detect_zeroes: str | None = attr()
    queues: str | None = attr()
    queue_size: str | None = attr()
    iommu: str | None = attr()
    ats: str | None = attr()
    packed: str | None = attr()
    page_per_vq: str | None = attr()
    metadata_cache: MetadataCache | None = child("metadata_cache", MetadataCache)
    iothreads: Element | None = raw("iothreads")


@model("geometry")
class Geometry(XmlModel):
    cyls: str | None = attr()
    heads: str | None = attr()
    secs: str | None = attr()
    trans: str | None = attr()


@model("blockio")
class BlockIO(XmlModel):
    logical_block_size: str | None = attr()
    physical_block_size: str | None = attr()
    discard_granularity: str | None = attr()


@model("mirror")
class Mirror(XmlModel):
    """A block job's destination (live XML only)."""

    type: str | None = attr()
    file: str | None = attr()
    format_attr: str | None = attr(xml="format")
    job: str | None = attr()
    ready: str | None = attr()
    format: DiskFormat | None = child("format", DiskFormat)
    source: DiskSource | None = child("source", DiskSource)
    backing_store: BackingStore | None = child("backingStore", BackingStore)


@model("target")
class DiskTarget(XmlModel):
    dev: str | None = attr()
    bus: str | None = attr(conv=DISK_BUSES)
    tray: str | None = attr()
    removable: str | None = attr()
    rotation_rate: str | None = attr()


IOTUNE_FIELDS = (
    "total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
    "total_iops_sec", "read_iops_sec", "write_iops_sec",
    "total_bytes_sec_max", "read_bytes_sec_max", "write_bytes_sec_max",
    "total_iops_sec_max", "read_iops_sec_max", "write_iops_sec_max",
    "size_iops_sec", "group_name",
    "total_bytes_sec_max_length", "read_bytes_sec_max_length", "write_bytes_sec_max_length",
    "total_iops_sec_max_length", "read_iops_sec_max_length", "write_iops_sec_max_length",
)


@model("iotune")
class IOTune(XmlModel):
    """Disk I/O throttling; every value is kept as written."""

    total_bytes_sec: str | None = text_child("total_bytes_sec")
    read_bytes_sec: str | None = text_child("read_bytes_sec")
    write_bytes_sec: str | None = text_child("write_bytes_sec")
    total_iops_sec: str | None = text_child("total_iops_sec")
    read_iops_sec: str | None = text_child("read_iops_sec")
    write_iops_sec: str | None = text_child("write_iops_sec")
    total_bytes_sec_max: str | None = text_child("total_bytes_sec_max")
    read_bytes_sec_max: str | None = text_child("read_bytes_sec_max")
    write_bytes_sec_max: str | None = text_child("write_bytes_sec_max")
    total_iops_sec_max: str | None = text_child("total_iops_sec_max")
    read_iops_sec_max: str | None = text_child("read_iops_sec_max")
    write_iops_sec_max: str | None = text_child("write_iops_sec_max")
    size_iops_sec: str | None = text_child("size_iops_sec")
    group_name: str | None = text_child("group_name")
    total_bytes_sec_max_length: str | None = text_child("total_bytes_sec_max_length")
    read_bytes_sec_max_length: str | None = text_child("read_bytes_sec_max_length")
    write_bytes_sec_max_length: str | None = text_child("write_bytes_sec_max_length")
    total_iops_sec_max_length: str | None = text_child("total_iops_sec_max_length")
    read_iops_sec_max_length: str | None = text_child("read_iops_sec_max_length")
    write_iops_sec_max_length: str | None = text_child("write_iops_sec_max_length")


@model("transient")
class Transient(XmlModel):
    shareBacking: str | None = attr()


@model("disk")
class Disk(XmlModel):
    """A ``<disk>`` device of any storage type."""

    type: str | None = attr(conv=STORAGE_TYPES)
    device: str | None = attr(conv=DISK_DEVICES)
    model: str | None = attr()
    rawio: str | None = attr()
    sgio: str | None = attr()
    snapshot: str | None = attr()

    driver: DiskDriver | None = child("driver", DiskDriver)
    # <auth>/<encryption> as children of <disk> (legacy placement) rather than <source>
    auth: Auth | None = child("auth", Auth)
    source: DiskSource | None = child("source", DiskSource)
    backing_store: BackingStore | None = child("backingStore", BackingStore)
    backenddomain: BackendDomain | None = child("backenddomain", BackendDomain)
    geometry: Geometry | None = child("geometry", Geometry)
    blockio: BlockIO | None = child("blockio", BlockIO)
    mirror: Mirror | None = child("mirror", Mirror)
    target: DiskTarget | None = child("target", DiskTarget)
    iotune: IOTune | None = child("iotune", IOTune)
    readonly: bool = flag("readonly")
    shareable: bool = flag("shareable")
    transient: Transient | None = child("transient", Transient)
    serial: str | None = text_child("serial")
    wwn: str | None = text_child("wwn")
    vendor: str | None = text_child("vendor")
    product: str | None = text_child("product")
    encryption: Encryption | None = child("encryption", Encryption)
    boot: Boot | None = child("boot", Boot)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)
    privateData: Element | None = raw("privateData")
    diskSecretsPlacement: Element | None = raw("diskSecretsPlacement")


@model("target")
class LeaseTarget(XmlModel):
    path: str | None = attr()
    offset: str | None = attr()


@model("lease")
class Lease(XmlModel):
    lockspace: str | None = text_child("lockspace")
    key: str | None = text_child("key")
    target: LeaseTarget | None = child("target", LeaseTarget)
