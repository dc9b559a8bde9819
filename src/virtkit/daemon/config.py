"""``libvirtd.conf``: libvirt's config file format and the daemon's settings.

The format is libvirt's *virconf*: ``key = value`` statements separated by
newlines or ``;``, ``#`` comments, values that are strings (``"..."``,
``'...'`` or ``\"\"\"...\"\"\"`` spanning lines; no escapes), decimal integers
(``0777`` is seven hundred seventy-seven) and lists of values.  Simple files
are also TOML, but the two differ in the details above (and virconf keeps the
*first* of duplicate keys), so this module reads virconf itself rather than
through ``tomllib``; every file libvirtd accepts is read the same way here.
One extension: ``#`` comments are allowed inside a list spread over lines.

Keys, types, defaults and error wording follow libvirt 9.0's
``remote_daemon_config.c``, for a root daemon built without polkit and
SASL (virtkitd has neither yet): unix sockets default to ``auth = "none"``
with modes 0700 (read-write) and 0777 (read-only).  Keys libvirtd does not
know are ignored as libvirtd ignores them, with a warning in the log.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from virtkit.daemon.paths import DaemonPaths

__all__ = [
    "AUTH_NAMES",
    "ConfEntry",
    "ConfigError",
    "DaemonConfig",
    "ListenError",
    "Listener",
    "host_uuid",
    "load_config",
    "parse_config",
    "parse_virconf",
    "plan_listeners",
]

log = logging.getLogger("virtkit.daemon.config")

AUTH_NAMES = ("none", "sasl", "polkit")
_UINT_MAX = 2**32 - 1
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_MAX_CONFIG_FILE_SIZE = 10 * 1024 * 1024  # libvirt's sanity limit
_SSF_WARNING_LEVEL = 56


class ConfigError(Exception):
    """A config file that cannot be used; ``str()`` is libvirt-style text
    (``<file>:<line>: ...``) and names the key when one is at fault."""


# ---------------------------------------------------------------------------
# virconf syntax


Value = str | int | list[Any]


@dataclass(frozen=True, slots=True)
class ConfEntry:
    """One ``name = value`` statement and the line it starts on."""

    name: str
    value: Value
    line: int


class _Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.pos = 0
        self.line = 1

    def error(self, what: str) -> ConfigError:
        return ConfigError(f"configuration file syntax error: {self.filename}:{self.line}: {what}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_blanks(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.pos += 1

    def skip_blanks_and_eol(self, *, comments: bool = False) -> None:
        while True:
            c = self.peek()
            if c in (" ", "\t", "\r") and c:
                self.pos += 1
            elif c == "\n":
                self.pos += 1
                self.line += 1
            elif comments and c == "#":
                self.skip_to_eol()
            else:
                return

    def skip_to_eol(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def parse(self) -> list[ConfEntry]:
        entries: list[ConfEntry] = []
        while self.pos < len(self.text):
            self.skip_blanks_and_eol()
            if self.pos >= len(self.text):
                break
            if self.peek() == "#":
                self.skip_to_eol()
            else:
                entries.append(self.statement())
            self.separator()
        return entries

    def statement(self) -> ConfEntry:
        line = self.line
        m = re.compile(r"[A-Za-z][A-Za-z0-9_]*").match(self.text, self.pos)
        if m is None:
            raise self.error("expecting a name")
        self.pos = m.end()
        self.skip_blanks()
        if self.peek() != "=":
            raise self.error("expecting an assignment")
        self.pos += 1
        value = self.value()
        self.skip_blanks()
        if self.peek() == "#":
            self.skip_to_eol()
        return ConfEntry(m.group(), value, line)

    def separator(self) -> None:
        self.skip_blanks()
        c = self.peek()
        if not c:
            return
        if c in ("\n", "\r"):
            self.skip_blanks_and_eol()
        elif c == ";":
            self.pos += 1
            self.skip_blanks_and_eol()
        else:
            raise self.error("expecting a separator")

    def value(self) -> Value:
        self.skip_blanks()
        c = self.peek()
        if not c:
            raise self.error("expecting a value")
        if c in ("'", '"'):
            return self.string()
        if c == "[":
            return self.list_value()
        if c.isascii() and (c.isdigit() or c in "+-"):
            m = re.compile(r"[+-]?([0-9]*)").match(self.text, self.pos)
            assert m is not None
            if not m.group(1):
                self.pos = m.end()
                raise self.error("unterminated number")
            self.pos = m.end()
            return int(m.group(0), 10)
        raise self.error("expecting a value")

    def string(self) -> str:
        if self.text.startswith('"""', self.pos):
            end = self.text.find('"""', self.pos + 3)
            if end < 0:
                self.line += self.text.count("\n", self.pos)
                self.pos = len(self.text)
                raise self.error("unterminated string")
            value = self.text[self.pos + 3:end]
            self.line += value.count("\n")
            self.pos = end + 3
            return value
        quote = self.peek()
        start = self.pos + 1
        end = start
        while end < len(self.text) and self.text[end] not in (quote, "\n", "\r"):
            end += 1
        if end >= len(self.text) or self.text[end] != quote:
            self.pos = end
            raise self.error("unterminated string")
        self.pos = end + 1
        return self.text[start:end]

    def list_value(self) -> list[Any]:
        self.pos += 1  # '['
        items: list[Any] = []
        self.skip_blanks_and_eol(comments=True)
        if self.peek() and self.peek() != "]":
            items.append(self.value())
            self.skip_blanks_and_eol(comments=True)
        while self.peek() and self.peek() != "]":
            if self.peek() != ",":
                raise self.error("expecting a separator in list")
            self.pos += 1
            self.skip_blanks_and_eol(comments=True)
            if self.peek() == "]":
                break
            items.append(self.value())
            self.skip_blanks_and_eol(comments=True)
        if self.peek() != "]":
            raise self.error("list is not closed with ]")
        self.pos += 1
        return items


