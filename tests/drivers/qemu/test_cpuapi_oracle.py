"""The CPU model APIs of the QEMU driver against Debian's libvirtd 9.0, side by side.

``getCPUModelNames``, ``compareCPU``, ``baselineCPU``, ``compareHypervisorCPU`` and
``baselineHypervisorCPU`` with CPU XMLs generated (seeded) over libvirt's x86 CPU map:
every model, random feature sets and policies, match modes, vendors, and malformed
input. libvirtd answers through libvirt-python (Debian's /usr/bin/python3, one
subprocess for the whole batch); virtkit through the QEMU driver of an embedded
connection (the remote procedures need the base-driver entries, see docs/compat.md).
Results and errors (code, domain, message) must be equal.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import virtkit
from virtkit.constants import ConnectCompareCPUFlags, ConnectFlags, CPUCompareResult
from virtkit.cpu.x86_map import FEATURES, MODELS
from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.testing.peers import start_virtkitd

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "bench"))
import qemu_peers  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
SEED = 20261207
POLICIES = ("require", "disable", "force", "optional", "forbid")
FEATURE_NAMES = [f.name for f in FEATURES]
QEMU = "/usr/bin/qemu-system-x86_64"

# Runs under /usr/bin/python3 with Debian's libvirt module: argv[1] is the URI, stdin a
# JSON list of [method, args...]; stdout a JSON list of ["ok", value] / ["err", code,
# domain, message].
LIBVIRT_RUNNER = r"""
import json, sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
conn = libvirt.open(sys.argv[1])
out = []
for method, *args in json.load(sys.stdin):
    try:
        out.append(["ok", getattr(conn, method)(*args)])
    except libvirt.libvirtError as e:
        out.append(["err", e.get_error_code(), e.get_error_domain(), e.get_error_message()])
conn.close()
json.dump(out, sys.stdout)
"""



def _hypervisor_call(method: str) -> Any:
    """libvirt-python's (emulator, arch, machine, virttype, xml, flags) order onto the
    Connection method's keywords."""
    def call(conn: virtkit.Connection, emulator: str | None, arch: str | None,
             machine: str | None, virttype: str | None, xml: Any, flags: int) -> Any:
        return getattr(conn, method)(xml, emulator=emulator, arch=arch, machine=machine,
                                     virttype=virttype, flags=flags)
    return call


# libvirt-python method -> the same call on a virtkit Connection
VIRTKIT_METHODS: dict[str, Any] = {
    "getCPUModelNames": virtkit.Connection.cpu_model_names,
    "compareCPU": virtkit.Connection.compare_cpu,
    "baselineCPU": virtkit.Connection.baseline_cpu,
    "compareHypervisorCPU": _hypervisor_call("compare_hypervisor_cpu"),
    "baselineHypervisorCPU": _hypervisor_call("baseline_hypervisor_cpu"),
}


def _guest_cpu(rng: random.Random) -> str:
    model = rng.choice(MODELS)
    match = rng.choice(("", " match='exact'", " match='minimum'", " match='strict'"))
    feats = rng.sample(FEATURE_NAMES, rng.randint(0, 6))
    body = [f"<model>{model.name}</model>"]
    if rng.random() < 0.2 and model.vendor:
        body.append(f"<vendor>{rng.choice((model.vendor, 'Intel', 'AMD'))}</vendor>")
    body += [f"<feature policy='{rng.choice(POLICIES)}' name='{f}'/>" for f in feats]
    return f"<cpu mode='custom'{match}>{''.join(body)}</cpu>"


def _host_cpu(rng: random.Random) -> str:
    model = rng.choice([m for m in MODELS if m.decode_host])
    feats = rng.sample(FEATURE_NAMES, rng.randint(0, 10))
    vendor = f"<vendor>{model.vendor}</vendor>" if model.vendor and rng.random() < 0.7 else ""
    return ("<cpu><arch>x86_64</arch>"
            f"<model>{model.name}</model>{vendor}"
            + "".join(f"<feature name='{f}'/>" for f in feats) + "</cpu>")


