"""The ``<devices>`` element of libvirt's domain XML.

``Devices`` holds one field per device kind, in the order libvirt's
formatter writes them (``virDomainDefFormatInternalSetRootName``). The
device models live in the ``dev_*`` modules and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator

from virtkit.conf.dev_chr import (
    Channel,
    ChrDevice,
    ChrLog,
    ChrProtocol,
    ChrSource,
    ChrTarget,
    Console,
    Parallel,
    Redirdev,
    Rng,
    RngBackend,
    RngRate,
    Serial,
    Smartcard,
)
from virtkit.conf.dev_common import (
    Acpi,
    Address,
    Alias,
    Auth,
    Boot,
    DeviceSeclabel,
    Encryption,
    Master,
    Rom,
    Secret,
    VirtioDriver,
)
from virtkit.conf.dev_disk import (
    BackingStore,
    BlockIO,
    DataStore,
    Disk,
    DiskDriver,
    DiskFormat,
    DiskSource,
    DiskSourceHost,
    DiskTarget,
    Geometry,
    IOTune,
    Lease,
    Mirror,
)
from virtkit.conf.dev_graphics import (
    Audio,
    Graphics,
    GraphicsListen,
    Input,
    Sound,
    Video,
    VideoModel,
)
from virtkit.conf.dev_hostdev import Hostdev, HostdevSource
from virtkit.conf.dev_misc import (
    Controller,
    Crypto,
    Filesystem,
    Hub,
    Iommu,
    MemBalloon,
    Memory,
    Nvram,
    Panic,
    RedirFilter,
    Shmem,
    Tpm,
    Vsock,
    Watchdog,
)
from virtkit.conf.dev_net import (
    FilterRef,
    Interface,
    InterfaceDriver,
    InterfaceModel,
    InterfaceSource,
    InterfaceTarget,
    Mac,
)
from virtkit.conf.model import XmlModel, child, children, model, text_child
from virtkit.conf.netdev import Bandwidth, VirtualPort, Vlan
from virtkit.conf.xmlutil import parse_xml
from virtkit.errors import ErrorCode, ErrorDomain, XMLError, format_message


@model("devices")
class Devices(XmlModel):
    """All devices of a domain, in libvirt's formatting order."""

    emulator: str | None = text_child("emulator")
    disks: list[Disk] = children("disk", Disk)
    controllers: list[Controller] = children("controller", Controller)
    leases: list[Lease] = children("lease", Lease)
    filesystems: list[Filesystem] = children("filesystem", Filesystem)
    interfaces: list[Interface] = children("interface", Interface)
    smartcards: list[Smartcard] = children("smartcard", Smartcard)
    serials: list[Serial] = children("serial", Serial)
    parallels: list[Parallel] = children("parallel", Parallel)
    consoles: list[Console] = children("console", Console)
    channels: list[Channel] = children("channel", Channel)
    inputs: list[Input] = children("input", Input)
    tpms: list[Tpm] = children("tpm", Tpm)
    graphics: list[Graphics] = children("graphics", Graphics)
    sounds: list[Sound] = children("sound", Sound)
    audios: list[Audio] = children("audio", Audio)
    videos: list[Video] = children("video", Video)
    hostdevs: list[Hostdev] = children("hostdev", Hostdev)
    redirdevs: list[Redirdev] = children("redirdev", Redirdev)
    redirfilter: RedirFilter | None = child("redirfilter", RedirFilter)
    hubs: list[Hub] = children("hub", Hub)
    watchdog: Watchdog | None = child("watchdog", Watchdog)
    memballoon: MemBalloon | None = child("memballoon", MemBalloon)
    rngs: list[Rng] = children("rng", Rng)
    nvram: Nvram | None = child("nvram", Nvram)
    panics: list[Panic] = children("panic", Panic)
    shmems: list[Shmem] = children("shmem", Shmem)
    memories: list[Memory] = children("memory", Memory)
    iommu: Iommu | None = child("iommu", Iommu)
    vsock: Vsock | None = child("vsock", Vsock)
    cryptos: list[Crypto] = children("crypto", Crypto)

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        # libvirt always writes <devices> with an end tag, even when it is empty.
        start = len(out)
        super().write(out, indent, tag)
        if len(out) == start + 1 and out[start].endswith("/>\n"):
            pad = " " * indent
            out[start] = out[start][:-3] + ">\n"
            out.append(f"{pad}</{tag or self.TAG}>\n")

    def all(self) -> Iterator[XmlModel]:
        """Every device object, in formatting order."""
        for fname, spec in self._compiled.child_order:
            if spec.kind == "children":
                yield from getattr(self, fname)
            elif spec.kind == "child":
                value = getattr(self, fname)
                if value is not None:
                    yield value

    def add(self, device: XmlModel) -> None:
        """Append ``device`` to its list (or set its single slot)."""
        fname, spec = self._compiled.children[device.TAG]
        if spec.kind == "children":
            getattr(self, fname).append(device)
        else:
            setattr(self, fname, device)


# Device kind (the element name) -> model, for parsing one device on its own.
DEVICE_CLASSES: dict[str, type[XmlModel]] = {
    spec.xml: spec.cls
    for _, spec in Devices._compiled.child_order
    if spec.cls is not None and spec.xml is not None
}


def device_from_xml(xml: str | bytes) -> tuple[str, XmlModel]:
    """Parse a single device element (as given to attach-device): ``(kind, device)``.

    ``kind`` is the element name (``disk``, ``interface``, ...).
    """
    root = parse_xml(xml, "device_definition")
    tag = root.tag
    cls = DEVICE_CLASSES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise XMLError(
            format_message(ErrorCode.XML_ERROR, f"unknown device type '{tag}'"),
            code=ErrorCode.XML_ERROR,
            domain=ErrorDomain.XML,
        )
    return str(tag), cls.from_element(root)


__all__ = [
    "DEVICE_CLASSES",
    "Acpi",
    "Address",
    "Alias",
    "Audio",
    "Auth",
    "BackingStore",
    "Bandwidth",
    "BlockIO",
    "Boot",
    "Channel",
    "ChrDevice",
    "ChrLog",
    "ChrProtocol",
    "ChrSource",
    "ChrTarget",
    "Console",
    "Controller",
    "Crypto",
    "DataStore",
    "DeviceSeclabel",
    "Devices",
    "Disk",
    "DiskDriver",
    "DiskFormat",
    "DiskSource",
    "DiskSourceHost",
    "DiskTarget",
    "Encryption",
    "Filesystem",
    "FilterRef",
    "Geometry",
    "Graphics",
    "GraphicsListen",
    "Hostdev",
    "HostdevSource",
    "Hub",
    "IOTune",
    "Input",
    "Interface",
    "InterfaceDriver",
    "InterfaceModel",
    "InterfaceSource",
    "InterfaceTarget",
    "Iommu",
    "Lease",
    "Mac",
    "Master",
    "MemBalloon",
    "Memory",
    "Mirror",
    "Nvram",
    "Panic",
    "Parallel",
    "RedirFilter",
    "Redirdev",
    "Rng",
    "RngBackend",
    "RngRate",
    "Rom",
    "Secret",
    "Serial",
    "Shmem",
    "Smartcard",
    "Sound",
    "Tpm",
    "Video",
    "VideoModel",
    "VirtioDriver",
    "VirtualPort",
    "Vlan",
    "Vsock",
    "Watchdog",
    "device_from_xml",
]
