"""One sysfs device to one node device, as node_device_udev.c's udevAddOneDevice does:
the type from DEVTYPE / properties / subsystem, the details per type, the name
(``subsystem_sysname[_extra]``, non-alphanumerics as ``_``). A device libvirt would
discard gives None."""

from __future__ import annotations

import os
import re
import uuid as uuidlib
from collections.abc import Callable

from virtkit.drivers.nodedev import hwinfo
from virtkit.drivers.nodedev.model import (
    Cap,
    DeviceDef,
    DRMCap,
    MdevType,
    MdevTypesCap,
    NetCap,
    PCIAddr,
    PCICap,
    SCSICap,
    SCSIGenericCap,
    SCSIHostCap,
    SCSITargetCap,
    StorageCap,
    SystemCap,
    USBDevCap,
    USBIfCap,
)
from virtkit.drivers.nodedev.sysfs import HostPaths, SysDevice

__all__ = ["device_type", "generate_name", "probe", "system_device"]

_BY_DEVTYPE = {"usb_device": "usb_device", "usb_interface": "usb", "scsi_host": "scsi_host",
               "scsi_target": "scsi_target", "scsi_device": "scsi", "disk": "storage",
               "wlan": "net", "drm_minor": "drm"}
_BY_SUBSYSTEM = {"scsi_generic": "scsi_generic", "mtty": "mdev_types"}
_SCSI_TYPES = {0: "disk", 1: "tape", 3: "processor", 4: "worm", 5: "cdrom", 6: "scanner",
               7: "mod", 8: "changer", 0xD: "enclosure", 0xC: "raid"}
_PCI_ADDR = re.compile(r"^([0-9a-fA-F]+):([0-9a-fA-F]+):([0-9a-fA-F]+)\.([0-9a-fA-F]+)$")


class _Discard(Exception):
    """libvirt drops this device (its udevAddOneDevice fails)."""


def generate_name(subsystem: str | None, sysname: str, extra: str | None = None) -> str:
    """nodeDeviceGenerateName."""
    name = f"{subsystem}_{sysname}" + (f"_{extra}" if extra is not None else "")
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in name)


def device_type(dev: SysDevice) -> str | None:
    """udevGetDeviceType: the capability a device gets, None when it gets none."""
    devtype = dev.devtype
    if devtype:
        return _BY_DEVTYPE.get(devtype)
    kind = None
    if "PCI_CLASS" in dev.props:
        kind = "pci"
    if "INTERFACE" in dev.props:
        kind = "net"
    return _BY_SUBSYSTEM.get(dev.subsystem or "", kind)


def _int(text: str | None, base: int) -> int | None:
    """virStrToLong_i with a base (0 accepts 0x); None when absent, _Discard when bad."""
    if text is None:
        return None
    try:
        return int(text.strip(), base)
    except ValueError:
        raise _Discard from None


def _uint(text: str | None, base: int) -> int | None:
    value = _int(text, base)
    return None if value is None else value & 0xFFFFFFFF


def _prop_int(dev: SysDevice, key: str, base: int) -> int:
    """udevGetIntProperty: a missing property discards the device."""
    value = _int(dev.props.get(key), base)
    if value is None:
        raise _Discard
    return value


def _attr_str(dev: SysDevice, name: str) -> str | None:
    """udevGetStringSysfsAttr: control characters stripped, "" is None."""
    value = dev.attr(name)
    if value is None:
        return None
    value = "".join(c for c in value if c >= " " and c != "\x7f")
    return value or None


def _pci_addr(text: str) -> PCIAddr | None:
    m = _PCI_ADDR.match(os.path.basename(text))
    return tuple(int(g, 16) for g in m.groups()) if m else None  # type: ignore[return-value]


def mdev_types(dev_dir: str) -> list[MdevType]:
    """virMediatedDeviceGetMdevTypes: the types under ``mdev_supported_types``."""
    base = os.path.join(dev_dir, "mdev_supported_types")
    out = []
    for tid in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        tdir = os.path.join(base, tid)

        def read(name: str, tdir: str = tdir) -> str | None:
            try:
                with open(os.path.join(tdir, name)) as f:
                    return f.read().strip()
            except OSError:
                return None

        avail = read("available_instances")
        out.append(MdevType(tid, read("name") or None, read("device_api") or "",
                            int(avail) if avail and avail.isdigit() else 0))
    return out


