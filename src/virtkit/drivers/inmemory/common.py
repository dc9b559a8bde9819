"""Helpers shared by the test driver's table mixins."""

from __future__ import annotations

from virtkit.constants import DomainModificationImpact
from virtkit.drivers.inmemory.node import DomainObj, TestNode
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, invalid_flags, make_error
from virtkit.types import DomainIdent

# virDomainModificationImpact
AFFECT_LIVE = int(DomainModificationImpact.LIVE)
AFFECT_CONFIG = int(DomainModificationImpact.CONFIG)


def err(code: int, detail: str | None, domain: int = ErrorDomain.TEST) -> VirtError:
    """An error as the test driver reports it (error domain VIR_FROM_TEST by default)."""
    return make_error(code, domain, detail)


def check_flags(flags: int, allowed: int, function: str) -> None:
    """libvirt's virCheckFlags: refuse bits outside ``allowed``."""
    extra = flags & ~allowed
    if extra:
        raise invalid_flags(extra, function, ErrorDomain.TEST)


class _Txn:
    """``with`` block holding a node's lock, then flushing its events.

    A class rather than ``@contextmanager``: cheaper per call on every API
    path, and no ``contextlib`` import at start-up.
    """

    __slots__ = ("_node",)

    def __init__(self, node: TestNode) -> None:
        self._node = node

    def __enter__(self) -> TestNode:
        self._node.lock.acquire()
        return self._node

    def __exit__(self, *exc: object) -> None:
        try:
            self._node.lock.release()
        finally:
            self._node.events.flush()


class Base:
    """State every mixin shares: the node and the connection's URI."""

    _node: TestNode
    _uri: str

    def _txn(self) -> _Txn:
        """Hold the node's lock; deliver the queued events once it is released."""
        return _Txn(self._node)

    def _dom(self, dom: DomainIdent) -> DomainObj:
        """testDomObjFromDomain: find by UUID or fail naming uuid and name."""
        obj = self._node.domains_by_uuid.get(dom.uuid)
        if obj is None:
            return self._node.domains.get(dom)  # raises libvirt's NO_DOMAIN
        return obj

    def _lifecycle(self, obj: DomainObj, event: int, detail: int) -> None:
        """Queue a VIR_DOMAIN_EVENT_ID_LIFECYCLE event for ``obj`` as it is now."""
        obj.queue_lifecycle(self._node.events, event, detail)


def check_active(obj: DomainObj) -> None:
    """virDomainObjCheckActive."""
    if obj.id == -1:
        raise err(ErrorCode.OPERATION_INVALID, "domain is not running", ErrorDomain.DOMAIN)
