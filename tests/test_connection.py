"""virtkit.open / Connection against the real test driver (test:///default)."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtkit
from virtkit.connection import Connection
from virtkit.constants import ConnectFlags, ConnectListAllDomainsFlags, DomainState
from virtkit.drivers import registry
from virtkit.errors import ErrorCode, ErrorDomain, VirtError
from virtkit.handles import Domain, Network, StoragePool
from virtkit.types import NodeInfo

TEST_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"

NEW_DOMAIN = """<domain type='test'>
  <name>{name}</name>
  <memory>1048576</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
</domain>"""


@pytest.fixture
def conn() -> Iterator[Connection]:
    with virtkit.open("test:///default") as c:
        yield c


@pytest.fixture
def ro() -> Iterator[Connection]:
    with virtkit.open_readonly("test:///default") as c:
        yield c


# ------------------------------------------------------------------ opening


def test_open_returns_a_connection(conn: Connection) -> None:
    assert isinstance(conn, virtkit.Connection)
    assert conn.uri == "test:///default"
    assert conn.parsed_uri.driver == "test"
    assert not conn.is_readonly
    assert conn.is_alive()


def test_open_uses_default_uri_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIRTKIT_DEFAULT_URI", "test:///default")
    with virtkit.open() as c:
        assert c.lookup_domain("test").id == 1


def test_open_without_any_default_tries_qemu_system(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    # No local qemu driver: qemu:///system goes to the remote driver and its daemon socket.
    monkeypatch.delenv("VIRTKIT_DEFAULT_URI", raising=False)
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    monkeypatch.setattr("virtkit.drivers.remote._DEFAULT_SOCKET", str(tmp_path / "nosock"))
    with pytest.raises(VirtError) as info:
        virtkit.open()
    assert info.value.code == ErrorCode.SYSTEM_ERROR
    assert info.value.message == (
        f"Failed to connect socket to '{tmp_path / 'nosock'}': No such file or directory")


@pytest.mark.parametrize("uri", ["foo:///", "te:///x"])
def test_no_driver_for_uri(uri: str, tmp_path: Path) -> None:
    # An unknown scheme goes to the remote driver; no daemon socket -> libvirt's system error.
    with pytest.raises(VirtError) as info:
        virtkit.open(f"{uri}?socket={tmp_path / 'none'}")
    assert info.value.code == ErrorCode.SYSTEM_ERROR
    assert info.value.domain == ErrorDomain.RPC


def test_tcp_without_daemon_is_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: nothing accepts
        with pytest.raises(VirtError) as info:
            virtkit.open(f"test+tcp://127.0.0.1:{port}/default")
    assert info.value.code == ErrorCode.SYSTEM_ERROR
    assert "Connection refused" in info.value.message


def test_unknown_transport_is_refused_like_libvirt() -> None:
    with pytest.raises(VirtError) as info:
        virtkit.open("test+foo:///default")
    assert info.value.code == ErrorCode.INVALID_ARG
    assert info.value.domain == ErrorDomain.REMOTE
    assert "transport in URL not recognised" in info.value.message


def test_uri_errors_surface_from_open() -> None:
    with pytest.raises(VirtError) as info:
        virtkit.open("foo")
    assert info.value.code == ErrorCode.NO_CONNECT
    with pytest.raises(VirtError) as info:
        virtkit.open("te st:///x")
    assert info.value.code == ErrorCode.INTERNAL_ERROR


def test_registry_has_one_remote_slot() -> None:
    assert registry.remote_opener is not None
    assert set(registry.LOCAL_DRIVERS) == {"test", "qemu", "secret", "nodedev"}


def test_import_is_lazy() -> None:
    code = (
        "import sys, virtkit\n"
        "bad = [m for m in sys.modules if m.startswith(('lxml', 'virtkit.drivers',"
        " 'virtkit.connection', 'virtkit.constants', 'virtkit.handles'))]\n"
        "assert not bad, bad\n"
        "assert callable(virtkit.open)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazy_names_resolve() -> None:
    assert virtkit.Domain is Domain
    assert virtkit.Connection is Connection
    with pytest.raises(AttributeError):
        _ = virtkit.NoSuchThing  # type: ignore[attr-defined]


# ------------------------------------------------------------------ connection info


def test_connection_properties(conn: Connection) -> None:
    assert conn.type == "TEST"
    assert conn.version == 2
    assert conn.lib_version == 9_000_000
    assert isinstance(conn.hostname, str) and conn.hostname
    assert conn.is_secure() is True
    assert conn.is_encrypted() is False
    assert "<capabilities>" in conn.capabilities()
    assert conn.max_vcpus() > 0


def test_node_info(conn: Connection) -> None:
    info = conn.node_info()
    assert isinstance(info, NodeInfo)
    assert (info.model, info.memory, info.cpus, info.mhz) == ("i686", 3145728, 16, 1400)
    assert (info.nodes, info.sockets, info.cores, info.threads) == (2, 2, 2, 2)
    assert conn.node_free_memory() > 0
    assert len(conn.node_cells_free_memory(0, 2)) == 2


# ------------------------------------------------------------------ domains


def test_lookup_domain(conn: Connection) -> None:
    dom = conn.lookup_domain("test")
    assert (dom.name, dom.uuid, dom.id) == ("test", TEST_UUID, 1)
    assert dom.connection is conn
    assert dom.state is DomainState.RUNNING
    assert conn.lookup_domain_by_id(1) == dom
    assert conn.lookup_domain_by_uuid(TEST_UUID) == dom


@pytest.mark.parametrize(
    "form",
    [
        TEST_UUID.upper(),
        TEST_UUID.replace("-", ""),
        f"  {TEST_UUID} ",
        uuid.UUID(TEST_UUID),
        uuid.UUID(TEST_UUID).bytes,
    ],
)
def test_lookup_by_uuid_accepts_libvirt_forms(conn: Connection, form: object) -> None:
    assert conn.lookup_domain_by_uuid(form).name == "test"


def test_lookup_by_bad_uuid(conn: Connection) -> None:
    with pytest.raises(VirtError) as info:
        conn.lookup_domain_by_uuid("zz")
    err = info.value
    assert (err.code, err.domain, err.message) == (
        ErrorCode.INVALID_ARG, ErrorDomain.DOMAIN, "Invalid UUID"
    )
    with pytest.raises(VirtError) as info:
        conn.lookup_network_by_uuid("zz")
    assert info.value.message == "uuidstr in virNetworkLookupByUUIDString must be a valid UUID"


def test_lookup_missing_domain(conn: Connection) -> None:
    with pytest.raises(virtkit.NoDomainError) as info:
        conn.lookup_domain("nope")
    assert info.value.code == ErrorCode.NO_DOMAIN


def test_list_domains_and_filters(conn: Connection) -> None:
    assert [d.name for d in conn.list_domains()] == ["test"]
    assert [d.name for d in conn.list_domains(ConnectListAllDomainsFlags.ACTIVE)] == ["test"]
    assert conn.list_domains(ConnectListAllDomainsFlags.INACTIVE) == []
    assert conn.num_of_domains() == 1
    assert conn.list_domain_ids() == [1]
    assert conn.num_of_defined_domains() == 0
    assert conn.list_defined_domain_names() == []


def test_define_and_create(conn: Connection) -> None:
    dom = conn.define_domain(NEW_DOMAIN.format(name="vm1"))
    assert (dom.name, dom.id) == ("vm1", -1)
    assert dom.state is DomainState.SHUTOFF
    assert conn.list_defined_domain_names() == ["vm1"]
    transient = conn.create_domain(NEW_DOMAIN.format(name="vm2"))
    assert transient.id > 1
    assert transient.is_active() and not transient.is_persistent()
    names = sorted(d.name for d in conn.list_domains())
    assert names == ["test", "vm1", "vm2"]


def test_all_domain_stats(conn: Connection) -> None:
    stats = conn.all_domain_stats()
    assert [d.name for d, _ in stats] == ["test"]
    assert isinstance(stats[0][1], dict)
    one = conn.all_domain_stats(domains=[conn.lookup_domain("test")])
    assert [d.name for d, _ in one] == ["test"]


# ------------------------------------------------------------------ networks and storage


def test_networks(conn: Connection) -> None:
    nets = conn.list_networks()
    assert [n.name for n in nets] == ["default"]
    net = conn.lookup_network("default")
    assert isinstance(net, Network)
    assert conn.lookup_network_by_uuid(net.uuid) == net


def test_storage_pools(conn: Connection) -> None:
    pools = conn.list_storage_pools()
    assert [p.name for p in pools] == ["default-pool"]
    pool = conn.lookup_storage_pool("default-pool")
    assert isinstance(pool, StoragePool)
    assert pool.uuid == "dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566"
    assert conn.lookup_storage_pool_by_uuid(pool.uuid) == pool


# ------------------------------------------------------------------ read-only


def test_open_readonly_flag(ro: Connection) -> None:
    assert ro.is_readonly
    with virtkit.open("test:///default", ConnectFlags.RO) as c:
        assert c.is_readonly


def test_readonly_allows_reads(ro: Connection) -> None:
    dom = ro.lookup_domain("test")
    assert dom.info().state == DomainState.RUNNING
    assert "<domain" in dom.xml()
    assert ro.list_networks()


@pytest.mark.parametrize(
    ("call", "function", "domain"),
    [
        (lambda c: c.lookup_domain("test").destroy(), "virDomainDestroy", ErrorDomain.DOMAIN),
        (lambda c: c.lookup_domain("test").suspend(), "virDomainSuspend", ErrorDomain.DOMAIN),
        (lambda c: c.lookup_domain("test").start(), "virDomainCreate", ErrorDomain.DOMAIN),
        (lambda c: c.define_domain("<domain/>"), "virDomainDefineXML", ErrorDomain.DOMAIN),
        (lambda c: c.create_domain("<domain/>"), "virDomainCreateXML", ErrorDomain.DOMAIN),
        (
            lambda c: c.lookup_domain("test").set_memory(1024),
            "virDomainSetMemory",
            ErrorDomain.DOMAIN,
        ),
        (
            lambda c: c.lookup_domain("test").create_snapshot("<domainsnapshot/>"),
            "virDomainSnapshotCreateXML",
            ErrorDomain.DOMAIN_SNAPSHOT,
        ),
        (lambda c: c.lookup_network("default").destroy(), "virNetworkDestroy", ErrorDomain.NETWORK),
        (
            lambda c: c.lookup_storage_pool("default-pool").refresh(),
            "virStoragePoolRefresh",
            ErrorDomain.STORAGE,
        ),
        (lambda c: c.save_image_xml("/x"), "virDomainSaveImageGetXMLDesc", ErrorDomain.DOMAIN),
    ],
)
def test_readonly_denies_writes(ro: Connection, call: object, function: str, domain: int) -> None:
    with pytest.raises(virtkit.OperationDeniedError) as info:
        call(ro)  # type: ignore[operator]
    err = info.value
    assert err.code == ErrorCode.OPERATION_DENIED
    assert err.domain == domain
    assert err.message == f"operation forbidden: read only access prevents {function}"
    # and nothing changed
    assert ro.lookup_domain("test").state is DomainState.RUNNING


def test_readonly_denies_secure_xml(ro: Connection) -> None:
    with pytest.raises(virtkit.OperationDeniedError) as info:
        ro.lookup_domain("test").xml(1)  # VIR_DOMAIN_XML_SECURE
    assert info.value.message == "operation forbidden: virDomainGetXMLDesc with secure flag"


def test_readonly_autostart_setter(ro: Connection) -> None:
    dom = ro.lookup_domain("test")
    with pytest.raises(virtkit.OperationDeniedError):
        dom.autostart = True
    assert dom.autostart is False


# ------------------------------------------------------------------ close


def test_close_invalidates_handles() -> None:
    c = virtkit.open("test:///default")
    dom = c.lookup_domain("test")
    c.close()
    c.close()  # harmless
    assert not c.is_alive()
    with pytest.raises(VirtError) as info:
        dom.info()
    assert info.value.code == ErrorCode.INVALID_CONN
    assert info.value.message == "invalid connection pointer in virDomainGetInfo"
    with pytest.raises(VirtError):
        c.lookup_domain("test")


def test_context_manager_closes() -> None:
    with virtkit.open("test:///default") as c:
        pass
    assert not c.is_alive()
    assert "closed" in repr(c)


def test_closing_one_connection_leaves_another_working() -> None:
    with virtkit.open("test:///default") as a:
        b = virtkit.open("test:///default")
        b.close()
        assert a.lookup_domain("test").info().state == DomainState.RUNNING
