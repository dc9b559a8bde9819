"""Interface QoS on a host network device with ``tc`` (libvirt's virnetdevbandwidth.c).

A ``<bandwidth>`` (rates in kilobytes per second, bursts in kilobytes) becomes, on the
host device, what virNetDevBandwidthSet makes: for the direction the host *sends* into
the device, a root ``htb`` qdisc ``1:`` with class ``1:1`` (rate/ceil/burst/quantum), an
``sfq`` leaf ``2:`` and an ``fw`` filter; for the direction the host *receives*, an
``ingress`` qdisc with a ``u32`` match-all filter policing to the rate. For a tap the
guest's inbound is the host's transmit (``swapped``); only macvtap (``direct``) shares
the host's view. The commands are the ones libvirt runs, through iproute2's ``tc``, so
the kernel state (rate tables, buffers) and, where a kernel lacks a qdisc or action, the
error are the same as libvirtd's. ``floor`` needs a network with inbound QoS: it is
refused here (virtkit's networks have none).

Shared by the QEMU driver (start, hot-plug, live update) and, later, domiftune and the
network driver.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from virtkit.conf.netdev import Bandwidth, BandwidthRate
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = [
    "TC",
    "BandwidthSpec",
    "Rate",
    "clear",
    "parse",
    "plan",
    "set_bandwidth",
    "set_root_qdisc",
    "shares_host_view",
    "supports_bandwidth",
]

TC = "tc"  # libvirt's TC (run from PATH, named so in its error messages)
_UINT_MAX = 2**32 - 1
_ULLONG_MAX = 2**64 - 1
_MTU = 1500  # virNetDevBandwidthCmdAddOptimalQuantum
_TC_TIMEOUT = 30.0  # a hang guard: tc returns at once


@dataclass(frozen=True)
class Rate:
    """One direction (virNetDevBandwidthRate): kilobytes/s, burst in kilobytes; 0 = unset."""

    average: int = 0
    peak: int = 0
    burst: int = 0
    floor: int = 0


@dataclass(frozen=True)
class BandwidthSpec:
    """A parsed ``<bandwidth>`` from the guest's point of view."""

    inbound: Rate | None = None
    outbound: Rate | None = None

    @property
    def has_floor(self) -> bool:
        """virNetDevBandwidthHasFloor."""
        return self.inbound is not None and self.inbound.floor != 0


# ------------------------------------------------------------------ parsing


def _ull(text: str, what: str) -> int:
    """virStrToLong_ullp (base 10, whole string, no sign other than '+')."""
    s = text.lstrip(" \t\n\v\f\r")
    if s.startswith("+"):
        s = s[1:]
    if not s.isdigit() or not s.isascii() or int(s) > _ULLONG_MAX:
        raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.NONE,
                         f"could not convert bandwidth {what} value '{text}'")
    return int(s)


def _rate(r: BandwidthRate) -> Rate:
    """virNetDevBandwidthParseRate."""
    if r.average is None and r.floor is None:
        raise make_error(ErrorCode.XML_DETAIL, ErrorDomain.NONE,
                         "Missing mandatory average or floor attributes")
    if (r.peak is not None or r.burst is not None) and r.average is None:
        raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.NONE,
                         "'peak' and 'burst' require 'average' attribute")
    return Rate(
        average=_ull(r.average, "average") if r.average is not None else 0,
        peak=_ull(r.peak, "peak") if r.peak is not None else 0,
        burst=_ull(r.burst, "burst") if r.burst is not None else 0,
        floor=_ull(r.floor, "floor") if r.floor is not None else 0,
    )


def parse(bw: Bandwidth | None, *, allow_floor: bool,
          allow_class_id: bool = False) -> BandwidthSpec | None:
    """virNetDevBandwidthParse: libvirt's checks and errors; None when neither direction
    is given (libvirt then keeps no bandwidth at all). ``allow_floor``: an interface of
    type 'network'."""
    if bw is None:
        return None
    if bw.classID is not None and not allow_class_id:
        raise make_error(ErrorCode.XML_DETAIL, ErrorDomain.NONE,
                         "classID attribute not supported on <bandwidth> in this usage context")
    inbound = _rate(bw.inbound) if bw.inbound is not None else None
    if inbound is not None and inbound.floor and not allow_floor:
        raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.NONE,
                         "floor attribute is not supported for this config")
    outbound = _rate(bw.outbound) if bw.outbound is not None else None
    if outbound is not None and outbound.floor:
        raise make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.NONE,
                         "'floor' attribute allowed only in <inbound> element")
    if inbound is None and outbound is None:
        return None
    return BandwidthSpec(inbound, outbound)


# ------------------------------------------------------------------ interface types


def supports_bandwidth(net_type: str | None) -> bool:
    """virNetDevSupportsBandwidth."""
    return net_type in ("bridge", "network", "direct", "ethernet")


def shares_host_view(net_type: str | None) -> bool:
    """virDomainNetTypeSharesHostView: only macvtap sees traffic as the host does."""
    return net_type == "direct"