def _pci(dev: SysDevice, paths: HostPaths) -> tuple[PCICap, str]:
    klass = _prop_int(dev, "PCI_CLASS", 16)
    addr = _pci_addr(dev.syspath)
    if addr is None:
        raise _Discard
    vendor = _uint(dev.attr("vendor"), 16) or 0
    product = _uint(dev.attr("device"), 16) or 0
    vname, pname = hwinfo.pci_names(paths.pci_ids, vendor, product)
    numa = _int(dev.attr("numa_node"), 10)
    cap = PCICap(klass, *addr, vendor=vendor, product=product, vendor_name=vname,
                 product_name=pname, numa_node=-1 if numa is None else numa)
    _pci_dynamic(dev, paths, cap)
    if paths.privileged:
        try:
            cfg = hwinfo.PCIConfig(os.path.join(dev.syspath, "config"))
            cap.header_type = cfg.header_type()
        except (OSError, ValueError):
            raise _Discard from None
        if cfg.is_pcie():
            cap.pcie = True
            link = cfg.link()
            if link is not None:
                cap.link_cap, cap.link_sta = link
    return cap, generate_name(dev.subsystem, dev.sysname)


def _pci_dynamic(dev: SysDevice, paths: HostPaths, cap: PCICap) -> None:
    """virNodeDeviceGetPCIDynamicCaps: SR-IOV, IOMMU group, mdev types."""
    physfn = dev.link("physfn")
    cap.physical_function = _pci_addr(physfn) if physfn else None
    vfs = []
    for entry in sorted(os.listdir(dev.syspath), key=lambda e: (len(e), e)):
        if entry.startswith("virtfn"):
            target = dev.link(entry)
            addr = _pci_addr(target) if target else None
            if addr:
                vfs.append(addr)
    cap.virtual_functions = vfs
    cap.max_vfs = _uint(dev.attr("sriov_totalvfs"), 10) or 0
    group = dev.link("iommu_group")
    if group is not None:
        try:
            cap.iommu_group = int(os.path.basename(group))
        except ValueError:
            raise _Discard from None
        members = os.path.join(group, "devices")
        entries = sorted(os.listdir(members)) if os.path.isdir(members) else []
        addrs = [_pci_addr(e) for e in entries]
        cap.iommu_devices = [a for a in addrs if a]
    cap.mdev_types = mdev_types(dev.syspath)


def _net(dev: SysDevice, paths: HostPaths) -> tuple[NetCap, str]:
    ifname = dev.props.get("INTERFACE")
    address = _attr_str(dev, "address")
    cap = NetCap(ifname, address, subtype="80211" if dev.devtype == "wlan" else "80203")
    name = generate_name(dev.subsystem, dev.sysname, address)
    link = hwinfo.net_link(paths.sys("class", "net"), ifname or "")
    if link is None:
        raise _Discard
    cap.link_state, cap.link_speed = link
    if paths.sysfs == "/sys" and ifname:
        cap.features = hwinfo.net_features(ifname)
    return cap, name


def _storage(dev: SysDevice) -> tuple[StorageCap, str]:
    node = dev.devnode
    if not node:
        raise _Discard
    cap = StorageCap(node, bus=dev.props.get("ID_BUS"), serial=dev.props.get("ID_SERIAL"))
    vendor, model = _attr_str(dev, "device/vendor"), _attr_str(dev, "device/model")
    cap.vendor = vendor.strip() if vendor else vendor
    cap.model = model.strip() if model else model
    cap.drive_type = dev.props.get("ID_TYPE")
    if cap.drive_type is None or cap.drive_type == "generic":
        if "ID_DRIVE_FLOPPY" in dev.props:
            cap.drive_type = "floppy"
        elif "ID_CDROM" in dev.props:
            cap.drive_type = "cd"
        elif "ID_DRIVE_FLASH_SD" in dev.props:
            cap.drive_type = "sd"
        else:
            cap.drive_type = _kludge_type(node)
    kind = cap.drive_type
    if kind in ("cd", "cd/dvd"):
        cap.drive_type = "cdrom"
        media = dev.props.get("ID_CDROM_MEDIA")
        _removable(dev, cap, bool(_int(media, 0)) if media is not None else False)
    elif kind == "disk":
        _disk(dev, cap)
    elif kind == "floppy":
        _removable(dev, cap, "ID_FS_LABEL" in dev.props)
    elif kind == "sd":
        _disk(dev, cap)
    elif kind == "dasd":
        cap.serial = _attr_str(dev, "device/uid")
        _disk(dev, cap)
    else:
        raise _Discard
    return cap, generate_name(dev.subsystem, dev.sysname, cap.serial)


