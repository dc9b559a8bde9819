"""``virtkitd``'s command line: libvirtd's options, plus ``--root``.

Parsed the way glibc's ``getopt_long`` parses libvirtd's: short options
may be bundled (``-vd``) and take their argument attached or separate
(``-t5``, ``-t 5``), long ones take ``--opt=ARG`` or ``--opt ARG`` and may
be abbreviated while unambiguous, options and operands may be mixed and
``--`` ends the options.  Any operand is an error, as in libvirtd.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from virtkit.daemon.paths import DaemonPaths

__all__ = ["DaemonOptions", "OptionsExit", "parse_args", "usage", "version_text"]

EXIT_SUCCESS = 0
EXIT_FAILURE = 1
_TIMEOUT_MAX = (2**31 - 1) // 1000

# long name -> (short letter, takes an argument)
_LONG = {
    "verbose": ("v", False),
    "daemon": ("d", False),
    "listen": ("l", False),
    "config": ("f", True),
    "timeout": ("t", True),
    "pid-file": ("p", True),
    "root": ("", True),
    "version": ("V", False),
    "help": ("h", False),
}
_SHORT = {short: (name, arg) for name, (short, arg) in _LONG.items() if short}


@dataclass(frozen=True)
class DaemonOptions:
    """The parsed command line."""

    verbose: bool = False
    daemon: bool = False
    listen: bool = False
    timeout: int = 0
    config_file: str | None = None
    pid_file: str | None = None
    root: str = "/"


class OptionsExit(Exception):
    """Stop before starting: print ``text`` (to stderr unless ``stdout``)
    and exit with ``status``."""

    def __init__(self, status: int, text: str, *, stdout: bool = False) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.stdout = stdout


def version_text(prog: str = "virtkitd") -> str:
    """libvirtd's ``-V`` line: ``virtkitd (virtkit) 0.1.0``."""
    from virtkit import __version__

    return f"{prog} (virtkit) {__version__}\n"


def usage(prog: str = "virtkitd", root: str = "/") -> str:
    """The ``--help`` text, laid out like libvirtd's, with paths under ``root``."""
    paths = DaemonPaths(root)
    rows = [
        ("-h | --help", "Display program help"),
        ("-v | --verbose", "Verbose messages"),
        ("-d | --daemon", "Run as a daemon & write PID file"),
        ("-l | --listen", "Listen for TCP/IP connections"),
        ("-t | --timeout <secs>", "Exit after timeout period"),
        ("-f | --config <file>", "Configuration file"),
        ("-V | --version", "Display version information"),
        ("-p | --pid-file <file>", "Change name of PID file"),
        ("--root <dir>", "Keep every file under <dir> ($VIRTKIT_ROOT)"),
    ]
    lines = ["", "Usage:", f"  {prog} [options]", "", "Options:"]
    lines += [f"  {opts:<22} {text}" for opts, text in rows]
    lines += [
        "",
        "virtkit management daemon (speaks libvirt's remote protocol):",
        "",
        "  Default paths:",
        "",
        "    Configuration file (unless overridden by -f):",
        f"      {paths.config_file}",
        "",
        "    Sockets:",
        f"      {paths.sock_rw}",
        f"      {paths.sock_ro}",
        "",
        "    TLS:",
        f"      CA certificate: {paths.tls_ca_cert}",
        f"      Server certificate: {paths.tls_server_cert}",
        f"      Server private key: {paths.tls_server_key}",
        "",
        "    PID file (unless overridden by -p):",
        f"      {paths.pid_file}",
        "",
        "  See virtkitd(8) for the configuration file and signals.",
        "",
    ]
    return "\n".join(lines)


def _bad(prog: str, message: str, root: str) -> OptionsExit:
    return OptionsExit(EXIT_FAILURE, f"{prog}: {message}\n{usage(prog, root)}")


def _flag(name: str, flags: set[str], prog: str, root: str) -> None:
    # Like libvirtd, -h and -V act as soon as they are met: later options
    # are not looked at.
    if name == "help":
        raise OptionsExit(EXIT_SUCCESS, usage(prog, root), stdout=True)
    if name == "version":
        raise OptionsExit(EXIT_SUCCESS, version_text(prog), stdout=True)
    flags.add(name)


def parse_args(argv: Sequence[str], *, prog: str = "virtkitd",
               env: Mapping[str, str] | None = None) -> DaemonOptions:
    """Parse ``argv`` (without the program name).

    Raises :class:`OptionsExit` for ``--help``/``--version`` (status 0)
    and for bad usage (status 1, with glibc-style messages).
    """
    import os

    env = os.environ if env is None else env
    values: dict[str, str | None] = {}
    flags: set[str] = set()
    operands: list[str] = []
    root_hint = env.get("VIRTKIT_ROOT") or "/"
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            operands += argv[i:]
            break
        if arg.startswith("--"):
            name, eq, attached = arg[2:].partition("=")
            matches = [n for n in _LONG if n.startswith(name)] if name else []
            if name in _LONG:
                matches = [name]
            if not matches:
                raise _bad(prog, f"unrecognized option '{arg}'", root_hint)
            if len(matches) > 1:
                options = " ".join(f"'--{n}'" for n in matches)
                raise _bad(prog, f"option '{arg}' is ambiguous; possibilities: {options}",
                           root_hint)
            full = matches[0]
            takes = _LONG[full][1]
            if takes:
                if eq:
                    value = attached
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    raise _bad(prog, f"option '--{full}' requires an argument", root_hint)
                values[full] = value
            else:
                if eq:
                    raise _bad(prog, f"option '--{full}' doesn't allow an argument", root_hint)
                _flag(full, flags, prog, values.get("root") or root_hint)
            continue
        if arg.startswith("-") and arg != "-":
            j = 1
            while j < len(arg):
                letter = arg[j]
                j += 1
                if letter not in _SHORT:
                    raise _bad(prog, f"invalid option -- '{letter}'", root_hint)
                full, takes = _SHORT[letter]
                if not takes:
                    _flag(full, flags, prog, values.get("root") or root_hint)
                    continue
                if j < len(arg):
                    values[full] = arg[j:]
                elif i < len(argv):
                    values[full] = argv[i]
                    i += 1
                else:
                    raise _bad(prog, f"option requires an argument -- '{letter}'", root_hint)
                break
            continue
        operands.append(arg)

    root = values.get("root") or env.get("VIRTKIT_ROOT") or "/"
    if operands:
        raise OptionsExit(EXIT_FAILURE,
                          f"{prog}: unexpected, non-option, command line arguments\n")

    timeout = 0
    if "timeout" in values:
        text = (values["timeout"] or "").strip()
        try:
            timeout = int(text, 10)
        except ValueError:
            timeout = -1
        if not 0 <= timeout <= _TIMEOUT_MAX:
            raise OptionsExit(EXIT_FAILURE, "Invalid value for timeout\n")
    if "root" in values and not values["root"]:
        raise OptionsExit(EXIT_FAILURE, f"{prog}: --root needs a directory\n")

    return DaemonOptions(
        verbose="verbose" in flags,
        daemon="daemon" in flags,
        listen="listen" in flags,
        timeout=timeout,
        config_file=values.get("config"),
        pid_file=values.get("pid-file"),
        root=root,
    )
