"""Network commands: net-list, net-info, net-define ... net-edit, net-event, net-name, net-uuid
(the net-port-* ones live in netport.py)."""

from __future__ import annotations

from virtkit.cli.common import (
    BY_NAME,
    BY_UUID,
    find_network,
    lookup_network,
    read_file,
    yes_no,
)
from virtkit.cli.framework import Cmd, CommandDef, Ctl, specs_to_defs
from virtkit.cli.output import format_table, to_json
from virtkit.cli.specs import GROUPS

TYPE_CHECKING = False  # typing is not imported at run time (startup speed)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from virtkit.cli.framework import Handler
    from virtkit.events import EventHandle


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def name_key(obj: Any) -> str:
    """vshStrcasecmp order on names."""
    name: str = obj.name
    return name.translate(_ASCII_LOWER)


def _autostart_text(net: Any) -> str:
    from virtkit.errors import VirtError

    try:
        return yes_no(net.autostart)
    except VirtError:
        return "no autostart"


def cmd_net_list(ctl: Ctl, cmd: Cmd) -> bool:
    flags = 2  # VIR_CONNECT_LIST_NETWORKS_ACTIVE
    if cmd.flag("inactive"):
        flags = 1
    if cmd.flag("all"):
        flags = 3
    for option, bit in (
        ("persistent", 4),
        ("transient", 8),
        ("autostart", 16),
        ("no-autostart", 32),
    ):
        if cmd.flag(option):
            flags |= bit
    opt_table, opt_name, opt_uuid = cmd.flag("table"), cmd.flag("name"), cmd.flag("uuid")
    if opt_table + opt_name + opt_uuid > 1:
        ctl.error("Only one argument from --table, --name and --uuid may be specified.")
        return False
    with ctl.failing("Failed to list networks"):
        nets = sorted(ctl.conn.list_networks(flags), key=name_key)
    if cmd.flag("json"):
        ctl.print(
            to_json(
                [
                    {
                        "name": n.name,
                        "uuid": n.uuid,
                        "active": n.is_active(),
                        "autostart": _autostart_text(n),
                        "persistent": n.is_persistent(),
                    }
                    for n in nets
                ]
            )
        )
        return True
    if opt_uuid or opt_name:
        for net in nets:
            ctl.print(f"{net.uuid if opt_uuid else net.name}\n")
        return True
    rows = [
        [
            n.name,
            "active" if n.is_active() else "inactive",
            _autostart_text(n),
            yes_no(n.is_persistent()),
        ]
        for n in nets
    ]
    ctl.print(format_table(["Name", "State", "Autostart", "Persistent"], rows, not ctl.quiet))
    return True


