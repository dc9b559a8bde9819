"""SASL login on the client side: libvirt's ``remoteAuthenticate``/``remoteAuthSASL``.

After AUTH_LIST the remote driver calls :func:`authenticate`.  When the daemon
asks for SASL it runs AUTH_SASL_INIT/START/STEP with SCRAM-SHA-256 (or PLAIN, on
an encrypted channel only, when the server offers nothing better).  Credentials
come, as in libvirt, first from the auth file (``$LIBVIRT_AUTH_FILE``, the URI's
``authfile=``, ``$XDG_CONFIG_HOME/libvirt/auth.conf``, ``/etc/libvirt/auth.conf``;
``[auth-libvirt-HOST]``/``[auth-libvirt-default]`` -> ``[credentials-NAME]``
with ``authname=`` (or ``username=``) and ``password=``), then from the
application's callback (``virtkit.open(uri, auth=[credtypes, callback, cbdata])``,
libvirt-python's ``openAuth`` convention).

On plain TCP libvirt wants a SASL security layer (SSF >= 56) that neither
mechanism gives, so there, as with libvirt's client, no mechanism qualifies.
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain

__all__ = [
    "CRED_AUTHNAME",
    "CRED_PASSPHRASE",
    "CRED_USERNAME",
    "AuthConfig",
    "auth_file_path",
    "authenticate",
    "current_auth",
    "using_auth",
]

# virConnectCredentialType
CRED_USERNAME = 1
CRED_AUTHNAME = 2
CRED_PASSPHRASE = 5
CRED_NOECHOPROMPT = 7

_AUTH_NONE, _AUTH_SASL, _AUTH_POLKIT = 0, 1, 2
_SASL_DATA_MAX = 65536
_SECURE_TRANSPORTS = ("unix", "tls", "ssh", "libssh", "libssh2", "ext")

Call = Callable[[str, Any], Any]
"""``driver._call``: procedure name and args -> decoded reply."""

_auth_var: contextvars.ContextVar[Any] = contextvars.ContextVar("virtkit_auth", default=None)


def current_auth() -> Any:
    """The ``auth`` given to the ``virtkit.open`` running in this context (or None)."""
    return _auth_var.get()


@contextlib.contextmanager
def using_auth(auth: Any) -> Iterator[None]:
    """Make ``auth`` the credentials source of connections opened inside the block."""
    token = _auth_var.set(auth)
    try:
        yield
    finally:
        _auth_var.reset(token)


def _fail(message: str, domain: int = ErrorDomain.REMOTE) -> VirtError:
    return make_error(ErrorCode.AUTH_FAILED, domain, message)


# ------------------------------------------------------------------ auth.conf


class AuthConfig:
    """libvirt's auth.conf (a GLib key file), read-only: ``virAuthConfig``."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.groups: dict[str, dict[str, str]] = {}
        group: dict[str, str] | None = None
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                group = self.groups.setdefault(line[1:-1], {})
                continue
            key, eq, value = raw.partition("=")
            if not eq or group is None:
                raise make_error(ErrorCode.CONF_SYNTAX, ErrorDomain.CONF,
                                 f"{path}:{n}: not a key file line")
            group[key.strip()] = _unescape(value.lstrip())

    @classmethod
    def load(cls, path: str) -> AuthConfig:
        try:
            with open(path, encoding="utf-8") as f:
                return cls(path, f.read())
        except OSError as e:
            raise make_error(ErrorCode.SYSTEM_ERROR, ErrorDomain.NONE,
                             f"cannot read {path}: {e.strerror}") from None

    def lookup(self, service: str, hostname: str | None, credname: str) -> str | None:
        """virAuthConfigLookup: ``[auth-SERVICE-HOST]`` (or ``-default``) -> credentials."""
        group = self.groups.get(f"auth-{service}-{hostname or 'localhost'}")
        name = f"auth-{service}-{hostname or 'localhost'}"
        if group is None:
            name = f"auth-{service}-default"
            group = self.groups.get(name)
        if group is None:
            return None
        cred = group.get("credentials")
        if cred is None:
            raise make_error(ErrorCode.CONF_SYNTAX, ErrorDomain.NONE,
                             f"Missing item 'credentials' in group '{name}' in '{self.path}'")
        creds = self.groups.get(f"credentials-{cred}")
        if creds is None:
            raise make_error(ErrorCode.CONF_SYNTAX, ErrorDomain.NONE,
                             f"Missing group 'credentials-{cred}' referenced from group "
                             f"'{name}' in '{self.path}'")
        return creds.get(credname)


