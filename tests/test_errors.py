"""virtkit.errors: libvirt's error numbers, domains and wording."""

from __future__ import annotations

import json
import subprocess

import pytest

import virtkit
from virtkit.errors import (
    ErrorCode,
    ErrorDomain,
    ErrorLevel,
    InvalidArgError,
    NoDomainError,
    NoNetworkError,
    NoStoragePoolError,
    NoStorageVolError,
    NoSupportError,
    OperationDeniedError,
    OperationInvalidError,
    VirtError,
    XMLError,
    error_class,
    format_message,
    invalid_flags,
    make_error,
    no_support,
)

SYSTEM_PYTHON = "/usr/bin/python3"


def libvirt_python(script: str) -> object:
    """Run ``script`` under Debian's python3-libvirt; it prints one JSON value."""
    out = subprocess.run(
        [SYSTEM_PYTHON, "-c", script], check=True, capture_output=True, text=True, timeout=60
    )
    return json.loads(out.stdout)


def test_make_error_wording_and_fields() -> None:
    err = make_error(ErrorCode.NO_DOMAIN, ErrorDomain.TEST, "no domain with matching name 'x'")
    assert isinstance(err, NoDomainError)
    assert err.message == str(err) == "Domain not found: no domain with matching name 'x'"
    assert (err.code, err.domain, err.level) == (42, 12, ErrorLevel.ERROR)


def test_make_error_without_detail_uses_plain_phrase() -> None:
    err = make_error(ErrorCode.NO_DOMAIN)
    assert err.message == "Domain not found"
    assert err.domain == ErrorDomain.NONE


def test_templates_put_detail_where_libvirt_does() -> None:
    assert format_message(ErrorCode.DOM_EXIST, "web1") == "domain web1 exists already"
    assert format_message(ErrorCode.INTERNAL_ERROR, "boom") == "internal error: boom"
    assert format_message(ErrorCode.OPERATION_DENIED, None) == (
        "operation forbidden for read only access"
    )
    assert format_message(9999, "x") == "x"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (ErrorCode.NO_SUPPORT, NoSupportError),
        (ErrorCode.INVALID_ARG, InvalidArgError),
        (ErrorCode.XML_ERROR, XMLError),
        (ErrorCode.XML_DETAIL, XMLError),
        (ErrorCode.OPERATION_INVALID, OperationInvalidError),
        (ErrorCode.OPERATION_DENIED, OperationDeniedError),
        (ErrorCode.NO_DOMAIN, NoDomainError),
        (ErrorCode.NO_NETWORK, NoNetworkError),
        (ErrorCode.NO_STORAGE_POOL, NoStoragePoolError),
        (ErrorCode.NO_STORAGE_VOL, NoStorageVolError),
        (ErrorCode.INTERNAL_ERROR, VirtError),
    ],
)
def test_error_classes(code: int, cls: type[VirtError]) -> None:
    assert error_class(code) is cls
    err = make_error(code, ErrorDomain.NONE, "d")
    assert type(err) is cls
    assert err.code == code  # XML_DETAIL keeps its own number inside XMLError


def test_every_error_is_a_virterror_exported_at_top_level() -> None:
    assert virtkit.VirtError is VirtError
    assert issubclass(virtkit.NoDomainError, virtkit.VirtError)
    with pytest.raises(virtkit.VirtError):
        raise make_error(ErrorCode.NO_NETWORK, ErrorDomain.NETWORK, "x")


def test_repr_names_the_code() -> None:
    assert repr(make_error(ErrorCode.NO_DOMAIN, detail="d")) == (
        "NoDomainError(NO_DOMAIN, 'Domain not found: d')"
    )
    assert "4242" in repr(VirtError("odd", code=4242))


def test_no_support() -> None:
    err = no_support("virDomainBlockPeek", ErrorDomain.DOMAIN)
    assert isinstance(err, NoSupportError)
    assert err.code == ErrorCode.NO_SUPPORT
    assert err.domain == ErrorDomain.DOMAIN
    assert err.message == (
        "this function is not supported by the connection driver: virDomainBlockPeek"
    )


def test_invalid_flags_code_and_function() -> None:
    err = invalid_flags(0x100, "testDomainDestroyFlags", ErrorDomain.TEST)
    assert isinstance(err, InvalidArgError)
    assert (err.code, err.domain) == (ErrorCode.INVALID_ARG, ErrorDomain.TEST)
    # virReportInvalidArg: libvirt gives the text alone, without "invalid argument: "
    assert err.message == "unsupported flags (0x100) in function testDomainDestroyFlags"


@pytest.mark.interop
def test_numbers_match_libvirt_python() -> None:
    ours_codes = {f"VIR_ERR_{c.name}": int(c) for c in ErrorCode}
    ours_domains = {f"VIR_FROM_{d.name}": int(d) for d in ErrorDomain}
    theirs = libvirt_python(
        "import json, libvirt; print(json.dumps({n: getattr(libvirt, n) for n in dir(libvirt)"
        " if n.startswith(('VIR_ERR_', 'VIR_FROM_'))}))"
    )
    assert isinstance(theirs, dict)
    levels = {"VIR_ERR_NONE", "VIR_ERR_WARNING", "VIR_ERR_ERROR"}
    for name, value in ours_codes.items():
        assert theirs[name] == value, name
    for name, value in ours_domains.items():
        assert theirs[name] == value, name
    missing = set(theirs) - set(ours_codes) - set(ours_domains) - levels
    assert not missing


@pytest.mark.interop
def test_wording_matches_libvirt_for_the_same_failures() -> None:
    """The messages libvirt's own test driver gives equal make_error()/no_support() output."""
    theirs = libvirt_python(
        """
import json, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
c = libvirt.open("test:///default")
d = c.lookupByName("test")
out = []
for f in (lambda: c.networkLookupByName("x"), lambda: d.blockPeek("vda", 0, 1, 0),
          lambda: c.storagePoolLookupByName("x")):
    try:
        f()
    except libvirt.libvirtError as e:
        out.append([e.get_error_code(), e.get_error_domain(), e.get_error_message()])
print(json.dumps(out))
"""
    )
    ours = [
        make_error(ErrorCode.NO_NETWORK, ErrorDomain.TEST, "no network with matching name 'x'"),
        no_support("virDomainBlockPeek", ErrorDomain.DOMAIN),
        make_error(
            ErrorCode.NO_STORAGE_POOL, ErrorDomain.TEST, "no storage pool with matching name 'x'"
        ),
    ]
    assert theirs == [[e.code, e.domain, e.message] for e in ours]
