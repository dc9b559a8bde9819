"""Manage a running daemon through its admin socket: libvirt's ``virAdm*`` API.

Works against virtkitd and against a real libvirtd (or virtqemud, ...)::

    import virtkit.admin

    with virtkit.admin.open("libvirtd:///system") as conn:
        for srv in conn.list_servers():
            print(srv.name, srv.get_threadpool_parameters())
        srv = conn.lookup_server("libvirtd")
        for client in srv.list_clients():
            print(client.id, client.transport_name, client.get_info())
        srv.set_threadpool_parameters({"maxWorkers": 40})
        conn.set_logging_filters("1:rpc 3:qemu")

URIs are libvirt's admin URIs: ``libvirtd:///system`` (or ``virtkitd:///system``)
is ``/run/libvirt/libvirt-admin-sock``, ``virtqemud:///system`` is
``/run/libvirt/virtqemud-admin-sock``, ``/session`` looks in
``$XDG_RUNTIME_DIR/libvirt``, and ``?socket=PATH`` names the socket outright.
A ``/system`` socket lives under ``root`` (``$VIRTKIT_ROOT``), for a virtkitd
started with ``--root``.  Errors are :class:`virtkit.VirtError`\\ s with libvirt's
codes and wording.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc import admin_procs as ap
from virtkit.rpc.client import Client
from virtkit.rpc.transport import connect_unix
from virtkit.rpc.typedparams import ParamType, TypedParam, decode_params, encode_params
from virtkit.rpc.xdr import VOID, XDRType
from virtkit.types import TypedParams, TypedValue

__all__ = [
    "TRANSPORT_NAMES",
    "AdminClient",
    "AdminConnection",
    "AdminServer",
    "default_uri",
    "open",
    "socket_path",
]

TRANSPORT_NAMES = ("unix", "tcp", "tls")
"""``virClientTransport`` names, by number."""


def default_uri() -> str:
    """``$LIBVIRT_ADMIN_DEFAULT_URI``, else ``libvirtd:///system`` for root and
    ``libvirtd:///session`` for others (virt-admin's rule)."""
    env = os.environ.get("LIBVIRT_ADMIN_DEFAULT_URI")
    if env:
        return env
    return "libvirtd:///system" if os.geteuid() == 0 else "libvirtd:///session"


def _unsupported(detail: str) -> VirtError:
    return make_error(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.ADMIN, detail)


def socket_path(uri: str, *, root: str | None = None) -> str:
    """The admin socket an admin URI names (libvirt's rules, see the module docstring)."""
    from virtkit.uri import parse_uri

    parsed = parse_uri(uri)
    sock = None
    for name, value in parsed.param_list if parsed is not None else ():
        if name != "socket":
            raise _unsupported(f"Unknown URI parameter '{name}'")
        sock = value
    if sock is not None:
        return sock
    if parsed is None:
        raise _unsupported("No URI scheme specified")
    scheme = parsed.scheme
    if scheme in ("libvirtd", "virtkitd"):  # virtkitd uses libvirtd's socket names
        base = "libvirt-admin-sock"
    elif scheme.startswith("virt"):
        base = f"{scheme}-admin-sock"
    else:
        raise _unsupported(f"Unsupported URI scheme '{scheme}'")
    if parsed.path == "/system":
        top = root if root is not None else os.environ.get("VIRTKIT_ROOT") or "/"
        return os.path.join(os.path.abspath(top), "run", "libvirt", base)
    if parsed.path == "/session":
        runtime = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(
            os.path.expanduser("~"), ".cache")
        return os.path.join(runtime, "libvirt", base)
    raise _unsupported(f"Invalid URI path '{parsed.path}', try '/system'")


def open(uri: str | None = None, *, root: str | None = None,
         timeout: float | None = None) -> AdminConnection:
    """Connect to a daemon's admin socket (``uri`` None: :func:`default_uri`)."""
    name = uri if uri is not None else default_uri()
    path = socket_path(name, root=root)
    client = Client(connect_unix(path, timeout=timeout))
    conn = AdminConnection(client, name)
    try:
        conn._call("connect_open", {"flags": 0})
    except BaseException:
        client.close()
        raise
    return conn


def _params_dict(wire: list[dict[str, Any]]) -> TypedParams:
    out: TypedParams = {}
    for p in decode_params(wire):
        out.setdefault(p.field, p.value)
    return out


def _uint_params(values: Mapping[str, TypedValue], limit: int) -> list[dict[str, Any]]:
    items = []
    for k, v in values.items():
        if isinstance(v, TypedParam):
            items.append(v)
        else:
            items.append(TypedParam(k, ParamType.UINT, v))
    return encode_params(items, limit=limit)


