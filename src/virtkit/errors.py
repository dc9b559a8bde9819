"""virtkit's exceptions: libvirt's error model (code, domain, level, message).

Every error carries libvirt's numeric ``code`` and ``domain`` so it can cross
libvirt's RPC protocol unchanged, and its message uses libvirt's wording:
the code's phrase, then the detail ("Domain not found: no domain with
matching name 'web1'").
"""

from __future__ import annotations

from virtkit.errtables import MESSAGES, ErrorCode, ErrorDomain, ErrorLevel

__all__ = [
    "ErrorCode",
    "ErrorDomain",
    "ErrorLevel",
    "InvalidArgError",
    "LocalToolError",
    "NoDomainError",
    "NoNetworkError",
    "NoStoragePoolError",
    "NoStorageVolError",
    "NoSupportError",
    "OperationDeniedError",
    "OperationInvalidError",
    "VirtError",
    "XMLError",
    "format_message",
    "make_error",
]


def format_message(code: int, detail: str | None) -> str:
    """Return libvirt's message for ``code``, with ``detail`` as libvirt appends it."""
    plain, template = MESSAGES.get(code, ("unknown error", "%s"))
    if detail is None:
        return plain
    return template.replace("%s", detail, 1)


class LocalToolError(Exception):
    """A local tool failed (certificates, the SASL user database): the message is for the
    user, who sees it as ``error: MESSAGE``."""


class VirtError(Exception):
    """Base of every virtkit error: libvirt's ``virError``."""

    code: int = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        domain: int = ErrorDomain.NONE,
        level: int = ErrorLevel.ERROR,
        str1: str | None = None,
        str2: str | None = None,
        str3: str | None = None,
        int1: int = 0,
        int2: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.domain = domain
        self.level = level
        self.str1 = str1
        self.str2 = str2
        self.str3 = str3
        self.int1 = int1
        self.int2 = int2

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        name = _code_name(self.code)
        return f"{type(self).__name__}({name}, {self.message!r})"


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)


class NoSupportError(VirtError):
    """VIR_ERR_NO_SUPPORT: the driver does not implement the function."""

    code = ErrorCode.NO_SUPPORT


class InvalidArgError(VirtError):
    """VIR_ERR_INVALID_ARG."""

    code = ErrorCode.INVALID_ARG


class XMLError(VirtError):
    """VIR_ERR_XML_ERROR / VIR_ERR_XML_DETAIL: malformed or invalid XML."""

    code = ErrorCode.XML_ERROR


class OperationInvalidError(VirtError):
    """VIR_ERR_OPERATION_INVALID: the object is in the wrong state."""

    code = ErrorCode.OPERATION_INVALID


class OperationDeniedError(VirtError):
    """VIR_ERR_OPERATION_DENIED: e.g. a read-only connection."""

    code = ErrorCode.OPERATION_DENIED


class NoDomainError(VirtError):
    """VIR_ERR_NO_DOMAIN."""

    code = ErrorCode.NO_DOMAIN


class NoNetworkError(VirtError):
    """VIR_ERR_NO_NETWORK."""

    code = ErrorCode.NO_NETWORK


class NoStoragePoolError(VirtError):
    """VIR_ERR_NO_STORAGE_POOL."""

    code = ErrorCode.NO_STORAGE_POOL


class NoStorageVolError(VirtError):
    """VIR_ERR_NO_STORAGE_VOL."""

    code = ErrorCode.NO_STORAGE_VOL


_CLASSES: dict[int, type[VirtError]] = {
    cls.code: cls
    for cls in (
        NoSupportError,
        InvalidArgError,
        XMLError,
        OperationInvalidError,
        OperationDeniedError,
        NoDomainError,
        NoNetworkError,
        NoStoragePoolError,
        NoStorageVolError,
    )
}
_CLASSES[ErrorCode.XML_DETAIL] = XMLError


def error_class(code: int) -> type[VirtError]:
    """The most specific ``VirtError`` subclass for a libvirt error code."""
    return _CLASSES.get(code, VirtError)


def make_error(
    code: int,
    domain: int = ErrorDomain.NONE,
    detail: str | None = None,
    **extra: object,
) -> VirtError:
    """Build the error libvirt would report for ``code`` with ``detail``.

    ``make_error(ErrorCode.NO_DOMAIN, ErrorDomain.TEST, "no domain with matching name 'x'")``
    gives "Domain not found: no domain with matching name 'x'".
    """
    cls = error_class(code)
    return cls(format_message(code, detail), code=code, domain=domain, **extra)  # type: ignore[arg-type]


def no_support(function: str, domain: int = ErrorDomain.NONE) -> NoSupportError:
    """The error for a driver function that is not implemented (``function`` is libvirt's name)."""
    err = make_error(ErrorCode.NO_SUPPORT, domain, function)
    assert isinstance(err, NoSupportError)
    return err


def invalid_arg(message: str, domain: int = ErrorDomain.NONE) -> VirtError:
    """libvirt's ``virReportInvalidArg``: VIR_ERR_INVALID_ARG whose message is ``message`` alone.

    (libvirt does not prefix these with "invalid argument: ".)
    """
    return InvalidArgError(message, code=ErrorCode.INVALID_ARG, domain=domain)


def invalid_flags(flags: int, function: str, domain: int = ErrorDomain.NONE) -> VirtError:
    """libvirt's ``virCheckFlags`` failure: "unsupported flags (0x..) in function ..."."""
    return invalid_arg(f"unsupported flags (0x{flags:x}) in function {function}", domain)
