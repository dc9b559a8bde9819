"""libvirt's ``admin`` program on the daemon side: what ``virt-admin`` manages.

virtkitd runs two RPC servers, as libvirtd does: ``libvirtd`` (the read-write,
read-only and network sockets) and ``admin`` (``/run/libvirt/libvirt-admin-sock``,
mode 0700).  :class:`AdminDispatcher` serves the admin socket: it lists both
servers and their clients, resizes their worker pools and client limits, closes
clients, reloads the TLS files, and changes the daemon's logging and idle
timeout, all at run time (libvirt's ``admin_server.c`` semantics and wording).

Only a client running as root or as the daemon's own user may use it, as
libvirt's ``remoteAdmClientNew`` requires; another user's first call is answered
with ``VIR_ERR_OPERATION_DENIED`` and the connection closed.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from virtkit.daemon.logsetup import (
    LogOutput,
    LogSettings,
    LogSetupError,
    parse_filters,
    parse_outputs,
    setup_logging,
)
from virtkit.errors import VirtError, invalid_arg, invalid_flags, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc.admin_procs import (
    ADMIN,
    ADMIN_CLIENT_INFO_PARAMETERS_MAX,
    ADMIN_PROGRAM,
    ADMIN_PROTOCOL_VERSION,
    ADMIN_SERVER_CLIENT_LIMITS_MAX,
    ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX,
)
from virtkit.rpc.message import Header, rpc_error
from virtkit.rpc.typedparams import ParamType, TypedParam, decode_params, encode_params
from virtkit.rpc.xdr import VOID, XDRError

if TYPE_CHECKING:
    from virtkit.daemon.config import DaemonConfig
    from virtkit.daemon.paths import DaemonPaths
    from virtkit.rpc.server import Server, Session

__all__ = ["TRANSPORTS", "AdminDispatcher", "AutoShutdown", "LogControl", "update_tls_files"]

log = logging.getLogger("virtkit.daemon.admin")

TRANSPORTS = {"unix": 0, "tcp": 1, "tls": 2}
"""``virClientTransport`` numbers."""

_ADMIN = ErrorDomain.ADMIN
_REFUSALS = 3  # calls answered with an error before a refused client is dropped


class AutoShutdown:
    """The daemon's idle timeout (``--timeout``), changeable at run time; 0: never."""

    def __init__(self, timeout: int = 0) -> None:
        self.timeout = timeout


class LogControl:
    """The daemon's live logging settings (virLogGetOutputs / virLogSetOutputs ...)."""

    def __init__(self, settings: LogSettings, default_output: LogOutput) -> None:
        self.settings = settings
        self.default_output = default_output
        self._lock = threading.Lock()

    @classmethod
    def for_daemon(cls, settings: LogSettings, *, daemon: bool, log_file: str) -> LogControl:
        """libvirt's default output: the log file in the background, else stderr."""
        default = (LogOutput(settings.priority, "file", log_file) if daemon
                   else LogOutput(settings.priority, "stderr"))
        return cls(settings, default)

    def outputs(self) -> tuple[str, int]:
        """``"3:stderr 1:file:/path"`` and the number of outputs."""
        outs = self.settings.outputs
        return " ".join(_format_output(o) for o in outs), len(outs)

    def filters(self) -> tuple[str | None, int]:
        """``"1:*qemu* 3:*rpc* "`` (libvirt's form, trailing space) and how many."""
        flts = self.settings.filters
        if not flts:
            return None, 0
        return "".join(f"{f.priority}:*{f.match}* " for f in flts), len(flts)

    def set_outputs(self, text: str | None) -> None:
        """Replace the outputs; empty or None: the default output."""
        outputs = tuple(self._parse(parse_outputs, text or "")) or (self.default_output,)
        self._apply(LogSettings(self.settings.priority, self.settings.filters, outputs))

    def set_filters(self, text: str | None) -> None:
        """Replace the filters; empty or None: none."""
        filters = tuple(self._parse(parse_filters, text or ""))
        self._apply(LogSettings(self.settings.priority, filters, self.settings.outputs))

    @staticmethod
    def _parse(parse: Callable[[str], Iterable[Any]], text: str) -> list[Any]:
        try:
            return list(parse(text))
        except LogSetupError as e:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE, str(e)) from None

    def _apply(self, settings: LogSettings) -> None:
        with self._lock:
            try:
                warnings = setup_logging(settings)
            except LogSetupError as e:
                raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE, str(e)) from None
            self.settings = settings
        for warning in warnings:
            log.warning("%s", warning)


