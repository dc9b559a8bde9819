"""The node-device driver on a sysfs tree the test builds: names, parents, XML
element for element (as libvirt 9.0's udev backend writes them), listing filters,
capabilities, lookups and their errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nodedev_tree import build

from virtkit.constants import ConnectListAllNodeDeviceFlags as F
from virtkit.drivers.nodedev.driver import HostNodeDeviceDriver
from virtkit.drivers.nodedev.table import release, table_for
from virtkit.errors import ErrorCode, ErrorDomain, VirtError
from virtkit.types import NodeDeviceIdent


@pytest.fixture
def drv(tmp_path: Path) -> Iterator[HostNodeDeviceDriver]:
    paths = build(tmp_path / "sys")
    table = table_for(paths, monitor=False)
    d = HostNodeDeviceDriver(table, owns=False)
    yield d
    d.close()
    release(table)


def _xml(drv: HostNodeDeviceDriver, name: str) -> str:
    return drv.node_device_get_xml_desc(NodeDeviceIdent(name))


NAMES = ["computer", "pci_0000_00_14_0", "usb_1_2", "usb_1_2_1_0", "pci_0000_00_19_0",
         "net_vkt0test_52_54_00_aa_bb_cc", "pci_0000_00_1f_2", "scsi_host3",
         "scsi_target3_0_0", "scsi_3_0_0_0", "block_sdq_QEMU_HARDDISK_QM00001"]


def test_names_in_libvirts_order(drv: HostNodeDeviceDriver) -> None:
    assert [i.name for i in drv.connect_list_all_node_devices()] == NAMES
    assert drv.node_num_of_devices() == len(NAMES)


def test_parents_follow_sysfs(drv: HostNodeDeviceDriver) -> None:
    parent = {n: drv.node_device_get_parent(NodeDeviceIdent(n)) for n in NAMES[1:]}
    assert parent == {
        "pci_0000_00_14_0": "computer", "usb_1_2": "pci_0000_00_14_0",
        "usb_1_2_1_0": "usb_1_2", "pci_0000_00_19_0": "computer",
        "net_vkt0test_52_54_00_aa_bb_cc": "pci_0000_00_19_0", "pci_0000_00_1f_2": "computer",
        "scsi_host3": "pci_0000_00_1f_2", "scsi_target3_0_0": "scsi_host3",
        "scsi_3_0_0_0": "scsi_target3_0_0", "block_sdq_QEMU_HARDDISK_QM00001": "scsi_3_0_0_0"}
    assert drv.node_device_get_parent(NodeDeviceIdent("computer")) is None


def test_pci_xml(drv: HostNodeDeviceDriver, tmp_path: Path) -> None:
    sysfs = (tmp_path / "sys").resolve()
    assert _xml(drv, "pci_0000_00_1f_2") == f"""<device>
  <name>pci_0000_00_1f_2</name>
  <path>{sysfs}/devices/pci0000:00/0000:00:1f.2</path>
  <parent>computer</parent>
  <driver>
    <name>ahci</name>
  </driver>
  <capability type='pci'>
    <class>0x010601</class>
    <domain>0</domain>
    <bus>0</bus>
    <slot>31</slot>
    <function>2</function>
    <product id='0x2922'>82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode]</product>
    <vendor id='0x8086'>Intel Corporation</vendor>
    <capability type='mdev_types'>
      <type id='nvidia-11'>
        <name>GRID M60-0B</name>
        <deviceAPI>vfio-pci</deviceAPI>
        <availableInstances>16</availableInstances>
      </type>
    </capability>
    <iommuGroup number='7'>
      <address domain='0x0000' bus='0x00' slot='0x1f' function='0x2'/>
    </iommuGroup>
    <numa node='0'/>
    <pci-express>
      <link validity='cap' port='2' speed='8' width='4'/>
      <link validity='sta' speed='5' width='2'/>
    </pci-express>
  </capability>
</device>
"""
    assert drv.node_device_list_caps(NodeDeviceIdent("pci_0000_00_1f_2"), 10) == [
        "pci", "mdev_types"]
    assert drv.node_device_num_of_caps(NodeDeviceIdent("pci_0000_00_1f_2")) == 2


def test_net_usb_xml(drv: HostNodeDeviceDriver, tmp_path: Path) -> None:
    sysfs = (tmp_path / "sys").resolve()
    assert _xml(drv, "net_vkt0test_52_54_00_aa_bb_cc") == f"""<device>
  <name>net_vkt0test_52_54_00_aa_bb_cc</name>
  <path>{sysfs}/devices/pci0000:00/0000:00:19.0/net/vkt0test</path>
  <parent>pci_0000_00_19_0</parent>
  <capability type='net'>
    <interface>vkt0test</interface>
    <address>52:54:00:aa:bb:cc</address>
    <link speed='1000' state='up'/>
    <capability type='80203'/>
  </capability>