def _calls(host_xml: str) -> list[list[Any]]:
    rng = random.Random(SEED)
    calls: list[list[Any]] = [["getCPUModelNames", "x86_64", 0],
                              ["getCPUModelNames", "i686", 0],
                              ["getCPUModelNames", "bogus", 0],
                              ["getCPUModelNames", "ppc64le", 0],
                              ["getCPUModelNames", "aarch64", 0],
                              ["getCPUModelNames", "s390x", 0],
                              ["getCPUModelNames", "riscv64", 0],
                              ["getCPUModelNames", "x86_64", 1],
                              ["compareCPU", host_xml, 0],
                              ["baselineCPU", [host_xml], 0],
                              ["baselineCPU", [host_xml], 1],
                              ["baselineCPU", [host_xml], 2],
                              ["compareCPU", "<cpu><model>nope</model></cpu>", 0],
                              ["compareCPU", "<domain/>", 0],
                              ["compareCPU", "<cpu", 0],
                              ["compareCPU", host_xml, 4],
                              ["baselineCPU", ["<cpu><arch>x86_64</arch></cpu>"], 0]]
    for model in MODELS:  # every model of the map, plain
        xml = f"<cpu mode='custom' match='exact'><model>{model.name}</model></cpu>"
        calls.append(["compareCPU", xml, 0])
        calls.append(["compareHypervisorCPU", None, None, None, "qemu", xml, 0])
    for _ in range(60):
        xml = _guest_cpu(rng)
        calls.append(["compareCPU", xml, rng.choice((0, 1))])
        calls.append(["compareHypervisorCPU", None, None, None, "qemu", xml,
                      rng.choice((0, 1))])
    for i in range(40):
        cpus = [_host_cpu(rng) for _ in range(rng.randint(1, 3))]
        flags = rng.choice((0, 1, 2, 3))
        calls.append(["baselineCPU", cpus, flags])
        calls.append(["baselineHypervisorCPU", None, None, None, "qemu", cpus, flags])
        if i < 10:  # the default virt type: kvm where /dev/kvm opens (QEMU only probed)
            calls.append(["baselineHypervisorCPU", None, None, None, None, cpus, flags])
            calls.append(["compareHypervisorCPU", None, None, None, None, cpus[0], 0])
    return calls


