"""``nodedev-detach``, ``nodedev-reattach`` and ``nodedev-reset`` of a PCI device, as
libvirt's QEMU driver does them (qemuNodeDeviceDetachFlags and virhostdev.c/virpci.c):
bind to vfio-pci through ``driver_override`` + unbind + ``drivers_probe``, back to the
device's own driver, or reset a function that no domain uses.

The hypervisor driver that owns domains passes ``in_use``: which domain (and driver)
holds a PCI address, libvirt's active hostdev list."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

from virtkit.drivers.nodedev.hwinfo import HEADER_TYPES, PCIConfig
from virtkit.drivers.nodedev.model import PCIAddr, PCICap
from virtkit.drivers.nodedev.table import DeviceTable
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, invalid_flags, make_error

__all__ = ["PCIHostdev"]

_STUB = "vfio-pci"
InUse = Callable[[PCIAddr], "tuple[str, str] | None"]


def _err(code: int, domain: int, text: str) -> VirtError:
    return make_error(code, domain, text)


def _sys_err(exc: OSError, text: str) -> VirtError:
    """virReportSystemError: the message, then the errno's text."""
    return _err(ErrorCode.SYSTEM_ERROR, ErrorDomain.NONE, f"{text}: {exc.strerror}")


def _pci_name(a: PCIAddr) -> str:
    return f"{a[0]:04x}:{a[1]:02x}:{a[2]:02x}.{a[3]:x}"


