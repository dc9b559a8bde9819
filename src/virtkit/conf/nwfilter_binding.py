"""libvirt's network filter binding XML (``<filterbinding>``, virNWFilterBindingDef).

A binding ties one port device (a VM's tap) to a filter, with the owner
domain, the port's MAC address and the filter parameters::

    <filterbinding>
      <owner><name>vm1</name><uuid>...</uuid></owner>
      <portdev name='vnet0'/>
      <mac address='52:54:00:7b:35:93'/>
      <filterref filter='clean-traffic'>
        <parameter name='IP' value='10.0.0.2'/>
      </filterref>
    </filterbinding>
"""

from __future__ import annotations

from typing import Any

from virtkit.conf.common import parse_uuid
from virtkit.conf.model import XmlModel, attr, child, model, text_child
from virtkit.conf.nwfilter import format_params, nwfilter_error, parse_mac, parse_params
from virtkit.conf.xmlutil import Element
from virtkit.errors import ErrorCode, ErrorDomain

__all__ = ["BindingFilterRef", "BindingOwner", "NWFilterBindingDef"]


class _Strict(XmlModel):
    """libvirt reads only the fields it knows here and drops the rest."""

    def post_parse(self) -> None:
        self.unknown_children = []
        self.unknown_attrs = []


@model("owner")
class BindingOwner(_Strict):
    name: str | None = text_child("name")
    uuid: str | None = text_child("uuid")


@model("portdev")
class BindingDev(_Strict):
    name: str | None = attr()


@model("mac")
class BindingMac(_Strict):
    address: str | None = attr()


@model("filterref")
class BindingFilterRef(XmlModel):
    """The filter and its parameters (name -> values; written sorted by name)."""

    filter: str | None = attr()

    def __init__(self, **values: Any) -> None:
        params = values.pop("params", None)
        super().__init__(**values)
        self.params: dict[str, list[str]] = params or {}

    @classmethod
    def from_element(cls, el: Element) -> BindingFilterRef:
        ref = cls(filter=el.get("filter"))
        ref.params = parse_params(el)
        return ref

    def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
        format_params(out, " " * indent, self.filter or "", self.params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BindingFilterRef):
            return NotImplemented
        return self.filter == other.filter and self.params == other.params


@model("filterbinding")
class NWFilterBindingDef(XmlModel):
    """virNWFilterBindingDef; unknown elements are dropped, as libvirt drops them."""

    XML_CONTEXT = "(nwfilterbinding_definition)"
    ERROR_DOMAIN = ErrorDomain.NWFILTER

    owner: BindingOwner | None = child("owner", BindingOwner)
    portdev: BindingDev | None = child("portdev", BindingDev)
    linkdev: BindingDev | None = child("linkdev", BindingDev)
    mac: BindingMac | None = child("mac", BindingMac)
    filterref: BindingFilterRef | None = child("filterref", BindingFilterRef)

    def post_parse(self) -> None:
        self.unknown_children = []
        self.unknown_attrs = []
        validate_binding(self)

    @property
    def portdev_name(self) -> str:
        return self.portdev.name if self.portdev and self.portdev.name else ""

    @property
    def filter_name(self) -> str:
        return self.filterref.filter if self.filterref and self.filterref.filter else ""

    @property
    def params(self) -> dict[str, list[str]]:
        return self.filterref.params if self.filterref is not None else {}

    @classmethod
    def build(cls, portdev: str, mac: str, filtername: str, owner_name: str, owner_uuid: str,
              params: dict[str, list[str]] | None = None,
              linkdev: str | None = None) -> NWFilterBindingDef:
        """A binding from its parts (the QEMU driver's view of an interface)."""
        d = cls(owner=BindingOwner(name=owner_name, uuid=owner_uuid),
                portdev=BindingDev(name=portdev),
                linkdev=BindingDev(name=linkdev) if linkdev else None,
                mac=BindingMac(address=mac),
                filterref=BindingFilterRef(filter=filtername, params=dict(params or {})))
        validate_binding(d)
        return d


def _err(detail: str) -> Exception:
    return nwfilter_error(ErrorCode.INTERNAL_ERROR, detail)


def validate_binding(d: NWFilterBindingDef) -> None:
    """libvirt's checks in virNWFilterBindingDefParseXML, in its order; canonicalises."""
    if d.portdev is None or not d.portdev.name:
        raise _err("filter binding has no port dev name")
    if d.linkdev is not None and not d.linkdev.name:
        raise _err("filter binding has no link dev name")
    if d.owner is None or not d.owner.name:
        raise _err("filter binding has no owner name")
    if not d.owner.uuid:
        raise _err("filter binding has no owner UUID")
    canon = parse_uuid(d.owner.uuid)
    if canon is None:
        raise _err(f"Unable to parse UUID '{d.owner.uuid}'")
    d.owner.uuid = canon
    if d.mac is None or not d.mac.address:
        raise _err("filter binding has no MAC address")
    mac = parse_mac(d.mac.address)
    if mac is None:
        raise _err(f"Unable to parse MAC '{d.mac.address}'")
    d.mac.address = mac
    if d.filterref is None or not d.filterref.filter:
        raise _err("filter binding has no filter reference")