def _virtkit(conn: virtkit.Connection, calls: list[list[Any]]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for method, *args in calls:
        try:
            out.append(["ok", VIRTKIT_METHODS[method](conn, *args)])
        except VirtError as e:
            out.append(["err", int(e.code), int(e.domain), e.message])
    return out


@pytest.fixture(scope="module")
def libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    peer = qemu_peers.start_libvirtd_qemu(tmp_path_factory.mktemp("lv"))
    try:
        yield peer.uri
    finally:
        peer.stop()


def _libvirt(uri: str, calls: list[list[Any]]) -> list[list[Any]]:
    res = subprocess.run([SYSTEM_PYTHON, "-c", LIBVIRT_RUNNER, uri], input=json.dumps(calls),
                         capture_output=True, text=True, timeout=500)
    assert res.returncode == 0, res.stderr
    data: list[list[Any]] = json.loads(res.stdout)
    return data


@pytest.mark.slow
@pytest.mark.interop
def test_cpu_apis_as_libvirtd(libvirtd: str, tmp_path: Path) -> None:
    """The embedded driver, virtkitd through libvirt-python and virtkit's client through
    libvirtd all answer as libvirt-python through libvirtd."""
    with virtkit.open(f"qemu:///embed?root={tmp_path / 'embed'}") as conn:
        host_xml = _host_section_cpu(conn.capabilities())
        calls = _calls(host_xml)
        embedded = _virtkit(conn, calls)
    lv = _libvirt(libvirtd, calls)
    with start_virtkitd(tmp_path / "vk") as daemon:
        over_rpc = _libvirt(daemon.uri("unix", "/system", "qemu"), calls)
    with virtkit.open(libvirtd) as conn:
        client = _virtkit(conn, calls)
    for who, vk in (("embedded", embedded), ("virtkitd", over_rpc), ("client", client)):
        diffs = [(c, a, b) for c, a, b in zip(calls, lv, vk, strict=True) if a != b]
        assert not diffs, who + ":\n" + "\n\n".join(
            f"{c}\nlibvirt: {a}\nvirtkit: {b}" for c, a, b in diffs[:5])
    # the generator reached every outcome (a batch of only errors would prove nothing)
    outcomes = {(c[0], r[0], r[1] if r[0] == "ok" and isinstance(r[1], int) else None)
                for c, r in zip(calls, lv, strict=True)}
    for wanted in (("compareCPU", "ok", 0), ("compareCPU", "ok", 1), ("compareCPU", "ok", 2),
                   ("compareCPU", "err", None), ("baselineCPU", "ok", None),
                   ("baselineCPU", "err", None), ("compareHypervisorCPU", "ok", 0),
                   ("compareHypervisorCPU", "ok", 2), ("baselineHypervisorCPU", "ok", None)):
        assert wanted in outcomes, wanted


def _host_section_cpu(caps: str) -> str:
    import xml.etree.ElementTree as ET

    cpu = ET.fromstring(caps).find("host/cpu")
    assert cpu is not None
    for pages in cpu.findall("pages"):
        cpu.remove(pages)
    return ET.tostring(cpu, encoding="unicode")


def test_cpu_apis_without_daemon(tmp_path: Path) -> None:
    """The embedded driver: model names, the host CPU against itself, libvirt's errors."""
    with virtkit.open(f"qemu:///embed?root={tmp_path}") as conn:
        names = conn.cpu_model_names("x86_64")
        assert names[0] == "486" and "EPYC-Milan" in names and len(names) == len(MODELS)
        host_xml = _host_section_cpu(conn.capabilities())
        assert conn.compare_cpu(host_xml) == CPUCompareResult.IDENTICAL
        base = conn.baseline_cpu([host_xml])
        assert base.startswith("<cpu mode='custom' match='exact'>\n  <model fallback='forbid'>")
        assert "osxsave" not in base  # libvirt keeps it from QEMU
        with pytest.raises(VirtError) as exc:
            conn.compare_cpu(host_xml, 8)
        assert exc.value.message == ("unsupported flags (0x8) in function "
                                     "qemuConnectCompareCPU")
        with pytest.raises(VirtError) as exc:
            conn.compare_hypervisor_cpu("<cpu><model>EPYC</model><feature name='hle'/></cpu>",
                                        virttype="qemu",
                                        flags=ConnectCompareCPUFlags.FAIL_INCOMPATIBLE)
        assert exc.value.message.startswith("the CPU is incompatible with host CPU: "
                                             "Host CPU does not provide required features")
        # the public API's own checks (libvirt-host.c), whatever the driver
        with pytest.raises(VirtError) as exc:
            conn.compare_cpu(None)  # type: ignore[arg-type]
        assert (exc.value.code, exc.value.domain, exc.value.message) == (
            ErrorCode.INVALID_ARG, ErrorDomain.DOMAIN,
            "xmlDesc in virConnectCompareCPU must not be NULL")


def test_cpu_apis_read_only(tmp_path: Path) -> None:
    """compare/baseline hypervisor CPU write (libvirt's ACL: connect:write); the others read."""
    with virtkit.open(f"qemu:///embed?root={tmp_path}", ConnectFlags.RO) as conn:
        host_xml = _host_section_cpu(conn.capabilities())
        assert conn.compare_cpu(host_xml) == CPUCompareResult.IDENTICAL
        assert conn.cpu_model_names("x86_64")
        for call, name in ((lambda: conn.compare_hypervisor_cpu(host_xml),
                            "virConnectCompareHypervisorCPU"),
                           (lambda: conn.baseline_hypervisor_cpu([host_xml]),
                            "virConnectBaselineHypervisorCPU")):
            with pytest.raises(VirtError) as exc:
                call()
            assert (exc.value.code, exc.value.domain, exc.value.message) == (
                ErrorCode.OPERATION_DENIED, ErrorDomain.DOMAIN,
                f"operation forbidden: read only access prevents {name}")


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.parametrize("virttype", ["qemu", "kvm"])
def test_hypervisor_cpu_is_libvirtd_host_model(libvirtd: str, virttype: str) -> None:
    """The CPU the hypervisor APIs compare with is the host-model libvirtd's domain
    capabilities print (model, vendor, features with policies), for TCG and KVM (only
    probed: no guest runs)."""
    import re

    from virtkit.cpu.cpudef import format_cpu
    from virtkit.drivers.qemu.cpuapi import hypervisor_cpu

    [result] = _libvirt(libvirtd, [["getDomainCapabilities", None, None, None, virttype, 0]])
    assert result[0] == "ok", result
    found = re.search(r"<mode name='host-model' supported='yes'>\n(.*?)\n    </mode>",
                      result[1], re.S)
    assert found is not None
    lv = [line.strip() for line in found.group(1).splitlines()]
    cpu = hypervisor_cpu(QEMU, "kvm" if virttype == "kvm" else "tcg")[0]
    vk = [line.strip() for line in format_cpu(cpu).splitlines()[1:-1]]
    assert vk == lv
