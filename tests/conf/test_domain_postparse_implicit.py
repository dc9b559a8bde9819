"""Devices libvirt's generic post-parse implies (console compat, video, graphics
listen, virtio-serial controllers), chardev ports and the '/' name check.

Every expected ``<devices>`` body below is what libvirt 9.0's test driver wrote
(``virsh -c test:///default define`` + ``dumpxml``) for the given devices.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from virtkit.conf.domain import DomainDef
from virtkit.conf.domain_implicit import console_view, sources_equal
from virtkit.conf.domain_postparse import apply_generic_defaults, check_name
from virtkit.conf.network import NetworkDef
from virtkit.drivers.inmemory.defs import default_video_type, format_domain
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, XMLError

HEAD = """<domain type='test'>
  <name>g</name>
  <memory unit='KiB'>1048576</memory>
  <os>
    <type arch='{arch}'>{os}</type>
  </os>
  <devices>
{devices}
  </devices>
</domain>
"""


def _define(devices: str, os: str = "hvm", arch: str = "i686") -> DomainDef:
    d = DomainDef.from_xml(HEAD.format(devices=devices, os=os, arch=arch))
    apply_generic_defaults(d, default_video_type)
    return d


def _devices(d: DomainDef) -> str:
    """The <devices> body as the test driver formats it, dedented."""
    out = format_domain(d, -1)
    body = out.split("<devices>\n", 1)[1].split("  </devices>", 1)[0]
    return "".join(line[4:] + "\n" for line in body.splitlines())


CASES = [
    ("console_only", "<console type='pty'/>",
     """<serial type='pty'>
  <target port='0'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
"""),
    ("console_file", "<console type='file'><source path='/tmp/c.log'/></console>",
     """<serial type='file'>
  <source path='/tmp/c.log'/>
  <target port='0'/>
</serial>
<console type='file'>
  <source path='/tmp/c.log'/>
  <target type='serial' port='0'/>
</console>
"""),
    ("console_file_serial_pty",
     "<serial type='pty'/><console type='file'><source path='/tmp/c.log'/></console>",
     """<serial type='pty'>
  <target port='0'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
"""),
    ("console_same_file",
     "<serial type='file'><source path='/tmp/s.log'/></serial><console type='file'>"
     "<source path='/tmp/s.log'/></console>",
     """<serial type='file'>
  <source path='/tmp/s.log'/>
  <target port='0'/>
</serial>
<console type='file'>
  <source path='/tmp/s.log'/>
  <target type='serial' port='0'/>
</console>
"""),
    ("serial_only", "<serial type='pty'/>",
     """<serial type='pty'>
  <target port='0'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
"""),
    ("serial_port2", "<serial type='pty'><target port='2'/></serial>",
     """<serial type='pty'>
  <target port='2'/>
</serial>
<console type='pty'>
  <target type='serial' port='2'/>
</console>
"""),
    ("two_serials_console",
     "<serial type='pty'/><serial type='file'><source path='/tmp/s2.log'/></serial>"
     "<console type='pty'/>",
     """<serial type='pty'>
  <target port='0'/>
</serial>
<serial type='file'>
  <source path='/tmp/s2.log'/>
  <target port='1'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
"""),
    ("serial_isa",
     "<serial type='pty'><target type='isa-serial' port='0'><model name='isa-serial'/>"
     "</target></serial>",
     """<serial type='pty'>
  <target type='isa-serial' port='0'>
    <model name='isa-serial'/>
  </target>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
"""),
    ("serial_usb", "<serial type='pty'><target type='usb-serial' port='0'/></serial>",
     """<serial type='pty'>
  <target type='usb-serial' port='0'/>
</serial>
"""),
    ("serial_usb_console",
     "<serial type='pty'><target type='usb-serial' port='0'/></serial>"
     "<console type='pty'/>",
     """<serial type='pty'>
  <target type='usb-serial' port='0'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
"""),
    ("console_virtio_serial",
     "<serial type='pty'/><console type='pty'><target type='virtio'/></console>",
     """<controller type='virtio-serial' index='0'/>
<serial type='pty'>
  <target port='0'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
<console type='pty'>
  <target type='virtio' port='0'/>
</console>
"""),
    ("two_consoles", "<console type='pty'/><console type='pty'><target type='virtio'/></console>",
     """<controller type='virtio-serial' index='0'/>
