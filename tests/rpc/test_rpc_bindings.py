"""Procedure <-> driver-method bindings, value conversions and event messages."""

from __future__ import annotations

from typing import Any

import pytest

from virtkit.drivers import base
from virtkit.rpc import bindings, eventmsgs, wiretypes
from virtkit.rpc import remote_procs as rp
from virtkit.rpc.protocol import REMOTE
from virtkit.rpc.xdr import VarArray
from virtkit.types import (
    DomainIdent,
    DomainInfo,
    NetworkIdent,
    NodeDeviceIdent,
    NodeInfo,
    SnapshotIdent,
    StoragePoolIdent,
    StorageVolIdent,
)

DOM = DomainIdent("web1", "6695eb01-f6a4-8304-79aa-97f2502e193f", 3)


def test_every_table_method_has_a_procedure() -> None:
    # Only methods with no procedure of their own are left: the local-only checks
    # and the event registrations, which the remote driver implements by hand.
    assert sorted(bindings.check_bindings()) == [
        "connect_domain_event_register_any",
        "connect_is_alive",
        "connect_is_encrypted",
        "connect_network_event_register_any",
        "connect_node_device_event_register_any",
        "connect_secret_event_register_any",
        "connect_storage_pool_event_register_any",
    ]


@pytest.mark.parametrize(("name", "api"), [
    ("domain_get_xml_desc", "virDomainGetXMLDesc"),
    ("domain_lookup_by_uuid", "virDomainLookupByUUID"),
    ("connect_list_all_nwfilters", "virConnectListAllNWFilters"),
    ("domain_get_os_type", "virDomainGetOSType"),
    ("node_get_cpu_map", "virNodeGetCPUMap"),
])
def test_api_names(name: str, api: str) -> None:
    assert bindings.api_name(name) == api


@pytest.mark.parametrize(("proc", "method"), [
    ("domain_define_xml_flags", ("domain_define_xml", ())),
    ("domain_define_xml", ("domain_define_xml", ())),
    ("domain_create_with_flags", ("domain_create", ())),
    ("domain_set_memory", ("domain_set_memory_flags", (1,))),
    ("domain_get_info", ("domain_get_info", ())),
    ("auth_list", None),
])
def test_method_for_proc(proc: str, method: Any) -> None:
    assert bindings.method_for_proc(proc) == method


def test_client_prefers_flag_variants() -> None:
    assert bindings.proc_for_method("domain_define_xml") == "domain_define_xml_flags"
    assert bindings.proc_for_method("domain_undefine") == "domain_undefine_flags"
    assert bindings.proc_for_method("domain_create") == "domain_create_with_flags"
    assert bindings.proc_for_method("domain_get_info") == "domain_get_info"


