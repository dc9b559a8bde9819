"""virsh's network port commands: net-port-list, net-port-create, net-port-dumpxml,
net-port-delete (tools/virsh-network.c); bound in network.py, imported when used."""

from __future__ import annotations

from virtkit.cli.common import lookup_network, read_file
from virtkit.cli.framework import Cmd, Ctl
from virtkit.cli.output import format_table, to_json

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from typing import Any

    from virtkit.handles.netport import NetworkPort
    from virtkit.handles.network import Network

__all__ = [
    "cmd_net_port_create",
    "cmd_net_port_delete",
    "cmd_net_port_dumpxml",
    "cmd_net_port_list",
]


def _port(ctl: Ctl, cmd: Cmd, net: Network) -> NetworkPort:
    """virshCommandOptNetworkPort: by UUID; the lookup error is reported."""
    from virtkit.handles.netport import lookup_port

    text = ctl.opt_required(cmd, "port")
    with ctl.failing(f"failed to get network port '{text}'"):
        return lookup_port(net, text)


def _summary(port: NetworkPort) -> dict[str, Any]:
    from virtkit.conf.networkport import NetworkPortDef

    d = NetworkPortDef.from_xml(port.xml())
    return {"uuid": port.uuid, "network": port.network.name, "owner": d.owner_name,
            "owner_uuid": d.owner_uuid, "mac": d.mac_address, "plug": d.plug_type,
            "bridge": d.plug.bridge if d.plug is not None else None}


def cmd_net_port_list(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.handles.netport import list_ports

    opt_table, opt_uuid = cmd.flag("table"), cmd.flag("uuid")
    if opt_table and opt_uuid:
        ctl.error("Only one argument from --table and --uuid may be specified.")
        return False
    net, _ = lookup_network(ctl, cmd)
    ports = sorted(list_ports(net), key=lambda p: p.uuid)
    if cmd.flag("json"):
        ctl.print(to_json([_summary(p) for p in ports]))
    elif opt_uuid:
        ctl.print("".join(f"{p.uuid}\n" for p in ports))
    else:
        ctl.print(format_table(["UUID"], [[p.uuid] for p in ports]))
    return True


def cmd_net_port_create(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.handles.netport import create_port

    net, _ = lookup_network(ctl, cmd)
    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    flags = 2 if cmd.flag("validate") else 0  # VIR_NETWORK_PORT_CREATE_VALIDATE
    # virsh's own wording ("network", not "network port")
    with ctl.failing(f"Failed to create network from {path}"):
        port = create_port(net, xml, flags)
    ctl.print_extra(f"Network port {port.uuid} created from {path}\n")
    return True


def cmd_net_port_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    net, _ = lookup_network(ctl, cmd)
    port = _port(ctl, cmd, net)
    return dump_xml(ctl, port.xml(), cmd.raw("xpath"), cmd.flag("wrap"))


def cmd_net_port_delete(ctl: Ctl, cmd: Cmd) -> bool:
    net, _ = lookup_network(ctl, cmd)
    port = _port(ctl, cmd, net)
    with ctl.failing(f"Failed to delete network port {port.uuid}"):
        port.delete()
    ctl.print_extra(f"Network port {port.uuid} deleted\n")
    return True

