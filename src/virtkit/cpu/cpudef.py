"""libvirt's CPU definition (``<cpu>``): parse and format as conf/cpu_conf.c does.

Covers what the CPU APIs exchange: type (host/guest), mode, match, check, model
(fallback, vendor_id), vendor, features with policies, and the host-only elements
(arch, microcode, signature, counter, topology, maxphysaddr).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from virtkit.conf.xmlutil import Element, parse_xml
from virtkit.cpu.archs import ARCH_NAMES
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["GUEST", "HOST", "POLICIES", "CPUDef", "format_cpu", "parse_cpu"]

HOST = "host"
GUEST = "guest"
MODES = ("custom", "host-model", "host-passthrough", "maximum")
MATCHES = ("minimum", "exact", "strict")
CHECKS = ("none", "partial", "full")
FALLBACKS = ("allow", "forbid")
POLICIES = ("force", "require", "optional", "disable", "forbid")
VENDOR_ID_LENGTH = 12


@dataclass
class CPUDef:
    """One ``<cpu>``; feature policy ``None`` is a host CPU's plain feature."""

    type: str = GUEST
    mode: str | None = "custom"
    match: str | None = None
    check: str | None = None
    fallback: str = "allow"
    vendor_id: str | None = None
    model: str | None = None
    vendor: str | None = None
    arch: str | None = None
    features: list[tuple[str, str | None]] = field(default_factory=list)
    microcode: int | None = None
    signature: tuple[int, int, int] | None = None
    tsc: tuple[int, str | None] | None = None  # frequency, scaling
    topology: tuple[int, int, int, int] | None = None  # sockets, dies, cores, threads
    maxphysaddr_bits: int | None = None

    def set_feature(self, name: str, policy: str | None) -> None:
        """Add ``name`` or change its policy (virCPUDefUpdateFeature)."""
        for i, (fname, _) in enumerate(self.features):
            if fname == name:
                self.features[i] = (name, policy)
                return
        self.features.append((name, policy))


def _err(code: ErrorCode, msg: str) -> VirtError:
    return make_error(code, ErrorDomain.CPU, msg)


def _uint(node: Element, attr: str, *, required: bool, nonzero: bool = False) -> int | None:
    text = node.get(attr)
    if text is None:
        if required:
            raise _err(ErrorCode.XML_ERROR,
                       f"Missing required attribute '{attr}' in element '{node.tag}'")
        return None
    try:
        value = int(text, 10)
        if value < 0 or (nonzero and value == 0):
            raise ValueError
    except ValueError:
        kind = "a non-zero unsigned integer" if nonzero else "an unsigned integer"
        raise _err(ErrorCode.XML_ERROR,
                   f"Invalid value for attribute '{attr}' in element '{node.tag}': "
                   f"'{text}'. Expected {kind}") from None
    return value


def _enum_attr(node: Element, attr: str, values: tuple[str, ...]) -> str | None:
    text = node.get(attr)
    if text is not None and text not in values:
        raise _err(ErrorCode.XML_ERROR,
                   f"Invalid value for attribute '{attr}' in element '{node.tag}': '{text}'.")
    return text


def parse_cpu(xml: str | None, cpu_type: str | None = None) -> CPUDef:
    """Parse ``<cpu>`` (``cpu_type`` None: host when it has ``<arch>``, else guest)."""
    if not xml:
        raise _err(ErrorCode.INVALID_ARG, "missing CPU definition")
    root = parse_xml(xml, "CPU_definition", ErrorDomain.CPU)
    if root.tag != "cpu":
        raise _err(ErrorCode.XML_ERROR, "XML does not contain expected 'cpu' element")
    return parse_cpu_element(root, cpu_type)


