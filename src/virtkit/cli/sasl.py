"""virtkit's SASL user commands (no connection: they edit virtkitd's user database).

``sasl-user-add USER``, ``sasl-user-delete USER`` and ``sasl-user-list`` play the
part of cyrus' ``saslpasswd2 -a libvirt`` / ``sasldblistusers2`` for libvirtd.
The database is ``/etc/libvirt/virtkit-sasl.db`` under ``$VIRTKIT_ROOT`` (the
daemon's ``--root``), or ``--db PATH``; the daemon picks changes up at the next login.
"""

from __future__ import annotations

import os
import sys

from virtkit.cli.framework import Cmd, CmdFailed, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import format_table, to_json
from virtkit.cli.specs import GROUPS

__all__ = ["COMMANDS"]


def _db(ctl: Ctl, cmd: Cmd) -> str:
    from virtkit.daemon.sasldb import default_db_path

    return ctl.opt_string(cmd, "db") or default_db_path(os.environ.get("VIRTKIT_ROOT") or "/")


def _read_password(ctl: Ctl, cmd: Cmd) -> str:
    """From --password-file (first line; "-" is stdin), a prompt on a terminal, or stdin."""
    source = ctl.opt_string(cmd, "password-file")
    if source is not None:
        try:
            if source == "-":
                line = sys.stdin.readline()
            else:
                with open(source, encoding="utf-8") as f:
                    line = f.readline()
        except OSError as e:
            ctl.error(f"cannot read password file '{source}': {e.strerror}")
            raise CmdFailed from None
        return line.rstrip("\r\n")
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Again (for verification): ") != first:
            ctl.error("passwords don't match")
            raise CmdFailed
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_sasl_user_add(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.daemon.sasldb import DEFAULT_ITERATIONS, add_user

    name = ctl.opt_required(cmd, "user")
    iterations = ctl.opt_int(cmd, "iterations", lo=4096, hi=10_000_000) or DEFAULT_ITERATIONS
    password = _read_password(ctl, cmd)
    path = _db(ctl, cmd)
    user = add_user(path, name, password, iterations)
    ctl.print_extra(f"SASL user '{user.name}' set in {path}\n")
    return True


def cmd_sasl_user_delete(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.daemon.sasldb import delete_user

    name = ctl.opt_required(cmd, "user")
    path = _db(ctl, cmd)
    delete_user(path, name)
    ctl.print_extra(f"SASL user '{name}' deleted from {path}\n")
    return True


def cmd_sasl_user_list(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.daemon.sasldb import MECHANISM, load_users

    path = _db(ctl, cmd)
    users = load_users(path)
    names = sorted(users)
    if cmd.flag("json"):
        ctl.print(to_json([{"name": n, "mechanism": MECHANISM,
                            "iterations": users[n].iterations} for n in names]))
    else:
        ctl.print(format_table(["Name", "Mechanism", "Iterations"],
                               [[n, MECHANISM, str(users[n].iterations)] for n in names]))
    return True


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, kw, _, cmds in GROUPS if kw == "sasl"),
    {
        "sasl-user-add": cmd_sasl_user_add,
        "sasl-user-delete": cmd_sasl_user_delete,
        "sasl-user-list": cmd_sasl_user_list,
    },
    json_commands=("sasl-user-list",),
    noconnect=("sasl-user-add", "sasl-user-delete", "sasl-user-list"),
)
