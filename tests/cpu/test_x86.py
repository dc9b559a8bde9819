"""libvirt's x86 CPU logic on data this test builds: decode, compare, baseline, expand,
and the CPU XML parser's errors. (Side by side with libvirtd: test_cpuapi_oracle.py.)"""

from __future__ import annotations

import pytest

from virtkit.constants import CPUCompareResult
from virtkit.cpu import cpudef, x86
from virtkit.cpu import x86data as xd
from virtkit.cpu.cpudef import GUEST, HOST, CPUDef
from virtkit.errors import ErrorCode, VirtError


def _data(model: str, vendor: str | None, *extra: str, sig: tuple[int, int, int] = (6, 0, 0)
          ) -> xd.Data:
    data = xd.model_data(model)
    for name in extra:
        xd.add(data, xd.feature_data(name))
    if vendor:
        xd.add(data, xd.vendor_data(vendor))
    family, mod, stepping = sig
    eax = ((family - 15 if family > 15 else 0) << 20) | ((mod >> 4) << 16) \
        | (min(family, 15) << 8) | ((mod & 0xF) << 4) | stepping
    data.setdefault((0, 1, 0), [0, 0, 0, 0])[0] |= eax
    return data


def test_generated_map_is_consistent() -> None:
    for model in xd.MODEL_BY_NAME.values():
        for name in model.features + model.removed:
            assert name in xd.FEATURE_BY_NAME, (model.name, name)
        assert model.vendor is None or model.vendor in ("Intel", "AMD", "Hygon")
    assert x86.model_names()[:3] == ["486", "pentium", "pentium2"]
    assert xd.FEATURE_BY_NAME["pclmuldq"].aliases == ("pclmulqdq",)
    assert not xd.FEATURE_BY_NAME["invtsc"].migratable


def test_decode_host_exact_model_and_extra_features() -> None:
    data = _data("Haswell-noTSX", "Intel", "avx512f", sig=(6, 60, 3))
    cpu = x86.decode(data, HOST)
    assert cpu.model == "Haswell-noTSX" and cpu.vendor == "Intel"
    assert cpu.features == [("avx512f", None)]
    assert cpu.signature == (6, 60, 3)


def test_decode_host_never_picks_a_model_with_missing_features() -> None:
    data = _data("Haswell-noTSX", "Intel")
    xd.subtract(data, xd.feature_data("avx2"))
    cpu = x86.decode(data, HOST)
    assert cpu.model != "Haswell-noTSX"
    assert "avx2" not in xd.MODEL_BY_NAME[cpu.model or ""].features


def test_decode_guest_disables_and_drops_broken_tsx() -> None:
    # Haswell signature 6/60: libvirt drops hle/rtm as broken (x86DataFilterTSX)
    data = _data("Haswell", "Intel", sig=(6, 60, 1))
    cpu = x86.decode(data, GUEST)
    assert cpu.model == "Haswell-noTSX"
    assert ("hle", "require") not in cpu.features


def test_compare_identical_superset_incompatible() -> None:
    host = CPUDef(type=HOST, model="Haswell-noTSX", vendor="Intel", arch="x86_64",
                  features=[("avx512f", None)])
    same = CPUDef(type=GUEST, model="Haswell-noTSX", features=[("avx512f", "require")])
    assert x86.compare(host, same, False) == CPUCompareResult.IDENTICAL
    older = CPUDef(type=GUEST, model="SandyBridge")
    assert x86.compare(host, older, False) == CPUCompareResult.SUPERSET
    strict = CPUDef(type=GUEST, model="SandyBridge", match="strict")
    assert x86.compare(host, strict, False) == CPUCompareResult.INCOMPATIBLE
    newer = CPUDef(type=GUEST, model="Skylake-Client")
    assert x86.compare(host, newer, False) == CPUCompareResult.INCOMPATIBLE
    with pytest.raises(VirtError) as exc:
        x86.compare(host, newer, True)
    assert exc.value.code == ErrorCode.CPU_INCOMPATIBLE
    assert "Host CPU does not provide required features: " in exc.value.message
    amd = CPUDef(type=GUEST, model="Opteron_G1", vendor="AMD")
    with pytest.raises(VirtError) as exc:
        x86.compare(host, amd, True)
    assert exc.value.message.endswith("host CPU vendor does not match required CPU vendor AMD")
    forbid = CPUDef(type=GUEST, model="SandyBridge", features=[("avx2", "forbid")])
    assert x86.compare(host, forbid, False) == CPUCompareResult.INCOMPATIBLE


def test_baseline_intersects_and_expands() -> None:
    a = CPUDef(type=HOST, arch="x86_64", model="Haswell-noTSX", vendor="Intel")
    b = CPUDef(type=HOST, arch="x86_64", model="SandyBridge", vendor="Intel",
               features=[("rdrand", None)])
    base = x86.baseline([a, b])
    assert (base.model, base.vendor, base.match) == ("SandyBridge", "Intel", "exact")
    assert base.fallback == "allow"  # not the first CPU's model
    assert x86.baseline([b]).fallback == "forbid"
    x86.expand_features(base)
    names = [n for n, _ in base.features]
    assert names == sorted(names) and "sse2" in names
    with pytest.raises(VirtError) as exc:
        x86.baseline([a, CPUDef(type=HOST, arch="x86_64", model="Opteron_G1", vendor="AMD")])
    assert exc.value.message.endswith("CPU vendors do not match")


def test_cpu_xml_errors() -> None:
    cases = {
        "": (ErrorCode.INVALID_ARG, "missing CPU definition"),
        "<domain/>": (ErrorCode.XML_ERROR, "XML does not contain expected 'cpu' element"),
        "<cpu><arch>x86_64</arch></cpu>": (ErrorCode.XML_ERROR, "Missing CPU model name"),
        "<cpu mode='bogus'/>": (ErrorCode.CONFIG_UNSUPPORTED, "Invalid mode attribute 'bogus'"),
        "<cpu><model>kvm64</model><feature policy='x' name='a'/></cpu>":
            (ErrorCode.CONFIG_UNSUPPORTED, "Invalid CPU feature policy"),
        "<cpu><feature name='sse'/></cpu>":
            (ErrorCode.XML_ERROR, "Non-empty feature list specified without CPU model"),
        "<cpu><model>kvm64</model><feature name='sse'/><feature name='sse'/></cpu>":
            (ErrorCode.XML_ERROR, "CPU feature 'sse' specified more than once"),
    }
    for xml, (code, text) in cases.items():
        with pytest.raises(VirtError) as exc:
            cpudef.parse_cpu(xml)
        assert exc.value.code == code and exc.value.message.endswith(text), xml
    cpu = cpudef.parse_cpu("<cpu match='exact'><model fallback='forbid'>EPYC</model>"
                           "<vendor>AMD</vendor><feature name='svm' policy='disable'/></cpu>")
    assert cpudef.format_cpu(cpu) == (
        "<cpu mode='custom' match='exact'>\n  <model fallback='forbid'>EPYC</model>\n"
        "  <vendor>AMD</vendor>\n  <feature policy='disable' name='svm'/>\n</cpu>")
