"""Per-device tuning for the test driver: interface bandwidth and disk I/O throttling.

Both live in the definition (``<interface><bandwidth>``, ``<disk><iotune>``)
and are written back the way libvirt's formatter writes them: only non-zero
values, ``<iotune>`` only when something is set.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any

from virtkit.constants import TypedParameterFlags
from virtkit.drivers.inmemory.common import AFFECT_CONFIG, AFFECT_LIVE, Base, check_flags, err
from virtkit.drivers.inmemory.domconfig import _one_def
from virtkit.drivers.inmemory.tuning import validate_params
from virtkit.errors import ErrorCode, ErrorDomain
from virtkit.types import DomainIdent, TypedParams

if TYPE_CHECKING:
    from virtkit.conf.domain import DomainDef

__all__ = ["BANDWIDTH_PARAMS", "DeviceTuningMixin"]

_STRING_OKAY = int(TypedParameterFlags.OKAY)  # VIR_TYPED_PARAM_STRING_OKAY
_IOTUNE_MAX = 1000000000000000  # TEST_BLOCK_IOTUNE_MAX
# virDomainGetInterfaceParameters' order: (parameter, direction, rate attribute)
BANDWIDTH_PARAMS = (
    ("inbound.average", "inbound", "average"), ("inbound.peak", "inbound", "peak"),
    ("inbound.burst", "inbound", "burst"), ("inbound.floor", "inbound", "floor"),
    ("outbound.average", "outbound", "average"), ("outbound.peak", "outbound", "peak"),
    ("outbound.burst", "outbound", "burst"),
)
_MAC = re.compile(r"[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}")


def _iotune_params() -> tuple[str, ...]:
    """virDomainGetBlockIoTune's parameters: the ``<iotune>`` children, in its order (the
    model's list; imported late, the XML models stay off the CLI's start-up path)."""
    from virtkit.conf.dev_disk import IOTUNE_FIELDS

    return IOTUNE_FIELDS


@cache
def _bandwidth_class() -> Any:
    """``<bandwidth>`` with neither direction, written as libvirt writes it: open and
    close tags on their own lines."""
    from virtkit.conf.netdev import Bandwidth

    class EmptyBandwidth(Bandwidth):
        def write(self, out: list[str], indent: int, tag: str | None = None) -> None:
            if self.inbound is not None or self.outbound is not None or self.classID:
                super().write(out, indent, tag)
                return
            pad = " " * indent
            out.append(f"{pad}<bandwidth>\n{pad}</bandwidth>\n")

    return EmptyBandwidth


@cache
def _iotune_class() -> Any:
    """An ``<iotune>`` whose empty ``group_name`` is written ``<group_name></group_name>``."""
    from virtkit.conf.dev_disk import IOTune

    class TestIOTune(IOTune):
        def write_field(self, out: list[str], indent: int, fname: str, spec: Any,
                        value: Any) -> None:
            if fname == "group_name" and value == "":
                out.append(f"{' ' * indent}<group_name></group_name>\n")
                return
            super().write_field(out, indent, fname, spec, value)

    return TestIOTune


def _num(text: str | None) -> int:
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


def find_net(d: DomainDef, device: str) -> Any:
    """virDomainNetFind: by MAC address when ``device`` is one, else by target name."""
    nets = d.devices.interfaces if d.devices is not None else []
    if _MAC.fullmatch(device):
        want = [int(x, 16) for x in device.split(":")]
        for net in nets:
            mac = net.mac.address if net.mac is not None else None
            if mac and [int(x, 16) for x in mac.split(":")] == want:
                return net
    else:
        for net in nets:
            if net.target is not None and net.target.dev == device:
                return net
    raise err(ErrorCode.INVALID_ARG, f"'{device}' is not a known interface",
              ErrorDomain.DOMAIN)


def find_disk(d: DomainDef, name: str) -> Any:
    """virDomainDiskByName(allow_ambiguous=true): target name, or source path if ``/...``."""
    for disk in d.devices.disks if d.devices is not None else []:
        if not name.startswith("/"):
            if disk.target is not None and disk.target.dev == name:
                return disk
        else:
            src = disk.source
            if src is not None and name in (getattr(src, "file", None), getattr(src, "dev", None),
                                            getattr(src, "dir", None), getattr(src, "name", None)):
                return disk
    return None


class DeviceTuningMixin(Base):
    """virDomainSet/GetInterfaceParameters, virDomainSet/GetBlockIoTune."""

    # ------------------------------------------------------------ interface bandwidth

    def domain_set_interface_parameters(
        self, dom: DomainIdent, device: str, params: TypedParams, flags: int = 0
    ) -> None:
        from virtkit.conf.netdev import BandwidthRate

        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainSetInterfaceParameters")
        validate_params(params, {name: "uint" for name, _, _ in BANDWIDTH_PARAMS})
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=True)
            net = find_net(d, device)
            rates: dict[str, dict[str, int]] = {"inbound": {}, "outbound": {}}
            for name, direction, attr in BANDWIDTH_PARAMS:
                if name in params:
                    rates[direction][attr] = int(params[name])
            specified = {"inbound": "inbound.average" in params or "inbound.floor" in params,
                         "outbound": "outbound.average" in params}
            new: dict[str, Any] = {}
            for direction, values in rates.items():
                if values.get("average") or values.get("floor"):
                    rate = BandwidthRate()
                    for attr in ("average", "peak", "floor", "burst"):
                        if values.get(attr):
                            setattr(rate, attr, str(values[attr]))
                    new[direction] = rate
                else:
                    new[direction] = None
            bandwidth = _bandwidth_class()()
            if net.bandwidth is None:
                bandwidth.inbound, bandwidth.outbound = new["inbound"], new["outbound"]
            else:
                for direction in ("inbound", "outbound"):
                    keep = new[direction] is None and not specified[direction]
                    setattr(bandwidth, direction,
                            getattr(net.bandwidth, direction) if keep else new[direction])
                bandwidth.classID = net.bandwidth.classID
            net.bandwidth = bandwidth

    def domain_get_interface_parameters(
        self, dom: DomainIdent, device: str, flags: int = 0
    ) -> TypedParams:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG | _STRING_OKAY,
                    "testDomainGetInterfaceParameters")
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags & ~_STRING_OKAY, for_write=False)
            net = find_net(d, device)
            bw = net.bandwidth
            out: TypedParams = {}
            for name, direction, attr in BANDWIDTH_PARAMS:
                rate = getattr(bw, direction) if bw is not None else None
                out[name] = _num(getattr(rate, attr)) if rate is not None else 0
            return out

    # ------------------------------------------------------------ disk I/O throttling

    def domain_set_block_io_tune(
        self, dom: DomainIdent, disk: str, params: TypedParams, flags: int = 0
    ) -> None:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG, "testDomainSetBlockIoTune")
        validate_params(params, {name: "string" if name == "group_name" else "ullong"
                                 for name in _iotune_params()})
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags, for_write=True)
            found = find_disk(d, disk)
            if found is None:
                raise err(ErrorCode.INVALID_ARG,
                          f"missing persistent configuration for disk '{disk}'")
            tune = found.iotune
            info: dict[str, Any] = {name: (getattr(tune, name) if name == "group_name" else
                                           _num(getattr(tune, name)))
                                    if tune is not None else (None if name == "group_name" else 0)
                                    for name in _iotune_params()}
            for name, value in params.items():
                if name != "group_name" and int(value) > _IOTUNE_MAX:
                    raise err(ErrorCode.ARGUMENT_UNSUPPORTED,
                              f"block I/O throttle limit value must be no more than "
                              f"{_IOTUNE_MAX}")
                info[name] = value if name == "group_name" else int(value)
            for kind in ("bytes_sec", "iops_sec", "bytes_sec_max", "iops_sec_max"):
                if info[f"total_{kind}"] and (info[f"read_{kind}"] or info[f"write_{kind}"]):
                    raise err(ErrorCode.INVALID_ARG,
                              f"total and read/write of {kind} cannot be set at the same time")
            for field in ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
                          "total_iops_sec", "read_iops_sec", "write_iops_sec"):
                if info[field] > info[f"{field}_max"]:
                    # libvirt checks against the _max field even when that is unset (0)
                    raise err(ErrorCode.INVALID_ARG,
                              f"{field} cannot be set higher than {field}_max ")
            new = _iotune_class()()
            for name in _iotune_params():
                value = info[name]
                if name == "group_name":
                    new.group_name = value
                elif value:
                    setattr(new, name, str(value))
            found.iotune = new if new.to_xml().strip() != "<iotune/>" else None

    def domain_get_block_io_tune(
        self, dom: DomainIdent, disk: str | None, flags: int = 0
    ) -> TypedParams:
        check_flags(flags, AFFECT_LIVE | AFFECT_CONFIG | _STRING_OKAY,
                    "testDomainGetBlockIoTune")
        if disk is None:  # a caller asking how many parameters there are (virsh does)
            return {name: "" if name == "group_name" else 0 for name in _iotune_params()}
        with self._node.lock:
            d, _ = _one_def(self._dom(dom), flags & ~_STRING_OKAY, for_write=False)
            found = find_disk(d, disk or "")
            if found is None:
                raise err(ErrorCode.INVALID_ARG,
                          f"disk '{disk}' was not found in the domain config")
            tune = found.iotune
            out: TypedParams = {}
            for name in _iotune_params():
                value = getattr(tune, name) if tune is not None else None
                out[name] = (value or "") if name == "group_name" else _num(value)
            return out
