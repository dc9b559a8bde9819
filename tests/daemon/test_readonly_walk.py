"""Read-only over the wire: virtkitd refuses every writing procedure on a read-only
connection, and no reading one, deciding from the procedure table alone.

Each procedure of libvirt's ``remote`` program is sent raw (virtkit's remote driver
would refuse writes before sending: see tests/drivers/test_readonly.py) with dummy but
well-formed arguments built from its XDR argument type. A procedure the table marks as
writing must answer VIR_ERR_OPERATION_DENIED "read only access prevents virXxx" in its
API's error domain; a reading one may fail (the dummy objects do not exist) but never
with OPERATION_DENIED. Walked for the test driver and for ``qemu:///system`` (the QEMU
node with its network, storage, nwfilter and secret drivers), over the read-only socket
and over the read-write socket opened with VIR_CONNECT_RO.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.constants import ConnectFlags
from virtkit.drivers.remote import RemoteDriver, open_connection
from virtkit.errors import ErrorCode, VirtError
from virtkit.rpc import xdr
from virtkit.rpc.bindings import api_error_domain, api_name
from virtkit.rpc.protocol import REMOTE, Procedure, ProcKind
from virtkit.testing.peers import Daemon, start_virtkitd
from virtkit.uri import connect_uri

pytestmark = pytest.mark.timeout(600)

# Procedures that manage the RPC session itself (opening, authenticating, closing):
# sending them with dummy arguments would end or re-open the walk's own connection.
_SESSION = frozenset({"connect_open", "connect_close", "auth_list", "auth_sasl_init",
                      "auth_sasl_start", "auth_sasl_step", "auth_polkit"})

CALLS = [p for p in REMOTE if p.kind is not ProcKind.EVENT and p.name not in _SESSION]
WRITING = [p for p in CALLS if not p.readonly]
READING = [p for p in CALLS if p.readonly]


def dummy(t: Any) -> Any:
    """A well-formed value of XDR type ``t``: zeros, "dummy", empty arrays, no pointers."""
    if t is xdr.VOID:
        return None
    if isinstance(t, xdr.Struct):
        return {name: dummy(ft) for name, ft in t.fields}
    if isinstance(t, xdr.Union):
        disc, (_, arm) = next(iter(t.arms.items()))
        return (disc, dummy(arm))
    if isinstance(t, xdr.Optional):
        return None
    if isinstance(t, xdr.String):
        return "dummy"
    if isinstance(t, xdr.Opaque):
        return b"\x01" * t.size  # a fixed opaque is a UUID: not the all-zero one
    if isinstance(t, (xdr.VarOpaque, xdr.VarCharArray)):
        return b""
    if isinstance(t, xdr.CharArray):
        return b""
    if isinstance(t, xdr.FixedArray):
        return [dummy(t.elem) for _ in range(t.size)]
    if isinstance(t, xdr.VarArray):
        return []
    if isinstance(t, xdr.Primitive):
        return False if t.name == "bool" else 0
    raise AssertionError(f"no dummy for XDR type {t!r}")


def send(driver: RemoteDriver, proc: Procedure) -> VirtError | None:
    """Send ``proc`` with dummy arguments; the error it answers, None on success."""
    try:
        result = driver._call(proc.name, dummy(proc.args))
    except VirtError as exc:
        return exc
    if proc.stream is not None:  # a stream opened after all: close it
        result[1].abort()
    return None


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    root = Path(tempfile.mkdtemp(prefix="vk-rowalk-"))
    d = start_virtkitd(root)
    try:
        yield d
    finally:
        d.stop()
        shutil.rmtree(root, ignore_errors=True)


# (socket, driver URI path, driver)
_TARGETS = {"test-ro-socket": ("unix-ro", "/default", "test"),
            "test-rw-socket-ro-flag": ("unix", "/default", "test"),
            "qemu-ro-socket": ("unix-ro", "/system", "qemu")}


@pytest.fixture(scope="module", params=sorted(_TARGETS))
def ro_driver(request: pytest.FixtureRequest, daemon: Daemon) -> Iterator[RemoteDriver]:
    sock, path, drv = _TARGETS[str(request.param)]
    tables = open_connection(connect_uri(daemon.uri(sock, path, drv)), ConnectFlags.RO)
    driver = tables.hypervisor
    assert isinstance(driver, RemoteDriver)
    try:
        yield driver
    finally:
        driver.connect_close()


def test_the_walk_covers_the_protocol() -> None:
    assert len(WRITING) > 150 and len(READING) > 150
    names = {p.name for p in WRITING}
    assert {"domain_destroy", "nwfilter_define_xml", "secret_define_xml", "secret_get_value",
            "network_create", "storage_vol_delete", "storage_vol_upload",
            "domain_set_scheduler_parameters"} <= names
    assert "domain_get_xml_desc" in {p.name for p in READING}


def test_dummy_arguments_encode_for_every_procedure() -> None:
    for proc in CALLS:
        if proc.args is not xdr.VOID:
            proc.args.encode(dummy(proc.args))


def test_every_writing_procedure_is_denied(ro_driver: RemoteDriver) -> None:
    wrong = {}
    for proc in WRITING:
        err = send(ro_driver, proc)
        api = api_name(proc.name)
        want = (ErrorCode.OPERATION_DENIED, api_error_domain(proc.name),
                f"operation forbidden: read only access prevents {api}")
        got = None if err is None else (err.code, err.domain, str(err))
        if got != want:
            wrong[proc.name] = got
    assert wrong == {}


def test_no_reading_procedure_is_denied(ro_driver: RemoteDriver) -> None:
    denied = {}
    for proc in READING:
        err = send(ro_driver, proc)
        if err is not None and err.code == ErrorCode.OPERATION_DENIED:
            denied[proc.name] = str(err)
    assert denied == {}
    assert ro_driver.connect_is_alive()


def test_a_read_write_connection_is_not_denied(daemon: Daemon) -> None:
    """The control: the same dummy writes on a read-write connection reach the driver
    (and fail there, for objects that do not exist)."""
    tables = open_connection(connect_uri(daemon.uri("unix", "/system", "qemu")), 0)
    driver = tables.hypervisor
    assert isinstance(driver, RemoteDriver)
    try:
        safe = ("domain_destroy", "domain_undefine", "nwfilter_undefine", "network_destroy",
                "storage_vol_delete", "secret_undefine", "interface_destroy")
        for name in safe:
            err = send(driver, REMOTE[name])
            assert err is not None and err.code != ErrorCode.OPERATION_DENIED, (name, err)
    finally:
        driver.connect_close()


_LIBVIRT_PYTHON = """
import json, sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
conn = libvirt.openReadOnly(sys.argv[1])
out = {"domains": sorted(d.name() for d in conn.listAllDomains())}
calls = {
    "destroy": lambda: conn.lookupByName("test").destroy(),
    "define-nwfilter": lambda: conn.nwfilterDefineXML("<filter name='f'/>"),
    "define-secret": lambda: conn.secretDefineXML("<secret/>"),
    "create-network": lambda: conn.networkCreateXML("<network/>"),
}
for label, call in calls.items():
    try:
        call()
        out[label] = None
    except libvirt.libvirtError as e:
        out[label] = [e.get_error_code(), e.get_error_domain(), e.get_error_message()]
