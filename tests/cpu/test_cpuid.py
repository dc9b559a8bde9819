"""CPUID on this host: the in-process instruction against the kernel's /dev/cpu/N/cpuid,
and the decoded host CPU against /proc/cpuinfo.

The ``cpuid`` kernel module must be loaded for /dev/cpu/0/cpuid (``modprobe cpuid``; it is
on this machine); the kernel runs the instruction on CPU 0, so the comparison pins this
process to CPU 0 too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from virtkit.cpu import cpuid, x86data
from virtkit.cpu.host import host_cpu, host_cpuid_data, microcode, phys_addr_bits
from virtkit.cpu.x86_map import VENDORS

# Linux /proc/cpuinfo flag -> libvirt feature name, for flags both always know
LINUX_FLAGS = {
    "fpu": "fpu", "tsc": "tsc", "msr": "msr", "pae": "pae", "cx8": "cx8", "apic": "apic",
    "sep": "sep", "cmov": "cmov", "mmx": "mmx", "fxsr": "fxsr", "sse": "sse", "sse2": "sse2",
    "pni": "pni", "ssse3": "ssse3", "sse4_1": "sse4.1", "sse4_2": "sse4.2",
    "pclmulqdq": "pclmuldq", "aes": "aes", "avx": "avx", "avx2": "avx2", "f16c": "f16c",
    "popcnt": "popcnt", "movbe": "movbe", "bmi1": "bmi1", "bmi2": "bmi2", "adx": "adx",
    "rdrand": "rdrand", "rdseed": "rdseed", "sha_ni": "sha-ni", "smep": "smep",
    "smap": "smap", "nx": "nx", "lm": "lm", "syscall": "syscall", "rdtscp": "rdtscp",
    "pdpe1gb": "pdpe1gb", "abm": "abm", "sse4a": "sse4a", "avx512f": "avx512f",
    "vaes": "vaes", "clwb": "clwb", "clflushopt": "clflushopt", "xsave": "xsave",
    "xsaveopt": "xsaveopt", "fma": "fma", "erms": "erms", "umip": "umip",
}


def _cpuinfo() -> dict[str, str]:
    out: dict[str, str] = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, sep, value = line.partition(":")
            if not sep:
                if out:
                    break  # the first CPU only
                continue
            out.setdefault(key.strip(), value.strip())
    return out


@pytest.fixture
def on_cpu0() -> Iterator[None]:
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def test_instruction_matches_kernel(on_cpu0: None) -> None:
    assert cpuid.supported()
    for leaf, sub in ((0, 0), (1, 0), (7, 0), (0xD, 1), (0x80000000, 0), (0x80000001, 0),
                      (0x80000008, 0)):
        mine, kernel = cpuid.cpuid(leaf, sub), cpuid.cpuid_dev(leaf, sub)
        if leaf == 1:  # EBX[31:24]: the initial APIC id, which the two may see differently
            mine = (mine[0], mine[1] & 0x00FFFFFF, mine[2], mine[3])
            kernel = (kernel[0], kernel[1] & 0x00FFFFFF, kernel[2], kernel[3])
        assert mine == kernel, (hex(leaf), sub)


def test_host_data_vendor_and_signature() -> None:
    info = _cpuinfo()
    data = host_cpuid_data()
    vendor = x86data.take_vendor(x86data.copy(data))
    assert vendor is not None and VENDORS[vendor] == info["vendor_id"]
    cpu = host_cpu((1, 1, 1, 1))
    assert cpu.signature == (int(info["cpu family"]), int(info["model"]),
                             int(info["stepping"]))
    assert cpu.vendor == vendor
    if "microcode" in info:
        assert microcode() == int(info["microcode"], 0) == cpu.microcode
    assert phys_addr_bits() == int(info["address sizes"].split()[0]) == cpu.maxphysaddr_bits


def test_host_features_agree_with_cpuinfo() -> None:
    """A feature Linux lists is in the decoded CPU (model or extra features), and one it
    does not list is not (the kernel may hide a few it cannot use; those it shows must
    be there)."""
    flags = set(_cpuinfo()["flags"].split())
    cpu = host_cpu((1, 1, 1, 1))
    have = set(x86data.MODEL_BY_NAME[cpu.model or ""].features) | {n for n, _ in cpu.features}
    for linux, name in LINUX_FLAGS.items():
        if linux in flags:
            assert name in have, name
    assert {n for n, p in cpu.features if p is not None} == set()  # host: no policies
