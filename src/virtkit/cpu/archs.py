"""libvirt's architecture names (virArch), for parsing ``<arch>`` and API arguments."""

from __future__ import annotations

__all__ = ["ARCH_NAMES"]

ARCH_NAMES = frozenset({
    "alpha", "armv6l", "armv7l", "armv7b", "aarch64", "cris", "i686", "ia64", "lm32",
    "loongarch64", "m68k", "microblaze", "microblazeel", "mips", "mipsel", "mips64",
    "mips64el", "openrisc", "parisc", "parisc64", "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb",
    "riscv32", "riscv64", "s390", "s390x", "sh4", "sh4eb", "sparc", "sparc64", "unicore32",
    "x86_64", "xtensa", "xtensaeb",
})
