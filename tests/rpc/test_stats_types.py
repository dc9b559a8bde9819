"""Stats keys go on the wire with libvirt's types (the oracle compares with libvirtd:
tests/oracles/test_qemu_oracle.py ``domstats-types``); here the pattern table itself."""

from __future__ import annotations

import pytest

from virtkit.rpc.stats_types import DOMAIN_STATS_TYPES, domain_stats_type
from virtkit.rpc.typedparams import ParamType, encode_params


@pytest.mark.parametrize(("key", "kind"), [
    ("state.state", ParamType.INT), ("state.reason", ParamType.INT),
    ("vcpu.current", ParamType.UINT), ("vcpu.maximum", ParamType.UINT),
    ("vcpu.0.state", ParamType.INT), ("vcpu.17.state", ParamType.INT),
    ("net.count", ParamType.UINT), ("block.count", ParamType.UINT),
    ("block.3.backingIndex", ParamType.UINT), ("iothread.count", ParamType.UINT),
    ("iothread.2.poll-grow", ParamType.UINT), ("iothread.2.poll-shrink", ParamType.UINT),
    ("cpu.cache.monitor.count", ParamType.UINT),
    ("cpu.cache.monitor.0.bank.1.bytes", ParamType.UINT),
    ("memory.bandwidth.monitor.1.node.0.id", ParamType.UINT),
    ("dirtyrate.calc_status", ParamType.INT), ("dirtyrate.calc_period", ParamType.INT),
    ("dirtyrate.calc_start_time", ParamType.LLONG),
    ("dirtyrate.megabytes_per_second", ParamType.LLONG),
])
def test_typed_keys(key: str, kind: ParamType) -> None:
    assert domain_stats_type(key) is kind


@pytest.mark.parametrize("key", [
    "cpu.time", "vcpu.0.time", "vcpu.0.wait", "balloon.current", "block.0.rd.bytes",
    "block.0.capacity", "net.1.rx.bytes", "iothread.2.poll-max-ns",
    "dirtyrate.vcpu.0.megabytes_per_second", "state.statex", "xstate.state",
    "vcpu.a.state", "vcpu.0.state.x",
])
def test_other_keys_keep_the_inferred_type(key: str) -> None:
    assert domain_stats_type(key) is None


def test_encoding_uses_the_table() -> None:
    wire = encode_params({"state.state": 1, "vcpu.0.state": 1, "cpu.time": 5,
                          "block.0.name": "vda"}, limit=100, hints=DOMAIN_STATS_TYPES)
    assert [w["value"][0] for w in wire] == [ParamType.INT, ParamType.INT,
                                            ParamType.ULLONG, ParamType.STRING]
