"""A sysfs tree built by a test (PCI function with a driver, its SCSI host, target,
disk and block device, a network interface, a USB device and interface, udevd
database entries), for the node-device driver's unit tests."""

from __future__ import annotations

import os
from pathlib import Path

from virtkit.drivers.nodedev.sysfs import HostPaths

PCI = "devices/pci0000:00/0000:00:1f.2"
HOST = f"{PCI}/ata1/host3"
TARGET = f"{HOST}/target3:0:0"
SCSIDEV = f"{TARGET}/3:0:0:0"
BLOCK = f"{SCSIDEV}/block/sdq"
NET = "devices/pci0000:00/0000:00:19.0/net/vkt0test"
USBDEV = "devices/pci0000:00/0000:00:14.0/usb1/1-2"
USBIF = f"{USBDEV}/1-2:1.0"


def _dev(root: Path, rel: str, subsystem: str, uevent: dict[str, str],
         attrs: dict[str, str] | None = None, klass: str | None = None) -> Path:
    d = root / rel
    d.mkdir(parents=True, exist_ok=True)
    (d / "uevent").write_text("".join(f"{k}={v}\n" for k, v in uevent.items()))
    for name, value in (attrs or {}).items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(value + "\n")
    owner = root / ("class" if klass else "bus") / subsystem
    if not klass:
        (owner / "devices").mkdir(parents=True, exist_ok=True)
        link = owner / "devices" / d.name
    else:
        owner.mkdir(parents=True, exist_ok=True)
        link = owner / d.name
    if not link.exists():
        link.symlink_to(os.path.relpath(d, link.parent))
    (d / "subsystem").symlink_to(os.path.relpath(owner, d))
    return d


def pci_config(header: int = 0, pcie_type: int | None = None) -> bytes:
    """A config space: with a PCIe capability (x4 link, 8 GT/s) when ``pcie_type``."""
    cfg = bytearray(4096)
    cfg[0x0E] = header
    if pcie_type is not None:
        cfg[0x06] = 0x10  # capability list
        cfg[0x34] = 0x40
        cfg[0x40], cfg[0x41] = 0x10, 0x00  # PCIe capability, last
        cfg[0x42] = (pcie_type << 4) & 0xF0
        lnkcap = (2 << 24) | (4 << 4) | 3
        cfg[0x4C:0x50] = lnkcap.to_bytes(4, "little")
        cfg[0x52:0x54] = ((2 << 4) | 2).to_bytes(2, "little")
    return bytes(cfg)


def build(root: Path) -> HostPaths:
    """Make the tree under ``root``; the paths of a host made of it (unprivileged off)."""
    pci = _dev(root, PCI, "pci", {"DRIVER": "ahci", "PCI_CLASS": "10601",
                                  "PCI_ID": "8086:2922", "PCI_SLOT_NAME": "0000:00:1f.2"},
               {"vendor": "0x8086", "device": "0x2922", "numa_node": "0"})
    (pci / "config").write_bytes(pci_config(0, pcie_type=0))
    drivers = root / "bus" / "pci" / "drivers" / "ahci"
    drivers.mkdir(parents=True)
    (pci / "driver").symlink_to(os.path.relpath(drivers, pci))
    groups = root / "kernel" / "iommu_groups" / "7" / "devices"
    groups.mkdir(parents=True)
    (groups / "0000:00:1f.2").symlink_to(os.path.relpath(pci, groups))
    (pci / "iommu_group").symlink_to(os.path.relpath(groups.parent, pci))
    mtype = pci / "mdev_supported_types" / "nvidia-11"
    mtype.mkdir(parents=True)
    for k, v in (("name", "GRID M60-0B"), ("device_api", "vfio-pci"),
                 ("available_instances", "16")):
        (mtype / k).write_text(v + "\n")
    _dev(root, HOST, "scsi", {"DEVTYPE": "scsi_host"})
    _dev(root, f"{HOST}/scsi_host/host3", "scsi_host", {}, {"unique_id": "4"},
         klass="scsi_host")
    _dev(root, TARGET, "scsi", {"DEVTYPE": "scsi_target"})
    _dev(root, SCSIDEV, "scsi", {"DEVTYPE": "scsi_device", "DRIVER": "sd"},
         {"type": "0", "vendor": "ATA     ", "model": "QEMU HARDDISK   "})
    _dev(root, BLOCK, "block", {"MAJOR": "65", "MINOR": "0", "DEVNAME": "sdq",
                                "DEVTYPE": "disk"},
         {"size": "2097152", "queue/logical_block_size": "512", "removable": "0"},
         klass="block")
    (root / BLOCK / "device").symlink_to("../..")
    _dev(root, "devices/pci0000:00/0000:00:19.0", "pci",
         {"PCI_CLASS": "20000"}, {"vendor": "0x8086", "device": "0x10d3"})
    (root / "devices/pci0000:00/0000:00:19.0/config").write_bytes(pci_config(0)[:256])
    _dev(root, NET, "net", {"INTERFACE": "vkt0test", "IFINDEX": "9"},
         {"address": "52:54:00:aa:bb:cc", "addr_len": "6", "operstate": "up",
          "speed": "1000"}, klass="net")
    _dev(root, "devices/pci0000:00/0000:00:14.0", "pci", {"PCI_CLASS": "C0330"},
         {"vendor": "0x8086", "device": "0x9d2f"})
    (root / "devices/pci0000:00/0000:00:14.0/config").write_bytes(pci_config(0)[:256])
    _dev(root, USBDEV, "usb", {"DEVTYPE": "usb_device", "BUSNUM": "001", "DEVNUM": "004",
                               "MAJOR": "189", "MINOR": "3", "DEVNAME": "bus/usb/001/004",
                               "DRIVER": "usb"},
         {"manufacturer": "Logitech", "product": "USB Receiver"})
    _dev(root, USBIF, "usb", {"DEVTYPE": "usb_interface", "DRIVER": "usbhid",
                              "INTERFACE": "3/1/2"},
         {"bInterfaceNumber": "00", "bInterfaceClass": "03", "bInterfaceSubClass": "01",
          "bInterfaceProtocol": "02"})
    # loop devices have no storage type: libvirt leaves them out
    _dev(root, "devices/virtual/block/loop9", "block",
         {"MAJOR": "7", "MINOR": "9", "DEVNAME": "loop9", "DEVTYPE": "disk"},
         {"size": "0", "queue/logical_block_size": "512"}, klass="block")
    db = root / "udev-data"
    db.mkdir()
    (db / "c189:3").write_text("E:ID_VENDOR_ID=046d\nE:ID_MODEL_ID=c52b\n"
                               "E:ID_VENDOR_FROM_DATABASE=Logitech, Inc.\n")
    (db / "b65:0").write_text("S:disk/by-id/ata-QEMU_HARDDISK_QM00001\nE:ID_TYPE=disk\n"
                              "E:ID_BUS=ata\nE:ID_SERIAL=QEMU_HARDDISK_QM00001\n")
    return HostPaths(sysfs=str(root), dev="/dev", udev_db=str(db), privileged=True)
