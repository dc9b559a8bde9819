"""Character devices (serial, parallel, console, channel) and devices built on a
character-device backend (smartcard, redirdev, rng)."""

from __future__ import annotations

from virtkit.conf.dev_common import (
    Acpi,
    Address,
    Alias,
    Boot,
    DeviceSeclabel,
    Reconnect,
    VirtioDriver,
)
from virtkit.conf.model import (
    XmlModel,
    attr,
    child,
    children,
    enum_conv,
    model,
    text,
    text_child,
    text_children,
)

CHR_TYPES = enum_conv(
    "null", "vc", "pty", "dev", "file", "pipe", "stdio", "udp", "tcp", "unix",
    "spicevmc", "spiceport", "nmdm", "qemu-vdagent", "dbus",
)


@model("clipboard")
class Clipboard(XmlModel):
    copypaste: str | None = attr()


@model("mouse")
class MouseMode(XmlModel):
    mode: str | None = attr()


@model("source")
class ChrSource(XmlModel):
    """One ``<source>`` of a character device (udp has two: bind and connect)."""

    mode: str | None = attr()
    host: str | None = attr()
    service: str | None = attr()
    path: str | None = attr()
    append: str | None = attr()
    tls: str | None = attr()
    tlsFromConfig: str | None = attr()
    master: str | None = attr()
    slave: str | None = attr()
    channel: str | None = attr()
    seclabels: list[DeviceSeclabel] = children("seclabel", DeviceSeclabel)
    reconnect: Reconnect | None = child("reconnect", Reconnect)
    clipboard: Clipboard | None = child("clipboard", Clipboard)
    mouse: MouseMode | None = child("mouse", MouseMode)


@model("protocol")
class ChrProtocol(XmlModel):
    type: str | None = attr()


@model("log")
class ChrLog(XmlModel):
    file: str | None = attr()
    append: str | None = attr()


@model("model")
class ChrTargetModel(XmlModel):
    name: str | None = attr()


@model("target")
class ChrTarget(XmlModel):
    type: str | None = attr()
    address: str | None = attr()
    port: str | None = attr()
    name: str | None = attr()
    state: str | None = attr()
    model: ChrTargetModel | None = child("model", ChrTargetModel)


@model("chardev")
class ChrDevice(XmlModel):
    """Common shape of ``<serial>``, ``<parallel>``, ``<console>`` and ``<channel>``."""

    type: str | None = attr(conv=CHR_TYPES)
    tty: str | None = attr()
    sources: list[ChrSource] = children("source", ChrSource)
    protocol: ChrProtocol | None = child("protocol", ChrProtocol)
    log: ChrLog | None = child("log", ChrLog)
    target: ChrTarget | None = child("target", ChrTarget)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)

    @property
    def source(self) -> ChrSource | None:
        """The first (usually only) ``<source>``."""
        return self.sources[0] if self.sources else None


@model("serial")
class Serial(ChrDevice):
    pass


@model("parallel")
class Parallel(ChrDevice):
    pass


@model("console")
class Console(ChrDevice):
    pass


@model("channel")
class Channel(ChrDevice):
    pass


@model("smartcard")
class Smartcard(XmlModel):
    mode: str | None = attr()
    type: str | None = attr(conv=CHR_TYPES)
    certificates: list[str] = text_children("certificate")
    database: str | None = text_child("database")
    sources: list[ChrSource] = children("source", ChrSource)
    protocol: ChrProtocol | None = child("protocol", ChrProtocol)
    log: ChrLog | None = child("log", ChrLog)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)


@model("redirdev")
class Redirdev(XmlModel):
    bus: str | None = attr()
    type: str | None = attr(conv=CHR_TYPES)
    sources: list[ChrSource] = children("source", ChrSource)
    protocol: ChrProtocol | None = child("protocol", ChrProtocol)
    log: ChrLog | None = child("log", ChrLog)
    boot: Boot | None = child("boot", Boot)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)


@model("rate")
class RngRate(XmlModel):
    bytes: str | None = attr()
    period: str | None = attr()


@model("backend")
class RngBackend(XmlModel):
    """``random`` (text: the host device), ``egd`` (a character device) or ``builtin``."""

    model: str | None = attr()
    type: str | None = attr(conv=CHR_TYPES)
    path: str | None = text()
    sources: list[ChrSource] = children("source", ChrSource)
    protocol: ChrProtocol | None = child("protocol", ChrProtocol)
    log: ChrLog | None = child("log", ChrLog)

    def post_parse(self) -> None:
        if self.path is not None and not self.path.strip():
            self.path = None  # indentation around an egd backend's children


@model("rng")
class Rng(XmlModel):
    model: str | None = attr()
    rate: RngRate | None = child("rate", RngRate)
    backend: RngBackend | None = child("backend", RngBackend)
    driver: VirtioDriver | None = child("driver", VirtioDriver)
    alias: Alias | None = child("alias", Alias)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)
