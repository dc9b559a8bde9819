"""Typed parameters: dict <-> remote_typed_param lists, with libvirt's limits."""

from __future__ import annotations

import pytest

from virtkit.rpc.protocol import REMOTE
from virtkit.rpc.remote_procs import remote_typed_param
from virtkit.rpc.typedparams import (
    ParamType,
    TypedParam,
    TypedParamError,
    decode_params,
    encode_params,
    params_to_dict,
)
from virtkit.rpc.xdr import VarArray


def test_inference_and_wire_bytes() -> None:
    wire = encode_params({"state.state": TypedParam("", ParamType.INT, 1), "cpu.time": 5,
                          "delta": -2, "ratio": 0.5, "on": True, "name": "x"}, limit=16)
    assert [w["value"][0] for w in wire] == [1, 4, 3, 5, 6, 7]
    assert remote_typed_param.encode(wire[0]).hex() == (
        "0000000b" + b"state.state".hex() + "00" + "00000001" "00000001")
    assert remote_typed_param.encode(wire[4]).hex().endswith("00000006" "00000001")


def test_round_trip_through_xdr() -> None:
    params = [TypedParam("a", ParamType.UINT, 7), TypedParam("b", ParamType.LLONG, -7),
              TypedParam("c", ParamType.DOUBLE, 1.25), TypedParam("d", ParamType.BOOLEAN, False),
              TypedParam("e", ParamType.STRING, "s"), TypedParam("a", ParamType.UINT, 8)]
    lst = VarArray(remote_typed_param, 16)
    back = decode_params(lst.decode(lst.encode(encode_params(params, limit=16))), limit=16)
    assert back == params
    assert params_to_dict(back) == {"a": 7, "b": -7, "c": 1.25, "d": False, "e": "s"}


def test_hints_override_inference() -> None:
    wire = encode_params({"cpu_shares": 5, "x": 1}, limit=4, hints={"cpu_shares": ParamType.UINT})
    assert [w["value"] for w in wire] == [(2, 5), (4, 1)]


def test_strings_dropped_without_string_okay() -> None:
    assert encode_params({"a": "s", "b": 1}, limit=4, string_okay=False) == [
        {"field": "b", "value": (4, 1)}]


@pytest.mark.parametrize(("params", "message"), [
    ({"x" * 80: 1}, "too big for destination"),
    ({"a": 1, "b": 2}, "too many parameters '2' for limit '1'"),
    ([TypedParam("a", ParamType.INT, 1 << 31)], "out of range for INT"),
    ([TypedParam("a", ParamType.UINT, -1)], "out of range for UINT"),
    ([TypedParam("a", ParamType.ULLONG, True)], "needs an int"),
    ([TypedParam("a", ParamType.STRING, 1)], "needs a str"),
    ({"a": object()}, "cannot infer"),
])
def test_limits(params: object, message: str) -> None:
    with pytest.raises(TypedParamError, match=message):
        encode_params(params, limit=1)  # type: ignore[arg-type]


def test_field_of_79_bytes_is_fine() -> None:
    assert encode_params({"x" * 79: 1}, limit=1)[0]["field"] == "x" * 79


def test_decode_refuses_unknown_type_and_too_many() -> None:
    with pytest.raises(TypedParamError, match="unknown parameter type: 9"):
        decode_params([{"field": "a", "value": (9, 0)}])
    with pytest.raises(TypedParamError, match="too many"):
        decode_params([{"field": "a", "value": (1, 0)}] * 3, limit=2)


def test_wire_limit_from_protocol() -> None:
    t = REMOTE["domain_get_scheduler_parameters_flags"].ret
    with pytest.raises(Exception, match="exceeds maximum 16"):
        t.encode({"params": encode_params({f"p{i}": i for i in range(17)}, limit=99)})
