"""The migration calls of the QEMU driver table (qemuDomainMigrate*3Params,
qemuDomainMigrateSet/GetMaxDowntime, qemuDomainMigrateSet/GetMaxSpeed with its POSTCOPY
flag, qemuDomainMigrateSet/GetCompressionCache, qemuDomainMigrateStartPostCopy), mixed
into QemuDriver. The phases themselves are :mod:`virtkit.drivers.qemu.migration`'s."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from virtkit.constants import DomainMigrateFlags, DomainMigrateMaxSpeedFlags
from virtkit.drivers.domainjob import AsyncJob, Job
from virtkit.drivers.qemu import migration, migration_tunnel
from virtkit.drivers.qemu.node import QemuDomain, QemuNode
from virtkit.errors import ErrorCode, ErrorDomain, invalid_flags, make_error
from virtkit.streams import DataStream
from virtkit.types import DomainIdent, TypedParams

__all__ = ["MIGRATION_FEATURES", "MigrateMixin"]

_Q = ErrorDomain.QEMU
# VIR_DRV_FEATURE_MIGRATION_P2P (4), _V3 (6), MIGRATE_CHANGE_PROTECTION (7),
# MIGRATION_OFFLINE (12), MIGRATION_PARAMS (13): what virDomainMigrate3 and
# virDomainMigrateToURI3 ask before they pick protocol version 3 with typed parameters
MIGRATION_FEATURES = frozenset({4, 6, 7, 12, 13})
# libvirt's QEMU_DOMAIN_MIG_BANDWIDTH_MAX: MiB/s that fit QEMU's bytes/s as a long long
_BANDWIDTH_MAX = (1 << 63) // (1024 * 1024) - 1
_POSTCOPY = int(DomainMigrateMaxSpeedFlags.POSTCOPY)
_ULLONG_MAX = (1 << 64) - 1
_ULONG_MAX = (1 << 64) - 1  # unsigned long on the 64-bit hosts libvirt runs on


def _params(*, xml: str | None = None, dname: str | None = None, resource: int = 0,
            uri: str | None = None) -> TypedParams:
    """The typed parameters the non-params v3 arguments stand for."""
    params: TypedParams = {}
    if xml:
        params["destination_xml"] = xml
    if dname:
        params["destination_name"] = dname
    if resource:
        params["bandwidth"] = resource
    if uri:
        params["migrate_uri"] = uri
    return params


class MigrateMixin:
    """The migration calls of the QEMU driver table."""

    _node: QemuNode
    _on_close: list[Callable[[], None]]  # QemuDriver's: run when the connection closes

    if TYPE_CHECKING:  # QemuDriver's own
        def connect_supports_feature(self, feature: int) -> bool: ...

    def _dom(self, ident: DomainIdent) -> QemuDomain:
        return self._node.get(ident)

    def domain_migrate_begin3_params(self, dom: DomainIdent, params: TypedParams,
                                     flags: int = 0) -> tuple[bytes, str]:
        migration.check_mask(flags, "qemuDomainMigrateBegin3Params")
        migration.check_params(params)
        return migration.begin(self._node, self._dom(dom), params, flags,
                               closing=self._on_close)

    def domain_migrate_prepare3_params(self, params: TypedParams, cookie_in: bytes,
                                       flags: int = 0) -> tuple[bytes, str | None]:
        migration.check_mask(flags, "qemuDomainMigratePrepare3Params")
        migration.check_params(params)
        migration_tunnel.refuse_untunnelled_prepare(flags)
        return migration.prepare(self._node, params, cookie_in, flags,
                                 closing=self._on_close)

    def domain_migrate_prepare_tunnel3_params(self, params: TypedParams, cookie_in: bytes,
                                              flags: int = 0) -> tuple[bytes, DataStream]:
        """qemuDomainMigratePrepareTunnel3Params: the incoming QEMU listens on a unix
        socket; the stream the source feeds (over RPC) is written into it."""
        migration.check_mask(flags, "qemuDomainMigratePrepareTunnel3Params")
        migration.check_params(params)
        migration_tunnel.check_prepare(flags)
        opened: list[migration_tunnel.IncomingTunnel] = []

        def incoming(dom: QemuDomain) -> None:
            opened.append(migration_tunnel.listen_incoming(dom))

        cookie, _ = migration.prepare(self._node, params, cookie_in, flags, incoming=incoming,
                                      closing=self._on_close)
        return cookie, opened[0]

    def domain_migrate_perform3_params(self, dom: DomainIdent, dconnuri: str | None,
                                       params: TypedParams, cookie_in: bytes,
                                       flags: int = 0) -> bytes:
        migration.check_mask(flags, "qemuDomainMigratePerform3Params")
        migration.check_params(params)
        d = self._dom(dom)
        if flags & DomainMigrateFlags.PEER2PEER:
            if not dconnuri:
                raise make_error(ErrorCode.INVALID_ARG, _Q,
                                 "Missing destination connection URI for peer-to-peer "
                                 "migration")
            migration.check_flags(flags, "qemuMigrationSrcPerform")
            migration.peer2peer(self._node, d, self, dconnuri, params, flags)
            return b""
        return migration.perform(self._node, d, params, cookie_in, flags)

    def domain_migrate_finish3_params(self, params: TypedParams, cookie_in: bytes,
                                      flags: int, cancelled: int) -> tuple[DomainIdent, bytes]:
        migration.check_mask(flags, "qemuDomainMigrateFinish3Params")
        migration.check_params(params)
        return migration.finish(self._node, params, cookie_in, flags, cancelled)

    def domain_migrate_confirm3_params(self, dom: DomainIdent, params: TypedParams,
                                       cookie_in: bytes, flags: int, cancelled: int) -> None:
        migration.check_mask(flags, "qemuDomainMigrateConfirm3Params")
        migration.check_params(params)
        migration.confirm(self._node, self._dom(dom), params, cookie_in, flags, cancelled)

    # ------------------------------------------------------------ v3 without parameters

    def domain_migrate_begin3(self, dom: DomainIdent, xmlin: str | None, flags: int,
                              dname: str | None, resource: int) -> tuple[bytes, str]:
        return self.domain_migrate_begin3_params(
            dom, _params(xml=xmlin, dname=dname, resource=resource), flags)

    def domain_migrate_prepare3(self, cookie_in: bytes, uri_in: str | None, flags: int,
                                dname: str | None, resource: int,
                                dom_xml: str) -> tuple[bytes, str | None]:
        return self.domain_migrate_prepare3_params(
            _params(xml=dom_xml, dname=dname, resource=resource, uri=uri_in), cookie_in,
            flags)

    def domain_migrate_prepare_tunnel3(self, cookie_in: bytes, flags: int, dname: str | None,
                                       resource: int,
                                       dom_xml: str) -> tuple[bytes, DataStream]:
        return self.domain_migrate_prepare_tunnel3_params(
            _params(xml=dom_xml, dname=dname, resource=resource), cookie_in, flags)

    def domain_migrate_perform3(self, dom: DomainIdent, xmlin: str | None, cookie_in: bytes,
                                dconnuri: str | None, uri: str | None, flags: int,
                                dname: str | None, resource: int) -> bytes:
        return self.domain_migrate_perform3_params(
            dom, dconnuri, _params(xml=xmlin, dname=dname, resource=resource, uri=uri),
            cookie_in, flags)

    def domain_migrate_finish3(self, dname: str, cookie_in: bytes, dconnuri: str | None,
                               uri: str | None, flags: int,
                               cancelled: int) -> tuple[DomainIdent, bytes]:
        return self.domain_migrate_finish3_params(
            _params(dname=dname, uri=uri), cookie_in, flags, cancelled)

    def domain_migrate_confirm3(self, dom: DomainIdent, cookie_in: bytes, flags: int,
                                cancelled: int) -> None:
        self.domain_migrate_confirm3_params(dom, {}, cookie_in, flags, cancelled)

    # ------------------------------------------------------------ tunables

    def domain_migrate_get_max_downtime(self, dom: DomainIdent, flags: int = 0) -> int:
        if flags:
            raise invalid_flags(flags, "qemuDomainMigrateGetMaxDowntime", _Q)
        d = self._dom(dom)
        with d.job.using(Job.QUERY):
            if not d.active or d.mon is None:
                raise make_error(ErrorCode.OPERATION_INVALID, _Q, "domain is not running")
            got = d.mon.execute("query-migrate-parameters").get("downtime-limit")
            return got if isinstance(got, int) else migration.tunables(d).downtime_ms

    def domain_migrate_set_max_downtime(self, dom: DomainIdent, downtime: int,
                                        flags: int = 0) -> None:
        if flags:
            raise invalid_flags(flags, "qemuDomainMigrateSetMaxDowntime", _Q)
        d = self._dom(dom)
        with d.job.using(Job.MIGRATION_OP):
            if not d.active or d.mon is None:
                raise make_error(ErrorCode.OPERATION_INVALID, _Q, "domain is not running")
            d.mon.execute("migrate-set-parameters", {"downtime-limit": downtime})
            migration.tunables(d).downtime_ms = downtime

    def domain_migrate_get_max_speed(self, dom: DomainIdent, flags: int = 0) -> int:
        if flags & ~_POSTCOPY:
            raise invalid_flags(flags & ~_POSTCOPY, "qemuDomainMigrateGetMaxSpeed", _Q)
        d = self._dom(dom)
        if flags & _POSTCOPY:
            return _postcopy_bandwidth(d)
        speed = migration.tunables(d).speed_mib
        return speed if speed else _BANDWIDTH_MAX

    def domain_migrate_set_max_speed(self, dom: DomainIdent, bandwidth: int,
                                     flags: int = 0) -> None:
        if flags & ~_POSTCOPY:
            raise invalid_flags(flags & ~_POSTCOPY, "qemuDomainMigrateSetMaxSpeed", _Q)
        limit = _ULLONG_MAX // (1024 * 1024) if flags & _POSTCOPY else _BANDWIDTH_MAX
        if bandwidth > limit:
            raise make_error(ErrorCode.OVERFLOW, _Q, f"bandwidth must be less than {limit + 1}")
        d = self._dom(dom)
        if flags & _POSTCOPY:  # qemuDomainMigrateSetMaxSpeed: QEMU's own value only
            with d.job.using(Job.MIGRATION_OP):
                _require_active(d).execute("migrate-set-parameters",
                                           {"max-postcopy-bandwidth": bandwidth * 1024 * 1024})
            return
        with d.job.using(Job.MIGRATION_OP):
            if d.active and d.mon is not None:
                d.mon.execute("migrate-set-parameters",
                              {"max-bandwidth": bandwidth * 1024 * 1024})
            migration.tunables(d).speed_mib = bandwidth

    # ------------------------------------------------------------ compression cache, post-copy

    def domain_migrate_get_compression_cache(self, dom: DomainIdent, flags: int = 0) -> int:
        """qemuDomainMigrateGetCompressionCache: QEMU's xbzrle-cache-size (bytes)."""
        if flags:
            raise invalid_flags(flags, "qemuDomainMigrateGetCompressionCache", _Q)
        d = self._dom(dom)
        with d.job.using(Job.QUERY):
            mon = _require_xbzrle(d)
            size = mon.execute("query-migrate-parameters").get("xbzrle-cache-size")
            return int(size) if isinstance(size, int) else 0

    def domain_migrate_set_compression_cache(self, dom: DomainIdent, cache_size: int,
                                             flags: int = 0) -> None:
        """qemuDomainMigrateSetCompressionCache: set QEMU's xbzrle-cache-size now (also
        during a migration)."""
        if flags:
            raise invalid_flags(flags, "qemuDomainMigrateSetCompressionCache", _Q)
        d = self._dom(dom)
        with d.job.using(Job.MIGRATION_OP):
            _require_xbzrle(d).execute("migrate-set-parameters",
                                       {"xbzrle-cache-size": cache_size})

    def domain_migrate_start_post_copy(self, dom: DomainIdent, flags: int = 0) -> None:
        """qemuDomainMigrateStartPostCopy: the outgoing migration, started with
        VIR_MIGRATE_POSTCOPY, switches to post-copy (``migrate-start-postcopy``)."""
        if flags:
            raise invalid_flags(flags, "qemuDomainMigrateStartPostCopy", _Q)
        d = self._dom(dom)
        with d.job.using(Job.MIGRATION_OP):
            mon = _require_active(d)
            if d.job.async_job != AsyncJob.MIGRATION_OUT:
                raise make_error(ErrorCode.OPERATION_INVALID, _Q,
                                 "post-copy can only be started while outgoing migration "
                                 "is in progress")
            if not d.job.api_flags & DomainMigrateFlags.POSTCOPY:
                raise make_error(ErrorCode.OPERATION_INVALID, _Q,
                                 "switching to post-copy requires migration to be started "
                                 "with VIR_MIGRATE_POSTCOPY flag")
            mon.execute("migrate-start-postcopy")


