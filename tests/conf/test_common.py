"""Shared helpers: UUIDs and sizes read the way libvirt reads them (checked with virsh 9.0)."""

from __future__ import annotations

import pytest

from virtkit.conf.common import new_uuid, parse_uuid
from virtkit.conf.domain import DomainDef
from virtkit.conf.network import NetworkDef, validate_network_def
from virtkit.conf.storage_pool import StoragePoolDef, validate_storage_pool_def
from virtkit.conf.storage_vol import StorageVolDef, validate_storage_vol_def
from virtkit.conf.units import parse_ull
from virtkit.errors import ErrorCode, VirtError

UUID = "c7a5fdbd-edaf-9455-926a-d65c16db1809"


@pytest.mark.parametrize("text", [UUID, f"  {UUID} ", UUID.replace("-", " "), UUID.upper()])
def test_parse_uuid_accepts_libvirt_forms(text: str) -> None:
    assert parse_uuid(text) == UUID


@pytest.mark.parametrize(
    "text", [f"{{{UUID}}}", f"urn:uuid:{UUID}", "c-7a5fdbdedaf9455926ad65c16db1809", UUID[:-1]]
)
def test_parse_uuid_rejects_what_libvirt_rejects(text: str) -> None:
    assert parse_uuid(text) is None


def test_new_uuid_is_canonical() -> None:
    u = new_uuid()
    assert parse_uuid(u) == u


def _net(uuid: str) -> str:
    return f"<network><name>n</name><uuid>{uuid}</uuid><bridge name='vb0'/></network>"


def test_network_uuid_like_libvirt() -> None:
    d = NetworkDef.from_xml(_net(UUID.replace("-", " ")))
    validate_network_def(d)
    assert d.uuid == UUID
    braces = NetworkDef.from_xml(_net(f"{{{UUID}}}"))
    with pytest.raises(VirtError) as exc:
        validate_network_def(braces)
    assert exc.value.code == ErrorCode.INTERNAL_ERROR


def _pool(uuid: str) -> str:
    return (f"<pool type='dir'><name>p</name><uuid>{uuid}</uuid>"
            "<target><path>/tmp/p</path></target></pool>")


def test_pool_uuid_like_libvirt() -> None:
    d = StoragePoolDef.from_xml(_pool(UUID.replace("-", " ")))
    validate_storage_pool_def(d)
    assert d.uuid == UUID
    urn = StoragePoolDef.from_xml(_pool(f"urn:uuid:{UUID}"))
    with pytest.raises(VirtError) as exc:
        validate_storage_pool_def(urn)
    assert exc.value.code == ErrorCode.XML_ERROR


@pytest.mark.parametrize(("text", "value"), [("10", 10), (" 10", 10), ("+10", 10), ("\t7", 7)])
def test_parse_ull_reads_like_strtoull(text: str, value: int) -> None:
    assert parse_ull(text) == value


@pytest.mark.parametrize("text", ["", "10 ", "-1", "1x", "\u0661", str(2**64), "+"])
def test_parse_ull_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ull(text)


def test_volume_capacity_trailing_space_is_malformed() -> None:
    d = StorageVolDef.from_xml("<volume><name>a</name><capacity>10 </capacity></volume>")
    with pytest.raises(VirtError, match="malformed capacity element"):
        validate_storage_vol_def(d)


def test_domain_memory_accepts_plus_sign() -> None:
    d = DomainDef.from_xml(
        "<domain type='test'><name>p</name><memory>+524288</memory>"
        "<os><type>hvm</type></os></domain>"
    )
    assert d.memory_kib == 524288
