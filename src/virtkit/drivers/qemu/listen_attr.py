"""``<graphics ... listen='ADDR'>`` of a running domain: its first listen's address.

libvirt derives the attribute as it formats (virDomainGraphicsListenDefFormatAddr): the
address of the first ``<listen>`` of type address or network, so a live definition whose
listen got qemu.conf's ``vnc_listen``/``spice_listen`` or its network's address at start
shows it in both places.  Here the attribute is set once the start resolved the addresses.
"""

from __future__ import annotations

from virtkit.conf.domain import DomainDef

__all__ = ["sync_listen_attributes"]


def sync_listen_attributes(d: DomainDef) -> None:
    """Give every VNC/SPICE graphics of live ``d`` its first listen's address as ``listen``."""
    for g in d.devices.graphics if d.devices is not None else []:
        first = g.listens[0] if g.listens else None
        if g.type in ("vnc", "spice") and first is not None \
                and first.type in ("address", "network") and first.address:
            g.listen = first.address
