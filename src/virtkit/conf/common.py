"""Helpers shared by every XML format: UUIDs as libvirt reads and makes them."""

from __future__ import annotations

import uuid as _uuid

_HEX = frozenset("0123456789abcdefABCDEF")


def parse_uuid(text: str) -> str | None:
    """Canonical form of a UUID as libvirt's ``virUUIDParse`` reads it, or None.

    Surrounding whitespace and ``-`` or space between hex pairs are allowed;
    braces and ``urn:uuid:`` prefixes are not.
    """
    digits: list[str] = []
    s = text.lstrip()
    i = 0
    n = len(s)
    while len(digits) < 16:
        if i >= n:
            return None
        c = s[i]
        if c in "- ":
            i += 1
            continue
        if c not in _HEX or i + 1 >= n or s[i + 1] not in _HEX:
            return None
        digits.append(s[i : i + 2])
        i += 2
    if s[i:].strip():
        return None
    h = "".join(digits).lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_uuid() -> str:
    """A fresh random UUID in canonical form (libvirt's ``virUUIDGenerate``)."""
    return str(_uuid.uuid4())
