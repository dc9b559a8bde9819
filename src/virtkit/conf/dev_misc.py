"""Controllers, filesystems and the smaller device kinds (tpm, watchdog, memballoon,
rng's neighbours, shmem, memory, iommu, vsock, crypto, ...)."""

from __future__ import annotations

from virtkit.conf.dev_common import (
    Acpi,
    Address,
    Alias,
    Boot,
    Master,
    SizeValue,
    VirtioDriver,
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
from virtkit.conf.xmlutil import Element

CONTROLLER_TYPES = enum_conv(
    "ide", "fdc", "scsi", "sata", "virtio-serial", "ccid", "usb", "pci", "xenbus", "isa"
)
FS_TYPES = enum_conv("mount", "block", "file", "template", "ram", "bind", "volume")


# ----------------------------------------------------------------------------- controller


@model("model")
class ControllerModel(XmlModel):
    name: str | None = attr()


@model("target")
class ControllerTarget(XmlModel):
    chassisNr: str | None = attr()
    chassis: str | None = attr()
    port: str | None = attr()
    busNr: str | None = attr()
    index: str | None = attr()
    hotplug: str | None = attr()
    node: str | None = text_child("node")


@model("driver")
class ControllerDriver(XmlModel):
    queues: str | None = attr()
    cmd_per_lun: str | None = attr()
    max_sectors: str | None = attr()
    ioeventfd: str | None = attr()
    iothread: str | None = attr()
    iommu: str | None = attr()
    ats: str | None = attr()
    packed: str | None = attr()
    page_per_vq: str | None = attr()
    iothreads: Element | None = raw("iothreads")


@model("pcihole64")
class PciHole64(XmlModel):
    unit: str | None = attr()
    value: str | None = text()


@model("controller")
class Controller(XmlModel):
    """A bus controller (ide, fdc, scsi, sata, virtio-serial, ccid, usb, pci, xenbus, isa)."""

    type: str | None = attr(conv=CONTROLLER_TYPES)
    index: str | None = attr()
    model: str | None = attr()
    ports: str | None = attr()
    vectors: str | None = attr()
    maxGrantFrames: str | None = attr()
    maxEventChannels: str | None = attr()

    model_name: ControllerModel | None = child("model", ControllerModel)
    target: ControllerTarget | None = child("target", ControllerTarget)
    driver: ControllerDriver | None = child("driver", ControllerDriver)
    alias: Alias | None = child("alias", Alias)
    master: Master | None = child("master", Master)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)
    pcihole64: PciHole64 | None = child("pcihole64", PciHole64)


# ----------------------------------------------------------------------------- filesystem


@model("driver")
class FilesystemDriver(XmlModel):
    type: str | None = attr()
    format: str | None = attr()
    wrpolicy: str | None = attr()
    queue: str | None = attr()
    iommu: str | None = attr()
    ats: str | None = attr()
    packed: str | None = attr()
    page_per_vq: str | None = attr()


@model("cache")
class ModeValue(XmlModel):
    """``<cache mode=.../>`` / ``<sandbox mode=.../>``."""

    mode: str | None = attr()


@model("lock")
class BinaryLock(XmlModel):
    posix: str | None = attr()
    flock: str | None = attr()


@model("thread_pool")
class ThreadPool(XmlModel):
    size: str | None = attr()


@model("binary")
class FilesystemBinary(XmlModel):
    """virtiofsd settings."""

    path: str | None = attr()
    xattr: str | None = attr()
    cache: ModeValue | None = child("cache", ModeValue)
    sandbox: ModeValue | None = child("sandbox", ModeValue)
    lock: BinaryLock | None = child("lock", BinaryLock)
    thread_pool: ThreadPool | None = child("thread_pool", ThreadPool)


@model("source")
class FilesystemSource(XmlModel):
    dir: str | None = attr()
    socket: str | None = attr()
    dev: str | None = attr()
    file: str | None = attr()
    name: str | None = attr()
    usage: str | None = attr()
    units: str | None = attr()
    pool: str | None = attr()
    volume: str | None = attr()


@model("target")
class FilesystemTarget(XmlModel):
    dir: str | None = attr()


@model("filesystem")
class Filesystem(XmlModel):
    type: str | None = attr(conv=FS_TYPES)
    accessmode: str | None = attr()
    model: str | None = attr()
    multidevs: str | None = attr()
    fmode: str | None = attr()
    dmode: str | None = attr()
    driver: FilesystemDriver | None = child("driver", FilesystemDriver)
    binary: FilesystemBinary | None = child("binary", FilesystemBinary)
    source: FilesystemSource | None = child("source", FilesystemSource)
    target: FilesystemTarget | None = child("target", FilesystemTarget)
    readonly: bool = flag("readonly")
    boot: Boot | None = child("boot", Boot)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)
    space_hard_limit: SizeValue | None = child("space_hard_limit", SizeValue)
    space_soft_limit: SizeValue | None = child("space_soft_limit", SizeValue)


# ----------------------------------------------------------------------------- tpm


@model("device")
class TpmDevice(XmlModel):
    path: str | None = attr()


@model("encryption")
class TpmEncryption(XmlModel):
    secret: str | None = attr()


@model("source")
class TpmSource(XmlModel):
    type: str | None = attr()
    mode: str | None = attr()
    path: str | None = attr()