class AdminConnection:
    """One admin connection (``virAdmConnectPtr``)."""

    def __init__(self, client: Client, uri: str) -> None:
        self._client = client
        self.uri = uri

    def _call(self, proc: str, args: Any = None) -> Any:
        p = ap.ADMIN[proc]
        payload = p.args.encode(args) if p.args is not VOID else b""
        reply = self._client.call(ap.ADMIN_PROGRAM, ap.ADMIN_PROTOCOL_VERSION, p.number, payload)
        ret: XDRType = p.ret
        return ret.decode(reply) if ret is not VOID else None

    # -- life cycle --------------------------------------------------------------

    def close(self) -> None:
        """Say goodbye and close the socket (idempotent)."""
        if self._client.closed:
            return
        try:
            self._call("connect_close")
        except VirtError:
            pass
        finally:
            self._client.close()

    def __enter__(self) -> AdminConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def is_alive(self) -> bool:
        """The connection is open (virAdmConnectIsAlive)."""
        return self._client.is_alive()

    # -- daemon ------------------------------------------------------------------

    def get_lib_version(self) -> int:
        """The daemon's libvirt version, major*1,000,000 + minor*1,000 + micro."""
        return int(self._call("connect_get_lib_version")["libVer"])

    def list_servers(self) -> list[AdminServer]:
        """The daemon's servers (``libvirtd``, ``admin``, ...)."""
        ret = self._call("connect_list_servers", {"need_results": 1, "flags": 0})
        return [AdminServer(self, s["name"]) for s in ret["servers"]]

    def lookup_server(self, name: str) -> AdminServer:
        """The server called ``name``; ``VIR_ERR_NO_SERVER`` if there is none."""
        ret = self._call("connect_lookup_server", {"name": name, "flags": 0})
        return AdminServer(self, ret["srv"]["name"])

    def get_logging_outputs(self) -> str:
        """The daemon's log outputs, e.g. ``"3:stderr 1:file:/var/log/x.log"``."""
        return str(self._call("connect_get_logging_outputs", {"flags": 0})["outputs"])

    def get_logging_filters(self) -> str | None:
        """The daemon's log filters, e.g. ``"1:*rpc* "``, or None when there are none."""
        value = self._call("connect_get_logging_filters", {"flags": 0})["filters"]
        return None if value is None else str(value)

    def set_logging_outputs(self, outputs: str | None) -> None:
        """Replace the log outputs (None or "": the daemon's default output)."""
        self._call("connect_set_logging_outputs", {"outputs": outputs, "flags": 0})

    def set_logging_filters(self, filters: str | None) -> None:
        """Replace the log filters (None or "": none)."""
        self._call("connect_set_logging_filters", {"filters": filters, "flags": 0})

    def set_daemon_timeout(self, timeout: int) -> None:
        """Exit after ``timeout`` seconds without clients (0: never)."""
        self._call("connect_set_daemon_timeout", {"timeout": timeout, "flags": 0})


class AdminServer:
    """One server of the daemon (``virAdmServerPtr``)."""

    def __init__(self, conn: AdminConnection, name: str) -> None:
        self.conn = conn
        self.name = name

    def __repr__(self) -> str:
        return f"<AdminServer {self.name}>"

    def _ref(self) -> dict[str, str]:
        return {"name": self.name}

    def get_threadpool_parameters(self) -> TypedParams:
        """minWorkers, maxWorkers, nWorkers, freeWorkers, prioWorkers, jobQueueDepth."""
        ret = self.conn._call("server_get_threadpool_parameters",
                              {"srv": self._ref(), "flags": 0})
        return _params_dict(ret["params"])

    def set_threadpool_parameters(self, params: Mapping[str, TypedValue]) -> None:
        """Change minWorkers, maxWorkers and/or prioWorkers (unsigned ints)."""
        self.conn._call("server_set_threadpool_parameters", {
            "srv": self._ref(),
            "params": _uint_params(params, ap.ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX),
            "flags": 0})

    def list_clients(self) -> list[AdminClient]:
        """The clients connected to this server now."""
        ret = self.conn._call("server_list_clients",
                              {"srv": self._ref(), "need_results": 1, "flags": 0})
        return [AdminClient(self, c) for c in ret["clients"]]

    def lookup_client(self, ident: int) -> AdminClient:
        """The client with id ``ident``; ``VIR_ERR_NO_CLIENT`` if it is gone."""
        ret = self.conn._call("server_lookup_client",
                              {"srv": self._ref(), "id": ident, "flags": 0})
        return AdminClient(self, ret["clnt"])

    def get_client_limits(self) -> TypedParams:
        """nclients_max, nclients, nclients_unauth_max, nclients_unauth."""
        ret = self.conn._call("server_get_client_limits", {"srv": self._ref(), "flags": 0})
        return _params_dict(ret["params"])

    def set_client_limits(self, params: Mapping[str, TypedValue]) -> None:
        """Change nclients_max and/or nclients_unauth_max (unsigned ints)."""
        self.conn._call("server_set_client_limits", {
            "srv": self._ref(),
            "params": _uint_params(params, ap.ADMIN_SERVER_CLIENT_LIMITS_MAX),
            "flags": 0})

    def update_tls_files(self) -> None:
        """Reload the server's TLS key, certificate, CA and CRL from disk."""
        self.conn._call("server_update_tls_files", {"srv": self._ref(), "flags": 0})


class AdminClient:
    """One client of a server (``virAdmClientPtr``): id, connection time, transport."""

    def __init__(self, server: AdminServer, ref: Mapping[str, Any]) -> None:
        self.server = server
        self.id: int = ref["id"]
        self.timestamp: int = ref["timestamp"]
        self.transport: int = ref["transport"]

    def __repr__(self) -> str:
        return f"<AdminClient {self.id} on {self.server.name} ({self.transport_name})>"

    @property
    def transport_name(self) -> str:
        """``unix``, ``tcp``, ``tls`` (or ``unknown``)."""
        t = self.transport
        return TRANSPORT_NAMES[t] if 0 <= t < len(TRANSPORT_NAMES) else "unknown"

    def _ref(self) -> dict[str, Any]:
        return {"srv": self.server._ref(), "id": self.id, "timestamp": self.timestamp,
                "transport": self.transport}

    def get_info(self) -> TypedParams:
        """readonly, unix_user_id, unix_user_name, ..., sock_addr, tls_x509_dname, ..."""
        ret = self.server.conn._call("client_get_info", {"clnt": self._ref(), "flags": 0})
        return _params_dict(ret["params"])

    def close(self) -> None:
        """Disconnect this client from the daemon."""
        self.server.conn._call("client_close", {"clnt": self._ref(), "flags": 0})
