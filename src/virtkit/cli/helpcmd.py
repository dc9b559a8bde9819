"""``help``, ``help COMMAND``, ``help GROUP`` and ``--help``, laid out as virsh prints them."""

from __future__ import annotations

from virtkit.cli.framework import ALIAS, ARGV, BOOL, DATA, INT, STRING, Cmd, CommandDef, Ctl


def _groups() -> list[tuple[str, str, list[tuple[str, str]]]]:
    from virtkit.cli.specs import GROUPS

    groups: list[tuple[str, str, list[tuple[str, str]]]] = []
    for title, kw, _, cmds in GROUPS:  # entries sharing a keyword are one group
        items = [(n, s[0]) for n, s in cmds.items()]
        same = next((g for g in groups if g[1] == kw), None)
        if same is None:
            groups.append((title, kw, items))
        elif kw == "host":  # virsh's host table is in name order
            same[2][:] = sorted(same[2] + items)
        else:
            same[2].extend(items)
    groups.append(("Virsh itself", "virsh", [("help", "print help")]))
    return groups


def cmd_help(ctl: Ctl, cmd: Cmd) -> bool:
    """help [COMMAND|GROUP]."""
    from virtkit.cli.main import lookup

    name = cmd.raw("command")
    if not name:
        ctl.print("Grouped commands:\n\n")
        for title, kw, cmds in _groups():
            ctl.print(f" {title} (help keyword '{kw}'):\n")
            for cname, chelp in cmds:
                ctl.print(f"    {cname:<30} {chelp}\n")
            ctl.print("\n")
        return True
    cdef = lookup(name)
    if cdef is not None:
        ctl.print(format_command_help(cdef))
        return True
    for title, kw, cmds in _groups():
        if name in (title, kw):
            ctl.print(f" {title} (help keyword '{kw}'):\n")
            for cname, chelp in cmds:
                ctl.print(f"    {cname:<30} {chelp}\n")
            return True
    ctl.error(f"command or command group '{name}' doesn't exist")
    return False


def format_command_help(cdef: CommandDef) -> str:
    """vshCmddefHelp: NAME, SYNOPSIS, DESCRIPTION, OPTIONS."""
    lines = ["  NAME\n", f"    {cdef.name} - {cdef.help}\n", "\n  SYNOPSIS\n", f"    {cdef.name}"]
    shortopt = False
    for opt in cdef.opts:
        if opt.type == ALIAS or opt.hidden:
            continue
        if opt.type == BOOL:
            text = f"[--{opt.name}]"
        elif opt.type == INT:
            text = f"<{opt.name}>" if opt.required else f"[--{opt.name} <number>]"
            shortopt = shortopt or not opt.req_opt
        elif opt.type == STRING:
            text = f"[--{opt.name} <string>]"
            shortopt = shortopt or not opt.req_opt
        elif opt.type == DATA:
            text = f"<{opt.name}>" if opt.required else f"[<{opt.name}>]"
            shortopt = shortopt or not opt.req_opt
        elif shortopt:
            text = (
                f"{{[--{opt.name}] <string>}}..."
                if opt.required
                else f"[[--{opt.name}] <string>]..."
            )
        else:
            text = f"<{opt.name}>..." if opt.required else f"[<{opt.name}>]..."
        lines.append(f" {text}")
    lines.append("\n")
    if cdef.desc:
        lines.append(f"\n  DESCRIPTION\n    {cdef.desc}\n")
    visible = [o for o in cdef.opts if o.type != ALIAS and not o.hidden]
    if visible:
        lines.append("\n  OPTIONS\n")
        for opt in visible:
            if opt.type == BOOL:
                spec = f"--{opt.name}"
            elif opt.type == INT:
                spec = f"[--{opt.name}] <number>" if opt.required else f"--{opt.name} <number>"
            elif opt.type == STRING:
                spec = f"--{opt.name} <string>"
            elif opt.type == DATA:
                spec = f"[--{opt.name}] <string>"
            else:
                assert opt.type == ARGV
                spec = f"[--{opt.name}] <string>" if shortopt else f"<{opt.name}>"
            lines.append(f"    {spec:<15}  {opt.help}\n")
    lines.append("\n")
    return "".join(lines)


def print_usage(progname: str) -> None:
    """``virtkit --help``."""
    import sys

    out = sys.stdout
    out.write(
        f"\n{progname} [options]... [<command_string>]"
        f"\n{progname} [options]... <command> [args...]\n\n"
        "  options:\n"
        "    -c | --connect=URI      hypervisor connection URI\n"
        "    -d | --debug=NUM        debug level [0-4]\n"
        "    -e | --escape <char>    set escape sequence for console\n"
        "    -h | --help             this help\n"
        "    -k | --keepalive-interval=NUM\n"
        "                            keepalive interval in seconds, 0 for disable\n"
        "    -K | --keepalive-count=NUM\n"
        "                            number of possible missed keepalive messages\n"
        "    -l | --log=FILE         output logging to file\n"
        "    -q | --quiet            quiet mode\n"
        "    -r | --readonly         connect readonly\n"
        "    -t | --timing           print timing information\n"
        "    -v                      short version\n"
        "    -V                      long version\n"
        "         --version[=TYPE]   version, TYPE is short or long (default short)\n"
        "  commands (non interactive mode):\n\n"
    )
    for title, kw, cmds in _groups():
        out.write(f" {title} (help keyword '{kw}')\n")
        for cname, chelp in cmds:
            out.write(f"    {cname:<30} {chelp}\n")
        out.write("\n")
    out.write("\n  (specify help <group> for details about the commands in the group)\n")
    out.write("\n  (specify help <command> for details about the command)\n\n")
    out.write(
        "  virtkit extension: --json on list, dominfo, domstate, domstats, nodeinfo,\n"
        "  net-list, net-info, pool-list, pool-info, vol-list, vol-info and snapshot-list\n"
        "  prints a JSON document instead of the table.\n\n"
    )
