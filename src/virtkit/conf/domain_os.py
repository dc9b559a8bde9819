"""Domain boot and platform identity: <os>, <sysinfo>, <idmap>."""

from __future__ import annotations

from virtkit.conf.model import (
    XmlModel,
    attr,
    child,
    children,
    model,
    text,
    text_child,
    text_children,
)


@model("type")
class OsType(XmlModel):
    arch: str | None = attr()
    machine: str | None = attr()
    name: str | None = text()


@model("feature")
class FirmwareFeature(XmlModel):
    enabled: str | None = attr()
    name: str | None = attr()


@model("firmware")
class OsFirmware(XmlModel):
    features: list[FirmwareFeature] = children("feature", FirmwareFeature)


@model("initenv")
class InitEnv(XmlModel):
    name: str | None = attr()
    value: str | None = text()


@model("loader")
class Loader(XmlModel):
    readonly: str | None = attr()
    secure: str | None = attr()
    type: str | None = attr()
    stateless: str | None = attr()
    path: str | None = text()


@model("nvram")
class Nvram(XmlModel):
    """``<nvram>``: a path as text, or (new style) ``type=`` with a ``<source>`` (kept as is)."""

    template: str | None = attr()
    type: str | None = attr()
    path: str | None = text()


@model("table")
class AcpiTable(XmlModel):
    type: str | None = attr()
    path: str | None = text()


@model("acpi")
class OsAcpi(XmlModel):
    tables: list[AcpiTable] = children("table", AcpiTable)


@model("boot")
class BootDev(XmlModel):
    dev: str | None = attr()


@model("bootmenu")
class BootMenu(XmlModel):
    enable: str | None = attr()
    timeout: str | None = attr()


@model("bios")
class Bios(XmlModel):
    useserial: str | None = attr()
    rebootTimeout: str | None = attr()


@model("smbios")
class Smbios(XmlModel):
    mode: str | None = attr()


@model("os")
class OsDef(XmlModel):
    """``<os>``: guest type, firmware, loader and boot configuration."""

    firmware: str | None = attr()
    type: OsType | None = child("type", OsType)
    firmware_features: OsFirmware | None = child("firmware", OsFirmware)
    init: str | None = text_child("init")
    initargs: list[str] = text_children("initarg")
    initenvs: list[InitEnv] = children("initenv", InitEnv)
    initdir: str | None = text_child("initdir")
    inituser: str | None = text_child("inituser")
    initgroup: str | None = text_child("initgroup")
    loader: Loader | None = child("loader", Loader)
    nvram: Nvram | None = child("nvram", Nvram)
    kernel: str | None = text_child("kernel")
    initrd: str | None = text_child("initrd")
    cmdline: str | None = text_child("cmdline")
    dtb: str | None = text_child("dtb")
    root: str | None = text_child("root")
    acpi: OsAcpi | None = child("acpi", OsAcpi)
    boot: list[BootDev] = children("boot", BootDev)
    bootmenu: BootMenu | None = child("bootmenu", BootMenu)
    bios: Bios | None = child("bios", Bios)
    smbios: Smbios | None = child("smbios", Smbios)


@model("entry")
class SysinfoEntry(XmlModel):
    name: str | None = attr()
    file: str | None = attr()
    value: str | None = text()


@model("bios")
class SysinfoSection(XmlModel):
    """One SMBIOS block (bios, system, baseBoard, chassis, processor, ...): named entries."""

    entries: list[SysinfoEntry] = children("entry", SysinfoEntry)

    def get(self, name: str) -> str | None:
        """The value of the entry called ``name``."""
        for e in self.entries:
            if e.name == name:
                return e.value
        return None


@model("memory")
class SysinfoMemory(XmlModel):
    devices: list[SysinfoSection] = children("memory_device", SysinfoSection)


@model("sysinfo")
class Sysinfo(XmlModel):
    """``<sysinfo type='smbios'|'fwcfg'>``."""

    type: str | None = attr()
    bios: SysinfoSection | None = child("bios", SysinfoSection)
    system: SysinfoSection | None = child("system", SysinfoSection)
    baseboards: list[SysinfoSection] = children("baseBoard", SysinfoSection)
    chassis: SysinfoSection | None = child("chassis", SysinfoSection)
    processors: list[SysinfoSection] = children("processor", SysinfoSection)
    memory: list[SysinfoMemory] = children("memory", SysinfoMemory)
    oem_strings: SysinfoSection | None = child("oemStrings", SysinfoSection)
    entries: list[SysinfoEntry] = children("entry", SysinfoEntry)


@model("uid")
class IdMapEntry(XmlModel):
    start: str | None = attr()
    target: str | None = attr()
    count: str | None = attr()


@model("idmap")
class IdMap(XmlModel):
    uids: list[IdMapEntry] = children("uid", IdMapEntry)
    gids: list[IdMapEntry] = children("gid", IdMapEntry)
