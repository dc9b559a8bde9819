"""``virtkit-admin``: virt-admin's commands, output and exit statuses, over :mod:`virtkit.admin`.

``virtkit-admin [-c URI] [-q] COMMAND [ARGS]`` or ``virtkit-admin [options] 'CMD1; CMD2'``.
Listings and info commands also take ``--json``.  The URI is an admin URI
(``libvirtd:///system``, ``virtqemud:///system``, ``...?socket=PATH``; see
:func:`virtkit.admin.socket_path`), so it drives virtkitd and libvirtd alike.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from virtkit.cli.framework import (
    DATA,
    INT,
    JSON_OPT,
    STRING,
    Cmd,
    CmdFailed,
    CmdSyntaxError,
    CommandDef,
    Ctl,
    OptDef,
    parse_command,
    split_batch,
)
from virtkit.cli.output import format_table, to_json

__all__ = ["COMMANDS", "main"]

PROGNAME = "virtkit-admin"
_UINT_MAX = 2**32 - 1
_ULLONG_MAX = 2**64 - 1


class AdminCtl(Ctl):
    """The run context: an admin connection (opened on demand) and virsh's output helpers."""

    def __init__(self, uri: str | None = None, quiet: bool = False) -> None:
        super().__init__(uri=uri, quiet=quiet)
        self.admin: Any = None

    def connect(self) -> None:
        if self.admin is not None and self.admin.is_alive():
            return
        import virtkit.admin

        self.admin = virtkit.admin.open(self.uri)

    def close(self) -> None:
        if self.admin is not None:
            try:
                self.admin.close()
            finally:
                self.admin = None


Handler = Callable[[AdminCtl, Cmd], bool]


def _server(ctl: AdminCtl, cmd: Cmd) -> Any:
    return ctl.admin.lookup_server(ctl.opt_required(cmd, "server"))


