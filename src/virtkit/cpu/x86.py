"""libvirt's x86 CPU driver logic (cpu_x86.c): decode CPUID data to a model and
features, compare a CPU with the host, baseline several CPUs, expand features.

Driver-neutral: works on :class:`~virtkit.cpu.cpudef.CPUDef` and
:mod:`~virtkit.cpu.x86data` bits; the host's CPUID comes from :mod:`virtkit.cpu.host`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from virtkit.constants import CPUCompareResult
from virtkit.cpu import x86data as xd
from virtkit.cpu.cpudef import GUEST, HOST, CPUDef
from virtkit.cpu.x86_map import MODELS, VENDORS
from virtkit.cpu.x86_types import Model
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["ARCHS", "baseline", "compare", "decode", "expand_features", "model_names"]

ARCHS = ("i686", "x86_64")
BASE_PENALTY = 2  # libvirt's penalty for the first disabled feature of a candidate


def _err(code: ErrorCode, msg: str) -> VirtError:
    return make_error(code, ErrorDomain.CPU, msg)


def model_names() -> list[str]:
    """The map's model names, in map order (virCPUGetModels)."""
    return [m.name for m in MODELS]


def _signature_parts(sig: int) -> tuple[int, int, int]:
    family = ((sig >> 8) & 0xF) + ((sig >> 20) & 0xFF)
    model = ((sig >> 4) & 0xF) + ((sig >> 12) & 0xF0)
    return family, model, sig & 0xF


def _signatures_match(model: Model | None, sig: int) -> bool:
    if model is None:
        return False
    family, mod, stepping = _signature_parts(sig)
    return any(f == family and m == mod and (not steps or stepping in steps)
               for f, m, steps in model.signatures)


def _to_cpu(data: xd.Data, model: Model, cpu_type: str,
            blockers: Sequence[str] = ()) -> CPUDef:
    """x86DataToCPU: ``model`` plus the features ``data`` adds (require) and lacks
    (disable)."""
    cpu = CPUDef(type=cpu_type, model=model.name)
    extra = xd.copy(data)
    cpu.vendor = xd.take_vendor(extra)
    missing = xd.model_data(model.name)
    xd.subtract(extra, missing)
    xd.subtract(missing, data)
    for name in blockers:
        if name in xd.FEATURE_BY_NAME and not xd.is_subset(extra, xd.feature_data(name)):
            xd.add(missing, xd.feature_data(name))
    cpu.features = [(n, "require") for n in xd.features_in(extra)]
    cpu.features += [(n, "disable") for n in xd.features_in(missing)]
    if cpu_type == GUEST:
        have = {n for n, _ in cpu.features}
        cpu.features += [(n, "disable") for n in model.removed if n not in have]
    return cpu


def _better_features(cur: CPUDef, cand: CPUDef, preferred: bool) -> bool:
    """virCPUx86CompareCandidateFeatureList: fewer features (disabled ones weigh more)."""
    def weigh(cpu: CPUDef) -> tuple[int, int]:
        enabled, disabled, penalty = len(cpu.features), 0, BASE_PENALTY
        if cand.type == HOST:
            return enabled, 0
        # libvirt's loop runs while i < enabled, and enabled shrinks with every disabled
        # feature: the last disabled ones of the list are never weighed. Kept as is, or
        # the chosen model would differ from libvirt's.
        i = 0
        while i < enabled:
            if cpu.features[i][1] == "disable":
                enabled -= 1
                disabled += penalty
                penalty += 1
            i += 1
        return enabled + disabled, disabled

    current, disabled_cur = weigh(cur)
    candidate, disabled = weigh(cand)
    if candidate < current or (candidate == current and disabled < disabled_cur):
        return True
    return preferred and disabled < disabled_cur


