"""virsh's command grammar: option specs, the batch tokenizer, the parser and the run context.

Kept free of heavy imports: ``virtkit`` itself is imported only when a command
first needs a connection, so ``virtkit uri`` starts as fast as Python can.

The grammar follows virsh 9.0 (tools/vsh.c): every option is ``--name``,
``--name value`` or ``--name=value``; non-boolean options that are not marked
``REQ_OPT`` may also be given positionally, filled in declaration order; ``--``
makes every later token data; a batch string splits into commands at ``;``
and newlines, honouring single quotes, double quotes and backslashes.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs startup time
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any

    from virtkit.connection import Connection

    Handler = Callable[["Ctl", "Cmd"], bool]

BOOL = "BOOL"
STRING = "STRING"
INT = "INT"
DATA = "DATA"
ARGV = "ARGV"
ALIAS = "ALIAS"
_OPT_TYPES = frozenset((BOOL, STRING, INT, DATA, ARGV, ALIAS))


class OptDef:
    """One option of a command: name, type (BOOL ...), flags ("REQ", "REQ_OPT"), help text.

    For ``ALIAS`` options ``help`` names the option it stands for (``"size"``).
    """

    __slots__ = ("flags", "help", "name", "type")

    def __init__(self, name: str, type: str, flags: str, help: str) -> None:
        if type not in _OPT_TYPES:
            raise ValueError(f"option --{name}: unknown type {type!r}")
        self.name = name
        self.type = type
        self.flags = flags
        self.help = help

    def __repr__(self) -> str:
        return f"OptDef({self.name!r}, {self.type!r}, {self.flags!r})"

    @property
    def required(self) -> bool:
        return "REQ" in self.flags.split("|")

    @property
    def hidden(self) -> bool:
        return "HIDDEN" in self.flags.split("|")

    @property
    def req_opt(self) -> bool:
        return "REQ_OPT" in self.flags.split("|")


class CommandDef:
    """A command: name, one-line help, description, options and its handler."""

    __slots__ = ("desc", "handler", "help", "name", "noconnect", "opts")

    def __init__(
        self,
        name: str,
        help: str,
        desc: str | None,
        opts: tuple[OptDef, ...],
        handler: Handler,
        noconnect: bool = False,
    ) -> None:
        self.name = name
        self.help = help
        self.desc = desc
        self.opts = opts
        self.handler = handler
        self.noconnect = noconnect

    def option(self, name: str) -> tuple[int, OptDef] | None:
        for i, opt in enumerate(self.opts):
            if opt.name == name:
                return i, opt
        return None


# A virtkit extension: accepted by every listing and info command, left out of `help`
# (whose layout stays virsh's) and documented in virtkit(1) and `virtkit --help`.
JSON_OPT = OptDef("json", BOOL, "HIDDEN", "print the result as a JSON document")


def specs_to_defs(
    specs: dict[str, tuple[str, str | None, tuple[tuple[str, str, str, str], ...]]],
    handlers: dict[str, Handler],
    json_commands: Sequence[str] = (),
    noconnect: Sequence[str] = (),
) -> dict[str, CommandDef]:
    """Bind a family's option tables to its handlers (``--json`` added where listed)."""
    defs: dict[str, CommandDef] = {}
    for name, (help_, desc, opts) in specs.items():
        optdefs = tuple(OptDef(*o) for o in opts)
        if name in json_commands:
            optdefs = (*optdefs, JSON_OPT)
        defs[name] = CommandDef(
            name, help_, desc, optdefs, handlers[name], noconnect=name in noconnect
        )
    return defs


class CmdSyntaxError(Exception):
    """The batch did not parse; the message is virsh's (without "error: ")."""


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------


