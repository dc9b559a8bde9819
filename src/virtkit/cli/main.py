"""``virtkit``: a virsh-compatible command line.

``virtkit [-c URI] [-r] [-q] COMMAND [ARGS]`` or ``virtkit [options] 'CMD1; CMD2 ...'``.
Only the modules that the chosen commands need are imported, so a plain
``virtkit list`` starts quickly.
"""

from __future__ import annotations

import sys

from virtkit.cli.framework import (
    CmdFailed,
    CmdSyntaxError,
    CommandDef,
    Ctl,
    OptDef,
    parse_command,
    split_batch,
)

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from collections.abc import Sequence


PROGNAME = "virtkit"

_HELP_DEF_OPTS = (
    OptDef(
        "command",
        "STRING",
        "",
        "Prints global help, command specific help, or help for a group of related commands",
    ),
)
_HELP_DESC = (
    "Prints global help, command specific help, or help for a\n    group of related commands"
)

_defs: dict[str, CommandDef] = {}
_family_of: dict[str, str] | None = None


def _families() -> dict[str, str]:
    global _family_of
    if _family_of is None:
        from virtkit.cli.specs import GROUPS

        _family_of = {name: module for _, _, module, cmds in GROUPS for name in cmds}
    return _family_of


def lookup(name: str) -> CommandDef | None:
    """The definition of command ``name`` (importing its family module on first use)."""
    found = _defs.get(name)
    if found is not None:
        return found
    if name == "help":
        from virtkit.cli import helpcmd

        _defs["help"] = CommandDef(
            "help", "print help", _HELP_DESC, _HELP_DEF_OPTS, helpcmd.cmd_help, noconnect=True
        )
        return _defs["help"]
    module = _families().get(name)
    if module is None:
        return None
    import importlib

    mod = importlib.import_module(f"virtkit.cli.{module}")
    _defs.update(mod.COMMANDS)
    return _defs.get(name)


# ---------------------------------------------------------------------------
# Global options (getopt_long "+:c:d:e:hk:K:l:qrtvV")
# ---------------------------------------------------------------------------

_SHORT_WITH_ARG = "cdekKl"
_SHORT_FLAGS = "hqrtvV"
_LONG = {
    "connect": ("c", True),
    "debug": ("d", True),
    "escape": ("e", True),
    "help": ("h", False),
    "keepalive-interval": ("k", True),
    "keepalive-count": ("K", True),
    "log": ("l", True),
    "quiet": ("q", False),
    "readonly": ("r", False),
    "timing": ("t", False),
    "version": ("v", None),
}


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _global_error(message: str) -> _Exit:
    sys.stdout.flush()
    sys.stderr.write(f"error: {message}\n")
    return _Exit(1)


def parse_global(argv: Sequence[str]) -> tuple[dict[str, str | None], list[str]]:
    """Parse the options before the command; returns ({letter: value}, remaining args)."""
    opts: dict[str, str | None] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            matches = [k for k in _LONG if k == name] or [k for k in _LONG if k.startswith(name)]
            if len(matches) != 1:
                raise _global_error(f"unsupported option '{arg}'. See --help.")
            letter, takes = _LONG[matches[0]]
            if takes is True and not eq:
                i += 1
                if i >= len(argv):
                    raise _global_error(f"option '-{letter}'/'--{matches[0]}' requires an argument")
                value = argv[i]
            elif takes is False and eq:
                raise _global_error(f"unsupported option '{arg}'. See --help.")
            opts[letter] = value if (eq or takes) else None
            i += 1
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                letter = arg[j]
                if letter in _SHORT_WITH_ARG:
                    value = arg[j + 1 :]
                    if not value:
                        i += 1
                        if i >= len(argv):
                            long_name = next(k for k, v in _LONG.items() if v[0] == letter)
                            raise _global_error(
                                f"option '-{letter}'/'--{long_name}' requires an argument"
                            )
                        value = argv[i]
                    opts[letter] = value
                    break
                if letter in _SHORT_FLAGS:
                    opts["V" if letter == "V" else letter] = None
                    j += 1
                    continue
                raise _global_error(f"unsupported option '-{letter}'. See --help.")
            i += 1
            continue
        break
    return opts, list(argv[i:])


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("virtkit")
    except Exception:
        return "unknown"


