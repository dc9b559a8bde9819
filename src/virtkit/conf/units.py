"""Sizes with units, as libvirt reads them (``virScaleInteger``).

Suffixes are case-insensitive. ``b``/``byte``/``bytes`` mean 1; a single
letter (``k``, ``M``, ``G``, ``T``, ``P``, ``E``) or the letter plus ``iB``
(``KiB`` ...) is a power of 1024; the letter plus ``B`` (``KB``, ``MB`` ...)
is a power of 1000. No suffix means the caller's default scale.
"""

from __future__ import annotations

from virtkit.errors import ErrorCode, ErrorDomain, make_error

ULLONG_MAX = 2**64 - 1
LLONG_MAX = 2**63 - 1

# What C's isspace() accepts (strtoull skips it).
_C_SPACE = " \t\n\v\f\r"
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def unit_scale(suffix: str | None, default: int = 1, domain: int = ErrorDomain.NONE) -> int:
    """The multiplier a unit suffix stands for; ``default`` when there is none."""
    if not suffix:
        if not default:
            raise make_error(ErrorCode.INTERNAL_ERROR, domain, f"invalid scale {default}")
        return default
    low = suffix.lower()
    if low in ("b", "byte", "bytes"):
        return 1
    if len(suffix) == 1 or low[1:] == "ib":
        base = 1024
    elif len(suffix) == 2 and low[1] == "b":
        base = 1000
    else:
        raise make_error(ErrorCode.INVALID_ARG, domain, f"unknown suffix '{suffix}'")
    power = _POWERS.get(low[0])
    if power is None:
        raise make_error(ErrorCode.INVALID_ARG, domain, f"unknown suffix '{suffix}'")
    return int(base**power)


def scale_integer(
    value: int,
    suffix: str | None,
    default: int = 1,
    limit: int = ULLONG_MAX,
    domain: int = ErrorDomain.NONE,
) -> int:
    """``value`` times the scale of ``suffix``, refusing results above ``limit``."""
    scale = unit_scale(suffix, default, domain)
    if value and value > limit // scale:
        raise make_error(ErrorCode.OVERFLOW, domain, f"value too large: {value}{suffix or ''}")
    return value * scale


def parse_ull(text: str) -> int:
    """A base-10 unsigned integer as ``virStrToLong_ullp`` reads it.

    Leading white space and a ``+`` are allowed; a sign ``-``, anything after
    the digits, or a value above ULLONG_MAX is a ValueError.
    """
    s = text.lstrip(_C_SPACE)
    if s[:1] == "+":
        s = s[1:]
    if not s or not s.isascii() or not s.isdigit():
        raise ValueError(text)
    value = int(s, 10)
    if value > ULLONG_MAX:
        raise ValueError(text)
    return value


def parse_size(
    text: str,
    unit: str | None,
    default: int = 1,
    limit: int = ULLONG_MAX,
    domain: int = ErrorDomain.NONE,
    what: str = "size",
) -> int:
    """Parse the number ``text`` with ``unit`` into bytes (libvirt's ``virParseScaledValue``)."""
    try:
        number = parse_ull(text)
    except ValueError:
        raise make_error(
            ErrorCode.XML_ERROR, domain,
            f"Invalid value '{text}' for element or attribute '{what}'",
        ) from None
    return scale_integer(number, unit, default, limit, domain)

