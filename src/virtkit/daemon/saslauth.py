"""SASL authentication on the daemon side: libvirt's AUTH_SASL_INIT/START/STEP (67-69).

This is ``remoteDispatchAuthSasl*`` (remote_daemon_dispatch.c) with cyrus-sasl's
place taken by :mod:`scramp` and :mod:`virtkit.daemon.sasldb`:

* AUTH_SASL_INIT answers the mechanism list, comma separated as ``sasl_listmech``
  prints it: ``SCRAM-SHA-256`` on unix sockets, ``SCRAM-SHA-256,PLAIN`` on TLS.
  On plain TCP libvirt requires a SASL security layer of at least ``tcp_min_ssf``
  (>= 112) bits, which neither mechanism gives, so, as libvirtd with these
  mechanisms does, the list is empty there and INIT fails.
* AUTH_SASL_START / AUTH_SASL_STEP carry the mechanism's messages; ``nil`` = 1
  means "no data" (NULL), which differs from empty data.
* When the mechanism completes, the user must pass ``sasl_allowed_username_list``
  (glob patterns, as ``g_pattern_match_simple``); the session is then authenticated
  and gets the identity attribute ``sasl-user-name``.
* Any failure answers VIR_ERR_AUTH_FAILED "authentication failed" (nothing more,
  whatever went wrong) and the client is dropped once the reply is sent.

An unknown user gets a made-up salt and fails at the final step, like a wrong
password does, so the replies do not tell which user names exist.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
from typing import TYPE_CHECKING, Any

from virtkit.daemon.sasldb import DEFAULT_ITERATIONS, SaslUser, UserDB, default_db_path
from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain

if TYPE_CHECKING:
    from virtkit.rpc.server import Session

__all__ = ["AuthFailure", "SaslAuth", "SaslExchange"]

log = logging.getLogger("virtkit.daemon.sasl")

SCRAM_SHA_256 = "SCRAM-SHA-256"
PLAIN = "PLAIN"
_SASL_DATA_MAX = 65536  # REMOTE_AUTH_SASL_DATA_MAX


class AuthFailure(Exception):
    """A failed SASL call: reply with ``error`` and drop the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error: VirtError = make_error(ErrorCode.AUTH_FAILED, ErrorDomain.RPC,
                                           "authentication failed")


def glob_match(pattern: str, text: str) -> bool:
    """GLib's ``g_pattern_match_simple``: ``*`` and ``?`` only, no character classes."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


class SaslExchange:
    """One client's negotiation (libvirt's ``priv->sasl``): a mechanism's state."""

    def __init__(self, auth: SaslAuth, mechanisms: list[str]) -> None:
        self._auth = auth
        self.mechanisms = mechanisms
        self.mech: str | None = None
        self.user: str | None = None
        self._scram: Any = None
        self._known = False

    def start(self, mech: str, data: bytes | None) -> tuple[bool, bytes | None]:
        """AUTH_SASL_START: (complete, server data or None)."""
        if self.mech is not None:
            raise AuthFailure("SASL start repeated")
        if mech not in self.mechanisms:
            raise AuthFailure(f"mechanism '{mech}' not offered")
        self.mech = mech
        if mech == PLAIN:
            if data is None:
                return False, b""  # ask for the initial response
            return self._plain(data)
        from scramp import ScramMechanism

        self._scram = ScramMechanism(SCRAM_SHA_256).make_server(self._verifier)
        if data is None:
            return False, b""  # the client-first message comes with the first step
        return self._scram_first(data)

    def step(self, data: bytes | None) -> tuple[bool, bytes | None]:
        """AUTH_SASL_STEP: (complete, server data or None)."""
        if self.mech is None:
            raise AuthFailure("SASL step before start")
        if self.mech == PLAIN:
            if self.user is not None or data is None:
                raise AuthFailure("unexpected PLAIN step")
            return self._plain(data)
        from scramp.core import ServerStage

        stage = self._scram.stage
        if stage is None:
            if data is None:
                raise AuthFailure("no client-first message")
            return self._scram_first(data)
        if stage == ServerStage.get_server_first:
            if data is None:
                raise AuthFailure("no client-final message")
            return self._scram_final(data)
        raise AuthFailure("unexpected SCRAM step")

    # ---------------------------------------------------------------- SCRAM

    def _verifier(self, name: str) -> tuple[bytes, bytes, bytes, int]:
        """scramp's auth_fn: the user's keys, or made-up ones for an unknown user."""
        self.user = name
        found = self._auth.lookup(name)
        if found is not None:
            self._known = True
            return found.salt, found.stored_key, found.server_key, found.iterations
        self._known = False
        fake = self._auth.fake_salt(name)
        return fake, os.urandom(32), os.urandom(32), DEFAULT_ITERATIONS

    def _scram_first(self, data: bytes) -> tuple[bool, bytes | None]:
        from scramp import ScramException

        try:
            self._scram.set_client_first(_text(data))
            return False, self._scram.get_server_first().encode()
        except ScramException as e:
            raise AuthFailure(f"SCRAM client-first rejected: {e}") from None

    def _scram_final(self, data: bytes) -> tuple[bool, bytes | None]:
        from scramp import ScramException

        try:
            self._scram.set_client_final(_text(data))
            final = self._scram.get_server_final().encode()
        except ScramException as e:
            what = "unknown user" if not self._known else f"SCRAM proof rejected: {e}"
            raise AuthFailure(what) from None
        if not self._known:  # cannot happen: the made-up keys match no proof
            raise AuthFailure("unknown user")
        return True, final

    # ---------------------------------------------------------------- PLAIN

    def _plain(self, data: bytes) -> tuple[bool, bytes | None]:
        parts = data.split(b"\0")
        if len(parts) != 3:
            raise AuthFailure("malformed PLAIN message")
        authzid, authcid, password = (_text(p) for p in parts)
        self.user = authcid
        if authzid and authzid != authcid:
            raise AuthFailure("PLAIN authorization identity differs from the user")
        found = self._auth.lookup(authcid)
        if found is None:
            # Spend the same work as a real check, then fail.
            hashlib.pbkdf2_hmac("sha256", password.encode(), self._auth.fake_salt(authcid),
                                DEFAULT_ITERATIONS)
            raise AuthFailure("unknown user")
        if not found.check_password(password):
            raise AuthFailure("wrong password")
        return True, None


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthFailure("SASL data is not UTF-8") from None


