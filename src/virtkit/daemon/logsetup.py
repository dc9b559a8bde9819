"""The daemon's logging, configured the libvirt way.

libvirt's levels are 1 (debug), 2 (info), 3 (warning, the default) and
4 (error).  Settings come from libvirtd.conf (``log_level``,
``log_filters``, ``log_outputs``), then the environment
(``LIBVIRT_DEBUG``, ``LIBVIRT_LOG_FILTERS``, ``LIBVIRT_LOG_OUTPUTS``),
then ``--verbose`` (at least info), each overriding the one before.

Outputs (space separated):

- ``N:stderr``
- ``N:file:PATH`` (appended to, created 0600, missing directories 0700)
- ``N:syslog:IDENT`` (to ``/dev/log``; stderr, with a warning, without it)
- ``N:journald`` (no journald support: treated like ``N:syslog:libvirtd``)

Filters (space separated) are ``N:MATCH``: a message whose logger name
(``virtkit.rpc.server``, ``virtkit.daemon.config``, ``asyncio``...)
contains MATCH (shell wildcards allowed) is kept when at level N or above,
instead of the default level; the first matching filter applies.  So
``1:rpc`` shows the RPC layer's debug messages and ``4:daemon`` silences
the daemon's warnings.  A leading ``+`` on MATCH is ignored, as in libvirt.

Every line looks like libvirt's::

    2026-11-25 09:00:00.123+0000: 4242: info : virtkit.daemon: message
"""

from __future__ import annotations

import fnmatch
import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

__all__ = [
    "LEVELS",
    "LogFilter",
    "LogOutput",
    "LogSettings",
    "LogSetupError",
    "early_logging",
    "parse_filters",
    "parse_outputs",
    "resolve_settings",
    "setup_logging",
    "teardown_logging",
]

LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
          logging.ERROR: "error", logging.CRITICAL: "error"}
DEFAULT_PRIORITY = 3
_HANDLER_TAG = "_virtkitd_handler"


class LogSetupError(Exception):
    """A malformed log setting; ``str()`` is libvirt's wording."""


@dataclass(frozen=True, slots=True)
class LogFilter:
    """``priority:match``."""

    priority: int
    match: str

    def matches(self, name: str) -> bool:
        """Whether a logger name falls under this filter (substring, wildcards)."""
        return fnmatch.fnmatchcase(name, f"*{self.match}*")


@dataclass(frozen=True, slots=True)
class LogOutput:
    """``priority:kind[:arg]``; kind is stderr, file, syslog or journald."""

    priority: int
    kind: str
    arg: str | None = None


@dataclass(frozen=True, slots=True)
class LogSettings:
    """What :func:`resolve_settings` decided."""

    priority: int
    filters: tuple[LogFilter, ...]
    outputs: tuple[LogOutput, ...]


def _priority(text: str) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= 4 else None


def parse_outputs(text: str) -> list[LogOutput]:
    """Parse a ``log_outputs`` string; raises :class:`LogSetupError`."""
    outputs = []
    for item in text.split():
        tokens = item.split(":")
        if len(tokens) < 2:
            raise LogSetupError(f"Malformed format for log output '{item}'")
        prio = _priority(tokens[0])
        if prio is None:
            raise LogSetupError(f"Invalid log priority '{tokens[0]}' for log output '{item}'")
        kind = tokens[1]
        if kind not in ("stderr", "syslog", "file", "journald"):
            raise LogSetupError(f"Invalid log destination '{kind}' for log output '{item}'")
        wanted = 2 if kind in ("stderr", "journald") else 3
        if len(tokens) != wanted:
            raise LogSetupError(f"Log output '{item}' does not meet the format requirements "
                                f"for destination type '{kind}'")
        outputs.append(LogOutput(prio, kind, tokens[2] if wanted == 3 else None))
    return outputs


def parse_filters(text: str) -> list[LogFilter]:
    """Parse a ``log_filters`` string; raises :class:`LogSetupError`."""
    filters = []
    for item in text.split():
        tokens = item.split(":")
        if len(tokens) < 2:
            raise LogSetupError(f"Malformed format for filter '{item}'")
        prio = _priority(tokens[0])
        if prio is None:
            raise LogSetupError(f"Invalid priority '{tokens[0]}' for filter '{item}'")
        match = tokens[1].removeprefix("+")
        if not match:
            raise LogSetupError(f"Invalid match string '{tokens[1]}'")
        filters.append(LogFilter(prio, match))
    return filters


