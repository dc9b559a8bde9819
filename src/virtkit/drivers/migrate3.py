"""libvirt's client-side migration protocol, version 3 with typed parameters
(virDomainMigrateVersion3Full in libvirt-domain.c), over any two hypervisor tables.

The managed-direct mode runs it in the client (``Domain.migrate``) between the source's
and the destination's connections; the peer-to-peer mode runs it in the source daemon
(the QEMU driver's ``peer2peer``) with the destination opened through the remote driver.
Driver-neutral: it calls only the tables' ``domain_migrate_*3_params`` methods.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Protocol

from virtkit.constants import DomainMigrateFlags
from virtkit.errors import ErrorCode, ErrorDomain, VirtError, make_error
from virtkit.streams import DataStream
from virtkit.types import DomainIdent, TypedParams

__all__ = ["MigrationPeer", "migrate_v3"]

log = logging.getLogger("virtkit.drivers.migrate3")

F = DomainMigrateFlags
_Q = ErrorDomain.QEMU
_FEATURE_MIGRATE_CHANGE_PROTECTION = 7  # VIR_DRV_FEATURE_MIGRATE_CHANGE_PROTECTION


class MigrationPeer(Protocol):
    """The hypervisor-table methods one side of a migration answers."""

    def connect_supports_feature(self, feature: int) -> bool: ...

    def domain_migrate_begin3_params(self, dom: DomainIdent, params: TypedParams,
                                     flags: int = 0) -> tuple[bytes, str]: ...

    def domain_migrate_prepare3_params(self, params: TypedParams, cookie_in: bytes,
                                       flags: int = 0) -> tuple[bytes, str | None]: ...

    def domain_migrate_prepare_tunnel3_params(self, params: TypedParams, cookie_in: bytes,
                                              flags: int = 0) -> tuple[bytes, DataStream]: ...

    def domain_migrate_perform3_params(self, dom: DomainIdent, dconnuri: str | None,
                                       params: TypedParams, cookie_in: bytes,
                                       flags: int = 0) -> bytes: ...

    def domain_migrate_finish3_params(self, params: TypedParams, cookie_in: bytes,
                                      flags: int, cancelled: int
                                      ) -> tuple[DomainIdent, bytes]: ...

    def domain_migrate_confirm3_params(self, dom: DomainIdent, params: TypedParams,
                                       cookie_in: bytes, flags: int,
                                       cancelled: int) -> None: ...


def migrate_v3(src: MigrationPeer, dom: DomainIdent, dst: MigrationPeer, params: TypedParams,
               flags: int, perform: Any = None) -> DomainIdent:
    """virDomainMigrateVersion3Full (typed parameters): Begin on ``src``, Prepare on
    ``dst``, Perform on ``src`` (``perform(params, cookie)`` instead when given: the
    peer-to-peer source runs its own), Finish on ``dst``, Confirm on ``src``. The guest
    is never lost: a failed Perform or Finish makes Confirm resume the source."""
    if flags & F.TUNNELLED and perform is None:  # virDomainMigrate3's own check
        raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.DOMAIN,
                         "cannot perform tunnelled migration without using peer2peer flag")
    params = dict(params)
    tunnel: DataStream | None = None
    # the source keeps its migration job from Begin to Confirm when it can
    protection = (int(F.CHANGE_PROTECTION)
                  if src.connect_supports_feature(_FEATURE_MIGRATE_CHANGE_PROTECTION) else 0)
    cookie, xml = src.domain_migrate_begin3_params(dom, params, flags | protection)
    params["destination_xml"] = xml
    destflags = flags & ~int(F.ABORT_ON_ERROR | F.AUTO_CONVERGE)
    uri_out: str | None = None
    try:
        if flags & F.TUNNELLED:  # qemuMigrationSrcPerformPeer2Peer3: a stream to feed
            cookie, tunnel = dst.domain_migrate_prepare_tunnel3_params(params, cookie,
                                                                       destflags)
        else:
            cookie, uri_out = dst.domain_migrate_prepare3_params(params, cookie, destflags)
    except BaseException:
        if protection:  # Begin started a job there: Confirm (cancelled) ends it
            with contextlib.suppress(VirtError):
                src.domain_migrate_confirm3_params(dom, params, b"", flags | protection, 1)
        raise
    failure: BaseException | None = None
    cancelled, notify_source = 0, True
    if flags & F.OFFLINE:
        cookie = b""
    else:
        if uri_out:
            params["migrate_uri"] = uri_out
        try:
            if tunnel is not None:
                cookie = perform(params, cookie, tunnel=tunnel)
            elif perform is not None:
                cookie = perform(params, cookie)
            else:
                cookie = src.domain_migrate_perform3_params(
                    dom, None, params, cookie, flags | protection)
        except BaseException as exc:  # the source recovered by itself: no Confirm
            failure, cancelled, notify_source, cookie = exc, 1, False, b""
            if tunnel is not None:  # Perform may fail before it used the stream
                with contextlib.suppress(VirtError, OSError):
                    tunnel.abort()
    params.setdefault("destination_name", dom.name)
    ddom: DomainIdent | None = None
    try:
        ddom, cookie = dst.domain_migrate_finish3_params(params, cookie, destflags, cancelled)
    except BaseException as exc:
        cookie = b""
        if failure is None or _finish_error_wins(failure, exc):
            failure = exc
    if notify_source:
        try:
            src.domain_migrate_confirm3_params(dom, params, cookie, flags | protection,
                                               int(ddom is None))
        except VirtError as exc:
            log.warning("confirm of the migration of %s failed: %s", dom.name, exc)
            if failure is None:
                failure = exc
    if failure is not None:
        raise failure
    assert ddom is not None
    return ddom


def _finish_error_wins(perform_error: BaseException, finish_error: BaseException) -> bool:
    """virDomainMigrateVersion3Full: a QEMU "operation failed" from Perform gives way to
    the destination's own QEMU error from Finish (it says what went wrong there)."""
    return (isinstance(perform_error, VirtError) and isinstance(finish_error, VirtError)
            and perform_error.domain == _Q and perform_error.code == ErrorCode.OPERATION_FAILED
            and finish_error.domain == _Q
            and finish_error.code != ErrorCode.MIGRATE_FINISH_OK)
