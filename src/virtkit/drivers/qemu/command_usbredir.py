"""USB redirection (``<redirdev bus='usb'>``) and SPICE agent channels -> QEMU arguments.

libvirt 9.0's qemuBuildRedirdevCommandLine: a character device ``charredirN`` (for
``spicevmc``: ``spicevmc,id=charredirN,name=usbredir``) and a ``usb-redir`` device on the
redirdev's USB port, with the domain's ``<redirfilter>`` as its ``filter`` property.
A ``spicevmc`` channel is the SPICE agent's (``name=vdagent``) on the virtio-serial port
named ``com.redhat.spice.0``.
"""

from __future__ import annotations

from typing import Any

from virtkit.conf.dev_chr import Redirdev
from virtkit.conf.dev_misc import RedirFilter
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["SPICE_AGENT_CHANNEL", "redir_filter", "redirdev_device_args", "spicevmc_opts"]

SPICE_AGENT_CHANNEL = "com.redhat.spice.0"


def _unsupported(detail: str) -> VirtError:
    return make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.QEMU, detail)


def spicevmc_opts(chr_id: str, name: str) -> str:
    """``-chardev`` value of a spicevmc backend (``vdagent`` or ``usbredir``)."""
    return f"spicevmc,id={chr_id},name={name}"


def _num(value: str | None, what: str) -> int:
    if value is None or value == "-1":
        return -1
    try:
        return int(value, 0)
    except ValueError:
        raise make_error(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN,
                         f"Cannot parse USB {what} '{value}'") from None


def _bcd_version(value: str | None) -> int:
    """``JJ.MM`` as USB's BCD version (virDomainRedirFilterUSBVersionHelper); -1: any."""
    if value is None or value == "-1":
        return -1
    major, dot, minor = value.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()) or int(major) >= 100 or \
            int(minor) >= 100:
        raise make_error(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN,
                         f"Cannot parse USB device version {value}")
    hi, lo = int(major), int(minor) * (10 if len(minor) == 1 else 1)
    return (hi // 10) << 12 | (hi % 10) << 8 | (lo // 10) << 4 | lo % 10


def redir_filter(filt: RedirFilter | None) -> str | None:
    """The ``filter`` property: ``class:vendor:product:version:allow`` rules joined by
    ``|`` (-1 for "any"), as qemuBuildRedirdevDevProps writes them."""
    if filt is None or not filt.usbdevs:
        return None
    rules = []
    for dev in filt.usbdevs:
        cls = _num(dev.class_, "device class")
        parts = [f"0x{cls:02X}" if cls >= 0 else "-1"]
        for value, what in ((dev.vendor, "vendor"), (dev.product, "product")):
            num = _num(value, what)
            parts.append(f"0x{num:04X}" if num >= 0 else "-1")
        version = _bcd_version(dev.version)
        parts.append(f"0x{version:04X}" if version >= 0 else "-1")
        allow = dev.allow or ""
        if allow not in ("yes", "no"):
            raise make_error(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN,
                             f"Invalid value for attribute 'allow' in element 'usbdev': "
                             f"'{allow}'.")
        parts.append("1" if allow == "yes" else "0")
        rules.append(":".join(parts))
    return "|".join(rules)


def redirdev_device_args(dev: Redirdev, alias: str, filt: RedirFilter | None,
                         usb: dict[str, Any], bootindex: int | None) -> dict[str, Any]:
    """The ``usb-redir`` device of one redirdev (``usb``: its bus/port properties)."""
    if dev.bus not in (None, "usb"):
        raise _unsupported(f"Redirection bus {dev.bus} is not supported by QEMU")
    props: dict[str, Any] = {"driver": "usb-redir", "chardev": f"char{alias}", "id": alias}
    text = redir_filter(filt)
    if text is not None:
        props["filter"] = text
    if bootindex is not None:
        props["bootindex"] = bootindex
    props.update(usb)
    return props