class PCIHostdev:
    """Detach, reattach and reset the PCI devices of one device table."""

    def __init__(self, table: DeviceTable, in_use: InUse | None = None,
                 modprobe: bool = True) -> None:
        self.table = table
        self.in_use = in_use or (lambda addr: None)
        self.modprobe = modprobe and table.paths.sysfs == "/sys"

    # ------------------------------------------------------------ helpers

    def _pci(self, name: str) -> PCIAddr:
        """virDomainDriverNodeDeviceGetPCIInfo on the device's current definition."""
        d = self.table.get(name)
        if d is None:
            raise _err(ErrorCode.NO_NODE_DEVICE, ErrorDomain.NODEDEV,
                       f"no node device with matching name '{name}'")
        if not isinstance(d.cap, PCICap):
            raise _err(ErrorCode.INVALID_ARG, ErrorDomain.DOMAIN,
                       f"device {name} is not a PCI device")
        c = d.cap
        return c.domain, c.bus, c.slot, c.function

    def _dev_dir(self, addr: PCIAddr) -> str:
        return self.table.paths.sys("bus", "pci", "devices", _pci_name(addr))

    def _driver_dir(self, driver: str) -> str:
        return self.table.paths.sys("bus", "pci", "drivers", driver)

    def _current_driver(self, addr: PCIAddr) -> str | None:
        link = os.path.join(self._dev_dir(addr), "driver")
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def _check_unused(self, addr: PCIAddr) -> None:
        """virHostdevIsPCINodeDeviceUsed."""
        user = self.in_use(addr)
        if user is not None:
            drv, dom = user
            raise _err(ErrorCode.OPERATION_INVALID, ErrorDomain.NONE,
                       f"PCI device {_pci_name(addr)} is in use by driver {drv}, domain {dom}")

    def _write(self, path: str, text: str) -> None:
        """virFileWriteStr with mode 0: an existing file only (sysfs attributes)."""
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    def _bind_with_override(self, addr: PCIAddr, driver: str) -> None:
        """virPCIDeviceBindWithDriverOverride: override, unbind, probe."""
        name = _pci_name(addr)
        try:
            self._write(os.path.join(self._dev_dir(addr), "driver_override"), driver)
        except OSError as exc:
            raise _sys_err(exc, f"Failed to add driver '{driver}' to driver_override  "
                                f"interface of PCI device '{name}'") from None
        current = self._current_driver(addr)
        unbind = os.path.join(self._dev_dir(addr), "driver", "unbind")
        if current is not None and os.path.exists(unbind):
            try:
                self._write(unbind, name)
            except OSError as exc:
                raise _sys_err(exc, f"Failed to unbind PCI device '{name}' from {current}") \
                    from None
        try:
            self._write(self.table.paths.sys("bus", "pci", "drivers_probe"), name)
        except OSError as exc:
            raise _sys_err(exc, f"Failed to trigger a probe for PCI device '{name}'") from None

    def _host_supports_vfio(self) -> bool:
        """qemuHostdevHostSupportsPassthroughVFIO: an IOMMU and /dev/vfio/vfio."""
        groups = self.table.paths.sys("kernel", "iommu_groups")
        try:
            has_iommu = bool(os.listdir(groups))
        except OSError:
            has_iommu = False
        return has_iommu and os.path.exists(os.path.join(self.table.paths.dev, "vfio", "vfio"))

    def _probe_stub(self) -> None:
        """virPCIProbeStubDriver: vfio-pci loaded, or loaded now."""
        if os.path.exists(self._driver_dir(_STUB)):
            return
        if self.modprobe:
            subprocess.run(["modprobe", _STUB], capture_output=True, check=False, timeout=60)
            if os.path.exists(self._driver_dir(_STUB)):
                return
        raise _err(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                   f"Failed to load PCI stub module {_STUB}")

    # ------------------------------------------------------------ the calls

    def detach(self, name: str, driver_name: str | None = None, flags: int = 0) -> None:
        """qemuNodeDeviceDetachFlags (virNodeDeviceDettach: driver None, flags 0)."""
        if flags:
            raise invalid_flags(flags, "qemuNodeDeviceDetachFlags", ErrorDomain.QEMU)
        driver_name = driver_name or "vfio"
        if driver_name not in ("vfio", "kvm"):
            raise _err(ErrorCode.INVALID_ARG, ErrorDomain.QEMU,
                       f"unknown driver name '{driver_name}'")
        if driver_name == "kvm":
            raise _err(ErrorCode.ARGUMENT_UNSUPPORTED, ErrorDomain.QEMU,
                       "KVM device assignment is no longer supported on this system")
        if not self._host_supports_vfio():
            raise _err(ErrorCode.ARGUMENT_UNSUPPORTED, ErrorDomain.QEMU,
                       "VFIO device assignment is currently not supported on this system")
        addr = self._pci(name)
        self._check_unused(addr)
        self._probe_stub()
        if self._current_driver(addr) == _STUB:
            return  # already bound to the stub
        self._bind_with_override(addr, _STUB)

    def reattach(self, name: str) -> None:
        """qemuNodeDeviceReAttach: back to the device's preferred driver."""
        addr = self._pci(name)
        self._check_unused(addr)
        self._bind_with_override(addr, "\n")

    def reset(self, name: str) -> None:
        """qemuNodeDeviceReset (virPCIDeviceReset): endpoints only, never one in use;
        one bound to vfio-pci is left to vfio-pci, which resets it itself."""
        addr = self._pci(name)
        pci = _pci_name(addr)
        path = os.path.join(self._dev_dir(addr), "config")
        try:
            cfg = PCIConfig(path)
            header = cfg.header_type()
        except OSError as exc:
            raise _sys_err(exc, f"Failed to open config space file '{path}'") from None
        except ValueError:
            header = 0xFF
        if header >= len(HEADER_TYPES):
            raise _err(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                       f"Unknown PCI header type '{header}' for device '{pci}'")
        if header != 0:
            raise _err(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                       f"Invalid attempt to reset PCI device {pci}. "
                       "Only PCI endpoint devices can be reset")
        if self.in_use(addr) is not None:
            raise _err(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                       f"Not resetting active device {pci}")
        if self._current_driver(addr) == _STUB:
            return
        if cfg.has_flr():
            return  # QEMU does the FLR when it starts and stops a guest: libvirt skips it
        reset = os.path.join(self._dev_dir(addr), "reset")
        try:
            self._write(reset, "1")
        except OSError:
            raise _err(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                       f"Unable to reset PCI device {pci}: "
                       "no FLR, PM reset or bus reset available") from None