def _stamp(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S%z", time.localtime(ts))


def _json(ctl: AdminCtl, cmd: Cmd, document: Any) -> bool:
    if cmd.flag("json"):
        ctl.print(to_json(document))
        return True
    return False


def _uint_opts(ctl: AdminCtl, cmd: Cmd, names: Sequence[tuple[str, str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for opt, field in names:
        try:
            value = ctl.opt_int(cmd, opt, lo=0, hi=_UINT_MAX)
        except CmdFailed:
            ctl.error(f"Unable to parse integer parameter '{opt}'")
            raise
        if value is not None:
            out[field] = value
    return out


# --- commands ---------------------------------------------------------------------


def cmd_uri(ctl: AdminCtl, cmd: Cmd) -> bool:
    ctl.print(f"{ctl.admin.uri}\n")
    return True


def cmd_version(ctl: AdminCtl, cmd: Cmd) -> bool:
    from virtkit.connection import LIB_VERSION

    def triple(v: int) -> str:
        return f"{v // 1000000}.{v % 1000000 // 1000}.{v % 1000}"

    ctl.print(f"Compiled against library: libvirt {triple(LIB_VERSION)}\n")
    ctl.print(f"Using library: libvirt {triple(LIB_VERSION)}\n")
    try:
        daemon = ctl.admin.get_lib_version()
    except Exception:
        ctl.error("failed to get the daemon version")
        return True
    ctl.print(f"Running against daemon: {triple(daemon)}\n")
    return True


def cmd_connect(ctl: AdminCtl, cmd: Cmd) -> bool:
    name = cmd.raw("name")
    connected = ctl.admin is not None
    if name is not None:
        ctl.close()
        ctl.uri = name
        connected = False
    try:
        ctl.connect()
    except Exception:
        ctl.error("Failed to connect to the admin server")
        raise
    if not connected:
        ctl.print("Connected to the admin server\n")
    return True


def cmd_srv_list(ctl: AdminCtl, cmd: Cmd) -> bool:
    try:
        servers = ctl.admin.list_servers()
    except Exception:
        ctl.error(f"failed to obtain list of available servers from {ctl.admin.uri}")
        raise
    if _json(ctl, cmd, [{"id": i, "name": s.name} for i, s in enumerate(servers)]):
        return True
    rows = [[str(i), s.name] for i, s in enumerate(servers)]
    ctl.print(format_table(["Id", "Name"], rows, show_header=not ctl.quiet))
    return True


def cmd_threadpool_info(ctl: AdminCtl, cmd: Cmd) -> bool:
    srv = _server(ctl, cmd)
    with ctl.failing("Unable to get server workerpool parameters"):
        params = srv.get_threadpool_parameters()
    if _json(ctl, cmd, params):
        return True
    ctl.print("".join(f"{k:<15}: {v}\n" for k, v in params.items()))
    return True


def cmd_threadpool_set(ctl: AdminCtl, cmd: Cmd) -> bool:
    name = ctl.opt_required(cmd, "server")
    params = _uint_opts(ctl, cmd, (("max-workers", "maxWorkers"), ("min-workers", "minWorkers"),
                                   ("priority-workers", "prioWorkers")))
    if not params:
        ctl.error("At least one of options --min-workers, --max-workers, "
                  "--priority-workers is mandatory ")
        return False
    if params.get("minWorkers", 0) > params.get("maxWorkers", _UINT_MAX):
        ctl.error("--min-workers must be less than or equal to --max-workers")
        return False
    srv = ctl.admin.lookup_server(name)
    with ctl.failing("Unable to change server workerpool parameters"):
        srv.set_threadpool_parameters(params)
    return True


def cmd_clients_list(ctl: AdminCtl, cmd: Cmd) -> bool:
    srv = _server(ctl, cmd)
    with ctl.failing(f"failed to obtain list of connected clients from server '{srv.name}'"):
        clients = srv.list_clients()
    if _json(ctl, cmd, [{"id": c.id, "transport": c.transport_name,
                         "connected_since": _stamp(c.timestamp), "timestamp": c.timestamp}
                        for c in clients]):
        return True
    rows = [[str(c.id), c.transport_name, _stamp(c.timestamp)] for c in clients]
    ctl.print(format_table(["Id", "Transport", "Connected since"], rows,
                           show_header=not ctl.quiet))
    return True


def _client_id(ctl: AdminCtl, cmd: Cmd) -> int:
    value = ctl.opt_int(cmd, "client", lo=0, hi=_ULLONG_MAX)
    if value is None:
        ctl.error("Failed to get option 'client': Mandatory option not present")
        raise CmdFailed
    return value


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


def cmd_client_info(ctl: AdminCtl, cmd: Cmd) -> bool:
    ident = _client_id(ctl, cmd)
    srv = _server(ctl, cmd)
    client = srv.lookup_client(ident)
    with ctl.failing(f"failed to retrieve client identity information for client "
                     f"'{ident}' connected to server '{srv.name}'"):
        params = client.get_info()
    head = {"id": client.id, "connection_time": _stamp(client.timestamp),
            "transport": client.transport_name}
    if _json(ctl, cmd, {**head, **params}):
        return True
    lines = [f"{k:<15}: {v}\n" for k, v in head.items()]
    lines += [f"{k:<15}: {_param_text(v)}\n" for k, v in params.items()]
    ctl.print("".join(lines))
    return True


def cmd_client_disconnect(ctl: AdminCtl, cmd: Cmd) -> bool:
    name = ctl.opt_required(cmd, "server")
    ident = _client_id(ctl, cmd)
    srv = ctl.admin.lookup_server(name)
    client = srv.lookup_client(ident)
    with ctl.failing(f"Failed to disconnect client '{ident}' from server {srv.name}"):
        client.close()
    ctl.print(f"Client '{ident}' disconnected")
    return True


def cmd_clients_info(ctl: AdminCtl, cmd: Cmd) -> bool:
    srv = _server(ctl, cmd)
    with ctl.failing("Unable to retrieve client limits from server's configuration"):
        params = srv.get_client_limits()
    if _json(ctl, cmd, params):
        return True
    ctl.print("".join(f"{k:<20}: {v}\n" for k, v in params.items()))
    return True


def cmd_clients_set(ctl: AdminCtl, cmd: Cmd) -> bool:
    name = ctl.opt_required(cmd, "server")
    params = _uint_opts(ctl, cmd, (("max-clients", "nclients_max"),
                                   ("max-unauth-clients", "nclients_unauth_max")))
    if not params:
        ctl.error("At least one of options --max-clients, --max-unauth-clients is mandatory")
        return False
    if params.get("nclients_unauth_max", 0) > params.get("nclients_max", _UINT_MAX):
        ctl.error("--max-unauth-clients must be less than or equal to --max-clients")
        return False
    srv = ctl.admin.lookup_server(name)
    with ctl.failing("Unable to change server's client-related configuration limits"):
        srv.set_client_limits(params)
    return True


def cmd_update_tls(ctl: AdminCtl, cmd: Cmd) -> bool:
    srv = _server(ctl, cmd)
    with ctl.failing("Unable to update server's tls related files."):
        srv.update_tls_files()
    ctl.print("update tls related files succeed\n")
    return True


def _log_setting(ctl: AdminCtl, cmd: Cmd, what: str) -> bool:
    conn = ctl.admin
    if cmd.has(what):
        with ctl.failing("Unable to change daemon logging settings"):
            value = cmd.raw(what)
            if what == "filters":
                conn.set_logging_filters(value)
            else:
                conn.set_logging_outputs(value)
        return True
    with ctl.failing(f"Unable to get daemon logging {what} information"):
        text = conn.get_logging_filters() if what == "filters" else conn.get_logging_outputs()
    if _json(ctl, cmd, {what: text}):
        return True
    ctl.print_extra(f" {'Logging ' + what + ': ':<15}")
    ctl.print(f"{text or ''}\n")
    return True


def cmd_log_filters(ctl: AdminCtl, cmd: Cmd) -> bool:
    return _log_setting(ctl, cmd, "filters")


def cmd_log_outputs(ctl: AdminCtl, cmd: Cmd) -> bool:
    return _log_setting(ctl, cmd, "outputs")


def cmd_daemon_timeout(ctl: AdminCtl, cmd: Cmd) -> bool:
    value = ctl.opt_int(cmd, "timeout", lo=0, hi=_UINT_MAX)
    ctl.admin.set_daemon_timeout(value or 0)
    return True


def cmd_help(ctl: AdminCtl, cmd: Cmd) -> bool:
    name = cmd.raw("command")
    if name:
        cdef = COMMANDS.get(name)
        if cdef is None:
            ctl.error(f"command or command group '{name}' doesn't exist")
            return False
        ctl.print(f"  NAME\n    {cdef.name} - {cdef.help}\n\n")
        if cdef.desc:
            ctl.print(f"  DESCRIPTION\n    {cdef.desc}\n\n")
        if cdef.opts:
            ctl.print("  OPTIONS\n")
            for opt in cdef.opts:
                if not opt.hidden:
                    ctl.print(f"    --{opt.name:<20} {opt.help}\n")
            ctl.print("\n")
        return True
    ctl.print(" Administration (help keyword 'admin'):\n")
    for cdef in COMMANDS.values():
        if cdef.name not in _ALIASES:
            ctl.print(f"    {cdef.name:<30} {cdef.help}\n")
    ctl.print("\n")
    return True


# --- the table ----------------------------------------------------------------------

_SERVER = OptDef("server", DATA, "REQ", "server name")
_Spec = tuple[str, str, str | None, tuple[OptDef, ...], Handler, bool]

_SPECS: tuple[_Spec, ...] = (
    ("help", "print help", "Prints global help, command specific help, or help for a group "
     "of related commands", (OptDef("command", STRING, "", "command name"),), cmd_help, False),
    ("uri", "print the admin server URI", "Prints the administrating server URI.", (),
     cmd_uri, False),
    ("version", "show version", "Display the system and also the daemon version information.",
     (), cmd_version, False),
    ("connect", "connect to daemon's admin server", "Connect to a daemon's administrating "
     "server.", (OptDef("name", STRING, "", "daemon's admin server connection URI"),),
     cmd_connect, False),
    ("srv-list", "list available servers on a daemon", "List all manageable servers on a "
     "daemon.", (), cmd_srv_list, True),
    ("srv-threadpool-info", "get server workerpool parameters", "Retrieve threadpool "
     "attributes from a server. ", (_SERVER,), cmd_threadpool_info, True),
    ("srv-threadpool-set", "set server workerpool parameters", "Tune threadpool attributes on "
     "a server. See OPTIONS for currently supported attributes.",
     (_SERVER, OptDef("min-workers", INT, "", "Change bottom limit to number of workers."),
      OptDef("max-workers", INT, "", "Change upper limit to number of workers."),
      OptDef("priority-workers", INT, "", "Change the current number of priority workers")),
     cmd_threadpool_set, False),
    ("srv-clients-list", "list clients connected to <server>", "List all manageable clients "
     "connected to <server>.", (_SERVER,), cmd_clients_list, True),
    ("client-info", "retrieve client's identity info from server", "Retrieve identity "
     "details about <client> from <server>",
     (_SERVER, OptDef("client", DATA, "REQ", "client which to retrieve identity "
                      "information for")), cmd_client_info, True),
    ("client-disconnect", "force disconnect a client from the given server", "Force close a "
     "specific client's connection to the given server.",
     (_SERVER, OptDef("client", INT, "REQ", "client which to disconnect, specified by ID")),
     cmd_client_disconnect, False),
    ("srv-clients-info", "get server's client-related configuration limits", "Retrieve "
     "server's client-related configuration limits ", (_SERVER,), cmd_clients_info, True),
    ("srv-clients-set", "set server's client-related configuration limits", "Tune server's "
     "client-related configuration limits. See OPTIONS for currently supported attributes.",
     (_SERVER, OptDef("max-clients", INT, "", "Change the upper limit to overall number of "
                      "clients connected to the server."),
      OptDef("max-unauth-clients", INT, "", "Change the upper limit to number of clients "
             "waiting for authentication to be connected to the server")),
     cmd_clients_set, False),
    ("srv-update-tls", "notify server to update TLS related files online.", "notify server to "
     "update the CA cert, CA CRL, server cert / key without restarts. See OPTIONS for "
     "currently supported attributes.", (_SERVER,), cmd_update_tls, False),
    ("daemon-log-filters", "fetch or set the currently defined set of logging filters on "
     "daemon", "Depending on whether run with or without options, the command fetches or "
     "redefines the existing active set of filters on daemon.",
     (OptDef("filters", STRING, "EMPTY_OK", "redefine the existing set of logging filters"),),
     cmd_log_filters, True),
    ("daemon-log-outputs", "fetch or set the currently defined set of logging outputs on "
     "daemon", "Depending on whether run with or without options, the command fetches or "
     "redefines the existing active set of outputs on daemon.",
     (OptDef("outputs", STRING, "EMPTY_OK", "redefine the existing set of logging outputs"),),
     cmd_log_outputs, True),
    ("daemon-timeout", "set the auto shutdown timeout of the daemon", "set the auto shutdown "
     "timeout of the daemon",
     (OptDef("timeout", INT, "REQ|REQ_OPT", "number of seconds the daemon will run without "
             "any active connection"),), cmd_daemon_timeout, False),
)

_ALIASES = {
    "server-list": "srv-list",
    "server-threadpool-info": "srv-threadpool-info",
    "server-threadpool-set": "srv-threadpool-set",
    "client-list": "srv-clients-list",
    "server-clients-info": "srv-clients-info",
    "server-clients-set": "srv-clients-set",
    "server-update-tls": "srv-update-tls",
}


def _build() -> dict[str, CommandDef]:
    defs: dict[str, CommandDef] = {}
    for name, help_, desc, opts, handler, listing in _SPECS:
        if listing:
            opts = (*opts, JSON_OPT)
        noconnect = name in ("help", "connect")
        defs[name] = CommandDef(name, help_, desc, opts, handler,  # type: ignore[arg-type]
                                noconnect=noconnect)
    for alias, target in _ALIASES.items():
        t = defs[target]
        defs[alias] = CommandDef(alias, t.help, t.desc, t.opts, t.handler,
                                 noconnect=t.noconnect)
    return defs


COMMANDS = _build()
"""Every command (aliases included) by name."""


# --- running --------------------------------------------------------------------------


def _run_one(ctl: AdminCtl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    try:
        if not cmd.definition.noconnect:
            try:
                ctl.connect()
            except VirtError as exc:
                ctl.error("Failed to connect to the admin server")
                ctl.error(exc.message)
                return False
        return bool(cmd.definition.handler(ctl, cmd))
    except CmdFailed:
        return False
    except VirtError as exc:
        ctl.error(exc.message)
        return False


def run(ctl: AdminCtl, commands: Sequence[Cmd]) -> bool:
    """Run commands in order; the result is the last one's (vshCommandRun)."""
    ok = True
    for cmd in commands:
        ok = _run_one(ctl, cmd)
        ctl.print_extra("\n")
    return ok


_USAGE = """
{p} [options]... [<command_string>]
{p} [options]... <command> [args...]

  options:
    -c | --connect=URI      daemon admin connection URI
    -h | --help             this help
    -q | --quiet            quiet mode
    -v                      short version
    -V                      long version
         --version[=TYPE]   version, TYPE is short or long (default short)
  commands (non interactive mode):

"""


def _usage() -> None:
    sys.stdout.write(_USAGE.format(p=PROGNAME))
    sys.stdout.write(" Administration (help keyword 'admin')\n")
    for cdef in COMMANDS.values():
        if cdef.name not in _ALIASES:
            sys.stdout.write(f"    {cdef.name:<30} {cdef.help}\n")
    sys.stdout.write("\n  (specify help <command> for details about the command)\n\n")
    sys.stdout.write("  virtkit extension: listings and info commands take --json\n\n")


def _parse_global(argv: list[str]) -> tuple[dict[str, str | None], list[str]]:
    opts: dict[str, str | None] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return opts, argv[i + 1:]
        if arg in ("-c", "--connect"):
            if i + 1 >= len(argv):
                raise CmdSyntaxError("option '-c'/'--connect' requires an argument")
            opts["c"] = argv[i + 1]
            i += 2
        elif arg.startswith("--connect="):
            opts["c"] = arg.partition("=")[2]
            i += 1
        elif arg.startswith("-c") and len(arg) > 2:
            opts["c"] = arg[2:]
            i += 1
        elif arg in ("-q", "--quiet", "-h", "--help", "-v", "-V"):
            opts[arg.lstrip("-")[0]] = None
            i += 1
        elif arg.startswith("--version"):
            opts["v" if arg.partition("=")[2] in ("", "short") else "V"] = None
            i += 1
        elif arg.startswith("-") and len(arg) > 1:
            raise CmdSyntaxError(f"unsupported option '{arg}'. See --help.")
        else:
            break
    return opts, argv[i:]


def _lookup(name: str) -> CommandDef | None:
    return COMMANDS.get(name)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: 0 on success, 1 on failure (virt-admin's statuses)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        opts, rest = _parse_global(args)
        if "h" in opts:
            _usage()
            return 0
        if "v" in opts or "V" in opts:
            from virtkit.connection import LIB_VERSION

            v = LIB_VERSION
            text = f"{v // 1000000}.{v % 1000000 // 1000}.{v % 1000}"
            print(text if "v" in opts else f"Virtkit admin tool, libvirt {text} protocol")
            return 0
        if not rest:
            sys.stderr.write(f"error: {PROGNAME} needs a command (see --help)\n")
            return 1
        tokens = split_batch(rest[0]) if len(rest) == 1 else [rest]
        commands = [parse_command(t, _lookup) for t in tokens]
    except CmdSyntaxError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"error: {exc}\n")
        return 1
    ctl = AdminCtl(uri=opts.get("c"), quiet="q" in opts)
    try:
        if "c" in opts:
            from virtkit.errors import VirtError

            try:
                ctl.connect()
            except VirtError as exc:
                ctl.error("Failed to connect to the admin server")
                ctl.error(exc.message)
                return 1
        return 0 if run(ctl, commands) else 1
    except BrokenPipeError:
        return 1
    finally:
        sys.stdout.flush()
        ctl.close()


if __name__ == "__main__":
    sys.exit(main())
