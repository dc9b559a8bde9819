"""vCPU and emulator pinning for the test driver.

Pins live in the definition as libvirt keeps them (``<cputune><vcpupin>``,
``<cputune><emulatorpin>``), so they show in ``dumpxml``. When no pin is set,
a vCPU or the emulator runs on ``<vcpu cpuset=...>``, else on every host CPU.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from virtkit.drivers.inmemory.common import AFFECT_CONFIG, AFFECT_LIVE, Base, check_flags, err
from virtkit.drivers.inmemory.domains import live_def
from virtkit.drivers.inmemory.domconfig import _one_def
from virtkit.drivers.inmemory.tuning import format_bitmap, parse_bitmap
from virtkit.errors import ErrorCode, VirtError
from virtkit.types import DomainIdent, VcpuInfo

if TYPE_CHECKING:
    from virtkit.conf.domain import DomainDef

__all__ = ["PinningMixin"]


def _bools(bits: set[int], size: int) -> list[bool]:
    """A bitmap as booleans, at least ``size`` long."""
    length = max(size, max(bits) + 1 if bits else 0)
    return [i in bits for i in range(length)]


def vcpu_pins(d: DomainDef) -> dict[int, set[int]]:
    """``<vcpupin>`` masks by vCPU number."""
    out: dict[int, set[int]] = {}
    for pin in d.cputune.vcpupins if d.cputune is not None else []:
        try:
            out[int(pin.vcpu or "")] = parse_bitmap(pin.cpuset) if pin.cpuset else set()
        except (ValueError, VirtError):
            continue
    return out


def _store_cputune(d: DomainDef, vcpus: dict[int, set[int]] | None = None,
                   emulator: set[int] | None = None) -> None:
    """Write vCPU pins (in vCPU order) and/or the emulator pin back into ``<cputune>``."""
    from virtkit.conf.domain_tuning import CpuTune, EmulatorPin, VcpuPin

    if d.cputune is None:
        d.cputune = CpuTune()
    tune = d.cputune
    if vcpus is not None:
        pins = []
        for number in sorted(vcpus):
            pin = VcpuPin()
            pin.vcpu, pin.cpuset = str(number), format_bitmap(vcpus[number])
            pins.append(pin)
        tune.vcpupins = pins
    if emulator is not None:
        pin_el = tune.emulatorpin if tune.emulatorpin is not None else EmulatorPin()
        pin_el.cpuset = format_bitmap(emulator)
        tune.emulatorpin = pin_el
    if tune.to_xml().strip() == "<cputune/>":
        d.cputune = None


def _default_mask(d: DomainDef, hostcpus: int) -> set[int]:
    """``<vcpu cpuset>`` (def->cpumask), else every host CPU."""
    if d.vcpu is not None and d.vcpu.cpuset:
        return parse_bitmap(d.vcpu.cpuset)
    return set(range(hostcpus))


class PinningMixin(Base):
    """virDomainGetVcpus / PinVcpu(Flags) / GetVcpuPinInfo / PinEmulator / GetEmulatorPinInfo."""

    pin_vcpu_legacy_flags = 0  # testDomainPinVcpu calls the Flags variant with 0

    def _hostcpus(self) -> int:
        """VIR_NODEINFO_MAXCPUS of the node."""
        ni = self._node.node_info
        return int(ni.nodes * ni.sockets * ni.cores * ni.threads)

    def domain_get_vcpus(self, dom: DomainIdent) -> tuple[list[VcpuInfo], list[list[bool]]]:
        with self._node.lock:
            obj = self._dom(dom)
            if obj.id == -1:
                raise err(ErrorCode.OPERATION_INVALID, "cannot list vcpus for an inactive domain")
            d = obj.defn
            hostcpus = self._hostcpus()
            statbase = time.time_ns() // 1000
            pins = vcpu_pins(d)
            default = _default_mask(d, hostcpus)
            online = _online_vcpus(d)
            infos, maps = [], []
            for i in range(d.vcpus_current):
                if i not in online:
                    # libvirt leaves an offline vCPU's slot zeroed (number 0, offline)
                    infos.append(VcpuInfo(0, 0, 0, 0))
                    maps.append([False] * hostcpus)
                    continue
                mask = pins.get(i, default)
                infos.append(VcpuInfo(i, 1, statbase // 10, max(mask) if mask else -1))
                maps.append(_bools(mask, hostcpus))
            return infos, maps

    def domain_pin_vcpu_flags(
        self, dom: DomainIdent, vcpu: int, cpumap: list[bool], flags: int = 0
    ) -> None:
        check_flags(flags, 0, "testDomainPinVcpuFlags")
        with self._node.lock:
            obj = self._dom(dom)
            if obj.id == -1:
                raise err(ErrorCode.OPERATION_INVALID, "cannot pin vcpus on an inactive domain")
            if not 0 <= vcpu < obj.defn.vcpus_current:
                signed = vcpu - (1 << 32) if vcpu >= 1 << 31 else vcpu
                raise err(ErrorCode.INVALID_ARG,
                          f"requested vcpu '{signed}' is not present in the domain")
            d = live_def(obj)
            pins = vcpu_pins(d)
            pins[vcpu] = {i for i, on in enumerate(cpumap) if on}
            _store_cputune(d, vcpus=pins)

    def domain_get_vcpu_pin_info(
        self, dom: DomainIdent, ncpumaps: int, flags: int = 0
    ) -> list[list[bool]]:
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=False)
            hostcpus = self._hostcpus()
            pins = vcpu_pins(d)
            default = _default_mask(d, hostcpus)
            count = min(int(d.vcpus_max), ncpumaps)
            return [_bools(pins.get(i, default), hostcpus) for i in range(count)]

    def domain_pin_emulator(self, dom: DomainIdent, cpumap: list[bool], flags: int = 0) -> None:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainPinEmulator")
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=True)
            mask = {i for i, on in enumerate(cpumap) if on}
            if not mask:
                raise err(ErrorCode.INVALID_ARG, "Empty cpu list for pinning")
            _store_cputune(d, emulator=mask)

    def domain_get_emulator_pin_info(self, dom: DomainIdent, flags: int = 0) -> list[bool]:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainGetEmulatorPinInfo")
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=False)
            hostcpus = self._hostcpus()
            pin = d.cputune.emulatorpin if d.cputune is not None else None
            if pin is not None and pin.cpuset:
                return _bools(parse_bitmap(pin.cpuset), hostcpus)
            return _bools(_default_mask(d, hostcpus), hostcpus)


def _online_vcpus(d: DomainDef) -> set[int]:
    """The online vCPUs: ``<vcpus><vcpu enabled='yes'>`` when listed, else the first
    ``current`` ones."""
    entries = d.vcpus.vcpus if d.vcpus is not None else []
    if not entries:
        return set(range(d.vcpus_current))
    return {int(e.id) for e in entries
            if e.enabled == "yes" and e.id is not None and e.id.isdigit()}