def parse_virconf(text: str, filename: str = "memory conf") -> list[ConfEntry]:
    """Parse virconf text into its statements, in file order.

    Raises :class:`ConfigError` (``<file>:<line>: <what>``) on a syntax error.
    """
    return _Parser(text, filename).parse()


# ---------------------------------------------------------------------------
# the daemon's settings


def _str(default: str | None = None) -> Any:
    return field(default=default, metadata={"kind": "string"})


def _bool(default: bool) -> Any:
    return field(default=default, metadata={"kind": "bool"})


def _uint(default: int = 0) -> Any:
    return field(default=default, metadata={"kind": "uint"})


def _int(default: int) -> Any:
    return field(default=default, metadata={"kind": "int"})


def _auth(default: str) -> Any:
    return field(default=default, metadata={"kind": "auth"})


def _strlist() -> Any:
    return field(default=None, metadata={"kind": "strlist"})


@dataclass
class DaemonConfig:
    """libvirtd.conf's settings, typed, with libvirtd 9.0's defaults.

    Strings and string lists that were not set are ``None``; auth settings
    are one of :data:`AUTH_NAMES`.  ``source`` is the file read (``None``
    when none was), ``set_keys`` the known keys it set and ``unknown_keys``
    the ones libvirtd would not read.
    """

    # network listeners (only with --listen)
    listen_tls: bool = _bool(True)
    listen_tcp: bool = _bool(False)
    tls_port: str = _str("16514")
    tcp_port: str = _str("16509")
    listen_addr: str | None = _str()

    # unix sockets
    unix_sock_group: str | None = _str()
    unix_sock_ro_perms: str = _str("0777")
    unix_sock_rw_perms: str = _str("0700")
    unix_sock_admin_perms: str = _str("0700")
    unix_sock_dir: str | None = _str()

    # authentication and access control
    auth_unix_ro: str = _auth("none")
    auth_unix_rw: str = _auth("none")
    auth_tcp: str = _auth("sasl")
    auth_tls: str = _auth("none")
    access_drivers: tuple[str, ...] | None = _strlist()
    # virtkit's own: the "virtkit" access driver's policy (default
    # /etc/libvirt/virtkit-access.toml) and the audit log (default
    # <logdir>/virtkitd-audit.log; "" or audit_level = 0: none); see daemon/access.py
    access_policy_file: str | None = _str()
    audit_log_file: str | None = _str()

    # TLS
    key_file: str | None = _str()
    cert_file: str | None = _str()
    ca_file: str | None = _str()
    crl_file: str | None = _str()
    tls_no_sanity_certificate: bool = _bool(False)
    tls_no_verify_certificate: bool = _bool(False)
    tls_allowed_dn_list: tuple[str, ...] | None = _strlist()
    tls_priority: str | None = _str()
    tcp_min_ssf: int = _uint(_SSF_WARNING_LEVEL)
    sasl_allowed_username_list: tuple[str, ...] | None = _strlist()
    # virtkit's SASL user database (libvirt uses cyrus' sasldb); default
    # /etc/libvirt/virtkit-sasl.db, under the daemon's root like every path
    sasl_db_path: str | None = _str()

    # limits
    max_clients: int = _uint(5000)
    max_queued_clients: int = _uint(1000)
    max_anonymous_clients: int = _uint(20)
    min_workers: int = _uint(5)
    max_workers: int = _uint(20)
    prio_workers: int = _uint(5)
    max_client_requests: int = _uint(5)
    # virtkit's own limits: seconds a client may take to authenticate (0: no limit),
    # calls per second per client (0: no limit) and their burst (0: the rate), and the
    # largest message an unauthenticated client may send
    auth_timeout: int = _uint(60)
    max_client_call_rate: int = _uint(0)
    max_client_call_burst: int = _uint(0)
    max_anonymous_message: int = _uint(262144)

    # the admin server (libvirt-admin-sock; see daemon/admin.py)
    admin_min_workers: int = _uint(5)
    admin_max_workers: int = _uint(20)
    admin_max_clients: int = _uint(5000)
    admin_max_queued_clients: int = _uint(20)
    admin_max_client_requests: int = _uint(5)
    admin_keepalive_interval: int = _int(5)
    admin_keepalive_count: int = _uint(5)
    admin_keepalive_required: bool = _bool(False)  # obsolete in libvirt; stored

    # logging and auditing
    log_level: int = _uint(0)
    log_filters: str | None = _str()
    log_outputs: str | None = _str()
    audit_level: int = _uint(1)
    audit_logging: bool = _bool(False)

    # keepalive
    keepalive_interval: int = _int(5)
    keepalive_count: int = _uint(5)
    keepalive_required: bool = _bool(False)  # obsolete in libvirt; stored

    # virtkit's own: serve Prometheus metrics on "HOST:PORT" (off when unset; see
    # daemon/metrics.py)
    prometheus_listen: str | None = _str()

    # misc
    ovs_timeout: int = _uint(5)
    host_uuid: str | None = _str()
    host_uuid_source: str | None = _str()

    source: str | None = field(default=None, metadata={"kind": None})
    set_keys: frozenset[str] = field(default=frozenset(), metadata={"kind": None})
    unknown_keys: tuple[str, ...] = field(default=(), metadata={"kind": None})

    @classmethod
    def keys(cls) -> dict[str, str]:
        """Every key this config reads, mapped to its kind
        (``string``, ``bool``, ``uint``, ``int``, ``auth``, ``strlist``)."""
        return {f.name: f.metadata["kind"] for f in fields(cls) if f.metadata.get("kind")}

    def perms(self, key: str) -> int:
        """One of the ``unix_sock_*_perms`` settings as a mode number."""
        text: str = getattr(self, key)
        try:
            return int(text, 8)
        except ValueError:
            raise ConfigError(f"Failed to parse mode '{text}' ({key})") from None

    def port(self, key: str) -> int:
        """``tcp_port`` or ``tls_port`` as a number (a service name is looked up)."""
        import socket

        text: str = getattr(self, key)
        if text.isdigit() and 0 < int(text) < 65536:
            return int(text)
        try:
            return socket.getservbyname(text, "tcp")
        except OSError:
            raise ConfigError(f"Invalid port '{text}' for '{key}'") from None