def split_batch(line: str) -> list[list[str]]:
    """Split a command string into commands, each a list of tokens (vsh's string grammar)."""
    commands: list[list[str]] = []
    current: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and (
            line[pos] in " \t" or (line[pos] == "\\" and pos + 1 < n and line[pos + 1] == "\n")
        ):
            pos += 2 if line[pos] == "\\" else 1
        if pos >= n:
            break
        ch = line[pos]
        if ch in ";\n":
            pos += 1
            commands.append(current)
            current = []
            continue
        if ch == "#":
            while pos < n and line[pos] != "\n":
                pos += 1
            pos += 1 if pos < n else 0
            commands.append(current)
            current = []
            continue
        token: list[str] = []
        single = double = False
        while pos < n:
            ch = line[pos]
            if not single and not double and ch in " \t;\n":
                break
            if not double and ch == "'":
                single = not single
                pos += 1
                continue
            if not single and ch == "\\":
                pos += 1
                if pos >= n:
                    raise CmdSyntaxError("dangling \\")
                if line[pos] == "\n":
                    pos += 1
                    continue
            elif not single and ch == '"':
                double = not double
                pos += 1
                continue
            token.append(line[pos])
            pos += 1
        if double:
            raise CmdSyntaxError('missing "')
        current.append("".join(token))
    commands.append(current)
    return [c for c in commands if c]


# ---------------------------------------------------------------------------
# Parsed command
# ---------------------------------------------------------------------------


class Cmd:
    """A parsed command: its definition and the option values given."""

    __slots__ = ("definition", "values")

    def __init__(self, definition: CommandDef, values: dict[str, list[str]] | None = None) -> None:
        self.definition = definition
        self.values: dict[str, list[str]] = values if values is not None else {}

    @property
    def name(self) -> str:
        return self.definition.name

    def has(self, name: str) -> bool:
        return name in self.values

    def flag(self, name: str) -> bool:
        return name in self.values

    def raw(self, name: str) -> str | None:
        vals = self.values.get(name)
        return vals[0] if vals else None

    def argv(self, name: str) -> list[str]:
        return list(self.values.get(name, []))


def parse_command(tokens: Sequence[str], lookup: Callable[[str], CommandDef | None]) -> Cmd:
    """Parse one command's tokens against its definition (vshCommandParse)."""
    name = tokens[0]
    cdef = lookup(name)
    if cdef is None:
        raise CmdSyntaxError(f"unknown command: '{name}'")
    need_arg = [i for i, o in enumerate(cdef.opts) if o.type not in (BOOL, ALIAS) and not o.req_opt]
    seen: set[int] = set()
    cmd = Cmd(cdef)
    data_only = False
    it: Iterator[str] = iter(tokens[1:])
    wants_help = False
    for tok in it:
        if not data_only and tok.startswith("--") and len(tok) > 2 and tok[2].isalnum():
            optname, eq, optval = tok[2:].partition("=")
            value: str | None = optval if eq else None
            if optname == "help":
                wants_help = True
                continue
            found = _find_option(cdef, optname, value)
            if found is None:
                if cdef.name == "help":
                    continue
                raise CmdSyntaxError(f"command '{cdef.name}' doesn't support option --{optname}")
            index, opt, value = found
            if index in seen and opt.type != ARGV:
                raise CmdSyntaxError(f"option --{opt.name} already seen")
            seen.add(index)
            if opt.type == BOOL:
                if value is not None:
                    raise CmdSyntaxError(f"invalid '=' after option --{opt.name}")
                cmd.values[opt.name] = []
                continue
            if value is None:
                value = next(it, None)
                if value is None:
                    kind = "number" if opt.type == INT else "string"
                    raise CmdSyntaxError(f"expected syntax: --{opt.name} <{kind}>")
            if opt.type != ARGV and index in need_arg:
                need_arg.remove(index)
            cmd.values.setdefault(opt.name, []).append(value)
        elif not data_only and tok == "--":
            data_only = True
        else:
            if not need_arg:
                if cdef.name == "help":
                    continue
                raise CmdSyntaxError(f"unexpected data '{tok}'")
            index = need_arg[0]
            opt = cdef.opts[index]
            if opt.type != ARGV:
                need_arg.pop(0)
            seen.add(index)
            cmd.values.setdefault(opt.name, []).append(tok)
    if wants_help:
        return Cmd(_help_def(lookup), {"command": [cdef.name]})
    missing = [
        f"command '{cdef.name}' requires "
        + (f"<{opt.name}>" if opt.type in (DATA, ARGV) else f"--{opt.name}")
        + " option"
        for i, opt in enumerate(cdef.opts)
        if opt.required and i not in seen
    ]
    if missing:
        # vshCommandCheckOpts reports every missing option, each as an error line of its own.
        raise CmdSyntaxError("\nerror: ".join(missing))
    return cmd


