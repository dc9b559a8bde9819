"""USB ports of a domain's USB devices, as libvirt assigns them at define and at start.

libvirt's qemuDomainAssignUSBAddresses (virDomainUSBAddressAssign, without hubs) runs from
the domain parser's address callback, so a defined domain's inactive XML already carries
``<address type='usb' bus='0' port='N'/>`` on its USB input, sound and redirection devices
(clients rely on it: Cockpit's Machines page reads a redirdev's address from the inactive
XML). Assigned in virDomainUSBDeviceDefForeach's order: the next free port of bus 0 from 1,
up to the controller's port count.
"""

from __future__ import annotations

from typing import Any

from virtkit.conf.dev_common import Address
from virtkit.conf.devices import Devices
from virtkit.drivers.qemu import command_sound

__all__ = ["USB_PORTS", "assign_usb_addresses"]

# ports of the USB controller models without ``ports=`` (QEMU's defaults, libvirt's table)
USB_PORTS = {"piix3-uhci": 2, "qemu-xhci": 4, "nec-xhci": 4, "ich9-ehci1": 6}


def _usb_devices(dev: Devices) -> list[Any]:
    usb: list[Any] = [i for i in dev.inputs
                      if (i.bus or ("usb" if i.type == "tablet" else "ps2")) == "usb"]
    usb += [s for s in dev.sounds if s.model in command_sound.USB_MODELS]
    usb += dev.redirdevs
    return usb


def assign_usb_addresses(dev: Devices) -> None:
    """Give every USB device of ``dev`` without an address a port of controller 0's bus 0
    (in place). Nothing is assigned without a USB controller 0 (or with model 'none'), nor
    past its port count; a malformed ``ports`` is left for the command line to refuse."""
    ctrl = next((c for c in dev.controllers
                 if c.type == "usb" and (c.index or "0") == "0"), None)
    if ctrl is None or ctrl.model in (None, "none"):
        return
    if ctrl.ports:
        if not str(ctrl.ports).isdigit():
            return
        capacity = int(ctrl.ports)
    else:
        capacity = USB_PORTS.get(ctrl.model, 0)
    usb = _usb_devices(dev)
    used = {d.address.port for d in usb
            if d.address is not None and d.address.type == "usb"
            and (d.address.bus or "0") == "0"}
    port = 1
    for item in usb:
        if item.address is not None and item.address.type is not None:
            continue
        while str(port) in used:
            port += 1
        if port > capacity:
            return
        addr = Address()
        addr.type, addr.bus, addr.port = "usb", "0", str(port)
        item.address = addr
        used.add(str(port))