def parse_cpu_element(root: Element, cpu_type: str | None) -> CPUDef:
    d = CPUDef()
    if cpu_type is None:
        if root.find("arch") is not None:
            if root.get("match") is not None:
                raise _err(ErrorCode.XML_ERROR, "'arch' element cannot be used inside 'cpu'"
                           " element with 'match' attribute'")
            cpu_type = HOST
        else:
            cpu_type = GUEST
    d.type = cpu_type
    mode = root.get("mode")
    if mode is not None:
        if cpu_type == HOST:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED, "Attribute mode is only allowed for guest CPU")
        if mode not in MODES:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED, f"Invalid mode attribute '{mode}'")
        d.mode = mode
    else:
        d.mode = None if cpu_type == HOST else "custom"
    if root.get("migratable") is not None and d.mode not in ("host-passthrough", "maximum"):
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, "Attribute migratable is only allowed for "
                   "'host-passthrough' / 'maximum' CPU mode")
    if cpu_type == GUEST:
        d.match = _enum_attr(root, "match", MATCHES)
        d.check = _enum_attr(root, "check", CHECKS)
    else:
        _parse_host_only(root, d)
    model = root.find("model")
    d.model = (model.text or "") if model is not None else None
    if d.model == "":
        d.model = None
    if d.model is None and cpu_type == HOST:
        raise _err(ErrorCode.XML_ERROR, "Missing CPU model name")
    if cpu_type == GUEST and d.mode not in ("host-passthrough", "maximum") and model is not None:
        fallback = model.get("fallback")
        if fallback is not None:
            if fallback not in FALLBACKS:
                raise _err(ErrorCode.CONFIG_UNSUPPORTED, "Invalid fallback attribute")
            d.fallback = fallback
        vendor_id = model.get("vendor_id")
        if vendor_id is not None:
            if len(vendor_id) != VENDOR_ID_LENGTH:
                raise _err(ErrorCode.XML_ERROR,
                           f"vendor_id must be exactly {VENDOR_ID_LENGTH} characters long")
            if "," in vendor_id:
                raise _err(ErrorCode.XML_ERROR, "vendor id is invalid")
            d.vendor_id = vendor_id
    vendor = root.find("vendor")
    d.vendor = vendor.text if vendor is not None and vendor.text else None
    if d.vendor and not d.model:
        raise _err(ErrorCode.XML_ERROR, "CPU vendor specified without CPU model")
    topo = root.find("topology")
    if topo is not None:
        sockets = _uint(topo, "sockets", required=True, nonzero=True)
        dies = _uint(topo, "dies", required=False, nonzero=True) or 1
        cores = _uint(topo, "cores", required=True, nonzero=True)
        threads = _uint(topo, "threads", required=True, nonzero=True)
        assert sockets and cores and threads
        d.topology = (sockets, dies, cores, threads)
    feats = root.findall("feature")
    if feats and not d.model and d.mode == "custom":
        raise _err(ErrorCode.XML_ERROR, "Non-empty feature list specified without CPU model")
    for node in feats:
        policy: str | None = None
        if cpu_type == GUEST:
            policy = node.get("policy", "require")
            if policy not in POLICIES:
                raise _err(ErrorCode.CONFIG_UNSUPPORTED, "Invalid CPU feature policy")
        name = node.get("name")
        if not name:
            raise _err(ErrorCode.XML_ERROR, "Invalid CPU feature name")
        if any(n == name for n, _ in d.features):
            raise _err(ErrorCode.XML_ERROR, f"CPU feature '{name}' specified more than once")
        d.features.append((name, policy))
    return d


def _parse_host_only(root: Element, d: CPUDef) -> None:
    arch = root.find("arch")
    d.arch = arch.text if arch is not None else None
    if not d.arch:
        raise _err(ErrorCode.XML_ERROR, "Missing CPU architecture")
    if d.arch not in ARCH_NAMES:
        raise _err(ErrorCode.CONFIG_UNSUPPORTED, f"Unknown architecture {d.arch}")
    micro = root.find("microcode")
    if micro is not None and micro.get("version") is not None:
        try:
            d.microcode = int(micro.get("version", ""), 10)
        except ValueError:
            raise _err(ErrorCode.CONFIG_UNSUPPORTED, "invalid microcode version") from None
    sig = root.find("signature")
    if sig is not None:
        family = _uint(sig, "family", required=True, nonzero=True)
        model = _uint(sig, "model", required=True)
        stepping = _uint(sig, "stepping", required=True)
        assert family is not None and model is not None and stepping is not None
        d.signature = (family, model, stepping)
    for counter in root.findall("counter"):
        if counter.get("name") == "tsc":
            freq = _uint(counter, "frequency", required=True)
            assert freq is not None
            d.tsc = (freq, counter.get("scaling"))
            break


def format_cpu(d: CPUDef) -> str:
    """``<cpu>`` as virCPUDefFormat writes it (no trailing newline)."""
    attrs = ""
    if d.type == GUEST:
        attrs += f" mode='{d.mode or 'custom'}'"
        if d.mode == "custom" and d.match:
            attrs += f" match='{d.match}'"
        if d.check:
            attrs += f" check='{d.check}'"
    body: list[str] = []
    if d.arch:
        body.append(f"<arch>{d.arch}</arch>")
    if d.model and d.mode in ("custom", "host-model", None):
        mattrs = ""
        if d.type == GUEST:
            mattrs += f" fallback='{d.fallback}'"
        if d.type == GUEST and d.vendor_id:
            mattrs += f" vendor_id='{d.vendor_id}'"
        body.append(f"<model{mattrs}>{d.model}</model>")
    if d.vendor and d.mode in ("custom", "host-model", None):
        body.append(f"<vendor>{d.vendor}</vendor>")
    if d.type == HOST:
        if d.microcode is not None:
            body.append(f"<microcode version='{d.microcode}'/>")
        if d.signature is not None:
            f, m, s = d.signature
            body.append(f"<signature family='{f}' model='{m}' stepping='{s}'/>")
        if d.tsc is not None:
            scaling = f" scaling='{d.tsc[1]}'" if d.tsc[1] else ""
            body.append(f"<counter name='tsc' frequency='{d.tsc[0]}'{scaling}/>")
    if d.topology is not None:
        s, di, c, t = d.topology
        body.append(f"<topology sockets='{s}' dies='{di}' cores='{c}' threads='{t}'/>")
    if d.maxphysaddr_bits is not None:
        body.append(f"<maxphysaddr mode='emulate' bits='{d.maxphysaddr_bits}'/>")
    for name, policy in d.features:
        if d.type == GUEST and policy is not None:
            body.append(f"<feature policy='{policy}' name='{name}'/>")
        else:
            body.append(f"<feature name='{name}'/>")
    if not body:
        return f"<cpu{attrs}/>"
    return "\n".join([f"<cpu{attrs}>", *(f"  {line}" for line in body), "</cpu>"])