</device>
"""
    assert _xml(drv, "usb_1_2") == f"""<device>
  <name>usb_1_2</name>
  <path>{sysfs}/devices/pci0000:00/0000:00:14.0/usb1/1-2</path>
  <devnode type='dev'>/dev/bus/usb/001/004</devnode>
  <parent>pci_0000_00_14_0</parent>
  <driver>
    <name>usb</name>
  </driver>
  <capability type='usb_device'>
    <bus>1</bus>
    <device>4</device>
    <product id='0xc52b'>USB Receiver</product>
    <vendor id='0x046d'>Logitech, Inc.</vendor>
  </capability>
</device>
"""
    assert _xml(drv, "usb_1_2_1_0").endswith("""  <capability type='usb'>
    <number>0</number>
    <class>3</class>
    <subclass>1</subclass>
    <protocol>2</protocol>
  </capability>
</device>
""")


def test_scsi_and_block_xml(drv: HostNodeDeviceDriver, tmp_path: Path) -> None:
    sysfs = (tmp_path / "sys").resolve()
    assert _xml(drv, "scsi_host3").endswith("""  <capability type='scsi_host'>
    <host>3</host>
    <unique_id>4</unique_id>
  </capability>
</device>
""")
    assert "<target>target3:0:0</target>" in _xml(drv, "scsi_target3_0_0")
    assert _xml(drv, "scsi_3_0_0_0").endswith("""  <capability type='scsi'>
    <host>3</host>
    <bus>0</bus>
    <target>0</target>
    <lun>0</lun>
    <type>disk</type>
  </capability>
</device>
""")
    assert _xml(drv, "block_sdq_QEMU_HARDDISK_QM00001") == f"""<device>
  <name>block_sdq_QEMU_HARDDISK_QM00001</name>
  <path>{sysfs}/devices/pci0000:00/0000:00:1f.2/ata1/host3/target3:0:0/3:0:0:0/block/sdq</path>
  <devnode type='dev'>/dev/sdq</devnode>
  <devnode type='link'>/dev/disk/by-id/ata-QEMU_HARDDISK_QM00001</devnode>
  <parent>scsi_3_0_0_0</parent>
  <capability type='storage'>
    <block>/dev/sdq</block>
    <bus>ata</bus>
    <drive_type>disk</drive_type>
    <model>QEMU HARDDISK</model>
    <vendor>ATA</vendor>
    <serial>QEMU_HARDDISK_QM00001</serial>
    <size>1073741824</size>
    <logical_block_size>512</logical_block_size>
    <num_blocks>2097152</num_blocks>
  </capability>
</device>
"""


def test_computer_without_dmi(drv: HostNodeDeviceDriver) -> None:
    assert _xml(drv, "computer") == """<device>
  <name>computer</name>
  <capability type='system'>
    <hardware>
      <uuid>00000000-0000-0000-0000-000000000000</uuid>
    </hardware>
    <firmware>
    </firmware>
  </capability>
