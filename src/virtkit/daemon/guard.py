"""Access checks and audit around each ``remote`` call (used by the dispatcher).

:class:`CallGuard` wraps one call: it checks the procedure's ``@acl``
permissions against the ``virtkit`` access driver before the call runs, on the
objects the driver will act on (handles resolved through the driver, XML
documents read by the driver's parser: :mod:`virtkit.daemon.resolve`), or,
for side-effect-free lookups, on the object the call returned, which is when
libvirt's drivers check; it filters the replies of listing calls by their
``@aclfilter`` permission, and writes the audit line (naming the real object)
of state-changing calls and of every denial.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from virtkit.daemon.access import (
    ACCESS_DRIVERS,
    AccessControl,
    ObjectRef,
    PolicyError,
    args_object,
    load_policy,
    num_to_list,
    policy_path,
    readonly_denial,
    ret_object,
)
from virtkit.daemon.audit import AuditLog, audit_path
from virtkit.daemon.resolve import creation_targets, resolve_args
from virtkit.errors import VirtError
from virtkit.errtables import ErrorCode
from virtkit.rpc import bindings
from virtkit.rpc.protocol import Procedure
from virtkit.rpc.xdr import VarArray

if TYPE_CHECKING:
    from virtkit.rpc.server import Session

__all__ = ["CallGuard", "PolicyError"]

log = logging.getLogger("virtkit.daemon.guard")

# event kind (rpc/eventmsgs) -> ACL object type
_EVENT_OBJECTS = {"domain": "domain", "network": "network", "pool": "storage_pool",
                  "nodedev": "node_device", "secret": "secret"}


def _driver_name(state: Any) -> str:
    tables = getattr(state, "tables", None)
    if tables is None:
        return "remote"
    return str(getattr(tables.hypervisor, "name", None) or "remote")


def _refused_readonly(state: Any, proc: Procedure, args: Any) -> bool:
    """Whether a read-only connection is refused this call (by the dispatcher, before any
    access check, as libvirt's API refuses it before the driver runs)."""
    if not getattr(state, "readonly", False):
        return False
    return readonly_denial(proc, args, bindings.api_name(proc.name)) is not None


def _merged(args: Any, real: Any) -> Any:
    """``args`` (as the call may have changed them) with the resolved handles of ``real``."""
    if not isinstance(args, dict) or not isinstance(real, dict) or real is args:
        return args
    return dict(args, **{k: v for k, v in real.items() if v is not args.get(k)})


def _acl_object(proc: Procedure) -> str | None:
    """The object type of a procedure's @acl rules (libvirt allows one per procedure);
    None for connection-level procedures."""
    for rule in proc.acl:
        if rule.object != "connect":
            return rule.object
    return None


class CallGuard:
    """Access control (``access``, or None for libvirt's ``none`` driver) and audit."""

    def __init__(self, access: AccessControl | None, audit: AuditLog | None) -> None:
        self.access = access
        self.audit = audit

    @classmethod
    def from_config(cls, config: Any, paths: Any) -> CallGuard | None:
        """Build from libvirtd.conf settings; None when there is nothing to do.
        Raises :class:`PolicyError` for an unknown access driver or a bad policy."""
        if config is None or paths is None:
            return None
        drivers = tuple(getattr(config, "access_drivers", None) or ())
        for name in drivers:
            if name not in ACCESS_DRIVERS:
                raise PolicyError(f"unsupported configuration: access driver '{name}' is not "
                                  f"available (virtkitd has: {', '.join(ACCESS_DRIVERS)})")
        access = None
        if "virtkit" in drivers:
            path = policy_path(config, paths)
            access = AccessControl(load_policy(path))
            log.info("access control: policy %s (%d rules, default %s)", path,
                     len(access.policy.rules), "allow" if access.policy.default_allow else "deny")
        audit = None
        where = audit_path(config, paths)
        if where is not None:
            try:
                audit = AuditLog(where)
            except OSError as e:
                raise PolicyError(f"cannot open the audit log '{where}': {e.strerror}") from None
        if access is None and audit is None:
            return None
        return cls(access, audit)

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()

    def reload(self, config: Any, paths: Any) -> bool:
        """SIGHUP: read the policy file again and swap it in (calls already running finish
        under the old one), and re-open the audit log.  A policy that does not load keeps
        the old one in force (the reason is logged).  Returns whether everything worked."""
        ok = True
        if self.access is not None:
            path = policy_path(config, paths)
            try:
                policy = load_policy(path)
            except PolicyError as e:
                log.error("access policy not reloaded, keeping the previous one: %s", e)
                ok = False
            else:
                self.access = AccessControl(policy)  # one reference swap: atomic
                log.info("access control: reloaded policy %s (%d rules, default %s)", path,
                         len(policy.rules), "allow" if policy.default_allow else "deny")
        if self.audit is not None and not self.audit.reopen():
            ok = False
        return ok

    def wants(self, proc: Procedure) -> bool:
        """Whether ``proc`` needs the guard at all (fast path for the rest)."""
        if self.access is not None and (proc.acl or proc.aclfilter):
            return True
        return self.audit is not None and not proc.readonly

    # ------------------------------------------------------------ one call

    def call(self, session: Session, state: Any, proc: Procedure, args: Any,
             run: Callable[[], Any], run_other: Callable[[Procedure, Any], Any],
             close_connection: Callable[[], None]) -> Any:
        """Run ``run()`` (the call itself) under the checks; returns its (filtered) ret.

        ``run_other(proc, args)`` runs another procedure on the same connection (to count
        visible objects); ``close_connection()`` undoes a CONNECT_OPEN that is denied."""
        access = self.access
        obj_type = _acl_object(proc)
        obj: ObjectRef | None = None
        audited = self.audit is not None and not proc.readonly
        tables = getattr(state, "tables", None)
        real = args
        try:
            if access is None or _refused_readonly(state, proc, args):
                # libvirt checks read-only connections first: OPERATION_DENIED from run()
                if audited and obj_type is not None and tables is not None:
                    real = resolve_args(proc, args, tables, strict=False)
                ret = run()
                if audited and obj_type is not None:
                    obj = self._audit_object(proc, obj_type, real, ret)
            elif proc.name == "connect_open":
                ret = run()
                try:
                    access.ensure(session, proc, args, _driver_name(state), None)
                except VirtError:
                    close_connection()
                    raise
            elif tables is None:
                ret = run()  # not open: only protocol-level answers, no objects
            else:
                ret, obj = self._checked(access, session, state, proc, args, obj_type, run,
                                         run_other)
        except VirtError as e:
            denied = e.code == ErrorCode.ACCESS_DENIED
            if self.audit is not None and (audited or denied):
                if obj is None and obj_type is not None:
                    obj = args_object(proc, obj_type, real)
                self._record(session, proc, obj, e, denied)
            raise
        if audited:
            self._record(session, proc, obj, None, False)
        return ret

    @staticmethod
    def _audit_object(proc: Procedure, obj_type: str, args: Any, ret: Any
                      ) -> ObjectRef | None:
        """The object an audited call acted on: what it returned (a define's real name
        and UUID), else what its resolved arguments name."""
        found = ret_object(proc, obj_type, CallGuard._decoded(proc, ret))
        return found or args_object(proc, obj_type, args)

    def _checked(self, access: AccessControl, session: Session, state: Any, proc: Procedure,
                 args: Any, obj_type: str | None, run: Callable[[], Any],
                 run_other: Callable[[Procedure, Any], Any]) -> tuple[Any, ObjectRef | None]:
        driver = _driver_name(state)
        # the objects the driver will act on: handles resolved, documents parsed
        real = resolve_args(proc, args, state.tables)
        obj = args_object(proc, obj_type, real, xml=False) if obj_type is not None else None
        targets = None
        if obj_type is not None and obj is None:
            targets = creation_targets(proc, obj_type, real, state.tables)
            obj = targets[0] if targets else None
        # Side-effect-free lookups are checked on what they found, as libvirt's drivers do
        # (so a missing object is "not found", not "denied").
        post = obj_type is not None and proc.readonly and (
            obj is None or "_lookup_by_" in proc.name)
        if not post:
            checked: list[ObjectRef | None] = list(targets) if targets else [obj]
            for target in checked:
                access.ensure(session, proc, args, driver, target)
        if proc.aclfilter:
            return self._listing(access, session, state, proc, args, real, run,
                                 run_other), obj
        ret = run()
        if post or targets:  # what a lookup found, what a define made: real name and UUID
            found = ret_object(proc, obj_type or "", self._decoded(proc, ret))
            obj = found or obj
        if post:
            access.ensure(session, proc, args, driver, obj)
        return ret, obj

    def _listing(self, access: AccessControl, session: Session, state: Any, proc: Procedure,
                 args: Any, real: Any, run: Callable[[], Any],
                 run_other: Callable[[Procedure, Any], Any]) -> Any:
        """A listing call with only the objects its ``@aclfilter`` permission allows."""
        list_proc = num_to_list(proc)
        if list_proc is not None:  # count only the visible objects
            largs = dict(args or {})
            for fname, _ in list_proc.args.fields:  # type: ignore[attr-defined]
                if fname.startswith("max"):
                    largs[fname] = self._list_max(list_proc)
            lret = self._decoded(list_proc, run_other(list_proc, largs))
            kept = access.filter_ret(session, list_proc, _merged(largs, real), lret,
                                     self._id_lookup(state))
            items = next(v for v in kept.values() if isinstance(v, list))
            (num_field, _), = proc.ret.fields  # type: ignore[attr-defined]
            return {num_field: len(items)}
        wanted = True
        limit: int | None = None
        if isinstance(args, dict):
            if "need_results" in args:
                wanted = bool(args["need_results"])
                args["need_results"] = 1
            for fname in [f for f in args if f.startswith("max")]:
                # libvirt filters while collecting: "maxnames" visible objects, so
                # ask for all and cut after filtering
                limit = max(0, int(args[fname]))
                args[fname] = self._list_max(proc)
        ret = self._decoded(proc, run())
        ret = access.filter_ret(session, proc, _merged(args, real), ret,
                                self._id_lookup(state))
        if isinstance(ret, dict) and (not wanted or limit is not None):
            lname = next(k for k, v in ret.items() if isinstance(v, list))
            ret = dict(ret, **{lname: [] if not wanted else ret[lname][:limit]})
        return ret

    @staticmethod
    def _list_max(proc: Procedure) -> int:
        """The most items a listing reply may carry."""
        for _, ftype in proc.ret.fields:  # type: ignore[attr-defined]
            if isinstance(ftype, VarArray):
                return int(ftype.max)
        return 0

    @staticmethod
    def _decoded(proc: Procedure, ret: Any) -> Any:
        """bindings' fast listings come pre-encoded: decode them to filter."""
        if isinstance(ret, (bytes, bytearray)):
            return proc.ret.decode(bytes(ret))
        return ret

    @staticmethod
    def _id_lookup(state: Any) -> Callable[[int], ObjectRef | None]:
        def lookup(dom_id: int) -> ObjectRef | None:
            try:
                dom = state.tables.hypervisor.domain_lookup_by_id(dom_id)
            except VirtError:
                return None
            return ObjectRef("domain", dom.name, dom.uuid)
        return lookup

    def _record(self, session: Session, proc: Procedure, obj: ObjectRef | None,
                error: VirtError | None, denied: bool) -> None:
        assert self.audit is not None
        peer = session.peer
        self.audit.record(client=session.id, transport=peer.transport, address=peer.address,
                          identity=session.identity, procedure=proc.name,
                          api=bindings.api_name(proc.name),
                          obj=obj.as_dict() if obj is not None else None, error=error,
                          denied=denied)

    # ------------------------------------------------------------ events

    def event_visible(self, session: Session, kind: str, ident: Any) -> bool:
        """Whether an event about ``ident`` may go to this client (the registration's
        @aclfilter: ``<object>.getattr``)."""
        access = self.access
        if access is None:
            return True
        obj_type = _EVENT_OBJECTS.get(kind)
        if obj_type is None:  # an event kind this table does not know: not shown
            log.warning("no access rule for %s events: not delivered", kind)
            return False
        # a secret is named by its usage id, as the access rules name it (access.py)
        name = getattr(ident, "usage_id" if obj_type == "secret" else "name", None)
        obj = ObjectRef(obj_type, name, getattr(ident, "uuid", None))
        return access.allowed(session, f"{obj_type}.getattr", obj)
