"""Values that reach generated files (dnsmasq config and hosts files, nftables rulesets).

A control character there starts a new dnsmasq option or nft statement, so such values are
refused at define (VIR_ERR_XML_DETAIL naming the element) and again by the generators
(defence in depth, for objects built in Python). libvirt 9.0 lets a newline through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from virtkit.errors import ErrorCode, VirtError, make_error

__all__ = ["check_values", "control_char", "refuse_control"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def control_char(value: str) -> str | None:
    """The first C0 control character or DEL in ``value``, if any."""
    m = _CONTROL.search(value)
    return m.group() if m else None


def refuse_control(value: str | None, where: str, domain: int) -> None:
    """Raise VIR_ERR_XML_DETAIL when ``value`` holds a control character."""
    ch = control_char(value) if value else None
    if ch is not None:
        raise _error(ch, where, domain)


def check_values(values: Iterable[tuple[str, str | None]], domain: int) -> None:
    """:func:`refuse_control` for every ``(where, value)``."""
    for where, value in values:
        refuse_control(value, where, domain)


def _error(ch: str, where: str, domain: int) -> VirtError:
    return make_error(ErrorCode.XML_DETAIL, domain,
                      f"control character U+{ord(ch):04X} is not allowed in {where}")