def _require_active(d: QemuDomain) -> Any:
    """virDomainObjCheckActive; the monitor."""
    if not d.active or d.mon is None:
        raise make_error(ErrorCode.OPERATION_INVALID, _Q, "domain is not running")
    return d.mon


def _require_xbzrle(d: QemuDomain) -> Any:
    """An active domain whose QEMU does xbzrle (libvirt's qemuMigrationCapsGet check)."""
    mon = _require_active(d)
    caps = mon.execute("query-migrate-capabilities")
    if not any(isinstance(c, dict) and c.get("capability") == "xbzrle" for c in caps or []):
        raise make_error(ErrorCode.OPERATION_UNSUPPORTED, _Q,
                         "Compressed migration is not supported by QEMU binary")
    return mon


def _postcopy_bandwidth(d: QemuDomain) -> int:
    """qemuDomainMigrationGetPostcopyBandwidth: QEMU's max-postcopy-bandwidth in MiB/s."""
    with d.job.using(Job.QUERY):
        got = _require_active(d).execute("query-migrate-parameters") \
            .get("max-postcopy-bandwidth")
    if not isinstance(got, int):
        raise make_error(ErrorCode.OPERATION_INVALID, _Q,
                         "querying maximum post-copy migration speed is not supported by "
                         "QEMU binary")
    bandwidth = got // (1024 * 1024)
    if bandwidth > _ULONG_MAX:
        raise make_error(ErrorCode.OVERFLOW, _Q,
                         f"bandwidth {bandwidth} is greater than {_ULONG_MAX} which is the "
                         "maximum value supported by this API")
    return bandwidth
