"""What a hypervisor driver calls to filter its VMs' taps (libvirt's domain_nwfilter.c).

virDomainConfNWFilterInstantiate / ...Teardown: one binding per ``<interface>``
that has a ``<filterref>``, created once the tap exists. Driver-neutral: the
nwfilter driver is reached through its binding calls (``BindingDriver``).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from virtkit.conf.nwfilter_binding import NWFilterBindingDef
from virtkit.errors import VirtError
from virtkit.types import NWFilterBindingIdent

log = logging.getLogger(__name__)


class BindingDriver(Protocol):
    def nwfilter_binding_create_xml(self, xml: str, flags: int = 0) -> NWFilterBindingIdent: ...

    def nwfilter_binding_lookup_by_port_dev(self, portdev: str) -> NWFilterBindingIdent: ...

    def nwfilter_binding_delete(self, ident: NWFilterBindingIdent) -> None: ...


def interface_bindings(defn: Any) -> list[NWFilterBindingDef]:
    """The bindings of a domain definition's interfaces (taps named, MACs filled)."""
    devices = defn.devices
    out = []
    for iface in devices.interfaces if devices is not None else []:
        ref = iface.filterref
        if ref is None or not ref.filter or iface.target is None or not iface.target.dev:
            continue
        params: dict[str, list[str]] = {}
        for p in ref.parameters:
            if p.name and p.value is not None:
                params.setdefault(p.name, []).append(p.value)
        out.append(NWFilterBindingDef.build(
            portdev=str(iface.target.dev), mac=str(iface.mac.address),
            filtername=str(ref.filter), owner_name=str(defn.name), owner_uuid=str(defn.uuid),
            params=params))
    return out


def instantiate(driver: BindingDriver, defn: Any) -> list[str]:
    """Create the bindings of ``defn``; on failure remove the ones made. Returns port names."""
    made: list[str] = []
    try:
        for b in interface_bindings(defn):
            driver.nwfilter_binding_create_xml(b.to_xml())
            made.append(b.portdev_name)
    except VirtError:
        teardown(driver, made)
        raise
    return made


def teardown(driver: BindingDriver, ports: list[str]) -> None:
    """Delete the bindings of ``ports``; a port without one is fine."""
    for port in ports:
        try:
            driver.nwfilter_binding_delete(driver.nwfilter_binding_lookup_by_port_dev(port))
        except VirtError as exc:
            log.debug("no nwfilter binding to remove for %s: %s", port, exc)
