"""The ``remote`` program on the daemon side: one client's calls, run against its drivers.

This is what libvirt's ``remote_daemon_dispatch.c`` does: it keeps each
client's connection (opened by CONNECT_OPEN), answers the calls that belong
to the protocol rather than to a driver (authentication list, features,
event registration), refuses on read-only connections what libvirt's API refuses
them (state-changing calls, and flags such as ``VIR_DOMAIN_XML_SECURE`` that the
procedure's flag-conditional ``@acl`` rules guard), and
hands everything else to :mod:`virtkit.rpc.bindings`, which knows how each
procedure maps onto a driver-table method.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from virtkit.daemon.access import readonly_denial
from virtkit.daemon.guard import CallGuard
from virtkit.daemon.saslauth import AuthFailure, SaslAuth
from virtkit.daemon.streamjob import StreamJob
from virtkit.drivers.base import DriverTables
from virtkit.drivers.domainjob import thread_job
from virtkit.drivers.state import OpenContext
from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain
from virtkit.rpc import bindings, eventmsgs
from virtkit.rpc.message import REMOTE_PROGRAM, Header, MessageType, rpc_error
from virtkit.rpc.protocol import REMOTE, REMOTE_PROTOCOL_VERSION, Procedure
from virtkit.rpc.wiretypes import converters
from virtkit.rpc.xdr import VOID, XDRError

if TYPE_CHECKING:
    from virtkit.rpc.server import Session
    from virtkit.streams import DataStream

__all__ = ["AUTH_PROCS", "ClientState", "RemoteDispatcher"]

log = logging.getLogger("virtkit.daemon.dispatch")

_CONNECT_RO = 1
_STREAM_HOLE = MessageType.STREAM_HOLE.value
_AUTH_NONE = 0
# remote_auth_type, by the names libvirtd.conf uses (auth_unix_rw = "sasl", ...)
_AUTH_TYPES = {"none": _AUTH_NONE, "sasl": 1, "polkit": 2}
# The procedures an unauthenticated client may call (remote_daemon.c clears needAuth).
AUTH_PROCS = frozenset({"auth_list", "auth_sasl_init", "auth_sasl_start", "auth_sasl_step",
                        "auth_polkit"})
# Features the daemon itself answers (libvirt_internal.h), whatever the driver.
_FEATURE_FD_PASSING = 8
_FEATURE_PROGRAM_KEEPALIVE = 10
_FEATURE_REMOTE_EVENT_CALLBACK = 14
_FEATURE_REMOTE_CLOSE_CALLBACK = 15
_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER = 16  # else clients swap command and section
_DAEMON_FEATURES = {_FEATURE_FD_PASSING, _FEATURE_REMOTE_EVENT_CALLBACK,
                    _FEATURE_REMOTE_CLOSE_CALLBACK, _FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER}


# kind -> (registration procedure, table, driver method, object field)
_REGISTRATION = {
    eventmsgs.DOMAIN: ("connect_domain_event_callback_register_any", "hypervisor",
                       "connect_domain_event_register_any", "dom"),
    eventmsgs.NETWORK: ("connect_network_event_register_any", "network",
                        "connect_network_event_register_any", "net"),
    eventmsgs.POOL: ("connect_storage_pool_event_register_any", "storage",
                     "connect_storage_pool_event_register_any", "pool"),
    eventmsgs.NODEDEV: ("connect_node_device_event_register_any", "nodedev",
                        "connect_node_device_event_register_any", "dev"),
    eventmsgs.SECRET: ("connect_secret_event_register_any", "secret",
                       "connect_secret_event_register_any", "secret"),
}
# libvirt's wording for an event ID the daemon does not know ("unsupported ... event ID")
_EVENT_WORDS = {eventmsgs.DOMAIN: "", eventmsgs.NETWORK: "network ",
                eventmsgs.POOL: "storage pool ", eventmsgs.NODEDEV: "node device ",
                eventmsgs.SECRET: "secret "}
_DEREGISTER = {
    "hypervisor": "connect_domain_event_deregister_any",
    "network": "connect_network_event_deregister_any",
    "storage": "connect_storage_pool_event_deregister_any",
    "nodedev": "connect_node_device_event_deregister_any",
    "secret": "connect_secret_event_deregister_any",
}


class ClientState:
    """One client's connection and event registrations (``Session.data``)."""

    __slots__ = ("callbacks", "lock", "readonly", "sasl", "streams", "tables", "uri")

    def __init__(self) -> None:
        self.tables: DriverTables | None = None
        self.uri: str | None = None
        self.readonly = False
        # callbackID -> (table attribute, driver-side registration id)
        self.callbacks: dict[int, tuple[str, int]] = {}
        self.streams: dict[int, StreamJob] = {}  # by the opening call's serial
        self.sasl: Any = None  # the SASL negotiation under way (daemon/saslauth.py)
        self.lock = threading.Lock()


