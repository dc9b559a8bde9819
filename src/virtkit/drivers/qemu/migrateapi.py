"""The migration calls of the QEMU driver table (qemuDomainMigrate*3Params,
qemuDomainMigrateSet/GetMaxDowntime, qemuDomainMigrateSet/GetMaxSpeed), mixed into
QemuDriver. The phases themselves are :mod:`virtkit.drivers.qemu.migration`'s."""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtkit.constants import DomainMigrateFlags, DomainMigrateMaxSpeedFlags
from virtkit.drivers.domainjob import Job
from virtkit.drivers.qemu import migration
from virtkit.drivers.qemu.node import QemuDomain, QemuNode
from virtkit.errors import ErrorCode, ErrorDomain, invalid_flags, make_error
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

    if TYPE_CHECKING:  # QemuDriver's own
        def connect_supports_feature(self, feature: int) -> bool: ...

    def _dom(self, ident: DomainIdent) -> QemuDomain:
        return self._node.get(ident)

    def domain_migrate_begin3_params(self, dom: DomainIdent, params: TypedParams,
                                     flags: int = 0) -> tuple[bytes, str]:
        migration.check_mask(flags, "qemuDomainMigrateBegin3Params")
        migration.check_params(params)
        return migration.begin(self._node, self._dom(dom), params, flags)

    def domain_migrate_prepare3_params(self, params: TypedParams, cookie_in: bytes,
                                       flags: int = 0) -> tuple[bytes, str | None]:
        migration.check_mask(flags, "qemuDomainMigratePrepare3Params")
        migration.check_params(params)
        return migration.prepare(self._node, params, cookie_in, flags)

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
        if flags & _POSTCOPY:
            raise make_error(ErrorCode.ARGUMENT_UNSUPPORTED, _Q,
                             "post-copy migration is not supported by virtkit")
        d = self._dom(dom)
        speed = migration.tunables(d).speed_mib
        return speed if speed else _BANDWIDTH_MAX

    def domain_migrate_set_max_speed(self, dom: DomainIdent, bandwidth: int,
                                     flags: int = 0) -> None:
        if flags & ~_POSTCOPY:
            raise invalid_flags(flags & ~_POSTCOPY, "qemuDomainMigrateSetMaxSpeed", _Q)
        if flags & _POSTCOPY:
            raise make_error(ErrorCode.ARGUMENT_UNSUPPORTED, _Q,
                             "post-copy migration is not supported by virtkit")
        if bandwidth > _BANDWIDTH_MAX:
            raise make_error(ErrorCode.OVERFLOW, _Q,
                             f"bandwidth must be less than {_BANDWIDTH_MAX + 1}")
        d = self._dom(dom)
        with d.job.using(Job.MIGRATION_OP):
            if d.active and d.mon is not None:
                d.mon.execute("migrate-set-parameters",
                              {"max-bandwidth": bandwidth * 1024 * 1024})
            migration.tunables(d).speed_mib = bandwidth