_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value)


def auth_file_path(authfile: str | None) -> str | None:
    """virAuthGetConfigFilePathURI: env, the URI's authfile, the user's, the system's."""
    env = os.environ.get("LIBVIRT_AUTH_FILE")
    if env:
        return env
    if authfile:
        return authfile
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    for path in (os.path.join(config_home, "libvirt", "auth.conf"), "/etc/libvirt/auth.conf"):
        if os.access(path, os.R_OK):
            return path
    return None


# ------------------------------------------------------------------ credentials


class _Credentials:
    """Collects the authname and password a mechanism needs (remoteAuthInteract)."""

    def __init__(self, uri: Any, auth: Any) -> None:
        self.uri = uri
        self.auth = auth
        path = auth_file_path(uri.remote_options().authfile)
        self.config = AuthConfig.load(path) if path else None

    def collect(self) -> tuple[str, str]:
        host = self.uri.host or None
        name = password = None
        if self.config is not None:
            name = (self.config.lookup("libvirt", host, "authname")
                    or self.config.lookup("libvirt", host, "username"))
            password = self.config.lookup("libvirt", host, "password")
        wanted = []
        if name is None:
            wanted.append([CRED_AUTHNAME, "Please enter your authentication name", None,
                           None, None])
        if password is None:
            wanted.append([CRED_PASSPHRASE, "Please enter your password", None, None, None])
        if wanted:
            got = self._ask(wanted)
            name = got.get(CRED_AUTHNAME, name)
            password = got.get(CRED_PASSPHRASE, password)
        if name is None:  # cyrus' fallback for SASL_CB_AUTHNAME: the local user
            name = getpass.getuser()
        if password is None:
            raise _fail("No authentication callback available")
        return name, password

    def _ask(self, wanted: list[list[Any]]) -> dict[int, str]:
        auth = self.auth
        if auth is None:
            return {}
        if isinstance(auth, dict):  # {"authname": ..., "password": ...}: a virtkit shorthand
            keys = {CRED_AUTHNAME: ("authname", "username"), CRED_PASSPHRASE: ("password",)}
            out: dict[int, str] = {}
            for cred in wanted:
                for key in keys[cred[0]]:
                    if auth.get(key) is not None:
                        out[cred[0]] = str(auth[key])
                        break
            return out
        try:
            credtypes, callback, cbdata = auth
        except (TypeError, ValueError):
            raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.NONE,
                             "auth must be [credtypes, callback, cbdata]") from None
        types = set(credtypes or ())
        if CRED_NOECHOPROMPT in types:  # cyrus asks the password as a no-echo prompt too
            types.add(CRED_PASSPHRASE)
        ask = [cred for cred in wanted if cred[0] in types]
        if not ask:
            return {}
        if callback is None:
            raise _fail("No authentication callback available")
        try:
            rc = callback(ask, cbdata)
        except Exception:
            rc = -1
        if rc is not None and rc < 0:
            raise _fail("Failed to collect auth credentials")
        return {cred[0]: str(cred[4]) for cred in ask if cred[4] is not None}


# ------------------------------------------------------------------ the exchange


