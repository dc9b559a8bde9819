"""The wire type of each ``virConnectGetAllDomainStats`` key, as libvirt's drivers add it.

A Python int would go as ULLONG (``typedparams`` infers it); libvirt 9.0's
qemuDomainGetStats* and testDomainGetStats add some keys as INT, UINT or LLONG
(``virTypedParamListAddInt(params, dom->state.state, "state.state")``), and C clients
read them with the matching ``virTypedParamsGetInt``/``GetUInt``, which fail on any
other type. Keys carry indices (``vcpu.3.state``), so the table is of patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache

from virtkit.rpc.typedparams import ParamType

__all__ = ["DOMAIN_STATS_TYPES", "domain_stats_type"]

_N = r"\d+"

# (pattern, type) in libvirt's qemu_driver.c order; a key no pattern matches keeps the
# inferred type (ULLONG for counters, STRING for names, BOOLEAN for vcpu.N.halted).
_RULES: tuple[tuple[str, ParamType], ...] = (
    # qemuDomainGetStatsState
    (r"state\.(state|reason)", ParamType.INT),
    # qemuDomainGetStatsVcpu
    (r"vcpu\.(current|maximum)", ParamType.UINT),
    (rf"vcpu\.{_N}\.state", ParamType.INT),
    # qemuDomainGetStatsInterface, qemuDomainGetStatsBlock(ExportHeader)
    (r"net\.count", ParamType.UINT),
    (r"block\.count", ParamType.UINT),
    (rf"block\.{_N}\.backingIndex", ParamType.UINT),
    # qemuDomainGetStatsIOThread
    (r"iothread\.count", ParamType.UINT),
    (rf"iothread\.{_N}\.poll-(grow|shrink)", ParamType.UINT),
    # qemuDomainGetStatsCpuCache, qemuDomainGetStatsMemoryBandwidth
    (r"cpu\.cache\.monitor\.count", ParamType.UINT),
    (rf"cpu\.cache\.monitor\.{_N}\.bank\.count", ParamType.UINT),
    (rf"cpu\.cache\.monitor\.{_N}\.bank\.{_N}\.(id|bytes)", ParamType.UINT),
    (r"memory\.bandwidth\.monitor\.count", ParamType.UINT),
    (rf"memory\.bandwidth\.monitor\.{_N}\.node\.count", ParamType.UINT),
    (rf"memory\.bandwidth\.monitor\.{_N}\.node\.{_N}\.id", ParamType.UINT),
    # qemuDomainGetStatsDirtyRate
    (r"dirtyrate\.(calc_status|calc_period)", ParamType.INT),
    (r"dirtyrate\.(calc_start_time|megabytes_per_second)", ParamType.LLONG),
)

_MATCHERS = tuple((re.compile(pattern + r"\Z"), kind) for pattern, kind in _RULES)


@lru_cache(maxsize=4096)
def domain_stats_type(key: str) -> ParamType | None:
    """libvirt's type for stats key ``key``, or None where inference gives it."""
    for matcher, kind in _MATCHERS:
        if matcher.match(key):
            return kind
    return None


class _StatsTypes(Mapping[str, ParamType]):
    """``encode_params`` hints for stats records: a lookup by pattern, not a table."""

    def __getitem__(self, key: str) -> ParamType:
        kind = domain_stats_type(key)
        if kind is None:
            raise KeyError(key)
        return kind

    def get(self, key: str, default: ParamType | None = None) -> ParamType | None:  # type: ignore[override]
        kind = domain_stats_type(key)
        return default if kind is None else kind

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


DOMAIN_STATS_TYPES: Mapping[str, ParamType] = _StatsTypes()
