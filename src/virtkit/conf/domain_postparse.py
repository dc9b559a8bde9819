"""Defaults libvirt's generic domain parser applies for every driver.

``DomainDef.from_xml`` does not apply these (conformance inputs must
round-trip as written); a driver calls ``apply_generic_defaults`` after
``validate_domain_def``, then adds its own driver-specific defaults.

What is covered (libvirt's domain_conf.c / domain_postparse.c):

- ``<vcpu>`` without ``placement`` gets ``placement='static'``, or ``'auto'`` when
  ``<numatune><memory placement='auto'>`` and nothing pins vCPUs, emulator or IOThreads;
- an hvm guest with no ``<os><boot>`` and no per-device boot order boots from ``hd``
  (per-device boot is looked for on disks and interfaces);
- a disk target without ``bus`` gets the bus its name prefix implies (hd, sd, vd,
  xvd, ubd, fd);
- interface MAC addresses are lowercase;
- a ``type='network'`` interface keeps no ``<source bridge=>`` (that belongs to
  the actual connection, not the config);
- PCI addresses of disks, interfaces and the memballoon are written zero-padded
  (``domain='0x0000' bus='0x00' slot='0x03' function='0x0'``);
- no ``<vcpu>`` means one vCPU (``<vcpu placement='static'>1</vcpu>``);
- character devices, console compat, video and graphics defaults and the devices
  they imply (``domain_implicit``);
- a name with '/' is refused (virDomainDefPostParseCheckFeatures; no virtkit
  driver has VIR_DOMAIN_DEF_FEATURE_NAME_SLASH).
"""

from __future__ import annotations

import contextlib

from virtkit.conf import domain_implicit
from virtkit.conf.dev_common import Address
from virtkit.conf.dev_disk import Disk
from virtkit.conf.dev_net import Interface
from virtkit.conf.devices import Devices
from virtkit.conf.domain import DomainDef
from virtkit.conf.domain_implicit import VideoTypeDefault
from virtkit.conf.domain_os import BootDev
from virtkit.conf.domain_tuning import Vcpu
from virtkit.errors import ErrorCode, ErrorDomain, make_error

# Drive name prefixes virDiskNameParse knows.
_DRIVE_PREFIXES = ("fd", "hd", "vd", "sd", "xvd", "ubd")
# Disk bus implied by a target name prefix, in the order libvirt tests them.
_BUS_BY_PREFIX = (
    ("xvd", "xen"), ("ubd", "uml"), ("vd", "virtio"), ("sd", "scsi"), ("hd", "ide"),
)


def apply_generic_defaults(
    d: DomainDef, default_video_type: VideoTypeDefault | None = None, *, live: bool = False
) -> None:
    """Fill in the defaults libvirt's generic parser and post-parse give ``d`` (in place).

    ``default_video_type`` is the driver's choice for a video without a model type
    (libvirt's per-driver device post-parse callback); without it the type stays unset.
    Raises VirtError where libvirt's post-parse refuses the definition. ``live``: a
    running domain's XML (libvirt parses it without VIR_DOMAIN_DEF_PARSE_INACTIVE).
    """
    video_type = default_video_type or _no_video_type
    if (d.os is not None and d.os_type == "hvm" and not d.os.boot
            and not _any_device_boot(d)):
        boot = BootDev()
        boot.dev = "hd"
        d.os.boot.append(boot)
    if d.vcpu is None:
        d.vcpu = Vcpu(count="1")
    if d.vcpu.placement is None:
        d.vcpu.placement = "static"
    if _numatune_auto_places_vcpus(d):
        d.vcpu.placement = "auto"
    if d.devices is None:
        # libvirt always has a device list and always formats <devices>.
        d.devices = Devices()
    devices = d.devices
    domain_implicit.device_defaults(d, devices, video_type, live=live)
    order_disks(devices)
    for disk in devices.disks:
        disk_defaults(disk)
    for iface in devices.interfaces:
        interface_defaults(iface)
        if iface.type == "network" and iface.source is not None:
            iface.source.bridge = None
        mac = iface.mac
        if mac is not None and mac.address:
            mac.address = mac.address.lower()
    addresses = [disk.address for disk in devices.disks]
    addresses += [iface.address for iface in devices.interfaces]
    if devices.memballoon is not None:
        addresses.append(devices.memballoon.address)
    for addr in addresses:
        if addr is not None:
            pad_pci_address(addr)
    domain_implicit.add_implicit_devices(d, devices, video_type)
    check_name(d.name)


def disk_defaults(disk: Disk) -> None:
    """The parser's defaults of a ``<disk>`` (type file, device disk) and the bus its
    target name implies; also for a disk given alone to attach-device."""
    if disk.type is None:
        disk.type = "file"
    if disk.device is None:
        disk.device = "disk"
    if disk.device == "cdrom":
        disk.readonly = True  # libvirt forces CDROMs read-only
    if disk.driver is not None and disk.driver.cache == "default":
        disk.driver.cache = None  # parsed as the enum's 0 value, which is never formatted
    target = disk.target
    if target is not None and target.dev and target.bus is None:
        # virDomainDiskDefPostParse: floppies on fdc, else by the name's prefix, else ide
        target.bus = ("fdc" if disk.device == "floppy"
                      else disk_bus_for_target(target.dev) or "ide")
    if target is not None and target.dev and (disk.address is None
                                               or disk.address.type is None):
        assign_drive_address(disk, target.dev, target.bus)
    if target is not None and target.dev:
        validate_disk_name(disk.device, target.dev)


