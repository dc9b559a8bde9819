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

# Disk bus implied by a target name prefix, in the order libvirt tests them.
_BUS_BY_PREFIX = (
    ("xvd", "xen"), ("ubd", "uml"), ("vd", "virtio"), ("sd", "scsi"), ("hd", "ide"),
    ("fd", "fdc"),
)


def apply_generic_defaults(
    d: DomainDef, default_video_type: VideoTypeDefault | None = None
) -> None:
    """Fill in the defaults libvirt's generic parser and post-parse give ``d`` (in place).

    ``default_video_type`` is the driver's choice for a video without a model type
    (libvirt's per-driver device post-parse callback); without it the type stays unset.
    Raises VirtError where libvirt's post-parse refuses the definition.
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
    domain_implicit.device_defaults(d, devices, video_type)
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
    target = disk.target
    if target is not None and target.dev and target.bus is None:
        target.bus = disk_bus_for_target(target.dev)


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
