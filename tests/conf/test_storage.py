"""StoragePoolDef, StorageVolDef and the size units helper."""

from __future__ import annotations

import pytest

from virtkit.conf.storage_pool import StoragePoolDef, sanitize_path, validate_storage_pool_def
from virtkit.conf.storage_vol import StorageVolDef, validate_storage_vol_def
from virtkit.conf.units import scale_integer, unit_scale
from virtkit.errors import ErrorCode, VirtError


@pytest.mark.parametrize(
    ("unit", "scale"),
    [("b", 1), ("bytes", 1), ("KB", 1000), ("k", 1024), ("KiB", 1024), ("MB", 10**6),
     ("M", 2**20), ("MiB", 2**20), ("GB", 10**9), ("G", 2**30), ("GiB", 2**30),
     ("TB", 10**12), ("T", 2**40), ("TiB", 2**40), ("PB", 10**15), ("P", 2**50),
     ("PiB", 2**50), ("EB", 10**18), ("E", 2**60), ("EiB", 2**60), ("gib", 2**30),
     ("mb", 10**6)],
)
def test_unit_scales(unit: str, scale: int) -> None:
    assert unit_scale(unit) == scale


def test_unit_errors() -> None:
    with pytest.raises(VirtError) as exc:
        unit_scale("KQ")
    assert exc.value.code == ErrorCode.INVALID_ARG
    assert "unknown suffix 'KQ'" in str(exc.value)
    with pytest.raises(VirtError) as exc:
        scale_integer(9, "EiB", limit=2**63 - 1)
    assert exc.value.code == ErrorCode.OVERFLOW
    assert scale_integer(5, None, default=1024) == 5120


def test_sanitize_path() -> None:
    assert sanitize_path("///var/////lib/libvirt/images//") == "/var/lib/libvirt/images"
    assert sanitize_path("/") == "/"
    assert sanitize_path("//host/share/") == "//host/share"


POOL = """<pool type='dir'>
  <name>default</name>
  <capacity unit='GiB'>1</capacity>
  <target>
    <path>/var/lib/libvirt/images/</path>
    <permissions><mode>755</mode><owner>-1</owner></permissions>
  </target>
</pool>
"""


def test_pool_parse_and_format() -> None:
    d = StoragePoolDef.from_xml(POOL)
    validate_storage_pool_def(d)
    assert (d.type, d.name, d.capacity, d.allocation, d.available) == (
        "dir", "default", 2**30, None, None)
    assert d.uuid is not None
    assert d.target is not None and d.target.path == "/var/lib/libvirt/images"
    assert d.to_xml() == (
        "<pool type='dir'>\n  <name>default</name>\n"
        f"  <uuid>{d.uuid}</uuid>\n"
        "  <capacity unit='bytes'>1073741824</capacity>\n"
        "  <allocation unit='bytes'>0</allocation>\n"
        "  <available unit='bytes'>0</available>\n"
        "  <source>\n  </source>\n"
        "  <target>\n    <path>/var/lib/libvirt/images</path>\n"
        "    <permissions>\n      <mode>0755</mode>\n    </permissions>\n"
        "  </target>\n</pool>\n"
    )


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<pool type='dir'><name>a</name></pool>", "missing storage pool target path"),
        ("<pool type='netfs'><name>a</name><target><path>/m</path></target></pool>",
         "missing storage pool source host name"),
        ("<pool type='rbd'><name>a</name><source><host name='h'/></source></pool>",
         "element 'name' is mandatory for RBD pool"),
        ("<pool type='dir'><name>a/b</name><target><path>/m</path></target></pool>",
         "name a/b cannot contain '/'"),
    ],
)
def test_pool_errors(xml: str, message: str) -> None:
    with pytest.raises(VirtError) as exc:
        validate_storage_pool_def(StoragePoolDef.from_xml(xml))
    assert message in str(exc.value)


def test_pool_missing_type() -> None:
    with pytest.raises(VirtError):
        validate_storage_pool_def(StoragePoolDef.from_xml("<pool><name>a</name></pool>"))


VOL = """<volume>
  <name>disk.qcow2</name>
  <capacity unit="G">5</capacity>
  <target>
    <path>/var/lib/libvirt/images/disk.qcow2</path>
    <format type='qcow2'/>
    <features><lazy_refcounts/></features>
  </target>
</volume>
"""


def test_volume_parse_and_format() -> None:
    d = StorageVolDef.from_xml(VOL)
    validate_storage_vol_def(d, "dir")
    assert (d.type, d.name, d.key, d.capacity, d.allocation) == (
        "file", "disk.qcow2", None, 5 * 2**30, 5 * 2**30)
    assert d.target is not None and d.target.format is not None
    assert d.target.format.type == "qcow2"
    assert d.to_xml() == (
        "<volume type='file'>\n  <name>disk.qcow2</name>\n"
        "  <capacity unit='bytes'>5368709120</capacity>\n"
        "  <allocation unit='bytes'>5368709120</allocation>\n"
        "  <target>\n    <path>/var/lib/libvirt/images/disk.qcow2</path>\n"
        "    <format type='qcow2'/>\n    <compat>1.1</compat>\n"
        "    <features>\n      <lazy_refcounts/>\n    </features>\n"
        "  </target>\n</volume>\n"
    )


def test_volume_errors() -> None:
    with pytest.raises(VirtError, match="missing capacity element"):
        validate_storage_vol_def(StorageVolDef.from_xml("<volume><name>a</name></volume>"))
    with pytest.raises(VirtError, match="malformed capacity element"):
        validate_storage_vol_def(StorageVolDef.from_xml(
            "<volume><name>a</name><capacity>x</capacity></volume>"))
    with pytest.raises(VirtError, match="unknown suffix"):
        validate_storage_vol_def(StorageVolDef.from_xml(
            "<volume><name>a</name><capacity unit='Q'>1</capacity></volume>"))
    with pytest.raises(VirtError, match="unknown volume format type bogus"):
        validate_storage_vol_def(StorageVolDef.from_xml(
            "<volume><name>a</name><capacity>1</capacity>"
            "<target><format type='bogus'/></target></volume>"), "dir")


def test_volume_pool_defaults() -> None:
    d = StorageVolDef.from_xml("<volume><name>a</name><capacity>1</capacity></volume>")
    d.apply_pool_defaults("dir")
    assert d.target is not None and d.target.format is not None
    assert d.target.format.type == "raw"