<serial type='pty'>
  <target port='0'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
<console type='pty'>
  <target type='virtio' port='1'/>
</console>
"""),
    ("console_alias", "<console type='pty'><alias name='ua-c0'/></console>",
     """<serial type='pty'>
  <target port='0'/>
  <alias name='ua-c0'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
  <alias name='ua-c0'/>
</console>
"""),
    ("console_with_address",
     "<serial type='pty'><address type='isa' iobase='0x3f8'/></serial>"
     "<console type='pty'/>",
     """<serial type='pty'>
  <target port='0'/>
  <address type='isa' iobase='0x3f8'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
  <address type='isa' iobase='0x3f8'/>
</console>
"""),
    ("console_log", "<console type='pty'><log file='/tmp/log' append='on'/></console>",
     """<serial type='pty'>
  <log file='/tmp/log' append='on'/>
  <target port='0'/>
</serial>
<console type='pty'>
  <log file='/tmp/log' append='on'/>
  <target type='serial' port='0'/>
</console>
"""),
    ("console_no_type_attr", "<console><target type='serial'/></console>",
     """<serial type='pty'>
  <target port='0'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
"""),
    ("parallel", "<parallel type='pty'/><console type='pty'/>",
     """<serial type='pty'>
  <target port='0'/>
</serial>
<parallel type='pty'>
  <target port='0'/>
</parallel>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
"""),
    ("serial_ports_mix",
     "<serial type='pty'/><serial type='pty'><target port='3'/></serial>"
     "<serial type='pty'/>",
     """<serial type='pty'>
  <target port='4'/>
</serial>
<serial type='pty'>
  <target port='3'/>
</serial>
<serial type='pty'>
  <target port='5'/>
</serial>
<console type='pty'>
  <target type='serial' port='4'/>
</console>
"""),
    ("isa_two_auto",
     "<serial type='pty'><target type='isa-serial' port='0'/></serial>"
     "<serial type='pty'><target type='isa-serial'/></serial><serial type='pty'>"
     "<target type='isa-serial' port='1'/></serial>",
     """<serial type='pty'>
  <target type='isa-serial' port='0'/>
</serial>
<serial type='pty'>
  <target type='isa-serial' port='2'/>
</serial>
<serial type='pty'>
  <target type='isa-serial' port='1'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
"""),
    ("channel_vs_addr",
     "<channel type='pty'><target type='virtio' name='a'/>"
     "<address type='virtio-serial' controller='1' bus='0' port='1'/></channel>",
     """<controller type='virtio-serial' index='1'/>
<channel type='pty'>
  <target type='virtio' name='a'/>
  <address type='virtio-serial' controller='1' bus='0' port='1'/>
</channel>
"""),
    ("graphics", "<graphics type='vnc' port='-1' autoport='yes'/>",
     """<graphics type='vnc' port='-1' autoport='yes'>
  <listen type='address'/>
</graphics>
<video>
  <model type='cirrus' vram='16384' heads='1' primary='yes'/>
</video>
"""),
    ("spice_graphics", "<graphics type='spice'/>",
     """<graphics type='spice'>
  <listen type='none'/>
</graphics>
<video>
  <model type='cirrus' vram='16384' heads='1' primary='yes'/>
</video>
"""),
    ("video_two",
     "<video><model type='vga'/></video><video><model type='qxl' primary='yes'/>"
     "</video>",
     """<video>
  <model type='qxl' ram='65536' vram='65536' heads='1' primary='yes'/>
</video>
<video>
  <model type='vga' vram='16384' heads='1'/>
</video>
"""),
    ("video_vram", "<video><model type='cirrus' vram='1000'/></video>",
     """<video>
  <model type='cirrus' vram='1024' heads='1' primary='yes'/>
</video>
"""),
    ("video_qxl_ram", "<video><model type='qxl' ram='1000' vram='3000' vgamem='1000'/></video>",
     """<video>
  <model type='qxl' ram='1024' vram='4096' vgamem='1000' heads='1' primary='yes'/>
</video>
"""),
    ("video_none_graphics", "<graphics type='vnc'/><video><model type='none'/></video>",
     """<graphics type='vnc' port='-1' autoport='yes'>
  <listen type='address'/>
</graphics>
<video>
  <model type='none'/>