Handler = Callable[["Session", ClientState, Any], Any]


class RemoteDispatcher:
    """The ``Dispatcher`` the RPC server runs for libvirt's ``remote`` program."""

    def __init__(self, config: Any = None, paths: Any = None,
                 default_uri: str | None = None, context: OpenContext | None = None) -> None:
        self.config = config
        self.paths = paths
        self.context = context  # the daemon's open context: its system drivers' root
        self.default_uri = default_uri or getattr(config, "default_uri", None) or "test:///default"
        self.sasl = SaslAuth(config, paths)
        # access control (access_drivers = ["virtkit"]) and the audit log (daemon/guard.py)
        self.guard = CallGuard.from_config(config, paths)
        self._handlers: dict[str, Handler] = {
            "auth_list": self._auth_list,
            "auth_sasl_init": self.sasl.init,
            "auth_sasl_start": self.sasl.start,
            "auth_sasl_step": self.sasl.step,
            "connect_open": self._connect_open,
            "connect_close": self._connect_close,
            "connect_supports_feature": self._supports_feature,
            "connect_get_uri": self._get_uri,
            "connect_register_close_callback": lambda s, st, a: None,
            "connect_unregister_close_callback": lambda s, st, a: None,
            "connect_domain_event_callback_register_any": self._register(eventmsgs.DOMAIN),
            "connect_network_event_register_any": self._register(eventmsgs.NETWORK),
            "connect_storage_pool_event_register_any": self._register(eventmsgs.POOL),
            "connect_node_device_event_register_any": self._register(eventmsgs.NODEDEV),
            "connect_secret_event_register_any": self._register(eventmsgs.SECRET),
            "connect_domain_event_callback_deregister_any": self._deregister,
            "connect_network_event_deregister_any": self._deregister,
            "connect_storage_pool_event_deregister_any": self._deregister,
            "connect_node_device_event_deregister_any": self._deregister,
            "connect_secret_event_deregister_any": self._deregister,
        }

    def reload(self) -> bool:
        """SIGHUP: reload the access policy and re-open the audit log (daemon/guard.py);
        connected clients stay.  Returns whether everything reloaded."""
        guard = self.guard
        return guard.reload(self.config, self.paths) if guard is not None else True

    # ------------------------------------------------------------ Dispatcher protocol

    def programs(self) -> Iterable[tuple[int, int]]:
        return [(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION)]

    def is_high_priority(self, prog: int, proc: int) -> bool:
        p = REMOTE.get(proc)
        return p is not None and p.high_priority

    def runs_inline(self, session: Session, prog: int, proc: int) -> bool:
        """Run the call on the server's loop thread (no worker hand-off, about half the
        latency) when the connection's driver promises never to block (``nonblocking``,
        e.g. the in-memory test driver) and the call opens no stream."""
        state = session.data
        if not isinstance(state, ClientState) or state.tables is None:
            return False
        if not getattr(state.tables.hypervisor, "nonblocking", False):
            return False
        p = REMOTE.get(proc)
        return p is not None and p.stream is None

    def session_opened(self, session: Session) -> None:
        state = ClientState()
        state.readonly = session.readonly
        session.data = state

    def session_closed(self, session: Session) -> None:
        state = session.data
        if isinstance(state, ClientState):
            self._close(state)

    def dispatch(self, session: Session, header: Header, payload: bytes) -> bytes | None:
        proc = REMOTE.get(header.proc)
        if proc is None:
            raise rpc_error(f"unknown procedure: {header.proc}")
        if not session.authenticated and proc.name not in AUTH_PROCS:
            raise rpc_error("authentication required")
        try:
            # libvirt's virNetMessageDecodePayload ignores bytes after the arguments
            args = proc.args.decode(payload, exact=False) if proc.args is not VOID else None
        except XDRError as exc:
            raise rpc_error(f"Unable to decode arguments of {proc.name}: {exc}") from None
        state: ClientState = session.data
        guard = self.guard
        if guard is not None and guard.wants(proc):
            return self._guarded(guard, session, state, header, proc, args)
        handler = self._handlers.get(proc.name)
        if handler is not None:
            try:
                ret = handler(session, state, args)
            except AuthFailure as exc:
                log.warning("%s: SASL authentication failed: %s", session.tag, exc.reason)
                if session.authenticated:
                    raise exc.error from None
                # libvirt's clients give up after a failure; drop the client (no retries).
                session.send_error(header, exc.error)
                session.close("authentication failed")
                return None
        elif proc.stream is not None:
            ret, stream = self._driver_call(state, proc, args)
            self._run_stream(session, state, header, proc, ret, stream)
            return None  # replied by _run_stream, before the data
        else:
            ret = self._driver_call(state, proc, args)
        if proc.ret is VOID:
            return b""
        if isinstance(ret, bytes):  # already encoded (bindings' fast listings)
            return ret
        return proc.ret.encode(ret)

    def _guarded(self, guard: CallGuard, session: Session, state: ClientState, header: Header,
                 proc: Procedure, args: Any) -> bytes | None:
        """``dispatch`` for a call the guard checks, filters or audits (never an auth call)."""
        replied = False

        def run() -> Any:
            nonlocal replied
            handler = self._handlers.get(proc.name)
            if handler is not None:
                return handler(session, state, args)
            if proc.stream is not None:
                ret, stream = self._driver_call(state, proc, args)
                replied = True
                self._run_stream(session, state, header, proc, ret, stream)
                return None
            return self._driver_call(state, proc, args)

        ret = guard.call(session, state, proc, args, run,
                         lambda other, other_args: self._driver_call(state, other, other_args),
                         lambda: self._close(state))
        if replied:
            return None
        if proc.ret is VOID:
            return b""
        if isinstance(ret, bytes):
            return ret
        return proc.ret.encode(ret)

    # ------------------------------------------------------------ driver calls

    def _driver_call(self, state: ClientState, proc: Procedure, args: Any) -> Any:
        tables = state.tables
        if tables is None:
            raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE, "connection not open")
        if state.readonly:
            denied = readonly_denial(proc, args, bindings.api_name(proc.name))
            if denied is not None:
                raise denied
        call = bindings.server_call(proc.number)
        if call is None:
            raise make_error(ErrorCode.NO_SUPPORT, ErrorDomain.NONE,
                             bindings.api_name(proc.name))
        with thread_job(bindings.dispatch_name(proc.name)):  # libvirt's virThreadJobSet
            return call.invoke(tables, args)

    # ------------------------------------------------------------ streams

    def stream_message(self, session: Session, header: Header, payload: bytes) -> None:
        """STREAM messages from the client (loop thread: never blocks)."""
        state: ClientState = session.data
        job = state.streams.get(header.serial) if isinstance(state, ClientState) else None
        if job is None or job.proc != header.proc:
            log.debug("client=%s: stream message for unknown serial %d", session.id,
                      header.serial)
            return
        job.incoming(header.status, payload, hole=header.type == _STREAM_HOLE)

    def _run_stream(self, session: Session, state: ClientState, header: Header,
                    proc: Procedure, ret: Any, stream: DataStream) -> None:
        """Reply, then move the data (this worker thread) until the stream ends."""
        job = StreamJob(session, header, stream, proc.stream == "write")
        with state.lock:
            state.streams[header.serial] = job
        try:
            body = b"" if proc.ret is VOID else proc.ret.encode(ret)
            if session.send_reply(header, body):
                job.run()
        finally:
            with state.lock:
                state.streams.pop(header.serial, None)
            job.close()

    # ------------------------------------------------------------ protocol-level calls

    def _auth_list(self, session: Session, state: ClientState, args: Any) -> Any:
        """The one auth type of the client's listener (libvirt answers exactly one)."""
        return {"types": [_AUTH_TYPES.get(session.auth, _AUTH_NONE)]}

    def _supports_feature(self, session: Session, state: ClientState, args: Any) -> Any:
        feature = args["feature"]
        if feature == _FEATURE_PROGRAM_KEEPALIVE:
            session.start_keepalive()
            return {"supported": 1}
        if feature in _DAEMON_FEATURES:
            return {"supported": 1}
        if state.tables is None:
            return {"supported": 0}
        try:
            return {"supported": int(state.tables.hypervisor.connect_supports_feature(feature))}
        except VirtError as exc:
            if exc.code == ErrorCode.NO_SUPPORT:
                return {"supported": 0}
            raise

    def _connect_open(self, session: Session, state: ClientState, args: Any) -> Any:
        from virtkit.drivers.registry import open_tables
        from virtkit.uri import parse_uri

        with state.lock:
            if state.tables is not None:
                raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                                 "connection already open")
            name = args["name"] or self.default_uri
            # libvirtd keeps only VIR_CONNECT_RO: the other bits are the client's remote
            # driver flags (REMOTE_DRIVER_OPEN_USER|AUTOSTART = 0x6 from non-root clients).
            flags = args["flags"] & _CONNECT_RO
            if session.readonly:
                flags |= _CONNECT_RO
            uri = parse_uri(name)
            if uri is None or uri.is_remote:
                # A daemon never proxies to another daemon (libvirt's remote driver declines).
                raise make_error(ErrorCode.NO_CONNECT, ErrorDomain.NONE, name)
            state.tables = open_tables(uri, flags, self.context)
            state.uri = name
            state.readonly = bool(flags & _CONNECT_RO)
        log.info("client=%s opened %s%s", session.id, name, " read-only" if state.readonly else "")
        return None

    def _connect_close(self, session: Session, state: ClientState, args: Any) -> Any:
        self._close(state)
        return None

    def _get_uri(self, session: Session, state: ClientState, args: Any) -> Any:
        if state.tables is None:
            raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE, "connection not open")
        try:
            return {"uri": state.tables.hypervisor.connect_get_uri()}
        except VirtError:
            return {"uri": state.uri}

    def _close(self, state: ClientState) -> None:
        with state.lock:
            tables, state.tables = state.tables, None
            callbacks, state.callbacks = state.callbacks, {}
            streams = list(state.streams.values())
        for job in streams:
            job.close()
        if tables is None:
            return
        for table, reg in callbacks.values():
            try:
                self._deregister_driver(tables, table, reg)
            except VirtError as exc:
                log.debug("dropping event registration %s: %s", reg, exc)
        tables.hypervisor.connect_close()

    # ------------------------------------------------------------ events

    def _register(self, kind: str) -> Handler:
        """CONNECT_*_EVENT_*REGISTER_ANY for ``kind``: events go back as MESSAGEs."""
        proc, table, method, obj_field = _REGISTRATION[kind]
        obj_type = dict(REMOTE[proc].args.fields)[obj_field]  # type: ignore[attr-defined]
        to_py = converters(obj_type)[0]

        def handler(session: Session, state: ClientState, args: Any) -> Any:
            tables = state.tables
            if tables is None:
                raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.NONE,
                                 "connection not open")
            event_id = args["eventID"]
            ek = eventmsgs.event_proc(kind, event_id)
            if ek is None:
                raise make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                                 f"unsupported {_EVENT_WORDS[kind]}event ID {event_id}")
            obj = to_py(args[obj_field]) if to_py else args[obj_field]
            ident_box: list[int] = []

            def deliver(ident: Any, ev_id: int, payload: tuple[Any, ...]) -> None:
                if not ident_box:
                    return
                if self.guard is not None and not self.guard.event_visible(session, kind, ident):
                    return  # the registration's @aclfilter
                try:
                    body = ek.encode(ident_box[0], ident, payload)
                except (ValueError, XDRError) as exc:
                    log.warning("client=%s cannot send %s: %s", session.id, ek.proc.name, exc)
                    return
                session.send_message(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, ek.proc.number, body)

            reg = getattr(getattr(tables, table), method)(obj, event_id, deliver)
            with state.lock:
                state.callbacks[reg] = (table, reg)
            ident_box.append(reg)
            return {"callbackID": reg}

        return handler

    def _deregister(self, session: Session, state: ClientState, args: Any) -> Any:
        callback_id = args["callbackID"]
        with state.lock:
            entry = state.callbacks.pop(callback_id, None)
        if entry is None or state.tables is None:
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             f"callback ID {callback_id} not registered")
        self._deregister_driver(state.tables, *entry)
        return None

    @staticmethod
    def _deregister_driver(tables: DriverTables, table: str, reg: int) -> None:
        getattr(getattr(tables, table), _DEREGISTER[table])(reg)
