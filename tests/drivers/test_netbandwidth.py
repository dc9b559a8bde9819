"""drivers/netbandwidth.py: libvirt's <bandwidth> parsing rules, the tc commands of
virNetDevBandwidthSet, and those commands run by the real tc on a veth in a network
namespace the test makes (read back with ``tc -j`` and netlink).

The commands are checked against the ones libvirtd 9.0 runs (its error messages on this
machine name them: tests/drivers/qemu/test_qemu_bandwidth.py compares a live libvirtd).
Where the kernel lacks a piece of libvirt's shape (this one has no sfq qdisc, fw classifier
or police action), the expected outcome is libvirt's: tc's error, as libvirtd reports it,
with what ran before it left in place.
"""

from __future__ import annotations

import itertools
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from virtkit.conf.netdev import Bandwidth
from virtkit.drivers import netbandwidth as nb
from virtkit.errors import ErrorCode, ErrorDomain, VirtError


def _bw(xml: str) -> Bandwidth:
    return Bandwidth.from_xml(xml)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(("xml", "floor", "code", "message"), [
    ("<bandwidth><inbound peak='10'/></bandwidth>", False, ErrorCode.XML_DETAIL,
     "Missing mandatory average or floor attributes"),
    ("<bandwidth><outbound/></bandwidth>", False, ErrorCode.XML_DETAIL,
     "Missing mandatory average or floor attributes"),
    ("<bandwidth><inbound floor='5' peak='10'/></bandwidth>", True,
     ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: 'peak' and 'burst' require 'average' attribute"),
    ("<bandwidth><inbound average='-1'/></bandwidth>", False, ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: could not convert bandwidth average value '-1'"),
    ("<bandwidth><inbound average='1' peak='x'/></bandwidth>", False,
     ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: could not convert bandwidth peak value 'x'"),
    ("<bandwidth><inbound average='1' burst='18446744073709551616'/></bandwidth>", False,
     ErrorCode.CONFIG_UNSUPPORTED, "unsupported configuration: could not convert bandwidth "
     "burst value '18446744073709551616'"),
    ("<bandwidth><inbound average='1' floor='1'/></bandwidth>", False,
     ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: floor attribute is not supported for this config"),
    ("<bandwidth><outbound average='1' floor='1'/></bandwidth>", True,
     ErrorCode.CONFIG_UNSUPPORTED,
     "unsupported configuration: 'floor' attribute allowed only in <inbound> element"),
    ("<bandwidth classID='3'><inbound average='1'/></bandwidth>", True, ErrorCode.XML_DETAIL,
     "classID attribute not supported on <bandwidth> in this usage context"),
])
def test_parse_refuses_as_libvirt(xml: str, floor: bool, code: int, message: str) -> None:
    with pytest.raises(VirtError) as exc:
        nb.parse(_bw(xml), allow_floor=floor)
    assert (exc.value.code, exc.value.domain, str(exc.value)) == (code, ErrorDomain.NONE,
                                                                  message)


def test_parse_values() -> None:
    spec = nb.parse(_bw("<bandwidth><inbound average='1000' peak='2000' burst='256'/>"
                        "<outbound average=' +5'/></bandwidth>"), allow_floor=False)
    assert spec == nb.BandwidthSpec(nb.Rate(1000, 2000, 256), nb.Rate(5))
    assert nb.parse(_bw("<bandwidth/>"), allow_floor=True) is None  # libvirt keeps none
    assert nb.parse(None, allow_floor=True) is None
    floor = nb.parse(_bw("<bandwidth><inbound floor='7'/></bandwidth>"), allow_floor=True)
    assert floor == nb.BandwidthSpec(nb.Rate(floor=7)) and floor.has_floor


@given(st.integers(min_value=0, max_value=2**64 + 5), st.sampled_from(["", "+", " "]))
def test_parse_numbers(value: int, prefix: str) -> None:
    """virStrToLong_ullp: any unsigned long long in base 10; larger ones refused."""
    bw = _bw(f"<bandwidth><outbound average='{prefix}{value}'/></bandwidth>")
    if value < 2**64:
        spec = nb.parse(bw, allow_floor=False)
        assert spec is not None and spec.outbound == nb.Rate(value)
    else:
        with pytest.raises(VirtError) as exc:
            nb.parse(bw, allow_floor=False)
        assert exc.value.code == ErrorCode.CONFIG_UNSUPPORTED


def test_interface_types() -> None:
    assert [t for t in ("bridge", "network", "direct", "ethernet", "user", "vhostuser")
            if nb.supports_bandwidth(t)] == ["bridge", "network", "direct", "ethernet"]
    assert [t for t in ("bridge", "network", "direct", "ethernet") if nb.shares_host_view(t)] \
        == ["direct"]


# --------------------------------------------------------------------------- the commands


def _tc(line: str) -> list[str]:
    return line.split()


def test_plan_is_libvirts() -> None:
    """The commands of virNetDevBandwidthSet (the sfq and police lines are the ones libvirtd
    9.0 names in its errors on this machine for the same XML)."""
    spec = nb.BandwidthSpec(nb.Rate(1000, 2000, 256), nb.Rate(500, burst=64))
    assert nb.plan("tapbw0", spec, swapped=True) == [
        _tc("qdisc add dev tapbw0 root handle 1: htb default 1"),
        _tc("class add dev tapbw0 parent 1: classid 1:1 htb rate 1000kbps ceil 2000kbps "
            "burst 256kb quantum 85"),
        _tc("qdisc add dev tapbw0 parent 1:1 handle 2: sfq perturb 10"),
        _tc("filter add dev tapbw0 parent 1:0 protocol all prio 1 handle 1 fw flowid 1"),
        _tc("qdisc add dev tapbw0 ingress"),
        _tc("filter add dev tapbw0 parent ffff: protocol all u32 match u32 0 0 police rate "
            "500kbps burst 64kb mtu 64kb drop flowid :1"),
    ]
    # macvtap: the guest's inbound is the host's receive
    assert nb.plan("m0", spec, swapped=False)[0] == _tc(
        "qdisc add dev m0 root handle 1: htb default 1")
    assert nb.plan("m0", spec, swapped=False)[1][-6:] == ["rate", "500kbps", "burst", "64kb",
                                                          "quantum", "42"]
    assert nb.plan("m0", spec, swapped=False)[-1][14:20] == ["rate", "1000kbps", "burst",
                                                             "256kb", "mtu", "64kb"]
    # a network's bridge: the hierarchical tree of 'floor'
    assert nb.plan("br0", nb.BandwidthSpec(nb.Rate(100)), swapped=True,
                   hierarchical=True) == [
        _tc("qdisc add dev br0 root handle 1: htb default 2"),
        _tc("class add dev br0 parent 1: classid 1:1 htb rate 100kbps ceil 100kbps "
            "quantum 8"),
        _tc("class add dev br0 parent 1:1 classid 1:2 htb rate 100kbps quantum 8"),
        _tc("qdisc add dev br0 parent 1:2 handle 2: sfq perturb 10"),
        _tc("filter add dev br0 parent 1:0 protocol all prio 1 handle 1 fw flowid 1"),
    ]


_RATES = [None, nb.Rate(1), nb.Rate(1000, burst=256), nb.Rate(12000, peak=24000),
          nb.Rate(5_000_000, peak=6_000_000, burst=3), nb.Rate(0), nb.Rate(floor=50),
          nb.Rate(100, peak=300, floor=50, burst=9)]  # floor: the network's part, not tc's


@pytest.mark.parametrize(("inbound", "outbound"), list(itertools.product(_RATES, _RATES)))
def test_plan_generated(inbound: nb.Rate | None, outbound: nb.Rate | None) -> None:
    """Each combination: the guest's inbound shapes the tap's transmit (htb), its outbound
    polices the tap's receive; rates in tc's kbps, bursts in kb, libvirt's quantum."""
    cmds = nb.plan("t0", nb.BandwidthSpec(inbound, outbound), swapped=True)
    htb = [c for c in cmds if "htb" in c]
    police = [c for c in cmds if "police" in c]
    if inbound is not None and inbound.average:
        _qdisc, cls = htb
        assert cls[cls.index("rate") + 1] == f"{inbound.average}kbps"
        assert cls[cls.index("quantum") + 1] == str(max(1, inbound.average * 128 // 1500))
        assert ("ceil" in cls) == bool(inbound.peak)
        assert ("burst" in cls) == bool(inbound.burst)
        if inbound.burst:
            assert cls[cls.index("burst") + 1] == f"{inbound.burst}kb"
    else:
        assert htb == []
    if outbound is not None:
        (f,) = police
        assert f[f.index("rate") + 1] == f"{outbound.average}kbps"
        default = min(outbound.average, (2**32 - 1) // 1024)
        assert f[f.index("burst") + 1] == f"{outbound.burst or default}kb"
        assert cmds[cmds.index(f) - 1] == ["qdisc", "add", "dev", "t0", "ingress"]
    else:
        assert police == []


def test_set_without_name_or_spec() -> None:
    nb.set_bandwidth(None, None, swapped=True)  # nothing to set: nothing run
    with pytest.raises(VirtError) as exc:
        nb.set_bandwidth(None, nb.BandwidthSpec(nb.Rate(1)), swapped=True)
    assert exc.value.code == ErrorCode.OPERATION_UNSUPPORTED
    assert str(exc.value) == ("Operation not supported: Unable to set bandwidth for interface "
                              "because device name is unknown")


# --------------------------------------------------------------------------- real tc

CHILD = r"""
import json, subprocess, sys
from pyroute2 import IPRoute
from virtkit.drivers import netbandwidth as nb
from virtkit.errors import VirtError

def tc(*a):
    return subprocess.run(["tc", *a], capture_output=True, text=True)

def state(dev):
    qd = json.loads(tc("-j", "qdisc", "show", "dev", dev).stdout or "[]")
    flt = json.loads(tc("-j", "filter", "show", "dev", dev, "ingress").stdout or "[]")
    with IPRoute() as ipr:
        i = ipr.link_lookup(ifname=dev)[0]
        classes = []
        for c in ipr.get_classes(i):
            p = c.get_attr("TCA_OPTIONS").get_attr("TCA_HTB_PARMS")
            classes.append({"handle": c["handle"], "parent": c["parent"],
                            **{k: p[k] for k in ("rate", "ceil", "buffer", "quantum")}})
    return {"qdiscs": [[q["kind"], q["handle"], q.get("root", False)] for q in qd],
            "classes": classes,
            "filters": [f.get("options", {}) for f in flt if "options" in f
                        and "match" in f["options"]]}

subprocess.run(["ip", "link", "add", "name", "vkq0", "type", "veth", "peer", "name", "vkq1"],
               check=True)
subprocess.run(["ip", "link", "set", "dev", "vkq0", "up"], check=True)
# what this kernel has of libvirt's shape
support = {"sfq": tc("qdisc", "add", "dev", "vkq1", "root", "sfq").returncode == 0}
tc("qdisc", "del", "dev", "vkq1", "root")
tc("qdisc", "add", "dev", "vkq1", "ingress")
support["police"] = tc("filter", "add", "dev", "vkq1", "parent", "ffff:", "protocol", "all",
                       "u32", "match", "u32", "0", "0", "police", "rate", "1kbps", "burst",
                       "1kb", "drop", "flowid", ":1").returncode == 0
out = {"support": support, "psched": open("/proc/net/psched").read().split(),
       "fresh": state("vkq0"), "cases": []}
nb.set_root_qdisc("vkq0", "noqueue")
out["noqueue"] = state("vkq0")["qdiscs"]
for case in json.loads(sys.argv[1]):
    spec = nb.BandwidthSpec(*(nb.Rate(**r) if r is not None else None for r in case))
    try:
        nb.set_bandwidth("vkq0", spec, swapped=True)
        err = None
    except VirtError as e:
        err = [int(e.code), int(e.domain), str(e)]
    after = state("vkq0")
    nb.clear("vkq0")
    out["cases"].append({"err": err, "after": after, "cleared": state("vkq0")})
print(json.dumps(out))
"""

_CASES = [(i, o) for i in (None, {"average": 1000, "peak": 2000, "burst": 256},
                           {"average": 3}, {"average": 800_000, "burst": 5})
          for o in (None, {"average": 500, "burst": 64}, {"average": 70})]


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    name = f"vkbw-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _sfq_error(dev: str) -> str:
    return (f"internal error: Child process (tc qdisc add dev {dev} parent 1:1 handle 2: sfq "
            f"perturb 10) unexpected exit status 2: Error: Specified qdisc kind is unknown.\n")


def _police_error(dev: str, rate: int, burst: int) -> str:
    return (f"internal error: Child process (tc filter add dev {dev} parent ffff: protocol all "
            f"u32 match u32 0 0 police rate {rate}kbps burst {burst}kb mtu 64kb drop flowid "
            f":1) unexpected exit status 2: Error: Failed to load TC action module.\n"
            f"We have an error talking to the kernel\n")


def test_real_tc_on_a_veth(netns: str) -> None:
    """Each case set on a veth in the test's namespace: the htb root and class carry the
    rates in bytes/s (tc's kbps is 1000 bytes), the burst as psched ticks and libvirt's
    quantum; the ingress side is policed; clearing leaves the device's default qdisc."""
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CHILD,
                           json.dumps(_CASES)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    t2us, us2t = int(out["psched"][0], 16), int(out["psched"][1], 16)
    fresh = out["fresh"]
    assert fresh["classes"] == [] and fresh["filters"] == []
    assert [k for k, _h, _r in out["noqueue"]] == ["noqueue"]
    assert [k for k, _h, _r in fresh["qdiscs"]] != ["htb"]
    support = out["support"]
    for (inbound, outbound), case in zip(_CASES, out["cases"], strict=True):
        after, err = case["after"], case["err"]
        kinds = [k for k, _h, _r in after["qdiscs"]]
        expected_err = None
        if inbound is not None:
            assert ["htb", "1:", True] in after["qdiscs"]
            (cls,) = after["classes"]
            rate = inbound["average"] * 1000
            assert (cls["handle"], cls["rate"]) == (0x10001, rate)
            assert cls["ceil"] == inbound.get("peak", inbound["average"]) * 1000
            assert cls["quantum"] == max(1, inbound["average"] * 128 // 1500)
            if "burst" in inbound:  # tc's xmittime: whole microseconds, in psched ticks
                ticks = int(inbound["burst"] * 1024 * 1_000_000 / rate) * t2us / us2t
                assert abs(cls["buffer"] - ticks) <= 1
            if not support["sfq"]:
                expected_err = _sfq_error("vkq0")
            else:
                assert "sfq" in kinds
        else:
            assert after["classes"] == []
            assert "htb" not in kinds
        if outbound is not None and expected_err is None:
            assert "ingress" in kinds
            (flt,) = after["filters"] if support["police"] else ([{}] + after["filters"])
            if support["police"]:
                assert flt["flowid"] == ":1" and flt["match"]["mask"] == "0"
            else:
                expected_err = _police_error("vkq0", outbound["average"],
                                             outbound["burst"] if "burst" in outbound
                                             else outbound["average"])
        assert err == ([int(ErrorCode.INTERNAL_ERROR), int(ErrorDomain.NONE), expected_err]
                       if expected_err else None)
        # virNetDevBandwidthClear: the root qdisc back to the default, no ingress
        assert case["cleared"]["classes"] == [] and case["cleared"]["filters"] == []
        assert [k for k, _h, _r in case["cleared"]["qdiscs"]] == [
            k for k, _h, _r in fresh["qdiscs"]]
