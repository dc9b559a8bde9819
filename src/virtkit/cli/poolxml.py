"""Pool commands that build XML from options: pool-create-as, pool-define-as,
find-storage-pool-sources-as (and find-storage-pool-sources, its file-based twin).

As virsh does, option values go into the XML verbatim (no escaping): what the driver
makes of a stray quote or ampersand is its parser's business, and its error is shown.
"""

from __future__ import annotations

from virtkit.cli.common import exclusive, read_file
from virtkit.cli.framework import Cmd, CmdFailed, Ctl

__all__ = [
    "build_pool_xml",
    "cmd_find_storage_pool_sources",
    "cmd_find_storage_pool_sources_as",
    "cmd_pool_create_as",
    "cmd_pool_define_as",
]

_POOL_X_AS_STRINGS = (
    "source-host",
    "source-path",
    "source-dev",
    "source-name",
    "source-format",
    "target",
    "auth-type",
    "auth-username",
    "secret-usage",
    "secret-uuid",
    "adapter-name",
    "adapter-wwnn",
    "adapter-wwpn",
    "adapter-parent",
    "adapter-parent-wwnn",
    "adapter-parent-wwpn",
    "adapter-parent-fabric-wwn",
    "source-protocol-ver",
    "source-initiator",
)


class _Lines:
    """An indenting line buffer (virBuffer with AdjustIndent)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def add(self, text: str) -> None:
        self.lines.append("  " * self.depth + text + "\n")

    def open(self, text: str) -> None:
        self.add(text)
        self.depth += 1

    def close(self, text: str) -> None:
        self.depth -= 1
        self.add(text)

    def text(self) -> str:
        return "".join(self.lines)


def build_pool_xml(ctl: Ctl, cmd: Cmd) -> tuple[str, str]:
    """virshBuildPoolXML: (pool name, XML) from the ``*-as`` options."""
    exclusive(ctl, cmd, "secret-usage", "secret-uuid")
    name = ctl.opt_required(cmd, "name")
    kind = ctl.opt_required(cmd, "type")
    o = {opt: ctl.opt_string(cmd, opt) for opt in _POOL_X_AS_STRINGS}
    wwnn, wwpn = o["adapter-wwnn"], o["adapter-wwpn"]
    fc_host = bool(wwnn and wwpn)
    buf = _Lines()
    buf.open(f"<pool type='{kind}'>")
    buf.add(f"<name>{name}</name>")
    wants_source = ("source-host", "source-path", "source-dev", "source-initiator",
                    "source-format", "source-name", "adapter-name")
    if fc_host or any(o[k] for k in wants_source):
        buf.open("<source>")
        if o["source-host"]:
            buf.add(f"<host name='{o['source-host']}'/>")
        if o["source-path"]:
            buf.add(f"<dir path='{o['source-path']}'/>")
        if o["source-dev"]:
            buf.add(f"<device path='{o['source-dev']}'/>")
        if o["source-initiator"]:
            buf.open("<initiator>")
            buf.add(f"<iqn name='{o['source-initiator']}'/>")
            buf.close("</initiator>")
        if fc_host:
            parent = ""
            if o["adapter-parent"]:
                parent = f" parent='{o['adapter-parent']}'"
            elif o["adapter-parent-wwnn"] and o["adapter-parent-wwpn"]:
                parent = (f" parent_wwnn='{o['adapter-parent-wwnn']}'"
                          f" parent_wwpn='{o['adapter-parent-wwpn']}'")
            elif o["adapter-parent-fabric-wwn"]:
                parent = f" parent_fabric_wwn='{o['adapter-parent-fabric-wwn']}'"
            buf.add(f"<adapter type='fc_host'{parent} wwnn='{wwnn}' wwpn='{wwpn}'/>")
        elif o["adapter-name"]:
            buf.add(f"<adapter type='scsi_host' name='{o['adapter-name']}'/>")
        usage, uuid = o["secret-usage"], o["secret-uuid"]
        if o["auth-type"] and o["auth-username"] and (usage or uuid):
            buf.open(f"<auth type='{o['auth-type']}' username='{o['auth-username']}'>")
            buf.add(f"<secret usage='{usage}'/>" if usage else f"<secret uuid='{uuid}'/>")
            buf.close("</auth>")
        if o["source-format"]:
            buf.add(f"<format type='{o['source-format']}'/>")
        if o["source-name"]:
            buf.add(f"<name>{o['source-name']}</name>")
        if o["source-protocol-ver"]:
            buf.add(f"<protocol ver='{o['source-protocol-ver']}'/>")
        buf.close("</source>")
    if o["target"]:
        buf.open("<target>")
        buf.add(f"<path>{o['target']}</path>")
        buf.close("</target>")
    buf.close("</pool>")
    return name, buf.text()


def cmd_pool_create_as(ctl: Ctl, cmd: Cmd) -> bool:
    exclusive(ctl, cmd, "overwrite", "no-overwrite")
    flags = 0
    for option, bit in (("build", 1), ("overwrite", 2), ("no-overwrite", 4)):
        if cmd.flag(option):
            flags |= bit  # VIR_STORAGE_POOL_CREATE_WITH_BUILD*
    name, xml = build_pool_xml(ctl, cmd)
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    with ctl.failing(f"Failed to create pool {name}"):
        ctl.conn.create_storage_pool(xml, flags)
    ctl.print_extra(f"Pool {name} created\n")
    return True


def cmd_pool_define_as(ctl: Ctl, cmd: Cmd) -> bool:
    name, xml = build_pool_xml(ctl, cmd)
    if cmd.flag("print-xml"):
        ctl.print(xml)
        return True
    with ctl.failing(f"Failed to define pool {name}"):
        ctl.conn.define_storage_pool(xml, 0)
    ctl.print_extra(f"Pool {name} defined\n")
    return True


def _find_sources(ctl: Ctl, kind: str, spec: str | None) -> bool:
    with ctl.failing(f"Failed to find any {kind} pool sources"):
        found = ctl.conn.find_storage_pool_sources(kind, spec)
    ctl.print(found)
    return True


def cmd_find_storage_pool_sources_as(ctl: Ctl, cmd: Cmd) -> bool:
    kind = ctl.opt_required(cmd, "type")
    host = ctl.opt_string(cmd, "host")
    initiator = ctl.opt_string(cmd, "initiator")
    spec = None
    if host:
        try:
            port = ctl.opt_string(cmd, "port")
        except CmdFailed:
            ctl.error("missing argument")
            raise
        buf = _Lines()
        buf.open("<source>")
        buf.add(f"<host name='{host}'" + (f" port='{port}'" if port else "") + "/>")
        if initiator:
            buf.open("<initiator>")
            buf.add(f"<iqn name='{initiator}'/>")
            buf.close("</initiator>")
        buf.close("</source>")
        spec = buf.text()
    return _find_sources(ctl, kind, spec)


def cmd_find_storage_pool_sources(ctl: Ctl, cmd: Cmd) -> bool:
    kind = ctl.opt_required(cmd, "type")
    path = ctl.opt_string(cmd, "srcSpec")
    spec = read_file(ctl, path) if path else None
    return _find_sources(ctl, kind, spec)