def resolve_settings(*, log_level: int = 0, log_filters: str | None = None,
                     log_outputs: str | None = None, verbose: bool = False,
                     daemon: bool = False, log_file: str = "/var/log/libvirt/libvirtd.log",
                     env: Mapping[str, str] | None = None) -> LogSettings:
    """Combine config, environment and ``--verbose`` like libvirtd does.

    ``log_file`` is the default output when running as a daemon (stderr
    otherwise), used only when neither config nor environment name one.
    """
    env = os.environ if env is None else env
    priority = DEFAULT_PRIORITY
    if log_level:
        if _priority(str(log_level)) is None:
            raise LogSetupError(
                f"Failed to set logging priority, argument '{log_level}' is invalid")
        priority = log_level
    filters = parse_filters(log_filters or "")
    outputs = parse_outputs(log_outputs or "")

    debug = env.get("LIBVIRT_DEBUG")
    if debug:
        env_prio = _priority(debug)
        if env_prio is None:
            raise LogSetupError(f"Invalid log level '{debug}' in LIBVIRT_DEBUG")
        priority = env_prio
    if env.get("LIBVIRT_LOG_FILTERS"):
        filters = parse_filters(env["LIBVIRT_LOG_FILTERS"])
    if env.get("LIBVIRT_LOG_OUTPUTS"):
        outputs = parse_outputs(env["LIBVIRT_LOG_OUTPUTS"])

    if verbose and priority > 2:
        priority = 2
    if not outputs:
        default = LogOutput(priority, "file", log_file) if daemon else LogOutput(priority,
                                                                                  "stderr")
        outputs = [default]
    return LogSettings(priority, tuple(filters), tuple(outputs))


class _Formatter(logging.Formatter):
    def __init__(self, *, timestamp: bool = True) -> None:
        super().__init__()
        self.timestamp = timestamp

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        level = _NAMES.get(record.levelno, record.levelname.lower())
        head = f"{record.process}: {level} : {record.name}: "
        if not self.timestamp:
            return head + text
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}+0000: {head}{text}"


class _Gate(logging.Filter):
    """Applies the default priority and the ``log_filters``."""

    def __init__(self, priority: int, filters: tuple[LogFilter, ...]) -> None:
        super().__init__()
        self.priority = LEVELS[priority]
        self.filters = filters
        self.cache: dict[str, int] = {}

    def threshold(self, name: str) -> int:
        level = self.cache.get(name)
        if level is None:
            level = next((LEVELS[f.priority] for f in self.filters if f.matches(name)),
                         self.priority)
            self.cache[name] = level
        return level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.threshold(record.name)


def _stderr_handler(stream: TextIO | None = None) -> logging.Handler:
    return logging.StreamHandler(stream if stream is not None else sys.stderr)


def _make_handler(output: LogOutput, warnings: list[str]) -> logging.Handler:
    handler: logging.Handler
    if output.kind == "stderr":
        handler = _stderr_handler()
        handler.setFormatter(_Formatter())
    elif output.kind == "file":
        assert output.arg is not None
        path = os.path.abspath(output.arg)
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise LogSetupError(f"failed to open {path}: {e.strerror}") from None
        os.close(fd)
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        handler.setFormatter(_Formatter())
    else:
        ident = output.arg if output.kind == "syslog" and output.arg else "libvirtd"
        if not os.path.exists("/dev/log"):
            warnings.append(f"no syslog socket (/dev/log): log output "
                            f"'{output.priority}:{output.kind}' goes to stderr")
            handler = _stderr_handler()
            handler.setFormatter(_Formatter())
        else:
            handler = logging.handlers.SysLogHandler(address="/dev/log")
            handler.ident = f"{ident}: "
            handler.setFormatter(_Formatter(timestamp=False))
    handler.setLevel(LEVELS[output.priority])
    return handler


def _clear_handlers() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            root.removeHandler(handler)
            handler.close()


def _install(handlers: list[logging.Handler], gate: _Gate) -> None:
    _clear_handlers()
    root = logging.getLogger()
    for handler in handlers:
        setattr(handler, _HANDLER_TAG, True)
        handler.addFilter(gate)
        root.addHandler(handler)
    lowest = min([gate.priority, *(LEVELS[f.priority] for f in gate.filters)])
    root.setLevel(lowest)


def early_logging() -> None:
    """Warnings and errors to stderr in libvirt's format, until
    :func:`setup_logging` runs (for option and config errors)."""
    handler = _stderr_handler()
    handler.setFormatter(_Formatter())
    _install([handler], _Gate(DEFAULT_PRIORITY, ()))


def setup_logging(settings: LogSettings) -> list[str]:
    """Install the handlers ``settings`` describe on the root logger
    (replacing earlier ones from this module).  Returns warnings to log
    once installed (e.g. syslog unavailable).  Raises :class:`LogSetupError`
    if a log file cannot be opened."""
    warnings: list[str] = []
    handlers: list[logging.Handler] = []
    try:
        for output in settings.outputs:
            handlers.append(_make_handler(output, warnings))
    except LogSetupError:
        for handler in handlers:
            handler.close()
        raise
    _install(handlers, _Gate(settings.priority, settings.filters))
    return warnings


def teardown_logging() -> None:
    """Remove and close this module's handlers."""
    _clear_handlers()
