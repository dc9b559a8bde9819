"""libvirt's bitmap text (``0-3,^2,7``): virBitmapParse and virBitmapFormat.

Driver-neutral: the drivers parse cpusets and nodesets with it, the CLI prints and
reads CPU lists with it.
"""

from __future__ import annotations

import re

from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["CPUMASK_LEN", "format_bitmap", "parse_bitmap"]

CPUMASK_LEN = 16384  # VIR_DOMAIN_CPUMASK_LEN
_BLANKS = " \t\n\v\f\r"
_NUMBER = re.compile(r"[ \t\n\v\f\r]*([+-]?\d+)")


def parse_bitmap(text: str, size: int = CPUMASK_LEN) -> set[int]:
    """virBitmapParse: ``0-3,^2,7`` -> {0, 1, 3, 7}; bits must be below ``size``."""
    bits: set[int] = set()
    pos, s = 0, text

    def fail() -> VirtError:
        return make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                          f"Failed to parse bitmap '{text}'")

    def skip(p: int) -> int:
        while p < len(s) and s[p] in _BLANKS:
            p += 1
        return p

    def number(p: int) -> tuple[int, int]:
        m = _NUMBER.match(s, p)
        if m is None:
            raise fail()
        return int(m.group(1)), m.end()

    pos = skip(pos)
    if pos >= len(s):
        raise fail()
    while pos < len(s):
        neg = s[pos] == "^"
        if neg:
            pos += 1
        if pos >= len(s) or not s[pos].isdigit():
            raise fail()
        start, pos = number(pos)
        if start < 0:
            raise fail()
        pos = skip(pos)
        if pos >= len(s) or s[pos] == ",":
            if start >= size:
                raise fail()
            if neg:
                bits.discard(start)
            else:
                bits.add(start)
        elif s[pos] == "-":
            if neg:
                raise fail()
            last, pos = number(pos + 1)
            if last < start or last >= size:
                raise fail()
            bits.update(range(start, last + 1))
            pos = skip(pos)
        if pos >= len(s):
            break
        if s[pos] != ",":
            raise fail()
        pos = skip(pos + 1)
    return bits


def format_bitmap(bits: set[int] | list[bool]) -> str:
    """virBitmapFormat: {0, 1, 2, 5} -> ``0-2,5``."""
    if isinstance(bits, list):
        bits = {i for i, on in enumerate(bits) if on}
    out: list[str] = []
    ordered = sorted(bits)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)
