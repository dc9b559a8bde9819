"""The host CPU as libvirt describes it (virCPUx86GetHost + virCPUProbeHost).

CPUID comes from the ``cpuid`` instruction run in this process (:mod:`virtkit.cpu.cpuid`),
as libvirt runs it. Only the leaves and sub-leaves the CPU map names are read
(libvirt reads every leaf up to the maximum, but only the map's bits matter to the
decoded model and features). Microcode and the physical address size come from
``/proc/cpuinfo``; the invariant TSC frequency from KVM (``KVM_GET_TSC_KHZ`` on a
throw-away vCPU, as libvirt does) when ``/dev/kvm`` opens.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from functools import cache

from virtkit.cpu import x86, x86data
from virtkit.cpu.cpudef import HOST, CPUDef
from virtkit.cpu.cpuid import cpuid
from virtkit.cpu.x86_map import FEATURES
from virtkit.cpu.x86_types import CPUID

__all__ = ["host_cpu", "host_cpuid_data", "microcode", "phys_addr_bits", "tsc_info"]

CPUINFO = "/proc/cpuinfo"
KVM_DEVICE = "/dev/kvm"
_KVM_CREATE_VM = 0xAE01
_KVM_CHECK_EXTENSION = 0xAE03
_KVM_CREATE_VCPU = 0xAE41
_KVM_GET_TSC_KHZ = 0xAEA3
_KVM_CAP_TSC_CONTROL = 60
_BASIC, _EXTENDED = 0x0, 0x80000000


def host_cpuid_data() -> x86data.Data:
    """This CPU's CPUID registers for leaf 0, leaf 1 and every (leaf, sub-leaf) of the
    map within the basic and extended ranges the CPU reports."""
    limits = {_BASIC: cpuid(_BASIC)[0], _EXTENDED: cpuid(_EXTENDED)[0]}
    keys = {(0, 0), (1, 0)}
    for feat in FEATURES:
        keys.update((leaf, sub) for kind, leaf, sub, *_ in feat.items if kind == CPUID)
    data: x86data.Data = {}
    for leaf, sub in sorted(keys):
        base = _EXTENDED if leaf >= _EXTENDED else _BASIC
        if (leaf >= 0x40000000 and base == _BASIC) or leaf > limits[base]:
            continue  # hypervisor leaves and leaves above the maximum are not read
        data[(CPUID, leaf, sub)] = list(cpuid(leaf, sub))
    return data


def _cpuinfo_value(key: str) -> str | None:
    try:
        with open(CPUINFO) as f:
            for line in f:
                name, sep, value = line.partition(":")
                if sep and name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def microcode() -> int | None:
    """The ``microcode`` of /proc/cpuinfo (virHostCPUGetMicrocodeVersion)."""
    text = _cpuinfo_value("microcode")
    if text is None:
        return None
    with contextlib.suppress(ValueError):
        return int(text, 0)
    return None


def phys_addr_bits() -> int | None:
    """``address sizes: N bits physical`` of /proc/cpuinfo (virHostCPUGetPhysAddrSize)."""
    text = _cpuinfo_value("address sizes")
    if text is None:
        return None
    with contextlib.suppress(ValueError, IndexError):
        return int(text.split()[0])
    return None


def tsc_info() -> tuple[int, str] | None:
    """(frequency in Hz, scaling 'yes'/'no') from KVM, or None (virHostCPUGetTscInfo)."""
    try:
        kvm = os.open(KVM_DEVICE, os.O_RDONLY)
    except OSError:
        return None
    vm = vcpu = -1
    try:
        vm = fcntl.ioctl(kvm, _KVM_CREATE_VM, 0)
        vcpu = fcntl.ioctl(vm, _KVM_CREATE_VCPU, 0)
        khz = fcntl.ioctl(vcpu, _KVM_GET_TSC_KHZ, 0)
        scaling = fcntl.ioctl(kvm, _KVM_CHECK_EXTENSION, _KVM_CAP_TSC_CONTROL)
    except OSError:
        return None
    finally:
        for fd in (vcpu, vm, kvm):
            if fd >= 0:
                os.close(fd)
    return khz * 1000, "yes" if scaling else "no"


@cache
def host_cpu(topology: tuple[int, int, int, int]) -> CPUDef:
    """The host ``<cpu>`` of the capabilities (type host; ``topology``: sockets, dies,
    cores, threads from the node info). Cached: the CPU does not change under us."""
    data = host_cpuid_data()
    cpu = x86.decode(data, HOST)
    cpu.arch = "x86_64"
    cpu.microcode = microcode()
    if x86data.is_subset(data, x86data.feature_data("invtsc")):
        cpu.tsc = tsc_info()
    cpu.topology = topology
    cpu.maxphysaddr_bits = phys_addr_bits()
    return cpu
