"""virtkit: libvirt's model (XML, URIs, errors, RPC protocol) as a Python library.

``virtkit.open(uri)`` returns a :class:`~virtkit.connection.Connection`; see
docs/api.md. Importing this package is cheap: the connection machinery and
the drivers load on first use.
"""

from __future__ import annotations

from virtkit.errors import (
    ErrorCode,
    ErrorDomain,
    InvalidArgError,
    NoDomainError,
    NoNetworkError,
    NoStoragePoolError,
    NoStorageVolError,
    NoSupportError,
    OperationDeniedError,
    OperationInvalidError,
    VirtError,
    XMLError,
)

# Not `typing.TYPE_CHECKING`: importing typing would double this package's import time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from virtkit.connection import Connection
    from virtkit.events import DomainEvent, EventHandle, EventStream
    from virtkit.handles import (
        Domain,
        Network,
        NWFilter,
        NWFilterBinding,
        Secret,
        Snapshot,
        StoragePool,
        StorageVolume,
    )
    from virtkit.uri import ParsedURI, parse_uri

__all__ = [
    "Connection",
    "Domain",
    "DomainEvent",
    "ErrorCode",
    "ErrorDomain",
    "EventHandle",
    "EventStream",
    "InvalidArgError",
    "NWFilter",
    "NWFilterBinding",
    "Network",
    "NoDomainError",
    "NoNetworkError",
    "NoStoragePoolError",
    "NoStorageVolError",
    "NoSupportError",
    "OperationDeniedError",
    "OperationInvalidError",
    "ParsedURI",
    "Secret",
    "Snapshot",
    "StoragePool",
    "StorageVolume",
    "VirtError",
    "XMLError",
    "open",
    "open_auth",
    "open_readonly",
    "parse_uri",
]

__version__ = "0.1.0"

_RO = 1  # ConnectFlags.RO, without importing the (large) constants module


def open(uri: str | None = None, flags: int = 0, auth: object = None) -> Connection:
    """Open a connection to ``uri`` (libvirt's URI syntax; flags: ConnectFlags).

    ``uri=None`` or ``""`` uses $VIRTKIT_DEFAULT_URI, then $LIBVIRT_DEFAULT_URI,
    then ``qemu:///system``.  ``auth`` supplies SASL credentials the auth file
    (``authfile=``, $LIBVIRT_AUTH_FILE) does not: libvirt-python's openAuth list
    ``[credtypes, callback, cbdata]`` (the callback fills ``cred[4]`` of each
    ``[type, prompt, challenge, defresult, result]`` and returns 0), or a dict
    ``{"authname": ..., "password": ...}``.
    """
    from virtkit.connection import Connection
    from virtkit.drivers.registry import open_tables
    from virtkit.uri import connect_uri

    parsed = connect_uri(uri)
    if auth is None or not parsed.is_remote:  # credentials only matter to a daemon
        return Connection(parsed, open_tables(parsed, flags), flags)
    from virtkit.rpc.saslclient import using_auth

    with using_auth(auth):
        return Connection(parsed, open_tables(parsed, flags), flags)


def open_auth(uri: str | None, auth: object, flags: int = 0) -> Connection:
    """libvirt's ``openAuth(uri, auth, flags)``: :func:`open` with credentials."""
    return open(uri, flags, auth)


def open_readonly(uri: str | None = None) -> Connection:
    """Open a read-only connection: state-changing calls fail with VIR_ERR_OPERATION_DENIED."""
    return open(uri, _RO)


_LAZY = {
    "Connection": "virtkit.connection",
    "Domain": "virtkit.handles",
    "Network": "virtkit.handles",
    "Snapshot": "virtkit.handles",
    "StoragePool": "virtkit.handles",
    "StorageVolume": "virtkit.handles",
    "NWFilter": "virtkit.handles",
    "NWFilterBinding": "virtkit.handles",
    "Secret": "virtkit.handles",
    "DomainEvent": "virtkit.events",
    "EventHandle": "virtkit.events",
    "EventStream": "virtkit.events",
    "ParsedURI": "virtkit.uri",
    "parse_uri": "virtkit.uri",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'virtkit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