</video>
"""),
    ("video_heads0", "<video><model type='vga' heads='0'/></video>",
     """<video>
  <model type='vga' vram='16384' primary='yes'/>
</video>
"""),
    ("vnc_port_autoport_no", "<graphics type='vnc' port='5900' autoport='no'/>",
     """<graphics type='vnc' port='5900' autoport='no'>
  <listen type='address'/>
</graphics>
<video>
  <model type='cirrus' vram='16384' heads='1' primary='yes'/>
</video>
"""),
    ("vnc_listen_el",
     "<graphics type='vnc'><listen type='address' address='127.0.0.1'/></graphics>",
     """<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'>
  <listen type='address' address='127.0.0.1'/>
</graphics>
<video>
  <model type='cirrus' vram='16384' heads='1' primary='yes'/>
</video>
"""),
    ("rdp", "<graphics type='rdp'/>",
     """<graphics type='rdp' port='0' autoport='yes'>
  <listen type='address'/>
</graphics>
<video>
  <model type='cirrus' vram='16384' heads='1' primary='yes'/>
</video>
"""),
    ("all", "<console type='pty'/><graphics type='vnc' port='-1' autoport='yes'/>",
     """<serial type='pty'>
  <target port='0'/>
</serial>
<console type='pty'>
  <target type='serial' port='0'/>
</console>
<graphics type='vnc' port='-1' autoport='yes'>
  <listen type='address'/>
</graphics>
<video>
  <model type='cirrus' vram='16384' heads='1' primary='yes'/>