def _usage() -> None:
    from virtkit.cli.helpcmd import print_usage

    print_usage(PROGNAME)


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def parse_commands(args: Sequence[str]) -> list[object]:
    """One argument: a batch string; several: one command in argv form."""
    token_lists = split_batch(args[0]) if len(args) == 1 else [list(args)]
    return [parse_command(tokens, lookup) for tokens in token_lists]


def run(ctl: Ctl, commands: Sequence[object]) -> bool:
    """Run parsed commands in order; the result is the last command's (vshCommandRun)."""
    from virtkit.cli.framework import Cmd

    ok = True
    for item in commands:
        assert isinstance(item, Cmd)
        ok = _run_one(ctl, item)
        ctl.print_extra("\n")
    return ok


def _connect(ctl: Ctl) -> bool:
    """Open the connection; on failure print virsh's two lines and return False."""
    from virtkit.errors import VirtError

    try:
        ctl.connect()
    except VirtError as exc:
        ctl.error("failed to connect to the hypervisor")
        ctl.error(exc.message)
        return False
    except Exception as exc:
        _report_bug(ctl, exc, "failed to connect to the hypervisor")
        return False
    return True


def _report_bug(ctl: Ctl, exc: Exception, first: str | None = None) -> None:
    """A bug below the CLI: one error line (a traceback too with $VIRTKIT_DEBUG)."""
    import os

    if os.environ.get("VIRTKIT_DEBUG"):
        import traceback

        traceback.print_exc()
    if first:
        ctl.error(first)
    ctl.error(f"internal error: {type(exc).__name__}: {exc}")


def _run_one(ctl: Ctl, cmd: object) -> bool:
    from virtkit.cli.framework import Cmd
    from virtkit.errors import LocalToolError, VirtError

    assert isinstance(cmd, Cmd)
    try:
        if not cmd.definition.noconnect and not _connect(ctl):
            return False
        return bool(cmd.definition.handler(ctl, cmd))
    except CmdFailed:
        return False
    except VirtError as exc:
        ctl.error(exc.message)
        return False
    except LocalToolError as exc:
        ctl.error(str(exc))
        return False
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:
        # A bug below the CLI must not take the rest of the batch down with it.
        _report_bug(ctl, exc)
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: returns the exit status (0 success, 1 failure)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        opts, rest = parse_global(args)
        if "h" in opts:
            _usage()
            return 0
        if "v" in opts and opts["v"] != "long":
            print(_version())
            return 0
        if "v" in opts or "V" in opts:
            print(f"Virtkit command line tool, version {_version()}")
            return 0
        try:
            commands = parse_commands(rest) if rest else None
        except CmdSyntaxError as exc:
            raise _global_error(str(exc)) from None
        ctl = Ctl(uri=opts.get("c"), readonly="r" in opts, quiet="q" in opts)
        if "c" in opts and not _connect(ctl):
            return 1
        try:
            if commands is None:
                return _interactive(ctl)
            return 0 if run(ctl, commands) else 1
        finally:
            sys.stdout.flush()
            ctl.close()
    except _Exit as stop:
        return stop.code
    except BrokenPipeError:
        return 1


def _interactive(ctl: Ctl) -> int:
    """A minimal shell: one batch per input line."""
    tty = sys.stdin.isatty()
    ok = True
    while True:
        if tty:
            sys.stdout.write(f"{PROGNAME} # ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            break
        stripped = line.strip()
        if stripped in ("quit", "exit"):
            break
        if not stripped:
            continue
        try:
            commands = [parse_command(t, lookup) for t in split_batch(stripped)]
        except CmdSyntaxError as exc:
            ctl.error(str(exc))
            ok = False
            continue
        ok = run(ctl, commands)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
