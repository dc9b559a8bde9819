"""libvirt's generic domain defaults (apply_generic_defaults)."""

from __future__ import annotations

from virtkit.conf.domain import DomainDef
from virtkit.conf.domain_postparse import apply_generic_defaults, disk_bus_for_target

XML = """<domain type='test'>
  <name>g</name>
  <memory>1024</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/a.img'/>
      <target dev='vda'/>
      <address type='pci' domain='0' bus='0' slot='4' function='0'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:AB:CD:EF'/>
      <source network='default' bridge='virbr0'/>
      <address type='pci' domain='0x0' bus='0x0' slot='0x3' function='0x0'/>
    </interface>
    <memballoon model='virtio'>
      <address type='pci' domain='0' bus='0' slot='5' function='0'/>
    </memballoon>
  </devices>
</domain>
"""


def test_from_xml_does_not_apply_them() -> None:
    d = DomainDef.from_xml(XML)
    assert d.vcpu is not None and d.vcpu.placement is None
    assert d.os is not None and not d.os.boot


def test_generic_defaults() -> None:
    d = DomainDef.from_xml(XML)
    apply_generic_defaults(d)
    out = d.to_xml()
    assert "<vcpu placement='static'>2</vcpu>" in out
    assert "<boot dev='hd'/>" in out
    assert "<target dev='vda' bus='virtio'/>" in out
    assert "<mac address='52:54:00:ab:cd:ef'/>" in out
    assert "<source network='default'/>" in out
    assert "domain='0x0000' bus='0x00' slot='0x04' function='0x0'" in out
    assert "domain='0x0000' bus='0x00' slot='0x03' function='0x0'" in out
    assert "domain='0x0000' bus='0x00' slot='0x05' function='0x0'" in out


def test_no_boot_default_with_device_boot_or_non_hvm() -> None:
    with_boot = XML.replace("<target dev='vda'/>", "<target dev='vda'/><boot order='1'/>")
    d = DomainDef.from_xml(with_boot)
    apply_generic_defaults(d)
    assert d.os is not None and not d.os.boot
    linux = DomainDef.from_xml(XML.replace(">hvm<", ">linux<"))
    apply_generic_defaults(linux)
    assert linux.os is not None and not linux.os.boot


def test_disk_bus_for_target() -> None:
    assert [disk_bus_for_target(t) for t in ("hda", "sdb", "vdc", "xvda", "ubda", "fda")] == [
        "ide", "scsi", "virtio", "xen", "uml", "fdc",
    ]
    assert disk_bus_for_target("nvme0") is None


def test_missing_devices_become_an_empty_list() -> None:
    """libvirt formats ``<devices>`` even when the input had none."""
    d = DomainDef.from_xml("<domain type='test'><name>a</name><memory>1024</memory></domain>")
    apply_generic_defaults(d)
    assert "  <devices>\n  </devices>\n" in d.to_xml()


def test_vcpu_placement_as_libvirt_decides_it() -> None:
    """Checked against Debian's virsh (test:///default define + dumpxml)."""
    auto = "<numatune><memory mode='strict' placement='auto'/></numatune>"
    cases = [
        ("<vcpu cpuset='1-2'>2</vcpu>", "", "<vcpu placement='static' cpuset='1-2'>2</vcpu>"),
        ("<vcpu>2</vcpu>", auto, "<vcpu placement='auto'>2</vcpu>"),
        ("<vcpu placement='static'>2</vcpu>", auto, "<vcpu placement='auto'>2</vcpu>"),
        ("<vcpu>2</vcpu>", auto + "<cputune><vcpupin vcpu='0' cpuset='1'/></cputune>",
         "<vcpu placement='static'>2</vcpu>"),
        ("<vcpu cpuset='1'>2</vcpu>", auto, "<vcpu placement='static' cpuset='1'>2</vcpu>"),
    ]
    for vcpu, extra, expected in cases:
        d = DomainDef.from_xml(XML.replace("<vcpu>2</vcpu>", vcpu + extra))
        apply_generic_defaults(d)
        assert expected in d.to_xml(), (vcpu, extra)
