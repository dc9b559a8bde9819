"""listen_attr: the ``listen`` attribute of a live ``<graphics>`` from its first listen."""

from __future__ import annotations

from virtkit.conf.dev_graphics import GraphicsListen
from virtkit.drivers.qemu.defs import parse_def
from virtkit.drivers.qemu.listen_attr import sync_listen_attributes

DOMAIN = """<domain type='qemu'>
  <name>g</name><uuid>0d3e9bb0-59a4-4e40-9a1e-5b1b2f7c6a11</uuid>
  <memory unit='MiB'>128</memory><os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>{}</devices>
</domain>"""


def _graphics(xml: str) -> object:
    d = parse_def(DOMAIN.format(xml))
    assert d.devices is not None
    return d


def test_an_address_the_start_filled_in_becomes_the_attribute() -> None:
    d = _graphics("<graphics type='vnc' autoport='yes'><listen type='address'/></graphics>"
                  "<graphics type='spice' autoport='yes'/>")
    vnc, spice = d.devices.graphics  # type: ignore[attr-defined]
    assert vnc.listen is None and spice.listen is None
    vnc.listens[0].address = "127.0.0.1"  # qemu.conf's vnc_listen, as the start sets it
    spice.listens[0].address = "::1"
    sync_listen_attributes(d)  # type: ignore[arg-type]
    assert (vnc.listen, spice.listen) == ("127.0.0.1", "::1")
    assert "listen='127.0.0.1'" in d.to_xml()  # type: ignore[attr-defined]


def test_network_listen_address_and_other_types() -> None:
    d = _graphics("<graphics type='vnc' autoport='yes'><listen type='network' network='n'/>"
                  "</graphics><graphics type='spice'><listen type='none'/></graphics>")
    vnc, spice = d.devices.graphics  # type: ignore[attr-defined]
    sync_listen_attributes(d)  # type: ignore[arg-type]
    assert vnc.listen is None  # no address resolved (yet)
    vnc.listens[0].address = "192.168.122.1"
    sync_listen_attributes(d)  # type: ignore[arg-type]
    assert vnc.listen == "192.168.122.1"
    assert spice.listen is None


def test_only_the_first_listen_counts() -> None:
    d = _graphics("<graphics type='vnc' socket='/run/v.sock'/>")
    (vnc,) = d.devices.graphics  # type: ignore[attr-defined]
    vnc.listens.append(GraphicsListen(type="address", address="10.0.0.1"))
    sync_listen_attributes(d)  # type: ignore[arg-type]
    assert vnc.listen is None
