"""A node device as libvirt's udev backend keeps it (virNodeDeviceDef and its caps)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DeviceDef", "MdevType", "NetCap", "PCICap", "SCSIHostCap", "StorageCap",
           "SystemCap"]


@dataclass
class SystemCap:
    kind = "system"
    product: str | None = None
    hw_vendor: str | None = None
    hw_version: str | None = None
    hw_serial: str | None = None
    uuid: str = "00000000-0000-0000-0000-000000000000"
    fw_vendor: str | None = None
    fw_version: str | None = None
    fw_date: str | None = None


@dataclass
class MdevType:
    id: str
    name: str | None
    device_api: str
    available: int


PCIAddr = tuple[int, int, int, int]


@dataclass
class PCICap:
    kind = "pci"
    klass: int
    domain: int
    bus: int
    slot: int
    function: int
    vendor: int
    product: int
    vendor_name: str | None = None
    product_name: str | None = None
    numa_node: int = -1
    header_type: int = 0
    physical_function: PCIAddr | None = None
    virtual_functions: list[PCIAddr] = field(default_factory=list)
    max_vfs: int = 0
    iommu_group: int | None = None
    iommu_devices: list[PCIAddr] = field(default_factory=list)
    mdev_types: list[MdevType] = field(default_factory=list)
    pcie: bool = False
    link_cap: tuple[int, int, int] | None = None  # port, speed, width
    link_sta: tuple[int, int] | None = None  # speed, width


@dataclass
class USBDevCap:
    kind = "usb_device"
    bus: int
    device: int
    vendor: int
    product: int
    vendor_name: str | None
    product_name: str | None


@dataclass
class USBIfCap:
    kind = "usb"
    number: int
    klass: int
    subclass: int
    protocol: int


@dataclass
class NetCap:
    kind = "net"
    ifname: str | None
    address: str | None
    link_state: int = 0
    link_speed: int = 0
    features: list[str] = field(default_factory=list)
    subtype: str = "80203"


@dataclass
class SCSIHostCap:
    kind = "scsi_host"
    host: int
    unique_id: int = -1
    wwnn: str | None = None
    wwpn: str | None = None
    fabric_wwn: str | None = None
    fc_host: bool = False
    vport_ops: bool = False
    max_vports: int = 0
    vports: int = 0


@dataclass
class SCSITargetCap:
    kind = "scsi_target"
    name: str
    rport: str | None = None
    wwpn: str | None = None


@dataclass
class SCSICap:
    kind = "scsi"
    host: int
    bus: int
    target: int
    lun: int
    type: str | None = None


@dataclass
class StorageCap:
    kind = "storage"
    block: str
    bus: str | None = None
    drive_type: str | None = None
    model: str | None = None
    vendor: str | None = None
    serial: str | None = None
    size: int = 0
    logical_block_size: int = 0
    num_blocks: int = 0
    removable: bool = False
    media_available: bool = False
    media_size: int = 0
    media_label: str | None = None


@dataclass
class SCSIGenericCap:
    kind = "scsi_generic"
    path: str


@dataclass
class DRMCap:
    kind = "drm"
    type: str


@dataclass
class MdevTypesCap:
    kind = "mdev_types"
    types: list[MdevType]


Cap = (SystemCap | PCICap | USBDevCap | USBIfCap | NetCap | SCSIHostCap | SCSITargetCap
       | SCSICap | StorageCap | SCSIGenericCap | DRMCap | MdevTypesCap)


@dataclass
class DeviceDef:
    """virNodeDeviceDef: one device, its one capability (the udev backend makes one)."""

    name: str
    cap: Cap
    sysfs_path: str | None = None
    parent: str | None = None
    parent_sysfs_path: str | None = None
    driver: str | None = None
    devnode: str | None = None
    devlinks: list[str] = field(default_factory=list)

    def cap_names(self) -> list[str]:
        """virNodeDeviceCapsListExport: the capability and the ones it implies."""
        names = [self.cap.kind]
        c = self.cap
        if isinstance(c, SCSIHostCap):
            if c.fc_host:
                names.append("fc_host")
            if c.vport_ops:
                names.append("vports")
        elif isinstance(c, PCICap) and c.mdev_types:
            names.append("mdev_types")
        return names
