"""libvirt's generic domain defaults (apply_generic_defaults)."""

from __future__ import annotations

from virtkit.conf.dev_disk import Disk
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
        "ide", "scsi", "virtio", "xen", "uml", None,
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


def test_disks_ordered_addressed_and_validated_as_libvirt_does() -> None:
    """Checked against Debian's virsh (test:///default define + dumpxml)."""
    import pytest

    from virtkit.errors import VirtError

    devices = ("<disk device='disk'><target dev='vda' bus='virtio'/></disk>"
               "<disk device='cdrom'><target dev='hdc' bus='ide'/></disk>"
               "<disk device='disk'><target dev='vdb' bus='virtio'/></disk>"
               "<disk device='disk'><target dev='sdj'/></disk>")
    d = DomainDef.from_xml(XML.replace(XML[XML.index("<devices>"):XML.index("</devices>")],
                                       "<devices>" + devices))
    apply_generic_defaults(d)
    assert [disk.target.dev for disk in d.devices.disks if disk.target] == [
        "vda", "vdb", "hdc", "sdj"]
    out = d.to_xml()
    assert "<readonly/>" in out  # the cdrom
    assert "<address type='drive' controller='0' bus='1' target='0' unit='0'/>" in out
    assert "<address type='drive' controller='1' bus='0' target='0' unit='2'/>" in out
    assert out.index("<controller type='scsi' index='0'/>") < out.index(
        "<controller type='scsi' index='1'/>") < out.index("<controller type='ide' index='0'/>")
    for dev, device, message in (("foo", "disk", "Unknown disk name 'foo' and no address"),
                                 ("fda", "disk", "Invalid harddisk device name: fda"),
                                 ("hdb", "floppy", "Invalid floppy device name: hdb")):
        bad = DomainDef.from_xml(XML.replace("<target dev='vda'/>", f"<target dev='{dev}'/>")
                                 .replace("device='disk'", f"device='{device}'")
                                 .replace("<address type='pci' domain='0' bus='0' slot='4' "
                                          "function='0'/>", ""))
        with pytest.raises(VirtError, match=message):
            apply_generic_defaults(bad)


def _libvirt_disk_insert(disks: list[Disk]) -> list[Disk]:
    """virDomainDiskInsert literally, one disk at a time (the reference)."""
    from virtkit.conf.domain_postparse import disk_name_index

    out: list[Disk] = []
    for d in disks:
        at = -1
        for i in range(len(out) - 1, -1, -1):
            if out[i].target.bus == d.target.bus:  # type: ignore[union-attr]
                if disk_name_index(out[i].target.dev) > disk_name_index(d.target.dev):  # type: ignore[union-attr,arg-type]
                    at = i
                elif at == -1:
                    at = i + 1
        if at == -1:
            out.append(d)
        else:
            out.insert(at, d)
    return out


def test_disk_order_matches_libvirts_insertion() -> None:
    import random

    from virtkit.conf.dev_disk import DiskTarget
    from virtkit.conf.devices import Devices
    from virtkit.conf.domain_postparse import order_disks

    rng = random.Random(7)
    for _ in range(2000):
        disks = []
        for _ in range(rng.randint(0, 9)):
            t = DiskTarget()
            t.bus = rng.choice(["virtio", "ide", "scsi", None])
            t.dev = rng.choice(["vd", "hd", "sd"]) + rng.choice("abcdef") + rng.choice(
                ["", "", "1", "x"])
            d = Disk()
            d.target = t
            disks.append(d)
        devices = Devices()
        devices.disks = list(disks)
        order_disks(devices)
        assert [id(d) for d in devices.disks] == [id(d) for d in _libvirt_disk_insert(disks)]


def test_disk_cache_default_is_not_kept() -> None:
    """cache='default' is the enum's 0 value: accepted, never formatted (what Cockpit's
    Add disk sends); an explicit mode stays."""
    xml = XML.replace("<source file='/a.img'/>",
                      "<driver name='qemu' type='raw' cache='default'/><source file='/a.img'/>")
    d = DomainDef.from_xml(xml)
    apply_generic_defaults(d)
    assert "<driver name='qemu' type='raw'/>" in d.to_xml()
    d = DomainDef.from_xml(xml.replace("cache='default'", "cache='none'"))
    apply_generic_defaults(d)
    assert "<driver name='qemu' type='raw' cache='none'/>" in d.to_xml()