print(json.dumps(out))
"""


def test_libvirt_python_read_only_connection(daemon: Daemon) -> None:
    """Debian's libvirt-python opened read-only on virtkitd: reads work, writes are refused."""
    import json
    import subprocess

    res = subprocess.run(["/usr/bin/python3", "-c", _LIBVIRT_PYTHON,
                          daemon.uri("unix-ro")], capture_output=True, text=True, timeout=60,
                         check=True)
    out = json.loads(res.stdout)
    assert out.pop("domains") == ["test"]
    for label, got in out.items():
        assert got is not None and got[0] == ErrorCode.OPERATION_DENIED, (label, got)
        assert "read only access prevents" in got[2], (label, got)


def test_a_remote_read_only_connection_refuses_before_sending(daemon: Daemon) -> None:
    """``virtkit.open_readonly`` on a daemon URI: the library refuses every writing
    method of every table (no argument is even looked at), with the same answer."""
    from virtkit.rpc import bindings

    conn = virtkit.open_readonly(daemon.uri("unix-ro", "/system", "qemu"))
    wrong = []
    try:
        for proc in WRITING:
            target = bindings.method_for_proc(proc.name)
            table = bindings.table_of(target[0]) if target else None
            if target is None or table is None:
                continue
            try:
                getattr(getattr(conn.tables, table), target[0])()
            except VirtError as exc:
                if (exc.code != ErrorCode.OPERATION_DENIED
                        or str(exc) != "operation forbidden: read only access prevents "
                                       f"{api_name(target[0])}"):
                    wrong.append(f"{proc.name}: {exc.code} {exc}")
            else:
                wrong.append(f"{proc.name}: not refused")
        assert conn.tables.hypervisor.connect_get_hostname()
    finally:
        conn.close()
    assert wrong == []