def _format_output(o: LogOutput) -> str:
    return f"{o.priority}:{o.kind}:{o.arg}" if o.arg is not None else f"{o.priority}:{o.kind}"


def update_tls_files(server: Server, config: DaemonConfig | None,
                     paths: DaemonPaths | None) -> None:
    """Build the TLS context again from the key, certificate, CA and CRL files and use it
    for new handshakes (virNetServerUpdateTlsFiles); raises libvirt's errors."""
    from virtkit.daemon.tlsconf import server_tls_context

    if not server.tls_listeners or config is None or paths is None:
        raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                         "no tls service found, unable to update tls files")
    try:
        ctx = server_tls_context(config, paths)
    except VirtError:
        raise
    except Exception as e:  # ssl.SSLError, OSError
        raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.RPC,
                         f"Unable to load TLS credentials: {e}") from None
    server.replace_tls(ctx)
    log.info("TLS credentials reloaded (%s): new connections use them", ctx.credentials.cert)


class _AdminClient:
    """Per-connection state (``Session.data``): why it is refused, if it is."""

    __slots__ = ("denied", "refused")

    def __init__(self, denied: str | None) -> None:
        self.denied = denied
        self.refused = 0


Handler = Callable[[Any], Any]


class AdminDispatcher:
    """The ``Dispatcher`` of the admin server: libvirt's ``admin`` program.

    ``servers`` maps names to the daemon's :class:`~virtkit.rpc.server.Server`\\ s
    in the order ``virt-admin srv-list`` shows them (the admin server adds itself
    once it exists).  ``tls_update(server)`` reloads one server's TLS files."""

    def __init__(self, servers: Mapping[str, Server], *, logging_control: LogControl | None,
                 shutdown: AutoShutdown | None = None,
                 tls_update: Callable[[Server], None] | None = None,
                 allowed_uids: Iterable[int] | None = None) -> None:
        self.servers: dict[str, Server] = dict(servers)
        self.logging = logging_control
        self.shutdown = shutdown if shutdown is not None else AutoShutdown()
        self.tls_update = tls_update
        self.allowed_uids = frozenset(allowed_uids if allowed_uids is not None
                                      else {0, os.geteuid()})
        self._handlers: dict[str, Handler] = {
            "connect_open": self._connect_open,
            "connect_close": lambda args: None,
            "connect_get_lib_version": self._lib_version,
            "connect_list_servers": self._list_servers,
            "connect_lookup_server": self._lookup_server,
            "server_get_threadpool_parameters": self._get_threadpool,
            "server_set_threadpool_parameters": self._set_threadpool,
            "server_list_clients": self._list_clients,
            "server_lookup_client": self._lookup_client,
            "client_get_info": self._client_info,
            "client_close": self._client_close,
            "server_get_client_limits": self._get_client_limits,
            "server_set_client_limits": self._set_client_limits,
            "server_update_tls_files": self._update_tls,
            "connect_get_logging_outputs": self._get_outputs,
            "connect_get_logging_filters": self._get_filters,
            "connect_set_logging_outputs": self._set_outputs,
            "connect_set_logging_filters": self._set_filters,
            "connect_set_daemon_timeout": self._set_timeout,
        }

    # ------------------------------------------------------------ Dispatcher protocol

    def programs(self) -> Iterable[tuple[int, int]]:
        return [(ADMIN_PROGRAM, ADMIN_PROTOCOL_VERSION)]

    def is_high_priority(self, prog: int, proc: int) -> bool:
        return False

    def session_opened(self, session: Session) -> None:
        uid = session.peer.uid
        denied = None
        if uid is None or uid not in self.allowed_uids:
            denied = f"Disallowing client {session.peer.pid} with uid {uid}"
            log.warning("%s: %s", session.tag, denied)
        session.data = _AdminClient(denied)

    def session_closed(self, session: Session) -> None:
        pass

    def dispatch(self, session: Session, header: Header, payload: bytes) -> bytes | None:
        state: _AdminClient = session.data
        if state.denied is not None:
            # Every call is refused; the connection is closed after a few, not at once:
            # a client still writing into a closed socket would die of SIGPIPE instead of
            # reporting the refusal.
            state.refused += 1
            session.send_error(header, make_error(ErrorCode.OPERATION_DENIED, _ADMIN,
                                                  state.denied))
            if state.refused >= _REFUSALS:
                session.close("not allowed on the admin socket")
            return None
        proc = ADMIN.get(header.proc)
        if proc is None:
            raise rpc_error(f"unknown procedure: {header.proc}")
        try:
            # libvirt's virNetMessageDecodePayload ignores bytes after the arguments
            args = proc.args.decode(payload, exact=False) if proc.args is not VOID else None
        except XDRError as exc:
            raise rpc_error(f"Unable to decode arguments of {proc.name}: {exc}") from None
        flags = args.get("flags", 0) if isinstance(args, dict) else 0
        if flags:
            raise invalid_flags(flags, _api_name(proc.name), _ADMIN)
        ret = self._handlers[proc.name](args)
        return b"" if proc.ret is VOID else proc.ret.encode(ret)

    # ------------------------------------------------------------ lookups

    def _server(self, name: str, *, detailed: bool = False) -> Server:
        srv = self.servers.get(name)
        if srv is None:
            detail = (f"no server with matching name '{name}' found" if detailed
                      else f"No server named '{name}'")
            raise make_error(ErrorCode.NO_SERVER, _ADMIN if detailed else ErrorDomain.RPC,
                             detail)
        return srv

    def _session(self, srv: Server, ident: int, *, detailed: bool = False) -> Session:
        sess = srv.client(ident)
        if sess is None or sess.closed:
            detail = (f"no client with matching id '{ident}' found" if detailed
                      else f"No client with matching ID '{ident}'")
            raise make_error(ErrorCode.NO_CLIENT, _ADMIN if detailed else ErrorDomain.RPC,
                             detail)
        return sess

    @staticmethod
    def _client_ref(srv: Server, sess: Session) -> dict[str, Any]:
        transport = "tls" if sess.is_tls else sess.peer.transport
        return {"srv": {"name": srv.name}, "id": sess.id, "timestamp": int(sess.connected_at),
                "transport": TRANSPORTS.get(transport, 0)}

    # ------------------------------------------------------------ procedures

    def _connect_open(self, args: Any) -> None:
        return None

    @staticmethod
    def _lib_version(args: Any) -> Any:
        from virtkit.connection import LIB_VERSION

        return {"libVer": LIB_VERSION}

    def _list_servers(self, args: Any) -> Any:
        names = list(self.servers)
        servers = [{"name": n} for n in names] if args["need_results"] else []
        return {"servers": servers, "ret": len(names)}

    def _lookup_server(self, args: Any) -> Any:
        return {"srv": {"name": self._server(args["name"]).name}}

    def _get_threadpool(self, args: Any) -> Any:
        srv = self._server(args["srv"]["name"])
        values = srv.threadpool_parameters()
        return {"params": encode_params(
            [TypedParam(k, ParamType.UINT, v) for k, v in values.items()],
            limit=ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX)}

    def _set_threadpool(self, args: Any) -> None:
        srv = self._server(args["srv"]["name"], detailed=True)
        values = _validate(args["params"], ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX,
                           ("minWorkers", "maxWorkers", "prioWorkers"))
        srv.set_threadpool_parameters(values.get("minWorkers"), values.get("maxWorkers"),
                                      values.get("prioWorkers"))

    def _list_clients(self, args: Any) -> Any:
        srv = self._server(args["srv"]["name"])
        sessions = [s for s in srv.clients if not s.closed]
        clients = [self._client_ref(srv, s) for s in sessions] if args["need_results"] else []
        return {"clients": clients, "ret": len(sessions)}

    def _lookup_client(self, args: Any) -> Any:
        srv = self._server(args["srv"]["name"])
        return {"clnt": self._client_ref(srv, self._session(srv, args["id"]))}

    def _client_info(self, args: Any) -> Any:
        ref = args["clnt"]
        srv = self._server(ref["srv"]["name"], detailed=True)
        sess = self._session(srv, ref["id"], detailed=True)
        return {"params": encode_params(_client_params(sess),
                                        limit=ADMIN_CLIENT_INFO_PARAMETERS_MAX)}

    def _client_close(self, args: Any) -> None:
        ref = args["clnt"]
        srv = self._server(ref["srv"]["name"])
        sess = self._session(srv, ref["id"])
        log.info("%s: closed by an admin client", sess.tag)
        sess.close("closed by an admin client")

    def _get_client_limits(self, args: Any) -> Any:
        srv = self._server(args["srv"]["name"])
        values = [("nclients_max", srv.max_clients), ("nclients", len(srv.clients)),
                  ("nclients_unauth_max", srv.max_anonymous_clients),
                  ("nclients_unauth", srv.unauthenticated_clients())]
        return {"params": encode_params([TypedParam(k, ParamType.UINT, v) for k, v in values],
                                        limit=ADMIN_SERVER_CLIENT_LIMITS_MAX)}

    def _set_client_limits(self, args: Any) -> None:
        srv = self._server(args["srv"]["name"], detailed=True)
        values = _validate(args["params"], ADMIN_SERVER_CLIENT_LIMITS_MAX,
                           ("nclients_max", "nclients_unauth_max"))
        srv.set_client_limits(values.get("nclients_max"), values.get("nclients_unauth_max"))

    def _update_tls(self, args: Any) -> None:
        srv = self._server(args["srv"]["name"])
        if self.tls_update is None:
            update_tls_files(srv, None, None)  # raises "no tls service found"
            return
        self.tls_update(srv)

    def _logging(self) -> LogControl:
        if self.logging is None:
            raise make_error(ErrorCode.OPERATION_UNSUPPORTED, _ADMIN,
                             "this daemon does not manage its logging")
        return self.logging

    def _get_outputs(self, args: Any) -> Any:
        text, n = self._logging().outputs()
        return {"outputs": text, "noutputs": n}

    def _get_filters(self, args: Any) -> Any:
        text, n = self._logging().filters()
        return {"filters": text, "nfilters": n}

    def _set_outputs(self, args: Any) -> None:
        self._logging().set_outputs(args["outputs"])
        log.info("log outputs set to %r by an admin client", args["outputs"])

    def _set_filters(self, args: Any) -> None:
        self._logging().set_filters(args["filters"])
        log.info("log filters set to %r by an admin client", args["filters"])

    def _set_timeout(self, args: Any) -> None:
        self.shutdown.timeout = args["timeout"]
        log.info("idle timeout set to %d s by an admin client", args["timeout"])