class SaslAuth:
    """The daemon's SASL context (libvirt's ``saslCtxt``) and the three procedures."""

    def __init__(self, config: Any = None, paths: Any = None, db_path: str | None = None) -> None:
        root = getattr(paths, "root", "/") if paths is not None else "/"
        configured = getattr(config, "sasl_db_path", None)
        if db_path is None and configured:
            from virtkit.daemon.paths import DaemonPaths

            db_path = DaemonPaths(root).under(configured)
        self.db = UserDB(db_path or default_db_path(root))
        self.allowed: tuple[str, ...] | None = getattr(config, "sasl_allowed_username_list",
                                                       None)
        self.tcp_min_ssf: int = getattr(config, "tcp_min_ssf", 112)
        self._secret = os.urandom(32)
        self._lock = threading.Lock()

    def lookup(self, name: str) -> SaslUser | None:
        return self.db.lookup(name)

    def fake_salt(self, name: str) -> bytes:
        """A stable salt for a user that does not exist (the same on every attempt)."""
        return hmac.new(self._secret, name.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).digest()[:16]

    def mechanisms(self, session: Session) -> list[str]:
        """What sasl_listmech would list for this client's channel."""
        if session.peer.transport == "unix":
            return [SCRAM_SHA_256]
        if getattr(session, "is_tls", False) or session.peer.transport == "tls":
            return [SCRAM_SHA_256, PLAIN]  # the channel is already private
        # Plain TCP: libvirt asks for SSF >= tcp_min_ssf, which neither mechanism gives.
        return []

    def allowed_user(self, name: str) -> bool:
        """virNetSASLContextCheckIdentity: no list allows everyone."""
        if self.allowed is None:
            return True
        return any(glob_match(p, name) for p in self.allowed)

    # ---------------------------------------------------------------- procedures

    def init(self, session: Session, state: Any, args: Any) -> Any:
        """AUTH_SASL_INIT: start a negotiation, answer the mechanism list."""
        with state.lock:
            if session.auth != "sasl" or state.sasl is not None or session.authenticated:
                raise AuthFailure("client tried invalid SASL init request")
            mechs = self.mechanisms(session)
            if not mechs:
                raise AuthFailure(f"no SASL mechanism gives the security layer "
                                  f"(SSF >= {self.tcp_min_ssf}) plain TCP requires")
            state.sasl = SaslExchange(self, mechs)
            return {"mechlist": ",".join(mechs)}

    def start(self, session: Session, state: Any, args: Any) -> Any:
        """AUTH_SASL_START: the client's chosen mechanism and first data."""
        with state.lock:
            exchange = self._exchange(session, state, "start")
            data = None if args["nil"] else bytes(args["data"])
            try:
                complete, out = exchange.start(args["mech"], data)
            except AuthFailure:
                state.sasl = None
                raise
            return self._reply(session, state, exchange, complete, out)

    def step(self, session: Session, state: Any, args: Any) -> Any:
        """AUTH_SASL_STEP: the next data of the negotiation."""
        with state.lock:
            exchange = self._exchange(session, state, "step")
            data = None if args["nil"] else bytes(args["data"])
            try:
                complete, out = exchange.step(data)
            except AuthFailure:
                state.sasl = None
                raise
            return self._reply(session, state, exchange, complete, out)

    def _exchange(self, session: Session, state: Any, what: str) -> SaslExchange:
        exchange = state.sasl
        if session.auth != "sasl" or not isinstance(exchange, SaslExchange):
            raise AuthFailure(f"client tried invalid SASL {what} request")
        return exchange

    def _reply(self, session: Session, state: Any, exchange: SaslExchange, complete: bool,
               out: bytes | None) -> dict[str, Any]:
        if out is not None and len(out) > _SASL_DATA_MAX:
            state.sasl = None
            raise AuthFailure(f"sasl reply data too long {len(out)}")
        if complete:
            state.sasl = None
            self._finish(session, exchange)
        return {"complete": int(complete), "nil": int(out is None), "data": out or b""}

    def _finish(self, session: Session, exchange: SaslExchange) -> None:
        """remoteSASLFinish: the user list, then the session is authenticated."""
        user = exchange.user or ""
        if not self.allowed_user(user):
            log.error("SASL client identity '%s' not allowed by ACL", user)
            raise AuthFailure(f"user '{user}' not in sasl_allowed_username_list")
        session.identity["sasl-user-name"] = user
        session.authenticated = True
        log.info("%s: authenticated as SASL user '%s' (%s)", session.tag, user, exchange.mech)
