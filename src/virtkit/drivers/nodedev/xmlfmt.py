"""virNodeDeviceDefFormat: a node device's XML, element for element as libvirt 9.0."""

from __future__ import annotations

from virtkit.drivers.nodedev.hwinfo import HEADER_TYPES, IF_STATES, LINK_SPEEDS
from virtkit.drivers.nodedev.model import (
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

__all__ = ["format_device"]


def _esc(text: str) -> str:
    """virBufferEscapeString's escaping."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.indent = 0

    def add(self, line: str) -> None:
        self.lines.append(" " * self.indent + line)

    def opt(self, tag: str, value: str | None) -> None:
        if value is not None:
            self.add(f"<{tag}>{_esc(value)}</{tag}>")


def _addr(a: PCIAddr) -> str:
    return (f"<address domain='0x{a[0]:04x}' bus='0x{a[1]:02x}' slot='0x{a[2]:02x}' "
            f"function='0x{a[3]}'/>")


def _mdev_types(out: _Out, types: list[MdevType]) -> None:
    if not types:
        return
    out.add("<capability type='mdev_types'>")
    out.indent += 2
    for t in types:
        out.add(f"<type id='{_esc(t.id)}'>")
        out.indent += 2
        out.opt("name", t.name)
        out.add(f"<deviceAPI>{_esc(t.device_api)}</deviceAPI>")
        out.add(f"<availableInstances>{t.available}</availableInstances>")
        out.indent -= 2
        out.add("</type>")
    out.indent -= 2
    out.add("</capability>")


def _system(out: _Out, c: SystemCap) -> None:
    out.opt("product", c.product)
    out.add("<hardware>")
    out.indent += 2
    out.opt("vendor", c.hw_vendor)
    out.opt("version", c.hw_version)
    out.opt("serial", c.hw_serial)
    out.add(f"<uuid>{c.uuid}</uuid>")
    out.indent -= 2
    out.add("</hardware>")
    out.add("<firmware>")
    out.indent += 2
    out.opt("vendor", c.fw_vendor)
    out.opt("version", c.fw_version)
    out.opt("release_date", c.fw_date)
    out.indent -= 2
    out.add("</firmware>")


def _named(out: _Out, tag: str, ident: int, name: str | None, empty: str) -> None:
    if name is not None:
        out.add(f"<{tag} id='0x{ident:04x}'>{_esc(name)}</{tag}>")
    else:
        out.add(f"<{tag} id='0x{ident:04x}'{empty}/>")


def _pci(out: _Out, c: PCICap) -> None:
    if c.klass >= 0:
        out.add(f"<class>0x{c.klass:06x}</class>")
    out.add(f"<domain>{c.domain}</domain>")
    out.add(f"<bus>{c.bus}</bus>")
    out.add(f"<slot>{c.slot}</slot>")
    out.add(f"<function>{c.function}</function>")
    _named(out, "product", c.product, c.product_name, "")
    _named(out, "vendor", c.vendor, c.vendor_name, "")
    if c.physical_function is not None:
        out.add("<capability type='phys_function'>")
        out.add("  " + _addr(c.physical_function))
        out.add("</capability>")
    if c.virtual_functions or c.max_vfs:
        head = "<capability type='virt_functions'"
        if c.max_vfs:
            head += f" maxCount='{c.max_vfs}'"
        if not c.virtual_functions:
            out.add(head + "/>")
        else:
            out.add(head + ">")
            for vf in c.virtual_functions:
                out.add("  " + _addr(vf))
            out.add("</capability>")
    if c.header_type:
        kind = HEADER_TYPES[c.header_type] if c.header_type < len(HEADER_TYPES) else ""
        out.add(f"<capability type='{kind}'/>")
    _mdev_types(out, c.mdev_types)
    if c.iommu_devices:
        out.add(f"<iommuGroup number='{c.iommu_group}'>")
        for a in c.iommu_devices:
            out.add("  " + _addr(a))
        out.add("</iommuGroup>")
    if c.numa_node >= 0:
        out.add(f"<numa node='{c.numa_node}'/>")
    if c.pcie:
        if c.link_cap is None and c.link_sta is None:
            out.add("<pci-express/>")
        else:
            out.add("<pci-express>")
            if c.link_cap is not None:
                port, speed, width = c.link_cap
                out.add("  " + _link("cap", port, speed, width))
            if c.link_sta is not None:
                speed, width = c.link_sta
                out.add("  " + _link("sta", -1, speed, width))
            out.add("</pci-express>")


def _link(validity: str, port: int, speed: int, width: int) -> str:
    text = f"<link validity='{validity}'"
    if port >= 0:
        text += f" port='{port}'"
    if speed:
        name = LINK_SPEEDS[speed] if speed < len(LINK_SPEEDS) else "(null)"
        text += f" speed='{name}'"
    return text + f" width='{width}'/>"


def _usb_dev(out: _Out, c: USBDevCap) -> None:
    out.add(f"<bus>{c.bus}</bus>")
    out.add(f"<device>{c.device}</device>")
    _named(out, "product", c.product, c.product_name, " ")
    _named(out, "vendor", c.vendor, c.vendor_name, " ")


def _usb_if(out: _Out, c: USBIfCap) -> None:
    out.add(f"<number>{c.number}</number>")
    out.add(f"<class>{c.klass}</class>")
    out.add(f"<subclass>{c.subclass}</subclass>")
    out.add(f"<protocol>{c.protocol}</protocol>")


def _net(out: _Out, c: NetCap) -> None:
    out.add(f"<interface>{_esc(c.ifname or '')}</interface>" if c.ifname is not None else "")
    if c.ifname is None:
        out.lines.pop()
    out.opt("address", c.address)
    if c.link_speed or c.link_state:
        text = "<link"
        if c.link_speed:
            text += f" speed='{c.link_speed}'"
        if c.link_state:
            text += f" state='{IF_STATES[c.link_state]}'"
        out.add(text + "/>")
    for feature in c.features:
        out.add(f"<feature name='{feature}'/>")
    out.add(f"<capability type='{c.subtype}'/>")


def _scsi_host(out: _Out, c: SCSIHostCap) -> None:
    out.add(f"<host>{c.host}</host>")
    if c.unique_id != -1:
        out.add(f"<unique_id>{c.unique_id}</unique_id>")
    if c.fc_host:
        out.add("<capability type='fc_host'>")
        out.indent += 2
        out.opt("wwnn", c.wwnn)
        out.opt("wwpn", c.wwpn)
        out.opt("fabric_wwn", c.fabric_wwn)
        out.indent -= 2
        out.add("</capability>")
    if c.vport_ops:
        out.add("<capability type='vport_ops'>")
        out.add(f"  <max_vports>{c.max_vports}</max_vports>")
        out.add(f"  <vports>{c.vports}</vports>")
        out.add("</capability>")


def _scsi_target(out: _Out, c: SCSITargetCap) -> None:
    out.opt("target", c.name)
    if c.rport is not None:
        out.add("<capability type='fc_remote_port'>")
        out.add(f"  <rport>{c.rport}</rport>")
        out.add(f"  <wwpn>{c.wwpn}</wwpn>")
        out.add("</capability>")


def _scsi(out: _Out, c: SCSICap) -> None:
    out.add(f"<host>{c.host}</host>")
    out.add(f"<bus>{c.bus}</bus>")
    out.add(f"<target>{c.target}</target>")
    out.add(f"<lun>{c.lun}</lun>")
    out.opt("type", c.type)


def _storage(out: _Out, c: StorageCap) -> None:
    out.opt("block", c.block)
    out.opt("bus", c.bus)
    out.opt("drive_type", c.drive_type)
    out.opt("model", c.model)
    out.opt("vendor", c.vendor)
    out.opt("serial", c.serial)
    if c.removable:
        out.add("<capability type='removable'>")
        out.indent += 2
        out.add(f"<media_available>{1 if c.media_available else 0}</media_available>")
        out.add(f"<media_size>{c.media_size}</media_size>")
        out.opt("media_label", c.media_label)
        if c.logical_block_size > 0:
            out.add(f"<logical_block_size>{c.logical_block_size}</logical_block_size>")
        if c.num_blocks > 0:
            out.add(f"<num_blocks>{c.num_blocks}</num_blocks>")
        out.indent -= 2
        out.add("</capability>")
    else:
        out.add(f"<size>{c.size}</size>")
        if c.logical_block_size > 0:
            out.add(f"<logical_block_size>{c.logical_block_size}</logical_block_size>")
        if c.num_blocks > 0:
            out.add(f"<num_blocks>{c.num_blocks}</num_blocks>")


def _cap_body(out: _Out, cap: object) -> None:
    if isinstance(cap, SystemCap):
        _system(out, cap)
    elif isinstance(cap, PCICap):
        _pci(out, cap)
    elif isinstance(cap, USBDevCap):
        _usb_dev(out, cap)
    elif isinstance(cap, USBIfCap):
        _usb_if(out, cap)
    elif isinstance(cap, NetCap):
        _net(out, cap)
    elif isinstance(cap, SCSIHostCap):
        _scsi_host(out, cap)
    elif isinstance(cap, SCSITargetCap):
        _scsi_target(out, cap)
    elif isinstance(cap, SCSICap):
        _scsi(out, cap)
    elif isinstance(cap, StorageCap):
        _storage(out, cap)
    elif isinstance(cap, SCSIGenericCap):
        out.opt("char", cap.path)
    elif isinstance(cap, DRMCap):
        out.opt("type", cap.type)
    elif isinstance(cap, MdevTypesCap):
        _mdev_types(out, cap.types)


def format_device(d: DeviceDef) -> str:
    """The device's XML (with the trailing newline libvirt writes)."""
    out = _Out()
    out.add("<device>")
    out.indent = 2
    out.opt("name", d.name)
    out.opt("path", d.sysfs_path)
    if d.devnode:
        out.add(f"<devnode type='dev'>{_esc(d.devnode)}</devnode>")
    for link in d.devlinks:
        out.add(f"<devnode type='link'>{_esc(link)}</devnode>")
    out.opt("parent", d.parent)
    if d.driver:
        out.add("<driver>")
        out.add(f"  <name>{_esc(d.driver)}</name>")
        out.add("</driver>")
    out.add(f"<capability type='{d.cap.kind}'>")
    out.indent = 4
    _cap_body(out, d.cap)
    out.indent = 2
    out.add("</capability>")
    out.indent = 0
    out.add("</device>")
    return "\n".join(out.lines) + "\n"