</video>
"""),
]


# libvirt's output is no fixed point here either: a console's port is its position
# (the virtio console moves to position 1) and an absent heads means heads='1'.
NOT_FIXED_POINTS = {"console_virtio_serial", "video_heads0"}


@pytest.mark.parametrize(("name", "devices", "expected"), CASES, ids=[c[0] for c in CASES])
def test_devices_as_libvirt_writes_them(name: str, devices: str, expected: str) -> None:
    d = _define(devices)
    assert _devices(d) == expected
    if name in NOT_FIXED_POINTS:
        return
    # Defining the written XML again gives the same.
    again = DomainDef.from_xml(format_domain(d, -1))
    apply_generic_defaults(again, default_video_type)
    assert _devices(again) == expected


@pytest.mark.parametrize(("os", "arch", "devices", "expected"), [
    ("xen", "i686", "<console type='pty'/>",
     "<console type='pty'>\n  <target type='serial' port='0'/>\n</console>\n"),
    ("xen", "i686", "<serial type='pty'/>",
     "<serial type='pty'>\n  <target port='0'/>\n</serial>\n"),
    ("xen", "i686", "<graphics type='vnc'/>",
     "<graphics type='vnc' port='-1' autoport='yes'>\n  <listen type='address'/>\n"
     "</graphics>\n<video>\n  <model type='xen' vram='4096' heads='1' primary='yes'/>\n"
     "</video>\n"),
    ("linux", "i686", "<video/>",
     "<video>\n  <model type='xen' vram='4096' heads='1' primary='yes'/>\n</video>\n"),
    ("hvm", "ppc64", "<graphics type='vnc'/>",
     "<graphics type='vnc' port='-1' autoport='yes'>\n  <listen type='address'/>\n"
     "</graphics>\n<video>\n  <model type='vga' vram='16384' heads='1' primary='yes'/>\n"
     "</video>\n"),
])
def test_os_type_and_arch(os: str, arch: str, devices: str, expected: str) -> None:
    assert _devices(_define(devices, os, arch)) == expected


@pytest.mark.parametrize(("devices", "arch", "code", "message"), [
    ("<console type='pty'><target type='virtio'/></console>"
     "<console type='pty'><target type='serial'/></console>", "i686",
     ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: Only the first console can be a serial port"),
    ("<console type='pty'/><console type='pty'/>", "i686", ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: Only the first console can be a serial port"),
    ("<serial type='pty'><target type='isa-serial'/></serial>" * 5, "i686",
     ErrorCode.INTERNAL_ERROR,
     "internal error: Maximum supported number of ISA serial ports is '4'"),
    ("<serial type='pty'><target type='isa-serial' port='1'/></serial>" * 2, "i686",
     ErrorCode.INTERNAL_ERROR, "internal error: target port '1' already allocated"),
    ("<serial type='pty'><target type='isa-debug'/></serial>", "ppc64",
     ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: isa-debug serial type only valid on x86 architecture"),
])
def test_refused_like_libvirt(devices: str, arch: str, code: int, message: str) -> None:
    with pytest.raises(VirtError) as exc:
        _define(devices, arch=arch)
    assert (exc.value.code, exc.value.domain) == (code, ErrorDomain.DOMAIN)
    assert exc.value.message == message


def test_name_with_slash_refused() -> None:
    d = DomainDef.from_xml(HEAD.format(devices="", os="hvm", arch="i686")
                           .replace("<name>g</name>", "<name>a/b</name>"))
    with pytest.raises(VirtError) as exc:
        apply_generic_defaults(d)
    assert (exc.value.code, exc.value.domain) == (ErrorCode.XML_ERROR, ErrorDomain.DOMAIN)
    assert exc.value.message == "XML error: name a/b cannot contain '/'"
    check_name("fine-name")
    check_name(None)


def test_console_is_written_from_serial_at_format_time() -> None:
    d = _define("<serial type='pty'/><console type='pty'/>")
    assert d.devices is not None
    # The held console keeps its own backend; the written one follows serial 0.
    d.devices.serials[0].type = "file"
    view = console_view(d)
    assert view is not None and view[0].type == "file"
    assert view[0].target is not None and view[0].target.type == "serial"
    assert d.devices.consoles[0].type == "pty"
    assert "<console type='file'>" in format_domain(d, -1)
    assert d.devices.consoles[0].type == "pty"  # formatting changed nothing held


def test_console_view_leaves_non_hvm_and_virtio_alone() -> None:
    assert console_view(_define("<console type='pty'/>", os="xen")) is None
    assert console_view(_define("<console type='pty'><target type='virtio'/></console>")) is None


def test_sources_equal() -> None:
    d = _define("<serial type='file'><source path='/a'/></serial>"
                "<serial type='file'><source path='/a'/></serial>"
                "<serial type='file'><source path='/b'/></serial>"
                "<serial type='pty'/>")
    assert d.devices is not None
    s = d.devices.serials
    assert sources_equal(s[0], s[1])
    assert not sources_equal(s[0], s[2])
    assert not sources_equal(s[0], s[3])


def test_without_a_driver_video_type_the_model_type_stays_unset() -> None:
    d = DomainDef.from_xml(HEAD.format(devices="<graphics type='vnc'/>", os="hvm",
                                       arch="i686"))
    apply_generic_defaults(d)
    assert d.devices is not None and len(d.devices.videos) == 1
    video = d.devices.videos[0]
    assert video.model is not None and video.model.type is None
    assert video.model.primary == "yes" and video.model.heads == "1"


def test_from_xml_alone_adds_nothing() -> None:
    d = DomainDef.from_xml(HEAD.format(devices="<console type='pty'/><graphics type='vnc'/>",
                                       os="hvm", arch="i686"))
    assert d.devices is not None
    assert not d.devices.serials and not d.devices.videos


@pytest.mark.parametrize(("cls", "xml", "message"), [
    (DomainDef, "<network><name>n</name></network>",
     "XML error: expecting root element of 'domain', not 'network'"),
    (NetworkDef, "<domain><name>n</name></domain>",
     "XML error: expecting root element of 'network', not 'domain'"),
    (DomainDef, "<x:net xmlns:x='urn:x'/>",
     "XML error: expecting root element of 'domain', not 'net'"),
])
def test_wrong_root_element(cls: type[DomainDef] | type[NetworkDef], xml: str,
                            message: str) -> None:
    with pytest.raises(XMLError) as exc:
        cls.from_xml(xml)
    assert (exc.value.code, exc.value.domain) == (ErrorCode.XML_ERROR, ErrorDomain.XML)
    assert exc.value.message == message


def test_node_file_with_wrong_root_element(tmp_path: Path) -> None:
    import virtkit

    path = tmp_path / "node.xml"
    path.write_text("<domain/>")
    with pytest.raises(VirtError) as exc:
        virtkit.open(f"test://{path}")
    assert (exc.value.code, exc.value.domain) == (ErrorCode.XML_ERROR, ErrorDomain.XML)
    assert exc.value.message == "XML error: expecting root element of 'node', not 'domain'"