def validate_disk_name(device: str | None, dev: str) -> None:
    """virDomainDiskDefValidate's check of the target name against the device kind."""
    if device in ("disk", "lun") and not dev.startswith(("hd", "sd", "vd", "xvd", "ubd")):
        raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN,
                         f"Invalid harddisk device name: {dev}")
    if device == "floppy" and not dev.startswith("fd"):
        raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN,
                         f"Invalid floppy device name: {dev}")


def assign_drive_address(disk: Disk, dev: str, bus: str | None) -> None:
    """virDomainDiskDefAssignAddress: the drive address a target name implies on the
    controller-based buses (narrow SCSI: 7 units a controller)."""
    idx = disk_name_index(dev)
    if idx < 0:
        raise make_error(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN,
                         f"Unknown disk name '{dev}' and no address specified")
    layout = {"scsi": (7, 1, 7), "ide": (4, 2, 2), "sata": (6, 1, 6), "fdc": (2, 1, 2)}
    if bus not in layout:
        return
    per_controller, buses, units = layout[bus]
    addr = Address()
    addr.type = "drive"
    addr.controller = str(idx // per_controller)
    addr.bus = str((idx % per_controller) // units if buses > 1 else 0)
    addr.target = "0"
    addr.unit = str(idx % units)
    disk.address = addr


def disk_name_index(dev: str) -> int:
    """libvirt's virDiskNameToIndex: ``vda`` -> 0, ``hdz`` -> 25, ``vdaa1`` -> 26; -1 when
    the name is not a drive name."""
    rest = next((dev[len(p):] for p in _DRIVE_PREFIXES if dev.startswith(p)), None)
    if not rest or not ("a" <= rest[0] <= "z"):
        return -1
    idx = 0
    pos = 0
    while pos < len(rest) and "a" <= rest[pos] <= "z":
        idx = (idx + (1 if pos else 0)) * 26 + ord(rest[pos]) - ord("a")
        pos += 1
    return idx if rest[pos:].isdigit() or pos == len(rest) else -1


def order_disks(devices: Devices) -> None:
    """Disks in the order libvirt's parser inserts them (virDomainDiskInsert): each before
    the first disk of its bus (as written, before defaults) with a higher drive index,
    else right after the last disk of its bus, else at the end.

    Disks already in that order (the usual case) take one pass; only a disk written out
    of order costs a scan, as in libvirt."""
    ordered: list[tuple[str | None, int, Disk]] = []
    last_of_bus: dict[str | None, int] = {}  # bus -> position of its last disk
    top_of_bus: dict[str | None, int] = {}  # bus -> highest drive index so far
    for disk in devices.disks:
        bus = disk.target.bus if disk.target is not None else None
        index = disk_name_index(disk.target.dev or "") if disk.target is not None else -1
        if bus not in last_of_bus:
            at = len(ordered)
        elif index >= top_of_bus[bus]:
            at = last_of_bus[bus] + 1
        else:
            at = -1
            for pos in range(len(ordered) - 1, -1, -1):
                other_bus, other_index, _ = ordered[pos]
                if other_bus != bus:
                    continue
                if other_index > index:
                    at = pos
                elif at == -1:
                    at = pos + 1
        ordered.insert(at, (bus, index, disk))
        for key, pos in last_of_bus.items():
            if pos >= at:
                last_of_bus[key] = pos + 1
        if at > last_of_bus.get(bus, -1):
            last_of_bus[bus] = at
        top_of_bus[bus] = max(top_of_bus.get(bus, index), index)
    devices.disks[:] = [disk for _, _, disk in ordered]


def interface_defaults(iface: Interface) -> None:
    """An ``<interface>`` without a type is a user-mode one (virDomainNetDefParseXML)."""
    if iface.type is None:
        iface.type = "user"


def check_name(name: str | None) -> None:
    """Refuse a domain name with '/' as libvirt's post-parse does."""
    if name and "/" in name:
        raise make_error(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN,
                         f"name {name} cannot contain '/'")


def _no_video_type(d: DomainDef) -> str | None:
    del d
    return None


def disk_bus_for_target(dev: str) -> str | None:
    """The bus a disk target name implies (``vda`` -> virtio), or None."""
    for prefix, bus in _BUS_BY_PREFIX:
        if dev.startswith(prefix):
            return bus
    return None


def pad_pci_address(addr: Address) -> None:
    """Rewrite a PCI address's numbers as libvirt formats them (hex, zero-padded)."""
    if addr.type != "pci":
        return
    for name, width in (("domain", 4), ("bus", 2), ("slot", 2)):
        value = getattr(addr, name)
        if value is not None:
            with contextlib.suppress(ValueError):
                setattr(addr, name, f"0x{int(value, 0):0{width}x}")
    if addr.function is not None:
        with contextlib.suppress(ValueError):
            addr.function = f"0x{int(addr.function, 0):x}"


def _any_device_boot(d: DomainDef) -> bool:
    devices = d.devices
    if devices is None:
        return False
    return any(disk.boot is not None for disk in devices.disks) or any(
        iface.boot is not None for iface in devices.interfaces
    )


__all__ = ["apply_generic_defaults", "check_name", "disk_bus_for_target", "disk_defaults",
           "interface_defaults", "pad_pci_address"]


def _numatune_auto_places_vcpus(d: DomainDef) -> bool:
    """libvirt's rule: automatic NUMA memory placement makes vCPU placement automatic too,
    unless a cpuset or a pin says otherwise."""
    nt = d.numatune
    if nt is None or nt.memory is None or nt.memory.placement != "auto":
        return False
    assert d.vcpu is not None
    if d.vcpu.cpuset is not None:
        return False
    ct = d.cputune
    return ct is None or not (ct.vcpupins or ct.emulatorpin is not None or ct.iothreadpins)
