"""nodedev-detach / reattach / reset of PCI devices: the sysfs writes and libvirt's
errors on a tree the test builds (the kernel's side of binding cannot run on a fake
tree: the test reads what was written), and one real attempt on this host."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from nodedev_tree import PCI, build, pci_config

from virtkit.drivers.nodedev.hostdev import PCIHostdev
from virtkit.drivers.nodedev.model import PCIAddr
from virtkit.drivers.nodedev.sysfs import HostPaths
from virtkit.drivers.nodedev.table import DeviceTable, release, table_for
from virtkit.errors import ErrorCode, ErrorDomain, VirtError

ADDR = "0000:00:1f.2"


@dataclasses.dataclass
class Host:
    root: Path
    table: DeviceTable
    users: dict[PCIAddr, tuple[str, str]]

    def ops(self) -> PCIHostdev:
        return PCIHostdev(self.table, lambda a: self.users.get(a))

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text()


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    root = tmp_path / "sys"
    paths = dataclasses.replace(build(root), dev=str(tmp_path / "dev"))
    (tmp_path / "dev" / "vfio").mkdir(parents=True)
    (tmp_path / "dev" / "vfio" / "vfio").write_text("")
    (root / "bus/pci/drivers/vfio-pci").mkdir(parents=True)
    (root / "bus/pci/drivers/ahci/unbind").write_text("")
    (root / "bus/pci/drivers_probe").write_text("")
    (root / PCI / "driver_override").write_text("(null)\n")
    table = table_for(paths, monitor=False)
    try:
        yield Host(root, table, {})
    finally:
        release(table)


def _raises(call: object, code: int, domain: int, text: str) -> None:
    with pytest.raises(VirtError) as exc:
        call()  # type: ignore[operator]
    assert (exc.value.code, exc.value.domain) == (code, domain)
    assert str(exc.value).endswith(text), str(exc.value)


def test_detach_binds_to_vfio_pci(host: Host) -> None:
    host.ops().detach("pci_0000_00_1f_2")
    assert host.read(f"{PCI}/driver_override") == "vfio-pci"
    assert host.read("bus/pci/drivers/ahci/unbind") == ADDR
    assert host.read("bus/pci/drivers_probe") == ADDR


def test_detach_of_a_device_on_vfio_pci_writes_nothing(host: Host) -> None:
    link = host.root / PCI / "driver"
    link.unlink()
    link.symlink_to(os.path.relpath(host.root / "bus/pci/drivers/vfio-pci", link.parent))
    host.ops().detach("pci_0000_00_1f_2")
    assert host.read("bus/pci/drivers_probe") == ""


def test_reattach_returns_to_the_preferred_driver(host: Host) -> None:
    host.ops().reattach("pci_0000_00_1f_2")
    assert host.read(f"{PCI}/driver_override") == "\n"
    assert host.read("bus/pci/drivers/ahci/unbind") == ADDR
    assert host.read("bus/pci/drivers_probe") == ADDR


def test_detach_errors(host: Host) -> None:
    ops = host.ops()
    _raises(lambda: ops.detach("scsi_host3"), ErrorCode.INVALID_ARG, ErrorDomain.DOMAIN,
            "device scsi_host3 is not a PCI device")
    _raises(lambda: ops.detach("nope"), ErrorCode.NO_NODE_DEVICE, ErrorDomain.NODEDEV,
            "no node device with matching name 'nope'")
    _raises(lambda: ops.detach("pci_0000_00_1f_2", "xen"), ErrorCode.INVALID_ARG,
            ErrorDomain.QEMU, "unknown driver name 'xen'")
    _raises(lambda: ops.detach("pci_0000_00_1f_2", "kvm"), ErrorCode.ARGUMENT_UNSUPPORTED,
            ErrorDomain.QEMU, "KVM device assignment is no longer supported on this system")
    _raises(lambda: ops.detach("pci_0000_00_1f_2", None, 1), ErrorCode.INVALID_ARG,
            ErrorDomain.QEMU, "unsupported flags (0x1) in function qemuNodeDeviceDetachFlags")
    host.users[(0, 0, 31, 2)] = ("QEMU", "vm1")
    _raises(lambda: ops.detach("pci_0000_00_1f_2"), ErrorCode.OPERATION_INVALID,
            ErrorDomain.NONE, f"PCI device {ADDR} is in use by driver QEMU, domain vm1")
    _raises(lambda: ops.reattach("pci_0000_00_1f_2"), ErrorCode.OPERATION_INVALID,
            ErrorDomain.NONE, f"PCI device {ADDR} is in use by driver QEMU, domain vm1")
    assert host.read("bus/pci/drivers_probe") == ""


def test_detach_without_vfio(host: Host) -> None:
    (host.root / "bus/pci/drivers/vfio-pci").rmdir()
    _raises(lambda: host.ops().detach("pci_0000_00_1f_2"), ErrorCode.INTERNAL_ERROR,
            ErrorDomain.NONE, "Failed to load PCI stub module vfio-pci")
    os.unlink(Path(host.table.paths.dev) / "vfio" / "vfio")
    _raises(lambda: host.ops().detach("pci_0000_00_1f_2"), ErrorCode.ARGUMENT_UNSUPPORTED,
            ErrorDomain.QEMU, "VFIO device assignment is currently not supported on this system")


def test_reset(host: Host) -> None:
    cfg = host.root / PCI / "config"
    reset = host.root / PCI / "reset"
    _raises(lambda: host.ops().reset("pci_0000_00_1f_2"), ErrorCode.INTERNAL_ERROR,
            ErrorDomain.NONE, f"Unable to reset PCI device {ADDR}: "
            "no FLR, PM reset or bus reset available")
    reset.write_text("")
    host.ops().reset("pci_0000_00_1f_2")
    assert reset.read_text() == "1"
    reset.write_text("")
    flr = bytearray(pci_config(0, pcie_type=0))
    flr[0x44 + 3] |= 0x10  # DEVCAP FLR: QEMU does it, libvirt does nothing
    cfg.write_bytes(bytes(flr))
    host.ops().reset("pci_0000_00_1f_2")
    assert reset.read_text() == ""
    cfg.write_bytes(pci_config(1, pcie_type=4))
    _raises(lambda: host.ops().reset("pci_0000_00_1f_2"), ErrorCode.INTERNAL_ERROR,
            ErrorDomain.NONE, f"Invalid attempt to reset PCI device {ADDR}. "
            "Only PCI endpoint devices can be reset")
    cfg.write_bytes(pci_config(0))
    host.users[(0, 0, 31, 2)] = ("QEMU", "vm1")
    _raises(lambda: host.ops().reset("pci_0000_00_1f_2"), ErrorCode.INTERNAL_ERROR,
            ErrorDomain.NONE, f"Not resetting active device {ADDR}")


def test_real_host_cannot_bind() -> None:
    """This VM has no IOMMU (and no vfio-pci module): no device can be bound here, and
    detach says so with libvirt's error before touching any device. On a host with an
    IOMMU this test fails, to be replaced by a real bind of a spare device."""
    groups = os.listdir("/sys/kernel/iommu_groups") if os.path.isdir(
        "/sys/kernel/iommu_groups") else []
    assert groups == [], "this host has an IOMMU: write the real vfio-pci bind test here"
    table = table_for(HostPaths(), monitor=False)
    try:
        pci = next(d.name for d in table.snapshot() if d.name.startswith("pci_"))
        _raises(lambda: PCIHostdev(table).detach(pci), ErrorCode.ARGUMENT_UNSUPPORTED,
                ErrorDomain.QEMU,
                "VFIO device assignment is currently not supported on this system")
    finally:
        release(table)