def _kludge_type(devnode: str) -> str:
    """udevKludgeStorageType."""
    for prefix, kind in (("/dev/vd", "disk"), ("/dev/dasd", "dasd"), ("/dev/nvme", "disk")):
        if devnode.startswith(prefix):
            return kind
    raise _Discard


def _u64(dev: SysDevice, name: str) -> int:
    value = _int(dev.attr(name), 0)
    return (value or 0) & 0xFFFFFFFFFFFFFFFF


def _disk(dev: SysDevice, cap: StorageCap) -> None:
    cap.num_blocks = _u64(dev, "size")
    cap.logical_block_size = _u64(dev, "queue/logical_block_size")
    cap.size = cap.num_blocks * cap.logical_block_size


def _removable(dev: SysDevice, cap: StorageCap, has_media: bool) -> None:
    """udevProcessRemoveableMedia."""
    cap.removable = _int(dev.attr("removable"), 0) == 1
    if not has_media:
        return
    cap.media_available = True
    cap.media_label = dev.props.get("ID_FS_LABEL")
    cap.num_blocks = _u64(dev, "size")
    cap.logical_block_size = _u64(dev, "queue/logical_block_size")
    cap.media_size = cap.num_blocks * cap.logical_block_size


def _read_opt(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _scsi_host(dev: SysDevice, paths: HostPaths) -> tuple[SCSIHostCap, str]:
    base = os.path.basename(dev.syspath)
    if not base.startswith("host"):
        raise _Discard
    num = _int(base[4:], 0)
    if num is None:
        raise _Discard
    cap = SCSIHostCap(num)
    uid = _read_opt(paths.sys("class", "scsi_host", base, "unique_id"))
    try:
        cap.unique_id = int(uid) if uid is not None else -1
    except ValueError:
        cap.unique_id = -1
    fc = paths.sys("class", "fc_host", base)
    if os.path.isdir(fc):
        wwpn, wwnn = _read_opt(f"{fc}/port_name"), _read_opt(f"{fc}/node_name")
        if wwpn and wwnn:
            cap.fc_host, cap.wwpn, cap.wwnn = True, wwpn, wwnn
            cap.fabric_wwn = _read_opt(f"{fc}/fabric_name")
        if os.path.exists(f"{fc}/vport_create"):
            maxv, inuse = _read_opt(f"{fc}/max_npiv_vports"), _read_opt(f"{fc}/npiv_vports_inuse")
            if maxv and inuse and maxv.isdigit() and inuse.isdigit():
                cap.vport_ops, cap.max_vports, cap.vports = True, int(maxv), int(inuse)
    return cap, generate_name(dev.subsystem, dev.sysname)


def _scsi_target(dev: SysDevice, paths: HostPaths) -> tuple[SCSITargetCap, str]:
    cap = SCSITargetCap(dev.sysname)
    rport = os.path.basename(os.path.dirname(dev.syspath))
    rdir = paths.sys("class", "fc_remote_ports", rport)
    wwpn = _read_opt(os.path.join(rdir, "port_name")) if rport.startswith("rport-") else None
    if wwpn:
        cap.rport, cap.wwpn = rport, wwpn
    return cap, generate_name(dev.subsystem, dev.sysname)


def _scsi(dev: SysDevice) -> tuple[SCSICap, str]:
    parts = os.path.basename(dev.syspath).split(":")
    try:
        host, bus, target, lun = (int(p, 10) for p in parts)
    except ValueError:
        raise _Discard from None
    cap = SCSICap(host, bus, target, lun)
    kind = _int(dev.attr("type"), 0)
    if kind is not None:
        cap.type = _SCSI_TYPES.get(kind)
    return cap, generate_name(dev.subsystem, dev.sysname)


def _usb_device(dev: SysDevice) -> tuple[USBDevCap, str]:
    bus = _prop_int(dev, "BUSNUM", 10)
    num = _prop_int(dev, "DEVNUM", 10)
    vendor = _prop_int(dev, "ID_VENDOR_ID", 16)
    vname = dev.props.get("ID_VENDOR_FROM_DATABASE") or _attr_str(dev, "manufacturer")
    product = _prop_int(dev, "ID_MODEL_ID", 16)
    pname = dev.props.get("ID_MODEL_FROM_DATABASE") or _attr_str(dev, "product")
    cap = USBDevCap(bus, num, vendor, product, vname, pname)
    return cap, generate_name(dev.subsystem, dev.sysname)


def _usb_interface(dev: SysDevice) -> tuple[USBIfCap, str]:
    vals = [_uint(dev.attr(a), 16) or 0 for a in
            ("bInterfaceNumber", "bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol")]
    return USBIfCap(*vals), generate_name(dev.subsystem, dev.sysname)


def _drm(dev: SysDevice) -> tuple[DRMCap, str]:
    name = generate_name(dev.subsystem, dev.sysname)
    minor = _prop_int(dev, "MINOR", 10)
    kinds = {0: "primary", 1: "control", 2: "render"}  # drmGetMinorType: minor / 64
    kind = kinds.get(minor >> 6)
    if kind is None:
        raise _Discard
    return DRMCap(kind), name


def _sg(dev: SysDevice) -> tuple[SCSIGenericCap, str]:
    path = dev.props.get("DEVNAME")
    if not path:
        raise _Discard
    return SCSIGenericCap(path), generate_name(dev.subsystem, dev.sysname)


def _mdev_parent(dev: SysDevice) -> tuple[MdevTypesCap, str]:
    return MdevTypesCap(mdev_types(dev.syspath)), generate_name(dev.subsystem, dev.sysname)


_DETAILS: dict[str, Callable[[SysDevice, HostPaths], tuple[Cap, str]]] = {
    "pci": _pci,
    "net": _net,
    "storage": lambda d, p: _storage(d),
    "scsi_host": _scsi_host,
    "scsi_target": _scsi_target,
    "scsi": lambda d, p: _scsi(d),
    "usb_device": lambda d, p: _usb_device(d),
    "usb": lambda d, p: _usb_interface(d),
    "drm": lambda d, p: _drm(d),
    "scsi_generic": lambda d, p: _sg(d),
    "mdev_types": lambda d, p: _mdev_parent(d),
}


def probe(dev: SysDevice, paths: HostPaths,
          name_of_path: Callable[[str], str | None]) -> DeviceDef | None:
    """udevAddOneDevice without the table: the device's definition, or None.

    ``name_of_path`` finds a known device's name by sysfs path (udevSetParent)."""
    kind = device_type(dev)
    details = _DETAILS.get(kind or "")
    if details is None:
        return None  # mdev, ccw, css, vdpa, ap_*: see docs/nodedev.md
    try:
        cap, name = details(dev, paths)
    except (_Discard, OSError):
        return None
    d = DeviceDef(name, cap, sysfs_path=dev.syspath, driver=dev.driver, devnode=dev.devnode,
                  devlinks=list(dev.devlinks))
    parent = dev.parent()
    while parent is not None:
        pname = name_of_path(parent.syspath)
        if pname is not None:
            d.parent, d.parent_sysfs_path = pname, parent.syspath
            break
        parent = parent.parent()
    if d.parent is None:
        d.parent = "computer"
    return d


_HOST_UUID: list[str] = []


def system_device(paths: HostPaths) -> DeviceDef:
    """udevSetupSystemDev: ``computer``, with DMI data where the host has it."""
    cap = SystemCap()
    dmi = paths.sys("devices", "virtual", "dmi", "id")
    if os.path.isdir(dmi):
        cap.product = _read_opt(f"{dmi}/product_name") or None
        cap.hw_vendor = _read_opt(f"{dmi}/sys_vendor") or None
        cap.hw_version = _read_opt(f"{dmi}/product_version") or None
        cap.hw_serial = _read_opt(f"{dmi}/product_serial") or None
        cap.uuid = _host_uuid(_read_opt(f"{dmi}/product_uuid"))
        cap.fw_vendor = _read_opt(f"{dmi}/bios_vendor") or None
        cap.fw_version = _read_opt(f"{dmi}/bios_version") or None
        cap.fw_date = _read_opt(f"{dmi}/bios_date") or None
    return DeviceDef("computer", cap)


def _host_uuid(text: str | None) -> str:
    """virGetHostUUID: SMBIOS' UUID when usable, else one made up once per process."""
    try:
        parsed = uuidlib.UUID(text or "")
    except ValueError:
        parsed = None
    if parsed is not None and parsed.int not in (0, (1 << 128) - 1):
        return str(parsed)
    if not _HOST_UUID:
        _HOST_UUID.append(str(uuidlib.uuid4()))
    return _HOST_UUID[0]