def decode(data: xd.Data, cpu_type: str, allowed: dict[str, Sequence[str]] | None = None,
           preferred: Sequence[str] = (), migratable: bool = False,
           fallback_allow: bool = True) -> CPUDef:
    """x86Decode: the model closest to ``data`` and the features it needs on top.

    ``allowed``: model name -> its blockers (the hypervisor's usable models), or None
    for every model of the map. Returns a CPUDef with model, vendor, features and
    the signature set.
    """
    data = xd.copy(data)
    vendor = xd.take_vendor(data)
    sig = xd.signature(data)
    if vendor == "Intel":  # x86DataFilterTSX
        family, mod, stepping = _signature_parts(sig)
        if family == 6 and ((mod == 63 and stepping < 4) or mod in (60, 69, 70)):
            for name in ("hle", "rtm"):
                xd.subtract(data, xd.feature_data(name))
    if vendor is not None:
        xd.add(data, xd.vendor_data(vendor))
    best: Model | None = None
    best_cpu: CPUDef | None = None
    for model in reversed(MODELS):
        blockers: Sequence[str] = ()
        if allowed is not None:
            if model.name not in allowed:
                if (len(preferred) == 1 and model.name == preferred[0]
                        and not fallback_allow):
                    raise _err(ErrorCode.CONFIG_UNSUPPORTED,
                               f"CPU model {preferred[0]} is not supported by hypervisor")
                continue
            blockers = allowed[model.name]
        if vendor and model.vendor and vendor != model.vendor:
            continue
        if (cpu_type == HOST and not model.decode_host) or (
                cpu_type == GUEST and not model.decode_guest):
            continue
        cand = _to_cpu(data, model, cpu_type, blockers)
        if cpu_type == HOST:
            if any(p == "disable" for _, p in cand.features):
                continue
            cand.features = [(n, None) for n, _ in cand.features]
        is_pref = model.name in preferred
        if is_pref and len(preferred) == 1:
            best, best_cpu = model, cand
            break
        if best_cpu is None:
            better = True
        elif sig and _signatures_match(best, sig) and not _signatures_match(model, sig):
            better = False
        elif sig and not _signatures_match(best, sig) and _signatures_match(model, sig):
            better = True
        else:
            better = _better_features(best_cpu, cand, is_pref)
        if better:
            best, best_cpu = model, cand
    if best_cpu is None:
        raise _err(ErrorCode.INTERNAL_ERROR, "Cannot find suitable CPU model for given data")
    if migratable:
        best_cpu.features = [(n, p) for n, p in best_cpu.features
                             if xd.FEATURE_BY_NAME[n].migratable]
    best_cpu.vendor = vendor
    best_cpu.signature = _signature_parts(sig)
    return best_cpu


def _model_from_cpu(cpu: CPUDef, policy: str | None) -> xd.Data:
    """x86ModelFromCPU: the bits of ``cpu``'s features with ``policy`` (None: the whole
    CPU, model included, with disabled/forbidden features removed)."""
    if cpu.type == HOST and policy not in (None, "require"):
        return {}
    data: xd.Data = {}
    if cpu.model and policy in (None, "require"):
        if cpu.model not in xd.MODEL_BY_NAME:
            raise _err(ErrorCode.INTERNAL_ERROR, f"Unknown CPU model {cpu.model}")
        data = xd.model_data(cpu.model)
    for name, fpol in cpu.features:
        fpol = fpol or "require"
        if (policy is None and fpol == "optional") or (policy is not None and fpol != policy):
            continue
        if name not in xd.FEATURE_BY_NAME:
            raise _err(ErrorCode.INTERNAL_ERROR, f"Unknown CPU feature {name}")
        if policy is None and fpol in ("disable", "forbid"):
            xd.subtract(data, xd.feature_data(name))
        else:
            xd.add(data, xd.feature_data(name))
    return data


def _relation(a: xd.Data, b: xd.Data) -> str:
    sup, sub = xd.is_subset(a, b), xd.is_subset(b, a)
    if sup and sub:
        return "equal"
    return "superset" if sup else "subset" if sub else "unrelated"


def compare(host: CPUDef | None, cpu: CPUDef, fail_incompatible: bool) -> CPUCompareResult:
    """virCPUx86Compare: ``cpu`` against the ``host`` CPU; INCOMPATIBLE raises
    VIR_ERR_CPU_INCOMPATIBLE with libvirt's reason when ``fail_incompatible``."""
    if host is None or not host.model:
        if fail_incompatible:
            raise _err(ErrorCode.CPU_INCOMPATIBLE, "unknown host CPU")
        return CPUCompareResult.INCOMPATIBLE
    result, message = _compute(host, cpu)
    if result == CPUCompareResult.INCOMPATIBLE and fail_incompatible:
        raise make_error(ErrorCode.CPU_INCOMPATIBLE, ErrorDomain.CPU, message)
    return result