class _FakeHV(base.HypervisorDriver):
    """Records calls and answers with fixed values."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def domain_get_info(self, dom: DomainIdent) -> DomainInfo:
        self.calls.append(("info", dom))
        return DomainInfo(1, 2048, 1024, 2, 99)

    def connect_list_all_domains(self, flags: int = 0) -> list[DomainIdent]:
        self.calls.append(("list", flags))
        return [DOM, DOM]

    def domain_define_xml(self, xml: str, flags: int = 0) -> DomainIdent:
        self.calls.append(("define", xml, flags))
        return DOM

    def domain_get_memory_parameters(self, dom: DomainIdent, flags: int = 0) -> dict[str, Any]:
        return {"hard_limit": 10, "soft_limit": 20}

    def node_get_info(self) -> NodeInfo:
        return NodeInfo("x86_64", 4096, 4, 2000, 1, 1, 4, 1)

    def domain_get_state(self, dom: DomainIdent, flags: int = 0) -> tuple[int, int]:
        return 3, 1


def _loop(tables: base.DriverTables) -> bindings.Call:
    """A client ``call`` that runs the server binding and the XDR codec in between."""
    def call(name: str, args: Any) -> Any:
        proc = REMOTE[name]
        wire_args = proc.args.decode(proc.args.encode(args)) if args is not None else None
        server = bindings.server_call(proc.number)
        assert server is not None, name
        ret = server.invoke(tables, wire_args)
        if isinstance(ret, bytes):  # a fast listing: already encoded
            return proc.ret.decode(ret)
        return proc.ret.decode(proc.ret.encode(ret)) if ret is not None else None

    return call


@pytest.fixture
def fake() -> tuple[_FakeHV, bindings.Call]:
    hv = _FakeHV()
    return hv, _loop(base.DriverTables(hv))


def _run(call: bindings.Call, method: str, *args: Any, **kwargs: Any) -> Any:
    bound = bindings.bind_arguments(method)(args, kwargs)
    return bindings.client_call(method).run(call, bound)


def test_record_round_trip(fake: tuple[_FakeHV, bindings.Call]) -> None:
    hv, call = fake
    assert _run(call, "domain_get_info", DOM) == DomainInfo(1, 2048, 1024, 2, 99)
    assert hv.calls == [("info", DOM)]
    assert _run(call, "node_get_info") == NodeInfo("x86_64", 4096, 4, 2000, 1, 1, 4, 1)
    assert _run(call, "domain_get_state", DOM) == (3, 1)


def test_listing_and_defaults(fake: tuple[_FakeHV, bindings.Call]) -> None:
    hv, call = fake
    assert _run(call, "connect_list_all_domains") == [DOM, DOM]
    assert _run(call, "domain_define_xml", "<domain/>", flags=1) == DOM
    assert hv.calls == [("list", 0), ("define", "<domain/>", 1)]


def test_two_step_typed_params(fake: tuple[_FakeHV, bindings.Call]) -> None:
    _, call = fake
    assert _run(call, "domain_get_memory_parameters", DOM, 0) == {
        "hard_limit": 10, "soft_limit": 20}


def test_missing_argument_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        bindings.bind_arguments("domain_get_info")((), {})


@pytest.mark.parametrize("ident", [
    DOM,
    NetworkIdent("default", "dd8fe884-6c02-601e-7551-cca97df1c5df"),
    StoragePoolIdent("p", "dd8fe884-6c02-601e-7551-cca97df1c5df"),
    StorageVolIdent("p", "v", "/p/v"),
    SnapshotIdent(DOM, "snap1"),
])
def test_identity_conversions(ident: Any) -> None:
    xdr = {DomainIdent: rp.remote_nonnull_domain, NetworkIdent: rp.remote_nonnull_network,
           StoragePoolIdent: rp.remote_nonnull_storage_pool,
           StorageVolIdent: rp.remote_nonnull_storage_vol,
           SnapshotIdent: rp.remote_nonnull_domain_snapshot}[type(ident)]
    to_py, to_wire = wiretypes.converters(xdr)
    assert to_py is not None and to_wire is not None
    assert to_py(xdr.decode(xdr.encode(to_wire(ident)))) == ident


def test_typed_params_and_bits() -> None:
    to_py, to_wire = wiretypes.converters(VarArray(rp.remote_typed_param))
    assert to_py is not None and to_wire is not None
    params = {"a": 1, "b": -2, "c": 1.5, "d": "x", "e": True}
    assert to_py(to_wire(params)) == params
    bits = wiretypes.bools_to_bits([True, False, True, False, False, False, False, False, True])
    assert bits == b"\x05\x01"
    assert wiretypes.bits_to_bools(bits, 9)[8] is True
    assert wiretypes.uuid_str(wiretypes.uuid_bytes(DOM.uuid)) == DOM.uuid
    with pytest.raises(ValueError):
        wiretypes.uuid_bytes("1234")


def test_char_arrays_are_c_strings() -> None:
    to_py, to_wire = wiretypes.converters(rp.remote_node_get_info_ret.fields[0][1])
    assert to_py is not None and to_wire is not None
    assert to_py(b"i686\0\0\0") == "i686"
    assert to_wire("x" * 40) == b"x" * 31  # char[32]: room for the NUL


@pytest.mark.parametrize("event_id", range(27))
def test_every_domain_event_has_a_message(event_id: int) -> None:
    ek = eventmsgs.event_proc(eventmsgs.DOMAIN, event_id)
    assert ek is not None
    assert eventmsgs.event_for_proc(ek.proc.number) is ek


def test_lifecycle_event_round_trip() -> None:
    ek = eventmsgs.event_proc(eventmsgs.DOMAIN, 0)
    assert ek is not None
    assert ek.proc.number == 318  # DOMAIN_EVENT_CALLBACK_LIFECYCLE
    assert ek.decode(ek.encode(7, DOM, (2, 0))) == (7, DOM, (2, 0))
    with pytest.raises(ValueError):
        ek.encode(7, DOM, (2,))


def test_pool_and_network_events() -> None:
    net = NetworkIdent("default", "dd8fe884-6c02-601e-7551-cca97df1c5df")
    ek = eventmsgs.event_proc(eventmsgs.NETWORK, 0)
    assert ek is not None and ek.decode(ek.encode(1, net, (3, 0))) == (1, net, (3, 0))
    pool = StoragePoolIdent("p", "dd8fe884-6c02-601e-7551-cca97df1c5df")
    ek = eventmsgs.event_proc(eventmsgs.POOL, 1)
    assert ek is not None and ek.decode(ek.encode(2, pool, ())) == (2, pool, ())
    assert eventmsgs.event_proc(eventmsgs.POOL, 9) is None


def test_node_device_events() -> None:
    dev = NodeDeviceIdent("scsi_host12")
    ek = eventmsgs.event_proc(eventmsgs.NODEDEV, 0)
    assert ek is not None and ek.proc.number == 376  # NODE_DEVICE_EVENT_LIFECYCLE
    assert ek.decode(ek.encode(3, dev, (1, 0))) == (3, dev, (1, 0))
    assert eventmsgs.event_for_proc(376) is ek
    ek = eventmsgs.event_proc(eventmsgs.NODEDEV, 1)
    assert ek is not None and ek.proc.number == 377  # NODE_DEVICE_EVENT_UPDATE
    assert ek.decode(ek.encode(4, dev, ())) == (4, dev, ())
    assert eventmsgs.event_proc(eventmsgs.NODEDEV, 2) is None


def test_fast_listing_encodes_like_the_generic_codec() -> None:
    proc = REMOTE["connect_list_all_domains"]
    server = bindings.server_call(proc.number)
    assert server is not None
    doms = [DomainIdent(f"d{i}", DOM.uuid[:-3] + f"{i:03d}", i - 1) for i in range(5)]
    fast = bindings._listing_encoder(proc.ret.fields[0][1])  # type: ignore[attr-defined]
    assert fast is not None
    generic = proc.ret.encode({"domains": [
        {"name": d.name, "uuid": wiretypes.uuid_bytes(d.uuid), "id": d.id} for d in doms],
        "ret": 5})
    assert fast(doms, {"need_results": 1, "flags": 0}) == generic
    assert proc.ret.decode(fast(doms, {"need_results": 0, "flags": 0})) == {
        "domains": [], "ret": 5}
