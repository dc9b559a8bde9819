"""The QEMU driver's CPU model APIs and sysinfo, as libvirt 9.0's qemu_driver.c has them.

``virConnectGetCPUModelNames``, ``virConnectCompareCPU``, ``virConnectBaselineCPU``
(against the host CPU of the capabilities) and ``virConnectCompareHypervisorCPU``,
``virConnectBaselineHypervisorCPU`` (against the CPU this QEMU can run: its
host-model, decoded from QEMU's expansion of ``max`` (TCG) or ``host`` (KVM) with the
models QEMU reports usable), plus ``virConnectGetSysinfo``. The CPU logic lives in
:mod:`virtkit.cpu`; this module resolves the QEMU side.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from typing import Any

from virtkit.constants import ConnectBaselineCPUFlags, ConnectCompareCPUFlags
from virtkit.cpu import cpudef, x86
from virtkit.cpu import x86data as xd
from virtkit.cpu.archs import ARCH_NAMES
from virtkit.cpu.cpudef import CPUDef
from virtkit.cpu.x86_map import FEATURES, PPC64_MODELS, VENDORS
from virtkit.cpu.x86_types import CPUID
from virtkit.drivers import nodeinfo
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, invalid_flags, make_error

__all__ = ["CpuApiMixin", "filter_qemu_features", "hypervisor_cpu", "qemu_feature_name"]

_COMPARE_FLAGS = int(ConnectCompareCPUFlags.FAIL_INCOMPATIBLE | ConnectCompareCPUFlags.VALIDATE_XML)
_BASELINE_FLAGS = int(ConnectBaselineCPUFlags.EXPAND_FEATURES | ConnectBaselineCPUFlags.MIGRATABLE)
# features libvirt never passes to QEMU (virQEMUCapsCPUFilterFeatures)
_QEMU_FILTERED = frozenset({"cmt", "mbm_total", "mbm_local", "osxsave", "ospke"})
_QEMU_NAMES: dict[str, str] = {a: f.name for f in FEATURES for a in f.aliases}
_PROBE_TIMEOUT = 30.0
_PPC64_ARCHS = frozenset({"ppc64", "ppc64le"})
_NO_MODEL_LIST_ARCHS = frozenset({"s390", "s390x", "armv6l", "armv7l", "armv7b", "aarch64"})


def _err(code: ErrorCode, msg: str, domain: ErrorDomain = ErrorDomain.QEMU) -> VirtError:
    return make_error(code, domain, msg)


def _check_flags(flags: int, allowed: int, function: str) -> None:
    if int(flags) & ~int(allowed):
        raise invalid_flags(int(flags) & ~int(allowed), function, ErrorDomain.QEMU)


def qemu_feature_name(name: str) -> str:
    """libvirt's name for a QEMU CPU property (virQEMUCapsCPUFeatureFromQEMU)."""
    return _QEMU_NAMES.get(name, name)


def filter_qemu_features(cpu: CPUDef) -> None:
    """Drop the features libvirt keeps from QEMU (virQEMUCapsCPUFilterFeatures)."""
    cpu.features = [(n, p) for n, p in cpu.features if n not in _QEMU_FILTERED]


def _signature_eax(family: int, model: int, stepping: int) -> int:
    """x86MakeSignature: CPUID leaf 1 EAX of a family/model/stepping."""
    ext_family = family - 0xF if family > 0xF else 0
    base_family = min(family, 0xF)
    return ((ext_family << 20) | ((model >> 4) << 16) | (base_family << 8)
            | ((model & 0xF) << 4) | (stepping & 0xF))


@cache
def _expansion(binary: str, stamp: tuple[int, int], accel: str) -> dict[str, Any]:
    """QEMU's static expansion of ``max``/``host`` (props) and its CPU definitions,
    asked once per binary identity (path, size, mtime) as libvirt's caps cache does."""
    from virtkit.drivers.qemu.qemucaps_probe import probe_monitor

    model = "host" if accel == "kvm" else "max"
    with probe_monitor(binary, accel, _PROBE_TIMEOUT) as mon:
        mig = mon.execute("query-cpu-model-expansion",
                          {"type": "static", "model": {"name": model}})
        nonmig = mon.execute("query-cpu-model-expansion", {
            "type": "static", "model": {"name": model, "props": {"migratable": False}}})
        defs = mon.execute("query-cpu-definitions")
    return {"props": mig["model"]["props"], "nonmig": nonmig["model"]["props"],
            "models": {d["name"]: [qemu_feature_name(f)
                                   for f in d.get("unavailable-features", [])]
                       for d in defs}}