def _compute(host: CPUDef, cpu: CPUDef) -> tuple[CPUCompareResult, str]:
    if cpu.arch and cpu.arch not in ARCHS:
        return CPUCompareResult.INCOMPATIBLE, f"CPU arch {cpu.arch} does not match host arch"
    if cpu.vendor and (not host.vendor or cpu.vendor != host.vendor):
        return (CPUCompareResult.INCOMPATIBLE,
                f"host CPU vendor does not match required CPU vendor {cpu.vendor}")
    host_model = _model_from_cpu(host, None)
    force = _model_from_cpu(cpu, "force")
    require = _model_from_cpu(cpu, "require")
    optional = _model_from_cpu(cpu, "optional")
    disable = _model_from_cpu(cpu, "disable")
    forbid = _model_from_cpu(cpu, "forbid")
    xd.intersect(forbid, host_model)
    if not xd.is_empty(forbid):
        return (CPUCompareResult.INCOMPATIBLE, "Host CPU provides forbidden features: "
                + ", ".join(xd.feature_names(forbid)))
    for part in (force, optional, disable):
        xd.subtract(require, part)
    if _relation(host_model, require) in ("subset", "unrelated"):
        xd.subtract(require, host_model)
        return (CPUCompareResult.INCOMPATIBLE, "Host CPU does not provide required features: "
                + ", ".join(xd.feature_names(require)))
    diff = xd.copy(host_model)
    for part in (optional, require, disable, force):
        xd.subtract(diff, part)
    if xd.is_empty(diff):
        return CPUCompareResult.IDENTICAL, ""
    if cpu.type == GUEST and cpu.match == "strict":
        return (CPUCompareResult.INCOMPATIBLE,
                "Host CPU does not strictly match guest CPU: Extra features: "
                + ", ".join(xd.feature_names(diff)))
    return CPUCompareResult.SUPERSET, ""


def baseline(cpus: Sequence[CPUDef], allowed: dict[str, Sequence[str]] | None = None,
             features: Iterable[str] | None = None, migratable: bool = False) -> CPUDef:
    """virCPUx86Baseline: the richest guest CPU every one of ``cpus`` can run."""
    first = cpus[0]
    base = _model_from_cpu(first, None)
    out_vendor = first.vendor is not None
    vendor: str | None = None
    if first.vendor is not None:
        if first.vendor not in VENDORS:
            raise _err(ErrorCode.OPERATION_FAILED, f"Unknown CPU vendor {first.vendor}")
        vendor = first.vendor
    names: list[str] = [first.model] if first.model else []
    for cpu in cpus[1:]:
        if cpu.model and cpu.model not in names:
            names.append(cpu.model)
        data = _model_from_cpu(cpu, None)
        mvendor = xd.MODEL_BY_NAME[cpu.model].vendor if cpu.model else None
        if cpu.vendor and mvendor and cpu.vendor != mvendor:
            raise _err(ErrorCode.OPERATION_FAILED, f"CPU vendor {mvendor} of model "
                       f"{cpu.model} differs from vendor {cpu.vendor}")
        vn = cpu.vendor
        if vn is None:
            out_vendor = False
            vn = mvendor
        if vn is not None:
            if vendor is None:
                if vn not in VENDORS:
                    raise _err(ErrorCode.OPERATION_FAILED, f"Unknown CPU vendor {vn}")
                vendor = vn
            elif vendor != vn:
                raise _err(ErrorCode.OPERATION_FAILED, "CPU vendors do not match")
        xd.intersect(base, data)
    if features is not None:
        wanted: xd.Data = {}
        for name in features:
            if name in xd.FEATURE_BY_NAME:
                xd.add(wanted, xd.feature_data(name))
        xd.intersect(base, wanted)
    if xd.is_empty(base):
        raise _err(ErrorCode.OPERATION_FAILED, "CPUs are incompatible")
    if vendor is not None:
        xd.add(base, xd.vendor_data(vendor))
    cpu = decode(base, GUEST, allowed, names, migratable)
    cpu.match = "exact"
    cpu.signature = None
    if len(names) == 1 and cpu.model == names[0]:
        cpu.fallback = "forbid"
    if not out_vendor:
        cpu.vendor = None
    return cpu


def expand_features(cpu: CPUDef) -> None:
    """virCPUx86ExpandFeatures: list the model's own features too (in place)."""
    if not cpu.model or cpu.model not in xd.MODEL_BY_NAME:
        raise _err(ErrorCode.INTERNAL_ERROR, f"unknown CPU model {cpu.model}")
    host = cpu.type == HOST
    model = xd.MODEL_BY_NAME[cpu.model]
    expanded = CPUDef(type=cpu.type)
    policy = None if host else "require"
    expanded.features = [(n, policy) for n in xd.features_in(xd.model_data(cpu.model))]
    for name, fpol in cpu.features:
        if not host and fpol not in ("require", "disable"):
            continue
        expanded.set_feature(name, fpol)
    if not host:
        have = {n for n, _ in expanded.features}
        expanded.features += [(n, "disable") for n in model.removed if n not in have]
    cpu.features = sorted(expanded.features, key=lambda f: f[0])