def _help_def(lookup: Callable[[str], CommandDef | None]) -> CommandDef:
    help_def = lookup("help")
    assert help_def is not None
    return help_def


def _find_option(
    cdef: CommandDef, name: str, value: str | None
) -> tuple[int, OptDef, str | None] | None:
    found = cdef.option(name)
    if found is None:
        return None
    index, opt = found
    if opt.type == ALIAS:
        target, eq, default = opt.help.partition("=")
        if eq:
            if value is not None:
                raise CmdSyntaxError(f"invalid '=' after option --{opt.name}")
            value = default
        real = cdef.option(target)
        if real is None:
            return None
        return real[0], real[1], value
    return index, opt, value


# ---------------------------------------------------------------------------
# Run context
# ---------------------------------------------------------------------------


def _prompt_credentials(creds: list[list[Any]], _data: object) -> int:
    """libvirt's default auth callback: a prompt per credential, the password unechoed."""
    import getpass
    import sys

    for cred in creds:
        prompt = f"{cred[1]}: "
        try:
            if cred[0] == 5:  # VIR_CRED_PASSPHRASE
                cred[4] = getpass.getpass(prompt)
            else:
                sys.stdout.write(prompt)
                sys.stdout.flush()
                line = sys.stdin.readline()
                if not line:
                    return -1
                cred[4] = line.rstrip("\n")
        except (EOFError, OSError):
            return -1
    return 0


class CmdFailed(Exception):
    """A handler failed after reporting its own error lines."""


class Ctl:
    """What every handler gets: the connection (opened on demand) and output helpers."""

    def __init__(
        self,
        uri: str | None = None,
        readonly: bool = False,
        quiet: bool = False,
        out: Any = None,
        err: Any = None,
    ) -> None:
        self.uri = uri
        self.readonly = readonly
        self.quiet = quiet
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self._conn: Connection | None = None

    @property
    def conn(self) -> Connection:
        """The connection; opened by the run loop before a handler is called."""
        assert self._conn is not None, "no connection"
        return self._conn

    def connect(self) -> None:
        """Open the connection if it is not open (raises ``VirtError``)."""
        if self._conn is not None:
            return
        import virtkit

        flags = 1 if self.readonly else 0  # VIR_CONNECT_RO
        # As virsh (virConnectAuthPtrDefault): SASL credentials the auth file lacks are
        # asked for on the terminal.
        self._conn = virtkit.open(self.uri, flags, [[2, 5], _prompt_credentials, None])

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def print(self, text: str) -> None:
        """vshPrint: always printed."""
        self.out.write(text)

    def print_extra(self, text: str) -> None:
        """vshPrintExtra: suppressed by ``-q``."""
        if not self.quiet:
            self.out.write(text)

    def error(self, message: str) -> None:
        """vshError: "error: MESSAGE" on stderr, stdout flushed first."""
        self.out.flush()
        self.err.write(f"error: {message}\n")
        self.err.flush()

    def failing(self, message: str) -> _Failing:
        """Context: on ``VirtError``, print ``message`` first, then let the error propagate.

        virsh's pattern: "error: failed to get URI" followed by libvirt's own message.
        """
        return _Failing(self, message)

    # -- option accessors with virsh's error wording --------------------------

    def opt_string(self, cmd: Cmd, name: str) -> str | None:
        """vshCommandOptStringReq: None when absent; empty values are refused."""
        value = cmd.raw(name)
        if value is None:
            return None
        if value == "":
            self.error(f"Failed to get option '{name}': Option argument is empty")
            raise CmdFailed
        return value

    def opt_required(self, cmd: Cmd, name: str) -> str:
        value = self.opt_string(cmd, name)
        if value is None:
            self.error(f"Failed to get option '{name}': Mandatory option not present")
            raise CmdFailed
        return value

    def opt_int(
        self, cmd: Cmd, name: str, *, lo: int = -(2**31), hi: int = 2**31 - 1
    ) -> int | None:
        """vshCommandOptInt / OptUInt (pass ``lo=0, hi=2**32-1``)."""
        value = cmd.raw(name)
        if value is None:
            return None
        number = parse_c_integer(value)
        if number is None or not lo <= number <= hi:
            self.error(f"Numeric value '{value}' for <{name}> option is malformed or out of range")
            raise CmdFailed
        return number

    def opt_scaled(
        self, cmd: Cmd, name: str, *, scale: int = 1, maximum: int = 2**64 - 1
    ) -> int | None:
        """vshCommandOptScaledInt: "1G", "512M" ...; plain numbers are in ``scale`` units."""
        value = cmd.raw(name)
        if value is None:
            return None
        from virtkit.errors import VirtError

        try:
            return scale_integer(value, scale, maximum)
        except (ValueError, VirtError) as exc:
            self.error(
                f"Scaled numeric value '{value}' for <{name}> option is malformed or out of range"
            )
            if isinstance(exc, VirtError):
                raise
            raise CmdFailed from None


