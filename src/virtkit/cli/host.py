"""Host and hypervisor commands: uri, hostname, version, nodeinfo, capabilities."""

from __future__ import annotations

from virtkit.cli.framework import Cmd, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import to_json
from virtkit.cli.specs import GROUPS


def _triple(version: int) -> str:
    return f"{version // 1000000}.{version % 1000000 // 1000}.{version % 1000}"


def cmd_uri(ctl: Ctl, cmd: Cmd) -> bool:
    with ctl.failing("failed to get URI"):
        uri = ctl.conn.uri
    ctl.print(f"{uri}\n")
    return True


def cmd_hostname(ctl: Ctl, cmd: Cmd) -> bool:
    with ctl.failing("failed to get hostname"):
        name = ctl.conn.hostname
    ctl.print(f"{name}\n")
    return True


def cmd_capabilities(ctl: Ctl, cmd: Cmd) -> bool:
    with ctl.failing("failed to get capabilities"):
        caps = ctl.conn.capabilities()
    ctl.print(f"{caps}\n")
    return True


def cmd_domcapabilities(ctl: Ctl, cmd: Cmd) -> bool:
    with ctl.failing("failed to get emulator capabilities"):
        caps = ctl.conn.domain_capabilities(cmd.raw("emulatorbin"), cmd.raw("arch"),
                                            cmd.raw("machine"), cmd.raw("virttype"))
    ctl.print(f"{caps}\n")
    return True


def cmd_version(ctl: Ctl, cmd: Cmd) -> bool:
    conn = ctl.conn
    with ctl.failing("failed to get hypervisor type"):
        hv_type = conn.type
    with ctl.failing("failed to get the library version"):
        lib = conn.lib_version
    # virtkit is one library: what it was "compiled against" is what it is.
    ctl.print(f"Compiled against library: libvirt {_triple(lib)}\n")
    ctl.print(f"Using library: libvirt {_triple(lib)}\n")
    ctl.print(f"Using API: {hv_type} {_triple(lib)}\n")
    with ctl.failing("failed to get the hypervisor version"):
        hv = conn.version
    if hv == 0:
        ctl.print(f"Cannot extract running {hv_type} hypervisor version\n")
    else:
        ctl.print(f"Running hypervisor: {hv_type} {_triple(hv)}\n")
    if cmd.flag("daemon"):
        from virtkit.errors import VirtError

        try:
            daemon = conn.lib_version
        except VirtError:
            ctl.error("failed to get the daemon version")
        else:
            ctl.print(f"Running against daemon: {_triple(daemon)}\n")
    return True


def cmd_nodeinfo(ctl: Ctl, cmd: Cmd) -> bool:
    with ctl.failing("failed to get node information"):
        info = ctl.conn.node_info()
    if cmd.flag("json"):
        ctl.print(
            to_json(
                {
                    "model": info.model,
                    "cpus": info.cpus,
                    "mhz": info.mhz,
                    "sockets": info.sockets,
                    "cores": info.cores,
                    "threads": info.threads,
                    "nodes": info.nodes,
                    "memory_kib": info.memory,
                }
            )
        )
        return True
    lines = [f"{'CPU model:':<20} {info.model}\n", f"{'CPU(s):':<20} {info.cpus}\n"]
    if info.mhz:
        lines.append(f"{'CPU frequency:':<20} {info.mhz} MHz\n")
    lines += [
        f"{'CPU socket(s):':<20} {info.sockets}\n",
        f"{'Core(s) per socket:':<20} {info.cores}\n",
        f"{'Thread(s) per core:':<20} {info.threads}\n",
        f"{'NUMA cell(s):':<20} {info.nodes}\n",
        f"{'Memory size:':<20} {info.memory} KiB\n",
    ]
    ctl.print("".join(lines))
    return True


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, kw, _, cmds in GROUPS if kw == "host"),
    {
        "uri": cmd_uri,
        "hostname": cmd_hostname,
        "capabilities": cmd_capabilities,
        "domcapabilities": cmd_domcapabilities,
        "version": cmd_version,
        "nodeinfo": cmd_nodeinfo,
    },
    json_commands=("nodeinfo",),
)
