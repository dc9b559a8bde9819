"""USB ports assigned at define (usbaddr, called from defs.parse_def), as libvirt 9.0's
parser gives them: what virt-install's defaults (tablet + two spicevmc redirdevs on a
qemu-xhci with 15 ports) get in libvirtd's inactive XML."""

from __future__ import annotations

import re

from virtkit.drivers.qemu.defs import parse_def


def _xml(controller: str, devices: str) -> str:
    return ("<domain type='qemu'><name>u</name><memory>131072</memory>"
            "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
            f"<devices>{controller}{devices}</devices></domain>")


VIRT_INSTALL = ("<input type='tablet' bus='usb'/><input type='mouse' bus='ps2'/>"
                "<redirdev bus='usb' type='spicevmc'/><redirdev bus='usb' type='spicevmc'/>")


def _ports(xml: str) -> list[str]:
    return re.findall(r"<address type='usb' bus='0' port='(\d+)'/>", xml)


def test_defined_usb_devices_get_ports_in_libvirts_order() -> None:
    d = parse_def(_xml("<controller type='usb' model='qemu-xhci' ports='15'/>", VIRT_INSTALL))
    out = d.to_xml()
    assert _ports(out) == ["1", "2", "3"]
    assert re.search(r"<redirdev bus='usb' type='spicevmc'>\s*<address type='usb' bus='0' "
                     r"port='2'/>", out)
    assert "<input type='mouse' bus='ps2'/>" in out  # not a USB device


def test_given_ports_are_kept_and_skipped() -> None:
    devices = ("<input type='tablet' bus='usb'><address type='usb' bus='0' port='1'/></input>"
               "<redirdev bus='usb' type='spicevmc'/>")
    d = parse_def(_xml("<controller type='usb' model='qemu-xhci'/>", devices))
    assert _ports(d.to_xml()) == ["1", "2"]


def test_no_controller_or_no_free_port_leaves_devices_unaddressed() -> None:
    assert _ports(parse_def(_xml("", VIRT_INSTALL)).to_xml()) == []
    assert _ports(parse_def(_xml("<controller type='usb' model='none'/>", "")).to_xml()) == []
    # piix3-uhci has 2 ports: the second redirdev stays without one (start refuses it)
    d = parse_def(_xml("<controller type='usb' model='piix3-uhci'/>", VIRT_INSTALL))
    assert _ports(d.to_xml()) == ["1", "2"]