def _binary_stamp(binary: str) -> tuple[int, int]:
    try:
        st = os.stat(binary)
    except OSError as exc:
        raise _err(ErrorCode.SYSTEM_ERROR,
                   f"Cannot check QEMU binary {binary}: {exc.strerror}") from None
    return st.st_size, st.st_mtime_ns


def _enabled_features(exp: dict[str, Any]) -> list[str]:
    """libvirt names of the features the expansion enables, non-migratable ones included
    (the host-model CPU libvirt reports)."""
    props, nonmig = exp["props"], exp["nonmig"]
    return [qemu_feature_name(n) for n in sorted(set(props) | set(nonmig))
            if props.get(n) is True or nonmig.get(n) is True]


def _known_features(exp: dict[str, Any], migratable: bool) -> list[str]:
    """virQEMUCapsGetCPUFeatures: every property of the expansion, enabled or not (with
    ``migratable``, not those only the non-migratable expansion enables)."""
    props, nonmig = exp["props"], exp["nonmig"]
    return [qemu_feature_name(n) for n in props
            if not (migratable and props[n] is False and nonmig.get(n) is True)]


def hypervisor_cpu(binary: str, accel: str) -> tuple[CPUDef, dict[str, Sequence[str]],
                                                      list[str], list[str]]:
    """(host-model CPU as reported, usable models -> blockers, features, migratable
    features) of ``binary`` under ``accel`` (virQEMUCapsInitHostCPUModel)."""
    exp = _expansion(binary, _binary_stamp(binary), accel)
    props = exp["props"]
    data: xd.Data = {}
    for name in _enabled_features(exp):
        if name in xd.FEATURE_BY_NAME:
            xd.add(data, xd.feature_data(name))
    vendor = props.get("vendor")
    for vname, vstring in VENDORS.items():
        if vstring == vendor:
            xd.add(data, xd.vendor_data(vname))
    sig = _signature_eax(int(props.get("family", 0)), int(props.get("model", 0)),
                         int(props.get("stepping", 0)))
    data.setdefault((CPUID, 1, 0), [0, 0, 0, 0])[0] |= sig  # leaf 1 EAX: the signature
    models = exp["models"]
    cpu = x86.decode(data, cpudef.GUEST, models)
    cpu.signature = None
    cpu.mode, cpu.match, cpu.fallback = "custom", "exact", "forbid"
    return cpu, models, _known_features(exp, False), _known_features(exp, True)