</device>
"""
    assert drv.node_device_is_persistent(NodeDeviceIdent("computer"))
    assert not drv.node_device_is_persistent(NodeDeviceIdent("scsi_host3"))


@pytest.mark.parametrize(("flags", "names"), [
    (F.CAP_PCI_DEV, ["pci_0000_00_14_0", "pci_0000_00_19_0", "pci_0000_00_1f_2"]),
    (F.CAP_NET | F.CAP_SYSTEM, ["computer", "net_vkt0test_52_54_00_aa_bb_cc"]),
    (F.CAP_SCSI_HOST | F.CAP_SCSI_TARGET | F.CAP_SCSI,
     ["scsi_host3", "scsi_target3_0_0", "scsi_3_0_0_0"]),
    (F.CAP_STORAGE, ["block_sdq_QEMU_HARDDISK_QM00001"]),
    (F.CAP_USB_DEV, ["usb_1_2"]),
    (F.CAP_USB_INTERFACE, ["usb_1_2_1_0"]),
    (F.CAP_MDEV_TYPES, ["pci_0000_00_1f_2"]),
    (F.CAP_FC_HOST | F.CAP_VPORTS, []),
    (F.INACTIVE, []),
    (F.ACTIVE | F.CAP_USB_DEV, ["usb_1_2"]),
])
def test_list_filters(drv: HostNodeDeviceDriver, flags: int, names: list[str]) -> None:
    assert [i.name for i in drv.connect_list_all_node_devices(flags)] == names


def test_num_and_names_by_cap(drv: HostNodeDeviceDriver) -> None:
    assert drv.node_num_of_devices("scsi") == 1
    assert drv.node_list_devices("pci", 2) == ["pci_0000_00_14_0", "pci_0000_00_19_0"]
    assert drv.node_list_devices("mdev_types", 5) == ["pci_0000_00_1f_2"]


@pytest.mark.parametrize("name", ["", "../computer", "pci_0000_00_1f_2\x00", "computer/",
                                  "COMPUTER", "x" * 5000, "pci_0000:00:1f.2"])
def test_hostile_names(drv: HostNodeDeviceDriver, name: str) -> None:
    with pytest.raises(VirtError) as exc:
        drv.node_device_lookup_by_name(name)
    assert exc.value.code == ErrorCode.NO_NODE_DEVICE
    assert exc.value.domain == ErrorDomain.NODEDEV
    assert str(exc.value).endswith(f"no node device with matching name '{name}'")


def test_bad_flags(drv: HostNodeDeviceDriver) -> None:
    for call in (lambda: drv.node_device_get_xml_desc(NodeDeviceIdent("computer"), 1),
                 lambda: drv.connect_list_all_node_devices(1 << 22),
                 lambda: drv.node_num_of_devices(None, 1)):
        with pytest.raises(VirtError) as exc:
            call()
        assert exc.value.code == ErrorCode.INVALID_ARG
        assert "unsupported flags" in str(exc.value)


def test_scsi_host_by_wwn_absent(drv: HostNodeDeviceDriver) -> None:
    with pytest.raises(VirtError) as exc:
        drv.node_device_lookup_scsi_host_by_wwn("2001001b32a9da4e", "2101001b32a9da4e")
    assert exc.value.code == ErrorCode.INTERNAL_ERROR


def test_computer_with_dmi(tmp_path: Path) -> None:
    paths = build(tmp_path / "sys")
    dmi = tmp_path / "sys" / "devices" / "virtual" / "dmi" / "id"
    dmi.mkdir(parents=True)
    for name, value in (("product_name", "Standard PC (Q35 + ICH9, 2009)"),
                        ("sys_vendor", "QEMU"), ("product_version", "pc-q35-7.2"),
                        ("product_uuid", "4c4c4544-0034-3510-8052-b4c04f333232"),
                        ("bios_vendor", "SeaBIOS"), ("bios_version", "1.16.2-debian"),
                        ("bios_date", "04/01/2014")):
        (dmi / name).write_text(value + "\n")
    table = table_for(paths, monitor=False)
    try:
        assert _xml(HostNodeDeviceDriver(table, owns=False), "computer") == """<device>
  <name>computer</name>
  <capability type='system'>
    <product>Standard PC (Q35 + ICH9, 2009)</product>
    <hardware>
      <vendor>QEMU</vendor>
      <version>pc-q35-7.2</version>
      <uuid>4c4c4544-0034-3510-8052-b4c04f333232</uuid>
    </hardware>
    <firmware>
      <vendor>SeaBIOS</vendor>
      <version>1.16.2-debian</version>
      <release_date>04/01/2014</release_date>
    </firmware>
  </capability>
</device>
"""
    finally:
        release(table)


def test_unprivileged_reads_no_config_space(tmp_path: Path) -> None:
    import dataclasses

    paths = dataclasses.replace(build(tmp_path / "sys"), privileged=False)
    table = table_for(paths, monitor=False)
    try:
        xml = _xml(HostNodeDeviceDriver(table, owns=False), "pci_0000_00_1f_2")
        assert "<pci-express>" not in xml and "<numa node='0'/>" in xml
    finally:
        release(table)


def test_uevents_on_the_tree(drv: HostNodeDeviceDriver, tmp_path: Path) -> None:
    """add of a new device: CREATED; add again (a "change"): UPDATE; remove: DELETED."""
    from nodedev_tree import _dev

    got: list[tuple[str, int, tuple[object, ...]]] = []
    cids = [drv.connect_node_device_event_register_any(
        None, eid, lambda i, e, p: got.append((i.name, e, p))) for eid in (0, 1)]
    root = tmp_path / "sys"
    new = _dev(root, "devices/virtual/net/vkt1test", "net", {"INTERFACE": "vkt1test"},
               {"address": "52:54:00:00:00:01", "operstate": "down"}, klass="net")
    table = drv.table
    table.add(str(new.resolve()))
    table.add(str(new.resolve()))
    table.remove(str(new.resolve()))
    table.events.wait_delivered(30)
    for cid in cids:
        drv.connect_node_device_event_deregister_any(cid)
    name = "net_vkt1test_52_54_00_00_00_01"
    assert got == [(name, 0, (0, 0)), (name, 1, ()), (name, 0, (1, 0))]
    assert name not in [i.name for i in drv.connect_list_all_node_devices()]
