"""Behaviour of virtkit's test driver beyond the differential script."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from virtkit.drivers.inmemory import TestDriver, open_connection
from virtkit.errors import ErrorCode, ErrorDomain, VirtError
from virtkit.types import DomainIdent

# libvirt's example node files, from Debian's libvirt-doc (installed by make test)
EXAMPLES = Path("/usr/share/doc/libvirt-doc/examples/xml/test")


class URI:
    def __init__(self, path: str) -> None:
        self.path = path

    def __str__(self) -> str:
        return f"test://{self.path}"


def connect(path: str = "/default") -> TestDriver:
    h = open_connection(URI(path), 0).hypervisor
    assert isinstance(h, TestDriver)
    return h


SMALL = ("<domain type='test'><name>{}</name><memory>1024</memory><os><type>hvm</type></os>"
         "</domain>")


def test_default_instance_is_shared_and_dropped_with_last_connection() -> None:
    a, b = connect(), connect()
    b.domain_define_xml(SMALL.format("shared"))
    assert a.domain_lookup_by_name("shared").name == "shared"
    a.connect_close()
    assert b.domain_lookup_by_name("shared").id == -1
    b.connect_close()
    c = connect()
    with pytest.raises(VirtError) as exc:
        c.domain_lookup_by_name("shared")
    assert exc.value.code == ErrorCode.NO_DOMAIN and exc.value.domain == ErrorDomain.TEST
    c.connect_close()


def test_open_needs_a_path() -> None:
    with pytest.raises(VirtError) as exc:
        open_connection(URI("/"), 0)
    assert exc.value.message == "invalid argument: testOpen: supply a path or use test:///default"


def test_node_file_naming_a_missing_file_is_libvirts_parse_error() -> None:
    # Debian's libvirt-doc ships testnode.xml without the testdomfc5.xml it names;
    # libvirt 9.0's test driver refuses it with this error (code and domain too)
    with pytest.raises(VirtError) as exc:
        connect(str(EXAMPLES / "testnode.xml"))
    assert (exc.value.code, exc.value.domain) == (ErrorCode.XML_ERROR, ErrorDomain.TEST)
    assert exc.value.message == (
        f"XML error: failed to parse xml document '{EXAMPLES / 'testdomfc5.xml'}'")
    with pytest.raises(VirtError) as exc:
        connect("/nonexistent/node.xml")
    assert exc.value.message == "XML error: failed to parse xml document '/nonexistent/node.xml'"


def test_node_file_connections_are_private(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path, dirs_exist_ok=True)
    node = tmp_path / "testnode.xml"
    node.write_text(node.read_text().replace('<domain file="testdomfc5.xml"/>', ""))
    a, b = connect(str(node)), connect(str(node))
    try:
        names = sorted(d.name for d in a.connect_list_all_domains())
        assert names == ["fc4", "fv0"]  # as libvirt's own test driver reads the file
        a.domain_destroy(a.domain_lookup_by_name("fv0"))
        assert b.domain_lookup_by_name("fv0").id != -1
        info = a.node_get_info()
        assert (info.model, info.cpus, info.mhz) == ("i986", 50, 6000)
        assert sorted(n.name for n in a.connect_list_all_networks()) == ["default", "private"]
        pool = a.storage_pool_lookup_by_name("default-pool")
        assert a.storage_pool_list_all_volumes(pool) == []
        vol = a.storage_vol_create_xml(
            pool, "<volume><name>v</name><capacity>10</capacity></volume>")
        assert a.storage_vol_get_path(vol) == "/default-pool/v" == vol.key
        assert [d.name for d in a.connect_list_all_node_devices()] == ["File_test_device"]
    finally:
        a.connect_close()
        b.connect_close()


def test_inline_node_file_with_test_namespace(tmp_path: Path) -> None:
    node = tmp_path / "node.xml"
    node.write_text(
        "<node><cpu><mhz>100</mhz></cpu>"
        "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        "<name>p</name><memory>1024</memory><os><type>hvm</type></os>"
        "<test:runstate>3</test:runstate>"
        "<test:domainsnapshot><domainsnapshot><name>first</name><state>running</state>"
        "<creationTime>1</creationTime><active>1</active></domainsnapshot></test:domainsnapshot>"
        "</domain>"
        "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        "<name>m</name><memory>1024</memory><os><type>hvm</type></os>"
        "<test:runstate>5</test:runstate><test:hasmanagedsave/></domain>"
        "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        "<name>t</name><memory>1024</memory><os><type>hvm</type></os><test:transient/></domain>"
        "</node>"
    )
    h = connect(str(node))
    try:
        p, m, t = (h.domain_lookup_by_name(n) for n in "pmt")
        assert h.domain_get_state(p) == (3, 0)
        assert h.domain_snapshot_current(p).name == "first"
        assert h.domain_has_managed_save_image(m)
        assert h.domain_get_state(m) == (5, 0)
        assert not h.domain_is_persistent(t) and h.domain_is_active(t)
        assert "test:" not in h.domain_get_xml_desc(p)
        assert h.node_get_info().mhz == 100
        assert h.node_get_free_memory() == 0
    finally:
        h.connect_close()


def test_callbacks_run_outside_the_lock_and_errors_are_swallowed() -> None:
    h = connect()
    seen: list[Any] = []

    def reentrant(dom: DomainIdent, event_id: int, payload: tuple[object, ...]) -> None:
        seen.append((dom.name, payload, h.domain_get_state(dom)))
        raise RuntimeError("callback bug")

    try:
        dom = h.domain_lookup_by_name("test")
        other = h.domain_define_xml(SMALL.format("other"))
        cid = h.connect_domain_event_register_any(dom, 0, reentrant)
        h.domain_suspend(dom)
        h.domain_create(other)  # filtered out: another domain
        h.domain_resume(dom)
        assert seen == [("test", (3, 0), (3, 1)), ("test", (4, 0), (1, 5))]
        h.connect_domain_event_deregister_any(cid)
        with pytest.raises(VirtError) as exc:
            h.connect_domain_event_deregister_any(cid)
        expected = f"invalid argument: could not find event callback {cid} for deletion"
        assert exc.value.message == expected
        h.domain_destroy(other)
        h.domain_undefine(other)
    finally:
        h.connect_close()


def test_ids_increase_with_each_start() -> None:
    h = connect()
    try:
        d = h.domain_define_xml(SMALL.format("ids"))
        ids = []
        for _ in range(3):
            ids.append(h.domain_create(d).id)
            h.domain_destroy(d)
        assert ids == sorted(ids) and len(set(ids)) == 3
        h.domain_undefine(d)
    finally:
        h.connect_close()


def test_live_change_does_not_touch_persistent_config() -> None:
    h = connect()
    try:
        d = h.domain_create(h.domain_define_xml(SMALL.format("cow")))
        h.domain_set_memory_flags(d, 512, 1)
        assert h.domain_get_info(d).memory == 512
        assert "<currentMemory unit='KiB'>1024<" in h.domain_get_xml_desc(d, 2)
        h.domain_destroy(d)
        assert h.domain_get_info(d).memory == 1024
        h.domain_undefine(d)
    finally:
        h.connect_close()


def test_save_image_round_trip_and_bad_files(tmp_path: Path) -> None:
    h = connect()
    try:
        d = h.domain_create_xml(SMALL.format("sv"))
        img = tmp_path / "sv.img"
        h.domain_save(d, str(img))
        assert img.read_bytes().startswith(b"TestGuestMagic\0")
        assert "<name>sv</name>" in h.domain_save_image_get_xml_desc(str(img))
        h.domain_restore(str(img))
        assert h.domain_get_state(h.domain_lookup_by_name("sv")) == (1, 3)
        bad = tmp_path / "bad.img"
        bad.write_bytes(b"TestGuestMagiX\0" + b"\0" * 20)
        with pytest.raises(VirtError) as exc:
            h.domain_restore(str(bad))
        assert exc.value.message == "internal error: mismatched header magic"
        h.domain_destroy(h.domain_lookup_by_name("sv"))
    finally:
        h.connect_close()


def test_lookup_and_info_are_fast() -> None:
    h = connect()
    try:
        n = 20000
        start = time.perf_counter()
        for _ in range(n):
            h.domain_get_info(h.domain_lookup_by_name("test"))
        rate = n / (time.perf_counter() - start)
        assert rate > 150_000, f"{rate:.0f} lookup+info pairs/s"
    finally:
        h.connect_close()


def test_listing_ten_thousand_domains_is_linear() -> None:
    h = connect()
    try:
        names = [f"bulk{i}" for i in range(10000)]
        for name in names:
            h.domain_define_xml(SMALL.format(name))
        start = time.perf_counter()
        listed = h.connect_list_all_domains(2)
        assert len(listed) == 10000
        assert time.perf_counter() - start < 0.1
        for ident in listed:
            h.domain_undefine(ident)
    finally:
        h.connect_close()