def cmd_net_info(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.errors import VirtError

    net, _ = lookup_network(ctl, cmd)
    fields: list[tuple[str, str]] = [("Name:", net.name), ("UUID:", net.uuid)]
    doc: dict[str, Any] = {"name": net.name, "uuid": net.uuid}
    try:
        active = net.is_active()
        fields.append(("Active:", yes_no(active)))
        doc["active"] = active
    except VirtError:
        pass
    try:
        persistent = yes_no(net.is_persistent())
    except VirtError:
        persistent = "unknown"
    fields.append(("Persistent:", persistent))
    autostart = _autostart_text(net)
    fields.append(("Autostart:", autostart))
    doc.update(persistent=persistent, autostart=autostart)
    try:
        bridge: str | None = net.bridge_name()
    except VirtError:
        bridge = None
    if bridge:
        fields.append(("Bridge:", bridge))
    doc["bridge"] = bridge
    if cmd.flag("json"):
        ctl.print(to_json(doc))
    else:
        ctl.print("".join(f"{label:<15} {value}\n" for label, value in fields))
    return True


def cmd_net_define(ctl: Ctl, cmd: Cmd) -> bool:
    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    flags = 1 if cmd.flag("validate") else 0
    with ctl.failing(f"Failed to define network from {path}"):
        net = ctl.conn.define_network(xml, flags)
    ctl.print_extra(f"Network {net.name} defined from {path}\n")
    return True


def cmd_net_create(ctl: Ctl, cmd: Cmd) -> bool:
    path = ctl.opt_required(cmd, "file")
    xml = read_file(ctl, path)
    flags = 1 if cmd.flag("validate") else 0
    with ctl.failing(f"Failed to create network from {path}"):
        net = ctl.conn.create_network(xml, flags)
    ctl.print_extra(f"Network {net.name} created from {path}\n")
    return True


def cmd_net_start(ctl: Ctl, cmd: Cmd) -> bool:
    net, name = lookup_network(ctl, cmd)
    with ctl.failing(f"Failed to start network {name}"):
        net.start()
    ctl.print_extra(f"Network {name} started\n")
    return True


def cmd_net_destroy(ctl: Ctl, cmd: Cmd) -> bool:
    net, name = lookup_network(ctl, cmd)
    with ctl.failing(f"Failed to destroy network {name}"):
        net.destroy()
    ctl.print_extra(f"Network {name} destroyed\n")
    return True


def cmd_net_undefine(ctl: Ctl, cmd: Cmd) -> bool:
    net, name = lookup_network(ctl, cmd)
    with ctl.failing(f"Failed to undefine network {name}"):
        net.undefine()
    ctl.print_extra(f"Network {name} has been undefined\n")
    return True


def cmd_net_dumpxml(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.xmltools import dump_xml

    net, _ = lookup_network(ctl, cmd)
    xml = net.xml(1 if cmd.flag("inactive") else 0)
    return dump_xml(ctl, xml, cmd.raw("xpath"), cmd.flag("wrap"))


def cmd_net_autostart(ctl: Ctl, cmd: Cmd) -> bool:
    net, name = lookup_network(ctl, cmd)
    enable = not cmd.flag("disable")
    verb = "mark" if enable else "unmark"
    with ctl.failing(f"failed to {verb} network {name} as autostarted"):
        net.autostart = enable
    ctl.print_extra(f"Network {name} {verb}ed as autostarted\n")
    return True


_UPDATE_COMMANDS = {"modify": 1, "delete": 2, "add-last": 3, "add": 3, "add-first": 4}
_SECTIONS = ("none", "bridge", "domain", "ip", "ip-dhcp-host", "ip-dhcp-range", "forward",
             "forward-interface", "forward-pf", "portgroup", "dns-host", "dns-txt", "dns-srv")


def cmd_net_dhcp_leases(ctl: Ctl, cmd: Cmd) -> bool:
    import time

    mac = ctl.opt_string(cmd, "mac")
    net, name = lookup_network(ctl, cmd)
    with ctl.failing(f"Failed to get leases info for {name}"):
        leases = net.dhcp_leases(mac)
    leases.sort(key=lambda lease: (lease.mac or "", lease.iaid or ""))
    if cmd.flag("json"):
        ctl.print(to_json([{"expirytime": x.expirytime, "mac": x.mac, "ipaddr": x.ipaddr,
                            "prefix": x.prefix, "type": "ipv4" if x.type == 0 else "ipv6",
                            "hostname": x.hostname, "clientid": x.clientid}
                           for x in leases]))
        return True
    rows = [[time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(x.expirytime)),
             x.mac or "-", {0: "ipv4", 1: "ipv6"}.get(x.type, "-"),
             f"{x.ipaddr}/{x.prefix}", x.hostname or "-", x.clientid or "-"] for x in leases]
    ctl.print(format_table(["Expiry Time", "MAC address", "Protocol", "IP address",
                            "Hostname", "Client ID or DUID"], rows))
    return True


def cmd_net_update(ctl: Ctl, cmd: Cmd) -> bool:
    config, live, current = cmd.flag("config"), cmd.flag("live"), cmd.flag("current")
    if current and (config or live):
        other = "live" if live else "config"
        ctl.error(f"Options --current and --{other} are mutually exclusive")
        return False
    net, name = lookup_network(ctl, cmd)
    command_text = ctl.opt_required(cmd, "command")
    command = _UPDATE_COMMANDS.get(command_text)
    if command is None:
        ctl.error(f"unrecognized command name '{command_text}'")
        return False
    section_text = ctl.opt_required(cmd, "section")
    if section_text not in _SECTIONS[1:]:
        ctl.error(f"unrecognized section name '{section_text}'")
        return False
    section = _SECTIONS.index(section_text)
    parent = ctl.opt_int(cmd, "parent-index")
    xml = ctl.opt_required(cmd, "xml")
    if not xml.startswith("<"):
        try:
            with open(xml) as f:
                xml = f.read()
        except OSError as exc:
            ctl.error(f"Failed to open file '{xml}': {exc.strerror}")
            return False
    flags = (2 if config else 0) | (1 if live else 0)
    with ctl.failing(f"Failed to update network {name}"):
        net.update(command, section, -1 if parent is None else parent, xml, flags)
    if config:
        what = "persistent config and live state" if live else "persistent config"
    elif live or net.is_active():
        what = "live state"
    else:
        what = "persistent config"
    ctl.print_extra(f"Updated network {name} {what}")
    return True


def cmd_net_name(ctl: Ctl, cmd: Cmd) -> bool:
    net, _ = lookup_network(ctl, cmd, by=BY_UUID)
    ctl.print(f"{net.name}\n")
    return True


def cmd_net_uuid(ctl: Ctl, cmd: Cmd) -> bool:
    net, _ = lookup_network(ctl, cmd, by=BY_NAME)
    ctl.print(f"{net.uuid}\n")
    return True


def cmd_net_edit(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.editing import edit_object_xml

    net, _ = lookup_network(ctl, cmd)
    return edit_object_xml(ctl, "Network", net.name, net.xml,
                           lambda xml: ctl.conn.define_network(xml, 0).name)


# Indexed by virNetworkEventID and virNetworkEventLifecycleType.
NET_EVENT_NAMES = ("lifecycle",)
_LIFECYCLE = ("Defined", "Undefined", "Started", "Stopped")


def cmd_net_event(ctl: Ctl, cmd: Cmd) -> bool:
    from virtkit.cli.poolmisc import run_event_command

    def subscribe(event_id: int, wanted: str, net: Any,
                  emit: Callable[[str], None]) -> EventHandle:
        def callback(obj: Any, eid: int, *payload: Any) -> None:
            event = int(payload[0]) if payload else -1
            what = _LIFECYCLE[event] if 0 <= event < len(_LIFECYCLE) else "unknown"
            emit(f"event 'lifecycle' for network {obj.name}: {what}\n")

        return ctl.conn.on_network_event(callback, event_id, net)

    return run_event_command(ctl, cmd, NET_EVENT_NAMES, "network", find_network, subscribe)


def _port(name: str) -> Handler:
    """A net-port-* handler from netport.py, imported only when used."""

    def handler(ctl: Ctl, cmd: Cmd) -> bool:
        from virtkit.cli import netport

        result: bool = getattr(netport, name)(ctl, cmd)
        return result

    return handler


COMMANDS: dict[str, CommandDef] = specs_to_defs(
    next(cmds for _, kw, _, cmds in GROUPS if kw == "network"),
    {
        "net-list": cmd_net_list,
        "net-info": cmd_net_info,
        "net-define": cmd_net_define,
        "net-create": cmd_net_create,
        "net-start": cmd_net_start,
        "net-destroy": cmd_net_destroy,
        "net-undefine": cmd_net_undefine,
        "net-dumpxml": cmd_net_dumpxml,
        "net-autostart": cmd_net_autostart,
        "net-dhcp-leases": cmd_net_dhcp_leases,
        "net-update": cmd_net_update,
        "net-edit": cmd_net_edit,
        "net-event": cmd_net_event,
        "net-name": cmd_net_name,
        "net-uuid": cmd_net_uuid,
        "net-port-list": _port("cmd_net_port_list"),
        "net-port-create": _port("cmd_net_port_create"),
        "net-port-dumpxml": _port("cmd_net_port_dumpxml"),
        "net-port-delete": _port("cmd_net_port_delete"),
    },
    json_commands=("net-list", "net-info", "net-dhcp-leases", "net-port-list"),
)
