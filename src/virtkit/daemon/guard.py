"""Access checks and audit around each ``remote`` call (used by the dispatcher).

:class:`CallGuard` wraps one call: it checks the procedure's ``@acl``
permissions against the ``virtkit`` access driver before the call runs (or,
for side-effect-free lookups, on the object the call returned, which is when
libvirt's drivers check), filters the replies of listing calls by their
``@aclfilter`` permission, and writes the audit line of state-changing calls
and of every denial.
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
    ret_object,
)
from virtkit.daemon.audit import AuditLog, audit_path
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
                  "nodedev": "node_device"}


def _driver_name(state: Any) -> str:
    tables = getattr(state, "tables", None)
    if tables is None:
        return "remote"
    return str(getattr(tables.hypervisor, "name", None) or "remote")


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
        try:
            if access is None or (getattr(state, "readonly", False) and not proc.readonly):
                # libvirt checks read-only connections first: OPERATION_DENIED from run()
                if audited and obj_type is not None:
                    obj = args_object(proc, obj_type, args)
                ret = run()
                if audited and obj is None and obj_type is not None:
                    obj = ret_object(proc, obj_type, ret)
            elif proc.name == "connect_open":
                ret = run()
                try:
                    access.ensure(session, proc, args, _driver_name(state), None)
                except VirtError:
                    close_connection()
                    raise
            elif getattr(state, "tables", None) is None:
                ret = run()  # not open: only protocol-level answers, no objects
            else:
                ret = self._checked(access, session, state, proc, args, obj_type, run,
                                    run_other)
                obj = ret[1]
                ret = ret[0]
        except VirtError as e:
            denied = e.code == ErrorCode.ACCESS_DENIED
            if self.audit is not None and (audited or denied):
                if obj is None and obj_type is not None:
                    obj = args_object(proc, obj_type, args)
                self._record(session, proc, obj, e, denied)
            raise
        if audited:
            self._record(session, proc, obj, None, False)
        return ret

    def _checked(self, access: AccessControl, session: Session, state: Any, proc: Procedure,
                 args: Any, obj_type: str | None, run: Callable[[], Any],
                 run_other: Callable[[Procedure, Any], Any]) -> tuple[Any, ObjectRef | None]:
        driver = _driver_name(state)
        obj = args_object(proc, obj_type, args) if obj_type is not None else None
        # Side-effect-free lookups are checked on what they found, as libvirt's drivers do
        # (so a missing object is "not found", not "denied").
        post = obj_type is not None and proc.readonly and (
            obj is None or "_lookup_by_" in proc.name)
        if not post:
            access.ensure(session, proc, args, driver, obj)
        listing = proc.aclfilter
        if listing:
            list_proc = num_to_list(proc)
            if list_proc is not None:  # count only the visible objects
                largs = dict(args or {})
                for fname, _ in list_proc.args.fields:  # type: ignore[attr-defined]
                    if fname.startswith("max"):
                        largs[fname] = self._list_max(list_proc)
                lret = self._decoded(list_proc, run_other(list_proc, largs))
                kept = access.filter_ret(session, list_proc, largs, lret,
                                         self._id_lookup(state))
                items = next(v for v in kept.values() if isinstance(v, list))
                (num_field, _), = proc.ret.fields  # type: ignore[attr-defined]
                return {num_field: len(items)}, obj
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
            ret = access.filter_ret(session, proc, args, ret, self._id_lookup(state))
            if isinstance(ret, dict) and (not wanted or limit is not None):
                lname = next(k for k, v in ret.items() if isinstance(v, list))
                ret = dict(ret, **{lname: [] if not wanted else ret[lname][:limit]})
            return ret, obj
        ret = run()
        if post:
            found = ret_object(proc, obj_type or "", self._decoded(proc, ret))
            obj = found or obj
            access.ensure(session, proc, args, driver, obj)
        return ret, obj

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
        if obj_type is None:
            return True
        obj = ObjectRef(obj_type, getattr(ident, "name", None), getattr(ident, "uuid", None))
        return access.allowed(session, f"{obj_type}.getattr", obj)