def _api_name(proc: str) -> str:
    """``server_set_client_limits`` -> ``virAdmServerSetClientLimits``."""
    return "virAdm" + "".join(p.capitalize() for p in proc.split("_"))


_TYPE_NAMES = {1: "int", 2: "uint", 3: "llong", 4: "ullong", 5: "double", 6: "boolean",
               7: "string"}


def _validate(wire: list[dict[str, Any]], limit: int, allowed: tuple[str, ...]
              ) -> dict[str, int]:
    """virTypedParamsValidate for UINT parameters; returns their values by name."""
    try:
        params = decode_params(wire, limit=limit)
    except XDRError as e:
        raise rpc_error(str(e)) from None
    out: dict[str, int] = {}
    for p in params:
        if p.field not in allowed:
            raise make_error(ErrorCode.ARGUMENT_UNSUPPORTED, ErrorDomain.NONE,
                             f"parameter '{p.field}' not supported")
        if p.field in out:
            raise invalid_arg(f"parameter '{p.field}' occurs multiple times")
        if p.type != ParamType.UINT:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             f"invalid type '{_TYPE_NAMES.get(int(p.type), 'unknown')}' for "
                             f"parameter '{p.field}', expected 'uint'")
        out[p.field] = int(p.value)
    return out


def _client_params(sess: Session) -> list[TypedParam]:
    """adminClientGetInfo's parameters, in its order."""
    ident = sess.identity
    out = [TypedParam("readonly", ParamType.BOOLEAN, bool(sess.readonly))]
    if "sasl-user-name" in ident:
        out.append(TypedParam("sasl_user_name", ParamType.STRING, ident["sasl-user-name"]))
    if sess.peer.transport != "unix":
        out.append(TypedParam("sock_addr", ParamType.STRING, sess.peer.address))
        if "x509-distinguished-name" in ident:
            out.append(TypedParam("tls_x509_dname", ParamType.STRING,
                                  ident["x509-distinguished-name"]))
    else:
        for key, name, ptype in (("unix-user-id", "unix_user_id", ParamType.INT),
                                 ("user-name", "unix_user_name", ParamType.STRING),
                                 ("unix-group-id", "unix_group_id", ParamType.INT),
                                 ("group-name", "unix_group_name", ParamType.STRING),
                                 ("process-id", "unix_process_id", ParamType.INT)):
            if key in ident:
                value: int | str = int(ident[key]) if ptype == ParamType.INT else ident[key]
                out.append(TypedParam(name, ptype, value))
    return out
