"""CapabilitiesDef: libvirt's host capabilities XML."""

from __future__ import annotations

from virtkit.conf.capabilities import (
    CapabilitiesDef,
    CapsGuest,
    CapsHost,
    GuestArch,
    GuestDomain,
    GuestMachine,
    HostCpu,
    Iommu,
)

EXPECTED = """<capabilities>

  <host>
    <uuid>6f0d6e4c-1d3f-4e3b-9d0a-000000000001</uuid>
    <cpu>
      <arch>x86_64</arch>
    </cpu>
    <iommu support='no'/>
  </host>

  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <machine maxCpus='255'>pc-i440fx-7.2</machine>
      <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>
      <domain type='qemu'/>
    </arch>
  </guest>

</capabilities>
"""


def test_build_and_format() -> None:
    caps = CapabilitiesDef(
        host=CapsHost(uuid="6f0d6e4c-1d3f-4e3b-9d0a-000000000001",
                      cpu=HostCpu(arch="x86_64"), iommu=Iommu(support="no")),
        guests=[CapsGuest(os_type="hvm", arch=GuestArch(
            name="x86_64", wordsize=64, emulator="/usr/bin/qemu-system-x86_64",
            machines=[GuestMachine(maxCpus="255", name="pc-i440fx-7.2"),
                      GuestMachine(canonical="pc-i440fx-7.2", maxCpus="255", name="pc")],
            domains=[GuestDomain(type="qemu")]))],
    )
    assert caps.to_xml() == EXPECTED
    again = CapabilitiesDef.from_xml(EXPECTED)
    assert again == caps
    assert again.guests[0].arch is not None and again.guests[0].arch.wordsize == 64
    assert again.to_xml() == EXPECTED