class _Failing:
    def __init__(self, ctl: Ctl, message: str) -> None:
        self.ctl = ctl
        self.message = message

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        if exc_type is not None and exc_type is not CmdFailed:
            from virtkit.errors import VirtError

            if issubclass(exc_type, VirtError):
                self.ctl.error(self.message)


def parse_c_integer(text: str) -> int | None:
    """strtol with base 10 and nothing trailing (virStrToLong_*): None if malformed."""
    stripped = text.lstrip(" \t\n\r\f\v")
    body = stripped[1:] if stripped[:1] in "+-" else stripped
    if not body.isdigit() or not body.isascii():
        return None
    return int(stripped)


def parse_scaled(text: str, scale: int, maximum: int) -> int | None:
    """virScaleInteger over an unsigned number; None on any error."""
    from virtkit.errors import VirtError

    try:
        return scale_integer(text, scale, maximum)
    except (ValueError, VirtError):
        return None


def scale_integer(text: str, scale: int, limit: int) -> int:
    """virStrToLong_ullp + virScaleInteger: "512", "1G", "10MiB", "5KB".

    Raises ``ValueError`` when the number itself is malformed (libvirt raises no error
    then) and ``VirtError`` with libvirt's message for a bad suffix or an overflow.
    """
    from virtkit.errors import ErrorCode, make_error

    stripped = text.lstrip(" \t\n\r\f\v")
    digits = len(stripped) - len(stripped.lstrip("0123456789"))
    if digits == 0:
        raise ValueError(text)
    value = int(stripped[:digits])
    if value > 2**64 - 1:
        raise ValueError(text)
    suffix = stripped[digits:]
    lower = suffix.lower()
    if not suffix:
        factor = scale
    elif lower in ("b", "byte", "bytes"):
        factor = 1
    else:
        if len(suffix) == 1 or lower[1:] == "ib":
            base = 1024
        elif lower[1] == "b" and len(suffix) == 2:
            base = 1000
        else:
            raise make_error(ErrorCode.INVALID_ARG, detail=f"unknown suffix '{suffix}'")
        power = "kmgtpe".find(lower[0]) + 1
        if power == 0:
            raise make_error(ErrorCode.INVALID_ARG, detail=f"unknown suffix '{suffix}'")
        factor = base**power
    if value and value > limit // factor:
        raise make_error(ErrorCode.OVERFLOW, detail=f"value too large: {value}{suffix}")
    return value * factor
