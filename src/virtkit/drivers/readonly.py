"""Read-only connections, enforced on the driver tables from the procedure table.

A connection opened read-only (``virtkit.open_readonly``, ``virtkit -r``) hands out
driver tables wrapped here: a method whose RPC procedure libvirt's ``remote_protocol.x``
does not mark read-only fails with ``VIR_ERR_OPERATION_DENIED`` "read only access
prevents virXxx", in the error domain of libvirt's API file, whoever calls it (the
handles, the CLI, a tool holding ``conn.tables``). Methods no procedure carries
(local-only helpers) pass. The daemon refuses the same procedures on read-only
sockets from the same table (daemon/access.py ``readonly_denial``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, NoReturn

from virtkit.drivers.base import DriverTables
from virtkit.errors import ErrorCode, make_error

__all__ = ["readonly_tables", "write_api"]


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
        return value


def readonly_tables(tables: DriverTables) -> DriverTables:
    """``tables`` with every state-changing method refused."""
    wrapped: Any = _ReadOnlyTable
    return DriverTables(
        hypervisor=wrapped(tables.hypervisor), network=wrapped(tables.network),
        storage=wrapped(tables.storage), nodedev=wrapped(tables.nodedev),
        interface=wrapped(tables.interface), secret=wrapped(tables.secret),
        nwfilter=wrapped(tables.nwfilter))