# ---------------------------------------------------------------------------
# typed access, with virconf.c's wording


def _check_string(where: str, key: str, value: Value) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"internal error: {where}: expected a string for '{key}' parameter")
    return value


def _check_bool(where: str, key: str, value: Value) -> bool:
    if not isinstance(value, int) or value < 0:
        raise ConfigError(f"internal error: {where}: expected a bool for '{key}' parameter")
    if value > 1:
        raise ConfigError(
            f"internal error: {where}: value for '{key}' parameter must be 0 or 1")
    return value == 1


def _check_uint(where: str, key: str, value: Value) -> int:
    if not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"internal error: {where}: expected an unsigned integer for '{key}' parameter")
    if value > _UINT_MAX:
        raise ConfigError(f"internal error: {where}: value for '{key}' parameter "
                          f"must be in range 0:{_UINT_MAX}")
    return value


def _check_int(where: str, key: str, value: Value) -> int:
    if not isinstance(value, int):
        raise ConfigError(
            f"internal error: {where}: expected a signed integer for '{key}' parameter")
    if not _INT_MIN <= value <= _INT_MAX:
        raise ConfigError(f"internal error: {where}: value for '{key}' parameter "
                          f"must be in range {_INT_MIN}:{_INT_MAX}")
    return value


def _check_strlist(where: str, key: str, value: Value) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"configuration file syntax error: {where}: expected a string list "
            f"for '{key}' parameter")
    return tuple(value)


