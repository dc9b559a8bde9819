"""The NWFilter and NWFilterBinding handles and the Connection's filter calls, on every
driver with an nwfilter table: libvirtd 9.0 over the remote driver (the reference, in a
network namespace of its own), virtkitd over the remote driver, and the embedded QEMU
node's nwfilter driver. Errors are compared with libvirtd's."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.connection import Connection
from virtkit.errors import ErrorCode, ErrorDomain, NoSupportError, VirtError
from virtkit.handles import NWFilter, NWFilterBinding
from virtkit.testing.peers import Daemon

pytestmark = pytest.mark.timeout(120)

UUID = "5a9f2e59-8b0e-4c73-9a5f-3f64c1d0e7a1"
FILTER = ("<filter name='h4-filter' chain='ipv4'><uuid>{uuid}</uuid>"
          "<rule action='accept' direction='out' priority='500'><ip/></rule></filter>")
BINDING = ("<filterbinding><owner><name>vm1</name>"
           "<uuid>d54df46f-1ab5-4a22-8618-4560ef5fac2c</uuid></owner>"
           "<portdev name='h4tap0'/><mac address='52:54:00:11:22:33'/>"
           "<filterref filter='h4-filter'/></filterbinding>")


@pytest.fixture(params=("libvirtd", "virtkitd", "embed"))
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "libvirtd":
        return str(request.getfixturevalue("libvirtd_uri"))
    if request.param == "virtkitd":
        daemon: Daemon = request.getfixturevalue("virtkitd")
        return daemon.uri("unix", "/system", "qemu")
    return f"qemu:///embed?root={tmp_path}"


@pytest.fixture
def fconn(uri: str) -> Iterator[Connection]:
    with virtkit.open(uri) as c:
        yield c
        for b in c.list_nwfilter_bindings():
            b.delete()
        for f in c.list_nwfilters():
            if f.name.startswith("h4-"):
                f.undefine()


def _error(call: Any) -> tuple[int, int, str]:
    with pytest.raises(VirtError) as info:
        call()
    return info.value.code, info.value.domain, str(info.value)


def test_define_lookup_list_undefine(fconn: Connection) -> None:
    before = fconn.num_of_nwfilters()
    f = fconn.define_nwfilter(FILTER.format(uuid=UUID))
    assert isinstance(f, NWFilter)
    assert (f.name, f.uuid) == ("h4-filter", UUID)
    assert fconn.lookup_nwfilter("h4-filter") == f
    for key in (UUID, UUID.upper(), uuidlib.UUID(UUID), uuidlib.UUID(UUID).bytes):
        assert fconn.lookup_nwfilter_by_uuid(key) == f
    assert hash(fconn.lookup_nwfilter("h4-filter")) == hash(f)
    assert f in fconn.list_nwfilters()
    assert fconn.num_of_nwfilters() == before + 1
    assert "h4-filter" in fconn.list_nwfilter_names()
    assert "<filter name='h4-filter' chain='ipv4'" in f.xml()
    f.undefine()
    assert fconn.num_of_nwfilters() == before


# The errors each driver answers, compared with libvirtd's.
CASES: dict[str, Any] = {
    "missing-name": lambda c: c.lookup_nwfilter("h4-nope"),
    "missing-uuid": lambda c: c.lookup_nwfilter_by_uuid("11111111-2222-3333-4444-555555555555"),
    "bad-uuid": lambda c: c.lookup_nwfilter_by_uuid("not-a-uuid"),
    "missing-binding": lambda c: c.lookup_nwfilter_binding("h4-none0"),
    "bad-xml": lambda c: c.define_nwfilter("<filter name='h4-x'><rule/></filter>"),
}


@pytest.fixture(scope="module")
def libvirtd_errors(libvirtd_uri: str) -> dict[str, tuple[int, int, str]]:
    with virtkit.open(libvirtd_uri) as c:
        return {label: _error(lambda: call(c)) for label, call in CASES.items()}  # noqa: B023


@pytest.mark.parametrize("label", sorted(CASES))
def test_errors_as_libvirtd(fconn: Connection, label: str,
                            libvirtd_errors: dict[str, tuple[int, int, str]]) -> None:
    assert _error(lambda: CASES[label](fconn)) == libvirtd_errors[label]


def test_bad_uuid_is_libvirts_invalid_arg(fconn: Connection) -> None:
    code, domain, text = _error(lambda: fconn.lookup_nwfilter_by_uuid("xyz"))
    assert (code, domain) == (ErrorCode.INVALID_ARG, ErrorDomain.NWFILTER)
    assert text == "uuidstr in virNWFilterLookupByUUIDString must be a valid UUID"


def test_read_only_connection(uri: str) -> None:
    with virtkit.open(uri) as rw:
        f = rw.define_nwfilter(FILTER.format(uuid=UUID))
        try:
            with virtkit.open_readonly(uri) as ro:
                seen = ro.lookup_nwfilter("h4-filter")
                assert seen in ro.list_nwfilters() and "h4-filter" in seen.xml()
                refused = {
                    "virNWFilterDefineXML": lambda: ro.define_nwfilter(FILTER.format(uuid=UUID)),
                    "virNWFilterDefineXMLFlags": lambda: ro.define_nwfilter(
                        FILTER.format(uuid=UUID), 1),
                    "virNWFilterUndefine": seen.undefine,
                    "virNWFilterBindingCreateXML": lambda: ro.create_nwfilter_binding(BINDING),
                }
                for api, call in refused.items():
                    assert _error(call) == (ErrorCode.OPERATION_DENIED, ErrorDomain.NWFILTER,
                                            f"operation forbidden: read only access prevents "
                                            f"{api}"), api
                assert ro.list_nwfilter_bindings() == []
            assert rw.lookup_nwfilter("h4-filter") == f  # still there
        finally:
            f.undefine()


def test_closed_connection(uri: str) -> None:
    c = virtkit.open(uri)
    f = c.define_nwfilter(FILTER.format(uuid=UUID))
    f.undefine()
    c.close()
    for call in (c.list_nwfilters, lambda: c.lookup_nwfilter("h4-filter"), f.xml,
                 c.list_nwfilter_bindings, lambda: c.define_nwfilter(FILTER.format(uuid=UUID))):
        assert _error(call)[0] == ErrorCode.INVALID_CONN


def test_binding_lifecycle_against_libvirtd(libvirtd_uri: str) -> None:
    """Bindings program the daemon's firewall: only against libvirtd, which runs in a
    network namespace of its own."""
    with virtkit.open(libvirtd_uri) as c:
        f = c.define_nwfilter(FILTER.format(uuid=UUID))
        try:
            b = c.create_nwfilter_binding(BINDING)
            assert isinstance(b, NWFilterBinding)
            assert (b.name, b.port_dev, b.filter_name) == ("h4tap0", "h4tap0", "h4-filter")
            assert c.lookup_nwfilter_binding("h4tap0") == b
            assert c.list_nwfilter_bindings() == [b]
            assert "<portdev name='h4tap0'/>" in b.xml()
            with virtkit.open_readonly(libvirtd_uri) as ro:
                seen = ro.lookup_nwfilter_binding("h4tap0")
                assert _error(seen.delete) == (
                    ErrorCode.OPERATION_DENIED, ErrorDomain.NWFILTER,
                    "operation forbidden: read only access prevents virNWFilterBindingDelete")
            b.delete()
            assert c.list_nwfilter_bindings() == []
        finally:
            f.undefine()


def test_test_driver_has_no_filters(conn: Connection) -> None:
    with pytest.raises(NoSupportError):
        conn.list_nwfilters()
