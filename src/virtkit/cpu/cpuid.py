"""The ``cpuid`` instruction, run the way libvirt runs it: in this process.

libvirt (``virHostCPUX86GetCPUID``) executes ``cpuid`` directly. Python cannot, so
:func:`cpuid` maps a 27-byte x86-64 function into an executable page (``mmap``) and
calls it through ``ctypes``. :func:`cpuid_dev` reads the same registers from the
kernel's ``/dev/cpu/N/cpuid`` (module ``cpuid``; root only), which runs the
instruction in the kernel on CPU ``N``: the tests compare the two.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
from collections.abc import Callable
from functools import cache
from typing import Any

__all__ = ["Regs", "cpuid", "cpuid_dev", "supported"]

Regs = tuple[int, int, int, int]  # eax, ebx, ecx, edx

# void f(uint32_t leaf, uint32_t subleaf, uint32_t out[4])   (System V x86-64 ABI)
_CODE = bytes([
    0x53,                    # push rbx (callee-saved; cpuid clobbers it)
    0x89, 0xF8,              # mov eax, edi
    0x89, 0xF1,              # mov ecx, esi
    0x49, 0x89, 0xD0,        # mov r8, rdx
    0x0F, 0xA2,              # cpuid
    0x41, 0x89, 0x00,        # mov [r8], eax
    0x41, 0x89, 0x58, 0x04,  # mov [r8+4], ebx
    0x41, 0x89, 0x48, 0x08,  # mov [r8+8], ecx
    0x41, 0x89, 0x50, 0x0C,  # mov [r8+12], edx
    0x5B,                    # pop rbx
    0xC3,                    # ret
])

_Func = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32,
                         ctypes.POINTER(ctypes.c_uint32))


def supported() -> bool:
    """True on x86-64, where :func:`cpuid` can run."""
    return platform.machine() in ("x86_64", "AMD64")


@cache
def _function() -> tuple[mmap.mmap, Callable[[int, int, Any], None]]:
    page = mmap.mmap(-1, mmap.PAGESIZE,
                     prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(_CODE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    func: Callable[[int, int, Any], None] = _Func(address)
    return page, func  # the page is kept alive with the function


def cpuid(leaf: int, subleaf: int = 0) -> Regs:
    """``cpuid`` with EAX=leaf, ECX=subleaf, executed in this process (through the
    kernel's /dev/cpu/0/cpuid where no executable page can be mapped)."""
    try:
        func = _function()[1]
    except OSError:  # W^X policies (SELinux execmem, PaX) refuse PROT_EXEC mappings
        return cpuid_dev(leaf, subleaf)
    out = (ctypes.c_uint32 * 4)()
    func(leaf, subleaf, out)
    return out[0], out[1], out[2], out[3]


def cpuid_dev(leaf: int, subleaf: int = 0, cpu: int = 0) -> Regs:
    """The same registers read through the kernel's ``/dev/cpu/CPU/cpuid``."""
    fd = os.open(f"/dev/cpu/{cpu}/cpuid", os.O_RDONLY)
    try:
        raw = os.pread(fd, 16, (subleaf << 32) | leaf)
    finally:
        os.close(fd)
    return (int.from_bytes(raw[0:4], "little"), int.from_bytes(raw[4:8], "little"),
            int.from_bytes(raw[8:12], "little"), int.from_bytes(raw[12:16], "little"))
