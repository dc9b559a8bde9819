"""``<hostdev>`` devices and the host-device ``<source>`` (also used by hostdev interfaces)."""

from __future__ import annotations

from virtkit.conf.dev_common import Acpi, Address, Alias, Auth, Boot, Initiator, Rom
from virtkit.conf.dev_disk import DiskSourceHost
from virtkit.conf.model import (
    XmlModel,
    attr,
    child,
    children,
    enum_conv,
    flag,
    model,
    raw,
    text_child,
)
from virtkit.conf.netdev import Route
from virtkit.conf.xmlutil import Element

HOSTDEV_MODES = enum_conv("subsystem", "capabilities")


@model("vendor")
class IdRef(XmlModel):
    """``<vendor id='0x1234'/>`` / ``<product id='0x5678'/>``."""

    id: str | None = attr()


@model("adapter")
class Adapter(XmlModel):
    name: str | None = attr()


@model("origstates")
class OrigStates(XmlModel):
    unbind: bool = flag("unbind")
    removeslot: bool = flag("removeslot")
    reprobe: bool = flag("reprobe")


@model("ip")
class IPAddress(XmlModel):
    address: str | None = attr()
    family: str | None = attr()
    prefix: str | None = attr()
    peer: str | None = attr()


@model("source")
class HostdevSource(XmlModel):
    """The host side of a host device: PCI/USB/SCSI/scsi_host/mdev address or
    (capabilities mode) a block/char/net device."""

    startupPolicy: str | None = attr()
    autoAddress: str | None = attr()
    missing: str | None = attr()
    guestReset: str | None = attr()
    writeFiltering: str | None = attr()
    protocol: str | None = attr()
    name: str | None = attr()
    wwpn: str | None = attr()

    vendor: IdRef | None = child("vendor", IdRef)
    product: IdRef | None = child("product", IdRef)
    adapter: Adapter | None = child("adapter", Adapter)
    address: Address | None = child("address", Address)
    origstates: OrigStates | None = child("origstates", OrigStates)
    host: DiskSourceHost | None = child("host", DiskSourceHost)
    privateData: Element | None = raw("privateData")
    auth: Auth | None = child("auth", Auth)
    initiator: Initiator | None = child("initiator", Initiator)
    block: str | None = text_child("block")
    char: str | None = text_child("char")
    interface: str | None = text_child("interface")


@model("driver")
class HostdevDriver(XmlModel):
    name: str | None = attr()


@model("teaming")
class Teaming(XmlModel):
    type: str | None = attr()
    persistent: str | None = attr()


@model("hostdev")
class Hostdev(XmlModel):
    """A host device passed to the guest (PCI, USB, SCSI, scsi_host, mdev, or capabilities)."""

    mode: str | None = attr(conv=HOSTDEV_MODES)
    type: str | None = attr()
    managed: str | None = attr()
    sgio: str | None = attr()
    rawio: str | None = attr()
    model: str | None = attr()
    display: str | None = attr()
    ramfb: str | None = attr()

    driver: HostdevDriver | None = child("driver", HostdevDriver)
    source: HostdevSource | None = child("source", HostdevSource)
    ips: list[IPAddress] = children("ip", IPAddress)
    routes: list[Route] = children("route", Route)
    teaming: Teaming | None = child("teaming", Teaming)
    readonly: bool = flag("readonly")
    shareable: bool = flag("shareable")
    boot: Boot | None = child("boot", Boot)
    alias: Alias | None = child("alias", Alias)
    rom: Rom | None = child("rom", Rom)
    acpi: Acpi | None = child("acpi", Acpi)
    address: Address | None = child("address", Address)