def authenticate(call: Call, uri: Any, transport: str, auth: Any = None) -> str | None:
    """Run libvirt's client side of authentication after connecting.

    Returns the SASL mechanism used, or None when the server wants no
    authentication.  Raises VIR_ERR_AUTH_FAILED (libvirt's wording) on failure."""
    try:
        types = call("auth_list", None)["types"]
    except VirtError as e:
        if e.code == ErrorCode.NO_SUPPORT:  # an old server: no auth
            return None
        raise
    if not types:
        return None
    authtype = uri.remote_options().auth
    if authtype:
        low = authtype.lower()
        if low == "sasl" or low.startswith("sasl."):
            want = _AUTH_SASL
        elif low == "polkit":
            want = _AUTH_POLKIT
        else:
            raise _fail(f"unknown authentication type {authtype}")
        if want not in types:
            raise _fail(f"requested authentication type {authtype} rejected")
        chosen = want
    else:
        chosen = types[0]
    if chosen == _AUTH_NONE:
        return None
    if chosen != _AUTH_SASL:
        raise _fail(f"unsupported authentication type {chosen}")
    wantmech = authtype[5:] if authtype and authtype.lower().startswith("sasl.") else None
    return _sasl(call, uri, transport in _SECURE_TRANSPORTS, auth, wantmech)


def _sasl(call: Call, uri: Any, secure: bool, auth: Any, wantmech: str | None) -> str:
    mechlist = call("auth_sasl_init", None)["mechlist"]
    offered = [m for m in re.split(r"[ ,]+", mechlist.strip()) if m]
    if wantmech:
        if wantmech not in mechlist:
            raise _fail(f"SASL mechanism {wantmech} not supported by server")
        offered = [wantmech.upper()]
    usable = ["SCRAM-SHA-256", "PLAIN"] if secure else []  # no SSF layer: nothing on TCP
    mech = next((m for m in usable if m in offered), None)
    if mech is None:
        raise _fail("Failed to start SASL negotiation: -4 (SASL(-4): no mechanism "
                    "available: No worthy mechs found)", ErrorDomain.RPC)
    name, password = _Credentials(uri, auth).collect()
    if mech == "PLAIN":
        data = b"\0" + name.encode() + b"\0" + password.encode()
        ret = call("auth_sasl_start", {"mech": mech, "nil": 0, "data": data})
        if not ret["complete"]:
            raise _fail("Failed to step SASL negotiation: -1 (SASL(-1): generic failure: "
                        "PLAIN did not complete)", ErrorDomain.RPC)
        return mech
    return _scram(call, mech, name, password)


def _scram(call: Call, mech: str, name: str, password: str) -> str:
    from scramp import ScramClient, ScramException

    def failed(why: str) -> VirtError:
        return _fail(f"Failed to step SASL negotiation: -1 (SASL(-1): generic failure: {why})",
                     ErrorDomain.RPC)

    try:
        client = ScramClient([mech], name, password)
        first = client.get_client_first().encode()
    except ScramException as e:
        raise _fail(f"Failed to start SASL negotiation: -7 (SASL(-7): parameter error: {e})",
                    ErrorDomain.RPC) from None
    ret = call("auth_sasl_start", {"mech": mech, "nil": 0, "data": first})
    if ret["complete"] or ret["nil"]:
        raise failed("the server skipped the SCRAM challenge")
    try:
        client.set_server_first(bytes(ret["data"]).decode())
        final = client.get_client_final().encode()
    except (ScramException, UnicodeDecodeError) as e:
        raise failed(str(e)) from None
    if len(final) > _SASL_DATA_MAX:
        raise _fail(f"SASL negotiation data too long: {len(final)} bytes")
    ret = call("auth_sasl_step", {"nil": 0, "data": final})
    if not ret["complete"] or ret["nil"]:
        raise failed("the server did not complete SCRAM")
    try:  # mutual authentication: the server proves it knows the verifier too
        client.set_server_final(bytes(ret["data"]).decode())
    except (ScramException, UnicodeDecodeError) as e:
        raise failed(str(e)) from None
    return mech