def _check_auth(where: str, key: str, value: Value) -> str:
    text = _check_string(where, key, value)
    if text not in AUTH_NAMES:
        raise ConfigError(f"unsupported configuration: {where}: {key}: unsupported auth {text}")
    return text


_CHECKS: dict[str, Callable[[str, str, Value], Any]] = {
    "string": _check_string,
    "bool": _check_bool,
    "uint": _check_uint,
    "int": _check_int,
    "strlist": _check_strlist,
    "auth": _check_auth,
}


def parse_config(text: str, filename: str = "memory conf") -> DaemonConfig:
    """Build a :class:`DaemonConfig` from libvirtd.conf text.

    Raises :class:`ConfigError`; its text names the file, the line and the key.
    """
    entries = parse_virconf(text, filename)
    kinds = DaemonConfig.keys()
    first: dict[str, ConfEntry] = {}
    for entry in entries:
        first.setdefault(entry.name, entry)  # virconf: the first one wins
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for name, entry in first.items():
        kind = kinds.get(name)
        if kind is None:
            unknown.append(name)
            continue
        values[name] = _CHECKS[kind](f"{filename}:{entry.line}", name, entry.value)
    for name in unknown:
        log.warning("%s:%d: ignoring unknown setting '%s'", filename, first[name].line, name)

    config = DaemonConfig(**values)
    config.source = None if filename == "memory conf" else filename
    config.set_keys = frozenset(values)
    config.unknown_keys = tuple(unknown)
    _validate(config, filename, first)
    return config


def _validate(config: DaemonConfig, filename: str, entries: dict[str, ConfEntry]) -> None:
    def at(key: str) -> str:
        return f"{filename}:{entries[key].line}" if key in entries else filename

    if config.max_workers < 1:
        raise ConfigError(f"internal error: {at('max_workers')}: "
                          "'max_workers' must be greater than 0")
    if config.prometheus_listen is not None:
        from virtkit.daemon.metrics import parse_listen

        try:
            parse_listen(config.prometheus_listen)
        except ValueError as exc:
            raise ConfigError(f"internal error: {at('prometheus_listen')}: {exc}") from None
    if "tcp_min_ssf" in config.set_keys and config.tcp_min_ssf < _SSF_WARNING_LEVEL:
        raise ConfigError(f"unsupported configuration: {at('tcp_min_ssf')}: minimum SSF "
                          f"levels lower than {_SSF_WARNING_LEVEL} are not supported")


def valid_host_uuid(text: str) -> bool:
    """libvirt's rule: a well-formed UUID whose hex digits are not all the same."""
    try:
        value = uuid.UUID(text.strip())
    except ValueError:
        return False
    return len(set(value.hex)) > 1


def host_uuid(config: DaemonConfig, paths: DaemonPaths) -> str | None:
    """The host UUID the config asks for, or ``None`` for "ask SMBIOS".

    ``host_uuid_source = "machine-id"`` reads ``<root>/etc/machine-id``.
    Raises :class:`ConfigError` for a bad UUID or source (libvirtd checks
    these after loading the file, and so does virtkitd).
    """
    if config.host_uuid is not None:
        if not valid_host_uuid(config.host_uuid):
            raise ConfigError(f"invalid host UUID: {config.host_uuid}")
        return str(uuid.UUID(config.host_uuid.strip()))
    if config.host_uuid_source in (None, "smbios"):
        return None
    if config.host_uuid_source != "machine-id":
        raise ConfigError(f"invalid UUID source: {config.host_uuid_source}")
    machine_id = paths.under("/etc/machine-id")
    try:
        with open(machine_id, encoding="ascii", errors="replace") as f:
            text = f.read(64).strip()
    except OSError:
        raise ConfigError(f"Can't read {machine_id}") from None
    if not valid_host_uuid(text):
        raise ConfigError(f"invalid host UUID: {text}")
    return str(uuid.UUID(text))


def load_config(path: str | None, paths: DaemonPaths) -> DaemonConfig:
    """Read the daemon's config.

    With ``path`` (``--config``) the file must exist; without it the default
    ``<root>/etc/libvirt/libvirtd.conf`` is read if present and the built-in
    defaults are used otherwise.  Raises :class:`ConfigError`.
    """
    implicit = path is None
    filename = paths.config_file if path is None else path
    try:
        with open(filename, "rb") as f:
            data = f.read(_MAX_CONFIG_FILE_SIZE + 1)
    except FileNotFoundError:
        if implicit:
            return DaemonConfig()
        raise ConfigError(f"Failed to open file '{filename}': "
                          f"{os.strerror(2)}") from None
    except OSError as e:
        raise ConfigError(f"Failed to open file '{filename}': {e.strerror}") from None
    if len(data) > _MAX_CONFIG_FILE_SIZE:
        raise ConfigError(f"File '{filename}' is too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"configuration file syntax error: {filename}:{line}: "
                          "not valid UTF-8") from None
    return parse_config(text, filename)


