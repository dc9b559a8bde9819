"""Output formatting shared by commands: virsh's tables, sizes and the ``--json`` documents."""

from __future__ import annotations

import unicodedata

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def pretty_capacity(value: int) -> tuple[float, str]:
    """vshPrettyCapacity: (number, unit) with the largest unit that keeps the number < 1024."""
    if value < 1024:
        return float(value), "B"
    limit = 1024.0
    for unit in _UNITS:
        if value < limit * 1024:
            return value / limit, unit
        limit *= 1024
    return value / limit, "EiB"


def format_capacity(value: int) -> str:
    """ "100.00 GiB" as virsh prints pool and volume sizes."""
    number, unit = pretty_capacity(value)
    return f"{number:.2f} {unit}"


def _cell_width(text: str) -> tuple[str, int]:
    """vshTableSafeEncode: escape control characters, count display columns."""
    out: list[str] = []
    width = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if (ch == "\\" and text[i + 1 : i + 2] == "x") or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
            width += 4
        elif ch.isascii():
            out.append(ch)
            width += 1
        elif not ch.isprintable():
            for byte in ch.encode():
                out.append(f"\\x{byte:02x}")
                width += 4
        else:
            out.append(ch)
            if unicodedata.combining(ch) or unicodedata.category(ch) == "Cf":
                pass
            elif unicodedata.east_asian_width(ch) in ("W", "F"):
                width += 2
            else:
                width += 1
        i += 1
    return "".join(out), width


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], show_header: bool = True
) -> str:
    """vshTablePrint: cells led by a space, columns padded to width + 2, a dashed rule."""
    all_rows = [list(header), *[list(r) for r in rows]]
    encoded = [[_cell_width(c) for c in row] for row in all_rows]
    ncols = len(header)
    widths = [0] * ncols
    for row in encoded if show_header else encoded[1:]:
        for j, (_, w) in enumerate(row):
            widths[j] = max(widths[j], w)
    lines: list[str] = []

    def render(row: list[tuple[str, int]]) -> str:
        parts: list[str] = []
        for j, (text, w) in enumerate(row):
            parts.append(" " + text)
            if j < len(row) - 1:
                parts.append(" " * (widths[j] - w + 2))
        return "".join(parts) + "\n"

    if show_header:
        lines.append(render(encoded[0]))
        lines.append("-" * sum(w + 3 for w in widths) + "\n")
    for row in encoded[1:]:
        lines.append(render(row))
    return "".join(lines)


def format_fields(pairs: Sequence[tuple[str, str]], width: int = 15) -> str:
    """The "Name:           value" layout of dominfo, net-info, pool-info (label padded to 15)."""
    return "".join(f"{label:<{width}} {value}\n" for label, value in pairs)


def to_json(document: Any) -> str:
    """The stable JSON form of ``--json`` output: 2-space indent, keys in the order given.

    virsh's "yes"/"no" become true/false, "unknown" and "no autostart" become null, so
    every flag-like field has one JSON type.
    """
    import json

    return json.dumps(_normalise(document), indent=2, ensure_ascii=False) + "\n"


_FLAG_WORDS: dict[str, bool | None] = {
    "yes": True,
    "no": False,
    "enable": True,
    "disable": False,
    "unknown": None,
    "no autostart": None,
}
_FLAG_KEYS = ("persistent", "autostart", "managed_save", "active")


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _FLAG_WORDS.get(v, v) if k in _FLAG_KEYS and isinstance(v, str) else _normalise(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value
