"""Hyper-V enlightenments -> ``-cpu`` flags (libvirt 9.0's qemuBuildCpuCommandLine).

What virt-install writes for a Windows guest: ``<features><hyperv>`` (relaxed, vapic,
spinlocks, ...) and ``<clock><timer name='hypervclock' present='yes'/>``. The flags follow
the CPU model and its features: ``hv-time`` from the timer, then ``hv-passthrough`` or
each enabled enlightenment in libvirt's enum order (``hv-spinlocks=0xN``,
``hv-vendor-id=ID``, ``hv-stimer-direct`` after ``hv-stimer``).
"""

from __future__ import annotations

from virtkit.conf.domain import DomainDef
from virtkit.conf.domain_features import Hyperv, HypervFeature
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error

__all__ = ["ENLIGHTENMENTS", "check", "cpu_flags"]

# virDomainHyperv's order; vendor_id and spinlocks take values
ENLIGHTENMENTS = ("relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer",
                  "reset", "vendor_id", "frequencies", "reenlightenment", "tlbflush", "ipi",
                  "evmcs", "avic")
_VENDOR_ID_MAX = 12  # VIR_DOMAIN_HYPERV_VENDOR_ID_MAX
_SPINLOCKS_MIN = 0xFFF


def _xml_error(detail: str) -> VirtError:
    return make_error(ErrorCode.XML_ERROR, ErrorDomain.DOMAIN, detail)


def _on(feat: HypervFeature | None) -> bool:
    return feat is not None and feat.state == "on"


def check(hv: Hyperv) -> None:
    """libvirt's parser checks of ``<hyperv>`` values."""
    if hv.mode not in (None, "custom", "passthrough"):
        raise _xml_error(f"Invalid value for attribute 'mode' in element 'hyperv': "
                         f"'{hv.mode}'.")
    for name in ENLIGHTENMENTS:
        feat: HypervFeature | None = getattr(hv, name)
        if feat is not None and feat.state not in (None, "on", "off"):
            raise _xml_error(f"Invalid value for attribute 'state' in element '{name}': "
                             f"'{feat.state}'.")
    spin = hv.spinlocks
    if _on(spin):
        assert spin is not None
        try:
            retries = int(spin.retries or "", 10)
        except ValueError:
            raise _xml_error("missing HyperV spinlock retry count") from None
        if retries < _SPINLOCKS_MIN:
            raise _xml_error("HyperV spinlock retry count must be at least 4095")
    vendor = hv.vendor_id
    if _on(vendor):
        assert vendor is not None
        value = vendor.value or ""
        if not value:
            raise _xml_error("missing 'value' attribute for HyperV feature 'vendor_id'")
        if len(value) > _VENDOR_ID_MAX:
            raise _xml_error(f"HyperV vendor_id value must not be more than "
                             f"{_VENDOR_ID_MAX} characters.")
        if "," in value:
            raise _xml_error("HyperV vendor_id value is invalid")


def cpu_flags(defn: DomainDef) -> list[str]:
    """The Hyper-V ``-cpu`` flags of ``defn`` (empty without enlightenments)."""
    flags: list[str] = []
    timers = defn.clock.timers if defn.clock is not None else []
    for t in timers:
        if t.name == "hypervclock" and t.present == "yes":
            flags.append("hv-time=on")
    hv = defn.features.hyperv if defn.features is not None else None
    if hv is None:
        return flags
    if hv.mode == "passthrough":
        flags.append("hv-passthrough=on")
    for name in ENLIGHTENMENTS:
        feat: HypervFeature | None = getattr(hv, name)
        if not _on(feat):
            continue
        assert feat is not None
        if name == "spinlocks":
            flags.append(f"hv-spinlocks=0x{int(feat.retries or '0', 10):x}")
        elif name == "vendor_id":
            flags.append(f"hv-vendor-id={feat.value}")
        else:
            flags.append(f"hv-{name}=on")
            if name == "stimer" and feat.direct is not None and feat.direct.state == "on":
                flags.append("hv-stimer-direct=on")
    return flags