# ---------------------------------------------------------------------------
# what to listen on


class ListenError(ConfigError):
    """The listener settings cannot be honoured (libvirtd exits with status 6)."""


@dataclass(frozen=True, slots=True)
class Listener:
    """One socket to open: a unix socket (``path``, ``mode``, ``gid``) or
    TCP (``host``, "" for every address, and ``port``)."""

    kind: str
    readonly: bool = False
    path: str = ""
    mode: int = 0o600
    gid: int | None = None
    host: str = ""
    port: int = 0
    auth: str = "none"
    """The listener's auth scheme: "none" or "sasl" (see :func:`listener_auth`)."""
    tls: bool = False
    """A TCP listener speaking TLS from the first byte (libvirt's ``listen_tls``)."""

    def describe(self) -> str:
        """``unix:/run/libvirt/libvirt-sock``, ``tcp:127.0.0.1:16509`` or ``tls:*:16514``."""
        if self.kind == "unix":
            return f"unix:{self.path}"
        return f"{'tls' if self.tls else 'tcp'}:{self.host or '*'}:{self.port}"


def listener_auth(config: DaemonConfig, key: str) -> str:
    """The auth scheme ``key`` (auth_unix_rw, auth_tcp, ...) asks for: "none" or "sasl".
    "polkit" is refused: virtkitd has no polkit agent (use sasl, or none with socket
    permissions and the access-control policy)."""
    value: str = getattr(config, key)
    if value not in ("none", "sasl"):
        raise ListenError(f"unsupported configuration: {key} = \"{value}\": virtkitd has "
                          f"no {value} authentication; set {key} = \"none\" or \"sasl\"")
    return value


def _require_auth_none(config: DaemonConfig, key: str) -> None:
    listener_auth(config, key)


def _check_tls(config: DaemonConfig, paths: DaemonPaths) -> None:
    if config.ca_file or config.cert_file or config.key_file:
        if not config.ca_file:
            raise ListenError("unsupported configuration: No CA certificate path set to "
                              "match server key/cert")
        if not config.cert_file:
            raise ListenError("unsupported configuration: No server certificate path set "
                              "to match server key")
        if not config.key_file:
            raise ListenError("unsupported configuration: No server key path set to match "
                              "server cert")
        files = [("CA certificate", config.ca_file), ("certificate", config.cert_file),
                 ("private key", config.key_file)]
    else:
        files = [("CA certificate", paths.tls_ca_cert), ("certificate", paths.tls_server_cert),
                 ("private key", paths.tls_server_key)]
    for what, path in files:
        if not os.path.exists(path):
            raise ListenError(f"Cannot read {what} '{path}': No such file or directory")


def plan_listeners(config: DaemonConfig, paths: DaemonPaths, *,
                   listen: bool) -> list[Listener]:
    """The sockets libvirtd would open for this config (TCP/TLS only with
    ``--listen``), checked: the group exists, modes parse, and every auth
    scheme and transport asked for is one virtkitd has.  Raises
    :class:`ListenError` with libvirt's wording where libvirt has one.
    """
    import grp

    gid = None
    if config.unix_sock_group is not None:
        name = config.unix_sock_group
        try:
            gid = grp.getgrnam(name).gr_gid
        except KeyError:
            if not name.isdigit():
                raise ListenError(f"invalid argument: Failed to parse group '{name}'") from None
            gid = int(name)
    listeners = [
        Listener("unix", path=paths.sock_rw, mode=config.perms("unix_sock_rw_perms"), gid=gid,
                 auth=listener_auth(config, "auth_unix_rw")),
        Listener("unix", readonly=True, path=paths.sock_ro,
                 mode=config.perms("unix_sock_ro_perms"), gid=gid,
                 auth=listener_auth(config, "auth_unix_ro")),
    ]
    if listen and config.listen_tcp:
        listeners.append(Listener("tcp", host=config.listen_addr or "",
                                  port=config.port("tcp_port"),
                                  auth=listener_auth(config, "auth_tcp")))
    if listen and config.listen_tls:
        _check_tls(config, paths)
        listeners.append(Listener("tcp", host=config.listen_addr or "",
                                  port=config.port("tls_port"), tls=True,
                                  auth=listener_auth(config, "auth_tls")))
    return listeners
