"""Domain definitions as the QEMU driver takes them: parse, default, validate, copy, format."""

from __future__ import annotations

import os
import re

from virtkit.conf.chr_inactive import drop_tty
from virtkit.conf.dev_net import Mac
from virtkit.conf.domain import DomainDef, validate_domain_def
from virtkit.conf.domain_implicit import console_view
from virtkit.conf.domain_os import OsDef, OsType
from virtkit.conf.domain_postparse import apply_generic_defaults
from virtkit.drivers.qemu import chrstate, usbaddr
from virtkit.errors import ErrorCode, ErrorDomain, make_error

__all__ = ["copy_def", "drop_backing_chains", "drop_generated_paths", "format_def", "parse_def"]

_TYPES = ("qemu", "kvm")
_DEFAULT_EMULATOR = "/usr/bin/qemu-system-x86_64"


def parse_def(xml: str, live: bool = False) -> DomainDef:
    """Parse ``xml`` with libvirt's generic checks and the QEMU driver's defaults
    (``live``: a running domain's status, parsed without VIR_DOMAIN_DEF_PARSE_INACTIVE,
    so the ports its displays got stay)."""
    d = DomainDef.from_xml(xml)
    validate_domain_def(d)
    if d.type not in _TYPES:
        raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.QEMU,
                         f"could not find capabilities for arch=x86_64 domaintype={d.type}")
    d.id = None
    if d.os is None:
        d.os = OsDef()
    if d.os.type is None:
        d.os.type = OsType()
        d.os.type.name = "hvm"
    if d.os.type.arch is None:
        d.os.type.arch = "x86_64"
    if d.os.type.arch != "x86_64":
        raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.QEMU,
                         f"unsupported configuration: architecture {d.os.type.arch} "
                         "is not supported by this QEMU driver")
    if d.os.type.machine is None:
        d.os.type.machine = "pc"
    apply_generic_defaults(d, _default_video_type, live=live)
    drop_tty(d)  # an output-only attribute (virDomainChrDefFormat's tty_compat)
    devices = d.devices
    if devices is not None:
        if devices.emulator is None:
            devices.emulator = _DEFAULT_EMULATOR
        for iface in devices.interfaces:  # libvirt gives every NIC its MAC at parse time
            if iface.mac is None:
                iface.mac = Mac()
            if not iface.mac.address:
                iface.mac.address = "52:54:00:" + ":".join(f"{b:02x}" for b in os.urandom(3))
        usbaddr.assign_usb_addresses(devices)  # libvirt's address callback of the parser
    return d


def _default_video_type(d: DomainDef) -> str:
    """qemuDomainDefaultVideoType for x86: cirrus (QEMU 7.2 still builds it)."""
    return "cirrus"


def copy_def(d: DomainDef) -> DomainDef:
    """An independent copy (the live definition starts as a copy of the persistent one)."""
    return DomainDef.from_xml(d.to_xml())


def format_def(d: DomainDef, dom_id: int) -> str:
    """The XML of ``d`` with ``id='N'`` while it runs."""
    saved = d.id
    d.id = dom_id if dom_id > 0 else None
    devices = d.devices
    held = devices.consoles if devices is not None else []
    view = console_view(d)  # console 0 of an HVM guest is written from serial 0
    if dom_id > 0 and devices is not None:  # live XML: console 0's pty path as its tty
        view = chrstate.console_tty_view(view if view is not None else devices.consoles) or view
    try:
        if devices is not None and view is not None:
            devices.consoles = view
        return d.to_xml()
    finally:
        d.id = saved
        if devices is not None:
            devices.consoles = held


def drop_generated_paths(d: DomainDef, lib_dir: str) -> None:
    """Forget the unix socket paths a start generated in its run directory
    (``LIB_DIR/domain-ID-NAME/...``, removed when that run ended), so the next start makes
    new ones: libvirt's qemuDomainChrDefDropDefaultPath for save images and snapshots."""
    generated = re.compile(re.escape(os.path.join(lib_dir, "domain-")) + r"[^/]+/[^/]+\Z")
    devices = d.devices
    if devices is None:
        return
    for dev in (*devices.serials, *devices.consoles, *devices.channels):
        src = dev.source
        if dev.type == "unix" and src is not None and src.path and generated.match(src.path):
            src.path = None


def drop_backing_chains(d: DomainDef) -> None:
    """Drop the ``<backingStore>`` chains a running guest's disks showed (an external
    snapshot's overlay over its base): QEMU opens the chain from the image itself. For the
    definitions virtkit wrote (save images, snapshots), as libvirt re-detects chains."""
    for disk in d.devices.disks if d.devices is not None else []:
        if disk.backing_store is not None and disk.backing_store.type is not None:
            disk.backing_store = None