class CpuApiMixin:
    """CPU model APIs and sysinfo for :class:`~virtkit.drivers.qemu.driver.QemuDriver`."""

    _node: Any

    # ---------------------------------------------------------------- host CPU

    def _host_cpu(self) -> CPUDef:
        from virtkit.drivers.qemu.caps import host_cpu_def

        return host_cpu_def()

    def connect_get_cpu_model_names(self, arch: str, flags: int = 0) -> list[str]:
        """virConnectGetCPUModelNames: the CPU map's models for ``arch``."""
        _check_flags(flags, 0, "qemuConnectGetCPUModelNames")
        if not arch or arch not in ARCH_NAMES:
            raise _err(ErrorCode.INVALID_ARG, f"cannot find architecture {arch}")
        if arch in _PPC64_ARCHS:
            return list(PPC64_MODELS)
        if arch in _NO_MODEL_LIST_ARCHS:
            return []  # libvirt's s390 and ARM CPU drivers list none ("all accepted")
        _x86_only(arch)
        return x86.model_names()

    def connect_compare_cpu(self, xml_desc: str, flags: int = 0) -> int:
        """virConnectCompareCPU: ``xml_desc`` against the host CPU."""
        _check_flags(flags, _COMPARE_FLAGS, "qemuConnectCompareCPU")
        cpu = cpudef.parse_cpu(xml_desc)
        fail = bool(flags & ConnectCompareCPUFlags.FAIL_INCOMPATIBLE)
        return int(x86.compare(self._host_cpu(), cpu, fail))

    def connect_baseline_cpu(self, xml_cpus: Sequence[str], flags: int = 0) -> str:
        """virConnectBaselineCPU: the guest CPU all of ``xml_cpus`` can run."""
        _check_flags(flags, _BASELINE_FLAGS, "qemuConnectBaselineCPU")
        cpus = _parse_list(xml_cpus, cpudef.HOST)
        _x86_only(cpus[0].arch or "none")
        base = x86.baseline(cpus, migratable=bool(flags & ConnectBaselineCPUFlags.MIGRATABLE))
        filter_qemu_features(base)
        if flags & ConnectBaselineCPUFlags.EXPAND_FEATURES:
            x86.expand_features(base)
        return cpudef.format_cpu(base) + "\n"

    # ---------------------------------------------------------------- hypervisor CPU

    def _hv_target(self, emulator: str | None, arch: str | None, machine: str | None,
                   virttype: str | None) -> tuple[str, str]:
        from virtkit.drivers.qemu import domcaps, qemucaps_probe

        binary = domcaps.check_args(emulator or None, arch or None, virttype or None)
        probe = qemucaps_probe.probe(binary, self._node.paths.cache_dir)
        target = domcaps.resolve(probe, binary, arch or None, machine or None,
                                 virttype or None)
        return target.emulator, "kvm" if target.virttype == "kvm" else "tcg"

    def connect_compare_hypervisor_cpu(self, emulator: str | None, arch: str | None,
                                       machine: str | None, virttype: str | None,
                                       xml_cpu: str, flags: int = 0) -> int:
        """virConnectCompareHypervisorCPU: ``xml_cpu`` against what this QEMU runs."""
        _check_flags(flags, _COMPARE_FLAGS, "qemuConnectCompareHypervisorCPU")
        binary, accel = self._hv_target(emulator, arch, machine, virttype)
        hv_cpu = hypervisor_cpu(binary, accel)[0]
        cpu = cpudef.parse_cpu(xml_cpu)
        fail = bool(flags & ConnectCompareCPUFlags.FAIL_INCOMPATIBLE)
        return int(x86.compare(hv_cpu, cpu, fail))

    def connect_baseline_hypervisor_cpu(self, emulator: str | None, arch: str | None,
                                        machine: str | None, virttype: str | None,
                                        xml_cpus: Sequence[str], flags: int = 0) -> str:
        """virConnectBaselineHypervisorCPU: a CPU this QEMU can run on every host given."""
        _check_flags(flags, _BASELINE_FLAGS, "qemuConnectBaselineHypervisorCPU")
        cpus = _parse_list(xml_cpus, None)
        binary, accel = self._hv_target(emulator, arch, machine, virttype)
        _, models, features, mig_features = hypervisor_cpu(binary, accel)
        migratable = bool(flags & ConnectBaselineCPUFlags.MIGRATABLE)
        if not models:
            raise _err(ErrorCode.OPERATION_UNSUPPORTED,
                       f"QEMU '{binary}' does not support any CPU models for virttype "
                       f"'{'kvm' if accel == 'kvm' else 'qemu'}'")
        cpu = x86.baseline(cpus, models, mig_features if migratable else features)
        cpu.fallback = "forbid"
        if flags & ConnectBaselineCPUFlags.EXPAND_FEATURES:
            x86.expand_features(cpu)
        return cpudef.format_cpu(cpu) + "\n"

    # ---------------------------------------------------------------- sysinfo

    def connect_get_sysinfo(self, flags: int = 0) -> str:
        """virConnectGetSysinfo: the host's SMBIOS tables (dmidecode), or libvirt's error."""
        _check_flags(flags, 0, "qemuConnectGetSysinfo")
        text = nodeinfo.host_sysinfo_xml()
        if text is None:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED, "Host SMBIOS information is not available")
        return text


def _x86_only(arch: str) -> None:
    if arch not in x86.ARCHS:
        raise _err(ErrorCode.NO_SUPPORT,
                   f"'{arch}' architecture is not supported by CPU driver", ErrorDomain.CPU)


def _parse_list(xml_cpus: Sequence[str], cpu_type: str | None) -> list[CPUDef]:
    """virCPUDefListParse + virCPUBaseline's checks (errors as libvirt words them)."""
    if not xml_cpus:
        raise _err(ErrorCode.INVALID_ARG, "no CPUs given", ErrorDomain.CPU)
    cpus = [cpudef.parse_cpu(x, cpu_type) for x in xml_cpus]
    for i, cpu in enumerate(cpus):
        if not cpu.model:
            raise _err(ErrorCode.INVALID_ARG, f"no CPU model specified at index {i}",
                       ErrorDomain.CPU)
    return cpus
