"""The network port model: libvirt 9.0.0's conformance data and the parser's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from virtkit.conf.networkport import NetworkPortDef
from virtkit.errors import ErrorCode, ErrorDomain, VirtError
from virtkit.testing.repo import conformance_dir

BASE = conformance_dir("networkport")
FILES = sorted(BASE.glob("*/*.xml"))
EXPECTED_FILES = 6  # every networkport file of shared/conformance, byte for byte

OWNER = ("<owner><name>vm1</name><uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner>")
UUID = "<uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>"
MAC = "<mac address='52:54:00:7b:35:93'/>"


def _port(body: str) -> str:
    return f"<networkport>{body}</networkport>"


def test_conformance_files_exist() -> None:
    assert len(FILES) >= 6


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_conformance_inout_byte_for_byte(path: Path) -> None:
    text = path.read_text()
    assert NetworkPortDef.from_xml(text).to_xml() == text


def test_conformance_report() -> None:
    passed = [p.name for p in FILES
              if NetworkPortDef.from_xml(p.read_text()).to_xml() == p.read_text()]
    assert (len(passed), len(FILES)) == (EXPECTED_FILES, EXPECTED_FILES)


def test_canonical_forms() -> None:
    xml = _port("<uuid>5D744F21BA4A4D6EBDB230A35FF3207D</uuid>"
                "<owner><name>a&amp;b</name><uuid>D54DF46F-1AB5-4A22-8618-4560EF5FAC2C</uuid>"
                "</owner><mac address='52:54:0:7B:35:9'/>"
                "<plug type='hostdev-pci'><address domain='1' bus='2' slot='3' function='4'/>"
                "</plug>")
    out = NetworkPortDef.from_xml(xml).to_xml()
    assert out == (
        "<networkport>\n"
        "  <uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid>\n"
        "  <owner>\n"
        "    <name>a&amp;b</name>\n"
        "    <uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid>\n"
        "  </owner>\n"
        "  <mac address='52:54:00:7b:35:09'/>\n"
        "  <plug type='hostdev-pci'>\n"
        "    <address domain='0x0001' bus='0x02' slot='0x03' function='0x4'/>\n"
        "  </plug>\n"
        "</networkport>\n")


def test_plug_none_and_direct_default_mode() -> None:
    none = NetworkPortDef.from_xml(_port(UUID + OWNER + MAC + "<plug type='none'/>"))
    assert "<plug" not in none.to_xml()
    assert none.plug_type == "none"
    direct = NetworkPortDef.from_xml(_port(UUID + OWNER + MAC + "<plug type='direct' dev='e0'/>"))
    assert "<plug type='direct' dev='e0' mode='vepa'/>" in direct.to_xml()


@pytest.mark.parametrize(("body", "code", "message"), [
    (OWNER + MAC, ErrorCode.INTERNAL_ERROR, "network port has no uuid"),
    ("<uuid>nope</uuid>" + OWNER + MAC, ErrorCode.INTERNAL_ERROR, "Unable to parse UUID 'nope'"),
    (UUID + MAC, ErrorCode.INTERNAL_ERROR, "network port has no owner name"),
    (UUID + "<owner><name>x</name></owner>" + MAC, ErrorCode.INTERNAL_ERROR,
     "network port has no owner UUID"),
    (UUID + OWNER, ErrorCode.INTERNAL_ERROR, "network port has no mac"),
    (UUID + OWNER + "<mac address='zz'/>", ErrorCode.INTERNAL_ERROR, "Unable to parse MAC 'zz'"),
    (UUID + OWNER + MAC + "<rxfilters trustGuest='maybe'/>", ErrorCode.XML_ERROR,
     "Invalid value for attribute 'trustGuest' in element 'rxfilters': 'maybe'."),
    (UUID + OWNER + MAC + "<plug type='weird'/>", ErrorCode.XML_ERROR,
     "Invalid value for attribute 'type' in element 'plug': 'weird'."),
    (UUID + OWNER + MAC + "<plug type='network'/>", ErrorCode.XML_ERROR,
     "Missing network port bridge name"),
    (UUID + OWNER + MAC + "<plug type='bridge' bridge='b' macTableManager='default'/>",
     ErrorCode.XML_ERROR, "Invalid macTableManager setting 'default' in network port"),
    (UUID + OWNER + MAC + "<plug type='direct'/>", ErrorCode.XML_ERROR,
     "Missing network port link device name"),
    (UUID + OWNER + MAC + "<plug type='direct' dev='e' mode='x'/>", ErrorCode.XML_ERROR,
     "Invalid mode setting 'x' in network port"),
    (UUID + OWNER + MAC + "<plug type='hostdev-pci'/>", ErrorCode.XML_ERROR,
     "Missing network port PCI address"),
    (UUID + OWNER + MAC + "<plug type='hostdev-pci'><address bus='0x100'/></plug>",
     ErrorCode.XML_ERROR, "Invalid PCI address bus='0x100', must be <= 0xFF"),
])
def test_parse_errors(body: str, code: int, message: str) -> None:
    with pytest.raises(VirtError) as info:
        NetworkPortDef.from_xml(_port(body))
    assert info.value.code == code
    assert info.value.domain == ErrorDomain.NETWORK
    assert message in str(info.value)


def test_wrong_root() -> None:
    with pytest.raises(VirtError, match="expecting root element of 'networkport', not 'network'"):
        NetworkPortDef.from_xml("<network/>")


def test_unknown_kept_and_named() -> None:
    d = NetworkPortDef.from_xml(_port(UUID + OWNER + MAC + "<frob x='1'/>"))
    assert d.unknown_paths() == ["/networkport/frob"]
    assert "<frob x='1'/>" in d.to_xml()


def test_build() -> None:
    d = NetworkPortDef.build("5d744f21-ba4a-4d6e-bdb2-30a35ff3207d", "vm1",
                             "d54df46f-1ab5-4a22-8618-4560ef5fac2c", "52:54:00:AA:00:01")
    assert d.mac_address == "52:54:00:aa:00:01"
    assert d.owner_name == "vm1"
    assert NetworkPortDef.from_xml(d.to_xml()) == d
