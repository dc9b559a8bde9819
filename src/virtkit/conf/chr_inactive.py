"""Character-device details libvirt's parser keeps only from live XML.

A definition is parsed with VIR_DOMAIN_DEF_PARSE_INACTIVE (define, create, the test
driver's node files): a pty's ``<source path>`` and a virtio channel's ``<target state>``
come from the running QEMU, not from the document, so they are dropped.  The legacy
``<console tty=...>`` attribute is never read in any mode (virDomainChrDefFormat writes
it from the pty path of a live console 0).
"""

from __future__ import annotations

from virtkit.conf.dev_chr import ChrDevice
from virtkit.conf.domain import DomainDef

__all__ = ["drop_live_chr_details", "drop_tty"]


def _chr_devices(d: DomainDef) -> list[ChrDevice]:
    devices = d.devices
    if devices is None:
        return []
    return [*devices.serials, *devices.parallels, *devices.consoles, *devices.channels]


def drop_tty(d: DomainDef) -> None:
    """Forget the ``tty`` attributes a document carries."""
    for dev in _chr_devices(d):
        dev.tty = None


def drop_live_chr_details(d: DomainDef) -> None:
    """Drop pty paths and virtio channel states, as libvirt's inactive parse does not
    read them (a ``<source>`` left with nothing in it goes too)."""
    for dev in _chr_devices(d):
        if dev.type == "pty" and dev.sources:
            source = dev.sources[0]
            source.path = None
            if source.to_xml().strip() == "<source/>":
                del dev.sources[0]
        target = dev.target
        if dev.TAG == "channel" and target is not None and target.type == "virtio":
            target.state = None
