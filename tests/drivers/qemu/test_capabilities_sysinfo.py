"""sysinfo from dmidecode output (this machine has no SMBIOS: the side-by-side check of
the error is in test_capabilities_oracle.py; the formatter runs here on a sample)."""

from __future__ import annotations

import pytest

from virtkit.drivers import nodeinfo

SAMPLE = """\
BIOS Information
\tVendor: SeaBIOS
\tVersion: 1.16.0-debian
\tRelease Date: 04/01/2014
\tBIOS Revision: 0.0

System Information
\tManufacturer: QEMU
\tProduct Name: Standard PC (Q35 + ICH9, 2009)
\tVersion: pc-q35-7.2
\tSerial Number: Not Specified
\tUUID: 3d1219c7-c4c5-404a-aa1f-6d2a48adfda4
\tSKU Number: Not Specified
\tFamily: Not Specified

Chassis Information
\tManufacturer: QEMU
\tType: Other
\tVersion: pc-q35-7.2

Processor Information
\tSocket Designation: CPU 0
\tType: Central Processor
\tFamily: Other
\tManufacturer: QEMU
\tVersion: pc-q35-7.2
\tMax Speed: 2000 MHz
\tStatus: Populated, Enabled

OEM Strings
\tString 1: hello <world>
\tString 2: two.lines

Memory Device
\tSize: No Module Installed
\tLocator: DIMM 1

Memory Device
\tSize: 1 GB
\tForm Factor: DIMM
\tLocator: DIMM 0
\tType: RAM
"""


def test_sysinfo_from_dmidecode_sample() -> None:
    asked: list[int] = []

    def raw(index: int) -> str:
        asked.append(index)
        return "two\nlines\n"

    xml = nodeinfo.sysinfo_from_dmidecode(SAMPLE, raw)
    assert xml is not None and asked == [2]  # only the string with a dot is asked again
    assert xml.startswith("<sysinfo type='smbios'>\n  <bios>\n"
                          "    <entry name='vendor'>SeaBIOS</entry>\n")
    assert "    <entry name='date'>04/01/2014</entry>\n    <entry name='release'>0.0</entry>" \
        in xml
    assert "<entry name='uuid'>3d1219c7-c4c5-404a-aa1f-6d2a48adfda4</entry>" in xml
    assert "<chassis>\n    <entry name='manufacturer'>QEMU</entry>\n" in xml
    assert "<entry name='socket_destination'>CPU 0</entry>" in xml
    assert xml.count("<memory_device>") == 1  # the empty slot is left out
    assert ("<oemStrings>\n    <entry>hello &lt;world&gt;</entry>\n"
            "    <entry>two\nlines\n</entry>\n  </oemStrings>") in xml
    # dmidecode failing on that string fails the whole sysinfo, as in libvirt
    assert nodeinfo.sysinfo_from_dmidecode(SAMPLE, lambda index: None) is None
    assert xml.index("<processor>") < xml.index("<memory_device>") < xml.index("<oemStrings>")


def test_sysinfo_absent_without_dmidecode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodeinfo, "DMIDECODE", "/nonexistent/dmidecode")
    assert nodeinfo.host_sysinfo_xml() is None
