"""libvirt connection URIs: ``driver[+transport]://[user@][host][:port]/path[?k=v&...]``.

:func:`parse_uri` splits a URI the way libvirt's ``virURIParse`` (libxml2's
RFC 3986 parser) does and fails where it fails ("Unable to parse URI ...").
:func:`connect_uri` adds what ``virConnectOpen`` checks on top: the default
URI, a driver name, and the ``qemu://system`` typo.

Query parameters are kept in order as decoded strings; the ones libvirt's
remote driver understands are typed by :meth:`ParsedURI.remote_options`,
and what it does not consume is passed on in :meth:`ParsedURI.local_uri`,
the name the remote protocol's CONNECT_OPEN carries.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from virtkit.errors import VirtError, make_error
from virtkit.errtables import ErrorCode, ErrorDomain

__all__ = [
    "DEFAULT_URI",
    "TRANSPORTS",
    "ParsedURI",
    "RemoteOptions",
    "connect_uri",
    "default_uri",
    "parse_uri",
]

DEFAULT_URI = "qemu:///system"

# The transports of libvirt's remote driver (remoteDriverTransport).
TRANSPORTS = ("tls", "unix", "ssh", "ext", "tcp", "libssh2", "libssh")

_ALWAYS_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str, safe: str) -> str:
    """Percent-encode ``text`` (urllib.parse is imported only when something needs escaping)."""
    if all(c in _ALWAYS_SAFE or c in safe for c in text):
        return text
    from urllib.parse import quote as _quote

    return _quote(text, safe=safe)


def unquote(text: str) -> str:
    """Percent-decode ``text``; the common case without ``%`` needs no import at all."""
    if "%" not in text:
        return text
    from urllib.parse import unquote as _unquote

    return _unquote(text)


# ---------------------------------------------------------------- RFC 3986 pieces
_SPLIT = re.compile(
    r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):)?"
    r"(?://(?P<authority>[^/?#]*))?"
    r"(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?"
    r"(?:#(?P<fragment>.*))?",
    re.DOTALL,
)

# Character classes, checked with sets: compiling a regex per class cost ~2 ms per CLI call.
_UNRESERVED_SET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS_SET = frozenset("!$&'()*+,;=")
_HEX = frozenset("0123456789ABCDEFabcdef")
_REG_NAME = _UNRESERVED_SET | _SUB_DELIMS_SET
_USERINFO = _REG_NAME | {":"}
_PATH = _USERINFO | {"@", "/"}
_QUERY = _PATH | {"?"}
_IP_LITERAL = r"\[(?P<addr>[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%25[A-Za-z0-9\-._~%]+)?)\]"


def _only(text: str, allowed: frozenset[str]) -> bool:
    """True when ``text`` is ``allowed`` characters and well-formed ``%XX`` escapes."""
    if "%" in text:
        first, *escaped = text.split("%")
        if any(len(p) < 2 or p[0] not in _HEX or p[1] not in _HEX for p in escaped):
            return False
        text = first + "".join(escaped)
    return allowed.issuperset(text)


# Remote driver parameters (remote_driver.c doRemoteOpen), matched case-insensitively.
_REMOTE_STR_PARAMS = (
    "name", "command", "socket", "auth", "sshauth", "netcat", "keyfile", "pkipath",
    "known_hosts", "known_hosts_verify", "tls_priority", "mode", "proxy", "tls_name",
)
_REMOTE_BOOL_PARAMS = ("no_sanity", "no_verify", "no_tty")
_REMOTE_CONSUMED = frozenset(_REMOTE_STR_PARAMS + _REMOTE_BOOL_PARAMS + ("authfile",))
_MODES = ("auto", "legacy", "direct")
_PROXIES = ("auto", "netcat", "native")
_KNOWN_HOSTS_VERIFY = ("normal", "auto", "ignore")


class RemoteOptions(NamedTuple):
    """The query parameters libvirt's remote driver consumes, typed.

    ``None`` means "not given" (the driver's default applies). ``passthrough``
    holds the parameters it does not know, which travel on to the server.
    """

    name: str | None = None
    command: str | None = None
    socket: str | None = None
    auth: str | None = None
    sshauth: tuple[str, ...] | None = None
    netcat: str | None = None
    keyfile: str | None = None
    pkipath: str | None = None
    known_hosts: str | None = None
    known_hosts_verify: str | None = None
    tls_priority: str | None = None
    tls_name: str | None = None
    mode: str | None = None
    proxy: str | None = None
    authfile: str | None = None
    no_sanity: bool = False
    no_verify: bool = False
    no_tty: bool = False
    passthrough: tuple[tuple[str, str], ...] = ()


class ParsedURI(NamedTuple):
    """One parsed connection URI.

    ``scheme`` is the full scheme (``qemu+ssh``), split into ``driver`` and
    ``transport``. ``user``, ``host`` and ``path`` are percent-decoded, the
    host without IPv6 brackets; ``path`` is ``""`` when absent, ``port`` is
    ``None``. ``query`` is the raw query string, ``params`` the decoded
    parameters (the last of a repeated name wins; ``param_list`` keeps all).
    """

    scheme: str
    driver: str
    transport: str | None = None
    user: str | None = None
    host: str | None = None
    port: int | None = None
    path: str = ""
    query: str | None = None
    fragment: str | None = None
    param_list: tuple[tuple[str, str], ...] = ()
    # Derived from param_list by the parser; treat as read-only.
    params: dict[str, str] = {}

    def __hash__(self) -> int:
        # ``params`` is derived from ``param_list`` (and a dict): leave it out.
        return hash(self[:-1])

    @property
    def is_remote(self) -> bool:
        """True when the URI names a transport or a host: the remote driver handles it."""
        return self.transport is not None or bool(self.host)

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.host or self.user or self.port is not None or self.path.startswith("/"):
            out.append("//")
            if self.user is not None:
                out.append(quote(self.user, safe=_USER_SAFE) + "@")
            if self.host:
                host = self.host
                out.append(f"[{host}]" if ":" in host else quote(host, safe=_HOST_SAFE))
            if self.port is not None:
                out.append(f":{self.port}")
        out.append(quote(self.path, safe=_PATH_SAFE))
        if self.query is not None:
            out.append("?" + self.query)
        if self.fragment is not None:
            out.append("#" + self.fragment)
        return "".join(out)

    def remote_options(self) -> RemoteOptions:
        """Type the remote driver's parameters; libvirt's INVALID_ARG errors for bad values."""
        values: dict[str, object] = {}
        passthrough: list[tuple[str, str]] = []
        for name, value in self.param_list:
            key = name.lower()
            if key in _REMOTE_BOOL_PARAMS:
                try:
                    values[key] = int(value, 10) != 0
                except ValueError:
                    raise make_error(
                        ErrorCode.INVALID_ARG,
                        ErrorDomain.REMOTE,
                        f"Failed to parse value of URI component {name}",
                    ) from None
            elif key in _REMOTE_CONSUMED:
                values[key] = value
            else:
                passthrough.append((name, value))
        _check_choice(values, "mode", _MODES, "Unknown remote mode '%s'")
        _check_choice(values, "proxy", _PROXIES, "Unnkown proxy type '%s'")
        if "sshauth" in values:
            values["sshauth"] = tuple(str(values["sshauth"]).split(","))
        return RemoteOptions(passthrough=tuple(passthrough), **values)  # type: ignore[arg-type]

    def local_uri(self) -> str:
        """The URI the server-side driver sees: transport, user, host, port and remote params gone.

        This is the name libvirt's remote driver sends in CONNECT_OPEN; an
        explicit ``name=`` parameter wins, and ``remote://`` URIs send ``""``
        (the server picks its default driver).
        """
        opts = self.remote_options()
        if opts.name is not None:
            return opts.name
        if self.driver == "remote":
            return ""
        out = [self.driver, "://", quote(self.path, safe=_PATH_SAFE)]
        if opts.passthrough:
            out.append("?")
            out.append("&".join(f"{n}={quote(v, safe='')}" for n, v in opts.passthrough))
        if self.fragment is not None:
            out.append("#" + self.fragment)
        return "".join(out)


_USER_SAFE = "-._~!$&'()*+,;=:"
_HOST_SAFE = "-._~!$&'()*+,;="
_PATH_SAFE = "-._~!$&'()*+,;=:@/"


def _check_choice(values: dict[str, object], key: str, allowed: tuple[str, ...], msg: str) -> None:
    value = values.get(key)
    if value is not None and value not in allowed:
        raise make_error(ErrorCode.INVALID_ARG, ErrorDomain.REMOTE, msg % value)


def _unparseable(uri: str) -> VirtError:
    return make_error(ErrorCode.INTERNAL_ERROR, ErrorDomain.URI, f"Unable to parse URI {uri}")


def _split_params(query: str) -> list[tuple[str, str]]:
    """virURIParseParams: '&'-separated (';' only when no '&' is left), CGI.pm rules."""
    params: list[tuple[str, str]] = []
    pos = 0
    n = len(query)
    while pos < n:
        end = query.find("&", pos)
        if end < 0:
            end = query.find(";", pos)
        if end < 0:
            end = n
        section = query[pos:end]
        pos = end + 1
        if not section:
            continue
        name, eq, value = section.partition("=")
        if eq and not name:
            continue  # "=value" is ignored
        params.append((unquote(name), unquote(value)))
    return params


def parse_uri(uri: str) -> ParsedURI | None:
    """Parse ``uri``; ``None`` when it is a valid reference without a scheme ("foo").

    Raises VIR_ERR_INTERNAL_ERROR "Unable to parse URI ..." (domain URI) for
    anything RFC 3986 rejects, as libvirt does.
    """
    m = _SPLIT.fullmatch(uri)
    if m is None:  # pragma: no cover - the pattern matches every string
        raise _unparseable(uri)
    scheme, authority, path, query, fragment = m.group(
        "scheme", "authority", "path", "query", "fragment"
    )
    if not _only(path, _PATH):
        raise _unparseable(uri)
    if query is not None and not _only(query, _QUERY):
        raise _unparseable(uri)
    if fragment is not None and not _only(fragment, _QUERY):
        raise _unparseable(uri)
    user, host, port = _split_authority(uri, authority)
    if scheme is None:
        # A relative reference: its first segment may not hold ':' ("1test:///x").
        if authority is None and ":" in path.split("/", 1)[0]:
            raise _unparseable(uri)
        return None
    driver, plus, transport = scheme.partition("+")
    param_list = tuple(_split_params(query)) if query else ()
    return ParsedURI(
        scheme=scheme,
        driver=driver,
        transport=transport if plus else None,
        user=user,
        host=host,
        port=port,
        path=unquote(path),
        query=query,
        fragment=fragment,
        param_list=param_list,
        params=dict(param_list),
    )


def _split_authority(
    uri: str, authority: str | None
) -> tuple[str | None, str | None, int | None]:
    if authority is None:
        return None, None, None
    user: str | None = None
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        if not _only(userinfo, _USERINFO):
            raise _unparseable(uri)
        user = unquote(userinfo)
    else:
        hostport = authority
    port_text: str | None = None
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            raise _unparseable(uri)
        literal = re.fullmatch(_IP_LITERAL, hostport[: close + 1])
        if literal is None:
            raise _unparseable(uri)
        host = unquote(literal.group("addr"))
        rest = hostport[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise _unparseable(uri)
            port_text = rest[1:]
    else:
        name, colon, port_part = hostport.partition(":")
        if not _only(name, _REG_NAME):
            raise _unparseable(uri)
        host = unquote(name)
        if colon:
            port_text = port_part
    port: int | None = None
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()):
            raise _unparseable(uri)
        port = int(port_text)
    if not host:
        # libvirt: "port value is not defined if server was not given".
        return user, None, None
    return user, host, port


def default_uri() -> str:
    """$VIRTKIT_DEFAULT_URI, then $LIBVIRT_DEFAULT_URI, then ``qemu:///system``."""
    for var in ("VIRTKIT_DEFAULT_URI", "LIBVIRT_DEFAULT_URI"):
        value = os.environ.get(var)
        if value:
            return value
    return DEFAULT_URI


def connect_uri(uri: str | None = None) -> ParsedURI:
    """Resolve and parse the URI a connection opens, with ``virConnectOpen``'s checks.

    An empty or missing ``uri`` means :func:`default_uri`. A URI without a
    driver name is VIR_ERR_NO_CONNECT ("URI 'foo' does not include a driver
    name"); ``qemu://system`` is refused with libvirt's hint.
    """
    name = uri if uri else default_uri()
    parsed = parse_uri(name)
    if parsed is None:
        raise make_error(
            ErrorCode.NO_CONNECT, ErrorDomain.NONE, f"URI '{name}' does not include a driver name"
        )
    if parsed.scheme in ("qemu", "vbox", "vz") and parsed.host in ("system", "session"):
        raise make_error(
            ErrorCode.INTERNAL_ERROR,
            ErrorDomain.NONE,
            f"invalid URI {name} (maybe you want {parsed.scheme}:///{parsed.host})",
        )
    return parsed
