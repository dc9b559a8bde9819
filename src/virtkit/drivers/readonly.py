"""Read-only connections, enforced on the driver tables from the procedure table.

A connection opened read-only (``virtkit.open_readonly``, ``virtkit -r``) hands out
driver tables wrapped here: a method whose RPC procedure libvirt's ``remote_protocol.x``
does not mark read-only fails with ``VIR_ERR_OPERATION_DENIED`` "read only access
prevents virXxx", in the error domain of libvirt's API file, whoever calls it (the
handles, the CLI, a tool holding ``conn.tables``). A read-only procedure whose ``@acl``
has a flag- or parameter-conditional rule beyond reading (``VIR_DOMAIN_XML_SECURE``,
``VIR_DOMAIN_VCPU_GUEST``, the guest agent as address source) is refused when the call's
wire arguments meet the condition. Both decisions are the daemon's own
(daemon/access.py ``readonly_denial``, which refuses the same calls on read-only
sockets), so local and remote connections answer alike. Methods no procedure carries
(local-only helpers) pass.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, NoReturn

from virtkit.drivers.base import DriverTables
from virtkit.errors import ErrorCode, VirtError, make_error
from virtkit.rpc.protocol import Procedure

__all__ = ["readonly_tables", "write_api"]


@cache
def _conditional(method: str) -> Procedure | None:
    """The read-only procedure carrying ``method`` when its ``@acl`` has a conditional
    rule beyond reading (so some of its calls are refused), else None."""
    from virtkit.rpc import bindings
    from virtkit.rpc.protocol import REMOTE

    proc = bindings.proc_for_method(method)
    if proc is None:
        return None
    found = REMOTE.by_name[proc]
    if found.readonly and any(r.conditional and not r.anonymous for r in found.acl):
        return found
    return None


class _Sent(Exception):
    """Carries the wire arguments a call would send (never leaves this module)."""

    def __init__(self, args: Any) -> None:
        super().__init__()
        self.args_sent = args


def _wire_args(method: str, proc: Procedure, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
    """The arguments the remote driver would send for this call of ``method``."""
    from virtkit.rpc import bindings

    def capture(name: str, value: Any) -> Any:
        if name != proc.name:  # a preparatory call: not the one whose @acl applies
            return None
        raise _Sent(value)

    try:
        bindings.client_call(method).run(capture, bindings.bind_arguments(method)(args, kwargs))
    except _Sent as sent:
        return sent.args_sent
    except (TypeError, KeyError, VirtError):
        pass  # arguments the procedure cannot carry: the driver reports them
    return {}


def _guarded(method: str, proc: Procedure, fn: Callable[..., Any]) -> Callable[..., Any]:
    from virtkit.daemon.access import readonly_denial
    from virtkit.rpc.bindings import api_name

    def guarded(*args: Any, **kwargs: Any) -> Any:
        denied = readonly_denial(proc, _wire_args(method, proc, args, kwargs),
                                 api_name(proc.name))
        if denied is not None:
            raise denied
        return fn(*args, **kwargs)
    return guarded


@cache
def write_api(method: str) -> str | None:
    """libvirt's function name when driver method ``method`` changes state, else None."""
    from virtkit.rpc import bindings
    from virtkit.rpc.protocol import REMOTE

    proc = bindings.proc_for_method(method)
    if proc is None or REMOTE.by_name[proc].readonly:
        return None
    return bindings.api_name(method)


def _refusal(method: str, api: str) -> Callable[..., NoReturn]:
    from virtkit.rpc.bindings import api_error_domain

    def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise make_error(ErrorCode.OPERATION_DENIED, api_error_domain(method),
                         f"read only access prevents {api}")
    return refuse


class _ReadOnlyTable:
    """One driver table seen through a read-only connection."""

    __slots__ = ("_table",)

    def __init__(self, table: Any) -> None:
        self._table = table

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._table, name)
        if callable(value) and not name.startswith("_"):
            api = write_api(name)
            if api is not None:
                return _refusal(name, api)
            proc = _conditional(name)
            if proc is not None:
                return _guarded(name, proc, value)
        return value


def readonly_tables(tables: DriverTables) -> DriverTables:
    """``tables`` with every state-changing method refused."""
    wrapped: Any = _ReadOnlyTable
    return DriverTables(
        hypervisor=wrapped(tables.hypervisor), network=wrapped(tables.network),
        storage=wrapped(tables.storage), nodedev=wrapped(tables.nodedev),
        interface=wrapped(tables.interface), secret=wrapped(tables.secret),
        nwfilter=wrapped(tables.nwfilter))
