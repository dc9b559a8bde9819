"""virDomainSetMetadata / GetMetadata on the QEMU driver (qemuDomainSetMetadata).

The rules are conf/metadata.py's (shared with the test driver); here: which
definitions a call changes, the status and config files they are saved to, and the
METADATA_CHANGE event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from virtkit.conf import metadata as domain_metadata
from virtkit.constants import DomainEventID, DomainModificationImpact
from virtkit.errors import ErrorCode, ErrorDomain, invalid_arg, invalid_flags, make_error

if TYPE_CHECKING:
    from virtkit.drivers.qemu.node import QemuDomain, QemuNode

__all__ = ["get_metadata", "modification_impact", "set_metadata"]

_LIVE = int(DomainModificationImpact.LIVE)
_CONFIG = int(DomainModificationImpact.CONFIG)


def modification_impact(dom: QemuDomain, flags: int) -> tuple[bool, bool]:
    """virDomainObjUpdateModificationImpact: (live, config) for the AFFECT_* flags;
    errors from VIR_FROM_DOMAIN, as domain_conf.c reports them."""
    live, config = bool(flags & _LIVE), bool(flags & _CONFIG)
    if not live and not config:
        live, config = dom.active, not dom.active
    if live and (not dom.active or dom.mon is None):
        raise make_error(ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN, "domain is not running")
    if config and dom.persistent is None:
        raise make_error(ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN,
                         "transient domains do not have any persistent config")
    return live, config


def _one_def(dom: QemuDomain, flags: int) -> Any:
    """virDomainObjGetOneDef: the live or the persistent definition, never both."""
    if flags & _LIVE and flags & _CONFIG:
        raise invalid_arg("Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are "
                          "mutually exclusive", ErrorDomain.DOMAIN)
    live, _ = modification_impact(dom, flags)
    if live:
        return dom.live
    return dom.persistent if dom.persistent is not None else dom.live


def get_metadata(dom: QemuDomain, type: int, uri: str | None, flags: int) -> str:
    """virDomainObjGetMetadata."""
    if flags & ~(_LIVE | _CONFIG):
        raise invalid_flags(flags & ~(_LIVE | _CONFIG), "virDomainObjGetMetadata",
                            ErrorDomain.DOMAIN)
    with dom.lock:
        domain_metadata.check_type(type)
        return domain_metadata.get_metadata(_one_def(dom, flags), type, uri)


def set_metadata(node: QemuNode, dom: QemuDomain, type: int, metadata: str | None,
                 key: str | None, uri: str | None, flags: int) -> None:
    """virDomainObjSetMetadata under a modify job, then the METADATA_CHANGE event."""
    with dom.job:
        live, config = modification_impact(dom, flags)
        if live:
            assert dom.live is not None
            domain_metadata.set_metadata(dom.live, type, metadata, key, uri)
            node._save_status(dom)
        if config:
            node.update_config(dom, lambda d: domain_metadata.set_metadata(
                d, type, metadata, key, uri))
        node.emit_other(dom, int(DomainEventID.METADATA_CHANGE), (type, uri))
    node.events.flush()