@model("active_pcr_banks")
class ActivePcrBanks(XmlModel):
    sha1: bool = flag("sha1")
    sha256: bool = flag("sha256")
    sha384: bool = flag("sha384")
    sha512: bool = flag("sha512")


@model("backend")
class TpmBackend(XmlModel):
    type: str | None = attr()
    version: str | None = attr()
    persistent_state: str | None = attr()
    device: TpmDevice | None = child("device", TpmDevice)
    encryption: TpmEncryption | None = child("encryption", TpmEncryption)
    active_pcr_banks: ActivePcrBanks | None = child("active_pcr_banks", ActivePcrBanks)
    source: TpmSource | None = child("source", TpmSource)


@model("tpm")
class Tpm(XmlModel):
    model: str | None = attr()
    backend: TpmBackend | None = child("backend", TpmBackend)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)
    privateData: Element | None = raw("privateData")


# ----------------------------------------------------------------------------- usb redirection


@model("usbdev")
class RedirFilterUsbDev(XmlModel):
    class_: str | None = attr(xml="class")
    vendor: str | None = attr()
    product: str | None = attr()
    version: str | None = attr()
    allow: str | None = attr()


@model("redirfilter")
class RedirFilter(XmlModel):
    usbdevs: list[RedirFilterUsbDev] = children("usbdev", RedirFilterUsbDev)


@model("hub")
class Hub(XmlModel):
    type: str | None = attr()
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)


# ----------------------------------------------------------------------------- small singletons


@model("watchdog")
class Watchdog(XmlModel):
    model: str | None = attr()
    action: str | None = attr()
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)


@model("stats")
class BalloonStats(XmlModel):
    period: str | None = attr()


@model("memballoon")
class MemBalloon(XmlModel):
    model: str | None = attr()
    autodeflate: str | None = attr()
    freePageReporting: str | None = attr()
    stats: BalloonStats | None = child("stats", BalloonStats)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)
    driver: VirtioDriver | None = child("driver", VirtioDriver)


@model("nvram")
class Nvram(XmlModel):
    alias: Alias | None = child("alias", Alias)
    address: Address | None = child("address", Address)


@model("panic")
class Panic(XmlModel):
    model: str | None = attr()
    alias: Alias | None = child("alias", Alias)
    address: Address | None = child("address", Address)


@model("model")
class TypeRef(XmlModel):
    type: str | None = attr()


@model("server")
class ShmemServer(XmlModel):
    path: str | None = attr()


@model("msi")
class ShmemMsi(XmlModel):
    vectors: str | None = attr()
    ioeventfd: str | None = attr()


@model("shmem")
class Shmem(XmlModel):
    name: str | None = attr()
    role: str | None = attr()
    model: TypeRef | None = child("model", TypeRef)
    size: SizeValue | None = child("size", SizeValue)
    server: ShmemServer | None = child("server", ShmemServer)
    msi: ShmemMsi | None = child("msi", ShmemMsi)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)


# ----------------------------------------------------------------------------- memory devices


@model("source")
class MemorySource(XmlModel):
    nodemask: str | None = text_child("nodemask")
    pagesize: SizeValue | None = child("pagesize", SizeValue)
    path: str | None = text_child("path")
    alignsize: SizeValue | None = child("alignsize", SizeValue)
    pmem: bool = flag("pmem")


@model("label")
class MemoryLabel(XmlModel):
    size: SizeValue | None = child("size", SizeValue)


@model("target")
class MemoryTarget(XmlModel):
    size: SizeValue | None = child("size", SizeValue)
    node: str | None = text_child("node")
    label: MemoryLabel | None = child("label", MemoryLabel)
    readonly: bool = flag("readonly")
    block: SizeValue | None = child("block", SizeValue)
    requested: SizeValue | None = child("requested", SizeValue)
    current: SizeValue | None = child("current", SizeValue)
    address: Element | None = raw("address")


@model("memory")
class Memory(XmlModel):
    """A hot-pluggable memory device (dimm, nvdimm, virtio-pmem, virtio-mem, sgx-epc)."""

    model: str | None = attr()
    access: str | None = attr()
    discard: str | None = attr()
    uuid: str | None = text_child("uuid")
    source: MemorySource | None = child("source", MemorySource)
    target: MemoryTarget | None = child("target", MemoryTarget)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)


# ----------------------------------------------------------------------------- iommu, vsock, crypto


@model("driver")
class IommuDriver(XmlModel):
    intremap: str | None = attr()
    caching_mode: str | None = attr()
    eim: str | None = attr()
    iotlb: str | None = attr()
    aw_bits: str | None = attr()


@model("iommu")
class Iommu(XmlModel):
    model: str | None = attr()
    driver: IommuDriver | None = child("driver", IommuDriver)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)


@model("cid")
class VsockCid(XmlModel):
    auto: str | None = attr()
    address: str | None = attr()


@model("vsock")
class Vsock(XmlModel):
    model: str | None = attr()
    cid: VsockCid | None = child("cid", VsockCid)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)
    driver: VirtioDriver | None = child("driver", VirtioDriver)


@model("backend")
class CryptoBackend(XmlModel):
    model: str | None = attr()
    queues: str | None = attr()


@model("crypto")
class Crypto(XmlModel):
    """A virtio-crypto device (libvirt >= 9.1)."""

    model: str | None = attr()
    type: str | None = attr()
    backend: CryptoBackend | None = child("backend", CryptoBackend)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)