# ------------------------------------------------------------------ the tc commands


def _quantum(rate: Rate) -> list[str]:
    """virNetDevBandwidthCmdAddOptimalQuantum."""
    return ["quantum", str(rate.average * 1024 // 8 // _MTU or 1)]


def plan(ifname: str, spec: BandwidthSpec, *, swapped: bool,
         hierarchical: bool = False) -> list[list[str]]:
    """The ``tc`` argument lists virNetDevBandwidthSet runs after clearing ``ifname``
    (``hierarchical``: a network bridge's class tree, for ``floor``)."""
    rx, tx = (spec.outbound, spec.inbound) if swapped else (spec.inbound, spec.outbound)
    cmds: list[list[str]] = []
    if tx is not None and tx.average:
        average = f"{tx.average}kbps"
        peak = f"{tx.peak}kbps" if tx.peak else None
        cmds.append(["qdisc", "add", "dev", ifname, "root", "handle", "1:", "htb",
                     "default", "2" if hierarchical else "1"])
        if hierarchical:
            cmds.append(["class", "add", "dev", ifname, "parent", "1:", "classid", "1:1",
                         "htb", "rate", average, "ceil", peak or average, *_quantum(tx)])
        cls = ["class", "add", "dev", ifname, "parent", "1:1" if hierarchical else "1:",
               "classid", "1:2" if hierarchical else "1:1", "htb", "rate", average]
        if peak:
            cls += ["ceil", peak]
        if tx.burst:
            cls += ["burst", f"{tx.burst}kb"]
        cmds.append([*cls, *_quantum(tx)])
        cmds.append(["qdisc", "add", "dev", ifname, "parent",
                     "1:2" if hierarchical else "1:1", "handle", "2:", "sfq", "perturb", "10"])
        cmds.append(["filter", "add", "dev", ifname, "parent", "1:0", "protocol", "all",
                     "prio", "1", "handle", "1", "fw", "flowid", "1"])
    if rx is not None:
        # tc keeps a burst in a uint of bytes: the default (the average) is capped
        burst = rx.burst if rx.burst else min(rx.average, _UINT_MAX // 1024)
        cmds.append(["qdisc", "add", "dev", ifname, "ingress"])
        cmds.append(["filter", "add", "dev", ifname, "parent", "ffff:", "protocol", "all",
                     "u32", "match", "u32", "0", "0", "police", "rate", f"{rx.average}kbps",
                     "burst", f"{burst}kb", "mtu", "64kb", "drop", "flowid", ":1"])
    return cmds


def _env() -> dict[str, str]:
    """virCommand's environment: the common variables, C locale."""
    return {"LC_ALL": "C",
            "PATH": os.environ.get("PATH") or "/usr/sbin:/usr/bin:/sbin:/bin"}


def _run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([TC, *args], capture_output=True, text=True, env=_env(),
                              timeout=_TC_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                         f"Cannot run {TC}: {exc}") from None


def _run_checked(args: Sequence[str]) -> None:
    """virCommandRun with no status pointer: a non-zero exit is an error naming the
    command and what it wrote to stderr."""
    done = _run(args)
    if done.returncode != 0:
        cmdline = " ".join(shlex.quote(a) for a in (TC, *args))
        err = f": {done.stderr}" if done.stderr else ""
        raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                         f"Child process ({cmdline}) unexpected exit status "
                         f"{done.returncode}{err}")


def clear(ifname: str | None) -> None:
    """virNetDevBandwidthClear: delete the root and ingress qdiscs (absent ones are fine)."""
    if not ifname:
        return
    _run(["qdisc", "del", "dev", ifname, "root"])
    _run(["qdisc", "del", "dev", ifname, "ingress"])


def set_bandwidth(ifname: str | None, spec: BandwidthSpec | None, *, swapped: bool,
                  hierarchical: bool = False) -> None:
    """virNetDevBandwidthSet: replace ``ifname``'s QoS with ``spec`` (None: leave it).

    A failing ``tc`` raises VIR_ERR_INTERNAL_ERROR as libvirt's does; what ran before it
    stays, as in libvirt."""
    if spec is None:
        return
    if os.geteuid() != 0:
        raise make_error(ErrorCode.OPERATION_UNSUPPORTED, ErrorDomain.NONE,
                         "Network bandwidth tuning is not available in session mode")
    if not ifname:
        raise make_error(ErrorCode.OPERATION_UNSUPPORTED, ErrorDomain.NONE,
                         "Unable to set bandwidth for interface because device name is unknown")
    clear(ifname)
    for args in plan(ifname, spec, swapped=swapped, hierarchical=hierarchical):
        _run_checked(args)


def set_root_qdisc(ifname: str, qdisc: str) -> bool:
    """virNetDevBandwidthSetRootQDisc (``noqueue`` on a new tap); False when tc refused."""
    try:
        return _run(["qdisc", "add", "dev", ifname, "root", "handle", "0:", qdisc]).returncode == 0
    except VirtError:
        return False
