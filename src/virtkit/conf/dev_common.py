"""Pieces shared by many device elements: addresses, aliases, boot order, seclabels, secrets.

The secret, auth and initiator models also serve storage pool sources.

Every attribute is kept as the string the user (or libvirt) wrote, so
``domain='0x0000'`` is written back exactly as read.
"""

from __future__ import annotations

from collections.abc import Sequence

from virtkit.conf.model import (
    UINT,
    Spec,
    XmlModel,
    attr,
    child,
    children,
    model,
    text,
    text_child,
)
from virtkit.conf.xmlutil import write_raw


class DevModel(XmlModel):
    """A model whose child order may depend on its own values (see ``field_order``)."""

    def field_order(self) -> Sequence[tuple[str, Spec]]:
        """The declared child fields in the order to write them (override per variant)."""
        return self._compiled.child_order

    def write_children(self, out: list[str], indent: int) -> None:
        unknown = self.unknown_children
        for anchor, el in unknown:
            if anchor is None:
                write_raw(el, indent, out)
        for fname, spec in self.field_order():
            self.write_field(out, indent, fname, spec, getattr(self, fname))
            for anchor, el in unknown:
                if anchor == fname:
                    write_raw(el, indent, out)


def reorder(
    order: Sequence[tuple[str, Spec]], moves: dict[str, str | None]
) -> list[tuple[str, Spec]]:
    """``order`` with each field in ``moves`` moved right after another (None: to the front)."""
    by_name = dict(order)
    result = [item for item in order if item[0] not in moves]
    for fname, after in moves.items():
        pos = 0 if after is None else [f for f, _ in result].index(after) + 1
        result.insert(pos, (fname, by_name[fname]))
    return result


# ----------------------------------------------------------------------------- addresses


@model("zpci")
class Zpci(XmlModel):
    """s390 zPCI extension of a PCI address."""

    uid: str | None = attr()
    fid: str | None = attr()


@model("address")
class Address(XmlModel):
    """A device address of any type (pci, drive, virtio-serial, ccid, usb, spapr-vio,
    ccw, isa, dimm, virtio-mmio, unassigned) or a host-side source address.

    The attribute order below satisfies every type's own order in libvirt's
    formatter, so one class serves all of them.
    """

    type: str | None = attr()
    domain: str | None = attr()
    controller: str | None = attr()
    bus: str | None = attr()
    slot: str | None = attr()
    function: str | None = attr()
    multifunction: str | None = attr()
    target: str | None = attr()
    unit: str | None = attr()
    port: str | None = attr()
    device: str | None = attr()
    reg: str | None = attr()
    cssid: str | None = attr()
    ssid: str | None = attr()
    devno: str | None = attr()
    iobase: str | None = attr()
    irq: str | None = attr()
    base: str | None = attr()
    uuid: str | None = attr()
    zpci: Zpci | None = child("zpci", Zpci)


@model("alias")
class Alias(XmlModel):
    name: str | None = attr()


@model("boot")
class Boot(XmlModel):
    order: int | None = attr(conv=UINT)
    loadparm: str | None = attr()


@model("master")
class Master(XmlModel):
    startport: str | None = attr()


@model("rom")
class Rom(XmlModel):
    enabled: str | None = attr()
    bar: str | None = attr()
    file: str | None = attr()


@model("acpi")
class Acpi(XmlModel):
    index: str | None = attr()


@model("backenddomain")
class BackendDomain(XmlModel):
    """``<backenddomain name=/>``: the Xen driver domain of a disk or interface."""

    name: str | None = attr()


@model("driver")
class VirtioDriver(XmlModel):
    """A ``<driver>`` carrying only the virtio options (iommu, ats, packed, page_per_vq)."""

    iommu: str | None = attr()
    ats: str | None = attr()
    packed: str | None = attr()
    page_per_vq: str | None = attr()


# ----------------------------------------------------------------------------- security & secrets


@model("seclabel")
class DeviceSeclabel(XmlModel):
    """A per-device ``<seclabel>`` override."""

    model: str | None = attr()
    labelskip: str | None = attr()
    relabel: str | None = attr()
    label: str | None = text_child("label")


@model("secret")
class Secret(XmlModel):
    type: str | None = attr()
    uuid: str | None = attr()
    usage: str | None = attr()


@model("auth")
class Auth(XmlModel):
    """``<auth type= username=>`` with its ``<secret>`` (disks, hostdevs and storage pools)."""

    type: str | None = attr()
    username: str | None = attr()
    secret: Secret | None = child("secret", Secret)


@model("iqn")
class Iqn(XmlModel):
    name: str | None = attr()


@model("initiator")
class Initiator(XmlModel):
    """``<initiator><iqn name=/></initiator>`` of an iSCSI source (disks, hostdevs, pools)."""

    iqn: Iqn | None = child("iqn", Iqn)


@model("cipher")
class Cipher(XmlModel):
    name: str | None = attr()
    size: str | None = attr()
    mode: str | None = attr()
    hash: str | None = attr()


@model("ivgen")
class Ivgen(XmlModel):
    name: str | None = attr()
    hash: str | None = attr()


@model("encryption")
class Encryption(XmlModel):
    format: str | None = attr()
    engine: str | None = attr()
    secrets: list[Secret] = children("secret", Secret)
    cipher: Cipher | None = child("cipher", Cipher)
    ivgen: Ivgen | None = child("ivgen", Ivgen)


@model("reconnect")
class Reconnect(XmlModel):
    enabled: str | None = attr()
    timeout: str | None = attr()


@model("size")
class SizeValue(XmlModel):
    """An element holding a number with a unit: ``<size unit='KiB'>1024</size>``."""

    unit: str | None = attr()
    value: str | None = text()


@model("audio")
class AudioRef(XmlModel):
    id: str | None = attr()
